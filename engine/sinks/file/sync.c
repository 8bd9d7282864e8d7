/* SPDX-License-Identifier: MIT */
/* sync.c: making a worker's segments durable: fdatasync, syncfs, and background syncs. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "file_priv.h"

/*
 * Background syncs (interval mode): see struct bg_job (file_priv.h). Each job's SQEs carry
 * its slot in the user data, and these bits say which step completed.
 */
#define BG_DIR_BIT     (1ull << 32)
#define BG_TRAILER_BIT (1ull << 33)
#define BG_SQES        4 /* a job's most: fdatasync, trailer, fdatasync, DIR */

/* The test hook's verdict on a sync that succeeded (cfg.test_sync_fault). */
static int
sync_fault(const struct slc_sink_file_worker *w)
{
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;

	return cfg->test_sync_fault != NULL ? cfg->test_sync_fault(cfg->test_sync_fault_ctx) : 0;
}

/* The fsync of DIR failed (rc): counted and logged; the names stay to be synced. */
static void
dir_fsync_failed(struct slc_sink_file_worker *w, int rc)
{
	slc_file_health_fail(w, rc, FAIL_DIR_FSYNC);
	slc_file_wlog(w, "%s: fsync failed: %s", w->sink->dir, strerror(-rc));
}

/* DIR's fsync through the descriptor it was opened with (w->dir_fd: the segments were
 * created there, even if it was renamed since): 0, or the failure, counted and logged. */
int
slc_file_dir_fsync(struct slc_sink_file_worker *w)
{
	int rc = w->io->fsync(w->io->ctx, w->dir_fd);

	if (rc != 0)
		dir_fsync_failed(w, rc);
	return rc;
}

/*
 * Makes the segment's bytes, and the names of segments created since the last sync,
 * durable. A failed fdatasync abandons the segment: after one, Linux may already have
 * dropped the dirty pages, so a retry could report success for data that is lost.
 */
int
slc_file_seg_sync(struct slc_sink_file_worker *w)
{
	bool synced = false;
	int rc;

	if (w->fd >= 0 && w->unsynced) {
		rc = w->io->fdatasync(w->io->ctx, w->fd);
		if (rc == 0)
			rc = sync_fault(w);
		if (rc != 0) {
			slc_file_seg_abandon(w, rc, FAIL_FDATASYNC, false);
			w->sync_lost = rc;
			return rc;
		}
		slc_sink_stat_add(&w->st->fsyncs, 1);
		w->unsynced = false;
		synced = true;
	}
	/* The directory the segments were created in, even if it was renamed since. */
	if (w->dir_unsynced && w->dir_fd >= 0) {
		rc = slc_file_dir_fsync(w);
		if (rc != 0)
			return rc; /* the segment stays: its data is safe; the name is synced next time */
		w->dir_unsynced = false;
		synced = true;
	}
	w->synced_ns = w->io->now_ns(w->io->ctx);
	if (synced)
		health_synced(w);
	slc_file_ckpt_note(w, false);
	return 0;
}

/*
 * One syncfs() of DIR's file system: what fdatasync cannot reach, segments already closed
 * unsynced (never mode), and with them the open one and every name. syncfs reports
 * write-back errors since Linux 5.8; before, only its own.
 */
int
slc_file_fs_sync(struct slc_sink_file_worker *w)
{
	const struct slc_sink_file_io *io = w->io;
	int fd = w->dir_fd, rc;

	if (fd < 0)
		fd = io->openat(io->ctx, AT_FDCWD, w->sink->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		                0);
	rc = fd < 0 ? fd : io->syncfs(io->ctx, fd);
	if (rc != 0) {
		slc_file_health_fail(w, rc, FAIL_SYNCFS);
		slc_file_wlog(w, "%s: syncfs failed: %s", w->sink->dir, strerror(-rc));
	}
	if (fd >= 0 && fd != w->dir_fd)
		io->close(io->ctx, fd);
	if (rc != 0)
		return rc;
	slc_sink_stat_add(&w->st->fsyncs, 1);
	w->unsynced = false;
	w->dir_unsynced = false;
	w->ended_unsynced = false;
	w->synced_ns = io->now_ns(io->ctx);
	health_synced(w);
	slc_file_ckpt_note(w, false);
	return 0;
}

static void
bg_fd_close(const struct slc_sink_file_worker *w, int fd)
{
	if (fd >= 0)
		(void)w->io->close(w->io->ctx, fd);
}

/* Finishes the oldest job, all of whose completions are in: counts it, and either notes
 * its position in the checkpoint or treats its failure as slc_file_seg_sync treats one. */
static void
bg_retire(struct slc_sink_file_worker *w, struct bg_job *j)
{
	int err = j->err != 0 ? j->err : sync_fault(w);

	if (err == 0 && w->bg_bad && w->bg_bad_seq == j->seq)
		err = -EIO; /* an older sync of this segment failed: this one proves nothing */
	if (err != 0) {
		w->bg_bad = true;
		w->bg_bad_seq = j->seq;
		w->sync_lost = err;
		if (w->fd >= 0 && w->seq == j->seq) {
			/* Nothing more goes into the segment (slc_file_seg_sync's rule). */
			slc_file_seg_abandon(w, err, FAIL_FDATASYNC, false);
		} else {
			slc_file_health_fail(w, err, FAIL_FDATASYNC);
			slc_file_wlog(w, "segment %llu of worker %u: fdatasync failed: %s",
			              (unsigned long long)j->seq, w->worker, strerror(-err));
			if (w->ended_valid && w->ended_seq == j->seq)
				w->ended_valid = false;
		}
	} else {
		slc_sink_stat_add(&w->st->fsyncs, j->trailer ? 2 : 1);
		if (j->trailer)
			slc_sink_stat_add(&w->st->file_bytes, TRAILER_SIZE);
		if (j->dir_err == 0 && j->proves && j->h_epoch == w->h_epoch)
			health_synced(w);
		if (j->dir_err == 0)
			slc_file_ckpt_put(w,
			                  (struct slc_sink_file_pos){.valid = true,
			                                             .seq = j->seq,
			                                             .offset = j->offset},
			                  false);
	}
	if (j->dir_err != 0) {
		/* Cancelled after a failed fdatasync, or failed itself: the names created
		 * since are synced next time, as slc_file_seg_sync leaves them. */
		if (j->dir_err != -ECANCELED)
			dir_fsync_failed(w, j->dir_err);
		if (w->dir_fd >= 0)
			w->dir_unsynced = true;
	}
	/* Group commit: a failure here fails every ticket resolved with it (conservative: a
	 * job of another segment may have failed, and clients then send again). */
	if (w->c_err == 0)
		w->c_err = err != 0 ? err : (j->dir_err != -ECANCELED ? j->dir_err : 0);
	if (j->ticket != 0)
		w->c_done = j->ticket;
	if (j->ended) {
		int cerr = slc_file_seg_fd_close(w, j->fd);

		if (cerr != 0)
			slc_file_wlog(w, "segment %llu of worker %u: close failed: %s",
			              (unsigned long long)j->seq, w->worker, strerror(-cerr));
	} else {
		bg_fd_close(w, j->fd);
	}
	bg_fd_close(w, j->dir_fd);
}

/*
 * Takes in the completions that have arrived and retires the jobs that are done, oldest
 * first; waits while more than `keep` jobs are in flight (UINT32_MAX: never waits; 0: until
 * all are done). If the ring fails (it should not), the jobs still in flight count as
 * failed: nothing is claimed durable that was not seen to be.
 */
void
slc_file_bg_reap(struct slc_sink_file_worker *w, uint32_t keep)
{
	while (w->bg_head != w->bg_tail) {
		struct bg_job *j = &w->bg_jobs[w->bg_head % BG_JOBS];
		struct io_uring_cqe *cqe;
		uint64_t data;
		int rc;

		if (j->cqes == 0) {
			bg_retire(w, j);
			w->bg_head++;
			continue;
		}
		if (w->bg_tail - w->bg_head > keep)
			rc = io_uring_wait_cqe(&w->bg_ring, &cqe);
		else
			rc = io_uring_peek_cqe(&w->bg_ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc == -EAGAIN && w->bg_tail - w->bg_head <= keep)
			return;
		if (rc != 0) {
			slc_file_wlog(
			        w,
			        "background sync: io_uring wait failed: %s; the syncs in flight "
			        "count as failed",
			        strerror(-rc));
			for (uint32_t i = w->bg_head; i != w->bg_tail; i++) {
				struct bg_job *f = &w->bg_jobs[i % BG_JOBS];

				if (f->cqes != 0) {
					f->cqes = 0;
					f->err = f->err != 0 ? f->err : rc;
				}
			}
			continue;
		}
		data = io_uring_cqe_get_data64(cqe);
		j = &w->bg_jobs[(uint32_t)data % BG_JOBS];
		SLC_ASSERT(j->cqes > 0);
		rc = cqe->res;
		if (rc >= 0 && (data & BG_TRAILER_BIT) && rc != (int)TRAILER_SIZE)
			rc = -EIO; /* a short write: the trailer is not whole */
		if (rc < 0 && (data & BG_DIR_BIT))
			j->dir_err = rc;
		else if (rc < 0 && (j->err == 0 || j->err == -ECANCELED))
			j->err = rc; /* the first failure, not the cancellations it caused */
		j->cqes--;
		io_uring_cqe_seen(&w->bg_ring, cqe);
	}
}

void
slc_file_bg_start(struct slc_sink_file_worker *w)
{
	/* BG_SQES SQEs a job; CQ twice the SQ: BG_JOBS jobs never overflow it. */
	int rc = io_uring_queue_init(BG_SQES * BG_JOBS, &w->bg_ring, 0);

	if (rc == 0)
		w->bg = true;
	else
		slc_file_wlog(w,
		              "background syncs need io_uring (%s): worker %u waits for each sync",
		              strerror(-rc), w->worker);
}

/* Every job in flight is done when this returns: syncs are the worker's own from here
 * on. */
void
slc_file_bg_stop(struct slc_sink_file_worker *w)
{
	slc_file_bg_reap(w, 0);
	io_uring_queue_exit(&w->bg_ring);
	w->bg = false;
}

/* Does job j's syncs on this thread (no ring, or the ring refused it). */
static void
bg_run_inline(const struct slc_sink_file_worker *w, struct bg_job *j)
{
	j->cqes = 0;
	j->err = w->io->fdatasync(w->io->ctx, j->fd);
	if (j->err == 0 && j->trailer) {
		j->err = slc_sink_file_pwrite_all(w->io, j->fd, j->trailer_buf, TRAILER_SIZE,
		                                  j->offset - TRAILER_SIZE);
		if (j->err == 0)
			j->err = w->io->fdatasync(w->io->ctx, j->fd);
	}
	if (j->dir_fd < 0)
		return;
	if (j->err != 0)
		j->dir_err = -ECANCELED;
	else
		j->dir_err = w->io->fsync(w->io->ctx, j->dir_fd);
}

/*
 * Syncs segment seq up to offset through fd, which the job takes over, with DIR after it
 * when names were created since DIR was last synced. trailer (an ended segment's, NULL:
 * none): written at offset - TRAILER_SIZE once the data before it is synced, then synced
 * itself (slc_file_seg_end says why). In the background when the ring is up: 0 then, and a
 * failure is the job's to report when it retires (counted, logged, and returned by the
 * next sync()). Otherwise on this thread: 0 or the failure.
 */
int
slc_file_bg_submit(struct slc_sink_file_worker *w, int fd, bool ended, uint64_t seq,
                   uint64_t offset, const uint8_t *trailer)
{
	struct bg_job *j;
	uint32_t slot;
	int rc;

	if (w->bg && w->bg_tail - w->bg_head == BG_JOBS)
		slc_file_bg_reap(w, BG_JOBS - 1);
	slot = w->bg_tail % BG_JOBS;
	j = &w->bg_jobs[slot];
	*j = (struct bg_job){.fd = fd,
	                     .dir_fd = -1,
	                     .ended = ended,
	                     .seq = seq,
	                     .offset = offset,
	                     .proves = !w->h_need_write,
	                     .h_epoch = w->h_epoch,
	                     .ticket = w->bg_arm};
	w->bg_arm = 0;
	if (trailer != NULL) {
		j->trailer = true;
		memcpy(j->trailer_buf, trailer, TRAILER_SIZE);
	}
	if (w->dir_unsynced && w->dir_fd >= 0) {
		j->dir_fd = w->io->dup(w->io->ctx, w->dir_fd);
		w->dir_unsynced = j->dir_fd < 0;
	}
	w->unsynced = false;
	w->synced_ns = w->io->now_ns(w->io->ctx);
	if (w->bg) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&w->bg_ring);

		/* The SQ holds BG_SQES * BG_JOBS and each submit empties it. Linked: a step
		 * runs only once the one before it succeeded, and a failure cancels the rest
		 * (no trailer after data that did not reach the disk). */
		SLC_ASSERT(sqe != NULL);
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(sqe, slot);
		sqe->flags |= IOSQE_ASYNC; /* it would block: straight to a worker */
		j->cqes = 1;
		if (j->trailer) {
			sqe->flags |= IOSQE_IO_LINK;
			sqe = io_uring_get_sqe(&w->bg_ring);
			SLC_ASSERT(sqe != NULL);
			io_uring_prep_write(sqe, fd, j->trailer_buf, TRAILER_SIZE,
			                    j->offset - TRAILER_SIZE);
			io_uring_sqe_set_data64(sqe, slot | BG_TRAILER_BIT);
			sqe->flags |= IOSQE_ASYNC | IOSQE_IO_LINK;
			sqe = io_uring_get_sqe(&w->bg_ring);
			SLC_ASSERT(sqe != NULL);
			io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data64(sqe, slot);
			sqe->flags |= IOSQE_ASYNC;
			j->cqes = 3;
		}
		if (j->dir_fd >= 0) {
			sqe->flags |= IOSQE_IO_LINK;
			sqe = io_uring_get_sqe(&w->bg_ring);
			SLC_ASSERT(sqe != NULL);
			io_uring_prep_fsync(sqe, j->dir_fd, 0);
			io_uring_sqe_set_data64(sqe, slot | BG_DIR_BIT);
			sqe->flags |= IOSQE_ASYNC;
			j->cqes++;
		}
		rc = io_uring_submit(&w->bg_ring);
		if (rc == (int)j->cqes) {
			w->bg_tail++;
			return 0;
		}
		/* The kernel took none, or (short of memory) only the first of a linked pair;
		 * a completion for it finds the job done inline below and is counted against
		 * nothing. From now on the worker syncs on its own thread, after the jobs in
		 * flight. */
		slc_file_wlog(
		        w,
		        "background sync: io_uring_submit failed: %s; syncing on the worker's "
		        "thread from now on",
		        strerror(rc < 0 ? -rc : EIO));
		slc_file_bg_stop(w);
	}
	bg_run_inline(w, j);
	rc = j->err;
	bg_retire(w, j);
	return rc;
}

/* Whether a background sync of the open segment is in flight. */
static bool
bg_busy(const struct slc_sink_file_worker *w)
{
	if (w->fd < 0)
		return false;
	for (uint32_t i = w->bg_head; i != w->bg_tail; i++) {
		const struct bg_job *j = &w->bg_jobs[i % BG_JOBS];

		if (!j->ended && j->seq == w->seq)
			return true;
	}
	return false;
}

/* Interval mode's sync of the open segment: in the background when it can be. */
int
slc_file_seg_sync_bg(struct slc_sink_file_worker *w)
{
	int fd;

	if (!w->bg)
		return slc_file_seg_sync(w);
	if (w->fd < 0 || !w->unsynced) {
		/* At most DIR's fsync to do. With jobs in flight, nothing now: the newest
		 * notes the checkpoint when it is done, and DIR waits for the next sync. */
		return w->bg_head != w->bg_tail ? 0 : slc_file_seg_sync(w);
	}
	if (bg_busy(w))
		return 0; /* the next write or flush tries again */
	fd = w->io->dup(w->io->ctx, w->fd);
	if (fd < 0)
		return slc_file_seg_sync(w);
	return slc_file_bg_submit(w, fd, false, w->seq, w->written, NULL);
}
