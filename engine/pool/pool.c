/* SPDX-License-Identifier: MIT */
/* pool.c: worker threads draining their rings in batches, parking when idle. */
#include "pool/pool.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "numa.h"

#define BURST         256
#define EXT_RING_SIZE 1024

struct slc_pool_set {
	struct slc_pool_cfg cfg;
	uint32_t nworkers;
	struct slc_worker *w;
	_Atomic bool shutting_down; /* embedding submissions refused */
	_Atomic bool stop;          /* workers exit once their rings are empty */
	bool started;
};

static inline void
stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

static bool
worker_has_work(void *arg)
{
	struct slc_worker *w = arg;

	for (uint32_t j = 0; j < w->set->cfg.producers; j++)
		if (slc_ring_spsc_count(w->in[j]) != 0)
			return true;
	return slc_ring_mpsc_count(w->ext) != 0;
}

/*
 * What ends a worker's park: work, or the stop. A stop stored while the worker was between
 * its check of the flag and its announcement of sleep finds it AWAKE, so the stopper's wake
 * does nothing: the re-check after the announcement must see the flag, or the worker would
 * sleep out SLC_POOL_PARK_LONG_NS with nothing to do.
 */
static bool
worker_wake_ready(void *arg)
{
	struct slc_worker *w = arg;

	return atomic_load_explicit(&w->set->stop, memory_order_acquire) || worker_has_work(w);
}

static void
worker_handle(struct slc_worker *w, const struct slc_msg *m, uint32_t n)
{
	struct slc_pool_set *s = w->set;
	uint64_t t0 = slc_mono_ns(), dt;
	unsigned b;

	atomic_store_explicit(&w->st.inflight, n, memory_order_relaxed);
	s->cfg.handler(s->cfg.handler_ctx, w->index, m, n);
	dt = slc_mono_ns() - t0;
	if (s->cfg.release != NULL)
		s->cfg.release(s->cfg.release_ctx, m, n);
	stat_add(&w->st.processed, n);
	atomic_store_explicit(&w->st.inflight, 0, memory_order_relaxed);
	stat_add(&w->st.batches, 1);
	stat_add(&w->st.busy_ns, dt);
	b = slc_pool_latency_bucket(dt / n);
	stat_add(&w->st.latency_log2_ns[b], n);
}

/* One pass over the worker's rings; returns how many messages it handled. */
static uint32_t
worker_poll(struct slc_worker *w)
{
	uint32_t total = 0;

	for (uint32_t j = 0; j < w->set->cfg.producers; j++) {
		const void *slots;
		uint32_t n = slc_ring_spsc_dequeue_peek(w->in[j], BURST, &slots);

		if (n == 0)
			continue;
		worker_handle(w, slots, n);
		/* Frees the slots; the consumer index now counts these as done. */
		slc_ring_spsc_dequeue_release(w->in[j], n);
		/* Only now is there room: a producer woken by the release above may have found
		 * the ring still full and paused again, so it is told once more. */
		if (w->set->cfg.room != NULL)
			w->set->cfg.room(w->set->cfg.room_ctx, j);
		total += n;
	}
	{
		const void *slots;
		uint32_t n = slc_ring_mpsc_dequeue_peek(w->ext, BURST, &slots);

		if (n != 0) {
			worker_handle(w, slots, n);
			slc_ring_mpsc_dequeue_release(w->ext, n);
			total += n;
		}
	}
	return total;
}

static void *
worker_main(void *arg)
{
	struct slc_worker *w = arg;
	struct slc_pool_set *s = w->set;
	char name[16];

	snprintf(name, sizeof(name), "slc-worker-%u", w->index);
	pthread_setname_np(pthread_self(), name);
	atomic_store_explicit(&w->tid, (int)gettid(), memory_order_relaxed);
	slc_numa_pin_cpu(w->cpu);
	for (;;) {
		bool pending = false;

		if (worker_poll(w) != 0)
			continue;
		if (s->cfg.idle != NULL)
			pending = s->cfg.idle(s->cfg.idle_ctx, w->index);
		/* Stop only with empty rings: everything accepted is handled. */
		if (atomic_load_explicit(&s->stop, memory_order_acquire) && !worker_has_work(w))
			break;
		/* Nothing pending: no reason to come back before work or a wake does (an idle
		 * worker woke every 100 ms and spun each time: 0.14% of a CPU apiece). */
		if (!slc_ring_park_idle(&w->park, worker_wake_ready, w,
		                        pending ? SLC_POOL_PARK_SHORT_NS : SLC_POOL_PARK_LONG_NS))
			stat_add(&w->st.parks, 1);
	}
	if (s->cfg.exit != NULL)
		s->cfg.exit(s->cfg.idle_ctx, w->index);
	return NULL;
}

static bool
pow2(uint32_t v)
{
	return v >= 2 && (v & (v - 1)) == 0;
}

struct slc_pool_set *
slc_pool_set_create(const struct slc_pool_cfg *cfg, int *err)
{
	struct slc_pool_set *s;
	size_t rlen = slc_ring_spsc_memsize(cfg->ring_size, sizeof(struct slc_msg));
	size_t elen = slc_ring_mpsc_memsize(EXT_RING_SIZE, sizeof(struct slc_msg));

	if (cfg->npools == 0 || cfg->npools > SLC_POOLS_MAX || cfg->workers == 0 ||
	    cfg->npools * cfg->workers > SLC_WORKERS_MAX || cfg->producers == 0 ||
	    cfg->producers > SLC_PRODUCERS_MAX || !pow2(cfg->ring_size) || rlen == 0 ||
	    cfg->handler == NULL) {
		*err = -EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto err_nomem;
	s->cfg = *cfg;
	s->cfg.worker_cpu = NULL; /* copied into each worker below */
	if (s->cfg.spin_iters == 0)
		s->cfg.spin_iters = 2000;
	s->nworkers = cfg->npools * cfg->workers;
	s->w = calloc(s->nworkers, sizeof(*s->w));
	if (s->w == NULL)
		goto err_nomem;
	for (uint32_t g = 0; g < s->nworkers; g++) {
		struct slc_worker *w = &s->w[g];

		w->set = s;
		w->index = g;
		w->cpu = cfg->worker_cpu != NULL ? cfg->worker_cpu[g] : -1;
		slc_ring_park_init(&w->park, s->cfg.spin_iters);
		w->in = calloc(cfg->producers, sizeof(*w->in));
		w->ext = aligned_alloc(SLC_RING_ALIGN, elen);
		if (w->in == NULL || w->ext == NULL)
			goto err_nomem;
		slc_ring_mpsc_init(w->ext, EXT_RING_SIZE, sizeof(struct slc_msg));
		for (uint32_t j = 0; j < cfg->producers; j++) {
			w->in[j] = aligned_alloc(SLC_RING_ALIGN, rlen);
			if (w->in[j] == NULL)
				goto err_nomem;
			slc_ring_spsc_init(w->in[j], cfg->ring_size, sizeof(struct slc_msg));
		}
	}
	*err = 0;
	return s;

err_nomem:
	slc_pool_set_destroy(s);
	*err = -ENOMEM;
	return NULL;
}

int
slc_pool_set_start(struct slc_pool_set *s)
{
	for (uint32_t g = 0; g < s->nworkers; g++) {
		int rc = pthread_create(&s->w[g].thread, NULL, worker_main, &s->w[g]);

		if (rc != 0) {
			/* Stop the ones already running. */
			atomic_store_explicit(&s->stop, true, memory_order_release);
			for (uint32_t k = 0; k < g; k++) {
				slc_ring_park_wake(&s->w[k].park);
				pthread_join(s->w[k].thread, NULL);
			}
			return -rc;
		}
	}
	s->started = true;
	return 0;
}

void
slc_pool_set_drain_stop(struct slc_pool_set *s)
{
	atomic_store_explicit(&s->shutting_down, true, memory_order_release);
	if (!s->started)
		return;
	/* Release: pairs with the acquire in worker_main; the workers drain, then exit. */
	atomic_store_explicit(&s->stop, true, memory_order_release);
	for (uint32_t g = 0; g < s->nworkers; g++)
		slc_ring_park_wake(&s->w[g].park);
	for (uint32_t g = 0; g < s->nworkers; g++)
		pthread_join(s->w[g].thread, NULL);
	s->started = false;
}

void
slc_pool_set_destroy(struct slc_pool_set *s)
{
	if (s == NULL)
		return;
	slc_pool_set_drain_stop(s);
	for (uint32_t g = 0; s->w != NULL && g < s->nworkers; g++) {
		struct slc_worker *w = &s->w[g];

		for (uint32_t j = 0; w->in != NULL && j < s->cfg.producers; j++)
			free(w->in[j]);
		free(w->in);
		free(w->ext);
	}
	free(s->w);
	free(s);
}

uint32_t
slc_pool_set_npools(const struct slc_pool_set *s)
{
	return s->cfg.npools;
}

uint32_t
slc_pool_set_workers(const struct slc_pool_set *s)
{
	return s->cfg.workers;
}

struct slc_worker *
slc_pool_set_worker(struct slc_pool_set *s, uint32_t g)
{
	return g < s->nworkers ? &s->w[g] : NULL;
}

uint64_t
slc_pool_queued(const struct slc_pool_set *s, uint32_t p)
{
	uint64_t q = 0;

	for (uint32_t w = 0; w < s->cfg.workers; w++) {
		const struct slc_worker *wk = &s->w[p * s->cfg.workers + w];

		for (uint32_t j = 0; j < s->cfg.producers; j++)
			q += slc_ring_spsc_count(wk->in[j]);
		q += slc_ring_mpsc_count(wk->ext);
	}
	return q;
}

uint64_t
slc_pool_capacity(const struct slc_pool_set *s, uint32_t p)
{
	(void)p;
	return (uint64_t)s->cfg.workers * (s->cfg.producers * s->cfg.ring_size + EXT_RING_SIZE);
}

int
slc_pool_try_submit(struct slc_pool_set *s, uint32_t p, const struct slc_msg *m)
{
	struct slc_worker *best = NULL;
	uint32_t best_q = UINT32_MAX;

	if (atomic_load_explicit(&s->shutting_down, memory_order_acquire))
		return -ESHUTDOWN;
	if (p >= s->cfg.npools)
		return -EINVAL;
	/* The class bits are the reactor's (msg.h): a worker would lower a class's in-flight
	 * count by them that nothing raised, and the class's cap would drift open. */
	if ((m->conn & SLC_MSG_CONN_UDP) == 0 && (m->conn & SLC_MSG_CONN_QOS_MASK) != 0)
		return -EINVAL;
	for (uint32_t w = 0; w < s->cfg.workers; w++) {
		struct slc_worker *wk = &s->w[p * s->cfg.workers + w];
		uint32_t q = slc_ring_mpsc_count(wk->ext);

		if (q < best_q) {
			best_q = q;
			best = wk;
		}
	}
	if (slc_ring_mpsc_enqueue(best->ext, m) != 0)
		return -EAGAIN;
	slc_ring_park_wake(&best->park);
	return 0;
}

int
slc_pool_submit(struct slc_pool_set *s, uint32_t p, const struct slc_msg *m, uint32_t timeout_ms)
{
	uint64_t deadline = slc_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	unsigned spins = 0;

	for (;;) {
		int rc = slc_pool_try_submit(s, p, m);

		if (rc != -EAGAIN)
			return rc;
		if (slc_mono_ns() >= deadline)
			return -ETIMEDOUT;
		if (++spins % 64 == 0)
			usleep(50);
		else
			sched_yield();
	}
}
