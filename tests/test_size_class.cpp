// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Size classes (heap/size_class.hpp): every request maps to a class whose
// block is big enough, not wastefully big, and the mapping is monotone.
#include <ferroc/ferroc.hpp>
#include <ferroc/heap/size_class.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "test_util.hpp"

namespace {

using ferroc_test::KiB;
using ferroc_test::MiB;

constexpr std::size_t largest_small = ferroc::detail::small_block_max;
constexpr std::size_t largest_large = 2 * MiB;

std::size_t class_index(std::size_t size) {
  return static_cast<std::size_t>(ferroc::detail::size_class_of(size));
}

std::size_t block_size(std::size_t size) {
  return static_cast<std::size_t>(ferroc::detail::class_size(ferroc::detail::size_class_of(size)));
}

// The waste promise: below 16 bytes up to 128 B (word-granular classes),
// below 25 % of the request above that.
bool waste_is_bounded(std::size_t size, std::size_t block) {
  if (size <= 128) {
    return block - size < 16 || (size == 0 && block <= 16);
  }
  return 4 * (block - size) < size;
}

} // namespace

TEST_CASE("every small size maps to a fitting, tight class", "[size_class]") {
  std::size_t failures = 0;
  std::size_t previous_index = class_index(0);
  std::size_t previous_block = block_size(0);
  for (std::size_t size = 0; size <= largest_small; ++size) {
    const std::size_t index = class_index(size);
    const std::size_t block = block_size(size);
    // Only report the first few mismatches: 8193 sizes would drown the log.
    const bool ok = block >= size && waste_is_bounded(size, block) && index >= previous_index &&
                    block >= previous_block && block % 16 == 0 &&
                    (index == previous_index) == (block == previous_block);
    if (!ok && ++failures <= 10) {
      INFO("size " << size << " -> class " << index << " of " << block << " bytes (previous class "
                   << previous_index << " of " << previous_block << " bytes)");
      CHECK(block >= size);
      CHECK(waste_is_bounded(size, block));
      CHECK(index >= previous_index);
      CHECK(block >= previous_block);
      CHECK(block % 16 == 0);
      CHECK((index == previous_index) == (block == previous_block));
    }
    previous_index = index;
    previous_block = block;
  }
  CHECK(failures == 0);
}

TEST_CASE("the smallest sizes are word-granular", "[size_class]") {
  CHECK(block_size(0) <= 16);
  CHECK(block_size(1) == 16);
  CHECK(block_size(16) == 16);
  CHECK(block_size(17) == 32);
  for (std::size_t size = 16; size <= 128; size += 16) {
    INFO("size " << size);
    CHECK(block_size(size) == size);
  }
}

TEST_CASE("the largest small class is exactly small_block_max (16 KiB)", "[size_class]") {
  CHECK(largest_small == 16 * KiB);
  CHECK(block_size(largest_small) == largest_small);
  CHECK(block_size(largest_small - 1) == largest_small);
  CHECK(block_size(largest_small + 1) > largest_small);
}

TEST_CASE("each class is the smallest one that fits", "[size_class]") {
  // A size exactly one byte past a class's block must land in the next class,
  // and a class's own block size must map back to that class.
  std::size_t size = 1;
  std::size_t classes = 0;
  while (size <= largest_large) {
    const std::size_t index = class_index(size);
    const std::size_t block = block_size(size);
    INFO("size " << size << " -> class " << index << " of " << block << " bytes");
    REQUIRE(block >= size);
    CHECK(class_index(block) == index);
    CHECK(static_cast<std::size_t>(ferroc::detail::class_size(index)) == block);
    if (block + 1 <= largest_large) {
      CHECK(class_index(block + 1) == index + 1);
    }
    size = block + 1;
    ++classes;
  }
  // About four classes per doubling: 8 word-granular ones up to 128 B, then
  // 4 per power of two up to 2 MiB (14 doublings) - give or take a few.
  CHECK(classes >= 40);
  CHECK(classes <= 100);
}

TEST_CASE("spot checks up to 2 MiB", "[size_class]") {
  std::vector<std::size_t> sizes;
  for (std::size_t power = largest_small; power <= largest_large; power *= 2) {
    sizes.push_back(power - 1);
    sizes.push_back(power);
    sizes.push_back(power + 1);
    sizes.push_back(power + power / 4);
    sizes.push_back(power + power / 4 + 1);
    sizes.push_back(power + power / 2 + 7);
  }
  ferroc_test::Rng rng(0x5eed'c1a5'5e5ULL);
  for (int i = 0; i < 4000; ++i) {
    sizes.push_back(rng.log_uniform(largest_small, largest_large));
  }
  sizes.push_back(64 * KiB);
  sizes.push_back(largest_large);
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  sizes.erase(std::remove_if(sizes.begin(), sizes.end(),
                             [](std::size_t size) { return size > largest_large; }),
              sizes.end());

  std::size_t previous_index = class_index(largest_small);
  std::size_t previous_block = block_size(largest_small);
  std::size_t failures = 0;
  for (const std::size_t size : sizes) {
    const std::size_t index = class_index(size);
    const std::size_t block = block_size(size);
    const bool ok = block >= size && waste_is_bounded(size, block) && index >= previous_index &&
                    block >= previous_block && block % 16 == 0;
    if (!ok && ++failures <= 10) {
      INFO("size " << size << " -> class " << index << " of " << block << " bytes");
      CHECK(block >= size);
      CHECK(waste_is_bounded(size, block));
      CHECK(index >= previous_index);
      CHECK(block >= previous_block);
      CHECK(block % 16 == 0);
    }
    previous_index = index;
    previous_block = block;
  }
  CHECK(failures == 0);
  CHECK(block_size(largest_large) == largest_large);
}
