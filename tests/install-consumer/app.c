/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The consumer's C program: the C API of ferroc.h, linked through ferroc::c
 * or pkg-config's ferroc-c (docs_install.sh). Exits non-zero when a call
 * fails or its block comes back unusable.
 */
#include <ferroc.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  int* v = fe_calloc(100, sizeof *v);
  if (v == NULL || v[99] != 0) {
    fputs("install consumer (C): fe_calloc failed\n", stderr);
    return 1;
  }
  void* p = fe_aligned_alloc(64, 200);
  if (p == NULL || (uintptr_t)p % 64 != 0 || fe_malloc_usable_size(p) < 200) {
    fputs("install consumer (C): fe_aligned_alloc failed\n", stderr);
    return 2;
  }
  memset(p, 0xab, 200);
  fe_free(p);
  fe_free(v);
  puts("install consumer (C): ok");
  return 0;
}
