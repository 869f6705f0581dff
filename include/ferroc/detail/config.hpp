// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <cstdint>

// The geometry of the allocator. Everything that depends on a size is derived
// from these few constants, so they are the knobs an embedded build would turn.
namespace ferroc::detail {

// A segment is the unit an arena hands out: aligned to its own size, so any
// block finds its segment header by masking its address.
inline constexpr std::size_t segment_shift = 22; // 4 MiB
inline constexpr std::size_t segment_size = std::size_t{1} << segment_shift;
inline constexpr std::uintptr_t segment_mask = segment_size - 1;

// Page sizes of the three page kinds that share segments.
inline constexpr std::size_t small_page_shift = 16;  // 64 KiB pages, 64 per segment
inline constexpr std::size_t medium_page_shift = 19; // 512 KiB pages, 8 per segment
inline constexpr std::size_t max_pages_per_segment = segment_size >> small_page_shift;

// Largest block of each page kind. Larger than large_block_max is "huge": a
// segment (or a run of them) for one block.
inline constexpr std::size_t small_block_max = 8 * 1024;
inline constexpr std::size_t medium_block_max = 64 * 1024;
inline constexpr std::size_t large_block_max = segment_size / 2;

// Sizes up to this reach their page through one indexed load (the direct
// array of a Heap), which is what keeps the fast path short.
inline constexpr std::size_t direct_size_max = 1024;

// Every block is at least this aligned: glibc's malloc guarantee
// (alignof(max_align_t)), which drop-in users rely on.
inline constexpr std::size_t min_align = 16;

// Blocks of fresh pages are threaded onto the free list this many bytes at a
// time, so a new page touches about one OS page per refill, not all of it.
inline constexpr std::size_t extend_bytes = 4 * 1024;
inline constexpr std::size_t extend_min_blocks = 4;

// An arena is reserved from the base in one piece and split into segment
// slots; one 64-bit word of bitmap covers it.
inline constexpr std::size_t arena_slots = 64;
inline constexpr std::size_t arena_size = arena_slots * segment_size; // 256 MiB
inline constexpr std::size_t max_arenas = 1024;                       // 256 GiB in all

// Abandoned segments a Context looks at per segment request before it asks
// the arenas for a fresh one (bounded work on the slow path).
inline constexpr std::size_t reclaim_visits = 16;

// OS page size assumed for decommit granularity and page-aligned areas.
inline constexpr std::size_t os_page_size = 4096;

constexpr std::size_t align_up(std::size_t n, std::size_t align) noexcept {
  return (n + align - 1) & ~(align - 1);
}
constexpr bool is_pow2(std::size_t n) noexcept {
  return n != 0 && (n & (n - 1)) == 0;
}

} // namespace ferroc::detail
