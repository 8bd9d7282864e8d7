/* SPDX-License-Identifier: MIT */
/* bench_net.c: loopback senders, baseline receivers and thread CPU clocks for bench_reactor. */
#include "bench_net.h"

#include <dirent.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#include "base/clock.h"

#define BENCH_EVENTS     256
#define BENCH_RECV_BYTES 65536
#define BENCH_RECV_MAX   16 /* recv calls per readiness event, for fairness */
/* Whole lines, just under 64 KiB; the buffer holds two such runs so that a send of up to
 * BENCH_TX_CHUNK bytes can start at any offset below BENCH_TX_CHUNK. */
#define BENCH_TX_LINES           655
#define BENCH_TX_CHUNK           (BENCH_TX_LINES * BENCH_LINE_BYTES)
#define BENCH_LISTEN_TAG         UINT32_MAX
#define BENCH_CONNECT_TIMEOUT_MS 10000
#define BENCH_IDLE_POLL_MS       20

static char bench_tx_lines[2 * BENCH_TX_CHUNK];

/* ------------------------------------------------------------------------------------ */
/* Clocks, threads, limits                                                               */
/* ------------------------------------------------------------------------------------ */

void
bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
	exit(EXIT_FAILURE);
}

pid_t
bench_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* utime + stime from /proc/self/task/<tid>/stat, in clock ticks turned into ns. */
static int64_t
bench_tid_cpu_ns_proc(pid_t tid)
{
	char path[64];
	char line[1024];
	unsigned long long utime, stime;
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* comm may hold spaces and parentheses: fields count from the last ')'. Field 3
	 * (state) follows it; utime and stime are fields 14 and 15. */
	p = strrchr(line, ')');
	if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	                        &utime, &stime) != 2)
		return -1;
	return (int64_t)((utime + stime) *
	                 (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/*
 * The kernel's CPU clock of one thread, named by tid: what glibc's pthread_getcpuclockid
 * builds (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) = ~tid << 3 | 4 | 2), usable for any
 * thread of this process, with nanosecond resolution. The reactor's thread is not ours to
 * hold a pthread_t for, hence the tid. /proc's stat (10 ms ticks) if the clock is refused.
 */
int64_t
bench_tid_cpu_ns(pid_t tid)
{
	clockid_t clk = (clockid_t)((~(uint32_t)tid << 3) | 6u);
	struct timespec ts;

	if (clock_gettime(clk, &ts) == 0)
		return (int64_t)slc_timespec_ns(&ts);
	return bench_tid_cpu_ns_proc(tid);
}

int64_t
bench_process_cpu_ns(void)
{
	return (int64_t)slc_process_cpu_ns();
}

int64_t
bench_self_cpu_ns(void)
{
	return (int64_t)slc_thread_cpu_ns();
}

static void
bench_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static pid_t
bench_find_thread_once(const char *comm)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t found = 0;

	if (d == NULL)
		return 0;
	while (found == 0 && (e = readdir(d)) != NULL) {
		char path[300];
		char name[32];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		if (fgets(name, sizeof(name), f) != NULL) {
			name[strcspn(name, "\n")] = '\0';
			if (strcmp(name, comm) == 0)
				found = (pid_t)atoi(e->d_name);
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

pid_t
bench_find_thread(const char *comm, int timeout_ms)
{
	for (int waited = 0;; waited++) {
		pid_t tid = bench_find_thread_once(comm);

		if (tid != 0 || waited >= timeout_ms)
			return tid;
		bench_sleep_ms(1);
	}
}

void
bench_spawn(pthread_t *tid, int cpu, void *(*fn)(void *), void *arg)
{
	int err = bench_thread_create(tid, cpu, fn, arg);

	if (err != 0)
		bench_die("bench_reactor: pthread_create: %s\n", strerror(err));
}

uint64_t
bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return 0;
	}
	return rl.rlim_cur;
}

/* ------------------------------------------------------------------------------------ */
/* Counting                                                                              */
/* ------------------------------------------------------------------------------------ */

int
bench_sink_init(struct bench_sink *s, uint64_t expect, uint32_t msg_len, bool stamp_each)
{
	memset(s, 0, sizeof(*s));
	s->expect = expect;
	s->msg_len = msg_len;
	s->stamp_each = stamp_each;
	s->done_fd = eventfd(0, EFD_CLOEXEC);
	return s->done_fd < 0 ? -errno : 0;
}

void
bench_sink_fini(struct bench_sink *s)
{
	if (s->done_fd >= 0)
		close(s->done_fd);
	s->done_fd = -1;
}

/* ------------------------------------------------------------------------------------ */
/* Sender                                                                                */
/* ------------------------------------------------------------------------------------ */

struct bench_tx_conn {
	int fd;
	uint32_t off;  /* into bench_tx_lines, below BENCH_TX_CHUNK */
	uint64_t left; /* bytes still to send: whole lines */
	bool connected;
};

void
bench_tx_init_lines(void)
{
	for (uint32_t i = 0; i < 2 * BENCH_TX_LINES; i++) {
		char *line = bench_tx_lines + (size_t)i * BENCH_LINE_BYTES;
		int n = snprintf(line, BENCH_LINE_BYTES, "%" PRIu32 " ", i % BENCH_TX_LINES);

		memset(line + n, 'x', (size_t)(BENCH_LINE_BYTES - 1 - n));
		line[BENCH_LINE_BYTES - 1] = '\n';
	}
}

static struct sockaddr_in
bench_loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* Sends on c until the socket is full (false) or the connection is done (true). */
static bool
bench_tx_fill(int ep, struct bench_tx_conn *c)
{
	while (c->left != 0) {
		size_t want = c->left < BENCH_TX_CHUNK ? (size_t)c->left : BENCH_TX_CHUNK;
		ssize_t w = send(c->fd, bench_tx_lines + c->off, want, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return false;
			if (errno == EINTR)
				continue;
			bench_die("bench_reactor: sender: send: %s\n", strerror(errno));
		}
		c->off = (uint32_t)((c->off + (size_t)w) % BENCH_TX_CHUNK);
		c->left -= (uint64_t)w;
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	return true;
}

static void
bench_tx_connect_all(struct bench_tx *tx, int ep)
{
	struct sockaddr_in to = bench_loopback(tx->port);
	struct epoll_event evs[BENCH_EVENTS];
	uint32_t pending = tx->nconns;

	for (uint32_t i = 0; i < tx->nconns; i++) {
		struct bench_tx_conn *c = &tx->conns[i];
		struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.u32 = i};

		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			bench_die("bench_reactor: sender: socket (connection %" PRIu32 "): %s\n", i,
			          strerror(errno));
		if (connect(c->fd, (const struct sockaddr *)&to, sizeof(to)) != 0 &&
		    errno != EINPROGRESS)
			bench_die("bench_reactor: sender: connect to port %u: %s\n",
			          (unsigned)tx->port, strerror(errno));
		/* An edge-triggered EPOLLOUT is reported at once if the socket is already
		 * writable, so a connect that completed at once is seen too. */
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
			bench_die("bench_reactor: sender: epoll_ctl: %s\n", strerror(errno));
	}
	while (pending != 0) {
		int n = epoll_wait(ep, evs, BENCH_EVENTS, BENCH_CONNECT_TIMEOUT_MS);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("bench_reactor: sender: %" PRIu32 " of %" PRIu32
			          " connections not established after %d ms\n",
			          pending, tx->nconns, BENCH_CONNECT_TIMEOUT_MS);
		for (int i = 0; i < n; i++) {
			struct bench_tx_conn *c = &tx->conns[evs[i].data.u32];
			socklen_t len = sizeof(int);
			int err = 0;

			if (c->connected)
				continue;
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
				bench_die("bench_reactor: sender: connect: %s\n",
				          strerror(err ? err : errno));
			c->connected = true;
			pending--;
		}
	}
}

static void
bench_tx_tcp(struct bench_tx *tx)
{
	struct epoll_event evs[BENCH_EVENTS];
	uint32_t active = tx->nconns;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		bench_die("bench_reactor: sender: epoll_create1: %s\n", strerror(errno));
	for (uint32_t i = 0; i < tx->nconns; i++) {
		uint64_t lines = tx->count / tx->nconns + (i < tx->count % tx->nconns ? 1 : 0);

		tx->conns[i] = (struct bench_tx_conn){.fd = -1, .left = lines * BENCH_LINE_BYTES};
	}
	bench_tx_connect_all(tx, ep);
	pthread_barrier_wait(&tx->sync); /* connected */
	pthread_barrier_wait(&tx->sync); /* go */

	int64_t cpu0 = bench_self_cpu_ns();
	tx->start_ns = bench_now_ns();
	for (uint32_t i = 0; i < tx->nconns; i++) {
		if (bench_tx_fill(ep, &tx->conns[i]))
			active--;
	}
	while (active != 0) {
		int n = epoll_wait(ep, evs, BENCH_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			bench_die("bench_reactor: sender: epoll_wait: %s\n", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			struct bench_tx_conn *c = &tx->conns[evs[i].data.u32];

			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				bench_die("bench_reactor: sender: connection %" PRIu32
				          " failed with %" PRIu64 " bytes left to send\n",
				          evs[i].data.u32, c->left);
			if (c->left != 0 && bench_tx_fill(ep, c))
				active--;
		}
	}
	tx->end_ns = bench_now_ns();
	tx->cpu_ns = (uint64_t)(bench_self_cpu_ns() - cpu0);
	close(ep);
}

static void
bench_tx_udp(struct bench_tx *tx)
{
	struct sockaddr_in to = bench_loopback(tx->port);
	struct mmsghdr msgs[BENCH_UDP_BATCH];
	struct iovec iov[BENCH_UDP_BATCH];
	uint64_t left = tx->count;

	tx->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (tx->udp_fd < 0)
		bench_die("bench_reactor: sender: socket: %s\n", strerror(errno));
	if (connect(tx->udp_fd, (const struct sockaddr *)&to, sizeof(to)) != 0)
		bench_die("bench_reactor: sender: connect: %s\n", strerror(errno));
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BENCH_UDP_BATCH; i++) {
		iov[i].iov_base = bench_tx_lines + (size_t)i * BENCH_DGRAM_BYTES;
		iov[i].iov_len = BENCH_DGRAM_BYTES;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	pthread_barrier_wait(&tx->sync); /* connected */
	pthread_barrier_wait(&tx->sync); /* go */

	int64_t cpu0 = bench_self_cpu_ns();
	tx->start_ns = bench_now_ns();
	while (left != 0) {
		unsigned int k = left < BENCH_UDP_BATCH ? (unsigned int)left : BENCH_UDP_BATCH;
		int n = sendmmsg(tx->udp_fd, msgs, k, 0);

		if (n < 0) {
			/* Loopback answers a full device queue with ENOBUFS: try again. */
			if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
				continue;
			bench_die("bench_reactor: sender: sendmmsg: %s\n", strerror(errno));
		}
		left -= (uint64_t)n;
	}
	tx->end_ns = bench_now_ns();
	tx->cpu_ns = (uint64_t)(bench_self_cpu_ns() - cpu0);
}

static void *
bench_tx_main(void *arg)
{
	struct bench_tx *tx = arg;

	tx->tid = bench_gettid();
	if (tx->proto == BENCH_TCP)
		bench_tx_tcp(tx);
	else
		bench_tx_udp(tx);
	return NULL;
}

void
bench_tx_start(struct bench_tx *tx, enum bench_proto proto, uint16_t port, uint32_t nconns,
               uint64_t count, int cpu)
{
	memset(tx, 0, sizeof(*tx));
	tx->proto = proto;
	tx->port = port;
	tx->nconns = proto == BENCH_TCP ? nconns : 1;
	tx->count = count;
	tx->cpu = cpu;
	tx->udp_fd = -1;
	if (proto == BENCH_TCP) {
		tx->conns = calloc(nconns, sizeof(*tx->conns));
		if (tx->conns == NULL)
			bench_die("bench_reactor: out of memory\n");
	}
	pthread_barrier_init(&tx->sync, NULL, 2);
	bench_spawn(&tx->thread, cpu, bench_tx_main, tx);
	pthread_barrier_wait(&tx->sync); /* connected */
}

void
bench_tx_go(struct bench_tx *tx)
{
	pthread_barrier_wait(&tx->sync);
}

void
bench_tx_join(struct bench_tx *tx)
{
	pthread_join(tx->thread, NULL);
	pthread_barrier_destroy(&tx->sync);
}

void
bench_tx_close(struct bench_tx *tx)
{
	if (tx->conns != NULL) {
		for (uint32_t i = 0; i < tx->nconns; i++) {
			if (tx->conns[i].fd >= 0)
				close(tx->conns[i].fd);
		}
		free(tx->conns);
		tx->conns = NULL;
	}
	if (tx->udp_fd >= 0)
		close(tx->udp_fd);
	tx->udp_fd = -1;
}

/* ------------------------------------------------------------------------------------ */
/* Baseline receivers                                                                    */
/* ------------------------------------------------------------------------------------ */

struct bench_rx_conn {
	int fd;
	uint32_t tail_len;
	char *tail; /* BENCH_MAX_FRAME bytes: the start of a line not yet ended */
};

/*
 * Frames one recv's bytes of connection c. Adds the whole lines to *msgs and *bytes.
 * Lines longer than BENCH_MAX_FRAME are refused (the reactor's max_frame; not sent here).
 */
static inline void
bench_rx_frame(struct bench_rx_conn *c, const char *p, size_t n, uint64_t *msgs, uint64_t *bytes)
{
	const char *end = p + n;
	const char *nl;

	if (c->tail_len != 0) {
		size_t head;

		nl = memchr(p, '\n', n);
		head = nl != NULL ? (size_t)(nl - p) : n;
		if (c->tail_len + head > BENCH_MAX_FRAME)
			bench_die("bench_reactor: epoll: a line over %u bytes\n", BENCH_MAX_FRAME);
		memcpy(c->tail + c->tail_len, p, head);
		c->tail_len += (uint32_t)head;
		if (nl == NULL)
			return;
		/* The whole line is c->tail, c->tail_len bytes: one contiguous message, less
		 * a CR before the LF (as the reactor's lines framing). */
		if (c->tail[c->tail_len - 1] == '\r')
			c->tail_len--;
		if (c->tail_len != 0) {
			*msgs += 1;
			*bytes += c->tail_len;
		}
		c->tail_len = 0;
		p = nl + 1;
	}
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		size_t len = (size_t)(nl - p);

		if (len != 0 && p[len - 1] == '\r')
			len--;
		if (len != 0) {
			*msgs += 1;
			*bytes += len;
		}
		p = nl + 1;
	}
	if (p < end) {
		if ((size_t)(end - p) > BENCH_MAX_FRAME)
			bench_die("bench_reactor: epoll: a line over %u bytes\n", BENCH_MAX_FRAME);
		memcpy(c->tail, p, (size_t)(end - p));
		c->tail_len = (uint32_t)(end - p);
	}
}

static void
bench_rx_accept(struct bench_rx *rx, int ep, struct bench_rx_conn *conns, uint32_t *nconns)
{
	for (;;) {
		int fd = accept4(rx->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN};

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			bench_die("bench_reactor: epoll: accept: %s\n", strerror(errno));
		}
		if (*nconns == rx->nconns)
			bench_die("bench_reactor: epoll: more than %" PRIu32 " connections\n",
			          rx->nconns);
		ev.data.u32 = *nconns;
		conns[*nconns].fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			bench_die("bench_reactor: epoll: epoll_ctl: %s\n", strerror(errno));
		(*nconns)++;
		atomic_store_explicit(&rx->accepted, *nconns, memory_order_relaxed);
	}
}

static void
bench_rx_tcp(struct bench_rx *rx)
{
	struct bench_sink *s = rx->sink;
	struct epoll_event evs[BENCH_EVENTS];
	struct epoll_event lev = {.events = EPOLLIN, .data.u32 = BENCH_LISTEN_TAG};
	struct bench_rx_conn *conns = calloc(rx->nconns, sizeof(*conns));
	char *tails = malloc((size_t)rx->nconns * BENCH_MAX_FRAME);
	char *buf = malloc(BENCH_RECV_BYTES);
	uint32_t nconns = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (conns == NULL || tails == NULL || buf == NULL)
		bench_die("bench_reactor: out of memory\n");
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, rx->lfd, &lev) != 0)
		bench_die("bench_reactor: epoll: %s\n", strerror(errno));
	for (uint32_t i = 0; i < rx->nconns; i++)
		conns[i].tail = tails + (size_t)i * BENCH_MAX_FRAME;

	/* Goes on after the last line, idle, until told to stop: the main thread reads this
	 * thread's CPU clock after the count is complete, so the thread must still exist. */
	while (!atomic_load_explicit(&rx->stop, memory_order_relaxed)) {
		int n = epoll_wait(ep, evs, BENCH_EVENTS, BENCH_IDLE_POLL_MS);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			bench_die("bench_reactor: epoll: epoll_wait: %s\n", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			struct bench_rx_conn *c;
			uint64_t msgs = 0, bytes = 0;

			if (evs[i].data.u32 == BENCH_LISTEN_TAG) {
				bench_rx_accept(rx, ep, conns, &nconns);
				continue;
			}
			c = &conns[evs[i].data.u32];
			for (int k = 0; k < BENCH_RECV_MAX; k++) {
				ssize_t r = recv(c->fd, buf, BENCH_RECV_BYTES, 0);

				if (r > 0) {
					bench_rx_frame(c, buf, (size_t)r, &msgs, &bytes);
					if (r < BENCH_RECV_BYTES)
						break;
					continue;
				}
				if (r == 0) {
					/* EOF: only after a run, never inside one. */
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					c->fd = -1;
					break;
				}
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				if (errno == EINTR)
					continue;
				bench_die("bench_reactor: epoll: recv: %s\n", strerror(errno));
			}
			if (msgs != 0)
				bench_sink_add(s, msgs, bytes);
		}
	}
	for (uint32_t i = 0; i < nconns; i++) {
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	}
	close(ep);
	free(buf);
	free(tails);
	free(conns);
}

struct bench_rx_batch {
	struct mmsghdr msgs[BENCH_UDP_BATCH];
	struct iovec iov[BENCH_UDP_BATCH];
	char *bufs;
};

static void
bench_rx_udp_count(struct bench_rx *rx, const struct bench_rx_batch *b, int n)
{
	uint64_t bytes = 0;

	for (int i = 0; i < n; i++) {
		if (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
			bench_die("bench_reactor: recvmmsg: a truncated datagram\n");
		bytes += b->msgs[i].msg_len;
	}
	bench_sink_add(rx->sink, (uint64_t)n, bytes);
}

static void
bench_rx_udp(struct bench_rx *rx)
{
	struct bench_rx_batch b;
	int ep = -1;

	memset(&b, 0, sizeof(b));
	b.bufs = malloc((size_t)BENCH_UDP_BATCH * BENCH_MAX_FRAME);
	if (b.bufs == NULL)
		bench_die("bench_reactor: out of memory\n");
	for (int i = 0; i < BENCH_UDP_BATCH; i++) {
		b.iov[i].iov_base = b.bufs + (size_t)i * BENCH_MAX_FRAME;
		b.iov[i].iov_len = BENCH_MAX_FRAME;
		b.msgs[i].msg_hdr.msg_iov = &b.iov[i];
		b.msgs[i].msg_hdr.msg_iovlen = 1;
	}
	if (rx->udp_epoll) {
		struct epoll_event ev = {.events = EPOLLIN};

		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, rx->lfd, &ev) != 0)
			bench_die("bench_reactor: epoll: %s\n", strerror(errno));
	}

	while (!atomic_load_explicit(&rx->stop, memory_order_relaxed)) {
		int n;

		if (!rx->udp_epoll) {
			n = recvmmsg(rx->lfd, b.msgs, BENCH_UDP_BATCH, MSG_WAITFORONE, NULL);
			if (n > 0) {
				bench_rx_udp_count(rx, &b, n);
				continue;
			}
		} else {
			struct epoll_event ev;

			n = epoll_wait(ep, &ev, 1, BENCH_IDLE_POLL_MS);
			if (n <= 0) {
				if (n < 0 && errno != EINTR)
					bench_die("bench_reactor: epoll_wait: %s\n",
					          strerror(errno));
				continue;
			}
			do {
				n = recvmmsg(rx->lfd, b.msgs, BENCH_UDP_BATCH, MSG_DONTWAIT, NULL);
				if (n > 0)
					bench_rx_udp_count(rx, &b, n);
			} while (n == BENCH_UDP_BATCH);
			if (n >= 0)
				continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			bench_die("bench_reactor: recvmmsg: %s\n", strerror(errno));
	}
	if (ep >= 0)
		close(ep);
	free(b.bufs);
}

static void *
bench_rx_main(void *arg)
{
	struct bench_rx *rx = arg;

	atomic_store_explicit(&rx->tid, bench_gettid(), memory_order_release);
	if (rx->proto == BENCH_TCP)
		bench_rx_tcp(rx);
	else
		bench_rx_udp(rx);
	return NULL;
}

/* SO_RCVBUFFORCE (root or CAP_NET_ADMIN: past net.core.rmem_max), else SO_RCVBUF. */
static void
bench_set_rcvbuf(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) != 0)
		bench_die("bench_reactor: SO_RCVBUF: %s\n", strerror(errno));
}

void
bench_rx_start(struct bench_rx *rx, enum bench_proto proto, bool udp_epoll, uint32_t nconns,
               int cpu, struct bench_sink *sink)
{
	struct sockaddr_in a = bench_loopback(0);
	socklen_t alen = sizeof(a);
	int type = proto == BENCH_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int one = 1;

	memset(rx, 0, sizeof(*rx));
	rx->proto = proto;
	rx->udp_epoll = udp_epoll;
	rx->nconns = nconns;
	rx->cpu = cpu;
	rx->sink = sink;
	/* Non-blocking for the epoll receivers; the blocking recvmmsg one wakes every 20 ms
	 * to look at the stop flag. */
	if (proto == BENCH_TCP || udp_epoll)
		type |= SOCK_NONBLOCK;
	rx->lfd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (rx->lfd < 0)
		bench_die("bench_reactor: socket: %s\n", strerror(errno));
	if (proto == BENCH_UDP) {
		struct timeval tv = {.tv_usec = BENCH_IDLE_POLL_MS * 1000};

		bench_set_rcvbuf(rx->lfd, (int)BENCH_UDP_RCVBUF);
		if (!udp_epoll &&
		    setsockopt(rx->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
			bench_die("bench_reactor: SO_RCVTIMEO: %s\n", strerror(errno));
	} else {
		setsockopt(rx->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (bind(rx->lfd, (const struct sockaddr *)&a, sizeof(a)) != 0 ||
	    (proto == BENCH_TCP && listen(rx->lfd, SOMAXCONN) != 0) ||
	    getsockname(rx->lfd, (struct sockaddr *)&a, &alen) != 0)
		bench_die("bench_reactor: bind/listen on 127.0.0.1: %s\n", strerror(errno));
	rx->port = ntohs(a.sin_port);
	bench_spawn(&rx->thread, cpu, bench_rx_main, rx);
}

pid_t
bench_rx_tid(struct bench_rx *rx)
{
	pid_t tid;

	while ((tid = atomic_load_explicit(&rx->tid, memory_order_acquire)) == 0)
		bench_sleep_ms(1);
	return tid;
}

void
bench_rx_stop(struct bench_rx *rx)
{
	atomic_store_explicit(&rx->stop, true, memory_order_relaxed);
	pthread_join(rx->thread, NULL);
	close(rx->lfd);
	rx->lfd = -1;
}
