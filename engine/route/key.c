/* SPDX-License-Identifier: MIT */
/* key.c: --key parsing, key extraction from message bytes, key hashing, hot-key sketch. */
#include "route/key.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * xxHash comes from Debian's libxxhash-dev as a header, inlined rather than linked: keys
 * are short and hashed once per message, and inlined XXH3 lets the compiler drop the PLT
 * call and most of XXH3's length dispatch. Nothing is left to link or ship, and the
 * algorithm is the library's, so hashes match libxxhash's XXH3_64bits exactly.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- --key parsing ---- */

static int parse_fail(char *err, size_t err_len, const char *text, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int
parse_fail(char *err, size_t err_len, const char *text, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || err_len == 0)
		return -EINVAL;
	n = snprintf(err, err_len, "--key %s: ", text);
	if (n >= 0 && (size_t)n < err_len) {
		va_start(ap, fmt);
		vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* DELIM of prefix:DELIM, unescaped into out; the escapes exist because a shell or a config
 * file makes TAB, SP and non-printing bytes awkward to pass as themselves. */
static int
parse_delim(const char *text, const char *s, struct slc_key_spec *out, char *err, size_t err_len)
{
	uint32_t n = 0;

	while (*s != '\0') {
		uint8_t b = (uint8_t)*s++;

		if (b == '\\') {
			char c = *s++;
			int hi, lo;

			switch (c) {
			case 't':
				b = '\t';
				break;
			case 'n':
				b = '\n';
				break;
			case 'r':
				b = '\r';
				break;
			case 's':
				b = ' ';
				break;
			case '\\':
				b = '\\';
				break;
			case 'x':
				hi = hex_digit(s[0]);
				lo = hi < 0 ? -1 : hex_digit(s[1]);
				if (lo < 0)
					return parse_fail(err, err_len, text,
					                  "\\x needs two hex digits (\\x3b)");
				b = (uint8_t)(hi << 4 | lo);
				s += 2;
				break;
			case '\0':
				return parse_fail(
				        err, err_len, text,
				        "DELIM ends with a lone '\\'; use \\\\ for a backslash");
			default:
				return parse_fail(
				        err, err_len, text,
				        "unknown escape \\%c; DELIM takes \\t \\n \\r \\s \\\\ "
				        "and \\xHH",
				        c);
			}
		}
		if (n == SLC_KEY_DELIM_MAX)
			return parse_fail(err, err_len, text, "DELIM must be 1..%u bytes",
			                  SLC_KEY_DELIM_MAX);
		out->delim[n++] = b;
	}
	if (n == 0)
		return parse_fail(err, err_len, text, "DELIM must be 1..%u bytes",
		                  SLC_KEY_DELIM_MAX);
	out->delim_len = n;
	return 0;
}

int
slc_key_spec_parse(const char *text, struct slc_key_spec *out, char *err, size_t err_len)
{
	struct slc_key_spec spec;

	if (text == NULL)
		return parse_fail(err, err_len, "(none)", "a value is needed");
	memset(&spec, 0, sizeof(spec));
	if (strcmp(text, "none") == 0) {
		spec.kind = SLC_KEY_NONE;
	} else if (strcmp(text, "len32") == 0) {
		spec.kind = SLC_KEY_LEN32;
	} else if (strncmp(text, "field:", 6) == 0) {
		const char *p = text + 6;
		uint32_t v = 0;

		/* Digits only, by hand: strtoul would take signs, spaces and "0x". */
		for (; *p >= '0' && *p <= '9' && v <= SLC_KEY_FIELD_MAX; p++)
			v = v * 10 + (uint32_t)(*p - '0');
		if (p == text + 6 || *p != '\0' || v < 1 || v > SLC_KEY_FIELD_MAX)
			return parse_fail(err, err_len, text, "N must be 1..%u", SLC_KEY_FIELD_MAX);
		spec.kind = SLC_KEY_FIELD;
		spec.field = v;
	} else if (strncmp(text, "prefix:", 7) == 0) {
		int rc = parse_delim(text, text + 7, &spec, err, err_len);

		if (rc != 0)
			return rc;
		spec.kind = SLC_KEY_PREFIX;
	} else if (strcmp(text, "syslog:hostname") == 0) {
		spec.kind = SLC_KEY_SYSLOG_HOSTNAME;
	} else if (strcmp(text, "syslog:appname") == 0) {
		spec.kind = SLC_KEY_SYSLOG_APPNAME;
	} else if (strncmp(text, "syslog:", 7) == 0) {
		return parse_fail(err, err_len, text, "syslog takes hostname or appname");
	} else if (strncmp(text, "json:", 5) == 0) {
		size_t n = strlen(text + 5);

		if (n == 0 || n > SLC_KEY_NAME_MAX)
			return parse_fail(err, err_len, text, "NAME must be 1..%u bytes",
			                  SLC_KEY_NAME_MAX);
		for (size_t i = 0; i < n; i++) {
			uint8_t c = (uint8_t)text[5 + i];

			if (c == '"' || c == '\\' || c < 0x20)
				return parse_fail(err, err_len, text,
				                  "NAME may not hold '\"', '\\' or control bytes");
		}
		spec.kind = SLC_KEY_JSON;
		spec.name_len = (uint32_t)n;
		memcpy(spec.name, text + 5, n);
	} else if (strncmp(text, "otlp:", 5) == 0) {
		size_t n = strlen(text + 5);

		if (n == 0 || n > SLC_KEY_NAME_MAX)
			return parse_fail(err, err_len, text, "NAME must be 1..%u bytes",
			                  SLC_KEY_NAME_MAX);
		for (size_t i = 0; i < n; i++)
			if ((uint8_t)text[5 + i] < 0x20 || text[5 + i] == 0x7f)
				return parse_fail(err, err_len, text,
				                  "NAME may not hold control bytes");
		spec.kind = SLC_KEY_OTLP;
		spec.name_len = (uint32_t)n;
		memcpy(spec.name, text + 5, n);
	} else if (strcmp(text, "forward:tag") == 0) {
		spec.kind = SLC_KEY_FORWARD_TAG;
	} else if (strncmp(text, "forward:", 8) == 0) {
		return parse_fail(err, err_len, text, "forward takes tag");
	} else {
		return parse_fail(err, err_len, text,
		                  "expected none, len32, field:N, prefix:DELIM, syslog:hostname, "
		                  "syslog:appname, json:NAME, otlp:NAME or forward:tag");
	}
	*out = spec;
	return 0;
}

/* ---- extraction ---- */

static int
key_len32(const uint8_t *d, uint32_t len, const uint8_t **key, uint32_t *key_len)
{
	uint32_t k;

	if (len < 2)
		return -EBADMSG;
	k = (uint32_t)d[0] << 8 | d[1];
	if (k > len - 2)
		return -EBADMSG;
	if (k == 0)
		return -ENOENT;
	*key = d + 2;
	*key_len = k;
	return 0;
}

static bool
is_field_sep(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int
key_field(const uint8_t *d, uint32_t len, uint32_t n, const uint8_t **key, uint32_t *key_len)
{
	uint32_t i = 0, start;

	for (;;) {
		while (i < len && is_field_sep(d[i]))
			i++;
		if (i == len)
			return -ENOENT;
		start = i;
		while (i < len && !is_field_sep(d[i]))
			i++;
		if (--n == 0) {
			*key = d + start;
			*key_len = i - start;
			return 0;
		}
	}
}

static int
key_prefix(const struct slc_key_spec *spec, const uint8_t *d, uint32_t len, const uint8_t **key,
           uint32_t *key_len)
{
	const uint8_t *p;

	/* Both are libc's vectorised searches; memmem is linear (two-way) in glibc. */
	if (spec->delim_len == 1)
		p = memchr(d, spec->delim[0], len);
	else
		p = memmem(d, len, spec->delim, spec->delim_len);
	if (p == NULL || p == d)
		return -ENOENT;
	*key = d;
	*key_len = (uint32_t)(p - d);
	return 0;
}

static bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The next SP-separated token at or after *i: [*start, *i). False at the end. */
static bool
syslog_token(const uint8_t *d, uint32_t len, uint32_t *i, uint32_t *start)
{
	uint32_t p = *i;

	while (p < len && d[p] == ' ')
		p++;
	if (p == len)
		return false;
	*start = p;
	while (p < len && d[p] != ' ')
		p++;
	*i = p;
	return true;
}

/* "<PRI>": 1..3 digits between angle brackets; anything else is no PRI (0 bytes). */
static uint32_t
syslog_pri_len(const uint8_t *d, uint32_t len)
{
	uint32_t j = 1;

	if (len == 0 || d[0] != '<')
		return 0;
	while (j < len && j <= 3 && is_digit(d[j]))
		j++;
	if (j == 1 || j == len || d[j] != '>')
		return 0;
	return j + 1;
}

/* RFC 3164's "Mmm dd hh:mm:ss " (day space-padded) at d: 16 bytes, or 0. */
static uint32_t
syslog_3164_ts_len(const uint8_t *d, uint32_t len)
{
	if (len < 16)
		return 0;
	if (!is_alpha(d[0]) || !is_alpha(d[1]) || !is_alpha(d[2]) || d[3] != ' ' ||
	    !(d[4] == ' ' || is_digit(d[4])) || !is_digit(d[5]) || d[6] != ' ' || !is_digit(d[7]) ||
	    !is_digit(d[8]) || d[9] != ':' || !is_digit(d[10]) || !is_digit(d[11]) ||
	    d[12] != ':' || !is_digit(d[13]) || !is_digit(d[14]) || d[15] != ' ')
		return 0;
	return 16;
}

static int
syslog_found(const uint8_t *d, uint32_t start, uint32_t end, const uint8_t **key, uint32_t *key_len)
{
	/* NILVALUE (RFC 5424), and an empty APP-NAME of a tag like "[123]:" */
	if (end == start || (end - start == 1 && d[start] == '-'))
		return -ENOENT;
	*key = d + start;
	*key_len = end - start;
	return 0;
}

static int
key_syslog(const uint8_t *d, uint32_t len, bool app, const uint8_t **key, uint32_t *key_len)
{
	uint32_t i = syslog_pri_len(d, len), j = i, start, ts;

	/* RFC 5424: VERSION (NONZERO-DIGIT 0*2DIGIT) SP TIMESTAMP SP HOSTNAME SP APP-NAME */
	while (j < len && j - i < 3 && is_digit(d[j]))
		j++;
	if (j > i && d[i] != '0' && j < len && d[j] == ' ') {
		i = j;
		if (!syslog_token(d, len, &i, &start)) /* TIMESTAMP */
			return -ENOENT;
		if (!syslog_token(d, len, &i, &start)) /* HOSTNAME */
			return -ENOENT;
		if (app && !syslog_token(d, len, &i, &start)) /* APP-NAME */
			return -ENOENT;
		return syslog_found(d, start, i, key, key_len);
	}

	/* RFC 3164: its own timestamp, or an RFC 3339 one as rsyslog's ForwardFormat sends */
	ts = syslog_3164_ts_len(d + i, len - i);
	if (ts != 0) {
		i += ts;
	} else if (len - i >= 5 && is_digit(d[i]) && is_digit(d[i + 1]) && is_digit(d[i + 2]) &&
	           is_digit(d[i + 3]) && d[i + 4] == '-') {
		if (!syslog_token(d, len, &i, &start))
			return -ENOENT;
	} else {
		return -ENOENT;
	}
	if (!syslog_token(d, len, &i, &start))
		return -ENOENT;
	/* A token that looks like a TAG ("sshd[1]:", "kernel:") means HOSTNAME was left out. */
	if (d[i - 1] != ':' && memchr(d + start, '[', i - start) == NULL) {
		if (!app)
			return syslog_found(d, start, i, key, key_len);
		if (!syslog_token(d, len, &i, &start))
			return -ENOENT;
	} else if (!app) {
		return -ENOENT;
	}
	for (j = start; j < i && d[j] != '[' && d[j] != ':'; j++)
		;
	return syslog_found(d, start, j, key, key_len);
}

static uint32_t
json_ws(const uint8_t *d, uint32_t len, uint32_t i)
{
	while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
		i++;
	return i;
}

/* d[i] is an opening quote: the index of the closing one, or len when there is none. */
static uint32_t
json_string_end(const uint8_t *d, uint32_t len, uint32_t i)
{
	while (++i < len) {
		if (d[i] == '"')
			return i;
		/* the byte after a backslash is never the end, whatever it is */
		if (d[i] == '\\' && ++i == len)
			break;
	}
	return len;
}

/* d[i] opens an object or array: the index just past its end, or len. Brackets are only
 * counted, not matched by kind: a line that mismatches them is not JSON, and all this must
 * get right for JSON is where the value ends. */
static uint32_t
json_skip_nested(const uint8_t *d, uint32_t len, uint32_t i)
{
	uint32_t depth = 0;

	for (; i < len; i++) {
		uint8_t c = d[i];

		if (c == '"') {
			i = json_string_end(d, len, i);
			if (i == len)
				return len;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return len;
}

static uint32_t
json_skip_scalar(const uint8_t *d, uint32_t len, uint32_t i)
{
	while (i < len && d[i] != ',' && d[i] != '}' && d[i] != ']' && d[i] != ' ' &&
	       d[i] != '\t' && d[i] != '\r' && d[i] != '\n')
		i++;
	return i;
}

static int
key_json(const struct slc_key_spec *spec, const uint8_t *d, uint32_t len, const uint8_t **key,
         uint32_t *key_len)
{
	uint32_t i = json_ws(d, len, 0);

	if (i == len || d[i] != '{')
		return -ENOENT;
	i++;
	for (;;) {
		uint32_t ks, ke, vs, ve;
		bool match;

		i = json_ws(d, len, i);
		if (i == len || d[i] != '"') /* '}' of an object without it, or not JSON */
			return -ENOENT;
		ks = i + 1;
		ke = json_string_end(d, len, i);
		if (ke == len)
			return -ENOENT;
		match = ke - ks == spec->name_len &&
		        memcmp(d + ks, spec->name, spec->name_len) == 0;
		i = json_ws(d, len, ke + 1);
		if (i == len || d[i] != ':')
			return -ENOENT;
		i = json_ws(d, len, i + 1);
		if (i == len)
			return -ENOENT;
		if (d[i] == '"') {
			vs = i + 1;
			ve = json_string_end(d, len, i);
			if (ve == len)
				return -ENOENT;
			if (match) {
				if (ve == vs)
					return -ENOENT;
				*key = d + vs;
				*key_len = ve - vs;
				return 0;
			}
			i = ve + 1;
		} else if (match) {
			return -ENOENT; /* a number, true, false, null, object or array */
		} else if (d[i] == '{' || d[i] == '[') {
			i = json_skip_nested(d, len, i);
		} else {
			i = json_skip_scalar(d, len, i);
		}
		i = json_ws(d, len, i);
		if (i == len || d[i] != ',')
			return -ENOENT;
		i++;
	}
}

int
slc_key_extract(const struct slc_key_spec *spec, const uint8_t *data, uint32_t len,
                const uint8_t **key, uint32_t *key_len)
{
	/* Here once, so that no path below hands libc a NULL data of length 0. */
	if (len == 0)
		return spec->kind == SLC_KEY_LEN32 ? -EBADMSG : -ENOENT;
	switch (spec->kind) {
	case SLC_KEY_LEN32:
		return key_len32(data, len, key, key_len);
	case SLC_KEY_FIELD:
		return key_field(data, len, spec->field, key, key_len);
	case SLC_KEY_PREFIX:
		return key_prefix(spec, data, len, key, key_len);
	case SLC_KEY_SYSLOG_HOSTNAME:
		return key_syslog(data, len, false, key, key_len);
	case SLC_KEY_SYSLOG_APPNAME:
		return key_syslog(data, len, true, key, key_len);
	case SLC_KEY_JSON:
		return key_json(spec, data, len, key, key_len);
	case SLC_KEY_OTLP:        /* found by the OTLP decoder, outside the message */
	case SLC_KEY_FORWARD_TAG: /* hashed by the reactor from the message's tag */
	case SLC_KEY_NONE:
		break;
	}
	return -ENOENT;
}

uint32_t
slc_key_hash(const uint8_t *key, uint32_t len)
{
	uint64_t h = XXH3_64bits(key, len);

	return (uint32_t)(h ^ (h >> 32));
}

/* ---- hot keys ---- */

#define HK_KEY_WORDS  (SLC_HOTKEYS_KEY_MAX / 8)
#define HK_READ_TRIES 10000

static_assert(SLC_HOTKEYS_KEY_MAX % 8 == 0, "keys are published as whole 64-bit words");

/* The writer's own copy of an entry: plain memory, only the writer touches it. */
struct hk_slot {
	uint64_t count; /* samples */
	uint64_t error; /* samples */
	uint32_t hash;
	uint32_t len;
	uint8_t key[SLC_HOTKEYS_KEY_MAX]; /* zero past min(len, KEY_MAX) */
};

/*
 * What readers see of an entry: a seqlock (Boehm, "Can seqlocks get along with programming
 * language memory models?", 2012). seq is even while the words are stable and odd while the
 * writer changes them. Every word is an atomic, read and written relaxed, so a reader that
 * races the writer reads stale or mixed words, never undefined ones, and seq tells it to
 * throw them away. The fences order the words against seq.
 */
struct hk_pub {
	_Atomic uint32_t seq;
	_Atomic uint64_t count;
	_Atomic uint64_t error;
	_Atomic uint64_t hash_len; /* hash | len << 32 */
	_Atomic uint64_t key[HK_KEY_WORDS];
};

struct slc_hotkeys {
	/* the writer's: */
	uint32_t k;
	uint32_t used;
	uint32_t every;
	uint32_t countdown; /* keyed messages until the next sample */
	uint32_t rng;       /* xorshift32 state, never 0 */
	uint64_t samples;
	struct hk_slot *slot;
	/* shared with readers: */
	_Atomic uint64_t seen_samples;
	struct hk_pub *pub;
};

/* Gap to the next sample, uniform in 1 .. 2N-1 (mean N). */
static uint32_t
hk_next_gap(struct slc_hotkeys *h)
{
	uint32_t x = h->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	h->rng = x;
	return 1 + x % (2 * h->every - 1);
}

struct slc_hotkeys *
slc_hotkeys_create(uint32_t k, uint32_t sample_every, int *err)
{
	struct slc_hotkeys *h;
	size_t size;

	if (k < 1 || k > SLC_HOTKEYS_K_MAX || sample_every < 1 ||
	    sample_every > SLC_HOTKEYS_SAMPLE_MAX) {
		*err = -EINVAL;
		return NULL;
	}
	/* One block: the struct, then the readers' entries, then the writer's. */
	size = sizeof(*h) + k * sizeof(struct hk_pub) + k * sizeof(struct hk_slot);
	h = calloc(1, size);
	if (h == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	h->k = k;
	h->every = sample_every;
	h->rng = 0x9e3779b9u; /* fixed: the sample points, and so tests, are reproducible */
	h->pub = (struct hk_pub *)(h + 1);
	h->slot = (struct hk_slot *)(h->pub + k);
	atomic_init(&h->seen_samples, 0);
	for (uint32_t i = 0; i < k; i++) {
		atomic_init(&h->pub[i].seq, 0);
		atomic_init(&h->pub[i].count, 0);
		atomic_init(&h->pub[i].error, 0);
		atomic_init(&h->pub[i].hash_len, 0);
		for (uint32_t w = 0; w < HK_KEY_WORDS; w++)
			atomic_init(&h->pub[i].key[w], 0);
	}
	h->countdown = hk_next_gap(h);
	*err = 0;
	return h;
}

void
slc_hotkeys_destroy(struct slc_hotkeys *h)
{
	free(h);
}

/* Copies the writer's slot i to what readers see; the key words only when they changed. */
static void
hk_publish(struct slc_hotkeys *h, uint32_t i, bool key_changed)
{
	const struct hk_slot *s = &h->slot[i];
	struct hk_pub *p = &h->pub[i];
	uint32_t seq = atomic_load_explicit(&p->seq, memory_order_relaxed); /* ours alone */

	atomic_store_explicit(&p->seq, seq + 1, memory_order_relaxed);
	/* R1: the odd seq before the words below; pairs with A2 in hk_read: a reader that
	 * reads any word stored below then sees seq changed. */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&p->count, s->count, memory_order_relaxed);
	atomic_store_explicit(&p->error, s->error, memory_order_relaxed);
	if (key_changed) {
		atomic_store_explicit(&p->hash_len, s->hash | (uint64_t)s->len << 32,
		                      memory_order_relaxed);
		for (uint32_t w = 0; w < HK_KEY_WORDS; w++) {
			uint64_t v;

			memcpy(&v, s->key + 8 * w, 8);
			atomic_store_explicit(&p->key[w], v, memory_order_relaxed);
		}
	}
	/* R2: the words above before the even seq; pairs with A1 in hk_read. */
	atomic_store_explicit(&p->seq, seq + 2, memory_order_release);
}

static void
hk_sample(struct slc_hotkeys *h, const uint8_t *key, uint32_t key_len, uint32_t hash)
{
	uint32_t stored = key_len < SLC_HOTKEYS_KEY_MAX ? key_len : SLC_HOTKEYS_KEY_MAX;
	struct hk_slot *s;
	uint32_t i, min;

	h->samples++;
	/* Only this thread writes it: a plain store, no read-modify-write; readers only need
	 * some recent value. */
	atomic_store_explicit(&h->seen_samples, h->samples, memory_order_relaxed);
	for (i = 0; i < h->used; i++) {
		s = &h->slot[i];
		if (s->hash == hash && s->len == key_len && memcmp(s->key, key, stored) == 0) {
			s->count++;
			hk_publish(h, i, false);
			return;
		}
	}
	if (h->used < h->k) {
		i = h->used++;
		s = &h->slot[i];
		s->count = 1;
		s->error = 0;
	} else {
		for (min = 0, i = 1; i < h->k; i++)
			if (h->slot[i].count < h->slot[min].count)
				min = i;
		i = min;
		s = &h->slot[i];
		/* Space-saving: the newcomer may have been counted before and evicted, at most
		 * as often as the smallest count; it inherits that count as its error. */
		s->error = s->count;
		s->count++;
	}
	s->hash = hash;
	s->len = key_len;
	memset(s->key, 0, sizeof(s->key));
	memcpy(s->key, key, stored);
	hk_publish(h, i, true);
}

void
slc_hotkeys_offer(struct slc_hotkeys *h, const uint8_t *key, uint32_t key_len, uint32_t hash)
{
	if (key_len == 0 || --h->countdown != 0)
		return;
	h->countdown = hk_next_gap(h);
	hk_sample(h, key, key_len, hash);
}

/* Reads entry i consistently into e (counts still in samples). 0 or -EAGAIN. */
static int
hk_read(const struct hk_pub *p, struct slc_hotkeys_entry *e)
{
	for (int tries = 0; tries < HK_READ_TRIES; tries++) {
		uint32_t s1, s2;
		uint64_t hl;

		/* A1: pairs with R2 in hk_publish: an even seq brings the words stored before
		 * it. */
		s1 = atomic_load_explicit(&p->seq, memory_order_acquire);
		if (s1 & 1) {
			/* The writer is mid-entry, or was preempted there: let it run. */
			sched_yield();
			continue;
		}
		e->count = atomic_load_explicit(&p->count, memory_order_relaxed);
		e->error = atomic_load_explicit(&p->error, memory_order_relaxed);
		hl = atomic_load_explicit(&p->hash_len, memory_order_relaxed);
		for (uint32_t w = 0; w < HK_KEY_WORDS; w++) {
			uint64_t v = atomic_load_explicit(&p->key[w], memory_order_relaxed);

			memcpy(e->key + 8 * w, &v, 8);
		}
		/* A2: pairs with R1 in hk_publish: the words above before the seq below. */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&p->seq, memory_order_relaxed);
		if (s1 == s2) {
			e->hash = (uint32_t)hl;
			e->key_len = (uint32_t)(hl >> 32);
			return 0;
		}
	}
	return -EAGAIN;
}

static bool
hk_before(const struct slc_hotkeys_entry *a, const struct slc_hotkeys_entry *b)
{
	return a->count > b->count || (a->count == b->count && a->hash < b->hash);
}

int
slc_hotkeys_snapshot(const struct slc_hotkeys *h, struct slc_hotkeys_entry *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < h->k; i++) {
		struct slc_hotkeys_entry e;
		uint32_t at;
		int rc = hk_read(&h->pub[i], &e);

		if (rc != 0)
			return rc;
		if (e.count == 0) /* not taken yet */
			continue;
		e.count *= h->every;
		e.error *= h->every;
		/* Insertion into the best max so far: K and max are small, and no buffer of
		 * all K is needed. */
		for (at = n; at > 0 && hk_before(&e, &out[at - 1]); at--)
			;
		if (at >= max)
			continue;
		if (n < max)
			n++;
		memmove(&out[at + 1], &out[at], (n - 1 - at) * sizeof(*out));
		out[at] = e;
	}
	return (int)n;
}

uint64_t
slc_hotkeys_seen(const struct slc_hotkeys *h)
{
	return atomic_load_explicit(&h->seen_samples, memory_order_relaxed) * h->every;
}
