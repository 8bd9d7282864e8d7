/* SPDX-License-Identifier: MIT */
/* health.c: the file sink's health: what failed, on which worker, since when (/healthz). */
#include <stdio.h>
#include <string.h>

#include "file_priv.h"

/* What failed, for /healthz (slc_file_health_text); the words follow "DIR: ". */
static const char *const fail_op_text[] = {
        [FAIL_WRITE] = "writing a segment failed",
        [FAIL_FDATASYNC] = "fdatasync of a segment failed",
        [FAIL_CREATE] = "cannot create a segment",
        [FAIL_DIR_FSYNC] = "fsync of the directory failed",
        [FAIL_SYNCFS] = "syncfs failed",
        [FAIL_CLOSE] = "closing a segment failed",
};

/*
 * A create, write or sync failed (rc, -errno): counted, and the worker is unhealthy
 * (file_status in file.c) until a write succeeds and then, but in never mode after a failed write,
 * a sync: proof that the disk takes data again, which nothing less gives (an fsync with
 * nothing to write succeeds on a full disk).
 */
void
slc_file_health_fail(struct slc_sink_file_worker *w, int rc, enum fail_op op)
{
	struct wstats *st = w->st;

	slc_sink_stat_add(&st->write_errors, 1);
	atomic_store_explicit(&st->fail_err, -rc, memory_order_relaxed);
	atomic_store_explicit(&st->fail_op, (int)op, memory_order_relaxed);
	/* Only this worker writes failing: its own last store, read relaxed. */
	if (!atomic_load_explicit(&st->failing, memory_order_relaxed)) {
		atomic_store_explicit(&st->failing_since_ns, w->io->now_ns(w->io->ctx),
		                      memory_order_relaxed);
		/* R2: pairs with A2 in slc_file_health_text: since, err and op are there first. */
		atomic_store_explicit(&st->failing, true, memory_order_release);
	}
	w->h_need_write = true;
	w->h_need_sync = w->sink->cfg.fsync != SLC_SINK_FILE_FSYNC_NEVER || op != FAIL_WRITE;
	w->h_epoch++;
}

/*
 * The worker whose failure began first names the reason: DIR, what failed and why, and
 * for how long; "" when every worker is healthy. Any thread (sink.h's status).
 */
void
slc_file_health_text(struct slc_sink_file *s, char *out, size_t cap)
{
	uint64_t now = s->io->now_ns(s->io->ctx), since = 0;
	uint32_t worker = 0, failing = 0;
	int err = 0, op = 0;

	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++) {
		const struct wstats *st = &s->st[i];
		uint64_t t;

		/* A2: pairs with R2 in slc_file_health_fail. */
		if (!atomic_load_explicit(&st->failing, memory_order_acquire))
			continue;
		t = atomic_load_explicit(&st->failing_since_ns, memory_order_relaxed);
		if (failing++ != 0 && t >= since)
			continue;
		since = t;
		worker = i;
		err = atomic_load_explicit(&st->fail_err, memory_order_relaxed);
		op = atomic_load_explicit(&st->fail_op, memory_order_relaxed);
	}
	out[0] = '\0';
	if (failing == 0)
		return;
	if ((unsigned)op >= sizeof(fail_op_text) / sizeof(fail_op_text[0]))
		op = FAIL_WRITE;
	if (failing == 1)
		snprintf(out, cap, "%s: %s: %s (worker %u, since %.1f s)", s->dir, fail_op_text[op],
		         strerror(err), worker, now > since ? (double)(now - since) * 1e-9 : 0.0);
	else
		snprintf(out, cap, "%s: %s: %s (worker %u, since %.1f s; %u workers failing)",
		         s->dir, fail_op_text[op], strerror(err), worker,
		         now > since ? (double)(now - since) * 1e-9 : 0.0, failing);
}
