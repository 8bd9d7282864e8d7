/* SPDX-License-Identifier: MIT */
/* shim.c: the runner behind tsan-shim/criterion/criterion.h (TSan build only). */
#include "criterion/criterion.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static struct slc_shim_test *tests, **tests_tail = &tests;
static jmp_buf test_exit;
static bool test_failed;

/*
 * The watchdog: Criterion fails a test that outlives its .timeout; here all tests share one
 * process, so a test that hangs cannot be stopped and left behind. The watchdog thread ends
 * the whole run instead, naming the test, with exit status 1. A thread rather than alarm():
 * TSan defers an asynchronous signal until the thread it lands on calls into its runtime,
 * which a test spinning on plain loads may never do. wd_test is the test running under a
 * deadline (NULL: none), under wd_lock; the condition variable waits on CLOCK_MONOTONIC.
 */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static const struct slc_shim_test *wd_test;
static struct timespec wd_deadline;

static void *
watchdog(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wd_lock);
	for (;;) {
		struct timespec now;
		char msg[512];
		ssize_t w;
		int n;

		if (wd_test == NULL) {
			pthread_cond_wait(&wd_cond, &wd_lock);
			continue;
		}
		if (pthread_cond_timedwait(&wd_cond, &wd_lock, &wd_deadline) != ETIMEDOUT)
			continue; /* woken: the test ended, or another began */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (wd_test == NULL || now.tv_sec < wd_deadline.tv_sec ||
		    (now.tv_sec == wd_deadline.tv_sec && now.tv_nsec < wd_deadline.tv_nsec))
			continue;
		/* write(2) and _exit: the hung test may hold stdio's lock or be inside exit(). */
		n = snprintf(msg, sizeof(msg),
		             "[TIME] %s::%s: still running after its timeout of %gs\n",
		             wd_test->suite, wd_test->name, wd_test->timeout);
		w = write(STDERR_FILENO, msg, n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : 0);
		(void)w; /* nothing better to do than exit */
		_exit(1);
	}
	return NULL;
}

static void
watchdog_start(void)
{
	pthread_condattr_t attr;
	pthread_t t;

	if (pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&wd_cond, &attr) != 0 ||
	    pthread_create(&t, NULL, watchdog, NULL) != 0) {
		fprintf(stderr, "tsan-shim: cannot start the timeout watchdog\n");
		exit(1);
	}
	pthread_condattr_destroy(&attr);
	pthread_detach(t);
}

/* Arms the watchdog for t (a test without a timeout disarms it). */
static void
watchdog_arm(const struct slc_shim_test *t)
{
	pthread_mutex_lock(&wd_lock);
	wd_test = NULL;
	if (t != NULL && t->timeout > 0) {
		double whole = (double)(long)t->timeout;

		clock_gettime(CLOCK_MONOTONIC, &wd_deadline);
		wd_deadline.tv_sec += (time_t)whole;
		wd_deadline.tv_nsec += (long)((t->timeout - whole) * 1e9);
		if (wd_deadline.tv_nsec >= 1000000000L) {
			wd_deadline.tv_sec++;
			wd_deadline.tv_nsec -= 1000000000L;
		}
		wd_test = t;
	}
	pthread_cond_signal(&wd_cond);
	pthread_mutex_unlock(&wd_lock);
}

void
slc_shim_register(struct slc_shim_test *t)
{
	*tests_tail = t;
	tests_tail = &t->next;
}

void
slc_shim_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] %s:%d: %s failed: %s\n[----]   ", file, line,
	        fatal ? "assertion" : "expectation", expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	test_failed = true;
	if (fatal)
		longjmp(test_exit, 1);
}

void
slc_shim_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[SKIP] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	longjmp(test_exit, 2);
}

/* Runs one test: 0 passed, 1 failed, 2 skipped. setjmp lives here, away from main's loop
 * state, so that no local of main can be clobbered by the longjmp of a failed assertion. */
static int
run_one(const struct slc_shim_test *t)
{
	test_failed = false;
	switch (setjmp(test_exit)) {
	case 0:
		t->fn();
		return test_failed ? 1 : 0;
	case 2:
		return 2;
	default:
		return 1;
	}
}

/* Options a Criterion runner takes (--jobs, --short-filename) are accepted and ignored;
 * a bare argument selects tests whose "suite::name" contains it. */
int
main(int argc, char **argv)
{
	const char *filter = NULL;
	unsigned passed = 0, failed = 0, skipped = 0;
	char full[256];

	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-')
			filter = argv[i];
	/* Started before any test, so that a test counting its process's threads sees the same
	 * number before and after. */
	watchdog_start();
	for (struct slc_shim_test *t = tests; t != NULL; t = t->next) {
		int how;

		snprintf(full, sizeof(full), "%s::%s", t->suite, t->name);
		if (filter != NULL && strstr(full, filter) == NULL)
			continue;
		if (t->fn == NULL) { /* .disabled = true */
			skipped++;
			continue;
		}
		watchdog_arm(t);
		if (t->init != NULL)
			t->init();
		how = run_one(t);
		if (t->fini != NULL)
			t->fini();
		watchdog_arm(NULL);
		if (how == 2) {
			skipped++;
			continue;
		}
		fprintf(stderr, "[%s] %s\n", how ? "FAIL" : "PASS", full);
		if (how)
			failed++;
		else
			passed++;
	}
	printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
	return failed == 0 ? 0 : 1;
}
