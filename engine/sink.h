/* SPDX-License-Identifier: MIT */
/* sink.h: where workers deliver messages: the interface every sink implements. */
#ifndef SLC_ENGINE_SINK_H
#define SLC_ENGINE_SINK_H

#include <stdint.h>

#include "msg.h"

/*
 * A sink is created once per daemon from its --sink value and opened once per worker, so
 * that workers share nothing on the hot path (each file sink worker owns its own segment
 * files, each forward worker its own connection). A worker calls write() with a batch
 * and, once write() returns, releases the batch's buffers: write() must be done with the
 * bytes when it returns (copied, written, or sent). A sink that cannot keep up makes
 * write() take longer; the worker's ring then fills and the reactor pauses the
 * connections that feed it, which is the backpressure path (no unbounded buffering).
 *
 *   create --> worker_open (per worker, on the worker's thread) --> write ... flush
 *          --> worker_close (per worker) --> destroy
 *
 * Every function returns 0 or -errno unless it says otherwise; a sink counts its own
 * errors and names them in a rate-limited log line.
 */

/* The key of a message, for sinks that store it (file): 0 with *key and *key_len, or -ENOENT. */
typedef int (*slc_sink_key_fn)(void *ctx, const struct slc_msg *m, const uint8_t **key,
                               uint32_t *key_len);

struct slc_sink_worker;

/*
 * What a sink says about itself (the optional status op). Totals since create.
 *
 * Every message a worker hands to write() ends in exactly one of: delivered; in a batch
 * whose write() failed (the daemon counts the whole batch lost: "refused"); or, for a sink
 * with a status op, undelivered at the drain timeout, counted by the sink. A sink with a
 * status op that returns -ECANCELED from write() (it was cancelled at --drain-timeout) has
 * counted the batch itself, the messages it delivered as delivered and the others as
 * undelivered, and the daemon does not count it again.
 */
struct slc_sink_status {
	/* Messages the sink delivered, as far as it can tell (forward: the kernel took them;
	 * TCP says no more). */
	uint64_t delivered;
	/* Messages given up at --drain-timeout: accepted by an earlier write() (buffered) or
	 * given to a write() that returned -ECANCELED. A batch cut by the cancel may have
	 * reached the destination in part; its messages count here. */
	uint64_t undelivered_drain_timeout;
	/* "" while the sink can deliver; otherwise why it cannot, for /healthz (forward: the
	 * peer cannot be reached, or takes nothing; file: creates, writes or syncs fail). */
	char health[512];
};

struct slc_sink_ops {
	const char *name;
	/* Called on worker `worker`'s thread before its first write. */
	int (*worker_open)(void *sink, uint32_t worker, struct slc_sink_worker **out);
	/* Delivers msgs[0..n). Blocks while the destination is slow. -errno: the batch was
	 * not delivered whole (counted; the daemon logs it); -ECANCELED from a sink with a
	 * status op: see struct slc_sink_status. 0 may leave out messages the sink refuses
	 * one by one (refused, below): the others were delivered. */
	int (*write)(struct slc_sink_worker *w, const struct slc_msg *msgs, uint32_t n);
	/*
	 * After a write() that returned 0: how many of its messages the sink refused one by
	 * one, because it cannot store that message at all (the file sink: a key longer
	 * than its format holds), and their indexes in that write's msgs, ascending, in
	 * *idx (valid until the next write). Such a message is lost (the sink counts and
	 * logs it by reason); it is not a failure of the batch: the other messages were
	 * delivered, and sync() makes them durable, so one bad message does not cost its
	 * neighbours (acknowledged ones from other connections among them). NULL: the sink
	 * refuses no single message.
	 */
	uint32_t (*refused)(struct slc_sink_worker *w, const uint32_t **idx);
	/* Makes everything written durable or sent, as far as the sink promises (fsync for
	 * file). Called at drain and by the worker when it goes idle. 1: part of it goes on
	 * in the background (file's interval syncs): call again while idle. May be NULL. */
	int (*flush)(struct slc_sink_worker *w);
	/*
	 * Makes everything written so far durable, whatever --fsync says, for acknowledged
	 * delivery (docs/protocol.md): file: the records are fdatasync'ed; forward: the bytes
	 * are in the kernel's socket buffer (TCP promises no more without the peer's own
	 * acknowledgement); kafka: every produced message has its delivery report. Returns
	 * 0 only then; -errno otherwise (the messages are then not acknowledged). NULL: the
	 * sink cannot promise durability, and acknowledged connections are refused with it.
	 */
	int (*sync)(struct slc_sink_worker *w);
	/* SIGHUP: reopen files (log rotation). Called on the worker's thread. May be NULL. */
	int (*reopen)(struct slc_sink_worker *w);
	/* Flushes and frees the worker's state. Accepts NULL. */
	void (*worker_close)(struct slc_sink_worker *w);
	/* Frees the sink. Accepts NULL. */
	void (*destroy)(void *sink);
	/* Fills *out (struct slc_sink_status). Any thread, between create and destroy. May
	 * be NULL: the sink loses nothing that write() accepted, and reports no deliveries. */
	void (*status)(void *sink, struct slc_sink_status *out);
};

#endif /* SLC_ENGINE_SINK_H */
