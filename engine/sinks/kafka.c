/* SPDX-License-Identifier: MIT */
/* kafka.c: the Kafka sink: keyed records produced through librdkafka, shared or per worker. */
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

#include "kafka_priv.h"
#include "metrics/expo.h"

/*
 * At most LOG_PER_SEC lines a second for the whole sink, from any thread (delivery reports
 * and librdkafka's own lines come from several); a line after a quiet spell says how many
 * were left out. Brokers that are down for an hour must not fill the log. The limiter has
 * one writer at a time: log_mu, held across the line too, so that lines and their
 * suppressed counts come out in the order they were counted (a few lines a second).
 */
void
slc_sink_kafka_log(struct slc_sink_kafka *s, int level, const char *fmt, ...)
{
	char prefix[SLC_SINK_KAFKA_TOPIC_MAX + 16];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "kafka sink %s: ", s->spec.topic);
	va_start(ap, fmt);
	pthread_mutex_lock(&s->log_mu);
	slc_log_limitedv(&s->log_limit, LOG_PER_SEC, slc_mono_ns(), s->cfg.log, s->cfg.log_ctx,
	                 level, prefix, fmt, ap);
	pthread_mutex_unlock(&s->log_mu);
	va_end(ap);
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

		slc_sink_kafka_log(p->sink, SLC_LOG_ERROR,
		                   "worker %u: delivery failed (partition %d): %s (%llu failed on "
		                   "this worker)",
		                   (unsigned)(ws - p->sink->ws), (int)m->partition,
		                   rd_kafka_err2str(m->err), (unsigned long long)n);
	} else {
		int open = SLC_BREAKER_OPEN + 1;

		slc_sink_stat_add(&ws->delivered, 1);
		/* The first delivery after every broker was down closes the breaker. */
		if (atomic_load_explicit(&p->retry.state, memory_order_relaxed) == open &&
		    atomic_compare_exchange_strong_explicit(
		            &p->retry.state, &open, SLC_BREAKER_CLOSED + 1, memory_order_relaxed,
		            memory_order_relaxed)) {
			slc_retry_count_state(&p->retry, SLC_BREAKER_CLOSED);
			slc_sink_kafka_log(p->sink, SLC_LOG_INFO,
			                   "circuit breaker closed: a broker took a record again");
		}
		/* Relaxed: read only for health (kafka_health). */
		atomic_store_explicit(&ws->delivered_ns, slc_mono_coarse_ns(),
		                      memory_order_relaxed);
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
	if (err == RD_KAFKA_RESP_ERR__TRANSPORT)
		slc_retry_count(&p->retry, SLC_RETRY_TRANSPORT);
	else if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)
		slc_retry_count(&p->retry, SLC_RETRY_TIMEOUT);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		uint64_t none = 0;
		int closed = SLC_BREAKER_CLOSED + 1;

		if (atomic_compare_exchange_strong_explicit(
		            &p->retry.state, &closed, SLC_BREAKER_OPEN + 1, memory_order_relaxed,
		            memory_order_relaxed)) {
			slc_retry_count_state(&p->retry, SLC_BREAKER_OPEN);
			slc_sink_kafka_log(p->sink, SLC_LOG_WARN,
			                   "circuit breaker open: every broker is down; librdkafka "
			                   "probes them with its reconnect backoff (up to %u ms "
			                   "unless --kafka-prop reconnect.backoff.max.ms says "
			                   "otherwise)",
			                   p->sink->retry_max_ms);
		}

		/* The first such event of an outage dates it; a delivery ends it. Relaxed:
		 * read only for health. */
		atomic_compare_exchange_strong_explicit(&p->all_down_ns, &none,
		                                        slc_mono_coarse_ns(), memory_order_relaxed,
		                                        memory_order_relaxed);
	}
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[ERRSTR_LEN];
		rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, why, sizeof(why));

		slc_sink_kafka_log(p->sink, SLC_LOG_ERROR,
		                   "fatal producer error %s: %s; every later record of this "
		                   "producer is refused: "
		                   "restart sluiced",
		                   rd_kafka_err2name(e), why);
		return;
	}
	/* A failed connection is in librdkafka's own log already (its FAIL line, on_log). */
	if (err != RD_KAFKA_RESP_ERR__TRANSPORT)
		slc_sink_kafka_log(p->sink, SLC_LOG_WARN, "%s: %s",
		                   rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* librdkafka's own log lines (syslog levels), from its threads. */
static void
on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct producer *p = rd_kafka_opaque(rk);
	int ours = level <= 3   ? SLC_LOG_ERROR
	           : level == 4 ? SLC_LOG_WARN
	           : level <= 6 ? SLC_LOG_INFO
	                        : SLC_LOG_DEBUG;

	if (p == NULL)
		return;
	slc_sink_kafka_log(p->sink, ours, "librdkafka %s: %s", fac, buf);
}

/* ---- producers ---- */

int
slc_sink_kafka_producer_open(struct slc_sink_kafka *s, struct producer *p)
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
		slc_sink_kafka_log(s, SLC_LOG_ERROR, "cannot create a producer: %s", errstr);
		return -EINVAL;
	}
	p->rkt = rd_kafka_topic_new(p->rk, s->spec.topic, NULL);
	if (p->rkt == NULL) {
		e = rd_kafka_last_error();
		slc_sink_kafka_log(s, SLC_LOG_ERROR, "cannot open the topic: %s",
		                   rd_kafka_err2str(e));
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
void
slc_sink_kafka_producer_close(struct slc_sink_kafka *s, struct producer *p, const struct wstate *ws,
                              uint32_t n)
{
	int64_t left;

	if (p->rk == NULL)
		return;
	left = in_flight_sum(ws, n);
	if (left > 0) {
		uint64_t end = slc_mono_ns() + (uint64_t)PURGE_WAIT_MS * 1000000u;

		slc_sink_kafka_log(s, SLC_LOG_ERROR,
		                   "%lld records without a delivery report at close: purged",
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

static void SLC_PRINTF(2, 3) create_log(const struct slc_sink_kafka_cfg *cfg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_logv(cfg->log, cfg->log_ctx, SLC_LOG_ERROR, "kafka sink: ", fmt, ap);
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
/* True when a --kafka-prop names property name. */
static bool
prop_given(const struct slc_sink_kafka_cfg *cfg, const char *name)
{
	size_t n = strlen(name);

	for (uint32_t i = 0; i < cfg->nprops; i++)
		if (strncmp(cfg->props[i], name, n) == 0 && cfg->props[i][n] == '=')
			return true;
	return false;
}

/* --retry-initial and --retry-max as librdkafka's backoffs, unless a --kafka-prop set
 * them (kafka.h). */
static int
conf_retry(struct slc_sink_kafka *s, const struct slc_sink_kafka_cfg *cfg)
{
	struct slc_retry r;
	const char *props[][2] = {{"reconnect.backoff.ms", "i"},
	                          {"reconnect.backoff.max.ms", "m"},
	                          {"retry.backoff.ms", "i"}};
	char v[16];
	int rc;

	slc_retry_init(&r, &cfg->retry, 1);
	s->retry_max_ms = r.cfg.max_ms;
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		if (prop_given(cfg, props[i][0]))
			continue;
		snprintf(v, sizeof(v), "%u",
		         props[i][1][0] == 'i' ? r.cfg.initial_ms : r.cfg.max_ms);
		rc = conf_set(cfg, s->conf, props[i][0], v);
		if (rc != 0)
			return rc;
	}
	return 0;
}

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
	rc = conf_retry(s, cfg);
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
	pthread_mutex_init(&s->log_mu, NULL);
	s->cfg = *cfg;
	s->cfg.props = NULL;
	s->cfg.nprops = 0;
	if (s->cfg.log == NULL)
		s->cfg.log = slc_log_stderr;
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
	for (uint32_t i = 0; i < s->nprod; i++) {
		s->prod[i].sink = s;
		slc_retry_counters_open(&s->prod[i].retry);
	}
	rc = conf_build(s, cfg);
	if (rc != 0)
		goto err_free_conf;
	/* The shared producer, or a trial one: what librdkafka refuses only when it creates
	 * a producer (acks=1 with idempotence, ...) stops the daemon now, not per worker. */
	rc = slc_sink_kafka_producer_open(s, &s->prod[0]);
	if (rc != 0)
		goto err_free_conf;
	if (s->spec.per_worker)
		slc_sink_kafka_producer_close(s, &s->prod[0], s->ws, 0);
	if (cfg->dead_letter_dir != NULL) {
		s->dead_letter = slc_dead_letter_create(cfg->dead_letter_dir, "kafka", s->cfg.log,
		                                        s->cfg.log_ctx, &rc);
		if (s->dead_letter == NULL) {
			if (!s->spec.per_worker)
				slc_sink_kafka_producer_close(s, &s->prod[0], s->ws, 0);
			goto err_free_conf;
		}
	}
	s->cfg.dead_letter_dir = NULL;
	return s;

err_free_conf:
	if (s->conf != NULL)
		rd_kafka_conf_destroy(s->conf);
err_free:
	free(s->prod);
	free(s->ws);
	pthread_mutex_destroy(&s->log_mu);
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
		slc_sink_kafka_producer_close(s, &s->prod[0], s->ws, s->workers);
	}
	for (uint32_t i = 0; i < s->nprod; i++)
		SLC_ASSERT(s->prod[i].rk == NULL);
	slc_dead_letter_destroy(s->dead_letter);
	rd_kafka_conf_destroy(s->conf);
	free(s->prod);
	free(s->ws);
	pthread_mutex_destroy(&s->log_mu);
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
		out->dead_lettered += ld(&ws->dead_lettered);
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
	uint64_t now = slc_mono_coarse_ns(), oldest = 0, down = 0;
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

/* The ops' create: --kafka-prop and the daemon's settings to a struct slc_sink_kafka_cfg. */
static void *
kafka_create_op(const struct slc_sink_spec *spec, const struct slc_sink_env *env, int *err)
{
	const struct slc_sink_kafka_settings *st = env->settings;
	const char *props[SLC_CFG_PROPS_MAX];
	struct slc_sink_kafka_cfg kc = {
	        .spec = spec->arg,
	        .props = props,
	        .nprops = st->props.n,
	        .workers = env->workers,
	        .close_timeout_ms = env->drain_timeout_ms,
	        .key_fn = env->key_fn,
	        .key_ctx = env->key_ctx,
	        .log = env->log,
	        .log_ctx = env->log_ctx,
	        .dead_letter_dir = env->dead_letter_dir,
	        .retry = env->retry,
	};

	for (uint32_t i = 0; i < st->props.n && i < SLC_CFG_PROPS_MAX; i++)
		props[i] = st->props.v[i];
	return slc_sink_kafka_create(&kc, err);
}

static void
kafka_metrics(void *sink, struct slc_metrics_buf *b)
{
	struct slc_sink_kafka *s = sink;
	struct slc_retry_totals rt = {0};
	struct slc_sink_kafka_stats st;
	char lab[48];

	slc_sink_kafka_stats(sink, &st);
#define KAFKA_METRIC(name, type, help, v)                      \
	do {                                                   \
		slc_metrics_family(b, name, type, help);       \
		slc_metrics_u64(b, name, "sink=\"kafka\"", v); \
	} while (0)
	KAFKA_METRIC("sluice_sink_messages_total", "counter",
	             "records Kafka acknowledged (delivery reports without error)", st.delivered);
	KAFKA_METRIC("sluice_sink_bytes_total", "counter", "value bytes of the records produced",
	             st.bytes);
	KAFKA_METRIC("sluice_sink_kafka_produced_total", "counter", "records handed to librdkafka",
	             st.produced);
	KAFKA_METRIC("sluice_sink_kafka_failed_total", "counter",
	             "records whose delivery failed after librdkafka's retries", st.failed);
	KAFKA_METRIC("sluice_sink_kafka_rejected_total", "counter",
	             "records librdkafka refused at once (too large, fatal error)", st.rejected);
	KAFKA_METRIC("sluice_sink_kafka_cancelled_total", "counter",
	             "records not produced because the drain timeout cancelled them", st.cancelled);
	KAFKA_METRIC("sluice_sink_kafka_queue_full_total", "counter",
	             "times a worker waited for room in librdkafka's queue (backpressure)",
	             st.queue_full);
	KAFKA_METRIC("sluice_sink_kafka_errors_total", "counter",
	             "librdkafka error events (brokers down, ...)", st.errors);
	KAFKA_METRIC("sluice_sink_kafka_queue_depth", "gauge",
	             "records produced and still without a delivery report", st.in_flight);
#undef KAFKA_METRIC
	slc_metrics_family(b, "sluice_sink_kafka_partition_delivered_total", "counter",
	                   "records Kafka acknowledged, per partition");
	for (uint32_t p = 0; p < st.partitions; p++) {
		snprintf(lab, sizeof(lab), "partition=\"%u\"", p);
		slc_metrics_u64(b, "sluice_sink_kafka_partition_delivered_total", lab,
		                st.partition_delivered[p]);
	}
	if (st.partition_other != 0)
		slc_metrics_u64(b, "sluice_sink_kafka_partition_delivered_total",
		                "partition=\"other\"", st.partition_other);
	for (uint32_t i = 0; i < s->nprod; i++)
		slc_retry_totals_add(&rt, &s->prod[i].retry);
	slc_retry_metrics(b, "kafka", &rt, true);
	if (s->dead_letter != NULL)
		slc_dead_letter_metrics(s->dead_letter, b);
}

const struct slc_sink_ops slc_sink_kafka_ops = {
        .name = "kafka",
        .desc = &slc_sink_kafka_desc,
        .create = kafka_create_op,
        .worker_open = slc_sink_kafka_worker_open,
        .write = slc_sink_kafka_write,
        .flush = slc_sink_kafka_flush,
        .sync = slc_sink_kafka_sync,
        .cancel = slc_sink_kafka_cancel,
        .reopen = NULL,
        .worker_close = slc_sink_kafka_worker_close,
        .destroy = kafka_destroy,
        .status = kafka_status,
        .metrics = kafka_metrics,
};
