/* SPDX-License-Identifier: MIT */
/* fuzz_cfg.c: libFuzzer target: sluiced's flag parser, argv cut from the input at NULs. */
/*
 * The input is argv[1..]: its NUL bytes separate the arguments (at most ARGS_MAX; what
 * follows the last one's NUL is dropped). Besides ASan and UBSan, it checks what cfg.h
 * promises:
 *   - SLC_CFG_USAGE: exactly one line "sluiced: ...\n" on err, nothing on out (one line
 *     only when no argument holds a LF: the message quotes the argument as it is, so
 *     "--\n" makes two lines; known, reported, and left out so the fuzzer goes on);
 *   - SLC_CFG_EXIT: nothing on err;
 *   - SLC_CFG_RUN: nothing on either, and slc_cfg_describe() fits SLC_CFG_DESCRIBE_LEN in
 *     one line (again: unless an argument holds a LF, which it copies as it is);
 *   - the same argv parsed again gives the same status and the same description (no state
 *     left behind by a parse).
 * --key gets the daemon's check (slc_key_spec_parse), as in main.c. An argv that names
 * --config or --check-config is left out: they read a file and report every problem, one
 * line each, and fuzz_cfg_file covers them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_hook.h"

#define ARGS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	int rc;
	char *out; /* what parse wrote to out and err (open_memstream) */
	size_t out_len;
	char *err;
	size_t err_len;
	char *desc; /* RUN: slc_cfg_describe's line */
	int desc_rc;
};

static void
run_parse(struct run *r, struct slc_cfg *c, int argc, char **argv)
{
	FILE *out = open_memstream(&r->out, &r->out_len);
	FILE *err = open_memstream(&r->err, &r->err_len);

	if (out == NULL || err == NULL)
		abort();
	r->rc = slc_cfg_parse(c, argc, argv, out, err);
	fclose(out);
	fclose(err);
	r->desc = NULL;
	r->desc_rc = 0;
	if (r->rc == SLC_CFG_RUN) {
		r->desc = malloc(SLC_CFG_DESCRIBE_LEN);
		if (r->desc == NULL)
			abort();
		r->desc_rc = slc_cfg_describe(c, r->desc, SLC_CFG_DESCRIBE_LEN);
	}
}

static void
run_fini(struct run *r)
{
	free(r->out);
	free(r->err);
	free(r->desc);
}

static void __attribute__((noreturn)) fail(const char *what, const struct run *r)
{
	fprintf(stderr, "fuzz_cfg: %s (status %d)\nout: %.*s\nerr: %.*s\n", what, r->rc,
	        (int)(r->out_len < 400 ? r->out_len : 400), r->out,
	        (int)(r->err_len < 400 ? r->err_len : 400), r->err);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct slc_cfg cfg; /* large: listeners and paths */
	static char prog[] = "sluiced";
	char *argv[ARGS_MAX + 2] = {prog};
	char *copy = malloc(size + 1);
	struct run a, b;
	int argc = 1;
	bool lf = memchr(data, '\n', size) != NULL;

	if (copy == NULL)
		return 0;
	cfg_fuzz_hook();
	/* Split at NULs: each piece is an argument, empty ones included. */
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (size > 0) {
		char *p = copy, *end = copy + size;

		while (argc < ARGS_MAX + 1) {
			char *nul = memchr(p, '\0', (size_t)(end - p));

			argv[argc++] = p;
			if (nul == NULL || nul + 1 >= end)
				break;
			p = nul + 1;
		}
	}
	argv[argc] = NULL;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--config", 8) == 0 ||
		    strncmp(argv[i], "--check-config", 14) == 0) {
			free(copy);
			return 0;
		}
	}

	run_parse(&a, &cfg, argc, argv);
	switch (a.rc) {
	case SLC_CFG_USAGE:
		if (a.out_len != 0)
			fail("a usage error wrote to out", &a);
		if (a.err_len < 10 || strncmp(a.err, "sluiced: ", 9) != 0 ||
		    a.err[a.err_len - 1] != '\n' ||
		    (!lf && memchr(a.err, '\n', a.err_len - 1) != NULL))
			fail("a usage error is not one line \"sluiced: ...\"", &a);
		break;
	case SLC_CFG_EXIT:
		if (a.err_len != 0)
			fail("--help or --version wrote to err", &a);
		break;
	case SLC_CFG_RUN:
		if (a.out_len != 0 || a.err_len != 0)
			fail("a good command line printed something", &a);
		if (a.desc_rc != 0)
			fail("slc_cfg_describe: SLC_CFG_DESCRIBE_LEN is not enough", &a);
		if (!lf && strchr(a.desc, '\n') != NULL)
			fail("slc_cfg_describe wrote more than one line", &a);
		break;
	default:
		fail("slc_cfg_parse returned a status it does not document", &a);
	}

	/* Again: same status, same effective configuration. */
	run_parse(&b, &cfg, argc, argv);
	if (b.rc != a.rc)
		fail("the same argv parsed twice gave two statuses", &b);
	if (a.rc == SLC_CFG_RUN && strcmp(a.desc, b.desc) != 0)
		fail("the same argv parsed twice gave two configurations", &b);
	if (a.rc == SLC_CFG_USAGE &&
	    (a.err_len != b.err_len || memcmp(a.err, b.err, a.err_len) != 0))
		fail("the same argv parsed twice gave two messages", &b);
	run_fini(&a);
	run_fini(&b);
	free(copy);
	return 0;
}
