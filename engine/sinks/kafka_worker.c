/* SPDX-License-Identifier: MIT */
/* kafka_worker.c: a Kafka sink worker: its records produced, its reports waited for. */
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "claim.h"
#include "kafka_priv.h"

/* ---- the operations ---- */

int
slc_sink_kafka_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out)
{
	struct slc_sink_kafka *s = sink;
	struct slc_sink_kafka_worker *w;
	int rc;

	w = slc_sink_worker_claim(s->claimed, s->workers, worker, sizeof(*w), &rc);
	if (w == NULL)
		return rc;
	w->sink = s;
	w->worker = worker;
	w->ws = &s->ws[worker];
	w->p = &s->prod[s->spec.per_worker ? worker : 0];
	if (s->spec.per_worker) {
		rc = slc_sink_kafka_producer_open(s, w->p);
		if (rc != 0) {
			rc = rc == -ENOMEM ? rc : -EIO;
			goto err_free_worker;
		}
	}
	/* Failures before this owner (a previous open of the same index) are not its own. */
	w->flush_mark = ld(&w->ws->failed) + ld(&w->ws->rejected);
	w->sync_mark = w->flush_mark;
	*out = (struct slc_sink_worker *)w;
	return 0;

err_free_worker:
	slc_sink_worker_unclaim(s->claimed, worker, w);
	return rc;
}

/*
 * librdkafka refused record m at once. Too large or invalid is the record's own fault:
 * with --dead-letter it goes there and costs its batch nothing (0). Otherwise what write
 * returns for it (-EMSGSIZE, -EIO), counted in *rejected.
 */
static int
refused(struct slc_sink_kafka_worker *w, rd_kafka_resp_err_t e, const struct slc_msg *m,
        uint64_t *rejected)
{
	struct slc_dead_letter *dl = w->sink->dead_letter;
	uint32_t len = m->len;

	if (dl != NULL &&
	    (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_MSG ||
	     e == RD_KAFKA_RESP_ERR_INVALID_RECORD)) {
		enum slc_dead_letter_reason why = e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
		                                          ? SLC_DEAD_LETTER_TOO_LARGE
		                                          : SLC_DEAD_LETTER_INVALID;

		if (slc_dead_letter_put(dl, w->worker, m, 1, why) == 0) {
			slc_sink_stat_add(&w->ws->dead_lettered, 1);
			slc_sink_kafka_log(w->sink, SLC_LOG_WARN,
			                   "worker %u: a record of %u bytes refused (%s): written "
			                   "to the dead letters",
			                   w->worker, len, rd_kafka_err2str(e));
			return 0;
		}
	}
	(*rejected)++;
	slc_sink_kafka_log(w->sink, SLC_LOG_ERROR, "worker %u: a record of %u bytes refused: %s",
	                   w->worker, len, rd_kafka_err2str(e));
	return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? -EMSGSIZE : -EIO;
}

int
slc_sink_kafka_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_sink_kafka_worker *w = (struct slc_sink_kafka_worker *)sw;
	struct slc_sink_kafka *s = w->sink;
	struct wstate *ws = w->ws;
	struct producer *p = w->p;
	uint64_t produced = 0, bytes = 0, keyless = 0, rejected = 0, cancelled = 0;
	int rc = 0;

	if (is_cancelled(s)) {
		slc_sink_stat_add(&ws->cancelled, n);
		return -ECANCELED;
	}
	/* Raised before produce: with a shared producer another thread may serve a report
	 * before produce returns here. Lowered again below for records not produced. */
	if (atomic_fetch_add_explicit(&ws->in_flight, (int64_t)n, memory_order_relaxed) <= 0)
		/* Relaxed: read only for health (kafka_health). */
		atomic_store_explicit(&ws->waiting_since_ns, slc_mono_coarse_ns(),
		                      memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++) {
		const struct slc_msg *m = &msgs[i];
		const uint8_t *key = NULL;
		uint32_t key_len = 0;

		if (s->cfg.key_fn == NULL ||
		    s->cfg.key_fn(s->cfg.key_ctx, m, &key, &key_len) != 0) {
			key = NULL;
			key_len = 0;
		}
		for (;;) {
			rd_kafka_resp_err_t e;

			/* F_COPY: the bytes are the reactor's, released when write returns. */
			if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
			                     (void *)(uintptr_t)m->data, m->len, key, key_len,
			                     ws) == 0) {
				produced++;
				bytes += m->len;
				keyless += key == NULL;
				break;
			}
			e = rd_kafka_last_error();
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				int r = refused(w, e, m, &rejected);

				if (rc == 0)
					rc = r;
				break;
			}
			/* The backpressure path: wait for reports to make room, never drop.
			 * Counted as it happens: a worker blocked for as long as a broker is
			 * down shows in the metric while it waits, not when it is over. */
			slc_sink_stat_add(&ws->queue_full, 1);
			if (is_cancelled(s)) {
				cancelled = n - i;
				rc = -ECANCELED;
				goto out;
			}
			rd_kafka_poll(p->rk, (int)SLC_SINK_KAFKA_POLL_MS);
		}
	}
out:
	if (produced != n)
		atomic_fetch_sub_explicit(&ws->in_flight, (int64_t)(n - produced),
		                          memory_order_relaxed);
	slc_sink_stat_add(&ws->produced, produced);
	slc_sink_stat_add(&ws->bytes, bytes);
	slc_sink_stat_add(&ws->keyless, keyless);
	slc_sink_stat_add(&ws->rejected, rejected);
	slc_sink_stat_add(&ws->cancelled, cancelled);
	/* The daemon does not count a batch that returns -ECANCELED (sink.h): what was
	 * refused in it is the sink's to count, with the rest given up at the drain timeout. */
	if (rc == -ECANCELED)
		slc_sink_stat_add(&ws->undelivered, rejected);
	if (cancelled != 0)
		slc_sink_kafka_log(s, SLC_LOG_ERROR,
		                   "worker %u: cancelled: %llu records not produced", w->worker,
		                   (unsigned long long)cancelled);
	/* Reports of earlier batches: counters stay current and librdkafka frees them. */
	rd_kafka_poll(p->rk, 0);
	return rc;
}

/*
 * Serves reports until none of this worker's records is in flight: 0, -ECANCELED, or
 * -ETIMEDOUT once deadline_ns (0: none) passes. rd_kafka_flush sends what waits for
 * linger.ms at once; a shared producer's flush waits for every worker's records, so it is
 * called in short slices and this worker's own count decides.
 */
static int
wait_reports(struct slc_sink_kafka_worker *w, uint64_t deadline_ns)
{
	struct slc_sink_kafka *s = w->sink;
	int slice_ms = s->spec.per_worker ? (int)SLC_SINK_KAFKA_POLL_MS : SHARED_SLICE_MS;

	/* A1: pairs with R1 in on_delivery. */
	while (atomic_load_explicit(&w->ws->in_flight, memory_order_acquire) > 0) {
		if (is_cancelled(s))
			return -ECANCELED;
		if (deadline_ns != 0 && slc_mono_ns() >= deadline_ns)
			return -ETIMEDOUT;
		rd_kafka_flush(w->p->rk, slice_ms);
	}
	return 0;
}

/* 0 when nothing failed or was refused since *mark was taken; -EIO otherwise. */
static int
failures_since(struct slc_sink_kafka_worker *w, uint64_t *mark)
{
	uint64_t f = ld(&w->ws->failed) + ld(&w->ws->rejected);
	int rc = f != *mark ? -EIO : 0;

	*mark = f;
	return rc;
}

int
slc_sink_kafka_flush(struct slc_sink_worker *sw)
{
	struct slc_sink_kafka_worker *w = (struct slc_sink_kafka_worker *)sw;
	int rc = wait_reports(w, 0);

	return rc != 0 ? rc : failures_since(w, &w->flush_mark);
}

int
slc_sink_kafka_sync(struct slc_sink_worker *sw)
{
	struct slc_sink_kafka_worker *w = (struct slc_sink_kafka_worker *)sw;
	int rc = wait_reports(w, 0);

	return rc != 0 ? rc : failures_since(w, &w->sync_mark);
}

void
slc_sink_kafka_worker_close(struct slc_sink_worker *sw)
{
	struct slc_sink_kafka_worker *w = (struct slc_sink_kafka_worker *)sw;
	struct slc_sink_kafka *s;
	uint32_t worker;
	int64_t left;

	if (w == NULL)
		return;
	s = w->sink;
	worker = w->worker;
	(void)wait_reports(w, s->cfg.close_timeout_ms != 0
	                              ? slc_mono_ns() + (uint64_t)s->cfg.close_timeout_ms * 1000000u
	                              : 0);
	if (s->spec.per_worker) {
		slc_sink_kafka_producer_close(s, w->p, w->ws, 1);
	} else {
		left = atomic_load_explicit(&w->ws->in_flight, memory_order_acquire);
		if (left > 0)
			slc_sink_kafka_log(
			        s, SLC_LOG_WARN,
			        "worker %u: closed with %lld records still in the shared producer; "
			        "destroy waits for them",
			        worker, (long long)left);
	}
	slc_dead_letter_worker_close(s->dead_letter, worker);
	slc_sink_worker_unclaim(s->claimed, worker, w);
}
