/* SPDX-License-Identifier: MIT */
/* file_test.h: helpers of the file sink's tests (file_test.c): scratch directories, sinks,
 * records that read back, sluice-cat as a process. */
#ifndef SLC_TESTS_ENGINE_SINKS_FILE_TEST_H
#define SLC_TESTS_ENGINE_SINKS_FILE_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sink_file.h"

#define SCALE(n) ((n) / SLC_TEST_SCALE_DIV > 0 ? (n) / SLC_TEST_SCALE_DIV : 1)

/*
 * The fsync interval of the tests' sinks. Tests in interval mode check that no sync comes
 * before it has passed, across a few calls that take microseconds: long enough that a
 * stall of a loaded machine between two of those calls does not pass it (400 ms could).
 */
#define INTERVAL_MS 2000

/* What reading a whole directory found. */
struct readback {
	uint64_t segments, closed, records, damaged, torn, bad_records;
	uint32_t next[4];       /* per worker: the next record index expected */
	uint64_t damage_off[8]; /* offsets of DAMAGE events, in order */
	uint64_t torn_off[8];
	const char *what; /* the last DAMAGE or TORN's reason */
	uint64_t max_seg_size;
};

/* A sync fault hook (cfg.test_sync_fault, fault_once): the fail_call-th sync fails. */
struct fault {
	int calls;
	int fail_call; /* the call (from 1) that fails with -EIO */
};

/* What the sink logged: every line, each as "<level> <text>\n". */
struct logcap {
	char text[16384];
	size_t len;
	unsigned lines;
	int level_min; /* the most severe level seen (0 error); 99: none */
};

struct syncer_arg {
	void *sink;
	uint32_t worker;
	uint32_t batches;
	_Atomic int failed;
};

/* A scratch directory under /tmp (mkdtemp), and its removal with everything in it. */
void tmpdir(char *out, size_t cap);
void rm_rf(const char *dir);
void nap_ms(long ms);

/* Records: the key is the payload's bytes before its first space; record i of worker w is
 * "k<w>.<i % 50> <w> <i> " then a filler of i * 7 % 300 letters. */
int key_before_space(void *ctx, const struct slc_msg *m, const uint8_t **key, uint32_t *key_len);
uint32_t make_payload(uint8_t *buf, uint32_t w, uint32_t i);

/* Sinks on dir (INTERVAL_MS, key_before_space), stopping the test when create fails:
 * logging to stderr; quiet, with syncs inline or not and a sync fault hook (f: NULL for
 * none); or into *cap (emptied first; cap_log). quiet_log drops lines. */
void *sink_new(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode);
void *sink_new_opts(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode,
                    bool inline_sync, struct fault *f);
int fault_once(void *ctx);
void *sink_new_cap(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode,
                   struct logcap *cap);
/* The same with --retain-size and --retain-age (0: off). */
void *sink_new_retain(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode,
                      uint64_t retain_bytes, uint32_t retain_age_ms, struct logcap *cap);
void quiet_log(void *ctx, int level, const char *fmt, ...);
void cap_log(void *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A worker (stops the test when worker_open fails); records first..first+count-1 of
 * worker in one write() (space: count * 400 bytes); a thread that writes and syncs
 * batches (struct syncer_arg). */
struct slc_sink_worker *worker_open(void *s, uint32_t worker);
int write_records(struct slc_sink_worker *w, uint32_t worker, uint32_t first, uint32_t count,
                  uint8_t *space);
void *syncer_thread(void *p);

/* Files: a segment's path; a file's size; a whole file, NUL-terminated (malloc'ed); a
 * checkpoint file as the sink writes one, with lines in it. */
void seg_path(char *out, size_t cap, const char *dir, uint32_t worker, uint64_t seq);
uint64_t file_size(const char *path);
char *slurp(const char *path);
void ckpt_write_raw(const char *dir, const char *name, const char *lines);

/* Reads every segment of dir and checks the records against make_payload (struct
 * readback); count records of worker 0 in one closed segment, with their offsets (count
 * + 1: the last is the trailer's); a FIFO named like a segment among real ones. */
void read_back(const char *dir, struct readback *rb, bool skip_damage);
void write_one_segment(const char *dir, uint32_t count, uint64_t *off);
void fifo_scene(const char *dir);

/* sluice-cat (SLC_SLUICE_CAT) with args: its exit status, stdout and stderr (malloc'ed);
 * waiting for a child at most timeout_ms, then killing it (false). */
int run_cat(const char *scratch, const char *const *args, char **out, char **err);
bool wait_child(pid_t pid, uint32_t timeout_ms, int *status);

#endif /* SLC_TESTS_ENGINE_SINKS_FILE_TEST_H */
