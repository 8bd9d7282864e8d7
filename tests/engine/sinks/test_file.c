/* SPDX-License-Identifier: MIT */
/* test_file.c: the file sink's writer: workers, rotation, reopen, fsync modes, refusals. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "file_test.h"

struct writer_arg {
	void *sink;
	uint32_t worker;
	uint32_t count;
	_Atomic int failed; /* the first error, or 0 */
	_Atomic bool done;
};

static void *
writer_thread(void *p)
{
	struct writer_arg *a = p;
	static _Thread_local uint8_t space[64 * 400];
	struct slc_sink_worker *w = NULL;
	uint32_t i = 0, batch = 1;
	int rc;

	/* No cr_assert off the test's thread: note the error, the test checks it. */
	rc = slc_sink_file_ops.worker_open(a->sink, a->worker, &w);
	while (rc == 0 && i < a->count) {
		uint32_t k = a->count - i < batch ? a->count - i : batch;

		rc = write_records(w, a->worker, i, k, space);
		i += k;
		batch = batch % 64 + 1;
		if (rc == 0 && i % 1000 < k)
			rc = slc_sink_file_ops.flush(w);
	}
	if (w != NULL)
		slc_sink_file_ops.worker_close(w);
	atomic_store_explicit(&a->failed, rc, memory_order_relaxed);
	atomic_store_explicit(&a->done, true, memory_order_release);
	return NULL;
}

Test(sink_file, two_workers_on_two_threads_read_back_in_order)
{
	const uint32_t n = SCALE(100000);
	struct writer_arg args[2];
	struct slc_sink_file_stats st;
	struct readback rb;
	pthread_t th[2];
	char dir[64];
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 1 << 20, SLC_SINK_FILE_FSYNC_NEVER);
	for (uint32_t i = 0; i < 2; i++) {
		args[i] = (struct writer_arg){.sink = s, .worker = i, .count = n};
		cr_assert_eq(pthread_create(&th[i], NULL, writer_thread, &args[i]), 0);
	}
	/* Counters are read while the workers add to them. */
	while (!atomic_load_explicit(&args[0].done, memory_order_acquire) ||
	       !atomic_load_explicit(&args[1].done, memory_order_acquire)) {
		slc_sink_file_stats(s, &st);
		cr_assert_leq(st.records, 2ull * n);
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	for (uint32_t i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(atomic_load(&args[i].failed), 0, "worker %u: %s", i,
		             strerror(-atomic_load(&args[i].failed)));
	}
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.records, 2ull * n);
	cr_expect_eq(st.write_errors, 0);
	cr_expect_eq(st.rotations + 2, st.segments);

	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 2ull * n);
	cr_expect_eq(rb.next[0], n);
	cr_expect_eq(rb.next[1], n);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.damaged, 0);
	cr_expect_eq(rb.torn, 0);
	cr_expect_eq(rb.segments, st.segments);
	cr_expect_eq(rb.closed, rb.segments);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

Test(sink_file, rotation_by_size_loses_nothing_at_the_boundaries)
{
	const uint32_t n = 3000;
	static uint8_t space[64 * 400], big[10000];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct readback rb;
	struct slc_msg m = {.data = big, .len = sizeof(big)};
	char dir[64];
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 4096, SLC_SINK_FILE_FSYNC_NEVER);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < n; i += 7)
		cr_assert_eq(write_records(w, 0, i, n - i < 7 ? n - i : 7, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_gt(st.segments, 10);
	cr_expect_eq(st.rotations, st.segments - 1);
	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, n);
	cr_expect_eq(rb.next[0], n);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.segments, st.segments);
	cr_expect_eq(rb.closed, rb.segments);
	cr_expect_leq(rb.max_seg_size, 4096, "a segment outgrew segment_bytes");

	/* A record larger than a segment gets one of its own. */
	memset(big, 'x', sizeof(big));
	w = worker_open(s, 1);
	cr_assert_eq(slc_sink_file_ops.write(w, &m, 1), 0);
	cr_assert_eq(slc_sink_file_ops.write(w, &m, 1), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.write_errors, 0);
	{
		char path[512];

		seg_path(path, sizeof(path), dir, 1, 0);
		cr_expect_eq(file_size(path), SLC_SINK_FILE_SEG_HDR_SIZE + 16 + sizeof(big) +
		                                      SLC_SINK_FILE_TRAILER_SIZE);
		seg_path(path, sizeof(path), dir, 1, 1);
		cr_expect_eq(access(path, F_OK), 0);
	}
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

static uint64_t
count_segments(const char *dir)
{
	struct slc_sink_file_seg *segs;
	size_t n;

	cr_assert_eq(slc_sink_file_dir_scan(dir, &segs, &n), 0);
	free(segs);
	return n;
}

Test(sink_file, restart_continues_seq_and_leaves_closed_files_alone)
{
	static uint8_t space[64 * 400];
	struct slc_sink_worker *w;
	struct readback rb;
	char dir[64], p0[512], p5[512];
	uint64_t size0;
	void *s;
	int fd;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_BATCH);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 10, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	seg_path(p0, sizeof(p0), dir, 0, 0);
	size0 = file_size(p0);

	/* A crash right after a create left an empty seq 5; a restart goes past it (and
	 * recovery makes it an empty closed segment). */
	seg_path(p5, sizeof(p5), dir, 0, 5);
	fd = open(p5, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0);
	close(fd);

	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_BATCH);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 10, 10, space), 0);
	slc_sink_file_ops.worker_close(w);
	/* Worker 1 has its own numbering. */
	w = worker_open(s, 1);
	cr_assert_eq(write_records(w, 1, 0, 3, space), 0);
	slc_sink_file_ops.worker_close(w);
	/* Opened again in the same run: a new segment again. */
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 20, 1, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);

	cr_expect_eq(file_size(p0), size0, "a closed segment was written to");
	cr_expect_eq(file_size(p5), SLC_SINK_FILE_SEG_HDR_SIZE + SLC_SINK_FILE_TRAILER_SIZE,
	             "the empty seq 5 was not recovered as an empty segment");
	seg_path(p0, sizeof(p0), dir, 0, 6);
	cr_expect_eq(access(p0, F_OK), 0, "no w000-00000006.seg");
	seg_path(p0, sizeof(p0), dir, 0, 7);
	cr_expect_eq(access(p0, F_OK), 0, "no w000-00000007.seg");
	seg_path(p0, sizeof(p0), dir, 1, 0);
	cr_expect_eq(access(p0, F_OK), 0, "no w001-00000000.seg");
	cr_expect_eq(count_segments(dir), 5);

	read_back(dir, &rb, false);
	cr_expect_eq(rb.next[0], 21);
	cr_expect_eq(rb.next[1], 3);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.torn, 0, "the empty seq 5 still reads as a torn header");
	cr_expect_eq(rb.closed, 5);
	cr_expect_eq(rb.damaged, 0);
	rm_rf(dir);
}

Test(sink_file, reopen_ends_the_segment_and_starts_a_new_one)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct readback rb;
	char dir[64], moved[80], path[512];
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 5, space), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w), 0);
	cr_assert_eq(write_records(w, 0, 5, 5, space), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w), 0); /* nothing open: nothing to end */
	cr_assert_eq(write_records(w, 0, 10, 5, space), 0);
	cr_expect_eq(count_segments(dir), 3);

	/* Log rotation by hand: DIR moved away, SIGHUP; the sink makes DIR again. */
	snprintf(moved, sizeof(moved), "%s.old", dir);
	cr_assert_eq(rename(dir, moved), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w), 0);
	cr_assert_eq(write_records(w, 0, 15, 5, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.reopens, 4);
	cr_expect_eq(st.segments, 4);
	cr_expect_eq(st.write_errors, 0);
	slc_sink_file_ops.destroy(s);

	read_back(moved, &rb, false);
	cr_expect_eq(rb.segments, 3);
	cr_expect_eq(rb.closed, 3);
	cr_expect_eq(rb.next[0], 15);
	cr_expect_eq(rb.bad_records, 0);
	/* The seq goes on in the new DIR: names stay unique across the two. */
	seg_path(path, sizeof(path), dir, 0, 3);
	cr_expect_eq(access(path, F_OK), 0, "no w000-00000003.seg in the new DIR");
	rm_rf(dir);
	rm_rf(moved);
}

/* Calls flush until it returns 0 (everything durable) or 30 s have passed: its last rc. */
static int
flush_until_durable(struct slc_sink_worker *w)
{
	int rc = 1;

	for (int i = 0; i < 3000 && rc == 1; i++) {
		rc = slc_sink_file_ops.flush(w);
		if (rc == 1)
			nap_ms(10);
	}
	return rc;
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

Test(sink_file, fsync_modes_sync_when_they_say)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	char dir[64];
	void *s;

	/* batch: one fdatasync per write() call, and one more for the trailer at close. */
	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_BATCH);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < 10; i++)
		cr_assert_eq(write_records(w, 0, i * 3, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 10);
	cr_assert_eq(flush_until_durable(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 10, "flush synced again with nothing new");
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 11);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);

	/* never: not on write, not on flush; only at close, so that a drain is durable. */
	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < 10; i++)
		cr_assert_eq(write_records(w, 0, i * 3, 3, space), 0);
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);

	/* interval (INTERVAL_MS), the worker waiting for each sync: not before the interval has
	 * passed, then at the write or flush (idle) that finds it passed. */
	tmpdir(dir, sizeof(dir));
	s = sink_new_opts(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL, true, NULL);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 3, space), 0);
	cr_assert_eq(write_records(w, 0, 3, 3, space), 0);
	cr_assert_eq(slc_sink_file_ops.flush(w), 1, "flush: unsynced, not due yet");
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 0);
	nap_ms(INTERVAL_MS + 50);
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1, "flush synced with nothing unsynced");
	cr_assert_eq(write_records(w, 0, 6, 3, space), 0);
	nap_ms(INTERVAL_MS + 50);
	cr_assert_eq(write_records(w, 0, 9, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 2);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

Test(sink_file, interval_syncs_run_in_the_background_and_reach_the_checkpoint)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct readback rb;
	char dir[64], path[512];
	int fds = open_fds();
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 3, space), 0);
	cr_assert_eq(slc_sink_file_ops.flush(w), 1, "flush: unsynced, not due yet");
	nap_ms(INTERVAL_MS + 50);
	/* The write that finds the interval passed starts the sync and returns: the sync is
	 * counted, and reaches the checkpoint, when a later call finds it done. */
	cr_assert_eq(write_records(w, 0, 3, 3, space), 0);
	cr_assert_eq(flush_until_durable(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);
	cr_expect_eq(st.write_errors, 0);
	seg_path(path, sizeof(path), dir, 0, 0);
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect(pos[0].valid);
	cr_expect_eq(pos[0].seq, 0);
	cr_expect_eq(pos[0].offset, file_size(path), "checkpoint %llu, file %llu",
	             (unsigned long long)pos[0].offset, (unsigned long long)file_size(path));
	cr_assert_eq(slc_sink_file_ops.flush(w), 0, "nothing new: nothing to do");

	/* Rotations end segments in the background as well; more ended segments than jobs
	 * in flight make the worker wait for the oldest. Each ended segment is synced once
	 * and closed by its job. */
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 4096, SLC_SINK_FILE_FSYNC_INTERVAL);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < 300; i += 10)
		cr_assert_eq(write_records(w, 0, i, 10, space), 0);
	cr_assert_eq(flush_until_durable(w), 0);
	slc_sink_file_stats(s, &st);
	cr_assert_gt(st.rotations, 8);
	cr_expect_geq(st.fsyncs, st.rotations);
	cr_expect_eq(st.write_errors, 0);
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect(pos[0].valid);
	/* The last ended segment, or the open one if an interval's sync came after it. */
	cr_expect_geq(pos[0].seq, st.rotations - 1);
	seg_path(path, sizeof(path), dir, 0, pos[0].seq);
	cr_expect_eq(pos[0].offset, file_size(path), "the checkpoint is behind");
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	cr_expect_eq(open_fds(), fds, "descriptors left open");
	read_back(dir, &rb, false);
	cr_expect_eq(rb.segments, st.rotations + 1);
	cr_expect_eq(rb.closed, rb.segments);
	cr_expect_eq(rb.next[0], 300);
	cr_expect_eq(rb.bad_records, 0);
	rm_rf(dir);
}

/*
 * One scene of the fault test: a fresh folder and sink whose first sync fails, a worker
 * that wrote 3 records, and the interval past, so that the next write starts a sync.
 */
struct fault_scene {
	char dir[64];
	struct fault f;
	void *s;
	struct slc_sink_worker *w;
};

static void
fault_scene_start(struct fault_scene *sc, bool inline_sync, uint8_t *space)
{
	tmpdir(sc->dir, sizeof(sc->dir));
	sc->f = (struct fault){.fail_call = 1};
	sc->s = sink_new_opts(sc->dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL, inline_sync, &sc->f);
	sc->w = worker_open(sc->s, 0);
	cr_assert_eq(write_records(sc->w, 0, 0, 3, space), 0);
	nap_ms(INTERVAL_MS + 50);
}

static void
fault_scene_end(struct fault_scene *sc)
{
	slc_sink_file_ops.worker_close(sc->w);
	slc_sink_file_ops.destroy(sc->s);
	rm_rf(sc->dir);
}

Test(sink_file, a_failed_background_sync_abandons_its_segment_and_claims_nothing)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_stats st;
	struct fault_scene sc;

	/* The open segment's sync fails: it is abandoned (the next record starts a new one),
	 * counted, logged, and the next sync() returns the failure once. */
	fault_scene_start(&sc, false, space);
	cr_assert_eq(write_records(sc.w, 0, 3, 3, space), 0);
	cr_assert_eq(flush_until_durable(sc.w), 0);
	slc_sink_file_stats(sc.s, &st);
	cr_expect_eq(st.write_errors, 1);
	cr_expect_eq(st.fsyncs, 0);
	cr_expect_eq(slc_sink_file_checkpoint_read(sc.dir, SLC_SINK_FILE_CKPT_DURABLE, pos),
	             -ENOENT, "a checkpoint claims a segment whose sync failed");
	cr_assert_eq(write_records(sc.w, 0, 6, 3, space), 0);
	cr_expect_eq(count_segments(sc.dir), 2, "the failed segment was written into again");
	cr_expect_eq(slc_sink_file_ops.sync(sc.w), -EIO);
	cr_expect_eq(slc_sink_file_ops.sync(sc.w), 0, "the failure is returned once");
	cr_assert_eq(slc_sink_file_checkpoint_read(sc.dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect_eq(pos[0].seq, 1);
	fault_scene_end(&sc);

	/* Two syncs of one segment in flight (the interval's, then its end's at reopen): the
	 * first fails, so the second, which the kernel would report as a success, proves
	 * nothing either. */
	fault_scene_start(&sc, false, space);
	cr_assert_eq(write_records(sc.w, 0, 3, 3, space), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(sc.w), 0);
	cr_assert_eq(flush_until_durable(sc.w), 0);
	slc_sink_file_stats(sc.s, &st);
	cr_expect_eq(sc.f.calls, 2);
	cr_expect_eq(st.write_errors, 2);
	cr_expect_eq(slc_sink_file_checkpoint_read(sc.dir, SLC_SINK_FILE_CKPT_DURABLE, pos),
	             -ENOENT, "a checkpoint claims a segment whose sync failed");
	cr_expect_eq(slc_sink_file_ops.sync(sc.w), -EIO);
	fault_scene_end(&sc);

	/* The worker waiting for the sync (sync_inline): the write that syncs returns the
	 * failure, and the segment is abandoned the same way. */
	fault_scene_start(&sc, true, space);
	cr_expect_eq(write_records(sc.w, 0, 3, 3, space), -EIO);
	slc_sink_file_stats(sc.s, &st);
	cr_expect_eq(st.write_errors, 1);
	cr_assert_eq(write_records(sc.w, 0, 6, 3, space), 0);
	cr_expect_eq(count_segments(sc.dir), 2);
	fault_scene_end(&sc);
}

/* A file size limit makes writes fail part way (a short write, then EFBIG), as a full
 * disk does with ENOSPC, without needing a small file system. */
Test(sink_file, write_error_ends_the_segment_at_its_last_whole_record)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_stats st;
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	struct slc_sink_worker *w;
	struct rlimit old, lim;
	uint64_t before = 0, seg0 = 0;
	uint32_t i = 0;
	char dir[64], path[512];
	void *s;
	int rc = 0, err;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
	w = worker_open(s, 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 10000;
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	while (i < 1000) {
		slc_sink_file_stats(s, &st);
		before = st.records;
		rc = write_records(w, 0, i, 5, space);
		if (rc != 0)
			break;
		i += 5;
	}
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	cr_expect_eq(rc, -EFBIG);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.write_errors, 1);
	cr_expect_eq(st.records, before, "records of the failed batch were counted");

	/* The next write starts a new segment. */
	cr_assert_eq(write_records(w, 0, 1000, 5, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	cr_expect_eq(count_segments(dir), 2);

	/* The failed segment holds the records before the failed batch, no torn tail. */
	seg_path(path, sizeof(path), dir, 0, 0);
	r = slc_sink_file_reader_open(path, &err);
	cr_assert_not_null(r);
	for (;;) {
		cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
		if (ev.kind != SLC_SINK_FILE_EV_RECORD)
			break;
		seg0++;
	}
	cr_expect_eq(ev.kind, SLC_SINK_FILE_EV_END, "kind %d: %s", ev.kind, ev.what);
	cr_expect_not(ev.closed);
	cr_expect_eq(seg0, before);
	slc_sink_file_reader_close(r);
	rm_rf(dir);
}

Test(sink_file, unusable_dir_is_refused_with_a_clear_error)
{
	struct slc_sink_file_cfg cfg = {.fsync = SLC_SINK_FILE_FSYNC_NEVER};
	char dir[64], path[128];
	void *s, *s2;
	int err = 0, fd;

	tmpdir(dir, sizeof(dir));
	/* A parent that is missing, a DIR that is a file, a parent that is a file. */
	snprintf(path, sizeof(path), "%s/no/such", dir);
	cfg.dir = path;
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -ENOENT);
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -ENOTDIR);
	snprintf(path, sizeof(path), "%s/file/sub", dir);
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -ENOTDIR);

	/* Bad configuration. */
	cfg.dir = "";
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	cfg.dir = dir;
	cfg.segment_bytes = 100;
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	cfg.segment_bytes = 0;
	cfg.fsync = (enum slc_sink_file_fsync)7;
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	cfg.fsync = SLC_SINK_FILE_FSYNC_NEVER;

	/* One sink per directory. */
	s = slc_sink_file_create(&cfg, &err);
	cr_assert_not_null(s);
	s2 = slc_sink_file_create(&cfg, &err);
	cr_expect_null(s2);
	cr_expect_eq(err, -EBUSY);
	slc_sink_file_ops.destroy(s);
	s = slc_sink_file_create(&cfg, &err);
	cr_expect_not_null(s, "the lock outlived destroy");
	slc_sink_file_ops.destroy(s);

	/* A directory that cannot be written. Root writes anywhere chmod allows it to,
	 * so root tries sysfs instead, where nobody may create files. */
	snprintf(path, sizeof(path), "%s/ro", dir);
	cr_assert_eq(mkdir(path, 0555), 0);
	cfg.dir = geteuid() == 0 ? "/sys" : path;
	s = slc_sink_file_create(&cfg, &err);
	if (s != NULL) {
		slc_sink_file_ops.destroy(s);
		rm_rf(dir);
		cr_skip_test("%s is writable here", cfg.dir);
	}
	cr_expect(err == -EACCES || err == -EPERM || err == -EROFS, "%s: %s", cfg.dir,
	          strerror(-err));
	rm_rf(dir);
}

Test(sink_file, large_and_empty_payloads_and_long_keys)
{
	static uint8_t big[1 << 20], mid[8193], huge_key[70001];
	struct slc_sink_file_seg *segs;
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct slc_msg m[6];
	const uint32_t *idx;
	char dir[64], path[512];
	size_t n;
	void *s;
	int err;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	memcpy(big, "bigkey ", 7);
	memset(mid, 'm', sizeof(mid));
	memset(huge_key, 'h', sizeof(huge_key));
	huge_key[70000] = ' ';
	m[0] = (struct slc_msg){.data = big, .len = sizeof(big)};           /* written in place */
	m[1] = (struct slc_msg){.data = NULL, .len = 0};                    /* empty, no key */
	m[2] = (struct slc_msg){.data = (const uint8_t *)"k ", .len = 2};   /* key, empty body */
	m[3] = (struct slc_msg){.data = mid, .len = 8192};                  /* the largest copied */
	m[4] = (struct slc_msg){.data = huge_key, .len = sizeof(huge_key)}; /* key too long */
	m[5] = (struct slc_msg){.data = mid, .len = 8193}; /* the smallest in place */

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_BATCH);
	w = worker_open(s, 0);
	/* The key too long is refused alone: the write goes through. */
	cr_expect_eq(slc_sink_file_ops.write(w, m, 6), 0);
	cr_assert_not_null(slc_sink_file_ops.refused);
	cr_assert_eq(slc_sink_file_ops.refused(w, &idx), 1);
	cr_expect_eq(idx[0], 4);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.records, 5);
	cr_expect_eq(st.refused_key_too_long, 1);
	cr_expect_eq(st.write_errors, 0);
	slc_sink_file_ops.destroy(s);

	cr_assert_eq(slc_sink_file_dir_scan(dir, &segs, &n), 0);
	cr_assert_eq(n, 1);
	snprintf(path, sizeof(path), "%s/%s", dir, segs[0].name);
	free(segs);
	r = slc_sink_file_reader_open(path, &err);
	cr_assert_not_null(r);
	for (int i = 0; i < 6; i++) {
		const struct slc_msg *e = &m[i];
		uint32_t klen = 0;
		const uint8_t *key = NULL;

		if (i == 4)
			continue;
		cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
		cr_assert_eq(ev.kind, SLC_SINK_FILE_EV_RECORD, "record %d: kind %d", i, ev.kind);
		if (key_before_space(NULL, e, &key, &klen) != 0)
			klen = 0;
		cr_expect_eq(ev.key_len, klen, "record %d", i);
		cr_expect_eq(ev.payload_len, e->len, "record %d", i);
		if (ev.payload_len == e->len && e->len != 0)
			cr_expect_arr_eq(ev.payload, e->data, e->len, "record %d", i);
		if (klen != 0 && ev.key_len == klen)
			cr_expect_arr_eq(ev.key, key, klen, "record %d", i);
	}
	cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
	cr_expect_eq(ev.kind, SLC_SINK_FILE_EV_END);
	cr_expect(ev.closed);
	slc_sink_file_reader_close(r);
	rm_rf(dir);
}

/*
 * F5 (issue 15): a record the sink refuses (its key is longer than the format holds) costs
 * that record alone: write() succeeds, refused() names it, sync() makes the others durable,
 * and they are all there, in order. The daemon acknowledges the others on that word.
 */
Test(sink_file, a_refused_record_costs_only_itself)
{
	static uint8_t space[64 * 400], long_key[2][70001];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct slc_msg m[40];
	struct readback rb;
	const uint32_t *idx;
	struct logcap cap;
	uint32_t off = 0, rec = 0;
	char dir[64];
	void *s;

	for (int k = 0; k < 2; k++) {
		memset(long_key[k], 'a' + k, sizeof(long_key[k]));
		long_key[k][SLC_SINK_FILE_KEY_MAX + 1 + k] = ' '; /* a key of 65,536 or 65,537 */
	}
	/* Worker 0's records 0..37 in make_payload's form, with the two refused ones at 3
	 * and 17 (read_back checks that the others are all there and in order). */
	for (uint32_t i = 0; i < 40; i++) {
		if (i == 3 || i == 17) {
			m[i] = (struct slc_msg){.data = long_key[i == 17], .len = 70001};
			continue;
		}
		m[i] = (struct slc_msg){.data = space + off};
		m[i].len = make_payload(space + off, 0, rec++);
		off += m[i].len;
	}
	tmpdir(dir, sizeof(dir));
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	w = worker_open(s, 0);
	cr_assert_not_null(slc_sink_file_ops.refused, "the file sink says what it refused");
	cr_expect_eq(slc_sink_file_ops.write(w, m, 40), 0);
	cr_assert_eq(slc_sink_file_ops.refused(w, &idx), 2);
	cr_expect_eq(idx[0], 3);
	cr_expect_eq(idx[1], 17);
	cr_expect_eq(slc_sink_file_ops.sync(w), 0, "the others are durable");
	cr_expect_not_null(strstr(cap.text, "key of 65536 bytes (at most 65535): refused"), "%s",
	                   cap.text);
	/* The next write starts a new list. */
	cr_expect_eq(write_records(w, 0, rec, 5, space), 0);
	cr_expect_eq(slc_sink_file_ops.refused(w, &idx), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.records, 43);
	cr_expect_eq(st.refused_key_too_long, 2);
	cr_expect_eq(st.write_errors, 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);

	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 43);
	cr_expect_eq(rb.next[0], 43);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.damaged + rb.torn, 0);
	rm_rf(dir);
}

Test(sink_file, fsync_names_parse)
{
	enum slc_sink_file_fsync mode;

	cr_expect_eq(slc_sink_file_fsync_parse("never", &mode), 0);
	cr_expect_eq(mode, SLC_SINK_FILE_FSYNC_NEVER);
	cr_expect_eq(slc_sink_file_fsync_parse("interval", &mode), 0);
	cr_expect_eq(mode, SLC_SINK_FILE_FSYNC_INTERVAL);
	cr_expect_eq(slc_sink_file_fsync_parse("batch", &mode), 0);
	cr_expect_eq(mode, SLC_SINK_FILE_FSYNC_BATCH);
	cr_expect_eq(slc_sink_file_fsync_parse("always", &mode), -EINVAL);
	cr_expect_str_eq(slc_sink_file_fsync_name(SLC_SINK_FILE_FSYNC_INTERVAL), "interval");
}
