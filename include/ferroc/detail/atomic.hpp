// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// The atomic types of the library: `detail::atomic<T>` and
// `detail::atomic_ref<T>` with the member functions of std::atomic and
// std::atomic_ref that the library uses, and the memory orders as
// `detail::memory_order_*`.
//
// With GCC and Clang they are the compilers' __atomic built-ins, the ones
// libstdc++ and libc++ build std::atomic from, so the code is the same; the
// point is what they spare every file that includes Ferroc: in C++20,
// <atomic> brings <string>, <system_error> and the waiting machinery of
// atomic::wait, and parsing them was half of the cost of including Ferroc
// (bench/compile_time.sh). Other compilers get std::atomic itself.
//
// With FERROC_SINGLE_THREADED=1 only one thread uses the library, so they
// become plain values behind the same member functions (the memory orders
// are accepted and ignored): no atomic instruction, no libatomic, and the
// code that uses them stays one code.

#include <cstddef>
#include <type_traits>

#include "ferroc/detail/config.hpp"

#if !defined(__GNUC__) && !defined(__clang__)
#include <atomic>
#define FERROC_STD_ATOMIC 1
#else
#define FERROC_STD_ATOMIC 0
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

// ---- memory orders ----------------------------------------------------------

#if FERROC_STD_ATOMIC
using memory_order = std::memory_order;
inline constexpr memory_order memory_order_relaxed = std::memory_order_relaxed;
inline constexpr memory_order memory_order_acquire = std::memory_order_acquire;
inline constexpr memory_order memory_order_release = std::memory_order_release;
inline constexpr memory_order memory_order_acq_rel = std::memory_order_acq_rel;
inline constexpr memory_order memory_order_seq_cst = std::memory_order_seq_cst;
#else
/// The memory orders of std::memory_order, as the built-ins number them.
enum class memory_order : int {
  relaxed = __ATOMIC_RELAXED,
  acquire = __ATOMIC_ACQUIRE,
  release = __ATOMIC_RELEASE,
  acq_rel = __ATOMIC_ACQ_REL,
  seq_cst = __ATOMIC_SEQ_CST,
};
inline constexpr memory_order memory_order_relaxed = memory_order::relaxed;
inline constexpr memory_order memory_order_acquire = memory_order::acquire;
inline constexpr memory_order memory_order_release = memory_order::release;
inline constexpr memory_order memory_order_acq_rel = memory_order::acq_rel;
inline constexpr memory_order memory_order_seq_cst = memory_order::seq_cst;
#endif

#if FERROC_SINGLE_THREADED

/// std::atomic<T>'s interface over a plain T, for one thread.
template <class T> class atomic {
public:
  /// False: plain loads and stores, no atomic instruction.
  static constexpr bool atomic_instructions = false;
  static constexpr bool is_always_lock_free = true;

  constexpr atomic() noexcept = default;
  constexpr atomic(T value) noexcept : value_(value) {} // NOLINT: implicit like std::atomic
  atomic(atomic const&) = delete;
  atomic& operator=(atomic const&) = delete;

  T load(memory_order = memory_order_seq_cst) const noexcept { return value_; }
  void store(T value, memory_order = memory_order_seq_cst) noexcept { value_ = value; }

  T exchange(T value, memory_order = memory_order_seq_cst) noexcept { return replace(value); }

  // Never fails spuriously: there is nobody to race with.
  bool compare_exchange_strong(T& expected, T desired, memory_order, memory_order) noexcept {
    if (value_ == expected) {
      value_ = desired;
      return true;
    }
    expected = value_;
    return false;
  }
  bool compare_exchange_strong(T& expected, T desired,
                               memory_order order = memory_order_seq_cst) noexcept {
    return compare_exchange_strong(expected, desired, order, order);
  }
  bool compare_exchange_weak(T& expected, T desired, memory_order success,
                             memory_order failure) noexcept {
    return compare_exchange_strong(expected, desired, success, failure);
  }
  bool compare_exchange_weak(T& expected, T desired,
                             memory_order order = memory_order_seq_cst) noexcept {
    return compare_exchange_strong(expected, desired, order, order);
  }

  // Integers only (like std::atomic, whose pointer form is not used here).
  T fetch_add(T arg, memory_order = memory_order_seq_cst) noexcept {
    return replace(static_cast<T>(value_ + arg));
  }
  T fetch_sub(T arg, memory_order = memory_order_seq_cst) noexcept {
    return replace(static_cast<T>(value_ - arg));
  }
  T fetch_or(T arg, memory_order = memory_order_seq_cst) noexcept {
    return replace(static_cast<T>(value_ | arg));
  }
  T fetch_and(T arg, memory_order = memory_order_seq_cst) noexcept {
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

  T load(memory_order = memory_order_seq_cst) const noexcept { return *object_; }
  T fetch_or(T arg, memory_order = memory_order_seq_cst) const noexcept {
    T const old = *object_;
    *object_ = static_cast<T>(old | arg);
    return old;
  }
  T fetch_and(T arg, memory_order = memory_order_seq_cst) const noexcept {
    T const old = *object_;
    *object_ = static_cast<T>(old & arg);
    return old;
  }

private:
  T* object_;
};

#elif FERROC_STD_ATOMIC

template <class T> class atomic : public std::atomic<T> {
public:
  static constexpr bool atomic_instructions = true;
  using std::atomic<T>::atomic;
};
template <class T> using atomic_ref = std::atomic_ref<T>;

#else

/// The built-ins' failure order for a compare-exchange given one order (as
/// std::atomic derives it: no release part on failure).
constexpr int cas_failure_order(memory_order order) noexcept {
  return order == memory_order_acq_rel   ? __ATOMIC_ACQUIRE
         : order == memory_order_release ? __ATOMIC_RELAXED
                                         : static_cast<int>(order);
}

/// std::atomic<T> for the integers, pointers and bool the library uses:
/// the same layout (aligned to its size, as std::atomic is, so that a
/// 64-bit value is lock-free on 32-bit targets too) and the same code.
template <class T> class atomic {
  static_assert(std::is_integral_v<T> || std::is_pointer_v<T>,
                "ferroc: detail::atomic holds integers, bool and pointers");

public:
  /// True: every operation is an atomic instruction.
  static constexpr bool atomic_instructions = true;
  static constexpr bool is_always_lock_free = __atomic_always_lock_free(sizeof(T), 0);

  constexpr atomic() noexcept = default;
  constexpr atomic(T value) noexcept : value_(value) {} // NOLINT: implicit like std::atomic
  atomic(atomic const&) = delete;
  atomic& operator=(atomic const&) = delete;

  T load(memory_order order = memory_order_seq_cst) const noexcept {
    return __atomic_load_n(&value_, static_cast<int>(order));
  }
  void store(T value, memory_order order = memory_order_seq_cst) noexcept {
    __atomic_store_n(&value_, value, static_cast<int>(order));
  }
  T exchange(T value, memory_order order = memory_order_seq_cst) noexcept {
    return __atomic_exchange_n(&value_, value, static_cast<int>(order));
  }

  bool compare_exchange_weak(T& expected, T desired, memory_order success,
                             memory_order failure) noexcept {
    return __atomic_compare_exchange_n(&value_, &expected, desired, true, static_cast<int>(success),
                                       static_cast<int>(failure));
  }
  bool compare_exchange_weak(T& expected, T desired,
                             memory_order order = memory_order_seq_cst) noexcept {
    return __atomic_compare_exchange_n(&value_, &expected, desired, true, static_cast<int>(order),
                                       cas_failure_order(order));
  }
  bool compare_exchange_strong(T& expected, T desired, memory_order success,
                               memory_order failure) noexcept {
    return __atomic_compare_exchange_n(&value_, &expected, desired, false,
                                       static_cast<int>(success), static_cast<int>(failure));
  }
  bool compare_exchange_strong(T& expected, T desired,
                               memory_order order = memory_order_seq_cst) noexcept {
    return __atomic_compare_exchange_n(&value_, &expected, desired, false, static_cast<int>(order),
                                       cas_failure_order(order));
  }

  // Integers only: the built-ins would add bytes, not elements, to a pointer.
  T fetch_add(T arg,
              memory_order order = memory_order_seq_cst) noexcept requires std::is_integral_v<T> {
    return __atomic_fetch_add(&value_, arg, static_cast<int>(order));
  }
  T fetch_sub(T arg,
              memory_order order = memory_order_seq_cst) noexcept requires std::is_integral_v<T> {
    return __atomic_fetch_sub(&value_, arg, static_cast<int>(order));
  }
  T fetch_or(T arg,
             memory_order order = memory_order_seq_cst) noexcept requires std::is_integral_v<T> {
    return __atomic_fetch_or(&value_, arg, static_cast<int>(order));
  }
  T fetch_and(T arg,
              memory_order order = memory_order_seq_cst) noexcept requires std::is_integral_v<T> {
    return __atomic_fetch_and(&value_, arg, static_cast<int>(order));
  }

private:
  alignas(sizeof(T) > alignof(T) ? sizeof(T) : alignof(T)) T value_{};
};

/// std::atomic_ref<T> for the integers the library uses.
template <class T> class atomic_ref {
  static_assert(std::is_integral_v<T>, "ferroc: detail::atomic_ref holds integers");

public:
  static constexpr std::size_t required_alignment = sizeof(T) > alignof(T) ? sizeof(T) : alignof(T);

  explicit atomic_ref(T& object) noexcept : object_(&object) {}

  T load(memory_order order = memory_order_seq_cst) const noexcept {
    return __atomic_load_n(object_, static_cast<int>(order));
  }
  T fetch_or(T arg, memory_order order = memory_order_seq_cst) const noexcept {
    return __atomic_fetch_or(object_, arg, static_cast<int>(order));
  }
  T fetch_and(T arg, memory_order order = memory_order_seq_cst) const noexcept {
    return __atomic_fetch_and(object_, arg, static_cast<int>(order));
  }

private:
  T* object_;
};

#endif

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
