/* SPDX-License-Identifier: MIT */
/* test_sink_file.c: the file sink's segments, their reader, CRC32C, and sluice-cat. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
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

static void *
sink_new(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode)
{
	struct slc_sink_file_cfg cfg = {
	        .dir = dir,
	        .segment_bytes = segment_bytes,
	        .fsync = mode,
	        .fsync_interval_ms = 400,
	        .key_fn = key_before_space,
	};
	void *s;
	int err = 0;

	s = slc_sink_file_create(&cfg, &err);
	cr_assert_not_null(s, "create %s: %s", dir, strerror(-err));
	return s;
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

/* Runs sluice-cat with args; its stdout and stderr land in out and err (malloc'ed,
 * NUL-terminated). Returns its exit status. */
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
	cr_assert_eq(waitpid(pid, &status, 0), pid);
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

Test(sink_file, restart_continues_seq_and_leaves_old_files_alone)
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

	/* A crash right after a create left an empty seq 5; a restart goes past it. */
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

	cr_expect_eq(file_size(p0), size0, "an old segment was written to");
	cr_expect_eq(file_size(p5), 0, "an old segment was written to");
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
	cr_expect_eq(rb.torn, 1, "the empty seq 5 reads as a torn header");
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
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
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

	/* interval (400 ms): not before it has passed; at flush (idle) when unsynced. */
	tmpdir(dir, sizeof(dir));
	s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_INTERVAL);
	w = worker_open(s, 0);
	cr_assert_eq(write_records(w, 0, 0, 3, space), 0);
	cr_assert_eq(write_records(w, 0, 3, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 0);
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1);
	cr_assert_eq(slc_sink_file_ops.flush(w), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 1, "flush synced with nothing unsynced");
	nanosleep(&(struct timespec){.tv_nsec = 450000000}, NULL);
	cr_assert_eq(write_records(w, 0, 6, 3, space), 0);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.fsyncs, 2);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_ops.destroy(s);
	rm_rf(dir);
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

	/* A restart never appends after the torn tail: it starts seq 1. The torn segment
	 * is no longer the newest, and still reads as torn, not damaged. */
	{
		static uint8_t space[64 * 400];
		struct slc_sink_worker *w;
		void *s = sink_new(dir, 0, SLC_SINK_FILE_FSYNC_NEVER);
		uint64_t size = file_size(path);

		w = worker_open(s, 0);
		cr_assert_eq(write_records(w, 0, 19, 5, space), 0);
		slc_sink_file_ops.worker_close(w);
		slc_sink_file_ops.destroy(s);
		cr_expect_eq(file_size(path), size);
		seg_path(path2, sizeof(path2), dir, 0, 1);
		cr_expect_eq(access(path2, F_OK), 0);
		read_back(dir, &rb, false);
		cr_expect_eq(rb.records, 24);
		cr_expect_eq(rb.next[0], 24);
		cr_expect_eq(rb.bad_records, 0);
		cr_expect_eq(rb.torn, 1);
		cr_expect_eq(rb.damaged, 0);
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
	cr_expect_eq(slc_sink_file_ops.write(w, m, 6), -EMSGSIZE);
	slc_sink_file_ops.worker_close(w);
	slc_sink_file_stats(s, &st);
	cr_expect_eq(st.records, 5);
	cr_expect_eq(st.write_errors, 1);
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
