/* SPDX-License-Identifier: MIT */
/* test_sink_file_health.c: the file sink's status op: unhealthy while the disk fails it. */
/*
 * On memfs (memfs.h), whose faults come on demand: a writev that ends in ENOSPC, an
 * fdatasync or a directory fsync that fails with EIO, a create that fails with ENOSPC.
 * Each test checks that the status op names DIR, what failed and why while the fault
 * lasts, and says nothing once a write and then a sync have succeeded; and that
 * delivered counts the messages of the write() calls that returned 0. The daemon's
 * /healthz is this health line behind "sink file: " (test_sluiced.c shows it on a full
 * tmpfs).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "memfs.h"
#include "sink_file.h"

#define NS_PER_MS 1000000ull

struct fx {
	struct memfs *fs;
	void *sink;
	struct slc_sink_worker *w[2];
	uint32_t nworkers;
	struct slc_sink_status st;
};

static void
quiet_log(void *ctx, int level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
}

static void
fx_start(struct fx *f, enum slc_sink_file_fsync mode, uint32_t nworkers)
{
	struct slc_sink_file_cfg cfg;
	int err = 0;

	f->fs = memfs_create(15);
	cfg = (struct slc_sink_file_cfg){
	        .dir = MEMFS_ROOT,
	        .fsync = mode,
	        .fsync_interval_ms = 1000,
	        .log = quiet_log,
	        .io = memfs_io(f->fs),
	};
	f->sink = slc_sink_file_create(&cfg, &err);
	cr_assert_not_null(f->sink, "create: %s", strerror(-err));
	cr_assert_not_null(slc_sink_file_ops.status, "the file sink has a status op");
	f->nworkers = nworkers;
	for (uint32_t i = 0; i < nworkers; i++)
		cr_assert_eq(slc_sink_file_ops.worker_open(f->sink, i, &f->w[i]), 0);
}

static void
fx_stop(struct fx *f)
{
	for (uint32_t i = 0; i < f->nworkers; i++)
		slc_sink_file_ops.worker_close(f->w[i]);
	slc_sink_file_ops.destroy(f->sink);
	memfs_destroy(f->fs);
}

/* The sink's health line ("" while healthy), in f->st. */
static const char *
health(struct fx *f)
{
	memset(&f->st, 0xa5, sizeof(f->st));
	slc_sink_file_ops.status(f->sink, &f->st);
	cr_assert_lt(strlen(f->st.health), sizeof(f->st.health));
	return f->st.health;
}

/* A batch of n messages to worker i: write()'s return. */
static int
put(struct fx *f, uint32_t i, uint32_t n)
{
	static const char text[] = "a message for the file sink";
	struct slc_msg m[8];

	cr_assert_leq(n, 8u);
	for (uint32_t k = 0; k < n; k++)
		m[k] = (struct slc_msg){.data = (const uint8_t *)text, .len = sizeof(text) - 1};
	return slc_sink_file_ops.write(f->w[i], m, n);
}

Test(sink_file_health, a_full_disk_is_unhealthy_until_a_write_and_a_sync_succeed)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_BATCH, 1);
	cr_expect_str_eq(health(&f), "", "nothing written yet");
	cr_expect_eq(put(&f, 0, 3), 0);
	cr_expect_str_eq(health(&f), "");
	cr_expect_eq(f.st.delivered, 3u);
	cr_expect_eq(f.st.undelivered_drain_timeout, 0u);

	memfs_fail_next(f.fs, MEMFS_FAIL_WRITE);
	cr_expect_eq(put(&f, 0, 4), -ENOSPC);
	cr_expect_str_eq(health(&f),
	                 MEMFS_ROOT ": writing a segment failed: No space left on device "
	                            "(worker 0, since 0.0 s)");
	cr_expect_eq(f.st.delivered, 3u,
	             "a failed batch is not delivered (the daemon counts it "
	             "lost)");
	/* It stays so while nothing succeeds, and says for how long. */
	memfs_clock_advance(f.fs, 2100 * NS_PER_MS);
	cr_expect_str_eq(health(&f),
	                 MEMFS_ROOT ": writing a segment failed: No space left on device "
	                            "(worker 0, since 2.1 s)");
	memfs_fail_next(f.fs, MEMFS_FAIL_WRITE);
	memfs_clock_advance(f.fs, 1000 * NS_PER_MS);
	cr_expect_eq(put(&f, 0, 1), -ENOSPC);
	cr_expect_not_null(strstr(health(&f), "(worker 0, since 3.1 s)"),
	                   "since the first failure in a row: %s", f.st.health);

	/* Room again: batch mode's write() writes and syncs, and that is proof enough. */
	cr_expect_eq(put(&f, 0, 2), 0);
	cr_expect_str_eq(health(&f), "");
	cr_expect_eq(f.st.delivered, 5u);
	fx_stop(&f);
}

Test(sink_file_health, a_failed_fdatasync_is_unhealthy_until_a_later_one_succeeds)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_BATCH, 1);
	cr_expect_eq(put(&f, 0, 2), 0);
	memfs_fail_next(f.fs, MEMFS_FAIL_FDATASYNC);
	cr_expect_eq(put(&f, 0, 2), -EIO);
	cr_expect_str_eq(health(&f), MEMFS_ROOT ": fdatasync of a segment failed: Input/output "
	                                        "error (worker 0, since 0.0 s)");
	/* sync() with nothing new to write proves nothing: still unhealthy. */
	(void)slc_sink_file_ops.sync(f.w[0]);
	cr_expect_neq(health(&f)[0], '\0', "a sync without a write: %s", f.st.health);
	cr_expect_eq(put(&f, 0, 1), 0);
	cr_expect_str_eq(health(&f), "");
	fx_stop(&f);
}

Test(sink_file_health, interval_mode_needs_the_sync_after_the_write)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_INTERVAL, 1);
	cr_expect_eq(put(&f, 0, 2), 0);
	memfs_fail_next(f.fs, MEMFS_FAIL_WRITE);
	cr_expect_eq(put(&f, 0, 2), -ENOSPC);
	cr_expect_not_null(strstr(health(&f), "No space left on device"), "%s", f.st.health);
	/* Written, not synced yet (the interval has not passed): not proven. */
	cr_expect_eq(put(&f, 0, 2), 0);
	cr_expect_not_null(strstr(health(&f), "No space left on device"),
	                   "a write without its sync: %s", f.st.health);
	/* The worker goes idle, the interval passes, flush() syncs: healthy. */
	memfs_clock_advance(f.fs, 1100 * NS_PER_MS);
	cr_expect_geq(slc_sink_file_ops.flush(f.w[0]), 0);
	cr_expect_str_eq(health(&f), "");
	cr_expect_eq(f.st.delivered, 4u);
	fx_stop(&f);
}

Test(sink_file_health, never_mode_is_healthy_again_after_a_write)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_NEVER, 1);
	cr_expect_eq(put(&f, 0, 1), 0);
	memfs_fail_next(f.fs, MEMFS_FAIL_WRITE);
	cr_expect_eq(put(&f, 0, 1), -ENOSPC);
	cr_expect_not_null(strstr(health(&f), "writing a segment failed"), "%s", f.st.health);
	/* never mode syncs at the stop only: a write is all there is to wait for. */
	cr_expect_eq(put(&f, 0, 1), 0);
	cr_expect_str_eq(health(&f), "");
	fx_stop(&f);
}

Test(sink_file_health, a_segment_that_cannot_be_created_is_unhealthy)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_BATCH, 1);
	memfs_fail_next(f.fs, MEMFS_FAIL_CREATE);
	cr_expect_eq(put(&f, 0, 1), -ENOSPC);
	cr_expect_str_eq(health(&f), MEMFS_ROOT ": cannot create a segment: No space left on "
	                                        "device (worker 0, since 0.0 s)");
	cr_expect_eq(f.st.delivered, 0u);
	cr_expect_eq(put(&f, 0, 1), 0);
	cr_expect_str_eq(health(&f), "");
	cr_expect_eq(f.st.delivered, 1u);
	fx_stop(&f);
}

Test(sink_file_health, a_failed_fsync_of_the_directory_is_unhealthy)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_BATCH, 1);
	/* The first record creates a segment: batch mode's sync fsyncs DIR after it. */
	memfs_fail_next(f.fs, MEMFS_FAIL_DIRSYNC);
	cr_expect_eq(put(&f, 0, 1), -EIO);
	cr_expect_str_eq(health(&f), MEMFS_ROOT ": fsync of the directory failed: Input/output "
	                                        "error (worker 0, since 0.0 s)");
	/* The next write's sync fsyncs DIR again, and the data with it. */
	cr_expect_eq(put(&f, 0, 1), 0);
	cr_expect_str_eq(health(&f), "");
	fx_stop(&f);
}

Test(sink_file_health, the_oldest_failure_of_several_workers_names_the_reason)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_BATCH, 2);
	memfs_fail_next(f.fs, MEMFS_FAIL_CREATE);
	cr_expect_eq(put(&f, 1, 1), -ENOSPC);
	memfs_clock_advance(f.fs, 500 * NS_PER_MS);
	memfs_fail_next(f.fs, MEMFS_FAIL_CREATE);
	cr_expect_eq(put(&f, 0, 1), -ENOSPC);
	cr_expect_str_eq(health(&f), MEMFS_ROOT ": cannot create a segment: No space left on "
	                                        "device (worker 1, since 0.5 s; 2 workers "
	                                        "failing)");
	/* Worker 1 recovers; worker 0 still fails, and is named. */
	cr_expect_eq(put(&f, 1, 1), 0);
	cr_expect_str_eq(health(&f), MEMFS_ROOT ": cannot create a segment: No space left on "
	                                        "device (worker 0, since 0.0 s)");
	cr_expect_eq(put(&f, 0, 1), 0);
	cr_expect_str_eq(health(&f), "");
	fx_stop(&f);
}

Test(sink_file_health, a_worker_opened_again_after_a_failure_stays_unhealthy_until_it_writes)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_BATCH, 1);
	memfs_fail_next(f.fs, MEMFS_FAIL_WRITE);
	cr_expect_eq(put(&f, 0, 1), -ENOSPC);
	slc_sink_file_ops.worker_close(f.w[0]);
	cr_assert_eq(slc_sink_file_ops.worker_open(f.sink, 0, &f.w[0]), 0);
	cr_expect_not_null(strstr(health(&f), "No space left on device"), "%s", f.st.health);
	cr_expect_eq(put(&f, 0, 1), 0);
	cr_expect_str_eq(health(&f), "");
	fx_stop(&f);
}

Test(sink_file_health, never_mode_after_a_failed_sync_needs_a_sync_again)
{
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_NEVER, 1);
	cr_expect_eq(put(&f, 0, 1), 0);
	/* sync() (acknowledged delivery) fdatasyncs whatever the mode. */
	memfs_fail_next(f.fs, MEMFS_FAIL_FDATASYNC);
	cr_expect_eq(slc_sink_file_ops.sync(f.w[0]), -EIO);
	cr_expect_not_null(strstr(health(&f), "fdatasync of a segment failed"), "%s", f.st.health);
	/* A write alone does not show that syncs work again. */
	cr_expect_eq(put(&f, 0, 1), 0);
	cr_expect_neq(health(&f)[0], '\0', "a write without its sync: %s", f.st.health);
	cr_expect_eq(slc_sink_file_ops.sync(f.w[0]), 0);
	cr_expect_str_eq(health(&f), "");
	fx_stop(&f);
}

Test(sink_file_health, a_failed_checkpoint_write_leaves_the_sink_healthy)
{
	struct slc_sink_file_stats st;
	struct fx f = {0};

	fx_start(&f, SLC_SINK_FILE_FSYNC_BATCH, 1);
	cr_expect_eq(put(&f, 0, 1), 0);
	/* The segment exists: the next create is the checkpoint's (after its interval). */
	memfs_clock_advance(f.fs, 10 * SLC_SINK_FILE_CKPT_INTERVAL_MS * NS_PER_MS);
	memfs_fail_next(f.fs, MEMFS_FAIL_CREATE);
	cr_expect_eq(put(&f, 0, 1), 0);
	slc_sink_file_stats(f.sink, &st);
	cr_expect_eq(st.checkpoint_errors, 1u, "the checkpoint write failed");
	cr_expect_eq(st.write_errors, 0u);
	cr_expect_str_eq(health(&f), "", "the records are safe");
	fx_stop(&f);
}
