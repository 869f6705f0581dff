// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Context: the page purge. A page freed in a segment still in use keeps its
// memory for a while (it is marked dirty); a purge round, due a delay after
// the first such page, decommits the pages that were free already at the
// previous round, so that a page freed and taken again soon costs no page
// faults, yet a thread that freed much gives the memory back.
//
// Part of Context: ferroc/heap/context.hpp declares these members and
// includes this file at its end; included alone, this file pulls its
// parent in.

#include "ferroc/heap/context.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

// Hands the physical memory of free pages back to the base, and empty
// segments back to the arenas, which purge every released slot now.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Context<B>::decommit_free_pages() noexcept {
  release_empty_segments();
  arenas_->purge(true);
  decommit_all_free_pages();
  page_purge_at_ = 0;
}

// Free pages are purged like released arena slots, after a delay
// (page_purge_delay_factor times the arenas' purge delay), so that a page
// freed and taken again soon costs no page faults, yet a thread that
// freed much gives it back. Checked where a page is taken and where the
// heap collects. As for arena slots, a round purges the pages that were
// free already at the previous round, so a page stays a whole delay of
// the thread's own activity: with 16 threads on 2 cores a thread waits
// 10-20 ms for the CPU and found, at every check, the pages of its last
// time slice due (xmalloc: 20,000 madvise calls and 199 k page faults a
// run, mimalloc 48 and 4.5 k).
template <BaseAlloc B> FERROC_MEMBER_INLINE void Context<B>::purge_if_due() noexcept {
  arenas_->purge();
  if constexpr (DecommitBase<B>) {
    if (page_purge_at_ == 0)
      return;
    std::int64_t const now = detail::monotonic_ns();
    if (now < page_purge_at_)
      return;
    page_purge_at_ = 0;
    bool const at_once = purge_delay_ns() == 0; // no delay: no generations either
    // Empty segments kept for reuse were not reused in time: they go
    // back to the arenas (which keep them committed a while longer).
    release_empty_segments();
    bool waiting = false;
    for (Segment* seg = all_.first; seg != nullptr; seg = seg->next) {
      std::uint64_t const due = seg->dirty_old_mask | (at_once ? seg->dirty_mask : 0);
      decommit_pages(seg, due & seg->free_mask);
      seg->dirty_old_mask = at_once ? 0 : seg->dirty_mask & seg->free_mask;
      seg->dirty_mask = 0;
      waiting = waiting || seg->dirty_old_mask != 0;
    }
    if (waiting)
      page_purge_at_ = now + purge_delay_ns();
  }
}

// A round of the page purge (page_purge_delay_factor arena delays).
template <BaseAlloc B>
FERROC_MEMBER_INLINE std::int64_t Context<B>::purge_delay_ns() const noexcept {
  return std::int64_t{arenas_->purge_delay_ms()} * detail::page_purge_delay_factor * 1'000'000;
}

template <BaseAlloc B>
FERROC_MEMBER_INLINE void Context<B>::mark_dirty(Segment* seg, std::uint64_t pages) noexcept {
  if constexpr (DecommitBase<B>) {
    seg->dirty_mask |= pages;
    if (page_purge_at_ == 0)
      page_purge_at_ = detail::monotonic_ns() + purge_delay_ns();
  } else {
    (void)seg, (void)pages;
  }
}

// Pages `pages` of `seg` were taken: nothing of theirs waits for a purge.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void Context<B>::clear_dirty(Segment* seg, std::uint64_t pages) noexcept {
  seg->dirty_mask &= ~pages;
  seg->dirty_old_mask &= ~pages;
}

// Decommits every free page of our segments not known to be zero.
template <BaseAlloc B> FERROC_MEMBER_INLINE void Context<B>::decommit_all_free_pages() noexcept {
  for (Segment* seg = all_.first; seg != nullptr; seg = seg->next) {
    decommit_pages(seg, seg->free_mask);
    seg->dirty_mask = seg->dirty_old_mask = 0;
  }
}

// Decommits free pages `pages` of `seg`. Adjacent ones go back in one
// call: a freed large run is many slices, and every call costs the
// system a walk of the mapping and a TLB flush on each core.
template <BaseAlloc B>
FERROC_MEMBER_INLINE void Context<B>::decommit_pages(Segment* seg, std::uint64_t pages) noexcept {
  if constexpr (DecommitBase<B>) {
    std::byte* run = nullptr;
    std::size_t run_size = 0;
    std::uint64_t run_pages = 0;
    // The pages of a run count as decommitted only when the base says so:
    // one it left committed still holds old data (allocate_zeroed).
    auto const flush = [&]() noexcept {
      if (run == nullptr || !arenas_->decommit(run, run_size))
        return;
      for (std::uint64_t r = run_pages; r != 0; r &= r - 1) {
        Page& done = seg->pages[std::countr_zero(r)];
        done.mem_is_zero = B::decommit_zeroes;
        if constexpr (detail::stats_enabled) {
          if (!done.decommitted) {
            done.decommitted = true;
            arenas_->counters().committed.sub(done.area_size);
          }
        }
      }
    };
    for (std::uint64_t m = pages; m != 0; m &= m - 1) {
      Page& pg = seg->pages[std::countr_zero(m)];
      // A page whose area is not whole OS pages stays committed: page 0's
      // area after a header of the 4 KiB layout on a 16 or 64 KiB page
      // system, or the small pages of a small geometry there.
      if (pg.mem_is_zero || !detail::page_area_decommits(&pg))
        continue;
      if (run != nullptr && run + run_size == pg.area) {
        run_size += pg.area_size;
      } else {
        flush();
        run = pg.area;
        run_size = pg.area_size;
        run_pages = 0;
      }
      run_pages |= m & (~m + 1);
    }
    flush();
  } else {
    (void)seg, (void)pages;
  }
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
