/* SPDX-License-Identifier: MIT */
/* forward_worker.c: a forward sink worker: its connection, its batches, its operations. */
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

#include "claim.h"
#include "forward_priv.h"
#include "iov.h"

static const uint8_t lf[1] = {'\n'}; /* the lines framing's end of a message sent uncopied */

/* A worker's line, "forward sink worker N: PEER: " first. wlog: at most LOG_PER_SEC lines
 * a second per worker, the next line saying how many were not written (a peer that is
 * down for hours must not fill the log with connect failures). wlog_always: not limited,
 * for the two lines a worker writes about a cancel, which must not be among the lines a
 * limit drops. */
#define wlog(w, ...)        wlog_at(w, true, __VA_ARGS__)
#define wlog_always(w, ...) wlog_at(w, false, __VA_ARGS__)

static void SLC_PRINTF(4, 5)
        wlog_at(struct slc_sink_forward_worker *w, bool limited, int level, const char *fmt, ...)
{
	const struct slc_sink_forward_cfg *cfg = &w->sink->cfg;
	char prefix[PEER_MAX + 48];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "forward sink worker %u: %s: ", w->worker, w->sink->peer);
	va_start(ap, fmt);
	if (limited)
		slc_log_limitedv(&w->log_limit, LOG_PER_SEC, slc_mono_ns(), cfg->log, cfg->log_ctx,
		                 level, prefix, fmt, ap);
	else
		slc_logv(cfg->log, cfg->log_ctx, level, prefix, fmt, ap);
	va_end(ap);
}

/* The lines an operator must see (the breaker opens or closes, messages go to the dead
 * letters): a limit of their own, so that connect failures never crowd them out. */
static void SLC_PRINTF(3, 4)
        notice(struct slc_sink_forward_worker *w, int level, const char *fmt, ...)
{
	const struct slc_sink_forward_cfg *cfg = &w->sink->cfg;
	char prefix[PEER_MAX + 48];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "forward sink worker %u: %s: ", w->worker, w->sink->peer);
	va_start(ap, fmt);
	slc_log_limitedv(&w->notice_limit, LOG_PER_SEC, slc_mono_ns(), cfg->log, cfg->log_ctx,
	                 level, prefix, fmt, ap);
	va_end(ap);
}

/* ---- a worker's connection ---- */

/* Sleeps up to ns; 0 when the time is up, -ECANCELED as soon as cancel is called. */
static int
pause_ns(struct slc_sink_forward_worker *w, uint64_t ns)
{
	uint64_t end = slc_mono_ns() + ns;
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

/*
 * The breaker entered a new state: counted, and logged. The lines an operator needs (the
 * peer is down: open from closed; it is back: closed) are notices; a probe that fails
 * (half-open, open again) is routine while the peer stays away, and logged at debug level
 * with the connect lines.
 */
static void
breaker_changed(struct slc_sink_forward_worker *w, enum slc_breaker_state from, int err)
{
	enum slc_breaker_state to = w->breaker.state;

	slc_retry_count_state(&w->st->retry, to);
	if (to == SLC_BREAKER_OPEN && from == SLC_BREAKER_CLOSED)
		notice(w, SLC_LOG_WARN,
		       "circuit breaker open after %u failures in a row (%s): one probe every "
		       "%llu ms until the peer answers",
		       w->breaker.threshold, strerror(-err),
		       (unsigned long long)(w->breaker.cooldown_ns / 1000000u));
	else if (to == SLC_BREAKER_CLOSED)
		notice(w, SLC_LOG_INFO, "circuit breaker closed: the peer answers again");
	else if (to == SLC_BREAKER_HALF_OPEN)
		wlog(w, SLC_LOG_DEBUG, "circuit breaker half-open: probing the peer");
	else
		wlog(w, SLC_LOG_DEBUG, "circuit breaker open again: the probe failed (%s)",
		     strerror(-err));
}

/*
 * An attempt failed with err: counted by reason, told to the breaker, and the wait before
 * the next attempt drawn. 0, or -ETIMEDOUT when --retry-max-elapsed has run out.
 */
static int
attempt_failed(struct slc_sink_forward_worker *w, int err)
{
	uint64_t now = slc_mono_ns();
	enum slc_breaker_state from = w->breaker.state;

	slc_retry_count(&w->st->retry, slc_retry_reason_of_errno(err));
	if (slc_breaker_failed(&w->breaker, now))
		breaker_changed(w, from, err);
	if (slc_retry_failed(&w->retry, now, &w->wait_ns) != 0) {
		slc_sink_stat_add(&w->st->retry.given_up, 1);
		w->wait_ns = 0;
		return -ETIMEDOUT;
	}
	return 0;
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

/*
 * Connects, waiting and trying again until it works: 0, -ECANCELED, or -ETIMEDOUT when
 * --retry-max-elapsed ran out (the batch is to be given up).
 */
static int
conn_up(struct slc_sink_forward_worker *w)
{
	struct slc_sink_forward *s = w->sink;
	int rc = 0;

	SLC_ASSERT(w->fd < 0);
	for (;;) {
		uint64_t left, now;
		bool changed;

		if (w->wait_ns != 0) {
			rc = pause_ns(w, w->wait_ns);
			w->wait_ns = 0;
			if (rc != 0)
				return rc;
		}
		/* Open: the cool-down first (a dead peer is not hammered), then one probe; but
		 * not past --retry-max-elapsed, which gives the batch up at its deadline. */
		now = slc_mono_ns();
		left = slc_breaker_wait_ns(&w->breaker, now, &changed);
		if (left != 0) {
			uint64_t budget = slc_retry_left_ns(&w->retry, now);

			if (budget <= left) {
				rc = pause_ns(w, budget);
				if (rc != 0)
					return rc;
				slc_retry_give_up(&w->retry);
				slc_sink_stat_add(&w->st->retry.given_up, 1);
				wlog(w, SLC_LOG_ERROR,
				     "--retry-max-elapsed reached with the "
				     "circuit breaker open");
				return -ETIMEDOUT;
			}
			w->wait_ns = left;
			continue;
		}
		if (changed)
			breaker_changed(w, SLC_BREAKER_OPEN, 0);
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
		if (attempt_failed(w, rc) != 0) {
			wlog(w, SLC_LOG_ERROR, "connect failed: %s; --retry-max-elapsed reached",
			     strerror(-rc));
			return -ETIMEDOUT;
		}
		wlog(w, SLC_LOG_WARN, "connect failed: %s; next attempt in %llu ms", strerror(-rc),
		     (unsigned long long)(w->wait_ns / 1000000u));
	}
	atomic_store_explicit(&w->st->connect_err, 0, memory_order_relaxed);
	slc_sink_stat_add(&w->st->connects, 1);
	{
		enum slc_breaker_state from = w->breaker.state;

		if (slc_breaker_succeeded(&w->breaker))
			breaker_changed(w, from, 0);
	}
	if (w->ever_up) {
		slc_sink_stat_add(&w->st->reconnects, 1);
		wlog(w, SLC_LOG_INFO, "connected again");
	} else {
		wlog(w, SLC_LOG_DEBUG, "connected");
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

/* rc: why the connection ended (-ESHUTDOWN: the peer sent a FIN). 0, or -ETIMEDOUT when
 * --retry-max-elapsed ran out. */
static int
conn_lost(struct slc_sink_forward_worker *w, int rc)
{
	slc_sink_stat_add(&w->st->disconnects, 1);
	if (rc == -ESHUTDOWN)
		wlog(w, SLC_LOG_WARN, "the peer closed the connection; reconnecting");
	else
		wlog(w, SLC_LOG_WARN, "connection lost: %s; reconnecting", strerror(-rc));
	conn_close(w);
	/* A peer that accepts and drops us at once must not make us spin: a connection that
	 * carried nothing is a failed attempt; after one that did, the next is immediate. */
	if (!w->carried)
		return attempt_failed(w, rc);
	slc_retry_succeeded(&w->retry);
	return 0;
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
		iov = slc_sink_iov_advance(iov, &cnt, (size_t)n);
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
		resent = resent || progress;
		rc = conn_lost(w, rc);
		if (rc != 0)
			goto out;
	}
	slc_sink_stat_add(&w->st->messages, msgs);
	slc_sink_stat_add(&w->st->bytes, bytes);
	slc_sink_stat_add(&w->st->batches, 1);
	if (resent)
		slc_sink_stat_add(&w->st->resent_batches, 1);
	w->carried = true;
	w->wait_ns = 0;
	slc_retry_succeeded(&w->retry);
out:
	atomic_store_explicit(&w->st->waiting_since_ns, 0, memory_order_relaxed);
	return rc;
}

/* The messages of the buffer (frames as write() made them) to the dead letters, in
 * chunks: 0 once all are written; else the error, and some of them may be written twice
 * (the whole buffer stays, and goes out or to the dead letters again later). */
static int
buf_dead_letter(struct slc_sink_forward_worker *w)
{
	bool len32 = w->sink->cfg.framing == SLC_FRAME_LEN32;
	struct slc_msg chunk[64];
	uint32_t n = 0, at = 0;
	int rc;

	while (at < w->used) {
		struct slc_msg *m = &chunk[n++];

		memset(m, 0, sizeof(*m));
		if (len32) {
			const uint8_t *p = w->buf + at;

			m->len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
			         p[3];
			m->data = p + 4;
			at += 4 + m->len;
		} else {
			const uint8_t *p = w->buf + at;
			const uint8_t *lf_at = memchr(p, '\n', w->used - at);

			m->data = p;
			m->len = (uint32_t)(lf_at - p);
			at += m->len + 1;
		}
		if (n == sizeof(chunk) / sizeof(chunk[0]) || at >= w->used) {
			rc = slc_dead_letter_put(w->sink->dead_letter, w->worker, chunk, n,
			                         SLC_DEAD_LETTER_RETRIES_EXHAUSTED);
			if (rc != 0)
				return rc;
			n = 0;
		}
	}
	return 0;
}

/*
 * batch_send, and when --retry-max-elapsed gives the batch up, its messages to the dead
 * letters (m: the one large message of iov; NULL: the buffer's). 0 or -ECANCELED. Dead
 * letters that cannot be written leave the batch where it was: it is tried again, as
 * without --dead-letter; never dropped.
 */
static int
send_or_dead_letter(struct slc_sink_forward_worker *w, const struct iovec *iov, int cnt,
                    uint32_t msgs, uint64_t bytes, const struct slc_msg *m)
{
	for (;;) {
		int rc = batch_send(w, iov, cnt, msgs, bytes);

		if (rc != -ETIMEDOUT)
			return rc;
		rc = m != NULL ? slc_dead_letter_put(w->sink->dead_letter, w->worker, m, 1,
		                                     SLC_DEAD_LETTER_RETRIES_EXHAUSTED)
		               : buf_dead_letter(w);
		if (rc == 0) {
			slc_sink_stat_add(&w->st->dead_lettered, msgs);
			notice(w, SLC_LOG_ERROR,
			       "%u messages written to the dead letters after --retry-max-elapsed",
			       msgs);
			return 0;
		}
	}
}

static int
buf_send(struct slc_sink_forward_worker *w)
{
	struct iovec iov = {.iov_base = w->buf, .iov_len = w->used};
	int rc;

	rc = send_or_dead_letter(w, &iov, 1, w->msgs, w->used, NULL);
	if (rc == 0) {
		w->used = 0;
		w->msgs = 0;
	}
	return rc;
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
			        w, SLC_LOG_ERROR,
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

int
slc_sink_forward_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out)
{
	struct slc_sink_forward *s = sink;
	struct slc_sink_forward_worker *w;
	int rc;

	w = slc_sink_worker_claim(s->claimed, SLC_SINK_FORWARD_WORKERS_MAX, worker, sizeof(*w),
	                          &rc);
	if (w == NULL)
		return rc;
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
	slc_retry_init(&w->retry, &s->cfg.retry,
	               slc_mono_ns() ^ (0x9e3779b97f4a7c15ull * (worker + 1)));
	slc_breaker_init(&w->breaker, &s->cfg.retry);
	slc_retry_counters_open(&w->st->retry);
	/* No connect here: a peer that is down at start-up must not stop the daemon. The
	 * first batch connects, and says so in the log if it cannot. */
	*out = (struct slc_sink_worker *)w;
	return 0;

err_free_worker:
	slc_sink_worker_unclaim(s->claimed, worker, w);
	return rc;
}

int
slc_sink_forward_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n)
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
				rc = send_or_dead_letter(w, iov, 2, 1, framed, m);
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

int
slc_sink_forward_flush(struct slc_sink_worker *sw)
{
	struct slc_sink_forward_worker *w = (struct slc_sink_forward_worker *)sw;

	if (w->msgs == 0)
		return 0;
	if (is_cancelled(w->sink) || buf_send(w) != 0)
		return drop(w, 0);
	return 0;
}

void
slc_sink_forward_worker_close(struct slc_sink_worker *sw)
{
	struct slc_sink_forward_worker *w = (struct slc_sink_forward_worker *)sw;
	struct slc_sink_forward *s;
	uint32_t worker;

	if (w == NULL)
		return;
	s = w->sink;
	worker = w->worker;
	/* Blocks while the peer is away, until cancel; drop() counts what is left then. */
	(void)slc_sink_forward_flush(sw);
	if (w->dropped != 0)
		wlog_always(w, SLC_LOG_ERROR,
		            "%llu messages undelivered at the drain timeout (this worker's total)",
		            (unsigned long long)w->dropped);
	conn_close(w);
	slc_dead_letter_worker_close(s->dead_letter, worker);
	free(w->buf);
	slc_sink_worker_unclaim(s->claimed, worker, w);
}
