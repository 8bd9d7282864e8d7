/* SPDX-License-Identifier: MIT */
/* latency.c: every stamped message's latency, on every sink, into per-worker histograms. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_priv.h"
#include "route/lat_hist.h"
#include "route/stamp.h"

/*
 * One per worker (--latency-stamps), on its own cache lines: only that worker writes it,
 * the metrics thread reads it. Relaxed loads and stores, never a read-modify-write: one
 * writer needs no locked instruction, and the reader may see a count one message old.
 */
struct slc_daemon_lat {
	_Atomic uint64_t e2e[SLC_LAT_HIST_BUCKETS]; /* stamp's send_ns to delivered */
	_Atomic uint64_t in[SLC_LAT_HIST_BUCKETS];  /* reactor's recv_ns to delivered */
	_Atomic uint64_t e2e_sum_ns;
	_Atomic uint64_t in_sum_ns;
	_Atomic uint64_t future; /* stamps later than the worker's clock: no sample */
} __attribute__((aligned(128)));

/* The metrics thread's sums and the sparse bounds it writes: too large for its stack
 * (2 * 7424 + 1 bounds at most), and made once, with the histograms. */
struct slc_daemon_lat_scratch {
	uint64_t sum[SLC_LAT_HIST_BUCKETS];
	double bounds[2 * SLC_LAT_HIST_BUCKETS];
	uint64_t counts[2 * SLC_LAT_HIST_BUCKETS + 1];
};

int
slc_daemon_lat_create(struct slc_daemon *d)
{
	uint32_t nw = d->cfg.pools * d->cfg.workers;

	if (d->cfg.latency_stamps == SLC_CFG_STAMPS_OFF)
		return 0;
	d->lat_scratch = malloc(sizeof(*d->lat_scratch));
	if (d->lat_scratch == NULL)
		return -ENOMEM;
	for (uint32_t g = 0; g < nw; g++) {
		d->w[g].lat = aligned_alloc(128, sizeof(*d->w[g].lat));
		if (d->w[g].lat == NULL)
			return -ENOMEM;
		memset(d->w[g].lat, 0, sizeof(*d->w[g].lat));
	}
	return 0;
}

void
slc_daemon_lat_destroy(struct slc_daemon *d)
{
	free(d->lat_scratch);
	d->lat_scratch = NULL;
	for (uint32_t g = 0; d->w != NULL && g < d->cfg.pools * d->cfg.workers; g++) {
		free(d->w[g].lat);
		d->w[g].lat = NULL;
	}
}

static inline void
bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/*
 * Worker thread, once per batch the sink took, right after its write returned: "delivered"
 * is then, one clock read for the batch. Messages the sink refused one by one were not
 * delivered and are left out (ref, ascending indexes). Messages without a stamp where --latency-stamps
 * looks are skipped; so are stamps from the future (another host's clock: send_ns is
 * CLOCK_MONOTONIC, comparable on one host only), which are counted.
 */
void
slc_daemon_lat_note(struct slc_daemon *d, struct slc_daemon_worker *w, const struct slc_msg *msgs,
                    uint32_t n, const uint32_t *ref, uint32_t nref)
{
	struct slc_daemon_lat *l = w->lat;
	bool find = d->cfg.latency_stamps == SLC_CFG_STAMPS_FIND;
	uint64_t now = slc_mono_ns(), e2e_sum = 0, in_sum = 0, future = 0;
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct slc_stamp st;
		uint64_t in;
		bool ok;

		if (k < nref && ref[k] == i) {
			k++; /* refused: not delivered */
			continue;
		}
		ok = find ? slc_stamp_find(msgs[i].data, msgs[i].len, &st)
		          : slc_stamp_parse(msgs[i].data, msgs[i].len, &st);
		if (!ok)
			continue;
		if (st.send_ns > now) {
			future++;
			continue;
		}
		in = now >= msgs[i].recv_ns ? now - msgs[i].recv_ns : 0;
		bump(&l->e2e[slc_lat_hist_index(now - st.send_ns)], 1);
		bump(&l->in[slc_lat_hist_index(in)], 1);
		e2e_sum += now - st.send_ns;
		in_sum += in;
	}
	bump(&l->e2e_sum_ns, e2e_sum);
	bump(&l->in_sum_ns, in_sum);
	if (future != 0)
		bump(&l->future, future);
}

/*
 * One histogram summed over the workers, written sparse: for each bucket with samples its
 * upper end, preceded by the upper end of the bucket below when that one is empty, so that
 * histogram_quantile (and sluice-bench) interpolate inside the bucket, never across a run
 * of empty ones. Counts only grow, so the set of series only grows, bounded by the buckets
 * ever used (a few hundred for latencies from 1 us to 10 s).
 */
static void
render_hist(struct slc_metrics_buf *b, const struct slc_daemon *d, const char *name,
            const char *help, size_t off, size_t sum_off)
{
	struct slc_daemon_lat_scratch *x = d->lat_scratch;
	uint32_t nw = d->cfg.pools * d->cfg.workers, nb = 0;
	uint64_t sum_ns = 0, none = 0;
	bool below_written = false;

	slc_metrics_family(b, name, "histogram", help);
	if (x == NULL) {
		/* --latency-stamps off: the family is there, empty. */
		slc_metrics_histogram(b, name, NULL, NULL, &none, 0, 0);
		return;
	}
	for (uint32_t i = 0; i < SLC_LAT_HIST_BUCKETS; i++)
		x->sum[i] = 0;
	for (uint32_t g = 0; g < nw; g++) {
		const char *l = (const char *)d->w[g].lat;
		const _Atomic uint64_t *c = (const _Atomic uint64_t *)(l + off);

		for (uint32_t i = 0; i < SLC_LAT_HIST_BUCKETS; i++)
			x->sum[i] += atomic_load_explicit(&c[i], memory_order_relaxed);
		sum_ns += atomic_load_explicit((const _Atomic uint64_t *)(l + sum_off),
		                               memory_order_relaxed);
	}
	for (uint32_t i = 0; i < SLC_LAT_HIST_BUCKETS; i++) {
		if (x->sum[i] == 0) {
			below_written = false;
			continue;
		}
		if (i > 0 && !below_written) {
			x->bounds[nb] = (double)slc_lat_hist_highest(i - 1) / 1e9;
			x->counts[nb++] = 0;
		}
		x->bounds[nb] = (double)slc_lat_hist_highest(i) / 1e9;
		x->counts[nb++] = x->sum[i];
		below_written = true;
	}
	x->counts[nb] = 0;
	slc_metrics_histogram(b, name, NULL, x->bounds, x->counts, nb, (double)sum_ns * 1e-9);
}

void
slc_daemon_lat_render(struct slc_metrics_buf *b, const struct slc_daemon *d)
{
	uint32_t nw = d->cfg.pools * d->cfg.workers;
	uint64_t future = 0;

	render_hist(b, d, "sluice_e2e_latency_seconds",
	            "sluice-bench's stamp (its send time) to the sink's write returning, every "
	            "stamped message, same host (CLOCK_MONOTONIC); --latency-stamps",
	            offsetof(struct slc_daemon_lat, e2e),
	            offsetof(struct slc_daemon_lat, e2e_sum_ns));
	render_hist(b, d, "sluice_daemon_latency_seconds",
	            "the reactor's receive to the sink's write returning, every stamped message "
	            "(CLOCK_MONOTONIC); --latency-stamps",
	            offsetof(struct slc_daemon_lat, in),
	            offsetof(struct slc_daemon_lat, in_sum_ns));
	for (uint32_t g = 0; g < nw && d->w[g].lat != NULL; g++)
		future += atomic_load_explicit(&d->w[g].lat->future, memory_order_relaxed);
	slc_metrics_family(b, "sluice_latency_stamps_future_total", "counter",
	                   "stamped messages sent later than the worker's clock says it is "
	                   "(another host's clock): left out of the latency histograms");
	slc_metrics_u64(b, "sluice_latency_stamps_future_total", NULL, future);
}

uint64_t
slc_daemon_lat_quantiles(const struct slc_daemon *d, bool e2e, const double *q, uint32_t nq,
                         double *out_s)
{
	struct slc_daemon_lat_scratch *x = d->lat_scratch;
	size_t off =
	        e2e ? offsetof(struct slc_daemon_lat, e2e) : offsetof(struct slc_daemon_lat, in);
	uint64_t total = 0, seen = 0;
	uint32_t j = 0;

	if (x == NULL)
		return 0;
	for (uint32_t i = 0; i < SLC_LAT_HIST_BUCKETS; i++)
		x->sum[i] = 0;
	for (uint32_t g = 0; g < d->cfg.pools * d->cfg.workers; g++) {
		const _Atomic uint64_t *c =
		        (const _Atomic uint64_t *)((const char *)d->w[g].lat + off);

		for (uint32_t i = 0; i < SLC_LAT_HIST_BUCKETS; i++)
			x->sum[i] += atomic_load_explicit(&c[i], memory_order_relaxed);
	}
	for (uint32_t i = 0; i < SLC_LAT_HIST_BUCKETS; i++)
		total += x->sum[i];
	if (total == 0)
		return 0;
	/* q ascending or not: each is found in its own pass over the cumulative counts. */
	for (j = 0; j < nq; j++) {
		uint64_t want = (uint64_t)(q[j] * (double)total + 0.5);

		seen = 0;
		if (want == 0)
			want = 1;
		for (uint32_t i = 0; i < SLC_LAT_HIST_BUCKETS; i++) {
			seen += x->sum[i];
			if (seen >= want) {
				out_s[j] = (double)slc_lat_hist_highest(i) / 1e9;
				break;
			}
		}
	}
	return total;
}
