// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Arenas: the slots. Each arena is a chunk of the base cut into segment-sized
// slots; an atomic bitmap (Arena::xin_use) tells which are taken, so a claim
// or a release is one atomic operation on it. Here: claims (preferring slots
// still committed; in secure mode at a random slot), releases, the runs of
// slots huge blocks take, chunks of the base for blocks larger than an
// arena, and adding arenas as memory in use grows.
//
// Part of Arenas: ferroc/arena/arenas.hpp declares these members and
// includes this file at its end; included alone, this file pulls its
// parent in.

#include "ferroc/arena/arenas.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

template <BaseAlloc B>
FERROC_MEMBER_INLINE typename Arenas<B>::Claim Arenas<B>::claim(std::size_t count,
                                                                bool grow) noexcept {
  if (count == 0 || count > detail::arena_slots)
    return {};
  purge();
  if (!grow)
    return claim_any(count);
  // A few rounds: an arena we add can be taken by other threads before we
  // get to it; when the base is exhausted, look once more for slots that
  // were released meanwhile.
  for (int attempt = 0;; ++attempt) {
    if (Claim c = claim_any(count); c.start != nullptr)
      return c;
    if (attempt == 3 || !add_arena(count))
      return claim_any(count);
  }
}

// Secure mode: a random number for a claim, 0 in other builds. A keyed
// mix of a shared counter rather than a generator of each thread's: huge
// blocks claim from any thread, and one atomic add is nothing next to a
// claim.
template <BaseAlloc B> FERROC_MEMBER_INLINE std::uint64_t Arenas<B>::claim_random() noexcept {
  if constexpr (detail::secure) {
    // relaxed: only makes numbers differ from claim to claim; it orders
    // nothing (the claim's CAS does).
    std::size_t const n = xclaims_.fetch_add(1, detail::memory_order_relaxed);
    return detail::mix64(n ^ detail::random_seed(this));
  } else {
    return 0;
  }
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void Arenas<B>::release(std::uint32_t arena, std::uint32_t slot,
                                             std::uint32_t count) noexcept {
  Arena& a = arenas_[arena];
  std::uint64_t const mask = run_mask(slot, count);
  claimed_slots_.fetch_sub(count, detail::memory_order_relaxed); // relaxed: a gauge (purge)
  if constexpr (DecommitBase<B>) {
    // relaxed: a setting.
    std::int64_t const delay = purge_delay_ns_.load(detail::memory_order_relaxed);
    std::byte* start = a.xstart.load(detail::memory_order_relaxed) + slot * detail::segment_size;
    // A range the base left committed waits for a purge like a delayed
    // release: its slots then do not count as zero when claimed again.
    if (delay > 0 || !decommit(start, count * detail::segment_size)) {
      release_delayed(a, mask);
      if (delay > 0)
        purge();
      return;
    }
  }
  // release: the decommit and every write to the slots happen before a
  // claimer's acquire sees them free.
  a.xin_use.fetch_and(~mask, detail::memory_order_release);
  segments_.sub(1);
  if constexpr (detail::stats_enabled)
    counters_.committed.sub(count * detail::segment_size);
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Arenas<B>::allocate_dedicated(std::size_t size,
                                                         std::size_t align) noexcept {
  ensure_track_pool();
  void* p = base().allocate(size, align);
  if (p == nullptr)
    return nullptr;
  detail::segment_map_mark(p, size, true);
  segments_.add(1);
  if constexpr (detail::stats_enabled) {
    counters_.reserved.add(size);
    counters_.committed.add(size);
  }
  return p;
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void Arenas<B>::deallocate_dedicated(void* p, std::size_t size) noexcept {
  detail::segment_map_mark(p, size, false);
  base().deallocate(p, size);
  segments_.sub(1);
  if constexpr (detail::stats_enabled) {
    counters_.reserved.sub(size);
    counters_.committed.sub(size);
  }
}

// Committed slots first (they cost no page faults), in any arena; then
// any free run. Secure mode starts at a random arena (and claim_in picks a
// random run).
template <BaseAlloc B>
FERROC_MEMBER_INLINE typename Arenas<B>::Claim Arenas<B>::claim_any(std::size_t count) noexcept {
  // acquire: arenas counted here have their index claimed; claim_in checks xstart.
  std::size_t const n =
      detail::min_of(arena_count_.load(detail::memory_order_acquire), detail::max_arenas);
  std::size_t const first = detail::secure && n != 0 ? claim_random() % n : 0;
  // The i-th arena to look at.
  auto const arena = [n, first](std::size_t i) -> std::size_t {
    if constexpr (detail::secure)
      return (first + i) % n;
    else
      return (void)n, (void)first, i;
  };
  if constexpr (DecommitBase<B>) {
    for (std::size_t i = 0; i < n; ++i) {
      if (Claim c = claim_in(arena(i), count, true); c.start != nullptr)
        return c;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (Claim c = claim_in(arena(i), count, false); c.start != nullptr)
      return c;
  }
  return {};
}

// A free run of `count` slots in arena k, only among those waiting for
// their purge when `committed_only`; in secure mode one at random.
template <BaseAlloc B>
FERROC_MEMBER_INLINE typename Arenas<B>::Claim Arenas<B>::claim_in(std::size_t k, std::size_t count,
                                                                   bool committed_only) noexcept {
  Arena& a = arenas_[k];
  // acquire: the arena's fields were written before xstart was published.
  std::byte* start = a.xstart.load(detail::memory_order_acquire);
  if (start == nullptr || count > a.slots)
    return {};
  // relaxed: the CAS below re-validates.
  std::uint64_t word = a.xin_use.load(detail::memory_order_relaxed);
  for (;;) {
    if (word == ~std::uint64_t{0})
      return {};
    // relaxed: only a preference; the claim below reads the real bits.
    std::size_t const slot =
        detail::secure   ? random_run(word, committed_only ? committed_slots(a) : 0, count, a.slots,
                                      committed_only, claim_random())
        : committed_only ? find_committed_run(word, committed_slots(a), count, a.slots)
                         : find_run(word, count, a.slots);
    if (slot == a.slots)
      return {};
    std::uint64_t const mask = run_mask(slot, count);
    // acquire: see the releasing thread's decommit and writes (pairs with release()).
    if (a.xin_use.compare_exchange_weak(word, word | mask, detail::memory_order_acquire,
                                        detail::memory_order_relaxed)) {
      segments_.add(1);
      claimed_slots_.fetch_add(count, detail::memory_order_relaxed); // relaxed: a gauge (purge)
      return {start + slot * detail::segment_size, static_cast<std::uint32_t>(k),
              static_cast<std::uint32_t>(slot), take_purge_bits(a, mask)};
    }
  }
}

// Free slots still committed (a preference for claims: relaxed, the
// claim reads the real bits).
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::uint64_t Arenas<B>::committed_slots(Arena& a) noexcept {
  return a.xpurge[0].load(detail::memory_order_relaxed) |
         a.xpurge[1].load(detail::memory_order_relaxed);
}

// The run of `count` zero bits in `word` below `limit` with the most
// `committed` bits, the first of them on a tie, or `limit` when none has one.
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::size_t
Arenas<B>::find_committed_run(std::uint64_t word, std::uint64_t committed, std::size_t count,
                              std::size_t limit) noexcept {
  committed &= ~word;
  if (committed == 0)
    return limit;
  std::size_t best = limit;
  int best_committed = 0;
  for (std::size_t slot = 0; slot + count <= limit; ++slot) {
    std::uint64_t const mask = run_mask(slot, count);
    if ((word & mask) != 0)
      continue;
    if (int const n = std::popcount(committed & mask); n > best_committed) {
      best = slot;
      best_committed = n;
      if (n == static_cast<int>(count))
        break;
    }
  }
  return best;
}

// First run of `count` zero bits in `word` below `limit`, or `limit`.
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::size_t Arenas<B>::find_run(std::uint64_t word, std::size_t count,
                                                     std::size_t limit) noexcept {
  std::uint64_t const ones = run_mask(0, count);
  for (std::size_t slot = 0; slot + count <= limit;) {
    std::uint64_t const taken = word & (ones << slot);
    if (taken == 0)
      return slot;
    // Skip past the highest taken bit inside the window.
    slot = static_cast<std::size_t>(63 - std::countl_zero(taken)) + 1;
  }
  return limit;
}

// Secure mode: a run of `count` zero bits in `word` below `limit` chosen
// at random, or `limit` when none is free. With `committed_only`, among
// the runs whose slots are all `committed` (and when none is, the one
// find_committed_run finds): the preference for slots that cost no page
// faults stays.
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::size_t
Arenas<B>::random_run(std::uint64_t word, std::uint64_t committed, std::size_t count,
                      std::size_t limit, bool committed_only, std::uint64_t random) noexcept {
  std::uint64_t const free = ~word & run_mask(0, limit);
  auto const n = static_cast<std::uint32_t>(count);
  if (committed_only) {
    std::uint64_t const starts = detail::run_starts(free & committed, n);
    if (starts == 0)
      return find_committed_run(word, committed, count, limit);
    return detail::random_set_bit(starts, random);
  }
  std::uint64_t const starts = detail::run_starts(free, n);
  return starts == 0 ? limit : detail::random_set_bit(starts, random);
}

// Reserves one more arena of `count` slots at least, halving the size
// down to what `count` needs when the base cannot give as much (e.g.
// under an address-space limit or on a small static region). Returns
// false when none could be added. Over a base that decommits, what an
// arena reserves ahead of use is address space, so it is as large as the
// arenas so far make it (detail::arena_growth_slots). A base that cannot
// (a fixed region: Static, SpanBase) has its memory there already, and
// small arenas would split it for good (a huge block's run lies within
// one arena): there the first try is a full arena.
template <BaseAlloc B> FERROC_MEMBER_INLINE bool Arenas<B>::add_arena(std::size_t count) noexcept {
  std::size_t slots = detail::arena_slots;
  if constexpr (DecommitBase<B>) {
    // relaxed: only sizes the arena; threads that add arenas at the same
    // time may size theirs alike, which is as good.
    slots = detail::max_of(
        count, detail::arena_growth_slots(reserved_slots_.load(detail::memory_order_relaxed)));
  }
  void* chunk = nullptr;
  for (; slots >= count; slots /= 2) {
    chunk = base().allocate(slots * detail::segment_size, detail::segment_size);
    if (chunk != nullptr)
      break;
  }
  if (chunk == nullptr)
    return false;
  std::size_t const size = slots * detail::segment_size;
  // Pages keep the count of their remote-free lists in the top 16 bits of
  // a 64-bit word (Page::xthread_free): their memory must lie below 2^48,
  // as user-space memory does on x86-64 and AArch64 unless a program asks
  // for more.
  if constexpr (detail::thread_free_counted) {
    if (reinterpret_cast<std::uintptr_t>(chunk) + size > std::uintptr_t{1}
                                                             << detail::thread_free_count_shift) {
      base().deallocate(chunk, size);
      return false;
    }
  }
  // relaxed: the index is only ours; publication happens through xstart.
  std::size_t const k = arena_count_.fetch_add(1, detail::memory_order_relaxed);
  if (k >= detail::max_arenas) {
    base().deallocate(chunk, size);
    return false;
  }
  detail::segment_map_mark(chunk, size, true);
  ensure_track_pool();
  if constexpr (detail::stats_enabled)
    counters_.reserved.add(size);
  Arena& a = arenas_[k];
  a.chunk_size = size;
  a.slots = size / detail::segment_size;
  a.xin_use.store(a.slots == 64 ? 0 : ~run_mask(0, a.slots), detail::memory_order_relaxed);
  // release: the fields above are visible to whoever loads xstart with acquire.
  a.xstart.store(static_cast<std::byte*>(chunk), detail::memory_order_release);
  // relaxed: only sizes later arenas (see above).
  reserved_slots_.fetch_add(slots, detail::memory_order_relaxed);
  return true;
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
