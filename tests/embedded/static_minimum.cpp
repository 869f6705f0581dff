// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Compiled by check_static_minimum.cmake, never built with the suite: a
// Static region smaller than the geometry needs must not compile, and one
// of the minimum size must. The region is REGION_SEGMENTS segments and
// REGION_EXTRA_BYTES bytes; with REGION_GLOBAL, a Global over it.
#include <ferroc/base/static.hpp>

#include <cstddef>

#if !defined(REGION_SEGMENTS) || !defined(REGION_EXTRA_BYTES)
#error "define REGION_SEGMENTS and REGION_EXTRA_BYTES"
#endif

#ifdef REGION_GLOBAL
// A global allocator also carves its threads' data from the region.
#include <ferroc/global/global.hpp>

using Pool = ferroc::Global<
    ferroc::Static<REGION_SEGMENTS * ferroc::detail::segment_size + REGION_EXTRA_BYTES>>;

int main() {
  void* p = Pool::allocate(10);
  Pool::deallocate(p);
  return 0;
}
#else
static ferroc::Static<REGION_SEGMENTS * ferroc::detail::segment_size + REGION_EXTRA_BYTES> region;

int main() {
  return region.capacity() == 0 ? 1 : 0;
}
#endif
