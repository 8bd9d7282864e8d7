/* SPDX-License-Identifier: MIT */
/* test_retain.c: sluiced --retain-size end to end: the flags reach the file sink, counted. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "segment.h"

#define LINE_BYTES 1000u
#define LINES      6000u /* about 6 MB: six segments of 1 MiB */

/* --fsync never: no checkpoint while it runs, so only the size holds segments back (with
 * syncs, a burst that rotates faster than the checkpoint follows deletes at later
 * rotations: docs/file-format.md, "Retention"). */
Test(retain, retain_size_deletes_the_oldest_segments_of_a_running_daemon, .timeout = 120)
{
	struct dproc d;
	char sink[96], *buf;
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0?framing=lines",
	                      "--sink",
	                      sink,
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--pools",
	                      "1",
	                      "--workers",
	                      "1",
	                      "--segment-size",
	                      "1M",
	                      "--retain-size",
	                      "2M",
	                      "--fsync",
	                      "never",
	                      NULL};
	struct slc_sink_file_seg *segs;
	uint64_t kept = 0, deleted;
	size_t n;
	int fd;

	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	buf = malloc(LINE_BYTES);
	cr_assert_not_null(buf);
	memset(buf, 'x', LINE_BYTES - 1);
	buf[LINE_BYTES - 1] = '\n';
	for (unsigned i = 0; i < LINES; i++)
		cr_assert_eq(dproc_send_all(fd, buf, LINE_BYTES), 0);
	close(fd);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, LINES, 60000),
	             LINES);
	deleted = dproc_metric_now(&d, "sluice_sink_file_retain_deleted_segments_total", NULL);
	cr_expect_geq(deleted, 2u, "%s", d.log);
	cr_expect(dproc_log_wait(&d, 0, "deleted (", 5000), "%s", d.log);
	cr_assert_eq(dproc_stop(&d), 0, "%s", d.log);
	/* Left: at most 2 MiB of older segments, the one the last rotation ended, the last. */
	cr_assert_eq(slc_sink_file_dir_scan(d.dir, &segs, &n), 0);
	cr_expect_eq(segs[0].seq, deleted, "the oldest went first");
	for (size_t i = 0; i + 2 < n; i++) {
		char path[256];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", d.dir, segs[i].name);
		cr_assert_eq(stat(path, &sb), 0);
		kept += (uint64_t)sb.st_size;
	}
	cr_expect_leq(kept, 2u << 20, "%zu segments from %" PRIu64 ": %" PRIu64 " bytes kept", n,
	              segs[0].seq, kept);
	free(segs);
	free(buf);
	dproc_remove_dir(d.dir);
}
