/* SPDX-License-Identifier: MIT */
/* test_park.c: a ring consumer sleeps when idle, wakes for one element, and no wake is lost. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "park.h"
#include "ring.h"

#define NSEC_PER_SEC 1000000000ll

static struct slc_ring_spsc *
ring_new(uint32_t capacity)
{
	struct slc_ring_spsc *r = aligned_alloc(SLC_RING_ALIGN, slc_ring_spsc_memsize(capacity, 8));

	cr_assert_not_null(r);
	cr_assert_eq(slc_ring_spsc_init(r, capacity, 8), 0);
	return r;
}

static bool
ring_ready(void *arg)
{
	return slc_ring_spsc_count(arg) > 0;
}

Test(ring_park, wake_is_free_when_nobody_sleeps)
{
	struct slc_ring_park p;

	slc_ring_park_init(&p, 100);
	cr_expect_not(slc_ring_park_wake(&p));
	cr_expect_not(slc_ring_park_wake(&p));
	cr_expect_eq(atomic_load(&p.wakes), 0, "no system call without a sleeper");
	slc_ring_park_prepare(&p);
	cr_expect(slc_ring_park_wake(&p), "the consumer announced sleep: wake it");
	cr_expect_not(slc_ring_park_wake(&p), "one wake per sleep");
	cr_expect_eq(atomic_load(&p.wakes), 1);
	cr_expect_eq(atomic_load(&p.state), SLC_RING_PARK_AWAKE);
}

Test(ring_park, sleep_times_out_and_stays_awake_after)
{
	struct slc_ring_park p;

	slc_ring_park_init(&p, 0);
	slc_ring_park_prepare(&p);
	cr_expect_eq(slc_ring_park_sleep(&p, 1000000), -ETIMEDOUT);
	cr_expect_eq(atomic_load(&p.state), SLC_RING_PARK_AWAKE);
	cr_expect_eq(p.sleeps, 1);
	cr_expect_eq(p.timeouts, 1);
}

struct wake_one {
	struct slc_ring_spsc *ring;
	struct slc_ring_park park;
	_Atomic int64_t enqueued_at;
	_Atomic bool parked;
	_Atomic pid_t tid;
};

/* Whether thread tid of this process is asleep in the kernel (state S in its stat). */
static bool
thread_sleeping(pid_t tid)
{
	char path[64], stat[512];
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	p = strrchr(stat, ')'); /* "tid (comm) S ...": comm may hold spaces */
	return p != NULL && p[1] == ' ' && p[2] == 'S';
}

static void *
wake_one_consumer(void *varg)
{
	struct wake_one *w = varg;
	uint64_t v;
	bool ready;

	atomic_store(&w->tid, gettid());
	slc_ring_park_prepare(&w->park);
	atomic_store(&w->parked, true);
	if (!ring_ready(w->ring))
		slc_ring_park_sleep(&w->park, 10 * NSEC_PER_SEC);
	else
		slc_ring_park_cancel(&w->park);
	ready = ring_ready(w->ring);
	if (ready)
		slc_ring_spsc_dequeue(w->ring, &v);
	return (void *)(intptr_t)(ready ? (int64_t)slc_mono_ns() : -1);
}

/* The bound is generous: it separates "woken" from "slept until its 10 s timeout". */
Test(ring_park, parked_consumer_wakes_for_one_element)
{
	struct wake_one w = {.ring = ring_new(16)};
	pthread_t tid;
	void *ret;
	uint64_t v = 42;
	int64_t woke_at, enqueued_at;

	slc_ring_park_init(&w.park, 0);
	cr_assert_eq(pthread_create(&tid, NULL, wake_one_consumer, &w), 0);
	while (!atomic_load(&w.parked))
		sched_yield();
	/* Asleep in futex_wait, its only blocking call (its 10 s timeout is the deadline). */
	for (int i = 0; i < 5000 && !thread_sleeping(atomic_load(&w.tid)); i++)
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	cr_assert(thread_sleeping(atomic_load(&w.tid)), "the consumer never went to sleep");
	enqueued_at = (int64_t)slc_mono_ns();
	cr_assert_eq(slc_ring_spsc_enqueue(w.ring, &v), 0);
	cr_expect(slc_ring_park_wake(&w.park), "the consumer was asleep");
	pthread_join(tid, &ret);
	woke_at = (int64_t)(intptr_t)ret;
	cr_assert_gt(woke_at, 0, "the consumer found the element");
	cr_expect_lt(woke_at - enqueued_at, NSEC_PER_SEC, "woke %lld ns after the enqueue",
	             (long long)(woke_at - enqueued_at));
	free(w.ring);
}

Test(ring_park, idle_consumer_uses_no_cpu)
{
	struct slc_ring_spsc *r = ring_new(16);
	struct slc_ring_park p;
	int64_t cpu0, wall0, cpu, wall;

	slc_ring_park_init(&p, 1000);
	cpu0 = (int64_t)slc_thread_cpu_ns();
	wall0 = (int64_t)slc_mono_ns();
	cr_expect_not(slc_ring_park_idle(&p, ring_ready, r, 300000000));
	cpu = (int64_t)slc_thread_cpu_ns() - cpu0;
	wall = (int64_t)slc_mono_ns() - wall0;
	cr_expect_geq(wall, 300000000, "it waited out the timeout");
	cr_expect_lt(cpu, wall / 10, "idle for %lld ns of wall time, it used %lld ns of CPU",
	             (long long)wall, (long long)cpu);
	free(r);
}

/*
 * Ping-pong, one element at a time: the consumer parks without polling first (spin_iters
 * 0: a poll yields the CPU, and the producer's next element would come in meanwhile), so
 * the producer's enqueue races the consumer going to sleep on every round. A lost wake would
 * leave the consumer asleep until its timeout, which it reports.
 */
#define PINGS (20000 / (SLC_TEST_SCALE_DIV > 1 ? 10 : 1))

struct pingpong {
	struct slc_ring_spsc *ring;
	struct slc_ring_park park;
	_Atomic uint64_t taken;
	uint64_t out_of_order; /* checked after the join: no assertions off the test's thread */
};

static void *
pingpong_consumer(void *varg)
{
	struct pingpong *pp = varg;
	uint64_t v, expect = 0;

	while (expect < PINGS) {
		/* false: a timeout (counted by the parker) or a late wake from an earlier
		 * round, which is allowed; either way, look again. */
		if (!slc_ring_park_idle(&pp->park, ring_ready, pp->ring, 2 * NSEC_PER_SEC))
			continue;
		while (slc_ring_spsc_dequeue(pp->ring, &v) == 0) {
			if (v != expect)
				pp->out_of_order++;
			expect = v + 1;
			atomic_store_explicit(&pp->taken, expect, memory_order_release);
		}
	}
	return NULL;
}

Test(ring_park, no_wake_is_lost_when_producer_races_sleep, .timeout = 120)
{
	struct pingpong pp = {.ring = ring_new(16)};
	pthread_t tid;

	slc_ring_park_init(&pp.park, 0);
	cr_assert_eq(pthread_create(&tid, NULL, pingpong_consumer, &pp), 0);
	for (uint64_t i = 0; i < PINGS; i++) {
		cr_assert_eq(slc_ring_spsc_enqueue(pp.ring, &i), 0);
		slc_ring_park_wake(&pp.park);
		while (atomic_load_explicit(&pp.taken, memory_order_acquire) <= i)
			slc_ring_cpu_relax();
	}
	pthread_join(tid, NULL);
	cr_expect_eq(pp.park.timeouts, 0, "a wake was lost %llu times",
	             (unsigned long long)pp.park.timeouts);
	cr_expect_eq(pp.out_of_order, 0);
	cr_expect_gt(pp.park.sleeps, 0, "the consumer really went to sleep");
	free(pp.ring);
}

/* ---- the adaptive spin (park.h) ---------------------------------------------------- */

/* A consumer that has seen no work since it started, or whose sleep timed out, parks at
 * once: an idle consumer wakes at its timeouts without spinning. */
Test(ring_park, an_idle_consumer_parks_without_spinning)
{
	struct slc_ring_spsc *r = ring_new(16);
	struct slc_ring_park p;

	slc_ring_park_init(&p, 1000);
	for (int i = 1; i <= 3; i++) {
		cr_expect_not(slc_ring_park_idle(&p, ring_ready, r, 1000000));
		cr_expect_eq(p.sleeps, (uint64_t)i);
		cr_expect_eq(p.timeouts, (uint64_t)i);
		cr_expect_eq(p.spin_hits + p.spin_misses, 0, "it spun after a timeout");
		cr_expect_eq(p.spin_ns, 0);
	}
	free(r);
}

/* Work during the spin doubles the budget up to twice the wake-up latency; a spin that
 * finds none halves it, then the consumer parks. */
Test(ring_park, a_spin_that_finds_work_grows_one_that_does_not_shrinks)
{
	struct slc_ring_spsc *r = ring_new(16);
	struct slc_ring_park p;
	uint64_t v = 1, bound;

	slc_ring_park_init(&p, 1000000);
	bound = 2 * p.wake_lat_ns < SLC_RING_PARK_SPIN_MAX_NS ? 2 * p.wake_lat_ns
	                                                      : SLC_RING_PARK_SPIN_MAX_NS;
	p.spin_ns = 1000;
	cr_assert_eq(slc_ring_spsc_enqueue(r, &v), 0);
	cr_expect(slc_ring_park_idle(&p, ring_ready, r, 1000000));
	cr_expect_eq(p.spin_hits, 1);
	cr_expect_eq(p.spin_ns, 2000 < bound ? 2000 : bound);
	cr_expect_eq(p.sleeps, 0, "work during the spin: no sleep");
	p.spin_ns = bound;
	cr_expect(slc_ring_park_idle(&p, ring_ready, r, 1000000));
	cr_expect_eq(p.spin_ns, bound, "never above the bound");
	cr_assert_eq(slc_ring_spsc_dequeue(r, &v), 0);
	cr_expect_not(slc_ring_park_idle(&p, ring_ready, r, 1000000));
	cr_expect_eq(p.spin_misses, 1);
	cr_expect_eq(p.spin_ns, bound / 2);
	cr_expect_eq(p.sleeps, 1, "after a spin in vain it parks");
	free(r);
}

struct idle_consumer {
	struct slc_ring_spsc *ring;
	struct slc_ring_park park;
	_Atomic pid_t tid;
	_Atomic bool found;
};

static void *
idle_once(void *arg)
{
	struct idle_consumer *c = arg;

	atomic_store(&c->tid, gettid());
	atomic_store(&c->found,
	             slc_ring_park_idle(&c->park, ring_ready, c->ring, 20 * NSEC_PER_SEC));
	return NULL;
}

/* A producer's wake restores the budget (work comes in bursts) and feeds the measured
 * wake-up latency, which a timeout does not. */
Test(ring_park, a_wake_restores_the_spin_and_measures_the_wake_up, .timeout = 30)
{
	struct idle_consumer c = {.ring = ring_new(16)};
	pthread_t tid;
	uint64_t v = 7;

	slc_ring_park_init(&c.park, 1000);
	c.park.wake_lat_ns = 0; /* so that any measured wake-up shows */
	cr_assert_eq(pthread_create(&tid, NULL, idle_once, &c), 0);
	/* Its budget is 0 (no work seen yet): it parks at once, asleep in futex_wait (the
	 * only blocking call; its 20 s timeout is the deadline). */
	while (atomic_load(&c.tid) == 0 || !thread_sleeping(atomic_load(&c.tid)) ||
	       atomic_load(&c.park.state) != SLC_RING_PARK_SLEEPING)
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	cr_assert_eq(slc_ring_spsc_enqueue(c.ring, &v), 0);
	cr_assert(slc_ring_park_wake(&c.park), "the consumer was asleep");
	pthread_join(tid, NULL);
	cr_expect(atomic_load(&c.found));
	cr_expect_eq(c.park.timeouts, 0);
	cr_expect_eq(c.park.spin_hits + c.park.spin_misses, 0);
	cr_expect_gt(c.park.wake_lat_ns, 0, "the wake-up was measured");
	cr_expect_eq(c.park.spin_ns, 2 * c.park.wake_lat_ns < SLC_RING_PARK_SPIN_MAX_NS
	                                     ? 2 * c.park.wake_lat_ns
	                                     : SLC_RING_PARK_SPIN_MAX_NS);
	free(c.ring);
}
