/* SPDX-License-Identifier: MIT */
/* shim.c: the runner behind tsan-shim/criterion/criterion.h (TSan build only). */
#include "criterion/criterion.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>

static struct slc_shim_test *tests, **tests_tail = &tests;
static jmp_buf test_exit;
static bool test_failed;

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
	for (struct slc_shim_test *t = tests; t != NULL; t = t->next) {
		int how;

		snprintf(full, sizeof(full), "%s::%s", t->suite, t->name);
		if (filter != NULL && strstr(full, filter) == NULL)
			continue;
		if (t->fn == NULL) { /* .disabled = true */
			skipped++;
			continue;
		}
		how = run_one(t);
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
