/* SPDX-License-Identifier: MIT */
/* test_otlp_sluiced.c: a real OTLP client (the OpenTelemetry JavaScript SDK's OTLP/HTTP log
 * exporters: protobuf, JSON and gzipped protobuf) sends to sluiced's http:// listener; the
 * file sink holds every record intact, in order. The ctest fixture otlp_client installs the
 * client (tests/daemon/clients/otlp/capture.sh). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "daemon_proc.h"

#ifndef SLC_OTLP_CLIENT_DIR
#error "SLC_OTLP_CLIENT_DIR: where capture.sh installed the client (tests/CMakeLists.txt)"
#endif

#define RECORDS 1000u
#define KINDS   3u /* protobuf, JSON, gzipped protobuf: each exporter sends every record */

struct expect {
	uint8_t *buf; /* expected.bin: each body as a 4-byte little-endian length, its bytes */
	size_t len;
	size_t pos;
	uint32_t seen;
	uint32_t bad;
};

static void
next_record(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct expect *e = ctx;
	uint32_t n;

	(void)worker;
	if (e->pos == e->len) /* the next exporter sends the same records again */
		e->pos = 0;
	memcpy(&n, e->buf + e->pos, 4);
	if (n != len || memcmp(e->buf + e->pos + 4, p, len) != 0) {
		if (e->bad++ == 0)
			cr_log_error("record %u: %.*s, expected %.*s", e->seen, (int)len, p, (int)n,
			             e->buf + e->pos + 4);
	}
	e->pos += 4 + n;
	e->seen++;
}

Test(otlp_sluiced, a_real_client_s_records_reach_the_file_sink_intact, .timeout = 120)
{
	struct dproc d;
	struct expect e = {0};
	char sink[128], url[64], out[160], path[200], count[16];
	const char *args[] = {"--listen",  "http://127.0.0.1:0",
	                      "--metrics", "127.0.0.1:0",
	                      "--pools",   "1",
	                      "--workers", "1",
	                      "--key",     "otlp:service.name",
	                      "--sink",    sink,
	                      NULL};
	const char *node[] = {"env", "node", SLC_OTLP_CLIENT_DIR "/capture.mjs", out, count,
	                      url,   NULL};
	int status;
	pid_t pid;
	FILE *f;

	cr_assert_neq(access(SLC_OTLP_CLIENT_DIR "/registry-unreachable", F_OK), 0,
	              "the npm registry is unreachable: no client to run (see %s)",
	              SLC_OTLP_CLIENT_DIR "/registry-unreachable");
	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	snprintf(out, sizeof(out), "%s-client", d.dir);
	snprintf(count, sizeof(count), "%u", RECORDS);
	dproc_start(&d, args);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/logs", d.port[0]);
	pid = slc_test_spawn("/usr/bin/env", node, -1, -1);
	cr_assert_gt(pid, 0);
	/* The exporters wait for each response: when node exits, sluiced has answered all. */
	while (waitpid(pid, &status, WNOHANG) == 0) {
		dproc_log_pump(&d);
		usleep(20000);
	}
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "node: %#x", status);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, KINDS * RECORDS,
	                               10000),
	             KINDS * RECORDS);
	cr_expect_eq(dproc_metric_now(&d, "sluice_otlp_records_rejected_total", NULL), 0);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	snprintf(path, sizeof(path), "%s/expected.bin", out);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	e.buf = malloc(1 << 20);
	cr_assert_not_null(e.buf);
	e.len = fread(e.buf, 1, 1 << 20, f);
	fclose(f);
	cr_assert_gt(e.len, 0);
	cr_expect_eq(dproc_for_each_record(d.dir, next_record, &e), KINDS * RECORDS);
	cr_expect_eq(e.bad, 0, "%u records differ", e.bad);
	cr_expect_eq(e.pos, e.len, "the last exporter's records end with the expected ones");
	free(e.buf);
	unlink(path);
	rmdir(out);
	dproc_remove_dir(d.dir);
}
