// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Heap: the allocation slow paths, where the fast path sends a request its
// page cannot serve at once (the page ran dry, a size past the direct array,
// an over-alignment, a first use), and the instrumented path that checked mode
// and memory-checker tracking take instead of the fast path. Kept apart from
// the class so that its fast paths read on one screen.
//
// Part of Heap: ferroc/heap/heap.hpp declares these members and includes
// this file at its end; included alone, this file pulls its parent in.

#include "ferroc/heap/heap.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

// ---- the instrumented path (checked mode, memory-checker tracking) ------

template <BaseAlloc B>
FERROC_NOINLINE void* Heap<B>::allocate_instrumented(std::size_t size, std::size_t align,
                                                     bool zero) noexcept {
  if (FERROC_UNLIKELY(detached())) // the fallback instruments on its own
    return fallback_ != nullptr ? fallback_(size, align, zero) : nullptr;
  if (size > detail::max_instrumented_size)
    return nullptr;
  std::size_t const request = detail::instrumented_request(size);
  // Zeroed here rather than by pop: the block must be open to be written.
  void* p = nullptr;
  if (request <= detail::direct_size_max && align <= detail::min_align) {
    Page* pg = direct_[detail::direct_index(request)];
    if (pg->free != nullptr)
      p = pop(pg, false);
  }
  if (p == nullptr)
    p = allocate_slow(request, align, false);
  if (p == nullptr)
    return nullptr;
  std::size_t const usable = detail::checked ? size : block_usable_size(p);
  detail::track::allocated(&cx_->arenas(), p, usable, zero);
  if (zero)
    std::memset(p, 0, usable);
  if constexpr (detail::checked)
    detail::arm_block(p, size);
  return p;
}

template <BaseAlloc B> FERROC_NOINLINE void Heap<B>::deallocate_instrumented(void* p) noexcept {
  detail::instrumented_free(p, cx_ != nullptr ? &cx_->arenas() : nullptr);
  deallocate_block(p);
}

// What checked mode and tracking note when reallocate keeps a block that
// shrinks by at most half (checked mode's trailer sits right after the
// requested size, so a block never grows in place: usable_size is the size
// asked for).
template <BaseAlloc B>
FERROC_MEMBER_INLINE void Heap<B>::resize_in_place_instrumented(void* p, std::size_t usable,
                                                                std::size_t new_size) noexcept {
  if constexpr (detail::checked) {
    if (new_size == usable)
      return;
  }
  detail::track::resized(detail::segment_of(p)->arenas, p, usable, new_size);
  if constexpr (detail::checked)
    detail::arm_block(p, new_size);
}

// ---- allocation slow paths ------------------------------------------------

// Hands out the first free block of `pg` (which has one).
template <BaseAlloc B>
FERROC_MEMBER_INLINE typename Heap<B>::Block* Heap<B>::pop(Page* pg, bool zero) noexcept {
  Block* b = pg->free;
  pg->free = detail::next_of(pg, b);
  if constexpr (detail::zero_on_free)
    detail::check_reused_block(pg, b);
  if constexpr (detail::free_checks)
    detail::clear_free_key(b);
  ++pg->used;
  count_alloc(pg);
  if (zero) {
    if (pg->free_is_zero)
      b->next = nullptr;
    else
      std::memset(b, 0,
                  pg->block_size - (detail::page_has_canaries(pg) ? sizeof(std::uintptr_t) : 0));
  }
  return b;
}

template <BaseAlloc B>
FERROC_NOINLINE void* Heap<B>::allocate_slow(std::size_t size, std::size_t align,
                                             bool zero) noexcept {
  // Now and then look at every page: blocks other threads freed into
  // pages this thread no longer allocates from come back, empty pages go
  // back to their segments, and due purges run. Without it, memory freed
  // by other threads stays with a heap that only uses a few size classes.
  // The look comes every heap_collect_interval slow paths (below), and
  // over a base that decommits also at the first slow path, even one that
  // only finds the page's own frees, heap_collect_period_ms after the last
  // look: a thread back to light work after a peak takes few slow paths,
  // yet the pages of the peak should go back to the system soon.
  // (A detached heap may be shared by threads that have none yet: it
  // writes nothing.)
  if constexpr (DecommitBase<B>) {
    if (!detached() && --clock_countdown_ == 0) {
      clock_countdown_ = detail::heap_clock_interval;
      if (collect_is_due())
        collect(false);
    }
  }
  // Most often the page at hand ran dry while its own frees (or other
  // threads') refilled it: take those back without the search below.
  // (The empty page a size starts with never has any.)
  if (size <= detail::direct_size_max && align <= detail::min_align) {
    Page* pg = direct_[detail::direct_index(size)];
    collect_page(pg);
    if (pg->free != nullptr)
      return pop(pg, zero);
  }
  // Sizes past the direct array still find a ready block at the head of
  // their bin most of the time: take it without the search below.
  if (size > detail::direct_size_max && size <= detail::large_block_max &&
      align <= detail::min_align) {
    Page* pg = bins_[detail::size_class_of(size)].first;
    if (pg != nullptr && pg->free != nullptr)
      return pop(pg, zero);
  }
  // A size no block can have fails here, at once: no collect, no system
  // call, no page touched (glibc fails malloc(SIZE_MAX) in a few ns too).
  if (FERROC_UNLIKELY(size > detail::alloc_size_max))
    return nullptr;
  if (FERROC_UNLIKELY(detached())) {
    // The fallback allocates as try_allocate does: secure mode's room for
    // the canary, which `size` holds already, would be added twice.
    // `size` may have been raised to canary_block_min, so the fallback's
    // canary may lie past the one try_allocate arms next: it goes, as the
    // slack after a canary must read zero.
    std::size_t const asked = detail::canaries ? size - detail::canary_extra : size;
    void* p = fallback_ != nullptr ? fallback_(asked, align, zero) : nullptr;
    if constexpr (detail::canaries)
      detail::disarm_canary(p, asked);
    return p;
  }
  if (++slow_calls_ % detail::heap_collect_interval == 0)
    collect(false);
  drain_delayed();
  if (align > detail::min_align)
    return allocate_aligned(size, align, zero);
  return allocate_generic(size, zero);
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Heap<B>::allocate_generic(std::size_t size, bool zero) noexcept {
  if (size > detail::large_block_max)
    return allocate_huge(size, detail::min_align, zero);
  std::size_t const c = detail::size_class_of(size);
  Page* pg = find_page(c);
  if (FERROC_UNLIKELY(pg == nullptr)) {
    // Out of memory: no free slot, and the base refused a new arena.
    // Give back the segments we can and try once more.
    make_room();
    pg = find_page(c);
    if (pg == nullptr)
      return nullptr;
  }
  return pop(pg, zero);
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Heap<B>::allocate_aligned(std::size_t size, std::size_t align,
                                                     bool zero) noexcept {
  if (!detail::is_pow2(align))
    return nullptr;
  if (size <= detail::large_block_max && align <= detail::large_block_max) {
    // Page areas start on a multiple of page_area_align, so a class that
    // is a multiple of the alignment is aligned already; large blocks
    // start on a slice.
    std::size_t const cs = detail::class_size(detail::size_class_of(size));
    if (align <= detail::page_area_align && cs % align == 0)
      return allocate_generic(size, zero);
    if (align <= detail::large_slice_size && cs > detail::medium_block_max)
      return allocate_generic(size, zero);
    // Otherwise a block padded by the alignment, the pointer inside it:
    // in a small or medium page only, as a pointer past a large block's
    // first slice would not find its page.
    std::size_t const padded = size + align - 1;
    if (padded > detail::medium_block_max && align <= detail::large_slice_size)
      return allocate_generic(detail::medium_block_max + 1, zero);
    if (padded <= detail::medium_block_max) {
      void* p = allocate_generic(padded, zero);
      if (p == nullptr)
        return nullptr;
      auto const addr = reinterpret_cast<std::uintptr_t>(p);
      auto const aligned = (addr + align - 1) & ~(std::uintptr_t{align} - 1);
      // With free checks also a block that happens to be aligned: its
      // page's blocks may then be larger than a sized free's size tells
      // (detail::sized_free_fits).
      if (aligned != addr || detail::free_checks) {
        Page* pg = detail::segment_of(p)->page_of(p);
        detail::page_set_flags(pg, detail::page_flags(pg) | detail::page_has_aligned);
      }
      return reinterpret_cast<void*>(aligned);
    }
  }
  return allocate_huge(size, align, zero);
}

// allocate_zeroed without checked mode's view or secure mode's canary.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void* Heap<B>::allocate_zeroed_block(std::size_t size,
                                                          std::size_t align) noexcept {
  if (FERROC_LIKELY(size <= detail::direct_size_max && align <= detail::min_align)) {
    Page* pg = direct_[detail::direct_index(size)];
    if (FERROC_LIKELY(pg->free != nullptr))
      return pop(pg, true);
  }
  return allocate_slow(size, align, true);
}

// usable_size without checked mode's view: the bytes to the block end (in
// secure mode's pages with canaries, to the canary).
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::size_t Heap<B>::block_usable_size(void const* p) noexcept {
  Segment* seg = detail::segment_of(p);
  Page const* pg = seg->page_of(p);
  if (seg->kind == detail::PageKind::huge)
    return pg->block_size - static_cast<std::size_t>(static_cast<std::byte const*>(p) - pg->area);
  if (detail::page_has_canaries(pg))
    return detail::canary_usable_size(pg, p);
  auto const* bytes = static_cast<std::byte const*>(p);
  std::byte const* start = detail::page_has_aligned_blocks(pg)
                               ? reinterpret_cast<std::byte const*>(detail::block_start(pg, p))
                               : bytes;
  return pg->block_size - static_cast<std::size_t>(bytes - start);
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
