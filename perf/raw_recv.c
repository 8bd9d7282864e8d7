/* SPDX-License-Identifier: MIT */
/* raw_recv.c: the plainest TCP receiver, the baseline of perf/bench_ingest.sh. */
/*
 * Examples:
 *   raw_recv                          any free port; prints "listening on PORT", runs until
 *                                     SIGTERM or SIGINT
 *   raw_recv --port 5140 --expect 2000000
 *                                     exits once 2,000,000 lines have arrived
 *   raw_recv --conns 4                exits once 4 connections have been accepted and
 *                                     each has ended (EOF): every byte sent has been read
 *
 * What sluiced does at the least for a lines-framed message, and nothing more: one thread,
 * epoll (level-triggered) over a listener and its connections, one recv of up to 256 KiB
 * per ready connection, then a memchr loop that finds each LF. It does find every frame,
 * as sluiced must, so "recv and discard" is not made to look cheaper than it can be; it
 * keeps no frame, copies nothing, routes nothing and has no sink. One thread because
 * sluiced's reactor is one thread per NUMA node.
 *
 * Prints "lines=N seconds=S cpu_us=C rss_kib=K" on stdout when it stops: N the LFs
 * counted, S the time from the first byte received to the last (CLOCK_MONOTONIC; 0 after
 * fewer than two recvs), C its user + system CPU time (getrusage: it has exited by the
 * time a script could read /proc), K its peak resident set (likewise, for VmHWM).
 * perf/bench_ingest.sh sends for a duration, so it cannot know the count in advance:
 * it runs raw_recv with --conns, and the count on exit is what arrived.
 * Exit status: 0; 1 on a bad option or a failed system call.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_opts.h"
#include "bench_util.h"

#define RR_PROG      "raw_recv"
#define RR_BUF_BYTES (256u * 1024u)
#define RR_EVENTS    64
/* epoll data of the two fds that are not connections (connections carry their fd >= 0) */
#define RR_TAG_LISTEN (-1)
#define RR_TAG_SIGNAL (-2)

struct rr_opts {
	int64_t port;
	int64_t expect;
	int64_t conns;
	bool help;
};

static const struct bench_opt rr_opt_table[] = {
        {"--port", BENCH_OPT_INT, 0, 0, 65535, NULL, "PORT",
         "TCP port on 127.0.0.1; 0: any free one", offsetof(struct rr_opts, port)},
        {"--expect", BENCH_OPT_INT, 0, 0, INT64_MAX, NULL, "N",
         "exit after N lines; 0: only on SIGTERM or SIGINT", offsetof(struct rr_opts, expect)},
        {"--conns", BENCH_OPT_INT, 0, 0, INT64_MAX, NULL, "N",
         "exit once N connections were accepted and all have ended; 0: never",
         offsetof(struct rr_opts, conns)},
        {"--help", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "print this help",
         offsetof(struct rr_opts, help)},
};

#define RR_NOPTS (sizeof(rr_opt_table) / sizeof(rr_opt_table[0]))

static uint64_t
rr_count_lf(const char *p, size_t n)
{
	const char *end = p + n;
	uint64_t lines = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	return lines;
}

/* Returns the listening socket on 127.0.0.1:port (*port set to the one bound), or -errno. */
static int
rr_listen(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(*port)};
	socklen_t len = sizeof(sa);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		goto err_close;
	*port = ntohs(sa.sin_port);
	return fd;

err_close:
	err = -errno;
	close(fd);
	return err;
}

static int
rr_epoll_add(int ep, int fd, int tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = tag};

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

/* Returns the connections accepted. */
static int64_t
rr_accept(int ep, int lfd)
{
	int64_t n = 0;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fprintf(stderr, RR_PROG ": accept4: %s\n", strerror(errno));
			return n;
		}
		if (rr_epoll_add(ep, fd, fd) != 0) {
			fprintf(stderr, RR_PROG ": epoll_ctl: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		n++;
	}
}

int
main(int argc, char **argv)
{
	struct rr_opts o;
	struct epoll_event evs[RR_EVENTS];
	struct rusage ru;
	uint64_t lines = 0, first_ns = 0, last_ns = 0;
	int64_t accepted = 0, open = 0;
	uint16_t port;
	sigset_t sigs;
	bool done = false;
	char *buf;
	int lfd, sfd, ep;

	if (bench_opt_table_parse(&o, rr_opt_table, RR_NOPTS, RR_PROG, argc, argv) != 0)
		return 1;
	if (o.help) {
		printf("usage: " RR_PROG " [options]: counts the lines received over TCP on "
		       "127.0.0.1; see the top of perf/raw_recv.c\n");
		bench_opt_table_print(stdout, rr_opt_table, RR_NOPTS);
		return 0;
	}
	/* SIGTERM and SIGINT arrive through a signalfd in the epoll set: no handler, and
	 * no recv interrupted halfway. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0 ||
	    (sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		fprintf(stderr, RR_PROG ": signalfd: %s\n", strerror(errno));
		return 1;
	}
	port = (uint16_t)o.port;
	lfd = rr_listen(&port);
	if (lfd < 0) {
		fprintf(stderr, RR_PROG ": listen on 127.0.0.1:%" PRId64 ": %s\n", o.port,
		        strerror(-lfd));
		return 1;
	}
	buf = malloc(RR_BUF_BYTES);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (buf == NULL || ep < 0 || rr_epoll_add(ep, lfd, RR_TAG_LISTEN) != 0 ||
	    rr_epoll_add(ep, sfd, RR_TAG_SIGNAL) != 0) {
		fprintf(stderr, RR_PROG ": setup: %s\n",
		        buf == NULL ? "out of memory" : strerror(errno));
		return 1;
	}
	printf("listening on %u\n", port);
	fflush(stdout);

	while (!done) {
		int n = epoll_wait(ep, evs, RR_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, RR_PROG ": epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n && !done; i++) {
			int fd = evs[i].data.fd;
			ssize_t r;

			if (fd == RR_TAG_LISTEN) {
				int64_t a = rr_accept(ep, lfd);

				accepted += a;
				open += a;
				continue;
			}
			if (fd == RR_TAG_SIGNAL) {
				done = true;
				continue;
			}
			r = recv(fd, buf, RR_BUF_BYTES, 0);
			if (r > 0) {
				last_ns = bench_now_ns();
				if (first_ns == 0)
					first_ns = last_ns;
				lines += rr_count_lf(buf, (size_t)r);
				done = o.expect != 0 && lines >= (uint64_t)o.expect;
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* EOF or a reset: closing removes it from the epoll set. */
				close(fd);
				open--;
				done = o.conns != 0 && accepted >= o.conns && open == 0;
			}
		}
	}
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		memset(&ru, 0, sizeof(ru));
	printf("lines=%" PRIu64 " seconds=%.6f cpu_us=%lld rss_kib=%ld\n", lines,
	       (double)(last_ns - first_ns) / 1e9,
	       (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	               ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
	       ru.ru_maxrss);
	free(buf);
	close(ep);
	close(lfd);
	close(sfd);
	return 0;
}
