/* SPDX-License-Identifier: MIT */
/* dead_letter.c: the dead-letter queue (dead_letter.h), a file sink with an envelope key. */
#include "dead_letter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "metrics/expo.h"
#include "sink_file.h"

#define WORKERS_MAX  SLC_SINK_FILE_WORKERS_MAX
#define ENVELOPE_MAX 160

struct slc_dead_letter {
	void *file; /* the file sink writing DIR */
	const char *sink;
	slc_log_fn log;
	void *log_ctx;
	struct slc_sink_worker *w[WORKERS_MAX]; /* opened by the first put of each worker */
	struct slc_log_limit limit[WORKERS_MAX];
	_Atomic uint64_t count[SLC_DEAD_LETTER_REASONS];
};

/*
 * The file sink asks for each record's key through key_fn, on the thread that calls its
 * write: the envelope of the put under way on this thread is that key. A thread-local,
 * because key_fn's context is the sink's, not the worker's.
 */
static _Thread_local const char *cur_envelope;
static _Thread_local uint32_t cur_envelope_len;

static int
envelope_key(void *ctx, const struct slc_msg *m, const uint8_t **key, uint32_t *key_len)
{
	(void)ctx;
	(void)m;
	if (cur_envelope == NULL)
		return -ENOENT;
	*key = (const uint8_t *)cur_envelope;
	*key_len = cur_envelope_len;
	return 0;
}

const char *
slc_dead_letter_reason_name(enum slc_dead_letter_reason why)
{
	static const char *const names[SLC_DEAD_LETTER_REASONS] = {
	        [SLC_DEAD_LETTER_POISON] = "poison",
	        [SLC_DEAD_LETTER_TOO_LARGE] = "too_large",
	        [SLC_DEAD_LETTER_INVALID] = "invalid",
	        [SLC_DEAD_LETTER_RETRIES_EXHAUSTED] = "retries_exhausted",
	};

	return (unsigned)why < SLC_DEAD_LETTER_REASONS ? names[why] : "unknown";
}

struct slc_dead_letter *
slc_dead_letter_create(const char *dir, const char *sink, slc_log_fn log, void *log_ctx, int *err)
{
	struct slc_dead_letter *dl;
	struct slc_sink_file_cfg fc = {
	        .dir = dir,
	        .fsync = SLC_SINK_FILE_FSYNC_BATCH,
	        .key_fn = envelope_key,
	        .log = log,
	        .log_ctx = log_ctx,
	};
	int rc;

	dl = calloc(1, sizeof(*dl));
	if (dl == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	dl->sink = sink;
	dl->log = log != NULL ? log : slc_log_stderr;
	dl->log_ctx = log_ctx;
	dl->file = slc_sink_file_create(&fc, &rc);
	if (dl->file == NULL) {
		slc_logf(dl->log, dl->log_ctx, SLC_LOG_ERROR, "", "--dead-letter %s: %s",
		         dir != NULL ? dir : "(null)", strerror(-rc));
		free(dl);
		*err = rc;
		return NULL;
	}
	return dl;
}

/* "sluice-dead-letter sink=S reason=R time=YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ" into buf. */
static uint32_t
envelope(const struct slc_dead_letter *dl, enum slc_dead_letter_reason why, char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char when[32] = "1970-01-01T00:00:00";
	int n;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		ts = (struct timespec){0};
	if (gmtime_r(&ts.tv_sec, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(buf, cap, "%s sink=%s reason=%s time=%s.%09ldZ", SLC_DEAD_LETTER_MAGIC,
	             dl->sink, slc_dead_letter_reason_name(why), when, (long)ts.tv_nsec);
	return n < 0 ? 0 : (uint32_t)((size_t)n < cap ? (size_t)n : cap - 1);
}

static void SLC_PRINTF(3, 4)
        put_log(struct slc_dead_letter *dl, uint32_t worker, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_log_limitedv(&dl->limit[worker], 5, slc_mono_ns(), dl->log, dl->log_ctx, SLC_LOG_ERROR,
	                 "dead letters: ", fmt, ap);
	va_end(ap);
}

int
slc_dead_letter_put(struct slc_dead_letter *dl, uint32_t worker, const struct slc_msg *msgs,
                    uint32_t n, enum slc_dead_letter_reason why)
{
	char env[ENVELOPE_MAX];
	const uint32_t *idx;
	int rc;

	if (worker >= WORKERS_MAX || (unsigned)why >= SLC_DEAD_LETTER_REASONS)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (dl->w[worker] == NULL) {
		rc = slc_sink_file_ops.worker_open(dl->file, worker, &dl->w[worker]);
		if (rc != 0) {
			dl->w[worker] = NULL;
			put_log(dl, worker,
			        "worker %u: %u messages (%s) not written: no segment: %s", worker,
			        n, slc_dead_letter_reason_name(why), strerror(-rc));
			return rc;
		}
	}
	cur_envelope_len = envelope(dl, why, env, sizeof(env));
	cur_envelope = env;
	rc = slc_sink_file_ops.write(dl->w[worker], msgs, n);
	/* The envelope is far below the key limit: the file sink refuses none of them. */
	if (rc == 0 && slc_sink_file_ops.refused(dl->w[worker], &idx) != 0)
		rc = -EINVAL;
	if (rc == 0)
		rc = slc_sink_file_ops.sync(dl->w[worker]);
	cur_envelope = NULL;
	if (rc != 0) {
		put_log(dl, worker, "worker %u: %u messages (%s) not written: %s", worker, n,
		        slc_dead_letter_reason_name(why), strerror(-rc));
		return rc;
	}
	slc_sink_stat_add(&dl->count[why], n);
	return 0;
}

void
slc_dead_letter_worker_close(struct slc_dead_letter *dl, uint32_t worker)
{
	if (dl == NULL || worker >= WORKERS_MAX || dl->w[worker] == NULL)
		return;
	slc_sink_file_ops.worker_close(dl->w[worker]);
	dl->w[worker] = NULL;
}

void
slc_dead_letter_destroy(struct slc_dead_letter *dl)
{
	if (dl == NULL)
		return;
	for (uint32_t i = 0; i < WORKERS_MAX; i++)
		slc_dead_letter_worker_close(dl, i);
	slc_sink_file_ops.destroy(dl->file);
	free(dl);
}

uint64_t
slc_dead_letter_count(const struct slc_dead_letter *dl, enum slc_dead_letter_reason why)
{
	if (dl == NULL || (unsigned)why >= SLC_DEAD_LETTER_REASONS)
		return 0;
	return atomic_load_explicit(&dl->count[why], memory_order_relaxed);
}

uint64_t
slc_dead_letter_total(const struct slc_dead_letter *dl)
{
	uint64_t t = 0;

	for (int i = 0; i < SLC_DEAD_LETTER_REASONS; i++)
		t += slc_dead_letter_count(dl, (enum slc_dead_letter_reason)i);
	return t;
}

void
slc_dead_letter_metrics(const struct slc_dead_letter *dl, struct slc_metrics_buf *b)
{
	char l[128];

	slc_metrics_family(b, "sluice_dead_letters_total", "counter",
	                   "messages written to --dead-letter, by reason");
	for (int i = 0; i < SLC_DEAD_LETTER_REASONS; i++) {
		slc_metrics_labels(l, sizeof(l), "sink", dl->sink, "reason",
		                   slc_dead_letter_reason_name((enum slc_dead_letter_reason)i),
		                   NULL);
		slc_metrics_u64(b, "sluice_dead_letters_total", l,
		                slc_dead_letter_count(dl, (enum slc_dead_letter_reason)i));
	}
}
