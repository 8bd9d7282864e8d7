/* SPDX-License-Identifier: MIT */
/* json_check.c: a strict little JSON validator and a path lookup (json_check.h). */
#include "json_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX 64

struct parser {
	const char *s, *p;
	char why[160];
};

static bool
fail(struct parser *x, const char *what)
{
	if (x->why[0] == '\0')
		snprintf(x->why, sizeof(x->why), "%s at offset %zu", what, (size_t)(x->p - x->s));
	return false;
}

static void
ws(struct parser *x)
{
	while (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r')
		x->p++;
}

/* One UTF-8 sequence (no overlong forms, no surrogates, at most U+10FFFF). */
static bool
utf8(struct parser *x)
{
	const unsigned char *u = (const unsigned char *)x->p;
	unsigned n = u[0] >= 0xf0 ? 3 : u[0] >= 0xe0 ? 2 : 1;
	unsigned long cp = u[0] & (0x3f >> n);

	if (u[0] < 0xc2 || u[0] > 0xf4)
		return fail(x, "a byte that is not UTF-8");
	for (unsigned i = 1; i <= n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return fail(x, "a cut UTF-8 sequence");
		cp = cp << 6 | (u[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return fail(x, "an overlong or invalid UTF-8 sequence");
	x->p += n + 1;
	return true;
}

static bool
string(struct parser *x)
{
	x->p++; /* the opening quote */
	for (;;) {
		unsigned char c = (unsigned char)*x->p;

		if (c == '"') {
			x->p++;
			return true;
		}
		if (c == '\0')
			return fail(x, "an unterminated string");
		if (c < 0x20)
			return fail(x, "a raw control character in a string");
		if (c >= 0x80) {
			if (!utf8(x))
				return false;
			continue;
		}
		if (c == '\\') {
			x->p++;
			if (*x->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (strchr("0123456789abcdefABCDEF", x->p[i]) == NULL ||
					    x->p[i] == '\0')
						return fail(x, "a bad \\u escape");
				x->p += 5;
				continue;
			}
			if (*x->p == '\0' || strchr("\"\\/bfnrt", *x->p) == NULL)
				return fail(x, "a bad escape");
		}
		x->p++;
	}
}

static bool
digits(struct parser *x)
{
	if (*x->p < '0' || *x->p > '9')
		return fail(x, "a number without digits");
	while (*x->p >= '0' && *x->p <= '9')
		x->p++;
	return true;
}

static bool
number(struct parser *x)
{
	if (*x->p == '-')
		x->p++;
	if (*x->p == '0' && x->p[1] >= '0' && x->p[1] <= '9')
		return fail(x, "a number with a leading zero");
	if (!digits(x))
		return false;
	if (*x->p == '.') {
		x->p++;
		if (!digits(x))
			return false;
	}
	if (*x->p == 'e' || *x->p == 'E') {
		x->p++;
		if (*x->p == '+' || *x->p == '-')
			x->p++;
		if (!digits(x))
			return false;
	}
	return true;
}

static bool value(struct parser *x, int depth);

/* An object or an array: close is '}' or ']'. */
static bool
container(struct parser *x, int depth, char close)
{
	x->p++;
	ws(x);
	if (*x->p == close) {
		x->p++;
		return true;
	}
	for (;;) {
		ws(x);
		if (close == '}') {
			if (*x->p != '"')
				return fail(x, "an object key that is not a string");
			if (!string(x))
				return false;
			ws(x);
			if (*x->p != ':')
				return fail(x, "no ':' after a key");
			x->p++;
		}
		if (!value(x, depth + 1))
			return false;
		ws(x);
		if (*x->p == close) {
			x->p++;
			return true;
		}
		if (*x->p != ',')
			return fail(x, "no ',' between members");
		x->p++;
	}
}

static bool
value(struct parser *x, int depth)
{
	static const char *const words[] = {"true", "false", "null"};

	if (depth > DEPTH_MAX)
		return fail(x, "nesting too deep");
	ws(x);
	switch (*x->p) {
	case '{':
		return container(x, depth, '}');
	case '[':
		return container(x, depth, ']');
	case '"':
		return string(x);
	default:
		break;
	}
	for (int i = 0; i < 3; i++)
		if (strncmp(x->p, words[i], strlen(words[i])) == 0) {
			x->p += strlen(words[i]);
			return true;
		}
	if (*x->p == '-' || (*x->p >= '0' && *x->p <= '9'))
		return number(x);
	return fail(x, "no value");
}

const char *
json_error(const char *s)
{
	static __thread struct parser x;

	memset(&x, 0, sizeof(x));
	x.s = x.p = s;
	if (!value(&x, 0))
		return x.why;
	ws(&x);
	if (*x.p != '\0') {
		fail(&x, "text after the value");
		return x.why;
	}
	return NULL;
}

bool
json_get(const char *s, const char *path, char *out, size_t cap)
{
	struct parser x = {.s = s, .p = s};
	const char *seg = path;

	for (;;) {
		size_t n = strcspn(seg, ".");

		ws(&x);
		if (n == 0) {
			const char *start = x.p;

			if (!value(&x, 0) || (size_t)(x.p - start) >= cap)
				return false;
			snprintf(out, cap, "%.*s", (int)(x.p - start), start);
			return true;
		}
		if (*x.p == '{') {
			bool found = false;

			x.p++;
			ws(&x);
			while (!found && *x.p == '"') {
				const char *k = x.p + 1;

				if (!string(&x))
					return false;
				found = (size_t)(x.p - 1 - k) == n && strncmp(k, seg, n) == 0;
				ws(&x);
				x.p++; /* ':' */
				ws(&x);
				if (found)
					break;
				if (!value(&x, 0))
					return false;
				ws(&x);
				if (*x.p == ',')
					x.p++;
				ws(&x);
			}
			if (!found)
				return false;
		} else if (*x.p == '[') {
			long want = strtol(seg, NULL, 10);

			x.p++;
			for (long i = 0; i < want; i++) {
				ws(&x);
				if (*x.p == ']' || !value(&x, 0))
					return false;
				ws(&x);
				if (*x.p != ',')
					return false;
				x.p++;
			}
			ws(&x);
			if (*x.p == ']')
				return false;
		} else {
			return false;
		}
		seg += n;
		if (*seg == '.')
			seg++;
	}
}
