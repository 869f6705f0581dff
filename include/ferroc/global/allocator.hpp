// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <limits>
#include <version>
#if defined(__cpp_lib_allocate_at_least)
#include <memory> // std::allocation_result
#endif
#include <new>
#include <type_traits>

#include "ferroc/detail/config.hpp"
#include "ferroc/detail/throw.hpp"
#include "ferroc/global/default_global.hpp"
#include "ferroc/global/global.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// A stateless standard Allocator over a global allocator `G` (a
/// `Global<...>` instantiation). All instances compare equal.
///
/// `allocate` never returns null: it throws `std::bad_array_new_length` when
/// `n * sizeof(T)` overflows and `std::bad_alloc` when out of memory (built
/// without exceptions: calls std::terminate(), see detail/throw.hpp).
/// Over-aligned types get blocks with their alignment.
///
/// Thread-safe: any thread may allocate and free through any instance,
/// and free what another thread allocated.
///
/// @tparam T the element type.
/// @tparam G a `Global<...>` instantiation.
template <class T, class G> class global_allocator {
public:
  /// The element type.
  using value_type = T;
  /// `std::size_t`.
  using size_type = std::size_t;
  /// `std::ptrdiff_t`.
  using difference_type = std::ptrdiff_t;
  /// true: all instances are interchangeable, so a moved-to container takes
  /// the other's buffer.
  using propagate_on_container_move_assignment = std::true_type;
  /// true: every instance can free what any other allocated.
  using is_always_equal = std::true_type;

  /// The allocator of elements of type `U` over the same Global (the
  /// pre-C++20 interface; `std::allocator_traits` finds it without).
  template <class U> struct rebind {
    /// `global_allocator<U, G>`.
    using other = global_allocator<U, G>;
  };

  /// Stateless: nothing to set up. Never throws.
  constexpr global_allocator() noexcept = default;
  /// The allocator of another element type (what a container rebinds to).
  /// Never throws.
  template <class U> constexpr global_allocator(global_allocator<U, G> const& /*other*/) noexcept {}

  /// Room for `n` objects of type `T`, aligned for `T`; never nullptr
  /// (`n == 0` gives a unique pointer). Throws `std::bad_array_new_length`
  /// when `n * sizeof(T)` overflows and `std::bad_alloc` when out of memory
  /// (without exceptions: std::terminate()). Any thread.

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
      detail::throw_bad_array_new_length();
    void* p = G::try_allocate(n * sizeof(T), alignof(T));
    if (p == nullptr)
      detail::throw_bad_alloc();
    return static_cast<T*>(p);
  }

#if defined(__cpp_lib_allocate_at_least)
  /// As `allocate`, and how many objects the block really holds, at least
  /// `n` (C++23). Throws as `allocate` does. Any thread.
  [[nodiscard]] std::allocation_result<T*> allocate_at_least(std::size_t n) {
    T* p = allocate(n);
    return {p, G::usable_size(p) / sizeof(T)};
  }
#endif

  /// Frees `p` (the size `n` is not needed), from any thread. Never throws.
  void deallocate(T* p, std::size_t /*n*/) noexcept {
    G::deallocate(p);
  }

  /// Always true: any instance frees what another allocated. Never throws.
  template <class U>
  friend constexpr bool operator==(global_allocator const& /*a*/,
                                   global_allocator<U, G> const& /*b*/) noexcept {
    return true;
  }
};

/// Stateless standard Allocator over the default global allocator
/// (`DefaultGlobal`): `std::vector<int, ferroc::allocator<int>>`.
template <class T> using allocator = global_allocator<T, DefaultGlobal>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
