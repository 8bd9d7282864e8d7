/* SPDX-License-Identifier: MIT */
/* stamp.h: the text stamp sluice-bench puts in each message, and its parser for the null sink. */
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
 * send_ns is CLOCK_MONOTONIC when the sender formatted the message: the null sink subtracts
 * it from its own CLOCK_MONOTONIC, so end-to-end latency means something only when sender
 * and daemon share a host (loopback). Across hosts the figure is garbage, not an error.
 *
 * Where the stamp sits, by framing (sluice-bench emits these):
 *   lines   the message is the stamp and its padding (the LF is framing);
 *   len32   a key header first: K as 2 bytes big-endian, K key bytes ("k<key>"), then
 *           the stamp (slc_stamp_len32_body gives it);
 *   syslog  RFC 5424: "<PRI>1 TIMESTAMP HOST APP - - - " then the stamp.
 * The null sink does not know which framing a message came in by, so it calls
 * slc_stamp_find(), which tries offset 0 (lines: one compare) and otherwise looks for
 * "SLB1 " in the first SLC_STAMP_FIND_MAX bytes. A "SLB1 " that does not parse (in a
 * syslog hostname, say) does not hide a real stamp after it.
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

/* Decimal digits of v (1 for 0). */
static inline uint32_t
slc_stamp_digits(uint64_t v)
{
	uint32_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Writes v in decimal at p (no NUL); returns the digits written. */
static inline uint32_t
slc_stamp_put_u64(char *p, uint64_t v)
{
	uint32_t n = slc_stamp_digits(v);

	for (uint32_t i = n; i > 0; i--) {
		p[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
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
 * Writes a message of exactly size bytes into buf: the stamp, then 'x' up to size (no
 * NUL). Returns size, or:
 *   -EMSGSIZE  size is smaller than the stamp (slc_stamp_len) or larger than INT32_MAX
 *   -ENOSPC    cap < size
 */
static inline int
slc_stamp_format(char *buf, size_t cap, uint64_t key, uint32_t conn, uint64_t seq, uint64_t send_ns,
                 uint32_t size)
{
	uint32_t n = slc_stamp_len(key, conn, seq, send_ns);
	char *p = buf;

	if (size < n || size > INT32_MAX)
		return -EMSGSIZE;
	if (cap < size)
		return -ENOSPC;
	memcpy(p, SLC_STAMP_MAGIC, SLC_STAMP_MAGIC_LEN);
	p += SLC_STAMP_MAGIC_LEN;
	p += slc_stamp_put_u64(p, key);
	*p++ = ' ';
	p += slc_stamp_put_u64(p, conn);
	*p++ = '.';
	p += slc_stamp_put_u64(p, seq);
	*p++ = ' ';
	p += slc_stamp_put_u64(p, send_ns);
	*p++ = ' ';
	memset(p, 'x', size - n);
	return (int)size;
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
