/* SPDX-License-Identifier: MIT */
/* cat_json.c: sluice-cat --json (cat_json.h). */
#include "cat_json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "forward.h"           /* framing=forward entries */
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

/* ---- framing=forward: an entry's msgpack as JSON ------------------------------------- */

#define MP_DEPTH_MAX 64u

static uint64_t
be_read(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned k = 0; k < n; k++)
		v = v << 8 | p[k];
	return v;
}

/* A str or bin's bytes as a JSON string (base64 when they are not UTF-8, or a bin). */
static void
put_text(FILE *f, const uint8_t *p, uint32_t n, bool bin)
{
	if (!bin && utf8_ok(p, n))
		put_str(f, p, n);
	else
		put_b64(f, p, n);
}

static uint32_t mp_json(FILE *f, const uint8_t *p, uint32_t n, unsigned depth);

/* n objects (a map's 2n: keys as strings) from p; the bytes read, 0 if malformed. */
static uint32_t
mp_json_items(FILE *f, const uint8_t *p, uint32_t len, uint64_t n, bool map, unsigned depth)
{
	uint32_t at = 0;

	putc(map ? '{' : '[', f);
	for (uint64_t k = 0; k < n; k++) {
		uint32_t used;

		if (k != 0)
			putc(',', f);
		if (map) {
			uint8_t b = at < len ? p[at] : 0xc1;

			/* JSON keys are strings: a str as it is, anything else as its JSON. */
			if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb) {
				used = mp_json(f, p + at, len - at, depth + 1);
			} else {
				putc('"', f);
				used = slc_forward_object_len(p + at, len - at);
				fputs("key", f);
				putc('"', f);
			}
			if (used == 0)
				return 0;
			at += used;
			putc(':', f);
		}
		used = mp_json(f, p + at, len - at, depth + 1);
		if (used == 0)
			return 0;
		at += used;
	}
	putc(map ? '}' : ']', f);
	return at;
}

/* One msgpack object at p (len bytes) as JSON; the bytes it took, 0 if malformed. Nested
 * deeper than MP_DEPTH_MAX, an object is written as null. */
static uint32_t
mp_json(FILE *f, const uint8_t *p, uint32_t len, unsigned depth)
{
	static const uint8_t w[4] = {1, 2, 4, 8};
	uint8_t b = len != 0 ? p[0] : 0xc1;
	uint32_t hl = 1, n, used;
	union {
		uint32_t u;
		float f;
	} f32;
	union {
		uint64_t u;
		double d;
	} f64;

	if (len == 0 || depth > MP_DEPTH_MAX) {
		used = slc_forward_object_len(p, len);
		fputs("null", f);
		return used;
	}
	if (b <= 0x7f) {
		fprintf(f, "%u", b);
		return 1;
	}
	if (b >= 0xe0) {
		fprintf(f, "%d", (int8_t)b);
		return 1;
	}
	if (b <= 0x9f) {
		used = mp_json_items(f, p + 1, len - 1, b & 0x0fu, b <= 0x8f, depth);
		return used == 0 && (b & 0x0f) != 0 ? 0 : used + 1;
	}
	if (b <= 0xbf) {
		n = b & 0x1fu;
		if (len < 1 + n)
			return 0;
		put_text(f, p + 1, n, false);
		return 1 + n;
	}
	switch (b) {
	case 0xc0:
		fputs("null", f);
		return 1;
	case 0xc2:
		fputs("false", f);
		return 1;
	case 0xc3:
		fputs("true", f);
		return 1;
	case 0xca:
		if (len < 5)
			return 0;
		f32.u = (uint32_t)be_read(p + 1, 4);
		fprintf(f, "%.9g", (double)f32.f);
		return 5;
	case 0xcb:
		if (len < 9)
			return 0;
		f64.u = be_read(p + 1, 8);
		fprintf(f, "%.17g", f64.d);
		return 9;
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf:
		hl = 1u + w[b - 0xcc];
		if (len < hl)
			return 0;
		fprintf(f, "%llu", (unsigned long long)be_read(p + 1, hl - 1));
		return hl;
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3: {
		uint64_t v;

		hl = 1u + w[b - 0xd0];
		if (len < hl)
			return 0;
		v = be_read(p + 1, hl - 1);
		if (hl - 1 < 8 && (v >> (8 * (hl - 1) - 1)))
			v |= ~0ull << (8 * (hl - 1)); /* sign-extend */
		fprintf(f, "%lld", (long long)v);
		return hl;
	}
	default:
		break;
	}
	used = slc_forward_object_len(p, len);
	if (used == 0)
		return 0;
	if (b == 0xd9 || b == 0xda || b == 0xdb || b == 0xc4 || b == 0xc5 || b == 0xc6) {
		/* str8/16/32 and bin8/16/32: a length of 1, 2 or 4 bytes */
		unsigned lb = b >= 0xd9 ? w[b - 0xd9] : w[b - 0xc4];

		put_text(f, p + 1 + lb, used - 1 - lb, b <= 0xc6);
		return used;
	}
	if (b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf) {
		unsigned lb = b == 0xdc || b == 0xde ? 2 : 4;
		uint64_t items = be_read(p + 1, lb);

		if (mp_json_items(f, p + 1 + lb, len - 1 - lb, items, b >= 0xde, depth) == 0 &&
		    items != 0)
			return 0;
		return used;
	}
	/* ext: fixext 1..16 (0xd4..0xd8), ext8/16/32 (0xc7..0xc9): its type and bytes */
	hl = b >= 0xd4 ? 2 : 2u + (b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4);
	fprintf(f, "{\"ext\":%d,\"b64\":", (int8_t)p[hl - 1]);
	put_b64(f, p + hl, used - hl);
	putc('}', f);
	return used;
}

/* ,"forward":{"time":SEC.NNNNNNNNN,"record":{...}} for a payload that reads as an entry. */
static void
put_forward(FILE *f, const uint8_t *payload, uint32_t len)
{
	struct slc_forward_entry e;

	if (slc_forward_entry_decode(payload, len, &e) != 0)
		return;
	fprintf(f, ",\"forward\":{\"time\":%llu.%09u,\"record\":", (unsigned long long)e.sec,
	        e.nsec);
	if (mp_json(f, e.record, e.record_len, 0) == 0)
		fputs("null", f);
	putc('}', f);
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
	put_forward(f, payload, payload_len);
	fputs("}\n", f);
	return ferror(f) ? -EIO : 0;
}
