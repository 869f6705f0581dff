// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
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
template <class T, class G> class global_allocator {
public:
  using value_type = T;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using propagate_on_container_move_assignment = std::true_type;
  using is_always_equal = std::true_type;

  template <class U> struct rebind { using other = global_allocator<U, G>; };

  constexpr global_allocator() noexcept = default;
  template <class U> constexpr global_allocator(global_allocator<U, G> const& /*other*/) noexcept {}

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
      detail::throw_bad_array_new_length();
    void* p = G::try_allocate(n * sizeof(T), alignof(T));
    if (p == nullptr)
      detail::throw_bad_alloc();
    return static_cast<T*>(p);
  }

#if defined(__cpp_lib_allocate_at_least)
  [[nodiscard]] std::allocation_result<T*> allocate_at_least(std::size_t n) {
    T* p = allocate(n);
    return {p, G::usable_size(p) / sizeof(T)};
  }
#endif

  void deallocate(T* p, std::size_t /*n*/) noexcept {
    G::deallocate(p);
  }

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
