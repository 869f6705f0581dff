/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The C API (ferroc.h) from a C11 program: every function, with the edge
 * inputs of its glibc contract (see api_checks.h). Linked with ferroc::c,
 * which adds the fe_* functions and leaves the C library's malloc alone:
 * a block from that malloc is the "foreign" pointer fe_free must ignore.
 */

#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include <ferroc.h>

#define FE(name) fe_##name

static void api_collect(int force) {
  fe_collect(force);
}

static void* libc_foreign = NULL;

static void* api_foreign_block(void) {
  libc_foreign = malloc(64); /* the C library's malloc, not Ferroc */
  return libc_foreign;
}

#include "api_checks.h"

int main(void) {
  void* libc_block = NULL;
  run_api_checks();

  /* Ferroc and the C library's allocator live side by side. */
  libc_block = malloc(100);
  REQUIRE(libc_block != NULL);
  {
    void* p = fe_malloc(100);
    REQUIRE(p != NULL);
    CHECK(p != libc_block);
    fe_free(p);
  }
  /* A guarded block: resized and freed as any. */
  {
    char* p = fe_malloc_guarded(100);
    REQUIRE(p != NULL);
    CHECK(fe_malloc_usable_size(p) >= 100);
    memset(p, 1, 100);
    p = fe_realloc(p, 80);
    REQUIRE(p != NULL);
    CHECK(p[79] == 1);
    fe_free(p);
  }
  free(libc_block);
  free(libc_foreign); /* still the C library's, after fe_free ignored it */
  return check_result("capi_test");
}
