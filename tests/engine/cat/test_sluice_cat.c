/* SPDX-License-Identifier: MIT */
/* test_sluice_cat.c: sluice-cat as a process: what it prints, its exit codes, --commit. */
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

/* F6 (issue 15): sluice-cat hung on the same FIFO, and on a FIFO as DIR/consumed. */
Test(sluice_cat, refuses_a_fifo_rather_than_wait_on_it)
{
	const char *verify[] = {"--verify", NULL, NULL};
	const char *print[] = {NULL, NULL};
	const char *from[] = {"--from-checkpoint", NULL, NULL};
	char dir[64], scratch[64], path[512];
	char *out, *err;

	tmpdir(dir, sizeof(dir));
	tmpdir(scratch, sizeof(scratch));
	fifo_scene(dir);
	verify[1] = dir;
	cr_expect_eq(run_cat(scratch, verify, &out, &err), 1, "%s", err);
	cr_expect_not_null(strstr(err, "w000-00000001.seg: not a regular file; not read"), "%s",
	                   err);
	cr_expect_not_null(strstr(err, "w000-00000002.seg: not a regular file; not read"), "%s",
	                   err);
	cr_expect_not_null(strstr(out, "segments=1 closed=1 records=5 "), "%s", out);
	free(out);
	free(err);

	print[0] = dir;
	cr_expect_eq(run_cat(scratch, print, &out, &err), 1, "%s", err);
	cr_expect_not_null(strstr(out, "k0.4 0 4 "), "the good segment is printed: %s", out);
	free(out);
	free(err);

	snprintf(path, sizeof(path), "%s/%s", dir, SLC_SINK_FILE_CONSUMED_NAME);
	cr_assert_eq(mkfifo(path, 0644), 0);
	from[1] = dir;
	cr_expect_eq(run_cat(scratch, from, &out, &err), 1, "%s", err);
	cr_expect_not_null(strstr(err, "consumed: not a regular file"), "%s", err);
	free(out);
	free(err);
	rm_rf(dir);
	rm_rf(scratch);
}

Test(sluice_cat, prints_payloads_keys_and_exit_codes)
{
	struct slc_sink_worker *w0, *w1;
	struct slc_msg m;
	char dir[64], scratch[64], missing[96];
	char *out, *err;
	void *s;

	tmpdir(dir, sizeof(dir));
	tmpdir(scratch, sizeof(scratch));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
	/* Worker 1 writes first; the output is still worker 0's records first. */
	w1 = worker_open(s, 1);
	w0 = worker_open(s, 0);
	m = (struct slc_msg){.data = (const uint8_t *)"kb b0", .len = 5};
	cr_assert_eq(slc_sink_file_ops.write(w1, &m, 1), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w1), 0);
	m = (struct slc_msg){.data = (const uint8_t *)"kb b1", .len = 5};
	cr_assert_eq(slc_sink_file_ops.write(w1, &m, 1), 0);
	m = (struct slc_msg){.data = (const uint8_t *)"ka a0", .len = 5};
	cr_assert_eq(slc_sink_file_ops.write(w0, &m, 1), 0);
	m = (struct slc_msg){.data = (const uint8_t *)"nokey", .len = 5};
	cr_assert_eq(slc_sink_file_ops.write(w0, &m, 1), 0);
	slc_sink_file_ops.worker_close(w0);
	slc_sink_file_ops.worker_close(w1);
	slc_sink_file_ops.destroy(s);

	{
		const char *args[] = {dir, NULL};

		cr_expect_eq(run_cat(scratch, args, &out, &err), 0);
		cr_expect_str_eq(out, "ka a0\nnokey\nkb b0\nkb b1\n");
		cr_expect_str_eq(err, "");
		free(out);
		free(err);
	}
	{
		const char *args[] = {"--keys", dir, NULL};

		cr_expect_eq(run_cat(scratch, args, &out, &err), 0);
		cr_expect_str_eq(out, "ka\tka a0\n\tnokey\nkb\tkb b0\nkb\tkb b1\n");
		free(out);
		free(err);
	}
	{
		const char *args[] = {"--verify", dir, NULL};

		cr_expect_eq(run_cat(scratch, args, &out, &err), 0);
		cr_expect_str_eq(out, "segments=3 closed=3 records=4 bytes=26 damaged=0 torn=0\n");
		cr_expect_str_eq(err, "");
		free(out);
		free(err);
	}
	/* Usage errors: 2. A directory that cannot be read: 1. */
	{
		const char *none[] = {NULL};
		const char *both[] = {"--verify", "--keys", dir, NULL};
		const char *unknown[] = {"--frobnicate", dir, NULL};
		const char *two[] = {dir, dir, NULL};
		const char *gone[] = {missing, NULL};

		cr_expect_eq(run_cat(scratch, none, &out, &err), 2);
		free(out);
		free(err);
		cr_expect_eq(run_cat(scratch, both, &out, &err), 2);
		free(out);
		free(err);
		cr_expect_eq(run_cat(scratch, unknown, &out, &err), 2);
		free(out);
		free(err);
		cr_expect_eq(run_cat(scratch, two, &out, &err), 2);
		free(out);
		free(err);
		snprintf(missing, sizeof(missing), "%s/missing", dir);
		cr_expect_eq(run_cat(scratch, gone, &out, &err), 1);
		cr_expect_not_null(strstr(err, "No such file"), "stderr: %s", err);
		free(out);
		free(err);
	}
	rm_rf(dir);
	rm_rf(scratch);
}

Test(sluice_cat, commits_and_resumes_from_the_consumed_position)
{
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_worker *w0, *w1;
	struct slc_msg m;
	char dir[64], scratch[64], path[512];
	char *out, *err;
	void *s;

	tmpdir(dir, sizeof(dir));
	tmpdir(scratch, sizeof(scratch));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
	w0 = worker_open(s, 0);
	w1 = worker_open(s, 1);
	m = (struct slc_msg){.data = (const uint8_t *)"ka a0", .len = 5};
	cr_assert_eq(slc_sink_file_ops.write(w0, &m, 1), 0);
	m = (struct slc_msg){.data = (const uint8_t *)"ka a1", .len = 5};
	cr_assert_eq(slc_sink_file_ops.write(w0, &m, 1), 0);
	m = (struct slc_msg){.data = (const uint8_t *)"kb b0", .len = 5};
	cr_assert_eq(slc_sink_file_ops.write(w1, &m, 1), 0);
	slc_sink_file_ops.worker_close(w0);
	slc_sink_file_ops.worker_close(w1);
	slc_sink_file_ops.destroy(s);

	{
		const char *args[] = {"--commit", dir, NULL};

		cr_expect_eq(run_cat(scratch, args, &out, &err), 0, "%s", err);
		cr_expect_str_eq(out, "ka a0\nka a1\nkb b0\n");
		free(out);
		free(err);
	}
	/* Worker 0: two records of 16 + 2 + 5 bytes after the 32-byte header. */
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_CONSUMED, pos), 0);
	cr_expect(pos[0].valid);
	cr_expect_eq(pos[0].seq, 0);
	cr_expect_eq(pos[0].offset, 32 + 2 * 23);
	cr_expect(pos[1].valid);
	cr_expect_eq(pos[1].offset, 32 + 23);
	cr_expect_not(pos[2].valid);
	snprintf(path, sizeof(path), "%s/consumed.tmp", dir);
	cr_expect_neq(access(path, F_OK), 0, "consumed.tmp left behind");
	{
		const char *args[] = {"--from-checkpoint", dir, NULL};

		cr_expect_eq(run_cat(scratch, args, &out, &err), 0, "%s", err);
		cr_expect_str_eq(out, "");
		free(out);
		free(err);
	}

	/* The daemon goes on (and recovery finds nothing to do with consumed there). */
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
	w0 = worker_open(s, 0);
	m = (struct slc_msg){.data = (const uint8_t *)"ka a2", .len = 5};
	cr_assert_eq(slc_sink_file_ops.write(w0, &m, 1), 0);
	slc_sink_file_ops.worker_close(w0);
	slc_sink_file_ops.destroy(s);
	{
		const char *args[] = {"--from-checkpoint", "--commit", dir, NULL};
		const char *again[] = {"--from-checkpoint", dir, NULL};
		const char *all[] = {dir, NULL};

		cr_expect_eq(run_cat(scratch, args, &out, &err), 0, "%s", err);
		cr_expect_str_eq(out, "ka a2\n");
		free(out);
		free(err);
		cr_expect_eq(run_cat(scratch, again, &out, &err), 0, "%s", err);
		cr_expect_str_eq(out, "");
		free(out);
		free(err);
		cr_expect_eq(run_cat(scratch, all, &out, &err), 0, "%s", err);
		cr_expect_str_eq(out, "ka a0\nka a1\nka a2\nkb b0\n");
		free(out);
		free(err);
	}

	/* The API rewinds one worker and keeps the others. */
	cr_assert_eq(slc_sink_file_checkpoint_consumed(dir, 0, 0, 32 + 23), 0);
	{
		const char *args[] = {"--from-checkpoint", dir, NULL};

		cr_expect_eq(run_cat(scratch, args, &out, &err), 0, "%s", err);
		cr_expect_str_eq(out, "ka a1\nka a2\n");
		free(out);
		free(err);
	}
	cr_expect_eq(slc_sink_file_checkpoint_consumed(dir, SLC_SINK_FILE_WORKERS_MAX, 0, 0),
	             -EINVAL);
	{
		const char *args[] = {"--verify", "--commit", dir, NULL};

		cr_expect_eq(run_cat(scratch, args, &out, &err), 2);
		free(out);
		free(err);
	}
	rm_rf(dir);
	rm_rf(scratch);
}

/* docs/sluice-cat.1 names every option of the usage (written by hand: checked here). */
Test(sluice_cat, its_man_page_names_every_option)
{
	const char *help[] = {"--help", NULL};
	char scratch[64], *out, *err, *page;

	tmpdir(scratch, sizeof(scratch));
	cr_assert_eq(run_cat(scratch, help, &out, &err), 0, "%s", err);
	page = slurp(SLC_DOCS_DIR "/sluice-cat.1");
	cr_assert_not_null(page);
	for (char *p = strstr(out, "--"); p != NULL; p = strstr(p + 2, "--")) {
		char opt[64], want[128];
		size_t n = strspn(p, "-abcdefghijklmnopqrstuvwxyz"), o = 0;

		if (n <= 2 || n >= sizeof(opt))
			continue;
		memcpy(opt, p, n);
		opt[n] = '\0';
		/* As roff writes it: every '-' as "\-". */
		for (size_t i = 0; i < n; i++)
			o += (size_t)snprintf(want + o, sizeof(want) - o, "%s",
			                      opt[i] == '-' ? "\\-" : (char[]){opt[i], '\0'});
		cr_expect_not_null(strstr(page, want), "docs/sluice-cat.1 lacks %s", opt);
	}
	free(page);
	free(out);
	free(err);
	rm_rf(scratch);
}
