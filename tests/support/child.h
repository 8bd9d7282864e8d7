/* SPDX-License-Identifier: MIT */
/* child.h: starts a program for a test, so that it dies with the test process. */
#ifndef SLC_TESTS_CHILD_H
#define SLC_TESTS_CHILD_H

#include <sys/types.h>

/*
 * posix_spawn, but the child gets PR_SET_PDEATHSIG = SIGKILL before it execs: when the test
 * process ends, whatever way (a failed cr_assert ends it without running the test's
 * cleanup), the daemon it started is killed instead of living on with ctest's output pipe
 * open, which would keep ctest waiting until the executable's TIMEOUT. out_fd and err_fd
 * (-1: inherited) become the child's stdout and stderr.
 * Returns the child's pid, or -errno (fork failed). A child that cannot exec exits 127.
 */
pid_t slc_test_spawn(const char *path, const char *const *argv, int out_fd, int err_fd);

/* slc_test_spawn with the child's stdout and stderr on pipes: their read ends (close-on-
 * exec) in *out_fd and *err_fd. The child's pid, or -errno (pipe2, fork). */
pid_t slc_test_spawn_piped(const char *path, const char *const *argv, int *out_fd, int *err_fd);

/*
 * Reads what fd has into buf[*len .. cap - 1) (kept NUL-terminated, *len moved on), after
 * waiting up to wait_ms for it to have something: the bytes read, 0 at EOF, when nothing
 * came in time or buf is full, or -errno. For following a child's output (a pipe).
 */
ssize_t slc_test_read_some(int fd, char *buf, size_t cap, size_t *len, int wait_ms);

#endif /* SLC_TESTS_CHILD_H */
