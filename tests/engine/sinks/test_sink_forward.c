/* SPDX-License-Identifier: MIT */
/* test_sink_forward.c: the forward sink and a loopback peer: order, backpressure, reconnects. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "sinks/forward.h"

#define SCALE(n) ((n) / SLC_TEST_SCALE_DIV > 0 ? (n) / SLC_TEST_SCALE_DIV : 1)

#define WORKERS   2
#define BATCH     64 /* messages per write() call */
#define BIG_EVERY 5000u
#define BIG_LEN   20000u /* larger than the tests' batch buffers: sent uncopied */
#define MSG_MAX   (BIG_LEN + 64)
#define CONNS_MAX 32

/* ---- helpers ---- */

/* Message i of worker w: "w<w> <i> " then letters (no LF: lines framing must hold), now and
 * then more than a batch buffer's worth. */
static uint32_t
make_payload(uint8_t *buf, uint32_t w, uint32_t i, bool big)
{
	int n = sprintf((char *)buf, "w%u %u ", w, i);
	uint32_t fill = big && i % BIG_EVERY == BIG_EVERY - 1 ? BIG_LEN : i * 7 % 200;

	for (uint32_t j = 0; j < fill; j++)
		buf[n + j] = (uint8_t)('a' + (i + j) % 26);
	return (uint32_t)n + fill;
}

/* Log lines go to stderr with a prefix, and are counted; the totals that closing workers
 * give for their cancelled messages are added up. */
static _Atomic uint32_t log_lines;
static _Atomic uint64_t logged_undelivered;

static void __attribute__((format(printf, 3, 4)))
test_log(void *ctx, int level, const char *fmt, ...)
{
	static const char total[] = " messages undelivered at the drain timeout (this worker's";
	char line[1024];
	const char *p;
	va_list ap;

	(void)ctx;
	atomic_fetch_add(&log_lines, 1);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[log %d] %s\n", level, line);
	p = strstr(line, total);
	if (p != NULL) {
		while (p > line && p[-1] >= '0' && p[-1] <= '9')
			p--;
		atomic_fetch_add(&logged_undelivered, strtoull(p, NULL, 10));
	}
}

/* ---- the receiver ---- */

struct rx_conn {
	int fd; /* -1 once it ended */
	uint8_t *data;
	size_t len, cap;
};

struct rx {
	int lfd;
	uint16_t port;
	int rcvbuf;             /* SO_RCVBUF of the listener (so of its connections); 0: default */
	uint32_t read_chunk;    /* bytes per read */
	uint32_t read_pause_us; /* sleep after each read: a slow peer */
	uint64_t bounce_at;     /* go away once this many bytes were read; 0: never */
	uint32_t bounce_ms;     /* and come back on the same port after this long */
	_Atomic bool stop;      /* set by the test once the writers are done */
	_Atomic uint64_t bytes;
	_Atomic uint32_t bounces;
	bool failed; /* a socket call failed: read by the test after join */
	struct rx_conn conns[CONNS_MAX];
	int nconns; /* in accept order */
	pthread_t th;
};

static int
rx_listen(struct rx *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(r->port)};
	socklen_t alen = sizeof(a);
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->lfd < 0)
		return -errno;
	setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (r->rcvbuf != 0)
		setsockopt(r->lfd, SOL_SOCKET, SO_RCVBUF, &r->rcvbuf, sizeof(r->rcvbuf));
	if (bind(r->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(r->lfd, 16) != 0 ||
	    getsockname(r->lfd, (struct sockaddr *)&a, &alen) != 0) {
		close(r->lfd);
		r->lfd = -1;
		return -errno;
	}
	r->port = ntohs(a.sin_port);
	return 0;
}

static int
rx_open_conns(struct rx *r)
{
	int open = 0;

	for (int i = 0; i < r->nconns; i++)
		open += r->conns[i].fd >= 0;
	return open;
}

/*
 * Whether the listener holds connections not yet accepted. The writers have connected
 * (and may have sent everything and closed) before rx_stop, so on a loaded machine their
 * connections can still sit in the backlog when the receiver is told to stop: it must
 * take them, data and FIN, before it ends.
 */
static bool
rx_pending(struct rx *r)
{
	struct pollfd pfd = {.fd = r->lfd, .events = POLLIN};

	return r->lfd >= 0 && poll(&pfd, 1, 0) > 0;
}

/* The peer going away in order: no new connections, a FIN on each, then read until
 * each sender's FIN; back on the same port bounce_ms later. */
static void
rx_bounce(struct rx *r)
{
	close(r->lfd);
	r->lfd = -1;
	for (int i = 0; i < r->nconns; i++)
		if (r->conns[i].fd >= 0)
			shutdown(r->conns[i].fd, SHUT_WR);
	atomic_fetch_add(&r->bounces, 1);
}

static void *
rx_main(void *arg)
{
	struct rx *r = arg;
	uint8_t *chunk = malloc(r->read_chunk);
	bool bouncing = false;

	while (chunk != NULL) {
		struct pollfd pfd[CONNS_MAX + 1];
		int map[CONNS_MAX + 1], np = 0;

		if (bouncing && rx_open_conns(r) == 0) {
			usleep(r->bounce_ms * 1000u);
			if (rx_listen(r) != 0) {
				r->failed = true;
				break;
			}
			bouncing = false;
		}
		if (atomic_load(&r->stop) && rx_open_conns(r) == 0 && !rx_pending(r))
			break;
		if (r->lfd >= 0) {
			pfd[np] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
			map[np++] = -1;
		}
		for (int i = 0; i < r->nconns; i++) {
			if (r->conns[i].fd < 0)
				continue;
			pfd[np] = (struct pollfd){.fd = r->conns[i].fd, .events = POLLIN};
			map[np++] = i;
		}
		if (poll(pfd, (nfds_t)np, 10) <= 0)
			continue;
		for (int k = 0; k < np; k++) {
			struct rx_conn *c;
			uint64_t got;
			ssize_t n;

			if (pfd[k].revents == 0)
				continue;
			if (map[k] < 0) {
				int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);

				if (fd < 0 || r->nconns == CONNS_MAX) {
					r->failed = true;
					goto out;
				}
				r->conns[r->nconns++] = (struct rx_conn){.fd = fd};
				continue;
			}
			c = &r->conns[map[k]];
			n = read(c->fd, chunk, r->read_chunk);
			if (n <= 0) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
			if (c->len + (size_t)n > c->cap) {
				size_t cap = c->cap != 0 ? c->cap * 2 : 1u << 20;
				uint8_t *d;

				while (cap < c->len + (size_t)n)
					cap *= 2;
				d = realloc(c->data, cap);
				if (d == NULL) {
					r->failed = true;
					goto out;
				}
				c->data = d;
				c->cap = cap;
			}
			memcpy(c->data + c->len, chunk, (size_t)n);
			c->len += (size_t)n;
			if (r->read_pause_us != 0)
				usleep(r->read_pause_us);
			got = atomic_fetch_add(&r->bytes, (uint64_t)n) + (uint64_t)n;
			if (r->bounce_at != 0 && got >= r->bounce_at &&
			    atomic_load(&r->bounces) == 0) {
				rx_bounce(r);
				bouncing = true;
				break; /* pfd holds the closed listener */
			}
		}
	}
out:
	free(chunk);
	return NULL;
}

static void
rx_start(struct rx *r)
{
	cr_assert_eq(rx_listen(r), 0, "listen: %s", strerror(errno));
	cr_assert_eq(pthread_create(&r->th, NULL, rx_main, r), 0);
}

/* Waits for the senders' FINs, then ends the receiver. */
static void
rx_stop(struct rx *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->th, NULL);
	if (r->lfd >= 0)
		close(r->lfd);
	for (int i = 0; i < r->nconns; i++)
		if (r->conns[i].fd >= 0)
			close(r->conns[i].fd);
}

static void
rx_free(struct rx *r)
{
	for (int i = 0; i < r->nconns; i++)
		free(r->conns[i].data);
}

/*
 * Cuts every connection's bytes into frames and checks them: each is message i of worker
 * w, intact; per worker, in connection order, the messages are 0, 1, 2, ... with repeats
 * (dups) allowed only when allow_dups; a connection may end in a truncated frame only when
 * allow_dups (a lost connection).
 */
static void
rx_check(struct rx *r, enum slc_frame_format f, uint32_t per_worker, bool big, bool allow_dups,
         uint64_t *dups_out)
{
	uint32_t next[WORKERS] = {0};
	uint8_t *want = malloc(MSG_MAX);
	uint64_t dups = 0;

	cr_assert_not_null(want);
	cr_assert_not(r->failed, "the receiver failed");
	for (int ci = 0; ci < r->nconns; ci++) {
		const uint8_t *d = r->conns[ci].data;
		size_t len = r->conns[ci].len, pos = 0;

		while (pos < len) {
			const uint8_t *p;
			uint32_t plen, w, i, wlen;
			char head[32];

			if (f == SLC_FRAME_LEN32) {
				if (len - pos < 4)
					break;
				plen = (uint32_t)d[pos] << 24 | (uint32_t)d[pos + 1] << 16 |
				       (uint32_t)d[pos + 2] << 8 | d[pos + 3];
				if (len - pos - 4 < plen)
					break;
				p = d + pos + 4;
				pos += 4 + (size_t)plen;
			} else {
				const uint8_t *lf = memchr(d + pos, '\n', len - pos);

				if (lf == NULL)
					break;
				p = d + pos;
				plen = (uint32_t)(lf - p);
				pos += (size_t)plen + 1;
			}
			/* sscanf would run strlen over the rest of the buffer: copy the head. */
			memcpy(head, p, plen < sizeof(head) - 1 ? plen : sizeof(head) - 1);
			head[plen < sizeof(head) - 1 ? plen : sizeof(head) - 1] = '\0';
			cr_assert_eq(sscanf(head, "w%u %u ", &w, &i), 2,
			             "conn %d: a frame that is no message at %zu", ci, pos);
			cr_assert_lt(w, WORKERS);
			wlen = make_payload(want, w, i, big);
			cr_assert_eq(plen, wlen, "w%u #%u: %u bytes, want %u", w, i, plen, wlen);
			cr_assert_arr_eq(p, want, plen, "w%u #%u: damaged", w, i);
			if (i < next[w]) {
				cr_assert(allow_dups, "w%u #%u again after #%u", w, i, next[w] - 1);
				dups++;
				continue;
			}
			cr_assert_eq(i, next[w], "w%u: #%u after #%u: lost or out of order", w, i,
			             next[w] - 1);
			next[w]++;
		}
		cr_assert(pos == len || allow_dups, "conn %d ends in %zu bytes of a frame", ci,
		          len - pos);
	}
	for (uint32_t w = 0; w < WORKERS; w++)
		cr_expect_eq(next[w], per_worker, "w%u: %u of %u messages", w, next[w], per_worker);
	free(want);
	if (dups_out != NULL)
		*dups_out = dups;
}

/* ---- the writers ---- */

struct writer {
	void *sink;
	uint32_t worker;
	uint32_t n;
	bool big;
	uint32_t over;              /* framing bytes per message */
	_Atomic uint64_t *accepted; /* framed bytes write() took, all writers */
	struct rx *rx;
	int rc;
	uint64_t gap_max;      /* largest accepted - received seen after a write */
	uint64_t write_ms_max; /* longest write() */
};

static void *
writer_main(void *arg)
{
	struct writer *wr = arg;
	struct slc_sink_worker *w = NULL;
	struct slc_msg msgs[BATCH];
	uint8_t *arena = malloc((size_t)BATCH * MSG_MAX);

	wr->rc = arena != NULL ? slc_sink_forward_ops.worker_open(wr->sink, wr->worker, &w)
	                       : -ENOMEM;
	for (uint32_t i = 0; i < wr->n && wr->rc == 0;) {
		uint32_t k = 0;
		uint64_t framed = 0, t0;

		for (; k < BATCH && i < wr->n; k++, i++) {
			uint8_t *p = arena + (size_t)k * MSG_MAX;

			msgs[k] = (struct slc_msg){.data = p,
			                           .len = make_payload(p, wr->worker, i, wr->big)};
			framed += msgs[k].len + wr->over;
		}
		t0 = slc_mono_ms();
		wr->rc = slc_sink_forward_ops.write(w, msgs, k);
		if (slc_mono_ms() - t0 > wr->write_ms_max)
			wr->write_ms_max = slc_mono_ms() - t0;
		/* Scribbled over: write() must be done with the bytes. */
		memset(arena, 'X', (size_t)k * MSG_MAX);
		if (wr->accepted != NULL) {
			uint64_t acc = atomic_fetch_add(wr->accepted, framed) + framed;
			uint64_t got = atomic_load(&wr->rx->bytes);

			if (acc > got && acc - got > wr->gap_max)
				wr->gap_max = acc - got;
		}
	}
	if (wr->rc == 0)
		wr->rc = slc_sink_forward_ops.flush(w);
	slc_sink_forward_ops.worker_close(w);
	free(arena);
	return NULL;
}

static void *
sink_new(uint16_t port, enum slc_frame_format f, uint32_t batch, uint32_t sndbuf)
{
	struct slc_sink_forward_cfg cfg = {
	        .host = "127.0.0.1",
	        .port = port,
	        .framing = f,
	        .batch_bytes = batch,
	        .sndbuf_bytes = sndbuf,
	        .log = test_log,
	};
	int err = 0;
	void *s = slc_sink_forward_create(&cfg, &err);

	cr_assert_not_null(s, "create: %s", strerror(-err));
	return s;
}

/* Runs WORKERS writers of per_worker messages each to completion. */
static void
run_writers(void *sink, struct writer *wr, uint32_t per_worker, bool big, uint32_t over,
            _Atomic uint64_t *accepted, struct rx *r)
{
	pthread_t th[WORKERS];

	for (uint32_t i = 0; i < WORKERS; i++) {
		wr[i] = (struct writer){.sink = sink,
		                        .worker = i,
		                        .n = per_worker,
		                        .big = big,
		                        .over = over,
		                        .accepted = accepted,
		                        .rx = r};
		cr_assert_eq(pthread_create(&th[i], NULL, writer_main, &wr[i]), 0);
	}
	for (uint32_t i = 0; i < WORKERS; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(wr[i].rc, 0, "worker %u: %s", i, strerror(-wr[i].rc));
	}
}

static void
intact_in_order(enum slc_frame_format f)
{
	uint32_t per_worker = SCALE(100000) / WORKERS;
	struct slc_sink_forward_stats st;
	struct writer wr[WORKERS];
	struct rx r = {.read_chunk = 1u << 16};
	uint64_t dups = 1;
	void *sink;

	rx_start(&r);
	sink = sink_new(r.port, f, 16u << 10, 0);
	run_writers(sink, wr, per_worker, true, f == SLC_FRAME_LEN32 ? 4 : 1, NULL, &r);
	rx_stop(&r);
	rx_check(&r, f, per_worker, true, false, &dups);
	cr_expect_eq(dups, 0);
	cr_expect_eq(r.nconns, WORKERS, "one connection per worker");
	slc_sink_forward_stats(sink, &st);
	cr_expect_eq(st.messages, (uint64_t)per_worker * WORKERS);
	cr_expect_eq(st.bytes, atomic_load(&r.bytes));
	cr_expect_eq(st.connects, WORKERS);
	cr_expect_eq(st.reconnects, 0);
	cr_expect_eq(st.resent_batches, 0);
	cr_expect_eq(st.cancelled, 0);
	cr_expect_gt(st.batches, st.messages / 1000, "batched: %llu batches",
	             (unsigned long long)st.batches);
	cr_expect_lt(st.batches, st.messages / 10, "batched: %llu batches",
	             (unsigned long long)st.batches);
	slc_sink_forward_ops.destroy(sink);
	rx_free(&r);
}

/* ---- tests ---- */

Test(sink_forward, lines_arrive_intact_and_in_order)
{
	intact_in_order(SLC_FRAME_LINES);
}

Test(sink_forward, len32_arrive_intact_and_in_order)
{
	intact_in_order(SLC_FRAME_LEN32);
}

/* A peer that reads slowly makes write() wait, and nothing piles up in between. */
Test(sink_forward, slow_peer_blocks_write_and_memory_stays_bounded)
{
	uint32_t per_worker = 10000; /* ~1.2 MB: not scaled, the reader sets the pace */
	struct slc_sink_forward_stats st;
	struct writer wr[WORKERS];
	struct rx r = {.rcvbuf = 32 << 10, .read_chunk = 4096, .read_pause_us = 1000};
	_Atomic uint64_t accepted = 0;
	uint64_t t0, elapsed, total, gap = 0, write_max = 0;
	void *sink;

	rx_start(&r);
	sink = sink_new(r.port, SLC_FRAME_LINES, 16u << 10, 64u << 10);
	t0 = slc_mono_ms();
	run_writers(sink, wr, per_worker, false, 1, &accepted, &r);
	elapsed = slc_mono_ms() - t0;
	rx_stop(&r);
	rx_check(&r, SLC_FRAME_LINES, per_worker, false, false, NULL);
	total = atomic_load(&r.bytes);
	for (int i = 0; i < WORKERS; i++) {
		gap = wr[i].gap_max > gap ? wr[i].gap_max : gap;
		write_max = wr[i].write_ms_max > write_max ? wr[i].write_ms_max : write_max;
	}
	fprintf(stderr,
	        "slow peer: %llu bytes in %llu ms, largest gap %llu, longest write %llu ms\n",
	        (unsigned long long)total, (unsigned long long)elapsed, (unsigned long long)gap,
	        (unsigned long long)write_max);
	/* The reader takes at most 4 KiB a ms: the writers cannot have been faster. */
	cr_expect_geq(elapsed, total / 4096 / 2, "writers done in %llu ms",
	              (unsigned long long)elapsed);
	cr_expect_geq(write_max, 5, "no write() waited");
	/* Per worker: its batch, its socket's send buffer, and the peer's receive buffer. */
	cr_expect_lt(gap, 1u << 20, "%llu bytes accepted and not yet read",
	             (unsigned long long)gap);
	cr_expect_lt(gap, total / 2);
	slc_sink_forward_stats(sink, &st);
	cr_expect_eq(st.messages, (uint64_t)per_worker * WORKERS);
	slc_sink_forward_ops.destroy(sink);
	rx_free(&r);
}

/* The peer goes away in the middle and comes back 300 ms later on the same port. */
static void
peer_comes_back(enum slc_frame_format f)
{
	/* Not scaled down, and small socket buffers: the writers must still be at work
	 * when the peer goes away, whatever the build's speed. */
	uint32_t per_worker = 20000;
	struct slc_sink_forward_stats st;
	struct writer wr[WORKERS];
	struct rx r = {.rcvbuf = 64 << 10, .read_chunk = 1u << 16, .bounce_ms = 300};
	uint64_t dups = 0;
	void *sink;

	/* A third of the bytes (messages average ~110 bytes), then away. */
	r.bounce_at = (uint64_t)per_worker * WORKERS * 110 / 3;
	rx_start(&r);
	sink = sink_new(r.port, f, 16u << 10, 64u << 10);
	run_writers(sink, wr, per_worker, false, f == SLC_FRAME_LEN32 ? 4 : 1, NULL, &r);
	rx_stop(&r);
	cr_assert_eq(atomic_load(&r.bounces), 1);
	rx_check(&r, f, per_worker, false, true, &dups);
	slc_sink_forward_stats(sink, &st);
	fprintf(stderr,
	        "peer came back: %d connections, %llu repeats, %llu reconnects, %llu failed "
	        "connects, %llu batches resent\n",
	        r.nconns, (unsigned long long)dups, (unsigned long long)st.reconnects,
	        (unsigned long long)st.connect_failures, (unsigned long long)st.resent_batches);
	cr_expect_geq(st.disconnects, 1);
	cr_expect_geq(st.reconnects, 1);
	cr_expect_eq(st.reconnects, st.connects - WORKERS);
	cr_expect_geq(st.connect_failures, 1, "the port was closed for 300 ms");
	cr_expect_eq(st.messages, (uint64_t)per_worker * WORKERS);
	cr_expect_eq(st.cancelled, 0);
	slc_sink_forward_ops.destroy(sink);
	rx_free(&r);
}

Test(sink_forward, peer_away_and_back_loses_nothing_lines)
{
	peer_comes_back(SLC_FRAME_LINES);
}

Test(sink_forward, peer_away_and_back_loses_nothing_len32)
{
	peer_comes_back(SLC_FRAME_LEN32);
}

/* ---- a batch cut off in the middle ---- */

#define HUGE_LEN (1u << 20) /* far more than both sockets' buffers hold */

struct huge_writer {
	void *sink;
	uint8_t *payload;
	int rc;
};

static void *
huge_writer_main(void *arg)
{
	struct huge_writer *hw = arg;
	struct slc_sink_worker *w;
	struct slc_msg m = {.data = hw->payload, .len = HUGE_LEN};

	hw->rc = slc_sink_forward_ops.worker_open(hw->sink, 0, &w);
	if (hw->rc != 0)
		return NULL;
	hw->rc = slc_sink_forward_ops.write(w, &m, 1);
	slc_sink_forward_ops.worker_close(w);
	return NULL;
}

/* Accepts one connection (5 s at most) and reads it to its end; shut: first send a FIN
 * and wait a little, so that the sender is stuck in the middle of its message. */
static size_t
accept_read_all(int lfd, uint8_t *buf, size_t cap, bool shut)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	size_t len = 0;
	ssize_t n;
	int fd;

	cr_assert_eq(poll(&pfd, 1, 5000), 1, "no connection");
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(fd, 0);
	if (shut) {
		int queued = 0;

		/* Away once part of a message came: its header and a byte (FIONREAD). */
		for (uint64_t end = slc_mono_ms() + 10000; queued < 5 && slc_mono_ms() < end;)
			if (ioctl(fd, FIONREAD, &queued) != 0 || queued < 5)
				usleep(1000);
		shutdown(fd, SHUT_WR);
	}
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	close(fd);
	return len;
}

/* The peer goes away while a message is half sent: the whole message goes again on the
 * next connection, which starts at a frame boundary. */
Test(sink_forward, partly_sent_batch_is_sent_again_whole)
{
	struct slc_sink_forward_stats st;
	struct huge_writer hw = {0};
	struct rx r = {.rcvbuf = 16 << 10};
	size_t cap = 2 * (size_t)HUGE_LEN, len1, len2;
	uint8_t *got = malloc(cap), want_hdr[4] = {0, 0x10, 0, 0};
	pthread_t th;

	cr_assert_not_null(got);
	hw.payload = malloc(HUGE_LEN);
	cr_assert_not_null(hw.payload);
	for (uint32_t i = 0; i < HUGE_LEN; i++)
		hw.payload[i] = (uint8_t)(i * 31 + (i >> 10));
	cr_assert_eq(rx_listen(&r), 0);
	hw.sink = sink_new(r.port, SLC_FRAME_LEN32, 16u << 10, 16u << 10);
	cr_assert_eq(pthread_create(&th, NULL, huge_writer_main, &hw), 0);
	len1 = accept_read_all(r.lfd, got, cap, true);
	cr_expect_gt(len1, 4, "the first connection carried part of the message");
	cr_expect_lt(len1, 4 + (size_t)HUGE_LEN, "and not all of it");
	cr_expect_arr_eq(got, want_hdr, 4);
	cr_expect_arr_eq(got + 4, hw.payload, len1 > 4 ? len1 - 4 : 0);
	len2 = accept_read_all(r.lfd, got, cap, false);
	pthread_join(th, NULL);
	cr_expect_eq(hw.rc, 0);
	cr_assert_eq(len2, 4 + (size_t)HUGE_LEN, "the second connection carried it whole");
	cr_expect_arr_eq(got, want_hdr, 4);
	cr_expect_arr_eq(got + 4, hw.payload, HUGE_LEN);
	slc_sink_forward_stats(hw.sink, &st);
	cr_expect_eq(st.disconnects, 1);
	cr_expect_eq(st.reconnects, 1);
	cr_expect_eq(st.resent_batches, 1);
	cr_expect_eq(st.batches, 1);
	cr_expect_eq(st.messages, 1);
	cr_expect_eq(st.bytes, 4 + (uint64_t)HUGE_LEN);
	slc_sink_forward_ops.destroy(hw.sink);
	close(r.lfd);
	free(hw.payload);
	free(got);
}

/* A port where nothing listens: bound, so that nobody else takes it, never listening. */
static int
dead_port(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

struct blocked {
	struct slc_sink_worker *w;
	bool flush; /* flush() rather than write() of one message larger than the batch */
	int rc;
	uint64_t returned_ms;
};

static void *
blocked_main(void *arg)
{
	struct blocked *b = arg;
	static uint8_t big[4096];
	struct slc_msg m = {.data = big, .len = sizeof(big)};

	if (b->flush)
		b->rc = slc_sink_forward_ops.flush(b->w);
	else
		b->rc = slc_sink_forward_ops.write(b->w, &m, 1);
	b->returned_ms = slc_mono_ms();
	return NULL;
}

static void
cancel_unblocks(bool flush)
{
	struct slc_sink_forward_stats st;
	struct slc_sink_worker *w;
	struct blocked b = {.flush = flush};
	struct slc_msg small = {.data = (const uint8_t *)"hello", .len = 5};
	uint64_t t_cancel;
	uint16_t port;
	pthread_t th;
	int lfd = dead_port(&port);
	void *sink = sink_new(port, SLC_FRAME_LEN32, 1024, 0);

	cr_assert_eq(slc_sink_forward_ops.worker_open(sink, 0, &w), 0,
	             "the peer is down: no matter");
	for (int i = 0; i < 5; i++)
		cr_assert_eq(slc_sink_forward_ops.write(w, &small, 1), 0, "buffered");
	b.w = w;
	cr_assert_eq(pthread_create(&th, NULL, blocked_main, &b), 0);
	/* Blocked in its retries: once the sixth connect failed, the backoff in progress (or
	 * about to start) is 3.2 s with jitter down to 1.6 s (100 ms, doubled at each failure). */
	for (uint64_t end = slc_mono_ms() + 20000;; usleep(1000)) {
		slc_sink_forward_stats(sink, &st);
		if (st.connect_failures >= 6)
			break;
		cr_assert_lt(slc_mono_ms(), end, "%llu connect failures in 20 s",
		             (unsigned long long)st.connect_failures);
	}
	t_cancel = slc_mono_ms();
	slc_sink_forward_cancel(sink);
	pthread_join(th, NULL);
	cr_expect_eq(b.rc, -ECANCELED);
	/* The cancel cut the backoff short: a write that waited it out returns 1.6 s or more
	 * after it; a second is the margin for a thread's wake-up on a loaded machine. */
	cr_expect_lt(b.returned_ms - t_cancel, 1000, "%llu ms after cancel",
	             (unsigned long long)(b.returned_ms - t_cancel));
	slc_sink_forward_stats(sink, &st);
	cr_expect_geq(st.connect_failures, 2, "refused, then again after the backoff");
	cr_expect_eq(st.connects, 0);
	cr_expect_eq(st.messages, 0);
	cr_expect_eq(st.cancelled, flush ? 5 : 6);
	/* Later calls give up at once; close does not block. */
	cr_expect_eq(slc_sink_forward_ops.write(w, &small, 1), -ECANCELED);
	cr_expect_eq(slc_sink_forward_ops.flush(w), 0, "nothing left to lose");
	cr_expect_eq(slc_sink_forward_ops.write(w, &small, 1), -ECANCELED);
	slc_sink_forward_ops.worker_close(w);
	slc_sink_forward_stats(sink, &st);
	cr_expect_eq(st.cancelled, flush ? 7 : 8);
	slc_sink_forward_ops.destroy(sink);
	close(lfd);
}

struct cancel_writer {
	struct slc_sink_worker *w;
	_Atomic uint64_t given;     /* messages handed to write() */
	_Atomic uint64_t refused;   /* of those, in calls that returned an error other than
	                             * -ECANCELED (the daemon would count them lost) */
	_Atomic uint32_t cancelled; /* calls that returned -ECANCELED */
};

/* Batches of 64 messages until three calls in a row have been cancelled. */
static void *
cancel_writer_main(void *arg)
{
	struct cancel_writer *cw = arg;
	static uint8_t payload[128];
	struct slc_msg m[64];

	memset(payload, 'p', sizeof(payload));
	for (uint32_t i = 0; i < 64; i++)
		m[i] = (struct slc_msg){.data = payload, .len = 50 + i};
	while (atomic_load(&cw->cancelled) < 3) {
		int rc = slc_sink_forward_ops.write(cw->w, m, 64);

		atomic_fetch_add(&cw->given, 64);
		if (rc == -ECANCELED)
			atomic_fetch_add(&cw->cancelled, 1);
		else if (rc != 0)
			atomic_fetch_add(&cw->refused, 64);
	}
	return NULL;
}

/*
 * F8. A peer that takes the connection and never reads: the kernel takes some batches,
 * then write() blocks until cancel. Every message given to write() must then be counted
 * exactly once: delivered (the kernel took it) or undelivered at the drain timeout, with
 * the batch that was cut and the later ones (-ECANCELED: counted by the sink, not by the
 * caller), and the worker's closing line gives the same total.
 */
Test(sink_forward, cancel_counts_every_message_once, .timeout = 60)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	struct cancel_writer cw = {0};
	struct slc_sink_forward_stats st;
	struct slc_sink_status ss;
	int rcvbuf = 4096, lfd, cfd = -1;
	uint64_t deadline, prev = UINT64_MAX;
	pthread_t th;
	void *sink;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0);
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	sink = sink_new(ntohs(a.sin_port), SLC_FRAME_LINES, 4096, 8192);
	cr_assert_eq(slc_sink_forward_ops.worker_open(sink, 0, &cw.w), 0);
	atomic_store(&logged_undelivered, 0);
	cr_assert_eq(pthread_create(&th, NULL, cancel_writer_main, &cw), 0);

	/* Blocked: batches went out, then none between two looks. */
	deadline = slc_mono_ms() + 20000;
	for (;;) {
		slc_sink_forward_stats(sink, &st);
		if (st.messages > 0 && st.messages == prev)
			break;
		prev = st.messages;
		if (cfd < 0)
			cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (slc_mono_ms() > deadline)
			break;
		usleep(100 * 1000);
	}
	slc_sink_forward_cancel(sink);
	pthread_join(th, NULL);
	cr_assert_gt(st.messages, 0, "the kernel took nothing");
	cr_expect_eq(slc_sink_forward_ops.flush(cw.w), 0, "nothing left to lose");
	slc_sink_forward_ops.worker_close(cw.w);

	slc_sink_forward_stats(sink, &st);
	slc_sink_forward_ops.status(sink, &ss);
	cr_expect_eq(atomic_load(&cw.refused), 0u, "only cancels");
	cr_expect_gt(st.cancelled, 0u);
	cr_expect_eq(st.messages + st.cancelled, atomic_load(&cw.given),
	             "%llu delivered + %llu cancelled != %llu given",
	             (unsigned long long)st.messages, (unsigned long long)st.cancelled,
	             (unsigned long long)atomic_load(&cw.given));
	cr_expect_eq(ss.delivered, st.messages);
	cr_expect_eq(ss.undelivered_drain_timeout, st.cancelled);
	cr_expect_eq(atomic_load(&logged_undelivered), st.cancelled);
	slc_sink_forward_ops.destroy(sink);
	if (cfd >= 0)
		close(cfd);
	close(lfd);
}

Test(sink_forward, cancel_unblocks_write_when_peer_never_there)
{
	cancel_unblocks(false);
}

Test(sink_forward, cancel_unblocks_flush_when_peer_never_there)
{
	cancel_unblocks(true);
}

static int
create_err(const char *host, uint16_t port, enum slc_frame_format f, uint32_t batch)
{
	struct slc_sink_forward_cfg cfg = {
	        .host = host, .port = port, .framing = f, .batch_bytes = batch, .log = test_log};
	int err = 0;
	void *s = slc_sink_forward_create(&cfg, &err);

	if (s != NULL) {
		slc_sink_forward_ops.destroy(s);
		return 0;
	}
	return err;
}

Test(sink_forward, bad_host_or_port_is_refused)
{
	uint32_t before = atomic_load(&log_lines);

	cr_expect_eq(create_err("bad host!", 9000, SLC_FRAME_LINES, 0), -EINVAL);
	cr_expect_eq(create_err("", 9000, SLC_FRAME_LINES, 0), -EINVAL);
	cr_expect_eq(create_err("[]", 9000, SLC_FRAME_LINES, 0), -EINVAL);
	cr_expect_eq(create_err("[not:an:address]", 9000, SLC_FRAME_LINES, 0), -EINVAL);
	cr_expect_eq(create_err("1::2::3", 9000, SLC_FRAME_LINES, 0), -EINVAL);
	cr_expect_eq(create_err(NULL, 9000, SLC_FRAME_LINES, 0), -EINVAL);
	cr_expect_eq(create_err("127.0.0.1", 0, SLC_FRAME_LINES, 0), -EINVAL);
	cr_expect_eq(create_err("127.0.0.1", 9000, SLC_FRAME_SYSLOG, 0), -EINVAL);
	cr_expect_eq(create_err("127.0.0.1", 9000, SLC_FRAME_LINES, 100), -EINVAL);
	cr_expect_gt(atomic_load(&log_lines), before + 6, "each refusal says why");
	/* Numeric addresses need no name server. */
	cr_expect_eq(create_err("127.0.0.1", 9000, SLC_FRAME_LEN32, 0), 0);
	cr_expect_eq(create_err("::1", 9000, SLC_FRAME_LINES, 0), 0);
	cr_expect_eq(create_err("[::1]", 9000, SLC_FRAME_LINES, 1024), 0);
}

/* The sink's health now; waits (up to 20 s) until it contains want ("" : healthy). */
static bool
health_wait(void *sink, const char *want, char *last, size_t cap)
{
	uint64_t deadline = slc_mono_ms() + 20000;
	struct slc_sink_status ss;

	for (;;) {
		slc_sink_forward_ops.status(sink, &ss);
		snprintf(last, cap, "%s", ss.health);
		if (want[0] == '\0' ? ss.health[0] == '\0' : strstr(ss.health, want) != NULL)
			return true;
		if (slc_mono_ms() > deadline)
			return false;
		usleep(20 * 1000);
	}
}

struct drain_peer {
	int lfd;
	_Atomic bool stop;
	_Atomic uint64_t bytes;
};

/* Accepts one connection and reads it until told to stop. */
static void *
drain_peer_main(void *arg)
{
	struct drain_peer *p = arg;
	struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};
	char buf[65536];
	int fd = -1;

	while (!atomic_load(&p->stop)) {
		ssize_t n;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		if (fd < 0) {
			fd = accept(p->lfd, NULL, NULL);
			pfd.fd = fd >= 0 ? fd : p->lfd;
			continue;
		}
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		atomic_fetch_add(&p->bytes, (uint64_t)n);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * Health. A batch waiting longer than stall_ms for a peer that refuses connections makes
 * the sink unhealthy, naming the peer and the error; the peer coming up makes it healthy
 * again once the batch went. A sink with nothing to send is healthy, peer or no peer.
 */
Test(sink_forward, health_says_why_the_peer_cannot_be_reached, .timeout = 60)
{
	/* The blocked write's message is larger than the batch buffer: it is sent at once. */
	struct slc_sink_forward_cfg cfg = {.host = "127.0.0.1",
	                                   .framing = SLC_FRAME_LINES,
	                                   .batch_bytes = 1024,
	                                   .stall_ms = 200,
	                                   .log = test_log};
	struct blocked b = {.flush = false};
	struct drain_peer p = {0};
	struct slc_sink_status ss;
	char last[512];
	pthread_t th, pt;
	int err = 0;
	void *sink;

	p.lfd = dead_port(&cfg.port);
	sink = slc_sink_forward_create(&cfg, &err);
	cr_assert_not_null(sink, "%s", strerror(-err));
	cr_assert_eq(slc_sink_forward_ops.worker_open(sink, 0, &b.w), 0);
	slc_sink_forward_ops.status(sink, &ss);
	cr_expect_str_eq(ss.health, "", "nothing to send: healthy");

	cr_assert_eq(pthread_create(&th, NULL, blocked_main, &b), 0);
	cr_expect(health_wait(sink, "cannot connect to 127.0.0.1:", last, sizeof(last)), "%s",
	          last);
	cr_expect_not_null(strstr(last, "Connection refused"), "%s", last);
	cr_expect_not_null(strstr(last, "worker 0"), "%s", last);

	/* The peer comes up: the batch goes, and the sink is healthy again. */
	cr_assert_eq(listen(p.lfd, 4), 0);
	cr_assert_eq(pthread_create(&pt, NULL, drain_peer_main, &p), 0);
	pthread_join(th, NULL);
	cr_expect_eq(b.rc, 0);
	cr_expect(health_wait(sink, "", last, sizeof(last)), "%s", last);
	slc_sink_forward_ops.worker_close(b.w);
	atomic_store(&p.stop, true);
	pthread_join(pt, NULL);
	slc_sink_forward_ops.destroy(sink);
	close(p.lfd);
}

/* A peer that takes the connection and reads nothing: unhealthy, "takes little or no data"; healthy
 * once it reads again. */
Test(sink_forward, health_says_the_peer_takes_no_data, .timeout = 60)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	struct cancel_writer cw = {0};
	struct drain_peer p = {0};
	int rcvbuf = 4096;
	char last[512];
	pthread_t th, pt;
	void *sink;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(p.lfd, 0);
	setsockopt(p.lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	cr_assert_eq(bind(p.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(p.lfd, 4), 0);
	cr_assert_eq(getsockname(p.lfd, (struct sockaddr *)&a, &alen), 0);
	{
		struct slc_sink_forward_cfg cfg = {.host = "127.0.0.1",
		                                   .port = ntohs(a.sin_port),
		                                   .framing = SLC_FRAME_LINES,
		                                   .batch_bytes = 4096,
		                                   .sndbuf_bytes = 8192,
		                                   .stall_ms = 200,
		                                   .log = test_log};
		int err = 0;

		sink = slc_sink_forward_create(&cfg, &err);
		cr_assert_not_null(sink, "%s", strerror(-err));
	}
	cr_assert_eq(slc_sink_forward_ops.worker_open(sink, 0, &cw.w), 0);
	/* Writes until cancelled; nobody reads until the peer thread starts. */
	cr_assert_eq(pthread_create(&th, NULL, cancel_writer_main, &cw), 0);
	cr_expect(health_wait(sink, "127.0.0.1:", last, sizeof(last)), "%s", last);
	cr_expect_not_null(strstr(last, "takes little or no data"), "%s", last);

	cr_assert_eq(pthread_create(&pt, NULL, drain_peer_main, &p), 0);
	/* Reading again: the writer's batches go (it keeps writing), each well within
	 * stall_ms: healthy. */
	cr_expect(health_wait(sink, "", last, sizeof(last)), "%s", last);
	slc_sink_forward_cancel(sink);
	pthread_join(th, NULL);
	slc_sink_forward_ops.worker_close(cw.w);
	atomic_store(&p.stop, true);
	pthread_join(pt, NULL);
	slc_sink_forward_ops.destroy(sink);
	close(p.lfd);
}
