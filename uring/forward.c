/* SPDX-License-Identifier: MIT */
/* forward.c: the Fluent Forward framing: msgpack messages cut into entries (see forward.h). */
#include "forward.h"

#include <errno.h>
#include <stddef.h>

/*
 * The elements of a message, in the order they come (fwd_state). A message starts in
 * OUTER; SECOND decides the mode from its first byte: an array is Forward, a bin or str
 * PackedForward, a time (integer or ext) a Message, which reads on at TIME.
 *
 *   OUTER --> TAG --> SECOND --array/bin--> ENTRY --> TIME --> RECORD --+--> OPT --> (done)
 *                        |                    ^                          |
 *                        +--time---> TIME     +------ more entries ------+
 *
 * An entry's frame is its TIME and RECORD elements; an ENTRY header is stepped over.
 * A PackedForward bin starts at BIN_FIRST: gzip's first byte (0x1f, which starts no entry)
 * makes it a CompressedPackedForward bin, whose bytes go out as GZIP pieces; after them the
 * parser waits (phase FWD_INFLATE) for slc_forward_inflated(), which makes the inflated
 * bytes the bin's: ENTRY, as for a bin of entries, then OPT.
 *
 *   SECOND --bin--> BIN_FIRST --1f--> GZIP --last byte--> (FWD_INFLATE) --inflated--> ENTRY
 *                       +------------- anything else -------------------------------> ENTRY
 */
enum fwd_state {
	FS_OUTER,
	FS_TAG,
	FS_SECOND,
	FS_ENTRY,
	FS_TIME,
	FS_RECORD,
	FS_OPT,
	FS_BIN_FIRST, /* a PackedForward bin's first byte: gzip (1f 8b ...), or entries */
	FS_GZIP,      /* a compressed bin's bytes: they go out as GZIP pieces */
};

#define FF_PACKED  0x01 /* PackedForward: fwd_left counts the bin's bytes */
#define FF_MESSAGE 0x02 /* Message mode: one entry, in the message array itself */
#define FF_FRAME   0x04 /* inside an entry that goes out as pieces */
#define FF_DROP    0x08 /* inside an oversize entry that skip mode drops */
/* The option's chunk: its top-level objects are told apart from nested ones by fwd_left,
 * the top-level objects still to come (an object starts at the top level when it is all
 * that is pending), and keys from values by the parity of fwd_left. */
#define FF_KEY        0x10 /* reading a top-level key that may be "chunk" (started: matched) */
#define FF_CHUNK_NEXT 0x20 /* the next top-level value is the chunk */
#define FF_IN_CHUNK   0x40 /* reading the chunk's bytes: they go out as CHUNK pieces */
#define FF_HAS_CHUNK  0x80 /* the message has a chunk: a MSG_END piece at its end */
/* fwd_x: X_TAG, set by slc_frame_parser_tag_key (frame.h), stays for the connection */
#define X_TAG      0x01 /* each message's tag goes out as TAG pieces */
#define X_INFLATED 0x02 /* the bin being read is an inflated one: no gzip in it */

enum kind { K_BAD, K_UINT, K_INT, K_NIL, K_BOOL, K_FLOAT, K_STR, K_BIN, K_ARRAY, K_MAP, K_EXT };

/* What the first byte of a msgpack object says: its kind, how many header bytes follow
 * (extra), how many of them are a big-endian length (lenb; an ext's type byte comes after
 * them), and the count or length a fix* byte holds itself (n). */
struct tok {
	uint8_t kind;
	uint8_t extra;
	uint8_t lenb;
	uint32_t n;
};

static struct tok
tok_first(uint8_t b)
{
	static const uint8_t sz[4] = {1, 2, 4, 8};

	if (b <= 0x7f)
		return (struct tok){K_UINT, 0, 0, 0};
	if (b <= 0x8f)
		return (struct tok){K_MAP, 0, 0, b & 0x0fu};
	if (b <= 0x9f)
		return (struct tok){K_ARRAY, 0, 0, b & 0x0fu};
	if (b <= 0xbf)
		return (struct tok){K_STR, 0, 0, b & 0x1fu};
	if (b >= 0xe0)
		return (struct tok){K_INT, 0, 0, 0};
	switch (b) {
	case 0xc0:
		return (struct tok){K_NIL, 0, 0, 0};
	case 0xc2:
	case 0xc3:
		return (struct tok){K_BOOL, 0, 0, 0};
	case 0xc4:
	case 0xc5:
	case 0xc6:
		return (struct tok){K_BIN, sz[b - 0xc4], sz[b - 0xc4], 0};
	case 0xc7:
	case 0xc8:
	case 0xc9:
		return (struct tok){K_EXT, (uint8_t)(sz[b - 0xc7] + 1), sz[b - 0xc7], 0};
	case 0xca:
		return (struct tok){K_FLOAT, 4, 0, 0};
	case 0xcb:
		return (struct tok){K_FLOAT, 8, 0, 0};
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf:
		return (struct tok){K_UINT, sz[b - 0xcc], 0, 0};
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3:
		return (struct tok){K_INT, sz[b - 0xd0], 0, 0};
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		return (struct tok){K_EXT, 1, 0, 1u << (b - 0xd4)};
	case 0xd9:
		return (struct tok){K_STR, 1, 1, 0};
	case 0xda:
		return (struct tok){K_STR, 2, 2, 0};
	case 0xdb:
		return (struct tok){K_STR, 4, 4, 0};
	case 0xdc:
		return (struct tok){K_ARRAY, 2, 2, 0};
	case 0xdd:
		return (struct tok){K_ARRAY, 4, 4, 0};
	case 0xde:
		return (struct tok){K_MAP, 2, 2, 0};
	case 0xdf:
		return (struct tok){K_MAP, 4, 4, 0};
	default: /* 0xc1, never used */
		return (struct tok){K_BAD, 0, 0, 0};
	}
}

/* Inside a PackedForward bin: every byte read there counts against fwd_left. */
static inline bool
in_bin(const struct slc_frame_parser *p)
{
	return (p->fwd_flags & FF_PACKED) && p->fwd_state >= FS_ENTRY && p->fwd_state <= FS_RECORD;
}

static inline void
msg_done(struct slc_frame_parser *p)
{
	p->phase = SLC_FRAME_PHASE_IDLE;
	p->fwd_state = FS_OUTER;
	p->fwd_flags = 0;
}

/* The entries of a Forward or PackedForward message are all read. */
static inline void
entries_done(struct slc_frame_parser *p)
{
	p->fwd_outer--;
	p->fwd_flags &= (uint8_t)~FF_PACKED;
	if (p->fwd_outer != 0)
		p->fwd_state = FS_OPT;
	else
		msg_done(p);
}

/* An entry's record ended: what comes next. */
static inline void
entry_done(struct slc_frame_parser *p)
{
	if (p->fwd_flags & FF_MESSAGE) {
		p->fwd_outer -= 2;
		if (p->fwd_outer != 0)
			p->fwd_state = FS_OPT;
		else
			msg_done(p);
		return;
	}
	p->fwd_state = FS_ENTRY;
	if (!(p->fwd_flags & FF_PACKED))
		p->fwd_left--;
	if (p->fwd_left == 0)
		entries_done(p);
}

/*
 * A header is whole (t, its length or count in p->need, an ext's type in p->cr): checks it
 * against the element being read and moves on. Returns 0 inside an element, 1 for the
 * message's own headers (the array, the entries' array or bin, an entry's array), which
 * end no element, or -SLC_FRAME_ERR_*.
 */
static int
header_done(struct slc_frame_parser *p, struct tok t, bool first)
{
	uint32_t n = t.lenb != 0 ? p->need : t.n;
	uint64_t children = 0;
	uint8_t st = p->fwd_state;

	p->need = 0;
	switch (t.kind) {
	case K_ARRAY:
		children = n;
		break;
	case K_MAP:
		children = 2ull * n;
		break;
	case K_STR:
	case K_BIN:
	case K_EXT:
		p->need = n;
		break;
	default:
		break;
	}
	switch (st) {
	case FS_OUTER:
		if (t.kind != K_ARRAY || n < 2 || n > 4)
			return -SLC_FRAME_ERR_FORWARD_SHAPE;
		p->fwd_outer = (uint8_t)(n - 1);
		p->fwd_state = FS_TAG;
		return 1;
	case FS_SECOND:
		if (t.kind == K_ARRAY || t.kind == K_BIN || t.kind == K_STR) {
			if (p->fwd_outer > 2)
				return -SLC_FRAME_ERR_FORWARD_SHAPE;
			p->need = 0; /* a bin's bytes are the entries: read, not skipped */
			if (t.kind != K_ARRAY)
				p->fwd_flags |= FF_PACKED;
			p->fwd_left = n;
			p->fwd_state = t.kind == K_ARRAY ? FS_ENTRY : FS_BIN_FIRST;
			if (n == 0)
				entries_done(p);
			return 1;
		}
		return -SLC_FRAME_ERR_FORWARD_SHAPE; /* a time was caught at its first byte */
	case FS_ENTRY:
		if (t.kind != K_ARRAY || n != 2)
			return -SLC_FRAME_ERR_FORWARD_SHAPE;
		p->fwd_state = FS_TIME;
		return 1;
	default:
		break;
	}
	/* TAG, TIME, RECORD, OPT: one object each, of any depth. */
	/* The chunk (a str: option_top checked): 1 to SLC_FORWARD_CHUNK_MAX bytes. */
	if ((p->fwd_flags & FF_IN_CHUNK) && (n == 0 || n > SLC_FORWARD_CHUNK_MAX))
		return -SLC_FRAME_ERR_FORWARD_SHAPE;
	if (first) {
		if ((st == FS_TAG && t.kind != K_STR) || (st == FS_RECORD && t.kind != K_MAP) ||
		    (st == FS_OPT && t.kind != K_MAP && t.kind != K_NIL))
			return -SLC_FRAME_ERR_FORWARD_SHAPE;
		if (st == FS_TIME && t.kind != K_UINT && (t.kind != K_EXT || p->cr != 0 || n != 8))
			return -SLC_FRAME_ERR_FORWARD_TIME;
		p->fwd_pending = 1;
		if (st == FS_OPT)
			p->fwd_left = (uint32_t)children; /* the option map's top-level objects */
	}
	children += p->fwd_pending - 1;
	/* Every object takes a byte at least: more than fit the bound is oversize (an entry
	 * being dropped reads on, as far as the count fits). */
	if (children > ((p->fwd_flags & FF_DROP) ? UINT32_MAX : p->max_frame))
		return -SLC_FRAME_ERR_OVERSIZE;
	p->fwd_pending = (uint32_t)children;
	return 0;
}

/* The current element's last byte was read: moves on; 1 when an entry's frame ended, 2
 * when a message with a chunk did. */
static int
element_done(struct slc_frame_parser *p)
{
	bool chunk = p->fwd_flags & FF_HAS_CHUNK;

	switch (p->fwd_state) {
	case FS_TAG:
		p->fwd_state = FS_SECOND;
		return 0;
	case FS_TIME:
		p->fwd_state = FS_RECORD;
		return 0;
	case FS_RECORD:
		entry_done(p);
		return 1;
	case FS_OPT:
		msg_done(p);
		return chunk ? 2 : 0;
	default:
		return 0; /* headers: header_done moved on */
	}
}

static inline void
piece_out(struct slc_frame_piece *pc, uint32_t off, uint32_t len, uint8_t start, uint8_t end)
{
	pc->off = off;
	pc->len = len;
	pc->start = start;
	pc->end = end;
	pc->trim = 0;
}

/*
 * The length of a time object at d (avail bytes): an unsigned integer or an EventTime;
 * 0 when it is anything else or not whole (the byte-at-a-time path then decides).
 */
static inline uint32_t
time_len(const uint8_t *d, uint32_t avail)
{
	uint32_t n;

	if (d[0] <= 0x7f)
		return 1;
	switch (d[0]) {
	case 0xcc:
		n = 2;
		break;
	case 0xcd:
		n = 3;
		break;
	case 0xce:
		n = 5;
		break;
	case 0xcf:
		n = 9;
		break;
	case 0xd7:
		n = 10;
		if (avail < 2 || d[1] != 0)
			return 0;
		break;
	case 0xc7:
		n = 11;
		if (avail < 3 || d[1] != 8 || d[2] != 0)
			return 0;
		break;
	default:
		return 0;
	}
	return n <= avail ? n : 0;
}

/*
 * The common case, an entry whole inside the chunk: its frame found in one pass over
 * contiguous bytes, without the per-byte state of slc_forward_step. Returns 1 with *pc
 * filled and the parser moved past the entry, or 0 to leave it to the byte-at-a-time path
 * (an entry that straddles the chunk, is oversize, or is wrong in any way: that path finds
 * the same boundaries and reports the errors).
 */
static inline int
entry_fast(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip,
           struct slc_frame_piece *pc)
{
	uint32_t i = *ip, avail = len - i, hdr = 0, tl, rl, lim;

	if (p->fwd_state == FS_ENTRY) {
		if (chunk[i] != 0x92)
			return 0;
		hdr = 1;
	}
	if ((p->fwd_flags & FF_PACKED) && avail > p->fwd_left)
		avail = p->fwd_left;
	if (avail < hdr + 2)
		return 0;
	tl = time_len(chunk + i + hdr, avail - hdr);
	if (tl == 0 || avail - hdr - tl == 0 || tok_first(chunk[i + hdr + tl]).kind != K_MAP)
		return 0;
	lim = avail - hdr - tl;
	if (lim > p->max_frame - tl && p->max_frame > tl)
		lim = p->max_frame - tl;
	rl = slc_forward_object_len(chunk + i + hdr + tl, lim);
	if (rl == 0 || tl + rl > p->max_frame)
		return 0;
	piece_out(pc, i + hdr, tl + rl, 1, 1);
	*ip = i + hdr + tl + rl;
	if (p->fwd_flags & FF_PACKED)
		p->fwd_left -= hdr + tl + rl;
	p->fwd_state = FS_RECORD;
	entry_done(p);
	return 1;
}

/* A piece that is no message (frame.h): the chunk's bytes, or a chunk's message ended. */
static inline void
meta_out(struct slc_frame_piece *pc, uint32_t off, uint32_t len, uint8_t kind)
{
	pc->off = off;
	pc->len = len;
	pc->start = 0;
	pc->end = 1;
	pc->trim = kind;
}

/*
 * The first byte b (kind t) of a top-level object of the option map: a key of 5 bytes may
 * be "chunk"; the value after "chunk" is the chunk (one per message, a str: header_done
 * checks its length). 0 or -SLC_FRAME_ERR_FORWARD_SHAPE.
 */
static int
option_top(struct slc_frame_parser *p, uint8_t b, struct tok t)
{
	p->fwd_left--;
	if (p->fwd_left & 1) {
		/* a key (there were an even number left) */
		if (b == 0xa5) {
			p->fwd_flags |= FF_KEY;
			p->started = 0;
		}
		return 0;
	}
	if (!(p->fwd_flags & FF_CHUNK_NEXT))
		return 0;
	p->fwd_flags &= (uint8_t)~FF_CHUNK_NEXT;
	if (t.kind != K_STR || (p->fwd_flags & FF_HAS_CHUNK))
		return -SLC_FRAME_ERR_FORWARD_SHAPE;
	p->fwd_flags |= FF_IN_CHUNK | FF_HAS_CHUNK;
	return 0;
}

/*
 * k bytes at chunk[i] of a str in the option that matters: a key being matched against
 * "chunk", or the chunk itself, which goes out as a CHUNK piece (CHUNK_END when the
 * message ends with it). Returns 0 or 1 (a piece), with *ip moved past them, or
 * -SLC_FRAME_ERR_OVERSIZE when they take the option past max_frame (as the bytes of any
 * other object of it would: however the stream is cut).
 */
static int
option_bytes(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t *ip, uint32_t i, uint32_t k,
             struct slc_frame_piece *pc)
{
	static const char key[5] = {'c', 'h', 'u', 'n', 'k'};
	int rc = 0;

	if (p->seen + k > p->max_frame)
		return -SLC_FRAME_ERR_OVERSIZE;
	p->need -= k;
	p->seen += k;
	*ip = i + k;
	if (p->fwd_flags & FF_KEY) {
		for (uint32_t j = 0; j < k && (p->fwd_flags & FF_KEY); j++) {
			if (p->started >= 5 || chunk[i + j] != key[p->started])
				p->fwd_flags &= (uint8_t)~FF_KEY;
			p->started++;
		}
		if (p->need == 0 && (p->fwd_flags & FF_KEY)) {
			p->fwd_flags &= (uint8_t)~FF_KEY;
			p->fwd_flags |= FF_CHUNK_NEXT;
		}
	} else {
		meta_out(pc, i, k, SLC_FRAME_TRIM_CHUNK);
		rc = 1;
		if (p->need == 0)
			p->fwd_flags &= (uint8_t)~FF_IN_CHUNK;
	}
	if (p->need == 0 && p->fwd_pending == 0 && element_done(p) == 2) {
		if (rc == 1) {
			pc->trim = SLC_FRAME_TRIM_CHUNK_END;
		} else {
			meta_out(pc, i + k, 0, SLC_FRAME_TRIM_MSG_END);
			rc = 1;
		}
	}
	return rc;
}

/*
 * k bytes at chunk[i] of a message's tag (slc_frame_parser_tag_key): a TAG piece, or
 * TAG_END with its last bytes. Returns 1 with *ip moved past them, or
 * -SLC_FRAME_ERR_OVERSIZE for a tag longer than max_frame (as without tag pieces).
 */
static int
tag_bytes(struct slc_frame_parser *p, uint32_t *ip, uint32_t i, uint32_t k,
          struct slc_frame_piece *pc)
{
	if (p->seen + k > p->max_frame)
		return -SLC_FRAME_ERR_OVERSIZE;
	p->need -= k;
	p->seen += k;
	*ip = i + k;
	meta_out(pc, i, k, p->need != 0 ? SLC_FRAME_TRIM_TAG : SLC_FRAME_TRIM_TAG_END);
	if (p->need == 0)
		element_done(p); /* a str: its header left nothing pending */
	return 1;
}

/*
 * A bin's first byte (between objects): gzip's makes it a compressed bin, unless the bin
 * is an inflated one (where the byte is refused as before); its bytes then go out as GZIP
 * pieces, the last one GZIP_END, after which the parser waits for slc_forward_inflated().
 * Returns 1 with a piece, or 0 when the bin holds entries (state ENTRY).
 */
static int
gzip_step(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip,
          struct slc_frame_piece *pc)
{
	uint32_t i = *ip, k;

	if (p->fwd_state == FS_BIN_FIRST) {
		if (chunk[i] != 0x1f || (p->fwd_x & X_INFLATED)) {
			p->fwd_state = FS_ENTRY;
			return 0;
		}
		p->fwd_state = FS_GZIP;
	}
	k = len - i < p->fwd_left ? len - i : p->fwd_left;
	p->fwd_left -= k;
	*ip = i + k;
	meta_out(pc, i, k, p->fwd_left != 0 ? SLC_FRAME_TRIM_GZIP : SLC_FRAME_TRIM_GZIP_END);
	if (p->fwd_left == 0)
		p->phase = SLC_FRAME_PHASE_FWD_INFLATE;
	return 1;
}

void
slc_forward_inflated(struct slc_frame_parser *p, uint32_t len)
{
	p->phase = SLC_FRAME_PHASE_FWD;
	p->fwd_state = FS_ENTRY;
	p->fwd_x |= X_INFLATED;
	p->fwd_left = len;
	if (len == 0)
		entries_done(p);
}

int
slc_forward_step(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip,
                 struct slc_frame_piece *pc)
{
	uint32_t i = *ip;
	uint32_t poff = i; /* where this chunk's piece of the entry begins */

	while (i < len) {
		uint32_t avail = len - i;
		bool between, ended = false;
		uint8_t fl;
		struct tok t;
		int rc;

		if (p->phase == SLC_FRAME_PHASE_IDLE) {
			p->phase = SLC_FRAME_PHASE_FWD;
			p->fwd_state = FS_OUTER;
			p->fwd_flags = 0;
			p->hdr_got = 0;
			p->need = 0;
			p->fwd_pending = 0;
			p->fwd_x &= X_TAG;
		}
		between = p->hdr_got == 0 && p->need == 0 && p->fwd_pending == 0;
		if (p->fwd_state >= FS_BIN_FIRST && gzip_step(p, chunk, len, &i, pc) == 1) {
			*ip = i;
			return 1;
		}
		if (between && p->fwd_state == FS_ENTRY && entry_fast(p, chunk, len, &i, pc)) {
			*ip = i;
			return 1;
		}
		if (in_bin(p)) {
			if (p->fwd_left == 0)
				return -SLC_FRAME_ERR_FORWARD_SHAPE; /* an entry runs past its bin */
			if (avail > p->fwd_left)
				avail = p->fwd_left;
		}
		if (p->hdr_got == 0 && p->need != 0) {
			/* A str, bin or ext's bytes. */
			uint32_t k = p->need < avail ? p->need : avail;

			if (p->fwd_flags & (FF_KEY | FF_IN_CHUNK))
				return option_bytes(p, chunk, ip, i, k, pc);
			if (p->fwd_state == FS_TAG && (p->fwd_x & X_TAG))
				return tag_bytes(p, ip, i, k, pc);
			p->need -= k;
			i += k;
			if (in_bin(p))
				p->fwd_left -= k;
			p->seen += k;
			ended = p->need == 0 && p->fwd_pending == 0;
		} else {
			uint8_t b = chunk[i];

			if (p->hdr_got == 0) {
				/* An object's first byte; maybe an element's, maybe an entry's. */
				t = tok_first(b);
				/* A number or an ext can only be a Message's time. */
				if (between && p->fwd_state == FS_SECOND &&
				    (t.kind == K_UINT || t.kind == K_INT || t.kind == K_FLOAT ||
				     t.kind == K_EXT)) {
					if (p->fwd_outer != 2 && p->fwd_outer != 3)
						return -SLC_FRAME_ERR_FORWARD_SHAPE;
					p->fwd_flags |= FF_MESSAGE;
					p->fwd_state = FS_TIME;
				}
				if (between && p->fwd_state == FS_ENTRY &&
				    (p->fwd_flags & FF_PACKED) && b == 0x1f)
					return -SLC_FRAME_ERR_FORWARD_COMPRESSED;
				if (between && p->fwd_state != FS_RECORD) {
					p->seen = 0;
					if (p->fwd_state == FS_TIME) {
						p->fwd_flags |= FF_FRAME;
						p->started = 0;
						poff = i;
					}
				}
				if (t.kind == K_BAD)
					return -SLC_FRAME_ERR_MSGPACK;
				if (p->fwd_state == FS_OPT && !between &&
				    p->fwd_pending == p->fwd_left) {
					rc = option_top(p, b, t);
					if (rc < 0)
						return rc;
				}
				p->fwd_hdr = b;
				p->hdr_got = t.extra;
				p->need = 0;
				i++;
				if (in_bin(p))
					p->fwd_left--;
				p->seen++;
				if (t.extra == 0) {
					rc = header_done(p, t, between);
					if (rc < 0)
						return rc;
					ended = rc == 0 && p->need == 0 && p->fwd_pending == 0;
				}
			} else {
				t = tok_first(p->fwd_hdr);
				if (t.extra - p->hdr_got < t.lenb)
					p->need = p->need << 8 | b;
				else
					p->cr = b; /* an ext's type */
				p->hdr_got--;
				i++;
				if (in_bin(p))
					p->fwd_left--;
				p->seen++;
				if (p->hdr_got == 0) {
					/* between is false here: was the header an element's first? */
					bool first = p->fwd_pending == 0;

					rc = header_done(p, t, first);
					if (rc < 0)
						return rc;
					ended = rc == 0 && p->need == 0 && p->fwd_pending == 0;
				}
			}
		}
		if (p->seen > p->max_frame && !(p->fwd_flags & FF_DROP)) {
			if (!(p->fwd_flags & FF_FRAME) || !p->skip)
				return -SLC_FRAME_ERR_OVERSIZE;
			/* Skip mode: drop the entry, read on to its end. */
			p->fwd_flags = (uint8_t)((p->fwd_flags & ~FF_FRAME) | FF_DROP);
			pc->off = p->seen;
			pc->len = 0;
			pc->start = 0;
			pc->end = 1;
			pc->trim = SLC_FRAME_TRIM_DROP;
			if (ended && element_done(p) == 1)
				p->fwd_flags &= (uint8_t)~FF_DROP;
			*ip = i;
			return 1;
		}
		if (ended && p->fwd_state == FS_TAG && (p->fwd_x & X_TAG)) {
			/* An empty tag (a tag with bytes ends in tag_bytes). */
			element_done(p);
			meta_out(pc, i, 0, SLC_FRAME_TRIM_TAG_END);
			*ip = i;
			return 1;
		}
		fl = p->fwd_flags; /* element_done may end the message, and clear them */
		rc = ended ? element_done(p) : 0;
		if (rc == 1) {
			p->fwd_flags &= (uint8_t) ~(FF_FRAME | FF_DROP);
			if (fl & FF_FRAME) {
				piece_out(pc, poff, i - poff, !p->started, 1);
				p->started = 0;
				*ip = i;
				return 1;
			}
		} else if (rc == 2) {
			meta_out(pc, i, 0, SLC_FRAME_TRIM_MSG_END);
			*ip = i;
			return 1;
		}
	}
	*ip = i;
	if (p->fwd_flags & FF_FRAME) {
		piece_out(pc, poff, len - poff, !p->started, 0);
		p->started = 1;
		return 1;
	}
	return 0;
}

/* ---- reading a frame back (consumers: sluice-cat, the tests) -------------------------- */

uint32_t
slc_forward_object_len(const uint8_t *d, uint32_t len)
{
	uint64_t pending = 1;
	uint32_t i = 0;

	while (pending != 0) {
		struct tok t;
		uint64_t n = 0, body = 0;

		if (i >= len)
			return 0;
		t = tok_first(d[i]);
		if (t.kind == K_BAD || len - i - 1 < t.extra)
			return 0;
		for (uint32_t k = 0; k < t.lenb; k++)
			n = n << 8 | d[i + 1 + k];
		if (t.lenb == 0)
			n = t.n;
		i += 1u + t.extra;
		if (t.kind == K_ARRAY)
			pending += n;
		else if (t.kind == K_MAP)
			pending += 2 * n;
		else if (t.kind == K_STR || t.kind == K_BIN || t.kind == K_EXT)
			body = n;
		if (body > len - i || pending - 1 > len - i)
			return 0;
		i += (uint32_t)body;
		pending--;
	}
	return i;
}

static uint64_t
be(const uint8_t *d, unsigned n)
{
	uint64_t v = 0;

	for (unsigned k = 0; k < n; k++)
		v = v << 8 | d[k];
	return v;
}

int
slc_forward_entry_decode(const uint8_t *d, uint32_t len, struct slc_forward_entry *e)
{
	uint32_t tl = slc_forward_object_len(d, len);
	struct tok t;

	if (tl == 0 || tl >= len)
		return -EINVAL;
	t = tok_first(d[0]);
	if (t.kind == K_UINT) {
		e->sec = t.extra == 0 ? d[0] : be(d + 1, t.extra);
		e->nsec = 0;
	} else if ((d[0] == 0xd7 && tl == 10 && d[1] == 0) ||
	           (d[0] == 0xc7 && tl == 11 && d[1] == 8 && d[2] == 0)) {
		/* EventTime: ext type 0, seconds and nanoseconds, 32 bits each */
		e->sec = be(d + tl - 8, 4);
		e->nsec = (uint32_t)be(d + tl - 4, 4);
	} else {
		return -EINVAL;
	}
	if (tok_first(d[tl]).kind != K_MAP || slc_forward_object_len(d + tl, len - tl) != len - tl)
		return -EINVAL;
	e->record = d + tl;
	e->record_len = len - tl;
	return 0;
}
