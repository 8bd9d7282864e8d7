/* SPDX-License-Identifier: MIT */
/* test_router.c: the three strategies: distribution, minimal key moves, strict per-key order. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../pool/pool_fixture.h"
#include "pool/pool.h"
#include "route/router.h"

#define ORDERED_MSGS (2000000u / SLC_TEST_SCALE_DIV)
#define ORDERED_KEYS 10000u

static uint32_t
mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

/* Handlers that only count, for the routing tests that do not run workers. */
static void
count_handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	(void)worker;
	(void)m;
	atomic_fetch_add((_Atomic uint64_t *)ctx, n);
}

Test(router, pure_matches_weights_and_interleaves)
{
	static _Atomic uint64_t handled;
	struct slc_pool_set *ps = pools_new(3, 1, count_handler, &handled);
	struct slc_route_shared sh;
	double w[3] = {7, 1, 2};
	struct slc_router *rt;
	uint64_t count[3] = {0};
	uint32_t run = 0, max_run[3] = {0}, prev = UINT32_MAX;
	uint16_t dest[1000];
	struct slc_msg m[1000] = {0};
	int err;

	cr_assert_eq(slc_route_shared_init(&sh, w, 3, 1), 0);
	rt = slc_router_create(SLC_ROUTE_PURE, ps, 0, &sh, &err);
	cr_assert_not_null(rt);
	for (int round = 0; round < 1000; round++) {
		slc_router_decide(rt, m, 1000, dest);
		for (int i = 0; i < 1000; i++) {
			count[dest[i]]++;
			run = dest[i] == prev ? run + 1 : 1;
			prev = dest[i];
			if (run > max_run[dest[i]])
				max_run[dest[i]] = run;
		}
	}
	for (int p = 0; p < 3; p++) {
		double share = count[p] / 1e6, want = w[p] / 10.0;

		cr_expect_lt(fabs(share - want), 0.01, "pool %d: %.4f of the messages, weight %.2f",
		             p, share, want);
	}
	/* Fair runs: pool A has 7 of 10, so after each other message at most ceil(7/3) = 3. */
	cr_expect_leq(max_run[0], 3, "runs of A up to %u", max_run[0]);
	cr_expect_eq(max_run[1], 1);
	cr_expect_eq(max_run[2], 1);
	slc_router_destroy(rt);
	slc_pool_set_destroy(ps);
}

Test(router, sticky_moves_only_the_weight_that_moved)
{
	static _Atomic uint64_t handled;
	struct slc_pool_set *ps = pools_new(4, 1, count_handler, &handled);
	struct slc_route_shared sh;
	double w0[4] = {25, 25, 25, 25}, w1[4] = {15, 35, 25, 25};
	enum { KEYS = 100000 };
	static struct slc_msg m[KEYS];
	static uint16_t before[KEYS], after[KEYS], again[KEYS];
	struct slc_router *rt;
	uint32_t moved = 0;
	int err;

	for (uint32_t k = 0; k < KEYS; k++)
		m[k].key_hash = mix32(k * 2654435761u + 1);
	cr_assert_eq(slc_route_shared_init(&sh, w0, 4, 1), 0);
	rt = slc_router_create(SLC_ROUTE_STICKY, ps, 0, &sh, &err);
	cr_assert_not_null(rt);
	slc_router_decide(rt, m, KEYS, before);
	slc_router_decide(rt, m, KEYS, again);
	cr_expect_arr_eq(before, again, sizeof(before), "same key, same pool while weights stay");

	cr_assert_eq(slc_route_publish(&sh, w1), 0); /* 10% of the weight moves from 0 to 1 */
	slc_router_decide(rt, m, KEYS, after);
	for (uint32_t k = 0; k < KEYS; k++) {
		if (before[k] == after[k])
			continue;
		moved++;
		cr_assert_eq(before[k], 0, "key %u left pool %u, whose weight did not shrink", k,
		             before[k]);
		cr_assert_eq(after[k], 1, "key %u went to pool %u, whose weight did not grow", k,
		             after[k]);
	}
	cr_expect_lt(fabs(moved / (double)KEYS - 0.10), 0.05, "%.3f of the keys moved for 0.10",
	             moved / (double)KEYS);
	slc_router_destroy(rt);
	slc_pool_set_destroy(ps);
}

/*
 * Dispatch against the tables, with the workers not running and small rings, so that
 * reservations stop at the end of the slot array, rings fill, and calls span several
 * internal steps: every message taken lands in its pool (its worker, for ordered), in
 * order; a call takes a prefix and stops only where the next message's ring is full
 * (pure: where every pool has a full ring); and pure's round robin moves exactly as
 * decide() says, message by message, except that a message whose pool had a full ring
 * lands in the first pool after it in the round robin that had room (pure_spill).
 */
#define DECIDE_RING 64u

/* Pools with a full ring of producer 0 (a bit each): the workers do not run here, so a
 * pool found full during a call is still full when it returns. */
static uint64_t
full_pools(struct slc_pool_set *ps, uint32_t npools, uint32_t workers)
{
	uint64_t m = 0;

	for (uint32_t g = 0; g < npools * workers; g++)
		if (slc_ring_spsc_count(slc_worker_ring(slc_pool_set_worker(ps, g), 0)) ==
		    DECIDE_RING)
			m |= 1ull << (g / workers);
	return m;
}

/* Pure: message s (round robin position pos) found in pool q, its scheduled pool being
 * sched[pos]: either q is that pool, or every pool from it up to q in the round robin
 * was full when the call that took s returned. */
static void
expect_spilled_right(const struct slc_route_shared *sh, uint32_t s, uint32_t pos, uint32_t q,
                     uint64_t full_after)
{
	for (uint32_t k = 0; k < SLC_ROUTE_WEIGHT_TOTAL; k++) {
		uint32_t p = sh->table.sched[(pos + k) % SLC_ROUTE_WEIGHT_TOTAL];

		if (p == q)
			return;
		cr_assert(full_after >> p & 1,
		          "message %u went to pool %u, passing pool %u, which had room", s, q, p);
	}
	cr_assert(false, "message %u: pool %u is not in the round robin", s, q);
}

static void
dispatch_matches_tables(enum slc_route_strategy strategy, uint32_t npools, uint32_t workers)
{
	struct slc_pool_cfg cfg = {
	        .npools = npools,
	        .workers = workers,
	        .producers = 2,
	        .ring_size = DECIDE_RING,
	        .handler = count_handler,
	};
	static _Atomic uint64_t handled;
	struct slc_route_shared *sh = malloc(sizeof(*sh));
	double w[4] = {7, 1, 2, 3};
	enum { ROUNDS = 3000, BATCH_MAX = 600 };
	static struct slc_msg batch[BATCH_MAX];
	static uint16_t dest[BATCH_MAX];
	uint32_t *want = calloc((size_t)ROUNDS * BATCH_MAX, sizeof(uint32_t)); /* seq -> dest */
	/* pure: seq -> round robin position, and the pools full after the call that took it */
	uint32_t *pos = calloc((size_t)ROUNDS * BATCH_MAX, sizeof(uint32_t));
	uint64_t *full_after = calloc((size_t)ROUNDS * BATCH_MAX, sizeof(uint64_t));
	uint32_t last_seq[SLC_WORKERS_MAX], x = 2463534242u, seq = 0, rr = 0, drained = 0;
	uint32_t spilled = 0;
	struct slc_router *rt, *shadow;
	struct slc_pool_set *ps;
	int err;

	cfg.handler_ctx = (void *)&handled;
	ps = slc_pool_set_create(&cfg, &err);
	cr_assert_not_null(ps, "pool set: %d", err);
	cr_assert(want && pos && full_after);
	cr_assert_eq(slc_route_shared_init(sh, w, npools, workers), 0);
	rt = slc_router_create(strategy, ps, 0, sh, &err);
	cr_assert_not_null(rt);
	/* The same strategy on the other producer's rings: decides, never dispatches. */
	shadow = slc_router_create(strategy, ps, 1, sh, &err);
	cr_assert_not_null(shadow);
	memset(last_seq, 0xff, sizeof(last_seq));
	for (uint32_t round = 0; round < ROUNDS; round++) {
		uint32_t n, took;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		n = 1 + x % (round % 7 == 0 ? BATCH_MAX : 40);
		for (uint32_t i = 0; i < n; i++)
			batch[i] = (struct slc_msg){.conn = seq + i, .key_hash = mix32(seq + i)};
		took = slc_router_dispatch(rt, batch, n);
		cr_assert_leq(took, n);
		slc_router_decide(shadow, batch, took, dest);
		for (uint32_t i = 0; i < took; i++) {
			uint32_t h = batch[i].key_hash;

			switch (strategy) {
			case SLC_ROUTE_PURE:
				cr_assert_eq(dest[i], sh->table.sched[rr % SLC_ROUTE_WEIGHT_TOTAL]);
				want[seq + i] = dest[i];
				pos[seq + i] = rr++ % SLC_ROUTE_WEIGHT_TOTAL;
				full_after[seq + i] = full_pools(ps, npools, workers);
				break;
			case SLC_ROUTE_STICKY:
				want[seq + i] = sh->table.slot_pool[h % SLC_ROUTE_SLOTS];
				break;
			case SLC_ROUTE_ORDERED:
				want[seq + i] = sh->table.shard_worker[h % SLC_ROUTE_SHARDS];
				break;
			}
		}
		if (took < n && strategy == SLC_ROUTE_PURE) {
			/* Refused only when no pool had room. */
			cr_assert_eq(full_pools(ps, npools, workers), (1ull << npools) - 1,
			             "round %u: stopped at %u of %u with a pool not full", round,
			             took, n);
		} else if (took < n) {
			/* Refused only for a full ring: the one the next message goes to. */
			uint32_t h = batch[took].key_hash, p, full = 0;

			p = strategy == SLC_ROUTE_PURE
			            ? sh->table.sched[rr % SLC_ROUTE_WEIGHT_TOTAL]
			    : strategy == SLC_ROUTE_STICKY
			            ? sh->table.slot_pool[h % SLC_ROUTE_SLOTS]
			            : sh->table.shard_worker[h % SLC_ROUTE_SHARDS];
			for (uint32_t g = 0; g < npools * workers; g++) {
				struct slc_ring_spsc *r =
				        slc_worker_ring(slc_pool_set_worker(ps, g), 0);
				bool mine =
				        strategy == SLC_ROUTE_ORDERED ? g == p : g / workers == p;

				if (mine && slc_ring_spsc_count(r) == DECIDE_RING)
					full++;
			}
			cr_assert_neq(full, 0, "round %u: stopped at %u of %u with room for it",
			              round, took, n);
		}
		seq += took;
		/* Drain some of every ring: each message where it belongs, in order. */
		for (uint32_t g = 0; g < npools * workers; g++) {
			struct slc_ring_spsc *r = slc_worker_ring(slc_pool_set_worker(ps, g), 0);
			const struct slc_msg *m;
			uint32_t k =
			        slc_ring_spsc_dequeue_peek(r, 1 + (x >> 8) % 48, (const void **)&m);

			for (uint32_t i = 0; i < k; i++) {
				uint32_t s = m[i].conn;

				cr_assert_lt(s, seq);
				if (strategy == SLC_ROUTE_PURE && g / workers != want[s]) {
					expect_spilled_right(sh, s, pos[s], g / workers,
					                     full_after[s]);
					spilled++;
				} else {
					cr_assert_eq(
					        strategy == SLC_ROUTE_ORDERED ? g : g / workers,
					        want[s], "message %u in worker %u's ring", s, g);
				}
				cr_assert(last_seq[g] == UINT32_MAX || s > last_seq[g],
				          "worker %u: %u after %u", g, s, last_seq[g]);
				last_seq[g] = s;
			}
			slc_ring_spsc_dequeue_release(r, k);
			drained += k;
		}
	}
	for (uint32_t g = 0; g < npools * workers; g++)
		drained += slc_ring_spsc_count(slc_worker_ring(slc_pool_set_worker(ps, g), 0));
	cr_expect_eq(drained, seq, "every message taken is in a ring");
	cr_expect_gt(seq, ROUNDS * 20u, "the rings did not stay full");
	if (strategy == SLC_ROUTE_PURE)
		cr_expect_gt(spilled, 0, "no message spilled: the spill path was not tested");
	slc_router_destroy(shadow);
	slc_router_destroy(rt);
	slc_pool_set_destroy(ps);
	free(want);
	free(pos);
	free(full_after);
	free(sh);
}

/*
 * Pure with the workers stopped: a pool whose ring is full no longer stops the others.
 * Weights 7,1,2 send pool 0 seven messages in ten, so it fills first; the rest of the
 * batch spills to pools 1 and 2 until every ring is full, and only then does dispatch
 * refuse. Sticky, with the same rings, still stops at the first full ring its keys need.
 */
Test(router, pure_spills_past_a_full_pool_until_all_are_full)
{
	static _Atomic uint64_t handled;
	struct slc_pool_cfg cfg = {
	        .npools = 3,
	        .workers = 1,
	        .producers = 1,
	        .ring_size = DECIDE_RING,
	        .handler = count_handler,
	        .handler_ctx = (void *)&handled,
	};
	struct slc_route_shared *sh = malloc(sizeof(*sh));
	double w[3] = {7, 1, 2};
	static struct slc_msg m[1000];
	struct slc_router *pure, *sticky;
	struct slc_pool_set *ps;
	int err;

	for (uint32_t i = 0; i < 1000; i++)
		m[i].key_hash = mix32(i);
	ps = slc_pool_set_create(&cfg, &err);
	cr_assert_not_null(ps);
	cr_assert_eq(slc_route_shared_init(sh, w, 3, 1), 0);
	pure = slc_router_create(SLC_ROUTE_PURE, ps, 0, sh, &err);
	cr_assert_not_null(pure);
	cr_expect_eq(slc_router_dispatch(pure, m, 1000), 3 * DECIDE_RING,
	             "pure takes messages until every ring is full");
	for (uint32_t p = 0; p < 3; p++)
		cr_expect_eq(slc_ring_spsc_count(slc_worker_ring(slc_pool_set_worker(ps, p), 0)),
		             DECIDE_RING, "pool %u's ring", p);
	cr_expect_eq(slc_router_dispatch(pure, m, 1000), 0, "all full: nothing taken");
	slc_router_destroy(pure);
	slc_pool_set_destroy(ps);

	ps = slc_pool_set_create(&cfg, &err);
	cr_assert_not_null(ps);
	sticky = slc_router_create(SLC_ROUTE_STICKY, ps, 0, sh, &err);
	cr_assert_not_null(sticky);
	cr_expect_lt(slc_router_dispatch(sticky, m, 1000), 3 * DECIDE_RING,
	             "sticky keeps every key on its pool: it stops at the first full ring");
	slc_router_destroy(sticky);
	slc_pool_set_destroy(ps);
	free(sh);
}

Test(router, pure_dispatch_follows_the_round_robin)
{
	dispatch_matches_tables(SLC_ROUTE_PURE, 3, 1);
	dispatch_matches_tables(SLC_ROUTE_PURE, 4, 2);
}

Test(router, sticky_dispatch_follows_the_slots)
{
	dispatch_matches_tables(SLC_ROUTE_STICKY, 3, 1);
	dispatch_matches_tables(SLC_ROUTE_STICKY, 4, 2);
}

Test(router, ordered_dispatch_follows_the_shards)
{
	dispatch_matches_tables(SLC_ROUTE_ORDERED, 2, 2);
	dispatch_matches_tables(SLC_ROUTE_ORDERED, 3, 3);
}

/*
 * Ordered: keys carry sequence numbers; every handler checks that each key's numbers arrive
 * strictly increasing with none missing, while another thread republishes the weights
 * every millisecond so that shards keep moving between workers and pools. The per-key
 * state is plain memory, shared by all workers: the fence is what makes that safe, and the
 * TSan build checks it.
 */
struct ordered_ctx {
	uint32_t next_seq[ORDERED_KEYS];
	_Atomic uint64_t handled;
	_Atomic uint64_t bad;
	_Atomic bool stop_flipper;
	struct slc_route_shared *sh;
	_Atomic uint64_t flips;
};

static void
ordered_handler(void *vctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	struct ordered_ctx *c = vctx;

	(void)worker;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t key = m[i].conn, seq = m[i].len;

		if (c->next_seq[key] != seq)
			atomic_fetch_add(&c->bad, 1);
		c->next_seq[key] = seq + 1;
	}
	atomic_fetch_add(&c->handled, n);
}

static void *
flipper(void *arg)
{
	struct ordered_ctx *c = arg;
	double a[2] = {80, 20}, b[2] = {20, 80};

	for (uint64_t i = 0; !atomic_load(&c->stop_flipper); i++) {
		slc_route_publish(c->sh, i % 2 ? a : b);
		atomic_fetch_add(&c->flips, 1);
		usleep(1000);
	}
	return NULL;
}

Test(router, ordered_keeps_per_key_order_while_shards_move, .timeout = 300)
{
	struct ordered_ctx *c = calloc(1, sizeof(*c));
	struct slc_pool_set *ps = pools_new(2, 2, ordered_handler, c);
	struct slc_route_shared sh;
	double w[2] = {50, 50};
	uint32_t *seq = calloc(ORDERED_KEYS, sizeof(uint32_t)), x = 88172645u;
	struct slc_router *rt;
	struct slc_msg batch[64];
	pthread_t tid;
	uint64_t sent = 0;
	int err;

	cr_assert_eq(slc_route_shared_init(&sh, w, 2, 2), 0);
	c->sh = &sh;
	rt = slc_router_create(SLC_ROUTE_ORDERED, ps, 0, &sh, &err);
	cr_assert_not_null(rt);
	cr_assert_eq(slc_pool_set_start(ps), 0);
	pthread_create(&tid, NULL, flipper, c);
	/* At least ORDERED_MSGS messages, and long enough for 20 moves of the shards. */
	while (sent < ORDERED_MSGS || atomic_load(&c->flips) < 20) {
		uint32_t n = 0, off = 0;

		for (; n < 64; n++) {
			uint32_t key;

			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			key = x % ORDERED_KEYS;
			batch[n] = (struct slc_msg){
			        .conn = key, .len = seq[key]++, .key_hash = mix32(key)};
		}
		while (off < n) {
			uint32_t took = slc_router_dispatch(rt, batch + off, n - off);

			off += took;
			if (took == 0)
				sched_yield(); /* a ring is full or a shard is draining */
		}
		sent += n;
	}
	while (atomic_load(&c->handled) < sent)
		usleep(1000);
	atomic_store(&c->stop_flipper, true);
	pthread_join(tid, NULL);
	slc_pool_set_drain_stop(ps);
	cr_expect_eq(atomic_load(&c->bad), 0, "per-key order broken %llu times",
	             (unsigned long long)atomic_load(&c->bad));
	for (uint32_t k = 0; k < ORDERED_KEYS; k++)
		cr_assert_eq(c->next_seq[k], seq[k], "key %u: handled %u of %u", k, c->next_seq[k],
		             seq[k]);
	cr_expect_geq(atomic_load(&c->flips), 20, "the shards really moved");
	cr_expect_geq(sent, ORDERED_MSGS);
	slc_router_destroy(rt);
	slc_pool_set_destroy(ps);
	free(seq);
	free(c);
}

Test(router, tables_refuse_bad_weights)
{
	struct slc_route_table *t = malloc(sizeof(*t));
	double neg[2] = {-1, 2}, zero[2] = {0, 0}, ok[2] = {0, 5};

	cr_expect_eq(slc_route_table_build(t, NULL, neg, 2, 1), -EINVAL);
	cr_expect_eq(slc_route_table_build(t, NULL, zero, 2, 1), -EINVAL);
	cr_expect_eq(slc_route_table_build(t, NULL, ok, 0, 1), -EINVAL);
	cr_assert_eq(slc_route_table_build(t, NULL, ok, 2, 1), 0);
	cr_expect_eq(t->weight[0], 1, "a pool keeps the floor of one unit");
	cr_expect_eq(t->weight[0] + t->weight[1], SLC_ROUTE_WEIGHT_TOTAL);
	free(t);
}
