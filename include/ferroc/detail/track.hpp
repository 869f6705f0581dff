// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Tracking: tells a memory checker (Valgrind memcheck or AddressSanitizer)
/// which bytes of our memory are blocks a program may touch. Its
/// use-after-free, overflow and leak reports then cover Ferroc's blocks as
/// they cover malloc's. FERROC_TRACK_VALGRIND or FERROC_TRACK_ASAN turns it
/// on (one at most; CMake: -DFERROC_TRACK=valgrind or asan).
///
/// Off (the default) every hook is an empty inline function. On, the
/// allocation fast paths take the instrumented path of Heap instead.

// The allocator itself reads and writes free blocks (their list links,
// checked mode's trailer): it opens such bytes with `allow` for the access
// and closes them again with `forbid`.

#include <cstddef>

#include "ferroc/detail/config.hpp"

/// Tracking for Valgrind memcheck. 1: client requests. Each Arenas is a memory pool whose
/// chunks are the live blocks (so destroying an Arenas frees them all, as it
/// does), and free blocks are no-access. Needs `<valgrind/memcheck.h>` and
/// runs at full speed outside Valgrind. Default 0.
#ifndef FERROC_TRACK_VALGRIND
#define FERROC_TRACK_VALGRIND 0
#endif
/// Tracking for AddressSanitizer. 1: poisoning (build with
/// -fsanitize=address): freed and never-used blocks are poisoned. Default 0.
#ifndef FERROC_TRACK_ASAN
#define FERROC_TRACK_ASAN 0
#endif

#if FERROC_TRACK_VALGRIND && FERROC_TRACK_ASAN
#error "FERROC_TRACK_VALGRIND and FERROC_TRACK_ASAN exclude each other"
#endif

#if FERROC_TRACK_VALGRIND
#include <valgrind/memcheck.h>
#elif FERROC_TRACK_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail::track {

inline constexpr bool enabled = FERROC_TRACK_VALGRIND || FERROC_TRACK_ASAN;

// The checkers' macros expand to casts and statements the warnings flag;
// they are confined to these few functions.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-value"
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
#endif

/// The pool of blocks of the Arenas at `pool` begins (before its first block).
inline void create_pool([[maybe_unused]] void const* pool) noexcept {
#if FERROC_TRACK_VALGRIND
  VALGRIND_CREATE_MEMPOOL(pool, 0, 0);
#endif
}

/// The Arenas at `pool` is destroyed, with every block still in it.
inline void destroy_pool([[maybe_unused]] void const* pool) noexcept {
#if FERROC_TRACK_VALGRIND
  VALGRIND_DESTROY_MEMPOOL(pool);
#endif
}

/// `size` bytes at `p`, in the pool of Arenas `pool`, became a live block
/// (`zeroed`: they read as zero).
inline void allocated([[maybe_unused]] void const* pool, [[maybe_unused]] void const* p,
                      [[maybe_unused]] std::size_t size, [[maybe_unused]] bool zeroed) noexcept {
#if FERROC_TRACK_VALGRIND
  VALGRIND_MEMPOOL_ALLOC(pool, p, size);
  if (zeroed)
    VALGRIND_MAKE_MEM_DEFINED(p, size);
#elif FERROC_TRACK_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
}

/// The live block at `p` of `size` bytes was freed.
inline void freed([[maybe_unused]] void const* pool, [[maybe_unused]] void const* p,
                  [[maybe_unused]] std::size_t size) noexcept {
#if FERROC_TRACK_VALGRIND
  VALGRIND_MEMPOOL_FREE(pool, p);
  VALGRIND_MAKE_MEM_NOACCESS(p, size);
#elif FERROC_TRACK_ASAN
  ASAN_POISON_MEMORY_REGION(p, size);
#endif
}

/// The live block at `p` stays where it is, resized from `old_size` to
/// `new_size` bytes.
inline void resized([[maybe_unused]] void const* pool, [[maybe_unused]] void const* p,
                    [[maybe_unused]] std::size_t old_size,
                    [[maybe_unused]] std::size_t new_size) noexcept {
#if FERROC_TRACK_VALGRIND
  VALGRIND_MEMPOOL_CHANGE(pool, p, p, new_size);
  if (new_size < old_size)
    VALGRIND_MAKE_MEM_NOACCESS(static_cast<char const*>(p) + new_size, old_size - new_size);
#elif FERROC_TRACK_ASAN
  if (new_size < old_size)
    ASAN_POISON_MEMORY_REGION(static_cast<char const*>(p) + new_size, old_size - new_size);
  else
    ASAN_UNPOISON_MEMORY_REGION(p, new_size);
#endif
}

/// Opens bytes of a free block for the allocator's own access.
inline void allow([[maybe_unused]] void const* p, [[maybe_unused]] std::size_t size) noexcept {
#if FERROC_TRACK_VALGRIND
  VALGRIND_MAKE_MEM_DEFINED(p, size);
#elif FERROC_TRACK_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
}

/// Closes bytes no program may touch (free blocks, trailers).
inline void forbid([[maybe_unused]] void const* p, [[maybe_unused]] std::size_t size) noexcept {
#if FERROC_TRACK_VALGRIND
  VALGRIND_MAKE_MEM_NOACCESS(p, size);
#elif FERROC_TRACK_ASAN
  ASAN_POISON_MEMORY_REGION(p, size);
#endif
}

/// Memory that goes back to plain allocator memory (a segment being set up
/// again, a page area being carved anew): accessible, whatever it was.
inline void reset(void const* p, std::size_t size) noexcept {
  allow(p, size);
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

} // namespace detail::track
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
