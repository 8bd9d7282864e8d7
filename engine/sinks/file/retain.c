/* SPDX-License-Identifier: MIT */
/* retain.c: --retain-size and --retain-age: a worker deletes its oldest closed segments. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "file_priv.h"

/*
 * What may be deleted, and by whom (docs/file-format.md, "Retention"):
 *   - each worker deletes only its own segments, on its own thread, when it ends a full
 *     segment (the rotation): no other thread lists, stats or unlinks them, so no lock;
 *   - only closed ones: never the open segment, nor the one it has just ended (its
 *     trailer and sync may still be in flight in the background);
 *   - never the segment DIR/checkpoint names for the worker, nor a later one: recovery
 *     compares the checkpoint with what is on disk, and a missing checkpointed segment
 *     would read as data lost;
 *   - when DIR/consumed exists (a reader commits with sluice-cat --commit), never a
 *     segment that reader has not wholly consumed: a worker the file does not name has
 *     nothing consumed, so nothing of it is deleted; an unreadable DIR/consumed keeps
 *     everything. A reader that stops committing therefore holds the disk: each rotation
 *     that wanted to delete and could not counts in retain_blocked and logs why (a
 *     checkpoint that lags the writes by its SLC_SINK_FILE_CKPT_INTERVAL_MS is not
 *     counted: it moves on by itself).
 * --retain-size is DIR's budget for closed segments, split evenly between the workers
 * open (each keeps at most SIZE / workers); --retain-age deletes a closed segment whose
 * last write (its mtime) is older than that. The oldest go first, in seq order.
 */

/* The workers open now: the share of the size budget each one keeps. */
static uint32_t
workers_open(const struct slc_sink_file *s)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++)
		n += atomic_load_explicit(&s->claimed[i], memory_order_relaxed);
	return n > 0 ? n : 1;
}

/*
 * The first seq of w's segments that must stay (everything before it may go); *why says
 * what holds it there when a reader does (NULL when only the newest closed segment or
 * the checkpoint does: those move on by themselves within a rotation or two).
 */
static uint64_t
keep_from(struct slc_sink_file_worker *w, const char **why)
{
	struct slc_sink_file *s = w->sink;
	struct slc_sink_file_pos *consumed;
	uint64_t limit = w->seq; /* the segment just ended, or the open one */
	int rc;

	*why = NULL;
	pthread_mutex_lock(&s->ckpt_mu);
	if (s->ckpt[w->worker].valid && s->ckpt[w->worker].seq < limit)
		limit = s->ckpt[w->worker].seq;
	pthread_mutex_unlock(&s->ckpt_mu);
	consumed = calloc(SLC_SINK_FILE_WORKERS_MAX, sizeof(*consumed));
	if (consumed == NULL) {
		*why = "no memory to read DIR/checkpoint and DIR/consumed";
		return 0;
	}
	/* The memory's checkpoint runs ahead of the file's (a store skipped within its
	 * interval, or one that failed): recovery reads the file, so the file holds too. */
	rc = slc_sink_file_checkpoint_read_io(w->io, s->dir, SLC_SINK_FILE_CKPT_DURABLE, consumed);
	if (rc == 0 && consumed[w->worker].valid && consumed[w->worker].seq < limit)
		limit = consumed[w->worker].seq;
	else if (rc != 0 && rc != -ENOENT) {
		free(consumed);
		*why = "DIR/checkpoint cannot be read";
		return 0;
	}
	/* --fsync never stores the checkpoint only at close: it holds until then. */
	if (s->cfg.fsync == SLC_SINK_FILE_FSYNC_NEVER && limit < w->seq)
		*why = "DIR/checkpoint names it, and --fsync never moves the checkpoint only at "
		       "close";
	memset(consumed, 0, SLC_SINK_FILE_WORKERS_MAX * sizeof(*consumed));
	rc = slc_sink_file_checkpoint_read_io(w->io, s->dir, SLC_SINK_FILE_CKPT_CONSUMED, consumed);
	if (rc == 0 && !consumed[w->worker].valid) {
		limit = 0;
		*why = "DIR/consumed says a reader consumed none of this worker's records";
	} else if (rc == 0 && consumed[w->worker].seq < limit) {
		limit = consumed[w->worker].seq;
		*why = "DIR/consumed says a reader has not consumed it";
	} else if (rc != 0 && rc != -ENOENT) {
		limit = 0;
		*why = "DIR/consumed cannot be read";
	}
	free(consumed);
	return limit;
}

/* One closed segment of the worker's, oldest first. */
struct closed {
	uint64_t seq;
	uint64_t size;
	int64_t mtime_s;
	char name[SLC_SINK_FILE_NAME_MAX];
};

/* The worker's closed segments (seq below its current one), with size and mtime; *n of
 * them in a malloc'ed array, or NULL after logging why. */
static struct closed *
closed_list(struct slc_sink_file_worker *w, size_t *n)
{
	struct slc_sink_file *s = w->sink;
	struct slc_sink_file_seg *segs = NULL;
	struct closed *c = NULL;
	size_t nsegs = 0;
	char path[PATH_MAX];
	int rc = slc_sink_file_dir_scan_io(w->io, s->dir, &segs, &nsegs);

	*n = 0;
	if (rc == 0 && nsegs > 0)
		c = calloc(nsegs, sizeof(*c));
	if (rc != 0 || (nsegs > 0 && c == NULL)) {
		slc_file_wlog(w, "retention: listing %s: %s", s->dir,
		              strerror(rc != 0 ? -rc : ENOMEM));
		free(segs);
		return NULL;
	}
	/* Sorted by worker, then seq: the oldest first. */
	for (size_t i = 0; i < nsegs; i++) {
		struct stat sb;

		if (segs[i].worker != w->worker || segs[i].seq >= w->seq)
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->dir, segs[i].name);
		if (w->io->stat(w->io->ctx, path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue; /* gone, or foreign: recovery's business, not ours */
		c[*n].seq = segs[i].seq;
		c[*n].size = (uint64_t)sb.st_size;
		c[*n].mtime_s = (int64_t)sb.st_mtim.tv_sec;
		memcpy(c[*n].name, segs[i].name, sizeof(c[*n].name));
		(*n)++;
	}
	free(segs);
	return c;
}

void
slc_file_retain(struct slc_sink_file_worker *w)
{
	struct slc_sink_file *s = w->sink;
	const struct slc_sink_file_cfg *cfg = &s->cfg;
	uint64_t budget = cfg->retain_bytes / workers_open(s), total = 0, limit;
	int64_t now_s = (int64_t)time(NULL);
	int64_t age_s = (int64_t)(cfg->retain_age_ms / 1000u);
	struct closed *c;
	const char *why;
	bool blocked = false;
	size_t n;
	char path[PATH_MAX];

	if (cfg->retain_bytes == 0 && cfg->retain_age_ms == 0)
		return;
	c = closed_list(w, &n);
	if (c == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		total += c[i].size;
	limit = keep_from(w, &why);
	for (size_t i = 0; i < n; i++) {
		bool over_size = cfg->retain_bytes != 0 && total > budget;
		bool over_age = cfg->retain_age_ms != 0 && now_s - c[i].mtime_s > age_s;
		int rc;

		if (!over_size && !over_age)
			continue;
		if (c[i].seq >= limit) {
			blocked = why != NULL;
			break; /* nothing newer may go either */
		}
		snprintf(path, sizeof(path), "%s/%s", s->dir, c[i].name);
		rc = w->io->unlinkat(w->io->ctx, AT_FDCWD, path);
		if (rc != 0 && rc != -ENOENT) {
			slc_file_wlog(w, "retention: deleting %s: %s", path, strerror(-rc));
			slc_sink_stat_add(&w->st->retain_errors, 1);
			break;
		}
		total -= c[i].size;
		slc_sink_stat_add(&w->st->retain_deleted, 1);
		slc_sink_stat_add(&w->st->retain_deleted_bytes, c[i].size);
		if (over_size)
			slc_file_log(s, SLC_LOG_INFO,
			             "%s deleted (%" PRIu64 " bytes): --retain-size, worker %u "
			             "keeps %" PRIu64 " bytes of closed segments, it had %" PRIu64,
			             path, c[i].size, w->worker, budget, total + c[i].size);
		else
			slc_file_log(s, SLC_LOG_INFO,
			             "%s deleted (%" PRIu64 " bytes): --retain-age, last written "
			             "%" PRId64 " s ago",
			             path, c[i].size, now_s - c[i].mtime_s);
	}
	/* Once per rotation at most: rare enough not to need a rate limit. */
	if (blocked) {
		slc_sink_stat_add(&w->st->retain_blocked, 1);
		slc_file_log(s, SLC_LOG_WARN,
		             "worker %u: retention keeps segment %" PRIu64 " and later: %s",
		             w->worker, limit, why);
	}
	free(c);
}
