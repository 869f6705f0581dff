/* SPDX-License-Identifier: Apache-2.0 OR MIT
 *
 * fe_stats and fe_stats_print of a library built with statistics
 * (libferroc-stats.so, linked): the counts follow what this program does.
 * Run with FERROC_SHOW_STATS=1, the library prints the table again at exit.
 */
#include <ferroc.h>

#include <stdio.h>
#include <stdlib.h>

static int failures = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
      ++failures;                                                                                  \
    }                                                                                              \
  } while (0)

/* The class whose allocation count grew by exactly `n` (which class 40-byte
 * requests land in depends on the build: checked mode adds a trailer). */
static size_t class_grown_by(fe_stats_t const* before, fe_stats_t const* after,
                             unsigned long long n) {
  for (size_t c = 1; c < after->class_count; ++c)
    if (after->classes[c].allocs - before->classes[c].allocs == n)
      return c;
  return 0;
}

int main(void) {
  static fe_stats_t before, after;
  fe_stats(&before);
  CHECK(before.enabled == 1);
  CHECK(before.class_count > 1 && before.class_count <= FE_STATS_MAX_CLASSES);

  enum { n = 5000 };
  static void* blocks[n];
  for (int i = 0; i < n; ++i)
    blocks[i] = fe_malloc(40);
  void* huge = fe_malloc(8u << 20);
  fe_stats(&after);
  size_t const c = class_grown_by(&before, &after, n);
  CHECK(c != 0);
  CHECK(after.classes[c].block_size >= 40);
  CHECK(after.huge_blocks.current == before.huge_blocks.current + 1);
  CHECK(after.pages.current >= before.pages.current + 3);
  CHECK(after.segments.current >= 2);
  CHECK(after.reserved.current >= after.committed.current);
  CHECK(after.heaps >= 1);

  for (int i = 0; i < n; ++i)
    fe_free(blocks[i]);
  fe_free(huge);
  fe_stats(&after);
  CHECK(after.classes[c].frees - before.classes[c].frees == n);
  CHECK(after.huge_blocks.current == before.huge_blocks.current);
  CHECK(after.huge_blocks.peak >= 1);
  CHECK(after.allocs - after.frees == before.allocs - before.frees);

  fe_stats(NULL); /* ignored */
  fe_stats_print();
  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  puts("stats_capi: ok");
  fflush(stdout); /* before the table the library prints at exit */
  return 0;
}
