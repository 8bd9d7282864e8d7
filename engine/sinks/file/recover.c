/* SPDX-License-Identifier: MIT */
/* recover.c: recovery at create: crashed segments cut and closed, checked against DIR/checkpoint. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_priv.h"

/* What create found in one segment file. */
struct seg_check {
	uint64_t size;
	uint64_t whole;      /* header and whole records end here: at the first bad byte */
	const char *why;     /* what is wrong at `whole`; NULL: nothing is */
	uint64_t kept;       /* records before `whole` */
	uint64_t dropped;    /* valid records after it */
	bool closed;         /* it ends in a valid trailer */
	const char *foreign; /* not a segment of this version (left alone): why */
};

/*
 * The cheap look that most segments need: its size, whether its header is one of ours
 * (zeros or a CRC mismatch still are: a crash leaves those), and whether it ends in a
 * trailer that says it is there. A segment ended in order is not read any further.
 */
static int
seg_peek(const struct slc_sink_file_io *io, const char *path, struct seg_check *c)
{
	static const uint8_t zeros[HDR_SIZE];
	uint8_t h[HDR_SIZE], t[TRAILER_SIZE];
	struct stat sb;
	int fd, rc = 0;

	memset(c, 0, sizeof(*c));
	fd = slc_sink_file_open_regular(io, path, &c->foreign);
	if (fd == -EISDIR || fd == -EINVAL)
		return 0; /* c->foreign says what it is instead */
	if (fd < 0)
		return fd;
	rc = io->fstat(io->ctx, fd, &sb);
	if (rc != 0)
		goto out;
	c->size = (uint64_t)sb.st_size;
	if (c->size >= HDR_SIZE) {
		rc = slc_sink_file_pread_all(io, fd, h, HDR_SIZE, 0);
		if (rc != 0)
			goto out;
		if (memcmp(h, zeros, HDR_SIZE) != 0)
			c->foreign = slc_seg_hdr_foreign(h);
	}
	if (c->foreign == NULL && c->size >= HDR_SIZE + TRAILER_SIZE) {
		rc = slc_sink_file_pread_all(io, fd, t, TRAILER_SIZE, c->size - TRAILER_SIZE);
		if (rc != 0)
			goto out;
		c->closed = slc_seg_trailer_valid(t, c->size - TRAILER_SIZE);
	}
out:
	io->close(io->ctx, fd);
	return rc;
}

/* Reads the whole segment with the reader: where its whole records end, and why. */
static int
seg_scan(const struct slc_sink_file_io *io, const char *path, struct seg_check *c)
{
	struct slc_sink_file_reader *r;
	struct slc_sink_file_ev ev;
	int rc;

	r = slc_sink_file_reader_open_io(io, path, &rc);
	if (r == NULL)
		return rc;
	c->why = NULL;
	c->kept = 0;
	c->dropped = 0;
	for (;;) {
		rc = slc_sink_file_reader_next(r, &ev);
		if (rc != 0)
			break;
		if (ev.kind == SLC_SINK_FILE_EV_END) {
			c->size = ev.offset;
			c->closed = ev.closed;
			break;
		}
		switch (ev.kind) {
		case SLC_SINK_FILE_EV_RECORD:
			if (c->why == NULL)
				c->kept++;
			else
				c->dropped++;
			break;
		case SLC_SINK_FILE_EV_DAMAGE:
		case SLC_SINK_FILE_EV_TORN:
			if (c->why == NULL) {
				c->whole = ev.offset;
				c->why = ev.what;
			}
			break;
		case SLC_SINK_FILE_EV_END:
			break;
		}
	}
	slc_sink_file_reader_close(r);
	if (c->why == NULL)
		c->whole = c->size;
	return rc;
}

/*
 * Cuts an unended segment back to c->whole and appends its trailer; a segment whose
 * header is bad (whole 0) gets a new header from its name and no records. Then
 * fdatasync: the repair is durable before anything is written after it. A crash in the
 * middle leaves a file that the next recovery repairs the same way. *size: the new size.
 */
static int
seg_repair(const struct slc_sink_file_io *io, const char *path, const struct slc_sink_file_seg *seg,
           const struct seg_check *c, uint64_t *size)
{
	uint8_t h[HDR_SIZE], t[TRAILER_SIZE];
	uint64_t at = c->whole, records = c->kept;
	int fd, rc, cerr;

	SLC_ASSERT(at == 0 || at >= HDR_SIZE);
	fd = io->openat(io->ctx, AT_FDCWD, path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	rc = io->ftruncate(io->ctx, fd, at);
	if (rc != 0)
		goto out;
	if (at == 0) {
		slc_seg_hdr_put(h, seg->worker, seg->seq);
		rc = slc_sink_file_pwrite_all(io, fd, h, HDR_SIZE, 0);
		if (rc != 0)
			goto out;
		at = HDR_SIZE;
		records = 0;
	}
	slc_seg_trailer_put(t, records, at);
	rc = slc_sink_file_pwrite_all(io, fd, t, TRAILER_SIZE, at);
	if (rc == 0)
		rc = io->fdatasync(io->ctx, fd);
	*size = at + TRAILER_SIZE;
out:
	cerr = io->close(io->ctx, fd);
	if (cerr != 0 && cerr != -EINTR && rc == 0)
		rc = cerr;
	return rc;
}

/* The checkpoint said cp was durable in path, and only `whole` bytes are (or the file is
 * gone, or not ours: how). From now on the checkpoint says what is there. */
static void
ckpt_lost(struct slc_sink_file *s, const char *path, struct slc_sink_file_pos *cp, bool repaired,
          uint64_t size, const char *how)
{
	s->recovered_lost_durable++;
	slc_file_log(s, SLC_LOG_ERROR,
	             "LOST DURABLE DATA: %s: the checkpoint says %llu bytes of it were durable; %s "
	             "(the disk or file system lost data it had synced)",
	             path, (unsigned long long)cp->offset, how);
	/* A repaired segment was synced as it is now; anything else is no promise. */
	if (repaired)
		cp->offset = size;
	else
		cp->valid = false;
	s->ckpt_dirty = true;
}

/* Recovers one segment (sink_file.h, "Recovery") and checks it against the checkpoint. */
static void
seg_recover(struct slc_sink_file *s, const char *path, const struct slc_sink_file_seg *seg)
{
	struct slc_sink_file_pos *cp = NULL;
	struct seg_check c;
	uint64_t whole, size;
	bool repaired = false;
	char how[160];
	int rc;

	if (seg->worker < SLC_SINK_FILE_WORKERS_MAX && s->ckpt[seg->worker].valid &&
	    s->ckpt[seg->worker].seq == seg->seq)
		cp = &s->ckpt[seg->worker];
	rc = seg_peek(s->io, path, &c);
	if (rc == 0 && c.foreign != NULL) {
		s->recovered_foreign++;
		slc_file_log(s, SLC_LOG_ERROR, "%s: %s; not recovered, left as it is", path,
		             c.foreign);
		if (cp != NULL)
			ckpt_lost(s, path, cp, false, 0, c.foreign);
		return;
	}
	/* Ended in order, and no promise to check inside it: the common case, two preads. */
	if (rc == 0 && c.closed && cp == NULL)
		return;
	if (rc == 0)
		rc = seg_scan(s->io, path, &c);
	if (rc != 0) {
		slc_file_log(s, SLC_LOG_ERROR, "%s: cannot read it: %s; not recovered", path,
		             strerror(-rc));
		return;
	}
	/* Damage inside a segment that ended in order is not a crash's: left for
	 * sluice-cat --verify to report. */
	whole = c.closed && c.why == NULL ? c.size : c.whole;
	size = c.size;
	if (!c.closed) {
		rc = seg_repair(s->io, path, seg, &c, &size);
		if (rc != 0) {
			slc_file_log(s, SLC_LOG_ERROR, "%s: cannot recover it: %s; left as it is",
			             path, strerror(-rc));
		} else {
			repaired = true;
			s->recovered_segments++;
			s->recovered_bytes_cut += c.size - c.whole;
			s->recovered_records_dropped += c.dropped;
			if (c.dropped != 0)
				snprintf(how, sizeof(how),
				         "; %llu valid records after the damage DROPPED"
				         " (written after it: never synced)",
				         (unsigned long long)c.dropped);
			slc_file_log(s, c.dropped != 0 ? SLC_LOG_ERROR : SLC_LOG_WARN,
			             "%s: cut %llu bytes at offset %llu (%s); %llu records kept%s",
			             path, (unsigned long long)(c.size - c.whole),
			             (unsigned long long)c.whole,
			             c.why != NULL ? c.why : "no trailer: the writer stopped",
			             (unsigned long long)c.kept, c.dropped != 0 ? how : "");
		}
	}
	if (cp != NULL && cp->offset > whole) {
		if (c.size < cp->offset)
			snprintf(how, sizeof(how), "the file had only %llu bytes",
			         (unsigned long long)c.size);
		else
			snprintf(how, sizeof(how), "its whole records end at %llu (%s)",
			         (unsigned long long)whole, c.why != NULL ? c.why : "?");
		ckpt_lost(s, path, cp, repaired, size, how);
	}
}

int
slc_file_dir_recover(struct slc_sink_file *s)
{
	bool seen[SLC_SINK_FILE_WORKERS_MAX] = {false};
	struct slc_sink_file_seg *segs;
	size_t n, dir_len = strlen(s->dir);
	size_t cap = dir_len + 1 + SLC_SINK_FILE_NAME_MAX;
	char *path;
	int rc;

	path = malloc(cap);
	if (path == NULL)
		return -ENOMEM;
	/* A crash in the middle of a checkpoint write leaves its .tmp; DIR/checkpoint is
	 * whole either way. */
	snprintf(path, cap, "%s/%s.tmp", s->dir, SLC_SINK_FILE_CKPT_NAME);
	(void)s->io->unlinkat(s->io->ctx, AT_FDCWD, path);
	rc = slc_sink_file_checkpoint_read_io(s->io, s->dir, SLC_SINK_FILE_CKPT_DURABLE, s->ckpt);
	if (rc != 0 && rc != -ENOENT)
		slc_file_log(s, SLC_LOG_ERROR,
		             "%s/%s: cannot read it: %s; durable data is not checked this time",
		             s->dir, SLC_SINK_FILE_CKPT_NAME,
		             rc == -EINVAL || rc == -EISDIR ? "not a regular file" : strerror(-rc));
	rc = slc_sink_file_dir_scan_io(s->io, s->dir, &segs, &n);
	if (rc != 0) {
		free(path);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		const struct slc_sink_file_seg *seg = &segs[i];

		if (seg->worker < SLC_SINK_FILE_WORKERS_MAX && s->ckpt[seg->worker].valid &&
		    s->ckpt[seg->worker].seq == seg->seq)
			seen[seg->worker] = true;
		snprintf(path, cap, "%s/%s", s->dir, seg->name);
		seg_recover(s, path, seg);
	}
	/* A whole file gone is a hand's work far more often than a disk's (retention, DIR
	 * moved away for rotation): a warning, and no longer a promise. */
	for (uint32_t w = 0; w < SLC_SINK_FILE_WORKERS_MAX; w++) {
		if (!s->ckpt[w].valid || seen[w])
			continue;
		slc_file_log(
		        s, SLC_LOG_WARN,
		        "%s/w%03u-%08llu.seg: the checkpoint says %llu bytes of it were durable, "
		        "and the file is gone (removed or moved by hand?)",
		        s->dir, w, (unsigned long long)s->ckpt[w].seq,
		        (unsigned long long)s->ckpt[w].offset);
		s->ckpt[w].valid = false;
		s->ckpt_dirty = true;
	}
	free(segs);
	free(path);
	/* What was lost is said once: the next start checks what is there now. */
	if (s->ckpt_dirty) {
		if (slc_file_ckpt_store(s, slc_file_ckpt_format(s->ckpt_buf,
		                                                SLC_SINK_FILE_CKPT_DURABLE,
		                                                s->ckpt)) == 0)
			s->ckpt_dirty = false;
		s->ckpt_written_ns = s->io->now_ns(s->io->ctx);
	}
	return 0;
}
