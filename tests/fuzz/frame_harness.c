/* SPDX-License-Identifier: MIT */
/* frame_harness.c: chunked feeding, piece checks and a reference reading for the parsers. */
#include "frame_harness.h"

#include "forward.h"
#include "gunzip.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void violation(struct frame_run *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
violation(struct frame_run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->violation[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(r->violation, sizeof(r->violation), fmt, ap);
	va_end(ap);
}

/* Room for every frame of an input of len bytes: each frame takes at least one input byte
 * (its LF, or its header), and its payload is input bytes. */
static int
run_alloc(struct frame_run *r, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->bytes = malloc(len + 1);
	r->offs = malloc((len + 1) * sizeof(*r->offs));
	r->lens = malloc((len + 1) * sizeof(*r->lens));
	if (r->bytes == NULL || r->offs == NULL || r->lens == NULL) {
		frame_run_fini(r);
		return -ENOMEM;
	}
	return 0;
}

static void
run_push(struct frame_run *r, const uint8_t *frame, size_t len)
{
	memcpy(r->bytes + r->n_bytes, frame, len);
	r->offs[r->n_frames] = r->n_bytes;
	r->lens[r->n_frames] = (uint32_t)len;
	r->n_bytes += len;
	r->n_frames++;
}

void
frame_run_fini(struct frame_run *r)
{
	free(r->bytes);
	free(r->offs);
	free(r->lens);
	r->bytes = NULL;
	r->offs = NULL;
	r->lens = NULL;
}

/* What a reassembling caller keeps between calls. */
struct assembly {
	uint8_t *buf;
	size_t len;
	bool in_frame;
	uint8_t chunk[64]; /* forward: the chunk being received */
	size_t chunk_len;
	uint8_t tag[64]; /* forward with tag pieces: the tag being received (as fits) */
	size_t tag_len;
	uint8_t *gz; /* forward: a compressed bin being received */
	size_t gz_len, gz_cap;
	bool gz_done; /* its GZIP_END came: inflate it before the next call */
	struct slc_gunzip *inflater;
};

/* forward: bytes of a compressed bin, gathered; GZIP_END asks for the inflated bytes. */
static bool
take_gzip(struct frame_run *r, struct assembly *a, const struct slc_frame_piece *pc,
          const uint8_t *chunk)
{
	if (a->gz_done || (pc->trim == SLC_FRAME_TRIM_GZIP && pc->len == 0) ||
	    a->gz_len + pc->len > FRAME_RUN_GZIP_MAX) {
		violation(r,
		          "a gzip piece (trim %u, len %u) after the bin's end, empty or too long",
		          pc->trim, pc->len);
		return false;
	}
	if (a->gz_len + pc->len > a->gz_cap) {
		size_t cap = 2 * (a->gz_len + pc->len);
		uint8_t *g = realloc(a->gz, cap);

		if (g == NULL) {
			violation(r, "no memory for a gzip bin");
			return false;
		}
		a->gz = g;
		a->gz_cap = cap;
	}
	memcpy(a->gz + a->gz_len, chunk + pc->off, pc->len);
	a->gz_len += pc->len;
	a->gz_done = pc->trim == SLC_FRAME_TRIM_GZIP_END;
	r->n_pieces++;
	return true;
}

/* forward with tag pieces: "#tag@N|" joins r->chunks, N the frames before the tag's. */
static bool
take_tag(struct frame_run *r, struct assembly *a, const struct slc_frame_piece *pc,
         const uint8_t *chunk)
{
	char at[16];
	size_t k = pc->len < sizeof(a->tag) - a->tag_len ? pc->len : sizeof(a->tag) - a->tag_len;
	int n;

	if (!r->tags || (pc->trim == SLC_FRAME_TRIM_TAG && pc->len == 0)) {
		violation(r, "a tag piece (trim %u, len %u) unasked for or empty", pc->trim,
		          pc->len);
		return false;
	}
	memcpy(a->tag + a->tag_len, chunk + pc->off, k);
	a->tag_len += k;
	r->n_pieces++;
	if (pc->trim == SLC_FRAME_TRIM_TAG)
		return true;
	n = snprintf(at, sizeof(at), "@%u|", r->n_frames);
	if (n > 0 && r->chunks_len + 1 + a->tag_len + (size_t)n < sizeof(r->chunks)) {
		r->chunks[r->chunks_len++] = '#';
		memcpy(r->chunks + r->chunks_len, a->tag, a->tag_len);
		r->chunks_len += a->tag_len;
		memcpy(r->chunks + r->chunks_len, at, (size_t)n + 1);
		r->chunks_len += (size_t)n;
	}
	a->tag_len = 0;
	return true;
}

/* forward: a chunk's bytes, or a chunk's message ended: "chunk|" joins r->chunks. */
static bool
take_meta(struct frame_run *r, struct assembly *a, const struct slc_frame_piece *pc,
          const uint8_t *chunk)
{
	if (a->in_frame || pc->start || !pc->end ||
	    (pc->trim == SLC_FRAME_TRIM_MSG_END) != (pc->len == 0)) {
		violation(r, "a forward chunk piece (trim %u, len %u) inside a frame or malformed",
		          pc->trim, pc->len);
		return false;
	}
	if (a->chunk_len + pc->len > sizeof(a->chunk)) {
		violation(r, "a forward chunk of more than %zu bytes", sizeof(a->chunk));
		return false;
	}
	memcpy(a->chunk + a->chunk_len, chunk + pc->off, pc->len);
	a->chunk_len += pc->len;
	r->n_pieces++;
	if (pc->trim == SLC_FRAME_TRIM_CHUNK)
		return true;
	if (r->chunks_len + a->chunk_len + 1 < sizeof(r->chunks)) {
		memcpy(r->chunks + r->chunks_len, a->chunk, a->chunk_len);
		r->chunks_len += a->chunk_len;
		r->chunks[r->chunks_len++] = '|';
		r->chunks[r->chunks_len] = '\0';
	}
	a->chunk_len = 0;
	return true;
}

/* Checks one piece against the contract and applies it; false on the first broken rule. */
static bool
take_piece(struct frame_run *r, struct assembly *a, const struct slc_frame_piece *pc,
           const uint8_t *chunk, uint32_t clen, uint32_t max_frame)
{
	if (pc->trim == SLC_FRAME_TRIM_DROP && pc->end && !pc->start && pc->len == 0 && r->skip) {
		/* Skip mode: the frame (and what was assembled of it) is dropped. */
		a->len = 0;
		a->in_frame = false;
		r->n_dropped++;
		r->n_pieces++;
		return true;
	}
	if (pc->trim >= SLC_FRAME_TRIM_TAG_END && pc->trim <= SLC_FRAME_TRIM_TAG && !a->in_frame &&
	    !pc->start && pc->end)
		return take_tag(r, a, pc, chunk);
	if (pc->trim >= SLC_FRAME_TRIM_META && pc->trim <= SLC_FRAME_TRIM_GZIP && !a->in_frame &&
	    !pc->start && pc->end)
		return take_gzip(r, a, pc, chunk);
	if (pc->trim >= SLC_FRAME_TRIM_META && pc->trim < SLC_FRAME_TRIM_DROP)
		return take_meta(r, a, pc, chunk);
	if (pc->start > 1 || pc->end > 1 || pc->trim > 1) {
		violation(r, "flags not 0/1: start %u end %u trim %u", pc->start, pc->end,
		          pc->trim);
		return false;
	}
	if (pc->trim && (!pc->end || pc->start)) {
		violation(r, "trim without end && !start");
		return false;
	}
	if (pc->len == 0 && !pc->end) {
		violation(r, "zero-length piece without end (start %u)", pc->start);
		return false;
	}
	if (!pc->end && (uint64_t)pc->off + pc->len != clen) {
		violation(r, "piece without end stops at %" PRIu64 " before the chunk's end %u",
		          (uint64_t)pc->off + pc->len, clen);
		return false;
	}
	if (pc->start == a->in_frame) {
		violation(r, "start %u while %s a frame", pc->start,
		          a->in_frame ? "inside" : "outside");
		return false;
	}
	if (pc->start) {
		a->len = 0;
		a->in_frame = true;
	}
	if (pc->trim) {
		if (a->len == 0 || a->buf[a->len - 1] != '\r') {
			violation(r, "trim of %zu assembled bytes that do not end in CR", a->len);
			return false;
		}
		a->len--;
	}
	if (a->len + pc->len > (uint64_t)max_frame + 1) {
		violation(r, "assembled %zu + %u bytes, more than max_frame %u + 1", a->len,
		          pc->len, max_frame);
		return false;
	}
	memcpy(a->buf + a->len, chunk + pc->off, pc->len);
	a->len += pc->len;
	r->n_pieces++;
	if (pc->end) {
		if (a->len > max_frame) {
			violation(r, "frame of %zu bytes, max_frame %u", a->len, max_frame);
			return false;
		}
		run_push(r, a->buf, a->len);
		if (pc->start)
			r->n_whole++;
		a->in_frame = false;
	}
	return true;
}

static int feed_inflated(struct frame_run *r, struct slc_frame_parser *p, struct assembly *a,
                         struct slc_frame_piece *pieces, uint32_t burst, uint32_t max_frame);

/* One call of slc_frame_parse_burst() and its checks. 1: go on, 0: framing error, -1: broken
 * rule. */
static int
feed_call(struct frame_run *r, struct slc_frame_parser *p, struct assembly *a, const uint8_t *chunk,
          uint32_t clen, uint32_t *pos, struct slc_frame_piece *pieces, uint32_t burst,
          uint32_t max_frame)
{
	uint32_t before = *pos;
	int rc = slc_frame_parse_burst(p, chunk, clen, pos, pieces, burst);
	uint64_t prev_end = before;

	if (*pos < before || *pos > clen) {
		violation(r, "pos went from %u to %u in a chunk of %u", before, *pos, clen);
		return -1;
	}
	if (rc < 0) {
		uint32_t again = *pos;
		int rc2 = slc_frame_parse_burst(p, chunk, clen, &again, pieces, burst);

		if (-rc >= SLC_FRAME_ERR__COUNT) {
			violation(r, "unknown error %d", rc);
			return -1;
		}
		if (rc2 != rc || again != *pos) {
			violation(r, "error %d then %d, pos %u then %u", rc, rc2, *pos, again);
			return -1;
		}
		if (slc_frame_parser_mid_frame(p)) {
			violation(r, "mid_frame after an error");
			return -1;
		}
		r->err = -rc;
		return 0;
	}
	if ((uint32_t)rc > burst) {
		violation(r, "%d pieces for a burst of %u", rc, burst);
		return -1;
	}
	if (rc == 0 && *pos != clen) {
		violation(r, "no piece and pos %u of %u", *pos, clen);
		return -1;
	}
	if (p->phase == SLC_FRAME_PHASE_DEAD && *pos == clen) {
		violation(r, "an error is pending but the chunk looks used up");
		return -1;
	}
	for (int k = 0; k < rc; k++) {
		const struct slc_frame_piece *pc = &pieces[k];

		/* A drop piece's off is the dropped frame's size (frame.h). */
		if (pc->trim != SLC_FRAME_TRIM_DROP &&
		    (pc->off < prev_end || (uint64_t)pc->off + pc->len > *pos)) {
			violation(r, "piece %d [%u, +%u) outside [%" PRIu64 ", %u)", k, pc->off,
			          pc->len, prev_end, *pos);
			return -1;
		}
		if (pc->trim != SLC_FRAME_TRIM_DROP)
			prev_end = (uint64_t)pc->off + pc->len;
		if (!take_piece(r, a, pc, chunk, clen, max_frame))
			return -1;
	}
	if (a->in_frame && !slc_frame_parser_mid_frame(p)) {
		violation(r, "inside a frame but not mid_frame");
		return -1;
	}
	if (a->gz_done) {
		if (pieces[rc - 1].trim != SLC_FRAME_TRIM_GZIP_END ||
		    p->phase != SLC_FRAME_PHASE_FWD_INFLATE) {
			violation(r, "a burst went on after GZIP_END, or the parser did not wait");
			return -1;
		}
		return feed_inflated(r, p, a, pieces, burst, max_frame);
	}
	return 1;
}

/*
 * forward: a compressed bin's GZIP_END came: its bytes inflated (uring/gunzip.c, within
 * FRAME_RUN_GZIP_MAX) and parsed as a chunk of their own, exactly their size, before the
 * rest of the chunk, as the reactor does. A bin that does not inflate ends the run as an
 * error would (forward_gzip, forward_inflated). 1: go on, 0: stop, -1: broken rule.
 */
static int
feed_inflated(struct frame_run *r, struct slc_frame_parser *p, struct assembly *a,
              struct slc_frame_piece *pieces, uint32_t burst, uint32_t max_frame)
{
	uint8_t *out = malloc(FRAME_RUN_GZIP_MAX);
	const char *why;
	size_t n = 0;
	uint32_t pos = 0;
	int rc = 0, go = 1;

	a->gz_done = false;
	if (out == NULL ||
	    (a->inflater == NULL && (a->inflater = slc_gunzip_create(&rc)) == NULL)) {
		free(out);
		violation(r, "no memory to inflate");
		return -1;
	}
	rc = slc_gunzip_body(a->inflater, a->gz, a->gz_len, out, FRAME_RUN_GZIP_MAX, &n, &why);
	a->gz_len = 0;
	if (rc != 0) {
		free(out);
		r->err = rc == -EFBIG ? SLC_FRAME_ERR_FORWARD_INFLATED : SLC_FRAME_ERR_FORWARD_GZIP;
		return 0;
	}
	slc_forward_inflated(p, (uint32_t)n);
	/* Exactly its size: ASan catches a read past it. */
	if (n != 0) {
		uint8_t *exact = realloc(out, n);

		if (exact == NULL) {
			free(out);
			violation(r, "no memory to inflate");
			return -1;
		}
		out = exact;
	}
	while (go == 1 && pos < n)
		go = feed_call(r, p, a, out, (uint32_t)n, &pos, pieces, burst, max_frame);
	free(out);
	return go;
}

static int
feed(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame, const uint8_t *in,
     size_t len, const uint32_t *sizes, size_t n_sizes, uint32_t burst, bool skip, bool tags)
{
	struct slc_frame_parser p;
	struct assembly a = {0};
	struct slc_frame_piece *pieces = NULL;
	size_t at = 0;
	size_t k = 0;
	int rc = run_alloc(r, len);

	if (rc != 0)
		return rc;
	if (slc_frame_parser_init(&p, f, max_frame) != 0) {
		rc = -EINVAL;
		goto out;
	}
	r->skip = skip;
	if (skip)
		slc_frame_parser_skip_oversize(&p);
	r->tags = tags;
	if (tags)
		slc_frame_parser_tag_key(&p);
	/* Exactly burst pieces: ASan catches a write past the last. */
	pieces = malloc((burst ? burst : 1) * sizeof(*pieces));
	a.buf = malloc(len + 1);
	if (pieces == NULL || a.buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (at < len) {
		size_t want = n_sizes ? sizes[k++ % n_sizes] : 0;
		uint32_t clen = (uint32_t)(want == 0 || want > len - at ? len - at : want);
		uint8_t *chunk = malloc(clen);
		uint32_t pos = 0;
		int go = 1;

		if (chunk == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(chunk, in + at, clen);
		at += clen;
		while (go == 1 && pos < clen)
			go = feed_call(r, &p, &a, chunk, clen, &pos, pieces, burst, max_frame);
		free(chunk);
		if (go < 0) {
			rc = -EPROTO;
			goto out;
		}
		if (go == 0)
			break;
	}
	r->mid_frame =
	        r->err == 0 && slc_frame_parser_mid_frame(&p); /* a bin that did not inflate */
	if (r->err == 0 && a.in_frame && !r->mid_frame) {
		violation(r, "input ends inside a frame but not mid_frame");
		rc = -EPROTO;
	}
out:
	free(a.buf);
	free(a.gz);
	slc_gunzip_destroy(a.inflater);
	free(pieces);
	return rc;
}

int
frame_run_feed(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame, const uint8_t *in,
               size_t len, const uint32_t *sizes, size_t n_sizes, uint32_t burst)
{
	return feed(r, f, max_frame, in, len, sizes, n_sizes, burst, false, false);
}

int
frame_run_feed_skip(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame,
                    const uint8_t *in, size_t len, const uint32_t *sizes, size_t n_sizes,
                    uint32_t burst)
{
	return feed(r, f, max_frame, in, len, sizes, n_sizes, burst, true, false);
}

int
frame_run_feed_tags(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame,
                    const uint8_t *in, size_t len, const uint32_t *sizes, size_t n_sizes,
                    uint32_t burst)
{
	return feed(r, f, max_frame, in, len, sizes, n_sizes, burst, false, true);
}

/*
 * The rules of frame.h read literally, one frame after another over the whole input. A
 * frame the input ends in is an error already when no continuation could make it valid.
 */
int
frame_run_reference(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame,
                    const uint8_t *in, size_t len)
{
	size_t i = 0;
	int rc = run_alloc(r, len);

	if (rc != 0)
		return rc;
	while (i < len) {
		if (f == SLC_FRAME_LEN32) {
			uint32_t n;

			if (len - i < 4)
				goto partial;
			n = (uint32_t)in[i] << 24 | (uint32_t)in[i + 1] << 16 |
			    (uint32_t)in[i + 2] << 8 | in[i + 3];
			if (n > max_frame) {
				r->err = SLC_FRAME_ERR_OVERSIZE;
				return 0;
			}
			if (len - i - 4 < n)
				goto partial;
			run_push(r, in + i + 4, n);
			i += 4 + (size_t)n;
			continue;
		}
		if (f == SLC_FRAME_SYSLOG && in[i] >= '0' && in[i] <= '9') {
			uint64_t n = 0;
			size_t j;

			if (in[i] == '0') {
				r->err = SLC_FRAME_ERR_LEADING_ZERO;
				return 0;
			}
			for (j = i; j < len && in[j] >= '0' && in[j] <= '9'; j++) {
				n = n * 10 + (uint64_t)(in[j] - '0');
				if (n > max_frame) {
					r->err = SLC_FRAME_ERR_OVERSIZE;
					return 0;
				}
			}
			if (j == len)
				goto partial;
			if (in[j] != ' ') {
				r->err = SLC_FRAME_ERR_BAD_OCTET_COUNT;
				return 0;
			}
			if (len - j - 1 < n)
				goto partial;
			run_push(r, in + j + 1, (size_t)n);
			i = j + 1 + (size_t)n;
			continue;
		}
		size_t j = i;
		while (j < len && in[j] != '\n')
			j++;
		size_t raw = j - i;
		bool cr = raw > 0 && in[j - 1] == '\r';
		if (j == len) {
			/* max_frame bytes and a CR may still become a frame; one more may not. */
			if (raw > (size_t)max_frame + 1 || (raw == (size_t)max_frame + 1 && !cr)) {
				r->err = SLC_FRAME_ERR_OVERSIZE;
				return 0;
			}
			goto partial;
		}
		if (raw - cr > max_frame) {
			r->err = SLC_FRAME_ERR_OVERSIZE;
			return 0;
		}
		run_push(r, in + i, raw - cr);
		i = j + 1;
	}
	return 0;
partial:
	r->mid_frame = true;
	return 0;
}

bool
frame_run_same(const struct frame_run *a, const struct frame_run *b)
{
	if (a->err != b->err || a->n_frames != b->n_frames || a->n_bytes != b->n_bytes)
		return false;
	if (a->err == 0 && a->mid_frame != b->mid_frame)
		return false;
	if (a->chunks_len != b->chunks_len || memcmp(a->chunks, b->chunks, a->chunks_len) != 0)
		return false;
	for (uint32_t i = 0; i < a->n_frames; i++)
		if (a->lens[i] != b->lens[i] || a->offs[i] != b->offs[i])
			return false;
	return memcmp(a->bytes, b->bytes, a->n_bytes) == 0;
}

void
frame_run_diff(const struct frame_run *a, const struct frame_run *b, char *buf, size_t size)
{
	uint32_t i;

	for (i = 0; i < a->n_frames && i < b->n_frames; i++) {
		if (a->lens[i] != b->lens[i] ||
		    memcmp(a->bytes + a->offs[i], b->bytes + b->offs[i], a->lens[i]) != 0) {
			snprintf(buf, size,
			         "frame %u differs: %u bytes \"%.*s\" vs %u bytes \"%.*s\"", i,
			         a->lens[i], (int)(a->lens[i] > 40 ? 40 : a->lens[i]),
			         (const char *)a->bytes + a->offs[i], b->lens[i],
			         (int)(b->lens[i] > 40 ? 40 : b->lens[i]),
			         (const char *)b->bytes + b->offs[i]);
			return;
		}
	}
	snprintf(buf, size,
	         "%u frames, error %s, mid_frame %d vs %u frames, error %s, mid_frame %d",
	         a->n_frames, slc_frame_error_str(a->err), a->mid_frame, b->n_frames,
	         slc_frame_error_str(b->err), b->mid_frame);
}

/* Runs one split against the reference; 0, or -1 with msg. */
static int
fuzz_compare(const struct frame_run *ref, enum slc_frame_format f, uint32_t max_frame,
             const uint8_t *in, size_t len, const uint32_t *sizes, size_t n_sizes, uint32_t burst,
             char *msg, size_t msg_size)
{
	struct frame_run run;
	char diff[256];
	int rc = frame_run_feed(&run, f, max_frame, in, len, sizes, n_sizes, burst);

	if (rc == -ENOMEM) {
		frame_run_fini(&run);
		return 0; /* not the parser's fault */
	}
	if (rc != 0) {
		snprintf(msg, msg_size, "%s max_frame %u chunk %u,%u burst %u: %s (%d)",
		         slc_frame_format_name(f), max_frame, n_sizes ? sizes[0] : 0,
		         n_sizes > 1 ? sizes[1] : 0, burst, run.violation, rc);
		frame_run_fini(&run);
		return -1;
	}
	if (!frame_run_same(ref, &run)) {
		frame_run_diff(ref, &run, diff, sizeof(diff));
		snprintf(msg, msg_size,
		         "%s max_frame %u chunk %u,%u burst %u: reference vs run: %s",
		         slc_frame_format_name(f), max_frame, n_sizes ? sizes[0] : 0,
		         n_sizes > 1 ? sizes[1] : 0, burst, diff);
		frame_run_fini(&run);
		return -1;
	}
	/* In one chunk, every frame that ends is inside it, so it must come as one piece. */
	if (n_sizes == 0 && run.n_whole != run.n_frames) {
		snprintf(msg, msg_size, "%s: %u of %u frames of a single chunk came in pieces",
		         slc_frame_format_name(f), run.n_frames - run.n_whole, run.n_frames);
		frame_run_fini(&run);
		return -1;
	}
	frame_run_fini(&run);
	return 0;
}

int
frame_fuzz_check(enum slc_frame_format f, const uint8_t *data, size_t size, char *msg,
                 size_t msg_size)
{
	struct frame_run ref;
	uint32_t max_frame, burst, sizes[2];
	const uint32_t one = 1;
	const uint8_t *in = data + 4;
	size_t len;
	int rc = 0;

	if (size < 4)
		return 0;
	len = size - 4;
	/* Mostly small limits, so that the oversize edges are hit often. */
	switch (data[0] & 3) {
	case 0:
		max_frame = 1 + (data[1] & 7);
		break;
	case 1:
		max_frame = 1 + data[1];
		break;
	case 2:
		max_frame = 1 + (uint32_t)data[1] * 97;
		break;
	default:
		max_frame = SLC_FRAME_LEN_MAX;
		break;
	}
	burst = 1 + ((data[0] >> 2) & 7);
	sizes[0] = 1 + data[2] % 17;
	sizes[1] = 1 + data[3];
	if (frame_run_reference(&ref, f, max_frame, in, len) != 0)
		return 0;
	if (fuzz_compare(&ref, f, max_frame, in, len, NULL, 0, 64, msg, msg_size) != 0 ||
	    fuzz_compare(&ref, f, max_frame, in, len, NULL, 0, burst, msg, msg_size) != 0 ||
	    fuzz_compare(&ref, f, max_frame, in, len, sizes, 2, burst, msg, msg_size) != 0 ||
	    fuzz_compare(&ref, f, max_frame, in, len, &one, 1, burst, msg, msg_size) != 0)
		rc = -1;
	frame_run_fini(&ref);
	return rc;
}
