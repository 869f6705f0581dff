// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <time.h>

#include "ferroc/arena/segment_map.hpp"
#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/stats.hpp"
#include "ferroc/detail/track.hpp"
#include "ferroc/stats.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Now, in nanoseconds of a monotonic clock: the coarse one where there is
/// one (it is read without a system call and is precise enough for purge
/// delays of milliseconds). Used only over bases that decommit.
inline std::int64_t monotonic_ns() noexcept {
#ifdef CLOCK_MONOTONIC_COARSE
  constexpr clockid_t clock = CLOCK_MONOTONIC_COARSE;
#else
  constexpr clockid_t clock = CLOCK_MONOTONIC;
#endif
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

} // namespace detail

/// The memory shared by every thread of one allocator: arenas reserved from
/// the base and split into segment-sized slots, claimed and released through
/// an atomic bitmap, plus the segments that dead heaps abandoned. Arenas
/// start small and grow with the memory in use (detail::arena_growth_slots),
/// so a process reserves address space in step with its live data.
///
/// Thread-safe and lock-free (the base itself is called rarely: once per
/// arena and per very large block). Create it before, and destroy it after,
/// every Context that uses it: destroying it returns all its memory to the
/// base, live blocks included.
///
/// Over a base that can decommit, released slots stay committed for a purge
/// delay (`set_purge_delay_ms`) and are decommitted only when it has passed,
/// checked when slots are claimed or released, pages are taken and heaps
/// collect: a program that gives segments back and takes them again soon
/// (threads that come and go, huge blocks) reuses them without page faults.
template <BaseAlloc B> class Arenas {
  using BaseHandle = std::conditional_t<detail::held_by_reference<B>, B*, B>;

public:
  /// Memory of a fresh or purged slot reads as zero (a zeroing base that
  /// zeroes on decommit). A slot reused before its purge does not: see
  /// `Claim::zeroed`.
  static constexpr bool slots_are_zero = [] {
    if constexpr (DecommitBase<B>)
      return B::is_zeroed && B::decommit_zeroes;
    else
      return false;
  }();

  constexpr explicit Arenas(B base) noexcept requires(!detail::held_by_reference<B>)
      : base_(std::move(base)) {}
  constexpr explicit Arenas(B& base) noexcept requires(detail::held_by_reference<B>)
      : base_(&base) {}

  Arenas(Arenas const&) = delete;
  Arenas& operator=(Arenas const&) = delete;

  ~Arenas() {
    // relaxed: no other thread uses an Arenas that is being destroyed.
    if (track_pool_.load(std::memory_order_relaxed) == track_pool_ready)
      detail::track::destroy_pool(this);
    std::size_t const count =
        std::min(arena_count_.load(std::memory_order_acquire), detail::max_arenas);
    for (std::size_t i = 0; i < count; ++i) {
      // acquire: pairs with the release that published the arena.
      if (std::byte* start = arenas_[i].xstart.load(std::memory_order_acquire)) {
        detail::segment_map_mark(start, arenas_[i].chunk_size, false);
        base().deallocate(start, arenas_[i].chunk_size);
      }
    }
  }

  B& base() noexcept {
    if constexpr (detail::held_by_reference<B>)
      return *base_;
    else
      return base_;
  }

  /// Frees a block without any Heap, from any thread (defined with the heap
  /// layer, in ferroc/heap/heap.hpp).
  void deallocate(void* p) noexcept;

  /// Segments currently claimed from the arenas or the base, abandoned ones included.
  std::size_t segments_in_use() const noexcept { return segments_.current(); }

  /// How long released slots stay committed before they are decommitted
  /// (0: at once). Defaults to FERROC_PURGE_DELAY_MS; only bases that can
  /// decommit use it. Takes effect for slots released from now on.
  void set_purge_delay_ms(std::uint32_t ms) noexcept {
    // relaxed: a setting; a slot released with the old value keeps it.
    purge_delay_ns_.store(std::int64_t{ms} * 1'000'000, std::memory_order_relaxed);
  }
  std::uint32_t purge_delay_ms() const noexcept {
    // relaxed: a setting.
    return static_cast<std::uint32_t>(purge_delay_ns_.load(std::memory_order_relaxed) / 1'000'000);
  }

  /// Decommits the released slots whose purge delay has passed, beyond a
  /// number that huge blocks are likely to take again, or with `force` every
  /// released slot still committed. Cheap when none waits.
  ///
  /// Released slots wait in two generations: those released since the last
  /// round and those released before it. A round, once the deadline has
  /// passed, decommits the older generation only, so a slot goes at the
  /// second round after its release, a whole delay at least. (Decommitting
  /// all that waits at each deadline would purge a slot released a moment
  /// before: a program that frees and allocates big blocks at a steady pace
  /// then faults most of them in again, big_alloc 4 times as often. Rounds
  /// are counted rather than the time since each release, as a thread that
  /// gets the CPU only now and then finds its own releases a delay old.)
  /// Of all that waits, a round leaves as many slots committed as huge
  /// blocks recently missed (see slots_to_keep).
  void purge(bool force = false) noexcept {
    if constexpr (DecommitBase<B>) {
      // relaxed: a hint; the exchange or CAS below decides.
      std::int64_t expire = purge_expire_.load(std::memory_order_relaxed);
      if (expire == 0 && !force)
        return;
      if (force) {
        // seq_cst: the store-load pair with release_delayed (see there).
        purge_expire_.exchange(0, std::memory_order_seq_cst);
      } else {
        if (detail::monotonic_ns() < expire)
          return;
        // seq_cst: as above; only one thread runs the round of this deadline.
        if (!purge_expire_.compare_exchange_strong(expire, 0, std::memory_order_seq_cst,
                                                   std::memory_order_relaxed))
          return;
      }
      // relaxed: only the round's winner changes the epoch; a releaser that
      // reads it late files its slots one generation early (purged sooner).
      unsigned const epoch = purge_epoch_.load(std::memory_order_relaxed);
      unsigned const younger = epoch & 1;
      unsigned const older = younger ^ 1;
      // acquire: arenas counted here have their index claimed; xstart tells.
      std::size_t const n =
          std::min(arena_count_.load(std::memory_order_acquire), detail::max_arenas);
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
      purged_last_round_.store(purged != 0, std::memory_order_relaxed);
      // The younger generation becomes the older one; new releases go to
      // the generation just emptied (kept slots of the older one stay in it,
      // the first to go in the next round).
      // relaxed: see above.
      purge_epoch_.store(epoch + 1, std::memory_order_relaxed);
      // Another round while anything waits, kept slots included: without
      // misses their number shrinks round by round.
      bool waits = false;
      for (std::size_t k = 0; k < n && !waits; ++k)
        waits = slots_waiting(arenas_[k]) != 0;
      if (waits)
        set_purge_deadline();
    }
  }

  /// Gives the physical memory of a range of our segments back to a
  /// decommitting base, and counts it (see decommitted_bytes).
  void decommit(void* p, std::size_t size) noexcept requires DecommitBase<B> {
    base().decommit(p, size);
    // relaxed: a count that orders nothing (a decommit is a system call).
    decommitted_.fetch_add(size, std::memory_order_relaxed);
  }

  /// Bytes given back to the base with a decommit so far, in all: a
  /// program (malloc_trim) sees from it whether a collect released memory.
  std::size_t decommitted_bytes() const noexcept {
    // relaxed: a count.
    return decommitted_.load(std::memory_order_relaxed);
  }

  /// Segments of dead heaps that wait to be reclaimed.
  std::size_t abandoned_segments() const noexcept {
    // relaxed: a statistic.
    return abandoned_count_.load(std::memory_order_relaxed);
  }

  /// The counters of every heap of these Arenas, those that are gone
  /// included, and the shared gauges (see ferroc/stats.hpp).
  Stats stats() const noexcept {
    Stats s;
    s.segments = {segments_.current(), segments_.peak()};
    s.abandoned_segments = abandoned_segments();
    if constexpr (detail::stats_enabled) {
      auto& c = const_cast<Counters&>(counters_);
      lock_registry();
      for (std::size_t k = 1; k < detail::class_count; ++k) {
        s.classes[k].block_size = detail::class_size(k);
        s.classes[k].allocs = c.retired_allocs[k];
        s.classes[k].frees = c.retired_frees[k];
      }
      for (detail::ContextCounters const* cc = c.live; cc != nullptr; cc = cc->next) {
        ++s.heaps;
        for (std::size_t k = 1; k < detail::class_count; ++k) {
          s.classes[k].allocs += cc->allocs[k].get();
          s.classes[k].frees += cc->frees[k].get();
        }
      }
      unlock_registry();
      s.huge_allocs = c.huge_allocs.get();
      s.huge_frees = c.huge_frees.get();
      s.huge_bytes_allocated = c.huge_bytes_allocated.get();
      s.huge_bytes_freed = c.huge_bytes_freed.get();
      s.huge_blocks = {c.huge_blocks.current(), c.huge_blocks.peak()};
      s.huge_bytes = {c.huge_bytes.current(), c.huge_bytes.peak()};
      s.pages = {c.pages.current(), c.pages.peak()};
      s.committed = {c.committed.current(), c.committed.peak()};
      s.reserved = {c.reserved.current(), c.reserved.peak()};
      s.total_up();
    }
    return s;
  }

  // ---- for the heap layer -------------------------------------------------

  // Statistics (FERROC_STAT): the gauges the heap layer moves, and the
  // registry of live Contexts whose counts stats() adds up.
  struct Counters {
    detail::Gauge pages;
    detail::Gauge committed;
    detail::Gauge reserved;
    detail::Gauge huge_blocks;
    detail::Gauge huge_bytes;
    detail::SharedCounter huge_allocs;
    detail::SharedCounter huge_frees;
    detail::SharedCounter huge_bytes_allocated;
    detail::SharedCounter huge_bytes_freed;
    // Under the registry lock: the live Contexts, and the counts of those
    // that are gone.
    detail::atomic<bool> registry_lock{false};
    detail::ContextCounters* live = nullptr;
    std::uint64_t retired_allocs[detail::class_count] = {};
    std::uint64_t retired_frees[detail::class_count] = {};
  };
  struct NoCounters {};

  /// Statistics only: the shared gauges and counters.
  Counters& counters() noexcept requires detail::stats_enabled { return counters_; }

  /// Statistics only: a Context joins the registry...
  void register_context(detail::ContextCounters* cc) noexcept requires detail::stats_enabled {
    lock_registry();
    cc->prev = nullptr;
    cc->next = counters_.live;
    if (counters_.live != nullptr)
      counters_.live->prev = cc;
    counters_.live = cc;
    unlock_registry();
  }

  /// ... and leaves it, leaving its counts behind.
  void retire_context(detail::ContextCounters* cc) noexcept requires detail::stats_enabled {
    lock_registry();
    for (std::size_t k = 1; k < detail::class_count; ++k) {
      counters_.retired_allocs[k] += cc->allocs[k].get();
      counters_.retired_frees[k] += cc->frees[k].get();
    }
    if (cc->prev != nullptr)
      cc->prev->next = cc->next;
    else
      counters_.live = cc->next;
    if (cc->next != nullptr)
      cc->next->prev = cc->prev;
    unlock_registry();
  }

  struct Claim {
    std::byte* start = nullptr; // first slot, aligned to the segment size
    std::uint32_t arena = 0;
    std::uint32_t slot = 0;
    bool zeroed = false; // the memory reads as zero (no slot is reused unpurged)
  };

  /// Claims `count` (1..arena_slots) contiguous free slots, preferring
  /// released ones that are still committed; start is null on failure.
  /// With `grow` false only the arenas there are now are searched: no
  /// call to the base (a retry after slots were given back, when the base
  /// has just refused a new arena).
  Claim claim(std::size_t count, bool grow = true) noexcept {
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

  /// Gives `count` slots back. Over a decommitting base their memory goes
  /// back to it after the purge delay (at once with a delay of 0), so an
  /// idle arena ends up holding no physical memory.
  void release(std::uint32_t arena, std::uint32_t slot, std::uint32_t count) noexcept {
    Arena& a = arenas_[arena];
    std::uint64_t const mask = run_mask(slot, count);
    claimed_slots_.fetch_sub(count, std::memory_order_relaxed); // relaxed: a gauge (purge)
    if constexpr (DecommitBase<B>) {
      // relaxed: a setting.
      std::int64_t const delay = purge_delay_ns_.load(std::memory_order_relaxed);
      if (delay > 0) {
        release_delayed(a, mask);
        purge();
        return;
      }
      std::byte* start = a.xstart.load(std::memory_order_relaxed) + slot * detail::segment_size;
      decommit(start, count * detail::segment_size);
    }
    // release: the decommit and every write to the slots happen before a
    // claimer's acquire sees them free.
    a.xin_use.fetch_and(~mask, std::memory_order_release);
    segments_.sub(1);
    if constexpr (detail::stats_enabled)
      counters_.committed.sub(count * detail::segment_size);
  }

  /// A chunk straight from the base, for blocks larger than an arena.
  void* allocate_dedicated(std::size_t size, std::size_t align) noexcept {
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
  void deallocate_dedicated(void* p, std::size_t size) noexcept {
    detail::segment_map_mark(p, size, false);
    base().deallocate(p, size);
    segments_.sub(1);
    if constexpr (detail::stats_enabled) {
      counters_.reserved.sub(size);
      counters_.committed.sub(size);
    }
  }

  /// Segments are abandoned under one of `abandon_tags` tags (the heap
  /// layer tags them by page kind), so that a reclaimer finds one it can
  /// use without taking in the others.
  static constexpr std::size_t abandon_tags = 4;
  static constexpr std::size_t any_tag = abandon_tags;

  /// Puts a one-slot segment whose owner died up for reclaim.
  void abandon(std::uint32_t arena, std::uint32_t slot, std::size_t tag) noexcept {
    abandoned_count_.fetch_add(1, std::memory_order_relaxed); // relaxed: a statistic
    // release: the segment's header and pages, as the dying owner left them,
    // are visible to whoever clears this bit with acquire.
    arenas_[arena].xabandoned[tag].fetch_or(std::uint64_t{1} << slot, std::memory_order_release);
  }

  /// Takes ownership of one abandoned segment of `tag` (any_tag: of any),
  /// visiting at most `budget` candidates (each one tried, won or not, is
  /// taken off it); returns its start or nullptr. The search starts past
  /// the slot the last one took and wraps around: a segment that no
  /// reclaimer can use, abandoned again (see Context::end_reclaim_search),
  /// does not come first to every later search.
  void* reclaim(std::size_t& budget, std::size_t tag = any_tag) noexcept {
    // acquire: arenas counted here have their index claimed; xstart was
    // published before any of their slots could be abandoned.
    std::size_t const n =
        std::min(arena_count_.load(std::memory_order_acquire), detail::max_arenas);
    if (n == 0)
      return nullptr;
    std::size_t const first_tag = tag == any_tag ? 0 : tag;
    std::size_t const last_tag = tag == any_tag ? abandon_tags : tag + 1;
    // relaxed: only where to start looking.
    detail::atomic<std::size_t>& cursor = reclaim_cursor_[tag == any_tag ? 0 : tag];
    std::size_t const start = cursor.load(std::memory_order_relaxed) % (n * 64);
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
          cursor.store(k * 64 + slot + 1, std::memory_order_relaxed);
          return mem;
        }
      }
    }
    return nullptr;
  }

private:
  struct Arena {
    detail::atomic<std::byte*> xstart{nullptr}; // published last
    std::size_t chunk_size = 0;
    std::size_t slots = 0;
    detail::atomic<std::uint64_t> xin_use{0};
    detail::atomic<std::uint64_t> xabandoned[abandon_tags] = {0, 0, 0, 0};
    // Free slots still committed, waiting for their purge. A thread changes
    // a slot's bit only while it holds the slot's xin_use bit (releaser,
    // claimer or purger), so that bit orders every access to this one.
    // Indexed by the purge epoch's parity at their release (see purge).
    detail::atomic<std::uint64_t> xpurge[2] = {0, 0};
  };

  // One abandoned segment of `tag` among the slots of `window` in arena
  // `a` (its slot in `slot`), or nullptr; every bit we try counts against
  // `budget`, won or not.
  void* reclaim_in(Arena& a, std::size_t tag, std::uint64_t window, std::size_t& budget,
                   std::uint32_t& slot_out) noexcept {
    detail::atomic<std::uint64_t>& abandoned = a.xabandoned[tag];
    // relaxed: only a hint; the fetch_and below decides.
    std::uint64_t bits = abandoned.load(std::memory_order_relaxed) & window;
    while (bits != 0 && budget != 0) {
      --budget;
      auto const slot = static_cast<std::uint32_t>(std::countr_zero(bits));
      std::uint64_t const bit = std::uint64_t{1} << slot;
      // acquire: pairs with abandon()'s release; clearing the bit is what
      // makes us the owner, so only one thread wins it.
      std::uint64_t const old = abandoned.fetch_and(~bit, std::memory_order_acquire);
      if (old & bit) {
        abandoned_count_.fetch_sub(1, std::memory_order_relaxed); // relaxed: a statistic
        slot_out = slot;
        // relaxed: xstart was published before any slot of the arena was claimed.
        return a.xstart.load(std::memory_order_relaxed) + slot * detail::segment_size;
      }
      bits = old & ~bit & window;
    }
    return nullptr;
  }

  // Frees the slots of `mask` without decommitting them, and makes sure a
  // deadline for their purge is set.
  void release_delayed(Arena& a, std::uint64_t mask) noexcept {
    // relaxed: a late epoch only files the slots a generation early (see purge).
    unsigned const gen = purge_epoch_.load(std::memory_order_relaxed) & 1;
    // relaxed: we still hold the slots' in-use bits; the fetch_and below
    // publishes this.
    a.xpurge[gen].fetch_or(mask, std::memory_order_relaxed);
    // seq_cst: a store-load pair with purge(), which clears the deadline and
    // then reads xin_use: either it sees these slots free and takes care of
    // them, or we see no deadline and set one. Release: our writes to the
    // slots happen before a claimer's acquire sees them free.
    a.xin_use.fetch_and(~mask, std::memory_order_seq_cst);
    segments_.sub(1); // statistics: the slots stay committed until their purge
    // seq_cst: see above.
    if (purge_expire_.load(std::memory_order_seq_cst) != 0)
      return;
    set_purge_deadline();
  }

  // Sets the deadline of the next purge round one delay from now, unless
  // one is set already (losing to another thread leaves its deadline, which
  // is as early as ours).
  void set_purge_deadline() noexcept {
    // relaxed: a setting.
    std::int64_t const delay = purge_delay_ns_.load(std::memory_order_relaxed);
    std::int64_t none = 0;
    // seq_cst: see release_delayed.
    purge_expire_.compare_exchange_strong(none, detail::monotonic_ns() + delay,
                                          std::memory_order_seq_cst, std::memory_order_relaxed);
  }

  // How many waiting slots this round leaves committed: what the huge
  // blocks claimed since the last round missed (slots they had to fault in
  // although the round before had decommitted some) is added; without a
  // miss the number loses an eighth. So a program that frees and takes big
  // runs at a steady pace finds them committed, one that stops gives the
  // memory back within some rounds. At most 1/2^slot_retain_shift of the
  // slots in use (see detail::slot_retain_shift).
  std::size_t slots_to_keep() noexcept {
    // relaxed: counts that order nothing; only a round's winner gets here.
    std::size_t const missed = missed_slots_.exchange(0, std::memory_order_relaxed);
    std::size_t keep = keep_slots_.load(std::memory_order_relaxed);
    keep = missed != 0 ? keep + missed : keep - (keep + 7) / 8;
    std::size_t const cap =
        claimed_slots_.load(std::memory_order_relaxed) >> detail::slot_retain_shift;
    keep = std::min(keep, cap);
    keep_slots_.store(keep, std::memory_order_relaxed);
    return keep;
  }

  // Free slots of `a` that still wait for a purge (either generation).
  static std::size_t slots_waiting(Arena& a) noexcept {
    // seq_cst: with release_delayed's store-load pair, a slot released
    // before our round took the deadline is seen here (its release of the
    // in-use bit happened before, and its purge bit before that).
    std::uint64_t const free = ~a.xin_use.load(std::memory_order_seq_cst);
    // relaxed: ordered by the load above.
    return static_cast<std::size_t>(std::popcount((a.xpurge[0].load(std::memory_order_relaxed) |
                                                   a.xpurge[1].load(std::memory_order_relaxed)) &
                                                  free));
  }

  // The lowest `count` set bits of `bits`.
  static std::uint64_t lowest_bits(std::uint64_t bits, std::size_t count) noexcept {
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
  std::size_t purge_arena(Arena& a, unsigned gen, std::size_t limit) noexcept {
    // acquire: the arena's fields were written before xstart was published.
    std::byte* start = a.xstart.load(std::memory_order_acquire);
    if (start == nullptr)
      return 0;
    // seq_cst: the load of the store-load pair with release_delayed.
    std::uint64_t word = a.xin_use.load(std::memory_order_seq_cst);
    std::uint64_t held = 0;
    for (;;) {
      // relaxed: a hint; re-read below once the slots are ours.
      held = lowest_bits(a.xpurge[gen].load(std::memory_order_relaxed) & ~word, limit);
      if (held == 0)
        return 0;
      // acquire: the releasers' purge bits and writes are visible to us.
      if (a.xin_use.compare_exchange_weak(word, word | held, std::memory_order_acquire,
                                          std::memory_order_relaxed))
        break;
    }
    // relaxed: the slots' in-use bits are ours (see Arena::xpurge); another
    // purger may have done some of them between our hint and our claim.
    std::uint64_t const pending = a.xpurge[gen].load(std::memory_order_relaxed) & held;
    for (std::uint64_t m = pending; m != 0;) {
      auto const first = static_cast<std::size_t>(std::countr_zero(m));
      auto const count = static_cast<std::size_t>(std::countr_one(m >> first));
      decommit(start + first * detail::segment_size, count * detail::segment_size);
      m &= ~run_mask(first, count);
    }
    if constexpr (detail::stats_enabled)
      counters_.committed.sub(static_cast<std::size_t>(std::popcount(pending)) *
                              detail::segment_size);
    // relaxed: ordered by the release of the in-use bits below.
    a.xpurge[gen].fetch_and(~pending, std::memory_order_relaxed);
    // release: the decommit happens before a claimer's acquire sees the
    // slots free.
    a.xin_use.fetch_and(~held, std::memory_order_release);
    return static_cast<std::size_t>(std::popcount(pending));
  }

  static constexpr std::uint64_t run_mask(std::size_t slot, std::size_t count) noexcept {
    std::uint64_t const ones = count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
    return ones << slot;
  }

  // Committed slots first (they cost no page faults), in any arena; then
  // any free run.
  Claim claim_any(std::size_t count) noexcept {
    // acquire: arenas counted here have their index claimed; claim_in checks xstart.
    std::size_t const n =
        std::min(arena_count_.load(std::memory_order_acquire), detail::max_arenas);
    if constexpr (DecommitBase<B>) {
      for (std::size_t k = 0; k < n; ++k) {
        if (Claim c = claim_in(k, count, true); c.start != nullptr)
          return c;
      }
    }
    for (std::size_t k = 0; k < n; ++k) {
      if (Claim c = claim_in(k, count, false); c.start != nullptr)
        return c;
    }
    return {};
  }

  // A free run of `count` slots in arena k, only among those waiting for
  // their purge when `committed_only`.
  Claim claim_in(std::size_t k, std::size_t count, bool committed_only) noexcept {
    Arena& a = arenas_[k];
    // acquire: the arena's fields were written before xstart was published.
    std::byte* start = a.xstart.load(std::memory_order_acquire);
    if (start == nullptr || count > a.slots)
      return {};
    // relaxed: the CAS below re-validates.
    std::uint64_t word = a.xin_use.load(std::memory_order_relaxed);
    for (;;) {
      if (word == ~std::uint64_t{0})
        return {};
      // relaxed: only a preference; the claim below reads the real bits.
      std::size_t const slot = committed_only
                                   ? find_committed_run(word, committed_slots(a), count, a.slots)
                                   : find_run(word, count, a.slots);
      if (slot == a.slots)
        return {};
      std::uint64_t const mask = run_mask(slot, count);
      // acquire: see the releasing thread's decommit and writes (pairs with release()).
      if (a.xin_use.compare_exchange_weak(word, word | mask, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
        segments_.add(1);
        claimed_slots_.fetch_add(count, std::memory_order_relaxed); // relaxed: a gauge (purge)
        return {start + slot * detail::segment_size, static_cast<std::uint32_t>(k),
                static_cast<std::uint32_t>(slot), take_purge_bits(a, mask)};
      }
    }
  }

  // Free slots still committed (a preference for claims: relaxed, the
  // claim reads the real bits).
  static std::uint64_t committed_slots(Arena& a) noexcept {
    return a.xpurge[0].load(std::memory_order_relaxed) |
           a.xpurge[1].load(std::memory_order_relaxed);
  }

  // The slots of `mask` were just claimed: they no longer wait for a purge.
  // Returns whether they read as zero (none was still committed).
  // Statistics: slots still committed were counted as such all along.
  bool take_purge_bits([[maybe_unused]] Arena& a, [[maybe_unused]] std::uint64_t mask) noexcept {
    if constexpr (DecommitBase<B>) {
      // relaxed: our in-use bits guard these purge bits, and the claim's
      // acquire made the releaser's setting visible.
      std::uint64_t const was = a.xpurge[0].fetch_and(~mask, std::memory_order_relaxed) |
                                a.xpurge[1].fetch_and(~mask, std::memory_order_relaxed);
      // relaxed: a hint and a count for the next purge round (slots_to_keep).
      // Only a huge block's run counts: a segment finds a slot anywhere.
      if (std::popcount(mask) > 1 && (mask & ~was) != 0 &&
          purged_last_round_.load(std::memory_order_relaxed))
        missed_slots_.fetch_add(static_cast<std::size_t>(std::popcount(mask & ~was)),
                                std::memory_order_relaxed);
      if constexpr (detail::stats_enabled)
        counters_.committed.add(static_cast<std::size_t>(std::popcount(mask & ~was)) *
                                detail::segment_size);
      return slots_are_zero && (was & mask) == 0;
    }
    if constexpr (detail::stats_enabled)
      counters_.committed.add(static_cast<std::size_t>(std::popcount(mask)) * detail::segment_size);
    return slots_are_zero;
  }

  // The run of `count` zero bits in `word` below `limit` with the most
  // `committed` bits, the first of them on a tie, or `limit` when none has one.
  static std::size_t find_committed_run(std::uint64_t word, std::uint64_t committed,
                                        std::size_t count, std::size_t limit) noexcept {
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
  static std::size_t find_run(std::uint64_t word, std::size_t count, std::size_t limit) noexcept {
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

  // Reserves one more arena of `count` slots at least, halving the size
  // down to what `count` needs when the base cannot give as much (e.g.
  // under an address-space limit or on a small static region). Returns
  // false when none could be added. Over a base that decommits, what an
  // arena reserves ahead of use is address space, so it is as large as the
  // arenas so far make it (detail::arena_growth_slots). A base that cannot
  // (a fixed region: Static, SpanBase) has its memory there already, and
  // small arenas would split it for good (a huge block's run lies within
  // one arena): there the first try is a full arena.
  bool add_arena(std::size_t count) noexcept {
    std::size_t slots = detail::arena_slots;
    if constexpr (DecommitBase<B>) {
      // relaxed: only sizes the arena; threads that add arenas at the same
      // time may size theirs alike, which is as good.
      slots = std::max(count,
                       detail::arena_growth_slots(reserved_slots_.load(std::memory_order_relaxed)));
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
    std::size_t const k = arena_count_.fetch_add(1, std::memory_order_relaxed);
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
    a.xin_use.store(a.slots == 64 ? 0 : ~run_mask(0, a.slots), std::memory_order_relaxed);
    // release: the fields above are visible to whoever loads xstart with acquire.
    a.xstart.store(static_cast<std::byte*>(chunk), std::memory_order_release);
    // relaxed: only sizes later arenas (see above).
    reserved_slots_.fetch_add(slots, std::memory_order_relaxed);
    return true;
  }

  // Taken when a thread starts or ends and when statistics are read: a spin
  // lock is enough.
  void lock_registry() const noexcept {
    auto& lock = const_cast<detail::atomic<bool>&>(counters_.registry_lock);
    // acquire: the registry as the previous holder left it is visible.
    while (lock.exchange(true, std::memory_order_acquire))
      FERROC_SPIN_PAUSE();
  }
  void unlock_registry() const noexcept {
    // release: publishes our registry changes to the next holder.
    const_cast<detail::atomic<bool>&>(counters_.registry_lock)
        .store(false, std::memory_order_release);
  }

  // Tracking (detail/track.hpp): the memory checker's pool of our blocks is
  // created before the first memory that can hold one is published.
  static constexpr int track_pool_creating = 1;
  static constexpr int track_pool_ready = 2;
  void ensure_track_pool() noexcept {
    if constexpr (detail::track::enabled) {
      // acquire: pairs with the release below; the pool exists for us then.
      if (track_pool_.load(std::memory_order_acquire) == track_pool_ready)
        return;
      int expected = 0;
      // relaxed: only the winner creates; the others wait for the release.
      if (track_pool_.compare_exchange_strong(expected, track_pool_creating,
                                              std::memory_order_relaxed)) {
        detail::track::create_pool(this);
        // release: the pool is created before anyone sees it ready.
        track_pool_.store(track_pool_ready, std::memory_order_release);
        return;
      }
      // acquire: as above.
      while (track_pool_.load(std::memory_order_acquire) != track_pool_ready)
        FERROC_SPIN_PAUSE();
    }
  }

  BaseHandle base_;
  detail::atomic<int> track_pool_{0};
  detail::atomic<std::size_t> arena_count_{0};
  // Slots of all arenas added so far: the size of the next one follows.
  detail::atomic<std::size_t> reserved_slots_{0};
  // Slots claimed now (segments and huge blocks): the bound of keep_slots_.
  detail::atomic<std::size_t> claimed_slots_{0};
  // Free slots a purge round leaves committed, and the claims' misses since
  // the last round that move it (see slots_to_keep).
  detail::atomic<std::size_t> keep_slots_{0};
  detail::atomic<std::size_t> missed_slots_{0};
  detail::atomic<bool> purged_last_round_{false};
  detail::Gauge segments_;
  detail::atomic<std::size_t> abandoned_count_{0};
  // Where the next reclaim of each tag starts looking (arena * 64 + slot;
  // see reclaim).
  detail::atomic<std::size_t> reclaim_cursor_[abandon_tags] = {};
  detail::atomic<std::size_t> decommitted_{0}; // bytes, see decommitted_bytes
  [[no_unique_address]] std::conditional_t<detail::stats_enabled, Counters, NoCounters> counters_;
  // Release slots for this long before their purge (ns; 0: decommit at once).
  detail::atomic<std::int64_t> purge_delay_ns_{std::int64_t{detail::purge_delay_ms} * 1'000'000};
  // When the next purge round is due (monotonic ns), 0 when none waits.
  detail::atomic<std::int64_t> purge_expire_{0};
  // Rounds of purge so far; its parity is the generation releases go to.
  detail::atomic<unsigned> purge_epoch_{0};
  Arena arenas_[detail::max_arenas];
};

template <BaseAlloc B>
requires(!detail::held_by_reference<B>) Arenas(B)
->Arenas<B>;
template <BaseAlloc B>
requires(detail::held_by_reference<B>) Arenas(B&)
->Arenas<B>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
