/* SPDX-License-Identifier: MIT */
/* park.h: lets a ring's consumer sleep when idle and its producers wake it only when asleep. */
#ifndef SLC_RINGBUF_PARK_H
#define SLC_RINGBUF_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

/*
 * One parker per consumer thread (a worker that drains several rings has one parker for
 * all of them). The consumer spins a little on an empty ring, then announces that it is
 * going to sleep, checks its rings once more, and sleeps on a futex. A producer, after it
 * has published elements (once per batch, not per element), calls slc_ring_park_wake(),
 * which costs a fence and a load of a line nobody writes while the consumer is busy, and
 * makes a system call only when the consumer announced that it sleeps.
 *
 *        consumer                          state
 *   AWAKE --prepare--> SLEEPING --futex_wait--> (woken) --> AWAKE
 *              \--cancel (work found on re-check)--> AWAKE
 *   producer: wake() sees SLEEPING -> exchange(AWAKE) -> futex_wake
 *
 * No wake is lost: the consumer's store of SLEEPING and the producer's publication of an
 * element are each followed by a sequentially consistent fence before the other side's
 * value is read (F1 in slc_ring_park_prepare, F2 in slc_ring_park_wake). Of two such
 * fences one comes first in the single total order, so either the consumer's re-check sees
 * the element, or the producer sees SLEEPING and wakes it. futex_wait compares the state
 * with SLEEPING in the kernel, so a wake that lands before the consumer is inside
 * futex_wait is not lost either.
 */

enum {
	SLC_RING_PARK_AWAKE = 0,
	SLC_RING_PARK_SLEEPING = 1,
};

/*
 * How long the consumer spins before it parks adapts (slc_ring_park_idle): spinning pays
 * only while work comes back sooner than a park and a wake would take, so
 *   - the budget is at most twice the wake-up latency the consumer measured (a producer's
 *     wake to the consumer running: wake_ns below), and at most SLC_RING_PARK_SPIN_MAX_NS;
 *   - a spin that found work doubles the budget (up to that bound), one that did not
 *     halves it, and a wake by a producer (work came in) restores it to the bound;
 *   - a sleep that timed out leaves it at 0: an idle consumer wakes every timeout, looks
 *     at its rings once and parks again, without spinning.
 */
#define SLC_RING_PARK_SPIN_MAX_NS   100000u /* 100 us: a few time slices of a yield */
#define SLC_RING_PARK_WAKE_GUESS_NS 20000u  /* the wake-up latency before one is measured */

struct slc_ring_park {
	alignas(SLC_CACHE_LINE) _Atomic uint32_t state;
	uint32_t spin_iters;      /* polls of the rings before announcing sleep, at most */
	_Atomic uint64_t wakes;   /* futex wakes issued by producers */
	_Atomic uint64_t wake_ns; /* CLOCK_MONOTONIC of the last wake a producer issued */
	uint64_t sleeps;          /* times the consumer slept; consumer-only */
	uint64_t timeouts;        /* sleeps that ended by timeout; consumer-only */
	/* consumer-only: the adaptive spin (see above) */
	uint64_t wake_lat_ns; /* measured wake-up latency, a moving average */
	uint64_t spin_ns;     /* the spin budget now */
	uint64_t spin_hits;   /* spins that found work */
	uint64_t spin_misses; /* spins that did not: the consumer parked after */
};

/* Callback that tells the consumer whether any of its rings has work. */
typedef bool (*slc_ring_park_ready_fn)(void *arg);

void slc_ring_park_init(struct slc_ring_park *p, uint32_t spin_iters);

/* Consumer: announce sleep. Must be followed by a re-check of the rings, then either
 * slc_ring_park_cancel() or slc_ring_park_sleep(). */
void slc_ring_park_prepare(struct slc_ring_park *p);

/* Consumer: work was found after prepare; stay awake. */
void slc_ring_park_cancel(struct slc_ring_park *p);

/*
 * Consumer: sleep until woken or timeout_ns passes (timeout_ns < 0: no timeout).
 * Returns 0 when woken (or on a spurious wake-up; the caller re-checks its rings),
 * -ETIMEDOUT, or -EINTR if a signal interrupted the wait. Always leaves state AWAKE.
 */
int slc_ring_park_sleep(struct slc_ring_park *p, int64_t timeout_ns);

/* The system-call half of slc_ring_park_wake(); not for direct use. */
bool slc_ring_park_wake_slow(struct slc_ring_park *p);

/* Producer: wake the consumer if, and only if, it announced sleep. Returns true when this
 * call issued the wake. Call it after publishing, once per batch. */
static inline bool
slc_ring_park_wake(struct slc_ring_park *p)
{
	/* F2: orders the producer's publication before the load of state; see F1. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&p->state, memory_order_relaxed) != SLC_RING_PARK_SLEEPING)
		return false;
	return slc_ring_park_wake_slow(p);
}

/*
 * Consumer: the idle loop in one call. Polls ready(arg), yielding the CPU between polls
 * (sched_yield), for the adaptive spin budget (at most spin_iters polls; none when
 * spin_iters is 0), then parks until woken or timeout. Returns true if ready(arg) holds on
 * return; false after a timeout or a wake-up that found no work (a late wake meant for an
 * earlier sleep): the caller loops.
 */
bool slc_ring_park_idle(struct slc_ring_park *p, slc_ring_park_ready_fn ready, void *arg,
                        int64_t timeout_ns);

#endif /* SLC_RINGBUF_PARK_H */
