/* SPDX-License-Identifier: MIT */
/* bench_opts.c: table-driven option parsing shared by the benchmarks. */
#include "bench_opts.h"

#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void
bench_opt_table_print(FILE *f, const struct bench_opt *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct bench_opt *opt = &t[i];
		char lhs[32];

		snprintf(lhs, sizeof(lhs), "%s%s%s", opt->name, opt->metavar ? " " : "",
		         opt->metavar ? opt->metavar : "");
		fprintf(f, "  %-18s %s", lhs, opt->help);
		if (opt->type == BENCH_OPT_INT)
			fprintf(f, " (default %" PRId64 ")", opt->def);
		else if (opt->type == BENCH_OPT_STR && opt->def_str != NULL)
			fprintf(f, " (default %s)", opt->def_str);
		fputc('\n', f);
	}
}

static const struct bench_opt *
opt_find(const struct bench_opt *t, size_t n, const char *arg, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(t[i].name) == len && strncmp(t[i].name, arg, len) == 0)
			return &t[i];
	}
	return NULL;
}

static int
opt_set(void *opts, const struct bench_opt *opt, const char *prog, const char *val)
{
	void *field = (char *)opts + opt->offset;
	char *end;
	long long v;

	switch (opt->type) {
	case BENCH_OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case BENCH_OPT_STR:
		*(const char **)field = val;
		return 0;
	case BENCH_OPT_INT:
		errno = 0;
		v = strtoll(val, &end, 0);
		if (errno != 0 || end == val || *end != '\0' || v < opt->min || v > opt->max) {
			fprintf(stderr,
			        "%s: %s wants an integer in [%" PRId64 ", %" PRId64 "], not '%s'\n",
			        prog, opt->name, opt->min, opt->max, val);
			return -EINVAL;
		}
		*(int64_t *)field = v;
		return 0;
	}
	return -EINVAL;
}

int
bench_opt_table_parse(void *opts, const struct bench_opt *t, size_t n, const char *prog, int argc,
                      char **argv)
{
	for (size_t i = 0; i < n; i++) {
		void *field = (char *)opts + t[i].offset;

		if (t[i].type == BENCH_OPT_INT)
			*(int64_t *)field = t[i].def;
		else if (t[i].type == BENCH_OPT_STR)
			*(const char **)field = t[i].def_str;
		else
			*(bool *)field = false;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		size_t len = strcspn(arg, "=");
		const struct bench_opt *opt = opt_find(t, n, arg, len);
		const char *val = arg[len] == '=' ? arg + len + 1 : NULL;

		if (opt == NULL) {
			fprintf(stderr, "%s: unknown option '%s' (try --help)\n", prog, arg);
			return -EINVAL;
		}
		if (opt->type == BENCH_OPT_FLAG && val != NULL) {
			fprintf(stderr, "%s: %s takes no value\n", prog, opt->name);
			return -EINVAL;
		}
		if (opt->type != BENCH_OPT_FLAG && val == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: %s needs a value\n", prog, opt->name);
				return -EINVAL;
			}
			val = argv[++i];
		}
		if (opt_set(opts, opt, prog, val) != 0)
			return -EINVAL;
	}
	return 0;
}

int
bench_cpu_check(const char *prog, const char *what, int64_t cpu)
{
	cpu_set_t allowed;

	if (cpu < 0)
		return 0;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
		int err = errno;

		fprintf(stderr, "%s: sched_getaffinity: %s\n", prog, strerror(err));
		return -err;
	}
	if (cpu >= CPU_SETSIZE || !CPU_ISSET((int)cpu, &allowed)) {
		fprintf(stderr, "%s: %s %" PRId64 " is not in this process's CPU set\n", prog, what,
		        cpu);
		return -EINVAL;
	}
	return 0;
}
