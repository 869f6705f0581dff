// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Heap: huge blocks, those past large_block_max or aligned past what a page
// gives. Each gets a segment of its own, from a run of arena slots or a chunk
// of the base, that no heap owns: its free (from any thread) releases the
// segment (heap_free.hpp).
//
// Part of Heap: ferroc/heap/heap.hpp declares these members and includes
// this file at its end; included alone, this file pulls its parent in.

#include "ferroc/heap/guard_pages.hpp"
#include "ferroc/heap/heap.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

// Where a huge block lies: `offset` bytes past the start of its segment
// (after the header, at an offset that gives it its alignment; past a
// segment's worth of alignment, the segment is placed so that the block
// starts exactly one segment after the header: segment_of masks p - 1
// for that case), the `slots` that header and block span, and the
// `extra` slots a run needs to be placed so.
template <BaseAlloc B> struct Heap<B>::HugeLayout {
  std::size_t align;
  std::size_t block;
  std::size_t offset;
  std::size_t total;
  std::size_t slots;
  std::size_t extra;
  bool beyond;
};

template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Heap<B>::allocate_huge(std::size_t size, std::size_t align,
                                                  bool zero) noexcept {
  // (Sizes past alloc_size_max failed in allocate_slow already.)
  if (align > detail::huge_align_max)
    return nullptr; // never: fail without a collect or a system call
  HugeLayout const layout = huge_layout(size, align);
  if (void* p = try_allocate_huge(layout, zero, true))
    return p;
  // Out of memory: no free run of slots, and the base refused a new arena
  // and a chunk of the block's own. A collect gives the base nothing back
  // (see make_room), so the refusal stands: a block too large for an
  // arena fails after the one refused system call. What a collect can do
  // is give slots back to the arenas; a block that fits an arena looks
  // for a run among them once more, without asking the base again.
  if (layout.slots + layout.extra > detail::arena_slots)
    return nullptr;
  make_room();
  return try_allocate_huge(layout, zero, false);
}

// For size <= alloc_size_max and align <= huge_align_max: nothing overflows.
template <BaseAlloc B>
FERROC_MEMBER_INLINE typename Heap<B>::HugeLayout Heap<B>::huge_layout(std::size_t size,
                                                                       std::size_t align) noexcept {
  using namespace detail;
  HugeLayout h{};
  h.align = align;
  h.block = align_up(detail::max_of<std::size_t>(size, 1), layout_page_size);
  h.beyond = align > segment_size;
  // Secure mode: a guard after the header and one after the block.
  h.offset = h.beyond ? segment_size : align_up(segment_header_size + segment_guard<B>, align);
  h.total = h.offset + h.block + segment_guard<B>;
  h.slots = (h.total + segment_size - 1) / segment_size;
  h.extra = h.beyond ? align / segment_size - 1 : 0;
  return h;
}

// A huge block from a run of arena slots, or else from a chunk of the
// base of its own; with `ask_base` false, only from the slots of the
// arenas there are. nullptr when out of memory.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Heap<B>::try_allocate_huge(HugeLayout const& h, bool zero,
                                                      bool ask_base) noexcept {
  using namespace detail;
  std::byte* start = nullptr;
  SegmentSource src;
  bool zeroed = false;
  Arenas<B>& arenas = cx_->arenas();
  if (std::size_t const run = h.slots + h.extra; run <= arena_slots) {
    if (auto const claim = arenas.claim(run, ask_base); claim.start != nullptr) {
      start = claim.start;
      if (h.beyond)
        start = align_up_ptr(start + segment_size, h.align) - segment_size;
      src = {
          .arena = claim.arena, .slot = claim.slot, .slot_count = static_cast<std::uint32_t>(run)};
      zeroed = claim.zeroed;
    }
  }
  if (start == nullptr) {
    if (!ask_base)
      return nullptr;
    std::size_t const chunk_size =
        h.beyond ? h.align + h.block + segment_guard<B> : h.slots * segment_size;
    auto* chunk = static_cast<std::byte*>(
        arenas.allocate_dedicated(chunk_size, h.beyond ? h.align : segment_size));
    if (chunk == nullptr)
      return nullptr;
    start = h.beyond ? chunk + h.align - segment_size : chunk;
    src = {.arena = SegmentSource::dedicated, .chunk = chunk, .chunk_size = chunk_size};
    zeroed = B::is_zeroed;
  }
  // An earlier use of this memory may have left it closed (tracking).
  track::reset(start, h.total);
  auto* seg = new (start) Segment{};
  seg->arenas = &arenas;
  seg->cookie = segment_cookie(seg);
  seg->kind = PageKind::huge;
  seg->page_shift = huge_page_shift;
  seg->page_count = 1;
  seg->used_pages = 1;
  seg->source = src;
  Page& pg = seg->pages[0];
  pg.area = start + h.offset;
  pg.block_size = h.block;
  pg.reserved = pg.capacity = pg.used = 1;
  pg.in_use = true;
  guard_segment(arenas.base(), seg);
  if constexpr (stats_enabled) {
    auto& c = arenas.counters();
    c.huge_blocks.add(1);
    c.huge_bytes.add(h.block);
    c.huge_allocs.add(1);
    c.huge_bytes_allocated.add(h.block);
  }
  if (zero && !zeroed)
    std::memset(pg.area, 0, h.block);
  return pg.area;
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE std::byte* Heap<B>::align_up_ptr(std::byte* p, std::size_t align) noexcept {
  auto const addr = reinterpret_cast<std::uintptr_t>(p);
  return p + (((addr + align - 1) & ~(std::uintptr_t{align} - 1)) - addr);
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
