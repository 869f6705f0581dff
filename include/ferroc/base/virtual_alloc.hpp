// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// WinAlloc: memory from Windows (`VirtualAlloc`).

#if !defined(_WIN32)
#error                                                                                             \
    "ferroc: WinAlloc (ferroc/base/virtual_alloc.hpp) is Windows only; use ferroc/base/os_alloc.hpp"
#endif

#include <cstddef>
#include <cstdint>

#include "ferroc/base/base_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/os.hpp"
#include "ferroc/detail/os_page.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

/// Virtual memory from Windows (`VirtualAlloc`). Each chunk is a
/// reservation of its own, committed whole when it is made: the engine
/// touches a decommitted range again without asking, which Windows allows
/// only for committed memory. Committed memory counts against the system's
/// commit limit (RAM plus page file) but takes physical memory only when
/// touched; `decommit` gives the physical memory back with `MEM_RESET`, and
/// the range keeps its commitment.
///
/// It holds no state: all instances are interchangeable, copies are cheap,
/// and every member may run on any thread at the same time (each is one or
/// a few system calls). The default base of the global allocator on
/// Windows (`OsAlloc`, ferroc/base/os_alloc.hpp).
struct WinAlloc {
  /// Fresh commitments read as zero.
  static constexpr bool is_zeroed = true;
  /// A range reset with `MEM_RESET` reads as its old contents or as zero,
  /// whichever Windows chose: not zero for sure.
  static constexpr bool decommit_zeroes = false;

  /// Reserves and commits `size` bytes, rounded up to whole OS pages,
  /// aligned to `align` (a power of two). A reservation is aligned to the
  /// allocation granularity (64 KiB) already. Beyond that Windows cannot
  /// give back the ends of an over-sized reservation, as `munmap` can: it
  /// reserves `size + align` bytes to find an aligned address, releases
  /// them and reserves again at that address, which another thread may
  /// have taken meanwhile (then it tries again, up to 16 times).
  /// Returns nullptr when `size` is 0 or too large to round or pad, or when
  /// Windows refuses (address space or commit limit). Never throws.
  void* allocate(std::size_t size, std::size_t align) noexcept {
    size = detail::align_up(size, detail::os_page_size());
    if (size == 0)
      return nullptr;
    void* p = commit_new(nullptr, size);
    if (p == nullptr || is_aligned(p, align))
      return p;
    ::VirtualFree(p, 0, MEM_RELEASE);
    std::size_t const padded = size + align;
    if (padded < size)
      return nullptr;
    for (int attempt = 0; attempt < 16; ++attempt) {
      void* const raw = ::VirtualAlloc(nullptr, padded, MEM_RESERVE, PAGE_NOACCESS);
      if (raw == nullptr)
        return nullptr;
      auto const aligned = detail::align_up(reinterpret_cast<std::uintptr_t>(raw), align);
      ::VirtualFree(raw, 0, MEM_RELEASE);
      p = commit_new(reinterpret_cast<void*>(aligned), size);
      if (p != nullptr)
        return p;
    }
    return nullptr;
  }

  /// Releases chunk `p` (as `allocate` returned it: the start of its
  /// reservation, released whole whatever `size` says). Never throws; a
  /// failing `VirtualFree` is ignored.
  void deallocate(void* p, std::size_t /*size*/) noexcept { ::VirtualFree(p, 0, MEM_RELEASE); }

  /// Tells Windows that the contents of `[p, p + size)` (inside a chunk of
  /// ours) are no longer needed (`MEM_RESET`): it may drop the physical
  /// pages instead of writing them to the page file. The range stays
  /// committed and usable; it then reads as its old contents or as zero.
  /// Returns false, and leaves the range as it was, when it is not made of
  /// whole OS pages (Windows would round it out and drop bytes beyond it)
  /// or when Windows refuses. Never throws.
  bool decommit(void* p, std::size_t size) noexcept {
    return detail::whole_os_pages(p, size) &&
           ::VirtualAlloc(p, size, MEM_RESET, PAGE_READWRITE) != nullptr;
  }

  /// Makes the pages of `[p, p + size)` (inside a chunk of ours)
  /// inaccessible (`PAGE_NOACCESS`). Returns false, and leaves them
  /// accessible, when the range is not made of whole OS pages or Windows
  /// refuses. Never throws.
  bool protect(void* p, std::size_t size) noexcept {
    return set_protection(p, size, PAGE_NOACCESS);
  }

  /// Makes them readable and writable again; false when the range is not
  /// made of whole OS pages or Windows refuses. Never throws.
  bool unprotect(void* p, std::size_t size) noexcept {
    return set_protection(p, size, PAGE_READWRITE);
  }

  /// Always true: memory one instance reserved may go back through any other.
  friend bool operator==(WinAlloc, WinAlloc) noexcept { return true; }

private:
  static bool is_aligned(void const* p, std::size_t align) noexcept {
    return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
  }

  // A new reservation of `size` bytes at `at` (nullptr: anywhere), committed.
  static void* commit_new(void* at, std::size_t size) noexcept {
    return ::VirtualAlloc(at, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  }

  static bool set_protection(void* p, std::size_t size, DWORD protection) noexcept {
    DWORD old = 0;
    return detail::whole_os_pages(p, size) && ::VirtualProtect(p, size, protection, &old) != 0;
  }
};

static_assert(BaseAlloc<WinAlloc>);
static_assert(DecommitBase<WinAlloc>);
static_assert(ProtectBase<WinAlloc>);

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
