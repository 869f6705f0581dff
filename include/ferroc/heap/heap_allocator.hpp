// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
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
/// Copies compare equal when they use the same Heap. The allocator follows
/// its container on move, copy and swap, so moving a container is O(1).
/// `allocate` throws `std::bad_array_new_length` when the byte count
/// overflows and `std::bad_alloc` when the heap has no memory (built without
/// exceptions: calls std::terminate(), see detail/throw.hpp).
template <class T, BaseAlloc B> class heap_allocator {
public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;

  template <class U> struct rebind { using other = heap_allocator<U, B>; };

  heap_allocator(Heap<B>& heap) noexcept : heap_(&heap) {} // NOLINT: implicit on purpose
  template <class U>
  heap_allocator(heap_allocator<U, B> const& other) noexcept : heap_(&other.heap()) {}

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
      detail::throw_bad_array_new_length();
    void* p = heap_->allocate(n * sizeof(T), alignof(T));
    if (p == nullptr)
      detail::throw_bad_alloc();
    return static_cast<T*>(p);
  }

#if defined(__cpp_lib_allocate_at_least)
  [[nodiscard]] std::allocation_result<T*> allocate_at_least(std::size_t n) {
    T* p = allocate(n);
    return {p, heap_->usable_size(p) / sizeof(T)};
  }
#endif

  void deallocate(T* p, std::size_t /*n*/) noexcept {
    heap_->deallocate(p);
  }

  Heap<B>& heap() const noexcept {
    return *heap_;
  }

  template <class U>
  friend bool operator==(heap_allocator const& a, heap_allocator<U, B> const& b) noexcept {
    return &a.heap() == &b.heap();
  }

private:
  Heap<B>* heap_;
};

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
