// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// A standard Allocator over one Heap, `heap_allocator`.

#include <cstddef>
#include <limits>
#include <version>
#if defined(__cpp_lib_allocate_at_least)
#include <memory> // std::allocation_result
#endif
#include <new>
#include <type_traits>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/throw.hpp"
#include "ferroc/heap/heap.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// A standard Allocator over one Heap, for containers that live on one
/// thread: `std::vector<int, ferroc::heap_allocator<int, ferroc::MmapAlloc>> v{heap};`
///
/// Copies compare equal when they use the same Heap. Like
/// `std::pmr::polymorphic_allocator`, the allocator stays with its container:
/// it is not propagated on copy assignment, move assignment or swap, since a
/// Heap belongs to one thread and a container assigned from another
/// thread's container must keep allocating from its own thread's heap. So
/// `mine = other;` copies the elements into blocks of `mine`'s heap, and
/// `mine = std::move(other);` steals `other`'s buffer only when both use
/// the same Heap (otherwise it moves the elements one by one). Swapping two
/// containers over different heaps is undefined behaviour, as for pmr
/// containers over different resources. A container copy-constructed from
/// another takes the other's allocator (the standard's default), and with
/// it the other's heap: construct it with your own allocator instead where
/// the heaps differ (`Vec mine(other, my_alloc)`).
///
/// `allocate` throws `std::bad_array_new_length` when the byte count
/// overflows and `std::bad_alloc` when the heap has no memory (built without
/// exceptions: calls std::terminate(), see detail/throw.hpp).
///
/// Not thread-safe, as its Heap is not: `allocate` and `deallocate` run on
/// the heap's thread only, so a container over it grows, shrinks and is
/// destroyed there.
template <class T, BaseAlloc B> class heap_allocator {
public:
  /// The element type.
  using value_type = T;
  /// false: a container assigned from another keeps its own allocator.
  using propagate_on_container_copy_assignment = std::false_type;
  /// false: a container assigned from another keeps its own allocator (and
  /// takes the other's buffer only when both use the same Heap).
  using propagate_on_container_move_assignment = std::false_type;
  /// false: swapping containers over different heaps is undefined.
  using propagate_on_container_swap = std::false_type;
  /// false: allocators over different heaps compare unequal.
  using is_always_equal = std::false_type;

  /// The allocator of elements of type `U` over the same heap (the
  /// pre-C++20 interface; `std::allocator_traits` finds it without).
  template <class U> struct rebind {
    /// `heap_allocator<U, B>`.
    using other = heap_allocator<U, B>;
  };

  /// An allocator over `heap`, which must outlive it and every container
  /// that uses it. Implicit, so that a container can be built from a heap:
  /// `Vec v{heap};`. Never throws.
  heap_allocator(Heap<B>& heap) noexcept : heap_(&heap) {} // NOLINT: implicit on purpose
  /// The allocator of another element type over the same heap (what a
  /// container rebinds to for its nodes). Never throws.
  template <class U>
  heap_allocator(heap_allocator<U, B> const& other) noexcept : heap_(&other.heap()) {}

  /// Room for `n` objects of type `T`, aligned for `T` (over-aligned types
  /// included), from the heap; never nullptr (`n == 0` gives a unique
  /// pointer). Throws `std::bad_array_new_length` when `n * sizeof(T)`
  /// overflows and `std::bad_alloc` when the heap is out of memory (without
  /// exceptions: std::terminate()). On the heap's thread only.
  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
      detail::throw_bad_array_new_length();
    void* p = heap_->try_allocate(n * sizeof(T), alignof(T));
    if (p == nullptr)
      detail::throw_bad_alloc();
    return static_cast<T*>(p);
  }

#if defined(__cpp_lib_allocate_at_least)
  /// As `allocate`, and how many objects the block really holds, at least
  /// `n` (C++23). Throws as `allocate` does. On the heap's thread only.
  [[nodiscard]] std::allocation_result<T*> allocate_at_least(std::size_t n) {
    T* p = allocate(n);
    return {p, heap_->usable_size(p) / sizeof(T)};
  }
#endif

  /// Frees `p`, a block of any Heap of the same Arenas (the size `n` is not
  /// needed: the block's page knows it). Never throws. On the heap's
  /// thread only.
  void deallocate(T* p, std::size_t /*n*/) noexcept {
    heap_->deallocate(p);
  }

  /// The Heap it allocates from. Never throws.
  Heap<B>& heap() const noexcept {
    return *heap_;
  }

  /// Whether `a` and `b` use the same Heap: then either may free what the
  /// other allocated, as a container moved between them needs. Never throws.
  template <class U>
  friend bool operator==(heap_allocator const& a, heap_allocator<U, B> const& b) noexcept {
    return &a.heap() == &b.heap();
  }

private:
  Heap<B>* heap_;
};

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
