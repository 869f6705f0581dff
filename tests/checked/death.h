/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#ifndef FERROC_TESTS_DEATH_H
#define FERROC_TESTS_DEATH_H

/*
 * A death-test harness for C and C++: runs `body(arg)` in a forked child
 * whose stderr goes to a pipe, and requires that the child dies of SIGABRT.
 * The child's output is copied to our stdout, where CTest's
 * PASS_REGULAR_EXPRESSION looks for the expected message. Returns 0 when
 * the child aborted, 1 otherwise (it exited, or died of another signal).
 */

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int expect_abort(void (*body)(char const*), char const* arg) {
  int fds[2];
  if (pipe(fds) != 0) {
    perror("pipe");
    return 1;
  }
  fflush(NULL);
  pid_t const child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    struct rlimit const no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* the expected abort needs no core file */
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    alarm(30);
    body(arg);
    fflush(NULL);
    _exit(0); /* not detected */
  }
  close(fds[1]);
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof buffer)) > 0)
    fwrite(buffer, 1, (size_t)n, stdout);
  close(fds[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) {
    printf("[child aborted as expected]\n");
    return 0;
  }
  if (WIFSIGNALED(status))
    printf("[child died of signal %d, not SIGABRT]\n", WTERMSIG(status));
  else
    printf("[child exited with status %d: the misuse was not detected]\n", WEXITSTATUS(status));
  return 1;
}

#endif
