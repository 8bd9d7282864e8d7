/* SPDX-License-Identifier: MIT */
/* fuzz_stamp.c: libFuzzer target: sluice-bench's message stamp, parsed and formatted. */
/*
 * The first byte picks a mode (its low bit):
 *   0  parse: the rest of the input is a message. slc_stamp_parse and slc_stamp_find must
 *      agree with a reference reading of stamp.h's grammar (sscanf-free, digit by digit),
 *      and a stamp they accept must be exactly what slc_stamp_format writes for its
 *      numbers (canonical: one text per value).
 *   1  format: key, conn, seq, send_ns, size and the buffer's capacity come from the
 *      input. slc_stamp_format and slc_stamp_format_ns must return what stamp.h says,
 *      write exactly snprintf's text and 'x' up to size and nothing past size or cap, and
 *      the message must parse back to the same numbers; every cut of the stamp is refused,
 *      and slc_stamp_find finds it behind a len32 key header and a syslog header.
 * Every message sits at the end of a block of exactly its size: a read past len is an
 * ASan report.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/stamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...);

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz_stamp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* A canonical decimal of at most max (no sign, no leading zero) ending in `end`. */
static bool
ref_number(const uint8_t *d, size_t len, size_t *pos, uint8_t end, uint64_t max, uint64_t *out)
{
	size_t i = *pos, digits = 0;
	unsigned __int128 v = 0;

	while (i < len && d[i] >= '0' && d[i] <= '9') {
		v = v * 10 + (unsigned)(d[i] - '0');
		if (v > max)
			return false;
		i++;
		digits++;
	}
	if (digits == 0 || (digits > 1 && d[*pos] == '0') || i == len || d[i] != end)
		return false;
	*pos = i + 1;
	*out = (uint64_t)v;
	return true;
}

/* stamp.h's grammar: "SLB1 k<key> <conn>.<seq> <send_ns> "; the stamp's length or 0. */
static size_t
ref_parse(const uint8_t *d, size_t len, struct slc_stamp *out)
{
	size_t pos = SLC_STAMP_MAGIC_LEN;
	uint64_t conn;

	if (len < SLC_STAMP_MAGIC_LEN || memcmp(d, "SLB1 k", SLC_STAMP_MAGIC_LEN) != 0)
		return 0;
	if (!ref_number(d, len, &pos, ' ', UINT64_MAX, &out->key) ||
	    !ref_number(d, len, &pos, '.', UINT32_MAX, &conn) ||
	    !ref_number(d, len, &pos, ' ', UINT64_MAX, &out->seq) ||
	    !ref_number(d, len, &pos, ' ', UINT64_MAX, &out->send_ns))
		return 0;
	out->conn = (uint32_t)conn;
	return pos;
}

static bool
stamp_eq(const struct slc_stamp *a, const struct slc_stamp *b)
{
	return a->key == b->key && a->conn == b->conn && a->seq == b->seq &&
	       a->send_ns == b->send_ns;
}

/* A copy of d[0 .. len) at the end of a block of exactly len bytes (free() it). */
static uint8_t *
exact_copy(const uint8_t *d, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	if (c == NULL)
		abort();
	memcpy(c, d, len);
	return c;
}

static void
check_parse(const uint8_t *data, size_t size)
{
	uint32_t len = size > 4096 ? 4096 : (uint32_t)size;
	uint8_t *d = exact_copy(data, len);
	struct slc_stamp got, want, sentinel;
	size_t n = ref_parse(d, len, &want);
	size_t end = len < SLC_STAMP_FIND_MAX ? len : SLC_STAMP_FIND_MAX;
	bool ok;

	memset(&sentinel, 0x5a, sizeof(sentinel));
	got = sentinel;
	ok = slc_stamp_parse(d, len, &got);
	if (ok != (n != 0) || (ok && !stamp_eq(&got, &want)))
		fail("parse of \"%.*s\": %d, the reference says %d", (int)len, (const char *)d, ok,
		     n != 0);
	if (!ok && memcmp(&got, &sentinel, sizeof(got)) != 0)
		fail("parse of \"%.*s\" refused but wrote *out", (int)len, (const char *)d);
	if (ok) {
		/* Canonical: formatting the numbers gives the same bytes back. */
		char buf[SLC_STAMP_LEN_MAX];
		int rc = slc_stamp_format(buf, sizeof(buf), got.key, got.conn, got.seq, got.send_ns,
		                          (uint32_t)n);

		if (rc != (int)n || memcmp(buf, d, n) != 0)
			fail("parse of \"%.*s\" accepted what format does not write (%d)", (int)n,
			     (const char *)d, rc);
	}

	/* find: the first offset below min(len, FIND_MAX) where a stamp parses. */
	got = sentinel;
	ok = slc_stamp_find(d, len, &got);
	n = 0;
	for (size_t i = 0; i < end; i++) {
		n = ref_parse(d + i, len - i, &want);
		if (n != 0)
			break;
	}
	if (ok != (n != 0) || (ok && !stamp_eq(&got, &want)))
		fail("find in \"%.*s\": %d, the reference says %d", (int)len, (const char *)d, ok,
		     n != 0);
	free(d);
}

static uint64_t
take64(const uint8_t **p, size_t *n, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v = v << 8 | (*n ? **p : 0);
		if (*n) {
			(*p)++;
			(*n)--;
		}
	}
	return v;
}

/* Numbers that hit the digit-count edges: 0, 10^k - 1, 10^k, 2^k - 1, 2^k, max. */
static uint64_t
edgy(uint64_t raw, uint64_t max)
{
	static const uint64_t pow10[20] = {1u,
	                                   10u,
	                                   100u,
	                                   1000u,
	                                   10000u,
	                                   100000u,
	                                   1000000u,
	                                   10000000u,
	                                   100000000u,
	                                   1000000000u,
	                                   10000000000u,
	                                   100000000000u,
	                                   1000000000000u,
	                                   10000000000000u,
	                                   100000000000000u,
	                                   1000000000000000u,
	                                   10000000000000000u,
	                                   100000000000000000u,
	                                   1000000000000000000u,
	                                   10000000000000000000u};
	uint64_t v;

	switch (raw & 7) {
	case 0:
		v = pow10[(raw >> 3) % 20];
		break;
	case 1:
		v = pow10[(raw >> 3) % 20] - 1;
		break;
	case 2:
		v = (uint64_t)1 << ((raw >> 3) % 64);
		break;
	case 3:
		v = ((uint64_t)1 << ((raw >> 3) % 64)) - 1;
		break;
	case 4:
		v = UINT64_MAX - ((raw >> 3) & 3);
		break;
	default:
		v = raw >> 3;
		break;
	}
	return v > max ? v % (max + 1) : v;
}

static void
check_format(const uint8_t *p, size_t n)
{
	uint64_t key = edgy(take64(&p, &n, 8), UINT64_MAX);
	uint32_t conn = (uint32_t)edgy(take64(&p, &n, 8), UINT32_MAX);
	uint64_t seq = edgy(take64(&p, &n, 8), UINT64_MAX);
	uint64_t ns = edgy(take64(&p, &n, 8), UINT64_MAX);
	uint32_t sel = (uint32_t)take64(&p, &n, 2);
	char want[SLC_STAMP_LEN_MAX + 1];
	int wlen = snprintf(want, sizeof(want),
	                    "SLB1 k%" PRIu64 " %" PRIu32 ".%" PRIu64 " %" PRIu64 " ", key, conn,
	                    seq, ns);
	uint32_t slen = slc_stamp_len(key, conn, seq, ns);
	uint32_t size;
	size_t cap;
	struct slc_stamp_ns t;
	struct slc_stamp got;
	char *buf;
	int rc, rc2, exp;

	if (wlen < 0 || (uint32_t)wlen != slen || slen < SLC_STAMP_LEN_MIN ||
	    slen > SLC_STAMP_LEN_MAX)
		fail("slc_stamp_len %u, snprintf %d", slen, wlen);
	/* size: around the stamp's length mostly; sometimes past INT32_MAX */
	if ((sel & 15) == 15)
		size = (uint32_t)INT32_MAX + 1 + (sel >> 4);
	else
		size = slen - 2 + (sel >> 4) % 70;
	cap = (sel & 3) == 0 ? size - (sel >> 8) % 3 : size + (sel >> 8) % 3;
	if (size > (uint32_t)INT32_MAX)
		cap = 256; /* nothing may be written: a small block shows it */
	exp = size < slen || size > (uint32_t)INT32_MAX ? -EMSGSIZE
	      : cap < size                              ? -ENOSPC
	                                                : (int)size;
	buf = malloc(cap ? cap : 1);
	if (buf == NULL)
		abort();
	memset(buf, '#', cap);
	rc = slc_stamp_format(buf, cap, key, conn, seq, ns, size);
	if (rc != exp)
		fail("format %s size %u cap %zu: %d, want %d", want, size, cap, rc, exp);
	if (rc < 0) {
		for (size_t i = 0; i < cap; i++)
			if (buf[i] != '#')
				fail("format %s size %u cap %zu: refused, but wrote", want, size,
				     cap);
		free(buf);
		return;
	}
	if (memcmp(buf, want, slen) != 0)
		fail("format: \"%.*s\", snprintf \"%s\"", (int)slen, buf, want);
	for (uint32_t i = slen; i < size; i++)
		if (buf[i] != 'x')
			fail("format %s size %u: byte %u is not 'x'", want, size, i);
	for (size_t i = size; i < cap; i++)
		if (buf[i] != '#')
			fail("format %s size %u cap %zu: wrote past size", want, size, cap);
	/* format_ns: the same bytes, over a buffer that held a longer stamp before */
	memset(buf, '7', cap);
	slc_stamp_ns_set(&t, ns);
	rc2 = slc_stamp_format_ns(buf, cap, key, conn, seq, &t, size);
	if (rc2 != rc || memcmp(buf, want, slen) != 0)
		fail("format_ns %s: %d, not format's %d", want, rc2, rc);
	for (uint32_t i = slen; i < size; i++)
		if (buf[i] != 'x')
			fail("format_ns %s size %u: byte %u is not 'x'", want, size, i);

	/* Back again, whole; and refused when cut anywhere inside the stamp. */
	{
		uint8_t *m = exact_copy((const uint8_t *)buf, size);

		if (!slc_stamp_parse(m, size, &got) || got.key != key || got.conn != conn ||
		    got.seq != seq || got.send_ns != ns)
			fail("%s does not parse back", want);
		free(m);
		for (uint32_t cut = 0; cut < slen; cut++) {
			m = exact_copy((const uint8_t *)buf, cut);
			if (slc_stamp_parse(m, cut, &got) || slc_stamp_find(m, cut, &got))
				fail("%s cut at %u bytes parses", want, cut);
			free(m);
		}
	}

	/* Behind a len32 key header and a syslog header, as sluice-bench sends it. */
	{
		uint8_t hdr[300];
		uint32_t hl, klen = 1 + (sel >> 10) % 40;
		uint8_t *m;

		if ((sel >> 9) & 1) {
			hdr[0] = 0;
			hdr[1] = (uint8_t)klen;
			for (uint32_t i = 0; i < klen; i++)
				hdr[2 + i] = (uint8_t) "SLB1 k9 "[i % 8]; /* a stamp-like key */
			hl = 2 + klen;
		} else {
			hl = (uint32_t)snprintf((char *)hdr, sizeof(hdr),
			                        "<134>1 2024-01-01T00:00:00Z SLB1 bench - - - ");
		}
		m = malloc(hl + size);
		if (m == NULL)
			abort();
		memcpy(m, hdr, hl);
		memcpy(m + hl, buf, size);
		free(buf);
		buf = (char *)exact_copy(m, hl + size);
		free(m);
		if (hl + slen > SLC_STAMP_FIND_MAX)
			fail("header of %u bytes", hl);
		if (!slc_stamp_find((const uint8_t *)buf, hl + size, &got) || got.key != key ||
		    got.conn != conn || got.seq != seq || got.send_ns != ns)
			fail("%s not found behind a header of %u bytes", want, hl);
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0)
		check_parse(data + 1, size - 1);
	else
		check_format(data + 1, size - 1);
	return 0;
}
