/* SPDX-License-Identifier: MIT */
/* text.c: the status page's growing text buffer and its JSON and HTML escapes. */
#include "text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slc_metrics_text {
	char *p;
	size_t len, cap; /* p[len] is '\0' while cap > 0 */
	bool oom;
};

struct slc_metrics_text *
slc_metrics_text_create(int *err)
{
	struct slc_metrics_text *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	return t;
}

void
slc_metrics_text_destroy(struct slc_metrics_text *t)
{
	if (t == NULL)
		return;
	free(t->p);
	free(t);
}

void
slc_metrics_text_reset(struct slc_metrics_text *t)
{
	t->len = 0;
	t->oom = false;
	if (t->cap > 0)
		t->p[0] = '\0';
}

const char *
slc_metrics_text_str(const struct slc_metrics_text *t, size_t *len)
{
	if (len != NULL)
		*len = t->len;
	return t->cap > 0 ? t->p : "";
}

bool
slc_metrics_text_oom(const struct slc_metrics_text *t)
{
	return t->oom;
}

/* Room for n more bytes and the NUL. */
static int
reserve(struct slc_metrics_text *t, size_t n)
{
	size_t cap = t->cap > 0 ? t->cap : 4096;
	char *p;

	if (t->oom)
		return -ENOMEM;
	if (t->len + n + 1 <= t->cap)
		return 0;
	while (cap < t->len + n + 1)
		cap *= 2;
	p = realloc(t->p, cap);
	if (p == NULL) {
		t->oom = true;
		return -ENOMEM;
	}
	t->p = p;
	t->cap = cap;
	return 0;
}

static int
append(struct slc_metrics_text *t, const char *s, size_t n)
{
	if (reserve(t, n) != 0)
		return -ENOMEM;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
	return 0;
}

int
slc_metrics_text_printf(struct slc_metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(t, (size_t)n) != 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
	return 0;
}

int
slc_metrics_text_json_str(struct slc_metrics_text *t, const char *s, size_t n)
{
	int rc = append(t, "\"", 1);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			rc = slc_metrics_text_printf(t, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			rc = slc_metrics_text_printf(t, "\\u%04x", c);
		else
			rc = append(t, (const char *)&s[i], 1);
	}
	return rc == 0 ? append(t, "\"", 1) : rc;
}

int
slc_metrics_text_html(struct slc_metrics_text *t, const char *s)
{
	int rc = 0;

	for (; rc == 0 && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			rc = append(t, "&amp;", 5);
			break;
		case '<':
			rc = append(t, "&lt;", 4);
			break;
		case '>':
			rc = append(t, "&gt;", 4);
			break;
		case '"':
			rc = append(t, "&quot;", 6);
			break;
		case '\'':
			rc = append(t, "&#39;", 5);
			break;
		default:
			rc = append(t, s, 1);
		}
	}
	return rc;
}
