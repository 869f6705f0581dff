/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#ifndef FERROC_H
#define FERROC_H

/*
 * Ferroc's C API: the process-wide allocator (ferroc::Ferroc in C++) behind
 * glibc-compatible functions. Link with libferroc (shared or static).
 *
 * Semantics follow glibc: on failure the allocating functions return NULL
 * and set errno to ENOMEM (size overflow in fe_calloc and fe_reallocarray
 * included); fe_malloc(0) returns a unique pointer; fe_free(NULL) does
 * nothing; fe_realloc(p, 0) frees p and returns NULL; alignments are powers
 * of two of any size. Blocks are at least 16-byte aligned. Any thread may
 * free any block. fe_free ignores pointers that Ferroc never handed out.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FE_EXPORT __attribute__((visibility("default")))
#define FE_MALLOC_LIKE __attribute__((malloc, warn_unused_result))
#define FE_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define FE_EXPORT
#define FE_MALLOC_LIKE
#define FE_ALLOC_SIZE(...)
#endif

#ifdef __cplusplus
#define FE_NOEXCEPT noexcept
#else
#define FE_NOEXCEPT
#endif

FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(1) void* fe_malloc(size_t size) FE_NOEXCEPT;
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(1, 2) void* fe_calloc(size_t count, size_t size) FE_NOEXCEPT;
FE_EXPORT FE_ALLOC_SIZE(2) void* fe_realloc(void* p, size_t size) FE_NOEXCEPT;
FE_EXPORT FE_ALLOC_SIZE(2, 3) void* fe_reallocarray(void* p, size_t count, size_t size) FE_NOEXCEPT;
FE_EXPORT void fe_free(void* p) FE_NOEXCEPT;
/* C23's sized frees: `size` (and `align`) are what the block was asked
 * with; a library built in checked mode stops the process when they do not
 * match the block. NULL does nothing. */
FE_EXPORT void fe_free_sized(void* p, size_t size) FE_NOEXCEPT;
FE_EXPORT void fe_free_aligned_sized(void* p, size_t align, size_t size) FE_NOEXCEPT;

/* Alignment must be a power of two (else NULL with errno EINVAL). */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(2) void* fe_aligned_alloc(size_t align,
                                                                 size_t size) FE_NOEXCEPT;
/* Returns 0, EINVAL (align not a power of two multiple of sizeof(void*)) or ENOMEM. */
FE_EXPORT int fe_posix_memalign(void** out, size_t align, size_t size) FE_NOEXCEPT;
/* A non-power-of-two alignment is rounded up to one, as glibc does; one
 * above the largest power of two gives NULL with errno EINVAL. */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(2) void* fe_memalign(size_t align, size_t size) FE_NOEXCEPT;
/* Aligned to the OS page; fe_pvalloc also rounds the size up to whole pages. */
FE_EXPORT FE_MALLOC_LIKE FE_ALLOC_SIZE(1) void* fe_valloc(size_t size) FE_NOEXCEPT;
FE_EXPORT FE_MALLOC_LIKE void* fe_pvalloc(size_t size) FE_NOEXCEPT;

/* Bytes usable at p (at least what was asked for); 0 for NULL. */
FE_EXPORT size_t fe_malloc_usable_size(void const* p) FE_NOEXCEPT;

/* Runs delayed clean-up of the calling thread's heap; with force != 0, also
 * reclaims abandoned segments and returns free memory to the OS. */
FE_EXPORT void fe_collect(int force) FE_NOEXCEPT;

/*
 * Statistics of the whole allocator (see ferroc/stats.hpp). Most counters
 * are kept only by a library built with FERROC_STAT=1 (libferroc-stats.so):
 * `enabled` tells. Block counts and bytes are of block sizes; a block freed
 * by another thread is counted freed when its page's owner takes it in.
 * The preloaded libraries print the table to stderr at exit when the
 * environment variable FERROC_SHOW_STATS is set to 1.
 */
#define FE_STATS_MAX_CLASSES 128

typedef struct fe_stats_level {
  size_t current;
  size_t peak;
} fe_stats_level;

typedef struct fe_stats_class {
  size_t block_size;
  unsigned long long allocs;
  unsigned long long frees;
} fe_stats_class;

typedef struct fe_stats_t {
  int enabled;
  unsigned long long allocs; /* blocks, huge ones included */
  unsigned long long frees;
  unsigned long long bytes_allocated;
  unsigned long long bytes_freed;
  fe_stats_level huge_blocks;
  fe_stats_level huge_bytes;
  fe_stats_level pages;
  fe_stats_level segments;
  fe_stats_level committed;
  fe_stats_level reserved;
  size_t abandoned_segments;
  size_t heaps;
  size_t class_count; /* classes[1 .. class_count - 1] are set; [0] is unused */
  fe_stats_class classes[FE_STATS_MAX_CLASSES];
} fe_stats_t;

/* Fills *out with a snapshot of the counters. */
FE_EXPORT void fe_stats(fe_stats_t* out) FE_NOEXCEPT;
/* Prints the counters as a table to stderr. Allocates nothing. */
FE_EXPORT void fe_stats_print(void) FE_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* FERROC_H */
