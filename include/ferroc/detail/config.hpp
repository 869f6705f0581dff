// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Every public header includes this one before any C++20 construct, so an
// older language mode stops here with one clear message instead of errors
// about concepts further on. (ferroc.h, the C API, does not include it.)
#if defined(_MSVC_LANG) ? _MSVC_LANG <= 201703L : __cplusplus <= 201703L
#error "Ferroc needs C++20 (-std=c++20)"
#endif

#include <cstddef>
#include <cstdint>

/// \file
/// The build options of the library and the geometry that follows from them.
///
/// Everything that depends on a size is derived from the three shifts
/// below, FERROC_SEGMENT_SHIFT, FERROC_SMALL_PAGE_SHIFT and
/// FERROC_MEDIUM_PAGE_SHIFT, so they are the knobs an embedded build turns.
/// Define the options (plain decimal integers, the same in every
/// translation unit of a program) before the first Ferroc include, or with
/// -D. Besides those of this file, the headers read FERROC_CHECKED
/// (detail/checked.hpp), FERROC_TRACK_VALGRIND and FERROC_TRACK_ASAN
/// (detail/track.hpp), FERROC_SEGMENT_MAP (arena/segment_map.hpp) and
/// FERROC_WEAK_CXX_RUNTIME (override.hpp).
///
/// A segment's first page loses the segment header (its page descriptors,
/// segment_header_size) and must keep at least half of itself. For a region
/// of a few hundred KiB, 64 KiB segments with 4 KiB small and 16 KiB medium
/// pages work well (-DFERROC_SEGMENT_SHIFT=16 -DFERROC_SMALL_PAGE_SHIFT=12
/// -DFERROC_MEDIUM_PAGE_SHIFT=14); see docs/embedded.md.
///
/// Every name of the library lives in an inline namespace that spells these
/// options (ferroc::g22_16_19 by default, ..._st when single-threaded, ..._stat
/// with statistics): two translation units built with different options
/// then use different symbols, and linking them together cannot silently
/// mix two layouts of the same type.

/// log2 of the segment size: the unit the arenas hand out, aligned to its
/// size. Default 22 (4 MiB); at most 32, and at most 6 above
/// FERROC_SMALL_PAGE_SHIFT (one 64-bit word tracks the pages of a segment).
#ifndef FERROC_SEGMENT_SHIFT
#define FERROC_SEGMENT_SHIFT 22
#endif
/// log2 of the small page size. Default 16 (64 KiB); at least 12 (one OS
/// page), and a segment holds at most 64 small pages.
#ifndef FERROC_SMALL_PAGE_SHIFT
#define FERROC_SMALL_PAGE_SHIFT 16
#endif
/// log2 of the medium page size. Default 19 (512 KiB); above the small
/// page, at most the segment.
#ifndef FERROC_MEDIUM_PAGE_SHIFT
#define FERROC_MEDIUM_PAGE_SHIFT 19
#endif
/// Single-threaded build. 1: no thread-local storage and no atomic operations
/// (detail/atomic.hpp); one thread uses the library, and the global allocator layer (global/,
/// ferroc.h, override.hpp) is not available. Default 0.
#ifndef FERROC_SINGLE_THREADED
#define FERROC_SINGLE_THREADED 0
#endif
/// Statistics. 1: keep statistics (ferroc/stats.hpp); 0 (default): the allocation paths
/// count nothing, and a report holds only the segments in use and the
/// abandoned segments.
#ifndef FERROC_STAT
#define FERROC_STAT 0
#endif
/// Separate compilation. 1: the slow paths of the default configuration
/// are compiled once, in the library `ferroc_separate` (CMake target
/// `ferroc::separate`, which sets this macro for its users), instead of in
/// every file that uses them; 0 (default): header-only. See
/// detail/separate_compilation.hpp.
#ifndef FERROC_SEPARATE_COMPILATION
#define FERROC_SEPARATE_COMPILATION 0
#endif
/// Milliseconds that segment slots given back to an arena (and, four times
/// that, free pages) stay committed at least before their memory goes back
/// to the base. Default 10; 0 decommits at once. Arenas::set_purge_delay_ms
/// changes it at run time. Only bases that can decommit use it.
#ifndef FERROC_PURGE_DELAY_MS
#define FERROC_PURGE_DELAY_MS 10
#endif

/// Secure mode (detail/secure.hpp). 1: mitigations against the
/// exploitation of heap bugs, at a cost in speed; 0 (default): none.
#ifndef FERROC_SECURE
#define FERROC_SECURE 0
#endif

/// \cond internal

// The options that change the layout of the library's types, as a suffix
// of the namespace name.
#if FERROC_SINGLE_THREADED && FERROC_STAT
#define FERROC_VARIANT_SUFFIX _st_stat
#elif FERROC_SINGLE_THREADED
#define FERROC_VARIANT_SUFFIX _st
#elif FERROC_STAT
#define FERROC_VARIANT_SUFFIX _stat
#else
#define FERROC_VARIANT_SUFFIX
#endif
// Secure mode changes the segments' layout and the heaps' members.
#if FERROC_SECURE
#define FERROC_SECURE_SUFFIX _sec
#else
#define FERROC_SECURE_SUFFIX
#endif

// Two levels, so that the option macros expand before they are pasted.
#define FERROC_CONFIG_NS_PASTE(seg, small, medium, variant, sec)                                   \
  g##seg##_##small##_##medium##variant##sec
#define FERROC_CONFIG_NS_EXPAND(seg, small, medium, variant, sec)                                  \
  FERROC_CONFIG_NS_PASTE(seg, small, medium, variant, sec)

/// \endcond

/// The inline namespace that holds the whole library: `namespace ferroc {
/// inline namespace FERROC_CONFIG_NS { ... } }` in every header. Its name
/// spells the options that change the layout of types (g22_16_19 by
/// default), so code refers to `ferroc::Heap` whatever the build.
#define FERROC_CONFIG_NS                                                                           \
  FERROC_CONFIG_NS_EXPAND(FERROC_SEGMENT_SHIFT, FERROC_SMALL_PAGE_SHIFT, FERROC_MEDIUM_PAGE_SHIFT, \
                          FERROC_VARIANT_SUFFIX, FERROC_SECURE_SUFFIX)

/// Ferroc, a lock-free, multithreaded memory allocator. Its names live in the
/// inline namespace FERROC_CONFIG_NS; namespace `ferroc::detail` holds the
/// implementation and is no part of the API.
namespace ferroc {
/// The names of the library for one set of build options (see
/// FERROC_CONFIG_NS; g22_16_19 in the default build).
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// FERROC_SINGLE_THREADED: one thread uses the library.
inline constexpr bool single_threaded = FERROC_SINGLE_THREADED != 0;

/// The page the compile-time layout is made of: segment headers end on it,
/// secure mode's segment guards are this large, huge blocks are rounded to
/// it. Where the real OS page is larger, the ranges of the layout that are
/// not whole OS pages are neither decommitted nor protected (the bases
/// refuse them, see MmapAlloc; the real page is detail::os_page_size(),
/// ferroc/detail/os_page.hpp). Also the page size assumed where there is
/// no OS to ask (a fixed region on bare metal).
inline constexpr std::size_t layout_page_size = 4096;

// A segment is the unit an arena hands out: aligned to its own size, so any
// block finds its segment header by masking its address.
inline constexpr std::size_t segment_shift = FERROC_SEGMENT_SHIFT;
inline constexpr std::size_t segment_size = std::size_t{1} << segment_shift;
inline constexpr std::uintptr_t segment_mask = segment_size - 1;

// Page sizes of the kinds of pages that share segments (large pages fill a
// segment alone).
inline constexpr std::size_t small_page_shift = FERROC_SMALL_PAGE_SHIFT;
inline constexpr std::size_t medium_page_shift = FERROC_MEDIUM_PAGE_SHIFT;
inline constexpr std::size_t small_page_size = std::size_t{1} << small_page_shift;
inline constexpr std::size_t medium_page_size = std::size_t{1} << medium_page_shift;
inline constexpr std::size_t max_pages_per_segment = segment_size >> small_page_shift;

static_assert(small_page_shift >= 12,
              "FERROC_SMALL_PAGE_SHIFT must be at least 12: a small page is at least one OS page "
              "(free pages go back to the OS in whole OS pages)");
static_assert(medium_page_shift > small_page_shift,
              "FERROC_MEDIUM_PAGE_SHIFT must be larger than FERROC_SMALL_PAGE_SHIFT");
static_assert(medium_page_shift <= segment_shift,
              "FERROC_MEDIUM_PAGE_SHIFT must be at most FERROC_SEGMENT_SHIFT: a medium page "
              "cannot be larger than its segment");
static_assert(max_pages_per_segment <= 64,
              "FERROC_SEGMENT_SHIFT - FERROC_SMALL_PAGE_SHIFT must be at most 6: one 64-bit word "
              "tracks the free pages of a segment");
static_assert(segment_shift <= 32,
              "FERROC_SEGMENT_SHIFT must be at most 32: page and block counts are 32-bit");

// Largest block of each page kind. A medium page holds at least eight
// blocks. A small page holds at least four (the first page, after the
// header, three): with an eighth, blocks of 8-16 KiB went to 512 KiB
// pages, and every such class a thread used kept a large page resident
// (alloc_test and mstress: 12-25 % more peak RSS). Geometries whose medium
// pages are not much larger than small ones keep an eighth, so that the
// medium kind still spans a doubling of sizes. Larger than large_block_max
// is "huge": a segment (or a run of them) for one block. Defaults: 16 KiB,
// 64 KiB and 2 MiB.
inline constexpr std::size_t medium_block_max = medium_page_size / 8;
inline constexpr std::size_t small_block_max =
    small_page_size / 4 <= medium_block_max / 4 ? small_page_size / 4 : small_page_size / 8;
inline constexpr std::size_t large_block_max = segment_size / 2;

// Large blocks take runs of slices of a segment, one block per run (see
// Segment): a slice is a small page, so a large segment has as many.
inline constexpr std::size_t large_slice_shift = small_page_shift;
inline constexpr std::size_t large_slice_size = small_page_size;

// Sizes up to this reach their page through one indexed load (the direct
// array of a Heap), which is what keeps the fast path short. The same in
// every geometry (it may reach into medium pages when they are small).
inline constexpr std::size_t direct_size_max = 1024;

// Every block is at least this aligned: glibc's malloc guarantee
// (alignof(max_align_t)), which drop-in users rely on.
inline constexpr std::size_t min_align = 16;

// Page areas start at least this aligned: the first page's area follows
// the segment header, which is rounded up to it. A layout page by default;
// a sixteenth of a small page below 64 KiB pages, so that a small geometry
// does not lose most of a first page to the rounding. A first page's area
// that does not start on a real OS page is never decommitted (see
// page_area_decommits).
inline constexpr std::size_t page_area_align =
    small_page_size / 16 < layout_page_size ? small_page_size / 16 : layout_page_size;

// On 64-bit targets a page keeps the number of blocks on its remote-free
// list in the top 16 bits of the list's word (Page::xthread_free), so its
// owner takes the list without walking it. Segments then lie below 2^48
// (Arenas::add_arena), and a page holds fewer than 2^16 blocks.
inline constexpr bool thread_free_counted = sizeof(std::uintptr_t) == 8;
inline constexpr unsigned thread_free_count_shift = thread_free_counted ? 48 : 0;
static_assert(!thread_free_counted || medium_page_size / min_align < (std::size_t{1} << 16),
              "a page holds fewer than 2^16 blocks");

// The largest request that can succeed: PTRDIFF_MAX, as in glibc (a
// larger object could not be indexed), and the largest alignment of one:
// 1 TiB (2^40; 2^30 on 32-bit targets), which the address space of
// today's 64-bit systems can still align a block to.
// Anything past them fails at once, without a collect or a system call,
// and the sizes a huge block is made of cannot overflow.
inline constexpr std::size_t alloc_size_max = PTRDIFF_MAX;
inline constexpr std::size_t huge_align_max =
    static_cast<std::size_t>(std::uint64_t{1} << (sizeof(std::size_t) >= 8 ? 40 : 30));

// Blocks of fresh pages are threaded onto the free list this many bytes at a
// time, so a refill touches about one layout page of a new page, not all of
// it (a part of one where the OS page is 16 or 64 KiB).
inline constexpr std::size_t extend_bytes = 4 * 1024;
inline constexpr std::size_t extend_min_blocks = 4;

// An arena is reserved from the base in one piece and split into segment
// slots; one 64-bit word of bitmap covers it, so it has at most arena_slots
// of them (arena_size: 256 MiB by default).
inline constexpr std::size_t arena_slots = 64;
inline constexpr std::size_t arena_size = arena_slots * segment_size; // 256 MiB by default

// Over a base that decommits (MmapAlloc), arenas start small and grow with
// the memory in use, so that the address space a process reserves follows
// its live data: a new arena gets half as many slots as all arenas before
// it together, at least one (and at least the run that the claim that
// needs it asks for), at most arena_slots. By default the first arenas
// hold 4, 4, 4, 4, 8, 12, 16, 24 ... MiB, and from 564 MiB reserved on each
// is a full 256 MiB: reserved address space stays within about 1.5 times
// the segments in use plus one segment. (A full arena at once put 256 MiB
// of address space before the first block; under an RLIMIT_AS of a few
// hundred MiB, threads then failed to start.) Over a fixed region (a base
// that cannot decommit) an arena is as large as the region allows, up to
// arena_slots: see Arenas::add_arena.
constexpr std::size_t arena_growth_slots(std::size_t reserved_slots) noexcept {
  std::size_t const half = reserved_slots / 2;
  return half < 1 ? 1 : half > arena_slots ? arena_slots : half;
}

// How many more arenas the growing ones take than the full arenas that
// hold as many slots (11: 13 arenas of 141 slots in all come before the
// first full one, in every geometry).
constexpr std::size_t arena_growth_extra() noexcept {
  std::size_t reserved = 0;
  std::size_t count = 0;
  while (arena_growth_slots(reserved) < arena_slots) {
    reserved += arena_growth_slots(reserved);
    ++count;
  }
  return count - reserved / arena_slots;
}

// The Arenas object keeps 80 bytes per arena: room for 1024 full arenas
// (256 GiB in all by default) besides the growing ones, or 64 for
// segments below 1 MiB, a geometry for regions of a few MiB, where a
// region makes at most one arena per segment it holds.
inline constexpr std::size_t max_arenas = (segment_shift >= 20 ? 1024 : 64) + arena_growth_extra();

// Released arena slots stay committed this long, so that a segment or huge
// block given back and taken again soon (threads that come and go, huge
// blocks freed and allocated in a loop) costs no page faults. Purge rounds
// run this far apart while memory waits, and a round decommits what was
// free already at the round before (Arenas::purge), checked when slots are
// claimed or released, pages are taken and heaps collect.
// Measured on big_alloc and mstress (2 and 16 threads): 10 ms cuts their page
// faults by half to two thirds; 100 ms cuts more but holds more memory
// (peak RSS up to a fifth higher again), 2 ms keeps too little to reuse.
inline constexpr std::uint32_t purge_delay_ms = FERROC_PURGE_DELAY_MS;

// A purge round may leave free slots committed, up to 1/2^slot_retain_shift
// of the slots in use: as many as the huge blocks claimed since the round
// before had to fault in after it had decommitted some, less an eighth per
// round without such a miss (Arenas::slots_to_keep). A program that frees
// and allocates blocks of a few MiB at a steady pace then finds most of
// them committed, as glibc's heap keeps memory at its top up to its trim
// threshold; one that stops gives the memory back within tens of rounds.
// Measured (medians of 3-5, interleaved): malloc-large (5-25 MiB, 20 live)
// 7.6 -> 6.3 s, sys 3.9 -> 2.4 s, page faults 1.79 M -> 1.19 M, peak RSS
// 446 -> 489 MiB (glibc 522 MiB and 5.2 s, tcmalloc 561 MiB and 4.4 s);
// big_alloc at 16 threads peak RSS 297 -> 314 MiB, faults -5 %; mstress
// unchanged. Counting segments' misses
// as well raised mstress's peak RSS by a sixth for nothing; a fixed share
// (a quarter of the slots in use) raised big_alloc's by 8-15 %.
inline constexpr unsigned slot_retain_shift = 1;

// Free pages of segments in use wait this many purge delays per round (see
// Context::purge_if_due): such a page is the thread's own working set
// swinging, most likely taken again soon, while a released slot waits for
// any thread. Measured against 1x (medians of 5-7 runs, linked in): page
// faults of sh8bench 58 k -> 31 k at 16 threads (mimalloc 29 k) and 2.1 k
// -> 1.7 k at 2, of rptest 70 k -> 58 k and 6.0 k -> 4.7 k; peak RSS within
// 4 %, wall times unchanged.
inline constexpr std::uint32_t page_purge_delay_factor = 4;

// Pages of its bin an allocation that found its page dry collects and looks
// at before it takes a fresh page. Each look may cost an atomic exchange
// (and, where lists are not counted, a walk of the blocks other threads
// freed: see thread_free_counted); the pages it finds without room
// leave the bin for the full queue, so the next search starts past them and
// a page skipped by the bound is looked at soon. Walks past 4 pages are rare
// (a thread whose pages were all drained at once, a reclaimed segment);
// past 8, a fresh page is the cheaper bet.
inline constexpr std::size_t page_search_max = 8;

// Allocation slow paths between two looks of a heap at all its pages
// (collect without force): bounds how long blocks that other threads freed
// into pages the heap does not use stay there.
inline constexpr std::uint32_t heap_collect_interval = 1024;
// Over a base that decommits, the heap also looks at all its pages when
// heap_collect_period_ms have passed since its last look. It reads the clock
// at every heap_clock_interval-th allocation slow path, counting those that
// only take back the page's own frees (a read costs about as much as such a
// slow path).
inline constexpr std::uint32_t heap_collect_period_ms = 50;
inline constexpr std::uint32_t heap_clock_interval = 8;

// Abandoned segments a Context looks at per segment request before it asks
// the arenas for a fresh one (bounded work on the slow path).
inline constexpr std::size_t reclaim_visits = 16;

constexpr std::size_t align_up(std::size_t n, std::size_t align) noexcept {
  return (n + align - 1) & ~(align - 1);
}
constexpr bool is_pow2(std::size_t n) noexcept {
  return n != 0 && (n & (n - 1)) == 0;
}

// std::min and std::max without <algorithm>, which C++20 made heavy (the
// ranges algorithms) for every file that includes Ferroc.
template <class T> constexpr T min_of(T a, T b) noexcept {
  return b < a ? b : a;
}
template <class T> constexpr T max_of(T a, T b) noexcept {
  return a < b ? b : a;
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
