/* SPDX-License-Identifier: MIT */
/* kafka.h: the Kafka sink (--sink kafka://BROKERS/TOPIC): keyed records through librdkafka. */
#ifndef SLC_ENGINE_SINKS_KAFKA_H
#define SLC_ENGINE_SINKS_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg_types.h" /* struct slc_cfg_props */
#include "sink.h"

/*
 * Each message becomes one Kafka record of TOPIC: its value is the message's bytes, its key
 * the key the daemon extracted (--key; a keyless message gets no key). librdkafka's
 * partitioner maps the key to a partition (murmur2_random by default: the partition a
 * Java client would pick for the same key; keyless records are spread at random), so one
 * key always lands in one partition while the topic's partition count stays the same.
 *
 * --sink value (slc_sink_kafka_spec_parse):
 *
 *   kafka://BROKER[,BROKER...]/TOPIC[?producers=shared|per-worker]
 *
 *   BROKER    HOST[:PORT] or [IPv6][:PORT], HOST a name or an IPv4 address (librdkafka's
 *             bootstrap.servers; PORT 9092 when left out);
 *   TOPIC     1..249 of [A-Za-z0-9._-], not "." or "..";
 *   producers shared (the default): one librdkafka producer for the whole daemon;
 *             per-worker: one producer per worker.
 *
 * Order. Idempotence is on (enable.idempotence=true, unless a --kafka-prop turns it off):
 * librdkafka numbers a partition's batches and resends them with the same numbers, and the
 * broker drops a resend it has and refuses a gap, so retries neither reorder nor duplicate
 * a record (docs/scale-out.md says what the tests show of this). The sink hands each record
 * to librdkafka once and never produces it again, also after a failed delivery report
 * (which may be a record that is in Kafka all the same). Under the ordered strategy a key
 * is handled by one worker at a time, and write() hands its records to the producer in
 * order; so each key's records reach their partition in the order sluice received them.
 * With `producers=shared` that holds across rebalancing too: when a key moves to another
 * worker, its earlier records are already in the shared producer's partition queue, ahead
 * of anything the new worker produces. With `per-worker` the records of the old worker may
 * still wait in that worker's producer (linger.ms, a retry) while the new one sends: order
 * per key then holds only while the key stays on its worker. per-worker scales further on
 * many cores (no lock shared by workers inside librdkafka) and opens workers x brokers
 * connections.
 *
 * Backpressure. write() blocks while librdkafka's queue is full (RD_KAFKA_RESP_ERR__QUEUE_FULL:
 * queue.buffering.max.messages or .kbytes), serving delivery reports until there is room:
 * no record is dropped, the worker's ring fills, and the reactor pauses the connections
 * that feed it. Memory is bounded by those two properties, per producer. librdkafka copies
 * each record into an allocation of its own (RD_KAFKA_MSG_F_COPY: the bytes are the
 * reactor's and go back when write returns): the no-allocation rule of the hot path stops
 * at the client library.
 *
 * Delivery reports. librdkafka retries a failed send until message.timeout.ms (300 s by
 * default), then reports the record failed. Failed records are counted (stats.failed) and
 * logged with librdkafka's reason (rate-limited). flush() and sync() wait until every
 * record this worker produced has its report, and return -EIO if any of them failed since
 * the previous call of the same function: sync() is what acknowledged delivery waits for.
 * Both send what waits for linger.ms at once. A per-worker producer's wait ends with the
 * worker's last report; a shared producer's serves everyone's reports in 1 ms slices and
 * ends within a slice of this worker's last one.
 *
 * Shutdown. worker_close waits for the worker's reports up to close_timeout_ms, then
 * purges what is left (per-worker) and counts it failed; with a shared producer, destroy
 * does that once for all. slc_sink_kafka_cancel() makes every wait give up at once.
 *
 * Health (the status op, /healthz). Unhealthy while a worker has had records waiting for
 * their delivery reports more than STALL_MS with none of them delivered meanwhile; the
 * reason names librdkafka's "all brokers down" when it said so since the last delivery.
 * Healthy again at the next record delivered, or once nothing waits. A sink with nothing
 * to send is healthy whatever the brokers' state (nothing tells it they are back but a
 * record delivered). Status's undelivered_drain_timeout counts what cancel gave up: the
 * records not produced, those that failed or were purged after it, and those still in
 * flight once cancelled; a write() that returns -ECANCELED is counted there whole (the
 * records it produced land in delivered or there). Records that failed before a cancel
 * are in stats.failed only.
 *
 * Threads. worker_open, write, flush, sync and worker_close run on the worker's thread.
 * Delivery reports run on whichever thread serves the producer's queue (the worker's own
 * with per-worker producers; any worker's with a shared one) and only touch atomics.
 * librdkafka's log lines come from its own threads, through cfg.log.
 */

#define SLC_SINK_KAFKA_WORKERS_MAX    256u  /* worker indexes 0..255 (pool.h's cap) */
#define SLC_SINK_KAFKA_PROPS_MAX      32u   /* --kafka-prop entries the sink takes */
#define SLC_SINK_KAFKA_PARTITIONS_MAX 256u  /* partitions counted one by one; the rest summed */
#define SLC_SINK_KAFKA_TOPIC_MAX      249u  /* Kafka's own limit */
#define SLC_SINK_KAFKA_BROKERS_MAX    1024u /* bytes of the BROKERS list */
#define SLC_SINK_KAFKA_POLL_MS        10u   /* longest wait between two looks at cancel */
#define SLC_SINK_KAFKA_STALL_MS       2000u /* records waiting this long, none delivered: unhealthy */

/* A --sink kafka:// value, parsed: NUL-terminated copies. */
struct slc_sink_kafka_spec {
	char brokers[SLC_SINK_KAFKA_BROKERS_MAX + 1];
	char topic[SLC_SINK_KAFKA_TOPIC_MAX + 1];
	bool per_worker; /* ?producers=per-worker */
};

/*
 * Parses what follows "kafka://" (above) into out (which may be NULL: a syntax check).
 * Returns 0, or -EINVAL with *why (if why is not NULL) a static phrase naming what is wrong
 * ("no /TOPIC after the brokers").
 */
int slc_sink_kafka_spec_parse(const char *spec, struct slc_sink_kafka_spec *out, const char **why);

/* The Kafka sink's flags (kafka_spec.c), as create gets them in env->settings. */
struct slc_sink_kafka_settings {
	struct slc_cfg_props props; /* --kafka-prop */
};

/* What the flag parser knows of it: kafka://BROKERS/TOPIC, --kafka-prop. */
extern const struct slc_sink_desc slc_sink_kafka_desc;

struct slc_sink_kafka_cfg {
	const char *spec; /* "BROKERS/TOPIC[?producers=...]": what follows kafka:// */
	/*
	 * librdkafka properties, "name=value" each (--kafka-prop), applied in order over the
	 * sink's defaults (enable.idempotence=true, partitioner=murmur2_random,
	 * client.id=sluiced); global and topic properties alike. bootstrap.servers comes
	 * from the spec and cannot be set here.
	 */
	const char *const *props;
	uint32_t nprops;
	uint32_t workers;          /* worker indexes 0..workers-1; 0: WORKERS_MAX */
	uint32_t close_timeout_ms; /* worker_close's (and destroy's) wait; 0: until cancel */
	slc_sink_key_fn key_fn;    /* NULL: records carry no key */
	void *key_ctx;
	/* Called from any thread; rate-limited to a few lines a second. NULL:
	 * slc_log_stderr. */
	slc_log_fn log;
	void *log_ctx;
	/* --dead-letter DIR (dead_letter.h): a record librdkafka refuses at once as too large
	 * (message.max.bytes) or invalid goes there (reasons too_large, invalid) instead of
	 * failing its batch; NULL: refused as before (counted in rejected, -EMSGSIZE). */
	const char *dead_letter_dir;
	/* --retry-initial and --retry-max become librdkafka's reconnect.backoff.ms,
	 * reconnect.backoff.max.ms and retry.backoff.ms (a --kafka-prop that names one wins):
	 * librdkafka retries and reconnects itself, with exponential backoff and its own
	 * jitter. Zeros: retry.h's defaults. */
	struct slc_retry_cfg retry;
};

/* Totals over all workers, since create. */
struct slc_sink_kafka_stats {
	uint64_t produced;      /* records librdkafka accepted (rd_kafka_produce returned 0) */
	uint64_t bytes;         /* their value bytes */
	uint64_t delivered;     /* records Kafka acknowledged (delivery report without error) */
	uint64_t failed;        /* records whose delivery report was an error (after retries) */
	uint64_t rejected;      /* records librdkafka refused at once (too large, fatal, ...) */
	uint64_t dead_lettered; /* of the refused ones, written to the dead letters instead */
	uint64_t cancelled;     /* records not produced because of cancel */
	uint64_t queue_full;    /* POLL_MS waits for room in librdkafka's queue, as they happen */
	uint64_t keyless;       /* records produced without a key */
	uint64_t errors;     /* librdkafka's error events (broker down, ...): not record losses */
	uint64_t in_flight;  /* produced - delivered - failed: the queue depth now */
	uint32_t partitions; /* 1 + the highest partition delivered to, at most PARTITIONS_MAX */
	uint64_t partition_delivered[SLC_SINK_KAFKA_PARTITIONS_MAX];
	uint64_t partition_other; /* delivered to partitions >= PARTITIONS_MAX */
};

/*
 * Creates the sink: parses the spec, builds the librdkafka configuration (a bad property
 * or value is logged with librdkafka's reason), and creates the shared producer, or one
 * trial producer that is destroyed at once (per-worker), so that a configuration librdkafka
 * refuses stops the daemon at start-up. Nothing waits for a broker here. Returns NULL
 * with *err:
 *   -EINVAL   cfg or spec NULL, a malformed spec, more than PROPS_MAX props, a prop
 *             without '=', an unknown property or bad value, bootstrap.servers in props,
 *             a configuration rd_kafka_new refuses, workers > WORKERS_MAX;
 *   -ENOMEM.
 */
void *slc_sink_kafka_create(const struct slc_sink_kafka_cfg *cfg, int *err);

/*
 * The sink's operations (sink.h). worker_open refuses a worker index >= workers (-EINVAL)
 * or one open already (-EBUSY), and fails with -ENOMEM or -EIO (rd_kafka_new failed,
 * per-worker). write returns 0 once every record is in librdkafka's queue; -EMSGSIZE or
 * -EIO when librdkafka refused some (too large, a fatal producer error: counted, logged,
 * the others are produced); -ECANCELED after cancel (the rest of the batch is counted
 * cancelled). flush and sync return 0 once every record of this worker has its delivery
 * report and none failed since the previous flush (sync); -EIO when some failed or were
 * refused; -ECANCELED after cancel. There is no reopen. Stats stay readable until destroy;
 * destroy must come after every worker_close.
 */
extern const struct slc_sink_ops slc_sink_kafka_ops;

/* Sums the workers' counters; any thread, any time between create and destroy. */
void slc_sink_kafka_stats(void *sink, struct slc_sink_kafka_stats *out);

/*
 * Makes every blocked write, flush, sync, worker_close and destroy give up within
 * POLL_MS (-ECANCELED), and every later one at once; records still queued are purged at
 * close and counted failed. For shutdown after the drain timeout; cannot be undone. Any
 * thread, any time between create and destroy; async-signal-safe.
 */
void slc_sink_kafka_cancel(void *sink);

/* librdkafka's version as text ("2.0.2"), for the start-up log. */
const char *slc_sink_kafka_librdkafka_version(void);

#endif /* SLC_ENGINE_SINKS_KAFKA_H */
