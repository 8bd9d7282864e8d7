/* SPDX-License-Identifier: MIT */
/* memfs.h: an in-memory file system for the file sink's crash tests, with a crash model. */
#ifndef SLC_TESTS_MEMFS_H
#define SLC_TESTS_MEMFS_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"

/*
 * One directory (ROOT, which always exists) of regular files, behind the file sink's io
 * table (io.h). Each file has what reads see (the page cache) and what a crash
 * of the machine keeps for certain (the disk); the writes, truncations, creations, renames
 * and removals between the two wait in logs, as dirty pages and an uncommitted journal do:
 *
 *   pwrite, writev, ftruncate --> file's log --fdatasync, fsync, syncfs--> file on disk
 *   create, rename, unlink    --> dir's log  --fsync of the dir, syncfs--> names on disk
 *
 * POSIX's promises and no more: fdatasync makes a file's data and size durable, not its
 * name; only an fsync of the directory (or syncfs) makes names durable. A crash
 * (memfs_crash) keeps the disk, plus, of what waits:
 *   - names: a random prefix of the directory's log (a journal commits in order);
 *   - each file, sector by sector (512 bytes, written whole or not at all, as disks
 *     promise): in order, a random prefix of its log, the next write torn at a random
 *     sector, the size sometimes ahead of the data (zeros where the data did not
 *     follow); in one crash in four, reordered: each sector from a prefix of its own
 *     (writeback does not go in file order), the size from another.
 * Then the file system is dead (every call but close fails with EIO) until memfs_reboot,
 * so that the sink that "crashed" can be freed without changing anything.
 *
 * Faults on demand (memfs_fail_next): a writev writes a random part and then fails with
 * ENOSPC; an fdatasync fails with EIO after writing a random prefix of the file's log,
 * and, as Linux does, forgets the rest: a later fdatasync succeeds without it (the reads
 * still see it); an fsync of the directory fails with EIO after committing a prefix; a
 * create fails with ENOSPC.
 *
 * Deterministic: every random choice comes from the seed given to memfs_create.
 * Single-threaded: one test thread drives the sink.
 */

#define MEMFS_ROOT "/memfs"

enum memfs_fault {
	MEMFS_FAIL_WRITE,     /* the next writev: part of it, then ENOSPC */
	MEMFS_FAIL_FDATASYNC, /* the next fdatasync or fsync of a file: EIO */
	MEMFS_FAIL_DIRSYNC,   /* the next fsync of the directory: EIO */
	MEMFS_FAIL_CREATE,    /* the next open that creates a file: ENOSPC */
	MEMFS_FAULTS,
};

struct memfs;

struct memfs *memfs_create(uint64_t seed);
void memfs_destroy(struct memfs *fs);

/* The io table that works on fs (valid until memfs_destroy). */
const struct slc_sink_file_io *memfs_io(struct memfs *fs);

void memfs_fail_next(struct memfs *fs, enum memfs_fault f);
void memfs_clock_advance(struct memfs *fs, uint64_t ns);

/* A crash of the machine: what the disk keeps, then dead. */
void memfs_crash(struct memfs *fs);
/* The same in the middle of what the sink does: just before the calls-th call from now
 * that reads or changes a file or a name, which then fails like every later one. A crash in
 * the middle of an fdatasync is one before it with part of the log written (memfs.c).
 * 0 disarms it. */
void memfs_crash_at(struct memfs *fs, uint32_t calls);
bool memfs_crashed(const struct memfs *fs);
/* After a crash: every descriptor is gone, calls work again. */
void memfs_reboot(struct memfs *fs);

/* Counters, for tests that check what the model did. */
struct memfs_stats {
	uint64_t writes, syncs, dir_syncs, crashes, torn, reordered;
	uint64_t faults[MEMFS_FAULTS]; /* faults that happened (not only armed) */
};
void memfs_stats(const struct memfs *fs, struct memfs_stats *out);

#endif /* SLC_TESTS_MEMFS_H */
