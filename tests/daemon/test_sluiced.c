/* SPDX-License-Identifier: MIT */
/* test_sluiced.c: sluiced as a process, fed by clients no one here wrote, read back from disk. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "sink_file.h"

static bool
have(const char *tool)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

/* Records in dir now, while the daemon writes (a tail being written is not counted). */
static uint64_t
records_so_far(const char *dir)
{
	struct slc_sink_file_seg *segs;
	uint64_t records = 0;
	size_t n;
	int err;

	if (slc_sink_file_dir_scan(dir, &segs, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char path[512];
		struct slc_sink_file_reader *r;
		struct slc_sink_file_ev ev;

		snprintf(path, sizeof(path), "%s/%s", dir, segs[i].name);
		r = slc_sink_file_reader_open(path, &err);
		if (r == NULL)
			continue;
		while (slc_sink_file_reader_next(r, &ev) == 0 && ev.kind != SLC_SINK_FILE_EV_END)
			records += ev.kind == SLC_SINK_FILE_EV_RECORD;
		slc_sink_file_reader_close(r);
	}
	free(segs);
	return records;
}

/*
 * Waits (up to 30 s) until dir holds n records. A client that has exited has only handed
 * its bytes to the kernel; SIGTERM stops sluiced receiving, so a test that stops it at
 * once races with those bytes (seen under ASan with loggen).
 */
static void
wait_records(const char *dir, uint64_t n)
{
	for (int i = 0; i < 300 && records_so_far(dir) < n; i++)
		usleep(100000);
}

/* Marks seen[i] for each message whose payload holds `marker` followed by i in decimal. */
struct seen {
	const char *marker;
	uint32_t n;
	uint32_t *count; /* [n] */
	uint32_t foreign;
};

static void
mark(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct seen *s = ctx;
	size_t ml = strlen(s->marker);
	char buf[4096];
	const char *at;
	unsigned long i;

	(void)worker;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	at = strstr(buf, s->marker);
	if (at == NULL) {
		s->foreign++;
		return;
	}
	i = strtoul(at + ml, NULL, 10);
	if (i < s->n)
		s->count[i]++;
	else
		s->foreign++;
}

/* Every message 0..n-1 exactly once, and nothing else. */
static void
expect_exactly_once(const char *dir, const char *marker, uint32_t n)
{
	struct seen s = {.marker = marker, .n = n, .count = calloc(n, sizeof(uint32_t))};
	uint32_t missing = 0, dup = 0;
	uint64_t records;

	cr_assert_not_null(s.count);
	records = dproc_for_each_record(dir, mark, &s);
	for (uint32_t i = 0; i < n; i++) {
		missing += s.count[i] == 0;
		dup += s.count[i] > 1;
	}
	cr_expect_eq(missing, 0u, "%u of %u messages missing", missing, n);
	cr_expect_eq(dup, 0u, "%u messages more than once", dup);
	cr_expect_eq(s.foreign, 0u, "%u records that are not ours", s.foreign);
	cr_expect_eq(records, (uint64_t)n);
	free(s.count);
}

static void
run_ok(const char *cmd)
{
	int st = system(cmd);

	cr_assert(st == 0, "`%s` failed: %d", cmd, st);
}

Test(sluiced, logger_tcp_octet_counted_and_plain, .timeout = 120)
{
	struct dproc d;
	char sink[96], cmd[512];
	const char *args[] = {"--listen",  "tcp://127.0.0.1:0?framing=syslog",
	                      "--sink",    sink,
	                      "--metrics", "off",
	                      "--pools",   "2",
	                      NULL};

	if (!have("logger"))
		cr_skip_test("util-linux logger is not installed (.ci/deps installs it)");
	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	/* 1000 octet-counted, then 1000 with LF framing (RFC 6587 non-transparent). */
	snprintf(cmd, sizeof(cmd),
	         "seq -f 'logger-msg-%%.0f end' 0 999 | logger --tcp -n 127.0.0.1 -P %u "
	         "--octet-count -t sluicetest && "
	         "seq -f 'logger-msg-%%.0f end' 1000 1999 | logger --tcp -n 127.0.0.1 -P %u "
	         "-t sluicetest",
	         d.port[0], d.port[0]);
	run_ok(cmd);
	wait_records(d.dir, 2000);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	expect_exactly_once(d.dir, "logger-msg-", 2000);
	dproc_remove_dir(d.dir);
}

Test(sluiced, logger_udp, .timeout = 120)
{
	struct dproc d;
	char sink[96], cmd[512];
	const char *args[] = {"--listen", "udp://127.0.0.1:0", "--sink", sink, "--metrics", "off",
	                      NULL};

	if (!have("logger"))
		cr_skip_test("util-linux logger is not installed (.ci/deps installs it)");
	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	/* 300 datagrams, 30 at a time with a pause between: a burst of 300 can outrun the
	 * socket's receive buffer (212 KiB by default, ~1 KiB per small datagram) while a
	 * sanitizer build's reactor is slow, and UDP then drops (counted, but not what this
	 * test is about). */
	snprintf(cmd, sizeof(cmd),
	         "for b in $(seq 0 30 270); do seq -f 'udp-msg-%%.0f end' $b $((b + 29)) | "
	         "logger --udp -n 127.0.0.1 -P %u -t sluicetest || exit 1; sleep 0.05; done",
	         d.port[0]);
	run_ok(cmd);
	wait_records(d.dir, 300);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	expect_exactly_once(d.dir, "udp-msg-", 300);
	dproc_remove_dir(d.dir);
}

Test(sluiced, loggen_tcp_several_connections, .timeout = 120)
{
	struct dproc d;
	char sink[96], cmd[512];
	const char *args[] = {"--listen",   "tcp://127.0.0.1:0?framing=lines",
	                      "--sink",     sink,
	                      "--metrics",  "off",
	                      "--strategy", "ordered",
	                      "--key",      "syslog:hostname",
	                      NULL};
	const uint32_t per_conn = 5000, conns = 4;
	struct seen s = {.marker = "seq: ", .n = per_conn};
	uint32_t bad = 0;

	if (!have("loggen"))
		cr_skip_test(
		        "syslog-ng's loggen is not installed (.ci/deps installs syslog-ng-core)");
	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	/* loggen: messages of at least ~128 bytes; -r is required. -r and -n are per
	 * connection, and each connection numbers its messages 0.. ("seq: %010d"). */
	snprintf(cmd, sizeof(cmd),
	         "loggen -i -S -Q -r 100000 -s 200 -n %u --active-connections=%u -I 30 "
	         "127.0.0.1 %u >/dev/null 2>&1",
	         per_conn, conns, d.port[0]);
	run_ok(cmd);
	wait_records(d.dir, (uint64_t)per_conn * conns);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	/* Every sequence number once per connection. */
	s.count = calloc(per_conn, sizeof(uint32_t));
	cr_expect_eq(dproc_for_each_record(d.dir, mark, &s), (uint64_t)per_conn * conns);
	for (uint32_t i = 0; i < per_conn; i++)
		bad += s.count[i] != conns;
	cr_expect_eq(s.foreign, 0u);
	cr_expect_eq(bad, 0u, "%u sequence numbers not seen exactly %u times; sluiced: %s", bad,
	             conns,
	             strstr(d.log, "stopped after") ? strstr(d.log, "stopped after") : d.log);
	free(s.count);
	dproc_remove_dir(d.dir);
}

Test(sluiced, nc_lines_and_empty_connections, .timeout = 120)
{
	struct dproc d;
	char sink[96], cmd[512];
	const char *args[] = {"--sink",    sink,  "--listen", "tcp://127.0.0.1:0",
	                      "--metrics", "off", NULL};

	if (!have("nc"))
		cr_skip_test("nc is not installed (.ci/deps installs netcat-openbsd)");
	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	/* A connection opened and closed without data, then one with 10000 lines and no LF
	 * after the last: both are normal traffic. */
	snprintf(cmd, sizeof(cmd),
	         "nc -N 127.0.0.1 %u </dev/null && seq -f 'nc-msg-%%.0f' 0 9999 | head -c -1 | "
	         "nc -N 127.0.0.1 %u",
	         d.port[0], d.port[0]);
	run_ok(cmd);
	wait_records(d.dir, 9999);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	/* The last line had no LF: the stream ended inside it, so it is not a frame. */
	{
		struct seen s = {.marker = "nc-msg-", .n = 10000, .count = calloc(10000, 4)};
		uint32_t missing = 0;

		cr_expect_eq(dproc_for_each_record(d.dir, mark, &s), 9999u);
		for (uint32_t i = 0; i < 9999; i++)
			missing += s.count[i] != 1;
		cr_expect_eq(missing, 0u);
		cr_expect_eq(s.count[9999], 0u);
		free(s.count);
	}
	dproc_remove_dir(d.dir);
}

/*
 * Tiny rings and a slow sink: the connection pauses again and again. A worker frees ring
 * slots after it gave the buffers back; a reactor woken by the buffers alone could find
 * the ring still full, pause, and never be woken again (it stalled for good, one run in
 * six with --ring-size 256, every run with 2).
 */
Test(sluiced, paused_connection_resumes_when_the_ring_has_room, .timeout = 180)
{
	struct dproc d;
	char sink[96], cmd[256];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0",
	                      "--sink",
	                      sink,
	                      "--metrics",
	                      "off",
	                      "--ring-size",
	                      "2",
	                      "--test-handler-cost-ns",
	                      "5000",
	                      NULL};

	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	snprintf(cmd, sizeof(cmd), "seq -f 'paused-%%.0f' 0 19999 | timeout 60 nc -N 127.0.0.1 %u",
	         d.port[0]);
	run_ok(cmd);
	/* nc is done when the kernel took the bytes. Every message must reach the disk while
	 * sluiced runs: SIGTERM would hand over what a stalled connection holds, and hide it. */
	{
		uint64_t on_disk = 0;

		for (int i = 0; i < 300 && on_disk < 20000; i++) {
			usleep(100000);
			on_disk = records_so_far(d.dir);
		}
		cr_expect_eq(on_disk, 20000u, "a paused connection did not resume");
	}
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	expect_exactly_once(d.dir, "paused-", 20000);
	dproc_remove_dir(d.dir);
}

/* A sender that writes numbered lines until the daemon goes away. */
struct stream {
	uint16_t port;
	uint64_t written;
};

static void *
stream_main(void *arg)
{
	struct stream *s = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(s->port)};
	char buf[65536];
	uint64_t seq = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return NULL;
	for (;;) {
		size_t n = 0;
		ssize_t w;

		while (n < sizeof(buf) - 64)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "stream-%llu payload\n",
			                      (unsigned long long)seq++);
		w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < (ssize_t)n)
			break;
		s->written = seq;
	}
	close(fd);
	return NULL;
}

/* The number before `what` in the stop line, or -1. */
static long long
stop_figure(const char *line, const char *what)
{
	const char *p = strstr(line, what);

	if (p == NULL)
		return -1;
	while (p > line && p[-1] == ' ')
		p--;
	while (p > line && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return strtoll(p, NULL, 10);
}

Test(sluiced, sigterm_mid_stream_loses_nothing_accepted, .timeout = 120)
{
	struct dproc d;
	struct stream st = {0};
	char sink[96];
	const char *args[] = {"--sink",  sink, "--listen", "tcp://127.0.0.1:0", "--metrics", "off",
	                      "--pools", "2",  NULL};
	long long received, processed, delivered, lost;
	struct seen s = {.marker = "stream-"};
	pthread_t t;
	char *p;

	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	st.port = d.port[0];
	cr_assert_eq(pthread_create(&t, NULL, stream_main, &st), 0);
	/* Mid-stream: once the sink holds some of it (the stream does not end on its own). */
	for (uint64_t end = slc_mono_ms() + 30000; records_so_far(d.dir) <= 1000; usleep(20000)) {
		dproc_log_pump(&d);
		cr_assert_lt(slc_mono_ms(), end, "the stream did not reach the sink:\n%s", d.log);
	}
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	pthread_join(t, NULL);
	/* "N messages received, M processed, D delivered, L lost in the sink" */
	p = strstr(d.log, "stopped after");
	cr_assert_not_null(p, "%s", d.log);
	received = stop_figure(p, " messages received");
	processed = stop_figure(p, " processed");
	delivered = stop_figure(p, " delivered");
	lost = stop_figure(p, " lost in the sink");
	cr_assert_gt(received, 1000, "the stream was running: %s", p);
	cr_expect_eq(processed, received, "%s", p);
	cr_expect_eq(delivered, received, "the file sink counts what it wrote: %s", p);
	cr_expect_eq(lost, 0, "%s", p);
	/* What was received is a prefix of the stream: 0..received-1, each once. */
	s.n = (uint32_t)received;
	s.count = calloc(received + 1, sizeof(uint32_t));
	cr_expect_eq(dproc_for_each_record(d.dir, mark, &s), (uint64_t)received);
	{
		uint32_t bad = 0;

		for (uint32_t i = 0; i < s.n; i++)
			bad += s.count[i] != 1;
		cr_expect_eq(bad, 0u, "%u of the first %u messages not exactly once", bad, s.n);
	}
	cr_expect_eq(s.foreign, 0u);
	free(s.count);
	dproc_remove_dir(d.dir);
}

Test(sluiced, metrics_endpoint_serves_the_counters, .timeout = 120)
{
	struct dproc d;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0", "--metrics", "127.0.0.1:0", NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char resp[1 << 17], cmd[256];
	size_t n = 0;
	ssize_t r;
	int fd;

	d.dir[0] = '\0';
	dproc_start(&d, args);
	cr_assert_neq(d.metrics_port, 0, "%s", d.log);
	snprintf(cmd, sizeof(cmd), "seq 1 500 | nc -N 127.0.0.1 %u", d.port[0]);
	run_ok(cmd);
	/* nc is done when the kernel took the bytes: wait for the sink to have them all. */
	dproc_metric_wait(&d, "sluice_sink_messages_total", NULL, 500, 30000);
	sa.sin_port = htons(d.metrics_port);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	dprintf(fd, "GET /metrics HTTP/1.0\r\n\r\n");
	while ((r = read(fd, resp + n, sizeof(resp) - 1 - n)) > 0)
		n += (size_t)r;
	resp[n] = '\0';
	close(fd);
	cr_expect(strstr(resp, "200 OK") != NULL, "%.200s", resp);
	cr_expect(strstr(resp, "sluice_worker_processed_total{pool=\"0\",worker=\"0\"}") != NULL);
	cr_expect(strstr(resp, "sluice_received_messages_total{") != NULL);
	cr_expect(strstr(resp, "sluice_pool_weight{pool=\"0\"}") != NULL);
	cr_expect(strstr(resp, "sluice_sink_messages_total{sink=\"null\"} 500") != NULL, "%s",
	          strstr(resp, "sluice_sink_messages_total")
	                  ? strstr(resp, "sluice_sink_messages_total")
	                  : "(none)");
	cr_expect(strstr(resp, "sluice_e2e_latency_seconds_count 0") != NULL);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	cr_expect(strstr(d.log, "refused") == NULL, "the render broke the format: %s", d.log);
}

Test(sluiced, plugin_sink_gets_every_message, .timeout = 60)
{
	struct dproc d;
	char sink[512], cmd[256], out[64] = "/tmp/sluiced-plugin-XXXXXX", line[256];
	const char *args[] = {"--listen", "tcp://127.0.0.1:0", "--sink", sink, "--metrics",
	                      "off",      "--pools",           "2",      NULL};
	unsigned long long total = 0, m;
	FILE *f;
	int fd;

	d.dir[0] = '\0';
	fd = mkstemp(out);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(sink, sizeof(sink), "plugin:%s?%s", SLC_PLUGIN_EXAMPLE, out);
	dproc_start(&d, args);
	snprintf(cmd, sizeof(cmd), "seq 1 3000 | nc -N 127.0.0.1 %u", d.port[0]);
	run_ok(cmd);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	/* fini wrote "worker N: M messages ..." per worker that ran */
	f = fopen(out, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "worker %*u: %llu messages", &m) == 1)
			total += m;
	fclose(f);
	unlink(out);
	cr_expect_eq(total, 3000u, "%s", d.log);
}

/* A downstream peer for the forward sink: accepts up to 8 connections, counts lines. */
struct peer {
	int lfd;
	uint16_t port;
	_Atomic uint64_t lines;
	_Atomic bool stop;
	/* the first bytes of the first connection, for the framing test */
	char first[4096];
	_Atomic size_t first_len;
};

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	struct pollfd pfd[9] = {{.fd = p->lfd, .events = POLLIN}};
	nfds_t n = 1;
	char buf[65536];

	while (!atomic_load(&p->stop)) {
		if (poll(pfd, n, 50) <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && n < 9) {
			pfd[n].fd = accept(p->lfd, NULL, NULL);
			pfd[n++].events = POLLIN;
		}
		for (nfds_t i = 1; i < n; i++) {
			ssize_t r;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			for (ssize_t k = 0; k < r; k++)
				if (buf[k] == '\n')
					atomic_fetch_add(&p->lines, 1);
			if (i == 1) {
				size_t have = atomic_load(&p->first_len);
				size_t take = (size_t)r < sizeof(p->first) - have
				                      ? (size_t)r
				                      : sizeof(p->first) - have;

				memcpy(p->first + have, buf, take);
				atomic_store(&p->first_len, have + take);
			}
		}
	}
	for (nfds_t i = 1; i < n; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	return NULL;
}

Test(sluiced, forward_sink_delivers_to_the_peer, .timeout = 120)
{
	struct dproc d;
	struct peer p = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	char sink[64], cmd[256];
	const char *args[] = {"--listen", "tcp://127.0.0.1:0", "--sink", sink, "--metrics",
	                      "off",      "--pools",           "2",      NULL};
	pthread_t t;

	d.dir[0] = '\0';
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(p.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(p.lfd, 16), 0);
	getsockname(p.lfd, (struct sockaddr *)&sa, &sl);
	p.port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&t, NULL, peer_main, &p), 0);
	snprintf(sink, sizeof(sink), "forward:127.0.0.1:%u", p.port);
	dproc_start(&d, args);
	snprintf(cmd, sizeof(cmd), "seq 1 20000 | nc -N 127.0.0.1 %u", d.port[0]);
	run_ok(cmd);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	/* The stop drained the sink into the peer's socket: the peer reads the rest. */
	for (uint64_t end = slc_mono_ms() + 30000;
	     atomic_load(&p.lines) < 20000 && slc_mono_ms() < end;)
		usleep(20000);
	atomic_store(&p.stop, true);
	pthread_join(t, NULL);
	close(p.lfd);
	cr_expect_eq(atomic_load(&p.lines), 20000u, "%s", d.log);
}

/* len32 in, len32 out: a payload holding an LF arrives whole at the peer. */
Test(sluiced, forward_len32_keeps_payloads_with_lf_whole, .timeout = 90)
{
	static const char *const msg[3] = {"first\nhalf", "second", "a\nb\nc"};
	struct dproc d;
	struct peer p = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	char sink[64], out[256];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0?framing=len32",
	                      "--sink",
	                      sink,
	                      "--forward-framing",
	                      "len32",
	                      "--metrics",
	                      "off",
	                      "--pools",
	                      "1",
	                      NULL};
	size_t n = 0, at = 0;
	pthread_t t;
	int fd;

	d.dir[0] = '\0';
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(p.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(p.lfd, 16), 0);
	getsockname(p.lfd, (struct sockaddr *)&sa, &sl);
	p.port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&t, NULL, peer_main, &p), 0);
	snprintf(sink, sizeof(sink), "forward:127.0.0.1:%u", p.port);
	dproc_start(&d, args);
	for (int i = 0; i < 3; i++) {
		uint32_t len = (uint32_t)strlen(msg[i]), be = htonl(len);

		memcpy(out + n, &be, 4);
		memcpy(out + n + 4, msg[i], len);
		n += 4 + len;
	}
	sa.sin_port = htons(d.port[0]);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(write(fd, out, n), (ssize_t)n);
	close(fd);
	/* Forwarded while running (an idle worker flushes): a SIGTERM sent at once could
	 * arrive before the reactor read the connection, whose bytes would then stay unread. */
	for (int i = 0; i < 500 && atomic_load(&p.first_len) < n; i++) {
		dproc_log_pump(&d);
		usleep(20000);
	}
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	atomic_store(&p.stop, true);
	pthread_join(t, NULL);
	close(p.lfd);
	cr_assert_eq(atomic_load(&p.first_len), n, "%s", d.log);
	for (int i = 0; i < 3; i++) {
		uint32_t be, len;

		memcpy(&be, p.first + at, 4);
		len = ntohl(be);
		cr_expect_eq(len, strlen(msg[i]));
		cr_expect_eq(memcmp(p.first + at + 4, msg[i], strlen(msg[i])), 0, "frame %d", i);
		at += 4 + len;
	}
}

/* Bad flags: one line naming the flag, exit status 2, nothing started. */
Test(sluiced, bad_flags_exit_2_with_a_message)
{
	static const char *const cases[][4] = {
	        {"--pools", "0", "--pools", NULL},
	        {"--strategy", "fast", "--strategy", NULL},
	        {"--listen", "sctp://1.2.3.4:5", "--listen", NULL},
	        {"--buffer-size", "12x", "--buffer-size", NULL},
	        {"--key", "field:0", "field:0", NULL},
	        {"--no-such-flag", NULL, "--no-such-flag", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dproc d;
		const char *args[] = {cases[i][0], cases[i][1], NULL};
		int st = dproc_run_to_exit(&d, args);

		cr_expect_eq(st, 2, "%s %s: status %d", cases[i][0], cases[i][1] ? cases[i][1] : "",
		             st);
		cr_expect(strstr(d.log, cases[i][2]) != NULL, "%s %s: %s", cases[i][0],
		          cases[i][1] ? cases[i][1] : "", d.log);
	}
}

/*
 * A port another sluiced holds, TCP or UDP: a second one refuses to start and names the
 * listener, where SO_REUSEPORT alone would have let both bind it and split the traffic.
 * The first keeps its port: a line sent to it afterwards is received.
 */
Test(sluiced, a_port_another_sluiced_holds_is_refused, .timeout = 120)
{
	struct dproc a, b;
	char tcp[64], udp[64];

	dproc_start(&a, (const char *const[]){"--listen", "tcp://127.0.0.1:0", "--listen",
	                                      "udp://127.0.0.1:0", "--metrics", "off", NULL});
	cr_assert_eq(a.nport, 2u, "%s", a.log);
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%u", a.port[0]);
	snprintf(udp, sizeof(udp), "udp://127.0.0.1:%u", a.port[1]);
	for (int k = 0; k < 2; k++) {
		const char *url = k == 0 ? tcp : udp;
		int st = dproc_run_to_exit(
		        &b, (const char *const[]){"--listen", url, "--metrics", "off", NULL});

		cr_expect_eq(st, 1, "%s: status %d:\n%s", url, st, b.log);
		cr_expect(strstr(b.log, "the port is in use") != NULL && strstr(b.log, url) != NULL,
		          "%s:\n%s", url, b.log);
		cr_expect(strstr(b.log, "ready:") == NULL, "%s:\n%s", url, b.log);
	}
	{
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(a.port[0])};
		struct pollfd pfd = {.events = POLLIN};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char c;

		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s",
		             strerror(errno));
		cr_assert_eq(send(fd, "still-here\n", 11, MSG_NOSIGNAL), 11);
		/* Its close after our FIN says it read the line. */
		shutdown(fd, SHUT_WR);
		pfd.fd = fd;
		cr_expect_eq(poll(&pfd, 1, 10000), 1);
		cr_expect_eq(read(fd, &c, 1), 0);
		close(fd);
	}
	cr_assert_eq(dproc_stop(&a), 0, "%s", a.log);
	cr_expect(strstr(a.log, ": 1 messages received, 1 processed") != NULL, "%s", a.log);
}

Test(sluiced, print_topology_from_xml)
{
	char cmd[512];
	FILE *f;
	char out[8192];
	size_t n;

	snprintf(cmd, sizeof(cmd),
	         "%s --print-topology --topology-xml %s/topo-2n8c.xml --pools 4 --workers 2 "
	         "--reactors-per-node 1",
	         SLC_SLUICED, SLC_FIXTURES_DIR);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	cr_expect_eq(pclose(f), 0, "%s", out);
	cr_expect(strstr(out, "reactor") != NULL && strstr(out, "worker") != NULL, "%s", out);
}

/* Runs cmd, returns its exit status with its stdout and stderr in out. */
static int
run_capture(const char *cmd, char *out, size_t len)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	cr_assert_not_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	return pclose(f);
}

/* --pools, --workers and --reactors-per-node default to auto: sized from the machine's
 * cores, and --print-topology says what it chose and why (numa/size.c has the rule). */
Test(sluiced, print_topology_shows_the_sizing, .timeout = 30)
{
	char cmd[512], out[16384];

	snprintf(cmd, sizeof(cmd), "%s --print-topology --topology-xml %s/topo-2n8c.xml 2>&1",
	         SLC_SLUICED, SLC_FIXTURES_DIR);
	cr_expect_eq(run_capture(cmd, out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "sizing: sized for 16 CPUs (16 usable cores on 2 nodes)") != NULL,
	          "%s", out);
	cr_expect(strstr(out, "placement: 2 reactors per node, 4 pools x 3 workers") != NULL, "%s",
	          out);

	/* adaptive weights are percent: --min-weight 30 leaves room for 3 pools at most */
	snprintf(cmd, sizeof(cmd),
	         "%s --print-topology --topology-xml %s/topo-2n8c.xml --min-weight 30 2>&1",
	         SLC_SLUICED, SLC_FIXTURES_DIR);
	cr_expect_eq(run_capture(cmd, out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "pools auto = 3 (one per reactor, capped)") != NULL, "%s", out);
	cr_expect(strstr(out, "placement: 2 reactors per node, 3 pools x 4 workers") != NULL, "%s",
	          out);

	/* given counts are kept, and no sizing line when none is auto */
	snprintf(cmd, sizeof(cmd),
	         "%s --print-topology --topology-xml %s/topo-2n8c.xml --pools 2 --workers 1 "
	         "--reactors-per-node 1 2>&1",
	         SLC_SLUICED, SLC_FIXTURES_DIR);
	cr_expect_eq(run_capture(cmd, out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "sizing:") == NULL, "%s", out);
	cr_expect(strstr(out, "placement: 1 reactor per node, 2 pools x 1 worker") != NULL, "%s",
	          out);
}

/* NUMA-local routing in the daemon: placed on the two-node fixture, each reactor routes to
 * its own node's pool, so a light load crosses no node; the counters are exported. */
Test(sluiced, numa_local_routing_on_a_two_node_topology, .timeout = 120)
{
	struct dproc d;
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0",
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--topology-xml",
	                      SLC_FIXTURES_DIR "/topo-2n8c.xml",
	                      "--pools",
	                      "2",
	                      "--workers",
	                      "1",
	                      "--reactors-per-node",
	                      "1",
	                      NULL};
	char resp[1 << 17], cmd[256];

	d.dir[0] = '\0';
	dproc_start(&d, args);
	cr_assert_neq(d.metrics_port, 0, "%s", d.log);
	for (int i = 0; i < 8; i++) {
		snprintf(cmd, sizeof(cmd), "seq 1 500 | nc -N 127.0.0.1 %u", d.port[0]);
		run_ok(cmd);
	}
	dproc_metric_wait(&d, "sluice_sink_messages_total", NULL, 4000, 30000);
	cr_assert_eq(dproc_scrape(&d, resp, sizeof(resp)), 0);
	cr_expect(strstr(resp, "sluice_reactor_cross_node_messages_total{reactor=\"0\"} 0") != NULL,
	          "%s", resp);
	cr_expect(strstr(resp, "sluice_reactor_cross_node_messages_total{reactor=\"1\"} 0") != NULL,
	          "%s", resp);
	cr_expect(strstr(resp, "sluice_route_spill_starts_total 0") != NULL, "%s", resp);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
}

/* --test-slow-pool against auto pools is checked once they are sized: one CPU, one pool. */
Test(sluiced, test_slow_pool_checked_against_sized_pools, .timeout = 30)
{
	char cmd[512], out[16384];
	int st;

	snprintf(cmd, sizeof(cmd),
	         "%s --cpus 0 --listen tcp://127.0.0.1:0 --metrics off --test-slow-pool 1 "
	         "--test-slow-pool-cost-ns 1000 2>&1",
	         SLC_SLUICED);
	st = run_capture(cmd, out, sizeof(out));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d: %s", st, out);
	cr_expect(strstr(out, "--test-slow-pool 1: there are 1 pools (--pools auto); allowed: "
	                      "0..0, or --pools N") != NULL,
	          "%s", out);
}

/* A forward peer that takes connections and never reads: the worse kind of stuck. */
struct mute_peer {
	int lfd;
	uint16_t port;
	int conns[8];
	_Atomic int nconns;
	_Atomic bool stop;
};

static void *
mute_peer_main(void *arg)
{
	struct mute_peer *p = arg;
	struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};

	while (!atomic_load(&p->stop)) {
		int n = atomic_load(&p->nconns);

		if (poll(&pfd, 1, 50) <= 0 || n == 8)
			continue;
		p->conns[n] = accept(p->lfd, NULL, NULL);
		if (p->conns[n] >= 0)
			atomic_store(&p->nconns, n + 1);
	}
	return NULL;
}

struct flood {
	uint16_t port;
	uint32_t n;
	_Atomic uint32_t sent; /* whole messages handed to the kernel */
};

/* Sends n lines of 300 bytes, until the daemon stops reading them (a reset ends it). */
static void *
flood_main(void *arg)
{
	struct flood *f = arg;
	int fd = dproc_connect(f->port);
	char line[301];

	if (fd < 0)
		return NULL;
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (uint32_t i = 0; i < f->n; i++) {
		if (dproc_send_all(fd, line, sizeof(line)) != 0)
			break;
		atomic_store(&f->sent, i + 1);
	}
	close(fd);
	return NULL;
}

/*
 * F8. The forward peer takes the connections and never reads; clients send more than the
 * kernel's buffers and sluiced's can hold; the stop gives up at --drain-timeout. Every
 * message handed to the workers is then delivered (the kernel took it) or lost exactly
 * once, and the stop line, the per-worker log lines and the exit status say the same.
 * Before, a batch cancelled at the timeout was counted twice (in "lost in the sink" and
 * in the sink's cancel lines), messages the sink had buffered were in no total, and the
 * cancel lines, rate-limited, summed to less than either.
 */
Test(sluiced, forward_drain_timeout_accounts_every_message_once, .timeout = 120)
{
	struct dproc d;
	struct mute_peer p = {0};
	struct flood fl[2];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int rcvbuf = 4096;
	char sink[64];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0",
	                      "--sink",
	                      sink,
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--pools",
	                      "2",
	                      "--ring-size",
	                      "256",
	                      "--forward-batch",
	                      "4k",
	                      "--drain-timeout",
	                      "500ms",
	                      NULL};
	const char *none[] = {NULL};
	const char *line, *q;
	long long received, processed, lost, delivered, undelivered, failed;
	unsigned long long logged = 0, v;
	pthread_t pt, ft[2];
	uint64_t deadline;
	bool stuck = false;
	int status;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* Inherited by the accepted connections: the kernel takes little on the peer's side. */
	setsockopt(p.lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	cr_assert_eq(bind(p.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(p.lfd, 16), 0);
	getsockname(p.lfd, (struct sockaddr *)&sa, &sl);
	p.port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&pt, NULL, mute_peer_main, &p), 0);
	snprintf(sink, sizeof(sink), "forward:127.0.0.1:%u", p.port);
	d.dir[0] = '\0';
	dproc_start(&d, args);

	/* Two clients, so that both pools' workers are stuck (hashing spreads them). */
	for (int i = 0; i < 2; i++) {
		fl[i] = (struct flood){.port = d.port[0], .n = 40000};
		cr_assert_eq(pthread_create(&ft[i], NULL, flood_main, &fl[i]), 0);
	}
	/* Stuck: clients paused (a worker's ring full) and no message sent between two scrapes:
	 * the kernel's buffers towards the peer are full, the workers blocked in the sink. */
	deadline = slc_mono_ms() + 30000;
	for (uint64_t prev = UINT64_MAX; slc_mono_ms() < deadline; usleep(50000)) {
		uint64_t paused = dproc_metric_now(&d, "sluice_reactor_paused_connections", none);
		uint64_t sent = dproc_metric_now(&d, "sluice_sink_messages_total", none);

		if (paused > 0 && sent == prev) {
			stuck = true;
			break;
		}
		prev = paused > 0 ? sent : UINT64_MAX;
	}
	if (!stuck)
		dproc_kill(&d);
	cr_assert(stuck, "the sink never held up the clients: %s", d.log);
	status = dproc_stop(&d);
	for (int i = 0; i < 2; i++)
		pthread_join(ft[i], NULL);
	atomic_store(&p.stop, true);
	pthread_join(pt, NULL);
	for (int i = 0; i < atomic_load(&p.nconns); i++)
		close(p.conns[i]);
	close(p.lfd);

	cr_expect_eq(status, 1, "messages were lost: the exit status says so\n%s", d.log);
	line = strstr(d.log, "stopped after");
	cr_assert_not_null(line, "%s", d.log);
	received = stop_figure(line, " messages received");
	processed = stop_figure(line, " processed");
	lost = stop_figure(line, " lost in the sink");
	delivered = stop_figure(line, " delivered");
	undelivered = stop_figure(line, " undelivered at the drain timeout");
	failed = stop_figure(line, " in failed writes");
	cr_assert(received > 0 && processed >= 0 && lost >= 0 && delivered >= 0 &&
	                  undelivered >= 0 && failed >= 0,
	          "%s", line);
	cr_expect_eq(processed, received, "%s", line);
	cr_expect_eq(delivered + lost, received, "%s", line);
	cr_expect_eq(failed + undelivered, lost, "%s", line);
	cr_expect_gt(undelivered, 0, "%s", line);
	/* Each worker's closing line gives its exact total; together they are the stop line's. */
	for (q = strstr(d.log, " messages undelivered at the drain timeout (this worker's total)");
	     q != NULL && q < line;
	     q = strstr(q + 1,
	                " messages undelivered at the drain timeout (this worker's total)")) {
		const char *s = q;

		while (s > d.log && s[-1] >= '0' && s[-1] <= '9')
			s--;
		cr_assert_eq(sscanf(s, "%llu", &v), 1);
		logged += v;
	}
	cr_expect_eq((long long)logged, undelivered, "%s", d.log);
}

/* GETs path until its status is want (up to 30 s, the log pumped); the last status. */
static int
get_until(struct dproc *d, const char *path, int want, char *body, size_t cap)
{
	uint64_t deadline = slc_mono_ms() + 30000;
	int st;

	for (;;) {
		st = dproc_get(d, path, body, cap);
		dproc_log_pump(d);
		if (st == want || slc_mono_ms() > deadline)
			return st;
		usleep(50000);
	}
}

/* A forward peer that reads and drops everything, on the listening socket it is given. */
static void *
reading_peer_main(void *arg)
{
	struct mute_peer *p = arg;
	struct pollfd pfd[9] = {{.fd = p->lfd, .events = POLLIN}};
	nfds_t n = 1;
	char buf[65536];

	while (!atomic_load(&p->stop)) {
		if (poll(pfd, n, 50) <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && n < 9) {
			pfd[n].fd = accept(p->lfd, NULL, NULL);
			pfd[n++].events = POLLIN;
		}
		for (nfds_t i = 1; i < n; i++)
			if (pfd[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP)) &&
			    read(pfd[i].fd, buf, sizeof(buf)) <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
	}
	for (nfds_t i = 1; i < n; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	return NULL;
}

/*
 * /healthz follows the sink: 503 with the reason while the forward peer refuses
 * connections and messages wait, 200 once it is back; /readyz is 200 once started and
 * 503 while the daemon drains.
 */
Test(sluiced, healthz_and_readyz_follow_the_forward_peer_and_the_drain, .timeout = 180)
{
	struct dproc d;
	struct mute_peer p = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	char sink[64], body[4096], want[128];
	const char *args[] = {"--listen",    "tcp://127.0.0.1:0", "--sink", sink, "--metrics",
	                      "127.0.0.1:0", "--drain-timeout",   "5s",     NULL};
	static const char lines[] = "one\ntwo\nthree\n";
	pthread_t pt;
	size_t from;
	int fd, st;

	/* Bound, not listening: connections to it are refused. */
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(p.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(p.lfd, (struct sockaddr *)&sa, &sl);
	p.port = ntohs(sa.sin_port);
	snprintf(sink, sizeof(sink), "forward:127.0.0.1:%u", p.port);
	d.dir[0] = '\0';
	dproc_start(&d, args);

	cr_expect_eq(dproc_get(&d, "/readyz", body, sizeof(body)), 200, "%s", body);
	cr_expect_eq(dproc_get(&d, "/healthz", body, sizeof(body)), 200, "nothing to send yet: %s",
	             body);

	/* Messages for a peer that refuses: unhealthy, and the reason says why. */
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, lines, sizeof(lines) - 1), 0);
	st = get_until(&d, "/healthz", 503, body, sizeof(body));
	cr_expect_eq(st, 503, "%s\n%s", body, d.log);
	snprintf(want, sizeof(want),
	         "sink forward: cannot connect to 127.0.0.1:%u: Connection refused", p.port);
	cr_expect_not_null(strstr(body, want), "%s", body);

	/* The peer comes up: the messages go, healthy again. */
	cr_assert_eq(listen(p.lfd, 16), 0);
	cr_assert_eq(pthread_create(&pt, NULL, reading_peer_main, &p), 0);
	st = get_until(&d, "/healthz", 200, body, sizeof(body));
	cr_expect_eq(st, 200, "%s\n%s", body, d.log);
	cr_expect_str_eq(body, "ok\n");

	/* The peer goes away for good, with messages for it: the drain waits --drain-timeout,
	 * and /readyz says so meanwhile. */
	atomic_store(&p.stop, true);
	pthread_join(pt, NULL);
	close(p.lfd);
	cr_assert_eq(dproc_send_all(fd, lines, sizeof(lines) - 1), 0);
	st = get_until(&d, "/healthz", 503, body, sizeof(body));
	cr_expect_eq(st, 503, "%s\n%s", body, d.log);
	from = d.log_len;
	kill(d.pid, SIGTERM);
	cr_expect(dproc_log_wait(&d, from, "stopping:", 10000), "%s", d.log);
	st = dproc_get(&d, "/readyz", body, sizeof(body));
	cr_expect_eq(st, 503, "%d %s", st, body);
	cr_expect_not_null(strstr(body, "draining"), "%s", body);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 1, "three messages undelivered: %s", d.log);
}

/* Sends n lines of 1 KiB ("full-<i> xxx...") on fd. */
static void
send_kib_lines(int fd, uint32_t n)
{
	char line[1024];

	memset(line, 'x', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	for (uint32_t i = 0; i < n; i++) {
		int k = snprintf(line, sizeof(line), "full-%u ", i);

		line[k] = 'x';
		cr_assert_eq(dproc_send_all(fd, line, sizeof(line)), 0);
	}
}

/*
 * /healthz follows the file sink's disk: the sink directory on a 256 KiB tmpfs that the
 * stream fills; 503 with DIR and the error while the writes fail, 200 once the tmpfs is
 * made larger and a write and its (background, --fsync interval) sync succeed. The stop
 * then counts the failed batches as lost and exits 1. Mounting needs CAP_SYS_ADMIN.
 */
Test(sluiced, healthz_follows_the_file_sink_through_a_full_disk, .timeout = 120)
{
	struct dproc d;
	char sink[96], dir[80], body[4096], want[160];
	const char *args[] = {
	        "--listen",    "tcp://127.0.0.1:0", "--sink", sink,        "--metrics",
	        "127.0.0.1:0", "--pools",           "1",      "--workers", "1",
	        NULL};
	const char *line;
	int fd, st, status;

	dproc_make_dir(&d);
	if (mount("tmpfs", d.dir, "tmpfs", 0, "size=256k") != 0) {
		int e = errno;

		dproc_remove_dir(d.dir);
		cr_skip_test("mounting a tmpfs needs CAP_SYS_ADMIN: %s", strerror(e));
	}
	snprintf(dir, sizeof(dir), "%s/sink", d.dir);
	snprintf(sink, sizeof(sink), "file:%s", dir);
	dproc_start(&d, args);
	cr_expect_eq(dproc_get(&d, "/healthz", body, sizeof(body)), 200, "%s", body);

	/* 600 KiB for a 256 KiB disk: the writes fail with ENOSPC. */
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	send_kib_lines(fd, 600);
	st = get_until(&d, "/healthz", 503, body, sizeof(body));
	cr_expect_eq(st, 503, "%s\n%s", body, d.log);
	snprintf(want, sizeof(want), "sink file: %s: ", dir);
	cr_expect_eq(strncmp(body, want, strlen(want)), 0, "%s", body);
	cr_expect_not_null(strstr(body, ": No space left on device (worker 0, since "), "%s", body);

	/* Room again, and more lines: the next write and its sync succeed. */
	cr_assert_eq(mount(NULL, d.dir, NULL, MS_REMOUNT, "size=16m"), 0, "%s", strerror(errno));
	send_kib_lines(fd, 8);
	st = get_until(&d, "/healthz", 200, body, sizeof(body));
	cr_expect_eq(st, 200, "%s\n%s", body, d.log);
	cr_expect_str_eq(body, "ok\n");

	close(fd);
	status = dproc_stop(&d);
	cr_expect_eq(status, 1, "the batches the full disk refused are lost: %s", d.log);
	line = strstr(d.log, "stopped after");
	cr_assert_not_null(line, "%s", d.log);
	cr_expect_gt(stop_figure(line, " in failed writes"), 0, "%s", line);
	cr_expect_eq(stop_figure(line, " delivered") + stop_figure(line, " lost in the sink"),
	             stop_figure(line, " processed"), "%s", line);
	cr_expect_eq(umount2(d.dir, MNT_DETACH), 0, "%s", strerror(errno));
	dproc_remove_dir(d.dir);
}
