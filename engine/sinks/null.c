/* SPDX-License-Identifier: MIT */
/* null.c: count, and measure the latency of stamped messages; deliver nowhere. */
#include "null.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "metrics/expo.h"
#include "ring.h"
#include "route/stamp.h"

const uint64_t slc_sink_null_bounds_ns[SLC_SINK_NULL_BUCKETS] = {
        1000,      2000,      5000,       10000,      20000,      50000,       100000,   200000,
        500000,    1000000,   2000000,    5000000,    10000000,   20000000,    50000000, 100000000,
        200000000, 500000000, 1000000000, 2000000000, 5000000000, 10000000000,
};

/* One per worker, on its own cache lines: only that worker writes it. */
struct slc_sink_worker {
	_Atomic uint64_t messages;
	_Atomic uint64_t bytes;
	_Atomic uint64_t stamped;
	_Atomic uint64_t latency_sum_ns;
	_Atomic uint64_t buckets[SLC_SINK_NULL_BUCKETS + 1];
} __attribute__((aligned(SLC_RING_ALIGN)));

struct sink_null {
	uint32_t workers;
	struct slc_sink_worker *w;
};

void *
slc_sink_null_create(uint32_t workers, int *err)
{
	struct sink_null *s;

	if (workers == 0) {
		*err = -EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s != NULL)
		s->w = aligned_alloc(SLC_RING_ALIGN, workers * sizeof(*s->w));
	if (s == NULL || s->w == NULL) {
		free(s);
		*err = -ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < workers; i++)
		memset(&s->w[i], 0, sizeof(s->w[i]));
	s->workers = workers;
	*err = 0;
	return s;
}

static int
null_open(void *sink, uint32_t worker, struct slc_sink_worker **out)
{
	struct sink_null *s = sink;

	if (worker >= s->workers)
		return -EINVAL;
	*out = &s->w[worker];
	return 0;
}

static inline void
add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

static uint32_t
bucket_of(uint64_t ns)
{
	uint32_t lo = 0, hi = SLC_SINK_NULL_BUCKETS;

	/* The first bound >= ns; SLC_SINK_NULL_BUCKETS when none. */
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (slc_sink_null_bounds_ns[mid] >= ns)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int
null_write(struct slc_sink_worker *w, const struct slc_msg *msgs, uint32_t n)
{
	uint64_t bytes = 0, stamped = 0, sum = 0, now = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct slc_stamp st;

		bytes += msgs[i].len;
		/* Latency is sampled: parsing every stamp would cost more than the rest of the
		 * null sink, and the quantiles need far fewer than every message. */
		if ((i & (SLC_SINK_NULL_SAMPLE_EVERY - 1)) != 0 ||
		    !slc_stamp_find(msgs[i].data, msgs[i].len, &st))
			continue;
		/* One clock read per batch: the batch's messages were all here by now. */
		if (now == 0)
			now = slc_mono_ns();
		if (st.send_ns > now)
			continue; /* another host's clock, or garbage: no sample */
		stamped++;
		sum += now - st.send_ns;
		add(&w->buckets[bucket_of(now - st.send_ns)], 1);
	}
	add(&w->messages, n);
	add(&w->bytes, bytes);
	add(&w->stamped, stamped);
	add(&w->latency_sum_ns, sum);
	return 0;
}

/* Nothing to make durable: the null sink acknowledges what it counted (benchmarks). */
static int
null_sync(struct slc_sink_worker *w)
{
	(void)w;
	return 0;
}

static void
null_close(struct slc_sink_worker *w)
{
	(void)w;
}

static void
null_destroy(void *sink)
{
	struct sink_null *s = sink;

	if (s == NULL)
		return;
	free(s->w);
	free(s);
}

static void *
null_create_op(const struct slc_sink_spec *spec, const struct slc_sink_env *env, int *err)
{
	(void)spec;
	return slc_sink_null_create(env->workers, err);
}

static void
null_metrics(void *sink, struct slc_metrics_buf *b)
{
	struct slc_sink_null_stats st;
	double bounds[SLC_SINK_NULL_BUCKETS];

	slc_sink_null_stats(sink, &st);
	slc_metrics_family(b, "sluice_sink_messages_total", "counter", "messages the sink took");
	slc_metrics_u64(b, "sluice_sink_messages_total", "sink=\"null\"", st.messages);
	slc_metrics_family(b, "sluice_sink_bytes_total", "counter", "payload bytes the sink took");
	slc_metrics_u64(b, "sluice_sink_bytes_total", "sink=\"null\"", st.bytes);
	slc_metrics_family(b, "sluice_e2e_latency_seconds", "histogram",
	                   "sluice-bench stamp to null sink, same host (CLOCK_MONOTONIC)");
	for (uint32_t i = 0; i < SLC_SINK_NULL_BUCKETS; i++)
		bounds[i] = (double)slc_sink_null_bounds_ns[i] * 1e-9;
	slc_metrics_histogram(b, "sluice_e2e_latency_seconds", NULL, bounds, st.latency_buckets,
	                      SLC_SINK_NULL_BUCKETS, (double)st.latency_sum_ns * 1e-9);
}

const struct slc_sink_ops slc_sink_null_ops = {
        .name = "null",
        .desc = &slc_sink_null_desc,
        .create = null_create_op,
        .worker_open = null_open,
        .write = null_write,
        .sync = null_sync,
        .worker_close = null_close,
        .destroy = null_destroy,
        .metrics = null_metrics,
};

void
slc_sink_null_stats(void *sink, struct slc_sink_null_stats *out)
{
	struct sink_null *s = sink;

	*out = (struct slc_sink_null_stats){0};
	for (uint32_t i = 0; i < s->workers; i++) {
		struct slc_sink_worker *w = &s->w[i];

		out->messages += atomic_load_explicit(&w->messages, memory_order_relaxed);
		out->bytes += atomic_load_explicit(&w->bytes, memory_order_relaxed);
		out->stamped += atomic_load_explicit(&w->stamped, memory_order_relaxed);
		out->latency_sum_ns +=
		        atomic_load_explicit(&w->latency_sum_ns, memory_order_relaxed);
		for (uint32_t b = 0; b <= SLC_SINK_NULL_BUCKETS; b++)
			out->latency_buckets[b] +=
			        atomic_load_explicit(&w->buckets[b], memory_order_relaxed);
	}
}
