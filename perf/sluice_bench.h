/* SPDX-License-Identifier: MIT */
/* sluice_bench.h: sluice-bench's private header: the run, its senders, and the key draw. */
#ifndef SLC_PERF_SLUICE_BENCH_H
#define SLC_PERF_SLUICE_BENCH_H

/*
 * Never included outside perf/sluice_bench*.c. The program is split along its seams:
 *   sluice_bench.c         the top comment (what --help points to), signals, main
 *   sluice_bench_opts.c    the option table, --help, checks, connections and threads set up
 *   sluice_bench_send.c    the TCP and UDP sender (framed batches), connect and wait
 *   sluice_bench_acks.c    the len32+ack sender (window, resends, reconnects)
 *   sluice_bench_report.c  the metrics scrape, progress line, drain wait and the report
 *   sluice_bench_verify.c  --verify: the file sink's segments read back, seq by seq
 *   sluice_bench_man.c     --help-man: the manual page, docs/sluice-bench.1
 *   sluice_bench_hist.h    the log-linear latency histogram (header only: a unit test uses it)
 * The key draw and the message prefix stay static inline here: the senders call them once
 * per message, as they did when everything was one file.
 */
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "bench_opts.h"
#include "frame.h"
#include "prom_scrape.h"
#include "route/stamp.h"
#include "sluice_bench_hist.h"

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
/* --protocol forward: a batch is [tag, bin] (0x92, fixstr "bench", bin32 header) and each
 * entry [EventTime, {"log": str}]: the 0x92, 10 bytes of time, 0x81, fixstr "log". */
#define SB_FWD_BATCH_HDR 12u
#define SB_FWD_ENTRY_HDR 16u
/* --forward-chunk: the batch is [tag, bin, {"chunk": ID}], ID SB_FWD_ID_LEN characters; the
 * ack {"ack": ID} that sluiced answers is SB_FWD_ACK_LEN bytes. */
#define SB_FWD_ID_LEN  16u
#define SB_FWD_OPT_LEN (8u + SB_FWD_ID_LEN)
#define SB_FWD_ACK_LEN (6u + SB_FWD_ID_LEN)

struct ssl_ctx_st;
struct ssl_st;

struct sb_opts {
	const char *target;
	const char *framing_name;
	const char *dist;
	const char *metrics;
	const char *verify;   /* the file sink's DIR */
	const char *protocol; /* "framed" (--framing over --target), "forward" or "otlp" */
	int64_t connections, threads, size, keys, rate, duration, count, wait_drain;
	int64_t reconnect_for;
	int64_t otlp_batch; /* --batch: records per OTLP request */
	bool csv, json, no_header, quiet, help, help_man, acks, forward_chunk;
	bool tls;           /* --tls: a TLS session on each TCP connection */
	const char *tls_ca; /* --tls-ca: verify the server against it; NULL: no check */
};

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
	bool forward; /* --protocol forward: PackedForward batches (framing=forward) */
	bool otlp;    /* --protocol otlp: POST /v1/logs (sluice_bench_otlp.c) */
	enum slc_frame_format framing;
	struct sb_zipf zipf;
	bool zipf_on;
	char host_name[64]; /* for syslog headers */
	uint32_t wire;      /* bytes per message on the socket */
	uint32_t batch;     /* messages per batch */
	uint64_t duration_ns;
	uint64_t start_ns;
	struct ssl_ctx_st *tls_ctx; /* --tls (sluice_bench_tls.c) */
};

/* --acks: one connection's frames from its oldest unacknowledged one on. */
enum sb_ack_state { SB_ACK_GREETING, SB_ACK_UP, SB_ACK_DOWN, SB_ACK_DONE };

struct sb_ack {
	char *ring;        /* nslots frames of wire bytes; frame s in slot s & (nslots - 1) */
	uint64_t *sent_ns; /* nslots: when frame s was first formatted, for its latency */
	uint32_t nslots;   /* a power of two */
	uint32_t window;   /* frames in flight at most: min(the greeting's W, nslots) */
	uint64_t quota;    /* frames to send in all; UINT64_MAX: until the duration ends */
	uint64_t next;     /* the next new frame's seq (frames 1 .. next-1 are formatted) */
	uint64_t acked;    /* the highest ack received: frames 1 .. acked are durable */
	uint64_t wseq;     /* the frame being written, wseq_off bytes of it already out */
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
	uint32_t off, len;    /* TCP: bytes; UDP: datagrams */
	uint32_t nmsg;        /* messages in the batch being written */
	struct ssl_st *ssl;   /* --tls: the session; NULL: plain */
	uint8_t fwd_time[10]; /* --protocol forward: the batch's EventTime */
	bool fwd_wait;        /* --forward-chunk: its batch goes, then its ack is awaited */
	uint32_t fwd_rx;      /* bytes of that ack read so far */
	uint64_t fwd_batches; /* chunks sent: the next chunk's number */
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
	uint64_t send_end_ns; /* when its last message went out (--acks: before the wait for
	                         the last acks); 0 until then */
	int err;
	char errmsg[160];
	uint64_t acks_end_ns; /* --acks: when the last ack came */
	struct sb_hist *lat;  /* --acks: send to ack of every frame; this thread's alone */
	_Alignas(64) _Atomic uint64_t msgs;
	_Atomic uint64_t bytes;
	_Atomic bool done;
};

/* Where the latency figures came from. */
enum sb_lat_source {
	SB_LAT_NONE,
	SB_LAT_ACKS,    /* every frame: first formatted to its ack (sluice-bench's clock) */
	SB_LAT_METRICS, /* every stamped message, stamp to delivered: sluiced's histogram */
};

#define SB_NQ 4 /* p50, p95, p99, p99.9 */

struct sb_result {
	uint64_t sent, bytes;
	double seconds;
	bool metrics, has_processed, has_drops;
	double processed, processed_s, unprocessed, drops;
	enum sb_lat_source lat_source;
	double p[SB_NQ];         /* in seconds; < 0: unknown */
	double lat_min, lat_max; /* in seconds; < 0: unknown */
	double lat_samples;
	double dp[SB_NQ];    /* --metrics: received to delivered, in seconds; < 0: unknown */
	struct sb_hist *lat; /* --acks: every thread's, merged */
	/* --verify */
	bool verify;
	uint64_t verified;    /* this run's records found (copies counted once) */
	uint64_t missing;     /* sent, not in DIR */
	uint64_t duplicated;  /* copies beyond the first */
	uint64_t dup_allowed; /* --acks: frames resent, which at-least-once may store twice */
	uint64_t unexpected;  /* this run's stamp, a seq it never sent */
	uint64_t foreign;     /* records of other runs or without a stamp: skipped */
	uint64_t damaged;     /* DAMAGE and TORN events of the reader */
	/* --acks */
	uint64_t acked, resent, unacked, reconnects;
	double acked_s;
	bool gave_up;
};

/* Set by a signal or a failed sender: every sender finishes its batches and returns. */
extern atomic_bool sb_stop;

/* ---- keys -------------------------------------------------------------------------- */

static inline double
zipf_helper1(double x)
{
	return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

static inline double
zipf_helper2(double x)
{
	return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

static inline double
zipf_hint(const struct sb_zipf *z, double x)
{
	double lx = log(x);

	return zipf_helper2((1 - z->s) * lx) * lx;
}

static inline double
zipf_h(const struct sb_zipf *z, double x)
{
	return exp(-z->s * log(x));
}

static inline double
zipf_hint_inv(const struct sb_zipf *z, double x)
{
	double t = x * (1 - z->s);

	return exp(zipf_helper1(t < -1 ? -1 : t) * x);
}

static inline uint64_t
sb_rand(uint64_t *state)
{
	uint64_t x = (*state += 0x9e3779b97f4a7c15u); /* splitmix64 */

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* A key id in [0, keys): rank 1 of the zipf law is key 0. */
static inline uint64_t
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

/* --protocol forward: the bytes of the "log" value's str header for a --size of size. */
static inline uint32_t
sb_fwd_str_hdr(uint32_t size)
{
	uint32_t v = size - (SB_FWD_ENTRY_HDR - 1); /* the value with a 1-byte header */

	return v - 1 < 32 ? 1 : v - 2 < 256 ? 2 : 3;
}

/* Bytes a message of this key puts before its stamp (the key header; the syslog header;
 * a forward entry's time, map and key, and the str header of its value, but not the 0x92
 * before them, which is framing). */
static inline uint32_t
sb_prefix_len(const struct sb_run *r, uint64_t key, uint32_t syslog_len)
{
	if (r->forward)
		return SB_FWD_ENTRY_HDR - 1 + sb_fwd_str_hdr((uint32_t)r->o.size);
	if (r->framing == SLC_FRAME_LEN32)
		return 2 + 1 + slc_stamp_digits(key);
	return r->framing == SLC_FRAME_SYSLOG ? syslog_len : 0;
}

/* sluice_bench_opts.c: options into r, with every refusal explained on stderr; 0 or
 * -EINVAL (-ENOENT: a name that does not resolve). */
int sb_setup(struct sb_run *r, int argc, char **argv);
void sb_usage(FILE *f);
/* --help-man: docs/sluice-bench.1, its OPTIONS from the option table (sluice_bench_man.c). */
void sb_man(FILE *f);
/* The option table (sluice_bench_opts.c), for the manual page. */
const struct bench_opt *sb_opts_table(size_t *n);
/* Connects every socket and gives each thread its share; 0 or -errno (with a message). */
int sb_threads_init(struct sb_run *r, struct sb_thread *ts, struct sb_conn *cs, struct pollfd *pfd);

/* sluice_bench_tls.c (--tls): setup makes the client context (0, -ENOMEM, -EINVAL: a
 * --tls-ca that does not load, said on stderr); start runs a connection's handshake on its
 * non-blocking socket (0, -EPROTO, -ETIMEDOUT: said on stderr); write is send(2)'s
 * contract (-1 and errno: EAGAIN when the socket is full, EPIPE, EPROTO); close sends
 * close_notify and frees the session. */
int sb_tls_setup(struct sb_run *r);
void sb_tls_fini(struct sb_run *r);
int sb_tls_start(const struct sb_run *r, struct sb_conn *c);
ssize_t sb_tls_write(struct sb_conn *c, const void *buf, size_t len);
void sb_tls_close(struct sb_conn *c);

/* sluice_bench_send.c: a socket connected to ss within timeout_ms (non-blocking if asked),
 * or -errno. */
int sb_connect(const struct sockaddr_storage *ss, socklen_t len, int type, int timeout_ms,
               bool nonblock);
/* Sleeps until the absolute monotonic time until_ns, or until a socket in pfd is writable. */
void sb_wait(struct pollfd *pfd, uint32_t n, uint64_t now, uint64_t until_ns);
/* A sender thread's run over TCP or UDP: 0, or -errno with t->errmsg set. */
int sb_thread_run(struct sb_thread *t);

/* sluice_bench_acks.c: a sender thread's run with --acks: 0, or -errno with t->errmsg set
 * (-ETIMEDOUT: no greeting; -EPROTO: a bad greeting or ack; -EMSGSIZE). */
int sb_thread_run_acks(struct sb_thread *t);

/* sluice_bench_otlp.c: a sender thread's run with --protocol otlp: 0, or -errno with
 * t->errmsg set (-EPROTO: a response other than a full success or a 503). */
int sb_thread_run_otlp(struct sb_thread *t);
/* Bytes of a connection's buffer for one request of r->batch records. */
size_t sb_otlp_req_cap(const struct sb_run *r);

/* sluice_bench_report.c: GET the metrics page into *buf (grown as needed) and parse it; 0 or
 * -errno. */
int sb_scrape(const struct sb_run *r, char **buf, size_t *cap, struct bench_prom_sample *out);
void sb_progress(const struct sb_run *r, struct sb_thread *ts, uint64_t now, uint64_t *last_msgs,
                 uint64_t *last_ns, const struct bench_prom_sample *prev,
                 const struct bench_prom_sample *cur);
/* Polls the metrics until processed reaches sent, stands still for 1 s, or the wait ends. */
void sb_drain(const struct sb_run *r, char **buf, size_t *cap,
              const struct bench_prom_sample *before, struct bench_prom_sample *after,
              struct sb_result *res, uint64_t send_end);
void sb_report(const struct sb_run *r, const struct sb_result *res);

/* sluice_bench_verify.c: reads --verify DIR's segments until every seq sent on cs is there,
 * the count of missing ones stands still for 1 s, or --wait-drain s pass; fills res's
 * --verify fields. 0, or -errno of listing DIR or reading a segment (-ENOMEM). */
int sb_verify(const struct sb_run *r, const struct sb_conn *cs, struct sb_result *res);

#endif /* SLC_PERF_SLUICE_BENCH_H */
