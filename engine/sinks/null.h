/* SPDX-License-Identifier: MIT */
/* null.h: the null sink: counts messages and their bytes, delivers nowhere. */
#ifndef SLC_ENGINE_SINKS_NULL_H
#define SLC_ENGINE_SINKS_NULL_H

#include <stdint.h>

#include "sink.h"

/*
 * `--sink null` drops every message after counting it. Latency is no longer its own: the
 * daemon measures every stamped message on every sink (--latency-stamps, daemon/latency.c).
 */

struct slc_sink_null_stats {
	uint64_t messages;
	uint64_t bytes;
};

/* What the flag parser knows of it (null_spec.c): the scheme "null", no flags. */
extern const struct slc_sink_desc slc_sink_null_desc;

/* One sink for up to `workers` workers. NULL with *err -EINVAL or -ENOMEM. */
void *slc_sink_null_create(uint32_t workers, int *err);
extern const struct slc_sink_ops slc_sink_null_ops;
/* Sums every worker's counters; any thread. */
void slc_sink_null_stats(void *sink, struct slc_sink_null_stats *out);

#endif /* SLC_ENGINE_SINKS_NULL_H */
