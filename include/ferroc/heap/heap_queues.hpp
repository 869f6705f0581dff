// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Heap: its page queues. Each size class has a bin, a queue of pages with
// free blocks or room to extend, whose first page the direct array points
// at for small sizes (so the fast path finds it in one load); pages with
// nothing left wait in the full queue, where a free of another thread rings
// the heap (heap_free.hpp) instead of the heap scanning them. Here: the walk
// over all queues, finding and setting up a page for a class, moving pages
// between bin and full queue, and giving empty pages back to their segment.
//
// These are Heap members rather than a type of their own: the direct array
// sits first in Heap, right before the owner the free fast path compares
// with, and the bins after the cold members; a separate type would change
// the layout the fast paths load from.
//
// Part of Heap: ferroc/heap/heap.hpp declares these members and includes
// this file at its end; included alone, this file pulls its parent in.

#include "ferroc/heap/guard_pages.hpp"
#include "ferroc/heap/heap.hpp"
#include "ferroc/heap/secure_random.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

// Calls f on every page in our queues; f may unlink the page.
template <BaseAlloc B>
template <class F>
FERROC_MEMBER_INLINE void Heap<B>::for_each_page(F f) noexcept {
  for (std::size_t c = 1; c < detail::class_count; ++c) {
    for (Page* pg = bins_[c].first; pg != nullptr;) {
      Page* next = pg->next;
      f(pg);
      pg = next;
    }
  }
  for (Page* pg = full_.first; pg != nullptr;) {
    Page* next = pg->next;
    f(pg);
    pg = next;
  }
}

// A page of class `c` with a free block, or nullptr when out of memory.
template <BaseAlloc B>
FERROC_MEMBER_INLINE detail::Page* Heap<B>::find_page(std::size_t c) noexcept {
  std::size_t const block_size = detail::class_size(c);
  detail::PageKind const kind = detail::page_kind_of_block(block_size);
  if (kind == detail::PageKind::large)
    return find_large_page(c);
  if (Page* pg = search_bin(c))
    return pg;
  Page* pg = cx_->take_free_page(kind, c);
  // Before claiming a new segment, take over one of a dead heap's: it
  // may even bring a page of this class with free blocks.
  if (pg == nullptr) {
    typename Context<B>::ReclaimSearch search;
    while (pg == nullptr) {
      Segment* seg = cx_->reclaim_segment(kind, 0, search);
      if (seg == nullptr)
        break;
      adopt_pages(seg);
      if (Page* found = search_bin(c)) {
        cx_->end_reclaim_search(search);
        return found;
      }
      pg = cx_->take_free_page(kind, c);
    }
    cx_->end_reclaim_search(search);
  }
  if (pg == nullptr)
    pg = cx_->take_page_from_new_segment(kind, block_size);
  if (pg == nullptr)
    return nullptr;
  init_page(pg, c);
  bin_push_front(pg);
  return pg;
}

// A large page holds one block: a fresh run of slices each time, which
// goes straight to the full queue (its one block is about to be handed
// out) and back to its segment when the block is freed. A dead heap's
// segment is taken over first, as for the other kinds.
template <BaseAlloc B>
FERROC_MEMBER_INLINE detail::Page* Heap<B>::find_large_page(std::size_t c) noexcept {
  std::size_t const block_size = detail::class_size(c);
  Page* pg = cx_->take_large_page(block_size);
  if (pg == nullptr) {
    typename Context<B>::ReclaimSearch search;
    std::uint32_t const slices = detail::large_slices(block_size);
    while (pg == nullptr) {
      Segment* seg = cx_->reclaim_segment(detail::PageKind::large, slices, search);
      if (seg == nullptr)
        break;
      adopt_pages(seg);
      pg = cx_->take_large_page(block_size);
    }
    cx_->end_reclaim_search(search);
  }
  if (pg == nullptr)
    pg = cx_->take_page_from_new_segment(detail::PageKind::large, block_size);
  if (pg == nullptr)
    return nullptr;
  init_page(pg, c);
  full_.push_back(pg);
  detail::page_set_flags(pg, detail::page_in_full);
  // relaxed: no other thread holds a block of this page yet; the block's
  // hand-over orders this (and xheap, set by init_page) with its free.
  pg->xthread_free.store(detail::use_delayed, detail::memory_order_relaxed);
  return pg;
}

// A page of class c with a free block or room to extend, or nullptr. The
// usual case stays short: the page at the front got blocks back, or has
// room to extend.
template <BaseAlloc B>
FERROC_MEMBER_INLINE detail::Page* Heap<B>::search_bin(std::size_t c) noexcept {
  Page* pg = bins_[c].first;
  if (pg == nullptr)
    return nullptr;
  collect_page(pg);
  if (pg->free != nullptr || extend_page(pg))
    return pg;
  return search_bin_walk(c);
}

// Walks the bin: the first page with a free block after collecting, or
// room to extend, wins; exhausted pages move to the full queue so later
// searches skip them. At most page_search_max pages, so that one
// allocation never pays for a long bin; the pages not reached stay in the
// bin, and the exhausted ones have left it, so the next search gets to
// them.
template <BaseAlloc B>
FERROC_NOINLINE detail::Page* Heap<B>::search_bin_walk(std::size_t c) noexcept {
  std::size_t left = detail::page_search_max;
  for (Page* pg = bins_[c].first; pg != nullptr;) {
    Page* next = pg->next;
    // A page with free blocks of its own (one a page put at the front
    // displaced) is taken as it is: its remote list, taken now, would
    // need a walk to join them (xmalloc: 4 % of the time).
    if (pg->free == nullptr)
      collect_page(pg);
    if (pg->free != nullptr || extend_page(pg) || !move_to_full(pg)) {
      if (pg != bins_[c].first) {
        bin_remove(pg);
        bin_push_front(pg);
      }
      return pg;
    }
    if (--left == 0)
      break;
    pg = next;
  }
  return nullptr;
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void Heap<B>::init_page(Page* pg, std::size_t c) noexcept {
  pg->block_size = detail::class_size(c);
  pg->reserved = static_cast<std::uint32_t>(pg->area_size / pg->block_size);
  detail::end_blocks_at_guard<detail::segment_guard<B>>(pg);
  pg->capacity = 0;
  pg->free = nullptr;
  pg->local_free = nullptr;
  pg->used = 0;
  // With free checks, frees of large blocks take the slow path, which
  // checks that the pointer is the block's start: a free of a pointer into
  // a large block would otherwise go unseen, and the cost is nothing next
  // to the use of a block of 128 KiB or more.
  bool const check_large = detail::free_checks && pg->block_size > detail::medium_block_max;
  detail::page_set_flags(pg, check_large ? detail::page_has_aligned : 0);
  pg->class_index = static_cast<std::uint8_t>(c);
  pg->zero_init = pg->mem_is_zero;
  pg->mem_is_zero = false;
  pg->free_is_zero = false;
  // relaxed: remote threads read it only after seeing use_delayed, which
  // we set later with release.
  pg->xheap.store(&cx_->delayed_, detail::memory_order_relaxed);
  // relaxed: no other thread holds a block of a page that is being set up.
  pg->xthread_free.store(detail::no_delayed, detail::memory_order_relaxed);
  extend_page(pg);
}

// Threads about extend_bytes of never-used blocks onto the empty free
// list, so a fresh page touches memory a little at a time.
template <BaseAlloc B> FERROC_MEMBER_INLINE bool Heap<B>::extend_page(Page* pg) noexcept {
  if (pg->capacity >= pg->reserved)
    return false;
  std::size_t const bs = pg->block_size;
  std::size_t n = detail::max_of(detail::extend_bytes / bs, detail::extend_min_blocks);
  n = detail::min_of<std::size_t>(n, pg->reserved - pg->capacity);
  std::byte* start = pg->area + pg->capacity * bs;
  // Tracking: blocks never handed out are closed to the program too.
  detail::track::forbid(start, n * bs);
  // Secure mode checks that reused blocks read zero: so must fresh ones.
  if (detail::page_has_canaries(pg) && !pg->zero_init)
    std::memset(start, 0, n * bs);
  detail::arm_fresh_blocks(pg, start, n);
  if constexpr (detail::secure) {
    // In a random order: see heap/secure_random.hpp.
    pg->free = detail::link_fresh_blocks_shuffled(pg, start, n, cx_->random_);
  } else {
    for (std::size_t i = 0; i + 1 < n; ++i)
      detail::set_next(pg, reinterpret_cast<Block*>(start + i * bs),
                       reinterpret_cast<Block*>(start + (i + 1) * bs));
    detail::set_next(pg, reinterpret_cast<Block*>(start + (n - 1) * bs), nullptr);
    pg->free = reinterpret_cast<Block*>(start);
  }
  pg->free_is_zero = pg->zero_init;
  pg->capacity += static_cast<std::uint32_t>(n);
  return true;
}

// Returns false (and leaves the page in its bin) if remote frees arrived
// while we switched it over.
template <BaseAlloc B> FERROC_MEMBER_INLINE bool Heap<B>::move_to_full(Page* pg) noexcept {
  bin_remove(pg);
  full_.push_back(pg);
  detail::page_set_flags(pg, detail::page_flags(pg) | detail::page_in_full);
  set_delay_state(pg, detail::use_delayed);
  // Frees that came in before use_delayed was visible went to
  // xthread_free and rang no bell: look once more.
  collect_page(pg);
  if (pg->free == nullptr)
    return true;
  unfull(pg);
  return false;
}

// By default the page goes to the back of its bin: after a free of our
// own it has just that one free block, and at the front it would displace
// the page the fast path is using, run dry on the next allocation and go
// back to full, a slow call and two CAS per block. At the back it gathers
// more frees before a search reaches it. `to_front` is for a page another
// thread is freeing into (see drain_delayed).
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::unfull(Page* pg, bool to_front) noexcept {
  full_.remove(pg);
  detail::page_set_flags(pg, detail::page_flags(pg) & ~unsigned{detail::page_in_full});
  if (to_front)
    bin_push_front(pg);
  else
    bin_push_back(pg);
  set_delay_state(pg, detail::no_delayed);
}

// An empty page stays while it is the only one of its class, so a
// program that allocates and frees one block at a time does not take and
// give back a page on every call; otherwise it goes back to its segment.
//
// A large page (one block) goes back at once: its slices serve the next
// large block of any size.
template <BaseAlloc B> FERROC_NOINLINE void Heap<B>::retire_page(Page* pg) noexcept {
  detail::PageQueue const& q = bins_[pg->class_index];
  if (q.first == pg && pg->next == nullptr && pg->block_size <= detail::medium_block_max)
    return;
  detail::check_freed_page(pg);
  free_page(pg);
}

template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::free_page(Page* pg) noexcept {
  if (detail::page_is_in_full(pg))
    full_.remove(pg);
  else
    bin_remove(pg);
  detail::page_set_flags(pg, 0);
  cx_->free_page(pg);
}

// ---- bins and the direct array ------------------------------------------

template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::bin_push_front(Page* pg) noexcept {
  bins_[pg->class_index].push_front(pg);
  update_direct(pg->class_index);
}

template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::bin_push_back(Page* pg) noexcept {
  bins_[pg->class_index].push_back(pg);
  update_direct(pg->class_index);
}

template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::bin_remove(Page* pg) noexcept {
  bins_[pg->class_index].remove(pg);
  update_direct(pg->class_index);
}

// Points the direct slots of class c at the first page of its bin.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::update_direct(std::size_t c) noexcept {
  std::size_t const size = detail::class_size(c);
  if (size > detail::direct_size_max)
    return;
  Page* first = bins_[c].first != nullptr ? bins_[c].first : &detail::empty_page;
  // With free checks, size 0 keeps the empty page: the C API's malloc(0)
  // then takes its slow path, which hands out a zero-size block.
  std::size_t const lo =
      c == 1 ? (detail::free_checks ? 1 : 0) : detail::direct_index(detail::class_size(c - 1)) + 1;
  for (std::size_t i = lo; i <= detail::direct_index(size); ++i)
    direct_[i] = first;
}

// ---- handing the queues over (a move) --------------------------------------

// The direct array and the bins of `other`, which it hands over.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::take_queues(Heap const& other) noexcept {
  for (std::size_t i = 0; i < detail::direct_count; ++i)
    direct_[i] = other.direct_[i];
  for (std::size_t i = 0; i < detail::class_count; ++i)
    bins_[i] = other.bins_[i];
}

// A moved-from heap: no owner, no pages; it only frees, cross-thread.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::detach() noexcept {
  owner_ = &detail::detached_owner_tag;
  known_segment_ = 0;
  for (Page*& slot : direct_)
    slot = &detail::empty_page;
  for (detail::PageQueue& bin : bins_)
    bin = detail::PageQueue{};
  full_ = {};
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
