/* SPDX-License-Identifier: MIT */
/* conn.c: the reactor's connections: arm, pause, resume, close and why, the wait queue. */
#include <sys/socket.h>
#include <unistd.h>

#include "reactor_priv.h"

const char *
slc_close_reason_str(enum slc_close_reason r)
{
	static const char *const names[SLC_CLOSE__COUNT] = {
	        [SLC_CLOSE_EOF] = "eof",           [SLC_CLOSE_EOF_MIDFRAME] = "eof_midframe",
	        [SLC_CLOSE_RESET] = "reset",       [SLC_CLOSE_FRAMING] = "framing",
	        [SLC_CLOSE_IDLE] = "idle",         [SLC_CLOSE_SHUTDOWN] = "shutdown",
	        [SLC_CLOSE_PROTOCOL] = "protocol", [SLC_CLOSE_NOT_DURABLE] = "not_durable",
	        [SLC_CLOSE_EVICTED] = "evicted",   [SLC_CLOSE_NO_MEMORY] = "no_memory",
	        [SLC_CLOSE_TLS] = "tls",           [SLC_CLOSE_HTTP] = "http",
	};

	return (unsigned)r < SLC_CLOSE__COUNT ? names[r] : "unknown";
}

void
slc_conn_arm(struct slc_reactor *r, struct conn *c)
{
	struct io_uring_sqe *sqe;
	uint32_t idx = (uint32_t)(c - r->conns);

	if (c->armed || c->state != CONN_RECEIVING || r->stopping)
		return;
	if (r->tcp_in_ring < r->tcp_low_water) {
		if (!c->starved)
			stat_add(&r->stats.starved, 1);
		c->starved = true;
		conn_waitq_push(r, c);
		return;
	}
	if (c->starved) {
		c->starved = false;
		stat_add(&r->stats.starved, (uint64_t)-1);
	}
	sqe = reactor_sqe(r);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	if (r->features & SLC_REACTOR_F_BUNDLE)
		sqe->ioprio |= IORING_RECVSEND_BUNDLE;
	io_uring_sqe_set_data64(sqe, ud_make(UD_RECV, idx, c->gen));
	c->armed = true;
	c->cancelled = false;
	stat_add(&r->stats.rearms, 1);
}

void
slc_conn_cancel_recv(struct slc_reactor *r, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (!c->armed || c->cancelled)
		return;
	sqe = reactor_sqe(r);
	io_uring_prep_cancel64(sqe, ud_make(UD_RECV, (uint32_t)(c - r->conns), c->gen), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0, 0));
	c->cancelled = true;
}

void
slc_conn_free_slot(struct slc_reactor *r, struct conn *c)
{
	c->state = CONN_FREE;
	c->gen++;
	c->ack = NULL;
	c->tls = NULL;
	c->http = NULL;
	r->conn_free_ids[r->conn_nfree++] = (uint32_t)(c - r->conns);
}

/* The last steps, once no receive and no send is in flight: the socket is closed, and the
 * slot can be reused once no frame of it is with the workers either (ack ids must not
 * reach the slot's next connection). */
void
slc_conn_finalize(struct slc_reactor *r, struct conn *c)
{
	if (c->armed || conn_sending(c))
		return; /* the last completion calls again */
	close(c->fd);
	c->fd = -1;
	if (c->tls != NULL)
		slc_tls_conn_end(r, c);
	if (c->ack != NULL && c->ack->inflight != 0) {
		c->state = CONN_DRAINING;
		return;
	}
	slc_conn_free_slot(r, c);
}

/* Closes a connection: what it received but did not deliver is lost (the caller decides
 * when that is acceptable); the socket is closed once no receive is in flight. */
void
slc_conn_close(struct slc_reactor *r, struct conn *c, enum slc_close_reason why)
{
	struct listener *l = &r->listeners[c->listener];

	if (c->state == CONN_FREE || c->state == CONN_CLOSING || c->state == CONN_DRAINING)
		return;
	if (c->state == CONN_PAUSED)
		stat_add(&r->stats.paused, (uint64_t)-1);
	if (c->starved) {
		c->starved = false;
		stat_add(&r->stats.starved, (uint64_t)-1);
	}
	stat_add(&l->stats.closed[why], 1);
	if (c->pend_head != NONE || c->has_held || c->reasm != NONE ||
	    slc_frame_parser_mid_frame(&c->parser) || slc_http_conn_mid_request(c))
		stat_add(&l->stats.closed_with_data[why], 1);
	if ((c->pend_head != NONE || c->has_held) &&
	    (why == SLC_CLOSE_EVICTED || why == SLC_CLOSE_NO_MEMORY || why == SLC_CLOSE_SHUTDOWN))
		stat_add(&l->stats.closed_undelivered, 1);
	stat_add(&l->stats.open, (uint64_t)-1);
	if (c->tenant != SLC_TENANT_NONE) {
		conn_rate_done(r, c);
		stat_add(&r->tenant[c->tenant].st.conns_open, (uint64_t)-1);
	}
	reasm_wait_set(r, c, false);
	if (c->ack != NULL && c->ack->fence) {
		c->ack->fence = false; /* its chunk is not acknowledged */
		r->fence_waiters--;
	}
	slc_reasm_pend_drop_all(r, c);
	slc_reasm_drop(r, c);
	slc_http_conn_drop(r, c);
	if (c->has_held) {
		buf_unref(r, c->held.ref & SLC_MSG_REF_MASK, 1);
		c->has_held = false;
	}
	if (c->tls != NULL)
		slc_tls_conn_closing(r, c, why);
	c->state = CONN_CLOSING;
	/* A TLS refusal's alert is in the send in flight: a shutdown now would fail it (the
	 * client would see a reset, not why). Only the receive ends now; the socket closes
	 * when the send completes, or after a bounded wait (slc_tls_linger). */
	if (why == SLC_CLOSE_TLS && c->tls != NULL && c->tls->sending) {
		shutdown(c->fd, SHUT_RD);
		slc_conn_cancel_recv(r, c);
		slc_tls_linger(r, c);
		return;
	}
	if (c->armed || conn_sending(c)) {
		/* shutdown ends the multishot receive with EOF (and a send stuck on a full
		 * socket with EPIPE); the last CQE finalizes. */
		shutdown(c->fd, SHUT_RDWR);
		slc_conn_cancel_recv(r, c);
		slc_conn_ack_cancel_send(r, c);
		slc_tls_cancel_send(r, c);
		return;
	}
	slc_conn_finalize(r, c);
}

void
slc_conn_pause(struct slc_reactor *r, struct conn *c)
{
	if (c->state != CONN_PAUSED) {
		c->state = CONN_PAUSED;
		stat_add(&r->stats.paused, 1);
		stat_add(&r->stats.pauses, 1);
	}
	/* Stop the kernel from filling more buffers for it: TCP flow control takes over. */
	slc_conn_cancel_recv(r, c);
	conn_waitq_push(r, c);
}

/* Received bytes could not be kept: the pending-record table reached its bound, far above
 * what pauses need. Closed, counted and logged. */
void
slc_conn_keep_failed(struct slc_reactor *r, struct conn *c)
{
	slc_reactor_log(r, LOGK_CLOSE, SLC_LOG_ERROR,
	                "closing %s: no memory left to keep its received bytes (%u records)",
	                c->peer, r->pend_nrecords);
	slc_conn_close(r, c, SLC_CLOSE_NO_MEMORY);
}

/* The peer is done (EOF or error): close now, or once what it sent is delivered. */
void
slc_conn_peer_done(struct slc_reactor *r, struct conn *c, enum slc_close_reason why)
{
	/* forward: a client that half-closed waits for the ack on its way; the close follows
	 * it (slc_conn_ack_on_send). */
	if (c->state == CONN_PAUSED || c->pend_head != NONE || c->has_held ||
	    (why == SLC_CLOSE_EOF && c->ack != NULL && c->ack->fwd && c->ack->sending)) {
		c->peer_done = true;
		c->done_reason = (uint8_t)why;
		return;
	}
	slc_conn_close(r, c, why == SLC_CLOSE_EOF ? conn_eof_reason(c) : why);
}
