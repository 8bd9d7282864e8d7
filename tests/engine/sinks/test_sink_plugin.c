/* SPDX-License-Identifier: MIT */
/* test_sink_plugin.c: loading plugins (and refusing bad ones), and feeding them batches. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinks/plugin.h"

/* The example plugin and its two broken builds (tests/CMakeLists.txt). */
#ifndef SLC_PLUGIN_EXAMPLE
#error "SLC_PLUGIN_EXAMPLE: the path of libsluice_plugin_example.so"
#endif

#define WORKERS 2
#define ROUNDS  20

/* ---- helpers ---- */

/* The last lines logged, for the tests that check what a refusal says. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[4096];

static void __attribute__((format(printf, 3, 4)))
test_log(void *ctx, int level, const char *fmt, ...)
{
	size_t start, len;
	va_list ap;

	(void)ctx;
	pthread_mutex_lock(&log_mu);
	start = strlen(log_text);
	if (start > sizeof(log_text) - 600) {
		log_text[0] = '\0';
		start = 0;
	}
	len = start + (size_t)snprintf(log_text + start, sizeof(log_text) - start, "[%d] ", level);
	va_start(ap, fmt);
	vsnprintf(log_text + len, sizeof(log_text) - len, fmt, ap);
	va_end(ap);
	len = strlen(log_text);
	snprintf(log_text + len, sizeof(log_text) - len, "\n");
	fputs(log_text + start, stderr);
	pthread_mutex_unlock(&log_mu);
}

static void
log_reset(void)
{
	pthread_mutex_lock(&log_mu);
	log_text[0] = '\0';
	pthread_mutex_unlock(&log_mu);
}

static bool
log_has(const char *s)
{
	bool found;

	pthread_mutex_lock(&log_mu);
	found = strstr(log_text, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return found;
}

static void
tmpfile_path(char *out, size_t cap)
{
	int fd;

	snprintf(out, cap, "/tmp/slc-sink-plugin-XXXXXX");
	fd = mkstemp(out);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	close(fd);
}

/* Loading path with arg fails: its error. */
static int
create_err(const char *path, const char *arg)
{
	int err = 0;
	void *s = slc_sink_plugin_create(path, arg, test_log, NULL, &err);

	if (s != NULL) {
		slc_sink_plugin_ops.destroy(s);
		return 0;
	}
	return err;
}

/* ---- feeding the example plugin ---- */

struct feeder {
	void *sink;
	uint32_t worker;
	int rc;
	uint64_t messages, bytes, keysum, calls;
};

/* Batches of 1, 100 and 1000 messages (the last larger than a plugin call takes). */
static void *
feeder_main(void *arg)
{
	static const uint32_t sizes[] = {1, 100, 1000};
	struct feeder *f = arg;
	struct slc_sink_worker *w = NULL;
	struct slc_msg *msgs = calloc(1000, sizeof(*msgs));
	uint8_t payload[64];

	memset(payload, 'a' + (int)f->worker, sizeof(payload));
	f->rc = msgs != NULL ? slc_sink_plugin_ops.worker_open(f->sink, f->worker, &w) : -ENOMEM;
	for (int r = 0; r < ROUNDS && f->rc == 0; r++) {
		for (size_t b = 0; b < sizeof(sizes) / sizeof(sizes[0]) && f->rc == 0; b++) {
			uint32_t n = sizes[b];

			for (uint32_t i = 0; i < n; i++) {
				msgs[i] = (struct slc_msg){.data = payload,
				                           .len = (i + (uint32_t)r) % 64,
				                           .key_hash = f->worker + 1,
				                           .recv_ns = 1};
				f->bytes += msgs[i].len;
				f->keysum += f->worker + 1;
			}
			f->messages += n;
			f->calls += (n + SLC_SINK_PLUGIN_BATCH_MAX - 1) / SLC_SINK_PLUGIN_BATCH_MAX;
			f->rc = slc_sink_plugin_ops.write(w, msgs, n);
		}
	}
	if (f->rc == 0)
		f->rc = slc_sink_plugin_ops.flush(w);
	if (f->rc == 0)
		f->rc = slc_sink_plugin_ops.reopen(w); /* the example has none: 0 */
	slc_sink_plugin_ops.worker_close(w);
	free(msgs);
	return NULL;
}

Test(sink_plugin, example_counts_what_two_workers_write)
{
	struct feeder f[WORKERS];
	pthread_t th[WORKERS];
	struct slc_sink_plugin_stats st;
	char out[64], line[256];
	uint64_t messages = 0, bytes = 0, calls = 0;
	int err = 0, lines = 0;
	void *sink;
	FILE *fp;

	tmpfile_path(out, sizeof(out));
	sink = slc_sink_plugin_create(SLC_PLUGIN_EXAMPLE, out, test_log, NULL, &err);
	cr_assert_not_null(sink, "create: %s", strerror(-err));
	cr_expect_str_eq(slc_sink_plugin_name(sink), "example");
	for (uint32_t i = 0; i < WORKERS; i++) {
		f[i] = (struct feeder){.sink = sink, .worker = i};
		cr_assert_eq(pthread_create(&th[i], NULL, feeder_main, &f[i]), 0);
	}
	for (uint32_t i = 0; i < WORKERS; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(f[i].rc, 0, "worker %u: %s", i, strerror(-f[i].rc));
		messages += f[i].messages;
		bytes += f[i].bytes;
		calls += f[i].calls;
	}
	slc_sink_plugin_stats(sink, &st);
	cr_expect_eq(st.messages, messages);
	cr_expect_eq(st.bytes, bytes);
	cr_expect_eq(st.calls, calls, "1000 messages take several calls");
	cr_expect_eq(st.failed_calls, 0);
	cr_expect_eq(st.errors, 0);
	slc_sink_plugin_ops.destroy(sink); /* fini writes the file */

	fp = fopen(out, "r");
	cr_assert_not_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned w;
		unsigned long long m, b, c, fl, k;

		cr_assert_eq(sscanf(line,
		                    "worker %u: %llu messages %llu bytes %llu batches %llu "
		                    "flushes %llu keysum",
		                    &w, &m, &b, &c, &fl, &k),
		             6, "%s", line);
		cr_assert_lt(w, WORKERS);
		cr_expect_eq(m, f[w].messages, "worker %u", w);
		cr_expect_eq(b, f[w].bytes, "worker %u", w);
		cr_expect_eq(c, f[w].calls, "worker %u", w);
		cr_expect_eq(fl, 2, "worker %u: flush, and the one of worker_close", w);
		cr_expect_eq(k, f[w].keysum, "worker %u", w);
		lines++;
	}
	fclose(fp);
	unlink(out);
	cr_expect_eq(lines, WORKERS);
}

Test(sink_plugin, failed_call_is_counted_and_not_retried)
{
	struct slc_sink_plugin_stats st;
	struct slc_sink_worker *w;
	struct slc_msg msgs[600];
	char out[64];
	int err = 0;
	void *sink;

	tmpfile_path(out, sizeof(out));
	sink = slc_sink_plugin_create(SLC_PLUGIN_EXAMPLE, out, test_log, NULL, &err);
	cr_assert_not_null(sink, "create: %s", strerror(-err));
	cr_assert_eq(slc_sink_plugin_ops.worker_open(sink, 3, &w), 0);
	cr_expect_eq(slc_sink_plugin_ops.worker_open(sink, 3, &(struct slc_sink_worker *){0}),
	             -EBUSY);
	cr_expect_eq(slc_sink_plugin_ops.worker_open(sink, SLC_SINK_PLUGIN_WORKERS_MAX,
	                                             &(struct slc_sink_worker *){0}),
	             -EINVAL);
	for (int i = 0; i < 600; i++)
		msgs[i] = (struct slc_msg){.data = (const uint8_t *)"okay", .len = 4};
	/* 600 messages: calls of 256, 256 and 88; the second fails. */
	msgs[300].data = (const uint8_t *)"FAIL";
	log_reset();
	cr_expect_eq(slc_sink_plugin_ops.write(w, msgs, 600), -EIO);
	cr_expect(log_has("write failed"), "%s", log_text);
	slc_sink_plugin_stats(sink, &st);
	cr_expect_eq(st.calls, 3);
	cr_expect_eq(st.failed_calls, 1);
	cr_expect_eq(st.failed_messages, SLC_SINK_PLUGIN_BATCH_MAX);
	cr_expect_eq(st.messages, 600 - SLC_SINK_PLUGIN_BATCH_MAX);
	msgs[300].data = (const uint8_t *)"okay";
	cr_expect_eq(slc_sink_plugin_ops.write(w, msgs, 600), 0);
	slc_sink_plugin_ops.worker_close(w);
	slc_sink_plugin_ops.destroy(sink);
	unlink(out);
}

Test(sink_plugin, argument_after_question_mark)
{
	char out[64], spec[512];
	int err = 0;
	void *sink;

	tmpfile_path(out, sizeof(out));
	snprintf(spec, sizeof(spec), "%s?%s", SLC_PLUGIN_EXAMPLE, out);
	sink = slc_sink_plugin_create(spec, NULL, test_log, NULL, &err);
	cr_assert_not_null(sink, "create: %s", strerror(-err));
	slc_sink_plugin_ops.destroy(sink);
	unlink(out);
}

Test(sink_plugin, missing_file_is_refused)
{
	log_reset();
	cr_expect_eq(create_err("/nonexistent/libnothing.so", "x"), -ENOENT);
	cr_expect(log_has("/nonexistent/libnothing.so: No such file"), "%s", log_text);
	cr_expect_eq(create_err("", "x"), -EINVAL);
	cr_expect_eq(create_err(NULL, "x"), -EINVAL);
}

Test(sink_plugin, not_a_shared_object_is_refused)
{
	char path[64];
	FILE *fp;

	tmpfile_path(path, sizeof(path));
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs("not an ELF file\n", fp);
	fclose(fp);
	log_reset();
	cr_expect_eq(create_err(path, "x"), -ENOEXEC);
	cr_expect(log_has("cannot load"), "%s", log_text);
	unlink(path);
}

Test(sink_plugin, no_symbol_is_refused)
{
	log_reset();
	cr_expect_eq(create_err(SLC_PLUGIN_NOSYM, "/dev/null"), -ENOEXEC);
	cr_expect(log_has("no symbol sluice_plugin_v1"), "%s", log_text);
}

Test(sink_plugin, wrong_abi_version_is_refused)
{
	log_reset();
	cr_expect_eq(create_err(SLC_PLUGIN_ABI2, "/dev/null"), -ENOTSUP);
	cr_expect(log_has("ABI version 2, this sluiced speaks 1"), "%s", log_text);
}

Test(sink_plugin, failing_init_fails_create_with_its_errno)
{
	log_reset();
	cr_expect_eq(create_err(SLC_PLUGIN_EXAMPLE, "/nonexistent/dir/out.txt"), -ENOENT);
	cr_expect(log_has("init(\"/nonexistent/dir/out.txt\") failed"), "%s", log_text);
	cr_expect_eq(create_err(SLC_PLUGIN_EXAMPLE, NULL), -EINVAL, "the example needs an arg");
}

/* ---- retry later and poison (sluice_plugin.h) ---- */

static void *
example_open(const char *path, char *out, size_t cap, struct slc_sink_worker **w)
{
	int err = 0;
	void *sink;

	tmpfile_path(out, cap);
	sink = slc_sink_plugin_create(path, out, test_log, NULL, &err);
	cr_assert_not_null(sink, "create: %s", strerror(-err));
	cr_assert_eq(slc_sink_plugin_ops.worker_open(sink, 0, w), 0);
	return sink;
}

Test(sink_plugin, retry_later_calls_again_with_the_same_messages)
{
	struct slc_sink_plugin_stats st;
	struct slc_sink_worker *w;
	struct slc_msg msgs[3] = {
	        {.data = (const uint8_t *)"one", .len = 3},
	        {.data = (const uint8_t *)"LATER", .len = 5},
	        {.data = (const uint8_t *)"three", .len = 5},
	};
	const uint32_t *idx;
	char out[64];
	void *sink = example_open(SLC_PLUGIN_EXAMPLE, out, sizeof(out), &w);

	/* Three RETRY_LATER answers (default backoff: waits of at most 100, 200, 400 ms),
	 * then the fourth call delivers all three. */
	cr_expect_eq(slc_sink_plugin_ops.write(w, msgs, 3), 0);
	cr_expect_eq(slc_sink_plugin_ops.refused(w, &idx), 0);
	slc_sink_plugin_stats(sink, &st);
	cr_expect_eq(st.calls, 4);
	cr_expect_eq(st.messages, 3);
	cr_expect_eq(st.failed_calls, 0);
	cr_expect_eq(st.refused, 0);
	slc_sink_plugin_ops.worker_close(w);
	slc_sink_plugin_ops.destroy(sink);
	unlink(out);
}

Test(sink_plugin, poison_without_dead_letters_is_refused_and_counted)
{
	struct slc_sink_plugin_stats st;
	struct slc_sink_worker *w;
	struct slc_msg msgs[300];
	const uint32_t *idx;
	char out[64];
	void *sink = example_open(SLC_PLUGIN_EXAMPLE, out, sizeof(out), &w);

	for (int i = 0; i < 300; i++)
		msgs[i] = (struct slc_msg){.data = (const uint8_t *)"okay", .len = 4};
	/* Calls of 256 and 44: one poison in each; the indexes are the write's. */
	msgs[10].data = (const uint8_t *)"POISON";
	msgs[10].len = 6;
	msgs[290] = msgs[10];
	log_reset();
	cr_expect_eq(slc_sink_plugin_ops.write(w, msgs, 300), 0, "the others were delivered");
	cr_assert_eq(slc_sink_plugin_ops.refused(w, &idx), 2);
	cr_expect_eq(idx[0], 10);
	cr_expect_eq(idx[1], 290);
	cr_expect(log_has("(poison) lost: no --dead-letter"), "%s", log_text);
	slc_sink_plugin_stats(sink, &st);
	cr_expect_eq(st.messages, 298);
	cr_expect_eq(st.bytes, 298 * 4);
	cr_expect_eq(st.poisoned, 2);
	cr_expect_eq(st.refused, 2);
	cr_expect_eq(st.failed_calls, 0);
	/* The next write starts a new list. */
	msgs[10].data = msgs[290].data = (const uint8_t *)"okay";
	msgs[10].len = msgs[290].len = 4;
	cr_expect_eq(slc_sink_plugin_ops.write(w, msgs, 300), 0);
	cr_expect_eq(slc_sink_plugin_ops.refused(w, &idx), 0);
	slc_sink_plugin_ops.worker_close(w);
	slc_sink_plugin_ops.destroy(sink);
	unlink(out);
}

Test(sink_plugin, a_plugin_built_before_poison_loads_and_its_positive_result_is_a_failure)
{
	struct slc_sink_plugin_stats st;
	struct slc_sink_worker *w;
	struct slc_msg m = {.data = (const uint8_t *)"POISON", .len = 6};
	const uint32_t *idx;
	char out[64];
	void *sink = example_open(SLC_PLUGIN_V1BASE, out, sizeof(out), &w);

	cr_expect_eq(slc_sink_plugin_ops.write(w, &m, 1), -EIO);
	cr_expect_eq(slc_sink_plugin_ops.refused(w, &idx), 0);
	m.data = (const uint8_t *)"LATER";
	m.len = 5;
	cr_expect_eq(slc_sink_plugin_ops.write(w, &m, 1), -EIO, "not retried: it was a bug then");
	slc_sink_plugin_stats(sink, &st);
	cr_expect_eq(st.calls, 2);
	cr_expect_eq(st.failed_calls, 2);
	cr_expect_eq(st.poisoned, 0);
	slc_sink_plugin_ops.worker_close(w);
	slc_sink_plugin_ops.destroy(sink);
	unlink(out);
}
