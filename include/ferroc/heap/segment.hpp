// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/os_page.hpp"
#include "ferroc/detail/track.hpp"
#include "ferroc/heap/page.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

enum class PageKind : std::uint8_t { small, medium, large, huge };

/// Where a segment's memory came from, so it can go back there.
struct SegmentSource {
  static constexpr std::uint32_t dedicated = ~std::uint32_t{0}; // a chunk straight from the base

  std::uint32_t arena = dedicated; // arena index, or `dedicated`
  std::uint32_t slot = 0;          // first slot of the claimed run
  std::uint32_t slot_count = 0;
  // Secure mode: which of the segment's guard pages are protected
  // (heap/guard_pages.hpp; 0 in other builds, where it fills padding). It
  // travels with the source, which a segment kept for reuse is laid out
  // again with, as its guards stay in place.
  std::uint8_t guards = 0;
  std::byte* chunk = nullptr; // dedicated chunk as the base returned it
  std::size_t chunk_size = 0;
};
static_assert(sizeof(void*) != 8 || sizeof(SegmentSource) == 32,
              "the guard flags of a SegmentSource fill padding on 64-bit targets");

/// The header at the start of every segment. A segment is aligned to
/// segment_size, so a block finds it by masking its own address, and its
/// page by the offset: freeing needs neither a size nor a lookup table.
///
/// Small and medium segments are split into pages of one size. A large
/// segment is split into slices (small-page sized) and each large page is a
/// run of them holding one block: the page descriptor is its first slice's,
/// the others of the run are neither free nor in use. Slice 0 keeps the
/// header only, so every large block starts on a slice boundary: aligned to
/// the slice size, and no pointer to its start masks to another slice.
/// Blocks of any large class thus share a segment, and a freed run serves
/// the next large block of any size, as mimalloc's spans do.
struct Segment {
  // The Context that owns the segment; nullptr while abandoned, and always
  // for huge segments, whose single block any thread may release.
  atomic<void*> xowner{nullptr};
  void const* arenas = nullptr; // the Arenas the segment belongs to
  // segment_cookie(this): checked mode trusts a header only when it matches.
  std::uint64_t cookie = 0;
  PageKind kind = PageKind::small;
  std::uint8_t page_shift = 0;
  std::uint32_t page_count = 0;
  std::uint32_t used_pages = 0;
  std::uint64_t free_mask = 0;      // bit i: pages[i] is free
  std::uint64_t dirty_mask = 0;     // bit i: pages[i] is free and may hold memory to decommit
  std::uint64_t dirty_old_mask = 0; // ... and was so before the last purge round
  SegmentSource source;
  Segment* next = nullptr; // the owning Context's list of all its segments
  Segment* prev = nullptr;
  Segment* avail_next = nullptr; // ... and of those with a free page
  Segment* avail_prev = nullptr;
  bool in_avail = false;
  bool guarded = false; // a huge segment of a guarded block (heap/heap_guarded.hpp)
  Page pages[max_pages_per_segment];

  Page* page_of(void const* p) noexcept {
    auto const offset = static_cast<std::size_t>(static_cast<std::byte const*>(p) -
                                                 reinterpret_cast<std::byte const*>(this));
    return &pages[offset >> page_shift];
  }
};

/// Page areas start on a multiple of page_area_align after the header (an
/// OS page by default), so blocks of a class that is a multiple of some
/// alignment up to that are naturally aligned.
inline constexpr std::size_t segment_header_size = align_up(sizeof(Segment), page_area_align);
static_assert(segment_header_size <= small_page_size / 2,
              "the segment header (a descriptor per small page) must leave at least half of the "
              "first small page: raise FERROC_SMALL_PAGE_SHIFT or lower FERROC_SEGMENT_SHIFT");

/// The bytes of slice (or page) `i` of a segment split into pages of
/// `1 << shift` bytes: the first loses the header, and with secure mode's
/// guard pages (`Guard`: their size, heap/guard_pages.hpp) the guard after
/// the header, and the last the guard at the segment's end.
template <std::size_t Guard = 0>
constexpr std::uint32_t page_area_size(std::uint32_t i, std::uint8_t shift) noexcept {
  std::size_t const page_size = std::size_t{1} << shift;
  auto size =
      static_cast<std::uint32_t>(i == 0 ? page_size - segment_header_size - Guard : page_size);
  if constexpr (Guard != 0) {
    if ((std::size_t{i} + 1) << shift == segment_size)
      size -= Guard;
  }
  return size;
}

/// Where the area of page (or slice) `i` of segment `seg` starts: past the
/// header (and secure mode's guard after it, `Guard`) for the first.
template <std::size_t Guard = 0>
inline std::byte* page_area_start(Segment* seg, std::uint32_t i) noexcept {
  return reinterpret_cast<std::byte*>(seg) +
         (i == 0 ? segment_header_size + Guard : std::size_t{i} << seg->page_shift);
}

/// Whether the area of free page `pg` can be decommitted: whole OS pages
/// only (of the real page size, known at run time), which the first page's
/// area is not when the header is not, nor a small page smaller than an OS
/// page.
inline bool page_area_decommits(Page const* pg) noexcept {
  return whole_os_pages(pg->area, pg->area_size);
}

/// Slices a large page of blocks of `block_size` bytes takes.
constexpr std::uint32_t large_slices(std::size_t block_size) noexcept {
  return static_cast<std::uint32_t>((block_size + large_slice_size - 1) >> large_slice_shift);
}
static_assert(large_slices(large_block_max) < max_pages_per_segment,
              "a large block must fit the slices of a segment past the header's");

/// Page shift of huge segments: every offset maps to page 0.
inline constexpr std::uint8_t huge_page_shift = 63;

/// The segment of a block. Masks `p - 1` rather than `p`: a huge block aligned
/// to more than a segment starts exactly one segment after its header, and no
/// other block starts at a segment boundary (the header is there).
FERROC_INLINE Segment* segment_of(void const* p) noexcept {
  return reinterpret_cast<Segment*>((reinterpret_cast<std::uintptr_t>(p) - 1) & ~segment_mask);
}

constexpr std::uint8_t page_shift_of(PageKind kind) noexcept {
  switch (kind) {
  case PageKind::small:
    return small_page_shift;
  case PageKind::medium:
    return medium_page_shift;
  case PageKind::large:
    return large_slice_shift;
  case PageKind::huge:
    break;
  }
  return huge_page_shift;
}

constexpr PageKind page_kind_of_block(std::size_t block_size) noexcept {
  if (block_size <= small_block_max)
    return PageKind::small;
  if (block_size <= medium_block_max)
    return PageKind::medium;
  if (block_size <= large_block_max)
    return PageKind::large;
  return PageKind::huge;
}

/// Lays out an empty, non-huge segment at `mem` for pages of `kind`.
/// `zeroed`: the memory reads as zero (fresh from a zeroing base). `Guard`:
/// the size of secure mode's guard pages, which the page areas leave out
/// (see page_area_size; heap/guard_pages.hpp protects them).
template <std::size_t Guard = 0>
inline Segment* segment_init(void* mem, PageKind kind, void const* arenas, SegmentSource source,
                             bool zeroed) noexcept {
  // Blocks of an earlier use of this memory may have been closed to the
  // program by a memory checker.
  track::reset(mem, segment_size);
  auto* seg = new (mem) Segment{};
  seg->arenas = arenas;
  seg->cookie = segment_cookie(seg);
  seg->kind = kind;
  seg->page_shift = page_shift_of(kind);
  seg->page_count = static_cast<std::uint32_t>(segment_size >> seg->page_shift);
  seg->free_mask =
      seg->page_count == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << seg->page_count) - 1;
  if (kind == PageKind::large)
    seg->free_mask &= ~std::uint64_t{1}; // slice 0: the header's
  seg->source = source;
  auto* base = static_cast<std::byte*>(mem);
  std::size_t const page_size = std::size_t{1} << seg->page_shift;
  for (std::uint32_t i = 0; i < seg->page_count; ++i) {
    Page& pg = seg->pages[i];
    std::size_t const start = i == 0 ? segment_header_size + Guard : i * page_size;
    pg.area = base + start; // as page_area_start<Guard>(seg, i)
    pg.area_size = page_area_size<Guard>(i, seg->page_shift);
    pg.mem_is_zero = zeroed;
  }
  return seg;
}

/// The start of the block `p` points into (p itself unless the page holds
/// over-aligned blocks or `p` is an interior pointer).
inline std::byte* block_start_of(Segment const* seg, Page const* pg, void const* p) noexcept {
  if (seg->kind == PageKind::huge)
    return pg->area;
  return reinterpret_cast<std::byte*>(block_start(pg, p));
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
