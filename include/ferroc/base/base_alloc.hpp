// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// The BaseAlloc concept: what the arenas need from a source of memory.

#include <concepts>
#include <cstddef>
#include <type_traits>

#include "ferroc/detail/config.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// What the arenas need from the place raw memory comes from.
///
/// - `B::is_zeroed`: memory fresh from `allocate` reads as zero (lets
///   `allocate_zeroed` skip a memset on fresh pages).
/// - `allocate(size, align)`: a chunk of at least `size` bytes aligned to
///   `align` (a power of two, usually the segment size), or nullptr. Called
///   from any thread, rarely (once per arena or huge block).
/// - `deallocate(p, size)`: give back a chunk exactly as it was handed out
///   (`size` as it was asked for).
///
/// Both are `noexcept` and report failure by nullptr only. Any thread may
/// call them, several at the same time: a base must be thread-safe
/// (`MmapAlloc` holds no state; `SpanBase` and `Static` take a spin lock).
/// An Arenas gives its arenas back when it is destroyed (see ~Arenas).
template <class B>
concept BaseAlloc = requires(B& base, void* p, std::size_t size, std::size_t align) {
  {std::bool_constant<B::is_zeroed>{}};
  { base.allocate(size, align) }
  noexcept->std::same_as<void*>;
  { base.deallocate(p, size) }
  noexcept->std::same_as<void>;
};

/// Optional capability: hand the physical memory of a range back while the
/// range stays reserved. `B::decommit_zeroes` says whether it then reads as
/// zero again (true for `MADV_DONTNEED` on private anonymous memory).
///
/// - `decommit(p, size)`: a range inside a chunk the base handed out; the
///   range stays usable and is backed again when touched. Returns whether
///   it was decommitted: false leaves it committed with its contents (a
///   range that is not made of whole OS pages, detail::os_page_size(), or
///   a refusal of the OS), and the caller then takes it to hold old data.
///   `noexcept`; any thread, several at the same time.
///
/// Over such a base the arenas give memory back after a purge delay
/// (Arenas::set_purge_delay_ms) and grow with the memory in use; over one
/// without it (a fixed region) memory is only reused.
template <class B>
concept DecommitBase = BaseAlloc<B> && requires(B& base, void* p, std::size_t size) {
  {std::bool_constant<B::decommit_zeroes>{}};
  { base.decommit(p, size) }
  noexcept->std::same_as<bool>;
};

/// Optional capability: make whole OS pages of a chunk inaccessible, and
/// accessible again. Secure mode puts guard pages with it between the
/// allocator's metadata and blocks, and after guarded blocks.
///
/// - `protect(p, size)`: whole OS pages inside a chunk the base handed out;
///   any access to them then faults. Returns false when the pages stay
///   accessible (the caller then goes without the guard).
/// - `unprotect(p, size)`: makes them readable and writable again, with
///   their contents as before; returns false when they stay inaccessible.
///
/// Both are `noexcept`; any thread, several at the same time. `deallocate`
/// then takes chunks back with pages of them still protected (the arenas
/// make guards of segments in use accessible only when their slots are
/// reused; their chunks go back as they are). A fixed region
/// without an MMU (`Static`) has no such capability: no guard pages there.
template <class B>
concept ProtectBase = BaseAlloc<B> && requires(B& base, void* p, std::size_t size) {
  { base.protect(p, size) }
  noexcept->std::same_as<bool>;
  { base.unprotect(p, size) }
  noexcept->std::same_as<bool>;
};

namespace detail {

/// A base that owns its memory (it cannot be copied, like `Static<N>`) is
/// used by reference; a handle-like base (`MmapAlloc`) is held by value.
template <class B> inline constexpr bool held_by_reference = !std::is_copy_constructible_v<B>;

/// The smallest fixed region (a `Static<N>`) that holds one whole segment
/// wherever it lies: up to one is lost to the segments' alignment.
inline constexpr std::size_t region_min_size = 2 * segment_size;

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
