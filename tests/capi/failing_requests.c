/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Requests that must fail, with libferroc.so preloaded (or, built with
 * FAILING_REQUESTS_LINKED, ferroc::override linked in): each returns NULL
 * with errno ENOMEM (posix_memalign: returns ENOMEM), and failing costs no
 * page faults: a failure path that collects and decommits free pages makes
 * them fault in again at the next small malloc. Every request follows a
 * small malloc/free pair, and the minor and major faults over each loop
 * (getrusage) stay below fault_bound.
 *
 *  1. 20000 impossible requests: sizes past PTRDIFF_MAX (SIZE_MAX - i) to
 *     malloc, calloc, realloc (the block stays), aligned_alloc,
 *     posix_memalign and memalign, and an alignment of 2^62. They fail
 *     before any system call.
 *  2. Under an RLIMIT_AS of 1 GiB, 20000 requests of 64 GiB, which the OS
 *     refuses (one failing mmap each): a collect cannot make room for them.
 *  3. Under an RLIMIT_AS 64 MiB above the current VmSize, 2000 requests of
 *     248 MiB: a size that fits an arena (and a larger run of free slots
 *     than the arenas of this process have), so the allocator gives
 *     segments back to its arenas and looks once more, but decommits
 *     nothing.
 *     Then, still under the limits, blocks that fit are allocated again.
 *
 * Exit status 77: skipped (a hard RLIMIT_AS below what parts 2 and 3 set).
 * Nanoseconds per call are printed for information; nothing is timed.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "preload_util.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)

enum {
  impossible_calls = 20000,
  refused_calls = 20000,
  arena_sized_calls = 2000,
  fault_bound = 100
};

static void* volatile sink;

static long page_faults(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return ru.ru_minflt + ru.ru_majflt;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The small malloc/free pair between two requests. */
static void small_pair(size_t i) {
  void* p = malloc(32 + i % 64);
  REQUIRE(p != NULL);
  sink = p;
  free(p);
}

/* One request of `size` in form `form` (0-5); whether it failed cleanly.
 * A block it gets after all is freed (realloc's takes the place of keep). */
static int request_fails(unsigned form, size_t size, size_t align, unsigned char** keep) {
  void* p = NULL;
  int rc = 0;
  errno = 0;
  switch (form % 6) {
  case 0:
    p = malloc(size);
    break;
  case 1:
    p = calloc(1, size);
    break;
  case 2:
    p = realloc(*keep, size); /* keep stays ours on failure */
    if (p != NULL) {
      *keep = (unsigned char*)p;
      return 0;
    }
    break;
  case 3:
    p = aligned_alloc(align, size);
    break;
  case 4:
    rc = posix_memalign(&p, align, size);
    if (rc != 0 && p == NULL)
      return rc == ENOMEM;
    break;
  default:
    p = memalign(align, size);
    break;
  }
  if (p != NULL) {
    sink = p;
    free(p);
    return 0;
  }
  return errno == ENOMEM;
}

struct outcome {
  long faults;
  double ns;
  unsigned bad;
};

/* `calls` requests of `size` (minus i with `shrink`), each after a small pair. */
static struct outcome loop(unsigned calls, size_t size, int shrink, unsigned char** keep) {
  struct outcome o = {0, 0.0, 0};
  long const f0 = page_faults();
  double const t0 = now_ns();
  unsigned i = 0;
  for (i = 0; i < calls; ++i) {
    size_t const n = shrink ? size - i : size;
    small_pair(i);
    if (!request_fails(i, opaque_size(n), (size_t)64 << (i % 16), keep))
      ++o.bad;
  }
  o.ns = (now_ns() - t0) / calls;
  o.faults = page_faults() - f0;
  return o;
}

static void report(char const* what, unsigned calls, struct outcome o) {
  printf("failing_requests: %s: %u calls, %.0f ns per call with its small pair, %ld page faults\n",
         what, calls, o.ns, o.faults);
  CHECK_MSG(o.bad == 0, "%s: %u of %u requests did not fail with ENOMEM", what, o.bad, calls);
  CHECK_MSG(o.faults < fault_bound, "%s: %ld page faults over %u failing requests", what, o.faults,
            calls);
}

static void warm_up(unsigned char** keep) {
  unsigned i = 0;
  for (i = 0; i < 64; ++i) {
    small_pair(i);
    (void)request_fails(i, opaque_size(SIZE_MAX - i), 64, keep);
  }
}

/* Sets the soft RLIMIT_AS; 0 when the hard limit does not allow it. */
static int set_limit(size_t bytes) {
  struct rlimit rl;
  REQUIRE(getrlimit(RLIMIT_AS, &rl) == 0);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < bytes)
    return 0;
  rl.rlim_cur = bytes;
  REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
  return 1;
}

static void lift_limit(void) {
  struct rlimit rl;
  REQUIRE(getrlimit(RLIMIT_AS, &rl) == 0);
  rl.rlim_cur = rl.rlim_max;
  REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
}

/* A block of `size` can be had, written and freed. */
static void allocates(size_t size, char const* when) {
  unsigned char* p = (unsigned char*)malloc(size);
  CHECK_MSG(p != NULL, "malloc(%zu MiB) %s failed", size / MIB, when);
  if (p != NULL) {
    p[0] = 1;
    p[size - 1] = 2;
    free(p);
  }
}

int main(void) {
  unsigned char* keep = NULL;
  struct outcome o;
  int skipped = 0;
  size_t vm = 0;

#ifdef FAILING_REQUESTS_LINKED
  require_ferroc_malloc(1);
#else
  require_ferroc_malloc(0);
#endif
  keep = (unsigned char*)malloc(100);
  REQUIRE(keep != NULL);
  memset(keep, 0x5A, 100);
  warm_up(&keep);

  /* 1. Impossible sizes, and an impossible alignment. */
  o = loop(impossible_calls, SIZE_MAX, 1, &keep);
  report("sizes past PTRDIFF_MAX", impossible_calls, o);
  {
    long const f0 = page_faults();
    unsigned i = 0;
    unsigned bad = 0;
    for (i = 0; i < 1000; ++i) {
      small_pair(i);
      if (!request_fails(3 + i % 3, 64, (size_t)1 << 62, &keep))
        ++bad;
    }
    CHECK_MSG(bad == 0, "alignment 2^62: %u requests did not fail with ENOMEM", bad);
    CHECK_MSG(page_faults() - f0 < fault_bound, "alignment 2^62: %ld page faults",
              page_faults() - f0);
  }
  CHECK(keep[0] == 0x5A && keep[99] == 0x5A);

  /* 2. A plausible size that the OS refuses. */
  if (set_limit(GIB)) {
    o = loop(refused_calls, (size_t)64 << 30, 0, &keep);
    report("64 GiB under a 1 GiB RLIMIT_AS", refused_calls, o);
    allocates(300 * MIB, "under a 1 GiB RLIMIT_AS"); /* a chunk of its own */
    allocates(100 * MIB, "under a 1 GiB RLIMIT_AS"); /* arena slots */
    lift_limit();
  } else {
    skipped = 1;
  }
  CHECK(keep[0] == 0x5A && keep[99] == 0x5A);

  /* 3. A size that fits an arena, refused. */
  vm = vm_size();
  REQUIRE(vm != 0);
  if (set_limit(vm + 64 * MIB)) {
    o = loop(arena_sized_calls, 248 * MIB, 0, &keep);
    report("248 MiB under a limit 64 MiB above VmSize", arena_sized_calls, o);
    allocates(8 * MIB, "under a limit 64 MiB above VmSize");
    lift_limit();
  } else {
    skipped = 1;
  }
  CHECK(keep[0] == 0x5A && keep[99] == 0x5A);
  free(keep);

  if (check_failures == 0 && skipped) {
    printf("failing_requests: SKIP: the hard RLIMIT_AS is too low for parts 2 and 3\n");
    return 77;
  }
  return check_result("failing_requests");
}
