/* SPDX-License-Identifier: MIT */
/* bench_opts.h: the option table that drives the benchmarks' defaults, parsing and --help. */
#ifndef SLC_PERF_BENCH_OPTS_H
#define SLC_PERF_BENCH_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum bench_opt_type {
	BENCH_OPT_INT,  /* an int64_t field, bounded by [min, max] */
	BENCH_OPT_STR,  /* a const char * field */
	BENCH_OPT_FLAG, /* a bool field, set by the option's presence */
};

/* One table drives defaults, parsing, bounds checks and --help. */
struct bench_opt {
	const char *name;
	enum bench_opt_type type;
	int64_t def; /* BENCH_OPT_INT only */
	int64_t min;
	int64_t max;
	const char *def_str; /* BENCH_OPT_STR only */
	const char *metavar;
	const char *help;
	size_t offset; /* of the field in the benchmark's options struct */
};

/* Prints one line per option, with its default. */
void bench_opt_table_print(FILE *f, const struct bench_opt *t, size_t n);

/* The options as a manual page's entries: a roff .TP paragraph each, with its default
 * (bench_opts_man.c: links slc_engine). */
void bench_opt_table_man(FILE *f, const struct bench_opt *t, size_t n);

/*
 * Sets every field of opts to its default, then applies argv ("--name value" or
 * "--name=value"). Returns 0, or -EINVAL after printing "prog: what was wrong" to stderr.
 */
int bench_opt_table_parse(void *opts, const struct bench_opt *t, size_t n, const char *prog,
                          int argc, char **argv);

/* Refuses (-EINVAL, or -errno, with a message) a CPU this process may not run on, rather
 * than failing later in pthread_create. cpu < 0 (not pinned) is fine. */
int bench_cpu_check(const char *prog, const char *what, int64_t cpu);

#endif /* SLC_PERF_BENCH_OPTS_H */
