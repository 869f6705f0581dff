// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Two translation units of one program use Ferroc in two geometries: the
// default one (two_geometries.cpp) and 64 KiB segments
// (two_geometries_small.cpp). The options are spelled in the inline
// namespace of every name of the library, so each unit keeps its own
// layouts and functions instead of the linker merging one into the other.
#pragma once

#include <cstddef>
#include <cstdint>

struct GeometryReport {
  std::size_t segment_size = 0;
  std::size_t header_size = 0;
  std::size_t blocks = 0;          // 16-byte blocks until the region was full
  std::uintptr_t segment_init = 0; // the address of that unit's segment_init
  bool ok = false;
};

GeometryReport run_default_geometry();
GeometryReport run_small_geometry();

#ifdef FERROC_TWO_GEOMETRIES_WORKLOAD
namespace {

// The same code in both units, over the same type names (SpanBase, Heap of
// it), which only the inline namespace tells apart.
GeometryReport run_workload(void* buffer, std::size_t size) {
  namespace fd = ferroc::detail;
  GeometryReport report;
  report.segment_size = fd::segment_size;
  report.header_size = fd::segment_header_size;
  report.segment_init = reinterpret_cast<std::uintptr_t>(&fd::segment_init<0>);
  ferroc::SpanBase span{buffer, size};
  {
    ferroc::Arenas arenas{span};
    ferroc::Context cx{arenas};
    ferroc::Heap heap{cx};
    void* head = nullptr; // blocks chained through their first word
    while (void* p = heap.try_allocate(16)) {
      *static_cast<void**>(p) = head;
      head = p;
      ++report.blocks;
    }
    while (head != nullptr) {
      void* next = *static_cast<void**>(head);
      heap.deallocate(head);
      head = next;
    }
    heap.collect(true);
  }
  report.ok = report.blocks > 0 && span.used_bytes() == 0;
  return report;
}

} // namespace
#endif
