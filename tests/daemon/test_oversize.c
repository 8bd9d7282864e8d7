/* SPDX-License-Identifier: MIT */
/* test_oversize.c: --oversize skip: the oversize message alone is dropped, counted, logged. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_proc.h"

#define MAX_FRAME 64u

/* Records in dir, "|"-joined in the order one worker wrote them. */
struct joined {
	char text[512];
	size_t len;
};

static void
join_record(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct joined *j = ctx;

	(void)worker;
	cr_assert_lt(j->len + len + 2, sizeof(j->text));
	if (j->len > 0)
		j->text[j->len++] = '|';
	memcpy(j->text + j->len, p, len);
	j->len += len;
	j->text[j->len] = '\0';
}

/* len32 frame: the 4-byte length, then the payload. */
static void
send_len32(int fd, const char *payload, uint32_t len)
{
	uint8_t hdr[4] = {len >> 24, len >> 16, len >> 8, len};

	cr_assert_eq(dproc_send_all(fd, hdr, 4), 0);
	cr_assert_eq(dproc_send_all(fd, payload, len), 0);
}

Test(oversize, skip_drops_the_message_alone_and_keeps_the_connection, .timeout = 60)
{
	static struct dproc d;
	static struct joined all, lines, counted;
	char sink[96], big[3 * MAX_FRAME];
	const char *args[] = {"--listen",    "tcp://127.0.0.1:0?framing=lines",
	                      "--listen",    "tcp://127.0.0.1:0?framing=len32",
	                      "--sink",      sink,
	                      "--metrics",   "127.0.0.1:0",
	                      "--pools",     "1",
	                      "--workers",   "1",
	                      "--max-frame", "64",
	                      "--oversize",  "skip",
	                      NULL};
	int fl, fc;

	memset(big, 'x', sizeof(big));
	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	fl = dproc_connect(d.port[0]);
	cr_assert_geq(fl, 0);
	/* Lines: one too long in one send, one too long across sends. */
	cr_assert_eq(dproc_send_all(fl, "a1\n", 3), 0);
	cr_assert_eq(dproc_send_all(fl, big, sizeof(big)), 0);
	cr_assert_eq(dproc_send_all(fl, "\na2\nyy", 6), 0);
	cr_assert_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 2, 10000), 2);
	cr_assert_eq(dproc_send_all(fl, big, MAX_FRAME), 0);
	cr_assert_eq(dproc_send_all(fl, "zz\na3\n", 6), 0);
	fc = dproc_connect(d.port[1]);
	cr_assert_geq(fc, 0);
	send_len32(fc, "b1", 2);
	send_len32(fc, big, MAX_FRAME + 1);
	send_len32(fc, "b2", 2);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, 5, 10000), 5u);
	cr_expect_eq(dproc_metric_now(&d, "sluice_frames_skipped_total", NULL), 3u);
	cr_expect_eq(dproc_metric_now(&d, "sluice_frames_rejected_total", NULL), 0u);
	cr_expect(dproc_log_wait(&d, 0,
	                         "oversize frame of at least 65 bytes skipped (--max-frame "
	                         "64); the connection goes on",
	                         5000),
	          "%s", d.log);
	/* Both connections still take messages. */
	cr_assert_eq(dproc_send_all(fl, "a4\n", 3), 0);
	send_len32(fc, "b3", 2);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, 7, 10000), 7u);
	close(fl);
	close(fc);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	/* One worker wrote them all, each connection's in its order. */
	dproc_for_each_record(d.dir, join_record, &all);
	for (char *save, *t = strtok_r(all.text, "|", &save); t != NULL;
	     t = strtok_r(NULL, "|", &save))
		join_record(t[0] == 'a' ? &lines : &counted, 0, (const uint8_t *)t, strlen(t));
	cr_expect_str_eq(lines.text, "a1|a2|a3|a4");
	cr_expect_str_eq(counted.text, "b1|b2|b3");
	dproc_remove_dir(d.dir);
}
