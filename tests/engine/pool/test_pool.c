/* SPDX-License-Identifier: MIT */
/* test_pool.c: worker pools: the embedding API's refusals, drain-and-stop, latency buckets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "pool/pool.h"
#include "pool_fixture.h"

/* Embedding API: refusals are explicit, and drain-and-stop finishes what was accepted. */
struct gate {
	_Atomic bool open;
	_Atomic uint64_t handled;
};

static void
gated_handler(void *vctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	struct gate *g = vctx;

	(void)worker;
	(void)m;
	while (!atomic_load(&g->open))
		usleep(100);
	atomic_fetch_add(&g->handled, n);
}

Test(pool, submit_refuses_with_reasons_and_drain_finishes_everything)
{
	struct gate g = {0};
	struct slc_pool_set *ps = pools_new(1, 1, gated_handler, &g);
	struct slc_msg m = {0};
	uint64_t accepted = 0;
	int rc = 0;

	cr_assert_eq(slc_pool_set_start(ps), 0);
	/* The worker is stuck in the handler: the ring fills, and then try_submit says so. */
	for (int i = 0; i < 5000 && rc == 0; i++) {
		rc = slc_pool_try_submit(ps, 0, &m);
		if (rc == 0)
			accepted++;
	}
	cr_expect_eq(rc, -EAGAIN, "a full pool is refused, not blocked on");
	cr_expect_eq(slc_pool_submit(ps, 0, &m, 20), -ETIMEDOUT);
	cr_expect_eq(slc_pool_try_submit(ps, 7, &m), -EINVAL);
	atomic_store(&g.open, true);
	slc_pool_set_drain_stop(ps);
	cr_expect_eq(atomic_load(&g.handled), accepted, "everything accepted was handled");
	cr_expect_eq(slc_pool_try_submit(ps, 0, &m), -ESHUTDOWN);
	cr_expect_eq(slc_pool_submit(ps, 0, &m, 10), -ESHUTDOWN);
	slc_pool_set_destroy(ps);
}

/* Bits 24..27 of a TCP message's conn are its QoS class, which only the reactor sets: the
 * workers lower the class's in-flight count by them (engine/daemon/pipeline.c), so an
 * embedder's message carrying them would lower a count it never raised. Refused; a
 * datagram's conn (bit 31) has no class bits and passes whatever its low bits. */
Test(pool, submit_refuses_the_reserved_class_bits)
{
	struct gate g = {.open = true};
	struct slc_pool_set *ps = pools_new(1, 1, gated_handler, &g);
	struct slc_msg m = {.conn = 77};

	cr_assert_eq(slc_pool_set_start(ps), 0);
	cr_expect_eq(slc_pool_try_submit(ps, 0, &m), 0);
	for (uint32_t q = 1; q <= 15; q++) {
		m.conn = 77 | q << 24;
		cr_expect_eq(slc_pool_try_submit(ps, 0, &m), -EINVAL, "class bits %u", q);
		cr_expect_eq(slc_pool_submit(ps, 0, &m, 10), -EINVAL, "class bits %u", q);
	}
	m.conn = 0x80000000u | 0x0f000000u | 77;
	cr_expect_eq(slc_pool_try_submit(ps, 0, &m), 0, "a datagram's conn carries no class");
	slc_pool_set_drain_stop(ps);
	cr_expect_eq(atomic_load(&g.handled), 2, "only the two accepted were handled");
	slc_pool_set_destroy(ps);
}

/* The handler latency histogram's buckets (pool.h): each power of two its own, up to the
 * largest time a uint64_t holds; nothing slow is folded into a faster bucket. */
Test(pool, handler_latency_buckets_cover_every_time)
{
	cr_expect_eq(slc_pool_latency_bucket(0), 0);
	cr_expect_eq(slc_pool_latency_bucket(1), 0);
	cr_expect_eq(slc_pool_latency_bucket(2), 1);
	cr_expect_eq(slc_pool_latency_bucket(3), 1);
	cr_expect_eq(slc_pool_latency_bucket(1000), 9);
	cr_expect_eq(slc_pool_latency_bucket((1ull << 31) - 1), 30);
	cr_expect_eq(slc_pool_latency_bucket(1ull << 31), 31);
	cr_expect_eq(slc_pool_latency_bucket(5000000000ull), 32, "5 s");
	cr_expect_eq(slc_pool_latency_bucket(UINT64_MAX), SLC_POOL_LATENCY_BUCKETS - 1);
}

/* The idle callback: while it says something is pending, the worker comes back after the
 * short park timeout without any work; when it says nothing is, the worker sleeps until
 * work comes (the long timeout is 10 s: the test's own timeout would end it first). */
struct idle_count {
	struct gate g; /* open: gated_handler counts what it handles */
	_Atomic uint64_t calls;
	_Atomic uint64_t done; /* calls that said nothing is pending */
	_Atomic bool pending;
};

static bool
count_idle(void *vctx, uint32_t worker)
{
	struct idle_count *c = vctx;

	(void)worker;
	bool pending = atomic_load(&c->pending);

	atomic_fetch_add(&c->calls, 1);
	atomic_fetch_add(&c->done, !pending); /* after calls: done counted means calls did */
	return pending;
}

static void
wait_calls(struct idle_count *c, uint64_t want)
{
	while (atomic_load(&c->calls) < want)
		usleep(1000);
}

/* One pool of one worker whose idle callback is c's, its gate open, started. */
static struct slc_pool_set *
idle_pool_start(struct idle_count *c)
{
	struct slc_pool_cfg cfg = {
	        .npools = 1,
	        .workers = 1,
	        .producers = 1,
	        .ring_size = 64,
	        .handler = gated_handler,
	        .handler_ctx = &c->g,
	        .idle = count_idle,
	        .idle_ctx = c,
	};
	struct slc_pool_set *ps;
	int err;

	atomic_store(&c->g.open, true);
	ps = slc_pool_set_create(&cfg, &err);
	cr_assert_not_null(ps, "%d", err);
	cr_assert_eq(slc_pool_set_start(ps), 0);
	return ps;
}

Test(pool, idle_pending_comes_back_and_idle_done_sleeps_until_work, .timeout = 8)
{
	struct idle_count c = {0};
	struct slc_msg m = {0};
	struct slc_pool_set *ps;
	uint64_t n;

	atomic_store(&c.pending, true);
	ps = idle_pool_start(&c);
	/* Pending, no work at all: called again and again, every short timeout. */
	wait_calls(&c, 4);
	/* Done: the first call that says so is the last until work comes (a submission wakes
	 * the worker, which handles it, then finds its rings empty again). A call already
	 * under way may still have read "pending": wait for one that read "done". */
	atomic_store(&c.pending, false);
	while (atomic_load(&c.done) == 0)
		usleep(1000);
	n = atomic_load(&c.calls);
	cr_assert_eq(slc_pool_try_submit(ps, 0, &m), 0);
	while (atomic_load(&c.g.handled) < 1)
		usleep(1000);
	wait_calls(&c, n + 1);
	slc_pool_set_destroy(ps);
}

/*
 * A stop that lands while the worker is between its check of the flag and its park (its
 * adaptive spin included, which a producer's wake-up has just armed) must still end the
 * park: with nothing pending the worker would otherwise sleep SLC_POOL_PARK_LONG_NS, 10 s.
 * Each round: a message wakes the worker, and destroy follows its idle call at once.
 */
Test(pool, destroy_ends_a_parked_worker_at_once, .timeout = 8)
{
	for (int round = 0; round < 200; round++) {
		struct idle_count c = {0};
		struct slc_msg m = {0};
		struct slc_pool_set *ps = idle_pool_start(&c);

		wait_calls(&c, 1);
		cr_assert_eq(slc_pool_try_submit(ps, 0, &m), 0);
		while (atomic_load(&c.calls) < 2)
			; /* no sleep: stop as soon as the idle call after the message is made */
		slc_pool_set_destroy(ps);
	}
}
