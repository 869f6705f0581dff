// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// The free checks of release builds: a `free` or `delete` that Ferroc can
/// prove wrong at little cost stops the process with one line on stderr
/// (the words of checked mode: "ferroc: double free at 0x...") instead of
/// corrupting the heap. They find
///
///   - a pointer outside every segment (a stack or global address, another
///     allocator's block), in the C API's `free` and in `operator delete`
///     of the drop-in library and `ferroc/override.hpp`,
///   - a pointer that is not 16-byte aligned, or that is not the start of a
///     block on the slow path (a page in the full queue, of over-aligned
///     blocks or of another thread, a huge block),
///   - a double free, at the time of the second free: a freed block
///     carries a per-process key in its second word (the first links it
///     into its free list), which allocation clears. A free that finds the
///     key walks the page's free lists before it reports, so a live block
///     whose data happens to hold the key is freed without a word,
///   - a free of a block of a page or huge block that is free already,
///   - a sized free (free_sized, sized `operator delete`) whose size does
///     not fit the block.
///
/// The cost is four instructions per allocation and free pair on the fast
/// path (bench/RESULTS.md). What checked mode (FERROC_CHECKED) finds beyond
/// this: overflows, writes after free, interior pointers on the fast path,
/// the exact size of a sized free. Checked and tracked builds use their own
/// checks instead.
///
/// FERROC_ON_INVALID_FREE=ignore in the environment lets a program that
/// cannot be fixed keep running: the pointer is then left alone (the block,
/// if any, leaks rather than being freed twice). `abort`, the default,
/// stops. Compiling with FERROC_FREE_CHECKS=0 (CMake
/// -DFERROC_FREE_CHECKS=OFF) removes the checks.

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/track.hpp"

/// The free checks of release builds. 1 (default): on; 0: compiled out.
#ifndef FERROC_FREE_CHECKS
#define FERROC_FREE_CHECKS 1
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Whether frees are checked as this file describes: release builds only
/// (checked mode checks more, and tracking keeps freed blocks closed).
inline constexpr bool free_checks = FERROC_FREE_CHECKS != 0 && !checked && !track::enabled;

/// What an invalid free does, from FERROC_ON_INVALID_FREE (read once).
enum class InvalidFreePolicy : int { unknown, abort, ignore };

// relaxed: every thread computes the same value from the environment.
inline constinit atomic<int> invalid_free_policy{static_cast<int>(InvalidFreePolicy::unknown)};

inline InvalidFreePolicy read_invalid_free_policy() noexcept {
  auto policy = static_cast<InvalidFreePolicy>(invalid_free_policy.load(memory_order_relaxed));
  if (policy == InvalidFreePolicy::unknown) {
    // getenv allocates nothing, so it is safe inside free.
    char const* value = std::getenv("FERROC_ON_INVALID_FREE");
    policy = value != nullptr && std::strcmp(value, "ignore") == 0 ? InvalidFreePolicy::ignore
                                                                   : InvalidFreePolicy::abort;
    invalid_free_policy.store(static_cast<int>(policy), memory_order_relaxed);
  }
  return policy;
}

/// Reports fault `f` at `p` and aborts, unless FERROC_ON_INVALID_FREE is
/// `ignore`: then it returns, and the caller leaves `p` alone.
FERROC_COLD inline void invalid_free(Fault f, void const* p) noexcept {
  if (read_invalid_free_policy() == InvalidFreePolicy::ignore)
    return;
  report_fault(f, p);
}

// ---- zero-size blocks ---------------------------------------------------------

/// The bytes of the region of address space, reserved inaccessible, that
/// the C API's malloc(0) hands out unique 16-byte steps of (see
/// c_api::malloc): a read or write of a zero-size block faults. 4 MiB:
/// 262,143 blocks, then malloc(0) gives ordinary blocks. Free checks only.
inline constexpr std::size_t zero_size_region_bytes = std::size_t{4} << 20;
// The region's start (0: not reserved yet) and the offset of the next block.
// acquire/release: the start is published once, after the reservation.
inline constinit atomic<std::uintptr_t> zero_size_region{0};
// relaxed: only uniqueness matters, which the read-modify-write gives.
inline constinit atomic<std::uintptr_t> zero_size_next{0};

/// Whether `p` is a zero-size block of the C API's malloc(0).
inline bool is_zero_size_block(void const* p) noexcept {
  std::uintptr_t const start = zero_size_region.load(memory_order_acquire);
  return start != 0 && reinterpret_cast<std::uintptr_t>(p) - start < zero_size_region_bytes;
}

/// What a `free` or `operator delete` does with a pointer in no segment of
/// ours (not nullptr): checked mode and the free checks report it, a build
/// with neither leaves it alone. A zero-size block needs no freeing.
FERROC_COLD inline void free_of_foreign(void const* p) noexcept {
  if (free_checks && is_zero_size_block(p))
    return;
  if constexpr (checked)
    report_fault(Fault::foreign_pointer, p);
  else if constexpr (free_checks)
    invalid_free(Fault::foreign_pointer, p);
  else
    (void)p;
}

/// The key a freed block holds in its second word (every block has 16
/// bytes at least). Odd, so that no pointer and no zeroed memory equals it;
/// the same in every thread of the process and different in every process
/// (it derives from process_secret, which address-space randomisation
/// moves).
inline std::uintptr_t double_free_key() noexcept {
  return static_cast<std::uintptr_t>(mix64(process_secret() ^ 0x5851f42d4c957f2du)) | 1;
}

/// A freed block as the free checks see it: its link, then the key.
struct FreedBlock {
  void* next;
  std::uintptr_t key;
};

inline std::uintptr_t* free_key_slot(void* block) noexcept {
  return &static_cast<FreedBlock*>(block)->key;
}

// GCC 12 propagates a constant nullptr (deallocate_if_ours(nullptr)) into
// the free path that it never reaches and warns of the key's offset.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif

/// Whether the block at `block` holds `key` (it looks freed).
FERROC_INLINE bool holds_free_key(void* block, std::uintptr_t key) noexcept {
  return *free_key_slot(block) == key;
}

/// Marks the block at `block` freed.
FERROC_INLINE void set_free_key(void* block, std::uintptr_t key) noexcept {
  *free_key_slot(block) = key;
}

/// Marks the block at `block` handed out (after its link was read).
FERROC_INLINE void clear_free_key(void* block) noexcept {
  *free_key_slot(block) = 0;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// The size a sized free states fits a block of `block_size` bytes: not
/// above it, and not under half of it (less the 16 bytes that round the
/// smallest classes), since a block is the smallest class that holds its
/// request and reallocate keeps a block only for a size of half of it at
/// least. Blocks of over-aligned pages may be larger still: callers skip
/// the lower bound there.
FERROC_INLINE bool sized_free_fits(std::size_t size, std::size_t block_size,
                                   bool over_aligned) noexcept {
  return size <= block_size && (over_aligned || 2 * size + 2 * min_align >= block_size);
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
