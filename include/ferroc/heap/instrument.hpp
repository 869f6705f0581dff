// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// The instrumented path of a Heap: what checked mode (detail/checked.hpp)
// and memory-checker tracking (detail/track.hpp) add to allocating and
// freeing a block. Release builds never call any of it.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ferroc/arena/segment_map.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/track.hpp"
#include "ferroc/heap/page.hpp"
#include "ferroc/heap/segment.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Larger requests fail at once on the instrumented path, as they do on
/// every other (alloc_size_max, half the address space on any target); it
/// keeps the additions below from overflowing.
inline constexpr std::size_t max_instrumented_size = alloc_size_max;

/// The size to ask the raw allocation for, so that `size` bytes, the fill
/// byte and the trailer fit (at most max_instrumented_size).
inline std::size_t instrumented_request(std::size_t size) noexcept {
  return checked ? size + checked_extra : size;
}

inline Trailer* trailer_of(Page const* pg, std::byte* start) noexcept {
  return reinterpret_cast<Trailer*>(start + pg->block_size - trailer_size);
}

/// Checked mode: writes the fill bytes and the trailer of the block that
/// `p` (holding `size` bytes for the program) was just handed out from.
inline void arm_block(void* p, std::size_t size) noexcept {
  Segment* seg = segment_of(p);
  Page* pg = seg->page_of(p);
  std::byte* start = block_start_of(seg, pg, p);
  auto* user_end = static_cast<std::byte*>(p) + size;
  Trailer* t = trailer_of(pg, start);
  auto const offset = static_cast<std::uint32_t>(static_cast<std::byte*>(p) - start);
  auto const slack = static_cast<std::uint32_t>(reinterpret_cast<std::byte*>(t) - user_end);
  track::allow(user_end, slack + trailer_size);
  std::memset(user_end, fill_byte, detail::min_of<std::size_t>(slack, fill_checked_max));
  *t = Trailer{trailer_seal(start, offset, slack), offset, slack};
  track::forbid(user_end, slack + trailer_size);
}

struct CheckedBlock {
  std::byte* start;     // of the block
  Trailer* trailer;     // at its end
  std::byte* user_end;  // end of the bytes the program asked for
  std::uint64_t sealed; // the trailer's seal while the block is live
};

/// Checked mode: the live block that `p` was handed out as, or an abort
/// naming what is wrong with `p`. `expected_arenas` (if not null) is the
/// Arenas of the Heap that frees it.
inline CheckedBlock check_live_block(void const* p, void const* expected_arenas) noexcept {
  if (!segment_map_contains(p))
    report_fault(Fault::foreign_pointer, p);
  Segment* seg = segment_of(p);
  if (seg->cookie != segment_cookie(seg))
    report_fault(Fault::unused_memory, p);
  if (expected_arenas != nullptr && seg->arenas != expected_arenas)
    report_fault(Fault::wrong_arenas, p);
  Page* pg = seg->page_of(p);
  if (!pg->in_use)
    report_fault(Fault::free_page, p);
  auto const* bytes = static_cast<std::byte const*>(p);
  std::size_t const carved =
      seg->kind == PageKind::huge ? pg->block_size : std::size_t{pg->capacity} * pg->block_size;
  if (bytes < pg->area || bytes >= pg->area + carved)
    report_fault(Fault::foreign_pointer, p);
  std::byte* start = block_start_of(seg, pg, p);
  if (start != bytes && !page_has_aligned_blocks(pg))
    report_fault(Fault::interior_pointer, p);

  Trailer* t = trailer_of(pg, start);
  track::allow(t, trailer_size);
  Trailer const copy = *t;
  track::forbid(t, trailer_size);
  std::uint64_t const sealed = trailer_seal(start, copy.offset, copy.slack);
  if (copy.seal == (sealed ^ freed_mark))
    report_fault(Fault::double_free, p);
  if (copy.seal != sealed)
    report_fault(Fault::damaged_trailer, p);
  if (start + copy.offset != bytes)
    report_fault(Fault::interior_pointer, p);
  return {start, t, reinterpret_cast<std::byte*>(t) - copy.slack, sealed};
}

/// Checked mode: the bytes the program asked for at `p`.
inline std::size_t checked_usable_size(void const* p) noexcept {
  CheckedBlock const b = check_live_block(p, nullptr);
  return static_cast<std::size_t>(b.user_end - static_cast<std::byte const*>(p));
}

/// Checked mode: aborts unless `p` is a live block asked for with exactly
/// `size` bytes and aligned to `align` (a sized free's promise).
inline void check_sized_free(void const* p, std::size_t size, std::size_t align) noexcept {
  CheckedBlock const b = check_live_block(p, nullptr);
  auto const asked = static_cast<std::size_t>(b.user_end - static_cast<std::byte const*>(p));
  if (asked != size || !is_pow2(align) || (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) != 0)
    report_fault(Fault::wrong_size, p);
}

/// Called first when a block is freed on the instrumented path: checks it
/// (checked mode), marks it freed and closes it to the program (tracking).
inline void instrumented_free(void* p, void const* expected_arenas) noexcept {
  std::size_t size;
  if constexpr (checked) {
    CheckedBlock const b = check_live_block(p, expected_arenas);
    auto const slack =
        static_cast<std::size_t>(reinterpret_cast<std::byte*>(b.trailer) - b.user_end);
    std::size_t const filled = detail::min_of(slack, fill_checked_max);
    track::allow(b.user_end, slack + trailer_size);
    if (!fill_intact(b.user_end, filled))
      report_fault(Fault::overflow, p);
    b.trailer->seal = b.sealed ^ freed_mark;
    track::forbid(b.user_end, slack + trailer_size);
    size = static_cast<std::size_t>(b.user_end - static_cast<std::byte*>(p));
  } else {
    Segment* seg = segment_of(p);
    Page* pg = seg->page_of(p);
    size = pg->block_size -
           static_cast<std::size_t>(static_cast<std::byte*>(p) - block_start_of(seg, pg, p));
  }
  track::freed(segment_of(p)->arenas, p, size);
}

/// The next block on a delayed-free list (which crosses pages), from `b`.
/// Checked mode ends the process when the link leads out of our segments.
inline Block* delayed_next_of(Block const* b) noexcept {
  Block* next = raw_next_of(segment_of(b)->page_of(b), b);
  if constexpr (checked) {
    if (next != nullptr) {
      Segment* seg = segment_of(next);
      if (!segment_map_contains(next) || seg->cookie != segment_cookie(seg) ||
          !is_block_of(seg->page_of(next), next))
        report_fault(Fault::corrupted_free_list, b);
    }
  }
  return next;
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
