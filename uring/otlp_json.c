/* SPDX-License-Identifier: MIT */
/* otlp_json.c: OTLP/JSON logs bodies: validated whole, then walked, strings unescaped in place. */
#include "otlp_json.h"

#include <errno.h>
#include <string.h>

#include "base/compiler.h"

static SLC_COLD SLC_NOINLINE int
bad(struct slc_otlp_json_iter *it, uint32_t off, const char *why)
{
	if (!it->err) {
		it->err = why;
		it->err_off = off;
	}
	return -EBADMSG;
}

static uint32_t
ws(const uint8_t *b, uint32_t len, uint32_t p)
{
	while (p < len && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r'))
		p++;
	return p;
}

static int
hex4(const uint8_t *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c = p[i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

/* ---- validation (the check): every byte read, nothing trusted ---- */

/* The string at p (b[p] == '"'): *end after its closing quote. */
static int
str_check(struct slc_otlp_json_iter *it, uint32_t p, uint32_t *end)
{
	const uint8_t *b = it->buf;
	uint32_t start = p, v;

	for (p++; p < it->len;) {
		uint8_t c = b[p];

		if (c == '"') {
			*end = p + 1;
			return 0;
		}
		if (c < 0x20)
			return bad(it, p, "control byte in a string");
		if (c != '\\') {
			p++;
			continue;
		}
		if (p + 1 >= it->len)
			break;
		c = b[p + 1];
		if (c == 'u') {
			if (it->len - p < 6 || hex4(b + p + 2, &v))
				return bad(it, p, "\\u without four hex digits");
			p += 6;
		} else if (c && strchr("\"\\/bfnrt", c)) {
			p += 2;
		} else {
			return bad(it, p, "unknown escape");
		}
	}
	return bad(it, start, "string not closed");
}

static uint32_t
digits(const uint8_t *b, uint32_t len, uint32_t p)
{
	while (p < len && b[p] >= '0' && b[p] <= '9')
		p++;
	return p;
}

/* number = [ minus ] int [ frac ] [ exp ] (RFC 8259 6) */
static int
num_check(struct slc_otlp_json_iter *it, uint32_t p, uint32_t *end)
{
	const uint8_t *b = it->buf;
	uint32_t start = p, q;

	if (b[p] == '-')
		p++;
	if (p < it->len && b[p] == '0')
		p++;
	else if ((q = digits(b, it->len, p)) > p)
		p = q;
	else
		return bad(it, start, "malformed number");
	if (p < it->len && b[p] == '.') {
		q = digits(b, it->len, p + 1);
		if (q == p + 1)
			return bad(it, start, "malformed number");
		p = q;
	}
	if (p < it->len && (b[p] == 'e' || b[p] == 'E')) {
		p++;
		if (p < it->len && (b[p] == '+' || b[p] == '-'))
			p++;
		q = digits(b, it->len, p);
		if (q == p)
			return bad(it, start, "malformed number");
		p = q;
	}
	*end = p;
	return 0;
}

static int
lit_check(struct slc_otlp_json_iter *it, uint32_t p, const char *lit, uint32_t *end)
{
	size_t n = strlen(lit);

	if (it->len - p < n || memcmp(it->buf + p, lit, n) != 0)
		return bad(it, p, "unexpected byte");
	*end = p + (uint32_t)n;
	return 0;
}

/* Any value at p (after whitespace); *end just after it. */
static int
value_check(struct slc_otlp_json_iter *it, uint32_t p, unsigned depth, uint32_t *end)
{
	const uint8_t *b = it->buf;
	uint32_t len = it->len;
	int ret;

	if (p >= len)
		return bad(it, len ? len - 1 : 0, "value missing");
	switch (b[p]) {
	case '"':
		return str_check(it, p, end);
	case 't':
		return lit_check(it, p, "true", end);
	case 'f':
		return lit_check(it, p, "false", end);
	case 'n':
		return lit_check(it, p, "null", end);
	case '{':
	case '[': {
		bool obj = b[p] == '{';
		uint8_t close = obj ? '}' : ']';

		if (depth + 1 >= SLC_OTLP_JSON_DEPTH_MAX)
			return bad(it, p, "nested too deep");
		p = ws(b, len, p + 1);
		if (p < len && b[p] == close) {
			*end = p + 1;
			return 0;
		}
		for (;;) {
			if (obj) {
				if (p >= len || b[p] != '"')
					return bad(it, p < len ? p : len - 1,
					           "member name expected");
				ret = str_check(it, p, &p);
				if (ret)
					return ret;
				p = ws(b, len, p);
				if (p >= len || b[p] != ':')
					return bad(it, p < len ? p : len - 1, "':' expected");
				p = ws(b, len, p + 1);
			}
			ret = value_check(it, p, depth + 1, &p);
			if (ret)
				return ret;
			p = ws(b, len, p);
			if (p < len && b[p] == ',') {
				p = ws(b, len, p + 1);
				continue;
			}
			if (p < len && b[p] == close) {
				*end = p + 1;
				return 0;
			}
			return bad(it, p < len ? p : len - 1, "',' or a closing bracket expected");
		}
	}
	default:
		if (b[p] == '-' || (b[p] >= '0' && b[p] <= '9'))
			return num_check(it, p, end);
		return bad(it, p, "unexpected byte");
	}
}

/* ---- the walk: over validated JSON, so it reads only what it needs ---- */

/* After the string at p (b[p] == '"'). */
static uint32_t
str_end(const uint8_t *b, uint32_t p)
{
	for (p++; b[p] != '"'; p++)
		if (b[p] == '\\')
			p++;
	return p + 1;
}

static bool
is_delim(uint8_t c)
{
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* After the value at p. A scalar is always followed by a delimiter: the top level is an
 * object. */
static uint32_t
skip(const uint8_t *b, uint32_t p)
{
	int depth = 0;

	if (b[p] == '"')
		return str_end(b, p);
	if (b[p] != '{' && b[p] != '[') {
		while (!is_delim(b[p]))
			p++;
		return p;
	}
	do {
		if (b[p] == '"') {
			p = str_end(b, p);
			continue;
		}
		if (b[p] == '{' || b[p] == '[')
			depth++;
		else if (b[p] == '}' || b[p] == ']')
			depth--;
		p++;
	} while (depth > 0);
	return p;
}

/* The next member of the object whose members *p is among: 1 with the name's bytes
 * [*ks, *ke) and *p at its value, or 0 with *p after the closing brace. */
static int
obj_next(const struct slc_otlp_json_iter *it, uint32_t *p, uint32_t *ks, uint32_t *ke)
{
	const uint8_t *b = it->buf;
	uint32_t q = ws(b, it->len, *p);

	if (b[q] == ',')
		q = ws(b, it->len, q + 1);
	if (b[q] == '}') {
		*p = q + 1;
		return 0;
	}
	*ks = q + 1;
	q = str_end(b, q);
	*ke = q - 1;
	q = ws(b, it->len, q);
	*p = ws(b, it->len, q + 1);
	return 1;
}

/* The next element of the array: 1 with *p at it, or 0 with *p after the bracket. */
static int
arr_next(const struct slc_otlp_json_iter *it, uint32_t *p)
{
	const uint8_t *b = it->buf;
	uint32_t q = ws(b, it->len, *p);

	if (b[q] == ',')
		q = ws(b, it->len, q + 1);
	if (b[q] == ']') {
		*p = q + 1;
		return 0;
	}
	*p = q;
	return 1;
}

static bool
named(const struct slc_otlp_json_iter *it, uint32_t ks, uint32_t ke, const char *camel,
      const char *snake)
{
	size_t n = ke - ks;

	return (strlen(camel) == n && memcmp(it->buf + ks, camel, n) == 0) ||
	       (snake && strlen(snake) == n && memcmp(it->buf + ks, snake, n) == 0);
}

static bool
is_null(const struct slc_otlp_json_iter *it, uint32_t p)
{
	return it->buf[p] == 'n';
}

/* An attribute list (an array of KeyValue objects, or null) at *p: the first attribute
 * named the key name whose value is a non-empty stringValue sets *key, if it is not set. */
static int
attrs_scan(struct slc_otlp_json_iter *it, uint32_t *p, const uint8_t **key, uint32_t *key_len)
{
	uint32_t q = *p, ks, ke;

	if (is_null(it, q)) {
		*p = q + 4;
		return 0;
	}
	if (it->buf[q] != '[')
		return bad(it, q, "attributes not an array");
	q++;
	while (arr_next(it, &q)) {
		uint32_t name_s = 0, name_e = 0, val_s = 0, val_e = 0;

		if (is_null(it, q)) {
			q += 4;
			continue;
		}
		if (it->buf[q] != '{')
			return bad(it, q, "attribute not an object");
		q++;
		while (obj_next(it, &q, &ks, &ke)) {
			if (named(it, ks, ke, "key", NULL) && it->buf[q] == '"') {
				name_s = q + 1;
				q = str_end(it->buf, q);
				name_e = q - 1;
			} else if (named(it, ks, ke, "value", NULL) && it->buf[q] == '{') {
				uint32_t vs, ve;

				/* A oneof: the last value member decides. */
				val_s = val_e = 0;
				q++;
				while (obj_next(it, &q, &vs, &ve)) {
					if (named(it, vs, ve, "stringValue", "string_value") &&
					    it->buf[q] == '"') {
						val_s = q + 1;
						q = str_end(it->buf, q);
						val_e = q - 1;
					} else {
						if (!is_null(it, q))
							val_s = val_e = 0;
						q = skip(it->buf, q);
					}
				}
			} else {
				q = skip(it->buf, q);
			}
		}
		if (!*key_len && it->key_name && val_e > val_s &&
		    name_e - name_s == it->key_name_len &&
		    memcmp(it->buf + name_s, it->key_name, it->key_name_len) == 0) {
			*key = it->buf + val_s;
			*key_len = val_e - val_s;
		}
	}
	*p = q;
	return 0;
}

/* Writes the UTF-8 of cp at w. */
static uint32_t
utf8_put(uint8_t *w, uint32_t cp)
{
	if (cp < 0x80) {
		w[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (uint8_t)(0xc0 | cp >> 6);
		w[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (uint8_t)(0xe0 | cp >> 12);
		w[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		w[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	w[0] = (uint8_t)(0xf0 | cp >> 18);
	w[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	w[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	w[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* Unescapes the validated string bytes [s, e) in place; their new length. Never longer:
 * an escape of 2 bytes gives 1, \uXXXX (6) at most 3, a surrogate pair (12) 4. */
static uint32_t
unescape(uint8_t *b, uint32_t s, uint32_t e)
{
	uint32_t r = s, w = s, cp, lo;

	while (r < e) {
		if (b[r] != '\\') {
			b[w++] = b[r++];
			continue;
		}
		uint8_t c = b[r + 1];
		r += 2;
		switch (c) {
		case 'b':
			b[w++] = '\b';
			break;
		case 'f':
			b[w++] = '\f';
			break;
		case 'n':
			b[w++] = '\n';
			break;
		case 'r':
			b[w++] = '\r';
			break;
		case 't':
			b[w++] = '\t';
			break;
		case 'u':
			hex4(b + r, &cp);
			r += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && e - r >= 6 && b[r] == '\\' &&
			    b[r + 1] == 'u' && hex4(b + r + 2, &lo) == 0 && lo >= 0xdc00 &&
			    lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				r += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd; /* a lone surrogate */
			}
			w += utf8_put(b + w, cp);
			break;
		default: /* " \ / */
			b[w++] = c;
			break;
		}
	}
	return w - s;
}

/* A body AnyValue object at p: *end after it; rec's body as the header says. */
static void
any_body(struct slc_otlp_json_iter *it, uint32_t p, uint32_t *end, struct slc_otlp_rec *rec)
{
	uint32_t q = p + 1, ks, ke, s_s = 0, s_e = 0;
	enum slc_otlp_body_kind kind = SLC_OTLP_BODY_NONE;

	while (obj_next(it, &q, &ks, &ke)) {
		if (is_null(it, q)) {
			q += 4;
			continue;
		}
		if (named(it, ks, ke, "stringValue", "string_value") && it->buf[q] == '"') {
			kind = SLC_OTLP_BODY_STRING;
			s_s = q + 1;
			q = str_end(it->buf, q);
			s_e = q - 1;
			continue;
		}
		if (named(it, ks, ke, "boolValue", "bool_value") ||
		    named(it, ks, ke, "intValue", "int_value") ||
		    named(it, ks, ke, "doubleValue", "double_value") ||
		    named(it, ks, ke, "arrayValue", "array_value") ||
		    named(it, ks, ke, "kvlistValue", "kvlist_value") ||
		    named(it, ks, ke, "bytesValue", "bytes_value"))
			kind = SLC_OTLP_BODY_ANY;
		q = skip(it->buf, q);
	}
	*end = q;
	rec->body_kind = kind;
	if (kind == SLC_OTLP_BODY_STRING) {
		rec->body = it->buf + s_s;
		rec->body_len = it->write ? unescape(it->buf, s_s, s_e) : s_e - s_s;
	} else if (kind == SLC_OTLP_BODY_ANY) {
		rec->body = it->buf + p;
		rec->body_len = q - p;
	} else {
		rec->body = NULL;
		rec->body_len = 0;
	}
}

/* timeUnixNano: a decimal string or number; what is not digits ends it (0 if none). */
static uint64_t
time_of(const uint8_t *b, uint32_t p)
{
	uint64_t v = 0;

	if (b[p] == '"')
		p++;
	for (; b[p] >= '0' && b[p] <= '9'; p++)
		v = v * 10 + (uint64_t)(b[p] - '0');
	return v;
}

static int
record_decode(struct slc_otlp_json_iter *it, uint32_t p, uint32_t *end, struct slc_otlp_rec *rec)
{
	uint32_t q = p + 1, ks, ke;
	int ret;

	memset(rec, 0, sizeof(*rec));
	while (obj_next(it, &q, &ks, &ke)) {
		if (named(it, ks, ke, "body", NULL)) {
			if (is_null(it, q)) {
				q += 4;
			} else if (it->buf[q] == '{') {
				any_body(it, q, &q, rec);
			} else {
				return bad(it, q, "body not an object");
			}
		} else if (named(it, ks, ke, "attributes", NULL)) {
			ret = attrs_scan(it, &q, &rec->key, &rec->key_len);
			if (ret)
				return ret;
		} else {
			if (named(it, ks, ke, "timeUnixNano", "time_unix_nano"))
				rec->time_unix_nano = time_of(it->buf, q);
			q = skip(it->buf, q);
		}
	}
	*end = q;
	if (!rec->key_len && it->res_key_len) {
		rec->key = it->res_key;
		rec->key_len = it->res_key_len;
	}
	return 0;
}

/* On entering a ResourceLogs object at p: its resource's key, wherever "resource" lies. */
static int
resource_enter(struct slc_otlp_json_iter *it, uint32_t p)
{
	uint32_t q = p + 1, ks, ke, rs, re;
	int ret;

	it->res_key = NULL;
	it->res_key_len = 0;
	while (obj_next(it, &q, &ks, &ke)) {
		if (!named(it, ks, ke, "resource", NULL) || is_null(it, q)) {
			q = skip(it->buf, q);
			continue;
		}
		if (it->buf[q] != '{')
			return bad(it, q, "resource not an object");
		q++;
		while (obj_next(it, &q, &rs, &re)) {
			if (named(it, rs, re, "attributes", NULL)) {
				ret = attrs_scan(it, &q, &it->res_key, &it->res_key_len);
				if (ret)
					return ret;
			} else {
				q = skip(it->buf, q);
			}
		}
	}
	return 0;
}

void
slc_otlp_json_iter_init(struct slc_otlp_json_iter *it, uint8_t *buf, uint32_t len,
                        const uint8_t *key_name, uint32_t key_name_len)
{
	memset(it, 0, sizeof(*it));
	it->buf = buf;
	it->len = len;
	it->write = true;
	if (key_name && key_name_len) {
		it->key_name = key_name;
		it->key_name_len = key_name_len;
	}
	it->pos = ws(buf, len, 0);
	if (it->pos < len && buf[it->pos] == '{')
		it->pos++;
	else
		it->level = 6; /* not an object: slc_otlp_json_check refuses it */
}

/* The containers' names at the member levels 0, 2 and 4. */
static const char *const names[3][2] = {
        {"resourceLogs", "resource_logs"},
        {"scopeLogs", "scope_logs"},
        {"logRecords", "log_records"},
};

int
slc_otlp_json_next(struct slc_otlp_json_iter *it, struct slc_otlp_rec *rec)
{
	uint32_t ks, ke, end = 0;
	int ret;

	if (it->err)
		return -EBADMSG;
	while (it->level < 6) {
		if (it->level % 2 == 0) {
			if (!obj_next(it, &it->pos, &ks, &ke)) {
				it->level = it->level == 0 ? 6 : it->level - 1;
				continue;
			}
			const char *const *n = names[it->level / 2];
			if (!named(it, ks, ke, n[0], n[1]) || is_null(it, it->pos)) {
				it->pos = skip(it->buf, it->pos);
				continue;
			}
			if (it->buf[it->pos] != '[')
				return bad(it, it->pos,
				           "resourceLogs, scopeLogs or logRecords not an array");
			it->pos++;
			it->level++;
			continue;
		}
		if (!arr_next(it, &it->pos)) {
			it->level--;
			continue;
		}
		if (is_null(it, it->pos)) {
			it->pos += 4;
			continue;
		}
		if (it->buf[it->pos] != '{')
			return bad(it, it->pos,
			           "an element of resourceLogs, scopeLogs or logRecords not an "
			           "object");
		if (it->level == 1) {
			ret = resource_enter(it, it->pos);
			if (ret)
				return ret;
		}
		if (it->level < 5) {
			it->pos++;
			it->level++;
			continue;
		}
		if (it->records >= SLC_OTLP_PB_RECORDS_MAX)
			return bad(it, it->pos, "too many records in one request");
		ret = record_decode(it, it->pos, &end, rec);
		if (ret)
			return ret;
		it->pos = end;
		it->records++;
		return 1;
	}
	return 0;
}

int
slc_otlp_json_check(const uint8_t *buf, uint32_t len, uint32_t *records, const char **err,
                    uint32_t *err_off)
{
	struct slc_otlp_json_iter it;
	struct slc_otlp_rec rec;
	uint32_t p, end = 0;
	int ret;

	/* Nothing is written with write off: the cast only lets one iterator serve both. */
	slc_otlp_json_iter_init(&it, (uint8_t *)buf, len, NULL, 0);
	it.write = false;
	p = ws(buf, len, 0);
	if (p >= len || buf[p] != '{')
		ret = bad(&it, p < len ? p : 0, "not a JSON object");
	else
		ret = value_check(&it, p, 0, &end);
	if (!ret && ws(buf, len, end) != len)
		ret = bad(&it, ws(buf, len, end), "bytes after the JSON object");
	while (!ret && (ret = slc_otlp_json_next(&it, &rec)) == 1)
		ret = 0;
	*records = it.records;
	if (err)
		*err = it.err;
	if (err_off)
		*err_off = it.err_off;
	return ret;
}
