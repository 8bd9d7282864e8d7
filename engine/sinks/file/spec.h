/* SPDX-License-Identifier: MIT */
/* spec.h: what the flag parser knows of the file sink (--sink file:DIR) and its flags. */
#ifndef SLC_ENGINE_SINKS_FILE_SPEC_H
#define SLC_ENGINE_SINKS_FILE_SPEC_H

#include <stdint.h>

#include "sinks/sink.h"

/* The file sink's flags (spec.c), as create gets them in env->settings. */
struct slc_sink_file_settings {
	int fsync;                  /* --fsync: enum slc_sink_file_fsync */
	uint32_t fsync_interval_ms; /* --fsync-interval */
	uint64_t segment_bytes;     /* --segment-size */
	uint64_t retain_bytes;      /* --retain-size; 0: off */
	uint32_t retain_age_ms;     /* --retain-age; 0: off */
};

/* file:DIR (any non-empty DIR; nothing is opened), --fsync, --fsync-interval,
 * --segment-size, --retain-size, --retain-age. */
extern const struct slc_sink_desc slc_sink_file_desc;

#endif /* SLC_ENGINE_SINKS_FILE_SPEC_H */
