/* SPDX-License-Identifier: MIT */
/* fuzz_segment.c: libFuzzer target: the file sink's segment reader on any bytes as a file. */
/*
 * The first byte picks a mode (its low bit):
 *   0  raw: the rest of the input is the segment file.
 *   1  built: a valid segment made from the input (header, records with keys and
 *      payloads, a trailer or none, sometimes one that disagrees), then changed once: cut
 *      short, bytes overwritten, a range zeroed (a file system's unwritten blocks),
 *      garbage appended or inserted. Every record that ends before the first changed byte
 *      must come back as it was written, in order, before any other event; with no change,
 *      exactly the records come back, and END says closed when the segment has a trailer.
 * The file is a memfd, opened by its /proc path as sluice-cat opens a segment. What every
 * mode checks of the events (reader.h):
 *   - they tile the file: each starts where the one before ended (after the header, or at
 *     0 for a header event), except that a valid trailer is passed over silently; END is at
 *     the file's size, and comes again on every later call;
 *   - a RECORD is what the file holds at its offset: magic, lengths, flags, CRC (computed
 *     here with the software CRC32C), key and payload pointing at those bytes;
 *   - at most one TORN, and only right before END; DAMAGE and TORN say what failed;
 *   - END is closed only after a valid trailer; the header read back agrees with a check
 *     of the header bytes made here;
 *   - the reader ends: no more events than the file has bytes (plus a few).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crc32c.h"
#include "reader.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEG_MAX  (64u << 10)
#define RECS_MAX 64u

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...);

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz_segment: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static uint32_t
le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const uint8_t *p)
{
	return le16(p) | le16(p + 2) << 16;
}

static uint64_t
le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* file_format.md's record at f[off ..]: its length when valid (within size), else 0. */
static uint64_t
valid_record(const uint8_t *f, uint64_t size, uint64_t off, bool *trailer)
{
	uint64_t len;
	uint32_t klen, plen, flags;

	if (size - off < SLC_SINK_FILE_REC_HDR_SIZE || le32(f + off) != SLC_SINK_FILE_REC_MAGIC)
		return 0;
	plen = le32(f + off + 4);
	klen = le16(f + off + 8);
	flags = le16(f + off + 10);
	len = (uint64_t)SLC_SINK_FILE_REC_HDR_SIZE + klen + plen;
	if ((flags & ~SLC_SINK_FILE_REC_F_END) != 0 || len > size - off)
		return 0;
	if (slc_crc32c_sw(slc_crc32c_sw(0, f + off + 4, 8), f + off + 16, len - 16) !=
	    le32(f + off + 12))
		return 0;
	*trailer = (flags & SLC_SINK_FILE_REC_F_END) != 0;
	if (*trailer && (klen != 0 || plen != 16))
		return 0;
	return len;
}

/* What the built mode knows of its segment. */
struct built {
	uint32_t n;             /* records written */
	uint64_t off[RECS_MAX]; /* where each starts */
	uint64_t len[RECS_MAX]; /* its size on disk */
	uint64_t first_change;  /* the first byte that differs from the segment as built */
	bool trailer;           /* it has a trailer that agrees */
	bool changed;
};

static void
check_events(const uint8_t *f, uint64_t size, const struct built *b)
{
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	char path[64];
	int fd, err, rc;
	uint64_t at, events = 0;
	uint32_t worker, next_built = 0;
	uint64_t seq;
	bool hdr_ok, torn = false, closed = false, other = false, hdr_event;

	fd = memfd_create("fuzz_segment", MFD_CLOEXEC);
	if (fd < 0)
		fail("memfd_create: %s", strerror(errno));
	for (uint64_t done = 0; done < size;) {
		ssize_t n = write(fd, f + done, size - done);

		if (n <= 0)
			fail("write: %s", strerror(errno));
		done += (uint64_t)n;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = slc_sink_file_reader_open(path, &err);
	if (r == NULL)
		fail("reader_open: %s", strerror(-err));

	hdr_ok = size >= SLC_SINK_FILE_SEG_HDR_SIZE && memcmp(f, "SLUICESG", 8) == 0 &&
	         le16(f + 8) == 1 && le16(f + 10) == SLC_SINK_FILE_SEG_HDR_SIZE &&
	         slc_crc32c_sw(0, f, 28) == le32(f + 28);
	if (slc_sink_file_reader_header(r, &worker, &seq) != hdr_ok)
		fail("header: reader says %d, the bytes say %d", !hdr_ok, hdr_ok);
	if (hdr_ok && (worker != le32(f + 12) || seq != le64(f + 16)))
		fail("header: worker %u seq %lu, the bytes say %u %lu", worker, (unsigned long)seq,
		     le32(f + 12), (unsigned long)le64(f + 16));
	at = hdr_ok ? SLC_SINK_FILE_SEG_HDR_SIZE : 0;
	hdr_event = !hdr_ok; /* the first event is the header's verdict */

	for (;;) {
		rc = slc_sink_file_reader_next(r, &ev);
		if (rc != 0)
			fail("next: %s at event %lu", strerror(-rc), (unsigned long)events);
		if (++events > size + 4)
			fail("more than %lu events from %lu bytes", (unsigned long)events,
			     (unsigned long)size);
		if (ev.kind != SLC_SINK_FILE_EV_END && ev.offset != at) {
			bool tr = false;

			/* Only a valid trailer is read without an event. */
			if (closed ||
			    valid_record(f, size, at, &tr) != SLC_SINK_FILE_TRAILER_SIZE || !tr ||
			    ev.offset != at + SLC_SINK_FILE_TRAILER_SIZE)
				fail("event %d at %lu, the last one ended at %lu", ev.kind,
				     (unsigned long)ev.offset, (unsigned long)at);
			at += SLC_SINK_FILE_TRAILER_SIZE;
			closed = true;
		}
		if (torn && ev.kind != SLC_SINK_FILE_EV_END)
			fail("event %d after a torn tail", ev.kind);
		switch (ev.kind) {
		case SLC_SINK_FILE_EV_RECORD: {
			bool tr = false;
			uint64_t len = valid_record(f, size, at, &tr);

			if (len == 0 || tr || ev.len != len ||
			    ev.len != 16u + ev.key_len + ev.payload_len ||
			    ev.key_len != le16(f + at + 8))
				fail("record at %lu (%lu bytes) is not one", (unsigned long)at,
				     (unsigned long)ev.len);
			if ((ev.key_len && memcmp(ev.key, f + at + 16, ev.key_len) != 0) ||
			    (ev.payload_len &&
			     memcmp(ev.payload, f + at + 16 + ev.key_len, ev.payload_len) != 0))
				fail("record at %lu: key or payload differ from the file",
				     (unsigned long)at);
			if (b != NULL && !other) {
				/* Built: the records before the change come first, as written. */
				if (next_built < b->n &&
				    b->off[next_built] + b->len[next_built] <= b->first_change) {
					if (at != b->off[next_built] ||
					    ev.len != b->len[next_built])
						fail("record %u: at %lu (%lu bytes), written "
						     "at %lu",
						     next_built, (unsigned long)at,
						     (unsigned long)ev.len,
						     (unsigned long)b->off[next_built]);
					next_built++;
				} else {
					other = true;
				}
			}
			at += ev.len;
			break;
		}
		case SLC_SINK_FILE_EV_DAMAGE:
		case SLC_SINK_FILE_EV_TORN:
			if (ev.what == NULL || ev.what[0] == '\0')
				fail("event %d at %lu says nothing", ev.kind, (unsigned long)at);
			if (ev.len == 0 &&
			    !(ev.kind == SLC_SINK_FILE_EV_TORN && at == 0 && size == 0))
				fail("event %d at %lu of no bytes", ev.kind, (unsigned long)at);
			if (ev.len > size - at)
				fail("event %d at %lu runs past the file", ev.kind,
				     (unsigned long)at);
			if (closed && (ev.kind != SLC_SINK_FILE_EV_DAMAGE || at + ev.len != size))
				fail("after the trailer: event %d at %lu of %lu bytes, not "
				     "damage to the end",
				     ev.kind, (unsigned long)at, (unsigned long)ev.len);
			/* A trailer that disagrees with the records is damage, but read (the
			 * header's verdict is not, whatever its bytes). */
			if (!closed && !hdr_event && ev.kind == SLC_SINK_FILE_EV_DAMAGE &&
			    ev.len == SLC_SINK_FILE_TRAILER_SIZE) {
				bool tr = false;

				closed = valid_record(f, size, at, &tr) == ev.len && tr;
			}
			torn = ev.kind == SLC_SINK_FILE_EV_TORN;
			other = true;
			hdr_event = false;
			at += ev.len;
			break;
		case SLC_SINK_FILE_EV_END:
			if (ev.offset != size)
				fail("END at %lu of %lu", (unsigned long)ev.offset,
				     (unsigned long)size);
			if (at != size) {
				bool tr = false;

				if (closed || at + SLC_SINK_FILE_TRAILER_SIZE != size ||
				    valid_record(f, size, at, &tr) != SLC_SINK_FILE_TRAILER_SIZE ||
				    !tr)
					fail("END after %lu of %lu bytes", (unsigned long)at,
					     (unsigned long)size);
				closed = true;
			}
			if (ev.closed != closed)
				fail("END closed %d, a trailer was %sread", ev.closed,
				     closed ? "" : "not ");
			break;
		default:
			fail("event kind %d", ev.kind);
		}
		if (ev.kind == SLC_SINK_FILE_EV_END)
			break;
	}
	for (int i = 0; i < 2; i++) {
		struct slc_sink_file_ev again;

		if (slc_sink_file_reader_next(r, &again) != 0 ||
		    again.kind != SLC_SINK_FILE_EV_END || again.offset != size ||
		    again.closed != ev.closed)
			fail("END did not repeat");
	}
	if (b != NULL) {
		uint32_t want = 0;

		while (want < b->n && b->off[want] + b->len[want] <= b->first_change)
			want++;
		if (next_built != want)
			fail("%u of the %u records before the change at %lu came back", next_built,
			     want, (unsigned long)b->first_change);
		if (!b->changed && (other || closed != b->trailer))
			fail("an unchanged segment read with %s, closed %d (trailer %d)",
			     other ? "damage" : "no damage", closed, b->trailer);
	}
	slc_sink_file_reader_close(r);
	close(fd);
}

struct src {
	const uint8_t *p;
	size_t n;
};

static uint32_t
take(struct src *s)
{
	if (s->n == 0)
		return 0;
	s->n--;
	return *s->p++;
}

/* Builds a segment from the input into f (SEG_MAX bytes); returns its size. */
static uint64_t
build(struct src *s, uint8_t *f, struct built *b)
{
	uint64_t size = SLC_SINK_FILE_SEG_HDR_SIZE, records = 0;
	uint32_t n = take(s) % (RECS_MAX + 1), tmode;

	memset(b, 0, sizeof(*b));
	memcpy(f, "SLUICESG", 8);
	put16(f + 8, 1);
	put16(f + 10, SLC_SINK_FILE_SEG_HDR_SIZE);
	put32(f + 12, take(s));
	put64(f + 16, take(s) << 8 | take(s));
	put32(f + 24, 0);
	put32(f + 28, slc_crc32c_sw(0, f, 28));
	for (uint32_t i = 0; i < n; i++) {
		uint32_t klen = take(s) % 4 == 0 ? take(s) % 40 : 0;
		uint32_t plen = (take(s) << 8 | take(s)) % 700;
		uint8_t *h = f + size;

		if (size + 16 + klen + plen + SLC_SINK_FILE_TRAILER_SIZE > SEG_MAX)
			break;
		put32(h, SLC_SINK_FILE_REC_MAGIC);
		put32(h + 4, plen);
		put16(h + 8, klen);
		put16(h + 10, 0);
		/* Key and payload: the input's bytes, or runs of them (a payload may hold the
		 * record magic, or zeros). */
		for (uint32_t k = 0; k < klen + plen; k++)
			h[16 + k] = (uint8_t)(s->n ? take(s) : k);
		put32(h + 12, slc_crc32c_sw(slc_crc32c_sw(0, h + 4, 8), h + 16, klen + plen));
		b->off[b->n] = size;
		b->len[b->n] = 16u + klen + plen;
		b->n++;
		size += 16u + klen + plen;
		records++;
	}
	b->first_change = UINT64_MAX;
	tmode = take(s) % 4;
	if (tmode != 0) {
		uint8_t *h = f + size;
		/* 3: a trailer that miscounts the records: damage at the trailer */
		uint64_t count = tmode == 3 ? records + 1 : records;

		put32(h, SLC_SINK_FILE_REC_MAGIC);
		put32(h + 4, 16);
		put16(h + 8, 0);
		put16(h + 10, SLC_SINK_FILE_REC_F_END);
		put64(h + 16, count);
		put64(h + 24, size);
		put32(h + 12, slc_crc32c_sw(slc_crc32c_sw(0, h + 4, 8), h + 16, 16));
		if (tmode == 3) {
			b->first_change = size;
			b->changed = true;
		} else {
			b->trailer = true;
		}
		size += SLC_SINK_FILE_TRAILER_SIZE;
	}
	return size;
}

/* Changes the built segment once; returns its new size. */
static uint64_t
change(struct src *s, uint8_t *f, uint64_t size, struct built *b)
{
	uint32_t kind = take(s) % 6;
	uint64_t p = size ? (take(s) << 16 | take(s) << 8 | take(s)) % size : 0;
	uint32_t k = 1 + take(s) % 64;
	uint64_t first = UINT64_MAX;

	switch (kind) {
	case 0:
		return size;
	case 1: /* cut short */
		first = p;
		size = p;
		break;
	case 2: /* overwrite up to 4 bytes */
		for (uint32_t i = 0; i < 1 + k % 4 && p + i < size; i++) {
			uint8_t v = (uint8_t)take(s);

			if (f[p + i] != v && first == UINT64_MAX)
				first = p + i;
			f[p + i] = v;
		}
		break;
	case 3: /* unwritten blocks read as zeros */
		for (uint64_t i = p; i < p + k * 8 && i < size; i++) {
			if (f[i] != 0 && first == UINT64_MAX)
				first = i;
			f[i] = 0;
		}
		break;
	case 4: /* garbage after the end */
	case 5: /* garbage inserted */
		if (size + k > SEG_MAX)
			return size;
		if (kind == 4)
			p = size;
		memmove(f + p + k, f + p, size - p);
		for (uint32_t i = 0; i < k; i++)
			f[p + i] = (uint8_t)take(s);
		first = p;
		size += k;
		break;
	}
	if (first != UINT64_MAX) {
		b->changed = true;
		if (first < b->first_change)
			b->first_change = first;
	}
	return size;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s = {data + 1, size ? size - 1 : 0};
	struct built *b;
	uint8_t *f;
	uint64_t n;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		check_events(data + 1, size - 1, NULL);
		return 0;
	}
	b = malloc(sizeof(*b));
	f = malloc(SEG_MAX);
	if (b == NULL || f == NULL)
		abort();
	n = build(&s, f, b);
	n = change(&s, f, n, b);
	check_events(f, n, b);
	free(f);
	free(b);
	return 0;
}
