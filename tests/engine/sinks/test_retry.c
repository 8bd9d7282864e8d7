/* SPDX-License-Identifier: MIT */
/* test_retry.c: the backoff (bounds, jitter, max elapsed) and the breaker, on an injected clock. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/retry.h"

#define MS 1000000ull

/* A random source that returns what the test says, in turn. */
struct seq {
	const uint64_t *v;
	size_t n, i;
};

static uint64_t
seq_next(void *ctx)
{
	struct seq *s = ctx;

	return s->v[s->i++ % s->n];
}

static const struct slc_retry_cfg cfg_100_1600 = {.initial_ms = 100, .max_ms = 1600};

Test(retry, ceiling_doubles_from_initial_up_to_max)
{
	static const uint64_t want_ms[] = {100, 200, 400, 800, 1600, 1600, 1600};
	struct slc_retry r;
	uint64_t now = 5 * MS, wait;

	slc_retry_init(&r, &cfg_100_1600, 42);
	for (size_t i = 0; i < sizeof(want_ms) / sizeof(want_ms[0]); i++) {
		cr_expect_eq(slc_retry_ceiling_ns(&r), want_ms[i] * MS, "failure %zu", i);
		cr_assert_eq(slc_retry_failed(&r, now, &wait), 0);
		cr_expect_leq(wait, want_ms[i] * MS, "failure %zu waits %llu ns", i,
		              (unsigned long long)wait);
		now += wait;
	}
	/* Many more failures: the ceiling stays at max (no overflow of the doubling). */
	for (int i = 0; i < 200; i++)
		cr_assert_eq(slc_retry_failed(&r, now, &wait), 0);
	cr_expect_eq(slc_retry_ceiling_ns(&r), 1600 * MS);
	cr_expect_leq(wait, 1600 * MS);
}

Test(retry, full_jitter_spans_zero_to_the_ceiling)
{
	/* The random value modulo ceiling+1 is the wait: 0 and the ceiling itself are both
	 * reachable, so the window is [0, ceiling], not [ceiling/2, ceiling]. */
	uint64_t vals[] = {0, 100 * MS, 400 * MS, 3};
	struct seq s = {.v = vals, .n = 4};
	struct slc_retry r;
	uint64_t wait;

	slc_retry_init(&r, &cfg_100_1600, 1);
	slc_retry_set_rand(&r, seq_next, &s);
	cr_assert_eq(slc_retry_failed(&r, 0, &wait), 0);
	cr_expect_eq(wait, 0, "the low end");
	cr_assert_eq(slc_retry_failed(&r, 0, &wait), 0);
	cr_expect_eq(wait, 100 * MS, "200 ms ceiling: 100 ms drawn");
	cr_assert_eq(slc_retry_failed(&r, 0, &wait), 0);
	cr_expect_eq(wait, 400 * MS, "the high end: the 400 ms ceiling itself");
	slc_retry_succeeded(&r);
	cr_assert_eq(slc_retry_failed(&r, 0, &wait), 0);
	cr_expect_eq(wait, 3, "a success starts over at 100 ms");
}

Test(retry, built_in_jitter_covers_the_window)
{
	/* 2000 draws from the built-in generator over a 100 ms window: all inside it, some in
	 * each tenth (a generator stuck in half the window would fail this). */
	struct slc_retry r;
	unsigned tenth[10] = {0};
	uint64_t wait;

	slc_retry_init(&r, &(struct slc_retry_cfg){.initial_ms = 100, .max_ms = 100}, 7);
	for (int i = 0; i < 2000; i++) {
		cr_assert_eq(slc_retry_failed(&r, 0, &wait), 0);
		cr_assert_leq(wait, 100 * MS);
		tenth[wait * 10 / (100 * MS + 1)]++;
	}
	for (int i = 0; i < 10; i++)
		cr_expect_gt(tenth[i], 100, "tenth %d: %u draws", i, tenth[i]);
}

Test(retry, max_elapsed_cuts_the_last_wait_then_gives_up)
{
	uint64_t big[] = {UINT64_MAX - 1};
	struct seq s = {.v = big, .n = 1};
	struct slc_retry r;
	uint64_t now = 1000 * MS, wait;

	slc_retry_init(
	        &r,
	        &(struct slc_retry_cfg){.initial_ms = 100, .max_ms = 1000, .max_elapsed_ms = 250},
	        1);
	slc_retry_set_rand(&r, seq_next, &s);
	cr_assert_eq(slc_retry_failed(&r, now, &wait), 0);
	cr_expect_leq(wait, 100 * MS);
	now += 100 * MS;
	cr_assert_eq(slc_retry_failed(&r, now, &wait), 0);
	cr_expect_leq(wait, 150 * MS, "a 200 ms ceiling cut to the 150 ms left");
	now += 150 * MS;
	cr_expect_eq(slc_retry_failed(&r, now, &wait), -ETIMEDOUT,
	             "250 ms after the first failure");
	/* The run ended: a new failure starts a new one, with the whole budget. */
	cr_expect_eq(slc_retry_failed(&r, now + 1, &wait), 0);
	cr_expect_leq(wait, 100 * MS);
}

Test(retry, without_max_elapsed_it_never_gives_up)
{
	struct slc_retry r;
	uint64_t now = 0, wait;

	slc_retry_init(&r, &(struct slc_retry_cfg){0}, 3);
	cr_expect_eq(r.cfg.initial_ms, SLC_RETRY_INITIAL_MS_DEFAULT);
	cr_expect_eq(r.cfg.max_ms, SLC_RETRY_MAX_MS_DEFAULT);
	for (int i = 0; i < 100000; i++) {
		cr_assert_eq(slc_retry_failed(&r, now, &wait), 0);
		now += 3600000 * MS; /* an hour between failures */
	}
}

Test(retry, cfg_check_refuses_inconsistent_bounds)
{
	const char *why = NULL;

	cr_expect_eq(slc_retry_cfg_check(&(struct slc_retry_cfg){0}, &why), 0);
	cr_expect_eq(slc_retry_cfg_check(
	                     &(struct slc_retry_cfg){.initial_ms = 2000, .max_ms = 1000}, &why),
	             -EINVAL);
	cr_expect(strstr(why, "--retry-max") != NULL, "%s", why);
	cr_expect_eq(
	        slc_retry_cfg_check(
	                &(struct slc_retry_cfg){.initial_ms = 500, .max_elapsed_ms = 100}, &why),
	        -EINVAL);
	cr_expect(strstr(why, "--retry-max-elapsed") != NULL, "%s", why);
	cr_expect_eq(slc_retry_cfg_check(
	                     &(struct slc_retry_cfg){.breaker_cooldown_ms = SLC_RETRY_LIMIT_MS + 1},
	                     &why),
	             -EINVAL);
}

Test(breaker, opens_after_n_failures_probes_after_cooldown_closes_on_success)
{
	struct slc_breaker b;
	bool changed;

	slc_breaker_init(&b,
	                 &(struct slc_retry_cfg){.breaker_failures = 3, .breaker_cooldown_ms = 50});
	cr_expect_eq(slc_breaker_wait_ns(&b, 0, &changed), 0);
	cr_expect_not(changed);
	cr_expect_not(slc_breaker_failed(&b, 1 * MS));
	cr_expect_not(slc_breaker_failed(&b, 2 * MS));
	cr_expect_eq(b.state, SLC_BREAKER_CLOSED);
	cr_expect(slc_breaker_failed(&b, 3 * MS), "the third failure opens it");
	cr_expect_eq(b.state, SLC_BREAKER_OPEN);
	/* Open: no attempt until the cool-down is over. */
	cr_expect_eq(slc_breaker_wait_ns(&b, 3 * MS, &changed), 50 * MS);
	cr_expect_eq(slc_breaker_wait_ns(&b, 40 * MS, &changed), 13 * MS);
	cr_expect_not(changed);
	cr_expect_eq(slc_breaker_wait_ns(&b, 53 * MS, &changed), 0);
	cr_expect(changed);
	cr_expect_eq(b.state, SLC_BREAKER_HALF_OPEN);
	/* The probe fails: open again for a whole cool-down. */
	cr_expect(slc_breaker_failed(&b, 60 * MS));
	cr_expect_eq(b.state, SLC_BREAKER_OPEN);
	cr_expect_eq(slc_breaker_wait_ns(&b, 60 * MS, &changed), 50 * MS);
	cr_expect_eq(slc_breaker_wait_ns(&b, 110 * MS, &changed), 0);
	cr_expect_eq(b.state, SLC_BREAKER_HALF_OPEN);
	/* The probe works: closed, and the count of failures starts over. */
	cr_expect(slc_breaker_succeeded(&b));
	cr_expect_eq(b.state, SLC_BREAKER_CLOSED);
	cr_expect_not(slc_breaker_succeeded(&b), "closed stays closed: no change");
	cr_expect_not(slc_breaker_failed(&b, 200 * MS));
	cr_expect_not(slc_breaker_failed(&b, 201 * MS));
	cr_expect(slc_breaker_failed(&b, 202 * MS));
}

Test(breaker, a_success_between_failures_resets_the_count)
{
	struct slc_breaker b;

	slc_breaker_init(&b, &(struct slc_retry_cfg){.breaker_failures = 2});
	cr_expect_eq(b.cooldown_ns, SLC_RETRY_BREAKER_COOLDOWN_MS_DEFAULT * MS);
	cr_expect_not(slc_breaker_failed(&b, 0));
	cr_expect_not(slc_breaker_succeeded(&b));
	cr_expect_not(slc_breaker_failed(&b, 1));
	cr_expect_eq(b.state, SLC_BREAKER_CLOSED, "not two in a row");
	cr_expect(slc_breaker_failed(&b, 2));
}

Test(retry, reasons_of_errno_and_counters)
{
	struct slc_retry_counters c;
	struct slc_retry_totals t;

	cr_expect_eq(slc_retry_reason_of_errno(-ECONNREFUSED), SLC_RETRY_REFUSED);
	cr_expect_eq(slc_retry_reason_of_errno(ECONNRESET), SLC_RETRY_RESET);
	cr_expect_eq(slc_retry_reason_of_errno(-ESHUTDOWN), SLC_RETRY_RESET);
	cr_expect_eq(slc_retry_reason_of_errno(-ETIMEDOUT), SLC_RETRY_TIMEOUT);
	cr_expect_eq(slc_retry_reason_of_errno(-EHOSTUNREACH), SLC_RETRY_UNREACHABLE);
	cr_expect_eq(slc_retry_reason_of_errno(-EAGAIN), SLC_RETRY_LATER);
	cr_expect_eq(slc_retry_reason_of_errno(-EIO), SLC_RETRY_OTHER);
	cr_expect_str_eq(slc_retry_reason_name(SLC_RETRY_REFUSED), "refused");
	cr_expect_str_eq(slc_breaker_state_name(SLC_BREAKER_HALF_OPEN), "half_open");

	memset(&c, 0, sizeof(c));
	memset(&t, 0, sizeof(t));
	slc_retry_totals_add(&t, &c);
	cr_expect_eq(t.in_state[SLC_BREAKER_CLOSED], 0, "unused counters are in no state");
	slc_retry_counters_open(&c);
	slc_retry_count(&c, SLC_RETRY_REFUSED);
	slc_retry_count(&c, SLC_RETRY_REFUSED);
	slc_retry_count(&c, (enum slc_retry_reason)99);
	slc_retry_count_state(&c, SLC_BREAKER_OPEN);
	slc_retry_totals_add(&t, &c);
	cr_expect_eq(t.retries[SLC_RETRY_REFUSED], 2);
	cr_expect_eq(t.retries[SLC_RETRY_OTHER], 1, "an unknown reason counts as other");
	cr_expect_eq(t.transitions[SLC_BREAKER_OPEN], 1);
	cr_expect_eq(t.in_state[SLC_BREAKER_OPEN], 1);
	cr_expect_eq(t.in_state[SLC_BREAKER_CLOSED], 0);
}

Test(retry, left_ns_is_the_time_to_the_max_elapsed_deadline)
{
	struct slc_retry r;
	uint64_t wait;

	slc_retry_init(&r, &(struct slc_retry_cfg){.max_elapsed_ms = 1000}, 5);
	cr_expect_eq(slc_retry_left_ns(&r, 0), UINT64_MAX, "no run yet");
	cr_assert_eq(slc_retry_failed(&r, 10 * MS, &wait), 0);
	cr_expect_eq(slc_retry_left_ns(&r, 10 * MS), 1000 * MS);
	cr_expect_eq(slc_retry_left_ns(&r, 400 * MS), 610 * MS);
	cr_expect_eq(slc_retry_left_ns(&r, 2000 * MS), 0);
	slc_retry_give_up(&r);
	cr_expect_eq(slc_retry_left_ns(&r, 2000 * MS), UINT64_MAX, "the run ended");
	slc_retry_init(&r, &(struct slc_retry_cfg){0}, 5);
	cr_assert_eq(slc_retry_failed(&r, 10 * MS, &wait), 0);
	cr_expect_eq(slc_retry_left_ns(&r, 10 * MS), UINT64_MAX, "no max elapsed: for ever");
}
