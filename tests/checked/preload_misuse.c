/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Misuse of malloc & co. in a plain C program run with a Ferroc library
 * preloaded. With libferroc-checked.so each kind must abort with a message
 * naming the fault (in a child process, see death.h); so must the release
 * libferroc.so for the kinds its free checks find (tests/hardened), and
 * with FERROC_ON_INVALID_FREE=ignore, "release_foreign" (free of a stack
 * address) must be left alone and the program must go on.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT */

#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "death.h"

/* The preloaded library's symbol `name`, or NULL. */
static void* library_symbol(char const* name) {
  return dlsym(RTLD_DEFAULT, name);
}

/* operator new(size_t) and operator delete(void*, size_t) in the Itanium
 * C++ ABI, for the size_t of this target. */
#if SIZE_MAX == UINT_MAX
static char const mangled_new[] = "_Znwj";
static char const mangled_delete[] = "_ZdlPvj";
#else
static char const mangled_new[] = "_Znwm";
static char const mangled_delete[] = "_ZdlPvm";
#endif

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
  } else if (strcmp(kind, "free_sized") == 0) {
    /* C23's sized frees, looked up: this C library may not have them. */
    void* sym = library_symbol("free_sized");
    void (*free_sized_fn)(void*, size_t) = NULL;
    /* ISO C has no cast from an object pointer to a function pointer. */
    memcpy(&free_sized_fn, &sym, sizeof free_sized_fn);
    if (sym != NULL)
      free_sized_fn(launder(malloc(100)), 99);
  } else if (strcmp(kind, "free_aligned_sized") == 0) {
    void* sym = library_symbol("free_aligned_sized");
    void (*free_aligned_sized_fn)(void*, size_t, size_t) = NULL;
    memcpy(&free_aligned_sized_fn, &sym, sizeof free_aligned_sized_fn);
    if (sym != NULL)
      free_aligned_sized_fn(launder(aligned_alloc(64, 128)), 64, 64);
  } else if (strcmp(kind, "sized_delete") == 0) {
    /* operator new(size_t) and the sized operator delete(void*, size_t),
     * by their mangled names: this program is C. */
    void* new_sym = library_symbol(mangled_new);
    void* delete_sym = library_symbol(mangled_delete);
    void* (*new_fn)(size_t) = NULL;
    void (*delete_fn)(void*, size_t) = NULL;
    memcpy(&new_fn, &new_sym, sizeof new_fn);
    memcpy(&delete_fn, &delete_sym, sizeof delete_fn);
    if (new_sym == NULL || delete_sym == NULL) {
      fprintf(stderr, "preload_misuse: no operator new/delete exported\n");
      return;
    }
    delete_fn(launder(new_fn(48)), 40);
  } else if (strcmp(kind, "unaligned") == 0) {
    char* p = malloc(64);
    free(launder(p + 8));
  } else if (strcmp(kind, "free_sized_misfit") == 0) {
    /* A size the block cannot have: the release library stops too. */
    void* sym = library_symbol("free_sized");
    void (*free_sized_fn)(void*, size_t) = NULL;
    memcpy(&free_sized_fn, &sym, sizeof free_sized_fn);
    if (sym != NULL)
      free_sized_fn(launder(malloc(100)), 4096);
  } else if (strcmp(kind, "sized_delete_misfit") == 0) {
    void* new_sym = library_symbol(mangled_new);
    void* delete_sym = library_symbol(mangled_delete);
    void* (*new_fn)(size_t) = NULL;
    void (*delete_fn)(void*, size_t) = NULL;
    memcpy(&new_fn, &new_sym, sizeof new_fn);
    memcpy(&delete_fn, &delete_sym, sizeof delete_fn);
    if (new_sym == NULL || delete_sym == NULL) {
      fprintf(stderr, "preload_misuse: no operator new/delete exported\n");
      return;
    }
    delete_fn(launder(new_fn(1)), 72);
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
    fprintf(stderr,
            "usage: preload_misuse double_free|foreign|unaligned|free_sized|free_aligned_sized|"
            "free_sized_misfit|sized_delete|sized_delete_misfit|overflow|release_foreign\n");
    return 2;
  }
  return expect_abort(&misuse, argv[1]);
}
