/* SPDX-License-Identifier: MIT */
/* cat.h: what sluice_cat.c and cat_follow.c share: printing a record, reading a segment. */
#ifndef SLC_ENGINE_CAT_CAT_H
#define SLC_ENGINE_CAT_CAT_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "segment.h"

enum { SLC_CAT_EXIT_DAMAGE = 1, SLC_CAT_EXIT_USAGE = 2, SLC_CAT_EXIT_TORN = 3 };

/* How a record is printed: its payload, key<TAB>payload, or a JSON object (cat_json.h). */
enum slc_cat_out { SLC_CAT_OUT_PAYLOAD, SLC_CAT_OUT_KEYS, SLC_CAT_OUT_JSON };

/* What to skip, and what was printed, per worker (--from-checkpoint, --commit). */
struct slc_cat_positions {
	struct slc_sink_file_pos from[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_pos last[SLC_SINK_FILE_WORKERS_MAX];
	bool beyond; /* a record of a worker >= WORKERS_MAX was printed: no position for it */
};

struct slc_cat_totals {
	uint64_t segments;
	uint64_t closed;
	uint64_t records;
	uint64_t bytes; /* key + payload */
	uint64_t damaged;
	uint64_t torn;
	bool unreadable;
};

/* One record to stdout in mode (stdio: the caller flushes). */
void slc_cat_print(enum slc_cat_out mode, uint32_t worker, uint64_t seq, uint64_t offset,
                   const uint8_t *key, uint32_t key_len, const uint8_t *payload,
                   uint32_t payload_len);

/*
 * Reads the segment at path with the file sink's reader, to its end at the time of the
 * open; prints its records (unless verify) and reports its damage and torn tail on stderr
 * ("PATH: offset N: ..."), counting them in t. pos: NULL, or what to skip (from: records
 * before that worker's position) and where to note what was printed (last).
 */
void slc_cat_segment(const char *path, const struct slc_sink_file_seg *seg, bool verify,
                     enum slc_cat_out mode, struct slc_cat_positions *pos,
                     struct slc_cat_totals *t);

/*
 * sluice-cat --follow DIR: prints every record as slc_cat_segment would, from the start of
 * each worker's first segment (from: NULL) or from its position in from[] (the consumed
 * checkpoint), then keeps printing what the file sink appends, segment after segment, until
 * SIGINT or SIGTERM. A record is printed once it is whole (its length in the file and its
 * CRC good); bytes that are not yet one are waited for, never reported, while the segment
 * may still grow: only once the segment has ended (its trailer, or a newer segment of that
 * worker and no growth for 2 s) is what is left read with the reader, and its damage or
 * torn tail reported. Writes no checkpoint. Returns the exit status: 0, or
 * SLC_CAT_EXIT_DAMAGE (damage, a file or DIR that cannot be read, stdout failing) or
 * SLC_CAT_EXIT_TORN.
 */
int slc_cat_follow(const char *dir, enum slc_cat_out mode, const struct slc_sink_file_pos *from);

#endif /* SLC_ENGINE_CAT_CAT_H */
