/* SPDX-License-Identifier: MIT */
/* park.c: futex-based sleep and wake for ring consumers (see park.h for the protocol). */
#include "park.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

static long
futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)uaddr, op, val, ts, NULL, 0);
}

void
slc_ring_park_init(struct slc_ring_park *p, uint32_t spin_iters)
{
	atomic_init(&p->state, SLC_RING_PARK_AWAKE);
	p->spin_iters = spin_iters;
	atomic_init(&p->wakes, 0);
	atomic_init(&p->wake_ns, 0);
	p->sleeps = 0;
	p->timeouts = 0;
	p->wake_lat_ns = SLC_RING_PARK_WAKE_GUESS_NS;
	p->spin_ns = 0;
	p->spin_hits = 0;
	p->spin_misses = 0;
}

void
slc_ring_park_prepare(struct slc_ring_park *p)
{
	atomic_store_explicit(&p->state, SLC_RING_PARK_SLEEPING, memory_order_relaxed);
	/* F1: orders the store of SLEEPING before the consumer's re-check of its rings; pairs
	 * with F2 in slc_ring_park_wake. */
	atomic_thread_fence(memory_order_seq_cst);
}

void
slc_ring_park_cancel(struct slc_ring_park *p)
{
	atomic_store_explicit(&p->state, SLC_RING_PARK_AWAKE, memory_order_relaxed);
}

int
slc_ring_park_sleep(struct slc_ring_park *p, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	int ret = 0;

	if (timeout_ns >= 0) {
		ts = slc_timespec_from_ns((uint64_t)timeout_ns);
		tsp = &ts;
	}
	p->sleeps++;
	if (futex(&p->state, FUTEX_WAIT_PRIVATE, SLC_RING_PARK_SLEEPING, tsp) != 0) {
		switch (errno) {
		case EAGAIN: /* a producer flipped the state before we got in: woken */
			break;
		case ETIMEDOUT:
			p->timeouts++;
			ret = -ETIMEDOUT;
			break;
		case EINTR:
			ret = -EINTR;
			break;
		default:
			ret = -errno;
			break;
		}
	}
	atomic_store_explicit(&p->state, SLC_RING_PARK_AWAKE, memory_order_relaxed);
	return ret;
}

bool
slc_ring_park_wake_slow(struct slc_ring_park *p)
{
	/* Several producers may see SLEEPING; the exchange lets exactly one of them wake. */
	if (atomic_exchange_explicit(&p->state, SLC_RING_PARK_AWAKE, memory_order_relaxed) !=
	    SLC_RING_PARK_SLEEPING)
		return false;
	atomic_fetch_add_explicit(&p->wakes, 1, memory_order_relaxed);
	/* For the consumer's measure of its wake-up latency: a clock read on a path that
	 * makes a system call anyway. */
	atomic_store_explicit(&p->wake_ns, slc_mono_ns(), memory_order_relaxed);
	futex(&p->state, FUTEX_WAKE_PRIVATE, 1, NULL);
	return true;
}

/* The budget's bound: twice the measured wake-up latency (a spin as long as a park and a
 * wake would take at most doubles the cost of the wait it covers), capped. */
static uint64_t
spin_bound(const struct slc_ring_park *p)
{
	uint64_t b = 2 * p->wake_lat_ns;

	return b < SLC_RING_PARK_SPIN_MAX_NS ? b : SLC_RING_PARK_SPIN_MAX_NS;
}

/* Polls for up to the spin budget; true when work came. */
static bool
spin(struct slc_ring_park *p, slc_ring_park_ready_fn ready, void *arg)
{
	uint64_t start;

	if (p->spin_ns == 0 || p->spin_iters == 0)
		return false;
	start = slc_mono_ns();
	/* Between polls the core goes to whatever else may run on it (sched_yield returns at
	 * once when nothing does): a worker that shares its core with another worker, a
	 * reactor or a sender must not hold it while it has nothing to do. On the 2-CPU test
	 * machine, a pause-only spin cost 20% of the CPUs to two idle workers on one core,
	 * and perf/bench_ingest.sh's null-sink rate was 10.4, 9.9 and 9.2 M msgs/s against
	 * 10.8, 11.4 and 11.6 M with the yield (alternated sets of 5 runs). */
	for (uint32_t i = 0; i < p->spin_iters; i++) {
		if (ready(arg)) {
			uint64_t b = spin_bound(p);

			p->spin_hits++;
			p->spin_ns = 2 * p->spin_ns < b ? 2 * p->spin_ns : b;
			return true;
		}
		sched_yield();
		if (slc_mono_ns() - start >= p->spin_ns)
			break;
	}
	p->spin_misses++;
	p->spin_ns /= 2;
	return false;
}

bool
slc_ring_park_idle(struct slc_ring_park *p, slc_ring_park_ready_fn ready, void *arg,
                   int64_t timeout_ns)
{
	int rc;

	if (spin(p, ready, arg))
		return true;
	slc_ring_park_prepare(p);
	if (ready(arg)) {
		slc_ring_park_cancel(p);
		return true;
	}
	rc = slc_ring_park_sleep(p, timeout_ns);
	if (rc == 0) {
		uint64_t now = slc_mono_ns();
		uint64_t woken = atomic_load_explicit(&p->wake_ns, memory_order_relaxed);

		/* A producer's wake: work comes in bursts, so spin again after this one. The
		 * latency counts only when it is this wake's (not a stale stamp, or a spurious
		 * wake-up's): within a second. */
		if (woken != 0 && woken <= now && now - woken < 1000000000u) {
			uint64_t lat = now - woken;

			p->wake_lat_ns = p->wake_lat_ns - p->wake_lat_ns / 8 + lat / 8;
		}
		p->spin_ns = spin_bound(p);
	}
	return ready(arg);
}
