/* SPDX-License-Identifier: MIT */
/* reader.c: one segment read record by record (reader.h), for recovery and sluice-cat. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "reader.h"
#include "base/assert.h"

/* The reader needs the format (segment.h), not the sink's state (file_priv.h). */
#define HDR_SIZE SLC_SINK_FILE_SEG_HDR_SIZE
#define REC_SIZE SLC_SINK_FILE_REC_HDR_SIZE
#define RD_CHUNK (256u << 10) /* the reader's least pread */

struct slc_sink_file_reader {
	const struct slc_sink_file_io *io;
	int fd;
	uint64_t size; /* at open */
	uint64_t pos;  /* next byte to look at */
	bool hdr_ok;
	bool closed;  /* a valid trailer was read */
	bool damaged; /* a DAMAGE event was given */
	uint32_t worker;
	uint64_t seq;
	uint64_t records;
	/* The header's verdict, given as the first event when it is not a clean header. */
	struct slc_sink_file_ev hdr_ev;
	bool hdr_ev_pending;
	/* File bytes [win_off, win_off + win_len) are in buf. */
	uint8_t *buf;
	size_t cap;
	uint64_t win_off;
	size_t win_len;
	int err;
};

struct rec_view {
	uint64_t len; /* on disk */
	uint16_t flags;
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *payload;
	uint32_t payload_len;
};

/* File bytes [off, off + len), which the caller knows lie below size; NULL: r->err. */
static const uint8_t *
rd_bytes(struct slc_sink_file_reader *r, uint64_t off, uint64_t len)
{
	uint64_t want;
	int rc;

	SLC_ASSERT(off + len <= r->size);
	if (off >= r->win_off && off + len <= r->win_off + r->win_len)
		return r->buf + (off - r->win_off);
	want = len > RD_CHUNK ? len : RD_CHUNK;
	if (want > r->size - off)
		want = r->size - off;
	if (want > SIZE_MAX) {
		r->err = -ENOMEM;
		return NULL;
	}
	if (want > r->cap) {
		uint8_t *nb = realloc(r->buf, (size_t)want);

		if (nb == NULL) {
			r->err = -ENOMEM;
			return NULL;
		}
		r->buf = nb;
		r->cap = (size_t)want;
	}
	r->win_len = 0;
	/* -EIO when the file is shorter than at open: someone truncated it under us. */
	rc = slc_sink_file_pread_all(r->io, r->fd, r->buf, (size_t)want, off);
	if (rc != 0) {
		r->err = rc;
		return NULL;
	}
	r->win_off = off;
	r->win_len = (size_t)want;
	return r->buf;
}

/* 0: a valid record at off (*v); 1: none (*why says what failed); -errno. */
static int
rec_check(struct slc_sink_file_reader *r, uint64_t off, struct rec_view *v, const char **why)
{
	const uint8_t *p;
	uint32_t crc;

	if (r->size - off < REC_SIZE) {
		*why = "record header cut short";
		return 1;
	}
	p = rd_bytes(r, off, REC_SIZE);
	if (p == NULL)
		return r->err;
	if (slc_seg_get_le32(p) != SLC_SINK_FILE_REC_MAGIC) {
		*why = "bad record magic";
		return 1;
	}
	v->payload_len = slc_seg_get_le32(p + 4);
	v->key_len = slc_seg_get_le16(p + 8);
	v->flags = slc_seg_get_le16(p + 10);
	crc = slc_seg_get_le32(p + 12);
	if ((v->flags & ~SLC_SINK_FILE_REC_F_END) != 0) {
		*why = "unknown record flags";
		return 1;
	}
	v->len = (uint64_t)REC_SIZE + v->key_len + v->payload_len;
	if (v->len > r->size - off) {
		*why = "record runs past the end of the file";
		return 1;
	}
	p = rd_bytes(r, off, v->len);
	if (p == NULL)
		return r->err;
	if (slc_crc32c(slc_crc32c(0, p + 4, 8), p + REC_SIZE, v->len - REC_SIZE) != crc) {
		*why = "record CRC mismatch";
		return 1;
	}
	if ((v->flags & SLC_SINK_FILE_REC_F_END) != 0 &&
	    (v->key_len != 0 || v->payload_len != 16)) {
		*why = "malformed segment trailer";
		return 1;
	}
	v->key = p + REC_SIZE;
	v->payload = p + REC_SIZE + v->key_len;
	return 0;
}

/* The offset of the first valid record at or after from, or size if none. */
static int
rd_resync(struct slc_sink_file_reader *r, uint64_t from, uint64_t *next)
{
	static const uint8_t magic[4] = {0xe5, 0x1c, 0xd5, 0x9b};
	struct rec_view v;
	const char *why;

	static_assert(SLC_SINK_FILE_REC_MAGIC == 0x9bd51ce5u, "magic[] is its bytes on disk");
	while (from + REC_SIZE <= r->size) {
		uint64_t chunk = r->size - from < RD_CHUNK ? r->size - from : RD_CHUNK;
		const uint8_t *p, *q;
		uint64_t cand;
		int rc;

		p = rd_bytes(r, from, chunk);
		if (p == NULL)
			return r->err;
		q = memmem(p, (size_t)chunk, magic, sizeof(magic));
		if (q == NULL) {
			/* chunk >= REC_SIZE > 3: always moves on; a magic split across the
			 * chunk's end is found in the next. */
			from += chunk - (sizeof(magic) - 1);
			continue;
		}
		cand = from + (uint64_t)(q - p);
		rc = rec_check(r, cand, &v, &why);
		if (rc <= 0) {
			*next = cand;
			return rc;
		}
		from = cand + 1;
	}
	*next = r->size;
	return 0;
}

/* *zeros: file bytes [from, to) are all zero (a file system's unwritten blocks). */
static int
rd_zeros(struct slc_sink_file_reader *r, uint64_t from, uint64_t to, bool *zeros)
{
	*zeros = false;
	while (from < to) {
		uint64_t chunk = to - from < RD_CHUNK ? to - from : RD_CHUNK;
		const uint8_t *p = rd_bytes(r, from, chunk);

		if (p == NULL)
			return r->err;
		for (uint64_t i = 0; i < chunk; i++)
			if (p[i] != 0)
				return 0;
		from += chunk;
	}
	*zeros = true;
	return 0;
}

struct slc_sink_file_reader *
slc_sink_file_reader_open_io(const struct slc_sink_file_io *io, const char *path, int *err)
{
	static const uint8_t zeros[HDR_SIZE];
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev *ev;
	const char *foreign;
	const uint8_t *p;
	struct stat sb;
	int rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	r->io = io;
	r->fd = slc_sink_file_open_regular(io, path, NULL);
	if (r->fd < 0) {
		rc = r->fd;
		goto err_free_reader;
	}
	rc = io->fstat(io->ctx, r->fd, &sb);
	if (rc != 0)
		goto err_close_fd;
	r->size = (uint64_t)sb.st_size;

	ev = &r->hdr_ev;
	ev->offset = 0;
	r->hdr_ev_pending = true;
	if (r->size < HDR_SIZE) {
		ev->kind = SLC_SINK_FILE_EV_TORN;
		ev->len = r->size;
		ev->what = "segment header cut short";
		r->pos = r->size;
		return r;
	}
	p = rd_bytes(r, 0, HDR_SIZE);
	if (p == NULL) {
		rc = r->err;
		goto err_free_buf;
	}
	ev->kind = SLC_SINK_FILE_EV_DAMAGE;
	ev->len = r->size; /* nothing in a file that is not a segment can be trusted */
	r->pos = r->size;
	if (memcmp(p, zeros, HDR_SIZE) == 0) {
		/* Blocks whose data never reached the disk read as zeros: a crash right after
		 * the segment was created. Torn, unless records follow. */
		rc = rd_resync(r, 1, &r->pos);
		if (rc < 0)
			goto err_free_buf;
		ev->len = r->pos;
		ev->what = "segment header is zeros";
		if (r->pos == r->size)
			ev->kind = SLC_SINK_FILE_EV_TORN;
	} else if ((foreign = slc_seg_hdr_foreign(p)) != NULL) {
		ev->what = foreign;
	} else if (slc_crc32c(0, p, 28) != slc_seg_get_le32(p + 28)) {
		/* Only the header is bad: the records after it may well be fine. */
		ev->len = HDR_SIZE;
		ev->what = "segment header CRC mismatch";
		r->pos = HDR_SIZE;
	} else {
		r->hdr_ok = true;
		r->hdr_ev_pending = false;
		r->worker = slc_seg_get_le32(p + 12);
		r->seq = slc_seg_get_le64(p + 16);
		r->pos = HDR_SIZE;
	}
	if (r->hdr_ev_pending && ev->kind == SLC_SINK_FILE_EV_DAMAGE)
		r->damaged = true;
	return r;

err_free_buf:
	free(r->buf);
err_close_fd:
	io->close(io->ctx, r->fd);
err_free_reader:
	free(r);
err_out:
	*err = rc;
	return NULL;
}

struct slc_sink_file_reader *
slc_sink_file_reader_open(const char *path, int *err)
{
	return slc_sink_file_reader_open_io(&slc_sink_file_io_sys, path, err);
}

bool
slc_sink_file_reader_header(const struct slc_sink_file_reader *r, uint32_t *worker, uint64_t *seq)
{
	if (!r->hdr_ok)
		return false;
	*worker = r->worker;
	*seq = r->seq;
	return true;
}

int
slc_sink_file_reader_next(struct slc_sink_file_reader *r, struct slc_sink_file_ev *ev)
{
	struct rec_view v;
	const char *why;
	uint64_t next;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (r->err != 0)
		return r->err;
	if (r->hdr_ev_pending) {
		*ev = r->hdr_ev;
		r->hdr_ev_pending = false;
		return 0;
	}
	while (r->pos < r->size) {
		if (r->closed) {
			ev->kind = SLC_SINK_FILE_EV_DAMAGE;
			ev->offset = r->pos;
			ev->len = r->size - r->pos;
			ev->what = "bytes after the segment trailer";
			r->pos = r->size;
			r->damaged = true;
			return 0;
		}
		rc = rec_check(r, r->pos, &v, &why);
		if (rc < 0)
			return rc;
		if (rc == 0 && (v.flags & SLC_SINK_FILE_REC_F_END) != 0) {
			uint64_t at = r->pos;
			bool agree = slc_seg_get_le64(v.payload) == r->records &&
			             slc_seg_get_le64(v.payload + 8) == at;

			r->closed = true;
			r->pos += v.len;
			/* After damage the counts cannot agree; that was said already. */
			if (!agree && !r->damaged) {
				ev->kind = SLC_SINK_FILE_EV_DAMAGE;
				ev->offset = at;
				ev->len = v.len;
				ev->what = "segment trailer disagrees with the records before it";
				r->damaged = true;
				return 0;
			}
			continue;
		}
		if (rc == 0) {
			ev->kind = SLC_SINK_FILE_EV_RECORD;
			ev->offset = r->pos;
			ev->len = v.len;
			ev->key = v.key;
			ev->key_len = v.key_len;
			ev->payload = v.payload;
			ev->payload_len = v.payload_len;
			r->pos += v.len;
			r->records++;
			return 0;
		}
		rc = rd_resync(r, r->pos + 1, &next);
		if (rc < 0)
			return rc;
		ev->offset = r->pos;
		ev->len = next - r->pos;
		ev->what = why;
		if (next < r->size) {
			ev->kind = SLC_SINK_FILE_EV_DAMAGE;
			r->damaged = true;
		} else {
			bool zeros;

			ev->kind = SLC_SINK_FILE_EV_TORN;
			rc = rd_zeros(r, r->pos, next, &zeros);
			if (rc < 0)
				return rc;
			if (zeros)
				ev->what = "zeros (data that never reached the disk)";
		}
		r->pos = next;
		return 0;
	}
	ev->kind = SLC_SINK_FILE_EV_END;
	ev->offset = r->size;
	ev->closed = r->closed;
	return 0;
}

void
slc_sink_file_reader_close(struct slc_sink_file_reader *r)
{
	if (r == NULL)
		return;
	r->io->close(r->io->ctx, r->fd);
	free(r->buf);
	free(r);
}
