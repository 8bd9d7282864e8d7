/* SPDX-License-Identifier: MIT */
/* bench_controller.c: throughput of 4 pools, one of them slower, under each controller mode. */
/*
 * P pools of one worker; every message costs a worker cost_ns of service time, the slow
 * pool's worker slow-factor times that. Service time is a sleep against the worker's own
 * clock (a sink waiting for a disk or a peer), so each pool's capacity is 1e9 / cost and
 * does not depend on how the two cores of this machine are shared: the ideal throughput is
 * the sum of the capacities. A feeder thread routes keyless messages (`pure`) as fast as the
 * rings take them; when the ring of the pool whose turn it is is full, it waits, as a
 * reactor pauses the connection. With equal static weights the slow pool therefore limits
 * everything to P times its capacity; the controller should move its share to the others.
 *
 * Modes, each run the same way:
 *   static    equal weights, no controller (the baseline of `ratio`)
 *   oracle    static weights proportional to the capacities (the best a table can do)
 *   pairwise  the design's rule with its defaults (cooldown 10 s)
 *   adaptive  the default controller with its defaults
 *
 * msgs_per_s is the rate over the second half of the run (after the controller has had
 * half the run to settle); total_msgs_per_s the rate over the whole run; ratio is
 * msgs_per_s over static's. settle_tick is the first tick from which every later tick's
 * weights stay within 5% (relative) of the capacity-proportional split (empty: never);
 * final_dev_pct the largest relative distance from that split at the last tick.
 *
 *   bench_controller                                  # 4 pools, pool 3 4x slower, 3 runs
 *   bench_controller --csv --runs 5 --seconds 10
 *   bench_controller --ticks-csv ticks.csv --plot weights.png
 *   bench_controller --modes adaptive --slow-factor 8 --interval-ms 50
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "bench_opts.h"
#include "ctl_loop.h"
#include "numa.h"
#include "pool.h"
#include "router.h"

#define MAX_POOLS  16
#define BATCH      64
#define SETTLE_TOL 0.05

struct opts {
	int64_t pools;
	int64_t slow_pool;
	int64_t slow_factor;
	int64_t cost_ns;
	int64_t seconds;
	int64_t interval_ms;
	int64_t runs;
	int64_t ring;
	int64_t feeder_cpu;
	const char *modes;
	const char *ticks_csv;
	const char *plot;
	bool csv;
};

static const struct bench_opt opt_table[] = {
        {"--pools", BENCH_OPT_INT, 4, 2, MAX_POOLS, NULL, "P", "pools of one worker each",
         offsetof(struct opts, pools)},
        {"--slow-pool", BENCH_OPT_INT, 3, 0, MAX_POOLS - 1, NULL, "I", "the slow pool",
         offsetof(struct opts, slow_pool)},
        {"--slow-factor", BENCH_OPT_INT, 4, 1, 1000, NULL, "K",
         "the slow pool's cost per message, in multiples of --cost-ns",
         offsetof(struct opts, slow_factor)},
        {"--cost-ns", BENCH_OPT_INT, 1000, 100, 1000000, NULL, "NS",
         "service time per message of a normal pool", offsetof(struct opts, cost_ns)},
        {"--seconds", BENCH_OPT_INT, 10, 2, 3600, NULL, "S", "length of each run",
         offsetof(struct opts, seconds)},
        {"--interval-ms", BENCH_OPT_INT, 100, 1, 60000, NULL, "MS", "--rebalance-interval",
         offsetof(struct opts, interval_ms)},
        {"--runs", BENCH_OPT_INT, 3, 1, 100, NULL, "N", "runs per mode (the median is shown)",
         offsetof(struct opts, runs)},
        {"--ring", BENCH_OPT_INT, 4096, 64, 1 << 20, NULL, "SLOTS", "input ring per worker",
         offsetof(struct opts, ring)},
        {"--feeder-cpu", BENCH_OPT_INT, 0, -1, 4095, NULL, "C", "CPU of the feeder; -1: any",
         offsetof(struct opts, feeder_cpu)},
        {"--modes", BENCH_OPT_STR, 0, 0, 0, "static,oracle,pairwise,adaptive", "LIST",
         "modes to run, in order", offsetof(struct opts, modes)},
        {"--ticks-csv", BENCH_OPT_STR, 0, 0, 0, NULL, "FILE",
         "write every tick's weights (first run of each mode) as CSV",
         offsetof(struct opts, ticks_csv)},
        {"--plot", BENCH_OPT_STR, 0, 0, 0, NULL, "FILE.png",
         "draw the weights per tick with gnuplot (needs --ticks-csv)", offsetof(struct opts, plot)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "one CSV row per mode",
         offsetof(struct opts, csv)},
};

enum mode { MODE_STATIC, MODE_ORACLE, MODE_PAIRWISE, MODE_ADAPTIVE, MODE_COUNT };
static const char *const mode_name[MODE_COUNT] = {"static", "oracle", "pairwise", "adaptive"};

/* Per worker: the end of the service time it has been given so far. */
struct svc {
	uint64_t busy_until_ns;
	uint64_t cost_ns;
	char pad[48];
};

struct run {
	const struct opts *o;
	enum mode mode;
	struct svc svc[MAX_POOLS];
	_Atomic uint64_t handled;
	double ideal_w[MAX_POOLS];
	/* ticks */
	FILE *ticks;
	uint32_t run_no;
	int settle_tick;  /* -1: never settled */
	double final_dev; /* largest |w - ideal| / ideal at the last tick */
};

/*
 * Serves n messages: the worker is busy for n * cost after the end of its previous batch
 * or now, whichever is later, and sleeps until then. Time overslept (timer slack, a late
 * wake-up) up to 2 ms is taken off the next batch, so the mean rate is the capacity.
 */
static void
handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	static _Thread_local bool slack_set;
	struct run *r = ctx;
	struct svc *s = &r->svc[worker];
	uint64_t now = slc_mono_ns();
	struct timespec ts;

	(void)m;
	if (!slack_set) {
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
		slack_set = true;
	}
	if (s->busy_until_ns + 2000000u < now)
		s->busy_until_ns = now;
	s->busy_until_ns += n * s->cost_ns;
	if (s->busy_until_ns > now) {
		ts.tv_sec = (time_t)(s->busy_until_ns / 1000000000u);
		ts.tv_nsec = (long)(s->busy_until_ns % 1000000000u);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	atomic_fetch_add_explicit(&r->handled, n, memory_order_relaxed);
}

/* The largest relative distance of weights w (any scale) from ideal (percent). */
static double
max_dev(const double *w, const double *ideal, uint32_t n)
{
	double sum = 0, dev = 0;

	for (uint32_t i = 0; i < n; i++)
		sum += w[i];
	for (uint32_t i = 0; i < n; i++)
		dev = fmax(dev, fabs(w[i] / sum * 100.0 - ideal[i]) / ideal[i]);
	return dev;
}

static void
on_tick(void *ctx, const struct slc_ctl_loop_tick *t)
{
	struct run *r = ctx;
	double total = 0, sum = 0;

	r->final_dev = max_dev(t->weights, r->ideal_w, t->npools);
	if (r->final_dev <= SETTLE_TOL) {
		if (r->settle_tick < 0)
			r->settle_tick = (int)t->tick;
	} else {
		r->settle_tick = -1;
	}
	if (r->ticks == NULL || r->run_no != 0)
		return;
	for (uint32_t i = 0; i < t->npools; i++) {
		total += t->samples[i].completed;
		sum += t->weights[i];
	}
	fprintf(r->ticks, "%s,%llu,%.3f", mode_name[r->mode], (unsigned long long)t->tick, t->t_s);
	for (uint32_t i = 0; i < t->npools; i++)
		fprintf(r->ticks, ",%.3f", t->weights[i] / sum * 100.0);
	fprintf(r->ticks, ",%.0f", total / t->interval_s);
	for (uint32_t i = 0; i < t->npools; i++)
		fprintf(r->ticks, ",%.0f,%.2f,%.0f", t->samples[i].completed / t->interval_s,
		        t->samples[i].busy, t->samples[i].queue);
	fputc('\n', r->ticks);
}

struct result {
	double steady;
	double total;
	int settle_tick;
	double final_dev;
};

static struct result
run_once(const struct opts *o, enum mode mode, uint32_t run_no, FILE *ticks)
{
	uint32_t np = (uint32_t)o->pools;
	struct run *r = calloc(1, sizeof(*r));
	struct slc_route_shared *sh = malloc(sizeof(*sh));
	struct slc_msg msgs[BATCH];
	double w[MAX_POOLS], capsum = 0;
	struct slc_ctl_loop *loop = NULL;
	struct slc_pool_set *ps;
	struct slc_router *rt;
	uint64_t t0, tmid, tend, hmid, hend;
	struct result res;
	int err;

	if (r == NULL || sh == NULL) {
		fprintf(stderr, "bench_controller: out of memory\n");
		exit(1);
	}
	r->o = o;
	r->mode = mode;
	r->ticks = ticks;
	r->run_no = run_no;
	r->settle_tick = -1;
	for (uint32_t p = 0; p < np; p++) {
		r->svc[p].cost_ns = (uint64_t)o->cost_ns *
		                    (p == (uint32_t)o->slow_pool ? (uint64_t)o->slow_factor : 1u);
		capsum += 1e9 / (double)r->svc[p].cost_ns;
	}
	for (uint32_t p = 0; p < np; p++) {
		r->ideal_w[p] = 1e9 / (double)r->svc[p].cost_ns / capsum * 100.0;
		w[p] = mode == MODE_ORACLE ? r->ideal_w[p] : 1.0;
	}
	ps = slc_pool_set_create(&(struct slc_pool_cfg){.npools = np,
	                                                .workers = 1,
	                                                .producers = 1,
	                                                .ring_size = (uint32_t)o->ring,
	                                                .handler = handler,
	                                                .handler_ctx = r},
	                         &err);
	if (ps == NULL || slc_route_shared_init(sh, w, np, 1) != 0) {
		fprintf(stderr, "bench_controller: pools: %s\n", strerror(-err));
		exit(1);
	}
	rt = slc_router_create(SLC_ROUTE_PURE, ps, 0, sh, &err);
	if (rt == NULL) {
		fprintf(stderr, "bench_controller: router: %s\n", strerror(-err));
		exit(1);
	}
	if (mode == MODE_PAIRWISE || mode == MODE_ADAPTIVE) {
		struct slc_ctl_loop_cfg lc = {
		        .pools = ps,
		        .route = sh,
		        .interval_ms = (uint32_t)o->interval_ms,
		        .on_tick = on_tick,
		        .ctx = r,
		};

		slc_ctl_params_default(&lc.params);
		lc.params.mode = mode == MODE_PAIRWISE ? SLC_CTL_PAIRWISE : SLC_CTL_ADAPTIVE;
		loop = slc_ctl_loop_create(&lc, &err);
		if (loop == NULL) {
			fprintf(stderr, "bench_controller: controller: %s\n", strerror(-err));
			exit(1);
		}
	}
	memset(msgs, 0, sizeof(msgs));
	if (slc_pool_set_start(ps) != 0 || (loop != NULL && slc_ctl_loop_start(loop) != 0)) {
		fprintf(stderr, "bench_controller: cannot start threads\n");
		exit(1);
	}

	t0 = slc_mono_ns();
	tmid = t0 + (uint64_t)o->seconds * 500000000ull;
	tend = t0 + (uint64_t)o->seconds * 1000000000ull;
	hmid = 0;
	for (uint32_t iter = 0;; iter++) {
		uint32_t off = 0;

		while (off < BATCH) {
			uint32_t took = slc_router_dispatch(rt, msgs + off, BATCH - off);

			off += took;
			if (took == 0)
				sched_yield(); /* the pool whose turn it is is full: wait for it */
		}
		/* The clock every 16 batches (1024 messages): often enough that the middle and
		 * the end of the run never fall in the same check, even at 1000 msg/s. */
		if ((iter & 15) == 0) {
			uint64_t now = slc_mono_ns();

			if (hmid == 0 && now >= tmid) {
				hmid = atomic_load_explicit(&r->handled, memory_order_relaxed);
				tmid = now;
			}
			if (now >= tend) {
				hend = atomic_load_explicit(&r->handled, memory_order_relaxed);
				tend = now;
				break;
			}
		}
	}
	res.steady = tend > tmid ? (double)(hend - hmid) / ((double)(tend - tmid) * 1e-9) : 0;
	res.total = (double)hend / ((double)(tend - t0) * 1e-9);
	res.settle_tick = r->settle_tick;
	res.final_dev = r->final_dev;

	slc_ctl_loop_destroy(loop);
	slc_pool_set_drain_stop(ps);
	slc_router_destroy(rt);
	slc_pool_set_destroy(ps);
	free(sh);
	free(r);
	return res;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return v[n / 2];
}

static int
parse_modes(const char *s, enum mode *out, uint32_t *n)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		uint32_t m;

		for (m = 0; m < MODE_COUNT && strcmp(t, mode_name[m]) != 0; m++)
			;
		if (m == MODE_COUNT || *n == MODE_COUNT) {
			fprintf(stderr,
			        "bench_controller: --modes: \"%s\" is not one of static, oracle, "
			        "pairwise, adaptive\n",
			        t);
			return -EINVAL;
		}
		out[(*n)++] = (enum mode)m;
	}
	return *n == 0 ? -EINVAL : 0;
}

static int
plot(const char *csv, const char *png, uint32_t np)
{
	char cmd[4096];
	int len;
	FILE *g;

	g = popen("gnuplot", "w");
	if (g == NULL)
		return -errno;
	fprintf(g,
	        "set terminal pngcairo size 1000,700\nset output '%s'\n"
	        "set datafile separator ','\nset key outside right\n"
	        "set xlabel 'tick'\nset ylabel 'weight (%% of traffic)'\nset yrange [0:*]\n"
	        "set multiplot layout 2,1\n",
	        png);
	for (int m = MODE_PAIRWISE; m <= MODE_ADAPTIVE; m++) {
		len = snprintf(cmd, sizeof(cmd), "set title '%s'\nplot ", mode_name[m]);
		for (uint32_t p = 0; p < np; p++)
			len += snprintf(cmd + len, sizeof(cmd) - (size_t)len,
			                "%s'%s' skip 1 using 2:(strcol(1) eq '%s' ? $%u : NaN) "
			                "with lines title 'pool %u'",
			                p ? ", " : "", csv, mode_name[m], 4 + p, p);
		fprintf(g, "%s\n", cmd);
	}
	fprintf(g, "unset multiplot\n");
	return pclose(g) == 0 ? 0 : -EIO;
}

int
main(int argc, char **argv)
{
	struct opts o = {0};
	enum mode modes[MODE_COUNT];
	uint32_t nmodes;
	double static_med = 0, pairwise_med = 0, ideal = 0;
	FILE *ticks = NULL;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: bench_controller [options]\n");
			bench_opt_table_print(stdout, opt_table,
			                      sizeof(opt_table) / sizeof(opt_table[0]));
			return 0;
		}
	if (bench_opt_table_parse(&o, opt_table, sizeof(opt_table) / sizeof(opt_table[0]),
	                          "bench_controller", argc, argv) != 0)
		return 2;
	if (o.slow_pool >= o.pools) {
		fprintf(stderr, "bench_controller: --slow-pool %lld: there are %lld pools\n",
		        (long long)o.slow_pool, (long long)o.pools);
		return 2;
	}
	if (parse_modes(o.modes, modes, &nmodes) != 0)
		return 2;
	if (o.plot != NULL && o.ticks_csv == NULL) {
		fprintf(stderr, "bench_controller: --plot needs --ticks-csv\n");
		return 2;
	}
	if (bench_cpu_check("bench_controller", "--feeder-cpu", o.feeder_cpu) != 0)
		return 2;
	if (o.ticks_csv != NULL) {
		ticks = fopen(o.ticks_csv, "w");
		if (ticks == NULL) {
			fprintf(stderr, "bench_controller: %s: %s\n", o.ticks_csv, strerror(errno));
			return 1;
		}
		fprintf(ticks, "mode,tick,t_s");
		for (int64_t p = 0; p < o.pools; p++)
			fprintf(ticks, ",w%lld", (long long)p);
		fprintf(ticks, ",completed_per_s");
		for (int64_t p = 0; p < o.pools; p++)
			fprintf(ticks, ",rate%lld,busy%lld,queue%lld", (long long)p, (long long)p,
			        (long long)p);
		fputc('\n', ticks);
	}
	slc_numa_pin_cpu((int)o.feeder_cpu);
	for (int64_t p = 0; p < o.pools; p++)
		ideal += 1e9 / (double)o.cost_ns / (p == o.slow_pool ? (double)o.slow_factor : 1.0);

	if (o.csv)
		printf("mode,pools,slow_factor,interval_ms,seconds,ideal_msgs_per_s,msgs_per_s,"
		       "total_msgs_per_s,pct_ideal,ratio,settle_tick,final_dev_pct\n");
	else
		printf("%-9s %10s %10s %11s %7s %8s %7s %8s\n", "mode", "ideal/s", "msgs/s",
		       "whole run/s", "%ideal", "x static", "settle", "dev %");
	for (uint32_t k = 0; k < nmodes; k++) {
		double steady[100], total[100], settle[100], dev[100], sm, tm, st, dv;
		bool ctl = modes[k] >= MODE_PAIRWISE;
		char rbuf[16] = "", sbuf[16] = "", dbuf[16] = "";

		for (int64_t i = 0; i < o.runs; i++) {
			struct result res = run_once(&o, modes[k], (uint32_t)i, ticks);

			steady[i] = res.steady;
			total[i] = res.total;
			/* never settled sorts last */
			settle[i] = res.settle_tick < 0 ? HUGE_VAL : res.settle_tick;
			dev[i] = res.final_dev * 100.0;
		}
		sm = median(steady, (size_t)o.runs);
		tm = median(total, (size_t)o.runs);
		st = median(settle, (size_t)o.runs);
		dv = median(dev, (size_t)o.runs);
		if (modes[k] == MODE_STATIC)
			static_med = sm;
		if (modes[k] == MODE_PAIRWISE)
			pairwise_med = sm;
		if (static_med > 0)
			snprintf(rbuf, sizeof(rbuf), "%.3f", sm / static_med);
		if (ctl) {
			if (isfinite(st))
				snprintf(sbuf, sizeof(sbuf), "%.0f", st);
			else
				snprintf(sbuf, sizeof(sbuf), "%s", o.csv ? "" : "never");
			snprintf(dbuf, sizeof(dbuf), "%.1f", dv);
		}
		if (o.csv)
			printf("%s,%lld,%lld,%lld,%lld,%.0f,%.0f,%.0f,%.1f,%s,%s,%s\n",
			       mode_name[modes[k]], (long long)o.pools, (long long)o.slow_factor,
			       (long long)o.interval_ms, (long long)o.seconds, ideal, sm, tm,
			       sm / ideal * 100.0, rbuf, sbuf, dbuf);
		else
			printf("%-9s %10.0f %10.0f %11.0f %6.1f%% %8s %7s %8s\n",
			       mode_name[modes[k]], ideal, sm, tm, sm / ideal * 100.0, rbuf,
			       ctl ? sbuf : "-", ctl ? dbuf : "-");
		fflush(stdout);
	}
	if (!o.csv && pairwise_med > 0 && static_med > 0)
		printf("targets (adaptive): >= 90%% of ideal, >= 1.5x static, >= pairwise "
		       "(msgs/s: second half of each run, median of %lld)\n",
		       (long long)o.runs);
	if (ticks != NULL) {
		fclose(ticks);
		if (o.plot != NULL && plot(o.ticks_csv, o.plot, (uint32_t)o.pools) != 0) {
			fprintf(stderr,
			        "bench_controller: gnuplot failed (is gnuplot-nox installed?)\n");
			return 1;
		}
	}
	return 0;
}
