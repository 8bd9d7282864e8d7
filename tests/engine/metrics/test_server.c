/* SPDX-License-Identifier: MIT */
/* test_server.c: the metrics HTTP endpoint (engine/metrics/server.c). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "expo_check.h"
#include "metrics/server.h"

#define SCALE(n) ((n) / SLC_TEST_SCALE_DIV > 0 ? (n) / SLC_TEST_SCALE_DIV : 1)

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

/* What the server writes after every render: its own counters, nothing refused yet. */
#define REFUSED_NONE                                                                      \
	"# HELP sluice_metrics_refused_total Connections to the metrics endpoint closed " \
	"unanswered, by reason: fd_limit (no file descriptor left for it), no_slot "      \
	"(libmicrohttpd did not take it).\n"                                              \
	"# TYPE sluice_metrics_refused_total counter\n"                                   \
	"sluice_metrics_refused_total{reason=\"fd_limit\"} 0\n"                           \
	"sluice_metrics_refused_total{reason=\"no_slot\"} 0\n"                            \
	"# HELP sluice_metrics_forbidden_total POST /-/reload requests refused (403): "   \
	"their client was not on a loopback address.\n"                                   \
	"# TYPE sluice_metrics_forbidden_total counter\n"                                 \
	"sluice_metrics_forbidden_total 0\n"

struct resp {
	int status;
	char *raw; /* headers and body, NUL-terminated */
	size_t len;
	const char *body;
	size_t body_len;
};

static void
resp_free(struct resp *r)
{
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

static int
connect_to(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 15};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* Reads the answer on fd to EOF. 0, -errno, or -EPROTO (no HTTP answer). */
static int
read_response(int fd, struct resp *r)
{
	size_t cap = 4096;
	const char *end;

	memset(r, 0, sizeof(*r));
	r->raw = malloc(cap);
	if (r->raw == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (cap - r->len < 2048) {
			char *t = realloc(r->raw, cap * 2);

			if (t == NULL)
				return -ENOMEM;
			r->raw = t;
			cap *= 2;
		}
		n = recv(fd, r->raw + r->len, cap - r->len - 1, 0);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* A server that closes with unread request bytes resets: what came
			 * before the reset is still the answer. */
			if (errno == ECONNRESET && r->len > 0)
				break;
			return -errno;
		}
		r->len += (size_t)n;
	}
	r->raw[r->len] = '\0';
	if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
		return -EPROTO;
	end = strstr(r->raw, "\r\n\r\n");
	if (end == NULL)
		return -EPROTO;
	r->body = end + 4;
	r->body_len = r->len - (size_t)(r->body - r->raw);
	return 0;
}

/* One request on a fresh connection; "Connection: close" so that EOF ends the answer. */
static int
http(uint16_t port, const char *method, const char *path, const char *body, struct resp *r)
{
	char req[512];
	int fd = connect_to(port), rc;
	size_t off = 0, n;

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return fd;
	n = (size_t)snprintf(req, sizeof(req),
	                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
	                     "%s%s\r\n%s",
	                     method, path, body ? "Content-Type: text/plain\r\n" : "",
	                     body ? "Content-Length: 5\r\n" : "", body ? body : "");
	while (off < n) {
		ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);

		if (w < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		off += (size_t)w;
	}
	rc = read_response(fd, r);
	close(fd);
	return rc;
}

/* The value of header name (case-insensitive), copied into out; false when absent. */
static bool
header(const struct resp *r, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);

	for (const char *p = strstr(r->raw, "\r\n"); p != NULL && p < r->body - 2;
	     p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2, *e;

		if (strncasecmp(h, name, n) != 0 || h[n] != ':')
			continue;
		h += n + 1;
		while (*h == ' ')
			h++;
		e = strstr(h, "\r\n");
		snprintf(out, cap, "%.*s", (int)(e - h), h);
		return true;
	}
	return false;
}

struct counters {
	_Atomic uint64_t rx;
	_Atomic uint64_t renders;
	_Atomic int fail; /* nonzero: render returns it */
};

/* What the daemon's callback does: loads of atomics, nothing else. */
static int
render_counters(void *ctx, struct slc_metrics_buf *b)
{
	struct counters *c = ctx;
	int fail = atomic_load_explicit(&c->fail, memory_order_relaxed);

	/* Relaxed: counters order nothing; a scrape wants recent values, not a snapshot. */
	atomic_fetch_add_explicit(&c->renders, 1, memory_order_relaxed);
	if (fail != 0)
		return fail;
	slc_metrics_family(b, "sluice_rx_total", "counter", "Messages received.");
	slc_metrics_u64(b, "sluice_rx_total", "pool=\"a\"",
	                atomic_load_explicit(&c->rx, memory_order_relaxed));
	slc_metrics_family(b, "sluice_ratio", "gauge", "A ratio.");
	slc_metrics_f64(b, "sluice_ratio", NULL, 0.5);
	return 0;
}

static struct slc_metrics_server *
start_local(struct counters *c)
{
	int err = 0;
	struct slc_metrics_server *s =
	        slc_metrics_server_start("127.0.0.1:0", render_counters, c, &err);

	cr_assert_not_null(s, "slc_metrics_server_start: %s", strerror(-err));
	cr_assert_neq(slc_metrics_server_port(s), 0);
	return s;
}

Test(metrics, get_metrics_returns_the_render)
{
	struct counters c = {.rx = 41};
	struct slc_metrics_server *s = start_local(&c);
	struct resp r;
	char ct[128], len[32];

	cr_assert_eq(http(slc_metrics_server_port(s), "GET", "/metrics", NULL, &r), 0);
	cr_expect_eq(r.status, 200, "%s", r.raw);
	cr_assert(header(&r, "Content-Type", ct, sizeof(ct)), "%s", r.raw);
	cr_expect_str_eq(ct, CT_METRICS);
	cr_expect_str_eq(r.body, "# HELP sluice_rx_total Messages received.\n"
	                         "# TYPE sluice_rx_total counter\n"
	                         "sluice_rx_total{pool=\"a\"} 41\n"
	                         "# HELP sluice_ratio A ratio.\n"
	                         "# TYPE sluice_ratio gauge\n"
	                         "sluice_ratio 0.5\n" REFUSED_NONE);
	cr_assert(header(&r, "Content-Length", len, sizeof(len)));
	cr_expect_eq(strtoul(len, NULL, 10), r.body_len);
	resp_free(&r);

	/* Every scrape renders anew. */
	atomic_store_explicit(&c.rx, 42, memory_order_relaxed);
	cr_assert_eq(http(slc_metrics_server_port(s), "GET", "/metrics?x=1", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_not_null(strstr(r.body, "sluice_rx_total{pool=\"a\"} 42\n"));
	resp_free(&r);

	/* HEAD: the headers of a GET, no body. */
	cr_assert_eq(http(slc_metrics_server_port(s), "HEAD", "/metrics", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_assert(header(&r, "Content-Type", ct, sizeof(ct)));
	cr_expect_str_eq(ct, CT_METRICS);
	cr_expect_eq(r.body_len, 0u);
	resp_free(&r);
	slc_metrics_server_stop(s);
	cr_expect_eq(atomic_load(&c.renders), 3u);
}

Test(metrics, healthz_not_found_and_methods)
{
	struct counters c = {0};
	struct slc_metrics_server *s = start_local(&c);
	uint16_t port = slc_metrics_server_port(s);
	struct resp r;
	char allow[64];

	cr_assert_eq(http(port, "GET", "/healthz", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "ok\n");
	resp_free(&r);

	cr_assert_eq(http(port, "GET", "/", NULL, &r), 0);
	cr_expect_eq(r.status, 404);
	resp_free(&r);
	cr_assert_eq(http(port, "GET", "/metrics/x", NULL, &r), 0);
	cr_expect_eq(r.status, 404);
	resp_free(&r);

	cr_assert_eq(http(port, "POST", "/metrics", "hello", &r), 0);
	cr_expect_eq(r.status, 405, "%s", r.raw);
	cr_assert(header(&r, "Allow", allow, sizeof(allow)), "%s", r.raw);
	cr_expect_str_eq(allow, "GET, HEAD");
	resp_free(&r);
	cr_assert_eq(http(port, "DELETE", "/healthz", NULL, &r), 0);
	cr_expect_eq(r.status, 405);
	resp_free(&r);

	/* Nothing of that rendered; the server still serves. */
	cr_expect_eq(atomic_load(&c.renders), 0u);
	cr_assert_eq(http(port, "GET", "/metrics", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	resp_free(&r);
	slc_metrics_server_stop(s);
}

Test(metrics, failed_render_is_a_500)
{
	struct counters c = {.fail = -EIO};
	struct slc_metrics_server *s = start_local(&c);
	struct resp r;

	cr_assert_eq(http(slc_metrics_server_port(s), "GET", "/metrics", NULL, &r), 0);
	cr_expect_eq(r.status, 500);
	cr_expect_null(strstr(r.body, "sluice_"));
	resp_free(&r);
	atomic_store(&c.fail, 0);
	cr_assert_eq(http(slc_metrics_server_port(s), "GET", "/metrics", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	resp_free(&r);
	slc_metrics_server_stop(s);
}

Test(metrics, bad_address_is_einval)
{
	static const char *const bad[] = {
	        "",
	        "9140",
	        "localhost:9140",
	        "127.0.0.1",
	        "127.0.0.1:",
	        "1.2.3:80",
	        "127.0.0.1:65536",
	        "127.0.0.1:-1",
	        "127.0.0.1:80x",
	        "::1:80",
	        "[::1]",
	        "[::1]80",
	        "[::1:80",
	        "[127.0.0.1]:80",
	        "[]:80",
	        ":80",
	        "127.0.0.1:+80",
	        /* More than 5 digits: refused as --metrics refuses it (slc_addr_parse); this
	         * call took any number of leading zeros before. */
	        "127.0.0.1:000080",
	};
	struct counters c = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = 0;
		struct slc_metrics_server *s =
		        slc_metrics_server_start(bad[i], render_counters, &c, &err);

		cr_expect_null(s, "\"%s\" accepted", bad[i]);
		cr_expect_eq(err, -EINVAL, "\"%s\": %d", bad[i], err);
		slc_metrics_server_stop(s);
	}
	int err = 0;
	cr_expect_null(slc_metrics_server_start(NULL, render_counters, &c, &err));
	cr_expect_eq(err, -EINVAL);
	err = 0;
	cr_expect_null(slc_metrics_server_start("127.0.0.1:0", NULL, &c, &err));
	cr_expect_eq(err, -EINVAL);
	slc_metrics_server_stop(NULL);
	cr_expect_eq(slc_metrics_server_port(NULL), 0);
}

Test(metrics, port_in_use_is_eaddrinuse)
{
	struct counters c = {0};
	struct slc_metrics_server *s = start_local(&c), *t;
	char addr[32];
	int err = 0;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", slc_metrics_server_port(s));
	t = slc_metrics_server_start(addr, render_counters, &c, &err);
	cr_expect_null(t);
	cr_expect_eq(err, -EADDRINUSE, "%d", err);
	slc_metrics_server_stop(t);
	/* The first server is unharmed. */
	struct resp r;
	cr_assert_eq(http(slc_metrics_server_port(s), "GET", "/healthz", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	resp_free(&r);
	slc_metrics_server_stop(s);

	/* Stopped: the port is free again at once (SO_REUSEADDR). */
	t = slc_metrics_server_start(addr, render_counters, &c, &err);
	cr_expect_not_null(t, "rebinding %s: %d", addr, err);
	slc_metrics_server_stop(t);
}

Test(metrics, ipv6_loopback)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct counters c = {.rx = 7};
	struct timeval tv = {.tv_sec = 15};
	struct slc_metrics_server *s;
	struct resp r;
	int err = 0, fd;
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	s = slc_metrics_server_start("[::1]:0", render_counters, &c, &err);
	if (s == NULL && (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT))
		cr_skip_test("no IPv6 loopback here (%s)", strerror(-err));
	cr_assert_not_null(s, "%s", strerror(-err));
	a.sin6_port = htons(slc_metrics_server_port(s));
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	cr_assert_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
	cr_assert_eq(read_response(fd, &r), 0);
	close(fd);
	cr_expect_eq(r.status, 200);
	cr_expect_not_null(strstr(r.body, "sluice_rx_total{pool=\"a\"} 7\n"));
	resp_free(&r);
	/* Bound to ::1 only: nothing listens on 127.0.0.1 at that port. */
	fd = connect_to(slc_metrics_server_port(s));
	cr_expect_eq(fd, -ECONNREFUSED);
	if (fd >= 0)
		close(fd);
	slc_metrics_server_stop(s);
}

struct log_capture {
	pthread_mutex_t lock;
	char lines[2048];
	int worst; /* lowest level seen; 9: none */
};

static void __attribute__((format(printf, 3, 4)))
capture_log(void *ctx, int level, const char *fmt, ...)
{
	struct log_capture *lc = ctx;
	size_t n;
	va_list ap;

	pthread_mutex_lock(&lc->lock);
	n = strlen(lc->lines);
	va_start(ap, fmt);
	vsnprintf(lc->lines + n, sizeof(lc->lines) - n, fmt, ap);
	va_end(ap);
	n = strlen(lc->lines);
	if (n + 1 < sizeof(lc->lines))
		strcat(lc->lines, "\n");
	if (level < lc->worst)
		lc->worst = level;
	pthread_mutex_unlock(&lc->lock);
}

/* A buggy render: the second pool's loop starts the first family again. */
static int
render_split(void *ctx, struct slc_metrics_buf *b)
{
	(void)ctx;
	for (unsigned pool = 0; pool < 2; pool++) {
		char l[32];

		snprintf(l, sizeof(l), "pool=\"%u\"", pool);
		slc_metrics_family(b, "sluice_a_total", "counter", "A.");
		slc_metrics_u64(b, "sluice_a_total", l, pool);
		slc_metrics_family(b, "sluice_b_total", "counter", "B.");
		slc_metrics_u64(b, "sluice_b_total", l, pool);
	}
	return 0;
}

/* Refused calls leave valid text and a log line that says so. The second pass over pool 1
 * finds sluice_b_total still current, so only pool 1's sluice_a_total sample is lost. */
Test(metrics, refusals_are_logged_and_the_text_stays_valid)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct log_capture lc = {.lock = PTHREAD_MUTEX_INITIALIZER, .worst = 9};
	struct slc_metrics_server_cfg cfg = {
	        .addr = (struct sockaddr *)&a,
	        .addrlen = sizeof(a),
	        .render = render_split,
	        .log = capture_log,
	        .log_ctx = &lc,
	};
	struct slc_metrics_server *s;
	struct resp r;
	int err = 0;

	s = slc_metrics_server_create(&cfg, &err);
	cr_assert_not_null(s, "%s", strerror(-err));
	cr_assert_eq(http(slc_metrics_server_port(s), "GET", "/metrics", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "# HELP sluice_a_total A.\n"
	                         "# TYPE sluice_a_total counter\n"
	                         "sluice_a_total{pool=\"0\"} 0\n"
	                         "# HELP sluice_b_total B.\n"
	                         "# TYPE sluice_b_total counter\n"
	                         "sluice_b_total{pool=\"0\"} 0\n"
	                         "sluice_b_total{pool=\"1\"} 1\n" REFUSED_NONE);
	resp_free(&r);
	slc_metrics_server_stop(s);
	/* Stopped: the server's thread is joined, its lines are all in. */
	cr_expect_not_null(strstr(lc.lines, "2 calls refused"), "%s", lc.lines);
	cr_expect_not_null(strstr(lc.lines, "sluice_a_total: split"), "%s", lc.lines);
	cr_expect_eq(lc.worst, 0);

	cfg.addrlen = sizeof(a) - 1;
	cr_expect_null(slc_metrics_server_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
}

static double
now_s(void)
{
	return (double)slc_mono_ns() / 1e9;
}

Test(metrics, idle_clients_are_dropped, .timeout = 60)
{
	struct counters c = {0};
	struct slc_metrics_server *s = start_local(&c);
	uint16_t port = slc_metrics_server_port(s);
	int idle[SLC_METRICS_CONN_MAX];
	struct resp r;
	double t0 = now_s(), dt;
	char byte;

	/* Every slot taken by a client that connects and says nothing. */
	for (unsigned i = 0; i < SLC_METRICS_CONN_MAX; i++) {
		idle[i] = connect_to(port);
		cr_assert_geq(idle[i], 0, "%s", strerror(-idle[i]));
	}
	/* The next client waits for a slot: it gets its answer once the timeout has closed
	 * the idle ones, not before and not never. */
	cr_assert_eq(http(port, "GET", "/healthz", NULL, &r), 0);
	dt = now_s() - t0;
	cr_expect_eq(r.status, 200);
	resp_free(&r);
	cr_expect_geq(dt, SLC_METRICS_CONN_TIMEOUT_S - 1.0, "answered after %.2f s", dt);
	cr_expect_leq(dt, SLC_METRICS_CONN_TIMEOUT_S + 5.0, "answered after %.2f s", dt);
	for (unsigned i = 0; i < SLC_METRICS_CONN_MAX; i++) {
		ssize_t n = recv(idle[i], &byte, 1, 0);

		cr_expect(n == 0 || (n < 0 && errno == ECONNRESET), "idle client %u: %zd %s", i, n,
		          n < 0 ? strerror(errno) : "");
		close(idle[i]);
	}
	slc_metrics_server_stop(s);
}

/* The descriptors this process has open. */
static unsigned
open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	cr_assert_not_null(dir);
	while ((e = readdir(dir)) != NULL)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n; /* the DIR's own descriptor included */
}

/* Stop with clients connected and idle: returns, and they see the connection end. */
Test(metrics, stop_with_clients_connected)
{
	struct counters c = {0};
	struct slc_metrics_server *s = start_local(&c);
	unsigned before = open_fds();
	int fd = connect_to(slc_metrics_server_port(s));
	char byte;

	cr_assert_geq(fd, 0);
	/* Connected: the server (in this process) accepted, which adds its descriptor to ours. */
	for (int i = 0; i < 10000 && open_fds() < before + 2; i++)
		usleep(1000);
	cr_assert_geq(open_fds(), before + 2, "the server did not accept in 10 s");
	slc_metrics_server_stop(s);
	cr_expect_leq(recv(fd, &byte, 1, 0), 0);
	close(fd);
}

struct scraper {
	uint16_t port;
	unsigned n;
	unsigned ok;
	char why[256];
};

static void *
scrape_loop(void *arg)
{
	struct scraper *sc = arg;
	unsigned long long prev = 0;

	for (unsigned i = 0; i < sc->n; i++) {
		struct resp r;
		unsigned long long v;
		const char *p, *why;
		int rc = http(sc->port, "GET", "/metrics", NULL, &r);

		if (rc != 0) {
			snprintf(sc->why, sizeof(sc->why), "GET %u: %s", i, strerror(-rc));
			resp_free(&r);
			return NULL;
		}
		p = strstr(r.body, "sluice_rx_total{pool=\"a\"} ");
		why = exposition_error(r.body);
		if (r.status != 200 || p == NULL || why != NULL ||
		    sscanf(p, "sluice_rx_total{pool=\"a\"} %llu", &v) != 1 || v < prev) {
			snprintf(sc->why, sizeof(sc->why), "GET %u: status %d, %s, %.80s", i,
			         r.status, why ? why : "valid", p ? p : "no sample");
			resp_free(&r);
			return NULL;
		}
		prev = v;
		sc->ok++;
		resp_free(&r);
	}
	return NULL;
}

struct writer {
	struct counters *c;
	_Atomic bool stop;
};

static void *
count_loop(void *arg)
{
	struct writer *w = arg;

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed))
		atomic_fetch_add_explicit(&w->c->rx, 1, memory_order_relaxed);
	return NULL;
}

/* Four scrapers at once while a writer counts: every answer whole, counters never back. */
Test(metrics, concurrent_scrapes_while_counting, .timeout = 120)
{
	struct counters c = {0};
	struct slc_metrics_server *s = start_local(&c);
	struct scraper sc[4];
	struct writer w = {.c = &c};
	pthread_t wt, st[4];

	cr_assert_eq(pthread_create(&wt, NULL, count_loop, &w), 0);
	for (unsigned i = 0; i < 4; i++) {
		sc[i] = (struct scraper){.port = slc_metrics_server_port(s), .n = SCALE(500)};
		cr_assert_eq(pthread_create(&st[i], NULL, scrape_loop, &sc[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(st[i], NULL);
	atomic_store_explicit(&w.stop, true, memory_order_relaxed);
	pthread_join(wt, NULL);
	slc_metrics_server_stop(s);
	for (unsigned i = 0; i < 4; i++)
		cr_expect_eq(sc[i].ok, sc[i].n, "scraper %u: %s", i, sc[i].why);
	cr_expect_eq(atomic_load(&c.renders), 4u * SCALE(500));
}

/* CPU time of every thread of the process but the caller's, in seconds: the server's. */
static double
others_cpu_s(void)
{
	uint64_t proc = slc_process_cpu_ns();
	uint64_t self = slc_thread_cpu_ns();

	return ((double)proc - (double)self) / 1e9;
}

/* Takes every descriptor left under a soft limit lowered to a few above the lowest free one,
 * so that the test needs few and cannot starve another process. Returns how many it took. */
static unsigned
fds_exhaust(int *fds, unsigned cap, struct rlimit *saved)
{
	struct rlimit low;
	unsigned n = 0;
	int first = open("/dev/null", O_RDONLY | O_CLOEXEC);

	cr_assert_geq(first, 0);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, saved), 0);
	low = *saved;
	low.rlim_cur = (rlim_t)first + cap / 2;
	cr_assert_lt(low.rlim_cur, saved->rlim_cur, "the soft limit is already low");
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0, "%s", strerror(errno));
	fds[n++] = first;
	while (n < cap) {
		int fd = fcntl(first, F_DUPFD_CLOEXEC, 0);

		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	return n;
}

static void
fds_release(int *fds, unsigned n, const struct rlimit *saved)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	setrlimit(RLIMIT_NOFILE, saved);
}

/*
 * F7. With no descriptor left, accept() fails with EMFILE while the client waits in the
 * backlog, and the listening socket stays readable: a server that polls it again at once
 * spins (libmicrohttpd with no connection open did, at 55-70% of a CPU, for as long as the
 * descriptors were out). The server's thread must stay quiet, the client must be told at
 * once rather than left hanging, the refusal counted and logged, and the endpoint must
 * answer again as soon as descriptors are back.
 */
Test(metrics, out_of_fds_the_server_does_not_spin_and_recovers, .timeout = 60)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct log_capture lc = {.lock = PTHREAD_MUTEX_INITIALIZER, .worst = 9};
	struct counters c = {.rx = 5};
	struct slc_metrics_server_cfg cfg = {
	        .addr = (struct sockaddr *)&a,
	        .addrlen = sizeof(a),
	        .render = render_counters,
	        .render_ctx = &c,
	        .log = capture_log,
	        .log_ctx = &lc,
	};
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct timeval tv = {.tv_sec = 10};
	struct timespec window = {.tv_sec = 1};
	struct slc_metrics_server *s;
	struct rlimit saved;
	struct resp r;
	double cpu0, wall0, cpu_s, wall_s, deadline;
	int fds[256], cl, conn_rc, err = 0, rc;
	ssize_t got;
	unsigned n;
	char byte;

	s = slc_metrics_server_create(&cfg, &err);
	cr_assert_not_null(s, "%s", strerror(-err));
	a.sin_port = htons(slc_metrics_server_port(s));
	/* The client's socket exists before the descriptors run out; connect() needs none. */
	cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(cl, 0);
	setsockopt(cl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	/* No cr_assert until the descriptors are back: Criterion reports through them. */
	n = fds_exhaust(fds, sizeof(fds) / sizeof(fds[0]), &saved);
	conn_rc = connect(cl, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : -errno;
	if (conn_rc == 0)
		send(cl, req, sizeof(req) - 1, MSG_NOSIGNAL);
	/* A window of CPU time, not a wait for a condition: the server has a client it cannot
	 * accept for all of it. */
	cpu0 = others_cpu_s();
	wall0 = now_s();
	clock_nanosleep(CLOCK_MONOTONIC, 0, &window, NULL);
	cpu_s = others_cpu_s() - cpu0;
	wall_s = now_s() - wall0;
	/* Told, not left hanging: the connection ends unanswered (up to SO_RCVTIMEO). */
	got = recv(cl, &byte, 1, 0);
	rc = got < 0 ? -errno : 0;
	fds_release(fds, n, &saved);
	close(cl);

	cr_assert_eq(conn_rc, 0, "connect: %s", strerror(-conn_rc));
	cr_expect_lt(cpu_s, 0.2 * wall_s, "the server's thread used %.3f s of CPU in %.3f s", cpu_s,
	             wall_s);
	cr_expect(got == 0 || rc == -ECONNRESET, "recv: %zd %s", got, strerror(-rc));

	/* Descriptors back: the endpoint answers, and says what it refused. */
	deadline = now_s() + 10;
	do {
		rc = http(slc_metrics_server_port(s), "GET", "/metrics", NULL, &r);
		if (rc == 0 && r.status == 200)
			break;
		resp_free(&r);
	} while (now_s() < deadline);
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_expect_eq(r.status, 200);
	cr_expect_not_null(strstr(r.body, "sluice_rx_total{pool=\"a\"} 5\n"), "%s", r.body);
	cr_expect_not_null(strstr(r.body, "sluice_metrics_refused_total{reason=\"fd_limit\"} 1\n"),
	                   "%s", r.body);
	cr_expect_null(exposition_error(r.body), "%s", exposition_error(r.body));
	resp_free(&r);
	slc_metrics_server_stop(s);
	cr_expect_not_null(strstr(lc.lines, "file descriptors"), "%s", lc.lines);
}

/* The render's context too: counters first, so that render_counters reads them. */
struct checks {
	struct counters c;
	_Atomic bool healthy;
	_Atomic bool ready;
};

static bool
check_health(void *ctx, char *why, size_t cap)
{
	struct checks *k = ctx;

	if (atomic_load(&k->healthy))
		return true;
	snprintf(why, cap, "sink forward: 127.0.0.1:9 takes no data");
	return false;
}

static bool
check_ready(void *ctx, char *why, size_t cap)
{
	struct checks *k = ctx;

	if (atomic_load(&k->ready))
		return true;
	snprintf(why, cap, "draining");
	return false;
}

/* /healthz and /readyz say what their checks say: 200 "ok", or 503 and the reason. */
Test(metrics, healthz_and_readyz_answer_503_with_the_reason)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct checks k = {.c = {.rx = 1}};
	struct slc_metrics_server_cfg cfg = {
	        .addr = (struct sockaddr *)&a,
	        .addrlen = sizeof(a),
	        .render = render_counters,
	        .render_ctx = &k,
	        .health = check_health,
	        .ready = check_ready,
	};
	struct slc_metrics_server *s;
	struct resp r;
	uint16_t port;
	int err = 0;

	s = slc_metrics_server_create(&cfg, &err);
	cr_assert_not_null(s, "%s", strerror(-err));
	port = slc_metrics_server_port(s);

	cr_assert_eq(http(port, "GET", "/healthz", NULL, &r), 0);
	cr_expect_eq(r.status, 503);
	cr_expect_str_eq(r.body, "sink forward: 127.0.0.1:9 takes no data\n");
	resp_free(&r);
	cr_assert_eq(http(port, "GET", "/readyz", NULL, &r), 0);
	cr_expect_eq(r.status, 503);
	cr_expect_str_eq(r.body, "draining\n");
	resp_free(&r);
	/* /metrics answers whatever the checks say. */
	cr_assert_eq(http(port, "GET", "/metrics", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	resp_free(&r);

	atomic_store(&k.healthy, true);
	atomic_store(&k.ready, true);
	cr_assert_eq(http(port, "GET", "/healthz", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "ok\n");
	resp_free(&r);
	cr_assert_eq(http(port, "HEAD", "/readyz", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	resp_free(&r);
	cr_assert_eq(http(port, "POST", "/readyz", "hello", &r), 0);
	cr_expect_eq(r.status, 405);
	resp_free(&r);
	slc_metrics_server_stop(s);

	/* Without checks: both ok. */
	s = start_local(&k.c);
	cr_assert_eq(http(slc_metrics_server_port(s), "GET", "/readyz", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "ok\n");
	resp_free(&r);
	slc_metrics_server_stop(s);
}
