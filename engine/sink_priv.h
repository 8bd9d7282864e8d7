/* SPDX-License-Identifier: MIT */
/* sink_priv.h: the small helpers every sink needs; included by engine/sink_*.c only. */
#ifndef SLC_ENGINE_SINK_PRIV_H
#define SLC_ENGINE_SINK_PRIV_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns. */
static inline uint64_t
slc_sink_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Relaxed: counters order nothing; readers want a recent value, not a snapshot. */
static inline void
slc_sink_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	if (n != 0)
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The log callback of a sink created without one: the line on stderr. */
void slc_sink_default_log(void *ctx, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif /* SLC_ENGINE_SINK_PRIV_H */
