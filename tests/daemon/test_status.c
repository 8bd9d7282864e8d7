/* SPDX-License-Identifier: MIT */
/* test_status.c: sluiced's status page: its JSON, its first view, and the page in Chromium. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "daemon_proc.h"
#include "json_check.h"
#include "route/stamp.h"

#define POOLS     "2"
#define MAX_FRAME 256u
#define DOC_MAX   (256u * 1024)

static char doc[DOC_MAX];

/* GET /status.json into doc, checked to be JSON. */
static void
get_status(struct dproc *d)
{
	const char *why;

	cr_assert_eq(dproc_get(d, "/status.json", doc, sizeof(doc)), 200, "%s", doc);
	why = json_error(doc);
	cr_assert_null(why, "status.json is not JSON: %s\n%s", why, doc);
}

/* The number at path in doc. */
static double
num_at(const char *path)
{
	char v[64];

	cr_assert(json_get(doc, path, v, sizeof(v)), "no %s in\n%s", path, doc);
	return strtod(v, NULL);
}

/* The raw value at path, compared with want (strings with their quotes). */
static void
expect_at(const char *path, const char *want)
{
	char v[512];

	cr_assert(json_get(doc, path, v, sizeof(v)), "no %s in\n%s", path, doc);
	cr_expect_str_eq(v, want, "%s", path);
}

/* The index of the flag named name in doc's flags, or -1. */
static int
flag_index(const char *name)
{
	char path[32], v[128], want[128];

	snprintf(want, sizeof(want), "\"%s\"", name);
	for (int i = 0;; i++) {
		snprintf(path, sizeof(path), "flags.%d.name", i);
		if (!json_get(doc, path, v, sizeof(v)))
			return -1;
		if (strcmp(v, want) == 0)
			return i;
	}
}

/* sluiced with 2 pools and a file sink; stamps: --latency-stamps (NULL: off). */
static void
start(struct dproc *d, const char *stamps)
{
	char sink[96], max_frame[16];
	/* clang-format off */
	const char *args[] = {
	        "--listen", "tcp://127.0.0.1:0?framing=lines", "--metrics", "127.0.0.1:0",
	        "--sink", sink, "--pools", POOLS, "--workers", "1", "--key", "field:1",
	        "--max-frame", max_frame, "--rebalance-interval", "50ms",
	        stamps != NULL ? "--latency-stamps" : NULL, stamps, NULL,
	};
	/* clang-format on */

	dproc_make_dir(d);
	snprintf(sink, sizeof(sink), "file:%s", d->dir);
	snprintf(max_frame, sizeof(max_frame), "%u", MAX_FRAME);
	dproc_start(d, args);
}

/* n lines "KEY i" on a connection of their own, then its close. */
static void
send_keyed(struct dproc *d, const char *key, unsigned n)
{
	int fd = dproc_connect(d->port[0]);
	char line[128];

	cr_assert_geq(fd, 0);
	for (unsigned i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line), "%s %u\n", key, i);

		cr_assert_eq(dproc_send_all(fd, line, (size_t)len), 0);
	}
	close(fd);
}

Test(json_check, refuses_what_is_not_json)
{
	static const char *const bad[] = {
	        "",          "{",           "{\"a\":1,}",   "[1 2]",       "{a:1}",
	        "\"a\x01\"", "\"\xff\"",    "\"\\x\"",      "01",          "1.",
	        "tru",       "{\"a\":1} x", "\"\xc0\xaf\"", "\"\\u12G4\"", "[\"\xe2\x82\"]",
	};
	char v[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_not_null(json_error(bad[i]), "taken: %s", bad[i]);
	cr_expect_null(json_error(" {\"a\":[1,-2.5e3,true,null,\"\\u00ff\xc3\xa9\"],\"b\":{}} "));
	cr_assert(json_get("{\"a\":[1,{\"b\":\"x\"}],\"c\":2}", "a.1.b", v, sizeof(v)));
	cr_expect_str_eq(v, "\"x\"");
	cr_expect_not(json_get("{\"a\":[1]}", "a.1", v, sizeof(v)));
	cr_expect_not(json_get("{\"a\":[1]}", "b", v, sizeof(v)));
}

Test(status, json_says_what_runs_and_what_was_refused, .timeout = 90)
{
	static struct dproc d;
	char big[MAX_FRAME * 2 + 2];
	int fd, i;

	start(&d, NULL);
	get_status(&d);
	expect_at("phase", "\"ready\"");
	cr_expect_gt(strlen(doc), 0);
	cr_expect_eq(num_at("pid"), (double)d.pid);
	cr_expect_eq(num_at("pools.1.id"), 1);
	cr_expect_not(json_get(doc, "pools.2", big, sizeof(big)), "only " POOLS " pools");
	cr_expect_eq(num_at("listeners.0.port"), d.port[0]);
	expect_at("sink.name", "\"file\"");
	expect_at("sink.healthy", "true");
	expect_at("rates", "null"); /* one sample so far */
	expect_at("latency", "null");
	expect_at("reload.last_ok", "true");
	/* Every flag in force, and which ones a reload applies live. */
	i = flag_index("--pools");
	cr_assert_geq(i, 0, "%s", doc);
	snprintf(big, sizeof(big), "flags.%d.value", i);
	expect_at(big, "\"" POOLS "\"");
	snprintf(big, sizeof(big), "flags.%d.live", i);
	expect_at(big, "false");
	i = flag_index("--max-step");
	cr_assert_geq(i, 0, "%s", doc);
	snprintf(big, sizeof(big), "flags.%d.live", i);
	expect_at(big, "true");

	/* Messages, keys that need escaping, and a frame over --max-frame (the connection is
	 * closed): all of it shows, and the document stays JSON. */
	send_keyed(&d, "plain", 2000);
	send_keyed(&d, "q\"\\<\x01\xff", 2000);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\n';
	cr_assert_eq(dproc_send_all(fd, big, sizeof(big)), 0);
	cr_expect(dproc_wait_closed(fd, 10000));
	close(fd);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, 4000, 30000),
	             4000);
	get_status(&d);
	cr_expect_eq(num_at("totals.processed_messages"), 4000, "%s", doc);
	cr_expect_eq(num_at("pools.0.processed") + num_at("pools.1.processed"), 4000);
	cr_expect_eq(num_at("listeners.0.connections_accepted"), 3);
	expect_at("drops.0.what", "\"frame_rejected\"");
	expect_at("drops.0.reason", "\"oversize\"");
	cr_expect_eq(num_at("drops.0.count"), 1);
	cr_expect(strstr(doc, "\"key\":\"plain\"") != NULL, "%s", doc);
	cr_expect(strstr(doc, "\"key\":\"q\\\"\\\\<\\u0001\\u00ff\"") != NULL, "%s", doc);

	/* A rate comes with the second sample, a second after the first. */
	for (uint64_t end = slc_mono_ms() + 20000; slc_mono_ms() < end;) {
		get_status(&d);
		if (strstr(doc, "\"rates\":null") == NULL)
			break;
		dproc_log_wait(&d, d.log_len, "\n", 100);
	}
	cr_expect_geq(num_at("rates.window_s"), 1.0, "%s", doc);
	cr_expect_geq(num_at("rates.received_messages_per_s"), 0);

	/* A reload shows in the JSON. */
	cr_assert_eq(dproc_http(&d, "POST", "/-/reload", big, sizeof(big)), 200, "%s", big);
	get_status(&d);
	cr_expect_eq(num_at("reload.ok"), 1);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	dproc_remove_dir(d.dir);
}

Test(status, first_view_without_javascript, .timeout = 60)
{
	static struct dproc d;
	static char page[DOC_MAX];
	char port[16];

	start(&d, NULL);
	send_keyed(&d, "a", 10);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, 10, 30000), 10);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(dproc_get(&d, i == 0 ? "/" : "/status", page, sizeof(page)), 200, "%s",
		             page);
		cr_expect(strncmp(page, "<!DOCTYPE html>", 15) == 0, "%s", page);
		/* Every pool has its row, the listener its URL, the totals their count. */
		cr_expect(strstr(page, "<tr><td>0</td><td>") != NULL, "%s", page);
		cr_expect(strstr(page, "<tr><td>1</td><td>") != NULL, "%s", page);
		snprintf(port, sizeof(port), ":%u?", d.port[0]);
		cr_expect(strstr(page, port) != NULL, "%s", page);
		cr_expect(strstr(page, "<tbody><tr><td>10</td>") != NULL, "%s", page);
		/* Nothing is loaded from elsewhere. */
		cr_expect(strstr(page, "src=") == NULL && strstr(page, "href=") == NULL, "%s",
		          page);
	}
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	dproc_remove_dir(d.dir);
}

/* The page in headless Chromium (tests/daemon/clients/status/check_status.js). */
Test(status, page_refreshes_in_headless_chromium, .timeout = 150)
{
	static struct dproc d;
	char url[64], listen[16];
	const char *argv[] = {SLC_NODE,
	                      SLC_STATUS_CHECK,
	                      "--url",
	                      url,
	                      "--listen",
	                      listen,
	                      "--pools",
	                      POOLS,
	                      "--screenshot",
	                      SLC_STATUS_SCREENSHOT,
	                      NULL};
	pid_t pid;
	int st = 0;

	/* .ci/deps installs them: without them the set-up is broken, and the test says so. */
	cr_assert(access("/usr/bin/chromium", X_OK) == 0 &&
	                  access("/usr/bin/chromedriver", X_OK) == 0,
	          "no /usr/bin/chromium or /usr/bin/chromedriver (Debian's chromium, "
	          "chromium-driver: .ci/deps)");
	cr_assert_neq(SLC_NODE[0], '\0', "no node found when the build was configured");
	start(&d, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/status", d.metrics_port);
	snprintf(listen, sizeof(listen), "%u", d.port[0]);
	unlink(SLC_STATUS_SCREENSHOT);
	pid = slc_test_spawn(SLC_NODE, argv, -1, -1);
	cr_assert_gt(pid, 0, "%s", strerror((int)-pid));
	/* The script bounds each of its waits; the daemon's log is read meanwhile. */
	while (waitpid(pid, &st, WNOHANG) == 0)
		dproc_log_wait(&d, d.log_len, "\n", 100);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "check_status.js: status %d", st);
	cr_expect_eq(access(SLC_STATUS_SCREENSHOT, R_OK), 0, "no screenshot");
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	dproc_remove_dir(d.dir);
}

Test(status, latency_percentiles_with_stamps, .timeout = 60)
{
	static struct dproc d;
	char buf[128];
	int fd;

	start(&d, "start");
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	for (uint32_t i = 0; i < 1000; i++) {
		int len = slc_stamp_format(buf, sizeof(buf), i % 7, 1, i + 1, slc_mono_ns(), 100);

		cr_assert_eq(len, 100);
		buf[len] = '\n';
		cr_assert_eq(dproc_send_all(fd, buf, (size_t)len + 1), 0);
	}
	close(fd);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, 1000, 30000),
	             1000);
	get_status(&d);
	/* Every stamped message once, in both histograms; percentiles in order. */
	cr_expect_eq(num_at("latency.daemon.count"), 1000, "%s", doc);
	cr_expect_eq(num_at("latency.e2e.count"), 1000, "%s", doc);
	cr_expect_gt(num_at("latency.daemon.p50_s"), 0);
	cr_expect_leq(num_at("latency.daemon.p50_s"), num_at("latency.daemon.p90_s"));
	cr_expect_leq(num_at("latency.daemon.p90_s"), num_at("latency.daemon.p99_s"));
	cr_expect_leq(num_at("latency.daemon.p99_s"), num_at("latency.daemon.p999_s"));
	cr_expect_leq(num_at("latency.e2e.p99_s"), num_at("latency.e2e.p999_s"));
	/* The test's own clock bounds them: sent and delivered within its run. */
	cr_expect_lt(num_at("latency.e2e.p999_s"), 60);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	dproc_remove_dir(d.dir);
}
