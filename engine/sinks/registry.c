/* SPDX-License-Identifier: MIT */
/* registry.c: the sinks' ops (registry.h), found by desc or by the scheme of a --sink value. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

#define OPS_DECLARE(p) extern const struct slc_sink_ops p##_ops;
#define OPS_ENTRY(p)   &p##_ops,
SLC_SINK_REGISTRY(OPS_DECLARE)

static const struct slc_sink_ops *const ops[] = {SLC_SINK_REGISTRY(OPS_ENTRY)};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

const struct slc_sink_ops *
slc_sink_ops_of(const struct slc_sink_desc *desc)
{
	for (size_t i = 0; i < NOPS; i++)
		if (ops[i]->desc == desc)
			return ops[i];
	return NULL;
}

const struct slc_sink_ops *
slc_sink_lookup(const char *text, char *msg, size_t len)
{
	const char *arg;
	const struct slc_sink_desc *d = slc_sink_desc_find(text, &arg);
	const struct slc_sink_ops *o = d != NULL ? slc_sink_ops_of(d) : NULL;
	char known[512];

	if (o != NULL)
		return o;
	slc_sink_syntaxes(known, sizeof(known));
	snprintf(msg, len, "unknown sink \"%s\"; known: %s", text, known);
	return NULL;
}
