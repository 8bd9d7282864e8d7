/* SPDX-License-Identifier: MIT */
/* common.c: what the sinks share (common.h). */
#include "common.h"

#include <arpa/inet.h>
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

bool
slc_sink_host_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

bool
slc_sink_ipv6_ok(const char *s, size_t n)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;

	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	return inet_pton(AF_INET6, host, &a6) == 1;
}

bool
slc_sink_port_ok(const char *p, size_t n, uint16_t *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	if (port != NULL)
		*port = (uint16_t)v;
	return true;
}
