/* SPDX-License-Identifier: MIT */
/* bench_conns.c: what idle TCP connections cost sluiced, and whether a client still gets
 * its rate while they are open (issue 20: 100,000 connections, at most 2 KiB each). */
/*
 * For each --conns N (a row):
 *  1. sluiced with --max-conns 64 (null sink): its resident set once one connection has
 *     come and gone (rss_small_bytes), and the baseline: one client sending 100-byte lines
 *     for --seconds, timed until sluiced has received every line (baseline_msgs_per_s);
 *  2. sluiced with --max-conns N + 64: N idle connections from 16 loopback source
 *     addresses (one address has some 28,000 ephemeral ports), its resident set then
 *     (rss_idle_bytes), bytes_per_conn = (rss_idle - rss_small) / N (each slot is
 *     allocated at start, so both parts count), the kernel's slab growth per connection
 *     (both ends' sockets; noisy on a shared machine), and the same client's rate
 *     meanwhile (msgs_per_s; ratio = msgs_per_s / baseline_msgs_per_s, same run);
 *  3. the N clients close: conns_left is what sluice_connections_open says then (0: every
 *     one came back), rss_closed_bytes the resident set (the slots stay: they are the
 *     table's; tests/daemon/test_conns.c checks the descriptors).
 * sluiced inherits this program's RLIMIT_NOFILE, raised to N + 1024 (root, or a hard limit
 * that allows it). perf/bench_conns.sh runs it for 100,000.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_opts.h"
#include "bench_util.h"

#define NSRC       16
#define LINE       100
#define SEND_CHUNK (LINE * 640)

struct opts {
	const char *conns;
	const char *sluiced;
	int64_t seconds;
	bool csv;
};

static const struct bench_opt opt_table[] = {
        {"--conns", BENCH_OPT_STR, 0, 0, 0, "100000", "LIST",
         "idle connection counts, comma-separated (each 1..1000000)", offsetof(struct opts, conns)},
        {"--sluiced", BENCH_OPT_STR, 0, 0, 0, SLC_SLUICED, "PATH", "the daemon to measure",
         offsetof(struct opts, sluiced)},
        {"--seconds", BENCH_OPT_INT, 3, 3, 3600, NULL, "S", "sending time of each rate measurement",
         offsetof(struct opts, seconds)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "print a CSV header, then one row per configuration", offsetof(struct opts, csv)},
};

struct daemon {
	pid_t pid;
	char log[64]; /* its stderr: a file, which never blocks it as a full pipe would */
	uint16_t port, metrics_port;
};

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "bench_conns: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
daemon_start(struct daemon *d, const char *path, uint32_t max_conns)
{
	char maxc[16], buf[16384];
	const char *ready = NULL;
	uint64_t end = bench_now_ns() + 30000000000ull;
	int fd;

	snprintf(maxc, sizeof(maxc), "%u", max_conns);
	snprintf(d->log, sizeof(d->log), "/tmp/bench_conns-XXXXXX");
	fd = mkstemp(d->log);
	if (fd < 0)
		die("mkstemp");
	d->pid = fork();
	if (d->pid < 0)
		die("fork");
	if (d->pid == 0) {
		dup2(fd, 2);
		execl(path, path, "--listen", "tcp://127.0.0.1:0?framing=lines", "--sink", "null",
		      "--metrics", "127.0.0.1:0", "--max-conns", maxc, (char *)NULL);
		_exit(127);
	}
	/* The ready line names the ports: "... listening on tcp://127.0.0.1:P?...; metrics
	 * on port M". */
	while (ready == NULL || strchr(ready, '\n') == NULL) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		ready = strstr(buf, "ready:");
		if (bench_now_ns() > end || waitpid(d->pid, NULL, WNOHANG) != 0) {
			fprintf(stderr, "bench_conns: %s did not start:\n%s\n", path, buf);
			exit(1);
		}
		usleep(10000);
	}
	close(fd);
	if (strstr(ready, "tcp://127.0.0.1:") == NULL ||
	    strstr(ready, "metrics on port ") == NULL ||
	    sscanf(strstr(ready, "tcp://127.0.0.1:"), "tcp://127.0.0.1:%hu", &d->port) != 1 ||
	    sscanf(strstr(ready, "metrics on port "), "metrics on port %hu", &d->metrics_port) !=
	            1) {
		fprintf(stderr, "bench_conns: no ports in: %s\n", ready);
		exit(1);
	}
}

static void
daemon_stop(struct daemon *d)
{
	int st;

	kill(d->pid, SIGTERM);
	waitpid(d->pid, &st, 0);
	unlink(d->log);
}

/* The sum of a metric over its label sets, scraped from the daemon's endpoint. */
static double
metric(const struct daemon *d, const char *name)
{
	static char text[1 << 20];
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons(d->metrics_port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	size_t len = 0, nl = strlen(name);
	double sum = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		die("metrics");
	while ((n = read(fd, text + len, sizeof(text) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	text[len] = '\0';
	for (char *p = text; (p = strstr(p, name)) != NULL; p += nl) {
		char *v;

		if ((p != text && p[-1] != '\n') || (p[nl] != ' ' && p[nl] != '{'))
			continue;
		v = strchr(p, ' ');
		if (v != NULL && v < strchr(p, '\n'))
			sum += strtod(v + 1, NULL);
	}
	return sum;
}

static uint64_t
rss_bytes(pid_t pid)
{
	char path[64];
	unsigned long long size = 0, resident = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "r");
	if (f == NULL || fscanf(f, "%llu %llu", &size, &resident) != 2)
		die(path);
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The kernel's slab memory (sockets live there), from /proc/meminfo. */
static int64_t
slab_bytes(void)
{
	char line[256];
	long long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Slab: %lld kB", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb * 1024;
}

static int
connect_from(uint32_t i, uint16_t port)
{
	struct sockaddr_in src = {.sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(0x7f000002u + i % NSRC)};
	struct sockaddr_in dst = {.sin_family = AF_INET,
	                          .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0)
		die("connect");
	return fd;
}

/* Waits (polling the endpoint every 10 ms) until metric reaches want; false after 60 s
 * without it. */
static bool
metric_wait(const struct daemon *d, const char *name, double want)
{
	uint64_t end = bench_now_ns() + 60000000000ull;

	while (metric(d, name) < want) {
		if (bench_now_ns() > end)
			return false;
		usleep(10000);
	}
	return true;
}

/* One client sends lines for seconds s; lines per second until all were received. */
static double
client_rate(const struct daemon *d, uint32_t src, int64_t seconds)
{
	static char chunk[SEND_CHUNK];
	double before = metric(d, "sluice_received_messages_total");
	uint64_t t0, stop, lines = 0;
	int fd = connect_from(src, d->port);

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = i % LINE == LINE - 1 ? '\n' : 'x';
	t0 = bench_now_ns();
	stop = t0 + (uint64_t)seconds * 1000000000ull;
	while (bench_now_ns() < stop) {
		size_t off = 0;

		while (off < sizeof(chunk)) {
			ssize_t n = send(fd, chunk + off, sizeof(chunk) - off, MSG_NOSIGNAL);

			if (n <= 0)
				die("send");
			off += (size_t)n;
		}
		lines += SEND_CHUNK / LINE;
	}
	if (!metric_wait(d, "sluice_received_messages_total", before + (double)lines)) {
		fprintf(stderr, "bench_conns: the daemon did not receive every line\n");
		exit(1);
	}
	close(fd);
	return (double)lines * 1e9 / (double)(bench_now_ns() - t0);
}

/* One row: see the top of the file. */
static void
measure(const struct opts *o, uint32_t n)
{
	struct daemon d;
	uint64_t rss_small, rss_idle, rss_closed;
	int64_t slab0, slab1;
	double base, rate, conns_left;
	uint64_t t0;
	double connect_s;
	int *fds = malloc((size_t)n * sizeof(int));

	if (fds == NULL)
		die("malloc");
	daemon_start(&d, o->sluiced, 64);
	close(connect_from(0, d.port));
	if (!metric_wait(&d, "sluice_connections_closed_total", 1))
		die("first connection");
	rss_small = rss_bytes(d.pid);
	base = client_rate(&d, 1, o->seconds);
	daemon_stop(&d);

	daemon_start(&d, o->sluiced, n + 64);
	close(connect_from(0, d.port));
	if (!metric_wait(&d, "sluice_connections_closed_total", 1))
		die("first connection");
	slab0 = slab_bytes();
	t0 = bench_now_ns();
	for (uint32_t i = 0; i < n; i++)
		fds[i] = connect_from(i, d.port);
	if (!metric_wait(&d, "sluice_connections_open", n)) {
		fprintf(stderr, "bench_conns: %.0f of %u connections open\n",
		        metric(&d, "sluice_connections_open"), n);
		exit(1);
	}
	connect_s = (double)(bench_now_ns() - t0) / 1e9;
	rss_idle = rss_bytes(d.pid);
	slab1 = slab_bytes();
	rate = client_rate(&d, n, o->seconds);
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
	metric_wait(&d, "sluice_connections_closed_total", (double)n + 2);
	conns_left = metric(&d, "sluice_connections_open");
	rss_closed = rss_bytes(d.pid);
	daemon_stop(&d);
	free(fds);

	if (o->csv)
		printf("%u,%llu,%llu,%.0f,%.0f,%.3f,%.0f,%.0f,%.3f,%.0f,%llu\n", n,
		       (unsigned long long)rss_small, (unsigned long long)rss_idle,
		       (double)(rss_idle - rss_small) / n, (double)(slab1 - slab0) / n, connect_s,
		       rate, base, rate / base, conns_left, (unsigned long long)rss_closed);
	else
		printf("%u idle connections: %.0f resident bytes each (%llu -> %llu), kernel slab "
		       "%.0f bytes each, opened in %.1f s; a client's rate %.0f lines/s against "
		       "%.0f without them (%.3f); after closing: %.0f connections left, %llu "
		       "resident bytes\n",
		       n, (double)(rss_idle - rss_small) / n, (unsigned long long)rss_small,
		       (unsigned long long)rss_idle, (double)(slab1 - slab0) / n, connect_s, rate,
		       base, rate / base, conns_left, (unsigned long long)rss_closed);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct rlimit rl;
	char *list, *save = NULL;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0) {
			printf("usage: bench_conns [options]\nWhat idle connections cost sluiced; "
			       "see the top of bench_conns.c.\n\n");
			bench_opt_table_print(stdout, opt_table,
			                      sizeof(opt_table) / sizeof(opt_table[0]));
			return 0;
		}
	if (bench_opt_table_parse(&o, opt_table, sizeof(opt_table) / sizeof(opt_table[0]),
	                          "bench_conns", argc, argv) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (o.csv)
		printf("conns,rss_small_bytes,rss_idle_bytes,bytes_per_conn,kernel_slab_bytes_per_"
		       "conn,connect_s,msgs_per_s,baseline_msgs_per_s,ratio,conns_left,rss_closed_"
		       "bytes\n");
	list = strdup(o.conns);
	for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		long n = strtol(t, NULL, 10);

		if (n < 1 || n > 1000000) {
			fprintf(stderr, "bench_conns: --conns: '%s' is not in 1..1000000\n", t);
			return 2;
		}
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			die("getrlimit");
		if (rl.rlim_cur < (rlim_t)n + 1024) {
			rl.rlim_cur = (rlim_t)n + 1024;
			if (rl.rlim_max < rl.rlim_cur)
				rl.rlim_max = rl.rlim_cur;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				die("RLIMIT_NOFILE");
		}
		measure(&o, (uint32_t)n);
	}
	free(list);
	return 0;
}
