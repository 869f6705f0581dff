// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Secure mode's guard pages: pages made inaccessible between the
/// allocator's metadata and the blocks, over a base that can protect pages
/// (ProtectBase). They are pages of the compile-time layout (4 KiB,
/// layout_page_size): on a system with larger OS pages (16 or 64 KiB on
/// some ARM64 and POWER kernels) a guard that is not made of whole OS pages
/// is refused by the base and left out, as any refused guard is. A linear overflow or underflow of
/// a block then faults before it reaches a header: every segment (small, medium, large) has
///
///     [ header | guard | page areas ...                      | guard ]
///     ^ segment start  ^ segment_header_size                 ^ segment end - guard
///
/// so the first block of the first page starts right after a guard and the
/// last page (or slice) ends one layout page early; the blocks of the last
/// small or medium page end right at the end guard (end_blocks_at_guard).
/// A large segment's slice 0 holds the header only: the whole rest of it
/// is the guard, so the first large block (on slice 1) has a guard right
/// before it too. A large block ends up to a slice before the end guard (it
/// starts on a slice and takes whole slices). A huge segment has the
/// header, a guard over the whole gap between the header and the block
/// (one page, or up to the block's alignment), the block, and a guard right
/// after the block's usable end (huge blocks are rounded to layout pages).
///
/// Guards are protected when a segment is set up on slots fresh from its
/// arena and made accessible again when the segment's memory goes back to
/// the arena: free slots never hold a guard, so whoever lays out a slot
/// next (another kind of segment, a huge block spanning several slots)
/// finds it all accessible, and no guard page is ever handed out as block
/// memory. A segment a Context keeps for reuse keeps its guards: small,
/// medium and large segments have them at the same places, but for the
/// rest of a large segment's slice 0, which changes with the kind
/// (reguard_segment). A slot is purged only after its guards are gone, and
/// a page's purge covers its area only. Nothing assumes a guard reads as
/// zero: guards lie outside every page area, and their pages are accessible
/// memory again, as zero as the slot around them, before anyone uses them.
///
/// When the kernel refuses a protection (at its limit of mappings:
/// vm.max_map_count, as each guard splits a mapping), the segment goes on
/// without that guard. Each live segment adds about four mappings (the
/// header, the guard, the pages, the end guard). A fresh segment costs two
/// `mprotect` calls, its return to the arena two more; a segment kept for
/// reuse none (one when it changes between large and another kind).
///
/// Over a base without ProtectBase (a fixed region: Static, SpanBase) and in
/// geometries whose first small page has no room for a guard (small pages
/// below 64 KiB, see guard_geometry), segments have no guard pages and their
/// layout is the one of release builds; so is every layout outside secure
/// mode, where none of this compiles to any code.

#include <bit>
#include <cstddef>
#include <cstdint>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/secure.hpp"
#include "ferroc/heap/page.hpp"
#include "ferroc/heap/segment.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Whether memory from base `B` gets guard pages: secure mode over a base
/// that can protect pages.
template <class B> inline constexpr bool guard_pages = secure&& ProtectBase<B>;

/// Whether the geometry has room for a segment's guards: the header ends on
/// a layout page, the header and a guard leave half of the first small page,
/// and the first and last page of each kind, and the slices of a large
/// segment, still hold a block of the largest class of their kind.
inline constexpr bool guard_geometry = [] {
  constexpr std::size_t g = layout_page_size;
  constexpr auto last = [](std::size_t shift) {
    return static_cast<std::uint32_t>((segment_size >> shift) - 1);
  };
  return segment_header_size % g == 0 && segment_header_size + g <= small_page_size / 2 &&
         page_area_size<g>(0, small_page_shift) >= small_block_max &&
         page_area_size<g>(last(small_page_shift), small_page_shift) >= small_block_max &&
         page_area_size<g>(0, medium_page_shift) >= medium_block_max &&
         page_area_size<g>(last(medium_page_shift), medium_page_shift) >= medium_block_max &&
         large_slices(large_block_max + g) < max_pages_per_segment;
}();
// The default geometry has room (other geometries without it go unguarded).
static_assert(segment_shift != 22 || small_page_shift != 16 || medium_page_shift != 19 ||
                  guard_geometry,
              "secure mode: the default geometry has room for guard pages");

/// The size of the guard pages of segments over base `B`: a layout page, or 0
/// without guards (the release layout).
template <class B>
inline constexpr std::size_t segment_guard = (guard_pages<B> && guard_geometry) ? layout_page_size
                                                                                : 0;

/// Guard ranges protected now, in the whole process: a statistic (for tests
/// and reports; a refused protection is not counted).
inline constinit atomic<std::size_t> guard_range_count{0};

/// The guard ranges protected now (see guard_range_count). Any thread; a
/// relaxed read.
inline std::size_t protected_guard_ranges() noexcept {
  // relaxed: a statistic.
  return guard_range_count.load(memory_order_relaxed);
}

/// Makes whole pages [p, p + size) of a chunk of `base` a guard, counted
/// as `ranges`; false when the base refuses (the caller goes on without it).
template <ProtectBase B>
bool protect_guard(B& base, void* p, std::size_t size, std::size_t ranges = 1) noexcept {
  if (!base.protect(p, size))
    return false;
  // relaxed: a statistic.
  guard_range_count.fetch_add(ranges, memory_order_relaxed);
  return true;
}

/// Makes guard [p, p + size), counted as `ranges`, accessible again; false
/// when it stays inaccessible.
template <ProtectBase B>
bool unprotect_guard(B& base, void* p, std::size_t size, std::size_t ranges = 1) noexcept {
  if (!base.unprotect(p, size))
    return false;
  // relaxed: a statistic.
  guard_range_count.fetch_sub(ranges, memory_order_relaxed);
  return true;
}

// Bits of SegmentSource::guards, one per guard range: the guard after the
// header, the one at the end (of the segment, or of a huge block), and in
// a large segment the rest of slice 0 (which holds the header only, so
// that the first large block, on slice 1, has a guard right before it).
inline constexpr std::uint8_t guard_after_header = 1;
inline constexpr std::uint8_t guard_at_end = 2;
inline constexpr std::uint8_t guard_slice_rest = 4;

/// Where the guards of `seg` lie: after the header, and at the end.
struct GuardRanges {
  std::byte* header;
  std::size_t header_size;
  std::byte* end;
  std::size_t end_size;
};

inline GuardRanges guard_ranges_of(Segment const* seg) noexcept {
  auto* const mem = reinterpret_cast<std::byte*>(const_cast<Segment*>(seg));
  std::byte* const header_end = mem + segment_header_size;
  if (seg->kind != PageKind::huge)
    return {header_end, layout_page_size, mem + segment_size - layout_page_size, layout_page_size};
  // A huge block starts on a layout page after a guard at least (see
  // Heap::huge_layout), and its size is a multiple of layout pages.
  Page const& pg = seg->pages[0];
  return {header_end, static_cast<std::size_t>(pg.area - header_end), pg.area + pg.block_size,
          layout_page_size};
}

/// The rest of slice 0 past the guard after the header (guard_slice_rest).
inline std::byte* slice_rest_of(Segment const* seg) noexcept {
  return reinterpret_cast<std::byte*>(const_cast<Segment*>(seg)) + segment_header_size +
         layout_page_size;
}
inline constexpr std::size_t slice_rest_size =
    large_slice_size - segment_header_size - layout_page_size;

/// Protects the guards of `seg`, just laid out on memory that holds none
/// (slots fresh from an arena or a chunk of the base), and notes which the
/// base accepted in its source. Does nothing without guards.
template <class B>
void guard_segment([[maybe_unused]] B& base, [[maybe_unused]] Segment* seg) noexcept {
  if constexpr (segment_guard<B> != 0) {
    GuardRanges const r = guard_ranges_of(seg);
    std::uint8_t guards = 0;
    if (seg->kind == PageKind::large) {
      // The guard and the rest of slice 0 in one call (one mapping).
      if (protect_guard(base, r.header, r.header_size + slice_rest_size, 2))
        guards |= guard_after_header | guard_slice_rest;
    } else if (protect_guard(base, r.header, r.header_size)) {
      guards |= guard_after_header;
    }
    if (protect_guard(base, r.end, r.end_size))
      guards |= guard_at_end;
    seg->source.guards = guards;
  }
}

/// A segment kept for reuse was laid out again, maybe for another kind
/// (segment_init keeps its guards, at the same places for every kind but
/// the rest of slice 0): a large one gets that guarded too, the others get
/// it back as their first page's area. Where the base refuses to make it
/// accessible again, the first page is not free in this layout.
template <class B>
void reguard_segment([[maybe_unused]] B& base, [[maybe_unused]] Segment* seg) noexcept {
  if constexpr (segment_guard<B> != 0) {
    std::uint8_t& guards = seg->source.guards;
    bool const want = seg->kind == PageKind::large && (guards & guard_after_header) != 0;
    bool const has = (guards & guard_slice_rest) != 0;
    if (want && !has) {
      if (protect_guard(base, slice_rest_of(seg), slice_rest_size))
        guards |= guard_slice_rest;
    } else if (!want && has) {
      if (unprotect_guard(base, slice_rest_of(seg), slice_rest_size))
        guards &= static_cast<std::uint8_t>(~guard_slice_rest);
      else
        seg->free_mask &= ~std::uint64_t{1}; // page 0's area is partly inaccessible
    }
  }
}

/// The memory of `seg` goes back to where it came from: its guards are made
/// accessible again when it goes back to an arena (`reused`), whose next
/// user lays the slots out anew, and only forgotten when the chunk goes
/// back to the base (ProtectBase: a base takes a chunk back with protected
/// pages). Returns false when a guard stays inaccessible: the memory must
/// then never be handed out again. True without guards.
template <class B>
bool unguard_segment([[maybe_unused]] B& base, [[maybe_unused]] Segment* seg,
                     [[maybe_unused]] bool reused) noexcept {
  if constexpr (segment_guard<B> != 0) {
    std::uint8_t const guards = seg->source.guards;
    seg->source.guards = 0;
    if (!reused) {
      // relaxed: a statistic.
      guard_range_count.fetch_sub(static_cast<std::size_t>(std::popcount(guards)),
                                  memory_order_relaxed);
      return true;
    }
    GuardRanges const r = guard_ranges_of(seg);
    bool ok = true;
    constexpr std::uint8_t slice0 = guard_after_header | guard_slice_rest;
    if ((guards & slice0) == slice0) {
      ok = unprotect_guard(base, r.header, r.header_size + slice_rest_size, 2);
    } else {
      if ((guards & guard_after_header) != 0)
        ok = unprotect_guard(base, r.header, r.header_size);
      if ((guards & guard_slice_rest) != 0)
        ok = unprotect_guard(base, slice_rest_of(seg), slice_rest_size) && ok;
    }
    if ((guards & guard_at_end) != 0)
      ok = unprotect_guard(base, r.end, r.end_size) && ok;
    return ok;
  } else {
    return true;
  }
}

/// Secure mode: page `pg`, just set up for its class, is the last small or
/// medium page of its segment: its blocks move up so that the last one ends
/// at the segment's end guard (what the blocks leave of the area goes
/// before the first instead), and an overflow off the segment's last block
/// faults at its first byte past the block. Page areas stay aligned as
/// before for every alignment their classes give (the area and the
/// leftover are multiples of it). Context::free_page puts the area back.
template <std::size_t Guard> void end_blocks_at_guard([[maybe_unused]] Page* pg) noexcept {
  if constexpr (Guard != 0) {
    if (pg->block_size > medium_block_max)
      return; // large blocks start on a slice (see Segment)
    auto* const end = reinterpret_cast<std::byte*>(segment_of(pg)) + segment_size - Guard;
    if (pg->area + pg->area_size != end)
      return;
    auto const rest = static_cast<std::uint32_t>(pg->area_size - pg->reserved * pg->block_size);
    pg->area += rest;
    pg->area_size -= rest;
  }
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
