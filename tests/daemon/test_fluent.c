/* SPDX-License-Identifier: MIT */
/* test_fluent.c: sluiced's framing=forward listener (Fluent Forward) into the file sink. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "daemon_proc.h"
#include "forward.h"
#include "../support/gz_write.h"
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

/* sluiced stops; its file sink holds every entry 0..N_ALL-1 once, and nothing else. */
static void
expect_every_entry_once(struct dproc *d, struct seen *s)
{
	cr_expect_eq(dproc_stop(d), 0);
	cr_expect_eq(dproc_for_each_record(d->dir, on_record, s), N_ALL);
	cr_expect_eq(s->bad, 0, "%u records that are not the entries sent", s->bad);
	cr_expect_eq(s->dup, 0);
	for (unsigned k = 0; k < N_ALL; k++)
		cr_expect(s->got[k], "entry %u missing", k);
	dproc_remove_dir(d->dir);
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

static const char *const forward_args[] = {"--listen", "tcp://127.0.0.1:0?framing=forward",
                                           "--metrics", "127.0.0.1:0", "--pools", "1", "--workers",
                                           "2", "--max-frame", MAXFRAME,
                                           /* a bomb of a few KiB inflates past it */
                                           "--forward-max-inflated", "1m", NULL};

/* sluiced with forward_args, the file sink in a new directory, and the extra args. */
static void
start_with(struct dproc *d, char *sink, size_t sink_len, const char *const *extra)
{
	const char *args[32];
	size_t n = 0;

	dproc_make_dir(d);
	snprintf(sink, sink_len, "file:%s", d->dir);
	while (forward_args[n] != NULL) {
		args[n] = forward_args[n];
		n++;
	}
	args[n++] = "--sink";
	args[n++] = sink;
	for (size_t k = 0; extra != NULL && extra[k] != NULL; k++)
		args[n++] = extra[k];
	args[n] = NULL;
	dproc_start(d, args);
}

static void
start(struct dproc *d, char *sink, size_t sink_len)
{
	start_with(d, sink, sink_len, NULL);
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
	expect_every_entry_once(&d, &s);
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
	/* gzip's magic, then a member cut short (a CompressedPackedForward bin) */
	static const uint8_t gzip[] = {0x92, 0xa1, 't', 0xc4, 4, 0x1f, 0x8b, 8, 0};
	static const uint8_t oversize[] = {0x93, 0xa1, 't', 0x01, 0xdf, 0x7f, 0xff, 0xff, 0xff};

	refused((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, "forward_shape");
	refused((const uint8_t[]){0x93, 0xa1, 't', 0xca, 0, 0, 0, 0}, 8, "forward_time");
	refused((const uint8_t[]){0x93, 0xa1, 't', 0x01, 0x81, 0xc1}, 6, "msgpack");
	refused(gzip, sizeof(gzip), "forward_gzip");
	refused(oversize, sizeof(oversize), "oversize");
}

/* Reads one {"ack": ID} from fd into id (NUL-terminated); false on EOF, a timeout (10 s) or
 * anything else. */
static bool
read_ack(int fd, char *id, size_t cap)
{
	uint8_t b[8 + 64];
	size_t got = 0, need = 6;
	struct timeval tv = {.tv_sec = 10};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < need) {
		ssize_t n = read(fd, b + got, need - got);

		if (n <= 0)
			return false;
		got += (size_t)n;
		if (got == 6) {
			if (memcmp(b,
			           "\x81\xa3"
			           "ack",
			           5) != 0)
				return false;
			need = (b[5] & 0xe0) == 0xa0 ? 6 + (b[5] & 0x1fu) : 7;
		} else if (got == 7 && b[5] == 0xd9) {
			need = 7 + (size_t)b[6];
		}
	}
	got = b[5] == 0xd9 ? 7 : 6;
	if (need - got >= cap)
		return false;
	memcpy(id, b + got, need - got);
	id[need - got] = '\0';
	return true;
}

Test(fluent, a_chunk_is_acknowledged_once_its_entries_are_durable, .timeout = 120)
{
	static struct dproc d;
	static struct seen s;
	char sink[96], id[80], want[80];
	int fd;

	start(&d, sink, sizeof(sink));
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	/* Each mode with a chunk, one message at a time, as a client waiting for acks does;
	 * the chunk ids long and short, str8 or fixstr. */
	for (unsigned m = 0; m < N_ALL / 8; m++) {
		struct mp msg = {0}, opt = {0};

		snprintf(want, sizeof(want), m & 1 ? "chunk-%u" : "%040u-chunk-id", m);
		mp_map(&opt, 2);
		mp_str(&opt, "size");
		mp_uint(&opt, 8);
		mp_str(&opt, "chunk");
		mp_str(&opt, want);
		if (m % 3 == 0) {
			mp_arr(&msg, 3);
			mp_str(&msg, "app.forward");
			mp_arr(&msg, 8);
			for (unsigned j = 8 * m; j < 8 * m + 8; j++) {
				mp_arr(&msg, 2);
				entry(&msg, j);
			}
		} else {
			struct mp bin = {0};

			for (unsigned j = 8 * m; j < 8 * m + 8; j++) {
				mp_arr(&bin, 2);
				entry(&bin, j);
			}
			mp_arr(&msg, 3);
			mp_str(&msg, "app.packed");
			mp_bin_hdr(&msg, (uint32_t)bin.n);
			mp_cat(&msg, &bin);
		}
		mp_cat(&msg, &opt);
		send_dribbled(fd, &msg, m + 1);
		cr_assert(read_ack(fd, id, sizeof(id)), "message %u: no ack", m);
		cr_expect_str_eq(id, want, "message %u", m);
		/* Acknowledged: made durable, so processed already. */
		cr_expect_geq(dproc_metric_now(&d, "sluice_worker_processed_total", NULL),
		              8u * (m + 1));
	}
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0);
	cr_expect_eq(dproc_for_each_record(d.dir, on_record, &s), N_ALL);
	cr_expect_eq(s.bad + s.dup, 0);
	dproc_remove_dir(d.dir);
}

/* The plugin sink cannot make entries durable: a forward listener is refused with it, as a
 * len32+ack one is. */
Test(fluent, a_sink_without_sync_is_refused, .timeout = 30)
{
	static struct dproc d;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=forward", "--sink",
	                      "plugin:" SLC_PLUGIN_EXAMPLE "?/dev/null", NULL};

	cr_expect_eq(dproc_run_to_exit(&d, args), 1);
	cr_expect(strstr(d.log, "(framing=forward too: its chunks are acknowledged)") != NULL, "%s",
	          d.log);
}

/* ---- a real client: @fluent-org/logger (tests/daemon/clients/forward/) ---------------- */

#define NODE_COUNT 200u

/* sh -c cmd, its output to log (appended); the exit status, or -1. */
static int
sh(const char *cmd, const char *log)
{
	const char *argv[] = {"sh", "-c", cmd, NULL};
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644), st = 0;
	pid_t pid = slc_test_spawn("/bin/sh", argv, fd, fd);

	if (fd >= 0)
		close(fd);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* What the client's records hold: {"mode": MODE, "i": I}, counted per mode. */
#define NODE_MODES 4
struct node_seen {
	uint32_t got[NODE_MODES][NODE_COUNT];
	uint32_t bad;
};

static void
on_node_record(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	static const char *const modes[NODE_MODES] = {"Message", "Forward", "PackedForward",
	                                              "CompressedPackedForward"};
	struct node_seen *s = ctx;
	struct slc_forward_entry e;
	const uint8_t *r;
	uint32_t ml, i;
	int m = -1;

	(void)worker;
	if (slc_forward_entry_decode(p, len, &e) != 0 || e.record_len < 9 || e.record[0] != 0x82 ||
	    memcmp(e.record + 1, "\xa4mode", 5) != 0 || (e.record[6] & 0xe0) != 0xa0) {
		s->bad++;
		return;
	}
	r = e.record + 7;
	ml = e.record[6] & 0x1fu;
	for (int k = 0; k < NODE_MODES; k++)
		if (strlen(modes[k]) == ml && memcmp(r, modes[k], ml) == 0)
			m = k;
	r += ml;
	if (m < 0 || (size_t)(r - e.record) + 3 > e.record_len || memcmp(r, "\xa1i", 2) != 0) {
		s->bad++;
		return;
	}
	/* a positive fixint or a uint8/uint16 */
	if (r[2] <= 0x7f)
		i = r[2];
	else if (r[2] == 0xcc && (size_t)(r - e.record) + 4 <= e.record_len)
		i = r[3];
	else if (r[2] == 0xcd && (size_t)(r - e.record) + 5 <= e.record_len)
		i = (uint32_t)r[3] << 8 | r[4];
	else
		i = NODE_COUNT;
	if (i >= NODE_COUNT) {
		s->bad++;
		return;
	}
	s->got[m][i]++;
}

Test(fluent, a_real_client_with_acks_gets_every_event_through, .timeout = 240)
{
	static struct dproc d;
	static struct node_seen s;
	char sink[96], cmd[1024], log[600];
	int rc;

	/* .ci/deps installs nodejs (which brings npm from NodeSource; Debian packages npm
	 * apart): without them the set-up is broken, and the test says so. */
	cr_assert_eq(sh("command -v node && command -v npm", "/dev/null"), 0,
	             "node or npm is not installed (the client is @fluent-org/logger; .ci/deps)");
	snprintf(log, sizeof(log), "%s/npm.log", SLC_FWD_CLIENT_BUILD);
	snprintf(cmd, sizeof(cmd),
	         "mkdir -p '%1$s' && cp '%2$s/package.json' '%2$s/package-lock.json' "
	         "'%2$s/send.js' '%1$s/' && cd '%1$s' && "
	         "{ [ -d node_modules/@fluent-org/logger ] || npm ci --offline --no-audit "
	         "--no-fund || npm ci --no-audit --no-fund; }",
	         SLC_FWD_CLIENT_BUILD, SLC_FWD_CLIENT_SRC);
	if (sh(cmd, "/dev/null") != 0) {
		/* The registry is reachable here and in CI: unreachable, the test fails too. */
		cr_assert_eq(sh("timeout 30 npm ping", "/dev/null"), 0,
		             "the npm registry is unreachable: @fluent-org/logger cannot be "
		             "installed (npm ci into %s)",
		             SLC_FWD_CLIENT_BUILD);
		cr_assert(false, "npm ci of tests/daemon/clients/forward failed with the "
		                 "registry reachable");
	}
	start(&d, sink, sizeof(sink));
	snprintf(cmd, sizeof(cmd), "cd '%s' && timeout 120 node send.js %u %u",
	         SLC_FWD_CLIENT_BUILD, d.port[0], NODE_COUNT);
	snprintf(log, sizeof(log), "%s/send.log", d.dir);
	rc = sh(cmd, log);
	dproc_log_pump(&d);
	cr_expect_eq(rc, 0, "send.js failed (exit %d): every emit must resolve, acked", rc);
	/* CompressedPackedForward: its bins were gzip, and inflated */
	cr_expect_gt(dproc_metric_now(&d, "sluice_forward_inflated_total", NULL), 0);
	cr_expect_eq(dproc_stop(&d), 0);
	unlink(log);
	cr_expect_eq(dproc_for_each_record(d.dir, on_node_record, &s), NODE_MODES * NODE_COUNT);
	cr_expect_eq(s.bad, 0, "%u records that are not the client's events", s.bad);
	for (int m = 0; m < NODE_MODES; m++)
		for (uint32_t i = 0; i < NODE_COUNT; i++)
			cr_expect_eq(s.got[m][i], 1, "mode %d event %u: %u copies", m, i,
			             s.got[m][i]);
	dproc_remove_dir(d.dir);
}

/* sluice-cat --json shows an entry's time and its record as JSON. */
Test(fluent, sluice_cat_json_shows_time_and_record, .timeout = 60)
{
	static struct dproc d;
	static struct mp m;
	static char out[8192], want[1024];
	char sink[96], cmd[512], path[160];
	FILE *f;
	size_t n;
	int fd;

	start(&d, sink, sizeof(sink));
	mp_arr(&m, 3);
	mp_str(&m, "t");
	mp_evt(&m, 1700000000u, 42, false);
	mp_map(&m, 11);
	mp_str(&m, "s");
	mp_str(&m, "x\"y");
	mp_str(&m, "n");
	mp_put(&m, "\xfb", 1); /* -5 */
	mp_str(&m, "u");
	mp_put_be(&m, 0xcd, 300, 2);
	mp_str(&m, "f");
	mp_put_be(&m, 0xcb, 0x3ff8000000000000ull, 8); /* 1.5 */
	mp_str(&m, "b");
	mp_put(&m, "\xc4\x02\x00\x01", 4);
	mp_str(&m, "t");
	mp_put(&m, "\xc3", 1);
	mp_str(&m, "z");
	mp_put(&m, "\xc0", 1);
	mp_str(&m, "a");
	mp_put(&m, "\x92\x01\x81\xa1k\xc2", 6); /* [1, {"k": false}] */
	mp_uint(&m, 7);
	mp_str(&m, "int key");
	mp_str(&m, "e");
	mp_put(&m, "\xd4\x05\xaa", 3); /* fixext 1, type 5 */
	mp_str(&m, "d");
	for (int k = 0; k < 70; k++)
		mp_arr(&m, 1);
	mp_uint(&m, 1);
	n = (size_t)snprintf(
	        want, sizeof(want),
	        "\"forward\":{\"time\":1700000000.000000042,\"record\":{\"s\":\"x\\\"y\","
	        "\"n\":-5,\"u\":300,\"f\":1.5,\"b\":\"AAE=\",\"t\":true,\"z\":null,"
	        "\"a\":[1,{\"k\":false}],\"key\":\"int key\",\"e\":{\"ext\":5,"
	        "\"b64\":\"qg==\"},\"d\":");
	for (int k = 0; k < 64; k++)
		want[n++] = '[';
	n += (size_t)snprintf(want + n, sizeof(want) - n, "null");
	for (int k = 0; k < 64; k++)
		want[n++] = ']';
	snprintf(want + n, sizeof(want) - n, "}}}");

	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, m.b, m.n), 0);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, 1, 10000), 1);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0);
	snprintf(path, sizeof(path), "%s.json", d.dir);
	snprintf(cmd, sizeof(cmd), "'%s' --json '%s'", SLC_SLUICE_CAT, d.dir);
	cr_assert_eq(sh(cmd, path), 0);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(path);
	cr_expect(strstr(out, want) != NULL, "sluice-cat --json wrote\n%s\nwant in it\n%s", out,
	          want);
	dproc_remove_dir(d.dir);
}

/* A client that sends chunks without waiting (all in one write, then half-closes): sluiced
 * takes them one after another, each acknowledged in order, and the last ones after the
 * client's EOF too. */
Test(fluent, pipelined_chunks_are_acknowledged_in_order, .timeout = 60)
{
	static struct dproc d;
	static struct seen s;
	static struct mp all;
	char sink[96], id[80], want[32];
	int fd;

	start(&d, sink, sizeof(sink));
	for (unsigned m = 0; m < N_ALL / 4; m++) {
		mp_arr(&all, 3);
		mp_str(&all, "t");
		mp_arr(&all, 4);
		for (unsigned j = 4 * m; j < 4 * m + 4; j++) {
			mp_arr(&all, 2);
			entry(&all, j);
		}
		snprintf(want, sizeof(want), "c%u", m);
		mp_map(&all, 1);
		mp_str(&all, "chunk");
		mp_str(&all, want);
	}
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, all.b, all.n), 0);
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	for (unsigned m = 0; m < N_ALL / 4; m++) {
		snprintf(want, sizeof(want), "c%u", m);
		cr_assert(read_ack(fd, id, sizeof(id)), "chunk %u: no ack", m);
		cr_expect_str_eq(id, want);
	}
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0);
	cr_expect_eq(dproc_for_each_record(d.dir, on_record, &s), N_ALL);
	cr_expect_eq(s.bad + s.dup, 0);
	dproc_remove_dir(d.dir);
}

/* --key forward:tag: which worker wrote each tag's entries, and their order there. */
#define TAGS    8u
#define PER_TAG 30u

struct by_tag {
	int worker[TAGS];
	uint32_t last[TAGS];
	uint32_t n, bad, split, inversions, workers; /* workers: a bit per worker used */
};

static void
on_tagged(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct by_tag *b = ctx;
	struct slc_forward_entry e;
	uint32_t k = 0, t, seq;

	b->n++;
	if (slc_forward_entry_decode(p, len, &e) != 0 || e.record_len < 5 || worker >= 32) {
		b->bad++;
		return;
	}
	for (uint32_t i = 4; i < e.record_len; i++)
		k = k * 10 + (uint32_t)(e.record[i] - '0');
	t = k / PER_TAG;
	seq = k % PER_TAG + 1;
	if (t >= TAGS) {
		b->bad++;
		return;
	}
	if (b->worker[t] < 0)
		b->worker[t] = (int)worker;
	b->split += b->worker[t] != (int)worker;
	b->inversions += seq <= b->last[t];
	b->last[t] = seq;
	b->workers |= 1u << worker;
}

/*
 * Entries of eight tags, interleaved, in Message and PackedForward messages dribbled in
 * pieces (tags straddle reads), with --strategy ordered --key forward:tag: each tag's
 * entries are written by one worker, in the order sent, and the tags spread over the
 * workers (keyless entries would all share one: the key is the tag). The tags are longer
 * than the 128 bytes a gathered tag keeps, as Kubernetes' are: a tag read whole and the
 * same tag gathered across reads must hash the same.
 */
Test(fluent, the_tag_as_key_keeps_each_tag_in_order_on_one_worker, .timeout = 60)
{
	static struct dproc d;
	static struct mp m, bin;
	struct by_tag b = {0};
	char sink[96], tag[160], pad[141];
	uint64_t pauses;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=forward", "--metrics",
	                      "127.0.0.1:0", "--pools", "1", "--workers", "4", "--strategy",
	                      "ordered", "--key", "forward:tag", "--sink", sink,
	                      /* full rings: bursts stop mid-way and are parsed again */
	                      "--ring-size", "16", "--test-slow-pool", "0",
	                      "--test-slow-pool-cost-ns", "50000", NULL};
	int fd;

	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	dproc_start(&d, args);
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	for (uint32_t s = 0; s < PER_TAG; s += 6) {
		m.n = 0; /* six entries of each tag at a time: what m holds */
		for (uint32_t t = 0; t < TAGS; t++) {
			snprintf(tag, sizeof(tag), "app.tag%u.%s", t, pad);
			for (uint32_t j = s; j < s + 3; j++) { /* Message mode */
				mp_arr(&m, 3);
				mp_str(&m, tag);
				entry(&m, t * PER_TAG + j);
			}
			bin.n = 0; /* then PackedForward */
			for (uint32_t j = s + 3; j < s + 6; j++) {
				mp_arr(&bin, 2);
				entry(&bin, t * PER_TAG + j);
			}
			mp_arr(&m, 2);
			mp_str(&m, tag);
			mp_bin_hdr(&m, (uint32_t)bin.n);
			mp_cat(&m, &bin);
		}
		send_dribbled(fd, &m, 7);
	}
	cr_expect_eq(
	        dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, TAGS * PER_TAG, 20000),
	        TAGS * PER_TAG);
	pauses = dproc_metric_now(&d, "sluice_reactor_pauses_total", NULL);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0);
	for (uint32_t t = 0; t < TAGS; t++)
		b.worker[t] = -1;
	cr_expect_eq(dproc_for_each_record(d.dir, on_tagged, &b), TAGS * PER_TAG);
	cr_expect_eq(b.bad, 0);
	cr_expect_eq(b.split, 0, "%u entries on another worker than their tag's first", b.split);
	cr_expect_eq(b.inversions, 0, "%u entries before an earlier one of their tag",
	             b.inversions);
	for (uint32_t t = 0; t < TAGS; t++)
		cr_expect_eq(b.last[t], PER_TAG, "tag %u: its last entry", t);
	cr_expect_gt(__builtin_popcount(b.workers), 1, "the tags all went to one worker");
	cr_expect_gt(pauses, 0, "the rings never filled");
	dproc_remove_dir(d.dir);
}

/* A --key forward:SOMETHING else is refused at start with a clear message. */
Test(fluent, a_bad_forward_key_is_refused, .timeout = 30)
{
	static struct dproc d;
	const char *args[] = {"--listen", "tcp://127.0.0.1:0?framing=forward",
	                      "--key",    "forward:record",
	                      "--sink",   "null",
	                      NULL};

	cr_expect_eq(dproc_run_to_exit(&d, args), 2);
	cr_expect(strstr(d.log, "--key forward:record: forward takes tag") != NULL, "%s", d.log);
}

/* ---- CompressedPackedForward ---------------------------------------------------------- */

/* [tag, bin, {"compressed": "gzip", "chunk": chunk}]: entries k0..k1-1 in `members` gzip
 * members. */
static void
compressed_msg(struct mp *m, unsigned k0, unsigned k1, unsigned members, const char *chunk)
{
	static struct mp part, gz;

	gz.n = 0;
	for (unsigned j = 0; j < members; j++) {
		part.n = 0;
		for (unsigned k = k0 + j * (k1 - k0) / members;
		     k < k0 + (j + 1) * (k1 - k0) / members; k++) {
			mp_arr(&part, 2);
			entry(&part, k);
		}
		mp_gzip(&gz, part.b, part.n);
	}
	mp_compressed_msg(m, "app.gz", &gz, chunk);
}

/*
 * Three compressed messages of 40 entries (the second in two gzip members), each with a
 * chunk, dribbled, into rings of 16 on a slow pool: the inflated bytes are parsed in the
 * connection's turns, and a full ring pauses it inside them (sluice_reactor_pauses_total
 * does not count a pause inside a turn; a debug line showed them). Each chunk is
 * acknowledged once its entries are durable, and every entry is in the file sink once.
 */
Test(fluent, compressed_bins_are_inflated_and_acknowledged, .timeout = 60)
{
	static const char *const slow[] = {
	        "--ring-size", "16", "--test-slow-pool", "0", "--test-slow-pool-cost-ns",
	        "50000",       NULL};
	static struct dproc d;
	static struct seen s;
	static struct mp m;
	char sink[96], id[72], chunk[8];
	int fd;

	start_with(&d, sink, sizeof(sink), slow);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	for (unsigned c = 0; c < 3; c++) {
		m.n = 0;
		snprintf(chunk, sizeof(chunk), "gz%u", c);
		compressed_msg(&m, c * N_MSG, (c + 1) * N_MSG, c == 1 ? 2 : 1, chunk);
		send_dribbled(fd, &m, 11 + c);
		cr_assert(read_ack(fd, id, sizeof(id)), "chunk %s: no ack", chunk);
		cr_expect_str_eq(id, chunk);
	}
	cr_expect_eq(dproc_metric_now(&d, "sluice_forward_inflated_total", NULL), 3);
	close(fd);
	expect_every_entry_once(&d, &s);
}

/* A bomb (a few KiB that inflate past --forward-max-inflated) and gzip inside the inflated
 * bytes: counted by reason, logged, the connection closed, the entry before kept. */
Test(fluent, bad_compressed_bins_are_counted_and_close_the_connection, .timeout = 90)
{
	static struct mp bomb, nested, gz;
	uint8_t *zeros = calloc(1, 2u << 20);

	cr_assert_not_null(zeros);
	mp_gzip(&gz, zeros, 2u << 20);
	cr_assert_lt(gz.n, 4096);
	mp_arr(&bomb, 2);
	mp_str(&bomb, "t");
	mp_bin_hdr(&bomb, (uint32_t)gz.n);
	mp_cat(&bomb, &gz);
	refused(bomb.b, bomb.n, "forward_inflated");
	gz.n = 0;
	mp_gzip(&gz, (const uint8_t[]){0x1f, 0x8b, 8, 0}, 4);
	mp_arr(&nested, 2);
	mp_str(&nested, "t");
	mp_bin_hdr(&nested, (uint32_t)gz.n);
	mp_cat(&nested, &gz);
	refused(nested.b, nested.n, "forward_compressed");
	free(zeros);
}

static void
count_record(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct slc_forward_entry e;

	(void)worker;
	if (slc_forward_entry_decode(p, len, &e) == 0 && e.record_len > 900)
		(*(uint32_t *)ctx)++;
}

/*
 * Sixteen compressed messages of one entry of 900 bytes, sent at once, with
 * --forward-max-inflated 1k: four inflated bins a reactor at a time, on a slow pool, so
 * that the next ones wait for memory (inflated bins come back as their entries are
 * released). None is refused, none lost.
 */
Test(fluent, inflated_bins_wait_for_memory_and_none_is_lost, .timeout = 60)
{
	/* --max-frame 4k: an entry of 900 bytes is no oversize one */
	static const char *const tight[] = {"--max-frame",
	                                    "4k",
	                                    "--forward-max-inflated",
	                                    "1k",
	                                    "--ring-size",
	                                    "16",
	                                    "--test-slow-pool",
	                                    "0",
	                                    "--test-slow-pool-cost-ns",
	                                    "2000000",
	                                    NULL};
	static struct dproc d;
	static struct mp m, part, gz;
	char sink[96], pad[901];
	uint32_t n = 0;
	int fd;

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (unsigned k = 0; k < 16; k++) {
		part.n = 0;
		gz.n = 0;
		mp_arr(&part, 2);
		mp_uint(&part, 1700000000u + k);
		mp_map(&part, 1);
		mp_str(&part, "pad");
		mp_str(&part, pad);
		mp_gzip(&gz, part.b, part.n);
		mp_compressed_msg(&m, "app.big", &gz, NULL);
	}
	start_with(&d, sink, sizeof(sink), tight);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, m.b, m.n), 0);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_worker_processed_total", NULL, 16, 30000), 16);
	cr_expect_eq(dproc_metric_now(&d, "sluice_forward_inflated_total", NULL), 16);
	close(fd);
	cr_expect_eq(dproc_stop(&d), 0);
	cr_expect_eq(dproc_for_each_record(d.dir, count_record, &n), 16);
	cr_expect_eq(n, 16);
	dproc_remove_dir(d.dir);
}
