/* SPDX-License-Identifier: MIT */
/* sink_file.h: the file sink (--sink file:DIR): its configuration, operations and counters. */
#ifndef SLC_ENGINE_SINK_FILE_H
#define SLC_ENGINE_SINK_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "io.h"
#include "reader.h"
#include "segment.h"
#include "base/log.h"
#include "sinks/sink.h"

/*
 * Each worker appends to its own segment files in DIR, so workers share no lock, no file
 * and no buffer. A segment is created when the worker's first record needs one (no empty
 * files from idle workers), and ended when it would grow past segment_bytes (rotation),
 * on SIGHUP (reopen), after a write error, and at worker_close. A new segment always gets
 * a new name, one past the highest seq this worker has in DIR: a restarted daemon never
 * writes records into an old file (recovery, below, only cuts a crashed segment's tail and
 * appends its trailer).
 *
 * The segments' format is segment.h's, their reader reader.h's, DIR/checkpoint and
 * DIR/consumed checkpoint.h's; this header includes them all.
 *
 * Recovery (slc_sink_file_create, before any worker opens): every segment without a valid
 * trailer is cut back to the end of its last whole record before the first bad byte
 * (ftruncate), given a trailer, and fdatasync'ed, so that it reads as closed. Valid
 * records after that first bad byte are cut with it (counted, logged as an error): what
 * follows a hole in a segment that was never ended was written after the hole, so no
 * fdatasync ever covered it, and nothing durable is lost. A segment whose header is cut
 * short, zeros or fails its CRC keeps nothing: it is rewritten as an empty segment (its
 * header made again from its name, then a trailer). Segments that end in a trailer, and
 * files that are not segments of this version (bad magic, version or header length), are
 * left as they are. Then it checks them against DIR/checkpoint (checkpoint.h).
 */

#define SLC_SINK_FILE_SEGMENT_BYTES_MIN         4096u
#define SLC_SINK_FILE_SEGMENT_BYTES_DEFAULT     (128ull << 20)
#define SLC_SINK_FILE_FSYNC_INTERVAL_MS_DEFAULT 1000u

/*
 * When the sink makes data durable (fdatasync, and an fsync of DIR after it created a
 * segment, so that the new name survives a power cut too):
 *   never     not while running; only at worker_close (drain), so that an orderly stop
 *             is durable: one syncfs() of DIR's file system then covers every segment
 *             the worker wrote. A crash of the machine loses what the kernel had not
 *             written.
 *   interval  at a write() or flush() (the worker went idle) when fsync_interval_ms have
 *             passed since the last sync began and anything is unsynced. The sync runs in
 *             the background (an io_uring fdatasync): the worker goes on writing, and
 *             the checkpoint moves when the sync is done. At most fsync_interval_ms of
 *             data, plus what one sync takes, is at risk while traffic flows. flush()
 *             returns 1 while anything written is not durable yet, so that an idle worker
 *             calls it again; an ended segment's sync is a background one too.
 *             Without io_uring (or with sync_inline) the worker waits for each sync.
 *   batch     after every write() call: when write() returns 0, its records are on disk.
 * A segment that is ended (rotation, reopen) is synced first unless the mode is never:
 * its records, then its trailer, written only once they are durable, then the trailer
 * (writeback does not go in file order; a trailer on the disk ahead of a record would
 * make a crash's hole look like a segment ended in order). A reopen also fsyncs the DIR
 * it lets go of if a name in it is not durable yet.
 * sync() (sink.h) syncs whatever the mode, once the background syncs in flight are done:
 * an fdatasync of the open segment, or, when
 * segments were ended unsynced since the last sync (never mode's rotations, a write
 * error), one syncfs() that covers them all.
 * commit() and commit_poll() (sink.h: acknowledged delivery) promise what sync() does
 * without the wait: one background fdatasync of the open segment at a time covers every
 * batch written before it started, and those written while it runs wait for the next
 * (any mode but batch, whose write() has synced already; never mode starts the ring at
 * the first commit). Without io_uring (or with sync_inline, or an io table) a commit is
 * a sync() on the worker's thread.
 * The fsyncs counter counts fdatasync() and syncfs() calls on segments (not those of DIR
 * or of the checkpoint).
 */
enum slc_sink_file_fsync {
	SLC_SINK_FILE_FSYNC_NEVER,
	SLC_SINK_FILE_FSYNC_INTERVAL,
	SLC_SINK_FILE_FSYNC_BATCH,
};

struct slc_sink_file_cfg {
	const char *dir;        /* created if missing (its parent must exist); copied */
	uint64_t segment_bytes; /* 0: SLC_SINK_FILE_SEGMENT_BYTES_DEFAULT; else >= _MIN */
	enum slc_sink_file_fsync fsync;
	uint32_t fsync_interval_ms; /* interval mode; 0: the default */
	/* Retention (retain.c, docs/file-format.md): closed segments past retain_bytes (DIR's
	 * budget, split between the workers open) or older than retain_age_ms are deleted at
	 * rotations, oldest first, never one DIR/checkpoint or DIR/consumed still needs; 0:
	 * no limit */
	uint64_t retain_bytes;
	uint32_t retain_age_ms;
	slc_sink_key_fn key_fn; /* NULL: records carry no key */
	void *key_ctx;
	/* Rate-limited error lines (a second per worker at most); NULL: stderr. */
	slc_log_fn log;
	void *log_ctx;
	bool sync_inline; /* interval mode: the worker waits for each sync (tests) */
	/* Tests: called as each segment sync completes; a -errno it returns stands for the
	 * sync's failure. NULL in the daemon. */
	int (*test_sync_fault)(void *ctx);
	void *test_sync_fault_ctx;
	/* Every file operation and clock read (io.h); NULL: the system calls. Kept
	 * by pointer: it must outlive the sink. Anything but the system calls syncs on the
	 * worker's thread (io_uring's background syncs would bypass it). */
	const struct slc_sink_file_io *io;
};

/* Totals over all workers, since create. */
struct slc_sink_file_stats {
	uint64_t records;      /* records handed to the kernel (trailers not counted) */
	uint64_t bytes;        /* their key and payload bytes */
	uint64_t file_bytes;   /* bytes written to segment files, headers included */
	uint64_t segments;     /* segments created */
	uint64_t rotations;    /* segments ended because they were full */
	uint64_t reopens;      /* reopen() calls */
	uint64_t fsyncs;       /* fdatasync() and syncfs() calls */
	uint64_t write_errors; /* failed creates, writes and syncs; a failed write() call */
	/* Messages of write() calls that returned 0, less those refused: what status (sink.h)
	 * calls delivered (handed to the kernel; durable as --fsync says). */
	uint64_t delivered;
	/* Records refused one by one (sink.h's refused), by reason: a key longer than
	 * SLC_SINK_FILE_KEY_MAX. */
	uint64_t refused_key_too_long;
	/* Recovery at create: segments without a trailer that were cut and closed; the
	 * bytes cut from them; valid records among those bytes (after a hole); segments
	 * whose whole records end before what DIR/checkpoint said was durable. */
	uint64_t recovered_segments;
	uint64_t recovered_bytes_cut;
	uint64_t recovered_records_dropped;
	uint64_t recovered_lost_durable;
	/* Files named like segments that recovery left alone: not regular files (a FIFO,
	 * a directory, ...), or not segments of this version (each logged at error level). */
	uint64_t recovered_foreign;
	uint64_t checkpoints;       /* DIR/checkpoint written */
	uint64_t checkpoint_errors; /* a checkpoint write that failed (the old one stays) */
	/* Retention: closed segments deleted and their bytes; rotations that found segments
	 * past a limit but held by a reader (DIR/consumed); failed deletions. */
	uint64_t retain_deleted;
	uint64_t retain_deleted_bytes;
	uint64_t retain_blocked;
	uint64_t retain_errors;
};

/*
 * Creates the sink: makes DIR if missing, takes an exclusive lock on DIR/sluice.lock (one
 * daemon per directory), checks that DIR is writable, then recovers DIR's segments and
 * checks them against DIR/checkpoint (above). Each recovered segment is one log line
 * ("file sink: DIR/w000-00000003.seg: cut 57 bytes at offset 4096 (record header cut
 * short); 812 records kept"): warning level, error level when valid records were cut or
 * durable data is lost. A segment that cannot be recovered (cannot be opened, read or
 * written) is logged and left as it is; create goes on. So is anything named like a
 * segment that is not a regular file (a FIFO, socket, device or directory): it is never
 * opened for longer than an fstat, so that it cannot block create (recovered_foreign). Returns NULL with *err:
 *   -EINVAL        cfg NULL, dir NULL or empty, segment_bytes below the minimum, an
 *                  unknown fsync mode;
 *   -ENOENT        a parent of DIR is missing;
 *   -ENOTDIR       DIR (or a parent) is not a directory;
 *   -EACCES, -EPERM, -EROFS  DIR cannot be written;
 *   -EBUSY         another sink (this process or another) has DIR;
 *   -ENAMETOOLONG, -ENOMEM, or another error of mkdir/open/flock, or of listing DIR.
 */
void *slc_sink_file_create(const struct slc_sink_file_cfg *cfg, int *err);

/*
 * The sink's operations (sink.h). worker_open refuses a worker index >= WORKERS_MAX
 * (-EINVAL) or one that is open already (-EBUSY), and fails with -ENOMEM or the error of
 * reading DIR. write refuses a record whose key is longer than KEY_MAX: that record alone
 * is left out (counted in refused_key_too_long, logged), the others are written, and
 * refused names it; write still returns 0 (-ENOMEM only when the list of refusals cannot
 * grow). Otherwise write returns the error of creating, writing or syncing a
 * segment (-ENOSPC, -EIO, -EDQUOT, -EACCES, ...), which also ends that segment: the next
 * record starts a new one. flush and reopen return the error of ending or syncing a
 * segment. sync returns 0 once every record write() took is durable; else the error of
 * writing, fdatasync (which ends the segment), syncfs or the fsync of DIR (-EIO, -ENOSPC,
 * ...), or, once, the error of an fdatasync inside write/flush that failed since the last
 * sync (records written before it may be lost). Stats stay readable until destroy.
 * status (any thread): delivered is the stats' delivered, undelivered_drain_timeout 0
 * (nothing is cancelled), health "" unless a worker's last create, write or sync failed
 * and no write and then sync (a write alone in never mode, after a failed write) has
 * succeeded since: then "DIR: <what failed>: <error> (worker N, since S s)", for the
 * worker failing longest, with "; K workers failing" when K > 1 do.
 */
extern const struct slc_sink_ops slc_sink_file_ops;

/* Sums the workers' counters; any thread, any time between create and destroy. */
void slc_sink_file_stats(void *sink, struct slc_sink_file_stats *out);

/* "never", "interval", "batch" -> *out: 0, or -EINVAL. */
int slc_sink_file_fsync_parse(const char *s, enum slc_sink_file_fsync *out);
const char *slc_sink_file_fsync_name(enum slc_sink_file_fsync mode);

#endif /* SLC_ENGINE_SINK_FILE_H */
