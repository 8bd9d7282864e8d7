/* SPDX-License-Identifier: MIT */
/* test_ring_stress.c: producers and a consumer racing through the rings; every element once, in order. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "ring.h"

/* 10 million elements per test in the release build; sanitizer builds divide this. */
#define STRESS_ELEMS  (10000000u / SLC_TEST_SCALE_DIV)
#define MAX_PRODUCERS 4
#define BATCH_MAX     64

/* Element: producer id in the top byte, its sequence number below. */
#define ELEM(id, seq) (((uint64_t)(id) << 56) | (seq))
#define ELEM_ID(e)    ((unsigned)((e) >> 56))
#define ELEM_SEQ(e)   ((e) & ((1ull << 56) - 1))

struct stress {
	void *ring;
	bool mpsc;
	unsigned producers;
	uint64_t per_producer;
	pthread_barrier_t start;
};

struct producer_arg {
	struct stress *s;
	unsigned id;
};

/* Spin, yielding now and then: a test may run more threads than there are cores. */
static void
backoff(unsigned *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
	else
		slc_ring_cpu_relax();
}

/* xorshift: each producer varies its batch sizes and calls deterministically. */
static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static uint32_t
produce_some(struct stress *s, uint64_t *buf, uint32_t n, uint32_t how)
{
	if (s->mpsc) {
		struct slc_ring_mpsc *r = s->ring;
		struct slc_ring_mpsc_resv resv;

		switch (how % 4) {
		case 0:
			return slc_ring_mpsc_enqueue(r, buf) == 0 ? 1 : 0;
		case 1:
			return slc_ring_mpsc_enqueue_bulk(r, buf, n);
		case 2:
			return slc_ring_mpsc_enqueue_burst(r, buf, n);
		default:
			if (slc_ring_mpsc_enqueue_reserve(r, n, &resv) == 0)
				return 0;
			memcpy(resv.slots, buf, (size_t)resv.n * sizeof(uint64_t));
			slc_ring_mpsc_enqueue_commit(r, &resv);
			return resv.n;
		}
	}
	struct slc_ring_spsc *r = s->ring;
	void *slots;
	uint32_t got;

	switch (how % 4) {
	case 0:
		return slc_ring_spsc_enqueue(r, buf) == 0 ? 1 : 0;
	case 1:
		return slc_ring_spsc_enqueue_bulk(r, buf, n);
	case 2:
		return slc_ring_spsc_enqueue_burst(r, buf, n);
	default:
		got = slc_ring_spsc_enqueue_reserve(r, n, &slots);
		memcpy(slots, buf, (size_t)got * sizeof(uint64_t));
		slc_ring_spsc_enqueue_commit(r, got);
		return got;
	}
}

static void *
producer(void *varg)
{
	struct producer_arg *a = varg;
	struct stress *s = a->s;
	uint64_t buf[BATCH_MAX];
	uint64_t seq = 0;
	uint32_t x = 0x9e3779b9u * (a->id + 1);
	unsigned spins = 0;

	pthread_barrier_wait(&s->start);
	while (seq < s->per_producer) {
		uint32_t n = 1 + rnd(&x) % BATCH_MAX;
		uint32_t done;

		if (n > s->per_producer - seq)
			n = (uint32_t)(s->per_producer - seq);
		for (uint32_t i = 0; i < n; i++)
			buf[i] = ELEM(a->id, seq + i);
		done = produce_some(s, buf, n, rnd(&x));
		if (done == 0)
			backoff(&spins);
		seq += done;
	}
	return NULL;
}

static uint32_t
consume_some(struct stress *s, uint64_t *buf, uint32_t n, uint32_t how)
{
	const void *slots;
	uint32_t got;

	if (s->mpsc) {
		struct slc_ring_mpsc *r = s->ring;

		switch (how % 4) {
		case 0:
			return slc_ring_mpsc_dequeue(r, buf) == 0 ? 1 : 0;
		case 1:
			return slc_ring_mpsc_dequeue_bulk(r, buf, n);
		case 2:
			return slc_ring_mpsc_dequeue_burst(r, buf, n);
		default:
			got = slc_ring_mpsc_dequeue_peek(r, n, &slots);
			memcpy(buf, slots, (size_t)got * sizeof(uint64_t));
			slc_ring_mpsc_dequeue_release(r, got);
			return got;
		}
	}
	struct slc_ring_spsc *r = s->ring;

	switch (how % 4) {
	case 0:
		return slc_ring_spsc_dequeue(r, buf) == 0 ? 1 : 0;
	case 1:
		return slc_ring_spsc_dequeue_bulk(r, buf, n);
	case 2:
		return slc_ring_spsc_dequeue_burst(r, buf, n);
	default:
		got = slc_ring_spsc_dequeue_peek(r, n, &slots);
		memcpy(buf, slots, (size_t)got * sizeof(uint64_t));
		slc_ring_spsc_dequeue_release(r, got);
		return got;
	}
}

/* Runs the producers against this thread as consumer and checks what arrives. */
static void
run_stress(bool mpsc, unsigned producers, uint32_t capacity, uint32_t start_index)
{
	struct stress s = {.mpsc = mpsc, .producers = producers};
	struct producer_arg args[MAX_PRODUCERS];
	pthread_t tids[MAX_PRODUCERS];
	uint64_t next[MAX_PRODUCERS] = {0};
	uint64_t buf[BATCH_MAX], total = 0, expected;
	uint32_t x = 12345;
	unsigned spins = 0;
	size_t len;

	len = mpsc ? slc_ring_mpsc_memsize(capacity, 8) : slc_ring_spsc_memsize(capacity, 8);
	s.ring = aligned_alloc(SLC_RING_ALIGN, len);
	cr_assert_not_null(s.ring);
	if (mpsc) {
		cr_assert_eq(slc_ring_mpsc_init(s.ring, capacity, 8), 0);
		cr_assert_eq(slc_ring_mpsc_debug_set_index(s.ring, start_index), 0);
	} else {
		cr_assert_eq(slc_ring_spsc_init(s.ring, capacity, 8), 0);
		cr_assert_eq(slc_ring_spsc_debug_set_index(s.ring, start_index), 0);
	}
	s.per_producer = STRESS_ELEMS / producers;
	expected = s.per_producer * producers;
	pthread_barrier_init(&s.start, NULL, producers + 1);
	for (unsigned i = 0; i < producers; i++) {
		args[i] = (struct producer_arg){.s = &s, .id = i};
		cr_assert_eq(pthread_create(&tids[i], NULL, producer, &args[i]), 0);
	}
	pthread_barrier_wait(&s.start);

	while (total < expected) {
		uint32_t got = consume_some(&s, buf, 1 + rnd(&x) % BATCH_MAX, rnd(&x));

		if (got == 0) {
			backoff(&spins);
			continue;
		}
		for (uint32_t i = 0; i < got; i++) {
			unsigned id = ELEM_ID(buf[i]);

			cr_assert_lt(id, producers, "element from unknown producer: %#llx",
			             (unsigned long long)buf[i]);
			cr_assert_eq(ELEM_SEQ(buf[i]), next[id],
			             "producer %u: got seq %llu, expected %llu", id,
			             (unsigned long long)ELEM_SEQ(buf[i]),
			             (unsigned long long)next[id]);
			next[id]++;
		}
		total += got;
	}
	for (unsigned i = 0; i < producers; i++)
		pthread_join(tids[i], NULL);
	for (unsigned i = 0; i < producers; i++)
		cr_expect_eq(next[i], s.per_producer, "producer %u: all arrived", i);
	cr_expect_eq(mpsc ? slc_ring_mpsc_count(s.ring) : slc_ring_spsc_count(s.ring), 0,
	             "nothing left over, nothing extra");
	pthread_barrier_destroy(&s.start);
	free(s.ring);
}

Test(ring_stress, spsc_one_producer_one_consumer)
{
	run_stress(false, 1, 1024, 0);
}

/* A small ring keeps both sides hitting full and empty; the indices cross 2^32 early. */
Test(ring_stress, spsc_small_ring_across_index_wrap)
{
	run_stress(false, 1, 64, UINT32_MAX - 1000);
}

Test(ring_stress, mpsc_two_producers)
{
	run_stress(true, 2, 1024, 0);
}

Test(ring_stress, mpsc_three_producers_across_index_wrap)
{
	run_stress(true, 3, 256, UINT32_MAX - 1000);
}

Test(ring_stress, mpsc_four_producers_small_ring)
{
	run_stress(true, 4, 64, 0);
}
