/* SPDX-License-Identifier: MIT */
/* spec.c: what the flag parser knows of the file sink: file:DIR and its flags. */
#include "spec.h"

#include "cfg_types.h"

/* --fsync's names, in the order of enum slc_sink_file_fsync (sink_file.h): NEVER,
 * INTERVAL, BATCH; sink_file.c checks the order. */
static const char *const fsync_names[] = {"never", "interval", "batch", NULL};

#define FIELD(f) SLC_CFG_FIELD(struct slc_sink_file_settings, f)

static const struct slc_cfg_opt flags[] = {
        {.name = "--fsync",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_SINK,
         .metavar = "MODE",
         .def = "interval",
         .choices = fsync_names,
         .help = "When the file sink makes its writes durable: never (left to the kernel), "
                 "interval (every --fsync-interval) or batch (after each batch a worker "
                 "writes).",
         FIELD(fsync)},
        {.name = "--fsync-interval",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_SINK,
         .metavar = "DURATION",
         .def = "1s",
         .min = 1,
         .max = 3600.0 * 1000.0,
         .unit_ms = 1,
         .help = "How often --fsync interval syncs. A bare number is ms.",
         FIELD(fsync_interval_ms)},
        {.name = "--segment-size",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_SINK,
         .metavar = "SIZE",
         .def = "64M",
         .min = 1024.0 * 1024.0,
         .max = 16.0 * 1024.0 * 1024.0 * 1024.0,
         .help = "The file sink starts a new segment file once the current one reaches this "
                 "size.",
         FIELD(segment_bytes)},
        {.name = "--retain-size",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_SINK,
         .metavar = "SIZE",
         .def = "off",
         .min = 0,
         .max = 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
         .flags = SLC_CFG_F_OFF | SLC_CFG_F_SINK_ONLY,
         .help = "The file sink deletes its oldest closed segments once they hold more than "
                 "this, split evenly between the workers (checked when a worker ends a full "
                 "segment; never one that DIR/checkpoint or a reader's DIR/consumed still "
                 "needs: docs/file-format.md). off or 0: keep everything.",
         FIELD(retain_bytes)},
        {.name = "--retain-age",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_SINK,
         .metavar = "DURATION",
         .def = "off",
         .min = 0,
         .max = 1000.0 * 3600.0 * 1000.0,
         .unit_ms = 1000,
         .flags = SLC_CFG_F_OFF | SLC_CFG_F_SINK_ONLY,
         .help = "The file sink deletes closed segments last written longer ago than this "
                 "(checked as --retain-size is). A bare number is seconds; off or 0: keep "
                 "everything.",
         FIELD(retain_age_ms)},
};

const struct slc_sink_desc slc_sink_file_desc = {
        .name = "file",
        .scheme = "file:",
        .syntax = "file:DIR",
        .help = "file: segment files under DIR.",
        .flags = flags,
        .nflags = sizeof(flags) / sizeof(flags[0]),
        .settings_size = sizeof(struct slc_sink_file_settings),
};
