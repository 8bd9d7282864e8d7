/* SPDX-License-Identifier: MIT */
/* plugin.h: the plugin sink (--sink plugin:PATH.so): a user handler loaded with dlopen. */
#ifndef SLC_ENGINE_SINKS_PLUGIN_H
#define SLC_ENGINE_SINKS_PLUGIN_H

#include <stdint.h>

#include "sink.h"

/*
 * The plugin's side of the contract is sluice_plugin.h (its ABI, threading, lifetimes and
 * compatibility rules). This side loads the shared object, checks what it exports, and
 * turns each worker's batches of struct slc_msg into arrays of struct sluice_plugin_msg:
 * a per-worker array of SLC_SINK_PLUGIN_BATCH_MAX, allocated at worker_open, so a
 * larger batch reaches the plugin as several write calls and nothing is allocated per
 * message.
 */

#define SLC_SINK_PLUGIN_WORKERS_MAX 256u /* worker indexes 0..255 (pool.h's cap) */
#define SLC_SINK_PLUGIN_BATCH_MAX   256u /* messages per call of the plugin's write */

/* Totals over all workers, since create. */
struct slc_sink_plugin_stats {
	uint64_t messages;        /* delivered: the plugin's write returned 0 for them */
	uint64_t bytes;           /* their payload bytes */
	uint64_t calls;           /* calls of the plugin's write */
	uint64_t failed_calls;    /* of those, the ones that returned an error */
	uint64_t failed_messages; /* the messages of the failed calls (not retried) */
	uint64_t errors;          /* failed flush and reopen calls */
	uint64_t poisoned;        /* messages the plugin called poison (SLUICE_PLUGIN_POISON) */
	uint64_t dead_lettered;   /* poison or given up, written to --dead-letter */
	uint64_t refused;         /* poison or given up, no dead letter: lost (refused op) */
};

/* What the flag parser knows of it (plugin_spec.c): plugin:PATH.so[?ARG]. */
extern const struct slc_sink_desc slc_sink_plugin_desc;

/*
 * Loads the plugin at path (dlopen with RTLD_NOW | RTLD_LOCAL; a path without a '/' is
 * looked up as dlopen does, not in the current directory), checks its table, and calls
 * its init with arg ("" when NULL). When arg is NULL and path has a '?', the text after
 * it is the argument ("plugin:/x/kafka.so?brokers=a,b"). Every refusal is logged, naming
 * the file and the reason (log NULL: stderr). Returns NULL with *err:
 *   -EINVAL   path NULL or empty;
 *   -ENOENT, -EACCES, ...  the file cannot be found or read;
 *   -ENOEXEC  not a loadable shared object, no symbol sluice_plugin_v1, it returns
 *             NULL, a struct_size smaller than version 1's, or no write callback;
 *   -ENOTSUP  an abi_version other than SLUICE_PLUGIN_ABI_VERSION;
 *   -ENOMEM;
 *   or the error init returned (a value that is no negative errno reads as -EIO).
 */
void *slc_sink_plugin_create(const char *path, const char *arg, slc_log_fn log, void *log_ctx,
                             int *err);

/*
 * The sink's operations (sink.h). worker_open refuses a worker index >= WORKERS_MAX
 * (-EINVAL) or one that is open already (-EBUSY), fails with -ENOMEM, or with the error
 * of the plugin's worker_open. write returns 0, or the error of the first of its calls
 * into the plugin that failed (the later chunks are still offered). A call the plugin
 * answers SLUICE_PLUGIN_RETRY_LATER is made again after a backoff (--retry-*); its
 * SLUICE_PLUGIN_POISON messages go to --dead-letter, or are named by refused (lost). flush and reopen
 * return 0 when the plugin has no such callback. worker_close flushes first. Errors are
 * counted and logged (a few lines a second per worker at most). destroy calls fini and
 * unloads the plugin; it must come after every worker_close.
 */
extern const struct slc_sink_ops slc_sink_plugin_ops;

/* Sums the workers' counters; any thread, any time between create and destroy. */
void slc_sink_plugin_stats(void *sink, struct slc_sink_plugin_stats *out);

/* The plugin's name (its table's, or the file's when it gives none); valid until destroy. */
const char *slc_sink_plugin_name(void *sink);

#endif /* SLC_ENGINE_SINKS_PLUGIN_H */
