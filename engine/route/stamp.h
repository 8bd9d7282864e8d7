/* SPDX-License-Identifier: MIT */
/* stamp.h: the text stamp sluice-bench puts in each message, and its parser for the workers. */
#ifndef SLC_ENGINE_STAMP_H
#define SLC_ENGINE_STAMP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * A bench message starts with a stamp, then 'x' bytes up to the message's size:
 *
 *   SLB1 k<key> <conn>.<seq> <send_ns> xxxxxxxx...
 *
 * All numbers are canonical unsigned decimals (no sign, no leading zero); key and seq fit
 * in 64 bits, conn in 32. The space after send_ns is part of the stamp, so a stamp cut
 * short anywhere is refused rather than read as a smaller number. "k<key>" is its own
 * space-separated field (the second), so the daemon's `--key field:2` routes by it, and
 * <conn>.<seq> lets a receiver check order per connection.
 *
 * send_ns is CLOCK_MONOTONIC when the sender formatted the message: with --latency-stamps
 * the daemon's workers subtract it from their own CLOCK_MONOTONIC (daemon/latency.c), so
 * end-to-end latency means something only when sender and daemon share a host (loopback).
 * Across hosts the figure is garbage, not an error (a stamp from the future is counted
 * and left out).
 *
 * Where the stamp sits, by framing (sluice-bench emits these):
 *   lines   the message is the stamp and its padding (the LF is framing);
 *   len32   a key header first: K as 2 bytes big-endian, K key bytes ("k<key>"), then
 *           the stamp (slc_stamp_len32_body gives it);
 *   syslog  RFC 5424: "<PRI>1 TIMESTAMP HOST APP - - - " then the stamp.
 * A worker does not know which framing a message came in by: --latency-stamps start
 * calls slc_stamp_parse() at offset 0 (lines: one compare for a message without one), and
 * find calls slc_stamp_find(), which tries offset 0 and otherwise looks for "SLB1 " in the
 * first SLC_STAMP_FIND_MAX bytes. A "SLB1 " that does not parse (in a syslog hostname,
 * say) does not hide a real stamp after it.
 */

#define SLC_STAMP_MAGIC     "SLB1 k"
#define SLC_STAMP_MAGIC_LEN 6
/* "SLB1 k0 0.0 0 " */
#define SLC_STAMP_LEN_MIN 14
/* 20 digits for each 64-bit number, 10 for conn */
#define SLC_STAMP_LEN_MAX (SLC_STAMP_MAGIC_LEN + 20 + 1 + 10 + 1 + 20 + 1 + 20 + 1)
/* How far into a message slc_stamp_find() looks for the stamp's start: past a syslog
 * header (a 255-byte hostname fits) or a len32 key header. */
#define SLC_STAMP_FIND_MAX 512

struct slc_stamp {
	uint64_t key;
	uint64_t seq;
	uint64_t send_ns;
	uint32_t conn;
};

/*
 * The formatter runs once per message in sluice-bench, which shares the CPUs with the
 * daemon it measures (it was over half of the sender's CPU), so it avoids a divide-by-ten
 * loop, a chain of dependent multiplies per digit: the digit count comes from a log2
 * estimate and one compare, and the digits are written two at a time. tests/engine/
 * test_stamp.c holds it to snprintf's "%" PRIu64, byte for byte.
 */

/* Decimal digits of v (1 for 0). */
static inline uint32_t
slc_stamp_digits(uint64_t v)
{
	/* least[t]: the least number of t + 1 digits (0 for one digit, not 10^0) */
	static const uint64_t least[20] = {
	        0u,
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
	        10000000000000000000u,
	};
	/* A number of b bits (0 counts as 1 bit) has t or t + 1 digits, t = b * 1233 >> 12:
	 * 1233 / 4096 is just under log10(2), too little under to matter for b <= 64 (the
	 * tests try both ends of every b). t <= 19. */
	uint32_t bits = 64u - (uint32_t)__builtin_clzll(v | 1);
	uint32_t t = bits * 1233u >> 12;

	return t + (v >= least[t]);
}

/* Writes v as exactly n decimal digits at p (no NUL); n must be slc_stamp_digits(v). */
static inline void
slc_stamp_put_digits(char *p, uint64_t v, uint32_t n)
{
	static const char pairs[201] = /* "00" "01" .. "99" */
	        "0001020304050607080910111213141516171819"
	        "2021222324252627282930313233343536373839"
	        "4041424344454647484950515253545556575859"
	        "6061626364656667686970717273747576777879"
	        "8081828384858687888990919293949596979899";
	char *q = p + n;
	uint32_t w;

	/* Two digits a division: half as long a chain of dependent multiplies. 64-bit ones
	 * only while v needs them: key, conn and seq rarely do, and 32-bit ones are cheaper. */
	while (v > UINT32_MAX) {
		uint32_t r = (uint32_t)(v % 100);

		v /= 100;
		q -= 2;
		memcpy(q, pairs + 2 * r, 2);
	}
	w = (uint32_t)v;
	while (w >= 100) {
		uint32_t r = w % 100;

		w /= 100;
		q -= 2;
		memcpy(q, pairs + 2 * r, 2);
	}
	if (w >= 10) {
		q -= 2;
		memcpy(q, pairs + 2 * w, 2);
	} else {
		*--q = (char)('0' + w);
	}
}

/* Writes v in decimal at p (no NUL); returns the digits written. */
static inline uint32_t
slc_stamp_put_u64(char *p, uint64_t v)
{
	uint32_t n = slc_stamp_digits(v);

	slc_stamp_put_digits(p, v, n);
	return n;
}

/* The length of the stamp for these values, padding excluded. */
static inline uint32_t
slc_stamp_len(uint64_t key, uint32_t conn, uint64_t seq, uint64_t send_ns)
{
	return SLC_STAMP_MAGIC_LEN + slc_stamp_digits(key) + 1 + slc_stamp_digits(conn) + 1 +
	       slc_stamp_digits(seq) + 1 + slc_stamp_digits(send_ns) + 1;
}

/*
 * send_ns in decimal, formatted once for many stamps: sluice-bench stamps a whole batch
 * with one clock reading, and send_ns is the stamp's longest number (14 digits after a
 * day of uptime), so copying its text beats formatting it per message.
 */
struct slc_stamp_ns {
	uint32_t len;
	char text[20];
};

static inline void
slc_stamp_ns_set(struct slc_stamp_ns *t, uint64_t send_ns)
{
	t->len = slc_stamp_put_u64(t->text, send_ns);
}

/*
 * slc_stamp_format() with send_ns as t holds it (slc_stamp_ns_set): the same bytes and
 * the same returns:
 *   -EMSGSIZE  size is smaller than the stamp (slc_stamp_len) or larger than INT32_MAX
 *   -ENOSPC    cap < size
 */
static inline int
slc_stamp_format_ns(char *buf, size_t cap, uint64_t key, uint32_t conn, uint64_t seq,
                    const struct slc_stamp_ns *t, uint32_t size)
{
	/* Each count once, where slc_stamp_len() then slc_stamp_put_u64() would take two. */
	uint32_t nk = slc_stamp_digits(key);
	uint32_t nc = slc_stamp_digits(conn);
	uint32_t ns = slc_stamp_digits(seq);
	uint32_t n = SLC_STAMP_MAGIC_LEN + nk + 1 + nc + 1 + ns + 1 + t->len + 1;
	char *p = buf;

	if (size < n || size > INT32_MAX)
		return -EMSGSIZE;
	if (cap < size)
		return -ENOSPC;
	memcpy(p, SLC_STAMP_MAGIC, SLC_STAMP_MAGIC_LEN);
	p += SLC_STAMP_MAGIC_LEN;
	slc_stamp_put_digits(p, key, nk);
	p += nk;
	*p++ = ' ';
	slc_stamp_put_digits(p, conn, nc);
	p += nc;
	*p++ = '.';
	slc_stamp_put_digits(p, seq, ns);
	p += ns;
	*p++ = ' ';
	memcpy(p, t->text, t->len);
	p += t->len;
	*p++ = ' ';
	/* Every time, not once per buffer: the stamp's length moves with key and seq, so a
	 * slot of a batch buffer may hold the digits of a longer stamp from the last batch. */
	memset(p, 'x', size - n);
	return (int)size;
}

/*
 * Writes a message of exactly size bytes into buf: the stamp, then 'x' up to size (no
 * NUL). Returns size, or:
 *   -EMSGSIZE  size is smaller than the stamp (slc_stamp_len) or larger than INT32_MAX
 *   -ENOSPC    cap < size
 */
static inline int
slc_stamp_format(char *buf, size_t cap, uint64_t key, uint32_t conn, uint64_t seq, uint64_t send_ns,
                 uint32_t size)
{
	struct slc_stamp_ns t;

	slc_stamp_ns_set(&t, send_ns);
	return slc_stamp_format_ns(buf, cap, key, conn, seq, &t, size);
}

/*
 * Reads a canonical decimal at d[*pos] that ends with the byte `end`, and moves *pos past
 * that byte. Refuses (false, *pos unspecified) no digit, a leading zero, more than 64
 * bits, any other byte, or reaching len first.
 */
static inline bool
slc_stamp_parse_u64(const uint8_t *d, uint32_t len, uint32_t *pos, uint8_t end, uint64_t *out)
{
	uint32_t i = *pos;
	uint32_t start = i;
	uint64_t v = 0;

	while (i < len && d[i] >= '0' && d[i] <= '9') {
		uint64_t digit = (uint64_t)(d[i] - '0');

		if (v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
		i++;
	}
	if (i == start || i >= len || d[i] != end)
		return false;
	if (d[start] == '0' && i - start > 1)
		return false;
	*pos = i + 1;
	*out = v;
	return true;
}

/*
 * Parses the stamp at the start of data[0 .. len); the padding after it is not looked at.
 * Returns false, leaving *out untouched, for anything that slc_stamp_format() would not
 * have written. Reads no byte at or past len.
 */
static inline bool
slc_stamp_parse(const uint8_t *data, uint32_t len, struct slc_stamp *out)
{
	uint32_t pos = SLC_STAMP_MAGIC_LEN;
	uint64_t key, conn, seq, send_ns;

	if (len < SLC_STAMP_LEN_MIN || memcmp(data, SLC_STAMP_MAGIC, SLC_STAMP_MAGIC_LEN) != 0)
		return false;
	if (!slc_stamp_parse_u64(data, len, &pos, ' ', &key) ||
	    !slc_stamp_parse_u64(data, len, &pos, '.', &conn) || conn > UINT32_MAX ||
	    !slc_stamp_parse_u64(data, len, &pos, ' ', &seq) ||
	    !slc_stamp_parse_u64(data, len, &pos, ' ', &send_ns))
		return false;
	out->key = key;
	out->conn = (uint32_t)conn;
	out->seq = seq;
	out->send_ns = send_ns;
	return true;
}

/*
 * The body of a len32 payload with a key header (K: 2 bytes big-endian, then K key bytes):
 * true and *body, *body_len; false if the header does not fit in len.
 */
static inline bool
slc_stamp_len32_body(const uint8_t *data, uint32_t len, const uint8_t **body, uint32_t *body_len)
{
	uint32_t k;

	if (len < 2)
		return false;
	k = (uint32_t)data[0] << 8 | data[1];
	if (k > len - 2)
		return false;
	*body = data + 2 + k;
	*body_len = len - 2 - k;
	return true;
}

/*
 * The first stamp that starts in data[0 .. min(len, SLC_STAMP_FIND_MAX)), whatever the
 * framing (see the top of this file): true and *out, or false. Reads no byte past len.
 */
static inline bool
slc_stamp_find(const uint8_t *data, uint32_t len, struct slc_stamp *out)
{
	uint32_t end = len < SLC_STAMP_FIND_MAX ? len : SLC_STAMP_FIND_MAX;
	uint32_t i = 0;

	if (slc_stamp_parse(data, len, out))
		return true;
	while (i + 1 < end) {
		const uint8_t *s = memchr(data + i + 1, 'S', end - i - 1);

		if (s == NULL)
			return false;
		i = (uint32_t)(s - data);
		if (slc_stamp_parse(s, len - i, out))
			return true;
	}
	return false;
}

#endif /* SLC_ENGINE_STAMP_H */
