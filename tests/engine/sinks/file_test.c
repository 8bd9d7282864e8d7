/* SPDX-License-Identifier: MIT */
/* file_test.c: helpers of the file sink's tests (file_test.h). */
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

extern char **environ;

void
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

void
rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The key is the payload's bytes before its first space; none: no key. */
int
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
uint32_t
make_payload(uint8_t *buf, uint32_t w, uint32_t i)
{
	int n = sprintf((char *)buf, "k%u.%u %u %u ", w, i % 50, w, i);
	uint32_t fill = i * 7 % 300;

	for (uint32_t j = 0; j < fill; j++)
		buf[n + j] = (uint8_t)('a' + (i + j) % 26);
	return (uint32_t)n + fill;
}

void
quiet_log(void *ctx, int level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
}

void *
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

void
nap_ms(long ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000}, NULL);
}

struct slc_sink_worker *
worker_open(void *s, uint32_t worker)
{
	struct slc_sink_worker *w = NULL;
	int rc = slc_sink_file_ops.worker_open(s, worker, &w);

	cr_assert_eq(rc, 0, "worker_open %u: %s", worker, strerror(-rc));
	return w;
}

/* Writes records first..first+count-1 of worker `worker` in one write() call. */
int
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

void
seg_path(char *out, size_t cap, const char *dir, uint32_t worker, uint64_t seq)
{
	snprintf(out, cap, "%s/w%03u-%08llu.seg", dir, worker, (unsigned long long)seq);
}

uint64_t
file_size(const char *path)
{
	struct stat sb;

	cr_assert_eq(stat(path, &sb), 0, "stat %s: %s", path, strerror(errno));
	return (uint64_t)sb.st_size;
}

/*
 * Reads every segment of dir in (worker, seq) order and checks that each worker's
 * records are make_payload's sequence, with their keys. skip_damage: after a DAMAGE, the
 * record index moves on to the next record found (the lost ones are not counted bad).
 */
void
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
bool
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
int
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
void
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

void
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

/* sink_new with the worker waiting for interval syncs (inline) and a sync fault hook. */
void *
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

int
fault_once(void *ctx)
{
	struct fault *f = ctx;

	return ++f->calls == f->fail_call ? -EIO : 0;
}

/* A sink whose log lines land in *cap (emptied first). */
void *
sink_new_cap(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode,
             struct logcap *cap)
{
	return sink_new_retain(dir, segment_bytes, mode, 0, 0, cap);
}

void *
sink_new_retain(const char *dir, uint64_t segment_bytes, enum slc_sink_file_fsync mode,
                uint64_t retain_bytes, uint32_t retain_age_ms, struct logcap *cap)
{
	struct slc_sink_file_cfg cfg = {
	        .dir = dir,
	        .segment_bytes = segment_bytes,
	        .fsync = mode,
	        .fsync_interval_ms = INTERVAL_MS,
	        .retain_bytes = retain_bytes,
	        .retain_age_ms = retain_age_ms,
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
void
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

char *
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

/* Fills dir with a closed segment of worker 0 (seq 0, 5 records), then puts a FIFO where
 * worker 0's segment 1 would be, a directory where its segment 2 would be, and a FIFO as
 * DIR/checkpoint. */
void
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

/* Writes batches of 5 records, each followed by sync(): workers note and write the
 * shared checkpoint from their own threads. */
void *
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
