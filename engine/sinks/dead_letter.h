/* SPDX-License-Identifier: MIT */
/* dead_letter.h: --dead-letter DIR: messages a sink refuses for good, kept as segment records. */
#ifndef SLC_ENGINE_SINKS_DEAD_LETTER_H
#define SLC_ENGINE_SINKS_DEAD_LETTER_H

#include <stdint.h>

#include "base/log.h"
#include "msg.h"

/*
 * A message that a sink cannot deliver, ever (a plugin's "poison", a record Kafka calls
 * too large or invalid, or a batch whose retries ran past --retry-max-elapsed), goes to a
 * dead-letter directory instead of being lost: one file sink (sink_file.h, through its
 * public API) writing DIR with --fsync batch, so that a dead letter is on disk before the
 * sink goes on. Each record is the message's payload as it was received, and its key
 * field carries the envelope, plain text:
 *
 *   sluice-dead-letter sink=plugin reason=poison time=2026-12-07T17:10:00.123456789Z
 *
 * (the time is CLOCK_REALTIME when it was refused), so that sluice-cat reads a dead-letter
 * directory like any file sink's (--keys shows the envelope, --json splits it into fields)
 * and no second format exists. The message's own routing key is not kept.
 *
 * DIR is the file sink's: created if missing, locked against a second daemon, and its
 * segments recovered at start like the file sink's (a torn tail is cut, nothing else is
 * touched): a bad --dead-letter at restart (a file, an unwritable or locked directory)
 * makes create fail and the daemon refuse to start; it never deletes what is there.
 *
 * Threads: put and worker_close for worker N run on one thread at a time (the sink
 * worker's, or the main thread at drain after it joined); the counters are atomics.
 */

enum slc_dead_letter_reason {
	SLC_DEAD_LETTER_POISON,            /* a plugin said the message can never be delivered */
	SLC_DEAD_LETTER_TOO_LARGE,         /* Kafka: larger than the broker takes */
	SLC_DEAD_LETTER_INVALID,           /* Kafka: a record the broker calls invalid */
	SLC_DEAD_LETTER_RETRIES_EXHAUSTED, /* transient failures for --retry-max-elapsed */
	SLC_DEAD_LETTER_REASONS
};

#define SLC_DEAD_LETTER_MAGIC "sluice-dead-letter" /* the envelope's first word */

struct slc_dead_letter;
struct slc_metrics_buf;

/*
 * Opens (and recovers) DIR for sink `sink` ("forward", "kafka", "plugin": the envelope's
 * and the metrics' label; static). NULL with *err: the file sink's create's errors
 * (-EINVAL: DIR empty or not a directory; -EBUSY: locked by another process; -EACCES,
 * -ENOENT (its parent is missing), -ENOMEM, ...); the reason is logged.
 */
struct slc_dead_letter *slc_dead_letter_create(const char *dir, const char *sink, slc_log_fn log,
                                               void *log_ctx, int *err);

/*
 * Writes msgs[0..n) as dead letters of worker `worker` (< 256), reason why, and syncs
 * them. 0: all are on disk and counted in sluice_dead_letters_total; -errno: none is
 * known to be (-EINVAL: a worker out of range; the file sink's worker_open, write and
 * sync errors): the caller still holds them and decides (logged, rate-limited).
 */
int slc_dead_letter_put(struct slc_dead_letter *dl, uint32_t worker, const struct slc_msg *msgs,
                        uint32_t n, enum slc_dead_letter_reason why);

/* Closes worker's segment, if put opened one. Accepts NULL dl. */
void slc_dead_letter_worker_close(struct slc_dead_letter *dl, uint32_t worker);

/* Frees dl after every worker_close. Accepts NULL. */
void slc_dead_letter_destroy(struct slc_dead_letter *dl);

/* Messages written, by reason; and all of them. Any thread. */
uint64_t slc_dead_letter_count(const struct slc_dead_letter *dl, enum slc_dead_letter_reason why);
uint64_t slc_dead_letter_total(const struct slc_dead_letter *dl);

/* Renders sluice_dead_letters_total{sink,reason} (every reason, zeros included). */
void slc_dead_letter_metrics(const struct slc_dead_letter *dl, struct slc_metrics_buf *b);

/* "poison", "too_large", "invalid", "retries_exhausted". */
const char *slc_dead_letter_reason_name(enum slc_dead_letter_reason why);

#endif /* SLC_ENGINE_SINKS_DEAD_LETTER_H */
