/* SPDX-License-Identifier: MIT */
/* fuzz_ack.c: libFuzzer target: acknowledged delivery (len32+ack) through a live reactor. */
/*
 * The ack window (sequence checks, the W-bit window, cumulative acks) is uring/ack_window.c,
 * which tests/uring/test_ack_window.c tests alone; this target reaches it end to end,
 * through the reactor's public API only, as a client and the workers would: loopback
 * sockets on one side, deliver and slc_reactor_ack on the other. That way it also covers
 * what the window alone cannot: pauses, reassembly, the greeting and acks on the wire. It
 * needs no hook in uring/, so it keeps working while the reactor's files change.
 *
 * Two reactors serve every input (made once): windows W = 4 and W = 128 (two bitmap words,
 * so that base walks across a word). The first input byte picks one; the rest is a script
 * of steps, each a byte and its arguments:
 *   send      n frames with the next sequence numbers (payload 4..63 bytes, or none),
 *             in as many send() calls as the input says, never past the client's window
 *   complete  some held messages durable: the oldest, the newest, every other, in
 *             reverse, in one slc_reactor_ack call or several
 *   fail      one held message not durable: the connection must close (not_durable)
 *   budget    how many more messages deliver takes (0 pauses the connection), and a kick
 *   sync      completes everything; every frame must come through and be acknowledged
 *   bad       a frame that breaks the protocol (short, zero, gap, repeat, window, wrap):
 *             the connection must close and that counter move by one
 *   reconnect the client closes and opens a new connection from a new first seq (1, near
 *             a bitmap word, near 2^63, near 2^64 - 1 to reach the wrap)
 * Messages of connections the client closed are completed at the next step. At the end,
 * the live connection is synced, everything is completed, and the reactor must come back
 * to no open connection.
 *
 * What is checked, against a model of what the client sent and the workers completed:
 *   - deliver sees each frame's payload once, in sequence order, with its 8-byte seq taken
 *     off and SLC_MSG_CONN_ACK set; no frame without payload and no refused frame;
 *   - acks rise strictly, start at S0 or later, and never cover a frame that was not
 *     completed durable (or was empty): nothing is acknowledged before it is durable;
 *   - a frame completed not durable is never acknowledged, nor is anything after it;
 *   - the server closes a connection exactly when the protocol says (bad frame, not
 *     durable), with the right counter, and never otherwise;
 *   - liveness: with everything completed, the last frame sent is acknowledged, and a
 *     closed connection's slot comes back (a leak ends in a refused connection).
 * A wait that takes more than WAIT_S seconds fails the input. A failure prints the input's
 * steps as the client and the workers took them. Environment: FUZZ_ACK_LOG shows the
 * reactors' log lines (quiet otherwise), FUZZ_ACK_TRACE prints every input's steps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reactor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREACTORS    2
#define CONNS_MAX    4    /* client connections per input */
#define FRAMES_MAX   1024 /* valid frames per connection */
#define HOLD_MAX     1024
#define PAYLOAD_MAX  64
#define WAIT_S       20
#define BUDGET_ALL   UINT32_MAX
#define SEQ_AT(c, i) ((c)->s0 + (uint64_t)(i))

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...);

/* What this input did so far, printed when it fails. */
static char trace_buf[1 << 16];
static size_t trace_len;

static void __attribute__((format(printf, 1, 2))) trace(const char *fmt, ...);

static void
trace(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (trace_len >= sizeof(trace_buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(trace_buf + trace_len, sizeof(trace_buf) - trace_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		trace_len += (size_t)n;
	if (trace_len > sizeof(trace_buf) - 1)
		trace_len = sizeof(trace_buf) - 1;
}

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_ack: the input's steps:\n%.*s", (int)trace_len, trace_buf);
	fputs("fuzz_ack: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- the model of one client connection ---- */

struct frame {
	uint8_t plen; /* payload bytes; 0: an empty frame (L = 8), never delivered */
	bool done;    /* completed durable, or empty */
};

struct cconn {
	bool used;
	int fd;           /* -1 once the client closed it */
	uint32_t no;      /* in every payload's first 4 bytes: which connection it is */
	uint64_t s0;      /* first seq */
	uint32_t nsent;   /* valid frames sent: seq s0 .. s0 + nsent - 1 */
	uint32_t nacked;  /* acknowledged: the last ack was s0 + nacked - 1 */
	uint32_t ndeliv;  /* delivered up to index ndeliv - 1 (empty frames skipped) */
	bool closing;     /* the server is expected to close it (bad frame, not durable) */
	bool failed;      /* a frame of it completed not durable */
	bool eof;         /* the client saw it closed */
	uint8_t rbuf[16]; /* greeting, then acks, as they come */
	uint32_t rlen;
	bool greeted;
	struct frame fr[FRAMES_MAX];
};

struct held {
	struct slc_msg m;
	uint32_t conn; /* index in h.conns */
};

/* One reactor and what its deliver and the script share (under mu). */
struct rx {
	struct slc_reactor *r;
	uint32_t w;
	uint16_t port;
	pthread_mutex_t mu;
	uint32_t budget;
	struct held held[HOLD_MAX];
	uint32_t nheld;
	struct cconn conns[CONNS_MAX];
	uint32_t next_no;
	uint64_t bytes_sent; /* by clients the server has no reason to close */
};

static struct rx rxs[NREACTORS];

static uint8_t
pattern(uint32_t no, uint64_t seq, uint32_t i)
{
	return (uint8_t)(no * 31 + seq * 7 + i);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static uint64_t
now_ns(void)
{
	return slc_mono_ns();
}

/* Checks one delivered message against the model; rx->mu is held. Returns its conn. */
static uint32_t
check_delivered(struct rx *rx, const struct slc_msg *m)
{
	struct cconn *c = NULL;
	uint64_t seq;
	uint32_t no, ci, idx;

	if (!slc_msg_is_ack(m))
		fail("a message without SLC_MSG_CONN_ACK (conn %#x)", m->conn);
	if (m->len < 4)
		fail("a payload of %u bytes: the client sends none under 4", m->len);
	no = be32(m->data);
	for (ci = 0; ci < CONNS_MAX; ci++)
		if (rx->conns[ci].used && rx->conns[ci].no == no) {
			c = &rx->conns[ci];
			break;
		}
	if (c == NULL)
		fail("a message of connection %u, which this input did not open", no);
	seq = slc_msg_ack_seq(m);
	if (seq - c->s0 >= c->nsent)
		fail("conn %u: seq %llu delivered, the client sent %llu .. %llu as valid", no,
		     (unsigned long long)seq, (unsigned long long)c->s0,
		     (unsigned long long)(c->s0 + c->nsent - 1));
	idx = (uint32_t)(seq - c->s0);
	if (idx < c->ndeliv)
		fail("conn %u: seq %llu delivered twice, or out of order (after %llu)", no,
		     (unsigned long long)seq, (unsigned long long)SEQ_AT(c, c->ndeliv - 1));
	for (uint32_t i = c->ndeliv; i < idx; i++)
		if (c->fr[i].plen != 0)
			fail("conn %u: seq %llu delivered before seq %llu", no,
			     (unsigned long long)seq, (unsigned long long)SEQ_AT(c, i));
	if (c->fr[idx].plen == 0 || m->len != c->fr[idx].plen)
		fail("conn %u: seq %llu has %u bytes, the client sent %u", no,
		     (unsigned long long)seq, m->len, c->fr[idx].plen);
	for (uint32_t i = 4; i < m->len; i++)
		if (m->data[i] != pattern(no, seq, i))
			fail("conn %u: seq %llu: byte %u differs", no, (unsigned long long)seq, i);
	c->ndeliv = idx + 1;
	return ci;
}

static uint32_t
deliver(void *ctx, struct slc_reactor *r, struct slc_msg *msgs, uint32_t n)
{
	struct rx *rx = ctx;
	uint32_t taken;

	(void)r;
	pthread_mutex_lock(&rx->mu);
	taken = n;
	if (taken > rx->budget)
		taken = rx->budget;
	if (taken > HOLD_MAX - rx->nheld)
		taken = HOLD_MAX - rx->nheld;
	for (uint32_t i = 0; i < taken; i++) {
		uint32_t ci = check_delivered(rx, &msgs[i]);

		rx->held[rx->nheld++] = (struct held){.m = msgs[i], .conn = ci};
	}
	if (rx->budget != BUDGET_ALL)
		rx->budget -= taken;
	pthread_mutex_unlock(&rx->mu);
	return taken;
}

static void
quiet_log(void *ctx, int level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
}

static void
rx_init(struct rx *rx, uint32_t id, uint32_t w)
{
	struct slc_listener_cfg l = {
	        .proto = SLC_LISTENER_TCP, .framing = SLC_FRAME_LEN32, .acks = true};
	struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;
	struct slc_reactor_cfg cfg = {
	        .id = id,
	        .cpu = -1,
	        .node = -1,
	        /* Small buffers, so that frames straddle them and are reassembled; enough
	         * of everything that one client within its window never runs out. */
	        .buffers = 512,
	        .buffer_size = 256,
	        .udp_buffers = 1,
	        .reasm_bytes = 0,
	        .max_frame = 8 + PAYLOAD_MAX,
	        .max_conns = 2 * CONNS_MAX,
	        .ack_window = w,
	        .listeners = &l,
	        .nlisteners = 1,
	        .ops = {.deliver = deliver, .ctx = rx},
	        .log = getenv("FUZZ_ACK_LOG") ? NULL : quiet_log,
	};
	int err;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l.addrlen = sizeof(*sin);
	pthread_mutex_init(&rx->mu, NULL);
	rx->w = w;
	rx->budget = BUDGET_ALL;
	rx->r = slc_reactor_create(&cfg, &err);
	if (rx->r == NULL)
		fail("reactor: %s", strerror(-err));
	rx->port = slc_reactor_listener_port(rx->r, 0);
	if (slc_reactor_start(rx->r) != 0)
		fail("reactor start");
}

/* ---- the script's input ---- */

struct src {
	const uint8_t *p;
	size_t n;
};

static uint32_t
take(struct src *s)
{
	if (s->n == 0)
		return 0;
	s->n--;
	return *s->p++;
}

/* ---- the client side ---- */

static const struct slc_listener_stats *
lstats(const struct rx *rx)
{
	return slc_reactor_listener_stats(rx->r, 0);
}

static uint64_t
ld(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* The frames from index nacked on that are done: how far an ack may go. */
static uint32_t
durable_prefix(const struct cconn *c)
{
	uint32_t n = c->nacked;

	while (n < c->nsent && c->fr[n].done)
		n++;
	return n;
}

/* Reads what the server sent (waiting up to timeout_ms for the first byte) and checks
 * each ack against the model. */
static void
pump(struct rx *rx, struct cconn *c, int timeout_ms)
{
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		uint8_t b[512];
		ssize_t k;

		if (c->fd < 0 || c->eof || poll(&pfd, 1, timeout_ms) != 1)
			return;
		timeout_ms = 0;
		k = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0) {
			const struct slc_listener_stats *ls = lstats(rx);

			c->eof = true;
			if (!c->closing)
				fail("conn %u closed by the server (%s); closes: eof %llu protocol "
				     "%llu not_durable %llu reset %llu framing %llu",
				     c->no, k == 0 ? "EOF" : strerror(errno),
				     (unsigned long long)ld(&ls->closed[SLC_CLOSE_EOF]),
				     (unsigned long long)ld(&ls->closed[SLC_CLOSE_PROTOCOL]),
				     (unsigned long long)ld(&ls->closed[SLC_CLOSE_NOT_DURABLE]),
				     (unsigned long long)ld(&ls->closed[SLC_CLOSE_RESET]),
				     (unsigned long long)ld(&ls->closed[SLC_CLOSE_FRAMING]));
			return;
		}
		for (ssize_t i = 0; i < k; i++) {
			c->rbuf[c->rlen++] = b[i];
			if (!c->greeted && c->rlen == 16) {
				static const uint8_t magic[8] = {'S', 'L', 'A', 'K', 0, 1, 0, 0};

				if (memcmp(c->rbuf, magic, 8) != 0 || be32(c->rbuf + 8) != rx->w ||
				    be32(c->rbuf + 12) != 0)
					fail("conn %u: a bad greeting", c->no);
				c->greeted = true;
				c->rlen = 0;
			} else if (c->greeted && c->rlen == 8) {
				uint64_t a = be64(c->rbuf), n;
				uint32_t limit;

				c->rlen = 0;
				pthread_mutex_lock(&rx->mu);
				limit = durable_prefix(c);
				pthread_mutex_unlock(&rx->mu);
				n = a - c->s0 + 1; /* frames it covers */
				if (a < c->s0 || n <= c->nacked)
					fail("conn %u: ack %llu after %llu (S0 %llu): acks "
					     "rise from S0",
					     c->no, (unsigned long long)a,
					     (unsigned long long)(c->s0 + c->nacked - 1),
					     (unsigned long long)c->s0);
				if (n > limit)
					fail("conn %u: ack %llu covers frames not durable: "
					     "durable up to %llu, sent up to %llu%s",
					     c->no, (unsigned long long)a,
					     (unsigned long long)(c->s0 + limit - 1),
					     (unsigned long long)(c->s0 + c->nsent - 1),
					     c->failed ? " (one failed)" : "");
				c->nacked = (uint32_t)n;
				trace("  ack %llu on conn %u\n", (unsigned long long)a, c->no);
			}
		}
	}
}

/*
 * Gives the reactor time to take what was sent (its bytes counter reaches what clients
 * sent) or to pause a connection, so that the next step meets a settled state and the same
 * input takes the same path. A paused connection does not receive: with one paused, this
 * returns at once; it waits 10 ms at most, and that is no failure.
 */
static void
settle(struct rx *rx, uint64_t pauses)
{
	uint64_t deadline = now_ns() + 10000000ull;

	while (ld(&lstats(rx)->bytes) < rx->bytes_sent &&
	       ld(&slc_reactor_stats(rx->r)->pauses) == pauses &&
	       ld(&slc_reactor_stats(rx->r)->paused) == 0 && now_ns() < deadline)
		usleep(20);
	usleep(50); /* the parse that follows the count */
}

static void
send_all(struct cconn *c, const uint8_t *p, size_t len)
{
	while (len != 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Only a connection the server was told to close may refuse bytes. */
			if (!c->closing)
				fail("conn %u: send: %s", c->no, strerror(errno));
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Sends buf in the chunk sizes the input gives (1..64 bytes, or the rest). */
static void
send_split(struct rx *rx, struct cconn *c, struct src *s, const uint8_t *buf, size_t len)
{
	uint64_t pauses = ld(&slc_reactor_stats(rx->r)->pauses);

	if (!c->closing)
		rx->bytes_sent += len;
	while (len != 0) {
		uint32_t k = take(s) % 80;
		size_t n = k == 0 || k > 64 || k > len ? len : k;

		trace("  send() %zu bytes\n", n);
		send_all(c, buf, n);
		buf += n;
		len -= n;
	}
	settle(rx, pauses);
}

static size_t
put_frame(uint8_t *out, uint32_t no, uint64_t seq, uint32_t plen)
{
	uint32_t l = 8 + plen;

	out[0] = (uint8_t)(l >> 24);
	out[1] = (uint8_t)(l >> 16);
	out[2] = (uint8_t)(l >> 8);
	out[3] = (uint8_t)l;
	for (int i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
	if (plen != 0) {
		out[12] = (uint8_t)(no >> 24);
		out[13] = (uint8_t)(no >> 16);
		out[14] = (uint8_t)(no >> 8);
		out[15] = (uint8_t)no;
	}
	for (uint32_t i = 4; i < plen; i++)
		out[12 + i] = pattern(no, seq, i);
	return 12 + plen;
}

static bool
spent(const struct cconn *c)
{
	return c->nsent != 0 && SEQ_AT(c, c->nsent - 1) == UINT64_MAX;
}

/* The live connection, opened (greeting read) if there is none; NULL when this input has
 * used all its connections. */
static struct cconn *
live(struct rx *rx, struct src *s)
{
	static const uint64_t starts[] = {
	        1, 2, 61, 62, 64, 125, 1ull << 63, UINT64_MAX - 2, UINT64_MAX - 130};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(rx->port)};
	struct cconn *c = NULL;
	uint64_t deadline;
	int one = 1;
	uint32_t i;

	for (i = 0; i < CONNS_MAX; i++) {
		if (rx->conns[i].used && rx->conns[i].fd >= 0 && !rx->conns[i].eof &&
		    !rx->conns[i].closing)
			return &rx->conns[i];
		if (!rx->conns[i].used) {
			c = &rx->conns[i];
			break;
		}
	}
	if (c == NULL)
		return NULL;
	pthread_mutex_lock(&rx->mu);
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->no = rx->next_no++;
	c->s0 = starts[take(s) % (sizeof(starts) / sizeof(starts[0]))];
	pthread_mutex_unlock(&rx->mu);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		fail("connect: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* settle() counts from here: bytes of earlier connections may never be read. */
	rx->bytes_sent = ld(&lstats(rx)->bytes);
	trace("open conn %u (W %u) from seq %llu\n", c->no, rx->w, (unsigned long long)c->s0);
	deadline = now_ns() + WAIT_S * 1000000000ull;
	while (!c->greeted) {
		if (now_ns() > deadline)
			fail("conn %u: no greeting (refused %llu: slots not coming back?)", c->no,
			     (unsigned long long)ld(&lstats(rx)->refused));
		pump(rx, c, 10);
		if (c->eof)
			fail("conn %u: closed before the greeting (refused %llu)", c->no,
			     (unsigned long long)ld(&lstats(rx)->refused));
	}
	return c;
}

/* Completes held messages: those of connections the client closed or the server is
 * closing (all), or those picked by the input. */
static void
complete(struct rx *rx, const uint32_t *pick, uint32_t n, bool durable, bool one_call)
{
	struct slc_msg m[HOLD_MAX];

	pthread_mutex_lock(&rx->mu);
	for (uint32_t i = 0; i < n; i++) {
		struct held *h = &rx->held[pick[i]];
		struct cconn *c = &rx->conns[h->conn];
		uint64_t idx = slc_msg_ack_seq(&h->m) - c->s0;

		if (idx >= c->nsent)
			fail("held seq %llu of conn %u (index %u), which sent %u from %llu",
			     (unsigned long long)slc_msg_ack_seq(&h->m), c->no, h->conn, c->nsent,
			     (unsigned long long)c->s0);
		m[i] = h->m;
		trace("  complete conn %u seq %llu %s%s\n", c->no,
		      (unsigned long long)(c->s0 + idx), durable ? "durable" : "NOT durable",
		      one_call ? "" : " (one call each)");
		if (durable)
			c->fr[idx].done = true; /* before the call: an ack may follow at once */
		else
			c->failed = c->closing = true;
	}
	/* Take them out of held, keeping the order of the rest. */
	{
		uint32_t keep = 0;

		for (uint32_t i = 0; i < rx->nheld; i++) {
			bool picked = false;

			for (uint32_t j = 0; j < n && !picked; j++)
				picked = pick[j] == i;
			if (!picked)
				rx->held[keep++] = rx->held[i];
		}
		rx->nheld = keep;
	}
	pthread_mutex_unlock(&rx->mu);
	if (one_call) {
		slc_reactor_ack(rx->r, m, n, durable);
	} else {
		for (uint32_t i = 0; i < n; i++)
			slc_reactor_ack(rx->r, &m[i], 1, durable);
	}
	slc_reactor_release(rx->r, m, n);
}

/* Completes, durable, everything held of connections that are not the live one (or all). */
static void
complete_others(struct rx *rx, const struct cconn *keep)
{
	uint32_t pick[HOLD_MAX], n = 0;

	pthread_mutex_lock(&rx->mu);
	for (uint32_t i = 0; i < rx->nheld; i++)
		if (keep == NULL || &rx->conns[rx->held[i].conn] != keep)
			pick[n++] = i;
	pthread_mutex_unlock(&rx->mu);
	if (n != 0)
		complete(rx, pick, n, true, true);
}

static void
set_budget(struct rx *rx, uint32_t b)
{
	trace("budget %u\n", b);
	pthread_mutex_lock(&rx->mu);
	rx->budget = b;
	pthread_mutex_unlock(&rx->mu);
	slc_reactor_kick(rx->r);
}

/* Sends up to n valid frames within the window; returns how many it sent. */
static uint32_t
send_frames(struct rx *rx, struct cconn *c, struct src *s, uint32_t n, bool empty_ok)
{
	static uint8_t buf[(FRAMES_MAX + 1) * (12 + PAYLOAD_MAX)];
	size_t len = 0;
	uint32_t sent = 0;

	pthread_mutex_lock(&rx->mu);
	while (sent < n && c->nsent < FRAMES_MAX && c->nsent < c->nacked + rx->w && !spent(c)) {
		uint32_t r = take(s);
		uint32_t plen = empty_ok && r % 8 == 0 ? 0 : 4 + r % (PAYLOAD_MAX - 4);

		c->fr[c->nsent] = (struct frame){.plen = (uint8_t)plen, .done = plen == 0};
		trace("send conn %u seq %llu payload %u\n", c->no,
		      (unsigned long long)SEQ_AT(c, c->nsent), plen);
		len += put_frame(buf + len, c->no, SEQ_AT(c, c->nsent), plen);
		c->nsent++;
		sent++;
	}
	pthread_mutex_unlock(&rx->mu);
	send_split(rx, c, s, buf, len);
	return sent;
}

static uint32_t
nheld_of(struct rx *rx, const struct cconn *c)
{
	uint32_t n = 0;

	pthread_mutex_lock(&rx->mu);
	for (uint32_t i = 0; i < rx->nheld; i++)
		if (&rx->conns[rx->held[i].conn] == c)
			n++;
	pthread_mutex_unlock(&rx->mu);
	return n;
}

/* Everything completed as it comes: every frame sent is delivered and acknowledged. */
static void
sync_conn(struct rx *rx, struct cconn *c)
{
	uint64_t deadline = now_ns() + WAIT_S * 1000000000ull;

	trace("sync conn %u (pauses so far %llu)\n", c->no,
	      (unsigned long long)ld(&slc_reactor_stats(rx->r)->pauses));
	set_budget(rx, BUDGET_ALL);
	for (;;) {
		uint32_t last_payload = 0;
		bool delivered;

		complete_others(rx, NULL);
		pump(rx, c, 1);
		pthread_mutex_lock(&rx->mu);
		for (uint32_t i = 0; i < c->nsent; i++)
			if (c->fr[i].plen != 0)
				last_payload = i + 1;
		delivered = c->ndeliv >= last_payload;
		pthread_mutex_unlock(&rx->mu);
		if (delivered && c->nacked == c->nsent)
			return;
		if (now_ns() > deadline)
			fail("conn %u (W %u): stalled: sent %u frames from %llu, delivered up to "
			     "%u, acked %u, held %u",
			     c->no, rx->w, c->nsent, (unsigned long long)c->s0, c->ndeliv,
			     c->nacked, nheld_of(rx, c));
	}
}

/* The server must close c: waits for the client to see it and for counter to reach want. */
static void
expect_close(struct rx *rx, struct cconn *c, const _Atomic uint64_t *counter, uint64_t want,
             const char *why)
{
	uint64_t deadline = now_ns() + WAIT_S * 1000000000ull;

	c->closing = true;
	set_budget(rx, BUDGET_ALL);
	while (!c->eof || ld(counter) < want) {
		if (now_ns() > deadline)
			fail("conn %u (W %u): %s: not closed (eof %d, counter %llu, want %llu; "
			     "not_durable %llu acked %llu acks_sent %llu msgs %llu paused %llu)",
			     c->no, rx->w, why, c->eof, (unsigned long long)ld(counter),
			     (unsigned long long)want,
			     (unsigned long long)ld(&lstats(rx)->not_durable),
			     (unsigned long long)ld(&lstats(rx)->acked),
			     (unsigned long long)ld(&lstats(rx)->acks_sent),
			     (unsigned long long)ld(&lstats(rx)->msgs),
			     (unsigned long long)ld(&slc_reactor_stats(rx->r)->paused));
		/* Only not-durable waits may complete: a completion could move base and
		 * turn a window error into a valid frame. */
		if (counter == &lstats(rx)->closed[SLC_CLOSE_NOT_DURABLE])
			complete_others(rx, NULL);
		pump(rx, c, 1);
	}
	if (ld(counter) != want)
		fail("conn %u: %s counted %llu times, once expected", c->no, why,
		     (unsigned long long)(ld(counter) - want + 1));
}

/* A frame that breaks the protocol; kind from the input. */
static void
send_bad(struct rx *rx, struct cconn *c, struct src *s)
{
	const struct slc_listener_stats *ls = lstats(rx);
	static uint8_t buf[(FRAMES_MAX + 1) * (12 + PAYLOAD_MAX)];
	enum slc_ack_error e;
	size_t len = 0;
	uint64_t seq, before;
	uint32_t kind = take(s) % 6;

	if (spent(c))
		kind = SLC_ACK_ERR_WRAP;
	switch (kind) {
	case SLC_ACK_ERR_SHORT: {
		uint32_t l = take(s) % 8;

		memset(buf, 0, 12);
		buf[3] = (uint8_t)l;
		len = 4 + l;
		e = SLC_ACK_ERR_SHORT;
		break;
	}
	case SLC_ACK_ERR_ZERO:
		len = put_frame(buf, c->no, 0, 4);
		e = c->nsent == 0 ? SLC_ACK_ERR_ZERO : SLC_ACK_ERR_REPEAT;
		break;
	case SLC_ACK_ERR_GAP:
	case SLC_ACK_ERR_REPEAT:
		if (c->nsent == 0) { /* any first seq but 0 is valid: send one */
			send_frames(rx, c, s, 1, false);
			pump(rx, c, 0);
		}
		if (kind == SLC_ACK_ERR_GAP) {
			seq = SEQ_AT(c, c->nsent) + 1 + take(s) % 3;
			if (seq < SEQ_AT(c, c->nsent)) /* past 2^64 - 1: no gap there */
				return;
		} else {
			seq = SEQ_AT(c, c->nsent - 1 - take(s) % c->nsent);
		}
		len = put_frame(buf, c->no, seq, 4);
		e = kind;
		break;
	case SLC_ACK_ERR_WINDOW:
		/* Everything acknowledged, then W frames (the window) and one more. */
		sync_conn(rx, c);
		if (c->nsent + rx->w >= FRAMES_MAX || c->s0 + c->nsent + rx->w < c->s0 ||
		    c->s0 + c->nsent + rx->w == 0)
			return; /* no room in the model, or it would reach the wrap first */
		pthread_mutex_lock(&rx->mu);
		for (uint32_t i = 0; i < rx->w; i++) {
			c->fr[c->nsent] = (struct frame){.plen = 4};
			len += put_frame(buf + len, c->no, SEQ_AT(c, c->nsent), 4);
			c->nsent++;
		}
		pthread_mutex_unlock(&rx->mu);
		len += put_frame(buf + len, c->no, SEQ_AT(c, c->nsent), 4);
		e = SLC_ACK_ERR_WINDOW;
		break;
	default: /* WRAP: frames up to seq 2^64 - 1, then one more */
		while (!spent(c) && send_frames(rx, c, s, 8, true) != 0)
			;
		if (!spent(c)) {
			/* Not near enough to the wrap (or the window is full): a gap instead. */
			seq = SEQ_AT(c, c->nsent) + 1;
			if (seq == 0 || c->nsent == 0)
				return;
			len = put_frame(buf, c->no, seq, 4);
			e = SLC_ACK_ERR_GAP;
			break;
		}
		len = put_frame(buf, c->no, 0, 4); /* the seq after 2^64 - 1 */
		e = SLC_ACK_ERR_WRAP;
		break;
	}
	trace("bad frame on conn %u: expect %s\n", c->no, slc_ack_error_str(e));
	before = ld(&ls->ack_errors[e]);
	c->closing = true;
	send_split(rx, c, s, buf, len);
	expect_close(rx, c, &ls->ack_errors[e], before + 1, slc_ack_error_str(e));
}

/* Completes held messages of c, in the order the input picks (not durable: one); returns
 * how many. */
static uint32_t
complete_some(struct rx *rx, struct cconn *c, struct src *s, bool durable)
{
	uint32_t idx[HOLD_MAX], pick[HOLD_MAX], n = 0, k = 0;
	uint32_t how = take(s), want = 1 + take(s) % 8;

	pthread_mutex_lock(&rx->mu);
	for (uint32_t i = 0; i < rx->nheld; i++)
		if (&rx->conns[rx->held[i].conn] == c)
			idx[n++] = i;
	pthread_mutex_unlock(&rx->mu);
	if (n == 0)
		return 0;
	if (!durable)
		how = 3;
	switch (how % 4) {
	case 0: /* the oldest */
		for (; k < want && k < n; k++)
			pick[k] = idx[k];
		break;
	case 1: /* the newest first */
		for (; k < want && k < n; k++)
			pick[k] = idx[n - 1 - k];
		break;
	case 2: /* every other, from the second */
		for (uint32_t i = 1; i < n && k < want; i += 2)
			pick[k++] = idx[i];
		break;
	default: /* one the input names */
		pick[k++] = idx[take(s) % n];
		break;
	}
	if (k != 0)
		complete(rx, pick, k, durable, (how >> 2) & 1);
	return k;
}

static void
close_client(struct rx *rx, struct cconn *c)
{
	if (c->fd >= 0) {
		trace("client closes conn %u\n", c->no);
		close(c->fd);
		c->fd = -1;
	}
	(void)rx;
}

/* The end of an input: the live connection synced, everything completed and closed, and
 * the reactor back to no open connection. */
static void
finish(struct rx *rx)
{
	uint64_t deadline = now_ns() + WAIT_S * 1000000000ull;

	trace("finish\n");
	for (uint32_t i = 0; i < CONNS_MAX; i++) {
		struct cconn *c = &rx->conns[i];

		if (c->used && c->fd >= 0 && !c->eof && !c->closing)
			sync_conn(rx, c);
		if (c->used && c->fd >= 0 && c->closing && !c->eof)
			fail("conn %u: expected to close, still open", c->no);
	}
	for (uint32_t i = 0; i < CONNS_MAX; i++)
		if (rx->conns[i].used)
			close_client(rx, &rx->conns[i]);
	set_budget(rx, BUDGET_ALL);
	for (;;) {
		uint64_t open;
		uint32_t nheld;

		complete_others(rx, NULL);
		/* open first: a connection delivers everything before it closes, so once none
		 * is open, nothing more comes, and nheld read after that is final. */
		open = atomic_load_explicit(&lstats(rx)->open, memory_order_acquire);
		pthread_mutex_lock(&rx->mu);
		nheld = rx->nheld;
		pthread_mutex_unlock(&rx->mu);
		if (nheld == 0 && open == 0)
			break;
		if (now_ns() > deadline)
			fail("W %u: %llu connections still open, %u messages held, at the end",
			     rx->w, (unsigned long long)ld(&lstats(rx)->open), nheld);
		usleep(200);
	}
	pthread_mutex_lock(&rx->mu);
	memset(rx->conns, 0, sizeof(rx->conns));
	pthread_mutex_unlock(&rx->mu);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool started;
	struct src s = {data + 1, size ? size - 1 : 0};
	struct rx *rx;
	uint32_t steps = 0;

	if (!started) {
		rx_init(&rxs[0], 1, 4);
		rx_init(&rxs[1], 2, 128);
		started = true;
	}
	if (size == 0)
		return 0;
	rx = &rxs[data[0] & 1];
	trace_len = 0;
	set_budget(rx, BUDGET_ALL);
	while (s.n != 0 && steps++ < 256) {
		uint32_t op = take(&s) % 10;
		struct cconn *c;

		complete_others(rx, live(rx, &s));
		c = live(rx, &s);
		if (c == NULL)
			break;
		pump(rx, c, 0);
		switch (op) {
		case 0:
		case 1:
		case 2:
			send_frames(rx, c, &s, 1 + take(&s) % 8, true);
			break;
		case 3:
		case 4:
			complete_some(rx, c, &s, true);
			break;
		case 5: {
			uint32_t b = take(&s) % 6;

			set_budget(rx, b == 5 ? BUDGET_ALL : b == 4 ? 8 : b);
			break;
		}
		case 6:
			sync_conn(rx, c);
			break;
		case 7:
			if (take(&s) % 4 == 0) {
				uint64_t before = ld(&lstats(rx)->closed[SLC_CLOSE_NOT_DURABLE]);

				if (complete_some(rx, c, &s, false) == 0)
					break;
				expect_close(rx, c, &lstats(rx)->closed[SLC_CLOSE_NOT_DURABLE],
				             before + 1, "not durable");
			} else {
				send_bad(rx, c, &s);
			}
			break;
		default:
			close_client(rx, c);
			break;
		}
		pump(rx, c, 0);
	}
	finish(rx);
	if (getenv("FUZZ_ACK_TRACE") != NULL)
		fprintf(stderr, "%.*s", (int)trace_len, trace_buf);
	return 0;
}
