/* SPDX-License-Identifier: MIT */
/* server.c: the metrics HTTP endpoint: its own accept loop, libmicrohttpd for the requests. */
#include "server.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/clock.h"
#include "base/log.h"

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT    "text/plain; charset=utf-8"
#define CONTENT_TYPE_HTML    "text/html; charset=utf-8"
#define CONTENT_TYPE_JSON    "application/json"
/* The status page may run its own inline script and style and fetch from this endpoint,
 * nothing else: whatever it shows, it loads nothing from elsewhere. */
#define STATUS_CSP                                                                    \
	"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " \
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
#define LOG_LINES_PER_S 10u
#define LISTEN_BACKLOG  64
/* Connections taken per wake-up of the loop, so that a flood of connects cannot keep it
 * from serving the ones it has. */
#define ACCEPT_BURST 8u
/* How long the listening socket is left alone after an accept() failure the spare
 * descriptor cannot get round (ENFILE taken back by another process, ENOBUFS, ENOMEM). */
#define ACCEPT_BACKOFF_MS 100
/* At most one line about refused connections this often (the first is written at once). */
#define REFUSED_LOG_INTERVAL_S 10

enum refused_reason {
	REFUSED_FD_LIMIT, /* no descriptor for it: accepted on the spare and closed unanswered */
	REFUSED_NO_SLOT,  /* libmicrohttpd would not take it (memory, its connection limit) */
	REFUSED_NR,
};

#define ALLOW_GET "GET, HEAD"

static const char *const refused_names[REFUSED_NR] = {
        [REFUSED_FD_LIMIT] = "fd_limit",
        [REFUSED_NO_SLOT] = "no_slot",
};

/*
 * The server owns its listening socket and its thread; libmicrohttpd parses and answers
 * requests on the connections handed to it (MHD_add_connection), polled through its epoll
 * descriptor from our loop. Left to accept by itself, libmicrohttpd retries a failed
 * accept() at once when it has no connection open ("busy waiting for system resources"),
 * so running out of descriptors cost the process a CPU for as long as it lasted.
 */
struct slc_metrics_server {
	struct MHD_Daemon *mhd;
	/* Reused by every scrape. Only the server's thread touches it: it runs every
	 * request, one at a time. */
	struct slc_metrics_buf *buf;
	slc_metrics_render_fn render;
	void *render_ctx;
	slc_metrics_check_fn health;
	slc_metrics_check_fn ready;
	slc_metrics_action_fn reload;
	slc_metrics_status_fn status;
	struct slc_metrics_text *text; /* the status page's; the server's thread's, like buf */
	slc_log_fn log;
	void *log_ctx;
	/* The render formats doubles: under a locale with a decimal comma it would write
	 * "0,5". uselocale() is per thread, so the server thread alone is switched to "C". */
	locale_t c_locale;
	uint16_t port;

	int listen_fd;
	int epoll_fd; /* libmicrohttpd's, polled by our loop */
	int stop_fd;  /* eventfd: slc_metrics_server_stop() wakes the loop through it */
	/* Held in reserve for the moment descriptors run out: closed, it lets the loop take
	 * the waiting connection off the backlog and close it, so that the client is told at
	 * once and the listening socket stops being readable; then taken again. -1 while
	 * another thread of the process holds the descriptor it freed. */
	int spare_fd;
	pthread_t thread;
	int64_t backoff_until_ns; /* listening socket not polled until then; 0: polled */

	/* Only the server's thread writes or reads these: it accepts and renders. */
	uint64_t refused[REFUSED_NR];
	uint64_t forbidden;      /* POST /-/reload from outside loopback */
	uint64_t status_errors;  /* status renders that failed (500) */
	uint64_t refused_logged; /* refused[REFUSED_FD_LIMIT] at the last line about it */
	int64_t refused_log_ns;  /* when that line was written; 0: never */

	/* Rate limit of log lines. A mutex, because libmicrohttpd also logs from the thread
	 * that starts or stops it; lines are rare, so it costs nothing. */
	pthread_mutex_t log_lock;
	struct slc_log_limit log_limit; /* under log_lock */
};

/* At most LOG_LINES_PER_S lines a second; the next line written says how many were not. */
static void SLC_PRINTF(3, 4) slog(struct slc_metrics_server *s, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&s->log_lock);
	slc_log_limitedv(&s->log_limit, LOG_LINES_PER_S, slc_mono_ns(), s->log, s->log_ctx, level,
	                 "metrics: ", fmt, ap);
	pthread_mutex_unlock(&s->log_lock);
	va_end(ap);
}

/* libmicrohttpd's messages: mostly about clients (a bad request, a reset), so warnings. */
static void SLC_PRINTF(2, 0) mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct slc_metrics_server *s = cls;
	char line[400];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	slog(s, SLC_LOG_WARN, "libmicrohttpd: %s", line);
}

/* An answer with headers hdr[0] = hdr[1], hdr[2] = hdr[3], ... (NULL-ended; NULL: none). */
static enum MHD_Result
reply_hdrs(struct MHD_Connection *c, unsigned status, const char *content_type, const char *body,
           size_t len, enum MHD_ResponseMemoryMode mode, const char *const *hdr)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, mode);
	if (r == NULL)
		return MHD_NO; /* MHD closes the connection: the client sees the failure */
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES)
		goto err_destroy;
	for (; hdr != NULL && hdr[0] != NULL; hdr += 2)
		if (MHD_add_response_header(r, hdr[0], hdr[1]) != MHD_YES)
			goto err_destroy;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;

err_destroy:
	MHD_destroy_response(r);
	return MHD_NO;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *content_type, const char *body,
      size_t len, enum MHD_ResponseMemoryMode mode, const char *allow)
{
	const char *hdr[] = {MHD_HTTP_HEADER_ALLOW, allow, NULL};

	return reply_hdrs(c, status, content_type, body, len, mode, allow != NULL ? hdr : NULL);
}

static enum MHD_Result
reply_static(struct MHD_Connection *c, unsigned status, const char *body, const char *allow)
{
	return reply(c, status, CONTENT_TYPE_TEXT, body, strlen(body), MHD_RESPMEM_PERSISTENT,
	             allow);
}

/* The server's own counters, after the render's families. */
static int
render_refused(struct slc_metrics_server *s)
{
	static const char name[] = "sluice_metrics_refused_total";
	char l[64];
	int rc = slc_metrics_family(s->buf, name, "counter",
	                            "Connections to the metrics endpoint closed unanswered, by "
	                            "reason: fd_limit (no file descriptor left for it), "
	                            "no_slot (libmicrohttpd did not take it).");

	for (unsigned i = 0; rc == 0 && i < REFUSED_NR; i++) {
		rc = slc_metrics_labels(l, sizeof(l), "reason", refused_names[i], NULL);
		if (rc == 0)
			rc = slc_metrics_u64(s->buf, name, l, s->refused[i]);
	}
	return rc;
}

static enum MHD_Result
serve_metrics(struct slc_metrics_server *s, struct MHD_Connection *c)
{
	const char *first, *text;
	uint32_t refused;
	size_t len;
	int rc;

	slc_metrics_buf_reset(s->buf);
	rc = s->render(s->render_ctx, s->buf);
	if (rc == 0)
		rc = render_refused(s);
	if (rc == 0)
		rc = slc_metrics_family(s->buf, "sluice_metrics_forbidden_total", "counter",
		                        "POST /-/reload requests refused (403): their client was "
		                        "not on a loopback address.");
	if (rc == 0)
		rc = slc_metrics_u64(s->buf, "sluice_metrics_forbidden_total", "", s->forbidden);
	if (rc == 0 && s->status != NULL)
		rc = slc_metrics_family(s->buf, "sluice_metrics_status_errors_total", "counter",
		                        "Requests for the status page or its JSON answered 500: "
		                        "the status render failed (logged).");
	if (rc == 0 && s->status != NULL)
		rc = slc_metrics_u64(s->buf, "sluice_metrics_status_errors_total", "",
		                     s->status_errors);
	if (rc == 0 && slc_metrics_buf_oom(s->buf))
		rc = -ENOMEM;
	refused = slc_metrics_buf_refused(s->buf, &first);
	if (refused != 0)
		slog(s, SLC_LOG_ERROR, "render: %u calls refused, the first: %s", refused, first);
	if (rc != 0) {
		slog(s, SLC_LOG_ERROR, "render failed: %s", strerror(-rc));
		return reply_static(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "render failed\n", NULL);
	}
	text = slc_metrics_buf_text(s->buf, &len);
	return reply(c, MHD_HTTP_OK, CONTENT_TYPE_METRICS, text, len, MHD_RESPMEM_MUST_COPY, NULL);
}

/* GET /, /status (the page) and /status.json (its data), from the status callback. */
static enum MHD_Result
serve_status(struct slc_metrics_server *s, struct MHD_Connection *c,
             enum slc_metrics_status_format fmt)
{
	static const char *const html_hdr[] = {"Content-Security-Policy",
	                                       STATUS_CSP,
	                                       MHD_HTTP_HEADER_CACHE_CONTROL,
	                                       "no-store",
	                                       "X-Content-Type-Options",
	                                       "nosniff",
	                                       NULL};
	/* The JSON's headers are the page's last two. */
	const char *const *hdr = fmt == SLC_METRICS_STATUS_HTML ? html_hdr : html_hdr + 2;
	const char *text;
	size_t len;
	int rc;

	slc_metrics_text_reset(s->text);
	rc = s->status(s->render_ctx, fmt, s->text);
	if (rc == 0 && slc_metrics_text_oom(s->text))
		rc = -ENOMEM;
	if (rc != 0) {
		s->status_errors++;
		slog(s, SLC_LOG_ERROR, "status render failed: %s", strerror(-rc));
		return reply_static(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "status render failed\n",
		                    NULL);
	}
	text = slc_metrics_text_str(s->text, &len);
	return reply_hdrs(c, MHD_HTTP_OK,
	                  fmt == SLC_METRICS_STATUS_HTML ? CONTENT_TYPE_HTML : CONTENT_TYPE_JSON,
	                  text, len, MHD_RESPMEM_MUST_COPY, hdr);
}

/* /healthz, /readyz: "ok", or 503 and the check's reason. */
static enum MHD_Result
serve_check(struct slc_metrics_server *s, struct MHD_Connection *c, slc_metrics_check_fn check)
{
	char why[600];
	size_t n;

	if (check == NULL)
		return reply_static(c, MHD_HTTP_OK, "ok\n", NULL);
	why[0] = '\0';
	if (check(s->render_ctx, why, sizeof(why) - 1))
		return reply_static(c, MHD_HTTP_OK, "ok\n", NULL);
	n = strnlen(why, sizeof(why) - 1);
	if (n == 0)
		n = (size_t)snprintf(why, sizeof(why), "unavailable");
	why[n++] = '\n';
	return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, CONTENT_TYPE_TEXT, why, n,
	             MHD_RESPMEM_MUST_COPY, NULL);
}

bool
slc_metrics_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* POST /-/reload: only from this machine, which is who may send sluiced a SIGHUP too. */
static enum MHD_Result
serve_reload(struct slc_metrics_server *s, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *peer = ci != NULL ? ci->client_addr : NULL;
	char msg[4096];
	int rc;

	if (!slc_metrics_addr_is_loopback(peer)) {
		char addr[SLC_ADDR_SA_STR_MAX] = "?";

		if (peer != NULL)
			slc_addr_format(peer, sizeof(struct sockaddr_storage), addr, sizeof(addr));
		s->forbidden++;
		slog(s, SLC_LOG_WARN, "POST /-/reload from %s refused: only from loopback", addr);
		return reply_static(c, MHD_HTTP_FORBIDDEN, "forbidden: only from loopback\n", NULL);
	}
	msg[0] = '\0';
	rc = s->reload(s->render_ctx, msg, sizeof(msg));
	return reply(c,
	             rc == 0         ? MHD_HTTP_OK
	             : rc == -EINVAL ? MHD_HTTP_BAD_REQUEST
	                             : MHD_HTTP_INTERNAL_SERVER_ERROR,
	             CONTENT_TYPE_TEXT, msg, strnlen(msg, sizeof(msg)), MHD_RESPMEM_MUST_COPY,
	             NULL);
}

/*
 * Every request is answered on the handler's first call, once its headers are in: none of
 * our routes reads a body. A request that sent one (a POST) gets its answer without the
 * body being read, and libmicrohttpd closes that connection after the answer.
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct slc_metrics_server *s = cls;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	           strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool metrics = strcmp(url, "/metrics") == 0;
	bool healthz = strcmp(url, "/healthz") == 0;
	bool readyz = strcmp(url, "/readyz") == 0;
	bool page = s->status != NULL && (strcmp(url, "/") == 0 || strcmp(url, "/status") == 0);
	bool json = s->status != NULL && strcmp(url, "/status.json") == 0;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, "/-/reload") == 0 && s->reload != NULL) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
			                    "POST");
		return serve_reload(s, c);
	}
	if (!metrics && !healthz && !readyz && !page && !json)
		return reply_static(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
	if (!get)
		return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
		                    ALLOW_GET);
	if (healthz)
		return serve_check(s, c, s->health);
	if (readyz)
		return serve_check(s, c, s->ready);
	if (page || json)
		return serve_status(s, c, page ? SLC_METRICS_STATUS_HTML : SLC_METRICS_STATUS_JSON);
	return serve_metrics(s, c);
}

/* Bound and listening: bind errors come back as they are (libmicrohttpd would only log
 * them), and the port is known before the server starts. */
static int
listen_socket(const struct sockaddr *sa, socklen_t len, uint16_t *port)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int one = 1, fd, rc;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restarted daemon rebinds while the old connections sit in TIME_WAIT; Linux still
	 * refuses a port that another socket listens on. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, sa, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
	                                          : ((struct sockaddr_in *)&bound)->sin_port);
	return fd;
}

/* Back off: the listening socket is left out of the poll set for ACCEPT_BACKOFF_MS. */
static void
accept_backoff(struct slc_metrics_server *s)
{
	s->backoff_until_ns = (int64_t)slc_mono_ns() + ACCEPT_BACKOFF_MS * 1000000ll;
}

/* One line at once, then at most one every REFUSED_LOG_INTERVAL_S with the count since the
 * last one and the total: a scraper retrying every second must not fill the log. */
static void
refused_log(struct slc_metrics_server *s, int err)
{
	int64_t now = (int64_t)slc_mono_ns();
	uint64_t total = s->refused[REFUSED_FD_LIMIT];

	if (s->refused_log_ns != 0 &&
	    now - s->refused_log_ns < REFUSED_LOG_INTERVAL_S * 1000000000ll)
		return;
	slog(s, SLC_LOG_WARN,
	     "out of file descriptors (accept: %s): closed %llu connection(s) unanswered since "
	     "the last line, %llu in all (sluice_metrics_refused_total{reason=\"fd_limit\"}); "
	     "at most one such line every %d s",
	     strerror(err), (unsigned long long)(total - s->refused_logged),
	     (unsigned long long)total, REFUSED_LOG_INTERVAL_S);
	s->refused_logged = total;
	s->refused_log_ns = now;
}

/*
 * accept() failed with EMFILE or ENFILE: the client waits in the backlog, and the listening
 * socket stays readable, so polling it again would return at once, for as long as the
 * descriptors are out. The spare descriptor makes room to take the client off the backlog
 * and close it: it is told at once, and the socket is quiet until the next client. Without
 * the spare (another thread took the descriptor it freed) the loop backs off instead, and
 * the clients wait in the backlog.
 */
static void
accept_out_of_fds(struct slc_metrics_server *s, int err)
{
	int fd = -1;

	if (s->spare_fd >= 0) {
		close(s->spare_fd);
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			s->refused[REFUSED_FD_LIMIT]++;
			refused_log(s, err);
		}
		s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0 || s->spare_fd < 0)
		accept_backoff(s);
}

static unsigned
mhd_connections(struct slc_metrics_server *s)
{
	const union MHD_DaemonInfo *i =
	        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i != NULL ? i->num_connections : 0;
}

/* Takes up to ACCEPT_BURST waiting clients and hands them to libmicrohttpd. */
static void
accept_some(struct slc_metrics_server *s)
{
	for (unsigned i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd, err;

		if (mhd_connections(s) >= SLC_METRICS_CONN_MAX)
			return;
		fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &len,
		             SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			/* It closes fd itself when it refuses it. */
			if (MHD_add_connection(s->mhd, fd, (struct sockaddr *)&ss, len) !=
			    MHD_YES) {
				s->refused[REFUSED_NO_SLOT]++;
				slog(s, SLC_LOG_WARN, "a connection refused by libmicrohttpd: %s",
				     strerror(errno));
			}
			continue;
		}
		err = errno;
		switch (err) {
		case EAGAIN:
			return;
		/* Interrupted, or accept(2)'s errors of the connection that was waiting, not
		 * of the socket: the next one may be fine. */
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
		case ENETDOWN:
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case EOPNOTSUPP:
		case ENETUNREACH:
			continue;
		case EMFILE:
		case ENFILE:
			accept_out_of_fds(s, err);
			if (s->backoff_until_ns != 0)
				return;
			continue;
		default: /* ENOBUFS, ENOMEM, and what should never happen */
			slog(s, SLC_LOG_ERROR, "accept: %s; trying again in %d ms", strerror(err),
			     ACCEPT_BACKOFF_MS);
			accept_backoff(s);
			return;
		}
	}
}

/* How long poll() may wait: libmicrohttpd's next timeout, or the end of a back-off. */
static int
poll_timeout_ms(struct slc_metrics_server *s)
{
	MHD_UNSIGNED_LONG_LONG mhd_ms;
	int64_t ms = -1;

	if (MHD_get_timeout(s->mhd, &mhd_ms) == MHD_YES)
		ms = mhd_ms < INT_MAX ? (int64_t)mhd_ms : INT_MAX;
	if (s->backoff_until_ns != 0) {
		int64_t left = (s->backoff_until_ns - (int64_t)slc_mono_ns() + 999999) / 1000000;

		if (left <= 0) {
			s->backoff_until_ns = 0;
		} else if (ms < 0 || left < ms) {
			ms = left;
		}
	}
	return (int)ms;
}

static void *
serve_loop(void *arg)
{
	struct slc_metrics_server *s = arg;

	uselocale(s->c_locale);
	for (;;) {
		struct pollfd pfd[3] = {
		        {.fd = s->stop_fd, .events = POLLIN},
		        {.fd = s->epoll_fd, .events = POLLIN},
		        {.fd = s->listen_fd, .events = POLLIN},
		};
		int timeout = poll_timeout_ms(s);
		uint64_t stop;
		nfds_t n = 2;

		if (s->spare_fd < 0)
			s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		/* At the connection limit, or backing off, clients wait in the backlog. */
		if (s->backoff_until_ns == 0 && mhd_connections(s) < SLC_METRICS_CONN_MAX)
			n = 3;
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			struct timespec pause = {.tv_nsec = ACCEPT_BACKOFF_MS * 1000000l};

			/* ENOMEM: poll did not wait, and the next one would not either. */
			slog(s, SLC_LOG_ERROR, "poll: %s; trying again in %d ms", strerror(errno),
			     ACCEPT_BACKOFF_MS);
			nanosleep(&pause, NULL);
			/* The stop must not depend on a poll that keeps failing. */
			if (read(s->stop_fd, &stop, sizeof(stop)) == sizeof(stop))
				break;
			continue;
		}
		if (pfd[0].revents != 0)
			break;
		if (n == 3 && pfd[2].revents != 0)
			accept_some(s);
		/* Always, even without events: it also closes the connections that timed out. */
		MHD_run(s->mhd);
	}
	return NULL;
}

struct slc_metrics_server *
slc_metrics_server_create(const struct slc_metrics_server_cfg *cfg, int *err)
{
	struct slc_metrics_server *s;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;
	int rc;

	if (cfg == NULL || cfg->addr == NULL || cfg->render == NULL) {
		*err = -EINVAL;
		return NULL;
	}
	if (!(cfg->addr->sa_family == AF_INET && cfg->addrlen >= sizeof(struct sockaddr_in)) &&
	    !(cfg->addr->sa_family == AF_INET6 && cfg->addrlen >= sizeof(struct sockaddr_in6))) {
		*err = -EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	s->render = cfg->render;
	s->render_ctx = cfg->render_ctx;
	s->health = cfg->health;
	s->ready = cfg->ready;
	s->reload = cfg->reload;
	s->status = cfg->status;
	s->log = cfg->log != NULL ? cfg->log : slc_log_stderr;
	s->log_ctx = cfg->log_ctx;
	rc = pthread_mutex_init(&s->log_lock, NULL);
	if (rc != 0) {
		rc = -rc;
		goto err_free_server;
	}
	s->buf = slc_metrics_buf_create(&rc);
	if (s->buf == NULL)
		goto err_destroy_lock;
	s->text = slc_metrics_text_create(&rc);
	if (s->text == NULL)
		goto err_destroy_buf;
	s->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (s->c_locale == (locale_t)0) {
		rc = -errno;
		goto err_destroy_buf;
	}
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->spare_fd < 0) {
		rc = -errno;
		goto err_free_locale;
	}
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0) {
		rc = -errno;
		goto err_close_spare;
	}
	s->listen_fd = listen_socket(cfg->addr, cfg->addrlen, &s->port);
	if (s->listen_fd < 0) {
		rc = s->listen_fd;
		goto err_close_stop;
	}
	if (cfg->addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	/* The logger goes first: options before it would log through MHD's own logger. */
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	                          mhd_log, s, MHD_OPTION_CONNECTION_LIMIT,
	                          (unsigned)SLC_METRICS_CONN_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
	                          (unsigned)SLC_METRICS_CONN_TIMEOUT_S, MHD_OPTION_END);
	if (s->mhd == NULL) {
		rc = errno != 0 ? -errno : -EIO;
		slog(s, SLC_LOG_ERROR, "libmicrohttpd did not start: %s", strerror(-rc));
		goto err_close_listen;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		rc = -EIO;
		slog(s, SLC_LOG_ERROR, "libmicrohttpd gave no epoll descriptor");
		goto err_stop_mhd;
	}
	s->epoll_fd = info->epoll_fd;
	rc = -pthread_create(&s->thread, NULL, serve_loop, s);
	if (rc != 0)
		goto err_stop_mhd;
	pthread_setname_np(s->thread, "slc-metrics");
	return s;

err_stop_mhd:
	MHD_stop_daemon(s->mhd);
err_close_listen:
	close(s->listen_fd);
err_close_stop:
	close(s->stop_fd);
err_close_spare:
	close(s->spare_fd);
err_free_locale:
	freelocale(s->c_locale);
err_destroy_buf:
	slc_metrics_text_destroy(s->text);
	slc_metrics_buf_destroy(s->buf);
err_destroy_lock:
	pthread_mutex_destroy(&s->log_lock);
err_free_server:
	free(s);
err_out:
	*err = rc;
	return NULL;
}

struct slc_metrics_server *
slc_metrics_server_start(const char *addr_port, slc_metrics_render_fn render, void *ctx, int *err)
{
	struct slc_metrics_server_cfg cfg = {.render = render, .render_ctx = ctx};
	struct sockaddr_storage ss;
	const char *why;

	/* The form --metrics takes, read by the same parser. */
	if (addr_port == NULL ||
	    slc_addr_parse(addr_port, strlen(addr_port), &ss, &cfg.addrlen, &why) != 0) {
		*err = -EINVAL;
		return NULL;
	}
	cfg.addr = (const struct sockaddr *)&ss;
	return slc_metrics_server_create(&cfg, err);
}

uint16_t
slc_metrics_server_port(const struct slc_metrics_server *s)
{
	return s != NULL ? s->port : 0;
}

void
slc_metrics_server_stop(struct slc_metrics_server *s)
{
	uint64_t one = 1;

	if (s == NULL)
		return;
	/* Joins the server's thread: after this no render runs and no log line comes. An
	 * eventfd write fails only when the counter would overflow, which one write cannot. */
	if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
		slog(s, SLC_LOG_ERROR, "stop: eventfd write: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	MHD_stop_daemon(s->mhd); /* closes every connection */
	close(s->listen_fd);
	close(s->stop_fd);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	freelocale(s->c_locale);
	slc_metrics_text_destroy(s->text);
	slc_metrics_buf_destroy(s->buf);
	pthread_mutex_destroy(&s->log_lock);
	free(s);
}
