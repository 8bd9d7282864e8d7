/* SPDX-License-Identifier: MIT */
/* segment.c: the segment format's encoders and checks, and segment names in a directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "segment.h"

void
slc_seg_hdr_put(uint8_t *h, uint32_t worker, uint64_t seq)
{
	memcpy(h, SLC_SINK_FILE_SEG_MAGIC, 8);
	slc_seg_put_le16(h + 8, SLC_SINK_FILE_SEG_VERSION);
	slc_seg_put_le16(h + 10, SLC_SINK_FILE_SEG_HDR_SIZE);
	slc_seg_put_le32(h + 12, worker);
	slc_seg_put_le64(h + 16, seq);
	slc_seg_put_le32(h + 24, 0);
	slc_seg_put_le32(h + 28, slc_crc32c(0, h, 28));
}

/* The header's checks that say "not ours" (reader.c's and recover.c's), apart from zeros. */
const char *
slc_seg_hdr_foreign(const uint8_t *h)
{
	if (memcmp(h, SLC_SINK_FILE_SEG_MAGIC, 8) != 0)
		return "not a segment (bad magic)";
	if (slc_seg_get_le16(h + 8) != SLC_SINK_FILE_SEG_VERSION)
		return "unsupported segment version";
	if (slc_seg_get_le16(h + 10) != SLC_SINK_FILE_SEG_HDR_SIZE)
		return "bad segment header length";
	return NULL;
}

void
slc_seg_trailer_put(uint8_t *h, uint64_t records, uint64_t at)
{
	slc_seg_rec_hdr_put(h, 16, 0, SLC_SINK_FILE_REC_F_END);
	slc_seg_put_le64(h + 16, records);
	slc_seg_put_le64(h + 24, at);
	slc_seg_put_le32(h + 12, slc_crc32c(slc_crc32c(0, h + 4, 8), h + 16, 16));
}

bool
slc_seg_trailer_valid(const uint8_t *h, uint64_t at)
{
	return slc_seg_get_le32(h) == SLC_SINK_FILE_REC_MAGIC && slc_seg_get_le32(h + 4) == 16 &&
	       slc_seg_get_le16(h + 8) == 0 &&
	       slc_seg_get_le16(h + 10) == SLC_SINK_FILE_REC_F_END &&
	       slc_seg_get_le32(h + 12) == slc_crc32c(slc_crc32c(0, h + 4, 8), h + 16, 16) &&
	       slc_seg_get_le64(h + 24) == at;
}

bool
slc_sink_file_name_parse(const char *name, uint32_t *worker, uint64_t *seq)
{
	char canon[SLC_SINK_FILE_NAME_MAX];
	const char *p = name;
	uint64_t wv = 0, sv = 0;
	int digits;

	if (*p++ != 'w')
		return false;
	for (digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
		wv = wv * 10 + (uint64_t)(*p - '0');
		if (wv > UINT32_MAX)
			return false;
	}
	if (digits == 0 || *p++ != '-')
		return false;
	for (digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (sv > (UINT64_MAX - d) / 10)
			return false;
		sv = sv * 10 + d;
	}
	if (digits == 0 || strcmp(p, ".seg") != 0)
		return false;
	/* Only the name the writer would give: one file per (worker, seq), never two
	 * spellings of it. */
	snprintf(canon, sizeof(canon), "w%03u-%08llu.seg", (unsigned)wv, (unsigned long long)sv);
	if (strcmp(canon, name) != 0)
		return false;
	*worker = (uint32_t)wv;
	*seq = sv;
	return true;
}

static int
seg_cmp(const void *a, const void *b)
{
	const struct slc_sink_file_seg *x = a, *y = b;

	if (x->worker != y->worker)
		return x->worker < y->worker ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* What a directory listing gathers: segments (dir_scan), or one worker's highest seq. */
struct scan {
	struct slc_sink_file_seg *v;
	size_t cnt, cap;
	uint32_t worker; /* slc_seg_dir_max_seq's */
	bool found;
	uint64_t max;
};

static int
scan_add(void *arg, const char *name)
{
	struct scan *sc = arg;
	struct slc_sink_file_seg *nv;
	uint32_t worker;
	uint64_t seq;

	if (!slc_sink_file_name_parse(name, &worker, &seq) || strlen(name) >= sizeof(nv->name))
		return 0;
	if (sc->cnt == sc->cap) {
		sc->cap = sc->cap != 0 ? sc->cap * 2 : 64;
		nv = realloc(sc->v, sc->cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		sc->v = nv;
	}
	sc->v[sc->cnt].worker = worker;
	sc->v[sc->cnt].seq = seq;
	/* A canonical name is at most 37 bytes: it fits. */
	memcpy(sc->v[sc->cnt].name, name, strlen(name) + 1);
	sc->cnt++;
	return 0;
}

int
slc_sink_file_dir_scan_io(const struct slc_sink_file_io *io, const char *dir,
                          struct slc_sink_file_seg **segs, size_t *n)
{
	struct scan sc = {0};
	int rc;

	*segs = NULL;
	*n = 0;
	rc = io->list(io->ctx, dir, scan_add, &sc);
	if (rc != 0) {
		free(sc.v);
		return rc;
	}
	if (sc.cnt > 1)
		qsort(sc.v, sc.cnt, sizeof(*sc.v), seg_cmp);
	*segs = sc.v;
	*n = sc.cnt;
	return 0;
}

int
slc_sink_file_dir_scan(const char *dir, struct slc_sink_file_seg **segs, size_t *n)
{
	return slc_sink_file_dir_scan_io(&slc_sink_file_io_sys, dir, segs, n);
}

static int
scan_max(void *arg, const char *name)
{
	struct scan *sc = arg;
	uint32_t w;
	uint64_t seq;

	if (!slc_sink_file_name_parse(name, &w, &seq) || w != sc->worker)
		return 0;
	if (!sc->found || seq > sc->max)
		sc->max = seq;
	sc->found = true;
	return 0;
}

int
slc_seg_dir_max_seq(const struct slc_sink_file_io *io, const char *dir, uint32_t worker,
                    bool *found, uint64_t *max)
{
	struct scan sc = {.worker = worker};
	int rc = io->list(io->ctx, dir, scan_max, &sc);

	*found = sc.found;
	*max = sc.max;
	return rc == -ENOENT ? 0 : rc;
}
