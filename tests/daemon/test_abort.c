/* SPDX-License-Identifier: MIT */
/* test_abort.c: receiver abort: len32+ack through three kill -9 restarts, nothing acked lost. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_proc.h"

#define ABORT_MSGS   10000u
#define ABORT_KILLS  3u
#define ABORT_WINDOW 256u /* --ack-window: frames in flight at a kill, to be sent again */

/* A port nobody listens on now (bound to 0, read back, closed): every restart must come
 * back on the same one, as a real daemon would. */
static uint16_t
free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * The client of docs/protocol.md ("What a client does"), driven one step at a time by the
 * test so that the daemon can be killed between steps. The frame's seq is the message's
 * number 1..ABORT_MSGS on every connection: a connection starts at the oldest
 * unacknowledged frame (S0 = acked + 1), so a message keeps its number when sent again.
 */
struct client {
	uint16_t port;
	int fd;            /* -1: not connected */
	uint32_t window;   /* W from the greeting */
	uint64_t acked;    /* A: every frame up to it is durable */
	uint64_t next;     /* next frame to send on this connection */
	uint64_t sent_max; /* highest frame ever sent */
	uint8_t in[8];     /* a partial acknowledgement */
	size_t in_len;
	uint64_t connects, refused, resent;
};

/* Connects and reads the greeting. True when connected; a refusal is counted. */
static bool
client_connect(struct client *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
	uint8_t g[16];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		cr_assert_eq(errno, ECONNREFUSED, "connect: %s", strerror(errno));
		c->refused++;
		close(fd);
		return false;
	}
	while (got < sizeof(g)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t r;

		/* A daemon killed right after accepting closes without a greeting. */
		if (poll(&pfd, 1, 10000) != 1 || (r = recv(fd, g + got, sizeof(g) - got, 0)) <= 0) {
			close(fd);
			return false;
		}
		got += (size_t)r;
	}
	cr_assert(memcmp(g, "SLAK\0\1", 6) == 0, "not a len32+ack greeting");
	c->window = (uint32_t)g[8] << 24 | (uint32_t)g[9] << 16 | (uint32_t)g[10] << 8 | g[11];
	cr_assert_eq(c->window, ABORT_WINDOW);
	c->fd = fd;
	c->in_len = 0;
	/* Everything not acknowledged goes again. */
	c->next = c->acked + 1;
	c->connects++;
	return true;
}

static void
client_drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Sends what the window allows. */
static void
client_send(struct client *c)
{
	static uint8_t buf[ABORT_WINDOW * 32];
	size_t len = 0;

	while (c->next <= ABORT_MSGS && c->next <= c->acked + c->window) {
		int n = snprintf((char *)buf + len + 12, 20, "abort-%08" PRIu64, c->next);

		put_be32(buf + len, (uint32_t)(8 + n));
		put_be64(buf + len + 4, c->next);
		len += 12 + (size_t)n;
		if (c->next <= c->sent_max)
			c->resent++;
		else
			c->sent_max = c->next;
		c->next++;
	}
	/* Never more than the window: it fits the socket's buffers, so this does not block
	 * for long; a daemon that died makes it fail. */
	if (len != 0 && dproc_send_all(c->fd, buf, len) != 0)
		client_drop(c);
}

/* Reads acknowledgements for up to wait_ms. */
static void
client_read(struct client *c, int wait_ms)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	uint8_t buf[4096];
	ssize_t r;

	if (poll(&pfd, 1, wait_ms) != 1)
		return;
	r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		client_drop(c);
		return;
	}
	for (ssize_t i = 0; i < r; i++) {
		c->in[c->in_len++] = buf[i];
		if (c->in_len == 8) {
			uint64_t a = get_be64(c->in);

			cr_assert(a > c->acked && a < c->next,
			          "ack %" PRIu64 " after %" PRIu64 " with %" PRIu64 " sent", a,
			          c->acked, c->next - 1);
			c->acked = a;
			c->in_len = 0;
		}
	}
}

struct seen {
	uint8_t n[ABORT_MSGS + 1];
	uint64_t foreign;
};

static void
seen_fn(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct seen *s = ctx;
	char tmp[32];
	unsigned long v;
	char *end;

	(void)worker;
	if (len != 14 || memcmp(p, "abort-", 6) != 0) {
		s->foreign++;
		return;
	}
	memcpy(tmp, p + 6, 8);
	tmp[8] = '\0';
	v = strtoul(tmp, &end, 10);
	if (*end != '\0' || v == 0 || v > ABORT_MSGS) {
		s->foreign++;
		return;
	}
	if (s->n[v] < 255)
		s->n[v]++;
}

/*
 * docs/protocol.md: "Nothing acknowledged is lost". 10,000 frames to a file sink; sluiced
 * is killed with SIGKILL once the client has about 2,000, 4,500 and 7,000 acknowledged
 * (a condition on the acknowledgements, with frames in flight), the client meets the
 * closed port (refused connections) and retries, the daemon comes back on the same port
 * and directory, and the client sends everything unacknowledged again. At the end every
 * message is in the sink; duplicates (at-least-once) are counted and reported, and can
 * only be frames that were sent again.
 */
Test(abort, acked_messages_survive_three_kill_9_restarts, .timeout = 240)
{
	static const uint64_t kill_at[ABORT_KILLS] = {2000, 4500, 7000};
	char sink[96], listen[96];
	const char *args[] = {"--listen", listen, "--sink",       sink,  "--metrics", "off",
	                      "--pools",  "2",    "--ack-window", "256", NULL};
	static struct seen s;
	struct client c = {.fd = -1};
	uint64_t killed_at[ABORT_KILLS], in_flight[ABORT_KILLS], end;
	uint64_t missing = 0, dup = 0, dup_msgs = 0, records;
	uint32_t kills = 0;
	struct dproc *d = calloc(1, sizeof(*d));

	cr_assert_not_null(d);
	c.port = free_port();
	dproc_make_dir(d);
	snprintf(sink, sizeof(sink), "file:%s", d->dir);
	snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%u?framing=len32+ack", c.port);
	dproc_start(d, args);
	cr_assert_eq(d->port[0], c.port);

	end = slc_mono_ms() + 180000;
	while (c.acked < ABORT_MSGS) {
		cr_assert_lt(slc_mono_ms(), end,
		             "stuck at %" PRIu64 " acknowledged after %u kills; sluiced:\n%s",
		             c.acked, kills, d->log);
		dproc_log_pump(d);
		if (c.fd < 0) {
			if (!client_connect(&c))
				usleep(10000); /* the client's backoff */
			continue;
		}
		client_send(&c);
		/* Killed with the window in flight: those frames must come again. */
		if (c.fd >= 0 && kills < ABORT_KILLS && c.acked >= kill_at[kills]) {
			uint64_t refused = c.refused;

			killed_at[kills] = c.acked;
			in_flight[kills] = c.next - 1 - c.acked;
			dproc_kill(d);
			kills++;
			/* The port is closed: the client must see that before the restart. */
			while (c.refused < refused + 3) {
				cr_assert_lt(slc_mono_ms(), end);
				if (c.fd >= 0) {
					client_read(&c, 20);
					continue;
				}
				cr_assert(!client_connect(&c),
				          "connected to a killed daemon's port");
				usleep(10000);
			}
			/* The same port and directory; the port can take a moment to be free. */
			while (!dproc_try_start(d, args)) {
				cr_assert_lt(slc_mono_ms(), end, "no restart:\n%s", d->log);
				usleep(100000);
			}
			cr_assert_eq(d->port[0], c.port);
		} else if (c.fd >= 0) {
			client_read(&c, 20);
		}
	}
	client_drop(&c);
	cr_assert_eq(kills, ABORT_KILLS);
	cr_assert_eq(dproc_stop(d), 0, "%s", d->log);

	records = dproc_for_each_record(d->dir, seen_fn, &s);
	for (uint32_t i = 1; i <= ABORT_MSGS; i++) {
		missing += s.n[i] == 0;
		dup_msgs += s.n[i] > 1;
		dup += s.n[i] > 1 ? s.n[i] - 1u : 0u;
	}
	fprintf(stderr,
	        "receiver abort: %u messages, killed at %" PRIu64 "/%" PRIu64 "/%" PRIu64
	        " acknowledged (%" PRIu64 "/%" PRIu64 "/%" PRIu64 " in flight), %" PRIu64
	        " refused connects, %" PRIu64 " connections, %" PRIu64 " frames resent; "
	        "%" PRIu64 " records: %" PRIu64 " missing, %" PRIu64 " duplicates (%" PRIu64
	        " messages twice or more)\n",
	        ABORT_MSGS, killed_at[0], killed_at[1], killed_at[2], in_flight[0], in_flight[1],
	        in_flight[2], c.refused, c.connects, c.resent, records, missing, dup, dup_msgs);
	cr_expect_eq(s.foreign, 0u);
	cr_expect_eq(missing, 0u, "%" PRIu64 " messages are not in the sink", missing);
	/* At-least-once: a duplicate is a frame sent again, never anything else. */
	cr_expect_leq(dup, c.resent);
	cr_expect_eq(records, ABORT_MSGS + dup);
	for (uint32_t k = 0; k < ABORT_KILLS; k++)
		cr_expect_gt(in_flight[k], 0u, "kill %u found nothing in flight", k + 1);
	cr_expect_geq(c.refused, 3u * ABORT_KILLS);
	cr_expect_eq(c.connects, 1u + ABORT_KILLS);
	dproc_remove_dir(d->dir);
	free(d);
}
