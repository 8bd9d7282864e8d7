/* SPDX-License-Identifier: MIT */
/* test_drops.c: every drop before the pools has a counter with its listener and reason, and the stop says it. */
/*
 * Each test makes sluiced drop something on one path, then checks the path's counter (by
 * listener and reason), the stop's "dropped at the edge" line, and the exit status: 1 when
 * sluiced gave up what it had taken in (datagrams the pools had no room for, whole
 * messages of paused connections closed at the drain timeout), 0 when what was lost was
 * the client's (a partial frame). Other drop paths have their tests elsewhere: oversize
 * and framing (test_hostile), eviction (test_wedge), the sink's refusals and the forward
 * sink's drain timeout (test_sluiced, test_hostile).
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

/* The number before `what` in the daemon's "dropped at the edge" line; stops the test
 * when the line or the number is not there. */
static unsigned long long
edge_count(const struct dproc *d, const char *what)
{
	const char *line = strstr(d->log, "dropped at the edge: ");
	const char *p, *end;
	unsigned long long v = 0;

	cr_assert_not_null(line, "no \"dropped at the edge\" line:\n%s", d->log);
	end = strchr(line, '\n');
	p = strstr(line, what);
	cr_assert(p != NULL && (end == NULL || p < end), "no \"%s\" in the line:\n%s", what, line);
	while (p > line && p[-1] == ' ')
		p--;
	while (p > line && p[-1] >= '0' && p[-1] <= '9')
		p--;
	cr_assert_eq(sscanf(p, "%llu", &v), 1, "%s", line);
	return v;
}

static void
start(struct dproc *d, const char *const *extra)
{
	const char *args[40] = {"--metrics", "127.0.0.1:0", "--sink", "null"};
	size_t n = 4;

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; extra[i] != NULL && n < 39; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	dproc_start(d, args);
	cr_assert_neq(d->metrics_port, 0, "%s", d->log);
}

/* A pool that takes 200 datagrams a second, a 64-slot ring, and a burst of 3,000: most are
 * refused by the pools and dropped (UDP has no flow control). Every datagram is counted:
 * received, dropped with the pools full, dropped over --max-frame, or dropped by the
 * kernel. */
Test(drops, udp_datagrams_the_pools_refuse_are_counted_and_fail_the_stop, .timeout = 60)
{
	const char *const flags[] = {"--listen",
	                             "udp://127.0.0.1:0",
	                             "--pools",
	                             "1",
	                             "--workers",
	                             "1",
	                             "--ring-size",
	                             "64",
	                             "--max-frame",
	                             "1k",
	                             "--test-handler-cost-ns",
	                             "5000000",
	                             "--drain-timeout",
	                             "1s",
	                             NULL};
	const char *const full[] = {"reason=\"pools_full\"", NULL};
	const char *const oversize[] = {"reason=\"oversize\"", NULL};
	const char *const none[] = {NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char big[2048];
	struct dproc d;
	uint64_t got, pools_full, over, kernel;
	int fd, rc;

	start(&d, flags);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(d.port[0]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (int i = 0; i < 3000; i++) {
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "datagram %d", i);

		cr_assert_eq(send(fd, msg, (size_t)n, 0), n, "send: %s", strerror(errno));
	}
	memset(big, 'x', sizeof(big));
	cr_assert_eq(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	cr_assert_geq(dproc_metric_wait(&d, "sluice_udp_drops_total", oversize, 1, 10000), 1);
	/* Everything sent is accounted for once the reactor has seen it all. */
	for (int i = 0; i < 200; i++) {
		got = dproc_metric_now(&d, "sluice_received_messages_total", none);
		pools_full = dproc_metric_now(&d, "sluice_udp_drops_total", full);
		kernel = dproc_metric_now(&d, "sluice_udp_kernel_drops_total", none);
		if (got + pools_full + kernel >= 3000)
			break;
		usleep(50000);
	}
	cr_expect_eq(got + pools_full + kernel, 3000,
	             "received %llu + dropped, pools full %llu + by the kernel %llu",
	             (unsigned long long)got, (unsigned long long)pools_full,
	             (unsigned long long)kernel);
	cr_expect_gt(pools_full, 0, "a 64-slot ring at 200 a second refused some of 3,000");
	over = dproc_metric_now(&d, "sluice_udp_drops_total", oversize);
	cr_expect_eq(over, 1);
	close(fd);
	rc = dproc_stop(&d);
	cr_expect_eq(rc, 1, "datagrams sluiced dropped make the stop fail:\n%s", d.log);
	cr_expect_eq(edge_count(&d, "datagrams with the pools full"), pools_full);
	cr_expect_eq(edge_count(&d, "over --max-frame"), 1);
}

/* A slow pool (20 messages a second, a 64-slot ring), a short drain timeout, and a
 * connection paused with whole lines at SIGTERM: its first 6,400-byte write alone is 100
 * lines, more than the ring and the drain take, so what the drain could not hand over is
 * lost with the connection, and the stop says so and exits 1. */
Test(drops, whole_messages_paused_at_shutdown_fail_the_stop, .timeout = 60)
{
	const char *const flags[] = {"--listen",
	                             "tcp://127.0.0.1:0?framing=lines",
	                             "--pools",
	                             "1",
	                             "--workers",
	                             "1",
	                             "--ring-size",
	                             "64",
	                             "--test-handler-cost-ns",
	                             "50000000",
	                             "--drain-timeout",
	                             "500ms",
	                             NULL};
	const char *const none[] = {NULL};
	char buf[100 * 64 + 1]; /* + the last snprintf's NUL */
	struct dproc d;
	int fd, rc;

	start(&d, flags);
	for (int i = 0; i < 100; i++)
		snprintf(buf + i * 64, 65, "%-63d\n", i);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	/* 32 KB: within what the sockets buffer once the daemon stops reading. */
	for (int k = 0; k < 5; k++)
		cr_assert_eq(dproc_send_all(fd, buf, 100 * 64), 0);
	cr_assert_geq(dproc_metric_wait(&d, "sluice_reactor_paused_connections", none, 1, 10000), 1,
	              "the connection paused");
	rc = dproc_stop(&d);
	close(fd);
	cr_expect_eq(rc, 1, "%s", d.log);
	cr_expect_eq(edge_count(&d, "at shutdown"), 1);
	cr_expect_eq(edge_count(&d, "of them paused with whole messages"), 1);
}

/* Half a line at SIGTERM: the client's partial frame is lost and counted, but sluiced gave
 * up nothing it had taken in: exit 0. */
Test(drops, a_partial_frame_at_shutdown_is_counted_and_the_stop_succeeds, .timeout = 60)
{
	const char *const flags[] = {"--listen", "tcp://127.0.0.1:0?framing=lines", NULL};
	const char *const none[] = {NULL};
	struct dproc d;
	int fd, rc;

	start(&d, flags);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, "half a line", 11), 0);
	cr_assert_geq(dproc_metric_wait(&d, "sluice_received_bytes_total", none, 11, 10000), 11);
	rc = dproc_stop(&d);
	close(fd);
	cr_expect_eq(rc, 0, "%s", d.log);
	cr_expect_eq(edge_count(&d, "at shutdown"), 1);
	cr_expect_eq(edge_count(&d, "of them paused with whole messages"), 0);
}
