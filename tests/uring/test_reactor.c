/* SPDX-License-Identifier: MIT */
/* test_reactor.c: the io_uring reactor over real loopback sockets: counts, contents, errors, pauses. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "reactor.h"
#include "ring.h"

#define MAX_CONNS_TRACKED 1024

/*
 * The consumer under test checks what arrives. Every line a test sends is
 * "<conn> <seq> <padding>": the consumer checks that each connection's sequence numbers
 * arrive in order, none missing, and that the padding is intact.
 */
struct sink {
	_Atomic uint64_t msgs;
	_Atomic uint64_t bad;
	uint64_t next_seq[MAX_CONNS_TRACKED];
	/* Optional: a ring to a worker thread that releases (tests the release ring and
	 * pausing); NULL: release on the reactor thread right away. */
	struct slc_ring_spsc *to_worker;
	struct slc_reactor *reactor;
	_Atomic bool worker_stop;
	_Atomic uint32_t worker_delay_us;
	/* Optional (limited): deliver takes at most `room` messages, a pool that frees room
	 * only when the test says; per_conn counts what it took by the lines' <conn>. */
	bool limited;
	_Atomic uint64_t room;
	_Atomic uint64_t per_conn[8];
};

static bool
check_line(struct sink *s, const uint8_t *d, uint32_t len)
{
	char buf[256];
	unsigned conn;
	unsigned long long seq;
	int used = 0;

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, d, len);
	buf[len] = '\0';
	if (sscanf(buf, "%u %llu %n", &conn, &seq, &used) != 2 || conn >= MAX_CONNS_TRACKED)
		return false;
	for (uint32_t i = (uint32_t)used; i < len; i++)
		if (buf[i] != (char)('a' + (seq + i) % 26))
			return false;
	if (s->next_seq[conn] != seq)
		return false;
	s->next_seq[conn]++;
	return true;
}

static uint32_t
deliver(void *ctx, struct slc_reactor *r, struct slc_msg *msgs, uint32_t n)
{
	struct sink *s = ctx;
	uint32_t taken = n;

	if (s->to_worker != NULL)
		taken = slc_ring_spsc_enqueue_burst(s->to_worker, msgs, n);
	if (s->limited) {
		uint64_t room = atomic_load(&s->room);

		taken = room < n ? (uint32_t)room : n;
		atomic_fetch_sub(&s->room, taken);
	}
	for (uint32_t i = 0; i < taken; i++) {
		if (!check_line(s, msgs[i].data, msgs[i].len))
			atomic_fetch_add(&s->bad, 1);
		if (msgs[i].data[0] >= '0' && msgs[i].data[0] < '8')
			atomic_fetch_add(&s->per_conn[msgs[i].data[0] - '0'], 1);
	}
	atomic_fetch_add(&s->msgs, taken);
	if (s->to_worker == NULL)
		slc_reactor_release(r, msgs, taken);
	return taken;
}

static void *
worker(void *arg)
{
	struct sink *s = arg;
	struct slc_msg m[16];

	while (!atomic_load(&s->worker_stop)) {
		uint32_t n = slc_ring_spsc_dequeue_burst(s->to_worker, m, 16);
		uint32_t delay = atomic_load(&s->worker_delay_us);

		if (n == 0) {
			sched_yield();
			continue;
		}
		if (delay != 0)
			usleep(delay);
		slc_reactor_release(s->reactor, m, n);
		slc_reactor_kick(s->reactor);
	}
	return NULL;
}

static struct slc_reactor_cfg
base_cfg(struct slc_listener_cfg *l, uint32_t nl, struct sink *s)
{
	return (struct slc_reactor_cfg){
	        .id = 3,
	        .cpu = -1,
	        .node = -1,
	        .buffers = 64,
	        .buffer_size = 4096,
	        .udp_buffers = 64,
	        .reasm_bytes = 0,
	        .max_frame = 1024,
	        .max_conns = 256,
	        .listeners = l,
	        .nlisteners = nl,
	        .ops = {.deliver = deliver, .ctx = s},
	};
}

static struct slc_listener_cfg
listener(enum slc_listener_proto proto, enum slc_frame_format f)
{
	struct slc_listener_cfg l = {.proto = proto, .framing = f};
	struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = 0;
	l.addrlen = sizeof(*sin);
	return l;
}

static int
connect_to(uint16_t port, int type)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, type, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "connect: %s",
	             strerror(errno));
	return fd;
}

/* Appends line seq of connection conn ("<conn> <seq> <padding>\n", len bytes with LF). */
static size_t
make_line(char *out, unsigned conn, uint64_t seq, size_t len)
{
	int n = snprintf(out, len, "%u %llu ", conn, (unsigned long long)seq);

	for (size_t i = (size_t)n; i < len - 1; i++)
		out[i] = (char)('a' + (seq + i) % 26);
	out[len - 1] = '\n';
	return len;
}

static void
send_all(int fd, const char *p, size_t len)
{
	while (len != 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Sends lines on fds[0..nconn) interleaved, in writes of varying sizes so that lines
 * straddle receive buffers. */
static void
send_lines_from(int *fds, unsigned nconn, uint64_t first, uint64_t end, size_t line_len)
{
	static char buf[1 << 16];
	uint32_t x = 2463534242u;

	for (uint64_t base = first; base < end; base += 64) {
		for (unsigned c = 0; c < nconn; c++) {
			size_t off = 0;

			for (uint64_t s = base; s < base + 64 && s < end; s++) {
				size_t len = line_len;

				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				if (line_len == 0)
					len = 20 + x % 200;
				off += make_line(buf + off, c, s, len);
			}
			send_all(fds[c], buf, off);
		}
	}
}

static void
send_lines(int *fds, unsigned nconn, uint64_t lines_per_conn, size_t line_len)
{
	send_lines_from(fds, nconn, 0, lines_per_conn, line_len);
}

static bool
wait_for(const _Atomic uint64_t *v, uint64_t want, int seconds)
{
	for (int i = 0; i < seconds * 1000; i++) {
		if (atomic_load(v) >= want)
			return true;
		usleep(1000);
	}
	return atomic_load(v) >= want;
}

static void
run_tcp(unsigned nconn, uint64_t lines_per_conn, size_t line_len, uint32_t buffer_size)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	struct slc_reactor *r;
	int err, *fds = calloc(nconn, sizeof(int));
	const struct slc_listener_stats *ls;

	cfg.buffer_size = buffer_size;
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "create: %s", strerror(-err));
	cr_assert_eq(slc_reactor_start(r), 0);
	for (unsigned c = 0; c < nconn; c++)
		fds[c] = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
	send_lines(fds, nconn, lines_per_conn, line_len);
	for (unsigned c = 0; c < nconn; c++)
		close(fds[c]);
	cr_expect(wait_for(&s.msgs, nconn * lines_per_conn, 30), "got %llu of %llu lines",
	          (unsigned long long)atomic_load(&s.msgs),
	          (unsigned long long)(nconn * lines_per_conn));
	ls = slc_reactor_listener_stats(r, 0);
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_EOF], nconn, 10), "every connection closed");
	slc_reactor_stop(r, 1000);
	cr_expect_eq(atomic_load(&s.bad), 0, "lines out of order or damaged");
	cr_expect_eq(atomic_load(&s.msgs), nconn * lines_per_conn);
	for (unsigned c = 0; c < nconn; c++)
		cr_expect_eq(s.next_seq[c], lines_per_conn, "connection %u", c);
	cr_expect_eq(atomic_load(&ls->accepted), nconn);
	cr_expect_eq(atomic_load(&ls->closed[SLC_CLOSE_EOF]), nconn);
	cr_expect_eq(atomic_load(&ls->open), 0);
	cr_expect_eq(atomic_load(&ls->msgs), nconn * lines_per_conn);
	slc_reactor_destroy(r);
	free(fds);
}

Test(reactor, tcp_one_connection_exact)
{
	run_tcp(1, 200000, 100, 4096);
}

Test(reactor, tcp_hundred_connections_exact)
{
	run_tcp(100, 2000, 100, 4096);
}

/* Buffers barely bigger than the lines: most lines straddle two buffers. */
Test(reactor, tcp_lines_straddling_small_buffers)
{
	run_tcp(4, 5000, 0, 256);
}

Test(reactor, features_line_names_what_is_in_use)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	int err;
	struct slc_reactor *r = slc_reactor_create(&cfg, &err);
	const char *f;

	cr_assert_not_null(r);
	f = slc_reactor_features_str(r);
	fprintf(stderr, "%s\n", f);
	cr_expect(strstr(f, "bundles=") != NULL, "%s", f);
	cr_expect(strstr(f, "incremental_buffers=") != NULL, "%s", f);
	slc_reactor_destroy(r);

	/* Switched off by configuration, the same loop still works without them. */
	cfg.features_off = SLC_REACTOR_F_BUNDLE | SLC_REACTOR_F_INC | SLC_REACTOR_F_DEFER |
	                   SLC_REACTOR_F_RING_FD;
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r);
	f = slc_reactor_features_str(r);
	cr_expect(strstr(f, "bundles=no") != NULL, "%s", f);
	cr_expect(strstr(f, "incremental_buffers=no") != NULL, "%s", f);
	cr_expect(strstr(f, "defer_taskrun=no") != NULL, "%s", f);
	cr_assert_eq(slc_reactor_start(r), 0);
	{
		int fd = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);

		send_lines(&fd, 1, 20000, 100);
		close(fd);
	}
	cr_expect(wait_for(&s.msgs, 20000, 30));
	cr_expect_eq(atomic_load(&s.bad), 0);
	slc_reactor_destroy(r);
}

Test(reactor, garbage_closes_one_connection_others_continue)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	const struct slc_listener_stats *ls;
	struct slc_reactor *r;
	int err, good, bad;
	char c, junk[3000];

	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r);
	slc_reactor_start(r);
	good = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
	bad = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
	send_lines(&good, 1, 1000, 100);
	memset(junk, 'x', sizeof(junk)); /* no LF within max_frame (1024) */
	send_all(bad, junk, sizeof(junk));
	cr_expect_eq(recv(bad, &c, 1, 0), 0, "the bad connection is closed by the reactor");
	send_lines_from(&good, 1, 1000, 2000, 100);
	close(good);
	close(bad);
	ls = slc_reactor_listener_stats(r, 0);
	cr_expect(wait_for(&ls->closed[SLC_CLOSE_EOF], 1, 10));
	slc_reactor_stop(r, 1000);
	cr_expect_eq(atomic_load(&ls->closed[SLC_CLOSE_FRAMING]), 1);
	cr_expect_eq(atomic_load(&ls->frames_rejected[SLC_FRAME_ERR_OVERSIZE]), 1);
	cr_expect_eq(atomic_load(&ls->closed[SLC_CLOSE_EOF]), 1);
	cr_expect_eq(atomic_load(&s.msgs), 2000, "the good connection lost nothing");
	cr_expect_eq(atomic_load(&s.bad), 0);
	slc_reactor_destroy(r);
}

/* A worker that takes messages slowly through a small ring: the connection pauses when
 * the ring is full and resumes when it drains, and nothing is lost or reordered. */
Test(reactor, paused_connection_resumes_and_loses_nothing)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	size_t rlen = slc_ring_spsc_memsize(64, sizeof(struct slc_msg));
	pthread_t tid;
	struct slc_reactor *r;
	int err, fds[2];

	s.to_worker = aligned_alloc(SLC_RING_ALIGN, rlen);
	cr_assert_eq(slc_ring_spsc_init(s.to_worker, 64, sizeof(struct slc_msg)), 0);
	atomic_store(&s.worker_delay_us, 200);
	cfg.buffer_size = 512; /* straddles too */
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r);
	s.reactor = r;
	slc_reactor_start(r);
	pthread_create(&tid, NULL, worker, &s);
	fds[0] = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
	fds[1] = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
	send_lines(fds, 2, 3000, 0);
	/* The worker stays slow until the ring has filled and the reactor paused: lifting it
	 * as soon as the lines are written raced the reactor (on a busy machine it had not
	 * read them yet, so nothing ever paused). */
	cr_expect(wait_for(&slc_reactor_stats(r)->pauses, 1, 60), "the ring really filled up");
	atomic_store(&s.worker_delay_us, 0);
	close(fds[0]);
	close(fds[1]);
	cr_expect(wait_for(&s.msgs, 6000, 60), "got %llu of 6000",
	          (unsigned long long)atomic_load(&s.msgs));
	slc_reactor_stop(r, 1000);
	atomic_store(&s.worker_stop, true);
	pthread_join(tid, NULL);
	cr_expect_eq(atomic_load(&s.bad), 0);
	cr_expect_eq(s.next_seq[0], 3000);
	cr_expect_eq(s.next_seq[1], 3000);
	slc_reactor_destroy(r);
	free(s.to_worker);
}

/* One client per connection: FAIR_LINES lines of 40 bytes, with blocking sends. */
#define FAIR_CONNS 4u
#define FAIR_LINES 5000u
/* Releases of room for 200 messages: a share of 400 each, six turns of 64, so that a turn
 * more or less (a release that comes in the middle of a pass) stays well inside 2x. */
#define FAIR_ROUNDS 8u

struct feeder {
	int fd;
	unsigned conn;
	int err;
	pthread_t t;
};

/* Sends all the connection's lines in one write, so that the reactor's first receive
 * takes far more than the three rounds of the test need (a connection that ran out of
 * held bytes mid-turn would go to the back of the queue, by the fairness rule, and the
 * test would measure the sender's timing instead). */
static void *
feeder_main(void *arg)
{
	struct feeder *f = arg;
	char *buf = malloc((size_t)FAIR_LINES * 40);
	size_t off = 0;

	if (buf == NULL) {
		f->err = ENOMEM;
		return NULL;
	}
	for (uint64_t q = 0; q < FAIR_LINES; q++)
		off += make_line(buf + off, f->conn, q, 40);
	for (size_t done = 0; done < off;) {
		ssize_t n = send(f->fd, buf + done, off - done, MSG_NOSIGNAL);

		if (n <= 0) {
			f->err = errno;
			break;
		}
		done += (size_t)n;
	}
	free(buf);
	return NULL;
}

/*
 * Connections that wait for the same full pool take turns (docs/architecture.md,
 * "Backpressure"): the pool frees room for 200 messages eight times, while four
 * connections hold far more each. Every connection gets within 2x of the mean share,
 * although no release frees a multiple of a turn: a turn that the pool cut short goes on
 * at the next release. Served in queue order, the first connection would take it all; in
 * turns that start over at every release, the last would get 8 of each 200.
 */
Test(reactor, paused_connections_take_turns_for_room, .timeout = 60)
{
	struct sink s = {.limited = true};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	struct feeder f[FAIR_CONNS];
	const struct slc_reactor_stats *st;
	uint64_t got[FAIR_CONNS], total = 0;
	struct slc_reactor *r;
	int err;

	/* Room in the receive buffers for all the lines (4 MiB): connections wait for the
	 * pool here, not for buffers. */
	cfg.buffers = 1024;
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "create: %s", strerror(-err));
	cr_assert_eq(slc_reactor_start(r), 0);
	st = slc_reactor_stats(r);
	for (unsigned c = 0; c < FAIR_CONNS; c++) {
		f[c] = (struct feeder){
		        .fd = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM), .conn = c};
		cr_assert_eq(pthread_create(&f[c].t, NULL, feeder_main, &f[c]), 0);
	}
	/* No room yet: each connection pauses at its first bytes. */
	cr_assert(wait_for(&st->paused, FAIR_CONNS, 30), "%llu of %u connections paused",
	          (unsigned long long)atomic_load(&st->paused), FAIR_CONNS);
	for (uint64_t round = 1; round <= FAIR_ROUNDS; round++) {
		atomic_fetch_add(&s.room, 200);
		slc_reactor_kick(r);
		cr_assert(wait_for(&s.msgs, 200 * round, 30), "round %llu: %llu messages",
		          (unsigned long long)round, (unsigned long long)atomic_load(&s.msgs));
	}
	for (unsigned c = 0; c < FAIR_CONNS; c++) {
		got[c] = atomic_load(&s.per_conn[c]);
		total += got[c];
	}
	fprintf(stderr, "turns: per connection %llu %llu %llu %llu of %llu\n",
	        (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2],
	        (unsigned long long)got[3], (unsigned long long)total);
	cr_expect_eq(total, 200u * FAIR_ROUNDS);
	for (unsigned c = 0; c < FAIR_CONNS; c++)
		cr_expect(got[c] * FAIR_CONNS * 2 >= total && got[c] * FAIR_CONNS <= 2 * total,
		          "connection %u got %llu of %llu; per connection: %llu %llu %llu %llu", c,
		          (unsigned long long)got[c], (unsigned long long)total,
		          (unsigned long long)got[0], (unsigned long long)got[1],
		          (unsigned long long)got[2], (unsigned long long)got[3]);
	/* Then room for everything: nothing lost or out of order across the turns. */
	atomic_store(&s.room, UINT64_MAX / 2);
	slc_reactor_kick(r);
	for (unsigned c = 0; c < FAIR_CONNS; c++) {
		pthread_join(f[c].t, NULL);
		cr_expect_eq(f[c].err, 0, "send: %s", strerror(f[c].err));
		close(f[c].fd);
	}
	cr_expect(wait_for(&s.msgs, FAIR_CONNS * FAIR_LINES, 60), "got %llu of %u",
	          (unsigned long long)atomic_load(&s.msgs), FAIR_CONNS * FAIR_LINES);
	slc_reactor_stop(r, 1000);
	cr_expect_eq(atomic_load(&s.bad), 0, "lines out of order or damaged");
	for (unsigned c = 0; c < FAIR_CONNS; c++)
		cr_expect_eq(s.next_seq[c], FAIR_LINES, "connection %u", c);
	slc_reactor_destroy(r);
}

Test(reactor, udp_datagrams_arrive)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_UDP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	const struct slc_listener_stats *ls;
	struct slc_reactor *r;
	char line[128], big[2048];
	int err, fd;

	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "%s", strerror(-err));
	slc_reactor_start(r);
	fd = connect_to(slc_reactor_listener_port(r, 0), SOCK_DGRAM);
	for (uint64_t i = 0; i < 2000; i++) {
		size_t n = make_line(line, 0, i, 100);

		/* The datagram is the frame: no LF needed, none stripped. */
		cr_assert_eq(send(fd, line, n - 1, 0), (ssize_t)n - 1);
		if (i % 32 == 31)
			wait_for(&s.msgs, i + 1, 5); /* loopback UDP drops when we outrun it */
	}
	memset(big, 'x', sizeof(big));
	send(fd, big, sizeof(big), 0); /* over max_frame: dropped, counted */
	ls = slc_reactor_listener_stats(r, 0);
	cr_expect(wait_for(&ls->udp_drops[SLC_UDP_DROP_OVERSIZE], 1, 10));
	cr_expect(wait_for(&s.msgs, 2000, 10));
	slc_reactor_stop(r, 1000);
	cr_expect_eq(atomic_load(&s.bad), 0);
	cr_expect_eq(atomic_load(&s.msgs), 2000);
	cr_expect_eq(atomic_load(&ls->frames_rejected[SLC_FRAME_ERR_OVERSIZE]), 1);
	close(fd);
	slc_reactor_destroy(r);
}

/* Datagrams the consumer refuses are dropped and counted by reason: every datagram sent
 * is taken, dropped with the pools full, or dropped by the kernel, and the counts add up. */
Test(reactor, udp_datagrams_refused_by_full_pools_are_counted)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_UDP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	size_t rlen = slc_ring_spsc_memsize(16, sizeof(struct slc_msg));
	const struct slc_listener_stats *ls;
	struct slc_reactor *r;
	pthread_t tid;
	int err, fd;
	uint64_t sum = 0;

	s.to_worker = aligned_alloc(SLC_RING_ALIGN, rlen);
	cr_assert_eq(slc_ring_spsc_init(s.to_worker, 16, sizeof(struct slc_msg)), 0);
	atomic_store(&s.worker_delay_us, 2000);
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "create: %s", strerror(-err));
	s.reactor = r;
	slc_reactor_start(r);
	pthread_create(&tid, NULL, worker, &s);
	fd = connect_to(slc_reactor_listener_port(r, 0), SOCK_DGRAM);
	for (uint64_t i = 0; i < 2000; i++) {
		char line[128];
		size_t n = make_line(line, 0, i, 100);

		cr_assert_eq(send(fd, line, n - 1, 0), (ssize_t)n - 1);
	}
	ls = slc_reactor_listener_stats(r, 0);
	for (int i = 0; i < 10000 && sum < 2000; i++) {
		usleep(1000);
		sum = atomic_load(&s.msgs) + atomic_load(&ls->udp_drops[SLC_UDP_DROP_POOLS_FULL]) +
		      atomic_load(&ls->udp_kernel_drops);
	}
	cr_expect_eq(sum, 2000, "taken %llu + dropped, pools full %llu + kernel %llu",
	             (unsigned long long)atomic_load(&s.msgs),
	             (unsigned long long)atomic_load(&ls->udp_drops[SLC_UDP_DROP_POOLS_FULL]),
	             (unsigned long long)atomic_load(&ls->udp_kernel_drops));
	cr_expect_gt(atomic_load(&ls->udp_drops[SLC_UDP_DROP_POOLS_FULL]), 0,
	             "a 16-slot ring with a slow consumer refused some");
	atomic_store(&s.worker_delay_us, 0);
	slc_reactor_stop(r, 1000);
	atomic_store(&s.worker_stop, true);
	pthread_join(tid, NULL);
	close(fd);
	slc_reactor_destroy(r);
	free(s.to_worker);
}

Test(reactor, max_conns_refuses_and_idle_timeout_closes)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	const struct slc_listener_stats *ls;
	struct slc_reactor *r;
	int err, fds[6];
	char c;

	cfg.max_conns = 4;
	cfg.idle_timeout_ms = 300;
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r);
	slc_reactor_start(r);
	ls = slc_reactor_listener_stats(r, 0);
	for (int i = 0; i < 6; i++)
		fds[i] = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
	cr_expect(wait_for(&ls->refused, 2, 10), "two over the limit are refused");
	cr_expect_eq(atomic_load(&ls->accepted), 4);
	send_all(fds[0], "0 0 partial", 11); /* only part of a frame: still idle */
	for (int i = 0; i < 4; i++)
		cr_expect_eq(recv(fds[i], &c, 1, 0), 0, "closed for idleness");
	cr_expect_eq(atomic_load(&ls->closed[SLC_CLOSE_IDLE]), 4);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	slc_reactor_destroy(r);
}

/* Out of descriptors: accept fails with EMFILE, the reactor counts it, logs, keeps running,
 * and accepts the waiting connections once descriptors are available again. The kernel
 * reads the limit when an accept is armed, so it is lowered before the reactor starts. */
Test(reactor, emfile_keeps_the_reactor_running)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	const struct slc_listener_stats *ls;
	struct rlimit old, low;
	struct slc_reactor *r;
	int err, fd, status, go[2];
	pid_t child;
	char c = 0;

	cr_assert_eq(pipe(go), 0);
	fd = dup(0);
	cr_assert_geq(fd, 0);
	close(fd);
	getrlimit(RLIMIT_NOFILE, &old);
	/* The reactor's ring, eventfd and listener, and two connections. */
	low = old;
	low.rlim_cur = (rlim_t)fd + 5;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "%s", strerror(-err));
	slc_reactor_start(r);
	ls = slc_reactor_listener_stats(r, 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		/* The clients live in another process with the old limit. */
		int fds[5];

		setrlimit(RLIMIT_NOFILE, &old);
		for (int i = 0; i < 5; i++)
			fds[i] = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
		for (int i = 0; i < 5; i++)
			send_lines(&fds[i], 1, 10, 50);
		if (read(go[0], &c, 1) != 1) /* the parent says when to hang up */
			_exit(1);
		_exit(0);
	}
	cr_expect(wait_for(&ls->refused, 1, 10), "accept ran out of descriptors");
	cr_expect_lt(atomic_load(&ls->accepted), 5, "not every connection got in");
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_expect(wait_for(&ls->accepted, 5, 10), "the rest accepted after the back-off: %llu",
	          (unsigned long long)atomic_load(&ls->accepted));
	cr_expect(wait_for(&s.msgs, 50, 10), "and their lines arrived: %llu",
	          (unsigned long long)atomic_load(&s.msgs));
	cr_assert_eq(write(go[1], &c, 1), 1);
	waitpid(child, &status, 0);
	slc_reactor_destroy(r);
	close(go[0]);
	close(go[1]);
}

/* What the reactor logged, for tests that check its words; written by the reactor thread. */
struct log_capture {
	pthread_mutex_t lock;
	char text[4096];
	size_t len;
};

static void __attribute__((format(printf, 3, 4)))
capture_log(void *ctx, int level, const char *fmt, ...)
{
	struct log_capture *lc = ctx;
	va_list ap;
	int n;

	(void)level;
	pthread_mutex_lock(&lc->lock);
	va_start(ap, fmt);
	n = vsnprintf(lc->text + lc->len, sizeof(lc->text) - lc->len, fmt, ap);
	va_end(ap);
	if (n > 0) /* cut short: keep what fit */
		lc->len = lc->len + (size_t)n < sizeof(lc->text) ? lc->len + (size_t)n
		                                                 : sizeof(lc->text) - 1;
	if (lc->len + 1 < sizeof(lc->text))
		lc->text[lc->len++] = '\n';
	lc->text[lc->len] = '\0';
	pthread_mutex_unlock(&lc->lock);
}

static bool
log_has(struct log_capture *lc, const char *want)
{
	for (int i = 0; i < 1000; i++) {
		bool found;

		pthread_mutex_lock(&lc->lock);
		found = strstr(lc->text, want) != NULL;
		pthread_mutex_unlock(&lc->lock);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

/* IPv6 peers are named "[v6]:port" in log lines: a TCP peer closed for a framing error,
 * and the sender of a UDP datagram dropped as too long (printed as "?" before). */
Test(reactor, ipv6_peers_are_named_in_brackets)
{
	struct sink s = {0};
	struct log_capture lc = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct slc_listener_cfg l[2] = {listener(SLC_LISTENER_TCP, SLC_FRAME_LINES),
	                                listener(SLC_LISTENER_UDP, SLC_FRAME_LINES)};
	struct slc_reactor_cfg cfg = base_cfg(l, 2, &s);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t alen = sizeof(a);
	struct slc_reactor *r;
	char big[2048], want[64];
	int err, tcp, udp;

	for (int i = 0; i < 2; i++) {
		memset(&l[i].addr, 0, sizeof(l[i].addr));
		memcpy(&l[i].addr, &a, sizeof(a));
		l[i].addrlen = sizeof(a);
	}
	cfg.log = capture_log;
	cfg.log_ctx = &lc;
	r = slc_reactor_create(&cfg, &err);
	if (r == NULL && (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT))
		cr_skip_test("no IPv6 loopback here (%s)", strerror(-err));
	cr_assert_not_null(r, "%s", strerror(-err));
	slc_reactor_start(r);
	memset(big, 'x', sizeof(big));

	a.sin6_port = htons(slc_reactor_listener_port(r, 0));
	tcp = socket(AF_INET6, SOCK_STREAM, 0);
	cr_assert_geq(tcp, 0);
	cr_assert_eq(connect(tcp, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	send_all(tcp, big, sizeof(big)); /* no LF within max_frame: a framing error */
	cr_assert_eq(getsockname(tcp, (struct sockaddr *)&a, &alen), 0);
	snprintf(want, sizeof(want), "closing [::1]:%u: ", ntohs(a.sin6_port));
	cr_expect(log_has(&lc, want), "no \"%s\" in:\n%s", want, lc.text);

	a.sin6_addr = in6addr_loopback;
	a.sin6_port = htons(slc_reactor_listener_port(r, 1));
	udp = socket(AF_INET6, SOCK_DGRAM, 0);
	cr_assert_geq(udp, 0);
	cr_assert_eq(connect(udp, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	cr_assert_eq(send(udp, big, sizeof(big), 0), (ssize_t)sizeof(big));
	alen = sizeof(a);
	cr_assert_eq(getsockname(udp, (struct sockaddr *)&a, &alen), 0);
	snprintf(want, sizeof(want), "dropped a datagram from [::1]:%u: over max-frame",
	         ntohs(a.sin6_port));
	cr_expect(log_has(&lc, want), "no \"%s\" in:\n%s", want, lc.text);

	slc_reactor_stop(r, 1000);
	close(tcp);
	close(udp);
	slc_reactor_destroy(r);
}

/* ---- the receive path's start-up self-check (uring/selfcheck.c) ---------------------- */

/* A reactor whose self-check sees garbled bytes under the features in fault (the test
 * hook): what it reports, and that it still receives every line intact. */
static void
selfcheck_case(uint32_t fault, const char *bundles, const char *inc, const char *logged)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	struct log_capture lc = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct slc_reactor *r;
	const char *f;
	int err, fd;

	cfg.log = capture_log;
	cfg.log_ctx = &lc;
	cfg.selfcheck_fault = fault;
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "%s", strerror(-err));
	f = slc_reactor_features_str(r);
	cr_expect(strstr(f, bundles) != NULL, "%s", f);
	cr_expect(strstr(f, inc) != NULL, "%s", f);
	cr_expect(strstr(f, "receive_self_check=switched-off") != NULL, "%s", f);
	cr_expect(log_has(&lc, logged), "log:\n%s", lc.text);
	cr_assert_eq(slc_reactor_start(r), 0);
	fd = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
	send_lines(&fd, 1, 20000, 100);
	close(fd);
	cr_expect(wait_for(&s.msgs, 20000, 30));
	cr_expect_eq(atomic_load(&s.bad), 0);
	slc_reactor_destroy(r);
}

/* Skips (a platform lack) where the kernel offers neither feature: nothing to check. */
static void
selfcheck_needs_both(void)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	int err;
	struct slc_reactor *r = slc_reactor_create(&cfg, &err);
	uint32_t both = SLC_REACTOR_F_BUNDLE | SLC_REACTOR_F_INC;
	bool have;

	cr_assert_not_null(r);
	have = (slc_reactor_features(r) & both) == both;
	cr_expect(strstr(slc_reactor_features_str(r), "receive_self_check=passed") != NULL || !have,
	          "%s", slc_reactor_features_str(r));
	slc_reactor_destroy(r);
	if (!have)
		cr_skip_test(
		        "the kernel lacks receive bundles or incremental buffers (6.10, 6.12)");
}

Test(reactor, selfcheck_switches_off_bundles_that_garble_bytes)
{
	selfcheck_needs_both();
	selfcheck_case(SLC_REACTOR_F_BUNDLE, "bundles=no", "incremental_buffers=yes",
	               "receive bundles returned bytes that differ from those sent");
}

Test(reactor, selfcheck_switches_off_incremental_buffers_that_garble_bytes)
{
	selfcheck_needs_both();
	selfcheck_case(SLC_REACTOR_F_INC, "bundles=yes", "incremental_buffers=no",
	               "incremental buffers returned bytes that differ from those sent");
}

Test(reactor, selfcheck_switches_off_both_when_both_garble_bytes)
{
	selfcheck_needs_both();
	selfcheck_case(SLC_REACTOR_F_BUNDLE | SLC_REACTOR_F_INC, "bundles=no",
	               "incremental_buffers=no", "incremental buffers returned bytes that differ");
}

/* Garbled even with plain buffers: the receive path cannot be trusted, the reactor is not
 * created, and the log says why. */
Test(reactor, selfcheck_refuses_to_start_when_plain_buffers_garble_bytes)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	struct log_capture lc = {.lock = PTHREAD_MUTEX_INITIALIZER};
	int err = 0;

	selfcheck_needs_both();
	cfg.log = capture_log;
	cfg.log_ctx = &lc;
	cfg.selfcheck_fault = SLC_SELFCHECK_FAULT_PLAIN;
	cr_expect_null(slc_reactor_create(&cfg, &err));
	cr_expect_eq(err, -EIO, "%s", strerror(-err));
	cr_expect(log_has(&lc, "even with plain buffers"), "log:\n%s", lc.text);
}

/* Switched off by hand, a feature is not checked: nothing to check when both are off. */
Test(reactor, selfcheck_skips_features_switched_off)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	struct slc_reactor *r;
	int err;

	cfg.features_off = SLC_REACTOR_F_BUNDLE | SLC_REACTOR_F_INC;
	cfg.selfcheck_fault = SLC_SELFCHECK_FAULT_PLAIN; /* would fail, were it run */
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "%s", strerror(-err));
	cr_expect(strstr(slc_reactor_features_str(r), "receive_self_check=nothing-to-check") !=
	                  NULL,
	          "%s", slc_reactor_features_str(r));
	slc_reactor_destroy(r);
}

/*
 * --oversize skip with a full pool: a burst holding a line, an oversize line and another
 * line is refused at its first message, so it is parsed again from there once room comes;
 * the skipped frame is counted once, when the burst that skips it is taken (it was
 * counted at each parse, twice here, before).
 */
Test(reactor, skipped_frame_counted_once_across_a_rewind, .timeout = 60)
{
	struct sink s = {.limited = true};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	const struct slc_listener_stats *ls;
	const struct slc_reactor_stats *st;
	static char buf[4096];
	struct slc_reactor *r;
	size_t n = 0;
	int err, fd;

	cfg.oversize_skip = true;
	r = slc_reactor_create(&cfg, &err);
	cr_assert_not_null(r, "create: %s", strerror(-err));
	cr_assert_eq(slc_reactor_start(r), 0);
	st = slc_reactor_stats(r);
	ls = slc_reactor_listener_stats(r, 0);
	n += make_line(buf + n, 0, 0, 40);
	memset(buf + n, 'x', 2000); /* over max_frame (1024): skipped */
	n += 2000;
	buf[n++] = '\n';
	n += make_line(buf + n, 0, 1, 40);
	fd = connect_to(slc_reactor_listener_port(r, 0), SOCK_STREAM);
	send_all(fd, buf, n);
	/* No room: the connection pauses at its first line, before the skipped one. */
	cr_assert(wait_for(&st->paused, 1, 30), "never paused");
	atomic_store(&s.room, 100);
	slc_reactor_kick(r);
	cr_assert(wait_for(&s.msgs, 2, 30), "got %llu of 2",
	          (unsigned long long)atomic_load(&s.msgs));
	close(fd);
	slc_reactor_stop(r, 1000);
	cr_expect_eq(atomic_load(&s.bad), 0, "lines out of order or damaged");
	cr_expect_eq(atomic_load(&ls->frames_skipped), 1, "skipped frame counted %llu times",
	             (unsigned long long)atomic_load(&ls->frames_skipped));
	slc_reactor_destroy(r);
}

/* An http:// listener is plain TCP: one that asks for TLS as well (only the embedding API
 * can say both) is refused, as is one on UDP or with acks, rather than run as either. */
Test(reactor, http_listener_with_tls_udp_or_acks_is_refused)
{
	struct sink s = {0};
	struct slc_listener_cfg l = listener(SLC_LISTENER_TCP, SLC_FRAME_LINES);
	struct slc_reactor_cfg cfg = base_cfg(&l, 1, &s);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	struct slc_reactor *r;
	int err = 0;

	cr_assert_not_null(ctx);
	cfg.tls_ctx = ctx;
	l.http = true;
	l.tls = true;
	r = slc_reactor_create(&cfg, &err);
	cr_expect_null(r, "http and tls on one listener");
	cr_expect_eq(err, -EINVAL, "%s", strerror(-err));
	slc_reactor_destroy(r);
	l.tls = false;
	l.acks = true;
	cr_expect_null(slc_reactor_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	l.acks = false;
	l.proto = SLC_LISTENER_UDP;
	cr_expect_null(slc_reactor_create(&cfg, &err));
	cr_expect_eq(err, -EINVAL);
	SSL_CTX_free(ctx);
}
