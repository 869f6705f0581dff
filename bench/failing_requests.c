/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * What a request that must fail costs, and what a process reserves at its
 * first malloc: run with an allocator preloaded (bench/failing_requests.sh
 * runs it under each). Prints one line of tab-separated figures:
 *
 *   VmSize and VmRSS (KiB) right after the first malloc(16);
 *   malloc(SIZE_MAX - i) between small malloc/free pairs: ns and page
 *   faults per call (faults from getrusage, minor and major);
 *   the same for 64 GiB under a 1 GiB RLIMIT_AS (a size the OS refuses);
 *   the small pair alone (ns), which the two timings above include;
 *   the failing calls that left errno other than ENOMEM.
 *
 * Every failing call must return NULL (else the program exits 1); the last
 * column counts those that did not set errno to ENOMEM. A benchmark, not a test: the ferroc
 * tests ferroc.capi.failing_requests and ferroc.capi.address_space check
 * the bounds.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void* volatile sink;
static long wrong_errno; /* failing calls that left errno other than ENOMEM */

/* Hides a size from the compiler, which may fold a malloc it can see fail. */
static size_t opaque(size_t n) {
  size_t volatile v = n;
  return v;
}

/* A field of /proc/self/status in KiB, read without allocating. */
static size_t status_kib(char const* key) {
  char buf[8192];
  int const fd = open("/proc/self/status", O_RDONLY);
  ssize_t n = 0;
  char const* at = NULL;
  if (fd < 0)
    return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  at = strstr(buf, key);
  return at != NULL ? (size_t)strtoull(at + strlen(key), NULL, 10) : 0;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt + ru.ru_majflt;
}

static void small_pair(int i) {
  void* p = malloc(32 + (size_t)(i & 63));
  sink = p;
  free(p);
}

struct cost {
  double ns;
  double faults;
};

/* `calls` failing mallocs of size(i), each after a small pair. */
static struct cost failing(int calls, size_t (*size)(int)) {
  int i = 0;
  long f0 = 0;
  double t0 = 0;
  struct cost c;
  for (i = 0; i < 100; ++i) { /* warm up: the paths and the small page */
    small_pair(i);
    sink = malloc(opaque(size(i)));
  }
  f0 = faults();
  t0 = now_ns();
  for (i = 0; i < calls; ++i) {
    void* q = NULL;
    small_pair(i);
    errno = 0;
    q = malloc(opaque(size(i)));
    if (q != NULL) {
      fprintf(stderr, "failing_requests: malloc(%zu) gave %p\n", size(i), q);
      exit(1);
    }
    if (errno != ENOMEM)
      ++wrong_errno;
  }
  c.ns = (now_ns() - t0) / calls;
  c.faults = (double)(faults() - f0) / calls;
  return c;
}

static size_t impossible(int i) {
  return SIZE_MAX - (size_t)i;
}
static size_t refused(int i) {
  (void)i;
  return (size_t)64 << 30;
}

int main(int argc, char** argv) {
  int const calls = argc > 1 ? atoi(argv[1]) : 20000;
  size_t vm_size = 0;
  size_t vm_rss = 0;
  struct cost never;
  struct cost too_big;
  struct rlimit rl;
  double t0 = 0;
  double pair_ns = 0;
  int i = 0;

  sink = malloc(16);
  vm_size = status_kib("VmSize:");
  vm_rss = status_kib("VmRSS:");

  never = failing(calls, impossible);

  t0 = now_ns();
  for (i = 0; i < calls; ++i)
    small_pair(i);
  pair_ns = (now_ns() - t0) / calls;

  if (getrlimit(RLIMIT_AS, &rl) != 0)
    return 1;
  rl.rlim_cur = (rlim_t)1 << 30;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
    rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_AS, &rl) != 0) {
    perror("failing_requests: setrlimit");
    return 1;
  }
  too_big = failing(calls, refused);

  printf("%zu\t%zu\t%.1f\t%.3f\t%.1f\t%.3f\t%.1f\t%ld\n", vm_size, vm_rss, never.ns, never.faults,
         too_big.ns, too_big.faults, pair_ns, wrong_errno);
  return 0;
}
