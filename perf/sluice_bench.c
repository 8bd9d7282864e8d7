/* SPDX-License-Identifier: MIT */
/* sluice_bench.c: sluice-bench, the load generator: stamped messages over TCP or UDP. */
/*
 * Examples:
 *   sluice-bench                                   4 TCP connections to 127.0.0.1:5140,
 *                                                  100-byte lines, 10 s, as fast as possible
 *   sluice-bench --metrics http://127.0.0.1:9100   the same, then processed, loss, latency
 *   sluice-bench --rate 200000 --duration 30 --dist zipf:1.1 --keys 100000
 *   sluice-bench --target udp://127.0.0.1:5140 --size 512 --rate 100000 --count 1000000
 *   sluice-bench --framing len32 --connections 64 --threads 2 --count 50000000
 *   sluice-bench --csv --metrics http://127.0.0.1:9100 --rate 500000 >> runs.csv
 *   sluice-bench --csv --no-header --framing syslog --size 200 >> runs.csv
 *
 * Every message carries a stamp (engine/route/stamp.h): its key, connection, sequence number on
 * that connection, and CLOCK_MONOTONIC when it was formatted; sluiced's null sink turns the
 * stamp into the end-to-end latency histogram. Latency is meaningful only when sluice-bench
 * runs on the daemon's host (one monotonic clock). Keys are "k<id>", id drawn per message
 * from --dist over --keys; the daemon finds them with --key field:2 (lines), len32 (the
 * len32 key header) or field:9 (syslog).
 *
 * --size is the message as the daemon delivers it: the frame's payload (len32: the key
 * header included; syslog: the RFC 5424 header included), or the datagram for UDP.
 * Framing adds its own bytes on TCP (lines: a LF; len32: 4 length bytes; syslog: the octet
 * count and a SP); UDP sends one message per datagram, with no framing bytes. Bytes and
 * MB/s (10^6 bytes) count what was written to the sockets.
 *
 * Sending: --threads threads share the --connections sockets (connection i goes to thread
 * i % T); each thread formats batches of whole messages (64 KiB for TCP, up to 64
 * datagrams for UDP's sendmmsg; less with very many connections) and writes them on non-blocking sockets, waiting in ppoll
 * while all of its sockets are full. As fast as possible by default; --rate paces each
 * thread at rate/T against the monotonic clock, open loop: whatever is due is sent at
 * once, however late. The stamp is the time of formatting, not the time the schedule
 * meant: a sender that falls behind (the daemon pushing back, or this process short of
 * CPU) delays messages that then measure short, which is coordinated omission; the report
 * warns when the achieved rate is more than 1% under --rate. Time spent blocked in a full
 * socket after formatting is part of the measured latency.
 *
 * With --metrics, sluiced's Prometheus endpoint is scraped before and after (HTTP/1.0):
 * sluice_worker_processed_total, sluice_udp_drops_total and the histogram
 * sluice_e2e_latency_seconds (each summed over its label sets; the deltas count). After
 * sending, it polls every 100 ms until processed reaches sent, stops moving for 1 s, or
 * --wait-drain seconds pass. processed msgs/s is processed over the time from the start to
 * the scrape that first saw the final count. Loss is sent - processed.
 *
 * --acks speaks len32+ack (docs/protocol.md) to a listener of that framing: it reads the
 * greeting, never has more than the window W unacknowledged frames per connection, and
 * keeps those frames' bytes (so a frame sent again is byte-identical: its stamp's seq is
 * the frame's sequence number, from 1 on each connection, and its send_ns the time of its
 * first formatting). When a connection fails (reset, EOF, refused) it reconnects, backing
 * off from 10 ms to 1 s, for up to --reconnect-for seconds, and sends again from the
 * oldest unacknowledged frame. After sending it waits, again at most --reconnect-for s,
 * for every frame's ack, and reports acknowledged, resent (frames written more than once)
 * and missing (sent, never acknowledged). With --count N, connection i sends frames
 * 1 .. N/C (+1 for i < N % C); a receiver then expects exactly those "<i>.<seq>" stamps.
 *
 *   sluice-bench --acks --target tcp://127.0.0.1:5141 --connections 2 --count 1000000
 *
 * --csv columns: transport,connections,size,framing,rate,keys,dist,sent,seconds,msgs_per_s,
 * mb_per_s,processed,processed_msgs_per_s,loss,p50_us,p99_us,p999_us (empty if unknown);
 * with --acks, then acked,acked_msgs_per_s,resent,missing,reconnects.
 * Exit status: 0; 1 on a bad option, a failed connect, send or scrape; 2 if TCP lost
 * messages (processed < sent after the drain wait); 3 with --acks if frames are missing
 * (or a connection gave up reconnecting). Ctrl-C stops sending and still reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_net.h"
#include "bench_opts.h"
#include "frame.h"
#include "prom_scrape.h"
#include "route/stamp.h"

#define SB_PROG            "sluice-bench"
#define SB_TCP_BATCH       65536
#define SB_UDP_BATCH       64
#define SB_UDP_SIZE_MAX    65507
#define SB_SIZE_MAX        (1u << 20)
#define SB_BUFFERS_MAX     (256u << 20) /* batch buffers of all connections together */
#define SB_CONNECT_MS      5000
#define SB_FLUSH_NS        UINT64_C(30000000000) /* to write what was formatted, once stopping */
#define SB_WAIT_NS         100000000u /* longest ppoll or sleep between looks at the clock */
#define SB_TICK_NS         500000000u /* progress line */
#define SB_DRAIN_POLL_NS   100000000u
#define SB_DRAIN_STILL_NS  1000000000u
#define SB_SCRAPE_TIMEOUT  2         /* s */
#define SB_SEQ_PER_S_GUESS 50000000u /* msgs/s a connection will not reach, for --size */
#define SB_ACK_SLOTS_MAX   65536u    /* unacknowledged frames kept per connection */
#define SB_ACK_HDR         12u       /* len32+ack: L and the sequence number */
#define SB_BACKOFF_MIN_NS  10000000u
#define SB_BACKOFF_MAX_NS  1000000000u

struct sb_opts {
	const char *target;
	const char *framing_name;
	const char *dist;
	const char *metrics;
	int64_t connections, threads, size, keys, rate, duration, count, wait_drain;
	int64_t reconnect_for;
	bool csv, no_header, quiet, help, acks;
};

static const struct bench_opt sb_opt_table[] = {
        {"--target", BENCH_OPT_STR, 0, 0, 0, "tcp://127.0.0.1:5140", "URL",
         "tcp://HOST:PORT or udp://HOST:PORT", offsetof(struct sb_opts, target)},
        {"--connections", BENCH_OPT_INT, 4, 1, 65536, NULL, "N",
         "TCP connections (UDP: sockets, one source port each)",
         offsetof(struct sb_opts, connections)},
        {"--threads", BENCH_OPT_INT, 1, 1, 256, NULL, "T",
         "sender threads; the connections are spread over them", offsetof(struct sb_opts, threads)},
        {"--size", BENCH_OPT_INT, 100, 1, SB_SIZE_MAX, NULL, "BYTES",
         "message bytes as delivered (frame payload, or datagram)", offsetof(struct sb_opts, size)},
        {"--framing", BENCH_OPT_STR, 0, 0, 0, "lines", "F", "lines, len32 or syslog",
         offsetof(struct sb_opts, framing_name)},
        {"--keys", BENCH_OPT_INT, 1000, 1, INT64_C(1) << 40, NULL, "N",
         "distinct keys (k0 .. k<N-1>)", offsetof(struct sb_opts, keys)},
        {"--dist", BENCH_OPT_STR, 0, 0, 0, "uniform", "D",
         "key distribution: uniform or zipf:S (exponent S > 0)", offsetof(struct sb_opts, dist)},
        {"--rate", BENCH_OPT_INT, 0, 0, INT64_C(10000000000), NULL, "MSGS_PER_S",
         "open-loop rate over all connections; 0: as fast as possible",
         offsetof(struct sb_opts, rate)},
        {"--duration", BENCH_OPT_INT, 0, 0, 7 * 86400, NULL, "S",
         "seconds of sending; 0: 10, or until --count", offsetof(struct sb_opts, duration)},
        {"--count", BENCH_OPT_INT, 0, 0, INT64_C(1) << 50, NULL, "N",
         "messages to send in all; 0: no limit", offsetof(struct sb_opts, count)},
        {"--metrics", BENCH_OPT_STR, 0, 0, 0, NULL, "URL",
         "sluiced's Prometheus endpoint, http://HOST:PORT[/PATH] (path /metrics)",
         offsetof(struct sb_opts, metrics)},
        {"--wait-drain", BENCH_OPT_INT, 5, 0, 3600, NULL, "S",
         "after sending, wait up to S s for processed to catch up",
         offsetof(struct sb_opts, wait_drain)},
        {"--acks", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL,
         "len32+ack: acknowledged delivery, resent after reconnects (implies --framing len32)",
         offsetof(struct sb_opts, acks)},
        {"--reconnect-for", BENCH_OPT_INT, 30, 0, 3600, NULL, "S",
         "with --acks: reconnect for up to S s after a failure; wait as long for the last acks",
         offsetof(struct sb_opts, reconnect_for)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "a CSV header and one row, no progress",
         offsetof(struct sb_opts, csv)},
        {"--no-header", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "with --csv: the row alone",
         offsetof(struct sb_opts, no_header)},
        {"--quiet", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "no live progress line",
         offsetof(struct sb_opts, quiet)},
        {"--help", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "print this help",
         offsetof(struct sb_opts, help)},
};

#define SB_NOPTS (sizeof(sb_opt_table) / sizeof(sb_opt_table[0]))

/* Rejection-inversion sampling (Hörmann and Derflinger 1996, as in Apache Commons RNG):
 * P(k) proportional to k^-s over 1..n in O(1) time and memory, whatever n. */
struct sb_zipf {
	double s, n, h_x1, h_n, sq;
};

/* What every sender reads and nobody writes once the threads run. */
struct sb_run {
	struct sb_opts o;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int mhost_len; /* of HOST:PORT in --metrics, for the Host header */
	const char *mpath;
	struct sockaddr_storage maddr;
	socklen_t maddr_len;
	bool udp;
	enum slc_frame_format framing;
	struct sb_zipf zipf;
	bool zipf_on;
	char host_name[64]; /* for syslog headers */
	uint32_t wire;      /* bytes per message on the socket */
	uint32_t batch;     /* messages per batch */
	uint64_t duration_ns;
	uint64_t start_ns;
};

/* --acks: one connection's frames from its oldest unacknowledged one on. */
enum sb_ack_state { SB_ACK_GREETING, SB_ACK_UP, SB_ACK_DOWN, SB_ACK_DONE };

struct sb_ack {
	char *ring;      /* nslots frames of wire bytes; frame s in slot s & (nslots - 1) */
	uint32_t nslots; /* a power of two */
	uint32_t window; /* frames in flight at most: min(the greeting's W, nslots) */
	uint64_t quota;  /* frames to send in all; UINT64_MAX: until the duration ends */
	uint64_t next;   /* the next new frame's seq (frames 1 .. next-1 are formatted) */
	uint64_t acked;  /* the highest ack received: frames 1 .. acked are durable */
	uint64_t wseq;   /* the frame being written, wseq_off bytes of it already out */
	uint32_t wseq_off;
	uint64_t max_sent; /* the highest frame ever written whole */
	uint8_t rx[16];
	uint32_t rx_len;
	enum sb_ack_state state;
	uint64_t retry_ns, down_since_ns, backoff_ns;
	uint64_t greet_by_ns; /* GREETING: the greeting is due by then (0: not yet set) */
	uint64_t resent, reconnects, last_ack_ns;
	bool gave_up;
};

struct sb_conn {
	int fd;
	uint32_t id;
	uint64_t seq;
	struct sb_ack *ack; /* --acks only */
	char *buf;
	struct mmsghdr *mm; /* UDP: one per datagram slot of buf */
	struct iovec *iov;
	uint32_t off, len; /* TCP: bytes; UDP: datagrams */
	uint32_t nmsg;     /* messages in the batch being written */
};

struct sb_thread {
	const struct sb_run *r;
	pthread_t tid;
	struct sb_conn *conns;
	struct pollfd *pfd;
	uint32_t nconns;
	uint64_t quota; /* messages, UINT64_MAX: until the duration ends */
	double rate_per_ns;
	uint64_t rng;
	char syslog_hdr[160];
	uint32_t syslog_len;
	time_t syslog_s;
	uint64_t end_ns;
	int err;
	char errmsg[160];
	uint64_t acks_end_ns; /* --acks: when the last ack came */
	_Alignas(64) _Atomic uint64_t msgs;
	_Atomic uint64_t bytes;
	_Atomic bool done;
};

static atomic_bool sb_stop;
static _Atomic uint64_t sb_signal_ns;

/*
 * The first SIGINT or SIGTERM stops the senders, which finish their batches, and the
 * report still comes. Another one a second later kills at once; one sooner is the same
 * signal sent twice (timeout(1) sends it to the process and to its group) and is ignored.
 */
static void
sb_on_signal(int sig)
{
	uint64_t now = bench_now_ns(); /* clock_gettime: async-signal-safe */
	uint64_t first = atomic_load_explicit(&sb_signal_ns, memory_order_relaxed);

	if (first != 0 && now - first > 1000000000u) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	if (first == 0)
		atomic_store_explicit(&sb_signal_ns, now, memory_order_relaxed);
	atomic_store_explicit(&sb_stop, true, memory_order_relaxed);
}

/* ---- keys -------------------------------------------------------------------------- */

static double
zipf_helper1(double x)
{
	return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

static double
zipf_helper2(double x)
{
	return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

static double
zipf_hint(const struct sb_zipf *z, double x)
{
	double lx = log(x);

	return zipf_helper2((1 - z->s) * lx) * lx;
}

static double
zipf_h(const struct sb_zipf *z, double x)
{
	return exp(-z->s * log(x));
}

static double
zipf_hint_inv(const struct sb_zipf *z, double x)
{
	double t = x * (1 - z->s);

	return exp(zipf_helper1(t < -1 ? -1 : t) * x);
}

static void
zipf_init(struct sb_zipf *z, uint64_t n, double s)
{
	z->s = s;
	z->n = (double)n;
	z->h_x1 = zipf_hint(z, 1.5) - 1;
	z->h_n = zipf_hint(z, z->n + 0.5);
	z->sq = 2 - zipf_hint_inv(z, zipf_hint(z, 2.5) - zipf_h(z, 2));
}

static uint64_t
sb_rand(uint64_t *state)
{
	uint64_t x = (*state += 0x9e3779b97f4a7c15u); /* splitmix64 */

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* A key id in [0, keys): rank 1 of the zipf law is key 0. */
static uint64_t
sb_key(struct sb_thread *t)
{
	const struct sb_run *r = t->r;

	if (!r->zipf_on)
		return (uint64_t)(((unsigned __int128)sb_rand(&t->rng) * (uint64_t)r->o.keys) >>
		                  64);
	for (;;) {
		const struct sb_zipf *z = &r->zipf;
		double u01 = (double)(sb_rand(&t->rng) >> 11) * 0x1p-53;
		double u = z->h_n + u01 * (z->h_x1 - z->h_n);
		double x = zipf_hint_inv(z, u);
		double k = floor(x + 0.5);

		k = k < 1 ? 1 : k > z->n ? z->n : k;
		if (k - x <= z->sq || u >= zipf_hint(z, k + 0.5) - zipf_h(z, k))
			return (uint64_t)k - 1;
	}
}

/* ---- messages ---------------------------------------------------------------------- */

/* "<14>1 TIMESTAMP HOST sluice-bench - - - ": user.info, refreshed once a second. */
static void
sb_syslog_refresh(struct sb_thread *t)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t->syslog_len != 0 && ts.tv_sec == t->syslog_s)
		return;
	t->syslog_s = ts.tv_sec;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	t->syslog_len =
	        (uint32_t)snprintf(t->syslog_hdr, sizeof(t->syslog_hdr),
	                           "<14>1 %s %s " SB_PROG " - - - ", stamp, t->r->host_name);
}

/* Bytes a message of this key puts before its stamp (the key header; the syslog header). */
static uint32_t
sb_prefix_len(const struct sb_run *r, uint64_t key, uint32_t syslog_len)
{
	if (r->framing == SLC_FRAME_LEN32)
		return 2 + 1 + slc_stamp_digits(key);
	return r->framing == SLC_FRAME_SYSLOG ? syslog_len : 0;
}

/* Writes one message as it goes on the wire (r->wire bytes), stamped with the time in now;
 * 0 or -EMSGSIZE. */
static int
sb_format(struct sb_thread *t, char *p, uint64_t key, const struct sb_conn *c,
          const struct slc_stamp_ns *now)
{
	const struct sb_run *r = t->r;
	uint32_t size = (uint32_t)r->o.size;
	uint32_t prefix = sb_prefix_len(r, key, t->syslog_len);
	int rc;

	if (prefix >= size)
		return -EMSGSIZE;
	if (!r->udp && r->framing == SLC_FRAME_LEN32) {
		p[0] = (char)(size >> 24);
		p[1] = (char)(size >> 16);
		p[2] = (char)(size >> 8);
		p[3] = (char)size;
		p += 4;
	} else if (!r->udp && r->framing == SLC_FRAME_SYSLOG) {
		p += slc_stamp_put_u64(p, size);
		*p++ = ' ';
	}
	if (r->framing == SLC_FRAME_LEN32) {
		p[0] = (char)((prefix - 2) >> 8);
		p[1] = (char)(prefix - 2);
		p[2] = 'k';
		slc_stamp_put_u64(p + 3, key);
	} else if (r->framing == SLC_FRAME_SYSLOG) {
		memcpy(p, t->syslog_hdr, prefix);
	}
	rc = slc_stamp_format_ns(p + prefix, size - prefix, key, c->id, c->seq, now, size - prefix);
	if (rc < 0)
		return rc;
	if (!r->udp && r->framing == SLC_FRAME_LINES)
		p[size] = '\n';
	return 0;
}

/* Formats the connection's next n messages, all stamped now. */
static int
sb_fill(struct sb_thread *t, struct sb_conn *c, uint32_t n, uint64_t now)
{
	const struct sb_run *r = t->r;
	struct slc_stamp_ns now_text;

	if (r->framing == SLC_FRAME_SYSLOG)
		sb_syslog_refresh(t);
	/* Its digits once, not per message: the stamp's longest number, the same for all n. */
	slc_stamp_ns_set(&now_text, now);
	for (uint32_t i = 0; i < n; i++) {
		int rc = sb_format(t, c->buf + (size_t)i * r->wire, sb_key(t), c, &now_text);

		if (rc < 0) {
			snprintf(t->errmsg, sizeof(t->errmsg),
			         "--size %" PRId64 " no longer holds the stamp (connection %" PRIu32
			         ", seq %" PRIu64 "); use a larger --size",
			         r->o.size, c->id, c->seq);
			return rc;
		}
		c->seq++;
	}
	c->off = 0;
	c->len = r->udp ? n : n * r->wire;
	c->nmsg = n;
	return 0;
}

/* Writes what it can of the batch: 1 if anything went, 0 if the socket is full, -errno. */
static int
sb_send(struct sb_thread *t, struct sb_conn *c)
{
	const struct sb_run *r = t->r;
	ssize_t n;

	do {
		if (r->udp)
			n = sendmmsg(c->fd, c->mm + c->off, c->len - c->off, MSG_DONTWAIT);
		else
			n = send(c->fd, c->buf + c->off, c->len - c->off,
			         MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;

		if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
			return 0;
		snprintf(t->errmsg, sizeof(t->errmsg), "%s on connection %" PRIu32 ": %s%s",
		         r->udp ? "sendmmsg" : "send", c->id, strerror(err),
		         r->udp && err == ECONNREFUSED ? " (nothing listens on that port?)" : "");
		return -err;
	}
	c->off += (uint32_t)n;
	if (c->off == c->len) {
		/* Once a batch: the cost of a locked add does not matter. */
		atomic_fetch_add_explicit(&t->bytes, (uint64_t)c->nmsg * r->wire,
		                          memory_order_relaxed);
		atomic_fetch_add_explicit(&t->msgs, c->nmsg, memory_order_relaxed);
		c->nmsg = 0;
	}
	return n > 0;
}

/* A refusal (ICMP port unreachable) that came after the last send: reported, not lost. */
static int
sb_udp_check(struct sb_thread *t)
{
	for (uint32_t i = 0; i < t->nconns; i++) {
		socklen_t len = sizeof(int);
		int err = 0;

		if (getsockopt(t->conns[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
			snprintf(t->errmsg, sizeof(t->errmsg),
			         "connection %" PRIu32 ": %s (nothing listens on that port?)",
			         t->conns[i].id, strerror(err));
			return -err;
		}
	}
	return 0;
}

/* Sleeps until the absolute monotonic time until_ns, or until a socket in pfd is writable. */
static void
sb_wait(struct pollfd *pfd, uint32_t n, uint64_t now, uint64_t until_ns)
{
	uint64_t ns = until_ns > now ? until_ns - now : 0;
	struct timespec ts;

	/* Overdue with every socket full: only writability can help. */
	if (ns > SB_WAIT_NS || (ns == 0 && n != 0))
		ns = SB_WAIT_NS;
	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	if (n != 0)
		ppoll(pfd, n, &ts, NULL);
	else
		nanosleep(&ts, NULL);
}

static int
sb_thread_run(struct sb_thread *t)
{
	const struct sb_run *r = t->r;
	uint64_t start = r->start_ns, issued = 0, flush_by = 0;
	uint64_t end = r->duration_ns ? start + r->duration_ns : UINT64_MAX;
	uint32_t rr = 0;

	for (;; rr++) {
		uint64_t now = bench_now_ns(), due = t->quota, next = end;
		bool stopping = atomic_load_explicit(&sb_stop, memory_order_relaxed) || now >= end;
		bool moved = false;
		uint32_t busy = 0;

		if (stopping) {
			due = issued;
		} else if (t->rate_per_ns > 0) {
			/* Message i is due at start + i / rate. */
			double d = floor((double)(now - start) * t->rate_per_ns) + 1;

			due = d < (double)t->quota ? (uint64_t)d : t->quota;
			next = start + (uint64_t)ceil((double)due / t->rate_per_ns);
		}
		for (uint32_t j = 0; j < t->nconns; j++) {
			struct sb_conn *c = &t->conns[(rr + j) % t->nconns];
			int rc;

			if (c->off == c->len) {
				uint64_t n = due - issued < r->batch ? due - issued : r->batch;

				if (n == 0)
					continue;
				rc = sb_fill(t, c, (uint32_t)n, now);
				if (rc < 0)
					return rc;
				issued += n;
			}
			rc = sb_send(t, c);
			if (rc < 0)
				return rc;
			moved |= rc > 0;
			if (c->off < c->len) {
				t->pfd[busy].fd = c->fd;
				t->pfd[busy].events = POLLOUT;
				busy++;
			}
		}
		if (issued >= t->quota || stopping) {
			if (busy == 0)
				return r->udp ? sb_udp_check(t) : 0;
			if (flush_by == 0)
				flush_by = now + SB_FLUSH_NS;
			if (now > flush_by) {
				snprintf(t->errmsg, sizeof(t->errmsg),
				         "the receiver did not take the last batches in %u s",
				         (unsigned)(SB_FLUSH_NS / 1000000000u));
				return -ETIMEDOUT;
			}
		}
		if (!moved)
			sb_wait(t->pfd, busy, now, next);
	}
}

/* ---- --acks: len32+ack (docs/protocol.md) ------------------------------------------ */

static int sb_connect(const struct sockaddr_storage *ss, socklen_t len, int type, int timeout_ms,
                      bool nonblock);

static void
sb_put_be32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static uint64_t
sb_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static char *
sb_slot(const struct sb_run *r, const struct sb_ack *a, uint64_t seq)
{
	return a->ring + (size_t)(seq & (a->nslots - 1)) * r->wire;
}

/* Formats frame seq of connection c into its slot: L, seq, key header, stamp, padding. */
static int
sb_format_ack(struct sb_thread *t, struct sb_conn *c, uint64_t seq, uint64_t now)
{
	const struct sb_run *r = t->r;
	uint32_t size = (uint32_t)r->o.size;
	uint64_t key = sb_key(t);
	uint32_t prefix = sb_prefix_len(r, key, 0);
	char *p = sb_slot(r, c->ack, seq);
	int rc;

	if (prefix >= size)
		return -EMSGSIZE;
	sb_put_be32(p, size + 8);
	sb_put_be32(p + 4, (uint32_t)(seq >> 32));
	sb_put_be32(p + 8, (uint32_t)seq);
	p += SB_ACK_HDR;
	p[0] = (char)((prefix - 2) >> 8);
	p[1] = (char)(prefix - 2);
	p[2] = 'k';
	slc_stamp_put_u64(p + 3, key);
	rc = slc_stamp_format(p + prefix, size - prefix, key, c->id, seq, now, size - prefix);
	if (rc < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg),
		         "--size %" PRId64 " no longer holds the stamp (connection %" PRIu32
		         ", seq %" PRIu64 "); use a larger --size",
		         r->o.size, c->id, seq);
		return rc;
	}
	return 0;
}

/* The connection broke: close it and plan the next try. */
static void
sb_ack_down(struct sb_conn *c, uint64_t now)
{
	struct sb_ack *a = c->ack;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	a->state = SB_ACK_DOWN;
	if (a->down_since_ns == 0)
		a->down_since_ns = now;
	a->backoff_ns = a->backoff_ns == 0
	                        ? SB_BACKOFF_MIN_NS
	                        : (a->backoff_ns * 2 > SB_BACKOFF_MAX_NS ? SB_BACKOFF_MAX_NS
	                                                                 : a->backoff_ns * 2);
	a->retry_ns = now + a->backoff_ns;
}

/* Reads the greeting and acks: 0, or -1 when the connection must go down. */
static int
sb_ack_read(struct sb_thread *t, struct sb_conn *c)
{
	struct sb_ack *a = c->ack;

	for (;;) {
		uint32_t want = a->state == SB_ACK_GREETING ? 16 : 8;
		ssize_t n = recv(c->fd, a->rx + a->rx_len, want - a->rx_len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1; /* EOF or reset: the daemon went away */
		a->rx_len += (uint32_t)n;
		if (a->rx_len < want)
			continue;
		a->rx_len = 0;
		if (a->state == SB_ACK_GREETING) {
			uint32_t w = (uint32_t)(sb_be64(a->rx + 8) >> 32);

			if (memcmp(a->rx, "SLAK\0\1", 6) != 0 || w == 0) {
				snprintf(t->errmsg, sizeof(t->errmsg),
				         "connection %" PRIu32 ": no len32+ack greeting (is the "
				         "listener ?framing=len32+ack?)",
				         c->id);
				return -2;
			}
			a->window = w < a->nslots ? w : a->nslots;
			a->state = SB_ACK_UP;
			a->down_since_ns = 0;
			a->backoff_ns = 0;
			/* Everything not acknowledged goes again, from the oldest. */
			a->wseq = a->acked + 1;
			a->wseq_off = 0;
			continue;
		}
		{
			uint64_t v = sb_be64(a->rx);

			if (v < a->acked || v >= a->next) {
				snprintf(t->errmsg, sizeof(t->errmsg),
				         "connection %" PRIu32 ": ack %" PRIu64 " outside %" PRIu64
				         "..%" PRIu64,
				         c->id, v, a->acked, a->next - 1);
				return -2;
			}
			a->acked = v;
			a->last_ack_ns = bench_now_ns(); /* now was read before the wait */
			if (a->wseq <= v) { /* cannot happen: acks follow what was written */
				a->wseq = v + 1;
				a->wseq_off = 0;
			}
		}
	}
}

/* Writes what it can: 0, or -1 when the connection must go down. */
static int
sb_ack_write(struct sb_thread *t, struct sb_conn *c)
{
	const struct sb_run *r = t->r;
	struct sb_ack *a = c->ack;

	for (;;) {
		/* Frames up to lim - 1: those formatted, within the window of the last ack. */
		uint64_t lim =
		        a->next < a->acked + 1 + a->window ? a->next : a->acked + 1 + a->window;
		uint64_t run_end = lim, written;
		size_t len;
		ssize_t n;

		if (a->wseq >= lim)
			return 0;
		/* Contiguous in the ring up to its end. */
		if ((a->wseq & (a->nslots - 1)) + (run_end - a->wseq) > a->nslots)
			run_end = a->wseq + (a->nslots - (a->wseq & (a->nslots - 1)));
		len = (size_t)(run_end - a->wseq) * r->wire - a->wseq_off;
		if (len > SB_TCP_BATCH)
			len = SB_TCP_BATCH;
		do
			n = send(c->fd, sb_slot(r, a, a->wseq) + a->wseq_off, len,
			         MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? 0 : -1;
		atomic_fetch_add_explicit(&t->bytes, (uint64_t)n, memory_order_relaxed);
		written = (a->wseq_off + (uint64_t)n) / r->wire;
		a->wseq_off = (uint32_t)((a->wseq_off + (uint64_t)n) % r->wire);
		for (uint64_t s = a->wseq; s < a->wseq + written; s++) {
			if (s <= a->max_sent)
				a->resent++;
			else
				a->max_sent = s;
		}
		a->wseq += written;
	}
}

static int
sb_thread_run_acks(struct sb_thread *t)
{
	const struct sb_run *r = t->r;
	uint64_t start = r->start_ns, issued = 0, wait_end = 0;
	uint64_t end = r->duration_ns ? start + r->duration_ns : UINT64_MAX;
	uint64_t reconnect_ns = (uint64_t)r->o.reconnect_for * 1000000000u;

	for (;;) {
		uint64_t now = bench_now_ns(), due = UINT64_MAX, wake = now + SB_WAIT_NS;
		bool stopping = atomic_load_explicit(&sb_stop, memory_order_relaxed) || now >= end;
		uint32_t npfd = 0, live = 0;

		if (t->rate_per_ns > 0) {
			double d = floor((double)(now - start) * t->rate_per_ns) + 1;

			due = (uint64_t)d;
			if (due <= issued) {
				uint64_t at = start + (uint64_t)ceil((double)due / t->rate_per_ns);

				wake = at < wake ? at : wake;
			}
		}
		for (uint32_t j = 0; j < t->nconns; j++) {
			struct sb_conn *c = &t->conns[j];
			struct sb_ack *a = c->ack;
			int rc;

			if (stopping && a->quota > a->next - 1)
				a->quota =
				        a->next - 1; /* no new frames; what is out still counts */
			if (a->state == SB_ACK_DONE)
				continue;
			if (a->acked >= a->quota) {
				if (c->fd >= 0)
					close(c->fd);
				c->fd = -1;
				a->state = SB_ACK_DONE;
				continue;
			}
			live++;
			if (a->state == SB_ACK_DOWN) {
				if (now - a->down_since_ns > reconnect_ns ||
				    (wait_end != 0 && now > wait_end)) {
					a->gave_up = true;
					a->state = SB_ACK_DONE;
					continue;
				}
				if (now < a->retry_ns) {
					wake = a->retry_ns < wake ? a->retry_ns : wake;
					continue;
				}
				c->fd = sb_connect(&r->addr, r->addr_len, SOCK_STREAM, 1000, true);
				if (c->fd < 0) {
					c->fd = -1;
					sb_ack_down(c, now);
					wake = a->retry_ns < wake ? a->retry_ns : wake;
					continue;
				}
				a->state = SB_ACK_GREETING;
				a->greet_by_ns = 0;
				a->rx_len = 0;
				a->reconnects++;
			}
			if (a->state == SB_ACK_GREETING) {
				if (a->greet_by_ns == 0)
					a->greet_by_ns = now + SB_CONNECT_MS * 1000000ull;
				if (now > a->greet_by_ns) {
					snprintf(t->errmsg, sizeof(t->errmsg),
					         "connection %" PRIu32
					         ": no greeting within %u ms (is "
					         "the listener ?framing=len32+ack?)",
					         c->id, SB_CONNECT_MS);
					return -ETIMEDOUT;
				}
			}
			rc = sb_ack_read(t, c);
			if (rc == -2)
				return -EPROTO;
			if (rc == 0 && a->state == SB_ACK_UP) {
				/* New frames, as the window, the quota and the rate allow. */
				while (a->next <= a->quota && a->next - 1 - a->acked < a->window &&
				       issued < due) {
					if (sb_format_ack(t, c, a->next, now) != 0)
						return -EMSGSIZE;
					a->next++;
					issued++;
					atomic_fetch_add_explicit(&t->msgs, 1,
					                          memory_order_relaxed);
				}
				rc = sb_ack_write(t, c);
			}
			if (rc != 0) {
				sb_ack_down(c, now);
				wake = a->retry_ns < wake ? a->retry_ns : wake;
				continue;
			}
			t->pfd[npfd].fd = c->fd;
			t->pfd[npfd].events = POLLIN;
			if (a->state == SB_ACK_UP && a->wseq < (a->next < a->acked + 1 + a->window
			                                                ? a->next
			                                                : a->acked + 1 + a->window))
				t->pfd[npfd].events |= POLLOUT;
			npfd++;
		}
		if (live == 0)
			return 0;
		/* Sending is over (quota or time): the last acks get --reconnect-for at most. */
		if (wait_end == 0) {
			bool sending = false;

			for (uint32_t j = 0; j < t->nconns; j++)
				sending |= t->conns[j].ack->next <= t->conns[j].ack->quota;
			if (!sending)
				wait_end = now + reconnect_ns;
		} else if (now > wait_end) {
			for (uint32_t j = 0; j < t->nconns; j++)
				if (t->conns[j].ack->state != SB_ACK_DONE) {
					t->conns[j].ack->gave_up = true;
					t->conns[j].ack->state = SB_ACK_DONE;
					if (t->conns[j].fd >= 0)
						close(t->conns[j].fd);
					t->conns[j].fd = -1;
				}
			return 0;
		}
		sb_wait(t->pfd, npfd, now, wake);
	}
}

static pthread_barrier_t sb_go;

static void *
sb_thread_main(void *arg)
{
	struct sb_thread *t = arg;

	pthread_barrier_wait(&sb_go);
	t->err = t->r->o.acks ? sb_thread_run_acks(t) : sb_thread_run(t);
	t->end_ns = bench_now_ns();
	if (t->err != 0)
		atomic_store_explicit(&sb_stop, true, memory_order_relaxed);
	/* R1: pairs with A1 in main's wait for the threads */
	atomic_store_explicit(&t->done, true, memory_order_release);
	return NULL;
}

/* ---- addresses, connections -------------------------------------------------------- */

/*
 * "HOST:PORT[rest]" or "[V6]:PORT[rest]" resolved into *ss; *rest after the port.
 * Returns 0, -EINVAL if s does not read so, or -ENOENT after saying why on stderr.
 */
static int
sb_resolve(const char *s, int type, struct sockaddr_storage *ss, socklen_t *len, const char **rest)
{
	struct addrinfo hints = {.ai_socktype = type}, *ai;
	char host[256], port[8];
	const char *colon, *end;
	size_t hl, pl;
	int rc;

	end = colon = strchr(s, ':');
	if (*s == '[') {
		end = strchr(s++, ']');
		colon = end != NULL && end[1] == ':' ? end + 1 : NULL;
	}
	if (colon == NULL)
		return -EINVAL;
	hl = (size_t)(end - s);
	pl = strspn(colon + 1, "0123456789");
	if (hl == 0 || hl >= sizeof(host) || pl == 0 || pl >= sizeof(port))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl);
	port[pl] = '\0';
	*rest = colon + 1 + pl;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, SB_PROG ": %s:%s: %s\n", host, port, gai_strerror(rc));
		return -ENOENT;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* A socket connected to ss within timeout_ms (non-blocking if asked), or -errno. */
static int
sb_connect(const struct sockaddr_storage *ss, socklen_t len, int type, int timeout_ms,
           bool nonblock)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err = 0, one = 1, rc;
	socklen_t elen = sizeof(err);
	struct pollfd p;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)ss, len) != 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto err_close;
		}
		p = (struct pollfd){.fd = fd, .events = POLLOUT};
		rc = poll(&p, 1, timeout_ms);
		if (rc != 1) {
			err = rc == 0 ? ETIMEDOUT : errno;
			goto err_close;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			err = errno;
		if (err != 0)
			goto err_close;
	}
	/* Paced batches are small: Nagle would hold them back and add to the latency. */
	if (type == SOCK_STREAM)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		err = errno;
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return -err;
}

/* ---- metrics ----------------------------------------------------------------------- */

/* GET the metrics page into *buf (grown as needed) and parse it; 0 or -errno. */
static int
sb_scrape(const struct sb_run *r, char **buf, size_t *cap, struct bench_prom_sample *out)
{
	struct timeval tv = {.tv_sec = SB_SCRAPE_TIMEOUT};
	char req[512];
	size_t got = 0;
	const char *body;
	int fd, rc, n;

	fd = sb_connect(&r->maddr, r->maddr_len, SOCK_STREAM, SB_SCRAPE_TIMEOUT * 1000, false);
	if (fd < 0)
		return fd;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %.*s\r\n\r\n", r->mpath,
	             r->mhost_len, r->o.metrics + 7);
	if (n <= 0 || (size_t)n >= sizeof(req)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	rc = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 ? 0 : -errno;
	if (rc == 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		rc = -EIO;
	while (rc == 0) {
		ssize_t k;

		if (*cap - got < 65536) {
			char *nb = realloc(*buf, *cap * 2);

			if (nb == NULL) {
				rc = -ENOMEM;
				break;
			}
			*buf = nb;
			*cap *= 2;
		}
		k = recv(fd, *buf + got, *cap - got - 1, 0);
		if (k == 0)
			break;
		if (k < 0 && errno != EINTR)
			rc = -errno;
		if (k > 0)
			got += (size_t)k;
	}
	close(fd);
	if (rc != 0)
		return rc;
	(*buf)[got] = '\0';
	body = strstr(*buf, "\r\n\r\n");
	if (strncmp(*buf, "HTTP/1.", 7) != 0 || strncmp(*buf + 8, " 200", 4) != 0 || body == NULL)
		return -EPROTO;
	bench_prom_parse(body + 4, out);
	return 0;
}

/* ---- set-up ------------------------------------------------------------------------ */

static void
sb_usage(FILE *f)
{
	fprintf(f, "usage: " SB_PROG " [options]: stamped messages to sluiced over TCP or UDP; "
	           "see the top of perf/sluice_bench.c\n");
	bench_opt_table_print(f, sb_opt_table, SB_NOPTS);
}

static int
sb_bad(const char *what, const char *val)
{
	fprintf(stderr, SB_PROG ": %s: '%s'\n", what, val);
	return -EINVAL;
}

/* Options into r, with every refusal explained on stderr; 0 or -EINVAL. */
static int
sb_setup(struct sb_run *r, int argc, char **argv)
{
	struct sb_opts *o = &r->o;
	uint64_t dur_s, seq_max, ns_max, key_max, per_conn;
	uint32_t hdr_len = 0, need;
	const char *rest;
	int rc;

	if (bench_opt_table_parse(o, sb_opt_table, SB_NOPTS, SB_PROG, argc, argv) != 0)
		return -EINVAL;
	if (o->help)
		return 0;
	if (strncmp(o->target, "tcp://", 6) != 0 && strncmp(o->target, "udp://", 6) != 0)
		return sb_bad("--target wants tcp://HOST:PORT or udp://HOST:PORT", o->target);
	r->udp = o->target[0] == 'u';
	rc = sb_resolve(o->target + 6, r->udp ? SOCK_DGRAM : SOCK_STREAM, &r->addr, &r->addr_len,
	                &rest);
	if (rc == -EINVAL || (rc == 0 && *rest != '\0'))
		return sb_bad("--target wants tcp://HOST:PORT or udp://HOST:PORT", o->target);
	if (rc != 0)
		return rc;
	if (o->metrics != NULL) {
		rc = strncmp(o->metrics, "http://", 7) != 0
		             ? -EINVAL
		             : sb_resolve(o->metrics + 7, SOCK_STREAM, &r->maddr, &r->maddr_len,
		                          &rest);
		if (rc == -EINVAL || (rc == 0 && *rest != '\0' && *rest != '/'))
			return sb_bad("--metrics wants http://HOST:PORT[/PATH]", o->metrics);
		if (rc != 0)
			return rc;
		r->mhost_len = (int)(rest - (o->metrics + 7));
		r->mpath = *rest == '/' ? rest : "/metrics";
	}
	if (o->acks && strcmp(o->framing_name, "lines") == 0)
		o->framing_name = "len32"; /* the default; --acks means len32 */
	if (slc_frame_format_parse(o->framing_name, &r->framing) != 0)
		return sb_bad("--framing wants lines, len32 or syslog", o->framing_name);
	if (o->acks && (r->framing != SLC_FRAME_LEN32 || o->target[0] != 't'))
		return sb_bad("--acks speaks len32+ack over TCP; it takes --framing len32 and a "
		              "tcp:// --target",
		              o->framing_name);
	if (strncmp(o->dist, "zipf:", 5) == 0) {
		char *end;
		double s = strtod(o->dist + 5, &end);

		if (end == o->dist + 5 || *end != '\0' || !(s > 0 && s <= 100))
			return sb_bad("--dist zipf:S wants an exponent S in (0, 100]", o->dist);
		zipf_init(&r->zipf, (uint64_t)o->keys, s);
		r->zipf_on = true;
	} else if (strcmp(o->dist, "uniform") != 0) {
		return sb_bad("--dist wants uniform or zipf:S", o->dist);
	}
	if (o->threads > o->connections) {
		fprintf(stderr,
		        SB_PROG ": --threads %" PRId64 " is more than --connections %" PRId64 "\n",
		        o->threads, o->connections);
		return -EINVAL;
	}
	if (r->udp && o->size > SB_UDP_SIZE_MAX) {
		fprintf(stderr, SB_PROG ": --size over UDP is at most %u bytes\n", SB_UDP_SIZE_MAX);
		return -EINVAL;
	}
	if (o->duration == 0 && o->count == 0)
		o->duration = 10;
	r->duration_ns = (uint64_t)o->duration * 1000000000u;

	/* The stamp grows with seq and send_ns: refuse now a --size that would not hold the
	 * last message rather than fail midway (a run past these bounds still fails cleanly,
	 * in sb_fill). */
	dur_s = o->duration ? (uint64_t)o->duration : 10;
	seq_max = o->count ? (uint64_t)o->count
	                   : (o->rate ? (uint64_t)o->rate : SB_SEQ_PER_S_GUESS) * dur_s;
	ns_max = bench_now_ns() + (dur_s + 86400) * 1000000000u;
	key_max = (uint64_t)o->keys - 1;
	if (gethostname(r->host_name, sizeof(r->host_name)) != 0)
		strcpy(r->host_name, "-");
	r->host_name[sizeof(r->host_name) - 1] = '\0';
	r->host_name[strcspn(r->host_name, ". ")] = '\0';
	if (r->host_name[0] == '\0')
		strcpy(r->host_name, "-");
	if (r->framing == SLC_FRAME_SYSLOG)
		hdr_len = (uint32_t)snprintf(
		        NULL, 0, "<14>1 1970-01-01T00:00:00Z %s " SB_PROG " - - - ", r->host_name);
	need = sb_prefix_len(r, key_max, hdr_len) +
	       slc_stamp_len(key_max, (uint32_t)o->connections - 1, seq_max, ns_max);
	if ((uint64_t)o->size < need) {
		fprintf(stderr,
		        SB_PROG ": --size %" PRId64
		                " is too small: %s messages of this run need at "
		                "least %" PRIu32 " bytes for the stamp%s\n",
		        o->size, o->framing_name, need,
		        r->framing == SLC_FRAME_LINES ? "" : " and the header");
		return -EINVAL;
	}
	r->wire = (uint32_t)o->size;
	if (!r->udp && r->framing == SLC_FRAME_LINES)
		r->wire += 1;
	else if (!r->udp && r->framing == SLC_FRAME_LEN32)
		r->wire += o->acks ? SB_ACK_HDR : 4;
	else if (!r->udp)
		r->wire += slc_stamp_digits((uint64_t)o->size) + 1;
	/* Batches of 64 KiB (TCP) or 64 datagrams, smaller when there are so many connections
	 * that their buffers would pass SB_BUFFERS_MAX. */
	per_conn = SB_BUFFERS_MAX / (uint64_t)o->connections;
	r->batch = (uint32_t)((r->udp ? SB_UDP_BATCH * (uint64_t)r->wire : SB_TCP_BATCH) / r->wire);
	if ((uint64_t)r->batch * r->wire > per_conn)
		r->batch = (uint32_t)(per_conn / r->wire);
	if (r->batch == 0)
		r->batch = 1;
	return 0;
}

/* Connects every socket and gives each thread its share; 0 or -errno (with a message). */
static int
sb_threads_init(struct sb_run *r, struct sb_thread *ts, struct sb_conn *cs, struct pollfd *pfd)
{
	const struct sb_opts *o = &r->o;
	uint64_t nt = (uint64_t)o->threads, seed = bench_now_ns();

	for (uint32_t i = 0; i < nt; i++) {
		struct sb_thread *t = &ts[i];

		t->r = r;
		/* Connections i, i + T, ... are this thread's: contiguous below. */
		t->conns = cs + (size_t)i * ((uint64_t)o->connections / nt) +
		           (i < o->connections % nt ? i : (uint64_t)o->connections % nt);
		t->nconns = (uint32_t)((uint64_t)o->connections / nt + (i < o->connections % nt));
		t->pfd = pfd + (t->conns - cs);
		t->quota = o->count ? (uint64_t)o->count / nt + (i < (uint64_t)o->count % nt)
		                    : UINT64_MAX;
		t->rate_per_ns = (double)o->rate / (double)nt / 1e9;
		t->rng = seed + i * 0x632be59bd9b4e019u;
		for (uint32_t j = 0; j < t->nconns; j++)
			t->conns[j].id = i + j * (uint32_t)nt;
	}
	for (int64_t i = 0; i < o->connections; i++) {
		struct sb_conn *c = &cs[i];
		size_t bytes = (size_t)r->batch * r->wire;

		c->fd = -1;
		c->buf = malloc(bytes);
		if (c->buf == NULL)
			return -ENOMEM;
		if (o->acks) {
			/* The unacknowledged frames: at most SB_ACK_SLOTS_MAX, and the
			 * connection's share of SB_BUFFERS_MAX. */
			uint64_t fit = SB_BUFFERS_MAX / (uint64_t)o->connections / r->wire;
			uint32_t slots = 1;

			while (slots * 2u <= SB_ACK_SLOTS_MAX && slots * 2u <= fit)
				slots *= 2;
			c->ack = calloc(1, sizeof(*c->ack));
			if (c->ack == NULL)
				return -ENOMEM;
			c->ack->nslots = slots;
			c->ack->ring = malloc((size_t)slots * r->wire);
			if (c->ack->ring == NULL)
				return -ENOMEM;
			c->ack->next = 1;
			c->ack->wseq = 1;
			c->ack->quota = o->count
			                        ? (uint64_t)o->count / (uint64_t)o->connections +
			                                  (c->id < (uint64_t)o->count %
			                                                   (uint64_t)o->connections)
			                        : UINT64_MAX;
			c->ack->state = SB_ACK_GREETING;
		}
		if (r->udp) {
			c->mm = calloc(r->batch, sizeof(*c->mm));
			c->iov = calloc(r->batch, sizeof(*c->iov));
			if (c->mm == NULL || c->iov == NULL)
				return -ENOMEM;
			for (uint32_t k = 0; k < r->batch; k++) {
				c->iov[k].iov_base = c->buf + (size_t)k * r->wire;
				c->iov[k].iov_len = r->wire;
				c->mm[k].msg_hdr.msg_iov = &c->iov[k];
				c->mm[k].msg_hdr.msg_iovlen = 1;
			}
		}
		c->fd = sb_connect(&r->addr, r->addr_len, r->udp ? SOCK_DGRAM : SOCK_STREAM,
		                   SB_CONNECT_MS, true);
		if (c->fd < 0) {
			fprintf(stderr,
			        SB_PROG ": cannot connect to %s (connection %" PRId64 " of %" PRId64
			                "): %s\n",
			        o->target, i + 1, o->connections, strerror(-c->fd));
			return c->fd;
		}
	}
	return 0;
}

/* ---- report ------------------------------------------------------------------------ */

struct sb_result {
	uint64_t sent, bytes;
	double seconds;
	bool metrics, has_processed, has_drops;
	double processed, processed_s, loss, drops;
	double p[3]; /* p50, p99, p99.9 in seconds; < 0: unknown */
	double lat_samples;
	/* --acks */
	uint64_t acked, resent, missing, reconnects;
	double acked_s;
	bool gave_up;
};

static const double sb_q[3] = {0.5, 0.99, 0.999};

/* "12.3 us", or "-" */
static const char *
sb_us(char *buf, size_t cap, double s)
{
	if (s < 0)
		return "-";
	snprintf(buf, cap, "%.1f us", s * 1e6);
	return buf;
}

static void
sb_progress(const struct sb_run *r, struct sb_thread *ts, uint64_t now, uint64_t *last_msgs,
            uint64_t *last_ns, const struct bench_prom_sample *prev,
            const struct bench_prom_sample *cur)
{
	uint64_t msgs = 0;
	char a[32], b[32];
	double dt = (double)(now - *last_ns) / 1e9, p50 = -1, p99 = -1, rate;

	for (int64_t i = 0; i < r->o.threads; i++)
		msgs += atomic_load_explicit(&ts[i].msgs, memory_order_relaxed);
	rate = (double)(msgs - *last_msgs) / dt; /* over the last tick, as the latencies */
	if (cur != NULL) {
		p50 = bench_prom_quantile(&prev->lat, &cur->lat, 0.5, NULL);
		p99 = bench_prom_quantile(&prev->lat, &cur->lat, 0.99, NULL);
	}
	printf("\r%7.1f s  sent %" PRIu64 "  %.0f msgs/s  %.1f MB/s  p50 %s  p99 %s\033[K",
	       (double)(now - r->start_ns) / 1e9, msgs, rate, rate * r->wire / 1e6,
	       sb_us(a, sizeof(a), p50), sb_us(b, sizeof(b), p99));
	fflush(stdout);
	*last_msgs = msgs;
	*last_ns = now;
}

/* Polls the metrics until processed reaches sent, stands still for 1 s, or the wait ends. */
static void
sb_drain(const struct sb_run *r, char **buf, size_t *cap, const struct bench_prom_sample *before,
         struct bench_prom_sample *after, struct sb_result *res, uint64_t send_end)
{
	uint64_t deadline = send_end + (uint64_t)r->o.wait_drain * 1000000000u;
	uint64_t seen_ns = send_end, still_since = send_end;
	double last = -1;

	for (;;) {
		uint64_t now;
		double d;
		int rc = sb_scrape(r, buf, cap, after);

		now = bench_now_ns();
		if (rc != 0) {
			fprintf(stderr, SB_PROG ": scrape of %s after the run failed: %s\n",
			        r->o.metrics, strerror(-rc));
			res->metrics = false;
			return;
		}
		d = after->processed - before->processed;
		if (d != last) {
			last = d;
			seen_ns = still_since = now;
		}
		if (!after->has_processed || d >= (double)res->sent ||
		    now - still_since >= SB_DRAIN_STILL_NS || now >= deadline)
			break;
		nanosleep(&(struct timespec){.tv_nsec = SB_DRAIN_POLL_NS}, NULL);
	}
	res->has_processed = after->has_processed;
	res->processed = last;
	res->processed_s = (double)(seen_ns - r->start_ns) / 1e9;
	res->loss = (double)res->sent - last;
	res->has_drops = after->has_udp_drops;
	res->drops = after->udp_drops - before->udp_drops;
	for (int i = 0; i < 3; i++)
		res->p[i] =
		        bench_prom_quantile(&before->lat, &after->lat, sb_q[i], &res->lat_samples);
}

static void
sb_report(const struct sb_run *r, const struct sb_result *res)
{
	const struct sb_opts *o = &r->o;
	double rate = (double)res->sent / res->seconds,
	       mb = (double)res->bytes / 1e6 / res->seconds;
	char a[32], b[32], c[32];

	if (o->csv) {
		if (!o->no_header)
			printf("transport,connections,size,framing,rate,keys,dist,sent,seconds,"
			       "msgs_per_s,mb_per_s,processed,processed_msgs_per_s,loss,p50_us,"
			       "p99_us,p999_us%s\n",
			       o->acks ? ",acked,acked_msgs_per_s,resent,missing,reconnects" : "");
		printf("%s,%" PRId64 ",%" PRId64 ",%s,%" PRId64 ",%" PRId64 ",%s,%" PRIu64
		       ",%.3f,%.0f,%.2f,",
		       r->udp ? "udp" : "tcp", o->connections, o->size, o->framing_name, o->rate,
		       o->keys, o->dist, res->sent, res->seconds, rate, mb);
		if (res->has_processed)
			printf("%.0f,%.0f,%.0f,", res->processed, res->processed / res->processed_s,
			       res->loss);
		else
			printf(",,,");
		for (int i = 0; i < 3; i++) {
			if (res->p[i] >= 0)
				printf("%.1f", res->p[i] * 1e6);
			printf(i < 2 || o->acks ? "," : "\n");
		}
		if (o->acks)
			printf("%" PRIu64 ",%.0f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", res->acked,
			       (double)res->acked / res->acked_s, res->resent, res->missing,
			       res->reconnects);
		return;
	}
	printf("%s, %" PRId64 " connections, %" PRId64 " thread%s, %" PRId64 "-byte %s, %" PRId64
	       " keys %s, rate ",
	       o->target, o->connections, o->threads, o->threads > 1 ? "s" : "", o->size,
	       o->framing_name, o->keys, o->dist);
	printf(o->rate ? "%" PRId64 "/s\n" : "max\n", o->rate);
	printf("sent       %" PRIu64 " msgs  %" PRIu64 " bytes  %.2f s  %.0f msgs/s  %.1f MB/s\n",
	       res->sent, res->bytes, res->seconds, rate, mb);
	if (o->acks)
		printf("acked      %" PRIu64 " msgs  %.2f s  %.0f msgs/s  resent %" PRIu64
		       "  missing %" PRIu64 "  reconnects %" PRIu64 "%s\n",
		       res->acked, res->acked_s, (double)res->acked / res->acked_s, res->resent,
		       res->missing, res->reconnects,
		       res->gave_up ? "  (gave up reconnecting)" : "");
	if (!res->metrics)
		return;
	if (res->has_processed)
		printf("processed  %.0f msgs  %.2f s  %.0f msgs/s  loss %.0f\n", res->processed,
		       res->processed_s, res->processed / res->processed_s, res->loss);
	else
		printf("processed  - (no " BENCH_PROM_PROCESSED " in the scrape)\n");
	printf("latency    p50 %s  p99 %s  p99.9 %s  (%.0f samples of " BENCH_PROM_LATENCY ")\n",
	       sb_us(a, sizeof(a), res->p[0]), sb_us(b, sizeof(b), res->p[1]),
	       sb_us(c, sizeof(c), res->p[2]), res->lat_samples);
	if (r->udp && res->has_drops)
		printf("udp drops  %.0f (" BENCH_PROM_UDP_DROPS ")\n", res->drops);
}

/* ---- main -------------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	static struct sb_run r;
	struct sb_result res = {.p = {-1, -1, -1}};
	struct bench_prom_sample *ps = NULL; /* [0] before the run, [1] and [2] live, alternating */
	struct sigaction sa = {.sa_handler = sb_on_signal};
	struct sb_thread *ts = NULL;
	struct sb_conn *cs = NULL;
	struct pollfd *pfd = NULL;
	size_t cap = 1 << 18;
	char *buf = NULL;
	uint64_t last_msgs = 0, last_ns, end_ns = 0;
	bool live, failed = false;
	int rc = 1, live_i = 1;

	if (sb_setup(&r, argc, argv) != 0)
		return 1;
	if (r.o.help) {
		sb_usage(stdout);
		return 0;
	}
	live = isatty(STDOUT_FILENO) && !r.o.csv && !r.o.quiet;
	if ((uint64_t)r.o.connections + 64 > bench_raise_nofile())
		fprintf(stderr, SB_PROG ": warning: the open-file limit may be too low\n");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ts = calloc((size_t)r.o.threads, sizeof(*ts));
	cs = calloc((size_t)r.o.connections, sizeof(*cs));
	pfd = calloc((size_t)r.o.connections, sizeof(*pfd));
	ps = calloc(3, sizeof(*ps));
	buf = malloc(cap);
	if (ts == NULL || cs == NULL || pfd == NULL || ps == NULL || buf == NULL) {
		fprintf(stderr, SB_PROG ": out of memory\n");
		goto out;
	}
	if (r.o.metrics != NULL) {
		int err = sb_scrape(&r, &buf, &cap, &ps[0]);

		if (err != 0) {
			fprintf(stderr, SB_PROG ": cannot scrape %s: %s\n", r.o.metrics,
			        strerror(-err));
			goto out;
		}
		ps[1] = ps[0];
		res.metrics = true;
	}
	if (sb_threads_init(&r, ts, cs, pfd) != 0)
		goto out_close;

	pthread_barrier_init(&sb_go, NULL, (unsigned)r.o.threads + 1);
	for (int64_t i = 0; i < r.o.threads; i++) {
		int err = pthread_create(&ts[i].tid, NULL, sb_thread_main, &ts[i]);

		if (err != 0)
			bench_die(SB_PROG ": pthread_create: %s\n", strerror(err));
	}
	r.start_ns = last_ns = bench_now_ns();
	pthread_barrier_wait(&sb_go);
	for (;;) {
		uint64_t now = bench_now_ns();
		bool all = true;

		for (int64_t i = 0; i < r.o.threads; i++) {
			/* A1: pairs with R1 in sb_thread_main */
			all &= atomic_load_explicit(&ts[i].done, memory_order_acquire);
		}
		if (all)
			break;
		if (live && now - last_ns >= SB_TICK_NS) {
			const struct bench_prom_sample *cur = NULL;

			if (res.metrics && sb_scrape(&r, &buf, &cap, &ps[3 - live_i]) == 0) {
				live_i = 3 - live_i;
				cur = &ps[live_i];
			}
			sb_progress(&r, ts, now, &last_msgs, &last_ns, &ps[3 - live_i], cur);
		}
		nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
	}
	if (live)
		printf("\r\033[K");
	for (int64_t i = 0; i < r.o.threads; i++) {
		pthread_join(ts[i].tid, NULL);
		res.sent += atomic_load_explicit(&ts[i].msgs, memory_order_relaxed);
		res.bytes += atomic_load_explicit(&ts[i].bytes, memory_order_relaxed);
		end_ns = ts[i].end_ns > end_ns ? ts[i].end_ns : end_ns;
		if (ts[i].err != 0) {
			fprintf(stderr, SB_PROG ": thread %" PRId64 ": %s\n", i, ts[i].errmsg);
			failed = true;
		}
	}
	pthread_barrier_destroy(&sb_go);
	if (failed)
		goto out_close;
	if (r.o.acks) {
		uint64_t last = r.start_ns;

		for (int64_t i = 0; i < r.o.connections; i++) {
			const struct sb_ack *a = cs[i].ack;

			res.acked += a->acked;
			res.resent += a->resent;
			res.missing += a->next - 1 - a->acked;
			res.reconnects += a->reconnects;
			res.gave_up |= a->gave_up;
			last = a->last_ack_ns > last ? a->last_ack_ns : last;
		}
		res.acked_s = last > r.start_ns ? (double)(last - r.start_ns) / 1e9 : 1e-9;
	}
	res.seconds = end_ns > r.start_ns ? (double)(end_ns - r.start_ns) / 1e9 : 1e-9;
	if (r.o.rate > 0 && (double)res.sent / res.seconds < 0.99 * (double)r.o.rate)
		fprintf(stderr,
		        SB_PROG ": warning: sent %.0f msgs/s, under --rate %" PRId64 ": the sender "
		                "fell behind, and latency leaves out how late messages started\n",
		        (double)res.sent / res.seconds, r.o.rate);
	if (res.metrics)
		sb_drain(&r, &buf, &cap, &ps[0], &ps[1], &res, end_ns);
	sb_report(&r, &res);
	rc = 0;
	if (res.has_processed && !r.udp && res.loss > 0) {
		fprintf(stderr,
		        SB_PROG ": TCP lost %.0f messages (or they were still in flight after "
		                "--wait-drain %" PRId64 " s)\n",
		        res.loss, r.o.wait_drain);
		rc = 2;
	}
	if (r.o.acks && (res.missing > 0 || res.gave_up)) {
		fprintf(stderr, SB_PROG ": %" PRIu64 " frames were never acknowledged%s\n",
		        res.missing, res.gave_up ? "; a connection gave up reconnecting" : "");
		rc = 3;
	}

out_close:
	for (int64_t i = 0; cs != NULL && i < r.o.connections; i++) {
		if (cs[i].fd >= 0 && cs[i].buf != NULL)
			close(cs[i].fd);
		if (cs[i].ack != NULL)
			free(cs[i].ack->ring);
		free(cs[i].ack);
		free(cs[i].buf);
		free(cs[i].mm);
		free(cs[i].iov);
	}
out:
	free(ts);
	free(cs);
	free(pfd);
	free(ps);
	free(buf);
	return rc;
}
