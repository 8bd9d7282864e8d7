/* SPDX-License-Identifier: MIT */
/* test_tls_hostile.c: tls:// listeners against garbage, stalled and idle handshakes, renegotiation. */
/*
 * Each test runs sluiced with a tls:// listener, does something hostile, and checks that
 * the connection was refused or closed, that a log line and a counter say why, that a
 * good client is served afterwards, and that sluiced exits 0 (no leak under ASan's
 * LeakSanitizer); the idle-handshake test also counts the daemon's descriptors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "tls_client.h"

#define IDLE_CONNS     500u
#define MAX_HANDSHAKES 100u
#define ATTACK_CONNS   150u
#define SOURCE_SHARE   32u /* --tls-max-handshakes-per-source's default */

static struct tlsc_daemon *
hscene_start(const char *const *extra)
{
	return tlsc_daemon_start("null", extra);
}

static void
hscene_stop(struct tlsc_daemon *s)
{
	int st = dproc_stop(&s->d);

	cr_expect_eq(st, 0, "sluiced exited %d:\n%s", st, s->d.log);
	dproc_remove_dir(s->d.dir);
	free(s);
}

static uint64_t
refused_wait(struct tlsc_daemon *s, const char *reason, uint64_t want)
{
	char f[48];
	const char *filters[] = {f, NULL};

	snprintf(f, sizeof(f), "reason=\"%s\"", reason);
	return dproc_metric_wait(&s->d, "sluice_tls_refused_total", filters, want, 15000);
}

/* A good client after the attack: a line through a fresh session arrives. */
static void
good_client(struct tlsc_daemon *s)
{
	SSL_CTX *ctx = tlsc_ctx(s->d.dir, NULL, 0);
	uint64_t before = dproc_metric_now(&s->d, "sluice_received_messages_total", NULL);
	struct tlsc c;

	cr_assert(tlsc_connect(&c, ctx, s->d.port[0]), "the good client was refused:\n%s",
	          s->d.log);
	cr_assert(tlsc_write(&c, "good\n", 5));
	tlsc_close(&c);
	SSL_CTX_free(ctx);
	cr_expect_eq(
	        dproc_metric_wait(&s->d, "sluice_received_messages_total", NULL, before + 1, 10000),
	        before + 1);
}

/* Sends len bytes on a fresh connection and waits for sluiced to close it, then checks
 * the refusal's counter and log line ("tls: REASON"). */
static void
send_expect_refused(struct tlsc_daemon *s, const char *bytes, size_t len, const char *reason,
                    uint64_t want)
{
	int fd = dproc_connect(s->d.port[0]);
	char line[48];

	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, bytes, len), 0);
	cr_expect(dproc_wait_closed(fd, 15000), "%s: the connection was not closed", reason);
	close(fd);
	cr_expect_eq(refused_wait(s, reason, want), want, "%s", s->d.log);
	snprintf(line, sizeof(line), "tls: %s", reason);
	cr_expect(dproc_log_wait(&s->d, 0, line, 10000), "%s", s->d.log);
}

Test(tls_hostile, plaintext_and_garbage_are_refused, .timeout = 60)
{
	struct tlsc_daemon *s = hscene_start(NULL);
	static const char *const junk[] = {"<13>plain syslog line\n", "GET / HTTP/1.0\r\n\r\n",
	                                   "\x16\x03\x01\xff\xff garbage record"};

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		send_expect_refused(s, junk[i], strlen(junk[i]), "not_tls", i + 1);
	cr_expect_eq(dproc_metric_now(&s->d, "sluice_received_messages_total", NULL), 0);
	good_client(s);
	hscene_stop(s);
}

Test(tls_hostile, a_handshake_stopped_half_way_times_out, .timeout = 60)
{
	const char *extra[] = {"--tls-handshake-timeout", "1s", NULL};
	struct tlsc_daemon *s = hscene_start(extra);
	/* A ClientHello record's header and the first bytes of its body, then nothing. */
	static const char part[] = "\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03";

	send_expect_refused(s, part, sizeof(part) - 1, "timeout", 1);
	cr_expect_eq(dproc_metric_now(&s->d, "sluice_reactor_tls_handshakes_active", NULL), 0);
	good_client(s);
	hscene_stop(s);
}

Test(tls_hostile, idle_half_open_handshakes_hit_the_cap_and_time_out, .timeout = 120)
{
	/* One source may take the whole cap here: this is the cap's test, not the share's. */
	const char *extra[] = {"--tls-max-handshakes",
	                       "100",
	                       "--tls-max-handshakes-per-source",
	                       "100",
	                       "--tls-handshake-timeout",
	                       "3s",
	                       NULL};
	struct tlsc_daemon *s = hscene_start(extra);
	static int fds[IDLE_CONNS];
	uint64_t over, timeout;
	uint32_t base = dproc_fd_count(s->d.pid), now = 0;

	for (uint32_t i = 0; i < IDLE_CONNS; i++) {
		fds[i] = dproc_connect(s->d.port[0]);
		cr_assert_geq(fds[i], 0, "connect %u: %s", i, strerror(errno));
	}
	/* Every one is either refused at once (over the cap) or times out. */
	over = refused_wait(s, "over_cap", 1);
	cr_expect_geq(over, 1, "%s", s->d.log);
	timeout = refused_wait(s, "timeout", IDLE_CONNS - over);
	over = refused_wait(s, "over_cap", 0);
	cr_expect_eq(over + timeout, IDLE_CONNS, "over_cap %llu + timeout %llu",
	             (unsigned long long)over, (unsigned long long)timeout);
	cr_expect_leq(timeout, MAX_HANDSHAKES);
	cr_expect(dproc_log_wait(&s->d, 0, "--tls-max-handshakes", 10000), "%s", s->d.log);
	good_client(s);
	for (uint32_t i = 0; i < IDLE_CONNS; i++)
		close(fds[i]);
	/* Every socket closed: the descriptors are back (one may be a scrape's). */
	for (uint64_t end = slc_mono_ms() + 10000; slc_mono_ms() < end;) {
		now = dproc_fd_count(s->d.pid);
		if (now <= base + 1)
			break;
		dproc_log_pump(&s->d);
		usleep(50000);
	}
	cr_expect_leq(now, base + 1, "descriptors: %u at start, %u now", base, now);
	hscene_stop(s);
}

/*
 * One attacker (127.0.0.2) opens more idle half-open handshakes than the cap: it gets its
 * source's share (32 by default) and the rest are refused at once (source_cap), so a
 * client from another source (127.0.0.1) still completes its handshake and delivers.
 * With the cap alone, the attacker took all 100 slots and the client was refused.
 */
Test(tls_hostile, one_source_cannot_take_every_handshake_slot, .timeout = 90)
{
	const char *extra[] = {"--tls-max-handshakes",
	                       "100",
	                       "--tls-handshake-timeout",
	                       "60s",
	                       "--reactors-per-node",
	                       "1",
	                       NULL};
	struct tlsc_daemon *s = hscene_start(extra);
	static int fds[ATTACK_CONNS];

	for (uint32_t i = 0; i < ATTACK_CONNS; i++) {
		fds[i] = dproc_connect_from("127.0.0.2", s->d.port[0]);
		cr_assert_geq(fds[i], 0, "connect %u from 127.0.0.2: %s", i, strerror(errno));
	}
	cr_expect_eq(refused_wait(s, "source_cap", ATTACK_CONNS - SOURCE_SHARE),
	             ATTACK_CONNS - SOURCE_SHARE, "%s", s->d.log);
	cr_expect_eq(dproc_metric_wait(&s->d, "sluice_reactor_tls_handshakes_active", NULL,
	                               SOURCE_SHARE, 10000),
	             SOURCE_SHARE);
	cr_expect(dproc_log_wait(&s->d, 0, "--tls-max-handshakes-per-source", 10000), "%s",
	          s->d.log);
	/* The attacker's handshakes are still open (60 s): the good client gets a slot. */
	good_client(s);
	cr_expect_eq(refused_wait(s, "over_cap", 0), 0);
	for (uint32_t i = 0; i < ATTACK_CONNS; i++)
		close(fds[i]);
	cr_expect_eq(dproc_metric_wait_down(&s->d, "sluice_reactor_tls_handshakes_active", NULL, 0,
	                                    10000),
	             0);
	hscene_stop(s);
}

Test(tls_hostile, renegotiation_is_refused, .timeout = 60)
{
	struct tlsc_daemon *s = hscene_start(NULL);
	SSL_CTX *ctx = tlsc_ctx(s->d.dir, NULL, TLS1_2_VERSION);
	struct tlsc c;

	cr_assert(tlsc_connect(&c, ctx, s->d.port[0]), "%s", s->d.log);
	cr_assert(tlsc_write(&c, "before\n", 7));
	cr_assert_eq(dproc_metric_wait(&s->d, "sluice_received_messages_total", NULL, 1, 10000), 1);
	cr_assert_eq(SSL_renegotiate(c.ssl), 1);
	/* The server closes rather than renegotiate: the handshake fails or the next read
	 * finds the connection gone. */
	cr_expect(SSL_do_handshake(c.ssl) != 1 || tlsc_closed_by_peer(&c),
	          "renegotiation went through");
	tlsc_close(&c);
	SSL_CTX_free(ctx);
	cr_expect_eq(refused_wait(s, "renegotiation", 1), 1, "%s", s->d.log);
	cr_expect(dproc_log_wait(&s->d, 0, "tls: renegotiation", 10000), "%s", s->d.log);
	good_client(s);
	hscene_stop(s);
}
