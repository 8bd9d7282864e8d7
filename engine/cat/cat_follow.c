/* SPDX-License-Identifier: MIT */
/* cat_follow.c: sluice-cat --follow: prints records as the file sink appends them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cat.h"
#include "crc32c.h"

/*
 * Each worker's segments are followed one after the other: its current segment is read
 * from the offset of the next record not yet printed, as far as the file has bytes. A
 * record is printed once all of its bytes are in the file and its CRC is good; a record
 * cut short, or one that does not check while the segment may still grow, is waited for:
 * a writer appends with write(2), and a reader may see the file grow in the middle of a
 * record. The segment has ended when its trailer is read, when its last 32 bytes are a
 * valid trailer (a bad record before it is then damage, not a write in progress), or when
 * a newer segment of the worker exists and it has not grown for QUIET_MS (the writer moved
 * on without ending it: a crash or a write error). Then whatever was not printed is read
 * with the file sink's reader, as sluice-cat without --follow reads it, which prints the
 * records after damage and reports the damage or the torn tail.
 *
 * inotify says when the directory changed; without it (or when its events were lost) the
 * directory is looked at every POLL_MS anyway.
 *
 * SIGINT and SIGTERM are blocked and read from a signalfd, looked at once a pass and waited
 * on with the directory: no handler, so no signal lost between a flag's test and the wait
 * (ThreadSanitizer's runtime, which defers handlers to its own safe points, lost one that
 * way in a test). A stop while stdout is full waits for its reader.
 */

#define POLL_MS     200
#define QUIET_MS    2000
#define CHUNK_BYTES (256u * 1024)

struct follow_worker {
	bool started;
	bool ended;    /* the current segment is done; waiting for a newer one */
	bool stuck;    /* bytes at off that are no record (yet) */
	bool header;   /* the segment header at offset 0 was checked */
	uint64_t seq;  /* the current segment */
	int fd;        /* -1: not open */
	uint64_t off;  /* the next byte to read */
	uint64_t size; /* the file's size when last looked at */
	int64_t grew_ms;
};

struct follow {
	const char *dir;
	enum slc_cat_out mode;
	const struct slc_sink_file_pos *from;
	struct follow_worker w[SLC_SINK_FILE_WORKERS_MAX];
	struct slc_cat_totals t;
	uint8_t *buf;
	size_t cap;
	char path[4096 + SLC_SINK_FILE_NAME_MAX];
	bool warned_beyond;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
seg_path(struct follow *f, uint32_t worker, uint64_t seq, struct slc_sink_file_seg *seg)
{
	size_t n = strlen(f->dir);

	seg->worker = worker;
	seg->seq = seq;
	snprintf(seg->name, sizeof(seg->name), "w%03u-%08llu.seg", worker, (unsigned long long)seq);
	snprintf(f->path, sizeof(f->path), "%s%s%s", f->dir,
	         n > 0 && f->dir[n - 1] == '/' ? "" : "/", seg->name);
	return f->path;
}

static int
grow(struct follow *f, size_t need)
{
	uint8_t *p;

	if (need <= f->cap)
		return 0;
	p = realloc(f->buf, need);
	if (p == NULL)
		return -ENOMEM;
	f->buf = p;
	f->cap = need;
	return 0;
}

/* The segment header at offset 0: whole, of this worker and seq, its CRC good. */
static bool
header_ok(const uint8_t *h, uint32_t worker, uint64_t seq)
{
	return slc_seg_hdr_foreign(h) == NULL && slc_crc32c(0, h, 28) == slc_seg_get_le32(h + 28) &&
	       slc_seg_get_le32(h + 12) == worker && slc_seg_get_le64(h + 16) == seq;
}

/*
 * The record at p (avail bytes of the file from there): 0 and *len when it is whole and
 * good, 1 when more bytes are needed (*len: how many in all, 0 when unknown yet), -1 when
 * its bytes are there and are no record.
 */
static int
record_at(const uint8_t *p, uint64_t avail, uint64_t *len)
{
	uint32_t plen, klen, flags;

	*len = 0;
	if (avail < SLC_SINK_FILE_REC_HDR_SIZE)
		return 1;
	if (slc_seg_get_le32(p) != SLC_SINK_FILE_REC_MAGIC)
		return -1;
	plen = slc_seg_get_le32(p + 4);
	klen = slc_seg_get_le16(p + 8);
	flags = slc_seg_get_le16(p + 10);
	if ((flags & ~SLC_SINK_FILE_REC_F_END) != 0)
		return -1;
	*len = (uint64_t)SLC_SINK_FILE_REC_HDR_SIZE + klen + plen;
	if (*len > avail)
		return 1;
	if (slc_crc32c(slc_crc32c(0, p + 4, 8), p + SLC_SINK_FILE_REC_HDR_SIZE,
	               *len - SLC_SINK_FILE_REC_HDR_SIZE) != slc_seg_get_le32(p + 12))
		return -1;
	return 0;
}

/* Prints the whole records of w's segment from w->off on; true when it printed or ended. */
static bool
read_on(struct follow *f, uint32_t worker, struct follow_worker *w)
{
	bool progress = false;

	while (!w->ended && !w->stuck && w->off < w->size) {
		uint64_t want = w->size - w->off, p = 0, len;
		ssize_t n;

		if (want > f->cap)
			want = f->cap;
		n = pread(w->fd, f->buf, want, (off_t)w->off);
		if (n <= 0) {
			if (n < 0)
				fprintf(stderr, "%s/w%03u-%08llu.seg: %s\n", f->dir, worker,
				        (unsigned long long)w->seq, strerror(errno));
			w->stuck = n < 0;
			return progress; /* shorter than fstat said: looked at again */
		}
		if (!w->header) {
			if ((size_t)n < SLC_SINK_FILE_SEG_HDR_SIZE)
				return progress;
			w->stuck = !header_ok(f->buf, worker, w->seq);
			if (w->stuck)
				return progress;
			w->header = true;
			p = SLC_SINK_FILE_SEG_HDR_SIZE;
		}
		for (;;) {
			const uint8_t *r = f->buf + p;
			int rc = record_at(r, (uint64_t)n - p, &len);

			if (rc == 1) {
				/* Not all of it in this read: read from it again, with room for
				 * it, if the file has it; else wait for the writer. */
				if (len > w->size - w->off - p || (p == 0 && len <= f->cap) ||
				    (len > f->cap && grow(f, len) != 0)) {
					w->off += p;
					return progress;
				}
				break;
			}
			if (rc < 0) {
				w->stuck = true;
				break;
			}
			if ((slc_seg_get_le16(r + 10) & SLC_SINK_FILE_REC_F_END) != 0) {
				w->ended = slc_seg_trailer_valid(r, w->off + p);
				w->stuck = !w->ended;
				if (w->ended) {
					f->t.closed++;
					p += len;
				}
				break;
			}
			slc_cat_print(f->mode, worker, w->seq, w->off + p,
			              r + SLC_SINK_FILE_REC_HDR_SIZE, slc_seg_get_le16(r + 8),
			              r + SLC_SINK_FILE_REC_HDR_SIZE + slc_seg_get_le16(r + 8),
			              slc_seg_get_le32(r + 4));
			f->t.records++;
			progress = true;
			p += len;
		}
		w->off += p;
		progress |= w->ended;
	}
	return progress;
}

/* Whether the file's last bytes are a valid trailer: the writer ended the segment. */
static bool
trailer_at_end(struct follow *f, const struct follow_worker *w)
{
	uint64_t at = w->size - SLC_SINK_FILE_TRAILER_SIZE;

	if (w->size < SLC_SINK_FILE_SEG_HDR_SIZE + SLC_SINK_FILE_TRAILER_SIZE ||
	    grow(f, SLC_SINK_FILE_TRAILER_SIZE) != 0 ||
	    pread(w->fd, f->buf, SLC_SINK_FILE_TRAILER_SIZE, (off_t)at) !=
	            (ssize_t)SLC_SINK_FILE_TRAILER_SIZE)
		return false;
	return slc_seg_trailer_valid(f->buf, at);
}

/* What is left of an ended segment, read as sluice-cat reads a segment: records after
 * damage are printed, the damage or torn tail reported. */
static void
read_rest(struct follow *f, uint32_t worker, struct follow_worker *w)
{
	static struct slc_cat_positions pos;
	struct slc_sink_file_seg seg;
	const char *path = seg_path(f, worker, w->seq, &seg);

	memset(&pos.from[worker], 0, sizeof(pos.from[worker]));
	pos.from[worker] =
	        (struct slc_sink_file_pos){.valid = true, .seq = w->seq, .offset = w->off};
	slc_cat_segment(path, &seg, false, f->mode, &pos, &f->t);
}

static void
close_segment(struct follow_worker *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* Moves w to its segment seq, from offset off. */
static void
start_segment(struct follow_worker *w, uint64_t seq, uint64_t off)
{
	close_segment(w);
	*w = (struct follow_worker){.started = true,
	                            .seq = seq,
	                            .fd = -1,
	                            .off = off,
	                            .header = off > 0,
	                            .grew_ms = now_ms()};
}

/* One look at worker's segments (segs[0 .. n), ascending seq). True when it printed. */
static bool
follow_one(struct follow *f, uint32_t worker, const struct slc_sink_file_seg *segs, size_t n)
{
	struct follow_worker *w = &f->w[worker];
	const struct slc_sink_file_pos *from = f->from != NULL ? &f->from[worker] : NULL;
	bool progress = false;
	size_t i = 0;

	if (!w->started) {
		/* From its consumed position, or its first segment. */
		while (from != NULL && from->valid && i < n && segs[i].seq < from->seq)
			i++;
		if (i == n)
			return false;
		start_segment(w, segs[i].seq,
		              from != NULL && from->valid && segs[i].seq == from->seq ? from->offset
		                                                                      : 0);
	}
	for (;;) {
		struct slc_sink_file_seg seg;
		const struct slc_sink_file_seg *newer = NULL;
		struct stat st;

		for (i = 0; i < n && newer == NULL; i++)
			if (segs[i].seq > w->seq)
				newer = &segs[i];
		if (w->fd < 0 && !w->ended) {
			const char *path = seg_path(f, worker, w->seq, &seg);

			w->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			if (w->fd < 0) {
				int e = errno;

				/* Gone before it was read (retention, by hand): said once the
				 * worker has moved on, and not damage. Another error: said once,
				 * and the segment given up. */
				if (e == ENOENT && newer == NULL)
					return progress;
				fprintf(stderr, "%s: %s%s\n", path, strerror(e),
				        e == ENOENT ? " (deleted before it was read)" : "");
				f->t.unreadable |= e != ENOENT;
				w->ended = true;
				if (newer == NULL)
					return progress;
				start_segment(w, newer->seq, 0);
				continue;
			}
		}
		if (w->fd >= 0 && fstat(w->fd, &st) == 0 && (uint64_t)st.st_size != w->size) {
			w->size = (uint64_t)st.st_size;
			w->grew_ms = now_ms();
		}
		if (w->fd >= 0)
			progress |= read_on(f, worker, w);
		if (!w->ended && w->fd >= 0 &&
		    ((w->stuck && trailer_at_end(f, w)) ||
		     (newer != NULL && now_ms() - w->grew_ms >= QUIET_MS))) {
			read_rest(f, worker, w);
			w->ended = true;
			progress = true;
		}
		if (!w->ended || newer == NULL)
			return progress;
		start_segment(w, newer->seq, 0);
	}
}

static int
exit_status(const struct slc_cat_totals *t)
{
	if (t->damaged != 0 || t->unreadable)
		return SLC_CAT_EXIT_DAMAGE;
	return t->torn != 0 ? SLC_CAT_EXIT_TORN : 0;
}

/* Whether SIGINT or SIGTERM came (sfd: their signalfd, non-blocking). */
static bool
stopped(int sfd)
{
	struct signalfd_siginfo si;

	return read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si);
}

/* Waits for the directory to change (inotify), a stop signal, or POLL_MS. */
static void
wait_change(int ifd, int sfd)
{
	struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = ifd, .events = POLLIN}};
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (poll(p, ifd >= 0 ? 2 : 1, POLL_MS) > 0 && ifd >= 0)
		while (read(ifd, ev, sizeof(ev)) > 0)
			;
}

int
slc_cat_follow(const char *dir, enum slc_cat_out mode, const struct slc_sink_file_pos *from)
{
	static struct follow f;
	sigset_t stop;
	int ifd, sfd, status;

	f.dir = dir;
	f.mode = mode;
	f.from = from;
	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++)
		f.w[i].fd = -1;
	if (strlen(dir) >= 4096 || grow(&f, CHUNK_BYTES) != 0) {
		fprintf(stderr, "sluice-cat: %s: %s\n", dir,
		        strerror(strlen(dir) >= 4096 ? ENAMETOOLONG : ENOMEM));
		return SLC_CAT_EXIT_DAMAGE;
	}
	/* Blocked for good: the process ends after this returns. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sfd = sigprocmask(SIG_BLOCK, &stop, NULL) == 0
	              ? signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC)
	              : -1;
	if (sfd < 0) {
		fprintf(stderr, "sluice-cat: signalfd: %s\n", strerror(errno));
		free(f.buf);
		return SLC_CAT_EXIT_DAMAGE;
	}
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd >= 0 && inotify_add_watch(ifd, dir,
	                                  IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE |
	                                          IN_DELETE) < 0) {
		close(ifd);
		ifd = -1;
	}
	while (!stopped(sfd)) {
		struct slc_sink_file_seg *segs;
		bool progress = false;
		size_t n;
		int rc = slc_sink_file_dir_scan(dir, &segs, &n);

		if (rc != 0) {
			fprintf(stderr, "sluice-cat: %s: %s\n", dir, strerror(-rc));
			f.t.unreadable = true;
			break;
		}
		for (size_t i = 0, j; i < n; i = j) {
			for (j = i; j < n && segs[j].worker == segs[i].worker; j++)
				;
			if (segs[i].worker >= SLC_SINK_FILE_WORKERS_MAX) {
				if (!f.warned_beyond)
					fprintf(stderr,
					        "sluice-cat: %s: workers >= %u are not followed\n",
					        dir, SLC_SINK_FILE_WORKERS_MAX);
				f.warned_beyond = true;
				continue;
			}
			progress |= follow_one(&f, segs[i].worker, segs + i, j - i);
		}
		free(segs);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "sluice-cat: writing to stdout: %s\n", strerror(errno));
			f.t.unreadable = true;
			break;
		}
		if (!progress)
			wait_change(ifd, sfd);
	}
	close(sfd);
	if (ifd >= 0)
		close(ifd);
	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++)
		close_segment(&f.w[i]);
	free(f.buf);
	status = exit_status(&f.t);
	return status;
}
