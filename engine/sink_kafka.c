/* SPDX-License-Identifier: MIT */
/* sink_kafka.c: the Kafka sink: keyed records produced through librdkafka, shared or per worker. */
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring.h" /* SLC_ASSERT, SLC_CACHE_LINE */
#include "sink_kafka.h"
#include "sink_priv.h"

#define LOG_PER_SEC     10   /* lines a second for the whole sink; the rest are counted */
#define PURGE_WAIT_MS   2000 /* after a purge, how long the reports of purged records take */
#define SHARED_SLICE_MS 1    /* a shared producer's flush waits for everyone: look often */
#define ERRSTR_LEN      512

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/*
 * One worker index's counters. They outlive the worker's handle (they live until destroy):
 * with a shared producer, the delivery reports of a closed worker's last records may still
 * come, on another worker's thread. The first line is written by the worker only; the
 * second by delivery reports, on whichever thread serves them.
 */
struct wstate {
	alignas(SLC_CACHE_LINE) _Atomic uint64_t produced;
	_Atomic uint64_t bytes;
	_Atomic uint64_t rejected;
	_Atomic uint64_t cancelled;
	_Atomic uint64_t queue_full;
	_Atomic uint64_t keyless;
	/* For health: when this worker's records started waiting (its in_flight left 0), on
	 * the coarse clock (coarse_ns). */
	_Atomic uint64_t waiting_since_ns;
	alignas(SLC_CACHE_LINE) _Atomic uint64_t delivered;
	_Atomic uint64_t failed;
	/* Given up at --drain-timeout, after cancel: failed reports (purged), and records
	 * librdkafka refused in a write that then returned -ECANCELED (sink.h's status). */
	_Atomic uint64_t undelivered;
	/* For health: the last successful report of this worker's records (coarse_ns). */
	_Atomic uint64_t delivered_ns;
	/* Records handed to produce whose report has not run: raised by the worker before it
	 * produces, lowered by the report (R1). Signed: a write lowers it again for the records
	 * librdkafka refused, after their reports of the others may have run. */
	_Atomic int64_t in_flight;
};

static_assert(sizeof(struct wstate) % SLC_CACHE_LINE == 0, "no line shared by two workers");

struct slc_sink_kafka;

/* One librdkafka producer and the counters of its partitions. */
struct producer {
	struct slc_sink_kafka *sink;
	rd_kafka_t *rk; /* NULL: not open (per-worker: the worker is closed) */
	rd_kafka_topic_t *rkt;
	_Atomic uint64_t errors;
	/* For health: when librdkafka said all brokers are down (coarse_ns); 0 once a record
	 * is delivered again. */
	_Atomic uint64_t all_down_ns;
	_Atomic uint32_t partitions; /* 1 + the highest partition delivered to, capped */
	_Atomic uint64_t part[SLC_SINK_KAFKA_PARTITIONS_MAX];
	_Atomic uint64_t part_other;
};

struct slc_sink_kafka {
	struct slc_sink_kafka_cfg cfg; /* props not kept: they are in conf */
	struct slc_sink_kafka_spec spec;
	rd_kafka_conf_t *conf; /* the template each producer is made from (a dup of it) */
	uint32_t workers;
	uint32_t nprod; /* 1 (shared) or workers */
	struct wstate *ws;
	struct producer *prod;
	_Atomic bool cancelled;
	_Atomic bool claimed[SLC_SINK_KAFKA_WORKERS_MAX];
	/* The log's rate limit, shared by every thread that logs (see slog). */
	_Atomic uint64_t log_window_s;
	_Atomic uint32_t log_lines;
	_Atomic uint32_t log_suppressed;
};

/* A worker's handle: what sink.h calls struct slc_sink_worker. */
struct slc_sink_kafka_worker {
	struct slc_sink_kafka *sink;
	struct wstate *ws;
	struct producer *p;
	uint32_t worker;
	uint64_t flush_mark; /* failed + rejected when flush last looked */
	uint64_t sync_mark;  /* failed + rejected when sync last looked */
};

/* ---- little helpers ---- */

static inline uint64_t
ld(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/*
 * The clock of health's timestamps: CLOCK_MONOTONIC_COARSE, a few ms coarse and a few ns a
 * read, since every delivery report takes one; health counts in seconds.
 */
static inline uint64_t
coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline bool
is_cancelled(const struct slc_sink_kafka *s)
{
	/* A2: pairs with R2 in slc_sink_kafka_cancel (only the flag itself matters). */
	return atomic_load_explicit(&s->cancelled, memory_order_acquire);
}

static void slog(struct slc_sink_kafka *s, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * At most LOG_PER_SEC lines a second for the whole sink, from any thread (delivery reports
 * and librdkafka's own lines come from several); a line after a quiet spell says how many
 * were left out. Brokers that are down for an hour must not fill the log. The window is
 * approximate (two threads may both open a new second): a line more or less is fine.
 */
static void
slog(struct slc_sink_kafka *s, int level, const char *fmt, ...)
{
	uint64_t sec = slc_mono_ns() / 1000000000u;
	uint64_t win = atomic_load_explicit(&s->log_window_s, memory_order_relaxed);
	uint32_t sup;
	char line[768];
	va_list ap;
	int n;

	if (win != sec &&
	    atomic_compare_exchange_strong_explicit(&s->log_window_s, &win, sec,
	                                            memory_order_relaxed, memory_order_relaxed))
		atomic_store_explicit(&s->log_lines, 0, memory_order_relaxed);
	if (atomic_fetch_add_explicit(&s->log_lines, 1, memory_order_relaxed) >= LOG_PER_SEC) {
		atomic_fetch_add_explicit(&s->log_suppressed, 1, memory_order_relaxed);
		return;
	}
	n = snprintf(line, sizeof(line), "kafka sink %s: ", s->spec.topic);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	sup = atomic_exchange_explicit(&s->log_suppressed, 0, memory_order_relaxed);
	if (sup != 0) {
		size_t len = strlen(line);

		snprintf(line + len, sizeof(line) - len, " (%u lines suppressed before this)", sup);
	}
	s->cfg.log(s->cfg.log_ctx, level, "%s", line);
}

/* ---- the spec ---- */

/* Letters, digits, '-' and '.': no name server or librdkafka parser sees anything else. */
static bool
host_name_ok(const char *h, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = h[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

/* "1".."65535", digits only. */
static bool
port_ok(const char *p, size_t n)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* One BROKER: HOST[:PORT] or [IPv6][:PORT]. */
static bool
broker_ok(const char *b, size_t n)
{
	const char *colon;

	if (n > 0 && b[0] == '[') {
		const char *close = memchr(b, ']', n);
		char host[INET6_ADDRSTRLEN + 1];
		struct in6_addr a6;
		size_t hn;

		if (close == NULL)
			return false;
		hn = (size_t)(close - b) - 1;
		if (hn == 0 || hn >= sizeof(host))
			return false;
		memcpy(host, b + 1, hn);
		host[hn] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return false;
		n -= (size_t)(close - b) + 1;
		b = close + 1;
		if (n == 0)
			return true;
		return b[0] == ':' && port_ok(b + 1, n - 1);
	}
	colon = memchr(b, ':', n);
	if (colon == NULL)
		return host_name_ok(b, n);
	return host_name_ok(b, (size_t)(colon - b)) &&
	       port_ok(colon + 1, n - (size_t)(colon - b) - 1);
}

static bool
topic_ok(const char *t, size_t n)
{
	if (n == 0 || n > SLC_SINK_KAFKA_TOPIC_MAX || (n == 1 && t[0] == '.') ||
	    (n == 2 && t[0] == '.' && t[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = t[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
			return false;
	}
	return true;
}

int
slc_sink_kafka_spec_parse(const char *spec, struct slc_sink_kafka_spec *out, const char **why)
{
	const char *q, *end, *slash = NULL, *b;
	const char *dummy;
	bool per_worker = false;
	size_t bn, tn;

	if (why == NULL)
		why = &dummy;
	if (spec == NULL) {
		*why = "no spec";
		return -EINVAL;
	}
	q = strchr(spec, '?');
	end = q != NULL ? q : spec + strlen(spec);
	for (const char *p = spec; p < end; p++)
		if (*p == '/')
			slash = p;
	if (slash == NULL) {
		*why = "no /TOPIC after the brokers";
		return -EINVAL;
	}
	bn = (size_t)(slash - spec);
	tn = (size_t)(end - slash - 1);
	if (bn == 0) {
		*why = "no BROKER before /TOPIC";
		return -EINVAL;
	}
	if (bn > SLC_SINK_KAFKA_BROKERS_MAX) {
		*why = "the BROKER list is longer than 1024 characters";
		return -EINVAL;
	}
	for (b = spec; b < slash;) {
		const char *comma = memchr(b, ',', (size_t)(slash - b));
		size_t n = (size_t)((comma != NULL ? comma : slash) - b);

		if (!broker_ok(b, n)) {
			*why = "a BROKER is not HOST[:PORT] or [IPv6][:PORT] (PORT 1..65535)";
			return -EINVAL;
		}
		b += n + (comma != NULL);
		if (comma != NULL && b == slash) {
			*why = "a BROKER is not HOST[:PORT] or [IPv6][:PORT] (PORT 1..65535)";
			return -EINVAL;
		}
	}
	if (!topic_ok(slash + 1, tn)) {
		*why = "TOPIC is not 1..249 of letters, digits, '.', '_' and '-'";
		return -EINVAL;
	}
	if (q != NULL) {
		if (strcmp(q + 1, "producers=per-worker") == 0) {
			per_worker = true;
		} else if (strcmp(q + 1, "producers=shared") != 0) {
			*why = "the only option is ?producers=shared or ?producers=per-worker";
			return -EINVAL;
		}
	}
	if (out != NULL) {
		memcpy(out->brokers, spec, bn);
		out->brokers[bn] = '\0';
		memcpy(out->topic, slash + 1, tn);
		out->topic[tn] = '\0';
		out->per_worker = per_worker;
	}
	return 0;
}

/* ---- librdkafka's callbacks ---- */

/*
 * A record's delivery report: on the thread that serves the producer's queue (rd_kafka_poll
 * or rd_kafka_flush), which with a shared producer may be any worker's. The record's
 * wstate rides in its msg_opaque.
 */
static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct producer *p = opaque;
	struct wstate *ws = m->_private;

	(void)rk;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		uint64_t n = atomic_fetch_add_explicit(&ws->failed, 1, memory_order_relaxed) + 1;

		/* After cancel, a failure is a purge (or a record that was about to fail):
		 * given up at the drain timeout, which status reports. */
		if (is_cancelled(p->sink))
			slc_sink_stat_add(&ws->undelivered, 1);

		slog(p->sink, LOG_ERROR,
		     "worker %u: delivery failed (partition %d): %s (%llu failed on this worker)",
		     (unsigned)(ws - p->sink->ws), (int)m->partition, rd_kafka_err2str(m->err),
		     (unsigned long long)n);
	} else {
		slc_sink_stat_add(&ws->delivered, 1);
		/* Relaxed: read only for health (kafka_health). */
		atomic_store_explicit(&ws->delivered_ns, coarse_ns(), memory_order_relaxed);
		if (atomic_load_explicit(&p->all_down_ns, memory_order_relaxed) != 0)
			atomic_store_explicit(&p->all_down_ns, 0, memory_order_relaxed);
		if (m->partition >= 0 && (uint32_t)m->partition < SLC_SINK_KAFKA_PARTITIONS_MAX) {
			uint32_t part = (uint32_t)m->partition;
			uint32_t hi = atomic_load_explicit(&p->partitions, memory_order_relaxed);

			slc_sink_stat_add(&p->part[part], 1);
			while (hi < part + 1 && !atomic_compare_exchange_weak_explicit(
			                                &p->partitions, &hi, part + 1,
			                                memory_order_relaxed, memory_order_relaxed))
				;
		} else {
			slc_sink_stat_add(&p->part_other, 1);
			atomic_store_explicit(&p->partitions, SLC_SINK_KAFKA_PARTITIONS_MAX,
			                      memory_order_relaxed);
		}
	}
	/* R1: pairs with A1 in wait_reports: the counts above are seen by whoever sees the
	 * record leave in_flight. */
	atomic_fetch_sub_explicit(&ws->in_flight, 1, memory_order_release);
}

/* librdkafka's error events (from rd_kafka_poll, on a worker's thread): brokers down, a
 * fatal error of the idempotent producer, ... Records are not lost by these alone. */
static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct producer *p = opaque;

	slc_sink_stat_add(&p->errors, 1);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		uint64_t none = 0;

		/* The first such event of an outage dates it; a delivery ends it. Relaxed:
		 * read only for health. */
		atomic_compare_exchange_strong_explicit(&p->all_down_ns, &none, coarse_ns(),
		                                        memory_order_relaxed, memory_order_relaxed);
	}
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[ERRSTR_LEN];
		rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, why, sizeof(why));

		slog(p->sink, LOG_ERROR,
		     "fatal producer error %s: %s; every later record of this producer is refused: "
		     "restart sluiced",
		     rd_kafka_err2name(e), why);
		return;
	}
	/* A failed connection is in librdkafka's own log already (its FAIL line, on_log). */
	if (err != RD_KAFKA_RESP_ERR__TRANSPORT)
		slog(p->sink, LOG_WARN, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err),
		     reason);
}

/* librdkafka's own log lines (syslog levels), from its threads. */
static void
on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct producer *p = rd_kafka_opaque(rk);
	int ours = level <= 3   ? LOG_ERROR
	           : level == 4 ? LOG_WARN
	           : level <= 6 ? LOG_INFO
	                        : LOG_DEBUG;

	if (p == NULL)
		return;
	slog(p->sink, ours, "librdkafka %s: %s", fac, buf);
}

/* ---- producers ---- */

static int
producer_open(struct slc_sink_kafka *s, struct producer *p)
{
	char errstr[ERRSTR_LEN];
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(s->conf);
	rd_kafka_resp_err_t e;

	if (conf == NULL)
		return -ENOMEM;
	rd_kafka_conf_set_opaque(conf, p);
	p->sink = s;
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (p->rk == NULL) {
		/* On failure the configuration is still ours. */
		rd_kafka_conf_destroy(conf);
		slog(s, LOG_ERROR, "cannot create a producer: %s", errstr);
		return -EINVAL;
	}
	p->rkt = rd_kafka_topic_new(p->rk, s->spec.topic, NULL);
	if (p->rkt == NULL) {
		e = rd_kafka_last_error();
		slog(s, LOG_ERROR, "cannot open the topic: %s", rd_kafka_err2str(e));
		rd_kafka_destroy(p->rk);
		p->rk = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Records of workers ws[0..n) without a delivery report yet. */
static int64_t
in_flight_sum(const struct wstate *ws, uint32_t n)
{
	int64_t sum = 0;

	for (uint32_t i = 0; i < n; i++)
		/* A1: pairs with R1 in on_delivery. */
		sum += atomic_load_explicit(&ws[i].in_flight, memory_order_acquire);
	return sum;
}

/*
 * Purges what p still holds (queued and in flight), serves the reports that makes (each a
 * failure, counted and logged), and destroys the producer. The records purged in flight
 * may still have reached Kafka: their report says "purged", not "lost".
 */
static void
producer_close(struct slc_sink_kafka *s, struct producer *p, const struct wstate *ws, uint32_t n)
{
	int64_t left;

	if (p->rk == NULL)
		return;
	left = in_flight_sum(ws, n);
	if (left > 0) {
		uint64_t end = slc_mono_ns() + (uint64_t)PURGE_WAIT_MS * 1000000u;

		slog(s, LOG_ERROR, "%lld records without a delivery report at close: purged",
		     (long long)left);
		rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		while (in_flight_sum(ws, n) > 0 && slc_mono_ns() < end)
			rd_kafka_poll(p->rk, (int)SLC_SINK_KAFKA_POLL_MS);
	}
	rd_kafka_topic_destroy(p->rkt);
	rd_kafka_destroy(p->rk);
	p->rkt = NULL;
	p->rk = NULL;
}

/* ---- the sink ---- */

static void create_log(const struct slc_sink_kafka_cfg *cfg, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
create_log(const struct slc_sink_kafka_cfg *cfg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_sink_logv(cfg->log, cfg->log_ctx, LOG_ERROR, "kafka sink: ", fmt, ap);
	va_end(ap);
}

/* Sets one property of the template; its name in the error is what the operator wrote. */
static int
conf_set(const struct slc_sink_kafka_cfg *cfg, rd_kafka_conf_t *conf, const char *name,
         const char *value)
{
	char errstr[ERRSTR_LEN];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		create_log(cfg, "property %s: %s", name, errstr);
		return -EINVAL;
	}
	return 0;
}

/* The template: our defaults, the operator's properties over them, then the brokers. */
static int
conf_build(struct slc_sink_kafka *s, const struct slc_sink_kafka_cfg *cfg)
{
	static const char *const defaults[][2] = {
	        {"client.id", "sluiced"},
	        /* Order per partition across retries, and no duplicate from a retry. */
	        {"enable.idempotence", "true"},
	        /* The partition a Java producer picks for the same key; keyless: random. */
	        {"partitioner", "murmur2_random"},
	};
	int rc;

	s->conf = rd_kafka_conf_new();
	if (s->conf == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		rc = conf_set(cfg, s->conf, defaults[i][0], defaults[i][1]);
		if (rc != 0)
			return rc;
	}
	for (uint32_t i = 0; i < cfg->nprops; i++) {
		const char *eq = cfg->props[i] != NULL ? strchr(cfg->props[i], '=') : NULL;
		char name[256];
		size_t n;

		if (eq == NULL || eq == cfg->props[i] ||
		    (n = (size_t)(eq - cfg->props[i])) >= sizeof(name)) {
			create_log(cfg, "property \"%s\" is not NAME=VALUE",
			           cfg->props[i] != NULL ? cfg->props[i] : "(null)");
			return -EINVAL;
		}
		memcpy(name, cfg->props[i], n);
		name[n] = '\0';
		if (strcmp(name, "bootstrap.servers") == 0 ||
		    strcmp(name, "metadata.broker.list") == 0) {
			create_log(
			        cfg,
			        "property %s: the brokers are the --sink's (kafka://BROKERS/TOPIC)",
			        name);
			return -EINVAL;
		}
		rc = conf_set(cfg, s->conf, name, eq + 1);
		if (rc != 0)
			return rc;
	}
	rc = conf_set(cfg, s->conf, "bootstrap.servers", s->spec.brokers);
	if (rc != 0)
		return rc;
	rd_kafka_conf_set_dr_msg_cb(s->conf, on_delivery);
	rd_kafka_conf_set_error_cb(s->conf, on_error);
	rd_kafka_conf_set_log_cb(s->conf, on_log);
	return 0;
}

void *
slc_sink_kafka_create(const struct slc_sink_kafka_cfg *cfg, int *err)
{
	struct slc_sink_kafka *s = NULL;
	const char *why = "";
	int rc;

	if (cfg == NULL || cfg->spec == NULL) {
		rc = -EINVAL;
		goto err_out;
	}
	if (slc_sink_kafka_spec_parse(cfg->spec, NULL, &why) != 0) {
		create_log(cfg, "\"%s\": %s", cfg->spec, why);
		rc = -EINVAL;
		goto err_out;
	}
	if (cfg->workers > SLC_SINK_KAFKA_WORKERS_MAX || cfg->nprops > SLC_SINK_KAFKA_PROPS_MAX ||
	    (cfg->nprops != 0 && cfg->props == NULL)) {
		create_log(cfg, "%u workers, %u properties: at most %u and %u", cfg->workers,
		           cfg->nprops, SLC_SINK_KAFKA_WORKERS_MAX, SLC_SINK_KAFKA_PROPS_MAX);
		rc = -EINVAL;
		goto err_out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	s->cfg = *cfg;
	s->cfg.props = NULL;
	s->cfg.nprops = 0;
	if (s->cfg.log == NULL)
		s->cfg.log = slc_sink_default_log;
	(void)slc_sink_kafka_spec_parse(cfg->spec, &s->spec, &why);
	s->cfg.spec = NULL;
	s->workers = cfg->workers != 0 ? cfg->workers : SLC_SINK_KAFKA_WORKERS_MAX;
	s->nprod = s->spec.per_worker ? s->workers : 1;
	s->ws = aligned_alloc(SLC_CACHE_LINE, s->workers * sizeof(*s->ws));
	s->prod = calloc(s->nprod, sizeof(*s->prod));
	if (s->ws == NULL || s->prod == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	memset(s->ws, 0, s->workers * sizeof(*s->ws));
	for (uint32_t i = 0; i < s->nprod; i++)
		s->prod[i].sink = s;
	rc = conf_build(s, cfg);
	if (rc != 0)
		goto err_free_conf;
	/* The shared producer, or a trial one: what librdkafka refuses only when it creates
	 * a producer (acks=1 with idempotence, ...) stops the daemon now, not per worker. */
	rc = producer_open(s, &s->prod[0]);
	if (rc != 0)
		goto err_free_conf;
	if (s->spec.per_worker)
		producer_close(s, &s->prod[0], s->ws, 0);
	return s;

err_free_conf:
	if (s->conf != NULL)
		rd_kafka_conf_destroy(s->conf);
err_free:
	free(s->prod);
	free(s->ws);
	free(s);
err_out:
	if (err != NULL)
		*err = rc;
	return NULL;
}

static void
kafka_destroy(void *sink)
{
	struct slc_sink_kafka *s = sink;

	if (s == NULL)
		return;
	if (!s->spec.per_worker && s->prod[0].rk != NULL) {
		uint64_t end = slc_mono_ns() + (uint64_t)s->cfg.close_timeout_ms * 1000000u;

		/* Every worker_close waited for its own records already, up to the same
		 * timeout; what is left is what that wait gave up on. */
		while (in_flight_sum(s->ws, s->workers) > 0 && !is_cancelled(s) &&
		       (s->cfg.close_timeout_ms == 0 || slc_mono_ns() < end))
			rd_kafka_flush(s->prod[0].rk, (int)SLC_SINK_KAFKA_POLL_MS);
		producer_close(s, &s->prod[0], s->ws, s->workers);
	}
	for (uint32_t i = 0; i < s->nprod; i++)
		SLC_ASSERT(s->prod[i].rk == NULL);
	rd_kafka_conf_destroy(s->conf);
	free(s->prod);
	free(s->ws);
	free(s);
}

void
slc_sink_kafka_cancel(void *sink)
{
	struct slc_sink_kafka *s = sink;

	/* R2: pairs with A2 in is_cancelled. */
	atomic_store_explicit(&s->cancelled, true, memory_order_release);
}

void
slc_sink_kafka_stats(void *sink, struct slc_sink_kafka_stats *out)
{
	const struct slc_sink_kafka *s = sink;
	int64_t in_flight = 0;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < s->workers; i++) {
		const struct wstate *ws = &s->ws[i];

		out->produced += ld(&ws->produced);
		out->bytes += ld(&ws->bytes);
		out->rejected += ld(&ws->rejected);
		out->cancelled += ld(&ws->cancelled);
		out->queue_full += ld(&ws->queue_full);
		out->keyless += ld(&ws->keyless);
		out->delivered += ld(&ws->delivered);
		out->failed += ld(&ws->failed);
		in_flight += atomic_load_explicit(&ws->in_flight, memory_order_relaxed);
	}
	/* Negative for an instant while a write gives back the records librdkafka refused. */
	out->in_flight = in_flight > 0 ? (uint64_t)in_flight : 0;
	for (uint32_t i = 0; i < s->nprod; i++) {
		const struct producer *p = &s->prod[i];
		uint32_t np = atomic_load_explicit(&p->partitions, memory_order_relaxed);

		out->errors += ld(&p->errors);
		if (np > out->partitions)
			out->partitions = np;
		for (uint32_t k = 0; k < np && k < SLC_SINK_KAFKA_PARTITIONS_MAX; k++)
			out->partition_delivered[k] += ld(&p->part[k]);
		out->partition_other += ld(&p->part_other);
	}
}

/*
 * The worker whose records have waited longest without a delivery, if longer than
 * STALL_MS, names the reason. A wait starts when a worker's in_flight leaves 0, and starts
 * again at each of its records delivered: a busy sink whose reports keep coming is healthy
 * however deep its queue, and one record waiting STALL_MS in a flowing stream is not a
 * stall. A sink with nothing waiting is healthy whatever the brokers' state: librdkafka
 * says nothing when they come back, and a record is what finds out.
 */
static void
kafka_health(struct slc_sink_kafka *s, char *out, size_t cap)
{
	uint64_t now = coarse_ns(), oldest = 0, down = 0;
	int64_t waiting = 0;
	uint32_t worker = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < s->workers; i++) {
		const struct wstate *ws = &s->ws[i];
		/* Relaxed: a health answer wants recent values; read a moment apart, they
		 * change a figure of the reason at worst. */
		int64_t f = atomic_load_explicit(&ws->in_flight, memory_order_relaxed);
		uint64_t since = atomic_load_explicit(&ws->waiting_since_ns, memory_order_relaxed);
		uint64_t dlv = atomic_load_explicit(&ws->delivered_ns, memory_order_relaxed);

		if (f <= 0)
			continue;
		waiting += f;
		since = dlv > since ? dlv : since;
		if (since == 0 || since > now || now - since <= oldest)
			continue;
		oldest = now - since;
		worker = i;
	}
	if (oldest < (uint64_t)SLC_SINK_KAFKA_STALL_MS * 1000000u)
		return;
	for (uint32_t i = 0; i < s->nprod; i++) {
		uint64_t d = atomic_load_explicit(&s->prod[i].all_down_ns, memory_order_relaxed);

		if (d != 0 && d <= now && (down == 0 || d < down))
			down = d;
	}
	if (down != 0)
		snprintf(out, cap,
		         "all brokers down (%.160s) for %.1f s: %lld records waiting for delivery "
		         "(worker %u's for %.1f s)",
		         s->spec.brokers, (double)(now - down) * 1e-9, (long long)waiting, worker,
		         (double)oldest * 1e-9);
	else
		snprintf(out, cap,
		         "%lld records waiting for delivery to %.160s, none delivered for %.1f s "
		         "(worker %u)",
		         (long long)waiting, s->spec.brokers, (double)oldest * 1e-9, worker);
}

/*
 * Delivered: what Kafka acknowledged. Undelivered at the drain timeout: records cancel kept
 * from librdkafka, those purged or failed after it, and, once cancelled, those still
 * without a report (a shared producer purges them only at destroy, after the daemon's stop
 * line). Records that failed before a cancel (message.timeout.ms) are neither: the
 * metrics count them (failed).
 */
static void
kafka_status(void *sink, struct slc_sink_status *out)
{
	struct slc_sink_kafka *s = sink;
	uint64_t delivered = 0, undelivered = 0;
	int64_t in_flight = 0;

	for (uint32_t i = 0; i < s->workers; i++) {
		const struct wstate *ws = &s->ws[i];

		/* A1: pairs with R1 in on_delivery: a record that left in_flight is in the
		 * counts read after it. Exact when no report is being served (the stop line:
		 * workers joined); a live read may count a record that leaves meanwhile twice. */
		in_flight += atomic_load_explicit(&ws->in_flight, memory_order_acquire);
		delivered += ld(&ws->delivered);
		undelivered += ld(&ws->cancelled) + ld(&ws->undelivered);
	}
	if (is_cancelled(s) && in_flight > 0)
		undelivered += (uint64_t)in_flight;
	*out = (struct slc_sink_status){
	        .delivered = delivered,
	        .undelivered_drain_timeout = undelivered,
	};
	kafka_health(s, out->health, sizeof(out->health));
}

const char *
slc_sink_kafka_librdkafka_version(void)
{
	return rd_kafka_version_str();
}

/* ---- the operations ---- */

static int
kafka_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out)
{
	struct slc_sink_kafka *s = sink;
	struct slc_sink_kafka_worker *w;
	int rc;

	if (worker >= s->workers)
		return -EINVAL;
	/* A3: pairs with R3 in kafka_worker_close: the previous owner's last updates are done
	 * before this owner starts. */
	if (atomic_exchange_explicit(&s->claimed[worker], true, memory_order_acquire))
		return -EBUSY;
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		rc = -ENOMEM;
		goto err_unclaim;
	}
	w->sink = s;
	w->worker = worker;
	w->ws = &s->ws[worker];
	w->p = &s->prod[s->spec.per_worker ? worker : 0];
	if (s->spec.per_worker) {
		rc = producer_open(s, w->p);
		if (rc != 0) {
			rc = rc == -ENOMEM ? rc : -EIO;
			goto err_free_worker;
		}
	}
	/* Failures before this owner (a previous open of the same index) are not its own. */
	w->flush_mark = ld(&w->ws->failed) + ld(&w->ws->rejected);
	w->sync_mark = w->flush_mark;
	*out = (struct slc_sink_worker *)w;
	return 0;

err_free_worker:
	free(w);
err_unclaim:
	atomic_store_explicit(&s->claimed[worker], false, memory_order_release);
	return rc;
}

/* librdkafka refused a record at once: what write returns for it. */
static int
refused(struct slc_sink_kafka_worker *w, rd_kafka_resp_err_t e, uint32_t len)
{
	slog(w->sink, LOG_ERROR, "worker %u: a record of %u bytes refused: %s", w->worker, len,
	     rd_kafka_err2str(e));
	return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? -EMSGSIZE : -EIO;
}

static int
kafka_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_sink_kafka_worker *w = (struct slc_sink_kafka_worker *)sw;
	struct slc_sink_kafka *s = w->sink;
	struct wstate *ws = w->ws;
	struct producer *p = w->p;
	uint64_t produced = 0, bytes = 0, keyless = 0, rejected = 0, cancelled = 0;
	int rc = 0;

	if (is_cancelled(s)) {
		slc_sink_stat_add(&ws->cancelled, n);
		return -ECANCELED;
	}
	/* Raised before produce: with a shared producer another thread may serve a report
	 * before produce returns here. Lowered again below for records not produced. */
	if (atomic_fetch_add_explicit(&ws->in_flight, (int64_t)n, memory_order_relaxed) <= 0)
		/* Relaxed: read only for health (kafka_health). */
		atomic_store_explicit(&ws->waiting_since_ns, coarse_ns(), memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++) {
		const struct slc_msg *m = &msgs[i];
		const uint8_t *key = NULL;
		uint32_t key_len = 0;

		if (s->cfg.key_fn == NULL ||
		    s->cfg.key_fn(s->cfg.key_ctx, m, &key, &key_len) != 0) {
			key = NULL;
			key_len = 0;
		}
		for (;;) {
			rd_kafka_resp_err_t e;

			/* F_COPY: the bytes are the reactor's, released when write returns. */
			if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
			                     (void *)(uintptr_t)m->data, m->len, key, key_len,
			                     ws) == 0) {
				produced++;
				bytes += m->len;
				keyless += key == NULL;
				break;
			}
			e = rd_kafka_last_error();
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				rejected++;
				if (rc == 0)
					rc = refused(w, e, m->len);
				break;
			}
			/* The backpressure path: wait for reports to make room, never drop.
			 * Counted as it happens: a worker blocked for as long as a broker is
			 * down shows in the metric while it waits, not when it is over. */
			slc_sink_stat_add(&ws->queue_full, 1);
			if (is_cancelled(s)) {
				cancelled = n - i;
				rc = -ECANCELED;
				goto out;
			}
			rd_kafka_poll(p->rk, (int)SLC_SINK_KAFKA_POLL_MS);
		}
	}
out:
	if (produced != n)
		atomic_fetch_sub_explicit(&ws->in_flight, (int64_t)(n - produced),
		                          memory_order_relaxed);
	slc_sink_stat_add(&ws->produced, produced);
	slc_sink_stat_add(&ws->bytes, bytes);
	slc_sink_stat_add(&ws->keyless, keyless);
	slc_sink_stat_add(&ws->rejected, rejected);
	slc_sink_stat_add(&ws->cancelled, cancelled);
	/* The daemon does not count a batch that returns -ECANCELED (sink.h): what was
	 * refused in it is the sink's to count, with the rest given up at the drain timeout. */
	if (rc == -ECANCELED)
		slc_sink_stat_add(&ws->undelivered, rejected);
	if (cancelled != 0)
		slog(s, LOG_ERROR, "worker %u: cancelled: %llu records not produced", w->worker,
		     (unsigned long long)cancelled);
	/* Reports of earlier batches: counters stay current and librdkafka frees them. */
	rd_kafka_poll(p->rk, 0);
	return rc;
}

/*
 * Serves reports until none of this worker's records is in flight: 0, -ECANCELED, or
 * -ETIMEDOUT once deadline_ns (0: none) passes. rd_kafka_flush sends what waits for
 * linger.ms at once; a shared producer's flush waits for every worker's records, so it is
 * called in short slices and this worker's own count decides.
 */
static int
wait_reports(struct slc_sink_kafka_worker *w, uint64_t deadline_ns)
{
	struct slc_sink_kafka *s = w->sink;
	int slice_ms = s->spec.per_worker ? (int)SLC_SINK_KAFKA_POLL_MS : SHARED_SLICE_MS;

	/* A1: pairs with R1 in on_delivery. */
	while (atomic_load_explicit(&w->ws->in_flight, memory_order_acquire) > 0) {
		if (is_cancelled(s))
			return -ECANCELED;
		if (deadline_ns != 0 && slc_mono_ns() >= deadline_ns)
			return -ETIMEDOUT;
		rd_kafka_flush(w->p->rk, slice_ms);
	}
	return 0;
}

/* 0 when nothing failed or was refused since *mark was taken; -EIO otherwise. */
static int
failures_since(struct slc_sink_kafka_worker *w, uint64_t *mark)
{
	uint64_t f = ld(&w->ws->failed) + ld(&w->ws->rejected);
	int rc = f != *mark ? -EIO : 0;

	*mark = f;
	return rc;
}

static int
kafka_flush(struct slc_sink_worker *sw)
{
	struct slc_sink_kafka_worker *w = (struct slc_sink_kafka_worker *)sw;
	int rc = wait_reports(w, 0);

	return rc != 0 ? rc : failures_since(w, &w->flush_mark);
}

static int
kafka_sync(struct slc_sink_worker *sw)
{
	struct slc_sink_kafka_worker *w = (struct slc_sink_kafka_worker *)sw;
	int rc = wait_reports(w, 0);

	return rc != 0 ? rc : failures_since(w, &w->sync_mark);
}

static void
kafka_worker_close(struct slc_sink_worker *sw)
{
	struct slc_sink_kafka_worker *w = (struct slc_sink_kafka_worker *)sw;
	struct slc_sink_kafka *s;
	uint32_t worker;
	int64_t left;

	if (w == NULL)
		return;
	s = w->sink;
	worker = w->worker;
	(void)wait_reports(w, s->cfg.close_timeout_ms != 0
	                              ? slc_mono_ns() + (uint64_t)s->cfg.close_timeout_ms * 1000000u
	                              : 0);
	if (s->spec.per_worker) {
		producer_close(s, w->p, w->ws, 1);
	} else {
		left = atomic_load_explicit(&w->ws->in_flight, memory_order_acquire);
		if (left > 0)
			slog(s, LOG_WARN,
			     "worker %u: closed with %lld records still in the shared producer; "
			     "destroy waits for them",
			     worker, (long long)left);
	}
	free(w);
	/* R3: pairs with A3 in kafka_worker_open. */
	atomic_store_explicit(&s->claimed[worker], false, memory_order_release);
}

const struct slc_sink_ops slc_sink_kafka_ops = {
        .name = "kafka",
        .worker_open = kafka_worker_open,
        .write = kafka_write,
        .flush = kafka_flush,
        .sync = kafka_sync,
        .reopen = NULL,
        .worker_close = kafka_worker_close,
        .destroy = kafka_destroy,
        .status = kafka_status,
};
