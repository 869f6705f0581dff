// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Helpers of the global-allocator tests: the scale knob, sanitizer detection,
// a small PRNG, byte patterns and a resident-set-size probe. Kept apart from
// the core tests' helpers so that this folder builds on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

// FERROC_GLOBAL_TEST_SANITIZED is 1 under AddressSanitizer, ThreadSanitizer
// or MemorySanitizer: they shadow and quarantine memory, so resident-set
// measurements say little about the allocator then.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FERROC_GLOBAL_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define FERROC_GLOBAL_TEST_SANITIZED 1
#endif
#endif
#ifndef FERROC_GLOBAL_TEST_SANITIZED
#define FERROC_GLOBAL_TEST_SANITIZED 0
#endif

// FERROC_TEST_EMULATED is 1 when the build runs its tests under an emulator
// (FERROC_EMULATED_TESTS, e.g. qemu-user): the resident set is then the
// emulator's, which keeps memory for every thread that ever ran.
#ifndef FERROC_TEST_EMULATED
#define FERROC_TEST_EMULATED 0
#endif

#include "../resident.hpp"

namespace ferroc_global_test {

inline constexpr std::size_t KiB = std::size_t{1} << 10;
inline constexpr std::size_t MiB = std::size_t{1} << 20;

// A request that no address space can serve: 1 PiB on 64-bit targets; on
// 32-bit ones just past PTRDIFF_MAX, since 2 GiB could still fit in 4 GiB.
inline constexpr std::size_t beyond_address_space =
    sizeof(std::size_t) >= 8 ? static_cast<std::size_t>(std::uint64_t{1} << 50)
                             : static_cast<std::size_t>(PTRDIFF_MAX) + 1;

// Work multiplier from the environment variable FERROC_TEST_SCALE: 1 (the
// default) is the short CI run; larger values run longer. Unparsable or
// zero values count as 1.
inline std::size_t test_scale() noexcept {
  char const* text = std::getenv("FERROC_TEST_SCALE");
  if (text == nullptr || *text == '\0')
    return 1;
  char* end = nullptr;
  unsigned long long const value = std::strtoull(text, &end, 10);
  if (end == text || value == 0)
    return 1;
  return static_cast<std::size_t>(value);
}

// splitmix64: mixes a counter into a well-spread 64-bit value.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

// A tiny reproducible generator (std distributions differ between
// standard libraries).
class Rng {
public:
  explicit Rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept { return mix64(state_++); }
  // Uniform in [0, bound); bound > 0.
  std::uint64_t below(std::uint64_t bound) noexcept { return next() % bound; }
  // Mostly small sizes, sometimes medium, rarely large: 1 B .. 256 KiB.
  std::size_t size() noexcept {
    std::uint64_t const r = below(100);
    if (r < 80)
      return 1 + static_cast<std::size_t>(below(512));
    if (r < 97)
      return 512 + static_cast<std::size_t>(below(16 * KiB));
    return 16 * KiB + static_cast<std::size_t>(below(240 * KiB));
  }

private:
  std::uint64_t state_;
};

inline bool is_aligned(void const* p, std::size_t align) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
}

// Fills [p, p + size) with words derived from `tag` (word i holds
// mix64(tag) + i; the tail bytes take the low bytes of the next word). p is
// 8-aligned, as every block of ours is. Word-sized writes keep this cheap
// under ThreadSanitizer, which instruments every access.
inline void fill(void* p, std::size_t size, std::uint64_t tag) noexcept {
  std::uint64_t const base = mix64(tag);
  auto* words = static_cast<std::uint64_t*>(p);
  std::size_t const n = size / 8;
  for (std::size_t i = 0; i < n; ++i)
    words[i] = base + i;
  auto* tail = static_cast<unsigned char*>(p) + n * 8;
  for (std::size_t i = 0; i < size % 8; ++i)
    tail[i] = static_cast<unsigned char>((base + n) >> (i * 8));
}

// True when [p, p + size) still holds what fill(p, size, tag) wrote.
inline bool holds(void const* p, std::size_t size, std::uint64_t tag) noexcept {
  std::uint64_t const base = mix64(tag);
  auto const* words = static_cast<std::uint64_t const*>(p);
  std::size_t const n = size / 8;
  for (std::size_t i = 0; i < n; ++i) {
    if (words[i] != base + i)
      return false;
  }
  auto const* tail = static_cast<unsigned char const*>(p) + n * 8;
  for (std::size_t i = 0; i < size % 8; ++i) {
    if (tail[i] != static_cast<unsigned char>((base + n) >> (i * 8)))
      return false;
  }
  return true;
}

using ferroc_resident::resident_bytes;

} // namespace ferroc_global_test
