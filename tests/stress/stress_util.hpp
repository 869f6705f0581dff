// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Helpers of the standalone stress programs (stress.cpp, churn.cpp): command
// line and FERROC_TEST_SCALE parsing, a small PRNG, the block pattern that
// detects corruption, and a resident-set-size probe. No test framework: a
// failure prints what went wrong and ends the process with status 1.
#pragma once

#include <ferroc/ferroc.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

// FERROC_STRESS_SANITIZED is 1 under AddressSanitizer, ThreadSanitizer or
// MemorySanitizer: they shadow and quarantine memory, so resident-set
// measurements say little about the allocator then.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FERROC_STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define FERROC_STRESS_SANITIZED 1
#endif
#endif
#ifndef FERROC_STRESS_SANITIZED
#define FERROC_STRESS_SANITIZED 0
#endif

#include "../resident.hpp"

namespace ferroc_stress {

inline constexpr std::size_t KiB = std::size_t{1} << 10;
inline constexpr std::size_t MiB = std::size_t{1} << 20;

using Alloc = ferroc::Ferroc;         // the process-wide allocator under test
using Global = ferroc::DefaultGlobal; // its arenas, for segment statistics

// Ends the process at once. Worker threads may call it: std::exit would run
// static destructors under threads that are still working.
[[noreturn]] inline void die() noexcept {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(1);
}

// Parses a positive count, or returns 0 when `text` is not one.
inline std::size_t parse_count(char const* text) noexcept {
  if (text == nullptr || *text < '0' || *text > '9')
    return 0;
  char* end = nullptr;
  unsigned long long const value = std::strtoull(text, &end, 10);
  if (*end != '\0')
    return 0;
  return static_cast<std::size_t>(value);
}

// The work multiplier FERROC_TEST_SCALE (see tests/README.md): unset or 1 is
// the short CI run, 10 the full run. Unparsable or zero values count as 1.
inline std::size_t test_scale() noexcept {
  std::size_t const value = parse_count(std::getenv("FERROC_TEST_SCALE"));
  return value == 0 ? 1 : value;
}

// splitmix64: mixes a counter into a well-spread 64-bit value.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

// A tiny reproducible generator (std distributions differ between standard
// libraries, and std engines are slow under ThreadSanitizer).
class Rng {
public:
  explicit Rng(std::uint64_t seed) noexcept : state_(mix64(seed)) {}
  std::uint64_t next() noexcept { return mix64(state_++); }
  // Uniform in [0, bound); bound > 0.
  std::uint64_t below(std::uint64_t bound) noexcept { return next() % bound; }
  // True with probability 1 / n.
  bool one_in(std::uint64_t n) noexcept { return below(n) == 0; }

private:
  std::uint64_t state_;
};

// ---- the block pattern -----------------------------------------------------
//
// A block is an array of `words` 64-bit words. Word 0 holds the length in
// its low 32 bits and a hash of the block's address in its high 32 bits, so
// that whoever frees a block can check it without being told its size, and a
// block that lands at another address (or a length that was overwritten)
// shows. The other words hold values derived from address and length. Small
// blocks are filled completely; larger ones get their last word, one word
// picked by the hash, and one word per 4 KiB page, which also makes them
// resident like a real program's data would be.

inline constexpr std::size_t full_fill_words = 64; // blocks up to 512 bytes
inline constexpr std::size_t words_per_page = 512; // 4 KiB

inline std::uint64_t address_hash(void const* p) noexcept {
  return mix64(reinterpret_cast<std::uintptr_t>(p)) & 0xFFFF'FFFF'0000'0000ULL;
}

inline std::uint64_t body_key(void const* p, std::size_t words) noexcept {
  return mix64(reinterpret_cast<std::uintptr_t>(p) ^ (std::uint64_t{words} << 48U));
}

// Calls visit(i) for every word index past the header that the pattern covers.
template <class Visit> void for_pattern_words(std::size_t words, std::uint64_t key, Visit visit) {
  if (words <= full_fill_words) {
    for (std::size_t i = 1; i < words; ++i)
      visit(i);
    return;
  }
  for (std::size_t i = words_per_page; i < words; i += words_per_page)
    visit(i);
  visit(1 + key % (words - 1));
  visit(words - 1);
}

// Writes the pattern of a block of `words` words (1 <= words < 2^32) at p.
inline void write_pattern(void* p, std::size_t words) noexcept {
  auto* w = static_cast<std::uint64_t*>(p);
  w[0] = address_hash(p) | words;
  std::uint64_t const key = body_key(p, words);
  for_pattern_words(words, key, [&](std::size_t i) { w[i] = key + i; });
}

// Checks the pattern of the block at p and returns its length in words; a
// mismatch is reported (with `who` found it) and ends the process.
inline std::size_t check_pattern(void const* p, char const* who) noexcept {
  auto const* w = static_cast<std::uint64_t const*>(p);
  std::uint64_t const header = w[0];
  std::size_t const words = static_cast<std::size_t>(header & 0xFFFF'FFFFULL);
  std::size_t const usable = Alloc::usable_size(p);
  if ((header & 0xFFFF'FFFF'0000'0000ULL) != address_hash(p) || words == 0 || words * 8 > usable) {
    std::fprintf(stderr,
                 "%s: corrupt block header at %p: %016llx (usable size %zu, address hash "
                 "%016llx)\n",
                 who, p, static_cast<unsigned long long>(header), usable,
                 static_cast<unsigned long long>(address_hash(p)));
    die();
  }
  std::uint64_t const key = body_key(p, words);
  for_pattern_words(words, key, [&](std::size_t i) {
    if (w[i] != key + i) {
      std::fprintf(stderr,
                   "%s: corrupt block at %p (%zu bytes): word %zu is %016llx, not %016llx\n", who,
                   p, words * 8, i, static_cast<unsigned long long>(w[i]),
                   static_cast<unsigned long long>(key + i));
      die();
    }
  });
  return words;
}

// ---- memory ------------------------------------------------------------------

// To be called once every block is freed: a forced collect then reclaims
// every segment that exited threads abandoned and gives the empty ones back
// (the calling thread may keep up to two). Reports what is left and returns
// false if that is more.
inline bool check_segments_returned(char const* who) noexcept {
  Alloc::collect(true);
  std::size_t const abandoned = Global::arenas().abandoned_segments();
  std::size_t const in_use = Global::arenas().segments_in_use();
  if (abandoned != 0 || in_use > 2) {
    std::fprintf(stderr,
                 "%s: after freeing everything and a forced collect, %zu segments are in use and "
                 "%zu abandoned\n",
                 who, in_use, abandoned);
    return false;
  }
  return true;
}

using ferroc_resident::resident_bytes;

} // namespace ferroc_stress
