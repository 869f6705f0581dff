/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#ifndef FERROC_CAPI_CHECK_H
#define FERROC_CAPI_CHECK_H

/*
 * A tiny, framework-free check harness for the programs of this folder.
 * They run on top of the allocator under test (linked in, or the malloc
 * replacement), so the harness itself must not lean on the heap: a failed
 * check prints one line to stderr and is counted; the program returns
 * check_result() from main. Valid C11 and C++.
 *
 *   CHECK(cond)              counts and reports a failure, goes on
 *   CHECK_MSG(cond, fmt...)  the same, with a printf-style detail line
 *   REQUIRE(cond)            reports and exits at once (later code needs it)
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures = 0;

static inline void check_failed(char const* file, int line, char const* what) {
  ++check_failures;
  fprintf(stderr, "%s:%d: CHECK FAILED: %s\n", file, line, what);
  fflush(stderr);
}

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      check_failed(__FILE__, __LINE__, #cond);                                                     \
  } while (0)

/* The detail arguments are the printf format and its values. */
#define CHECK_MSG(cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      check_failed(__FILE__, __LINE__, #cond);                                                     \
      fprintf(stderr, "    ");                                                                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
    }                                                                                              \
  } while (0)

#define REQUIRE(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      check_failed(__FILE__, __LINE__, #cond);                                                     \
      fprintf(stderr, "    (required: stopping here)\n");                                          \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* Prints a summary line and gives main's exit status. */
static inline int check_result(char const* program) {
  if (check_failures != 0) {
    fprintf(stderr, "%s: %d check(s) FAILED\n", program, check_failures);
    return 1;
  }
  printf("%s: all checks passed\n", program);
  return 0;
}

/*
 * Values the compiler cannot see through: sizes such as SIZE_MAX would
 * otherwise trip -Walloc-size-larger-than, and freeing a stack address
 * -Wfree-nonheap-object, at compile time, while here they are the point.
 */
static inline size_t opaque_size(size_t n) {
  size_t volatile v = n;
  return v;
}

static inline void* opaque_ptr(void* p) {
  void* volatile v = p;
  return v;
}

/* FERROC_TEST_SCALE from the environment: 1 (unset, empty, bad) for CI. */
static inline unsigned long test_scale(void) {
  char const* text = getenv("FERROC_TEST_SCALE");
  char* end = NULL;
  unsigned long v = 0;
  if (text == NULL || *text == '\0')
    return 1;
  v = strtoul(text, &end, 10);
  return (end == text || v == 0) ? 1 : v;
}

/* splitmix64: a tiny reproducible generator. */
static inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

#endif /* FERROC_CAPI_CHECK_H */
