// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// SpanBase: a fixed region of memory given from outside.

#include <cstddef>
#include <cstdint>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

namespace detail {

/// The bookkeeping of a fixed region handed out in chunks: a table of free
/// ranges, sorted by offset, searched first-fit and merged again when
/// chunks come back. The region itself is passed to every call, so the
/// table is all zero until first used: a Static<N> that holds one stays in
/// zero-filled storage (.bss).
class RangeTable {
public:
  constexpr RangeTable() noexcept = default;
  RangeTable(RangeTable const&) = delete;
  RangeTable& operator=(RangeTable const&) = delete;

  /// `size` bytes aligned to `align` (a power of two) from the region
  /// [base, base + length), or nullptr.
  void* allocate(std::byte* base, std::size_t length, std::size_t size,
                 std::size_t align) noexcept {
    if (size == 0 || size > length || !is_pow2(align))
      return nullptr;
    Guard guard{lock_};
    init_once(length);
    auto const start_of_region = reinterpret_cast<std::uintptr_t>(base);
    // First fit; a chunk aligned below a segment (thread data, say) goes
    // where it splits the fewest segment-aligned runs: at the front or the
    // back of a free range, whichever loses no segment (a 64 KiB chunk across
    // a boundary of a region that holds few segments costs one of them).
    bool const small = align < segment_size;
    std::size_t best = range_count_;
    std::size_t best_front = 0;
    std::size_t best_loss = SIZE_MAX;
    for (std::size_t i = 0; i < range_count_ && best_loss != 0; ++i) {
      Range const r = ranges_[i];
      std::uintptr_t const free_start = start_of_region + r.offset;
      std::uintptr_t const start = align_up(free_start, align);
      std::size_t const front = start - free_start;
      if (front > r.length || r.length - front < size)
        continue;
      std::size_t const whole = segments_within(free_start, r.length);
      auto consider = [&](std::size_t at) {
        std::size_t const loss = whole - segments_within(free_start, at) -
                                 segments_within(free_start + at + size, r.length - at - size);
        if (loss < best_loss) {
          best = i, best_front = at, best_loss = loss;
        }
      };
      consider(front);
      if (!small)
        break; // first fit
      // The highest aligned start in the range.
      std::size_t const last =
          ((free_start + r.length - size) & ~(std::uintptr_t{align} - 1)) - free_start;
      if (last != front)
        consider(last);
    }
    if (best == range_count_)
      return nullptr;
    Range const r = ranges_[best];
    std::size_t const back = r.length - best_front - size;
    remove_range(best);
    if (best_front != 0)
      insert_range({r.offset, best_front});
    if (back != 0)
      insert_range({r.offset + best_front + size, back});
    // relaxed: a statistic, read without ordering other data.
    used_.fetch_add(size, detail::memory_order_relaxed);
    return base + r.offset + best_front;
  }

  /// Gives back a chunk exactly as `allocate` handed it out.
  void deallocate(std::byte* base, void* p, std::size_t size) noexcept {
    if (p == nullptr)
      return;
    Guard guard{lock_};
    auto const offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - base);
    insert_range({offset, size});
    // relaxed: a statistic, read without ordering other data.
    used_.fetch_sub(size, detail::memory_order_relaxed);
  }

  /// Bytes currently handed out (chunk sizes as requested).
  std::size_t used_bytes() const noexcept {
    // relaxed: a statistic.
    return used_.load(detail::memory_order_relaxed);
  }

private:
  struct Range {
    std::size_t offset;
    std::size_t length;
  };

  // Chunks are requested a handful of times per arena, so a tiny spin lock
  // is simpler and no slower here than a lock-free structure.
  struct Guard {
    explicit Guard(atomic<bool>& l) noexcept : lock(l) {
      // acquire: the range table written by the previous holder is visible.
      while (lock.exchange(true, detail::memory_order_acquire))
        while (lock.load(detail::memory_order_relaxed))
          FERROC_SPIN_PAUSE();
    }
    ~Guard() {
      // release: publish our range-table writes to the next holder.
      lock.store(false, detail::memory_order_release);
    }
    Guard(Guard const&) = delete;
    Guard& operator=(Guard const&) = delete;
    atomic<bool>& lock;
  };

  static std::uintptr_t align_up(std::uintptr_t p, std::size_t align) noexcept {
    return (p + align - 1) & ~(std::uintptr_t{align} - 1);
  }

  // Whole segment-aligned segments inside [start, start + length).
  static std::size_t segments_within(std::uintptr_t start, std::size_t length) noexcept {
    std::uintptr_t const first = align_up(start, segment_size);
    std::uintptr_t const end = start + length;
    return first >= end ? 0 : (end - first) / segment_size;
  }

  void init_once(std::size_t length) noexcept {
    if (initialized_)
      return;
    ranges_[0] = {0, length};
    range_count_ = 1;
    initialized_ = true;
  }

  void remove_range(std::size_t i) noexcept {
    for (; i + 1 < range_count_; ++i)
      ranges_[i] = ranges_[i + 1];
    --range_count_;
  }

  // Keeps the table sorted by offset and merges neighbours, so a region
  // given back piece by piece becomes one range again.
  void insert_range(Range r) noexcept {
    std::size_t i = 0;
    while (i < range_count_ && ranges_[i].offset < r.offset)
      ++i;
    bool const joins_prev = i > 0 && ranges_[i - 1].offset + ranges_[i - 1].length == r.offset;
    bool const joins_next = i < range_count_ && r.offset + r.length == ranges_[i].offset;
    if (joins_prev && joins_next) {
      ranges_[i - 1].length += r.length + ranges_[i].length;
      remove_range(i);
    } else if (joins_prev) {
      ranges_[i - 1].length += r.length;
    } else if (joins_next) {
      ranges_[i].offset = r.offset;
      ranges_[i].length += r.length;
    } else if (range_count_ < max_ranges) {
      for (std::size_t j = range_count_; j > i; --j)
        ranges_[j] = ranges_[j - 1];
      ranges_[i] = r;
      ++range_count_;
    }
    // else: the table is full and the piece stays unused until a neighbour
    // comes back; with arena-sized chunks this needs more than
    // max_ranges holes at once and does not happen in practice.
  }

  static constexpr std::size_t max_ranges = 64;

  atomic<bool> lock_{false};
  bool initialized_ = false;
  std::size_t range_count_ = 0;
  Range ranges_[max_ranges]{};
  atomic<std::size_t> used_{0};
};

} // namespace detail

/// A region of memory the program gives, for targets without an OS or for a
/// hard limit: `ferroc::SpanBase span{buffer, sizeof buffer};`. It never
/// calls the system: chunks are carved from the region first-fit and merged
/// again when given back.
///
/// It keeps the bookkeeping of the region, so it is not copyable and an
/// `Arenas` uses it by reference; it must outlive the Arenas, and the
/// region must stay valid and untouched by others as long as it does:
///
///     alignas(64 * 1024) static std::byte buffer[256 * 1024];
///     static ferroc::SpanBase span{buffer, sizeof buffer};
///     ferroc::Arenas arenas{span};
///
/// Arenas ask for chunks aligned to the segment size (4 MiB by default,
/// FERROC_SEGMENT_SHIFT), so a region that does not start on such a
/// boundary loses up to one segment to alignment.
///
/// Thread-safe: `allocate` and `deallocate` take a spin lock around the
/// table of free ranges (they run once per arena or huge block, not per
/// allocation), and `used_bytes` reads an atomic counter.
class SpanBase {
public:
  /// The region holds whatever it held before, and reused chunks old data.
  static constexpr bool is_zeroed = false;

  /// The `size` bytes at `start`; a null `start` gives an empty region.
  /// Touches nothing (the table of free ranges is set up by the first
  /// `allocate`), so a static SpanBase is constant-initialised.
  constexpr SpanBase(void* start, std::size_t size) noexcept
      : start_(start), size_(start != nullptr ? size : 0) {}
  SpanBase(SpanBase const&) = delete;
  SpanBase& operator=(SpanBase const&) = delete;

  /// The region's size in bytes (0 for a null start).
  std::size_t capacity() const noexcept { return size_; }
  /// The region's start, as given.
  void* data() const noexcept { return start_; }

  /// Bytes currently handed out (chunk sizes as requested). A relaxed read:
  /// while other threads allocate, some recent value.
  std::size_t used_bytes() const noexcept { return table_.used_bytes(); }

  /// A chunk of `size` bytes aligned to `align` (a power of two), carved
  /// from the free ranges of the region: a chunk aligned to the segment
  /// size or more from the first range that fits; a smaller one from the
  /// first end of a range where it splits no whole segment, or else where
  /// it splits the fewest. Returns nullptr when `size` is 0 or larger
  /// than the region, `align` is not a power of two, or no free range
  /// fits. Never calls the system; never throws. Linear in the number of
  /// free ranges (at most 64).
  void* allocate(std::size_t size, std::size_t align) noexcept {
    return table_.allocate(static_cast<std::byte*>(start_), size_, size, align);
  }

  /// Gives back chunk `p` exactly as `allocate` handed it out (`size` as
  /// asked), merged with the free ranges next to it; nullptr does nothing.
  /// Should 64 free ranges already lie apart and the chunk touch none of
  /// them, it stays unused until a neighbour comes back. Never throws.
  void deallocate(void* p, std::size_t size) noexcept {
    table_.deallocate(static_cast<std::byte*>(start_), p, size);
  }

private:
  void* start_; // void*, not std::byte*, so that the constructor is constexpr
  std::size_t size_;
  detail::RangeTable table_;
};

static_assert(BaseAlloc<SpanBase>);
static_assert(detail::held_by_reference<SpanBase>);

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
