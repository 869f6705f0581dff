/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#ifndef FERROC_H
#define FERROC_H

/**
 * \file
 * Ferroc's C API: the process-wide allocator (ferroc::Ferroc in C++) behind
 * glibc-compatible functions. Link with libferroc (shared or static; on
 * Windows ferroc.dll through its import library).
 *
 * Semantics follow glibc: on failure the allocating functions return NULL
 * and set errno to ENOMEM (size overflow in fe_calloc and fe_reallocarray
 * included); fe_malloc(0) returns a unique pointer; fe_free(NULL) does
 * nothing; fe_realloc(p, 0) frees p and returns NULL; alignments are powers
 * of two of any size. Blocks are at least 16-byte aligned. Any thread may
 * free any block. fe_free and fe_realloc stop the process with a message on
 * a pointer that Ferroc never handed out, a double free and an unaligned
 * pointer (FERROC_ON_INVALID_FREE=ignore in the environment: the pointer is
 * left alone instead; see docs/security.md).
 *
 * Every function may be called from any thread at the same time. Misuse (a
 * double free, a free of an interior pointer) is undefined in a release
 * library; one built in checked mode (FERROC_CHECKED) stops the process
 * with a message at such a free or realloc instead. A thread's first
 * allocation sets up its heap, taking its memory from the OS (not from
 * malloc); the heap goes when the thread exits, and its live blocks stay
 * valid.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** \cond internal */
/* On Windows the functions come from ferroc.dll: it is built with
   FERROC_BUILD_DLL (exports them) and used with FERROC_DLL (imports them;
   CMake's ferroc::c target sets it). Without either, they are plain
   declarations, for a static library or the header-only c_api.hpp. */
#if defined(_WIN32) && defined(FERROC_BUILD_DLL)
#define FE_EXPORT __declspec(dllexport)
#elif defined(_WIN32) && defined(FERROC_DLL)
#define FE_EXPORT __declspec(dllimport)
#elif defined(_WIN32)
#define FE_EXPORT
#elif defined(__GNUC__) || defined(__clang__)
#define FE_EXPORT __attribute__((visibility("default")))
#else
#define FE_EXPORT
#endif
#if defined(__GNUC__) || defined(__clang__)
#define FE_MALLOC_LIKE __attribute__((malloc, warn_unused_result))
#define FE_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define FE_MALLOC_LIKE
#define FE_ALLOC_SIZE(...)
#endif

#ifdef __cplusplus
#define FE_NOEXCEPT noexcept
#else
#define FE_NOEXCEPT
#endif
/** \endcond */

/**
 * At least `size` bytes, 16-byte aligned; NULL with errno ENOMEM when out of
 * memory (a size above PTRDIFF_MAX fails at once). fe_malloc(0) returns a
 * unique pointer, to be freed as any other; in release builds it points
 * into memory that faults when read or written.
 */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(1) void* fe_malloc(size_t size) FE_NOEXCEPT;
/**
 * As fe_malloc, but a guarded block, for a block suspected of overflows or
 * uses after free: it ends (its size rounded up to 16) right against an
 * inaccessible page, and for a while after fe_free its pages stay
 * inaccessible, so reading or writing past its end, or after its free,
 * faults at once (SIGSEGV) instead of reaching other data. Freed, resized
 * and measured as any block (fe_realloc to a size that does not fit moves
 * it to an ordinary block). Costs a few system calls and 4 MiB of address
 * space (two pages and the block's committed); an ordinary block instead
 * past 1024 guarded blocks in the process, above 4 MiB less 12 KiB, in a
 * checked library, or when the kernel refuses to protect the pages. NULL
 * with errno ENOMEM when out of memory.
 */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(1) void* fe_malloc_guarded(size_t size) FE_NOEXCEPT;
/**
 * Room for `count` objects of `size` bytes, all zero; NULL with errno ENOMEM
 * when `count * size` overflows or memory is out.
 */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(1, 2) void* fe_calloc(size_t count, size_t size) FE_NOEXCEPT;
/**
 * Resizes block `p` to `size` bytes, keeping its contents up to the smaller
 * size: in place when `size` fits the block and uses at least half of it,
 * else moved to a new block (and `p` freed). fe_realloc(NULL, size) is
 * fe_malloc(size); fe_realloc(p, 0) frees `p` and returns NULL. On failure
 * returns NULL with errno ENOMEM and `p` stays valid. A pointer Ferroc never
 * handed out is left alone: NULL with errno ENOMEM.
 */
FE_EXPORT FE_ALLOC_SIZE(2) void* fe_realloc(void* p, size_t size) FE_NOEXCEPT;
/**
 * fe_realloc(p, count * size), or NULL with errno ENOMEM (and `p` left
 * valid) when the product overflows.
 */
FE_EXPORT FE_ALLOC_SIZE(2, 3) void* fe_reallocarray(void* p, size_t count, size_t size) FE_NOEXCEPT;
/**
 * Frees block `p`, from any thread; NULL does nothing. A pointer Ferroc
 * never handed out (another allocator's block, a stack or global address) is
 * ignored: the segment map tells (see FERROC_SEGMENT_MAP).
 */
FE_EXPORT void fe_free(void* p) FE_NOEXCEPT;
/**
 * C23's sized free: `size` is what the block was asked with (fe_malloc,
 * fe_calloc, fe_realloc); a library built in checked mode stops the process
 * when it does not match the block. Otherwise as fe_free; NULL does
 * nothing.
 */
FE_EXPORT void fe_free_sized(void* p, size_t size) FE_NOEXCEPT;
/**
 * C23's sized free of an aligned block: `align` and `size` are what the
 * block was asked with (fe_aligned_alloc, fe_memalign, fe_posix_memalign);
 * checked as fe_free_sized is. Otherwise as fe_free; NULL does nothing.
 */
FE_EXPORT void fe_free_aligned_sized(void* p, size_t align, size_t size) FE_NOEXCEPT;

/**
 * At least `size` bytes aligned to `align`, which must be a power of two
 * (else NULL with errno EINVAL); NULL with errno ENOMEM when out of memory.
 * `size` need not be a multiple of `align`.
 */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(2) void* fe_aligned_alloc(size_t align,
                                                                 size_t size) FE_NOEXCEPT;
/**
 * Stores in `*out` a block of at least `size` bytes aligned to `align` and
 * returns 0; returns EINVAL when `align` is not a power of two multiple of
 * sizeof(void*), ENOMEM when out of memory, and then leaves `*out` as it
 * was.
 */
FE_EXPORT int fe_posix_memalign(void** out, size_t align, size_t size) FE_NOEXCEPT;
/**
 * As fe_aligned_alloc, but an alignment that is not a power of two is
 * rounded up to one, as glibc does; one above the largest power of two gives
 * NULL with errno EINVAL.
 */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(2) void* fe_memalign(size_t align, size_t size) FE_NOEXCEPT;
/**
 * At least `size` bytes aligned to the OS page (sysconf(_SC_PAGESIZE)); NULL
 * with errno ENOMEM when out of memory.
 */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(1) void* fe_valloc(size_t size) FE_NOEXCEPT;
/**
 * As fe_valloc, with the size rounded up to whole OS pages (0 to one page);
 * NULL with errno ENOMEM when the rounding overflows or memory is out.
 */
FE_EXPORT FE_MALLOC_LIKE void* fe_pvalloc(size_t size) FE_NOEXCEPT;

/**
 * Bytes usable at block `p`: at least what was asked for, and all of them may
 * be written (in checked mode exactly what was asked for). 0 for NULL and
 * for a pointer Ferroc never handed out.
 */
FE_EXPORT size_t fe_malloc_usable_size(void const* p) FE_NOEXCEPT;

/**
 * Runs delayed clean-up of the calling thread's heap: takes back the blocks
 * other threads freed to it and frees its empty pages. With force != 0, also
 * reclaims the segments of exited threads and returns free memory to the OS
 * (a thread that never allocated gets its heap for that). Other threads'
 * heaps are not touched. Walks every page of the heap.
 */
FE_EXPORT void fe_collect(int force) FE_NOEXCEPT;

/**
 * Entries of fe_stats_t::classes: room for every size class (the library
 * does not compile for a geometry with more).
 */
#define FE_STATS_MAX_CLASSES 128

/** A value now and the highest it has been. */
typedef struct fe_stats_level {
  size_t current; /**< The value now. */
  size_t peak;    /**< The highest value so far. */
} fe_stats_level;

/** Blocks of one size class. */
typedef struct fe_stats_class {
  size_t block_size;         /**< Bytes of each block of the class. */
  unsigned long long allocs; /**< Blocks handed out. */
  unsigned long long frees;  /**< Blocks taken back. */
} fe_stats_class;

/**
 * Statistics of the whole allocator (see ferroc/stats.hpp). Most counters
 * are kept only by a library built with FERROC_STAT=1 (libferroc-stats.so):
 * `enabled` tells. Block counts and bytes are of block sizes; a block freed
 * by another thread is counted freed when its page's owner takes it in.
 * The preloaded libraries print the table to stderr at exit when the
 * environment variable FERROC_SHOW_STATS is set to 1.
 */
typedef struct fe_stats_t {
  /** 1: built with FERROC_STAT=1; 0: only `segments` and `abandoned_segments` are counted. */
  int enabled;
  unsigned long long allocs;          /**< Blocks handed out, huge ones included. */
  unsigned long long frees;           /**< Blocks taken back, huge ones included. */
  unsigned long long bytes_allocated; /**< Bytes of the blocks handed out (block sizes). */
  unsigned long long bytes_freed;     /**< Bytes of the blocks taken back (block sizes). */
  fe_stats_level huge_blocks;         /**< Blocks larger than the largest class. */
  fe_stats_level huge_bytes;          /**< Bytes of the huge blocks. */
  fe_stats_level pages;               /**< Pages given to a size class. */
  fe_stats_level segments;            /**< Segments claimed, abandoned ones included. */
  fe_stats_level committed;           /**< Bytes of segments that hold memory. */
  fe_stats_level reserved;            /**< Bytes reserved from the OS. */
  size_t abandoned_segments;          /**< Segments of exited threads, waiting to be reclaimed. */
  size_t heaps;                       /**< Heaps alive. */
  size_t class_count;                 /**< classes[1 .. class_count - 1] are set; [0] is unused. */
  fe_stats_class classes[FE_STATS_MAX_CLASSES]; /**< The counters of each size class. */
} fe_stats_t;

/**
 * Fills `*out` with a snapshot of the counters; NULL does nothing. Taken
 * while other threads allocate, each counter is some recent value of its
 * own. A library with statistics walks the registry of live heaps under a
 * lock that starting and exiting threads take too.
 */
FE_EXPORT void fe_stats(fe_stats_t* out) FE_NOEXCEPT;
/**
 * Prints the counters as a table to stderr. Allocates nothing, and is no
 * cancellation point.
 */
FE_EXPORT void fe_stats_print(void) FE_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* FERROC_H */
