/* SPDX-License-Identifier: MIT */
/* daemon_proc.c: sluiced as a child process for tests: start, log, metrics, stop, read back. */
#include "daemon_proc.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sink_file.h"
#include "child.h"

void
dproc_make_dir(struct dproc *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/sluiced-test-XXXXXX");
	cr_assert_not_null(mkdtemp(d->dir));
}

void
dproc_remove_dir(const char *dir)
{
	char cmd[128];

	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

/* Reads once, waiting up to wait_ms; false at EOF or when nothing came. When the window
 * is full the older half goes: the tests look for recent lines. */
static bool
log_read(struct dproc *d, int wait_ms)
{
	struct pollfd pfd = {.fd = d->err_fd, .events = POLLIN};
	ssize_t n;

	if (d->eof || poll(&pfd, 1, wait_ms) <= 0)
		return false;
	if (d->log_len == DPROC_LOG_MAX) {
		size_t keep = DPROC_LOG_MAX / 2;

		memmove(d->log, d->log + d->log_len - keep, keep);
		d->log_len = keep;
	}
	n = read(d->err_fd, d->log + d->log_len, DPROC_LOG_MAX - d->log_len);
	if (n <= 0) {
		d->eof = true;
		return false;
	}
	d->log_len += (size_t)n;
	d->log[d->log_len] = '\0';
	return true;
}

void
dproc_log_pump(struct dproc *d)
{
	while (log_read(d, 0))
		;
}

bool
dproc_log_wait(struct dproc *d, size_t from, const char *until, uint32_t timeout_ms)
{
	uint64_t end = slc_mono_ms() + timeout_ms;

	for (;;) {
		if (from > d->log_len)
			from = 0; /* the window moved: look at all of it */
		if (until != NULL && strstr(d->log + from, until) != NULL)
			return true;
		if (d->eof || slc_mono_ms() >= end)
			return false;
		log_read(d, 50);
	}
}

/* Spawns SLC_SLUICED with args, its stderr to d->err_fd. */
static void
dproc_spawn(struct dproc *d, const char *const *args)
{
	const char *argv[64] = {SLC_SLUICED};
	int pfd[2], n = 1;

	memset(d, 0, offsetof(struct dproc, dir));
	d->log_len = 0;
	d->log[0] = '\0';
	for (; args[n - 1] != NULL && n < 63; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	d->pid = slc_test_spawn(SLC_SLUICED, argv, -1, pfd[1]);
	cr_assert_gt(d->pid, 0, "spawn: %s", strerror((int)-d->pid));
	close(pfd[1]);
	d->err_fd = pfd[0];
}

int
dproc_run_to_exit(struct dproc *d, const char *const *args)
{
	uint64_t end = slc_mono_ms() + 10000;
	pid_t r;
	int st;

	dproc_spawn(d, args);
	while (!d->eof && slc_mono_ms() < end)
		log_read(d, 50);
	close(d->err_fd);
	/* Its stderr closes a moment before it can be reaped. */
	while ((r = waitpid(d->pid, &st, WNOHANG)) == 0 && slc_mono_ms() < end)
		usleep(10000);
	cr_assert_neq(r, -1, "waitpid: %s", strerror(errno));
	cr_expect(r != 0, "sluiced was still running after 10 s:\n%s", d->log);
	if (r == 0) {
		kill(d->pid, SIGKILL);
		cr_assert_eq(waitpid(d->pid, &st, 0), d->pid);
	}
	d->pid = 0;
	return r == 0 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool
dproc_try_start(struct dproc *d, const char *const *args)
{
	char *p;

	dproc_spawn(d, args);
	if (!dproc_log_wait(d, 0, "ready:", 15000)) {
		/* Exited (its log says why) or hung: either way it is gone when this returns. */
		kill(d->pid, SIGKILL);
		cr_assert_eq(waitpid(d->pid, NULL, 0), d->pid);
		close(d->err_fd);
		d->pid = 0;
		return false;
	}
	p = strstr(d->log, "ready: ");
	d->nreactors = (uint32_t)atoi(p + strlen("ready: "));
	/* "listening on tcp://127.0.0.1:PORT?framing=lines udp://[::1]:PORT; metrics ..." */
	p = strstr(p, "listening on");
	cr_assert_not_null(p);
	while ((p = strstr(p, "://")) != NULL && d->nport < DPROC_PORTS_MAX) {
		char *colon = strchr(p + 3, ']');

		colon = strchr(colon != NULL ? colon : p + 3, ':');
		d->port[d->nport++] = (uint16_t)atoi(colon + 1);
		p = colon;
	}
	p = strstr(d->log, "metrics on port ");
	if (p != NULL)
		d->metrics_port = (uint16_t)atoi(p + strlen("metrics on port "));
	return true;
}

void
dproc_start(struct dproc *d, const char *const *args)
{
	cr_assert(dproc_try_start(d, args), "sluiced did not get ready:\n%s", d->log);
}

int
dproc_stop(struct dproc *d)
{
	uint64_t end = slc_mono_ms() + 30000;
	int st;

	kill(d->pid, SIGTERM);
	while (!d->eof && slc_mono_ms() < end)
		log_read(d, 50);
	if (!d->eof)
		kill(d->pid, SIGKILL);
	cr_assert_eq(waitpid(d->pid, &st, 0), d->pid);
	close(d->err_fd);
	d->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void
dproc_kill(struct dproc *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	close(d->err_fd);
	d->pid = 0;
}

int
dproc_get(const struct dproc *d, const char *path, char *buf, size_t len)
{
	return dproc_http(d, "GET", path, buf, len);
}

int
dproc_http(const struct dproc *d, const char *method, const char *path, char *buf, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(d->metrics_port)};
	char req[256];
	size_t n = 0;
	ssize_t r;
	char *body;
	int fd, status, rlen;

	/* An empty body said as such: a POST without it would leave the server reading. */
	rlen = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nContent-Length: 0\r\n\r\n", method,
	                path);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, req, (size_t)rlen, MSG_NOSIGNAL) != rlen) {
		int e = -errno;

		close(fd);
		return e;
	}
	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || body == NULL)
		return -EPROTO;
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return status;
}

int
dproc_scrape(const struct dproc *d, char *buf, size_t len)
{
	int rc = dproc_get(d, "/metrics", buf, len);

	return rc == 200 ? 0 : rc < 0 ? rc : -EPROTO;
}

double
dproc_metric(const char *text, const char *name, const char *const *filters)
{
	size_t nl = strlen(name);
	double sum = 0;

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);

		if (len > nl && strncmp(line, name, nl) == 0 &&
		    (line[nl] == '{' || line[nl] == ' ')) {
			char buf[1024];
			const char *sp;
			bool ok = true;

			if (len >= sizeof(buf))
				len = sizeof(buf) - 1;
			memcpy(buf, line, len);
			buf[len] = '\0';
			sp = strrchr(buf, ' ');
			for (size_t i = 0; filters != NULL && filters[i] != NULL && ok; i++) {
				const char *at = strstr(buf, filters[i]);

				ok = at != NULL && at < sp;
			}
			if (ok && sp != NULL)
				sum += strtod(sp + 1, NULL);
		}
		line = eol != NULL ? eol + 1 : NULL;
	}
	return sum;
}

uint64_t
dproc_metric_now(struct dproc *d, const char *name, const char *const *filters)
{
	size_t len = 1u << 20;
	char *buf = malloc(len);
	double v;
	int e;

	cr_assert_not_null(buf);
	e = dproc_scrape(d, buf, len);
	if (e != 0) /* the daemon may have died: read what it said last (EOF, or 2 s) */
		dproc_log_wait(d, d->log_len, "\n\n\n", 2000);
	cr_assert_eq(e, 0, "scrape: %s\n%s", strerror(-e), d->log);
	v = dproc_metric(buf, name, filters);
	free(buf);
	return (uint64_t)v;
}

static uint64_t
metric_wait(struct dproc *d, const char *name, const char *const *filters, uint64_t want, bool down,
            uint32_t timeout_ms)
{
	uint64_t end = slc_mono_ms() + timeout_ms, v;

	for (;;) {
		v = dproc_metric_now(d, name, filters);
		if ((down ? v <= want : v >= want) || slc_mono_ms() >= end)
			return v;
		dproc_log_pump(d);
		usleep(50000);
	}
}

uint64_t
dproc_metric_wait(struct dproc *d, const char *name, const char *const *filters, uint64_t want,
                  uint32_t timeout_ms)
{
	return metric_wait(d, name, filters, want, false, timeout_ms);
}

uint64_t
dproc_metric_wait_down(struct dproc *d, const char *name, const char *const *filters, uint64_t want,
                       uint32_t timeout_ms)
{
	return metric_wait(d, name, filters, want, true, timeout_ms);
}

uint64_t
dproc_metric_wait_bounded(struct dproc *d, const char *name, const char *const *filters,
                          uint64_t want, uint64_t burst, uint64_t rate, uint64_t t0_ms,
                          uint32_t timeout_ms)
{
	uint64_t got = 0;

	while (got < want && slc_mono_ms() - t0_ms < timeout_ms) {
		uint64_t bound;

		got = dproc_metric_now(d, name, filters);
		bound = burst + rate * (slc_mono_ms() - t0_ms) / 1000 + 1;
		cr_assert_leq(got, bound, "%s: %llu delivered, the bucket allows at most %llu",
		              name, (unsigned long long)got, (unsigned long long)bound);
		dproc_log_pump(d);
		usleep(100000);
	}
	return got;
}

uint32_t
dproc_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	uint32_t n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	cr_assert_not_null(dir, "%s: %s", path, strerror(errno));
	while ((e = readdir(dir)) != NULL)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

int
dproc_connect(uint16_t port)
{
	return dproc_connect_from(NULL, port);
}

int
dproc_connect_from(const char *src, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in from = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd >= 0 && src != NULL &&
	    (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
	     bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0)) {
		close(fd);
		return -1;
	}
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

uint16_t
dproc_local_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		return 0;
	return ntohs(sa.sin_port);
}

int
dproc_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len != 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int
dproc_send_lines(int fd, uint32_t n)
{
	static char buf[4000 * 12];
	size_t len = 0;

	if (n > 4000)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "line %06u\n", i);
	return dproc_send_all(fd, buf, len);
}

bool
dproc_wait_closed(int fd, uint32_t timeout_ms)
{
	uint64_t end = slc_mono_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = slc_mono_ms();
		ssize_t r;

		if (now >= end)
			return false;
		if (poll(&pfd, 1, (int)(end - now)) <= 0)
			continue;
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
}

uint64_t
dproc_for_each_record(const char *dir,
                      void (*fn)(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len),
                      void *ctx)
{
	struct slc_sink_file_seg *segs;
	uint64_t records = 0;
	size_t n;
	int err;

	err = slc_sink_file_dir_scan(dir, &segs, &n);
	cr_assert_eq(err, 0, "%s: %s", dir, strerror(-err));
	for (size_t i = 0; i < n; i++) {
		char path[512];
		struct slc_sink_file_reader *r;
		struct slc_sink_file_ev ev;

		snprintf(path, sizeof(path), "%s/%s", dir, segs[i].name);
		r = slc_sink_file_reader_open(path, &err);
		cr_assert_not_null(r, "%s: %d", path, err);
		do {
			cr_assert_eq(slc_sink_file_reader_next(r, &ev), 0);
			cr_assert(ev.kind != SLC_SINK_FILE_EV_DAMAGE &&
			                  ev.kind != SLC_SINK_FILE_EV_TORN,
			          "%s: offset %llu: %s", path, (unsigned long long)ev.offset,
			          ev.what);
			if (ev.kind == SLC_SINK_FILE_EV_RECORD) {
				records++;
				fn(ctx, segs[i].worker, ev.payload, ev.payload_len);
			}
		} while (ev.kind != SLC_SINK_FILE_EV_END);
		cr_expect(ev.closed, "%s: no trailer after an orderly stop", path);
		slc_sink_file_reader_close(r);
	}
	free(segs);
	return records;
}
