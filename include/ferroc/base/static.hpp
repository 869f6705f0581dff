// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// Static: a fixed region of memory inside the object.

#include <cstddef>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/base/span.hpp"
#include "ferroc/detail/config.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// A fixed region of `N` bytes inside the object itself, for targets without
/// an OS. It never calls the system: chunks are carved from the region
/// first-fit and merged again when given back (the bookkeeping of
/// `SpanBase`, over storage of its own).
///
/// It is big and owns its memory, so it is not copyable and an `Arenas` uses
/// it by reference; give it static storage:
///
///     static ferroc::Static<1 << 24> region;
///     ferroc::Arenas arenas{region};
///
/// Arenas ask for chunks aligned to the segment size (4 MiB by default,
/// FERROC_SEGMENT_SHIFT), so a region that does not happen to start on such
/// a boundary loses up to one segment to alignment; `alignas(segment size)`
/// on the variable avoids that. `N` must be at least two segments (a
/// compile-time error otherwise). The object is all zero until first used,
/// so in static storage it takes no space in the program image (.bss).
///
/// Thread-safe as `SpanBase` is: `allocate` and `deallocate` take a spin
/// lock, `used_bytes` reads an atomic counter.
template <std::size_t N> class Static {
  static_assert(N >= detail::region_min_size,
                "ferroc::Static<N>: N must be at least two segments (2 << FERROC_SEGMENT_SHIFT "
                "bytes: 8 MiB by default, 128 KiB with -DFERROC_SEGMENT_SHIFT=16). A region "
                "loses up to one segment to the segments' alignment, and the arenas need one "
                "whole segment; for a smaller region choose smaller segments (docs/embedded.md)");

public:
  /// Reused chunks hold old data, so fresh memory is not known to be zero.
  static constexpr bool is_zeroed = false;

  /// An empty region, all zero: constant-initialised.
  constexpr Static() noexcept = default;
  Static(Static const&) = delete;
  Static& operator=(Static const&) = delete;

  /// The region's size in bytes, `N`.
  static constexpr std::size_t capacity() noexcept { return N; }

  /// Bytes currently handed out (chunk sizes as requested). A relaxed read:
  /// while other threads allocate, some recent value.
  std::size_t used_bytes() const noexcept { return table_.used_bytes(); }

  /// A chunk of `size` bytes aligned to `align` (a power of two) from the
  /// region, or nullptr: see SpanBase::allocate, which works the same.
  /// Never calls the system; never throws.
  void* allocate(std::size_t size, std::size_t align) noexcept {
    return table_.allocate(storage_, N, size, align);
  }

  /// Gives back chunk `p` exactly as `allocate` handed it out; nullptr does
  /// nothing. See SpanBase::deallocate. Never throws.
  void deallocate(void* p, std::size_t size) noexcept { table_.deallocate(storage_, p, size); }

private:
  alignas(64) std::byte storage_[N]{};
  detail::RangeTable table_;
};

static_assert(BaseAlloc<Static<detail::region_min_size>>);

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
