// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Guarded blocks: the parts below the heap layer (their bounds, the
/// quarantine of freed ones, secure mode's sampling rate). The blocks
/// themselves are made and freed in heap/heap_guarded.hpp.
///
/// A guarded block lies at the end of a segment of its own, its end (the
/// size rounded up to 16 bytes) right against an inaccessible OS page: a
/// read or write past its end faults at once. Freed, its pages are made
/// inaccessible and wait in a small quarantine (the last
/// guarded_quarantine_slots guarded blocks freed to the same Arenas)
/// before they go back to the base: a use after free faults too, instead
/// of reading the data of whatever takes the memory next. Only over a base
/// that can protect pages (ProtectBase), and not in checked or tracked
/// builds, which watch every block their own way.
///
/// Secure mode samples them: with FERROC_GUARDED_SAMPLE_RATE=N in the
/// environment (read once; the macro of the same name sets the default,
/// 0), about one allocation in N is a guarded block. 0: none; 1: every
/// one that can be. Each heap counts its allocations down to the next
/// sample (try_allocate, allocate_zeroed, try_allocate_fast and what calls
/// them: malloc, operator new, reallocate when it moves), the intervals
/// drawn at random with a mean of N. A sample falls on an ordinary block
/// (and the count goes on) for a size past guarded_size_max() (a segment
/// less its header and the guard page), an alignment above an OS page,
/// and while guarded_blocks_max guarded blocks exist. Secure mode without
/// the free checks (FERROC_FREE_CHECKS=0) does not sample. The release
/// allocation path has no count at all.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/secure.hpp"

/// The default of secure mode's sampling rate of guarded blocks, which the
/// environment variable of the same name overrides: one allocation in N is
/// guarded; 0 (default): none.
#ifndef FERROC_GUARDED_SAMPLE_RATE
#define FERROC_GUARDED_SAMPLE_RATE 0
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Freed guarded blocks each Arenas keeps inaccessible before their memory
/// goes back: a use after free of one of the last 16 blocks freed faults.
inline constexpr std::size_t guarded_quarantine_slots = 16;

/// Guarded blocks (live and in quarantine) a process holds at most; past
/// it, a guarded request gets an ordinary block. Each holds a segment of
/// address space (4 MiB by default, only the block's pages committed) and
/// splits its mapping in two or three: the bound keeps a program that
/// samples every allocation well inside the kernel's limit of mappings
/// (65530 by default) and its address space within 4 GiB.
inline constexpr std::size_t guarded_blocks_max = 1024;

// Guarded blocks of all Arenas now, live or in quarantine.
// relaxed: a count that only bounds; it orders no memory.
inline constinit atomic<std::size_t> guarded_blocks{0};

/// Takes one of the guarded_blocks_max; false when all are taken.
inline bool reserve_guarded_block() noexcept {
  // relaxed: see guarded_blocks.
  if (guarded_blocks.fetch_add(1, memory_order_relaxed) < guarded_blocks_max)
    return true;
  guarded_blocks.fetch_sub(1, memory_order_relaxed); // relaxed: as above
  return false;
}

/// Gives one back (a guarded block's memory went back to the base).
inline void unreserve_guarded_block() noexcept {
  guarded_blocks.fetch_sub(1, memory_order_relaxed); // relaxed: see guarded_blocks
}

/// The freed guarded blocks of one Arenas whose pages are still
/// inaccessible: a ring of slots, each holding a segment or nullptr. Any
/// thread puts a block in and takes out the one it displaces, without a
/// lock.
struct GuardedQuarantine {
  atomic<void*> xslots[guarded_quarantine_slots] = {};
  atomic<std::size_t> xnext{0};

  /// Puts `segment` in; returns the segment it displaces (nullptr: none),
  /// whose memory the caller now gives back.
  void* swap(void* segment) noexcept {
    // relaxed: only spreads the threads over the slots; the exchange orders.
    std::size_t const i = xnext.fetch_add(1, memory_order_relaxed) % guarded_quarantine_slots;
    // acq_rel: release hands our writes to the header (and the protection
    // done before) to whoever takes the segment out; acquire makes those of
    // the thread that put the displaced one in ours.
    return xslots[i].exchange(segment, memory_order_acq_rel);
  }

  /// Takes out the segment of slot `i` (nullptr: none); for the Arenas'
  /// destructor, which gives them all back.
  void* take(std::size_t i) noexcept {
    // acquire: as in swap, for the segment we take out.
    return xslots[i].exchange(nullptr, memory_order_acquire);
  }
};

/// The sampling state of a Heap in secure mode (heap's thread only).
struct GuardedSampler {
  // Allocations until the next guarded one, this one included: at 1 (or 0)
  // the allocation is sampled. 1 at first, so that the first allocation
  // arms the sampler (Heap::allocate_sampled).
  std::uint64_t countdown = 1;
  // Spreads the intervals; state 0: not seeded (not armed) yet.
  Random random{0};
};

// FERROC_GUARDED_SAMPLE_RATE read from the environment, plus one; 0: not
// read yet. relaxed: every thread computes the same value.
inline constinit atomic<std::uint32_t> guarded_sample_rate_plus_one{0};

/// The largest rate: its intervals (up to twice the rate) fit 32 bits.
inline constexpr std::uint32_t guarded_sample_rate_max = std::uint32_t{1} << 30;

/// Secure mode's sampling rate (see this file): the environment's
/// FERROC_GUARDED_SAMPLE_RATE when it is a decimal number, else the macro's
/// value; at most guarded_sample_rate_max.
inline std::uint32_t guarded_sample_rate() noexcept {
  // relaxed: see guarded_sample_rate_plus_one.
  std::uint32_t cached = guarded_sample_rate_plus_one.load(memory_order_relaxed);
  if (cached != 0)
    return cached - 1;
  std::uint64_t rate = FERROC_GUARDED_SAMPLE_RATE;
  // getenv allocates nothing, so it is safe inside malloc.
  if (char const* value = std::getenv("FERROC_GUARDED_SAMPLE_RATE");
      value != nullptr && *value != '\0') {
    std::uint64_t parsed = 0;
    char const* c = value;
    for (; *c >= '0' && *c <= '9' && parsed <= guarded_sample_rate_max; ++c)
      parsed = parsed * 10 + static_cast<std::uint64_t>(*c - '0');
    if (*c == '\0' || parsed > guarded_sample_rate_max)
      rate = parsed;
  }
  if (rate > guarded_sample_rate_max)
    rate = guarded_sample_rate_max;
  cached = static_cast<std::uint32_t>(rate) + 1;
  guarded_sample_rate_plus_one.store(cached, memory_order_relaxed); // relaxed: as above
  return cached - 1;
}

/// Allocations from one guarded block to the next at `rate` (> 1): evenly
/// spread over [1, 2 * rate - 1], whose mean is the rate, so that a
/// program cannot time its allocations to miss every sample.
inline std::uint64_t guarded_interval(std::uint32_t rate, Random& random) noexcept {
  if (rate == 0)
    return ~std::uint64_t{0};
  if (rate == 1)
    return 1;
  return 1 + std::uint64_t{random.below(2 * rate - 1)};
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
