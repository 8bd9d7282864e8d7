/* SPDX-License-Identifier: MIT */
/* test_sink_file.c: the file sink's segments, their reader, CRC32C, and sluice-cat. */
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
#include "sink_file.h"

extern char **environ;

#define SCALE(n) ((n) / SLC_TEST_SCALE_DIV > 0 ? (n) / SLC_TEST_SCALE_DIV : 1)

/* ---- helpers ---- */

static void
tmpdir(char *out, size_t cap)
{
	snprintf(out, cap, "/tmp/slc-sink-file-XXXXXX");
	cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The key is the payload's bytes before its first space; none: no key. */
static int
key_before_space(void *ctx, const struct slc_msg *m, const uint8_t **key, uint32_t *key_len)
{
	const uint8_t *sp = m->len != 0 ? memchr(m->data, ' ', m->len) : NULL;

	(void)ctx;
	if (sp == NULL || sp == m->data)
		return -ENOENT;
	*key = m->data;
	*key_len = (uint32_t)(sp - m->data);
	return 0;
}

/* Record i of worker w: "k<w>.<i % 50> <w> <i> " then a filler of i * 7 % 300 letters. */
static uint32_t
make_payload(uint8_t *buf, uint32_t w, uint32_t i)
{
	int n = sprintf((char *)buf, "k%u.%u %u %u ", w, i % 50, w, i);
	uint32_t fill = i * 7 % 300;

	for (uint32_t j = 0; j < fill; j++)
		buf[n + j] = (uint8_t)('a' + (i + j) % 26);
	return (uint32_t)n + fill;
}

struct fault;

static void
quiet_log(void *ctx, int level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
}

/*
 * The fsync interval of the tests' sinks. Tests in interval mode check that no sync comes
 * before it has passed, across a few calls that take microseconds: long enough that a
 * stall of a loaded machine between two of those calls does not pass it (400 ms could).
 */
#define INTERVAL_MS 2000

static void *
sink_new(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode)
{
	struct slc_sink_file_cfg cfg = {
	        .dir = dir,
	        .segment_bytes = segment_bytes,
	        .fsync = mode,
	        .fsync_interval_ms = INTERVAL_MS,
	        .key_fn = key_before_space,
	};
	void *s;
	int err = 0;

	s = slc_sink_file_create(&cfg, &err);
	cr_assert_not_null(s, "create %s: %s", dir, strerror(-err));
	return s;
}

/* sink_new with the worker waiting for interval syncs (inline) and a sync fault hook. */
static int fault_once(void *ctx);

static void *
sink_new_opts(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode,
              bool inline_sync, struct fault *f)
{
	struct slc_sink_file_cfg cfg = {
	        .dir = dir,
	        .segment_bytes = segment_bytes,
	        .fsync = mode,
	        .fsync_interval_ms = INTERVAL_MS,
	        .key_fn = key_before_space,
	        .log = quiet_log,
	        .sync_inline = inline_sync,
	        .test_sync_fault = f != NULL ? fault_once : NULL,
	        .test_sync_fault_ctx = f,
	};
	void *s;
	int err = 0;

	s = slc_sink_file_create(&cfg, &err);
	cr_assert_not_null(s, "create %s: %s", dir, strerror(-err));
	return s;
}

static void
nap_ms(long ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000}, NULL);
}

static struct slc_sink_worker *
worker_open(void *s, uint32_t worker)
{
	struct slc_sink_worker *w = NULL;
	int rc = slc_sink_file_ops.worker_open(s, worker, &w);

	cr_assert_eq(rc, 0, "worker_open %u: %s", worker, strerror(-rc));
	return w;
}

/* Writes records first..first+count-1 of worker `worker` in one write() call. */
static int
write_records(struct slc_sink_worker *w, uint32_t worker, uint32_t first, uint32_t count,
              uint8_t *space /* count * 400 bytes */)
{
	struct slc_msg msgs[64];
	uint32_t off = 0;

	if (count > 64)
		return -E2BIG;
	for (uint32_t i = 0; i < count; i++) {
		msgs[i] = (struct slc_msg){.data = space + off};
		msgs[i].len = make_payload(space + off, worker, first + i);
		off += msgs[i].len;
	}
	return slc_sink_file_ops.write(w, msgs, count);
}

static void
seg_path(char *out, size_t cap, const char *dir, uint32_t worker, uint64_t seq)
{
	snprintf(out, cap, "%s/w%03u-%08llu.seg", dir, worker, (unsigned long long)seq);
}

static uint64_t
file_size(const char *path)
{
	struct stat sb;

	cr_assert_eq(stat(path, &sb), 0, "stat %s: %s", path, strerror(errno));
	return (uint64_t)sb.st_size;
}

/* What reading a whole directory found. */
struct readback {
	uint64_t segments, closed, records, damaged, torn, bad_records;
	uint32_t next[4];       /* per worker: the next record index expected */
	uint64_t damage_off[8]; /* offsets of DAMAGE events, in order */
	uint64_t torn_off[8];
	const char *what; /* the last DAMAGE or TORN's reason */
	uint64_t max_seg_size;
};

/*
 * Reads every segment of dir in (worker, seq) order and checks that each worker's
 * records are make_payload's sequence, with their keys. skip_damage: after a DAMAGE, the
 * record index moves on to the next record found (the lost ones are not counted bad).
 */
static void
read_back(const char *dir, struct readback *rb, bool skip_damage)
{
	struct slc_sink_file_seg *segs;
	uint8_t expect[512];
	char path[512];
	size_t n;
	int rc;

	memset(rb, 0, sizeof(*rb));
	rc = slc_sink_file_dir_scan(dir, &segs, &n);
	cr_assert_eq(rc, 0, "scan: %s", strerror(-rc));
	for (size_t i = 0; i < n; i++) {
		struct slc_sink_file_reader *r;
		struct slc_sink_file_ev ev;
		uint32_t worker;
		uint64_t seq, size;
		int err = 0;

		cr_assert_lt(segs[i].worker, 4);
		snprintf(path, sizeof(path), "%s/%s", dir, segs[i].name);
		size = file_size(path);
		if (size > rb->max_seg_size)
			rb->max_seg_size = size;
		r = slc_sink_file_reader_open(path, &err);
		cr_assert_not_null(r, "open %s: %s", path, strerror(-err));
		if (slc_sink_file_reader_header(r, &worker, &seq)) {
			cr_expect_eq(worker, segs[i].worker);
			cr_expect_eq(seq, segs[i].seq);
		}
		rb->segments++;
		for (;;) {
			cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
			if (ev.kind == SLC_SINK_FILE_EV_END) {
				rb->closed += ev.closed;
				cr_expect_eq(ev.offset, size);
				break;
			}
			if (ev.kind == SLC_SINK_FILE_EV_DAMAGE) {
				if (rb->damaged < 8)
					rb->damage_off[rb->damaged] = ev.offset;
				rb->damaged++;
				rb->what = ev.what;
				continue;
			}
			if (ev.kind == SLC_SINK_FILE_EV_TORN) {
				if (rb->torn < 8)
					rb->torn_off[rb->torn] = ev.offset;
				rb->torn++;
				rb->what = ev.what;
				continue;
			}
			{
				uint32_t w = segs[i].worker, idx = rb->next[w];
				uint32_t len;
				char key[32];
				int klen;

				if (skip_damage && rb->damaged != 0) {
					char head[64];
					unsigned pw, pi;

					/* Resynchronise on the index the payload carries. */
					snprintf(head, sizeof(head), "%.*s",
					         (int)(ev.payload_len < 63 ? ev.payload_len : 63),
					         (const char *)ev.payload);
					cr_assert_eq(sscanf(head, "k%*u.%*u %u %u", &pw, &pi), 2);
					idx = pi;
				}
				len = make_payload(expect, w, idx);
				klen = snprintf(key, sizeof(key), "k%u.%u", w, idx % 50);
				if (ev.payload_len != len || memcmp(ev.payload, expect, len) != 0 ||
				    ev.key_len != (uint32_t)klen ||
				    memcmp(ev.key, key, ev.key_len) != 0)
					rb->bad_records++;
				rb->next[w] = idx + 1;
				rb->records++;
			}
		}
		slc_sink_file_reader_close(r);
	}
	free(segs);
}

/* Waits for child pid up to timeout_ms: true with *status, or false after killing it
 * (SIGKILL) when it did not finish: a test must not hang when what it runs does. */
static bool
wait_child(pid_t pid, uint32_t timeout_ms, int *status)
{
	for (uint32_t waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return true;
		cr_assert_eq(r, 0, "waitpid: %s", strerror(errno));
		if (waited >= timeout_ms)
			break;
		nap_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return false;
}

/* Runs sluice-cat with args; its stdout and stderr land in out and err (malloc'ed,
 * NUL-terminated). Returns its exit status; stops the test when it does not finish. */
static int
run_cat(const char *scratch, const char *const *args, char **out, char **err)
{
	char out_path[512], err_path[512];
	const char *argv[8];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, n = 0;

	snprintf(out_path, sizeof(out_path), "%s/cat.out", scratch);
	snprintf(err_path, sizeof(err_path), "%s/cat.err", scratch);
	argv[n++] = SLC_SLUICE_CAT;
	for (; args[n - 1] != NULL && n < 7; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_eq(posix_spawn(&pid, SLC_SLUICE_CAT, &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert(wait_child(pid, 30000, &status), "sluice-cat %s did not finish in 30 s", args[0]);
	cr_assert(WIFEXITED(status), "sluice-cat died: status %d", status);

	for (int k = 0; k < 2; k++) {
		const char *p = k == 0 ? out_path : err_path;
		char **dst = k == 0 ? out : err;
		FILE *f = fopen(p, "rb");
		long len;

		cr_assert_not_null(f);
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		fseek(f, 0, SEEK_SET);
		*dst = calloc(1, (size_t)len + 1);
		cr_assert_not_null(*dst);
		cr_assert_eq(fread(*dst, 1, (size_t)len, f), (size_t)len);
		fclose(f);
	}
	return WEXITSTATUS(status);
}

/* Writes count records of worker 0 in batches of 5 into a fresh segment, closes it, and
 * returns each record's offset (count + 1 entries: the last is the trailer's). */
static void
write_one_segment(const char *dir, uint32_t count, uint64_t *off)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_seg *segs;
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	struct slc_sink_worker *w;
	char path[512];
	uint32_t k = 0;
	size_t n;
	void *s;
	int err;

	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < count; i += 5)
		cr_assert_eq(write_records(w, 0, i, count - i < 5 ? count - i : 5, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);

	cr_assert_eq(slc_sink_file_dir_scan(dir, &segs, &n), 0);
	cr_assert_eq(n, 1);
	snprintf(path, sizeof(path), "%s/%s", dir, segs[0].name);
	free(segs);
	r = slc_sink_file_reader_open(path, &err);
	cr_assert_not_null(r);
	for (;;) {
		cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
		if (ev.kind != SLC_SINK_FILE_EV_RECORD)
			break;
		off[k++] = ev.offset;
	}
	cr_assert_eq(ev.kind, SLC_SINK_FILE_EV_END);
	cr_assert(ev.closed);
	cr_assert_eq(k, count);
	off[k] = ev.offset - SLC_SINK_FILE_TRAILER_SIZE;
	slc_sink_file_reader_close(r);
}

/* What the sink logged: every line, each as "<level> <text>\n". */
struct logcap {
	char text[16384];
	size_t len;
	unsigned lines;
	int level_min; /* the most severe level seen (0 error); 99: none */
};

static void __attribute__((format(printf, 3, 4)))
cap_log(void *ctx, int level, const char *fmt, ...)
{
	struct logcap *c = ctx;
	va_list ap;
	int n;

	if (c->len + 8 >= sizeof(c->text))
		return;
	n = snprintf(c->text + c->len, sizeof(c->text) - c->len, "%d ", level);
	c->len += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(c->text + c->len, sizeof(c->text) - c->len, fmt, ap);
	va_end(ap);
	c->len += (size_t)n;
	if (c->len + 1 >= sizeof(c->text))
		c->len = sizeof(c->text) - 2;
	c->text[c->len++] = '\n';
	c->text[c->len] = '\0';
	c->lines++;
	if (level < c->level_min)
		c->level_min = level;
}

/* A sink whose log lines land in *cap (emptied first). */
static void *
sink_new_cap(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode,
             struct logcap *cap)
{
	struct slc_sink_file_cfg cfg = {
	        .dir = dir,
	        .segment_bytes = segment_bytes,
	        .fsync = mode,
	        .fsync_interval_ms = INTERVAL_MS,
	        .key_fn = key_before_space,
	        .log = cap_log,
	        .log_ctx = cap,
	};
	void *s;
	int err = 0;

	memset(cap, 0, sizeof(*cap));
	cap->level_min = 99;
	s = slc_sink_file_create(&cfg, &err);
	cr_assert_not_null(s, "create %s: %s", dir, strerror(-err));
	return s;
}

/* A checkpoint file as the sink writes one, with lines (each "\n"-ended) in it. */
static void
ckpt_write_raw(const char *dir, const char *name, const char *lines)
{
	char path[512], body[1024];
	FILE *f;
	int n;

	n = snprintf(body, sizeof(body), "sluice-checkpoint 1\n%s", lines);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "%scrc %08x\n", body, slc_crc32c(0, body, (size_t)n));
	cr_assert_eq(fclose(f), 0);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return buf;
}

/* ---- CRC32C ---- */

Test(sink_file, crc32c_known_vectors)
{
	uint8_t zeros[32] = {0}, ones[32], inc[32];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	/* "123456789" is the check value of the CRC catalogue; the rest are RFC 3720's. */
	cr_expect_eq(slc_crc32c(0, "123456789", 9), 0xe3069283u);
	cr_expect_eq(slc_crc32c_sw(0, "123456789", 9), 0xe3069283u);
	cr_expect_eq(slc_crc32c(0, NULL, 0), 0u);
	cr_expect_eq(slc_crc32c(0, zeros, 32), 0x8a9136aau);
	cr_expect_eq(slc_crc32c(0, ones, 32), 0x62a8ab43u);
	cr_expect_eq(slc_crc32c(0, inc, 32), 0x46dd794eu);
	cr_expect_eq(slc_crc32c_sw(0, inc, 32), 0x46dd794eu);
	/* Piece by piece equals all at once. */
	cr_expect_eq(slc_crc32c(slc_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	cr_expect_eq(slc_crc32c_sw(slc_crc32c_sw(0, inc, 13), inc + 13, 19), 0x46dd794eu);
	if (slc_crc32c_hw_available()) {
		cr_expect_eq(slc_crc32c_hw(0, "123456789", 9), 0xe3069283u);
		cr_expect_eq(slc_crc32c_hw(0, inc, 32), 0x46dd794eu);
	}
}

Test(sink_file, crc32c_hw_and_sw_agree)
{
	static uint8_t buf[4096 + 16];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	if (!slc_crc32c_hw_available())
		cr_skip_test("no SSE4.2 on this CPU: only the software path exists");
	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	/* Every length up to 300 at every misalignment up to 8, then some long ones. */
	for (size_t start = 0; start < 9; start++)
		for (size_t len = 0; len < 300; len++)
			cr_assert_eq(slc_crc32c_hw(0x1234u, buf + start, len),
			             slc_crc32c_sw(0x1234u, buf + start, len), "start %zu len %zu",
			             start, len);
	cr_assert_eq(slc_crc32c_hw(0, buf + 3, 4096), slc_crc32c_sw(0, buf + 3, 4096));
	cr_assert_eq(slc_crc32c(0, buf, 4096), slc_crc32c_sw(0, buf, 4096));
}

static uint64_t
crc_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The inline path (slc_crc32c), the out-of-line one and the tables agree on every length a
 * record's pieces have, at every misalignment, from any starting CRC, whole or in the
 * three pieces of a record (header slice, key, payload). */
Test(sink_file, crc32c_paths_agree_on_every_short_length_and_misalignment)
{
	static uint8_t buf[8 + 300];
	uint64_t x = 0x2545f4914f6cdd1dull;
	bool hw = slc_crc32c_hw_available();

	for (size_t off = 0; off < 8; off++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)crc_rand(&x);
		for (size_t len = 0; len <= 300; len++) {
			const uint8_t *p = buf + off;
			uint32_t seed = (uint32_t)crc_rand(&x), want = slc_crc32c_sw(seed, p, len);
			size_t a = len ? crc_rand(&x) % (len + 1) : 0;
			size_t b = a + (len - a ? crc_rand(&x) % (len - a + 1) : 0);

			cr_assert_eq(slc_crc32c(seed, p, len), want, "off %zu len %zu", off, len);
			if (hw)
				cr_assert_eq(slc_crc32c_hw(seed, p, len), want, "off %zu len %zu",
				             off, len);
			cr_assert_eq(slc_crc32c(slc_crc32c(slc_crc32c(seed, p, a), p + a, b - a),
			                        p + b, len - b),
			             want, "off %zu len %zu in pieces at %zu, %zu", off, len, a, b);
		}
	}
	/* The constant 8-byte header slice, as the file sink writes it. */
	cr_assert_eq(slc_crc32c(0, buf + 1, 8), slc_crc32c_sw(0, buf + 1, 8));
}

/* Long buffers take three interleaved streams in blocks of two sizes: every boundary of
 * those, and random lengths, at every misalignment. */
Test(sink_file, crc32c_paths_agree_on_long_buffers)
{
	static const size_t lens[] = {191,  192,   193,   255,   256,   257,  383,        384,
	                              385,  575,   576,   6143,  6144,  6145, 6144 + 191, 6336,
	                              6337, 12288, 12479, 12480, 65536, 65543};
	size_t cap = 70000 + 8;
	uint8_t *buf = malloc(cap);
	uint64_t x = 0x9fb21c651e98df25ull;

	cr_assert_not_null(buf);
	for (size_t i = 0; i < cap; i++)
		buf[i] = (uint8_t)crc_rand(&x);
	for (size_t off = 0; off < 8; off++) {
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]) + 20; k++) {
			size_t len =
			        k < sizeof(lens) / sizeof(lens[0]) ? lens[k] : crc_rand(&x) % 70000;
			uint32_t seed = (uint32_t)crc_rand(&x);
			uint32_t want = slc_crc32c_sw(seed, buf + off, len);

			cr_assert_eq(slc_crc32c(seed, buf + off, len), want, "off %zu len %zu", off,
			             len);
			if (slc_crc32c_hw_available())
				cr_assert_eq(slc_crc32c_hw(seed, buf + off, len), want,
				             "off %zu len %zu", off, len);
		}
	}
	free(buf);
}

/* ---- the sink ---- */

struct writer_arg {
	void *sink;
	uint32_t worker;
	uint32_t count;
	_Atomic int failed; /* the first error, or 0 */
	_Atomic bool done;
};

static void *
writer_thread(void *p)
{
	struct writer_arg *a = p;
	static _Thread_local uint8_t space[64 * 400];
	struct slc_sink_worker *w = NULL;
	uint32_t i = 0, batch = 1;
	int rc;

	/* No cr_assert off the test's thread: note the error, the test checks it. */
	rc = slc_sink_file_ops.worker_open(a->sink, a->worker, &w);
	while (rc == 0 && i < a->count) {
		uint32_t k = a->count - i < batch ? a->count - i : batch;

		rc = write_records(w, a->worker, i, k, space);
		i += k;
		batch = batch % 64 + 1;
		if (rc == 0 && i % 1000 < k)
			rc = slc_sink_file_ops.flush(w);
	}
	if (w != NULL)
		slc_sink_file_ops.worker_close(w);
	atomic_store_explicit(&a->failed, rc, memory_order_relaxed);
	atomic_store_explicit(&a->done, true, memory_order_release);
	return NULL;
}

Test(sink_file, two_workers_on_two_threads_read_back_in_order)
{
	const uint32_t n = SCALE(100000);
	struct writer_arg args[2];
	struct slc_sink_file_stats st;
	struct readback rb;
	pthread_t th[2];
	char dir[64];
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 1 << 20, SLC_SINK_FILE_FSYNC_NEVER);
	for (uint32_t i = 0; i < 2; i++) {
		args[i] = (struct writer_arg){.sink = s, .worker = i, .count = n};
		cr_assert_eq(pthread_create(&th[i], NULL, writer_thread, &args[i]), 0);
	}
	/* Counters are read while the workers add to them. */
	while (!atomic_load_explicit(&args[0].done, memory_order_acquire) ||
	       !atomic_load_explicit(&args[1].done, memory_order_acquire)) {
		slc_sink_file_stats(s, &st);
		cr_assert_leq(st.records, 2ull * n);
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	for (uint32_t i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(atomic_load(&args[i].failed), 0, "worker %u: %s", i,
		             strerror(-atomic_load(&args[i].failed)));
	}
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.records, 2ull * n);
	cr_expect_eq(st.write_errors, 0);
	cr_expect_eq(st.rotations + 2, st.segments);

	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 2ull * n);
	cr_expect_eq(rb.next[0], n);
	cr_expect_eq(rb.next[1], n);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.damaged, 0);
	cr_expect_eq(rb.torn, 0);
	cr_expect_eq(rb.segments, st.segments);
	cr_expect_eq(rb.closed, rb.segments);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

Test(sink_file, rotation_by_size_loses_nothing_at_the_boundaries)
{
	const uint32_t n = 3000;
	static uint8_t space[64 * 400], big[10000];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct readback rb;
	struct slc_msg m = {.data = big, .len = sizeof(big)};
	char dir[64];
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 4096, SLC_SINK_FILE_FSYNC_NEVER);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < n; i += 7)
		cr_assert_eq(write_records(w, 0, i, n - i < 7 ? n - i : 7, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_gt(st.segments, 10);
	cr_expect_eq(st.rotations, st.segments - 1);
	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, n);
	cr_expect_eq(rb.next[0], n);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.segments, st.segments);
	cr_expect_eq(rb.closed, rb.segments);
	cr_expect_leq(rb.max_seg_size, 4096, "a segment outgrew segment_bytes");

	/* A record larger than a segment gets one of its own. */
	memset(big, 'x', sizeof(big));
	w = worker_open(s, 1);
	cr_assert_eq(slc_sink_file_ops.write(w, &m, 1), 0);
	cr_assert_eq(slc_sink_file_ops.write(w, &m, 1), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.write_errors, 0);
	{
		char path[512];

		seg_path(path, sizeof(path), dir, 1, 0);
		cr_expect_eq(file_size(path), SLC_SINK_FILE_SEG_HDR_SIZE + 16 + sizeof(big) +
		                                      SLC_SINK_FILE_TRAILER_SIZE);
		seg_path(path, sizeof(path), dir, 1, 1);
		cr_expect_eq(access(path, F_OK), 0);
	}
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

static uint64_t
count_segments(const char *dir)
{
	struct slc_sink_file_seg *segs;
	size_t n;

	cr_assert_eq(slc_sink_file_dir_scan(dir, &segs, &n), 0);
	free(segs);
	return n;
}

Test(sink_file, restart_continues_seq_and_leaves_closed_files_alone)
{
	static uint8_t space[64 * 400];
	struct slc_sink_worker *w;
	struct readback rb;
	char dir[64], p0[512], p5[512];
	uint64_t size0;
	void *s;
	int fd;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_BATCH);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 10, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	seg_path(p0, sizeof(p0), dir, 0, 0);
	size0 = file_size(p0);

	/* A crash right after a create left an empty seq 5; a restart goes past it (and
	 * recovery makes it an empty closed segment). */
	seg_path(p5, sizeof(p5), dir, 0, 5);
	fd = open(p5, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0);
	close(fd);

	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_BATCH);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 10, 10, space), 0);
	slc_sink_file_ops.worker_close(w);
	/* Worker 1 has its own numbering. */
	w = worker_open(s, 1);
	cr_assert_eq(write_records(w, 1, 0, 3, space), 0);
	slc_sink_file_ops.worker_close(w);
	/* Opened again in the same run: a new segment again. */
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 20, 1, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);

	cr_expect_eq(file_size(p0), size0, "a closed segment was written to");
	cr_expect_eq(file_size(p5), SLC_SINK_FILE_SEG_HDR_SIZE + SLC_SINK_FILE_TRAILER_SIZE,
	             "the empty seq 5 was not recovered as an empty segment");
	seg_path(p0, sizeof(p0), dir, 0, 6);
	cr_expect_eq(access(p0, F_OK), 0, "no w000-00000006.seg");
	seg_path(p0, sizeof(p0), dir, 0, 7);
	cr_expect_eq(access(p0, F_OK), 0, "no w000-00000007.seg");
	seg_path(p0, sizeof(p0), dir, 1, 0);
	cr_expect_eq(access(p0, F_OK), 0, "no w001-00000000.seg");
	cr_expect_eq(count_segments(dir), 5);

	read_back(dir, &rb, false);
	cr_expect_eq(rb.next[0], 21);
	cr_expect_eq(rb.next[1], 3);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.torn, 0, "the empty seq 5 still reads as a torn header");
	cr_expect_eq(rb.closed, 5);
	cr_expect_eq(rb.damaged, 0);
	rm_rf(dir);
}

Test(sink_file, reopen_ends_the_segment_and_starts_a_new_one)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct readback rb;
	char dir[64], moved[80], path[512];
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 5, space), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w), 0);
	cr_assert_eq(write_records(w, 0, 5, 5, space), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w), 0); /* nothing open: nothing to end */
	cr_assert_eq(write_records(w, 0, 10, 5, space), 0);
	cr_expect_eq(count_segments(dir), 3);

	/* Log rotation by hand: DIR moved away, SIGHUP; the sink makes DIR again. */
	snprintf(moved, sizeof(moved), "%s.old", dir);
	cr_assert_eq(rename(dir, moved), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(w), 0);
	cr_assert_eq(write_records(w, 0, 15, 5, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.reopens, 4);
	cr_expect_eq(st.segments, 4);
	cr_expect_eq(st.write_errors, 0);
	slc_sink_file_ops.destroy(s);

	read_back(moved, &rb, false);
	cr_expect_eq(rb.segments, 3);
	cr_expect_eq(rb.closed, 3);
	cr_expect_eq(rb.next[0], 15);
	cr_expect_eq(rb.bad_records, 0);
	/* The seq goes on in the new DIR: names stay unique across the two. */
	seg_path(path, sizeof(path), dir, 0, 3);
	cr_expect_eq(access(path, F_OK), 0, "no w000-00000003.seg in the new DIR");
	rm_rf(dir);
	rm_rf(moved);
}

/* Calls flush until it returns 0 (everything durable) or 30 s have passed: its last rc. */
static int
flush_until_durable(struct slc_sink_worker *w)
{
	int rc = 1;

	for (int i = 0; i < 3000 && rc == 1; i++) {
		rc = slc_sink_file_ops.flush(w);
		if (rc == 1)
			nap_ms(10);
	}
	return rc;
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

Test(sink_file, fsync_modes_sync_when_they_say)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	char dir[64];
	void *s;

	/* batch: one fdatasync per write() call, and one more for the trailer at close. */
	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_BATCH);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < 10; i++)
		cr_assert_eq(write_records(w, 0, i * 3, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 10);
	cr_assert_eq(flush_until_durable(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 10, "flush synced again with nothing new");
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 11);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);

	/* never: not on write, not on flush; only at close, so that a drain is durable. */
	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < 10; i++)
		cr_assert_eq(write_records(w, 0, i * 3, 3, space), 0);
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);

	/* interval (INTERVAL_MS), the worker waiting for each sync: not before the interval has
	 * passed, then at the write or flush (idle) that finds it passed. */
	tmpdir(dir, sizeof(dir));
	s = sink_new_opts(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL, true, NULL);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 3, space), 0);
	cr_assert_eq(write_records(w, 0, 3, 3, space), 0);
	cr_assert_eq(slc_sink_file_ops.flush(w), 1, "flush: unsynced, not due yet");
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 0);
	nap_ms(INTERVAL_MS + 50);
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1, "flush synced with nothing unsynced");
	cr_assert_eq(write_records(w, 0, 6, 3, space), 0);
	nap_ms(INTERVAL_MS + 50);
	cr_assert_eq(write_records(w, 0, 9, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 2);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
}

Test(sink_file, interval_syncs_run_in_the_background_and_reach_the_checkpoint)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct readback rb;
	char dir[64], path[512];
	int fds = open_fds();
	void *s;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 3, space), 0);
	cr_assert_eq(slc_sink_file_ops.flush(w), 1, "flush: unsynced, not due yet");
	nap_ms(INTERVAL_MS + 50);
	/* The write that finds the interval passed starts the sync and returns: the sync is
	 * counted, and reaches the checkpoint, when a later call finds it done. */
	cr_assert_eq(write_records(w, 0, 3, 3, space), 0);
	cr_assert_eq(flush_until_durable(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);
	cr_expect_eq(st.write_errors, 0);
	seg_path(path, sizeof(path), dir, 0, 0);
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect(pos[0].valid);
	cr_expect_eq(pos[0].seq, 0);
	cr_expect_eq(pos[0].offset, file_size(path), "checkpoint %llu, file %llu",
	             (unsigned long long)pos[0].offset, (unsigned long long)file_size(path));
	cr_assert_eq(slc_sink_file_ops.flush(w), 0, "nothing new: nothing to do");

	/* Rotations end segments in the background as well; more ended segments than jobs
	 * in flight make the worker wait for the oldest. Each ended segment is synced once
	 * and closed by its job. */
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 4096, SLC_SINK_FILE_FSYNC_INTERVAL);
	w = worker_open(s, 0);
	for (uint32_t i = 0; i < 300; i += 10)
		cr_assert_eq(write_records(w, 0, i, 10, space), 0);
	cr_assert_eq(flush_until_durable(w), 0);
	slc_sink_file_stats(s, &st);
	cr_assert_gt(st.rotations, 8);
	cr_expect_geq(st.fsyncs, st.rotations);
	cr_expect_eq(st.write_errors, 0);
	cr_assert_eq(slc_sink_file_checkpoint_read(dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect(pos[0].valid);
	/* The last ended segment, or the open one if an interval's sync came after it. */
	cr_expect_geq(pos[0].seq, st.rotations - 1);
	seg_path(path, sizeof(path), dir, 0, pos[0].seq);
	cr_expect_eq(pos[0].offset, file_size(path), "the checkpoint is behind");
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	cr_expect_eq(open_fds(), fds, "descriptors left open");
	read_back(dir, &rb, false);
	cr_expect_eq(rb.segments, st.rotations + 1);
	cr_expect_eq(rb.closed, rb.segments);
	cr_expect_eq(rb.next[0], 300);
	cr_expect_eq(rb.bad_records, 0);
	rm_rf(dir);
}

struct fault {
	int calls;
	int fail_call; /* the call (from 1) that fails with -EIO */
};

static int
fault_once(void *ctx)
{
	struct fault *f = ctx;

	return ++f->calls == f->fail_call ? -EIO : 0;
}

/*
 * One scene of the fault test: a fresh folder and sink whose first sync fails, a worker
 * that wrote 3 records, and the interval past, so that the next write starts a sync.
 */
struct fault_scene {
	char dir[64];
	struct fault f;
	void *s;
	struct slc_sink_worker *w;
};

static void
fault_scene_start(struct fault_scene *sc, bool inline_sync, uint8_t *space)
{
	tmpdir(sc->dir, sizeof(sc->dir));
	sc->f = (struct fault){.fail_call = 1};
	sc->s = sink_new_opts(sc->dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL, inline_sync, &sc->f);
	sc->w = worker_open(sc->s, 0);
	cr_assert_eq(write_records(sc->w, 0, 0, 3, space), 0);
	nap_ms(INTERVAL_MS + 50);
}

static void
fault_scene_end(struct fault_scene *sc)
{
	slc_sink_file_ops.worker_close(sc->w);
	slc_sink_file_ops.destroy(sc->s);
	rm_rf(sc->dir);
}

Test(sink_file, a_failed_background_sync_abandons_its_segment_and_claims_nothing)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_sink_file_stats st;
	struct fault_scene sc;

	/* The open segment's sync fails: it is abandoned (the next record starts a new one),
	 * counted, logged, and the next sync() returns the failure once. */
	fault_scene_start(&sc, false, space);
	cr_assert_eq(write_records(sc.w, 0, 3, 3, space), 0);
	cr_assert_eq(flush_until_durable(sc.w), 0);
	slc_sink_file_stats(sc.s, &st);
	cr_expect_eq(st.write_errors, 1);
	cr_expect_eq(st.fsyncs, 0);
	cr_expect_eq(slc_sink_file_checkpoint_read(sc.dir, SLC_SINK_FILE_CKPT_DURABLE, pos),
	             -ENOENT, "a checkpoint claims a segment whose sync failed");
	cr_assert_eq(write_records(sc.w, 0, 6, 3, space), 0);
	cr_expect_eq(count_segments(sc.dir), 2, "the failed segment was written into again");
	cr_expect_eq(slc_sink_file_ops.sync(sc.w), -EIO);
	cr_expect_eq(slc_sink_file_ops.sync(sc.w), 0, "the failure is returned once");
	cr_assert_eq(slc_sink_file_checkpoint_read(sc.dir, SLC_SINK_FILE_CKPT_DURABLE, pos), 0);
	cr_expect_eq(pos[0].seq, 1);
	fault_scene_end(&sc);

	/* Two syncs of one segment in flight (the interval's, then its end's at reopen): the
	 * first fails, so the second, which the kernel would report as a success, proves
	 * nothing either. */
	fault_scene_start(&sc, false, space);
	cr_assert_eq(write_records(sc.w, 0, 3, 3, space), 0);
	cr_assert_eq(slc_sink_file_ops.reopen(sc.w), 0);
	cr_assert_eq(flush_until_durable(sc.w), 0);
	slc_sink_file_stats(sc.s, &st);
	cr_expect_eq(sc.f.calls, 2);
	cr_expect_eq(st.write_errors, 2);
	cr_expect_eq(slc_sink_file_checkpoint_read(sc.dir, SLC_SINK_FILE_CKPT_DURABLE, pos),
	             -ENOENT, "a checkpoint claims a segment whose sync failed");
	cr_expect_eq(slc_sink_file_ops.sync(sc.w), -EIO);
	fault_scene_end(&sc);

	/* The worker waiting for the sync (sync_inline): the write that syncs returns the
	 * failure, and the segment is abandoned the same way. */
	fault_scene_start(&sc, true, space);
	cr_expect_eq(write_records(sc.w, 0, 3, 3, space), -EIO);
	slc_sink_file_stats(sc.s, &st);
	cr_expect_eq(st.write_errors, 1);
	cr_assert_eq(write_records(sc.w, 0, 6, 3, space), 0);
	cr_expect_eq(count_segments(sc.dir), 2);
	fault_scene_end(&sc);
}

Test(sink_file, flipped_byte_reads_as_damage_at_its_record)
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

Test(sink_file, cut_short_last_record_reads_as_torn_tail)
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

/* A file size limit makes writes fail part way (a short write, then EFBIG), as a full
 * disk does with ENOSPC, without needing a small file system. */
Test(sink_file, write_error_ends_the_segment_at_its_last_whole_record)
{
	static uint8_t space[64 * 400];
	struct slc_sink_file_stats st;
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	struct slc_sink_worker *w;
	struct rlimit old, lim;
	uint64_t before = 0, seg0 = 0;
	uint32_t i = 0;
	char dir[64], path[512];
	void *s;
	int rc = 0, err;

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
	w = worker_open(s, 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 10000;
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	while (i < 1000) {
		slc_sink_file_stats(s, &st);
		before = st.records;
		rc = write_records(w, 0, i, 5, space);
		if (rc != 0)
			break;
		i += 5;
	}
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	cr_expect_eq(rc, -EFBIG);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.write_errors, 1);
	cr_expect_eq(st.records, before, "records of the failed batch were counted");

	/* The next write starts a new segment. */
	cr_assert_eq(write_records(w, 0, 1000, 5, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	cr_expect_eq(count_segments(dir), 2);

	/* The failed segment holds the records before the failed batch, no torn tail. */
	seg_path(path, sizeof(path), dir, 0, 0);
	r = slc_sink_file_reader_open(path, &err);
	cr_assert_not_null(r);
	for (;;) {
		cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
		if (ev.kind != SLC_SINK_FILE_EV_RECORD)
			break;
		seg0++;
	}
	cr_expect_eq(ev.kind, SLC_SINK_FILE_EV_END, "kind %d: %s", ev.kind, ev.what);
	cr_expect_not(ev.closed);
	cr_expect_eq(seg0, before);
	slc_sink_file_reader_close(r);
	rm_rf(dir);
}

Test(sink_file, unusable_dir_is_refused_with_a_clear_error)
{
	struct slc_sink_file_cfg cfg = {.fsync = SLC_SINK_FILE_FSYNC_NEVER};
	char dir[64], path[128];
	void *s, *s2;
	int err = 0, fd;

	tmpdir(dir, sizeof(dir));
	/* A parent that is missing, a DIR that is a file, a parent that is a file. */
	snprintf(path, sizeof(path), "%s/no/such", dir);
	cfg.dir = path;
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -ENOENT);
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -ENOTDIR);
	snprintf(path, sizeof(path), "%s/file/sub", dir);
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -ENOTDIR);

	/* Bad configuration. */
	cfg.dir = "";
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	cfg.dir = dir;
	cfg.segment_bytes = 100;
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	cfg.segment_bytes = 0;
	cfg.fsync = (enum slc_sink_file_fsync)7;
	cr_expect_null(slc_sink_file_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	cfg.fsync = SLC_SINK_FILE_FSYNC_NEVER;

	/* One sink per directory. */
	s = slc_sink_file_create(&cfg, &err);
	cr_assert_not_null(s);
	s2 = slc_sink_file_create(&cfg, &err);
	cr_expect_null(s2);
	cr_expect_eq(err, -EBUSY);
	slc_sink_file_ops.destroy(s);
	s = slc_sink_file_create(&cfg, &err);
	cr_expect_not_null(s, "the lock outlived destroy");
	slc_sink_file_ops.destroy(s);

	/* A directory that cannot be written. Root writes anywhere chmod allows it to,
	 * so root tries sysfs instead, where nobody may create files. */
	snprintf(path, sizeof(path), "%s/ro", dir);
	cr_assert_eq(mkdir(path, 0555), 0);
	cfg.dir = geteuid() == 0 ? "/sys" : path;
	s = slc_sink_file_create(&cfg, &err);
	if (s != NULL) {
		slc_sink_file_ops.destroy(s);
		rm_rf(dir);
		cr_skip_test("%s is writable here", cfg.dir);
	}
	cr_expect(err == -EACCES || err == -EPERM || err == -EROFS, "%s: %s", cfg.dir,
	          strerror(-err));
	rm_rf(dir);
}

Test(sink_file, large_and_empty_payloads_and_long_keys)
{
	static uint8_t big[1 << 20], mid[8193], huge_key[70001];
	struct slc_sink_file_seg *segs;
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct slc_msg m[6];
	const uint32_t *idx;
	char dir[64], path[512];
	size_t n;
	void *s;
	int err;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	memcpy(big, "bigkey ", 7);
	memset(mid, 'm', sizeof(mid));
	memset(huge_key, 'h', sizeof(huge_key));
	huge_key[70000] = ' ';
	m[0] = (struct slc_msg){.data = big, .len = sizeof(big)};           /* written in place */
	m[1] = (struct slc_msg){.data = NULL, .len = 0};                    /* empty, no key */
	m[2] = (struct slc_msg){.data = (const uint8_t *)"k ", .len = 2};   /* key, empty body */
	m[3] = (struct slc_msg){.data = mid, .len = 8192};                  /* the largest copied */
	m[4] = (struct slc_msg){.data = huge_key, .len = sizeof(huge_key)}; /* key too long */
	m[5] = (struct slc_msg){.data = mid, .len = 8193}; /* the smallest in place */

	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_BATCH);
	w = worker_open(s, 0);
	/* The key too long is refused alone: the write goes through. */
	cr_expect_eq(slc_sink_file_ops.write(w, m, 6), 0);
	cr_assert_not_null(slc_sink_file_ops.refused);
	cr_assert_eq(slc_sink_file_ops.refused(w, &idx), 1);
	cr_expect_eq(idx[0], 4);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.records, 5);
	cr_expect_eq(st.refused_key_too_long, 1);
	cr_expect_eq(st.write_errors, 0);
	slc_sink_file_ops.destroy(s);

	cr_assert_eq(slc_sink_file_dir_scan(dir, &segs, &n), 0);
	cr_assert_eq(n, 1);
	snprintf(path, sizeof(path), "%s/%s", dir, segs[0].name);
	free(segs);
	r = slc_sink_file_reader_open(path, &err);
	cr_assert_not_null(r);
	for (int i = 0; i < 6; i++) {
		const struct slc_msg *e = &m[i];
		uint32_t klen = 0;
		const uint8_t *key = NULL;

		if (i == 4)
			continue;
		cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
		cr_assert_eq(ev.kind, SLC_SINK_FILE_EV_RECORD, "record %d: kind %d", i, ev.kind);
		if (key_before_space(NULL, e, &key, &klen) != 0)
			klen = 0;
		cr_expect_eq(ev.key_len, klen, "record %d", i);
		cr_expect_eq(ev.payload_len, e->len, "record %d", i);
		if (ev.payload_len == e->len && e->len != 0)
			cr_expect_arr_eq(ev.payload, e->data, e->len, "record %d", i);
		if (klen != 0 && ev.key_len == klen)
			cr_expect_arr_eq(ev.key, key, klen, "record %d", i);
	}
	cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
	cr_expect_eq(ev.kind, SLC_SINK_FILE_EV_END);
	cr_expect(ev.closed);
	slc_sink_file_reader_close(r);
	rm_rf(dir);
}

/*
 * F5 (issue 15): a record the sink refuses (its key is longer than the format holds) costs
 * that record alone: write() succeeds, refused() names it, sync() makes the others durable,
 * and they are all there, in order. The daemon acknowledges the others on that word.
 */
Test(sink_file, a_refused_record_costs_only_itself)
{
	static uint8_t space[64 * 400], long_key[2][70001];
	struct slc_sink_file_stats st;
	struct slc_sink_worker *w;
	struct slc_msg m[40];
	struct readback rb;
	const uint32_t *idx;
	struct logcap cap;
	uint32_t off = 0, rec = 0;
	char dir[64];
	void *s;

	for (int k = 0; k < 2; k++) {
		memset(long_key[k], 'a' + k, sizeof(long_key[k]));
		long_key[k][SLC_SINK_FILE_KEY_MAX + 1 + k] = ' '; /* a key of 65,536 or 65,537 */
	}
	/* Worker 0's records 0..37 in make_payload's form, with the two refused ones at 3
	 * and 17 (read_back checks that the others are all there and in order). */
	for (uint32_t i = 0; i < 40; i++) {
		if (i == 3 || i == 17) {
			m[i] = (struct slc_msg){.data = long_key[i == 17], .len = 70001};
			continue;
		}
		m[i] = (struct slc_msg){.data = space + off};
		m[i].len = make_payload(space + off, 0, rec++);
		off += m[i].len;
	}
	tmpdir(dir, sizeof(dir));
	s = sink_new_cap(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, &cap);
	w = worker_open(s, 0);
	cr_assert_not_null(slc_sink_file_ops.refused, "the file sink says what it refused");
	cr_expect_eq(slc_sink_file_ops.write(w, m, 40), 0);
	cr_assert_eq(slc_sink_file_ops.refused(w, &idx), 2);
	cr_expect_eq(idx[0], 3);
	cr_expect_eq(idx[1], 17);
	cr_expect_eq(slc_sink_file_ops.sync(w), 0, "the others are durable");
	cr_expect_not_null(strstr(cap.text, "key of 65536 bytes (at most 65535): refused"), "%s",
	                   cap.text);
	/* The next write starts a new list. */
	cr_expect_eq(write_records(w, 0, rec, 5, space), 0);
	cr_expect_eq(slc_sink_file_ops.refused(w, &idx), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.records, 43);
	cr_expect_eq(st.refused_key_too_long, 2);
	cr_expect_eq(st.write_errors, 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);

	read_back(dir, &rb, false);
	cr_expect_eq(rb.records, 43);
	cr_expect_eq(rb.next[0], 43);
	cr_expect_eq(rb.bad_records, 0);
	cr_expect_eq(rb.damaged + rb.torn, 0);
	rm_rf(dir);
}

/* Fills dir with a closed segment of worker 0 (seq 0, 5 records), then puts a FIFO where
 * worker 0's segment 1 would be, a directory where its segment 2 would be, and a FIFO as
 * DIR/checkpoint. */
static void
fifo_scene(const char *dir)
{
	static uint8_t space[5 * 400];
	struct slc_sink_worker *w;
	char path[512];
	void *s;

	s = sink_new_opts(dir, 0, SLC_SINK_FILE_FSYNC_NEVER, false, NULL);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 5, space), 0);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	seg_path(path, sizeof(path), dir, 0, 1);
	cr_assert_eq(mkfifo(path, 0644), 0, "mkfifo: %s", strerror(errno));
	seg_path(path, sizeof(path), dir, 0, 2);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, SLC_SINK_FILE_CKPT_NAME);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(mkfifo(path, 0644), 0);
}

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

/* F6 (issue 15): sluice-cat hung on the same FIFO, and on a FIFO as DIR/consumed. */
Test(sink_file, sluice_cat_refuses_a_fifo_rather_than_wait_on_it)
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

Test(sink_file, names_are_parsed_only_in_their_canonical_form)
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

Test(sink_file, sluice_cat_prints_payloads_keys_and_exit_codes)
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

Test(sink_file, fsync_names_parse)
{
	enum slc_sink_file_fsync mode;

	cr_expect_eq(slc_sink_file_fsync_parse("never", &mode), 0);
	cr_expect_eq(mode, SLC_SINK_FILE_FSYNC_NEVER);
	cr_expect_eq(slc_sink_file_fsync_parse("interval", &mode), 0);
	cr_expect_eq(mode, SLC_SINK_FILE_FSYNC_INTERVAL);
	cr_expect_eq(slc_sink_file_fsync_parse("batch", &mode), 0);
	cr_expect_eq(mode, SLC_SINK_FILE_FSYNC_BATCH);
	cr_expect_eq(slc_sink_file_fsync_parse("always", &mode), -EINVAL);
	cr_expect_str_eq(slc_sink_file_fsync_name(SLC_SINK_FILE_FSYNC_INTERVAL), "interval");
}

/* ---- recovery, sync, checkpoints ---- */

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

Test(sink_file, sluice_cat_commits_and_resumes_from_the_consumed_position)
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

struct syncer_arg {
	void *sink;
	uint32_t worker;
	uint32_t batches;
	_Atomic int failed;
};

/* Writes batches of 5 records, each followed by sync(): workers note and write the
 * shared checkpoint from their own threads. */
static void *
syncer_thread(void *p)
{
	struct syncer_arg *a = p;
	static _Thread_local uint8_t space[64 * 400];
	struct slc_sink_worker *w = NULL;
	int rc;

	rc = slc_sink_file_ops.worker_open(a->sink, a->worker, &w);
	for (uint32_t i = 0; rc == 0 && i < a->batches; i++) {
		rc = write_records(w, a->worker, i * 5, 5, space);
		if (rc == 0)
			rc = slc_sink_file_ops.sync(w);
	}
	if (w != NULL)
		slc_sink_file_ops.worker_close(w);
	atomic_store_explicit(&a->failed, rc, memory_order_relaxed);
	return NULL;
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
