/* SPDX-License-Identifier: MIT */
/* test_ring_spsc.c: single-thread semantics of the SPSC ring. */
#define RING_SUITE ring_spsc
#define RING_T     struct slc_ring_spsc
#define RING(op)   slc_ring_spsc_##op
#include "ring_cases.h"

Test(ring_spsc, reserve_and_commit_write_in_place)
{
	RING_T *r = ring_new(8, 8);
	uint64_t out[8];
	void *slots;

	cr_assert_eq(slc_ring_spsc_enqueue_reserve(r, 5, &slots), 5);
	for (uint64_t i = 0; i < 5; i++)
		((uint64_t *)slots)[i] = 100 + i;
	cr_expect_eq(slc_ring_spsc_count(r), 0, "nothing is visible before commit");
	slc_ring_spsc_enqueue_commit(r, 3); /* a producer may commit less than it reserved */
	cr_expect_eq(slc_ring_spsc_count(r), 3);
	cr_assert_eq(slc_ring_spsc_dequeue_burst(r, out, 8), 3);
	cr_expect_eq(out[0], 100);
	cr_expect_eq(out[2], 102);
	/* tail is at 3: 5 slots to the end of the array, and the reservation stops there. */
	cr_assert_eq(slc_ring_spsc_enqueue_reserve(r, 8, &slots), 5);
	slc_ring_spsc_enqueue_commit(r, 5);
	cr_assert_eq(slc_ring_spsc_enqueue_reserve(r, 8, &slots), 3, "wrapped: slots 0..2");
	cr_expect_eq(slots, (void *)r->slots);
	slc_ring_spsc_enqueue_commit(r, 3);
	cr_expect_eq(slc_ring_spsc_enqueue_reserve(r, 1, &slots), 0, "full");
	free(r);
}
