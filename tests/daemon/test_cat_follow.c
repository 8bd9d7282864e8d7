/* SPDX-License-Identifier: MIT */
/* test_cat_follow.c: sluice-cat --follow on the directory of a running sluiced. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "daemon_proc.h"
#include "json_check.h"
#include "segment.h"

#define LINES   80000u
#define BATCHES 8u
#define OUT_MAX (8u << 20)

struct cat {
	pid_t pid;
	int out, err;
	size_t out_len, err_len;
	unsigned lines; /* in o */
	char *o;        /* OUT_MAX */
	char e[8192];
};

static void
cat_start(struct cat *c, const char *const *argv)
{
	c->o = malloc(OUT_MAX);
	cr_assert_not_null(c->o);
	c->o[0] = c->e[0] = '\0';
	c->out_len = c->err_len = 0;
	c->lines = 0;
	c->pid = slc_test_spawn_piped(SLC_SLUICE_CAT, argv, &c->out, &c->err);
	cr_assert_gt(c->pid, 0);
}

/* Reads its output until it holds want lines in all, or 60 s pass; pumps the daemon's
 * log. Returns the lines it holds. */
static unsigned
cat_wait_lines(struct cat *c, struct dproc *d, unsigned want)
{
	for (uint64_t end = slc_mono_ms() + 60000; c->lines < want && slc_mono_ms() < end;) {
		size_t from = c->out_len;

		slc_test_read_some(c->out, c->o, OUT_MAX, &c->out_len, 50);
		slc_test_read_some(c->err, c->e, sizeof(c->e), &c->err_len, 0);
		for (size_t i = from; i < c->out_len; i++)
			c->lines += c->o[i] == '\n';
		dproc_log_pump(d);
	}
	return c->lines;
}

/* SIGINT, its exit status; the rest of its output read. */
static int
cat_stop(struct cat *c)
{
	int st = 0;

	kill(c->pid, SIGINT);
	cr_assert_eq(waitpid(c->pid, &st, 0), c->pid);
	while (slc_test_read_some(c->out, c->o, OUT_MAX, &c->out_len, 0) > 0)
		;
	while (slc_test_read_some(c->err, c->e, sizeof(c->e), &c->err_len, 0) > 0)
		;
	close(c->out);
	close(c->err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Lines "follow N <padding>" from..to-1 on one connection. */
static void
send_lines(struct dproc *d, unsigned from, unsigned to)
{
	static char buf[LINES / BATCHES * 64];
	int fd = dproc_connect(d->port[0]);
	size_t len = 0;

	cr_assert_geq(fd, 0);
	for (unsigned i = from; i < to; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		                        "follow %u padding-padding-padding\n", i);
	cr_assert_eq(dproc_send_all(fd, buf, len), 0);
	close(fd);
}

static size_t
segments(const char *dir)
{
	struct slc_sink_file_seg *segs;
	size_t n;

	cr_assert_eq(slc_sink_file_dir_scan(dir, &segs, &n), 0);
	free(segs);
	return n;
}

static void
start(struct dproc *d)
{
	char sink[96];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0?framing=lines",
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--sink",
	                      sink,
	                      "--pools",
	                      "1",
	                      "--workers",
	                      "1",
	                      "--segment-size",
	                      "1M",
	                      NULL};

	dproc_make_dir(d);
	snprintf(sink, sizeof(sink), "file:%s", d->dir);
	dproc_start(d, args);
}

/* One worker: what it wrote, in the order sent, across segment rotations. */
Test(cat_follow, prints_what_a_running_sluiced_writes_across_rotations, .timeout = 180)
{
	static struct dproc d;
	struct cat c;
	const char *argv[] = {SLC_SLUICE_CAT, "--follow", d.dir, NULL};
	char line[64];
	size_t at = 0;

	start(&d);
	argv[2] = d.dir;
	/* The first batch is there before sluice-cat starts, the rest comes while it runs. */
	send_lines(&d, 0, LINES / BATCHES);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, LINES / BATCHES,
	                               30000),
	             LINES / BATCHES);
	cat_start(&c, argv);
	for (unsigned b = 1; b < BATCHES; b++) {
		/* Each batch once sluice-cat has printed the one before: it follows a
		 * directory that grows while it reads. */
		cr_assert_eq(cat_wait_lines(&c, &d, b * LINES / BATCHES), b * LINES / BATCHES,
		             "stderr: %s", c.e);
		send_lines(&d, b * LINES / BATCHES, (b + 1) * LINES / BATCHES);
	}
	cr_assert_geq(cat_wait_lines(&c, &d, LINES), LINES, "%zu bytes so far; stderr: %s",
	              c.out_len, c.e);
	cr_expect_gt(segments(d.dir), 2, "the test must cross rotations");
	cr_expect_eq(cat_stop(&c), 0, "stderr: %s", c.e);
	cr_expect_eq(c.err_len, 0, "%s", c.e);
	for (unsigned i = 0; i < LINES; i++) {
		int n = snprintf(line, sizeof(line), "follow %u padding-padding-padding\n", i);

		cr_assert_eq(strncmp(c.o + at, line, (size_t)n), 0, "line %u: %.64s", i, c.o + at);
		at += (size_t)n;
	}
	cr_expect_eq(at, c.out_len, "nothing more, nothing twice");
	free(c.o);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	dproc_remove_dir(d.dir);
}

/* --json: one JSON object a record, while records come. */
Test(cat_follow, json_while_sluiced_writes, .timeout = 120)
{
	static struct dproc d;
	struct cat c;
	const char *argv[] = {SLC_SLUICE_CAT, "--json", "--follow", NULL, NULL};
	char want[96], *save = NULL;
	unsigned i = 0;

	start(&d);
	argv[3] = d.dir;
	cat_start(&c, argv);
	send_lines(&d, 0, LINES / BATCHES);
	cr_assert_geq(cat_wait_lines(&c, &d, LINES / BATCHES), LINES / BATCHES, "stderr: %s", c.e);
	cr_expect_eq(cat_stop(&c), 0, "stderr: %s", c.e);
	for (char *l = strtok_r(c.o, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		cr_assert_null(json_error(l), "%s: %s", json_error(l), l);
		snprintf(want, sizeof(want), "\"payload\":\"follow %u padding-padding-padding\"",
		         i++);
		cr_assert_not_null(strstr(l, want), "%s", l);
	}
	cr_expect_eq(i, LINES / BATCHES);
	free(c.o);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	dproc_remove_dir(d.dir);
}
