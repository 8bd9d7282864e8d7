/* SPDX-License-Identifier: MIT */
/* test_key.c: --key parsing, key extraction per kind, key hashing, the hot-key sketch. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/key.h"

#ifndef SLC_TEST_SCALE_DIV
#define SLC_TEST_SCALE_DIV 1
#endif

/* ---- helpers ---- */

static struct slc_key_spec
spec_of(const char *text)
{
	struct slc_key_spec spec;
	char err[160] = "";

	cr_assert_eq(slc_key_spec_parse(text, &spec, err, sizeof(err)), 0, "%s: %s", text, err);
	return spec;
}

/*
 * Extracts from a copy of msg[0..len) at the very end of a malloc'd block of exactly len
 * bytes, so that ASan reports any read past len; the key found goes to out as a string.
 */
static int
extract(const char *spec_text, const void *msg, size_t len, char *out, size_t out_len)
{
	struct slc_key_spec spec = spec_of(spec_text);
	const uint8_t *key = NULL;
	uint32_t key_len = 0;
	uint8_t *copy = malloc(len);
	int rc;

	cr_assert(copy != NULL || len == 0);
	if (len > 0)
		memcpy(copy, msg, len);
	out[0] = '\0';
	rc = slc_key_extract(&spec, copy, (uint32_t)len, &key, &key_len);
	if (rc == 0) {
		cr_expect(key_len >= 1, "a key is never empty");
		cr_expect(key >= copy && key + key_len <= copy + len,
		          "the key lies inside the message");
		if (key_len < out_len) {
			memcpy(out, key, key_len);
			out[key_len] = '\0';
		}
	}
	free(copy);
	return rc;
}

/* want == NULL: the message has no key (-ENOENT). */
static void
expect_key(int line, const char *spec, const char *msg, size_t len, const char *want)
{
	char got[256];
	int rc = extract(spec, msg, len, got, sizeof(got));

	if (want == NULL) {
		cr_expect_eq(rc, -ENOENT, "line %d: %s on '%s': rc %d key '%s', want no key", line,
		             spec, msg, rc, got);
		return;
	}
	cr_expect_eq(rc, 0, "line %d: %s on '%s': rc %d, want '%s'", line, spec, msg, rc, want);
	cr_expect_str_eq(got, want, "line %d: %s on '%s': key '%s', want '%s'", line, spec, msg,
	                 got, want);
}

#define EXPECT_KEY(spec, msg, want) expect_key(__LINE__, (spec), (msg), sizeof(msg) - 1, (want))

/* ---- extraction ---- */

Test(key, none_gives_no_key)
{
	EXPECT_KEY("none", "user=1 anything", NULL);
	EXPECT_KEY("none", "", NULL);
}

Test(key, len32_key_header)
{
	char got[256];

	EXPECT_KEY("len32", "\0\3abcbody", "abc");
	EXPECT_KEY("len32", "\0\3abc", "abc"); /* no body */
	EXPECT_KEY("len32", "\0\1k", "k");
	EXPECT_KEY("len32", "\0\0body", NULL); /* K = 0: keyless */
	EXPECT_KEY("len32", "\x00\x00", NULL);
	/* a binary key, NULs included */
	{
		static const uint8_t msg[] = {0x00, 0x03, 0x00, 0xff, 0x00, 'b'};
		struct slc_key_spec spec = spec_of("len32");
		const uint8_t *key;
		uint32_t key_len;

		cr_expect_eq(slc_key_extract(&spec, msg, sizeof(msg), &key, &key_len), 0);
		cr_expect_eq(key, msg + 2);
		cr_expect_eq(key_len, 3u);
	}
	/* truncated header, and K past the end of the payload */
	cr_expect_eq(extract("len32", "", 0, got, sizeof(got)), -EBADMSG);
	cr_expect_eq(extract("len32", "\x00", 1, got, sizeof(got)), -EBADMSG);
	cr_expect_eq(extract("len32", "\0\4abc", 5, got, sizeof(got)), -EBADMSG);
	cr_expect_eq(extract("len32", "\1\0abc", 5, got, sizeof(got)), -EBADMSG);
	cr_expect_eq(extract("len32", "\377\377abc", 5, got, sizeof(got)), -EBADMSG);
}

Test(key, field_picks_the_nth_run_of_non_blanks)
{
	EXPECT_KEY("field:1", "alpha beta gamma", "alpha");
	EXPECT_KEY("field:2", "alpha beta gamma", "beta");
	EXPECT_KEY("field:3", "alpha beta gamma", "gamma");
	EXPECT_KEY("field:4", "alpha beta gamma", NULL);
	EXPECT_KEY("field:1", "  \t alpha", "alpha");          /* leading blanks */
	EXPECT_KEY("field:2", "alpha \t\t  beta  \t", "beta"); /* repeated and trailing */
	EXPECT_KEY("field:3", "alpha \t\t  beta  \t", NULL);   /* trailing blanks are no field */
	EXPECT_KEY("field:2", "a\tb", "b");                    /* TAB separates */
	EXPECT_KEY("field:1", "a,b;c=d", "a,b;c=d");           /* nothing else does */
	EXPECT_KEY("field:1", "", NULL);
	EXPECT_KEY("field:1", " \t ", NULL);
	EXPECT_KEY("field:1", "x", "x");
}

Test(key, field_up_to_255)
{
	char msg[255 * 4 + 1], want[8];
	char got[16];
	size_t n = 0;

	for (int i = 1; i <= 255; i++)
		n += (size_t)sprintf(msg + n, "%d ", i % 100);
	cr_expect_eq(extract("field:255", msg, n, got, sizeof(got)), 0);
	snprintf(want, sizeof(want), "%d", 255 % 100);
	cr_expect_str_eq(got, want);
	cr_expect_eq(extract("field:255", msg, n - 4, got, sizeof(got)), -ENOENT);
}

Test(key, prefix_before_the_first_delimiter)
{
	EXPECT_KEY("prefix:|", "user42|rest|more", "user42");
	EXPECT_KEY("prefix:|", "user42|", "user42");
	EXPECT_KEY("prefix:|", "|rest", NULL);    /* delimiter at the start: empty key */
	EXPECT_KEY("prefix:|", "no delim", NULL); /* no delimiter */
	EXPECT_KEY("prefix:|", "", NULL);
	EXPECT_KEY("prefix:::", "a:b::c::d", "a:b"); /* a partial match is not the delimiter */
	EXPECT_KEY("prefix:::", "a:b:c", NULL);
	EXPECT_KEY("prefix:\\t", "tenant-7\tpayload", "tenant-7");
	EXPECT_KEY("prefix:\\s", "tenant-7 payload", "tenant-7");
	EXPECT_KEY("prefix:\\x3b", "k;v", "k");
	EXPECT_KEY("prefix:\\\\", "dom\\user", "dom");
	EXPECT_KEY("prefix:\\r\\n", "head\r\nbody", "head");
	EXPECT_KEY("prefix:=>", "k=v=>x", "k=v");
}

Test(key, syslog_rfc5424)
{
	static const char m[] = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
	                        "'su root' failed";

	EXPECT_KEY("syslog:hostname", m, "mymachine.example.com");
	EXPECT_KEY("syslog:appname", m, "su");
	/* NILVALUE */
	EXPECT_KEY("syslog:hostname", "<165>1 2003-08-24T05:14:15.000003-07:00 - evntslog - ID47 -",
	           NULL);
	EXPECT_KEY("syslog:appname", "<165>1 2003-08-24T05:14:15.000003-07:00 host - - ID47 -",
	           NULL);
	EXPECT_KEY("syslog:hostname", "<165>1 - host app - - - x", "host"); /* nil timestamp */
	/* no PRI */
	EXPECT_KEY("syslog:hostname", "1 2003-10-11T22:14:15Z web01 nginx 12 - - GET /", "web01");
	EXPECT_KEY("syslog:appname", "1 2003-10-11T22:14:15Z web01 nginx 12 - - GET /", "nginx");
	/* cut short */
	EXPECT_KEY("syslog:hostname", "<34>1 2003-10-11T22:14:15Z web01", "web01");
	EXPECT_KEY("syslog:appname", "<34>1 2003-10-11T22:14:15Z web01", NULL);
	EXPECT_KEY("syslog:hostname", "<34>1 2003-10-11T22:14:15Z", NULL);
	EXPECT_KEY("syslog:hostname", "<34>1 ", NULL);
	EXPECT_KEY("syslog:hostname", "<34>1", NULL);
}

Test(key, syslog_rfc3164)
{
	static const char pid[] = "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed";
	static const char nopid[] = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed";

	EXPECT_KEY("syslog:hostname", pid, "mymachine");
	EXPECT_KEY("syslog:appname", pid, "su");
	EXPECT_KEY("syslog:hostname", nopid, "mymachine");
	EXPECT_KEY("syslog:appname", nopid, "su");
	/* a one-digit day is space-padded */
	EXPECT_KEY("syslog:hostname", "<13>Feb  5 17:32:18 10.0.0.99 app: x", "10.0.0.99");
	/* no PRI */
	EXPECT_KEY("syslog:hostname", "Oct 11 22:14:15 gw1 kernel: eth0 up", "gw1");
	EXPECT_KEY("syslog:appname", "Oct 11 22:14:15 gw1 kernel: eth0 up", "kernel");
	/* no HOSTNAME: the token after the timestamp is a TAG */
	EXPECT_KEY("syslog:hostname", "<13>Oct 11 22:14:15 sshd[99]: accepted", NULL);
	EXPECT_KEY("syslog:appname", "<13>Oct 11 22:14:15 sshd[99]: accepted", "sshd");
	EXPECT_KEY("syslog:appname", "<13>Oct 11 22:14:15 cron: job", "cron");
	/* TAG with a path and pid, and a TAG that is only a pid */
	EXPECT_KEY("syslog:appname", "<22>Oct 11 22:14:15 mx postfix/smtpd[4]: x", "postfix/smtpd");
	EXPECT_KEY("syslog:appname", "<22>Oct 11 22:14:15 mx [4]: x", NULL);
	EXPECT_KEY("syslog:hostname", "<22>Oct 11 22:14:15 - app: x", NULL);
	/* a TAG without ':' at the end of the message */
	EXPECT_KEY("syslog:appname", "<22>Oct 11 22:14:15 mx CRON", "CRON");
	EXPECT_KEY("syslog:appname", "<22>Oct 11 22:14:15 mx", NULL);
	EXPECT_KEY("syslog:hostname", "<22>Oct 11 22:14:15 ", NULL);
	/* an RFC 3339 timestamp (rsyslog's ForwardFormat) */
	EXPECT_KEY("syslog:hostname", "<13>2024-01-02T03:04:05.123+00:00 db2 postgres[7]: x",
	           "db2");
	EXPECT_KEY("syslog:appname", "<13>2024-01-02T03:04:05.123+00:00 db2 postgres[7]: x",
	           "postgres");
	/* no timestamp, or not syslog at all */
	EXPECT_KEY("syslog:hostname", "<13>hello world", NULL);
	EXPECT_KEY("syslog:appname", "just some text", NULL);
	EXPECT_KEY("syslog:hostname", "<abc>Oct 11 22:14:15 h a: x", NULL);
	EXPECT_KEY("syslog:hostname", "<1234>Oct 11 22:14:15 h a: x", NULL);
	EXPECT_KEY("syslog:hostname", "<", NULL);
	EXPECT_KEY("syslog:hostname", "", NULL);
}

Test(key, json_top_level_string_field)
{
	EXPECT_KEY("json:user", "{\"user\":\"u1\",\"n\":3}", "u1");
	EXPECT_KEY("json:user", "{\"n\":3,\"user\":\"u1\"}", "u1");
	EXPECT_KEY("json:user", " \t{ \"user\" :\t\"u1\" , \"n\" : 3 }\r\n", "u1");
	EXPECT_KEY("json:user", "{\"n\":-1.5e3,\"ok\":true,\"z\":null,\"user\":\"u2\"}", "u2");
	/* first match wins */
	EXPECT_KEY("json:user", "{\"user\":\"first\",\"user\":\"second\"}", "first");
	/* nested objects and arrays are skipped, NAME inside them does not match */
	EXPECT_KEY("json:user", "{\"o\":{\"user\":\"x\",\"p\":{\"user\":\"y\"}},\"user\":\"top\"}",
	           "top");
	EXPECT_KEY("json:user", "{\"o\":{\"user\":\"x\"}}", NULL);
	EXPECT_KEY("json:user", "{\"a\":[\"user\",{\"user\":\"z\"},[1,[2]]],\"user\":\"w\"}", "w");
	EXPECT_KEY("json:user", "{\"a\":[\"}\",\"]\",\"{\"],\"user\":\"w\"}", "w");
	/* NAME as a value is not a field */
	EXPECT_KEY("json:user", "{\"a\":\"user\",\"b\":\"user\"}", NULL);
	EXPECT_KEY("json:user", "{\"a\":\"user\",\"user\":\"v\"}", "v");
	/* escaped quotes and backslashes in other strings */
	EXPECT_KEY("json:user", "{\"a\":\"say \\\"user\\\":\\\"x\\\"\",\"user\":\"ok\"}", "ok");
	EXPECT_KEY("json:user", "{\"a\":\"c:\\\\\",\"user\":\"ok\"}", "ok");
	EXPECT_KEY("json:user", "{\"o\":{\"s\":\"\\\"}\"},\"user\":\"ok\"}", "ok");
	/* escaped quotes in field names */
	EXPECT_KEY("json:user", "{\"x\\\"user\":\"no\",\"user\":\"yes\"}", "yes");
	EXPECT_KEY("json:user", "{\"user\\\"\":\"no\"}", NULL);
	EXPECT_KEY("json:user", "{\"us\\u0065r\":\"no\"}", NULL);
	/* the value is hashed raw, escapes and all */
	EXPECT_KEY("json:user", "{\"user\":\"a\\\"b\\\\\"}", "a\\\"b\\\\");
	EXPECT_KEY("json:user", "{\"user\":\"caf\xc3\xa9\"}", "caf\xc3\xa9");
	/* non-string values, and empty strings, are no key */
	EXPECT_KEY("json:user", "{\"user\":42}", NULL);
	EXPECT_KEY("json:user", "{\"user\":null,\"x\":\"y\"}", NULL);
	EXPECT_KEY("json:user", "{\"user\":{\"id\":\"1\"}}", NULL);
	EXPECT_KEY("json:user", "{\"user\":[\"1\"]}", NULL);
	EXPECT_KEY("json:user", "{\"user\":\"\"}", NULL);
	/* not an object, or broken before the field */
	EXPECT_KEY("json:user", "[{\"user\":\"x\"}]", NULL);
	EXPECT_KEY("json:user", "\"user\"", NULL);
	EXPECT_KEY("json:user", "user=x", NULL);
	EXPECT_KEY("json:user", "{}", NULL);
	EXPECT_KEY("json:user", "{", NULL);
	EXPECT_KEY("json:user", "{\"user\"", NULL);
	EXPECT_KEY("json:user", "{\"user\":", NULL);
	EXPECT_KEY("json:user", "{\"user\":\"unterminated", NULL);
	EXPECT_KEY("json:user", "{\"user\" \"x\"}", NULL);
	EXPECT_KEY("json:user", "{\"a\":1 \"user\":\"x\"}", NULL);
	EXPECT_KEY("json:user", "{\"a\":\"x\\", NULL);
	EXPECT_KEY("json:user", "", NULL);
	/* the line is read only up to the field: what follows may be anything */
	EXPECT_KEY("json:user", "{\"user\":\"u\", garbage", "u");
}

/* Every prefix of every sample, at the end of an exactly sized block: under ASan, any read
 * past len fails here. Keys found must lie inside the prefix (checked in extract()). */
Test(key, extraction_never_reads_past_len)
{
	static const char *const specs[] = {
	        "len32",     "field:1",         "field:3",        "prefix:|",
	        "prefix:::", "syslog:hostname", "syslog:appname", "json:user",
	};
	static const char *const msgs[] = {
	        "\0\5abcdebody",
	        "a  b\tc d",
	        "k|v",
	        "a:b::c",
	        "<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - x",
	        "<34>Oct 11 22:14:15 mymachine su[123]: x",
	        "<13>Oct  1 22:14:15 sshd[99]: x",
	        "<13>2024-01-02T03:04:05Z db2 postgres[7]: x",
	        "{\"a\":[1,{\"b\":\"\\\"\"}],\"s\":\"x\\\\\",\"user\":\"u1\"}",
	        "{\"user\":\"a\\\"b\"}",
	        "<1",
	        "{\"",
	};
	char got[256];

	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
			size_t len = m == 0 ? 11 : strlen(msgs[m]);

			for (size_t n = 0; n <= len; n++) {
				int rc = extract(specs[s], msgs[m], n, got, sizeof(got));

				cr_expect(rc == 0 || rc == -ENOENT || rc == -EBADMSG,
				          "%s on msg %zu cut at %zu: rc %d", specs[s], m, n, rc);
			}
		}
	}
}

/* ---- --key parsing ---- */

static void
expect_parse_error(const char *text, const char *want)
{
	struct slc_key_spec spec;
	char err[200] = "";

	cr_expect_eq(slc_key_spec_parse(text, &spec, err, sizeof(err)), -EINVAL, "%s", text);
	cr_expect_str_eq(err, want, "%s: got '%s'", text, err);
}

Test(key, spec_parse_accepts_every_kind)
{
	struct slc_key_spec s;

	s = spec_of("none");
	cr_expect_eq(s.kind, SLC_KEY_NONE);
	s = spec_of("len32");
	cr_expect_eq(s.kind, SLC_KEY_LEN32);
	s = spec_of("field:7");
	cr_expect_eq(s.kind, SLC_KEY_FIELD);
	cr_expect_eq(s.field, 7u);
	s = spec_of("field:255");
	cr_expect_eq(s.field, 255u);
	s = spec_of("prefix:\\x00\\tab");
	cr_expect_eq(s.kind, SLC_KEY_PREFIX);
	cr_expect_eq(s.delim_len, 4u);
	cr_expect_arr_eq(s.delim, "\0\tab", 4);
	s = spec_of("prefix:0123456789abcdef");
	cr_expect_eq(s.delim_len, 16u);
	s = spec_of("syslog:hostname");
	cr_expect_eq(s.kind, SLC_KEY_SYSLOG_HOSTNAME);
	s = spec_of("syslog:appname");
	cr_expect_eq(s.kind, SLC_KEY_SYSLOG_APPNAME);
	s = spec_of("json:user.id");
	cr_expect_eq(s.kind, SLC_KEY_JSON);
	cr_expect_eq(s.name_len, 7u);
	cr_expect_arr_eq(s.name, "user.id", 7);
	s = spec_of("otlp:service.name");
	cr_expect_eq(s.kind, SLC_KEY_OTLP);
	cr_expect_eq(s.name_len, 12u);
	cr_expect_arr_eq(s.name, "service.name", 12);
	/* Attribute names are compared raw: quotes and backslashes are ordinary bytes. */
	s = spec_of("otlp:a\"b\\");
	cr_expect_eq(s.name_len, 4u);
}

/* forward:tag: the tag is no part of the entry's bytes (the reactor hashes it), and
 * forward takes no other word. */
/* The OTLP key lies outside the message (the body): extraction from the body finds none. */
Test(key, otlp_key_is_not_in_the_message)
{
	struct slc_key_spec s = spec_of("otlp:service.name");
	const uint8_t *k = NULL;
	uint32_t kl = 0;

	cr_expect_eq(slc_key_extract(&s, (const uint8_t *)"service.name=x", 14, &k, &kl), -ENOENT);
	cr_expect_null(k);
}

Test(key, forward_tag_spec)
{
	struct slc_key_spec s = spec_of("forward:tag");
	const uint8_t *k = NULL;
	uint32_t kl = 0;

	cr_expect_eq(s.kind, SLC_KEY_FORWARD_TAG);
	cr_expect_eq(slc_key_extract(&s, (const uint8_t *)"\x01\x80", 2, &k, &kl), -ENOENT);
	cr_expect_null(k);
	expect_parse_error("forward:record", "--key forward:record: forward takes tag");
	expect_parse_error("forward:", "--key forward:: forward takes tag");
	expect_parse_error("forward:tags", "--key forward:tags: forward takes tag");
}

Test(key, spec_parse_errors_say_what_is_allowed)
{
	static const char kinds[] = "expected none, len32, field:N, prefix:DELIM, syslog:hostname, "
	                            "syslog:appname, json:NAME, otlp:NAME or forward:tag";
	char want[256];
	struct slc_key_spec spec;

	snprintf(want, sizeof(want), "--key hostname: %s", kinds);
	expect_parse_error("hostname", want);
	snprintf(want, sizeof(want), "--key : %s", kinds);
	expect_parse_error("", want);
	snprintf(want, sizeof(want), "--key NONE: %s", kinds);
	expect_parse_error("NONE", want);
	snprintf(want, sizeof(want), "--key len32x: %s", kinds);
	expect_parse_error("len32x", want);
	expect_parse_error("field:0", "--key field:0: N must be 1..255");
	expect_parse_error("field:256", "--key field:256: N must be 1..255");
	expect_parse_error("field:99999999999", "--key field:99999999999: N must be 1..255");
	expect_parse_error("field:", "--key field:: N must be 1..255");
	expect_parse_error("field:+1", "--key field:+1: N must be 1..255");
	expect_parse_error("field:1x", "--key field:1x: N must be 1..255");
	expect_parse_error("prefix:", "--key prefix:: DELIM must be 1..16 bytes");
	expect_parse_error("prefix:0123456789abcdefg",
	                   "--key prefix:0123456789abcdefg: DELIM must be 1..16 bytes");
	expect_parse_error("prefix:\\q",
	                   "--key prefix:\\q: unknown escape \\q; DELIM takes \\t \\n \\r \\s \\\\ "
	                   "and \\xHH");
	expect_parse_error("prefix:\\x4", "--key prefix:\\x4: \\x needs two hex digits (\\x3b)");
	expect_parse_error(
	        "prefix:a\\",
	        "--key prefix:a\\: DELIM ends with a lone '\\'; use \\\\ for a backslash");
	expect_parse_error("syslog:host", "--key syslog:host: syslog takes hostname or appname");
	expect_parse_error("json:", "--key json:: NAME must be 1..64 bytes");
	expect_parse_error("json:a\"b", "--key json:a\"b: NAME may not hold '\"', '\\' or control "
	                                "bytes");
	expect_parse_error("otlp:", "--key otlp:: NAME must be 1..64 bytes");
	expect_parse_error("otlp:a\tb", "--key otlp:a\tb: NAME may not hold control bytes");
	expect_parse_error(
	        "otlp:0123456789012345678901234567890123456789012345678901234567890123x",
	        "--key otlp:0123456789012345678901234567890123456789012345678901234567890123x: "
	        "NAME must be 1..64 bytes");
	/* a NULL err is allowed with err_len 0, and a short err is cut, not overrun */
	cr_expect_eq(slc_key_spec_parse("bogus", &spec, NULL, 0), -EINVAL);
	{
		char small[12];

		memset(small, 'x', sizeof(small));
		cr_expect_eq(slc_key_spec_parse("field:0", &spec, small, 8), -EINVAL);
		cr_expect_str_eq(small, "--key f");
		cr_expect_eq(small[8], 'x');
	}
}

Test(key, spec_parse_leaves_out_alone_on_error)
{
	struct slc_key_spec spec = spec_of("field:3");
	char err[100];

	cr_expect_eq(slc_key_spec_parse("field:0", &spec, err, sizeof(err)), -EINVAL);
	cr_expect_eq(spec.kind, SLC_KEY_FIELD);
	cr_expect_eq(spec.field, 3u);
}

/* ---- hashing ---- */

Test(key, hash_is_folded_xxh3_and_stable)
{
	/* XXH3_64bits("") = 0x2d06800538d394c2 (xxHash's own sanity vector); folded high ^ low. */
	cr_expect_eq(slc_key_hash(NULL, 0), 0x2d068005u ^ 0x38d394c2u);
	cr_expect_eq(slc_key_hash((const uint8_t *)"", 0), 0x2d068005u ^ 0x38d394c2u);
}

Test(key, hash_depends_on_bytes_not_address)
{
	uint8_t a[64], b[80];
	uint32_t seen[17];

	for (int i = 0; i < 64; i++)
		a[i] = (uint8_t)('a' + i % 26);
	memcpy(b + 13, a, 64);
	for (uint32_t len = 0; len <= 64; len++)
		cr_expect_eq(slc_key_hash(a, len), slc_key_hash(b + 13, len), "len %u", len);
	/* each length of the same bytes hashes differently */
	for (uint32_t len = 0; len <= 16; len++) {
		seen[len] = slc_key_hash(a, len);
		for (uint32_t j = 0; j < len; j++)
			cr_expect_neq(seen[j], seen[len], "len %u and %u", j, len);
	}
	cr_expect_neq(slc_key_hash((const uint8_t *)"a", 1),
	              slc_key_hash((const uint8_t *)"a\0", 2));
	cr_expect_neq(slc_key_hash((const uint8_t *)"user1", 5),
	              slc_key_hash((const uint8_t *)"user2", 5));
}

/* ---- hot keys ---- */

#define ZIPF_KEYS 500

struct zipf {
	double cdf[ZIPF_KEYS];
	char name[ZIPF_KEYS][16];
	uint32_t len[ZIPF_KEYS];
	uint32_t hash[ZIPF_KEYS];
	uint64_t rng;
};

/* Key i (0-based) has weight 1 / (i + 1)^1.2; draws come from a seeded xorshift64*. */
static void
zipf_init(struct zipf *z)
{
	double sum = 0;

	for (int i = 0; i < ZIPF_KEYS; i++) {
		sum += 1.0 / pow(i + 1, 1.2);
		z->cdf[i] = sum;
		z->len[i] = (uint32_t)snprintf(z->name[i], sizeof(z->name[i]), "key-%03d", i);
		z->hash[i] = slc_key_hash((const uint8_t *)z->name[i], z->len[i]);
	}
	for (int i = 0; i < ZIPF_KEYS; i++)
		z->cdf[i] /= sum;
	z->rng = 0x2545f4914f6cdd1dull;
}

static int
zipf_next(struct zipf *z)
{
	double u;
	int lo = 0, hi = ZIPF_KEYS - 1;

	z->rng ^= z->rng >> 12;
	z->rng ^= z->rng << 25;
	z->rng ^= z->rng >> 27;
	u = (double)((z->rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (z->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
key_index(const struct slc_hotkeys_entry *e)
{
	int i;

	if (e->key_len != 7 || sscanf((const char *)e->key, "key-%3d", &i) != 1)
		return -1;
	return i;
}

Test(key, hotkeys_create_checks_its_bounds)
{
	int err = 0;
	struct slc_hotkeys *h;

	cr_expect_null(slc_hotkeys_create(0, 64, &err));
	cr_expect_eq(err, -EINVAL);
	cr_expect_null(slc_hotkeys_create(SLC_HOTKEYS_K_MAX + 1, 64, &err));
	cr_expect_null(slc_hotkeys_create(32, 0, &err));
	cr_expect_null(slc_hotkeys_create(32, SLC_HOTKEYS_SAMPLE_MAX + 1, &err));
	h = slc_hotkeys_create(SLC_HOTKEYS_K_DEFAULT, SLC_HOTKEYS_SAMPLE_DEFAULT, &err);
	cr_assert_not_null(h);
	cr_expect_eq(err, 0);
	slc_hotkeys_destroy(h);
	slc_hotkeys_destroy(NULL);
}

/* Unsampled, the sketch keeps space-saving's guarantees exactly. */
Test(key, hotkeys_space_saving_bounds_unsampled)
{
	static struct zipf z;
	static uint64_t truth[ZIPF_KEYS];
	struct slc_hotkeys_entry out[32];
	const uint64_t total = 200000, k = 32;
	int err, n;
	struct slc_hotkeys *h = slc_hotkeys_create((uint32_t)k, 1, &err);

	cr_assert_not_null(h);
	n = slc_hotkeys_snapshot(h, out, 32);
	cr_expect_eq(n, 0, "empty before the first offer");
	zipf_init(&z);
	for (uint64_t m = 0; m < total; m++) {
		int i = zipf_next(&z);

		truth[i]++;
		slc_hotkeys_offer(h, (const uint8_t *)z.name[i], z.len[i], z.hash[i]);
	}
	cr_expect_eq(slc_hotkeys_seen(h), total);
	n = slc_hotkeys_snapshot(h, out, 32);
	cr_assert_eq(n, 32);
	for (int e = 0; e < n; e++) {
		int i = key_index(&out[e]);

		cr_assert(i >= 0, "entry %d holds a key we offered", e);
		cr_expect_eq(out[e].hash, z.hash[i]);
		cr_expect(out[e].count - out[e].error <= truth[i] && truth[i] <= out[e].count,
		          "%s: count %lu error %lu true %lu", z.name[i],
		          (unsigned long)out[e].count, (unsigned long)out[e].error,
		          (unsigned long)truth[i]);
		if (e > 0)
			cr_expect_geq(out[e - 1].count, out[e].count, "sorted by count");
	}
	/* every key above total/K is there, and the five heaviest lead in order */
	for (int i = 0; i < ZIPF_KEYS; i++) {
		bool found = false;

		if (truth[i] * k <= total)
			continue;
		for (int e = 0; e < n; e++)
			found |= key_index(&out[e]) == i;
		cr_expect(found, "%s (%lu of %lu) is in the sketch", z.name[i],
		          (unsigned long)truth[i], (unsigned long)total);
	}
	for (int e = 0; e < 5; e++)
		cr_expect_eq(key_index(&out[e]), e, "rank %d", e);
	/* a smaller max returns the same head */
	{
		struct slc_hotkeys_entry top[3];

		cr_expect_eq(slc_hotkeys_snapshot(h, top, 3), 3);
		for (int e = 0; e < 3; e++)
			cr_expect_eq(key_index(&top[e]), key_index(&out[e]));
		cr_expect_eq(slc_hotkeys_snapshot(h, top, 0), 0);
	}
	slc_hotkeys_destroy(h);
}

/* Sampled 1 in 64, counts are scaled back and land within the error plus sampling noise. */
Test(key, hotkeys_sampled_counts_are_scaled)
{
	static struct zipf z;
	static uint64_t truth[ZIPF_KEYS];
	struct slc_hotkeys_entry out[8];
	const uint64_t total = 1000000, every = 64;
	int err, n;
	struct slc_hotkeys *h = slc_hotkeys_create(32, (uint32_t)every, &err);
	uint64_t seen;

	cr_assert_not_null(h);
	zipf_init(&z);
	for (uint64_t m = 0; m < total; m++) {
		int i = zipf_next(&z);

		truth[i]++;
		slc_hotkeys_offer(h, (const uint8_t *)z.name[i], z.len[i], z.hash[i]);
	}
	seen = slc_hotkeys_seen(h);
	cr_expect(seen > total * 95 / 100 && seen < total * 105 / 100, "seen %lu",
	          (unsigned long)seen);
	n = slc_hotkeys_snapshot(h, out, 8);
	cr_assert_eq(n, 8);
	for (int e = 0; e < 3; e++) {
		int i = key_index(&out[e]);
		/* four standard deviations of a sample count, in messages */
		double noise = 4 * sqrt((double)out[e].count * (double)every);
		double lo = (double)out[e].count - (double)out[e].error - noise;
		double hi = (double)out[e].count + noise;

		cr_expect_eq(i, e, "rank %d", e);
		cr_expect_eq(out[e].count % every, 0u, "scaled by the sampling rate");
		if (i >= 0)
			cr_expect((double)truth[i] >= lo && (double)truth[i] <= hi,
			          "%s: count %lu error %lu true %lu", z.name[i],
			          (unsigned long)out[e].count, (unsigned long)out[e].error,
			          (unsigned long)truth[i]);
	}
	slc_hotkeys_destroy(h);
}

Test(key, hotkeys_keep_a_truncated_copy_of_long_keys)
{
	uint8_t a[100], b[100];
	struct slc_hotkeys_entry out[4];
	int err;
	struct slc_hotkeys *h = slc_hotkeys_create(4, 1, &err);

	cr_assert_not_null(h);
	memset(a, 'a', sizeof(a));
	memcpy(b, a, sizeof(b));
	b[99] = 'b'; /* same first 64 bytes, different key */
	for (int r = 0; r < 3; r++)
		slc_hotkeys_offer(h, a, sizeof(a), slc_key_hash(a, sizeof(a)));
	slc_hotkeys_offer(h, b, sizeof(b), slc_key_hash(b, sizeof(b)));
	slc_hotkeys_offer(h, a, 0, 0); /* no key: ignored */
	cr_assert_eq(slc_hotkeys_snapshot(h, out, 4), 2);
	cr_expect_eq(out[0].count, 3u);
	cr_expect_eq(out[0].key_len, 100u);
	cr_expect_arr_eq(out[0].key, a, SLC_HOTKEYS_KEY_MAX);
	cr_expect_eq(out[0].hash, slc_key_hash(a, sizeof(a)));
	cr_expect_eq(out[1].count, 1u);
	cr_expect_eq(out[1].hash, slc_key_hash(b, sizeof(b)));
	slc_hotkeys_destroy(h);
}

/* A reader snapshots while the writer offers: every entry it sees is whole (its hash is the
 * hash of its key bytes) and the list is sorted. Meant for TSan as much as for the check. */
struct reader_ctx {
	struct slc_hotkeys *h;
	atomic_bool stop;
	atomic_uint snapshots;
	unsigned again, torn, unsorted;
};

static void *
reader_main(void *arg)
{
	struct reader_ctx *c = arg;
	struct slc_hotkeys_entry out[SLC_HOTKEYS_K_DEFAULT];

	while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
		int n = slc_hotkeys_snapshot(c->h, out, SLC_HOTKEYS_K_DEFAULT);

		if (n < 0) {
			c->again++;
			continue;
		}
		for (int e = 0; e < n; e++) {
			uint32_t kl = out[e].key_len;

			if (kl > SLC_HOTKEYS_KEY_MAX || out[e].count < out[e].error ||
			    out[e].hash != slc_key_hash(out[e].key, kl))
				c->torn++;
			if (e > 0 && out[e - 1].count < out[e].count)
				c->unsorted++;
		}
		atomic_fetch_add_explicit(&c->snapshots, 1, memory_order_relaxed);
	}
	return NULL;
}

Test(key, hotkeys_snapshot_races_the_writer)
{
	static struct zipf z;
	struct reader_ctx c = {0};
	pthread_t reader;
	int err;
	uint64_t m = 0;
	const uint64_t min_offers = 2000000 / SLC_TEST_SCALE_DIV;

	/* unsampled and small: every offer writes an entry, the most contention there is */
	c.h = slc_hotkeys_create(SLC_HOTKEYS_K_DEFAULT, 1, &err);
	cr_assert_not_null(c.h);
	zipf_init(&z);
	cr_assert_eq(pthread_create(&reader, NULL, reader_main, &c), 0);
	while (m < min_offers || atomic_load_explicit(&c.snapshots, memory_order_relaxed) < 50) {
		int i = zipf_next(&z);

		slc_hotkeys_offer(c.h, (const uint8_t *)z.name[i], z.len[i], z.hash[i]);
		m++;
	}
	atomic_store_explicit(&c.stop, true, memory_order_release);
	pthread_join(reader, NULL);
	cr_expect_eq(c.torn, 0u);
	cr_expect_eq(c.unsorted, 0u);
	cr_expect_geq(atomic_load(&c.snapshots), 50u);
	fprintf(stderr, "hotkeys race: %lu offers, %u snapshots, %u -EAGAIN\n", (unsigned long)m,
	        atomic_load(&c.snapshots), c.again);
	slc_hotkeys_destroy(c.h);
}
