// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// LocalHeap: a heap of one's own in one object, over the process-wide
/// Arenas or over given ones, with its standard allocator and memory
/// resource.

// It lives at the top level, beside the global layer: it bundles the heap
// layer's Context and Heap, and takes its Arenas from the global layer by
// default (DefaultGlobal::arenas()). A heap/ header may not use the global
// layer, and global/ is left out of a single-threaded build, where a
// LocalHeap over given Arenas still serves.

#include <concepts>
#include <cstddef>
#include <memory_resource>

#include "ferroc/arena/arenas.hpp"
#include "ferroc/base/base_alloc.hpp"
#include "ferroc/base/os_alloc.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/throw.hpp"
#include "ferroc/heap/context.hpp"
#include "ferroc/heap/heap.hpp"
#include "ferroc/heap/heap_allocator.hpp"

#if !FERROC_SINGLE_THREADED
#include "ferroc/global/default_global.hpp"
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// What a LocalHeap does with the blocks still alive when it ends.
enum class HeapEnd {
  /// They stay valid (the default): their segments are abandoned to the
  /// Arenas, as `~Heap` does, and any thread may still free them, through
  /// any heap of the same Arenas.
  keep_blocks,
  /// They are freed at once, as `LocalHeap::destroy` does: every pointer the
  /// heap handed out becomes invalid (huge blocks excepted, see `destroy`).
  free_blocks,
};

namespace detail {

#if FERROC_CHECKED && !FERROC_SINGLE_THREADED
/// The thread that made a LocalHeap; checked mode stops the process when
/// another thread uses the heap.
class HeapThread {
public:
  HeapThread() noexcept : id_(current_thread()) {}
  void check(void const* heap) const noexcept {
    if (!same_thread(id_, current_thread()))
      report_fault(Fault::wrong_thread, heap);
  }

private:
  ThreadId id_;
};
#else
/// Nothing to remember outside checked mode (or with one thread).
struct HeapThread {
  void check(void const* /*heap*/) const noexcept {}
};
#endif

/// The memory resource of a LocalHeap: a `heap_resource` that compares
/// equal to itself only. A LocalHeap may free all its blocks at once
/// (`destroy`), so a pmr container over another resource must never take
/// over a buffer of this one (as it would from one that compares equal).
template <BaseAlloc B> class LocalHeapResource final : public std::pmr::memory_resource {
public:
  explicit LocalHeapResource(Heap<B>& heap) noexcept : heap_(&heap) {}

private:
  void* do_allocate(std::size_t bytes, std::size_t align) override {
    void* p = heap_->try_allocate(bytes, align);
    if (p == nullptr)
      throw_bad_alloc();
    return p;
  }
  void do_deallocate(void* p, std::size_t /*bytes*/, std::size_t /*align*/) override {
    heap_->deallocate(p);
  }
  bool do_is_equal(std::pmr::memory_resource const& other) const noexcept override {
    return this == &other;
  }

  Heap<B>* heap_;
};

} // namespace detail

/// A heap of one's own in one object: a Context and a Heap over the
/// process-wide allocator's Arenas (`DefaultGlobal::arenas()`) or over given
/// ones, that ends with its scope. It is mimalloc's `mi_heap_new` with
/// `mi_heap_delete` or `mi_heap_destroy`:
///
///     ferroc::LocalHeap heap;                                  // keep_blocks
///     ferroc::LocalHeap scratch{ferroc::HeapEnd::free_blocks}; // arena-style
///     std::pmr::vector<int> v{heap.resource()};
///
/// Its blocks are blocks of its Arenas: any heap of them (over the default
/// Arenas also `ferroc::DefaultGlobal`, `ferroc::allocator` and `Ferroc`)
/// frees them on any thread, and it frees theirs. What happens to the
/// blocks still alive when it ends is its HeapEnd: with `keep_blocks` they
/// stay valid; with `free_blocks` they are freed at once (as `destroy`
/// does), except huge blocks. Its Context never takes over segments that
/// dead heaps abandoned (`Reclaim::none`), so that its `destroy` frees its
/// own blocks only.
///
/// One thread: made, used and destroyed on one thread, as its Heap is (a
/// checked build, FERROC_CHECKED, stops the process when another thread
/// calls a member that says "its thread only"). Other threads may free its
/// blocks, also after it ended with `keep_blocks`. Neither copyable nor
/// movable: its allocators and resource point into it.
///
/// Size: a Context and a Heap, under 2 KiB in the default geometry (1736
/// bytes on x86-64 with GCC 12 and Clang 14; 2.8 KiB with FERROC_STAT's
/// counters), fine on a thread's stack. Nothing is allocated until the
/// first allocation.
///
/// @tparam B the base allocator of its Arenas (OsAlloc, Static, ...).
template <BaseAlloc B = OsAlloc> class LocalHeap {
public:
  /// The base allocator type of its Arenas.
  using Base = B;

#if !FERROC_SINGLE_THREADED
  /// A heap over the process-wide allocator's Arenas
  /// (`DefaultGlobal::arenas()`, constant-initialised and never destroyed);
  /// `end` tells what becomes of its live blocks when it ends. Allocates
  /// nothing and never throws. Only over OsAlloc, in a multithreaded
  /// build (the global layer's).
  explicit LocalHeap(HeapEnd end = HeapEnd::keep_blocks) noexcept requires std::same_as<B, OsAlloc>
      : LocalHeap(DefaultGlobal::arenas(), end) {}
#endif

  /// A heap over `arenas`, which must outlive it; `end` tells what becomes
  /// of its live blocks when it ends. Allocates nothing and never throws.
  explicit LocalHeap(Arenas<B>& arenas, HeapEnd end = HeapEnd::keep_blocks) noexcept
      : cx_(arenas, Reclaim::none), heap_(cx_), resource_(heap_), end_(end) {}

  LocalHeap(LocalHeap const&) = delete;
  LocalHeap& operator=(LocalHeap const&) = delete;

  /// With `free_blocks`, frees every block (`destroy`); then the Heap and
  /// the Context end, in that order: segments with live blocks are
  /// abandoned to the Arenas, the others given back. On its thread, or on
  /// any thread once no other thread uses it. Never throws.
  ~LocalHeap() {
    if (end_ == HeapEnd::free_blocks)
      heap_.destroy();
  }

  /// At least `size` bytes aligned to `align`, or nullptr when out of
  /// memory or `align` is above 16 and not a power of two (see
  /// Heap::try_allocate).
  /// Never throws. Its thread only; O(1) on the fast path.
  [[nodiscard]] FERROC_INLINE void*
  try_allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    thread_.check(this);
    return heap_.try_allocate(size, align);
  }

  /// As `try_allocate`, with the usable block set to zero. nullptr on
  /// failure; never throws. Its thread only.
  [[nodiscard]] void* allocate_zeroed(std::size_t size,
                                      std::size_t align = alignof(std::max_align_t)) noexcept {
    thread_.check(this);
    return heap_.allocate_zeroed(size, align);
  }

  /// Resizes `p` (any block of its Arenas, or nullptr), in place when it
  /// still fits, else by moving it here (see Heap::reallocate); nullptr on
  /// failure, when `p` stays valid. Never throws. Its thread only.
  [[nodiscard]] void* reallocate(void* p, std::size_t new_size,
                                 std::size_t align = alignof(std::max_align_t)) noexcept {
    thread_.check(this);
    return heap_.reallocate(p, new_size, align);
  }

  /// Frees `p`, a block of any heap of its Arenas; nullptr does nothing.
  /// Never throws. Its thread only (other threads free its blocks through
  /// their own heaps, or `Arenas::deallocate`).
  FERROC_INLINE void deallocate(void* p) noexcept {
    thread_.check(this);
    heap_.deallocate(p);
  }

  /// Bytes usable at block `p` (of any heap of its Arenas), at least what
  /// was requested; 0 for nullptr. Never throws. Any thread, while the
  /// block stays allocated; O(1).
  std::size_t usable_size(void const* p) const noexcept {
    return heap_.usable_size(p);
  }

  /// Runs delayed clean-up now: takes in the blocks other threads freed and
  /// frees empty pages; with `force`, also gives the physical memory of
  /// free pages back to the base (see Heap::collect; it takes over no dead
  /// heap's segment). Never throws. Its thread only; O(pages).
  void collect(bool force = false) noexcept {
    thread_.check(this);
    heap_.collect(force);
  }

  /// Frees every block it handed out, at once (Heap::destroy): every such
  /// pointer becomes invalid, also in other threads, which must not free
  /// them any more. Huge blocks (past `large_block_max`, 2 MiB in the
  /// default geometry: a segment of their own that no heap owns) are not
  /// freed: they stay valid until freed one by one, as always (with
  /// `free_blocks`, free them before the heap ends, or they stay allocated
  /// in the Arenas). The heap stays usable. Never throws. Its thread only;
  /// O(pages).
  void destroy() noexcept {
    thread_.check(this);
    heap_.destroy();
  }

  /// Its Heap, for the calls it does not forward (`allocate_at_least`,
  /// `deallocate_sized`, `visit`, `stats`, ...). Never throws.
  Heap<B>& heap() noexcept {
    return heap_;
  }

  /// The Arenas its blocks come from. Never throws.
  Arenas<B>& arenas() const noexcept {
    return cx_.arenas();
  }

  /// A standard Allocator of `T` bound to it, for containers on its
  /// thread: `std::vector<int, ferroc::heap_allocator<int, B>> v{heap.allocator<int>()};`
  /// (see heap_allocator; copies compare equal when bound to the same
  /// heap). Never throws.
  template <class T> heap_allocator<T, B> allocator() noexcept {
    return heap_allocator<T, B>{heap_};
  }

  /// A `std::pmr::memory_resource` bound to it, for pmr containers on its
  /// thread: `std::pmr::vector<int> v{heap.resource()};`. Its `allocate`
  /// throws std::bad_alloc (without exceptions: std::terminate()). Unlike a
  /// `heap_resource`, it compares equal to itself only: with `destroy` or
  /// `free_blocks` its blocks end with the heap, so a container over
  /// another resource copies from containers over this one instead of
  /// taking over their buffers. Valid as long as the heap. Never throws.
  std::pmr::memory_resource* resource() noexcept {
    return &resource_;
  }

private:
  // Destroyed in the reverse order: the resource, the Heap (which gives its
  // segments back to the Context and abandons it), then the Context.
  Context<B> cx_;
  Heap<B> heap_;
  detail::LocalHeapResource<B> resource_;
  HeapEnd end_;
  [[no_unique_address]] detail::HeapThread thread_;
};

/// Deduces the base from the Arenas: `ferroc::LocalHeap heap{arenas};`.
template <BaseAlloc B> LocalHeap(Arenas<B>&) -> LocalHeap<B>;
/// Deduces the base from the Arenas: `ferroc::LocalHeap heap{arenas,
/// ferroc::HeapEnd::free_blocks};`.
template <BaseAlloc B> LocalHeap(Arenas<B>&, HeapEnd) -> LocalHeap<B>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
