// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Arenas: the memory all threads share.

// This file holds the class, its public contract and statistics; the rest
// of its members are defined in part headers included at the end of this
// file, one concept each: arena_slots.hpp (slot bitmaps, claims, growth),
// arena_purge.hpp (purge rounds and retention), arena_abandoned.hpp
// (segments of dead heaps).

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
#include "ferroc/detail/guarded.hpp"
#include "ferroc/detail/secure.hpp"
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
/// arena and per very large block): every member but the constructor and
/// the destructor may run on any thread, several at the same time. Create
/// it before, and destroy it after, every Context that uses it: destroying
/// it returns its arenas to the base, live blocks included. Not copyable or
/// movable (segments and Contexts point at it).
///
/// Over a base that can decommit, released slots stay committed for a purge
/// delay (`set_purge_delay_ms`) and are decommitted only when it has passed,
/// checked when slots are claimed or released, pages are taken and heaps
/// collect: a program that gives segments back and takes them again soon
/// (threads that come and go, huge blocks) reuses them without page faults.
template <BaseAlloc B> class Arenas {
  using BaseHandle = std::conditional_t<detail::held_by_reference<B>, B*, B>;

public:
  /// \cond internal
  /// Memory of a fresh or purged slot reads as zero (a zeroing base that
  /// zeroes on decommit). A slot reused before its purge does not: see
  /// `Claim::zeroed`.
  static constexpr bool slots_are_zero = [] {
    if constexpr (DecommitBase<B>)
      return B::is_zeroed && B::decommit_zeroes;
    else
      return false;
  }();
  /// \endcond

  /// Arenas over a copy of `base`, a handle-like base such as MmapAlloc.
  /// Takes nothing from the base yet: the first arena comes with the first
  /// claim. constexpr, so a static Arenas is constant-initialised. Never
  /// throws.
  constexpr explicit Arenas(B base) noexcept requires(!detail::held_by_reference<B>)
      : base_(std::move(base)) {}
  /// Arenas over `base` by reference, a base that owns its memory and
  /// cannot be copied (Static, SpanBase): `base` must outlive the Arenas.
  /// Otherwise as the constructor above.
  constexpr explicit Arenas(B& base) noexcept requires(detail::held_by_reference<B>)
      : base_(handle_of(base)) {}

  Arenas(Arenas const&) = delete;
  Arenas& operator=(Arenas const&) = delete;

  /// Gives every arena back to the base, with the blocks still in it: no
  /// Context (or Heap) of these Arenas may be alive, no block of them be
  /// used afterwards, and no other thread use the Arenas meanwhile. A huge
  /// block that got a chunk of the base of its own (one larger than an
  /// arena, say) is not among the arenas: free it before, or its chunk
  /// stays taken from the base.
  ~Arenas() {
    release_guarded_quarantine();
    // relaxed: no other thread uses an Arenas that is being destroyed.
    if (track_pool_.load(detail::memory_order_relaxed) == track_pool_ready)
      detail::track::destroy_pool(this);
    std::size_t const count =
        detail::min_of(arena_count_.load(detail::memory_order_acquire), detail::max_arenas);
    for (std::size_t i = 0; i < count; ++i) {
      // acquire: pairs with the release that published the arena.
      if (std::byte* start = arenas_[i].xstart.load(detail::memory_order_acquire)) {
        detail::segment_map_mark(start, arenas_[i].chunk_size, false);
        base().deallocate(start, arenas_[i].chunk_size);
      }
    }
  }

  /// The base, for memory the caller manages itself (a global allocator
  /// carves its threads' data from it). Any thread: a base is thread-safe.
  B& base() noexcept {
    if constexpr (detail::held_by_reference<B>)
      return *base_;
    else
      return base_;
  }

  /// Frees block `p` of any Heap of these Arenas without a Heap, from any
  /// thread (one without a Context too); nullptr does nothing. It takes the
  /// cross-thread path: the block goes back to its page's owner, which takes
  /// it in at its next allocation slow path or collect; a huge block's
  /// segment goes back at once. `p` must be a live block of these Arenas
  /// (checked mode stops the process on one that is not). Never throws.
  /// (Defined with the heap layer, in ferroc/heap/heap_free.hpp, which
  /// this header includes at its end.)
  void deallocate(void* p) noexcept;

  /// Segments currently claimed from the arenas or the base, abandoned ones
  /// included. Any thread; a relaxed read.
  std::size_t segments_in_use() const noexcept { return segments_.current(); }

  /// How long released slots stay committed before they are decommitted
  /// (0: at once). Defaults to FERROC_PURGE_DELAY_MS; only bases that can
  /// decommit use it. Takes effect for slots released from now on (free
  /// pages of segments in use wait four times as long). The delay is read
  /// on a coarse clock: a round can come up to one tick of it late (4 ms on
  /// most Linux kernels). Any thread.
  void set_purge_delay_ms(std::uint32_t ms) noexcept {
    // relaxed: a setting; a slot released with the old value keeps it.
    purge_delay_ns_.store(std::int64_t{ms} * 1'000'000, detail::memory_order_relaxed);
  }
  /// The purge delay now, in milliseconds (see set_purge_delay_ms). Any
  /// thread.
  std::uint32_t purge_delay_ms() const noexcept {
    // relaxed: a setting.
    return static_cast<std::uint32_t>(purge_delay_ns_.load(detail::memory_order_relaxed) /
                                      1'000'000);
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
  ///
  /// Any thread, several at the same time: one of them runs the round of a
  /// deadline, the others return. A round looks at every arena (a few
  /// words each); without a due round it costs a load (and a clock read
  /// while released slots wait). Does nothing over a base that cannot
  /// decommit. Never throws.
  void purge(bool force = false) noexcept;

  /// \cond internal
  /// Gives the physical memory of a range of our segments back to a
  /// decommitting base, and counts it (see decommitted_bytes). Returns
  /// false when the base left it committed: it then holds its old data.
  bool decommit(void* p, std::size_t size) noexcept requires DecommitBase<B> {
    if (!base().decommit(p, size))
      return false;
    // relaxed: a count that orders nothing (a decommit is a system call).
    decommitted_.fetch_add(size, detail::memory_order_relaxed);
    return true;
  }
  /// \endcond

  /// Bytes given back to the base with a decommit so far, in all: a
  /// program (malloc_trim) sees from it whether a collect released memory.
  /// Any thread; a relaxed read.
  std::size_t decommitted_bytes() const noexcept {
    // relaxed: a count.
    return decommitted_.load(detail::memory_order_relaxed);
  }

  /// Segments of dead heaps that wait to be reclaimed. Any thread; a relaxed
  /// read.
  std::size_t abandoned_segments() const noexcept {
    // relaxed: a statistic.
    return abandoned_count_.load(detail::memory_order_relaxed);
  }

  /// The counters of every heap of these Arenas, those that are gone
  /// included, and the shared gauges (see ferroc/stats.hpp). Without
  /// FERROC_STAT only `segments` and `abandoned_segments` are set.
  ///
  /// Any thread, while others allocate: each counter is some recent value
  /// (see Stats). With FERROC_STAT it walks the registry of live Contexts
  /// under its spin lock, which threads also take when they start and
  /// exit, adding up the counts of every size class of each: linear in the
  /// live heaps times the size classes. Never throws.
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
  // Public for the heap layer (Context, Heap), no part of the API.
  /// \cond internal

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
  //
  // The members for statistics compile without them too (`auto&`, bodies
  // under `if constexpr`): Clang 14 instantiates a member whose constraint
  // fails in an explicit instantiation (src/separate.cpp), against C++20.
  auto& counters() noexcept requires detail::stats_enabled { return counters_; }

  /// Statistics only: a Context joins the registry...
  void register_context(detail::ContextCounters* cc) noexcept requires detail::stats_enabled {
    if constexpr (detail::stats_enabled) {
      lock_registry();
      cc->prev = nullptr;
      cc->next = counters_.live;
      if (counters_.live != nullptr)
        counters_.live->prev = cc;
      counters_.live = cc;
      unlock_registry();
    }
  }

  /// ... and leaves it, leaving its counts behind.
  void retire_context(detail::ContextCounters* cc) noexcept requires detail::stats_enabled {
    if constexpr (detail::stats_enabled) {
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
  Claim claim(std::size_t count, bool grow = true) noexcept;

  /// Gives `count` slots back. Over a decommitting base their memory goes
  /// back to it after the purge delay (at once with a delay of 0), so an
  /// idle arena ends up holding no physical memory.
  void release(std::uint32_t arena, std::uint32_t slot, std::uint32_t count) noexcept;

  /// A chunk straight from the base, for blocks larger than an arena.
  void* allocate_dedicated(std::size_t size, std::size_t align) noexcept;
  void deallocate_dedicated(void* p, std::size_t size) noexcept;

  /// Segments are abandoned under one of `abandon_tags` tags (the heap
  /// layer tags them by page kind), so that a reclaimer finds one it can
  /// use without taking in the others.
  static constexpr std::size_t abandon_tags = 4;
  static constexpr std::size_t any_tag = abandon_tags;

  /// Puts a one-slot segment whose owner died up for reclaim.
  void abandon(std::uint32_t arena, std::uint32_t slot, std::size_t tag) noexcept;

  /// The freed guarded blocks still kept inaccessible (over a base that
  /// can protect pages), and their release (both in heap/heap_guarded.hpp).
  auto& guarded_quarantine() noexcept { return guarded_; }
  void release_guarded_quarantine() noexcept;

  /// Takes ownership of one abandoned segment of `tag` (any_tag: of any),
  /// visiting at most `budget` candidates (each one tried, won or not, is
  /// taken off it); returns its start or nullptr. The search starts past
  /// the slot the last one took and wraps around: a segment that no
  /// reclaimer can use, abandoned again (see Context::end_reclaim_search),
  /// does not come first to every later search.
  void* reclaim(std::size_t& budget, std::size_t tag = any_tag) noexcept;
  /// \endcond

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

  // ---- slot bitmaps, claims and growth (arena_slots.hpp) -------------------

  static constexpr std::uint64_t run_mask(std::size_t slot, std::size_t count) noexcept {
    std::uint64_t const ones = count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
    return ones << slot;
  }
  Claim claim_any(std::size_t count) noexcept;
  Claim claim_in(std::size_t k, std::size_t count, bool committed_only) noexcept;
  static std::uint64_t committed_slots(Arena& a) noexcept;
  static std::size_t find_committed_run(std::uint64_t word, std::uint64_t committed,
                                        std::size_t count, std::size_t limit) noexcept;
  static std::size_t find_run(std::uint64_t word, std::size_t count, std::size_t limit) noexcept;
  std::uint64_t claim_random() noexcept;
  static std::size_t random_run(std::uint64_t word, std::uint64_t committed, std::size_t count,
                                std::size_t limit, bool committed_only,
                                std::uint64_t random) noexcept;
  bool add_arena(std::size_t count) noexcept;

  // ---- purge rounds and retention (arena_purge.hpp) ------------------------

  bool take_purge_bits(Arena& a, std::uint64_t mask) noexcept;
  void release_delayed(Arena& a, std::uint64_t mask) noexcept;
  void set_purge_deadline() noexcept;
  std::size_t slots_to_keep() noexcept;
  static std::size_t slots_waiting(Arena& a) noexcept;
  static std::uint64_t lowest_bits(std::uint64_t bits, std::size_t count) noexcept;
  std::size_t purge_arena(Arena& a, unsigned gen, std::size_t limit) noexcept;

  // ---- abandoned segments (arena_abandoned.hpp) ----------------------------

  void* reclaim_in(Arena& a, std::size_t tag, std::uint64_t window, std::size_t& budget,
                   std::uint32_t& slot_out) noexcept;

  // ---- registry and tracking -----------------------------------------------

  // Taken when a thread starts or ends and when statistics are read: a spin
  // lock is enough. Without statistics there is no registry (the test keeps
  // the body out of an explicit instantiation of such Arenas).
  void lock_registry() const noexcept {
    if constexpr (detail::stats_enabled) {
      auto& lock = const_cast<detail::atomic<bool>&>(counters_.registry_lock);
      // acquire: the registry as the previous holder left it is visible.
      while (lock.exchange(true, detail::memory_order_acquire))
        FERROC_SPIN_PAUSE();
    }
  }
  void unlock_registry() const noexcept {
    if constexpr (detail::stats_enabled) {
      // release: publishes our registry changes to the next holder.
      const_cast<detail::atomic<bool>&>(counters_.registry_lock)
          .store(false, detail::memory_order_release);
    }
  }

  // Tracking (detail/track.hpp): the memory checker's pool of our blocks is
  // created before the first memory that can hold one is published.
  static constexpr int track_pool_creating = 1;
  static constexpr int track_pool_ready = 2;
  void ensure_track_pool() noexcept {
    if constexpr (detail::track::enabled) {
      // acquire: pairs with the release below; the pool exists for us then.
      if (track_pool_.load(detail::memory_order_acquire) == track_pool_ready)
        return;
      int expected = 0;
      // relaxed: only the winner creates; the others wait for the release.
      if (track_pool_.compare_exchange_strong(expected, track_pool_creating,
                                              detail::memory_order_relaxed)) {
        detail::track::create_pool(this);
        // release: the pool is created before anyone sees it ready.
        track_pool_.store(track_pool_ready, detail::memory_order_release);
        return;
      }
      // acquire: as above.
      while (track_pool_.load(detail::memory_order_acquire) != track_pool_ready)
        FERROC_SPIN_PAUSE();
    }
  }

  // What the Arenas keep of `base`: a pointer to a base held by reference,
  // a copy of any other. (Both constructors compile for every B, for Clang
  // 14's explicit instantiations; their constraints still choose.)
  static constexpr BaseHandle handle_of(B& base) noexcept {
    if constexpr (detail::held_by_reference<B>)
      return &base;
    else
      return base;
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
  [[no_unique_address]] std::conditional_t<ProtectBase<B>, detail::GuardedQuarantine, detail::Empty>
      guarded_;
  [[no_unique_address]] std::conditional_t<detail::stats_enabled, Counters, NoCounters> counters_;
  // Release slots for this long before their purge (ns; 0: decommit at once).
  detail::atomic<std::int64_t> purge_delay_ns_{std::int64_t{detail::purge_delay_ms} * 1'000'000};
  // When the next purge round is due (monotonic ns), 0 when none waits.
  detail::atomic<std::int64_t> purge_expire_{0};
  // Rounds of purge so far; its parity is the generation releases go to.
  detail::atomic<unsigned> purge_epoch_{0};
  Arena arenas_[detail::max_arenas];
  // Secure mode: claims so far, the counter its random slots are drawn
  // from (see claim_random); nothing in other builds.
  struct NoClaimCount {
    std::size_t fetch_add(std::size_t, detail::memory_order) noexcept { return 0; }
  };
  [[no_unique_address]] std::conditional_t<detail::secure, detail::atomic<std::size_t>,
                                           NoClaimCount>
      xclaims_{};
};

/// Deduces `Arenas<B>` from a base held by value:
/// `ferroc::Arenas arenas{ferroc::MmapAlloc{}};`.
template <BaseAlloc B>
requires(!detail::held_by_reference<B>) Arenas(B)
->Arenas<B>;
/// Deduces `Arenas<B>` from a base used by reference:
/// `ferroc::Arenas arenas{region};`.
template <BaseAlloc B>
requires(detail::held_by_reference<B>) Arenas(B&)
->Arenas<B>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc

// The members defined out of the class, one concept per file.
#include "ferroc/arena/arena_abandoned.hpp"
#include "ferroc/arena/arena_purge.hpp"
#include "ferroc/arena/arena_slots.hpp"

// Arenas::deallocate frees through the heap layer's cross-thread protocol
// (heap/heap_free.hpp), so this header ends by bringing that layer in: a
// program that includes only this header still links. Included from
// heap.hpp, this finds heap.hpp already open and adds nothing.
#include "ferroc/heap/heap.hpp"
