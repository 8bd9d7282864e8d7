/* SPDX-License-Identifier: MIT */
/* frame.h: framing parsers (lines, len32, syslog, forward) that cut a TCP byte stream into
 * frames. */
#ifndef SLC_URING_FRAME_H
#define SLC_URING_FRAME_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Bytes arrive from TCP in chunks (receive buffers). A parser turns them into frames without
 * I/O, allocation or copying: it describes each frame as one or more pieces, offsets into
 * the chunks, and the caller copies only the frames that straddle chunks. Each listener
 * chooses one format:
 *
 *   lines   a frame is the bytes up to LF (LF excluded); one CR right before the LF is
 *           stripped.
 *   len32   a 4-byte big-endian length L, then L payload bytes: the frame is the payload.
 *   syslog  RFC 6587, decided per frame by its first byte. A digit: octet counting,
 *           MSG-LEN SP MSG with MSG-LEN = NONZERO-DIGIT *DIGIT, and the frame is the
 *           MSG-LEN bytes of MSG (which may hold LFs). Anything else: non-transparent
 *           framing, exactly as lines.
 *   forward the Fluent Forward protocol v1: msgpack messages, each entry of which is a
 *           frame (its time and record objects); forward.h has its rules and errors.
 *
 * Empty frames (a lone LF, CRLF, or L = 0) are reported; the caller decides about them.
 *
 * Frame size. Every format refuses a frame longer than max_frame bytes, as soon as that is
 * certain, with SLC_FRAME_ERR_OVERSIZE:
 *   len32, octet counting: when the length is read. For octet counting that is as soon as
 *       the digits so far exceed max_frame, before the SP: "99999999999" fails at the digit
 *       that makes it too big (a count with too many digits is oversize, not malformed).
 *   LF framing: as soon as the bytes seen since the frame began, without an LF, can no
 *       longer make a frame of at most max_frame bytes. A CR is counted as a seen byte
 *       until the next byte shows whether it is the CR of a CRLF, so max_frame bytes and
 *       a CR are still accepted ("...\r" may be followed by "\n"), and the next byte
 *       decides: "\n" ends a frame of max_frame bytes, anything else is oversize. For
 *       the same reason a caller that reassembles a straddling frame must have room for
 *       max_frame + 1 bytes: the CR travels in a piece and is cut by a later trim.
 *
 * Framing errors (enum slc_frame_error, each counted on its own by the caller):
 *   SLC_FRAME_ERR_OVERSIZE         as above
 *   SLC_FRAME_ERR_BAD_OCTET_COUNT  a byte other than a digit or the SP after MSG-LEN's
 *                                  digits ("12a", "12\n", "5hello": no SP)
 *   SLC_FRAME_ERR_LEADING_ZERO     MSG-LEN starts with 0 ("0 x", "012 x")
 * After an error the parser is dead: every later call returns the same error, and the
 * caller closes the connection. Frames that ended before the error are delivered first.
 *
 * Skipping oversize frames (slc_frame_parser_skip_oversize): instead of the oversize
 * error, the parser reports a drop piece (below) and goes on after the frame: a counted
 * frame's declared length is skipped (len32 lengths up to 2^32 - 1; octet counts up to the
 * same, longer ones stay errors), an LF frame is skipped up to and including its LF,
 * however far that is (SKIP_COUNT, SKIP_LF: bytes consumed, no pieces).
 *
 * Pieces. slc_frame_parse_burst() describes the frames of one chunk as pieces, in order:
 *   start && end   a whole frame inside this chunk: chunk[off .. off+len), zero-copy
 *   start          the first bytes of a frame that goes on in later chunks
 *   neither        more bytes of that frame (never empty)
 *   end            its last bytes (possibly none: "\n" alone at the start of a chunk); first
 *                  cut trim (0 or 1) bytes off what the earlier pieces assembled: the CR
 *                  of a CRLF split as "...\r" | "\n".
 *   end, trim SLC_FRAME_TRIM_DROP   (skip mode only) the frame is oversize and dropped:
 *                  discard what the earlier pieces assembled, if any (start is 0, len 0);
 *                  off is then the frame's size as far as known, for the log: a counted
 *                  frame's length, or the bytes an LF frame had when it was found too long
 *                  (more than max_frame).
 * Headers and delimiters (length bytes, digits, SP, LF, a stripped CR in the same chunk)
 * are never inside a piece. A counted frame whose header ends a chunk starts with the
 * first piece of the next chunk, so a zero-length piece always carries end.
 *
 * Phases (struct slc_frame_parser.phase) are what the parser remembers between chunks;
 * a frame that lies inside one chunk goes from IDLE back to IDLE in one step.
 *
 *   lines, and syslog frames that start with a non-digit:
 *
 *           "...LF" whole frame
 *            +-----+
 *            |     v    "..." no LF yet                "..." still no LF
 *            +--- IDLE -----------------> LF_BODY ---------+
 *                  ^                       |   ^           |
 *                  +---- "...LF" end ------+   +-----------+
 *
 *   len32:
 *
 *           L and L payload bytes
 *            +-----+
 *            |     v    1..3 length bytes            the rest of the 4
 *            +--- IDLE -----------------> LEN_HDR ----------------+
 *                  | ^                                            |
 *                  | +------- last payload byte ------+           |
 *                  |                                  |           v
 *                  +--- L, not all the payload ---> COUNT_BODY <--+
 *                                                     |  ^
 *                                                     +--+ more payload, not the last
 *
 *   syslog, octet counting ("MSG-LEN SP MSG"; a non-digit first byte goes to LF_BODY):
 *
 *           MSG-LEN SP and MSG whole
 *            +-----+
 *            |     v    '1'..'9' and digits         more digits
 *            +--- IDLE -----------------> OCT_HDR ----+
 *                  | ^                     |   ^      |
 *                  | |                     |   +------+
 *                  | +-- last MSG byte -+  | SP
 *                  |                    |  v
 *                  +-- MSG-LEN SP ---> COUNT_BODY --+ more of MSG, not the last
 *                                          ^        |
 *                                          +--------+
 *
 *   any phase --error--> DEAD (keeps returning the error)
 */

/* Largest max_frame accepted: a frame is reassembled in memory, and a bound well under
 * 2^32 makes every length near 2^32 oversize whatever the configuration. */
#define SLC_FRAME_LEN_MAX (1u << 30)

enum slc_frame_format {
	SLC_FRAME_LINES,
	SLC_FRAME_LEN32,
	SLC_FRAME_SYSLOG,
	SLC_FRAME_FORWARD,
	SLC_FRAME_FORMAT__COUNT
};

enum slc_frame_error {
	SLC_FRAME_OK = 0,
	SLC_FRAME_ERR_OVERSIZE,
	SLC_FRAME_ERR_BAD_OCTET_COUNT,
	SLC_FRAME_ERR_LEADING_ZERO,
	SLC_FRAME_ERR_MSGPACK,            /* forward: see forward.h */
	SLC_FRAME_ERR_FORWARD_SHAPE,      /* forward */
	SLC_FRAME_ERR_FORWARD_TIME,       /* forward */
	SLC_FRAME_ERR_FORWARD_COMPRESSED, /* forward */
	/* forward, found by the reactor, not the parser (a compressed bin, forward.h) */
	SLC_FRAME_ERR_FORWARD_GZIP,     /* not gzip, corrupt or cut short */
	SLC_FRAME_ERR_FORWARD_INFLATED, /* larger than --forward-max-inflated */
	SLC_FRAME_ERR__COUNT
};

enum slc_frame_phase {
	SLC_FRAME_PHASE_IDLE,        /* between frames */
	SLC_FRAME_PHASE_LF_BODY,     /* in a frame that ends at an LF */
	SLC_FRAME_PHASE_LEN_HDR,     /* len32: 1..3 of the 4 length bytes read */
	SLC_FRAME_PHASE_OCT_HDR,     /* syslog: MSG-LEN digits read, the SP not yet */
	SLC_FRAME_PHASE_COUNT_BODY,  /* len32, octet counting: payload bytes still to come */
	SLC_FRAME_PHASE_DEAD,        /* a framing error was returned */
	SLC_FRAME_PHASE_SKIP_COUNT,  /* skip mode: need bytes of an oversize counted frame to go */
	SLC_FRAME_PHASE_SKIP_LF,     /* skip mode: an oversize LF frame, up to its LF, to go */
	SLC_FRAME_PHASE_FWD,         /* forward: inside a message (fwd_state says where) */
	SLC_FRAME_PHASE_FWD_INFLATE, /* forward: a compressed bin was read; its inflated bytes
	                                are awaited (slc_forward_inflated) */
};

/* A piece's trim that marks a dropped oversize frame (skip mode). */
#define SLC_FRAME_TRIM_DROP 0xffu
/* forward only, pieces that are no frame (start 0, end 1; forward.h): bytes of a message's
 * chunk option (off, len in the chunk); the same, and the message ends with them; a
 * message that had a chunk ended (len 0). The lowest of the four special trims is META. */
#define SLC_FRAME_TRIM_CHUNK     0xfeu
#define SLC_FRAME_TRIM_CHUNK_END 0xfdu
#define SLC_FRAME_TRIM_MSG_END   0xfcu
/* forward with slc_frame_parser_tag_key() only: bytes of a message's tag, more to come;
 * its last bytes (len 0 for an empty tag). The lowest special trim is META. */
#define SLC_FRAME_TRIM_TAG     0xfbu
#define SLC_FRAME_TRIM_TAG_END 0xfau
/* forward: bytes of a compressed PackedForward bin (gzip), more to come; its last bytes,
 * after which the burst stops until slc_forward_inflated() (forward.h). */
#define SLC_FRAME_TRIM_GZIP     0xf9u
#define SLC_FRAME_TRIM_GZIP_END 0xf8u
#define SLC_FRAME_TRIM_META     0xf8u

struct slc_frame_piece {
	uint32_t off;  /* offset of this piece's payload bytes within the chunk */
	uint32_t len;  /* payload bytes in this piece (may be 0 when end is set) */
	uint8_t start; /* 1: the frame begins with this piece */
	uint8_t end;   /* 1: the frame ends with this piece */
	uint8_t trim;  /* only with end && !start: bytes (0 or 1) to cut off the end of what the
	                  earlier pieces assembled, before appending this piece */
};

/*
 * One connection's framing state; the reactor keeps it in the connection, so it is small
 * and holds no pointer into a chunk (chunks go back to the buffer ring between calls).
 */
struct slc_frame_parser {
	uint32_t max_frame;
	uint32_t seen;   /* LF_BODY: bytes reported for this frame, a pending CR included */
	uint32_t need;   /* COUNT_BODY: payload bytes to come; headers: the length so far */
	uint8_t format;  /* enum slc_frame_format */
	uint8_t phase;   /* enum slc_frame_phase */
	uint8_t hdr_got; /* LEN_HDR: length bytes read */
	uint8_t cr;      /* LF_BODY: the last byte reported is a CR that a LF would strip */
	uint8_t started; /* COUNT_BODY: the piece with start went out */
	uint8_t err;     /* DEAD: the enum slc_frame_error to repeat */
	uint8_t skip;    /* oversize frames are skipped (drop pieces), not errors */
	/* forward only (forward.c); cr then holds an ext object's type byte */
	uint8_t fwd_state;    /* the element of the message it reads */
	uint32_t fwd_pending; /* objects still to read in the current element */
	uint32_t fwd_left;    /* Forward: entries to come; PackedForward: bin bytes to come */
	uint8_t fwd_hdr;      /* the first byte of the object whose header is being read */
	uint8_t fwd_outer;    /* elements of the message array after the tag still to come */
	uint8_t fwd_flags;
	uint8_t fwd_x; /* more flags (forward.c): the tag's bytes go out as TAG pieces, ... */
};

/*
 * Re-parses the burst that began at pos0 with parser state s0 up to (not including) piece
 * `stop`, into *p and *pos: the exact parser state and position there. For a caller that
 * stops in the middle of a burst, which is rare: the common path keeps no per-piece state.
 */
void slc_frame_parse_rewind(struct slc_frame_parser *p, const struct slc_frame_parser *s0,
                            uint32_t pos0, const uint8_t *chunk, uint32_t len, uint32_t stop,
                            uint32_t *pos);

/* "oversize", "bad_octet_count", ...: for logs and metric labels; "unknown" if out of range. */
const char *slc_frame_error_str(enum slc_frame_error e);

/* "lines", "len32", "syslog" or "forward" to *out: 0, or -EINVAL for any other name (or NULL). */
int slc_frame_format_parse(const char *name, enum slc_frame_format *out);

/* The name slc_frame_format_parse() accepts for f; "unknown" if out of range. */
const char *slc_frame_format_name(enum slc_frame_format f);

/*
 * Readies p for a new connection. Returns 0, or -EINVAL if f is not a format or max_frame
 * is not in [1, SLC_FRAME_LEN_MAX] (p is then left untouched).
 */
int slc_frame_parser_init(struct slc_frame_parser *p, enum slc_frame_format f, uint32_t max_frame);

/* From now on, oversize frames are skipped and reported as drop pieces rather than
 * errors (see above). */
static inline void
slc_frame_parser_skip_oversize(struct slc_frame_parser *p)
{
	p->skip = 1;
}

/* forward: from now on, each message's tag goes out as TAG pieces, for --key forward:tag
 * (forward.h). */
static inline void
slc_frame_parser_tag_key(struct slc_frame_parser *p)
{
	p->fwd_x |= 0x01; /* forward.c's X_TAG */
}

/*
 * Parses chunk[*pos .. len): fills up to max pieces and advances *pos past everything it
 * consumed, delimiters and headers included. The chunk is used up when *pos == len; until
 * then, call again with the same chunk. Returns the number of pieces, 0..max (0 only with
 * *pos == len, when max is 0, or after a forward GZIP_END piece until slc_forward_inflated()
 * is called), or on a framing error:
 *   -SLC_FRAME_ERR_OVERSIZE, -SLC_FRAME_ERR_BAD_OCTET_COUNT, -SLC_FRAME_ERR_LEADING_ZERO
 * An error found after some pieces of this call is returned by the next call, so that the
 * frames before it are not lost; *pos then stays before the frame in error (< len).
 * The pieces point into chunk: the caller uses or copies them before the chunk goes back.
 * Requires *pos <= len.
 */
int slc_frame_parse_burst(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len,
                          uint32_t *pos, struct slc_frame_piece *pieces, uint32_t max);

/*
 * True while a frame or a header is partly received: for the idle timeout, and to count a
 * connection that ends in the middle of a frame. False between frames and once dead.
 */
static inline bool
slc_frame_parser_mid_frame(const struct slc_frame_parser *p)
{
	return p->phase != SLC_FRAME_PHASE_IDLE && p->phase != SLC_FRAME_PHASE_DEAD;
}

/* True inside a counted frame (len32, octet counting) whose header was read: need then
 * says how many of its payload bytes are still to come. */
static inline bool
slc_frame_parser_counted(const struct slc_frame_parser *p)
{
	return p->phase == SLC_FRAME_PHASE_COUNT_BODY;
}

#endif /* SLC_URING_FRAME_H */
