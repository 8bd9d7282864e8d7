/* SPDX-License-Identifier: MIT */
/* test_tls_tenants.c: tenants by TLS client certificate: cert= decides after the handshake. */
/*
 * Each test makes a CA and certificates with the openssl tool in its own folder
 * (tls_client.c: cli is CN "client", from ca) and runs sluiced with a tls:// listener, the
 * null sink and --tenant flags; the sluice_tenant_* counters say where each connection
 * went. Under ASan the daemon runs with LeakSanitizer: every test checks the exit status
 * after SIGTERM.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "tls_client.h"

/* Starts sluiced with the certificates of d->dir (srv), the null sink, metrics, the
 * listeners and tenant flags of extra, and mutual TLS when mtls. */
static void
start(struct dproc *d, bool mtls, const char *const *extra)
{
	char cert[128], key[128], ca[128];
	const char *args[40] = {"--sink",     "null", "--metrics", "127.0.0.1:0",
	                        "--tls-cert", cert,   "--tls-key", key};
	size_t n = 8;

	signal(SIGPIPE, SIG_IGN); /* a write to a refused connection fails, not the test */
	dproc_make_dir(d);
	tlsc_make_certs(d->dir);
	snprintf(cert, sizeof(cert), "%s/srv.pem", d->dir);
	snprintf(key, sizeof(key), "%s/srv.key", d->dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", d->dir);
	if (mtls) {
		args[n++] = "--tls-client-ca";
		args[n++] = ca;
	}
	for (size_t i = 0; extra[i] != NULL && n < 39; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	dproc_start(d, args);
	cr_assert_neq(d->metrics_port, 0, "%s", d->log);
}

static void
stop(struct dproc *d)
{
	int st = dproc_stop(d);

	cr_expect_eq(st, 0, "sluiced exited %d:\n%s", st, d->log);
	dproc_remove_dir(d->dir);
}

/* Sends n lines "tls N" through c. */
static void
send_lines(struct tlsc *c, int n)
{
	static char buf[1000 * 12];
	size_t len = 0;

	cr_assert_leq(n, 1000);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "tls %06d\n", i);
	cr_assert(tlsc_write(c, buf, len), "the write failed");
}

static uint64_t
tenant_metric(struct dproc *d, const char *family, const char *tenant)
{
	char f[64];
	const char *const filters[] = {f, NULL};

	snprintf(f, sizeof(f), "tenant=\"%s\"", tenant);
	return dproc_metric_now(d, family, filters);
}

/* Mutual TLS: the client with the certificate CN "client" lands in the cert= tenant, with
 * its rate limit (it pauses on its buckets) and its QoS class; a plaintext client from the
 * same address goes to the tenant of its address. */
Test(tls_tenants, a_client_certificate_picks_its_tenant, .timeout = 120)
{
	const char *const extra[] = {"--listen", "tls://127.0.0.1:0?framing=lines",
	                             "--listen", "tcp://127.0.0.1:0?framing=lines",
	                             "--tenant", "signed:cert=client,rate=200,burst=50,class=gold",
	                             "--tenant", "net:cidr=127.0.0.0/8",
	                             NULL};
	const char *const gold[] = {"class=\"gold\"", NULL};
	enum { N = 400 };
	struct dproc d = {0};
	struct tlsc c;
	SSL_CTX *ctx;
	uint64_t got;
	int fd;

	start(&d, true, extra);
	ctx = tlsc_ctx(d.dir, "cli", 0);
	cr_assert(tlsc_connect(&c, ctx, d.port[0]), "the handshake failed:\n%s", d.log);
	send_lines(&c, N);
	/* 400 lines at 200 a second, a burst of 50: about 2 s, paused meanwhile. */
	got = dproc_metric_wait(&d, "sluice_tenant_received_messages_total",
	                        (const char *const[]){"tenant=\"signed\"", NULL}, N, 60000);
	cr_expect_eq(got, N, "every line arrives in the certificate's tenant:\n%s", d.log);
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_connections_accepted_total", "signed"), 1);
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_connections_open", "signed"), 1);
	cr_expect_gt(tenant_metric(&d, "sluice_tenant_rate_limited_pauses_total", "signed"), 0,
	             "its buckets held it back");
	cr_expect_eq(dproc_metric_now(&d, "sluice_qos_messages_total", gold), N,
	             "its class counted its messages");
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_connections_accepted_total", "net"), 0,
	             "never counted in the tenant of its address");
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_received_messages_total", "net"), 0);

	fd = dproc_connect(d.port[1]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, "plain 1\nplain 2\n", 16), 0);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_tenant_received_messages_total",
	                               (const char *const[]){"tenant=\"net\"", NULL}, 2, 10000),
	             2);
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_connections_accepted_total", "net"), 1);
	close(fd);
	tlsc_close(&c);
	SSL_CTX_free(ctx);
	cr_expect_eq(dproc_metric_wait_down(&d, "sluice_tenant_connections_open",
	                                    (const char *const[]){"tenant=\"signed\"", NULL}, 0,
	                                    10000),
	             0, "closed: its tenant's open count goes back");
	stop(&d);
}

/* Without --tls-client-ca no certificate is asked for: the cert= tenant cannot match, and
 * the connection goes to the tenant of its address once its handshake is done. */
Test(tls_tenants, without_a_certificate_the_address_decides, .timeout = 60)
{
	const char *const extra[] = {"--listen", "tls://127.0.0.1:0?framing=lines",
	                             "--tenant", "signed:cert=client,rate=200",
	                             "--tenant", "net:cidr=127.0.0.0/8",
	                             NULL};
	struct dproc d = {0};
	struct tlsc c;
	SSL_CTX *ctx;

	start(&d, false, extra);
	ctx = tlsc_ctx(d.dir, NULL, 0);
	cr_assert(tlsc_connect(&c, ctx, d.port[0]), "the handshake failed:\n%s", d.log);
	send_lines(&c, 5);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_tenant_received_messages_total",
	                               (const char *const[]){"tenant=\"net\"", NULL}, 5, 10000),
	             5, "%s", d.log);
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_connections_accepted_total", "net"), 1);
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_connections_accepted_total", "signed"), 0);
	tlsc_close(&c);
	SSL_CTX_free(ctx);
	stop(&d);
}

/* --tenant-default refuse: a verified certificate that no tenant names is refused after
 * its handshake: counted, logged with the peer and the subject, nothing of it delivered. */
Test(tls_tenants, a_certificate_no_tenant_matches_is_refused, .timeout = 60)
{
	const char *const extra[] = {"--listen",
	                             "tls://127.0.0.1:0?framing=lines",
	                             "--tenant",
	                             "signed:cert=someone-else",
	                             "--tenant",
	                             "far:cidr=10.0.0.0/8",
	                             "--tenant-default",
	                             "refuse",
	                             NULL};
	const char *const conn[] = {"kind=\"connection\"", NULL};
	const char *const none[] = {NULL};
	struct dproc d = {0};
	struct tlsc c;
	SSL_CTX *ctx;
	bool ok;

	start(&d, true, extra);
	ctx = tlsc_ctx(d.dir, "cli", 0);
	/* TLS 1.3: the client's handshake ends before the server has seen its certificate;
	 * the refusal is the server's close. */
	ok = tlsc_connect(&c, ctx, d.port[0]) && tlsc_write(&c, "refused 0\n", 10);
	cr_expect(!ok || tlsc_closed_by_peer(&c), "not refused");
	cr_expect_eq(dproc_metric_wait(&d, "sluice_tenant_refused_total", conn, 1, 10000), 1, "%s",
	             d.log);
	cr_expect(dproc_log_wait(&d, 0, "no tenant matches its certificate (CN=client", 10000),
	          "%s", d.log);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", none), 0);
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_connections_accepted_total", "signed"), 0);
	cr_expect_eq(tenant_metric(&d, "sluice_tenant_connections_open", "signed"), 0);
	tlsc_close(&c);
	SSL_CTX_free(ctx);
	stop(&d);
}
