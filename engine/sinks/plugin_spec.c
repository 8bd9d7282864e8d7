/* SPDX-License-Identifier: MIT */
/* plugin_spec.c: what the flag parser knows of the plugin sink (--sink plugin:PATH.so[?ARG]). */
#include "plugin.h"

#include <errno.h>
#include <string.h>

/* PATH.so[?ARG]: the argument after ? is the plugin's own, passed on whole. */
static int
plugin_parse_spec(const char *arg, struct slc_sink_spec *out, const char **why)
{
	const char *q = strchr(arg, '?');
	size_t n = strlen(arg), pn = q != NULL ? (size_t)(q - arg) : n;

	if (pn <= 3 || strncmp(arg + pn - 3, ".so", 3) != 0) {
		*why = "the plugin's path does not end in .so";
		return -EINVAL;
	}
	memcpy(out->arg, arg, n + 1);
	return 0;
}

const struct slc_sink_desc slc_sink_plugin_desc = {
        .name = "plugin",
        .scheme = "plugin:",
        .syntax = "plugin:PATH.so[?ARG]",
        .help = "plugin: a shared object implementing engine/sinks/sluice_plugin.h.",
        .parse_spec = plugin_parse_spec,
};
