/* SPDX-License-Identifier: MIT */
/* test_file_retain.c: --retain-size and --retain-age: oldest closed segments go, held ones stay. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "file_test.h"
#include "segment.h"

#define SEG_BYTES 4096u /* the smallest segment: a rotation every ~20 records */

static struct logcap cap;
static uint8_t space[64 * 400];

/* What is in dir of worker 0: the lowest and highest seq, how many, and the bytes of those
 * below skip_from (the segments retention may count). */
struct ondisk {
	uint64_t lo, hi, n, bytes_below;
};

static struct ondisk
on_disk(const char *dir, uint64_t skip_from)
{
	struct slc_sink_file_seg *segs;
	struct ondisk o = {.lo = UINT64_MAX};
	size_t n;
	char path[512];

	cr_assert_eq(slc_sink_file_dir_scan(dir, &segs, &n), 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(segs[i].worker, 0u);
		o.lo = segs[i].seq < o.lo ? segs[i].seq : o.lo;
		o.hi = segs[i].seq > o.hi ? segs[i].seq : o.hi;
		o.n++;
		snprintf(path, sizeof(path), "%s/%s", dir, segs[i].name);
		if (segs[i].seq < skip_from)
			o.bytes_below += file_size(path);
	}
	free(segs);
	return o;
}

/* Batches of 10 records until the worker has written `segments` segments. */
static uint32_t
write_until(void *s, struct slc_sink_worker *w, uint32_t first, uint64_t segments)
{
	struct slc_sink_file_stats st;

	do {
		cr_assert_eq(write_records(w, 0, first, 10, space), 0);
		first += 10;
		slc_sink_file_stats(s, &st);
	} while (st.segments < segments);
	return first;
}

/* A sink with one worker on a scratch directory; sc.dir is made first (scene_dir), so a
 * test can put a DIR/consumed there before the sink starts. */
struct scene {
	char dir[256];
	void *s;
	struct slc_sink_worker *w;
	struct slc_sink_file_stats st;
};

static void
scene_dir(struct scene *sc)
{
	tmpdir(sc->dir, sizeof(sc->dir));
}

static void
scene_sink(struct scene *sc, enum slc_sink_file_fsync mode, uint64_t retain_bytes,
           uint32_t retain_age_ms)
{
	sc->s = sink_new_retain(sc->dir, SEG_BYTES, mode, retain_bytes, retain_age_ms, &cap);
	sc->w = worker_open(sc->s, 0);
}

static void
scene_close(struct scene *sc)
{
	slc_sink_file_ops.worker_close(sc->w);
	slc_sink_file_ops.destroy(sc->s);
	rm_rf(sc->dir);
}

static unsigned
count_lines(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

Test(file_retain, size_deletes_the_oldest_closed_segments_and_logs_each, .timeout = 30)
{
	static struct scene sc;
	struct ondisk o;

	scene_dir(&sc);
	scene_sink(&sc, SLC_SINK_FILE_FSYNC_NEVER, 4 * SEG_BYTES, 0);
	write_until(sc.s, sc.w, 0, 30);
	slc_sink_file_stats(sc.s, &sc.st);
	o = on_disk(sc.dir, sc.st.segments - 2);
	/* The open segment and the one the last rotation ended are never counted. */
	cr_expect_leq(o.bytes_below, 4 * SEG_BYTES, "%lu bytes kept", (unsigned long)o.bytes_below);
	cr_expect_gt(o.lo, 0u, "nothing was deleted");
	cr_expect_eq(o.hi, sc.st.segments - 1);
	cr_expect_eq(o.n, o.hi - o.lo + 1, "deleted from the oldest, without gaps");
	cr_expect_eq(sc.st.retain_deleted, o.lo, "every deletion counted");
	cr_expect_gt(sc.st.retain_deleted_bytes, sc.st.retain_deleted * (SEG_BYTES / 2));
	cr_expect_eq(count_lines(cap.text, " deleted ("), sc.st.retain_deleted, "%s", cap.text);
	cr_expect(strstr(cap.text, "--retain-size, worker 0 keeps 16384 bytes") != NULL, "%s",
	          cap.text);
	cr_expect_eq(sc.st.retain_blocked, 0u);
	scene_close(&sc);
}

Test(file_retain, a_readers_consumed_position_holds_the_segments_it_has_not_read, .timeout = 30)
{
	static struct scene sc;
	struct ondisk o;

	scene_dir(&sc);
	/* A reader consumed worker 0's segments 0..2 and part of 3. */
	cr_assert_eq(slc_sink_file_checkpoint_consumed(sc.dir, 0, 3, 100), 0);
	scene_sink(&sc, SLC_SINK_FILE_FSYNC_NEVER, SEG_BYTES, 0);
	write_until(sc.s, sc.w, 0, 12);
	slc_sink_file_stats(sc.s, &sc.st);
	o = on_disk(sc.dir, UINT64_MAX);
	cr_expect_eq(o.lo, 3u, "0..2 deleted, 3 and later kept");
	cr_expect_eq(sc.st.retain_deleted, 3u);
	cr_expect_gt(sc.st.retain_blocked, 0u);
	cr_expect(strstr(cap.text, "a reader has not consumed it") != NULL, "%s", cap.text);
	scene_close(&sc);
}

Test(file_retain, a_worker_the_reader_has_not_started_on_keeps_everything, .timeout = 30)
{
	static struct scene sc;

	scene_dir(&sc);
	cr_assert_eq(slc_sink_file_checkpoint_consumed(sc.dir, 1, 5, 0), 0); /* worker 1 only */
	scene_sink(&sc, SLC_SINK_FILE_FSYNC_NEVER, SEG_BYTES, 0);
	write_until(sc.s, sc.w, 0, 8);
	slc_sink_file_stats(sc.s, &sc.st);
	cr_expect_eq(on_disk(sc.dir, UINT64_MAX).lo, 0u);
	cr_expect_eq(sc.st.retain_deleted, 0u);
	cr_expect_gt(sc.st.retain_blocked, 0u);
	cr_expect(strstr(cap.text, "consumed none of this worker's records") != NULL, "%s",
	          cap.text);
	scene_close(&sc);
}

Test(file_retain, the_segment_the_checkpoint_names_stays, .timeout = 30)
{
	static struct scene sc;
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];

	scene_dir(&sc);
	/* batch: every write is synced, so the checkpoint follows the writes (at most every
	 * SLC_SINK_FILE_CKPT_INTERVAL_MS) and may name an older segment than the open one. */
	scene_sink(&sc, SLC_SINK_FILE_FSYNC_BATCH, SEG_BYTES, 0);
	write_until(sc.s, sc.w, 0, 12);
	cr_assert_eq(slc_sink_file_checkpoint_read(sc.dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_assert(pos[0].valid);
	cr_expect_leq(on_disk(sc.dir, UINT64_MAX).lo, pos[0].seq,
	              "the checkpointed one was deleted");
	slc_sink_file_stats(sc.s, &sc.st);
	/* How much was deleted depends on how far the rate-limited checkpoint had moved; a
	 * checkpoint that lags is not a reader holding the disk. */
	cr_expect_eq(sc.st.retain_blocked, 0u);
	scene_close(&sc);
}

Test(file_retain, age_deletes_closed_segments_last_written_long_ago, .timeout = 30)
{
	static struct scene sc;
	char path[512];
	struct timespec old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
	uint64_t before;
	uint32_t next;

	scene_dir(&sc);
	scene_sink(&sc, SLC_SINK_FILE_FSYNC_NEVER, 0, 3600 * 1000);
	next = write_until(sc.s, sc.w, 0, 6);
	slc_sink_file_stats(sc.s, &sc.st);
	cr_expect_eq(sc.st.retain_deleted, 0u, "all were written just now");
	/* Segments 0..3 last written two hours ago (4 is the last ended, 5 open). */
	for (uint64_t seq = 0; seq < 4; seq++) {
		seg_path(path, sizeof(path), sc.dir, 0, seq);
		cr_assert_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	}
	before = sc.st.segments;
	write_until(sc.s, sc.w, next, before + 1); /* one more rotation */
	slc_sink_file_stats(sc.s, &sc.st);
	cr_expect_eq(sc.st.retain_deleted, 4u);
	cr_expect_eq(on_disk(sc.dir, UINT64_MAX).lo, 4u);
	cr_expect(strstr(cap.text, "--retain-age, last written 7") != NULL, "%s", cap.text);
	scene_close(&sc);
}

Test(file_retain, without_a_limit_nothing_is_deleted, .timeout = 30)
{
	static struct scene sc;

	scene_dir(&sc);
	scene_sink(&sc, SLC_SINK_FILE_FSYNC_NEVER, 0, 0);
	write_until(sc.s, sc.w, 0, 10);
	slc_sink_file_stats(sc.s, &sc.st);
	cr_expect_eq(on_disk(sc.dir, UINT64_MAX).n, sc.st.segments);
	cr_expect_eq(sc.st.retain_deleted + sc.st.retain_blocked, 0u);
	scene_close(&sc);
}
