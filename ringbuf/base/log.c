/* SPDX-License-Identifier: MIT */
/* log.c: the logger helpers and the rate limiter of base/log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *
slc_log_level_name(int level)
{
	static const char *const names[] = {
	        [SLC_LOG_ERROR] = "error",
	        [SLC_LOG_WARN] = "warn",
	        [SLC_LOG_INFO] = "info",
	        [SLC_LOG_DEBUG] = "debug",
	};

	return level >= 0 && (unsigned)level < sizeof(names) / sizeof(names[0]) ? names[level]
	                                                                        : "?";
}

void
slc_log_stderr(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)level;
	/* The lock keeps the line and its '\n' together when threads log at once. */
	flockfile(stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* prefix, then fmt with ap, into line[SLC_LOG_LINE_MAX]; cut short if it does not fit. */
static void SLC_PRINTF(3, 0)
        line_format(char *line, const char *prefix, const char *fmt, va_list ap)
{
	int n = snprintf(line, SLC_LOG_LINE_MAX, "%s", prefix);

	if (n < 0 || n >= SLC_LOG_LINE_MAX)
		n = 0;
	vsnprintf(line + n, SLC_LOG_LINE_MAX - (size_t)n, fmt, ap);
}

void
slc_logv(slc_log_fn log, void *ctx, int level, const char *prefix, const char *fmt, va_list ap)
{
	char line[SLC_LOG_LINE_MAX];

	line_format(line, prefix, fmt, ap);
	(log != NULL ? log : slc_log_stderr)(ctx, level, "%s", line);
}

void
slc_logf(slc_log_fn log, void *ctx, int level, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_logv(log, ctx, level, prefix, fmt, ap);
	va_end(ap);
}

bool
slc_log_limit_pass(struct slc_log_limit *l, uint32_t per_sec, uint64_t now_ns)
{
	if (now_ns - l->window_ns >= 1000000000ull) {
		l->window_ns = now_ns;
		l->lines = 0;
	}
	/* Saturates: a flood of 2^32 lines in one second must not open the gate again. */
	if (l->lines < UINT32_MAX)
		l->lines++;
	if (l->lines > per_sec) {
		if (l->suppressed < UINT32_MAX)
			l->suppressed++;
		return false;
	}
	return true;
}

uint32_t
slc_log_limit_suppressed_take(struct slc_log_limit *l)
{
	uint32_t n = l->suppressed;

	l->suppressed = 0;
	return n;
}

void
slc_log_limitedv(struct slc_log_limit *l, uint32_t per_sec, uint64_t now_ns, slc_log_fn log,
                 void *ctx, int level, const char *prefix, const char *fmt, va_list ap)
{
	char line[SLC_LOG_LINE_MAX];
	uint32_t suppressed;

	if (!slc_log_limit_pass(l, per_sec, now_ns))
		return;
	line_format(line, prefix, fmt, ap);
	suppressed = slc_log_limit_suppressed_take(l);
	if (suppressed != 0) {
		size_t len = strlen(line);

		snprintf(line + len, sizeof(line) - len, " (%u lines suppressed before this)",
		         suppressed);
	}
	(log != NULL ? log : slc_log_stderr)(ctx, level, "%s", line);
}

void
slc_log_limitedf(struct slc_log_limit *l, uint32_t per_sec, uint64_t now_ns, slc_log_fn log,
                 void *ctx, int level, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_log_limitedv(l, per_sec, now_ns, log, ctx, level, prefix, fmt, ap);
	va_end(ap);
}
