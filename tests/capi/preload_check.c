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

#include <link.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "preload_util.h"

#ifdef PRELOAD_CHECK_LINKED
#include <ferroc.h>
#define PRELOAD_EXPECT_LINKED 1
#else
#define PRELOAD_EXPECT_LINKED 0
#endif

#define FE(name) name

/* C23's sized frees, which this C library may not have yet: the linked
 * build gets them from ferroc::override, the preloaded one looks them up
 * in the process (they must be the library's). */
#ifdef PRELOAD_CHECK_LINKED
void free_sized(void* p, size_t size);
void free_aligned_sized(void* p, size_t align, size_t size);
#else
static void* find_symbol(char const* name) {
  void* sym = dlsym(RTLD_DEFAULT, name);
  REQUIRE(sym != NULL);
  return sym;
}
static void preloaded_free_sized(void* p, size_t size) {
  void (*fn)(void*, size_t) = NULL;
  void* sym = find_symbol("free_sized");
  memcpy(&fn, &sym, sizeof fn); /* object to function pointer, as POSIX allows */
  fn(p, size);
}
static void preloaded_free_aligned_sized(void* p, size_t align, size_t size) {
  void (*fn)(void*, size_t, size_t) = NULL;
  void* sym = find_symbol("free_aligned_sized");
  memcpy(&fn, &sym, sizeof fn);
  fn(p, align, size);
}
#define free_sized preloaded_free_sized
#define free_aligned_sized preloaded_free_aligned_sized
#endif

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

/* A thread whose cancellation is pending when it calls malloc_stats: the
 * call completes (it is no cancellation point, as in glibc), and the
 * thread is cancelled at the next one, without ending the process. */
static pthread_barrier_t stats_gate;

static void* stats_then_cancel(void* arg) {
  (void)arg;
  pthread_barrier_wait(&stats_gate); /* no cancellation point */
  malloc_stats();
  pthread_testcancel();
  return NULL;
}

static void check_stats_not_cancellation_point(void) {
  pthread_t t;
  void* result = NULL;
  int const saved = dup(STDERR_FILENO);
  int const null_fd = open("/dev/null", O_WRONLY);
  REQUIRE(saved >= 0 && null_fd >= 0);
  fflush(stderr);
  REQUIRE(dup2(null_fd, STDERR_FILENO) == STDERR_FILENO);
  REQUIRE(pthread_barrier_init(&stats_gate, NULL, 2) == 0);
  REQUIRE(pthread_create(&t, NULL, stats_then_cancel, NULL) == 0);
  REQUIRE(pthread_cancel(t) == 0);
  pthread_barrier_wait(&stats_gate);
  REQUIRE(pthread_join(t, &result) == 0);
  pthread_barrier_destroy(&stats_gate);
  REQUIRE(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
  close(saved);
  close(null_fd);
  CHECK_MSG(result == PTHREAD_CANCELED, "the thread was not cancelled after malloc_stats");
}

/* glibc's introspection calls answered by Ferroc: mallinfo and mallinfo2
 * see Ferroc's memory (glibc's own arena is empty under the replacement),
 * malloc_trim gives free pages back, malloc_stats prints Ferroc's table and
 * mallopt accepts any parameter. */
static void check_introspection(void) {
  enum { count = 4000, size = 10000 }; /* 40 MB of medium blocks */
  static void* blocks[count];
  struct mallinfo2 m2;
  struct mallinfo m1;
  int i = 0;
  for (i = 0; i < count; ++i) {
    blocks[i] = malloc(size);
    REQUIRE(blocks[i] != NULL);
    memset(blocks[i], 1, size);
  }
  m2 = mallinfo2();
  CHECK_MSG(m2.arena >= (size_t)count * size, "mallinfo2().arena = %zu with %d bytes live",
            m2.arena, count * size);
  CHECK_MSG(m2.uordblks >= (size_t)count * size, "mallinfo2().uordblks = %zu with %d bytes live",
            m2.uordblks, count * size);
  CHECK(m2.uordblks + m2.fordblks == m2.arena);
  /* mallinfo is deprecated (its int fields overflow), but programs call it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  m1 = mallinfo();
#pragma GCC diagnostic pop
  CHECK_MSG(m1.arena >= count * size, "mallinfo().arena = %d with %d bytes live", m1.arena,
            count * size);
  CHECK(m1.uordblks + m1.fordblks == m1.arena);

  for (i = 0; i < count; ++i)
    free(blocks[i]);
  /* The freed pages are still committed: the first trim gives them back. */
  CHECK_MSG(malloc_trim(0) == 1, "malloc_trim released nothing after 40 MB were freed");
  m2 = mallinfo2();
  CHECK_MSG(m2.uordblks < (size_t)count * size / 4,
            "mallinfo2().uordblks = %zu after every block was freed and trimmed", m2.uordblks);

  CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
  CHECK(mallopt(M_ARENA_MAX, 1) == 1);
  CHECK(mallopt(12345, -1) == 1);

  /* malloc_stats writes Ferroc's table to stderr: catch it in a file. */
  {
    char path[] = "/tmp/ferroc-malloc-stats-XXXXXX";
    int const fd = mkstemp(path);
    int const saved = dup(STDERR_FILENO);
    char text[256] = {0};
    ssize_t got = 0;
    REQUIRE(fd >= 0 && saved >= 0);
    unlink(path);
    fflush(stderr);
    REQUIRE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    malloc_stats();
    fflush(stderr);
    REQUIRE(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
    close(saved);
    got = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    CHECK_MSG(got > 0 && strstr(text, "ferroc statistics") != NULL,
              "malloc_stats printed '%s', not Ferroc's table", text);
  }
}

#ifndef PRELOAD_CHECK_LINKED
static int find_runtime_library(struct dl_phdr_info* info, size_t size, void* found) {
  static char const* const runtime[] = {"libstdc++", "libgcc_s", "libm.so"};
  size_t i = 0;
  (void)size;
  for (i = 0; i < sizeof runtime / sizeof runtime[0]; ++i) {
    if (info->dlpi_name != NULL && strstr(info->dlpi_name, runtime[i]) != NULL) {
      *(char const**)found = info->dlpi_name;
      return 1;
    }
  }
  return 0;
}

/* This C program loads nothing but the C library and the preloaded Ferroc:
 * the library brings no C++ runtime, libm or libgcc_s into memory. */
static void check_no_runtime_loaded(void) {
  char const* found = NULL;
  dl_iterate_phdr(find_runtime_library, (void*)&found);
  CHECK_MSG(found == NULL, "%s is loaded into a C program by the preloaded library", found);
}
#endif

int main(void) {
  require_ferroc_malloc(PRELOAD_EXPECT_LINKED);
#ifndef PRELOAD_CHECK_LINKED
  check_no_runtime_loaded();
#endif
  run_api_checks();
  check_introspection();
  check_stats_not_cancellation_point();

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
