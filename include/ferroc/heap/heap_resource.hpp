// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <memory_resource>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/throw.hpp"
#include "ferroc/heap/heap.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// A memory resource over one Heap (for pmr containers on one thread).
/// `allocate` throws std::bad_alloc on failure (without exceptions: calls
/// std::terminate()).
///
/// Resources over heaps of the same Arenas compare equal: any of them can
/// free what another allocated. That takes RTTI to see that the other
/// resource is a heap_resource; built without RTTI (-fno-rtti), a resource
/// compares equal to itself only, which is always safe (a container then
/// copies instead of stealing memory across resources).
///
/// Not thread-safe, as its Heap is not: allocate and free on the heap's
/// thread only.
///
/// @tparam B the base allocator of the heap's Arenas.
template <BaseAlloc B> class heap_resource final : public std::pmr::memory_resource {
public:
  /// A resource over `heap`, which must outlive it. Never throws.
  explicit heap_resource(Heap<B>& heap) noexcept : heap_(&heap) {}
  /// The Heap it allocates from. Never throws.
  Heap<B>& heap() const noexcept { return *heap_; }

  /// The non-throwing allocation: `heap().try_allocate(bytes, align)`,
  /// nullptr on failure. Never throws. Heap's thread only.
  [[nodiscard]] void* try_allocate(std::size_t bytes,
                                   std::size_t align = alignof(std::max_align_t)) noexcept {
    return heap_->try_allocate(bytes, align);
  }

  /// Frees a block of any heap of the same Arenas; nullptr does nothing.
  /// No size needed (the memory_resource overload with a size stays
  /// available). Never throws. Heap's thread only.
  void deallocate(void* p) noexcept { heap_->deallocate(p); }
  using std::pmr::memory_resource::deallocate;

private:
  void* do_allocate(std::size_t bytes, std::size_t align) override {
    void* p = heap_->try_allocate(bytes, align);
    if (p == nullptr)
      detail::throw_bad_alloc();
    return p;
  }
  void do_deallocate(void* p, std::size_t /*bytes*/, std::size_t /*align*/) override {
    heap_->deallocate(p);
  }
  bool do_is_equal(std::pmr::memory_resource const& other) const noexcept override {
    if (this == &other)
      return true;
#if FERROC_HAS_RTTI
    auto const* o = dynamic_cast<heap_resource const*>(&other);
    return o != nullptr && &o->heap_->context().arenas() == &heap_->context().arenas();
#else
    return false;
#endif
  }

  Heap<B>* heap_;
};

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
