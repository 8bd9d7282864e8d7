/* SPDX-License-Identifier: MIT */
/* null.h: the null sink: counts messages and measures end-to-end latency of stamped ones. */
#ifndef SLC_ENGINE_SINKS_NULL_H
#define SLC_ENGINE_SINKS_NULL_H

#include <stdint.h>

#include "sink.h"

/*
 * `--sink null` drops every message after counting it. One message in
 * SLC_SINK_NULL_SAMPLE_EVERY of each batch (the first, then every 16th) that carries a
 * sluice-bench stamp (engine/route/stamp.h) also gives an end-to-end latency sample: the
 * sink's CLOCK_MONOTONIC minus the stamp's send time, meaningful when sender and daemon
 * share a host. Latencies go into fixed buckets (1-2-5 steps from 1 µs to 10 s) so that
 * the metrics can expose a Prometheus histogram and sluice-bench can read quantiles.
 */

#define SLC_SINK_NULL_BUCKETS 22
#define SLC_SINK_NULL_SAMPLE_EVERY \
	16 /* a power of two */ /* finite upper bounds; one more bucket holds the rest */

/* Upper bounds of the latency buckets, in ns (a sample v goes to the first b >= v). */
extern const uint64_t slc_sink_null_bounds_ns[SLC_SINK_NULL_BUCKETS];

struct slc_sink_null_stats {
	uint64_t messages;
	uint64_t bytes;
	uint64_t stamped; /* latency samples (sampled messages with a stamp) */
	uint64_t latency_sum_ns;
	uint64_t latency_buckets[SLC_SINK_NULL_BUCKETS + 1]; /* not cumulative; last: > 10 s */
};

/* What the flag parser knows of it (null_spec.c): the scheme "null", no flags. */
extern const struct slc_sink_desc slc_sink_null_desc;

/* One sink for up to `workers` workers. NULL with *err -EINVAL or -ENOMEM. */
void *slc_sink_null_create(uint32_t workers, int *err);
extern const struct slc_sink_ops slc_sink_null_ops;
/* Sums every worker's counters; any thread. */
void slc_sink_null_stats(void *sink, struct slc_sink_null_stats *out);

#endif /* SLC_ENGINE_SINKS_NULL_H */
