// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// Statistics (FERROC_STAT=1): counters of blocks per size class, and gauges
// of pages, segments, committed and reserved bytes with their peaks. Off
// (the default), none of this is compiled into the allocator's paths, and
// `Arenas::stats()` reports only what the allocator keeps anyway (segments
// in use, abandoned segments).
//
// Two kinds of counters keep the cost on the allocating thread low:
//
//   - OwnedCounter: written by one thread only (a Context's per-class block
//     counts), read by any. A relaxed load and store, no read-modify-write:
//     the same instructions as a plain increment.
//   - Gauge: shared by all threads (pages, segments, bytes), changed on slow
//     paths only, with an atomic add and a peak raised by compare-exchange.
//
// The total over all threads is exact once the threads are quiet; while
// they run, a reader sees each counter at some recent value.

#include <cstddef>
#include <cstdint>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/heap/size_class.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

inline constexpr bool stats_enabled = FERROC_STAT != 0;

/// Stands in for a counter block when statistics are off.
struct Empty {};

/// A count one thread raises and any thread may read.
class OwnedCounter {
public:
  // relaxed: only the owner writes, so load + store cannot lose an
  // update; readers want some recent value, not an ordering.
  void add(std::uint64_t n) noexcept {
    v_.store(v_.load(detail::memory_order_relaxed) + n, detail::memory_order_relaxed);
  }
  // relaxed: as above.
  std::uint64_t get() const noexcept { return v_.load(detail::memory_order_relaxed); }

private:
  atomic<std::uint64_t> v_{0};
};

/// A count any thread may raise.
class SharedCounter {
public:
  // relaxed: a statistic, which orders nothing else.
  void add(std::uint64_t n) noexcept { v_.fetch_add(n, detail::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(detail::memory_order_relaxed); }

private:
  atomic<std::uint64_t> v_{0};
};

/// A quantity and the highest value it ever had, readable by any thread.
class GaugeReadings {
public:
  // relaxed: statistics, which order nothing else.
  std::size_t current() const noexcept { return current_.load(detail::memory_order_relaxed); }
  std::size_t peak() const noexcept { return peak_.load(detail::memory_order_relaxed); }

protected:
  atomic<std::size_t> current_{0};
  atomic<std::size_t> peak_{0};
};

/// A quantity any thread may raise or lower.
class Gauge : public GaugeReadings {
public:
  void add(std::size_t n) noexcept {
    // relaxed: a statistic; nothing else is ordered by it.
    std::size_t const now = current_.fetch_add(n, detail::memory_order_relaxed) + n;
    // relaxed: as above; the loop re-reads until the peak is at least `now`.
    std::size_t peak = peak_.load(detail::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, detail::memory_order_relaxed,
                                                      detail::memory_order_relaxed)) {
    }
  }
  // relaxed: a statistic.
  void sub(std::size_t n) noexcept { current_.fetch_sub(n, detail::memory_order_relaxed); }
};

/// A quantity one thread changes.
class OwnedGauge : public GaugeReadings {
public:
  // relaxed: only the owner writes (see OwnedCounter).
  void add(std::size_t n) noexcept {
    std::size_t const now = current_.load(detail::memory_order_relaxed) + n;
    current_.store(now, detail::memory_order_relaxed);
    if (now > peak_.load(detail::memory_order_relaxed))
      peak_.store(now, detail::memory_order_relaxed);
  }
  // relaxed: as above.
  void sub(std::size_t n) noexcept {
    current_.store(current_.load(detail::memory_order_relaxed) - n, detail::memory_order_relaxed);
  }
};

/// A Context's own counts: blocks its heap handed out and took back, per
/// size class, and the pages and segments it holds.
struct ContextCounters {
  OwnedCounter allocs[class_count];
  OwnedCounter frees[class_count];
  OwnedGauge pages;
  OwnedGauge segments;
  // The registry of live Contexts in their Arenas (linked under its lock).
  ContextCounters* next = nullptr;
  ContextCounters* prev = nullptr;
};

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
