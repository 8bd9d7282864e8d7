/* SPDX-License-Identifier: MIT */
/* ack_commit.c: acknowledgements released per group commit (sink.h's commit and commit_poll). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_priv.h"

/*
 * With a sink that commits (the file sink), a worker does not wait for the disk per
 * acknowledged batch: it notes the batch's runs of frames (connection, first sequence
 * number, count) with the sink's ticket, releases the buffers as usual, and hands the runs
 * to their reactors once the ticket resolves, at the next batch or when it runs out of
 * work. The reactor keeps a connection's slot until all of its frames came back, so the
 * runs may outlive the messages. The queue is bounded (ACKQ_CAP runs, allocated at
 * create); when it is full the worker waits for the sink's syncs, which is the
 * backpressure a sync per batch gave before.
 */
#define ACKQ_CAP 8192

struct slc_daemon_ack_pend {
	struct slc_reactor_ack_run run;
	uint64_t ticket;
	uint32_t reactor;
};

int
slc_daemon_ackq_alloc(struct slc_daemon *d)
{
	uint32_t n = d->cfg.pools * d->cfg.workers;

	if (!d->acks || d->sink_ops->commit == NULL || d->sink_ops->commit_poll == NULL)
		return 0;
	for (uint32_t g = 0; g < n; g++) {
		d->w[g].ackq = calloc(ACKQ_CAP, sizeof(*d->w[g].ackq));
		if (d->w[g].ackq == NULL)
			return -ENOMEM;
	}
	return 0;
}

void
slc_daemon_ackq_free(struct slc_daemon *d)
{
	if (d->w == NULL)
		return;
	for (uint32_t g = 0; g < d->cfg.pools * d->cfg.workers; g++)
		free(d->w[g].ackq);
}

/* A sync failed under acknowledged frames: counted, and logged once in 1024. */
void
slc_daemon_ack_sync_failed(struct slc_daemon *d, struct slc_daemon_worker *w, uint32_t g, int e)
{
	uint64_t prev = atomic_fetch_add_explicit(&w->sync_errors, 1, memory_order_relaxed);

	if ((prev & 1023) == 0)
		slc_daemon_log(SLC_CFG_LOG_ERROR,
		               "worker %u: sink %s could not make a batch durable: %s; its "
		               "acknowledged connections are closed and their clients send "
		               "again (%" PRIu64 " failed syncs so far)",
		               g, d->sink_ops->name, strerror(-e), prev + 1);
}

/* Hands runs [head, upto) to their reactors, those of one reactor together. */
static void
ackq_release(struct slc_daemon *d, struct slc_daemon_worker *w, uint32_t upto, bool durable)
{
	struct slc_reactor_ack_run runs[64];

	while (w->ackq_head != upto) {
		uint32_t id = w->ackq[w->ackq_head % ACKQ_CAP].reactor, n = 0;

		while (w->ackq_head != upto && n < 64 &&
		       w->ackq[w->ackq_head % ACKQ_CAP].reactor == id)
			runs[n++] = w->ackq[w->ackq_head++ % ACKQ_CAP].run;
		if (id < d->nreactors)
			slc_reactor_ack_runs(d->rc[id].r, runs, n, durable);
	}
}

void
slc_daemon_ack_poll(struct slc_daemon *d, struct slc_daemon_worker *w, uint32_t g, bool wait)
{
	uint32_t upto = w->ackq_head;
	uint64_t done;
	int e;

	if (w->ackq_head == w->ackq_tail || w->h == NULL)
		return;
	e = d->sink_ops->commit_poll(w->h, wait, &done);
	if (e != 0) {
		slc_daemon_ack_sync_failed(d, w, g, e);
		/* What this poll resolved failed: a ticket of it queued later is not durable. */
		w->ack_fail_lo = w->ack_done;
		w->ack_fail_hi = done;
	}
	w->ack_done = done;
	while (upto != w->ackq_tail && w->ackq[upto % ACKQ_CAP].ticket <= done)
		upto++;
	ackq_release(d, w, upto, e == 0);
}

int
slc_daemon_ack_commit(struct slc_daemon *d, struct slc_daemon_worker *w, uint32_t g,
                      const struct slc_msg *msgs, uint32_t n, const uint32_t *ref, uint32_t nref)
{
	uint64_t ticket;
	uint32_t k = 0;
	int e = d->sink_ops->commit(w->h, &ticket);

	if (e != 0)
		return e;
	for (uint32_t i = 0; i < n; i++) {
		const struct slc_msg *m = &msgs[i];
		uint32_t id = slc_msg_reactor(m), nq;
		struct slc_daemon_ack_pend *last;

		while (k < nref && ref[k] < i)
			k++;
		if (!slc_msg_is_ack(m))
			continue;
		if (k < nref && ref[k] == i) {
			/* Refused by the sink alone: not durable, its connection alone closes. */
			if (id < d->nreactors)
				slc_reactor_ack(d->rc[id].r, m, 1, false);
			continue;
		}
		nq = w->ackq_tail - w->ackq_head;
		last = nq != 0 ? &w->ackq[(w->ackq_tail - 1) % ACKQ_CAP] : NULL;
		if (last != NULL && last->reactor == id && last->ticket == ticket) {
			uint32_t one = 1;

			if (slc_reactor_ack_run_add(&last->run, &one, 1, m))
				continue;
		}
		if (nq == ACKQ_CAP) {
			slc_daemon_ack_poll(d, w, g, true); /* full: wait for the syncs */
		}
		last = &w->ackq[w->ackq_tail++ % ACKQ_CAP];
		last->reactor = id;
		last->ticket = ticket;
		nq = 0;
		(void)slc_reactor_ack_run_add(&last->run, &nq, 1, m);
	}
	/* What an earlier poll resolved already: a poll that waited for room in the queue
	 * above (its sync may have covered this batch), or the sink had nothing left to
	 * sync. Durable only if that sync did not fail. */
	if (ticket <= w->ack_done) {
		ackq_release(d, w, w->ackq_tail,
		             !(ticket > w->ack_fail_lo && ticket <= w->ack_fail_hi));
		return 0;
	}
	slc_daemon_ack_poll(d, w, g, false);
	return 0;
}
