/* SPDX-License-Identifier: MIT */
/* file_priv.h: the file sink's state and the functions its files share; never included from
 * outside engine/sinks/file/. */
#ifndef SLC_ENGINE_SINKS_FILE_FILE_PRIV_H
#define SLC_ENGINE_SINKS_FILE_FILE_PRIV_H

#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <liburing.h>

#include "base/assert.h"
#include "base/compiler.h" /* SLC_CACHE_LINE */
#include "sink_file.h"
#include "sinks/common.h"

/*
 * Who does what (the sink's behaviour is sink_file.h's):
 *   file.c        the ops table, create/destroy, worker_open/close, flush, sync, reopen,
 *                 status; the log lines
 *   writer.c      write(): records into the write buffer, segments created, rotated,
 *                 ended
 *   sync.c        fdatasync/syncfs, and interval mode's background syncs (io_uring)
 *   checkpoint.c  DIR/checkpoint and DIR/consumed
 *   recover.c     recovery at create
 *   health.c      what /healthz says
 *   segment.c, reader.c, io.c, crc32c.c: the format, its reader, the file operations, the
 *                 checksum (shared with sluice-cat)
 */

#define HDR_SIZE     SLC_SINK_FILE_SEG_HDR_SIZE
#define REC_SIZE     SLC_SINK_FILE_REC_HDR_SIZE
#define TRAILER_SIZE SLC_SINK_FILE_TRAILER_SIZE

/*
 * A worker's write buffer: record headers, keys and small payloads are copied into it and
 * a write() call goes out in one writev. Payloads above COPY_MAX are not copied: the
 * writev points at them where they lie (they stay valid until write() returns).
 */
#define WBUF_SIZE (256u << 10)
#define COPY_MAX  (8u << 10)
#define IOV_CAP   64 /* well under IOV_MAX (1024) */

static_assert(WBUF_SIZE >= HDR_SIZE + REC_SIZE + SLC_SINK_FILE_KEY_MAX + COPY_MAX,
              "a segment header and one record's copied bytes fit an empty buffer");

/* Checkpoint files (checkpoint.h): the first line, and the room for the longest one: the
 * first line, a line per worker ("consumed" 3 + 20 + 20 digits, 4 separators: 55 bytes)
 * and the crc line. */
#define CKPT_LINE1    "sluice-checkpoint 1\n"
#define CKPT_BUF_SIZE (sizeof(CKPT_LINE1) + SLC_SINK_FILE_WORKERS_MAX * 56u + 16u)

/*
 * Background syncs (interval mode): a segment's fdatasync, and DIR's fsync after it when a
 * segment was created since, go to the kernel's io_uring workers, so that the worker goes
 * on writing while the disk catches up. Waiting instead stalls everything behind the
 * worker: a second of data took 0.3 s to sync here, and meanwhile the worker's ring
 * filled and the reactor paused the senders. A job owns its descriptors (a dup of the open
 * segment's, or an ended segment's own, and a dup of DIR's), so that rotation and reopen
 * need not wait for it. Jobs retire in the order they were submitted: a job's position
 * reaches the checkpoint only after every older one was done, so the checkpoint never
 * says a segment is durable while an older segment's sync is still under way. sync.c has
 * them.
 */
#define BG_JOBS 4 /* in flight per worker; one more waits for the oldest */

struct bg_job {
	int fd;               /* the segment's; closed when the job retires */
	int dir_fd;           /* DIR's, or -1: fsynced after the data, linked */
	bool ended;           /* fd is an ended segment's own descriptor */
	bool trailer;         /* ended: the job writes the trailer after the data's sync */
	uint8_t cqes;         /* completions still to come */
	int err;              /* the fdatasyncs' or the trailer write's failure, -errno */
	int dir_err;          /* the fsync of DIR's */
	uint64_t seq, offset; /* durable once the job succeeded (the trailer's end) */
	/* Submitted after a write that followed the worker's last failure (h_epoch then):
	 * its success shows that the disk takes data again (health_synced). */
	bool proves;
	uint64_t h_epoch;
	uint8_t trailer_buf[TRAILER_SIZE]; /* at offset - TRAILER_SIZE */
	uint64_t ticket; /* the group commit it resolves when it retires (commit.c); 0: none */
};

/* What failed, for /healthz (file_status); the words follow "DIR: ". */
enum fail_op {
	FAIL_WRITE,     /* a segment's writev */
	FAIL_FDATASYNC, /* a segment's fdatasync */
	FAIL_CREATE,    /* creating a segment (or opening DIR for it) */
	FAIL_DIR_FSYNC, /* the fsync of DIR that makes new names durable */
	FAIL_SYNCFS,    /* syncfs of DIR's file system */
	FAIL_CLOSE,     /* close of an ended segment (write-back errors, on NFS) */
};

/* One worker's counters, on cache lines of their own: the worker adds, any thread reads. */
struct wstats {
	alignas(SLC_CACHE_LINE) _Atomic uint64_t records;
	_Atomic uint64_t bytes;
	_Atomic uint64_t file_bytes;
	_Atomic uint64_t segments;
	_Atomic uint64_t rotations;
	_Atomic uint64_t reopens;
	_Atomic uint64_t fsyncs;
	_Atomic uint64_t write_errors;
	_Atomic uint64_t refused_key; /* records refused: key over SLC_SINK_FILE_KEY_MAX */
	_Atomic uint64_t delivered;   /* messages of write() calls that returned 0, less refused */
	/* retain.c: closed segments deleted and their bytes; rotations that wanted to delete
	 * but a reader (DIR/consumed) held the segments; deletions that failed */
	_Atomic uint64_t retain_deleted;
	_Atomic uint64_t retain_deleted_bytes;
	_Atomic uint64_t retain_blocked;
	_Atomic uint64_t retain_errors;
	/*
	 * Health (file_status): failing from a failed write or sync on (slc_file_health_fail) until a
	 * write and then a sync succeed (health_wrote, health_synced); since is when it began,
	 * err and op say the latest failure. The worker writes, any thread reads: a reader
	 * may see err and op a failure apart, which changes a reason's wording at worst.
	 */
	_Atomic bool failing;
	_Atomic uint64_t failing_since_ns;
	_Atomic int fail_err; /* errno, positive */
	_Atomic int fail_op;  /* enum fail_op */
};

static_assert(sizeof(struct wstats) % SLC_CACHE_LINE == 0, "no line shared by two workers");

/*
 * The durable checkpoint is the one thing workers share: each worker notes its position
 * after a sync, at most every CKPT_INTERVAL_NS (so the mutex is off the per-batch path),
 * and one of them at a time writes the file, outside the mutex: `writing` says who, and
 * ckpt_buf is that worker's alone while it is set.
 */
struct slc_sink_file {
	struct slc_sink_file_cfg cfg;      /* defaults filled in; cfg.dir points at dir */
	const struct slc_sink_file_io *io; /* cfg.io, or the system calls */
	char *dir;
	int lock_fd;       /* holds the flock on DIR/sluice.lock */
	struct wstats *st; /* [SLC_SINK_FILE_WORKERS_MAX] */
	_Atomic bool claimed[SLC_SINK_FILE_WORKERS_MAX];

	pthread_mutex_t ckpt_mu;
	pthread_cond_t ckpt_cv; /* signalled when writing goes false */
	struct slc_sink_file_pos ckpt[SLC_SINK_FILE_WORKERS_MAX]; /* under ckpt_mu */
	bool ckpt_dirty;          /* ckpt differs from the file; under ckpt_mu */
	bool ckpt_writing;        /* under ckpt_mu */
	uint64_t ckpt_written_ns; /* CLOCK_MONOTONIC of the last write; under ckpt_mu */
	char *ckpt_buf;           /* CKPT_BUF_SIZE */
	_Atomic uint64_t checkpoints;
	_Atomic uint64_t checkpoint_errors;

	/* What create's recovery did; written before create returns, read-only after. */
	uint64_t recovered_segments;
	uint64_t recovered_bytes_cut;
	uint64_t recovered_records_dropped;
	uint64_t recovered_lost_durable;
	uint64_t recovered_foreign;
};

/*
 * A worker's state: what sink.h calls struct slc_sink_worker (each sink has its own, so
 * the ops cast). The segment's bytes are [0, written) in the file and [written, size)
 * pending in iov.
 */
struct slc_sink_file_worker {
	struct slc_sink_file *sink;
	const struct slc_sink_file_io *io; /* the sink's */
	struct wstats *st;
	uint32_t worker;
	int fd;             /* the open segment; -1: none, the next record creates one */
	int dir_fd;         /* DIR as it was at the first create after (re)open; -1: none */
	uint64_t seq;       /* of the open segment */
	uint64_t seq_next;  /* for the next segment */
	uint64_t size;      /* of the open segment, pending bytes included */
	uint64_t written;   /* of the open segment, the end of its last whole writev */
	uint64_t records;   /* in the open segment, for its trailer */
	bool unsynced;      /* written since the last fdatasync */
	bool dir_unsynced;  /* a segment was created in dir_fd since it was last synced */
	bool wrote;         /* anything, since worker_open */
	uint64_t synced_ns; /* CLOCK_MONOTONIC of the last sync */
	/* Segments ended without a sync since the last one (never mode's slc_file_seg_end, a write
	 * error's slc_file_seg_abandon): sync() then needs a syncfs, an fdatasync cannot reach them. */
	bool ended_unsynced;
	/* The last ended segment and its size, for the checkpoint once the segment is
	 * durable; false after slc_file_seg_abandon (its end is not a promise). */
	bool ended_valid;
	uint64_t ended_seq;
	uint64_t ended_size;
	int sync_lost; /* an fdatasync failed since the last sync(): its -errno */
	/* Health: what must succeed before st->failing clears (slc_file_health_fail); h_epoch counts
	 * failures, so that a background sync submitted before one proves nothing after it. */
	bool h_need_write;
	bool h_need_sync;
	uint64_t h_epoch;
	uint64_t
	        ckpt_noted_ns; /* CLOCK_MONOTONIC of the last slc_file_ckpt_put that took the mutex */
	/* The newest durable position this worker knows of; behind: it may not be in the
	 * checkpoint file yet (slc_file_ckpt_put was rate-limited), so flush() tries again. */
	struct slc_sink_file_pos ckpt_want;
	bool ckpt_behind;
	struct iovec iov[IOV_CAP];
	int niov;
	bool last_in_buf; /* iov[niov - 1] ends at buf + buf_used */
	size_t buf_used;
	uint64_t pend_records; /* pending records and their key + payload bytes */
	uint64_t pend_bytes;
	struct slc_log_limit log_limit;
	/* The records the last write() refused one by one (sink.h's refused): their indexes
	 * in its msgs. Room for a whole worker batch from the start; more only if a write()
	 * of more messages refuses more. */
	uint32_t *refused_idx;
	uint32_t refused_n, refused_cap;
	char *path; /* DIR/name of the open (or last) segment, for log lines */
	size_t path_cap;
	size_t name_off; /* where the name starts in path */
	uint8_t *buf;    /* WBUF_SIZE */
	/* Background syncs: bg says bg_ring is set up. Jobs [bg_head, bg_tail) are in
	 * flight, indexes free-running (mod BG_JOBS). A failed job makes every later job of
	 * the same segment fail too (bg_bad_seq): after an fdatasync error on a file, the
	 * next one succeeds without the lost pages being written. */
	bool bg;
	bool bg_bad;
	uint64_t bg_bad_seq;
	uint32_t bg_head, bg_tail;
	struct bg_job bg_jobs[BG_JOBS];
	struct io_uring bg_ring;
	/*
	 * Group commit (commit.c): tickets (c_done, c_next) are on jobs in flight, c_next
	 * itself is wanted (c_want) once they retire, since one commit at a time covers all
	 * that was written before it started. c_err: the first failure of any job retired
	 * since c_reported was polled; bg_arm: the ticket bg_submit's next job takes.
	 */
	uint64_t c_next, c_done, c_reported, bg_arm;
	bool c_want;
	bool c_ring_tried; /* commit started the ring (modes other than interval) */
	int c_err;
};

/* ---- across the folder's files ---- */

/* file.c: a worker's error line, at most LOG_PER_SEC a second (the next line says how many
 * were not written: a full disk fails every batch, and the log must not fill what is
 * left); a line about DIR as a whole (recovery, the checkpoint), not rate-limited. */
void slc_file_wlog(struct slc_sink_file_worker *w, const char *fmt, ...) SLC_PRINTF(2, 3);
void slc_file_log(const struct slc_sink_file *s, int level, const char *fmt, ...) SLC_PRINTF(3, 4);

/* retain.c: after a rotation, the worker deletes its oldest closed segments past
 * --retain-size's share or --retain-age (counted, a line each); nothing without either. */
void slc_file_retain(struct slc_sink_file_worker *w);

/* health.c: a create, write or sync failed (rc, -errno): counted, and the worker is
 * unhealthy until a write and then a sync succeed (health_wrote, health_synced below).
 * _text: the status op's reason, "" when every worker is healthy; any thread. */
void slc_file_health_fail(struct slc_sink_file_worker *w, int rc, enum fail_op op);
void slc_file_health_text(struct slc_sink_file *s, char *out, size_t cap);

/* writer.c: the write op; what is pending to the file (0, or writev's error, which
 * abandons the segment); ending a segment in order (0, or the error of its flush, sync or
 * close) or after an error (cut: back to its last whole record); closing an ended
 * segment's descriptor (0, or close's error, counted). */
int slc_file_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n);
int slc_file_pend_flush(struct slc_sink_file_worker *w);
int slc_file_seg_end(struct slc_sink_file_worker *w, bool sync);
void slc_file_seg_abandon(struct slc_sink_file_worker *w, int rc, enum fail_op op, bool cut);
int slc_file_seg_fd_close(struct slc_sink_file_worker *w, int fd);

/* sync.c: fdatasync of the open segment and fsync of DIR (0, or the error: a failed
 * fdatasync abandons the segment); one syncfs of DIR's file system; DIR's fsync alone (for
 * reopen); interval mode's background sync of the open segment; background jobs: start
 * (worker_open: false when io_uring is not there, and the worker syncs on its thread),
 * submit (an ended segment's fd and trailer, or a dup of the open one's), reap (waits
 * while more than keep are in flight), stop (waits for all, then takes the ring down). */
int slc_file_seg_sync(struct slc_sink_file_worker *w);
int slc_file_fs_sync(struct slc_sink_file_worker *w);
int slc_file_dir_fsync(struct slc_sink_file_worker *w);
int slc_file_seg_sync_bg(struct slc_sink_file_worker *w);
void slc_file_bg_start(struct slc_sink_file_worker *w);
int slc_file_bg_submit(struct slc_sink_file_worker *w, int fd, bool ended, uint64_t seq,
                       uint64_t offset, const uint8_t *trailer);
void slc_file_bg_reap(struct slc_sink_file_worker *w, uint32_t keep);
void slc_file_bg_stop(struct slc_sink_file_worker *w);

/* file.c: sink.h's sync (commit.c's, without the ring). */
int slc_file_sync(struct slc_sink_worker *sw);

/* commit.c: sink.h's commit and commit_poll (group commit for acknowledged delivery). */
int slc_file_commit(struct slc_sink_worker *sw, uint64_t *ticket);
int slc_file_commit_poll(struct slc_sink_worker *sw, bool wait, uint64_t *done);

/* checkpoint.c: pos[] as a checkpoint file in buf (CKPT_BUF_SIZE): its length; writing
 * s->ckpt_buf as DIR/checkpoint (0 or the error, counted and logged; the caller owns
 * ckpt_buf); noting a worker's durable position after a sync (ckpt_put: pos, or not
 * valid: nothing new; ckpt_note: what the worker's state says), written at most every
 * CKPT_INTERVAL_MS unless force. */
size_t slc_file_ckpt_format(char *buf, enum slc_sink_file_ckpt_kind kind,
                            const struct slc_sink_file_pos *pos);
int slc_file_ckpt_store(struct slc_sink_file *s, size_t len);
void slc_file_ckpt_put(struct slc_sink_file_worker *w, struct slc_sink_file_pos pos, bool force);
void slc_file_ckpt_note(struct slc_sink_file_worker *w, bool force);

/* recover.c: recovery at create, before any worker opens (sink_file.h). 0, or the error of
 * listing DIR or -ENOMEM; what goes wrong with one segment is logged and skipped. */
int slc_file_dir_recover(struct slc_sink_file *s);

/* ---- health and the sync rule: a few loads, once per write() batch: inline ---- */

static inline void
health_check_clear(struct slc_sink_file_worker *w)
{
	if (!w->h_need_write && !w->h_need_sync &&
	    atomic_load_explicit(&w->st->failing, memory_order_relaxed))
		atomic_store_explicit(&w->st->failing, false, memory_order_relaxed);
}

/* Bytes reached the file (a writev succeeded). */
static inline void
health_wrote(struct slc_sink_file_worker *w)
{
	if (!w->h_need_write)
		return;
	w->h_need_write = false;
	health_check_clear(w);
}

/* A sync succeeded that covers what was written since the last failure, if anything was:
 * only a sync after a successful write shows that data reaches the disk. */
static inline void
health_synced(struct slc_sink_file_worker *w)
{
	if (w->h_need_write || !w->h_need_sync)
		return;
	w->h_need_sync = false;
	health_check_clear(w);
}

/* The fsync mode's rule, at write() and flush(). */
static inline int
sync_policy(struct slc_sink_file_worker *w)
{
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;

	switch (cfg->fsync) {
	case SLC_SINK_FILE_FSYNC_NEVER:
		return 0;
	case SLC_SINK_FILE_FSYNC_INTERVAL:
		if (w->io->now_ns(w->io->ctx) - w->synced_ns >=
		    (uint64_t)cfg->fsync_interval_ms * 1000000ull)
			return slc_file_seg_sync_bg(w);
		return 0;
	case SLC_SINK_FILE_FSYNC_BATCH:
		return slc_file_seg_sync(w);
	}
	return 0;
}

#endif /* SLC_ENGINE_SINKS_FILE_FILE_PRIV_H */
