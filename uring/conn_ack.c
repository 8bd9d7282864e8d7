/* SPDX-License-Identifier: MIT */
/* conn_ack.c: acknowledged delivery (len32+ack) on the wire: greeting, acks, completions. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "reactor_priv.h"

/*
 * The window itself (which frame may come, what is done, what to acknowledge) is
 * ack_window.c; this is what the reactor does with it: the greeting and the acks it sends
 * (one send in flight per connection, newer acks replacing older ones), the completions
 * workers report through slc_reactor_ack (release.c), and closing a connection that broke
 * the protocol or whose frames the sink could not make durable. The per-frame checks are
 * in loop.c (ack_frames), on the per-message path.
 */

static inline void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

void
slc_conn_ack_cancel_send(struct slc_reactor *r, struct conn *c)
{
	struct io_uring_sqe *sqe;

	/* Over TLS an ack rides on the session's send, which slc_tls_cancel_send cancels. */
	if (c->ack == NULL || !c->ack->sending || c->tls != NULL)
		return;
	sqe = reactor_sqe(r);
	io_uring_prep_cancel64(sqe, ud_make(UD_ACK_SEND, (uint32_t)(c - r->conns), c->gen), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0, 0));
}

static void
ack_submit(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;
	struct io_uring_sqe *sqe;

	if (c->tls != NULL) {
		/* Through the session, whose sends keep the order of its records. While its
		 * output is on the way the ack counts as sending, as over plain TCP: newer acks
		 * coalesce into the newest (they are cumulative) instead of piling up in the
		 * write BIO of a peer that does not read, and a forward client's half-close
		 * waits for it. slc_tls_on_send reports the end (slc_conn_ack_tls_sent). */
		slc_tls_write(r, c, a->buf + a->off, (uint32_t)(a->len - a->off));
		a->off = a->len;
		a->sending = c->tls->sending;
		return;
	}
	sqe = reactor_sqe(r);
	io_uring_prep_send(sqe, c->fd, a->buf + a->off, (size_t)(a->len - a->off), MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(UD_ACK_SEND, (uint32_t)(c - r->conns), c->gen));
	a->sending = true;
}

/* framing=forward: {"ack": chunk}, a msgpack map, into the send buffer and out. */
static void
fwd_send(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;
	uint8_t n = 6;

	memcpy(a->buf,
	       "\x81\xa3"
	       "ack",
	       5);
	if (a->chunk_len < 32) {
		a->buf[5] = (uint8_t)(0xa0 | a->chunk_len);
	} else {
		a->buf[5] = 0xd9;
		a->buf[n++] = a->chunk_len;
	}
	memcpy(a->buf + n, a->chunk, a->chunk_len);
	a->off = 0;
	a->len = (uint8_t)(n + a->chunk_len);
	stat_add(&r->listeners[c->listener].stats.acks_sent, 1);
	ack_submit(r, c);
}

/* framing=forward: the fence falls once every entry handed over is back and no send is in
 * flight; the ack goes out (unless stopping or closing) and the connection reads on. */
static void
fwd_try(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;

	if (!a->fence || a->inflight != 0 || a->sending)
		return;
	if (!r->stopping && (c->state == CONN_RECEIVING || c->state == CONN_PAUSED))
		fwd_send(r, c);
	a->fence = false;
	a->chunk_len = 0;
	r->fence_waiters--;
	/* It was paused at the fence: its turn in the wait queue. */
	if (c->state == CONN_PAUSED)
		conn_waitq_push(r, c);
	r->retry = true;
}

void
slc_conn_ack_fwd_init(struct conn *c)
{
	struct ack_conn *a = c->ack;

	slc_ack_window_reset(&a->win); /* unused, but settled: the idle timeout reads it */
	a->inflight = 0;
	a->sending = a->failed = false;
	a->fwd = true;
	a->fence = false;
	a->chunk_len = 0;
	a->tag_hash = 0;
	a->tag_len = 0;
}

/*
 * framing=forward, a piece that is no message (forward.h): the chunk's bytes are kept for
 * its ack; a message with a chunk ended: true, the burst stops after it (the fence).
 * loop.c calls it only with no message of the burst before it, so that a rewind never
 * parses it again.
 */
bool
slc_conn_ack_fwd_piece(struct conn *c, const uint8_t *chunk, const struct slc_frame_piece *p)
{
	struct ack_conn *a = c->ack;

	if (a == NULL)
		return false;
	if (p->len <= sizeof(a->chunk) - a->chunk_len) { /* the parser bounds it */
		memcpy(a->chunk + a->chunk_len, chunk + p->off, p->len);
		a->chunk_len = (uint8_t)(a->chunk_len + p->len);
	}
	return p->trim != SLC_FRAME_TRIM_CHUNK;
}

/*
 * --key forward:tag: the hash is slc_key_hash's (engine/route/key.c, which this layer
 * cannot call): XXH3 folded to 32 bits; an empty tag is no key (0), as an empty key is.
 * The messages of the burst before the piece are of the tag before (loop.c keys the rest
 * with tag_hash once the burst is read); a rewind that goes back before a tag sets
 * tag_hash again from the first message it parses again (slc_conn_ack_fwd_tag_at).
 */
uint32_t
slc_conn_ack_fwd_tag(struct slc_reactor *r, struct conn *c, const uint8_t *chunk,
                     const struct slc_frame_piece *p, uint32_t from, uint32_t nmsg)
{
	struct ack_conn *a = c->ack;
	const uint8_t *tag = chunk + p->off;
	uint32_t len = p->len;
	uint64_t h;

	for (uint32_t k = from; k < nmsg; k++)
		r->batch[k].key_hash = a->tag_hash;
	if (p->trim == SLC_FRAME_TRIM_TAG || a->tag_len != 0) {
		/* Straddles chunks: gathered, up to SLC_CONN_TAG_MAX bytes. */
		uint32_t k =
		        SLC_CONN_TAG_MAX - a->tag_len < len ? SLC_CONN_TAG_MAX - a->tag_len : len;

		memcpy(a->tag + a->tag_len, tag, k);
		a->tag_len += k;
		if (p->trim == SLC_FRAME_TRIM_TAG)
			return nmsg;
		tag = a->tag;
		len = a->tag_len;
		a->tag_len = 0;
	}
	/* The first SLC_CONN_TAG_MAX bytes, whole or gathered: a longer tag must hash the
	 * same wherever the receive buffers cut it (its entries keep to one worker). */
	if (len > SLC_CONN_TAG_MAX)
		len = SLC_CONN_TAG_MAX;
	h = len != 0 ? XXH3_64bits(tag, len) : 0;
	a->tag_hash = (uint32_t)(h ^ (h >> 32));
	return nmsg;
}

void
slc_conn_ack_fwd_tag_at(struct conn *c, uint32_t hash)
{
	c->ack->tag_hash = hash;
	c->ack->tag_len = 0;
}

bool
slc_conn_ack_fwd_fence(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;

	if (a->inflight == 0 && !a->sending) {
		if (!r->stopping)
			fwd_send(r, c);
		a->chunk_len = 0;
		return true;
	}
	a->fence = true;
	r->fence_waiters++;
	return false;
}

/* Sends ack(base - 1) if it is news and no send is in flight; a send in flight calls again
 * when it completes, so acks coalesce into the newest one. */
static void
ack_send_due(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;
	struct listener *l = &r->listeners[c->listener];
	uint64_t ack, frames;

	if (a->fwd) {
		fwd_try(r, c);
		return;
	}
	if (a->sending || r->stopping || (c->state != CONN_RECEIVING && c->state != CONN_PAUSED) ||
	    !slc_ack_window_due(&a->win, &ack, &frames))
		return;
	stat_add(&l->stats.acks_sent, 1);
	stat_add(&l->stats.acked, frames);
	put_be64(a->buf, ack);
	a->off = 0;
	a->len = 8;
	ack_submit(r, c);
}

/* The greeting: "SLAK", version 1, flags 0, the window, 4 reserved bytes. */
void
slc_conn_ack_greet(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;

	slc_ack_window_reset(&a->win);
	a->inflight = 0;
	a->fwd = a->fence = false;
	/* in_q is left alone: the slot may still have an entry in ack_queue from its last
	 * user. */
	a->sending = a->failed = false;
	memcpy(a->buf, "SLAK", 4);
	a->buf[4] = 0;
	a->buf[5] = 1;
	a->buf[6] = a->buf[7] = 0;
	put_be32(a->buf + 8, a->win.size);
	put_be32(a->buf + 12, 0);
	a->off = 0;
	a->len = 16;
	ack_submit(r, c);
}

void
slc_conn_ack_violation(struct slc_reactor *r, struct conn *c, enum slc_ack_error e, uint64_t seq)
{
	struct ack_conn *a = c->ack;

	stat_add(&r->listeners[c->listener].stats.ack_errors[e], 1);
	if (e == SLC_ACK_ERR_SHORT || e == SLC_ACK_ERR_ZERO || e == SLC_ACK_ERR_WRAP)
		slc_reactor_log(r, LOGK_ACK, SLC_LOG_WARN, "closing %s: ack protocol: %s", c->peer,
		                e == SLC_ACK_ERR_SHORT ? "a frame shorter than its sequence number"
		                : e == SLC_ACK_ERR_ZERO
		                        ? "the first sequence number is 0"
		                        : "a frame after sequence number 2^64 - 1 (they do "
		                          "not wrap: reconnect)");
	else
		slc_reactor_log(r, LOGK_ACK, SLC_LOG_WARN,
		                "closing %s: ack protocol: %s: sequence number %" PRIu64
		                ", expected %" PRIu64 ", window %" PRIu64 "..%" PRIu64,
		                c->peer, slc_ack_error_str(e), seq, a->win.next, a->win.base,
		                a->win.base + a->win.size - 1);
	slc_conn_close(r, c, SLC_CLOSE_PROTOCOL);
}

/* Frames seq .. seq+count-1 of connection id came back from the workers. */
void
slc_conn_ack_apply(struct slc_reactor *r, uint32_t id, uint64_t seq, uint32_t count, bool durable)
{
	struct conn *c = &r->conns[id];
	struct ack_conn *a = &r->ack_conns[id];

	SLC_ASSERT(id < r->nconns && c->ack == a && a->inflight >= count);
	if (id >= r->nconns || c->ack != a)
		return; /* cannot happen: a slot with frames out is not reused */
	a->inflight -= count;
	if (c->state == CONN_DRAINING) {
		if (a->inflight == 0)
			slc_conn_free_slot(r, c);
		return;
	}
	if (c->state != CONN_RECEIVING && c->state != CONN_PAUSED)
		return; /* closing: nothing more is acknowledged */
	if (!durable) {
		stat_add(&r->listeners[c->listener].stats.not_durable, count);
		a->failed = true;
	} else if (!a->fwd) {
		for (uint32_t k = 0; k < count; k++)
			slc_ack_window_mark(&a->win, seq + k);
	}
	conn_ack_queue_push(r, c);
}

/* Once per loop: acknowledge what became contiguous, close what the sink failed. */
void
slc_conn_ack_queue_run(struct slc_reactor *r)
{
	for (uint32_t i = 0; i < r->ack_queue_len; i++) {
		struct conn *c = &r->conns[r->ack_queue[i]];
		struct ack_conn *a = &r->ack_conns[r->ack_queue[i]];

		a->in_q = false;
		if (c->ack != a || (c->state != CONN_RECEIVING && c->state != CONN_PAUSED))
			continue;
		if (a->failed) {
			slc_reactor_log(
			        r, LOGK_ACK, SLC_LOG_WARN,
			        "closing %s: the sink could not make frames durable: they are not "
			        "acknowledged, and the client sends them again",
			        c->peer);
			slc_conn_close(r, c, SLC_CLOSE_NOT_DURABLE);
			continue;
		}
		if (!a->fwd)
			slc_ack_window_advance(&a->win);
		ack_send_due(r, c);
	}
	r->ack_queue_len = 0;
}

/* An ack is on the wire: the close a half-closed forward client waited for, or the next
 * ack if one became due meanwhile. */
static void
ack_sent(struct slc_reactor *r, struct conn *c)
{
	if (c->ack->fwd && c->peer_done && c->state == CONN_RECEIVING && c->pend_head == NONE &&
	    !c->has_held) {
		/* forward: the ack a half-closed client waited for went; its EOF closes now. */
		slc_conn_close(r, c, conn_eof_reason(c));
		return;
	}
	ack_send_due(r, c);
}

void
slc_conn_ack_tls_sent(struct slc_reactor *r, struct conn *c)
{
	c->ack->sending = false;
	ack_sent(r, c);
}

/* The greeting or an ack went out (or failed). */
void
slc_conn_ack_on_send(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t idx)
{
	struct conn *c = &r->conns[idx];
	struct ack_conn *a = c->ack;

	a->sending = false;
	if (c->state == CONN_CLOSING) {
		slc_conn_finalize(r, c);
		return;
	}
	if (cqe->res < 0) {
		switch (-cqe->res) {
		case EINTR:
		case EAGAIN:
			ack_submit(r, c);
			return;
		case ECANCELED:
			return; /* stopping */
		default:
			/* The peer is gone; its receive sees the same soon, but nothing more
			 * can be acknowledged anyway. */
			slc_reactor_log(r, LOGK_CLOSE, SLC_LOG_WARN,
			                "closing %s: sending an ack failed: %s", c->peer,
			                strerror(-cqe->res));
			slc_conn_close(r, c, SLC_CLOSE_RESET);
			return;
		}
	}
	a->off += (uint8_t)cqe->res;
	if (a->off < a->len) {
		ack_submit(r, c); /* a short send: the rest */
		return;
	}
	ack_sent(r, c);
}
