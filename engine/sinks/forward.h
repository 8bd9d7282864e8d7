/* SPDX-License-Identifier: MIT */
/* forward.h: the forward sink (--sink forward:HOST:PORT): batched TCP to a downstream peer. */
#ifndef SLC_ENGINE_SINKS_FORWARD_H
#define SLC_ENGINE_SINKS_FORWARD_H

#include <stdint.h>

#include "frame.h"
#include "retry.h"
#include "sink.h"

/*
 * Each worker has its own TCP connection to HOST:PORT and its own batch buffer, so
 * workers share no lock and no socket. write() re-frames messages (lines: payload then
 * LF; len32: a 4-byte big-endian length then the payload) into the buffer and sends it
 * when it is full; flush() sends what is buffered. A message larger than the buffer goes
 * out on its own, uncopied (writev). TCP_NODELAY stays off: the batching is ours.
 *
 * A worker's connection:
 *
 *   (none) --first send--> CONNECTING --ok--> UP --send fails, peer sends FIN--> LOST
 *                             ^  |                                              |
 *                             |  +--refused, timeout: wait backoff--+           |
 *                             +-------------------------------------+-----------+
 *
 * worker_open does not connect: a peer that is down at start-up delays nothing and fails
 * nothing; the first batch connects, and a failure is logged. Failed attempts (a refused
 * or timed-out connect, a connection lost before it carried a batch) are retried as
 * retry.h says, with cfg.retry: waits drawn from [0, d], d starting at --retry-initial
 * and doubling up to --retry-max ("full jitter": workers that lost the peer together do
 * not come back in step), counted by reason. Each worker has a circuit breaker: after
 * --breaker-failures failed attempts in a row it opens, the worker makes no attempt for
 * --breaker-cooldown, then one probe; a connection closes it again. Each change is
 * logged (rate-limited) and counted. The first attempt after a connection that carried a
 * whole batch is immediate; the wait goes back to its minimum once a batch gets through.
 *
 * With cfg.retry.max_elapsed_ms (and a dead-letter queue, which the daemon requires for
 * it), a batch that could not be sent for that long since its first failure is given up:
 * its messages go to cfg.dead_letter with the reason "retries_exhausted", and the worker
 * goes on with the next batch (its breaker still spares the peer).
 *
 * Delivery: a batch is sent until the kernel has taken all of it, reconnecting as often
 * as it takes, so write() and flush() block while the peer is slow or away: that is the
 * backpressure path (the worker's ring fills, the reactor pauses its connections). When a
 * connection is lost in the middle of a batch, the whole batch is sent again on the next
 * connection (the new stream must start at a frame boundary): at-least-once across a
 * reconnect; the peer may see the first frames of that batch twice, and may see a
 * truncated frame at the end of the lost connection, which it must drop. The bytes of
 * earlier batches that the kernel had taken before a reset may or may not have reached
 * the peer: TCP does not say which, and they are not sent again. A peer that goes away
 * in order (shuts down its sending side, then reads until our FIN) loses nothing: a FIN
 * from the peer ends the connection at the next batch, gracefully. A peer that vanishes
 * without a FIN or RST is noticed only by TCP's own retransmission timeout.
 *
 * Shutdown: worker_close flushes, so it blocks while the peer is away. After its drain
 * timeout, the daemon calls slc_sink_forward_cancel(): every blocked and later write,
 * flush and worker_close gives up at once. Every message a write() was given is then
 * counted once: in stats.messages when the kernel took its batch, else in
 * stats.cancelled, whether an earlier write() had accepted it into the buffer or the
 * write() that returns -ECANCELED was given it (sink.h, struct slc_sink_status: the daemon
 * does not count that batch again). A worker logs one line at its first drop and its
 * exact total when it closes.
 *
 * Health (the status op's health): a worker that has had a batch waiting longer than
 * stall_ms, because the peer cannot be reached or takes no bytes, makes the sink
 * unhealthy, with the reason; it is healthy again once that batch has gone. A sink with
 * nothing to send is healthy whatever the peer's state: it connects only to send.
 */

#define SLC_SINK_FORWARD_WORKERS_MAX         256u /* worker indexes 0..255 (pool.h's cap) */
#define SLC_SINK_FORWARD_BATCH_BYTES_DEFAULT (64u << 10)
#define SLC_SINK_FORWARD_BATCH_BYTES_MIN     1024u
#define SLC_SINK_FORWARD_BATCH_BYTES_MAX     (16u << 20) /* --forward-batch's bounds */
#define SLC_SINK_FORWARD_CONNECT_TIMEOUT_MS  2000u
#define SLC_SINK_FORWARD_STALL_MS            2000u

struct slc_sink_forward_cfg {
	const char *host; /* a name, an IPv4 address, or an IPv6 address with or without [] */
	uint16_t port;    /* 1..65535 */
	enum slc_frame_format framing; /* SLC_FRAME_LINES or SLC_FRAME_LEN32 */
	uint32_t batch_bytes;          /* per worker; 0: _DEFAULT; else _MIN.._MAX */
	struct slc_retry_cfg retry;    /* backoff and breaker (retry.h); zeros: defaults */
	/* --dead-letter DIR (dead_letter.h), made by create; NULL: none, and then
	 * retry.max_elapsed_ms must be 0 (nothing may be given up without a place for it) */
	const char *dead_letter_dir;
	uint32_t connect_timeout_ms; /* one connect attempt; 0: _DEFAULT (2000) */
	uint32_t sndbuf_bytes;       /* SO_SNDBUF; 0: the kernel's autotuning */
	/* A batch that waits this long for the peer (to connect, or to take its bytes) makes
	 * the sink unhealthy until it goes; 0: _DEFAULT (2000). */
	uint32_t stall_ms;
	/* At most a few lines a second per worker. NULL: slc_log_stderr. */
	slc_log_fn log;
	void *log_ctx;
};

/* Totals over all workers, since create. */
struct slc_sink_forward_stats {
	uint64_t messages;         /* messages whose batch the kernel took whole (once each) */
	uint64_t bytes;            /* their bytes on the wire, framing included (once each) */
	uint64_t batches;          /* batches sent, counting a large message as one */
	uint64_t connects;         /* connections made, the first of each worker included */
	uint64_t reconnects;       /* connections made after one was lost */
	uint64_t connect_failures; /* failed connect attempts (refused, timed out, ...) */
	uint64_t disconnects;      /* connections lost (reset, FIN from the peer, error) */
	uint64_t resent_batches;   /* batches sent again on a new connection */
	uint64_t cancelled;        /* messages given up because of cancel (see above) */
	uint64_t dead_lettered;    /* messages written to the dead letters (see above) */
};

/* The forward sink's flags (forward_spec.c), as create gets them in env->settings. */
struct slc_sink_forward_settings {
	uint32_t batch_bytes; /* --forward-batch */
	int framing;          /* --forward-framing: SLC_SINK_FORWARD_LINES or _LEN32 */
};
enum {
	SLC_SINK_FORWARD_LINES,
	SLC_SINK_FORWARD_LEN32,
};

/* What the flag parser knows of it: forward:HOST:PORT, --forward-batch, --forward-framing. */
extern const struct slc_sink_desc slc_sink_forward_desc;

/*
 * Creates the sink: checks cfg and resolves HOST (getaddrinfo; every address it gives is
 * tried in turn at each connect). Nothing connects here. The reason of a refusal is
 * logged. Returns NULL with *err:
 *   -EINVAL   cfg or host NULL, an empty or malformed host, a name that does not resolve,
 *             port 0, a framing other than lines and len32, a size out of bounds, a
 *             retry cfg that slc_retry_cfg_check refuses, a max_elapsed_ms without a
 *             dead_letter_dir;
 *   the errors of slc_dead_letter_create (-ENOTDIR, -EBUSY, -EACCES, ...);
 *   -EAGAIN   the name server did not answer (a temporary failure: try again);
 *   -ENOMEM, or the error of eventfd() (-EMFILE, ...).
 */
void *slc_sink_forward_create(const struct slc_sink_forward_cfg *cfg, int *err);

/*
 * The sink's operations (sink.h). worker_open refuses a worker index >= WORKERS_MAX
 * (-EINVAL) or one that is open already (-EBUSY), or fails with -ENOMEM. write and flush
 * return 0 once their messages are in the batch buffer or in the kernel's socket buffer,
 * or -ECANCELED after slc_sink_forward_cancel (the messages of the buffer and those of
 * that call not yet sent are then dropped and counted in stats.cancelled). There is no reopen. Stats stay readable until
 * destroy; destroy must come after every worker_close.
 */
extern const struct slc_sink_ops slc_sink_forward_ops;

/* Sums the workers' counters; any thread, any time between create and destroy. */
void slc_sink_forward_stats(void *sink, struct slc_sink_forward_stats *out);

/*
 * Makes every blocked write, flush and worker_close give up with -ECANCELED (or return,
 * for worker_close), and every later one at once. For shutdown after the drain timeout;
 * cannot be undone. Any thread, any time between create and destroy; async-signal-safe.
 */
void slc_sink_forward_cancel(void *sink);

#endif /* SLC_ENGINE_SINKS_FORWARD_H */
