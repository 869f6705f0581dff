/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Running out of memory with libferroc.so preloaded: under an address-space
 * limit (RLIMIT_AS, 512 MiB), malloc of 1 MiB blocks (one byte touched in
 * each) eventually returns NULL with errno ENOMEM, after it has handed out
 * most of the room; the other allocating calls fail the same way there;
 * after everything is freed and fe_collect(1) runs, as much can be
 * allocated again.
 *
 * "Most of the room" is 60 % of the limit less what the process had mapped
 * at start for other things than Ferroc's arenas (program, libraries,
 * stacks: VmSize from /proc/self/status less the arena mapping that holds a
 * first block, from /proc/self/maps). That first arena is mapped before
 * the limit is set, yet it counts as room: the blocks go into it. 1 MiB
 * blocks live three to a 4 MiB segment, so about 75 % is what to expect.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "check.h"
#include "preload_util.h"

#define MIB ((size_t)1 << 20)

enum { limit_mib = 512, max_blocks = 4096 };

static void* blocks[max_blocks];

/* Allocates 1 MiB blocks until malloc fails; returns how many it got, and
 * checks the failure is ENOMEM. */
static size_t fill_up(char const* phase) {
  size_t n = 0;
  for (n = 0; n < max_blocks; ++n) {
    unsigned char* p = NULL;
    errno = 0;
    p = (unsigned char*)malloc(MIB);
    if (p == NULL) {
      CHECK_MSG(errno == ENOMEM, "%s: malloc failed with errno %d, not ENOMEM", phase, errno);
      return n;
    }
    p[(n * 4096) % MIB] = (unsigned char)n; /* one byte touched in each */
    blocks[n] = p;
  }
  CHECK_MSG(n < max_blocks, "%s: %zu MiB allocated under a %d MiB limit", phase, n, (int)limit_mib);
  return n;
}

static void release(size_t n) {
  size_t i = 0;
  for (i = 0; i < n; ++i) {
    free(blocks[i]);
    blocks[i] = NULL;
  }
}

/* Size of the mapping that holds p, from /proc/self/maps; 0 if unknown. */
static size_t mapping_size(void const* p) {
  char line[512];
  size_t size = 0;
  uintptr_t const a = (uintptr_t)p;
  FILE* f = fopen("/proc/self/maps", "r");
  if (f == NULL)
    return 0;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long long lo = 0;
    unsigned long long hi = 0;
    if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && lo <= a && a < hi) {
      size = (size_t)(hi - lo);
      break;
    }
  }
  fclose(f);
  return size;
}

/* Small blocks until malloc fails (or many were made), chained through
 * their first word; all freed again. */
static void small_blocks_at_the_limit(void) {
  void* chain = NULL;
  void* p = NULL;
  size_t n = 0;
  for (n = 0; n < 1000000; ++n) {
    errno = 0;
    p = malloc(64);
    if (p == NULL) {
      CHECK_MSG(errno == ENOMEM, "malloc(64) at the limit: errno %d, not ENOMEM", errno);
      break;
    }
    memcpy(p, &chain, sizeof chain);
    chain = p;
  }
  while (chain != NULL) {
    memcpy(&p, chain, sizeof p);
    free(chain);
    chain = p;
  }
}

/* Every allocating call fails cleanly when the address space is full. */
static void other_calls_at_the_limit(void) {
  unsigned char* keep = (unsigned char*)blocks[0];
  void* p = NULL;
  int rc = 0;
  keep[0] = 0x7E;
  errno = 0;
  p = calloc(1, 64 * MIB);
  CHECK_MSG(p == NULL && errno == ENOMEM, "calloc(1, 64 MiB) at the limit: %p, errno %d", p, errno);
  errno = 0;
  p = realloc(opaque_ptr(keep), 64 * MIB); /* keep stays ours on failure */
  CHECK_MSG(p == NULL && errno == ENOMEM, "realloc(p, 64 MiB) at the limit: %p, errno %d", p,
            errno);
  CHECK(keep[0] == 0x7E);
  errno = 0;
  p = aligned_alloc(8 * MIB, 8 * MIB);
  CHECK_MSG(p == NULL && errno == ENOMEM, "aligned_alloc(8 MiB) at the limit: %p, errno %d", p,
            errno);
  p = NULL;
  rc = posix_memalign(&p, 4096, 64 * MIB);
  CHECK_MSG(rc == ENOMEM && p == NULL, "posix_memalign(64 MiB) at the limit: %d", rc);
  errno = 0;
  p = malloc(opaque_size(SIZE_MAX / 2));
  CHECK(p == NULL && errno == ENOMEM);
}

int main(void) {
  size_t const limit = (size_t)limit_mib * MIB;
  struct rlimit rl;
  fe_collect_fn collect = NULL;
  size_t start_vm = 0;
  size_t arena = 0;
  size_t others = 0;
  size_t room = 0;
  size_t first = 0;
  size_t second = 0;

  require_ferroc_malloc(0);
  collect = find_fe_collect();
  REQUIRE(collect != NULL);

  /* What is mapped at start, and how much of it is Ferroc's first arena. */
  {
    void* probe = malloc(MIB);
    REQUIRE(probe != NULL);
    start_vm = vm_size();
    arena = mapping_size(probe);
    free(probe);
  }
  REQUIRE(start_vm != 0 && arena != 0);
  others = start_vm > arena ? start_vm - arena : 0;
  room = limit > others ? limit - others : 0;
  printf("oom_test: at start VmSize %zu MiB, of which %zu MiB Ferroc's first arena;"
         " room under the %d MiB limit: %zu MiB\n",
         start_vm / MIB, arena / MIB, (int)limit_mib, room / MIB);

  REQUIRE(getrlimit(RLIMIT_AS, &rl) == 0);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < limit) {
    printf("oom_test: SKIP: the hard RLIMIT_AS is already below %d MiB\n", (int)limit_mib);
    return 77;
  }
  REQUIRE(room > limit / 2);
  rl.rlim_cur = limit;
  REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);

  first = fill_up("first fill");
  REQUIRE(first > 0);
  other_calls_at_the_limit();
  small_blocks_at_the_limit();
  printf("oom_test: first fill: %zu MiB (%.0f %% of the room, %.0f %% of the limit)\n", first,
         100.0 * (double)(first * MIB) / (double)room,
         100.0 * (double)(first * MIB) / (double)limit);
  CHECK_MSG(first * MIB >= room / 10 * 6, "only %zu MiB allocated of %zu MiB room", first,
            room / MIB);

  release(first);
  collect(1);
  second = fill_up("second fill");
  printf("oom_test: second fill after free and fe_collect(1): %zu MiB\n", second);
  CHECK_MSG(second >= first / 2, "only %zu MiB after freeing %zu MiB", second, first);
  release(second);
  collect(1);

  /* With the limit lifted, allocation works as before. */
  rl.rlim_cur = rl.rlim_max;
  REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
  {
    void* p = malloc(64 * MIB);
    CHECK(p != NULL);
    free(p);
  }
  return check_result("oom_test");
}
