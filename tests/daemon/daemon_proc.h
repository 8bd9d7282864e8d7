/* SPDX-License-Identifier: MIT */
/* daemon_proc.h: sluiced as a child process for tests: start, log, metrics, stop, read back. */
#ifndef SLC_TESTS_DAEMON_PROC_H
#define SLC_TESTS_DAEMON_PROC_H

/*
 * Shared by test_sluiced.c, test_hostile.c and test_overload.c. The helpers stop the test
 * with cr_assert_* when the daemon does not do what every test assumes (start, answer a
 * scrape, stop); what a test checks itself is left to it.
 *
 * The daemon's stderr is read into log, a window of the last DPROC_LOG_MAX bytes: read it
 * often enough (dproc_log_pump, or any helper that waits) that the pipe never fills, which
 * would block the daemon's threads in write().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/clock.h" /* slc_mono_ms, the clock of the helpers' deadlines */

#define DPROC_LOG_MAX   (1u << 18)
#define DPROC_PORTS_MAX 16u

struct dproc {
	pid_t pid;
	int err_fd;
	bool eof;                       /* stderr closed: the daemon has exited */
	uint16_t port[DPROC_PORTS_MAX]; /* the --listen ports, in flag order */
	uint32_t nport;
	uint16_t metrics_port; /* 0: --metrics off */
	uint32_t nreactors;    /* from the ready line */
	char dir[64];          /* a scratch folder (dproc_make_dir) or "" */
	size_t log_len;
	char log[DPROC_LOG_MAX + 1]; /* NUL-terminated */
};

/* A fresh folder /tmp/sluiced-test-XXXXXX in d->dir; dproc_remove_dir removes it. */
void dproc_make_dir(struct dproc *d);
void dproc_remove_dir(const char *dir);

/*
 * Spawns SLC_SLUICED with args (NULL-terminated, at most 60), stderr to a pipe, and waits
 * up to 15 s for its "ready:" line; fills the ports. The child inherits the environment
 * (ASAN_OPTIONS, TSAN_OPTIONS) and the rlimits.
 */
void dproc_start(struct dproc *d, const char *const *args);

/* dproc_start, but a daemon that exits (or is not ready in 15 s) is reaped and false
 * returned, its log in d->log: a restart on a port that may still be in use. */
bool dproc_try_start(struct dproc *d, const char *const *args);

/*
 * Runs SLC_SLUICED with args until it exits on its own (a start that must fail): its exit
 * status, and its whole log in d->log. One still running after 10 s is killed, which
 * fails the test, and -1 is returned.
 */
int dproc_run_to_exit(struct dproc *d, const char *const *args);

/* Reads what stderr has without waiting. */
void dproc_log_pump(struct dproc *d);

/* Reads stderr until `until` appears after byte `from` of the log, or timeout_ms passes,
 * or EOF. True when it appeared. */
bool dproc_log_wait(struct dproc *d, size_t from, const char *until, uint32_t timeout_ms);

/* SIGTERM, the rest of the log (30 s at most), and the exit status: the code, or 128 +
 * the signal. */
int dproc_stop(struct dproc *d);

/* Kills it without ceremony (a test that failed half-way). */
void dproc_kill(struct dproc *d);

/* GET path from the metrics endpoint: the HTTP status, the body in buf (NUL-terminated);
 * or -errno (-EPROTO: no HTTP answer). */
int dproc_get(const struct dproc *d, const char *path, char *buf, size_t len);

/* The same with another method ("POST"), an empty body. */
int dproc_http(const struct dproc *d, const char *method, const char *path, char *buf, size_t len);

/* GET /metrics into buf (the body, NUL-terminated). 0, or -errno (-EPROTO: not a 200). */
int dproc_scrape(const struct dproc *d, char *buf, size_t len);

/*
 * The sum of the samples of `name` (the exact family name) whose labels contain every one
 * of the NULL-terminated filters as a substring ("port=\"5140\"", "reason=\"idle\"").
 */
double dproc_metric(const char *text, const char *name, const char *const *filters);

/* Scrapes and sums `name` with the filters (NULL-terminated list, may be NULL). */
uint64_t dproc_metric_now(struct dproc *d, const char *name, const char *const *filters);

/* Scrapes every 50 ms until the sum reaches at least want, or timeout_ms passes; pumps
 * the log meanwhile. Returns the last sum. */
uint64_t dproc_metric_wait(struct dproc *d, const char *name, const char *const *filters,
                           uint64_t want, uint32_t timeout_ms);
/* The same, until the sum has come down to at most want (a gauge going back). */
uint64_t dproc_metric_wait_down(struct dproc *d, const char *name, const char *const *filters,
                                uint64_t want, uint32_t timeout_ms);

/* As dproc_metric_wait (every 100 ms), and a token bucket's upper bound at each scrape: the
 * sum may not exceed burst + rate * (seconds since t0_ms) + 1, the clock read after the
 * scrape (what it read was delivered by then); stops the test when it does. A busy
 * machine delivers less, never more: the bound cannot fail for want of CPU. */
uint64_t dproc_metric_wait_bounded(struct dproc *d, const char *name, const char *const *filters,
                                   uint64_t want, uint64_t burst, uint64_t rate, uint64_t t0_ms,
                                   uint32_t timeout_ms);

/* The descriptors process pid has open now (/proc/PID/fd); stops the test if unreadable. */
uint32_t dproc_fd_count(pid_t pid);

/* A TCP connection to 127.0.0.1:port (blocking), or -1. */
int dproc_connect(uint16_t port);
/* The same from the local address src ("127.0.0.2": a second loopback source), or -1. */
int dproc_connect_from(const char *src, uint16_t port);

/* The local port of a socket: what the daemon's log lines name as the peer's. */
uint16_t dproc_local_port(int fd);

/* Writes all of buf (blocking socket). 0, or -errno. */
int dproc_send_all(int fd, const void *buf, size_t len);

/* Writes n lines "line 000000\n" .. numbered from 0 (n <= 4000). 0, or -errno. */
int dproc_send_lines(int fd, uint32_t n);

/* Waits for the peer to close: reads and drops data until EOF or an error (a reset).
 * True when that happened within timeout_ms. */
bool dproc_wait_closed(int fd, uint32_t timeout_ms);

/*
 * Calls fn for every record of every segment under dir, with the worker that wrote it;
 * stops the test on damage or a torn tail, or a segment without its trailer. Returns the
 * number of records.
 */
uint64_t dproc_for_each_record(const char *dir,
                               void (*fn)(void *ctx, uint32_t worker, const uint8_t *p,
                                          uint32_t len),
                               void *ctx);

#endif /* SLC_TESTS_DAEMON_PROC_H */
