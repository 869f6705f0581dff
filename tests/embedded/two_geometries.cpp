// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The default-geometry half of the two-geometries test, and its main (see
// two_geometries.hpp): both halves work in one program, each with its own
// segment size and its own copy of the library's functions.
#include <ferroc/ferroc.hpp>

#include <cstddef>
#include <cstdio>

#define FERROC_TWO_GEOMETRIES_WORKLOAD 1
#include "two_geometries.hpp"

static_assert(ferroc::detail::segment_size == 4 * 1024 * 1024);

namespace {
alignas(64) std::byte buffer[4 * 4 * 1024 * 1024];

void print(char const* name, GeometryReport const& r) {
  std::printf("two_geometries: %s: %zu-byte segments, %zu-byte header, %zu blocks of 16 B: %s\n",
              name, r.segment_size, r.header_size, r.blocks, r.ok ? "ok" : "WRONG");
}
} // namespace

GeometryReport run_default_geometry() {
  return run_workload(buffer, sizeof buffer);
}

int main() {
  GeometryReport const big = run_default_geometry();
  GeometryReport const small = run_small_geometry();
  print("default", big);
  print("small", small);
  bool const distinct = big.segment_size != small.segment_size &&
                        big.header_size != small.header_size &&
                        big.segment_init != small.segment_init;
  if (!distinct)
    std::printf("two_geometries: FAILED: the two units share the library's code\n");
  return big.ok && small.ok && distinct ? 0 : 1;
}
