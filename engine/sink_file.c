/* SPDX-License-Identifier: MIT */
/* sink_file.c: the file sink (per-worker segments of checksummed records) and their reader. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "crc32c.h"
#include "ring.h" /* SLC_ASSERT, SLC_CACHE_LINE */
#include "sink_file.h"
#include "sink_file_io.h"
#include "metrics.h"
#include "sinks/common.h"
#include "sinks/file/spec.h"

#define HDR_SIZE     SLC_SINK_FILE_SEG_HDR_SIZE
#define REC_SIZE     SLC_SINK_FILE_REC_HDR_SIZE
#define TRAILER_SIZE SLC_SINK_FILE_TRAILER_SIZE

/*
 * A worker's write buffer: record headers, keys and small payloads are copied into it and
 * a write() call goes out in one writev. Payloads above COPY_MAX are not copied: the
 * writev points at them where they lie (they stay valid until write() returns).
 */
#define WBUF_SIZE (256u << 10)
#define COPY_MAX  (8u << 10)
#define IOV_CAP   64 /* well under IOV_MAX (1024) */

static_assert(WBUF_SIZE >= HDR_SIZE + REC_SIZE + SLC_SINK_FILE_KEY_MAX + COPY_MAX,
              "a segment header and one record's copied bytes fit an empty buffer");

#define REFUSED_CAP_INIT 256 /* a worker's largest batch (pool.c's burst) */
#define CREATE_TRIES     64  /* names taken by someone else before we give up (-EEXIST) */
#define LOCK_NAME        "sluice.lock"
#define LOG_PER_SEC      5
#define RD_CHUNK         (256u << 10) /* the reader's least pread */

/* Levels of cfg->log (cfg.h's: 0 error .. 3 debug). */
#define LVL_ERROR 0
#define LVL_WARN  1

/* Checkpoint files (sink_file.h): the first line, and the room for the longest one: the
 * first line, a line per worker ("consumed" 3 + 20 + 20 digits, 4 separators: 55 bytes)
 * and the crc line. */
#define CKPT_LINE1         "sluice-checkpoint 1\n"
#define CKPT_BUF_SIZE      (sizeof(CKPT_LINE1) + SLC_SINK_FILE_WORKERS_MAX * 56u + 16u)
#define CKPT_READ_MAX      (64u << 10)
#define CKPT_INTERVAL_NS   ((uint64_t)SLC_SINK_FILE_CKPT_INTERVAL_MS * 1000000u)
#define CONSUMED_LOCK_NAME "consumed.lock"

/*
 * Background syncs (interval mode): a segment's fdatasync, and DIR's fsync after it when a
 * segment was created since, go to the kernel's io_uring workers, so that the worker goes
 * on writing while the disk catches up. Waiting instead stalls everything behind the
 * worker: a second of data took 0.3 s to sync here, and meanwhile the worker's ring
 * filled and the reactor paused the senders. A job owns its descriptors (a dup of the open
 * segment's, or an ended segment's own, and a dup of DIR's), so that rotation and reopen
 * need not wait for it. Jobs retire in the order they were submitted: a job's position
 * reaches the checkpoint only after every older one was done, so the checkpoint never
 * says a segment is durable while an older segment's sync is still under way.
 */
#define BG_JOBS        4 /* in flight per worker; one more waits for the oldest */
#define BG_DIR_BIT     (1ull << 32)
#define BG_TRAILER_BIT (1ull << 33)
#define BG_SQES        4 /* a job's most: fdatasync, trailer, fdatasync, DIR */

struct bg_job {
	int fd;               /* the segment's; closed when the job retires */
	int dir_fd;           /* DIR's, or -1: fsynced after the data, linked */
	bool ended;           /* fd is an ended segment's own descriptor */
	bool trailer;         /* ended: the job writes the trailer after the data's sync */
	uint8_t cqes;         /* completions still to come */
	int err;              /* the fdatasyncs' or the trailer write's failure, -errno */
	int dir_err;          /* the fsync of DIR's */
	uint64_t seq, offset; /* durable once the job succeeded (the trailer's end) */
	/* Submitted after a write that followed the worker's last failure (h_epoch then):
	 * its success shows that the disk takes data again (health_synced). */
	bool proves;
	uint64_t h_epoch;
	uint8_t trailer_buf[TRAILER_SIZE]; /* at offset - TRAILER_SIZE */
};

/* What failed, for /healthz (file_status); the words follow "DIR: ". */
enum fail_op {
	FAIL_WRITE,     /* a segment's writev */
	FAIL_FDATASYNC, /* a segment's fdatasync */
	FAIL_CREATE,    /* creating a segment (or opening DIR for it) */
	FAIL_DIR_FSYNC, /* the fsync of DIR that makes new names durable */
	FAIL_SYNCFS,    /* syncfs of DIR's file system */
	FAIL_CLOSE,     /* close of an ended segment (write-back errors, on NFS) */
};

static const char *const fail_op_text[] = {
        [FAIL_WRITE] = "writing a segment failed",
        [FAIL_FDATASYNC] = "fdatasync of a segment failed",
        [FAIL_CREATE] = "cannot create a segment",
        [FAIL_DIR_FSYNC] = "fsync of the directory failed",
        [FAIL_SYNCFS] = "syncfs failed",
        [FAIL_CLOSE] = "closing a segment failed",
};

/* One worker's counters, on cache lines of their own: the worker adds, any thread reads. */
struct wstats {
	alignas(SLC_CACHE_LINE) _Atomic uint64_t records;
	_Atomic uint64_t bytes;
	_Atomic uint64_t file_bytes;
	_Atomic uint64_t segments;
	_Atomic uint64_t rotations;
	_Atomic uint64_t reopens;
	_Atomic uint64_t fsyncs;
	_Atomic uint64_t write_errors;
	_Atomic uint64_t refused_key; /* records refused: key over SLC_SINK_FILE_KEY_MAX */
	_Atomic uint64_t delivered;   /* messages of write() calls that returned 0, less refused */
	/*
	 * Health (file_status): failing from a failed write or sync on (health_fail) until a
	 * write and then a sync succeed (health_wrote, health_synced); since is when it began,
	 * err and op say the latest failure. The worker writes, any thread reads: a reader
	 * may see err and op a failure apart, which changes a reason's wording at worst.
	 */
	_Atomic bool failing;
	_Atomic uint64_t failing_since_ns;
	_Atomic int fail_err; /* errno, positive */
	_Atomic int fail_op;  /* enum fail_op */
};

static_assert(sizeof(struct wstats) % SLC_CACHE_LINE == 0, "no line shared by two workers");

/*
 * The durable checkpoint is the one thing workers share: each worker notes its position
 * after a sync, at most every CKPT_INTERVAL_NS (so the mutex is off the per-batch path),
 * and one of them at a time writes the file, outside the mutex: `writing` says who, and
 * ckpt_buf is that worker's alone while it is set.
 */
struct slc_sink_file {
	struct slc_sink_file_cfg cfg;      /* defaults filled in; cfg.dir points at dir */
	const struct slc_sink_file_io *io; /* cfg.io, or the system calls */
	char *dir;
	int lock_fd;       /* holds the flock on DIR/sluice.lock */
	struct wstats *st; /* [SLC_SINK_FILE_WORKERS_MAX] */
	_Atomic bool claimed[SLC_SINK_FILE_WORKERS_MAX];

	pthread_mutex_t ckpt_mu;
	pthread_cond_t ckpt_cv; /* signalled when writing goes false */
	struct slc_sink_file_pos ckpt[SLC_SINK_FILE_WORKERS_MAX]; /* under ckpt_mu */
	bool ckpt_dirty;          /* ckpt differs from the file; under ckpt_mu */
	bool ckpt_writing;        /* under ckpt_mu */
	uint64_t ckpt_written_ns; /* CLOCK_MONOTONIC of the last write; under ckpt_mu */
	char *ckpt_buf;           /* CKPT_BUF_SIZE */
	_Atomic uint64_t checkpoints;
	_Atomic uint64_t checkpoint_errors;

	/* What create's recovery did; written before create returns, read-only after. */
	uint64_t recovered_segments;
	uint64_t recovered_bytes_cut;
	uint64_t recovered_records_dropped;
	uint64_t recovered_lost_durable;
	uint64_t recovered_foreign;
};

/*
 * A worker's state: what sink.h calls struct slc_sink_worker (each sink has its own, so
 * the ops cast). The segment's bytes are [0, written) in the file and [written, size)
 * pending in iov.
 */
struct slc_sink_file_worker {
	struct slc_sink_file *sink;
	const struct slc_sink_file_io *io; /* the sink's */
	struct wstats *st;
	uint32_t worker;
	int fd;             /* the open segment; -1: none, the next record creates one */
	int dir_fd;         /* DIR as it was at the first create after (re)open; -1: none */
	uint64_t seq;       /* of the open segment */
	uint64_t seq_next;  /* for the next segment */
	uint64_t size;      /* of the open segment, pending bytes included */
	uint64_t written;   /* of the open segment, the end of its last whole writev */
	uint64_t records;   /* in the open segment, for its trailer */
	bool unsynced;      /* written since the last fdatasync */
	bool dir_unsynced;  /* a segment was created in dir_fd since it was last synced */
	bool wrote;         /* anything, since worker_open */
	uint64_t synced_ns; /* CLOCK_MONOTONIC of the last sync */
	/* Segments ended without a sync since the last one (never mode's seg_end, a write
	 * error's seg_abandon): sync() then needs a syncfs, an fdatasync cannot reach them. */
	bool ended_unsynced;
	/* The last ended segment and its size, for the checkpoint once the segment is
	 * durable; false after seg_abandon (its end is not a promise). */
	bool ended_valid;
	uint64_t ended_seq;
	uint64_t ended_size;
	int sync_lost; /* an fdatasync failed since the last sync(): its -errno */
	/* Health: what must succeed before st->failing clears (health_fail); h_epoch counts
	 * failures, so that a background sync submitted before one proves nothing after it. */
	bool h_need_write;
	bool h_need_sync;
	uint64_t h_epoch;
	uint64_t ckpt_noted_ns; /* CLOCK_MONOTONIC of the last ckpt_put that took the mutex */
	/* The newest durable position this worker knows of; behind: it may not be in the
	 * checkpoint file yet (ckpt_put was rate-limited), so flush() tries again. */
	struct slc_sink_file_pos ckpt_want;
	bool ckpt_behind;
	struct iovec iov[IOV_CAP];
	int niov;
	bool last_in_buf; /* iov[niov - 1] ends at buf + buf_used */
	size_t buf_used;
	uint64_t pend_records; /* pending records and their key + payload bytes */
	uint64_t pend_bytes;
	struct slc_sink_loglimit log_limit;
	/* The records the last write() refused one by one (sink.h's refused): their indexes
	 * in its msgs. Room for a whole worker batch from the start; more only if a write()
	 * of more messages refuses more. */
	uint32_t *refused_idx;
	uint32_t refused_n, refused_cap;
	char *path; /* DIR/name of the open (or last) segment, for log lines */
	size_t path_cap;
	size_t name_off; /* where the name starts in path */
	uint8_t *buf;    /* WBUF_SIZE */
	/* Background syncs: bg says bg_ring is set up. Jobs [bg_head, bg_tail) are in
	 * flight, indexes free-running (mod BG_JOBS). A failed job makes every later job of
	 * the same segment fail too (bg_bad_seq): after an fdatasync error on a file, the
	 * next one succeeds without the lost pages being written. */
	bool bg;
	bool bg_bad;
	uint64_t bg_bad_seq;
	uint32_t bg_head, bg_tail;
	struct bg_job bg_jobs[BG_JOBS];
	struct io_uring bg_ring;
};

/* ---- little helpers ---- */

static inline void
put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t
get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t
get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* The 32-byte segment header of worker's segment seq. */
static void
seg_hdr_put(uint8_t *h, uint32_t worker, uint64_t seq)
{
	memcpy(h, SLC_SINK_FILE_SEG_MAGIC, 8);
	put_le16(h + 8, SLC_SINK_FILE_SEG_VERSION);
	put_le16(h + 10, HDR_SIZE);
	put_le32(h + 12, worker);
	put_le64(h + 16, seq);
	put_le32(h + 24, 0);
	put_le32(h + 28, slc_crc32c(0, h, 28));
}

/* The trailer of a segment with `records` records, the trailer itself at offset `at`. */
static void
trailer_put(uint8_t *h, uint64_t records, uint64_t at)
{
	put_le32(h, SLC_SINK_FILE_REC_MAGIC);
	put_le32(h + 4, 16);
	put_le16(h + 8, 0);
	put_le16(h + 10, SLC_SINK_FILE_REC_F_END);
	put_le64(h + 16, records);
	put_le64(h + 24, at);
	put_le32(h + 12, slc_crc32c(slc_crc32c(0, h + 4, 8), h + 16, 16));
}

/* True when h (TRAILER_SIZE bytes, at offset `at` of its file) is a valid trailer that
 * says it is at `at`. */
static bool
trailer_valid(const uint8_t *h, uint64_t at)
{
	return get_le32(h) == SLC_SINK_FILE_REC_MAGIC && get_le32(h + 4) == 16 &&
	       get_le16(h + 8) == 0 && get_le16(h + 10) == SLC_SINK_FILE_REC_F_END &&
	       get_le32(h + 12) == slc_crc32c(slc_crc32c(0, h + 4, 8), h + 16, 16) &&
	       get_le64(h + 24) == at;
}

/* pwrite of all len bytes: 0 or -errno. */
static int
pwrite_all(const struct slc_sink_file_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = io->pwrite(io->ctx, fd, p, len, off);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			return (int)n;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* pread of all len bytes: 0, -errno, or -EIO when the file ends first. */
static int
pread_all(const struct slc_sink_file_io *io, int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = io->pread(io->ctx, fd, p, len, off);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			return (int)n;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* What a file that is not a regular file is, for log lines. */
static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "not a regular file (a directory)";
	if (S_ISFIFO(mode))
		return "not a regular file (a FIFO)";
	if (S_ISSOCK(mode))
		return "not a regular file (a socket)";
	if (S_ISCHR(mode))
		return "not a regular file (a character device)";
	if (S_ISBLK(mode))
		return "not a regular file (a block device)";
	return "not a regular file";
}

/*
 * Opens path for reading only if it is a regular file: a fd, or -errno of stat/open, or
 * -EISDIR (a directory) or -EINVAL (a FIFO, socket or device; *kind says which, when not
 * NULL). A FIFO named like one of our files would block a plain open() until some writer
 * came (start-up and sluice-cat hung on one), and opening a device can have effects of its
 * own: stat first, and O_NONBLOCK in case the name changed in between (fstat then says so).
 */
static int
open_regular(const struct slc_sink_file_io *io, const char *path, const char **kind)
{
	struct stat sb;
	int fd, rc;

	if (kind != NULL)
		*kind = NULL;
	rc = io->stat(io->ctx, path, &sb);
	if (rc != 0)
		return rc;
	if (S_ISREG(sb.st_mode)) {
		/* Regular files ignore O_NONBLOCK (the descriptor reads as any other). */
		fd = io->openat(io->ctx, AT_FDCWD, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
		if (fd < 0)
			return fd;
		rc = io->fstat(io->ctx, fd, &sb);
		if (rc != 0) {
			io->close(io->ctx, fd);
			return rc;
		}
		if (S_ISREG(sb.st_mode))
			return fd;
		io->close(io->ctx, fd);
	}
	if (kind != NULL)
		*kind = file_kind(sb.st_mode);
	return S_ISDIR(sb.st_mode) ? -EISDIR : -EINVAL;
}

static void wlog(struct slc_sink_file_worker *w, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* At most LOG_PER_SEC lines a second per worker; the next line says how many were not
 * written. A full disk fails every batch, and the log must not fill what is left. */
static void
wlog(struct slc_sink_file_worker *w, const char *fmt, ...)
{
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;
	char prefix[48];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "file sink worker %u: ", w->worker);
	va_start(ap, fmt);
	slc_sink_log_limited(&w->log_limit, LOG_PER_SEC, cfg->log, cfg->log_ctx, LVL_ERROR, prefix,
	                     fmt, ap);
	va_end(ap);
}

static void sink_log(const struct slc_sink_file *s, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* A line about DIR as a whole (recovery, the checkpoint); not rate-limited: create logs
 * one line per recovered segment, and the checkpoint's own limit keeps the rest rare. */
static void
sink_log(const struct slc_sink_file *s, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	slc_sink_logv(s->cfg.log, s->cfg.log_ctx, level, "file sink: ", fmt, ap);
	va_end(ap);
}

/* ---- names ---- */

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
	uint32_t worker; /* dir_max_seq's */
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

/* The highest seq of worker's segments in dir: 0 and *found; a missing dir has none (a
 * segment create makes it again). */
static int
dir_max_seq(const struct slc_sink_file_io *io, const char *dir, uint32_t worker, bool *found,
            uint64_t *max)
{
	struct scan sc = {.worker = worker};
	int rc = io->list(io->ctx, dir, scan_max, &sc);

	*found = sc.found;
	*max = sc.max;
	return rc == -ENOENT ? 0 : rc;
}

/* ---- fsync mode names ---- */

int
slc_sink_file_fsync_parse(const char *s, enum slc_sink_file_fsync *out)
{
	static const enum slc_sink_file_fsync modes[] = {
	        SLC_SINK_FILE_FSYNC_NEVER,
	        SLC_SINK_FILE_FSYNC_INTERVAL,
	        SLC_SINK_FILE_FSYNC_BATCH,
	};

	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, slc_sink_file_fsync_name(modes[i])) == 0) {
			*out = modes[i];
			return 0;
		}
	}
	return -EINVAL;
}

const char *
slc_sink_file_fsync_name(enum slc_sink_file_fsync mode)
{
	switch (mode) {
	case SLC_SINK_FILE_FSYNC_NEVER:
		return "never";
	case SLC_SINK_FILE_FSYNC_INTERVAL:
		return "interval";
	case SLC_SINK_FILE_FSYNC_BATCH:
		return "batch";
	}
	return "unknown";
}

/* ---- checkpoint files ---- */

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
static size_t
ckpt_format(char *buf, enum slc_sink_file_ckpt_kind kind, const struct slc_sink_file_pos *pos)
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
	fd = open_regular(io, path, NULL);
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
	rc = pwrite_all(io, fd, buf, len, 0);
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
	                  ckpt_format(buf, SLC_SINK_FILE_CKPT_CONSUMED, pos));
out_unlock:
	io->close(io->ctx, lock_fd); /* and with it the flock */
out_free:
	free(buf);
	free(pos);
	return rc;
}

/* Writes the sink's durable checkpoint, formatted in s->ckpt_buf; counts and logs. The
 * caller owns ckpt_buf (ckpt_writing, or no worker can run: create, destroy). */
static int
ckpt_store(struct slc_sink_file *s, size_t len)
{
	int rc = file_replace(s->io, s->dir, SLC_SINK_FILE_CKPT_NAME, s->ckpt_buf, len);

	if (rc == 0) {
		slc_sink_stat_add(&s->checkpoints, 1);
	} else {
		slc_sink_stat_add(&s->checkpoint_errors, 1);
		sink_log(s, LVL_ERROR, "%s/%s: cannot write it: %s; the old one stays", s->dir,
		         SLC_SINK_FILE_CKPT_NAME, strerror(-rc));
	}
	return rc;
}

/* ---- recovery ---- */

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
	fd = open_regular(io, path, &c->foreign);
	if (fd == -EISDIR || fd == -EINVAL)
		return 0; /* c->foreign says what it is instead */
	if (fd < 0)
		return fd;
	rc = io->fstat(io->ctx, fd, &sb);
	if (rc != 0)
		goto out;
	c->size = (uint64_t)sb.st_size;
	if (c->size >= HDR_SIZE) {
		rc = pread_all(io, fd, h, HDR_SIZE, 0);
		if (rc != 0)
			goto out;
		if (memcmp(h, zeros, HDR_SIZE) == 0)
			;
		else if (memcmp(h, SLC_SINK_FILE_SEG_MAGIC, 8) != 0)
			c->foreign = "not a segment (bad magic)";
		else if (get_le16(h + 8) != SLC_SINK_FILE_SEG_VERSION)
			c->foreign = "unsupported segment version";
		else if (get_le16(h + 10) != HDR_SIZE)
			c->foreign = "bad segment header length";
	}
	if (c->foreign == NULL && c->size >= HDR_SIZE + TRAILER_SIZE) {
		rc = pread_all(io, fd, t, TRAILER_SIZE, c->size - TRAILER_SIZE);
		if (rc != 0)
			goto out;
		c->closed = trailer_valid(t, c->size - TRAILER_SIZE);
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
		seg_hdr_put(h, seg->worker, seg->seq);
		rc = pwrite_all(io, fd, h, HDR_SIZE, 0);
		if (rc != 0)
			goto out;
		at = HDR_SIZE;
		records = 0;
	}
	trailer_put(t, records, at);
	rc = pwrite_all(io, fd, t, TRAILER_SIZE, at);
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
	sink_log(s, LVL_ERROR,
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
		sink_log(s, LVL_ERROR, "%s: %s; not recovered, left as it is", path, c.foreign);
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
		sink_log(s, LVL_ERROR, "%s: cannot read it: %s; not recovered", path,
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
			sink_log(s, LVL_ERROR, "%s: cannot recover it: %s; left as it is", path,
			         strerror(-rc));
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
			sink_log(s, c.dropped != 0 ? LVL_ERROR : LVL_WARN,
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

/* Recovery at create, before any worker opens (sink_file.h). 0, or the error of listing
 * DIR or -ENOMEM; what goes wrong with one segment is logged and skipped. */
static int
dir_recover(struct slc_sink_file *s)
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
		sink_log(s, LVL_ERROR,
		         "%s/%s: cannot read it: %s; durable data is not checked this time", s->dir,
		         SLC_SINK_FILE_CKPT_NAME,
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
		sink_log(s, LVL_WARN,
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
		if (ckpt_store(s, ckpt_format(s->ckpt_buf, SLC_SINK_FILE_CKPT_DURABLE, s->ckpt)) ==
		    0)
			s->ckpt_dirty = false;
		s->ckpt_written_ns = s->io->now_ns(s->io->ctx);
	}
	return 0;
}

/* ---- the sink ---- */

void *
slc_sink_file_create(const struct slc_sink_file_cfg *cfg, int *err)
{
	struct slc_sink_file *s;
	struct stat sb;
	char *lock_path;
	size_t dir_len;
	int rc;

	if (cfg == NULL || cfg->dir == NULL || cfg->dir[0] == '\0' ||
	    (cfg->segment_bytes != 0 && cfg->segment_bytes < SLC_SINK_FILE_SEGMENT_BYTES_MIN) ||
	    (cfg->fsync != SLC_SINK_FILE_FSYNC_NEVER &&
	     cfg->fsync != SLC_SINK_FILE_FSYNC_INTERVAL &&
	     cfg->fsync != SLC_SINK_FILE_FSYNC_BATCH)) {
		rc = -EINVAL;
		goto err_out;
	}
	dir_len = strlen(cfg->dir);
	if (dir_len + 1 + SLC_SINK_FILE_NAME_MAX > PATH_MAX) {
		rc = -ENAMETOOLONG;
		goto err_out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	s->cfg = *cfg;
	if (s->cfg.segment_bytes == 0)
		s->cfg.segment_bytes = SLC_SINK_FILE_SEGMENT_BYTES_DEFAULT;
	if (s->cfg.fsync_interval_ms == 0)
		s->cfg.fsync_interval_ms = SLC_SINK_FILE_FSYNC_INTERVAL_MS_DEFAULT;
	if (s->cfg.log == NULL)
		s->cfg.log = slc_sink_default_log;
	s->io = cfg->io != NULL ? cfg->io : &slc_sink_file_io_sys;
	s->dir = strdup(cfg->dir);
	if (s->dir == NULL) {
		rc = -ENOMEM;
		goto err_free_sink;
	}
	s->cfg.dir = s->dir;
	/* Counters start at zero; memset is how a zero _Atomic uint64_t looks on every ABI
	 * we build for (lock-free, no hidden lock word). */
	s->st = aligned_alloc(SLC_CACHE_LINE, SLC_SINK_FILE_WORKERS_MAX * sizeof(*s->st));
	if (s->st == NULL) {
		rc = -ENOMEM;
		goto err_free_dir;
	}
	memset(s->st, 0, SLC_SINK_FILE_WORKERS_MAX * sizeof(*s->st));
	s->ckpt_buf = malloc(CKPT_BUF_SIZE);
	if (s->ckpt_buf == NULL) {
		rc = -ENOMEM;
		goto err_free_stats;
	}
	rc = -pthread_mutex_init(&s->ckpt_mu, NULL);
	if (rc != 0)
		goto err_free_ckpt_buf;
	rc = -pthread_cond_init(&s->ckpt_cv, NULL);
	if (rc != 0)
		goto err_destroy_mutex;

	rc = s->io->mkdir(s->io->ctx, s->dir, 0755);
	if (rc != 0 && rc != -EEXIST)
		goto err_destroy_cond;
	rc = s->io->stat(s->io->ctx, s->dir, &sb);
	if (rc != 0)
		goto err_destroy_cond;
	if (!S_ISDIR(sb.st_mode)) {
		rc = -ENOTDIR;
		goto err_destroy_cond;
	}
	lock_path = malloc(dir_len + sizeof("/" LOCK_NAME));
	if (lock_path == NULL) {
		rc = -ENOMEM;
		goto err_destroy_cond;
	}
	snprintf(lock_path, dir_len + sizeof("/" LOCK_NAME), "%s/%s", s->dir, LOCK_NAME);
	s->lock_fd =
	        s->io->openat(s->io->ctx, AT_FDCWD, lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(lock_path);
	if (s->lock_fd < 0) {
		rc = s->lock_fd;
		goto err_destroy_cond;
	}
	/* Two daemons in one directory would each be sure that they own the next seq. */
	rc = s->io->lock(s->io->ctx, s->lock_fd, false);
	if (rc != 0) {
		rc = rc == -EWOULDBLOCK ? -EBUSY : rc;
		goto err_close_lock;
	}
	/* The lock file may be left from a run when DIR was still writable. */
	rc = s->io->access(s->io->ctx, s->dir);
	if (rc != 0)
		goto err_close_lock;
	/* Under the lock, before any worker: nobody else writes these segments now. */
	rc = dir_recover(s);
	if (rc != 0)
		goto err_close_lock;
	return s;

err_close_lock:
	s->io->close(s->io->ctx, s->lock_fd);
err_destroy_cond:
	pthread_cond_destroy(&s->ckpt_cv);
err_destroy_mutex:
	pthread_mutex_destroy(&s->ckpt_mu);
err_free_ckpt_buf:
	free(s->ckpt_buf);
err_free_stats:
	free(s->st);
err_free_dir:
	free(s->dir);
err_free_sink:
	free(s);
err_out:
	*err = rc;
	return NULL;
}

static void
file_destroy(void *sink)
{
	struct slc_sink_file *s = sink;

	if (s == NULL)
		return;
	/* Every worker is closed: a position noted since the last write is written now. */
	if (s->ckpt_dirty)
		(void)ckpt_store(s, ckpt_format(s->ckpt_buf, SLC_SINK_FILE_CKPT_DURABLE, s->ckpt));
	s->io->close(s->io->ctx, s->lock_fd); /* and with it the flock */
	pthread_cond_destroy(&s->ckpt_cv);
	pthread_mutex_destroy(&s->ckpt_mu);
	free(s->ckpt_buf);
	free(s->st);
	free(s->dir);
	free(s);
}

void
slc_sink_file_stats(void *sink, struct slc_sink_file_stats *out)
{
	struct slc_sink_file *s = sink;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++) {
		struct wstats *st = &s->st[i];

		out->records += atomic_load_explicit(&st->records, memory_order_relaxed);
		out->bytes += atomic_load_explicit(&st->bytes, memory_order_relaxed);
		out->file_bytes += atomic_load_explicit(&st->file_bytes, memory_order_relaxed);
		out->segments += atomic_load_explicit(&st->segments, memory_order_relaxed);
		out->rotations += atomic_load_explicit(&st->rotations, memory_order_relaxed);
		out->reopens += atomic_load_explicit(&st->reopens, memory_order_relaxed);
		out->fsyncs += atomic_load_explicit(&st->fsyncs, memory_order_relaxed);
		out->write_errors += atomic_load_explicit(&st->write_errors, memory_order_relaxed);
		out->refused_key_too_long +=
		        atomic_load_explicit(&st->refused_key, memory_order_relaxed);
		out->delivered += atomic_load_explicit(&st->delivered, memory_order_relaxed);
	}
	out->recovered_segments = s->recovered_segments;
	out->recovered_bytes_cut = s->recovered_bytes_cut;
	out->recovered_records_dropped = s->recovered_records_dropped;
	out->recovered_lost_durable = s->recovered_lost_durable;
	out->recovered_foreign = s->recovered_foreign;
	out->checkpoints = atomic_load_explicit(&s->checkpoints, memory_order_relaxed);
	out->checkpoint_errors = atomic_load_explicit(&s->checkpoint_errors, memory_order_relaxed);
}

/* ---- a worker's segments ---- */

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

/* Bytes the caller keeps valid until the next pend_flush become pending, uncopied. */
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
 * A create, write or sync failed (rc, -errno): counted, and the worker is unhealthy
 * (file_status) until a write succeeds and then, but in never mode after a failed write,
 * a sync: proof that the disk takes data again, which nothing less gives (an fsync with
 * nothing to write succeeds on a full disk).
 */
static void
health_fail(struct slc_sink_file_worker *w, int rc, enum fail_op op)
{
	struct wstats *st = w->st;

	slc_sink_stat_add(&st->write_errors, 1);
	atomic_store_explicit(&st->fail_err, -rc, memory_order_relaxed);
	atomic_store_explicit(&st->fail_op, (int)op, memory_order_relaxed);
	/* Only this worker writes failing: its own last store, read relaxed. */
	if (!atomic_load_explicit(&st->failing, memory_order_relaxed)) {
		atomic_store_explicit(&st->failing_since_ns, w->io->now_ns(w->io->ctx),
		                      memory_order_relaxed);
		/* R2: pairs with A2 in file_health: since, err and op are there first. */
		atomic_store_explicit(&st->failing, true, memory_order_release);
	}
	w->h_need_write = true;
	w->h_need_sync = w->sink->cfg.fsync != SLC_SINK_FILE_FSYNC_NEVER || op != FAIL_WRITE;
	w->h_epoch++;
}

static void
health_check_clear(struct slc_sink_file_worker *w)
{
	if (!w->h_need_write && !w->h_need_sync &&
	    atomic_load_explicit(&w->st->failing, memory_order_relaxed))
		atomic_store_explicit(&w->st->failing, false, memory_order_relaxed);
}

/* Bytes reached the file (a writev succeeded). */
static void
health_wrote(struct slc_sink_file_worker *w)
{
	if (!w->h_need_write)
		return;
	w->h_need_write = false;
	health_check_clear(w);
}

/* A sync succeeded that covers what was written since the last failure, if anything was:
 * only a sync after a successful write shows that data reaches the disk. */
static void
health_synced(struct slc_sink_file_worker *w)
{
	if (w->h_need_write || !w->h_need_sync)
		return;
	w->h_need_sync = false;
	health_check_clear(w);
}

/*
 * Ends the open segment after an error: what the file holds is uncertain, so nothing more
 * goes into it. cut: the writev failed; take the file back to its last whole record, so
 * that it does not end in a torn one (best effort: the disk may refuse that too), or
 * remove it if not even its header got there.
 */
static void
seg_abandon(struct slc_sink_file_worker *w, int rc, enum fail_op op, bool cut)
{
	health_fail(w, rc, op);
	wlog(w, "%s: %s failed: %s; the next record starts a new segment", w->path,
	     op == FAIL_WRITE ? "write" : "fdatasync", strerror(-rc));
	if (cut) {
		int err = 0;

		if (w->written == 0)
			(void)w->io->unlinkat(w->io->ctx, w->dir_fd, w->path + w->name_off);
		else
			err = w->io->ftruncate(w->io->ctx, w->fd, w->written);
		if (err != 0)
			wlog(w, "%s: cannot cut back to %llu bytes: %s; it ends in a torn record",
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
static int
pend_flush(struct slc_sink_file_worker *w)
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
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
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
	seg_abandon(w, rc, FAIL_WRITE, true);
	return rc;
}

/* Makes room for len more bytes in buf and iovs more iovs, writing what is pending if
 * needed. */
static int
pend_reserve(struct slc_sink_file_worker *w, size_t len, int iovs)
{
	if (WBUF_SIZE - w->buf_used >= len && w->niov + iovs <= IOV_CAP)
		return 0;
	return pend_flush(w);
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
static void
ckpt_put(struct slc_sink_file_worker *w, struct slc_sink_file_pos pos, bool force)
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
	len = ckpt_format(s->ckpt_buf, SLC_SINK_FILE_CKPT_DURABLE, s->ckpt);
	s->ckpt_writing = true;
	s->ckpt_dirty = false;
	s->ckpt_written_ns = now;
	pthread_mutex_unlock(&s->ckpt_mu);

	/* Two fsyncs, outside the mutex: other workers note and go on meanwhile. */
	rc = ckpt_store(s, len);

	pthread_mutex_lock(&s->ckpt_mu);
	s->ckpt_writing = false;
	if (rc != 0)
		s->ckpt_dirty = true;
	w->ckpt_behind = rc != 0;
	pthread_cond_broadcast(&s->ckpt_cv);
	pthread_mutex_unlock(&s->ckpt_mu);
}

/* ckpt_put of what the worker's state says is durable right after a sync. */
static void
ckpt_note(struct slc_sink_file_worker *w, bool force)
{
	struct slc_sink_file_pos pos = {.valid = false};

	if (w->fd >= 0 && w->written > 0)
		pos = (struct slc_sink_file_pos){
		        .valid = true, .seq = w->seq, .offset = w->written};
	else if (w->fd < 0 && w->ended_valid && !w->ended_unsynced)
		pos = (struct slc_sink_file_pos){
		        .valid = true, .seq = w->ended_seq, .offset = w->ended_size};
	ckpt_put(w, pos, force);
}

/* The test hook's verdict on a sync that succeeded (cfg.test_sync_fault). */
static int
sync_fault(const struct slc_sink_file_worker *w)
{
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;

	return cfg->test_sync_fault != NULL ? cfg->test_sync_fault(cfg->test_sync_fault_ctx) : 0;
}

/*
 * Makes the segment's bytes, and the names of segments created since the last sync,
 * durable. A failed fdatasync abandons the segment: after one, Linux may already have
 * dropped the dirty pages, so a retry could report success for data that is lost.
 */
static int
seg_sync(struct slc_sink_file_worker *w)
{
	bool synced = false;
	int rc;

	if (w->fd >= 0 && w->unsynced) {
		rc = w->io->fdatasync(w->io->ctx, w->fd);
		if (rc == 0)
			rc = sync_fault(w);
		if (rc != 0) {
			seg_abandon(w, rc, FAIL_FDATASYNC, false);
			w->sync_lost = rc;
			return rc;
		}
		slc_sink_stat_add(&w->st->fsyncs, 1);
		w->unsynced = false;
		synced = true;
	}
	/* The directory the segments were created in, even if it was renamed since. */
	if (w->dir_unsynced && w->dir_fd >= 0) {
		rc = w->io->fsync(w->io->ctx, w->dir_fd);
		if (rc != 0) {
			/* The segment stays: its data is safe; the name is synced next time. */
			health_fail(w, rc, FAIL_DIR_FSYNC);
			wlog(w, "%s: fsync failed: %s", w->sink->dir, strerror(-rc));
			return rc;
		}
		w->dir_unsynced = false;
		synced = true;
	}
	w->synced_ns = w->io->now_ns(w->io->ctx);
	if (synced)
		health_synced(w);
	ckpt_note(w, false);
	return 0;
}

/*
 * One syncfs() of DIR's file system: what fdatasync cannot reach, segments already closed
 * unsynced (never mode), and with them the open one and every name. syncfs reports
 * write-back errors since Linux 5.8; before, only its own.
 */
static int
fs_sync(struct slc_sink_file_worker *w)
{
	const struct slc_sink_file_io *io = w->io;
	int fd = w->dir_fd, rc;

	if (fd < 0)
		fd = io->openat(io->ctx, AT_FDCWD, w->sink->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		                0);
	rc = fd < 0 ? fd : io->syncfs(io->ctx, fd);
	if (rc != 0) {
		health_fail(w, rc, FAIL_SYNCFS);
		wlog(w, "%s: syncfs failed: %s", w->sink->dir, strerror(-rc));
	}
	if (fd >= 0 && fd != w->dir_fd)
		io->close(io->ctx, fd);
	if (rc != 0)
		return rc;
	slc_sink_stat_add(&w->st->fsyncs, 1);
	w->unsynced = false;
	w->dir_unsynced = false;
	w->ended_unsynced = false;
	w->synced_ns = io->now_ns(io->ctx);
	health_synced(w);
	ckpt_note(w, false);
	return 0;
}

/* Closes an ended segment's descriptor: 0, or the failure, counted. close() reports
 * write-back errors only on some file systems (NFS). */
static int
seg_fd_close(struct slc_sink_file_worker *w, int fd)
{
	int err = w->io->close(w->io->ctx, fd);

	if (err == 0 || err == -EINTR)
		return 0;
	health_fail(w, err, FAIL_CLOSE);
	return err;
}

/* ---- background syncs (interval mode) ---- */

static void
bg_fd_close(const struct slc_sink_file_worker *w, int fd)
{
	if (fd >= 0)
		(void)w->io->close(w->io->ctx, fd);
}

/* Finishes the oldest job, all of whose completions are in: counts it, and either notes
 * its position in the checkpoint or treats its failure as seg_sync treats one. */
static void
bg_retire(struct slc_sink_file_worker *w, struct bg_job *j)
{
	int err = j->err != 0 ? j->err : sync_fault(w);

	if (err == 0 && w->bg_bad && w->bg_bad_seq == j->seq)
		err = -EIO; /* an older sync of this segment failed: this one proves nothing */
	if (err != 0) {
		w->bg_bad = true;
		w->bg_bad_seq = j->seq;
		w->sync_lost = err;
		if (w->fd >= 0 && w->seq == j->seq) {
			/* Nothing more goes into the segment (seg_sync's rule). */
			seg_abandon(w, err, FAIL_FDATASYNC, false);
		} else {
			health_fail(w, err, FAIL_FDATASYNC);
			wlog(w, "segment %llu of worker %u: fdatasync failed: %s",
			     (unsigned long long)j->seq, w->worker, strerror(-err));
			if (w->ended_valid && w->ended_seq == j->seq)
				w->ended_valid = false;
		}
	} else {
		slc_sink_stat_add(&w->st->fsyncs, j->trailer ? 2 : 1);
		if (j->trailer)
			slc_sink_stat_add(&w->st->file_bytes, TRAILER_SIZE);
		if (j->dir_err == 0 && j->proves && j->h_epoch == w->h_epoch)
			health_synced(w);
		if (j->dir_err == 0)
			ckpt_put(w,
			         (struct slc_sink_file_pos){
			                 .valid = true, .seq = j->seq, .offset = j->offset},
			         false);
	}
	if (j->dir_err != 0) {
		/* Cancelled after a failed fdatasync, or failed itself: the names created
		 * since are synced next time, as seg_sync leaves them. */
		if (j->dir_err != -ECANCELED) {
			health_fail(w, j->dir_err, FAIL_DIR_FSYNC);
			wlog(w, "%s: fsync failed: %s", w->sink->dir, strerror(-j->dir_err));
		}
		if (w->dir_fd >= 0)
			w->dir_unsynced = true;
	}
	if (j->ended) {
		int cerr = seg_fd_close(w, j->fd);

		if (cerr != 0)
			wlog(w, "segment %llu of worker %u: close failed: %s",
			     (unsigned long long)j->seq, w->worker, strerror(-cerr));
	} else {
		bg_fd_close(w, j->fd);
	}
	bg_fd_close(w, j->dir_fd);
}

/*
 * Takes in the completions that have arrived and retires the jobs that are done, oldest
 * first; waits while more than `keep` jobs are in flight (UINT32_MAX: never waits; 0: until
 * all are done). If the ring fails (it should not), the jobs still in flight count as
 * failed: nothing is claimed durable that was not seen to be.
 */
static void
bg_reap(struct slc_sink_file_worker *w, uint32_t keep)
{
	while (w->bg_head != w->bg_tail) {
		struct bg_job *j = &w->bg_jobs[w->bg_head % BG_JOBS];
		struct io_uring_cqe *cqe;
		uint64_t data;
		int rc;

		if (j->cqes == 0) {
			bg_retire(w, j);
			w->bg_head++;
			continue;
		}
		if (w->bg_tail - w->bg_head > keep)
			rc = io_uring_wait_cqe(&w->bg_ring, &cqe);
		else
			rc = io_uring_peek_cqe(&w->bg_ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc == -EAGAIN && w->bg_tail - w->bg_head <= keep)
			return;
		if (rc != 0) {
			wlog(w,
			     "background sync: io_uring wait failed: %s; the syncs in flight "
			     "count as failed",
			     strerror(-rc));
			for (uint32_t i = w->bg_head; i != w->bg_tail; i++) {
				struct bg_job *f = &w->bg_jobs[i % BG_JOBS];

				if (f->cqes != 0) {
					f->cqes = 0;
					f->err = f->err != 0 ? f->err : rc;
				}
			}
			continue;
		}
		data = io_uring_cqe_get_data64(cqe);
		j = &w->bg_jobs[(uint32_t)data % BG_JOBS];
		SLC_ASSERT(j->cqes > 0);
		rc = cqe->res;
		if (rc >= 0 && (data & BG_TRAILER_BIT) && rc != (int)TRAILER_SIZE)
			rc = -EIO; /* a short write: the trailer is not whole */
		if (rc < 0 && (data & BG_DIR_BIT))
			j->dir_err = rc;
		else if (rc < 0 && (j->err == 0 || j->err == -ECANCELED))
			j->err = rc; /* the first failure, not the cancellations it caused */
		j->cqes--;
		io_uring_cqe_seen(&w->bg_ring, cqe);
	}
}

/* Waits for every job in flight, then takes the ring down: syncs are the worker's own
 * from here on. */
static void
bg_stop(struct slc_sink_file_worker *w)
{
	bg_reap(w, 0);
	io_uring_queue_exit(&w->bg_ring);
	w->bg = false;
}

/* Does job j's syncs on this thread (no ring, or the ring refused it). */
static void
bg_run_inline(const struct slc_sink_file_worker *w, struct bg_job *j)
{
	j->cqes = 0;
	j->err = w->io->fdatasync(w->io->ctx, j->fd);
	if (j->err == 0 && j->trailer) {
		j->err = pwrite_all(w->io, j->fd, j->trailer_buf, TRAILER_SIZE,
		                    j->offset - TRAILER_SIZE);
		if (j->err == 0)
			j->err = w->io->fdatasync(w->io->ctx, j->fd);
	}
	if (j->dir_fd < 0)
		return;
	if (j->err != 0)
		j->dir_err = -ECANCELED;
	else
		j->dir_err = w->io->fsync(w->io->ctx, j->dir_fd);
}

/*
 * Syncs segment seq up to offset through fd, which the job takes over, with DIR after it
 * when names were created since DIR was last synced. trailer (an ended segment's, NULL:
 * none): written at offset - TRAILER_SIZE once the data before it is synced, then synced
 * itself (seg_end says why). In the background when the ring is up: 0 then, and a
 * failure is the job's to report when it retires (counted, logged, and returned by the
 * next sync()). Otherwise on this thread: 0 or the failure.
 */
static int
bg_submit(struct slc_sink_file_worker *w, int fd, bool ended, uint64_t seq, uint64_t offset,
          const uint8_t *trailer)
{
	struct bg_job *j;
	uint32_t slot;
	int rc;

	if (w->bg && w->bg_tail - w->bg_head == BG_JOBS)
		bg_reap(w, BG_JOBS - 1);
	slot = w->bg_tail % BG_JOBS;
	j = &w->bg_jobs[slot];
	*j = (struct bg_job){.fd = fd,
	                     .dir_fd = -1,
	                     .ended = ended,
	                     .seq = seq,
	                     .offset = offset,
	                     .proves = !w->h_need_write,
	                     .h_epoch = w->h_epoch};
	if (trailer != NULL) {
		j->trailer = true;
		memcpy(j->trailer_buf, trailer, TRAILER_SIZE);
	}
	if (w->dir_unsynced && w->dir_fd >= 0) {
		j->dir_fd = w->io->dup(w->io->ctx, w->dir_fd);
		w->dir_unsynced = j->dir_fd < 0;
	}
	w->unsynced = false;
	w->synced_ns = w->io->now_ns(w->io->ctx);
	if (w->bg) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&w->bg_ring);

		/* The SQ holds BG_SQES * BG_JOBS and each submit empties it. Linked: a step
		 * runs only once the one before it succeeded, and a failure cancels the rest
		 * (no trailer after data that did not reach the disk). */
		SLC_ASSERT(sqe != NULL);
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(sqe, slot);
		sqe->flags |= IOSQE_ASYNC; /* it would block: straight to a worker */
		j->cqes = 1;
		if (j->trailer) {
			sqe->flags |= IOSQE_IO_LINK;
			sqe = io_uring_get_sqe(&w->bg_ring);
			SLC_ASSERT(sqe != NULL);
			io_uring_prep_write(sqe, fd, j->trailer_buf, TRAILER_SIZE,
			                    j->offset - TRAILER_SIZE);
			io_uring_sqe_set_data64(sqe, slot | BG_TRAILER_BIT);
			sqe->flags |= IOSQE_ASYNC | IOSQE_IO_LINK;
			sqe = io_uring_get_sqe(&w->bg_ring);
			SLC_ASSERT(sqe != NULL);
			io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data64(sqe, slot);
			sqe->flags |= IOSQE_ASYNC;
			j->cqes = 3;
		}
		if (j->dir_fd >= 0) {
			sqe->flags |= IOSQE_IO_LINK;
			sqe = io_uring_get_sqe(&w->bg_ring);
			SLC_ASSERT(sqe != NULL);
			io_uring_prep_fsync(sqe, j->dir_fd, 0);
			io_uring_sqe_set_data64(sqe, slot | BG_DIR_BIT);
			sqe->flags |= IOSQE_ASYNC;
			j->cqes++;
		}
		rc = io_uring_submit(&w->bg_ring);
		if (rc == (int)j->cqes) {
			w->bg_tail++;
			return 0;
		}
		/* The kernel took none, or (short of memory) only the first of a linked pair;
		 * a completion for it finds the job done inline below and is counted against
		 * nothing. From now on the worker syncs on its own thread, after the jobs in
		 * flight. */
		wlog(w,
		     "background sync: io_uring_submit failed: %s; syncing on the worker's "
		     "thread from now on",
		     strerror(rc < 0 ? -rc : EIO));
		bg_stop(w);
	}
	bg_run_inline(w, j);
	rc = j->err;
	bg_retire(w, j);
	return rc;
}

/* Whether a background sync of the open segment is in flight. */
static bool
bg_busy(const struct slc_sink_file_worker *w)
{
	if (w->fd < 0)
		return false;
	for (uint32_t i = w->bg_head; i != w->bg_tail; i++) {
		const struct bg_job *j = &w->bg_jobs[i % BG_JOBS];

		if (!j->ended && j->seq == w->seq)
			return true;
	}
	return false;
}

/* Interval mode's sync of the open segment: in the background when it can be. */
static int
seg_sync_bg(struct slc_sink_file_worker *w)
{
	int fd;

	if (!w->bg)
		return seg_sync(w);
	if (w->fd < 0 || !w->unsynced) {
		/* At most DIR's fsync to do. With jobs in flight, nothing now: the newest
		 * notes the checkpoint when it is done, and DIR waits for the next sync. */
		return w->bg_head != w->bg_tail ? 0 : seg_sync(w);
	}
	if (bg_busy(w))
		return 0; /* the next write or flush tries again */
	fd = w->io->dup(w->io->ctx, w->fd);
	if (fd < 0)
		return seg_sync(w);
	return bg_submit(w, fd, false, w->seq, w->written, NULL);
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

	seg_hdr_put(w->buf + w->buf_used, w->worker, w->seq);
	pend_buf(w, HDR_SIZE);
	w->size = HDR_SIZE;
	slc_sink_stat_add(&w->st->segments, 1);
	return 0;

err_count:
	health_fail(w, rc, FAIL_CREATE);
	wlog(w, "%s: cannot create a segment: %s", s->dir, strerror(-rc));
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
 * by the crash model, tests/engine/test_sink_file_crash.c.) In batch mode the records are
 * synced already; otherwise this is one more fdatasync per segment. never mode promises
 * nothing across a crash, and a segment it ended may read as damaged after one.
 */
static int
seg_end(struct slc_sink_file_worker *w, bool sync)
{
	uint8_t t[TRAILER_SIZE];
	int rc = 0, cerr;

	if (w->fd < 0)
		return 0;
	if (sync) {
		rc = pend_flush(w);
		if (rc != 0)
			return rc;
		if (w->bg) {
			/* The job takes the descriptor over and closes it when done. */
			int fd = w->fd;

			trailer_put(t, w->records, w->size);
			w->size += TRAILER_SIZE;
			w->fd = -1;
			w->unsynced = false;
			w->ended_valid = true;
			w->ended_seq = w->seq;
			w->ended_size = w->size;
			return bg_submit(w, fd, true, w->ended_seq, w->ended_size, t);
		}
		if (w->unsynced) {
			rc = seg_sync(w);
			/* Failed: the segment was abandoned. A failed fsync of DIR leaves it
			 * open: its data is safe, and its name is synced next time. */
			if (rc != 0 && w->fd < 0)
				return rc;
		}
	}
	cerr = pend_reserve(w, TRAILER_SIZE, 1);
	if (cerr == 0) {
		trailer_put(w->buf + w->buf_used, w->records, w->size);
		pend_buf(w, TRAILER_SIZE);
		w->size += TRAILER_SIZE;
		cerr = pend_flush(w);
	}
	if (cerr != 0)
		return cerr;
	w->ended_valid = true;
	w->ended_seq = w->seq;
	w->ended_size = w->size;
	if (sync) {
		cerr = seg_sync(w);
		if (cerr != 0 && w->fd < 0)
			return cerr;
		if (rc == 0)
			rc = cerr;
	} else {
		w->ended_unsynced = true;
	}
	cerr = seg_fd_close(w, w->fd);
	if (cerr != 0) {
		wlog(w, "%s: close failed: %s", w->path, strerror(-cerr));
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
	put_le32(h, SLC_SINK_FILE_REC_MAGIC);
	put_le32(h + 4, m->len);
	put_le16(h + 8, (uint16_t)key_len);
	put_le16(h + 10, 0);
	crc = slc_crc32c(0, h + 4, 8);
	crc = slc_crc32c(crc, key, key_len);
	crc = slc_crc32c(crc, m->data, m->len);
	put_le32(h + 12, crc);
	/* memcpy from NULL is undefined even for 0 bytes: an empty key or payload may be. */
	if (key_len != 0)
		memcpy(h + REC_SIZE, key, key_len);
	if (copy && m->len != 0)
		memcpy(h + REC_SIZE + key_len, m->data, m->len);
	pend_buf(w, inbuf);
	if (!copy)
		pend_ref(w, m->data, m->len);
	w->size += REC_SIZE + key_len + m->len;
	w->records++;
	w->pend_records++;
	w->pend_bytes += key_len + m->len;
	return 0;
}

/* The fsync mode's rule, at write() and flush(). */
static int
sync_policy(struct slc_sink_file_worker *w)
{
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;

	switch (cfg->fsync) {
	case SLC_SINK_FILE_FSYNC_NEVER:
		return 0;
	case SLC_SINK_FILE_FSYNC_INTERVAL:
		if (w->io->now_ns(w->io->ctx) - w->synced_ns >=
		    (uint64_t)cfg->fsync_interval_ms * 1000000ull)
			return seg_sync_bg(w);
		return 0;
	case SLC_SINK_FILE_FSYNC_BATCH:
		return seg_sync(w);
	}
	return 0;
}

static int
file_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out)
{
	struct slc_sink_file *s = sink;
	struct slc_sink_file_worker *w;
	uint64_t max;
	bool found;
	int rc;

	if (worker >= SLC_SINK_FILE_WORKERS_MAX)
		return -EINVAL;
	/* A1: pairs with R1 in file_worker_close: the previous owner's last counter updates
	 * and files are done before this owner starts. */
	if (atomic_exchange_explicit(&s->claimed[worker], true, memory_order_acquire))
		return -EBUSY;
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		rc = -ENOMEM;
		goto err_unclaim;
	}
	w->buf = malloc(WBUF_SIZE);
	if (w->buf == NULL) {
		rc = -ENOMEM;
		goto err_free_worker;
	}
	w->path_cap = strlen(s->dir) + 1 + SLC_SINK_FILE_NAME_MAX;
	w->path = malloc(w->path_cap);
	if (w->path == NULL) {
		rc = -ENOMEM;
		goto err_free_buf;
	}
	w->path[0] = '\0';
	w->refused_cap = REFUSED_CAP_INIT;
	w->refused_idx = malloc(w->refused_cap * sizeof(*w->refused_idx));
	if (w->refused_idx == NULL) {
		rc = -ENOMEM;
		goto err_free_path;
	}
	rc = dir_max_seq(s->io, s->dir, worker, &found, &max);
	if (rc != 0)
		goto err_free_refused;
	w->sink = s;
	w->io = s->io;
	w->st = &s->st[worker];
	w->worker = worker;
	w->fd = -1;
	w->dir_fd = -1;
	w->seq_next = found ? max + 1 : 0;
	w->synced_ns = s->io->now_ns(s->io->ctx);
	/* A worker index opened again after a failure has shown nothing yet: it stays
	 * unhealthy until its own write and sync succeed. */
	if (atomic_load_explicit(&w->st->failing, memory_order_relaxed)) {
		w->h_need_write = true;
		w->h_need_sync = s->cfg.fsync != SLC_SINK_FILE_FSYNC_NEVER;
	}
	/* io_uring syncs through the kernel, not through another io: a sink given its own
	 * syncs on the worker's thread. */
	if (s->cfg.fsync == SLC_SINK_FILE_FSYNC_INTERVAL && !s->cfg.sync_inline &&
	    s->io == &slc_sink_file_io_sys) {
		/* BG_SQES SQEs a job; CQ twice the SQ: BG_JOBS jobs never overflow it. */
		rc = io_uring_queue_init(BG_SQES * BG_JOBS, &w->bg_ring, 0);
		if (rc == 0)
			w->bg = true;
		else
			wlog(w,
			     "background syncs need io_uring (%s): worker %u waits for each "
			     "sync",
			     strerror(-rc), worker);
	}
	*out = (struct slc_sink_worker *)w;
	return 0;

err_free_refused:
	free(w->refused_idx);
err_free_path:
	free(w->path);
err_free_buf:
	free(w->buf);
err_free_worker:
	free(w);
err_unclaim:
	atomic_store_explicit(&s->claimed[worker], false, memory_order_release);
	return rc;
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

static int
file_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	const struct slc_sink_file_cfg *cfg = &w->sink->cfg;
	int rc = 0, refuse_rc = 0;

	w->refused_n = 0;
	if (w->bg)
		bg_reap(w, UINT32_MAX);
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
			wlog(w,
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
			rc = seg_end(w, cfg->fsync != SLC_SINK_FILE_FSYNC_NEVER);
			slc_sink_stat_add(&w->st->rotations, 1);
			if (rc != 0)
				goto out;
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
	rc = pend_flush(w);
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

static uint32_t
file_refused(struct slc_sink_worker *sw, const uint32_t **idx)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;

	*idx = w->refused_idx;
	return w->refused_n;
}

static int
file_flush(struct slc_sink_worker *sw)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	int rc;

	if (w->bg)
		bg_reap(w, UINT32_MAX);
	rc = pend_flush(w);
	if (rc == 0)
		rc = sync_policy(w);
	if (rc != 0)
		return rc;
	if (w->ckpt_behind)
		ckpt_put(w, (struct slc_sink_file_pos){.valid = false}, false);
	/* Call again while anything written is not durable yet (interval mode), or the
	 * checkpoint is behind what is. */
	if (w->sink->cfg.fsync == SLC_SINK_FILE_FSYNC_INTERVAL &&
	    (w->unsynced || w->bg_head != w->bg_tail))
		return 1;
	return w->ckpt_behind ? 1 : 0;
}

/*
 * sink.h's sync: everything write() took is durable when this returns 0, whatever the
 * fsync mode. An fdatasync of the open segment is enough unless segments were ended
 * unsynced since the last sync; then one syncfs covers them all. A record is never claimed
 * durable after an fdatasync failed under it: that failure is returned (once) instead.
 */
static int
file_sync(struct slc_sink_worker *sw)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	int rc;

	if (w->bg)
		bg_reap(w, 0);
	rc = pend_flush(w);
	if (rc == 0)
		rc = w->ended_unsynced ? fs_sync(w) : seg_sync(w);
	if (rc == 0 && w->sync_lost != 0)
		rc = w->sync_lost;
	w->sync_lost = 0;
	return rc;
}

static int
file_reopen(struct slc_sink_worker *sw)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	bool sync = w->sink->cfg.fsync != SLC_SINK_FILE_FSYNC_NEVER;
	int rc, err;

	slc_sink_stat_add(&w->st->reopens, 1);
	rc = seg_end(w, sync);
	/* The next record creates the new file, in DIR as it is then. (What is left unsynced
	 * in the old one, never mode's, is syncfs's at worker_close and sync.) */
	if (w->dir_fd < 0)
		return rc;
	/*
	 * The names created in DIR since its last fsync are durable only once that fsync
	 * succeeds; with its descriptor gone (and DIR perhaps renamed: rotation by hand), no
	 * later one could reach them. So: the syncs in flight first (one of them may fail its
	 * fsync of DIR), then DIR's own, and a failure is sync()'s to report. Forgetting it
	 * let sync() return 0 for records whose segment's name a crash then took (found by
	 * the crash model, tests/engine/test_sink_file_crash.c).
	 */
	if (w->bg)
		bg_reap(w, 0);
	if (sync && w->dir_unsynced) {
		err = w->io->fsync(w->io->ctx, w->dir_fd);
		if (err != 0) {
			health_fail(w, err, FAIL_DIR_FSYNC);
			wlog(w, "%s: fsync failed: %s", w->sink->dir, strerror(-err));
			w->sync_lost = err;
			if (rc == 0)
				rc = err;
		}
	}
	w->io->close(w->io->ctx, w->dir_fd);
	w->dir_fd = -1;
	w->dir_unsynced = false;
	return rc;
}

static void
file_worker_close(struct slc_sink_worker *sw)
{
	struct slc_sink_file_worker *w = (struct slc_sink_file_worker *)sw;
	struct slc_sink_file *s;
	uint32_t worker;

	if (w == NULL)
		return;
	s = w->sink;
	worker = w->worker;
	/* Durable in every fsync mode: an orderly stop loses nothing. Failures are counted
	 * and logged by seg_end. In never mode, the segments ended before were not synced
	 * either: one syncfs covers them all (they share DIR's file system). */
	/* What is still in flight first; the last segment is synced below. */
	if (w->bg)
		bg_stop(w);
	(void)pend_flush(w);
	if (s->cfg.fsync != SLC_SINK_FILE_FSYNC_NEVER) {
		(void)seg_end(w, true);
		(void)seg_sync(w);
	} else {
		(void)seg_end(w, false);
		if (w->wrote)
			(void)fs_sync(w);
	}
	/* The checkpoint says how far this worker got before close returns. */
	ckpt_note(w, true);
	if (w->dir_fd >= 0)
		w->io->close(w->io->ctx, w->dir_fd);
	free(w->refused_idx);
	free(w->path);
	free(w->buf);
	free(w);
	/* R1: pairs with A1 in file_worker_open. */
	atomic_store_explicit(&s->claimed[worker], false, memory_order_release);
}

/*
 * The worker whose failure began first names the reason: DIR, what failed and why, and
 * for how long; "" when every worker is healthy. Any thread (sink.h's status).
 */
static void
file_health(struct slc_sink_file *s, char *out, size_t cap)
{
	uint64_t now = s->io->now_ns(s->io->ctx), since = 0;
	uint32_t worker = 0, failing = 0;
	int err = 0, op = 0;

	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++) {
		const struct wstats *st = &s->st[i];
		uint64_t t;

		/* A2: pairs with R2 in health_fail. */
		if (!atomic_load_explicit(&st->failing, memory_order_acquire))
			continue;
		t = atomic_load_explicit(&st->failing_since_ns, memory_order_relaxed);
		if (failing++ != 0 && t >= since)
			continue;
		since = t;
		worker = i;
		err = atomic_load_explicit(&st->fail_err, memory_order_relaxed);
		op = atomic_load_explicit(&st->fail_op, memory_order_relaxed);
	}
	out[0] = '\0';
	if (failing == 0)
		return;
	if ((unsigned)op >= sizeof(fail_op_text) / sizeof(fail_op_text[0]))
		op = FAIL_WRITE;
	if (failing == 1)
		snprintf(out, cap, "%s: %s: %s (worker %u, since %.1f s)", s->dir, fail_op_text[op],
		         strerror(err), worker, now > since ? (double)(now - since) * 1e-9 : 0.0);
	else
		snprintf(out, cap, "%s: %s: %s (worker %u, since %.1f s; %u workers failing)",
		         s->dir, fail_op_text[op], strerror(err), worker,
		         now > since ? (double)(now - since) * 1e-9 : 0.0, failing);
}

static void
file_status(void *sink, struct slc_sink_status *out)
{
	struct slc_sink_file *s = sink;
	uint64_t delivered = 0;

	for (uint32_t i = 0; i < SLC_SINK_FILE_WORKERS_MAX; i++)
		delivered += atomic_load_explicit(&s->st[i].delivered, memory_order_relaxed);
	*out = (struct slc_sink_status){.delivered = delivered};
	file_health(s, out->health, sizeof(out->health));
}

/* ---- the registry's side (sinks/sink.h): create from file:DIR and its flags, metrics ---- */

static_assert(SLC_SINK_FILE_FSYNC_NEVER == 0 && SLC_SINK_FILE_FSYNC_INTERVAL == 1 &&
                      SLC_SINK_FILE_FSYNC_BATCH == 2,
              "--fsync's names are in this order (sinks/file/spec.c)");

static void *
file_create_op(const struct slc_sink_spec *spec, const struct slc_sink_env *env, int *err)
{
	const struct slc_sink_file_settings *st = env->settings;
	struct slc_sink_file_cfg fc = {
	        .dir = spec->arg,
	        .segment_bytes = st->segment_bytes,
	        .fsync = (enum slc_sink_file_fsync)st->fsync,
	        .fsync_interval_ms = st->fsync_interval_ms,
	        .key_fn = env->key_fn,
	        .key_ctx = env->key_ctx,
	        .log = env->log,
	        .log_ctx = env->log_ctx,
	};

	return slc_sink_file_create(&fc, err);
}

static void
file_metrics(void *sink, struct slc_metrics_buf *b)
{
	struct slc_sink_file_stats st;

	slc_sink_file_stats(sink, &st);
#define FILE_METRIC(name, help, v)                            \
	do {                                                  \
		slc_metrics_family(b, name, "counter", help); \
		slc_metrics_u64(b, name, "sink=\"file\"", v); \
	} while (0)
	FILE_METRIC("sluice_sink_messages_total", "records written", st.records);
	FILE_METRIC("sluice_sink_bytes_total", "key and payload bytes written", st.bytes);
	FILE_METRIC("sluice_sink_file_bytes_total", "bytes written to segment files",
	            st.file_bytes);
	FILE_METRIC("sluice_sink_file_segments_total", "segments created", st.segments);
	FILE_METRIC("sluice_sink_file_rotations_total", "segments ended full", st.rotations);
	FILE_METRIC("sluice_sink_file_fsyncs_total", "fdatasync and syncfs calls", st.fsyncs);
	FILE_METRIC("sluice_sink_errors_total", "failed creates, writes and syncs",
	            st.write_errors);
#undef FILE_METRIC
	slc_metrics_family(b, "sluice_sink_refused_records_total", "counter",
	                   "records the sink refused one by one (lost), by reason");
	slc_metrics_u64(b, "sluice_sink_refused_records_total",
	                "sink=\"file\",reason=\"key_too_long\"", st.refused_key_too_long);
	slc_metrics_family(b, "sluice_sink_file_foreign_files", "gauge",
	                   "files named like segments that start-up left alone (not "
	                   "regular files, or not segments of this version)");
	slc_metrics_u64(b, "sluice_sink_file_foreign_files", "sink=\"file\"", st.recovered_foreign);
}

const struct slc_sink_ops slc_sink_file_ops = {
        .name = "file",
        .desc = &slc_sink_file_desc,
        .create = file_create_op,
        .worker_open = file_worker_open,
        .write = file_write,
        .refused = file_refused,
        .flush = file_flush,
        .sync = file_sync,
        .reopen = file_reopen,
        .worker_close = file_worker_close,
        .destroy = file_destroy,
        .status = file_status,
        .metrics = file_metrics,
};

/* ---- the reader ---- */

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
	size_t got = 0;

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
	while (got < want) {
		ssize_t n = r->io->pread(r->io->ctx, r->fd, r->buf + got, (size_t)want - got,
		                         off + got);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			r->err = (int)n;
			return NULL;
		}
		if (n == 0) { /* shorter than at open: someone truncated it under us */
			r->err = -EIO;
			return NULL;
		}
		got += (size_t)n;
	}
	r->win_off = off;
	r->win_len = got;
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
	if (get_le32(p) != SLC_SINK_FILE_REC_MAGIC) {
		*why = "bad record magic";
		return 1;
	}
	v->payload_len = get_le32(p + 4);
	v->key_len = get_le16(p + 8);
	v->flags = get_le16(p + 10);
	crc = get_le32(p + 12);
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
	const uint8_t *p;
	struct stat sb;
	int rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	r->io = io;
	r->fd = open_regular(io, path, NULL);
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
	} else if (memcmp(p, SLC_SINK_FILE_SEG_MAGIC, 8) != 0) {
		ev->what = "not a segment (bad magic)";
	} else if (get_le16(p + 8) != SLC_SINK_FILE_SEG_VERSION) {
		ev->what = "unsupported segment version";
	} else if (get_le16(p + 10) != HDR_SIZE) {
		ev->what = "bad segment header length";
	} else if (slc_crc32c(0, p, 28) != get_le32(p + 28)) {
		/* Only the header is bad: the records after it may well be fine. */
		ev->len = HDR_SIZE;
		ev->what = "segment header CRC mismatch";
		r->pos = HDR_SIZE;
	} else {
		r->hdr_ok = true;
		r->hdr_ev_pending = false;
		r->worker = get_le32(p + 12);
		r->seq = get_le64(p + 16);
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
			bool agree =
			        get_le64(v.payload) == r->records && get_le64(v.payload + 8) == at;

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
