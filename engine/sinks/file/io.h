/* SPDX-License-Identifier: MIT */
/* io.h: the file operations of the file sink, as a table a test can replace. */
#ifndef SLC_ENGINE_SINK_FILE_IO_H
#define SLC_ENGINE_SINK_FILE_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Every file operation of the file sink and of its reader goes through one of these
 * tables: the system calls (slc_sink_file_io_sys), or a test's stand-in that keeps files in
 * memory and decides what a crash of the machine keeps of them (tests/engine/sinks/memfs.h). The
 * hot path pays one indirect call per writev, per fdatasync and per clock read, all of
 * which are once per write() batch at most.
 *
 * Each function returns what the system call returns, except that a failure is -errno
 * (never errno): a descriptor, a byte count, or 0. Paths are as the sink builds them: DIR
 * itself, or DIR "/" a name. dirfd is AT_FDCWD or a descriptor of DIR.
 */
struct slc_sink_file_io {
	void *ctx;
	/* openat(2); flags among O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_DIRECTORY,
	 * O_NONBLOCK, O_CLOEXEC. */
	int (*openat)(void *ctx, int dirfd, const char *path, int flags, mode_t mode);
	int (*close)(void *ctx, int fd);
	int (*dup)(void *ctx, int fd); /* F_DUPFD_CLOEXEC */
	int (*fstat)(void *ctx, int fd, struct stat *sb);
	int (*stat)(void *ctx, const char *path, struct stat *sb);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
	ssize_t (*writev)(void *ctx, int fd, const struct iovec *iov,
	                  int cnt); /* at the fd's position */
	int (*ftruncate)(void *ctx, int fd, uint64_t len);
	int (*fdatasync)(void *ctx, int fd);
	int (*fsync)(void *ctx, int fd);  /* of a directory */
	int (*syncfs)(void *ctx, int fd); /* the file system fd is on */
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlinkat)(void *ctx, int dirfd, const char *path);
	int (*mkdir)(void *ctx, const char *path, mode_t mode);
	int (*lock)(void *ctx, int fd, bool wait);  /* flock LOCK_EX; not wait: -EWOULDBLOCK */
	int (*access)(void *ctx, const char *path); /* the directory can be written: W_OK|X_OK */
	/* Calls fn with every name in dir (. and .. too); stops at fn's first non-zero
	 * return, which it returns. 0, fn's value, or -errno of opendir/readdir. */
	int (*list)(void *ctx, const char *dir, int (*fn)(void *arg, const char *name), void *arg);
	uint64_t (*now_ns)(void *ctx); /* CLOCK_MONOTONIC: interval syncs, checkpoint pacing */
};

/* The system calls, CLOCK_MONOTONIC. */
extern const struct slc_sink_file_io slc_sink_file_io_sys;

/* pwrite or pread of all len bytes through io, going on after EINTR and short transfers:
 * 0, the call's -errno, or -EIO when a call moves no byte (pread: the file ends first). */
int slc_sink_file_pwrite_all(const struct slc_sink_file_io *io, int fd, const void *buf, size_t len,
                             uint64_t off);
int slc_sink_file_pread_all(const struct slc_sink_file_io *io, int fd, void *buf, size_t len,
                            uint64_t off);

/*
 * Opens path for reading only if it is a regular file: a fd, or -errno of stat/open, or
 * -EISDIR (a directory) or -EINVAL (a FIFO, socket or device; *kind, when not NULL, says
 * which, in words for a log line), without waiting on a FIFO or opening a device.
 */
int slc_sink_file_open_regular(const struct slc_sink_file_io *io, const char *path,
                               const char **kind);

#endif /* SLC_ENGINE_SINK_FILE_IO_H */
