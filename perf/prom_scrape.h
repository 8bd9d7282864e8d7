/* SPDX-License-Identifier: MIT */
/* prom_scrape.h: the few sluiced metrics sluice-bench reads from a Prometheus text scrape. */
#ifndef SLC_PERF_PROM_SCRAPE_H
#define SLC_PERF_PROM_SCRAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "route/lat_hist.h"

#define BENCH_PROM_PROCESSED "sluice_worker_processed_total"
#define BENCH_PROM_UDP_DROPS "sluice_udp_drops_total"
#define BENCH_PROM_LATENCY   "sluice_e2e_latency_seconds"
#define BENCH_PROM_DLATENCY  "sluice_daemon_latency_seconds"
/* Distinct le bounds kept; more are ignored (and the figure says so through ok). sluiced
 * writes at most two a bucket of route/lat_hist.h (a bucket's upper end and the one below
 * it), and +Inf. */
#define BENCH_PROM_BUCKETS_MAX (2 * SLC_LAT_HIST_BUCKETS + 1)

/* A histogram summed over all its label sets: cum[i] samples were <= le[i] (ascending). */
struct bench_prom_hist {
	uint32_t n;
	double le[BENCH_PROM_BUCKETS_MAX];
	double cum[BENCH_PROM_BUCKETS_MAX];
	double count; /* _count */
	double sum;   /* _sum, in seconds */
};

/* One scrape. Each value is the sum over the metric's label sets; has_* says it was seen. */
struct bench_prom_sample {
	double processed;
	double udp_drops;
	struct bench_prom_hist lat;  /* BENCH_PROM_LATENCY: stamp to delivered */
	struct bench_prom_hist dlat; /* BENCH_PROM_DLATENCY: received to delivered */
	bool has_processed;
	bool has_udp_drops;
	bool has_lat;
	bool has_dlat;
	bool lat_truncated; /* more than BENCH_PROM_BUCKETS_MAX bounds: some were dropped */
};

/*
 * Reads the text exposition format (NUL-terminated) into *out. Comments, blank lines, other
 * metrics, and lines it cannot read are skipped: a scrape is read for what it can give.
 */
void bench_prom_parse(const char *text, struct bench_prom_sample *out);

/*
 * The q-quantile (0 < q < 1), in seconds, of the samples added to the histogram between
 * before and after (before may be NULL: all of after), as Prometheus' histogram_quantile
 * computes it: linear inside the bucket that holds the rank, from 0 for the first bucket;
 * a rank in the +Inf bucket gives the largest finite bound. Returns a negative number when
 * there is nothing to compute it from (no samples, or the counter went backwards).
 * *samples (may be NULL) gets the number of samples in that window.
 */
double bench_prom_quantile(const struct bench_prom_hist *before,
                           const struct bench_prom_hist *after, double q, double *samples);

/*
 * The smallest and largest sample between before (may be NULL) and after, as well as the
 * buckets say: *min the lower end of the lowest bucket that gained samples (the bound
 * below it, 0 for the first), *max the upper end of the highest (the largest finite bound
 * when that is +Inf). sluiced's buckets (route/lat_hist.h) put both within 0.8% of the
 * true values. Returns false, leaving both, when there is no sample in the window or the
 * counts went backwards.
 */
bool bench_prom_range(const struct bench_prom_hist *before, const struct bench_prom_hist *after,
                      double *min, double *max);

#endif /* SLC_PERF_PROM_SCRAPE_H */
