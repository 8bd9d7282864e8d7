/* SPDX-License-Identifier: MIT */
/* commit.c: group commit: acknowledged records made durable without a sync per batch. */
#include <errno.h>
#include <string.h>

#include "file_priv.h"

/*
 * A worker that syncs per acknowledged batch (sink.h's sync) waits for the disk once per
 * batch, and its rate is batch / flush latency. Here one background fdatasync (sync.c's
 * jobs, on the worker's io_uring) is in flight at a time, and the batches written while it
 * runs wait for the next one, which covers them all:
 *
 *   write B1, commit -> ticket 1: job 1 starts (B1)
 *   write B2, commit -> ticket 2: wanted (job 1 is running)
 *   write B3, commit -> ticket 2
 *   poll: job 1 retired -> done 1 (B1 acknowledged); job 2 starts (B2, B3)
 *
 * Jobs retire oldest first, and a job's ticket resolves only once every job before it
 * (an ended segment's trailer, an interval sync) has retired too; any of them that failed
 * fails the tickets it resolves with (c_err). Without the ring (an io table of a test, or
 * sync_inline, or io_uring refused) a commit is a sync on the worker's thread, resolved
 * at once, so that a test's io table sees every call in order.
 */

/* Resolves ticket c_next now, through sink.h's sync on this thread. */
static void
commit_inline(struct slc_sink_file_worker *w)
{
	int rc = slc_file_sync((struct slc_sink_worker *)w);

	w->c_want = false;
	w->c_done = w->c_next++;
	if (rc != 0 && w->c_err == 0)
		w->c_err = rc;
}

/* Starts the wanted commit once no other is in flight. */
static void
commit_kick(struct slc_sink_file_worker *w)
{
	int fd;

	if (!w->c_want || w->c_done + 1 != w->c_next)
		return;
	if (!w->bg) {
		commit_inline(w);
		return;
	}
	w->c_want = false;
	if (w->fd >= 0 && w->unsynced && !w->ended_unsynced) {
		fd = w->io->dup(w->io->ctx, w->fd);
		if (fd < 0) {
			w->c_want = true;
			commit_inline(w);
			return;
		}
		w->bg_arm = w->c_next++;
		(void)slc_file_bg_submit(w, fd, false, w->seq, w->written, NULL);
		return; /* a failure is the job's, in c_err, whether it ran inline or not */
	}
	if (w->ended_unsynced || (w->dir_unsynced && w->dir_fd >= 0)) {
		w->c_want = true;
		commit_inline(w); /* syncfs, or DIR alone: rare, on this thread */
		return;
	}
	/* Nothing of the open segment waits: the newest job in flight (an ended segment's,
	 * carrying what was written before the rotation) resolves the ticket. */
	if (w->bg_head != w->bg_tail) {
		w->bg_jobs[(w->bg_tail - 1) % BG_JOBS].ticket = w->c_next++;
		return;
	}
	w->c_done = w->c_next++;
}

int
slc_file_commit(struct slc_sink_worker *sw, uint64_t *ticket)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;
	int rc;

	if (w->c_next == 0)
		w->c_next = 1;
	/* Batch mode syncs in write(): nothing is left to wait for. Other modes start the
	 * ring here if interval mode did not. */
	if (!w->bg && !w->c_ring_tried && cfg->fsync == SLC_SINK_FILE_FSYNC_NEVER &&
	    !cfg->sync_inline && w->io == &slc_sink_file_io_sys) {
		w->c_ring_tried = true;
		slc_file_bg_start(w);
	}
	rc = slc_file_pend_flush(w);
	if (rc != 0)
		return rc;
	if (w->bg)
		slc_file_bg_reap(w, UINT32_MAX);
	if (!w->unsynced && !w->ended_unsynced && !(w->dir_unsynced && w->dir_fd >= 0) &&
	    w->bg_head == w->bg_tail && !w->c_want && w->c_err == 0 && w->sync_lost == 0) {
		*ticket = w->c_done; /* all durable already */
		return 0;
	}
	w->c_want = true;
	*ticket = w->c_next;
	commit_kick(w);
	return 0;
}

int
slc_file_commit_poll(struct slc_sink_worker *sw, bool wait, uint64_t *done)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	int rc;

	if (w->c_next == 0)
		w->c_next = 1;
	for (;;) {
		if (w->bg)
			slc_file_bg_reap(w, UINT32_MAX);
		commit_kick(w);
		if (!wait || (!w->c_want && w->c_done + 1 == w->c_next))
			break;
		/* Waits for the oldest job in flight: the one before any ticket's. */
		if (w->bg && w->bg_head != w->bg_tail)
			slc_file_bg_reap(w, w->bg_tail - w->bg_head - 1);
	}
	/* An inline sync's failure elsewhere (a segment ended in write()) is one too. */
	if (w->sync_lost != 0 && w->c_err == 0)
		w->c_err = w->sync_lost;
	w->sync_lost = 0;
	*done = w->c_done;
	if (w->c_done == w->c_reported)
		return 0; /* a failure waits for the tickets it fails */
	w->c_reported = w->c_done;
	rc = w->c_err;
	w->c_err = 0;
	return rc;
}
