// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"

namespace ferroc {

/// A fixed region of `N` bytes inside the object itself, for targets without
/// an OS. It never calls the system: chunks are carved from the region
/// first-fit and merged again when given back.
///
/// It is big and owns its memory, so it is not copyable and an `Arenas` uses
/// it by reference; give it static storage:
///
///     static ferroc::Static<1 << 24> region;
///     ferroc::Arenas arenas{region};
///
/// Arenas ask for segment-aligned chunks (4 MiB), so a region that does not
/// happen to start on such a boundary loses up to one segment to alignment.
template <std::size_t N> class Static {
  static_assert(N >= detail::os_page_size, "a Static region must hold at least one OS page");

public:
  // Reused chunks hold old data, so fresh memory is not known to be zero.
  static constexpr bool is_zeroed = false;

  constexpr Static() noexcept = default;
  Static(Static const&) = delete;
  Static& operator=(Static const&) = delete;

  static constexpr std::size_t capacity() noexcept { return N; }

  /// Bytes currently handed out (chunk sizes as requested).
  std::size_t used_bytes() const noexcept { return used_.load(std::memory_order_relaxed); }

  void* allocate(std::size_t size, std::size_t align) noexcept {
    if (size == 0 || size > N || !detail::is_pow2(align))
      return nullptr;
    Guard guard{lock_};
    init_once();
    auto const base = reinterpret_cast<std::uintptr_t>(storage_);
    for (std::size_t i = 0; i < range_count_; ++i) {
      Range const r = ranges_[i];
      std::uintptr_t const start = (base + r.offset + align - 1) & ~(std::uintptr_t{align} - 1);
      std::size_t const front = start - (base + r.offset);
      if (front > r.length || r.length - front < size)
        continue;
      std::size_t const back = r.length - front - size;
      remove_range(i);
      if (front != 0)
        insert_range({r.offset, front});
      if (back != 0)
        insert_range({r.offset + front + size, back});
      // relaxed: a statistic, read without ordering other data.
      used_.fetch_add(size, std::memory_order_relaxed);
      return reinterpret_cast<void*>(start);
    }
    return nullptr;
  }

  void deallocate(void* p, std::size_t size) noexcept {
    if (p == nullptr)
      return;
    Guard guard{lock_};
    auto const offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - storage_);
    insert_range({offset, size});
    // relaxed: a statistic, read without ordering other data.
    used_.fetch_sub(size, std::memory_order_relaxed);
  }

private:
  struct Range {
    std::size_t offset;
    std::size_t length;
  };

  // Chunks are requested a handful of times per arena, so a tiny spin lock
  // is simpler and no slower here than a lock-free structure.
  struct Guard {
    explicit Guard(std::atomic<bool>& l) noexcept : lock(l) {
      // acquire: the range table written by the previous holder is visible.
      while (lock.exchange(true, std::memory_order_acquire))
        while (lock.load(std::memory_order_relaxed))
          FERROC_SPIN_PAUSE();
    }
    ~Guard() {
      // release: publish our range-table writes to the next holder.
      lock.store(false, std::memory_order_release);
    }
    Guard(Guard const&) = delete;
    Guard& operator=(Guard const&) = delete;
    std::atomic<bool>& lock;
  };

  void init_once() noexcept {
    if (initialized_)
      return;
    ranges_[0] = {0, N};
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

  alignas(64) std::byte storage_[N]{};
  std::atomic<bool> lock_{false};
  bool initialized_ = false;
  std::size_t range_count_ = 0;
  Range ranges_[max_ranges]{};
  std::atomic<std::size_t> used_{0};
};

static_assert(BaseAlloc<Static<detail::os_page_size>>);

} // namespace ferroc
