/* SPDX-License-Identifier: MIT */
/* test_reactor_ack.c: acknowledged delivery (len32+ack) in a live reactor, over loopback. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reactor.h"
#include "ring.h"

/*
 * The consumer stands in for the workers and the sink. Every frame a test sends carries
 * a payload that a function of its sequence number fills, so the consumer checks that the
 * reactor took the right 8 bytes off. Modes:
 *   INLINE   acknowledge and release inside deliver, on the reactor's thread ("the sink
 *            syncs at once");
 *   HOLD     keep the messages until the test completes them (durable or not), in any
 *            order, from the test's thread;
 *   WORKERS  two worker threads behind small rings, each acknowledging after a random
 *            delay, so completions come back out of order; a full ring pauses the
 *            connection.
 */
enum mode { INLINE, HOLD, WORKERS };

#define HOLD_MAX  4096
#define SEQ_TRACK (1u << 20)

struct h {
	enum mode mode;
	struct slc_reactor *r;
	_Atomic uint64_t msgs;
	_Atomic uint64_t bad;
	_Atomic uint64_t not_ack; /* messages without SLC_MSG_CONN_ACK */
	pthread_mutex_t mu;
	struct slc_msg held[HOLD_MAX];
	uint32_t nheld;
	/* WORKERS */
	struct slc_ring_spsc *ring[2];
	pthread_t tid[2];
	_Atomic bool stop;
	_Atomic bool refuse;      /* HOLD: take nothing (the connection pauses) while set */
	_Atomic bool refuse_last; /* HOLD: take nothing from seq 2^64 - 1 on while set */
	uint32_t run_left, run_ring, rng;
	_Atomic uint8_t *done; /* [SEQ_TRACK]: a worker finished seq (before acknowledging) */
};

static uint8_t
pattern(uint64_t seq, uint32_t i)
{
	return (uint8_t)('a' + (seq * 7 + i) % 26);
}

static bool
payload_ok(const struct slc_msg *m)
{
	uint64_t seq = slc_msg_ack_seq(m);

	for (uint32_t i = 0; i < m->len; i++)
		if (m->data[i] != pattern(seq, i))
			return false;
	return true;
}

static void
check(struct h *h, const struct slc_msg *m, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!slc_msg_is_ack(&m[i])) {
			atomic_fetch_add(&h->not_ack, 1);
			continue;
		}
		if (!payload_ok(&m[i]))
			atomic_fetch_add(&h->bad, 1);
	}
}

static uint32_t
deliver(void *ctx, struct slc_reactor *r, struct slc_msg *msgs, uint32_t n)
{
	struct h *h = ctx;
	uint32_t taken = 0;

	switch (h->mode) {
	case INLINE:
		check(h, msgs, n);
		slc_reactor_ack(r, msgs, n, true);
		slc_reactor_release(r, msgs, n);
		taken = n;
		break;
	case HOLD:
		pthread_mutex_lock(&h->mu);
		taken = HOLD_MAX - h->nheld < n ? HOLD_MAX - h->nheld : n;
		if (atomic_load(&h->refuse))
			taken = 0;
		for (uint32_t i = 0; i < taken && atomic_load(&h->refuse_last); i++)
			if (slc_msg_ack_seq(&msgs[i]) == UINT64_MAX)
				taken = i;
		memcpy(h->held + h->nheld, msgs, taken * sizeof(*msgs));
		h->nheld += taken;
		pthread_mutex_unlock(&h->mu);
		check(h, msgs, taken);
		break;
	case WORKERS:
		/* Runs of 1..16 messages to one worker, then the other. */
		for (; taken < n; taken++) {
			if (h->run_left == 0) {
				h->rng = h->rng * 1103515245u + 12345u;
				h->run_left = 1 + (h->rng >> 16) % 16;
				h->run_ring ^= 1;
			}
			if (slc_ring_spsc_enqueue(h->ring[h->run_ring], &msgs[taken]) != 0)
				break;
			h->run_left--;
		}
		check(h, msgs, taken);
		break;
	}
	atomic_fetch_add(&h->msgs, taken);
	return taken;
}

struct wctx {
	struct h *h;
	uint32_t i;
};

static void *
worker_main(void *arg)
{
	struct wctx *w = arg;
	struct h *h = w->h;
	uint32_t rng = 77 + w->i;
	struct slc_msg m[32];

	while (!atomic_load(&h->stop)) {
		uint32_t n = slc_ring_spsc_dequeue_burst(h->ring[w->i], m, 32);

		if (n == 0) {
			sched_yield();
			continue;
		}
		rng = rng * 1103515245u + 12345u;
		if ((rng >> 16) % 4 == 0)
			usleep((rng >> 8) % 300);
		for (uint32_t k = 0; k < n; k++) {
			uint64_t s = slc_msg_ack_seq(&m[k]);

			if (s < SEQ_TRACK)
				atomic_store(&h->done[s], 1);
		}
		slc_reactor_ack(h->r, m, n, true);
		slc_reactor_release(h->r, m, n);
		slc_reactor_kick(h->r);
	}
	return NULL;
}

static struct wctx wctx[2];

static struct slc_listener_cfg
ack_listener(void)
{
	struct slc_listener_cfg l = {
	        .proto = SLC_LISTENER_TCP, .framing = SLC_FRAME_LEN32, .acks = true};
	struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l.addrlen = sizeof(*sin);
	return l;
}

static struct slc_reactor_cfg
base_cfg(struct slc_listener_cfg *l, uint32_t nl, struct h *h)
{
	return (struct slc_reactor_cfg){
	        .id = 5,
	        .cpu = -1,
	        .node = -1,
	        .buffers = 64,
	        .buffer_size = 4096,
	        .udp_buffers = 2,
	        .reasm_bytes = 0,
	        .max_frame = 1024,
	        .max_conns = 64,
	        .ack_window = 1024,
	        .listeners = l,
	        .nlisteners = nl,
	        .ops = {.deliver = deliver, .ctx = h},
	};
}

static void
h_start(struct h *h, enum mode mode, struct slc_reactor_cfg *cfg, uint32_t ring_size)
{
	int err;

	memset(h, 0, sizeof(*h));
	h->mode = mode;
	pthread_mutex_init(&h->mu, NULL);
	h->r = slc_reactor_create(cfg, &err);
	cr_assert_not_null(h->r, "create: %s", strerror(-err));
	if (mode == WORKERS) {
		h->done = calloc(SEQ_TRACK, 1);
		cr_assert_not_null(h->done);
		for (uint32_t i = 0; i < 2; i++) {
			h->ring[i] = aligned_alloc(
			        SLC_RING_ALIGN,
			        slc_ring_spsc_memsize(ring_size, sizeof(struct slc_msg)));
			cr_assert_not_null(h->ring[i]);
			slc_ring_spsc_init(h->ring[i], ring_size, sizeof(struct slc_msg));
			wctx[i] = (struct wctx){.h = h, .i = i};
			cr_assert_eq(pthread_create(&h->tid[i], NULL, worker_main, &wctx[i]), 0);
		}
	}
	cr_assert_eq(slc_reactor_start(h->r), 0);
}

static void
h_stop(struct h *h)
{
	slc_reactor_stop(h->r, 1000);
	if (h->mode == WORKERS) {
		atomic_store(&h->stop, true);
		for (uint32_t i = 0; i < 2; i++) {
			pthread_join(h->tid[i], NULL);
			free(h->ring[i]);
		}
		free((void *)h->done);
	}
	/* What the test still holds goes back (after the stop: a no-op, as the API says). */
	slc_reactor_release(h->r, h->held, h->nheld);
	slc_reactor_destroy(h->r);
	pthread_mutex_destroy(&h->mu);
}

/* Completes the held messages with lo <= seq <= hi of connection id conn (any: UINT32_MAX),
 * highest seq first when reverse; returns how many. */
static uint32_t
complete(struct h *h, uint32_t conn, uint64_t lo, uint64_t hi, bool reverse, bool durable)
{
	struct slc_msg pick[HOLD_MAX];
	uint32_t n = 0, keep = 0;

	pthread_mutex_lock(&h->mu);
	for (uint32_t i = 0; i < h->nheld; i++) {
		struct slc_msg *m = &h->held[i];
		uint64_t s = slc_msg_ack_seq(m);

		if (s >= lo && s <= hi &&
		    (conn == UINT32_MAX || (m->conn & SLC_MSG_CONN_ID_MASK) == conn))
			pick[n++] = *m;
		else
			h->held[keep++] = *m;
	}
	h->nheld = keep;
	pthread_mutex_unlock(&h->mu);
	if (reverse)
		for (uint32_t i = 0; i < n / 2; i++) {
			struct slc_msg t = pick[i];

			pick[i] = pick[n - 1 - i];
			pick[n - 1 - i] = t;
		}
	slc_reactor_ack(h->r, pick, n, durable);
	slc_reactor_release(h->r, pick, n);
	return n;
}

static uint32_t
nheld(struct h *h)
{
	uint32_t n;

	pthread_mutex_lock(&h->mu);
	n = h->nheld;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static bool
wait_held(struct h *h, uint32_t want)
{
	for (int i = 0; i < 10000 && nheld(h) < want; i++)
		usleep(1000);
	return nheld(h) >= want;
}

static bool
wait_for(const _Atomic uint64_t *v, uint64_t want, int seconds)
{
	for (int i = 0; i < seconds * 1000; i++) {
		if (atomic_load(v) >= want)
			return true;
		usleep(1000);
	}
	return atomic_load(v) >= want;
}

/* ---- the client side ---------------------------------------------------------------- */

static int
connect_to(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "connect: %s",
	             strerror(errno));
	return fd;
}

/* Reads exactly n bytes within timeout_ms: n, 0 on EOF (or reset) first, -1 on timeout. */
static int
read_n(int fd, uint8_t *p, size_t n, int timeout_ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t k;

		if (poll(&pfd, 1, timeout_ms) != 1)
			return -1;
		k = recv(fd, p + got, n - got, 0);
		if (k <= 0)
			return 0;
		got += (size_t)k;
	}
	return (int)n;
}

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Connects and reads the greeting: the socket, or -1 when the reactor refused it. */
static int
try_ack_connect(uint16_t port, uint32_t *window)
{
	int fd = connect_to(port);
	uint8_t g[16];

	if (read_n(fd, g, 16, 5000) != 16) {
		close(fd);
		return -1;
	}
	cr_assert_arr_eq(g, "SLAK\0\1\0\0", 8);
	cr_assert_eq(be64(g + 8) & 0xffffffffu, 0u, "reserved bytes are 0");
	*window = (uint32_t)(be64(g + 8) >> 32);
	return fd;
}

static int
ack_connect(uint16_t port, uint32_t *window)
{
	int fd = try_ack_connect(port, window);

	cr_assert_geq(fd, 0, "no greeting");
	return fd;
}

/* Frame seq with a payload of len bytes (L = 8 + len) at out; returns its size. */
static size_t
make_frame(uint8_t *out, uint64_t seq, uint32_t len)
{
	uint32_t l = 8 + len;

	out[0] = (uint8_t)(l >> 24);
	out[1] = (uint8_t)(l >> 16);
	out[2] = (uint8_t)(l >> 8);
	out[3] = (uint8_t)l;
	for (int i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
	for (uint32_t i = 0; i < len; i++)
		out[12 + i] = pattern(seq, i);
	return 12 + len;
}

static void
send_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len != 0) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);

		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		b += n;
		len -= (size_t)n;
	}
}

/* Sends frames first .. first+n-1, payload len (0: 1..900 bytes, varying). */
static void
send_frames(int fd, uint64_t first, uint32_t n, uint32_t len)
{
	static uint8_t buf[1 << 16];
	size_t off = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t s = first + i; /* first + n may wrap: the last frames there are */
		uint32_t l = len != 0 ? len : 1 + (uint32_t)((s * 2654435761u) >> 7) % 900;

		if (off + 12 + l > sizeof(buf)) {
			send_all(fd, buf, off);
			off = 0;
		}
		off += make_frame(buf + off, s, l);
	}
	send_all(fd, buf, off);
}

/* Reads acks until one >= want; they must rise strictly. Returns the last (0: none came
 * within timeout_ms of the previous one) and counts them. */
static uint64_t
acks_until(int fd, uint64_t want, int timeout_ms, uint64_t *prev, uint32_t *count)
{
	uint8_t b[8];

	while (*prev < want) {
		uint64_t a;

		if (read_n(fd, b, 8, timeout_ms) != 8)
			return 0;
		a = be64(b);
		cr_assert_gt(a, *prev, "acks rise strictly: %llu after %llu", (unsigned long long)a,
		             (unsigned long long)*prev);
		*prev = a;
		if (count != NULL)
			(*count)++;
	}
	return *prev;
}

static bool
closed_by_peer(int fd)
{
	uint8_t b[64];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t k;

		if (poll(&pfd, 1, 5000) != 1)
			return false;
		k = recv(fd, b, sizeof(b), 0);
		if (k <= 0)
			return true;
	}
}

/* Streams n frames from first, keeping at most window unacknowledged; checks the acks. */
static void
stream(int fd, uint64_t first, uint64_t n, uint32_t window, uint32_t len, uint32_t *acks)
{
	uint64_t next = first, last = first + n - 1, acked = first - 1;

	while (acked < last) {
		if (next <= last && next - 1 - acked < window) {
			uint64_t k = window - (next - 1 - acked);

			if (k > last + 1 - next)
				k = last + 1 - next;
			if (k > 256)
				k = 256;
			send_frames(fd, next, (uint32_t)k, len);
			next += k;
			continue;
		}
		cr_assert_neq(acks_until(fd, acked + 1, 10000, &acked, acks), 0,
		              "no ack after %llu (sent up to %llu)", (unsigned long long)acked,
		              (unsigned long long)(next - 1));
		cr_assert_leq(acked, next - 1, "an ack for a frame not sent");
	}
}

/* ---- tests ------------------------------------------------------------------------- */

Test(ack, greeting_names_the_window)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	uint8_t g[16], want[16] = {'S', 'L', 'A', 'K', 0, 1, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0};
	int fd;

	cfg.ack_window = 64;
	h_start(&h, INLINE, &cfg, 0);
	fd = connect_to(slc_reactor_listener_port(h.r, 0));
	cr_assert_eq(read_n(fd, g, 16, 5000), 16);
	cr_expect_arr_eq(g, want, 16);
	/* Nothing else until a frame comes. */
	cr_expect_eq(read_n(fd, g, 1, 100), -1);
	close(fd);
	h_stop(&h);
}

Test(ack, inline_sync_acks_every_frame_in_order)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint32_t w, acks = 0;
	const uint64_t n = 20000, first = 1000;
	int fd;

	h_start(&h, INLINE, &cfg, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	cr_assert_eq(w, 1024u);
	stream(fd, first, n, w, 0, &acks);
	close(fd);
	ls = slc_reactor_listener_stats(h.r, 0);
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_EOF], 1, 10));
	cr_expect_eq(atomic_load(&h.msgs), n);
	cr_expect_eq(atomic_load(&h.bad), 0u, "payloads intact, sequence numbers stripped");
	cr_expect_eq(atomic_load(&h.not_ack), 0u);
	cr_expect_eq(atomic_load(&ls->acked), n);
	cr_expect_eq(atomic_load(&ls->acks_sent), acks);
	cr_expect_lt(acks, n, "acks coalesce");
	h_stop(&h);
}

Test(ack, acks_are_cumulative_and_coalesced)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint64_t prev = 0;
	uint32_t w, acks = 0;
	uint8_t b[8];
	int fd;

	h_start(&h, HOLD, &cfg, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	ls = slc_reactor_listener_stats(h.r, 0);
	send_frames(fd, 1, 100, 50);
	cr_assert(wait_held(&h, 100));
	/* The later half is durable, the earlier is not: nothing may be acknowledged. */
	cr_expect_eq(complete(&h, UINT32_MAX, 51, 100, false, true), 50u);
	cr_expect_eq(read_n(fd, b, 8, 300), -1, "an ack before frames 1..50 are durable");
	/* Frame 1 alone: ack 1. */
	cr_expect_eq(complete(&h, UINT32_MAX, 1, 1, false, true), 1u);
	cr_expect_eq(acks_until(fd, 1, 5000, &prev, &acks), 1u);
	/* 2..50 backwards in one call: one ack for everything. */
	cr_expect_eq(complete(&h, UINT32_MAX, 2, 50, true, true), 49u);
	cr_expect_eq(acks_until(fd, 100, 5000, &prev, &acks), 100u);
	cr_expect_eq(acks, 2u);
	cr_expect_eq(read_n(fd, b, 8, 100), -1, "nothing more");
	cr_expect_eq(atomic_load(&ls->acked), 100u);
	cr_expect_eq(atomic_load(&ls->acks_sent), 2u);
	/* Frames without payload are done at once, in their turn. */
	send_frames(fd, 101, 1, 50);
	{
		uint8_t f[12];

		make_frame(f, 102, 0);
		send_all(fd, f, 12);
	}
	cr_assert(wait_held(&h, 1));
	cr_expect_eq(read_n(fd, b, 8, 200), -1, "102 is done, 101 is not");
	complete(&h, UINT32_MAX, 101, 101, false, true);
	cr_expect_eq(acks_until(fd, 102, 5000, &prev, &acks), 102u);
	cr_expect_eq(atomic_load(&h.msgs), 101u, "the empty frame was not delivered");
	close(fd);
	h_stop(&h);
}

Test(ack, window_is_counted_from_the_last_ack)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint64_t prev = 0;
	uint32_t w;
	int fd;

	cfg.ack_window = 8;
	h_start(&h, HOLD, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	cr_assert_eq(w, 8u);
	send_frames(fd, 1, 8, 10);
	cr_assert(wait_held(&h, 8));
	complete(&h, UINT32_MAX, 1, 4, false, true);
	cr_expect_eq(acks_until(fd, 4, 5000, &prev, NULL), 4u);
	send_frames(fd, 9, 4, 10); /* 5..12: exactly W */
	cr_assert(wait_held(&h, 8));
	send_frames(fd, 13, 1, 10); /* one more */
	cr_expect(closed_by_peer(fd), "the connection is closed");
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_PROTOCOL], 1, 5));
	cr_expect_eq(atomic_load(&ls->ack_errors[SLC_ACK_ERR_WINDOW]), 1u);
	cr_expect_eq(atomic_load(&h.msgs), 12u);
	close(fd);
	h_stop(&h);
}

/* Each bad stream closes its own connection, with its reason counted; the good one goes on. */
Test(ack, protocol_errors_close_the_connection)
{
	static const struct {
		uint64_t seqs[4];
		uint32_t n;
		int raw_len; /* >= 0: a frame with this L instead (after seqs) */
		enum slc_ack_error e;
	} cases[] = {
	        {{1, 3}, 2, -1, SLC_ACK_ERR_GAP},    {{5, 6, 6}, 3, -1, SLC_ACK_ERR_REPEAT},
	        {{7, 6}, 2, -1, SLC_ACK_ERR_REPEAT}, {{0}, 1, -1, SLC_ACK_ERR_ZERO},
	        {{1}, 1, 4, SLC_ACK_ERR_SHORT},      {{1}, 1, 0, SLC_ACK_ERR_SHORT},
	};
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint64_t want[SLC_ACK_ERR__COUNT] = {0}, prev = 0;
	uint32_t w;
	int good;

	h_start(&h, INLINE, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	good = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
		uint8_t buf[256];
		size_t off = 0;

		for (uint32_t k = 0; k < cases[i].n; k++)
			off += make_frame(buf + off, cases[i].seqs[k], 5);
		if (cases[i].raw_len >= 0) {
			uint8_t f[4] = {0, 0, 0, (uint8_t)cases[i].raw_len};

			memcpy(buf + off, f, 4);
			memset(buf + off + 4, 'z', (size_t)cases[i].raw_len);
			off += 4 + (size_t)cases[i].raw_len;
		}
		send_all(fd, buf, off);
		cr_expect(closed_by_peer(fd), "case %zu: closed", i);
		close(fd);
		want[cases[i].e]++;
		send_frames(good, i * 10 + 1, 10, 20);
		cr_expect_eq(acks_until(good, i * 10 + 10, 5000, &prev, NULL), i * 10 + 10);
	}
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_PROTOCOL], 6, 5));
	for (uint32_t e = 0; e < SLC_ACK_ERR__COUNT; e++)
		cr_expect_eq(atomic_load(&ls->ack_errors[e]), want[e], "%s",
		             slc_ack_error_str((enum slc_ack_error)e));
	close(good);
	h_stop(&h);
}

/* Workers finish in any order; an ack never runs ahead of a frame that is not done. */
Test(ack, completions_out_of_order_still_ack_in_order, .timeout = 120)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const uint64_t n = 100000 / SLC_TEST_SCALE_DIV + 1000;
	uint64_t next = 1, acked = 0, checked = 0;
	uint32_t w, acks = 0;
	int fd;

	h_start(&h, WORKERS, &cfg, 64);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	while (acked < n) {
		if (next <= n && next - 1 - acked < w) {
			uint64_t k = w - (next - 1 - acked);

			k = k > n + 1 - next ? n + 1 - next : k;
			k = k > 128 ? 128 : k;
			send_frames(fd, next, (uint32_t)k, 0);
			next += k;
			continue;
		}
		cr_assert_neq(acks_until(fd, acked + 1, 10000, &acked, &acks), 0);
		for (; checked < acked; checked++)
			cr_assert(atomic_load(&h.done[checked + 1]),
			          "ack %llu before frame %llu was done", (unsigned long long)acked,
			          (unsigned long long)(checked + 1));
	}
	cr_expect_eq(acked, n);
	cr_expect_eq(atomic_load(&h.bad), 0u);
	close(fd);
	h_stop(&h);
}

/* A tiny ring pauses the connection again and again, frames straddle small buffers, some
 * frames are empty: the sequence check survives the rewinds. */
Test(ack, pauses_and_straddling_frames_keep_the_sequence, .timeout = 120)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	const uint64_t n = 30000 / SLC_TEST_SCALE_DIV + 500;
	uint64_t next = 1, acked = 0, empty = 0;
	uint32_t w;
	int fd;

	cfg.buffer_size = 256;
	cfg.buffers = 256;
	h_start(&h, WORKERS, &cfg, 4);
	ls = slc_reactor_listener_stats(h.r, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	while (acked < n) {
		if (next <= n && next - 1 - acked < w) {
			uint8_t buf[16384];
			size_t off = 0;

			for (uint32_t k = 0; k < 12 && next <= n && next - 1 - acked < w; k++) {
				uint32_t len = next % 7 == 0 ? 0 : 1 + (uint32_t)(next * 37 % 1000);

				empty += len == 0;
				off += make_frame(buf + off, next++, len);
			}
			send_all(fd, buf, off);
			continue;
		}
		cr_assert_neq(acks_until(fd, acked + 1, 10000, &acked, NULL), 0, "stuck at %llu",
		              (unsigned long long)acked);
	}
	close(fd);
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_EOF], 1, 10));
	cr_expect_eq(atomic_load(&h.msgs), n - empty);
	cr_expect_eq(atomic_load(&h.bad), 0u);
	for (uint32_t e = 0; e < SLC_ACK_ERR__COUNT; e++)
		cr_expect_eq(atomic_load(&ls->ack_errors[e]), 0u);
	cr_expect_gt(atomic_load(&slc_reactor_stats(h.r)->pauses), 0u, "the ring paused it");
	cr_expect_gt(atomic_load(&slc_reactor_stats(h.r)->reassembled), 0u);
	h_stop(&h);
}

/* Frames that come back after their connection closed change nothing, and the slot is not
 * given to a new connection until they have: with max_conns 1, the next client is refused
 * meanwhile, and the one after works from a clean slate. */
Test(ack, completions_after_close_are_ignored)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint64_t prev = 0;
	uint8_t b[16];
	uint32_t w;
	int a, c;

	cfg.max_conns = 1;
	h_start(&h, HOLD, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	a = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	send_frames(a, 1, 10, 30);
	cr_assert(wait_held(&h, 10));
	close(a);
	cr_assert(wait_for(&ls->closed[SLC_CLOSE_EOF], 1, 5));
	/* The slot waits for frames 1..10. */
	c = connect_to(slc_reactor_listener_port(h.r, 0));
	cr_expect_eq(read_n(c, b, 16, 5000), 0, "refused while the slot drains");
	close(c);
	cr_expect(wait_for(&ls->refused, 1, 5));
	cr_expect_eq(complete(&h, UINT32_MAX, 1, 10, true, true), 10u);
	/* Now a new connection gets the slot, and starts where it likes. */
	for (int i = 0; i < 100; i++) {
		c = try_ack_connect(slc_reactor_listener_port(h.r, 0), &w);
		if (c >= 0)
			break;
		usleep(10000);
	}
	cr_assert_geq(c, 0, "the slot came free");
	send_frames(c, 500, 3, 30);
	cr_assert(wait_held(&h, 3));
	complete(&h, UINT32_MAX, 500, 502, false, true);
	cr_expect_eq(acks_until(c, 502, 5000, &prev, NULL), 502u);
	cr_expect_eq(atomic_load(&ls->acked), 3u, "nothing of the closed connection was acked");
	close(c);
	h_stop(&h);
}

Test(ack, not_durable_closes_without_acknowledging)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint64_t prev = 0;
	uint32_t w;
	uint8_t b[8];
	int fd;

	h_start(&h, HOLD, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	send_frames(fd, 1, 10, 30);
	cr_assert(wait_held(&h, 10));
	complete(&h, UINT32_MAX, 1, 5, false, true);
	cr_expect_eq(acks_until(fd, 5, 5000, &prev, NULL), 5u);
	complete(&h, UINT32_MAX, 6, 6, false, false);
	complete(&h, UINT32_MAX, 7, 10, false, true);
	/* Closed, and no ack past 5 came first. */
	cr_expect_neq(read_n(fd, b, 8, 5000), 8, "no ack after a frame that is not durable");
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_NOT_DURABLE], 1, 5));
	cr_expect_eq(atomic_load(&ls->not_durable), 1u);
	cr_expect_eq(atomic_load(&ls->acked), 5u);
	close(fd);
	h_stop(&h);
}

/* Takes the held messages with lo <= seq <= hi into runs (slc_reactor_ack_run_add, at most
 * cap of them) and releases them: their runs are all that is left of them. */
static uint32_t
take_runs(struct h *h, uint64_t lo, uint64_t hi, struct slc_reactor_ack_run *runs, uint32_t cap)
{
	struct slc_msg pick[HOLD_MAX];
	uint32_t n = 0, keep = 0, nruns = 0;

	pthread_mutex_lock(&h->mu);
	for (uint32_t i = 0; i < h->nheld; i++) {
		uint64_t s = slc_msg_ack_seq(&h->held[i]);

		if (s >= lo && s <= hi)
			pick[n++] = h->held[i];
		else
			h->held[keep++] = h->held[i];
	}
	h->nheld = keep;
	pthread_mutex_unlock(&h->mu);
	for (uint32_t i = 0; i < n; i++)
		cr_assert(slc_reactor_ack_run_add(runs, &nruns, cap, &pick[i]), "room for a run");
	slc_reactor_release(h->r, pick, n);
	return nruns;
}

/* Group commit's way (engine/daemon/ack_commit.c): runs taken from the messages, the
 * messages released, and the runs acknowledged later: durable, then not. */
Test(ack, runs_acknowledged_after_their_messages_were_released)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	struct slc_reactor_ack_run a[4], b[4], c[4];
	uint32_t na, nb, nc, w;
	uint64_t prev = 0;
	uint8_t buf[8];
	int fd;

	h_start(&h, HOLD, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	send_frames(fd, 1, 10, 30);
	cr_assert(wait_held(&h, 10));
	na = take_runs(&h, 1, 5, a, 4);
	nb = take_runs(&h, 6, 6, b, 4);
	nc = take_runs(&h, 7, 10, c, 4);
	cr_expect_eq(na, 1u, "consecutive frames of one connection: one run");
	cr_expect_eq(a[0].seq, 1u);
	cr_expect_eq(a[0].count, 5u);
	cr_expect_eq(read_n(fd, buf, 8, 200), -1, "released is not acknowledged");
	slc_reactor_ack_runs(h.r, c, nc, true);
	cr_expect_eq(read_n(fd, buf, 8, 200), -1, "7..10 are durable, 1..6 are not yet");
	slc_reactor_ack_runs(h.r, a, na, true);
	cr_expect_eq(acks_until(fd, 5, 5000, &prev, NULL), 5u);
	slc_reactor_ack_runs(h.r, b, nb, false);
	cr_expect_neq(read_n(fd, buf, 8, 5000), 8, "no ack after a frame that is not durable");
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_NOT_DURABLE], 1, 5));
	cr_expect_eq(atomic_load(&ls->not_durable), 1u);
	cr_expect_eq(atomic_load(&ls->acked), 5u);
	close(fd);
	h_stop(&h);
}

/* A listener without acks next to one with: no greeting, no seq taken off, no ack bit. */
Test(ack, plain_listener_is_untouched)
{
	struct h h;
	struct slc_listener_cfg l[2] = {ack_listener(), ack_listener()};
	struct slc_reactor_cfg cfg = base_cfg(l, 2, &h);
	uint8_t buf[64], b[1];
	int fd;

	l[1].acks = false;
	h_start(&h, HOLD, &cfg, 0);
	fd = connect_to(slc_reactor_listener_port(h.r, 1));
	cr_expect_eq(read_n(fd, b, 1, 100), -1, "no greeting");
	send_all(fd, buf, make_frame(buf, 1, 20));
	cr_assert(wait_held(&h, 1));
	cr_expect_eq(atomic_load(&h.not_ack), 1u);
	pthread_mutex_lock(&h.mu);
	cr_expect_eq(h.held[0].len, 28u, "the whole len32 payload");
	pthread_mutex_unlock(&h.mu);
	close(fd);
	h_stop(&h);
}

Test(ack, bad_configuration_is_refused)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	int err;

	cfg.ack_window = 1000;
	cr_expect_null(slc_reactor_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	cfg.ack_window = 64;
	l.framing = SLC_FRAME_LINES;
	cr_expect_null(slc_reactor_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
}

Test(ack, sequence_numbers_do_not_wrap)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint64_t prev = 0;
	uint8_t f[12];
	uint32_t w;
	int fd;

	h_start(&h, HOLD, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	/* The last two sequence numbers there are: both acknowledged. */
	send_frames(fd, UINT64_MAX - 1, 2, 10);
	cr_assert(wait_held(&h, 2));
	complete(&h, UINT32_MAX, UINT64_MAX - 1, UINT64_MAX, false, true);
	cr_expect_eq(acks_until(fd, UINT64_MAX, 5000, &prev, NULL), UINT64_MAX);
	/* The one after is 0 on the wire: a wrap, refused. */
	make_frame(f, 0, 0);
	send_all(fd, f, sizeof(f));
	cr_expect(closed_by_peer(fd), "the connection is closed");
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_PROTOCOL], 1, 5));
	cr_expect_eq(atomic_load(&ls->ack_errors[SLC_ACK_ERR_WRAP]), 1u);
	cr_expect_eq(atomic_load(&h.msgs), 2u);
	close(fd);
	h_stop(&h);
}

/* A pause that rewinds a burst which ran up to frame 2^64 - 1 parses those frames again:
 * they are the same frames, not frames after the last one (found by fuzz_ack). */
Test(ack, a_pause_before_the_last_sequence_number_is_no_wrap)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint64_t prev = 0;
	uint32_t w;
	int fd;

	h_start(&h, HOLD, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	atomic_store(&h.refuse, true);
	send_frames(fd, UINT64_MAX - 2, 3, 10); /* one send: one burst */
	cr_assert(wait_for(&slc_reactor_stats(h.r)->pauses, 1, 10), "the connection paused");
	atomic_store(&h.refuse, false);
	slc_reactor_kick(h.r);
	cr_assert(wait_held(&h, 3), "all three delivered after the pause");
	complete(&h, UINT32_MAX, UINT64_MAX - 2, UINT64_MAX, false, true);
	cr_expect_eq(acks_until(fd, UINT64_MAX, 5000, &prev, NULL), UINT64_MAX);
	cr_expect_eq(atomic_load(&ls->ack_errors[SLC_ACK_ERR_WRAP]), 0u);
	cr_expect_eq(atomic_load(&ls->closed[SLC_CLOSE_PROTOCOL]), 0u);
	close(fd);
	h_stop(&h);
}

/* A frame without payload that is parsed again after a pause is counted once (found by
 * fuzz_ack). */
Test(ack, a_pause_counts_an_empty_frame_once)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint64_t prev = 0;
	uint8_t buf[64];
	size_t off;
	uint32_t w;
	int fd;

	h_start(&h, HOLD, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	atomic_store(&h.refuse, true);
	off = make_frame(buf, 1, 10);
	off += make_frame(buf + off, 2, 0);
	off += make_frame(buf + off, 3, 10);
	send_all(fd, buf, off); /* one send: one burst */
	cr_assert(wait_for(&slc_reactor_stats(h.r)->pauses, 1, 10), "the connection paused");
	atomic_store(&h.refuse, false);
	slc_reactor_kick(h.r);
	cr_assert(wait_held(&h, 2));
	complete(&h, UINT32_MAX, 1, 3, false, true);
	cr_expect_eq(acks_until(fd, 3, 5000, &prev, NULL), 3u);
	cr_expect_eq(atomic_load(&ls->empty_frames), 1u);
	close(fd);
	h_stop(&h);
}

/* The same, when the frame a pause stops at is 2^64 - 1 itself, and it was reassembled
 * (kept aside, counted as offered): the frame after it is still a wrap. */
Test(ack, a_pause_at_the_last_sequence_number_still_refuses_the_next)
{
	struct h h;
	struct slc_listener_cfg l = ack_listener();
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &h);
	const struct slc_listener_stats *ls;
	uint8_t buf[64], f[12];
	size_t off;
	uint32_t w;
	int fd;

	h_start(&h, HOLD, &cfg, 0);
	ls = slc_reactor_listener_stats(h.r, 0);
	fd = ack_connect(slc_reactor_listener_port(h.r, 0), &w);
	atomic_store(&h.refuse_last, true);
	/* 2^64 - 2 whole, then 2^64 - 1 in two sends: it straddles two receives. */
	off = make_frame(buf, UINT64_MAX - 1, 10);
	off += make_frame(buf + off, UINT64_MAX, 10);
	send_all(fd, buf, off - 8);
	cr_assert(wait_held(&h, 1));
	send_all(fd, buf + off - 8, 8);
	cr_assert(wait_for(&slc_reactor_stats(h.r)->pauses, 1, 10), "paused at 2^64 - 1");
	make_frame(f, 0, 0); /* the one after 2^64 - 1 */
	send_all(fd, f, sizeof(f));
	atomic_store(&h.refuse_last, false);
	slc_reactor_kick(h.r);
	cr_expect(closed_by_peer(fd), "the connection is closed");
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_PROTOCOL], 1, 5));
	cr_expect_eq(atomic_load(&ls->ack_errors[SLC_ACK_ERR_WRAP]), 1u);
	cr_expect_eq(atomic_load(&h.msgs), 2u, "2^64 - 2 and 2^64 - 1, and nothing after");
	close(fd);
	h_stop(&h);
}
