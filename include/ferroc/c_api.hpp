// SPDX-License-Identifier: Apache-2.0 OR MIT
#pragma once

/// \file
/// The bodies of the C API (ferroc.h) over the default global allocator, as
/// inline functions: the compiled library defines the fe_* symbols with
/// them, and the malloc replacement forwards to those.

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>

#include "ferroc/arena/segment_map.hpp"
#include "ferroc/detail/checked.hpp"
#include "ferroc/detail/config.hpp"
#include "ferroc/detail/defines.hpp"
#include "ferroc/detail/free_checks.hpp"
#include "ferroc/detail/os.hpp"
#include "ferroc/detail/os_page.hpp"
#include "ferroc/global/default_global.hpp"

namespace ferroc {
inline namespace FERROC_CONFIG_NS {
/// The C API's bodies: the functions of ferroc.h as inline C++ functions over
/// the default global allocator (DefaultGlobal), with glibc's contract. The
/// compiled library defines the fe_* symbols and the malloc replacement
/// with them; C++ code may call them directly, without the library
/// (`ferroc::c_api::malloc`), after including ferroc/c_api.hpp, which
/// ferroc/ferroc.hpp does not include. Every function may run on any thread.
namespace c_api {

/// \cond internal
using G = DefaultGlobal;

inline void* out_of_memory() noexcept {
  errno = ENOMEM;
  return nullptr;
}

// A unique pointer into an inaccessible region, for malloc(0) (see
// detail::zero_size_region_bytes), or nullptr when the region cannot be
// reserved or is used up: then malloc(0) gives an ordinary block.
inline void* zero_size_block() noexcept {
  using namespace detail;
  std::uintptr_t start = zero_size_region.load(memory_order_acquire);
  if (start == 0) {
    void* region = reserve_inaccessible(zero_size_region_bytes);
    if (region == nullptr)
      return nullptr;
    // acq_rel: publishes the reservation; acquire sees another thread's.
    if (!zero_size_region.compare_exchange_strong(start, reinterpret_cast<std::uintptr_t>(region),
                                                  memory_order_acq_rel, memory_order_acquire))
      release_reservation(region,
                          zero_size_region_bytes); // another thread was first: use its region
    else
      start = reinterpret_cast<std::uintptr_t>(region);
  }
  // One step in: free and realloc ask the segment map about p - 1 (as
  // segment_of masks it), which must fall in the region too, never in a
  // segment that ends where the region begins (mmap packs them so on
  // 32-bit targets, Windows at 64 KiB steps).
  std::uintptr_t const offset =
      zero_size_next.fetch_add(min_align, memory_order_relaxed) + min_align;
  if (offset >= zero_size_region_bytes)
    return nullptr;
  return reinterpret_cast<void*>(start + offset);
}

FERROC_NOINLINE inline void* malloc_slow(std::size_t size) noexcept {
  if constexpr (detail::free_checks) {
    if (size == 0) {
      if (void* z = zero_size_block())
        return z;
    }
  }
  void* p = G::try_allocate(size);
  if (p == nullptr)
    return out_of_memory();
  return p;
}
/// \endcond

/// The body of fe_malloc (ferroc.h). Its contract:
///
/// \copydoc fe_malloc
FERROC_INLINE void* malloc(std::size_t size) noexcept {
  if (void* p = G::try_allocate_fast(size); FERROC_LIKELY(p != nullptr))
    return p;
  return malloc_slow(size);
}

/// The body of fe_free (ferroc.h). Its contract:
///
/// \copydoc fe_free
FERROC_INLINE void free(void* p) noexcept {
  // A pointer that is not in any of our segments (another allocator's, or
  // garbage) is never followed into memory we do not own: release and
  // checked builds report it (see detail/free_checks.hpp).
  G::deallocate_any(p);
}

/// C23 free_aligned_sized: `size` and `align` are what `p` was asked with
/// (aligned_alloc, memalign, posix_memalign); checked builds stop on ones
/// that do not match the block, release builds on a size that does not fit
/// it (see detail/free_checks.hpp). A pointer that is not ours is treated as
/// `free` treats it. The body of fe_free_aligned_sized (ferroc.h).
inline void free_aligned_sized(void* p, std::size_t align, std::size_t size) noexcept {
  if constexpr (detail::checked) {
    if (p != nullptr && detail::segment_map_contains(p)) {
      G::deallocate_sized(p, size, align);
      return;
    }
  } else if constexpr (detail::free_checks) {
    if (detail::sized_free_is_wrong(p, size, align))
      return detail::invalid_free(detail::Fault::wrong_size, p);
  }
  (void)align, (void)size;
  free(p);
}

/// C23 free_sized: as free_aligned_sized, for a block of malloc, calloc or
/// realloc (aligned as every block is). The body of fe_free_sized
/// (ferroc.h).
inline void free_sized(void* p, std::size_t size) noexcept {
  free_aligned_sized(p, alignof(std::max_align_t), size);
}

/// \cond internal
inline bool mul_overflows(std::size_t count, std::size_t size, std::size_t* total) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_mul_overflow(count, size, total);
#else
  *total = count * size;
  return size != 0 && *total / size != count;
#endif
}
/// \endcond

/// The body of fe_calloc (ferroc.h). Its contract:
///
/// \copydoc fe_calloc
inline void* calloc(std::size_t count, std::size_t size) noexcept {
  std::size_t total = 0;
  if (mul_overflows(count, size, &total))
    return out_of_memory();
  void* p = G::allocate_zeroed(total);
  if (p == nullptr)
    return out_of_memory();
  return p;
}

/// The body of fe_malloc_usable_size (ferroc.h). Its contract:
///
/// \copydoc fe_malloc_usable_size
inline std::size_t usable_size(void const* p) noexcept {
  if (p == nullptr || !detail::segment_map_contains(p))
    return 0;
  return G::usable_size(p);
}

/// The body of fe_malloc_guarded (ferroc.h). Its contract:
///
/// \copydoc fe_malloc_guarded
inline void* malloc_guarded(std::size_t size) noexcept {
  void* p = G::try_allocate_guarded(size);
  if (p == nullptr)
    return out_of_memory();
  return p;
}

/// The body of fe_realloc (ferroc.h). Its contract:
///
/// \copydoc fe_realloc
inline void* realloc(void* p, std::size_t size) noexcept {
  if (p == nullptr)
    return malloc(size);
  if (size == 0) { // glibc frees and returns NULL
    free(p);
    return nullptr;
  }
  if (!detail::segment_map_contains(p)) {
    if (detail::free_checks && detail::is_zero_size_block(p))
      return malloc(size);      // nothing to copy, nothing to free
    detail::free_of_foreign(p); // release and checked builds stop here
    return out_of_memory();     // not ours: cannot move it
  }
  void* q = G::reallocate(p, size);
  if (q == nullptr)
    return out_of_memory();
  return q;
}

/// The body of fe_reallocarray (ferroc.h). Its contract:
///
/// \copydoc fe_reallocarray
inline void* reallocarray(void* p, std::size_t count, std::size_t size) noexcept {
  std::size_t total = 0;
  if (mul_overflows(count, size, &total))
    return out_of_memory();
  return realloc(p, total);
}

/// \cond internal
inline void* aligned(std::size_t align, std::size_t size) noexcept {
  void* p = G::try_allocate(size, align);
  if (p == nullptr)
    return out_of_memory();
  return p;
}
/// \endcond

/// The body of fe_aligned_alloc (ferroc.h). Its contract:
///
/// \copydoc fe_aligned_alloc
inline void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
  if (!detail::is_pow2(align)) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned(align, size);
}

/// The body of fe_posix_memalign (ferroc.h). Its contract:
///
/// \copydoc fe_posix_memalign
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
/// (EINVAL, not ENOMEM: no amount of memory would serve it). The body of
/// fe_memalign (ferroc.h).
inline void* memalign(std::size_t align, std::size_t size) noexcept {
  constexpr std::size_t largest_pow2 = std::numeric_limits<std::size_t>::max() / 2 + 1;
  if (align > largest_pow2) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned(std::bit_ceil(align), size);
}

/// The body of fe_valloc (ferroc.h). Its contract:
///
/// \copydoc fe_valloc
inline void* valloc(std::size_t size) noexcept {
  return aligned(detail::os_page_size(), size);
}

/// The body of fe_pvalloc (ferroc.h). Its contract:
///
/// \copydoc fe_pvalloc
inline void* pvalloc(std::size_t size) noexcept {
  std::size_t const page = detail::os_page_size();
  std::size_t const rounded = size == 0 ? page : (size + page - 1) & ~(page - 1);
  if (rounded < size)
    return out_of_memory();
  return aligned(page, rounded);
}

/// The body of fe_collect (ferroc.h). Its contract:
///
/// \copydoc fe_collect
inline void collect(int force) noexcept {
  G::collect(force != 0);
}

/// The figures of glibc's `mallinfo2`, from Ferroc's own counters (the
/// fields glibc fills and Ferroc has no counterpart for stay 0).
struct Info {
  std::size_t arena = 0;    ///< Bytes of segments that hold small to large blocks.
  std::size_t hblks = 0;    ///< Huge blocks (a segment or a chunk of their own).
  std::size_t hblkhd = 0;   ///< Their bytes.
  std::size_t uordblks = 0; ///< Bytes of blocks in use in `arena`.
  std::size_t fordblks = 0; ///< The rest of `arena`: free blocks and pages.
};

/// The figures of glibc's `mallinfo2` now (see Info).
///
/// With statistics (FERROC_STAT=1) the counts are exact: committed segment
/// bytes, huge blocks, and block bytes in use. Without, Ferroc counts only
/// the segments it has claimed: `arena` is their bytes and all of it counts
/// as in use (`uordblks`), huge blocks included. Takes `ferroc::stats()`
/// (see Arenas::stats for its cost). Any thread; never throws.
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
/// allocation slow path. Returns 1 when memory went back to the OS, else
/// 0. Walks the pages of the calling thread's heap and every arena. Any
/// thread; never throws.
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
/// the process. Allocates nothing. Any thread; never throws.
inline void print_stats() noexcept {
  [[maybe_unused]] detail::NoCancelScope const no_cancel;
  ferroc::print_stats();
}

/// fe_stats: `ferroc::stats()` in the C layout of `CStats`, ferroc.h's
/// fe_stats_t; classes past `class_count` are set to zero. See
/// Arenas::stats for the cost. Any thread; never throws.
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
