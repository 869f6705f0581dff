/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * fork() called from a signal handler, while the interrupted thread may be
 * inside fork() itself, with the malloc replacement in force. Built twice:
 *
 *   fork_signal         not linked to Ferroc; run with
 *                       LD_PRELOAD=libferroc.so
 *   fork_signal_linked  ferroc::override linked in statically
 *                       (FORK_SIGNAL_LINKED defined)
 *
 * fork is async-signal-safe. The main thread loops fork() + waitpid; each
 * of its children checks that the allocator it inherited works: blocks of
 * every kind, calloc, realloc, a block the parent made, and two threads
 * one after the other (the second reuses the first's thread data). Now and
 * then the main thread mallocs and frees between forks.
 *
 * Meanwhile a helper process sends SIGUSR1 to it, one signal at a time
 * (the handler acknowledges each through a pipe) after a random pause, so
 * the signals land everywhere: in malloc, in waitpid, and in fork, after
 * the C library ran the prepare handlers of pthread_atfork and before the
 * parent handlers. The handler forks too; its child only calls
 * async-signal-safe functions and _exit(0)s; the handler reaps it. A
 * prepare handler that took a lock (and the parent handler would give it
 * back) then spins forever in the nested fork: the outer fork holds it.
 *
 * 2000 forks in the handler (FERROC_TEST_SCALE multiplies it). The process
 * stays single-threaded (the C library's own fork is async-signal-safe
 * only then); the threads run in the children. A watchdog alarm turns a
 * hang into a message and exit status 1; each child has an alarm of its own.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "preload_util.h"

#ifdef FORK_SIGNAL_LINKED
#define FORK_SIGNAL_EXPECT_LINKED 1
#else
#define FORK_SIGNAL_EXPECT_LINKED 0
#endif

enum {
  handler_forks_per_scale = 2000,
  /* The watchdog: the main loop must finish a round this often. */
  stall_timeout_s = 15,
  child_timeout_s = 5,
  /* The helper waits up to this long before each signal. */
  max_pause_ns = 400 * 1000,
  inherited_count = 8,
};

/* Where the main thread is, for the watchdog's message. */
enum phase {
  phase_main,
  phase_main_fork,
  phase_main_wait,
  phase_handler_fork,
  phase_handler_wait,
};

static char const* const phase_names[] = {
    "main loop", "fork() of the main loop", "waitpid of the main loop",
    "fork() in the signal handler", "waitpid in the signal handler"};

/* Written by the handler (or the main thread with SIGUSR1 blocked), read by
 * the main thread and the watchdog on the same thread. */
static sig_atomic_t volatile phase = phase_main;
static sig_atomic_t volatile handler_forks = 0;
static sig_atomic_t volatile handler_failures = 0;
static sig_atomic_t volatile main_rounds = 0;
static pid_t parent_pid = 0;
static pid_t sender_pid = 0;
static int ack_fd = -1;

/* ---- messages without stdio (async-signal-safe) ------------------------ */

static void say(char const* text) {
  ssize_t const ignored = write(2, text, strlen(text));
  (void)ignored;
}

static void say_number(long v) {
  char buf[24];
  size_t i = sizeof buf;
  int const negative = v < 0;
  unsigned long u = negative ? 0ul - (unsigned long)v : (unsigned long)v;
  do {
    buf[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (negative)
    buf[--i] = '-';
  {
    ssize_t const ignored = write(2, buf + i, sizeof buf - i);
    (void)ignored;
  }
}

/* ---- the watchdog ------------------------------------------------------ */

static void on_watchdog(int sig) {
  (void)sig;
  say("fork_signal: no progress for ");
  say_number(stall_timeout_s);
  say(" s, stuck in ");
  say(phase_names[phase]);
  say(" after ");
  say_number(main_rounds);
  say(" forks of the main loop and ");
  say_number(handler_forks);
  say(" in the signal handler: a deadlock of fork() in a signal handler?\n");
  if (sender_pid > 0)
    kill(sender_pid, SIGKILL);
  _exit(1);
}

/* ---- fork in the signal handler ---------------------------------------- */

static void on_usr1(int sig) {
  int const saved_errno = errno;
  sig_atomic_t const saved_phase = phase;
  pid_t pid = 0;
  (void)sig;
  phase = phase_handler_fork;
  pid = fork();
  if (pid == 0) {
    /* Async-signal-safe only: the parent may have been inside malloc. */
    _exit(getppid() == parent_pid ? 0 : 3);
  }
  if (pid < 0) {
    ++handler_failures;
  } else {
    int status = 0;
    pid_t got = 0;
    phase = phase_handler_wait;
    do {
      got = waitpid(pid, &status, 0);
    } while (got < 0 && errno == EINTR);
    if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      ++handler_failures;
    ++handler_forks;
  }
  {
    /* The helper may send the next signal. */
    ssize_t const ignored = write(ack_fd, "k", 1);
    (void)ignored;
  }
  phase = saved_phase;
  errno = saved_errno;
}

/* The helper process: a signal, an acknowledgement, a pause; until killed
 * or until the parent is gone (the pipe reads end of file). */
static void run_sender(int ack_read) {
  uint64_t n = 0;
  for (;;) {
    char c = 0;
    ssize_t got = 0;
    struct timespec pause = {0, 0};
    pause.tv_nsec = (long)(mix64(n++) % max_pause_ns);
    nanosleep(&pause, NULL);
    if (kill(parent_pid, SIGUSR1) != 0)
      _exit(0);
    do {
      got = read(ack_read, &c, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1)
      _exit(0);
  }
}

/* ---- the children of the main loop ------------------------------------ */

static unsigned char fill_byte(size_t size, size_t i) {
  return (unsigned char)(size * 7u + i * 13u);
}

/* Allocates, fills, checks and frees a block; returns 0 if all went well.
 * A byte per cache line (per page in large blocks), and the last one. */
static int use_block(size_t size) {
  unsigned char* p = NULL;
  size_t const stride = size > 65536 ? 4096 : 64;
  size_t i = 0;
  int bad = 0;
  if (size == 0)
    return 0;
  p = (unsigned char*)malloc(size);
  if (p == NULL)
    return 1;
  for (i = 0; i < size; i += stride)
    p[i] = fill_byte(size, i);
  p[size - 1] = fill_byte(size, size - 1);
  for (i = 0; i < size; i += stride)
    bad |= p[i] != fill_byte(size, i);
  bad |= p[size - 1] != fill_byte(size, size - 1);
  free(p);
  return bad;
}

/* Small, medium, large and huge blocks. */
static size_t const child_sizes[] = {8, 24, 100, 1000, 5000, 40000, 300000, (size_t)5 << 20};
enum { child_size_count = sizeof child_sizes / sizeof child_sizes[0] };

static int use_blocks(void) {
  int bad = 0;
  size_t i = 0;
  for (i = 0; i < child_size_count; ++i)
    bad += use_block(child_sizes[i]);
  return bad;
}

static void* child_thread(void* arg) {
  (void)arg;
  return use_blocks() != 0 ? (void*)1 : NULL;
}

/* Blocks of the parent that each child checks and frees. */
static unsigned char* inherited[inherited_count];
static size_t inherited_size[inherited_count];

static int child_main(void) {
  int bad = 0;
  int i = 0;
  signal(SIGALRM, SIG_DFL);
  alarm(child_timeout_s);
  bad += use_blocks();
  {
    size_t const n = (size_t)3 << 20;
    unsigned char* z = (unsigned char*)calloc(1, n);
    unsigned char* r = NULL;
    if (z == NULL || z[0] != 0 || z[n / 2] != 0 || z[n - 1] != 0)
      ++bad;
    if (z != NULL) {
      z[0] = 1;
      r = (unsigned char*)realloc(z, 64);
      if (r == NULL || r[0] != 1)
        ++bad;
      free(r != NULL ? r : z);
    }
  }
  for (i = 0; i < inherited_count; ++i) {
    if (inherited[i] == NULL)
      continue;
    if (inherited[i][0] != (unsigned char)i ||
        inherited[i][inherited_size[i] - 1] != (unsigned char)i)
      ++bad;
    free(inherited[i]);
  }
  /* Two threads one after the other: each makes a heap and gives its
   * thread data back at exit; the second takes what the first gave. */
  for (i = 0; i < 2; ++i) {
    pthread_t t;
    void* result = NULL;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &result) != 0 ||
        result != NULL)
      ++bad;
  }
  if (bad != 0) {
    say("fork_signal child: a block was corrupted or an allocation failed\n");
    return 2;
  }
  return 0;
}

/* ---- the main loop ----------------------------------------------------- */

static void renew_inherited(unsigned long round) {
  size_t const k = (size_t)(round % inherited_count);
  size_t const size = 16 + (size_t)(mix64(round) % 100000);
  free(inherited[k]);
  inherited[k] = (unsigned char*)malloc(size);
  REQUIRE(inherited[k] != NULL);
  inherited_size[k] = size;
  inherited[k][0] = (unsigned char)k;
  inherited[k][size - 1] = (unsigned char)k;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
  long const target = (long)(handler_forks_per_scale * test_scale());
  double const start = now_seconds();
  struct sigaction sa;
  sigset_t usr1;
  int ack[2] = {-1, -1};
  unsigned long round = 0;
  int status = 0;

  require_ferroc_malloc(FORK_SIGNAL_EXPECT_LINKED);
  parent_pid = getpid();

  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_watchdog;
  REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
  /* SA_RESTART: the main loop's waitpid goes on after the handler. */
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);

  REQUIRE(pipe(ack) == 0);
  ack_fd = ack[1];
  fflush(stdout);
  fflush(stderr);
  sender_pid = fork();
  REQUIRE(sender_pid >= 0);
  if (sender_pid == 0) {
    close(ack[1]);
    run_sender(ack[0]);
  }
  close(ack[0]);

  alarm(stall_timeout_s);
  for (round = 0; handler_forks < target && check_failures < 10; ++round) {
    pid_t pid = 0;
    pid_t got = 0;
    int i = 0;
    /* Signals land in malloc and free too. */
    renew_inherited(round);
    for (i = 0; i < 16; ++i)
      free(malloc(16 + (size_t)(mix64(round * 16 + (unsigned long)i) % 4096)));
    phase = phase_main_fork;
    pid = fork();
    if (pid == 0)
      _exit(child_main());
    REQUIRE(pid > 0);
    phase = phase_main_wait;
    do {
      got = waitpid(pid, &status, 0);
    } while (got < 0 && errno == EINTR);
    phase = phase_main;
    REQUIRE(got == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork %lu: child %s %d", round,
              WIFEXITED(status) ? "exited with" : "died of signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    main_rounds = (sig_atomic_t)(round + 1);
    alarm(stall_timeout_s);
  }

  /* No more signals: stop the helper and reap it. */
  REQUIRE(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
  kill(sender_pid, SIGKILL);
  while (waitpid(sender_pid, &status, 0) < 0 && errno == EINTR) {
  }
  alarm(0);
  close(ack_fd);
  for (round = 0; round < inherited_count; ++round)
    free(inherited[round]);

  CHECK_MSG(handler_failures == 0, "%d forks in the signal handler failed", (int)handler_failures);
  printf("fork_signal: %ld forks in the signal handler, %d in the main loop, %.1f s\n",
         (long)handler_forks, (int)main_rounds, now_seconds() - start);
  return check_result("fork_signal");
}
