// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// The atomic types of the library. Normally they are std::atomic and
// std::atomic_ref. With FERROC_SINGLE_THREADED=1 only one thread uses the
// library, so they become plain values behind the same member functions
// (the memory orders are accepted and ignored): no atomic instruction, no
// libatomic, and the code that uses them stays one code.

#include <atomic>
#include <cstddef>

#include "ferroc/detail/config.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

#if FERROC_SINGLE_THREADED

/// std::atomic<T>'s interface over a plain T, for one thread.
template <class T> class atomic {
public:
  constexpr atomic() noexcept = default;
  constexpr atomic(T value) noexcept : value_(value) {} // NOLINT: implicit like std::atomic
  atomic(atomic const&) = delete;
  atomic& operator=(atomic const&) = delete;

  T load(std::memory_order = std::memory_order_seq_cst) const noexcept { return value_; }
  void store(T value, std::memory_order = std::memory_order_seq_cst) noexcept { value_ = value; }

  T exchange(T value, std::memory_order = std::memory_order_seq_cst) noexcept {
    T const old = value_;
    value_ = value;
    return old;
  }

  // Never fails spuriously: there is nobody to race with.
  bool compare_exchange_strong(T& expected, T desired, std::memory_order,
                               std::memory_order) noexcept {
    if (value_ == expected) {
      value_ = desired;
      return true;
    }
    expected = value_;
    return false;
  }
  bool compare_exchange_strong(T& expected, T desired,
                               std::memory_order order = std::memory_order_seq_cst) noexcept {
    return compare_exchange_strong(expected, desired, order, order);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure) noexcept {
    return compare_exchange_strong(expected, desired, success, failure);
  }
  bool compare_exchange_weak(T& expected, T desired,
                             std::memory_order order = std::memory_order_seq_cst) noexcept {
    return compare_exchange_strong(expected, desired, order, order);
  }

  // Integers only (like std::atomic, whose pointer form is not used here).
  T fetch_add(T arg, std::memory_order = std::memory_order_seq_cst) noexcept {
    return replace(static_cast<T>(value_ + arg));
  }
  T fetch_sub(T arg, std::memory_order = std::memory_order_seq_cst) noexcept {
    return replace(static_cast<T>(value_ - arg));
  }
  T fetch_or(T arg, std::memory_order = std::memory_order_seq_cst) noexcept {
    return replace(static_cast<T>(value_ | arg));
  }
  T fetch_and(T arg, std::memory_order = std::memory_order_seq_cst) noexcept {
    return replace(static_cast<T>(value_ & arg));
  }

private:
  T replace(T value) noexcept {
    T const old = value_;
    value_ = value;
    return old;
  }

  T value_{};
};

/// std::atomic_ref<T>'s interface over a plain T, for one thread.
template <class T> class atomic_ref {
public:
  static constexpr std::size_t required_alignment = alignof(T);

  explicit atomic_ref(T& object) noexcept : object_(&object) {}

  T load(std::memory_order = std::memory_order_seq_cst) const noexcept { return *object_; }
  T fetch_or(T arg, std::memory_order = std::memory_order_seq_cst) const noexcept {
    T const old = *object_;
    *object_ = static_cast<T>(old | arg);
    return old;
  }
  T fetch_and(T arg, std::memory_order = std::memory_order_seq_cst) const noexcept {
    T const old = *object_;
    *object_ = static_cast<T>(old & arg);
    return old;
  }

private:
  T* object_;
};

#else

template <class T> using atomic = std::atomic<T>;
template <class T> using atomic_ref = std::atomic_ref<T>;

#endif

/// Whether T is a std::atomic (what FERROC_SINGLE_THREADED leaves out).
template <class T> inline constexpr bool is_std_atomic = false;
template <class T> inline constexpr bool is_std_atomic<std::atomic<T>> = true;

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
