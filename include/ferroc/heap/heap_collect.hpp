// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Heap: collect, visit and destroy (the walks over all of a heap's pages),
// and the hand-over of segments between threads: a heap that goes away
// abandons its segments with live blocks to the Arenas, and a heap that needs
// pages (or makes room when out of memory) reclaims and adopts them.
//
// Part of Heap: ferroc/heap/heap.hpp declares these members and includes
// this file at its end; included alone, this file pulls its parent in.

#include <cstdint>

#include "ferroc/heap/heap.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::collect(bool force) noexcept {
  if (detached())
    return;
  drain_delayed();
  for (std::size_t c = 1; c < detail::class_count; ++c) {
    for (Page* pg = bins_[c].first; pg != nullptr;) {
      Page* next = pg->next;
      if (force || !remote_frees_leave_used(pg)) {
        collect_page(pg);
        if (pg->used == 0) {
          detail::check_freed_page(pg);
          free_page(pg);
        }
      }
      pg = next;
    }
  }
  for (Page* pg = full_.first; pg != nullptr;) {
    Page* next = pg->next;
    collect_page(pg);
    if (pg->free != nullptr)
      unfull(pg);
    if (pg->used == 0) {
      detail::check_freed_page(pg);
      free_page(pg);
    }
    pg = next;
  }
  if (force) {
    reclaim_abandoned();
    cx_->decommit_free_pages();
  } else {
    cx_->purge_if_due();
  }
  if constexpr (DecommitBase<B>)
    collect_at_ = detail::monotonic_ns() + std::int64_t{detail::heap_collect_period_ms} * 1'000'000;
}

template <BaseAlloc B>
template <class F>
FERROC_MEMBER_INLINE void Heap<B>::visit(F&& fn) noexcept(noexcept(fn(nullptr, std::size_t{}))) {
  if (detached())
    return;
  drain_delayed();
  for_each_page([&](Page* pg) {
    collect_page(pg);
    visit_page(pg, fn);
  });
}

template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::destroy() noexcept {
  if (detached())
    return;
  // Blocks other threads returned to full pages go back to their pages
  // first, so that the pages' own lists tell the free blocks.
  drain_delayed();
  if constexpr (detail::track::enabled) {
    void const* pool = &cx_->arenas();
    visit([pool](void* p, std::size_t size) { detail::track::freed(pool, p, size); });
  }
  for_each_page([this](Page* pg) {
    // acquire: pairs with the remote pushers' release; their writes to
    // the blocks are done before the page is used again.
    pg->xthread_free.exchange(detail::no_delayed, detail::memory_order_acquire);
    count_frees(pg, pg->used);
    pg->local_free = nullptr;
    pg->free = nullptr;
    pg->used = 0;
    free_page(pg);
  });
}

// Reports the live blocks of one page: those carved so far and on
// neither of its free lists (its remote list was just collected).
template <BaseAlloc B>
template <class F>
FERROC_MEMBER_INLINE void Heap<B>::visit_page(Page* pg, F& fn) {
  constexpr std::size_t max_blocks =
      (std::size_t{1} << detail::small_page_shift) / detail::min_align;
  // A bit per block (std::bitset would cost every file that includes
  // this header the parsing of <string>).
  constexpr std::size_t word_bits = 64;
  static_assert(max_blocks % word_bits == 0);
  std::uint64_t is_free[max_blocks / word_bits] = {};
  auto mark = [&](Block* b) {
    for (; b != nullptr; b = detail::next_of(pg, b)) {
      auto const i =
          static_cast<std::size_t>(reinterpret_cast<std::byte*>(b) - pg->area) / pg->block_size;
      is_free[i / word_bits] |= std::uint64_t{1} << (i % word_bits);
    }
  };
  mark(pg->free);
  mark(pg->local_free);
  for (std::size_t i = 0; i < pg->capacity; ++i) {
    if ((is_free[i / word_bits] >> (i % word_bits)) & 1)
      continue;
    std::byte* block = pg->area + i * pg->block_size;
    if constexpr (detail::checked) {
      // The program's pointer and size, from the trailer.
      detail::Trailer const* t = detail::trailer_of(pg, block);
      detail::track::allow(t, detail::trailer_size);
      void* p = block + t->offset;
      std::size_t const size = pg->block_size - detail::trailer_size - t->slack - t->offset;
      detail::track::forbid(t, detail::trailer_size);
      fn(p, size);
    } else if (detail::page_has_canaries(pg)) {
      // Secure mode: the bytes up to the canary, as usable_size tells.
      fn(static_cast<void*>(block), detail::canary_offset(pg, block));
    } else {
      fn(static_cast<void*>(block), pg->block_size);
    }
  }
}

// Whether the blocks other threads freed to `pg` so far leave some of its
// blocks in use while it still has free blocks to hand out. Then a
// periodic collect leaves them on the page's remote list: taken once the
// page runs dry, they need no walk (see take_remote_list), and the look
// at every page would otherwise walk the lists of the pages in use, each
// block a cache miss (rptest, 16 threads: 5 % of the time).
template <BaseAlloc B>
FERROC_MEMBER_INLINE bool Heap<B>::remote_frees_leave_used(Page const* pg) noexcept {
  if constexpr (detail::thread_free_counted) {
    if (pg->free == nullptr)
      return false;
    // relaxed: a count a moment old only puts off a page's free to the
    // next collect.
    std::uintptr_t const tf = pg->xthread_free.load(detail::memory_order_relaxed);
    return detail::thread_free_count(tf) < pg->used;
  } else {
    (void)pg;
    return false;
  }
}

// Over a base that decommits: whether heap_collect_period_ms have passed
// since the heap last looked at all its pages (see allocate_slow).
template <BaseAlloc B> FERROC_MEMBER_INLINE bool Heap<B>::collect_is_due() const noexcept {
  if constexpr (DecommitBase<B>)
    return detail::monotonic_ns() >= collect_at_;
  else
    return false;
}

// Out of arena slots: every segment this heap can empty goes back to the
// arenas (blocks other threads freed come back, empty pages leave their
// segments, dead heaps' segments are taken in, the empty segments kept
// for reuse are released), so that a claim may find room. What
// collect(true) does besides, decommitting free pages and released
// slots, makes no room: the slots stay taken or free as they were, and
// the base gets no address space back (arenas are never unmapped). It
// would only make those pages fault in again at the next allocation.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::make_room() noexcept {
  collect(false); // frees every page that its blocks given back leave empty
  reclaim_abandoned();
  cx_->release_empty_segments();
}

// ---- abandon and reclaim ---------------------------------------------

// Takes in every segment that dead heaps abandoned.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::reclaim_abandoned() noexcept {
  while (Segment* seg = cx_->reclaim_segment())
    adopt_pages(seg);
}

// Takes in the pages of the segment the Context just reclaimed: returns
// what other threads freed meanwhile and queues the pages in our bins.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::adopt_pages(Segment* seg) noexcept {
  for (std::uint32_t i = 0; i < seg->page_count; ++i) {
    Page* pg = &seg->pages[i];
    if (!pg->in_use)
      continue;
    // relaxed: read by remote threads only after use_delayed (release).
    pg->xheap.store(&cx_->delayed_, detail::memory_order_relaxed);
    // acquire: pairs with the pushers' release; we read their links.
    std::uintptr_t const tf =
        pg->xthread_free.exchange(detail::no_delayed, detail::memory_order_acquire);
    take_remote_list(pg, tf);
    if (pg->free == nullptr && pg->local_free != nullptr) {
      pg->free = pg->local_free;
      pg->local_free = nullptr;
      pg->free_is_zero = false;
    }
    detail::page_set_flags(pg, detail::page_flags(pg) & ~unsigned{detail::page_in_full});
    if (pg->used == 0) {
      if (cx_->free_page(pg))
        return; // that was the segment's last page
    } else {
      bin_push_back(pg);
      // A large page's one block is in use: the page waits in the full
      // queue (see find_large_page), where its free rings our list.
      if (pg->block_size > detail::medium_block_max)
        move_to_full(pg);
    }
  }
}

// Hands every segment with live blocks to the Arenas, frees the rest.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::abandon() noexcept {
  if (detached())
    return;
  drain_delayed();
  // From here on remote frees never ring our delayed list...
  for_each_page([](Page* pg) { set_delay_state(pg, detail::never_delayed); });
  // ... and those that rang it before are done: take their blocks.
  detail::DelayedFreeList& list = cx_->delayed_;
  // acquire: pairs with the pushers' release.
  for (Block* b = list.xhead.exchange(nullptr, detail::memory_order_acquire); b != nullptr;) {
    Block* next = detail::delayed_next_of(b);
    Page* pg = detail::segment_of(b)->page_of(b);
    detail::set_next(pg, b, pg->local_free);
    pg->local_free = b;
    --pg->used;
    count_frees(pg, 1);
    b = next;
  }
  for_each_page([this](Page* pg) {
    // acquire: pairs with the pushers' release.
    std::uintptr_t const tf =
        pg->xthread_free.exchange(detail::never_delayed, detail::memory_order_acquire);
    take_remote_list(pg, tf);
    pg->next = pg->prev = nullptr;
    detail::page_set_flags(pg, detail::page_flags(pg) & ~unsigned{detail::page_in_full});
    if (pg->used == 0) {
      detail::page_set_flags(pg, 0);
      cx_->free_page(pg);
    } else {
      // relaxed: no remote thread reads it in never_delayed.
      pg->xheap.store(nullptr, detail::memory_order_relaxed);
    }
  });
  cx_->abandon_all();
  detach();
}

template <BaseAlloc B> FERROC_MEMBER_INLINE Stats Heap<B>::stats() const noexcept {
  Stats s;
  if constexpr (detail::stats_enabled) {
    if (detached())
      return s;
    detail::ContextCounters const& c = cx_->counters();
    for (std::size_t k = 1; k < detail::class_count; ++k)
      s.classes[k] = {detail::class_size(k), c.allocs[k].get(), c.frees[k].get()};
    s.pages = {c.pages.current(), c.pages.peak()};
    s.segments = {c.segments.current(), c.segments.peak()};
    s.heaps = 1;
    s.total_up();
  }
  return s;
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
