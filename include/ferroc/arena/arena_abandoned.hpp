// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Arenas: segments whose heap died with blocks still alive. The dying heap
// sets the segment's bit in one of the arena's abandoned bitmaps (one per
// tag: the heap layer tags by page kind), and a heap that needs pages clears
// one, which makes it the owner; a search resumes where the last one of its
// tag stopped.
//
// Part of Arenas: ferroc/arena/arenas.hpp declares these members and
// includes this file at its end; included alone, this file pulls its
// parent in.

#include "ferroc/arena/arenas.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

template <BaseAlloc B>
FERROC_MEMBER_INLINE void Arenas<B>::abandon(std::uint32_t arena, std::uint32_t slot,
                                             std::size_t tag) noexcept {
  abandoned_count_.fetch_add(1, detail::memory_order_relaxed); // relaxed: a statistic
  // release: the segment's header and pages, as the dying owner left them,
  // are visible to whoever clears this bit with acquire.
  arenas_[arena].xabandoned[tag].fetch_or(std::uint64_t{1} << slot, detail::memory_order_release);
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Arenas<B>::reclaim(std::size_t& budget, std::size_t tag) noexcept {
  // acquire: arenas counted here have their index claimed; xstart was
  // published before any of their slots could be abandoned.
  std::size_t const n =
      detail::min_of(arena_count_.load(detail::memory_order_acquire), detail::max_arenas);
  if (n == 0)
    return nullptr;
  std::size_t const first_tag = tag == any_tag ? 0 : tag;
  std::size_t const last_tag = tag == any_tag ? abandon_tags : tag + 1;
  // relaxed: only where to start looking.
  detail::atomic<std::size_t>& cursor = reclaim_cursor_[tag == any_tag ? 0 : tag];
  std::size_t const start = cursor.load(detail::memory_order_relaxed) % (n * 64);
  std::size_t const k0 = start / 64;
  unsigned const s0 = static_cast<unsigned>(start % 64);
  // The cursor's arena from its slot on, the others whole, then the
  // cursor's arena below its slot.
  for (std::size_t i = 0; i <= n && budget != 0; ++i) {
    std::size_t const k = (k0 + i) % n;
    std::uint64_t const all = ~std::uint64_t{0};
    std::uint64_t const window = i == 0 ? all << s0 : i < n ? all : ~(all << s0);
    if (window == 0)
      continue;
    for (std::size_t t = first_tag; t < last_tag && budget != 0; ++t) {
      std::uint32_t slot = 0;
      if (void* mem = reclaim_in(arenas_[k], t, window, budget, slot)) {
        // relaxed: a hint, as above.
        cursor.store(k * 64 + slot + 1, detail::memory_order_relaxed);
        return mem;
      }
    }
  }
  return nullptr;
}

// One abandoned segment of `tag` among the slots of `window` in arena
// `a` (its slot in `slot`), or nullptr; every bit we try counts against
// `budget`, won or not.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Arenas<B>::reclaim_in(Arena& a, std::size_t tag, std::uint64_t window,
                                                 std::size_t& budget,
                                                 std::uint32_t& slot_out) noexcept {
  detail::atomic<std::uint64_t>& abandoned = a.xabandoned[tag];
  // relaxed: only a hint; the fetch_and below decides.
  std::uint64_t bits = abandoned.load(detail::memory_order_relaxed) & window;
  while (bits != 0 && budget != 0) {
    --budget;
    auto const slot = static_cast<std::uint32_t>(std::countr_zero(bits));
    std::uint64_t const bit = std::uint64_t{1} << slot;
    // acquire: pairs with abandon()'s release; clearing the bit is what
    // makes us the owner, so only one thread wins it.
    std::uint64_t const old = abandoned.fetch_and(~bit, detail::memory_order_acquire);
    if (old & bit) {
      abandoned_count_.fetch_sub(1, detail::memory_order_relaxed); // relaxed: a statistic
      slot_out = slot;
      // relaxed: xstart was published before any slot of the arena was claimed.
      return a.xstart.load(detail::memory_order_relaxed) + slot * detail::segment_size;
    }
    bits = old & ~bit & window;
  }
  return nullptr;
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
