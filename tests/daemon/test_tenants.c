/* SPDX-License-Identifier: MIT */
/* test_tenants.c: sluiced with --tenant: limited TCP pauses (nothing lost), UDP excess dropped, refusals. */
/*
 * The rate bounds here are upper bounds only (delivered <= burst + rate * elapsed + 1,
 * elapsed measured by the test from before it sent anything): a slow or busy machine
 * delivers less, never more, so they cannot fail for want of CPU. The rate's accuracy
 * is perf/bench_tenants.sh's to measure.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_proc.h"

static uint64_t
open_now(struct dproc *d, const char *const *filters)
{
	dproc_log_pump(d);
	return dproc_metric_now(d, "sluice_tenant_connections_open", filters);
}

/* A tenant limited to 200 messages a second (burst 50) sends 1,000 lines at once: they all
 * arrive, the connection pausing meanwhile, and at no scrape has it been given more than
 * its buckets allow. */
Test(tenants, a_limited_tcp_tenant_is_paused_not_dropped, .timeout = 90)
{
	const char *const flags[] = {"--metrics", "127.0.0.1:0",
	                             "--sink",    "null",
	                             "--listen",  "tcp://127.0.0.1:0?framing=lines",
	                             "--tenant",  "slow:rate=200,burst=50,class=bronze",
	                             NULL};
	const char *const slow[] = {"tenant=\"slow\"", "class=\"bronze\"", NULL};
	const char *const none[] = {NULL};
	enum { N = 1000, RATE = 200, BURST = 50 };
	static char buf[N * 16];
	size_t len = 0;
	struct dproc d;
	uint64_t t0, got;
	int fd, rc;

	memset(&d, 0, sizeof(d));
	dproc_start(&d, flags);
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "line %06d\n", i);
	t0 = slc_mono_ms();
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, buf, len), 0);
	got = dproc_metric_wait_bounded(&d, "sluice_tenant_received_messages_total", slow, N, BURST,
	                                RATE, t0, 60000);
	cr_expect_eq(got, N, "every line arrives");
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", none), N);
	cr_expect_gt(dproc_metric_now(&d, "sluice_tenant_rate_limited_pauses_total", slow), 0);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_rate_limited_drops_total", slow), 0);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_accepted_total", slow), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_received_bytes_total", slow), len);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_open", slow), 1);
	close(fd);
	for (int i = 0; i < 200 && open_now(&d, slow) != 0; i++)
		usleep(50000);
	cr_expect_eq(open_now(&d, slow), 0, "closed: no longer open");
	rc = dproc_stop(&d);
	cr_expect_eq(rc, 0, "%s", d.log);
}

/* A UDP tenant limited to 100 a second (burst 10) gets 500 datagrams at once: what is over
 * its buckets is dropped and counted, and every datagram is accounted for. */
Test(tenants, a_udp_tenants_excess_is_dropped_and_counted, .timeout = 60)
{
	const char *const flags[] = {
	        "--metrics", "127.0.0.1:0",       "--sink",   "null",
	        "--listen",  "udp://127.0.0.1:0", "--tenant", "dgram:rate=100,burst=10",
	        NULL};
	const char *const dg[] = {"tenant=\"dgram\"", NULL};
	const char *const none[] = {NULL};
	enum { N = 500 };
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct dproc d;
	uint64_t t0, got = 0, dropped = 0, kernel = 0;
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_start(&d, flags);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(d.port[0]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	t0 = slc_mono_ms();
	for (int i = 0; i < N; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof(msg), "datagram %d", i);

		cr_assert_eq(send(fd, msg, (size_t)n, 0), n, "send: %s", strerror(errno));
	}
	for (int i = 0; i < 400 && got + dropped + kernel < N; i++) {
		got = dproc_metric_now(&d, "sluice_tenant_received_messages_total", dg);
		dropped = dproc_metric_now(&d, "sluice_tenant_rate_limited_drops_total", dg);
		kernel = dproc_metric_now(&d, "sluice_udp_kernel_drops_total", none);
		dproc_log_pump(&d);
		usleep(50000);
	}
	cr_expect_eq(got + dropped + kernel, N, "received %llu + over the rate %llu + kernel %llu",
	             (unsigned long long)got, (unsigned long long)dropped,
	             (unsigned long long)kernel);
	cr_expect_gt(dropped, 0);
	cr_expect_leq(got, 10 + 100 * (slc_mono_ms() - t0) / 1000 + 1);
	cr_expect(strstr(d.log, "tenant dgram over its rate") != NULL, "%s", d.log);
	close(fd);
	/* Policy, not loss: the stop succeeds. */
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
}

/* --tenant-default refuse: a peer that matches no tenant is closed at accept (counted,
 * logged with its address), its datagrams dropped; a matching one goes through. */
Test(tenants, what_matches_no_tenant_is_refused_and_counted, .timeout = 60)
{
	const char *const flags[] = {"--metrics",
	                             "127.0.0.1:0",
	                             "--sink",
	                             "null",
	                             "--listen",
	                             "tcp://127.0.0.1:0?framing=lines",
	                             "--listen",
	                             "tcp://127.0.0.1:0?framing=lines",
	                             "--listen",
	                             "udp://127.0.0.1:0",
	                             "--tenant",
	                             "local:listener=1,cidr=127.0.0.0/8,class=gold",
	                             "--tenant",
	                             "far:cidr=10.0.0.0/8",
	                             "--tenant-default",
	                             "refuse",
	                             NULL};
	const char *const conn[] = {"kind=\"connection\"", NULL};
	const char *const dgram[] = {"kind=\"datagram\"", NULL};
	const char *const local[] = {"tenant=\"local\"", "class=\"gold\"", NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char want[128];
	struct dproc d;
	int fd, ok, u;

	memset(&d, 0, sizeof(d));
	dproc_start(&d, flags);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	snprintf(want, sizeof(want), "refused 127.0.0.1:%u on port %u: no tenant matches",
	         dproc_local_port(fd), d.port[0]);
	cr_expect(dproc_wait_closed(fd, 10000), "the connection is closed at accept");
	close(fd);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_tenant_refused_total", conn, 1, 10000), 1);
	cr_expect(dproc_log_wait(&d, 0, want, 10000), "no \"%s\" in:\n%s", want, d.log);

	ok = dproc_connect(d.port[1]);
	cr_assert_geq(ok, 0);
	cr_assert_eq(dproc_send_all(ok, "hello\nworld\n", 12), 0);
	cr_expect_eq(
	        dproc_metric_wait(&d, "sluice_tenant_received_messages_total", local, 2, 10000), 2);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_open", local), 1);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(d.port[2]);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(u, 0);
	cr_assert_eq(sendto(u, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)), 1);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_tenant_refused_total", dgram, 1, 10000), 1);
	cr_expect(dproc_log_wait(&d, 0, "dropped a datagram from 127.0.0.1", 10000), "%s", d.log);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", (const char *[]){NULL}),
	             2);
	close(u);
	close(ok);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
}

/* A class capped at 10 in flight, behind a slow pool (1 ms a message): at no scrape are
 * more than 10 of its messages in flight, and every line arrives (held, not dropped). */
Test(tenants, a_class_max_inflight_holds_back_not_drops, .timeout = 60)
{
	const char *const flags[] = {"--metrics",
	                             "127.0.0.1:0",
	                             "--sink",
	                             "null",
	                             "--listen",
	                             "tcp://127.0.0.1:0?framing=lines",
	                             "--reactors-per-node",
	                             "1",
	                             "--pools",
	                             "1",
	                             "--workers",
	                             "1",
	                             "--test-handler-cost-ns",
	                             "1000000",
	                             "--qos-class",
	                             "capped:max-inflight=10",
	                             "--tenant",
	                             "a:class=capped",
	                             NULL};
	const char *const capped[] = {"class=\"capped\"", NULL};
	struct dproc d;
	uint64_t got = 0, t0;
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_start(&d, flags);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_lines(fd, 500), 0);
	t0 = slc_mono_ms();
	while (got < 500 && slc_mono_ms() - t0 < 30000) {
		cr_assert_leq(dproc_metric_now(&d, "sluice_qos_inflight_messages", capped), 10);
		got = dproc_metric_now(&d, "sluice_qos_messages_total", capped);
		dproc_log_pump(&d);
		usleep(20000);
	}
	cr_expect_eq(got, 500);
	cr_expect_gt(dproc_metric_now(&d, "sluice_qos_held_total", capped), 0);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
}

/* A class with a 20 ms queue TTL behind a pool that takes 2 ms a message: 300 lines at
 * once queue for up to 600 ms, so the later ones are dropped and counted, the first ones
 * written; every line is one or the other. */
Test(tenants, a_class_ttl_drops_stale_messages_and_counts_them, .timeout = 60)
{
	const char *const flags[] = {"--metrics",
	                             "127.0.0.1:0",
	                             "--sink",
	                             "null",
	                             "--listen",
	                             "tcp://127.0.0.1:0?framing=lines",
	                             "--pools",
	                             "1",
	                             "--workers",
	                             "1",
	                             "--test-handler-cost-ns",
	                             "2000000",
	                             "--qos-class",
	                             "fresh:ttl=20ms",
	                             "--tenant",
	                             "a:class=fresh",
	                             NULL};
	const char *const fresh[] = {"class=\"fresh\"", NULL};
	const char *const none[] = {NULL};
	struct dproc d;
	uint64_t taken, drops, written = 0;
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_start(&d, flags);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_lines(fd, 300), 0);
	taken = dproc_metric_wait(&d, "sluice_qos_messages_total", fresh, 300, 20000);
	cr_expect_eq(taken, 300);
	for (int i = 0; i < 400; i++) {
		drops = dproc_metric_now(&d, "sluice_qos_ttl_drops_total", fresh);
		written = dproc_metric_now(&d, "sluice_sink_messages_total", none);
		if (drops + written >= 300)
			break;
		usleep(50000);
	}
	drops = dproc_metric_now(&d, "sluice_qos_ttl_drops_total", fresh);
	cr_expect_gt(drops, 0, "600 ms of queue against a 20 ms ttl");
	cr_expect_lt(drops, 300, "the first ones are fresh");
	cr_expect_eq(drops + written, 300, "dropped %llu + written %llu", (unsigned long long)drops,
	             (unsigned long long)written);
	cr_expect(dproc_log_wait(&d, 0, "qos class fresh: dropped ", 10000),
	          "no log line names the class of the dropped: %s", d.log);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
}

/* gold and bronze flood one slow pool of 64 ring slots (1 ms a message): while gold is
 * active, bronze holds at most its weighted share in flight, 64 * 1 / (1 + 4) = 12, so
 * a gold message queues behind no more than that; all lines of both arrive. */
Test(tenants, bronze_holds_its_weighted_share_while_gold_is_active, .timeout = 90)
{
	const char *const flags[] = {"--metrics",
	                             "127.0.0.1:0",
	                             "--sink",
	                             "null",
	                             "--listen",
	                             "tcp://127.0.0.1:0?framing=lines",
	                             "--listen",
	                             "tcp://127.0.0.1:0?framing=lines",
	                             "--reactors-per-node",
	                             "1",
	                             "--pools",
	                             "1",
	                             "--workers",
	                             "1",
	                             "--ring-size",
	                             "64",
	                             "--test-handler-cost-ns",
	                             "1000000",
	                             "--tenant",
	                             "g:listener=0,class=gold",
	                             "--tenant",
	                             "b:listener=1,class=bronze",
	                             NULL};
	const char *const gold[] = {"class=\"gold\"", NULL};
	const char *const bronze[] = {"class=\"bronze\"", NULL};
	struct dproc d;
	uint64_t g1 = 0, checked = 0, t0;
	int fg, fb;

	memset(&d, 0, sizeof(d));
	dproc_start(&d, flags);
	fb = dproc_connect(d.port[1]);
	fg = dproc_connect(d.port[0]);
	cr_assert(fb >= 0 && fg >= 0);
	cr_assert_eq(dproc_send_lines(fb, 2000), 0);
	cr_assert_eq(dproc_send_lines(fg, 2000), 0);
	t0 = slc_mono_ms();
	while (g1 < 2000 && slc_mono_ms() - t0 < 60000) {
		uint64_t b, g2;

		g1 = dproc_metric_now(&d, "sluice_qos_messages_total", gold);
		b = dproc_metric_now(&d, "sluice_qos_inflight_messages", bronze);
		g2 = dproc_metric_now(&d, "sluice_qos_messages_total", gold);
		/* Past gold's first 100 (bronze's earlier excess is done by then, the ring
		 * being FIFO) and before its last: gold is active. */
		if (g1 >= 100 && g2 < 1900) {
			cr_assert_leq(b, 12, "bronze %llu in flight with gold at %llu",
			              (unsigned long long)b, (unsigned long long)g1);
			checked++;
		}
		dproc_log_pump(&d);
		usleep(20000);
	}
	cr_expect_gt(checked, 0, "gold was seen active");
	cr_expect_eq(dproc_metric_wait(&d, "sluice_qos_messages_total", bronze, 2000, 30000), 2000);
	cr_expect_eq(g1, 2000);
	cr_expect_gt(dproc_metric_now(&d, "sluice_qos_held_total", bronze), 0);
	close(fg);
	close(fb);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
}
