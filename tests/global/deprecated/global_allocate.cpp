// SPDX-License-Identifier: Apache-2.0 OR MIT
// Must draw a deprecation warning (see tests/global/CMakeLists.txt).
#include <ferroc/global/default_global.hpp>

void* use_old_name() {
  return ferroc::DefaultGlobal::allocate(16);
}
