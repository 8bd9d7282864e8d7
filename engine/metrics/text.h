/* SPDX-License-Identifier: MIT */
/* text.h: a growing text buffer for the status page and its JSON, with their escapes. */
#ifndef SLC_ENGINE_METRICS_TEXT_H
#define SLC_ENGINE_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/compiler.h"

/*
 * What a status callback (server.h) writes into: text that grows with malloc (the metrics
 * thread's, never the hot path), reused from one request to the next. Running out of
 * memory sticks: every later call returns -ENOMEM until the next reset, and the server
 * answers 500, so a page is never served cut short.
 */
struct slc_metrics_text;

/* Returns NULL with *err = -ENOMEM. */
struct slc_metrics_text *slc_metrics_text_create(int *err);
/* Accepts NULL. */
void slc_metrics_text_destroy(struct slc_metrics_text *t);
/* Empties the text and clears -ENOMEM; keeps the memory. */
void slc_metrics_text_reset(struct slc_metrics_text *t);
/* The text, NUL-terminated; *len (may be NULL) its length. Valid until the next call on t. */
const char *slc_metrics_text_str(const struct slc_metrics_text *t, size_t *len);
/* true once the text could not grow: it is incomplete. */
bool slc_metrics_text_oom(const struct slc_metrics_text *t);

/* Appends, printf-style. 0 or -ENOMEM. */
int slc_metrics_text_printf(struct slc_metrics_text *t, const char *fmt, ...) SLC_PRINTF(2, 3);

/*
 * Appends the n bytes of s as a JSON string, quotes included: '"', '\\' and control
 * characters escaped, and every byte above 0x7f written as \u00XX (the byte read as
 * Latin-1), so that whatever bytes a key or a path holds, the document stays valid
 * UTF-8 JSON. 0 or -ENOMEM.
 */
int slc_metrics_text_json_str(struct slc_metrics_text *t, const char *s, size_t n);

/* Appends s with &, <, >, " and ' written as HTML entities. 0 or -ENOMEM. */
int slc_metrics_text_html(struct slc_metrics_text *t, const char *s);

#endif /* SLC_ENGINE_METRICS_TEXT_H */
