// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <utility>

#include "ferroc/detail/config.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Holds a T that is constructed at compile time (constinit) and never
/// destroyed, so it serves allocations before any dynamic initialiser runs
/// and after every static destructor has run.
template <class T> union NoDestroy {
  template <class... Args>
  constexpr explicit NoDestroy(Args&&... args) noexcept : value(std::forward<Args>(args)...) {}
  NoDestroy(NoDestroy const&) = delete;
  NoDestroy& operator=(NoDestroy const&) = delete;
  // Deliberately does not destroy `value`.
  constexpr ~NoDestroy() {
  } // NOLINT(modernize-use-equals-default): must stay non-trivial-free of value's dtor

  T value;
};

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
