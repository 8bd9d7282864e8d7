/* SPDX-License-Identifier: MIT */
/* ring_cases.h: single-thread semantics shared by the SPSC and MPSC ring tests. */

/*
 * Included by test_ring_spsc.c and test_ring_mpsc.c with RING_SUITE (the Criterion suite),
 * RING_T (the ring type) and RING(op) (the function name for op) defined.
 */

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "ring.h"

static RING_T *
ring_new(uint32_t capacity, uint32_t esize)
{
	size_t len = RING(memsize)(capacity, esize);
	RING_T *r;

	cr_assert_gt(len, 0);
	r = aligned_alloc(SLC_RING_ALIGN, len);
	cr_assert_not_null(r);
	cr_assert_eq(RING(init)(r, capacity, esize), 0);
	return r;
}

Test(RING_SUITE, refuses_bad_parameters)
{
	unsigned char *mem = aligned_alloc(SLC_RING_ALIGN, 1 << 16);

	cr_expect_eq(RING(memsize)(0, 8), 0);
	cr_expect_eq(RING(memsize)(1, 8), 0, "capacity 1 cannot tell full from empty usefully");
	cr_expect_eq(RING(memsize)(48, 8), 0, "capacity must be a power of two");
	cr_expect_eq(RING(memsize)(SLC_RING_CAPACITY_MAX * 2u, 8), 0);
	cr_expect_eq(RING(memsize)(64, 0), 0);
	cr_expect_eq(RING(memsize)(64, 12), 0, "esize must be a multiple of 8");
	cr_expect_eq(RING(memsize)(64, SLC_RING_ESIZE_MAX + 8), 0);
	cr_expect_eq(RING(init)((RING_T *)(void *)mem, 48, 8), -EINVAL);
	cr_expect_eq(RING(init)((RING_T *)(void *)(mem + SLC_CACHE_LINE), 64, 8), -EINVAL,
	             "aligned to a cache line, but not to SLC_RING_ALIGN");
	cr_expect_eq(RING(init)((RING_T *)(void *)mem, 64, 8), 0);
	free(mem);
}

Test(RING_SUITE, full_and_empty)
{
	RING_T *r = ring_new(16, 8);
	uint64_t v;

	cr_expect_eq(RING(dequeue)(r, &v), -EAGAIN);
	for (uint64_t i = 0; i < 16; i++)
		cr_assert_eq(RING(enqueue)(r, &i), 0);
	v = 99;
	cr_expect_eq(RING(enqueue)(r, &v), -ENOBUFS);
	cr_expect_eq(RING(count)(r), 16);
	for (uint64_t i = 0; i < 16; i++) {
		cr_assert_eq(RING(dequeue)(r, &v), 0);
		cr_expect_eq(v, i);
	}
	cr_expect_eq(RING(dequeue)(r, &v), -EAGAIN);
	cr_expect_eq(RING(count)(r), 0);
	free(r);
}

Test(RING_SUITE, bulk_is_all_or_nothing_burst_takes_what_fits)
{
	RING_T *r = ring_new(8, 8);
	uint64_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8] = {0};

	cr_expect_eq(RING(enqueue_bulk)(r, in, 5), 5);
	cr_expect_eq(RING(enqueue_bulk)(r, in, 5), 0, "only 3 free: bulk takes none");
	cr_expect_eq(RING(count)(r), 5);
	cr_expect_eq(RING(enqueue_burst)(r, in + 5, 5), 3, "burst takes the 3 that fit");
	cr_expect_eq(RING(enqueue_burst)(r, in, 1), 0);
	cr_expect_eq(RING(dequeue_bulk)(r, out, 8), 8);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(out[i], (uint64_t)i + 1);
	cr_expect_eq(RING(enqueue_bulk)(r, in, 3), 3);
	cr_expect_eq(RING(dequeue_bulk)(r, out, 4), 0, "only 3 there: bulk takes none");
	cr_expect_eq(RING(count)(r), 3);
	cr_expect_eq(RING(dequeue_burst)(r, out, 4), 3);
	cr_expect_eq(out[0], 1);
	cr_expect_eq(out[2], 3);
	cr_expect_eq(RING(dequeue_burst)(r, out, 4), 0);
	free(r);
}

/* Indices start just below 2^32 and run past it, with runs that also wrap the slot array. */
Test(RING_SUITE, wraps_past_two_to_the_32)
{
	RING_T *r = ring_new(16, 8);
	uint64_t in[7], out[7], next_in = 0, next_out = 0;

	cr_assert_eq(RING(debug_set_index)(r, UINT32_MAX - 20), 0);
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 7; i++)
			in[i] = next_in++;
		cr_assert_eq(RING(enqueue_bulk)(r, in, 7), 7);
		cr_expect_eq(RING(count)(r), 7);
		cr_assert_eq(RING(dequeue_burst)(r, out, 7), 7);
		for (int i = 0; i < 7; i++)
			cr_assert_eq(out[i], next_out++, "round %d slot %d", round, i);
	}
	/* Fill to the brim across the 2^32 boundary, too. */
	cr_assert_eq(RING(debug_set_index)(r, UINT32_MAX - 3), 0);
	for (uint64_t i = 0; i < 16; i++)
		cr_assert_eq(RING(enqueue)(r, &i), 0);
	cr_expect_eq(RING(enqueue)(r, &next_in), -ENOBUFS);
	cr_expect_eq(RING(count)(r), 16);
	cr_expect_eq(RING(debug_set_index)(r, 0), -EBUSY, "moving indices of a full ring");
	for (uint64_t i = 0; i < 16; i++) {
		cr_assert_eq(RING(dequeue)(r, &out[0]), 0);
		cr_expect_eq(out[0], i);
	}
	cr_expect_eq(RING(dequeue)(r, &out[0]), -EAGAIN);
	free(r);
}

Test(RING_SUITE, water_level)
{
	RING_T *r = ring_new(64, 8);
	uint64_t v[16] = {0};

	cr_expect_eq(RING(water_level_pct)(r), 0);
	RING(enqueue_bulk)(r, v, 16);
	cr_expect_eq(RING(water_level_pct)(r), 25);
	RING(enqueue_bulk)(r, v, 16);
	RING(enqueue_bulk)(r, v, 16);
	RING(enqueue_bulk)(r, v, 16);
	cr_expect_eq(RING(water_level_pct)(r), 100);
	cr_expect_eq(RING(count)(r), 64);
	RING(dequeue_bulk)(r, v, 16);
	cr_expect_eq(RING(water_level_pct)(r), 75);
	free(r);
}

/* 32-byte elements, the size of a message descriptor, keep all their bytes. */
struct elem32 {
	uint64_t a, b, c, d;
};

Test(RING_SUITE, carries_32_byte_elements)
{
	RING_T *r = ring_new(8, sizeof(struct elem32));
	struct elem32 in[6], out[6];

	for (int i = 0; i < 6; i++)
		in[i] = (struct elem32){(uint64_t)i, ~(uint64_t)i, (uint64_t)i << 32, 0xabcdef};
	for (int round = 0; round < 5; round++) {
		cr_assert_eq(RING(enqueue_bulk)(r, in, 6), 6);
		cr_assert_eq(RING(dequeue_bulk)(r, out, 6), 6);
		cr_expect_arr_eq(out, in, sizeof(in), "round %d", round);
	}
	free(r);
}

/* Odd element sizes go through the generic copy. */
Test(RING_SUITE, carries_24_byte_elements)
{
	RING_T *r = ring_new(4, 24);
	uint64_t in[3 * 3], out[3 * 3];

	for (int i = 0; i < 9; i++)
		in[i] = (uint64_t)i * 0x0101010101010101u;
	for (int round = 0; round < 4; round++) {
		cr_assert_eq(RING(enqueue_burst)(r, in, 3), 3);
		cr_assert_eq(RING(dequeue_burst)(r, out, 3), 3);
		cr_expect_arr_eq(out, in, sizeof(in), "round %d", round);
	}
	free(r);
}

Test(RING_SUITE, peek_and_release_read_in_place)
{
	RING_T *r = ring_new(8, 8);
	uint64_t in[6] = {10, 11, 12, 13, 14, 15};
	const void *slots;

	cr_expect_eq(RING(dequeue_peek)(r, 4, &slots), 0);
	RING(enqueue_bulk)(r, in, 6);
	cr_assert_eq(RING(dequeue_peek)(r, 4, &slots), 4);
	cr_expect_eq(((const uint64_t *)slots)[0], 10);
	cr_expect_eq(((const uint64_t *)slots)[3], 13);
	RING(dequeue_release)(r, 2);
	cr_expect_eq(RING(count)(r), 4);
	/* Positions 2..5, then the next peek stops at the end of the slot array. */
	RING(enqueue_bulk)(r, in, 4); /* positions 6..9 wrap to slots 6,7,0,1 */
	cr_assert_eq(RING(dequeue_peek)(r, 8, &slots), 6, "contiguous up to the array's end");
	cr_expect_eq(((const uint64_t *)slots)[0], 12);
	cr_expect_eq(((const uint64_t *)slots)[5], 11);
	RING(dequeue_release)(r, 6);
	cr_assert_eq(RING(dequeue_peek)(r, 8, &slots), 2);
	cr_expect_eq(((const uint64_t *)slots)[0], 12);
	cr_expect_eq(((const uint64_t *)slots)[1], 13);
	RING(dequeue_release)(r, 2);
	cr_expect_eq(RING(count)(r), 0);
	free(r);
}
