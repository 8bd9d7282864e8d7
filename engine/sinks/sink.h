/* SPDX-License-Identifier: MIT */
/* sink.h: where workers deliver messages: the interface every sink implements. */
#ifndef SLC_ENGINE_SINK_H
#define SLC_ENGINE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "msg.h"
#include "reactor.h" /* struct slc_listener_cfg */
#include "retry.h"   /* struct slc_retry_cfg */

/*
 * A sink is created once per daemon from its --sink value and opened once per worker, so
 * that workers share nothing on the hot path (each file sink worker owns its own segment
 * files, each forward worker its own connection). A worker calls write() with a batch
 * and, once write() returns, releases the batch's buffers: write() must be done with the
 * bytes when it returns (copied, written, or sent). A sink that cannot keep up makes
 * write() take longer; the worker's ring then fills and the reactor pauses the
 * connections that feed it, which is the backpressure path (no unbounded buffering).
 *
 *   parse_spec (flag parsing) --> create --> worker_open (per worker, on the worker's
 *   thread) --> write ... flush --> worker_close (per worker) --> destroy
 *
 * A sink is two tables. struct slc_sink_desc is what the flag parser knows of it: its
 * scheme, its --sink syntax check and its own flags; it needs nothing but libc, so that
 * the flag parser (and its fuzzer) link no sink library. struct slc_sink_ops is the sink
 * itself, with a pointer to its desc. registry.h lists both, one line per sink.
 *
 * Every function returns 0 or -errno unless it says otherwise; a sink counts its own
 * errors and names them in a rate-limited log line.
 */

struct slc_cfg_opt;
struct slc_metrics_buf;
struct slc_sink_desc;

#define SLC_SINK_ARG_LEN 4096 /* a --sink value after its scheme, NUL included: PATH_MAX */

/* A --sink value, parsed by its desc's parse_spec: syntax only, nothing opened. */
struct slc_sink_spec {
	const struct slc_sink_desc *desc;
	uint16_t port; /* where the spec names a port (forward: 1..65535); else 0 */
	/* What follows the scheme, as the sink reads it back (forward: HOST, an IPv6 address
	 * without its []; plugin: PATH.so[?ARG]; kafka: BROKERS/TOPIC[?...]; null: "") */
	char arg[SLC_SINK_ARG_LEN];
};

/*
 * What the flag parser knows of a sink. Static; libc only (no I/O, no library).
 */
struct slc_sink_desc {
	const char *name;   /* "kafka": log lines, metrics labels */
	const char *scheme; /* "kafka://": a --sink value starts with it ("null": is it) */
	const char *syntax; /* "kafka://BROKERS/TOPIC", for --sink's allowed values */
	const char *help;   /* one or two sentences for --sink's help, "kafka: ..." */
	/* Why "NAME:..." without the scheme is refused, where the scheme is not "NAME:"
	 * ("unknown kind; kafka is kafka://BROKERS/TOPIC"); NULL: "unknown kind". */
	const char *unknown_hint;
	/*
	 * Checks arg (what follows the scheme; never empty, shorter than SLC_SINK_ARG_LEN) and
	 * fills out->arg and out->port. Returns 0, or -EINVAL with *why a static phrase naming
	 * what is wrong ("no :PORT in 1..65535 at the end"). NULL: any arg is taken as is.
	 */
	int (*parse_spec)(const char *arg, struct slc_sink_spec *out, const char **why);
	/* Writes the spec back as --sink takes it, after the scheme ("[fd00::1]:6000") into
	 * buf[len]. NULL: arg as it is. */
	void (*format)(const struct slc_sink_spec *spec, char *buf, size_t len);
	/*
	 * The sink's own flags (--fsync, --forward-batch, ...), in help order, each an
	 * offset into the sink's settings block of settings_size bytes (at most 8-aligned),
	 * which the flag parser keeps for every sink (a sink's flags may be given with
	 * another sink, except SLC_CFG_F_SINK_ONLY ones) and create gets as env->settings.
	 */
	const struct slc_cfg_opt *flags;
	uint32_t nflags;
	uint32_t settings_size;
};

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

/* What create gets besides the spec: the daemon's settings that any sink may use. */
struct slc_sink_env {
	const void *settings; /* the sink's flags (desc->settings_size bytes); NULL: none */
	uint32_t workers;     /* worker indexes 0..workers-1 */
	uint32_t drain_timeout_ms;
	slc_sink_key_fn key_fn; /* the message's key (--key); NULL: none */
	void *key_ctx;
	/* NULL: slc_log_stderr. */
	slc_log_fn log;
	void *log_ctx;
	const struct slc_listener_cfg *listen; /* the daemon's listeners (what comes in) */
	uint32_t nlisten;
	/* --retry-*, --breaker-*: how a sink that waits on a peer retries (retry.h) */
	struct slc_retry_cfg retry;
	/* --dead-letter DIR (dead_letter.h); NULL: none (nothing is given up: wait) */
	const char *dead_letter_dir;
};

struct slc_sink_ops {
	const char *name; /* desc->name */
	const struct slc_sink_desc *desc;
	/* Creates the sink from its parsed --sink value and env; the reason of a refusal is
	 * logged. NULL with *err: the sink's own create's errors (its header lists them). */
	void *(*create)(const struct slc_sink_spec *spec, const struct slc_sink_env *env, int *err);
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
	/*
	 * Group commit: sync() without waiting, for acknowledged delivery at full speed.
	 * commit: everything write() took so far is durable once ticket *ticket is resolved;
	 * a sync starts unless one is running, and the next one covers every batch written
	 * meanwhile. 0, or -errno: nothing was started, and those messages are not durable.
	 * commit_poll: the tickets up to *done are resolved (wait: blocks until every ticket
	 * handed out is); 0 when those resolved since the last call are durable, -errno when
	 * a sync among them failed (none of them is then durable; counted and logged by the
	 * sink). Tickets grow from 1; *ticket <= *done: already durable. Both NULL: the
	 * daemon calls sync() per batch.
	 */
	int (*commit)(struct slc_sink_worker *w, uint64_t *ticket);
	int (*commit_poll)(struct slc_sink_worker *w, bool wait, uint64_t *done);
	/*
	 * Makes every blocked and later write, flush, sync and worker_close give up with
	 * -ECANCELED: the daemon calls it at --drain-timeout for a sink that waits on a peer
	 * (what it holds is lost, and counted by its status op). Any thread; async-signal-safe;
	 * cannot be undone. NULL: the sink cannot be cancelled (it waits only on the kernel or
	 * on user code), and the daemon's watchdog ends the process instead.
	 */
	void (*cancel)(void *sink);
	/* SIGHUP: reopen files (log rotation). Called on the worker's thread. May be NULL. */
	int (*reopen)(struct slc_sink_worker *w);
	/* Flushes and frees the worker's state. Accepts NULL. */
	void (*worker_close)(struct slc_sink_worker *w);
	/* Frees the sink. Accepts NULL. */
	void (*destroy)(void *sink);
	/* Fills *out (struct slc_sink_status). Any thread, between create and destroy. May
	 * be NULL: the sink loses nothing that write() accepted, and reports no deliveries. */
	void (*status)(void *sink, struct slc_sink_status *out);
	/* Renders the sink's own metric families (metrics.h) into b: any thread, between
	 * create and destroy. May be NULL: the sink exposes none. */
	void (*metrics)(void *sink, struct slc_metrics_buf *b);
};

#endif /* SLC_ENGINE_SINK_H */
