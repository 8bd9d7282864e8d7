/* SPDX-License-Identifier: MIT */
/* sluice_bench_acks.c: sluice-bench's len32+ack sender (docs/protocol.md): window, resends. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_net.h"
#include "sluice_bench.h"

/* ---- --acks: len32+ack (docs/protocol.md) ------------------------------------------ */

static void
sb_put_be32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static uint64_t
sb_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static char *
sb_slot(const struct sb_run *r, const struct sb_ack *a, uint64_t seq)
{
	return a->ring + (size_t)(seq & (a->nslots - 1)) * r->wire;
}

/* Formats frame seq of connection c into its slot: L, seq, key header, stamp, padding. */
static int
sb_format_ack(struct sb_thread *t, struct sb_conn *c, uint64_t seq, uint64_t now)
{
	const struct sb_run *r = t->r;
	uint32_t size = (uint32_t)r->o.size;
	uint64_t key = sb_key(t);
	uint32_t prefix = sb_prefix_len(r, key, 0);
	char *p = sb_slot(r, c->ack, seq);
	int rc;

	if (prefix >= size)
		return -EMSGSIZE;
	c->ack->sent_ns[seq & (c->ack->nslots - 1)] = now;
	sb_put_be32(p, size + 8);
	sb_put_be32(p + 4, (uint32_t)(seq >> 32));
	sb_put_be32(p + 8, (uint32_t)seq);
	p += SB_ACK_HDR;
	p[0] = (char)((prefix - 2) >> 8);
	p[1] = (char)(prefix - 2);
	p[2] = 'k';
	slc_stamp_put_u64(p + 3, key);
	rc = slc_stamp_format(p + prefix, size - prefix, key, c->id, seq, now, size - prefix);
	if (rc < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg),
		         "--size %" PRId64 " no longer holds the stamp (connection %" PRIu32
		         ", seq %" PRIu64 "); use a larger --size",
		         r->o.size, c->id, seq);
		return rc;
	}
	return 0;
}

/* The connection broke: close it and plan the next try. */
static void
sb_ack_down(struct sb_conn *c, uint64_t now)
{
	struct sb_ack *a = c->ack;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	a->state = SB_ACK_DOWN;
	if (a->down_since_ns == 0)
		a->down_since_ns = now;
	a->backoff_ns = a->backoff_ns == 0
	                        ? SB_BACKOFF_MIN_NS
	                        : (a->backoff_ns * 2 > SB_BACKOFF_MAX_NS ? SB_BACKOFF_MAX_NS
	                                                                 : a->backoff_ns * 2);
	a->retry_ns = now + a->backoff_ns;
}

/* Reads the greeting and acks: 0, or -1 when the connection must go down. */
static int
sb_ack_read(struct sb_thread *t, struct sb_conn *c)
{
	struct sb_ack *a = c->ack;

	for (;;) {
		uint32_t want = a->state == SB_ACK_GREETING ? 16 : 8;
		ssize_t n = recv(c->fd, a->rx + a->rx_len, want - a->rx_len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1; /* EOF or reset: the daemon went away */
		a->rx_len += (uint32_t)n;
		if (a->rx_len < want)
			continue;
		a->rx_len = 0;
		if (a->state == SB_ACK_GREETING) {
			uint32_t w = (uint32_t)(sb_be64(a->rx + 8) >> 32);

			if (memcmp(a->rx, "SLAK\0\1", 6) != 0 || w == 0) {
				snprintf(t->errmsg, sizeof(t->errmsg),
				         "connection %" PRIu32 ": no len32+ack greeting (is the "
				         "listener ?framing=len32+ack?)",
				         c->id);
				return -2;
			}
			a->window = w < a->nslots ? w : a->nslots;
			a->state = SB_ACK_UP;
			a->down_since_ns = 0;
			a->backoff_ns = 0;
			/* Everything not acknowledged goes again, from the oldest. */
			a->wseq = a->acked + 1;
			a->wseq_off = 0;
			continue;
		}
		{
			uint64_t v = sb_be64(a->rx);

			if (v < a->acked || v >= a->next) {
				snprintf(t->errmsg, sizeof(t->errmsg),
				         "connection %" PRIu32 ": ack %" PRIu64 " outside %" PRIu64
				         "..%" PRIu64,
				         c->id, v, a->acked, a->next - 1);
				return -2;
			}
			a->last_ack_ns = bench_now_ns(); /* now was read before the wait */
			/* Every frame this ack covers: their slots are not reused before it. */
			for (uint64_t s = a->acked + 1; s <= v; s++) {
				uint64_t sent = a->sent_ns[s & (a->nslots - 1)];

				sb_hist_add(t->lat,
				            a->last_ack_ns > sent ? a->last_ack_ns - sent : 0);
			}
			a->acked = v;
			if (a->wseq <= v) { /* cannot happen: acks follow what was written */
				a->wseq = v + 1;
				a->wseq_off = 0;
			}
		}
	}
}

/* Writes what it can: 0, or -1 when the connection must go down. */
static int
sb_ack_write(struct sb_thread *t, struct sb_conn *c)
{
	const struct sb_run *r = t->r;
	struct sb_ack *a = c->ack;

	for (;;) {
		/* Frames up to lim - 1: those formatted, within the window of the last ack. */
		uint64_t lim =
		        a->next < a->acked + 1 + a->window ? a->next : a->acked + 1 + a->window;
		uint64_t run_end = lim, written;
		size_t len;
		ssize_t n;

		if (a->wseq >= lim)
			return 0;
		/* Contiguous in the ring up to its end. */
		if ((a->wseq & (a->nslots - 1)) + (run_end - a->wseq) > a->nslots)
			run_end = a->wseq + (a->nslots - (a->wseq & (a->nslots - 1)));
		len = (size_t)(run_end - a->wseq) * r->wire - a->wseq_off;
		if (len > SB_TCP_BATCH)
			len = SB_TCP_BATCH;
		do
			n = send(c->fd, sb_slot(r, a, a->wseq) + a->wseq_off, len,
			         MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? 0 : -1;
		atomic_fetch_add_explicit(&t->bytes, (uint64_t)n, memory_order_relaxed);
		written = (a->wseq_off + (uint64_t)n) / r->wire;
		a->wseq_off = (uint32_t)((a->wseq_off + (uint64_t)n) % r->wire);
		for (uint64_t s = a->wseq; s < a->wseq + written; s++) {
			if (s <= a->max_sent)
				a->resent++;
			else
				a->max_sent = s;
		}
		a->wseq += written;
	}
}

int
sb_thread_run_acks(struct sb_thread *t)
{
	const struct sb_run *r = t->r;
	uint64_t start = r->start_ns, issued = 0, wait_end = 0;
	uint64_t end = r->duration_ns ? start + r->duration_ns : UINT64_MAX;
	uint64_t reconnect_ns = (uint64_t)r->o.reconnect_for * 1000000000u;

	for (;;) {
		uint64_t now = bench_now_ns(), due = UINT64_MAX, wake = now + SB_WAIT_NS;
		bool stopping = atomic_load_explicit(&sb_stop, memory_order_relaxed) || now >= end;
		uint32_t npfd = 0, live = 0;

		if (t->rate_per_ns > 0) {
			double d = floor((double)(now - start) * t->rate_per_ns) + 1;

			due = (uint64_t)d;
			if (due <= issued) {
				uint64_t at = start + (uint64_t)ceil((double)due / t->rate_per_ns);

				wake = at < wake ? at : wake;
			}
		}
		for (uint32_t j = 0; j < t->nconns; j++) {
			struct sb_conn *c = &t->conns[j];
			struct sb_ack *a = c->ack;
			int rc;

			if (stopping && a->quota > a->next - 1)
				a->quota =
				        a->next - 1; /* no new frames; what is out still counts */
			if (a->state == SB_ACK_DONE)
				continue;
			if (a->acked >= a->quota) {
				if (c->fd >= 0)
					close(c->fd);
				c->fd = -1;
				a->state = SB_ACK_DONE;
				continue;
			}
			live++;
			if (a->state == SB_ACK_DOWN) {
				if (now - a->down_since_ns > reconnect_ns ||
				    (wait_end != 0 && now > wait_end)) {
					a->gave_up = true;
					a->state = SB_ACK_DONE;
					continue;
				}
				if (now < a->retry_ns) {
					wake = a->retry_ns < wake ? a->retry_ns : wake;
					continue;
				}
				c->fd = sb_connect(&r->addr, r->addr_len, SOCK_STREAM, 1000, true);
				if (c->fd < 0) {
					c->fd = -1;
					sb_ack_down(c, now);
					wake = a->retry_ns < wake ? a->retry_ns : wake;
					continue;
				}
				a->state = SB_ACK_GREETING;
				a->greet_by_ns = 0;
				a->rx_len = 0;
				a->reconnects++;
			}
			if (a->state == SB_ACK_GREETING) {
				if (a->greet_by_ns == 0)
					a->greet_by_ns = now + SB_CONNECT_MS * 1000000ull;
				if (now > a->greet_by_ns) {
					snprintf(t->errmsg, sizeof(t->errmsg),
					         "connection %" PRIu32
					         ": no greeting within %u ms (is "
					         "the listener ?framing=len32+ack?)",
					         c->id, SB_CONNECT_MS);
					return -ETIMEDOUT;
				}
			}
			rc = sb_ack_read(t, c);
			if (rc == -2)
				return -EPROTO;
			if (rc == 0 && a->state == SB_ACK_UP) {
				/* New frames, as the window, the quota and the rate allow. */
				while (a->next <= a->quota && a->next - 1 - a->acked < a->window &&
				       issued < due) {
					if (sb_format_ack(t, c, a->next, now) != 0)
						return -EMSGSIZE;
					a->next++;
					issued++;
					atomic_fetch_add_explicit(&t->msgs, 1,
					                          memory_order_relaxed);
				}
				rc = sb_ack_write(t, c);
			}
			if (rc != 0) {
				sb_ack_down(c, now);
				wake = a->retry_ns < wake ? a->retry_ns : wake;
				continue;
			}
			t->pfd[npfd].fd = c->fd;
			t->pfd[npfd].events = POLLIN;
			if (a->state == SB_ACK_UP && a->wseq < (a->next < a->acked + 1 + a->window
			                                                ? a->next
			                                                : a->acked + 1 + a->window))
				t->pfd[npfd].events |= POLLOUT;
			npfd++;
		}
		if (live == 0)
			return 0;
		/* Sending is over (quota or time): the last acks get --reconnect-for at most. */
		if (wait_end == 0) {
			bool sending = false;

			for (uint32_t j = 0; j < t->nconns; j++)
				sending |= t->conns[j].ack->next <= t->conns[j].ack->quota;
			if (!sending) {
				wait_end = now + reconnect_ns;
				t->send_end_ns = now;
			}
		} else if (now > wait_end) {
			for (uint32_t j = 0; j < t->nconns; j++)
				if (t->conns[j].ack->state != SB_ACK_DONE) {
					t->conns[j].ack->gave_up = true;
					t->conns[j].ack->state = SB_ACK_DONE;
					if (t->conns[j].fd >= 0)
						close(t->conns[j].fd);
					t->conns[j].fd = -1;
				}
			return 0;
		}
		sb_wait(t->pfd, npfd, now, wake);
	}
}
