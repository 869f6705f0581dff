// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// How the C++ adapters (heap_allocator, allocator, the pmr resources,
// operator new) report a failure the standard says they throw. With
// exceptions they throw std::bad_alloc or std::bad_array_new_length. Built
// without exceptions (-fno-exceptions) they call std::terminate() instead,
// which runs the terminate handler (std::set_terminate) and by default
// aborts; the nothrow forms of operator new return nullptr, and the core
// (Heap, Global, the C API) returns nullptr everywhere, as always.

#include <exception>
#include <new>

#include "ferroc/detail/config.hpp"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define FERROC_HAS_EXCEPTIONS 1
#else
#define FERROC_HAS_EXCEPTIONS 0
#endif

#if defined(__cpp_rtti) || defined(__GXX_RTTI) || defined(_CPPRTTI)
#define FERROC_HAS_RTTI 1
#else
#define FERROC_HAS_RTTI 0
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// std::bad_alloc, or std::terminate() without exceptions.
[[noreturn]] inline void throw_bad_alloc() {
#if FERROC_HAS_EXCEPTIONS
  throw std::bad_alloc();
#else
  std::terminate();
#endif
}

/// std::bad_array_new_length, or std::terminate() without exceptions.
[[noreturn]] inline void throw_bad_array_new_length() {
#if FERROC_HAS_EXCEPTIONS
  throw std::bad_array_new_length();
#else
  std::terminate();
#endif
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
