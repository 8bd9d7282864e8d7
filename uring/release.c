/* SPDX-License-Identifier: MIT */
/* release.c: what other threads call on a reactor: release, ack, kick, and the wake-up. */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "reactor_priv.h"

/*
 * Workers give buffer references (slc_reactor_release) and completions of acknowledged
 * frames (slc_reactor_ack) back through two MPSC rings that the loop empties every turn
 * (loop.c: rel_drain, ack_drain); on the reactor's own thread both apply at once. A full
 * ring makes the caller wait (enqueue_wait) rather than fail: the loop always empties it,
 * unless it has ended, and then nothing needs the entries any more.
 */

/* Wakes the reactor if it announced that it sleeps (the protocol of ringbuf/park.h, with
 * an eventfd in place of the futex because the reactor sleeps in io_uring_enter); not
 * from a nap, which ends within WAIT_BATCH_NS on its own (REACTOR_NAP). */
static void
reactor_wake(struct slc_reactor *r)
{
	uint64_t one = 1;

	/* F2: pairs with F1 in reactor_wait. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed) != REACTOR_SLEEP)
		return;
	if (atomic_exchange_explicit(&r->sleeping, REACTOR_AWAKE, memory_order_relaxed) !=
	    REACTOR_SLEEP)
		return;
	if (write(r->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is far from overflowing: nothing to do. */
	}
}

/*
 * Enqueues all n entries into ring, waiting while it is full: the reactor empties it on
 * every loop, so this wakes it and tries again, yielding the CPU every 64 tries (spins
 * counts them across the calls of one release or ack). True once enqueued (n == 0
 * included); false when the loop has ended, which will never empty the ring again.
 */
static bool
enqueue_wait(struct slc_reactor *r, struct slc_ring_mpsc *ring, const void *ents, uint32_t n,
             uint32_t *spins)
{
	while (n != 0 && slc_ring_mpsc_enqueue_bulk(ring, ents, n) == 0) {
		/* Acquire: pairs with the release at the end of reactor_thread. */
		if (atomic_load_explicit(&r->loop_done, memory_order_acquire))
			return false;
		reactor_wake(r);
		if (++*spins % 64 == 0)
			sched_yield();
	}
	return true;
}

void
slc_reactor_release(struct slc_reactor *r, const struct slc_msg *msgs, uint32_t n)
{
	struct rel_ent ents[64];
	uint32_t ne = 0, spins = 0;

	if (pthread_equal(pthread_self(), r->thread) && r->thread_running) {
		/* On the reactor's own thread (a consumer that finishes inside deliver):
		 * no ring needed. */
		for (uint32_t i = 0; i < n; i++)
			buf_unref(r, msgs[i].ref & SLC_MSG_REF_MASK, 1);
		return;
	}
	/* Acquire: pairs with the release at the end of reactor_thread. A worker that drains
	 * its rings after the reactor stopped (the daemon's shutdown) must not wait for a
	 * loop that will never empty the ring again. */
	if (atomic_load_explicit(&r->loop_done, memory_order_acquire))
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t ref = msgs[i].ref & SLC_MSG_REF_MASK;

		if (ne != 0 && ents[ne - 1].ref == ref) {
			ents[ne - 1].count++;
			continue;
		}
		if (ne == 64) {
			if (!enqueue_wait(r, r->rel_ring, ents, ne, &spins))
				return;
			ne = 0;
		}
		ents[ne++] = (struct rel_ent){.ref = ref, .count = 1};
	}
	if (!enqueue_wait(r, r->rel_ring, ents, ne, &spins))
		return;
	reactor_wake(r);
}

/* Hands entries to the reactor: applied at once on its own thread, else through the ring.
 * False: the loop has ended. */
static bool
ack_push(struct slc_reactor *r, const struct ack_ent *ents, uint32_t n, bool own, uint32_t *spins)
{
	if (own) {
		for (uint32_t i = 0; i < n; i++)
			slc_conn_ack_apply(r, ents[i].conn & ~ACK_ENT_FAILED, ents[i].seq,
			                   ents[i].count, !(ents[i].conn & ACK_ENT_FAILED));
		return true;
	}
	return enqueue_wait(r, r->ack_ring, ents, n, spins);
}

void
slc_reactor_ack(struct slc_reactor *r, const struct slc_msg *msgs, uint32_t n, bool durable)
{
	struct ack_ent ents[64];
	uint32_t ne = 0, spins = 0, failed = durable ? 0 : ACK_ENT_FAILED;
	bool own = pthread_equal(pthread_self(), r->thread) && r->thread_running;

	if (r->ack_ring == NULL)
		return;
	/* Acquire: pairs with the release at the end of reactor_thread (as in release). */
	if (!own && atomic_load_explicit(&r->loop_done, memory_order_acquire))
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id;
		uint64_t seq;

		if (!slc_msg_is_ack(&msgs[i]))
			continue;
		id = (msgs[i].conn & SLC_MSG_CONN_ID_MASK) | failed;
		seq = slc_msg_ack_seq(&msgs[i]);
		/* A batch holds runs of consecutive frames of one connection: one entry each. */
		if (ne != 0 && ents[ne - 1].conn == id &&
		    (ents[ne - 1].seq + ents[ne - 1].count == seq ||
		     (msgs[i].conn & SLC_MSG_CONN_FWD))) {
			ents[ne - 1].count++;
			continue;
		}
		if (ne == 64) {
			if (!ack_push(r, ents, ne, own, &spins))
				return;
			ne = 0;
		}
		ents[ne++] = (struct ack_ent){.seq = seq, .conn = id, .count = 1};
	}
	if (ne == 0 || !ack_push(r, ents, ne, own, &spins) || own)
		return;
	reactor_wake(r);
}

void
slc_reactor_ack_runs(struct slc_reactor *r, const struct slc_reactor_ack_run *runs, uint32_t n,
                     bool durable)
{
	struct ack_ent ents[64];
	uint32_t ne = 0, spins = 0, failed = durable ? 0 : ACK_ENT_FAILED;
	bool own = pthread_equal(pthread_self(), r->thread) && r->thread_running;

	if (r->ack_ring == NULL || n == 0)
		return;
	/* Acquire: pairs with the release at the end of reactor_thread (as in release). */
	if (!own && atomic_load_explicit(&r->loop_done, memory_order_acquire))
		return;
	for (uint32_t i = 0; i < n; i++) {
		if (ne == 64) {
			if (!ack_push(r, ents, ne, own, &spins))
				return;
			ne = 0;
		}
		ents[ne++] = (struct ack_ent){
		        .seq = runs[i].seq, .conn = runs[i].conn | failed, .count = runs[i].count};
	}
	if (!ack_push(r, ents, ne, own, &spins) || own)
		return;
	reactor_wake(r);
}

void
slc_reactor_kick(struct slc_reactor *r)
{
	/* R4: pairs with A4 in slc_reactor_loop: what the kicker published before (a tenant
	 * table, a TLS context) is seen by the loop top that sees the kick. */
	atomic_store_explicit(&r->kicked, 1, memory_order_release);
	reactor_wake(r);
}

/* Release and ack ring entries drained per ring operation. */
#define REL_BURST 256

bool
slc_release_drain(struct slc_reactor *r)
{
	struct rel_ent ents[REL_BURST];
	bool any = false;
	uint32_t n;

	while ((n = slc_ring_mpsc_dequeue_burst(r->rel_ring, ents, REL_BURST)) != 0) {
		for (uint32_t i = 0; i < n; i++)
			buf_unref(r, ents[i].ref, ents[i].count);
		any = true;
	}
	return any;
}

bool
slc_ack_drain(struct slc_reactor *r)
{
	struct ack_ent ents[REL_BURST / 2];
	bool any = false;
	uint32_t n;

	while ((n = slc_ring_mpsc_dequeue_burst(r->ack_ring, ents, REL_BURST / 2)) != 0) {
		for (uint32_t i = 0; i < n; i++)
			slc_conn_ack_apply(r, ents[i].conn & ~ACK_ENT_FAILED, ents[i].seq,
			                   ents[i].count, !(ents[i].conn & ACK_ENT_FAILED));
		any = true;
	}
	return any;
}
