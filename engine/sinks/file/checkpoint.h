/* SPDX-License-Identifier: MIT */
/* checkpoint.h: DIR/checkpoint (what the sink made durable) and DIR/consumed (what readers took). */
#ifndef SLC_ENGINE_SINKS_FILE_CHECKPOINT_H
#define SLC_ENGINE_SINKS_FILE_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "segment.h"

/*
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

#define SLC_SINK_FILE_CKPT_NAME        "checkpoint"
#define SLC_SINK_FILE_CONSUMED_NAME    "consumed"
#define SLC_SINK_FILE_CKPT_INTERVAL_MS 100u /* the least time between two checkpoint writes */

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
 * be one), -EISDIR or -EINVAL (not a regular file), or the error of open/read. _io:
 * through io (io.h) rather than the system calls.
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

#endif /* SLC_ENGINE_SINKS_FILE_CHECKPOINT_H */
