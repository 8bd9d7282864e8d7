/* SPDX-License-Identifier: MIT */
/* reader.h: reading one segment file record by record, with resync past damage. */
#ifndef SLC_ENGINE_SINKS_FILE_READER_H
#define SLC_ENGINE_SINKS_FILE_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "segment.h"

/*
 * What recovery (recover.c), sluice-cat and the tests read segments with.
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
 */

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
 * error here: the first event reports it (DAMAGE or TORN at offset 0). _io: through io
 * (io.h) rather than the system calls.
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

#endif /* SLC_ENGINE_SINKS_FILE_READER_H */
