/* SPDX-License-Identifier: MIT */
/* io.c: the file sink's file operations as the system calls, and helpers over any table. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h> /* rename */
#include <sys/file.h>
#include <unistd.h>

#include "msg.h" /* slc_mono_ns */
#include "io.h"

static int
sys_openat(void *ctx, int dirfd, const char *path, int flags, mode_t mode)
{
	int fd = openat(dirfd, path, flags, mode);

	(void)ctx;
	return fd >= 0 ? fd : -errno;
}

static int
sys_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd) == 0 ? 0 : -errno;
}

static int
sys_dup(void *ctx, int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	(void)ctx;
	return d >= 0 ? d : -errno;
}

static int
sys_fstat(void *ctx, int fd, struct stat *sb)
{
	(void)ctx;
	return fstat(fd, sb) == 0 ? 0 : -errno;
}

static int
sys_stat(void *ctx, const char *path, struct stat *sb)
{
	(void)ctx;
	return stat(path, sb) == 0 ? 0 : -errno;
}

static ssize_t
sys_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	(void)ctx;
	return n >= 0 ? n : -errno;
}

static ssize_t
sys_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	ssize_t n = pwrite(fd, buf, len, (off_t)off);

	(void)ctx;
	return n >= 0 ? n : -errno;
}

static ssize_t
sys_writev(void *ctx, int fd, const struct iovec *iov, int cnt)
{
	ssize_t n = writev(fd, iov, cnt);

	(void)ctx;
	return n >= 0 ? n : -errno;
}

static int
sys_ftruncate(void *ctx, int fd, uint64_t len)
{
	(void)ctx;
	return ftruncate(fd, (off_t)len) == 0 ? 0 : -errno;
}

static int
sys_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd) == 0 ? 0 : -errno;
}

static int
sys_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd) == 0 ? 0 : -errno;
}

static int
sys_syncfs(void *ctx, int fd)
{
	(void)ctx;
	return syncfs(fd) == 0 ? 0 : -errno;
}

static int
sys_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to) == 0 ? 0 : -errno;
}

static int
sys_unlinkat(void *ctx, int dirfd, const char *path)
{
	(void)ctx;
	return unlinkat(dirfd, path, 0) == 0 ? 0 : -errno;
}

static int
sys_mkdir(void *ctx, const char *path, mode_t mode)
{
	(void)ctx;
	return mkdir(path, mode) == 0 ? 0 : -errno;
}

static int
sys_lock(void *ctx, int fd, bool wait)
{
	(void)ctx;
	return flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) == 0 ? 0 : -errno;
}

static int
sys_access(void *ctx, const char *path)
{
	(void)ctx;
	return faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) == 0 ? 0 : -errno;
}

static int
sys_list(void *ctx, const char *dir, int (*fn)(void *arg, const char *name), void *arg)
{
	struct dirent *de;
	DIR *d;
	int rc;

	(void)ctx;
	d = opendir(dir);
	if (d == NULL)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			rc = -errno;
			break;
		}
		rc = fn(arg, de->d_name);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

static uint64_t
sys_now_ns(void *ctx)
{
	(void)ctx;
	return slc_mono_ns();
}

const struct slc_sink_file_io slc_sink_file_io_sys = {
        .openat = sys_openat,
        .close = sys_close,
        .dup = sys_dup,
        .fstat = sys_fstat,
        .stat = sys_stat,
        .pread = sys_pread,
        .pwrite = sys_pwrite,
        .writev = sys_writev,
        .ftruncate = sys_ftruncate,
        .fdatasync = sys_fdatasync,
        .fsync = sys_fsync,
        .syncfs = sys_syncfs,
        .rename = sys_rename,
        .unlinkat = sys_unlinkat,
        .mkdir = sys_mkdir,
        .lock = sys_lock,
        .access = sys_access,
        .list = sys_list,
        .now_ns = sys_now_ns,
};

/*
 * pwrite or pread of all len bytes: 0, -errno, or -EIO when no byte moves (a read past
 * the end of the file). One loop for both: buf is only read when write is set.
 */
static int
rw_all(const struct slc_sink_file_io *io, int fd, uint8_t *p, size_t len, uint64_t off, bool write)
{
	while (len > 0) {
		ssize_t n = write ? io->pwrite(io->ctx, fd, p, len, off)
		                  : io->pread(io->ctx, fd, p, len, off);

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

int
slc_sink_file_pwrite_all(const struct slc_sink_file_io *io, int fd, const void *buf, size_t len,
                         uint64_t off)
{
	return rw_all(io, fd, (uint8_t *)(uintptr_t)buf, len, off, true);
}

int
slc_sink_file_pread_all(const struct slc_sink_file_io *io, int fd, void *buf, size_t len,
                        uint64_t off)
{
	return rw_all(io, fd, buf, len, off, false);
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

/* A FIFO named like one of our files would block a plain open() until some writer came
 * (start-up and sluice-cat hung on one), and opening a device can have effects of its own:
 * stat first, and O_NONBLOCK in case the name changed in between (fstat then says so). */
int
slc_sink_file_open_regular(const struct slc_sink_file_io *io, const char *path, const char **kind)
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
