/* SPDX-License-Identifier: MIT */
/* bench_engine.c: route-and-submit throughput of the engine without sockets, per strategy. */
/*
 * A producer thread feeds the router in batches (as a reactor's deliver would), workers
 * run a trivial handler (count the messages), and the time runs from the first dispatch
 * until every message is handled. The anchor is the design's original (Go), about 9 M
 * route-and-submit operations per second on this machine; the targets are 5x (45 M/s) for
 * pure and 3x (27 M/s) for ordered.
 *
 *   bench_engine                          # 2 pools x 1 worker, all strategies, 5 runs
 *   bench_engine --csv --runs 7
 *   bench_engine --pools 4 --workers 2 --msgs 50000000 --batch 64
 *   bench_engine --producer-cpu 0 --worker-cpus 1,0
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "numa.h"
#include "pool/pool.h"
#include "route/router.h"

#define ANCHOR_MSGS_PER_S 9e6
#define KEYS              65536u

struct opts {
	uint32_t pools, workers, batch, runs, ring;
	uint64_t msgs;
	int producer_cpu;
	int worker_cpu[SLC_WORKERS_MAX];
	uint32_t nworker_cpu;
	bool csv;
};

static _Atomic uint64_t handled;

static void
handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	(void)ctx;
	(void)worker;
	(void)m;
	atomic_fetch_add_explicit(&handled, n, memory_order_relaxed);
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

/* One run: returns messages per second. */
static double
run_once(const struct opts *o, enum slc_route_strategy strategy)
{
	int cpus[SLC_WORKERS_MAX];
	struct slc_pool_cfg pc = {
	        .npools = o->pools,
	        .workers = o->workers,
	        .producers = 1,
	        .ring_size = o->ring,
	        .handler = handler,
	        .worker_cpu = cpus,
	};
	struct slc_route_shared *sh = malloc(sizeof(*sh));
	double w[SLC_POOLS_MAX];
	struct slc_pool_set *ps;
	struct slc_router *rt;
	struct slc_msg *src;
	uint64_t sent = 0;
	uint64_t t0, t1;
	int err;

	for (uint32_t g = 0; g < o->pools * o->workers; g++)
		cpus[g] = o->nworker_cpu ? o->worker_cpu[g % o->nworker_cpu] : -1;
	for (uint32_t p = 0; p < o->pools; p++)
		w[p] = 1;
	ps = slc_pool_set_create(&pc, &err);
	if (ps == NULL || sh == NULL || slc_route_shared_init(sh, w, o->pools, o->workers) != 0) {
		fprintf(stderr, "bench_engine: set-up failed: %s\n", strerror(-err));
		exit(1);
	}
	rt = slc_router_create(strategy, ps, 0, sh, &err);
	src = calloc(KEYS, sizeof(*src));
	if (rt == NULL || src == NULL) {
		fprintf(stderr, "bench_engine: router: %s\n", strerror(-err));
		exit(1);
	}
	for (uint32_t k = 0; k < KEYS; k++)
		src[k] = (struct slc_msg){.len = 100, .key_hash = mix32(k), .conn = k};
	atomic_store(&handled, 0);
	slc_pool_set_start(ps);

	t0 = slc_mono_ns();
	while (sent < o->msgs) {
		uint32_t at = (uint32_t)(sent % (KEYS - o->batch));
		uint32_t n = o->batch, off = 0;

		if (o->msgs - sent < n)
			n = (uint32_t)(o->msgs - sent);
		while (off < n) {
			uint32_t took = slc_router_dispatch(rt, src + at + off, n - off);

			off += took;
			if (took == 0)
				sched_yield(); /* full: let a worker on this CPU run */
		}
		sent += n;
	}
	while (atomic_load_explicit(&handled, memory_order_relaxed) < o->msgs)
		slc_ring_cpu_relax();
	t1 = slc_mono_ns();

	slc_pool_set_drain_stop(ps);
	slc_router_destroy(rt);
	slc_pool_set_destroy(ps);
	free(src);
	free(sh);
	return (double)o->msgs * 1e9 / (double)(t1 - t0);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_engine [--csv] [--runs N] [--msgs N] [--pools P] [--workers W]\n"
	           "                    [--batch B] [--ring SLOTS] [--producer-cpu C]\n"
	           "                    [--worker-cpus C,C,...]\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"csv", no_argument, NULL, 'c'},
	        {"runs", required_argument, NULL, 'r'},
	        {"msgs", required_argument, NULL, 'm'},
	        {"pools", required_argument, NULL, 'p'},
	        {"workers", required_argument, NULL, 'w'},
	        {"batch", required_argument, NULL, 'b'},
	        {"ring", required_argument, NULL, 'R'},
	        {"producer-cpu", required_argument, NULL, 'P'},
	        {"worker-cpus", required_argument, NULL, 'W'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct opts o = {.pools = 2,
	                 .workers = 1,
	                 .batch = 256,
	                 .runs = 5,
	                 .ring = 4096,
	                 .msgs = 30000000,
	                 .producer_cpu = 0};
	static const char *const names[] = {"pure", "sticky", "ordered"};
	static const double targets[] = {5.0, 0.0, 3.0};
	int c;

	o.worker_cpu[0] = 1;
	o.worker_cpu[1] = 1;
	o.nworker_cpu = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.csv = true;
			break;
		case 'r':
			o.runs = (uint32_t)atoi(optarg);
			break;
		case 'm':
			o.msgs = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			o.pools = (uint32_t)atoi(optarg);
			break;
		case 'w':
			o.workers = (uint32_t)atoi(optarg);
			break;
		case 'b':
			o.batch = (uint32_t)atoi(optarg);
			break;
		case 'R':
			o.ring = (uint32_t)atoi(optarg);
			break;
		case 'P':
			o.producer_cpu = atoi(optarg);
			break;
		case 'W': {
			char *s = optarg, *end;

			o.nworker_cpu = 0;
			while (*s && o.nworker_cpu < SLC_WORKERS_MAX) {
				o.worker_cpu[o.nworker_cpu++] = (int)strtol(s, &end, 10);
				s = *end == ',' ? end + 1 : end;
				if (end == s && *s)
					break;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.runs == 0 || o.batch == 0 || o.batch >= KEYS || o.pools == 0 || o.workers == 0) {
		usage(stderr);
		return 2;
	}
	slc_numa_pin_cpu(o.producer_cpu);
	if (o.csv)
		printf("strategy,pools,workers,batch,msgs_per_s,anchor_msgs_per_s,ratio,target_"
		       "ratio\n");
	else
		printf("%-8s %5s %7s %5s %14s %9s %7s\n", "strategy", "pools", "workers", "batch",
		       "msgs/s", "x anchor", "target");
	for (int s = 0; s < 3; s++) {
		double *r = calloc(o.runs, sizeof(double)), med;

		for (uint32_t i = 0; i < o.runs; i++)
			r[i] = run_once(&o, (enum slc_route_strategy)s);
		qsort(r, o.runs, sizeof(double), bench_cmp_double);
		med = r[o.runs / 2];
		if (o.csv)
			printf("%s,%u,%u,%u,%.0f,%.0f,%.3f,%.1f\n", names[s], o.pools, o.workers,
			       o.batch, med, ANCHOR_MSGS_PER_S, med / ANCHOR_MSGS_PER_S,
			       targets[s]);
		else
			printf("%-8s %5u %7u %5u %14.0f %9.2f %7s\n", names[s], o.pools, o.workers,
			       o.batch, med, med / ANCHOR_MSGS_PER_S,
			       targets[s] > 0
			               ? (med / ANCHOR_MSGS_PER_S >= targets[s] ? "met" : "NOT met")
			               : "-");
		free(r);
	}
	return 0;
}
