/* SPDX-License-Identifier: MIT */
/* memfs.c: an in-memory file system with a crash model (memfs.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "memfs.h"

#define FD_BASE   1000000 /* far above real descriptors: one passed to a syscall fails */
#define FDS_MAX   64
#define NAME_MAX_ 48
#define ENTS_MAX  4096
#define SECTOR    512 /* what a crash writes whole or not at all */

/* A change waiting in a file's log. */
struct pend {
	bool trunc; /* ftruncate to off; else a write of len bytes at off */
	uint64_t off;
	uint32_t len;
	uint8_t *bytes;
};

struct bytes {
	uint8_t *p;
	uint64_t size;
	uint64_t cap;
};

struct inode {
	bool dir;
	struct bytes cur;  /* what reads see */
	struct bytes disk; /* what a crash keeps for certain */
	struct pend *log;
	uint32_t nlog, caplog;
};

struct ent {
	char name[NAME_MAX_];
	int ino;
};

/* A change waiting in the directory's log. */
struct nsop {
	enum { NS_CREATE, NS_RENAME, NS_UNLINK } kind;
	char name[NAME_MAX_];
	char to[NAME_MAX_];
	int ino;
};

struct names {
	struct ent *e;
	uint32_t n;
};

struct fdesc {
	bool used;
	int ino;
	uint64_t pos;
};

struct memfs {
	struct slc_sink_file_io io;
	uint64_t rng;
	uint64_t now_ns;
	bool dead;
	uint32_t crash_in; /* crash at the crash_in-th call from now; 0: not armed */
	bool enospc_next;  /* a faulty writev wrote part: the next one fails */
	bool fail[MEMFS_FAULTS];
	struct inode *ino;
	uint32_t nino, capino;
	struct names cur, disk; /* names in ROOT */
	struct nsop *nslog;
	uint32_t nns, capns;
	struct fdesc fds[FDS_MAX];
	struct memfs_stats st;
};

/* ---- little helpers ---- */

static uint64_t
rnd(struct memfs *fs)
{
	/* splitmix64: good enough, and the same on every machine. */
	uint64_t z = (fs->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n]. */
static uint64_t
rnd_upto(struct memfs *fs, uint64_t n)
{
	return rnd(fs) % (n + 1);
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (q == NULL)
		abort(); /* a test's memory: nothing to recover */
	return q;
}

static void
bytes_reserve(struct bytes *b, uint64_t size)
{
	if (size <= b->cap)
		return;
	b->cap = size > 2 * b->cap ? size : 2 * b->cap;
	b->p = xrealloc(b->p, b->cap);
}

/* Sets the size; new bytes are zeros (a hole reads as zeros). */
static void
bytes_resize(struct bytes *b, uint64_t size)
{
	bytes_reserve(b, size);
	if (size > b->size)
		memset(b->p + b->size, 0, size - b->size);
	b->size = size;
}

static void
bytes_write(struct bytes *b, uint64_t off, const uint8_t *p, uint64_t len)
{
	if (off + len > b->size)
		bytes_resize(b, off + len);
	if (len != 0)
		memcpy(b->p + off, p, len);
}

static void
bytes_copy(struct bytes *dst, const struct bytes *src)
{
	bytes_reserve(dst, src->size);
	if (src->size != 0)
		memcpy(dst->p, src->p, src->size);
	dst->size = src->size;
}

/* Applies one logged change to b. */
static void
pend_apply(struct bytes *b, const struct pend *pd)
{
	if (pd->trunc)
		bytes_resize(b, pd->off);
	else
		bytes_write(b, pd->off, pd->bytes, pd->len);
}

static void
log_clear(struct inode *in)
{
	for (uint32_t i = 0; i < in->nlog; i++)
		free(in->log[i].bytes);
	in->nlog = 0;
}

static void
log_push(struct inode *in, bool trunc, uint64_t off, const uint8_t *p, uint32_t len)
{
	struct pend *pd;

	if (in->nlog == in->caplog) {
		in->caplog = in->caplog != 0 ? 2 * in->caplog : 16;
		in->log = xrealloc(in->log, in->caplog * sizeof(*in->log));
	}
	pd = &in->log[in->nlog++];
	pd->trunc = trunc;
	pd->off = off;
	pd->len = len;
	pd->bytes = NULL;
	if (!trunc && len != 0) {
		pd->bytes = xrealloc(NULL, len);
		memcpy(pd->bytes, p, len);
	}
}

/* The file's log reaches the disk: all of it (keep == nlog), or a prefix, the rest lost. */
static void
log_commit(struct inode *in, uint32_t keep)
{
	for (uint32_t i = 0; i < keep && i < in->nlog; i++)
		pend_apply(&in->disk, &in->log[i]);
	log_clear(in);
}

static int
inode_new(struct memfs *fs, bool dir)
{
	if (fs->nino == fs->capino) {
		fs->capino = fs->capino != 0 ? 2 * fs->capino : 64;
		fs->ino = xrealloc(fs->ino, fs->capino * sizeof(*fs->ino));
	}
	memset(&fs->ino[fs->nino], 0, sizeof(fs->ino[0]));
	fs->ino[fs->nino].dir = dir;
	return (int)fs->nino++;
}

/* ---- names ---- */

static struct ent *
names_find(struct names *ns, const char *name)
{
	for (uint32_t i = 0; i < ns->n; i++)
		if (strcmp(ns->e[i].name, name) == 0)
			return &ns->e[i];
	return NULL;
}

static void
names_set(struct names *ns, const char *name, int ino)
{
	struct ent *e = names_find(ns, name);

	if (e == NULL) {
		if (ns->n == ENTS_MAX)
			abort();
		e = &ns->e[ns->n++];
		strcpy(e->name, name);
	}
	e->ino = ino;
}

static void
names_del(struct names *ns, const char *name)
{
	struct ent *e = names_find(ns, name);

	if (e != NULL)
		*e = ns->e[--ns->n];
}

static void
nsop_apply(struct names *ns, const struct nsop *op)
{
	struct ent *e;

	switch (op->kind) {
	case NS_CREATE:
		names_set(ns, op->name, op->ino);
		break;
	case NS_RENAME:
		e = names_find(ns, op->name);
		if (e != NULL) {
			int ino = e->ino;

			names_del(ns, op->name);
			names_set(ns, op->to, ino);
		}
		break;
	case NS_UNLINK:
		names_del(ns, op->name);
		break;
	}
}

static void
ns_push(struct memfs *fs, int kind, const char *name, const char *to, int ino)
{
	struct nsop *op;

	if (fs->nns == fs->capns) {
		fs->capns = fs->capns != 0 ? 2 * fs->capns : 64;
		fs->nslog = xrealloc(fs->nslog, fs->capns * sizeof(*fs->nslog));
	}
	op = &fs->nslog[fs->nns++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	strcpy(op->name, name);
	if (to != NULL)
		strcpy(op->to, to);
	op->ino = ino;
}

static void
ns_commit(struct memfs *fs, uint32_t keep)
{
	for (uint32_t i = 0; i < keep && i < fs->nns; i++)
		nsop_apply(&fs->disk, &fs->nslog[i]);
	if (keep >= fs->nns) {
		fs->nns = 0;
		return;
	}
	memmove(fs->nslog, fs->nslog + keep, (fs->nns - keep) * sizeof(*fs->nslog));
	fs->nns -= keep;
}

/*
 * A path as the sink builds it: ROOT (*name NULL, ino 0), or ROOT "/" name. dirfd:
 * AT_FDCWD, or one of ours on ROOT (then path is a name). 0 or -ENOENT.
 */
static int
resolve(struct memfs *fs, int dirfd, const char *path, const char **name)
{
	size_t rl = strlen(MEMFS_ROOT);

	if (dirfd != AT_FDCWD) {
		int i = dirfd - FD_BASE;

		if (i < 0 || i >= FDS_MAX || !fs->fds[i].used || fs->fds[i].ino != 0)
			return -EBADF;
		*name = path;
	} else if (strcmp(path, MEMFS_ROOT) == 0) {
		*name = NULL;
		return 0;
	} else if (strncmp(path, MEMFS_ROOT "/", rl + 1) == 0) {
		*name = path + rl + 1;
	} else {
		return -ENOENT;
	}
	if ((*name)[0] == '\0' || strchr(*name, '/') != NULL || strlen(*name) >= NAME_MAX_)
		return -ENOENT;
	return 0;
}

static struct fdesc *
fd_get(struct memfs *fs, int fd)
{
	int i = fd - FD_BASE;

	if (i < 0 || i >= FDS_MAX || !fs->fds[i].used)
		return NULL;
	return &fs->fds[i];
}

static int
fd_new(struct memfs *fs, int ino)
{
	for (int i = 0; i < FDS_MAX; i++) {
		if (!fs->fds[i].used) {
			fs->fds[i] = (struct fdesc){.used = true, .ino = ino};
			return FD_BASE + i;
		}
	}
	return -EMFILE;
}

/* ---- the io table ---- */

/* Whether calls fail because the machine crashed: before, or now (memfs_crash_at). */
static bool
gone(struct memfs *fs)
{
	if (fs->crash_in != 0 && --fs->crash_in == 0)
		memfs_crash(fs);
	return fs->dead;
}

static int
m_openat(void *ctx, int dirfd, const char *path, int flags, mode_t mode)
{
	struct memfs *fs = ctx;
	const char *name;
	struct ent *e;
	int rc, ino;

	(void)mode;
	if (gone(fs))
		return -EIO;
	rc = resolve(fs, dirfd, path, &name);
	if (rc != 0)
		return rc;
	if (name == NULL)
		return fd_new(fs, 0);
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	e = names_find(&fs->cur, name);
	if (e != NULL && (flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (e == NULL) {
		if (!(flags & O_CREAT))
			return -ENOENT;
		if (fs->fail[MEMFS_FAIL_CREATE]) {
			fs->fail[MEMFS_FAIL_CREATE] = false;
			fs->st.faults[MEMFS_FAIL_CREATE]++;
			return -ENOSPC;
		}
		ino = inode_new(fs, false);
		names_set(&fs->cur, name, ino);
		ns_push(fs, NS_CREATE, name, NULL, ino);
	} else {
		ino = e->ino;
	}
	if ((flags & O_TRUNC) && fs->ino[ino].cur.size != 0) {
		bytes_resize(&fs->ino[ino].cur, 0);
		log_push(&fs->ino[ino], true, 0, NULL, 0);
	}
	return fd_new(fs, ino);
}

static int
m_close(void *ctx, int fd)
{
	struct fdesc *d = fd_get(ctx, fd);

	if (d == NULL)
		return -EBADF;
	d->used = false;
	return 0;
}

static int
m_dup(void *ctx, int fd)
{
	struct memfs *fs = ctx;
	struct fdesc *d = fd_get(fs, fd);
	int nfd;

	if (gone(fs))
		return -EIO;
	if (d == NULL)
		return -EBADF;
	nfd = fd_new(fs, d->ino);
	if (nfd >= 0)
		fd_get(fs, nfd)->pos = d->pos;
	return nfd;
}

static void
stat_fill(const struct inode *in, struct stat *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->st_mode = in->dir ? S_IFDIR | 0755 : S_IFREG | 0644;
	sb->st_size = (off_t)in->cur.size;
	sb->st_nlink = 1;
}

static int
m_fstat(void *ctx, int fd, struct stat *sb)
{
	struct memfs *fs = ctx;
	struct fdesc *d = fd_get(fs, fd);

	if (gone(fs))
		return -EIO;
	if (d == NULL)
		return -EBADF;
	stat_fill(&fs->ino[d->ino], sb);
	return 0;
}

static int
m_stat(void *ctx, const char *path, struct stat *sb)
{
	struct memfs *fs = ctx;
	const char *name;
	struct ent *e;
	int rc;

	if (gone(fs))
		return -EIO;
	rc = resolve(fs, AT_FDCWD, path, &name);
	if (rc != 0)
		return rc;
	if (name == NULL) {
		stat_fill(&fs->ino[0], sb);
		return 0;
	}
	e = names_find(&fs->cur, name);
	if (e == NULL)
		return -ENOENT;
	stat_fill(&fs->ino[e->ino], sb);
	return 0;
}

static ssize_t
m_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	struct memfs *fs = ctx;
	struct fdesc *d = fd_get(fs, fd);
	const struct bytes *b;

	if (gone(fs))
		return -EIO;
	if (d == NULL)
		return -EBADF;
	if (fs->ino[d->ino].dir)
		return -EISDIR;
	b = &fs->ino[d->ino].cur;
	if (off >= b->size)
		return 0;
	if (len > b->size - off)
		len = (size_t)(b->size - off);
	memcpy(buf, b->p + off, len);
	return (ssize_t)len;
}

/* A write of len bytes at off: what reads see, and the log. */
static void
file_write(struct memfs *fs, int ino, uint64_t off, const uint8_t *p, uint32_t len)
{
	struct inode *in = &fs->ino[ino];

	bytes_write(&in->cur, off, p, len);
	log_push(in, false, off, p, len);
	fs->st.writes++;
}

static ssize_t
m_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	struct memfs *fs = ctx;
	struct fdesc *d = fd_get(fs, fd);

	if (gone(fs))
		return -EIO;
	if (d == NULL)
		return -EBADF;
	if (fs->ino[d->ino].dir)
		return -EISDIR;
	file_write(fs, d->ino, off, buf, (uint32_t)len);
	return (ssize_t)len;
}

static ssize_t
m_writev(void *ctx, int fd, const struct iovec *iov, int cnt)
{
	struct memfs *fs = ctx;
	struct fdesc *d = fd_get(fs, fd);
	uint64_t total = 0, limit, done = 0;

	if (gone(fs))
		return -EIO;
	if (d == NULL)
		return -EBADF;
	if (fs->ino[d->ino].dir)
		return -EISDIR;
	if (fs->enospc_next) {
		fs->enospc_next = false;
		return -ENOSPC;
	}
	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	limit = total;
	if (fs->fail[MEMFS_FAIL_WRITE]) {
		/* A full disk: part of it goes, then ENOSPC (now, or on the next call). */
		fs->fail[MEMFS_FAIL_WRITE] = false;
		fs->st.faults[MEMFS_FAIL_WRITE]++;
		limit = total != 0 ? rnd(fs) % total : 0;
		if (limit == 0)
			return -ENOSPC;
		fs->enospc_next = true;
	}
	for (int i = 0; i < cnt && done < limit; i++) {
		uint64_t n = iov[i].iov_len < limit - done ? iov[i].iov_len : limit - done;

		file_write(fs, d->ino, d->pos + done, iov[i].iov_base, (uint32_t)n);
		done += n;
	}
	d->pos += done;
	return (ssize_t)done;
}

static int
m_ftruncate(void *ctx, int fd, uint64_t len)
{
	struct memfs *fs = ctx;
	struct fdesc *d = fd_get(fs, fd);
	struct inode *in;

	if (gone(fs))
		return -EIO;
	if (d == NULL)
		return -EBADF;
	in = &fs->ino[d->ino];
	if (in->dir)
		return -EISDIR;
	bytes_resize(&in->cur, len);
	log_push(in, true, len, NULL, 0);
	return 0;
}

static int
file_sync(struct memfs *fs, int ino)
{
	struct inode *in = &fs->ino[ino];

	fs->st.syncs++;
	if (fs->fail[MEMFS_FAIL_FDATASYNC]) {
		/* Writeback failed part-way: what got out stays, the rest is forgotten. */
		fs->fail[MEMFS_FAIL_FDATASYNC] = false;
		fs->st.faults[MEMFS_FAIL_FDATASYNC]++;
		log_commit(in, (uint32_t)rnd_upto(fs, in->nlog));
		return -EIO;
	}
	log_commit(in, in->nlog);
	return 0;
}

static int
dir_sync(struct memfs *fs)
{
	fs->st.dir_syncs++;
	if (fs->fail[MEMFS_FAIL_DIRSYNC]) {
		fs->fail[MEMFS_FAIL_DIRSYNC] = false;
		fs->st.faults[MEMFS_FAIL_DIRSYNC]++;
		ns_commit(fs, (uint32_t)rnd_upto(fs, fs->nns));
		return -EIO;
	}
	ns_commit(fs, fs->nns);
	return 0;
}

static int
m_fdatasync(void *ctx, int fd)
{
	struct memfs *fs = ctx;
	struct fdesc *d = fd_get(fs, fd);

	if (gone(fs))
		return -EIO;
	if (d == NULL)
		return -EBADF;
	return d->ino == 0 ? dir_sync(fs) : file_sync(fs, d->ino);
}

static int
m_syncfs(void *ctx, int fd)
{
	struct memfs *fs = ctx;

	if (gone(fs))
		return -EIO;
	if (fd_get(fs, fd) == NULL)
		return -EBADF;
	for (uint32_t i = 1; i < fs->nino; i++)
		log_commit(&fs->ino[i], fs->ino[i].nlog);
	ns_commit(fs, fs->nns);
	fs->st.syncs++;
	return 0;
}

static int
m_rename(void *ctx, const char *from, const char *to)
{
	struct memfs *fs = ctx;
	const char *a, *b;
	struct ent *e;
	int ino;

	if (gone(fs))
		return -EIO;
	if (resolve(fs, AT_FDCWD, from, &a) != 0 || resolve(fs, AT_FDCWD, to, &b) != 0 ||
	    a == NULL || b == NULL)
		return -ENOENT;
	e = names_find(&fs->cur, a);
	if (e == NULL)
		return -ENOENT;
	ino = e->ino;
	names_del(&fs->cur, a);
	names_set(&fs->cur, b, ino);
	ns_push(fs, NS_RENAME, a, b, ino);
	return 0;
}

static int
m_unlinkat(void *ctx, int dirfd, const char *path)
{
	struct memfs *fs = ctx;
	const char *name;
	int rc;

	if (gone(fs))
		return -EIO;
	rc = resolve(fs, dirfd, path, &name);
	if (rc != 0)
		return rc;
	if (name == NULL)
		return -EISDIR;
	if (names_find(&fs->cur, name) == NULL)
		return -ENOENT;
	names_del(&fs->cur, name);
	ns_push(fs, NS_UNLINK, name, NULL, -1);
	return 0;
}

static int
m_mkdir(void *ctx, const char *path, mode_t mode)
{
	struct memfs *fs = ctx;

	(void)mode;
	if (gone(fs))
		return -EIO;
	return strcmp(path, MEMFS_ROOT) == 0 ? -EEXIST : -EPERM;
}

static int
m_lock(void *ctx, int fd, bool wait)
{
	(void)wait;
	return fd_get(ctx, fd) != NULL ? 0 : -EBADF;
}

static int
m_access(void *ctx, const char *path)
{
	(void)ctx;
	return strcmp(path, MEMFS_ROOT) == 0 ? 0 : -ENOENT;
}

static int
m_list(void *ctx, const char *dir, int (*fn)(void *arg, const char *name), void *arg)
{
	struct memfs *fs = ctx;
	int rc;

	if (gone(fs))
		return -EIO;
	if (strcmp(dir, MEMFS_ROOT) != 0)
		return -ENOENT;
	rc = fn(arg, ".");
	if (rc == 0)
		rc = fn(arg, "..");
	/* By index: fn does not change the names. */
	for (uint32_t i = 0; rc == 0 && i < fs->cur.n; i++)
		rc = fn(arg, fs->cur.e[i].name);
	return rc;
}

static uint64_t
m_now_ns(void *ctx)
{
	return ((struct memfs *)ctx)->now_ns;
}

/* ---- the file system ---- */

struct memfs *
memfs_create(uint64_t seed)
{
	struct memfs *fs = calloc(1, sizeof(*fs));

	if (fs == NULL)
		abort();
	fs->rng = seed * 0x2545f4914f6cdd1dull + 1;
	fs->now_ns = 1000000000ull; /* a second after boot: nothing is "0 ns ago" */
	fs->cur.e = xrealloc(NULL, ENTS_MAX * sizeof(struct ent));
	fs->disk.e = xrealloc(NULL, ENTS_MAX * sizeof(struct ent));
	inode_new(fs, true); /* ROOT, ino 0 */
	fs->io = (struct slc_sink_file_io){
	        .ctx = fs,
	        .openat = m_openat,
	        .close = m_close,
	        .dup = m_dup,
	        .fstat = m_fstat,
	        .stat = m_stat,
	        .pread = m_pread,
	        .pwrite = m_pwrite,
	        .writev = m_writev,
	        .ftruncate = m_ftruncate,
	        .fdatasync = m_fdatasync,
	        .fsync = m_fdatasync,
	        .syncfs = m_syncfs,
	        .rename = m_rename,
	        .unlinkat = m_unlinkat,
	        .mkdir = m_mkdir,
	        .lock = m_lock,
	        .access = m_access,
	        .list = m_list,
	        .now_ns = m_now_ns,
	};
	return fs;
}

void
memfs_destroy(struct memfs *fs)
{
	if (fs == NULL)
		return;
	for (uint32_t i = 0; i < fs->nino; i++) {
		log_clear(&fs->ino[i]);
		free(fs->ino[i].log);
		free(fs->ino[i].cur.p);
		free(fs->ino[i].disk.p);
	}
	free(fs->ino);
	free(fs->nslog);
	free(fs->cur.e);
	free(fs->disk.e);
	free(fs);
}

const struct slc_sink_file_io *
memfs_io(struct memfs *fs)
{
	return &fs->io;
}

void
memfs_fail_next(struct memfs *fs, enum memfs_fault f)
{
	fs->fail[f] = true;
}

void
memfs_clock_advance(struct memfs *fs, uint64_t ns)
{
	fs->now_ns += ns;
}

/* The sectors of [off, off + len): first and last index. */
static void
sectors_of(const struct pend *pd, uint64_t *first, uint64_t *last)
{
	uint64_t end = pd->trunc ? pd->off : pd->off + pd->len;

	*first = pd->off / SECTOR;
	*last = end > 0 ? (end - 1) / SECTOR : 0;
}

/*
 * What the disk has of one file after a crash. Sector by sector (a sector is written
 * whole or not at all, as disks promise), each sector holds the file as it was after some
 * prefix of the log: in order, one prefix for all (the log's next write torn: some of its
 * sectors made it), its size perhaps ahead of its data (zeros where the data did not
 * follow); reordered, a prefix of its own per sector. The size comes from a prefix too.
 */
static void
crash_file(struct memfs *fs, struct inode *in, bool reorder)
{
	uint32_t n = in->nlog, k_size = (uint32_t)rnd_upto(fs, n), k_data = k_size;
	struct bytes img = {0}, out = {0};
	uint64_t nsect, size = 0;
	uint32_t *k;

	if (n == 0)
		return;
	if (!reorder && k_data > 0 && rnd(fs) % 4 == 0)
		k_data--; /* the size got there, the last write's data did not */
	/* The largest the file was at any point: every sector it may have. */
	bytes_copy(&img, &in->disk);
	nsect = (img.size + SECTOR - 1) / SECTOR;
	for (uint32_t i = 0; i < n; i++) {
		pend_apply(&img, &in->log[i]);
		if ((img.size + SECTOR - 1) / SECTOR > nsect)
			nsect = (img.size + SECTOR - 1) / SECTOR;
		if (i + 1 == k_size)
			size = img.size;
	}
	if (k_size == 0)
		size = in->disk.size;
	k = xrealloc(NULL, (nsect + 1) * sizeof(*k));
	for (uint64_t sct = 0; sct < nsect; sct++)
		k[sct] = reorder ? (uint32_t)rnd_upto(fs, n) : k_data;
	if (!reorder && k_data < n) {
		/* Torn: some sectors of the next write made it. */
		uint64_t first, last;

		sectors_of(&in->log[k_data], &first, &last);
		for (uint64_t sct = first; sct <= last && sct < nsect; sct++)
			if (rnd(fs) % 2 == 0) {
				k[sct] = k_data + 1;
				fs->st.torn++;
			}
	}
	if (reorder)
		fs->st.reordered++;
	/* Sector sct is taken from the image after k[sct] entries of the log. */
	bytes_resize(&out, nsect * SECTOR);
	bytes_copy(&img, &in->disk);
	for (uint32_t i = 0; i <= n; i++) {
		if (i > 0)
			pend_apply(&img, &in->log[i - 1]);
		for (uint64_t sct = 0; sct < nsect; sct++) {
			uint64_t a = sct * SECTOR, b = a + SECTOR;

			if (k[sct] != i)
				continue;
			memset(out.p + a, 0, SECTOR);
			if (a < img.size)
				memcpy(out.p + a, img.p + a, (b < img.size ? b : img.size) - a);
		}
	}
	bytes_resize(&out, size);
	bytes_copy(&in->disk, &out);
	bytes_copy(&in->cur, &out);
	log_clear(in);
	free(k);
	free(img.p);
	free(out.p);
}

void
memfs_crash(struct memfs *fs)
{
	/* Out-of-order writeback in one crash in four. */
	bool reorder = rnd(fs) % 4 == 0;

	ns_commit(fs, (uint32_t)rnd_upto(fs, fs->nns));
	fs->nns = 0;
	for (uint32_t i = 1; i < fs->nino; i++)
		crash_file(fs, &fs->ino[i], reorder);
	fs->cur.n = fs->disk.n;
	memcpy(fs->cur.e, fs->disk.e, fs->disk.n * sizeof(struct ent));
	memset(fs->fail, 0, sizeof(fs->fail));
	fs->enospc_next = false;
	fs->crash_in = 0;
	fs->dead = true;
	fs->st.crashes++;
}

void
memfs_crash_at(struct memfs *fs, uint32_t calls)
{
	fs->crash_in = calls;
}

bool
memfs_crashed(const struct memfs *fs)
{
	return fs->dead;
}

void
memfs_reboot(struct memfs *fs)
{
	memset(fs->fds, 0, sizeof(fs->fds));
	fs->dead = false;
}

void
memfs_stats(const struct memfs *fs, struct memfs_stats *out)
{
	*out = fs->st;
}
