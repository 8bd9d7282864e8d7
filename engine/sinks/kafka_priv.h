/* SPDX-License-Identifier: MIT */
/* kafka_priv.h: the Kafka sink's state, shared by kafka.c and kafka_worker.c only. */
#ifndef SLC_ENGINE_SINKS_KAFKA_PRIV_H
#define SLC_ENGINE_SINKS_KAFKA_PRIV_H

#include <librdkafka/rdkafka.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/compiler.h" /* SLC_CACHE_LINE */
#include "common.h"
#include "dead_letter.h"
#include "kafka.h"
#include "retry.h"

#define LOG_PER_SEC     10   /* lines a second for the whole sink; the rest are counted */
#define PURGE_WAIT_MS   2000 /* after a purge, how long the reports of purged records take */
#define SHARED_SLICE_MS 1    /* a shared producer's flush waits for everyone: look often */
#define ERRSTR_LEN      512

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
	_Atomic uint64_t dead_lettered;
	_Atomic uint64_t cancelled;
	_Atomic uint64_t queue_full;
	_Atomic uint64_t keyless;
	/* For health: when this worker's records started waiting (its in_flight left 0), on
	 * the coarse clock (slc_mono_coarse_ns). */
	_Atomic uint64_t waiting_since_ns;
	alignas(SLC_CACHE_LINE) _Atomic uint64_t delivered;
	_Atomic uint64_t failed;
	/* Given up at --drain-timeout, after cancel: failed reports (purged), and records
	 * librdkafka refused in a write that then returned -ECANCELED (sink.h's status). */
	_Atomic uint64_t undelivered;
	/* For health: the last successful report of this worker's records (slc_mono_coarse_ns). */
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
	/* For health: when librdkafka said all brokers are down (slc_mono_coarse_ns); 0 once a record
	 * is delivered again. */
	_Atomic uint64_t all_down_ns;
	_Atomic uint32_t partitions; /* 1 + the highest partition delivered to, capped */
	_Atomic uint64_t part[SLC_SINK_KAFKA_PARTITIONS_MAX];
	_Atomic uint64_t part_other;
	/* librdkafka's transport and timeout errors (retried by librdkafka), and the breaker
	 * this producer reports: open while every broker is down, closed at the next record
	 * delivered (librdkafka itself probes, at reconnect.backoff.max.ms at most). */
	struct slc_retry_counters retry;
};

struct slc_sink_kafka {
	struct slc_sink_kafka_cfg cfg; /* props not kept: they are in conf */
	struct slc_sink_kafka_spec spec;
	rd_kafka_conf_t *conf; /* the template each producer is made from (a dup of it) */
	uint32_t workers;
	uint32_t nprod; /* 1 (shared) or workers */
	struct wstate *ws;
	struct producer *prod;
	struct slc_dead_letter *dead_letter; /* cfg.dead_letter_dir's; NULL: none */
	uint32_t retry_max_ms;               /* reconnect.backoff.max.ms we set, for logs */
	_Atomic bool cancelled;
	_Atomic bool claimed[SLC_SINK_KAFKA_WORKERS_MAX];
	/* The log's rate limit, shared by every thread that logs (slc_sink_kafka_log). */
	pthread_mutex_t log_mu;
	struct slc_log_limit log_limit; /* under log_mu */
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

static inline uint64_t
ld(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline bool
is_cancelled(const struct slc_sink_kafka *s)
{
	/* A2: pairs with R2 in slc_sink_kafka_cancel (only the flag itself matters). */
	return atomic_load_explicit(&s->cancelled, memory_order_acquire);
}

/*
 * At most LOG_PER_SEC lines a second for the whole sink, from any thread (kafka.c).
 */
void slc_sink_kafka_log(struct slc_sink_kafka *s, int level, const char *fmt, ...) SLC_PRINTF(3, 4);

/* A per-worker or the shared producer (kafka.c): 0, or -errno (logged). */
int slc_sink_kafka_producer_open(struct slc_sink_kafka *s, struct producer *p);
void slc_sink_kafka_producer_close(struct slc_sink_kafka *s, struct producer *p,
                                   const struct wstate *ws, uint32_t n);

/* The worker's operations (kafka_worker.c), as sink.h and kafka.h describe them. */
int slc_sink_kafka_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out);
int slc_sink_kafka_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n);
int slc_sink_kafka_flush(struct slc_sink_worker *sw);
int slc_sink_kafka_sync(struct slc_sink_worker *sw);
void slc_sink_kafka_worker_close(struct slc_sink_worker *sw);

#endif /* SLC_ENGINE_SINKS_KAFKA_PRIV_H */
