/* SPDX-License-Identifier: MIT */
/* fuzz_cfg_file.c: libFuzzer target: sluiced's --config file parser, the input the file. */
/*
 * The input is the file's bytes (in a memfd, named by its /proc/self/fd path), parsed as
 * "sluiced --config PATH". Besides ASan and UBSan, it checks what cfg.h and
 * docs/operations.md promise:
 *   - SLC_CFG_USAGE: nothing on out; on err, whole lines only, each "PATH:LINE: ...",
 *     "PATH: ..." (the file as a whole) or "sluiced: ..." (flags together), and no more
 *     of them than the file has lines, plus one;
 *   - SLC_CFG_RUN: nothing on either, and slc_cfg_describe() fits SLC_CFG_DESCRIBE_LEN;
 *   - SLC_CFG_EXIT never (a file cannot name --help);
 *   - the same file parsed again gives the same status, messages and configuration.
 * --key gets the daemon's check (slc_key_spec_parse), as in main.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_hook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	int rc;
	char *out, *err;
	size_t out_len, err_len;
	char desc[SLC_CFG_DESCRIBE_LEN];
};

static void __attribute__((noreturn)) fail(const char *what, const struct run *r)
{
	fprintf(stderr, "fuzz_cfg_file: %s (status %d)\nout: %.*s\nerr: %.*s\n", what, r->rc,
	        (int)(r->out_len < 400 ? r->out_len : 400), r->out,
	        (int)(r->err_len < 400 ? r->err_len : 400), r->err);
	abort();
}

static void
run_parse(struct run *r, char **argv)
{
	static struct slc_cfg cfg; /* large: listeners and paths */
	FILE *out = open_memstream(&r->out, &r->out_len);
	FILE *err = open_memstream(&r->err, &r->err_len);

	if (out == NULL || err == NULL)
		abort();
	r->rc = slc_cfg_parse(&cfg, 3, argv, out, err);
	fclose(out);
	fclose(err);
	r->desc[0] = '\0';
	if (r->rc == SLC_CFG_RUN && slc_cfg_describe(&cfg, r->desc, sizeof(r->desc)) != 0)
		fail("slc_cfg_describe: SLC_CFG_DESCRIBE_LEN is not enough", r);
}

/* Every line of err starts with one of the prefixes; returns how many lines. */
static size_t
check_lines(const struct run *r, const char *path)
{
	size_t n = 0, plen = strlen(path);

	for (const char *p = r->err, *end = r->err + r->err_len; p < end; n++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			fail("a problem line does not end", r);
		if (!(strncmp(p, path, plen) == 0 && p[plen] == ':') &&
		    strncmp(p, "sluiced: ", 9) != 0)
			fail("a problem line names neither the file nor sluiced", r);
		p = nl + 1;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], prog[] = "sluiced", flag[] = "--config";
	char *argv[] = {prog, flag, path, NULL};
	struct run *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	int fd = memfd_create("fuzz_cfg_file", MFD_CLOEXEC);
	size_t lines = 1;

	if (a == NULL || b == NULL || fd < 0)
		abort();
	cfg_fuzz_hook();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';

	run_parse(a, argv);
	switch (a->rc) {
	case SLC_CFG_USAGE:
		if (a->out_len != 0)
			fail("a bad file wrote to out", a);
		if (a->err_len == 0)
			fail("a bad file said nothing", a);
		if (check_lines(a, path) > lines + 1)
			fail("more problems than lines", a);
		break;
	case SLC_CFG_RUN:
		if (a->out_len != 0 || a->err_len != 0)
			fail("a good file printed something", a);
		break;
	default:
		fail("a file made slc_cfg_parse exit", a);
	}

	run_parse(b, argv);
	if (b->rc != a->rc || strcmp(a->desc, b->desc) != 0 || a->err_len != b->err_len ||
	    memcmp(a->err, b->err, a->err_len) != 0)
		fail("the same file parsed twice gave two results", b);
	free(a->out);
	free(a->err);
	free(b->out);
	free(b->err);
	free(a);
	free(b);
	close(fd);
	return 0;
}
