// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Context: a thread's segments.

// The page purge (free pages of segments in use given back to the base
// after a delay) is defined in context_purge.hpp, included at the end of
// this file.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ferroc/arena/arenas.hpp"
#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/stats.hpp"
#include "ferroc/heap/guard_pages.hpp"
#include "ferroc/heap/page.hpp"
#include "ferroc/heap/secure_random.hpp"
#include "ferroc/heap/segment.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

template <BaseAlloc B> class Heap;

namespace detail {

/// Gives a segment's memory back to where it came from (arena slots or a
/// dedicated base chunk). Any thread may call it for a huge segment.
template <BaseAlloc B> void release_segment_memory(Arenas<B>& arenas, Segment* seg) noexcept {
  if constexpr (stats_enabled) {
    if (seg->kind == PageKind::huge) {
      auto& c = arenas.counters();
      std::size_t const bytes = seg->pages[0].block_size;
      c.huge_blocks.sub(1);
      c.huge_bytes.sub(bytes);
      c.huge_frees.add(1);
      c.huge_bytes_freed.add(bytes);
    }
  }
  bool const to_arena = seg->source.arena != SegmentSource::dedicated;
  // Secure mode: a slot may be laid out otherwise next time; a guard that
  // stays inaccessible keeps the memory out of use for good.
  if (!unguard_segment(arenas.base(), seg, to_arena))
    return;
  SegmentSource const src = seg->source;
  if (src.arena == SegmentSource::dedicated)
    arenas.deallocate_dedicated(src.chunk, src.chunk_size);
  else
    arenas.release(src.arena, src.slot, src.slot_count);
}

} // namespace detail

/// Whether a Context takes over the segments that dead heaps left in its
/// Arenas (see Context's constructor).
enum class Reclaim : bool {
  /// It takes them over when it needs pages (the default): the memory of
  /// heaps that went away is used again, and their live blocks become its
  /// heap's blocks.
  abandoned,
  /// It never takes them over (they wait for another Context): its heap
  /// holds only the blocks it handed out itself, so that `Heap::destroy`
  /// frees nothing that other code still holds, also over Arenas shared
  /// with heaps that come and go (LocalHeap's Context).
  none,
};

/// The per-thread owner of segments: it claims them from the Arenas, hands
/// their free pages to its Heap, and gives empty ones back. It also keeps the
/// list on which other threads return blocks of full pages (it outlives any
/// move of the Heap, so pages can point at it).
///
/// One per thread, not thread-safe, not copyable or movable: only the
/// thread of the Heap that uses it touches it (other threads only push
/// blocks they free onto its lock-free list of delayed frees). At most one
/// Heap uses a Context at a time; destroy the Heap first. A Context does
/// nothing of its own: create it, hand it to a Heap, and call the Heap.
///
///     ferroc::Context cx{arenas};
///     ferroc::Heap heap{cx};
template <BaseAlloc B> class Context {
public:
  /// A Context that owns no segment yet, over `arenas`, which must outlive
  /// it; `reclaim` tells whether it takes over the segments of dead heaps
  /// (see Reclaim). Allocates nothing and never throws. With FERROC_STAT it
  /// joins the registry of the arenas' statistics (a spin lock that other
  /// threads take when they start and exit, and Arenas::stats).
  explicit Context(Arenas<B>& arenas, Reclaim reclaim = Reclaim::abandoned) noexcept
      : arenas_(&arenas), reclaim_(reclaim), random_(detail::make_secure_random(this)) {
    if constexpr (detail::stats_enabled)
      arenas.register_context(&counters_);
  }
  Context(Context const&) = delete;
  Context& operator=(Context const&) = delete;
  /// Leaves the statistics registry, whose totals keep this Context's
  /// counts. Holds no segment by then: the destructor of the Heap that used
  /// it (destroy that first) abandons the segments with live blocks to the
  /// arenas and gives the others back. Never throws.
  ~Context() {
    if constexpr (detail::stats_enabled)
      arenas_->retire_context(&counters_);
  }

  /// The Arenas this Context takes its segments from. Never throws.
  Arenas<B>& arenas() const noexcept { return *arenas_; }

  /// Whether it takes over the segments of dead heaps, as constructed.
  /// Never throws.
  Reclaim reclaim() const noexcept { return reclaim_; }

  /// \cond internal
  /// The counts of this Context's heap (FERROC_STAT; see Heap::stats).
  auto const& counters() const noexcept requires detail::stats_enabled { return counters_; }
  /// \endcond

private:
  friend class Heap<B>;
  using Segment = detail::Segment;
  using Page = detail::Page;
  using PageKind = detail::PageKind;
  // Secure mode's guard pages (heap/guard_pages.hpp): their size, or 0.
  static constexpr std::size_t guard = detail::segment_guard<B>;

  struct SegmentList {
    Segment* first = nullptr;
  };

  static std::size_t kind_index(PageKind kind) noexcept { return static_cast<std::size_t>(kind); }
  // Abandoned segments are tagged with their kind, those that a reclaimer
  // found of no use with `unsuitable_tag`, whatever their kind (see
  // reclaim_segment): the tag of huge segments, which belong to no Context
  // and are never abandoned.
  static constexpr std::size_t unsuitable_tag = static_cast<std::size_t>(PageKind::huge);
  static_assert(static_cast<std::size_t>(PageKind::large) < unsuitable_tag &&
                unsuitable_tag < Arenas<B>::abandon_tags);

  // A free page of `kind` in a segment we own, for class `c`, marked in
  // use; or nullptr. Taking a page is also where a busy thread notices that
  // released arena slots are due for their purge (a load when none waits).
  Page* take_free_page(PageKind kind, std::size_t c) noexcept {
    purge_if_due();
    Segment* seg = avail_[kind_index(kind)].first;
    if (seg == nullptr)
      return nullptr;
    std::uint32_t const i = warmest_free_page(seg, c);
    seg->free_mask &= ~(std::uint64_t{1} << i);
    clear_dirty(seg, std::uint64_t{1} << i);
    ++seg->used_pages;
    if (seg->free_mask == 0)
      avail_remove(seg);
    Page* pg = &seg->pages[i];
    pg->in_use = true;
    detail::page_set_owner(pg, this);
    if constexpr (detail::stats_enabled) {
      counters_.pages.add(1);
      arenas_->counters().pages.add(1);
      recommitted(pg);
    }
    return pg;
  }

  // The free page of `seg` to take for class `c`. A page freed since the
  // last purge rounds is still resident: one that last held class c first
  // (it is resident where c touches it), then any such page, then the
  // first free one. A class that needs a second page for a moment, again
  // and again, so takes the same one back instead of touching every free
  // page of the segment in turn before a purge comes, each page as far as
  // the largest class it ever held (sh6bench: 1.3x mimalloc's peak RSS).
  static std::uint32_t warmest_free_page(Segment const* seg, std::size_t c) noexcept {
    std::uint64_t const warm = seg->free_mask & (seg->dirty_mask | seg->dirty_old_mask);
    for (std::uint64_t m = warm; m != 0; m &= m - 1) {
      auto const i = static_cast<std::uint32_t>(std::countr_zero(m));
      if (seg->pages[i].class_index == c)
        return i;
    }
    return static_cast<std::uint32_t>(std::countr_zero(warm != 0 ? warm : seg->free_mask));
  }

  // A large page for one block of `block_size`: a run of free slices in a
  // large segment we own, marked in use; or nullptr.
  Page* take_large_page(std::size_t block_size) noexcept {
    purge_if_due();
    std::uint32_t const count = detail::large_slices(block_size);
    for (Segment* seg = avail_[kind_index(PageKind::large)].first; seg != nullptr;
         seg = seg->avail_next) {
      std::uint32_t slices = count;
      std::uint32_t const first = large_run(seg, block_size, slices);
      if (first != 0)
        return take_run(seg, first, slices);
    }
    return nullptr;
  }

  // The first slice of a free run of `seg` for a block of `block_size`
  // (`count` slices, which it may raise), or 0. Secure mode: the end guard
  // takes the last slice's end, so a run through it may need one slice more.
  std::uint32_t large_run(Segment const* seg, std::size_t block_size,
                          std::uint32_t& count) noexcept {
    if constexpr (guard != 0) {
      std::uint64_t const last = std::uint64_t{1} << (seg->page_count - 1);
      if (std::uint32_t const first = place_run(seg->free_mask & ~last, count); first != 0)
        return first;
      // Every run found now ends at the last slice (none avoids it).
      count = detail::large_slices(block_size + guard);
    }
    return place_run(seg->free_mask, count);
  }

  // The first slice of a run of `count` free slices (bits of `free`), or 0
  // (slice 0 is never free in a large segment).
  static std::uint32_t free_run(std::uint64_t free, std::uint32_t count) noexcept {
    // Bit i of `starts` survives when slices i..i+count-1 are all free.
    std::uint64_t starts = free;
    for (std::uint32_t k = 1; k < count && starts != 0; k *= 2) {
      std::uint32_t const step = detail::min_of(k, count - k);
      starts &= starts >> step;
      if (step < k) // the last round: the run is covered
        break;
    }
    return starts == 0 ? 0 : static_cast<std::uint32_t>(std::countr_zero(starts));
  }

  // The first slice of the run of `count` free slices (bits of `free`) a
  // large block takes, or 0: the first one, or in secure mode one at
  // random (see detail::random_run).
  std::uint32_t place_run(std::uint64_t free, std::uint32_t count) noexcept {
    if constexpr (detail::secure) {
      std::uint64_t const starts = detail::run_starts(free, count);
      return starts == 0 ? 0 : detail::random_run(starts, count, random_);
    }
    return free_run(free, count);
  }

  Page* take_run(Segment* seg, std::uint32_t first, std::uint32_t count) noexcept {
    std::uint64_t const run = run_bits(first, count);
    seg->free_mask &= ~run;
    clear_dirty(seg, run);
    ++seg->used_pages;
    if (seg->free_mask == 0)
      avail_remove(seg);
    Page* pg = &seg->pages[first];
    // The run reads as zero if every slice does; the block will be written.
    bool zero = true;
    for (std::uint32_t i = first; i < first + count; ++i) {
      Page& slice = seg->pages[i];
      zero = zero && slice.mem_is_zero;
      slice.mem_is_zero = false;
      if constexpr (detail::stats_enabled)
        recommitted(&slice);
    }
    pg->mem_is_zero = zero;
    pg->slice_count = static_cast<std::uint8_t>(count);
    pg->area_size = static_cast<std::uint32_t>(count << detail::large_slice_shift);
    if constexpr (guard != 0) {
      if (first + count == seg->page_count)
        pg->area_size -= guard;
    }
    pg->in_use = true;
    detail::page_set_owner(pg, this);
    if constexpr (detail::stats_enabled) {
      counters_.pages.add(1);
      arenas_->counters().pages.add(1);
    }
    return pg;
  }

  static std::uint64_t run_bits(std::uint32_t first, std::uint32_t count) noexcept {
    return (count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1) << first;
  }

  // A page of `kind` for blocks of `block_size` in a segment we own, or nullptr.
  Page* take_page(PageKind kind, std::size_t block_size) noexcept {
    return kind == PageKind::large ? take_large_page(block_size)
                                   : take_free_page(kind, detail::size_class_of(block_size));
  }

  // Statistics: a page decommitted by decommit_free_pages holds memory
  // again from its next use on.
  void recommitted(Page* pg) noexcept {
    if constexpr (detail::stats_enabled) {
      if (pg->decommitted) {
        pg->decommitted = false;
        arenas_->counters().committed.add(pg->area_size);
      }
    }
  }

  // Takes the first page of a new segment for `kind`: an empty one we kept,
  // or a fresh claim from the arenas.
  Page* take_page_from_new_segment(PageKind kind, std::size_t block_size) noexcept {
    Segment* seg = nullptr;
    if (Segment* cached = empty_.first) {
      empty_.first = cached->next;
      --empty_count_;
      // Its pages held blocks before: not known to be zero any more, and
      // whatever they touched is resident until a purge.
      seg = detail::segment_init<guard>(cached, kind, arenas_, cached->source, false);
      detail::reguard_segment(arenas_->base(), seg);
      mark_dirty(seg, seg->free_mask);
    } else {
      typename Arenas<B>::Claim const claim = arenas_->claim(1);
      if (claim.start == nullptr)
        return nullptr;
      detail::SegmentSource const src{.arena = claim.arena, .slot = claim.slot, .slot_count = 1};
      seg = detail::segment_init<guard>(claim.start, kind, arenas_, src, claim.zeroed);
      detail::guard_segment(arenas_->base(), seg);
      if (!claim.zeroed) // a slot released a moment ago: its last user's pages are resident
        mark_dirty(seg, seg->free_mask);
    }
    // relaxed: only this thread compares against its own address; others
    // see "not mine" either way.
    seg->xowner.store(this, detail::memory_order_relaxed);
    adopt_segment(seg);
    return take_page(kind, block_size);
  }

  // Empty segments kept for reuse (any page kind) instead of going back to
  // the arenas at once: a program that fills and empties a few segments
  // in a loop would otherwise pay a decommit and page faults every round.
  static constexpr std::size_t max_empty_segments = 2;

  void keep_or_release_empty(Segment* seg) noexcept {
    unlink(seg);
    // Statistics: the arenas count a segment's whole size out when it goes
    // back, and a kept segment's pages are used again.
    if constexpr (detail::stats_enabled) {
      for (std::uint32_t i = 0; i < seg->page_count; ++i)
        recommitted(&seg->pages[i]);
    }
    if (empty_count_ >= max_empty_segments) {
      detail::release_segment_memory(*arenas_, seg);
      return;
    }
    seg->next = empty_.first;
    empty_.first = seg;
    ++empty_count_;
  }

  void release_empty_segments() noexcept {
    while (Segment* seg = empty_.first) {
      empty_.first = seg->next;
      detail::release_segment_memory(*arenas_, seg);
    }
    empty_count_ = 0;
  }

  // Returns a page to its segment; gives the segment back to the arenas
  // when that was its last used page. Returns true if the segment is gone.
  bool free_page(Page* pg) noexcept {
    Segment* seg = detail::segment_of(pg);
    auto const i = static_cast<std::uint32_t>(pg - seg->pages);
    pg->in_use = false;
    pg->next = pg->prev = nullptr;
    if constexpr (detail::stats_enabled) {
      counters_.pages.sub(1);
      arenas_->counters().pages.sub(1);
    }
    // A large page's slices become free one by one again.
    std::uint64_t const bits = run_bits(i, pg->slice_count);
    pg->slice_count = 1;
    pg->area_size = detail::page_area_size<guard>(i, seg->page_shift);
    if constexpr (guard != 0)
      pg->area = detail::page_area_start<guard>(seg, i); // see end_blocks_at_guard
    seg->free_mask |= bits;
    mark_dirty(seg, bits);
    --seg->used_pages;
    if (seg->used_pages == 0) {
      keep_or_release_empty(seg);
      return true;
    }
    if (!seg->in_avail)
      avail_push(seg);
    return false;
  }

  // Takes ownership of one abandoned segment, or nullptr.
  Segment* reclaim_segment() noexcept {
    if (reclaim_ == Reclaim::none || arenas_->abandoned_segments() == 0)
      return nullptr;
    std::size_t budget = detail::reclaim_visits;
    return own_reclaimed(arenas_->reclaim(budget));
  }

  // One search for an abandoned segment that serves a request (see
  // reclaim_segment below): the visits it has left, and the segments it
  // took and found of no use, held until end_reclaim_search.
  struct ReclaimSearch {
    std::size_t budget = detail::reclaim_visits;
    unsigned step = 0;             // see reclaim_segment
    Segment* unsuitable = nullptr; // linked through Segment::next
  };

  // Takes ownership of one abandoned segment with pages of `kind` (large:
  // that can serve a run of `slices`), or nullptr. Those of other kinds wait for a thread that
  // allocates their kind: taken in here they would only add to our memory (their free pages cannot
  // serve this kind) while we claim a new segment all the same, and the thread that could use them
  // claims one too (mstress: the first thread of a round took in nearly all, the other claimed
  // fresh).
  //
  // Large ones that cannot serve the request (without a run as long and
  // without a page whose blocks all came back) are not taken in but set
  // aside, and abandoned again at the end of the search, tagged as found of no use
  // (one tag for all kinds: a search passes over the others'): a
  // thread that took them in walked all their pages and abandoned them
  // again at its exit, and with the live blocks of many exited threads
  // every new thread took in all of them (1 MiB blocks left by 4000
  // threads: 14 s, the time growing with the cube). A search looks at one
  // of those found of no use first (blocks may have come back to it since;
  // search after search looks at each in turn), then at those not looked
  // at since their abandon, then at the rest of the others: at most
  // reclaim_visits in all.
  Segment* reclaim_segment(PageKind kind, std::uint32_t slices, ReclaimSearch& search) noexcept {
    if (reclaim_ == Reclaim::none || arenas_->abandoned_segments() == 0)
      return nullptr;
    std::size_t const fresh = kind_index(kind);
    std::size_t const stale = unsuitable_tag;
    while (search.step < 3 && search.budget != 0) {
      bool const first = search.step == 0;
      std::size_t const allowed = first ? 1 : search.budget;
      std::size_t left = allowed;
      void* mem = arenas_->reclaim(left, search.step == 1 ? fresh : stale);
      search.budget -= allowed - left;
      if (first || mem == nullptr)
        ++search.step;
      if (mem == nullptr)
        continue;
      auto* seg = static_cast<Segment*>(mem);
      if (can_serve(seg, kind, slices))
        return own_reclaimed(seg);
      seg->next = search.unsuitable;
      search.unsuitable = seg;
    }
    return nullptr;
  }

  // Abandons again the segments the search set aside.
  void end_reclaim_search(ReclaimSearch& search) noexcept {
    while (Segment* seg = search.unsuitable) {
      search.unsuitable = seg->next;
      seg->next = nullptr;
      arenas_->abandon(seg->source.arena, seg->source.slot, unsuitable_tag);
    }
  }

  // Whether abandoned segment `seg` (ours to look at: we took its bit)
  // is worth taking in: one of `kind` when that is small or medium; a large
  // one with a free run of `slices` or a page whose blocks have all come
  // back (taking it in frees it).
  static bool can_serve(Segment const* seg, PageKind kind, std::uint32_t slices) noexcept {
    if (seg->kind != kind) // found of no use before, by a thread of another kind
      return false;
    // Small and medium segments are taken in whatever they hold: their pages
    // of other classes serve this heap later, and setting them aside made
    // thread churn claim new segments for good (ferroc.churn's resident set
    // grew by 10 MiB in 20 rounds). Large ones hold few blocks each, and a
    // full one would be walked and given up again by every new thread.
    if (kind != PageKind::large)
      return true;
    if (free_run(seg->free_mask, slices) != 0)
      return true;
    for (std::uint32_t i = 0; i < seg->page_count; ++i) {
      Page const& pg = seg->pages[i];
      if (!pg.in_use)
        continue;
      // relaxed: a hint; frees only add to it, and the owner-to-be reads
      // it again with acquire (adopt_pages).
      std::uintptr_t const tf = pg.xthread_free.load(detail::memory_order_relaxed);
      bool const returned = detail::thread_free_list(tf) != nullptr;
      if (returned && (!detail::thread_free_counted || detail::thread_free_count(tf) >= pg.used))
        return true;
    }
    return false;
  }

  Segment* own_reclaimed(void* mem) noexcept {
    if (mem == nullptr)
      return nullptr;
    auto* seg = static_cast<Segment*>(mem);
    // relaxed: see take_page_from_new_segment.
    seg->xowner.store(this, detail::memory_order_relaxed);
    adopt_segment(seg);
    return seg;
  }

  // Puts every segment up for reclaim; the Heap has left only used pages.
  void abandon_all() noexcept {
    release_empty_segments();
    while (Segment* seg = all_.first) {
      unlink(seg);
      // relaxed: publication to the reclaimer is by abandon()'s release.
      seg->xowner.store(nullptr, detail::memory_order_relaxed);
      // A later Context at our address must not take these pages for its own.
      for (std::uint32_t i = 0; i < seg->page_count; ++i)
        detail::page_set_owner(&seg->pages[i], nullptr);
      arenas_->abandon(seg->source.arena, seg->source.slot, kind_index(seg->kind));
    }
  }

  // ---- the page purge (context_purge.hpp) ----------------------------------

  void decommit_free_pages() noexcept;
  void purge_if_due() noexcept;
  std::int64_t purge_delay_ns() const noexcept;
  void mark_dirty(Segment* seg, std::uint64_t pages) noexcept;
  static void clear_dirty(Segment* seg, std::uint64_t pages) noexcept;
  void decommit_all_free_pages() noexcept;
  void decommit_pages(Segment* seg, std::uint64_t pages) noexcept;

  // ---- the segment lists ---------------------------------------------------

  void adopt_segment(Segment* seg) noexcept {
    seg->prev = nullptr;
    seg->next = all_.first;
    if (all_.first != nullptr)
      all_.first->prev = seg;
    all_.first = seg;
    seg->in_avail = false;
    if (seg->free_mask != 0)
      avail_push(seg);
    // A reclaimed segment may bring free pages still to purge.
    if ((seg->dirty_mask | seg->dirty_old_mask) != 0)
      mark_dirty(seg, 0);
    // The pages in use of a reclaimed segment become ours (a fresh one has none).
    for (std::uint32_t i = 0; i < seg->page_count; ++i) {
      if (seg->pages[i].in_use)
        detail::page_set_owner(&seg->pages[i], this);
    }
    if constexpr (detail::stats_enabled) {
      counters_.segments.add(1);
      counters_.pages.add(seg->used_pages);
    }
  }

  void unlink(Segment* seg) noexcept {
    if constexpr (detail::stats_enabled) {
      counters_.segments.sub(1);
      counters_.pages.sub(seg->used_pages);
    }
    if (seg->in_avail)
      avail_remove(seg);
    if (seg->prev != nullptr)
      seg->prev->next = seg->next;
    else
      all_.first = seg->next;
    if (seg->next != nullptr)
      seg->next->prev = seg->prev;
    seg->next = seg->prev = nullptr;
  }

  void avail_push(Segment* seg) noexcept {
    SegmentList& list = avail_[kind_index(seg->kind)];
    seg->avail_prev = nullptr;
    seg->avail_next = list.first;
    if (list.first != nullptr)
      list.first->avail_prev = seg;
    list.first = seg;
    seg->in_avail = true;
  }

  void avail_remove(Segment* seg) noexcept {
    SegmentList& list = avail_[kind_index(seg->kind)];
    if (seg->avail_prev != nullptr)
      seg->avail_prev->avail_next = seg->avail_next;
    else
      list.first = seg->avail_next;
    if (seg->avail_next != nullptr)
      seg->avail_next->avail_prev = seg->avail_prev;
    seg->avail_next = seg->avail_prev = nullptr;
    seg->in_avail = false;
  }

  Arenas<B>* arenas_;
  SegmentList all_;
  SegmentList avail_[3]; // small, medium, large
  SegmentList empty_;    // linked through Segment::next
  std::size_t empty_count_ = 0;
  std::int64_t page_purge_at_ = 0; // when dirty free pages are due (monotonic ns), 0: none
  Reclaim reclaim_;
  detail::DelayedFreeList delayed_;
  // Statistics only (nested, so that code for the other case is not checked).
  struct Counters : detail::ContextCounters {};
  [[no_unique_address]] std::conditional_t<detail::stats_enabled, Counters, detail::Empty>
      counters_;
  // Secure mode's generator (heap/secure_random.hpp), used by its Heap
  // too: one per Heap. Nothing in other builds.
  [[no_unique_address]] detail::SecureRandom random_;
};

/// Deduces `Context<B>` from the Arenas: `ferroc::Context cx{arenas};`.
template <BaseAlloc B> Context(Arenas<B>&) -> Context<B>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc

#include "ferroc/heap/context_purge.hpp"
