/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#ifndef FERROC_CAPI_API_CHECKS_H
#define FERROC_CAPI_API_CHECKS_H

/*
 * The checks of the malloc-family contract (ferroc.h: glibc semantics), once
 * for every spelling of the API. The including program defines, before it
 * includes this file:
 *
 *   FE(name)             the function called `name` in glibc: fe_##name for
 *                        the C API, plain `name` for the drop-in replacement
 *   api_collect(force)   fe_collect, however the program reaches it
 *   api_foreign_block()  NULL, or a live block of another allocator, which
 *                        FE(free) must leave alone
 *
 * and calls run_api_checks(). Needs _GNU_SOURCE (reallocarray, memalign,
 * valloc, pvalloc) and check.h.
 */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "check.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

#if defined(_WIN32)
static inline size_t os_page(void) {
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  return info.dwPageSize;
}
/* Memory of the OS, not of any allocator: the "foreign" mapping. */
static inline void* os_map(size_t size) {
  return VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}
static inline void os_unmap(void* p, size_t size) {
  (void)size;
  VirtualFree(p, 0, MEM_RELEASE);
}
static inline void set_env(char const* name, char const* value) {
  _putenv_s(name, value);
}
#else
static inline size_t os_page(void) {
  long const page = sysconf(_SC_PAGESIZE);
  return page > 0 ? (size_t)page : 4096;
}
static inline void* os_map(size_t size) {
  void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}
static inline void os_unmap(void* p, size_t size) {
  munmap(p, size);
}
static inline void set_env(char const* name, char const* value) {
  setenv(name, value, 1);
}
#endif

static inline int is_aligned(void const* p, size_t align) {
  return ((uintptr_t)p & (align - 1)) == 0;
}

static inline unsigned char pattern_byte(size_t i, unsigned seed) {
  return (unsigned char)((i * 131u) ^ (seed * 7u) ^ (i >> 8));
}

/* Writes n pattern bytes, or only both ends and a byte per page when
 * `sparse` (large blocks: keep the resident set small). */
static inline void fill_pattern(void* p, size_t n, unsigned seed, int sparse) {
  unsigned char* b = (unsigned char*)p;
  size_t const step = sparse ? os_page() : 1;
  size_t i = 0;
  for (i = 0; i < n; i += step)
    b[i] = pattern_byte(i, seed);
  if (n != 0)
    b[n - 1] = pattern_byte(n - 1, seed);
}

/* Whether fill_pattern(p, n, seed, sparse) is still intact. */
static inline int pattern_intact(void const* p, size_t n, unsigned seed, int sparse) {
  unsigned char const* b = (unsigned char const*)p;
  size_t const step = sparse ? os_page() : 1;
  size_t i = 0;
  for (i = 0; i < n; i += step)
    if (b[i] != pattern_byte(i, seed))
      return 0;
  return n == 0 || b[n - 1] == pattern_byte(n - 1, seed);
}

static inline int all_zero(void const* p, size_t n) {
  unsigned char const* b = (unsigned char const*)p;
  size_t i = 0;
  for (i = 0; i < n; ++i)
    if (b[i] != 0)
      return 0;
  return 1;
}

/* Sizes that cross every page kind: small, medium, large, huge. */
static size_t const api_sizes[] = {
    1,     2,         7,    8,       15,          16,      17,          24,   100,
    128,   129,       1000, 1024,    1025,        4096,    8192,        8193, 65536,
    65537, 256 * KIB, MIB,  2 * MIB, 2 * MIB + 1, 5 * MIB, 40 * MIB + 3};
#define API_SIZE_COUNT (sizeof api_sizes / sizeof api_sizes[0])

/* Sizes no allocator can serve: their mapping would not fit in the address
 * space (at least 2^48 bytes, more than a 47-bit user space). A 32-bit
 * target could still map SIZE_MAX / 2 (2 GiB of 4): there the sizes start
 * past it, where every request fails at once. */
#if SIZE_MAX > 0xFFFFFFFFu
#define HUGE_SIZE_HALF (SIZE_MAX / 2)
#define HUGE_SIZE_LARGE ((size_t)1 << 62)
#define HUGE_SIZE_MEDIUM ((size_t)1 << 48)
#else
#define HUGE_SIZE_HALF (SIZE_MAX / 2 + 2)
#define HUGE_SIZE_LARGE (SIZE_MAX / 4 * 3)
#define HUGE_SIZE_MEDIUM (SIZE_MAX / 2 + 4096)
#endif
static inline size_t huge_size(int i) {
  switch (i) {
  case 0:
    return opaque_size(SIZE_MAX);
  case 1:
    return opaque_size(HUGE_SIZE_HALF);
  case 2:
    return opaque_size(SIZE_MAX / 2 + 1);
  case 3:
    return opaque_size(SIZE_MAX - 4096);
  case 4:
    return opaque_size(HUGE_SIZE_LARGE);
  default:
    return opaque_size(HUGE_SIZE_MEDIUM);
  }
}
#define HUGE_SIZE_COUNT 6

static void check_malloc_sizes(void) {
  size_t i = 0;
  for (i = 0; i < API_SIZE_COUNT; ++i) {
    size_t const n = api_sizes[i];
    int const sparse = n > MIB;
    unsigned char* p = (unsigned char*)FE(malloc)(n);
    size_t usable = 0;
    REQUIRE(p != NULL);
    CHECK_MSG(is_aligned(p, 16), "malloc(%zu) = %p is not 16-byte aligned", n, (void*)p);
    usable = FE(malloc_usable_size)(p);
    CHECK_MSG(usable >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, usable);
    fill_pattern(p, usable, (unsigned)i, sparse); /* every usable byte is ours */
    CHECK_MSG(pattern_intact(p, usable, (unsigned)i, sparse), "malloc(%zu): bytes changed", n);
    FE(free)(p);
  }
}

/* Many live blocks of each small size must not overlap. */
static void check_no_overlap(void) {
  enum { count = 200 };
  static size_t const sizes[] = {0, 8, 16, 24, 48, 100, 500, 1000, 3000, 10000};
  void* blocks[count];
  size_t s = 0;
  int i = 0;
  for (s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
    size_t const n = sizes[s] == 0 ? 1 : sizes[s]; /* bytes we write */
    for (i = 0; i < count; ++i) {
      blocks[i] = FE(malloc)(sizes[s]);
      REQUIRE(blocks[i] != NULL);
      if (sizes[s] != 0)
        fill_pattern(blocks[i], n, (unsigned)i, 0);
    }
    for (i = 0; i < count; ++i) {
      if (sizes[s] != 0)
        CHECK_MSG(pattern_intact(blocks[i], n, (unsigned)i, 0),
                  "block %d of size %zu was overwritten by another block", i, sizes[s]);
      if (i > 0)
        CHECK(blocks[i] != blocks[i - 1]);
    }
    for (i = 0; i < count; ++i)
      FE(free)(blocks[i]);
  }
}

static void check_malloc_zero_and_free_null(void) {
  enum { count = 64 };
  void* z[count];
  int i = 0;
  int j = 0;
  for (i = 0; i < count; ++i) {
    z[i] = FE(malloc)(opaque_size(0));
    CHECK_MSG(z[i] != NULL, "malloc(0) #%d returned NULL", i);
    for (j = 0; j < i; ++j)
      CHECK_MSG(z[i] != z[j], "malloc(0) returned %p twice", z[i]);
  }
  for (i = 0; i < count; ++i)
    FE(free)(z[i]);
  FE(free)(NULL); /* a no-op */
  CHECK(FE(malloc_usable_size)(NULL) == 0);
}

/* Zero-byte requests of every kind give a usable (non-null, aligned,
 * distinct) pointer, as glibc does. */
static void check_zero_sizes(void) {
  void* p[8] = {NULL};
  size_t const zero = opaque_size(0);
  int i = 0;
  int j = 0;
  p[0] = FE(aligned_alloc)(64, zero);
  p[1] = FE(memalign)(256, zero);
  CHECK(FE(posix_memalign)(&p[2], 4096, zero) == 0);
  p[3] = FE(realloc)(NULL, zero);
  p[4] = FE(reallocarray)(NULL, zero, zero);
  p[5] = FE(calloc)(zero, zero);
  p[6] = FE(valloc)(zero);
  p[7] = FE(malloc)(zero);
  for (i = 0; i < 8; ++i) {
    CHECK_MSG(p[i] != NULL, "zero-byte request #%d returned NULL", i);
    for (j = 0; j < i; ++j)
      CHECK_MSG(p[i] == NULL || p[i] != p[j], "zero-byte requests #%d and #%d gave %p", j, i, p[i]);
  }
  CHECK(is_aligned(p[0], 64) && is_aligned(p[1], 256) && is_aligned(p[2], 4096));
  CHECK(is_aligned(p[6], os_page()));
  for (i = 0; i < 8; ++i)
    FE(free)(p[i]);
}

/* free leaves errno alone (glibc since 2.33, POSIX.1-2024), also when it
 * gives memory back to the OS. */
static void check_free_keeps_errno(void) {
  static size_t const sizes[] = {8, 5000, 100000, 3 * MIB, 64 * MIB};
  void* p[sizeof sizes / sizeof sizes[0]];
  size_t i = 0;
  for (i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    p[i] = FE(malloc)(sizes[i]);
    REQUIRE(p[i] != NULL);
    memset(p[i], 1, sizes[i]);
  }
  for (i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    errno = EDOM;
    FE(free)(p[i]);
    CHECK_MSG(errno == EDOM, "free of a %zu-byte block changed errno to %d", sizes[i], errno);
  }
  errno = EDOM;
  api_collect(1);
  FE(free)(NULL);
  CHECK_MSG(errno == EDOM, "free(NULL) or fe_collect(1) changed errno to %d", errno);
}

static void check_huge_fails(void) {
  int i = 0;
  void* keep = FE(malloc)(100);
  REQUIRE(keep != NULL);
  fill_pattern(keep, 100, 9, 0);
  for (i = 0; i < HUGE_SIZE_COUNT; ++i) {
    size_t const n = huge_size(i);
    void* p = NULL;
    int rc = 0;

    errno = 0;
    p = FE(malloc)(n);
    CHECK_MSG(p == NULL && errno == ENOMEM, "malloc(%zu): %p, errno %d", n, p, errno);
    errno = 0;
    p = FE(calloc)(1, n);
    CHECK_MSG(p == NULL && errno == ENOMEM, "calloc(1, %zu): %p, errno %d", n, p, errno);
    errno = 0;
    p = FE(realloc)(NULL, n);
    CHECK_MSG(p == NULL && errno == ENOMEM, "realloc(NULL, %zu): %p, errno %d", n, p, errno);
    errno = 0;
    p = FE(aligned_alloc)(64, n);
    CHECK_MSG(p == NULL && errno == ENOMEM, "aligned_alloc(64, %zu): %p, errno %d", n, p, errno);
    errno = 0;
    p = FE(aligned_alloc)(8 * MIB, n);
    CHECK_MSG(p == NULL && errno == ENOMEM, "aligned_alloc(8 MiB, %zu): %p, errno %d", n, p, errno);
    errno = 0;
    p = FE(memalign)(4096, n);
    CHECK_MSG(p == NULL && errno == ENOMEM, "memalign(4096, %zu): %p, errno %d", n, p, errno);
    errno = 0;
    p = FE(valloc)(n);
    CHECK_MSG(p == NULL && errno == ENOMEM, "valloc(%zu): %p, errno %d", n, p, errno);
    errno = 0;
    p = FE(pvalloc)(n);
    CHECK_MSG(p == NULL && errno == ENOMEM, "pvalloc(%zu): %p, errno %d", n, p, errno);
    p = &rc; /* must stay untouched */
    rc = FE(posix_memalign)(&p, 64, n);
    CHECK_MSG(rc == ENOMEM && p == (void*)&rc, "posix_memalign(64, %zu): %d", n, rc);

    /* A failed realloc leaves the block as it was. */
    errno = 0;
    p = FE(realloc)(opaque_ptr(keep), n); /* keep stays ours */
    CHECK_MSG(p == NULL && errno == ENOMEM, "realloc(p, %zu): %p, errno %d", n, p, errno);
    CHECK(pattern_intact(keep, 100, 9, 0));
  }
  FE(free)(keep);
}

/* 2^32 on 64-bit targets, 2^16 on 32-bit ones: its square just overflows. */
#define HALF_WIDTH_BIT ((size_t)1 << (sizeof(size_t) * 4))

static void check_overflow(void) {
  struct {
    size_t count, size;
  } const cases[] = {
      {SIZE_MAX / 2 + 1, 2}, {2, SIZE_MAX / 2 + 1}, {HALF_WIDTH_BIT, HALF_WIDTH_BIT},
      {SIZE_MAX, SIZE_MAX},  {3, SIZE_MAX / 3 + 1}, {SIZE_MAX / 16 + 1, 16},
  };
  size_t i = 0;
  for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    size_t const c = opaque_size(cases[i].count);
    size_t const s = opaque_size(cases[i].size);
    void* keep = FE(malloc)(32);
    void* p = NULL;
    REQUIRE(keep != NULL);
    fill_pattern(keep, 32, 3, 0);

    errno = 0;
    p = FE(calloc)(c, s);
    CHECK_MSG(p == NULL && errno == ENOMEM, "calloc(%zu, %zu): %p, errno %d", c, s, p, errno);
    errno = 0;
    p = FE(reallocarray)(NULL, c, s);
    CHECK_MSG(p == NULL && errno == ENOMEM, "reallocarray(NULL, %zu, %zu): %p, errno %d", c, s, p,
              errno);
    errno = 0;
    p = FE(reallocarray)(opaque_ptr(keep), c, s); /* keep stays ours */
    CHECK_MSG(p == NULL && errno == ENOMEM, "reallocarray(p, %zu, %zu): %p, errno %d", c, s, p,
              errno);
    CHECK_MSG(pattern_intact(keep, 32, 3, 0), "reallocarray overflow changed the block");
    FE(free)(keep);
  }
}

static void check_calloc(void) {
  static size_t const sizes[] = {1, 8, 100, 1000, 10000, 100000, MIB, 3 * MIB, 8 * MIB + 5};
  enum { rounds = 8 };
  size_t s = 0;
  int i = 0;
  void* z = NULL;
  for (s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
    size_t const n = sizes[s];
    void* blocks[rounds];
    /* Dirty blocks of this size, free them, then calloc the same size: the
     * recycled memory must come back zeroed. */
    for (i = 0; i < rounds; ++i) {
      blocks[i] = FE(malloc)(n);
      REQUIRE(blocks[i] != NULL);
      memset(blocks[i], 0xAB, FE(malloc_usable_size)(blocks[i]));
    }
    for (i = 0; i < rounds; ++i)
      FE(free)(blocks[i]);
    for (i = 0; i < rounds; ++i) {
      blocks[i] = FE(calloc)(1, n);
      REQUIRE(blocks[i] != NULL);
      CHECK_MSG(all_zero(blocks[i], n), "calloc(1, %zu) #%d is not zeroed", n, i);
      memset(blocks[i], 0xCD, n);
    }
    for (i = 0; i < rounds; ++i)
      FE(free)(blocks[i]);
    z = FE(calloc)(n, 3);
    REQUIRE(z != NULL);
    CHECK_MSG(all_zero(z, 3 * n), "calloc(%zu, 3) is not zeroed", n);
    FE(free)(z);
  }
  z = FE(calloc)(0, 0);
  CHECK(z != NULL);
  FE(free)(z);
  z = FE(calloc)(0, 100);
  CHECK(z != NULL);
  FE(free)(z);
}

static void check_realloc(void) {
  static size_t const steps[] = {1,   10,      100,      1000,     10000,  100000,
                                 MIB, 3 * MIB, 10 * MIB, 3 * MIB,  100000, 4000,
                                 100, 8,       1,        64 * KIB, 17,     5 * MIB};
  size_t i = 0;
  size_t kept = 0; /* bytes of the pattern that must survive */
  unsigned char* p = NULL;
  void* q = NULL;

  /* realloc(NULL, n) allocates. */
  p = (unsigned char*)FE(realloc)(NULL, opaque_size(1));
  REQUIRE(p != NULL);
  fill_pattern(p, 1, 5, 0);
  kept = 1;
  for (i = 1; i < sizeof steps / sizeof steps[0]; ++i) {
    size_t const n = steps[i];
    unsigned char* r = (unsigned char*)FE(realloc)(p, n);
    REQUIRE(r != NULL);
    p = r;
    if (n < kept)
      kept = n;
    CHECK_MSG(pattern_intact(p, kept, 5, 0), "realloc to %zu lost the first %zu bytes", n, kept);
    CHECK_MSG(FE(malloc_usable_size)(p) >= n, "usable size %zu < %zu after realloc",
              FE(malloc_usable_size)(p), n);
    CHECK_MSG(is_aligned(p, 16), "realloc(%zu) = %p is not 16-byte aligned", n, (void*)p);
    fill_pattern(p, n, 5, 0);
    kept = n;
  }
  /* Same size: the block stays valid. */
  q = FE(realloc)(p, kept);
  REQUIRE(q != NULL);
  p = (unsigned char*)q;
  CHECK(pattern_intact(p, kept, 5, 0));
  /* realloc(p, 0) frees p and returns NULL, as glibc does. */
  q = FE(realloc)(p, opaque_size(0));
  CHECK_MSG(q == NULL, "realloc(p, 0) returned %p, not NULL", q);
  if (q != NULL)
    FE(free)(q);

  /* reallocarray grows, keeps, and with count 0 behaves as realloc(p, 0). */
  p = (unsigned char*)FE(reallocarray)(NULL, 10, 10);
  REQUIRE(p != NULL);
  fill_pattern(p, 100, 6, 0);
  q = FE(reallocarray)(p, 1000, 10);
  REQUIRE(q != NULL);
  p = (unsigned char*)q;
  CHECK(pattern_intact(p, 100, 6, 0));
  CHECK(FE(malloc_usable_size)(p) >= 10000);
  q = FE(reallocarray)(p, opaque_size(0), 10);
  CHECK_MSG(q == NULL, "reallocarray(p, 0, 10) returned %p, not NULL", q);
  if (q != NULL)
    FE(free)(q);
}

/* One aligned block: aligned, large enough, first and last byte writable. */
static void check_aligned_block(char const* how, void* p, size_t align, size_t size) {
  size_t usable = 0;
  if (p == NULL) {
    CHECK_MSG(p != NULL, "%s(align %zu, size %zu) failed", how, align, size);
    return;
  }
  CHECK_MSG(is_aligned(p, align), "%s(align %zu, size %zu) = %p is misaligned", how, align, size,
            p);
  usable = FE(malloc_usable_size)(p);
  CHECK_MSG(usable >= size, "%s(align %zu, size %zu): usable size %zu", how, align, size, usable);
  ((unsigned char*)p)[size - 1] = 0xA5;
  ((unsigned char*)p)[usable - 1] = 0x3C;
  ((unsigned char*)p)[0] = 0x5A;
  /* usable is exactly size in checked mode, so it may be the first byte. */
  CHECK(((unsigned char*)p)[0] == 0x5A && (usable == 1 || ((unsigned char*)p)[usable - 1] == 0x3C));
  FE(free)(p);
}

static void check_alignments(void) {
  int k = 0;
  for (k = 0; k <= 27; ++k) {
    size_t const align = (size_t)1 << k;
    size_t const sizes[] = {1, 24, align, align + 1, 3 * align / 2 + 7};
    size_t s = 0;
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
      size_t const n = sizes[s];
      void* p = NULL;
      check_aligned_block("aligned_alloc", FE(aligned_alloc)(align, n), align, n);
      check_aligned_block("memalign", FE(memalign)(align, n), align, n);
      if (align >= sizeof(void*)) {
        int const rc = FE(posix_memalign)(&p, align, n);
        CHECK_MSG(rc == 0, "posix_memalign(align %zu, size %zu) = %d", align, n, rc);
        if (rc == 0)
          check_aligned_block("posix_memalign", p, align, n);
      }
    }
  }
  /* Several large alignments live at once. */
  {
    void* live[8];
    for (k = 0; k < 8; ++k) {
      size_t const align = (size_t)1 << (20 + k % 4);
      live[k] = FE(aligned_alloc)(align, 1000);
      REQUIRE(live[k] != NULL);
      CHECK(is_aligned(live[k], align));
      memset(live[k], k, 1000);
    }
    for (k = 0; k < 8; ++k) {
      CHECK(((unsigned char*)live[k])[999] == (unsigned char)k);
      FE(free)(live[k]);
    }
  }
}

/* Live aligned blocks of many alignments and sizes, each written over its
 * whole usable size: no two may overlap (usable_size must not overstate). */
static void check_aligned_no_overlap(void) {
  enum { per_case = 12, max_live = 9 * 6 * per_case };
  static size_t const aligns[] = {32, 64, 128, 256, 512, 1024, 4096, 8192, 65536};
  static size_t const sizes[] = {1, 24, 100, 1000, 5000, 70000};
  static void* live[max_live];
  static size_t usable[max_live];
  size_t a = 0;
  size_t s = 0;
  size_t n = 0;
  size_t i = 0;
  int k = 0;
  for (a = 0; a < sizeof aligns / sizeof aligns[0]; ++a) {
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
      for (k = 0; k < per_case; ++k) {
        void* p = NULL;
        switch (k % 3) {
        case 0:
          p = FE(aligned_alloc)(aligns[a], sizes[s]);
          break;
        case 1:
          p = FE(memalign)(aligns[a], sizes[s]);
          break;
        default:
          if (FE(posix_memalign)(&p, aligns[a], sizes[s]) != 0)
            p = NULL;
          break;
        }
        REQUIRE(p != NULL);
        CHECK(is_aligned(p, aligns[a]));
        usable[n] = FE(malloc_usable_size)(p);
        CHECK(usable[n] >= sizes[s]);
        fill_pattern(p, usable[n], (unsigned)n, 0);
        live[n++] = p;
      }
    }
  }
  for (i = 0; i < n; ++i) {
    CHECK_MSG(pattern_intact(live[i], usable[i], (unsigned)i, 0),
              "aligned block %zu (%p, usable %zu) was overwritten by another block", i, live[i],
              usable[i]);
    FE(free)(live[i]);
  }
}

static void check_bad_alignments(void) {
  static size_t const posix_bad[] = {0, 1, 2, 3, sizeof(void*) / 2, 12, 24, 48, 1000, 4097};
  static size_t const aligned_bad[] = {0, 3, 24, 48, 1000, 4097, 3 * MIB};
  size_t i = 0;
  for (i = 0; i < sizeof posix_bad / sizeof posix_bad[0]; ++i) {
    size_t const a = opaque_size(posix_bad[i]);
    void* p = &i; /* must stay untouched */
    int const rc = FE(posix_memalign)(&p, a, 64);
    CHECK_MSG(rc == EINVAL, "posix_memalign(align %zu) = %d, not EINVAL", a, rc);
    CHECK_MSG(p == (void*)&i, "posix_memalign(align %zu) wrote the result on failure", a);
  }
  for (i = 0; i < sizeof aligned_bad / sizeof aligned_bad[0]; ++i) {
    size_t const a = opaque_size(aligned_bad[i]);
    void* p = NULL;
    errno = 0;
    p = FE(aligned_alloc)(a, 64);
    CHECK_MSG(p == NULL && errno == EINVAL, "aligned_alloc(%zu, 64): %p, errno %d", a, p, errno);
    if (p != NULL)
      FE(free)(p);
  }
}

static void check_memalign_rounds_up(void) {
  struct {
    size_t asked, expected;
  } const cases[] = {{3, 4},       {24, 32},        {48, 64},          {100, 128},
                     {3000, 4096}, {65537, 131072}, {5 * MIB, 8 * MIB}};
  size_t i = 0;
  void* p = NULL;
  for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    p = FE(memalign)(opaque_size(cases[i].asked), 100);
    CHECK_MSG(p != NULL && is_aligned(p, cases[i].expected),
              "memalign(%zu, 100) = %p, expected %zu-aligned", cases[i].asked, p,
              cases[i].expected);
    if (p != NULL) {
      CHECK(FE(malloc_usable_size)(p) >= 100);
      memset(p, 1, 100);
      FE(free)(p);
    }
  }
  /* memalign(0, n) works (alignment 1 or more). */
  p = FE(memalign)(opaque_size(0), 10);
  CHECK(p != NULL);
  FE(free)(p);
  /* An alignment that cannot be rounded up to a power of two is invalid
   * (glibc: EINVAL); the largest power of two is valid but cannot be served
   * (ENOMEM). */
  {
    size_t const invalid[] = {SIZE_MAX / 2 + 2, SIZE_MAX - 4095, SIZE_MAX};
    size_t k = 0;
    for (k = 0; k < sizeof invalid / sizeof invalid[0]; ++k) {
      errno = 0;
      p = FE(memalign)(opaque_size(invalid[k]), 4096);
      CHECK_MSG(p == NULL && errno == EINVAL, "memalign(%zu, 4096): %p, errno %d", invalid[k], p,
                errno);
    }
    errno = 0;
    p = FE(memalign)(opaque_size(SIZE_MAX / 2 + 1), 10);
    CHECK_MSG(p == NULL && errno == ENOMEM, "memalign(SIZE_MAX / 2 + 1, 10): %p, errno %d", p,
              errno);
  }
}

/* C23 free_sized and free_aligned_sized with the sizes the blocks were
 * asked with, every page kind; NULL does nothing. */
static void check_free_sized(void) {
  size_t i = 0;
  int h = 0;
  for (i = 0; i < API_SIZE_COUNT; ++i) {
    size_t const n = api_sizes[i];
    void* p = FE(malloc)(n);
    void* q = FE(calloc)(n == 0 ? 1 : 2, n);
    void* a = FE(aligned_alloc)(opaque_size(256), n);
    REQUIRE(p != NULL && q != NULL && a != NULL);
    fill_pattern(p, n, 3, 0);
    CHECK(is_aligned(a, 256));
    FE(free_sized)(p, n);
    FE(free_sized)(q, n == 0 ? n : 2 * n);
    FE(free_aligned_sized)(a, 256, n);
  }
  for (h = 0; h < 2; ++h) {
    size_t const n = h == 0 ? 3 * MIB + 5 : 9 * MIB; /* past the largest class */
    void* p = FE(malloc)(n);
    void* a = FE(aligned_alloc)(opaque_size(MIB), n);
    REQUIRE(p != NULL && a != NULL);
    FE(free_sized)(p, n);
    FE(free_aligned_sized)(a, MIB, n);
  }
  {
    /* A block that realloc moved or kept: its size is the new one. */
    void* p = FE(malloc)(100);
    REQUIRE(p != NULL);
    p = FE(realloc)(p, 5000);
    REQUIRE(p != NULL);
    p = FE(realloc)(p, 4000);
    REQUIRE(p != NULL);
    FE(free_sized)(p, 4000);
  }
  FE(free_sized)(NULL, 10);
  FE(free_aligned_sized)(NULL, 64, 10);
  /* And the allocator still works. */
  {
    void* p = FE(malloc)(64);
    CHECK(p != NULL);
    FE(free)(p);
  }
}

static void check_valloc_pvalloc(void) {
  size_t const page = os_page();
  size_t const vsizes[] = {0, 1, 100, page - 1, page, page + 1, 3 * page, MIB + 1};
  size_t i = 0;
  for (i = 0; i < sizeof vsizes / sizeof vsizes[0]; ++i) {
    size_t const n = opaque_size(vsizes[i]);
    size_t const rounded = n == 0 ? page : (n + page - 1) / page * page;
    void* v = FE(valloc)(n);
    void* pv = FE(pvalloc)(n);
    CHECK_MSG(v != NULL && is_aligned(v, page), "valloc(%zu) = %p", n, v);
    CHECK_MSG(pv != NULL && is_aligned(pv, page), "pvalloc(%zu) = %p", n, pv);
    if (v != NULL) {
      CHECK(FE(malloc_usable_size)(v) >= n);
      if (n != 0)
        memset(v, 2, n);
    }
    if (pv != NULL) {
      /* pvalloc rounds the size up to whole pages (pvalloc(0) is one page),
       * and all of it is usable. */
      size_t const usable = FE(malloc_usable_size)(pv);
      CHECK_MSG(usable >= rounded, "pvalloc(%zu): usable size %zu < %zu", n, usable, rounded);
      memset(pv, 3, rounded);
    }
    FE(free)(v);
    FE(free)(pv);
  }
  /* memalign to the real page, whatever its size (4, 16 or 64 KiB). */
  for (i = 0; i < sizeof vsizes / sizeof vsizes[0]; ++i) {
    size_t const n = opaque_size(vsizes[i]);
    void* m = FE(memalign)(page, n);
    CHECK_MSG(m != NULL && is_aligned(m, page), "memalign(%zu, %zu) = %p", page, n, m);
    if (m != NULL && n != 0)
      memset(m, 4, n);
    FE(free)(m);
  }
}

/* Pointers of no Ferroc block, with FERROC_ON_INVALID_FREE=ignore, are
 * left alone: no crash, memory untouched. (By default release builds stop
 * on them, tests/hardened; checked mode always does, tests/checked: only
 * the lookups run there.) The policy is read at the first invalid free,
 * so setting it here is in time. */
#ifndef FERROC_CHECKED
#define FERROC_CHECKED 0
#endif
static unsigned char foreign_global[256];

static void check_foreign_free(void) {
  unsigned char on_stack[256];
  size_t const page = os_page();
  unsigned char* mapped = (unsigned char*)os_map(4 * page);
  void* other = api_foreign_block();
  REQUIRE(mapped != NULL);
  memset(on_stack, 0x11, sizeof on_stack);
  memset(foreign_global, 0x22, sizeof foreign_global);
  memset(mapped, 0x33, 4 * page);

  set_env("FERROC_ON_INVALID_FREE", "ignore");
#if !FERROC_CHECKED /* checked mode aborts instead (tests/checked) */
  FE(free)(opaque_ptr(on_stack));
  FE(free)(opaque_ptr(on_stack + 16));
  FE(free)(opaque_ptr(foreign_global));
  FE(free)(opaque_ptr(foreign_global + 32));
  FE(free)(opaque_ptr(mapped));
  FE(free)(opaque_ptr(mapped + page + 16));
#endif
  CHECK(FE(malloc_usable_size)(opaque_ptr(on_stack)) == 0);
  CHECK(FE(malloc_usable_size)(opaque_ptr(mapped)) == 0);
  if (other != NULL) {
    memset(other, 0x44, 64);
#if !FERROC_CHECKED
    FE(free)(opaque_ptr(other));
#endif
    CHECK(FE(malloc_usable_size)(other) == 0);
    CHECK_MSG(((unsigned char*)other)[63] == 0x44, "free of a foreign block wrote to it");
  }
  CHECK(on_stack[0] == 0x11 && on_stack[255] == 0x11 && on_stack[16] == 0x11);
  CHECK(foreign_global[0] == 0x22 && foreign_global[32] == 0x22);
  CHECK(mapped[0] == 0x33 && mapped[page + 16] == 0x33);
  os_unmap(mapped, 4 * page);

  /* And the allocator still works. */
  {
    void* p = FE(malloc)(100);
    CHECK(p != NULL);
    FE(free)(p);
  }
}

static void check_collect(void) {
  enum { count = 2000 };
  static void* blocks[count];
  int i = 0;
  void* keep = FE(malloc)(5000);
  REQUIRE(keep != NULL);
  fill_pattern(keep, 5000, 8, 0);
  for (i = 0; i < count; ++i) {
    blocks[i] = FE(malloc)((size_t)(i % 50) * 700 + 1);
    REQUIRE(blocks[i] != NULL);
  }
  for (i = 0; i < count; ++i)
    FE(free)(blocks[i]);
  api_collect(0);
  CHECK(pattern_intact(keep, 5000, 8, 0));
  api_collect(1);
  CHECK(pattern_intact(keep, 5000, 8, 0));
  /* Allocation works after a forced collect, and calloc memory is zero. */
  for (i = 0; i < count; ++i) {
    size_t const n = (size_t)(i % 50) * 700 + 1;
    blocks[i] = FE(calloc)(1, n);
    REQUIRE(blocks[i] != NULL);
    CHECK(all_zero(blocks[i], n));
  }
  for (i = 0; i < count; ++i)
    FE(free)(blocks[i]);
  api_collect(1);
  api_collect(0);
  FE(free)(keep);
}

/* Blocks made by one thread are freed by another, both ways. */
enum { xthread_count = 3000 };
static void* xthread_blocks[xthread_count];

static void* xthread_alloc(void* arg) {
  int i = 0;
  (void)arg;
  for (i = 0; i < xthread_count; ++i) {
    size_t const n = (size_t)(mix64((uint64_t)i) % 3000) + 1;
    xthread_blocks[i] = FE(malloc)(n);
    if (xthread_blocks[i] != NULL)
      fill_pattern(xthread_blocks[i], n, (unsigned)i, 0);
  }
  return NULL;
}

static void* xthread_free(void* arg) {
  int i = 0;
  int* bad = (int*)arg;
  for (i = 0; i < xthread_count; ++i) {
    size_t const n = (size_t)(mix64((uint64_t)i) % 3000) + 1;
    if (xthread_blocks[i] == NULL || !pattern_intact(xthread_blocks[i], n, (unsigned)i, 0))
      ++*bad;
    FE(free)(xthread_blocks[i]);
  }
  return NULL;
}

static void check_cross_thread(void) {
  pthread_t t;
  int bad = 0;
  int round = 0;
  for (round = 0; round < 3; ++round) {
    /* Made by a thread that then exits, freed here. */
    REQUIRE(pthread_create(&t, NULL, xthread_alloc, NULL) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    xthread_free(&bad);
    /* Made here, freed by another thread. */
    xthread_alloc(NULL);
    REQUIRE(pthread_create(&t, NULL, xthread_free, &bad) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
  }
  CHECK_MSG(bad == 0, "%d blocks lost their contents or were NULL across threads", bad);
  api_collect(1);
}

static void run_api_checks(void) {
  check_malloc_sizes();
  check_no_overlap();
  check_malloc_zero_and_free_null();
  check_zero_sizes();
  check_free_keeps_errno();
  check_huge_fails();
  check_overflow();
  check_calloc();
  check_realloc();
  check_alignments();
  check_aligned_no_overlap();
  check_bad_alignments();
  check_memalign_rounds_up();
  check_free_sized();
  check_valloc_pvalloc();
  check_foreign_free();
  check_collect();
  check_cross_thread();
}

#endif /* FERROC_CAPI_API_CHECKS_H */
