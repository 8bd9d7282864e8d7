/* SPDX-License-Identifier: MIT */
/* null_spec.c: what the flag parser knows of the null sink (--sink null). */
#include "null.h"

const struct slc_sink_desc slc_sink_null_desc = {
        .name = "null",
        .scheme = "null",
        .syntax = "null",
        .help = "null: count and drop.",
};
