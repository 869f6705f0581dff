// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The 64 KiB-segment half of the two-geometries test (see two_geometries.hpp).
#define FERROC_SEGMENT_SHIFT 16
#define FERROC_SMALL_PAGE_SHIFT 12
#define FERROC_MEDIUM_PAGE_SHIFT 14
#include <ferroc/ferroc.hpp>

#include <cstddef>

#define FERROC_TWO_GEOMETRIES_WORKLOAD 1
#include "two_geometries.hpp"

static_assert(ferroc::detail::segment_size == 64 * 1024);

namespace {
alignas(64) std::byte buffer[4 * 64 * 1024];
} // namespace

GeometryReport run_small_geometry() {
  return run_workload(buffer, sizeof buffer);
}
