/* SPDX-License-Identifier: MIT */
/* prom_scrape.c: reads sluiced's processed, drop and latency metrics from a text scrape. */
#include "prom_scrape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Does the line's name (which ends at a '{', space or tab) equal name? */
static bool
prom_name_is(const char *line, size_t name_len, const char *name)
{
	return strlen(name) == name_len && memcmp(line, name, name_len) == 0;
}

/*
 * Skips the label set at *p ('{' ... '}'), noting the value of le if there is one.
 * Label values may hold escaped quotes and '}' inside quotes. Returns false if the line
 * ends first.
 */
static bool
prom_labels(const char **p, const char **le, size_t *le_len)
{
	const char *s = *p + 1;

	*le = NULL;
	for (;;) {
		const char *name, *val;

		while (*s == ' ' || *s == ',')
			s++;
		if (*s == '}')
			break;
		name = s;
		while (*s != '=' && *s != '\0' && *s != '\n' && *s != '}')
			s++;
		if (*s != '=' || s[1] != '"')
			return false;
		val = s + 2;
		for (s = val; *s != '"'; s++) {
			if (*s == '\0' || *s == '\n')
				return false;
			if (*s == '\\' && s[1] != '\0' && s[1] != '\n')
				s++;
		}
		if (val - name == 4 && memcmp(name, "le", 2) == 0) {
			*le = val;
			*le_len = (size_t)(s - val);
		}
		s++;
	}
	*p = s + 1;
	return true;
}

/* Adds n samples at or below bound le to h, keeping the bounds sorted. */
static void
prom_hist_add(struct bench_prom_hist *h, bool *truncated, double le, double n)
{
	uint32_t i = 0;

	/* sluiced writes each label set's bounds in ascending order: most land at the end. */
	if (h->n > 0 && h->le[h->n - 1] < le)
		i = h->n;
	while (i < h->n && h->le[i] < le)
		i++;
	if (i < h->n && h->le[i] == le) {
		h->cum[i] += n;
		return;
	}
	if (h->n == BENCH_PROM_BUCKETS_MAX) {
		*truncated = true;
		return;
	}
	memmove(&h->le[i + 1], &h->le[i], (h->n - i) * sizeof(h->le[0]));
	memmove(&h->cum[i + 1], &h->cum[i], (h->n - i) * sizeof(h->cum[0]));
	h->le[i] = le;
	h->cum[i] = n;
	h->n++;
}

/* A _bucket, _count or _sum line of histogram h (suffix: the name after h's own). */
static void
prom_hist_line(struct bench_prom_sample *out, struct bench_prom_hist *h, bool *has,
               const char *suffix, size_t suffix_len, const char *le, size_t le_len, double v)
{
	if (prom_name_is(suffix, suffix_len, "_bucket") && le != NULL) {
		char buf[64], *end;
		double bound;

		if (le_len == 0 || le_len >= sizeof(buf))
			return;
		memcpy(buf, le, le_len);
		buf[le_len] = '\0';
		bound = strtod(buf, &end);
		if (*end != '\0' || isnan(bound))
			return;
		prom_hist_add(h, &out->lat_truncated, bound, v);
		*has = true;
	} else if (prom_name_is(suffix, suffix_len, "_count")) {
		h->count += v;
	} else if (prom_name_is(suffix, suffix_len, "_sum")) {
		h->sum += v;
	}
}

static void
prom_line(const char *line, struct bench_prom_sample *out)
{
	static const char lat[] = BENCH_PROM_LATENCY;
	static const char dlat[] = BENCH_PROM_DLATENCY;
	size_t name_len = strcspn(line, "{ \t\n");
	const char *p = line + name_len;
	const char *le = NULL;
	size_t le_len = 0;
	char *end;
	double v;

	if (*p == '{' && !prom_labels(&p, &le, &le_len))
		return;
	if (*p != ' ' && *p != '\t')
		return;
	v = strtod(p, &end);
	if (end == p || (*end != '\0' && *end != '\n' && *end != ' ' && *end != '\t'))
		return;

	if (prom_name_is(line, name_len, BENCH_PROM_PROCESSED)) {
		out->processed += v;
		out->has_processed = true;
	} else if (prom_name_is(line, name_len, BENCH_PROM_UDP_DROPS)) {
		out->udp_drops += v;
		out->has_udp_drops = true;
	} else if (name_len > sizeof(lat) - 1 && memcmp(line, lat, sizeof(lat) - 1) == 0) {
		prom_hist_line(out, &out->lat, &out->has_lat, line + sizeof(lat) - 1,
		               name_len - (sizeof(lat) - 1), le, le_len, v);
	} else if (name_len > sizeof(dlat) - 1 && memcmp(line, dlat, sizeof(dlat) - 1) == 0) {
		prom_hist_line(out, &out->dlat, &out->has_dlat, line + sizeof(dlat) - 1,
		               name_len - (sizeof(dlat) - 1), le, le_len, v);
	}
}

void
bench_prom_parse(const char *text, struct bench_prom_sample *out)
{
	memset(out, 0, sizeof(*out));
	while (*text != '\0') {
		const char *nl = strchr(text, '\n');

		if (*text != '#' && *text != '\n')
			prom_line(text, out);
		if (nl == NULL)
			break;
		text = nl + 1;
	}
}

/*
 * Samples at or below after->le[i], less those before had there. A bound before lacks
 * (the buckets changed) takes before's count at its largest bound below: a count at or
 * below a bound never shrinks as the bound grows.
 */
static double
prom_delta(const struct bench_prom_hist *before, const struct bench_prom_hist *after, uint32_t i)
{
	double v = after->cum[i], had = 0;

	for (uint32_t j = 0; before != NULL && j < before->n && before->le[j] <= after->le[i]; j++)
		had = before->cum[j];
	return v - had;
}

double
bench_prom_quantile(const struct bench_prom_hist *before, const struct bench_prom_hist *after,
                    double q, double *samples)
{
	double total, rank, lower = 0, below = 0;

	if (samples != NULL)
		*samples = 0;
	if (after->n == 0)
		return -1;
	/* The last bound is +Inf in a well-formed histogram; without it, the largest one
	 * still counts every sample it saw. */
	total = prom_delta(before, after, after->n - 1);
	if (samples != NULL)
		*samples = total;
	if (!(total > 0))
		return -1;
	rank = q * total;
	for (uint32_t i = 0; i < after->n; i++) {
		double cum = prom_delta(before, after, i);

		if (cum < below)
			return -1; /* not cumulative: a reset between the scrapes */
		if (cum >= rank && cum > below) {
			if (isinf(after->le[i]))
				return i > 0 ? after->le[i - 1] : -1;
			return lower + (after->le[i] - lower) * (rank - below) / (cum - below);
		}
		lower = after->le[i];
		below = cum;
	}
	return -1;
}

bool
bench_prom_range(const struct bench_prom_hist *before, const struct bench_prom_hist *after,
                 double *min, double *max)
{
	double below = 0, lo = -1, hi = -1;

	for (uint32_t i = 0; i < after->n; i++) {
		double cum = prom_delta(before, after, i);

		if (cum < below)
			return false; /* not cumulative: a reset between the scrapes */
		if (cum > below) {
			if (lo < 0)
				lo = i > 0 ? after->le[i - 1] : 0;
			hi = isinf(after->le[i]) ? (i > 0 ? after->le[i - 1] : -1) : after->le[i];
		}
		below = cum;
	}
	if (lo < 0 || hi < 0)
		return false;
	*min = lo;
	*max = hi;
	return true;
}
