/* SPDX-License-Identifier: MIT */
/* sink_priv.c: what the sinks share (sink_priv.h). */
#include "sink_priv.h"

#include <stdarg.h>
#include <stdio.h>

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
