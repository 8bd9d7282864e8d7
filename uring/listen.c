/* SPDX-License-Identifier: MIT */
/* listen.c: the reactor's listening sockets: open, arm (accept, UDP recvmsg), accept. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor_priv.h"

/* After EMFILE and friends, accepting waits this long before it tries again. */
#define ACCEPT_BACKOFF (100 * 1000000ull)

const char *
slc_udp_drop_str(enum slc_udp_drop d)
{
	static const char *const names[SLC_UDP_DROP__COUNT] = {
	        [SLC_UDP_DROP_OVERSIZE] = "oversize",
	        [SLC_UDP_DROP_POOLS_FULL] = "pools_full",
	        [SLC_UDP_DROP_MALFORMED] = "malformed",
	};

	return (unsigned)d < SLC_UDP_DROP__COUNT ? names[d] : "unknown";
}

int
slc_listener_open(struct listener *l)
{
	int one = 1, fd, rc;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type = l->cfg.proto == SLC_LISTENER_UDP ? SOCK_DGRAM : SOCK_STREAM;

	fd = socket(l->cfg.addr.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto err_close;
	if (type == SOCK_DGRAM) {
		int rcvbuf = 32 << 20;

		/* A big receive buffer rides out bursts; FORCE needs CAP_NET_ADMIN. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	if (bind(fd, (struct sockaddr *)&l->cfg.addr, l->cfg.addrlen) != 0)
		goto err_close;
	if (type == SOCK_STREAM && listen(fd, 4096) != 0)
		goto err_close;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		goto err_close;
	l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                         : ((struct sockaddr_in *)&ss)->sin_port);
	l->fd = fd;
	return 0;

err_close:
	rc = -errno;
	close(fd);
	return rc;
}

void
slc_listener_arm(struct slc_reactor *r, uint32_t i)
{
	struct listener *l = &r->listeners[i];
	struct io_uring_sqe *sqe;

	if (l->armed || r->stopping)
		return;
	if (l->cfg.proto == SLC_LISTENER_UDP) {
		if (r->udp_in_ring == 0) {
			l->starved = true;
			return;
		}
		l->starved = false;
		sqe = reactor_sqe(r);
		io_uring_prep_recvmsg_multishot(sqe, l->fd, &r->udp_msghdr, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 1;
		io_uring_sqe_set_data64(sqe, ud_make(UD_UDP, i, 0));
	} else {
		sqe = reactor_sqe(r);
		io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
		io_uring_sqe_set_data64(sqe, ud_make(UD_ACCEPT, i, 0));
	}
	l->armed = true;
}

/* The peer's address in *ss (*sl 0 when it has none) and as text in out. */
static void
peer_addr(int fd, struct sockaddr_storage *ss, socklen_t *sl, char *out, size_t len)
{
	*sl = sizeof(*ss);
	/* A peer that reset the connection before it was accepted has no address any more
	 * (ENOTCONN): say so rather than print "?". */
	if (getpeername(fd, (struct sockaddr *)ss, sl) != 0) {
		snprintf(out, len, "an unknown peer (%s)",
		         errno == ENOTCONN ? "gone" : "no address");
		*sl = 0;
		ss->ss_family = AF_UNSPEC; /* read by the TLS cap's source key (tls_cap.c) */
		return;
	}
	slc_addr_format((const struct sockaddr *)ss, *sl, out, len);
}

static void
peer_str(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	peer_addr(fd, &ss, &sl, out, len);
}

static void
on_accept_result(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t li)
{
	struct listener *l = &r->listeners[li];
	uint32_t tenant = SLC_TENANT_NONE;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct conn *c;

	if (cqe->res < 0) {
		switch (-cqe->res) {
		case ECANCELED:
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Out of descriptors or memory: keep running, try again a bit later. */
			stat_add(&l->stats.refused, 1);
			l->rearm_at_ns = r->now_ns + ACCEPT_BACKOFF;
			slc_reactor_log(r, LOGK_ACCEPT, SLC_LOG_WARN, "accept on port %u: %s",
			                l->port, strerror(-cqe->res));
			return;
		default:
			slc_reactor_log(r, LOGK_ACCEPT, SLC_LOG_WARN, "accept on port %u: %s",
			                l->port, strerror(-cqe->res));
			return;
		}
	}
	if (r->conn_nfree == 0 || r->stopping) {
		char peer[SLC_ADDR_SA_STR_MAX];

		peer_str(cqe->res, peer, sizeof(peer));
		close(cqe->res);
		stat_add(&l->stats.refused, 1);
		slc_reactor_log(r, LOGK_REFUSED, SLC_LOG_WARN, "refused %s: %s", peer,
		                r->stopping ? "shutting down" : "max-conns reached");
		return;
	}
	c = &r->conns[r->conn_free_ids[r->conn_nfree - 1]];
	peer_addr(cqe->res, &ss, &sl, c->peer, sizeof(c->peer));
	if (r->tenant != NULL) {
		/* Decided once, here: no per-message lookup for TCP. */
		tenant = slc_tenant_rt_accept(r, li, (struct sockaddr *)&ss, sl, c->peer);
		if (tenant == SLC_TENANT_NONE) {
			close(cqe->res);
			return;
		}
	}
	r->conn_nfree--;
	c->fd = cqe->res;
	c->listener = (uint16_t)li;
	c->tenant = tenant == SLC_TENANT_LATER ? SLC_TENANT_NONE : (uint8_t)tenant;
	c->rate_wait = false;
	c->state = CONN_RECEIVING;
	/* in_waitq is left alone: a stale queue entry of the slot's last user may remain. */
	c->armed = c->cancelled = c->starved = c->peer_done = c->has_held = false;
	slc_frame_parser_init(&c->parser, l->cfg.framing, r->cfg.max_frame);
	/* With acks, a skipped frame would leave its seq unacknowledged for good: close. */
	if (r->cfg.oversize_skip && !l->cfg.acks)
		slc_frame_parser_skip_oversize(&c->parser);
	c->reasm = NONE;
	c->reasm_len = 0;
	c->fwd_need = 0;
	c->credit = 0;
	c->pend_head = c->pend_tail = NONE;
	c->last_rx_ns = c->frame_end_ns = r->now_ns;
	c->ack = NULL;
	c->tls = NULL;
	c->http = NULL;
	stat_add(&l->stats.accepted, 1);
	stat_add(&l->stats.open, 1);
	if (l->cfg.acks) {
		c->ack = &r->ack_conns[c - r->conns];
		/* Over TLS the greeting waits for the handshake (tls.c). */
		if (l->cfg.framing == SLC_FRAME_FORWARD) {
			slc_conn_ack_fwd_init(c);
			if (r->cfg.fwd_tag_key) /* the entries' key is their tag */
				slc_frame_parser_tag_key(&c->parser);
		} else if (!l->cfg.tls)
			slc_conn_ack_greet(r, c);
		else
			slc_ack_window_reset(&c->ack->win);
	}
	if (l->cfg.tls &&
	    !slc_tls_conn_start(r, c, (struct sockaddr *)&ss, tenant == SLC_TENANT_LATER))
		return;
	if (l->cfg.http)
		slc_http_conn_start(r, c);
	slc_conn_arm(r, c);
}

void
slc_listener_on_accept(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t li)
{
	struct listener *l = &r->listeners[li];

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		l->armed = false;
		l->rearm_at_ns = r->now_ns;
	}
	on_accept_result(r, cqe, li);
	if (!l->armed && !r->stopping && r->now_ns >= l->rearm_at_ns)
		slc_listener_arm(r, li);
}
