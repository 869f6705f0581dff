/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * fork() in a busy multithreaded process, with libferroc.so preloaded.
 *
 * 8 worker threads allocate, check and free blocks of many sizes; they hand
 * some blocks to each other through a small shared queue, so frees cross
 * threads all the time, and now and then start a short-lived thread (a
 * heap made and released). Meanwhile the main thread forks 500 times
 * (FERROC_TEST_SCALE multiplies it). Each child, which inherits the
 * allocator in whatever state the other threads left it, allocates and
 * frees blocks of every kind, frees blocks that the parent's threads own,
 * starts a thread of its own, and _exit(0)s. The parent waits for each
 * child at most 5 s (then kills it and fails): a lock held across fork
 * would hang the child.
 *
 * The workers pause between bursts of work so that, on two cores, the
 * forking thread and its children are not starved: the whole run takes
 * about 20 s.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "preload_util.h"

enum {
  worker_count = 8,
  local_slots = 64,
  queue_slots = 256,
  forks_per_scale = 500,
  child_timeout_s = 5,
  burst_ops = 64,
  churn_ops = 256,
  pause_ns = 1000 * 1000,
};

/* Every block starts with its size and a tag, and its bytes follow a
 * pattern derived from both: any corruption shows on free. */
struct block_head {
  size_t size;
  uint64_t tag;
};

static unsigned char block_byte(uint64_t tag, size_t i) {
  return (unsigned char)(tag + i * 13u);
}

static size_t block_stride(size_t size) {
  return size > 65536 ? 4096 : 64;
}

static void* make_block(size_t size, uint64_t tag) {
  struct block_head* h = NULL;
  unsigned char* b = NULL;
  size_t i = 0;
  if (size < sizeof(struct block_head))
    size = sizeof(struct block_head);
  h = (struct block_head*)malloc(size);
  if (h == NULL)
    return NULL;
  h->size = size;
  h->tag = tag;
  b = (unsigned char*)h;
  /* A byte per cache line (per page in large blocks) finds overlaps and
   * stray writes and keeps each operation cheap. */
  for (i = sizeof *h; i < size; i += block_stride(size))
    b[i] = block_byte(tag, i);
  return h;
}

/* Checks and frees a block; returns 0 if it was intact. */
static int drop_block(void* p) {
  struct block_head* h = (struct block_head*)p;
  unsigned char const* b = (unsigned char const*)p;
  size_t i = 0;
  int ok = 1;
  for (i = sizeof *h; i < h->size; i += block_stride(h->size)) {
    if (b[i] != block_byte(h->tag, i)) {
      ok = 0;
      break;
    }
  }
  free(p);
  return ok;
}

/* Block sizes by page kind: small (16 B..1 KiB mostly), medium (up to
 * 64 KiB), large (up to 1 MiB) and huge (3..5 MiB, more than a segment
 * holds). The workers stay at medium: every fork write-protects all their
 * pages, and they pay a fault per page they write next, so their resident
 * set sets the pace; the main thread's and the children's blocks reach
 * further. */
enum size_reach { reach_medium, reach_large, reach_huge };

static size_t pick_size(uint64_t r, enum size_reach reach) {
  unsigned const kind = (unsigned)(r % 1000);
  r >>= 10;
  if (kind < 850)
    return 16 + (size_t)(r % 1024);
  if (kind < 990 || reach == reach_medium)
    return 1024 + (size_t)(r % (63 * 1024));
  if (kind < 998 || reach == reach_large)
    return 64 * 1024 + (size_t)(r % (1024 * 1024));
  return 3 * 1024 * 1024 + (size_t)(r % (2 * 1024 * 1024));
}

/* The shared queue of blocks in transit between threads. */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static void* queue[queue_slots];
static size_t queue_len = 0;

static atomic_int stop_workers;
static unsigned long worker_ops[worker_count];
static int worker_bad[worker_count];

/* A short-lived thread: a heap is set up for it and released at its exit,
 * which takes the allocator's thread-data lock, the one a child could
 * inherit held if fork did not care. */
static void* short_lived(void* arg) {
  void* p = make_block((size_t)(uintptr_t)arg, 1);
  return (p != NULL && drop_block(p)) ? NULL : (void*)1;
}

static void* worker(void* arg) {
  size_t const id = (size_t)(uintptr_t)arg;
  void* local[local_slots] = {0};
  uint64_t n = 0;
  int i = 0;
  while (!atomic_load_explicit(&stop_workers, memory_order_relaxed)) {
    uint64_t const r = mix64(((uint64_t)id << 40) ^ n++);
    size_t const slot = (size_t)(r % local_slots);
    void* give = NULL;
    void* take = NULL;
    if (local[slot] != NULL && !drop_block(local[slot]))
      ++worker_bad[id];
    local[slot] = make_block(pick_size(r >> 8, reach_medium), r);
    if (local[slot] == NULL)
      ++worker_bad[id];
    /* One time in four, pass a block on and take someone else's. */
    if ((r >> 60) < 4) {
      give = local[slot];
      local[slot] = NULL;
      pthread_mutex_lock(&queue_lock);
      if (queue_len > 0 && (r & 1))
        take = queue[--queue_len];
      if (give != NULL && queue_len < queue_slots) {
        queue[queue_len++] = give;
        give = NULL;
      }
      pthread_mutex_unlock(&queue_lock);
      if (give != NULL && !drop_block(give))
        ++worker_bad[id];
      if (take != NULL && !drop_block(take))
        ++worker_bad[id];
    }
    if (worker_ops[id] % churn_ops == 0) {
      pthread_t t;
      void* result = NULL;
      if (pthread_create(&t, NULL, short_lived, (void*)(uintptr_t)(r % 4096)) != 0 ||
          pthread_join(t, &result) != 0 || result != NULL)
        ++worker_bad[id];
    }
    /* Pause briefly between bursts: on a small machine 8 busy threads
     * would starve the forking thread and its children. At any moment
     * some worker is still in the middle of an allocation. */
    if (++worker_ops[id] % burst_ops == 0) {
      struct timespec const pause = {0, pause_ns};
      nanosleep(&pause, NULL);
    }
  }
  for (i = 0; i < local_slots; ++i)
    if (local[i] != NULL && !drop_block(local[i]))
      ++worker_bad[id];
  return NULL;
}

/* Blocks of the main thread that every child inherits and frees. */
enum { inherited_count = 32 };
static void* inherited[inherited_count];

/* A message from the child without stdio (its locks may be held). */
static void child_say(char const* text) {
  ssize_t const ignored = write(2, text, strlen(text));
  (void)ignored;
}

static void* child_thread(void* arg) {
  void* blocks[100];
  int i = 0;
  int bad = 0;
  (void)arg;
  for (i = 0; i < 100; ++i)
    blocks[i] = make_block(pick_size(mix64((uint64_t)i + 77), reach_huge), (uint64_t)i);
  for (i = 0; i < 100; ++i)
    if (blocks[i] == NULL || !drop_block(blocks[i]))
      ++bad;
  return bad != 0 ? (void*)1 : NULL;
}

/* Runs in the child: returns its exit status. */
static int child_main(unsigned long round) {
  enum { count = 200 };
  void* blocks[count];
  int i = 0;
  int bad = 0;
  /* Blocks of every kind, made and freed in the child. */
  for (i = 0; i < count; ++i) {
    blocks[i] = make_block(pick_size(mix64(round * 1000 + (uint64_t)i), reach_huge), (uint64_t)i);
    if (blocks[i] == NULL)
      ++bad;
  }
  for (i = 0; i < count; i += 2)
    if (blocks[i] != NULL && !drop_block(blocks[i]))
      ++bad;
  {
    void* big = calloc(1, (size_t)6 << 20);
    void* r = NULL;
    if (big == NULL || ((unsigned char*)big)[(6 << 20) - 1] != 0)
      ++bad;
    r = realloc(big, 100);
    if (r == NULL)
      ++bad;
    free(r);
  }
  /* The parent's blocks: the main thread's, and the workers' in the queue
   * (their owners do not exist in the child). The queue lock may have been
   * held by a worker at fork: then leave the queue alone. */
  for (i = 0; i < inherited_count; ++i)
    if (inherited[i] != NULL && !drop_block(inherited[i]))
      ++bad;
  if (pthread_mutex_trylock(&queue_lock) == 0) {
    while (queue_len > 0)
      if (!drop_block(queue[--queue_len]))
        ++bad;
    pthread_mutex_unlock(&queue_lock);
  }
  /* A thread of the child's own: it needs the thread-data lock. */
  {
    pthread_t t;
    void* result = NULL;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &result) != 0 ||
        result != NULL)
      ++bad;
  }
  for (i = 1; i < count; i += 2)
    if (blocks[i] != NULL && !drop_block(blocks[i]))
      ++bad;
  if (bad != 0) {
    child_say("fork_test child: a block was corrupted or an allocation failed\n");
    return 2;
  }
  return 0;
}

static sig_atomic_t volatile alarm_fired = 0;

static void on_alarm(int sig) {
  (void)sig;
  alarm_fired = 1;
}

/* Waits for the child, at most child_timeout_s seconds. */
static void wait_child(pid_t pid, unsigned long round) {
  int status = 0;
  pid_t got = 0;
  alarm_fired = 0;
  alarm(child_timeout_s);
  do {
    got = waitpid(pid, &status, 0);
  } while (got < 0 && errno == EINTR && !alarm_fired);
  alarm(0);
  if (got != pid) {
    CHECK_MSG(got == pid, "fork %lu: child %d hung for %d s (deadlock after fork?); killed it",
              round, (int)pid, (int)child_timeout_s);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return;
  }
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork %lu: child %s %d", round,
            WIFEXITED(status) ? "exited with" : "died of signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
  unsigned long const forks = forks_per_scale * test_scale();
  pthread_t threads[worker_count];
  struct sigaction sa;
  sigset_t alarm_only;
  double const start = now_seconds();
  unsigned long round = 0;
  unsigned long ops = 0;
  size_t i = 0;

  require_ferroc_malloc(0);

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: the alarm interrupts waitpid */
  REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);

  /* The workers (and the threads they start) block SIGALRM, so that the
   * alarm interrupts the main thread's waitpid and no other thread's. */
  sigemptyset(&alarm_only);
  sigaddset(&alarm_only, SIGALRM);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &alarm_only, NULL) == 0);
  for (i = 0; i < worker_count; ++i)
    REQUIRE(pthread_create(&threads[i], NULL, worker, (void*)(uintptr_t)i) == 0);
  REQUIRE(pthread_sigmask(SIG_UNBLOCK, &alarm_only, NULL) == 0);

  for (round = 0; round < forks && check_failures < 10; ++round) {
    pid_t pid = 0;
    /* Renew a few of the main thread's blocks each round. */
    size_t const k = (size_t)(round % inherited_count);
    if (inherited[k] != NULL)
      CHECK(drop_block(inherited[k]));
    inherited[k] = make_block(pick_size(mix64(round), reach_large), round);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
      _exit(child_main(round));
    wait_child(pid, round);
  }

  atomic_store_explicit(&stop_workers, 1, memory_order_relaxed);
  for (i = 0; i < worker_count; ++i) {
    REQUIRE(pthread_join(threads[i], NULL) == 0);
    ops += worker_ops[i];
    CHECK_MSG(worker_bad[i] == 0, "worker %zu: %d corrupted blocks or failed allocations", i,
              worker_bad[i]);
  }
  while (queue_len > 0)
    CHECK(drop_block(queue[--queue_len]));
  for (i = 0; i < inherited_count; ++i)
    if (inherited[i] != NULL)
      CHECK(drop_block(inherited[i]));

  printf("fork_test: %lu forks while %d threads did %lu operations, %.1f s\n", round,
         (int)worker_count, ops, now_seconds() - start);
  return check_result("fork_test");
}
