// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Secure mode (FERROC_SECURE=1, CMake -DFERROC_SECURE=ON, or preload
/// `libferroc-secure.so`): mitigations against the exploitation of heap
/// bugs, on top of the free checks of every release build
/// (detail/free_checks.hpp), at a cost in speed (bench/RESULTS.md). What
/// each mitigation stops is in docs/security.md:
///
///   - free-list links are stored encoded with a per-page key and checked
///     when followed: a link that a write after free overwrote, or that an
///     attacker forged without the key, stops the process at the next
///     allocation from its page instead of handing out arbitrary memory
///     (heap/page.hpp, next_of);
///   - blocks of small and medium pages end in a canary, checked when the
///     block or the one after it is freed: an overflow or underflow of a
///     block stops the process at that free (heap/page.hpp, canaries);
///   - freed blocks of small and medium pages are zeroed, and checked to be
///     zero still when handed out again: a write after free stops the
///     process then, and no freed data is handed out again
///     (heap/page.hpp, zero_on_free);
///   - over a base that can protect pages (ProtectBase), inaccessible guard
///     pages between segment headers and blocks, at the end of every
///     segment, around huge blocks and around the thread data of a global
///     allocator: a linear overflow or underflow faults before it reaches
///     the allocator's metadata (heap/guard_pages.hpp).
///
/// Its own faults are reported as checked mode words them ("ferroc:
/// corrupted free list at 0x...").

#include <cstdint>

#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"

/// Secure mode. 1: the mitigations this file lists; 0 (default): none.
#ifndef FERROC_SECURE
#define FERROC_SECURE 0
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

inline constexpr bool secure = FERROC_SECURE != 0;

/// Whether free-list links are stored encoded (detail/checked.hpp's
/// encode_link) and validated when followed: checked and secure builds.
inline constexpr bool encoded_links = checked || secure;

/// A fast generator of random numbers (xorshift64*), one per Heap: not for
/// cryptography, but an attacker who cannot read the heap's memory cannot
/// predict it. Seeded from the process secret and the heap's address.
struct Random {
  std::uint64_t state;

  std::uint64_t next() noexcept {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545f4914f6cdd1du;
  }

  /// A number in [0, bound), bound > 0 (Lemire's multiply; the bias is
  /// below 2^-32 for the bounds here).
  std::uint32_t below(std::uint32_t bound) noexcept {
    return static_cast<std::uint32_t>(((next() >> 32) * bound) >> 32);
  }
};

/// A seed for the Random of the object at `owner`.
inline std::uint64_t random_seed(void const* owner) noexcept {
  return mix64(process_secret() ^ reinterpret_cast<std::uintptr_t>(owner)) | 1; // never 0
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
