// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"

// Size classes: multiples of 16 bytes up to 128 B (16 keeps every block
// aligned for max_align_t, as malloc promises), then four classes per power
// of two, so a block wastes less than a quarter of its size. The largest
// class is large_block_max (2 MiB by default); anything larger is a huge
// block.
namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

inline constexpr std::size_t exact_class_max = 128;
inline constexpr std::size_t exact_class_count = exact_class_max / min_align; // classes 1..8

/// Class index of a (non-huge) size; size 0 shares class 1 with sizes 1..16.
FERROC_INLINE constexpr std::size_t size_class_of(std::size_t size) noexcept {
  if (size <= exact_class_max)
    return size == 0 ? 1 : (size + min_align - 1) / min_align;
  // For size in (2^b, 2^(b+1)], the four classes are 2^b * 5/4, 6/4, 7/4, 8/4.
  std::size_t const w = size - 1;
  auto const b = static_cast<std::size_t>(std::bit_width(w)) - 1;
  return exact_class_count + 1 + (b - 7) * 4 + ((w >> (b - 2)) & 3);
}

/// Block size of a class index.
constexpr std::size_t class_size(std::size_t index) noexcept {
  if (index <= exact_class_count)
    return index * min_align;
  std::size_t const i = index - exact_class_count - 1;
  std::size_t const b = 7 + i / 4;
  return (std::size_t{1} << b) + ((i % 4 + 1) << (b - 2));
}

inline constexpr std::size_t class_count = size_class_of(large_block_max) + 1;
inline constexpr std::size_t direct_count = direct_size_max / min_align + 1;

/// Slot of a small size in a Heap's direct page array.
FERROC_INLINE constexpr std::size_t direct_index(std::size_t size) noexcept {
  return (size + min_align - 1) / min_align;
}

// The page kinds and the direct array end exactly on a class boundary (they
// are powers of two of at least 128).
static_assert(class_size(size_class_of(large_block_max)) == large_block_max);
static_assert(class_size(size_class_of(direct_size_max)) == direct_size_max);
static_assert(class_size(size_class_of(small_block_max)) == small_block_max);
static_assert(class_size(size_class_of(medium_block_max)) == medium_block_max);
static_assert(size_class_of(129) == exact_class_count + 1 && class_size(9) == 160);
static_assert(class_count <= 256, "a page keeps its class index in one byte");

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
