// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <cstdint>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"

/// \file
/// A process-wide bitmap with one bit per segment-sized piece of the address
/// space: set while the piece belongs to some Arenas. It lets `free` tell a
/// pointer of ours from a foreign one (another allocator's, a stack or
/// global address) in a few instructions, which a malloc replacement needs.

/// The segment map. 1: keep it. It covers a 48-bit address space: with 4 MiB
/// segments 2^26 of them, 8 MiB of zero-initialised storage of which only
/// the pages for memory in use are ever touched (2^(45 - FERROC_SEGMENT_SHIFT)
/// bytes in general, so it is off by default for segments below 1 MiB: 512
/// MiB for 64 KiB segments). On a 32-bit target it covers the whole 4 GiB
/// address space in 128 bytes. 0 leaves it out (a small target without an
/// MMU, say); membership tests then answer "ours" for every pointer, and
/// the C API's `free` trusts every pointer it is given.
#ifndef FERROC_SEGMENT_MAP
#if FERROC_SEGMENT_SHIFT >= 20
#define FERROC_SEGMENT_MAP 1
#else
#define FERROC_SEGMENT_MAP 0
#endif
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

#if FERROC_SEGMENT_MAP
// Pointers above 2^48 (a 52- or 57-bit address space, which Linux hands out
// only to mmap calls that ask for it) are left outside: never ours.
inline constexpr std::size_t map_address_bits =
    sizeof(std::uintptr_t) * 8 < 48 ? sizeof(std::uintptr_t) * 8 : 48;
inline constexpr std::size_t map_words =
    (std::size_t{1} << (map_address_bits - segment_shift)) / 64;

// Plain words reached through atomic_ref (an atomic reference unless
// single-threaded): an array of a million std::atomic objects is not
// reliably constant-initialised (clang gives up and zeroes it at start-up,
// after allocations may have marked it), while plain zeroed words always are.
//
// All accesses relaxed: a bit is set before any pointer into its range is
// handed out, and that hand-over orders it; a bit is cleared only when
// nothing of ours is left in the range.
//
// Static storage, not memory of the base: secure mode's guard pages
// (heap/guard_pages.hpp) do not surround it. No block lies next to it (it
// is in the program's .bss, far from the base's mappings), and a stray
// write into it only changes which pointers `free` takes for ours.
alignas(atomic_ref<std::uint64_t>::required_alignment) inline constinit std::uint64_t
    segment_map[map_words]{};

inline atomic_ref<std::uint64_t> segment_map_word(std::size_t i) noexcept {
  return atomic_ref<std::uint64_t>(segment_map[i]);
}

/// Marks [start, start + size) as ours (`owned`) or not.
inline void segment_map_mark(void const* start, std::size_t size, bool owned) noexcept {
  auto const first = reinterpret_cast<std::uintptr_t>(start) >> segment_shift;
  auto const last = (reinterpret_cast<std::uintptr_t>(start) + size - 1) >> segment_shift;
  if ((last >> (map_address_bits - segment_shift)) != 0)
    return; // outside the map
  for (std::uintptr_t i = first; i <= last; ++i) {
    std::uint64_t const bit = std::uint64_t{1} << (i % 64);
    if (owned)
      segment_map_word(i / 64).fetch_or(bit, detail::memory_order_relaxed);
    else
      segment_map_word(i / 64).fetch_and(~bit, detail::memory_order_relaxed);
  }
}

/// Whether `p` lies in a segment of some Arenas (any non-null pointer a
/// Heap handed out does). Masks p - 1, as segment_of does.
FERROC_INLINE bool segment_map_contains(void const* p) noexcept {
  auto const q = reinterpret_cast<std::uintptr_t>(p) - 1;
  auto const word = q >> (segment_shift + 6);
  if (FERROC_UNLIKELY(word >= map_words))
    return false;
  // The shift count is taken modulo 64, as the bit index within the word.
  return ((segment_map_word(word).load(detail::memory_order_relaxed) >>
           ((q >> segment_shift) & 63)) &
          1) != 0;
}
#else
inline void segment_map_mark(void const*, std::size_t, bool) noexcept {}
FERROC_INLINE bool segment_map_contains(void const*) noexcept {
  return true;
}
#endif

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
