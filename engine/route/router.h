/* SPDX-License-Identifier: MIT */
/* router.h: the three routing strategies and the weight tables they read. */
#ifndef SLC_ENGINE_ROUTER_H
#define SLC_ENGINE_ROUTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "msg.h"
#include "pool/pool.h"

/*
 * Strategies (docs/architecture.md has the table):
 *   pure     no key; pools in a smooth weighted round robin (weights 7,1,2 interleave as
 *            A A B A C A A C A A ..., never seven A in a row); inside a pool the least
 *            loaded worker. A message whose pool's ring is full spills to the next pool
 *            of the round robin with room, so weights set the split while rings have
 *            room and a full pool stalls no one.
 *   sticky   msg.key_hash picks one of SLC_ROUTE_SLOTS slots; a slot belongs to one pool.
 *            When weights change, only pools that lost weight give up slots, only as many
 *            as they lost, and only to pools that gained: the keys that move are the
 *            weight that moved, and no key leaves a pool whose weight grew or stayed.
 *   ordered  msg.key_hash picks one of SLC_ROUTE_SHARDS shards; a shard belongs to one
 *            worker (slots of pools as in sticky, then a worker of that pool). A shard
 *            moves only when none of its messages is in flight: the router keeps, per
 *            shard, the ring position after its last message, and switches the shard to
 *            its new worker only once the old worker's ring has passed that position
 *            (fence, drain, then switch). Until then the shard's messages are refused,
 *            which pauses their connection for the microseconds the drain takes.
 *
 * The controller publishes a new table (slc_route_publish); each router copies it when it
 * sees a new generation (one atomic load per dispatch), so a table is never freed under a
 * reader.
 */

enum slc_route_strategy {
	SLC_ROUTE_PURE,
	SLC_ROUTE_STICKY,
	SLC_ROUTE_ORDERED,
};

#define SLC_ROUTE_WEIGHT_TOTAL 1024u  /* weights are integers summing to this */
#define SLC_ROUTE_SLOTS        65536u /* sticky: key slots */
#define SLC_ROUTE_SHARDS       4096u  /* ordered: virtual shards */

struct slc_route_table {
	uint32_t npools;
	uint32_t workers;   /* per pool */
	uint32_t nweighted; /* pools of weight > 0: those sched holds (a node's table: its own) */
	uint32_t weight[SLC_POOLS_MAX];
	uint16_t sched[SLC_ROUTE_WEIGHT_TOTAL];  /* pure: the smooth round-robin order */
	uint16_t slot_pool[SLC_ROUTE_SLOTS];     /* sticky */
	uint16_t shard_worker[SLC_ROUTE_SHARDS]; /* ordered: global worker index */
};

/*
 * Builds a table for the given weights (any non-negative values, at least one positive;
 * normalised to SLC_ROUTE_WEIGHT_TOTAL, each pool at least 1). With prev, slots and shards
 * move minimally from prev's assignment. Returns 0, -EINVAL, or -ENOMEM (t is then only
 * partly built and must not be used).
 */
int slc_route_table_build(struct slc_route_table *t, const struct slc_route_table *prev,
                          const double *weights, uint32_t npools, uint32_t workers);

#define SLC_ROUTE_NODES_MAX 64 /* NUMA nodes locality tables are kept for */

/*
 * NUMA locality (slc_route_locality_set): each node has its own table, which the routers
 * of that node's reactors read instead of the global one. It holds the global weights of
 * the node's own pools and 0 for the others, so that messages stay on the node; while the
 * node spills (its pools are saturated: slc_route_spill_update), it holds every pool at
 * its global weight. A node without pools always uses every pool.
 *
 *   local ──(every own pool at least SLC_ROUTE_SPILL_ON full)──▶ spilling
 *   spilling ──(every own pool below SLC_ROUTE_SPILL_OFF full)──▶ local
 */
#define SLC_ROUTE_SPILL_ON  0.5   /* of the rings the node's reactors write */
#define SLC_ROUTE_SPILL_OFF 0.125 /* well below ON, so that the state does not flap */

/* Where the current table lives; one per engine. */
struct slc_route_shared {
	_Atomic uint64_t gen;
	pthread_mutex_t mu;
	struct slc_route_table table;
	struct slc_route_table next; /* built here, copied to table only when complete */
	/* locality, under mu; nnodes 0: none, every router reads table */
	uint32_t nnodes;
	uint16_t pool_node[SLC_POOLS_MAX];
	bool spill[SLC_ROUTE_NODES_MAX];
	struct slc_route_table *node_table; /* [nnodes] */
	_Atomic uint64_t spill_starts;      /* times a node began to spill */
};

int slc_route_shared_init(struct slc_route_shared *sh, const double *weights, uint32_t npools,
                          uint32_t workers);
/* Frees the locality tables; the global table stays usable. Accepts NULL. */
void slc_route_shared_fini(struct slc_route_shared *sh);
/* Builds the next table from weights (minimal moves from the current one) and publishes
 * it, with the nodes' tables. 0, -EINVAL or -ENOMEM. */
int slc_route_publish(struct slc_route_shared *sh, const double *weights);

/*
 * Turns locality on: pool p's workers run on node pool_node[p] (0..nnodes-1, as the
 * routers' slc_router_set_node). Builds every node's table, no node spilling, and
 * publishes. Returns 0; -EINVAL (nnodes 0 or above SLC_ROUTE_NODES_MAX, a pool's node out
 * of range, or locality already on); -ENOMEM.
 */
int slc_route_locality_set(struct slc_route_shared *sh, uint32_t nnodes, const uint16_t *pool_node);

/*
 * The spill rule, once per controller tick: fill[p] is pool p's queued messages over its
 * ring capacity (all producers). A node's reactors write 1/nnodes of each pool's rings,
 * so the rule compares fill x nnodes with the thresholds above. Publishes the tables of
 * the nodes whose state changed. Returns 1 when one did, 0 when none did or locality is
 * off, -ENOMEM (states kept as they were).
 */
int slc_route_spill_update(struct slc_route_shared *sh, const double *fill);

/* Whether node spills now (false for a node out of range or without locality). */
bool slc_route_spilling(struct slc_route_shared *sh, uint32_t node);

struct slc_router;

/* A router for one producer (a reactor): it writes only that producer's rings. */
struct slc_router *slc_router_create(enum slc_route_strategy strategy, struct slc_pool_set *pools,
                                     uint32_t producer, struct slc_route_shared *sh, int *err);
void slc_router_destroy(struct slc_router *rt);

/*
 * Puts the router on node (its reactor's, as slc_route_locality_set numbers them): from
 * its next dispatch it reads that node's table and counts the messages it sends to other
 * nodes' pools. Without locality, or before this call, it reads the global table. Call
 * before the router's thread dispatches. 0, or -EINVAL (node out of range).
 */
int slc_router_set_node(struct slc_router *rt, uint32_t node);

/* Messages this router sent to pools of another node than its own; any thread. */
uint64_t slc_router_cross_node(const struct slc_router *rt);

/*
 * Routes and enqueues msgs[0..n) in order; returns how many it took (a prefix). It stops
 * at the first message whose worker ring is full (pure: when every pool's ring is full),
 * or (ordered) whose shard is moving.
 * Wakes each worker it gave messages to, once per call.
 */
uint32_t slc_router_dispatch(struct slc_router *rt, struct slc_msg *msgs, uint32_t n);

/* The pool each of msgs[0..n) would go to, advancing the round robin as dispatch would;
 * for tests of the distribution. */
void slc_router_decide(struct slc_router *rt, const struct slc_msg *msgs, uint32_t n,
                       uint16_t *pool_out);

/* Messages this router sent per shard (ordered): hot keys show up here. */
const uint32_t *slc_router_shard_counts(const struct slc_router *rt);

#endif /* SLC_ENGINE_ROUTER_H */
