/* SPDX-License-Identifier: MIT */
/* selfcheck.c: the start-up check of the TCP receive path: a sequence-checked loopback
 * transfer through receive bundles and incremental buffers; a feature that garbles it is
 * switched off. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor_priv.h"

/*
 * Receive bundles returned bytes out of order on some kernels (fixed in 6.14.9, with more
 * fixes since), and incremental buffers are as young. Before a reactor fills its TCP
 * buffer ring it sends SC_TOTAL bytes of numbered words to itself over loopback, in
 * writes of 1..SC_WRITE_MAX bytes with a few writes between reaps (so that bundles span
 * buffers and incremental buffers are filled a piece at a time), into a small buffer group
 * of its own through a multishot receive armed as the loop arms connections', walks the
 * buffers as on_recv does, and compares. A mismatch with both features is retried with each
 * alone to find the one at fault, which is switched off and named in the start-up line.
 * It costs a few milliseconds per reactor.
 */

#define SC_BGID      2 /* groups 0 and 1 are TCP's and UDP's */
#define SC_NBUF      128
#define SC_BUFSZ     256
#define SC_TOTAL     8192
#define SC_WRITE_MAX 700
#define SC_UD        0x5e1fc4ec5e1fc4ecull
#define SC_NO_INC    2 /* transfer(): the kernel refused an incremental buffer ring */

struct sc {
	struct slc_reactor *r;
	uint32_t feats;
	uint8_t *mem, *got, *want;
	uint32_t fill[SC_NBUF]; /* incremental: bytes the kernel has filled, per bid */
	uint32_t rcvd;
	bool ended;
};

/* One completion's bytes, walked as on_recv walks them. False when they overflow. */
static bool
sc_take(struct sc *s, const struct io_uring_cqe *cqe)
{
	uint32_t remaining = (uint32_t)cqe->res;
	uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	bool inc = s->feats & SLC_REACTOR_F_INC;

	while (remaining != 0) {
		uint32_t off = inc ? s->fill[bid] : 0;
		uint32_t take = SC_BUFSZ - off < remaining ? SC_BUFSZ - off : remaining;

		if (bid >= SC_NBUF || take == 0 || s->rcvd + take > SC_TOTAL)
			return false;
		memcpy(s->got + s->rcvd, s->mem + (size_t)bid * SC_BUFSZ + off, take);
		s->rcvd += take;
		s->fill[bid] = off + take;
		remaining -= take;
		bid = (bid + 1) % SC_NBUF;
	}
	return true;
}

/* Reaps what has completed, waiting up to a second for the first. 0, 1 (the bytes do not
 * fit), or -errno. */
static int
sc_reap(struct sc *s)
{
	struct __kernel_timespec ts = {.tv_sec = 1};
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int rc = io_uring_submit_and_wait_timeout(&s->r->ring, &cqe, 1, &ts, NULL);

	if (rc < 0)
		return rc == -ETIME ? -ETIMEDOUT : rc;
	rc = 0;
	io_uring_for_each_cqe(&s->r->ring, head, cqe)
	{
		n++;
		if (cqe->user_data != SC_UD)
			continue;
		if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) && !sc_take(s, cqe))
			rc = 1;
		if (!(cqe->flags & IORING_CQE_F_MORE)) {
			s->ended = true;
			if (cqe->res < 0 && rc == 0)
				rc = cqe->res;
		}
	}
	io_uring_cq_advance(&s->r->ring, n);
	return rc;
}

/* A connected pair over loopback: *cfd the sender, the return value the receiver, or
 * -errno. */
static int
sc_pair(int *cfd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), sfd = -1;

	*cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd >= 0 && *cfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(lfd, 1) == 0 && getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0 &&
	    connect(*cfd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (sfd < 0) {
		sfd = -errno;
		if (*cfd >= 0)
			close(*cfd);
	}
	if (lfd >= 0)
		close(lfd);
	return sfd;
}

/* Sends and receives SC_TOTAL bytes with feats: 0 (the same bytes came back), 1 (they did
 * not), SC_NO_INC, or -errno (the check could not run). */
static int
sc_transfer(struct slc_reactor *r, uint32_t feats)
{
	struct sc s = {.r = r, .feats = feats};
	struct io_uring_buf_ring *br;
	struct io_uring_sqe *sqe;
	uint32_t sent = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t br_len;
	int cfd, sfd, rc;

	sfd = sc_pair(&cfd);
	if (sfd < 0)
		return sfd;
	br = slc_bufring_register(r, SC_NBUF, SC_BGID,
	                          feats & SLC_REACTOR_F_INC ? IOU_PBUF_RING_INC : 0, &br_len, &rc);
	s.mem = malloc((size_t)SC_NBUF * SC_BUFSZ);
	s.got = malloc(SC_TOTAL);
	s.want = malloc(SC_TOTAL);
	if (br == NULL) {
		rc = feats & SLC_REACTOR_F_INC ? SC_NO_INC : rc;
		goto out;
	}
	/* The SQE last: one taken and left unprepared would go out with the next submit. */
	if (s.mem == NULL || s.got == NULL || s.want == NULL ||
	    (sqe = io_uring_get_sqe(&r->ring)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < SC_NBUF; i++)
		io_uring_buf_ring_add(br, s.mem + (size_t)i * SC_BUFSZ, SC_BUFSZ, (uint16_t)i,
		                      SC_NBUF - 1, (int)i);
	io_uring_buf_ring_advance(br, SC_NBUF);
	for (uint32_t i = 0; i < SC_TOTAL / 4; i++) {
		uint32_t v = i * 2654435761u + 1;

		memcpy(s.want + 4 * i, &v, 4);
	}
	/* Armed as slc_conn_arm arms a connection's receive. */
	io_uring_prep_recv_multishot(sqe, sfd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SC_BGID;
	if (feats & SLC_REACTOR_F_BUNDLE)
		sqe->ioprio |= IORING_RECVSEND_BUNDLE;
	io_uring_sqe_set_data64(sqe, SC_UD);
	rc = 0;
	while (!s.ended && rc == 0) {
		if (sent < SC_TOTAL) {
			uint32_t n;
			ssize_t w;

			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			n = 1 + (uint32_t)(seed % SC_WRITE_MAX);
			n = n < SC_TOTAL - sent ? n : SC_TOTAL - sent;
			w = send(cfd, s.want + sent, n, MSG_NOSIGNAL);
			if (w <= 0) {
				rc = w < 0 ? -errno : -EIO;
				break;
			}
			sent += (uint32_t)w;
			if (sent == SC_TOTAL)
				shutdown(cfd, SHUT_WR); /* EOF ends the receive */
			else if (seed % 3 != 0)
				continue; /* a few writes per reap: bundles of several buffers */
		}
		if (s.rcvd < sent || sent == SC_TOTAL)
			rc = sc_reap(&s);
	}
	if (rc == 0 && s.rcvd != SC_TOTAL)
		rc = -EIO; /* ended early (the ring ran dry, say): no verdict */
	/* The tests' hook: as if the kernel garbled the bytes (SLC_SELFCHECK_FAULT_PLAIN: even
	 * with neither feature). */
	if (rc == 0 && (r->cfg.selfcheck_fault & (feats | SLC_SELFCHECK_FAULT_PLAIN)))
		s.got[SC_TOTAL / 2] ^= 0x40;
	if (rc == 0 && memcmp(s.got, s.want, SC_TOTAL) != 0)
		rc = 1;
	close(cfd);
	close(sfd);
	cfd = sfd = -1;
	/* The receive ends (EOF, or the cancel when the check stopped early) before the group
	 * goes, so that no completion of it reaches the loop. */
	if (!s.ended && (sqe = io_uring_get_sqe(&r->ring)) != NULL) {
		io_uring_prep_cancel64(sqe, SC_UD, 0);
		io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0, 0));
	}
	for (int tries = 0; !s.ended && tries < 10; tries++) {
		int e = sc_reap(&s);

		if (e < 0 && e != -ETIMEDOUT)
			break;
	}
	if (!s.ended) {
		/* Still armed after 10 s: its buffers must outlive it, so they are left
		 * registered and allocated (a few KiB, once), never freed under it. */
		slc_reactor_log(r, LOGK_OTHER, SLC_LOG_WARN,
		                "receive self-check: its receive did not end; its buffers are "
		                "left in place");
		free(s.got);
		free(s.want);
		return rc != 0 ? rc : -EIO;
	}
out:
	if (cfd >= 0) {
		close(cfd);
		close(sfd);
	}
	if (br != NULL) {
		io_uring_unregister_buf_ring(&r->ring, SC_BGID);
		slc_bufring_region_free(r, br, br_len);
	}
	free(s.mem);
	free(s.got);
	free(s.want);
	return rc;
}

static const char *
sc_name(uint32_t f)
{
	return f == SLC_REACTOR_F_BUNDLE ? "receive bundles" : "incremental buffers";
}

/* Feature f garbled the transfer: off, logged, and named in the start-up line. */
static void
sc_switch_off(struct slc_reactor *r, uint32_t f, char *refused, size_t refused_size, size_t *rl)
{
	if (f == SLC_REACTOR_F_BUNDLE)
		r->features &= ~SLC_REACTOR_F_BUNDLE;
	else
		r->cfg.features_off |= SLC_REACTOR_F_INC; /* slc_bufring_setup will not ask */
	slc_reactor_log(r, LOGK_OTHER, SLC_LOG_WARN,
	                "receive self-check: %s returned bytes that differ from those sent; "
	                "switched off",
	                sc_name(f));
	snprintf(refused + *rl, refused_size - *rl, "self-check switched off %s ", sc_name(f));
	*rl = strlen(refused);
}

int
slc_selfcheck(struct slc_reactor *r, char *refused, size_t refused_size, size_t *rl)
{
	uint32_t feats = r->features & SLC_REACTOR_F_BUNDLE, left;
	int rc;

	if (!(r->cfg.features_off & SLC_REACTOR_F_INC))
		feats |= SLC_REACTOR_F_INC;
	if (feats == 0) {
		r->selfcheck = "nothing-to-check";
		return 0;
	}
	rc = sc_transfer(r, feats);
	if (rc == SC_NO_INC) {
		/* The kernel has no incremental buffers: slc_bufring_setup says so. */
		feats &= ~SLC_REACTOR_F_INC;
		if (feats == 0) {
			r->selfcheck = "nothing-to-check";
			return 0;
		}
		rc = sc_transfer(r, feats);
	}
	if (rc < 0) {
		slc_reactor_log(r, LOGK_OTHER, SLC_LOG_WARN,
		                "receive self-check could not run (%s): the io_uring features stay "
		                "as the kernel offers them",
		                strerror(-rc));
		r->selfcheck = "could-not-run";
		return 0;
	}
	r->selfcheck = rc == 0 ? "passed" : "switched-off";
	if (rc == 0)
		return 0;
	/* Each alone, to find the one at fault. */
	left = feats;
	if (feats == (SLC_REACTOR_F_BUNDLE | SLC_REACTOR_F_INC)) {
		for (uint32_t f = SLC_REACTOR_F_BUNDLE; f <= SLC_REACTOR_F_INC; f <<= 1) {
			if (sc_transfer(r, f) == 1) {
				sc_switch_off(r, f, refused, refused_size, rl);
				left &= ~f;
			}
		}
	}
	/* What is left must pass; while it does not, bundles go first (the known culprit),
	 * then incremental buffers. Plain buffers, one per completion, are the floor. */
	while (sc_transfer(r, left) == 1) {
		uint32_t f = left & SLC_REACTOR_F_BUNDLE ? SLC_REACTOR_F_BUNDLE : SLC_REACTOR_F_INC;

		if (left == 0) {
			slc_reactor_log(r, LOGK_OTHER, SLC_LOG_ERROR,
			                "receive self-check: bytes differ from those sent even "
			                "with plain buffers");
			r->selfcheck = "failed";
			return -EIO;
		}
		sc_switch_off(r, f, refused, refused_size, rl);
		left &= ~f;
	}
	return 0;
}
