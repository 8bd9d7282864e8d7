/* SPDX-License-Identifier: MIT */
/* fwd_gzip.c: framing=forward's compressed bins (CompressedPackedForward) on the loop. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gunzip.h"
#include "reactor_priv.h"

/*
 * A compressed bin's bytes come as GZIP pieces (forward.h). A bin whole in one chunk is
 * inflated from there; one that straddles chunks is gathered first into the connection's
 * reassembly chunk (c->reasm: inside a bin no entry is being reassembled) of exactly the
 * bin's size, within --reasm-memory like a frame that straddles buffers: a connection that
 * finds none waits, and an idle one is evicted. The bin inflates into the reactor's
 * scratch, bounded by --forward-max-inflated (a "zip bomb" stops there), and is copied
 * into a heap chunk of its inflated size (at least 1/1024 of the budget), of the
 * HEAP_INFLATE budget (4 of the largest bins), as OTLP/HTTP bodies are.
 *
 * Then the inflated bytes go ahead of the rest of the stream as if they had been received:
 * in front of the connection's pending bytes, the rest of the chunk after them, and the
 * connection takes its turn in the wait queue (paused, its receive left armed), where
 * conn_resume parses them in that order. The parser reads them as the bin's entries
 * (slc_forward_inflated), so they take the path of every entry, zero-copy in the heap
 * chunk: routing, tenants, backpressure (a pause inside them keeps their rest in front),
 * acks (the message's chunk comes after them) and release (the chunk goes when the last
 * entry is back). The cost is a turn of the loop per compressed message, which carries
 * hundreds of entries.
 */

#define FWD_MAX_INFLATED_DEFAULT (16u << 20)

uint32_t
slc_fwd_gzip_max(const struct slc_reactor *r)
{
	return r->cfg.fwd_max_inflated != 0 ? r->cfg.fwd_max_inflated : FWD_MAX_INFLATED_DEFAULT;
}

/* Refuses the bin: counted by reason, logged with why, the connection closed; the entries
 * before the bin were delivered already (conn_parse hands the piece over only then). */
static int
refuse(struct slc_reactor *r, struct conn *c, enum slc_frame_error e, const char *why)
{
	stat_add(&r->listeners[c->listener].stats.frames_rejected[e], 1);
	slc_reactor_log(r, LOGK_FRAMING, SLC_LOG_WARN, "closing %s: %s frame: %s", c->peer,
	                slc_frame_error_str(e), why);
	slc_reasm_drop(r, c);
	slc_conn_close(r, c, SLC_CLOSE_FRAMING);
	return SLC_FWD_GZ_CLOSED;
}

/* The inflater and the scratch, at the first compressed bin. */
static bool
inflater_ready(struct slc_reactor *r)
{
	int err = 0;

	if (r->fwd_gz == NULL && (r->fwd_gz = slc_gunzip_create(&err)) == NULL)
		return false;
	if (r->fwd_scratch == NULL && (r->fwd_scratch = malloc(slc_fwd_gzip_max(r))) == NULL)
		return false;
	return true;
}

/* A gzip trailer's ISIZE: little-endian 32 bits. */
static inline uint32_t
isize(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * c goes to the wait queue, paused, as a connection whose new bytes must wait their turn
 * (loop.c, conn_defer): not counted as a pause for room. From a completion, retry makes
 * the loop run the queue before it waits. Inside a turn (waitq_run, turn_left set), retry
 * would come too late: the loop may then sleep with nothing left to wake it (every entry
 * released already, c's receive cancelled); the turn ends instead (turn_left 0), which
 * makes waitq_run take another pass, where c's inflated bytes come.
 */
static void
queue(struct slc_reactor *r, struct conn *c)
{
	if (c->state == CONN_RECEIVING) {
		c->state = CONN_PAUSED;
		stat_add(&r->stats.paused, 1);
	}
	conn_waitq_push(r, c);
	r->retry = true;
	if (r->turn_left != NONE)
		r->turn_left = 0;
}

int
slc_fwd_gzip_piece(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len,
                   const struct slc_frame_piece *p, uint32_t pos)
{
	const uint8_t *chunk = ref_ptr(r, ref) + off, *in = chunk + p->off;
	uint32_t in_len = p->len, max = slc_fwd_gzip_max(r), h, hint;
	/* An inflated bin's chunk holds at least this: they never hold more ids than
	 * SLC_FWD_INFLATE_CHUNKS (malloc'd, not touched, beyond what the bin fills). */
	uint32_t floor = (uint32_t)(r->heap_budget[HEAP_INFLATE] / SLC_FWD_INFLATE_CHUNKS);
	char why[96];
	const char *zwhy;
	size_t n;
	int rc;

	if (c->reasm != NONE || p->trim == SLC_FRAME_TRIM_GZIP) {
		/* Straddles chunks: gathered, into a chunk of the whole bin's size. */
		if (c->reasm == NONE) {
			uint64_t total = (uint64_t)p->len + c->parser.fwd_left;

			if (total > max || total > r->heap_budget[HEAP_REASM]) {
				snprintf(why, sizeof(why),
				         "a compressed bin of %" PRIu64 " bytes, more than "
				         "--forward-max-inflated or --reasm-memory",
				         total);
				return refuse(r, c, SLC_FRAME_ERR_FORWARD_INFLATED, why);
			}
			c->reasm = slc_reasm_heap_get(r, (uint32_t)total, HEAP_REASM);
			if (c->reasm == NONE) {
				reasm_wait_set(r, c, true);
				return SLC_FWD_GZ_WAIT;
			}
		}
		/* A GZIP_END that waited for memory comes again: its bytes are in already. */
		if (c->reasm_len + p->len <= ref_heap_chunk(r, c->reasm)->cap) {
			memcpy(ref_ptr(r, c->reasm) + c->reasm_len, in, p->len);
			c->reasm_len += p->len;
		}
		c->reasm_rx_ns = r->now_ns;
		if (p->trim == SLC_FRAME_TRIM_GZIP)
			return SLC_FWD_GZ_GO;
		in = ref_ptr(r, c->reasm);
		in_len = c->reasm_len;
	}
	if (!inflater_ready(r))
		return refuse(r, c, SLC_FRAME_ERR_FORWARD_GZIP, "no memory to inflate");
	/* A connection that waits for the budget tries again whenever heap memory is freed:
	 * the last member's trailer (its length mod 2^32: exact for the usual one member)
	 * saves inflating, again and again, a bin that would not fit yet; a bin of several
	 * members (or a false trailer) is known once inflated, and that size is kept. */
	hint = in_len >= 18 ? isize(in + in_len - 4) : 0;
	if (c->fwd_need > hint)
		hint = c->fwd_need;
	if (hint <= max && r->heap_used[HEAP_INFLATE] + (hint > floor ? hint : floor) >
	                           r->heap_budget[HEAP_INFLATE]) {
		reasm_wait_set(r, c, true);
		return SLC_FWD_GZ_WAIT;
	}
	rc = slc_gunzip_body(r->fwd_gz, in, in_len, r->fwd_scratch, max, &n, &zwhy);
	if (rc == -EFBIG) {
		snprintf(why, sizeof(why),
		         "a compressed bin of %u bytes inflates past --forward-max-inflated (%u)",
		         in_len, max);
		return refuse(r, c, SLC_FRAME_ERR_FORWARD_INFLATED, why);
	}
	if (rc != 0)
		return refuse(r, c, SLC_FRAME_ERR_FORWARD_GZIP, zwhy);
	if (n == 0) { /* a bin of no entries: the message goes on to its option */
		slc_reasm_drop(r, c);
		slc_forward_inflated(&c->parser, 0);
		return SLC_FWD_GZ_GO;
	}
	h = slc_reasm_heap_get(r, n > floor ? (uint32_t)n : floor, HEAP_INFLATE);
	if (h == NONE) {
		/* Inflated bins in flight hold the budget: they come back as their entries
		 * are delivered. Inflated again then (the scratch serves the next bin), not
		 * before the budget has room for this size. */
		c->fwd_need = (uint32_t)n;
		reasm_wait_set(r, c, true);
		return SLC_FWD_GZ_WAIT;
	}
	c->fwd_need = 0;
	memcpy(ref_ptr(r, h), r->fwd_scratch, n);
	slc_reasm_drop(r, c);
	slc_forward_inflated(&c->parser, (uint32_t)n);
	stat_add(&r->listeners[c->listener].stats.fwd_inflated, 1);
	/* In front of the pending bytes: the inflated ones, then the rest of the chunk. */
	if ((pos < len && !slc_reasm_pend_push(r, c, ref, off + pos, len - pos, true)) ||
	    !slc_reasm_pend_push(r, c, h, 0, (uint32_t)n, true)) {
		slc_reasm_heap_put(r, h);
		slc_conn_keep_failed(r, c);
		return SLC_FWD_GZ_CLOSED;
	}
	queue(r, c);
	return SLC_FWD_GZ_QUEUED;
}

void
slc_fwd_gzip_destroy(struct slc_reactor *r)
{
	slc_gunzip_destroy(r->fwd_gz);
	free(r->fwd_scratch);
	r->fwd_gz = NULL;
	r->fwd_scratch = NULL;
}
