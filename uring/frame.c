/* SPDX-License-Identifier: MIT */
/* frame.c: the lines, len32 and syslog framing parsers (see frame.h for the rules). */
#include "frame.h"
#include "forward.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

static_assert(SLC_FRAME_ERR__COUNT <= UINT8_MAX, "errors fit parser.err");
/* step_lf() counts max_frame + 2 bytes (a CR and an LF) in a uint32_t. */
static_assert(SLC_FRAME_LEN_MAX < (1u << 31), "frame length limit");
/* It lives in every connection, next to the hot fields of the connection; the forward
 * framing's state took it from 24 to 32 bytes (a quarter of a line more per connection). */
static_assert(sizeof(struct slc_frame_parser) <= 32, "parser state stays small");

static const char *const error_str[SLC_FRAME_ERR__COUNT] = {
        [SLC_FRAME_OK] = "ok",
        [SLC_FRAME_ERR_OVERSIZE] = "oversize",
        [SLC_FRAME_ERR_BAD_OCTET_COUNT] = "bad_octet_count",
        [SLC_FRAME_ERR_LEADING_ZERO] = "leading_zero",
        [SLC_FRAME_ERR_MSGPACK] = "msgpack",
        [SLC_FRAME_ERR_FORWARD_SHAPE] = "forward_shape",
        [SLC_FRAME_ERR_FORWARD_TIME] = "forward_time",
        [SLC_FRAME_ERR_FORWARD_COMPRESSED] = "forward_compressed",
        [SLC_FRAME_ERR_FORWARD_GZIP] = "forward_gzip",
        [SLC_FRAME_ERR_FORWARD_INFLATED] = "forward_inflated",
};

static const char *const format_name[SLC_FRAME_FORMAT__COUNT] = {
        [SLC_FRAME_LINES] = "lines",
        [SLC_FRAME_LEN32] = "len32",
        [SLC_FRAME_SYSLOG] = "syslog",
        [SLC_FRAME_FORWARD] = "forward",
};

const char *
slc_frame_error_str(enum slc_frame_error e)
{
	if ((unsigned)e >= SLC_FRAME_ERR__COUNT)
		return "unknown";
	return error_str[e];
}

const char *
slc_frame_format_name(enum slc_frame_format f)
{
	if ((unsigned)f >= SLC_FRAME_FORMAT__COUNT)
		return "unknown";
	return format_name[f];
}

int
slc_frame_format_parse(const char *name, enum slc_frame_format *out)
{
	if (name == NULL)
		return -EINVAL;
	for (unsigned f = 0; f < SLC_FRAME_FORMAT__COUNT; f++) {
		if (strcmp(name, format_name[f]) == 0) {
			*out = (enum slc_frame_format)f;
			return 0;
		}
	}
	return -EINVAL;
}

int
slc_frame_parser_init(struct slc_frame_parser *p, enum slc_frame_format f, uint32_t max_frame)
{
	if ((unsigned)f >= SLC_FRAME_FORMAT__COUNT || max_frame == 0 ||
	    max_frame > SLC_FRAME_LEN_MAX)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->format = (uint8_t)f;
	p->phase = SLC_FRAME_PHASE_IDLE;
	p->max_frame = max_frame;
	return 0;
}

/*
 * The steps below each take the parser from its phase as far as the chunk allows. They
 * return 1 when they filled *pc, 0 when they consumed bytes without a piece (a header), or
 * -SLC_FRAME_ERR_*; on an error they leave *ip where the step began.
 */

static inline void
piece_set(struct slc_frame_piece *pc, uint32_t off, uint32_t len, uint8_t start, uint8_t end,
          uint8_t trim)
{
	pc->off = off;
	pc->len = len;
	pc->start = start;
	pc->end = end;
	pc->trim = trim;
}

/* Skip mode: the frame is dropped; size is what is known of it, for the log. */
static inline void
piece_drop(struct slc_frame_piece *pc, uint64_t size)
{
	piece_set(pc, size > UINT32_MAX ? UINT32_MAX : (uint32_t)size, 0, 0, 1,
	          SLC_FRAME_TRIM_DROP);
}

/*
 * An LF frame of at least size bytes is oversize: the error; or in skip mode a drop piece,
 * the parser going on at `to`, in SKIP_LF (the LF not found yet) or IDLE (past the LF).
 * Out of line and cold, as count_oversize: the rare case must not weigh on the inlining
 * and layout of step_lf, the per-message path of lines (bench_reactor measured 7% more
 * receiver ns per message with it inline).
 */
static int __attribute__((noinline, cold))
lf_oversize(struct slc_frame_parser *p, uint32_t *ip, uint32_t to, struct slc_frame_piece *pc,
            uint64_t size, bool past_lf)
{
	if (!p->skip)
		return -SLC_FRAME_ERR_OVERSIZE;
	piece_drop(pc, size);
	p->phase = past_lf ? SLC_FRAME_PHASE_IDLE : SLC_FRAME_PHASE_SKIP_LF;
	p->seen = 0;
	p->cr = 0;
	*ip = to;
	return 1;
}

/* SKIP_LF: bytes up to and including the next LF are dropped. */
static inline int
step_skip_lf(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip)
{
	const uint8_t *lf = memchr(chunk + *ip, '\n', len - *ip);

	if (lf == NULL) {
		*ip = len;
		return 0;
	}
	*ip = (uint32_t)(lf - chunk) + 1;
	p->phase = SLC_FRAME_PHASE_IDLE;
	return 0;
}

/* SKIP_COUNT: need more bytes of a counted frame are dropped. */
static inline int
step_skip_count(struct slc_frame_parser *p, uint32_t len, uint32_t *ip)
{
	uint32_t take = p->need < len - *ip ? p->need : len - *ip;

	p->need -= take;
	*ip += take;
	if (p->need == 0)
		p->phase = SLC_FRAME_PHASE_IDLE;
	return 0;
}

/* A counted frame of n > max_frame bytes whose header ends at `at`: the error; or in skip
 * mode a drop piece, and its n bytes skipped. */
static int __attribute__((noinline, cold))
count_oversize(struct slc_frame_parser *p, uint32_t *ip, uint32_t at, struct slc_frame_piece *pc,
               uint32_t n)
{
	if (!p->skip)
		return -SLC_FRAME_ERR_OVERSIZE;
	piece_drop(pc, n);
	p->phase = SLC_FRAME_PHASE_SKIP_COUNT;
	p->need = n;
	*ip = at;
	return 1;
}

/*
 * LF framing from chunk[*ip], at the start of a frame (start = 1, seen = 0) or inside one.
 * Raw bytes (CR included) a frame may have before its LF: max_frame, or max_frame + 1 when
 * the last is a CR. So memchr never needs to look further than room + 1 bytes: past that
 * the frame is oversize whatever follows, and a long garbage line fails without a scan of
 * the whole chunk.
 */
static inline int
step_lf(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip,
        struct slc_frame_piece *pc, uint8_t start)
{
	uint32_t i = *ip;
	uint32_t avail = len - i;
	/* seen <= max_frame + 1 (see the end of this function), so no wrap. */
	uint64_t room = (uint64_t)p->max_frame + 1 - p->seen;
	uint32_t scan = room < avail ? (uint32_t)room + 1 : avail;
	const uint8_t *lf = memchr(chunk + i, '\n', scan);

	if (lf != NULL) {
		uint32_t k = (uint32_t)(lf - (chunk + i));
		/* The last raw byte is in this chunk, or (k == 0) it was the last one reported. */
		uint8_t cr = k > 0 ? chunk[i + k - 1] == '\r' : p->cr;

		if ((uint64_t)p->seen + k - cr > p->max_frame)
			return lf_oversize(p, ip, i + k + 1, pc, (uint64_t)p->seen + k - cr, true);
		if (k > 0)
			piece_set(pc, i, k - cr, start, 1, 0);
		else
			piece_set(pc, i, 0, start, 1, cr);
		*ip = i + k + 1;
		p->phase = SLC_FRAME_PHASE_IDLE;
		p->seen = 0;
		p->cr = 0;
		return 1;
	}
	if (avail > room) /* room + 1 bytes and no LF */
		return lf_oversize(p, ip, i + scan, pc, (uint64_t)p->seen + scan, false);
	/* The chunk ends inside the frame: seen + avail <= max_frame + 1. */
	p->cr = chunk[len - 1] == '\r';
	if ((uint64_t)p->seen + avail == (uint64_t)p->max_frame + 1 && !p->cr)
		return lf_oversize(p, ip, len, pc, (uint64_t)p->seen + avail, false);
	p->seen += avail;
	p->phase = SLC_FRAME_PHASE_LF_BODY;
	piece_set(pc, i, avail, start, 0, 0);
	*ip = len;
	return 1;
}

/* A counted frame of n payload bytes (n <= max_frame) begins at chunk[*ip]. */
static inline int
step_count_begin(struct slc_frame_parser *p, uint32_t len, uint32_t *ip, struct slc_frame_piece *pc,
                 uint32_t n)
{
	uint32_t i = *ip;
	uint32_t avail = len - i;

	if (avail >= n) {
		piece_set(pc, i, n, 1, 1, 0);
		*ip = i + n;
		p->phase = SLC_FRAME_PHASE_IDLE;
		return 1;
	}
	p->phase = SLC_FRAME_PHASE_COUNT_BODY;
	p->need = n - avail;
	*ip = len;
	/* A header that ends the chunk: the frame starts with the next chunk's first piece
	 * rather than with an empty one here. */
	p->started = avail > 0;
	if (avail == 0)
		return 0;
	piece_set(pc, i, avail, 1, 0, 0);
	return 1;
}

/* More payload of a counted frame; there is at least one byte in the chunk. */
static inline int
step_count_body(struct slc_frame_parser *p, uint32_t len, uint32_t *ip, struct slc_frame_piece *pc)
{
	uint32_t i = *ip;
	uint32_t avail = len - i;
	uint32_t take = p->need < avail ? p->need : avail;
	uint8_t end = take == p->need;

	piece_set(pc, i, take, !p->started, end, 0);
	p->started = 1;
	p->need -= take;
	*ip = i + take;
	if (end)
		p->phase = SLC_FRAME_PHASE_IDLE;
	return 1;
}

/* len32: the length bytes from chunk[*ip], all four in one go when the chunk has them. */
static inline int
step_len32(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip,
           struct slc_frame_piece *pc)
{
	uint32_t i = *ip;

	if (p->phase == SLC_FRAME_PHASE_IDLE && len - i >= 4) {
		p->need = (uint32_t)chunk[i] << 24 | (uint32_t)chunk[i + 1] << 16 |
		          (uint32_t)chunk[i + 2] << 8 | chunk[i + 3];
		i += 4;
	} else {
		if (p->phase == SLC_FRAME_PHASE_IDLE) {
			p->phase = SLC_FRAME_PHASE_LEN_HDR;
			p->hdr_got = 0;
			p->need = 0;
		}
		while (p->hdr_got < 4 && i < len) {
			p->need = p->need << 8 | chunk[i++];
			p->hdr_got++;
		}
		if (p->hdr_got < 4) {
			*ip = i;
			return 0;
		}
	}
	if (p->need > p->max_frame)
		return count_oversize(p, ip, i, pc, p->need);
	*ip = i;
	return step_count_begin(p, len, ip, pc, p->need);
}

/*
 * Octet counting: MSG-LEN digits from chunk[*ip], v being the value of those already read
 * (v >= 1: the first digit, checked by the caller, is not 0). A value above max_frame fails
 * at once, so v stays small and no count of digits is needed.
 */
static inline int
step_octet(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip,
           struct slc_frame_piece *pc, uint64_t v)
{
	uint32_t i = *ip;
	unsigned d;

	while (i < len && (d = (unsigned)chunk[i] - '0') <= 9) {
		v = v * 10 + d;
		/* Skip mode reads on to learn how much to skip, up to what need holds. */
		if (v > p->max_frame && (!p->skip || v > UINT32_MAX))
			return -SLC_FRAME_ERR_OVERSIZE;
		i++;
	}
	if (i == len) {
		p->phase = SLC_FRAME_PHASE_OCT_HDR;
		p->need = (uint32_t)v;
		*ip = i;
		return 0;
	}
	if (chunk[i] != ' ')
		return -SLC_FRAME_ERR_BAD_OCTET_COUNT;
	if (v > p->max_frame)
		return count_oversize(p, ip, i + 1, pc, (uint32_t)v);
	*ip = i + 1;
	return step_count_begin(p, len, ip, pc, (uint32_t)v);
}

/* The first byte of a frame is at chunk[*ip]. */
static inline int
step_idle(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip,
          struct slc_frame_piece *pc)
{
	uint8_t c;

	switch (p->format) {
	case SLC_FRAME_LEN32:
		return step_len32(p, chunk, len, ip, pc);
	case SLC_FRAME_SYSLOG:
		c = chunk[*ip];
		if (c == '0')
			return -SLC_FRAME_ERR_LEADING_ZERO;
		if (c > '0' && c <= '9') {
			if ((uint32_t)(c - '0') > p->max_frame && !p->skip)
				return -SLC_FRAME_ERR_OVERSIZE;
			(*ip)++;
			return step_octet(p, chunk, len, ip, pc, (uint64_t)(c - '0'));
		}
		return step_lf(p, chunk, len, ip, pc, 1);
	case SLC_FRAME_FORWARD:
		return slc_forward_step(p, chunk, len, ip, pc);
	default:
		return step_lf(p, chunk, len, ip, pc, 1);
	}
}

int
slc_frame_parse_burst(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *pos,
                      struct slc_frame_piece *pieces, uint32_t max)
{
	uint32_t i = *pos;
	uint32_t n = 0;

	assert(i <= len);
	while (n < max && i < len) {
		uint32_t at = i;
		int rc;

		switch (p->phase) {
		case SLC_FRAME_PHASE_IDLE:
			rc = step_idle(p, chunk, len, &i, &pieces[n]);
			break;
		case SLC_FRAME_PHASE_LF_BODY:
			rc = step_lf(p, chunk, len, &i, &pieces[n], 0);
			break;
		case SLC_FRAME_PHASE_COUNT_BODY:
			rc = step_count_body(p, len, &i, &pieces[n]);
			break;
		case SLC_FRAME_PHASE_LEN_HDR:
			rc = step_len32(p, chunk, len, &i, &pieces[n]);
			break;
		case SLC_FRAME_PHASE_OCT_HDR:
			rc = step_octet(p, chunk, len, &i, &pieces[n], p->need);
			break;
		case SLC_FRAME_PHASE_SKIP_COUNT:
			rc = step_skip_count(p, len, &i);
			break;
		case SLC_FRAME_PHASE_SKIP_LF:
			rc = step_skip_lf(p, chunk, len, &i);
			break;
		case SLC_FRAME_PHASE_FWD:
			rc = slc_forward_step(p, chunk, len, &i, &pieces[n]);
			break;
		case SLC_FRAME_PHASE_FWD_INFLATE:
			*pos = i; /* nothing more until the bin's inflated bytes (forward.h) */
			return (int)n;
		default:
			return -(int)p->err;
		}
		if (rc < 0) {
			p->phase = SLC_FRAME_PHASE_DEAD;
			p->err = (uint8_t)-rc;
			i = at;
			break;
		}
		n += (uint32_t)rc;
	}
	*pos = i;
	if (n == 0 && p->phase == SLC_FRAME_PHASE_DEAD)
		return -(int)p->err;
	return (int)n;
}

void
slc_frame_parse_rewind(struct slc_frame_parser *p, const struct slc_frame_parser *s0, uint32_t pos0,
                       const uint8_t *chunk, uint32_t len, uint32_t stop, uint32_t *pos)
{
	struct slc_frame_piece one;

	*p = *s0;
	*pos = pos0;
	for (uint32_t i = 0; i < stop; i++) {
		int n = slc_frame_parse_burst(p, chunk, len, pos, &one, 1);

		if (n != 1)
			break; /* cannot happen: the first parse found these pieces */
	}
}
