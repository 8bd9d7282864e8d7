/* SPDX-License-Identifier: MIT */
/* loop.c: the reactor's loop and its per-message path: completions, framing, deliver. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "reactor_priv.h"

/*
 * Everything a received byte goes through until a consumer takes its message lives in
 * this file, so that the compiler sees it whole: the completion (on_recv, on_udp), the
 * framing (conn_parse, with the acknowledged frames' checks in ack_frames), the message
 * descriptors and ops.deliver. What it calls elsewhere per message is static inline in
 * reactor_priv.h (buffer references, counters) or ack_window.h (the window); calls out of
 * this file happen on pauses, closes, errors and once-a-loop work only.
 */

/* While completions keep coming, wait for a batch of them (or a short timeout) rather than
 * for one: with DEFER_TASKRUN the kernel then runs the receives and wakes the reactor once
 * per batch. Measured (bench_reactor, this machine, same session): UDP receive cost fell
 * from ~1900 to ~600-900 ns per datagram, and 4 TCP connections went from 14.6-16.3 to
 * 19.0-20.2 M lines/s. The price is up to WAIT_BATCH_NS of added latency while traffic is
 * light; once a wait ends with nothing, the reactor sleeps without a timeout again. */
#define WAIT_BATCH    32
#define WAIT_BATCH_NS (50 * 1000ll)

/* Messages a paused connection may deliver in one turn of the wait queue (waitq_run):
 * one burst, so that room which comes back in large amounts is still shared out. */
#define TURN_MSGS BATCH

/*
 * Checks the burst's frames (r->batch[0 .. nmsg)) of an acknowledged connection, takes
 * their sequence numbers off, and marks them; a frame with no payload is done at once and
 * leaves the batch. Returns how many messages remain to offer (batch and batch_piece
 * compacted), or NONE after a protocol error, when the connection is closed and the
 * burst's messages given back: none of them is acknowledged, so the client sends them
 * again elsewhere.
 */
static uint32_t
ack_frames(struct slc_reactor *r, struct conn *c, uint32_t nmsg)
{
	struct ack_conn *a = c->ack;
	uint32_t k = 0;

	for (uint32_t i = 0; i < nmsg; i++) {
		struct slc_msg m = r->batch[i];
		enum slc_ack_error e = SLC_ACK_ERR_SHORT;
		uint64_t seq = 0;

		if (m.len >= 8) {
			m.data += 8;
			m.len -= 8;
			m.conn |= SLC_MSG_CONN_ACK;
			seq = slc_msg_ack_seq(&m);
			e = slc_ack_window_take(&a->win, seq);
		}
		if (e != SLC_ACK_TAKEN) {
			for (uint32_t j = 0; j < k; j++)
				buf_unref(r, r->batch[j].ref & SLC_MSG_REF_MASK, 1);
			for (uint32_t j = i; j < nmsg; j++)
				buf_unref(r, r->batch[j].ref & SLC_MSG_REF_MASK, 1);
			slc_conn_ack_violation(r, c, e, seq);
			return NONE;
		}
		if (m.len == 0) {
			/* Nothing to make durable. */
			if (slc_ack_window_mark(&a->win, seq))
				stat_add(&r->listeners[c->listener].stats.empty_frames, 1);
			conn_ack_queue_push(r, c);
			buf_unref(r, m.ref & SLC_MSG_REF_MASK, 1);
			continue;
		}
		r->batch_piece[k] = r->batch_piece[i];
		r->batch[k++] = m;
	}
	return k;
}

static_assert(BATCH <= 64, "a burst's skipped pieces fit one bit each in a uint64_t");

/*
 * Skip mode (--oversize skip): the oversize frames of a burst that were dropped (a bit per
 * piece index in drops, what the parser knew of each one's size in size[]; what of them
 * was reassembled went at once), counted and logged once the burst's end is known: only
 * those below stop, since a burst rewound to stop parses the rest again, its skipped
 * frames included. Out of line and cold: it must not weigh on conn_parse's layout.
 */
static void __attribute__((noinline, cold))
frames_skipped(struct slc_reactor *r, struct conn *c, struct listener *l, uint64_t drops,
               const uint32_t *size, uint32_t stop)
{
	if (stop < 64)
		drops &= (1ull << stop) - 1;
	for (; drops != 0; drops &= drops - 1) {
		stat_add(&l->stats.frames_skipped, 1);
		slc_reactor_log(r, LOGK_FRAMING, SLC_LOG_WARN,
		                "%s: oversize frame of at least %u bytes skipped (--max-frame %u); "
		                "the connection goes on",
		                c->peer, size[__builtin_ctzll(drops)], r->cfg.max_frame);
	}
}

/*
 * framing=forward: the burst stopped at piece `stop` of a chunk's message (every message
 * before it taken): the parser goes back there; at a fence, the ack goes out at once when
 * nothing is in flight, or the connection pauses until it can (false).
 */
static bool __attribute__((noinline, cold))
fwd_resume(struct slc_reactor *r, struct conn *c, const struct slc_frame_parser *s0, uint32_t pos0,
           const uint8_t *chunk, uint32_t len, uint32_t stop, bool fence, uint32_t *pos)
{
	slc_frame_parse_rewind(&c->parser, s0, pos0, chunk, len, stop, pos);
	if (!fence || slc_conn_ack_fwd_fence(r, c))
		return true;
	slc_conn_pause(r, c);
	return false;
}

/*
 * Parses and delivers one chunk of a connection's bytes. Returns NONE when the whole chunk
 * was taken, or the offset within the chunk where parsing must resume (the connection is
 * then paused, and c->parser holds the state at that offset).
 */
static uint32_t
conn_parse(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	struct listener *l = &r->listeners[c->listener];
	const uint8_t *chunk = ref_ptr(r, ref) + off;
	uint32_t pos = 0;

	if (SLC_UNLIKELY(c->ack != NULL && c->ack->fence)) {
		/* framing=forward: nothing more until the chunk before is acknowledged. */
		slc_conn_pause(r, c);
		return 0;
	}
	if (c->http != NULL) /* OTLP/HTTP: requests, not frames (http_conn.c) */
		return slc_http_conn_parse(r, c, ref, off, len);
	for (;;) {
		struct slc_frame_parser s0;
		uint32_t pos0 = pos, nmsg = 0, offer, taken, stop = NONE, reasm_started = NONE;
		uint32_t meta_stop = NONE; /* forward: the burst stopped at a chunk piece */
		bool fence = false;
		uint32_t drop_size[BATCH], tagged = 0; /* forward:tag: the messages keyed */
		uint64_t drops = 0; /* --oversize skip: pieces of this burst that were skipped */
		int n;

		if (r->turn_left == 0 && pos < len) {
			/* Its turn is over (it is paused already): the rest waits for the
			 * next one. The parser state is exact here, between two bursts. */
			slc_conn_pause(r, c);
			return pos;
		}
		s0 = c->parser;
		n = slc_frame_parse_burst(&c->parser, chunk, len, &pos, r->pieces, BATCH);

		if (n < 0) {
			enum slc_frame_error e = (enum slc_frame_error) - n;

			stat_add(&l->stats.frames_rejected[e], 1);
			slc_reactor_log(r, LOGK_FRAMING, SLC_LOG_WARN, "closing %s: %s frame",
			                c->peer, slc_frame_error_str(e));
			slc_conn_close(r, c, SLC_CLOSE_FRAMING);
			return NONE;
		}
		if (n == 0)
			return NONE;
		/* Two pieces in one chunk, or one with end: a frame ended in this burst. */
		if (n > 1 || r->pieces[0].end)
			c->frame_end_ns = r->now_ns;

		for (uint32_t i = 0; i < (uint32_t)n; i++) {
			const struct slc_frame_piece *p = &r->pieces[i];
			struct slc_msg *m = &r->batch[nmsg];

			if (p->start && p->end) {
				/* acks: an empty frame lacks its seq; ack_frames refuses it. */
				if (p->len == 0 && c->ack == NULL) {
					stat_add(&l->stats.empty_frames, 1);
					continue;
				}
				*m = (struct slc_msg){.data = chunk + p->off,
				                      .len = p->len,
				                      .recv_ns = r->now_ns,
				                      .conn = (uint32_t)(c - r->conns),
				                      .ref = r->cfg.id << 24 | ref};
				r->refcnt[ref]++;
				r->batch_piece[nmsg++] = i;
				continue;
			}
			if (SLC_UNLIKELY(p->trim >= SLC_FRAME_TRIM_META &&
			                 p->trim != SLC_FRAME_TRIM_DROP)) {
				if (p->trim <= SLC_FRAME_TRIM_TAG &&
				    p->trim >= SLC_FRAME_TRIM_TAG_END) {
					tagged = slc_conn_ack_fwd_tag(r, c, chunk, p, tagged, nmsg);
					continue;
				}
				if (nmsg != 0) {
					meta_stop = i; /* the messages before it first */
					break;
				}
				if (p->trim <= SLC_FRAME_TRIM_GZIP) {
					/* a compressed bin: fwd_gzip.c */
					int g = slc_fwd_gzip_piece(r, c, ref, off, len, p, pos);

					if (g == SLC_FWD_GZ_WAIT) {
						stop = i;
						break;
					}
					if (g != SLC_FWD_GZ_GO)
						return g == SLC_FWD_GZ_QUEUED ? len : NONE;
					continue;
				}
				if (slc_conn_ack_fwd_piece(c, chunk, p)) {
					meta_stop = i + 1;
					fence = true;
					break;
				}
				continue;
			}
			if (SLC_UNLIKELY(p->trim == SLC_FRAME_TRIM_DROP)) {
				/* What of it was reassembled goes now; counted with the burst. */
				slc_reasm_drop(r, c);
				drops |= 1ull << i;
				drop_size[i] = p->off;
				continue;
			}
			if (p->start) {
				/* A counted frame reserves exactly its length (the parser
				 * knows what is still to come); an LF frame starts small and
				 * grows (reasm.c), up to max_frame and a CR that a later LF
				 * trims. No room: wait for it, paused at this frame's start. */
				if (!slc_reasm_start(r, c, p->len,
				                     slc_frame_parser_counted(&c->parser)
				                             ? p->len + c->parser.need
				                             : 0)) {
					stop = i;
					reasm_wait_set(r, c, true);
					break;
				}
				reasm_started = i;
			}
			if (c->reasm_len >= p->trim &&
			    c->reasm_len - p->trim + p->len > ref_heap_chunk(r, c->reasm)->cap &&
			    c->reasm_len - p->trim + p->len <= r->cfg.max_frame + 1 &&
			    !slc_reasm_grow(r, c, c->reasm_len - p->trim + p->len)) {
				/* No room to grow: wait, paused at this piece, keeping the
				 * frame so far (a piece that continues a frame is a chunk's
				 * first: nothing before it to offer). */
				stop = i;
				reasm_wait_set(r, c, true);
				break;
			}
			if (c->reasm_len < p->trim ||
			    c->reasm_len - p->trim + p->len > ref_heap_chunk(r, c->reasm)->cap) {
				/* The parser bounds frames by max_frame; this guards the copy.
				 * The messages of this burst were not offered: drop their refs. */
				for (uint32_t k = 0; k < nmsg; k++)
					buf_unref(r, r->batch[k].ref & SLC_MSG_REF_MASK, 1);
				stat_add(&l->stats.frames_rejected[SLC_FRAME_ERR_OVERSIZE], 1);
				slc_conn_close(r, c, SLC_CLOSE_FRAMING);
				return NONE;
			}
			c->reasm_len -= p->trim;
			memcpy(ref_ptr(r, c->reasm) + c->reasm_len, chunk + p->off, p->len);
			c->reasm_len += p->len;
			c->reasm_rx_ns = r->now_ns;
			if (!p->end)
				continue;
			stat_add(&r->stats.reassembled, 1);
			*m = (struct slc_msg){.data = ref_ptr(r, c->reasm),
			                      .len = c->reasm_len,
			                      .recv_ns = r->now_ns,
			                      .conn = (uint32_t)(c - r->conns),
			                      .ref = r->cfg.id << 24 | c->reasm};
			r->refcnt[c->reasm] = 1;
			c->reasm = NONE;
			c->reasm_len = 0;
			r->batch_piece[nmsg++] = i;
		}

		if (c->ack != NULL && nmsg != 0) {
			if (c->ack->fwd) {
				/* Entries: no seq; the reactor counts them back (msg.h). */
				for (uint32_t k = 0; k < nmsg; k++)
					r->batch[k].conn |= SLC_MSG_CONN_ACK | SLC_MSG_CONN_FWD;
				for (uint32_t k = tagged; k < nmsg; k++) /* forward:tag */
					r->batch[k].key_hash = c->ack->tag_hash;
			} else {
				nmsg = ack_frames(r, c, nmsg);
			}
			if (nmsg == NONE)
				return NONE;
			/* Counted before deliver: a consumer may acknowledge inside it. */
			c->ack->inflight += nmsg;
		}
		/* Inside a turn, no more than the turn has left; what is not offered is
		 * handled as if refused, and waits for the next turn. */
		offer = nmsg < r->turn_left ? nmsg : r->turn_left;
		/* Its tenant's buckets: what they hold back waits, paused, for tokens. */
		offer = conn_tenant_offer(r, c, r->batch, offer);
		taken = offer != 0 ? r->cfg.ops.deliver(r->cfg.ops.ctx, r, r->batch, offer) : 0;
		conn_tenant_took(r, c, r->batch, taken);
		if (r->turn_left != NONE)
			r->turn_left -= taken;
		stat_add(&l->stats.msgs, taken);
		if (taken == nmsg && stop == NONE) {
			if (SLC_UNLIKELY(drops != 0))
				frames_skipped(r, c, l, drops, drop_size, meta_stop);
			if (SLC_UNLIKELY(meta_stop != NONE) &&
			    !fwd_resume(r, c, &s0, pos0, chunk, len, meta_stop, fence, &pos))
				return pos;
			continue;
		}
		if (c->ack != NULL) {
			/* What was not taken is parsed (or offered) again: so is its seq. */
			c->ack->inflight -= nmsg - taken;
			if (taken < nmsg && !c->ack->fwd) /* the same frames again */
				slc_ack_window_rewind(&c->ack->win,
				                      slc_msg_ack_seq(&r->batch[taken]));
			else if (taken < nmsg) /* forward: the tag as of there */
				slc_conn_ack_fwd_tag_at(c, r->batch[taken].key_hash);
		}

		/* Paused: give back the references of what was not taken, and find where to
		 * resume. A reassembled message is kept aside (its bytes are in its own
		 * buffer); anything else is parsed again from its frame's start. */
		if (taken < nmsg) {
			uint32_t k = taken;

			stop = r->batch_piece[taken];
			if (!r->pieces[stop].start) {
				/* Only the first message of a chunk can be a reassembled one. */
				c->held = r->batch[k++];
				c->has_held = true;
				stop++;
				/* Offered already: the frame after it comes next (after
				 * 2^64 - 1: none, rewind's seq 0). */
				if (c->ack != NULL && !c->ack->fwd)
					slc_ack_window_rewind(&c->ack->win,
					                      slc_msg_ack_seq(&c->held) + 1);
			}
			for (; k < nmsg; k++)
				buf_unref(r, r->batch[k].ref & SLC_MSG_REF_MASK, 1);
		}
		if (SLC_UNLIKELY(drops != 0))
			frames_skipped(r, c, l, drops, drop_size, stop);
		if (reasm_started != NONE && reasm_started >= stop)
			slc_reasm_drop(r, c);
		slc_frame_parse_rewind(&c->parser, &s0, pos0, chunk, len, stop, &pos);
		slc_conn_pause(r, c);
		if (c->heap_wait) {
			/* Kept here, in the stash: the caller has nothing left to keep. */
			if (!slc_reasm_unpin(r, c, ref, off + pos, len - pos))
				slc_conn_keep_failed(r, c);
			return len;
		}
		return pos;
	}
}

/* Whether connections wait for room in the pools: paused, and not for reassembly memory
 * (a connection with heap_wait is always paused). One load and a compare. */
static inline bool
room_waiters(const struct slc_reactor *r)
{
	/* Those waiting for their tenants' tokens wait for no room: a connection of another
	 * tenant need not queue behind them. */
	return atomic_load_explicit(&r->stats.paused, memory_order_relaxed) >
	       r->heap_waiters + r->rate_waiters + r->fence_waiters;
}

/*
 * A receiving connection's new bytes while others wait for room: it must not take room
 * before them, so it waits its turn, at the back of the queue (the fairness rule). Its
 * turn comes in the next pass, which the loop runs before it waits again (retry), so that
 * a connection whose pool has room is held up by one loop, not until the others' pools
 * free room. Its receive stays armed: if its turn finds no room, conn_parse pauses it
 * properly (and cancels the receive).
 */
static void
conn_defer(struct slc_reactor *r, struct conn *c)
{
	c->state = CONN_PAUSED;
	stat_add(&r->stats.paused, 1);
	stat_add(&r->stats.pauses, 1);
	conn_waitq_push(r, c);
	r->retry = true;
}

/* New bytes for a connection: parse them now, or keep them if it is paused or must wait
 * its turn. The listener's byte count is the caller's: what came off the wire. */
static inline void
conn_take(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	uint32_t resume;

	c->last_rx_ns = r->now_ns;
	if (c->state != CONN_RECEIVING && c->state != CONN_PAUSED)
		return; /* closing: its slot may be another tenant's since a reload */
	if (c->tenant != SLC_TENANT_NONE)
		stat_add(&r->tenant[c->tenant].st.bytes, len);
	if (c->state == CONN_PAUSED || c->pend_head != NONE || c->has_held || room_waiters(r)) {
		if (!slc_reasm_pend_push(r, c, ref, off, len, false)) {
			slc_conn_keep_failed(r, c);
			return;
		}
		if (c->state == CONN_RECEIVING)
			conn_defer(r, c);
		return;
	}
	resume = conn_parse(r, c, ref, off, len);
	if (resume != NONE && resume < len &&
	    !slc_reasm_pend_push(r, c, ref, off + resume, len - resume, true))
		slc_conn_keep_failed(r, c);
}

/* A receive buffer's bytes, counted as received. */
static void
conn_data(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	stat_add(&r->listeners[c->listener].stats.bytes, len);
	conn_take(r, c, ref, off, len);
}

/* Decrypted bytes (tls.c): the listener counted their ciphertext when it came in, so they
 * are not counted again. */
void
slc_conn_data(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	conn_take(r, c, ref, off, len);
}

/* A paused connection's turn (waitq_run sets r->turn_left): delivers what it holds, up
 * to what the turn allows, and resumes receiving when all is taken. The state stays PAUSED
 * until then, so that a pause inside conn_parse is not counted twice. */
static void
conn_resume(struct slc_reactor *r, struct conn *c)
{
	if (SLC_UNLIKELY(c->ack != NULL && c->ack->fence))
		return; /* out of the queue until its ack goes (conn_ack.c, fwd_try) */
	if (c->rate_wait) {
		/* Its tenant's tokens are not back: the next look in RATE_POLL_NS. */
		if (!conn_rate_ready(r, c)) {
			conn_waitq_push(r, c);
			return;
		}
		conn_rate_done(r, c);
	}
	reasm_wait_set(r, c, false); /* conn_parse sets it again if there is still no room */
	if (c->has_held) {
		if (conn_tenant_offer(r, c, &c->held, 1) == 0) {
			conn_waitq_push(r, c);
			return;
		}
		if (c->ack != NULL)
			c->ack->inflight++;
		if (r->cfg.ops.deliver(r->cfg.ops.ctx, r, &c->held, 1) != 1) {
			if (c->ack != NULL)
				c->ack->inflight--;
			conn_waitq_push(r, c);
			return;
		}
		conn_tenant_took(r, c, &c->held, 1);
		stat_add(&r->listeners[c->listener].stats.msgs, 1);
		c->has_held = false;
		r->turn_left--;
	}
	/* An http:// connection's request first: its records, then what came after it. */
	if (c->http != NULL && slc_http_conn_resume(r, c) != 0)
		return;
	while (c->pend_head != NONE) {
		uint32_t i = c->pend_head;
		struct pend p = r->pend[i];
		uint32_t resume;

		if (r->turn_left == 0) {
			conn_waitq_push(r, c); /* the rest at its next turn */
			return;
		}

		c->pend_head = p.next;
		if (c->pend_head == NONE)
			c->pend_tail = NONE;
		r->pend[i].next = r->pend_free_head;
		r->pend_free_head = i;
		resume = conn_parse(r, c, p.ref, p.off, p.len);
		if (c->state != CONN_PAUSED) {
			/* A framing or protocol error closed it (and may have freed the slot
			 * already: test the state, not CLOSING). */
			buf_unref(r, p.ref, 1);
			return;
		}
		if (resume != NONE) {
			/* Fails only when the record table is at its bound. */
			if (resume < p.len && !slc_reasm_pend_push(r, c, p.ref, p.off + resume,
			                                           p.len - resume, true)) {
				buf_unref(r, p.ref, 1);
				slc_conn_keep_failed(r, c);
				return;
			}
			buf_unref(r, p.ref, 1);
			return; /* paused again: slc_conn_pause queued it */
		}
		buf_unref(r, p.ref, 1);
	}
	c->state = CONN_RECEIVING;
	stat_add(&r->stats.paused, (uint64_t)-1);
	/* The time it spent paused was ours, not the peer's: the idle timeout starts over. */
	c->last_rx_ns = c->frame_end_ns = r->now_ns;
	if (c->tls != NULL) {
		/* What its session still holds comes before the peer's end or new bytes. */
		slc_tls_pump(r, c);
		if (c->state != CONN_RECEIVING)
			return;
	}
	if (c->peer_done) {
		enum slc_close_reason why = (enum slc_close_reason)c->done_reason;

		if (why == SLC_CLOSE_EOF && c->ack != NULL && c->ack->fwd && c->ack->sending)
			return; /* forward: its ack goes first; slc_conn_ack_on_send closes it */
		slc_conn_close(r, c, why == SLC_CLOSE_EOF ? conn_eof_reason(c) : why);
		return;
	}
	slc_conn_arm(r, c);
}

/*
 * Gives every waiting connection a turn, in queue order: a deficit round robin, the
 * fairness rule of docs/architecture.md ("Backpressure"). A turn is TURN_MSGS messages.
 * A connection that used its whole turn goes to the back; one that a full pool cut short
 * keeps what its turn has left (credit) and its place at the front, ahead of those that
 * found no room, which keep their order too. So room that comes back goes to the
 * connection whose turn it is, and over time each waiting connection of a full pool gets
 * the same number of messages through, however much room each release frees. (Requeueing
 * each at the tail kept the order: the first connection took all the room every release
 * freed, for as long as it held bytes.) While some turn ended at TURN_MSGS, room may be
 * left: another pass.
 */
static void
waitq_run(struct slc_reactor *r)
{
	bool again;

	r->retry = false;
	do {
		uint32_t n = r->waitq_tail - r->waitq_head, tail0 = r->waitq_tail, w = tail0, k = 0;

		again = false;
		while (n-- != 0) {
			struct conn *c = &r->conns[r->waitq[r->waitq_head++ & r->waitq_mask]];

			c->in_waitq = false;
			c->turn_done = false;
			if (c->state == CONN_PAUSED) {
				r->turn_left = c->credit != 0 ? c->credit : TURN_MSGS;
				conn_resume(r, c);
				c->turn_done = r->turn_left == 0;
				/* Credit lasts while it waits; receiving again ends it. */
				c->credit = c->state == CONN_PAUSED ? r->turn_left : 0;
				again |= r->turn_left == 0;
				r->turn_left = NONE;
			} else if (c->state == CONN_RECEIVING && c->starved) {
				slc_conn_arm(r, c);
			}
		}
		/* Those queued again during the pass, a stable partition: the ones whose
		 * turn is not over first. Only connections of this pass are among them. */
		for (uint32_t i = tail0; i != r->waitq_tail; i++) {
			uint32_t id = r->waitq[i & r->waitq_mask];

			if (r->conns[id].turn_done)
				r->waitq_spare[k++] = id;
			else
				r->waitq[w++ & r->waitq_mask] = id;
		}
		for (uint32_t j = 0; j < k; j++)
			r->waitq[w++ & r->waitq_mask] = r->waitq_spare[j];
	} while (again);
}

static void
on_recv(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t idx)
{
	struct conn *c = &r->conns[idx];
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		uint32_t remaining = (uint32_t)cqe->res;
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint32_t entry = r->tcp_bid_entry[bid];
		bool inc = r->features & SLC_REACTOR_F_INC;

		/* A bundle fills buffers in ring order from bid: walk the entries. With
		 * incremental consumption the first one continues where the kernel stopped
		 * in it, and the last one stays with the kernel while BUF_MORE says so. */
		while (remaining != 0) {
			uint32_t off = inc ? r->tcp_kernel_fill[bid] : 0;
			uint32_t take = r->tcp_buf_size - off < remaining ? r->tcp_buf_size - off
			                                                  : remaining;
			bool kernel_keeps = inc && take == remaining &&
			                    take < r->tcp_buf_size - off &&
			                    (cqe->flags & IORING_CQE_F_BUF_MORE);
			uint32_t next = r->tcp_entry_bid[(entry + 1) & r->tcp_mask];

			r->tcp_kernel_fill[bid] = off + take;
			if (SLC_UNLIKELY(c->tls != NULL)) {
				/* One buffer's ciphertext at a time (test_tls_flow). */
				slc_tls_on_cipher(r, c, bid, off, take);
				slc_tls_pump(r, c);
			} else {
				conn_data(r, c, bid, off, take);
			}
			if (!kernel_keeps) {
				r->tcp_in_ring--;
				buf_unref(r, bid, 1);
			}
			remaining -= take;
			bid = next;
			entry = (entry + 1) & r->tcp_mask;
		}
	}
	if (more)
		return;

	/* The multishot receive ended: this is the one place that decides what next. */
	c->armed = false;
	if (c->state == CONN_CLOSING) {
		slc_conn_finalize(r, c);
		return;
	}
	if (cqe->res == 0) {
		slc_conn_peer_done(r, c, SLC_CLOSE_EOF);
		return;
	}
	if (cqe->res < 0) {
		switch (-cqe->res) {
		case ENOBUFS:
			stat_add(&r->stats.buf_exhausted, 1);
			break;
		case ECANCELED:
		case EINTR:
		case EAGAIN:
			break;
		default:
			slc_reactor_log(r, LOGK_CLOSE, SLC_LOG_WARN,
			                "closing %s: receive failed: %s", c->peer,
			                strerror(-cqe->res));
			slc_conn_peer_done(r, c, SLC_CLOSE_RESET);
			return;
		}
	} else if (r->tcp_in_ring < r->tcp_low_water) {
		/* A bundle that emptied the ring ends the receive without -ENOBUFS. */
		stat_add(&r->stats.buf_exhausted, 1);
	}
	if (c->state == CONN_RECEIVING)
		slc_conn_arm(r, c);
}

void
slc_udp_flush(struct slc_reactor *r, struct listener *l)
{
	uint32_t taken;

	if (l->udp_n == 0)
		return;
	taken = r->cfg.ops.deliver(r->cfg.ops.ctx, r, l->udp_batch, l->udp_n);
	stat_add(&l->stats.msgs, taken);
	if (l->udp_tenant != NULL)
		slc_tenant_rt_udp_taken(r, l, taken);
	if (taken < l->udp_n) {
		/* Datagrams have no flow control: what the pools refuse is dropped, counted. */
		stat_add(&l->stats.udp_drops[SLC_UDP_DROP_POOLS_FULL], l->udp_n - taken);
		slc_reactor_log(r, LOGK_UDP, SLC_LOG_WARN,
		                "port %u: dropped %u datagrams: pools full", l->port,
		                l->udp_n - taken);
		for (uint32_t k = taken; k < l->udp_n; k++)
			buf_unref(r, l->udp_batch[k].ref & SLC_MSG_REF_MASK, 1);
	}
	l->udp_n = 0;
}

static void
on_udp(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t li)
{
	struct listener *l = &r->listeners[li];

	if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint32_t ref = r->tcp_nbufs + bid;
		uint8_t *buf = ref_ptr(r, ref);
		struct io_uring_recvmsg_out *o;

		r->udp_in_ring--;
		o = io_uring_recvmsg_validate(buf, cqe->res, &r->udp_msghdr);
		if (o == NULL) {
			stat_add(&l->stats.udp_drops[SLC_UDP_DROP_MALFORMED], 1);
			udp_buf_give(r, bid);
			goto out;
		}
		stat_add(&l->stats.bytes, o->payloadlen);
		if ((o->flags & MSG_TRUNC) || o->payloadlen > r->cfg.max_frame) {
			char peer[SLC_ADDR_SA_STR_MAX];

			/* "?" where the name is cut short or of another family. */
			slc_addr_format(io_uring_recvmsg_name(o), o->namelen, peer, sizeof(peer));
			stat_add(&l->stats.udp_drops[SLC_UDP_DROP_OVERSIZE], 1);
			stat_add(&l->stats.frames_rejected[SLC_FRAME_ERR_OVERSIZE], 1);
			slc_reactor_log(r, LOGK_UDP, SLC_LOG_WARN,
			                "port %u: dropped a datagram from %s: over max-frame",
			                l->port, peer);
			udp_buf_give(r, bid);
			goto out;
		}
		if (o->payloadlen == 0) {
			stat_add(&l->stats.empty_frames, 1);
			udp_buf_give(r, bid);
			goto out;
		}
		if (l->udp_tenant != NULL) {
			uint32_t t = slc_tenant_rt_datagram(r, l, io_uring_recvmsg_name(o),
			                                    o->namelen, o->payloadlen);

			if (t == SLC_TENANT_NONE) {
				udp_buf_give(r, bid);
				goto out;
			}
			l->udp_tenant[l->udp_n] = (uint8_t)t;
		}
		r->refcnt[ref] = 1;
		l->udp_batch[l->udp_n++] = (struct slc_msg){
		        .data = io_uring_recvmsg_payload(o, &r->udp_msghdr),
		        .len = o->payloadlen,
		        .recv_ns = r->now_ns,
		        .conn = SLC_MSG_CONN_UDP | li,
		        .ref = r->cfg.id << 24 | ref,
		};
		if (l->udp_n == UDP_BATCH)
			slc_udp_flush(r, l);
	}
out:
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	l->armed = false;
	if (cqe->res < 0) {
		switch (-cqe->res) {
		case ENOBUFS:
			stat_add(&r->stats.buf_exhausted, 1);
			break;
		case ECANCELED:
			return;
		default:
			slc_reactor_log(r, LOGK_UDP, SLC_LOG_WARN, "port %u: receive failed: %s",
			                l->port, strerror(-cqe->res));
			break;
		}
	}
	slc_listener_arm(r, li);
}

static void
on_cqe(struct slc_reactor *r, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	uint32_t idx = (uint32_t)ud;

	switch (ud >> 56) {
	case UD_RECV:
		on_recv(r, cqe, idx);
		break;
	case UD_ACCEPT:
		slc_listener_on_accept(r, cqe, idx);
		break;
	case UD_UDP:
		on_udp(r, cqe, idx);
		break;
	case UD_WAKE:
		if (!r->stopping || cqe->res > 0)
			wake_arm(r);
		break;
	case UD_ACK_SEND:
		slc_conn_ack_on_send(r, cqe, idx);
		break;
	case UD_TLS_SEND:
		slc_tls_on_send(r, cqe, idx);
		break;
	default:
		break;
	}
}

static void
reactor_wait(struct slc_reactor *r)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {
	        .tv_sec = 0, .tv_nsec = (long long)(r->rate_waiters != 0 ? RATE_POLL_NS : TICK_NS)};
	bool timed = r->cfg.idle_timeout_ms != 0 || r->stopping || r->heap_waiters != 0 ||
	             r->tls_handshaking != 0 || r->tls_lingering != 0 || r->rate_waiters != 0 ||
	             http_short_of_memory(r) || tls_cipher_to_shrink(r);

	for (uint32_t i = 0; i < r->nlisteners && !timed; i++)
		timed = !r->listeners[i].armed;

	/* A nap between batches is not worth a system call of a releasing worker (an eventfd
	 * write, and this thread woken early), once per worker batch at moderate rates. */
	atomic_store_explicit(&r->sleeping, r->last_cqes != 0 ? REACTOR_NAP : REACTOR_SLEEP,
	                      memory_order_relaxed);
	/* F1: orders the announcement before the checks below; pairs with F2 in
	 * slc_reactor_wake. */
	atomic_thread_fence(memory_order_seq_cst);
	if (slc_ring_mpsc_count(r->rel_ring) != 0 ||
	    (r->ack_ring != NULL && slc_ring_mpsc_count(r->ack_ring) != 0) ||
	    atomic_load_explicit(&r->kicked, memory_order_relaxed) != 0 ||
	    atomic_load_explicit(&r->stop_req, memory_order_relaxed) != r->stopping) {
		atomic_store_explicit(&r->sleeping, REACTOR_AWAKE, memory_order_relaxed);
		io_uring_submit(&r->ring);
		return;
	}
	if (r->last_cqes != 0) {
		struct __kernel_timespec bts = {.tv_sec = 0, .tv_nsec = WAIT_BATCH_NS};

		io_uring_submit_and_wait_timeout(&r->ring, &cqe, WAIT_BATCH, &bts, NULL);
	} else {
		io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, timed ? &ts : NULL, NULL);
	}
	atomic_store_explicit(&r->sleeping, REACTOR_AWAKE, memory_order_relaxed);
}

void
slc_reactor_loop(struct slc_reactor *r)
{
	atomic_store_explicit(&r->looping, true, memory_order_relaxed);
	/* F1: pairs with F2 in slc_reactor_tenants_taken (it sees looping, or we its table). */
	atomic_thread_fence(memory_order_seq_cst);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		r->now_ns = slc_mono_ns();
		stat_add(&r->stats.loops, 1);
		/* Acquire: pairs with the store in slc_reactor_stop, which published drain_ms. */
		if (atomic_load_explicit(&r->stop_req, memory_order_acquire) && !r->stopping)
			slc_reactor_begin_stop(r);
		if (slc_release_drain(r))
			r->retry = true;
		if (r->ack_ring != NULL)
			slc_ack_drain(r);
		if (r->ack_queue_len != 0)
			slc_conn_ack_queue_run(r);
		/* A4: pairs with R4 in slc_reactor_kick (what it published is seen below). */
		if (atomic_exchange_explicit(&r->kicked, 0, memory_order_acquire) != 0)
			r->retry = true;
		if (r->tls_conns != NULL)
			slc_tls_ctx_take(r);
		if (r->tenant != NULL)
			slc_tenant_rt_take(r);
		if (r->rate_waiters != 0 && r->now_ns >= r->rate_retry_ns) {
			/* Tenants' tokens come back with time, which no completion reports. */
			r->retry = true;
			r->rate_retry_ns = r->now_ns + RATE_POLL_NS;
		}
		bufring_commit(r);
		if (r->retry) {
			waitq_run(r);
			for (uint32_t i = 0; i < r->nlisteners; i++)
				if (r->listeners[i].starved)
					slc_listener_arm(r, i);
		}
		if (r->now_ns >= r->next_tick_ns)
			slc_reactor_tick(r);
		if (r->stopping && slc_reactor_stop_done(r))
			break;

		if (io_uring_cq_ready(&r->ring) == 0) {
			io_uring_submit_and_get_events(&r->ring);
			if (io_uring_cq_ready(&r->ring) == 0)
				reactor_wait(r);
		}
		r->now_ns = slc_mono_ns();
		io_uring_for_each_cqe(&r->ring, head, cqe)
		{
			on_cqe(r, cqe);
			n++;
		}
		io_uring_cq_advance(&r->ring, n);
		stat_add(&r->stats.cqes, n);
		r->last_cqes = n;
		for (uint32_t i = 0; i < r->nlisteners; i++)
			slc_udp_flush(r, &r->listeners[i]);
		if (r->ack_queue_len != 0)
			slc_conn_ack_queue_run(r);
		bufring_commit(r);
	}
	for (uint32_t i = 0; i < r->nconns; i++)
		slc_conn_close(r, &r->conns[i], SLC_CLOSE_SHUTDOWN);
	/* R3: pairs with A3 in slc_reactor_tenants_taken (our reads of a table are done). */
	atomic_store_explicit(&r->looping, false, memory_order_release);
}
