// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include <sched.h>

#include "ferroc/arena/arenas.hpp"
#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/heap/context.hpp"
#include "ferroc/heap/instrument.hpp"
#include "ferroc/heap/page.hpp"
#include "ferroc/heap/segment.hpp"
#include "ferroc/heap/size_class.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

namespace detail {
// What a detached (moved-from or placeholder) Heap compares segment owners
// against: no segment is ever owned by it, so every free through such a heap
// takes the cross-thread path.
inline char const detached_owner_tag = 0;

/// Selects the constructor of a Heap that has no Context (see Heap).
struct DetachedHeapTag {};

/// Called by a detached Heap's allocation slow path; lets a global
/// allocator create the thread's real heap on first use.
using HeapFallback = void* (*)(std::size_t size, std::size_t align, bool zero) noexcept;

/// The segment's Arenas, for releasing a huge block from any thread.
template <BaseAlloc B> Arenas<B>& arenas_of(Segment const* seg) noexcept {
  return *static_cast<Arenas<B>*>(const_cast<void*>(seg->arenas));
}
} // namespace detail

/// A thread's allocator: size-class bins of pages, with a direct array that
/// takes small sizes to their page in one load.
///
/// One per thread and not thread-safe: only its thread calls it. Blocks it
/// hands out may be freed by any Heap (or `Arenas::deallocate`) of the same
/// Arenas, on any thread. Move-only; a moved-from Heap only frees (through the
/// cross-thread path) and returns nullptr from every allocation.
template <BaseAlloc B> class Heap {
  using Block = detail::Block;
  using Page = detail::Page;
  using Segment = detail::Segment;

public:
  struct Allocation {
    void* ptr;
    std::size_t size; // usable bytes, at least the requested size
  };

  explicit Heap(Context<B>& cx) noexcept : owner_(&cx), cx_(&cx) {
    std::fill(std::begin(direct_), std::end(direct_), &detail::empty_page);
  }

  /// A heap with no Context: its direct array points at the empty page and
  /// every allocation lands in `fallback` (nullptr: fails). It can free any
  /// block through the cross-thread path. Global allocators start each
  /// thread on such a placeholder, so their fast path needs no "is this
  /// thread set up?" test.
  constexpr Heap(detail::DetachedHeapTag, detail::HeapFallback fallback) noexcept
      : owner_(&detail::detached_owner_tag), cx_(nullptr), fallback_(fallback) {
    for (Page*& slot : direct_)
      slot = &detail::empty_page;
  }

  Heap(Heap&& other) noexcept
      : owner_(other.owner_), known_segment_(other.known_segment_), cx_(other.cx_),
        fallback_(other.fallback_) {
    std::copy(std::begin(other.direct_), std::end(other.direct_), std::begin(direct_));
    std::copy(std::begin(other.bins_), std::end(other.bins_), std::begin(bins_));
    full_ = other.full_;
    other.detach();
  }

  Heap& operator=(Heap&& other) noexcept {
    if (this != &other) {
      abandon();
      owner_ = other.owner_;
      known_segment_ = other.known_segment_;
      cx_ = other.cx_;
      fallback_ = other.fallback_;
      std::copy(std::begin(other.direct_), std::end(other.direct_), std::begin(direct_));
      std::copy(std::begin(other.bins_), std::end(other.bins_), std::begin(bins_));
      full_ = other.full_;
      other.detach();
    }
    return *this;
  }

  Heap(Heap const&) = delete;
  Heap& operator=(Heap const&) = delete;

  /// Blocks still alive stay valid: their segments are abandoned to the
  /// Arenas, where another Context reclaims them.
  ~Heap() { abandon(); }

  Context<B>& context() const noexcept { return *cx_; }

  /// At least `size` bytes aligned to `align`, or nullptr when out of
  /// memory or `align` is above 16 and not a power of two (every block is
  /// 16-aligned, so smaller alignments are met whatever they are). Never
  /// throws. Size 0 gives a unique pointer.
  [[nodiscard]] FERROC_MALLOC_ATTR FERROC_INLINE void*
  allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if constexpr (detail::instrumented)
      return allocate_instrumented(size, align, false);
    if (FERROC_LIKELY(size <= detail::direct_size_max && align <= detail::min_align)) {
      Page* pg = direct_[detail::direct_index(size)];
      if (Block* b = pg->free; FERROC_LIKELY(b != nullptr)) {
        pg->free = detail::next_of(pg, b);
        ++pg->used;
        count_alloc(pg);
        return b;
      }
    }
    return allocate_slow(size, align, false);
  }

  /// As `allocate`, with the whole usable block set to zero.
  [[nodiscard]] FERROC_MALLOC_ATTR void*
  allocate_zeroed(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if constexpr (detail::instrumented)
      return allocate_instrumented(size, align, true);
    if (FERROC_LIKELY(size <= detail::direct_size_max && align <= detail::min_align)) {
      Page* pg = direct_[detail::direct_index(size)];
      if (FERROC_LIKELY(pg->free != nullptr))
        return pop(pg, true);
    }
    return allocate_slow(size, align, true);
  }

  /// As `allocate`, and tells how many bytes are really usable (C++23's
  /// allocate_at_least). `ptr` is nullptr on failure.
  [[nodiscard]] Allocation
  allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    void* p = allocate(size, align);
    return {p, p == nullptr ? 0 : usable_size(p)};
  }

  /// Frees a block of any Heap of the same Arenas; nullptr does nothing.
  FERROC_INLINE void deallocate(void* p) noexcept {
    if (FERROC_UNLIKELY(p == nullptr))
      return;
    deallocate_nonnull(p);
  }

  /// `deallocate` of a block whose size the caller states (C23 `free_sized`,
  /// sized `operator delete`): `size` is what the block was asked with and
  /// `align` an alignment it was asked with (or a smaller power of two).
  /// Checked mode stops the process when they do not match the block; a
  /// release build frees as `deallocate` does (its page already tells the
  /// block's size, so the size saves no work). nullptr does nothing.
  void deallocate_sized(void* p, std::size_t size,
                        std::size_t align = alignof(std::max_align_t)) noexcept {
    if (p == nullptr)
      return;
    if constexpr (detail::checked)
      detail::check_sized_free(p, size, align);
    else
      (void)size, (void)align;
    deallocate_nonnull(p);
  }

  /// `deallocate` for a caller that has ruled out nullptr already.
  FERROC_INLINE void deallocate_nonnull(void* p) noexcept {
    if constexpr (detail::instrumented)
      deallocate_instrumented(p);
    else
      deallocate_block(p);
  }

  /// `deallocate` for a pointer that may not be a block of any Heap (the
  /// `free` of a malloc replacement): one outside every Arenas' segments
  /// (the process-wide segment map) is left alone and false returned;
  /// nullptr too. The segment of the last such check is remembered, so
  /// frees into it skip the map.
  FERROC_INLINE bool deallocate_if_ours(void* p) noexcept {
    if (FERROC_LIKELY(detail::segment_of(p) == known_segment_)) {
      deallocate_nonnull(p);
      return true;
    }
    return deallocate_if_ours_slow(p);
  }

  /// The fast path of `allocate` alone: a block of at least `size` bytes
  /// (16-byte aligned) when one is at hand, else nullptr (call `allocate`).
  /// Lets a caller keep its own slow path out of line.
  FERROC_INLINE void* try_allocate_fast(std::size_t size) noexcept {
    if constexpr (detail::instrumented)
      return nullptr;
    if (FERROC_LIKELY(size <= detail::direct_size_max)) {
      Page* pg = direct_[detail::direct_index(size)];
      if (Block* b = pg->free; FERROC_LIKELY(b != nullptr)) {
        pg->free = detail::next_of(pg, b);
        ++pg->used;
        count_alloc(pg);
        return b;
      }
    }
    return nullptr;
  }

private:
  FERROC_NOINLINE bool deallocate_if_ours_slow(void* p) noexcept {
    if (!detail::segment_map_contains(p))
      return false;
    // Remembered only when it is a segment of our own Arenas that is not a
    // huge block's: those stay mapped as long as the Arenas (which outlives
    // this heap) exists, so the answer "ours" cannot go stale.
    Segment const* seg = detail::segment_of(p);
    if (!detached() && seg->kind != detail::PageKind::huge && seg->arenas == &cx_->arenas())
      known_segment_ = seg;
    deallocate_nonnull(p);
    return true;
  }

  // Returns block p (not checked or tracked) to its page.
  FERROC_INLINE void deallocate_block(void* p) noexcept {
    Segment* seg = detail::segment_of(p);
    Page* pg = seg->page_of(p);
    if (FERROC_LIKELY(detail::page_is_plain_local(pg, owner_))) {
      auto* b = static_cast<Block*>(p);
      detail::set_next(pg, b, pg->local_free);
      pg->local_free = b;
      count_frees(pg, 1);
      // An empty page that is the only one of its bin stays (see
      // retire_page): tested inline, so a program that allocates and frees
      // one block at a time makes no call here.
      if (FERROC_UNLIKELY(--pg->used == 0) && has_neighbours(pg))
        return retire_page(pg);
      return;
    }
    deallocate_slow(seg, pg, p);
  }

public:
  /// Resizes a block, keeping its contents up to the smaller size. Keeps `p`
  /// when `new_size` fits its block and uses at least half of it; otherwise
  /// moves it. On failure returns nullptr and `p` stays valid.
  [[nodiscard]] void* reallocate(void* p, std::size_t new_size,
                                 std::size_t align = alignof(std::max_align_t)) noexcept {
    if (p == nullptr)
      return allocate(new_size, align);
    if constexpr (detail::instrumented)
      return reallocate_instrumented(p, new_size, align);
    std::size_t const usable = usable_size(p);
    bool const aligned = (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
    if (new_size <= usable && new_size >= usable / 2 && aligned)
      return p;
    void* q = allocate(new_size, align);
    if (q == nullptr)
      return nullptr;
    std::memcpy(q, p, std::min(usable, new_size));
    deallocate(p);
    return q;
  }

  /// Bytes usable at `p` (a block of any Heap of the same Arenas), at least
  /// what was requested; 0 for nullptr, as `malloc_usable_size(NULL)`.
  std::size_t usable_size(void const* p) const noexcept {
    if (p == nullptr)
      return 0;
    if constexpr (detail::checked)
      return detail::checked_usable_size(p);
    return block_usable_size(p);
  }

  /// This heap's counters (FERROC_STAT; see ferroc/stats.hpp): the blocks
  /// it handed out and took back per size class (including blocks of pages
  /// it took over from exited threads), and the pages and segments its
  /// Context holds. Huge blocks, committed and reserved bytes belong to the
  /// Arenas only (Arenas::stats). A detached heap reports nothing.
  Stats stats() const noexcept {
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

  /// Runs delayed clean-up now: returns blocks other threads freed, frees
  /// empty pages. With `force`, also reclaims abandoned segments and gives
  /// the physical memory of free pages and empty segments back to the base.
  void collect(bool force = false) noexcept {
    if (detached())
      return;
    drain_delayed();
    for (std::size_t c = 1; c < detail::class_count; ++c) {
      for (Page* pg = bins_[c].first; pg != nullptr;) {
        Page* next = pg->next;
        if (force || !remote_frees_leave_used(pg)) {
          collect_page(pg);
          if (pg->used == 0)
            free_page(pg);
        }
        pg = next;
      }
    }
    for (Page* pg = full_.first; pg != nullptr;) {
      Page* next = pg->next;
      collect_page(pg);
      if (pg->free != nullptr)
        unfull(pg);
      if (pg->used == 0)
        free_page(pg);
      pg = next;
    }
    if (force) {
      reclaim_abandoned();
      cx_->decommit_free_pages();
    } else {
      cx_->purge_if_due();
    }
    if constexpr (DecommitBase<B>)
      collect_at_ =
          detail::monotonic_ns() + std::int64_t{detail::heap_collect_period_ms} * 1'000'000;
  }

  /// Calls `fn(void* block, std::size_t usable)` for every live block of
  /// this heap's pages, in no particular order. Blocks of huge size (past
  /// large_block_max: a segment of their own, which no heap owns) are not
  /// visited. It first takes in what other threads freed; a block another
  /// thread frees while the walk runs may or may not be reported. `fn` must
  /// not allocate from or free to this heap.
  template <class F> void visit(F&& fn) noexcept(noexcept(fn(nullptr, std::size_t{}))) {
    if (detached())
      return;
    drain_delayed();
    for_each_page([&](Page* pg) {
      collect_page(pg);
      visit_page(pg, fn);
    });
  }

  /// Frees every block of this heap at once (arena-style use): all its
  /// pages go back to their segments as if each block had been freed. Every
  /// pointer the heap handed out becomes invalid, also in other threads,
  /// which must not free them any more; huge blocks (see `visit`) stay
  /// valid and are freed one by one as usual. The heap stays usable.
  void destroy() noexcept {
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
      pg->xthread_free.exchange(detail::no_delayed, std::memory_order_acquire);
      count_frees(pg, pg->used);
      pg->local_free = nullptr;
      pg->free = nullptr;
      pg->used = 0;
      free_page(pg);
    });
  }

private:
  /// `usable_size` without checked mode's view: the bytes to the block end.
  static std::size_t block_usable_size(void const* p) noexcept {
    Segment* seg = detail::segment_of(p);
    Page const* pg = seg->page_of(p);
    auto const* bytes = static_cast<std::byte const*>(p);
    std::byte const* start = pg->area;
    if (seg->kind != detail::PageKind::huge)
      start = detail::page_has_aligned_blocks(pg)
                  ? reinterpret_cast<std::byte const*>(detail::block_start(pg, p))
                  : bytes;
    return pg->block_size - static_cast<std::size_t>(bytes - start);
  }

  // Reports the live blocks of one page: those carved so far and on
  // neither of its free lists (its remote list was just collected).
  template <class F> void visit_page(Page* pg, F& fn) {
    constexpr std::size_t max_blocks =
        (std::size_t{1} << detail::small_page_shift) / detail::min_align;
    std::bitset<max_blocks> is_free;
    auto mark = [&](Block* b) {
      for (; b != nullptr; b = detail::next_of(pg, b))
        is_free.set(static_cast<std::size_t>(reinterpret_cast<std::byte*>(b) - pg->area) /
                    pg->block_size);
    };
    mark(pg->free);
    mark(pg->local_free);
    for (std::size_t i = 0; i < pg->capacity; ++i) {
      if (is_free.test(i))
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
      } else {
        fn(static_cast<void*>(block), pg->block_size);
      }
    }
  }

  bool detached() const noexcept { return owner_ == &detail::detached_owner_tag; }

  // Whether the page shares its queue with others (one test of both links).
  static FERROC_INLINE bool has_neighbours(Page const* pg) noexcept {
    return (reinterpret_cast<std::uintptr_t>(pg->next) |
            reinterpret_cast<std::uintptr_t>(pg->prev)) != 0;
  }

  // Statistics: counts on this heap's Context, by the owning thread only.
  FERROC_INLINE void count_alloc(Page const* pg) noexcept {
    if constexpr (detail::stats_enabled)
      cx_->counters_.allocs[pg->class_index].add(1);
    else
      (void)pg;
  }
  FERROC_INLINE void count_frees(Page const* pg, std::uint64_t n) noexcept {
    if constexpr (detail::stats_enabled)
      cx_->counters_.frees[pg->class_index].add(n);
    else
      (void)pg, (void)n;
  }

  void detach() noexcept {
    owner_ = &detail::detached_owner_tag;
    known_segment_ = nullptr;
    std::fill(std::begin(direct_), std::end(direct_), &detail::empty_page);
    std::fill(std::begin(bins_), std::end(bins_), detail::PageQueue{});
    full_ = {};
  }

  // ---- allocation slow paths ------------------------------------------------

  Block* pop(Page* pg, bool zero) noexcept {
    Block* b = pg->free;
    pg->free = detail::next_of(pg, b);
    ++pg->used;
    count_alloc(pg);
    if (zero) {
      if (pg->free_is_zero)
        b->next = nullptr;
      else
        std::memset(b, 0, pg->block_size);
    }
    return b;
  }

  // ---- the instrumented path (checked mode, memory-checker tracking) ------

  FERROC_NOINLINE void* allocate_instrumented(std::size_t size, std::size_t align,
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

  FERROC_NOINLINE void deallocate_instrumented(void* p) noexcept {
    detail::instrumented_free(p, cx_ != nullptr ? &cx_->arenas() : nullptr);
    deallocate_block(p);
  }

  // Keeps the block when it shrinks by at most half; moves it otherwise
  // (checked mode's trailer sits right after the requested size, so a block
  // does not grow in place).
  void* reallocate_instrumented(void* p, std::size_t new_size, std::size_t align) noexcept {
    std::size_t const usable = usable_size(p);
    bool const aligned = (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
    if (new_size <= usable && new_size >= usable / 2 && aligned) {
      if constexpr (detail::checked) {
        if (new_size == usable)
          return p;
      }
      detail::track::resized(detail::segment_of(p)->arenas, p, usable, new_size);
      if constexpr (detail::checked)
        detail::arm_block(p, new_size);
      return p;
    }
    void* q = allocate(new_size, align);
    if (q == nullptr)
      return nullptr;
    std::memcpy(q, p, std::min(usable, new_size));
    deallocate(p);
    return q;
  }

  FERROC_NOINLINE void* allocate_slow(std::size_t size, std::size_t align, bool zero) noexcept {
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
    if (FERROC_UNLIKELY(detached()))
      return fallback_ != nullptr ? fallback_(size, align, zero) : nullptr;
    if (++slow_calls_ % detail::heap_collect_interval == 0)
      collect(false);
    drain_delayed();
    if (align > detail::min_align)
      return allocate_aligned(size, align, zero);
    return allocate_generic(size, zero);
  }

  void* allocate_generic(std::size_t size, bool zero) noexcept {
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

  // Out of arena slots: every segment this heap can empty goes back to the
  // arenas (blocks other threads freed come back, empty pages leave their
  // segments, dead heaps' segments are taken in, the empty segments kept
  // for reuse are released), so that a claim may find room. What
  // collect(true) does besides, decommitting free pages and released
  // slots, makes no room: the slots stay taken or free as they were, and
  // the base gets no address space back (arenas are never unmapped). It
  // would only make those pages fault in again at the next allocation.
  void make_room() noexcept {
    collect(false); // frees every page that its blocks given back leave empty
    reclaim_abandoned();
    cx_->release_empty_segments();
  }

  // Takes in every segment that dead heaps abandoned.
  void reclaim_abandoned() noexcept {
    while (Segment* seg = cx_->reclaim_segment())
      adopt_pages(seg);
  }

  void* allocate_aligned(std::size_t size, std::size_t align, bool zero) noexcept {
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
        if (aligned != addr) {
          Page* pg = detail::segment_of(p)->page_of(p);
          detail::page_set_flags(pg, detail::page_flags(pg) | detail::page_has_aligned);
        }
        return reinterpret_cast<void*>(aligned);
      }
    }
    return allocate_huge(size, align, zero);
  }

  // A page of class `c` with a free block, or nullptr when out of memory.
  Page* find_page(std::size_t c) noexcept {
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
  Page* find_large_page(std::size_t c) noexcept {
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
    pg->xthread_free.store(detail::use_delayed, std::memory_order_relaxed);
    return pg;
  }

  // A page of class c with a free block or room to extend, or nullptr. The
  // usual case stays short: the page at the front got blocks back, or has
  // room to extend.
  Page* search_bin(std::size_t c) noexcept {
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
  FERROC_NOINLINE Page* search_bin_walk(std::size_t c) noexcept {
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

  void init_page(Page* pg, std::size_t c) noexcept {
    pg->block_size = detail::class_size(c);
    pg->reserved = static_cast<std::uint32_t>(pg->area_size / pg->block_size);
    pg->capacity = 0;
    pg->free = nullptr;
    pg->local_free = nullptr;
    pg->used = 0;
    detail::page_set_flags(pg, 0);
    pg->class_index = static_cast<std::uint8_t>(c);
    pg->zero_init = pg->mem_is_zero;
    pg->mem_is_zero = false;
    pg->free_is_zero = false;
    // relaxed: remote threads read it only after seeing use_delayed, which
    // we set later with release.
    pg->xheap.store(&cx_->delayed_, std::memory_order_relaxed);
    // relaxed: no other thread holds a block of a page that is being set up.
    pg->xthread_free.store(detail::no_delayed, std::memory_order_relaxed);
    extend_page(pg);
  }

  // Threads about extend_bytes of never-used blocks onto the empty free
  // list, so a fresh page touches memory a little at a time.
  bool extend_page(Page* pg) noexcept {
    if (pg->capacity >= pg->reserved)
      return false;
    std::size_t const bs = pg->block_size;
    std::size_t n = std::max(detail::extend_bytes / bs, detail::extend_min_blocks);
    n = std::min<std::size_t>(n, pg->reserved - pg->capacity);
    std::byte* start = pg->area + pg->capacity * bs;
    // Tracking: blocks never handed out are closed to the program too.
    detail::track::forbid(start, n * bs);
    for (std::size_t i = 0; i + 1 < n; ++i)
      detail::set_next(pg, reinterpret_cast<Block*>(start + i * bs),
                       reinterpret_cast<Block*>(start + (i + 1) * bs));
    detail::set_next(pg, reinterpret_cast<Block*>(start + (n - 1) * bs), nullptr);
    pg->free = reinterpret_cast<Block*>(start);
    pg->free_is_zero = pg->zero_init;
    pg->capacity += static_cast<std::uint32_t>(n);
    return true;
  }

  void* allocate_huge(std::size_t size, std::size_t align, bool zero) noexcept {
    // (Sizes past alloc_size_max failed in allocate_slow already.)
    if (align > detail::huge_align_max)
      return nullptr; // never: fail without a collect or a system call
    HugeLayout const layout = huge_layout(size, align);
    if (void* p = try_allocate_huge(layout, zero, true))
      return p;
    // Out of memory: no free run of slots, and the base refused a new arena
    // and a chunk of the block's own. A collect gives the base nothing back
    // (see make_room), so the refusal stands: a block too large for an
    // arena fails after the one refused system call. What a collect can do
    // is give slots back to the arenas; a block that fits an arena looks
    // for a run among them once more, without asking the base again.
    if (layout.slots + layout.extra > detail::arena_slots)
      return nullptr;
    make_room();
    return try_allocate_huge(layout, zero, false);
  }

  // Where a huge block lies: `offset` bytes past the start of its segment
  // (after the header, at an offset that gives it its alignment; past a
  // segment's worth of alignment, the segment is placed so that the block
  // starts exactly one segment after the header: segment_of masks p - 1
  // for that case), the `slots` that header and block span, and the
  // `extra` slots a run needs to be placed so.
  struct HugeLayout {
    std::size_t align;
    std::size_t block;
    std::size_t offset;
    std::size_t total;
    std::size_t slots;
    std::size_t extra;
    bool beyond;
  };

  // For size <= alloc_size_max and align <= huge_align_max: nothing overflows.
  static HugeLayout huge_layout(std::size_t size, std::size_t align) noexcept {
    using namespace detail;
    HugeLayout h{};
    h.align = align;
    h.block = align_up(std::max<std::size_t>(size, 1), os_page_size);
    h.beyond = align > segment_size;
    h.offset = h.beyond ? segment_size : align_up(segment_header_size, align);
    h.total = h.offset + h.block;
    h.slots = (h.total + segment_size - 1) / segment_size;
    h.extra = h.beyond ? align / segment_size - 1 : 0;
    return h;
  }

  // A huge block from a run of arena slots, or else from a chunk of the
  // base of its own; with `ask_base` false, only from the slots of the
  // arenas there are. nullptr when out of memory.
  void* try_allocate_huge(HugeLayout const& h, bool zero, bool ask_base) noexcept {
    using namespace detail;
    std::byte* start = nullptr;
    SegmentSource src;
    bool zeroed = false;
    Arenas<B>& arenas = cx_->arenas();
    if (std::size_t const run = h.slots + h.extra; run <= arena_slots) {
      if (auto const claim = arenas.claim(run, ask_base); claim.start != nullptr) {
        start = claim.start;
        if (h.beyond)
          start = align_up_ptr(start + segment_size, h.align) - segment_size;
        src = {claim.arena, claim.slot, static_cast<std::uint32_t>(run), nullptr, 0};
        zeroed = claim.zeroed;
      }
    }
    if (start == nullptr) {
      if (!ask_base)
        return nullptr;
      std::size_t const chunk_size = h.beyond ? h.align + h.block : h.slots * segment_size;
      auto* chunk = static_cast<std::byte*>(
          arenas.allocate_dedicated(chunk_size, h.beyond ? h.align : segment_size));
      if (chunk == nullptr)
        return nullptr;
      start = h.beyond ? chunk + h.align - segment_size : chunk;
      src = {SegmentSource::dedicated, 0, 0, chunk, chunk_size};
      zeroed = B::is_zeroed;
    }
    // An earlier use of this memory may have left it closed (tracking).
    track::reset(start, h.total);
    auto* seg = new (start) Segment{};
    seg->arenas = &arenas;
    seg->cookie = segment_cookie(seg);
    seg->kind = PageKind::huge;
    seg->page_shift = huge_page_shift;
    seg->page_count = 1;
    seg->used_pages = 1;
    seg->source = src;
    Page& pg = seg->pages[0];
    pg.area = start + h.offset;
    pg.block_size = h.block;
    pg.reserved = pg.capacity = pg.used = 1;
    pg.in_use = true;
    if constexpr (stats_enabled) {
      auto& c = arenas.counters();
      c.huge_blocks.add(1);
      c.huge_bytes.add(h.block);
      c.huge_allocs.add(1);
      c.huge_bytes_allocated.add(h.block);
    }
    if (zero && !zeroed)
      std::memset(pg.area, 0, h.block);
    return pg.area;
  }

  static std::byte* align_up_ptr(std::byte* p, std::size_t align) noexcept {
    auto const addr = reinterpret_cast<std::uintptr_t>(p);
    return p + (((addr + align - 1) & ~(std::uintptr_t{align} - 1)) - addr);
  }

  // ---- freeing -----------------------------------------------------------

  FERROC_NOINLINE void deallocate_slow(Segment* seg, Page* pg, void* p) noexcept {
    if (seg->kind == detail::PageKind::huge) {
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

  // Whether the blocks other threads freed to `pg` so far leave some of its
  // blocks in use while it still has free blocks to hand out. Then a
  // periodic collect leaves them on the page's remote list: taken once the
  // page runs dry, they need no walk (see take_remote_list), and the look
  // at every page would otherwise walk the lists of the pages in use, each
  // block a cache miss (rptest, 16 threads: 5 % of the time).
  static bool remote_frees_leave_used(Page const* pg) noexcept {
    if constexpr (detail::thread_free_counted) {
      if (pg->free == nullptr)
        return false;
      // relaxed: a count a moment old only puts off a page's free to the
      // next collect.
      std::uintptr_t const tf = pg->xthread_free.load(std::memory_order_relaxed);
      return detail::thread_free_count(tf) < pg->used;
    } else {
      (void)pg;
      return false;
    }
  }

  // Over a base that decommits: whether heap_collect_period_ms have passed
  // since the heap last looked at all its pages (see allocate_slow).
  bool collect_is_due() const noexcept {
    if constexpr (DecommitBase<B>)
      return detail::monotonic_ns() >= collect_at_;
    else
      return false;
  }

  void free_block_local(Page* pg, Block* b) noexcept {
    detail::set_next(pg, b, pg->local_free);
    pg->local_free = b;
    count_frees(pg, 1);
    if (detail::page_is_in_full(pg))
      unfull(pg);
    if (--pg->used == 0)
      retire_page(pg);
  }

  // An empty page stays while it is the only one of its class, so a
  // program that allocates and frees one block at a time does not take and
  // give back a page on every call; otherwise it goes back to its segment.
  //
  // A large page (one block) goes back at once: its slices serve the next
  // large block of any size.
  FERROC_NOINLINE void retire_page(Page* pg) noexcept {
    detail::PageQueue const& q = bins_[pg->class_index];
    if (q.first == pg && pg->next == nullptr && pg->block_size <= detail::medium_block_max)
      return;
    free_page(pg);
  }

  void free_page(Page* pg) noexcept {
    if (detail::page_is_in_full(pg))
      full_.remove(pg);
    else
      bin_remove(pg);
    detail::page_set_flags(pg, 0);
    cx_->free_page(pg);
  }

  // Moves the blocks other threads freed to local_free, and local_free to
  // an empty free list.
  void collect_page(Page* pg) noexcept {
    // relaxed: the CAS below re-validates.
    std::uintptr_t tf = pg->xthread_free.load(std::memory_order_relaxed);
    if (detail::thread_free_list(tf) != nullptr) {
      // acquire: pairs with the pushers' release; we read their links.
      while (!pg->xthread_free.compare_exchange_weak(
          tf, tf & detail::delay_mask, std::memory_order_acquire, std::memory_order_relaxed)) {
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
  void take_remote_list(Page* pg, std::uintptr_t tf) noexcept {
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
  void append_to_local_free(Page* pg, Block* list) noexcept {
    std::uint32_t count = 1;
    Block* tail = list;
    for (Block* next; (next = detail::next_of(pg, tail)) != nullptr; tail = next)
      ++count;
    detail::set_next(pg, tail, pg->local_free);
    pg->local_free = list;
    pg->used -= count;
    count_frees(pg, count);
  }

  // Returns false (and leaves the page in its bin) if remote frees arrived
  // while we switched it over.
  bool move_to_full(Page* pg) noexcept {
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
  void unfull(Page* pg, bool to_front = false) noexcept {
    full_.remove(pg);
    detail::page_set_flags(pg, detail::page_flags(pg) & ~unsigned{detail::page_in_full});
    if (to_front)
      bin_push_front(pg);
    else
      bin_push_back(pg);
    set_delay_state(pg, detail::no_delayed);
  }

  // Changes the delay state, keeping the list bits. A remote thread in
  // delayed_freeing is ringing our delayed list for this page right now:
  // the page will come back through that list, so for use_delayed and
  // no_delayed there is nothing to wait for. Only never_delayed (the heap
  // goes away, and its list with it) must wait until the push is done.
  static void set_delay_state(Page* pg, detail::DelayState state) noexcept {
    // relaxed: the CAS below re-validates.
    std::uintptr_t tf = pg->xthread_free.load(std::memory_order_relaxed);
    for (unsigned spins = 0;; ++spins) {
      std::uintptr_t const current = tf & detail::delay_mask;
      if (current == state)
        return;
      if (current == detail::delayed_freeing) {
        if (state != detail::never_delayed)
          return;
        back_off(spins);
        tf = pg->xthread_free.load(std::memory_order_relaxed); // relaxed: re-validated
        continue;
      }
      // acq_rel: release publishes xheap (written before) to remote threads
      // that see use_delayed; acquire makes a finished remote's push onto
      // our delayed list visible before we drain it (never_delayed).
      if (pg->xthread_free.compare_exchange_weak(tf, (tf & ~detail::delay_mask) | state,
                                                 std::memory_order_acq_rel,
                                                 std::memory_order_relaxed))
        return;
    }
  }

  // Frees the blocks other threads returned to full pages of ours.
  void drain_delayed() noexcept {
    detail::DelayedFreeList& list = cx_->delayed_;
    // relaxed: a cheap test; the exchange below orders.
    if (list.xhead.load(std::memory_order_relaxed) == nullptr)
      return;
    // acquire: pairs with the pushers' release.
    Block* b = list.xhead.exchange(nullptr, std::memory_order_acquire);
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
  static void wait_for_delayed_freeing(Page* pg) noexcept {
    // acquire: pairs with the release of the remote's last CAS; its write
    // happens before we free or reuse the page.
    for (unsigned spins = 0; (pg->xthread_free.load(std::memory_order_acquire) &
                              detail::delay_mask) == detail::delayed_freeing;
         ++spins)
      back_off(spins);
  }

  // Waiting for a remote thread's few instructions: spin a while, then let
  // it have the CPU (it may have lost it, above all when oversubscribed).
  static void back_off(unsigned spins) noexcept {
    if (spins < 64)
      FERROC_SPIN_PAUSE();
    else
      sched_yield();
  }

  // ---- abandon and reclaim ---------------------------------------------

  // Takes in the pages of the segment the Context just reclaimed: returns
  // what other threads freed meanwhile and queues the pages in our bins.
  void adopt_pages(Segment* seg) noexcept {
    for (std::uint32_t i = 0; i < seg->page_count; ++i) {
      Page* pg = &seg->pages[i];
      if (!pg->in_use)
        continue;
      // relaxed: read by remote threads only after use_delayed (release).
      pg->xheap.store(&cx_->delayed_, std::memory_order_relaxed);
      // acquire: pairs with the pushers' release; we read their links.
      std::uintptr_t const tf =
          pg->xthread_free.exchange(detail::no_delayed, std::memory_order_acquire);
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
  void abandon() noexcept {
    if (detached())
      return;
    drain_delayed();
    // From here on remote frees never ring our delayed list...
    for_each_page([](Page* pg) { set_delay_state(pg, detail::never_delayed); });
    // ... and those that rang it before are done: take their blocks.
    detail::DelayedFreeList& list = cx_->delayed_;
    // acquire: pairs with the pushers' release.
    for (Block* b = list.xhead.exchange(nullptr, std::memory_order_acquire); b != nullptr;) {
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
          pg->xthread_free.exchange(detail::never_delayed, std::memory_order_acquire);
      take_remote_list(pg, tf);
      pg->next = pg->prev = nullptr;
      detail::page_set_flags(pg, detail::page_flags(pg) & ~unsigned{detail::page_in_full});
      if (pg->used == 0) {
        detail::page_set_flags(pg, 0);
        cx_->free_page(pg);
      } else {
        // relaxed: no remote thread reads it in never_delayed.
        pg->xheap.store(nullptr, std::memory_order_relaxed);
      }
    });
    cx_->abandon_all();
    detach();
  }

  // Calls f on every page in our queues; f may unlink the page.
  template <class F> void for_each_page(F f) noexcept {
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

  // ---- bins and the direct array ------------------------------------------

  void bin_push_front(Page* pg) noexcept {
    bins_[pg->class_index].push_front(pg);
    update_direct(pg->class_index);
  }

  void bin_push_back(Page* pg) noexcept {
    bins_[pg->class_index].push_back(pg);
    update_direct(pg->class_index);
  }

  void bin_remove(Page* pg) noexcept {
    bins_[pg->class_index].remove(pg);
    update_direct(pg->class_index);
  }

  // Points the direct slots of class c at the first page of its bin.
  void update_direct(std::size_t c) noexcept {
    std::size_t const size = detail::class_size(c);
    if (size > detail::direct_size_max)
      return;
    Page* first = bins_[c].first != nullptr ? bins_[c].first : &detail::empty_page;
    std::size_t const lo = c == 1 ? 0 : detail::direct_index(detail::class_size(c - 1)) + 1;
    for (std::size_t i = lo; i <= detail::direct_index(size); ++i)
      direct_[i] = first;
  }

  // Hot: the fast paths read direct_ and owner_ only.
  Page* direct_[detail::direct_count];
  void const* owner_; // the Context, as pages record their owner
  // A segment of our Arenas that is not a huge block's (deallocate_if_ours).
  void const* known_segment_ = nullptr;
  Context<B>* cx_;
  detail::HeapFallback fallback_ = nullptr;
  detail::PageQueue bins_[detail::class_count];
  detail::PageQueue full_;
  std::uint32_t slow_calls_ = 0; // slow paths taken (allocations, cross-thread frees)
  std::int64_t collect_at_ = 0;  // monotonic ns when allocate_slow looks at all pages again
  std::uint32_t clock_countdown_ = detail::heap_clock_interval; // slow paths to the next clock read
};

template <BaseAlloc B> Heap(Context<B>&) -> Heap<B>;

/// Frees a block from a thread without a Heap of these Arenas: always the
/// cross-thread path (or the release of a huge block's segment).
template <BaseAlloc B> void Arenas<B>::deallocate(void* p) noexcept {
  if (p == nullptr)
    return;
  if constexpr (detail::instrumented)
    detail::instrumented_free(p, this);
  detail::Segment* seg = detail::segment_of(p);
  detail::Page* pg = seg->page_of(p);
  if (seg->kind == detail::PageKind::huge) {
    detail::release_segment_memory(*this, seg);
    return;
  }
  detail::Block* b = detail::page_has_aligned_blocks(pg) ? detail::block_start(pg, p)
                                                         : static_cast<detail::Block*>(p);
  detail::free_block_remote(pg, b);
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
