/* SPDX-License-Identifier: MIT */
/* test_sink_retry.c: sluiced's retries, circuit breaker and dead letters, as a process. */
/*
 * forward: a peer that refuses connections, then comes back: every message arrives once,
 * in order, and the metrics and the log show the retries and the breaker going open,
 * half-open and closed again. forward with --retry-max-elapsed: a peer that never comes
 * back costs the batch, which lands in --dead-letter, readable with sluice-cat. The
 * plugin's poison and Kafka's too-large records are in the same file further down.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "daemon_proc.h"

#define NMSG 2000

/* A port on 127.0.0.1 that nobody listens on (it refuses connections): bound, then closed. */
static uint16_t
refusing_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* The peer coming back on port (listening; SO_REUSEADDR for a port just closed). */
static int
peer_listen(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "port %u: %s", port,
	             strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

/* "msg-000000\n" ... for i in [0, n): what the client sends and the peer must read back. */
static char *
lines_make(uint32_t n, size_t *len)
{
	char *b = malloc((size_t)n * 12 + 1);
	size_t at = 0;

	cr_assert_not_null(b);
	for (uint32_t i = 0; i < n; i++)
		at += (size_t)sprintf(b + at, "msg-%06u\n", i);
	*len = at;
	return b;
}

/* Accepts connections on lfd and reads them, one at a time, until want bytes came in all,
 * or timeout_ms passes; the daemon's log is pumped meanwhile. Returns the bytes read. */
static size_t
peer_read(struct dproc *d, int lfd, char *buf, size_t want, uint32_t timeout_ms)
{
	uint64_t end = slc_mono_ms() + timeout_ms;
	size_t have = 0;
	int cfd = -1;

	while (have < want && slc_mono_ms() < end) {
		struct pollfd pfd = {.fd = cfd >= 0 ? cfd : lfd, .events = POLLIN};
		ssize_t n;

		dproc_log_pump(d);
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if (cfd < 0) {
			cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			continue;
		}
		n = recv(cfd, buf + have, want - have, 0);
		if (n <= 0) {
			close(cfd);
			cfd = -1;
			continue;
		}
		have += (size_t)n;
	}
	if (cfd >= 0)
		close(cfd);
	return have;
}

static uint64_t
metric(struct dproc *d, const char *name, const char *f1, const char *f2)
{
	const char *filters[] = {f1, f2, NULL};

	return dproc_metric_now(d, name, filters);
}

Test(sink_retry, forward_peer_refuses_then_returns_every_message_once_in_order, .timeout = 120)
{
	struct dproc d;
	char sink[64];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0",
	                      "--sink",
	                      sink,
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--pools",
	                      "1",
	                      "--retry-initial",
	                      "5ms",
	                      "--retry-max",
	                      "40ms",
	                      "--breaker-failures",
	                      "3",
	                      "--breaker-cooldown",
	                      "200ms",
	                      NULL};
	const char *refused[] = {"sink=\"forward\"", "reason=\"refused\"", NULL};
	const char *opened[] = {"sink=\"forward\"", "to=\"open\"", NULL};
	uint16_t port = refusing_port();
	size_t len, got;
	char *want = lines_make(NMSG, &len), *buf = malloc(len + 1);
	int fd, lfd;

	cr_assert_not_null(buf);
	snprintf(sink, sizeof(sink), "forward:127.0.0.1:%u", port);
	memset(&d, 0, sizeof(d));
	dproc_start(&d, args);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, want, len), 0);
	/* Refused: retried, the breaker opens after 3 in a row, then probes and opens again. */
	cr_assert_geq(dproc_metric_wait(&d, "sluice_sink_retries_total", refused, 6, 30000), 6,
	              "%s", d.log);
	cr_assert_geq(
	        dproc_metric_wait(&d, "sluice_sink_breaker_transitions_total", opened, 2, 30000), 2,
	        "%s", d.log);
	cr_expect_geq(metric(&d, "sluice_sink_breaker_transitions_total", "sink=\"forward\"",
	                     "to=\"half_open\""),
	              1, "a probe after the cool-down");
	cr_expect_eq(
	        metric(&d, "sluice_sink_retries_total", "sink=\"forward\"", "reason=\"reset\""), 0);
	cr_expect(strstr(d.log, "circuit breaker open after 3 failures in a row (Connection "
	                        "refused)") != NULL,
	          "%s", d.log);
	/* The peer comes back: everything arrives, once, in the order sent. */
	lfd = peer_listen(port);
	got = peer_read(&d, lfd, buf, len + 1, 30000);
	cr_expect_eq(got, len, "%zu of %zu bytes", got, len);
	buf[got] = '\0';
	cr_expect(got >= len && memcmp(buf, want, len) == 0, "not once and in order");
	cr_expect_geq(metric(&d, "sluice_sink_breaker_transitions_total", "sink=\"forward\"",
	                     "to=\"closed\""),
	              1);
	cr_expect_eq(
	        metric(&d, "sluice_sink_breaker_state", "sink=\"forward\"", "state=\"closed\""), 1,
	        "the one worker's breaker is closed again");
	cr_expect_eq(metric(&d, "sluice_sink_breaker_state", "sink=\"forward\"", "state=\"open\""),
	             0);
	cr_expect_eq(metric(&d, "sluice_sink_messages_total", "sink=\"forward\"", NULL), NMSG);
	cr_expect(dproc_log_wait(&d, 0, "circuit breaker closed", 5000), "%s", d.log);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	close(lfd);
	free(buf);
	free(want);
}

/* sluiced's flags for a forward sink to sink (one worker) that gives a batch up after
 * elapsed of failures, into the dead letters in dl. */
#define FORWARD_GIVING_UP(sink, elapsed, dl)                                                      \
	"--listen", "tcp://127.0.0.1:0", "--sink", (sink), "--metrics", "127.0.0.1:0", "--pools", \
	        "1", "--retry-initial", "5ms", "--retry-max", "20ms", "--retry-max-elapsed",      \
	        (elapsed), "--dead-letter", (dl)

/* sluice-cat's output (stdout) for args, into out; its exit status. */
static int
cat_run(const char *const *args, char *out, size_t cap)
{
	char cmd[1024];
	size_t at = 0;
	FILE *p;
	int st;

	at += (size_t)snprintf(cmd, sizeof(cmd), "%s", SLC_SLUICE_CAT);
	for (size_t i = 0; args[i] != NULL; i++)
		at += (size_t)snprintf(cmd + at, sizeof(cmd) - at, " '%s'", args[i]);
	cr_assert_lt(at, sizeof(cmd));
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	at = fread(out, 1, cap - 1, p);
	out[at] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* sluice-cat --json's lines for dir, as a count; the output in out. */
static unsigned
dead_letters_in(const char *dir, char *out, size_t cap)
{
	const char *cat_json[] = {"--json", dir, NULL};
	unsigned n = 0;

	cr_assert_eq(cat_run(cat_json, out, cap), 0, "%s", out);
	for (const char *p = out; (p = strstr(p, "\"dead_letter\":true")) != NULL; p++)
		n++;
	return n;
}

/*
 * Restarts with what --dead-letter held (3 letters): a --dead-letter that is a file, or a
 * directory another daemon holds, is refused with the reason and the exit status 2 or 1;
 * neither deletes a letter, nor does a good restart on the same directory.
 */
static void
restart_keeps_dead_letters(struct dproc *d, const char **args, char *dl, char *out)
{
	char good[128], file[128];
	struct dproc other;
	FILE *f;

	cr_assert_eq(dead_letters_in(dl, out, 1 << 16), 3, "%s", out);
	snprintf(good, sizeof(good), "%s", dl);
	snprintf(file, sizeof(file), "%.100s/not-a-dir", d->dir);
	f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	snprintf(dl, 128, "%s", file);
	cr_expect_neq(dproc_run_to_exit(d, args), 0, "%s", d->log);
	cr_expect(strstr(d->log, "--dead-letter") != NULL, "%s", d->log);
	/* The same directory, held by a running daemon: the second one is refused. */
	snprintf(dl, 128, "%s", good);
	memset(&other, 0, sizeof(other));
	dproc_start(&other, args);
	cr_expect_neq(dproc_run_to_exit(d, args), 0, "%s", d->log);
	cr_expect(strstr(d->log, "--dead-letter") != NULL, "%s", d->log);
	cr_expect_eq(dproc_stop(&other), 0, "%s", other.log);
	cr_expect_eq(dead_letters_in(good, out, 1 << 16), 3, "%s", out);
}

Test(sink_retry, forward_retries_exhausted_go_to_the_dead_letters, .timeout = 120)
{
	struct dproc d;
	char sink[64], dl[128], out[1 << 16];
	const char *args[] = {FORWARD_GIVING_UP(sink, "300ms", dl), NULL};
	const char *exhausted[] = {"sink=\"forward\"", "reason=\"retries_exhausted\"", NULL};
	static const char msgs[] = "alpha\nbeta\ngamma\n";
	uint16_t port = refusing_port();
	const char *cat_json[] = {"--json", dl, NULL};
	int fd;

	snprintf(sink, sizeof(sink), "forward:127.0.0.1:%u", port);
	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	snprintf(dl, sizeof(dl), "%s/dead", d.dir);
	dproc_start(&d, args);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, msgs, sizeof(msgs) - 1), 0);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_dead_letters_total", exhausted, 3, 30000), 3,
	             "%s", d.log);
	cr_expect(dproc_log_wait(&d, 0,
	                         "3 messages written to the dead letters after "
	                         "--retry-max-elapsed",
	                         5000),
	          "%s", d.log);
	close(fd);
	/* Nothing was lost: the stop is clean. */
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	cr_assert_eq(cat_run(cat_json, out, sizeof(out)), 0, "%s", out);
	for (const char *w = "alpha\0beta\0gamma\0"; *w != '\0'; w += strlen(w) + 1) {
		char want[64];

		snprintf(want, sizeof(want), "\"payload\":\"%s\"", w);
		cr_expect(strstr(out, want) != NULL, "no %s in:\n%s", want, out);
	}
	cr_expect(strstr(out, "\"reason\":\"retries_exhausted\"") != NULL, "%s", out);
	cr_expect(strstr(out, "\"sink\":\"forward\"") != NULL, "%s", out);
	cr_expect(strstr(out, "\"time\":\"20") != NULL, "%s", out);
	restart_keeps_dead_letters(&d, args, dl, out);
	dproc_remove_dir(d.dir);
}

/* The example plugin (tests/engine/sinks/plugin_example.c): "POISON..." is poison, a call
 * with "LATER..." is answered retry-later three times. */
Test(sink_retry, plugin_poison_goes_to_the_dead_letters_and_retry_later_is_retried, .timeout = 120)
{
	struct dproc d;
	char sink[512], dl[128], counts[128], out[1 << 16];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0",
	                      "--sink",
	                      sink,
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--pools",
	                      "1",
	                      "--dead-letter",
	                      dl,
	                      "--retry-initial",
	                      "10ms",
	                      NULL};
	const char *poison[] = {"sink=\"plugin\"", "reason=\"poison\"", NULL};
	const char *later[] = {"sink=\"plugin\"", "reason=\"later\"", NULL};
	const char *delivered[] = {"sink=\"plugin\"", NULL};
	/* The second poison is not UTF-8: --json gives it as base64. */
	static const char first[] = "good-1\nPOISON-a\ngood-2\nPOISON-\xff\n";
	static const char second[] = "LATER-b\n";
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	snprintf(dl, sizeof(dl), "%s/dead", d.dir);
	snprintf(counts, sizeof(counts), "%s/counts", d.dir);
	snprintf(sink, sizeof(sink), "plugin:%s?%s", SLC_PLUGIN_EXAMPLE, counts);
	dproc_start(&d, args);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, first, sizeof(first) - 1), 0);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_dead_letters_total", poison, 2, 30000), 2, "%s",
	             d.log);
	cr_assert_eq(dproc_send_all(fd, second, sizeof(second) - 1), 0);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_sink_messages_total", delivered, 3, 30000), 3,
	             "%s", d.log);
	cr_expect_eq(dproc_metric_now(&d, "sluice_sink_retries_total", later), 3);
	cr_expect_eq(dproc_metric_now(&d, "sluice_sink_poisoned_messages_total", delivered), 2);
	close(fd);
	/* The poison went to the dead letters, not lost: the stop is clean. */
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	cr_expect(strstr(d.log, "0 lost in the sink") != NULL, "%s", d.log);
	cr_assert_eq(dead_letters_in(dl, out, sizeof(out)), 2, "%s", out);
	cr_expect(strstr(out, "\"payload\":\"POISON-a\"") != NULL, "%s", out);
	cr_expect(strstr(out, "\"payload_b64\":\"UE9JU09OLf8=\"") != NULL, "%s", out);
	cr_expect(strstr(out, "\"sink\":\"plugin\",\"reason\":\"poison\"") != NULL, "%s", out);
	dproc_remove_dir(d.dir);
}

/* Without --dead-letter, a poison message is lost, and says so: counted, the exit status 1. */
Test(sink_retry, plugin_poison_without_dead_letters_is_counted_lost, .timeout = 60)
{
	struct dproc d;
	char sink[512], counts[128];
	const char *args[] = {"--listen",  "tcp://127.0.0.1:0", "--sink", sink,
	                      "--metrics", "127.0.0.1:0",       NULL};
	const char *poison[] = {"sink=\"plugin\"", NULL};
	static const char msgs[] = "POISON-a\n";
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	snprintf(counts, sizeof(counts), "%s/counts", d.dir);
	snprintf(sink, sizeof(sink), "plugin:%s?%s", SLC_PLUGIN_EXAMPLE, counts);
	dproc_start(&d, args);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, msgs, sizeof(msgs) - 1), 0);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_sink_poisoned_messages_total", poison, 1, 30000),
	             1, "%s", d.log);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 1, "%s", d.log);
	cr_expect(strstr(d.log, "1 lost in the sink") != NULL, "%s", d.log);
	cr_expect(strstr(d.log, "(poison) lost: no --dead-letter") != NULL, "%s", d.log);
	dproc_remove_dir(d.dir);
}

#ifndef SLC_TSAN
/* librdkafka's mock cluster in this process: one broker, topic with one partition; the
 * --sink value for it in sink. Its handle in *rk (destroy after the cluster). */
static rd_kafka_mock_cluster_t *
mock_up(const char *topic, rd_kafka_t **rk, char *sink, size_t cap)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	char errstr[256];

	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	*rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	cr_assert_not_null(*rk, "%s", errstr);
	mc = rd_kafka_mock_cluster_new(*rk, 1);
	cr_assert_not_null(mc);
	cr_assert_eq(rd_kafka_mock_topic_create(mc, topic, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	snprintf(sink, cap, "kafka://%s/%s", rd_kafka_mock_cluster_bootstraps(mc), topic);
	return mc;
}
#endif

/*
 * Kafka (librdkafka's mock cluster, in this process): a record over message.max.bytes is
 * refused by the producer at once; with --dead-letter it lands there (reason too_large),
 * its neighbours are delivered, and nothing is lost.
 */
Test(sink_retry, kafka_record_too_large_goes_to_the_dead_letters, .timeout = 120)
{
#ifdef SLC_TSAN
	/* As test_kafka_health.c: librdkafka starts its threads with C11 thrd_create, which
	 * GCC 12's libtsan does not intercept; sluiced built with TSan and a kafka:// sink
	 * crashes at start-up (a platform limit, not this test's). */
	cr_skip_test("librdkafka's threads are invisible to this TSan: sluiced would crash");
#else
	char sink[600], dl[128], out[1 << 16];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0",
	                      "--sink",
	                      sink,
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--kafka-prop",
	                      "message.max.bytes=1000",
	                      "--dead-letter",
	                      dl,
	                      NULL};
	const char *too_large[] = {"sink=\"kafka\"", "reason=\"too_large\"", NULL};
	const char *kafka[] = {"sink=\"kafka\"", NULL};
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;
	struct dproc d;
	char big[3000];
	int fd;

	mc = mock_up("dl", &rk, sink, sizeof(sink));
	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	snprintf(dl, sizeof(dl), "%s/dead", d.dir);
	dproc_start(&d, args);
	memset(big, 'z', sizeof(big));
	memcpy(big, "BIG-", 4);
	big[sizeof(big) - 1] = '\n';
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, "small-1\n", 8), 0);
	cr_assert_eq(dproc_send_all(fd, big, sizeof(big)), 0);
	cr_assert_eq(dproc_send_all(fd, "small-2\n", 8), 0);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_dead_letters_total", too_large, 1, 30000), 1,
	             "%s", d.log);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_sink_messages_total", kafka, 2, 30000), 2, "%s",
	             d.log);
	cr_expect_eq(dproc_metric_now(&d, "sluice_sink_kafka_rejected_total", NULL), 0);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	cr_expect(strstr(d.log, "0 lost in the sink") != NULL, "%s", d.log);
	cr_assert_eq(dead_letters_in(dl, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "\"payload\":\"BIG-zzzz") != NULL, "%s", out);
	cr_expect(strstr(out, "\"sink\":\"kafka\",\"reason\":\"too_large\"") != NULL, "%s", out);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	dproc_remove_dir(d.dir);
#endif
}

/*
 * Kafka: every broker down opens the breaker (librdkafka's "all brokers down"), counted
 * and logged with librdkafka's transport errors as retries; the brokers back, the waiting
 * records are delivered and the breaker closes.
 */
Test(sink_retry, kafka_brokers_down_open_the_breaker_and_back_close_it, .timeout = 120)
{
#ifdef SLC_TSAN
	cr_skip_test("librdkafka's threads are invisible to this TSan: sluiced would crash");
#else
	char sink[600];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0",
	                      "--sink",
	                      sink,
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--retry-max",
	                      "100ms",
	                      "--drain-timeout",
	                      "5s",
	                      NULL};
	const char *opened[] = {"sink=\"kafka\"", "to=\"open\"", NULL};
	const char *closed[] = {"sink=\"kafka\"", "to=\"closed\"", NULL};
	const char *kafka[] = {"sink=\"kafka\"", NULL};
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;
	struct dproc d;
	int fd;

	mc = mock_up("brk", &rk, sink, sizeof(sink));
	memset(&d, 0, sizeof(d));
	dproc_start(&d, args);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, "one\n", 4), 0);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_sink_messages_total", kafka, 1, 30000), 1, "%s",
	             d.log);
	{
		const char *state_closed[] = {"sink=\"kafka\"", "state=\"closed\"", NULL};

		cr_expect_eq(dproc_metric_now(&d, "sluice_sink_breaker_state", state_closed), 1,
		             "the breaker starts closed");
	}
	cr_assert_eq(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	cr_assert_eq(dproc_send_all(fd, "two\n", 4), 0);
	cr_assert_geq(
	        dproc_metric_wait(&d, "sluice_sink_breaker_transitions_total", opened, 1, 60000), 1,
	        "%s", d.log);
	cr_expect(dproc_log_wait(&d, 0, "circuit breaker open: every broker is down", 5000), "%s",
	          d.log);
	cr_assert_eq(rd_kafka_mock_broker_set_up(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_sink_messages_total", kafka, 2, 60000), 2, "%s",
	             d.log);
	cr_expect_geq(
	        dproc_metric_wait(&d, "sluice_sink_breaker_transitions_total", closed, 1, 5000), 1,
	        "%s", d.log);
	{
		const char *state_closed[] = {"sink=\"kafka\"", "state=\"closed\"", NULL};

		cr_expect_eq(dproc_metric_now(&d, "sluice_sink_breaker_state", state_closed), 1);
	}
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
#endif
}

/*
 * Dead letters that cannot be written (their directory replaced by a file under the
 * daemon): the
 * forward sink keeps the batch and goes on retrying it (at the drain timeout it is counted
 * undelivered, exit 1); a plugin's poison is counted lost (exit 1). Never silently.
 */
Test(sink_retry, dead_letters_that_cannot_be_written_lose_nothing_silently, .timeout = 120)
{
	struct dproc d;
	char sink[512], dl[128], counts[128], cmd[300];
	const char *fwd_args[] = {FORWARD_GIVING_UP(sink, "200ms", dl), "--drain-timeout", "1s",
	                          NULL};
	const char *plugin_args[] = {"--listen",  "tcp://127.0.0.1:0", "--sink",        sink,
	                             "--metrics", "127.0.0.1:0",       "--dead-letter", dl,
	                             NULL};
	const char *given_up[] = {"sink=\"forward\"", NULL};
	const char *poisoned[] = {"sink=\"plugin\"", NULL};
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	snprintf(dl, sizeof(dl), "%s/dead", d.dir);
	/* The file sink makes its directory again when it is gone: a file in its place
	 * is what stops it. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && touch '%s'", dl, dl);
	snprintf(sink, sizeof(sink), "forward:127.0.0.1:%u", refusing_port());
	dproc_start(&d, fwd_args);
	cr_assert_eq(system(cmd), 0);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, "a\nb\nc\n", 6), 0);
	/* Given up twice: the first time the letters could not be written, so it went on. */
	cr_assert_geq(
	        dproc_metric_wait(&d, "sluice_sink_retries_given_up_total", given_up, 2, 30000), 2,
	        "%s", d.log);
	cr_expect(dproc_log_wait(&d, 0, "3 messages (retries_exhausted) not written", 5000), "%s",
	          d.log);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 1, "%s", d.log);
	cr_expect(strstr(d.log, "3 undelivered at the drain timeout") != NULL, "%s", d.log);
	snprintf(cmd, sizeof(cmd), "rm -f '%s'", dl);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && touch '%s'", dl, dl);

	snprintf(counts, sizeof(counts), "%s/counts", d.dir);
	snprintf(sink, sizeof(sink), "plugin:%s?%s", SLC_PLUGIN_EXAMPLE, counts);
	dproc_start(&d, plugin_args);
	cr_assert_eq(system(cmd), 0);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, "POISON-x\n", 9), 0);
	cr_assert_eq(
	        dproc_metric_wait(&d, "sluice_sink_poisoned_messages_total", poisoned, 1, 30000), 1,
	        "%s", d.log);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 1, "%s", d.log);
	cr_expect(strstr(d.log, "(poison) lost: the dead letters cannot be written") != NULL, "%s",
	          d.log);
	cr_expect(strstr(d.log, "1 lost in the sink") != NULL, "%s", d.log);
	dproc_remove_dir(d.dir);
}
