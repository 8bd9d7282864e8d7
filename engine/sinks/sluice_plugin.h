/* SPDX-License-Identifier: MIT */
/* sluice_plugin.h: the C ABI of sluice sink plugins (--sink plugin:PATH.so); self-contained. */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

/*
 * A plugin is a shared object that exports one function, sluice_plugin_v1(), returning
 * a table of callbacks. sluiced loads it at start-up with dlopen(RTLD_NOW | RTLD_LOCAL)
 * and calls:
 *
 *   init(arg, &state)                         once, on the thread that starts the daemon
 *   worker_open(state, worker, &wstate)       once per worker, on that worker's thread
 *   write(wstate, msgs, n) ... flush(wstate)  on that worker's thread, many times
 *   reopen(wstate)                            on SIGHUP, on that worker's thread
 *   worker_close(wstate)                      once per worker, on that worker's thread
 *   fini(state)                               once, after every worker_close
 *
 * Threads: each worker has its own wstate, and the calls for one wstate never overlap,
 * so a plugin needs no lock for what lives in its wstate. Calls for different workers
 * run at the same time on different threads (worker_open and worker_close included):
 * anything the wstates share through state needs the plugin's own synchronisation.
 * Everything a worker did happens before fini.
 *
 * Messages: msgs[0..n) and the bytes they point at are valid only until write returns;
 * a plugin that keeps a message copies it. write may block: a slow write slows the
 * worker, whose queue then fills and makes sluiced pause the connections feeding it
 * (backpressure), which is right for a destination that cannot keep up. A large batch
 * reaches the plugin as several write calls.
 *
 * Returns: every int is 0, or a negative errno value (-EIO, -ENOMEM, ...). When write
 * fails, sluiced counts the batch's messages as failed and logs the error; it does not
 * call write again with them. When init fails, loading fails with that error; when
 * worker_open fails, the worker does not start.
 *
 * Two more results of write, for a plugin whose struct_size covers `poisoned` (built
 * against this header or a later one; an older plugin's positive result still reads as
 * a failure, -EIO, as it always did):
 *
 *   SLUICE_PLUGIN_RETRY_LATER  nothing of this call was delivered, and a later call may
 *       succeed (the destination is busy or away). sluiced waits (exponential backoff
 *       with full jitter, --retry-initial, --retry-max) and calls write again with the
 *       same messages, still valid, counting sluice_sink_retries_total{reason="later"};
 *       meanwhile the worker's queue fills and senders are paused, as for a slow write.
 *       With --retry-max-elapsed (and --dead-letter), a call still refused that long
 *       after its first refusal has its messages written to the dead letters.
 *   SLUICE_PLUGIN_POISON  some messages of this call can never be delivered (malformed
 *       for the destination, say); the others were delivered. poisoned() names them;
 *       sluiced writes them to --dead-letter with the reason "poison", or, without
 *       --dead-letter, counts them as lost (the exit status is then 1). They are never
 *       passed to write again.
 */
#define SLUICE_PLUGIN_RETRY_LATER 1
#define SLUICE_PLUGIN_POISON      2
/*
 *
 * Compatibility: SLUICE_PLUGIN_ABI_VERSION changes only when a change breaks existing
 * plugins, and sluiced refuses a plugin whose abi_version is not its own. Within a
 * version, fields are only ever added at the end of struct sluice_plugin_v1: a plugin
 * sets struct_size to sizeof(struct sluice_plugin_v1) as it was compiled; sluiced reads
 * the fields that struct_size covers and takes any later one as NULL or 0, so older
 * plugins keep working with newer sluiced, and newer plugins with older sluiced as long
 * as they can do without what the older one does not call.
 *
 * This header uses nothing but <stdint.h>, and its types are the ABI's own, not
 * sluiced's internal ones, which may change at any release.
 */
#include <stdint.h>

#define SLUICE_PLUGIN_ABI_VERSION 1
#define SLUICE_PLUGIN_SYMBOL      "sluice_plugin_v1"

#ifdef __cplusplus
extern "C" {
#endif

/* One message: 24 bytes on LP64. */
struct sluice_plugin_msg {
	const uint8_t *data; /* the payload, framing removed; valid during write only */
	uint32_t len;
	uint32_t key_hash; /* the routing key's hash; 0 when routing uses no key */
	uint64_t recv_ns;  /* CLOCK_MONOTONIC when sluiced received the bytes */
};

struct sluice_plugin_v1 {
	uint32_t abi_version; /* SLUICE_PLUGIN_ABI_VERSION */
	uint32_t struct_size; /* sizeof(struct sluice_plugin_v1) */
	const char *name;     /* for logs; may be NULL */
	/* arg: the plugin's argument from sluiced's configuration, "" when none; valid
	 * during init only. *state is passed to worker_open and fini. May be NULL (state
	 * is then NULL). */
	int (*init)(const char *arg, void **state);
	/* worker: 0 .. workers - 1. May be NULL (wstate is then state). */
	int (*worker_open)(void *state, uint32_t worker, void **wstate);
	/* Delivers msgs[0..n), n >= 1. Required. */
	int (*write)(void *wstate, const struct sluice_plugin_msg *msgs, uint32_t n);
	/* Makes what was written durable or sent; when the worker goes idle, and before
	 * worker_close. May be NULL. */
	int (*flush)(void *wstate);
	/* SIGHUP: reopen files (log rotation). May be NULL. */
	int (*reopen)(void *wstate);
	/* Frees wstate. May be NULL; not called when worker_open is NULL. */
	void (*worker_close)(void *wstate);
	/* Frees state. May be NULL. */
	void (*fini)(void *state);
	/* (Added within version 1; see Compatibility.) After a write that returned
	 * SLUICE_PLUGIN_POISON, on the same thread: how many of that call's messages are
	 * poison, and their indexes in its msgs (ascending, < n) in *idx, valid until the
	 * next call for wstate. May be NULL: then every message of that call is poison. Its
	 * presence in struct_size is what lets write return the two results above. */
	uint32_t (*poisoned)(void *wstate, const uint32_t **idx);
};

/* What a plugin exports. It may be called more than once; the table must stay valid
 * until the plugin is unloaded. */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
const struct sluice_plugin_v1 *
sluice_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_PLUGIN_H */
