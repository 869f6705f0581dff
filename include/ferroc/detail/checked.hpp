// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Checked mode (FERROC_CHECKED=1): misuse of the allocator ends the process
/// with a message that names the fault and the address, instead of
/// corrupting memory silently. It finds
///
///   - double frees and frees of pointers Ferroc never handed out (a stack
///     or global address, another allocator's block),
///   - frees of interior pointers, and frees through a Heap of other Arenas,
///   - free-list links overwritten after a free (links are stored encoded
///     with a per-page key and validated when followed),
///   - writes past the end of a block: every block gets a trailer (a sealed
///     word and its geometry) and at least one fill byte after the requested
///     size, both checked when the block is freed,
///   - sized frees (free_sized, free_aligned_sized, sized operator delete)
///     whose size is not the one the block was asked with, or whose
///     alignment the block does not have.
///
/// A block then costs its size plus 17 bytes, rounded to its class, and
/// `usable_size` reports the requested size exactly (a program may write no
/// further). Release builds (the default) compile none of it.
///
/// What it cannot see: a double free of a block that was allocated again in
/// between (the second free then frees the new owner's block), and writes
/// past the end that skip the fill byte and land on another block.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/os.hpp"

/// Checked mode. 1: checked mode, as this file describes; 0 (default): none
/// of it is compiled. CMake: -DFERROC_CHECKED=ON.
#ifndef FERROC_CHECKED
#define FERROC_CHECKED 0
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

inline constexpr bool checked = FERROC_CHECKED != 0;

/// The faults checked mode reports.
enum class Fault {
  double_free,
  foreign_pointer,
  unused_memory,
  interior_pointer,
  wrong_arenas,
  corrupted_free_list,
  overflow,
  underflow,
  damaged_trailer,
  free_page,
  wrong_size,
  wrong_thread,
};

inline char const* fault_message(Fault f) noexcept {
  switch (f) {
  case Fault::double_free:
    return "double free";
  case Fault::foreign_pointer:
    return "free of a pointer ferroc never handed out";
  case Fault::unused_memory:
    return "free of a pointer into memory ferroc has no segment in (a double free of a huge "
           "block, or a pointer ferroc never handed out)";
  case Fault::interior_pointer:
    return "free of an interior pointer (not the start of its block)";
  case Fault::wrong_arenas:
    return "free through a Heap of other Arenas than the block's";
  case Fault::corrupted_free_list:
    return "corrupted free list (a freed block was written to)";
  case Fault::overflow:
    return "write past the end of the block";
  case Fault::underflow:
    return "write before the start of the block (or past the end of the one before it)";
  case Fault::damaged_trailer:
    return "block trailer damaged (a write past the end of the block, or not a block "
           "ferroc handed out)";
  case Fault::free_page:
    return "free of a pointer into an unused page (a double free, or not a block "
           "ferroc handed out)";
  case Fault::wrong_size:
    return "sized free whose size or alignment does not match the block";
  case Fault::wrong_thread:
    return "LocalHeap used on another thread than the one that made it";
  }
  return "misuse";
}

/// Writes "ferroc: <fault> at 0x<address>" to stderr and aborts. Allocates
/// nothing: it may run inside malloc.
[[noreturn]] FERROC_COLD inline void report_fault(Fault f, void const* address) noexcept {
  char line[256];
  std::size_t n = 0;
  auto put = [&](char const* s) {
    while (*s != '\0' && n < sizeof line - 1)
      line[n++] = *s++;
  };
  put("ferroc: ");
  put(fault_message(f));
  put(" at 0x");
  auto const addr = reinterpret_cast<std::uintptr_t>(address);
  char digits[2 * sizeof addr];
  for (std::size_t i = 0; i < sizeof digits; ++i)
    digits[i] = "0123456789abcdef"[(addr >> (4 * (sizeof digits - 1 - i))) & 15];
  std::size_t first = 0;
  while (first + 1 < sizeof digits && digits[first] == '0')
    ++first;
  for (std::size_t i = first; i < sizeof digits && n < sizeof line - 1; ++i)
    line[n++] = digits[i];
  line[n++] = '\n';
  write_fd(stderr_fd, line, n);
  std::abort();
}

/// A well-mixed 64-bit value of `x` (the splitmix64 finaliser).
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  x ^= x >> 31;
  return x;
}

constexpr std::uint64_t rotl64(std::uint64_t x, unsigned r) noexcept {
  return (x << r) | (x >> (64 - r));
}
constexpr std::uint64_t rotr64(std::uint64_t x, unsigned r) noexcept {
  return (x >> r) | (x << (64 - r));
}

// The process's secret: the address of this object, which address-space
// randomisation places differently in every run, scrambled. It needs no
// initialisation, so it works from the first malloc of a process. The keys
// below are cheap (one multiply): they must make a stray write stand out,
// not resist an attacker who can read our memory.
inline char const secret_anchor = 0;

// Secure mode also mixes in bytes the OS gives the process (os_entropy:
// on Linux the 16 random bytes the kernel gives every process at exec,
// AT_RANDOM): the anchor's address alone is known to whoever knows where
// the code is loaded, and is the same in every run of a program built
// without position independence or run without address-space
// randomisation. Read without a system call or a lock, and kept.
inline atomic<std::uint64_t> random_secret_value{0};

FERROC_COLD inline std::uint64_t read_random_secret() noexcept {
  std::uint64_t words[2];
  os_entropy(words);
  std::uint64_t const value = mix64(words[0] ^ rotl64(words[1], 17)) | 1; // never 0: "unread"
  if constexpr (os_entropy_is_fixed) {
    // relaxed: every thread derives the same value from the same bytes, so
    // threads that race to store it store the same; nothing else is
    // published with it.
    random_secret_value.store(value, memory_order_relaxed);
    return value;
  } else {
    // Each call reads other bytes: the first value published is the
    // process's. relaxed: the one order of this atomic's changes settles
    // which that is; nothing else is published with it.
    std::uint64_t expected = 0;
    if (!random_secret_value.compare_exchange_strong(expected, value, memory_order_relaxed,
                                                     memory_order_relaxed))
      return expected;
    return value;
  }
}

inline std::uint64_t random_secret() noexcept {
  if constexpr (FERROC_SECURE == 0)
    return 0;
  // relaxed: see above.
  std::uint64_t const value = random_secret_value.load(memory_order_relaxed);
  return FERROC_LIKELY(value != 0) ? value : read_random_secret();
}

inline std::uint64_t process_secret() noexcept {
  return rotl64(reinterpret_cast<std::uintptr_t>(&secret_anchor) * 0x9e3779b97f4a7c15u, 32) ^
         random_secret();
}

/// The cookie a segment header carries (every build sets it; checked mode
/// checks it before trusting a header).
inline std::uint64_t segment_cookie(void const* segment) noexcept {
  return (reinterpret_cast<std::uintptr_t>(segment) ^ process_secret()) * 0xd6e8feb86659fd93u;
}

// ---- encoded free-list links ------------------------------------------------

/// The key that encodes the links of the free lists of the page at `page`.
inline std::uint64_t link_key(void const* page) noexcept {
  return (reinterpret_cast<std::uintptr_t>(page) ^ process_secret()) * 0xbf58476d1ce4e5b9u;
}

inline constexpr unsigned link_rotation = 29;

// A link rotates within a pointer's width: on 32-bit targets a 64-bit
// rotation carried bits out of the stored word, and decoding failed.
inline std::uintptr_t encode_link(void const* page, void const* next) noexcept {
  return std::rotl(reinterpret_cast<std::uintptr_t>(next) ^
                       static_cast<std::uintptr_t>(link_key(page)),
                   static_cast<int>(link_rotation));
}

inline void* decode_link(void const* page, std::uintptr_t stored) noexcept {
  return reinterpret_cast<void*>(std::rotr(stored, static_cast<int>(link_rotation)) ^
                                 static_cast<std::uintptr_t>(link_key(page)));
}

// ---- the trailer of a checked block ----------------------------------------

/// At the last 16 bytes of every block in checked mode. The fill bytes run
/// from the end of the requested size to the trailer.
struct Trailer {
  std::uint64_t seal;   // mixes the block address, offset and slack
  std::uint32_t offset; // from the block start to the pointer handed out
  std::uint32_t slack;  // fill bytes between the requested size and the trailer
};

inline constexpr std::size_t trailer_size = sizeof(Trailer);
static_assert(trailer_size == 16);
// One fill byte at least: a write one byte too far always meets one.
inline constexpr std::size_t checked_extra = trailer_size + 1;
inline constexpr unsigned char fill_byte = 0xfd;
// Fill bytes checked on free (the ones nearest the requested end).
inline constexpr std::size_t fill_checked_max = 256;
inline constexpr std::uint64_t freed_mark = 0xf4eed0b10c4f4eedu;

/// Whether the `n` fill bytes at `p` are all still `fill_byte`.
inline bool fill_intact(std::byte const* p, std::size_t n) noexcept {
  constexpr std::uint64_t pattern = 0x0101010101010101u * fill_byte;
  std::size_t i = 0;
  for (; i + sizeof pattern <= n; i += sizeof pattern) {
    std::uint64_t word;
    std::memcpy(&word, p + i, sizeof word);
    if (word != pattern)
      return false;
  }
  for (; i < n; ++i) {
    if (static_cast<unsigned char>(p[i]) != fill_byte)
      return false;
  }
  return true;
}

inline std::uint64_t trailer_seal(void const* block, std::uint32_t offset,
                                  std::uint32_t slack) noexcept {
  return mix64(reinterpret_cast<std::uintptr_t>(block) ^ process_secret() ^
               (std::uint64_t{offset} << 32 | slack));
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
