/* SPDX-License-Identifier: MIT */
/* test_ordered.c: --strategy ordered keeps per-key order while the controller rebalances. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_proc.h"

#define ORD_CONNS       16u /* so that both reactors get some: all on one is 2^-15 */
#define ORD_KEYS_PER    8u  /* keys per connection; a key is on one connection only */
#define ORD_KEYS        (ORD_CONNS * ORD_KEYS_PER)
#define ORD_PER_KEY_MAX 40000u /* a sender stops there whatever happens */
#define ORD_AFTER_MOVE  30000u /* messages written after the weight moved */

struct ord_sender {
	pthread_t th;
	uint32_t conn;
	int fd;
	atomic_bool *stop;
	atomic_uint_fast64_t sent;      /* messages, all keys */
	uint32_t per_key[ORD_KEYS_PER]; /* read after the join */
};

/* "c03k5 1234\n": key field:1 is "c03k5", then the key's sequence number, from 1. Keys go
 * round robin, so each key's messages are interleaved with the connection's others. */
static void *
ord_send(void *arg)
{
	struct ord_sender *s = arg;
	char buf[64 * 24];

	while (!atomic_load_explicit(s->stop, memory_order_acquire)) {
		size_t len = 0;
		uint32_t n = 0;

		for (; n < 64; n++) {
			uint32_t k = n % ORD_KEYS_PER;

			if (s->per_key[k] == ORD_PER_KEY_MAX)
				break;
			len += (size_t)snprintf(buf + len, 24, "c%02uk%u %u\n", s->conn, k,
			                        ++s->per_key[k]);
		}
		if (n == 0 || dproc_send_all(s->fd, buf, len) != 0)
			break;
		atomic_fetch_add_explicit(&s->sent, n, memory_order_release);
	}
	return NULL;
}

struct ord_check {
	uint8_t *worker_of
	        [ORD_KEYS]; /* [ORD_PER_KEY_MAX + 1]: the worker that wrote seq; 255 none */
	uint32_t last[ORD_KEYS][256]; /* the last seq of the key in each worker's records */
	uint64_t inversions, dup, foreign;
};

static void
ord_fn(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	struct ord_check *c = ctx;
	unsigned conn, k, seq;
	char line[32];

	if (len >= sizeof(line) || worker > 255) {
		c->foreign++;
		return;
	}
	memcpy(line, p, len);
	line[len] = '\0';
	if (sscanf(line, "c%2uk%u %u", &conn, &k, &seq) != 3 || conn >= ORD_CONNS ||
	    k >= ORD_KEYS_PER || seq == 0 || seq > ORD_PER_KEY_MAX) {
		c->foreign++;
		return;
	}
	k += conn * ORD_KEYS_PER;
	/* Within a worker, in file order, a key's numbers only rise. */
	if (seq <= c->last[k][worker])
		c->inversions++;
	c->last[k][worker] = seq;
	if (c->worker_of[k][seq] != 255)
		c->dup++;
	c->worker_of[k][seq] = (uint8_t)worker;
}

static double
ord_metric(struct dproc *d, const char *name, const char *filter)
{
	const char *f[] = {filter, NULL};
	size_t len = 1u << 20;
	char *buf = malloc(len);
	double v;

	cr_assert_not_null(buf);
	cr_assert_eq(dproc_scrape(d, buf, len), 0, "%s", d->log);
	v = dproc_metric(buf, name, f);
	free(buf);
	return v;
}

static uint64_t
ord_sent(struct ord_sender *s)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < ORD_CONNS; i++)
		n += atomic_load_explicit(&s[i].sent, memory_order_acquire);
	return n;
}

/*
 * Pool 0 of three (two workers each) is slow (200 us a message); two reactors; 16
 * connections send 128 keys, each key numbered from 1, as fast as they can. The controller
 * moves weight off pool 0, and the ordered router moves the shards pool 0 loses to the
 * other pools' workers. Read back from the file sink:
 *
 * - every message is there exactly once;
 * - in each worker's records, in file order, every key's numbers rise;
 * - each key's numbers, 1..n, fall into runs of one worker each: a key changes worker only
 *   when a route table changes, so it has at most as many runs as there were changes plus
 *   one. --strategy pure (a key's messages on any worker) and sticky (any worker of the
 *   key's pool) break this: their keys alternate between workers.
 *
 * The file format has no time and no order between workers (docs/file-format.md), so
 * that the old worker had written a key's run before the new one began (the router's
 * fence) cannot be read from the sink: tests/engine/route/test_router.c checks that in the
 * handlers. Here what the rebalance leaves on disk is checked.
 *
 * It proves something only if the weight moved and keys changed worker: both are asserted.
 */
Test(ordered, per_key_order_holds_across_a_rebalance_in_the_daemon, .timeout = 300)
{
	char sink[96];
	const char *args[] = {"--listen",
	                      "tcp://127.0.0.1:0?framing=lines",
	                      "--sink",
	                      sink,
	                      "--fsync",
	                      "never",
	                      "--metrics",
	                      "127.0.0.1:0",
	                      "--pools",
	                      "3",
	                      "--workers",
	                      "2",
	                      "--reactors-per-node",
	                      "2",
	                      "--strategy",
	                      "ordered",
	                      "--key",
	                      "field:1",
	                      "--ring-size",
	                      "256",
	                      "--test-slow-pool",
	                      "0",
	                      "--test-slow-pool-cost-ns",
	                      "200000",
	                      NULL};
	static struct ord_sender s[ORD_CONNS];
	static struct ord_check chk;
	atomic_bool stop = false;
	int sndbuf = 8192;
	struct dproc *d = calloc(1, sizeof(*d));
	double w0, w, changes = 0, acc0, acc1;
	uint64_t end, sent, records, missing = 0, moved_keys = 0, runs_max = 0, runs_total = 0;

	cr_assert_not_null(d);
	dproc_make_dir(d);
	snprintf(sink, sizeof(sink), "file:%s", d->dir);
	dproc_start(d, args);
	cr_assert_eq(d->nreactors, 2u, "%s", d->log);
	w0 = ord_metric(d, "sluice_pool_weight", "pool=\"0\"");
	w = w0;
	for (uint32_t i = 0; i < ORD_CONNS; i++) {
		s[i].conn = i;
		s[i].stop = &stop;
		s[i].fd = dproc_connect(d->port[0]);
		cr_assert_geq(s[i].fd, 0);
		/* Little in the sockets: the senders stay close to what sluiced has read. */
		setsockopt(s[i].fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		cr_assert_eq(pthread_create(&s[i].th, NULL, ord_send, &s[i]), 0);
	}

	/* The controller moves weight off the slow pool (a condition, not a time). */
	end = slc_mono_ms() + 60000;
	do {
		cr_assert_lt(slc_mono_ms(), end,
		             "pool 0's weight stayed at %.1f (from %.1f), %" PRIu64 " sent:\n%s", w,
		             w0, ord_sent(s), d->log);
		usleep(50000);
		dproc_log_pump(d);
		w = ord_metric(d, "sluice_pool_weight", "pool=\"0\"");
	} while (w > w0 / 2);
	/* Then more traffic, so that moved keys have messages on their new workers: counted
	 * where it is written, since the sockets' buffers hold many messages. */
	sent = (uint64_t)ord_metric(d, "sluice_sink_messages_total", NULL) + ORD_AFTER_MOVE;
	cr_assert_eq(dproc_metric_wait(d, "sluice_sink_messages_total", NULL, sent, 60000) >= sent,
	             true, "%" PRIu64 " sent:\n%s", ord_sent(s), d->log);
	atomic_store_explicit(&stop, true, memory_order_release);
	for (uint32_t i = 0; i < ORD_CONNS; i++) {
		cr_assert_eq(pthread_join(s[i].th, NULL), 0);
		shutdown(s[i].fd, SHUT_WR);
	}
	sent = ord_sent(s);
	cr_expect_eq(dproc_metric_wait(d, "sluice_sink_messages_total", NULL, sent, 60000), sent,
	             "%s", d->log);
	changes = ord_metric(d, "sluice_controller_changes_total", NULL);
	acc0 = ord_metric(d, "sluice_connections_accepted_total", "reactor=\"0\"");
	acc1 = ord_metric(d, "sluice_connections_accepted_total", "reactor=\"1\"");
	for (uint32_t i = 0; i < ORD_CONNS; i++)
		close(s[i].fd);
	cr_assert_eq(dproc_stop(d), 0, "%s", d->log);

	for (uint32_t k = 0; k < ORD_KEYS; k++) {
		chk.worker_of[k] = malloc(ORD_PER_KEY_MAX + 1);
		cr_assert_not_null(chk.worker_of[k]);
		memset(chk.worker_of[k], 255, ORD_PER_KEY_MAX + 1);
	}
	records = dproc_for_each_record(d->dir, ord_fn, &chk);
	for (uint32_t k = 0; k < ORD_KEYS; k++) {
		uint32_t n = s[k / ORD_KEYS_PER].per_key[k % ORD_KEYS_PER];
		uint64_t runs = 1;

		for (uint32_t q = 1; q <= n; q++) {
			missing += chk.worker_of[k][q] == 255;
			if (q > 1 && chk.worker_of[k][q] != chk.worker_of[k][q - 1])
				runs++;
		}
		moved_keys += runs > 1;
		runs_total += runs;
		runs_max = runs > runs_max ? runs : runs_max;
		cr_expect_leq((double)runs, changes + 1,
		              "key c%02uk%u: its numbers make %" PRIu64 " runs on workers, with "
		              "%.0f route changes: it went back and forth between workers",
		              k / ORD_KEYS_PER, k % ORD_KEYS_PER, runs, changes);
		free(chk.worker_of[k]);
	}
	fprintf(stderr,
	        "ordered rebalance: %" PRIu64 " messages (%" PRIu64 " records), pool 0 weight "
	        "%.1f -> %.1f, %.0f route changes, connections per reactor %.0f/%.0f; %" PRIu64
	        " of %u keys changed worker, runs per key max %" PRIu64 " (total %" PRIu64
	        "); %" PRIu64 " inversions, %" PRIu64 " missing, %" PRIu64 " duplicates\n",
	        sent, records, w0, w, changes, acc0, acc1, moved_keys, ORD_KEYS, runs_max,
	        runs_total, chk.inversions, missing, chk.dup);
	cr_expect_eq(chk.inversions, 0u, "a key's numbers fell within a worker's records");
	cr_expect_eq(missing, 0u);
	cr_expect_eq(chk.dup, 0u);
	cr_expect_eq(chk.foreign, 0u);
	cr_expect_eq(records, sent);
	/* Otherwise the test proves nothing. */
	cr_expect_gt(changes, 0);
	cr_expect_gt(moved_keys, 0u, "no key changed worker");
	cr_expect(acc0 > 0 && acc1 > 0, "both reactors had connections");
	dproc_remove_dir(d->dir);
	free(d);
}
