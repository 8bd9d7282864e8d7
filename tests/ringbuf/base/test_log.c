/* SPDX-License-Identifier: MIT */
/* test_log.c: the logger helpers and the one rate limiter of base/log.h. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

#define SEC 1000000000ull

/* What a callback received: every line, and the level of the last. */
struct capture {
	char lines[16][SLC_LOG_LINE_MAX + 64];
	unsigned n;
	int level;
};

static void SLC_PRINTF(3, 4) capture_log(void *ctx, int level, const char *fmt, ...)
{
	struct capture *c = ctx;
	va_list ap;

	cr_assert_lt(c->n, 16u, "more lines than the test expects");
	va_start(ap, fmt);
	vsnprintf(c->lines[c->n++], sizeof(c->lines[0]), fmt, ap);
	va_end(ap);
	c->level = level;
}

Test(log, level_names_are_the_log_level_flag_values)
{
	cr_expect_str_eq(slc_log_level_name(SLC_LOG_ERROR), "error");
	cr_expect_str_eq(slc_log_level_name(SLC_LOG_WARN), "warn");
	cr_expect_str_eq(slc_log_level_name(SLC_LOG_INFO), "info");
	cr_expect_str_eq(slc_log_level_name(SLC_LOG_DEBUG), "debug");
	cr_expect_str_eq(slc_log_level_name(-1), "?");
	cr_expect_str_eq(slc_log_level_name(4), "?");
}

Test(log, logf_writes_prefix_and_text_as_one_line)
{
	struct capture c = {0};

	slc_logf(capture_log, &c, SLC_LOG_WARN, "file sink worker 3: ", "write: %s", "No space");
	cr_assert_eq(c.n, 1u);
	cr_expect_str_eq(c.lines[0], "file sink worker 3: write: No space");
	cr_expect_eq(c.level, SLC_LOG_WARN);
	slc_logf(capture_log, &c, SLC_LOG_ERROR, "", "%d", 42);
	cr_expect_str_eq(c.lines[1], "42");
}

Test(log, a_long_line_is_cut_short_not_overrun)
{
	struct capture c = {0};
	char big[2 * SLC_LOG_LINE_MAX];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	slc_logf(capture_log, &c, SLC_LOG_INFO, "p: ", "%s", big);
	cr_assert_eq(c.n, 1u);
	cr_expect_eq(strlen(c.lines[0]), (size_t)SLC_LOG_LINE_MAX - 1);
	cr_expect_eq(strncmp(c.lines[0], "p: xxx", 6), 0, "%.20s", c.lines[0]);
}

Test(log, limit_passes_per_sec_lines_a_second_and_counts_the_rest)
{
	struct slc_log_limit l = {0};
	uint64_t t0 = 5 * SEC;

	for (int i = 0; i < 5; i++)
		cr_expect(slc_log_limit_pass(&l, 5, t0 + (uint64_t)i), "line %d", i);
	for (int i = 0; i < 7; i++)
		cr_expect_not(slc_log_limit_pass(&l, 5, t0 + SEC / 2), "line %d over the limit", i);
	/* The window is one second from its first line: still closed just before. */
	cr_expect_not(slc_log_limit_pass(&l, 5, t0 + SEC - 1));
	cr_expect(slc_log_limit_pass(&l, 5, t0 + SEC));
	cr_expect_eq(slc_log_limit_suppressed_take(&l), 8u);
	cr_expect_eq(slc_log_limit_suppressed_take(&l), 0u, "taken: zero from now on");
}

Test(log, the_next_line_written_says_how_many_were_suppressed)
{
	struct slc_log_limit l = {0};
	struct capture c = {0};
	uint64_t t0 = 100 * SEC;

	for (int i = 0; i < 10; i++)
		slc_log_limitedf(&l, 3, t0 + (uint64_t)i * 1000, capture_log, &c, SLC_LOG_ERROR,
		                 "forward sink worker 0: ", "connect: refused (%d)", i);
	cr_assert_eq(c.n, 3u, "3 a second");
	cr_expect_str_eq(c.lines[2], "forward sink worker 0: connect: refused (2)");
	/* A quiet spell of any length: the count waits for the next line written. */
	slc_log_limitedf(&l, 3, t0 + 60 * SEC, capture_log, &c, SLC_LOG_WARN, "w: ", "again");
	cr_assert_eq(c.n, 4u);
	cr_expect_str_eq(c.lines[3], "w: again (7 lines suppressed before this)");
	cr_expect_eq(c.level, SLC_LOG_WARN);
	slc_log_limitedf(&l, 3, t0 + 60 * SEC, capture_log, &c, SLC_LOG_WARN, "w: ", "and again");
	cr_expect_str_eq(c.lines[4], "w: and again", "the count was said once");
}

Test(log, suppressed_lines_over_several_windows_add_up)
{
	struct slc_log_limit l = {0};
	struct capture c = {0};
	uint64_t t = 7 * SEC;

	for (int sec = 0; sec < 3; sec++) {
		for (int i = 0; i < 4; i++)
			slc_log_limitedf(&l, 1, t, capture_log, &c, SLC_LOG_ERROR, "", "s%d", sec);
		t += SEC;
	}
	cr_assert_eq(c.n, 3u, "one a second");
	cr_expect_str_eq(c.lines[0], "s0");
	cr_expect_str_eq(c.lines[1], "s1 (3 lines suppressed before this)");
	cr_expect_str_eq(c.lines[2], "s2 (3 lines suppressed before this)");
}

Test(log, a_limit_of_zero_writes_nothing_and_counts_everything)
{
	struct slc_log_limit l = {0};
	struct capture c = {0};

	for (int i = 0; i < 4; i++)
		slc_log_limitedf(&l, 0, SEC * (uint64_t)(i + 1), capture_log, &c, SLC_LOG_ERROR, "",
		                 "x");
	cr_expect_eq(c.n, 0u);
	cr_expect_eq(slc_log_limit_suppressed_take(&l), 4u);
}

Test(log, the_first_window_opens_at_any_clock_value)
{
	struct slc_log_limit l = {0};

	/* {0} with a clock that reads 0 (a test's, or a fake one): a window is open. */
	cr_expect(slc_log_limit_pass(&l, 1, 0));
	cr_expect_not(slc_log_limit_pass(&l, 1, 1));
	cr_expect(slc_log_limit_pass(&l, 1, SEC));
}
