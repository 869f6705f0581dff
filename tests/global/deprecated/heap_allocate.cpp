// SPDX-License-Identifier: Apache-2.0 OR MIT
// Must draw a deprecation warning (see tests/global/CMakeLists.txt).
#include <ferroc/base/os_alloc.hpp>
#include <ferroc/heap/heap.hpp>

void* use_old_name(ferroc::Heap<ferroc::OsAlloc>& heap) {
  return heap.allocate(16);
}
