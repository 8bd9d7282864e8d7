/* SPDX-License-Identifier: MIT */
/* bench_ring.c: items/s through our SPSC and MPSC rings, next to ck_ring and DPDK rte_ring. */
/*
 * Examples:
 *   bench_ring                                 table, 5 runs of 20M items per configuration
 *   bench_ring --csv > ring.csv                header and one row per configuration and ring
 *   bench_ring --runs 9 --items 50000000 --capacity 1024
 *   bench_ring --prod-cpu 0 --cons-cpu 1       the defaults; -1 leaves that side unpinned
 *   perf record -e cpu-clock bench_ring --only mpsc-1p-b32 --impl ours --runs 3
 *
 * One consumer thread and 1 or 2 producer threads move --items 8-byte elements through a
 * ring of --capacity slots. The first producer runs on --prod-cpu, the consumer on
 * --cons-cpu; a second producer gets a CPU of its own (the first this process may use that
 * no other thread has) when there is one, that is with three or more CPUs. Otherwise it
 * shares --prod-cpu and the row is oversubscribed: multi-producer rings then measure how
 * the scheduler treats a spinning producer, not the ring, and such rows get no ratio.
 * All threads start at one barrier; the consumer's CLOCK_MONOTONIC clock runs from its
 * leaving the barrier to its receiving the last element. A measurement that took less than
 * --min-seconds (3) is run again with the count scaled to last that long (and a fifth
 * more), and only the long one counts, so that every reported run lasts 3 s or more (or
 * was cut off). Each configuration is measured
 * --runs times per implementation, interleaved within each round (ours, ck, dpdk, rte-rts,
 * rte-hts, ours, ...) so that machine noise hits them alike, and the median items/s of
 * each is reported.
 *
 * CSV columns (one row per configuration and ring): config, ring (spsc/mpsc), impl,
 * producers, batch, prod_cpus (the producers' CPUs, '+'-separated; -1: unpinned),
 * cons_cpu, oversubscribed (1: two threads share a CPU), runs, cut_off (runs stopped at
 * --max-seconds), msgs_per_s (median items/s), ratio (on the ours row only: ours / the
 * best peer's median; empty when oversubscribed).
 *
 * The same call shape for every ring, on both sides:
 *   batch 1   one element per call: slc_ring_<t>_enqueue / _dequeue,
 *             ck_ring_enqueue_<t> / ck_ring_dequeue_<t>,
 *             rte_ring_{sp,mp}_enqueue / rte_ring_sc_dequeue
 *   batch 32  up to 32 per call, burst rule (as many as fit / as are there):
 *             slc_ring_<t>_enqueue_burst / _dequeue_burst,
 *             rte_ring_{sp,mp}_enqueue_burst / rte_ring_sc_dequeue_burst.
 *             ck_ring has no batch calls: its "batch 32" is a loop of up to 32 single calls
 *             that stops at the first full (or empty) answer.
 * A side that moves nothing pauses once (slc_ring_cpu_relax) and tries again. The rte_rings
 * are SP/SC (RING_F_SP_ENQ | RING_F_SC_DEQ) for spsc and MP/SC (RING_F_SC_DEQ) for mpsc,
 * built with rte_ring_get_memsize + aligned_alloc + rte_ring_init, so no EAL is needed
 * (rte_ring_create would need the EAL's memzones; rte_ring_init takes the same flags).
 * mpsc rows add DPDK's two multi-producer modes made for producers that may be preempted:
 * rte-rts (RING_F_MP_RTS_ENQ: relaxed tail sync, a producer need not wait for the one
 * before it to finish) and rte-hts (RING_F_MP_HTS_ENQ: head/tail sync, one producer at a
 * time), through rte_ring_mp_{rts,hts}_enqueue{_bulk,_burst}; both with RING_F_SC_DEQ,
 * as the dpdk row, since the consumer is single.
 * ck_ring and rte_ring (without RING_F_EXACT_SZ) hold capacity - 1 elements, ours capacity.
 *
 * Self-check: producer p sends (p << 48) | 0, 1, 2, ...; the consumer checks every
 * producer's order and the total with the same code for every ring, and aborts with a
 * message on the first mismatch.
 *
 * --max-seconds bounds one measurement. With two producers on one CPU, ck_ring's and
 * rte_ring's multi-producer enqueue waits, spinning, for the producer before it to move the
 * shared tail; when that one is preempted the other spins out its time slice, and the two
 * then alternate at about one element per slice (20M elements would take hours). A
 * measurement cut short reports the items it received over the time it ran, and is marked
 * with '*' in the table and counted in the CSV's cut_off column. The stop flag is read only after an empty dequeue or a
 * full enqueue, never on the path that moves elements.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ck_ring.h>
#include <rte_ring.h>
#include <rte_ring_hts.h>
#include <rte_ring_rts.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "bench_opts.h"
#include "bench_util.h"
#include "ring.h"

#define BENCH_BATCH    32
#define BENCH_PROD_MAX 2
#define BENCH_RUNS_MAX 101
#define BENCH_SEQ_BITS 48
#define BENCH_SEQ_MASK ((UINT64_C(1) << BENCH_SEQ_BITS) - 1)
/* Rings and per-thread state sit on their own line pairs, as in ring.h. */
#define BENCH_ALIGN SLC_RING_SIDE_GAP

#define BENCH_INLINE static SLC_ALWAYS_INLINE

enum bench_kind {
	BENCH_SPSC,
	BENCH_MPSC,
};

enum bench_impl {
	BENCH_OURS,
	BENCH_CK,
	BENCH_DPDK,
	BENCH_RTE_RTS, /* mpsc only: the multi-producer modes made for preempted producers */
	BENCH_RTE_HTS,
	BENCH_NIMPL,
};

static const char *const bench_impl_names[BENCH_NIMPL] = {"ours", "ck", "dpdk", "rte-rts",
                                                          "rte-hts"};

struct bench_config {
	const char *name;
	enum bench_kind kind;
	uint32_t producers;
	uint32_t batch;
};

static const struct bench_config bench_configs[] = {
        {"spsc-1p-b1", BENCH_SPSC, 1, 1}, {"spsc-1p-b32", BENCH_SPSC, 1, BENCH_BATCH},
        {"mpsc-1p-b1", BENCH_MPSC, 1, 1}, {"mpsc-1p-b32", BENCH_MPSC, 1, BENCH_BATCH},
        {"mpsc-2p-b1", BENCH_MPSC, 2, 1}, {"mpsc-2p-b32", BENCH_MPSC, 2, BENCH_BATCH},
};

#define BENCH_NCONFIGS (sizeof(bench_configs) / sizeof(bench_configs[0]))

/* ------------------------------------------------------------------------------------ */
/* Options                                                                               */
/* ------------------------------------------------------------------------------------ */

struct bench_opts {
	int64_t items;
	int64_t runs;
	int64_t capacity;
	int64_t prod_cpu;
	int64_t cons_cpu;
	int64_t max_seconds;
	int64_t min_seconds;
	const char *only;
	const char *impl;
	bool csv;
	bool help;
};

static const struct bench_opt bench_opt_table[] = {
        {"--items", BENCH_OPT_INT, 20000000, 1, INT64_C(1) << 40, NULL, "N",
         "elements per measurement, split evenly across the producers",
         offsetof(struct bench_opts, items)},
        {"--runs", BENCH_OPT_INT, 5, 1, BENCH_RUNS_MAX, NULL, "N",
         "measurements per configuration and ring; the median is reported",
         offsetof(struct bench_opts, runs)},
        {"--capacity", BENCH_OPT_INT, 4096, 2, SLC_RING_CAPACITY_MAX, NULL, "N",
         "slots per ring, a power of two, the same for every ring",
         offsetof(struct bench_opts, capacity)},
        {"--prod-cpu", BENCH_OPT_INT, 0, -1, CPU_SETSIZE - 1, NULL, "CPU",
         "CPU of the first producer (a second one gets another free CPU if there is one); "
         "-1: not pinned",
         offsetof(struct bench_opts, prod_cpu)},
        {"--cons-cpu", BENCH_OPT_INT, 1, -1, CPU_SETSIZE - 1, NULL, "CPU",
         "CPU of the consumer thread; -1: not pinned", offsetof(struct bench_opts, cons_cpu)},
        {"--min-seconds", BENCH_OPT_INT, 3, 0, 3600, NULL, "S",
         "a measurement shorter than S seconds is run again with more elements (in "
         "proportion, +20%) until it lasts S; only that one counts; 0: --items as given",
         offsetof(struct bench_opts, min_seconds)},
        {"--max-seconds", BENCH_OPT_INT, 10, 0, 3600, NULL, "S",
         "stop a measurement after S seconds and report what it received; 0: no limit",
         offsetof(struct bench_opts, max_seconds)},
        {"--only", BENCH_OPT_STR, 0, 0, 0, NULL, "CONFIG",
         "measure one configuration only (spsc-1p-b1 ... mpsc-2p-b32)",
         offsetof(struct bench_opts, only)},
        {"--impl", BENCH_OPT_STR, 0, 0, 0, NULL, "RING",
         "measure one ring only: ours, ck, dpdk, rte-rts or rte-hts (for perf record)",
         offsetof(struct bench_opts, impl)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "print a CSV header, then one row per configuration", offsetof(struct bench_opts, csv)},
        {"--help", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "print this help",
         offsetof(struct bench_opts, help)},
};

#define BENCH_NOPTS (sizeof(bench_opt_table) / sizeof(bench_opt_table[0]))

static void
bench_usage(FILE *f)
{
	fprintf(f, "usage: bench_ring [options]\n"
	           "Items/s through our rings, ck_ring and rte_ring; see the top of "
	           "bench_ring.c.\n\n");
	bench_opt_table_print(f, bench_opt_table, BENCH_NOPTS);
	fputs("\nconfigurations:", f);
	for (size_t i = 0; i < BENCH_NCONFIGS; i++)
		fprintf(f, " %s", bench_configs[i].name);
	fputc('\n', f);
}

/* Fills o from argv ("--name value" or "--name=value"). Returns 0 or -EINVAL. */
static int
bench_opts_parse(struct bench_opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	if (bench_opt_table_parse(o, bench_opt_table, BENCH_NOPTS, "bench_ring", argc, argv) != 0)
		return -EINVAL;

	if ((o->capacity & (o->capacity - 1)) != 0) {
		fprintf(stderr, "bench_ring: --capacity must be a power of two\n");
		return -EINVAL;
	}
	if (o->only != NULL) {
		size_t i;

		for (i = 0; i < BENCH_NCONFIGS; i++) {
			if (strcmp(o->only, bench_configs[i].name) == 0)
				break;
		}
		if (i == BENCH_NCONFIGS) {
			fprintf(stderr, "bench_ring: no configuration '%s' (try --help)\n",
			        o->only);
			return -EINVAL;
		}
	}
	if (o->impl != NULL) {
		int i;

		for (i = 0; i < BENCH_NIMPL; i++) {
			if (strcmp(o->impl, bench_impl_names[i]) == 0)
				break;
		}
		if (i == BENCH_NIMPL) {
			fprintf(stderr,
			        "bench_ring: --impl is ours, ck, dpdk, rte-rts or rte-hts, not "
			        "'%s'\n",
			        o->impl);
			return -EINVAL;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Rings                                                                                 */
/* ------------------------------------------------------------------------------------ */

struct bench_rings {
	struct slc_ring_spsc *ours_spsc;
	struct slc_ring_mpsc *ours_mpsc;
	struct ck_ring *ck;
	struct ck_ring_buffer *ck_slots;
	struct rte_ring *dpdk;
	uint32_t capacity;
};

/* Allocated once, touched so that no measurement pays for page faults. */
static void *
bench_alloc(size_t size)
{
	size_t rounded = (size + BENCH_ALIGN - 1) / BENCH_ALIGN * BENCH_ALIGN;
	void *p = aligned_alloc(BENCH_ALIGN, rounded);

	if (p != NULL)
		memset(p, 0, rounded);
	return p;
}

static void
bench_rings_free(struct bench_rings *r)
{
	free(r->ours_spsc);
	free(r->ours_mpsc);
	free(r->ck);
	free(r->ck_slots);
	free(r->dpdk);
}

static int
bench_rings_alloc(struct bench_rings *r, uint32_t capacity)
{
	ssize_t dpdk_size = rte_ring_get_memsize(capacity);

	memset(r, 0, sizeof(*r));
	r->capacity = capacity;
	if (dpdk_size < 0) {
		fprintf(stderr, "bench_ring: rte_ring_get_memsize(%" PRIu32 "): %s\n", capacity,
		        strerror((int)-dpdk_size));
		return (int)dpdk_size;
	}
	r->ours_spsc = bench_alloc(slc_ring_spsc_memsize(capacity, sizeof(uint64_t)));
	r->ours_mpsc = bench_alloc(slc_ring_mpsc_memsize(capacity, sizeof(uint64_t)));
	r->ck = bench_alloc(sizeof(*r->ck));
	r->ck_slots = bench_alloc((size_t)capacity * sizeof(*r->ck_slots));
	r->dpdk = bench_alloc((size_t)dpdk_size);
	if (r->ours_spsc == NULL || r->ours_mpsc == NULL || r->ck == NULL || r->ck_slots == NULL ||
	    r->dpdk == NULL) {
		fprintf(stderr, "bench_ring: out of memory\n");
		bench_rings_free(r);
		return -ENOMEM;
	}
	return 0;
}

/* Empties the ring that the next measurement uses. Returns 0 or the init call's error. */
static int
bench_rings_reset(struct bench_rings *r, enum bench_impl impl, enum bench_kind kind)
{
	int err = 0;

	switch (impl) {
	case BENCH_OURS:
		if (kind == BENCH_SPSC)
			err = slc_ring_spsc_init(r->ours_spsc, r->capacity, sizeof(uint64_t));
		else
			err = slc_ring_mpsc_init(r->ours_mpsc, r->capacity, sizeof(uint64_t));
		break;
	case BENCH_CK:
		ck_ring_init(r->ck, r->capacity);
		break;
	case BENCH_DPDK:
		err = rte_ring_init(r->dpdk, "bench_ring", r->capacity,
		                    kind == BENCH_SPSC ? RING_F_SP_ENQ | RING_F_SC_DEQ
		                                       : RING_F_SC_DEQ);
		break;
	/* The consumer is single: SC dequeue, as for dpdk, so that the three rte rings differ
	 * only in how producers synchronise (MC_RTS/MC_HTS would make it pay a CAS too). */
	case BENCH_RTE_RTS:
		err = rte_ring_init(r->dpdk, "bench_ring", r->capacity,
		                    RING_F_MP_RTS_ENQ | RING_F_SC_DEQ);
		break;
	case BENCH_RTE_HTS:
		err = rte_ring_init(r->dpdk, "bench_ring", r->capacity,
		                    RING_F_MP_HTS_ENQ | RING_F_SC_DEQ);
		break;
	case BENCH_NIMPL:
		err = -EINVAL;
		break;
	}
	if (err != 0)
		fprintf(stderr, "bench_ring: initialising the %s ring: %s\n",
		        bench_impl_names[impl], strerror(-err));
	return err;
}

/*
 * Per-implementation calls, all of one shape so that the loops below are shared. ring is
 * the ring, aux ck's slot array (NULL for the others). Single calls return whether the
 * element moved; batch calls return how many moved (0..n).
 */
typedef bool (*bench_enq1_fn)(void *ring, void *aux, uint64_t v);
typedef uint32_t (*bench_enqn_fn)(void *ring, void *aux, const uint64_t *objs, uint32_t n);
typedef bool (*bench_deq1_fn)(void *ring, void *aux, uint64_t *v);
typedef uint32_t (*bench_deqn_fn)(void *ring, void *aux, uint64_t *objs, uint32_t n);

BENCH_INLINE bool
ours_spsc_enq1(void *ring, void *aux, uint64_t v)
{
	(void)aux;
	return slc_ring_spsc_enqueue(ring, &v) == 0;
}

BENCH_INLINE uint32_t
ours_spsc_enqn(void *ring, void *aux, const uint64_t *objs, uint32_t n)
{
	(void)aux;
	return slc_ring_spsc_enqueue_burst(ring, objs, n);
}

BENCH_INLINE bool
ours_spsc_deq1(void *ring, void *aux, uint64_t *v)
{
	(void)aux;
	return slc_ring_spsc_dequeue(ring, v) == 0;
}

BENCH_INLINE uint32_t
ours_spsc_deqn(void *ring, void *aux, uint64_t *objs, uint32_t n)
{
	(void)aux;
	return slc_ring_spsc_dequeue_burst(ring, objs, n);
}

BENCH_INLINE bool
ours_mpsc_enq1(void *ring, void *aux, uint64_t v)
{
	(void)aux;
	return slc_ring_mpsc_enqueue(ring, &v) == 0;
}

BENCH_INLINE uint32_t
ours_mpsc_enqn(void *ring, void *aux, const uint64_t *objs, uint32_t n)
{
	(void)aux;
	return slc_ring_mpsc_enqueue_burst(ring, objs, n);
}

BENCH_INLINE bool
ours_mpsc_deq1(void *ring, void *aux, uint64_t *v)
{
	(void)aux;
	return slc_ring_mpsc_dequeue(ring, v) == 0;
}

BENCH_INLINE uint32_t
ours_mpsc_deqn(void *ring, void *aux, uint64_t *objs, uint32_t n)
{
	(void)aux;
	return slc_ring_mpsc_dequeue_burst(ring, objs, n);
}

BENCH_INLINE bool
ck_spsc_enq1(void *ring, void *aux, uint64_t v)
{
	return ck_ring_enqueue_spsc(ring, aux, (void *)(uintptr_t)v);
}

BENCH_INLINE uint32_t
ck_spsc_enqn(void *ring, void *aux, const uint64_t *objs, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (!ck_ring_enqueue_spsc(ring, aux, (void *)(uintptr_t)objs[i]))
			break;
	}
	return i;
}

BENCH_INLINE bool
ck_spsc_deq1(void *ring, void *aux, uint64_t *v)
{
	void *p;

	if (!ck_ring_dequeue_spsc(ring, aux, &p))
		return false;
	*v = (uintptr_t)p;
	return true;
}

BENCH_INLINE uint32_t
ck_spsc_deqn(void *ring, void *aux, uint64_t *objs, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		void *p;

		if (!ck_ring_dequeue_spsc(ring, aux, &p))
			break;
		objs[i] = (uintptr_t)p;
	}
	return i;
}

BENCH_INLINE bool
ck_mpsc_enq1(void *ring, void *aux, uint64_t v)
{
	return ck_ring_enqueue_mpsc(ring, aux, (void *)(uintptr_t)v);
}

BENCH_INLINE uint32_t
ck_mpsc_enqn(void *ring, void *aux, const uint64_t *objs, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (!ck_ring_enqueue_mpsc(ring, aux, (void *)(uintptr_t)objs[i]))
			break;
	}
	return i;
}

BENCH_INLINE bool
ck_mpsc_deq1(void *ring, void *aux, uint64_t *v)
{
	void *p;

	if (!ck_ring_dequeue_mpsc(ring, aux, &p))
		return false;
	*v = (uintptr_t)p;
	return true;
}

BENCH_INLINE uint32_t
ck_mpsc_deqn(void *ring, void *aux, uint64_t *objs, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		void *p;

		if (!ck_ring_dequeue_mpsc(ring, aux, &p))
			break;
		objs[i] = (uintptr_t)p;
	}
	return i;
}

/*
 * rte_ring's pointer API moves 8-byte elements with 64-bit loads and stores
 * (rte_ring_*_burst is rte_ring_*_burst_elem with esize 8), so a uint64_t array is passed
 * as the void * array it expects.
 */
BENCH_INLINE bool
dpdk_spsc_enq1(void *ring, void *aux, uint64_t v)
{
	(void)aux;
	return rte_ring_sp_enqueue(ring, (void *)(uintptr_t)v) == 0;
}

BENCH_INLINE uint32_t
dpdk_spsc_enqn(void *ring, void *aux, const uint64_t *objs, uint32_t n)
{
	(void)aux;
	return rte_ring_sp_enqueue_burst(ring, (void *const *)objs, n, NULL);
}

BENCH_INLINE bool
dpdk_deq1(void *ring, void *aux, uint64_t *v)
{
	void *p;

	(void)aux;
	if (rte_ring_sc_dequeue(ring, &p) != 0)
		return false;
	*v = (uintptr_t)p;
	return true;
}

BENCH_INLINE uint32_t
dpdk_deqn(void *ring, void *aux, uint64_t *objs, uint32_t n)
{
	(void)aux;
	return rte_ring_sc_dequeue_burst(ring, (void **)objs, n, NULL);
}

BENCH_INLINE bool
dpdk_mpsc_enq1(void *ring, void *aux, uint64_t v)
{
	(void)aux;
	return rte_ring_mp_enqueue(ring, (void *)(uintptr_t)v) == 0;
}

BENCH_INLINE uint32_t
dpdk_mpsc_enqn(void *ring, void *aux, const uint64_t *objs, uint32_t n)
{
	(void)aux;
	return rte_ring_mp_enqueue_burst(ring, (void *const *)objs, n, NULL);
}

BENCH_INLINE bool
rts_mpsc_enq1(void *ring, void *aux, uint64_t v)
{
	void *p = (void *)(uintptr_t)v;

	(void)aux;
	return rte_ring_mp_rts_enqueue_bulk(ring, &p, 1, NULL) == 1;
}

BENCH_INLINE uint32_t
rts_mpsc_enqn(void *ring, void *aux, const uint64_t *objs, uint32_t n)
{
	(void)aux;
	return rte_ring_mp_rts_enqueue_burst(ring, (void *const *)objs, n, NULL);
}

BENCH_INLINE bool
hts_mpsc_enq1(void *ring, void *aux, uint64_t v)
{
	void *p = (void *)(uintptr_t)v;

	(void)aux;
	return rte_ring_mp_hts_enqueue_bulk(ring, &p, 1, NULL) == 1;
}

BENCH_INLINE uint32_t
hts_mpsc_enqn(void *ring, void *aux, const uint64_t *objs, uint32_t n)
{
	(void)aux;
	return rte_ring_mp_hts_enqueue_burst(ring, (void *const *)objs, n, NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Threads                                                                               */
/* ------------------------------------------------------------------------------------ */

/* One measurement: written by the main thread before the threads start, then read-only
 * but for the fields marked. */
struct bench_job {
	const struct bench_config *cfg;
	enum bench_impl impl;
	void *ring;
	void *aux;
	uint64_t items;
	uint64_t received;   /* written by the consumer, read after join */
	uint64_t elapsed_ns; /* likewise */
	/* Set by the main thread at --max-seconds; relaxed: it publishes no data. */
	_Atomic bool stop;
	pthread_barrier_t start;
};

struct bench_thread {
	alignas(BENCH_ALIGN) struct bench_job *job;
	uint32_t id;    /* producer id; unused by the consumer */
	uint64_t count; /* elements this producer sends */
};

/* The consumer's verification state; the same code runs for every ring. */
struct bench_check {
	const struct bench_job *job;
	uint64_t next[BENCH_PROD_MAX];
};

_Noreturn static void SLC_NOINLINE SLC_COLD
bench_check_fail(const struct bench_check *chk, uint64_t v, const char *why)
{
	uint64_t p = v >> BENCH_SEQ_BITS;

	fprintf(stderr,
	        "bench_ring: %s/%s: %s: got 0x%016" PRIx64 " (producer %" PRIu64 ", seq %" PRIu64
	        "), expected seq %" PRIu64 "\n",
	        chk->job->cfg->name, bench_impl_names[chk->job->impl], why, v, p,
	        v & BENCH_SEQ_MASK, p < BENCH_PROD_MAX ? chk->next[p] : 0);
	abort();
}

BENCH_INLINE void
bench_check_items(struct bench_check *chk, const uint64_t *objs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t v = objs[i];
		uint64_t p = v >> BENCH_SEQ_BITS;

		if (SLC_UNLIKELY(p >= chk->job->cfg->producers))
			bench_check_fail(chk, v, "unknown producer");
		if (SLC_UNLIKELY((v & BENCH_SEQ_MASK) != chk->next[p]))
			bench_check_fail(chk, v, "out of order, lost or duplicated");
		chk->next[p]++;
	}
}

static uint64_t
bench_prod_count(uint64_t items, uint32_t producers, uint32_t id)
{
	return items / producers + (id < items % producers ? 1 : 0);
}

BENCH_INLINE void
bench_produce(struct bench_thread *t, bench_enq1_fn enq1, bench_enqn_fn enqn)
{
	const struct bench_job *job = t->job;
	void *ring = job->ring;
	void *aux = job->aux;
	uint64_t base = (uint64_t)t->id << BENCH_SEQ_BITS;
	uint64_t count = t->count;
	uint64_t objs[BENCH_BATCH];

	if (job->cfg->batch == 1) {
		for (uint64_t s = 0; s < count; s++) {
			while (!enq1(ring, aux, base | s)) {
				if (atomic_load_explicit(&job->stop, memory_order_relaxed))
					return;
				slc_ring_cpu_relax();
			}
		}
		return;
	}
	for (uint64_t s = 0; s < count;) {
		uint32_t n = count - s < BENCH_BATCH ? (uint32_t)(count - s) : BENCH_BATCH;

		for (uint32_t i = 0; i < n; i++)
			objs[i] = base | (s + i);
		for (uint32_t done = 0; done < n;) {
			uint32_t moved = enqn(ring, aux, objs + done, n - done);

			if (moved == 0) {
				if (atomic_load_explicit(&job->stop, memory_order_relaxed))
					return;
				slc_ring_cpu_relax();
			}
			done += moved;
		}
		s += n;
	}
}

BENCH_INLINE void
bench_consume(struct bench_thread *t, bench_deq1_fn deq1, bench_deqn_fn deqn)
{
	struct bench_job *job = t->job;
	void *ring = job->ring;
	void *aux = job->aux;
	uint64_t left = job->items;
	struct bench_check chk = {.job = job};
	uint64_t objs[BENCH_BATCH];
	uint64_t t0;

	pthread_barrier_wait(&job->start);
	t0 = slc_mono_ns();
	if (job->cfg->batch == 1) {
		while (left != 0) {
			if (!deq1(ring, aux, &objs[0])) {
				if (atomic_load_explicit(&job->stop, memory_order_relaxed))
					break;
				slc_ring_cpu_relax();
				continue;
			}
			bench_check_items(&chk, objs, 1);
			left--;
		}
	} else {
		while (left != 0) {
			uint32_t n = deqn(ring, aux, objs, BENCH_BATCH);

			if (n == 0) {
				if (atomic_load_explicit(&job->stop, memory_order_relaxed))
					break;
				slc_ring_cpu_relax();
				continue;
			}
			if (SLC_UNLIKELY(n > left))
				bench_check_fail(&chk, objs[0], "more elements than were sent");
			bench_check_items(&chk, objs, n);
			left -= n;
		}
	}
	job->elapsed_ns = slc_mono_ns() - t0;
	job->received = job->items - left;
	if (left != 0)
		return;

	for (uint32_t p = 0; p < job->cfg->producers; p++) {
		uint64_t want = bench_prod_count(job->items, job->cfg->producers, p);

		if (chk.next[p] != want) {
			fprintf(stderr,
			        "bench_ring: %s/%s: producer %" PRIu32 " delivered %" PRIu64
			        " of %" PRIu64 "\n",
			        job->cfg->name, bench_impl_names[job->impl], p, chk.next[p], want);
			abort();
		}
	}
}

/* Thread bodies, one per ring and side, so that every call in the loops is inlined. */
#define BENCH_THREAD_FNS(name, enq1, enqn, deq1, deqn) \
	static void *bench_prod_##name(void *arg)      \
	{                                              \
		struct bench_thread *t = arg;          \
                                                       \
		pthread_barrier_wait(&t->job->start);  \
		bench_produce(t, enq1, enqn);          \
		return NULL;                           \
	}                                              \
	static void *bench_cons_##name(void *arg)      \
	{                                              \
		bench_consume(arg, deq1, deqn);        \
		return NULL;                           \
	}

BENCH_THREAD_FNS(ours_spsc, ours_spsc_enq1, ours_spsc_enqn, ours_spsc_deq1, ours_spsc_deqn)
BENCH_THREAD_FNS(ours_mpsc, ours_mpsc_enq1, ours_mpsc_enqn, ours_mpsc_deq1, ours_mpsc_deqn)
BENCH_THREAD_FNS(ck_spsc, ck_spsc_enq1, ck_spsc_enqn, ck_spsc_deq1, ck_spsc_deqn)
BENCH_THREAD_FNS(ck_mpsc, ck_mpsc_enq1, ck_mpsc_enqn, ck_mpsc_deq1, ck_mpsc_deqn)
BENCH_THREAD_FNS(dpdk_spsc, dpdk_spsc_enq1, dpdk_spsc_enqn, dpdk_deq1, dpdk_deqn)
BENCH_THREAD_FNS(dpdk_mpsc, dpdk_mpsc_enq1, dpdk_mpsc_enqn, dpdk_deq1, dpdk_deqn)
BENCH_THREAD_FNS(rts_mpsc, rts_mpsc_enq1, rts_mpsc_enqn, dpdk_deq1, dpdk_deqn)
BENCH_THREAD_FNS(hts_mpsc, hts_mpsc_enq1, hts_mpsc_enqn, dpdk_deq1, dpdk_deqn)

typedef void *(*bench_thread_fn)(void *arg);

/* [impl][kind] */
static const bench_thread_fn bench_prod_fns[BENCH_NIMPL][2] = {
        {bench_prod_ours_spsc, bench_prod_ours_mpsc},
        {bench_prod_ck_spsc, bench_prod_ck_mpsc},
        {bench_prod_dpdk_spsc, bench_prod_dpdk_mpsc},
        {NULL, bench_prod_rts_mpsc},
        {NULL, bench_prod_hts_mpsc},
};
static const bench_thread_fn bench_cons_fns[BENCH_NIMPL][2] = {
        {bench_cons_ours_spsc, bench_cons_ours_mpsc},
        {bench_cons_ck_spsc, bench_cons_ck_mpsc},
        {bench_cons_dpdk_spsc, bench_cons_dpdk_mpsc},
        {NULL, bench_cons_rts_mpsc},
        {NULL, bench_cons_hts_mpsc},
};

static void
bench_spawn(pthread_t *tid, int64_t cpu, bench_thread_fn fn, struct bench_thread *t)
{
	int err = bench_thread_create(tid, (int)cpu, fn, t);

	if (err != 0) {
		/* Threads already started wait at the barrier forever: give up. */
		fprintf(stderr, "bench_ring: pthread_create: %s\n", strerror(err));
		exit(EXIT_FAILURE);
	}
}

/*
 * Producer p's CPU: --prod-cpu for the first; for the next, the first CPU this process may
 * use that no other thread of the measurement is pinned to, so that two producers contend
 * for the ring's tail from two CPUs, as reactors do. With fewer than three CPUs there is
 * none: it then shares --prod-cpu, and its rows are marked oversubscribed. -1: unpinned.
 */
static int64_t bench_prod_cpus[BENCH_PROD_MAX];

/* Fills bench_prod_cpus; returns whether some CPU runs two of the threads (or, unpinned,
 * whether there are more threads than CPUs) when `producers` producers run. */
static bool
bench_place(const struct bench_opts *o, uint32_t producers)
{
	cpu_set_t allowed;
	int ncpu;
	bool shared = false;

	CPU_ZERO(&allowed);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		CPU_SET(0, &allowed);
	ncpu = CPU_COUNT(&allowed);
	bench_prod_cpus[0] = o->prod_cpu;
	for (uint32_t p = 1; p < producers; p++) {
		bench_prod_cpus[p] = o->prod_cpu;
		if (o->prod_cpu < 0)
			continue;
		for (int c = 0; c < CPU_SETSIZE; c++) {
			bool taken = !CPU_ISSET(c, &allowed) || c == o->cons_cpu;

			for (uint32_t k = 0; k < p; k++)
				taken |= c == bench_prod_cpus[k];
			if (!taken) {
				bench_prod_cpus[p] = c;
				break;
			}
		}
	}
	if (o->prod_cpu < 0 || o->cons_cpu < 0)
		return (int)producers + 1 > ncpu;
	for (uint32_t p = 0; p < producers; p++) {
		shared |= bench_prod_cpus[p] == o->cons_cpu;
		for (uint32_t k = 0; k < p; k++)
			shared |= bench_prod_cpus[p] == bench_prod_cpus[k];
	}
	return shared;
}

/* Waits for the consumer, and stops the measurement if it runs past --max-seconds. */
static void
bench_join_consumer(const struct bench_opts *o, struct bench_job *job, pthread_t consumer)
{
	struct timespec deadline;

	if (o->max_seconds > 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += (time_t)o->max_seconds;
		if (pthread_clockjoin_np(consumer, NULL, CLOCK_MONOTONIC, &deadline) == 0)
			return;
		atomic_store_explicit(&job->stop, true, memory_order_relaxed);
	}
	pthread_join(consumer, NULL);
}

/*
 * Runs one measurement of items elements and returns its items/s (negative on error), its
 * length in *secs; *cut says whether it ran into --max-seconds.
 */
static double
bench_measure_items(const struct bench_opts *o, struct bench_rings *rings,
                    const struct bench_config *cfg, enum bench_impl impl, uint64_t items, bool *cut,
                    double *secs)
{
	struct bench_job job = {.cfg = cfg, .impl = impl, .items = items};
	struct bench_thread threads[1 + BENCH_PROD_MAX];
	pthread_t tids[1 + BENCH_PROD_MAX];
	uint32_t nthreads = 1 + cfg->producers;

	if (bench_rings_reset(rings, impl, cfg->kind) != 0)
		return -1;
	switch (impl) {
	case BENCH_OURS:
		job.ring = cfg->kind == BENCH_SPSC ? (void *)rings->ours_spsc
		                                   : (void *)rings->ours_mpsc;
		break;
	case BENCH_CK:
		job.ring = rings->ck;
		job.aux = rings->ck_slots;
		break;
	case BENCH_DPDK:
	case BENCH_RTE_RTS:
	case BENCH_RTE_HTS:
	case BENCH_NIMPL:
		job.ring = rings->dpdk;
		break;
	}
	pthread_barrier_init(&job.start, NULL, nthreads);

	threads[0] = (struct bench_thread){.job = &job};
	bench_spawn(&tids[0], o->cons_cpu, bench_cons_fns[impl][cfg->kind], &threads[0]);
	for (uint32_t p = 0; p < cfg->producers; p++) {
		threads[1 + p] = (struct bench_thread){
		        .job = &job,
		        .id = p,
		        .count = bench_prod_count(job.items, cfg->producers, p),
		};
		bench_spawn(&tids[1 + p], bench_prod_cpus[p], bench_prod_fns[impl][cfg->kind],
		            &threads[1 + p]);
	}
	bench_join_consumer(o, &job, tids[0]);
	for (uint32_t i = 1; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	pthread_barrier_destroy(&job.start);

	*cut = job.received != job.items;
	*secs = (double)job.elapsed_ns * 1e-9;
	return (double)job.received * 1e9 / (double)(job.elapsed_ns ? job.elapsed_ns : 1);
}

/*
 * One measurement that lasts at least --min-seconds: --items first, then, while a run is
 * shorter, again with the count scaled by the time it took (and a fifth more). A run cut
 * off at --max-seconds ends it. Returns the last run's items/s.
 */
static double
bench_measure(const struct bench_opts *o, struct bench_rings *rings, const struct bench_config *cfg,
              enum bench_impl impl, bool *cut)
{
	uint64_t items = (uint64_t)o->items;
	double rate, secs;

	for (;;) {
		double scale;

		rate = bench_measure_items(o, rings, cfg, impl, items, cut, &secs);
		if (rate < 0 || *cut || secs >= (double)o->min_seconds)
			return rate;
		scale = (double)o->min_seconds / (secs > 1e-3 ? secs : 1e-3) * 1.2;
		if ((double)items * scale > (double)(UINT64_C(1) << 40))
			return rate;
		items = (uint64_t)((double)items * scale);
	}
}

/* ------------------------------------------------------------------------------------ */
/* Results                                                                               */
/* ------------------------------------------------------------------------------------ */

struct bench_stat {
	double median;
	double spread_pct; /* half the min..max range, in % of the median */
	uint32_t cut;      /* runs stopped at --max-seconds */
};

/* Sorts v in place. */
static struct bench_stat
bench_stat_of(double *v, size_t n)
{
	struct bench_stat st = {0};

	qsort(v, n, sizeof(*v), bench_cmp_double);
	st.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	st.spread_pct = st.median > 0 ? (v[n - 1] - v[0]) / 2 / st.median * 100 : 0;
	return st;
}

static void
bench_print_header(const struct bench_opts *o)
{
	if (o->csv) {
		puts("config,ring,impl,producers,batch,prod_cpus,cons_cpu,oversubscribed,runs,cut_"
		     "off,"
		     "msgs_per_s,ratio");
		return;
	}
	printf("# %" PRId64 " items, median of %" PRId64 " runs, capacity %" PRId64
	       ", first producer on CPU %" PRId64 ", consumer on CPU %" PRId64 " (-1: unpinned)\n",
	       o->items, o->runs, o->capacity, o->prod_cpu, o->cons_cpu);
	printf("%-12s %4s %5s %-6s", "config", "prod", "batch", "cpus");
	for (int i = 0; i < BENCH_NIMPL; i++)
		printf("  %12s Mi/s", bench_impl_names[i]);
	printf("  %6s\n", "ratio");
}

/*
 * One CSV row per ring measured (ratio on the ours row only: ours / the best peer's
 * median, left empty when the row is oversubscribed, where it would say more about the
 * scheduler than the rings), or one table line per configuration.
 */
static void
bench_print_rows(const struct bench_opts *o, const struct bench_config *cfg, const bool *ran,
                 const struct bench_stat *st, bool over)
{
	const char *ring = cfg->kind == BENCH_SPSC ? "spsc" : "mpsc";
	double peer = 0;
	bool have_ratio;
	char cpus[64];
	int len = 0;

	for (int i = BENCH_CK; i < BENCH_NIMPL; i++) {
		if (ran[i] && st[i].median > peer)
			peer = st[i].median;
	}
	have_ratio = ran[BENCH_OURS] && peer > 0 && !over;
	for (uint32_t p = 0; p < cfg->producers && len < (int)sizeof(cpus); p++)
		len += snprintf(cpus + len, sizeof(cpus) - (size_t)len, "%s%" PRId64, p ? "+" : "",
		                bench_prod_cpus[p]);
	if (o->csv) {
		for (int i = 0; i < BENCH_NIMPL; i++) {
			if (!ran[i])
				continue;
			printf("%s,%s,%s,%" PRIu32 ",%" PRIu32 ",%s,%" PRId64 ",%d,%" PRId64
			       ",%" PRIu32 ",%.0f,",
			       cfg->name, ring, bench_impl_names[i], cfg->producers, cfg->batch,
			       cpus, o->cons_cpu, over, o->runs, st[i].cut, st[i].median);
			if (i == BENCH_OURS && have_ratio)
				printf("%.3f", st[BENCH_OURS].median / peer);
			putchar('\n');
		}
	} else {
		printf("%-12s %4" PRIu32 " %5" PRIu32 " %-6s", cfg->name, cfg->producers,
		       cfg->batch, cpus);
		for (int i = 0; i < BENCH_NIMPL; i++) {
			if (ran[i])
				printf("  %9.2f +-%3.0f%%%c", st[i].median / 1e6, st[i].spread_pct,
				       st[i].cut ? '*' : ' ');
			else
				printf("  %17s", "-");
		}
		if (have_ratio)
			printf("  %6.3f\n", st[BENCH_OURS].median / peer);
		else
			printf("  %6s\n", over ? "over" : "-");
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static double rates[BENCH_NIMPL][BENCH_RUNS_MAX];
	struct bench_opts o;
	struct bench_rings rings;
	bool any_cut = false, any_over = false;
	int err;

	if (bench_opts_parse(&o, argc, argv) != 0)
		return 2;
	if (o.help) {
		bench_usage(stdout);
		return 0;
	}
	if (bench_cpu_check("bench_ring", "--prod-cpu", o.prod_cpu) != 0 ||
	    bench_cpu_check("bench_ring", "--cons-cpu", o.cons_cpu) != 0)
		return 2;
	err = bench_rings_alloc(&rings, (uint32_t)o.capacity);
	if (err != 0)
		return 1;

	bench_print_header(&o);
	for (size_t c = 0; c < BENCH_NCONFIGS; c++) {
		const struct bench_config *cfg = &bench_configs[c];
		struct bench_stat st[BENCH_NIMPL] = {{0}};
		uint32_t cut[BENCH_NIMPL] = {0};
		bool ran[BENCH_NIMPL], over;

		if (o.only != NULL && strcmp(o.only, cfg->name) != 0)
			continue;
		over = bench_place(&o, cfg->producers);
		any_over |= over;
		for (int i = 0; i < BENCH_NIMPL; i++)
			ran[i] = (o.impl == NULL || strcmp(o.impl, bench_impl_names[i]) == 0) &&
			         bench_prod_fns[i][cfg->kind] != NULL;
		/* Interleaved: one run of each ring per round. */
		for (int64_t r = 0; r < o.runs; r++) {
			for (int i = 0; i < BENCH_NIMPL; i++) {
				if (!ran[i])
					continue;
				bool was_cut = false;

				rates[i][r] = bench_measure(&o, &rings, cfg, (enum bench_impl)i,
				                            &was_cut);
				if (rates[i][r] < 0) {
					bench_rings_free(&rings);
					return 1;
				}
				cut[i] += was_cut;
			}
		}
		for (int i = 0; i < BENCH_NIMPL; i++) {
			if (!ran[i])
				continue;
			st[i] = bench_stat_of(rates[i], (size_t)o.runs);
			st[i].cut = cut[i];
			any_cut |= cut[i] != 0;
		}
		bench_print_rows(&o, cfg, ran, st, over);
	}
	if (any_cut && !o.csv)
		printf("# *: some runs stopped at --max-seconds (%" PRId64
		       " s); items/s is over the items received\n",
		       o.max_seconds);
	if (any_over && !o.csv)
		printf("# over: two threads share a CPU (fewer CPUs than threads); no ratio\n");
	bench_rings_free(&rings);
	return 0;
}
