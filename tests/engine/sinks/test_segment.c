/* SPDX-License-Identifier: MIT */
/* test_segment.c: the segment format as the reader sees it: damage, torn tails, names. */
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

Test(segment, flipped_byte_reads_as_damage_at_its_record)
{
	uint64_t off[21];
	struct readback rb;
	char dir[64], scratch[64], path[512];
	char *out, *err;
	int fd;
	uint8_t b;

	tmpdir(dir, sizeof(dir));
	tmpdir(scratch, sizeof(scratch));
	write_one_segment(dir, 20, off);
	seg_path(path, sizeof(path), dir, 0, 0);

	/* A payload byte of record 10 (16 bytes of header, "k0.10" its key). */
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)off[10] + 24), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off[10] + 24), 1);
	close(fd);
	read_back(dir, &rb, true);
	cr_expect_eq(rb.damaged, 1);
	cr_expect_eq(rb.damage_off[0], off[10]);
	cr_expect_str_eq(rb.what, "record CRC mismatch");
	cr_expect_eq(rb.records, 19);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.torn, 0);
	cr_expect_eq(rb.closed, 1, "the trailer after the damage is still read");

	/* sluice-cat --verify names the file and the offset, and exits 1. */
	{
		const char *args[] = {"--verify", dir, NULL};
		char want[600];

		cr_expect_eq(run_cat(scratch, args, &out, &err), 1);
		snprintf(want, sizeof(want), "%s: offset %llu: record CRC mismatch", path,
		         (unsigned long long)off[10]);
		cr_expect_not_null(strstr(err, want), "stderr: %s", err);
		cr_expect_not_null(strstr(out, "records=19 "), "stdout: %s", out);
		cr_expect_not_null(strstr(out, "damaged=1 "), "stdout: %s", out);
		free(out);
		free(err);
	}

	/* A length field of record 3: the record seems to run on, yet records follow. */
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)off[3] + 6), 1);
	b ^= 0x01;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off[3] + 6), 1);
	close(fd);
	read_back(dir, &rb, true);
	cr_expect_eq(rb.damaged, 2);
	cr_expect_eq(rb.damage_off[0], off[3]);
	cr_expect_eq(rb.damage_off[1], off[10]);
	cr_expect_eq(rb.records, 18);
	cr_expect_eq(rb.torn, 0);
	rm_rf(dir);
	rm_rf(scratch);
}

Test(segment, cut_short_last_record_reads_as_torn_tail)
{
	uint64_t off[21];
	struct readback rb;
	char dir[64], scratch[64], path[512], path2[512];
	static uint8_t zeros[4096];
	char *out, *err;
	int fd;

	tmpdir(dir, sizeof(dir));
	tmpdir(scratch, sizeof(scratch));
	write_one_segment(dir, 20, off);
	seg_path(path, sizeof(path), dir, 0, 0);

	/* A crash in the middle of record 19: the trailer never came. */
	cr_assert_eq(truncate(path, (off_t)off[20] - 3), 0);
	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 19);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.torn, 1);
	cr_expect_eq(rb.torn_off[0], off[19]);
	cr_expect_eq(rb.damaged, 0);
	cr_expect_eq(rb.closed, 0);
	{
		const char *args[] = {"--verify", dir, NULL};
		char want[600];

		cr_expect_eq(run_cat(scratch, args, &out, &err), 3);
		snprintf(want, sizeof(want), "%s: offset %llu: torn tail", path,
		         (unsigned long long)off[19]);
		cr_expect_not_null(strstr(err, want), "stderr: %s", err);
		cr_expect_not_null(strstr(out, "torn=1"), "stdout: %s", out);
		free(out);
		free(err);
	}

	/* A crash after the size grew but before the data reached the disk: zeros. */
	cr_assert_eq(truncate(path, (off_t)off[19]), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(fd);
	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 19);
	cr_expect_eq(rb.torn, 1);
	cr_expect_eq(rb.torn_off[0], off[19]);
	cr_expect_eq(rb.damaged, 0);

	/* A restart never appends records after the torn tail: recovery cuts the zeros and
	 * closes the segment, and new records go to seq 1. */
	{
		static uint8_t space[64 * 400];
		struct slc_sink_worker *w;
		void *s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);

		cr_expect_eq(file_size(path), off[19] + SLC_SINK_FILE_TRAILER_SIZE);
		w = worker_open(s, 0);
		cr_assert_eq(write_records(w, 0, 19, 5, space), 0);
		slc_sink_file_ops.worker_close(w);
		slc_sink_file_ops.destroy(s);
		cr_expect_eq(file_size(path), off[19] + SLC_SINK_FILE_TRAILER_SIZE);
		seg_path(path2, sizeof(path2), dir, 0, 1);
		cr_expect_eq(access(path2, F_OK), 0);
		read_back(dir, &rb, false);
		cr_expect_eq(rb.records, 24);
		cr_expect_eq(rb.next[0], 24);
		cr_expect_eq(rb.bad_records, 0);
		cr_expect_eq(rb.torn, 0);
		cr_expect_eq(rb.damaged, 0);
		cr_expect_eq(rb.closed, 2);
	}
	rm_rf(dir);
	rm_rf(scratch);
}

Test(segment, names_are_parsed_only_in_their_canonical_form)
{
	uint32_t w;
	uint64_t q;

	cr_expect(slc_sink_file_name_parse("w007-00000042.seg", &w, &q));
	cr_expect_eq(w, 7);
	cr_expect_eq(q, 42);
	cr_expect(slc_sink_file_name_parse("w1234-123456789.seg", &w, &q));
	cr_expect_eq(w, 1234);
	cr_expect_eq(q, 123456789);
	cr_expect_not(slc_sink_file_name_parse("w7-00000042.seg", &w, &q));
	cr_expect_not(slc_sink_file_name_parse("w0007-00000042.seg", &w, &q));
	cr_expect_not(slc_sink_file_name_parse("w007-00000042.seg.tmp", &w, &q));
	cr_expect_not(slc_sink_file_name_parse("w007-0000004.seg", &w, &q));
	cr_expect_not(slc_sink_file_name_parse("sluice.lock", &w, &q));
	cr_expect_not(slc_sink_file_name_parse("w4294967296-00000000.seg", &w, &q));
	cr_expect_not(slc_sink_file_name_parse("w000-99999999999999999999.seg", &w, &q));
}
