/* SPDX-License-Identifier: MIT */
/* sluice_bench_report.c: sluice-bench's metrics scrape, progress line, drain wait and report. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench_net.h"
#include "sluice_bench.h"

/* ---- metrics ----------------------------------------------------------------------- */

int
sb_scrape(const struct sb_run *r, char **buf, size_t *cap, struct bench_prom_sample *out)
{
	struct timeval tv = {.tv_sec = SB_SCRAPE_TIMEOUT};
	char req[512];
	size_t got = 0;
	const char *body;
	int fd, rc, n;

	fd = sb_connect(&r->maddr, r->maddr_len, SOCK_STREAM, SB_SCRAPE_TIMEOUT * 1000, false);
	if (fd < 0)
		return fd;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %.*s\r\n\r\n", r->mpath,
	             r->mhost_len, r->o.metrics + 7);
	if (n <= 0 || (size_t)n >= sizeof(req)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	rc = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 ? 0 : -errno;
	if (rc == 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		rc = -EIO;
	while (rc == 0) {
		ssize_t k;

		if (*cap - got < 65536) {
			char *nb = realloc(*buf, *cap * 2);

			if (nb == NULL) {
				rc = -ENOMEM;
				break;
			}
			*buf = nb;
			*cap *= 2;
		}
		k = recv(fd, *buf + got, *cap - got - 1, 0);
		if (k == 0)
			break;
		if (k < 0 && errno != EINTR)
			rc = -errno;
		if (k > 0)
			got += (size_t)k;
	}
	close(fd);
	if (rc != 0)
		return rc;
	(*buf)[got] = '\0';
	body = strstr(*buf, "\r\n\r\n");
	if (strncmp(*buf, "HTTP/1.", 7) != 0 || strncmp(*buf + 8, " 200", 4) != 0 || body == NULL)
		return -EPROTO;
	bench_prom_parse(body + 4, out);
	return 0;
}

/* ---- report ------------------------------------------------------------------------ */

static const double sb_q[SB_NQ] = {0.5, 0.95, 0.99, 0.999};

/* "12.3 us", or "-" */
static const char *
sb_us(char *buf, size_t cap, double s)
{
	if (s < 0)
		return "-";
	snprintf(buf, cap, "%.1f us", s * 1e6);
	return buf;
}

void
sb_progress(const struct sb_run *r, struct sb_thread *ts, uint64_t now, uint64_t *last_msgs,
            uint64_t *last_ns, const struct bench_prom_sample *prev,
            const struct bench_prom_sample *cur)
{
	uint64_t msgs = 0;
	char a[32], b[32];
	double dt = (double)(now - *last_ns) / 1e9, p50 = -1, p99 = -1, rate;

	for (int64_t i = 0; i < r->o.threads; i++)
		msgs += atomic_load_explicit(&ts[i].msgs, memory_order_relaxed);
	rate = (double)(msgs - *last_msgs) / dt; /* over the last tick, as the latencies */
	if (cur != NULL) {
		p50 = bench_prom_quantile(&prev->lat, &cur->lat, 0.5, NULL);
		p99 = bench_prom_quantile(&prev->lat, &cur->lat, 0.99, NULL);
	}
	printf("\r%7.1f s  sent %" PRIu64 "  %.0f msgs/s  %.1f MB/s  p50 %s  p99 %s\033[K",
	       (double)(now - r->start_ns) / 1e9, msgs, rate, rate * r->wire / 1e6,
	       sb_us(a, sizeof(a), p50), sb_us(b, sizeof(b), p99));
	fflush(stdout);
	*last_msgs = msgs;
	*last_ns = now;
}

void
sb_drain(const struct sb_run *r, char **buf, size_t *cap, const struct bench_prom_sample *before,
         struct bench_prom_sample *after, struct sb_result *res, uint64_t send_end)
{
	uint64_t deadline = send_end + (uint64_t)r->o.wait_drain * 1000000000u;
	uint64_t seen_ns = send_end, still_since = send_end;
	double last = -1;

	for (;;) {
		uint64_t now;
		double d;
		int rc = sb_scrape(r, buf, cap, after);

		now = bench_now_ns();
		if (rc != 0) {
			fprintf(stderr, SB_PROG ": scrape of %s after the run failed: %s\n",
			        r->o.metrics, strerror(-rc));
			res->metrics = false;
			return;
		}
		d = after->processed - before->processed;
		if (d != last) {
			last = d;
			seen_ns = still_since = now;
		}
		if (!after->has_processed || d >= (double)res->sent ||
		    now - still_since >= SB_DRAIN_STILL_NS || now >= deadline)
			break;
		nanosleep(&(struct timespec){.tv_nsec = SB_DRAIN_POLL_NS}, NULL);
	}
	res->has_processed = after->has_processed;
	res->processed = last;
	res->processed_s = (double)(seen_ns - r->start_ns) / 1e9;
	res->unprocessed = (double)res->sent - last;
	res->has_drops = after->has_udp_drops;
	res->drops = after->udp_drops - before->udp_drops;
	/* The daemon's own part, received to delivered, whatever measured the whole. */
	for (int i = 0; i < SB_NQ; i++)
		res->dp[i] = bench_prom_quantile(&before->dlat, &after->dlat, sb_q[i], NULL);
	if (res->lat_source != SB_LAT_NONE)
		return; /* --acks measured every frame itself */
	for (int i = 0; i < SB_NQ; i++)
		res->p[i] =
		        bench_prom_quantile(&before->lat, &after->lat, sb_q[i], &res->lat_samples);
	if (res->lat_samples > 0) {
		res->lat_source = SB_LAT_METRICS;
		bench_prom_range(&before->lat, &after->lat, &res->lat_min, &res->lat_max);
	}
}

/* ---- the --csv and --json row: one list of fields, so both carry the same ones ---- */

struct sb_row {
	uint32_t n;
	const char *name[40];
	char val[40][48]; /* "" : unknown (CSV empty, JSON null) */
	bool str[40];
};

static void sb_put(struct sb_row *w, const char *name, bool str, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
sb_put(struct sb_row *w, const char *name, bool str, const char *fmt, ...)
{
	va_list ap;

	w->name[w->n] = name;
	w->str[w->n] = str;
	va_start(ap, fmt);
	vsnprintf(w->val[w->n], sizeof(w->val[0]), fmt, ap);
	va_end(ap);
	w->n++;
}

static void
sb_put_us(struct sb_row *w, const char *name, double s)
{
	if (s >= 0)
		sb_put(w, name, false, "%.1f", s * 1e6);
	else
		sb_put(w, name, false, "%s", "");
}

static const char *const sb_lat_names[] = {
        [SB_LAT_NONE] = "",
        [SB_LAT_ACKS] = "acks",
        [SB_LAT_METRICS] = "metrics",
};

static void
sb_row_fill(const struct sb_run *r, const struct sb_result *res, struct sb_row *w)
{
	const struct sb_opts *o = &r->o;
	static const char *const pn[SB_NQ] = {"p50_us", "p95_us", "p99_us", "p999_us"};
	static const char *const dn[SB_NQ] = {"daemon_p50_us", "daemon_p95_us", "daemon_p99_us",
	                                      "daemon_p999_us"};

	sb_put(w, "transport", true, "%s", r->udp ? "udp" : "tcp");
	sb_put(w, "connections", false, "%" PRId64, o->connections);
	sb_put(w, "size", false, "%" PRId64, o->size);
	sb_put(w, "framing", true, "%s", o->framing_name);
	sb_put(w, "rate", false, "%" PRId64, o->rate);
	sb_put(w, "keys", false, "%" PRId64, o->keys);
	sb_put(w, "dist", true, "%s", o->dist);
	sb_put(w, "sent", false, "%" PRIu64, res->sent);
	sb_put(w, "seconds", false, "%.3f", res->seconds);
	sb_put(w, "msgs_per_s", false, "%.0f", (double)res->sent / res->seconds);
	sb_put(w, "mb_per_s", false, "%.2f", (double)res->bytes / 1e6 / res->seconds);
	if (res->has_processed) {
		sb_put(w, "processed", false, "%.0f", res->processed);
		sb_put(w, "processed_msgs_per_s", false, "%.0f", res->processed / res->processed_s);
		sb_put(w, "unprocessed", false, "%.0f", res->unprocessed);
	} else {
		sb_put(w, "processed", false, "%s", "");
		sb_put(w, "processed_msgs_per_s", false, "%s", "");
		sb_put(w, "unprocessed", false, "%s", "");
	}
	sb_put(w, "lat_source", true, "%s", sb_lat_names[res->lat_source]);
	if (res->lat_source != SB_LAT_NONE)
		sb_put(w, "lat_count", false, "%.0f", res->lat_samples);
	else
		sb_put(w, "lat_count", false, "%s", "");
	sb_put_us(w, "lat_min_us", res->lat_min);
	for (int i = 0; i < SB_NQ; i++)
		sb_put_us(w, pn[i], res->p[i]);
	sb_put_us(w, "lat_max_us", res->lat_max);
	for (int i = 0; i < SB_NQ; i++)
		sb_put_us(w, dn[i], res->dp[i]);
	if (o->acks) {
		sb_put(w, "acked", false, "%" PRIu64, res->acked);
		sb_put(w, "acked_msgs_per_s", false, "%.0f", (double)res->acked / res->acked_s);
		sb_put(w, "resent", false, "%" PRIu64, res->resent);
		sb_put(w, "unacked", false, "%" PRIu64, res->unacked);
		sb_put(w, "reconnects", false, "%" PRIu64, res->reconnects);
	} else {
		static const char *const an[] = {"acked", "acked_msgs_per_s", "resent", "unacked",
		                                 "reconnects"};

		for (size_t i = 0; i < sizeof(an) / sizeof(an[0]); i++)
			sb_put(w, an[i], false, "%s", "");
	}
	if (res->verify) {
		sb_put(w, "verified", false, "%" PRIu64, res->verified);
		sb_put(w, "missing", false, "%" PRIu64, res->missing);
		sb_put(w, "duplicated", false, "%" PRIu64, res->duplicated);
		sb_put(w, "unexpected", false, "%" PRIu64, res->unexpected);
	} else {
		static const char *const vn[] = {"verified", "missing", "duplicated", "unexpected"};

		for (size_t i = 0; i < sizeof(vn) / sizeof(vn[0]); i++)
			sb_put(w, vn[i], false, "%s", "");
	}
}

static void
sb_row_print(const struct sb_opts *o, const struct sb_row *w)
{
	if (o->json) {
		printf("{");
		for (uint32_t i = 0; i < w->n; i++) {
			/* Field values are numbers or option text without quotes or backslashes
			 * (framing, dist, transport are checked words). */
			if (w->val[i][0] == '\0' && !w->str[i])
				printf("\"%s\":null", w->name[i]);
			else
				printf(w->str[i] ? "\"%s\":\"%s\"" : "\"%s\":%s", w->name[i],
				       w->val[i]);
			printf(i + 1 < w->n ? "," : "}\n");
		}
		return;
	}
	for (uint32_t i = 0; i < w->n && !o->no_header; i++)
		printf("%s%s", w->name[i], i + 1 < w->n ? "," : "\n");
	for (uint32_t i = 0; i < w->n; i++)
		printf("%s%s", w->val[i], i + 1 < w->n ? "," : "\n");
}

void
sb_report(const struct sb_run *r, const struct sb_result *res)
{
	const struct sb_opts *o = &r->o;
	double rate = (double)res->sent / res->seconds,
	       mb = (double)res->bytes / 1e6 / res->seconds;
	char a[32], b[32], c[32], d[32], e[32], f[32];

	if (o->csv || o->json) {
		struct sb_row w = {0};

		sb_row_fill(r, res, &w);
		sb_row_print(o, &w);
		return;
	}
	printf("%s, %" PRId64 " connections, %" PRId64 " thread%s, %" PRId64 "-byte %s, %" PRId64
	       " keys %s, rate ",
	       o->target, o->connections, o->threads, o->threads > 1 ? "s" : "", o->size,
	       o->framing_name, o->keys, o->dist);
	printf(o->rate ? "%" PRId64 "/s\n" : "max\n", o->rate);
	printf("sent       %" PRIu64 " msgs  %" PRIu64 " bytes  %.2f s  %.0f msgs/s  %.1f MB/s\n",
	       res->sent, res->bytes, res->seconds, rate, mb);
	if (o->acks)
		printf("acked      %" PRIu64 " msgs  %.2f s  %.0f msgs/s  resent %" PRIu64
		       "  unacked %" PRIu64 "  reconnects %" PRIu64 "%s\n",
		       res->acked, res->acked_s, (double)res->acked / res->acked_s, res->resent,
		       res->unacked, res->reconnects,
		       res->gave_up ? "  (gave up reconnecting)" : "");
	if (res->metrics && res->has_processed)
		printf("processed  %.0f msgs  %.2f s  %.0f msgs/s  unprocessed %.0f (the daemon's "
		       "counter)\n",
		       res->processed, res->processed_s, res->processed / res->processed_s,
		       res->unprocessed);
	else if (res->metrics)
		printf("processed  - (no " BENCH_PROM_PROCESSED " in the scrape)\n");
	if (res->verify)
		printf("verify     %" PRIu64 " of %" PRIu64 " found  missing %" PRIu64
		       "  duplicated %" PRIu64 "%s  unexpected %" PRIu64 "  (%" PRIu64
		       " records of other runs, %" PRIu64 " damaged or torn spans)\n",
		       res->verified, res->verified + res->missing, res->missing, res->duplicated,
		       res->dup_allowed ? " (resent frames may be stored twice)" : "",
		       res->unexpected, res->foreign, res->damaged);
	if (res->lat_source == SB_LAT_ACKS)
		printf("latency    min %s  p50 %s  p95 %s  p99 %s  p99.9 %s  max %s  (every one of "
		       "%.0f frames, first sent to acknowledged)\n",
		       sb_us(a, sizeof(a), res->lat_min), sb_us(b, sizeof(b), res->p[0]),
		       sb_us(c, sizeof(c), res->p[1]), sb_us(d, sizeof(d), res->p[2]),
		       sb_us(e, sizeof(e), res->p[3]), sb_us(f, sizeof(f), res->lat_max),
		       res->lat_samples);
	else if (res->metrics && res->lat_samples <= 0)
		printf("latency    - (no samples of " BENCH_PROM_LATENCY ": start sluiced with "
		       "--latency-stamps start, or find for len32 and syslog)\n");
	else if (res->metrics)
		printf("latency    min %s  p50 %s  p95 %s  p99 %s  p99.9 %s  max %s  (every one of "
		       "%.0f stamped messages, sent to delivered, " BENCH_PROM_LATENCY ")\n",
		       sb_us(a, sizeof(a), res->lat_min), sb_us(b, sizeof(b), res->p[0]),
		       sb_us(c, sizeof(c), res->p[1]), sb_us(d, sizeof(d), res->p[2]),
		       sb_us(e, sizeof(e), res->p[3]), sb_us(f, sizeof(f), res->lat_max),
		       res->lat_samples);
	if (res->metrics && res->dp[0] >= 0)
		printf("in daemon  p50 %s  p95 %s  p99 %s  p99.9 %s  (received to "
		       "delivered, " BENCH_PROM_DLATENCY ")\n",
		       sb_us(a, sizeof(a), res->dp[0]), sb_us(b, sizeof(b), res->dp[1]),
		       sb_us(c, sizeof(c), res->dp[2]), sb_us(d, sizeof(d), res->dp[3]));
	if (r->udp && res->has_drops)
		printf("udp drops  %.0f (" BENCH_PROM_UDP_DROPS ")\n", res->drops);
}
