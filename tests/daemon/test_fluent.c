/* SPDX-License-Identifier: MIT */
/* test_fluent.c: sluiced's framing=forward listener (Fluent Forward) into the file sink. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "forward.h"
#include "../support/mp_write.h"

#define N_MSG    40u /* entries of each kind */
#define N_ALL    (3 * N_MSG)
#define MAXFRAME "256"

/* What came back: which "k-i" records were seen, and that each read as an entry. */
struct seen {
	bool got[N_ALL];
	uint32_t bad, dup;
	uint32_t n;
};

static void
on_record(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct seen *s = ctx;
	struct slc_forward_entry e;
	unsigned k;

	(void)worker;
	s->n++;
	/* the record is {"i": "<number>"}: fixmap 1, fixstr "i", fixstr of digits */
	if (slc_forward_entry_decode(p, len, &e) != 0 || e.record_len < 5 || e.record[0] != 0x81 ||
	    e.record[3] != (0xa0 | (e.record_len - 4))) {
		s->bad++;
		return;
	}
	k = 0;
	for (uint32_t i = 4; i < e.record_len; i++)
		k = k * 10 + (unsigned)(e.record[i] - '0');
	if (k >= N_ALL || e.sec != 1700000000u + k || e.nsec != (k % 3 == 0 ? k : 0)) {
		s->bad++;
		return;
	}
	if (s->got[k])
		s->dup++;
	s->got[k] = true;
}

/* Entry k: time (an EventTime for every third), then {"i": "k"}. */
static void
entry(struct mp *m, unsigned k)
{
	char num[16];

	snprintf(num, sizeof(num), "%u", k);
	if (k % 3 == 0)
		mp_evt(m, 1700000000u + k, k, k & 1);
	else
		mp_uint(m, 1700000000u + k);
	mp_map(m, 1);
	mp_str(m, "i");
	mp_str(m, num);
}

/* Sends m in pieces of 1 to 61 bytes, so that entries straddle reads and buffers. */
static void
send_dribbled(int fd, const struct mp *m, unsigned seed)
{
	for (size_t at = 0; at < m->n;) {
		size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 61;

		if (k > m->n - at)
			k = m->n - at;
		cr_assert_eq(dproc_send_all(fd, m->b + at, k), 0);
		at += k;
	}
}

static const char *const forward_args[] = {"--listen",    "tcp://127.0.0.1:0?framing=forward",
                                           "--metrics",   "127.0.0.1:0",
                                           "--pools",     "1",
                                           "--workers",   "2",
                                           "--max-frame", MAXFRAME,
                                           NULL};

static void
start(struct dproc *d, char *sink, size_t sink_len)
{
	const char *args[24];
	size_t n = 0;

	dproc_make_dir(d);
	snprintf(sink, sink_len, "file:%s", d->dir);
	while (forward_args[n] != NULL) {
		args[n] = forward_args[n];
		n++;
	}
	args[n++] = "--sink";
	args[n++] = sink;
	args[n] = NULL;
	dproc_start(d, args);
}

Test(fluent, every_mode_arrives_whole_in_the_file_sink, .timeout = 90)
{
	static struct dproc d;
	static struct seen s;
	static struct mp msg, fwd, packed, bin;
	char sink[96];
	int fd;

	start(&d, sink, sizeof(sink));
	/* Message mode, one message an entry, with and without option */
	for (unsigned k = 0; k < N_MSG; k++) {
		mp_arr(&msg, k & 1 ? 4 : 3);
		mp_str(&msg, "app.message");
		entry(&msg, k);
		if (k & 1) {
			mp_map(&msg, 1);
			mp_str(&msg, "size");
			mp_uint(&msg, 1);
		}
	}
	/* Forward mode, in messages of 8 entries */
	for (unsigned k = N_MSG; k < 2 * N_MSG; k += 8) {
		mp_arr(&fwd, 2);
		mp_str(&fwd, "app.forward");
		mp_arr(&fwd, 8);
		for (unsigned j = k; j < k + 8; j++) {
			mp_arr(&fwd, 2);
			entry(&fwd, j);
		}
	}
	/* PackedForward: one bin of every entry */
	for (unsigned k = 2 * N_MSG; k < N_ALL; k++) {
		mp_arr(&bin, 2);
		entry(&bin, k);
	}
	mp_arr(&packed, 3);
	mp_str(&packed, "app.packed");
	mp_bin_hdr(&packed, (uint32_t)bin.n);
	mp_cat(&packed, &bin);
	mp_map(&packed, 0);

	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	send_dribbled(fd, &msg, 1);
	send_dribbled(fd, &fwd, 2);
	/* the bin is larger than --max-frame: only entries are bounded by it */
	cr_assert_gt(packed.n, 256);
	send_dribbled(fd, &packed, 3);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, N_ALL, 20000),
	             N_ALL);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0);
	cr_expect_eq(dproc_for_each_record(d.dir, on_record, &s), N_ALL);
	cr_expect_eq(s.bad, 0, "%u records that are not the entries sent", s.bad);
	cr_expect_eq(s.dup, 0);
	for (unsigned k = 0; k < N_ALL; k++)
		cr_expect(s.got[k], "entry %u missing", k);
	dproc_remove_dir(d.dir);
}

/* A good message, then bad bytes: the entry before is kept, the bad input counted by its
 * reason, logged, and the connection closed. */
static void
refused(const uint8_t *bad, size_t n, const char *reason)
{
	static struct dproc d;
	struct seen s = {0};
	struct mp m = {0};
	char sink[96], label[64];
	const char *const filter[] = {label, NULL};
	int fd;

	start(&d, sink, sizeof(sink));
	mp_arr(&m, 3);
	mp_str(&m, "t");
	entry(&m, 1);
	mp_put(&m, bad, n);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, m.b, m.n), 0);
	cr_expect(dproc_wait_closed(fd, 10000), "%s: the connection is closed", reason);
	close(fd);
	snprintf(label, sizeof(label), "reason=\"%s\"", reason);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_frames_rejected_total", filter, 1, 10000), 1);
	cr_expect(dproc_log_wait(&d, 0, reason, 10000), "%s: logged", reason);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, 1, 10000), 1);
	dproc_stop(&d);
	cr_expect_eq(dproc_for_each_record(d.dir, on_record, &s), 1);
	cr_expect(s.got[1] && s.bad == 0, "%s: the entry before the bad bytes is kept", reason);
	dproc_remove_dir(d.dir);
}

Test(fluent, bad_input_is_counted_and_closes_the_connection, .timeout = 120)
{
	static const uint8_t gzip[] = {0x92, 0xa1, 't', 0xc4, 4, 0x1f, 0x8b, 8, 0};
	static const uint8_t oversize[] = {0x93, 0xa1, 't', 0x01, 0xdf, 0x7f, 0xff, 0xff, 0xff};

	refused((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, "forward_shape");
	refused((const uint8_t[]){0x93, 0xa1, 't', 0xca, 0, 0, 0, 0}, 8, "forward_time");
	refused((const uint8_t[]){0x93, 0xa1, 't', 0x01, 0x81, 0xc1}, 6, "msgpack");
	refused(gzip, sizeof(gzip), "forward_compressed");
	refused(oversize, sizeof(oversize), "oversize");
}
