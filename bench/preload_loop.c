/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/* A tiny malloc/free loop for counting instructions per pair under
 * callgrind with any preloaded allocator:
 *   preload_loop <pair|batch> <operations> <size>
 * pair: malloc then free at once; batch: 1000 mallocs, then 1000 frees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void* volatile sink;

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s <pair|batch> <operations> <size>\n", argv[0]);
    return 2;
  }
  int const batch = strcmp(argv[1], "batch") == 0;
  long const n = atol(argv[2]);
  size_t const size = (size_t)atol(argv[3]);
  static void* blocks[1000];
  if (!batch) {
    for (long i = 0; i < n; ++i) {
      void* p = malloc(size);
      sink = p;
      free(p);
    }
  } else {
    for (long r = 0; r < n / 1000; ++r) {
      for (int i = 0; i < 1000; ++i) {
        blocks[i] = malloc(size);
        sink = blocks[i];
      }
      for (int i = 0; i < 1000; ++i)
        free(blocks[i]);
    }
  }
  return 0;
}
