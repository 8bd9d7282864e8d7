/* SPDX-License-Identifier: MIT */
/* test_ctl_sim.c: both controller rules driving a fluid model of pools in simulated time. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

/* The sum of n weights (n is a handful of pools). */
static double
sum_d(const double *v, uint32_t n)
{
	return n == 0 ? 0 : v[0] + sum_d(v + 1, n - 1);
}

/* ---- adaptive and pairwise in simulated time ---- */

/*
 * A fluid model of the pools: per tick, arrivals = load * share * dt, served =
 * min(capacity * dt, queue + arrivals), busy = served / (capacity * dt). No threads, no
 * clock: dt is 1 s of simulated time and now_ms follows it.
 */
#define SIM_POOLS 4
#define SIM_TICKS 400

enum sim_busy {
	SIM_BUSY_WALL,     /* busy = time occupied / wall (a hog shows as lost capacity) */
	SIM_BUSY_CPU_WAIT, /* busy = thread CPU time / wall, wait = run-queue delay / wall */
	SIM_BUSY_CPU_ONLY, /* busy = thread CPU time / wall, no run-queue delay reported */
};

struct sim_cfg {
	enum slc_ctl_mode mode;
	uint32_t n;
	double workers[SIM_POOLS];
	double cap[SIM_POOLS]; /* msg/s */
	double w0[SIM_POOLS];
	double load_frac; /* of the current total capacity */
	uint32_t ticks;
	/* a hog on one pool's cores from hog_tick on: its capacity times hog_factor */
	double hog_factor; /* 0: none */
	uint32_t hog_pool, hog_tick;
	enum sim_busy busy;
	double noise; /* relative, uniform, on capacity and arrivals, per tick */
};

struct sim_out {
	int settle;      /* first tick from which every later tick is within 5% of ideal */
	double err_late; /* largest error 40 ticks after the start (or the hog) and later */
	double err_mean; /* mean over all ticks of the largest error */
	double q_max;    /* largest queue seen */
	double q_end;    /* largest queue at the end */
	int reversals;   /* direction reversals of a pool's weight after settling */
	int moves_after; /* ticks that moved weight after settling */
	double share[SIM_TICKS][SIM_POOLS];
};

static double
sim_rand(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(*x >> 11) / 9007199254740992.0 * 2 - 1;
}

static void
sim_run(const struct sim_cfg *cfg, struct sim_out *o)
{
	struct slc_ctl_params p;
	struct slc_ctl_sample s[SIM_POOLS];
	double q[SIM_POOLS] = {0}, err[SIM_TICKS];
	uint32_t start = cfg->hog_factor > 0 ? cfg->hog_tick : 0;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	struct slc_ctl *c;
	int e;

	cr_assert_leq(cfg->ticks, SIM_TICKS);
	memset(o, 0, sizeof(*o));
	o->settle = -1;
	slc_ctl_params_default(&p);
	p.mode = cfg->mode;
	c = slc_ctl_create(&p, cfg->n, cfg->w0, &e);
	cr_assert_not_null(c, "create: %d", e);

	for (uint32_t t = 0; t < cfg->ticks; t++) {
		const double *w = slc_ctl_weights(c);
		double capnow[SIM_POOLS], wsum = sum_d(w, cfg->n), csum = 0, load;

		for (uint32_t i = 0; i < cfg->n; i++) {
			capnow[i] = cfg->cap[i];
			if (cfg->hog_factor > 0 && i == cfg->hog_pool && t >= cfg->hog_tick)
				capnow[i] *= cfg->hog_factor;
			csum += capnow[i];
		}
		load = cfg->load_frac * csum;
		for (uint32_t i = 0; i < cfg->n; i++) {
			double arr = load * w[i] / wsum * (1 + cfg->noise * sim_rand(&rng));
			double noise = 1 + cfg->noise * sim_rand(&rng);
			double cp = capnow[i] * noise, served = fmin(cp, q[i] + arr);
			double occupied = served / cp, cpu = served / (cfg->cap[i] * noise);

			q[i] = fmax(0, q[i] + arr - served); /* no -1e-13 */
			o->q_max = fmax(o->q_max, q[i]);
			s[i] = (struct slc_ctl_sample){.queue = q[i],
			                               .completed = served,
			                               .workers = cfg->workers[i],
			                               .busy = occupied};
			if (cfg->busy != SIM_BUSY_WALL)
				s[i].busy = cpu;
			if (cfg->busy == SIM_BUSY_CPU_WAIT)
				s[i].wait = occupied - cpu;
		}
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, (uint64_t)t * 1000, NULL), 0);

		w = slc_ctl_weights(c);
		wsum = sum_d(w, cfg->n);
		err[t] = 0;
		for (uint32_t i = 0; i < cfg->n; i++) {
			double ideal = capnow[i] / csum;

			o->share[t][i] = w[i] / wsum;
			err[t] = fmax(err[t], fabs(o->share[t][i] - ideal) / ideal);
		}
		o->err_mean += err[t] / cfg->ticks;
		if (t >= start + 40)
			o->err_late = fmax(o->err_late, err[t]);
		if (t >= start && err[t] > 0.05)
			o->settle = -1;
		else if (t >= start && o->settle < 0)
			o->settle = (int)t;
	}
	for (uint32_t i = 0; i < cfg->n; i++)
		o->q_end = fmax(o->q_end, q[i]);
	if (o->settle >= 0) {
		for (uint32_t t = (uint32_t)o->settle + 1; t < cfg->ticks; t++) {
			bool moved = false;

			for (uint32_t i = 0; i < cfg->n; i++) {
				double d = o->share[t][i] - o->share[t - 1][i];
				double d_prev =
				        t >= 2 ? o->share[t - 1][i] - o->share[t - 2][i] : 0;

				moved |= d != 0;
				if (d * d_prev < 0)
					o->reversals++;
			}
			o->moves_after += moved;
		}
	}
	slc_ctl_destroy(c);
}

static void
sim_one_worker(struct sim_cfg *cfg, enum slc_ctl_mode mode)
{
	*cfg = (struct sim_cfg){.mode = mode,
	                        .n = 4,
	                        .workers = {1, 1, 1, 1},
	                        .cap = {1000, 1000, 1000, 250},
	                        .w0 = {25, 25, 25, 25},
	                        .load_frac = 0.9,
	                        .ticks = 220};
}

/* Workers 2,1,1,4, one worker per pool 4x slower (pool 1): capacities 2000, 250, 1000,
 * 4000. Initial weights follow the worker counts, the engine's natural prior. */
static void
sim_mixed_workers(struct sim_cfg *cfg, enum slc_ctl_mode mode)
{
	*cfg = (struct sim_cfg){.mode = mode,
	                        .n = 4,
	                        .workers = {2, 1, 1, 4},
	                        .cap = {2000, 250, 1000, 4000},
	                        .w0 = {2, 1, 1, 4},
	                        .load_frac = 0.9,
	                        .ticks = 220};
}

static void
expect_settled(const struct sim_cfg *cfg, const struct sim_out *o, int by, const char *what)
{
	int start = cfg->hog_factor > 0 ? (int)cfg->hog_tick : 0;

	fprintf(stderr,
	        "ctl sim %s: settle tick %d (%d after start), late error %.4f, mean error "
	        "%.4f, peak queue %.0f, moves after settling %d\n",
	        what, o->settle, o->settle - start, o->err_late, o->err_mean, o->q_max,
	        o->moves_after);
	cr_expect_geq(o->settle, 0, "%s never settled", what);
	cr_expect_leq(o->settle - start, by, "%s settled at tick %d", what, o->settle);
	cr_expect_geq((int)cfg->ticks - o->settle, 200, "%s: 200 ticks checked after settling",
	              what);
	cr_expect_eq(o->reversals, 0, "%s oscillates after settling", what);
	cr_expect_lt(o->q_end, 1, "%s: backlog drained", what);
}

Test(ctl, sim_one_worker_pools_settle_within_20_ticks)
{
	struct sim_cfg cfg;
	static struct sim_out o;

	sim_one_worker(&cfg, SLC_CTL_ADAPTIVE);
	sim_run(&cfg, &o);
	expect_settled(&cfg, &o, 20, "1,1,1,1 workers");
	cr_expect_lt(o.moves_after, 5, "quiet once settled");
}

Test(ctl, sim_mixed_workers_settle_within_20_ticks)
{
	struct sim_cfg cfg;
	static struct sim_out o;

	sim_mixed_workers(&cfg, SLC_CTL_ADAPTIVE);
	sim_run(&cfg, &o);
	expect_settled(&cfg, &o, 20, "2,1,1,4 workers");
	cr_expect_lt(o.moves_after, 5, "quiet once settled");
}

Test(ctl, sim_mixed_workers_from_equal_weights_drain_first)
{
	/*
	 * From equal weights the slow pool gets 6.5x its capacity; max_step walks it down
	 * over 5 ticks, in which it queues ~4800 messages (19 s of its capacity). Draining
	 * that needs it below its ideal share for ~20 ticks: adaptive settles later than 20
	 * here on purpose (at its ideal share the backlog would take ~190 s to drain).
	 */
	struct sim_cfg cfg;
	static struct sim_out o;

	sim_mixed_workers(&cfg, SLC_CTL_ADAPTIVE);
	for (int i = 0; i < 4; i++)
		cfg.w0[i] = 25;
	cfg.ticks = 250;
	sim_run(&cfg, &o);
	expect_settled(&cfg, &o, 45, "2,1,1,4 workers from equal weights");
}

Test(ctl, sim_cpu_hog_resettles)
{
	/* From tick 60 a hog halves pool 0's capacity. The load is 90% of the capacity left
	 * (76% before the hog), so that some split can still serve it. */
	static const enum sim_busy models[] = {SIM_BUSY_WALL, SIM_BUSY_CPU_WAIT};
	static const char *names[] = {"hog, occupied-time busy", "hog, cpu time + run-queue wait"};
	struct sim_cfg cfg;
	static struct sim_out o;

	for (int m = 0; m < 2; m++) {
		sim_one_worker(&cfg, SLC_CTL_ADAPTIVE);
		cfg.cap[3] = 250;
		cfg.load_frac = 0.9;
		cfg.hog_factor = 0.5;
		cfg.hog_pool = 0;
		cfg.hog_tick = 60;
		cfg.ticks = 280;
		cfg.busy = models[m];
		sim_run(&cfg, &o);
		expect_settled(&cfg, &o, 20, names[m]);
	}
}

Test(ctl, sim_cpu_hog_without_wait_stays_bounded)
{
	/*
	 * The degraded case: thread CPU time only. While pool 0 has no queue its CPU time
	 * looks like spare capacity that the hog really holds; only a queue reveals it. The
	 * estimate then probes upward (CTL_CEIL_CLIMB a tick) and falls back when the queue
	 * returns: a bounded cycle, not a settled split.
	 */
	struct sim_cfg cfg;
	static struct sim_out o;

	sim_one_worker(&cfg, SLC_CTL_ADAPTIVE);
	cfg.hog_factor = 0.5;
	cfg.hog_tick = 60;
	cfg.ticks = 280;
	cfg.busy = SIM_BUSY_CPU_ONLY;
	sim_run(&cfg, &o);
	fprintf(stderr, "ctl sim hog, cpu time only: late error %.4f, mean %.4f, peak queue %.0f\n",
	        o.err_late, o.err_mean, o.q_max);
	cr_expect_lt(o.err_late, 0.20);
	cr_expect_lt(o.err_mean, 0.12);
}

Test(ctl, sim_noisy_pools_stay_near_ideal)
{
	struct sim_cfg cfg;
	static struct sim_out o;

	sim_one_worker(&cfg, SLC_CTL_ADAPTIVE);
	cfg.noise = 0.05;
	sim_run(&cfg, &o);
	fprintf(stderr, "ctl sim noise 5%%: settle %d, late error %.4f, moves after %d\n", o.settle,
	        o.err_late, o.moves_after);
	cr_expect_geq(o.settle, 0);
	cr_expect_leq(o.settle, 20);

	cfg.noise = 0.10;
	sim_run(&cfg, &o);
	fprintf(stderr, "ctl sim noise 10%%: settle %d, late error %.4f, moves after %d\n",
	        o.settle, o.err_late, o.moves_after);
	cr_expect_lt(o.err_late, 0.12);
}

Test(ctl, sim_pairwise_does_worse)
{
	static const char *names[] = {"1,1,1,1 workers", "2,1,1,4 workers", "hog"};
	struct sim_cfg cfg;
	static struct sim_out a, pw;

	for (int v = 0; v < 3; v++) {
		for (int m = 0; m < 2; m++) {
			enum slc_ctl_mode mode = m ? SLC_CTL_PAIRWISE : SLC_CTL_ADAPTIVE;

			if (v == 1)
				sim_mixed_workers(&cfg, mode);
			else
				sim_one_worker(&cfg, mode);
			/* pairwise needs integer weights fine enough to express the split */
			if (v == 1)
				memcpy(cfg.w0, (double[]){25, 12, 13, 50}, sizeof(cfg.w0));
			else
				memcpy(cfg.w0, (double[]){25, 25, 25, 25}, sizeof(cfg.w0));
			if (v == 2) {
				cfg.hog_factor = 0.5;
				cfg.hog_tick = 60;
				cfg.ticks = 280;
			}
			sim_run(&cfg, m ? &pw : &a);
		}
		fprintf(stderr,
		        "ctl sim %s: adaptive settle %d mean error %.3f peak queue %.0f | pairwise "
		        "settle %d mean error %.3f late error %.3f peak queue %.0f\n",
		        names[v], a.settle, a.err_mean, a.q_max, pw.settle, pw.err_mean,
		        pw.err_late, pw.q_max);
		cr_expect_geq(a.settle, 0, "%s", names[v]);
		cr_expect(pw.settle < 0 || pw.settle > a.settle + 20, "%s: pairwise settle %d",
		          names[v], pw.settle);
		cr_expect_gt(pw.err_mean, 3 * a.err_mean, "%s", names[v]);
		cr_expect_gt(pw.q_max, 2 * a.q_max, "%s", names[v]);
	}
}
