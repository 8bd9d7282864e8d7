/* SPDX-License-Identifier: MIT */
/* bench_opts_man.c: a benchmark's option table as manual page entries (sluice-bench.1). Apart
 * from bench_opts.c because it takes the daemon's roff writer (cfg.h), which links the engine. */
#include <inttypes.h>

#include "bench_opts.h"
#include "cfg.h"

void
bench_opt_table_man(FILE *f, const struct bench_opt *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct bench_opt *opt = &t[i];

		fputs(".TP\n", f);
		slc_cfg_roff_synopsis(f, opt->name, opt->metavar);
		slc_cfg_roff_text(f, opt->help);
		if (opt->type == BENCH_OPT_INT)
			fprintf(f, "\n.br\nDefault: \\fB%" PRId64 "\\fR.", opt->def);
		else if (opt->type == BENCH_OPT_STR && opt->def_str != NULL) {
			fputs("\n.br\nDefault: \\fB", f);
			slc_cfg_roff_text(f, opt->def_str);
			fputs("\\fR.", f);
		}
		fputc('\n', f);
	}
}
