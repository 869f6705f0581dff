// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// What the examples share: argument parsing, a portable random generator,
// and the two allocators the benchmark-like examples compare.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <system_error>

#include <ferroc/ferroc.hpp>

namespace example {

/// Parses a whole decimal argument into `out` if it lies in [lo, hi].
inline bool parse(char const* text, std::size_t lo, std::size_t hi, std::size_t& out) {
  std::string_view const arg(text);
  std::size_t value = 0;
  auto const [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), value);
  if (ec != std::errc{} || end != arg.data() + arg.size() || value < lo || value > hi)
    return false;
  out = value;
  return true;
}

/// splitmix64: the same sequence on every platform.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t x = (state_ += 0x9E3779B97F4A7C15ULL);
    x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31U);
  }
  bool chance(unsigned percent) { return next() % 100 < percent; }
  std::size_t below(std::size_t bound) { return static_cast<std::size_t>(next() % bound); }

private:
  std::uint64_t state_;
};

/// Ferroc's process-wide allocator...
struct FerrocAlloc {
  static constexpr char const* name = "ferroc";
  static void* allocate(std::size_t size) { return ferroc::DefaultGlobal::try_allocate(size); }
  static void* allocate_zeroed(std::size_t size) {
    return ferroc::DefaultGlobal::allocate_zeroed(size);
  }
  static void* reallocate(void* p, std::size_t size) {
    return ferroc::DefaultGlobal::reallocate(p, size);
  }
  static void deallocate(void* p) { ferroc::DefaultGlobal::deallocate(p); }
};

/// ... and the system's malloc, doing the same work for comparison.
struct SystemAlloc {
  static constexpr char const* name = "malloc";
  static void* allocate(std::size_t size) { return std::malloc(size); }
  static void* allocate_zeroed(std::size_t size) { return std::calloc(1, size); }
  static void* reallocate(void* p, std::size_t size) { return std::realloc(p, size); }
  static void deallocate(void* p) { std::free(p); }
};

} // namespace example
