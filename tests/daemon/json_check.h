/* SPDX-License-Identifier: MIT */
/* json_check.h: a strict little JSON validator and a path lookup, for the tests' documents. */
#ifndef SLC_TESTS_JSON_CHECK_H
#define SLC_TESTS_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * NULL when s is one JSON value (RFC 8259: objects, arrays, strings with their escapes,
 * numbers, true, false, null; white space around) and nothing after it, else why not, with
 * the offset. Strings must be valid UTF-8 and hold no raw control character.
 */
const char *json_error(const char *s);

/*
 * The raw text of the value at path in the valid document s into out (cap bytes,
 * NUL-terminated): path is dot-separated object keys and array indexes, "pools.1.weight";
 * a string comes with its quotes and escapes. false when there is no such value (or out is
 * too small).
 */
bool json_get(const char *s, const char *path, char *out, size_t cap);

#endif /* SLC_TESTS_JSON_CHECK_H */
