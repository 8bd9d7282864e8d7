/* SPDX-License-Identifier: MIT */
/* sink_file.h: the file sink (--sink file:DIR), its on-disk format, and the reader of it. */
#ifndef SLC_ENGINE_SINK_FILE_H
#define SLC_ENGINE_SINK_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "sinks/sink.h"
#include "sink_file_io.h"

/*
 * Each worker appends to its own segment files in DIR, so workers share no lock, no file
 * and no buffer. A segment is created when the worker's first record needs one (no empty
 * files from idle workers), and ended when it would grow past segment_bytes (rotation),
 * on SIGHUP (reopen), after a write error, and at worker_close. A new segment always gets
 * a new name, one past the highest seq this worker has in DIR: a restarted daemon never
 * writes records into an old file (recovery, below, only cuts a crashed segment's tail and
 * appends its trailer).
 *
 * On-disk format, version 1 (docs/file-format.md says the same, with examples). All
 * integers little-endian. CRC is CRC32C (crc32c.h).
 *
 * File name: DIR/w<worker>-<seq>.seg, worker in decimal with at least 3 digits, seq with
 * at least 8 ("w007-00000042.seg"); zero-padded, so that names sort in numeric order up to
 * worker 999 and seq 99999999. Other names in DIR are ignored (sluice.lock is ours).
 *
 * Segment header, 32 bytes, at offset 0:
 *    0  u8[8]  magic "SLUICESG"
 *    8  u16    version (1)
 *   10  u16    header length (32): records start here
 *   12  u32    worker
 *   16  u64    seq
 *   24  u32    flags (0)
 *   28  u32    CRC of bytes 0..27
 *
 * Records follow back to back, no padding:
 *    0  u32    magic 0x9BD51CE5 (bytes e5 1c d5 9b: not text, so rarely inside a payload)
 *    4  u32    payload length P
 *    8  u16    key length K (0: no key)
 *   10  u16    flags: bit 0 = segment trailer; the other bits are 0
 *   12  u32    CRC of bytes 4..11 of this header, then the key, then the payload
 *   16  u8[K]  key
 * 16+K  u8[P]  payload
 *
 * A segment that was ended in order finishes with a trailer: a record with flag bit 0,
 * K = 0, P = 16, payload { u64 records before it; u64 its own offset }. Nothing follows
 * it. A segment without a trailer was being written when the writer stopped (crash, kill,
 * write error) or is still being written.
 *
 * Reading: a record is valid when its magic, flags and lengths are sound, it lies within
 * the file, and its CRC matches. When the record at offset X is not valid, the reader
 * looks for the next valid record after X:
 *   - found at Y: DAMAGE, bytes X..Y-1 are lost, reading goes on at Y;
 *   - none: TORN tail at X: the file ends in a record cut short, which is what a crash in
 *     the middle of a write leaves (including the zeros some file systems show for
 *     blocks whose data never reached the disk).
 * So damage inside the last record of a segment without a trailer reads as a torn tail
 * (nothing after it tells them apart); in a segment with a trailer it reads as damage.
 * A payload that itself holds a whole valid record (a segment file ingested as data) can
 * make a torn tail just before it read as damage; the CRC makes anything else that looks
 * like a record after a tear vanishingly unlikely.
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
 * left as they are.
 *
 * Checkpoint: DIR/checkpoint says, per worker, a segment seq and an offset up to which the
 * records were durable (fdatasync'ed) at some point: "at least this much", possibly
 * behind the truth. A text file that ends in its CRC:
 *
 *   sluice-checkpoint 1
 *   durable <worker> <seq> <offset>      one line per worker that has synced anything
 *   crc <8 hex digits>                   CRC32C of every byte before this line
 *
 * The sink writes it as DIR/checkpoint.tmp, fdatasyncs it, renames it over
 * DIR/checkpoint and fsyncs DIR: after a sync, at most every
 * SLC_SINK_FILE_CKPT_INTERVAL_MS; and at worker_close and destroy. Recovery compares: a checkpointed segment whose whole
 * records now end before the checkpointed offset (cut short, damaged, or no longer a
 * segment) is reported as LOST DURABLE DATA (error level): the disk or file system dropped
 * data it had said was safe. A checkpointed segment that is gone altogether is a warning
 * (removed or moved by hand, most likely).
 *
 * DIR/consumed has the same form with "consumed" lines: what a reader has consumed
 * (slc_sink_file_checkpoint_consumed, sluice-cat --commit). Its own file, because the
 * daemon and readers are different processes: each file has one writer at a time.
 */

#define SLC_SINK_FILE_WORKERS_MAX               256u /* worker indexes 0..255 (pool.h's cap) */
#define SLC_SINK_FILE_SEGMENT_BYTES_MIN         4096u
#define SLC_SINK_FILE_SEGMENT_BYTES_DEFAULT     (128ull << 20)
#define SLC_SINK_FILE_FSYNC_INTERVAL_MS_DEFAULT 1000u
#define SLC_SINK_FILE_KEY_MAX                   65535u

#define SLC_SINK_FILE_SEG_MAGIC        "SLUICESG"
#define SLC_SINK_FILE_SEG_VERSION      1u
#define SLC_SINK_FILE_SEG_HDR_SIZE     32u
#define SLC_SINK_FILE_REC_MAGIC        0x9bd51ce5u
#define SLC_SINK_FILE_REC_HDR_SIZE     16u
#define SLC_SINK_FILE_REC_F_END        0x0001u
#define SLC_SINK_FILE_TRAILER_SIZE     (SLC_SINK_FILE_REC_HDR_SIZE + 16u)
#define SLC_SINK_FILE_NAME_MAX         40u /* "w" 10 digits "-" 20 digits ".seg" NUL, rounded */
#define SLC_SINK_FILE_CKPT_NAME        "checkpoint"
#define SLC_SINK_FILE_CONSUMED_NAME    "consumed"
#define SLC_SINK_FILE_CKPT_INTERVAL_MS 100u /* the least time between two checkpoint writes */

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
	slc_sink_key_fn key_fn;     /* NULL: records carry no key */
	void *key_ctx;
	/* Rate-limited error lines (a second per worker at most); NULL: stderr. */
	void (*log)(void *ctx, int level, const char *fmt, ...)
	        __attribute__((format(printf, 3, 4)));
	void *log_ctx;
	bool sync_inline; /* interval mode: the worker waits for each sync (tests) */
	/* Tests: called as each segment sync completes; a -errno it returns stands for the
	 * sync's failure. NULL in the daemon. */
	int (*test_sync_fault)(void *ctx);
	void *test_sync_fault_ctx;
	/* Every file operation and clock read (sink_file_io.h); NULL: the system calls. Kept
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

/* ---- segments in a directory ---- */

struct slc_sink_file_seg {
	uint32_t worker;
	uint64_t seq;
	char name[SLC_SINK_FILE_NAME_MAX];
};

/* True when name is a segment name as the sink writes it (canonical: "w7-1.seg" and
 * "w0007-00000001.seg" are not, "w007-00000001.seg" is). */
bool slc_sink_file_name_parse(const char *name, uint32_t *worker, uint64_t *seq);

/* Lists DIR's segments sorted by worker, then seq: 0 and a malloc'ed array (*segs, free()
 * it; NULL when *n is 0), or -ENOENT, -ENOTDIR, -EACCES, -ENOMEM, ... _io: through io
 * (sink_file_io.h) rather than the system calls, as are the other _io functions. */
int slc_sink_file_dir_scan(const char *dir, struct slc_sink_file_seg **segs, size_t *n);
int slc_sink_file_dir_scan_io(const struct slc_sink_file_io *io, const char *dir,
                              struct slc_sink_file_seg **segs, size_t *n);

/* ---- reading one segment ---- */

enum slc_sink_file_ev_kind {
	SLC_SINK_FILE_EV_RECORD, /* key, payload */
	SLC_SINK_FILE_EV_DAMAGE, /* bytes offset..offset+len-1 failed their checks; go on */
	SLC_SINK_FILE_EV_TORN,   /* the file ends in len bytes at offset that are no record */
	SLC_SINK_FILE_EV_END,    /* end of the segment (offset: its size); closed: trailer seen */
};

struct slc_sink_file_ev {
	enum slc_sink_file_ev_kind kind;
	uint64_t offset;  /* of the record, damage, torn tail; END: the file's size */
	uint64_t len;     /* RECORD: its size on disk; DAMAGE, TORN: bytes affected */
	const char *what; /* DAMAGE, TORN: what failed (a static string) */
	bool closed;      /* END: the segment ends with a valid trailer */
	/* RECORD: valid until the next call. */
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *payload;
	uint32_t payload_len;
};

struct slc_sink_file_reader;

/*
 * Opens one segment file for reading; it reads the bytes the file had at open (a segment
 * being written is read up to there). Returns NULL with *err: -ENOMEM, -EISDIR (a
 * directory), -EINVAL (not a regular file: a FIFO, socket or device, which it does not
 * wait on), or the error of stat/open/fstat (-ENOENT, -EACCES, ...). A bad or short segment header is not an
 * error here: the first event reports it (DAMAGE or TORN at offset 0).
 */
struct slc_sink_file_reader *slc_sink_file_reader_open(const char *path, int *err);
struct slc_sink_file_reader *slc_sink_file_reader_open_io(const struct slc_sink_file_io *io,
                                                          const char *path, int *err);

/*
 * The next event: records in file order; DAMAGE then the records after it; at most one
 * TORN, last before END; END, then END again on every later call. 0, or -errno of pread
 * (-EIO) or -ENOMEM, after which the reader can only be closed.
 */
int slc_sink_file_reader_next(struct slc_sink_file_reader *r, struct slc_sink_file_ev *ev);

/* The worker and seq of the segment header; false when the header is not valid. */
bool slc_sink_file_reader_header(const struct slc_sink_file_reader *r, uint32_t *worker,
                                 uint64_t *seq);

/* Accepts NULL. */
void slc_sink_file_reader_close(struct slc_sink_file_reader *r);

/* ---- checkpoints ---- */

/* A position in one worker's segments: segment seq, offset in it (a record boundary). */
struct slc_sink_file_pos {
	bool valid; /* false: nothing recorded for this worker */
	uint64_t seq;
	uint64_t offset;
};

enum slc_sink_file_ckpt_kind {
	SLC_SINK_FILE_CKPT_DURABLE,  /* DIR/checkpoint, written by the sink */
	SLC_SINK_FILE_CKPT_CONSUMED, /* DIR/consumed, written by readers */
};

/*
 * Reads DIR/checkpoint or DIR/consumed into pos[0..WORKERS_MAX). 0, or -ENOENT (no such
 * file: nothing recorded), -EBADMSG (its CRC or its form is wrong), -EFBIG (too large to
 * be one), -EISDIR or -EINVAL (not a regular file), or the error of open/read.
 */
int slc_sink_file_checkpoint_read(const char *dir, enum slc_sink_file_ckpt_kind kind,
                                  struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX]);
int slc_sink_file_checkpoint_read_io(const struct slc_sink_file_io *io, const char *dir,
                                     enum slc_sink_file_ckpt_kind kind,
                                     struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX]);

/*
 * Records in DIR/consumed that a reader has consumed worker's records up to (seq, offset):
 * every record of its segments before seq, and those of segment seq that start before
 * offset. Replaces what was recorded for that worker (an older position rewinds it);
 * keeps the other workers'. Atomic and durable when it returns 0 (consumed.tmp,
 * fdatasync, rename, fsync of DIR), serialised with other readers by a flock on
 * DIR/consumed.lock; it can run while the daemon writes DIR. -EINVAL: worker >=
 * WORKERS_MAX; -EBADMSG: DIR/consumed is corrupt (left alone: remove it by hand); or the
 * error of open/write/fdatasync/rename/fsync.
 */
int slc_sink_file_checkpoint_consumed(const char *dir, uint32_t worker, uint64_t seq,
                                      uint64_t offset);

#endif /* SLC_ENGINE_SINK_FILE_H */
