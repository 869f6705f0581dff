// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Secure mode's randomization of where blocks lie (detail/secure.hpp), at the
// page and segment level; the arena level (random slots) is in
// arena/arena_slots.hpp. Each Context holds the generator (one per Heap,
// only in secure builds), so that no thread ever waits for another's.
//
//   - The fresh blocks of a page go on its free list in a random order
//     (link_fresh_blocks_shuffled, from Heap::extend_page): without it,
//     blocks are handed out in address order, and a program's next two
//     allocations of a size lie side by side, which an overflow from one
//     into the other counts on.
//   - A page that ran dry, with room to extend and blocks freed to hand out
//     again, extends anyway half the time (Heap::collect_page): otherwise
//     the block freed last is the next one handed out, which a
//     use-after-free exploit counts on to place its data in a freed object.
//   - A large block's run of slices lies at a random position that fits
//     (random_run, from Context::take_large_page).
//
// A release build compiles none of this: its members are NoRandom, its
// calls stand under `if constexpr (detail::secure)`.

#include <cstddef>
#include <cstdint>

#include "ferroc/detail/config.hpp"
#include "ferroc/detail/secure.hpp"
#include "ferroc/heap/page.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// The most blocks one extension of a page carves (extend_bytes of the
/// smallest blocks): the size of the shuffle's index array on the stack.
inline constexpr std::size_t extend_max_blocks =
    max_of(extend_bytes / min_align, extend_min_blocks);

/// Links the `n` (1..extend_max_blocks) fresh blocks of `pg` from `start`
/// into a free list in a random order and returns its head: a shuffle of
/// their indices (Fisher-Yates, built forward), one random number a block.
inline Block* link_fresh_blocks_shuffled(Page const* pg, std::byte* start, std::size_t n,
                                         SecureRandom& random) noexcept {
  std::uint16_t order[extend_max_blocks];
  static_assert(extend_max_blocks <= 0xffff, "block indices fit the shuffle's array");
  order[0] = 0;
  for (std::size_t i = 1; i < n; ++i) {
    std::size_t const j = random.below(static_cast<std::uint32_t>(i + 1));
    order[i] = order[j];
    order[j] = static_cast<std::uint16_t>(i);
  }
  std::size_t const bs = pg->block_size;
  for (std::size_t i = 0; i + 1 < n; ++i)
    set_next(pg, reinterpret_cast<Block*>(start + order[i] * bs),
             reinterpret_cast<Block*>(start + order[i + 1] * bs));
  set_next(pg, reinterpret_cast<Block*>(start + order[n - 1] * bs), nullptr);
  return reinterpret_cast<Block*>(start + order[0] * bs);
}

/// Whether a page that ran dry extends before it hands out its freed
/// blocks again: half the time, at random.
inline bool extend_before_reuse(SecureRandom& random) noexcept {
  return (random.next() >> 63) != 0;
}

/// The first slice of the run of `count` slices for a large block, at
/// random among `starts` (the first slices of the free runs that fit, not
/// 0). Among those a multiple of `count` from slice 1 when there is one:
/// blocks of one size then pack as tightly as first fit packs them, where
/// a run anywhere would strand the slices before it (with blocks of 1 MiB,
/// a segment would hold two instead of three, and a process more address
/// space than it may have under an RLIMIT_AS).
inline std::uint32_t random_run(std::uint64_t starts, std::uint32_t count,
                                SecureRandom& random) noexcept {
  std::uint64_t stepped = 0;
  for (std::uint32_t i = 1; i < 64; i += count)
    stepped |= std::uint64_t{1} << i;
  if ((starts & stepped) != 0)
    starts &= stepped;
  return random_set_bit(starts, random.next());
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
