/* SPDX-License-Identifier: MIT */
/* null.c: count messages and bytes; deliver nowhere. */
#include "null.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/expo.h"
#include "ring.h"

/* One per worker, on its own cache lines: only that worker writes it. */
struct slc_sink_worker {
	_Atomic uint64_t messages;
	_Atomic uint64_t bytes;
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

static int
null_write(struct slc_sink_worker *w, const struct slc_msg *msgs, uint32_t n)
{
	uint64_t bytes = 0;

	for (uint32_t i = 0; i < n; i++)
		bytes += msgs[i].len;
	add(&w->messages, n);
	add(&w->bytes, bytes);
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

	slc_sink_null_stats(sink, &st);
	slc_metrics_family(b, "sluice_sink_messages_total", "counter", "messages the sink took");
	slc_metrics_u64(b, "sluice_sink_messages_total", "sink=\"null\"", st.messages);
	slc_metrics_family(b, "sluice_sink_bytes_total", "counter", "payload bytes the sink took");
	slc_metrics_u64(b, "sluice_sink_bytes_total", "sink=\"null\"", st.bytes);
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
	}
}
