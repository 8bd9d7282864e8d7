/* SPDX-License-Identifier: MIT */
/* writer.c: a worker's write(): records into its buffer, its segments created, rotated, ended. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "file_priv.h"
#include "sinks/iov.h"

#define CREATE_TRIES 64 /* names taken by someone else before we give up (-EEXIST) */

static void
pend_reset(struct slc_sink_file_worker *w)
{
	w->niov = 0;
	w->last_in_buf = false;
	w->buf_used = 0;
	w->pend_records = 0;
	w->pend_bytes = 0;
}

/* The len bytes just put at buf + buf_used become pending. */
static void
pend_buf(struct slc_sink_file_worker *w, size_t len)
{
	if (w->last_in_buf) {
		w->iov[w->niov - 1].iov_len += len;
	} else {
		SLC_ASSERT(w->niov < IOV_CAP);
		w->iov[w->niov].iov_base = w->buf + w->buf_used;
		w->iov[w->niov].iov_len = len;
		w->niov++;
		w->last_in_buf = true;
	}
	w->buf_used += len;
}

/* Bytes the caller keeps valid until the next slc_file_pend_flush become pending, uncopied. */
static void
pend_ref(struct slc_sink_file_worker *w, const void *data, size_t len)
{
	SLC_ASSERT(w->niov < IOV_CAP);
	w->iov[w->niov].iov_base = (void *)(uintptr_t)data;
	w->iov[w->niov].iov_len = len;
	w->niov++;
	w->last_in_buf = false;
}

/*
 * Ends the open segment after an error: what the file holds is uncertain, so nothing more
 * goes into it. cut: the writev failed; take the file back to its last whole record, so
 * that it does not end in a torn one (best effort: the disk may refuse that too), or
 * remove it if not even its header got there.
 */
void
slc_file_seg_abandon(struct slc_sink_file_worker *w, int rc, enum fail_op op, bool cut)
{
	slc_file_health_fail(w, rc, op);
	slc_file_wlog(w, "%s: %s failed: %s; the next record starts a new segment", w->path,
	              op == FAIL_WRITE ? "write" : "fdatasync", strerror(-rc));
	if (cut) {
		int err = 0;

		if (w->written == 0)
			(void)w->io->unlinkat(w->io->ctx, w->dir_fd, w->path + w->name_off);
		else
			err = w->io->ftruncate(w->io->ctx, w->fd, w->written);
		if (err != 0)
			slc_file_wlog(
			        w,
			        "%s: cannot cut back to %llu bytes: %s; it ends in a torn record",
			        w->path, (unsigned long long)w->written, strerror(-err));
		/* What earlier write() calls put there is still to be made durable by a sync
		 * (after a failed fdatasync it may be gone: that is sync_lost's). */
		if (w->unsynced)
			w->ended_unsynced = true;
	}
	(void)w->io->close(w->io->ctx, w->fd);
	w->fd = -1;
	w->unsynced = false;
	w->ended_valid = false;
	pend_reset(w);
}

/* Writes everything pending: 0, or the error of writev (the segment is then abandoned). */
int
slc_file_pend_flush(struct slc_sink_file_worker *w)
{
	struct iovec *iov = w->iov;
	int cnt = w->niov;
	uint64_t total = 0;
	int rc;

	if (cnt == 0)
		return 0;
	SLC_ASSERT(w->fd >= 0);
	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	while (cnt > 0) {
		ssize_t n = w->io->writev(w->io->ctx, w->fd, iov, cnt);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			rc = (int)n;
			goto err_abandon;
		}
		if (n == 0) { /* no iov is empty, so no progress is a failure */
			rc = -EIO;
			goto err_abandon;
		}
		/* A short write (a signal, a full disk about to say ENOSPC): go on from the
		 * first byte not written. */
		iov = slc_sink_iov_advance(iov, &cnt, (size_t)n);
	}
	slc_sink_stat_add(&w->st->records, w->pend_records);
	slc_sink_stat_add(&w->st->bytes, w->pend_bytes);
	slc_sink_stat_add(&w->st->file_bytes, total);
	w->written = w->size;
	w->unsynced = true;
	w->wrote = true;
	pend_reset(w);
	health_wrote(w);
	return 0;

err_abandon:
	slc_file_seg_abandon(w, rc, FAIL_WRITE, true);
	return rc;
}

/* Makes room for len more bytes in buf and iovs more iovs, writing what is pending if
 * needed. */
static int
pend_reserve(struct slc_sink_file_worker *w, size_t len, int iovs)
{
	if (WBUF_SIZE - w->buf_used >= len && w->niov + iovs <= IOV_CAP)
		return 0;
	return slc_file_pend_flush(w);
}

/* Closes an ended segment's descriptor: 0, or the failure, counted. close() reports
 * write-back errors only on some file systems (NFS). */
int
slc_file_seg_fd_close(struct slc_sink_file_worker *w, int fd)
{
	int err = w->io->close(w->io->ctx, fd);

	if (err == 0 || err == -EINTR)
		return 0;
	slc_file_health_fail(w, err, FAIL_CLOSE);
	return err;
}

/* Opens DIR by its name, making it again if it is gone (moved away by hand for rotation,
 * then SIGHUP). */
static int
dir_open(struct slc_sink_file_worker *w)
{
	const struct slc_sink_file_io *io = w->io;
	const char *dir = w->sink->dir;

	for (int made = 0;; made++) {
		int rc;

		w->dir_fd =
		        io->openat(io->ctx, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		if (w->dir_fd >= 0)
			return 0;
		rc = w->dir_fd;
		w->dir_fd = -1;
		if (rc != -ENOENT || made > 0)
			return rc;
		rc = io->mkdir(io->ctx, dir, 0755);
		if (rc != 0 && rc != -EEXIST)
			return rc;
	}
}

/* Creates the next segment (its header pending): 0, or the error of open(). */
static int
seg_create(struct slc_sink_file_worker *w)
{
	struct slc_sink_file *s = w->sink;
	bool reopened = false;
	int tries = 0, fd, rc;
	char *name;

	SLC_ASSERT(w->fd < 0 && w->niov == 0);
	if (w->dir_fd < 0) {
		rc = dir_open(w);
		if (rc != 0)
			goto err_count;
	}
	for (;;) {
		int n = snprintf(w->path, w->path_cap, "%s/", s->dir);

		w->name_off = (size_t)n;
		name = w->path + n;
		snprintf(name, w->path_cap - (size_t)n, "w%03u-%08llu.seg", w->worker,
		         (unsigned long long)w->seq_next);
		/* O_EXCL: whatever is there already (a crashed run's torn segment, another
		 * process's file) is never written into. */
		fd = w->io->openat(w->io->ctx, w->dir_fd, name,
		                   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0)
			break;
		rc = fd;
		if (rc == -EINTR)
			continue;
		if (rc == -EEXIST && ++tries < CREATE_TRIES) {
			w->seq_next++;
			continue;
		}
		/* DIR was removed under us (names cannot be added to it any more). */
		if (rc == -ENOENT && !reopened) {
			reopened = true;
			w->io->close(w->io->ctx, w->dir_fd);
			rc = dir_open(w);
			if (rc == 0)
				continue;
		}
		goto err_count;
	}
	w->fd = fd;
	w->seq = w->seq_next++;
	w->written = 0;
	w->records = 0;
	w->dir_unsynced = true;

	slc_seg_hdr_put(w->buf + w->buf_used, w->worker, w->seq);
	pend_buf(w, HDR_SIZE);
	w->size = HDR_SIZE;
	slc_sink_stat_add(&w->st->segments, 1);
	return 0;

err_count:
	slc_file_health_fail(w, rc, FAIL_CREATE);
	slc_file_wlog(w, "%s: cannot create a segment: %s", s->dir, strerror(-rc));
	return rc;
}

/*
 * Ends the open segment in order: its trailer, then (sync) fdatasync, then close; with
 * background syncs, the job writes the trailer, syncs and closes. 0 without an open
 * segment. An error abandons the segment (no trailer).
 *
 * sync: the records are made durable before the trailer is written. Writeback does not go
 * in file order: a trailer that reached the disk ahead of a record would make a crash's
 * hole look like a segment ended in order, which recovery trusts and does not cut. (Found
 * by the crash model, tests/engine/sinks/test_file_crash.c.) In batch mode the records are
 * synced already; otherwise this is one more fdatasync per segment. never mode promises
 * nothing across a crash, and a segment it ended may read as damaged after one.
 */
int
slc_file_seg_end(struct slc_sink_file_worker *w, bool sync)
{
	uint8_t t[TRAILER_SIZE];
	int rc = 0, cerr;

	if (w->fd < 0)
		return 0;
	if (sync) {
		rc = slc_file_pend_flush(w);
		if (rc != 0)
			return rc;
		if (w->bg) {
			/* The job takes the descriptor over and closes it when done. */
			int fd = w->fd;

			slc_seg_trailer_put(t, w->records, w->size);
			w->size += TRAILER_SIZE;
			w->fd = -1;
			w->unsynced = false;
			w->ended_valid = true;
			w->ended_seq = w->seq;
			w->ended_size = w->size;
			return slc_file_bg_submit(w, fd, true, w->ended_seq, w->ended_size, t);
		}
		if (w->unsynced) {
			rc = slc_file_seg_sync(w);
			/* Failed: the segment was abandoned. A failed fsync of DIR leaves it
			 * open: its data is safe, and its name is synced next time. */
			if (rc != 0 && w->fd < 0)
				return rc;
		}
	}
	cerr = pend_reserve(w, TRAILER_SIZE, 1);
	if (cerr == 0) {
		slc_seg_trailer_put(w->buf + w->buf_used, w->records, w->size);
		pend_buf(w, TRAILER_SIZE);
		w->size += TRAILER_SIZE;
		cerr = slc_file_pend_flush(w);
	}
	if (cerr != 0)
		return cerr;
	w->ended_valid = true;
	w->ended_seq = w->seq;
	w->ended_size = w->size;
	if (sync) {
		cerr = slc_file_seg_sync(w);
		if (cerr != 0 && w->fd < 0)
			return cerr;
		if (rc == 0)
			rc = cerr;
	} else {
		w->ended_unsynced = true;
	}
	cerr = slc_file_seg_fd_close(w, w->fd);
	if (cerr != 0) {
		slc_file_wlog(w, "%s: close failed: %s", w->path, strerror(-cerr));
		if (rc == 0)
			rc = cerr;
	}
	w->fd = -1;
	w->unsynced = false;
	return rc;
}

/* Appends one record to what is pending. 0, or the error of writing what was pending. */
static int
rec_append(struct slc_sink_file_worker *w, const struct slc_msg *m, const uint8_t *key,
           uint32_t key_len)
{
	bool copy = m->len <= COPY_MAX;
	size_t inbuf = REC_SIZE + key_len + (copy ? m->len : 0);
	uint32_t crc;
	uint8_t *h;
	int rc;

	rc = pend_reserve(w, inbuf, copy ? 1 : 2);
	if (rc != 0)
		return rc;
	h = w->buf + w->buf_used;
	slc_seg_rec_hdr_put(h, m->len, (uint16_t)key_len, 0);
	/* The checksum rides on the copy into the buffer: the bytes are read once. */
	crc = slc_crc32c(0, h + 4, 8);
	crc = slc_crc32c_copy(crc, h + REC_SIZE, key, key_len);
	if (copy)
		crc = slc_crc32c_copy(crc, h + REC_SIZE + key_len, m->data, m->len);
	else
		crc = slc_crc32c(crc, m->data, m->len);
	slc_seg_put_le32(h + 12, crc);
	pend_buf(w, inbuf);
	if (!copy)
		pend_ref(w, m->data, m->len);
	w->size += REC_SIZE + key_len + m->len;
	w->records++;
	w->pend_records++;
	w->pend_bytes += key_len + m->len;
	return 0;
}

/*
 * Notes that record i of this write() is refused (sink.h's refused). 0, or -ENOMEM when
 * the list cannot grow: the record is left out all the same, and the write() fails as a
 * whole, so that nothing of it is claimed delivered without its refusals being known.
 */
static int
refuse(struct slc_sink_file_worker *w, uint32_t i)
{
	if (w->refused_n == w->refused_cap) {
		uint32_t cap = w->refused_cap * 2;
		uint32_t *v =
		        cap > w->refused_cap ? realloc(w->refused_idx, cap * sizeof(*v)) : NULL;

		if (v == NULL)
			return -ENOMEM;
		w->refused_idx = v;
		w->refused_cap = cap;
	}
	w->refused_idx[w->refused_n++] = i;
	return 0;
}

int
slc_file_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;
	int rc = 0, refuse_rc = 0;

	w->refused_n = 0;
	if (w->bg)
		slc_file_bg_reap(w, UINT32_MAX);
	for (uint32_t i = 0; i < n; i++) {
		const struct slc_msg *m = &msgs[i];
		const uint8_t *key = NULL;
		uint32_t key_len = 0;
		uint64_t rec;

		if (cfg->key_fn != NULL && cfg->key_fn(cfg->key_ctx, m, &key, &key_len) != 0) {
			key = NULL;
			key_len = 0;
		}
		/* The format has 16 bits for the key's length. Not stored without its key
		 * or with a cut one: a reader that groups by key would file the record
		 * under a key it does not have. Refused: this record alone is lost. */
		if (key_len > SLC_SINK_FILE_KEY_MAX) {
			slc_sink_stat_add(&w->st->refused_key, 1);
			slc_file_wlog(
			        w,
			        "a record of %u bytes with a key of %u bytes (at most %u): refused "
			        "and lost; the others are written",
			        m->len, key_len, SLC_SINK_FILE_KEY_MAX);
			if (refuse_rc == 0)
				refuse_rc = refuse(w, i);
			continue;
		}
		rec = REC_SIZE + key_len + m->len;
		/* The trailer must fit too. A record larger than a whole segment gets one of
		 * its own rather than being refused. */
		if (w->fd >= 0 && w->records > 0 &&
		    w->size + rec + TRAILER_SIZE > cfg->segment_bytes) {
			rc = slc_file_seg_end(w, cfg->fsync != SLC_SINK_FILE_FSYNC_NEVER);
			slc_sink_stat_add(&w->st->rotations, 1);
			if (rc != 0)
				goto out;
			slc_file_retain(w);
		}
		if (w->fd < 0) {
			rc = seg_create(w);
			if (rc != 0)
				goto out;
		}
		rc = rec_append(w, m, key, key_len);
		if (rc != 0)
			goto out;
	}
	rc = slc_file_pend_flush(w);
	if (rc == 0)
		rc = sync_policy(w);
out:
	/* Every failure above wrote or dropped what was pending: nothing can point into
	 * msgs once this returns. */
	SLC_ASSERT(w->niov == 0);
	if (rc == 0 && refuse_rc == 0)
		slc_sink_stat_add(&w->st->delivered, n - w->refused_n);
	/* From a sink with a status op, -ECANCELED means "cancelled at the drain timeout and
	 * counted by the sink" (sink.h); no file operation should fail so, but if one did, the
	 * daemon must still count the batch lost. */
	if (rc == -ECANCELED)
		rc = -EIO;
	return rc != 0 ? rc : refuse_rc;
}
