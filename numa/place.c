/* SPDX-License-Identifier: MIT */
/* place.c: where reactors and pool workers run (node, core, PU), and the printed plan. */

/*
 * Placement rules. A plan is computed once, from the topology's usable PUs, with no
 * randomness: the same topology and request always give the same plan.
 *
 * Unit. Threads are placed on cores, not hardware threads. A core is usable when at least
 * one of its PUs is usable; a thread on it is pinned to its first usable PU (lowest OS
 * number), so sibling hardware threads of a core never hold two threads of the plan before
 * every core holds one. (On a topology without Core objects each PU is its own core.)
 * The load of a core is the number of plan threads on it.
 *
 * Nodes. Each core belongs to one node: its local NUMA node (the first node attached to
 * the core or to its nearest ancestor with memory), so memory-only nodes (CXL, HBM hung
 * higher in the tree) never receive threads. A node takes part in the plan when it has at
 * least one usable core; its cores are taken in hwloc logical order.
 *
 * R1 Reactors. On every node that takes part, in node order, reactors_per_node reactors,
 *    each on the least-loaded core of its node, the first such core on ties: the node's
 *    first cores, one reactor each, sharing only when there are more reactors than cores.
 *
 * R2 Pool nodes. Pools in index order; pool i goes to the node where its workers raise the
 *    threads-per-core ratio least: the smallest (threads_n + W) / cores_n, threads_n
 *    counting the reactors and workers already on node n, W the workers per pool; ties go
 *    to the lower node. On nodes with equal usable core counts this is round-robin (pool i
 *    on node i mod nodes); when --cpus leaves a node few cores, it gets fewer pools.
 *    A pool's workers all stay on its node: their rings and sink buffers are node-local.
 *
 * R3 Worker cores. The workers of a pool in index order, each on the core of the pool's
 *    node that, in this order of precedence:
 *      (a) holds the fewest workers of this same pool,
 *      (b) has the lowest load,
 *      (c) holds no reactor,
 *      (d) comes first in logical order.
 *    So a pool's workers sit on distinct cores whenever it has no more workers than its
 *    node has cores; free cores are used before any core is shared (a reactor's core is
 *    never free); when threads outnumber cores, sharing falls on the least-loaded cores,
 *    reactor cores last among equals: a reactor serves every pool, so a worker beside it
 *    slows all of them, while a worker beside another worker slows one pool.
 *    Balance: within a node, core loads never differ by more than one. R1 keeps it, and
 *    (a)-(b) keep it: a core c chosen with the fewest workers k of this pool is never
 *    heavier than a core d holding k' > k of them, since before this pool the loads
 *    differed by at most one, so load(d) - load(c) >= (k' - k) - 1 >= 0.
 *
 * R4 Pool order of a reactor, for the router's locality: the pools of the reactor's own
 *    node first, then those of the other nodes by NUMA distance from the reactor's node
 *    (hwloc's latency matrix, when the topology has one), then, between equally distant
 *    nodes (or with no matrix), by (m - n) mod nodes for node m and the reactor's node n,
 *    so that reactors of different nodes spill onto different neighbours rather than all
 *    onto node 0. The pools of one node keep index order.
 *    The router's locality (engine/route/router.h) uses the first part: each reactor
 *    routes to its own node's pools (slc_numa_plan_pool_node()), and a node that spills
 *    uses every pool at its weight; the order by distance among the other nodes is not
 *    used by the router yet: `sluiced --print-topology` prints it and
 *    tests/numa/test_place.c pins it down.
 */
#include "numa.h"
#include "numa_priv.h"

#include <errno.h>
#include <hwloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Most names a printed line lists under "shares core with"; the rest are counted. */
#define SLC_NUMA_PRINT_SHARES_MAX 8

struct plan_core {
	int core;         /* hwloc logical index (or the PU's, where there are no cores) */
	int pu;           /* OS number of its first usable PU: where threads are pinned */
	int node;         /* index into plan->nodes */
	int load;         /* plan threads on this core */
	bool reactor;     /* a reactor is among them */
	int first_thread; /* threads on this core, chained in index order; -1: none */
	int last_thread;
};

struct plan_node {
	int node;       /* hwloc logical index of the NUMA node */
	int core_first; /* its cores are cores[core_first, core_first + core_count) */
	int core_count;
	int threads; /* plan threads on its cores */
};

struct plan_thread {
	int core; /* index into plan->cores */
	int next; /* next thread on the same core; -1 ends the chain */
};

struct slc_numa_plan {
	struct slc_numa_plan_req req;
	int reactor_count;
	int thread_count; /* reactors first, then workers pool by pool */
	int core_count;   /* usable cores */
	int node_count;   /* nodes that take part */
	int topo_node_count;
	int pu_count; /* usable PUs */
	struct plan_core *cores;
	struct plan_node *nodes;
	struct plan_thread *threads;
	int *pool_node;  /* per pool: index into nodes */
	int *node_pools; /* per node, req.pools entries: the R4 order of its reactors */
	char *cpus;      /* usable PUs as a cpu list, for the printed summary */
};

/* A usable core found while walking the PUs; sorted into node order afterwards. */
struct core_found {
	int node; /* logical index */
	int core;
	int pu;
};

static int
core_found_cmp(const void *a, const void *b)
{
	const struct core_found *x = a, *y = b;

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return x->core < y->core ? -1 : x->core > y->core;
}

/* Fills p->cores and p->nodes from the usable PUs of t. */
static int
plan_find_cores(struct slc_numa_plan *p, struct slc_numa_topo *t)
{
	int nr_pus = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PU);
	struct core_found *found;
	hwloc_obj_t pu = NULL, unit;
	int n = 0;

	found = calloc((size_t)(nr_pus > 0 ? nr_pus : 1), sizeof(*found));
	if (found == NULL)
		return -ENOMEM;
	while ((unit = slc_numa_next_unit(t, &pu)) != NULL) {
		hwloc_obj_t local = slc_numa_local_node(unit);

		found[n].node = local != NULL ? (int)local->logical_index : 0;
		found[n].core = (int)unit->logical_index;
		found[n].pu = (int)pu->os_index;
		n++;
	}
	qsort(found, (size_t)n, sizeof(*found), core_found_cmp);

	p->cores = calloc((size_t)(n > 0 ? n : 1), sizeof(*p->cores));
	p->nodes = calloc((size_t)(n > 0 ? n : 1), sizeof(*p->nodes));
	if (p->cores == NULL || p->nodes == NULL) {
		free(found);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct plan_core *c = &p->cores[i];

		if (i == 0 || found[i].node != found[i - 1].node) {
			p->nodes[p->node_count].node = found[i].node;
			p->nodes[p->node_count].core_first = i;
			p->node_count++;
		}
		p->nodes[p->node_count - 1].core_count++;
		c->core = found[i].core;
		c->pu = found[i].pu;
		c->node = p->node_count - 1;
		c->first_thread = -1;
		c->last_thread = -1;
	}
	p->core_count = n;
	free(found);
	/* t->usable is never empty, and every PU has a core (or is one). */
	return n > 0 ? 0 : -EINVAL;
}

static void
plan_assign(struct slc_numa_plan *p, int thread, int ci)
{
	struct plan_core *c = &p->cores[ci];

	p->threads[thread].core = ci;
	p->threads[thread].next = -1;
	if (c->last_thread < 0)
		c->first_thread = thread;
	else
		p->threads[c->last_thread].next = thread;
	c->last_thread = thread;
	c->load++;
	p->nodes[c->node].threads++;
}

/* R1 */
static void
plan_place_reactors(struct slc_numa_plan *p)
{
	int thread = 0;

	for (int nn = 0; nn < p->node_count; nn++) {
		const struct plan_node *n = &p->nodes[nn];

		for (int k = 0; k < p->req.reactors_per_node; k++) {
			int best = n->core_first;

			for (int ci = n->core_first + 1; ci < n->core_first + n->core_count; ci++)
				if (p->cores[ci].load < p->cores[best].load)
					best = ci;
			plan_assign(p, thread++, best);
			p->cores[best].reactor = true;
		}
	}
}

/* R2 */
static int
plan_pool_node(const struct slc_numa_plan *p)
{
	long long w = p->req.workers_per_pool;
	int best = 0;

	for (int nn = 1; nn < p->node_count; nn++) {
		const struct plan_node *a = &p->nodes[nn], *b = &p->nodes[best];

		/* (threads_a + W) / cores_a < (threads_b + W) / cores_b, without division */
		if ((a->threads + w) * b->core_count < (b->threads + w) * a->core_count)
			best = nn;
	}
	return best;
}

/* Is core x a better place than core y for the next worker of the pool (R3)? */
static bool
plan_worker_better(const struct slc_numa_plan *p, const int *mine, int x, int y)
{
	const struct plan_core *cx = &p->cores[x], *cy = &p->cores[y];

	if (mine[x] != mine[y])
		return mine[x] < mine[y];
	if (cx->load != cy->load)
		return cx->load < cy->load;
	if (cx->reactor != cy->reactor)
		return !cx->reactor;
	return x < y;
}

/* R2 and R3. mine is scratch, one int per core: workers of the current pool there. */
static void
plan_place_workers(struct slc_numa_plan *p, int *mine)
{
	int thread = p->reactor_count;

	for (int pool = 0; pool < p->req.pools; pool++) {
		int nn = plan_pool_node(p);
		const struct plan_node *n = &p->nodes[nn];
		int end = n->core_first + n->core_count;

		p->pool_node[pool] = nn;
		for (int ci = n->core_first; ci < end; ci++)
			mine[ci] = 0;
		for (int w = 0; w < p->req.workers_per_pool; w++) {
			int best = n->core_first;

			for (int ci = n->core_first + 1; ci < end; ci++)
				if (plan_worker_better(p, mine, ci, best))
					best = ci;
			mine[best]++;
			plan_assign(p, thread++, best);
		}
	}
}

/* Distance from node a to node b in the matrix; 0 for all without one. */
static uint64_t
plan_distance(struct slc_numa_topo *t, struct hwloc_distances_s *d, int a, int b)
{
	hwloc_obj_t oa, ob;
	hwloc_uint64_t ab, ba;

	if (d == NULL)
		return 0;
	oa = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)a);
	ob = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)b);
	if (oa == NULL || ob == NULL || hwloc_distances_obj_pair_values(d, oa, ob, &ab, &ba) != 0)
		return UINT64_MAX; /* not in the matrix: after every node that is */
	return ab;
}

/* R4: fills p->node_pools. order is scratch, one int per plan node. */
static void
plan_order_pools(struct slc_numa_plan *p, struct slc_numa_topo *t, int *order, uint64_t *dist)
{
	struct hwloc_distances_s *d = NULL;
	unsigned nr = 1;
	int nodes = p->topo_node_count;

	if (hwloc_distances_get_by_type(t->topo, HWLOC_OBJ_NUMANODE, &nr, &d,
	                                HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) != 0 ||
	    nr == 0)
		d = NULL;
	for (int self = 0; self < p->node_count; self++) {
		int n = p->nodes[self].node;
		int *out = &p->node_pools[(size_t)self * (size_t)p->req.pools];
		int k = 0;

		/* Insertion sort by (not own node, distance, rotation): a handful of nodes. */
		for (int i = 0; i < p->node_count; i++) {
			int m = p->nodes[i].node;
			int j = i;

			dist[i] = plan_distance(t, d, n, m);
			while (j > 0) {
				int o = order[j - 1];
				int mo = p->nodes[o].node;
				bool before; /* node i goes before node o */

				if ((o == self) != (i == self))
					before = i == self;
				else if (dist[o] != dist[i])
					before = dist[i] < dist[o];
				else
					before = (m - n + nodes) % nodes < (mo - n + nodes) % nodes;
				if (!before)
					break;
				order[j] = o;
				j--;
			}
			order[j] = i;
		}
		for (int i = 0; i < p->node_count; i++)
			for (int pool = 0; pool < p->req.pools; pool++)
				if (p->pool_node[pool] == order[i])
					out[k++] = pool;
	}
	if (d != NULL)
		hwloc_distances_release(t->topo, d);
}

struct slc_numa_plan *
slc_numa_plan_create(struct slc_numa_topo *t, const struct slc_numa_plan_req *req, int *err)
{
	struct slc_numa_plan *p;
	long long threads;
	int *scratch = NULL;
	uint64_t *dist = NULL;
	int ret;

	if (req == NULL || req->reactors_per_node < 1 || req->pools < 1 ||
	    req->workers_per_pool < 1) {
		*err = -EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	p->req = *req;
	p->topo_node_count = slc_numa_node_count(t);
	p->pu_count = slc_numa_pu_count(t);
	ret = plan_find_cores(p, t);
	if (ret != 0)
		goto err_destroy_plan;
	threads = (long long)req->reactors_per_node * p->node_count +
	          (long long)req->pools * req->workers_per_pool;
	if (threads > SLC_NUMA_PLAN_THREADS_MAX) {
		ret = -E2BIG;
		goto err_destroy_plan;
	}
	p->reactor_count = req->reactors_per_node * p->node_count;
	p->thread_count = (int)threads;
	p->threads = calloc((size_t)p->thread_count, sizeof(*p->threads));
	p->pool_node = calloc((size_t)req->pools, sizeof(*p->pool_node));
	p->node_pools = calloc((size_t)p->node_count * (size_t)req->pools, sizeof(int));
	scratch = calloc((size_t)p->core_count, sizeof(*scratch));
	dist = calloc((size_t)p->node_count, sizeof(*dist));
	if (hwloc_bitmap_list_asprintf(&p->cpus, t->usable) < 0)
		p->cpus = NULL;
	if (p->threads == NULL || p->pool_node == NULL || p->node_pools == NULL ||
	    scratch == NULL || dist == NULL || p->cpus == NULL) {
		ret = -ENOMEM;
		goto err_free_scratch;
	}

	plan_place_reactors(p);
	plan_place_workers(p, scratch);
	plan_order_pools(p, t, scratch, dist); /* node_count <= core_count: scratch fits */
	free(dist);
	free(scratch);
	*err = 0;
	return p;

err_free_scratch:
	free(dist);
	free(scratch);
err_destroy_plan:
	slc_numa_plan_destroy(p);
	*err = ret;
	return NULL;
}

void
slc_numa_plan_destroy(struct slc_numa_plan *p)
{
	if (p == NULL)
		return;
	free(p->cpus);
	free(p->node_pools);
	free(p->pool_node);
	free(p->threads);
	free(p->nodes);
	free(p->cores);
	free(p);
}

int
slc_numa_plan_reactor_count(const struct slc_numa_plan *p)
{
	return p->reactor_count;
}

int
slc_numa_plan_pool_count(const struct slc_numa_plan *p)
{
	return p->req.pools;
}

int
slc_numa_plan_workers_per_pool(const struct slc_numa_plan *p)
{
	return p->req.workers_per_pool;
}

static void
plan_place_of(const struct slc_numa_plan *p, int thread, struct slc_numa_place *out)
{
	const struct plan_core *c = &p->cores[p->threads[thread].core];

	out->node = p->nodes[c->node].node;
	out->core = c->core;
	out->pu = c->pu;
	out->core_threads = c->load;
}

int
slc_numa_plan_reactor(const struct slc_numa_plan *p, int reactor, struct slc_numa_place *out)
{
	if (reactor < 0 || reactor >= p->reactor_count)
		return -ERANGE;
	plan_place_of(p, reactor, out);
	return 0;
}

int
slc_numa_plan_worker(const struct slc_numa_plan *p, int pool, int worker,
                     struct slc_numa_place *out)
{
	if (pool < 0 || pool >= p->req.pools || worker < 0 || worker >= p->req.workers_per_pool)
		return -ERANGE;
	plan_place_of(p, p->reactor_count + pool * p->req.workers_per_pool + worker, out);
	return 0;
}

int
slc_numa_plan_pool_node(const struct slc_numa_plan *p, int pool)
{
	if (pool < 0 || pool >= p->req.pools)
		return -ERANGE;
	return p->nodes[p->pool_node[pool]].node;
}

const int *
slc_numa_plan_reactor_pools(const struct slc_numa_plan *p, int reactor)
{
	if (reactor < 0 || reactor >= p->reactor_count)
		return NULL;
	return &p->node_pools[(size_t)(reactor / p->req.reactors_per_node) * (size_t)p->req.pools];
}

/* "r3" for reactor 3, "w2.1" for worker 1 of pool 2. */
static void
plan_thread_name(const struct slc_numa_plan *p, int thread, char *buf, size_t len)
{
	int w = thread - p->reactor_count;

	if (w < 0)
		snprintf(buf, len, "r%d", thread);
	else
		snprintf(buf, len, "w%d.%d", w / p->req.workers_per_pool,
		         w % p->req.workers_per_pool);
}

static void
plan_print_thread(const struct slc_numa_plan *p, int thread, FILE *out)
{
	const struct plan_core *c = &p->cores[p->threads[thread].core];
	char name[32];
	int listed = 0;

	plan_thread_name(p, thread, name, sizeof(name));
	fprintf(out, "%-8s %-7s %5d %5d %5d  ", thread < p->reactor_count ? "reactor" : "worker",
	        name + 1, p->nodes[c->node].node, c->core, c->pu);
	for (int o = c->first_thread; o >= 0; o = p->threads[o].next) {
		if (o == thread)
			continue;
		if (listed == SLC_NUMA_PRINT_SHARES_MAX) {
			fprintf(out, " +%d more", c->load - 1 - listed);
			break;
		}
		plan_thread_name(p, o, name, sizeof(name));
		fprintf(out, "%s%s", listed > 0 ? " " : "", name);
		listed++;
	}
	fprintf(out, "%s\n", listed == 0 ? "-" : "");
}

int
slc_numa_plan_print(const struct slc_numa_plan *p, FILE *out)
{
	char name[32];

	fprintf(out,
	        "placement: %d reactor%s per node, %d pool%s x %d worker%s: %d threads on %d "
	        "cores\n",
	        p->req.reactors_per_node, p->req.reactors_per_node == 1 ? "" : "s", p->req.pools,
	        p->req.pools == 1 ? "" : "s", p->req.workers_per_pool,
	        p->req.workers_per_pool == 1 ? "" : "s", p->thread_count, p->core_count);
	fprintf(out, "usable: %d PU%s (cpus %s), %d core%s, %d of %d NUMA node%s\n", p->pu_count,
	        p->pu_count == 1 ? "" : "s", p->cpus, p->core_count, p->core_count == 1 ? "" : "s",
	        p->node_count, p->topo_node_count, p->topo_node_count == 1 ? "" : "s");
	fprintf(out, "node and core: hwloc logical numbers (lstopo L#); pu: OS cpu number "
	             "(taskset), the one pinned to\n\n");
	fprintf(out, "%-8s %-7s %5s %5s %5s  %s\n", "role", "index", "node", "core", "pu",
	        "shares core with");
	for (int th = 0; th < p->thread_count; th++)
		plan_print_thread(p, th, out);

	fprintf(out, "\n%-8s %s\n", "reactor", "pools, same node first");
	for (int r = 0; r < p->reactor_count; r++) {
		const int *pools = slc_numa_plan_reactor_pools(p, r);

		snprintf(name, sizeof(name), "r%d", r);
		fprintf(out, "%-8s", name);
		for (int k = 0; k < p->req.pools; k++)
			fprintf(out, " p%d", pools[k]);
		fprintf(out, "\n");
	}
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
