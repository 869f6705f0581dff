// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

// The bodies of the C API (ferroc.h) over the default global allocator, as
// inline functions: the compiled library defines the fe_* symbols with
// them, and the malloc replacement forwards to those.

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>

#include <pthread.h>
#include <unistd.h>

#include "ferroc/arena/segment_map.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/global/default_global.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
namespace c_api {

using G = DefaultGlobal;

inline void* out_of_memory() noexcept {
  errno = ENOMEM;
  return nullptr;
}

FERROC_NOINLINE inline void* malloc_slow(std::size_t size) noexcept {
  void* p = G::try_allocate(size);
  if (p == nullptr)
    return out_of_memory();
  return p;
}

FERROC_INLINE void* malloc(std::size_t size) noexcept {
  if (void* p = G::try_allocate_fast(size); FERROC_LIKELY(p != nullptr))
    return p;
  return malloc_slow(size);
}

FERROC_INLINE void free(void* p) noexcept {
  // A pointer that is not in any of our segments (another allocator's, or
  // garbage) is ignored rather than followed into memory we do not own.
  // nullptr is not in any segment either.
  if (FERROC_LIKELY(G::deallocate_if_ours(p)))
    return;
  // Checked mode reports it instead (free(NULL) stays allowed).
  if constexpr (detail::checked) {
    if (p != nullptr)
      detail::report_fault(detail::Fault::foreign_pointer, p);
  }
}

/// C23 free_aligned_sized: `size` and `align` are what `p` was asked with
/// (aligned_alloc, memalign, posix_memalign); checked builds stop on ones
/// that do not match the block. A pointer that is not ours is treated as
/// `free` treats it.
inline void free_aligned_sized(void* p, std::size_t align, std::size_t size) noexcept {
  if constexpr (detail::checked) {
    if (p != nullptr && detail::segment_map_contains(p)) {
      G::deallocate_sized(p, size, align);
      return;
    }
  }
  (void)align, (void)size;
  free(p);
}

/// C23 free_sized: as free_aligned_sized, for a block of malloc, calloc or
/// realloc (aligned as every block is).
inline void free_sized(void* p, std::size_t size) noexcept {
  free_aligned_sized(p, alignof(std::max_align_t), size);
}

inline bool mul_overflows(std::size_t count, std::size_t size, std::size_t* total) noexcept {
  return __builtin_mul_overflow(count, size, total);
}

inline void* calloc(std::size_t count, std::size_t size) noexcept {
  std::size_t total = 0;
  if (mul_overflows(count, size, &total))
    return out_of_memory();
  void* p = G::allocate_zeroed(total);
  if (p == nullptr)
    return out_of_memory();
  return p;
}

inline std::size_t usable_size(void const* p) noexcept {
  if (p == nullptr || !detail::segment_map_contains(p))
    return 0;
  return G::usable_size(p);
}

inline void* realloc(void* p, std::size_t size) noexcept {
  if (p == nullptr)
    return malloc(size);
  if (size == 0) { // glibc frees and returns NULL
    free(p);
    return nullptr;
  }
  if (!detail::segment_map_contains(p)) {
    if constexpr (detail::checked)
      detail::report_fault(detail::Fault::foreign_pointer, p);
    return out_of_memory(); // not ours: cannot move it
  }
  void* q = G::reallocate(p, size);
  if (q == nullptr)
    return out_of_memory();
  return q;
}

inline void* reallocarray(void* p, std::size_t count, std::size_t size) noexcept {
  std::size_t total = 0;
  if (mul_overflows(count, size, &total))
    return out_of_memory();
  return realloc(p, total);
}

inline void* aligned(std::size_t align, std::size_t size) noexcept {
  void* p = G::try_allocate(size, align);
  if (p == nullptr)
    return out_of_memory();
  return p;
}

inline void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
  if (!detail::is_pow2(align)) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned(align, size);
}

inline int posix_memalign(void** out, std::size_t align, std::size_t size) noexcept {
  if (!detail::is_pow2(align) || align % sizeof(void*) != 0)
    return EINVAL;
  void* p = G::try_allocate(size, align);
  if (p == nullptr)
    return ENOMEM;
  *out = p;
  return 0;
}

/// glibc's memalign: an alignment that is not a power of two is rounded up
/// to one; one above the largest power of two cannot be, and is invalid
/// (EINVAL, not ENOMEM: no amount of memory would serve it).
inline void* memalign(std::size_t align, std::size_t size) noexcept {
  constexpr std::size_t largest_pow2 = std::numeric_limits<std::size_t>::max() / 2 + 1;
  if (align > largest_pow2) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned(std::bit_ceil(align), size);
}

inline std::size_t os_page() noexcept {
  long const page = ::sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<std::size_t>(page) : detail::os_page_size;
}

inline void* valloc(std::size_t size) noexcept {
  return aligned(os_page(), size);
}

inline void* pvalloc(std::size_t size) noexcept {
  std::size_t const page = os_page();
  std::size_t const rounded = size == 0 ? page : (size + page - 1) & ~(page - 1);
  if (rounded < size)
    return out_of_memory();
  return aligned(page, rounded);
}

inline void collect(int force) noexcept {
  G::collect(force != 0);
}

/// The figures of glibc's `mallinfo2`, from Ferroc's own counters (the
/// fields glibc fills and Ferroc has no counterpart for stay 0).
struct Info {
  std::size_t arena = 0;    // bytes of segments that hold small to large blocks
  std::size_t hblks = 0;    // huge blocks (a segment or a chunk of their own)
  std::size_t hblkhd = 0;   // their bytes
  std::size_t uordblks = 0; // bytes of blocks in use in `arena`
  std::size_t fordblks = 0; // the rest of `arena`: free blocks and pages
};

/// With statistics (FERROC_STAT=1) the counts are exact: committed segment
/// bytes, huge blocks, and block bytes in use. Without, Ferroc counts only
/// the segments it has claimed: `arena` is their bytes and all of it counts
/// as in use (`uordblks`), huge blocks included.
inline Info info() noexcept {
  Stats const s = ferroc::stats();
  Info i;
  if (s.enabled) {
    i.hblks = s.huge_blocks.current;
    i.hblkhd = s.huge_bytes.current;
    i.arena = s.committed.current > i.hblkhd ? s.committed.current - i.hblkhd : 0;
    std::size_t const in_use = static_cast<std::size_t>(s.bytes_in_use());
    i.uordblks = in_use > i.hblkhd ? in_use - i.hblkhd : 0;
    i.uordblks = std::min(i.uordblks, i.arena);
  } else {
    i.arena = s.segments.current * detail::segment_size;
    i.uordblks = i.arena;
  }
  i.fordblks = i.arena - i.uordblks;
  return i;
}

/// glibc's malloc_trim: a forced collect of the calling thread's heap (it
/// takes in what other threads freed to it and what exited threads left,
/// and returns free pages to the OS) and a purge of every free arena slot.
/// Other threads' heaps belong to them and are not touched: they return
/// their free pages on their own, within a purge delay of their next
/// allocation slow path. Returns 1 when memory went back to the OS.
inline int trim() noexcept {
  auto& arenas = G::arenas();
  std::size_t const before = arenas.decommitted_bytes();
  G::collect(true);
  arenas.purge(true);
  return arenas.decommitted_bytes() != before ? 1 : 0;
}

/// malloc_stats and fe_stats_print: Ferroc's table on stderr. Its writes
/// are no cancellation points here, as glibc's malloc_stats is none: a
/// thread cancelled inside would unwind through noexcept frames and end
/// the process.
inline void print_stats() noexcept {
  int old_state = PTHREAD_CANCEL_ENABLE;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old_state);
  ferroc::print_stats();
  pthread_setcancelstate(old_state, nullptr);
}

/// fe_stats: `ferroc::stats()` in the C layout (ferroc.h's fe_stats_t).
template <class CStats> void stats(CStats& out) noexcept {
  Stats const s = ferroc::stats();
  auto level = [](Stats::Level l) { return decltype(out.pages){l.current, l.peak}; };
  out.enabled = s.enabled ? 1 : 0;
  out.allocs = s.allocs;
  out.frees = s.frees;
  out.bytes_allocated = s.bytes_allocated;
  out.bytes_freed = s.bytes_freed;
  out.huge_blocks = level(s.huge_blocks);
  out.huge_bytes = level(s.huge_bytes);
  out.pages = level(s.pages);
  out.segments = level(s.segments);
  out.committed = level(s.committed);
  out.reserved = level(s.reserved);
  out.abandoned_segments = s.abandoned_segments;
  out.heaps = s.heaps;
  constexpr std::size_t max_classes = sizeof(out.classes) / sizeof(out.classes[0]);
  static_assert(detail::class_count <= max_classes, "FE_STATS_MAX_CLASSES is too small");
  out.class_count = s.class_count;
  for (std::size_t c = 0; c < max_classes; ++c) {
    out.classes[c] = {};
    if (c < s.class_count)
      out.classes[c] = {s.classes[c].block_size, s.classes[c].allocs, s.classes[c].frees};
  }
}

} // namespace c_api
} // namespace FERROC_CONFIG_NS
} // namespace ferroc
