// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// The OS page size, read at run time.
///
/// Segment and page geometry are compile-time constants (the fast paths
/// mask addresses with them), laid out in `layout_page_size` units. What
/// touches the OS follows the real page instead: the rounding and
/// alignment of mappings, which ranges can be decommitted or protected,
/// and `valloc`/`pvalloc`. ARM64 kernels come with 4, 16 or 64 KiB pages,
/// POWER with 64 KiB ones, so the real page is known only at run time.

#include <cstddef>

#include "ferroc/detail/atomic.hpp"
#include "ferroc/detail/config.hpp"

#if defined(_WIN32)
#include "ferroc/detail/windows.hpp"
#elif __has_include(<unistd.h>)
#include <unistd.h>
#define FERROC_HAS_SYSCONF 1
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace detail {

/// Asks the OS for its page size; `layout_page_size` where there is none to
/// ask or the answer is no power of two. Not cached: see os_page_size().
inline std::size_t query_os_page_size() noexcept {
  std::size_t page = 0;
#if defined(_WIN32)
  SYSTEM_INFO info;
  ::GetSystemInfo(&info);
  page = info.dwPageSize;
#elif defined(FERROC_HAS_SYSCONF) && defined(_SC_PAGESIZE)
  // glibc and musl answer from the auxiliary vector: no system call.
  if (long const answer = ::sysconf(_SC_PAGESIZE); answer > 0)
    page = static_cast<std::size_t>(answer);
#endif
  return is_pow2(page) ? page : layout_page_size;
}

/// The last answer of query_os_page_size(), 0 before the first: constant-
/// initialised, so that it is usable before any constructor runs.
inline constinit atomic<std::size_t> os_page_size_cache{0};

/// The OS page size in bytes (a power of two: 4096, 16384, 65536, ...).
/// Queried once and cached; any thread, lock-free. Threads that race on
/// the first call each ask the OS and store the same answer.
inline std::size_t os_page_size() noexcept {
  // relaxed: the value is the same whoever stored it; it orders nothing.
  std::size_t page = os_page_size_cache.load(memory_order_relaxed);
  if (page == 0) [[unlikely]] {
    page = query_os_page_size();
    // relaxed: as above.
    os_page_size_cache.store(page, memory_order_relaxed);
  }
  return page;
}

/// Whether `[p, p + size)` is made of whole OS pages: what a base may hand to
/// the OS to decommit or protect (the OS would round a partial page up, and
/// take bytes outside the range with it).
inline bool whole_os_pages(void const* p, std::size_t size) noexcept {
  std::size_t const mask = os_page_size() - 1;
  return ((reinterpret_cast<std::uintptr_t>(p) | size) & mask) == 0;
}

} // namespace detail
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
