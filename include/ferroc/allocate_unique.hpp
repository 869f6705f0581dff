// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// `allocate_unique`: a `std::unique_ptr` to an object in memory of any
/// standard Allocator, and its deleter `allocator_delete` (as proposed for
/// the standard in P0211).

// Needs nothing of the allocator's layers: it works with any standard
// Allocator (ferroc::allocator, heap_allocator, std::pmr::polymorphic_allocator,
// std::allocator, ...).

#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

#include "ferroc/detail/config.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

namespace detail {
/// `Alloc` rebound to allocate `T`.
template <class Alloc, class T>
using rebind_alloc = typename std::allocator_traits<Alloc>::template rebind_alloc<T>;
} // namespace detail

/// The deleter of the `std::unique_ptr` that `allocate_unique` returns:
/// destroys the object and frees its memory with its own copy of the
/// allocator (`std::allocator_traits<Alloc>::destroy`, then `deallocate`
/// of one object). Over a stateless allocator (`ferroc::allocator`) it is
/// empty, and the `unique_ptr` is the size of a pointer.
///
/// @tparam Alloc a standard Allocator whose `value_type` is the object's
///   type.
template <class Alloc> class allocator_delete {
  using traits = std::allocator_traits<Alloc>;

public:
  /// The allocator type.
  using allocator_type = Alloc;
  /// The allocator's pointer type, which the `unique_ptr` holds.
  using pointer = typename traits::pointer;

  /// A deleter with a default-constructed allocator, for an empty
  /// `unique_ptr` (only for an allocator that has a default constructor).
  /// Throws what that constructor throws.
  allocator_delete() requires std::default_initializable<Alloc>
  = default;

  /// A deleter that frees with a copy of `alloc`. Never throws (an
  /// Allocator's copy does not).
  explicit allocator_delete(Alloc const& alloc) noexcept : alloc_(alloc) {}

  /// Destroys `*p` and frees its memory. `p` is an object that
  /// `allocate_unique` made with an allocator equal to this one; not null
  /// (`std::unique_ptr` never passes null). Never throws (a destructor that
  /// throws ends the program); on the thread the allocator may free on.
  void operator()(pointer p) noexcept {
    traits::destroy(alloc_, std::to_address(p));
    traits::deallocate(alloc_, p, 1);
  }

  /// The allocator it frees with. Never throws.
  Alloc& get_allocator() noexcept { return alloc_; }
  /// The allocator it frees with. Never throws.
  Alloc const& get_allocator() const noexcept { return alloc_; }

private:
  [[no_unique_address]] Alloc alloc_;
};

/// Allocates one `T` with `alloc` (rebound to `T`), constructs it from
/// `args` and returns it in a `std::unique_ptr` whose deleter destroys and
/// frees it with a copy of the allocator:
///
///     auto p = ferroc::allocate_unique<Widget>(ferroc::allocator<Widget>{}, 1, 2);
///     std::pmr::polymorphic_allocator<> pa{heap.resource()};
///     auto q = ferroc::allocate_unique<std::pmr::string>(pa, "a string on the heap");
///
/// The object is constructed with `std::allocator_traits::construct`, so a
/// `std::pmr::polymorphic_allocator` passes itself on to a `T` that uses an
/// allocator. Exception-safe: when the construction throws, the memory is
/// freed and the exception passed on. Single objects only: `T[]` and `T[N]`
/// are rejected (no overload).
///
/// Throws what the allocator's `allocate` throws (`std::bad_alloc` from the
/// Ferroc allocators) and what `T`'s constructor throws. Thread-safety and
/// complexity are the allocator's and the constructor's.
///
/// @tparam T the object's type (not an array).
/// @tparam Alloc a standard Allocator of any value type.
template <class T, class Alloc, class... Args>
[[nodiscard]] std::unique_ptr<T, allocator_delete<detail::rebind_alloc<Alloc, T>>>
allocate_unique(Alloc const& alloc, Args&&... args) requires(!std::is_array_v<T>) {
  using A = detail::rebind_alloc<Alloc, T>;
  using traits = std::allocator_traits<A>;
  A a(alloc);
  typename traits::pointer p = traits::allocate(a, 1);
  // Frees the memory when the construction throws.
  struct Guard {
    A& a;
    typename traits::pointer p;
    ~Guard() {
      if (p != nullptr)
        traits::deallocate(a, p, 1);
    }
  } guard{a, p};
  traits::construct(a, std::to_address(p), std::forward<Args>(args)...);
  guard.p = nullptr;
  return std::unique_ptr<T, allocator_delete<A>>(p, allocator_delete<A>(a));
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
