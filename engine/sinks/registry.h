/* SPDX-License-Identifier: MIT */
/* registry.h: every sink, one line each, found by the scheme of its --sink value. */
#ifndef SLC_ENGINE_SINKS_REGISTRY_H
#define SLC_ENGINE_SINKS_REGISTRY_H

#include <stddef.h>

#include "sink.h"

/*
 * The sinks, in the order --help and docs/flags.md list them and their flags. Adding a
 * sink is its file(s) and one line here: X(slc_sink_NAME) names its desc
 * slc_sink_NAME_desc (libc only: what the flag parser links) and its ops
 * slc_sink_NAME_ops (the sink itself). The two lists are two targets: slc_sink_descs
 * (registry_desc.c, the descs) and the engine (registry.c, the ops), so that the flag
 * parser and its fuzzer link no sink library (librdkafka, libdl).
 */
#define SLC_SINK_REGISTRY(X) \
	X(slc_sink_null)     \
	X(slc_sink_file)     \
	X(slc_sink_forward)  \
	X(slc_sink_kafka)    \
	X(slc_sink_plugin)

/* The descs, in registry order; *n gets their count (registry_desc.c). */
const struct slc_sink_desc *const *slc_sink_descs(size_t *n);

/*
 * The desc whose scheme starts text ("null" must be all of it), and in *arg what follows
 * the scheme; NULL when none does. Pure; any thread.
 */
const struct slc_sink_desc *slc_sink_desc_find(const char *text, const char **arg);

/*
 * Parses a whole --sink value into *out: the scheme through slc_sink_desc_find, then the
 * sink's parse_spec. Returns 0, or -EINVAL with *why a static phrase ("unknown kind",
 * "nothing after the kind", "too long", or the sink's own).
 */
int slc_sink_spec_parse(const char *text, struct slc_sink_spec *out, const char **why);

/* The known values, "null, file:DIR, ... or plugin:PATH.so[?ARG]", into buf[len]
 * (cut short, NUL-terminated, if it does not fit). */
void slc_sink_syntaxes(char *buf, size_t len);

/* The ops of a desc (registry.c, in the engine); NULL when desc is not registered. */
const struct slc_sink_ops *slc_sink_ops_of(const struct slc_sink_desc *desc);

/*
 * The ops for a --sink value by its scheme; NULL with "unknown sink \"x\"; known: null,
 * file:DIR, ..." in msg[len] when no sink has that scheme (registry.c).
 */
const struct slc_sink_ops *slc_sink_lookup(const char *text, char *msg, size_t len);

#endif /* SLC_ENGINE_SINKS_REGISTRY_H */
