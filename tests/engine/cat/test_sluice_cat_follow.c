/* SPDX-License-Identifier: MIT */
/* test_sluice_cat_follow.c: sluice-cat --follow on segments written by hand, a piece at a time. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "crc32c.h"
#include "file_test.h"
#include "segment.h"

struct cat {
	pid_t pid;
	int out, err;
	size_t out_len, err_len;
	char o[4096], e[4096];
};

static void
cat_follow(struct cat *c, const char *dir)
{
	const char *argv[] = {SLC_SLUICE_CAT, "--follow", dir, NULL};
	memset(c, 0, sizeof(*c));
	c->pid = slc_test_spawn_piped(SLC_SLUICE_CAT, argv, &c->out, &c->err);
	cr_assert_gt(c->pid, 0);
}

/* Reads its output until it is want, or 30 s pass. */
static void
cat_wait(struct cat *c, const char *want)
{
	for (uint64_t end = slc_mono_ms() + 30000;
	     strcmp(c->o, want) != 0 && slc_mono_ms() < end;) {
		slc_test_read_some(c->out, c->o, sizeof(c->o), &c->out_len, 50);
		slc_test_read_some(c->err, c->e, sizeof(c->e), &c->err_len, 0);
	}
	cr_assert_str_eq(c->o, want, "stderr: %s", c->e);
}

/* SIGINT, then its exit status, the rest of stderr read. */
static int
cat_stop(struct cat *c)
{
	int st = 0;

	kill(c->pid, SIGINT);
	cr_assert_eq(waitpid(c->pid, &st, 0), c->pid);
	while (slc_test_read_some(c->err, c->e, sizeof(c->e), &c->err_len, 0) > 0)
		;
	close(c->out);
	close(c->err);
	cr_assert(WIFEXITED(st), "status %d", st);
	return WEXITSTATUS(st);
}

/* A segment file of worker 0, open for appending. */
static int
seg_open(const char *dir, uint64_t seq)
{
	char path[512];
	uint8_t h[SLC_SINK_FILE_SEG_HDR_SIZE];
	int fd;

	seg_path(path, sizeof(path), dir, 0, seq);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	slc_seg_hdr_put(h, 0, seq);
	cr_assert_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	return fd;
}

/* The record of payload p into out (its CRC spoilt when bad); its size. */
static size_t
rec(uint8_t *out, const char *p, bool bad)
{
	uint32_t n = (uint32_t)strlen(p), crc;

	slc_seg_rec_hdr_put(out, n, 0, 0);
	memcpy(out + SLC_SINK_FILE_REC_HDR_SIZE, p, n);
	crc = slc_crc32c(slc_crc32c(0, out + 4, 8), p, n);
	slc_seg_put_le32(out + 12, bad ? crc ^ 1 : crc);
	return SLC_SINK_FILE_REC_HDR_SIZE + n;
}

static void
put(int fd, const void *p, size_t n)
{
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

static void
put_rec(int fd, const char *p, bool bad)
{
	uint8_t r[256];

	put(fd, r, rec(r, p, bad));
}

Test(sluice_cat_follow, waits_for_a_record_being_written)
{
	struct cat c;
	char dir[64];
	uint8_t two[64], four[64];
	size_t n2, n4;
	int fd;

	tmpdir(dir, sizeof(dir));
	fd = seg_open(dir, 1);
	put_rec(fd, "one", false);
	n2 = rec(two, "two and more bytes", false);
	put(fd, two, 20); /* its header whole, its payload cut short */
	cat_follow(&c, dir);
	/* Each record before a cut one is printed in the same look as the cut one: a report
	 * on the cut one would be out before the wait ends. */
	cat_wait(&c, "one\n");
	put(fd, two + 20, n2 - 20);
	put_rec(fd, "three", false);
	n4 = rec(four, "four and more bytes", false);
	put(fd, four, 10); /* its header cut short */
	cat_wait(&c, "one\ntwo and more bytes\nthree\n");
	put(fd, four + 10, n4 - 10);
	cat_wait(&c, "one\ntwo and more bytes\nthree\nfour and more bytes\n");
	cr_expect_eq(cat_stop(&c), 0, "%s", c.e);
	cr_expect_eq(c.err_len, 0, "nothing was reported: %s", c.e);
	close(fd);
	rm_rf(dir);
}

Test(sluice_cat_follow, damage_in_an_ended_segment_is_reported_and_what_follows_printed)
{
	struct cat c;
	char dir[64];
	uint8_t t[SLC_SINK_FILE_TRAILER_SIZE];
	int fd;

	tmpdir(dir, sizeof(dir));
	fd = seg_open(dir, 1);
	put_rec(fd, "a", false);
	put_rec(fd, "b", true);
	put_rec(fd, "c", false);
	/* The trailer at the end: the segment was ended, the bad record is no write in
	 * progress. */
	slc_seg_trailer_put(t, 3,
	                    SLC_SINK_FILE_SEG_HDR_SIZE + 3 * (SLC_SINK_FILE_REC_HDR_SIZE + 1));
	put(fd, t, sizeof(t));
	close(fd);
	cat_follow(&c, dir);
	cat_wait(&c, "a\nc\n");
	fd = seg_open(dir, 2);
	put_rec(fd, "d", false);
	cat_wait(&c, "a\nc\nd\n");
	cr_expect_eq(cat_stop(&c), 1, "%s", c.e);
	cr_expect_not_null(strstr(c.e, "w000-00000001.seg: offset 49: record CRC mismatch"), "%s",
	                   c.e);
	close(fd);
	rm_rf(dir);
}

Test(sluice_cat_follow, a_torn_segment_is_left_once_a_newer_one_is_written, .timeout = 60)
{
	struct cat c;
	char dir[64];
	uint8_t b[64];
	int fd;

	tmpdir(dir, sizeof(dir));
	fd = seg_open(dir, 1);
	put_rec(fd, "a", false);
	put(fd, b, rec(b, "b", false) - 1); /* a crash in the middle of its write */
	close(fd);
	cat_follow(&c, dir);
	cat_wait(&c, "a\n");
	/* The writer starts over in a new segment; the torn one is reported once it has
	 * stayed the same for a while, and the new one's records follow. */
	fd = seg_open(dir, 2);
	put_rec(fd, "c", false);
	cat_wait(&c, "a\nc\n");
	cr_expect_eq(cat_stop(&c), 3, "%s", c.e);
	cr_expect_not_null(strstr(c.e, "w000-00000001.seg: offset 49: torn tail"), "%s", c.e);
	close(fd);
	rm_rf(dir);
}

Test(sluice_cat_follow, refuses_commit_and_verify)
{
	const char *commit[] = {"--follow", "--commit", NULL, NULL};
	const char *verify[] = {"--verify", "--follow", NULL, NULL};
	char dir[64], scratch[64];
	char *out, *err;

	tmpdir(dir, sizeof(dir));
	tmpdir(scratch, sizeof(scratch));
	commit[2] = verify[2] = dir;
	cr_expect_eq(run_cat(scratch, commit, &out, &err), 2, "%s", err);
	cr_expect_not_null(strstr(err, "--follow"), "the usage names it: %s", err);
	free(out);
	free(err);
	cr_expect_eq(run_cat(scratch, verify, &out, &err), 2, "%s", err);
	free(out);
	free(err);
	rm_rf(dir);
	rm_rf(scratch);
}
