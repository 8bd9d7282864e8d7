/* SPDX-License-Identifier: MIT */
/* test_child.c: a program a test starts dies with the test process (support/child.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "child.h"

/* Whether pid is gone or a zombie (killed, not reaped yet by whoever adopted it). */
static bool
dead(pid_t pid)
{
	char path[64], st[256];
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	p = fgets(st, sizeof(st), f);
	fclose(f);
	p = p != NULL ? strrchr(st, ')') : NULL;
	return p != NULL && (p[2] == 'Z' || p[2] == 'X');
}

Test(child, dies_with_the_process_that_started_it, .timeout = 30)
{
	const char *argv[] = {"/bin/sleep", "60", NULL};
	int pfd[2];
	pid_t mid, grandchild = 0;
	uint64_t end;
	int st;

	cr_assert_eq(pipe(pfd), 0);
	mid = fork();
	cr_assert_geq(mid, 0);
	if (mid == 0) {
		/* A test process that ends without cleaning up (as a failed cr_assert does). */
		pid_t c = slc_test_spawn(argv[0], argv, -1, -1);

		_exit(write(pfd[1], &c, sizeof(c)) == (ssize_t)sizeof(c) && c > 0 ? 0 : 1);
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], &grandchild, sizeof(grandchild)), (ssize_t)sizeof(grandchild));
	close(pfd[0]);
	cr_assert_eq(waitpid(mid, &st, 0), mid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_gt(grandchild, 0);
	end = slc_mono_ms() + 20000;
	while (!dead(grandchild) && slc_mono_ms() < end)
		usleep(10000);
	if (!dead(grandchild))
		kill(grandchild, SIGKILL);
	cr_assert(dead(grandchild), "the program outlived the process that started it");
}

Test(child, runs_the_program_with_its_output, .timeout = 30)
{
	const char *argv[] = {"/bin/echo", "hello", NULL};
	char buf[16] = {0};
	int pfd[2], st;
	pid_t pid;

	cr_assert_eq(pipe(pfd), 0);
	pid = slc_test_spawn(argv[0], argv, pfd[1], -1);
	cr_assert_gt(pid, 0);
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], buf, sizeof(buf) - 1), 6);
	cr_assert_str_eq(buf, "hello\n");
	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
