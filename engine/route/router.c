/* SPDX-License-Identifier: MIT */
/* router.c: weight tables (smooth round robin, minimal-move slot and shard maps) and dispatch. */
#include "route/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h" /* SLC_UNLIKELY */

#define DISPATCH_MAX 256 /* messages routed per internal step */

/* ---- tables ------------------------------------------------------------------------- */

/*
 * Integer weights summing to SLC_ROUTE_WEIGHT_TOTAL, each at least 1, by largest remainder.
 * With zero_ok, a weight of exactly 0 stays 0 (a locality table's other nodes' pools).
 */
static int
normalise(const double *in, uint32_t n, uint32_t *out, bool zero_ok)
{
	double sum = 0, rem[SLC_POOLS_MAX];
	uint32_t given = 0, spare, kept = 0;

	if (n == 0 || n > SLC_POOLS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (!(in[i] >= 0))
			return -EINVAL;
		sum += in[i];
	}
	if (!(sum > 0))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		kept += !(zero_ok && in[i] == 0);
	spare = SLC_ROUTE_WEIGHT_TOTAL - kept;
	/* Each pool keeps 1; the rest is shared in proportion. */
	for (uint32_t i = 0; i < n; i++) {
		double share = in[i] / sum * spare;

		if (zero_ok && in[i] == 0) {
			out[i] = 0;
			rem[i] = -1;
			continue;
		}
		out[i] = 1 + (uint32_t)share;
		rem[i] = share - (uint32_t)share;
		given += out[i];
	}
	while (given < SLC_ROUTE_WEIGHT_TOTAL) {
		uint32_t best = 0;

		for (uint32_t i = 1; i < n; i++)
			if (rem[i] > rem[best])
				best = i;
		out[best]++;
		rem[best] = -1;
		given++;
	}
	return 0;
}

/* Smooth weighted round robin (as in nginx): each step every pool gains its weight, the
 * richest is chosen and pays the total. Runs stay as short as the weights allow. */
static void
build_sched(struct slc_route_table *t)
{
	int64_t cur[SLC_POOLS_MAX] = {0};

	for (uint32_t k = 0; k < SLC_ROUTE_WEIGHT_TOTAL; k++) {
		uint32_t best = 0;

		for (uint32_t i = 0; i < t->npools; i++) {
			cur[i] += t->weight[i];
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= SLC_ROUTE_WEIGHT_TOTAL;
		t->sched[k] = (uint16_t)best;
	}
}

/*
 * Gives each pool exactly `want[p]` entries of map[0..n) (owner = pool index, via
 * owner_of()), moving entries only out of pools above their target and only into pools
 * below it. Entries are visited in a scattered order so that the freed ones are spread.
 */
static int
rebalance_map(uint16_t *map, uint32_t n, const uint32_t *want, uint32_t npools, uint32_t workers,
              bool map_is_worker)
{
	uint32_t have[SLC_POOLS_MAX] = {0};
	uint32_t stride = 40503u; /* odd: k * stride mod 2^m visits every entry once */
	uint32_t free_n = 0;
	uint32_t *freed = malloc(n * sizeof(*freed));

	if (freed == NULL)
		return -ENOMEM;
	for (uint32_t k = 0; k < n; k++)
		have[map_is_worker ? map[k] / workers : map[k]]++;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t e = (k * stride) & (n - 1);
		uint32_t p = map_is_worker ? map[e] / workers : map[e];

		if (have[p] > want[p]) {
			have[p]--;
			freed[free_n++] = e;
		}
	}
	for (uint32_t p = 0, f = 0; p < npools; p++) {
		while (have[p] < want[p] && f < free_n) {
			uint32_t e = freed[f++];

			map[e] = (uint16_t)(map_is_worker ? p * workers : p);
			have[p]++;
		}
	}
	free(freed);
	return 0;
}

/* Inside each pool, spread its shards evenly over its workers, moving as few as possible:
 * only from workers above the ceiling of the fair share to the least loaded one. */
static void
balance_workers(uint16_t *shard_worker, uint32_t npools, uint32_t workers)
{
	uint32_t w_count[SLC_WORKERS_MAX] = {0};

	for (uint32_t s = 0; s < SLC_ROUTE_SHARDS; s++)
		w_count[shard_worker[s]]++;
	for (uint32_t p = 0; p < npools; p++) {
		uint32_t total = 0, ceil_share;

		for (uint32_t w = 0; w < workers; w++)
			total += w_count[p * workers + w];
		ceil_share = (total + workers - 1) / workers;
		for (uint32_t s = 0; s < SLC_ROUTE_SHARDS; s++) {
			uint32_t g = shard_worker[s], lo = p * workers;

			if (g / workers != p || w_count[g] <= ceil_share)
				continue;
			for (uint32_t w = 1; w < workers; w++)
				if (w_count[p * workers + w] < w_count[lo])
					lo = p * workers + w;
			w_count[g]--;
			w_count[lo]++;
			shard_worker[s] = (uint16_t)lo;
		}
	}
}

static int
table_build(struct slc_route_table *t, const struct slc_route_table *prev, const double *weights,
            uint32_t npools, uint32_t workers, bool zero_ok)
{
	uint32_t want[SLC_POOLS_MAX];
	bool fresh;

	if (workers == 0 || npools * workers > SLC_WORKERS_MAX ||
	    normalise(weights, npools, t->weight, zero_ok) != 0)
		return -EINVAL;
	t->npools = npools;
	t->workers = workers;
	t->nweighted = 0;
	for (uint32_t p = 0; p < npools; p++)
		t->nweighted += t->weight[p] != 0;
	build_sched(t);
	fresh = prev == NULL || prev->npools != npools || prev->workers != workers;

	/* Sticky slots: SLOTS / TOTAL = 64 slots per unit of weight, exactly. */
	for (uint32_t p = 0; p < npools; p++)
		want[p] = t->weight[p] * (SLC_ROUTE_SLOTS / SLC_ROUTE_WEIGHT_TOTAL);
	if (fresh) {
		for (uint32_t k = 0; k < SLC_ROUTE_SLOTS; k++)
			t->slot_pool[k] = t->sched[k % SLC_ROUTE_WEIGHT_TOTAL];
	} else {
		if (t != prev)
			memcpy(t->slot_pool, prev->slot_pool, sizeof(t->slot_pool));
		if (rebalance_map(t->slot_pool, SLC_ROUTE_SLOTS, want, npools, workers, false) != 0)
			return -ENOMEM;
	}

	/* Ordered shards: 4 shards per unit of weight. */
	for (uint32_t p = 0; p < npools; p++)
		want[p] = t->weight[p] * (SLC_ROUTE_SHARDS / SLC_ROUTE_WEIGHT_TOTAL);
	if (fresh) {
		uint32_t next[SLC_POOLS_MAX] = {0};

		for (uint32_t s = 0; s < SLC_ROUTE_SHARDS; s++) {
			uint32_t p = t->sched[s % SLC_ROUTE_WEIGHT_TOTAL];

			t->shard_worker[s] = (uint16_t)(p * workers + next[p]++ % workers);
		}
	} else {
		if (t != prev)
			memcpy(t->shard_worker, prev->shard_worker, sizeof(t->shard_worker));
		if (rebalance_map(t->shard_worker, SLC_ROUTE_SHARDS, want, npools, workers, true) !=
		    0)
			return -ENOMEM;
		balance_workers(t->shard_worker, npools, workers);
	}
	return 0;
}

int
slc_route_table_build(struct slc_route_table *t, const struct slc_route_table *prev,
                      const double *weights, uint32_t npools, uint32_t workers)
{
	return table_build(t, prev, weights, npools, workers, false);
}

int
slc_route_shared_init(struct slc_route_shared *sh, const double *weights, uint32_t npools,
                      uint32_t workers)
{
	int rc = slc_route_table_build(&sh->table, NULL, weights, npools, workers);

	if (rc != 0)
		return rc;
	pthread_mutex_init(&sh->mu, NULL);
	atomic_init(&sh->gen, 1);
	sh->nnodes = 0;
	sh->node_table = NULL;
	memset(sh->spill, 0, sizeof(sh->spill));
	atomic_init(&sh->spill_starts, 0);
	return 0;
}

void
slc_route_shared_fini(struct slc_route_shared *sh)
{
	if (sh == NULL)
		return;
	pthread_mutex_lock(&sh->mu);
	free(sh->node_table);
	sh->node_table = NULL;
	sh->nnodes = 0;
	pthread_mutex_unlock(&sh->mu);
}

/*
 * Node n's table from the global one (minimal moves from its previous one, unless fresh):
 * its own pools at their global weights, the others at 0 unless it spills or has no pool.
 * Built in sh->next, copied only when complete. Under sh->mu.
 */
static int
node_table_build(struct slc_route_shared *sh, uint32_t n, bool fresh)
{
	const struct slc_route_table *g = &sh->table;
	double w[SLC_POOLS_MAX];
	bool own = false;
	int rc;

	for (uint32_t p = 0; p < g->npools; p++)
		own |= sh->pool_node[p] == n;
	for (uint32_t p = 0; p < g->npools; p++)
		w[p] = sh->spill[n] || !own || sh->pool_node[p] == n ? (double)g->weight[p] : 0;
	rc = table_build(&sh->next, fresh ? NULL : &sh->node_table[n], w, g->npools, g->workers,
	                 true);
	if (rc == 0)
		memcpy(&sh->node_table[n], &sh->next, sizeof(sh->next));
	return rc;
}

/* Rebuilds the tables of the nodes in mask (all: every node). Under sh->mu. */
static int
node_tables_build(struct slc_route_shared *sh, const bool *mask, bool fresh)
{
	for (uint32_t n = 0; n < sh->nnodes; n++) {
		int rc = mask == NULL || mask[n] ? node_table_build(sh, n, fresh) : 0;

		if (rc != 0)
			return rc;
	}
	return 0;
}

int
slc_route_publish(struct slc_route_shared *sh, const double *weights)
{
	int rc;

	pthread_mutex_lock(&sh->mu);
	rc = slc_route_table_build(&sh->next, &sh->table, weights, sh->table.npools,
	                           sh->table.workers);
	if (rc == 0) {
		memcpy(&sh->table, &sh->next, sizeof(sh->table));
		/* A node table that cannot be built keeps its old weights until the next
		 * publish; the global one is already good. */
		rc = node_tables_build(sh, NULL, false);
		/* Release: pairs with the acquire in router_refresh. */
		atomic_fetch_add_explicit(&sh->gen, 1, memory_order_release);
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

int
slc_route_locality_set(struct slc_route_shared *sh, uint32_t nnodes, const uint16_t *pool_node)
{
	int rc;

	if (nnodes == 0 || nnodes > SLC_ROUTE_NODES_MAX || pool_node == NULL)
		return -EINVAL;
	for (uint32_t p = 0; p < sh->table.npools; p++)
		if (pool_node[p] >= nnodes)
			return -EINVAL;
	pthread_mutex_lock(&sh->mu);
	if (sh->node_table != NULL) {
		pthread_mutex_unlock(&sh->mu);
		return -EINVAL;
	}
	sh->node_table = calloc(nnodes, sizeof(*sh->node_table));
	if (sh->node_table == NULL) {
		pthread_mutex_unlock(&sh->mu);
		return -ENOMEM;
	}
	sh->nnodes = nnodes;
	memcpy(sh->pool_node, pool_node, sh->table.npools * sizeof(*pool_node));
	memset(sh->spill, 0, sizeof(sh->spill));
	rc = node_tables_build(sh, NULL, true);
	if (rc != 0) {
		free(sh->node_table);
		sh->node_table = NULL;
		sh->nnodes = 0;
	} else {
		/* Release: pairs with the acquire in router_refresh. */
		atomic_fetch_add_explicit(&sh->gen, 1, memory_order_release);
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

int
slc_route_spill_update(struct slc_route_shared *sh, const double *fill)
{
	bool was[SLC_ROUTE_NODES_MAX], changed[SLC_ROUTE_NODES_MAX], any = false;
	int rc = 0;

	pthread_mutex_lock(&sh->mu);
	memcpy(was, sh->spill, sizeof(was));
	for (uint32_t n = 0; n < sh->nnodes; n++) {
		bool own = false, all_on = true, all_off = true;

		for (uint32_t p = 0; p < sh->table.npools; p++) {
			double f = fill[p] * sh->nnodes;

			if (sh->pool_node[p] != n)
				continue;
			own = true;
			all_on &= f >= SLC_ROUTE_SPILL_ON;
			all_off &= f < SLC_ROUTE_SPILL_OFF;
		}
		changed[n] = own && (sh->spill[n] ? all_off : all_on);
		if (changed[n])
			sh->spill[n] = !sh->spill[n];
		any |= changed[n];
	}
	if (any) {
		rc = node_tables_build(sh, changed, false);
		if (rc != 0) {
			memcpy(sh->spill, was, sizeof(was));
		} else {
			for (uint32_t n = 0; n < sh->nnodes; n++)
				if (changed[n] && sh->spill[n])
					atomic_fetch_add_explicit(&sh->spill_starts, 1,
					                          memory_order_relaxed);
			/* Release: pairs with the acquire in router_refresh. */
			atomic_fetch_add_explicit(&sh->gen, 1, memory_order_release);
		}
	}
	pthread_mutex_unlock(&sh->mu);
	return rc != 0 ? rc : any;
}

bool
slc_route_spilling(struct slc_route_shared *sh, uint32_t node)
{
	bool s;

	pthread_mutex_lock(&sh->mu);
	s = node < sh->nnodes && sh->spill[node];
	pthread_mutex_unlock(&sh->mu);
	return s;
}

/* ---- routers ------------------------------------------------------------------------ */

/*
 * A lane is where one dispatch step writes the messages of one destination: a pool (pure,
 * sticky; its worker is picked when the lane opens) or a worker (ordered). Slots [start,
 * end) of worker g's ring are reserved, [start, dst) are written and not yet committed,
 * and start sits at ring position pos. A closed lane has start == dst == end == NULL, so
 * the hot loops test one thing per message (dst == end) to leave the fast path: to open the
 * lane, to re-reserve at the end of the slot array, or to stop on a full ring (pure: to
 * spill to another pool).
 */
struct slc_route_lane {
	struct slc_msg *dst;
	struct slc_msg *end;
	struct slc_msg *start;
	uint32_t pos;
	uint32_t g;
};

static_assert(sizeof(struct slc_route_lane) == 32, "two lanes per cache line");

struct slc_router {
	enum slc_route_strategy strategy;
	struct slc_pool_set *pools;
	uint32_t producer;
	uint32_t nworkers;
	struct slc_route_shared *sh;
	uint64_t gen;
	uint32_t node;               /* slc_router_set_node's; UINT32_MAX: none, the global table */
	_Atomic uint64_t cross_node; /* written by this router's thread only */
	uint32_t rr;                 /* position in sched */
	struct slc_route_table t;    /* this router's copy */
	struct slc_ring_spsc **ring; /* [nworkers]: this producer's ring to each worker */
	struct slc_ring_park **park; /* [nworkers] */
	/* ordered: the worker a shard really goes to now, and the ring position after the
	 * shard's last message there. */
	uint16_t cur_owner[SLC_ROUTE_SHARDS];
	uint32_t last_pos[SLC_ROUTE_SHARDS];
	uint32_t shard_count[SLC_ROUTE_SHARDS];
	/* per dispatch step: lanes by pool (pure, sticky) or by worker (ordered), all closed
	 * between steps, and the ones opened in this step */
	struct slc_route_lane lane[SLC_WORKERS_MAX];
	uint16_t touched[SLC_WORKERS_MAX];
	uint32_t ntouched;
	/* pure, per dispatch step: pools whose ring was found full (a bit each), and how
	 * many; their messages spill to the other pools (pure_spill) */
	uint64_t full[SLC_POOLS_MAX / 64];
	uint32_t nfull;
	bool remote[SLC_WORKERS_MAX]; /* worker g's pool is on another node than this router */
};

static_assert(SLC_POOLS_MAX <= SLC_WORKERS_MAX, "a lane per pool fits the lane array");

static void
router_refresh(struct slc_router *rt)
{
	/* The one atomic load per dispatch; acquire pairs with the release in publish. */
	uint64_t gen = atomic_load_explicit(&rt->sh->gen, memory_order_acquire);
	const struct slc_route_table *src;

	if (gen == rt->gen)
		return;
	pthread_mutex_lock(&rt->sh->mu);
	src = rt->node < rt->sh->nnodes ? &rt->sh->node_table[rt->node] : &rt->sh->table;
	memcpy(&rt->t, src, sizeof(rt->t));
	rt->gen = atomic_load_explicit(&rt->sh->gen, memory_order_relaxed);
	pthread_mutex_unlock(&rt->sh->mu);
}

struct slc_router *
slc_router_create(enum slc_route_strategy strategy, struct slc_pool_set *pools, uint32_t producer,
                  struct slc_route_shared *sh, int *err)
{
	struct slc_router *rt;
	uint32_t nw = slc_pool_set_npools(pools) * slc_pool_set_workers(pools);

	if (strategy > SLC_ROUTE_ORDERED || sh->table.npools != slc_pool_set_npools(pools) ||
	    sh->table.workers != slc_pool_set_workers(pools)) {
		*err = -EINVAL;
		return NULL;
	}
	rt = calloc(1, sizeof(*rt));
	if (rt == NULL)
		goto err_nomem;
	rt->strategy = strategy;
	rt->pools = pools;
	rt->producer = producer;
	rt->nworkers = nw;
	rt->sh = sh;
	rt->node = UINT32_MAX;
	rt->ring = calloc(nw, sizeof(*rt->ring));
	rt->park = calloc(nw, sizeof(*rt->park));
	if (rt->ring == NULL || rt->park == NULL)
		goto err_nomem;
	for (uint32_t g = 0; g < nw; g++) {
		struct slc_worker *w = slc_pool_set_worker(pools, g);

		rt->ring[g] = slc_worker_ring(w, producer);
		rt->park[g] = &w->park;
	}
	router_refresh(rt);
	for (uint32_t s = 0; s < SLC_ROUTE_SHARDS; s++) {
		rt->cur_owner[s] = rt->t.shard_worker[s];
		rt->last_pos[s] = atomic_load_explicit(&rt->ring[rt->cur_owner[s]]->prod.tail,
		                                       memory_order_relaxed);
	}
	*err = 0;
	return rt;

err_nomem:
	slc_router_destroy(rt);
	*err = -ENOMEM;
	return NULL;
}

void
slc_router_destroy(struct slc_router *rt)
{
	if (rt == NULL)
		return;
	free(rt->ring);
	free(rt->park);
	free(rt);
}

int
slc_router_set_node(struct slc_router *rt, uint32_t node)
{
	uint32_t W = rt->t.workers;

	pthread_mutex_lock(&rt->sh->mu);
	if (node >= rt->sh->nnodes) {
		pthread_mutex_unlock(&rt->sh->mu);
		return -EINVAL;
	}
	for (uint32_t g = 0; g < rt->nworkers; g++)
		rt->remote[g] = rt->sh->pool_node[g / W] != node;
	pthread_mutex_unlock(&rt->sh->mu);
	rt->node = node;
	rt->gen = 0; /* the next dispatch copies the node's table */
	return 0;
}

uint64_t
slc_router_cross_node(const struct slc_router *rt)
{
	return atomic_load_explicit(&rt->cross_node, memory_order_relaxed);
}

const uint32_t *
slc_router_shard_counts(const struct slc_router *rt)
{
	return rt->shard_count;
}

/* Messages the producer believes are waiting in ring g (its cached view of the consumer). */
static inline uint32_t
ring_load(const struct slc_ring_spsc *r)
{
	return atomic_load_explicit(&r->prod.tail, memory_order_relaxed) - r->prod.head_cache;
}

/* The least loaded worker of pool p; asked when p's lane opens, so once per dispatch step. */
static uint32_t
pick_worker(const struct slc_router *rt, uint32_t p)
{
	uint32_t W = rt->t.workers, best = p * W, best_q;

	if (W == 1)
		return best;
	best_q = ring_load(rt->ring[best]);
	for (uint32_t w = 1; w < W; w++) {
		uint32_t q = ring_load(rt->ring[p * W + w]);

		if (q < best_q) {
			best_q = q;
			best = p * W + w;
		}
	}
	return best;
}

/* True once worker g has handled everything this producer sent it up to position pos. */
static inline bool
ring_done_past(const struct slc_ring_spsc *r, uint32_t pos)
{
	/* Acquire: pairs with the worker's release of cons.head after handling. */
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_acquire);

	return (int32_t)(head - pos) >= 0;
}

void
slc_router_decide(struct slc_router *rt, const struct slc_msg *msgs, uint32_t n, uint16_t *pool_out)
{
	router_refresh(rt);
	for (uint32_t i = 0; i < n; i++) {
		switch (rt->strategy) {
		case SLC_ROUTE_PURE:
			pool_out[i] = rt->t.sched[rt->rr++ & (SLC_ROUTE_WEIGHT_TOTAL - 1)];
			break;
		case SLC_ROUTE_STICKY:
			pool_out[i] = rt->t.slot_pool[msgs[i].key_hash & (SLC_ROUTE_SLOTS - 1)];
			break;
		case SLC_ROUTE_ORDERED:
			pool_out[i] = (uint16_t)(rt->t.shard_worker[msgs[i].key_hash &
			                                            (SLC_ROUTE_SHARDS - 1)] /
			                         rt->t.workers);
			break;
		}
	}
}

/* Publishes what lane ln wrote since its last commit; marks its worker for the wake. */
static inline void
lane_commit(struct slc_router *rt, struct slc_route_lane *ln, uint64_t *wake)
{
	uint32_t k = (uint32_t)(ln->dst - ln->start);

	if (k == 0)
		return;
	slc_ring_spsc_enqueue_commit(rt->ring[ln->g], k);
	ln->pos += k;
	/* Per commit, not per message; one writer, so no locked add. */
	if (SLC_UNLIKELY(rt->remote[ln->g]))
		atomic_store_explicit(&rt->cross_node,
		                      atomic_load_explicit(&rt->cross_node, memory_order_relaxed) +
		                              k,
		                      memory_order_relaxed);
	wake[ln->g / 64] |= 1ull << (ln->g % 64);
}

/*
 * The slow path of every hot loop, taken when lane `idx` has no reserved slot left: opens
 * the lane (pure, sticky: on the least loaded worker of pool idx; ordered: on worker idx),
 * or commits what it wrote and reserves again after the end of the slot array. `want`
 * (the messages left in this step) bounds the reservation, so that the producer reloads
 * the consumer's index only when the ring may really lack room for them. Returns false
 * when the ring is full: the step stops there (pure: the message spills, pure_spill()).
 */
static __attribute__((noinline)) bool
lane_refill(struct slc_router *rt, uint32_t idx, uint32_t want, uint64_t *wake)
{
	struct slc_route_lane *ln = &rt->lane[idx];
	struct slc_ring_spsc *r;
	void *slots;
	uint32_t got;

	/* Pure: a pool found full is not asked again in this step (nfull is 0 for the
	 * other strategies, whose idx is a worker): its worker may free slots meanwhile, but
	 * asking would reload the consumer's index once per spilled message. */
	if (rt->nfull != 0 && (rt->full[idx / 64] >> (idx % 64) & 1))
		return false;
	if (ln->start == NULL) {
		ln->g = rt->strategy == SLC_ROUTE_ORDERED ? idx : pick_worker(rt, idx);
		ln->pos = atomic_load_explicit(&rt->ring[ln->g]->prod.tail, memory_order_relaxed);
		rt->touched[rt->ntouched++] = (uint16_t)idx;
	} else {
		lane_commit(rt, ln, wake);
	}
	r = rt->ring[ln->g];
	got = slc_ring_spsc_enqueue_reserve(r, want, &slots);
	ln->start = ln->dst = slots;
	ln->end = ln->start + got;
	return got != 0;
}

/*
 * Pure only, the slow path for a message whose pool p has a full ring: marks p full for the
 * rest of the step and returns the pool that takes the message instead, the first pool
 * after position pos of the round robin whose ring has room, so that what spills is shared
 * by the other pools in proportion to their weights; or UINT32_MAX when every pool's ring
 * is full (the step stops there). Keyless messages may go anywhere, so a weight that is
 * too high for a pool's capacity (a stale table, a controller still converging, a pool
 * slowed by a hog) costs nothing while another pool has room: the connection pauses only
 * when all are full. One lap of sched meets each pool of weight >= 1 (nweighted of them:
 * every pool, or in a node's table only the node's own, so a spill stays on the node until
 * the controller lets the node spill: slc_route_spill_update).
 */
static __attribute__((noinline)) uint32_t
pure_spill(struct slc_router *rt, uint32_t p, uint32_t pos, uint32_t want, uint64_t *wake)
{
	struct slc_route_lane *lane = rt->lane;

	for (uint32_t k = 1;; k++) {
		if (!(rt->full[p / 64] >> (p % 64) & 1)) {
			rt->full[p / 64] |= 1ull << (p % 64);
			rt->nfull++;
		}
		if (rt->nfull >= rt->t.nweighted || k == SLC_ROUTE_WEIGHT_TOTAL)
			return UINT32_MAX;
		p = rt->t.sched[(pos + k) & (SLC_ROUTE_WEIGHT_TOTAL - 1)];
		if (lane[p].dst != lane[p].end || lane_refill(rt, p, want, wake))
			return p;
	}
}

/*
 * Routes up to DISPATCH_MAX messages; returns how many were taken. Each message is copied
 * once, straight into a slot reserved in its lane; each lane is committed when its
 * reservation runs out (the end of the slot array) and at the end of the step. One loop
 * per strategy, so that the per-message work is a table look-up, one compare and the
 * 32-byte copy; the pool of a pure message still comes from the smooth round robin one
 * message at a time (runs of one pool would break its interleaving promise).
 */
static uint32_t
dispatch_step(struct slc_router *rt, struct slc_msg *msgs, uint32_t n, uint64_t *wake)
{
	struct slc_route_lane *lane = rt->lane;
	uint32_t i = 0;

	switch (rt->strategy) {
	case SLC_ROUTE_PURE: {
		const uint16_t *sched = rt->t.sched;
		uint32_t rr = rt->rr;

		for (; i < n; i++) {
			uint32_t p = sched[(rr + i) & (SLC_ROUTE_WEIGHT_TOTAL - 1)];

			if (SLC_UNLIKELY(lane[p].dst == lane[p].end) &&
			    !lane_refill(rt, p, n - i, wake)) {
				p = pure_spill(rt, p, rr + i, n - i, wake);
				if (p == UINT32_MAX)
					break;
			}
			*lane[p].dst++ = msgs[i];
		}
		rt->rr = rr + i;
		break;
	}
	case SLC_ROUTE_STICKY: {
		const uint16_t *slot_pool = rt->t.slot_pool;

		for (; i < n; i++) {
			uint32_t p = slot_pool[msgs[i].key_hash & (SLC_ROUTE_SLOTS - 1)];

			if (SLC_UNLIKELY(lane[p].dst == lane[p].end) &&
			    !lane_refill(rt, p, n - i, wake))
				break;
			*lane[p].dst++ = msgs[i];
		}
		break;
	}
	default:
		for (; i < n; i++) {
			uint32_t shard = msgs[i].key_hash & (SLC_ROUTE_SHARDS - 1);
			uint32_t g = rt->cur_owner[shard];
			struct slc_route_lane *ln;

			if (SLC_UNLIKELY(g != rt->t.shard_worker[shard])) {
				/* Moving: fence until the old worker has handled the shard's last
				 * message (one written in this step lies past the ring's published
				 * tail, so it counts as in flight). */
				if (!ring_done_past(rt->ring[g], rt->last_pos[shard]))
					break;
				g = rt->cur_owner[shard] = rt->t.shard_worker[shard];
			}
			ln = &lane[g];
			if (SLC_UNLIKELY(ln->dst == ln->end) && !lane_refill(rt, g, n - i, wake))
				break;
			*ln->dst++ = msgs[i];
			rt->last_pos[shard] = ln->pos + (uint32_t)(ln->dst - ln->start);
			rt->shard_count[shard]++;
		}
		break;
	}
	for (uint32_t k = 0; k < rt->ntouched; k++) {
		struct slc_route_lane *ln = &lane[rt->touched[k]];

		lane_commit(rt, ln, wake);
		ln->start = ln->dst = ln->end = NULL;
	}
	rt->ntouched = 0;
	if (rt->nfull != 0) {
		memset(rt->full, 0, sizeof(rt->full));
		rt->nfull = 0;
	}
	return i;
}

uint32_t
slc_router_dispatch(struct slc_router *rt, struct slc_msg *msgs, uint32_t n)
{
	uint64_t wake[SLC_WORKERS_MAX / 64] = {0};
	uint32_t done = 0;

	router_refresh(rt);
	while (done < n) {
		uint32_t step = n - done < DISPATCH_MAX ? n - done : DISPATCH_MAX;
		uint32_t took = dispatch_step(rt, msgs + done, step, wake);

		done += took;
		if (took < step)
			break;
	}
	/* Once per call, after everything is committed: the park protocol's F2 orders the
	 * commits before the check of the worker's state. */
	for (uint32_t k = 0; k < SLC_WORKERS_MAX / 64; k++) {
		for (uint64_t m = wake[k]; m != 0; m &= m - 1)
			slc_ring_park_wake(rt->park[k * 64 + (uint32_t)__builtin_ctzll(m)]);
	}
	return done;
}
