/* SPDX-License-Identifier: MIT */
/* qos.h: QoS classes: each class's in-flight count, weight, cap and queue TTL, shared by all threads. */
#ifndef SLC_URING_QOS_H
#define SLC_URING_QOS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "msg.h" /* SLC_MSG_CONN_QOS_*: the class bits of msg.conn */

/*
 * A tenant may name a QoS class (--tenant ...,class=gold; --qos-class defines or changes
 * one: docs/operations.md). A class counts its messages in flight: taken by the pools
 * (the reactors add a burst's count once it is taken) and not yet released (the workers
 * subtract, a batch at a time, by the class bits each message carries in msg.conn). Before
 * it offers a burst, a reactor lets through no more than the class's limit allows:
 *
 *   max_inflight     a hard cap (0: none);
 *   weighted share   while other classes are active (took messages within the last
 *                    SLC_QOS_ACTIVE_NS), capacity * weight / (sum of the active
 *                    classes' weights, its own included), capacity being every ring slot
 *                    the reactors feed. A class alone may fill the rings.
 *
 * What is held back waits, the connection paused (TCP flow control pushes back): so a
 * bronze flood holds at most its share of the rings, and a gold message queues behind no
 * more than that. UDP datagrams carry no class (they are not counted).
 *
 * Queue TTL: a message of a class with ttl_ns that is older than it (since the reactor
 * received it) when a worker takes it is dropped and counted, not written (acknowledged
 * frames excepted: their clients would send them again).
 *
 * Reactors and workers touch only the atomics (relaxed: a limit is a bound for a burst,
 * not a fence; a few messages over it between two reactors' loads are the cost of no
 * lock); everything else is written before the threads start.
 */

#define SLC_QOS_MAX       8 /* classes, built-ins included */
#define SLC_QOS_NAME_LEN  32
#define SLC_QOS_ACTIVE_NS (100 * 1000000ull)

struct slc_qos_class {
	alignas(64) _Atomic int64_t inflight; /* taken by the pools, not yet released */
	_Atomic uint64_t last_ns;             /* when a reactor last had a burst taken */
	_Atomic uint64_t taken;               /* messages taken by the pools */
	_Atomic uint64_t held;                /* times a connection waited for its limit */
	_Atomic uint64_t ttl_drops;           /* messages dropped over ttl_ns */
	char name[SLC_QOS_NAME_LEN];
	uint32_t weight;       /* 1..1000 */
	uint32_t max_inflight; /* 0: none */
	uint64_t ttl_ns;       /* 0: none */
};

struct slc_qos {
	uint32_t n;
	uint64_t capacity; /* ring slots the reactors feed (set by the daemon) */
	bool any_ttl;      /* a class has ttl_ns: workers look at messages' ages */
	struct slc_qos_class c[SLC_QOS_MAX];
};

/* The class of a message (index + 1), 0: none. */
static inline uint32_t
slc_qos_of(uint32_t conn)
{
	return (conn & 0x80000000u) ? 0 : (conn & SLC_MSG_CONN_QOS_MASK) >> SLC_MSG_CONN_QOS_SHIFT;
}

/*
 * How many messages class k (an index) may have taken now, beyond those in flight: its
 * limit (above) less its in-flight count, 0 when it is at or over it; UINT32_MAX when
 * nothing limits it. Pure over the loads: now_ns is the caller's clock.
 */
static inline uint32_t
slc_qos_room(const struct slc_qos *q, uint32_t k, uint64_t now_ns)
{
	const struct slc_qos_class *c = &q->c[k];
	int64_t in = atomic_load_explicit(&c->inflight, memory_order_relaxed);
	uint64_t limit = c->max_inflight != 0 ? c->max_inflight : UINT64_MAX;
	uint64_t wsum = c->weight;
	bool others = false;

	for (uint32_t i = 0; i < q->n; i++) {
		uint64_t last;

		if (i == k)
			continue;
		last = atomic_load_explicit(&q->c[i].last_ns, memory_order_relaxed);
		/* Signed: another reactor may have stored a last_ns newer than our now_ns
		 * (its clock read came later); a last in the future is active, not a wrap. */
		if (last != 0 && (int64_t)(now_ns - last) < (int64_t)SLC_QOS_ACTIVE_NS) {
			wsum += q->c[i].weight;
			others = true;
		}
	}
	if (others && q->capacity * c->weight / wsum < limit)
		limit = q->capacity * c->weight / wsum;
	if (limit == 0)
		limit = 1; /* a share rounded down to nothing must not wedge the class */
	if (limit == UINT64_MAX)
		return UINT32_MAX;
	if (in < 0 || (uint64_t)in < limit) {
		uint64_t room = limit - (uint64_t)(in < 0 ? 0 : in);

		return room > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)room;
	}
	return 0;
}

/* n messages of class k were taken by the pools at now_ns (a reactor, once a burst). */
static inline void
slc_qos_took(struct slc_qos *q, uint32_t k, uint32_t n, uint64_t now_ns)
{
	struct slc_qos_class *c = &q->c[k];

	if (n == 0)
		return;
	atomic_fetch_add_explicit(&c->inflight, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->taken, n, memory_order_relaxed);
	if (atomic_load_explicit(&c->last_ns, memory_order_relaxed) != now_ns)
		atomic_store_explicit(&c->last_ns, now_ns, memory_order_relaxed);
}

#endif /* SLC_URING_QOS_H */
