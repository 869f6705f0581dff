// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Arenas: the purge of released slots. Over a base that decommits, a released
// slot stays committed for a purge delay, filed in one of two generations by
// the parity of the purge epoch; a round, once its deadline has passed,
// decommits the older generation, leaving committed as many slots as huge
// blocks recently had to fault in (the retention, see slots_to_keep). The
// public contract is on Arenas::purge.
//
// Part of Arenas: ferroc/arena/arenas.hpp declares these members and
// includes this file at its end; included alone, this file pulls its
// parent in.

#include "ferroc/arena/arenas.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

template <BaseAlloc B> FERROC_MEMBER_INLINE void Arenas<B>::purge(bool force) noexcept {
  if constexpr (DecommitBase<B>) {
    // relaxed: a hint; the exchange or CAS below decides.
    std::int64_t expire = purge_expire_.load(detail::memory_order_relaxed);
    if (expire == 0 && !force)
      return;
    if (force) {
      // seq_cst: the store-load pair with release_delayed (see there).
      purge_expire_.exchange(0, detail::memory_order_seq_cst);
    } else {
      if (detail::monotonic_ns() < expire)
        return;
      // seq_cst: as above; only one thread runs the round of this deadline.
      if (!purge_expire_.compare_exchange_strong(expire, 0, detail::memory_order_seq_cst,
                                                 detail::memory_order_relaxed))
        return;
    }
    // relaxed: only the round's winner changes the epoch; a releaser that
    // reads it late files its slots one generation early (purged sooner).
    unsigned const epoch = purge_epoch_.load(detail::memory_order_relaxed);
    unsigned const younger = epoch & 1;
    unsigned const older = younger ^ 1;
    // acquire: arenas counted here have their index claimed; xstart tells.
    std::size_t const n =
        detail::min_of(arena_count_.load(detail::memory_order_acquire), detail::max_arenas);
    std::size_t waiting = 0;
    for (std::size_t k = 0; k < n; ++k)
      waiting += slots_waiting(arenas_[k]);
    std::size_t const keep = force ? 0 : slots_to_keep();
    std::size_t budget = force ? SIZE_MAX : waiting > keep ? waiting - keep : 0;
    std::size_t purged = 0;
    for (std::size_t k = 0; k < n && budget != 0; ++k) {
      std::size_t done = force ? purge_arena(arenas_[k], younger, budget) : 0;
      done += purge_arena(arenas_[k], older, budget - done);
      budget -= done;
      purged += done;
    }
    // relaxed: a hint for the claims' miss count.
    purged_last_round_.store(purged != 0, detail::memory_order_relaxed);
    // The younger generation becomes the older one; new releases go to
    // the generation just emptied (kept slots of the older one stay in it,
    // the first to go in the next round).
    // relaxed: see above.
    purge_epoch_.store(epoch + 1, detail::memory_order_relaxed);
    // Another round while anything waits, kept slots included: without
    // misses their number shrinks round by round.
    bool waits = false;
    for (std::size_t k = 0; k < n && !waits; ++k)
      waits = slots_waiting(arenas_[k]) != 0;
    if (waits)
      set_purge_deadline();
  }
}

// The slots of `mask` were just claimed: they no longer wait for a purge.
// Returns whether they read as zero (none was still committed).
// Statistics: slots still committed were counted as such all along.
template <BaseAlloc B>
FERROC_MEMBER_INLINE bool Arenas<B>::take_purge_bits([[maybe_unused]] Arena& a,
                                                     [[maybe_unused]] std::uint64_t mask) noexcept {
  if constexpr (DecommitBase<B>) {
    // relaxed: our in-use bits guard these purge bits, and the claim's
    // acquire made the releaser's setting visible.
    std::uint64_t const was = a.xpurge[0].fetch_and(~mask, detail::memory_order_relaxed) |
                              a.xpurge[1].fetch_and(~mask, detail::memory_order_relaxed);
    // relaxed: a hint and a count for the next purge round (slots_to_keep).
    // Only a huge block's run counts: a segment finds a slot anywhere.
    if (std::popcount(mask) > 1 && (mask & ~was) != 0 &&
        purged_last_round_.load(detail::memory_order_relaxed))
      missed_slots_.fetch_add(static_cast<std::size_t>(std::popcount(mask & ~was)),
                              detail::memory_order_relaxed);
    if constexpr (detail::stats_enabled)
      counters_.committed.add(static_cast<std::size_t>(std::popcount(mask & ~was)) *
                              detail::segment_size);
    return slots_are_zero && (was & mask) == 0;
  }
  if constexpr (detail::stats_enabled)
    counters_.committed.add(static_cast<std::size_t>(std::popcount(mask)) * detail::segment_size);
  return slots_are_zero;
}

// Frees the slots of `mask` without decommitting them, and makes sure a
// deadline for their purge is set.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void Arenas<B>::release_delayed(Arena& a, std::uint64_t mask) noexcept {
  // relaxed: a late epoch only files the slots a generation early (see purge).
  unsigned const gen = purge_epoch_.load(detail::memory_order_relaxed) & 1;
  // relaxed: we still hold the slots' in-use bits; the fetch_and below
  // publishes this.
  a.xpurge[gen].fetch_or(mask, detail::memory_order_relaxed);
  // seq_cst: a store-load pair with purge(), which clears the deadline and
  // then reads xin_use: either it sees these slots free and takes care of
  // them, or we see no deadline and set one. Release: our writes to the
  // slots happen before a claimer's acquire sees them free.
  a.xin_use.fetch_and(~mask, detail::memory_order_seq_cst);
  segments_.sub(1); // statistics: the slots stay committed until their purge
  // seq_cst: see above.
  if (purge_expire_.load(detail::memory_order_seq_cst) != 0)
    return;
  set_purge_deadline();
}

// Sets the deadline of the next purge round one delay from now, unless
// one is set already (losing to another thread leaves its deadline, which
// is as early as ours).
template <BaseAlloc B> FERROC_MEMBER_INLINE void Arenas<B>::set_purge_deadline() noexcept {
  // relaxed: a setting.
  std::int64_t const delay = purge_delay_ns_.load(detail::memory_order_relaxed);
  std::int64_t none = 0;
  // seq_cst: see release_delayed.
  purge_expire_.compare_exchange_strong(none, detail::monotonic_ns() + delay,
                                        detail::memory_order_seq_cst, detail::memory_order_relaxed);
}

// How many waiting slots this round leaves committed: what the huge
// blocks claimed since the last round missed (slots they had to fault in
// although the round before had decommitted some) is added; without a
// miss the number loses an eighth. So a program that frees and takes big
// runs at a steady pace finds them committed, one that stops gives the
// memory back within some rounds. At most 1/2^slot_retain_shift of the
// slots in use (see detail::slot_retain_shift).
template <BaseAlloc B> FERROC_MEMBER_INLINE std::size_t Arenas<B>::slots_to_keep() noexcept {
  // relaxed: counts that order nothing; only a round's winner gets here.
  std::size_t const missed = missed_slots_.exchange(0, detail::memory_order_relaxed);
  std::size_t keep = keep_slots_.load(detail::memory_order_relaxed);
  keep = missed != 0 ? keep + missed : keep - (keep + 7) / 8;
  std::size_t const cap =
      claimed_slots_.load(detail::memory_order_relaxed) >> detail::slot_retain_shift;
  keep = detail::min_of(keep, cap);
  keep_slots_.store(keep, detail::memory_order_relaxed);
  return keep;
}

// Free slots of `a` that still wait for a purge (either generation).
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::size_t Arenas<B>::slots_waiting(Arena& a) noexcept {
  // seq_cst: with release_delayed's store-load pair, a slot released
  // before our round took the deadline is seen here (its release of the
  // in-use bit happened before, and its purge bit before that).
  std::uint64_t const free = ~a.xin_use.load(detail::memory_order_seq_cst);
  // relaxed: ordered by the load above.
  return static_cast<std::size_t>(std::popcount((a.xpurge[0].load(detail::memory_order_relaxed) |
                                                 a.xpurge[1].load(detail::memory_order_relaxed)) &
                                                free));
}

// The lowest `count` set bits of `bits`.
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::uint64_t Arenas<B>::lowest_bits(std::uint64_t bits,
                                                          std::size_t count) noexcept {
  std::uint64_t out = 0;
  for (; bits != 0 && count != 0; --count) {
    out |= bits & (~bits + 1);
    bits &= bits - 1;
  }
  return out;
}

// Decommits up to `limit` free slots of `a` that wait for their purge in
// generation `gen`: the purger claims them in xin_use first, so no claimer
// takes a slot being purged. Returns how many it decommitted.
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::size_t Arenas<B>::purge_arena(Arena& a, unsigned gen,
                                                        std::size_t limit) noexcept {
  // acquire: the arena's fields were written before xstart was published.
  std::byte* start = a.xstart.load(detail::memory_order_acquire);
  if (start == nullptr)
    return 0;
  // seq_cst: the load of the store-load pair with release_delayed.
  std::uint64_t word = a.xin_use.load(detail::memory_order_seq_cst);
  std::uint64_t held = 0;
  for (;;) {
    // relaxed: a hint; re-read below once the slots are ours.
    held = lowest_bits(a.xpurge[gen].load(detail::memory_order_relaxed) & ~word, limit);
    if (held == 0)
      return 0;
    // acquire: the releasers' purge bits and writes are visible to us.
    if (a.xin_use.compare_exchange_weak(word, word | held, detail::memory_order_acquire,
                                        detail::memory_order_relaxed))
      break;
  }
  // relaxed: the slots' in-use bits are ours (see Arena::xpurge); another
  // purger may have done some of them between our hint and our claim.
  std::uint64_t pending = a.xpurge[gen].load(detail::memory_order_relaxed) & held;
  for (std::uint64_t m = pending; m != 0;) {
    auto const first = static_cast<std::size_t>(std::countr_zero(m));
    auto const count = static_cast<std::size_t>(std::countr_one(m >> first));
    // A run the base left committed keeps its purge bits: it still holds
    // old data, and waits for the next round.
    if (!decommit(start + first * detail::segment_size, count * detail::segment_size))
      pending &= ~run_mask(first, count);
    m &= ~run_mask(first, count);
  }
  if constexpr (detail::stats_enabled)
    counters_.committed.sub(static_cast<std::size_t>(std::popcount(pending)) *
                            detail::segment_size);
  // relaxed: ordered by the release of the in-use bits below.
  a.xpurge[gen].fetch_and(~pending, detail::memory_order_relaxed);
  // release: the decommit happens before a claimer's acquire sees the
  // slots free.
  a.xin_use.fetch_and(~held, detail::memory_order_release);
  return static_cast<std::size_t>(std::popcount(pending));
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
