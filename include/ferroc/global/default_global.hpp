// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// The process-wide allocator's type, `DefaultGlobal`, and its statistics,
// without the std::pmr resource (global/resource.hpp) that wraps it: the C
// API and the operator new replacement need no more, so the drop-in library
// needs no C++ runtime for them.

#include "ferroc/base/os_alloc.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/separate_compilation.hpp"
#include "ferroc/global/global.hpp"
#include "ferroc/stats.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

class Ferroc;

/// The default global allocator: OS memory, a heap per thread, released by
/// the OS's thread-exit callback (a pthread key destructor; on Windows a
/// fiber-local storage callback). `Ferroc` (global/resource.hpp) is its tag and
/// its std::pmr face.
using DefaultGlobal = Global<OsAlloc, ThreadExit::os_key, Ferroc>;

#if FERROC_SEPARATE_COMPILATION
extern template class Global<OsAlloc, ThreadExit::os_key, Ferroc>;
#endif

/// Statistics of the default global allocator: every thread's heap, those
/// of exited threads included (see ferroc/stats.hpp; most counters need a
/// build with FERROC_STAT=1). Never throws. Any thread; walks the registry
/// of heaps (O(threads + size classes)).
inline Stats stats() noexcept {
  return DefaultGlobal::arenas().stats();
}

/// Prints `stats()` as a table to file descriptor `fd` (stderr by default),
/// without allocating. Never throws. Any thread.
inline void print_stats(int fd = detail::stderr_fd) noexcept {
  print_stats(stats(), fd);
}

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
