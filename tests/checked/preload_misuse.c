/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Misuse of malloc & co. in a plain C program run with a Ferroc library
 * preloaded. With libferroc-checked.so each kind must abort with a message
 * naming the fault (in a child process, see death.h); with the release
 * libferroc.so, "foreign" (free of a stack address) must be ignored and
 * the program must go on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "death.h"

/* Keeps the compiler from seeing through the pointer (and from warning
 * about the misuse it can see). */
static void* volatile hide;

static void* launder(void* p) {
  hide = p;
  return hide;
}

/* Runs in the child: returns only when the misuse went unnoticed. */
static void misuse(char const* kind) {
  if (strcmp(kind, "double_free") == 0) {
    char* p = malloc(100);
    free(p);
    free(launder(p));
  } else if (strcmp(kind, "foreign") == 0) {
    int local[4] = {0};
    free(launder(local));
  } else if (strcmp(kind, "overflow") == 0) {
    char* p = malloc(100);
    memset(launder(p), 'x', 101);
    free(p);
  } else {
    fprintf(stderr, "preload_misuse: unknown kind '%s'\n", kind);
    return;
  }
  fprintf(stderr, "preload_misuse %s: not detected\n", kind);
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "release_foreign") == 0) {
    int local[4] = {0};
    free(launder(local));
    puts("preload_misuse: free of a stack address ignored");
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: preload_misuse double_free|foreign|overflow|release_foreign\n");
    return 2;
  }
  return expect_abort(&misuse, argv[1]);
}
