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
///     (heap/page.hpp, next_of); the keys derive from random bytes of the
///     kernel (detail/checked.hpp, random_secret);
///   - blocks of small and medium pages end in a canary and zero slack,
///     checked when the block or the one after it is freed, and a free also
///     checks the links of free neighbours: an overflow or underflow of a
///     block stops the process at that free (heap/secure_blocks.hpp);
///   - freed blocks of small and medium pages are zeroed, and checked to be
///     zero still when handed out again or when their page goes back empty:
///     a write after free stops the process then, and no freed data is
///     handed out again (heap/secure_blocks.hpp);
///   - FERROC_GUARDED_SAMPLE_RATE=N makes about one allocation in N a
///     guarded block, against inaccessible pages (detail/guarded.hpp,
///     heap/heap_guarded.hpp);
///   - where blocks and segments lie is random: the fresh blocks of a page
///     go on its free list in a random order, a page that ran dry hands out
///     fresh blocks instead of those just freed half the time, arena slots
///     and the runs of slices of large blocks are chosen at random among
///     those that fit (heap/secure_random.hpp, arena/arena_slots.hpp): an
///     exploit cannot count on one block lying next to another, nor on a
///     freed block being the next one handed out;
///   - over a base that can protect pages (ProtectBase), inaccessible guard
///     pages between segment headers and blocks, at the end of every
///     segment, around huge blocks and around the thread data of a global
///     allocator: a linear overflow or underflow faults before it reaches
///     the allocator's metadata (heap/guard_pages.hpp).
///
/// Its own faults are reported as checked mode words them ("ferroc:
/// corrupted free list at 0x...").

#include <bit>
#include <cstdint>
#include <type_traits>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"

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

/// What stands for a Random in builds without secure mode: a
/// [[no_unique_address]] member of this type takes no byte. Its members
/// only let the code that secure mode runs compile; none is called.
struct NoRandom {
  constexpr NoRandom() noexcept = default;
  constexpr explicit NoRandom(std::uint64_t) noexcept {}
  std::uint64_t next() noexcept { return 0; }
  std::uint32_t below(std::uint32_t) noexcept { return 0; }
};

/// A Random in secure builds, nothing in the others (the generator of a
/// Context, for the randomization of its pages and runs).
using SecureRandom = std::conditional_t<secure, Random, NoRandom>;

/// The SecureRandom of the object at `owner`: seeded from it in secure
/// builds; in the others nothing, at no cost.
inline SecureRandom make_secure_random(void const* owner) noexcept {
  if constexpr (secure) {
    // Objects made one after the other at one address (a Context on the
    // stack, or in the thread-local storage of a new thread) must not draw
    // the same numbers: a count of seeds so far goes into each.
    static constinit atomic<std::uintptr_t> seeds{0};
    // relaxed: only makes each seed differ; it orders nothing.
    std::uintptr_t const n = seeds.fetch_add(1, memory_order_relaxed);
    return SecureRandom{(random_seed(owner) ^ mix64(n)) | 1}; // never 0
  } else {
    return (void)owner, SecureRandom{};
  }
}

/// The starts of the runs of `count` (1..64) set bits in `bits`: bit i is
/// set when bits i..i+count-1 all are.
constexpr std::uint64_t run_starts(std::uint64_t bits, std::uint32_t count) noexcept {
  for (std::uint32_t k = 1; k < count && bits != 0; k *= 2) {
    std::uint32_t const step = min_of(k, count - k);
    bits &= bits >> step;
    if (step < k) // the last round: the run is covered
      break;
  }
  return bits;
}

/// The index of one of the set bits of `bits` (not 0), each as likely,
/// chosen by the random number `r` (its high half).
inline unsigned random_set_bit(std::uint64_t bits, std::uint64_t r) noexcept {
  auto const n = static_cast<std::uint64_t>(std::popcount(bits));
  for (auto k = ((r >> 32) * n) >> 32; k != 0; --k)
    bits &= bits - 1;
  return static_cast<unsigned>(std::countr_zero(bits));
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
