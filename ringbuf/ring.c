/* SPDX-License-Identifier: MIT */
/* ring.c: sizing and initialisation of the SPSC and MPSC rings (the hot path is in ring.h). */
#include "ring.h"

#include <errno.h>

static bool
ring_params_valid(uint32_t capacity, uint32_t esize)
{
	if (capacity < 2 || capacity > SLC_RING_CAPACITY_MAX || (capacity & (capacity - 1)) != 0)
		return false;
	if (esize < 8 || esize > SLC_RING_ESIZE_MAX || esize % 8 != 0)
		return false;
	return true;
}

static size_t
round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

size_t
slc_ring_spsc_memsize(uint32_t capacity, uint32_t esize)
{
	if (!ring_params_valid(capacity, esize))
		return 0;
	/* A multiple of the alignment, as aligned_alloc() wants. */
	return sizeof(struct slc_ring_spsc) + round_up((size_t)capacity * esize, SLC_RING_ALIGN);
}

int
slc_ring_spsc_init(struct slc_ring_spsc *r, uint32_t capacity, uint32_t esize)
{
	if (!ring_params_valid(capacity, esize) || (uintptr_t)r % SLC_RING_ALIGN != 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->mask = capacity - 1;
	r->capacity = capacity;
	r->esize = esize;
	r->slots = r->data;
	atomic_init(&r->prod.tail, 0);
	atomic_init(&r->cons.head, 0);
	return 0;
}

int
slc_ring_spsc_debug_set_index(struct slc_ring_spsc *r, uint32_t start)
{
	if (slc_ring_spsc_count(r) != 0)
		return -EBUSY;
	atomic_store_explicit(&r->prod.tail, start, memory_order_relaxed);
	atomic_store_explicit(&r->cons.head, start, memory_order_relaxed);
	r->prod.head_cache = start;
	r->cons.tail_cache = start;
	return 0;
}

/* The sequence array sits right after the header, the slots after it on a line boundary. */
static size_t
mpsc_seq_bytes(uint32_t capacity)
{
	return round_up((size_t)capacity * sizeof(uint32_t), SLC_CACHE_LINE);
}

size_t
slc_ring_mpsc_memsize(uint32_t capacity, uint32_t esize)
{
	if (!ring_params_valid(capacity, esize))
		return 0;
	return round_up(sizeof(struct slc_ring_mpsc) + mpsc_seq_bytes(capacity) +
	                        (size_t)capacity * esize,
	                SLC_RING_ALIGN);
}

static void
mpsc_reset(struct slc_ring_mpsc *r, uint32_t start)
{
	for (uint32_t i = 0; i < r->capacity; i++)
		atomic_store_explicit(&r->seq[(start + i) & r->mask], start + i,
		                      memory_order_relaxed);
	atomic_store_explicit(&r->prod.head, start, memory_order_relaxed);
	atomic_store_explicit(&r->prod.head_cache, start, memory_order_relaxed);
	atomic_store_explicit(&r->cons.head, start, memory_order_relaxed);
}

int
slc_ring_mpsc_init(struct slc_ring_mpsc *r, uint32_t capacity, uint32_t esize)
{
	if (!ring_params_valid(capacity, esize) || (uintptr_t)r % SLC_RING_ALIGN != 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->mask = capacity - 1;
	r->capacity = capacity;
	r->esize = esize;
	r->seq = (_Atomic uint32_t *)(void *)r->data;
	r->slots = r->data + mpsc_seq_bytes(capacity);
	mpsc_reset(r, 0);
	return 0;
}

int
slc_ring_mpsc_debug_set_index(struct slc_ring_mpsc *r, uint32_t start)
{
	if (slc_ring_mpsc_count(r) != 0)
		return -EBUSY;
	mpsc_reset(r, start);
	return 0;
}
