/* SPDX-License-Identifier: MIT */
/* checkpoint.c: DIR/checkpoint and DIR/consumed: their form, reading, atomic replacement. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "file_priv.h"

#define CKPT_READ_MAX      (64u << 10)
#define CKPT_INTERVAL_NS   ((uint64_t)SLC_SINK_FILE_CKPT_INTERVAL_MS * 1000000u)
#define CONSUMED_LOCK_NAME "consumed.lock"

static const char *
ckpt_word(enum slc_sink_file_ckpt_kind kind)
{
	return kind == SLC_SINK_FILE_CKPT_DURABLE ? "durable" : "consumed";
}

static const char *
ckpt_file(enum slc_sink_file_ckpt_kind kind)
{
	return kind == SLC_SINK_FILE_CKPT_DURABLE ? SLC_SINK_FILE_CKPT_NAME
	                                          : SLC_SINK_FILE_CONSUMED_NAME;
}

/* pos[] as a checkpoint file in buf (CKPT_BUF_SIZE): its length. */
size_t
slc_file_ckpt_format(char *buf, enum slc_sink_file_ckpt_kind kind,
                     const struct slc_sink_file_pos *pos)
{
	size_t len = sizeof(CKPT_LINE1) - 1;

	memcpy(buf, CKPT_LINE1, len);
	for (uint32_t w = 0; w < SLC_SINK_FILE_WORKERS_MAX; w++) {
		if (!pos[w].valid)
			continue;
		len += (size_t)snprintf(buf + len, CKPT_BUF_SIZE - len, "%s %u %llu %llu\n",
		                        ckpt_word(kind), w, (unsigned long long)pos[w].seq,
		                        (unsigned long long)pos[w].offset);
	}
	len += (size_t)snprintf(buf + len, CKPT_BUF_SIZE - len, "crc %08x\n",
	                        slc_crc32c(0, buf, len));
	SLC_ASSERT(len < CKPT_BUF_SIZE);
	return len;
}

/* A decimal number at *p, then `stop`: 0 and *p past stop, or -EBADMSG. */
static int
parse_u64(const char **p, char stop, uint64_t *v)
{
	const char *q = *p;
	uint64_t x = 0;

	if (*q < '0' || *q > '9')
		return -EBADMSG;
	for (; *q >= '0' && *q <= '9'; q++) {
		uint64_t d = (uint64_t)(*q - '0');

		if (x > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		x = x * 10 + d;
	}
	if (*q != stop)
		return -EBADMSG;
	*p = q + 1;
	*v = x;
	return 0;
}

/* Parses buf[0..len) (buf[len] is NUL) as a checkpoint file of kind; strict: anything
 * this writer would not have written is -EBADMSG. */
static int
ckpt_parse(const char *buf, size_t len, enum slc_sink_file_ckpt_kind kind,
           struct slc_sink_file_pos *pos)
{
	const char *word = ckpt_word(kind), *crc_line, *p;
	size_t wlen = strlen(word);
	uint64_t crc;

	memset(pos, 0, SLC_SINK_FILE_WORKERS_MAX * sizeof(*pos));
	if (len < sizeof(CKPT_LINE1) - 1 || memchr(buf, '\0', len) != NULL ||
	    buf[len - 1] != '\n' || memcmp(buf, CKPT_LINE1, sizeof(CKPT_LINE1) - 1) != 0)
		return -EBADMSG;
	/* The last line: "crc " and 8 hex digits over every byte before it. */
	crc_line = buf + len - 1;
	while (crc_line > buf && crc_line[-1] != '\n')
		crc_line--;
	if (buf + len - crc_line != 13 || memcmp(crc_line, "crc ", 4) != 0)
		return -EBADMSG;
	crc = 0;
	for (p = crc_line + 4; p < crc_line + 12; p++) {
		int d = *p >= '0' && *p <= '9'   ? *p - '0'
		        : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
		                                 : -1;

		if (d < 0)
			return -EBADMSG;
		crc = crc << 4 | (uint64_t)d;
	}
	if (crc != slc_crc32c(0, buf, (size_t)(crc_line - buf)))
		return -EBADMSG;
	for (p = buf + sizeof(CKPT_LINE1) - 1; p < crc_line;) {
		uint64_t worker, seq, off;

		if (strncmp(p, word, wlen) != 0 || p[wlen] != ' ')
			return -EBADMSG;
		p += wlen + 1;
		if (parse_u64(&p, ' ', &worker) != 0 || parse_u64(&p, ' ', &seq) != 0 ||
		    parse_u64(&p, '\n', &off) != 0 || worker >= SLC_SINK_FILE_WORKERS_MAX ||
		    pos[worker].valid)
			return -EBADMSG;
		pos[worker] = (struct slc_sink_file_pos){.valid = true, .seq = seq, .offset = off};
	}
	return 0;
}

int
slc_sink_file_checkpoint_read_io(const struct slc_sink_file_io *io, const char *dir,
                                 enum slc_sink_file_ckpt_kind kind,
                                 struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX])
{
	char path[PATH_MAX], *buf;
	size_t len = 0;
	int fd, rc = 0;

	memset(pos, 0, SLC_SINK_FILE_WORKERS_MAX * sizeof(*pos));
	if (kind != SLC_SINK_FILE_CKPT_DURABLE && kind != SLC_SINK_FILE_CKPT_CONSUMED)
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, ckpt_file(kind)) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = slc_sink_file_open_regular(io, path, NULL);
	if (fd < 0)
		return fd;
	buf = malloc(CKPT_READ_MAX + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	/* One byte more than the largest allowed: a file that fills it is too large. */
	while (len <= CKPT_READ_MAX) {
		ssize_t n = io->pread(io->ctx, fd, buf + len, CKPT_READ_MAX + 1 - len, len);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			rc = (int)n;
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CKPT_READ_MAX) {
		rc = -EFBIG;
		goto out_free;
	}
	buf[len] = '\0';
	rc = ckpt_parse(buf, len, kind, pos);
out_free:
	free(buf);
out_close:
	io->close(io->ctx, fd);
	return rc;
}

int
slc_sink_file_checkpoint_read(const char *dir, enum slc_sink_file_ckpt_kind kind,
                              struct slc_sink_file_pos pos[SLC_SINK_FILE_WORKERS_MAX])
{
	return slc_sink_file_checkpoint_read_io(&slc_sink_file_io_sys, dir, kind, pos);
}

/* Replaces DIR/name with buf[0..len) so that a crash leaves the old file or the new one,
 * never a mix: DIR/name.tmp, fdatasync, rename, fsync DIR. Removes the .tmp on failure. */
static int
file_replace(const struct slc_sink_file_io *io, const char *dir, const char *name, const char *buf,
             size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd, dfd, rc, cerr;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	/* A .tmp left by a crash is garbage; whatever else has the name (a FIFO would block
	 * an open for writing) is not ours to write into. The caller's lock makes it ours. */
	(void)io->unlinkat(io->ctx, AT_FDCWD, tmp);
	fd = io->openat(io->ctx, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return fd;
	rc = slc_sink_file_pwrite_all(io, fd, buf, len, 0);
	if (rc == 0)
		rc = io->fdatasync(io->ctx, fd);
	cerr = io->close(io->ctx, fd);
	if (cerr != 0 && cerr != -EINTR && rc == 0)
		rc = cerr;
	if (rc == 0)
		rc = io->rename(io->ctx, tmp, dst);
	if (rc != 0) {
		(void)io->unlinkat(io->ctx, AT_FDCWD, tmp);
		return rc;
	}
	/* The new name is durable only once DIR is. */
	dfd = io->openat(io->ctx, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return dfd;
	rc = io->fsync(io->ctx, dfd);
	io->close(io->ctx, dfd);
	return rc;
}

int
slc_sink_file_checkpoint_consumed(const char *dir, uint32_t worker, uint64_t seq, uint64_t offset)
{
	const struct slc_sink_file_io *io = &slc_sink_file_io_sys;
	struct slc_sink_file_pos *pos;
	char path[PATH_MAX], *buf;
	int lock_fd, rc;

	if (worker >= SLC_SINK_FILE_WORKERS_MAX)
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, CONSUMED_LOCK_NAME) >= sizeof(path))
		return -ENAMETOOLONG;
	pos = calloc(SLC_SINK_FILE_WORKERS_MAX, sizeof(*pos));
	buf = malloc(CKPT_BUF_SIZE);
	if (pos == NULL || buf == NULL) {
		rc = -ENOMEM;
		goto out_free;
	}
	/* Readers serialise on a file that is never renamed: a flock on consumed.tmp or on
	 * consumed would be held on an inode that the other's rename replaces. */
	lock_fd = io->openat(io->ctx, AT_FDCWD, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0) {
		rc = lock_fd;
		goto out_free;
	}
	while ((rc = io->lock(io->ctx, lock_fd, true)) == -EINTR)
		;
	if (rc != 0)
		goto out_unlock;
	rc = slc_sink_file_checkpoint_read_io(io, dir, SLC_SINK_FILE_CKPT_CONSUMED, pos);
	if (rc == -ENOENT)
		rc = 0;
	if (rc != 0)
		goto out_unlock;
	pos[worker] = (struct slc_sink_file_pos){.valid = true, .seq = seq, .offset = offset};
	rc = file_replace(io, dir, SLC_SINK_FILE_CONSUMED_NAME, buf,
	                  slc_file_ckpt_format(buf, SLC_SINK_FILE_CKPT_CONSUMED, pos));
out_unlock:
	io->close(io->ctx, lock_fd); /* and with it the flock */
out_free:
	free(buf);
	free(pos);
	return rc;
}

/* Writes the sink's durable checkpoint, formatted in s->ckpt_buf; counts and logs. The
 * caller owns ckpt_buf (ckpt_writing, or no worker can run: create, destroy). */
int
slc_file_ckpt_store(struct slc_sink_file *s, size_t len)
{
	int rc = file_replace(s->io, s->dir, SLC_SINK_FILE_CKPT_NAME, s->ckpt_buf, len);

	if (rc == 0) {
		slc_sink_stat_add(&s->checkpoints, 1);
	} else {
		slc_sink_stat_add(&s->checkpoint_errors, 1);
		slc_file_log(s, SLC_LOG_ERROR, "%s/%s: cannot write it: %s; the old one stays",
		             s->dir, SLC_SINK_FILE_CKPT_NAME, strerror(-rc));
	}
	return rc;
}

/*
 * Called right after a sync succeeded: notes in the sink's checkpoint how far this
 * worker's records are durable now (pos: a segment and the offset its records are
 * durable to; not valid: nothing new, but force still writes), and writes the checkpoint
 * when CKPT_INTERVAL_NS have passed since the last write, or at once with force
 * (worker_close). Rate-limited per worker first, so that a worker syncing every batch
 * takes the shared mutex at most every CKPT_INTERVAL_NS. The checkpoint may stay behind
 * the truth, never ahead of it.
 */
void
slc_file_ckpt_put(struct slc_sink_file_worker *w, struct slc_sink_file_pos pos, bool force)
{
	struct slc_sink_file *s = w->sink;
	uint64_t now = w->io->now_ns(w->io->ctx);
	size_t len;
	int rc;

	if (w->worker >= SLC_SINK_FILE_WORKERS_MAX)
		return;
	if (pos.valid) {
		w->ckpt_want = pos;
		w->ckpt_behind = true;
	}
	if (!force && (!w->ckpt_behind || now - w->ckpt_noted_ns < CKPT_INTERVAL_NS))
		return;
	w->ckpt_noted_ns = now;

	pthread_mutex_lock(&s->ckpt_mu);
	if (w->ckpt_want.valid) {
		struct slc_sink_file_pos *e = &s->ckpt[w->worker];

		if (!e->valid || e->seq != w->ckpt_want.seq || e->offset != w->ckpt_want.offset) {
			*e = w->ckpt_want;
			s->ckpt_dirty = true;
		}
	}
	/* force: what this worker noted must reach the file before close returns, so wait
	 * for a write that may have taken its snapshot before the note. */
	while (force && s->ckpt_writing)
		pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
	if (!s->ckpt_dirty || s->ckpt_writing ||
	    (!force && now - s->ckpt_written_ns < CKPT_INTERVAL_NS)) {
		/* Still dirty: this note is not in the file yet (another worker's write took
		 * its snapshot before it, or the last write was too recent). */
		w->ckpt_behind = s->ckpt_dirty;
		pthread_mutex_unlock(&s->ckpt_mu);
		return;
	}
	len = slc_file_ckpt_format(s->ckpt_buf, SLC_SINK_FILE_CKPT_DURABLE, s->ckpt);
	s->ckpt_writing = true;
	s->ckpt_dirty = false;
	s->ckpt_written_ns = now;
	pthread_mutex_unlock(&s->ckpt_mu);

	/* Two fsyncs, outside the mutex: other workers note and go on meanwhile. */
	rc = slc_file_ckpt_store(s, len);

	pthread_mutex_lock(&s->ckpt_mu);
	s->ckpt_writing = false;
	if (rc != 0)
		s->ckpt_dirty = true;
	w->ckpt_behind = rc != 0;
	pthread_cond_broadcast(&s->ckpt_cv);
	pthread_mutex_unlock(&s->ckpt_mu);
}

/* slc_file_ckpt_put of what the worker's state says is durable right after a sync. */
void
slc_file_ckpt_note(struct slc_sink_file_worker *w, bool force)
{
	struct slc_sink_file_pos pos = {.valid = false};

	if (w->fd >= 0 && w->written > 0)
		pos = (struct slc_sink_file_pos){
		        .valid = true, .seq = w->seq, .offset = w->written};
	else if (w->fd < 0 && w->ended_valid && !w->ended_unsynced)
		pos = (struct slc_sink_file_pos){
		        .valid = true, .seq = w->ended_seq, .offset = w->ended_size};
	slc_file_ckpt_put(w, pos, force);
}
