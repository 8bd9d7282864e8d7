/* SPDX-License-Identifier: MIT */
/* ctl_loop.c: the controller's thread: pool samples in, route tables out. */
#include "ctl/ctl_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What the previous sample of one worker read, to take differences. */
struct worker_prev {
	uint64_t processed;
	uint64_t busy_ns;
	uint64_t cpu_ns;
	uint64_t wait_ns;
	int fd; /* /proc/self/task/TID/schedstat, -1 until the worker runs */
};

struct slc_ctl_loop {
	struct slc_ctl_loop_cfg cfg;
	uint32_t npools;
	uint32_t nworkers;
	struct slc_ctl *ctl;
	struct worker_prev *prev;
	struct slc_ctl_sample *samples;
	double *cpu;
	double *wait;
	uint64_t t0_ns;
	uint64_t prev_ns; /* 0: no baseline yet */
	uint64_t ticks;
	uint64_t reads; /* schedstat reads */
	/* New parameters for the next tick (slc_ctl_loop_params_set), or NULL. Whoever takes
	 * the pointer out of it by an exchange owns it: the loop applies and frees it, a
	 * setter frees the one it displaced, destroy frees what is left. */
	_Atomic(struct slc_ctl_params *) next_params;

	pthread_mutex_t mu; /* guards the fields below: what readers see */
	double *weights;
	struct slc_ctl_loop_stats st;

	pthread_mutex_t wake_mu;
	pthread_cond_t wake;
	bool stop;
	bool running;
	pthread_t thread;
};

/*
 * Reads "run_ns wait_ns timeslices" from the worker's schedstat. The file is kept open:
 * pread at offset 0 makes the kernel generate it afresh. Returns false when the worker
 * has not started or the file is unreadable (the kernel lacks CONFIG_SCHED_INFO): the
 * caller then counts no CPU and no wait for it.
 */
static bool
read_schedstat(struct worker_prev *p, struct slc_worker *w, uint64_t *run_ns, uint64_t *wait_ns)
{
	char buf[96];
	ssize_t n;

	if (p->fd < 0) {
		int tid = atomic_load_explicit(&w->tid, memory_order_relaxed);
		char path[64];

		if (tid == 0)
			return false;
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
		p->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (p->fd < 0)
			return false;
	}
	n = pread(p->fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return sscanf(buf, "%" SCNu64 " %" SCNu64, run_ns, wait_ns) == 2;
}

/*
 * What the loop's samples mean, over the parameters it is given (at create and at every
 * reload): its busy is handler time, occupied time (see ctl_loop.h); a queue means
 * saturation only at half a ring or more, since a producer's burst of a few batches does
 * not.
 */
static void
loop_params(const struct slc_ctl_loop *l, struct slc_ctl_params *params)
{
	double half = slc_worker_ring(slc_pool_set_worker(l->cfg.pools, 0), 0)->capacity / 2.0;

	params->busy_occupied = true;
	if (params->sat_queue < half)
		params->sat_queue = half;
}

/* The loop's memory, what create allocated before anything else; any part may be NULL. */
static void
loop_free(struct slc_ctl_loop *l)
{
	free(l->weights);
	free(l->wait);
	free(l->cpu);
	free(l->samples);
	free(l->prev);
	free(l);
}

struct slc_ctl_loop *
slc_ctl_loop_create(const struct slc_ctl_loop_cfg *cfg, int *err)
{
	struct slc_ctl_loop *l;
	struct slc_ctl_params params;
	double *w0 = NULL;
	int rc;

	if (cfg->pools == NULL || cfg->interval_ms == 0) {
		*err = -EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	l->cfg = *cfg;
	l->npools = slc_pool_set_npools(cfg->pools);
	l->nworkers = l->npools * slc_pool_set_workers(cfg->pools);
	l->prev = calloc(l->nworkers, sizeof(*l->prev));
	l->samples = calloc(l->npools, sizeof(*l->samples));
	l->cpu = calloc(l->npools, sizeof(*l->cpu));
	l->wait = calloc(l->npools, sizeof(*l->wait));
	l->weights = calloc(l->npools, sizeof(*l->weights));
	w0 = calloc(l->npools, sizeof(*w0));
	if (l->prev == NULL || l->samples == NULL || l->cpu == NULL || l->wait == NULL ||
	    l->weights == NULL || w0 == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	for (uint32_t g = 0; g < l->nworkers; g++)
		l->prev[g].fd = -1;
	for (uint32_t i = 0; i < l->npools; i++)
		w0[i] = cfg->initial_weights != NULL ? cfg->initial_weights[i] : 1.0;
	if (cfg->params.mode == SLC_CTL_PAIRWISE && cfg->initial_weights == NULL) {
		/* Pairwise moves whole units of the initial table: equal weights of 1 could not
		 * move at all above min_weight 1, so equal means 100 units spread evenly. */
		for (uint32_t i = 0; i < l->npools; i++)
			w0[i] = (double)(100 / l->npools);
	}
	params = cfg->params;
	loop_params(l, &params);
	l->ctl = slc_ctl_create(&params, l->npools, w0, &rc);
	if (l->ctl == NULL)
		goto err_free;
	memcpy(l->weights, slc_ctl_weights(l->ctl), l->npools * sizeof(double));
	free(w0);
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->wake_mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&l->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	*err = 0;
	return l;

err_free:
	free(w0);
	loop_free(l);
	*err = rc;
	return NULL;
}

/* Fills l->samples and l->cpu for the dt_ns since the previous sample, and moves prev on. */
static void
sample_pools(struct slc_ctl_loop *l, uint64_t dt_ns)
{
	uint32_t nw = slc_pool_set_workers(l->cfg.pools);
	double dt = (double)dt_ns;

	for (uint32_t p = 0; p < l->npools; p++) {
		struct slc_ctl_sample *s = &l->samples[p];
		double busy = 0, wait = 0, cpu = 0, inflight = 0, completed = 0;
		uint64_t queued = slc_pool_queued(l->cfg.pools, p);

		for (uint32_t k = 0; k < nw; k++) {
			uint32_t g = p * nw + k;
			struct slc_worker *w = slc_pool_set_worker(l->cfg.pools, g);
			struct worker_prev *pv = &l->prev[g];
			uint64_t processed, busy_ns, run_ns, wait_ns, infl;
			bool idle;

			processed = atomic_load_explicit(&w->st.processed, memory_order_relaxed);
			busy_ns = atomic_load_explicit(&w->st.busy_ns, memory_order_relaxed);
			infl = atomic_load_explicit(&w->st.inflight, memory_order_relaxed);
			inflight += (double)infl;
			completed += (double)(processed - pv->processed);
			busy += (double)(busy_ns - pv->busy_ns) / dt;
			/* An idle worker (nothing done, nothing in hand or queued for its pool)
			 * ran next to nothing: its schedstat is not read, which was most of an
			 * idle daemon's cost with many workers. The time it did run (its timed
			 * wake-ups) stays in its counters and lands in the next tick that reads
			 * them. */
			idle = pv->fd >= 0 && processed == pv->processed &&
			       busy_ns == pv->busy_ns && infl == 0 && queued == 0;
			pv->processed = processed;
			pv->busy_ns = busy_ns;
			if (!idle && (l->reads++, read_schedstat(pv, w, &run_ns, &wait_ns))) {
				/* A worker seen for the first time has no earlier figure: no delta. */
				if (pv->cpu_ns != 0 || pv->wait_ns != 0) {
					cpu += (double)(run_ns - pv->cpu_ns) / dt;
					wait += (double)(wait_ns - pv->wait_ns) / dt;
				}
				pv->cpu_ns = run_ns;
				pv->wait_ns = wait_ns;
			}
		}
		s->workers = nw;
		s->completed = completed;
		s->inflight = inflight;
		s->busy = busy / nw > 1 ? 1 : busy / nw;
		/* Handler time already holds the run-queue delay a worker suffered while it had
		 * work in hand (a hog on its core stretches it); adding schedstat's wait would
		 * count that twice. Delay between batches shows up as queue instead. */
		s->wait = 0;
		l->wait[p] = wait / nw;
		/* The rings still hold the batch in the handler (slots are freed after it). */
		s->queue = (double)slc_pool_queued(l->cfg.pools, p) - inflight;
		if (s->queue < 0)
			s->queue = 0;
		l->cpu[p] = cpu / nw;
	}
}

/* NUMA locality: a node whose own pools are saturated spills onto the others' pools, and
 * comes back once they have drained (router.h has the rule). The samples' queues already
 * leave out the messages in the handlers. */
static void
spill_update(struct slc_ctl_loop *l, int *perr)
{
	double fill[SLC_POOLS_MAX];
	int rc;

	for (uint32_t p = 0; p < l->npools && p < SLC_POOLS_MAX; p++)
		fill[p] = l->samples[p].queue / (double)slc_pool_capacity(l->cfg.pools, p);
	rc = slc_route_spill_update(l->cfg.route, fill);
	if (rc < 0 && *perr == 0)
		*perr = rc;
}

/* What slc_ctl_loop_params_set left, applied before the tick that follows it; true when
 * there was some. */
static bool
params_take(struct slc_ctl_loop *l)
{
	/* Acquire: pairs with the release in slc_ctl_loop_params_set; the struct's bytes,
	 * written before it, are seen here. */
	struct slc_ctl_params *p =
	        atomic_exchange_explicit(&l->next_params, NULL, memory_order_acquire);

	if (p == NULL)
		return false;
	/* Checked against the same controller by the setter: this cannot fail. */
	(void)slc_ctl_params_set(l->ctl, p);
	free(p);
	return true;
}

int
slc_ctl_loop_params_set(struct slc_ctl_loop *l, const struct slc_ctl_params *p)
{
	struct slc_ctl_params *copy, *old;
	uint32_t n = l->npools;

	/* The mode is fixed at create and the pool count too: both read from cfg, never
	 * written, so this check needs nothing the loop thread writes. */
	if (slc_ctl_params_check(p) != 0 || p->mode != l->cfg.params.mode ||
	    (p->mode == SLC_CTL_ADAPTIVE && n * p->min_weight >= SLC_CTL_ADAPTIVE_TOTAL))
		return -EINVAL;
	copy = malloc(sizeof(*copy));
	if (copy == NULL)
		return -ENOMEM;
	*copy = *p;
	loop_params(l, copy);
	/* Release: pairs with the acquire in params_take. */
	old = atomic_exchange_explicit(&l->next_params, copy, memory_order_acq_rel);
	free(old);
	return 0;
}

int
slc_ctl_loop_step(struct slc_ctl_loop *l)
{
	struct slc_ctl_result res;
	struct slc_ctl_loop_tick t;
	uint64_t now = slc_mono_ns();
	int changed, perr = 0;
	bool taken;
	double dt_s;

	if (l->prev_ns == 0) {
		l->t0_ns = now;
		l->prev_ns = now;
		sample_pools(l, 1);
		return 0;
	}
	if (now == l->prev_ns)
		return 0;
	taken = params_take(l);
	dt_s = (double)(now - l->prev_ns) * 1e-9;
	sample_pools(l, now - l->prev_ns);
	changed = slc_ctl_tick(l->ctl, l->samples, dt_s, (now - l->t0_ns) / 1000000u, &res);
	l->prev_ns = now;
	if (changed < 0)
		return changed;
	if (changed == 1 && l->cfg.route != NULL)
		perr = slc_route_publish(l->cfg.route, slc_ctl_weights(l->ctl));
	if (l->cfg.route != NULL && l->cfg.route->nnodes > 1)
		spill_update(l, &perr);
	l->ticks++;
	pthread_mutex_lock(&l->mu);
	memcpy(l->weights, slc_ctl_weights(l->ctl), l->npools * sizeof(double));
	l->st.ticks = l->ticks;
	l->st.changes += changed == 1;
	l->st.publish_errors += perr != 0;
	l->st.params_taken += taken;
	l->st.last_reason = res.reason;
	l->st.schedstat_reads = l->reads;
	pthread_mutex_unlock(&l->mu);
	if (l->cfg.on_tick != NULL) {
		t = (struct slc_ctl_loop_tick){
		        .tick = l->ticks,
		        .t_s = (double)(now - l->t0_ns) * 1e-9,
		        .interval_s = dt_s,
		        .npools = l->npools,
		        .samples = l->samples,
		        .cpu = l->cpu,
		        .wait = l->wait,
		        .weights = slc_ctl_weights(l->ctl),
		        .result = &res,
		        .changed = changed,
		        .publish_err = perr,
		};
		l->cfg.on_tick(l->cfg.ctx, &t);
	}
	return changed;
}

static void *
loop_main(void *arg)
{
	struct slc_ctl_loop *l = arg;
	uint64_t next = slc_mono_ns();

	pthread_setname_np(pthread_self(), "slc-ctl");
	pthread_mutex_lock(&l->wake_mu);
	while (!l->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&l->wake_mu);
		slc_ctl_loop_step(l);
		next += (uint64_t)l->cfg.interval_ms * 1000000u;
		/* Fell behind (a stopped process, a long tick): start counting again from now
		 * rather than ticking back to back to catch up. */
		if (next < slc_mono_ns())
			next = slc_mono_ns() + (uint64_t)l->cfg.interval_ms * 1000000u;
		ts = slc_timespec_from_ns(next);
		pthread_mutex_lock(&l->wake_mu);
		while (!l->stop && pthread_cond_timedwait(&l->wake, &l->wake_mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&l->wake_mu);
	return NULL;
}

int
slc_ctl_loop_start(struct slc_ctl_loop *l)
{
	int rc;

	l->stop = false;
	rc = pthread_create(&l->thread, NULL, loop_main, l);
	if (rc != 0)
		return -rc;
	l->running = true;
	return 0;
}

void
slc_ctl_loop_stop(struct slc_ctl_loop *l)
{
	if (!l->running)
		return;
	pthread_mutex_lock(&l->wake_mu);
	l->stop = true;
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->wake_mu);
	pthread_join(l->thread, NULL);
	l->running = false;
}

void
slc_ctl_loop_destroy(struct slc_ctl_loop *l)
{
	if (l == NULL)
		return;
	slc_ctl_loop_stop(l);
	for (uint32_t g = 0; g < l->nworkers; g++)
		if (l->prev[g].fd >= 0)
			close(l->prev[g].fd);
	slc_ctl_destroy(l->ctl);
	free(atomic_load_explicit(&l->next_params, memory_order_acquire));
	pthread_cond_destroy(&l->wake);
	pthread_mutex_destroy(&l->wake_mu);
	pthread_mutex_destroy(&l->mu);
	loop_free(l);
}

void
slc_ctl_loop_weights(struct slc_ctl_loop *l, double *out)
{
	pthread_mutex_lock(&l->mu);
	memcpy(out, l->weights, l->npools * sizeof(double));
	pthread_mutex_unlock(&l->mu);
}

void
slc_ctl_loop_stats(struct slc_ctl_loop *l, struct slc_ctl_loop_stats *out)
{
	pthread_mutex_lock(&l->mu);
	*out = l->st;
	pthread_mutex_unlock(&l->mu);
}
