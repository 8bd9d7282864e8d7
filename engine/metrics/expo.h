/* SPDX-License-Identifier: MIT */
/* expo.h: the Prometheus text exposition format (version 0.0.4): a builder that keeps it valid. */
#ifndef SLC_ENGINE_METRICS_EXPO_H
#define SLC_ENGINE_METRICS_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The daemon writes its counters into a struct slc_metrics_buf from a render callback; the
 * builder makes the text valid exposition format whatever the callback does:
 *
 *   slc_metrics_family(b, "sluice_pool_processed_total", "counter", "Messages ...");
 *   for (i = 0; i < npools; i++) {
 *           slc_metrics_labels(l, sizeof(l), "pool", pool_name[i], NULL);
 *           slc_metrics_u64(b, "sluice_pool_processed_total", l, processed[i]);
 *   }
 *   slc_metrics_family(b, "sluice_e2e_latency_seconds", "histogram", "...");
 *   slc_metrics_histogram_log2(b, "sluice_e2e_latency_seconds", l, hist, 64, 1e-9, sum_s);
 *
 * Families are groups: every sample of a family comes right after its family() call, before
 * the next family starts (the format requires it). Calling family() again for the family
 * being written is allowed and writes nothing, so a helper that emits one family for one
 * pool may be called once per pool; calling it for a family that was written earlier and
 * then left (a split family) is refused, as is a sample whose name is not the current
 * family's.
 *
 * A refused call (bad name, split family, sample outside its family, bad histogram) writes
 * nothing and returns -EINVAL, so the output stays valid; the buffer counts refusals and
 * keeps the first one's reason, and the server logs them. -ENOMEM sticks: once the buffer
 * could not grow, every later call returns -ENOMEM and the server answers 500.
 *
 * Buffers grow with malloc: they are for the admin thread, not the hot path.
 */
struct slc_metrics_buf;

/* Returns NULL with *err = -ENOMEM. */
struct slc_metrics_buf *slc_metrics_buf_create(int *err);
/* Accepts NULL. */
void slc_metrics_buf_destroy(struct slc_metrics_buf *b);
/* Empties the text, the families written and the refusals; keeps the memory. */
void slc_metrics_buf_reset(struct slc_metrics_buf *b);
/* The text so far, NUL-terminated; *len (may be NULL) gets its length. Valid until the
 * next call on b. */
const char *slc_metrics_buf_text(const struct slc_metrics_buf *b, size_t *len);
/* Refused calls since the last reset; *first (may be NULL) gets a line naming the first
 * (empty when none). */
uint32_t slc_metrics_buf_refused(const struct slc_metrics_buf *b, const char **first);
/* true once the buffer could not grow (-ENOMEM sticks until the next reset): the text is
 * incomplete. */
bool slc_metrics_buf_oom(const struct slc_metrics_buf *b);

/*
 * Starts family name: "# HELP" (backslash and newline escaped) and "# TYPE" lines. type is
 * "counter", "gauge" or "histogram". Counter names end in _total by convention; the
 * builder does not insist.
 * Returns 0 (also when name is the current family: nothing is written), -EINVAL (name not
 * [a-zA-Z_:][a-zA-Z0-9_:]*, unknown type, help NULL, name already written and left, or
 * the same name again with another type), -ENOMEM.
 */
int slc_metrics_family(struct slc_metrics_buf *b, const char *name, const char *type,
                       const char *help);

/*
 * One sample of the current family (counter or gauge): `name{labels} value`. labels is
 * NULL, "" or `k="v",k2="v2"` with escaped values (slc_metrics_labels builds it); it is
 * copied as it is. f64 writes NaN, +Inf and -Inf as the format spells them, and finite
 * values in the fewest digits that read back as the same double.
 * Returns 0, -EINVAL (name is not the current family, or that family is a histogram),
 * -ENOMEM.
 */
int slc_metrics_u64(struct slc_metrics_buf *b, const char *name, const char *labels,
                    uint64_t value);
int slc_metrics_f64(struct slc_metrics_buf *b, const char *name, const char *labels, double value);

/*
 * One labelled histogram of the current family (type "histogram") from a log2 histogram:
 * buckets[i] counts values v, in units of unit_s seconds (1e-9 for ns), with
 * 2^i <= v < 2^(i+1); bucket 0 also holds v = 0. Writes cumulative name_bucket lines with
 * le = 2^(i+1) * unit_s, then le="+Inf" (= name_count), name_sum (sum_s, seconds) and
 * name_count. labels as for slc_metrics_u64, and must not hold an le label.
 *
 * le is the exclusive upper end of the bucket while Prometheus reads it as inclusive: a
 * value of exactly 2^(i+1) units counts one bucket higher than le says, a difference too
 * small to matter for latencies.
 *
 * Empty buckets above the highest non-empty one are left out (+Inf carries the same
 * count), and so are empty buckets below the lowest non-empty one except the one just
 * below it, which gives histogram_quantile the lower end of the first bucket with data.
 * Counts only grow, so a bucket line once written is written by every later render of the
 * same process: the set of series only grows. All buckets empty: only +Inf, _sum, _count.
 * Returns 0, -EINVAL (name is not the current family or not a histogram, nbuckets > 64,
 * buckets NULL with nbuckets > 0, unit_s not finite and > 0), -ENOMEM.
 */
#define SLC_METRICS_LOG2_BUCKETS_MAX 64u
int slc_metrics_histogram_log2(struct slc_metrics_buf *b, const char *name, const char *labels,
                               const uint64_t *buckets, uint32_t nbuckets, double unit_s,
                               double sum_s);

/*
 * A histogram with explicit upper bounds (seconds, strictly increasing): counts[i] (not
 * cumulative) holds the samples of bucket i, counts[nbounds] those above the last bound.
 * Every bucket is written. Returns 0, -EINVAL (not the current histogram family, bounds
 * not increasing or not finite, counts NULL), -ENOMEM.
 */
int slc_metrics_histogram(struct slc_metrics_buf *b, const char *name, const char *labels,
                          const double *bounds_s, const uint64_t *counts, uint32_t nbounds,
                          double sum_s);

/*
 * Writes the value v with backslash, double quote and newline escaped into out (cap bytes,
 * NUL-terminated). Returns the length written, or -ENOSPC (out holds a truncated, still
 * NUL-terminated prefix that ends on no half escape) or -EINVAL (out NULL or cap 0).
 */
int slc_metrics_label_escape(char *out, size_t cap, const char *v);

/*
 * Builds a label set `k1="v1",k2="v2"` into out from name/value pairs ended by a NULL
 * name; values are escaped. No pairs: "". Returns 0, -EINVAL (a name not
 * [a-zA-Z_][a-zA-Z0-9_]*, or one starting with "__", which Prometheus reserves; a NULL
 * value), -ENOSPC (out too small; it then holds "").
 */
int slc_metrics_labels(char *out, size_t cap, ...) __attribute__((sentinel));

#endif /* SLC_ENGINE_METRICS_EXPO_H */
