/* SPDX-License-Identifier: MIT */
/* bench_reactor.c: lines/s and datagrams/s through the io_uring reactor, next to epoll/recvmmsg. */
/*
 * Examples:
 *   bench_reactor                                table: TCP at 1, 4, 64, 1024 connections, UDP
 *   bench_reactor --csv > reactor.csv            header and one row per configuration
 *   bench_reactor --runs 9 --lines 50000000 --conns 4,1024 --no-udp
 *   bench_reactor --rx-cpu 1 --tx-cpu 0          the defaults; -1 leaves that side unpinned
 *   bench_reactor --udp-base epoll               the other recvmmsg baseline
 *   bench_reactor --verbose --runs 3             each run on stderr, with the reactor's counters
 *   perf record -g -- bench_reactor --impl ours --conns 4 --no-udp --runs 1
 *
 * Framing plus discard over loopback, the sender on --tx-cpu and the receiver on --rx-cpu:
 *   ours      a reactor (slc_reactor_create: 1024 buffers of 16 KiB, 1024 UDP buffers,
 *             the default reassembly memory, max_frame 64 KiB, SLC_FRAME_LINES) whose deliver counts
 *             the messages and their bytes and releases them at once;
 *   base      TCP: epoll + recv(64 KiB) + memchr, keeping each connection's partial last
 *             line (bench_net.h); UDP: recvmmsg, 64 datagrams a call, blocking
 *             (MSG_WAITFORONE) by default: on the 2-core test machine it received as
 *             many datagrams/s as the epoll variant (both are sender-bound) for about 5%
 *             less receiver CPU (--udp-base epoll measures that one).
 * TCP: --lines lines of 100 bytes (99 and a LF), split evenly over N connections, written
 * by one epoll thread from a pre-built 64 KiB run of lines. The clock runs from the
 * sender's first send to the receiver counting the last line; every connection is
 * established and accepted before it starts. UDP: --datagrams datagrams of 100 bytes,
 * sendmmsg 64 at a time; UDP may drop, so the rate is what arrived over the receive window
 * (the first datagram received to the last one; the run ends when all arrived or after
 * 200 ms of silence once the sender is done), and the loss is reported beside it.
 *
 * CPU: each side's thread CPU time over the measured window, in % of the window's wall
 * time (TCP: first send to last line; UDP receivers: the receive window; UDP sender: its
 * own sending time). The sender and the baselines are our threads; the reactor's thread is
 * found by its name, "slc-reactor-0", in /proc/self/task/TID/comm, and its CPU clock is
 * read through its tid (the clock pthread_getcpuclockid gives; ns resolution). If no
 * thread has that name, ours is the process CPU time less the sender's (the main thread
 * sleeps in poll meanwhile) and a note says so. rx ns/msg is the receiver's CPU time per
 * message: on loopback the kernel's receive path runs on the sending CPU, so UDP (and TCP
 * with few connections) is bound by the sender, and this is where the receivers differ.
 *
 * Each configuration is measured --runs times per receiver, the two interleaved within
 * each round (and which goes first alternates) so that noise hits both alike; the medians
 * are reported, ratio = ours / base. Self-check: each receiver must count exactly the lines
 * sent and 99 bytes for each (UDP: 100 bytes each, at most the datagrams sent); a mismatch,
 * or a TCP count short after 60 s, aborts with a message.
 *
 * --csv columns: proto,conns,msg_bytes,msgs_per_s (ours),baseline_msgs_per_s,ratio,
 * ours_rx_cpu_pct,base_rx_cpu_pct,sender_cpu_pct (during ours' runs),base_sender_cpu_pct,
 * ours_loss_pct,base_loss_pct (UDP; empty for TCP),ours_rx_ns_per_msg,base_rx_ns_per_msg.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_net.h"
#include "bench_opts.h"
#include "reactor.h"

#define BENCH_RUNS_MAX          101
#define BENCH_CONNS_MAX         16 /* entries in --conns */
#define BENCH_REACTOR_CONNS     4096
#define BENCH_TCP_TIMEOUT_MS    60000
#define BENCH_ACCEPT_TIMEOUT_MS 10000
#define BENCH_UDP_SILENCE_NS    200000000u
#define BENCH_UDP_TIMEOUT_NS    60000000000u
#define BENCH_REACTOR_THREAD    "slc-reactor-0"

enum bench_impl {
	BENCH_OURS,
	BENCH_BASE,
	BENCH_NIMPL,
};

static const char *const bench_impl_names[BENCH_NIMPL] = {"ours", "base"};

/* ------------------------------------------------------------------------------------ */
/* Options                                                                               */
/* ------------------------------------------------------------------------------------ */

struct bench_opts {
	int64_t lines;
	int64_t datagrams;
	int64_t runs;
	int64_t rx_cpu;
	int64_t tx_cpu;
	const char *conns_list;
	const char *udp_base;
	const char *impl;
	bool no_tcp;
	bool no_udp;
	bool csv;
	bool verbose;
	bool help;
	/* Derived */
	uint32_t conns[BENCH_CONNS_MAX];
	uint32_t nconns;
	bool udp_epoll;
};

static const struct bench_opt bench_opt_table[] = {
        {"--lines", BENCH_OPT_INT, 20000000, 1, INT64_C(1) << 40, NULL, "N",
         "TCP lines of 100 bytes per measurement, split evenly over the connections",
         offsetof(struct bench_opts, lines)},
        {"--datagrams", BENCH_OPT_INT, 5000000, 1, INT64_C(1) << 40, NULL, "N",
         "UDP datagrams of 100 bytes sent per measurement", offsetof(struct bench_opts, datagrams)},
        {"--runs", BENCH_OPT_INT, 5, 1, BENCH_RUNS_MAX, NULL, "N",
         "measurements per configuration and receiver; the median is reported",
         offsetof(struct bench_opts, runs)},
        {"--conns", BENCH_OPT_STR, 0, 0, 0, "1,4,64,1024", "LIST",
         "TCP connection counts, comma-separated (each 1..4096)",
         offsetof(struct bench_opts, conns_list)},
        {"--rx-cpu", BENCH_OPT_INT, 1, -1, CPU_SETSIZE - 1, NULL, "CPU",
         "CPU of the receiving thread (reactor or baseline); -1: not pinned",
         offsetof(struct bench_opts, rx_cpu)},
        {"--tx-cpu", BENCH_OPT_INT, 0, -1, CPU_SETSIZE - 1, NULL, "CPU",
         "CPU of the sending thread; -1: not pinned", offsetof(struct bench_opts, tx_cpu)},
        {"--udp-base", BENCH_OPT_STR, 0, 0, 0, "blocking", "MODE",
         "UDP baseline: blocking (recvmmsg MSG_WAITFORONE) or epoll (+ MSG_DONTWAIT)",
         offsetof(struct bench_opts, udp_base)},
        {"--impl", BENCH_OPT_STR, 0, 0, 0, NULL, "RX",
         "measure one receiver only: ours or base (for perf record)",
         offsetof(struct bench_opts, impl)},
        {"--no-tcp", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "skip the TCP configurations",
         offsetof(struct bench_opts, no_tcp)},
        {"--no-udp", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "skip the UDP configuration",
         offsetof(struct bench_opts, no_udp)},
        {"--verbose", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "one line per measurement on stderr, with the reactor's counters",
         offsetof(struct bench_opts, verbose)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "print a CSV header, then one row per configuration", offsetof(struct bench_opts, csv)},
        {"--help", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "print this help",
         offsetof(struct bench_opts, help)},
};

#define BENCH_NOPTS (sizeof(bench_opt_table) / sizeof(bench_opt_table[0]))

static void
bench_usage(FILE *f)
{
	fprintf(f, "usage: bench_reactor [options]\n"
	           "Lines/s and datagrams/s through the io_uring reactor, epoll and recvmmsg "
	           "over loopback;\nsee the top of bench_reactor.c.\n\n");
	bench_opt_table_print(f, bench_opt_table, BENCH_NOPTS);
}

/* "1,4,64" into o->conns; refuses empty entries, counts outside 1..4096, too many. */
static int
bench_conns_parse(struct bench_opts *o)
{
	const char *p = o->conns_list;

	o->nconns = 0;
	for (;;) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno != 0 || end == p || v < 1 || v > BENCH_REACTOR_CONNS ||
		    (*end != ',' && *end != '\0') || o->nconns == BENCH_CONNS_MAX) {
			fprintf(stderr,
			        "bench_reactor: --conns wants up to %d counts in [1, %d], "
			        "comma-separated, not '%s'\n",
			        BENCH_CONNS_MAX, BENCH_REACTOR_CONNS, o->conns_list);
			return -EINVAL;
		}
		o->conns[o->nconns++] = (uint32_t)v;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

/* Fills o from argv ("--name value" or "--name=value"). Returns 0 or -EINVAL. */
static int
bench_opts_parse(struct bench_opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	if (bench_opt_table_parse(o, bench_opt_table, BENCH_NOPTS, "bench_reactor", argc, argv) !=
	    0)
		return -EINVAL;
	if (bench_conns_parse(o) != 0)
		return -EINVAL;
	if (strcmp(o->udp_base, "blocking") != 0 && strcmp(o->udp_base, "epoll") != 0) {
		fprintf(stderr, "bench_reactor: --udp-base is blocking or epoll, not '%s'\n",
		        o->udp_base);
		return -EINVAL;
	}
	o->udp_epoll = strcmp(o->udp_base, "epoll") == 0;
	if (o->impl != NULL && strcmp(o->impl, "ours") != 0 && strcmp(o->impl, "base") != 0) {
		fprintf(stderr, "bench_reactor: --impl is ours or base, not '%s'\n", o->impl);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Ours: the reactor with a counting, releasing deliver                                  */
/* ------------------------------------------------------------------------------------ */

/* slc_reactor_features_str of the first reactor, for the table's footer. */
static char bench_ours_features[256];

static uint32_t
bench_ours_deliver(void *ctx, struct slc_reactor *r, struct slc_msg *msgs, uint32_t n)
{
	struct bench_sink *s = ctx;
	uint64_t bytes = 0;

	for (uint32_t i = 0; i < n; i++)
		bytes += msgs[i].len;
	slc_reactor_release(r, msgs, n);
	bench_sink_add(s, n, bytes);
	return n;
}

static void __attribute__((format(printf, 3, 4)))
bench_ours_log(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)level;
	fputs("bench_reactor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

struct bench_ours {
	struct slc_listener_cfg listener;
	struct slc_reactor *r;
	uint16_t port;
	pid_t tid; /* 0: not found by name */
};

static void
bench_ours_start(struct bench_ours *ours, const struct bench_opts *o, enum bench_proto proto,
                 struct bench_sink *s)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&ours->listener.addr;
	struct slc_reactor_cfg cfg = {
	        .id = 0,
	        .cpu = (int)o->rx_cpu,
	        .node = -1,
	        .topo = NULL,
	        .buffers = 1024,
	        .buffer_size = 16384,
	        .udp_buffers = 1024,
	        .reasm_bytes = 0,
	        .max_frame = BENCH_MAX_FRAME,
	        .max_conns = BENCH_REACTOR_CONNS,
	        .idle_timeout_ms = 0,
	        .listeners = &ours->listener,
	        .nlisteners = 1,
	        .ops = {.deliver = bench_ours_deliver, .ctx = s},
	        .log = bench_ours_log,
	};
	int err = 0;

	memset(ours, 0, sizeof(*ours));
	ours->listener.proto = proto == BENCH_TCP ? SLC_LISTENER_TCP : SLC_LISTENER_UDP;
	ours->listener.addrlen = sizeof(*a);
	ours->listener.framing = SLC_FRAME_LINES;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = 0;

	ours->r = slc_reactor_create(&cfg, &err);
	if (ours->r == NULL)
		bench_die("bench_reactor: slc_reactor_create: %s\n", strerror(-err));
	if (bench_ours_features[0] == '\0')
		snprintf(bench_ours_features, sizeof(bench_ours_features), "%s",
		         slc_reactor_features_str(ours->r));
	err = slc_reactor_start(ours->r);
	if (err != 0)
		bench_die("bench_reactor: slc_reactor_start: %s\n", strerror(-err));
	ours->port = slc_reactor_listener_port(ours->r, 0);
	ours->tid = bench_find_thread(BENCH_REACTOR_THREAD, 1000);
	if (ours->tid == 0) {
		static bool warned;

		if (!warned)
			fprintf(stderr,
			        "bench_reactor: no thread named %s: ours' receiver CPU is the "
			        "process's less the sender's\n",
			        BENCH_REACTOR_THREAD);
		warned = true;
	}
}

static uint32_t
bench_ours_accepted(const struct bench_ours *ours)
{
	const struct slc_listener_stats *ls = slc_reactor_listener_stats(ours->r, 0);

	return (uint32_t)atomic_load_explicit(&ls->accepted, memory_order_relaxed);
}

/* The reactor's counters, for --verbose and for a run that stalls. */
static void
bench_ours_counters(const struct bench_ours *ours, char *info, size_t size)
{
	const struct slc_reactor_stats *st = slc_reactor_stats(ours->r);
	const struct slc_listener_stats *ls = slc_reactor_listener_stats(ours->r, 0);

	snprintf(info, size,
	         "; reactor: loops %" PRIu64 " cqes %" PRIu64 " rearms %" PRIu64
	         " buf_exhausted %" PRIu64 " pauses %" PRIu64 " reassembled %" PRIu64
	         " cq_overflow %" PRIu64 " paused %" PRIu64 " starved %" PRIu64
	         " buffers_free %" PRIu64 " open %" PRIu64 " udp_kernel_drops %" PRIu64,
	         atomic_load_explicit(&st->loops, memory_order_relaxed),
	         atomic_load_explicit(&st->cqes, memory_order_relaxed),
	         atomic_load_explicit(&st->rearms, memory_order_relaxed),
	         atomic_load_explicit(&st->buf_exhausted, memory_order_relaxed),
	         atomic_load_explicit(&st->pauses, memory_order_relaxed),
	         atomic_load_explicit(&st->reassembled, memory_order_relaxed),
	         atomic_load_explicit(&st->cq_overflow, memory_order_relaxed),
	         atomic_load_explicit(&st->paused, memory_order_relaxed),
	         atomic_load_explicit(&st->starved, memory_order_relaxed),
	         atomic_load_explicit(&st->buffers_free, memory_order_relaxed),
	         atomic_load_explicit(&ls->open, memory_order_relaxed),
	         atomic_load_explicit(&ls->udp_kernel_drops, memory_order_relaxed));
}

/* Stops and frees the reactor; its counters go to info (for --verbose) first. */
static void
bench_ours_stop(struct bench_ours *ours, char *info, size_t size)
{
	slc_reactor_stop(ours->r, 0); /* everything was delivered */
	bench_ours_counters(ours, info, size);
	slc_reactor_destroy(ours->r);
	ours->r = NULL;
}

/* ------------------------------------------------------------------------------------ */
/* One measurement                                                                       */
/* ------------------------------------------------------------------------------------ */

struct bench_sample {
	double rate;          /* messages/s */
	double rx_cpu_pct;    /* receiver CPU, % of the window */
	double rx_ns_per_msg; /* receiver CPU per message counted */
	double tx_cpu_pct;
	double loss_pct; /* UDP */
};

/* The receiver's CPU time: its thread's, or (tid 0) the whole process's. */
static int64_t
bench_rx_cpu_ns(pid_t tid)
{
	int64_t ns = tid != 0 ? bench_tid_cpu_ns(tid) : bench_process_cpu_ns();

	if (ns < 0)
		bench_die("bench_reactor: cannot read the CPU time of thread %d: %s\n", (int)tid,
		          strerror(errno));
	return ns;
}

static void
bench_wait_accepted(const char *what, const struct bench_ours *ours, struct bench_rx *rx,
                    uint32_t nconns)
{
	uint64_t t0 = bench_now_ns();

	for (;;) {
		uint32_t got = ours != NULL
		                       ? bench_ours_accepted(ours)
		                       : atomic_load_explicit(&rx->accepted, memory_order_relaxed);

		if (got >= nconns)
			return;
		if (bench_now_ns() - t0 > (uint64_t)BENCH_ACCEPT_TIMEOUT_MS * 1000000u)
			bench_die("bench_reactor: %s: %" PRIu32 " of %" PRIu32
			          " connections accepted after %d ms\n",
			          what, got, nconns, BENCH_ACCEPT_TIMEOUT_MS);
		poll(NULL, 0, 1);
	}
}

/* Waits for the last line; dies after 60 s, with the reactor's counters if ours is set. */
static void
bench_wait_tcp(const char *what, struct bench_sink *s, const struct bench_ours *ours)
{
	char info[512] = "";

	uint64_t t0 = bench_now_ns();

	for (;;) {
		struct pollfd p = {.fd = s->done_fd, .events = POLLIN};
		uint64_t waited_ms = (bench_now_ns() - t0) / 1000000u;
		int n;

		if (waited_ms >= BENCH_TCP_TIMEOUT_MS) {
			if (ours != NULL)
				bench_ours_counters(ours, info, sizeof(info));
			bench_die("bench_reactor: %s: only %" PRIu64 " of %" PRIu64
			          " lines arrived in %d s%s\n",
			          what, bench_sink_msgs(s), s->expect, BENCH_TCP_TIMEOUT_MS / 1000,
			          info);
		}
		n = poll(&p, 1, (int)(BENCH_TCP_TIMEOUT_MS - waited_ms));
		if (n > 0)
			return;
		if (n < 0 && errno != EINTR)
			bench_die("bench_reactor: poll: %s\n", strerror(errno));
	}
}

/* Waits (after the sender is done) until all arrived or 200 ms passed without any. */
static void
bench_wait_udp(const char *what, struct bench_sink *s, const struct bench_tx *tx)
{
	for (;;) {
		struct pollfd p = {.fd = s->done_fd, .events = POLLIN};
		uint64_t last = atomic_load_explicit(&s->last_ns, memory_order_relaxed);
		uint64_t now;

		if (poll(&p, 1, 10) > 0)
			return;
		now = bench_now_ns();
		if (last < tx->end_ns)
			last = tx->end_ns;
		if (now - last >= BENCH_UDP_SILENCE_NS)
			return;
		if (now - tx->end_ns >= BENCH_UDP_TIMEOUT_NS)
			bench_die("bench_reactor: %s: datagrams still arriving 60 s after the "
			          "sender stopped\n",
			          what);
	}
}

static struct bench_sample
bench_measure(const struct bench_opts *o, enum bench_proto proto, uint32_t nconns,
              enum bench_impl impl)
{
	uint64_t expect = proto == BENCH_TCP ? (uint64_t)o->lines : (uint64_t)o->datagrams;
	uint32_t msg_len = proto == BENCH_TCP ? BENCH_LINE_BYTES - 1 : BENCH_DGRAM_BYTES;
	struct bench_sample res = {0};
	struct bench_ours ours;
	struct bench_sink sink;
	struct bench_tx tx;
	struct bench_rx rx;
	uint64_t msgs, bytes, window_ns;
	int64_t cpu0, cpu1, rx_cpu;
	uint16_t port;
	pid_t rx_tid;
	char what[64];
	char info[512] = "";

	snprintf(what, sizeof(what), "%s/%" PRIu32 "/%s", proto == BENCH_TCP ? "tcp" : "udp",
	         nconns, bench_impl_names[impl]);
	if (bench_sink_init(&sink, expect, msg_len, proto == BENCH_UDP) != 0)
		bench_die("bench_reactor: eventfd: %s\n", strerror(errno));
	if (impl == BENCH_OURS) {
		bench_ours_start(&ours, o, proto, &sink);
		port = ours.port;
		rx_tid = ours.tid;
	} else {
		bench_rx_start(&rx, proto, o->udp_epoll, nconns, (int)o->rx_cpu, &sink);
		port = rx.port;
		rx_tid = bench_rx_tid(&rx);
	}

	bench_tx_start(&tx, proto, port, nconns, expect, (int)o->tx_cpu);
	if (proto == BENCH_TCP)
		bench_wait_accepted(what, impl == BENCH_OURS ? &ours : NULL, &rx, nconns);
	cpu0 = bench_rx_cpu_ns(rx_tid);
	bench_tx_go(&tx);
	if (proto == BENCH_TCP) {
		bench_wait_tcp(what, &sink, impl == BENCH_OURS ? &ours : NULL);
		cpu1 = bench_rx_cpu_ns(rx_tid);
		bench_tx_join(&tx);
	} else {
		bench_tx_join(&tx);
		bench_wait_udp(what, &sink, &tx);
		cpu1 = bench_rx_cpu_ns(rx_tid);
	}
	rx_cpu = cpu1 - cpu0;
	if (rx_tid == 0)
		rx_cpu -= (int64_t)tx.cpu_ns;

	if (impl == BENCH_OURS)
		bench_ours_stop(&ours, info, sizeof(info));
	else
		bench_rx_stop(&rx);
	bench_tx_close(&tx);

	/* The receiving thread is joined: everything it wrote is visible. */
	msgs = bench_sink_msgs(&sink);
	bytes = atomic_load_explicit(&sink.bytes, memory_order_relaxed);
	if ((proto == BENCH_TCP && msgs != expect) || msgs > expect || msgs == 0)
		bench_die("bench_reactor: %s: counted %" PRIu64 " messages, %" PRIu64
		          " were sent\n",
		          what, msgs, expect);
	if (bytes != msgs * msg_len)
		bench_die("bench_reactor: %s: %" PRIu64 " bytes in %" PRIu64
		          " messages, not %" PRIu32 " each\n",
		          what, bytes, msgs, msg_len);

	if (proto == BENCH_TCP) {
		window_ns = atomic_load_explicit(&sink.end_ns, memory_order_relaxed) - tx.start_ns;
		res.tx_cpu_pct = (double)tx.cpu_ns * 100 / (double)(window_ns ? window_ns : 1);
	} else {
		uint64_t tx_ns = tx.end_ns - tx.start_ns;

		window_ns = atomic_load_explicit(&sink.last_ns, memory_order_relaxed) -
		            atomic_load_explicit(&sink.first_ns, memory_order_relaxed);
		res.tx_cpu_pct = (double)tx.cpu_ns * 100 / (double)(tx_ns ? tx_ns : 1);
		res.loss_pct = (double)(expect - msgs) * 100 / (double)expect;
	}
	if (window_ns == 0)
		window_ns = 1;
	res.rate = (double)msgs * 1e9 / (double)window_ns;
	res.rx_cpu_pct = (double)(rx_cpu > 0 ? rx_cpu : 0) * 100 / (double)window_ns;
	res.rx_ns_per_msg = (double)(rx_cpu > 0 ? rx_cpu : 0) / (double)msgs;
	if (o->verbose)
		fprintf(stderr,
		        "bench_reactor: %s: %.3f Mmsg/s, rx %.1f%% (%.0f ns/msg), tx %.1f%%, "
		        "loss %.2f%%, %" PRIu64 " counting calls (%.1f msgs each)%s\n",
		        what, res.rate / 1e6, res.rx_cpu_pct, res.rx_ns_per_msg, res.tx_cpu_pct,
		        res.loss_pct, sink.calls_mine,
		        (double)msgs / (double)(sink.calls_mine ? sink.calls_mine : 1), info);
	bench_sink_fini(&sink);
	return res;
}

/* ------------------------------------------------------------------------------------ */
/* Results                                                                               */
/* ------------------------------------------------------------------------------------ */

/* Half the min..max range in % of the median; v sorted. */
static double
bench_spread_pct(const double *v, size_t n, double median)
{
	return median > 0 ? (v[n - 1] - v[0]) / 2 / median * 100 : 0;
}

struct bench_row {
	double rate[BENCH_NIMPL];
	double spread_pct[BENCH_NIMPL];
	double rx_cpu_pct[BENCH_NIMPL];
	double rx_ns_per_msg[BENCH_NIMPL];
	double tx_cpu_pct[BENCH_NIMPL];
	double loss_pct[BENCH_NIMPL];
	bool ran[BENCH_NIMPL];
};

static void
bench_print_header(const struct bench_opts *o)
{
	if (o->csv) {
		puts("proto,conns,msg_bytes,msgs_per_s,baseline_msgs_per_s,ratio,ours_rx_cpu_pct,"
		     "base_rx_cpu_pct,sender_cpu_pct,base_sender_cpu_pct,ours_loss_pct,"
		     "base_loss_pct,ours_rx_ns_per_msg,base_rx_ns_per_msg");
		return;
	}
	printf("# TCP: %" PRId64 " lines of %d B; UDP: %" PRId64
	       " datagrams of %d B; median of %" PRId64 " runs\n",
	       o->lines, BENCH_LINE_BYTES, o->datagrams, BENCH_DGRAM_BYTES, o->runs);
	printf("# receiver on CPU %" PRId64 ", sender on CPU %" PRId64
	       " (-1: unpinned); base: epoll + recv(64 KiB) + memchr (TCP), recvmmsg x%d %s "
	       "(UDP)\n",
	       o->rx_cpu, o->tx_cpu, BENCH_UDP_BATCH, o->udp_base);
	printf("# CPU in %% of wall time: rx = receiving thread, tx = sender; o/b = during ours' / "
	       "base's runs\n");
	printf("%-5s %5s %5s  %16s  %16s  %6s  %13s  %13s  %11s  %11s\n", "proto", "conns", "bytes",
	       "ours Mmsg/s", "base Mmsg/s", "ratio", "rx CPU% o/b", "rx ns/msg o/b", "tx CPU% o/b",
	       "loss% o/b");
}

static void
bench_print_row(const struct bench_opts *o, enum bench_proto proto, uint32_t nconns,
                const struct bench_row *row)
{
	bool both = row->ran[BENCH_OURS] && row->ran[BENCH_BASE] && row->rate[BENCH_BASE] > 0;
	double ratio = both ? row->rate[BENCH_OURS] / row->rate[BENCH_BASE] : 0;
	const char *p = proto == BENCH_TCP ? "tcp" : "udp";
	uint32_t bytes = proto == BENCH_TCP ? BENCH_LINE_BYTES : BENCH_DGRAM_BYTES;

	if (o->csv) {
		printf("%s,%" PRIu32 ",%" PRIu32 ",%.0f,%.0f,", p, nconns, bytes,
		       row->rate[BENCH_OURS], row->rate[BENCH_BASE]);
		if (both)
			printf("%.3f", ratio);
		printf(",%.1f,%.1f,%.1f,%.1f,", row->rx_cpu_pct[BENCH_OURS],
		       row->rx_cpu_pct[BENCH_BASE], row->tx_cpu_pct[BENCH_OURS],
		       row->tx_cpu_pct[BENCH_BASE]);
		if (proto == BENCH_UDP)
			printf("%.2f,%.2f", row->loss_pct[BENCH_OURS], row->loss_pct[BENCH_BASE]);
		else
			putchar(',');
		printf(",%.1f,%.1f\n", row->rx_ns_per_msg[BENCH_OURS],
		       row->rx_ns_per_msg[BENCH_BASE]);
	} else {
		char loss[32] = "-";

		printf("%-5s %5" PRIu32 " %5" PRIu32, p, nconns, bytes);
		for (int i = 0; i < BENCH_NIMPL; i++) {
			if (row->ran[i])
				printf("  %8.3f (±%3.0f%%)", row->rate[i] / 1e6,
				       row->spread_pct[i]);
			else
				printf("  %16s", "-");
		}
		if (both)
			printf("  %6.3f", ratio);
		else
			printf("  %6s", "-");
		printf("  %6.1f/%6.1f  %6.1f/%6.1f  %5.1f/%5.1f", row->rx_cpu_pct[BENCH_OURS],
		       row->rx_cpu_pct[BENCH_BASE], row->rx_ns_per_msg[BENCH_OURS],
		       row->rx_ns_per_msg[BENCH_BASE], row->tx_cpu_pct[BENCH_OURS],
		       row->tx_cpu_pct[BENCH_BASE]);
		if (proto == BENCH_UDP)
			snprintf(loss, sizeof(loss), "%.1f/%.1f", row->loss_pct[BENCH_OURS],
			         row->loss_pct[BENCH_BASE]);
		printf("  %11s\n", loss);
	}
	fflush(stdout);
}

static void
bench_config_run(const struct bench_opts *o, enum bench_proto proto, uint32_t nconns)
{
	static double v[5][BENCH_NIMPL][BENCH_RUNS_MAX];
	struct bench_row row;
	size_t runs = (size_t)o->runs;

	memset(&row, 0, sizeof(row));
	for (int i = 0; i < BENCH_NIMPL; i++)
		row.ran[i] = o->impl == NULL || strcmp(o->impl, bench_impl_names[i]) == 0;
	/* Interleaved, one of each per round, and which goes first alternates. */
	for (size_t r = 0; r < runs; r++) {
		for (int k = 0; k < BENCH_NIMPL; k++) {
			int i = (int)((size_t)k + r) % BENCH_NIMPL;
			struct bench_sample s;

			if (!row.ran[i])
				continue;
			s = bench_measure(o, proto, nconns, (enum bench_impl)i);
			v[0][i][r] = s.rate;
			v[1][i][r] = s.rx_cpu_pct;
			v[2][i][r] = s.tx_cpu_pct;
			v[3][i][r] = s.loss_pct;
			v[4][i][r] = s.rx_ns_per_msg;
		}
	}
	for (int i = 0; i < BENCH_NIMPL; i++) {
		if (!row.ran[i])
			continue;
		row.rate[i] = bench_median(v[0][i], runs);
		row.spread_pct[i] = bench_spread_pct(v[0][i], runs, row.rate[i]);
		row.rx_cpu_pct[i] = bench_median(v[1][i], runs);
		row.tx_cpu_pct[i] = bench_median(v[2][i], runs);
		row.loss_pct[i] = bench_median(v[3][i], runs);
		row.rx_ns_per_msg[i] = bench_median(v[4][i], runs);
	}
	bench_print_row(o, proto, nconns, &row);
}

int
main(int argc, char **argv)
{
	struct bench_opts o;
	uint64_t nofile;
	uint32_t most = 0;

	if (bench_opts_parse(&o, argc, argv) != 0)
		return 2;
	if (o.help) {
		bench_usage(stdout);
		return 0;
	}
	if (bench_cpu_check("bench_reactor", "--rx-cpu", o.rx_cpu) != 0 ||
	    bench_cpu_check("bench_reactor", "--tx-cpu", o.tx_cpu) != 0)
		return 2;
	for (uint32_t i = 0; i < o.nconns; i++)
		most = o.conns[i] > most ? o.conns[i] : most;
	/* Both ends of every connection live in this process. */
	nofile = bench_raise_nofile();
	if (!o.no_tcp && nofile < 2 * (uint64_t)most + 64) {
		fprintf(stderr,
		        "bench_reactor: RLIMIT_NOFILE is %" PRIu64 ", %" PRIu32
		        " connections need about %" PRIu64 "\n",
		        nofile, most, 2 * (uint64_t)most + 64);
		return 2;
	}
	bench_tx_init_lines();

	bench_print_header(&o);
	if (!o.no_tcp) {
		for (uint32_t i = 0; i < o.nconns; i++)
			bench_config_run(&o, BENCH_TCP, o.conns[i]);
	}
	if (!o.no_udp)
		bench_config_run(&o, BENCH_UDP, 1);
	if (!o.csv && bench_ours_features[0] != '\0')
		printf("# ours: %s\n", bench_ours_features);
	return 0;
}
