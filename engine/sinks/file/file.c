/* SPDX-License-Identifier: MIT */
/* file.c: the file sink's ops table, its create and destroy, and a worker's life cycle. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_priv.h"
#include "sinks/claim.h"
#include "metrics/expo.h"
#include "sinks/file/spec.h"

#define REFUSED_CAP_INIT 256 /* a worker's largest batch (pool.c's burst) */
#define LOCK_NAME        "sluice.lock"
#define LOG_PER_SEC      5

/* At most LOG_PER_SEC lines a second per worker; the next line says how many were not
 * written. A full disk fails every batch, and the log must not fill what is left. */
void
slc_file_wlog(struct slc_sink_file_worker *w, const char *fmt, ...)
{
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;
	char prefix[48];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "file sink worker %u: ", w->worker);
	va_start(ap, fmt);
	slc_log_limitedv(&w->log_limit, LOG_PER_SEC, slc_mono_ns(), cfg->log, cfg->log_ctx,
	                 SLC_LOG_ERROR, prefix, fmt, ap);
	va_end(ap);
}

/* A line about DIR as a whole (recovery, the checkpoint); not rate-limited: create logs
 * one line per recovered segment, and the checkpoint's own limit keeps the rest rare. */
void
slc_file_log(const struct slc_sink_file *s, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_logv(s->cfg.log, s->cfg.log_ctx, level, "file sink: ", fmt, ap);
	va_end(ap);
}

int
slc_sink_file_fsync_parse(const char *s, enum slc_sink_file_fsync *out)
{
	static const enum slc_sink_file_fsync modes[] = {
	        SLC_SINK_FILE_FSYNC_NEVER,
	        SLC_SINK_FILE_FSYNC_INTERVAL,
	        SLC_SINK_FILE_FSYNC_BATCH,
	};

	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, slc_sink_file_fsync_name(modes[i])) == 0) {
			*out = modes[i];
			return 0;
		}
	}
	return -EINVAL;
}

const char *
slc_sink_file_fsync_name(enum slc_sink_file_fsync mode)
{
	switch (mode) {
	case SLC_SINK_FILE_FSYNC_NEVER:
		return "never";
	case SLC_SINK_FILE_FSYNC_INTERVAL:
		return "interval";
	case SLC_SINK_FILE_FSYNC_BATCH:
		return "batch";
	}
	return "unknown";
}

void *
slc_sink_file_create(const struct slc_sink_file_cfg *cfg, int *err)
{
	struct slc_sink_file *s;
	struct stat sb;
	char *lock_path;
	size_t dir_len;
	int rc;

	if (cfg == NULL || cfg->dir == NULL || cfg->dir[0] == '\0' ||
	    (cfg->segment_bytes != 0 && cfg->segment_bytes < SLC_SINK_FILE_SEGMENT_BYTES_MIN) ||
	    (cfg->fsync != SLC_SINK_FILE_FSYNC_NEVER &&
	     cfg->fsync != SLC_SINK_FILE_FSYNC_INTERVAL &&
	     cfg->fsync != SLC_SINK_FILE_FSYNC_BATCH)) {
		rc = -EINVAL;
		goto err_out;
	}
	dir_len = strlen(cfg->dir);
	if (dir_len + 1 + SLC_SINK_FILE_NAME_MAX > PATH_MAX) {
		rc = -ENAMETOOLONG;
		goto err_out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	s->cfg = *cfg;
	if (s->cfg.segment_bytes == 0)
		s->cfg.segment_bytes = SLC_SINK_FILE_SEGMENT_BYTES_DEFAULT;
	if (s->cfg.fsync_interval_ms == 0)
		s->cfg.fsync_interval_ms = SLC_SINK_FILE_FSYNC_INTERVAL_MS_DEFAULT;
	if (s->cfg.log == NULL)
		s->cfg.log = slc_log_stderr;
	s->io = cfg->io != NULL ? cfg->io : &slc_sink_file_io_sys;
	s->dir = strdup(cfg->dir);
	if (s->dir == NULL) {
		rc = -ENOMEM;
		goto err_free_sink;
	}
	s->cfg.dir = s->dir;
	/* Counters start at zero; memset is how a zero _Atomic uint64_t looks on every ABI
	 * we build for (lock-free, no hidden lock word). */
	s->st = aligned_alloc(SLC_CACHE_LINE, SLC_SINK_FILE_WORKERS_MAX * sizeof(*s->st));
	if (s->st == NULL) {
		rc = -ENOMEM;
		goto err_free_dir;
	}
	memset(s->st, 0, SLC_SINK_FILE_WORKERS_MAX * sizeof(*s->st));
	s->ckpt_buf = malloc(CKPT_BUF_SIZE);
	if (s->ckpt_buf == NULL) {
		rc = -ENOMEM;
		goto err_free_stats;
	}
	rc = -pthread_mutex_init(&s->ckpt_mu, NULL);
	if (rc != 0)
		goto err_free_ckpt_buf;
	rc = -pthread_cond_init(&s->ckpt_cv, NULL);
	if (rc != 0)
		goto err_destroy_mutex;

	rc = s->io->mkdir(s->io->ctx, s->dir, 0755);
	if (rc != 0 && rc != -EEXIST)
		goto err_destroy_cond;
	rc = s->io->stat(s->io->ctx, s->dir, &sb);
	if (rc != 0)
		goto err_destroy_cond;
	if (!S_ISDIR(sb.st_mode)) {
		rc = -ENOTDIR;
		goto err_destroy_cond;
	}
	lock_path = malloc(dir_len + sizeof("/" LOCK_NAME));
	if (lock_path == NULL) {
		rc = -ENOMEM;
		goto err_destroy_cond;
	}
	snprintf(lock_path, dir_len + sizeof("/" LOCK_NAME), "%s/%s", s->dir, LOCK_NAME);
	s->lock_fd =
	        s->io->openat(s->io->ctx, AT_FDCWD, lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(lock_path);
	if (s->lock_fd < 0) {
		rc = s->lock_fd;
		goto err_destroy_cond;
	}
	/* Two daemons in one directory would each be sure that they own the next seq. */
	rc = s->io->lock(s->io->ctx, s->lock_fd, false);
	if (rc != 0) {
		rc = rc == -EWOULDBLOCK ? -EBUSY : rc;
		goto err_close_lock;
	}
	/* The lock file may be left from a run when DIR was still writable. */
	rc = s->io->access(s->io->ctx, s->dir);
	if (rc != 0)
		goto err_close_lock;
	/* Under the lock, before any worker: nobody else writes these segments now. */
	rc = slc_file_dir_recover(s);
	if (rc != 0)
		goto err_close_lock;
	return s;

err_close_lock:
	s->io->close(s->io->ctx, s->lock_fd);
err_destroy_cond:
	pthread_cond_destroy(&s->ckpt_cv);
err_destroy_mutex:
	pthread_mutex_destroy(&s->ckpt_mu);
err_free_ckpt_buf:
	free(s->ckpt_buf);
err_free_stats:
	free(s->st);
err_free_dir:
	free(s->dir);
err_free_sink:
	free(s);
err_out:
	*err = rc;
	return NULL;
}

static void
file_destroy(void *sink)
{
	struct slc_sink_file *s = sink;

	if (s == NULL)
		return;
	/* Every worker is closed: a position noted since the last write is written now. */
	if (s->ckpt_dirty)
		(void)slc_file_ckpt_store(
		        s, slc_file_ckpt_format(s->ckpt_buf, SLC_SINK_FILE_CKPT_DURABLE, s->ckpt));
	s->io->close(s->io->ctx, s->lock_fd); /* and with it the flock */
	pthread_cond_destroy(&s->ckpt_cv);
	pthread_mutex_destroy(&s->ckpt_mu);
	free(s->ckpt_buf);
	free(s->st);
	free(s->dir);
	free(s);
}

void
slc_sink_file_stats(void *sink, struct slc_sink_file_stats *out)
{
	struct slc_sink_file *s = sink;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++) {
		struct wstats *st = &s->st[i];

		out->records += atomic_load_explicit(&st->records, memory_order_relaxed);
		out->bytes += atomic_load_explicit(&st->bytes, memory_order_relaxed);
		out->file_bytes += atomic_load_explicit(&st->file_bytes, memory_order_relaxed);
		out->segments += atomic_load_explicit(&st->segments, memory_order_relaxed);
		out->rotations += atomic_load_explicit(&st->rotations, memory_order_relaxed);
		out->reopens += atomic_load_explicit(&st->reopens, memory_order_relaxed);
		out->fsyncs += atomic_load_explicit(&st->fsyncs, memory_order_relaxed);
		out->write_errors += atomic_load_explicit(&st->write_errors, memory_order_relaxed);
		out->refused_key_too_long +=
		        atomic_load_explicit(&st->refused_key, memory_order_relaxed);
		out->delivered += atomic_load_explicit(&st->delivered, memory_order_relaxed);
		out->retain_deleted +=
		        atomic_load_explicit(&st->retain_deleted, memory_order_relaxed);
		out->retain_deleted_bytes +=
		        atomic_load_explicit(&st->retain_deleted_bytes, memory_order_relaxed);
		out->retain_blocked +=
		        atomic_load_explicit(&st->retain_blocked, memory_order_relaxed);
		out->retain_errors +=
		        atomic_load_explicit(&st->retain_errors, memory_order_relaxed);
	}
	out->recovered_segments = s->recovered_segments;
	out->recovered_bytes_cut = s->recovered_bytes_cut;
	out->recovered_records_dropped = s->recovered_records_dropped;
	out->recovered_lost_durable = s->recovered_lost_durable;
	out->recovered_foreign = s->recovered_foreign;
	out->checkpoints = atomic_load_explicit(&s->checkpoints, memory_order_relaxed);
	out->checkpoint_errors = atomic_load_explicit(&s->checkpoint_errors, memory_order_relaxed);
}

static int
file_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out)
{
	struct slc_sink_file *s = sink;
	struct slc_sink_file_worker *w;
	uint64_t max;
	bool found;
	int rc;

	w = slc_sink_worker_claim(s->claimed, SLC_SINK_FILE_WORKERS_MAX, worker, sizeof(*w), &rc);
	if (w == NULL)
		return rc;
	w->buf = malloc(WBUF_SIZE);
	if (w->buf == NULL) {
		rc = -ENOMEM;
		goto err_free_worker;
	}
	w->path_cap = strlen(s->dir) + 1 + SLC_SINK_FILE_NAME_MAX;
	w->path = malloc(w->path_cap);
	if (w->path == NULL) {
		rc = -ENOMEM;
		goto err_free_buf;
	}
	w->path[0] = '\0';
	w->refused_cap = REFUSED_CAP_INIT;
	w->refused_idx = malloc(w->refused_cap * sizeof(*w->refused_idx));
	if (w->refused_idx == NULL) {
		rc = -ENOMEM;
		goto err_free_path;
	}
	rc = slc_seg_dir_max_seq(s->io, s->dir, worker, &found, &max);
	if (rc != 0)
		goto err_free_refused;
	w->sink = s;
	w->io = s->io;
	w->st = &s->st[worker];
	w->worker = worker;
	w->fd = -1;
	w->dir_fd = -1;
	w->seq_next = found ? max + 1 : 0;
	w->synced_ns = s->io->now_ns(s->io->ctx);
	/* A worker index opened again after a failure has shown nothing yet: it stays
	 * unhealthy until its own write and sync succeed. */
	if (atomic_load_explicit(&w->st->failing, memory_order_relaxed)) {
		w->h_need_write = true;
		w->h_need_sync = s->cfg.fsync != SLC_SINK_FILE_FSYNC_NEVER;
	}
	/* io_uring syncs through the kernel, not through another io: a sink given its own
	 * syncs on the worker's thread. */
	if (s->cfg.fsync == SLC_SINK_FILE_FSYNC_INTERVAL && !s->cfg.sync_inline &&
	    s->io == &slc_sink_file_io_sys)
		slc_file_bg_start(w);
	*out = (struct slc_sink_worker *)w;
	return 0;

err_free_refused:
	free(w->refused_idx);
err_free_path:
	free(w->path);
err_free_buf:
	free(w->buf);
err_free_worker:
	slc_sink_worker_unclaim(s->claimed, worker, w);
	return rc;
}

static uint32_t
file_refused(struct slc_sink_worker *sw, const uint32_t **idx)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;

	*idx = w->refused_idx;
	return w->refused_n;
}

static int
file_flush(struct slc_sink_worker *sw)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	int rc;

	if (w->bg)
		slc_file_bg_reap(w, UINT32_MAX);
	rc = slc_file_pend_flush(w);
	if (rc == 0)
		rc = sync_policy(w);
	if (rc != 0)
		return rc;
	if (w->ckpt_behind)
		slc_file_ckpt_put(w, (struct slc_sink_file_pos){.valid = false}, false);
	/* Call again while anything written is not durable yet (interval mode), or the
	 * checkpoint is behind what is. */
	if (w->sink->cfg.fsync == SLC_SINK_FILE_FSYNC_INTERVAL &&
	    (w->unsynced || w->bg_head != w->bg_tail))
		return 1;
	return w->ckpt_behind ? 1 : 0;
}

/*
 * sink.h's sync: everything write() took is durable when this returns 0, whatever the
 * fsync mode. An fdatasync of the open segment is enough unless segments were ended
 * unsynced since the last sync; then one syncfs covers them all. A record is never claimed
 * durable after an fdatasync failed under it: that failure is returned (once) instead.
 */
int
slc_file_sync(struct slc_sink_worker *sw)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	int rc;

	if (w->bg)
		slc_file_bg_reap(w, 0);
	rc = slc_file_pend_flush(w);
	if (rc == 0)
		rc = w->ended_unsynced ? slc_file_fs_sync(w) : slc_file_seg_sync(w);
	if (rc == 0 && w->sync_lost != 0)
		rc = w->sync_lost;
	w->sync_lost = 0;
	return rc;
}

static int
file_reopen(struct slc_sink_worker *sw)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	bool sync = w->sink->cfg.fsync != SLC_SINK_FILE_FSYNC_NEVER;
	int rc, err;

	slc_sink_stat_add(&w->st->reopens, 1);
	rc = slc_file_seg_end(w, sync);
	/* The next record creates the new file, in DIR as it is then. (What is left unsynced
	 * in the old one, never mode's, is syncfs's at worker_close and sync.) */
	if (w->dir_fd < 0)
		return rc;
	/*
	 * The names created in DIR since its last fsync are durable only once that fsync
	 * succeeds; with its descriptor gone (and DIR perhaps renamed: rotation by hand), no
	 * later one could reach them. So: the syncs in flight first (one of them may fail its
	 * fsync of DIR), then DIR's own, and a failure is sync()'s to report. Forgetting it
	 * let sync() return 0 for records whose segment's name a crash then took (found by
	 * the crash model, tests/engine/sinks/test_file_crash.c).
	 */
	if (w->bg)
		slc_file_bg_reap(w, 0);
	if (sync && w->dir_unsynced) {
		err = slc_file_dir_fsync(w);
		if (err != 0) {
			w->sync_lost = err;
			if (rc == 0)
				rc = err;
		}
	}
	w->io->close(w->io->ctx, w->dir_fd);
	w->dir_fd = -1;
	w->dir_unsynced = false;
	return rc;
}

static void
file_worker_close(struct slc_sink_worker *sw)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	struct slc_sink_file *s;
	uint32_t worker;

	if (w == NULL)
		return;
	s = w->sink;
	worker = w->worker;
	/* Durable in every fsync mode: an orderly stop loses nothing. Failures are counted
	 * and logged by slc_file_seg_end. In never mode, the segments ended before were not synced
	 * either: one syncfs covers them all (they share DIR's file system). */
	/* What is still in flight first; the last segment is synced below. */
	if (w->bg)
		slc_file_bg_stop(w);
	(void)slc_file_pend_flush(w);
	if (s->cfg.fsync != SLC_SINK_FILE_FSYNC_NEVER) {
		(void)slc_file_seg_end(w, true);
		(void)slc_file_seg_sync(w);
	} else {
		(void)slc_file_seg_end(w, false);
		if (w->wrote)
			(void)slc_file_fs_sync(w);
	}
	/* The checkpoint says how far this worker got before close returns. */
	slc_file_ckpt_note(w, true);
	if (w->dir_fd >= 0)
		w->io->close(w->io->ctx, w->dir_fd);
	free(w->refused_idx);
	free(w->path);
	free(w->buf);
	slc_sink_worker_unclaim(s->claimed, worker, w);
}

static void
file_status(void *sink, struct slc_sink_status *out)
{
	struct slc_sink_file *s = sink;
	uint64_t delivered = 0;

	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++)
		delivered += atomic_load_explicit(&s->st[i].delivered, memory_order_relaxed);
	*out = (struct slc_sink_status){.delivered = delivered};
	slc_file_health_text(s, out->health, sizeof(out->health));
}

/* ---- the registry's side (sinks/sink.h): create from file:DIR and its flags, metrics ---- */

static_assert(SLC_SINK_FILE_FSYNC_NEVER == 0 && SLC_SINK_FILE_FSYNC_INTERVAL == 1 &&
                      SLC_SINK_FILE_FSYNC_BATCH == 2,
              "--fsync's names are in this order (sinks/file/spec.c)");

static void *
file_create_op(const struct slc_sink_spec *spec, const struct slc_sink_env *env, int *err)
{
	const struct slc_sink_file_settings *st = env->settings;
	struct slc_sink_file_cfg fc = {
	        .dir = spec->arg,
	        .segment_bytes = st->segment_bytes,
	        .fsync = (enum slc_sink_file_fsync)st->fsync,
	        .fsync_interval_ms = st->fsync_interval_ms,
	        .retain_bytes = st->retain_bytes,
	        .retain_age_ms = st->retain_age_ms,
	        .key_fn = env->key_fn,
	        .key_ctx = env->key_ctx,
	        .log = env->log,
	        .log_ctx = env->log_ctx,
	};

	return slc_sink_file_create(&fc, err);
}

static void
file_metrics(void *sink, struct slc_metrics_buf *b)
{
	struct slc_sink_file_stats st;

	slc_sink_file_stats(sink, &st);
#define FILE_METRIC(name, help, v)                            \
	do {                                                  \
		slc_metrics_family(b, name, "counter", help); \
		slc_metrics_u64(b, name, "sink=\"file\"", v); \
	} while (0)
	FILE_METRIC("sluice_sink_messages_total", "records written", st.records);
	FILE_METRIC("sluice_sink_bytes_total", "key and payload bytes written", st.bytes);
	FILE_METRIC("sluice_sink_file_bytes_total", "bytes written to segment files",
	            st.file_bytes);
	FILE_METRIC("sluice_sink_file_segments_total", "segments created", st.segments);
	FILE_METRIC("sluice_sink_file_rotations_total", "segments ended full", st.rotations);
	FILE_METRIC("sluice_sink_file_fsyncs_total", "fdatasync and syncfs calls", st.fsyncs);
	FILE_METRIC("sluice_sink_errors_total", "failed creates, writes and syncs",
	            st.write_errors);
	FILE_METRIC("sluice_sink_file_retain_deleted_segments_total",
	            "closed segments deleted by --retain-size or --retain-age", st.retain_deleted);
	FILE_METRIC("sluice_sink_file_retain_deleted_bytes_total", "bytes of those segments",
	            st.retain_deleted_bytes);
	FILE_METRIC("sluice_sink_file_retain_blocked_total",
	            "rotations that found segments past a retention limit but kept them: a "
	            "reader's DIR/consumed has not passed them",
	            st.retain_blocked);
	FILE_METRIC("sluice_sink_file_retain_errors_total", "segment deletions that failed",
	            st.retain_errors);
#undef FILE_METRIC
	slc_metrics_family(b, "sluice_sink_refused_records_total", "counter",
	                   "records the sink refused one by one (lost), by reason");
	slc_metrics_u64(b, "sluice_sink_refused_records_total",
	                "sink=\"file\",reason=\"key_too_long\"", st.refused_key_too_long);
	slc_metrics_family(b, "sluice_sink_file_foreign_files", "gauge",
	                   "files named like segments that start-up left alone (not "
	                   "regular files, or not segments of this version)");
	slc_metrics_u64(b, "sluice_sink_file_foreign_files", "sink=\"file\"", st.recovered_foreign);
}

const struct slc_sink_ops slc_sink_file_ops = {
        .name = "file",
        .desc = &slc_sink_file_desc,
        .create = file_create_op,
        .worker_open = file_worker_open,
        .write = slc_file_write,
        .refused = file_refused,
        .flush = file_flush,
        .sync = slc_file_sync,
        .commit = slc_file_commit,
        .commit_poll = slc_file_commit_poll,
        .reopen = file_reopen,
        .worker_close = file_worker_close,
        .destroy = file_destroy,
        .status = file_status,
        .metrics = file_metrics,
};
