/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Out of address space, and back (the C API, ferroc::c linked in):
 *
 *  1. fe_malloc is called with 16 MiB, then 1 MiB, 64 KiB and 4 KiB blocks,
 *     each size until it fails, which it must do with NULL and ENOMEM
 *     (never a crash), while an aligned and a zeroed request fail as well.
 *  2. Every block is freed, fe_collect(1) gives the memory back, and the
 *     same sizes succeed again: at least half as many 16 MiB blocks as in
 *     round 1, and each block holds what was written to it.
 *
 * On a 32-bit target the limit is the process's address space itself (3 or
 * 4 GiB); on a 64-bit one an RLIMIT_AS of 4 GiB. An emulator such as qemu-user ignores RLIMIT_AS
 * (it would limit the emulator), and so does the 64-bit run there: exit status 77, skipped.
 *
 * The blocks are kept on a list threaded through their first words, so that
 * the bookkeeping needs no memory of its own.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <ferroc.h>

#include "check.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

/* A block on the list: the next block, and a tag to check it by. */
struct block {
  struct block* next;
  uintptr_t tag;
};

static size_t const sizes[] = {16 * MIB, MIB, 64 * KIB, 4 * KIB};
enum { size_count = sizeof sizes / sizeof sizes[0] };

/* Far more blocks than any address space holds of these sizes: a guard
 * against a limit that does not hold after all. */
static size_t const max_blocks = (size_t)1 << 21;

static uintptr_t tag_of(struct block const* b, size_t size) {
  return ((uintptr_t)b ^ (uintptr_t)size) * (uintptr_t)0x9E3779B9u;
}

/* Allocates blocks of `size` until fe_malloc fails; how many it got. */
static size_t fill(struct block** list, size_t size, size_t* total) {
  size_t got = 0;
  for (;;) {
    struct block* b = NULL;
    errno = 0;
    b = (struct block*)fe_malloc(size);
    if (b == NULL) {
      CHECK_MSG(errno == ENOMEM, "a failed fe_malloc(%zu) set errno %d, not ENOMEM", size, errno);
      return got;
    }
    b->next = *list;
    b->tag = tag_of(b, size);
    *list = b;
    ++got;
    ++*total;
    REQUIRE(*total < max_blocks);
  }
}

/* Checks and frees every block of the list. */
static void release(struct block** list, size_t size) {
  while (*list != NULL) {
    struct block* b = *list;
    *list = b->next;
    CHECK_MSG(b->tag == tag_of(b, size), "the block at %p of %zu bytes was overwritten", (void*)b,
              size);
    fe_free(b);
  }
}

/* One round of part 1; the 16 MiB blocks it got. */
static size_t exhaust(char const* round) {
  struct block* lists[size_count] = {NULL};
  size_t counts[size_count] = {0};
  size_t total = 0;
  size_t i = 0;
  for (i = 0; i < size_count; ++i)
    counts[i] = fill(&lists[i], sizes[i], &total);
  printf("exhaust: %s: %zu x 16 MiB, %zu x 1 MiB, %zu x 64 KiB, %zu x 4 KiB until ENOMEM\n", round,
         counts[0], counts[1], counts[2], counts[3]);
  CHECK_MSG(counts[0] > 0, "%s: not one 16 MiB block", round);
  {
    /* Nothing bigger fits either, aligned or zeroed. */
    void* p = fe_aligned_alloc(4 * MIB, 16 * MIB);
    CHECK(p == NULL);
    fe_free(p);
    p = fe_calloc(1, 16 * MIB);
    CHECK(p == NULL);
    fe_free(p);
  }
  for (i = 0; i < size_count; ++i)
    release(&lists[i], sizes[i]);
  fe_collect(1);
  return counts[0];
}

int main(void) {
  size_t first = 0;
  size_t second = 0;
#if UINTPTR_MAX > 0xFFFFFFFFu
  {
    struct rlimit rl;
    void* probe = NULL;
    REQUIRE(getrlimit(RLIMIT_AS, &rl) == 0);
    if (rl.rlim_max != RLIM_INFINITY) {
      printf("exhaust: SKIP: a hard RLIMIT_AS is set already\n");
      return 77;
    }
    /* A 32-bit process's worth; a mapping bigger than the limit tells
     * whether the limit holds at all. */
    rl.rlim_cur = (rlim_t)4 << 30;
    REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
    probe =
        mmap(NULL, (size_t)8 << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe != MAP_FAILED) {
      munmap(probe, (size_t)8 << 30);
      printf("exhaust: SKIP: RLIMIT_AS does not hold here (an emulator?)\n");
      return 77;
    }
  }
#endif
  first = exhaust("round 1");
  second = exhaust("round 2");
  CHECK_MSG(second * 2 >= first, "round 2 got %zu x 16 MiB, round 1 %zu", second, first);
  return check_result("exhaust");
}
