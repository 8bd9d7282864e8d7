/* SPDX-License-Identifier: MIT */
/* registry_desc.c: the sinks' descs (registry.h), and --sink values parsed through them. */
#include "registry.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define DESC_DECLARE(p) extern const struct slc_sink_desc p##_desc;
#define DESC_ENTRY(p)   &p##_desc,
SLC_SINK_REGISTRY(DESC_DECLARE)

static const struct slc_sink_desc *const descs[] = {SLC_SINK_REGISTRY(DESC_ENTRY)};

#define NDESCS (sizeof(descs) / sizeof(descs[0]))

const struct slc_sink_desc *const *
slc_sink_descs(size_t *n)
{
	*n = NDESCS;
	return descs;
}

/* A scheme that ends in ':' or '/' takes an argument; one that does not ("null") is the
 * whole value. */
static bool
scheme_takes_arg(const char *scheme)
{
	size_t n = strlen(scheme);

	return n > 0 && (scheme[n - 1] == ':' || scheme[n - 1] == '/');
}

const struct slc_sink_desc *
slc_sink_desc_find(const char *text, const char **arg)
{
	for (size_t i = 0; i < NDESCS; i++) {
		const char *s = descs[i]->scheme;
		size_t n = strlen(s);

		if (scheme_takes_arg(s) ? strncmp(text, s, n) != 0 : strcmp(text, s) != 0)
			continue;
		*arg = text + n;
		return descs[i];
	}
	return NULL;
}

int
slc_sink_spec_parse(const char *text, struct slc_sink_spec *out, const char **why)
{
	const struct slc_sink_desc *d;
	const char *arg = NULL;
	size_t n;

	memset(out, 0, sizeof(*out));
	d = slc_sink_desc_find(text, &arg);
	if (d == NULL) {
		/* "kafka:host" for "kafka://host": say what the sink's scheme is. */
		*why = "unknown kind";
		for (size_t i = 0; i < NDESCS; i++) {
			size_t nn = strlen(descs[i]->name);

			if (strncmp(text, descs[i]->name, nn) == 0 && text[nn] == ':' &&
			    descs[i]->unknown_hint != NULL)
				*why = descs[i]->unknown_hint;
		}
		return -EINVAL;
	}
	out->desc = d;
	if (!scheme_takes_arg(d->scheme))
		return 0;
	n = strlen(arg);
	if (n == 0) {
		*why = "nothing after the kind";
		return -EINVAL;
	}
	if (n >= sizeof(out->arg)) {
		*why = "too long";
		return -EINVAL;
	}
	if (d->parse_spec != NULL)
		return d->parse_spec(arg, out, why);
	memcpy(out->arg, arg, n + 1);
	return 0;
}

void
slc_sink_syntaxes(char *buf, size_t len)
{
	size_t pos = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < NDESCS && pos < len; i++) {
		const char *sep = i == 0 ? "" : i + 1 == NDESCS ? " or " : ", ";
		int w = snprintf(buf + pos, len - pos, "%s%s", sep, descs[i]->syntax);

		if (w < 0)
			return;
		pos += (size_t)w;
	}
}
