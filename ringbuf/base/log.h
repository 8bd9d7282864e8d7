/* SPDX-License-Identifier: MIT */
/* base/log.h: the one logger callback, its levels, a stderr default, one rate limiter. */
#ifndef SLC_BASE_LOG_H
#define SLC_BASE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

/*
 * A library in sluice never writes to stderr on its own: whoever creates a reactor, a sink
 * or the metrics server hands it a slc_log_fn and its ctx, and the daemon's callback adds
 * "sluiced: LEVEL: " and filters by --log-level. The callback gets one whole line without
 * its '\n' and may be called from any thread the library runs (reactor, worker, metrics,
 * librdkafka's), so it must be thread-safe. NULL where a cfg takes one: slc_log_stderr.
 *
 * Lines about what peers or the outside world do (a refused frame, a broker that is down)
 * go through a struct slc_log_limit, so that a flood of them cannot fill the disk.
 *
 * Nothing here fails or returns an errno: a line that does not fit is cut short, and a
 * write to stderr that fails is lost (there is nowhere left to say so).
 */

/* Levels, most severe first (the order --log-level counts in). */
enum slc_log_level {
	SLC_LOG_ERROR = 0,
	SLC_LOG_WARN = 1,
	SLC_LOG_INFO = 2,
	SLC_LOG_DEBUG = 3,
};

/* The callback: level an enum slc_log_level, fmt and its arguments one line without '\n'. */
typedef void (*slc_log_fn)(void *ctx, int level, const char *fmt, ...) SLC_PRINTF(3, 4);

/* The longest line the helpers below format; longer ones are cut short. */
#define SLC_LOG_LINE_MAX 768

/* "error", "warn", "info", "debug"; "?" for a level outside them. */
const char *slc_log_level_name(int level);

/* The callback of a library given none: the line and '\n' on stderr, whatever the level
 * (the library's caller chose not to filter). ctx is unused. */
void slc_log_stderr(void *ctx, int level, const char *fmt, ...) SLC_PRINTF(3, 4);

/* Formats prefix (may be "", not NULL) then fmt with ap as one line, and hands it to log
 * (NULL: slc_log_stderr). */
void slc_logv(slc_log_fn log, void *ctx, int level, const char *prefix, const char *fmt, va_list ap)
        SLC_PRINTF(5, 0);
void slc_logf(slc_log_fn log, void *ctx, int level, const char *prefix, const char *fmt, ...)
        SLC_PRINTF(5, 6);

/*
 * A rate limit of log lines with ONE writer (a reactor, a worker, or callers that hold a
 * lock around it): at most per_sec lines in a window of one second, the window opening at
 * the first line after the previous one closed; the lines over it are counted, not
 * written, and the next line written ends in " (N lines suppressed before this)". A
 * peer that is down, or a disk that is full, fails every batch, and the log must not fill
 * with it. Zero-initialise it ({0}); it holds no resource.
 *
 * now_ns is slc_mono_ns(), or the caller's copy of it (the reactor reads the clock once a
 * loop): the limiter reads no clock itself, so that tests can drive it.
 */
struct slc_log_limit {
	uint64_t window_ns;  /* when the current window opened */
	uint32_t lines;      /* lines asked for in it, written or not */
	uint32_t suppressed; /* lines not written since the last one written */
};

/* true: write this line (then take slc_log_limit_suppressed_take() and say so); false:
 * it was counted as suppressed. */
bool slc_log_limit_pass(struct slc_log_limit *l, uint32_t per_sec, uint64_t now_ns);

/* The lines suppressed since the last line written, and zero from now on. */
uint32_t slc_log_limit_suppressed_take(struct slc_log_limit *l);

/* slc_logv through the limit: prefix, fmt with ap, and the suppressed count if any, as one
 * line to log (NULL: slc_log_stderr), unless l says this second is full. */
void slc_log_limitedv(struct slc_log_limit *l, uint32_t per_sec, uint64_t now_ns, slc_log_fn log,
                      void *ctx, int level, const char *prefix, const char *fmt, va_list ap)
        SLC_PRINTF(8, 0);
void slc_log_limitedf(struct slc_log_limit *l, uint32_t per_sec, uint64_t now_ns, slc_log_fn log,
                      void *ctx, int level, const char *prefix, const char *fmt, ...)
        SLC_PRINTF(8, 9);

#endif /* SLC_BASE_LOG_H */
