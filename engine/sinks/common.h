/* SPDX-License-Identifier: MIT */
/* common.h: the small helpers every sink needs; included by the sinks only. */
#ifndef SLC_ENGINE_SINKS_COMMON_H
#define SLC_ENGINE_SINKS_COMMON_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h" /* slc_mono_ns */
#include "base/log.h"
#include "msg.h"

/* Relaxed: counters order nothing; readers want a recent value, not a snapshot. */
static inline void
slc_sink_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	if (n != 0)
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/*
 * The sinks log through base/log.h: a slc_log_fn from their cfg (NULL: slc_log_stderr),
 * slc_logv for start-up lines, and a struct slc_log_limit per worker (one writer) with
 * slc_log_limitedv for the lines a failing disk or peer repeats every batch.
 */

/* Spec checks (libc only: the flag parser's side links them too). */

/* A host name as a peer's address: 1..253 of letters, digits, '-' and '.' (an IPv4
 * address passes); no name server or client library sees anything else. */
bool slc_sink_host_name_ok(const char *s, size_t n);

/* s[0..n) is a numeric IPv6 address (without its []). */
bool slc_sink_ipv6_ok(const char *s, size_t n);

/* p[0..n) is "1".."65535", digits only; *port (when not NULL) gets it. */
bool slc_sink_port_ok(const char *p, size_t n, uint16_t *port);

#endif /* SLC_ENGINE_SINKS_COMMON_H */
