/* SPDX-License-Identifier: MIT */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

pid_t
slc_test_spawn_piped(const char *path, const char *const *argv, int *out_fd, int *err_fd)
{
	int po[2], pe[2];
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) != 0)
		return -errno;
	if (pipe2(pe, O_CLOEXEC) != 0) {
		pid = -errno;
		goto err_close_out;
	}
	pid = slc_test_spawn(path, argv, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	if (pid < 0) {
		close(pe[0]);
		close(po[0]);
		return pid;
	}
	*out_fd = po[0];
	*err_fd = pe[0];
	return pid;

err_close_out:
	close(po[0]);
	close(po[1]);
	return pid;
}

ssize_t
slc_test_read_some(int fd, char *buf, size_t cap, size_t *len, int wait_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (*len + 1 >= cap)
		return 0;
	n = poll(&p, 1, wait_ms);
	if (n <= 0)
		return n < 0 && errno != EINTR ? -errno : 0;
	n = read(fd, buf + *len, cap - 1 - *len);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	*len += (size_t)n;
	buf[*len] = '\0';
	return n;
}
