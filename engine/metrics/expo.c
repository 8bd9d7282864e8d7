/* SPDX-License-Identifier: MIT */
/* expo.c: the Prometheus text builder: families, samples, histograms, label escaping. */
#include "expo.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- text builder ---- */

enum fam_type {
	FAM_COUNTER,
	FAM_GAUGE,
	FAM_HISTOGRAM,
};

#define NO_FAMILY SIZE_MAX

struct slc_metrics_buf {
	char *text; /* always NUL-terminated */
	size_t len;
	size_t cap;
	/* Names of the families written since the last reset, each NUL-terminated, back to
	 * back: a split family must be found among them. A render has tens of families, so a
	 * linear search costs less than keeping a hash table right. */
	char *fams;
	size_t fams_len;
	size_t fams_cap;
	size_t cur; /* offset in fams of the family being written; NO_FAMILY before the first */
	enum fam_type cur_type;
	uint32_t refused;
	bool oom;
	char first_refusal[160];
};

static const char *const fam_type_names[] = {
        [FAM_COUNTER] = "counter",
        [FAM_GAUGE] = "gauge",
        [FAM_HISTOGRAM] = "histogram",
};

struct slc_metrics_buf *
slc_metrics_buf_create(int *err)
{
	struct slc_metrics_buf *b = calloc(1, sizeof(*b));

	if (b == NULL)
		goto err_nomem;
	b->cap = 4096;
	b->text = malloc(b->cap);
	if (b->text == NULL)
		goto err_free_buf;
	b->text[0] = '\0';
	b->cur = NO_FAMILY;
	return b;

err_free_buf:
	free(b);
err_nomem:
	*err = -ENOMEM;
	return NULL;
}

void
slc_metrics_buf_destroy(struct slc_metrics_buf *b)
{
	if (b == NULL)
		return;
	free(b->fams);
	free(b->text);
	free(b);
}

void
slc_metrics_buf_reset(struct slc_metrics_buf *b)
{
	b->len = 0;
	b->text[0] = '\0';
	b->fams_len = 0;
	b->cur = NO_FAMILY;
	b->refused = 0;
	b->oom = false;
	b->first_refusal[0] = '\0';
}

const char *
slc_metrics_buf_text(const struct slc_metrics_buf *b, size_t *len)
{
	if (len != NULL)
		*len = b->len;
	return b->text;
}

uint32_t
slc_metrics_buf_refused(const struct slc_metrics_buf *b, const char **first)
{
	if (first != NULL)
		*first = b->first_refusal;
	return b->refused;
}

bool
slc_metrics_buf_oom(const struct slc_metrics_buf *b)
{
	return b->oom;
}

static int refuse(struct slc_metrics_buf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* A refusal writes nothing: the text stays valid, and the count tells the server to log. */
static int
refuse(struct slc_metrics_buf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->refused++ == 0) {
		va_start(ap, fmt);
		vsnprintf(b->first_refusal, sizeof(b->first_refusal), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Room for n more bytes and the NUL. Doubling keeps a render's allocations to a few. */
static int
reserve(struct slc_metrics_buf *b, size_t n)
{
	size_t cap = b->cap;
	char *t;

	if (b->oom)
		return -ENOMEM;
	if (n < b->cap - b->len)
		return 0;
	while (n >= cap - b->len) {
		if (cap > SIZE_MAX / 2)
			goto err_nomem;
		cap *= 2;
	}
	t = realloc(b->text, cap);
	if (t == NULL)
		goto err_nomem;
	b->text = t;
	b->cap = cap;
	return 0;

err_nomem:
	b->oom = true;
	return -ENOMEM;
}

static int
put(struct slc_metrics_buf *b, const char *s, size_t n)
{
	int rc = reserve(b, n);

	if (rc != 0)
		return rc;
	memcpy(b->text + b->len, s, n);
	b->len += n;
	b->text[b->len] = '\0';
	return 0;
}

static int
puts_(struct slc_metrics_buf *b, const char *s)
{
	return put(b, s, strlen(s));
}

/* s with backslash and newline escaped, and double quote too when quote (label values;
 * HELP text keeps its quotes, as the format says). */
static int
put_escaped(struct slc_metrics_buf *b, const char *s, bool quote)
{
	for (const char *p = s; *p != '\0';) {
		size_t run = strcspn(p, quote ? "\\\"\n" : "\\\n");
		int rc = put(b, p, run);

		if (rc != 0)
			return rc;
		p += run;
		if (*p == '\0')
			break;
		rc = put(b, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\", 2);
		if (rc != 0)
			return rc;
		p++;
	}
	return 0;
}

/* Back to a line's start: a line is written whole or not at all. */
static int
rollback(struct slc_metrics_buf *b, size_t mark, int rc)
{
	b->len = mark;
	b->text[mark] = '\0';
	return rc;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, with ':' too where colon: metric names take it, label names
 * do not. */
static bool
is_name(const char *s, bool colon)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

static bool
is_metric_name(const char *s)
{
	return is_name(s, true);
}

static bool
is_label_name(const char *s)
{
	return is_name(s, false);
}

static bool
family_seen(const struct slc_metrics_buf *b, const char *name)
{
	for (size_t off = 0; off < b->fams_len; off += strlen(b->fams + off) + 1)
		if (strcmp(b->fams + off, name) == 0)
			return true;
	return false;
}

static int
family_add(struct slc_metrics_buf *b, const char *name)
{
	size_t n = strlen(name) + 1;

	if (n > b->fams_cap - b->fams_len) {
		size_t cap = b->fams_cap != 0 ? b->fams_cap : 1024;
		char *f;

		while (n > cap - b->fams_len)
			cap *= 2;
		f = realloc(b->fams, cap);
		if (f == NULL) {
			b->oom = true;
			return -ENOMEM;
		}
		b->fams = f;
		b->fams_cap = cap;
	}
	memcpy(b->fams + b->fams_len, name, n);
	b->cur = b->fams_len;
	b->fams_len += n;
	return 0;
}

int
slc_metrics_family(struct slc_metrics_buf *b, const char *name, const char *type, const char *help)
{
	size_t mark = b->len;
	enum fam_type t;
	int rc;

	if (b->oom)
		return -ENOMEM;
	if (!is_metric_name(name))
		return refuse(b, "family \"%.64s\": not a metric name", name ? name : "(null)");
	if (type == NULL)
		return refuse(b, "family %.64s: no type", name);
	for (t = FAM_COUNTER; t <= FAM_HISTOGRAM; t++)
		if (strcmp(type, fam_type_names[t]) == 0)
			break;
	if (t > FAM_HISTOGRAM)
		return refuse(b, "family %.64s: type \"%.16s\" is not counter, gauge or histogram",
		              name, type);
	if (help == NULL)
		return refuse(b, "family %.64s: no help", name);
	if (b->cur != NO_FAMILY && strcmp(b->fams + b->cur, name) == 0) {
		if (t != b->cur_type)
			return refuse(b, "family %.64s: %s here, %s before", name,
			              fam_type_names[t], fam_type_names[b->cur_type]);
		return 0;
	}
	if (family_seen(b, name))
		return refuse(b, "family %.64s: split (written, left, started again)", name);

	if ((rc = puts_(b, "# HELP ")) != 0 || (rc = puts_(b, name)) != 0 ||
	    (rc = put(b, " ", 1)) != 0 || (rc = put_escaped(b, help, false)) != 0 ||
	    (rc = puts_(b, "\n# TYPE ")) != 0 || (rc = puts_(b, name)) != 0 ||
	    (rc = put(b, " ", 1)) != 0 || (rc = puts_(b, type)) != 0 || (rc = put(b, "\n", 1)) != 0)
		return rollback(b, mark, rc);
	rc = family_add(b, name);
	if (rc != 0)
		return rollback(b, mark, rc);
	b->cur_type = t;
	return 0;
}

/* A sample named name belongs to the current family, a histogram or not as said. */
static int
check_sample(struct slc_metrics_buf *b, const char *name, bool histogram)
{
	if (b->oom)
		return -ENOMEM;
	if (name == NULL || b->cur == NO_FAMILY || strcmp(b->fams + b->cur, name) != 0)
		return refuse(b, "sample %.64s: outside its family (current: %.64s)",
		              name ? name : "(null)",
		              b->cur == NO_FAMILY ? "none" : b->fams + b->cur);
	if (histogram != (b->cur_type == FAM_HISTOGRAM))
		return refuse(b, "sample %.64s: family is a %s", name, fam_type_names[b->cur_type]);
	return 0;
}

/* The fewest of 15..17 significant digits that read back as v: "0.1", not
 * "0.10000000000000001". The caller's locale must be "C" (the server sees to it). */
static void
fmt_f64(char *out, size_t cap, double v)
{
	if (isnan(v)) {
		snprintf(out, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, cap, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/* `name[suffix]{labels[,extra]} value\n`, whole or not at all. */
static int
put_sample(struct slc_metrics_buf *b, const char *name, const char *suffix, const char *labels,
           const char *extra, const char *value)
{
	bool has_labels = labels != NULL && *labels != '\0';
	size_t mark = b->len;
	int rc;

	if ((rc = puts_(b, name)) != 0 || (rc = puts_(b, suffix)) != 0)
		return rollback(b, mark, rc);
	if (has_labels || extra != NULL) {
		if ((rc = put(b, "{", 1)) != 0 || (has_labels && (rc = puts_(b, labels)) != 0) ||
		    (has_labels && extra != NULL && (rc = put(b, ",", 1)) != 0) ||
		    (extra != NULL && (rc = puts_(b, extra)) != 0) || (rc = put(b, "}", 1)) != 0)
			return rollback(b, mark, rc);
	}
	if ((rc = put(b, " ", 1)) != 0 || (rc = puts_(b, value)) != 0 ||
	    (rc = put(b, "\n", 1)) != 0)
		return rollback(b, mark, rc);
	return 0;
}

int
slc_metrics_u64(struct slc_metrics_buf *b, const char *name, const char *labels, uint64_t value)
{
	char v[24];
	int rc = check_sample(b, name, false);

	if (rc != 0)
		return rc;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
	return put_sample(b, name, "", labels, NULL, v);
}

int
slc_metrics_f64(struct slc_metrics_buf *b, const char *name, const char *labels, double value)
{
	char v[32];
	int rc = check_sample(b, name, false);

	if (rc != 0)
		return rc;
	fmt_f64(v, sizeof(v), value);
	return put_sample(b, name, "", labels, NULL, v);
}

/* One `_bucket` sample: le="bound" (fmt_f64 writes an infinite bound as +Inf) and the
 * cumulative count up to it. Returns put_sample's error. */
static int
put_bucket(struct slc_metrics_buf *b, const char *name, const char *labels, double bound_s,
           uint64_t cum)
{
	char v[32], le[48];

	fmt_f64(v, sizeof(v), bound_s);
	snprintf(le, sizeof(le), "le=\"%s\"", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
	return put_sample(b, name, "_bucket", labels, le, v);
}

/* A histogram's closing samples: the +Inf bucket, _sum and _count. The caller rolls back
 * to its mark on error. */
static int
put_hist_tail(struct slc_metrics_buf *b, const char *name, const char *labels, uint64_t count,
              double sum_s)
{
	char v[32];
	int rc;

	if ((rc = put_bucket(b, name, labels, INFINITY, count)) != 0)
		return rc;
	fmt_f64(v, sizeof(v), sum_s);
	if ((rc = put_sample(b, name, "_sum", labels, NULL, v)) != 0)
		return rc;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)count);
	return put_sample(b, name, "_count", labels, NULL, v);
}

int
slc_metrics_histogram_log2(struct slc_metrics_buf *b, const char *name, const char *labels,
                           const uint64_t *buckets, uint32_t nbuckets, double unit_s, double sum_s)
{
	uint32_t first = UINT32_MAX, last = 0;
	uint64_t count = 0, cum = 0;
	size_t mark = b->len;
	int rc = check_sample(b, name, true);

	if (rc != 0)
		return rc;
	if (nbuckets > SLC_METRICS_LOG2_BUCKETS_MAX || (buckets == NULL && nbuckets > 0) ||
	    !isfinite(unit_s) || !(unit_s > 0))
		return refuse(b, "histogram %.64s: %u buckets of %g s", name, nbuckets, unit_s);
	for (uint32_t i = 0; i < nbuckets; i++) {
		if (buckets[i] == 0)
			continue;
		if (first == UINT32_MAX)
			first = i;
		last = i;
		count += buckets[i];
	}
	/* One empty bucket below the first with data: histogram_quantile interpolates inside
	 * the first bucket from 0, which would put the lowest samples far too low. */
	if (first != UINT32_MAX) {
		for (uint32_t i = first > 0 ? first - 1 : 0; i <= last; i++) {
			cum += buckets[i];
			rc = put_bucket(b, name, labels, ldexp(unit_s, (int)i + 1), cum);
			if (rc != 0)
				return rollback(b, mark, rc);
		}
	}
	if ((rc = put_hist_tail(b, name, labels, count, sum_s)) != 0)
		return rollback(b, mark, rc);
	return 0;
}

int
slc_metrics_histogram(struct slc_metrics_buf *b, const char *name, const char *labels,
                      const double *bounds_s, const uint64_t *counts, uint32_t nbounds,
                      double sum_s)
{
	uint64_t cum = 0;
	size_t mark = b->len;
	int rc = check_sample(b, name, true);

	if (rc != 0)
		return rc;
	if ((nbounds > 0 && bounds_s == NULL) || counts == NULL)
		return refuse(b, "histogram %.64s: no bounds or counts", name);
	for (uint32_t i = 0; i < nbounds; i++)
		if (!isfinite(bounds_s[i]) || (i > 0 && !(bounds_s[i] > bounds_s[i - 1])))
			return refuse(b, "histogram %.64s: bound %u is not above the one before",
			              name, i);
	for (uint32_t i = 0; i < nbounds; i++) {
		cum += counts[i];
		if ((rc = put_bucket(b, name, labels, bounds_s[i], cum)) != 0)
			return rollback(b, mark, rc);
	}
	cum += counts[nbounds];
	if ((rc = put_hist_tail(b, name, labels, cum, sum_s)) != 0)
		return rollback(b, mark, rc);
	return 0;
}

int
slc_metrics_label_escape(char *out, size_t cap, const char *v)
{
	size_t n = 0;

	if (out == NULL || cap == 0 || v == NULL)
		return -EINVAL;
	for (; *v != '\0'; v++) {
		const char *e = *v == '\\'   ? "\\\\"
		                : *v == '"'  ? "\\\""
		                : *v == '\n' ? "\\n"
		                             : NULL;
		size_t k = e != NULL ? 2 : 1;

		if (cap - n <= k || n + k > INT_MAX) {
			out[n] = '\0';
			return -ENOSPC;
		}
		if (e != NULL)
			memcpy(out + n, e, 2);
		else
			out[n] = *v;
		n += k;
	}
	out[n] = '\0';
	return (int)n;
}

int
slc_metrics_labels(char *out, size_t cap, ...)
{
	const char *k, *v;
	size_t n = 0;
	int rc = 0;
	va_list ap;

	if (out == NULL || cap == 0)
		return -EINVAL;
	va_start(ap, cap);
	while ((k = va_arg(ap, const char *)) != NULL) {
		size_t klen = strlen(k);
		int e;

		v = va_arg(ap, const char *);
		if (!is_label_name(k) || strncmp(k, "__", 2) == 0 || v == NULL) {
			rc = -EINVAL;
			break;
		}
		/* [,]k=" then the escaped value, then " */
		if (cap - n <= klen + 3 + (n != 0)) {
			rc = -ENOSPC;
			break;
		}
		if (n != 0)
			out[n++] = ',';
		memcpy(out + n, k, klen);
		n += klen;
		memcpy(out + n, "=\"", 2);
		n += 2;
		e = slc_metrics_label_escape(out + n, cap - n, v);
		if (e < 0) {
			rc = e;
			break;
		}
		n += (size_t)e;
		if (cap - n <= 1) {
			rc = -ENOSPC;
			break;
		}
		out[n++] = '"';
	}
	va_end(ap);
	out[rc == 0 ? n : 0] = '\0';
	return rc;
}
