/* SPDX-License-Identifier: MIT */
/* process.h: the process's own memory gauges (resident set, jemalloc), for any render. */
#ifndef SLC_ENGINE_METRICS_PROCESS_H
#define SLC_ENGINE_METRICS_PROCESS_H

#include "expo.h"

/*
 * Process memory gauges: sluice_process_resident_bytes (from /proc/self/statm), and, when
 * the process runs on jemalloc, sluice_jemalloc_allocated_bytes and
 * sluice_jemalloc_resident_bytes (stats.allocated and stats.resident, after refreshing
 * jemalloc's stats epoch). jemalloc is found at run time (dlsym of mallctl), so sanitizer
 * builds, which run on libc malloc, simply have no jemalloc gauges. Writes its own
 * families: call it between two families of the caller.
 * Returns 0, -ENOENT (no jemalloc, or one built without statistics: only the process gauge
 * was written), -EINVAL/-ENOMEM from the buffer. A /proc/self/statm that cannot be read
 * (no /proc in a sandbox) leaves its gauge out without an error.
 */
int slc_metrics_jemalloc(struct slc_metrics_buf *b);

#endif /* SLC_ENGINE_METRICS_PROCESS_H */
