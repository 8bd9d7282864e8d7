/* SPDX-License-Identifier: MIT */
/* test_reload.c: sluiced --config reloaded (SIGHUP, POST /-/reload) while a stream runs. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_proc.h"

#define CONNS     4u
#define ROUNDS    20u
#define PER_ROUND 1000u
#define PER_CONN  (ROUNDS * PER_ROUND)
#define WORKERS   64u /* more than the test starts */

/* The file each round writes: the same but max-step, log-level and the tenants, and one
 * extra line. The connections' tenant, app, stays by name with its rate changed each round;
 * a tenant of the round's own name comes on odd rounds and goes on even ones, so slots are
 * taken, freed and taken again. */
static void
write_conf(const char *path, const char *dir, unsigned round, const char *extra)
{
	FILE *f = fopen(path, "w");

	cr_assert(f != NULL);
	fprintf(f,
	        "# test_reload, round %u\n"
	        "listen = tcp://127.0.0.1:0?framing=lines\n"
	        "metrics = 127.0.0.1:0\n"
	        "sink = file:%s\n"
	        "strategy = ordered\n"
	        "key = field:1      # the connection's name\n"
	        "pools = 2\n"
	        "workers = 2\n"
	        "rebalance-interval = 50ms\n"
	        "max-step = %s\n"
	        "log-level = %s\n"
	        "%s\n"
	        "tenant = app:cidr=127.0.0.0/8,rate=%u,burst=500\n"
	        "tenant = r%u:cidr=10.0.0.0/8\n",
	        round, dir, round % 2 ? "4" : "5", round % 2 ? "debug" : "info",
	        extra != NULL ? extra : "", round % 2 ? 50000u : 200000u, round % 2 ? round : 0);
	cr_assert_eq(fclose(f), 0);
}

/* Lines "cK SEQ\n" of connection k, sequence numbers from..from+n-1. */
static void
send_lines(int fd, unsigned k, unsigned from, unsigned n)
{
	static char buf[PER_ROUND * 24];
	size_t len = 0;

	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "c%u %u\n", k, from + i);
	cr_assert_eq(dproc_send_all(fd, buf, len), 0);
}

/* What the records say, per connection: each number's count, and order per worker. */
struct tally {
	uint32_t count[CONNS][PER_CONN];
	int64_t last[CONNS][WORKERS]; /* last number a worker wrote; -1: none */
	uint32_t reordered;
	uint32_t foreign;
};

static void
tally_record(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct tally *t = ctx;
	char text[32];
	unsigned k, seq;

	if (len >= sizeof(text) || worker >= WORKERS) {
		t->foreign++;
		return;
	}
	memcpy(text, p, len);
	text[len] = '\0';
	if (sscanf(text, "c%u %u", &k, &seq) != 2 || k >= CONNS || seq >= PER_CONN) {
		t->foreign++;
		return;
	}
	t->count[k][seq]++;
	/* The ordered strategy keeps a key on one worker while its messages are in flight,
	 * so what one worker wrote of a connection is in order. */
	if ((int64_t)seq <= t->last[k][worker])
		t->reordered++;
	t->last[k][worker] = seq;
}

static uint64_t
reloads(struct dproc *d, const char *result, uint64_t want)
{
	char label[48];
	const char *f[] = {label, NULL};

	snprintf(label, sizeof(label), "result=\"%s\"", result);
	return dproc_metric_wait(d, "sluice_config_reloads_total", f, want, 10000);
}

Test(reload, twenty_reloads_during_a_stream_lose_nothing, .timeout = 240)
{
	static struct tally t;
	static char body[1 << 16];
	struct dproc d;
	char path[96];
	const char *args[] = {"--config", path, NULL};
	const char *restart_flag[] = {"flag=\"--max-conns\"", NULL};
	const char *app[] = {"tenant=\"app\"", NULL};
	int fd[CONNS];
	uint64_t ok = 0, missing = 0, dup = 0, records;

	dproc_make_dir(&d);
	snprintf(path, sizeof(path), "%s.conf", d.dir);
	write_conf(path, d.dir, 0, NULL);
	dproc_start(&d, args);
	cr_assert_neq(d.metrics_port, 0, "%s", d.log);
	for (unsigned k = 0; k < CONNS; k++) {
		fd[k] = dproc_connect(d.port[0]);
		cr_assert_geq(fd[k], 0);
	}
	for (unsigned r = 1; r <= ROUNDS; r++) {
		for (unsigned k = 0; k < CONNS; k++)
			send_lines(fd[k], k, (r - 1) * PER_ROUND, PER_ROUND);
		if (r == 7) {
			/* A bad file: refused, the running configuration kept. */
			write_conf(path, d.dir, r, "max-step = -1");
			cr_expect_eq(dproc_http(&d, "POST", "/-/reload", body, sizeof(body)), 400);
			cr_expect(strstr(body, ".conf:12: --max-step: \"-1\" is out of range") !=
			                  NULL,
			          "%s", body);
			cr_expect(strstr(body, "the running configuration is kept") != NULL, "%s",
			          body);
			cr_expect_eq(reloads(&d, "invalid", 1), 1u);
			cr_expect_eq(
			        dproc_metric_now(&d, "sluice_config_last_reload_successful", NULL),
			        0u);
		}
		/* A flag that cannot change live: named, counted, the rest applied. */
		write_conf(path, d.dir, r, r == 12 ? "max-conns = 500" : NULL);
		if (r % 2 == 0) {
			cr_assert_eq(kill(d.pid, SIGHUP), 0);
		} else {
			cr_expect_eq(dproc_http(&d, "POST", "/-/reload", body, sizeof(body)), 200,
			             "%s", body);
			cr_expect(strstr(body, "--max-step: applied") != NULL, "%s", body);
			cr_expect(strstr(body, "--log-level: applied") != NULL, "%s", body);
			cr_expect(strstr(body, "--tenant: applied") != NULL, "%s", body);
		}
		ok = reloads(&d, "ok", r);
		cr_assert_eq(ok, r, "reload %u did not apply: %s", r, d.log);
		if (r == 12) {
			cr_expect(dproc_log_wait(&d, 0, "--max-conns changed; it needs a restart",
			                         10000),
			          "%s", d.log);
			cr_expect_geq(
			        dproc_metric_now(&d, "sluice_config_reload_restart_required_total",
			                         restart_flag),
			        1u);
		}
	}
	cr_expect_eq(dproc_metric_now(&d, "sluice_config_last_reload_successful", NULL), 1u);
	for (unsigned k = 0; k < CONNS; k++)
		close(fd[k]);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL,
	                               (uint64_t)CONNS * PER_CONN, 60000),
	             (uint64_t)CONNS * PER_CONN);
	/* app's counters went on through twenty tables: its connections stayed its own. */
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_received_messages_total", app),
	             (uint64_t)CONNS * PER_CONN);
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_connections_accepted_total", app), CONNS);
	cr_expect_gt(dproc_metric_now(&d, "sluice_tenant_rate_limited_pauses_total", app), 0);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);

	memset(t.last, 0xff, sizeof(t.last));
	records = dproc_for_each_record(d.dir, tally_record, &t);
	for (unsigned k = 0; k < CONNS; k++) {
		for (unsigned i = 0; i < PER_CONN; i++) {
			missing += t.count[k][i] == 0;
			dup += t.count[k][i] > 1;
		}
	}
	cr_expect_eq(records, (uint64_t)CONNS * PER_CONN);
	cr_expect_eq(missing, 0u, "%" PRIu64 " messages lost", missing);
	cr_expect_eq(dup, 0u, "%" PRIu64 " messages twice", dup);
	cr_expect_eq(t.reordered, 0u, "%u messages out of order", t.reordered);
	cr_expect_eq(t.foreign, 0u);
	unlink(path);
	dproc_remove_dir(d.dir);
}

Test(reload, check_config_names_each_problem_of_the_file, .timeout = 30)
{
	struct dproc d;
	char path[96];
	const char *args[] = {"--config", path, "--check-config", NULL};
	FILE *f;

	dproc_make_dir(&d);
	snprintf(path, sizeof(path), "%s.conf", d.dir);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fputs("pools = 0\nnope = 1\nlisten = tcp://127.0.0.1:0\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_expect_eq(dproc_run_to_exit(&d, args), 2);
	cr_expect(strstr(d.log, ".conf:1: --pools") != NULL, "%s", d.log);
	cr_expect(strstr(d.log, ".conf:2: unknown flag --nope") != NULL, "%s", d.log);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fputs("pools = 2\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_expect_eq(dproc_run_to_exit(&d, args), 0, "%s", d.log);
	unlink(path);
	dproc_remove_dir(d.dir);
}
