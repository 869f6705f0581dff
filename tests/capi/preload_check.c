/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The glibc names of the malloc family (malloc, calloc, ..., pvalloc,
 * malloc_usable_size) answered by Ferroc's drop-in replacement, with the
 * same checks as capi_test (api_checks.h). Built twice:
 *
 *   preload_check         not linked to Ferroc; run with
 *                         LD_PRELOAD=libferroc.so
 *   preload_check_linked  ferroc::override linked in statically
 *                         (PRELOAD_CHECK_LINKED defined)
 *
 * Either way it first makes sure the replacement is the malloc in force.
 * Built with -fno-builtin, so the compiler cannot fold or drop calls.
 */

#define _GNU_SOURCE

#include <malloc.h>
#include <stdlib.h>

#include "check.h"
#include "preload_util.h"

#ifdef PRELOAD_CHECK_LINKED
#include <ferroc.h>
#define PRELOAD_EXPECT_LINKED 1
#else
#define PRELOAD_EXPECT_LINKED 0
#endif

#define FE(name) name

static void api_collect(int force) {
#ifdef PRELOAD_CHECK_LINKED
  fe_collect(force);
#else
  fe_collect_fn const collect = find_fe_collect();
  REQUIRE(collect != NULL);
  collect(force);
#endif
}

/* Under the replacement every malloc is Ferroc's: the foreign pointers are
 * the stack, a global and an mmap region only. */
static void* api_foreign_block(void) {
  return NULL;
}

#include "api_checks.h"

int main(void) {
  require_ferroc_malloc(PRELOAD_EXPECT_LINKED);
  run_api_checks();

  /* The C library's own allocations (strdup, stdio buffers) go through the
   * replacement too and can be freed with it. */
  {
    char* s = strdup("ferroc preload");
    REQUIRE(s != NULL);
    CHECK(malloc_usable_size(s) >= 15);
    free(s);
  }
  return check_result(PRELOAD_EXPECT_LINKED ? "preload_check_linked" : "preload_check");
}
