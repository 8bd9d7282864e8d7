/* SPDX-License-Identifier: MIT */
/* cat_json.c: sluice-cat --json (cat_json.h). */
#include "cat_json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "sinks/dead_letter.h" /* SLC_DEAD_LETTER_MAGIC */

/* True when p[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF): what a JSON string may carry as it is. */
static bool
utf8_ok(const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n;) {
		uint8_t c = p[i];
		uint32_t len, cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (uint32_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}

static void
put_str(FILE *f, const uint8_t *p, uint32_t n)
{
	putc('"', f);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

static void
put_b64(FILE *f, const uint8_t *p, uint32_t n)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	putc('"', f);
	for (uint32_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		putc(tab[v >> 18 & 63], f);
		putc(tab[v >> 12 & 63], f);
		putc(i + 1 < n ? tab[v >> 6 & 63] : '=', f);
		putc(i + 2 < n ? tab[v & 63] : '=', f);
	}
	putc('"', f);
}

/* ,"name":"..." or ,"name_b64":"..." */
static void
put_field(FILE *f, const char *name, const uint8_t *p, uint32_t n)
{
	if (utf8_ok(p, n)) {
		fprintf(f, ",\"%s\":", name);
		put_str(f, p, n);
	} else {
		fprintf(f, ",\"%s_b64\":", name);
		put_b64(f, p, n);
	}
}

/* The envelope's NAME=VALUE words (values have no spaces) as fields. */
static void
put_envelope(FILE *f, const uint8_t *key, uint32_t key_len)
{
	size_t magic = strlen(SLC_DEAD_LETTER_MAGIC);
	uint32_t i = (uint32_t)magic;

	fputs(",\"dead_letter\":true", f);
	while (i < key_len) {
		uint32_t w, eq;

		while (i < key_len && key[i] == ' ')
			i++;
		for (w = i, eq = 0; w < key_len && key[w] != ' '; w++)
			if (eq == 0 && key[w] == '=')
				eq = w;
		if (eq > i) {
			putc(',', f);
			put_str(f, key + i, eq - i);
			putc(':', f);
			put_str(f, key + eq + 1, w - eq - 1);
		}
		i = w;
	}
}

int
slc_cat_json_record(FILE *f, uint32_t worker, uint64_t seq, uint64_t offset, const uint8_t *key,
                    uint32_t key_len, const uint8_t *payload, uint32_t payload_len)
{
	size_t magic = strlen(SLC_DEAD_LETTER_MAGIC);

	fprintf(f, "{\"worker\":%u,\"seq\":%llu,\"offset\":%llu", worker, (unsigned long long)seq,
	        (unsigned long long)offset);
	if (key_len != 0)
		put_field(f, "key", key, key_len);
	if (key_len > magic && memcmp(key, SLC_DEAD_LETTER_MAGIC, magic) == 0 &&
	    key[magic] == ' ' && utf8_ok(key, key_len))
		put_envelope(f, key, key_len);
	put_field(f, "payload", payload, payload_len);
	fputs("}\n", f);
	return ferror(f) ? -EIO : 0;
}
