// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// What the allocator reports about itself: `Arenas::stats()` for all heaps
/// of one Arenas, `Heap::stats()` for one heap, `ferroc::stats()` for the
/// process-wide allocator, and `print_stats` to show any of them as a table.
///
/// Counters of blocks, pages and bytes are kept only when the library is
/// built with FERROC_STAT=1 (`Stats::enabled`); without it a report still
/// has the segments in use and the abandoned segments, which the allocator
/// counts for its own use.

#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "ferroc/detail/config.hpp"
#include "ferroc/detail/os.hpp"
#include "ferroc/detail/stats.hpp"
#include "ferroc/heap/size_class.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// A snapshot of the allocator's counters. Taken while other threads
/// allocate, each field is some recent value of its own; when they are
/// quiet, the fields agree.
///
/// A plain value: copy it, keep it, print it with `print_stats`. A report
/// of one heap (Heap::stats) counts the frees of blocks that other heaps
/// handed out when it took their pages over, so its `frees` may exceed its
/// `allocs`; the differences (`in_use`, `bytes_in_use`) then wrap around,
/// and `print_stats` shows the block counts signed.
struct Stats {
  /// A value now and the highest it has been.
  struct Level {
    std::size_t current = 0; ///< The value now.
    std::size_t peak = 0;    ///< The highest value so far.
  };
  /// Blocks of one size class. A block is counted freed when it is back on
  /// its page: a block freed by another thread is counted when the page's
  /// owner takes it in (its next allocation slow path or collect).
  struct Class {
    std::size_t block_size = 0; ///< Bytes of each block of the class.
    std::uint64_t allocs = 0;   ///< Blocks handed out.
    std::uint64_t frees = 0;    ///< Blocks taken back.
    /// Blocks handed out and not taken back, `allocs - frees` (see Stats
    /// for when it wraps). Never throws.
    std::uint64_t in_use() const noexcept { return allocs - frees; }
  };

  /// Whether the library was built with FERROC_STAT=1. Without it only
  /// `segments` and `abandoned_segments` are counted (by Arenas::stats);
  /// the rest stays 0.
  bool enabled = detail::stats_enabled;

  /// Blocks handed out, of all classes and huge ones (see total_up).
  std::uint64_t allocs = 0;
  /// Blocks taken back, of all classes and huge ones.
  std::uint64_t frees = 0;
  /// Bytes of the blocks handed out: block sizes, what the allocator set
  /// aside, not what the program asked for.
  std::uint64_t bytes_allocated = 0;
  /// Bytes of the blocks taken back (block sizes).
  std::uint64_t bytes_freed = 0;
  /// Bytes of the blocks in use, `bytes_allocated - bytes_freed` (see
  /// Stats for when it wraps). Never throws.
  std::uint64_t bytes_in_use() const noexcept { return bytes_allocated - bytes_freed; }

  /// Blocks larger than the largest class, a segment (or a run) each.
  /// Whole-allocator only.
  Level huge_blocks;
  /// Bytes of the huge blocks (block sizes). Whole-allocator only.
  Level huge_bytes;
  /// Pages given to a size class.
  Level pages;
  /// Segments claimed from the arenas or the base (abandoned ones
  /// included); for one heap, the segments its Context holds. Arenas::stats
  /// counts it without FERROC_STAT too.
  Level segments;
  /// Bytes of claimed segments that hold memory (not given back with a
  /// decommit). Whole-allocator only.
  Level committed;
  /// Bytes reserved from the base. Whole-allocator only.
  Level reserved;
  /// Segments of exited threads, waiting to be reclaimed. Whole-allocator
  /// only; counted without FERROC_STAT too.
  std::size_t abandoned_segments = 0;
  std::size_t heaps = 0; ///< Contexts alive (1 in the report of one heap).

  /// Entries of `classes`: classes[1 .. class_count - 1] are set; [0] is
  /// unused.
  std::size_t class_count = detail::class_count;
  /// The counters of each size class, by class index.
  Class classes[detail::class_count] = {};

  /// Sums the classes into allocs/frees/bytes (huge blocks included). The
  /// reports call it; call it again after changing `classes` or the huge
  /// counters. Linear in the size classes; never throws.
  void total_up() noexcept {
    allocs = huge_allocs;
    frees = huge_frees;
    bytes_allocated = huge_bytes_allocated;
    bytes_freed = huge_bytes_freed;
    for (std::size_t c = 1; c < class_count; ++c) {
      allocs += classes[c].allocs;
      frees += classes[c].frees;
      bytes_allocated += classes[c].allocs * classes[c].block_size;
      bytes_freed += classes[c].frees * classes[c].block_size;
    }
  }

  /// Huge blocks handed out (part of `allocs`). Whole-allocator only.
  std::uint64_t huge_allocs = 0;
  /// Huge blocks freed (part of `frees`). Whole-allocator only.
  std::uint64_t huge_frees = 0;
  /// Bytes of the huge blocks handed out (part of `bytes_allocated`).
  /// Whole-allocator only.
  std::uint64_t huge_bytes_allocated = 0;
  /// Bytes of the huge blocks freed (part of `bytes_freed`). Whole-allocator
  /// only.
  std::uint64_t huge_bytes_freed = 0;
};

namespace detail {

/// Formats into a fixed buffer and writes it out: printing must not
/// allocate (it may run inside the malloc replacement, at exit).
class StatsWriter {
public:
  explicit StatsWriter(int fd) noexcept : fd_(fd) {}
  StatsWriter(StatsWriter const&) = delete;
  StatsWriter& operator=(StatsWriter const&) = delete;
  ~StatsWriter() { flush(); }

  template <class... Args> void line(char const* fmt, Args... args) noexcept {
    if (sizeof(buf_) - len_ < 200)
      flush();
    int const n = std::snprintf(buf_ + len_, sizeof(buf_) - len_, fmt, args...);
    if (n > 0)
      len_ += static_cast<std::size_t>(n) < sizeof(buf_) - len_ ? static_cast<std::size_t>(n)
                                                                : sizeof(buf_) - len_ - 1;
  }

  void flush() noexcept {
    write_fd(fd_, buf_, len_);
    len_ = 0;
  }

private:
  int fd_;
  std::size_t len_ = 0;
  char buf_[4096]; // text waiting for a write: a buffer's size, no page's
};

/// Bytes as a short human-readable string ("512 B", "4.0 MiB") in `out`.
inline char const* human_bytes(std::uint64_t bytes, char (&out)[24]) noexcept {
  static constexpr char const* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t u = 0;
  std::uint64_t scaled = bytes * 10; // one decimal, in integers
  while (scaled >= 10240 && u + 1 < sizeof(units) / sizeof(units[0])) {
    scaled /= 1024;
    ++u;
  }
  if (u == 0)
    std::snprintf(out, sizeof(out), "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(out, sizeof(out), "%llu.%llu %s", static_cast<unsigned long long>(scaled / 10),
                  static_cast<unsigned long long>(scaled % 10), units[u]);
  return out;
}

} // namespace detail

/// Writes `s` as a readable table to file descriptor `fd` (stderr by
/// default): one row per size class that was used, the huge blocks, the
/// totals, then pages, segments and memory with their peaks. Allocates
/// nothing: it formats into a buffer on the stack and writes it with
/// `write`, so it may run inside a malloc replacement, at exit too. A
/// failing write is ignored. Any thread; never throws.
inline void print_stats(Stats const& s, int fd = detail::stderr_fd) noexcept {
  using ull = unsigned long long;
  detail::StatsWriter w(fd);
  char a[24], b[24];
  w.line("ferroc statistics%s\n",
         s.enabled ? "" : " (built without FERROC_STAT: most counters are off)");
  if (s.enabled) {
    w.line("%-7s %12s %14s %14s %14s %12s\n", "class", "block size", "allocs", "frees", "in use",
           "bytes in use");
    for (std::size_t c = 1; c < s.class_count; ++c) {
      Stats::Class const& k = s.classes[c];
      if (k.allocs == 0 && k.frees == 0)
        continue;
      w.line("%-7zu %12s %14llu %14llu %14lld %12s\n", c, detail::human_bytes(k.block_size, a),
             ull{k.allocs}, ull{k.frees}, static_cast<long long>(k.allocs - k.frees),
             detail::human_bytes((k.allocs - k.frees) * k.block_size, b));
    }
    w.line("%-7s %12s %14llu %14llu %14lld %12s\n", "huge", "-", ull{s.huge_allocs},
           ull{s.huge_frees}, static_cast<long long>(s.huge_allocs - s.huge_frees),
           detail::human_bytes(s.huge_bytes_allocated - s.huge_bytes_freed, a));
    w.line("%-7s %12s %14llu %14llu %14lld %12s\n", "total", "-", ull{s.allocs}, ull{s.frees},
           static_cast<long long>(s.allocs - s.frees), detail::human_bytes(s.bytes_in_use(), a));
    w.line("allocated %s in all, freed %s\n", detail::human_bytes(s.bytes_allocated, a),
           detail::human_bytes(s.bytes_freed, b));
    w.line("%-20s %14s %14s\n", "", "now", "peak");
    w.line("%-20s %14zu %14zu\n", "pages", s.pages.current, s.pages.peak);
  } else {
    w.line("%-20s %14s %14s\n", "", "now", "peak");
  }
  w.line("%-20s %14zu %14zu\n", "segments", s.segments.current, s.segments.peak);
  if (s.enabled) {
    w.line("%-20s %14zu %14zu\n", "huge blocks", s.huge_blocks.current, s.huge_blocks.peak);
    w.line("%-20s %14s %14s\n", "huge bytes", detail::human_bytes(s.huge_bytes.current, a),
           detail::human_bytes(s.huge_bytes.peak, b));
    w.line("%-20s %14s %14s\n", "committed", detail::human_bytes(s.committed.current, a),
           detail::human_bytes(s.committed.peak, b));
    w.line("%-20s %14s %14s\n", "reserved", detail::human_bytes(s.reserved.current, a),
           detail::human_bytes(s.reserved.peak, b));
  }
  w.line("abandoned segments %zu\n", s.abandoned_segments);
  if (s.enabled)
    w.line("heaps alive %zu\n", s.heaps);
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
