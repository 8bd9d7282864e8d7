/* SPDX-License-Identifier: MIT */
/* test_start.c: a start that fails after threads started unwinds: sinks closed, threads joined. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon/daemon.h"
#include "daemon_proc.h"
#include "child.h"

/*
 * Two ways to make the start fail once threads run:
 *  - sluiced as a process with tests/daemon/plugin_failopen.c as its sink, whose
 *    worker_open fails on some workers: the workers run, some sinks are open;
 *  - the daemon in this process (the test links slc_daemon), with pthread_create
 *    failing for the controller, the last thing started: workers and reactors run.
 * Both check the error line, that every sink that opened was closed on its own worker's
 * thread before fini, and the exit status or that no thread is left. Under ASan a
 * worker_close that never came is a leak: LeakSanitizer's report in the log (the exit
 * status stays 1, which is why the log is read for it).
 */


/* ---- pthread_create, failing on demand -------------------------------------------------- */

/* Calls from armed_thread that still succeed before one fails with EAGAIN; -1: none fails. */
static _Atomic int armed_left = -1;
static pthread_t armed_thread; /* written before armed_left is set (release) */
static int (*real_pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

__attribute__((constructor)) static void
real_pthread_create_find(void)
{
	real_pthread_create = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
	                               void *))dlsym(RTLD_NEXT, "pthread_create");
}

/* Takes the place of libc's (or the sanitizer's) for the whole test program. */
int
pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	/* Acquire: pairs with the release in fail_pthread_create_after. */
	if (atomic_load_explicit(&armed_left, memory_order_acquire) >= 0 &&
	    pthread_equal(pthread_self(), armed_thread) &&
	    atomic_fetch_sub_explicit(&armed_left, 1, memory_order_relaxed) == 0) {
		atomic_store_explicit(&armed_left, -1, memory_order_relaxed);
		return EAGAIN;
	}
	if (real_pthread_create == NULL)
		real_pthread_create_find();
	return real_pthread_create(thread, attr, fn, arg);
}

/* The calling thread's next n pthread_create calls succeed, the one after fails. */
static void
fail_pthread_create_after(int n)
{
	armed_thread = pthread_self();
	atomic_store_explicit(&armed_left, n, memory_order_release);
}

/* ---- helpers ------------------------------------------------------------------------- */

static void *
nothing(void *arg)
{
	return arg;
}

/* Threads in this process. The first call starts and joins a thread first: the sanitizer
 * runtimes start a thread of their own with the first one a program creates. */
static int
count_threads(void)
{
	static bool warm;
	DIR *dir;
	struct dirent *e;
	int n = 0;

	if (!warm) {
		pthread_t t;

		cr_assert_eq(pthread_create(&t, NULL, nothing, NULL), 0);
		pthread_join(t, NULL);
		warm = true;
	}
	dir = opendir("/proc/self/task");
	cr_assert_not_null(dir);
	while ((e = readdir(dir)) != NULL)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* The whole of a (small) file, NUL-terminated, into buf. */
static void
read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	cr_assert_geq(fd, 0, "%s", path);
	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

static unsigned
count(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

/* A scratch file for the plugin's record of its calls. */
static void
plugin_out(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/sluiced-failopen-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
}

/*
 * What the plugin recorded: workers [0, opened) opened and were closed on their own
 * thread, workers [opened, total) were refused and never closed, and fini came last.
 */
static void
expect_plugin_calls(const char *path, unsigned opened, unsigned total)
{
	char calls[4096], line[64];
	const char *fini;

	read_file(path, calls, sizeof(calls));
	for (unsigned w = 0; w < total; w++) {
		snprintf(line, sizeof(line), w < opened ? "open %u\n" : "refuse %u\n", w);
		cr_expect_eq(count(calls, line), 1u, "%s missing:\n%s", line, calls);
		snprintf(line, sizeof(line), "close %u same-thread\n", w);
		cr_expect_eq(count(calls, line), w < opened ? 1u : 0u, "%s:\n%s", line, calls);
	}
	cr_expect_eq(count(calls, "close "), opened, "%s", calls);
	cr_expect_eq(count(calls, "other-thread"), 0u, "%s", calls);
	fini = strstr(calls, "fini\n");
	cr_expect(fini != NULL && fini[5] == '\0', "fini is not last:\n%s", calls);
}

/* The sanitizers' reports, which must not be in a log. */
static void
expect_no_sanitizer_report(const char *log)
{
	cr_expect_null(strstr(log, "LeakSanitizer"), "%s", log);
	cr_expect_null(strstr(log, "AddressSanitizer"), "%s", log);
	cr_expect_null(strstr(log, "ThreadSanitizer"), "%s", log);
	cr_expect_null(strstr(log, "runtime error"), "%s", log);
}

/* Runs sluiced with args (NULL-terminated) to its exit, its stderr into log; returns the
 * exit status (128 + the signal). Kills it after 30 s. */
static int
run_sluiced(const char *const *args, char *log, size_t len)
{
	const char *argv[32] = {SLC_SLUICED};
	uint64_t end = slc_mono_ms() + 30000;
	size_t n = 0;
	int pfd[2], st, i;
	pid_t pid;

	for (i = 1; args[i - 1] != NULL && i < 31; i++)
		argv[i] = args[i - 1];
	argv[i] = NULL;
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid = slc_test_spawn(SLC_SLUICED, argv, -1, pfd[1]);
	cr_assert_gt(pid, 0, "spawn: %s", strerror((int)-pid));
	close(pfd[1]);
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		ssize_t r;

		if (slc_mono_ms() >= end) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (n < len - 1) {
			r = read(pfd[0], log + n, len - 1 - n);
		} else {
			char drop[4096]; /* a runaway log: its start is kept */

			r = read(pfd[0], drop, sizeof(drop));
		}
		if (r <= 0)
			break;
		if (n < len - 1)
			n += (size_t)r;
	}
	log[n] = '\0';
	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? (int)WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- a sink that does not open on every worker --------------------------------------- */

/* 4 workers, 2 of which cannot open the sink: the 2 that did are closed, on their
 * threads; one error line; exit status 1; no leak. */
Test(start, sink_failing_on_some_workers_closes_the_others_and_exits_1, .timeout = 60)
{
	char out[64], sink[512], log[1 << 16];
	const char *args[] = {"--listen", "tcp://127.0.0.1:0", "--metrics", "off",    "--pools",
	                      "2",        "--workers",         "2",         "--sink", sink,
	                      NULL};
	uint64_t t0 = slc_mono_ms();
	const char *line;
	int st;

	plugin_out(out, sizeof(out));
	snprintf(sink, sizeof(sink), "plugin:%s?2:%s", SLC_PLUGIN_FAILOPEN, out);
	st = run_sluiced(args, log, sizeof(log));
	cr_expect_eq(st, 1, "exit status %d:\n%s", st, log);
	/* Generous (the refusing workers take 100 ms each; a start under a sanitizer on a
	 * loaded machine, a second or two), and below run_sluiced's 30 s: a start that waits
	 * on a timer before it gives up fails here. */
	cr_expect_lt(slc_mono_ms() - t0, 10000u, "slow to give up:\n%s", log);
	cr_expect_null(strstr(log, "ready:"), "%s", log);
	/* The daemon's own error line, once; the plugin sink's per-worker lines besides. */
	line = strstr(log, "sluiced: error: sink plugin: 2 of 4 workers could not open it "
	                   "(worker ");
	cr_expect_not_null(line, "%s", log);
	cr_expect_eq(count(log, "sluiced: error:") - count(log, "sluiced: error: plugin sink "), 1u,
	             "%s", log);
	cr_expect(line != NULL && strstr(line, "Permission denied); not started: stopping") != NULL,
	          "%s", log);
	expect_no_sanitizer_report(log);
	expect_plugin_calls(out, 2, 4);
	unlink(out);
}

/* No worker opens it: nothing to close; the same one error line and exit status. */
Test(start, sink_failing_on_every_worker_exits_1, .timeout = 60)
{
	char out[64], sink[512], log[1 << 16];
	const char *args[] = {"--listen", "tcp://127.0.0.1:0", "--metrics", "off",    "--pools",
	                      "1",        "--workers",         "2",         "--sink", sink,
	                      NULL};
	int st;

	plugin_out(out, sizeof(out));
	snprintf(sink, sizeof(sink), "plugin:%s?0:%s", SLC_PLUGIN_FAILOPEN, out);
	st = run_sluiced(args, log, sizeof(log));
	cr_expect_eq(st, 1, "exit status %d:\n%s", st, log);
	cr_expect_not_null(strstr(log, "sluiced: error: sink plugin: 2 of 2 workers could not "
	                               "open it (worker "),
	                   "%s", log);
	cr_expect_null(strstr(log, "ready:"), "%s", log);
	expect_no_sanitizer_report(log);
	expect_plugin_calls(out, 0, 2);
	unlink(out);
}

/* ---- the controller, last to start, does not ------------------------------------------ */

/*
 * Workers (sinks open) and reactors run when the controller's thread cannot be created:
 * start returns its error, and by then every thread it started has ended and every sink
 * is closed on its worker's thread, before destroy; the rest goes at destroy.
 */
Test(start, controller_failing_after_reactors_started_unwinds, .timeout = 60)
{
	static struct slc_cfg cfg;
	char out[64], sink[512], calls[4096] = "", logpath[] = "/tmp/sluiced-startlog-XXXXXX";
	char log[1 << 14];
	char *argv[] = {"sluiced", "--listen", "tcp://127.0.0.1:0", "--metrics", "off",
	                "--pools", "2",        "--workers",         "2",         "--sink",
	                sink,      NULL};
	struct slc_daemon *d;
	int threads0, threads1 = -1, saved_err, log_fd, err = 0, rc = 0;

	plugin_out(out, sizeof(out));
	snprintf(sink, sizeof(sink), "plugin:%s?99:%s", SLC_PLUGIN_FAILOPEN, out);
	cr_assert_eq(slc_cfg_parse(&cfg, (int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, stdout,
	                           stderr),
	             SLC_CFG_RUN);
	threads0 = count_threads();
	/* The daemon logs to fd 2: into a file for the length of the test. */
	log_fd = mkstemp(logpath);
	cr_assert_geq(log_fd, 0);
	saved_err = dup(STDERR_FILENO);
	cr_assert_geq(saved_err, 0);
	dup2(log_fd, STDERR_FILENO);
	d = slc_daemon_create(&cfg, &err);
	if (d != NULL) {
		/* slc_daemon_start: one thread per worker, then the controller's */
		fail_pthread_create_after((int)(cfg.pools * cfg.workers));
		rc = slc_daemon_start(d);
		atomic_store_explicit(&armed_left, -1, memory_order_relaxed);
		threads1 = count_threads();
		read_file(out, calls, sizeof(calls));
		slc_daemon_destroy(d);
	}
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	close(log_fd);
	read_file(logpath, log, sizeof(log));
	unlink(logpath);
	cr_assert_not_null(d, "create: %d\n%s", err, log);

	cr_expect_eq(rc, -EAGAIN, "%d\n%s", rc, log);
	cr_expect_eq(threads1, threads0, "threads left running after the failed start:\n%s", log);
	/* Closed by the unwinding, before destroy and fini. */
	cr_expect_eq(count(calls, "same-thread"), 4u, "%s", calls);
	cr_expect_null(strstr(calls, "fini"), "%s", calls);
	cr_expect_not_null(strstr(log, "sluiced: error: controller: Resource temporarily "
	                               "unavailable; not started: stopping"),
	                   "%s", log);
	cr_expect_eq(count(log, "sluiced: error:"), 1u, "%s", log);
	cr_expect_null(strstr(log, "ready:"), "%s", log);
	expect_plugin_calls(out, 4, 4);
	unlink(out);
}

/*
 * /readyz through the daemon's life, with the daemon in this process: 503 "starting"
 * between create and start (the endpoint is up, the threads are not), 200 once started,
 * 503 after the stop (until destroy ends the endpoint).
 */
Test(start, readyz_says_starting_ready_and_stopped, .timeout = 60)
{
	static struct slc_cfg cfg;
	static struct dproc dp; /* only its metrics_port, for dproc_get */
	char *argv[] = {"sluiced",   "--listen",    "tcp://127.0.0.1:0",
	                "--metrics", "127.0.0.1:0", NULL};
	char body[256];
	struct slc_daemon *d;
	int err = 0, st;

	cr_assert_eq(slc_cfg_parse(&cfg, (int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, stdout,
	                           stderr),
	             SLC_CFG_RUN);
	d = slc_daemon_create(&cfg, &err);
	cr_assert_not_null(d, "create: %s", strerror(-err));
	dp.metrics_port = slc_daemon_metrics_port(d);
	st = dproc_get(&dp, "/readyz", body, sizeof(body));
	cr_expect_eq(st, 503, "%d %s", st, body);
	cr_expect_str_eq(body, "starting\n");
	cr_expect_eq(dproc_get(&dp, "/healthz", body, sizeof(body)), 200, "%s", body);

	cr_assert_eq(slc_daemon_start(d), 0);
	st = dproc_get(&dp, "/readyz", body, sizeof(body));
	cr_expect_eq(st, 200, "%d %s", st, body);
	cr_expect_str_eq(body, "ok\n");

	cr_expect_eq(slc_daemon_stop(d), 0);
	st = dproc_get(&dp, "/readyz", body, sizeof(body));
	cr_expect_eq(st, 503, "%d %s", st, body);
	cr_expect_str_eq(body, "stopped\n");
	slc_daemon_destroy(d);
}
