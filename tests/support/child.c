/* SPDX-License-Identifier: MIT */
#include "child.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char **environ;

pid_t
slc_test_spawn(const char *path, const char *const *argv, int out_fd, int err_fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	/* The child: only async-signal-safe calls from here to exec (the parent has threads). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(127); /* the parent is already gone: its death signal would never come */
	if (out_fd >= 0 && out_fd != STDOUT_FILENO && dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	if (err_fd >= 0 && err_fd != STDERR_FILENO && dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	execve(path, (char *const *)argv, environ);
	_exit(127);
}
