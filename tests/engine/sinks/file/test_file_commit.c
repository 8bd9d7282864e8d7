/* SPDX-License-Identifier: MIT */
/* test_file_commit.c: the file sink's group commit (sink.h's commit, commit_poll). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_test.h"
#include "io.h"

#define BATCHES 200
#define PER     8 /* records per batch */

/*
 * What the sink did and what the test acknowledged, in order, through an io table that
 * wraps the system calls (a sink given one syncs on the worker's thread): 'W' a writev
 * that succeeded, 'S' an fdatasync that did (or 'F' one made to fail), 'A' + batch an
 * acknowledgement released.
 */
struct trace {
	struct slc_sink_file_io io;
	char ev[BATCHES * 8];
	uint32_t batch[BATCHES * 8];
	uint32_t n;
	int fail_sync; /* the fdatasync (from 1) that fails with -EIO; 0: none */
	int syncs;
};

static struct trace tr;

static void
ev(char what, uint32_t batch)
{
	cr_assert_lt(tr.n, sizeof(tr.ev));
	tr.ev[tr.n] = what;
	tr.batch[tr.n++] = batch;
}

static ssize_t
t_writev(void *ctx, int fd, const struct iovec *iov, int cnt)
{
	ssize_t n = slc_sink_file_io_sys.writev(ctx, fd, iov, cnt);

	if (n > 0)
		ev('W', 0);
	return n;
}

static int
t_fdatasync(void *ctx, int fd)
{
	int rc;

	if (++tr.syncs == tr.fail_sync) {
		ev('F', 0);
		return -EIO;
	}
	rc = slc_sink_file_io_sys.fdatasync(ctx, fd);
	if (rc == 0)
		ev('S', 0);
	return rc;
}

static void *
traced_sink(const char *dir, enum slc_sink_file_fsync mode)
{
	struct slc_sink_file_cfg cfg = {
	        .dir = dir,
	        .fsync = mode,
	        .fsync_interval_ms = INTERVAL_MS,
	        .key_fn = key_before_space,
	        .log = quiet_log,
	        .io = &tr.io,
	};
	void *s;
	int err = 0;

	memset(&tr, 0, sizeof(tr));
	tr.io = slc_sink_file_io_sys;
	tr.io.writev = t_writev;
	tr.io.fdatasync = t_fdatasync;
	s = slc_sink_file_create(&cfg, &err);
	cr_assert_not_null(s, "create %s: %s", dir, strerror(-err));
	return s;
}

/*
 * The daemon's side of acknowledged delivery (ack_commit.c), in small: batch k is written
 * and committed with ticket[k]; each poll acknowledges, in order, the batches whose ticket
 * it resolved: durable (ok[k] = 1) when it returned 0, failed (ok[k] = 2) otherwise.
 */
struct acker {
	struct slc_sink_worker *w;
	uint64_t ticket[BATCHES];
	uint8_t ok[BATCHES];
	uint32_t written, acked, failed_polls;
	bool traced; /* the sink is traced_sink's: acknowledgements go into the trace */
};

static void
ack_poll(struct acker *a, bool wait)
{
	uint64_t done = 0;
	int rc = slc_sink_file_ops.commit_poll(a->w, wait, &done);

	if (rc != 0)
		a->failed_polls++;
	while (a->acked < a->written && a->ticket[a->acked] <= done) {
		a->ok[a->acked] = rc == 0 ? 1 : 2;
		if (a->traced)
			ev('A', a->acked);
		a->acked++;
	}
}

static void
write_commit_as(struct acker *a, uint32_t worker, uint8_t *space)
{
	uint32_t k = a->written;

	cr_assert_eq(write_records(a->w, worker, k * PER, PER, space), 0, "batch %u", k);
	cr_assert_eq(slc_sink_file_ops.commit(a->w, &a->ticket[k]), 0, "batch %u", k);
	if (k > 0)
		cr_assert_geq(a->ticket[k], a->ticket[k - 1], "tickets never go back");
	a->written++;
	ack_poll(a, false);
}

static void
write_commit(struct acker *a, uint8_t *space)
{
	write_commit_as(a, 0, space);
}

/* Closes the worker and the sink; with records != 0, DIR must read back that many whole
 * records. */
static void
finish(struct acker *a, void *s, char *dir, uint64_t records)
{
	struct readback rb;

	slc_sink_file_ops.worker_close(a->w);
	slc_sink_file_ops.destroy(s);
	if (records != 0) {
		read_back(dir, &rb, false);
		cr_expect_eq(rb.records, records);
	}
	rm_rf(dir);
}

/*
 * Every acknowledgement comes after an fdatasync that itself comes after the batch's
 * writev: the trace is read backwards from each 'A'. (A commit that resolved a ticket
 * without syncing, or before the batch was written, fails it.)
 */
Test(commit, acks_come_after_the_sync_that_covers_them, .timeout = 60)
{
	static uint8_t space[PER * 400];
	const enum slc_sink_file_fsync modes[] = {SLC_SINK_FILE_FSYNC_NEVER,
	                                          SLC_SINK_FILE_FSYNC_INTERVAL};

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		char dir[64];
		void *s;
		struct acker a = {0};
		uint32_t w_at[BATCHES];

		tmpdir(dir, sizeof(dir));
		s = traced_sink(dir, modes[m]);
		a.traced = true;
		a.w = worker_open(s, 0);
		for (uint32_t k = 0; k < BATCHES; k++) {
			write_commit(&a, space);
			/* The batch's writev is the last 'W' before its commit. */
			w_at[k] = tr.n;
			while (w_at[k] > 0 && tr.ev[w_at[k] - 1] != 'W')
				w_at[k]--;
		}
		ack_poll(&a, true);
		cr_assert_eq(a.acked, BATCHES);
		cr_expect_eq(a.failed_polls, 0u);
		for (uint32_t i = 0; i < tr.n; i++) {
			uint32_t k = tr.batch[i], j = i;

			if (tr.ev[i] != 'A')
				continue;
			cr_assert_eq(a.ok[k], 1, "batch %u acknowledged as failed", k);
			while (j > w_at[k] && tr.ev[j - 1] != 'S')
				j--;
			cr_assert(j > w_at[k] && tr.ev[j - 1] == 'S',
			          "mode %zu: batch %u acknowledged (event %u) with no fdatasync "
			          "since its writev (event %u)",
			          m, k, i, w_at[k]);
		}
		finish(&a, s, dir, BATCHES * PER);
	}
}

/* A failed fdatasync fails the acknowledgements it would have covered, and no later one
 * is claimed durable without a sync that succeeded after it; the failure is counted. */
Test(commit, a_failed_sync_fails_its_acks_and_is_counted, .timeout = 60)
{
	static uint8_t space[PER * 400];
	struct slc_sink_file_stats st;
	struct acker a = {0};
	char dir[64];
	void *s;
	uint32_t failed = 0;

	tmpdir(dir, sizeof(dir));
	s = traced_sink(dir, SLC_SINK_FILE_FSYNC_INTERVAL);
	tr.fail_sync = 5;
	a.traced = true;
	a.w = worker_open(s, 0);
	for (uint32_t k = 0; k < 20; k++)
		write_commit(&a, space);
	ack_poll(&a, true);
	cr_assert_eq(a.acked, 20u);
	for (uint32_t k = 0; k < 20; k++)
		failed += a.ok[k] == 2;
	cr_expect_geq(failed, 1u, "the batch the failed sync covered is not acknowledged");
	cr_expect_eq(a.failed_polls, 1u);
	/* Only batches whose sync came after the failed one's batch are acknowledged after it. */
	for (uint32_t i = 0, seen_f = 0; i < tr.n; i++) {
		if (tr.ev[i] == 'F')
			seen_f = 1;
		if (tr.ev[i] == 'A' && !seen_f)
			cr_expect_eq(a.ok[tr.batch[i]], 1);
	}
	slc_sink_file_stats(s, &st);
	cr_expect_geq(st.write_errors, 1u, "the failed sync is counted");
	finish(&a, s, dir, 0);
}

/*
 * The background path (the system calls, io_uring): the test's fault hook runs as each
 * segment sync completes, so syncs[k], the syncs completed when batch k was written, and
 * the count when it is acknowledged, show that one completed in between. Batches
 * written while a sync runs wait for the next one: there are no more syncs than tickets.
 */
static uint32_t syncs_at_write[BATCHES];

Test(commit, background_syncs_cover_the_batches_written_meanwhile, .timeout = 60)
{
	static uint8_t space[PER * 400];
	struct fault f = {0};
	struct slc_sink_file_stats st;
	struct acker a = {0};
	char dir[64];
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new_opts(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL, false, &f);
	a.w = worker_open(s, 0);
	for (uint32_t k = 0; k < BATCHES; k++) {
		syncs_at_write[k] = (uint32_t)f.calls;
		write_commit(&a, space);
		for (uint32_t j = 0; j < a.acked; j++)
			cr_assert_gt((uint32_t)f.calls, syncs_at_write[j]);
	}
	ack_poll(&a, true);
	cr_assert_eq(a.acked, BATCHES);
	cr_expect_eq(a.failed_polls, 0u);
	for (uint32_t k = 0; k < BATCHES; k++)
		cr_expect_eq(a.ok[k], 1);
	cr_expect_leq((uint64_t)f.calls, a.ticket[BATCHES - 1],
	              "one sync per ticket at most: %d syncs, %llu tickets", f.calls,
	              (unsigned long long)a.ticket[BATCHES - 1]);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.write_errors, 0u);
	finish(&a, s, dir, BATCHES * PER);
}

/* The same path with its third sync failing: those it resolves fail, the rest do not. */
Test(commit, a_failed_background_sync_fails_its_acks, .timeout = 60)
{
	static uint8_t space[PER * 400];
	struct fault f = {.fail_call = 3};
	struct slc_sink_file_stats st;
	struct acker a = {0};
	char dir[64];
	void *s;
	uint32_t failed = 0, ok = 0;

	tmpdir(dir, sizeof(dir));
	s = sink_new_opts(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL, false, &f);
	a.w = worker_open(s, 0);
	for (uint32_t k = 0; k < 40; k++) {
		write_commit(&a, space);
		ack_poll(&a, true); /* one ticket at a time: the failure's batch is known */
	}
	cr_assert_eq(a.acked, 40u);
	for (uint32_t k = 0; k < 40; k++) {
		failed += a.ok[k] == 2;
		ok += a.ok[k] == 1;
	}
	cr_expect_eq(failed, 1u, "the one batch the third sync covered");
	cr_expect_eq(ok, 39u);
	cr_expect_eq(a.failed_polls, 1u);
	slc_sink_file_stats(s, &st);
	cr_expect_geq(st.write_errors, 1u, "the failed sync is counted");
	finish(&a, s, dir, 0);
}

/*
 * Several workers commit at once, each on its own thread, as the daemon's do: each one's
 * acknowledgements follow its own syncs, and every record of every worker reads back in
 * order. Their background syncs share the sink's checkpoint (the TSan build runs this).
 */
struct committer {
	void *sink;
	uint32_t worker;
	struct acker a;
};

static void *
committer_thread(void *p)
{
	struct committer *c = p;
	static _Thread_local uint8_t space[PER * 400];

	c->a.w = worker_open(c->sink, c->worker);
	for (uint32_t k = 0; k < BATCHES; k++)
		write_commit_as(&c->a, c->worker, space);
	ack_poll(&c->a, true);
	slc_sink_file_ops.worker_close(c->a.w);
	return NULL;
}

Test(commit, workers_on_threads_commit_at_once, .timeout = 60)
{
	static struct committer c[4];
	struct readback rb;
	char dir[64];
	void *s;
	pthread_t t[4];

	tmpdir(dir, sizeof(dir));
	s = sink_new_opts(dir, 64 << 10, SLC_SINK_FILE_FSYNC_INTERVAL, false, NULL);
	for (uint32_t i = 0; i < 4; i++) {
		c[i] = (struct committer){.sink = s, .worker = i};
		cr_assert_eq(pthread_create(&t[i], NULL, committer_thread, &c[i]), 0);
	}
	for (uint32_t i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(c[i].a.acked, BATCHES, "worker %u", i);
		cr_expect_eq(c[i].a.failed_polls, 0u, "worker %u", i);
		for (uint32_t k = 0; k < BATCHES; k++)
			cr_expect_eq(c[i].a.ok[k], 1, "worker %u batch %u", i, k);
	}
	slc_sink_file_ops.destroy(s);
	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 4 * BATCHES * PER);
	for (uint32_t i = 0; i < 4; i++)
		cr_expect_eq(rb.next[i], BATCHES * PER, "worker %u", i);
	cr_expect_eq(rb.damaged, 0u);
	rm_rf(dir);
}
