/* SPDX-License-Identifier: MIT */
/* bench_net.h: loopback senders, baseline receivers and thread CPU clocks for bench_reactor. */
#ifndef SLC_PERF_BENCH_NET_H
#define SLC_PERF_BENCH_NET_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "bench_util.h"

#define BENCH_LINE_BYTES  100 /* 99 bytes and a LF */
#define BENCH_DGRAM_BYTES 100
#define BENCH_UDP_BATCH   64
/* The longest frame either receiver keeps (the reactor's cfg.max_frame, and the baselines'
 * tail and datagram buffers). */
#define BENCH_MAX_FRAME 65536
/* SO_RCVBUF(FORCE) of the baseline UDP socket: the same as the reactor's (uring/reactor.c). */
#define BENCH_UDP_RCVBUF (32u << 20)

enum bench_proto {
	BENCH_TCP,
	BENCH_UDP,
};

/* ------------------------------------------------------------------------------------ */

_Noreturn void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), cold));
pid_t bench_gettid(void);

/* CPU time of thread tid of this process in ns, or -1. */
int64_t bench_tid_cpu_ns(pid_t tid);
int64_t bench_process_cpu_ns(void);
int64_t bench_self_cpu_ns(void);

/* The thread of this process named comm, waiting up to timeout_ms for it; 0 if none. */
pid_t bench_find_thread(const char *comm, int timeout_ms);

/* Starts fn(arg) on CPU cpu (-1: not pinned); dies if it cannot. */
void bench_spawn(pthread_t *tid, int cpu, void *(*fn)(void *), void *arg);

/* Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit. */
uint64_t bench_raise_nofile(void);

/* ------------------------------------------------------------------------------------ */

/*
 * What a receiver counted. One writer (the receiving thread) publishes; the main thread
 * reads msgs and last_ns while it runs, the rest once it is joined. Messages must all have
 * msg_len bytes (checked at the end, through the sum).
 */
struct bench_sink {
	uint64_t expect;    /* TCP: the lines sent; UDP: the datagrams sent (an upper bound) */
	uint32_t msg_len;   /* 99 (a line less its LF) or 100 (a datagram) */
	bool stamp_each;    /* UDP: stamp first and last arrival */
	int done_fd;        /* eventfd, written once when msgs reaches expect */
	uint64_t msgs_mine; /* receiving thread only */
	uint64_t bytes_mine;
	uint64_t calls_mine; /* deliver calls, or receive calls that counted something */
	_Atomic uint64_t msgs;
	_Atomic uint64_t bytes;
	_Atomic uint64_t first_ns;
	_Atomic uint64_t last_ns;
	_Atomic uint64_t end_ns; /* when msgs reached expect */
};

/* Sets up s, with an eventfd; returns 0 or -errno. */
int bench_sink_init(struct bench_sink *s, uint64_t expect, uint32_t msg_len, bool stamp_each);
void bench_sink_fini(struct bench_sink *s);

/* The receiving thread counted n more messages of bytes bytes in all. */
static inline void
bench_sink_add(struct bench_sink *s, uint64_t n, uint64_t bytes)
{
	s->msgs_mine += n;
	s->bytes_mine += bytes;
	s->calls_mine++;
	atomic_store_explicit(&s->bytes, s->bytes_mine, memory_order_relaxed);
	/* R1: pairs with A1 in bench_sink_msgs */
	atomic_store_explicit(&s->msgs, s->msgs_mine, memory_order_release);
	if (s->stamp_each) {
		uint64_t now = bench_now_ns();

		if (atomic_load_explicit(&s->first_ns, memory_order_relaxed) == 0)
			atomic_store_explicit(&s->first_ns, now, memory_order_relaxed);
		atomic_store_explicit(&s->last_ns, now, memory_order_relaxed);
	}
	if (__builtin_expect(s->msgs_mine >= s->expect, 0)) {
		uint64_t one = 1;

		if (s->msgs_mine > s->expect)
			bench_die("bench_reactor: received %" PRIu64 " messages, %" PRIu64
			          " were sent\n",
			          s->msgs_mine, s->expect);
		atomic_store_explicit(&s->end_ns, bench_now_ns(), memory_order_relaxed);
		if (write(s->done_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			bench_die("bench_reactor: eventfd write: %s\n", strerror(errno));
	}
}

static inline uint64_t
bench_sink_msgs(const struct bench_sink *s)
{
	/* A1: pairs with R1 in bench_sink_add */
	return atomic_load_explicit(&s->msgs, memory_order_acquire);
}

/* ------------------------------------------------------------------------------------ */

/*
 * The sender: one thread on cpu. TCP: nconns non-blocking connections to 127.0.0.1:port,
 * count lines split evenly, written from a pre-built 64 KiB run of whole lines as fast as
 * the sockets take them (epoll, edge-triggered). UDP: one connected socket, count
 * datagrams of 100 bytes, sendmmsg 64 at a time.
 *
 * bench_tx_start returns once every connection is established; bench_tx_go lets the thread
 * send; bench_tx_join waits for its last byte; bench_tx_close closes its sockets.
 */
struct bench_tx_conn;

struct bench_tx {
	enum bench_proto proto;
	uint16_t port;
	uint32_t nconns;
	uint64_t count;
	int cpu;
	struct bench_tx_conn *conns;
	int udp_fd;
	pthread_barrier_t sync;
	pthread_t thread;
	/* Written by the thread before it returns; read after bench_tx_join. */
	uint64_t start_ns; /* the first send */
	uint64_t end_ns;   /* the last send returned */
	uint64_t cpu_ns;   /* the thread's CPU time between the two */
	/* Written before the go barrier (read by the main thread after it). */
	pid_t tid;
};

/* Builds the shared line buffer; call once before any sender starts. */
void bench_tx_init_lines(void);
void bench_tx_start(struct bench_tx *tx, enum bench_proto proto, uint16_t port, uint32_t nconns,
                    uint64_t count, int cpu);
void bench_tx_go(struct bench_tx *tx);
void bench_tx_join(struct bench_tx *tx);
void bench_tx_close(struct bench_tx *tx);

/* ------------------------------------------------------------------------------------ */

/*
 * The baseline receivers, one thread on cpu each.
 *
 * TCP: epoll (level-triggered) over a listener on 127.0.0.1 and the connections accepted
 * from it; recv() of up to 64 KiB into one buffer, again while a recv fills it (at most 16
 * times per event), split on LF with memchr. The part of a line at the end of one recv is
 * kept per connection and completed from the next, so a straddling line becomes one
 * contiguous message, as in the reactor (which copies it to a reassembly buffer).
 * Empty lines are skipped, as the reactor does.
 *
 * UDP: a socket on 127.0.0.1 with SO_RCVBUF(FORCE) BENCH_UDP_RCVBUF, recvmmsg of up to
 * 64 datagrams into 64 KiB buffers; blocking (MSG_WAITFORONE, SO_RCVTIMEO 20 ms to look at
 * the stop flag) or epoll (MSG_DONTWAIT, again while a call fills the batch).
 */
struct bench_rx {
	enum bench_proto proto;
	bool udp_epoll;
	uint32_t nconns;
	int cpu;
	int lfd;
	uint16_t port;
	struct bench_sink *sink;
	pthread_t thread;
	_Atomic pid_t tid;
	_Atomic uint32_t accepted;
	_Atomic bool stop;
};

/* Binds the socket (port 0) and starts the thread. Dies on error. */
void bench_rx_start(struct bench_rx *rx, enum bench_proto proto, bool udp_epoll, uint32_t nconns,
                    int cpu, struct bench_sink *sink);
/* The receiving thread's id, once it runs. */
pid_t bench_rx_tid(struct bench_rx *rx);
/* Stops the thread (it stops by itself once a TCP count is complete) and closes all. */
void bench_rx_stop(struct bench_rx *rx);

#endif /* SLC_PERF_BENCH_NET_H */
