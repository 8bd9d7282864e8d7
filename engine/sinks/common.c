/* SPDX-License-Identifier: MIT */
/* common.c: what the sinks share (common.h). */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* prefix, then fmt with ap, into line[cap]; cut short if it does not fit. */
static void __attribute__((format(printf, 4, 0)))
line_format(char *line, size_t cap, const char *prefix, const char *fmt, va_list ap)
{
	int n = snprintf(line, cap, "%s", prefix);

	if (n < 0 || (size_t)n >= cap)
		n = 0;
	vsnprintf(line + n, cap - (size_t)n, fmt, ap);
}

void
slc_sink_logv(slc_sink_log_fn log, void *log_ctx, int level, const char *prefix, const char *fmt,
              va_list ap)
{
	char line[768];

	line_format(line, sizeof(line), prefix, fmt, ap);
	(log != NULL ? log : slc_sink_default_log)(log_ctx, level, "%s", line);
}

void
slc_sink_logf(slc_sink_log_fn log, void *log_ctx, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_sink_logv(log, log_ctx, level, "", fmt, ap);
	va_end(ap);
}

void
slc_sink_log_limited(struct slc_sink_loglimit *l, uint32_t per_sec, slc_sink_log_fn log,
                     void *log_ctx, int level, const char *prefix, const char *fmt, va_list ap)
{
	uint64_t now = slc_mono_ns();
	char line[512];

	if (now - l->window_ns >= 1000000000ull) {
		l->window_ns = now;
		l->lines = 0;
	}
	if (++l->lines > per_sec) {
		l->suppressed++;
		return;
	}
	line_format(line, sizeof(line), prefix, fmt, ap);
	if (l->suppressed != 0) {
		size_t len = strlen(line);

		snprintf(line + len, sizeof(line) - len, " (%u lines suppressed before this)",
		         l->suppressed);
		l->suppressed = 0;
	}
	log(log_ctx, level, "%s", line);
}

void
slc_sink_default_log(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)level;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
