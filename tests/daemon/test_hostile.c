/* SPDX-License-Identifier: MIT */
/* test_hostile.c: sluiced against hostile and broken input, with a good client beside it. */
/*
 * Each test runs sluiced with --max-frame 1k and a file sink, starts a well-behaved client
 * on the listener under attack, does something hostile on other connections, and checks:
 * the hostile connection was closed (or its datagram dropped), a log line names the peer
 * and the reason, the counter moved by exactly what was done, the good client's messages
 * all arrived exactly once, and sluiced exits 0 on SIGTERM. In the ASan build the daemon
 * runs under LeakSanitizer (ASAN_OPTIONS=detect_leaks=1 comes from ctest), which turns a
 * leak into a non-zero exit: the same check covers "no leak".
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"

#define MAX_FRAME   1024u
#define GOOD_MAX    (1u << 20)
#define FOREIGN_LOG 16u

/* ---- the good client ----------------------------------------------------------------- */

enum good_kind { GOOD_LINES, GOOD_LEN32, GOOD_SYSLOG, GOOD_UDP };

/* Sends "good-msg-<i> end" in the listener's framing, a few every 2 ms, until told to
 * stop; then half-closes and waits for the daemon to close (TCP). */
struct good {
	uint16_t port;
	enum good_kind kind;
	_Atomic bool stop;
	_Atomic uint32_t sent;
	int err;        /* 0, or the -errno of a failed send or connect */
	bool closed_ok; /* TCP: the daemon closed after our FIN, as it should */
	pthread_t t;
};

static size_t
good_format(enum good_kind kind, uint32_t i, char *out)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "good-msg-%u end", i);

	switch (kind) {
	case GOOD_LINES:
		memcpy(out, msg, (size_t)n);
		out[n] = '\n';
		return (size_t)n + 1;
	case GOOD_LEN32:
		out[0] = out[1] = out[2] = 0;
		out[3] = (char)n;
		memcpy(out + 4, msg, (size_t)n);
		return (size_t)n + 4;
	case GOOD_SYSLOG:
		/* RFC 6587 octet counting. */
		return (size_t)sprintf(out, "%d %s", n, msg);
	case GOOD_UDP:
		memcpy(out, msg, (size_t)n);
		return (size_t)n;
	}
	return 0;
}

static void *
good_main(void *arg)
{
	struct good *g = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(g->port)};
	bool udp = g->kind == GOOD_UDP;
	/* UDP has no flow control: slower, so that a sanitizer build's daemon keeps up. */
	uint32_t per_tick = udp ? 1 : 8, i = 0;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		g->err = -errno;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (!atomic_load_explicit(&g->stop, memory_order_acquire) && i < GOOD_MAX) {
		char buf[1024];
		size_t n = 0;
		struct timespec ts = {0, 2000000};

		for (uint32_t k = 0; k < per_tick; k++) {
			size_t len = good_format(g->kind, i + k, buf + n);

			if (udp && send(fd, buf + n, len, MSG_NOSIGNAL) != (ssize_t)len) {
				g->err = -errno;
				goto out;
			}
			n += len;
		}
		if (!udp) {
			int e = dproc_send_all(fd, buf, n);

			if (e != 0) {
				g->err = e;
				goto out;
			}
		}
		i += per_tick;
		atomic_store_explicit(&g->sent, i, memory_order_release);
		nanosleep(&ts, NULL);
	}
	if (!udp) {
		shutdown(fd, SHUT_WR);
		g->closed_ok = dproc_wait_closed(fd, 10000);
	}
out:
	close(fd);
	return NULL;
}

/* Waits until the good client sent at least `more` messages beyond what it had. */
static void
good_progress(struct good *g, struct dproc *d, uint32_t more)
{
	uint32_t want = atomic_load_explicit(&g->sent, memory_order_acquire) + more;
	uint64_t end = slc_mono_ms() + 10000;

	while (atomic_load_explicit(&g->sent, memory_order_acquire) < want && slc_mono_ms() < end &&
	       g->err == 0) {
		dproc_log_pump(d);
		usleep(5000);
	}
	cr_assert_geq(atomic_load_explicit(&g->sent, memory_order_acquire), want,
	              "the good client stalled (error %d)", g->err);
}

/* ---- the scene: daemon, good client, and what the sink got --------------------------- */

struct scene {
	struct dproc d;
	struct good g;
	uint32_t good_listener;
	uint32_t udp_other; /* datagrams the test sent to the good client's listener that count */
	char sink[96];
	/* what the sink got */
	uint32_t *count; /* [g.sent] */
	uint32_t foreign;
	uint32_t foreign_len[FOREIGN_LOG];
};

/* {port="P", extra, NULL} for dproc_metric; valid until the next call. */
static const char *const *
port_filter(uint16_t port, const char *extra)
{
	static char portf[32];
	static const char *f[3];

	snprintf(portf, sizeof(portf), "port=\"%u\"", port);
	f[0] = portf;
	f[1] = extra;
	f[2] = NULL;
	return f;
}

/* Starts sluiced with a file sink, --max-frame 1k, metrics, and the listeners in listen
 * (NULL-terminated flag/value pairs and any other flags), then the good client on
 * listener good_listener. */
static void
scene_start(struct scene *s, const char *const *extra, uint32_t good_listener, enum good_kind kind)
{
	const char *args[64] = {"--sink",      s->sink, "--metrics", "127.0.0.1:0",
	                        "--max-frame", "1k",    "--fsync",   "never"};
	size_t n = 8;

	memset(s, 0, sizeof(*s));
	dproc_make_dir(&s->d);
	snprintf(s->sink, sizeof(s->sink), "file:%s", s->d.dir);
	for (size_t i = 0; extra[i] != NULL && n < 63; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	dproc_start(&s->d, args);
	cr_assert_neq(s->d.metrics_port, 0, "%s", s->d.log);
	cr_assert_lt(good_listener, s->d.nport);
	s->good_listener = good_listener;
	s->g.port = s->d.port[good_listener];
	s->g.kind = kind;
	cr_assert_eq(pthread_create(&s->g.t, NULL, good_main, &s->g), 0);
	good_progress(&s->g, &s->d, 50);
}

static void
scene_tally(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct scene *s = ctx;
	uint32_t sent = atomic_load_explicit(&s->g.sent, memory_order_relaxed);
	char buf[64];
	unsigned i;
	int used = 0;

	(void)worker;
	if (len < sizeof(buf)) {
		memcpy(buf, p, len);
		buf[len] = '\0';
		if (sscanf(buf, "good-msg-%u end%n", &i, &used) == 1 && (uint32_t)used == len &&
		    i < sent) {
			s->count[i]++;
			return;
		}
	}
	if (s->foreign < FOREIGN_LOG)
		s->foreign_len[s->foreign] = len;
	s->foreign++;
}

/*
 * Stops the good client, waits for the daemon to have everything, stops the daemon
 * (exit 0), and checks that every good message arrived exactly once. Other records are
 * counted in s->foreign (the test decides what it expects there).
 */
static void
scene_finish(struct scene *s)
{
	uint32_t sent, missing = 0, dup = 0;
	int st;

	atomic_store_explicit(&s->g.stop, true, memory_order_release);
	pthread_join(s->g.t, NULL);
	sent = atomic_load_explicit(&s->g.sent, memory_order_acquire);
	cr_expect_eq(s->g.err, 0, "the good client failed: %s", strerror(-s->g.err));
	if (s->g.kind == GOOD_UDP) {
		const char *f[] = {"proto=\"udp\"", NULL};

		/* Datagrams have no close to wait for: wait until they are all counted. */
		dproc_metric_wait(&s->d, "sluice_received_messages_total", f,
		                  (uint64_t)sent + s->udp_other, 10000);
	} else {
		cr_expect(s->g.closed_ok, "the daemon did not close the good client's connection "
		                          "after its FIN");
	}
	st = dproc_stop(&s->d);
	cr_assert_eq(st, 0, "sluiced exited %d (a leak or a race in a sanitizer build?):\n%s", st,
	             s->d.log);
	cr_expect(strstr(s->d.log, "stopped after") != NULL, "%s", s->d.log);
	s->count = calloc(sent + 1, sizeof(uint32_t));
	cr_assert_not_null(s->count);
	dproc_for_each_record(s->d.dir, scene_tally, s);
	for (uint32_t i = 0; i < sent; i++) {
		missing += s->count[i] == 0;
		dup += s->count[i] > 1;
	}
	cr_expect_eq(missing, 0u, "%u of the good client's %u messages missing", missing, sent);
	cr_expect_eq(dup, 0u, "%u of the good client's messages more than once", dup);
	free(s->count);
	dproc_remove_dir(s->d.dir);
}

/* ---- helpers for the hostile side ------------------------------------------------------ */

/* Waits for a log line, written after byte `from`, that holds "closing 127.0.0.1:PORT: " and
 * then `what`. */
static void
expect_close_logged(struct dproc *d, size_t from, uint16_t port, const char *what)
{
	char want[160];

	snprintf(want, sizeof(want), "closing 127.0.0.1:%u: %s", port, what);
	cr_expect(dproc_log_wait(d, from, want, 5000), "no log line \"%s\" in:\n%s", want,
	          d->log + (from <= d->log_len ? from : 0));
}

static uint64_t
metric_port(struct dproc *d, const char *name, uint16_t port, const char *extra)
{
	return dproc_metric_now(d, name, port_filter(port, extra));
}

/* Waits until the counter reaches want, then checks that it is exactly want. */
static void
expect_counter(struct dproc *d, const char *name, uint16_t port, const char *extra, uint64_t want)
{
	uint64_t v = dproc_metric_wait(d, name, port_filter(port, extra), want, 5000);

	/* A window for a wrong extra count to show (no event marks "nothing more will come"):
	 * on a slow machine it only makes the check weaker, it cannot fail a correct daemon. */
	usleep(100000);
	v = metric_port(d, name, port, extra);
	cr_expect_eq(v, want, "%s{port=%u,%s} is %llu, expected %llu", name, port,
	             extra != NULL ? extra : "", (unsigned long long)v, (unsigned long long)want);
}

/* A hostile connection: sends what it has, whatever happens (the daemon may close first). */
static int
hostile_connect(uint16_t port)
{
	int fd = dproc_connect(port);

	cr_assert_geq(fd, 0, "connect: %s", strerror(errno));
	return fd;
}

static void
hostile_send(int fd, const void *buf, size_t len)
{
	(void)dproc_send_all(fd, buf, len);
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
random_fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(xorshift(&s) >> 32);
}

/* ---- oversize frames --------------------------------------------------------------------- */

Test(hostile, oversize_line_closes_only_its_connection, .timeout = 120)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=lines", NULL};
	static char big[2048];
	size_t from;
	uint16_t port, peer;
	int fd;

	scene_start(&s, args, 0, GOOD_LINES);
	port = s.d.port[0];
	fd = hostile_connect(port);
	peer = dproc_local_port(fd);
	from = s.d.log_len;
	/* max-frame bytes exactly: accepted. One more: refused, connection closed. */
	memset(big, 'a', MAX_FRAME);
	big[MAX_FRAME] = '\n';
	hostile_send(fd, big, MAX_FRAME + 1);
	memset(big, 'b', 1500);
	big[1500] = '\n';
	hostile_send(fd, big, 1501);
	cr_expect(dproc_wait_closed(fd, 5000), "the daemon kept an oversize line's connection");
	close(fd);
	expect_close_logged(&s.d, from, peer, "oversize frame");
	expect_counter(&s.d, "sluice_frames_rejected_total", port, "reason=\"oversize\"", 1);
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"framing\"", 1);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 1u, "only the line of exactly max-frame bytes gets through");
	cr_expect_eq(s.foreign_len[0], MAX_FRAME);
}

Test(hostile, oversize_len32_refused_at_its_header, .timeout = 120)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=len32", NULL};
	static uint8_t buf[4 + MAX_FRAME + 4];
	size_t from;
	uint16_t port, peer;
	int fd;

	scene_start(&s, args, 0, GOOD_LEN32);
	port = s.d.port[0];
	fd = hostile_connect(port);
	peer = dproc_local_port(fd);
	from = s.d.log_len;
	/* A frame of max-frame bytes, then only the header of one byte more: refused on the
	 * header, without waiting for a payload that will not come. */
	be32(buf, MAX_FRAME);
	memset(buf + 4, 'z', MAX_FRAME);
	be32(buf + 4 + MAX_FRAME, MAX_FRAME + 1);
	hostile_send(fd, buf, sizeof(buf));
	cr_expect(dproc_wait_closed(fd, 5000), "the daemon waited for an oversize payload");
	close(fd);
	expect_close_logged(&s.d, from, peer, "oversize frame");
	expect_counter(&s.d, "sluice_frames_rejected_total", port, "reason=\"oversize\"", 1);
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"framing\"", 1);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 1u);
	cr_expect_eq(s.foreign_len[0], MAX_FRAME);
}

Test(hostile, len32_length_near_2_32, .timeout = 120)
{
	static const uint32_t lens[] = {0xffffffffu, 0xfffffffcu, 0xfffffc00u,
	                                0x80000000u, 0x7fffffffu, 0x00010000u};
	const size_t n = sizeof(lens) / sizeof(lens[0]);
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=len32", NULL};
	size_t from;
	uint16_t port;

	scene_start(&s, args, 0, GOOD_LEN32);
	port = s.d.port[0];
	from = s.d.log_len;
	for (size_t i = 0; i < n; i++) {
		uint8_t buf[4 + 64];
		int fd = hostile_connect(port);
		uint16_t peer = dproc_local_port(fd);

		/* The header and a little payload: an overflow in length arithmetic would
		 * take this as a frame, or wait for 4 GiB. */
		be32(buf, lens[i]);
		memset(buf + 4, 'q', 64);
		hostile_send(fd, buf, sizeof(buf));
		cr_expect(dproc_wait_closed(fd, 5000), "length %#x: connection kept", lens[i]);
		close(fd);
		/* At most 5 lines a second of a kind: the first ones name their peer. */
		if (i < 3)
			expect_close_logged(&s.d, from, peer, "oversize frame");
	}
	expect_counter(&s.d, "sluice_frames_rejected_total", port, "reason=\"oversize\"", n);
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"framing\"", n);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 0u);
}

/* ---- random bytes ------------------------------------------------------------------------ */

#define RANDOM_CONNS 20
#define RANDOM_BYTES (16u << 10)

/*
 * Random bytes on a len32 listener: what the parser must do is easy to say, so the test
 * says it: walk the lengths; the first one over max-frame is the error.
 */
static bool
len32_reference(const uint8_t *p, size_t n, uint32_t *frames)
{
	size_t pos = 0;

	*frames = 0;
	while (pos + 4 <= n) {
		uint32_t len = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 |
		               (uint32_t)p[pos + 2] << 8 | p[pos + 3];

		if (len > MAX_FRAME)
			return true;
		if (pos + 4 + len > n)
			return false;
		*frames += len != 0;
		pos += 4 + len;
	}
	return false;
}

Test(hostile, random_bytes_on_len32, .timeout = 120)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=len32", NULL};
	static uint8_t blob[RANDOM_BYTES];
	uint32_t errors = 0, frames = 0;
	size_t from;
	uint16_t port;

	scene_start(&s, args, 0, GOOD_LEN32);
	port = s.d.port[0];
	from = s.d.log_len;
	for (uint32_t i = 0; i < RANDOM_CONNS; i++) {
		int fd = hostile_connect(port);
		uint16_t peer = dproc_local_port(fd);
		uint32_t f;
		bool err;

		random_fill(blob, sizeof(blob), 1000 + i);
		err = len32_reference(blob, sizeof(blob), &f);
		frames += f;
		hostile_send(fd, blob, sizeof(blob));
		if (err) {
			errors++;
			cr_expect(dproc_wait_closed(fd, 5000), "connection %u kept", i);
			if (errors == 1)
				expect_close_logged(&s.d, from, peer, "oversize frame");
		}
		close(fd);
	}
	cr_assert_gt(errors, 0u, "the seeds give no error: pick others");
	expect_counter(&s.d, "sluice_frames_rejected_total", port, "reason=\"oversize\"", errors);
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"framing\"", errors);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, frames);
}

Test(hostile, random_bytes_on_syslog, .timeout = 120)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=syslog", NULL};
	static uint8_t blob[RANDOM_BYTES];
	int fds[RANDOM_CONNS];
	uint16_t peers[RANDOM_CONNS];
	bool closed[RANDOM_CONNS] = {false};
	uint32_t by_daemon = 0, logged = 0;
	uint64_t end, rejected, framing, all_closed;
	size_t from;
	uint16_t port;

	scene_start(&s, args, 0, GOOD_SYSLOG);
	port = s.d.port[0];
	from = s.d.log_len;
	for (uint32_t i = 0; i < RANDOM_CONNS; i++) {
		fds[i] = hostile_connect(port);
		peers[i] = dproc_local_port(fds[i]);
		random_fill(blob, sizeof(blob), 2000 + i);
		hostile_send(fds[i], blob, sizeof(blob));
	}
	/* Random bytes are often valid syslog for a while (LF frames); most connections hit a
	 * digit that starts a bad octet count. Those the daemon closes; the rest we close. */
	end = slc_mono_ms() + 3000;
	while (slc_mono_ms() < end && by_daemon < RANDOM_CONNS) {
		for (uint32_t i = 0; i < RANDOM_CONNS; i++)
			if (!closed[i] && dproc_wait_closed(fds[i], 1)) {
				closed[i] = true;
				by_daemon++;
			}
		dproc_log_pump(&s.d);
	}
	for (uint32_t i = 0; i < RANDOM_CONNS; i++) {
		char want[64];

		close(fds[i]);
		snprintf(want, sizeof(want), "closing 127.0.0.1:%u: ", peers[i]);
		logged += closed[i] && strstr(s.d.log + from, want) != NULL;
	}
	cr_assert_gt(by_daemon, 0u, "no random stream hit a framing error: pick other seeds");
	cr_expect_gt(logged, 0u, "no close of a random stream was logged:\n%s", s.d.log + from);
	/* Every connection is closed and counted once; framing closes are what it closed. */
	all_closed = dproc_metric_wait(&s.d, "sluice_connections_closed_total",
	                               port_filter(port, NULL), RANDOM_CONNS, 5000);
	cr_expect_eq(all_closed, RANDOM_CONNS);
	framing = metric_port(&s.d, "sluice_connections_closed_total", port, "reason=\"framing\"");
	rejected = metric_port(&s.d, "sluice_frames_rejected_total", port, NULL);
	cr_expect_eq(framing, by_daemon);
	cr_expect_eq(rejected, by_daemon);
	cr_expect_eq(metric_port(&s.d, "sluice_connections_open", port, NULL), 1u);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
}

/* ---- NULs, syslog octet counts ------------------------------------------------------------ */

Test(hostile, nul_flood_on_lines, .timeout = 120)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=lines", NULL};
	static char nul[64 << 10];
	size_t from;
	uint16_t port, peer;
	int fd;

	scene_start(&s, args, 0, GOOD_LINES);
	port = s.d.port[0];
	fd = hostile_connect(port);
	peer = dproc_local_port(fd);
	from = s.d.log_len;
	/* NULs are bytes like any other: three and a LF are a frame; 64 KiB of them without
	 * a LF are an oversize line. */
	hostile_send(fd, "\0\0\0\n", 4);
	hostile_send(fd, nul, sizeof(nul));
	cr_expect(dproc_wait_closed(fd, 5000), "the daemon kept a NUL flood's connection");
	close(fd);
	expect_close_logged(&s.d, from, peer, "oversize frame");
	expect_counter(&s.d, "sluice_frames_rejected_total", port, "reason=\"oversize\"", 1);
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"framing\"", 1);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 1u);
	cr_expect_eq(s.foreign_len[0], 3u);
}

Test(hostile, syslog_octet_counting_errors, .timeout = 120)
{
	static const struct {
		const char *bytes;
		const char *why; /* in the log line; NULL: not an error */
	} cases[] = {
	        {"12a4 <13>hello\n", "bad_octet_count"}, /* a non-digit inside the count */
	        {"5hello\n", "bad_octet_count"},         /* digits, then no SP */
	        {"05 hello\n", "leading_zero"},
	        {"0 x\n", "leading_zero"},
	        /* No digits at all: RFC 6587 non-transparent framing, not an error. */
	        {" 5 hello\n", NULL},
	};
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=syslog", NULL};
	size_t from;
	uint16_t port;
	int keep = -1;

	scene_start(&s, args, 0, GOOD_SYSLOG);
	port = s.d.port[0];
	from = s.d.log_len;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = hostile_connect(port);
		uint16_t peer = dproc_local_port(fd);
		char what[64];

		hostile_send(fd, cases[i].bytes, strlen(cases[i].bytes));
		if (cases[i].why == NULL) {
			keep = fd;
			continue;
		}
		cr_expect(dproc_wait_closed(fd, 5000), "%s: connection kept", cases[i].bytes);
		close(fd);
		snprintf(what, sizeof(what), "%s frame", cases[i].why);
		expect_close_logged(&s.d, from, peer, what);
	}
	expect_counter(&s.d, "sluice_frames_rejected_total", port, "reason=\"bad_octet_count\"", 2);
	expect_counter(&s.d, "sluice_frames_rejected_total", port, "reason=\"leading_zero\"", 2);
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"framing\"", 4);
	/* The frame without a count is delivered and its connection stays open. */
	cr_expect_eq(metric_port(&s.d, "sluice_connections_open", port, NULL), 2u);
	shutdown(keep, SHUT_WR);
	cr_expect(dproc_wait_closed(keep, 5000));
	close(keep);
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"eof\"", 1);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 1u);
	cr_expect_eq(s.foreign_len[0], 8u, "\" 5 hello\" as one frame");
}

/* ---- slow and idle peers ----------------------------------------------------------------- */

Test(hostile, idle_and_unfinished_frames_time_out, .timeout = 120)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=lines", "--idle-timeout", "1s",
	                      NULL};
	uint64_t t0, took;
	size_t from;
	uint16_t port, peer_part, peer_silent;
	int part, silent;

	scene_start(&s, args, 0, GOOD_LINES);
	port = s.d.port[0];
	from = s.d.log_len;
	/* One sends half a frame and nothing more; one sends nothing at all. The good client,
	 * which sends every 2 ms, must outlive both. */
	part = hostile_connect(port);
	silent = hostile_connect(port);
	peer_part = dproc_local_port(part);
	peer_silent = dproc_local_port(silent);
	hostile_send(part, "a frame that never ends", 23);
	t0 = slc_mono_ms();
	cr_expect(dproc_wait_closed(part, 5000), "half a frame kept its connection open");
	took = slc_mono_ms() - t0;
	cr_expect(took >= 900 && took <= 3000, "closed after %llu ms, with --idle-timeout 1s",
	          (unsigned long long)took);
	cr_expect(dproc_wait_closed(silent, 3000), "a silent connection stayed open");
	close(part);
	close(silent);
	expect_close_logged(&s.d, from, peer_part, "idle for 1000 ms inside a frame");
	expect_close_logged(&s.d, from, peer_silent, "idle for 1000 ms");
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"idle\"", 2);
	cr_expect_eq(metric_port(&s.d, "sluice_connections_closed_total", port,
	                         "reason=\"eof_midframe\""),
	             0u);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 0u, "the unfinished frame is not delivered");
}

/*
 * Slowloris proper: one byte of a frame every 200 ms, the frame never finished. The flag
 * says --idle-timeout closes a connection that sends "only part of a message" for that
 * long; a peer that keeps a frame open by dribbling must be closed as well as one that
 * stops.
 */
Test(hostile, slowloris_dribbling_one_frame_times_out, .timeout = 120)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=lines", "--idle-timeout", "1s",
	                      NULL};
	uint64_t t0;
	size_t from;
	uint16_t port, peer;
	bool closed = false;
	int fd;

	scene_start(&s, args, 0, GOOD_LINES);
	port = s.d.port[0];
	from = s.d.log_len;
	fd = hostile_connect(port);
	peer = dproc_local_port(fd);
	t0 = slc_mono_ms();
	/* 4 s of dribbling: four times the timeout, and far below max-frame (20 bytes). */
	while (!closed && slc_mono_ms() - t0 < 4000) {
		hostile_send(fd, "x", 1);
		closed = dproc_wait_closed(fd, 200);
		dproc_log_pump(&s.d);
	}
	close(fd);
	cr_expect(closed,
	          "a connection that dribbles one frame was not closed in %llu ms with "
	          "--idle-timeout 1s",
	          (unsigned long long)(slc_mono_ms() - t0));
	if (closed) {
		expect_close_logged(&s.d, from, peer, "idle");
		expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"idle\"", 1);
	}
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 0u);
}

/* ---- many connections -------------------------------------------------------------------- */

#define FLOOD_CONNS 10000u
#define MAX_CONNS   1000u

Test(hostile, ten_thousand_idle_connections_over_max_conns, .timeout = 300)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=lines", "--max-conns", "1000",
	                      NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct rlimit rl;
	struct pollfd *pfd;
	uint32_t connected = 0, refused_seen = 0, cap;
	uint64_t refused, accepted, t0;
	size_t from;
	uint16_t port;
	int fd;

	/* The client side needs a descriptor per connection. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < FLOOD_CONNS + 256) {
		rl.rlim_cur = FLOOD_CONNS + 256;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			cr_skip_test("RLIMIT_NOFILE cannot be raised to %u", FLOOD_CONNS + 256);
	}
	pfd = calloc(FLOOD_CONNS, sizeof(*pfd));
	cr_assert_not_null(pfd);
	scene_start(&s, args, 0, GOOD_LINES);
	port = s.d.port[0];
	cap = s.d.nreactors * MAX_CONNS;
	from = s.d.log_len;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t0 = slc_mono_ms();
	/* Non-blocking connects, 500 at a time, each batch given up to 5 s to complete: the
	 * accept queue (4096) is never asked for more than it holds. */
	for (uint32_t base = 0; base < FLOOD_CONNS; base += 500) {
		uint64_t end = slc_mono_ms() + 5000;
		uint32_t pending = 0;

		for (uint32_t i = base; i < base + 500; i++) {
			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			cr_assert_geq(fd, 0, "socket %u: %s", i, strerror(errno));
			pfd[i] = (struct pollfd){.fd = fd, .events = POLLOUT};
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				pfd[i].events = 0;
				connected++;
			} else if (errno == EINPROGRESS) {
				pending++;
			} else {
				pfd[i].events = 0;
			}
		}
		while (pending != 0 && slc_mono_ms() < end) {
			if (poll(pfd + base, 500, 50) <= 0)
				continue;
			for (uint32_t i = base; i < base + 500; i++) {
				int e = 0;
				socklen_t el = sizeof(e);

				if (pfd[i].events == 0 || pfd[i].revents == 0)
					continue;
				getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &e, &el);
				connected += e == 0;
				pfd[i].events = 0;
				pending--;
			}
		}
		dproc_log_pump(&s.d);
	}
	cr_expect_eq(connected, FLOOD_CONNS, "only %u connects completed", connected);
	/* The daemon takes cap - 1 of them (the good client holds a slot), refuses the rest
	 * at once: their sockets see EOF. */
	refused = dproc_metric_wait(&s.d, "sluice_connections_refused_total",
	                            port_filter(port, NULL), connected + 1 - cap, 20000);
	accepted = metric_port(&s.d, "sluice_connections_accepted_total", port, NULL);
	cr_expect_eq(refused + accepted, (uint64_t)connected + 1, "refused %llu, accepted %llu",
	             (unsigned long long)refused, (unsigned long long)accepted);
	cr_expect_eq(accepted, (uint64_t)cap, "--max-conns %u per reactor, %u reactor(s)",
	             MAX_CONNS, s.d.nreactors);
	cr_expect_eq(metric_port(&s.d, "sluice_connections_open", port, NULL), (uint64_t)cap);
	for (uint32_t i = 0; i < FLOOD_CONNS; i++)
		pfd[i].events = POLLIN | POLLRDHUP;
	{
		uint64_t end = slc_mono_ms() + 10000;

		while (refused_seen < refused && slc_mono_ms() < end) {
			refused_seen = 0;
			poll(pfd, FLOOD_CONNS, 100);
			for (uint32_t i = 0; i < FLOOD_CONNS; i++)
				refused_seen +=
				        (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
			dproc_log_pump(&s.d);
		}
	}
	cr_expect_eq(refused_seen, refused, "clients that saw their connection closed");
	cr_expect(dproc_log_wait(&s.d, from, "max-conns reached", 2000), "%s", s.d.log + from);
	cr_expect(strstr(s.d.log + from, "refused 127.0.0.1:") != NULL);
	good_progress(&s.g, &s.d, 100);
	/* Close them all: the daemon counts the held ones as closed, and takes new ones. */
	for (uint32_t i = 0; i < FLOOD_CONNS; i++)
		close(pfd[i].fd);
	free(pfd);
	cr_expect_eq(dproc_metric_wait(&s.d, "sluice_connections_closed_total",
	                               port_filter(port, "reason=\"eof\""), cap - 1, 10000),
	             (uint64_t)cap - 1);
	cr_expect_eq(metric_port(&s.d, "sluice_connections_open", port, NULL), 1u);
	fd = hostile_connect(port);
	hostile_send(fd, "after the flood\n", 16);
	shutdown(fd, SHUT_WR);
	cr_expect(dproc_wait_closed(fd, 5000));
	close(fd);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 1u, "the line sent after the flood");
	/* A generous bound (a few seconds on an idle machine, under a sanitizer too): it holds
	 * on a loaded 2-CPU machine, and fails a daemon that handles the flood one connection
	 * at a time behind some timer. */
	cr_expect_lt(slc_mono_ms() - t0, 60000u);
}

/* ---- closes: half, mid-frame, reset -------------------------------------------------------- */

Test(hostile, half_close_after_whole_frames_delivers_them, .timeout = 120)
{
	struct scene s;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=lines", NULL};
	static char buf[64 << 10];
	size_t n = 0, from;
	uint16_t port;
	int fd;

	scene_start(&s, args, 0, GOOD_LINES);
	port = s.d.port[0];
	from = s.d.log_len;
	fd = hostile_connect(port);
	for (uint32_t i = 0; i < 1000; i++)
		n += (size_t)sprintf(buf + n, "half-%u\n", i);
	cr_assert_eq(dproc_send_all(fd, buf, n), 0);
	shutdown(fd, SHUT_WR);
	/* Nothing unusual: the daemon reads to the end, delivers, and closes its side. */
	cr_expect(dproc_wait_closed(fd, 5000));
	close(fd);
	expect_counter(&s.d, "sluice_connections_closed_total", port, "reason=\"eof\"", 1);
	cr_expect_eq(metric_port(&s.d, "sluice_connections_closed_total", port,
	                         "reason=\"eof_midframe\""),
	             0u);
	cr_expect_eq(metric_port(&s.d, "sluice_connections_closed_total", port, "reason=\"reset\""),
	             0u);
	cr_expect(strstr(s.d.log + from, "closing 127.0.0.1:") == NULL,
	          "a normal close is not an event to log:\n%s", s.d.log + from);
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 1000u, "the 1000 lines before the FIN");
}

Test(hostile, reset_in_the_middle_of_a_frame, .timeout = 120)
{
	struct scene s;
	/* Two listeners alike: the good client on the first, the reset on the second, whose
	 * byte counter then says when the daemon has read everything sent to it. */
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=lines", "--listen",
	                      "tcp://127.0.0.1:0?framing=lines", NULL};
	static const char bytes[] = "w0\nw1\nw2\nw3\nw4\nthe partial fra";
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	uint64_t reset, midframe;
	size_t from;
	uint16_t port, peer;
	int fd;

	scene_start(&s, args, 0, GOOD_LINES);
	port = s.d.port[1];
	from = s.d.log_len;
	fd = hostile_connect(port);
	peer = dproc_local_port(fd);
	cr_assert_eq(dproc_send_all(fd, bytes, sizeof(bytes) - 1), 0);
	/* Let the daemon read it all, then reset: SO_LINGER 0 makes close() send a RST. */
	cr_assert_eq(dproc_metric_wait(&s.d, "sluice_received_bytes_total", port_filter(port, NULL),
	                               sizeof(bytes) - 1, 5000),
	             sizeof(bytes) - 1);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	dproc_metric_wait(&s.d, "sluice_connections_closed_total", port_filter(port, NULL), 1,
	                  5000);
	reset = metric_port(&s.d, "sluice_connections_closed_total", port, "reason=\"reset\"");
	midframe = metric_port(&s.d, "sluice_connections_closed_total", port,
	                       "reason=\"eof_midframe\"");
	cr_expect_eq(reset + midframe, 1u, "reset %llu, eof_midframe %llu",
	             (unsigned long long)reset, (unsigned long long)midframe);
	cr_expect_eq(metric_port(&s.d, "sluice_connections_closed_total", port, NULL), 1u);
	cr_expect_eq(metric_port(&s.d, "sluice_connections_closed_total", s.d.port[0], NULL), 0u,
	             "nothing else closed");
	cr_expect_eq(metric_port(&s.d, "sluice_received_messages_total", port, NULL), 5u);
	/* Visible: a line names the peer (the partial frame is lost). */
	expect_close_logged(&s.d, from, peer, "");
	good_progress(&s.g, &s.d, 100);
	scene_finish(&s);
	cr_expect_eq(s.foreign, 5u, "the five whole frames, not the partial one");
}

/* ---- UDP --------------------------------------------------------------------------------- */

Test(hostile, udp_datagram_over_max_frame_dropped, .timeout = 120)
{
	static uint8_t dgram[65507];
	static const size_t sizes[] = {MAX_FRAME, MAX_FRAME + 1, 2000, sizeof(dgram)};
	struct scene s;
	const char *args[] = {"--listen", "udp://127.0.0.1:0", NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char want[128];
	size_t from;
	uint16_t port, peer;
	int fd;

	scene_start(&s, args, 0, GOOD_UDP);
	port = s.d.port[0];
	from = s.d.log_len;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	peer = dproc_local_port(fd);
	memset(dgram, 'u', sizeof(dgram));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		cr_assert_eq(send(fd, dgram, sizes[i], 0), (ssize_t)sizes[i], "%s",
		             strerror(errno));
	close(fd);
	snprintf(want, sizeof(want),
	         "port %u: dropped a datagram from 127.0.0.1:%u: over max-frame", port, peer);
	cr_expect(dproc_log_wait(&s.d, from, want, 5000), "no \"%s\" in:\n%s", want,
	          s.d.log + from);
	expect_counter(&s.d, "sluice_udp_drops_total", port, NULL, 3);
	expect_counter(&s.d, "sluice_frames_rejected_total", port, "reason=\"oversize\"", 3);
	good_progress(&s.g, &s.d, 50);
	s.udp_other = 1;
	scene_finish(&s);
	cr_expect_eq(s.foreign, 1u, "the datagram of exactly max-frame bytes");
	cr_expect_eq(s.foreign_len[0], MAX_FRAME);
}

/* ---- a record the sink refuses ------------------------------------------------------------ */

#define REFUSE_ACKED 640u /* frames of the acknowledged client: under the window (1024) */
#define REFUSE_BAD   16u  /* lines whose key the file sink cannot store */

struct refuse_tally {
	uint8_t acked[REFUSE_ACKED + 1];
	uint8_t plain[REFUSE_BAD];
	uint32_t third; /* "k3 ..." frames of the connection with a refused frame */
	uint32_t other;
};

static void
refuse_tally(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct refuse_tally *t = ctx;
	char buf[64];
	unsigned i;
	int used = 0;

	(void)worker;
	if (len < sizeof(buf)) {
		memcpy(buf, p, len);
		buf[len] = '\0';
		if (sscanf(buf, "k1 acked-%u%n", &i, &used) == 1 && (uint32_t)used == len &&
		    i >= 1 && i <= REFUSE_ACKED) {
			t->acked[i]++;
			return;
		}
		if (sscanf(buf, "k2 plain-%u%n", &i, &used) == 1 && (uint32_t)used == len &&
		    i < REFUSE_BAD) {
			t->plain[i]++;
			return;
		}
		if (strncmp(buf, "k3 ", 3) == 0) {
			t->third++;
			return;
		}
	}
	t->other++;
}

/*
 * F5 (issue 15): with --max-frame above 64k and a --key, a line whose key is longer than
 * the file sink's 65,535 bytes is refused by the sink. That must cost the line alone:
 * before, it failed its whole batch, every len32+ack connection with a frame in that batch
 * was closed as not_durable, and the stop line counted the whole batch as lost. A third
 * connection sends such a key in an acknowledged frame: that frame is not acknowledged and
 * its connection alone is closed. The worker is slowed (--test-handler-cost-ns) so that the
 * batches mix the connections.
 */
Test(hostile, a_record_the_sink_refuses_costs_only_itself, .timeout = 240)
{
	static uint8_t bad[12 + 70000 + 16];
	static struct refuse_tally t;
	struct dproc d;
	char sink[96], frame[64];
	const char *args[] = {"--sink",
	                      sink,
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--max-frame",
	                      "128k",
	                      "--fsync",
	                      "batch",
	                      "--key",
	                      "field:1",
	                      "--pools",
	                      "1",
	                      "--test-handler-cost-ns",
	                      "100000",
	                      "--listen",
	                      "tcp://127.0.0.1:0?framing=len32+ack",
	                      "--listen",
	                      "tcp://127.0.0.1:0?framing=lines",
	                      NULL};
	const char *nd[] = {"reason=\"not_durable\"", NULL};
	const char *kl[] = {"reason=\"key_too_long\"", NULL};
	uint8_t greeting[16], ackb[8];
	uint64_t acked = 0, end, v;
	uint32_t seq = 1, missing = 0, dup = 0;
	bool closed = false;
	size_t got = 0;
	int afd, pfd, tfd, st;
	char *line;

	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	cr_assert_eq(d.nport, 2);
	afd = hostile_connect(d.port[0]);
	pfd = hostile_connect(d.port[1]);
	while (got < sizeof(greeting)) {
		ssize_t n = recv(afd, greeting + got, sizeof(greeting) - got, 0);

		cr_assert_gt(n, 0, "no greeting: %s", strerror(errno));
		got += (size_t)n;
	}
	cr_assert_eq(memcmp(greeting, "SLAK", 4), 0);
	/* One key of 70,000 bytes: the first field of the line (the frame's payload, below:
	 * bad + 12 is the line). */
	memset(bad + 12, 'x', 70000);
	memcpy(bad + 12 + 70000, " too long\n", 10);
	for (uint32_t b = 0; b < REFUSE_BAD; b++) {
		char plain[32];
		int n;

		/* 40 acknowledged frames, then a refused line and a good one on the other
		 * connection, while the worker is still busy with the frames. */
		for (uint32_t k = 0; k < REFUSE_ACKED / REFUSE_BAD; k++, seq++) {
			int len = snprintf(frame + 12, sizeof(frame) - 12, "k1 acked-%u", seq);

			be32((uint8_t *)frame, 8u + (uint32_t)len);
			be32((uint8_t *)frame + 4, 0);
			be32((uint8_t *)frame + 8, seq);
			cr_assert_eq(dproc_send_all(afd, frame, 12u + (size_t)len), 0);
		}
		hostile_send(pfd, bad + 12, 70010);
		n = snprintf(plain, sizeof(plain), "k2 plain-%u\n", b);
		hostile_send(pfd, plain, (size_t)n);
		dproc_log_pump(&d);
	}
	/* The third connection: frames 1 and 3 are fine, frame 2 has the long key. */
	tfd = hostile_connect(d.port[0]);
	for (uint32_t s3 = 1; s3 <= 3; s3++) {
		int len = snprintf(frame + 12, sizeof(frame) - 12, "k3 third-%u", s3);
		uint8_t *f = s3 == 2 ? bad : (uint8_t *)frame;

		if (s3 == 2)
			len = 70010 - 1; /* the line without its LF */
		be32(f, 8u + (uint32_t)len);
		be32(f + 4, 0);
		be32(f + 8, s3);
		hostile_send(tfd, f, 12u + (size_t)len);
	}
	cr_expect(dproc_wait_closed(tfd, 20000), "the connection with a refused frame stays open");
	close(tfd);
	/* Every frame is acknowledged, and the connection stays open. */
	end = slc_mono_ms() + 60000;
	while (acked < REFUSE_ACKED && slc_mono_ms() < end) {
		struct pollfd p = {.fd = afd, .events = POLLIN};
		ssize_t n;

		dproc_log_pump(&d);
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(afd, ackb, sizeof(ackb), MSG_WAITALL);
		if (n != (ssize_t)sizeof(ackb)) {
			closed = true;
			break;
		}
		acked = 0;
		for (int i = 0; i < 8; i++)
			acked = acked << 8 | ackb[i];
	}
	cr_expect(!closed, "the acknowledged connection was closed at ack %llu:\n%s",
	          (unsigned long long)acked, d.log);
	cr_expect_eq(acked, REFUSE_ACKED);
	v = dproc_metric_wait(&d, "sluice_sink_refused_records_total", kl, REFUSE_BAD + 1, 10000);
	cr_expect_eq(v, REFUSE_BAD + 1, "refused for their key: %llu", (unsigned long long)v);
	v = dproc_metric_now(&d, "sluice_worker_sink_refused_messages_total", NULL);
	cr_expect_eq(v, REFUSE_BAD + 1, "refused by the sink, per worker: %llu",
	             (unsigned long long)v);
	v = dproc_metric_now(&d, "sluice_connections_closed_total", nd);
	cr_expect_eq(v, 1, "not_durable closes: %llu (the third connection's only)",
	             (unsigned long long)v);
	close(afd);
	close(pfd);
	/* The 17 messages are lost, and said so: the stop line counts them, the exit is 1. */
	st = dproc_stop(&d);
	cr_expect_eq(st, 1, "sluiced exited %d:\n%s", st, d.log);
	line = strstr(d.log, "stopped after");
	cr_assert_not_null(line, "%s", d.log);
	cr_expect_not_null(strstr(line, " 17 lost in the sink"), "%s", line);
	cr_expect_not_null(strstr(d.log, "a key of 70000 bytes (at most 65535): refused"), "%s",
	                   d.log);
	dproc_for_each_record(d.dir, refuse_tally, &t);
	for (uint32_t i = 1; i <= REFUSE_ACKED; i++) {
		missing += t.acked[i] == 0;
		dup += t.acked[i] > 1;
	}
	cr_expect_eq(missing, 0, "%u acknowledged frames missing", missing);
	cr_expect_eq(dup, 0, "%u acknowledged frames stored twice", dup);
	for (uint32_t i = 0; i < REFUSE_BAD; i++)
		cr_expect_eq(t.plain[i], 1, "plain line %u stored %u times", i, t.plain[i]);
	/* Frame 1 of the third connection is written, maybe frame 3 too (the connection
	 * closes when the refusal comes back; frame 3 may be with the worker by then). */
	cr_expect(t.third >= 1 && t.third <= 2, "%u of the third connection's frames", t.third);
	cr_expect_eq(t.other, 0, "%u records that were sent by no one (or refused)", t.other);
	dproc_remove_dir(d.dir);
}
