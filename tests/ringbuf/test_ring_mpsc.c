/* SPDX-License-Identifier: MIT */
/* test_ring_mpsc.c: single-thread semantics of the MPSC ring. */
#define RING_SUITE ring_mpsc
#define RING_T     struct slc_ring_mpsc
#define RING(op)   slc_ring_mpsc_##op
#include "ring_cases.h"

Test(ring_mpsc, reserve_and_commit_write_in_place)
{
	RING_T *r = ring_new(8, 8);
	struct slc_ring_mpsc_resv a, b;
	uint64_t out[8];

	cr_assert_eq(slc_ring_mpsc_enqueue_reserve(r, 5, &a), 5);
	cr_assert_eq(slc_ring_mpsc_enqueue_reserve(r, 8, &b), 3, "two reservations side by side");
	for (uint64_t i = 0; i < 3; i++)
		((uint64_t *)b.slots)[i] = 200 + i;
	slc_ring_mpsc_enqueue_commit(r, &b);
	cr_expect_eq(slc_ring_mpsc_dequeue_burst(r, out, 8), 0,
	             "the second reservation waits behind the first, uncommitted one");
	for (uint64_t i = 0; i < 5; i++)
		((uint64_t *)a.slots)[i] = 100 + i;
	slc_ring_mpsc_enqueue_commit(r, &a);
	cr_assert_eq(slc_ring_mpsc_dequeue_burst(r, out, 8), 8);
	cr_expect_eq(out[0], 100);
	cr_expect_eq(out[4], 104);
	cr_expect_eq(out[5], 200);
	cr_expect_eq(out[7], 202);
	/* head and tail at 8 = slot 0: a reservation of 6 fits, a second one stops at the end. */
	cr_assert_eq(slc_ring_mpsc_enqueue_reserve(r, 6, &a), 6);
	slc_ring_mpsc_enqueue_commit(r, &a);
	cr_assert_eq(slc_ring_mpsc_dequeue_burst(r, out, 4), 4);
	cr_assert_eq(slc_ring_mpsc_enqueue_reserve(r, 8, &b), 2, "contiguous to the array's end");
	slc_ring_mpsc_enqueue_commit(r, &b);
	cr_assert_eq(slc_ring_mpsc_enqueue_reserve(r, 8, &b), 4, "wrapped");
	cr_expect_eq(b.slots, (void *)r->slots);
	slc_ring_mpsc_enqueue_commit(r, &b);
	cr_expect_eq(slc_ring_mpsc_enqueue_reserve(r, 1, &b), 0, "full");
	free(r);
}
