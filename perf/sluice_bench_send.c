/* SPDX-License-Identifier: MIT */
/* sluice_bench_send.c: sluice-bench's TCP and UDP sender: framed batches, paced, non-blocking. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_net.h"
#include "sluice_bench.h"

/* ---- messages ---------------------------------------------------------------------- */

/* "<14>1 TIMESTAMP HOST sluice-bench - - - ": user.info, refreshed once a second. */
static void
sb_syslog_refresh(struct sb_thread *t)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t->syslog_len != 0 && ts.tv_sec == t->syslog_s)
		return;
	t->syslog_s = ts.tv_sec;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	t->syslog_len =
	        (uint32_t)snprintf(t->syslog_hdr, sizeof(t->syslog_hdr),
	                           "<14>1 %s %s " SB_PROG " - - - ", stamp, t->r->host_name);
}

/* --protocol forward: one entry, [EventTime, {"log": stamp and padding}], size bytes after
 * its array header; the EventTime is the realtime clock of the batch (sb_fill). */
static int
sb_format_forward(char *p, uint32_t prefix, uint64_t key, const struct sb_conn *c,
                  const struct slc_stamp_ns *now, uint32_t size)
{
	uint32_t v = size - prefix;
	uint8_t *u = (uint8_t *)p;

	u[0] = 0x92;
	memcpy(u + 1, c->fwd_time, 10);
	memcpy(u + 11, "\x81\xa3log", 5);
	if (prefix - (SB_FWD_ENTRY_HDR - 1) == 1) {
		u[16] = (uint8_t)(0xa0 | v);
	} else if (prefix - (SB_FWD_ENTRY_HDR - 1) == 2) {
		u[16] = 0xd9;
		u[17] = (uint8_t)v;
	} else {
		u[16] = 0xda;
		u[17] = (uint8_t)(v >> 8);
		u[18] = (uint8_t)v;
	}
	return slc_stamp_format_ns(p + 1 + prefix, v, key, c->id, c->seq, now, v);
}

/* Writes one message as it goes on the wire (r->wire bytes), stamped with the time in now;
 * 0 or -EMSGSIZE. */
static int
sb_format(struct sb_thread *t, char *p, uint64_t key, const struct sb_conn *c,
          const struct slc_stamp_ns *now)
{
	const struct sb_run *r = t->r;
	uint32_t size = (uint32_t)r->o.size;
	uint32_t prefix = sb_prefix_len(r, key, t->syslog_len);
	int rc;

	if (prefix >= size)
		return -EMSGSIZE;
	if (r->forward)
		return sb_format_forward(p, prefix, key, c, now, size);
	if (!r->udp && r->framing == SLC_FRAME_LEN32) {
		p[0] = (char)(size >> 24);
		p[1] = (char)(size >> 16);
		p[2] = (char)(size >> 8);
		p[3] = (char)size;
		p += 4;
	} else if (!r->udp && r->framing == SLC_FRAME_SYSLOG) {
		p += slc_stamp_put_u64(p, size);
		*p++ = ' ';
	}
	if (r->framing == SLC_FRAME_LEN32) {
		p[0] = (char)((prefix - 2) >> 8);
		p[1] = (char)(prefix - 2);
		p[2] = 'k';
		slc_stamp_put_u64(p + 3, key);
	} else if (r->framing == SLC_FRAME_SYSLOG) {
		memcpy(p, t->syslog_hdr, prefix);
	}
	rc = slc_stamp_format_ns(p + prefix, size - prefix, key, c->id, c->seq, now, size - prefix);
	if (rc < 0)
		return rc;
	if (!r->udp && r->framing == SLC_FRAME_LINES)
		p[size] = '\n';
	return 0;
}

/* --protocol forward: the batch's [tag, bin] header for bin_len bytes of entries, and the
 * EventTime its entries carry. */
static void
sb_forward_batch(struct sb_conn *c, uint32_t bin_len)
{
	uint8_t *u = (uint8_t *)c->buf;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memcpy(u,
	       "\x92\xa5"
	       "bench"
	       "\xc6",
	       8);
	if (c->fwd_wait)
		u[0] = 0x93; /* and the option, after the bin */
	for (int k = 0; k < 4; k++)
		u[8 + k] = (uint8_t)(bin_len >> (24 - 8 * k));
	c->fwd_time[0] = 0xd7;
	c->fwd_time[1] = 0;
	for (int k = 0; k < 4; k++) {
		c->fwd_time[2 + k] = (uint8_t)((uint64_t)ts.tv_sec >> (24 - 8 * k));
		c->fwd_time[6 + k] = (uint8_t)((uint64_t)ts.tv_nsec >> (24 - 8 * k));
	}
}

/* Formats the connection's next n messages, all stamped now. */
static int
sb_fill(struct sb_thread *t, struct sb_conn *c, uint32_t n, uint64_t now)
{
	const struct sb_run *r = t->r;
	struct slc_stamp_ns now_text;

	if (r->framing == SLC_FRAME_SYSLOG)
		sb_syslog_refresh(t);
	/* Its digits once, not per message: the stamp's longest number, the same for all n. */
	slc_stamp_ns_set(&now_text, now);
	c->fwd_wait = r->o.forward_chunk;
	if (r->forward)
		sb_forward_batch(c, n * r->wire);
	for (uint32_t i = 0; i < n; i++) {
		int rc = sb_format(
		        t, c->buf + (r->forward ? SB_FWD_BATCH_HDR : 0) + (size_t)i * r->wire,
		        sb_key(t), c, &now_text);

		if (rc < 0) {
			snprintf(t->errmsg, sizeof(t->errmsg),
			         "--size %" PRId64 " no longer holds the stamp (connection %" PRIu32
			         ", seq %" PRIu64 "); use a larger --size",
			         r->o.size, c->id, c->seq);
			return rc;
		}
		c->seq++;
	}
	c->off = 0;
	c->len = r->udp ? n : n * r->wire + (r->forward ? SB_FWD_BATCH_HDR : 0);
	if (c->fwd_wait) {
		/* {"chunk": "<connection>-<batch>"}, fixed width */
		char *o = c->buf + c->len;

		memcpy(o,
		       "\x81\xa5"
		       "chunk\xb0",
		       8);
		snprintf(o + 8, SB_FWD_ID_LEN + 1, "%07" PRIu32 "-%08" PRIu64, c->id % 10000000u,
		         c->fwd_batches++ % 100000000u);
		c->len += SB_FWD_OPT_LEN;
		c->fwd_rx = 0;
	}
	c->nmsg = n;
	return 0;
}

/* Writes what it can of the batch: 1 if anything went, 0 if the socket is full, -errno. */
static int
sb_send(struct sb_thread *t, struct sb_conn *c)
{
	const struct sb_run *r = t->r;
	ssize_t n;

	do {
		if (r->udp)
			n = sendmmsg(c->fd, c->mm + c->off, c->len - c->off, MSG_DONTWAIT);
		else if (c->ssl != NULL)
			n = sb_tls_write(c, c->buf + c->off, c->len - c->off);
		else
			n = send(c->fd, c->buf + c->off, c->len - c->off,
			         MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;

		if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
			return 0;
		snprintf(t->errmsg, sizeof(t->errmsg), "%s on connection %" PRIu32 ": %s%s",
		         r->udp ? "sendmmsg" : "send", c->id, strerror(err),
		         r->udp && err == ECONNREFUSED ? " (nothing listens on that port?)" : "");
		return -err;
	}
	c->off += (uint32_t)n;
	if (c->off == c->len) {
		/* Once a batch: the cost of a locked add does not matter. */
		atomic_fetch_add_explicit(&t->bytes, (uint64_t)c->nmsg * r->wire,
		                          memory_order_relaxed);
		atomic_fetch_add_explicit(&t->msgs, c->nmsg, memory_order_relaxed);
		c->nmsg = 0;
	}
	return n > 0;
}

/* A refusal (ICMP port unreachable) that came after the last send: reported, not lost. */
static int
sb_udp_check(struct sb_thread *t)
{
	for (uint32_t i = 0; i < t->nconns; i++) {
		socklen_t len = sizeof(int);
		int err = 0;

		if (getsockopt(t->conns[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
			snprintf(t->errmsg, sizeof(t->errmsg),
			         "connection %" PRIu32 ": %s (nothing listens on that port?)",
			         t->conns[i].id, strerror(err));
			return -err;
		}
	}
	return 0;
}

/* --forward-chunk: reads what came of the batch's ack {"ack": ID}: 1 when bytes came (the
 * wait ends once all of it did), 0 when none, -errno (-EPROTO: not the ack awaited). */
static int
sb_forward_ack(struct sb_thread *t, struct sb_conn *c)
{
	static const uint8_t head[6] = {0x81, 0xa3, 'a', 'c', 'k', 0xa0 | SB_FWD_ID_LEN};
	uint8_t b[SB_FWD_ACK_LEN];
	ssize_t n;

	do {
		n = recv(c->fd, b, SB_FWD_ACK_LEN - c->fwd_rx, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		snprintf(t->errmsg, sizeof(t->errmsg),
		         "connection %" PRIu32 ": %s while awaiting an ack", c->id,
		         n == 0 ? "EOF" : strerror(errno));
		return n == 0 ? -EPIPE : -errno;
	}
	for (ssize_t k = 0; k < n; k++, c->fwd_rx++) {
		uint32_t at = c->fwd_rx;
		uint8_t want =
		        at < 6 ? head[at] : (uint8_t)c->buf[c->len - SB_FWD_ID_LEN + (at - 6)];

		if (b[k] != want) {
			snprintf(t->errmsg, sizeof(t->errmsg),
			         "connection %" PRIu32 ": not the ack of its chunk (byte %u)",
			         c->id, at);
			return -EPROTO;
		}
	}
	if (c->fwd_rx == SB_FWD_ACK_LEN)
		c->fwd_wait = false;
	return 1;
}

void
sb_wait(struct pollfd *pfd, uint32_t n, uint64_t now, uint64_t until_ns)
{
	uint64_t ns = until_ns > now ? until_ns - now : 0;
	struct timespec ts;

	/* Overdue with every socket full: only writability can help. */
	if (ns > SB_WAIT_NS || (ns == 0 && n != 0))
		ns = SB_WAIT_NS;
	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	if (n != 0)
		ppoll(pfd, n, &ts, NULL);
	else
		nanosleep(&ts, NULL);
}

int
sb_thread_run(struct sb_thread *t)
{
	const struct sb_run *r = t->r;
	uint64_t start = r->start_ns, issued = 0, flush_by = 0;
	uint64_t end = r->duration_ns ? start + r->duration_ns : UINT64_MAX;
	uint32_t rr = 0;

	for (;; rr++) {
		uint64_t now = bench_now_ns(), due = t->quota, next = end;
		bool stopping = atomic_load_explicit(&sb_stop, memory_order_relaxed) || now >= end;
		bool moved = false;
		uint32_t busy = 0;

		if (stopping) {
			due = issued;
		} else if (t->rate_per_ns > 0) {
			/* Message i is due at start + i / rate. */
			double d = floor((double)(now - start) * t->rate_per_ns) + 1;

			due = d < (double)t->quota ? (uint64_t)d : t->quota;
			next = start + (uint64_t)ceil((double)due / t->rate_per_ns);
		}
		for (uint32_t j = 0; j < t->nconns; j++) {
			struct sb_conn *c = &t->conns[(rr + j) % t->nconns];
			int rc;

			if (c->off == c->len && c->len != 0 && c->fwd_wait) {
				/* --forward-chunk: the batch went; its ack first. */
				rc = sb_forward_ack(t, c);
				if (rc < 0)
					return rc;
				moved |= rc > 0;
				if (c->fwd_wait) {
					t->pfd[busy].fd = c->fd;
					t->pfd[busy].events = POLLIN;
					busy++;
					continue;
				}
			}
			if (c->off == c->len) {
				uint64_t n = due - issued < r->batch ? due - issued : r->batch;

				if (n == 0)
					continue;
				rc = sb_fill(t, c, (uint32_t)n, now);
				if (rc < 0)
					return rc;
				issued += n;
			}
			rc = sb_send(t, c);
			if (rc < 0)
				return rc;
			moved |= rc > 0;
			if (c->off < c->len) {
				t->pfd[busy].fd = c->fd;
				t->pfd[busy].events = POLLOUT;
				busy++;
			}
		}
		if (issued >= t->quota || stopping) {
			if (busy == 0)
				return r->udp ? sb_udp_check(t) : 0;
			if (flush_by == 0)
				flush_by = now + SB_FLUSH_NS;
			if (now > flush_by) {
				snprintf(t->errmsg, sizeof(t->errmsg),
				         "the receiver did not take the last batches in %u s",
				         (unsigned)(SB_FLUSH_NS / 1000000000u));
				return -ETIMEDOUT;
			}
		}
		/* Paced and caught up (every due message written, nothing left in a socket
		 * buffer): wait for the next message's time even after a write. Going round at
		 * once would write the one or two messages that fell due meanwhile, a system
		 * call per message on each side of the loopback, and measure that instead. */
		if (!moved || (t->rate_per_ns > 0 && issued >= due && busy == 0 && !stopping))
			sb_wait(t->pfd, busy, now, next);
	}
}

int
sb_connect(const struct sockaddr_storage *ss, socklen_t len, int type, int timeout_ms,
           bool nonblock)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err = 0, one = 1, rc;
	socklen_t elen = sizeof(err);
	struct pollfd p;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)ss, len) != 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto err_close;
		}
		p = (struct pollfd){.fd = fd, .events = POLLOUT};
		rc = poll(&p, 1, timeout_ms);
		if (rc != 1) {
			err = rc == 0 ? ETIMEDOUT : errno;
			goto err_close;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			err = errno;
		if (err != 0)
			goto err_close;
	}
	/* Paced batches are small: Nagle would hold them back and add to the latency. */
	if (type == SOCK_STREAM)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		err = errno;
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return -err;
}
