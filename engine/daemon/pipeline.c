/* SPDX-License-Identifier: MIT */
/* pipeline.c: the daemon's per-message steps: key and route; sink, acks and release. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon_priv.h"

/* ---- the hot path: reactor deliver, worker handler, release ---------------------------- */

/* Messages whose keys are noted at once (two bitmaps on the stack): the reactors offer at
 * most 256 (a UDP batch), so a batch is one chunk; a longer one is routed chunk by chunk. */
#define KEY_CHUNK 256u

/*
 * Reactor thread: the per-message step. Each message's key is found once per offer
 * (slc_key_extract: a pointer into its bytes, nothing copied), hashed for the router and
 * offered to the hot keys sketch; a message without one (or with a broken len32 key
 * header) gets hash 0, and a bit in keyless or bad, so that the counters take exactly the
 * messages the router took without looking at any message again. Whatever the router does
 * not take (a full ring, a shard that is moving) stays with the reactor, which pauses the
 * connection and offers it again later: keys are computed again then, which costs less
 * than remembering them. The worker's sink finds the key again itself (sink_key): the
 * descriptor has no room to carry it across the ring.
 */
static uint32_t
deliver_keyed(struct slc_daemon *d, struct slc_daemon_reactor *rc, struct slc_msg *msgs, uint32_t n)
{
	uint64_t keyless[KEY_CHUNK / 64] = {0}, bad[KEY_CHUNK / 64] = {0};
	uint64_t nkeyless = 0, nbad = 0;
	uint32_t taken;

	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *key;
		uint32_t klen;
		int e = slc_key_extract(&d->key, msgs[i].data, msgs[i].len, &key, &klen);

		if (e == 0) {
			msgs[i].key_hash = slc_key_hash(key, klen);
			/* Offered before routing: under backpressure a message offered again after
			 * a pause is sampled again (the sketch's counts are estimates anyway). */
			slc_hotkeys_offer(rc->hot, key, klen, msgs[i].key_hash);
		} else {
			/* Keyless messages share one key: they stay together (and in order, for
			 * ordered), which is the least surprising place for them. */
			msgs[i].key_hash = 0;
			if (e == -ENOENT)
				keyless[i / 64] |= 1ull << (i % 64);
			else
				bad[i / 64] |= 1ull << (i % 64);
		}
	}
	taken = slc_router_dispatch(rc->rt, msgs, n);
	/* Counted once, when taken: the messages left are offered again after the pause. */
	for (uint32_t w = 0; w * 64 < taken; w++) {
		uint64_t mask = taken - w * 64 >= 64 ? ~0ull : (1ull << (taken - w * 64)) - 1;

		nkeyless += (uint64_t)__builtin_popcountll(keyless[w] & mask);
		nbad += (uint64_t)__builtin_popcountll(bad[w] & mask);
	}
	if (nkeyless != 0)
		atomic_fetch_add_explicit(&rc->keyless, nkeyless, memory_order_relaxed);
	if (nbad != 0)
		atomic_fetch_add_explicit(&rc->key_error, nbad, memory_order_relaxed);
	return taken;
}

/* Reactor thread: route the batch, each message with its key hash when --key names one. */
uint32_t
slc_daemon_deliver(void *ctx, struct slc_reactor *r, struct slc_msg *msgs, uint32_t n)
{
	struct slc_daemon *d = ctx;
	struct slc_daemon_reactor *rc = &d->rc[slc_reactor_id(r)];
	uint32_t done = 0;

	/* otlp:NAME and forward:tag keys are outside the message's bytes: an http:// or a
	 * forward listener's reactor hashed them into key_hash (uring/http_conn.c, conn_ack.c),
	 * and other listeners' messages have none. */
	if (!d->has_key || d->key.kind == SLC_KEY_OTLP || d->key.kind == SLC_KEY_FORWARD_TAG)
		return slc_router_dispatch(rc->rt, msgs, n);
	while (done < n) {
		uint32_t m = n - done < KEY_CHUNK ? n - done : KEY_CHUNK;
		uint32_t taken = deliver_keyed(d, rc, msgs + done, m);

		done += taken;
		if (taken < m)
			break;
	}
	return done;
}

/* Opens the worker's sink state on first use, on the worker's own thread. */
static struct slc_daemon_worker *
worker_sink(struct slc_daemon *d, uint32_t g)
{
	struct slc_daemon_worker *w = &d->w[g];
	uint32_t gen;

	if (w->h == NULL && !w->open_failed) {
		int e = d->sink_ops->worker_open(d->sink, g, &w->h);

		if (e != 0) {
			uint64_t none = 0;

			w->open_failed = true;
			w->h = NULL;
			/* A warning: start's one error line names the first failure and what
			 * became of the start. */
			slc_daemon_log(SLC_CFG_LOG_WARN, "worker %u: sink %s cannot open: %s", g,
			               d->sink_ops->name, strerror(-e));
			atomic_compare_exchange_strong_explicit(
			        &d->sink_open_failure, &none, (uint64_t)g << 32 | (uint32_t)-e,
			        memory_order_relaxed, memory_order_relaxed);
			/* Release: pairs with the acquire in start_wait_sinks (the failure
			 * recorded above is seen with the count). */
			atomic_fetch_add_explicit(&d->sinks_failed, 1, memory_order_release);
		} else {
			/* Release: pairs with the acquire in start_wait_sinks. */
			atomic_fetch_add_explicit(&d->sinks_opened, 1, memory_order_release);
		}
		w->reopen_seen = atomic_load_explicit(&d->reopen_gen, memory_order_acquire);
	}
	/* Acquire: pairs with the release in slc_daemon_reopen. */
	gen = atomic_load_explicit(&d->reopen_gen, memory_order_acquire);
	if (w->h != NULL && gen != w->reopen_seen) {
		w->reopen_seen = gen;
		if (d->sink_ops->reopen != NULL) {
			int e = d->sink_ops->reopen(w->h);

			if (e != 0)
				slc_daemon_log(SLC_CFG_LOG_ERROR, "worker %u: sink reopen: %s", g,
				               strerror(-e));
		}
		atomic_fetch_add_explicit(&w->reopens, 1, memory_order_relaxed);
	}
	return w;
}

/*
 * --test-handler-cost-ns: n messages cost the worker n * cost after the end of its
 * previous batch or now, whichever is later, slept against its own clock; time overslept
 * (up to 2 ms) is taken off the next batch, so the worker's rate is 1e9 / cost.
 */
static void
test_cost(struct slc_daemon_worker *w, uint32_t n)
{
	uint64_t now = slc_mono_ns();
	struct timespec ts;

	if (w->busy_until_ns + 2000000u < now)
		w->busy_until_ns = now;
	w->busy_until_ns += n * w->cost_ns;
	if (w->busy_until_ns <= now)
		return;
	ts = slc_timespec_from_ns(w->busy_until_ns);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * len32+ack (docs/protocol.md): a batch that holds acknowledged messages is made durable
 * (the sink's sync) before they go back to their reactors, which then acknowledge them in
 * order. A failed write or sync acknowledges nothing: the reactors close those connections
 * and the clients send the frames again. A message the sink refused by itself (ref[0..nref),
 * ascending indexes) is not durable either, and only its own connection is closed: the
 * others of the batch are acknowledged as usual. Runs before release, which lets the bytes
 * (and the sequence numbers in front of them) go.
 */
static void
handler_acks(struct slc_daemon *d, struct slc_daemon_worker *w, uint32_t g,
             const struct slc_msg *msgs, uint32_t n, int write_err, const uint32_t *ref,
             uint32_t nref)
{
	uint32_t i = 0, k = 0;
	bool durable;
	int e;

	if (w->ackq != NULL)
		slc_daemon_ack_poll(d, w, g, false);
	while (i < n && !slc_msg_is_ack(&msgs[i]))
		i++;
	if (i == n)
		return;
	/* Group commit (ack_commit.c): acknowledged once a later sync covers them. */
	e = write_err;
	if (e == 0 && w->ackq != NULL) {
		e = slc_daemon_ack_commit(d, w, g, msgs, n, ref, nref);
		if (e == 0)
			return;
	} else if (e == 0) {
		e = d->sink_ops->sync(w->h);
	}
	durable = e == 0;
	if (write_err == 0 && e != 0)
		slc_daemon_ack_sync_failed(d, w, g, e);
	while (k < nref && ref[k] < i)
		k++;
	while (i < n) {
		uint32_t id = slc_msg_reactor(&msgs[i]), j = i + 1;
		bool ok = durable;

		if (k < nref && ref[k] == i) {
			ok = false; /* a run of its own */
			k++;
		} else {
			while (j < n && slc_msg_reactor(&msgs[j]) == id &&
			       (k == nref || ref[k] != j))
				j++;
		}
		if (id < d->nreactors)
			slc_reactor_ack(d->rc[id].r, msgs + i, j - i, ok);
		i = j;
	}
}

static void handle_batch(struct slc_daemon *d, uint32_t g, const struct slc_msg *msgs, uint32_t n);

/* Messages taken from the rings in one go at the most (the pool's burst); more are
 * handled in several windows. */
#define TTL_WINDOW 256
/* TTL drop lines a worker writes a second at the most (the rest are counted, and said). */
#define TTL_LOG_PER_SEC 1

/* The line for drops[q] messages of class q dropped over its TTL: rate-limited per worker
 * (a backlog drops a window at a time, and the log must not fill with it). */
static void
ttl_log(struct slc_daemon *d, uint32_t g, uint32_t q, uint64_t dropped, uint64_t total,
        uint64_t now)
{
	struct slc_log_limit *l = &d->w[g].ttl_log;
	char more[64] = "";
	uint32_t sup;

	if (!slc_log_limit_pass(l, TTL_LOG_PER_SEC, now))
		return;
	sup = slc_log_limit_suppressed_take(l);
	if (sup != 0)
		snprintf(more, sizeof(more), "; %u lines suppressed before this", sup);
	slc_daemon_log(SLC_CFG_LOG_WARN,
	               "worker %u: qos class %s: dropped %" PRIu64
	               " messages older than its ttl of %" PRIu64 " ms (%" PRIu64 " so far%s)",
	               g, d->qos->c[q].name, dropped, d->qos->c[q].ttl_ns / 1000000u, total, more);
}

/*
 * A QoS class's queue TTL (qos.h): what is older than its class's ttl now is dropped and
 * counted, the rest goes on, in order; acknowledged frames are never dropped so (their
 * clients would send them again). The pool releases the whole batch after the handler,
 * the dropped messages with it.
 */
static void
handle_ttl(struct slc_daemon *d, uint32_t g, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_msg keep[TTL_WINDOW];
	uint64_t now = slc_mono_ns();

	for (uint32_t i = 0; i < n;) {
		uint32_t end = n - i > TTL_WINDOW ? i + TTL_WINDOW : n, k = 0;
		uint64_t drops[SLC_QOS_MAX] = {0};

		for (; i < end; i++) {
			uint32_t q = slc_qos_of(msgs[i].conn);

			if (q != 0 && q <= d->qos->n && d->qos->c[q - 1].ttl_ns != 0 &&
			    !slc_msg_is_ack(&msgs[i]) &&
			    now - msgs[i].recv_ns > d->qos->c[q - 1].ttl_ns)
				drops[q - 1]++;
			else
				keep[k++] = msgs[i];
		}
		for (uint32_t q = 0; q < d->qos->n; q++)
			if (drops[q] != 0)
				ttl_log(d, g, q, drops[q],
				        atomic_fetch_add_explicit(&d->qos->c[q].ttl_drops, drops[q],
				                                  memory_order_relaxed) +
				                drops[q],
				        now);
		if (k != 0)
			handle_batch(d, g, keep, k);
	}
}

void
slc_daemon_handle(void *ctx, uint32_t g, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_daemon *d = ctx;

	/* One predictable branch a batch without a class that has a TTL. */
	if (d->qos != NULL && d->qos->any_ttl)
		handle_ttl(d, g, msgs, n);
	else
		handle_batch(d, g, msgs, n);
}

static void
handle_batch(struct slc_daemon *d, uint32_t g, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_daemon_worker *w = worker_sink(d, g);
	const uint32_t *ref = NULL;
	uint32_t nref = 0;
	int e;

	if (w->cost_ns != 0)
		test_cost(w, n);

	e = w->h != NULL ? d->sink_ops->write(w->h, msgs, n) : -EBADF;
	w->dirty = true;
	if (e == 0 && d->sink_ops->refused != NULL)
		nref = d->sink_ops->refused(w->h, &ref);
	/* One predictable branch a batch when --latency-stamps is off. */
	if (w->lat != NULL && e == 0)
		slc_daemon_lat_note(d, w, msgs, n, ref, nref);
	if (d->acks)
		handler_acks(d, w, g, msgs, n, e, ref, nref);
	if (nref != 0) {
		/* Lost, one by one: the sink logs each with its reason (rate-limited). */
		atomic_fetch_add_explicit(&w->refused, nref, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->lost, nref, memory_order_relaxed);
	}
	/* Cancelled at --drain-timeout, a sink with a status op has counted the batch itself,
	 * the part it delivered and the part it did not (sink.h): counting it here too would
	 * count it twice. */
	if (e == -ECANCELED && d->sink_ops->status != NULL)
		return;
	if (e != 0) {
		uint64_t prev =
		        atomic_fetch_add_explicit(&w->write_errors, 1, memory_order_relaxed);

		atomic_fetch_add_explicit(&w->lost, n, memory_order_relaxed);
		/* The first error, then one in 1024: a dead disk must not flood the log. */
		if ((prev & 1023) == 0)
			slc_daemon_log(
			        SLC_CFG_LOG_ERROR,
			        "worker %u: sink %s failed a batch of %u messages: %s (%" PRIu64
			        " failed batches so far)",
			        g, d->sink_ops->name, n, strerror(-e), prev + 1);
	}
}

/*
 * The worker caught up: push out what the sink buffers (a forward batch, a file
 * buffer), so that a quiet stream is not held back. With --fsync interval the file
 * sink's flush returns 1 until what was written is durable (its syncs start at most once
 * per --fsync-interval and run in the background); while it does, this returns true and
 * the worker comes back here every short park timeout (100 ms), so the last data is
 * synced in time. Otherwise false: the worker sleeps until work or a wake.
 */
bool
slc_daemon_idle(void *ctx, uint32_t g)
{
	struct slc_daemon *d = ctx;
	struct slc_daemon_worker *w = &d->w[g];
	int rc;

	/* A worker finds its rings empty right after it starts: it opens its sink then, on
	 * its own thread, so that start-up can wait for every sink (and fail when one does
	 * not open) before the daemon says it is ready. */
	if (w->h == NULL && !w->open_failed)
		worker_sink(d, g);
	if (w->ackq != NULL)
		slc_daemon_ack_poll(d, w, g, true); /* nothing else to do: the acks wait */
	if (w->h == NULL || !w->dirty || d->sink_ops->flush == NULL)
		return false;
	rc = d->sink_ops->flush(w->h);
	w->dirty = rc > 0;
	if (rc < 0)
		atomic_fetch_add_explicit(&w->write_errors, 1, memory_order_relaxed);
	/* A flush still going (the file sink's background sync): come back soon. */
	return w->dirty;
}

/*
 * The worker drained its rings at stop: its sink flushes and closes here, on the worker's
 * own thread, as sink.h and the plugin ABI promise (a thread-affine client stays on the
 * thread that opened it).
 */
void
slc_daemon_worker_exit(void *ctx, uint32_t g)
{
	struct slc_daemon *d = ctx;
	struct slc_daemon_worker *w = &d->w[g];

	if (w->h == NULL)
		return;
	if (w->ackq != NULL)
		slc_daemon_ack_poll(d, w, g, true);
	if (d->sink_ops->flush != NULL && d->sink_ops->flush(w->h) < 0)
		atomic_fetch_add_explicit(&w->write_errors, 1, memory_order_relaxed);
	d->sink_ops->worker_close(w->h);
	w->h = NULL;
}

/* A worker freed ring slots of reactor `producer`: its paused connections may go on. */
void
slc_daemon_room(void *ctx, uint32_t producer)
{
	struct slc_daemon *d = ctx;

	slc_reactor_kick(d->rc[producer].r);
}

/* A worker's batch comes from one ring, fed by one reactor; runs are handled anyway. */
void
slc_daemon_release(void *ctx, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_daemon *d = ctx;
	uint32_t i = 0;

	if (d->qos != NULL) {
		/* The classes' in-flight counts (qos.h): one atomic per class a batch. Only the
		 * reactor sets the class bits (the embedding API refuses them: msg.h), so each
		 * count here was raised by slc_qos_took; every value of the 4 bits still has a
		 * slot, so no value can index past the array. */
		int64_t count[(SLC_MSG_CONN_QOS_MASK >> SLC_MSG_CONN_QOS_SHIFT) + 1] = {0};

		for (uint32_t k = 0; k < n; k++)
			count[slc_qos_of(msgs[k].conn)]++;
		for (uint32_t q = 1; q <= d->qos->n; q++)
			if (count[q] != 0)
				atomic_fetch_sub_explicit(&d->qos->c[q - 1].inflight, count[q],
				                          memory_order_relaxed);
	}
	while (i < n) {
		uint32_t id = slc_msg_reactor(&msgs[i]), j = i + 1;

		while (j < n && slc_msg_reactor(&msgs[j]) == id)
			j++;
		if (id < d->nreactors)
			slc_reactor_release(d->rc[id].r, msgs + i, j - i);
		i = j;
	}
}
