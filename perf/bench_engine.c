/* SPDX-License-Identifier: MIT */
/* bench_engine.c: route-and-submit throughput of the engine without sockets, per strategy. */
/*
 * What it measures: one producer thread (a reactor's stand-in) hands batches of --batch
 * 32-byte descriptors (struct slc_msg, hashes precomputed) to --pools x --workers workers
 * whose handler only counts them. Three designs move the same descriptors, with the same
 * threads on the same CPUs, in the same run:
 *
 *   ours    slc_router_dispatch into the pool set's per-worker SPSC rings (engine/).
 *   mutex   the baseline: the "pool plus channel" design, one bounded queue per worker
 *           (adaptive pthread mutex + two condition variables), routed by the same tables and rules
 *           as ours (pure: the smooth round robin, then the least loaded worker of the pool;
 *           sticky: the slot's pool, then the least loaded worker; ordered: the shard's
 *           worker). Configured at its best: the producer groups a batch by destination and
 *           takes each queue's lock once per batch; a worker takes up to 256 under one
 *           lock and handles them after unlocking; a condition variable is signalled only
 *           when the other side sleeps on it.
 *   limit   the bare transfer, no routing: each batch goes whole to the next worker's SPSC
 *           ring (round robin); workers peek, count, release. What a ring hand-off of these
 *           descriptors costs here; no design that routes can beat it.
 *
 * How it times: the producer sends for --seconds (the clock is read once per batch, in every
 * design alike); the time runs from the first send until the workers have handled every
 * message sent. Set-up and thread start are outside it. Each round measures limit once and,
 * per strategy, ours and mutex (in alternating order from round to round), so that a round's
 * figures are taken minutes apart at most; --runs rounds.
 *
 * Columns (--csv; one row per strategy):
 *   strategy, pools, workers, batch, runs, seconds   the configuration
 *   msgs_per_s            ours, median over the runs
 *   baseline_msgs_per_s   mutex, median over the runs
 *   ratio                 median over the runs of ours / mutex of the same round
 *   limit_msgs_per_s      limit, median over the runs (the same for every strategy)
 *   pct_of_limit          median over the runs of 100 x ours / limit of the same round
 *
 *   bench_engine                          # 2 pools x 1 worker, all strategies, 5 runs of 3 s
 *   bench_engine --csv --runs 7
 *   bench_engine --strategy pure --pools 4 --workers 2 --batch 64
 *   bench_engine --producer-cpu 0 --worker-cpus 1,0
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_opts.h"
#include "bench_util.h"
#include "numa.h"
#include "pool/pool.h"
#include "route/router.h"

#define KEYS         65536u
#define WORKER_BURST 256u /* what a pool worker takes per pass (pool.c's BURST) */
#define RUNS_MAX     101
#define ALIGN        128 /* queues and counters on their own line pairs, as the rings are */

enum eng_design {
	ENG_OURS,
	ENG_MUTEX,
	ENG_LIMIT,
};

struct eng_opts {
	int64_t runs;
	int64_t seconds;
	int64_t pools;
	int64_t workers;
	int64_t batch;
	int64_t ring;
	int64_t producer_cpu;
	const char *worker_cpus;
	const char *strategy;
	bool csv;
	bool help;
	/* derived */
	int worker_cpu[SLC_WORKERS_MAX]; /* per global worker, -1: not pinned */
	uint32_t nworkers;
};

static const struct bench_opt eng_opt_table[] = {
        {"--runs", BENCH_OPT_INT, 5, 1, RUNS_MAX, NULL, "N",
         "rounds; each measures every design once; medians are reported",
         offsetof(struct eng_opts, runs)},
        {"--seconds", BENCH_OPT_INT, 3, 1, 600, NULL, "S",
         "the producer sends for S seconds per measurement (figures to quote: 3 or more)",
         offsetof(struct eng_opts, seconds)},
        {"--pools", BENCH_OPT_INT, 2, 1, SLC_POOLS_MAX, NULL, "P", "pools",
         offsetof(struct eng_opts, pools)},
        {"--workers", BENCH_OPT_INT, 1, 1, SLC_WORKERS_MAX, NULL, "W", "workers per pool",
         offsetof(struct eng_opts, workers)},
        {"--batch", BENCH_OPT_INT, 256, 1, 4096, NULL, "B",
         "messages the producer hands over per call", offsetof(struct eng_opts, batch)},
        {"--ring", BENCH_OPT_INT, 4096, 2, 1 << 20, NULL, "SLOTS",
         "slots per worker ring and per mutex queue, a power of two",
         offsetof(struct eng_opts, ring)},
        {"--producer-cpu", BENCH_OPT_INT, 0, -1, CPU_SETSIZE - 1, NULL, "C",
         "CPU of the producer; -1: not pinned", offsetof(struct eng_opts, producer_cpu)},
        {"--worker-cpus", BENCH_OPT_STR, 0, 0, 0, "1,1", "C,C,...",
         "CPUs of the workers, reused in turn; -1: not pinned",
         offsetof(struct eng_opts, worker_cpus)},
        {"--strategy", BENCH_OPT_STR, 0, 0, 0, "all", "S", "pure, sticky, ordered or all",
         offsetof(struct eng_opts, strategy)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "print a CSV header, then one row per strategy", offsetof(struct eng_opts, csv)},
        {"--help", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "print this help",
         offsetof(struct eng_opts, help)},
};

#define ENG_NOPTS (sizeof(eng_opt_table) / sizeof(eng_opt_table[0]))

static const char *const strategy_names[] = {"pure", "sticky", "ordered"};

/* Handled messages, all designs, all workers: the run ends when it reaches what was sent. */
static struct {
	alignas(ALIGN) _Atomic uint64_t n;
} handled;

/* The one handler of every design: counts, as the engine's null sink would. */
static inline void
count_handled(uint32_t n)
{
	atomic_fetch_add_explicit(&handled.n, n, memory_order_relaxed);
}

static void
pool_handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	(void)ctx;
	(void)worker;
	(void)m;
	count_handled(n);
}

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

static void
die(const char *what, int err)
{
	fprintf(stderr, "bench_engine: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* What every design's producer loop shares: the source messages and the clock. */
struct eng_feed {
	const struct slc_msg *src;
	uint32_t batch;
	uint64_t sent;
	uint64_t deadline_ns;
};

/* The next batch's first message, or NULL once --seconds have passed. */
static inline const struct slc_msg *
feed_next(struct eng_feed *f)
{
	if (bench_now_ns() >= f->deadline_ns)
		return NULL;
	return f->src + f->sent % (KEYS - f->batch);
}

static void
wait_handled(uint64_t sent)
{
	while (atomic_load_explicit(&handled.n, memory_order_relaxed) < sent)
		slc_ring_cpu_relax();
}

/* ---- ours: the router and the pool set ------------------------------------------------ */

static double
run_ours(const struct eng_opts *o, enum slc_route_strategy strategy, const struct slc_msg *src)
{
	struct slc_pool_cfg pc = {
	        .npools = (uint32_t)o->pools,
	        .workers = (uint32_t)o->workers,
	        .producers = 1,
	        .ring_size = (uint32_t)o->ring,
	        .handler = pool_handler,
	        .worker_cpu = o->worker_cpu,
	};
	struct eng_feed f = {.src = src, .batch = (uint32_t)o->batch};
	struct slc_route_shared *sh = malloc(sizeof(*sh));
	double w[SLC_POOLS_MAX];
	struct slc_pool_set *ps;
	struct slc_router *rt;
	const struct slc_msg *m;
	uint64_t t0;
	int err = -ENOMEM;

	for (uint32_t p = 0; p < o->pools; p++)
		w[p] = 1;
	ps = slc_pool_set_create(&pc, &err);
	if (ps == NULL || sh == NULL)
		die("pool set", err);
	err = slc_route_shared_init(sh, w, (uint32_t)o->pools, (uint32_t)o->workers);
	if (err != 0)
		die("route table", err);
	rt = slc_router_create(strategy, ps, 0, sh, &err);
	if (rt == NULL)
		die("router", err);
	atomic_store(&handled.n, 0);
	err = slc_pool_set_start(ps);
	if (err != 0)
		die("pool start", err);

	t0 = bench_now_ns();
	f.deadline_ns = t0 + (uint64_t)o->seconds * 1000000000u;
	while ((m = feed_next(&f)) != NULL) {
		for (uint32_t off = 0; off < f.batch;) {
			/* dispatch takes a non-const array but only reads it */
			uint32_t took =
			        slc_router_dispatch(rt, (struct slc_msg *)m + off, f.batch - off);

			off += took;
			if (took == 0)
				sched_yield(); /* full: let a worker on this CPU run */
		}
		f.sent += f.batch;
	}
	wait_handled(f.sent);
	t0 = bench_now_ns() - t0;

	slc_pool_set_drain_stop(ps);
	slc_router_destroy(rt);
	slc_pool_set_destroy(ps);
	free(sh);
	return (double)f.sent * 1e9 / (double)t0;
}

/* ---- mutex: one bounded queue per worker, mutex + condition variables ------------------ */

/*
 * A bounded FIFO of descriptors. head and tail run free (masked on access); count is
 * tail - head, kept also in `level` so that the producer's least-loaded choice reads it
 * without taking every candidate's lock (a relaxed hint, as the router's ring_load is).
 */
struct mq {
	alignas(ALIGN) pthread_mutex_t mu;
	pthread_cond_t nonempty;
	pthread_cond_t nonfull;
	uint32_t head, tail, mask;
	bool cons_waiting; /* the worker sleeps on nonempty */
	bool prod_waiting; /* the producer sleeps on nonfull */
	bool stop;
	struct slc_msg *slots;
	alignas(ALIGN) _Atomic uint32_t level;
	pthread_t thread;
	int cpu;
	uint32_t index;
	/* Called through a pointer, as the pool calls its handler, on the copied batch. */
	slc_pool_handler_fn handler;
};

static void *
mq_worker(void *arg)
{
	struct mq *q = arg;
	struct slc_msg buf[WORKER_BURST];

	pthread_mutex_lock(&q->mu);
	for (;;) {
		uint32_t n;

		while (q->tail == q->head && !q->stop) {
			q->cons_waiting = true;
			pthread_cond_wait(&q->nonempty, &q->mu);
			q->cons_waiting = false;
		}
		n = q->tail - q->head;
		if (n == 0)
			break; /* stop, and nothing left */
		if (n > WORKER_BURST)
			n = WORKER_BURST;
		for (uint32_t i = 0; i < n; i++)
			buf[i] = q->slots[(q->head + i) & q->mask];
		q->head += n;
		atomic_store_explicit(&q->level, q->tail - q->head, memory_order_relaxed);
		if (q->prod_waiting)
			pthread_cond_signal(&q->nonfull);
		/* Handled outside the lock, as a channel's receiver would, so that the producer
		 * is never held up by the handler. */
		pthread_mutex_unlock(&q->mu);
		q->handler(NULL, q->index, buf, n);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Puts msgs[0..n) into q, sleeping while it is full. */
static void
mq_put(struct mq *q, const struct slc_msg *msgs, uint32_t n)
{
	uint32_t cap = q->mask + 1;

	pthread_mutex_lock(&q->mu);
	while (n != 0) {
		uint32_t room = cap - (q->tail - q->head), k;

		if (room == 0) {
			q->prod_waiting = true;
			pthread_cond_wait(&q->nonfull, &q->mu);
			q->prod_waiting = false;
			continue;
		}
		k = n < room ? n : room;
		for (uint32_t i = 0; i < k; i++)
			q->slots[(q->tail + i) & q->mask] = msgs[i];
		q->tail += k;
		atomic_store_explicit(&q->level, q->tail - q->head, memory_order_relaxed);
		msgs += k;
		n -= k;
		if (q->cons_waiting)
			pthread_cond_signal(&q->nonempty);
	}
	pthread_mutex_unlock(&q->mu);
}

/* The least loaded worker of pool p, by the queues' levels (pick_worker in router.c). */
static uint32_t
mq_pick(struct mq *q, uint32_t p, uint32_t W)
{
	uint32_t best = p * W, best_q = atomic_load_explicit(&q[best].level, memory_order_relaxed);

	for (uint32_t w = 1; w < W; w++) {
		uint32_t l = atomic_load_explicit(&q[p * W + w].level, memory_order_relaxed);

		if (l < best_q) {
			best_q = l;
			best = p * W + w;
		}
	}
	return best;
}

static double
run_mutex(const struct eng_opts *o, enum slc_route_strategy strategy, const struct slc_msg *src)
{
	uint32_t nw = o->nworkers, W = (uint32_t)o->workers, B = (uint32_t)o->batch;
	struct eng_feed f = {.src = src, .batch = B};
	struct slc_route_shared *sh = malloc(sizeof(*sh));
	struct mq *q = aligned_alloc(ALIGN, nw * sizeof(*q));
	/* Per batch: each destination's messages, staged in order, then put under one lock. */
	struct slc_msg *stage = malloc((size_t)nw * B * sizeof(*stage));
	uint32_t *nstage = calloc(nw, sizeof(*nstage));
	uint32_t lane_of_pool[SLC_POOLS_MAX];
	uint16_t touched[SLC_WORKERS_MAX];
	pthread_mutexattr_t ma;
	const struct slc_msg *m;
	double w[SLC_POOLS_MAX];
	uint32_t rr = 0;
	uint64_t t0;
	int err;

	if (sh == NULL || q == NULL || stage == NULL || nstage == NULL)
		die("mutex baseline", -ENOMEM);
	for (uint32_t p = 0; p < o->pools; p++)
		w[p] = 1;
	/* The router's own tables: the same pools, slots and shards for the same keys. */
	err = slc_route_shared_init(sh, w, (uint32_t)o->pools, W);
	if (err != 0)
		die("route table", err);
	memset(q, 0, nw * sizeof(*q));
	/* Adaptive: a contended lock spins a little before sleeping, which suits critical
	 * sections of one batch copy (glibc's PTHREAD_MUTEX_ADAPTIVE_NP; it was no slower than
	 * the default mutex in short trials here). */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	for (uint32_t g = 0; g < nw; g++) {
		pthread_mutex_init(&q[g].mu, &ma);
		pthread_cond_init(&q[g].nonempty, NULL);
		pthread_cond_init(&q[g].nonfull, NULL);
		q[g].mask = (uint32_t)o->ring - 1;
		q[g].slots = calloc((size_t)o->ring, sizeof(struct slc_msg));
		if (q[g].slots == NULL)
			die("mutex baseline", -ENOMEM);
		q[g].cpu = o->worker_cpu[g];
		q[g].index = g;
		q[g].handler = pool_handler;
	}
	pthread_mutexattr_destroy(&ma);
	atomic_store(&handled.n, 0);
	for (uint32_t g = 0; g < nw; g++) {
		err = bench_thread_create(&q[g].thread, q[g].cpu, mq_worker, &q[g]);
		if (err != 0)
			die("pthread_create", err);
	}

	t0 = bench_now_ns();
	f.deadline_ns = t0 + (uint64_t)o->seconds * 1000000000u;
	while ((m = feed_next(&f)) != NULL) {
		const struct slc_route_table *t = &sh->table;
		uint32_t ntouched = 0;

		/* As router_refresh: one acquire load per call; the table never changes here. */
		(void)atomic_load_explicit(&sh->gen, memory_order_acquire);
		for (uint32_t p = 0; p < o->pools; p++)
			lane_of_pool[p] = UINT32_MAX;
		for (uint32_t i = 0; i < B; i++) {
			uint32_t g;

			if (strategy == SLC_ROUTE_ORDERED) {
				g = t->shard_worker[m[i].key_hash & (SLC_ROUTE_SHARDS - 1)];
			} else {
				uint32_t p = strategy == SLC_ROUTE_PURE
				                     ? t->sched[rr++ & (SLC_ROUTE_WEIGHT_TOTAL - 1)]
				                     : t->slot_pool[m[i].key_hash &
				                                    (SLC_ROUTE_SLOTS - 1)];

				/* The worker is chosen once per pool per batch, as the router
				 * chooses once per pool per dispatch step. */
				if (lane_of_pool[p] == UINT32_MAX)
					lane_of_pool[p] = W == 1 ? p : mq_pick(q, p, W);
				g = lane_of_pool[p];
			}
			if (nstage[g] == 0)
				touched[ntouched++] = (uint16_t)g;
			stage[(size_t)g * B + nstage[g]++] = m[i];
		}
		for (uint32_t k = 0; k < ntouched; k++) {
			uint32_t g = touched[k];

			mq_put(&q[g], stage + (size_t)g * B, nstage[g]);
			nstage[g] = 0;
		}
		f.sent += B;
	}
	wait_handled(f.sent);
	t0 = bench_now_ns() - t0;

	for (uint32_t g = 0; g < nw; g++) {
		pthread_mutex_lock(&q[g].mu);
		q[g].stop = true;
		pthread_cond_signal(&q[g].nonempty);
		pthread_mutex_unlock(&q[g].mu);
		pthread_join(q[g].thread, NULL);
		pthread_cond_destroy(&q[g].nonempty);
		pthread_cond_destroy(&q[g].nonfull);
		pthread_mutex_destroy(&q[g].mu);
		free(q[g].slots);
	}
	free(q);
	free(stage);
	free(nstage);
	free(sh);
	return (double)f.sent * 1e9 / (double)t0;
}

/* ---- limit: the bare ring hand-off, no routing ----------------------------------------- */

struct lim_worker {
	alignas(ALIGN) struct slc_ring_spsc *ring;
	_Atomic bool *stop;
	pthread_t thread;
	uint32_t index;
	slc_pool_handler_fn handler; /* through a pointer, as the pool calls it */
};

static void *
lim_worker_main(void *arg)
{
	struct lim_worker *lw = arg;

	for (;;) {
		const void *slots;
		uint32_t n = slc_ring_spsc_dequeue_peek(lw->ring, WORKER_BURST, &slots);

		if (n != 0) {
			lw->handler(NULL, lw->index, slots, n);
			slc_ring_spsc_dequeue_release(lw->ring, n);
			continue;
		}
		/* Acquire: pairs with the release store of stop after every message was
		 * handled, so nothing is left behind. */
		if (atomic_load_explicit(lw->stop, memory_order_acquire))
			break;
		/* As a pool worker does between polls: workers may share a CPU. */
		sched_yield();
	}
	return NULL;
}

static double
run_limit(const struct eng_opts *o, const struct slc_msg *src)
{
	uint32_t nw = o->nworkers, next = 0;
	struct eng_feed f = {.src = src, .batch = (uint32_t)o->batch};
	struct lim_worker *lw = aligned_alloc(ALIGN, nw * sizeof(*lw));
	size_t rsize = slc_ring_spsc_memsize((uint32_t)o->ring, sizeof(struct slc_msg));
	_Atomic bool stop = false;
	const struct slc_msg *m;
	uint64_t t0;
	int err;

	if (lw == NULL)
		die("limit", -ENOMEM);
	for (uint32_t g = 0; g < nw; g++) {
		/* memsize is a multiple of SLC_RING_ALIGN, as aligned_alloc wants */
		lw[g].ring = aligned_alloc(SLC_RING_ALIGN, rsize);
		lw[g].stop = &stop;
		lw[g].index = g;
		lw[g].handler = pool_handler;
		if (lw[g].ring == NULL)
			die("limit", -ENOMEM);
		err = slc_ring_spsc_init(lw[g].ring, (uint32_t)o->ring, sizeof(struct slc_msg));
		if (err != 0)
			die("limit ring", err);
	}
	atomic_store(&handled.n, 0);
	for (uint32_t g = 0; g < nw; g++) {
		err = bench_thread_create(&lw[g].thread, o->worker_cpu[g], lim_worker_main, &lw[g]);
		if (err != 0)
			die("pthread_create", err);
	}

	t0 = bench_now_ns();
	f.deadline_ns = t0 + (uint64_t)o->seconds * 1000000000u;
	while ((m = feed_next(&f)) != NULL) {
		struct slc_ring_spsc *r = lw[next].ring;

		for (uint32_t off = 0; off < f.batch;) {
			uint32_t took = slc_ring_spsc_enqueue_burst(r, m + off, f.batch - off);

			off += took;
			if (took == 0)
				sched_yield(); /* as ours: let a worker on this CPU run */
		}
		next = next + 1 == nw ? 0 : next + 1;
		f.sent += f.batch;
	}
	wait_handled(f.sent);
	t0 = bench_now_ns() - t0;

	atomic_store_explicit(&stop, true, memory_order_release);
	for (uint32_t g = 0; g < nw; g++) {
		pthread_join(lw[g].thread, NULL);
		free(lw[g].ring);
	}
	free(lw);
	return (double)f.sent * 1e9 / (double)t0;
}

/* ---- main ------------------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_engine [options]\n"
	           "Route-and-submit msgs/s: ours against a mutex+condvar pool and the bare ring "
	           "hand-off; see the top of bench_engine.c.\n\n");
	bench_opt_table_print(f, eng_opt_table, ENG_NOPTS);
}

/* Fills o from argv. Returns 0 or -EINVAL (with a message). */
static int
eng_opts_parse(struct eng_opts *o, int argc, char **argv)
{
	const char *s;
	int cpus[SLC_WORKERS_MAX];
	uint32_t ncpus = 0;

	memset(o, 0, sizeof(*o));
	if (bench_opt_table_parse(o, eng_opt_table, ENG_NOPTS, "bench_engine", argc, argv) != 0)
		return -EINVAL;
	if (o->help)
		return 0;
	if ((o->ring & (o->ring - 1)) != 0 || o->batch >= o->ring || o->batch >= KEYS) {
		fprintf(stderr, "bench_engine: --ring must be a power of two above --batch\n");
		return -EINVAL;
	}
	if (o->pools * o->workers > SLC_WORKERS_MAX) {
		fprintf(stderr, "bench_engine: at most %u workers in all\n", SLC_WORKERS_MAX);
		return -EINVAL;
	}
	if (strcmp(o->strategy, "all") != 0 && strcmp(o->strategy, "pure") != 0 &&
	    strcmp(o->strategy, "sticky") != 0 && strcmp(o->strategy, "ordered") != 0) {
		fprintf(stderr, "bench_engine: --strategy is pure, sticky, ordered or all\n");
		return -EINVAL;
	}
	for (s = o->worker_cpus; *s != '\0' && ncpus < SLC_WORKERS_MAX;) {
		char *end;
		long c = strtol(s, &end, 10);

		if (end == s || (*end != ',' && *end != '\0') || c < -1 || c >= CPU_SETSIZE ||
		    bench_cpu_check("bench_engine", "--worker-cpus", c) != 0) {
			fprintf(stderr, "bench_engine: --worker-cpus: bad list '%s'\n",
			        o->worker_cpus);
			return -EINVAL;
		}
		cpus[ncpus++] = (int)c;
		s = *end == ',' ? end + 1 : end;
	}
	if (ncpus == 0) {
		fprintf(stderr, "bench_engine: --worker-cpus: empty list\n");
		return -EINVAL;
	}
	if (bench_cpu_check("bench_engine", "--producer-cpu", o->producer_cpu) != 0)
		return -EINVAL;
	o->nworkers = (uint32_t)(o->pools * o->workers);
	for (uint32_t g = 0; g < o->nworkers; g++)
		o->worker_cpu[g] = cpus[g % ncpus];
	return 0;
}

struct eng_row {
	double ours[RUNS_MAX], mutex[RUNS_MAX], ratio[RUNS_MAX], pct[RUNS_MAX];
};

int
main(int argc, char **argv)
{
	static struct eng_row rows[3];
	static double limit[RUNS_MAX];
	struct eng_opts o;
	struct slc_msg *src;
	bool on[3];

	if (eng_opts_parse(&o, argc, argv) != 0) {
		usage(stderr);
		return 2;
	}
	if (o.help) {
		usage(stdout);
		return 0;
	}
	for (int s = 0; s < 3; s++)
		on[s] = strcmp(o.strategy, "all") == 0 ||
		        strcmp(o.strategy, strategy_names[s]) == 0;
	src = calloc(KEYS, sizeof(*src));
	if (src == NULL)
		die("source messages", -ENOMEM);
	for (uint32_t k = 0; k < KEYS; k++)
		src[k] = (struct slc_msg){.len = 100, .key_hash = mix32(k), .conn = k};
	if (o.producer_cpu >= 0 && slc_numa_pin_cpu((int)o.producer_cpu) != 0)
		die("pinning the producer", EINVAL);

	for (int64_t r = 0; r < o.runs; r++) {
		limit[r] = run_limit(&o, src);
		for (int s = 0; s < 3; s++) {
			struct eng_row *row = &rows[s];

			if (!on[s])
				continue;
			/* Alternate the order so that neither design always runs on a machine
			 * just warmed (or disturbed) by the other. */
			if (r % 2 == 0) {
				row->ours[r] = run_ours(&o, (enum slc_route_strategy)s, src);
				row->mutex[r] = run_mutex(&o, (enum slc_route_strategy)s, src);
			} else {
				row->mutex[r] = run_mutex(&o, (enum slc_route_strategy)s, src);
				row->ours[r] = run_ours(&o, (enum slc_route_strategy)s, src);
			}
			row->ratio[r] = row->ours[r] / row->mutex[r];
			row->pct[r] = 100 * row->ours[r] / limit[r];
		}
		if (!o.csv)
			fprintf(stderr, "bench_engine: round %" PRId64 " of %" PRId64 " done\n",
			        r + 1, o.runs);
	}

	double lim = bench_median(limit, (size_t)o.runs);

	if (o.csv)
		puts("strategy,pools,workers,batch,runs,seconds,msgs_per_s,baseline_msgs_per_s,"
		     "ratio,limit_msgs_per_s,pct_of_limit");
	else
		printf("# producer on CPU %" PRId64 ", workers on %s; %" PRId64 " runs of %" PRId64
		       " s; medians; ratio and %% of limit are medians of per-run pairs\n"
		       "%-8s %5s %7s %5s %14s %14s %7s %14s %8s\n",
		       o.producer_cpu, o.worker_cpus, o.runs, o.seconds, "strategy", "pools",
		       "workers", "batch", "ours msgs/s", "mutex msgs/s", "ratio", "limit msgs/s",
		       "% limit");
	for (int s = 0; s < 3; s++) {
		struct eng_row *row = &rows[s];
		double ours, mutex, ratio, pct;

		if (!on[s])
			continue;
		ours = bench_median(row->ours, (size_t)o.runs);
		mutex = bench_median(row->mutex, (size_t)o.runs);
		ratio = bench_median(row->ratio, (size_t)o.runs);
		pct = bench_median(row->pct, (size_t)o.runs);
		if (o.csv)
			printf("%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
			       ",%.0f,%.0f,%.3f,%.0f,%.1f\n",
			       strategy_names[s], o.pools, o.workers, o.batch, o.runs, o.seconds,
			       ours, mutex, ratio, lim, pct);
		else
			printf("%-8s %5" PRId64 " %7" PRId64 " %5" PRId64
			       " %14.0f %14.0f %7.2f %14.0f %8.1f\n",
			       strategy_names[s], o.pools, o.workers, o.batch, ours, mutex, ratio,
			       lim, pct);
	}
	free(src);
	return 0;
}
