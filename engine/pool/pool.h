/* SPDX-License-Identifier: MIT */
/* pool.h: worker pools: threads pinned to cores that drain their input rings into a handler. */
#ifndef SLC_ENGINE_POOL_H
#define SLC_ENGINE_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "msg.h"
#include "park.h"
#include "ring.h"

/*
 * A pool set holds P pools of W workers each; worker g = pool * W + w. Every worker has one
 * SPSC input ring per producer (a reactor, or the benchmark's feeder), so no ring has more
 * than one writer, and one MPSC ring for threads that submit through the embedding API
 * (slc_pool_try_submit). A worker takes messages in place (peek), hands them to the handler
 * in a batch, gives their buffers back (release callback), and only then frees the ring
 * slots: a ring's consumer index is therefore also the count of messages *done*, which the
 * router's ordered strategy reads to know when a shard has nothing in flight.
 *
 *   worker:  peek burst --> handler(batch) --> release(batch) --> dequeue_release
 *               ^                                                      |
 *               +---- rings empty: spin, then park until a producer wakes it
 */

#define SLC_POOLS_MAX     64
#define SLC_WORKERS_MAX   256
#define SLC_PRODUCERS_MAX 64

/* Handles n messages on worker `worker` (global index). Runs on the worker's thread. */
typedef void (*slc_pool_handler_fn)(void *ctx, uint32_t worker, const struct slc_msg *msgs,
                                    uint32_t n);
/* Gives the messages' buffers back to whoever owns them (the reactor). */
typedef void (*slc_pool_release_fn)(void *ctx, const struct slc_msg *msgs, uint32_t n);
/* Worker `worker` freed slots of producer `producer`'s ring: a producer that paused for
 * a full ring may go on (the reactor retries its paused connections when kicked). */
typedef void (*slc_pool_room_fn)(void *ctx, uint32_t producer);
/* Worker `worker` found its rings empty and is about to wait: after catching up, and
 * again after each park timeout while idle. A sink flushes here. Returns true while
 * something is pending (a flush not yet done): the worker comes back after
 * SLC_POOL_PARK_SHORT_NS. false: it sleeps until work or a wake comes (stop, reopen), or
 * SLC_POOL_PARK_LONG_NS passes, so that an idle worker costs (next to) nothing. */
typedef bool (*slc_pool_idle_fn)(void *ctx, uint32_t worker);
/* The worker drained its rings at stop and is about to exit. */
typedef void (*slc_pool_exit_fn)(void *ctx, uint32_t worker);

#define SLC_POOL_PARK_SHORT_NS (100 * 1000000ll)   /* 100 ms */
#define SLC_POOL_PARK_LONG_NS  (10000 * 1000000ll) /* 10 s: a safety net, nothing needs it */

struct slc_pool_cfg {
	uint32_t npools;
	uint32_t workers;   /* per pool */
	uint32_t producers; /* SPSC input rings per worker */
	uint32_t ring_size; /* slots per input ring (power of two) */
	slc_pool_handler_fn handler;
	void *handler_ctx;
	slc_pool_release_fn release; /* NULL: nothing to give back */
	void *release_ctx;
	slc_pool_idle_fn idle; /* NULL: nothing to do when idle */
	void *idle_ctx;
	slc_pool_room_fn room; /* NULL: producers retry on their own */
	void *room_ctx;
	/* Called on each worker's own thread after it drained its rings at stop, before it
	 * exits (a sink closes there); NULL: nothing. The idle_ctx is passed. */
	slc_pool_exit_fn exit;
	const int *worker_cpu; /* per worker, -1 or NULL: not pinned */
	uint32_t spin_iters;   /* polls of empty rings before parking; 0: a default */
};

#define SLC_POOL_LATENCY_BUCKETS 64

/* Per-worker counters, written by the worker, read from any thread (relaxed). */
struct slc_worker_stats {
	_Atomic uint64_t processed;
	_Atomic uint64_t batches;
	_Atomic uint64_t busy_ns; /* time inside the handler */
	_Atomic uint64_t parks;
	/* Messages taken from the rings and not yet done (in the handler): 0 or the batch. */
	_Atomic uint64_t inflight;
	/* Handler time per message, log2 buckets of ns: [i] counts 2^i <= t < 2^(i+1)
	 * (slc_pool_latency_bucket); [0] also counts 0. */
	_Atomic uint64_t latency_log2_ns[SLC_POOL_LATENCY_BUCKETS];
};

/* The latency_log2_ns bucket of t ns: every uint64_t has its own, none is folded. */
static inline unsigned
slc_pool_latency_bucket(uint64_t t_ns)
{
	return t_ns == 0 ? 0 : 63u - (unsigned)__builtin_clzll(t_ns);
}

struct slc_worker {
	struct slc_ring_spsc **in; /* [producers] */
	struct slc_ring_mpsc *ext; /* embedding API submissions */
	struct slc_ring_park park;
	struct slc_pool_set *set;
	uint32_t index;
	int cpu;
	_Atomic int tid; /* kernel thread id once running, for /proc schedstat; 0 before */
	pthread_t thread;
	struct slc_worker_stats st;
};

struct slc_pool_set;

/* Creates the rings and workers (threads not started). NULL with *err: -EINVAL, -ENOMEM. */
struct slc_pool_set *slc_pool_set_create(const struct slc_pool_cfg *cfg, int *err);
/* Starts every worker thread. 0 or -errno. */
int slc_pool_set_start(struct slc_pool_set *s);
/*
 * Refuses new embedding submissions (-ESHUTDOWN), lets the workers finish everything in
 * their rings, then stops and joins them. Producers must have stopped producing.
 */
void slc_pool_set_drain_stop(struct slc_pool_set *s);
/* Accepts NULL; stops first if needed. */
void slc_pool_set_destroy(struct slc_pool_set *s);

uint32_t slc_pool_set_npools(const struct slc_pool_set *s);
uint32_t slc_pool_set_workers(const struct slc_pool_set *s); /* per pool */
struct slc_worker *slc_pool_set_worker(struct slc_pool_set *s, uint32_t g);

/* Messages waiting in all input rings of pool p, and the sum of their capacities. */
uint64_t slc_pool_queued(const struct slc_pool_set *s, uint32_t p);
uint64_t slc_pool_capacity(const struct slc_pool_set *s, uint32_t p);

/* The SPSC ring from producer `prod` to worker g. */
static inline struct slc_ring_spsc *
slc_worker_ring(struct slc_worker *w, uint32_t prod)
{
	return w->in[prod];
}

/*
 * Embedding API: routes one message to a worker of pool p (the least loaded) through its
 * MPSC ring. Never blocks. Returns 0, -EAGAIN if every worker's ring is full,
 * -ESHUTDOWN once drain_stop began, or -EINVAL for a pool p that does not exist or a
 * message whose conn carries QoS class bits (SLC_MSG_CONN_QOS_MASK without
 * SLC_MSG_CONN_UDP: msg.h reserves them for the reactor).
 */
int slc_pool_try_submit(struct slc_pool_set *s, uint32_t p, const struct slc_msg *m);
/* As try_submit, waiting up to timeout_ms for room: 0, -ETIMEDOUT, -ESHUTDOWN or -EINVAL. */
int slc_pool_submit(struct slc_pool_set *s, uint32_t p, const struct slc_msg *m,
                    uint32_t timeout_ms);

#endif /* SLC_ENGINE_POOL_H */
