// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// The Heap class: its public contract and its fast paths. The rest of its
// members live in part headers included at the end of this file, one
// concept each: heap_alloc.hpp (allocation slow paths), heap_queues.hpp
// (bins, direct array, full queue), heap_free.hpp (local, remote and
// delayed frees), heap_huge.hpp (huge blocks), heap_guarded.hpp (guarded
// blocks, secure mode's allocation path), heap_collect.hpp (collect,
// abandon, adopt).

#include "ferroc/detail/atomic.hpp"
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "ferroc/arena/arenas.hpp"
#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/free_checks.hpp"
#include "ferroc/detail/guarded.hpp"
#include "ferroc/heap/context.hpp"
#include "ferroc/heap/instrument.hpp"
#include "ferroc/heap/page.hpp"
#include "ferroc/heap/secure_blocks.hpp"
#include "ferroc/heap/segment.hpp"
#include "ferroc/heap/size_class.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

// Declared for the case where context.hpp is opened first: it includes
// arenas.hpp, which includes this file before context.hpp's own names are
// defined.
template <BaseAlloc B> class Context;

namespace detail {
template <BaseAlloc B> void release_segment_memory(Arenas<B>& arenas, Segment* seg) noexcept;
inline bool sized_free_fits_block(void const* p, std::size_t size,
                                  std::size_t align) noexcept; // heap_free.hpp

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
/// One per thread and not thread-safe: every member runs on the heap's own
/// thread (the one that uses its Context). Blocks it hands out may be freed
/// by any Heap (or `Arenas::deallocate`) of the same Arenas, on any thread.
/// Move-only; a moved-from Heap only frees (through the cross-thread path)
/// and returns nullptr from every allocation. No member throws.
///
/// @tparam B the base allocator of its Arenas (MmapAlloc, Static, ...).
template <BaseAlloc B> class Heap {
  using Block = detail::Block;
  using Page = detail::Page;
  using Segment = detail::Segment;

public:
  /// What `allocate_at_least` returns.
  struct Allocation {
    /// The block, or nullptr on failure.
    void* ptr;
    /// Its usable bytes, at least the requested size (0 on failure).
    std::size_t size;
  };

  /// A heap that takes its pages from `cx`, which must outlive it; at most
  /// one Heap uses a Context at a time. Allocates nothing until the first
  /// request. Never throws.
  explicit Heap(Context<B>& cx) noexcept
      : owner_(&cx), free_key_(detail::double_free_key()), cx_(&cx) {
    for (Page*& slot : direct_)
      slot = &detail::empty_page;
  }

  /// A heap with no Context: its direct array points at the empty page and
  /// every allocation lands in `fallback` (nullptr: fails). It can free any
  /// block through the cross-thread path. Global allocators start each
  /// thread on such a placeholder, so their fast path needs no "is this
  /// thread set up?" test. Never throws.
  constexpr Heap(detail::DetachedHeapTag, detail::HeapFallback fallback) noexcept
      : owner_(&detail::detached_owner_tag), cx_(nullptr), fallback_(fallback) {
    for (Page*& slot : direct_)
      slot = &detail::empty_page;
  }

  /// Takes over `other`'s pages and Context; `other` is left detached (it
  /// only frees, and every allocation from it returns nullptr). Never
  /// throws.
  Heap(Heap&& other) noexcept
      : owner_(other.owner_), free_key_(other.free_key_), known_segment_(other.known_segment_),
        cx_(other.cx_), fallback_(other.fallback_) {
    take_queues(other);
    full_ = other.full_;
    other.detach();
  }

  /// Abandons this heap's pages (as the destructor does), then takes over
  /// `other`'s as the move constructor does. Never throws.
  Heap& operator=(Heap&& other) noexcept {
    if (this != &other) {
      abandon();
      owner_ = other.owner_;
      free_key_ = other.free_key_;
      known_segment_ = other.known_segment_;
      cx_ = other.cx_;
      fallback_ = other.fallback_;
      take_queues(other);
      full_ = other.full_;
      other.detach();
    }
    return *this;
  }

  Heap(Heap const&) = delete;
  Heap& operator=(Heap const&) = delete;

  /// Blocks still alive stay valid: their segments are abandoned to the
  /// Arenas, where another Context reclaims them (and any thread may still
  /// free them). Runs on the heap's thread, or on any thread once no other
  /// thread allocates from or frees through this heap.
  ~Heap() { abandon(); }

  /// The Context it takes pages from (undefined for a detached heap, which
  /// has none). Never throws.
  Context<B>& context() const noexcept { return *cx_; }

  /// At least `size` bytes aligned to `align`, or nullptr when out of
  /// memory or `align` is above 16 and not a power of two (every block is
  /// 16-aligned, so smaller alignments are met whatever they are). Never
  /// throws. Size 0 gives a unique pointer. The non-throwing allocation of
  /// every Ferroc type has this name. Heap's thread only; O(1) when a page
  /// of the size class has a free block (the inlined fast path).
  [[nodiscard]] FERROC_MALLOC_ATTR FERROC_INLINE void*
  try_allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if constexpr (detail::instrumented)
      return allocate_instrumented(size, align, false);
    if constexpr (detail::canaries)
      return allocate_secure(size, align, false);
    return try_allocate_block(size, align);
  }

private:
  // try_allocate without instrumentation or canaries.
  FERROC_INLINE void* try_allocate_block(std::size_t size, std::size_t align) noexcept {
    if (FERROC_LIKELY(size <= detail::direct_size_max && align <= detail::min_align)) {
      Page* pg = direct_[detail::direct_index(size)];
      if (Block* b = pg->free; FERROC_LIKELY(b != nullptr)) {
        pg->free = detail::next_of(pg, b);
        if constexpr (detail::zero_on_free)
          detail::check_reused_block(pg, b);
        if constexpr (detail::free_checks)
          detail::clear_free_key(b);
        ++pg->used;
        count_alloc(pg);
        return b;
      }
    }
    return allocate_slow(size, align, false);
  }

public:
  /// As `try_allocate`, but a guarded block: the block ends (its size
  /// rounded up to 16) right against an inaccessible OS page, and after its
  /// free its pages stay inaccessible for a while, so an overflow past its
  /// end or a use after its free faults at once (detail/guarded.hpp). It
  /// costs a segment of address space and system calls. An ordinary block
  /// instead when guarded blocks are not to be had: a base without
  /// ProtectBase, checked or tracked builds, `align` above an OS page, a
  /// size past detail::guarded_size_max(), guarded_blocks_max guarded blocks
  /// in the process, or the kernel refusing. nullptr when out of memory;
  /// never throws. Heap's thread only.
  [[nodiscard]] void* try_allocate_guarded(std::size_t size,
                                           std::size_t align = alignof(std::max_align_t)) noexcept;

  /// Deprecated spelling of `try_allocate` (same contract: nullptr on
  /// failure, never throws, heap's thread only); removed in the next
  /// release.
  [[deprecated("ferroc: Heap::allocate is now Heap::try_allocate")]] [[nodiscard]] void*
  allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    return try_allocate(size, align);
  }

  /// As `try_allocate`, with the whole usable block set to zero (memory
  /// fresh from a base that gives zeroed memory is not written again).
  /// nullptr on failure; never throws. Heap's thread only.
  [[nodiscard]] FERROC_MALLOC_ATTR void*
  allocate_zeroed(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if constexpr (detail::instrumented)
      return allocate_instrumented(size, align, true);
    if constexpr (detail::canaries)
      return allocate_secure(size, align, true);
    return allocate_zeroed_block(size, align);
  }

private:
  void* allocate_zeroed_block(std::size_t size, std::size_t align) noexcept; // heap_alloc.hpp

public:
  /// As `try_allocate`, and tells how many bytes are really usable (C++23's
  /// allocate_at_least). `ptr` is nullptr (and `size` 0) on failure; never
  /// throws. Heap's thread only.
  [[nodiscard]] Allocation
  allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    void* p = try_allocate(size, align);
    return {p, p == nullptr ? 0 : usable_size(p)};
  }

  /// Frees a block of any Heap of the same Arenas, whichever thread
  /// allocated it; nullptr does nothing. Never throws. Called on this heap's
  /// thread; a block of another thread's heap goes back to its page through
  /// that page's atomic list. Freeing anything else, or twice, is undefined
  /// (checked mode stops the process with a message).
  FERROC_INLINE void deallocate(void* p) noexcept {
    if (FERROC_UNLIKELY(p == nullptr))
      return;
    deallocate_nonnull(p);
  }

  /// `deallocate` of a block whose size the caller states (C23 `free_sized`,
  /// sized `operator delete`): `size` is what the block was asked with and
  /// `align` an alignment it was asked with (or a smaller power of two).
  /// Checked mode stops the process when they do not match the block; a
  /// release build when `size` does not fit the block (above it, or under
  /// half of it: see detail/free_checks.hpp), and otherwise frees as
  /// `deallocate` does (its page already tells the block's size, so the
  /// size saves no work). nullptr does nothing. Never throws. Heap's
  /// thread only.
  void deallocate_sized(void* p, std::size_t size,
                        std::size_t align = alignof(std::max_align_t)) noexcept {
    if (p == nullptr)
      return;
    if constexpr (detail::checked) {
      detail::check_sized_free(p, size, align);
    } else if constexpr (detail::free_checks) {
      if (FERROC_UNLIKELY(!detail::sized_free_fits_block(p, size, align)))
        return detail::invalid_free(detail::Fault::wrong_size, p);
    } else {
      (void)size, (void)align;
    }
    deallocate_nonnull(p);
  }

  /// `deallocate` for a caller that has ruled out nullptr already. Never
  /// throws. Heap's thread only.
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
  /// frees into it skip the map. Returns whether `p` was freed; never
  /// throws. Heap's thread only.
  FERROC_INLINE bool deallocate_if_ours(void* p) noexcept {
    if (std::uintptr_t const tag = known_segment_tag(p); FERROC_LIKELY(tag == known_segment_)) {
      deallocate_known(tag, p);
      return true;
    }
    return deallocate_if_ours_slow(p);
  }

  /// `deallocate_if_ours` for a `free` or `operator delete` that stops on
  /// misuse: a pointer in no segment of ours (other than nullptr), and one
  /// that is not 16-byte aligned, stop the process with a message in
  /// release and checked builds (see detail/free_checks.hpp: unless
  /// FERROC_ON_INVALID_FREE=ignore, when it is left alone). Never throws.
  /// Heap's thread only.
  FERROC_INLINE void deallocate_any(void* p) noexcept {
    if (std::uintptr_t const tag = known_segment_tag(p); FERROC_LIKELY(tag == known_segment_))
      return deallocate_known(tag, p);
    deallocate_any_slow(p);
  }

  /// The fast path of `try_allocate` alone: a block of at least `size`
  /// bytes (16-byte aligned) when one is at hand, else nullptr (then call
  /// `try_allocate`). Lets a caller keep its own slow path out of line.
  /// Always nullptr in checked and tracked builds. Never throws. Heap's
  /// thread only; O(1).
  FERROC_INLINE void* try_allocate_fast(std::size_t size) noexcept {
    if constexpr (detail::instrumented)
      return nullptr;
    if constexpr (detail::canaries)
      return try_allocate_fast_secure(size);
    return try_allocate_fast_block(size);
  }

private:
  FERROC_INLINE void* try_allocate_fast_block(std::size_t size) noexcept {
    if (FERROC_LIKELY(size <= detail::direct_size_max)) {
      Page* pg = direct_[detail::direct_index(size)];
      if (Block* b = pg->free; FERROC_LIKELY(b != nullptr)) {
        pg->free = detail::next_of(pg, b);
        if constexpr (detail::zero_on_free)
          detail::check_reused_block(pg, b);
        if constexpr (detail::free_checks)
          detail::clear_free_key(b);
        ++pg->used;
        count_alloc(pg);
        return b;
      }
    }
    return nullptr;
  }

  FERROC_NOINLINE bool deallocate_if_ours_slow(void* p) noexcept; // heap_free.hpp
  FERROC_NOINLINE void deallocate_any_slow(void* p) noexcept;     // heap_free.hpp

  // Frees `p`, whose known_segment_tag is `tag`: the segment is the tag
  // less its low bits, which the compiler folds into the offsets of the
  // header fields it reads.
  FERROC_INLINE void deallocate_known(std::uintptr_t tag, void* p) noexcept {
    if constexpr (detail::instrumented)
      deallocate_instrumented(p);
    else
      deallocate_block_in(reinterpret_cast<Segment*>(tag - known_segment_low_bits), p);
  }

  // What deallocate_if_ours compares with known_segment_: the segment of
  // `p`, and with free checks also the low bits of p - 1, which are all
  // ones exactly when `p` is 16-byte aligned, as every block start is: an
  // unaligned pointer takes the slow path, which reports it, at no cost.
  static constexpr std::uintptr_t known_segment_low_bits =
      detail::free_checks ? detail::min_align - 1 : 0;
  static FERROC_INLINE std::uintptr_t known_segment_tag(void const* p) noexcept {
    return (reinterpret_cast<std::uintptr_t>(p) - 1) &
           (~detail::segment_mask | known_segment_low_bits);
  }

  // Returns block p (not checked or tracked) to its page.
  FERROC_INLINE void deallocate_block(void* p) noexcept {
    deallocate_block_in(detail::segment_of(p), p);
  }

  // deallocate_block of `p`, which is in segment `seg`.
  FERROC_INLINE void deallocate_block_in(Segment* seg, void* p) noexcept {
    Page* pg = seg->page_of(p);
    if (FERROC_LIKELY(detail::page_is_plain_local(pg, owner_))) {
      auto* b = static_cast<Block*>(p);
      if constexpr (detail::free_checks) {
        // A block that holds the key may be freed already: look closer.
        if (FERROC_UNLIKELY(detail::holds_free_key(b, free_key_)))
          return deallocate_keyed(pg, b);
        if constexpr (detail::canaries) {
          detail::check_canaries(pg, b);
          detail::check_neighbours(pg, b, free_key_);
          detail::zero_freed_block(pg, b);
        }
        detail::set_free_key(b, free_key_);
      }
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
  /// moves it. On failure returns nullptr and `p` stays valid. `p` nullptr
  /// is `try_allocate(new_size, align)`. `p` may be a block of any Heap of
  /// the same Arenas. Never throws. Heap's thread only; O(new_size) when
  /// the block moves.
  [[nodiscard]] void* reallocate(void* p, std::size_t new_size,
                                 std::size_t align = alignof(std::max_align_t)) noexcept {
    if (p == nullptr)
      return try_allocate(new_size, align);
    std::size_t const usable = usable_size(p);
    bool const aligned = (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
    if (new_size <= usable && new_size >= usable / 2 && aligned) {
      if constexpr (detail::instrumented)
        resize_in_place_instrumented(p, usable, new_size);
      if constexpr (detail::canaries)
        detail::rearm_canary(p, usable, new_size);
      return p;
    }
    void* q = try_allocate(new_size, align);
    if (q == nullptr)
      return nullptr;
    std::memcpy(q, p, detail::min_of(usable, new_size));
    deallocate(p);
    return q;
  }

  /// Bytes usable at `p` (a block of any Heap of the same Arenas), at least
  /// what was requested; 0 for nullptr, as `malloc_usable_size(NULL)`.
  /// Never throws. May run on any thread (it reads only the block's page),
  /// as long as the block stays allocated meanwhile; O(1).
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
  /// Arenas only (Arenas::stats). A detached heap reports nothing. Never
  /// throws. Heap's thread only; O(size classes).
  Stats stats() const noexcept; // heap_collect.hpp

  /// Runs delayed clean-up now: returns blocks other threads freed, frees
  /// empty pages. With `force`, also reclaims abandoned segments and gives
  /// the physical memory of free pages and empty segments back to the base.
  /// Never throws. Heap's thread only; walks every page of the heap
  /// (O(pages), and O(abandoned segments) more when forced).
  void collect(bool force = false) noexcept;

  /// Calls `fn(void* block, std::size_t usable)` for every live block of
  /// this heap's pages, in no particular order. Huge and guarded blocks (a
  /// segment of their own, which no heap owns) are not visited. It first
  /// takes in what other threads freed; a block another thread frees while
  /// the walk runs may or may not be reported. `fn` must not allocate from
  /// or free to this heap. Throws what `fn` throws (and is noexcept when
  /// `fn` is). Heap's thread only; O(pages + live blocks).
  template <class F> void visit(F&& fn) noexcept(noexcept(fn(nullptr, std::size_t{})));

  /// Frees every block of this heap at once (arena-style use): all its
  /// pages go back to their segments as if each block had been freed. Every
  /// pointer the heap handed out becomes invalid, also in other threads,
  /// which must not free them any more; huge blocks (see `visit`) stay
  /// valid and are freed one by one as usual. The pages it took over from
  /// dead heaps' segments are freed too, with blocks that other code may
  /// still hold: over Arenas where other heaps end with live blocks, give
  /// this heap a Context made with `Reclaim::none`. The heap stays usable.
  /// Never throws. Heap's thread only; O(pages).
  void destroy() noexcept;

private:
  /// `usable_size` without checked mode's view: the bytes to the block end.
  static std::size_t block_usable_size(void const* p) noexcept; // heap_alloc.hpp

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

  // Moving a heap (heap_queues.hpp): the queues go over, the source detaches.
  void take_queues(Heap const& other) noexcept;
  void detach() noexcept;

  // ---- allocation slow paths ------------------------------------------------

  Block* pop(Page* pg, bool zero) noexcept; // and the rest, in heap_alloc.hpp:
  FERROC_NOINLINE void* allocate_instrumented(std::size_t size, std::size_t align,
                                              bool zero) noexcept;
  FERROC_NOINLINE void deallocate_instrumented(void* p) noexcept;
  void resize_in_place_instrumented(void* p, std::size_t usable, std::size_t new_size) noexcept;
  FERROC_NOINLINE void* allocate_slow(std::size_t size, std::size_t align, bool zero) noexcept;
  void* allocate_generic(std::size_t size, bool zero) noexcept;
  void* allocate_aligned(std::size_t size, std::size_t align, bool zero) noexcept;

  // ---- page queues: bins, direct array, full queue (heap_queues.hpp) -------

  template <class F> void for_each_page(F f) noexcept;
  Page* find_page(std::size_t c) noexcept;
  Page* find_large_page(std::size_t c) noexcept;
  Page* search_bin(std::size_t c) noexcept;
  FERROC_NOINLINE Page* search_bin_walk(std::size_t c) noexcept;
  void init_page(Page* pg, std::size_t c) noexcept;
  bool extend_page(Page* pg) noexcept;
  bool move_to_full(Page* pg) noexcept;
  void unfull(Page* pg, bool to_front = false) noexcept;
  FERROC_NOINLINE void retire_page(Page* pg) noexcept;
  void free_page(Page* pg) noexcept;
  void bin_push_front(Page* pg) noexcept;
  void bin_push_back(Page* pg) noexcept;
  void bin_remove(Page* pg) noexcept;
  void update_direct(std::size_t c) noexcept;

  // ---- freeing (heap_free.hpp; deallocate_if_ours_slow above) --------------

  FERROC_NOINLINE void deallocate_slow(Segment* seg, Page* pg, void* p) noexcept;
  FERROC_NOINLINE void deallocate_keyed(Page* pg, Block* b) noexcept;
  bool check_slow_free(Segment* seg, Page* pg, void* p, Block* b) noexcept;
  void free_block_local(Page* pg, Block* b) noexcept;
  void collect_page(Page* pg) noexcept;
  void take_remote_list(Page* pg, std::uintptr_t tf) noexcept;
  void append_to_local_free(Page* pg, Block* list) noexcept;
  static void set_delay_state(Page* pg, detail::DelayState state) noexcept;
  void drain_delayed() noexcept;
  static void wait_for_delayed_freeing(Page* pg) noexcept;
  static void back_off(unsigned spins) noexcept;

  // ---- guarded blocks and secure mode's sampling (heap_guarded.hpp) --------

  static constexpr bool samples = detail::canaries && ProtectBase<B>;
  FERROC_INLINE void* allocate_secure(std::size_t size, std::size_t align, bool zero) noexcept;
  FERROC_INLINE void* allocate_canaried(std::size_t size, std::size_t align, bool zero) noexcept;
  FERROC_INLINE void* try_allocate_fast_secure(std::size_t size) noexcept;
  FERROC_NOINLINE void* allocate_sampled(std::size_t size, std::size_t align, bool zero) noexcept;
  void* allocate_guarded(std::size_t size, std::size_t align, bool zero) noexcept;

  // ---- huge blocks (heap_huge.hpp) -----------------------------------------

  struct HugeLayout;
  void* allocate_huge(std::size_t size, std::size_t align, bool zero) noexcept;
  static HugeLayout huge_layout(std::size_t size, std::size_t align) noexcept;
  void* try_allocate_huge(HugeLayout const& h, bool zero, bool ask_base) noexcept;
  static std::byte* align_up_ptr(std::byte* p, std::size_t align) noexcept;

  // ---- collect, abandon and adopt (heap_collect.hpp) -----------------------

  template <class F> void visit_page(Page* pg, F& fn);
  static bool remote_frees_leave_used(Page const* pg) noexcept;
  bool collect_is_due() const noexcept;
  void make_room() noexcept;
  void reclaim_abandoned() noexcept;
  void adopt_pages(Segment* seg) noexcept;
  void abandon() noexcept;

  // Hot: the fast paths read direct_ and owner_ only.
  Page* direct_[detail::direct_count];
  void const* owner_; // the Context, as pages record their owner
  // detail::double_free_key(), at hand for the free fast path (0 in a
  // detached heap, whose frees never take that path).
  std::uintptr_t free_key_ = 0;
  // known_segment_tag of a pointer into a segment of our Arenas that is not
  // a huge block's (deallocate_if_ours); 0 matches no pointer.
  std::uintptr_t known_segment_ = 0;
  Context<B>* cx_;
  detail::HeapFallback fallback_ = nullptr;
  detail::PageQueue bins_[detail::class_count];
  detail::PageQueue full_;
  std::uint32_t slow_calls_ = 0; // slow paths taken (allocations, cross-thread frees)
  std::int64_t collect_at_ = 0;  // monotonic ns when allocate_slow looks at all pages again
  std::uint32_t clock_countdown_ = detail::heap_clock_interval; // slow paths to the next clock read
  [[no_unique_address]] std::conditional_t<samples, detail::GuardedSampler, detail::Empty> sample_;
};

/// Deduces the base from the Context: `ferroc::Heap heap{cx};`.
template <BaseAlloc B> Heap(Context<B>&) -> Heap<B>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc

// The members defined out of the class, one concept per file.
#include "ferroc/heap/heap_alloc.hpp"
#include "ferroc/heap/heap_collect.hpp"
#include "ferroc/heap/heap_free.hpp"
#include "ferroc/heap/heap_guarded.hpp"
#include "ferroc/heap/heap_huge.hpp"
#include "ferroc/heap/heap_queues.hpp"
