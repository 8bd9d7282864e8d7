/* SPDX-License-Identifier: MIT */
/* forward.c: the forward sink: per-worker batches re-framed and sent over TCP. */
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

#include "forward_priv.h"
#include "metrics/expo.h"

/* ---- the sink ---- */

static void SLC_PRINTF(2, 3)
        create_log(const struct slc_sink_forward_cfg *cfg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_logv(cfg->log, cfg->log_ctx, SLC_LOG_ERROR, "forward sink: ", fmt, ap);
	va_end(ap);
}

/* Copies HOST (without the [] around an IPv6 address) into s->host and resolves it. */
static int
resolve(struct slc_sink_forward *s, const struct slc_sink_forward_cfg *cfg)
{
	const char *h = cfg->host;
	size_t n = strlen(h);
	const char *why;
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
	/* Only an IPv6 address has a colon, and slc_addr_resolve never hands it to a name
	 * server; anything else must look like a host name before a resolver sees it. */
	if (strchr(s->host, ':') == NULL && !slc_addr_host_name_ok(s->host, n)) {
		create_log(cfg,
		           "host \"%s\" is not a host name, an IPv4 address or an IPv6 address",
		           cfg->host);
		return -EINVAL;
	}
	slc_addr_join(s->host, cfg->port, s->peer, sizeof(s->peer));
	rc = slc_addr_resolve(s->host, cfg->port, SOCK_STREAM, false, &s->addrs, &why);
	switch (rc) {
	case 0:
	case -ENOMEM:
		return rc;
	case -EAGAIN:
		create_log(cfg, "%s: %s (try again later)", s->peer, why);
		return rc;
	default:
		/* No address to send to, or a system error. */
		create_log(cfg, "%s: cannot resolve: %s", s->peer, why);
		return rc;
	}
}

void *
slc_sink_forward_create(const struct slc_sink_forward_cfg *cfg, int *err)
{
	struct slc_sink_forward *s;
	const char *why;
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
	if (slc_retry_cfg_check(&cfg->retry, &why) != 0) {
		create_log(cfg, "%s", why);
		rc = -EINVAL;
		goto err_out;
	}
	if (cfg->retry.max_elapsed_ms != 0 && cfg->dead_letter_dir == NULL) {
		create_log(cfg, "--retry-max-elapsed needs --dead-letter: a batch given up "
		                "must go somewhere");
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
	if (s->cfg.connect_timeout_ms == 0)
		s->cfg.connect_timeout_ms = SLC_SINK_FORWARD_CONNECT_TIMEOUT_MS;
	if (s->cfg.stall_ms == 0)
		s->cfg.stall_ms = SLC_SINK_FORWARD_STALL_MS;
	if (s->cfg.log == NULL)
		s->cfg.log = slc_log_stderr;
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
	if (cfg->dead_letter_dir != NULL) {
		s->dead_letter = slc_dead_letter_create(cfg->dead_letter_dir, "forward", s->cfg.log,
		                                        s->cfg.log_ctx, &rc);
		if (s->dead_letter == NULL)
			goto err_free_stats;
	}
	return s;

err_free_stats:
	free(s->st);
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
	slc_dead_letter_destroy(s->dead_letter);
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
		out->dead_lettered +=
		        atomic_load_explicit(&st->dead_lettered, memory_order_relaxed);
	}
}

/* The ops' create: the daemon's settings to a struct slc_sink_forward_cfg. Warns when a
 * listener takes messages that lines framing would split at the peer. */
static void *
forward_create_op(const struct slc_sink_spec *spec, const struct slc_sink_env *env, int *err)
{
	const struct slc_sink_forward_settings *st = env->settings;
	struct slc_sink_forward_cfg fc = {
	        .host = spec->arg,
	        .port = spec->port,
	        .framing =
	                st->framing == SLC_SINK_FORWARD_LEN32 ? SLC_FRAME_LEN32 : SLC_FRAME_LINES,
	        .batch_bytes = st->batch_bytes,
	        .retry = env->retry,
	        .dead_letter_dir = env->dead_letter_dir,
	        .log = env->log,
	        .log_ctx = env->log_ctx,
	};

	for (uint32_t i = 0; i < env->nlisten; i++) {
		if (st->framing == SLC_SINK_FORWARD_LINES &&
		    (env->listen[i].proto == SLC_LISTENER_UDP ||
		     env->listen[i].framing != SLC_FRAME_LINES)) {
			slc_logf(env->log, env->log_ctx, SLC_LOG_WARN, "",
			         "--sink forward with --forward-framing lines: listener %u "
			         "takes messages that may hold an LF, which would arrive "
			         "split at the peer; --forward-framing len32 keeps them whole",
			         i);
			break;
		}
	}
	return slc_sink_forward_create(&fc, err);
}

static void
forward_metrics(void *sink, struct slc_metrics_buf *b)
{
	struct slc_sink_forward *s = sink;
	struct slc_retry_totals rt = {0};
	struct slc_sink_forward_stats st;

	slc_sink_forward_stats(sink, &st);
	slc_metrics_family(b, "sluice_sink_messages_total", "counter", "messages sent");
	slc_metrics_u64(b, "sluice_sink_messages_total", "sink=\"forward\"", st.messages);
	slc_metrics_family(b, "sluice_sink_bytes_total", "counter", "bytes sent");
	slc_metrics_u64(b, "sluice_sink_bytes_total", "sink=\"forward\"", st.bytes);
	slc_metrics_family(b, "sluice_sink_forward_reconnects_total", "counter",
	                   "connections to the peer made again after one failed");
	slc_metrics_u64(b, "sluice_sink_forward_reconnects_total", NULL, st.reconnects);
	slc_metrics_family(b, "sluice_sink_undelivered_messages_total", "counter",
	                   "messages given up when --drain-timeout cancelled the sink");
	slc_metrics_u64(b, "sluice_sink_undelivered_messages_total", "sink=\"forward\"",
	                st.cancelled);
	for (uint32_t i = 0; i < SLC_SINK_FORWARD_WORKERS_MAX; i++)
		slc_retry_totals_add(&rt, &s->st[i].retry);
	slc_retry_metrics(b, "forward", &rt, true);
	if (s->dead_letter != NULL)
		slc_dead_letter_metrics(s->dead_letter, b);
}

const struct slc_sink_ops slc_sink_forward_ops = {
        .name = "forward",
        .desc = &slc_sink_forward_desc,
        .create = forward_create_op,
        .worker_open = slc_sink_forward_worker_open,
        .write = slc_sink_forward_write,
        .flush = slc_sink_forward_flush,
        .sync = slc_sink_forward_flush, /* flush returns once the kernel holds every byte */
        .cancel = slc_sink_forward_cancel,
        .reopen = NULL,
        .worker_close = slc_sink_forward_worker_close,
        .destroy = forward_destroy,
        .status = forward_status,
        .metrics = forward_metrics,
};
