/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Address space in step with use, with libferroc.so preloaded (or, built
 * with ADDRESS_SPACE_LINKED, ferroc::override linked in):
 *
 *  (a) right after the program's first malloc, VmSize is at most 32 MiB
 *      above what the same program has on the C library's allocator. The
 *      reference figure comes from the program named by argv[1], run with
 *      "--reference" and without LD_PRELOAD: a build of this file that is
 *      not linked to Ferroc, which prints its VmSize after its first malloc.
 *      (A full arena reserved at once put 256 MiB there.)
 *  (b) under an RLIMIT_AS of 200 MiB, set after the first malloc and before
 *      any thread starts (as glibc's tst-malloc-thread-fail does), 8 threads
 *      with 256 KiB stacks that each allocate a few MiB all start and finish
 *      (in a child process, so that neither the limit nor their memory
 *      reaches part c). Exit status 77: skipped, the hard limit is lower.
 *  (c) while 400 MiB of 1 MiB blocks are allocated (no limit), VmSize stays
 *      within twice the live bytes plus 48 MiB above the reference figure
 *      at every block: the address space grows with the live data, not in
 *      steps of a quarter GiB.
 *
 * VmSize is read with open/read, so that reading it allocates nothing.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "preload_util.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

enum {
  first_bound_mib = 32,
  limit_mib = 200,
  thread_count = 8,
  thread_stack_kib = 256,
  thread_small_bytes = 2 << 20,
  grow_blocks = 400,
  grow_slack_mib = 48
};

extern char** environ;

/* --reference: the C library's figure. */
static int reference(void) {
  void* volatile first = malloc(16);
  size_t const vm = vm_size();
  if (first == NULL || vm == 0)
    return 1;
  /* The comparison means nothing if Ferroc answered here too. */
  if (dlsym(RTLD_DEFAULT, "fe_malloc") != NULL) {
    fprintf(stderr, "address_space --reference: Ferroc is loaded\n");
    return 2;
  }
  printf("%zu\n", vm);
  free(first);
  return 0;
}

/* Runs `program --reference` without LD_PRELOAD; its VmSize, 0 on failure. */
static size_t reference_vm_size(char const* program) {
  int fds[2];
  pid_t pid = 0;
  char out[64];
  size_t len = 0;
  int status = 0;
  if (pipe(fds) != 0)
    return 0;
  pid = fork();
  if (pid < 0)
    return 0;
  if (pid == 0) {
    static char* env[256];
    char* argv[] = {(char*)program, (char*)"--reference", NULL};
    size_t n = 0;
    size_t i = 0;
    for (i = 0; environ[i] != NULL && n + 1 < sizeof env / sizeof env[0]; ++i) {
      if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
        env[n++] = environ[i];
    }
    env[n] = NULL;
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execve(program, argv, env);
    _exit(127);
  }
  close(fds[1]);
  for (;;) {
    ssize_t const r = read(fds[0], out + len, sizeof out - 1 - len);
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  close(fds[0]);
  out[len] = '\0';
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return 0;
  return (size_t)strtoull(out, NULL, 10);
}

/* ---- (b) threads under RLIMIT_AS ---------------------------------------- */

struct worker {
  unsigned index;
  int ok;
};

/* Small blocks (16 B to 4 KiB) up to thread_small_bytes, chained through
 * their first word, one 256 KiB and one 1 MiB block; all written, checked
 * and freed. */
static void* work(void* arg) {
  struct worker* w = (struct worker*)arg;
  void* chain = NULL;
  void* p = NULL;
  unsigned char* big[2] = {NULL, NULL};
  size_t const big_size[2] = {256 * KIB, MIB};
  size_t total = 0;
  uint64_t r = w->index;
  int ok = 1;
  size_t i = 0;
  while (total < (size_t)thread_small_bytes) {
    size_t const size = (size_t)16 << ((r = mix64(r)) % 9);
    unsigned char* b = (unsigned char*)malloc(size);
    if (b == NULL) {
      ok = 0;
      break;
    }
    memcpy(b, &chain, sizeof chain);
    memset(b + sizeof chain, (int)w->index, size - sizeof chain);
    chain = b;
    total += size;
  }
  for (i = 0; i < 2; ++i) {
    big[i] = (unsigned char*)malloc(big_size[i]);
    if (big[i] == NULL)
      ok = 0;
    else
      memset(big[i], (int)w->index, big_size[i]);
  }
  for (i = 0; i < 2; ++i) {
    if (big[i] != NULL && (big[i][0] != (unsigned char)w->index ||
                           big[i][big_size[i] - 1] != (unsigned char)w->index))
      ok = 0;
    free(big[i]);
  }
  while (chain != NULL) {
    unsigned char const* b = (unsigned char const*)chain;
    if (b[sizeof chain] != (unsigned char)w->index)
      ok = 0;
    memcpy(&p, chain, sizeof p);
    free(chain);
    chain = p;
  }
  w->ok = ok;
  return NULL;
}

/* In a child process: 0 passed, 1 failed, 77 skipped. */
static int threads_under_limit(void) {
  struct rlimit rl;
  pthread_attr_t attr;
  pthread_t threads[thread_count];
  struct worker workers[thread_count];
  int started = 0;
  int failures = 0;
  int i = 0;
  size_t const limit = (size_t)limit_mib * MIB;
  size_t vm = 0;
  if (getrlimit(RLIMIT_AS, &rl) != 0)
    return 1;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < limit) {
    printf("address_space: (b) SKIP: the hard RLIMIT_AS is already below %d MiB\n", (int)limit_mib);
    return 77;
  }
  vm = vm_size();
  printf("address_space: (b) VmSize %zu MiB when the %d MiB limit is set\n", vm / MIB,
         (int)limit_mib);
  fflush(stdout);
  rl.rlim_cur = limit;
  if (setrlimit(RLIMIT_AS, &rl) != 0)
    return 1;
  if (pthread_attr_init(&attr) != 0 ||
      pthread_attr_setstacksize(&attr, (size_t)thread_stack_kib * KIB) != 0)
    return 1;
  for (i = 0; i < thread_count; ++i) {
    int rc = 0;
    workers[i].index = (unsigned)i + 1;
    workers[i].ok = 0;
    rc = pthread_create(&threads[i], &attr, work, &workers[i]);
    if (rc != 0) {
      fprintf(stderr, "address_space: (b) pthread_create of thread %d failed: %s\n", i + 1,
              strerror(rc));
      break;
    }
    ++started;
  }
  pthread_attr_destroy(&attr);
  for (i = 0; i < started; ++i) {
    pthread_join(threads[i], NULL);
    if (!workers[i].ok) {
      fprintf(stderr, "address_space: (b) thread %d could not allocate\n", i + 1);
      ++failures;
    }
  }
  vm = vm_size();
  printf("address_space: (b) %d of %d threads started, %d failed; VmSize %zu MiB after\n", started,
         (int)thread_count, failures, vm / MIB);
  fflush(stdout);
  return started == thread_count && failures == 0 ? 0 : 1;
}

/* Runs threads_under_limit in a child; its exit status. */
static int run_threads_under_limit(void) {
  int status = 0;
  pid_t pid = 0;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0)
    return 1;
  if (pid == 0) {
    int const rc = threads_under_limit();
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return 1;
  return WEXITSTATUS(status);
}

/* ---- (c) growth with live data ----------------------------------------- */

static void* grow_blocks_kept[grow_blocks];

static void growth(size_t ref) {
  size_t i = 0;
  size_t worst_excess = 0; /* largest VmSize - ref - 2 * live seen, if positive */
  size_t largest_step = 0;
  size_t prev = vm_size();
  int reported = 0;
  for (i = 0; i < (size_t)grow_blocks; ++i) {
    size_t const live = (i + 1) * MIB;
    size_t vm = 0;
    unsigned char* b = (unsigned char*)malloc(MIB);
    REQUIRE(b != NULL);
    b[(i * 4096) % MIB] = (unsigned char)i; /* one byte touched in each */
    grow_blocks_kept[i] = b;
    vm = vm_size();
    if (vm > prev && vm - prev > largest_step)
      largest_step = vm - prev;
    prev = vm;
    if (vm > ref + 2 * live && vm - ref - 2 * live > worst_excess)
      worst_excess = vm - ref - 2 * live;
    if (vm > ref + 2 * live + (size_t)grow_slack_mib * MIB && !reported) {
      reported = 1;
      CHECK_MSG(0,
                "(c) with %zu MiB live, VmSize is %zu MiB: more than %zu MiB (reference) +"
                " twice the live bytes + %d MiB",
                live / MIB, vm / MIB, ref / MIB, (int)grow_slack_mib);
    }
  }
  printf("address_space: (c) %d MiB live: VmSize %zu MiB; at most %zu MiB above reference + 2 x"
         " live; largest step %zu MiB\n",
         (int)grow_blocks, prev / MIB, worst_excess / MIB, largest_step / MIB);
  for (i = 0; i < (size_t)grow_blocks; ++i) {
    free(grow_blocks_kept[i]);
    grow_blocks_kept[i] = NULL;
  }
}

int main(int argc, char** argv) {
  void* volatile first = NULL;
  size_t vm = 0;
  size_t ref = 0;
  int threads_rc = 0;

  if (argc > 1 && strcmp(argv[1], "--reference") == 0)
    return reference();

  /* (a): the figure right after the first malloc, before anything else. */
  first = malloc(16);
  vm = vm_size();
  REQUIRE(first != NULL);
  free(first);
#ifdef ADDRESS_SPACE_LINKED
  require_ferroc_malloc(1);
#else
  require_ferroc_malloc(0);
#endif
  if (argc < 2) {
    fprintf(stderr, "usage: %s <this test built without Ferroc>\n", argv[0]);
    return 1;
  }
  ref = reference_vm_size(argv[1]);
  REQUIRE(vm != 0);
  REQUIRE(ref != 0);
  printf("address_space: (a) VmSize after the first malloc: %zu KiB, on the C library %zu KiB"
         " (+%ld KiB)\n",
         vm / KIB, ref / KIB, ((long)vm - (long)ref) / 1024);
  CHECK_MSG(vm <= ref + (size_t)first_bound_mib * MIB,
            "(a) VmSize after the first malloc is %zu MiB, more than %d MiB above the C "
            "library's %zu MiB",
            vm / MIB, (int)first_bound_mib, ref / MIB);

  threads_rc = run_threads_under_limit();
  CHECK_MSG(threads_rc == 0 || threads_rc == 77,
            "(b) %d threads with %d KiB stacks did not all run under a %d MiB RLIMIT_AS",
            (int)thread_count, (int)thread_stack_kib, (int)limit_mib);

  growth(ref);

  if (check_failures == 0 && threads_rc == 77) {
    printf("address_space: SKIP: part b could not run\n");
    return 77;
  }
  return check_result("address_space");
}
