/* SPDX-License-Identifier: MIT */
/* test_reload_tenants.c: --tenant changed by a reload while connections run (issue 18). */
/*
 * The rate bound is an upper bound only (test_tenants.c says why it cannot fail for want of
 * CPU); everything else waits on counters.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "daemon_proc.h"

/* The config file: a lines listener, the null sink, and the given tenant lines. */
static void
write_conf(const char *path, const char *tenants)
{
	FILE *f = fopen(path, "w");

	cr_assert(f != NULL);
	fprintf(f,
	        "listen = tcp://127.0.0.1:0?framing=lines\n"
	        "metrics = 127.0.0.1:0\n"
	        "sink = null\n"
	        "%s\n",
	        tenants);
	cr_assert_eq(fclose(f), 0);
}

/* POST /-/reload: its status, the answer in body. */
static int
reload(struct dproc *d, char *body, size_t len)
{
	return dproc_http(d, "POST", "/-/reload", body, len);
}

/* The file with these tenants, reloaded: answered status, with want in the answer. */
static void
reload_says(struct dproc *d, const char *path, const char *tenants, int status, const char *want)
{
	char body[4096];

	write_conf(path, tenants);
	cr_expect_eq(reload(d, body, sizeof(body)), status, "%s", body);
	cr_expect(strstr(body, want) != NULL, "no \"%s\" in:\n%s", want, body);
}

/* A connection to the listener that sends n lines: its descriptor. */
static int
connect_send(struct dproc *d, uint32_t n)
{
	int fd = dproc_connect(d->port[0]);

	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_lines(fd, n), 0);
	return fd;
}

/* A connection the table refuses: closed at accept, the refused count reaching n. */
static void
expect_refused(struct dproc *d, uint64_t n)
{
	const char *const conn[] = {"kind=\"connection\"", NULL};
	int fd = dproc_connect(d->port[0]);

	cr_assert_geq(fd, 0);
	cr_expect(dproc_wait_closed(fd, 10000), "refused: no tenant matches");
	close(fd);
	cr_expect_eq(dproc_metric_wait(d, "sluice_tenant_refused_total", conn, n, 10000), n);
}

static void
start(struct dproc *d, char *path, size_t len, const char *tenants)
{
	static const char *args[3];

	dproc_make_dir(d);
	snprintf(path, len, "%s.conf", d->dir);
	write_conf(path, tenants);
	args[0] = "--config";
	args[1] = path;
	args[2] = NULL;
	dproc_start(d, args);
	cr_assert_neq(d->metrics_port, 0, "%s", d->log);
}

static void
finish(struct dproc *d, const char *path)
{
	cr_expect_eq(dproc_stop(d), 0, "%s", d->log);
	unlink(path);
	dproc_remove_dir(d->dir);
}

/* A tenant without a useful limit gets a low rate by a reload: its open connection keeps
 * its tenant (the counters go on) and from then on gets no more than the new buckets allow;
 * nothing is lost. */
Test(reload_tenants, a_rate_lowered_live_holds_the_open_connection_to_it, .timeout = 90)
{
	const char *const app[] = {"tenant=\"app\"", NULL};
	enum { FIRST = 2000, THEN = 600, RATE = 200, BURST = 50 };
	char path[96];
	struct dproc d;
	uint64_t t0, got;
	int fd;

	start(&d, path, sizeof(path), "tenant = app:cidr=127.0.0.0/8,rate=10000000");
	fd = connect_send(&d, FIRST);
	cr_assert_eq(
	        dproc_metric_wait(&d, "sluice_tenant_received_messages_total", app, FIRST, 20000),
	        FIRST);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_rate_limited_pauses_total", app), 0);

	reload_says(&d, path, "tenant = app:cidr=127.0.0.0/8,rate=200,burst=50", 200,
	            "--tenant: applied");
	t0 = slc_mono_ms();
	cr_assert_eq(dproc_send_lines(fd, THEN), 0);
	/* The kept bucket holds at most the new burst: FIRST before, then the new rate. */
	got = dproc_metric_wait_bounded(&d, "sluice_tenant_received_messages_total", app,
	                                FIRST + THEN, FIRST + BURST, RATE, t0, 60000);
	cr_expect_eq(got, FIRST + THEN, "every line arrives");
	cr_expect_gt(dproc_metric_now(&d, "sluice_tenant_rate_limited_pauses_total", app), 0);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_open", app), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_accepted_total", app), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", NULL), FIRST + THEN);
	close(fd);
	finish(&d, path);
}

/* Tenants added and removed live: a tenant added accepts what the table refused; a removed
 * one refuses new connections while its open one goes on to the end; a tenant added while
 * that connection is open starts at zero (no removed tenant's counts under its name). Two
 * reactors: each takes every table, the connections spread between them. */
#define R2 "reactors-per-node = 2\n"
Test(reload_tenants, tenants_added_and_removed_live_keep_their_own_counts, .timeout = 90)
{
	const char *const b[] = {"tenant=\"b\"", NULL};
	const char *const c[] = {"tenant=\"c\"", NULL};
	const char *const e[] = {"tenant=\"e\"", NULL};
	char path[96], text[1 << 16];
	struct dproc d;
	int fd, kept, fc;

	start(&d, path, sizeof(path), R2 "tenant = far:cidr=10.0.0.0/8\ntenant-default = refuse");
	cr_assert_geq(dproc_scrape(&d, text, sizeof(text)), 0);
	cr_assert(strstr(text, "reactor=\"1\"") != NULL, "two reactors run:\n%s", text);
	expect_refused(&d, 1);

	/* b added: loopback is b's now. */
	reload_says(&d, path,
	            R2 "tenant = far:cidr=10.0.0.0/8\ntenant = b:cidr=127.0.0.0/8\n"
	               "tenant-default = refuse",
	            200, "ok: ");
	kept = connect_send(&d, 100);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_tenant_received_messages_total", b, 100, 10000),
	             100);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_accepted_total", b), 1);

	/* b removed: a new connection is refused, the open one goes on. */
	reload_says(&d, path, R2 "tenant = far:cidr=10.0.0.0/8\ntenant-default = refuse", 200,
	            "ok: ");
	expect_refused(&d, 2);
	cr_assert_eq(dproc_send_lines(kept, 50), 0);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 150, 10000),
	             150);
	cr_assert_geq(dproc_scrape(&d, text, sizeof(text)), 0);
	cr_expect(strstr(text, "tenant=\"b\"") == NULL, "a removed tenant's series go:\n%s", text);

	/* c added while b's connection is open: its own slot, counting from zero. */
	reload_says(&d, path,
	            R2 "tenant = far:cidr=10.0.0.0/8\ntenant = c:cidr=127.0.0.0/8\n"
	               "tenant-default = refuse",
	            200, "ok: ");
	fc = connect_send(&d, 10);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_tenant_received_messages_total", c, 10, 10000),
	             10);
	cr_assert_eq(dproc_send_lines(kept, 5), 0);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 165, 10000),
	             165);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_received_messages_total", c), 10);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_accepted_total", c), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_open", c), 1);

	/* b's connection closed, its slot is free: e, added now, may take it, and starts at
	 * zero all the same. */
	close(kept);
	cr_expect_eq(dproc_metric_wait_down(&d, "sluice_connections_open", NULL, 1, 10000), 1);
	reload_says(&d, path,
	            R2 "tenant = far:cidr=10.0.0.0/8\ntenant = e:cidr=127.0.0.1/32\n"
	               "tenant = c:cidr=127.0.0.0/8\ntenant-default = refuse",
	            200, "ok: ");
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_received_messages_total", e), 0);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_accepted_total", e), 0);
	fd = connect_send(&d, 7);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 172, 10000),
	             172);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_received_messages_total", e), 7);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_accepted_total", e), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_received_messages_total", c), 10);
	close(fd);
	close(fc);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_config_reloads_total", NULL, 4, 10000), 4);
	finish(&d, path);
}

/* A reload whose --tenant does not parse changes nothing: answered 400 with the reason,
 * logged, counted invalid; the running table still places new connections. */
Test(reload_tenants, a_bad_tenant_spec_keeps_the_running_table, .timeout = 60)
{
	const char *const app[] = {"tenant=\"app\"", NULL};
	const char *const invalid[] = {"result=\"invalid\"", NULL};
	char path[96];
	struct dproc d;
	int fd;

	start(&d, path, sizeof(path), "tenant = app:cidr=127.0.0.0/8\ntenant-default = refuse");
	reload_says(&d, path, "tenant = app:cidr=127.0.0.0/99\ntenant-default = refuse", 400,
	            "the running configuration is kept");
	cr_expect(dproc_log_wait(&d, 0, "--tenant: \"app:cidr=127.0.0.0/99\" is not valid", 10000),
	          "%s", d.log);
	cr_expect(dproc_log_wait(&d, 0, "reload refused: the running configuration is kept", 10000),
	          "%s", d.log);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_config_reloads_total", invalid, 1, 10000), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_config_last_reload_successful", NULL), 0);
	fd = connect_send(&d, 20);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_tenant_received_messages_total", app, 20, 10000),
	             20);
	close(fd);
	finish(&d, path);
}

/* What a reload cannot apply to the tenants needs a restart, the running table staying:
 * a class no tenant had at the start (classes are built then), the last --tenant removed,
 * a --qos-class changed. */
Test(reload_tenants, what_cannot_change_live_needs_a_restart, .timeout = 60)
{
	const char *const flag[] = {"flag=\"--tenant\"", NULL};
	const char *const none[] = {"tenant=\"app\"", "class=\"none\"", NULL};
	char path[96];
	struct dproc d;
	int fd;

	start(&d, path, sizeof(path), "tenant = app:cidr=127.0.0.0/8");
	reload_says(&d, path, "tenant = app:cidr=127.0.0.0/8,class=gold", 200,
	            "--tenant: needs a restart");
	cr_expect(dproc_log_wait(&d, 0, "class=gold is not among the running QoS classes", 10000),
	          "%s", d.log);
	cr_expect_eq(dproc_metric_now(&d, "sluice_config_reload_restart_required_total", flag), 1);
	reload_says(&d, path, "", 200, "--tenant: needs a restart");
	cr_expect_eq(dproc_metric_now(&d, "sluice_config_reload_restart_required_total", flag), 2);
	/* A class's definition: read without a lock on the path of every burst. */
	reload_says(&d, path, "tenant = app:cidr=127.0.0.0/8\nqos-class = gold:weight=9", 200,
	            "--qos-class: needs a restart");
	fd = connect_send(&d, 20);
	cr_expect_eq(
	        dproc_metric_wait(&d, "sluice_tenant_received_messages_total", none, 20, 10000), 20,
	        "the running table places it");
	close(fd);
	finish(&d, path);
}

/* With classes running (a tenant had one at the start), another tenant may take one live:
 * its messages are counted in that class from then on. */
Test(reload_tenants, a_running_class_is_given_live, .timeout = 60)
{
	const char *const gold[] = {"class=\"gold\"", NULL};
	const char *const app_gold[] = {"tenant=\"app\"", "class=\"gold\"", NULL};
	char path[96];
	struct dproc d;
	int fd;

	start(&d, path, sizeof(path),
	      "tenant = other:cidr=10.0.0.0/8,class=bronze\ntenant = app:cidr=127.0.0.0/8");
	fd = connect_send(&d, 10);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 10, 10000), 10);
	cr_expect_eq(dproc_metric_now(&d, "sluice_qos_messages_total", gold), 0);
	reload_says(&d, path,
	            "tenant = other:cidr=10.0.0.0/8,class=bronze\n"
	            "tenant = app:cidr=127.0.0.0/8,class=gold",
	            200, "--tenant: applied");
	cr_assert_eq(dproc_send_lines(fd, 30), 0);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_qos_messages_total", gold, 30, 10000), 30);
	cr_expect_eq(
	        dproc_metric_wait(&d, "sluice_tenant_received_messages_total", app_gold, 40, 10000),
	        40, "the counters go on under the new label");
	cr_expect_eq(dproc_metric_wait_down(&d, "sluice_qos_inflight_messages", gold, 0, 10000), 0,
	             "released into the class they were counted in");
	close(fd);
	finish(&d, path);
}

/* Long lines to a connection from a thread of their own: the daemon's slow pool holds
 * the sender back (TCP flow control) for seconds. */
struct long_lines {
	int fd;
	uint32_t n;
	int rc;
};

static void *
send_long_lines(void *arg)
{
	enum { LEN = 3000 }; /* most 4k buffers begin inside a line: a reassembled one */
	struct long_lines *ll = arg;
	char *line = malloc(LEN);

	ll->rc = -1;
	if (line == NULL)
		return NULL;
	memset(line, 'x', LEN - 1);
	line[LEN - 1] = '\n';
	ll->rc = 0;
	for (uint32_t i = 0; i < ll->n && ll->rc == 0; i++)
		ll->rc = dproc_send_all(ll->fd, line, LEN);
	free(line);
	return NULL;
}

/* A tenant moved to another class while its connection has messages held back by full
 * pools (a reassembled line kept aside, offered again on resume): each message is released
 * into the class it was counted in, so every class's in-flight count comes back to 0. */
Test(reload_tenants, a_class_moved_live_releases_held_messages_into_their_own, .timeout = 90)
{
	static const char *const cls[] = {"gold", "silver", "bronze"};
	const char *const app[] = {"tenant=\"app\"", NULL};
	const char *const silver[] = {"class=\"silver\"", NULL};
	static const char slow[] = "buffer-size = 4k\nworkers = 1\nring-size = 2\n"
	                           "test-handler-cost-ns = 500000\n"
	                           "tenant = other:cidr=10.0.0.0/8,class=silver\n";
	enum { N = 4000 };
	struct long_lines ll = {.n = N};
	char path[96], conf[512], text[1 << 16];
	struct dproc d;
	pthread_t t;

	snprintf(conf, sizeof(conf), "%stenant = app:cidr=127.0.0.0/8,class=gold", slow);
	start(&d, path, sizeof(path), conf);
	ll.fd = dproc_connect(d.port[0]);
	cr_assert_geq(ll.fd, 0);
	cr_assert_eq(pthread_create(&t, NULL, send_long_lines, &ll), 0);
	/* The pool is full and the sender blocked well before the reload. */
	cr_assert_geq(
	        dproc_metric_wait(&d, "sluice_tenant_received_messages_total", app, 200, 30000),
	        200);
	snprintf(conf, sizeof(conf), "%stenant = app:cidr=127.0.0.0/8,class=silver", slow);
	reload_says(&d, path, conf, 200, "--tenant: applied");
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(ll.rc, 0);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, N, 60000), N);
	cr_expect_gt(dproc_metric_now(&d, "sluice_qos_messages_total", silver), 0);
	dproc_metric_wait_down(&d, "sluice_qos_inflight_messages", silver, 0, 10000);
	cr_assert_geq(dproc_scrape(&d, text, sizeof(text)), 0);
	for (unsigned i = 0; i < 3; i++) {
		char f[32];
		const char *const one[] = {f, NULL};

		snprintf(f, sizeof(f), "class=\"%s\"", cls[i]);
		cr_expect_eq(dproc_metric(text, "sluice_qos_inflight_messages", one), 0.0,
		             "class %s: every message released into the class it was counted in",
		             cls[i]);
	}
	close(ll.fd);
	finish(&d, path);
}

/* n datagrams to 127.0.0.1:port. */
static void
send_datagrams(uint16_t port, int n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	for (int i = 0; i < n; i++)
		cr_assert_eq(sendto(fd, "datagram", 8, 0, (struct sockaddr *)&sa, sizeof(sa)), 8,
		             "sendto: %s", strerror(errno));
	close(fd);
}

/* A UDP tenant's rate lowered live: its datagrams over the new buckets are dropped and
 * counted, where none were before; the counters go on. */
Test(reload_tenants, a_udp_tenants_rate_lowered_live_drops_its_excess, .timeout = 60)
{
	const char *const u[] = {"tenant=\"u\"", NULL};
	char path[96];
	struct dproc d;
	uint64_t got;

	start(&d, path, sizeof(path), "listen = udp://127.0.0.1:0\ntenant = u:cidr=127.0.0.0/8");
	send_datagrams(d.port[1], 20);
	got = dproc_metric_wait(&d, "sluice_tenant_received_messages_total", u, 20, 10000);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_rate_limited_drops_total", u), 0);
	reload_says(&d, path,
	            "listen = udp://127.0.0.1:0\ntenant = u:cidr=127.0.0.0/8,rate=1,burst=2", 200,
	            "--tenant: applied");
	send_datagrams(d.port[1], 200);
	cr_expect_geq(dproc_metric_wait(&d, "sluice_tenant_rate_limited_drops_total", u, 1, 10000),
	              1, "the new rate drops what is over it");
	cr_expect_geq(dproc_metric_now(&d, "sluice_tenant_received_messages_total", u), got,
	              "the counters go on");
	cr_expect(dproc_log_wait(&d, 0, "tenant u over its rate", 10000), "%s", d.log);
	finish(&d, path);
}

/* Every slot held (31 tenants and the built-in default): a reload that adds a tenant in
 * place of one is refused whole, answered and counted invalid, the running table kept. */
Test(reload_tenants, a_table_without_a_free_slot_is_refused_whole, .timeout = 60)
{
	const char *const invalid[] = {"result=\"invalid\"", NULL};
	const char *const t30[] = {"tenant=\"t30\"", NULL};
	static char first[31 * 48], second[31 * 48];
	char path[96], text[1 << 17];
	size_t a = 0, b = 0;
	struct dproc d;

	for (unsigned i = 0; i < 31; i++) {
		a += (size_t)snprintf(first + a, sizeof(first) - a,
		                      "tenant = t%u:cidr=10.%u.0.0/16\n", i, i);
		b += (size_t)snprintf(second + b, sizeof(second) - b,
		                      "tenant = %s%u:cidr=10.%u.0.0/16\n", i == 30 ? "n" : "t", i,
		                      i);
	}
	start(&d, path, sizeof(path), first);
	reload_says(&d, path, second, 400, "--tenant n30: no free tenant slot");
	cr_expect(dproc_log_wait(&d, 0, "no free tenant slot", 10000), "%s", d.log);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_config_reloads_total", invalid, 1, 10000), 1);
	cr_assert_geq(dproc_scrape(&d, text, sizeof(text)), 0);
	cr_expect(strstr(text, "tenant=\"n30\"") == NULL, "not applied");
	cr_expect_eq(dproc_metric(text, "sluice_tenant_connections_open", t30), 0.0);
	cr_expect(strstr(text, "tenant=\"t30\"") != NULL, "the running table stays");
	finish(&d, path);
}
