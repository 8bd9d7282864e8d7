/* SPDX-License-Identifier: MIT */
/* common.h: the small helpers every sink needs; included by the sinks only. */
#ifndef SLC_ENGINE_SINKS_COMMON_H
#define SLC_ENGINE_SINKS_COMMON_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h" /* slc_mono_ns */
#include "base/log.h"
#include "msg.h"

/* Relaxed: counters order nothing; readers want a recent value, not a snapshot. */
static inline void
slc_sink_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	if (n != 0)
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/*
 * The sinks log through base/log.h: a slc_log_fn from their cfg (NULL: slc_log_stderr),
 * slc_logv for start-up lines, and a struct slc_log_limit per worker (one writer) with
 * slc_log_limitedv for the lines a failing disk or peer repeats every batch.
 */

#endif /* SLC_ENGINE_SINKS_COMMON_H */
