/* SPDX-License-Identifier: MIT */
/* forward_spec.c: what the flag parser knows of the forward sink: its spec and its flags. */
#include "forward.h"

#include <assert.h>
#include <string.h>

#include "base/addr.h"
#include "cfg_types.h"
#include "common.h"

static_assert(sizeof(((struct slc_sink_forward_settings *)0)->framing) == sizeof(int),
              "an ENUM flag writes an int");

static const char *const framing_names[] = {"lines", "len32", NULL};

/* HOST:PORT, HOST a name, an IPv4 address or [IPv6]: out->arg gets HOST without []. */
static int
forward_parse_spec(const char *arg, struct slc_sink_spec *out, const char **why)
{
	return slc_addr_split(arg, strlen(arg), false, out->arg, sizeof(out->arg), &out->port, why);
}

static void
forward_format(const struct slc_sink_spec *spec, char *buf, size_t len)
{
	slc_addr_join(spec->arg, spec->port, buf, len);
}

#define FIELD(f) SLC_CFG_FIELD(struct slc_sink_forward_settings, f)

static const struct slc_cfg_opt flags[] = {
        {.name = "--forward-batch",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_SINK,
         .metavar = "SIZE",
         .def = "64k",
         .min = SLC_SINK_FORWARD_BATCH_BYTES_MIN,
         .max = SLC_SINK_FORWARD_BATCH_BYTES_MAX,
         .help = "The forward sink sends at most this many bytes in one send.",
         FIELD(batch_bytes)},
        {.name = "--forward-framing",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_SINK,
         .metavar = "FRAMING",
         .def = "lines",
         .choices = framing_names,
         .help = "How the forward sink frames what it sends: lines (payload and LF; a "
                 "payload holding an LF arrives split, so sluiced warns at start when a "
                 "listener is not lines) or len32 (4-byte big-endian length, payload).",
         FIELD(framing)},
};

const struct slc_sink_desc slc_sink_forward_desc = {
        .name = "forward",
        .scheme = "forward:",
        .syntax = "forward:HOST:PORT",
        .help = "forward: TCP to HOST:PORT (HOST a name, IPv4 or [IPv6]; PORT 1..65535).",
        .parse_spec = forward_parse_spec,
        .format = forward_format,
        .flags = flags,
        .nflags = sizeof(flags) / sizeof(flags[0]),
        .settings_size = sizeof(struct slc_sink_forward_settings),
};
