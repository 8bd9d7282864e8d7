/* SPDX-License-Identifier: MIT */
/* forward_priv.h: the forward sink's state, shared by forward.c and forward_worker.c only. */
#ifndef SLC_ENGINE_SINKS_FORWARD_PRIV_H
#define SLC_ENGINE_SINKS_FORWARD_PRIV_H

#include <netdb.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/addr.h"
#include "common.h"
#include "dead_letter.h"
#include "forward.h"
#include "base/assert.h"
#include "base/compiler.h" /* SLC_CACHE_LINE */

#define LOG_PER_SEC 5
#define HOST_MAX    SLC_ADDR_HOST_MAX /* a DNS name's longest text form */
#define PEER_MAX    SLC_ADDR_STR_MAX  /* "[" HOST "]:65535" and its NUL */
#define DRAIN_READS 16 /* recv() calls spent emptying the receive queue before close */

/* One worker's counters, on lines of their own: the worker adds, any thread reads. */
struct wstats {
	alignas(SLC_CACHE_LINE) _Atomic uint64_t messages;
	_Atomic uint64_t bytes;
	_Atomic uint64_t batches;
	_Atomic uint64_t connects;
	_Atomic uint64_t reconnects;
	_Atomic uint64_t connect_failures;
	_Atomic uint64_t disconnects;
	_Atomic uint64_t resent_batches;
	_Atomic uint64_t cancelled;
	_Atomic uint64_t dead_lettered; /* messages given up after --retry-max-elapsed */
	struct slc_retry_counters retry;
	/* For health: when the batch being sent started waiting (0: none waits), and the
	 * error of the last connect attempt (0: it worked). */
	_Atomic uint64_t waiting_since_ns;
	_Atomic int connect_err;
};

static_assert(sizeof(struct wstats) % SLC_CACHE_LINE == 0, "no line shared by two workers");

struct slc_sink_forward {
	struct slc_sink_forward_cfg cfg; /* defaults filled in; cfg.host points at host */
	char host[HOST_MAX + 1];
	char peer[PEER_MAX]; /* "host:port" or "[v6]:port", for logs */
	struct addrinfo *addrs;
	/* An eventfd that cancel makes readable and nobody ever reads: every poll of a
	 * blocked worker includes it, so one write wakes them all, now and later. */
	int cancel_fd;
	_Atomic bool cancelled;
	struct slc_dead_letter *dead_letter; /* cfg.dead_letter_dir's; NULL: none */
	struct wstats *st;                   /* [SLC_SINK_FORWARD_WORKERS_MAX] */
	_Atomic bool claimed[SLC_SINK_FORWARD_WORKERS_MAX];
};

/*
 * A worker's state: what sink.h calls struct slc_sink_worker. buf[0, used) holds the
 * re-framed messages of the current batch, msgs of them; they are the messages that
 * write() has accepted and the kernel has not yet taken.
 */
struct slc_sink_forward_worker {
	struct slc_sink_forward *sink;
	struct wstats *st;
	uint32_t worker;
	int fd;           /* the connection; -1: none, the next send makes one */
	bool ever_up;     /* a connection was made before: the next one is a reconnect */
	bool carried;     /* the connection carried a whole batch */
	uint64_t wait_ns; /* wait before the next connect attempt; 0: none */
	struct slc_retry retry;
	struct slc_breaker breaker;
	uint32_t cap; /* batch_bytes */
	uint32_t used;
	uint32_t msgs;
	uint64_t dropped; /* messages this worker gave up on after cancel: its closing line */
	struct slc_log_limit log_limit;
	struct slc_log_limit notice_limit; /* breaker open and closed, dead letters */
	uint8_t *buf;
};

static inline bool
is_cancelled(const struct slc_sink_forward *s)
{
	/* A1: pairs with R1 in slc_sink_forward_cancel (only the flag itself matters). */
	return atomic_load_explicit(&s->cancelled, memory_order_acquire);
}

/* The worker's operations (forward_worker.c), as sink.h describes them. */
int slc_sink_forward_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out);
int slc_sink_forward_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n);
int slc_sink_forward_flush(struct slc_sink_worker *sw);
void slc_sink_forward_worker_close(struct slc_sink_worker *sw);

#endif /* SLC_ENGINE_SINKS_FORWARD_PRIV_H */
