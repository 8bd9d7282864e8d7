/* SPDX-License-Identifier: MIT */
/* common.h: the small helpers every sink needs; included by the sinks only. */
#ifndef SLC_ENGINE_SINKS_COMMON_H
#define SLC_ENGINE_SINKS_COMMON_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h" /* slc_mono_ns */

/* Relaxed: counters order nothing; readers want a recent value, not a snapshot. */
static inline void
slc_sink_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	if (n != 0)
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/*
 * A log rate limit with one writer (a worker): at most per_sec lines a second; the next
 * line written says how many were not. A disk that is full or a peer that is down fails
 * every batch, and the log must not fill with it.
 */
struct slc_sink_loglimit {
	uint64_t window_ns;
	uint32_t lines;
	uint32_t suppressed;
};

typedef void (*slc_sink_log_fn)(void *ctx, int level, const char *fmt, ...);

/* Writes "prefix" then fmt with ap through log, unless l says this second is full. */
void slc_sink_log_limited(struct slc_sink_loglimit *l, uint32_t per_sec, slc_sink_log_fn log,
                          void *log_ctx, int level, const char *prefix, const char *fmt, va_list ap)
        __attribute__((format(printf, 7, 0)));

/* Writes "prefix" then fmt with ap as one line through log (NULL: slc_sink_default_log). */
void slc_sink_logv(slc_sink_log_fn log, void *log_ctx, int level, const char *prefix,
                   const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* fmt as one line through log (NULL: slc_sink_default_log), not rate-limited: start-up. */
void slc_sink_logf(slc_sink_log_fn log, void *log_ctx, int level, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* The log callback of a sink created without one: the line on stderr. */
void slc_sink_default_log(void *ctx, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif /* SLC_ENGINE_SINKS_COMMON_H */
