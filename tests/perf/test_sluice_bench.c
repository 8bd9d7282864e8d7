/* SPDX-License-Identifier: MIT */
/* test_sluice_bench.c: sluice-bench's latency histogram; --verify on real and crafted segments. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "crc32c.h"
#include "segment.h"
#include "sluice_bench_hist.h"
#include "child.h"
#include "doc_check.h"

/* ---- the histogram ----------------------------------------------------------------- */

/* Every value v: its bucket holds it, and the bucket's midpoint is within 1% of it (the
 * header promises v/256). */
static void
check_value(uint64_t v)
{
	uint32_t i = sb_hist_index(v);
	uint64_t lo = sb_hist_lowest(i), hi = sb_hist_highest(i), mid = sb_hist_mid(i);
	double err = v == 0 ? (double)mid : ((double)mid - (double)v) / (double)v;

	cr_assert_lt(i, SB_HIST_BUCKETS, "v %llu", (unsigned long long)v);
	cr_assert(lo <= v && v <= hi, "v %llu in bucket %u [%llu, %llu]", (unsigned long long)v, i,
	          (unsigned long long)lo, (unsigned long long)hi);
	cr_assert(err <= 1.0 / 256 && err >= -1.0 / 256, "v %llu: midpoint %llu, error %g",
	          (unsigned long long)v, (unsigned long long)mid, err);
}

Test(sluice_bench, hist_relative_error_bound)
{
	uint64_t rng = 42;

	/* Every value up to 2^20, both ends of every bucket above, and random values of
	 * every magnitude. */
	for (uint64_t v = 0; v < (1u << 20); v++)
		check_value(v);
	for (uint32_t i = 0; i < SB_HIST_BUCKETS; i++) {
		check_value(sb_hist_lowest(i));
		check_value(sb_hist_highest(i));
		if (i > 0)
			cr_assert_eq(sb_hist_lowest(i), sb_hist_highest(i - 1) + 1,
			             "buckets %u and %u leave a gap or overlap", i - 1, i);
	}
	cr_assert_eq(sb_hist_highest(SB_HIST_BUCKETS - 1), UINT64_MAX);
	for (int n = 0; n < 1000000; n++) {
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		check_value(rng >> (rng % 64));
	}
}

Test(sluice_bench, hist_quantiles_within_one_percent)
{
	struct sb_hist *h = malloc(sizeof(*h)), *h2 = malloc(sizeof(*h2));
	static const double q[] = {0.5, 0.95, 0.99, 0.999};
	uint64_t v = 0;

	cr_assert_not_null(h);
	cr_assert_not_null(h2);
	sb_hist_init(h);
	sb_hist_init(h2);
	cr_assert_not(sb_hist_quantile(h, 0.5, &v), "an empty histogram has no quantile");
	/* 1 .. 10^6 ns, in two halves merged: the q-quantile is q * 10^6. */
	for (uint64_t i = 1; i <= 1000000; i++)
		sb_hist_add(i % 2 ? h : h2, i * 1000);
	sb_hist_merge(h, h2);
	cr_assert_eq(h->count, 1000000u);
	cr_assert_eq(h->min, 1000u);
	cr_assert_eq(h->max, 1000000000u);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		double want = q[i] * 1e9;

		cr_assert(sb_hist_quantile(h, q[i], &v));
		cr_expect_leq(((double)v > want ? (double)v - want : want - (double)v) / want, 0.01,
		              "q %g: %llu, want %.0f", q[i], (unsigned long long)v, want);
	}
	cr_assert(sb_hist_quantile(h, 1.0, &v));
	cr_expect_eq(v, h->max);
	cr_assert(sb_hist_quantile(h, 0.0, &v));
	cr_expect_leq((double)(v - h->min) / (double)h->min, 1.0 / 256, "p0 %llu",
	              (unsigned long long)v);
	/* One value: every quantile is that value, not its bucket's midpoint. */
	sb_hist_init(h2);
	sb_hist_add(h2, 123456789);
	cr_assert(sb_hist_quantile(h2, 0.5, &v));
	cr_expect_eq(v, 123456789u);
	free(h);
	free(h2);
}

/* ---- processes --------------------------------------------------------------------- */

static pid_t
spawn(const char *const *argv, int out_fd, int err_fd)
{
	pid_t pid = slc_test_spawn(argv[0], argv, out_fd, err_fd);

	cr_assert_gt(pid, 0, "spawn %s: %s", argv[0], strerror((int)-pid));
	return pid;
}

struct bench_out {
	int status;
	char text[32768];
};

/* Runs sluice-bench with args (NULL-terminated, after the program) to its end. */
static void
bench_run(const char *const *args, struct bench_out *b)
{
	const char *argv[32] = {SLC_SLUICE_BENCH};
	char path[] = "/tmp/sb-test-out.XXXXXX";
	int fd = mkstemp(path), st, n = 1;
	ssize_t len;

	cr_assert_geq(fd, 0);
	while (args[n - 1] != NULL && n < 31) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	pid_t pid = spawn(argv, fd, fd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	b->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	len = pread(fd, b->text, sizeof(b->text) - 1, 0);
	b->text[len > 0 ? len : 0] = '\0';
	close(fd);
	unlink(path);
}

/* The JSON field name's number in b->text, or -1. */
static long long
json_num(const struct bench_out *b, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(b->text, key);
	if (p == NULL || p[strlen(key)] == 'n')
		return -1;
	return atoll(p + strlen(key));
}

struct daemon {
	pid_t pid;
	int err_fd;
	char log[1 << 15];
	size_t log_len;
	uint16_t lines_port, ack_port, metrics_port;
};

/* The test's daemon, killed by the fini if an assertion ends the test first: it would
 * otherwise outlive the test and hold ctest's output pipe open. */
static pid_t daemon_pid;

static void
daemon_fini(void)
{
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
}

static bool
read_log(struct daemon *d, const char *until, uint32_t timeout_ms)
{
	uint64_t end = slc_mono_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd = {.fd = d->err_fd, .events = POLLIN};
		ssize_t n;

		d->log[d->log_len] = '\0';
		if (until != NULL && strstr(d->log, until) != NULL)
			return true;
		if (slc_mono_ms() >= end || d->log_len + 1 >= sizeof(d->log))
			return false;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = read(d->err_fd, d->log + d->log_len, sizeof(d->log) - 1 - d->log_len);
		if (n <= 0)
			return false;
		d->log_len += (size_t)n;
	}
}

/* sluiced --sink file:dir with a lines and a len32+ack listener on ports of the kernel's. */
static void
daemon_start(struct daemon *d, const char *dir)
{
	char sink[512];
	const char *argv[] = {SLC_SLUICED,
	                      "--listen",
	                      "tcp://127.0.0.1:0",
	                      "--listen",
	                      "tcp://127.0.0.1:0?framing=len32+ack",
	                      "--sink",
	                      sink,
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--latency-stamps",
	                      "start",
	                      NULL};
	int pfd[2];
	char *p;

	memset(d, 0, sizeof(*d));
	snprintf(sink, sizeof(sink), "file:%s", dir);
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	d->pid = daemon_pid = spawn(argv, -1, pfd[1]);
	close(pfd[1]);
	d->err_fd = pfd[0];
	cr_assert(read_log(d, "ready:", 15000), "sluiced did not start: %s", d->log);
	p = strstr(d->log, "listening on tcp://127.0.0.1:");
	cr_assert_not_null(p, "%s", d->log);
	d->lines_port = (uint16_t)atoi(p + strlen("listening on tcp://127.0.0.1:"));
	p = strstr(p + strlen("listening on tcp://127.0.0.1:"), "tcp://127.0.0.1:");
	cr_assert_not_null(p, "%s", d->log);
	d->ack_port = (uint16_t)atoi(p + strlen("tcp://127.0.0.1:"));
	p = strstr(d->log, "metrics on port ");
	cr_assert_not_null(p, "%s", d->log);
	d->metrics_port = (uint16_t)atoi(p + strlen("metrics on port "));
}

static void
daemon_stop(struct daemon *d)
{
	int st;

	kill(d->pid, SIGTERM);
	cr_assert_eq(waitpid(d->pid, &st, 0), d->pid);
	daemon_pid = 0;
	close(d->err_fd);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sluiced: status %d", st);
}

static void
rm_dir(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

/* ---- --verify against sluiced --sink file ------------------------------------------ */

#define N_MSGS (20000u / SLC_TEST_SCALE_DIV * 10u)

Test(sluice_bench, verify_clean_against_file_sink, .fini = daemon_fini, .timeout = 120)
{
	char dir[] = "/tmp/sb-verify.XXXXXX", target[64], count[32];
	struct daemon d;
	struct bench_out b;

	cr_assert_not_null(mkdtemp(dir));
	daemon_start(&d, dir);
	snprintf(target, sizeof(target), "tcp://127.0.0.1:%u", d.lines_port);
	snprintf(count, sizeof(count), "%u", N_MSGS);
	/* Twice: the second run must skip the first run's records, not call them duplicates. */
	for (int run = 0; run < 2; run++) {
		const char *args[] = {"--target", target, "--connections", "2", "--count", count,
		                      "--verify", dir,    "--json",        NULL};

		bench_run(args, &b);
		cr_assert_eq(b.status, 0, "%s", b.text);
		cr_expect_eq(json_num(&b, "sent"), N_MSGS, "%s", b.text);
		cr_expect_eq(json_num(&b, "verified"), N_MSGS, "%s", b.text);
		cr_expect_eq(json_num(&b, "missing"), 0, "%s", b.text);
		cr_expect_eq(json_num(&b, "duplicated"), 0, "%s", b.text);
		cr_expect_eq(json_num(&b, "unexpected"), 0, "%s", b.text);
	}
	/* --acks: the same check, and every frame's send-to-ack latency. */
	{
		const char *args[] = {"--acks", "--target", target, "--connections", "2", "--count",
		                      count,    "--verify", dir,    "--json",        NULL};

		snprintf(target, sizeof(target), "tcp://127.0.0.1:%u", d.ack_port);
		bench_run(args, &b);
		cr_assert_eq(b.status, 0, "%s", b.text);
		cr_expect_eq(json_num(&b, "verified"), N_MSGS, "%s", b.text);
		cr_expect_eq(json_num(&b, "missing"), 0, "%s", b.text);
		cr_expect_eq(json_num(&b, "duplicated"), 0, "%s", b.text);
		cr_expect_not_null(strstr(b.text, "\"lat_source\":\"acks\""), "%s", b.text);
		cr_expect_eq(json_num(&b, "lat_count"), N_MSGS, "%s", b.text);
		cr_expect_geq(json_num(&b, "p999_us"), json_num(&b, "p50_us"), "%s", b.text);
		cr_expect_geq(json_num(&b, "lat_max_us"), json_num(&b, "p999_us"), "%s", b.text);
	}
	daemon_stop(&d);
	rm_dir(dir);
}

/* --metrics without --acks: every message's latency from sluiced's histograms (the file
 * sink's here: every sink has them), min <= quantiles <= max, and the daemon's own part. */
Test(sluice_bench, metrics_latency_of_every_message, .fini = daemon_fini, .timeout = 120)
{
	char dir[] = "/tmp/sb-lat.XXXXXX", target[64], metrics[64], count[32];
	const char *args[] = {"--target", target,      "--connections", "2",      "--count",
	                      count,      "--metrics", metrics,         "--json", NULL};
	struct daemon d;
	struct bench_out b;

	cr_assert_not_null(mkdtemp(dir));
	daemon_start(&d, dir);
	snprintf(target, sizeof(target), "tcp://127.0.0.1:%u", d.lines_port);
	snprintf(metrics, sizeof(metrics), "http://127.0.0.1:%u", d.metrics_port);
	snprintf(count, sizeof(count), "%u", N_MSGS);
	bench_run(args, &b);
	cr_assert_eq(b.status, 0, "%s", b.text);
	cr_expect_not_null(strstr(b.text, "\"lat_source\":\"metrics\""), "%s", b.text);
	cr_expect_eq(json_num(&b, "lat_count"), N_MSGS, "%s", b.text);
	cr_expect_geq(json_num(&b, "lat_min_us"), 0, "%s", b.text);
	cr_expect_geq(json_num(&b, "p50_us"), json_num(&b, "lat_min_us"), "%s", b.text);
	cr_expect_geq(json_num(&b, "p999_us"), json_num(&b, "p50_us"), "%s", b.text);
	cr_expect_geq(json_num(&b, "lat_max_us"), json_num(&b, "p999_us"), "%s", b.text);
	cr_expect_geq(json_num(&b, "daemon_p50_us"), 0, "%s", b.text);
	cr_expect_geq(json_num(&b, "daemon_p999_us"), json_num(&b, "daemon_p50_us"), "%s", b.text);
	daemon_stop(&d);
	rm_dir(dir);
}

/* ---- --verify against crafted segments -------------------------------------------- */

/*
 * A receiver that writes what it gets into one segment of the file sink's format, as the
 * sink would, except one record: left out (drop) or written twice (dup). It writes as the
 * lines come, since sluice-bench reads DIR back while its connection is still open.
 */
struct fake {
	int lfd;
	char path[600];
	uint32_t target; /* the line index to drop or double */
	bool dup;
};

static void
fake_record(int fd, const char *line, uint32_t len)
{
	uint8_t h[SLC_SINK_FILE_REC_HDR_SIZE];
	uint32_t crc;

	slc_seg_rec_hdr_put(h, len, 0, 0);
	crc = slc_crc32c(slc_crc32c(0, h + 4, 8), line, len);
	slc_seg_put_le32(h + 12, crc);
	cr_assert_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	cr_assert_eq(write(fd, line, len), (ssize_t)len);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	uint8_t hdr[SLC_SINK_FILE_SEG_HDR_SIZE];
	static char buf[1 << 16];
	size_t have = 0;
	uint32_t idx = 0;
	int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), c;

	cr_assert_geq(fd, 0);
	slc_seg_hdr_put(hdr, 0, 1);
	cr_assert_eq(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	c = accept(f->lfd, NULL, NULL);
	cr_assert_geq(c, 0);
	for (;;) {
		ssize_t n = read(c, buf + have, sizeof(buf) - have);
		char *p = buf, *nl;

		if (n <= 0)
			break;
		have += (size_t)n;
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf))) != NULL) {
			uint32_t len = (uint32_t)(nl - p);

			if (idx != f->target || f->dup)
				fake_record(fd, p, len);
			if (idx == f->target && f->dup)
				fake_record(fd, p, len);
			idx++;
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
	}
	close(c);
	close(fd);
	return NULL;
}

static void
verify_crafted(bool dup)
{
	char dir[] = "/tmp/sb-craft.XXXXXX", target[64];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct fake f = {.target = 10, .dup = dup};
	struct bench_out b;
	pthread_t th;
	const char *args[] = {"--target", target, "--connections", "1", "--count", "1000",
	                      "--verify", dir,    "--wait-drain",  "3", "--json",  NULL};

	cr_assert_not_null(mkdtemp(dir));
	snprintf(f.path, sizeof(f.path), "%s/w000-00000001.seg", dir);
	f.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(f.lfd, 4), 0);
	cr_assert_eq(getsockname(f.lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(target, sizeof(target), "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
	cr_assert_eq(pthread_create(&th, NULL, fake_main, &f), 0);
	bench_run(args, &b);
	pthread_join(th, NULL);
	close(f.lfd);
	cr_expect_eq(b.status, 4, "%s", b.text);
	cr_expect_eq(json_num(&b, "verified"), dup ? 1000 : 999, "%s", b.text);
	cr_expect_eq(json_num(&b, "missing"), dup ? 0 : 1, "%s", b.text);
	cr_expect_eq(json_num(&b, "duplicated"), dup ? 1 : 0, "%s", b.text);
	cr_expect_not_null(strstr(b.text, dup ? "1 duplicated" : "1 missing"), "%s", b.text);
	rm_dir(dir);
}

Test(sluice_bench, verify_reports_a_missing_record, .timeout = 60)
{
	verify_crafted(false);
}

Test(sluice_bench, verify_reports_a_duplicated_record, .timeout = 60)
{
	verify_crafted(true);
}

/* docs/sluice-bench.1 is what --help-man writes now: generated from the option table, so
 * that no option can be missing from it. SLC_UPDATE_DOCS=1 rewrites it. */
Test(sluice_bench, its_man_page_is_up_to_date, .timeout = 30)
{
	static struct bench_out b;
	const char *args[] = {"--help-man", NULL};
	size_t line = 0, len;
	int rc;

	bench_run(args, &b);
	cr_assert_eq(b.status, 0, "%s", b.text);
	len = strlen(b.text);
	cr_assert_lt(len, sizeof(b.text) - 1, "the page outgrew the test's buffer");
	cr_expect_not_null(strstr(b.text, ".B \\-\\-acks\n"), "no entry for --acks");
	rc = slc_test_doc_compare(SLC_DOCS_DIR "/sluice-bench.1", b.text, len, &line);
	cr_assert_geq(rc, 0, "docs/sluice-bench.1: %s", strerror(-rc));
	cr_expect_eq(rc, 0,
	             "docs/sluice-bench.1 is stale (first difference on line %zu): regenerate it: "
	             "sluice-bench --help-man > docs/sluice-bench.1, or SLC_UPDATE_DOCS=1 "
	             "<build>/tests/test_sluice_bench",
	             line);
}
