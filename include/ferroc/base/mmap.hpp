// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// MmapAlloc: memory from the OS.

#include <cstddef>
#include <cstdint>

#include <sys/mman.h>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/os_page.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

// The spellings differ among the POSIX systems: macOS and the older BSDs
// name anonymous memory MAP_ANON, and MAP_NORESERVE (commit nothing until
// touched) is Linux's; where it is missing, overcommit is the default.
#if defined(MAP_ANONYMOUS)
inline constexpr int map_anonymous = MAP_ANONYMOUS;
#else
inline constexpr int map_anonymous = MAP_ANON;
#endif
#if defined(MAP_NORESERVE)
inline constexpr int map_noreserve = MAP_NORESERVE;
#else
inline constexpr int map_noreserve = 0;
#endif

// Linux's MADV_DONTNEED drops the pages of private anonymous memory, which
// then read as zero. Elsewhere (macOS, the BSDs) it is only a hint that may
// keep the contents; MADV_FREE is the cheaper hint there, and decommitted
// memory is not taken to read as zero.
#if defined(__linux__)
inline constexpr int madvise_decommit = MADV_DONTNEED;
inline constexpr bool madvise_decommit_zeroes = true;
#elif defined(MADV_FREE)
inline constexpr int madvise_decommit = MADV_FREE;
inline constexpr bool madvise_decommit_zeroes = false;
#else
inline constexpr int madvise_decommit = MADV_DONTNEED;
inline constexpr bool madvise_decommit_zeroes = false;
#endif

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// Virtual memory from the OS (POSIX `mmap`). Chunks are reserved, not
/// populated: the kernel backs a page on first touch, and `decommit` gives it
/// back with `madvise` (`MADV_DONTNEED` on Linux, `MADV_FREE` where that is
/// the cheaper hint) while the range stays mapped. Sizes and alignments
/// follow the real OS page (detail::os_page_size(): 4, 16 or 64 KiB).
///
/// It holds no state: all instances are interchangeable, copies are cheap,
/// and every member may run on any thread at the same time (each is one or
/// a few system calls). The default base of the global allocator.
struct MmapAlloc {
  /// Fresh mappings read as zero.
  static constexpr bool is_zeroed = true;
  /// A decommitted range reads as zero again: on Linux (private anonymous
  /// memory after `MADV_DONTNEED`), not on the other systems.
  static constexpr bool decommit_zeroes = detail::madvise_decommit_zeroes;

  /// Maps `size` bytes, rounded up to whole OS pages, aligned to `align` (a
  /// power of two). Beyond an OS page's alignment it maps `size + align`
  /// bytes and unmaps the ends that the alignment leaves over. On Linux the
  /// mapping is made with `MAP_NORESERVE`, so it commits nothing until
  /// touched.
  /// Returns nullptr when `size` is 0 or too large to round or pad, or when
  /// the kernel refuses the mapping. Never throws.
  void* allocate(std::size_t size, std::size_t align) noexcept {
    std::size_t const page = detail::os_page_size();
    size = detail::align_up(size, page);
    if (size == 0)
      return nullptr;
    if (align <= page)
      return map(size);
    // Over-map by the alignment, then trim both ends: only the aligned
    // middle stays mapped, so nothing is wasted but address space briefly.
    std::size_t const padded = size + align;
    if (padded < size)
      return nullptr;
    auto* raw = static_cast<std::byte*>(map(padded));
    if (raw == nullptr)
      return nullptr;
    auto const addr = reinterpret_cast<std::uintptr_t>(raw);
    auto const aligned = (addr + align - 1) & ~(std::uintptr_t{align} - 1);
    std::size_t const front = aligned - addr;
    std::size_t const back = padded - front - size;
    if (front != 0)
      ::munmap(raw, front);
    if (back != 0)
      ::munmap(raw + front + size, back);
    return raw + front;
  }

  /// Unmaps chunk `p` of `size` bytes (as it was asked of `allocate`; it is
  /// rounded up alike). Never throws; a failing `munmap` is ignored.
  void deallocate(void* p, std::size_t size) noexcept {
    ::munmap(p, detail::align_up(size, detail::os_page_size()));
  }

  /// Gives the physical pages of `[p, p + size)` (inside a chunk of ours)
  /// back to the OS with `madvise`; the range stays mapped (and on Linux
  /// reads as zero when touched again). Returns false, and leaves the range
  /// as it was, when it is not made of whole OS pages (the kernel would
  /// round it up and drop bytes past its end) or when the kernel refuses.
  /// Never throws.
  bool decommit(void* p, std::size_t size) noexcept {
    return detail::whole_os_pages(p, size) && ::madvise(p, size, detail::madvise_decommit) == 0;
  }

  /// Makes the OS pages of `[p, p + size)` (inside a chunk of ours)
  /// inaccessible with `mprotect(PROT_NONE)`. Returns false, and leaves them
  /// accessible, when the range is not made of whole OS pages (a guard of
  /// the 4 KiB layout on a 16 or 64 KiB page system) or when the kernel
  /// refuses (for instance at its limit of mappings: each protected range
  /// splits a mapping). Never throws.
  bool protect(void* p, std::size_t size) noexcept {
    return detail::whole_os_pages(p, size) && ::mprotect(p, size, PROT_NONE) == 0;
  }

  /// Makes them readable and writable again; false when the range is not
  /// made of whole OS pages or the kernel refuses. Never throws.
  bool unprotect(void* p, std::size_t size) noexcept {
    return detail::whole_os_pages(p, size) && ::mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
  }

  /// Always true: memory one instance mapped may go back through any other.
  friend bool operator==(MmapAlloc, MmapAlloc) noexcept { return true; }

private:
  static void* map(std::size_t size) noexcept {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | detail::map_anonymous | detail::map_noreserve, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
};

static_assert(BaseAlloc<MmapAlloc>);
static_assert(DecommitBase<MmapAlloc>);
static_assert(ProtectBase<MmapAlloc>);

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
