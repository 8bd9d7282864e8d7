/* SPDX-License-Identifier: MIT */
/* fuzz_key.c: libFuzzer target: the --key parser and slc_key_extract, against references. */
/*
 * The first byte picks a mode (its low two bits):
 *   0, 1  raw: the --key value is the bytes up to the first NUL, the message what follows
 *         (no NUL: only the parser runs). The value goes through slc_key_spec_parse and a
 *         reference reading of key.h's grammar; the message through slc_key_extract.
 *   2     json: a valid JSON object built from the input (nested values, escapes, names
 *         that almost match), then cut at a point the input picks.
 *   3     syslog: an RFC 5424 or RFC 3164 message built from the input, cut likewise.
 * What is checked, besides ASan and UBSan (every message sits at the end of a block of
 * exactly its size, so a read past len is a report):
 *   - the parser: the status is 0 or -EINVAL and agrees with the reference, a parsed spec
 *     holds what the value says, an error is "--key ..." cut to err_len and NUL-terminated,
 *     out is left alone on an error, and err NULL with err_len 0 is allowed;
 *   - extraction: the status is 0, -ENOENT or (len32 only) -EBADMSG; a key lies inside the
 *     message and is never empty; none, len32, field and prefix equal a slow reference;
 *     json and syslog keys equal what the built message holds (modes 2 and 3), and, in
 *     every mode, a key found is found again, the same, in the message cut just past it
 *     (key.h: "the line is read only up to it"; a key's end is a delimiter or the end).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference readings and the checks follow the library's branches: their own edges
 * would grow the corpus without guiding the fuzzer anywhere new. */
#define NOCOV __attribute__((no_sanitize("coverage")))

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...);

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz_key: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- the reference readings ---- */

/* key.h's grammar of --key values, read without key.c's code: 0 and *out, or -EINVAL. */
NOCOV static int
ref_spec(const char *t, struct slc_key_spec *out)
{
	size_t n = strlen(t);

	memset(out, 0, sizeof(*out));
	if (strcmp(t, "none") == 0) {
		out->kind = SLC_KEY_NONE;
		return 0;
	}
	if (strcmp(t, "len32") == 0) {
		out->kind = SLC_KEY_LEN32;
		return 0;
	}
	if (strcmp(t, "syslog:hostname") == 0) {
		out->kind = SLC_KEY_SYSLOG_HOSTNAME;
		return 0;
	}
	if (strcmp(t, "syslog:appname") == 0) {
		out->kind = SLC_KEY_SYSLOG_APPNAME;
		return 0;
	}
	if (n > 6 && memcmp(t, "field:", 6) == 0) {
		uint64_t v = 0;

		for (size_t i = 6; i < n; i++) {
			if (t[i] < '0' || t[i] > '9')
				return -EINVAL;
			v = v * 10 + (uint64_t)(t[i] - '0');
			if (v > 1000)
				v = 1000; /* saturate: only 1..255 matters */
		}
		if (v < 1 || v > SLC_KEY_FIELD_MAX)
			return -EINVAL;
		out->kind = SLC_KEY_FIELD;
		out->field = (uint32_t)v;
		return 0;
	}
	if (n >= 7 && memcmp(t, "prefix:", 7) == 0) {
		static const char esc[] = "tnrs\\";
		static const char val[] = "\t\n\r \\";
		uint32_t k = 0;

		for (size_t i = 7; i < n; i++) {
			uint8_t b = (uint8_t)t[i];

			if (b == '\\') {
				const char *e;

				if (i + 1 == n)
					return -EINVAL;
				if (t[i + 1] == 'x') {
					unsigned int v;
					char hex[3] = {0};

					if (i + 3 >= n || !isxdigit((unsigned char)t[i + 2]) ||
					    !isxdigit((unsigned char)t[i + 3]))
						return -EINVAL;
					memcpy(hex, t + i + 2, 2);
					if (sscanf(hex, "%2x", &v) != 1)
						return -EINVAL;
					b = (uint8_t)v;
					i += 3;
				} else {
					e = t[i + 1] != '\0' ? strchr(esc, t[i + 1]) : NULL;
					if (e == NULL)
						return -EINVAL;
					b = (uint8_t)val[e - esc];
					i++;
				}
			}
			if (k == SLC_KEY_DELIM_MAX)
				return -EINVAL;
			out->delim[k++] = b;
		}
		if (k == 0)
			return -EINVAL;
		out->kind = SLC_KEY_PREFIX;
		out->delim_len = k;
		return 0;
	}
	if (n >= 5 && memcmp(t, "json:", 5) == 0) {
		if (n == 5 || n - 5 > SLC_KEY_NAME_MAX)
			return -EINVAL;
		for (size_t i = 5; i < n; i++)
			if (t[i] == '"' || t[i] == '\\' || (uint8_t)t[i] < 0x20)
				return -EINVAL;
		out->kind = SLC_KEY_JSON;
		out->name_len = (uint32_t)(n - 5);
		memcpy(out->name, t + 5, n - 5);
		return 0;
	}
	if (n >= 5 && memcmp(t, "otlp:", 5) == 0) {
		if (n == 5 || n - 5 > SLC_KEY_NAME_MAX)
			return -EINVAL;
		for (size_t i = 5; i < n; i++)
			if ((uint8_t)t[i] < 0x20 || (uint8_t)t[i] == 0x7f)
				return -EINVAL;
		out->kind = SLC_KEY_OTLP;
		out->name_len = (uint32_t)(n - 5);
		memcpy(out->name, t + 5, n - 5);
		return 0;
	}
	if (n == 11 && memcmp(t, "forward:tag", 11) == 0) {
		out->kind = SLC_KEY_FORWARD_TAG;
		return 0;
	}
	return -EINVAL;
}

NOCOV static bool
spec_same(const struct slc_key_spec *a, const struct slc_key_spec *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case SLC_KEY_FIELD:
		return a->field == b->field;
	case SLC_KEY_PREFIX:
		return a->delim_len == b->delim_len &&
		       memcmp(a->delim, b->delim, a->delim_len) == 0;
	case SLC_KEY_JSON:
	case SLC_KEY_OTLP:
		return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
	default:
		return true;
	}
}

NOCOV static void
check_spec_parse(const char *text)
{
	static const size_t err_lens[] = {1, 2, 7, 40, 256};
	struct slc_key_spec got, want, guard;
	char err[257];
	int rc = slc_key_spec_parse(text, &got, err, sizeof(err) - 1);
	int ref = ref_spec(text, &want);

	if (rc != 0 && rc != -EINVAL)
		fail("parse of \"%s\": status %d", text, rc);
	if (rc != ref)
		fail("parse of \"%s\": status %d, the reference says %d", text, rc, ref);
	if (rc == 0 && !spec_same(&got, &want))
		fail("parse of \"%s\": the spec differs from the reference", text);
	if (slc_key_spec_parse(text, &guard, NULL, 0) != rc)
		fail("parse of \"%s\": another status with err NULL", text);
	if (rc == 0)
		return;
	if (memchr(err, '\0', sizeof(err) - 1) == NULL || strncmp(err, "--key ", 6) != 0)
		fail("parse of \"%s\": error \"%.80s\" is not \"--key ...\"", text, err);
	/* Shorter err buffers: cut, terminated, nothing written past err_len; out untouched. */
	for (size_t i = 0; i < sizeof(err_lens) / sizeof(err_lens[0]); i++) {
		size_t n = err_lens[i];

		memset(err, 'Z', sizeof(err));
		memset(&guard, 0xa5, sizeof(guard));
		got = guard;
		if (slc_key_spec_parse(text, &got, err, n) != rc)
			fail("parse of \"%s\": another status with err_len %zu", text, n);
		if (memcmp(&got, &guard, sizeof(got)) != 0)
			fail("parse of \"%s\": out changed on an error", text);
		if (memchr(err, '\0', n) == NULL || err[n] != 'Z')
			fail("parse of \"%s\": err_len %zu not kept", text, n);
		if (strncmp(err, "--key ", n - 1 < 6 ? n - 1 : 6) != 0)
			fail("parse of \"%s\": cut error \"%s\"", text, err);
	}
}

/* Reference extraction for the kinds key.h defines exactly; false for json and syslog. */
NOCOV static bool
ref_extract(const struct slc_key_spec *s, const uint8_t *d, uint32_t len, int *rc, uint32_t *off,
            uint32_t *klen)
{
	uint32_t i, n;

	*rc = -ENOENT;
	switch (s->kind) {
	case SLC_KEY_NONE:
		return true;
	case SLC_KEY_LEN32:
		if (len < 2) {
			*rc = -EBADMSG;
			return true;
		}
		n = (uint32_t)d[0] * 256 + d[1];
		if (2 + (uint64_t)n > len)
			*rc = -EBADMSG;
		else if (n != 0)
			*rc = 0, *off = 2, *klen = n;
		return true;
	case SLC_KEY_FIELD:
		/* awk: fields are maximal runs of non-blanks, counted from the left */
		n = 0;
		for (i = 0; i < len; i++) {
			bool blank = d[i] == ' ' || d[i] == '\t';
			bool starts = !blank && (i == 0 || d[i - 1] == ' ' || d[i - 1] == '\t');

			if (starts && ++n == s->field) {
				uint32_t j = i;

				while (j < len && d[j] != ' ' && d[j] != '\t')
					j++;
				*rc = 0, *off = i, *klen = j - i;
				return true;
			}
		}
		return true;
	case SLC_KEY_PREFIX:
		for (i = 0; i + s->delim_len <= len; i++) {
			if (memcmp(d + i, s->delim, s->delim_len) == 0) {
				if (i != 0)
					*rc = 0, *off = 0, *klen = i;
				return true;
			}
		}
		return true;
	case SLC_KEY_OTLP:        /* the key lies outside the message: never found in it */
	case SLC_KEY_FORWARD_TAG: /* the same: the tag is not in the entry's bytes */
		return true;
	default:
		return false;
	}
}

/* ---- running the extraction ---- */

struct result {
	int rc;
	uint32_t off, len;
};

/* slc_key_extract on a copy of d[0 .. len) at the end of a block of exactly len bytes. */
NOCOV static struct result
extract(const struct slc_key_spec *s, const uint8_t *d, uint32_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	const uint8_t *key = NULL;
	uint32_t key_len = 0;
	struct result r = {0};

	if (copy == NULL)
		abort();
	memcpy(copy, d, len);
	r.rc = slc_key_extract(s, len ? copy : NULL, len, &key, &key_len);
	if (r.rc != 0 && r.rc != -ENOENT && (r.rc != -EBADMSG || s->kind != SLC_KEY_LEN32))
		fail("kind %d: status %d", s->kind, r.rc);
	if (r.rc == 0) {
		if (key_len == 0 || key < copy || key_len > len ||
		    (size_t)(key - copy) > len - key_len)
			fail("kind %d: key (%td, %u) outside a message of %u bytes", s->kind,
			     key - copy, key_len, len);
		r.off = (uint32_t)(key - copy);
		r.len = key_len;
	}
	free(copy);
	return r;
}

/* What every mode checks of one message; returns the result. */
NOCOV static struct result
check_extract(const struct slc_key_spec *s, const uint8_t *d, uint32_t len)
{
	struct result r = extract(s, d, len), cut;
	int rrc;
	uint32_t roff = 0, rlen = 0;
	uint32_t end, tail;

	if (ref_extract(s, d, len, &rrc, &roff, &rlen) &&
	    (rrc != r.rc || (rrc == 0 && (roff != r.off || rlen != r.len))))
		fail("kind %d on %u bytes: (%d, %u, %u), the reference says (%d, %u, %u)", s->kind,
		     len, r.rc, r.off, r.len, rrc, roff, rlen);
	if (r.rc != 0)
		return r;
	/* The key and the delimiter after it decide; what follows them does not. */
	tail = s->kind == SLC_KEY_PREFIX ? s->delim_len : 1;
	end = r.off + r.len;
	if (s->kind == SLC_KEY_LEN32 || len - end <= tail)
		return r;
	cut = extract(s, d, end + tail);
	if (cut.rc != 0 || cut.off != r.off || cut.len != r.len)
		fail("kind %d: key (%u, %u) of %u bytes, but (%d, %u, %u) of the first %u", s->kind,
		     r.off, r.len, len, cut.rc, cut.off, cut.len, end + tail);
	return r;
}

/* ---- building messages from the input ---- */

struct src {
	const uint8_t *p;
	size_t n;
};

static uint32_t
take(struct src *s)
{
	if (s->n == 0)
		return 0;
	s->n--;
	return *s->p++;
}

struct out {
	uint8_t buf[4096];
	uint32_t len;
};

static void
put(struct out *o, const void *p, size_t n)
{
	if (n > sizeof(o->buf) - o->len)
		n = sizeof(o->buf) - o->len;
	memcpy(o->buf + o->len, p, n);
	o->len += (uint32_t)n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
json_ws(struct out *o, struct src *s)
{
	static const char *const ws[] = {"", "", "", " ", "\t", "\r\n ", "  "};

	puts_(o, ws[take(s) % 7]);
}

/* A JSON string's inside: raw bytes, escapes, quotes and brackets that must not count. */
static void
json_string_body(struct out *o, struct src *s, uint32_t max)
{
	static const char *const bits[] = {
	        "a", "Z", "0", " ", "\\\"", "\\\\",     "\\n", "\\/",      "\\u00e9", "{",
	        "}", "[", "]", ",", ":",    "\xc3\xa9", "'",   "\\\\\\\"", "x\\u005c"};
	uint32_t n = take(s) % (max + 1);

	for (uint32_t i = 0; i < n; i++)
		puts_(o, bits[take(s) % (sizeof(bits) / sizeof(bits[0]))]);
}

static void json_value(struct out *o, struct src *s, const struct slc_key_spec *k, int depth);

/* A member name: often NAME itself, or something close to it that must not match. */
static void
json_name(struct out *o, struct src *s, const struct slc_key_spec *k, bool *is_name)
{
	uint32_t c = take(s) % 8, start;

	puts_(o, "\"");
	start = o->len;
	switch (c) {
	case 0:
	case 1:
	case 2:
		put(o, k->name, k->name_len);
		break;
	case 3: /* the same name, its first byte escaped: not equal raw */
		put(o, "\\u00", 4);
		{
			char hex[3];

			snprintf(hex, sizeof(hex), "%02x", k->name[0]);
			puts_(o, hex);
		}
		put(o, k->name + 1, k->name_len - 1);
		break;
	case 4:
		put(o, k->name, k->name_len);
		puts_(o, "x");
		break;
	case 5:
		put(o, k->name, k->name_len - 1);
		break;
	case 6:
		puts_(o, "\\\"");
		put(o, k->name, k->name_len);
		break;
	default:
		json_string_body(o, s, 4);
		break;
	}
	/* Raw bytes decide, as in key.h: whatever case built them. */
	*is_name =
	        o->len - start == k->name_len && memcmp(o->buf + start, k->name, k->name_len) == 0;
	puts_(o, "\"");
}

static void
json_object(struct out *o, struct src *s, const struct slc_key_spec *k, int depth)
{
	uint32_t n = take(s) % 5;
	bool is_name;

	puts_(o, "{");
	for (uint32_t i = 0; i < n; i++) {
		if (i > 0)
			puts_(o, ",");
		json_ws(o, s);
		json_name(o, s, k, &is_name);
		json_ws(o, s);
		puts_(o, ":");
		json_ws(o, s);
		json_value(o, s, k, depth + 1);
		json_ws(o, s);
	}
	puts_(o, "}");
}

static void
json_value(struct out *o, struct src *s, const struct slc_key_spec *k, int depth)
{
	static const char *const scalars[] = {"0", "-1.5e3", "true", "false", "null", "123456789"};
	uint32_t c = take(s) % 8;

	if (depth > 3 && c >= 6)
		c = 0;
	switch (c) {
	case 0:
	case 1:
	case 2:
		puts_(o, "\"");
		json_string_body(o, s, 6);
		puts_(o, "\"");
		break;
	case 3:
		/* NAME as a value */
		puts_(o, "\"");
		put(o, k->name, k->name_len);
		puts_(o, "\"");
		break;
	case 4:
	case 5:
		puts_(o, scalars[take(s) % 6]);
		break;
	case 6:
		json_object(o, s, k, depth);
		break;
	default: {
		uint32_t n = take(s) % 4;

		puts_(o, "[");
		for (uint32_t i = 0; i < n; i++) {
			if (i > 0)
				puts_(o, ",");
			json_ws(o, s);
			json_value(o, s, k, depth + 1);
			json_ws(o, s);
		}
		puts_(o, "]");
		break;
	}
	}
}

/*
 * A top-level object; *want: the key (-ENOENT or 0 with off/len) and *want_end, the index
 * just past the closing quote of the value that decides (or 0 when none does).
 */
static void
json_message(struct out *o, struct src *s, const struct slc_key_spec *k, struct result *want,
             uint32_t *decided_at)
{
	uint32_t n = 1 + take(s) % 5;
	bool decided = false;

	want->rc = -ENOENT;
	*decided_at = 0;
	json_ws(o, s);
	puts_(o, "{");
	for (uint32_t i = 0; i < n; i++) {
		bool is_name;
		uint32_t vs;

		if (i > 0)
			puts_(o, ",");
		json_ws(o, s);
		json_name(o, s, k, &is_name);
		json_ws(o, s);
		puts_(o, ":");
		json_ws(o, s);
		vs = o->len;
		json_value(o, s, k, 1);
		if (is_name && !decided && o->len < sizeof(o->buf)) {
			/* The first member named NAME decides: a non-empty string is the key. */
			decided = true;
			*decided_at = o->len;
			if (o->buf[vs] == '"' && o->len - vs > 2) {
				want->rc = 0;
				want->off = vs + 1;
				want->len = o->len - vs - 2;
			}
		}
		json_ws(o, s);
	}
	puts_(o, "}");
	json_ws(o, s);
}

/* A syslog token of 1..8 bytes from an alphabet, or one of the given special ones. */
static void
syslog_word(struct out *o, struct src *s, const char *alphabet, uint32_t min)
{
	uint32_t n = min + take(s) % (9 - min);
	size_t a = strlen(alphabet);

	for (uint32_t i = 0; i < n; i++)
		put(o, &alphabet[take(s) % a], 1);
}

static void
syslog_pri(struct out *o, struct src *s)
{
	static const char *const pri[] = {"", "<34>", "<0>", "<191>", "<13>", ""};

	puts_(o, pri[take(s) % 6]);
}

/* *want: the key; *want_end: the key's end, or 0 when no key. */
static void
syslog_message(struct out *o, struct src *s, bool app, struct result *want)
{
	static const char host_abc[] = "abcdefghijklmnopqrstuvwxyz0123456789.-_";
	static const char tag_abc[] = "abcdefgh/_.-XYZ019";
	uint32_t hs, he, as, ae;

	want->rc = -ENOENT;
	syslog_pri(o, s);
	if (take(s) % 2 == 0) {
		/* RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID ... */
		static const char *const ver[] = {"1", "2", "10", "999"};
		static const char *const ts[] = {"-", "2003-10-11T22:14:15.003Z",
		                                 "1985-04-12T23:20:50.52-07:00"};

		puts_(o, ver[take(s) % 4]);
		puts_(o, " ");
		puts_(o, ts[take(s) % 3]);
		puts_(o, " ");
		hs = o->len;
		if (take(s) % 4 == 0)
			puts_(o, "-");
		else
			syslog_word(o, s, host_abc, 1);
		he = o->len;
		puts_(o, " ");
		as = o->len;
		if (take(s) % 4 == 0)
			puts_(o, "-");
		else
			syslog_word(o, s, tag_abc, 1);
		ae = o->len;
		puts_(o, " - ID47 - msg here");
		if (!app && !(he - hs == 1 && o->buf[hs] == '-'))
			*want = (struct result){0, hs, he - hs};
		if (app && !(ae - as == 1 && o->buf[as] == '-'))
			*want = (struct result){0, as, ae - as};
		return;
	}
	/* RFC 3164, or its RFC 3339-stamped form: TIMESTAMP [HOSTNAME] TAG ... */
	if (take(s) % 3 == 0) {
		puts_(o, "2024-01-02T03:04:05.123+00:00 ");
	} else {
		static const char *const mon[] = {"Oct", "Feb", "jan"};
		char ts[32];
		uint32_t day = 1 + take(s) % 31;

		snprintf(ts, sizeof(ts), "%s %2u %02u:%02u:%02u ", mon[take(s) % 3], day,
		         take(s) % 24, take(s) % 60, take(s) % 60);
		puts_(o, ts);
	}
	hs = he = 0;
	if (take(s) % 3 != 0) {
		hs = o->len;
		if (take(s) % 5 == 0)
			puts_(o, "-");
		else
			syslog_word(o, s, host_abc, 1);
		he = o->len;
		puts_(o, " ");
	}
	/* TAG: name, then "[pid]" and ':', or ':' alone; without HOSTNAME one is needed. */
	as = o->len;
	if (take(s) % 6 != 0)
		syslog_word(o, s, tag_abc, 1);
	ae = o->len;
	/* An empty name ends in "[pid]:" or ':': else the next word would be the TAG. */
	switch (take(s) % (ae == as ? 2 : 3)) {
	case 0:
		puts_(o, "[123]:");
		break;
	case 1:
		puts_(o, ":");
		break;
	default:
		if (he == 0)
			puts_(o, "[9]");
		break;
	}
	puts_(o, " the message: [x] y");
	if (!app && he != 0 && !(he - hs == 1 && o->buf[hs] == '-'))
		*want = (struct result){0, hs, he - hs};
	if (app && ae != as && !(ae - as == 1 && o->buf[as] == '-'))
		*want = (struct result){0, as, ae - as};
}

/* A built message: the whole of it must give want; a cut of it may only lose the key. */
NOCOV static void
check_built(const struct slc_key_spec *k, const struct out *o, const struct result *want,
            uint32_t decided_at, uint32_t cut_at)
{
	struct result got = check_extract(k, o->buf, o->len);

	if (got.rc != want->rc || (got.rc == 0 && (got.off != want->off || got.len != want->len)))
		fail("kind %d on \"%.*s\": (%d, %u, %u), want (%d, %u, %u)", k->kind, (int)o->len,
		     (const char *)o->buf, got.rc, got.off, got.len, want->rc, want->off,
		     want->len);
	if (cut_at >= o->len)
		return;
	got = check_extract(k, o->buf, cut_at);
	if (k->kind == SLC_KEY_JSON) {
		/* Cut before the value that decides: no key; after it: the same one. */
		bool keeps = want->rc == 0 && cut_at >= decided_at;

		if (keeps ? got.rc != 0 || got.off != want->off || got.len != want->len
		          : got.rc != -ENOENT)
			fail("json on \"%.*s\" cut at %u: (%d, %u, %u), want %s", (int)o->len,
			     (const char *)o->buf, cut_at, got.rc, got.off, got.len,
			     keeps ? "the same key" : "none");
		return;
	}
	/* syslog: the whole key and the byte after it decide. Cut inside the key, it is a
	 * shorter key from the same place or none; cut before it, a word meant for another
	 * field may take the key's place (a TAG cut before its ':' reads as a HOSTNAME). */
	if (want->rc != 0)
		return;
	if (cut_at > want->off + want->len) {
		if (got.rc != 0 || got.off != want->off || got.len != want->len)
			fail("syslog kind %d on \"%.*s\" cut at %u: (%d, %u, %u), "
			     "want (%d, %u, %u)",
			     k->kind, (int)o->len, (const char *)o->buf, cut_at, got.rc, got.off,
			     got.len, want->rc, want->off, want->len);
	} else if (got.rc == 0 && (got.off != want->off || got.len > want->len)) {
		fail("syslog kind %d on \"%.*s\" cut at %u: (%d, %u, %u), not a part of (%u, %u)",
		     k->kind, (int)o->len, (const char *)o->buf, cut_at, got.rc, got.off, got.len,
		     want->off, want->len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s = {data + 1, size ? size - 1 : 0};
	struct slc_key_spec k;
	struct result want;
	struct out *o;
	uint32_t decided_at = 0, cut_at;

	if (size == 0)
		return 0;
	if ((data[0] & 3) < 2) {
		const uint8_t *nul = memchr(data + 1, '\0', size - 1);
		size_t tlen = nul ? (size_t)(nul - data - 1) : size - 1;
		char *text = malloc(tlen + 1);

		if (text == NULL)
			return 0;
		memcpy(text, data + 1, tlen);
		text[tlen] = '\0';
		check_spec_parse(text);
		if (nul != NULL && slc_key_spec_parse(text, &k, NULL, 0) == 0)
			check_extract(&k, nul + 1, (uint32_t)(size - (size_t)(nul + 1 - data)));
		free(text);
		return 0;
	}

	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return 0;
	memset(&k, 0, sizeof(k));
	if ((data[0] & 3) == 2) {
		static const char abc[] = "abcxyz_.0123456789-AZ\x7f\xc3\xa9 ";

		k.kind = SLC_KEY_JSON;
		k.name_len = 1 + take(&s) % 6;
		for (uint32_t i = 0; i < k.name_len; i++)
			k.name[i] = (uint8_t)abc[take(&s) % (sizeof(abc) - 1)];
		json_message(o, &s, &k, &want, &decided_at);
	} else {
		k.kind = take(&s) % 2 ? SLC_KEY_SYSLOG_APPNAME : SLC_KEY_SYSLOG_HOSTNAME;
		syslog_message(o, &s, k.kind == SLC_KEY_SYSLOG_APPNAME, &want);
	}
	if (o->len == sizeof(o->buf)) { /* cut by the buffer: no oracle */
		free(o);
		return 0;
	}
	cut_at = (take(&s) << 8 | take(&s)) % (o->len + 1);
	check_built(&k, o, &want, decided_at, cut_at);
	free(o);
	return 0;
}
