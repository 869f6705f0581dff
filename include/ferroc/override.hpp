// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Include this header in exactly ONE translation unit of a C++ program to
/// route every operator new and delete (plain, array, nothrow, sized,
/// aligned) to Ferroc's default global allocator; malloc stays as it is.
/// (Replacement allocation functions cannot be inline, hence "one TU".)
///
/// Sized forms of delete hand their size on (see Heap::deallocate_sized):
/// a checked build stops on a size that does not match the block.
///
/// Throwing forms call the new-handler in a loop and throw std::bad_alloc
/// when there is none, as the standard asks; nothrow forms return nullptr.
/// Built without exceptions, the throwing forms call std::terminate() where
/// they would throw (see detail/throw.hpp).
///
/// Any thread may call them, and a block may be deleted on any thread,
/// whichever thread allocated it. The blocks are those of the default
/// global allocator (DefaultGlobal) of the program.

#include <cstddef>
#include <cstdlib>
#include <new>

#include "ferroc/defines_export.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/free_checks.hpp"
#include "ferroc/detail/throw.hpp"
#include "ferroc/global/default_global.hpp"

/// Weak references to the C++ runtime. 1 (the drop-in libraries) reaches the
/// C++ runtime (the new-handler, the throw, the catch) through weak
/// references only, so that a C program that preloads Ferroc does not load
/// libstdc++ for it: a program that calls operator new has the runtime
/// loaded, and the references bind to it. Should operator new fail where no
/// runtime is loaded (a C program that dlopens C++ code privately), there is
/// no handler to call and nothing to throw with: the process stops with a
/// message. Default 0.
#ifndef FERROC_WEAK_CXX_RUNTIME
#define FERROC_WEAK_CXX_RUNTIME 0
#endif

#if FERROC_WEAK_CXX_RUNTIME
#include <unistd.h>

// Weak redeclarations: unresolved (null) where no C++ runtime is loaded.
// Linked with --as-needed, a weak reference does not make the library need
// libstdc++. (std::__throw_bad_alloc is libstdc++'s exported thrower.)
namespace std {
[[gnu::weak]] new_handler get_new_handler() noexcept;
[[gnu::weak, gnu::noreturn]] void __throw_bad_alloc();
} // namespace std
// The catch of the nothrow forms refers to these (clang's also to
// std::terminate); made weak as well.
__asm__(".weak __gxx_personality_v0\n\t"
        ".weak __cxa_begin_catch\n\t"
        ".weak __cxa_end_catch\n\t"
        ".weak _ZSt9terminatev");
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

// The new-handler installed now, or nullptr.
inline std::new_handler current_new_handler() noexcept {
#if FERROC_WEAK_CXX_RUNTIME
  if (&std::get_new_handler == nullptr)
    return nullptr; // no C++ runtime: nobody can have installed one
#endif
  return std::get_new_handler();
}

// operator new's failure: std::bad_alloc.
[[noreturn]] inline void new_failed() {
#if FERROC_WEAK_CXX_RUNTIME
  if (&std::__throw_bad_alloc != nullptr)
    std::__throw_bad_alloc();
  static constexpr char message[] =
      "ferroc: operator new is out of memory and no C++ runtime is loaded to throw\n";
  (void)!::write(STDERR_FILENO, message, sizeof message - 1);
  std::abort();
#else
  throw_bad_alloc();
#endif
}

FERROC_NOINLINE inline void* new_retry(std::size_t size, std::size_t align) {
  for (;;) {
    std::new_handler handler = current_new_handler();
    if (handler == nullptr)
      new_failed();
    handler();
    if (void* p = DefaultGlobal::try_allocate(size, align))
      return p;
  }
}

FERROC_INLINE void* new_impl(std::size_t size, std::size_t align) {
  if (void* p = DefaultGlobal::try_allocate(size, align); FERROC_LIKELY(p != nullptr))
    return p;
  return new_retry(size, align);
}

inline void* new_nothrow_impl(std::size_t size, std::size_t align) noexcept {
  if (void* p = DefaultGlobal::try_allocate(size, align); FERROC_LIKELY(p != nullptr))
    return p;
#if FERROC_HAS_EXCEPTIONS
  try {
    return new_retry(size, align);
  } catch (...) {
    return nullptr;
  }
#else
  // A new-handler cannot throw here: it returns (try again) or ends the
  // program. Without one, nullptr.
  while (std::new_handler handler = current_new_handler()) {
    handler();
    if (void* p = DefaultGlobal::try_allocate(size, align))
      return p;
  }
  return nullptr;
#endif
}

// A sized delete: checked builds check the size (and alignment) against the
// block, release builds that the size fits it (detail/free_checks.hpp);
// then it frees as the unsized form does, since the page tells the block's
// size anyway.
FERROC_INLINE void delete_sized(void* p, std::size_t size, std::size_t align) noexcept {
  if constexpr (checked) {
    if (p != nullptr && segment_map_contains(p))
      return DefaultGlobal::deallocate_sized(p, size, align);
  } else if constexpr (free_checks) {
    if (sized_free_is_wrong(p, size, align))
      return invalid_free(Fault::wrong_size, p);
  }
  (void)size, (void)align;
  DefaultGlobal::deallocate_any(p);
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc

/// \cond internal
#define FERROC_NEW_ALIGN alignof(std::max_align_t)
/// \endcond

/// At least `n` bytes aligned to alignof(std::max_align_t) (`new T`). Out
/// of memory, it calls the new-handler until the allocation succeeds and
/// throws std::bad_alloc when there is none.
FERROC_EXPORT void* operator new(std::size_t n) {
  return ferroc::detail::new_impl(n, FERROC_NEW_ALIGN);
}
/// As `operator new(std::size_t)`, for arrays (`new T[k]`).
FERROC_EXPORT void* operator new[](std::size_t n) {
  return ferroc::detail::new_impl(n, FERROC_NEW_ALIGN);
}
/// As `operator new(std::size_t)`, but returns nullptr where that throws
/// (`new (std::nothrow) T`). Never throws.
FERROC_EXPORT void* operator new(std::size_t n, std::nothrow_t const&) noexcept {
  return ferroc::detail::new_nothrow_impl(n, FERROC_NEW_ALIGN);
}
/// As `operator new(std::size_t, std::nothrow_t const&)`, for arrays. Never
/// throws.
FERROC_EXPORT void* operator new[](std::size_t n, std::nothrow_t const&) noexcept {
  return ferroc::detail::new_nothrow_impl(n, FERROC_NEW_ALIGN);
}
/// As `operator new(std::size_t)`, aligned to `a` (`new T` of an
/// over-aligned `T`); fails and throws as that does.
FERROC_EXPORT void* operator new(std::size_t n, std::align_val_t a) {
  return ferroc::detail::new_impl(n, static_cast<std::size_t>(a));
}
/// As `operator new(std::size_t, std::align_val_t)`, for arrays.
FERROC_EXPORT void* operator new[](std::size_t n, std::align_val_t a) {
  return ferroc::detail::new_impl(n, static_cast<std::size_t>(a));
}
/// As `operator new(std::size_t, std::align_val_t)`, but returns nullptr
/// where that throws. Never throws.
FERROC_EXPORT void* operator new(std::size_t n, std::align_val_t a,
                                 std::nothrow_t const&) noexcept {
  return ferroc::detail::new_nothrow_impl(n, static_cast<std::size_t>(a));
}
/// As `operator new(std::size_t, std::align_val_t, std::nothrow_t const&)`,
/// for arrays. Never throws.
FERROC_EXPORT void* operator new[](std::size_t n, std::align_val_t a,
                                   std::nothrow_t const&) noexcept {
  return ferroc::detail::new_nothrow_impl(n, static_cast<std::size_t>(a));
}

/// Frees `p`, a block of any form of operator new above (or of the default
/// global allocator), on any thread; nullptr does nothing. Never throws.
/// A pointer that no operator new handed out stops the process (see
/// ferroc/detail/free_checks.hpp).
FERROC_EXPORT void operator delete(void* p) noexcept {
  ferroc::DefaultGlobal::deallocate_any(p);
}
/// As `operator delete(void*)`, for arrays.
FERROC_EXPORT void operator delete[](void* p) noexcept {
  ferroc::DefaultGlobal::deallocate_any(p);
}
/// Sized delete: `n` is the size the block was asked with. A checked build
/// stops the process when it does not match the block; otherwise as
/// `operator delete(void*)`. Never throws.
FERROC_EXPORT void operator delete(void* p, std::size_t n) noexcept {
  ferroc::detail::delete_sized(p, n, FERROC_NEW_ALIGN);
}
/// As `operator delete(void*, std::size_t)`, for arrays.
FERROC_EXPORT void operator delete[](void* p, std::size_t n) noexcept {
  ferroc::detail::delete_sized(p, n, FERROC_NEW_ALIGN);
}
/// As `operator delete(void*)` (called when a constructor throws in a
/// `new (std::nothrow)` expression).
FERROC_EXPORT void operator delete(void* p, std::nothrow_t const&) noexcept {
  ferroc::DefaultGlobal::deallocate_any(p);
}
/// As `operator delete(void*)`, for arrays.
FERROC_EXPORT void operator delete[](void* p, std::nothrow_t const&) noexcept {
  ferroc::DefaultGlobal::deallocate_any(p);
}
/// As `operator delete(void*)`, for a block of an aligned operator new.
FERROC_EXPORT void operator delete(void* p, std::align_val_t) noexcept {
  ferroc::DefaultGlobal::deallocate_any(p);
}
/// As `operator delete(void*, std::align_val_t)`, for arrays.
FERROC_EXPORT void operator delete[](void* p, std::align_val_t) noexcept {
  ferroc::DefaultGlobal::deallocate_any(p);
}
/// Sized delete of a block of an aligned operator new: `n` and `a` are what
/// the block was asked with, checked as `operator delete(void*,
/// std::size_t)` checks the size. Never throws.
FERROC_EXPORT void operator delete(void* p, std::size_t n, std::align_val_t a) noexcept {
  ferroc::detail::delete_sized(p, n, static_cast<std::size_t>(a));
}
/// As `operator delete(void*, std::size_t, std::align_val_t)`, for arrays.
FERROC_EXPORT void operator delete[](void* p, std::size_t n, std::align_val_t a) noexcept {
  ferroc::detail::delete_sized(p, n, static_cast<std::size_t>(a));
}
/// As `operator delete(void*, std::align_val_t)` (called when a constructor
/// throws in an aligned `new (std::nothrow)` expression).
FERROC_EXPORT void operator delete(void* p, std::align_val_t, std::nothrow_t const&) noexcept {
  ferroc::DefaultGlobal::deallocate_any(p);
}
/// As `operator delete(void*, std::align_val_t, std::nothrow_t const&)`,
/// for arrays.
FERROC_EXPORT void operator delete[](void* p, std::align_val_t, std::nothrow_t const&) noexcept {
  ferroc::DefaultGlobal::deallocate_any(p);
}

#undef FERROC_NEW_ALIGN
