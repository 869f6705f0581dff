// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// MmapAlloc: memory from the OS.

#if defined(_WIN32)
#error "ferroc: MmapAlloc (ferroc/base/mmap.hpp) is POSIX only; use ferroc/base/os_alloc.hpp"
#endif

#include <cstddef>
#include <cstdint>

#include <sys/mman.h>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// Virtual memory from the OS (POSIX `mmap`). Chunks are reserved, not
/// populated: the kernel backs a page on first touch, and `decommit` gives it
/// back with `MADV_DONTNEED` while the range stays mapped.
///
/// It holds no state: all instances are interchangeable, copies are cheap,
/// and every member may run on any thread at the same time (each is one or
/// a few system calls). The default base of the global allocator on POSIX
/// systems (`OsAlloc`, ferroc/base/os_alloc.hpp).
struct MmapAlloc {
  /// Fresh mappings read as zero.
  static constexpr bool is_zeroed = true;
  /// A decommitted range reads as zero again (private anonymous memory).
  static constexpr bool decommit_zeroes = true;

  /// Maps `size` bytes, rounded up to whole OS pages, aligned to `align` (a
  /// power of two). Beyond an OS page's alignment it maps `size + align`
  /// bytes and unmaps the ends that the alignment leaves over. The mapping
  /// is made with `MAP_NORESERVE`, so it commits nothing until touched.
  /// Returns nullptr when `size` is 0 or too large to round or pad, or when
  /// the kernel refuses the mapping. Never throws.
  void* allocate(std::size_t size, std::size_t align) noexcept {
    size = detail::align_up(size, detail::os_page_size);
    if (size == 0)
      return nullptr;
    if (align <= detail::os_page_size)
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
    ::munmap(p, detail::align_up(size, detail::os_page_size));
  }

  /// Gives the physical pages of `[p, p + size)` (page-aligned, inside a
  /// chunk of ours) back to the OS with `madvise(MADV_DONTNEED)`; the range
  /// stays mapped and reads as zero when touched again. Never throws; a
  /// failing `madvise` is ignored (the memory then stays committed).
  void decommit(void* p, std::size_t size) noexcept { ::madvise(p, size, MADV_DONTNEED); }

  /// Makes the OS pages of `[p, p + size)` (page-aligned, inside a chunk of
  /// ours) inaccessible with `mprotect(PROT_NONE)`. Returns false when the
  /// kernel refuses (for instance at its limit of mappings: each protected
  /// range splits a mapping). Never throws.
  bool protect(void* p, std::size_t size) noexcept { return ::mprotect(p, size, PROT_NONE) == 0; }

  /// Makes them readable and writable again; false when the kernel refuses.
  /// Never throws.
  bool unprotect(void* p, std::size_t size) noexcept {
    return ::mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
  }

  /// Always true: memory one instance mapped may go back through any other.
  friend bool operator==(MmapAlloc, MmapAlloc) noexcept { return true; }

private:
  static void* map(std::size_t size) noexcept {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
};

static_assert(BaseAlloc<MmapAlloc>);
static_assert(DecommitBase<MmapAlloc>);
static_assert(ProtectBase<MmapAlloc>);

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
