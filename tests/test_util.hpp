// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Helpers shared by the Ferroc tests: the test scale knob, a fast
// deterministic PRNG, sanitizer detection and a resident-set-size probe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// FERROC_TEST_SANITIZED is 1 when the tests are built with AddressSanitizer,
// ThreadSanitizer or MemorySanitizer: they shadow and quarantine memory, so
// resident-set measurements say little about the allocator.
// FERROC_TEST_TSAN is 1 under ThreadSanitizer alone.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FERROC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define FERROC_TEST_SANITIZED 1
#endif
#endif
#ifndef FERROC_TEST_SANITIZED
#define FERROC_TEST_SANITIZED 0
#endif

#if defined(__SANITIZE_THREAD__)
#define FERROC_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FERROC_TEST_TSAN 1
#endif
#endif
#ifndef FERROC_TEST_TSAN
#define FERROC_TEST_TSAN 0
#endif

// FERROC_TEST_EMULATED is 1 when the build runs its tests under an emulator
// (FERROC_EMULATED_TESTS, e.g. qemu-user): the resident set is then the
// emulator's, which keeps memory for every thread that ever ran.
#ifndef FERROC_TEST_EMULATED
#define FERROC_TEST_EMULATED 0
#endif

#include "resident.hpp"

namespace ferroc_test {

inline constexpr std::size_t KiB = std::size_t{1} << 10;
inline constexpr std::size_t MiB = std::size_t{1} << 20;

// A request that no address space can serve: 1 PiB on 64-bit targets; on
// 32-bit ones just past PTRDIFF_MAX, since 2 GiB could still fit in 4 GiB.
inline constexpr std::size_t beyond_address_space =
    sizeof(std::size_t) >= 8 ? static_cast<std::size_t>(std::uint64_t{1} << 50)
                             : static_cast<std::size_t>(PTRDIFF_MAX) + 1;

// Work multiplier of the stress tests, from the environment variable
// FERROC_TEST_SCALE: 1 (the default) is the short CI run, 10 the full run.
// Values below 1 or unparsable ones count as 1.
inline std::size_t test_scale() {
  const char* text = std::getenv("FERROC_TEST_SCALE");
  if (text == nullptr || *text == '\0') {
    return 1;
  }
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || value == 0) {
    return 1;
  }
  return static_cast<std::size_t>(value);
}

// Seed of the randomized tests: FERROC_TEST_SEED when set (to replay a
// failure), else the given fixed default.
inline std::uint64_t test_seed(std::uint64_t fallback) {
  const char* text = std::getenv("FERROC_TEST_SEED");
  if (text == nullptr || *text == '\0') {
    return fallback;
  }
  return std::strtoull(text, nullptr, 0);
}

// splitmix64: a one-multiply mixer, used to seed Rng and to derive patterns.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

// xoshiro256** : fast, good enough and reproducible on every platform
// (std::uniform_int_distribution is not).
class Rng {
public:
  explicit Rng(std::uint64_t seed) noexcept {
    for (auto& word : state_) {
      seed = mix64(seed);
      word = seed;
    }
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17U;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound); bound > 0. The modulo bias is irrelevant here.
  std::uint64_t below(std::uint64_t bound) noexcept { return next() % bound; }

  // Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept {
    return lo + below(hi - lo + 1);
  }

  // Roughly log-uniform in [lo, hi]: as many sizes per doubling at any scale.
  std::size_t log_uniform(std::size_t lo, std::size_t hi) noexcept {
    unsigned lo_bits = 0;
    while ((std::size_t{2} << lo_bits) <= lo) {
      ++lo_bits;
    }
    unsigned hi_bits = lo_bits;
    while ((std::size_t{2} << hi_bits) <= hi) {
      ++hi_bits;
    }
    const unsigned bits = static_cast<unsigned>(between(lo_bits, hi_bits));
    const std::size_t base = std::size_t{1} << bits;
    std::size_t size = base + static_cast<std::size_t>(below(base));
    if (size < lo) {
      size = lo;
    }
    if (size > hi) {
      size = hi;
    }
    return size;
  }

private:
  static constexpr std::uint64_t rotl(std::uint64_t x, unsigned k) noexcept {
    return (x << k) | (x >> (64U - k));
  }

  std::uint64_t state_[4]{};
};

using ferroc_resident::resident_bytes;

inline bool is_aligned(const void* p, std::size_t align) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
}

// The test pattern: byte i of a block tagged `tag` is byte i % 8 (little
// endian) of pattern_word(tag, i / 8). Whole words are written and compared
// with 8-byte accesses, which keeps the checks cheap under sanitizers (one
// instrumented access per word, not per byte).
constexpr std::uint64_t pattern_word(std::uint64_t tag, std::size_t word) noexcept {
  return mix64(tag) ^ (std::uint64_t{word} * 0x9E3779B97F4A7C15ULL);
}

inline unsigned char pattern_byte(std::uint64_t tag, std::size_t offset) noexcept {
  return static_cast<unsigned char>(pattern_word(tag, offset / 8) >> ((offset % 8) * 8));
}

// Writes the pattern of `tag` on the bytes [begin, end) of the block at p.
inline void fill_pattern_range(void* p, std::size_t begin, std::size_t end,
                               std::uint64_t tag) noexcept {
  auto* bytes = static_cast<unsigned char*>(p);
  const std::uint64_t base = mix64(tag);
  std::size_t i = begin;
  for (; i < end && i % 8 != 0; ++i) {
    bytes[i] = pattern_byte(tag, i);
  }
  for (; i + 8 <= end; i += 8) {
    const std::uint64_t word = base ^ (std::uint64_t{i / 8} * 0x9E3779B97F4A7C15ULL);
    std::memcpy(bytes + i, &word, 8);
  }
  for (; i < end; ++i) {
    bytes[i] = pattern_byte(tag, i);
  }
}

// True when the bytes [begin, end) of the block at p hold the pattern of `tag`.
inline bool check_pattern_range(const void* p, std::size_t begin, std::size_t end,
                                std::uint64_t tag) noexcept {
  const auto* bytes = static_cast<const unsigned char*>(p);
  const std::uint64_t base = mix64(tag);
  std::size_t i = begin;
  bool ok = true;
  for (; i < end && i % 8 != 0; ++i) {
    ok = ok && bytes[i] == pattern_byte(tag, i);
  }
  for (; i + 8 <= end; i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes + i, 8);
    ok = ok && word == (base ^ (std::uint64_t{i / 8} * 0x9E3779B97F4A7C15ULL));
  }
  for (; i < end; ++i) {
    ok = ok && bytes[i] == pattern_byte(tag, i);
  }
  return ok;
}

// Fills [p, p + size) with the pattern of `tag`.
inline void fill_pattern(void* p, std::size_t size, std::uint64_t tag) noexcept {
  fill_pattern_range(p, 0, size, tag);
}

// True when [p, p + size) still holds fill_pattern(p, size, tag). A prefix of
// a filled block checks too: the pattern does not depend on the size.
inline bool check_pattern(const void* p, std::size_t size, std::uint64_t tag) noexcept {
  return check_pattern_range(p, 0, size, tag);
}

// True when every byte of [p, p + size) is `value` (compared a page at a
// time with memcmp, which sanitizers check as one range).
inline bool all_bytes_are(const void* p, std::size_t size, unsigned char value) noexcept {
  unsigned char expected[4096];
  std::memset(expected, value, sizeof expected);
  const auto* bytes = static_cast<const unsigned char*>(p);
  for (std::size_t at = 0; at < size; at += sizeof expected) {
    const std::size_t len = size - at < sizeof expected ? size - at : sizeof expected;
    if (std::memcmp(bytes + at, expected, len) != 0) {
      return false;
    }
  }
  return true;
}

} // namespace ferroc_test
