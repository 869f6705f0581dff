// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Heap: the free path. A block goes back to its page in one of three ways:
//
// - local: the owning heap's thread pushes it on the page's `local_free`, no
//   atomics (inline in Heap::deallocate_block; free_block_local here);
// - remote: any other thread (or one with no Heap: Arenas::deallocate) pushes
//   it on the page's `xthread_free` with one CAS (detail::free_block_remote);
//   the owner takes that list whole when the page runs dry or when it
//   collects (collect_page);
// - delayed: the owner does not scan its full pages, so the first remote free
//   to a full page goes onto the owner's delayed-free list instead (one per
//   Context, which outlives moves of the Heap), and the owner, draining it
//   (drain_delayed), puts the page back in its bin.
// A huge block's free releases its segment, from any thread.
//
// The thread_free protocol: the low two bits of `xthread_free` hold the
// page's DelayState (see ferroc/heap/page.hpp), the rest the head of the
// remote list and, on 64-bit targets, its count.
// - no_delayed: the page is in a bin (or its owner knows already): remote
//   frees only push on the list.
// - use_delayed: the page is in the full queue (move_to_full; set_delay_state
//   publishes the xheap written before with release): the next remote free
//   takes delayed_freeing in its CAS, pushes its block on the owner's delayed
//   list and leaves with no_delayed, so the owner is rung once per stay.
// - delayed_freeing: a remote thread is pushing on the owner's list now. The
//   owner waits for it only where the list or the page could go away: before
//   it frees a page whose block it took from the list
//   (wait_for_delayed_freeing), and before never_delayed (set_delay_state).
// - never_delayed: the heap is going away or the page is abandoned: remote
//   frees only push on the list, which the next owner takes (adopt_pages).
// Every atomic operation states its memory order and why, where it is done.
//
// Part of Heap: ferroc/heap/heap.hpp declares these members and includes
// this file at its end; included alone, this file pulls its parent in.

#include "ferroc/detail/os.hpp"
#include "ferroc/heap/heap.hpp"
#include "ferroc/heap/secure_random.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

namespace detail {

template <BaseAlloc B> void free_guarded(Arenas<B>& arenas, Segment* seg) noexcept; // heap_guarded

/// Returns block `b` of page `pg` from a thread that does not own the page
/// (or owns no heap). One CAS in the common case; if the page is full, the
/// block goes to the owner's delayed-free list instead, so the owner learns
/// the page has room again.
inline void free_block_remote(Page* pg, Block* b) noexcept {
  // relaxed: the CAS below re-validates the value.
  std::uintptr_t tf = pg->xthread_free.load(detail::memory_order_relaxed);
  std::uintptr_t next;
  do {
    if ((tf & delay_mask) == use_delayed) {
      next = (tf & ~delay_mask) | delayed_freeing;
    } else {
      set_next(pg, b, thread_free_list(tf));
      // The count bits of tf plus one; the list bits become b.
      std::uintptr_t const count =
          (tf & ~(thread_free_list_mask | delay_mask)) + thread_free_count_one;
      next = reinterpret_cast<std::uintptr_t>(b) | count | (tf & delay_mask);
    }
    // acq_rel: release makes the link and the user's writes visible to the
    // owner that takes the list; acquire pairs with the owner's release when
    // it set use_delayed, so the xheap it wrote before is visible.
  } while (!pg->xthread_free.compare_exchange_weak(tf, next, detail::memory_order_acq_rel,
                                                   detail::memory_order_relaxed));
  if ((tf & delay_mask) != use_delayed)
    return;

  // We hold delayed_freeing: the owner waits for us before it retires the
  // list (abandon), so the list stays alive until we are done.
  // relaxed: ordered by the acquire of the CAS above.
  DelayedFreeList* list = pg->xheap.load(detail::memory_order_relaxed);
  // relaxed: the CAS below re-validates.
  Block* head = list->xhead.load(detail::memory_order_relaxed);
  do {
    // Linked with the key of b's own page: the list crosses pages, and
    // whoever follows it finds b's page from b.
    set_next(pg, b, head);
    // release: the owner's acquire exchange sees the link and the block.
  } while (!list->xhead.compare_exchange_weak(head, b, detail::memory_order_release,
                                              detail::memory_order_relaxed));

  // Leave delayed_freeing; other remote frees may have pushed meanwhile.
  // relaxed: the CAS below re-validates.
  tf = pg->xthread_free.load(detail::memory_order_relaxed);
  // release: an owner that sees no_delayed also sees our push above.
  while (!pg->xthread_free.compare_exchange_weak(tf, (tf & ~delay_mask) | no_delayed,
                                                 detail::memory_order_release,
                                                 detail::memory_order_relaxed)) {
  }
}

// ---- the free checks of release builds (see detail/free_checks.hpp) ---------

/// Whether block `b` is on one of the lists of free blocks of page `pg`: the
/// owner's two and the one other threads push on. Only the owner's thread
/// may ask (the others would race with its pops). A walk stops after as
/// many blocks as the page has carved, so a corrupted list ends it too.
inline bool is_on_free_list(Page const* pg, Block const* b) noexcept {
  auto on = [&](Block const* list) {
    for (std::uint32_t n = 0; list != nullptr && n <= pg->capacity;
         ++n, list = raw_next_of(pg, list))
      if (list == b)
        return true;
    return false;
  };
  // acquire: pairs with the pushers' release; we read their links.
  return on(pg->free) || on(pg->local_free) ||
         on(thread_free_list(pg->xthread_free.load(detail::memory_order_acquire)));
}

/// Checks a free that the fast path did not take (a page in the full queue,
/// of over-aligned blocks or of another heap, a huge block) and marks the
/// block freed. `owner` is the freeing heap's (nullptr: none). Returns false
/// when the free is invalid and FERROC_ON_INVALID_FREE=ignore: then leave
/// `p` alone. A double free into another thread's page goes unseen: only
/// the owner may walk the page's lists to confirm it.
inline bool check_free(Segment* seg, Page* pg, void* p, void const* owner) noexcept {
  if (seg->cookie != segment_cookie(seg)) // a freed huge block, or a stray pointer
    return invalid_free(Fault::unused_memory, p), false;
  if (seg->kind == PageKind::huge) {
    if (p != pg->area)
      return invalid_free(Fault::interior_pointer, p), false;
    // A guarded block keeps its header while it waits in quarantine.
    if (!pg->in_use)
      return invalid_free(Fault::double_free, p), false;
    // Released with its cookie cleared: a second free stops above.
    if (!seg->guarded)
      seg->cookie = 0;
    return true;
  }
  if (!pg->in_use)
    return invalid_free(Fault::free_page, p), false;
  // The blocks that fit the area, not those carved so far: another thread
  // may be carving more (capacity is the owner's alone).
  auto const* bytes = static_cast<std::byte const*>(p);
  if (bytes < pg->area || bytes >= pg->area + std::size_t{pg->reserved} * pg->block_size)
    return invalid_free(Fault::foreign_pointer, p), false;
  // Over-aligned allocations hand out interior pointers of small and
  // medium pages only (Heap::allocate_aligned).
  Block* b = block_start(pg, p);
  if (reinterpret_cast<std::byte*>(b) != bytes &&
      (!page_has_aligned_blocks(pg) || pg->block_size > medium_block_max))
    return invalid_free(Fault::interior_pointer, p), false;
  std::uintptr_t const key = double_free_key();
  if (holds_free_key(b, key) && owner != nullptr && page_owner(pg) == owner &&
      is_on_free_list(pg, b))
    return invalid_free(Fault::double_free, p), false;
  if constexpr (canaries) {
    check_canaries(pg, b);
    if (owner != nullptr && page_owner(pg) == owner)
      check_neighbours(pg, b, key);
    zero_freed_block(pg, b);
  }
  set_free_key(b, key);
  return true;
}

/// Whether a sized free of `p` (a pointer in our segments) states a size
/// and alignment that fit its block (see sized_free_fits). A pointer that
/// is not a live block's answers true: the free that follows reports it.
inline bool sized_free_fits_block(void const* p, std::size_t size, std::size_t align) noexcept {
  Segment* seg = segment_of(p);
  if (seg->cookie != segment_cookie(seg))
    return true;
  Page* pg = seg->page_of(p);
  if (seg->kind == PageKind::huge)
    return sized_free_fits(size, pg->block_size, align > min_align);
  if (!pg->in_use || static_cast<std::byte const*>(p) < pg->area)
    return true;
  auto const* start = reinterpret_cast<std::byte const*>(block_start(pg, p));
  std::size_t const usable =
      pg->block_size - static_cast<std::size_t>(static_cast<std::byte const*>(p) - start);
  return sized_free_fits(size, usable, align > min_align || page_has_aligned_blocks(pg));
}

/// Whether a sized free of `p` must be reported: `p` is in our segments and
/// `size` does not fit its block.
inline bool sized_free_is_wrong(void const* p, std::size_t size, std::size_t align) noexcept {
  return p != nullptr && segment_map_contains(p) && !sized_free_fits_block(p, size, align);
}

} // namespace detail

template <BaseAlloc B> FERROC_NOINLINE bool Heap<B>::deallocate_if_ours_slow(void* p) noexcept {
  if (!detail::segment_map_contains(p))
    return false;
  if constexpr (detail::free_checks) {
    if ((reinterpret_cast<std::uintptr_t>(p) & (detail::min_align - 1)) != 0) {
      detail::invalid_free(detail::Fault::interior_pointer, p);
      return true; // ignored: left alone
    }
  }
  // Remembered only when it is a segment of our own Arenas that is not a
  // huge block's: those stay mapped as long as the Arenas (which outlives
  // this heap) exists, so the answer "ours" cannot go stale.
  Segment const* seg = detail::segment_of(p);
  if (!detached() && seg->kind != detail::PageKind::huge && seg->arenas == &cx_->arenas())
    known_segment_ = known_segment_tag(p);
  deallocate_nonnull(p);
  return true;
}

template <BaseAlloc B> FERROC_NOINLINE void Heap<B>::deallocate_any_slow(void* p) noexcept {
  if (!deallocate_if_ours_slow(p) && p != nullptr)
    detail::free_of_foreign(p);
}

template <BaseAlloc B>
FERROC_NOINLINE void Heap<B>::deallocate_slow(Segment* seg, Page* pg, void* p) noexcept {
  if constexpr (detail::free_checks) {
    if (!detail::check_free(seg, pg, p, owner_))
      return;
  }
  if (seg->kind == detail::PageKind::huge) {
    if (seg->guarded)
      return detail::free_guarded(detail::arenas_of<B>(seg), seg);
    detail::release_segment_memory(detail::arenas_of<B>(seg), seg);
    return;
  }
  Block* b =
      detail::page_has_aligned_blocks(pg) ? detail::block_start(pg, p) : static_cast<Block*>(p);
  if (detail::page_owner(pg) == owner_) {
    free_block_local(pg, b);
    return;
  }
  detail::free_block_remote(pg, b);
  // A thread that frees other threads' blocks may allocate little itself
  // meanwhile: its heap, too, looks at all its pages now and then. Over a
  // base that decommits, at most once a period: a walk of thousands of
  // pages at every thousand frees would cost more than the frees. (A
  // detached heap may be shared by threads that have none yet: it writes
  // nothing.)
  if (!detached() && ++slow_calls_ % detail::heap_collect_interval == 0 &&
      (!DecommitBase<B> || collect_is_due()))
    collect(false);
}

// The fast path met a block that holds the double-free key: a double free
// if the block is on a free list of its page, else data that happens to
// hold the key, and the free goes on.
template <BaseAlloc B> FERROC_NOINLINE void Heap<B>::deallocate_keyed(Page* pg, Block* b) noexcept {
  if (detail::is_on_free_list(pg, b))
    return detail::invalid_free(detail::Fault::double_free, b);
  if constexpr (detail::canaries) {
    detail::check_canaries(pg, b);
    detail::check_neighbours(pg, b, free_key_);
    detail::zero_freed_block(pg, b);
  }
  free_block_local(pg, b); // the key is in place already
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void Heap<B>::free_block_local(Page* pg, Block* b) noexcept {
  detail::set_next(pg, b, pg->local_free);
  pg->local_free = b;
  count_frees(pg, 1);
  if (detail::page_is_in_full(pg))
    unfull(pg);
  if (--pg->used == 0)
    retire_page(pg);
}

// Moves the blocks other threads freed to local_free, and local_free to
// an empty free list.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::collect_page(Page* pg) noexcept {
  // relaxed: the CAS below re-validates.
  std::uintptr_t tf = pg->xthread_free.load(detail::memory_order_relaxed);
  // Secure mode: a page that ran dry with room to extend hands out fresh
  // blocks before its freed ones half the time (heap/secure_random.hpp).
  // Tested first that the page can extend: the empty page of a detached
  // heap, which has no Context, cannot.
  if constexpr (detail::secure) {
    if (pg->free == nullptr && pg->capacity < pg->reserved &&
        (pg->local_free != nullptr || detail::thread_free_list(tf) != nullptr) &&
        detail::extend_before_reuse(cx_->random_))
      extend_page(pg);
  }
  if (detail::thread_free_list(tf) != nullptr) {
    // acquire: pairs with the pushers' release; we read their links.
    while (!pg->xthread_free.compare_exchange_weak(
        tf, tf & detail::delay_mask, detail::memory_order_acquire, detail::memory_order_relaxed)) {
    }
    take_remote_list(pg, tf);
  }
  if (pg->free == nullptr && pg->local_free != nullptr) {
    pg->free = pg->local_free;
    pg->local_free = nullptr;
    pg->free_is_zero = false;
  }
}

// Puts the blocks other threads freed to `pg` (the list and count of
// `tf`, a value taken out of xthread_free) on the page's own lists.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void Heap<B>::take_remote_list(Page* pg, std::uintptr_t tf) noexcept {
  Block* const list = detail::thread_free_list(tf);
  if (list == nullptr)
    return;
  if constexpr (detail::thread_free_counted) {
    // The usual case: the page at hand ran dry. No walk: our own frees
    // go first (still in cache, most likely), the others' after them.
    if (pg->free == nullptr) {
      std::uint32_t const n = detail::thread_free_count(tf);
      if (pg->local_free != nullptr) {
        pg->free = pg->local_free;
        pg->local_free = list;
      } else {
        pg->free = list;
      }
      pg->free_is_zero = false;
      pg->used -= n;
      count_frees(pg, n);
      return;
    }
  }
  append_to_local_free(pg, list);
}

// Walks the (non-empty) list to its tail and count: a page that still
// has free blocks, or a target that does not count its lists.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void Heap<B>::append_to_local_free(Page* pg, Block* list) noexcept {
  std::uint32_t count = 1;
  Block* tail = list;
  for (Block* next; (next = detail::next_of(pg, tail)) != nullptr; tail = next)
    ++count;
  detail::set_next(pg, tail, pg->local_free);
  pg->local_free = list;
  pg->used -= count;
  count_frees(pg, count);
}

// Changes the delay state, keeping the list bits. A remote thread in
// delayed_freeing is ringing our delayed list for this page right now:
// the page will come back through that list, so for use_delayed and
// no_delayed there is nothing to wait for. Only never_delayed (the heap
// goes away, and its list with it) must wait until the push is done.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void Heap<B>::set_delay_state(Page* pg, detail::DelayState state) noexcept {
  // relaxed: the CAS below re-validates.
  std::uintptr_t tf = pg->xthread_free.load(detail::memory_order_relaxed);
  for (unsigned spins = 0;; ++spins) {
    std::uintptr_t const current = tf & detail::delay_mask;
    if (current == state)
      return;
    if (current == detail::delayed_freeing) {
      if (state != detail::never_delayed)
        return;
      back_off(spins);
      tf = pg->xthread_free.load(detail::memory_order_relaxed); // relaxed: re-validated
      continue;
    }
    // acq_rel: release publishes xheap (written before) to remote threads
    // that see use_delayed; acquire makes a finished remote's push onto
    // our delayed list visible before we drain it (never_delayed).
    if (pg->xthread_free.compare_exchange_weak(tf, (tf & ~detail::delay_mask) | state,
                                               detail::memory_order_acq_rel,
                                               detail::memory_order_relaxed))
      return;
  }
}

// Frees the blocks other threads returned to full pages of ours.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::drain_delayed() noexcept {
  detail::DelayedFreeList& list = cx_->delayed_;
  // relaxed: a cheap test; the exchange below orders.
  if (list.xhead.load(detail::memory_order_relaxed) == nullptr)
    return;
  // acquire: pairs with the pushers' release.
  Block* b = list.xhead.exchange(nullptr, detail::memory_order_acquire);
  while (b != nullptr) {
    Block* next = detail::delayed_next_of(b);
    Page* pg = detail::segment_of(b)->page_of(b);
    wait_for_delayed_freeing(pg);
    // A remote thread rang for this page: it is freeing blocks of it now
    // (a batch, most often), which keep coming on the page's remote list.
    // At the front, the next search collects them in one go; at the back,
    // the front page would extend into fresh memory first (xmalloc: 17 %
    // more peak RSS at 16 threads).
    if (detail::page_is_in_full(pg))
      unfull(pg, true);
    free_block_local(pg, b);
    b = next;
  }
}

// A remote thread that rang our delayed list for `pg` still writes the
// page's delay state after its push. The block we took from the list may
// be the page's last (always so for a large page), and the page, even
// its segment, may then be freed and used again: first let that write
// land. It is a few instructions away, unless its thread lost the CPU.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void Heap<B>::wait_for_delayed_freeing(Page* pg) noexcept {
  // acquire: pairs with the release of the remote's last CAS; its write
  // happens before we free or reuse the page.
  for (unsigned spins = 0; (pg->xthread_free.load(detail::memory_order_acquire) &
                            detail::delay_mask) == detail::delayed_freeing;
       ++spins)
    back_off(spins);
}

// Waiting for a remote thread's few instructions: spin a while, then let
// it have the CPU (it may have lost it, above all when oversubscribed).
template <BaseAlloc B> FERROC_MEMBER_INLINE void Heap<B>::back_off(unsigned spins) noexcept {
  if (spins < 64)
    FERROC_SPIN_PAUSE();
  else
    detail::yield_thread();
}

/// Frees a block from a thread without a Heap of these Arenas: always the
/// cross-thread path (or the release of a huge block's segment).
template <BaseAlloc B> void Arenas<B>::deallocate(void* p) noexcept {
  if (p == nullptr)
    return;
  if constexpr (detail::instrumented)
    detail::instrumented_free(p, this);
  detail::Segment* seg = detail::segment_of(p);
  detail::Page* pg = seg->page_of(p);
  if constexpr (detail::free_checks) {
    if (!detail::check_free(seg, pg, p, nullptr))
      return;
  }
  if (seg->kind == detail::PageKind::huge) {
    if (seg->guarded)
      return detail::free_guarded(*this, seg);
    detail::release_segment_memory(*this, seg);
    return;
  }
  detail::Block* b = detail::page_has_aligned_blocks(pg) ? detail::block_start(pg, p)
                                                         : static_cast<detail::Block*>(p);
  detail::free_block_remote(pg, b);
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
