/* SPDX-License-Identifier: MIT */
/* test_file_recover.c: the file sink's recovery at start, sync(), and its checkpoints. */
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

/*
 * F6 (issue 15): a FIFO named like a segment made start-up hang for ever in a blocking
 * open(). Now it is logged, counted and left alone, and start-up goes on. The first create
 * runs in a child with a deadline, so that the test fails rather than hangs without the
 * fix.
 */
Test(sink_file, a_fifo_named_like_a_segment_is_left_alone_at_start)
{
	static uint8_t space[5 * 400];
	struct slc_sink_file_reader *r;
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct readback rb;
	struct logcap cap;
	struct stat sb;
	char dir[64], path[512];
	int status, err = 0;
	pid_t pid;
	void *s;

	tmpdir(dir, sizeof(dir));
	fifo_scene(dir);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct slc_sink_file_cfg cfg = {.dir = dir, .log = quiet_log};

		s = slc_sink_file_create(&cfg, &err);
		slc_sink_file_ops.destroy(s);
		_exit(s != NULL ? 0 : 1);
	}
	cr_assert(wait_child(pid, 20000, &status),
	          "create did not return in 20 s (blocked on the FIFO?)");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "create failed: status %d",
	          status);

	/* The same again here, to see what it said and did. */
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_foreign, 2, "the FIFO and the directory");
	cr_expect_not_null(strstr(cap.text, "w000-00000001.seg: not a regular file (a FIFO); "
	                                    "not recovered, left as it is"),
	                   "%s", cap.text);
	cr_expect_not_null(strstr(cap.text, "w000-00000002.seg: not a regular file (a directory)"),
	                   "%s", cap.text);
	cr_expect_not_null(strstr(cap.text, "checkpoint: cannot read it: not a regular file"), "%s",
	                   cap.text);
	/* The worker goes on after the highest name, and writes nothing into the others. */
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 5, 5, space), 0);
	cr_expect_eq(slc_sink_file_ops.sync(w), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	seg_path(path, sizeof(path), dir, 0, 3);
	cr_expect_gt(file_size(path), 0, "the new segment is seq 3");
	seg_path(path, sizeof(path), dir, 0, 1);
	cr_assert_eq(lstat(path, &sb), 0);
	cr_expect(S_ISFIFO(sb.st_mode), "the FIFO is left as it is");
	/* The reader refuses it too, at once. */
	r = slc_sink_file_reader_open(path, &err);
	cr_expect_null(r);
	cr_expect_eq(err, -EINVAL);
	/* read_back would stop at the FIFO: take it and the directory away first. */
	cr_assert_eq(unlink(path), 0);
	seg_path(path, sizeof(path), dir, 0, 2);
	cr_assert_eq(rmdir(path), 0);
	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 10);
	cr_expect_eq(rb.next[0], 10);
	cr_expect_eq(rb.bad_records + rb.damaged + rb.torn, 0);
	rm_rf(dir);
}

enum tail_damage {
	TAIL_NONE,           /* whole records, no trailer: a crash between two writes */
	TAIL_MID_REC_HEADER, /* the last record cut inside its 16-byte header */
	TAIL_MID_KEY,        /* ... inside its key */
	TAIL_MID_PAYLOAD,    /* ... inside its payload */
	TAIL_BAD_CRC,        /* the last record whole, one payload byte flipped */
	TAIL_ZEROS,          /* the file grew, its last blocks were never written */
	TAIL_PARTIAL_HEADER, /* only 20 bytes of the segment header */
	TAIL_ZERO_HEADER,    /* a file of zeros: nothing of it reached the disk */
	TAIL_CASES,
};

Test(sink_file, recovery_cuts_every_kind_of_torn_tail_and_keeps_what_was_before)
{
	static const struct {
		const char *name;
		uint32_t keep;   /* records left of 20 */
		const char *why; /* in the log line; NULL: no bytes cut */
	} cases[TAIL_CASES] = {
	        [TAIL_NONE] = {"no trailer", 20, NULL},
	        [TAIL_MID_REC_HEADER] = {"mid record header", 19, "record header cut short"},
	        [TAIL_MID_KEY] = {"mid key", 19, "record runs past the end of the file"},
	        [TAIL_MID_PAYLOAD] = {"mid payload", 19, "record runs past the end of the file"},
	        [TAIL_BAD_CRC] = {"bad CRC", 19, "record CRC mismatch"},
	        [TAIL_ZEROS] = {"zero-filled tail", 19, "zeros (data that never reached the disk)"},
	        [TAIL_PARTIAL_HEADER] = {"partial segment header", 0, "segment header cut short"},
	        [TAIL_ZERO_HEADER] = {"zero segment header", 0, "segment header is zeros"},
	};
	static uint8_t space[64 * 400];

	for (int k = 0; k < TAIL_CASES; k++) {
		const uint32_t keep = cases[k].keep;
		struct slc_sink_file_stats st;
		struct slc_sink_worker *w;
		struct logcap cap;
		struct readback rb;
		uint64_t off[21], size, cut_at;
		char dir[64], scratch[64], path[512], want[640];
		char *out, *err;
		void *s;
		uint8_t b;
		int fd;

		tmpdir(dir, sizeof(dir));
		tmpdir(scratch, sizeof(scratch));
		write_one_segment(dir, 20, off);
		seg_path(path, sizeof(path), dir, 0, 0);
		/* The crash: no trailer, and nothing synced (no checkpoint). Then the damage. */
		snprintf(want, sizeof(want), "%s/checkpoint", dir);
		cr_assert_eq(unlink(want), 0);
		cr_assert_eq(truncate(path, (off_t)off[20]), 0);
		switch ((enum tail_damage)k) {
		case TAIL_NONE:
			break;
		case TAIL_MID_REC_HEADER:
			cr_assert_eq(truncate(path, (off_t)off[19] + 7), 0);
			break;
		case TAIL_MID_KEY:
			cr_assert_eq(truncate(path, (off_t)off[19] + 16 + 2), 0);
			break;
		case TAIL_MID_PAYLOAD:
			cr_assert_eq(truncate(path, (off_t)off[20] - 3), 0);
			break;
		case TAIL_BAD_CRC:
			fd = open(path, O_RDWR);
			cr_assert_geq(fd, 0);
			cr_assert_eq(pread(fd, &b, 1, (off_t)off[19] + 24), 1);
			b ^= 0x40;
			cr_assert_eq(pwrite(fd, &b, 1, (off_t)off[19] + 24), 1);
			close(fd);
			break;
		case TAIL_ZEROS:
			cr_assert_eq(truncate(path, (off_t)off[19]), 0);
			cr_assert_eq(truncate(path, (off_t)off[19] + 4096), 0);
			break;
		case TAIL_PARTIAL_HEADER:
			cr_assert_eq(truncate(path, 20), 0);
			break;
		case TAIL_ZERO_HEADER:
			cr_assert_eq(truncate(path, 0), 0);
			cr_assert_eq(truncate(path, 4096), 0);
			break;
		case TAIL_CASES:
			break;
		}
		size = file_size(path);
		cut_at = keep == 0 ? 0 : off[keep];

		/* The restart recovers it, and says so: which file, where, how much, why. */
		s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
		if (cases[k].why != NULL)
			snprintf(want, sizeof(want),
			         "%s: cut %llu bytes at offset %llu (%s); %u records kept", path,
			         (unsigned long long)(size - cut_at), (unsigned long long)cut_at,
			         cases[k].why, keep);
		else
			snprintf(want, sizeof(want), "%s: cut 0 bytes at offset %llu (no trailer",
			         path, (unsigned long long)cut_at);
		cr_expect_not_null(strstr(cap.text, want), "%s: want \"%s\" in: %s", cases[k].name,
		                   want, cap.text);
		cr_expect_eq(cap.lines, 1, "%s: %s", cases[k].name, cap.text);
		cr_expect_eq(cap.level_min, 1, "%s: a torn tail is a warning", cases[k].name);
		slc_sink_file_stats(s, &st);
		cr_expect_eq(st.recovered_segments, 1, "%s", cases[k].name);
		cr_expect_eq(st.recovered_bytes_cut, size - cut_at, "%s", cases[k].name);
		cr_expect_eq(st.recovered_records_dropped, 0, "%s", cases[k].name);
		cr_expect_eq(st.recovered_lost_durable, 0, "%s", cases[k].name);

		/* Every record before the damage, intact; nothing after it; closed. */
		cr_expect_eq(file_size(path),
		             (keep == 0 ? SLC_SINK_FILE_SEG_HDR_SIZE : off[keep]) +
		                     SLC_SINK_FILE_TRAILER_SIZE,
		             "%s", cases[k].name);
		read_back(dir, &rb, false);
		cr_expect_eq(rb.records, keep, "%s", cases[k].name);
		cr_expect_eq(rb.next[0], keep, "%s", cases[k].name);
		cr_expect_eq(rb.bad_records, 0, "%s", cases[k].name);
		cr_expect_eq(rb.torn, 0, "%s", cases[k].name);
		cr_expect_eq(rb.damaged, 0, "%s", cases[k].name);
		cr_expect_eq(rb.closed, 1, "%s", cases[k].name);

		/* New records go to a new segment, after the kept ones. */
		w = worker_open(s, 0);
		cr_assert_eq(write_records(w, 0, keep, 5, space), 0);
		slc_sink_file_ops.worker_close(w);
		slc_sink_file_ops.destroy(s);
		seg_path(path, sizeof(path), dir, 0, 1);
		cr_expect_eq(access(path, F_OK), 0, "%s: no seq 1", cases[k].name);
		read_back(dir, &rb, false);
		cr_expect_eq(rb.records, keep + 5, "%s", cases[k].name);
		cr_expect_eq(rb.next[0], keep + 5, "%s", cases[k].name);
		cr_expect_eq(rb.bad_records, 0, "%s", cases[k].name);
		cr_expect_eq(rb.closed, 2, "%s", cases[k].name);
		{
			const char *args[] = {"--verify", dir, NULL};

			cr_expect_eq(run_cat(scratch, args, &out, &err), 0, "%s: %s", cases[k].name,
			             err);
			free(out);
			free(err);
		}

		/* Recovered once: the next start has nothing to do. */
		s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
		slc_sink_file_stats(s, &st);
		cr_expect_eq(st.recovered_segments, 0, "%s", cases[k].name);
		cr_expect_eq(cap.lines, 0, "%s: %s", cases[k].name, cap.text);
		slc_sink_file_ops.destroy(s);
		rm_rf(dir);
		rm_rf(scratch);
	}
}

Test(sink_file, recovery_cuts_at_the_first_bad_record_and_drops_what_follows_loudly)
{
	struct slc_sink_file_stats st;
	struct logcap cap;
	struct readback rb;
	uint64_t off[21], size;
	char dir[64], path[512], want[640];
	void *s;
	uint8_t b;
	int fd;

	tmpdir(dir, sizeof(dir));
	write_one_segment(dir, 20, off);
	seg_path(path, sizeof(path), dir, 0, 0);
	/* Bit rot, or a crash before anything was synced: no checkpoint to check against. */
	snprintf(want, sizeof(want), "%s/checkpoint", dir);
	cr_assert_eq(unlink(want), 0);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)off[10] + 24), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off[10] + 24), 1);
	close(fd);

	/* Ended in order: the damage is not a crash's. Left for sluice-cat to report. */
	size = file_size(path);
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_segments, 0);
	cr_expect_eq(cap.lines, 0, "%s", cap.text);
	cr_expect_eq(file_size(path), size);
	slc_sink_file_ops.destroy(s);

	/* Not ended: cut at the bad record; the 9 valid ones after it go, with an error. */
	cr_assert_eq(truncate(path, (off_t)off[20]), 0);
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	snprintf(want, sizeof(want),
	         "%s: cut %llu bytes at offset %llu (record CRC mismatch); 10 records kept; 9 "
	         "valid records after the damage DROPPED",
	         path, (unsigned long long)(off[20] - off[10]), (unsigned long long)off[10]);
	cr_expect_not_null(strstr(cap.text, want), "want \"%s\" in: %s", want, cap.text);
	cr_expect_eq(cap.level_min, 0, "dropped records are an error");
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_segments, 1);
	cr_expect_eq(st.recovered_bytes_cut, off[20] - off[10]);
	cr_expect_eq(st.recovered_records_dropped, 9);
	slc_sink_file_ops.destroy(s);
	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 10);
	cr_expect_eq(rb.next[0], 10);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.damaged, 0);
	cr_expect_eq(rb.torn, 0);
	cr_expect_eq(rb.closed, 1);
	rm_rf(dir);
}

Test(sink_file, recovery_leaves_files_that_are_not_our_segments_alone)
{
	struct slc_sink_file_stats st;
	struct logcap cap;
	char dir[64], path[512];
	void *s;
	FILE *f;

	tmpdir(dir, sizeof(dir));
	seg_path(path, sizeof(path), dir, 0, 0);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "this is not a segment, and it is longer than a header is\n");
	fclose(f);
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_segments, 0);
	cr_expect_not_null(strstr(cap.text, "not a segment (bad magic); not recovered"), "%s",
	                   cap.text);
	cr_expect_eq(file_size(path), 57);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

Test(sink_file, sync_makes_records_durable_in_every_mode)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct logcap cap;
	char dir[64], path[512];
	void *s;

	cr_assert_not_null(slc_sink_file_ops.sync);
	tmpdir(dir, sizeof(dir));
	s = sink_new_cap(dir, 4096, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	w = worker_open(s, 0);
	cr_assert_eq(slc_sink_file_ops.sync(w), 0, "nothing written: nothing to sync");
	cr_assert_eq(write_records(w, 0, 0, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 0);
	cr_assert_eq(slc_sink_file_ops.sync(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1, "sync did not fdatasync in never mode");
	/* The first sync is in the checkpoint at once. */
	seg_path(path, sizeof(path), dir, 0, 0);
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect(pos[0].valid);
	cr_expect_eq(pos[0].seq, 0);
	cr_expect_eq(pos[0].offset, file_size(path));
	cr_expect_eq(st.checkpoints, 1);
	/* Nothing new: nothing to do. */
	cr_assert_eq(slc_sink_file_ops.sync(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);

	/* Rotations in never mode end segments unsynced: one syncfs covers them. */
	for (uint32_t i = 3; i < 60; i += 3)
		cr_assert_eq(write_records(w, 0, i, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_assert_gt(st.rotations, 0);
	cr_expect_eq(st.fsyncs, 1);
	cr_assert_eq(slc_sink_file_ops.sync(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 2);
	cr_expect_eq(st.write_errors, 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);

	/* batch and interval: a sync after a write that was not synced yet. */
	tmpdir(dir, sizeof(dir));
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL, &cap);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 0);
	cr_assert_eq(slc_sink_file_ops.sync(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

Test(sink_file, checkpoint_is_replaced_atomically_and_says_what_was_synced)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct logcap cap;
	char dir[64], path[512], tmp[512], ckpt[512], want[256];
	uint64_t synced;
	char *text;
	void *s;

	tmpdir(dir, sizeof(dir));
	seg_path(path, sizeof(path), dir, 0, 0);
	snprintf(tmp, sizeof(tmp), "%s/checkpoint.tmp", dir);
	snprintf(ckpt, sizeof(ckpt), "%s/checkpoint", dir);
	cr_expect_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), -ENOENT);

	/* A stale .tmp from a crash in the middle of a checkpoint write goes at create. */
	fclose(fopen(tmp, "w"));
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_BATCH, &cap);
	cr_expect_neq(access(tmp, F_OK), 0, "a stale checkpoint.tmp was left");
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 5, space), 0);
	synced = file_size(path);
	cr_expect_neq(access(tmp, F_OK), 0, "checkpoint.tmp left behind");
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect(pos[0].valid);
	cr_expect_eq(pos[0].seq, 0);
	cr_expect_eq(pos[0].offset, synced);
	cr_expect_not(pos[1].valid);
	/* The form docs/file-format.md gives. */
	text = slurp(ckpt);
	snprintf(want, sizeof(want), "sluice-checkpoint 1\ndurable 0 0 %llu\ncrc ",
	         (unsigned long long)synced);
	cr_expect_eq(strncmp(text, want, strlen(want)), 0, "%s", text);
	cr_expect_eq(strlen(text), strlen(want) + 9, "%s", text);
	free(text);

	/* Batches soon after are coalesced: the checkpoint may lag, never lead. */
	for (uint32_t i = 5; i < 50; i += 5)
		cr_assert_eq(write_records(w, 0, i, 5, space), 0);
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect_geq(pos[0].offset, synced);
	cr_expect_leq(pos[0].offset, file_size(path));
	slc_sink_file_stats(s, &st);
	cr_expect_lt(st.checkpoints, 10, "one checkpoint write per batch");

	/* Close: the whole segment, trailer included. */
	slc_sink_file_ops.worker_close(w);
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect_eq(pos[0].seq, 0);
	cr_expect_eq(pos[0].offset, file_size(path));
	cr_expect_neq(access(tmp, F_OK), 0, "checkpoint.tmp left behind");
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.checkpoint_errors, 0);
	slc_sink_file_ops.destroy(s);

	/* A checkpoint that does not match its CRC is reported and not trusted. */
	text = slurp(ckpt);
	text[strlen("sluice-checkpoint 1\ndurable 0 0 ")] ^= 1;
	{
		FILE *f = fopen(ckpt, "w");

		cr_assert_not_null(f);
		fputs(text, f);
		fclose(f);
	}
	free(text);
	cr_expect_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), -EBADMSG);
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_BATCH, &cap);
	cr_expect_not_null(strstr(cap.text, "checkpoint: cannot read it"), "%s", cap.text);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_lost_durable, 0);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

Test(sink_file, checkpoint_ahead_of_the_files_reports_lost_durable_data)
{
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_stats st;
	struct logcap cap;
	uint64_t off[21];
	char dir[64], path[512], lines[256], want[640];
	void *s;

	/* The sink synced the whole segment and said so; then the disk lost its end. */
	tmpdir(dir, sizeof(dir));
	write_one_segment(dir, 20, off);
	seg_path(path, sizeof(path), dir, 0, 0);
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_assert_eq(pos[0].offset, file_size(path));
	cr_assert_eq(truncate(path, (off_t)off[15] + 5), 0);
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	snprintf(want, sizeof(want),
	         "LOST DURABLE DATA: %s: the checkpoint says %llu bytes of it were durable; the "
	         "file had only %llu bytes",
	         path, (unsigned long long)(off[20] + SLC_SINK_FILE_TRAILER_SIZE),
	         (unsigned long long)off[15] + 5);
	cr_expect_not_null(strstr(cap.text, want), "want \"%s\" in: %s", want, cap.text);
	cr_expect_eq(cap.level_min, 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_lost_durable, 1);
	cr_expect_eq(st.recovered_segments, 1, "the torn tail is recovered all the same");
	slc_sink_file_ops.destroy(s);
	/* Said once: the checkpoint now says what is there. */
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect_eq(pos[0].offset, file_size(path));
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_lost_durable, 0);
	cr_expect_eq(cap.lines, 0, "%s", cap.text);
	slc_sink_file_ops.destroy(s);

	rm_rf(dir);

	/* Damage below the durable offset of a closed segment; a durable segment gone. */
	tmpdir(dir, sizeof(dir));
	write_one_segment(dir, 20, off);
	seg_path(path, sizeof(path), dir, 0, 0);
	snprintf(lines, sizeof(lines), "durable 0 0 %llu\ndurable 1 4 100\n",
	         (unsigned long long)file_size(path));
	ckpt_write_raw(dir, "checkpoint", lines);
	{
		uint8_t b;
		int fd = open(path, O_RDWR);

		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, &b, 1, (off_t)off[5] + 24), 1);
		b ^= 0x01;
		cr_assert_eq(pwrite(fd, &b, 1, (off_t)off[5] + 24), 1);
		close(fd);
	}
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_lost_durable, 1, "%s", cap.text);
	cr_expect_eq(st.recovered_segments, 0, "a closed segment is not cut");
	snprintf(want, sizeof(want),
	         "LOST DURABLE DATA: %s: the checkpoint says %llu bytes of it were durable; its "
	         "whole records end at %llu (record CRC mismatch)",
	         path, (unsigned long long)file_size(path), (unsigned long long)off[5]);
	cr_expect_not_null(strstr(cap.text, want), "want \"%s\" in: %s", want, cap.text);
	/* A segment gone altogether was removed by hand, most likely: a warning. */
	cr_expect_not_null(strstr(cap.text, "1 file sink: "), "%s", cap.text);
	cr_expect_not_null(strstr(cap.text, "w001-00000004.seg: the checkpoint says 100 bytes of "
	                                    "it were durable, and the file is gone"),
	                   "%s", cap.text);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

/*
 * A real crash: a child writes, syncs, writes more and dies without closing anything.
 * The tail it tears is past what the checkpoint says was durable: a warning, not lost
 * data; the synced records and those written after survive up to the tear.
 */
Test(sink_file, crash_after_sync_recovers_without_lost_durable_data)
{
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	struct slc_sink_file_stats st;
	struct logcap cap;
	struct readback rb;
	uint64_t off[21];
	uint32_t k = 0;
	char dir[64], path[512];
	int status, err;
	pid_t pid;
	void *s;

	tmpdir(dir, sizeof(dir));
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		static uint8_t space[64 * 400];
		struct slc_sink_file_cfg cfg = {
		        .dir = dir, .fsync = SLC_SINK_FILE_FSYNC_NEVER, .key_fn = key_before_space};
		struct slc_sink_worker *w = NULL;
		void *cs = slc_sink_file_create(&cfg, &err);

		/* No cr_assert in the child: its exit status says what failed. */
		if (cs == NULL || slc_sink_file_ops.worker_open(cs, 0, &w) != 0)
			_exit(10);
		if (write_records(w, 0, 0, 10, space) != 0 || slc_sink_file_ops.sync(w) != 0)
			_exit(11);
		if (write_records(w, 0, 10, 10, space) != 0)
			_exit(12);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);

	seg_path(path, sizeof(path), dir, 0, 0);
	r = slc_sink_file_reader_open(path, &err);
	cr_assert_not_null(r);
	for (;;) {
		cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
		if (ev.kind != SLC_SINK_FILE_EV_RECORD)
			break;
		off[k++] = ev.offset;
	}
	slc_sink_file_reader_close(r);
	cr_assert_eq(ev.kind, SLC_SINK_FILE_EV_END);
	cr_assert_not(ev.closed, "the child closed its segment");
	cr_assert_eq(k, 20);
	off[20] = ev.offset;
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_assert_eq(pos[0].offset, off[10], "the checkpoint is not the sync's");

	/* The power cut took the middle of record 17's payload. */
	cr_assert_eq(truncate(path, (off_t)off[17] + 30), 0);
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.recovered_segments, 1);
	cr_expect_eq(st.recovered_lost_durable, 0);
	cr_expect_eq(cap.level_min, 1, "%s", cap.text);
	cr_expect_null(strstr(cap.text, "LOST"), "%s", cap.text);
	slc_sink_file_ops.destroy(s);
	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 17);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.closed, 1);
	rm_rf(dir);
}

Test(sink_file, workers_on_two_threads_share_one_checkpoint)
{
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_stats st;
	struct syncer_arg args[2];
	struct logcap cap;
	pthread_t th[2];
	char dir[64], path[512];
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new_cap(dir, 16384, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	for (uint32_t i = 0; i < 2; i++) {
		args[i] = (struct syncer_arg){.sink = s, .worker = i, .batches = SCALE(400) + 40};
		cr_assert_eq(pthread_create(&th[i], NULL, syncer_thread, &args[i]), 0);
	}
	for (uint32_t i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(atomic_load(&args[i].failed), 0, "worker %u: %s", i,
		             strerror(-atomic_load(&args[i].failed)));
	}
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.checkpoint_errors, 0);
	cr_expect_geq(st.checkpoints, 2);
	slc_sink_file_ops.destroy(s);
	/* Both closes are in it: each worker's last segment, whole. */
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	for (uint32_t i = 0; i < 2; i++) {
		cr_assert(pos[i].valid, "worker %u", i);
		seg_path(path, sizeof(path), dir, i, pos[i].seq);
		cr_expect_eq(pos[i].offset, file_size(path), "worker %u", i);
		seg_path(path, sizeof(path), dir, i, pos[i].seq + 1);
		cr_expect_neq(access(path, F_OK), 0, "worker %u: not its last segment", i);
	}
	rm_rf(dir);
}
