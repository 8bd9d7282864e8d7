/* SPDX-License-Identifier: MIT */
/* sink_forward.c: the forward sink: per-worker batches re-framed and sent over TCP. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ring.h" /* SLC_ASSERT, SLC_CACHE_LINE */
#include "sink_forward.h"
#include "sink_priv.h"

#define LOG_PER_SEC 5
#define HOST_MAX    253 /* a DNS name's longest text form; IPv6 text is shorter */
#define PEER_MAX    (HOST_MAX + sizeof("[]:65535"))
#define DRAIN_READS 16 /* recv() calls spent emptying the receive queue before close */

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

static const uint8_t lf[1] = {'\n'}; /* the lines framing's end of a message sent uncopied */

/* One worker's counters, on lines of their own: the worker adds, any thread reads. */
struct wstats {
	alignas(SLC_CACHE_LINE) _Atomic uint64_t messages;
	_Atomic uint64_t bytes;
	_Atomic uint64_t batches;
	_Atomic uint64_t connects;
	_Atomic uint64_t reconnects;
	_Atomic uint64_t connect_failures;
	_Atomic uint64_t disconnects;
	_Atomic uint64_t resent_batches;
	_Atomic uint64_t cancelled;
	/* For health: when the batch being sent started waiting (0: none waits), and the
	 * error of the last connect attempt (0: it worked). */
	_Atomic uint64_t waiting_since_ns;
	_Atomic int connect_err;
};

static_assert(sizeof(struct wstats) % SLC_CACHE_LINE == 0, "no line shared by two workers");

struct slc_sink_forward {
	struct slc_sink_forward_cfg cfg; /* defaults filled in; cfg.host points at host */
	char host[HOST_MAX + 1];
	char peer[PEER_MAX]; /* "host:port" or "[v6]:port", for logs */
	struct addrinfo *addrs;
	/* An eventfd that cancel makes readable and nobody ever reads: every poll of a
	 * blocked worker includes it, so one write wakes them all, now and later. */
	int cancel_fd;
	_Atomic bool cancelled;
	struct wstats *st; /* [SLC_SINK_FORWARD_WORKERS_MAX] */
	_Atomic bool claimed[SLC_SINK_FORWARD_WORKERS_MAX];
};

/*
 * A worker's state: what sink.h calls struct slc_sink_worker. buf[0, used) holds the
 * re-framed messages of the current batch, msgs of them; they are the messages that
 * write() has accepted and the kernel has not yet taken.
 */
struct slc_sink_forward_worker {
	struct slc_sink_forward *sink;
	struct wstats *st;
	uint32_t worker;
	int fd;              /* the connection; -1: none, the next send makes one */
	bool ever_up;        /* a connection was made before: the next one is a reconnect */
	bool carried;        /* the connection carried a whole batch */
	uint32_t backoff_ms; /* wait before the next connect attempt; 0: none */
	uint64_t rng;        /* xorshift64 state for the backoff's jitter */
	uint32_t cap;        /* batch_bytes */
	uint32_t used;
	uint32_t msgs;
	uint64_t dropped; /* messages this worker gave up on after cancel: its closing line */
	struct slc_sink_loglimit log_limit;
	uint8_t *buf;
};

/* ---- little helpers ---- */

static inline bool
is_cancelled(const struct slc_sink_forward *s)
{
	/* A1: pairs with R1 in slc_sink_forward_cancel (only the flag itself matters). */
	return atomic_load_explicit(&s->cancelled, memory_order_acquire);
}

static void wlog(struct slc_sink_forward_worker *w, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* At most LOG_PER_SEC lines a second per worker; the next line says how many were not
 * written. A peer that is down for hours must not fill the log with connect failures. */
static void
wlog(struct slc_sink_forward_worker *w, int level, const char *fmt, ...)
{
	const struct slc_sink_forward_cfg *cfg = &w->sink->cfg;
	char prefix[PEER_MAX + 48];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "forward sink worker %u: %s: ", w->worker, w->sink->peer);
	va_start(ap, fmt);
	slc_sink_log_limited(&w->log_limit, LOG_PER_SEC, cfg->log, cfg->log_ctx, level, prefix, fmt,
	                     ap);
	va_end(ap);
}

/* ---- the sink ---- */

/* The syntax --sink accepts (cfg.c): letters, digits, '-' and '.'; no name server sees
 * anything else. */
static bool
host_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

static void create_log(const struct slc_sink_forward_cfg *cfg, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
create_log(const struct slc_sink_forward_cfg *cfg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_sink_logv(cfg->log, cfg->log_ctx, LOG_ERROR, "forward sink: ", fmt, ap);
	va_end(ap);
}

/* Copies HOST (without the [] around an IPv6 address) into s->host and resolves it. */
static int
resolve(struct slc_sink_forward *s, const struct slc_sink_forward_cfg *cfg)
{
	const char *h = cfg->host;
	size_t n = strlen(h);
	struct addrinfo hints;
	char port[8];
	int rc;

	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n > HOST_MAX) {
		create_log(cfg, "host \"%s\": empty or longer than %u characters", cfg->host,
		           HOST_MAX);
		return -EINVAL;
	}
	memcpy(s->host, h, n);
	s->host[n] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	if (strchr(s->host, ':') != NULL) {
		/* Only an IPv6 address has a colon; a name server must never see it. */
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
		snprintf(s->peer, sizeof(s->peer), "[%s]:%u", s->host, (unsigned)cfg->port);
	} else if (!host_name_ok(s->host)) {
		create_log(cfg,
		           "host \"%s\" is not a host name, an IPv4 address or an IPv6 address",
		           cfg->host);
		return -EINVAL;
	} else {
		snprintf(s->peer, sizeof(s->peer), "%s:%u", s->host, (unsigned)cfg->port);
	}
	snprintf(port, sizeof(port), "%u", (unsigned)cfg->port);
	rc = getaddrinfo(s->host, port, &hints, &s->addrs);
	switch (rc) {
	case 0:
		return 0;
	case EAI_AGAIN:
		create_log(cfg, "%s: %s (try again later)", s->peer, gai_strerror(rc));
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		rc = errno != 0 ? -errno : -EIO;
		create_log(cfg, "%s: cannot resolve: %s", s->peer, strerror(-rc));
		return rc;
	default:
		/* EAI_NONAME, EAI_NODATA, EAI_FAIL, EAI_ADDRFAMILY: no address to send to. */
		create_log(cfg, "%s: cannot resolve: %s", s->peer, gai_strerror(rc));
		return -EINVAL;
	}
}

void *
slc_sink_forward_create(const struct slc_sink_forward_cfg *cfg, int *err)
{
	struct slc_sink_forward *s;
	int rc;

	if (cfg == NULL || cfg->host == NULL) {
		rc = -EINVAL;
		goto err_out;
	}
	if (cfg->port == 0) {
		create_log(cfg, "port 0: PORT must be 1..65535");
		rc = -EINVAL;
		goto err_out;
	}
	if (cfg->framing != SLC_FRAME_LINES && cfg->framing != SLC_FRAME_LEN32) {
		create_log(cfg, "framing %s: only lines and len32 can be sent",
		           slc_frame_format_name(cfg->framing));
		rc = -EINVAL;
		goto err_out;
	}
	if (cfg->batch_bytes != 0 && (cfg->batch_bytes < SLC_SINK_FORWARD_BATCH_BYTES_MIN ||
	                              cfg->batch_bytes > SLC_SINK_FORWARD_BATCH_BYTES_MAX)) {
		create_log(cfg, "batch of %u bytes: it must be %u..%u", cfg->batch_bytes,
		           SLC_SINK_FORWARD_BATCH_BYTES_MIN, SLC_SINK_FORWARD_BATCH_BYTES_MAX);
		rc = -EINVAL;
		goto err_out;
	}
	if (cfg->backoff_max_ms > SLC_SINK_FORWARD_BACKOFF_LIMIT_MS ||
	    cfg->backoff_min_ms > SLC_SINK_FORWARD_BACKOFF_LIMIT_MS ||
	    (cfg->backoff_max_ms != 0 && cfg->backoff_max_ms < cfg->backoff_min_ms)) {
		create_log(cfg, "backoff %u..%u ms: it must be min <= max <= %u",
		           cfg->backoff_min_ms, cfg->backoff_max_ms,
		           SLC_SINK_FORWARD_BACKOFF_LIMIT_MS);
		rc = -EINVAL;
		goto err_out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	s->cfg = *cfg;
	if (s->cfg.batch_bytes == 0)
		s->cfg.batch_bytes = SLC_SINK_FORWARD_BATCH_BYTES_DEFAULT;
	if (s->cfg.backoff_min_ms == 0)
		s->cfg.backoff_min_ms = SLC_SINK_FORWARD_BACKOFF_MIN_MS;
	if (s->cfg.backoff_max_ms == 0)
		s->cfg.backoff_max_ms = s->cfg.backoff_min_ms > SLC_SINK_FORWARD_BACKOFF_MAX_MS
		                                ? s->cfg.backoff_min_ms
		                                : SLC_SINK_FORWARD_BACKOFF_MAX_MS;
	if (s->cfg.connect_timeout_ms == 0)
		s->cfg.connect_timeout_ms = SLC_SINK_FORWARD_CONNECT_TIMEOUT_MS;
	if (s->cfg.stall_ms == 0)
		s->cfg.stall_ms = SLC_SINK_FORWARD_STALL_MS;
	if (s->cfg.log == NULL)
		s->cfg.log = slc_sink_default_log;
	rc = resolve(s, cfg);
	if (rc != 0)
		goto err_free_sink;
	s->cfg.host = s->host;
	s->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->cancel_fd < 0) {
		rc = -errno;
		goto err_free_addrs;
	}
	/* Counters start at zero; memset is how a zero _Atomic uint64_t looks on every ABI
	 * we build for (lock-free, no hidden lock word). */
	s->st = aligned_alloc(SLC_CACHE_LINE, SLC_SINK_FORWARD_WORKERS_MAX * sizeof(*s->st));
	if (s->st == NULL) {
		rc = -ENOMEM;
		goto err_close_cancel;
	}
	memset(s->st, 0, SLC_SINK_FORWARD_WORKERS_MAX * sizeof(*s->st));
	return s;

err_close_cancel:
	close(s->cancel_fd);
err_free_addrs:
	freeaddrinfo(s->addrs);
err_free_sink:
	free(s);
err_out:
	*err = rc;
	return NULL;
}

/* The worker whose batch has waited longest, if longer than stall_ms, names the reason. */
static void
forward_health(struct slc_sink_forward *s, char *out, size_t cap)
{
	uint64_t now = slc_mono_ns(), oldest = 0;
	uint32_t worker = 0;
	int err = 0;

	for (uint32_t i = 0; i < SLC_SINK_FORWARD_WORKERS_MAX; i++) {
		/* Relaxed: a health answer wants a recent value; the two fields may be a
		 * moment apart, which changes a reason's wording at worst. */
		uint64_t since =
		        atomic_load_explicit(&s->st[i].waiting_since_ns, memory_order_relaxed);

		if (since == 0 || since > now || now - since <= oldest)
			continue;
		oldest = now - since;
		worker = i;
		err = atomic_load_explicit(&s->st[i].connect_err, memory_order_relaxed);
	}
	out[0] = '\0';
	if (oldest < (uint64_t)s->cfg.stall_ms * 1000000u)
		return;
	if (err != 0)
		snprintf(out, cap,
		         "cannot connect to %s: %s (worker %u has had a batch waiting %.1f s)",
		         s->peer, strerror(err), worker, (double)oldest * 1e-9);
	else
		snprintf(out, cap,
		         "%s takes little or no data (worker %u has had a batch waiting %.1f s)",
		         s->peer, worker, (double)oldest * 1e-9);
}

static void
forward_status(void *sink, struct slc_sink_status *out)
{
	struct slc_sink_forward_stats st;

	slc_sink_forward_stats(sink, &st);
	*out = (struct slc_sink_status){
	        .delivered = st.messages,
	        .undelivered_drain_timeout = st.cancelled,
	};
	forward_health(sink, out->health, sizeof(out->health));
}

static void
forward_destroy(void *sink)
{
	struct slc_sink_forward *s = sink;

	if (s == NULL)
		return;
	close(s->cancel_fd);
	freeaddrinfo(s->addrs);
	free(s->st);
	free(s);
}

void
slc_sink_forward_cancel(void *sink)
{
	struct slc_sink_forward *s = sink;
	uint64_t one = 1;

	/* R1: pairs with A1 in is_cancelled. */
	atomic_store_explicit(&s->cancelled, true, memory_order_release);
	/* Wakes the polls; a full counter (never, at one write per cancel) is readable too. */
	while (write(s->cancel_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void
slc_sink_forward_stats(void *sink, struct slc_sink_forward_stats *out)
{
	struct slc_sink_forward *s = sink;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < SLC_SINK_FORWARD_WORKERS_MAX; i++) {
		struct wstats *st = &s->st[i];

		out->messages += atomic_load_explicit(&st->messages, memory_order_relaxed);
		out->bytes += atomic_load_explicit(&st->bytes, memory_order_relaxed);
		out->batches += atomic_load_explicit(&st->batches, memory_order_relaxed);
		out->connects += atomic_load_explicit(&st->connects, memory_order_relaxed);
		out->reconnects += atomic_load_explicit(&st->reconnects, memory_order_relaxed);
		out->connect_failures +=
		        atomic_load_explicit(&st->connect_failures, memory_order_relaxed);
		out->disconnects += atomic_load_explicit(&st->disconnects, memory_order_relaxed);
		out->resent_batches +=
		        atomic_load_explicit(&st->resent_batches, memory_order_relaxed);
		out->cancelled += atomic_load_explicit(&st->cancelled, memory_order_relaxed);
	}
}

/* ---- a worker's connection ---- */

/* Sleeps up to ms; 0 when the time is up, -ECANCELED as soon as cancel is called. */
static int
pause_ms(struct slc_sink_forward_worker *w, uint32_t ms)
{
	uint64_t end = slc_mono_ns() + (uint64_t)ms * 1000000u;
	struct pollfd pfd = {.fd = w->sink->cancel_fd, .events = POLLIN};

	for (;;) {
		uint64_t now = slc_mono_ns();
		int r;

		if (now >= end)
			return 0;
		r = poll(&pfd, 1, (int)((end - now + 999999u) / 1000000u));
		if (r > 0)
			return -ECANCELED;
		if (r < 0 && errno != EINTR && errno != EAGAIN)
			return 0; /* cannot wait (ENOMEM): try the connect early */
	}
}

/* The wait before the next attempt: [d/2, d], so that workers spread out. */
static uint32_t
backoff_jitter(struct slc_sink_forward_worker *w)
{
	uint32_t d = w->backoff_ms;

	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return d / 2 + (uint32_t)(w->rng % (d - d / 2 + 1));
}

static void
backoff_grow(struct slc_sink_forward_worker *w)
{
	const struct slc_sink_forward_cfg *cfg = &w->sink->cfg;

	if (w->backoff_ms == 0)
		w->backoff_ms = cfg->backoff_min_ms;
	else if (w->backoff_ms > cfg->backoff_max_ms / 2)
		w->backoff_ms = cfg->backoff_max_ms;
	else
		w->backoff_ms *= 2;
}

/* The error a socket reports (SO_ERROR), as -errno; dflt when it reports none. */
static int
sock_error(int fd, int dflt)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
		return -errno;
	return e != 0 ? -e : dflt;
}

/* One attempt at one address: 0 and *out, -ECANCELED, or why it failed. */
static int
conn_try_one(struct slc_sink_forward_worker *w, const struct addrinfo *ai, int *out)
{
	const struct slc_sink_forward *s = w->sink;
	uint64_t end = slc_mono_ns() + (uint64_t)s->cfg.connect_timeout_ms * 1000000u;
	int fd, rc;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (s->cfg.sndbuf_bytes != 0) {
		int v = (int)s->cfg.sndbuf_bytes;

		/* Best effort: the kernel caps it at wmem_max anyway. */
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	}
	/* Non-blocking, so that the attempt has our timeout and cancel can end it; the
	 * socket stays non-blocking: sends wait in poll for the same reasons. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto connected;
	if (errno != EINPROGRESS && errno != EINTR) {
		rc = -errno;
		goto err_close;
	}
	for (;;) {
		struct pollfd pfd[2] = {
		        {.fd = fd, .events = POLLOUT},
		        {.fd = s->cancel_fd, .events = POLLIN},
		};
		uint64_t now = slc_mono_ns();
		int r;

		if (now >= end) {
			rc = -ETIMEDOUT;
			goto err_close;
		}
		r = poll(pfd, 2, (int)((end - now + 999999u) / 1000000u));
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			rc = -errno;
			goto err_close;
		}
		if (pfd[1].revents != 0) {
			rc = -ECANCELED;
			goto err_close;
		}
		if (pfd[0].revents != 0)
			break;
	}
	rc = sock_error(fd, 0);
	if (rc != 0)
		goto err_close;
connected:
	*out = fd;
	return 0;

err_close:
	close(fd);
	return rc;
}

/* Connects, waiting and trying again until it works: 0, or -ECANCELED. */
static int
conn_up(struct slc_sink_forward_worker *w)
{
	struct slc_sink_forward *s = w->sink;
	int rc = 0;

	SLC_ASSERT(w->fd < 0);
	for (;;) {
		if (w->backoff_ms != 0) {
			rc = pause_ms(w, backoff_jitter(w));
			if (rc != 0)
				return rc;
		}
		for (const struct addrinfo *ai = s->addrs; ai != NULL; ai = ai->ai_next) {
			rc = conn_try_one(w, ai, &w->fd);
			if (rc == 0 || rc == -ECANCELED)
				break;
		}
		if (rc == -ECANCELED)
			return rc;
		if (rc == 0)
			break;
		atomic_store_explicit(&w->st->connect_err, -rc, memory_order_relaxed);
		slc_sink_stat_add(&w->st->connect_failures, 1);
		backoff_grow(w);
		wlog(w, LOG_WARN, "connect failed: %s; next attempt within %u ms", strerror(-rc),
		     w->backoff_ms);
	}
	atomic_store_explicit(&w->st->connect_err, 0, memory_order_relaxed);
	slc_sink_stat_add(&w->st->connects, 1);
	if (w->ever_up) {
		slc_sink_stat_add(&w->st->reconnects, 1);
		wlog(w, LOG_INFO, "connected again");
	} else {
		wlog(w, LOG_DEBUG, "connected");
	}
	w->ever_up = true;
	w->carried = false;
	return 0;
}

/*
 * Closes the connection in order: what the kernel holds still goes out, then our FIN.
 * Bytes the peer sent us (it should send none) are read and dropped first: Linux answers
 * a close with unread data by a reset, which would throw away what is still queued.
 */
static void
conn_close(struct slc_sink_forward_worker *w)
{
	uint8_t scratch[512];

	if (w->fd < 0)
		return;
	for (int i = 0; i < DRAIN_READS; i++)
		if (recv(w->fd, scratch, sizeof(scratch), MSG_DONTWAIT) <= 0)
			break;
	close(w->fd);
	w->fd = -1;
}

/* rc: why the connection ended (-ESHUTDOWN: the peer sent a FIN). */
static void
conn_lost(struct slc_sink_forward_worker *w, int rc)
{
	slc_sink_stat_add(&w->st->disconnects, 1);
	if (rc == -ESHUTDOWN)
		wlog(w, LOG_WARN, "the peer closed the connection; reconnecting");
	else
		wlog(w, LOG_WARN, "connection lost: %s; reconnecting", strerror(-rc));
	conn_close(w);
	/* A peer that accepts and drops us at once must not make us spin. */
	if (!w->carried)
		backoff_grow(w);
}

/*
 * Waits until the connection can take more bytes: 0; -ECANCELED; -ESHUTDOWN when the
 * peer sent a FIN (it is going away, and what we send now may be reset: better to stop
 * and send it again elsewhere); or the socket's error.
 */
static int
wait_out(struct slc_sink_forward_worker *w)
{
	struct pollfd pfd[2] = {
	        {.fd = w->fd, .events = POLLOUT | POLLRDHUP},
	        {.fd = w->sink->cancel_fd, .events = POLLIN},
	};

	for (;;) {
		int r = poll(pfd, 2, -1);

		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (pfd[1].revents != 0)
			return -ECANCELED;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			return sock_error(w->fd, -EPIPE);
		if (pfd[0].revents & POLLRDHUP)
			return -ESHUTDOWN;
		if (pfd[0].revents & POLLOUT)
			return 0;
	}
}

/* Hands iov[0..cnt) to the kernel whole: 0, -ECANCELED, or why the connection failed
 * (*progress: some bytes were sent). iov is consumed. */
static int
send_all(struct slc_sink_forward_worker *w, struct iovec *iov, int cnt, bool *progress)
{
	struct msghdr mh;
	int rc;

	while (cnt > 0 && iov->iov_len == 0) {
		iov++;
		cnt--;
	}
	while (cnt > 0) {
		ssize_t n;

		/* Before every send, not only on EAGAIN: a FIN or cancel is seen at once. */
		rc = wait_out(w);
		if (rc != 0)
			return rc;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)cnt;
		n = sendmsg(w->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		*progress = *progress || n > 0;
		/* A short send: go on from the first byte not sent. */
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/*
 * Sends one batch (iov[0..cnt), cnt <= 2, msgs messages, bytes bytes) until the kernel has
 * all of it, on as many connections as it takes; a connection lost in the middle makes
 * the whole batch go again on the next. 0, or -ECANCELED.
 */
static int
batch_send(struct slc_sink_forward_worker *w, const struct iovec *iov, int cnt, uint32_t msgs,
           uint64_t bytes)
{
	struct iovec cur[2];
	bool resent = false;
	int rc;

	SLC_ASSERT(cnt <= 2);
	/* Relaxed: read only for health (forward_health). */
	atomic_store_explicit(&w->st->waiting_since_ns, slc_mono_ns(), memory_order_relaxed);
	for (;;) {
		bool progress = false;

		if (is_cancelled(w->sink)) {
			rc = -ECANCELED;
			goto out;
		}
		if (w->fd < 0) {
			rc = conn_up(w);
			if (rc != 0)
				goto out;
		}
		memcpy(cur, iov, (size_t)cnt * sizeof(*iov));
		rc = send_all(w, cur, cnt, &progress);
		if (rc == 0)
			break;
		if (rc == -ECANCELED)
			goto out;
		conn_lost(w, rc);
		resent = resent || progress;
	}
	slc_sink_stat_add(&w->st->messages, msgs);
	slc_sink_stat_add(&w->st->bytes, bytes);
	slc_sink_stat_add(&w->st->batches, 1);
	if (resent)
		slc_sink_stat_add(&w->st->resent_batches, 1);
	w->carried = true;
	w->backoff_ms = 0;
out:
	atomic_store_explicit(&w->st->waiting_since_ns, 0, memory_order_relaxed);
	return rc;
}

static int
buf_send(struct slc_sink_forward_worker *w)
{
	struct iovec iov = {.iov_base = w->buf, .iov_len = w->used};
	int rc;

	rc = batch_send(w, &iov, 1, w->msgs, w->used);
	if (rc == 0) {
		w->used = 0;
		w->msgs = 0;
	}
	return rc;
}

static void wlog_always(struct slc_sink_forward_worker *w, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Not rate-limited: for the two lines a worker writes about a cancel, which must not be
 * among the lines a limit drops. */
static void
wlog_always(struct slc_sink_forward_worker *w, int level, const char *fmt, ...)
{
	const struct slc_sink_forward_cfg *cfg = &w->sink->cfg;
	char prefix[PEER_MAX + 48];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "forward sink worker %u: %s: ", w->worker, w->sink->peer);
	va_start(ap, fmt);
	slc_sink_logv(cfg->log, cfg->log_ctx, level, prefix, fmt, ap);
	va_end(ap);
}

/*
 * After cancel: the buffer's messages and `more` others are not delivered. They are
 * counted here, once each, whether write() accepted them earlier or is giving them up now
 * (sink.h: the daemon does not count a batch that ends in -ECANCELED). One line at the
 * first drop; the worker's exact total comes in one line at close, rather than one line
 * per batch that a rate limit would thin out.
 */
static int
drop(struct slc_sink_forward_worker *w, uint64_t more)
{
	uint64_t lost = w->msgs + more;

	if (lost != 0) {
		slc_sink_stat_add(&w->st->cancelled, lost);
		if (w->dropped == 0)
			wlog_always(
			        w, LOG_ERROR,
			        "cancelled at the drain timeout: %llu messages not delivered so "
			        "far; later ones are dropped too, and this worker's total is "
			        "logged when it closes",
			        (unsigned long long)lost);
		w->dropped += lost;
	}
	w->used = 0;
	w->msgs = 0;
	return -ECANCELED;
}

/* ---- the operations ---- */

static int
forward_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out)
{
	struct slc_sink_forward *s = sink;
	struct slc_sink_forward_worker *w;
	int rc;

	if (worker >= SLC_SINK_FORWARD_WORKERS_MAX)
		return -EINVAL;
	/* A2: pairs with R2 in forward_worker_close: the previous owner's last counter
	 * updates are done before this owner starts. */
	if (atomic_exchange_explicit(&s->claimed[worker], true, memory_order_acquire))
		return -EBUSY;
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		rc = -ENOMEM;
		goto err_unclaim;
	}
	w->buf = malloc(s->cfg.batch_bytes);
	if (w->buf == NULL) {
		rc = -ENOMEM;
		goto err_free_worker;
	}
	w->sink = s;
	w->st = &s->st[worker];
	w->worker = worker;
	w->fd = -1;
	w->cap = s->cfg.batch_bytes;
	w->rng = slc_mono_ns() ^ (0x9e3779b97f4a7c15ull * (worker + 1));
	if (w->rng == 0)
		w->rng = 1;
	/* No connect here: a peer that is down at start-up must not stop the daemon. The
	 * first batch connects, and says so in the log if it cannot. */
	*out = (struct slc_sink_worker *)w;
	return 0;

err_free_worker:
	free(w);
err_unclaim:
	atomic_store_explicit(&s->claimed[worker], false, memory_order_release);
	return rc;
}

static int
forward_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_sink_forward_worker *w = (struct slc_sink_forward_worker *)sw;
	bool len32 = w->sink->cfg.framing == SLC_FRAME_LEN32;
	uint32_t over = len32 ? 4 : 1; /* framing bytes per message */
	int rc;

	if (is_cancelled(w->sink))
		return drop(w, n);
	for (uint32_t i = 0; i < n; i++) {
		const struct slc_msg *m = &msgs[i];
		uint64_t framed = (uint64_t)m->len + over;
		uint8_t *p;

		if (framed > w->cap - w->used) {
			if (w->used != 0) {
				rc = buf_send(w);
				if (rc != 0)
					return drop(w, n - i);
			}
			if (framed > w->cap) {
				/* Too large to copy: sent where it lies, on its own. */
				uint8_t hdr[4] = {(uint8_t)(m->len >> 24), (uint8_t)(m->len >> 16),
				                  (uint8_t)(m->len >> 8), (uint8_t)m->len};
				struct iovec iov[2];

				if (len32) {
					iov[0] = (struct iovec){hdr, 4};
					iov[1] = (struct iovec){(void *)(uintptr_t)m->data, m->len};
				} else {
					iov[0] = (struct iovec){(void *)(uintptr_t)m->data, m->len};
					iov[1] = (struct iovec){(void *)(uintptr_t)lf, 1};
				}
				rc = batch_send(w, iov, 2, 1, framed);
				if (rc != 0)
					return drop(w, n - i);
				continue;
			}
		}
		p = w->buf + w->used;
		if (len32) {
			p[0] = (uint8_t)(m->len >> 24);
			p[1] = (uint8_t)(m->len >> 16);
			p[2] = (uint8_t)(m->len >> 8);
			p[3] = (uint8_t)m->len;
			if (m->len != 0)
				memcpy(p + 4, m->data, m->len);
		} else {
			if (m->len != 0)
				memcpy(p, m->data, m->len);
			p[m->len] = '\n';
		}
		w->used += (uint32_t)framed;
		w->msgs++;
	}
	return 0;
}

static int
forward_flush(struct slc_sink_worker *sw)
{
	struct slc_sink_forward_worker *w = (struct slc_sink_forward_worker *)sw;

	if (w->msgs == 0)
		return 0;
	if (is_cancelled(w->sink) || buf_send(w) != 0)
		return drop(w, 0);
	return 0;
}

static void
forward_worker_close(struct slc_sink_worker *sw)
{
	struct slc_sink_forward_worker *w = (struct slc_sink_forward_worker *)sw;
	struct slc_sink_forward *s;
	uint32_t worker;

	if (w == NULL)
		return;
	s = w->sink;
	worker = w->worker;
	/* Blocks while the peer is away, until cancel; drop() counts what is left then. */
	(void)forward_flush(sw);
	if (w->dropped != 0)
		wlog_always(w, LOG_ERROR,
		            "%llu messages undelivered at the drain timeout (this worker's total)",
		            (unsigned long long)w->dropped);
	conn_close(w);
	free(w->buf);
	free(w);
	/* R2: pairs with A2 in forward_worker_open. */
	atomic_store_explicit(&s->claimed[worker], false, memory_order_release);
}

const struct slc_sink_ops slc_sink_forward_ops = {
        .name = "forward",
        .worker_open = forward_worker_open,
        .write = forward_write,
        .flush = forward_flush,
        .sync = forward_flush, /* flush returns once the kernel holds every byte */
        .reopen = NULL,
        .worker_close = forward_worker_close,
        .destroy = forward_destroy,
        .status = forward_status,
};
