/* SPDX-License-Identifier: MIT */
/* test_latency.c: --latency-stamps: every stamped message's latency, on every sink, in /metrics. */
/*
 * sluiced as a process, fed stamped messages (route/stamp.h) by the test itself, so that the
 * test knows how many carry a stamp and when the first was sent. It checks the counts of
 * sluice_e2e_latency_seconds and sluice_daemon_latency_seconds, that every bucket bound is
 * the upper end of a bucket of route/lat_hist.h, and that no latency exceeds what the
 * test's own clock allows (scrape time minus the first send): bounds, never timings.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "route/lat_hist.h"
#include "route/stamp.h"

#define E2E    "sluice_e2e_latency_seconds"
#define DAEMON "sluice_daemon_latency_seconds"
#define FUTURE "sluice_latency_stamps_future_total"

static char scrape[1 << 20];

/* sluiced with --metrics on a port of the kernel's and flags, and a connection to its
 * first listener. */
static int
start(struct dproc *d, const char *const *flags)
{
	const char *args[24] = {"--metrics", "127.0.0.1:0"};
	size_t n = 2;
	int fd;

	for (size_t i = 0; flags[i] != NULL && n < 23; i++)
		args[n++] = flags[i];
	args[n] = NULL;
	memset(d, 0, sizeof(*d));
	dproc_start(d, args);
	cr_assert_neq(d->metrics_port, 0, "%s", d->log);
	fd = dproc_connect(d->port[0]);
	cr_assert(fd >= 0);
	return fd;
}

/* n lines; stamped ones carry send_ns = now + ahead_ns. */
static void
send_lines(int fd, uint32_t conn, uint32_t n, bool stamped, uint64_t ahead_ns)
{
	char buf[128];

	for (uint32_t i = 0; i < n; i++) {
		int len;

		if (stamped) {
			len = slc_stamp_format(buf, sizeof(buf), i % 7, conn, i + 1,
			                       slc_mono_ns() + ahead_ns, 100);
			cr_assert_eq(len, 100);
		} else {
			len = snprintf(buf, sizeof(buf), "plain line %u, SLB1 but no stamp", i);
		}
		buf[len] = '\n';
		cr_assert_eq(dproc_send_all(fd, buf, (size_t)len + 1), 0);
	}
}

/*
 * Every _bucket line of family name: its le is +Inf or the upper end of a lat_hist bucket
 * (in seconds), the counts never fall as le grows, and the largest finite le with samples
 * above the one before is at most max_s (no latency beyond what the test's clock allows).
 * Returns the +Inf count.
 */
static double
check_buckets(const char *text, const char *name, double max_s)
{
	char prefix[96];
	const char *p = text;
	double prev = 0, inf = -1;

	snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"", name);
	while ((p = strstr(p, prefix)) != NULL) {
		char le[64];
		double v;

		p += strlen(prefix);
		cr_assert_eq(sscanf(p, "%63[^\"]\"} %lf", le, &v), 2, "%.80s", p);
		cr_expect_geq(v, prev, "%s: counts fall at le=%s", name, le);
		if (strcmp(le, "+Inf") == 0) {
			inf = v;
			continue;
		}
		{
			double s = strtod(le, NULL);
			uint64_t ns = (uint64_t)llround(s * 1e9);

			cr_expect_eq(ns, slc_lat_hist_highest(slc_lat_hist_index(ns)),
			             "%s: le=%s is no bucket's upper end", name, le);
			if (v > prev) {
				/* Samples in the bucket that ends here: its lower end is at most
				 * the largest latency possible. */
				cr_expect_leq((double)slc_lat_hist_lowest(slc_lat_hist_index(ns)) /
				                      1e9,
				              max_s, "%s: a latency of %s s", name, le);
			}
		}
		prev = v;
	}
	cr_assert_geq(inf, 0, "%s: no +Inf bucket", name);
	return inf;
}

static void
expect_counts(struct dproc *d, uint64_t first_ns, double stamped, double future)
{
	double max_s;

	cr_assert_eq(dproc_scrape(d, scrape, sizeof(scrape)), 0);
	max_s = (double)(slc_mono_ns() - first_ns) / 1e9;
	cr_expect_eq(dproc_metric(scrape, E2E "_count", NULL), stamped, "%s",
	             strstr(scrape, E2E "_count"));
	cr_expect_eq(dproc_metric(scrape, DAEMON "_count", NULL), stamped);
	cr_expect_eq(dproc_metric(scrape, FUTURE, NULL), future);
	cr_expect_eq(check_buckets(scrape, E2E, max_s), stamped);
	cr_expect_eq(check_buckets(scrape, DAEMON, max_s), stamped);
	cr_expect_leq(dproc_metric(scrape, E2E "_sum", NULL), stamped * max_s);
}

/* Waits for the daemon to have processed all it was sent, checks the counts, stops it:
 * its exit status is 0, or 1 after its sink lost a record (docs/operations.md). */
static void
finish(struct dproc *d, uint64_t sent, uint64_t first_ns, double stamped, double future, int status)
{
	cr_assert_eq(dproc_metric_wait(d, "sluice_worker_processed_total", NULL, sent, 60000), sent,
	             "%s", d->log);
	expect_counts(d, first_ns, stamped, future);
	cr_expect_eq(dproc_stop(d), status, "%s", d->log);
}

/* Lines, --latency-stamps start: every stamped line counts once, plain lines and lines
 * stamped in the future do not (the latter have their own counter). */
static void
lines_counted(const char *sink)
{
	const char *const flags[] = {"--listen",
	                             "tcp://127.0.0.1:0",
	                             "--pools",
	                             "2",
	                             "--latency-stamps",
	                             "start",
	                             "--sink",
	                             sink,
	                             NULL};
	struct dproc d;
	int fd0 = start(&d, flags), fd1 = dproc_connect(d.port[0]);
	uint64_t first = slc_mono_ns();

	cr_assert(fd1 >= 0);
	send_lines(fd0, 0, 3000, true, 0);
	send_lines(fd1, 1, 2000, true, 0);
	send_lines(fd0, 0, 500, false, 0);
	send_lines(fd1, 1, 40, true, 3600 * 1000000000ull);
	close(fd0);
	close(fd1);
	finish(&d, 5540, first, 5000, 40, 0);
}

Test(latency, every_stamped_line_counts_on_the_null_sink, .timeout = 90)
{
	lines_counted("null");
}

Test(latency, every_stamped_line_counts_on_the_file_sink, .timeout = 90)
{
	struct dproc tmp;
	char sink[96];

	memset(&tmp, 0, sizeof(tmp));
	dproc_make_dir(&tmp);
	snprintf(sink, sizeof(sink), "file:%s", tmp.dir);
	lines_counted(sink);
	dproc_remove_dir(tmp.dir);
}

/* A message the sink refuses by itself was not delivered: no latency. The file sink refuses
 * a record whose key is over 64 KiB; --key field:5 is a stamped line's padding of 'x's,
 * which a 70,100-byte line makes long enough. */
Test(latency, a_message_the_sink_refuses_has_no_latency, .timeout = 90)
{
	static char big[70200];
	const char *kl[] = {"reason=\"key_too_long\"", NULL};
	struct dproc tmp;
	char sink[96];
	const char *const flags[] = {
	        "--listen", "tcp://127.0.0.1:0", "--latency-stamps", "start", "--sink", sink,
	        "--key",    "field:5",           "--max-frame",      "128k",  NULL};
	struct dproc d;
	int fd;
	uint64_t first;

	memset(&tmp, 0, sizeof(tmp));
	dproc_make_dir(&tmp);
	snprintf(sink, sizeof(sink), "file:%s", tmp.dir);
	fd = start(&d, flags);
	first = slc_mono_ns();
	send_lines(fd, 0, 100, true, 0);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_eq(slc_stamp_format(big, sizeof(big), 1, 1, i + 1, slc_mono_ns(), 70100),
		             70100);
		big[70100] = '\n';
		cr_assert_eq(dproc_send_all(fd, big, 70101), 0);
	}
	close(fd);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_sink_refused_records_total", kl, 3, 60000), 3u,
	             "%s", d.log);
	finish(&d, 103, first, 100, 0, 1);
	dproc_remove_dir(tmp.dir);
}

/* Off (the default): the stamps are not read, the histograms stay empty but are there. */
Test(latency, off_reads_no_stamp, .timeout = 60)
{
	const char *const flags[] = {"--listen", "tcp://127.0.0.1:0", NULL};
	struct dproc d;
	int fd = start(&d, flags);
	uint64_t first = slc_mono_ns();

	send_lines(fd, 0, 1000, true, 0);
	close(fd);
	finish(&d, 1000, first, 0, 0, 0);
}

/* len32 with a key header puts the stamp after it: find sees it, start does not. */
static void
len32_counted(const char *where, double want)
{
	const char *const flags[] = {"--listen", "tcp://127.0.0.1:0?framing=len32",
	                             "--latency-stamps", where, NULL};
	struct dproc d;
	int fd = start(&d, flags);
	uint64_t first = slc_mono_ns();

	for (uint32_t i = 0; i < 800; i++) {
		uint8_t f[4 + 2 + 3 + 100];
		uint32_t plen = 2 + 3 + 100;

		f[0] = 0;
		f[1] = 0;
		f[2] = (uint8_t)(plen >> 8);
		f[3] = (uint8_t)plen;
		f[4] = 0;
		f[5] = 3;
		memcpy(f + 6, "k42", 3);
		cr_assert_eq(slc_stamp_format((char *)f + 9, 100, 42, 0, i + 1, slc_mono_ns(), 100),
		             100);
		cr_assert_eq(dproc_send_all(fd, f, sizeof(f)), 0);
	}
	close(fd);
	finish(&d, 800, first, want, 0, 0);
}

Test(latency, find_sees_the_stamp_after_a_len32_key_header, .timeout = 60)
{
	len32_counted("find", 800);
}

Test(latency, start_looks_at_the_first_bytes_only, .timeout = 60)
{
	len32_counted("start", 0);
}

Test(latency, a_bad_value_is_refused_with_the_choices, .timeout = 30)
{
	const char *const args[] = {"--latency-stamps", "always", NULL};
	struct dproc d;

	memset(&d, 0, sizeof(d));
	cr_expect_eq(dproc_run_to_exit(&d, args), 2, "%s", d.log);
	cr_expect(strstr(d.log, "--latency-stamps") != NULL, "%s", d.log);
	cr_expect(strstr(d.log, "find") != NULL, "the choices are named: %s", d.log);
}
