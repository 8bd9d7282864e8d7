/* SPDX-License-Identifier: MIT */
/* sluice_bench_report.c: sluice-bench's metrics scrape, progress line, drain wait and report. */
#include <errno.h>
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

static const double sb_q[3] = {0.5, 0.99, 0.999};

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
	res->loss = (double)res->sent - last;
	res->has_drops = after->has_udp_drops;
	res->drops = after->udp_drops - before->udp_drops;
	for (int i = 0; i < 3; i++)
		res->p[i] =
		        bench_prom_quantile(&before->lat, &after->lat, sb_q[i], &res->lat_samples);
}

void
sb_report(const struct sb_run *r, const struct sb_result *res)
{
	const struct sb_opts *o = &r->o;
	double rate = (double)res->sent / res->seconds,
	       mb = (double)res->bytes / 1e6 / res->seconds;
	char a[32], b[32], c[32];

	if (o->csv) {
		if (!o->no_header)
			printf("transport,connections,size,framing,rate,keys,dist,sent,seconds,"
			       "msgs_per_s,mb_per_s,processed,processed_msgs_per_s,loss,p50_us,"
			       "p99_us,p999_us%s\n",
			       o->acks ? ",acked,acked_msgs_per_s,resent,missing,reconnects" : "");
		printf("%s,%" PRId64 ",%" PRId64 ",%s,%" PRId64 ",%" PRId64 ",%s,%" PRIu64
		       ",%.3f,%.0f,%.2f,",
		       r->udp ? "udp" : "tcp", o->connections, o->size, o->framing_name, o->rate,
		       o->keys, o->dist, res->sent, res->seconds, rate, mb);
		if (res->has_processed)
			printf("%.0f,%.0f,%.0f,", res->processed, res->processed / res->processed_s,
			       res->loss);
		else
			printf(",,,");
		for (int i = 0; i < 3; i++) {
			if (res->p[i] >= 0)
				printf("%.1f", res->p[i] * 1e6);
			printf(i < 2 || o->acks ? "," : "\n");
		}
		if (o->acks)
			printf("%" PRIu64 ",%.0f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", res->acked,
			       (double)res->acked / res->acked_s, res->resent, res->missing,
			       res->reconnects);
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
		       "  missing %" PRIu64 "  reconnects %" PRIu64 "%s\n",
		       res->acked, res->acked_s, (double)res->acked / res->acked_s, res->resent,
		       res->missing, res->reconnects,
		       res->gave_up ? "  (gave up reconnecting)" : "");
	if (!res->metrics)
		return;
	if (res->has_processed)
		printf("processed  %.0f msgs  %.2f s  %.0f msgs/s  loss %.0f\n", res->processed,
		       res->processed_s, res->processed / res->processed_s, res->loss);
	else
		printf("processed  - (no " BENCH_PROM_PROCESSED " in the scrape)\n");
	printf("latency    p50 %s  p99 %s  p99.9 %s  (%.0f samples of " BENCH_PROM_LATENCY ")\n",
	       sb_us(a, sizeof(a), res->p[0]), sb_us(b, sizeof(b), res->p[1]),
	       sb_us(c, sizeof(c), res->p[2]), res->lat_samples);
	if (r->udp && res->has_drops)
		printf("udp drops  %.0f (" BENCH_PROM_UDP_DROPS ")\n", res->drops);
}
