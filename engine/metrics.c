/* SPDX-License-Identifier: MIT */
/* metrics.c: the Prometheus text builder and the libmicrohttpd endpoint that serves it. */
#include "metrics.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "msg.h" /* slc_mono_ns */

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

static bool
is_metric_name(const char *s)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			return false;
	return true;
}

static bool
is_label_name(const char *s)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
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

int
slc_metrics_histogram_log2(struct slc_metrics_buf *b, const char *name, const char *labels,
                           const uint64_t *buckets, uint32_t nbuckets, double unit_s, double sum_s)
{
	uint32_t first = UINT32_MAX, last = 0;
	uint64_t count = 0, cum = 0;
	char v[32], le[48];
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
			fmt_f64(v, sizeof(v), ldexp(unit_s, (int)i + 1));
			snprintf(le, sizeof(le), "le=\"%s\"", v);
			snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
			rc = put_sample(b, name, "_bucket", labels, le, v);
			if (rc != 0)
				return rollback(b, mark, rc);
		}
	}
	snprintf(v, sizeof(v), "%llu", (unsigned long long)count);
	if ((rc = put_sample(b, name, "_bucket", labels, "le=\"+Inf\"", v)) != 0)
		return rollback(b, mark, rc);
	fmt_f64(v, sizeof(v), sum_s);
	if ((rc = put_sample(b, name, "_sum", labels, NULL, v)) != 0)
		return rollback(b, mark, rc);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)count);
	if ((rc = put_sample(b, name, "_count", labels, NULL, v)) != 0)
		return rollback(b, mark, rc);
	return 0;
}

int
slc_metrics_histogram(struct slc_metrics_buf *b, const char *name, const char *labels,
                      const double *bounds_s, const uint64_t *counts, uint32_t nbounds,
                      double sum_s)
{
	uint64_t cum = 0;
	char v[32], le[48];
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
		fmt_f64(v, sizeof(v), bounds_s[i]);
		snprintf(le, sizeof(le), "le=\"%s\"", v);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
		if ((rc = put_sample(b, name, "_bucket", labels, le, v)) != 0)
			return rollback(b, mark, rc);
	}
	cum += counts[nbounds];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
	if ((rc = put_sample(b, name, "_bucket", labels, "le=\"+Inf\"", v)) != 0)
		return rollback(b, mark, rc);
	fmt_f64(v, sizeof(v), sum_s);
	if ((rc = put_sample(b, name, "_sum", labels, NULL, v)) != 0)
		return rollback(b, mark, rc);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
	if ((rc = put_sample(b, name, "_count", labels, NULL, v)) != 0)
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

/* ---- process memory ---- */

typedef int (*mallctl_fn)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

static int
process_resident_bytes(uint64_t *out)
{
	char text[256];
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0 || page <= 0)
		return -EIO;
	text[n] = '\0';
	if (sscanf(text, "%llu %llu", &size, &resident) != 2)
		return -EIO;
	*out = (uint64_t)resident * (uint64_t)page;
	return 0;
}

static int
gauge_u64(struct slc_metrics_buf *b, const char *name, const char *help, uint64_t v)
{
	int rc = slc_metrics_family(b, name, "gauge", help);

	return rc != 0 ? rc : slc_metrics_u64(b, name, NULL, v);
}

int
slc_metrics_jemalloc(struct slc_metrics_buf *b)
{
	mallctl_fn mallctl;
	uint64_t rss = 0, epoch = 1;
	size_t allocated, resident, len;
	int rc;

	if (process_resident_bytes(&rss) == 0) {
		rc = gauge_u64(b, "sluice_process_resident_bytes",
		               "Resident set size of the process.", rss);
		if (rc != 0)
			return rc;
	}

	/* Looked up, not linked: sanitizer builds run on libc malloc and have no mallctl. */
	mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	if (mallctl == NULL)
		return -ENOENT;
	/* jemalloc's statistics are a snapshot taken when the epoch advances. */
	len = sizeof(epoch);
	if (mallctl("epoch", &epoch, &len, &epoch, sizeof(epoch)) != 0)
		return -ENOENT;
	len = sizeof(allocated);
	if (mallctl("stats.allocated", &allocated, &len, NULL, 0) != 0)
		return -ENOENT;
	len = sizeof(resident);
	if (mallctl("stats.resident", &resident, &len, NULL, 0) != 0)
		return -ENOENT;

	rc = gauge_u64(b, "sluice_jemalloc_allocated_bytes",
	               "Bytes the application holds in jemalloc allocations.", allocated);
	if (rc != 0)
		return rc;
	return gauge_u64(b, "sluice_jemalloc_resident_bytes",
	                 "Bytes in physically resident pages that jemalloc has mapped.", resident);
}

/* ---- HTTP server ---- */

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT    "text/plain; charset=utf-8"
#define LOG_LINES_PER_S      10u
#define LISTEN_BACKLOG       64
/* Connections taken per wake-up of the loop, so that a flood of connects cannot keep it
 * from serving the ones it has. */
#define ACCEPT_BURST 8u
/* How long the listening socket is left alone after an accept() failure the spare
 * descriptor cannot get round (ENFILE taken back by another process, ENOBUFS, ENOMEM). */
#define ACCEPT_BACKOFF_MS 100
/* At most one line about refused connections this often (the first is written at once). */
#define REFUSED_LOG_INTERVAL_S 10

enum refused_reason {
	REFUSED_FD_LIMIT, /* no descriptor for it: accepted on the spare and closed unanswered */
	REFUSED_NO_SLOT,  /* libmicrohttpd would not take it (memory, its connection limit) */
	REFUSED_NR,
};

static const char *const refused_names[REFUSED_NR] = {
        [REFUSED_FD_LIMIT] = "fd_limit",
        [REFUSED_NO_SLOT] = "no_slot",
};

/*
 * The server owns its listening socket and its thread; libmicrohttpd parses and answers
 * requests on the connections handed to it (MHD_add_connection), polled through its epoll
 * descriptor from our loop. Left to accept by itself, libmicrohttpd retries a failed
 * accept() at once when it has no connection open ("busy waiting for system resources"),
 * so running out of descriptors cost the process a CPU for as long as it lasted.
 */
struct slc_metrics_server {
	struct MHD_Daemon *mhd;
	/* Reused by every scrape. Only the server's thread touches it: it runs every
	 * request, one at a time. */
	struct slc_metrics_buf *buf;
	slc_metrics_render_fn render;
	void *render_ctx;
	slc_metrics_check_fn health;
	slc_metrics_check_fn ready;
	void (*log)(void *ctx, int level, const char *fmt, ...)
	        __attribute__((format(printf, 3, 4)));
	void *log_ctx;
	/* The render formats doubles: under a locale with a decimal comma it would write
	 * "0,5". uselocale() is per thread, so the server thread alone is switched to "C". */
	locale_t c_locale;
	uint16_t port;

	int listen_fd;
	int epoll_fd; /* libmicrohttpd's, polled by our loop */
	int stop_fd;  /* eventfd: slc_metrics_server_stop() wakes the loop through it */
	/* Held in reserve for the moment descriptors run out: closed, it lets the loop take
	 * the waiting connection off the backlog and close it, so that the client is told at
	 * once and the listening socket stops being readable; then taken again. -1 while
	 * another thread of the process holds the descriptor it freed. */
	int spare_fd;
	pthread_t thread;
	int64_t backoff_until_ns; /* listening socket not polled until then; 0: polled */

	/* Only the server's thread writes or reads these: it accepts and renders. */
	uint64_t refused[REFUSED_NR];
	uint64_t refused_logged; /* refused[REFUSED_FD_LIMIT] at the last line about it */
	int64_t refused_log_ns;  /* when that line was written; 0: never */

	/* Rate limit of log lines. A mutex, because libmicrohttpd also logs from the thread
	 * that starts or stops it; lines are rare, so it costs nothing. */
	pthread_mutex_t log_lock;
	time_t log_second;
	uint32_t log_lines;
	uint32_t log_dropped;
};

static void __attribute__((format(printf, 3, 4)))
stderr_log(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)level;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void slog(struct slc_metrics_server *s, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* At most LOG_LINES_PER_S lines a second; the first line of the next second that has one
 * says how many were not written. */
static void
slog(struct slc_metrics_server *s, int level, const char *fmt, ...)
{
	struct timespec now;
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&s->log_lock);
	if (now.tv_sec != s->log_second) {
		if (s->log_dropped != 0)
			s->log(s->log_ctx, 1, "metrics: %u log lines dropped", s->log_dropped);
		s->log_second = now.tv_sec;
		s->log_lines = 0;
		s->log_dropped = 0;
	}
	if (s->log_lines < LOG_LINES_PER_S) {
		s->log_lines++;
		s->log(s->log_ctx, level, "metrics: %s", line);
	} else {
		s->log_dropped++;
	}
	pthread_mutex_unlock(&s->log_lock);
}

/* libmicrohttpd's messages: mostly about clients (a bad request, a reset), so warnings. */
static void __attribute__((format(printf, 2, 0))) mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct slc_metrics_server *s = cls;
	char line[400];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	slog(s, 1, "libmicrohttpd: %s", line);
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *content_type, const char *body,
      size_t len, enum MHD_ResponseMemoryMode mode, bool allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, mode);
	if (r == NULL)
		return MHD_NO; /* MHD closes the connection: the client sees the failure */
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
	    (allow && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_static(struct MHD_Connection *c, unsigned status, const char *body, bool allow)
{
	return reply(c, status, CONTENT_TYPE_TEXT, body, strlen(body), MHD_RESPMEM_PERSISTENT,
	             allow);
}

/* The server's own counters, after the render's families. */
static int
render_refused(struct slc_metrics_server *s)
{
	static const char name[] = "sluice_metrics_refused_total";
	char l[64];
	int rc = slc_metrics_family(s->buf, name, "counter",
	                            "Connections to the metrics endpoint closed unanswered, by "
	                            "reason: fd_limit (no file descriptor left for it), "
	                            "no_slot (libmicrohttpd did not take it).");

	for (unsigned i = 0; rc == 0 && i < REFUSED_NR; i++) {
		rc = slc_metrics_labels(l, sizeof(l), "reason", refused_names[i], NULL);
		if (rc == 0)
			rc = slc_metrics_u64(s->buf, name, l, s->refused[i]);
	}
	return rc;
}

static enum MHD_Result
serve_metrics(struct slc_metrics_server *s, struct MHD_Connection *c)
{
	const char *first, *text;
	uint32_t refused;
	size_t len;
	int rc;

	slc_metrics_buf_reset(s->buf);
	rc = s->render(s->render_ctx, s->buf);
	if (rc == 0)
		rc = render_refused(s);
	if (rc == 0 && s->buf->oom)
		rc = -ENOMEM;
	refused = slc_metrics_buf_refused(s->buf, &first);
	if (refused != 0)
		slog(s, 0, "render: %u calls refused, the first: %s", refused, first);
	if (rc != 0) {
		slog(s, 0, "render failed: %s", strerror(-rc));
		return reply_static(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "render failed\n", false);
	}
	text = slc_metrics_buf_text(s->buf, &len);
	return reply(c, MHD_HTTP_OK, CONTENT_TYPE_METRICS, text, len, MHD_RESPMEM_MUST_COPY, false);
}

/* /healthz, /readyz: "ok", or 503 and the check's reason. */
static enum MHD_Result
serve_check(struct slc_metrics_server *s, struct MHD_Connection *c, slc_metrics_check_fn check)
{
	char why[600];
	size_t n;

	if (check == NULL)
		return reply_static(c, MHD_HTTP_OK, "ok\n", false);
	why[0] = '\0';
	if (check(s->render_ctx, why, sizeof(why) - 1))
		return reply_static(c, MHD_HTTP_OK, "ok\n", false);
	n = strnlen(why, sizeof(why) - 1);
	if (n == 0)
		n = (size_t)snprintf(why, sizeof(why), "unavailable");
	why[n++] = '\n';
	return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, CONTENT_TYPE_TEXT, why, n,
	             MHD_RESPMEM_MUST_COPY, false);
}

/*
 * Every request is answered on the handler's first call, once its headers are in: none of
 * our routes reads a body. A request that sent one (a POST) gets its answer without the
 * body being read, and libmicrohttpd closes that connection after the answer.
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct slc_metrics_server *s = cls;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	           strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool metrics = strcmp(url, "/metrics") == 0;
	bool healthz = strcmp(url, "/healthz") == 0;
	bool readyz = strcmp(url, "/readyz") == 0;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (!metrics && !healthz && !readyz)
		return reply_static(c, MHD_HTTP_NOT_FOUND, "not found\n", false);
	if (!get)
		return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", true);
	if (healthz)
		return serve_check(s, c, s->health);
	if (readyz)
		return serve_check(s, c, s->ready);
	return serve_metrics(s, c);
}

/* Bound and listening: bind errors come back as they are (libmicrohttpd would only log
 * them), and the port is known before the server starts. */
static int
listen_socket(const struct sockaddr *sa, socklen_t len, uint16_t *port)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int one = 1, fd, rc;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restarted daemon rebinds while the old connections sit in TIME_WAIT; Linux still
	 * refuses a port that another socket listens on. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, sa, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
	                                          : ((struct sockaddr_in *)&bound)->sin_port);
	return fd;
}

/* Back off: the listening socket is left out of the poll set for ACCEPT_BACKOFF_MS. */
static void
accept_backoff(struct slc_metrics_server *s)
{
	s->backoff_until_ns = (int64_t)slc_mono_ns() + ACCEPT_BACKOFF_MS * 1000000ll;
}

/* One line at once, then at most one every REFUSED_LOG_INTERVAL_S with the count since the
 * last one and the total: a scraper retrying every second must not fill the log. */
static void
refused_log(struct slc_metrics_server *s, int err)
{
	int64_t now = (int64_t)slc_mono_ns();
	uint64_t total = s->refused[REFUSED_FD_LIMIT];

	if (s->refused_log_ns != 0 &&
	    now - s->refused_log_ns < REFUSED_LOG_INTERVAL_S * 1000000000ll)
		return;
	slog(s, 1,
	     "out of file descriptors (accept: %s): closed %llu connection(s) unanswered since "
	     "the last line, %llu in all (sluice_metrics_refused_total{reason=\"fd_limit\"}); "
	     "at most one such line every %d s",
	     strerror(err), (unsigned long long)(total - s->refused_logged),
	     (unsigned long long)total, REFUSED_LOG_INTERVAL_S);
	s->refused_logged = total;
	s->refused_log_ns = now;
}

/*
 * accept() failed with EMFILE or ENFILE: the client waits in the backlog, and the listening
 * socket stays readable, so polling it again would return at once, for as long as the
 * descriptors are out. The spare descriptor makes room to take the client off the backlog
 * and close it: it is told at once, and the socket is quiet until the next client. Without
 * the spare (another thread took the descriptor it freed) the loop backs off instead, and
 * the clients wait in the backlog.
 */
static void
accept_out_of_fds(struct slc_metrics_server *s, int err)
{
	int fd = -1;

	if (s->spare_fd >= 0) {
		close(s->spare_fd);
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			s->refused[REFUSED_FD_LIMIT]++;
			refused_log(s, err);
		}
		s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0 || s->spare_fd < 0)
		accept_backoff(s);
}

static unsigned
mhd_connections(struct slc_metrics_server *s)
{
	const union MHD_DaemonInfo *i =
	        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i != NULL ? i->num_connections : 0;
}

/* Takes up to ACCEPT_BURST waiting clients and hands them to libmicrohttpd. */
static void
accept_some(struct slc_metrics_server *s)
{
	for (unsigned i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd, err;

		if (mhd_connections(s) >= SLC_METRICS_CONN_MAX)
			return;
		fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &len,
		             SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			/* It closes fd itself when it refuses it. */
			if (MHD_add_connection(s->mhd, fd, (struct sockaddr *)&ss, len) !=
			    MHD_YES) {
				s->refused[REFUSED_NO_SLOT]++;
				slog(s, 1, "a connection refused by libmicrohttpd: %s",
				     strerror(errno));
			}
			continue;
		}
		err = errno;
		switch (err) {
		case EAGAIN:
			return;
		/* Interrupted, or accept(2)'s errors of the connection that was waiting, not
		 * of the socket: the next one may be fine. */
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
		case ENETDOWN:
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case EOPNOTSUPP:
		case ENETUNREACH:
			continue;
		case EMFILE:
		case ENFILE:
			accept_out_of_fds(s, err);
			if (s->backoff_until_ns != 0)
				return;
			continue;
		default: /* ENOBUFS, ENOMEM, and what should never happen */
			slog(s, 0, "accept: %s; trying again in %d ms", strerror(err),
			     ACCEPT_BACKOFF_MS);
			accept_backoff(s);
			return;
		}
	}
}

/* How long poll() may wait: libmicrohttpd's next timeout, or the end of a back-off. */
static int
poll_timeout_ms(struct slc_metrics_server *s)
{
	MHD_UNSIGNED_LONG_LONG mhd_ms;
	int64_t ms = -1;

	if (MHD_get_timeout(s->mhd, &mhd_ms) == MHD_YES)
		ms = mhd_ms < INT_MAX ? (int64_t)mhd_ms : INT_MAX;
	if (s->backoff_until_ns != 0) {
		int64_t left = (s->backoff_until_ns - (int64_t)slc_mono_ns() + 999999) / 1000000;

		if (left <= 0) {
			s->backoff_until_ns = 0;
		} else if (ms < 0 || left < ms) {
			ms = left;
		}
	}
	return (int)ms;
}

static void *
serve_loop(void *arg)
{
	struct slc_metrics_server *s = arg;

	uselocale(s->c_locale);
	for (;;) {
		struct pollfd pfd[3] = {
		        {.fd = s->stop_fd, .events = POLLIN},
		        {.fd = s->epoll_fd, .events = POLLIN},
		        {.fd = s->listen_fd, .events = POLLIN},
		};
		int timeout = poll_timeout_ms(s);
		uint64_t stop;
		nfds_t n = 2;

		if (s->spare_fd < 0)
			s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		/* At the connection limit, or backing off, clients wait in the backlog. */
		if (s->backoff_until_ns == 0 && mhd_connections(s) < SLC_METRICS_CONN_MAX)
			n = 3;
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			struct timespec pause = {.tv_nsec = ACCEPT_BACKOFF_MS * 1000000l};

			/* ENOMEM: poll did not wait, and the next one would not either. */
			slog(s, 0, "poll: %s; trying again in %d ms", strerror(errno),
			     ACCEPT_BACKOFF_MS);
			nanosleep(&pause, NULL);
			/* The stop must not depend on a poll that keeps failing. */
			if (read(s->stop_fd, &stop, sizeof(stop)) == sizeof(stop))
				break;
			continue;
		}
		if (pfd[0].revents != 0)
			break;
		if (n == 3 && pfd[2].revents != 0)
			accept_some(s);
		/* Always, even without events: it also closes the connections that timed out. */
		MHD_run(s->mhd);
	}
	return NULL;
}

struct slc_metrics_server *
slc_metrics_server_create(const struct slc_metrics_server_cfg *cfg, int *err)
{
	struct slc_metrics_server *s;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;
	int rc;

	if (cfg == NULL || cfg->addr == NULL || cfg->render == NULL) {
		*err = -EINVAL;
		return NULL;
	}
	if (!(cfg->addr->sa_family == AF_INET && cfg->addrlen >= sizeof(struct sockaddr_in)) &&
	    !(cfg->addr->sa_family == AF_INET6 && cfg->addrlen >= sizeof(struct sockaddr_in6))) {
		*err = -EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	s->render = cfg->render;
	s->render_ctx = cfg->render_ctx;
	s->health = cfg->health;
	s->ready = cfg->ready;
	s->log = cfg->log != NULL ? cfg->log : stderr_log;
	s->log_ctx = cfg->log_ctx;
	rc = pthread_mutex_init(&s->log_lock, NULL);
	if (rc != 0) {
		rc = -rc;
		goto err_free_server;
	}
	s->buf = slc_metrics_buf_create(&rc);
	if (s->buf == NULL)
		goto err_destroy_lock;
	s->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (s->c_locale == (locale_t)0) {
		rc = -errno;
		goto err_destroy_buf;
	}
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->spare_fd < 0) {
		rc = -errno;
		goto err_free_locale;
	}
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0) {
		rc = -errno;
		goto err_close_spare;
	}
	s->listen_fd = listen_socket(cfg->addr, cfg->addrlen, &s->port);
	if (s->listen_fd < 0) {
		rc = s->listen_fd;
		goto err_close_stop;
	}
	if (cfg->addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	/* The logger goes first: options before it would log through MHD's own logger. */
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	                          mhd_log, s, MHD_OPTION_CONNECTION_LIMIT,
	                          (unsigned)SLC_METRICS_CONN_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
	                          (unsigned)SLC_METRICS_CONN_TIMEOUT_S, MHD_OPTION_END);
	if (s->mhd == NULL) {
		rc = errno != 0 ? -errno : -EIO;
		slog(s, 0, "libmicrohttpd did not start: %s", strerror(-rc));
		goto err_close_listen;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		rc = -EIO;
		slog(s, 0, "libmicrohttpd gave no epoll descriptor");
		goto err_stop_mhd;
	}
	s->epoll_fd = info->epoll_fd;
	rc = -pthread_create(&s->thread, NULL, serve_loop, s);
	if (rc != 0)
		goto err_stop_mhd;
	pthread_setname_np(s->thread, "slc-metrics");
	return s;

err_stop_mhd:
	MHD_stop_daemon(s->mhd);
err_close_listen:
	close(s->listen_fd);
err_close_stop:
	close(s->stop_fd);
err_close_spare:
	close(s->spare_fd);
err_free_locale:
	freelocale(s->c_locale);
err_destroy_buf:
	slc_metrics_buf_destroy(s->buf);
err_destroy_lock:
	pthread_mutex_destroy(&s->log_lock);
err_free_server:
	free(s);
err_out:
	*err = rc;
	return NULL;
}

static int
port_parse(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

/* "ADDR:PORT", the form --metrics takes (cfg.c reads it the same way). */
static int
addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[INET6_ADDRSTRLEN];
	const char *hs, *he, *colon;
	uint16_t port;
	bool v6 = false;

	if (s == NULL)
		return -EINVAL;
	if (s[0] == '[') {
		hs = s + 1;
		he = strchr(hs, ']');
		if (he == NULL || he[1] != ':')
			return -EINVAL;
		colon = he + 1;
		v6 = true;
	} else {
		hs = s;
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -EINVAL;
		he = colon;
	}
	if (port_parse(colon + 1, &port) != 0 || he == hs || (size_t)(he - hs) >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		*sslen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		*sslen = sizeof(*a);
	}
	return 0;
}

struct slc_metrics_server *
slc_metrics_server_start(const char *addr_port, slc_metrics_render_fn render, void *ctx, int *err)
{
	struct slc_metrics_server_cfg cfg = {.render = render, .render_ctx = ctx};
	struct sockaddr_storage ss;
	int rc = addr_parse(addr_port, &ss, &cfg.addrlen);

	if (rc != 0) {
		*err = rc;
		return NULL;
	}
	cfg.addr = (const struct sockaddr *)&ss;
	return slc_metrics_server_create(&cfg, err);
}

uint16_t
slc_metrics_server_port(const struct slc_metrics_server *s)
{
	return s != NULL ? s->port : 0;
}

void
slc_metrics_server_stop(struct slc_metrics_server *s)
{
	uint64_t one = 1;

	if (s == NULL)
		return;
	/* Joins the server's thread: after this no render runs and no log line comes. An
	 * eventfd write fails only when the counter would overflow, which one write cannot. */
	if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
		slog(s, 0, "stop: eventfd write: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	MHD_stop_daemon(s->mhd); /* closes every connection */
	close(s->listen_fd);
	close(s->stop_fd);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	freelocale(s->c_locale);
	slc_metrics_buf_destroy(s->buf);
	pthread_mutex_destroy(&s->log_lock);
	free(s);
}
