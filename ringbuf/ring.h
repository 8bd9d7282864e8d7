/* SPDX-License-Identifier: MIT */
/* ring.h: bounded lock-free SPSC and MPSC rings of fixed-size slots, with bulk and burst ops. */
#ifndef SLC_RINGBUF_RING_H
#define SLC_RINGBUF_RING_H

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"   /* SLC_ASSERT */
#include "base/compiler.h" /* SLC_CACHE_LINE */

/*
 * Two ring types move fixed-size elements (8 to SLC_RING_ESIZE_MAX bytes, a multiple of 8)
 * between threads without locks:
 *
 *   struct slc_ring_spsc   one producer thread, one consumer thread
 *   struct slc_ring_mpsc   any number of producer threads, one consumer thread
 *
 * The caller owns the memory: ask slc_ring_<type>_memsize() how much a ring needs, allocate
 * that many bytes aligned to SLC_RING_ALIGN (numa/ allocates it on the node that uses it),
 * and call slc_ring_<type>_init() on it. Nothing here allocates or blocks.
 *
 * Naming says the batch rule:
 *   _bulk    all or nothing: returns n or 0
 *   _burst   as many as fit or are there: returns 0..n
 *   single   slc_ring_<type>_enqueue/_dequeue: 0, -ENOBUFS (full) or -EAGAIN (empty)
 * and a zero-copy pair on each side:
 *   enqueue_reserve -> write the slots in place -> enqueue_commit
 *   dequeue_peek    -> read the slots in place  -> dequeue_release
 *
 * Indices run free over the whole uint32_t range and are masked on access. Every distance
 * is computed as an unsigned difference (tail - head), which is exact modulo 2^32; since a
 * ring never holds more than capacity <= 2^31 elements, that difference is never ambiguous,
 * so the wrap of the indices past 2^32 needs no special case.
 *
 *   slot state, seen by one index position p (SPSC):
 *
 *     free --(producer writes, tail = p+1)--> full --(consumer reads, head = p+1)--> free
 *
 * Memory ordering (the argument is spelled out in docs/architecture.md):
 *   R1 producer's release of tail (SPSC) or of the slot's sequence (MPSC) pairs with
 *   A2 the consumer's acquire of the same word: slot contents written before R1 are
 *      visible after A2.
 *   R2 the consumer's release of head pairs with
 *   A1 the producer's acquire of head: the consumer's reads of a slot happen before the
 *      producer writes that slot again, one lap later.
 */

/* Adjacent-line prefetchers pull lines in pairs: keep the two sides 128 bytes apart. */
#define SLC_RING_SIDE_GAP 128
/* Alignment a ring's memory must have: that of its most aligned member. */
#define SLC_RING_ALIGN SLC_RING_SIDE_GAP

#define SLC_RING_ESIZE_MAX    1024u
#define SLC_RING_CAPACITY_MAX (1u << 30)

static inline void
slc_ring_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * Copies n elements of esize bytes. The common descriptor sizes get fixed-size moves that
 * the compiler turns into plain loads and stores; a call to memcpy costs more than moving
 * one 8-byte element.
 */
static inline void
slc_ring_copy_elems(void *restrict dst, const void *restrict src, uint32_t n, uint32_t esize)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	/* esize is known only at run time, so GCC checks every case below against the
	 * caller's object (an 8-byte element against the 32-byte case) and warns. The empty
	 * asm hides where the pointers came from; it emits no instruction. */
	__asm__("" : "+r"(d), "+r"(s));
	switch (esize) {
	case 8:
		for (uint32_t i = 0; i < n; i++)
			__builtin_memcpy(d + (size_t)i * 8, s + (size_t)i * 8, 8);
		break;
	case 16:
		for (uint32_t i = 0; i < n; i++)
			__builtin_memcpy(d + (size_t)i * 16, s + (size_t)i * 16, 16);
		break;
	case 32:
		for (uint32_t i = 0; i < n; i++)
			__builtin_memcpy(d + (size_t)i * 32, s + (size_t)i * 32, 32);
		break;
	default:
		memcpy(d, s, (size_t)n * esize);
		break;
	}
}

/* Copies n elements into a ring's slot array at index idx, in two pieces if it wraps. */
static inline void
slc_ring_copy_in(unsigned char *slots, uint32_t mask, uint32_t esize, uint32_t idx, const void *src,
                 uint32_t n)
{
	uint32_t pos = idx & mask;
	uint32_t first = mask + 1 - pos;

	if (n <= first) {
		slc_ring_copy_elems(slots + (size_t)pos * esize, src, n, esize);
		return;
	}
	slc_ring_copy_elems(slots + (size_t)pos * esize, src, first, esize);
	slc_ring_copy_elems(slots, (const unsigned char *)src + (size_t)first * esize, n - first,
	                    esize);
}

static inline void
slc_ring_copy_out(const unsigned char *slots, uint32_t mask, uint32_t esize, uint32_t idx,
                  void *dst, uint32_t n)
{
	uint32_t pos = idx & mask;
	uint32_t first = mask + 1 - pos;

	if (n <= first) {
		slc_ring_copy_elems(dst, slots + (size_t)pos * esize, n, esize);
		return;
	}
	slc_ring_copy_elems(dst, slots + (size_t)pos * esize, first, esize);
	slc_ring_copy_elems((unsigned char *)dst + (size_t)first * esize, slots, n - first, esize);
}

static inline uint32_t
slc_ring_level_clamp(uint32_t head, uint32_t tail, uint32_t capacity)
{
	/* head was read first: tail can only be ahead of it, possibly by more than a lap
	 * if the reader stalled between the two loads. */
	uint32_t level = tail - head;

	return level > capacity ? capacity : level;
}

/* ------------------------------------------------------------------------------------ */
/* SPSC                                                                                  */
/* ------------------------------------------------------------------------------------ */

/*
 * Layout: a read-only line, then the producer's line, then the consumer's line, then the
 * slots. Each side keeps a private copy of the other side's index (head_cache, tail_cache)
 * and reloads the shared one only when the copy says there is no room or nothing to take,
 * so in steady state a side touches only its own line and the slots.
 */
struct slc_ring_spsc {
	uint32_t mask;
	uint32_t capacity;
	uint32_t esize;
	uint32_t pad0;
	unsigned char *slots;

	alignas(SLC_RING_SIDE_GAP) struct {
		_Atomic uint32_t tail; /* written by the producer only */
		uint32_t head_cache;   /* producer-private */
	} prod;

	alignas(SLC_RING_SIDE_GAP) struct {
		_Atomic uint32_t head; /* written by the consumer only */
		uint32_t tail_cache;   /* consumer-private */
	} cons;

	alignas(SLC_RING_SIDE_GAP) unsigned char data[];
};

static_assert(_Alignof(struct slc_ring_spsc) == SLC_RING_ALIGN, "ring alignment");
static_assert(offsetof(struct slc_ring_spsc, cons) - offsetof(struct slc_ring_spsc, prod) >=
                      SLC_RING_SIDE_GAP,
              "prod and cons must not share a line pair");

/* Bytes needed for a ring of capacity elements of esize bytes, a multiple of SLC_RING_ALIGN;
 * 0 if either is invalid. */
size_t slc_ring_spsc_memsize(uint32_t capacity, uint32_t esize);

/*
 * Initialises an empty ring in memory of slc_ring_spsc_memsize() bytes.
 * Returns 0, or -EINVAL if capacity is not a power of two in [2, 2^30], esize is not a
 * multiple of 8 in [8, SLC_RING_ESIZE_MAX], or r is not aligned to SLC_RING_ALIGN.
 */
int slc_ring_spsc_init(struct slc_ring_spsc *r, uint32_t capacity, uint32_t esize);

/*
 * Moves both indices of an empty ring to start; for tests of index wrap-around. Returns 0,
 * or -EBUSY if the ring is not empty. Not thread-safe.
 */
int slc_ring_spsc_debug_set_index(struct slc_ring_spsc *r, uint32_t start);

/* Elements in the ring, from any thread; exact when neither side is moving. */
static inline uint32_t
slc_ring_spsc_count(const struct slc_ring_spsc *r)
{
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r->prod.tail, memory_order_acquire);

	return slc_ring_level_clamp(head, tail, r->capacity);
}

static inline uint32_t
slc_ring_spsc_water_level_pct(const struct slc_ring_spsc *r)
{
	return (uint32_t)(((uint64_t)slc_ring_spsc_count(r) * 100) / r->capacity);
}

/* Producer side: free slots, reloading the consumer's index only if the cache shows < n. */
static inline uint32_t
slc_ring_spsc_prod_room(struct slc_ring_spsc *r, uint32_t tail, uint32_t n)
{
	uint32_t room = r->capacity + r->prod.head_cache - tail;

	if (room < n) {
		/* A1: pairs with R2 in slc_ring_spsc_dequeue_release */
		r->prod.head_cache = atomic_load_explicit(&r->cons.head, memory_order_acquire);
		room = r->capacity + r->prod.head_cache - tail;
	}
	return room;
}

/* Consumer side: full slots, reloading the producer's index only if the cache shows < n. */
static inline uint32_t
slc_ring_spsc_cons_avail(struct slc_ring_spsc *r, uint32_t head, uint32_t n)
{
	uint32_t avail = r->cons.tail_cache - head;

	if (avail < n) {
		/* A2: pairs with R1 in slc_ring_spsc_enqueue_commit */
		r->cons.tail_cache = atomic_load_explicit(&r->prod.tail, memory_order_acquire);
		avail = r->cons.tail_cache - head;
	}
	return avail;
}

/*
 * Zero-copy enqueue: returns how many slots (0..n) can be written in place, contiguous from
 * *slots. The producer writes up to that many and publishes them with
 * slc_ring_spsc_enqueue_commit(); nothing is visible before that.
 */
static inline uint32_t
slc_ring_spsc_enqueue_reserve(struct slc_ring_spsc *r, uint32_t n, void **slots)
{
	uint32_t tail = atomic_load_explicit(&r->prod.tail, memory_order_relaxed);
	uint32_t room = slc_ring_spsc_prod_room(r, tail, n);
	uint32_t pos = tail & r->mask;
	uint32_t contig = r->capacity - pos;

	if (n > room)
		n = room;
	if (n > contig)
		n = contig;
	*slots = r->slots + (size_t)pos * r->esize;
	return n;
}

/* Publishes the first n slots of the last reservation (n <= what reserve returned). */
static inline void
slc_ring_spsc_enqueue_commit(struct slc_ring_spsc *r, uint32_t n)
{
	uint32_t tail = atomic_load_explicit(&r->prod.tail, memory_order_relaxed);

	/* R1: pairs with A2 in slc_ring_spsc_cons_avail */
	atomic_store_explicit(&r->prod.tail, tail + n, memory_order_release);
}

static inline uint32_t
slc_ring_spsc_enqueue_n(struct slc_ring_spsc *r, const void *objs, uint32_t n, bool all)
{
	uint32_t tail = atomic_load_explicit(&r->prod.tail, memory_order_relaxed);
	uint32_t room = slc_ring_spsc_prod_room(r, tail, n);

	if (room < n) {
		if (all || room == 0)
			return 0;
		n = room;
	}
	slc_ring_copy_in(r->slots, r->mask, r->esize, tail, objs, n);
	/* R1: pairs with A2 in slc_ring_spsc_cons_avail */
	atomic_store_explicit(&r->prod.tail, tail + n, memory_order_release);
	return n;
}

/* Enqueues all n elements of objs, or none: returns n or 0. */
static inline uint32_t
slc_ring_spsc_enqueue_bulk(struct slc_ring_spsc *r, const void *objs, uint32_t n)
{
	return slc_ring_spsc_enqueue_n(r, objs, n, true);
}

/* Enqueues as many of the n elements as fit: returns 0..n. */
static inline uint32_t
slc_ring_spsc_enqueue_burst(struct slc_ring_spsc *r, const void *objs, uint32_t n)
{
	return slc_ring_spsc_enqueue_n(r, objs, n, false);
}

/* Enqueues one element. Returns 0, or -ENOBUFS if the ring is full. */
static inline int
slc_ring_spsc_enqueue(struct slc_ring_spsc *r, const void *obj)
{
	return slc_ring_spsc_enqueue_n(r, obj, 1, true) ? 0 : -ENOBUFS;
}

/*
 * Zero-copy dequeue: returns how many elements (0..n) can be read in place, contiguous from
 * *slots. They stay in the ring until slc_ring_spsc_dequeue_release().
 */
static inline uint32_t
slc_ring_spsc_dequeue_peek(struct slc_ring_spsc *r, uint32_t n, const void **slots)
{
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_relaxed);
	uint32_t avail = slc_ring_spsc_cons_avail(r, head, n);
	uint32_t pos = head & r->mask;
	uint32_t contig = r->capacity - pos;

	if (n > avail)
		n = avail;
	if (n > contig)
		n = contig;
	*slots = r->slots + (size_t)pos * r->esize;
	return n;
}

/* Gives back the first n elements returned by the last peek (n <= what peek returned). */
static inline void
slc_ring_spsc_dequeue_release(struct slc_ring_spsc *r, uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_relaxed);

	/* R2: pairs with A1 in slc_ring_spsc_prod_room */
	atomic_store_explicit(&r->cons.head, head + n, memory_order_release);
}

static inline uint32_t
slc_ring_spsc_dequeue_n(struct slc_ring_spsc *r, void *objs, uint32_t n, bool all)
{
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_relaxed);
	uint32_t avail = slc_ring_spsc_cons_avail(r, head, n);

	if (avail < n) {
		if (all || avail == 0)
			return 0;
		n = avail;
	}
	slc_ring_copy_out(r->slots, r->mask, r->esize, head, objs, n);
	/* R2: pairs with A1 in slc_ring_spsc_prod_room */
	atomic_store_explicit(&r->cons.head, head + n, memory_order_release);
	return n;
}

/* Dequeues exactly n elements or none: returns n or 0. */
static inline uint32_t
slc_ring_spsc_dequeue_bulk(struct slc_ring_spsc *r, void *objs, uint32_t n)
{
	return slc_ring_spsc_dequeue_n(r, objs, n, true);
}

/* Dequeues up to n elements: returns 0..n. */
static inline uint32_t
slc_ring_spsc_dequeue_burst(struct slc_ring_spsc *r, void *objs, uint32_t n)
{
	return slc_ring_spsc_dequeue_n(r, objs, n, false);
}

/* Dequeues one element. Returns 0, or -EAGAIN if the ring is empty. */
static inline int
slc_ring_spsc_dequeue(struct slc_ring_spsc *r, void *obj)
{
	return slc_ring_spsc_dequeue_n(r, obj, 1, true) ? 0 : -EAGAIN;
}

/* ------------------------------------------------------------------------------------ */
/* MPSC                                                                                  */
/* ------------------------------------------------------------------------------------ */

/*
 * Producers claim slots by compare-and-swap on prod.head, fill them, and publish each slot
 * by storing its sequence number (position + 1) into seq[]. The consumer takes a slot when
 * its sequence says it was filled for the current lap. Because every slot is published on
 * its own, a producer never waits for another one to finish: a producer preempted between
 * claim and publish delays the consumer at that slot, but never stalls other producers
 * (the in-order tail update of rte_ring's MP mode spins for a whole time slice in that case,
 * which on a machine with fewer cores than threads is the common case).
 *
 *   seq[p & mask] == p      free for the producer that claims position p
 *                           (initial value; a lap later it is p - capacity + 1 != p + 1)
 *   seq[p & mask] == p + 1  filled: the consumer at position p may read it
 *
 * Producers keep a shared, possibly stale copy of the consumer's head (head_cache). A stale
 * copy can only be behind the true head, so it can only underestimate the room: safe. A copy
 * stored by a producer that stalled for a lap or more between loading and storing it would
 * show more room than the ring has; such a value is refused and reloaded. (A stall of 2^32
 * ring operations remains undetectable, the same window as any 32-bit index CAS, rte_ring's
 * included.)
 */
struct slc_ring_mpsc {
	uint32_t mask;
	uint32_t capacity;
	uint32_t esize;
	uint32_t pad0;
	unsigned char *slots;
	_Atomic uint32_t *seq;

	alignas(SLC_RING_SIDE_GAP) struct {
		_Atomic uint32_t head;       /* next position to claim; CAS by producers */
		_Atomic uint32_t head_cache; /* recent value of cons.head, shared by producers */
	} prod;

	alignas(SLC_RING_SIDE_GAP) struct {
		_Atomic uint32_t head; /* written by the consumer only */
	} cons;

	alignas(SLC_RING_SIDE_GAP) unsigned char data[];
};

static_assert(offsetof(struct slc_ring_mpsc, cons) - offsetof(struct slc_ring_mpsc, prod) >=
                      SLC_RING_SIDE_GAP,
              "prod and cons must not share a line pair");

/* A claimed, not yet published run of slots (slc_ring_mpsc_enqueue_reserve). */
struct slc_ring_mpsc_resv {
	uint32_t pos;
	uint32_t n;
	void *slots;
};

/* Bytes needed for a ring of capacity elements of esize bytes, a multiple of SLC_RING_ALIGN;
 * 0 if either is invalid. */
size_t slc_ring_mpsc_memsize(uint32_t capacity, uint32_t esize);

/* As slc_ring_spsc_init: 0 or -EINVAL. */
int slc_ring_mpsc_init(struct slc_ring_mpsc *r, uint32_t capacity, uint32_t esize);

/* As slc_ring_spsc_debug_set_index: 0 or -EBUSY. */
int slc_ring_mpsc_debug_set_index(struct slc_ring_mpsc *r, uint32_t start);

/* Elements claimed and not yet consumed, from any thread. Includes slots that a producer
 * has claimed but not yet published. */
static inline uint32_t
slc_ring_mpsc_count(const struct slc_ring_mpsc *r)
{
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r->prod.head, memory_order_acquire);

	return slc_ring_level_clamp(head, tail, r->capacity);
}

static inline uint32_t
slc_ring_mpsc_water_level_pct(const struct slc_ring_mpsc *r)
{
	return (uint32_t)(((uint64_t)slc_ring_mpsc_count(r) * 100) / r->capacity);
}

/*
 * Claims up to n slots (exactly n when all is set) for this producer; with contig set the
 * claim stops at the end of the slot array. Returns the count claimed and its first position.
 */
static inline uint32_t
slc_ring_mpsc_claim(struct slc_ring_mpsc *r, uint32_t n, bool all, bool contig, uint32_t *pos)
{
	uint32_t head = atomic_load_explicit(&r->prod.head, memory_order_relaxed);
	uint32_t want;

	do {
		/* A1: pairs with R2 (directly, or through R3 of another producer) */
		uint32_t cached = atomic_load_explicit(&r->prod.head_cache, memory_order_acquire);
		int32_t room = (int32_t)(r->capacity + cached - head);

		want = n;
		/* A copy more than a lap old shows more room than a ring can have: reload. */
		if (room < (int32_t)want || room > (int32_t)r->capacity) {
			/* A1: pairs with R2 in slc_ring_mpsc_dequeue_release */
			cached = atomic_load_explicit(&r->cons.head, memory_order_acquire);
			/* R3: pairs with A1 above in other producers */
			atomic_store_explicit(&r->prod.head_cache, cached, memory_order_release);
			room = (int32_t)(r->capacity + cached - head);
			if (room < (int32_t)want) {
				if (all || room <= 0) {
					*pos = head;
					return 0;
				}
				want = (uint32_t)room;
			}
		}
		if (contig && want > r->capacity - (head & r->mask))
			want = r->capacity - (head & r->mask);
	} while (!atomic_compare_exchange_weak_explicit(
	        &r->prod.head, &head, head + want, memory_order_relaxed, memory_order_relaxed));
	*pos = head;
	return want;
}

static inline void
slc_ring_mpsc_publish(struct slc_ring_mpsc *r, uint32_t pos, uint32_t n)
{
	/* Locals: the release stores would make the compiler reload r->seq and r->mask. */
	_Atomic uint32_t *seq = r->seq;
	uint32_t mask = r->mask;

	for (uint32_t i = 0; i < n; i++) {
		/* R1: pairs with A2 in slc_ring_mpsc_cons_avail */
		atomic_store_explicit(&seq[(pos + i) & mask], pos + i + 1, memory_order_release);
	}
}

static inline uint32_t
slc_ring_mpsc_enqueue_n(struct slc_ring_mpsc *r, const void *objs, uint32_t n, bool all)
{
	uint32_t pos;

	n = slc_ring_mpsc_claim(r, n, all, false, &pos);
	if (n == 0)
		return 0;
	slc_ring_copy_in(r->slots, r->mask, r->esize, pos, objs, n);
	slc_ring_mpsc_publish(r, pos, n);
	return n;
}

/* Enqueues all n elements or none: returns n or 0. Safe from any number of threads. */
static inline uint32_t
slc_ring_mpsc_enqueue_bulk(struct slc_ring_mpsc *r, const void *objs, uint32_t n)
{
	return slc_ring_mpsc_enqueue_n(r, objs, n, true);
}

/* Enqueues as many of the n elements as fit: returns 0..n. */
static inline uint32_t
slc_ring_mpsc_enqueue_burst(struct slc_ring_mpsc *r, const void *objs, uint32_t n)
{
	return slc_ring_mpsc_enqueue_n(r, objs, n, false);
}

/* Enqueues one element. Returns 0, or -ENOBUFS if the ring is full. */
static inline int
slc_ring_mpsc_enqueue(struct slc_ring_mpsc *r, const void *obj)
{
	return slc_ring_mpsc_enqueue_n(r, obj, 1, true) ? 0 : -ENOBUFS;
}

/*
 * Zero-copy enqueue: claims up to n contiguous slots (0..n) and describes them in *resv.
 * The producer must fill and commit every claimed slot, promptly: the consumer cannot pass
 * a claimed slot until it is committed.
 */
static inline uint32_t
slc_ring_mpsc_enqueue_reserve(struct slc_ring_mpsc *r, uint32_t n, struct slc_ring_mpsc_resv *resv)
{
	resv->n = slc_ring_mpsc_claim(r, n, false, true, &resv->pos);
	resv->slots = r->slots + (size_t)(resv->pos & r->mask) * r->esize;
	return resv->n;
}

/* Publishes every slot of a reservation. */
static inline void
slc_ring_mpsc_enqueue_commit(struct slc_ring_mpsc *r, const struct slc_ring_mpsc_resv *resv)
{
	slc_ring_mpsc_publish(r, resv->pos, resv->n);
}

/* Consumer side: how many of the next n positions are published, stopping at the first gap. */
static inline uint32_t
slc_ring_mpsc_cons_avail(struct slc_ring_mpsc *r, uint32_t head, uint32_t n)
{
	_Atomic uint32_t *seq = r->seq;
	uint32_t mask = r->mask;
	uint32_t i = 0;

	/* A2: pairs with R1 in slc_ring_mpsc_publish */
	while (i < n &&
	       atomic_load_explicit(&seq[(head + i) & mask], memory_order_acquire) == head + i + 1)
		i++;
	return i;
}

/* Zero-copy dequeue, as slc_ring_spsc_dequeue_peek. */
static inline uint32_t
slc_ring_mpsc_dequeue_peek(struct slc_ring_mpsc *r, uint32_t n, const void **slots)
{
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_relaxed);
	uint32_t contig = r->capacity - (head & r->mask);

	if (n > contig)
		n = contig;
	*slots = r->slots + (size_t)(head & r->mask) * r->esize;
	return slc_ring_mpsc_cons_avail(r, head, n);
}

/* Gives back the first n elements returned by the last peek. */
static inline void
slc_ring_mpsc_dequeue_release(struct slc_ring_mpsc *r, uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_relaxed);

	/* R2: pairs with A1 in slc_ring_mpsc_claim */
	atomic_store_explicit(&r->cons.head, head + n, memory_order_release);
}

static inline uint32_t
slc_ring_mpsc_dequeue_n(struct slc_ring_mpsc *r, void *objs, uint32_t n, bool all)
{
	uint32_t head = atomic_load_explicit(&r->cons.head, memory_order_relaxed);
	uint32_t avail = slc_ring_mpsc_cons_avail(r, head, n);

	if (avail < n) {
		if (all || avail == 0)
			return 0;
		n = avail;
	}
	slc_ring_copy_out(r->slots, r->mask, r->esize, head, objs, n);
	/* R2: pairs with A1 in slc_ring_mpsc_claim */
	atomic_store_explicit(&r->cons.head, head + n, memory_order_release);
	return n;
}

/* Dequeues exactly n elements or none: returns n or 0. Consumer thread only. */
static inline uint32_t
slc_ring_mpsc_dequeue_bulk(struct slc_ring_mpsc *r, void *objs, uint32_t n)
{
	return slc_ring_mpsc_dequeue_n(r, objs, n, true);
}

/* Dequeues up to n elements: returns 0..n. Consumer thread only. */
static inline uint32_t
slc_ring_mpsc_dequeue_burst(struct slc_ring_mpsc *r, void *objs, uint32_t n)
{
	return slc_ring_mpsc_dequeue_n(r, objs, n, false);
}

/* Dequeues one element. Returns 0, or -EAGAIN if none is published yet. */
static inline int
slc_ring_mpsc_dequeue(struct slc_ring_mpsc *r, void *obj)
{
	return slc_ring_mpsc_dequeue_n(r, obj, 1, true) ? 0 : -EAGAIN;
}

#endif /* SLC_RINGBUF_RING_H */
