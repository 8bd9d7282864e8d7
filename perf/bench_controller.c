/* SPDX-License-Identifier: MIT */
/* bench_controller.c: throughput of worker pools of unequal speed under each way of routing. */
/*
 * A feeder thread routes keyless messages into P pools of one worker each, as fast as the
 * rings take them (closed loop, saturating). When it cannot place a message (the ring its
 * router chose is full) it sleeps 20 us and tries again, as a reactor pauses a connection;
 * every mode waits the same way. Per message a worker spends cost_ns of service time:
 *
 *   slow-pool       P pools (--pools); pool --slow-pool costs --slow-factor times more,
 *                   throughout. Service time is a sleep against the worker's own clock (a
 *                   sink waiting on a disk or a peer), so a pool's capacity does not depend
 *                   on how the machine's CPUs are shared.
 *   step            the same pools, all equal at first; the slow pool becomes --slow-factor
 *                   times slower for the middle third of the timed period, then recovers.
 *   cpu-contention  min(P, CPUs) pools, worker p pinned to the p-th allowed CPU; service
 *                   time is CPU work (a calibrated loop), and a forked child process (a
 *                   busy thread of another program) spins pinned on the slow pool's CPU for
 *                   the whole run. The controller sees it the only way it sees CPU load:
 *                   engine/ctl/ctl_loop.c reads each worker's time inside the handler
 *                   (busy_ns), not /proc/stat, and the hog stretches that time, so the
 *                   pool's measured capacity falls (docs/controller.md, "Sampling").
 *
 * Modes (rows), each run the same way in the same process, interleaved run by run:
 *   static        equal weights through the router (pure), no controller
 *   least-loaded  no weights: each batch goes to the pool whose rings hold the fewest
 *                 messages (ties: the next pool after the last chosen), what a careful user
 *                 would write instead of a controller; the rest of a batch that did not
 *                 fit goes to the next least-loaded
 *   pairwise      the design's rule (controller-vectors.md), scaled to the run: the seed's
 *                 demos ticked every 1 s with a 3-5 s cooldown over minutes; here ticks are
 *                 --interval-ms (100 ms) and the cooldown --pw-cooldown-ms (400 ms), both
 *                 x0.1. Its backlog thresholds (min_pressure_delta 2 s, pace_rate 5 s) are
 *                 read in ms (--pw-delta-us 2000, --pw-pace-us 5000): a full ring here holds
 *                 4 ms of a normal pool's work and 16 ms of the slow pool's, so thresholds
 *                 in seconds (or x0.1) would never be crossed and the rule would never move.
 *                 It starts from 100 units split evenly.
 *   adaptive      the default controller, its defaults, ticks of --interval-ms
 *
 * static, pairwise and adaptive route through the engine's router with --strategy: pure
 * (keyless: the weighted round robin, a message whose pool is full spills to the next pool
 * with room) or sticky (every message carries a key hash, a different one each message,
 * and goes to its key's pool whatever the water levels, as keyed traffic must: a full
 * pool stops the feeder). least-loaded and ideal ignore keys in both: they are the
 * keyless optimum that sticky's key affinity is measured against.
 *   ideal         not a router: the sum over the pools of each pool's rate when it is fed
 *                 alone (least-loaded restricted to that pool), same scenario and schedule
 *                 (the step, the hog), measured in the same run just before the modes.
 *
 * Timing: each run starts the pools (and the controller), feeds for --warmup-ms (500 ms for
 * an ideal run), then for --seconds (>= 3), the timed period; msgs_per_s is the messages
 * the workers finished in the timed period over its length (CLOCK_MONOTONIC). The warm-up
 * lets a controller find its split before timing, as a long-running daemon has; the step
 * falls inside the timed period, so reacting to it is timed.
 *
 * Columns (--csv; figures are medians over --runs):
 *   scenario, mode, strategy, pools, slow_factor, seconds (timed, per run), runs
 *   msgs_per_s          median of the runs' rates
 *   min_msgs_per_s, max_msgs_per_s   the spread over the runs
 *   ideal_msgs_per_s    median of the runs' measured ideals
 *   pct_ideal           median over runs of 100 * rate / that run's ideal
 *   ratio_least_loaded  median over runs of rate / that run's least-loaded rate (same
 *                       scenario, same run); this benchmark's `ratio`
 *   moves               median number of ticks that moved weight in the timed period
 *                       (controllers only)
 *
 *   bench_controller                                   # 3 scenarios x 5 rows, 3 runs
 *   bench_controller --csv --runs 5 --seconds 5
 *   bench_controller --scenarios cpu-contention --modes least-loaded,adaptive --runs 1
 *   bench_controller --ticks-csv ticks.csv             # every tick's weights, first run
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_opts.h"
#include "bench_util.h"
#include "ctl/ctl_loop.h"
#include "pool/pool.h"
#include "route/router.h"

#define MAX_POOLS 16
#define MAX_RUNS  100
#define BATCH     64

struct opts {
	int64_t pools;
	int64_t slow_pool;
	int64_t slow_factor;
	int64_t cost_ns;
	int64_t seconds;
	int64_t warmup_ms;
	int64_t interval_ms;
	int64_t pw_cooldown_ms;
	int64_t pw_delta_us;
	int64_t pw_pace_us;
	int64_t runs;
	int64_t ring;
	int64_t feeder_cpu;
	const char *scenarios;
	const char *modes;
	const char *strategy;
	const char *ticks_csv;
	bool csv;
};

static const struct bench_opt opt_table[] = {
        {"--pools", BENCH_OPT_INT, 4, 2, MAX_POOLS, NULL, "P",
         "pools of one worker each (cpu-contention: at most one per CPU)",
         offsetof(struct opts, pools)},
        {"--slow-pool", BENCH_OPT_INT, 3, 0, MAX_POOLS - 1, NULL, "I",
         "the slow (step, hogged) pool; cpu-contention: the last pool if I is beyond it",
         offsetof(struct opts, slow_pool)},
        {"--slow-factor", BENCH_OPT_INT, 4, 1, 1000, NULL, "K",
         "the slow pool's cost per message, in multiples of --cost-ns",
         offsetof(struct opts, slow_factor)},
        {"--cost-ns", BENCH_OPT_INT, 1000, 100, 1000000, NULL, "NS",
         "service time per message of a normal pool", offsetof(struct opts, cost_ns)},
        {"--seconds", BENCH_OPT_INT, 5, 3, 3600, NULL, "S", "timed period of each run",
         offsetof(struct opts, seconds)},
        {"--warmup-ms", BENCH_OPT_INT, 2000, 0, 600000, NULL, "MS",
         "untimed feeding before the timed period", offsetof(struct opts, warmup_ms)},
        {"--interval-ms", BENCH_OPT_INT, 100, 1, 60000, NULL, "MS",
         "controller tick (--rebalance-interval), both controllers",
         offsetof(struct opts, interval_ms)},
        {"--pw-cooldown-ms", BENCH_OPT_INT, 400, 0, 600000, NULL, "MS",
         "pairwise: cooldown after a move (the seed's 3-5 s, x0.1)",
         offsetof(struct opts, pw_cooldown_ms)},
        {"--pw-delta-us", BENCH_OPT_INT, 2000, 0, 100000000, NULL, "US",
         "pairwise: min_pressure_delta (the seed's 2 s, read in ms)",
         offsetof(struct opts, pw_delta_us)},
        {"--pw-pace-us", BENCH_OPT_INT, 5000, 1, 100000000, NULL, "US",
         "pairwise: pace_rate (the seed's 5 s, read in ms)", offsetof(struct opts, pw_pace_us)},
        {"--runs", BENCH_OPT_INT, 3, 1, MAX_RUNS, NULL, "N",
         "runs per scenario (medians are shown)", offsetof(struct opts, runs)},
        {"--ring", BENCH_OPT_INT, 4096, 64, 1 << 20, NULL, "SLOTS", "input ring per worker",
         offsetof(struct opts, ring)},
        {"--feeder-cpu", BENCH_OPT_INT, -1, -1, 4095, NULL, "C", "CPU of the feeder; -1: any",
         offsetof(struct opts, feeder_cpu)},
        {"--scenarios", BENCH_OPT_STR, 0, 0, 0, "slow-pool,step,cpu-contention", "LIST",
         "scenarios to run, in order", offsetof(struct opts, scenarios)},
        {"--modes", BENCH_OPT_STR, 0, 0, 0, "static,least-loaded,pairwise,adaptive", "LIST",
         "modes to run besides ideal (least-loaded always runs: ratios need it)",
         offsetof(struct opts, modes)},
        {"--strategy", BENCH_OPT_STR, 0, 0, 0, "pure", "S",
         "router strategy of static, pairwise and adaptive: pure or sticky",
         offsetof(struct opts, strategy)},
        {"--ticks-csv", BENCH_OPT_STR, 0, 0, 0, NULL, "FILE",
         "write every tick's weights (first run of each scenario and controller) as CSV",
         offsetof(struct opts, ticks_csv)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "one CSV row per scenario and mode",
         offsetof(struct opts, csv)},
};

enum scen { SC_SLOW, SC_STEP, SC_CPU, SC_COUNT };
static const char *const scen_name[SC_COUNT] = {"slow-pool", "step", "cpu-contention"};

enum mode { MODE_STATIC, MODE_LEAST, MODE_PAIRWISE, MODE_ADAPTIVE, MODE_COUNT, MODE_ALONE };
static const char *const mode_name[MODE_COUNT] = {"static", "least-loaded", "pairwise", "adaptive"};

/* The router's strategy (--strategy), parsed in main(). */
static enum slc_route_strategy strategy = SLC_ROUTE_PURE;

/* Per worker: its cost now (the feeder changes it in `step`) and, for sleep service, the
 * overrun of its last sleep still to be credited. One cache line each. */
struct svc {
	_Atomic uint64_t cost_ns;
	uint64_t credit_ns;
	char pad[48];
};

struct run {
	const struct opts *o;
	enum scen sc;
	enum mode mode;
	int alone; /* MODE_ALONE: the pool fed */
	uint32_t np;
	uint32_t slow;
	struct slc_pool_set *ps;
	struct svc svc[MAX_POOLS];
	_Atomic uint64_t handled;
	uint32_t ll_next; /* least-loaded: where the next scan starts */
	FILE *ticks;      /* NULL: no tick rows for this run */
};

/* CPU service: loop iterations per ns, calibrated once at start-up. */
static double spin_iters_per_ns;

/* A chain of dependent multiply-adds the compiler can neither fold nor vectorise. */
static void
spin_work(uint64_t iters)
{
	uint64_t x = 1;

	for (uint64_t i = 0; i < iters; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__ volatile("" : "+r"(x));
	}
}

/* The fastest of 7 timings of a fixed loop: the one least disturbed by other threads on a
 * shared machine. Only the cpu-contention scenario uses it, and its ideal is measured with
 * the same calibration, so an error here scales every row of that scenario alike. */
static void
spin_calibrate(void)
{
	uint64_t best = UINT64_MAX, iters = 2000000;

	for (int i = 0; i < 7; i++) {
		uint64_t t = bench_now_ns();

		spin_work(iters);
		t = bench_now_ns() - t;
		if (t < best)
			best = t;
	}
	spin_iters_per_ns = (double)iters / (double)(best ? best : 1);
}

/*
 * Serves n messages. CPU service (cpu-contention): n * cost of loop work, which a hog on
 * the worker's CPU stretches in wall time. Sleep service: the worker sleeps n * cost from
 * now. What a sleep overran (timer slack, a late wake-up on a busy machine), up to 2 ms,
 * is credited to the next batches, so the mean rate is the capacity. Only overrun is
 * credited, never time the worker sat idle: credit for idle time would let a pool serve a
 * burst faster than its capacity and spend less time in the handler than its load says,
 * which is the signal the controller reads (an earlier version did that, and the fast
 * pools' handler time read a third of their load).
 */
static void
handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	static _Thread_local bool slack_set;
	struct run *r = ctx;
	struct svc *s = &r->svc[worker];
	uint64_t need = n * atomic_load_explicit(&s->cost_ns, memory_order_relaxed);
	uint64_t deadline, late;
	struct timespec ts;

	(void)m;
	if (r->sc == SC_CPU) {
		spin_work((uint64_t)((double)need * spin_iters_per_ns));
		goto done;
	}
	if (!slack_set) {
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
		slack_set = true;
	}
	if (s->credit_ns >= need) {
		s->credit_ns -= need;
		goto done;
	}
	deadline = bench_now_ns() + need - s->credit_ns;
	ts.tv_sec = (time_t)(deadline / 1000000000u);
	ts.tv_nsec = (long)(deadline % 1000000000u);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	late = bench_now_ns() - deadline;
	s->credit_ns = late < 2000000u ? late : 2000000u;
done:
	atomic_fetch_add_explicit(&r->handled, n, memory_order_relaxed);
}

static void
on_tick(void *ctx, const struct slc_ctl_loop_tick *t)
{
	struct run *r = ctx;
	double sum = 0;

	if (r->ticks == NULL)
		return;
	for (uint32_t i = 0; i < t->npools; i++)
		sum += t->weights[i];
	fprintf(r->ticks, "%s,%s,%llu,%.3f", scen_name[r->sc], mode_name[r->mode],
	        (unsigned long long)t->tick, t->t_s);
	for (uint32_t i = 0; i < t->npools; i++)
		fprintf(r->ticks, ",%.3f,%.0f,%.2f,%.0f", t->weights[i] / sum * 100.0,
		        t->samples[i].completed / t->interval_s, t->samples[i].busy,
		        t->samples[i].queue);
	fputc('\n', r->ticks);
}

/*
 * Least-loaded: the batch goes to the pool whose rings hold the fewest messages (its water
 * level), among all pools or only r->alone. The scan starts after the pool chosen last, so
 * ties rotate. Returns how many messages the chosen ring took (0: the emptiest is full).
 */
static uint32_t
least_loaded_dispatch(struct run *r, const struct slc_msg *msgs, uint32_t n)
{
	uint32_t best = 0, took;
	uint64_t best_q = UINT64_MAX;
	struct slc_worker *w;

	if (r->mode == MODE_ALONE) {
		best = (uint32_t)r->alone;
	} else {
		for (uint32_t k = 0; k < r->np; k++) {
			uint32_t p = (r->ll_next + k) % r->np;
			uint64_t q = slc_pool_queued(r->ps, p);

			if (q < best_q) {
				best_q = q;
				best = p;
			}
		}
		r->ll_next = best + 1;
	}
	w = slc_pool_set_worker(r->ps, best); /* one worker per pool: worker index = pool */
	took = slc_ring_spsc_enqueue_burst(slc_worker_ring(w, 0), msgs, n);
	if (took != 0)
		slc_ring_park_wake(&w->park);
	return took;
}

/* A child process that spins on `cpu` until killed; it dies with its parent. Returns its
 * pid, or -errno. Forked before the run's threads exist. */
static pid_t
hog_start(int cpu)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		cpu_set_t set;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			_exit(1);
		for (;;)
			spin_work(1u << 20);
	}
	return pid;
}

static void
hog_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The CPU set the process started with, restored after each run. */
static cpu_set_t allowed_set;

/* Pins the calling thread (the feeder) to cpu, or back to allowed_set for cpu < 0. */
static void
feeder_pin(int64_t cpu)
{
	cpu_set_t set = allowed_set;

	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET((int)cpu, &set);
	}
	sched_setaffinity(0, sizeof(set), &set);
}

struct result {
	double rate;
	double moves;
};

static uint64_t
slow_cost(const struct opts *o)
{
	return (uint64_t)o->cost_ns * (uint64_t)o->slow_factor;
}

/* One run of one mode (or of pool `alone` fed alone) in scenario sc on pools cpus[]. */
static struct result
run_once(const struct opts *o, enum scen sc, enum mode mode, int alone, uint32_t np,
         const int *cpus, FILE *ticks)
{
	struct run *r = calloc(1, sizeof(*r));
	struct slc_route_shared *sh = malloc(sizeof(*sh));
	struct slc_msg msgs[BATCH];
	double w[MAX_POOLS];
	int worker_cpu[MAX_POOLS];
	struct slc_ctl_loop *loop = NULL;
	struct slc_ctl_loop_stats st;
	struct slc_router *rt = NULL;
	uint64_t t_start, t0 = 0, t1 = 0, step_on, step_off, h0 = 0, h1 = 0, c0 = 0;
	uint64_t warm_ns, len_ns = (uint64_t)o->seconds * 1000000000ull;
	bool timing = false, slow_now = false;
	struct result res = {0, NAN};
	pid_t hog = 0;
	int err = 0;

	if (r == NULL || sh == NULL) {
		fprintf(stderr, "bench_controller: out of memory\n");
		exit(1);
	}
	r->o = o;
	r->sc = sc;
	r->mode = mode;
	r->alone = alone;
	r->np = np;
	r->slow = (uint32_t)o->slow_pool < np ? (uint32_t)o->slow_pool : np - 1;
	for (uint32_t p = 0; p < np; p++) {
		uint64_t c = (uint64_t)o->cost_ns;

		if (sc == SC_SLOW && p == r->slow)
			c = slow_cost(o);
		atomic_init(&r->svc[p].cost_ns, c);
		w[p] = 1.0;
		worker_cpu[p] = sc == SC_CPU ? cpus[p] : -1;
	}
	if (sc == SC_CPU) {
		hog = hog_start(cpus[r->slow]);
		if (hog < 0) {
			fprintf(stderr, "bench_controller: fork: %s\n", strerror((int)-hog));
			exit(1);
		}
	}
	r->ps = slc_pool_set_create(&(struct slc_pool_cfg){.npools = np,
	                                                   .workers = 1,
	                                                   .producers = 1,
	                                                   .ring_size = (uint32_t)o->ring,
	                                                   .handler = handler,
	                                                   .handler_ctx = r,
	                                                   .worker_cpu = worker_cpu},
	                            &err);
	if (r->ps == NULL || slc_route_shared_init(sh, w, np, 1) != 0) {
		fprintf(stderr, "bench_controller: pools: %s\n", strerror(err ? -err : EINVAL));
		exit(1);
	}
	if (mode == MODE_STATIC || mode == MODE_PAIRWISE || mode == MODE_ADAPTIVE) {
		rt = slc_router_create(strategy, r->ps, 0, sh, &err);
		if (rt == NULL) {
			fprintf(stderr, "bench_controller: router: %s\n", strerror(-err));
			exit(1);
		}
	}
	if (mode == MODE_PAIRWISE || mode == MODE_ADAPTIVE) {
		struct slc_ctl_loop_cfg lc = {
		        .pools = r->ps,
		        .route = sh,
		        .interval_ms = (uint32_t)o->interval_ms,
		        .on_tick = on_tick,
		        .ctx = r,
		};

		r->ticks = ticks;
		slc_ctl_params_default(&lc.params);
		if (mode == MODE_PAIRWISE) {
			lc.params.mode = SLC_CTL_PAIRWISE;
			lc.params.cooldown_ms = (uint32_t)o->pw_cooldown_ms;
			lc.params.min_pressure_delta = (double)o->pw_delta_us * 1e-6;
			lc.params.pace_rate = (double)o->pw_pace_us * 1e-6;
		}
		loop = slc_ctl_loop_create(&lc, &err);
		if (loop == NULL) {
			fprintf(stderr, "bench_controller: controller: %s\n", strerror(-err));
			exit(1);
		}
	}
	memset(msgs, 0, sizeof(msgs));
	if (slc_pool_set_start(r->ps) != 0 || (loop != NULL && slc_ctl_loop_start(loop) != 0)) {
		fprintf(stderr, "bench_controller: cannot start threads\n");
		exit(1);
	}
	/* Pinned only now: threads inherit their creator's CPU set, and the unpinned workers
	 * and the controller must not inherit the feeder's one CPU. */
	feeder_pin(o->feeder_cpu);

	warm_ns = (uint64_t)(mode == MODE_ALONE && o->warmup_ms > 500 ? 500 : o->warmup_ms) *
	          1000000ull;
	t_start = bench_now_ns();
	step_on = t_start + warm_ns + len_ns / 3;
	step_off = t_start + warm_ns + 2 * len_ns / 3;
	for (uint32_t iter = 0;; iter++) {
		uint32_t off = 0;

		/* Sticky: a new key per message (a multiplicative hash of its number, which
		 * spreads over the slots as real keys do), so that each pool gets its slots'
		 * share of the traffic. */
		if (strategy == SLC_ROUTE_STICKY)
			for (uint32_t i = 0; i < BATCH; i++)
				msgs[i].key_hash = (iter * BATCH + i) * 2654435761u;

		while (off < BATCH) {
			uint32_t took = rt != NULL
			                        ? slc_router_dispatch(rt, msgs + off, BATCH - off)
			                        : least_loaded_dispatch(r, msgs + off, BATCH - off);

			off += took;
			if (took == 0) {
				/* Full where the router sent it: wait as a paused connection
				 * would. A full 4096-slot ring holds >= 4 ms of work, so 20 us
				 * never lets a pool run dry. */
				struct timespec ts = {0, 20000};

				nanosleep(&ts, NULL);
			}
		}
		/* The clock every 16 batches (1024 messages, at most a few ms). */
		if ((iter & 15) == 0) {
			uint64_t now = bench_now_ns();

			if (sc == SC_STEP && slow_now != (now >= step_on && now < step_off)) {
				slow_now = !slow_now;
				atomic_store_explicit(&r->svc[r->slow].cost_ns,
				                      slow_now ? slow_cost(o)
				                               : (uint64_t)o->cost_ns,
				                      memory_order_relaxed);
			}
			if (!timing && now >= t_start + warm_ns) {
				timing = true;
				h0 = atomic_load_explicit(&r->handled, memory_order_relaxed);
				t0 = now;
				if (loop != NULL) {
					slc_ctl_loop_stats(loop, &st);
					c0 = st.changes;
				}
			}
			if (timing && now >= t0 + len_ns) {
				h1 = atomic_load_explicit(&r->handled, memory_order_relaxed);
				t1 = now;
				break;
			}
		}
	}
	res.rate = (double)(h1 - h0) / ((double)(t1 - t0) * 1e-9);
	if (loop != NULL) {
		slc_ctl_loop_stats(loop, &st);
		res.moves = (double)(st.changes - c0);
	}

	feeder_pin(-1);
	slc_ctl_loop_destroy(loop);
	slc_pool_set_drain_stop(r->ps);
	slc_router_destroy(rt);
	slc_pool_set_destroy(r->ps);
	hog_stop(hog);
	free(sh);
	free(r);
	return res;
}

/* Parses a comma-separated list of names[0..count) into out (a bitmask). */
static int
parse_list(const char *what, const char *s, const char *const *names, uint32_t count, uint32_t *out)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	*out = 0;
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		uint32_t m;

		for (m = 0; m < count && strcmp(t, names[m]) != 0; m++)
			;
		if (m == count) {
			fprintf(stderr, "bench_controller: %s: \"%s\" is not one of", what, t);
			for (m = 0; m < count; m++)
				fprintf(stderr, " %s", names[m]);
			fputc('\n', stderr);
			return -EINVAL;
		}
		*out |= 1u << m;
	}
	return *out == 0 ? -EINVAL : 0;
}

/* The CPUs this process may run on, in order (kept in allowed_set); their count. */
static uint32_t
allowed_cpus(int *cpus, uint32_t max)
{
	uint32_t n = 0;

	if (sched_getaffinity(0, sizeof(allowed_set), &allowed_set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &allowed_set))
			cpus[n++] = c;
	return n;
}

/* Runs scenario sc --runs times and prints its rows. */
static void
scenario(const struct opts *o, enum scen sc, uint32_t modes, const int *cpus, uint32_t ncpus,
         FILE *ticks)
{
	static double rate[MODE_COUNT][MAX_RUNS], moves[MODE_COUNT][MAX_RUNS];
	double ideal[MAX_RUNS], v[MAX_RUNS], ideal_med;
	uint32_t np = (uint32_t)o->pools, nr = (uint32_t)o->runs;

	if (sc == SC_CPU) {
		if (ncpus < 2) {
			fprintf(stderr, "bench_controller: cpu-contention needs 2 CPUs: skipped\n");
			return;
		}
		if (np > ncpus)
			np = ncpus;
	}
	for (uint32_t i = 0; i < nr; i++) {
		ideal[i] = 0;
		for (uint32_t p = 0; p < np; p++)
			ideal[i] += run_once(o, sc, MODE_ALONE, (int)p, np, cpus, NULL).rate;
		for (uint32_t m = 0; m < MODE_COUNT; m++) {
			struct result res;

			if (!(modes & (1u << m)))
				continue;
			res = run_once(o, sc, (enum mode)m, -1, np, cpus, i == 0 ? ticks : NULL);
			rate[m][i] = res.rate;
			moves[m][i] = res.moves;
		}
	}
	memcpy(v, ideal, nr * sizeof(double));
	ideal_med = bench_median(v, nr);
	for (uint32_t m = 0; m <= MODE_COUNT; m++) {
		const double *x = m == MODE_COUNT ? ideal : rate[m];
		const char *name = m == MODE_COUNT ? "ideal" : mode_name[m];
		double med, lo = HUGE_VAL, hi = 0, pct, rll, mv = NAN;
		char mbuf[16] = "";

		if (m < MODE_COUNT && !(modes & (1u << m)))
			continue;
		for (uint32_t i = 0; i < nr; i++) {
			lo = fmin(lo, x[i]);
			hi = fmax(hi, x[i]);
			v[i] = x[i];
		}
		med = bench_median(v, nr);
		for (uint32_t i = 0; i < nr; i++)
			v[i] = 100.0 * x[i] / ideal[i];
		pct = bench_median(v, nr);
		for (uint32_t i = 0; i < nr; i++)
			v[i] = x[i] / rate[MODE_LEAST][i];
		rll = bench_median(v, nr);
		if (m == MODE_PAIRWISE || m == MODE_ADAPTIVE) {
			memcpy(v, moves[m], nr * sizeof(double));
			mv = bench_median(v, nr);
			snprintf(mbuf, sizeof(mbuf), "%.0f", mv);
		}
		if (o->csv)
			printf("%s,%s,%s,%u,%lld,%lld,%u,%.0f,%.0f,%.0f,%.0f,%.1f,%.3f,%s\n",
			       scen_name[sc], name, o->strategy, np, (long long)o->slow_factor,
			       (long long)o->seconds, nr, med, lo, hi, ideal_med, pct, rll, mbuf);
		else
			printf("%-15s %-13s %5u %11.0f %11.0f %11.0f %7.1f%% %8.3f %6s\n",
			       scen_name[sc], name, np, med, lo, hi, pct, rll,
			       mbuf[0] ? mbuf : "-");
		fflush(stdout);
	}
}

int
main(int argc, char **argv)
{
	struct opts o = {0};
	uint32_t modes, scens, ncpus;
	int cpus[MAX_POOLS];
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
	if (parse_list("--modes", o.modes, mode_name, MODE_COUNT, &modes) != 0 ||
	    parse_list("--scenarios", o.scenarios, scen_name, SC_COUNT, &scens) != 0)
		return 2;
	modes |= 1u << MODE_LEAST;
	if (strcmp(o.strategy, "sticky") == 0) {
		strategy = SLC_ROUTE_STICKY;
	} else if (strcmp(o.strategy, "pure") != 0) {
		fprintf(stderr, "bench_controller: --strategy: \"%s\" is not pure or sticky\n",
		        o.strategy);
		return 2;
	}
	if (bench_cpu_check("bench_controller", "--feeder-cpu", o.feeder_cpu) != 0)
		return 2;
	ncpus = allowed_cpus(cpus, MAX_POOLS);
	if (o.ticks_csv != NULL) {
		ticks = fopen(o.ticks_csv, "w");
		if (ticks == NULL) {
			fprintf(stderr, "bench_controller: %s: %s\n", o.ticks_csv, strerror(errno));
			return 1;
		}
		fprintf(ticks, "scenario,mode,tick,t_s");
		for (int64_t p = 0; p < o.pools; p++)
			fprintf(ticks, ",w%lld,rate%lld,busy%lld,queue%lld", (long long)p,
			        (long long)p, (long long)p, (long long)p);
		fputc('\n', ticks);
	}
	/* The feeder's waits are 20 us: without this its timer slack (50 us) would set them. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	spin_calibrate();

	if (o.csv)
		printf("scenario,mode,strategy,pools,slow_factor,seconds,runs,msgs_per_s,min_msgs_"
		       "per_s,"
		       "max_msgs_per_s,ideal_msgs_per_s,pct_ideal,ratio_least_loaded,moves\n");
	else
		printf("%-15s %-13s %5s %11s %11s %11s %8s %8s %6s\n", "scenario", "mode", "pools",
		       "msgs/s", "min", "max", "%ideal", "x least", "moves");
	for (uint32_t s = 0; s < SC_COUNT; s++)
		if (scens & (1u << s))
			scenario(&o, (enum scen)s, modes, cpus, ncpus, ticks);
	if (!o.csv)
		printf("(strategy %s; median of %lld runs of %lld s timed after %lld ms warm-up; "
		       "targets: adaptive >= 90%% of ideal everywhere, >= 1.1x least-loaded in "
		       "slow-pool and cpu-contention)\n",
		       o.strategy, (long long)o.runs, (long long)o.seconds, (long long)o.warmup_ms);
	if (ticks != NULL)
		fclose(ticks);
	return 0;
}
