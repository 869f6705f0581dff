// SPDX-License-Identifier: Apache-2.0 OR MIT
// Compiled with -std=c++17 by the test ferroc.cxx20.required: must stop with
// "Ferroc needs C++20 (-std=c++20)" (see tests/cxx20/CMakeLists.txt).
#include <ferroc/ferroc.hpp>

int uses_ferroc() {
  ferroc::Arenas arenas{ferroc::MmapAlloc{}};
  return 0;
}
