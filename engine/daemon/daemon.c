/* SPDX-License-Identifier: MIT */
/* daemon.c: sluiced assembled from the library: build, start, reopen, drain and stop. */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon_priv.h"
#include "sink_file.h"
#include "sink_forward.h"
#include "sink_kafka.h"
#include "sink_null.h"
#include "sink_plugin.h"

#define HOTKEYS_K      32
#define HOTKEYS_SAMPLE 64
/* Frames that straddle receive buffers are copied into one of these (max_frame each). */
#define UDP_BUFFERS_UNUSED 2 /* a reactor with no UDP listener still takes a (tiny) ring */

static _Atomic int log_level = SLC_CFG_LOG_INFO;

static const char *const level_name[] = {"error", "warn", "info", "debug"};

void
slc_daemon_log_level_set(enum slc_cfg_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

static void __attribute__((format(printf, 2, 0)))
vlog(enum slc_cfg_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	n = snprintf(line, sizeof(line), "sluiced: %s: ", level_name[level]);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	/* One write per line, so that lines of different threads do not interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
	}
}

void
slc_daemon_log(enum slc_cfg_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

/* The library's log callbacks: level 0 error, 1 warn, 2 info (3 debug). */
static void __attribute__((format(printf, 3, 4)))
lib_log(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (level < 0)
		level = 0;
	if (level > SLC_CFG_LOG_DEBUG)
		level = SLC_CFG_LOG_DEBUG;
	va_start(ap, fmt);
	vlog((enum slc_cfg_log_level)level, fmt, ap);
	va_end(ap);
}

/* ---- placement ------------------------------------------------------------------------ */

static int
placement(const struct slc_cfg *c, struct slc_numa_topo **topo, struct slc_numa_plan **plan)
{
	struct slc_numa_plan_req req = {
	        .reactors_per_node = (int)c->reactors_per_node,
	        .pools = (int)c->pools,
	        .workers_per_pool = (int)c->workers,
	};
	char msg[256];
	int err;

	*topo = slc_numa_topo_create(c->topology_xml[0] ? c->topology_xml : NULL, &err);
	if (*topo == NULL) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "topology%s%s: %s", c->topology_xml[0] ? " " : "",
		               c->topology_xml, strerror(-err));
		return err;
	}
	if (c->cpus[0] != '\0') {
		err = slc_numa_topo_restrict(*topo, c->cpus, msg, sizeof(msg));
		if (err != 0) {
			slc_daemon_log(SLC_CFG_LOG_ERROR, "--cpus %s: %s", c->cpus, msg);
			goto err_topo;
		}
	}
	*plan = slc_numa_plan_create(*topo, &req, &err);
	if (*plan == NULL) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "placement: %s", strerror(-err));
		goto err_topo;
	}
	return 0;

err_topo:
	slc_numa_topo_destroy(*topo);
	*topo = NULL;
	return err;
}

int
slc_daemon_print_topology(const struct slc_cfg *c, FILE *out)
{
	struct slc_numa_topo *topo;
	struct slc_numa_plan *plan;
	int rc = placement(c, &topo, &plan);

	if (rc != 0)
		return rc;
	rc = slc_numa_plan_print(plan, out);
	slc_numa_plan_destroy(plan);
	slc_numa_topo_destroy(topo);
	return rc;
}

/* ---- the hot path: reactor deliver, worker handler, release ---------------------------- */

/*
 * Reactor thread: give each message its key hash, then route the batch. Whatever the
 * router does not take (a full ring, a shard that is moving) stays with the reactor, which
 * pauses the connection and offers it again later: keys are computed again then, which
 * costs less than remembering them.
 */
static uint32_t
deliver(void *ctx, struct slc_reactor *r, struct slc_msg *msgs, uint32_t n)
{
	struct slc_daemon *d = ctx;
	struct slc_daemon_reactor *rc = &d->rc[slc_reactor_id(r)];

	uint64_t keyless = 0, bad = 0;
	uint32_t taken;

	if (!d->has_key)
		return slc_router_dispatch(rc->rt, msgs, n);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *key;
		uint32_t klen;

		if (slc_key_extract(&d->key, msgs[i].data, msgs[i].len, &key, &klen) == 0) {
			msgs[i].key_hash = slc_key_hash(key, klen);
			/* Offered before routing: under backpressure a message offered again after
			 * a pause is sampled again (the sketch's counts are estimates anyway). */
			slc_hotkeys_offer(rc->hot, key, klen, msgs[i].key_hash);
		} else {
			/* Keyless messages share one key: they stay together (and in order, for
			 * ordered), which is the least surprising place for them. */
			msgs[i].key_hash = 0;
		}
	}
	taken = slc_router_dispatch(rc->rt, msgs, n);
	/* Counted once, when taken: the messages left are offered again after the pause.
	 * Hash 0 is rare for a real key; only those are looked at again. */
	for (uint32_t i = 0; i < taken; i++) {
		const uint8_t *key;
		uint32_t klen;
		int e;

		if (msgs[i].key_hash != 0)
			continue;
		e = slc_key_extract(&d->key, msgs[i].data, msgs[i].len, &key, &klen);
		keyless += e == -ENOENT;
		bad += e != 0 && e != -ENOENT;
	}
	if (keyless != 0)
		atomic_fetch_add_explicit(&rc->keyless, keyless, memory_order_relaxed);
	if (bad != 0)
		atomic_fetch_add_explicit(&rc->key_error, bad, memory_order_relaxed);
	return taken;
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
	ts.tv_sec = (time_t)(w->busy_until_ns / 1000000000u);
	ts.tv_nsec = (long)(w->busy_until_ns % 1000000000u);
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

	while (i < n && !slc_msg_is_ack(&msgs[i]))
		i++;
	if (i == n)
		return;
	e = write_err != 0 ? write_err : d->sink_ops->sync(w->h);
	durable = e == 0;
	if (write_err == 0 && e != 0) {
		uint64_t prev = atomic_fetch_add_explicit(&w->sync_errors, 1, memory_order_relaxed);

		if ((prev & 1023) == 0)
			slc_daemon_log(SLC_CFG_LOG_ERROR,
			               "worker %u: sink %s could not make a batch durable: %s; its "
			               "acknowledged connections are closed and their clients send "
			               "again (%" PRIu64 " failed syncs so far)",
			               g, d->sink_ops->name, strerror(-e), prev + 1);
	}
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

static void
handler(void *ctx, uint32_t g, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_daemon *d = ctx;
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
 * per --fsync-interval and run in the background); the worker comes back here every park
 * timeout while idle, so the last data is synced in time.
 */
static void
idle(void *ctx, uint32_t g)
{
	struct slc_daemon *d = ctx;
	struct slc_daemon_worker *w = &d->w[g];
	int rc;

	/* A worker finds its rings empty right after it starts: it opens its sink then, on
	 * its own thread, so that start-up can wait for every sink (and fail when one does
	 * not open) before the daemon says it is ready. */
	if (w->h == NULL && !w->open_failed)
		worker_sink(d, g);
	if (w->h == NULL || !w->dirty || d->sink_ops->flush == NULL)
		return;
	rc = d->sink_ops->flush(w->h);
	w->dirty = rc > 0;
	if (rc < 0)
		atomic_fetch_add_explicit(&w->write_errors, 1, memory_order_relaxed);
}

/*
 * The worker drained its rings at stop: its sink flushes and closes here, on the worker's
 * own thread, as sink.h and the plugin ABI promise (a thread-affine client stays on the
 * thread that opened it).
 */
static void
worker_exit(void *ctx, uint32_t g)
{
	struct slc_daemon *d = ctx;
	struct slc_daemon_worker *w = &d->w[g];

	if (w->h == NULL)
		return;
	if (d->sink_ops->flush != NULL && d->sink_ops->flush(w->h) < 0)
		atomic_fetch_add_explicit(&w->write_errors, 1, memory_order_relaxed);
	d->sink_ops->worker_close(w->h);
	w->h = NULL;
}

/* A worker freed ring slots of reactor `producer`: its paused connections may go on. */
static void
room(void *ctx, uint32_t producer)
{
	struct slc_daemon *d = ctx;

	slc_reactor_kick(d->rc[producer].r);
}

/* A worker's batch comes from one ring, fed by one reactor; runs are handled anyway. */
static void
release(void *ctx, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_daemon *d = ctx;
	uint32_t i = 0;

	while (i < n) {
		uint32_t id = slc_msg_reactor(&msgs[i]), j = i + 1;

		while (j < n && slc_msg_reactor(&msgs[j]) == id)
			j++;
		if (id < d->nreactors)
			slc_reactor_release(d->rc[id].r, msgs + i, j - i);
		i = j;
	}
}

/* ---- build ---------------------------------------------------------------------------- */

static int
sink_key(void *ctx, const struct slc_msg *m, const uint8_t **key, uint32_t *key_len)
{
	struct slc_daemon *d = ctx;

	if (!d->has_key)
		return -ENOENT;
	return slc_key_extract(&d->key, m->data, m->len, key, key_len) == 0 ? 0 : -ENOENT;
}

static int
sink_create(struct slc_daemon *d)
{
	const struct slc_cfg *c = &d->cfg;
	uint32_t nworkers = c->pools * c->workers;
	int err = 0;

	switch (c->sink.kind) {
	case SLC_CFG_SINK_NULL:
		d->sink_ops = &slc_sink_null_ops;
		d->sink = slc_sink_null_create(nworkers, &err);
		break;
	case SLC_CFG_SINK_FILE: {
		struct slc_sink_file_cfg fc = {
		        .dir = c->sink.arg,
		        .segment_bytes = c->segment_size,
		        .fsync = c->fsync == SLC_CFG_FSYNC_NEVER      ? SLC_SINK_FILE_FSYNC_NEVER
		                 : c->fsync == SLC_CFG_FSYNC_INTERVAL ? SLC_SINK_FILE_FSYNC_INTERVAL
		                                                      : SLC_SINK_FILE_FSYNC_BATCH,
		        .fsync_interval_ms = c->fsync_interval_ms,
		        .key_fn = sink_key,
		        .key_ctx = d,
		        .log = lib_log,
		};

		d->sink_ops = &slc_sink_file_ops;
		d->sink = slc_sink_file_create(&fc, &err);
		break;
	}
	case SLC_CFG_SINK_FORWARD: {
		struct slc_sink_forward_cfg fc = {
		        .host = c->sink.arg,
		        .port = c->sink.port,
		        .framing = c->forward_framing == SLC_CFG_FORWARD_LEN32 ? SLC_FRAME_LEN32
		                                                               : SLC_FRAME_LINES,
		        .batch_bytes = c->forward_batch,
		        .log = lib_log,
		};

		for (uint32_t i = 0; i < c->nlisten; i++)
			if (c->forward_framing == SLC_CFG_FORWARD_LINES &&
			    (c->listen[i].proto == SLC_LISTENER_UDP ||
			     c->listen[i].framing != SLC_FRAME_LINES)) {
				slc_daemon_log(
				        SLC_CFG_LOG_WARN,
				        "--sink forward with --forward-framing lines: listener %u "
				        "takes messages that may hold an LF, which would arrive "
				        "split at the peer; --forward-framing len32 keeps them "
				        "whole",
				        i);
				break;
			}
		d->sink_ops = &slc_sink_forward_ops;
		d->sink = slc_sink_forward_create(&fc, &err);
		break;
	}
	case SLC_CFG_SINK_PLUGIN: {
		/* plugin:PATH.so?ARG: what follows the ? is the plugin's to read. */
		char path[SLC_CFG_PATH_LEN], *q;

		snprintf(path, sizeof(path), "%s", c->sink.arg);
		q = strchr(path, '?');
		if (q != NULL)
			*q++ = '\0';
		d->sink_ops = &slc_sink_plugin_ops;
		d->sink = slc_sink_plugin_create(path, q != NULL ? q : "", lib_log, NULL, &err);
		break;
	}
	case SLC_CFG_SINK_KAFKA: {
		const char *props[SLC_CFG_KAFKA_PROPS_MAX];
		struct slc_sink_kafka_cfg kc = {
		        .spec = c->sink.arg,
		        .props = props,
		        .nprops = c->nkafka_props,
		        .workers = nworkers,
		        .close_timeout_ms = c->drain_timeout_ms,
		        .key_fn = sink_key,
		        .key_ctx = d,
		        .log = lib_log,
		};

		for (uint32_t i = 0; i < c->nkafka_props; i++)
			props[i] = c->kafka_props[i];
		d->sink_ops = &slc_sink_kafka_ops;
		d->sink = slc_sink_kafka_create(&kc, &err);
		break;
	}
	}
	if (d->sink == NULL) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "--sink %s: %s",
		               d->cfg.sink.arg[0] ? d->cfg.sink.arg : "null", strerror(-err));
		return err != 0 ? err : -EINVAL;
	}
	return 0;
}

static void
on_tick(void *ctx, const struct slc_ctl_loop_tick *t)
{
	struct slc_daemon *d = ctx;

	for (uint32_t p = 0; p < t->npools && p < SLC_POOLS_MAX; p++) {
		atomic_store_explicit(&d->pool_cpu_ppm[p], (uint64_t)(t->cpu[p] * 1e6),
		                      memory_order_relaxed);
		atomic_store_explicit(&d->pool_wait_ppm[p], (uint64_t)(t->wait[p] * 1e6),
		                      memory_order_relaxed);
	}
	if (t->changed == 1)
		slc_daemon_log(SLC_CFG_LOG_DEBUG,
		               "controller: tick %" PRIu64 ": weights moved %.2f", t->tick,
		               t->result->moved);
	if (t->publish_err != 0)
		slc_daemon_log(SLC_CFG_LOG_ERROR, "controller: route table not published: %s",
		               strerror(-t->publish_err));
}

static void
listen_url(const struct slc_daemon *d, uint32_t i, char *buf, size_t len)
{
	static const char *const framing[] = {"lines", "len32", "syslog"};
	const struct slc_listener_cfg *l = &d->cfg.listen[i];
	char host[INET6_ADDRSTRLEN];
	bool v6 = l->addr.ss_family == AF_INET6;

	if (v6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&l->addr)->sin6_addr, host,
		          sizeof(host));
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&l->addr)->sin_addr, host,
		          sizeof(host));
	if (l->proto == SLC_LISTENER_UDP)
		snprintf(buf, len, "udp://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
		         d->port[i]);
	else
		snprintf(buf, len, "tcp://%s%s%s:%u?framing=%s%s", v6 ? "[" : "", host,
		         v6 ? "]" : "", d->port[i], framing[l->framing], l->acks ? "+ack" : "");
}

/*
 * The reactors bind their listeners with SO_REUSEPORT, which would also let a second
 * sluiced of the same user bind the same port and take a share of its connections or
 * datagrams without a word. So first, each listener with a fixed port is bound once
 * without it, and closed: failing there means someone holds the port, and the start fails
 * naming the listener. (A port 0 is a fresh port every time.) TCP sets SO_REUSEADDR as
 * the listeners do, so that connections of an earlier run in TIME_WAIT do not count; UDP
 * must not, since two UDP sockets that both set it share a port. Fills d->port with the
 * ports asked for (reactor 0 replaces a 0 with the one it got).
 */
static int
listeners_probe(struct slc_daemon *d)
{
	const struct slc_cfg *c = &d->cfg;

	for (uint32_t i = 0; i < c->nlisten; i++) {
		const struct slc_listener_cfg *l = &c->listen[i];
		bool tcp = l->proto == SLC_LISTENER_TCP;
		int one = 1, fd, rc = 0;
		char url[128];

		d->port[i] = ntohs(l->addr.ss_family == AF_INET6
		                           ? ((const struct sockaddr_in6 *)&l->addr)->sin6_port
		                           : ((const struct sockaddr_in *)&l->addr)->sin_port);
		if (d->port[i] == 0)
			continue;
		fd = socket(l->addr.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
		if (fd < 0 ||
		    (tcp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) ||
		    bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
		if (rc == 0)
			continue;
		listen_url(d, i, url, sizeof(url));
		if (rc == -EADDRINUSE)
			slc_daemon_log(
			        SLC_CFG_LOG_ERROR,
			        "--listen %s: the port is in use (another sluiced, or another "
			        "program: ss -l%cnp 'sport = :%u' shows which)",
			        url, tcp ? 't' : 'u', d->port[i]);
		else
			slc_daemon_log(SLC_CFG_LOG_ERROR, "--listen %s: %s", url, strerror(-rc));
		return rc;
	}
	return 0;
}

static int
reactors_create(struct slc_daemon *d)
{
	const struct slc_cfg *c = &d->cfg;
	struct slc_listener_cfg lst[SLC_CFG_LISTEN_MAX];
	bool udp = false;
	int err;

	err = listeners_probe(d);
	if (err != 0)
		return err;
	memcpy(lst, c->listen, sizeof(lst));
	for (uint32_t i = 0; i < c->nlisten; i++)
		udp |= lst[i].proto == SLC_LISTENER_UDP;
	for (uint32_t k = 0; k < d->nreactors; k++) {
		struct slc_daemon_reactor *rc = &d->rc[k];
		struct slc_numa_place pl;
		struct slc_reactor_cfg rcfg = {
		        .id = k,
		        .cpu = -1,
		        .node = -1,
		        .topo = d->pinned ? d->topo : NULL,
		        .buffers = c->buffers,
		        .buffer_size = c->buffer_size,
		        .udp_buffers = udp ? c->udp_buffers : UDP_BUFFERS_UNUSED,
		        .reasm_bytes = c->reasm_memory,
		        .max_frame = c->max_frame,
		        .max_conns = c->max_conns,
		        .idle_timeout_ms = c->idle_timeout_ms,
		        .ack_window = c->ack_window,
		        .listeners = lst,
		        .nlisteners = c->nlisten,
		        .ops = {.deliver = deliver, .ctx = d},
		        .log = lib_log,
		};

		if (d->pinned && slc_numa_plan_reactor(d->plan, (int)k, &pl) == 0) {
			rcfg.cpu = pl.pu;
			rcfg.node = pl.node;
		}
		rc->d = d;
		rc->id = k;
		rc->r = slc_reactor_create(&rcfg, &err);
		if (rc->r == NULL) {
			slc_daemon_log(SLC_CFG_LOG_ERROR, "reactor %u: %s", k, strerror(-err));
			return err;
		}
		/* Every reactor listens on the same ports (SO_REUSEPORT): a port 0 becomes the
		 * port the first reactor was given. */
		if (k == 0) {
			for (uint32_t i = 0; i < c->nlisten; i++) {
				d->port[i] = slc_reactor_listener_port(rc->r, i);
				if (lst[i].addr.ss_family == AF_INET)
					((struct sockaddr_in *)&lst[i].addr)->sin_port =
					        htons(d->port[i]);
				else
					((struct sockaddr_in6 *)&lst[i].addr)->sin6_port =
					        htons(d->port[i]);
			}
		}
		rc->rt = slc_router_create(c->strategy, d->pools, k, d->route, &err);
		if (rc->rt == NULL) {
			slc_daemon_log(SLC_CFG_LOG_ERROR, "router %u: %s", k, strerror(-err));
			return err;
		}
		if (d->has_key) {
			rc->hot = slc_hotkeys_create(HOTKEYS_K, HOTKEYS_SAMPLE, &err);
			if (rc->hot == NULL)
				return err;
		}
	}
	return 0;
}

struct slc_daemon *
slc_daemon_create(const struct slc_cfg *c, int *err)
{
	struct slc_daemon *d = calloc(1, sizeof(*d));
	int cpus[SLC_WORKERS_MAX];
	double w0[SLC_POOLS_MAX];
	char msg[256];
	int rc;

	if (d == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	d->cfg = *c;
	rc = placement(c, &d->topo, &d->plan);
	if (rc != 0)
		goto err_destroy;
	d->pinned = c->topology_xml[0] == '\0';
	d->nreactors = (uint32_t)slc_numa_plan_reactor_count(d->plan);
	if (d->nreactors > SLC_DAEMON_REACTORS_MAX) {
		slc_daemon_log(SLC_CFG_LOG_ERROR,
		               "%u reactors (--reactors-per-node %u on every node): at most %u",
		               d->nreactors, c->reactors_per_node, SLC_DAEMON_REACTORS_MAX);
		rc = -EINVAL;
		goto err_destroy;
	}
	if (strcmp(c->key, "none") != 0 && c->key[0] != '\0') {
		if (slc_key_spec_parse(c->key, &d->key, msg, sizeof(msg)) != 0) {
			slc_daemon_log(SLC_CFG_LOG_ERROR, "%s", msg);
			rc = -EINVAL;
			goto err_destroy;
		}
		d->has_key = true;
	}
	d->w = aligned_alloc(128, (size_t)c->pools * c->workers * sizeof(*d->w));
	d->route = malloc(sizeof(*d->route));
	if (d->w == NULL || d->route == NULL) {
		rc = -ENOMEM;
		goto err_destroy;
	}
	memset(d->w, 0, (size_t)c->pools * c->workers * sizeof(*d->w));
	for (uint32_t g = 0; g < c->pools * c->workers; g++) {
		bool slow = c->test_slow_pool_cost_ns != 0 && g / c->workers == c->test_slow_pool;

		d->w[g].cost_ns = slow ? c->test_slow_pool_cost_ns : c->test_handler_cost_ns;
	}
	rc = sink_create(d);
	if (rc != 0)
		goto err_destroy;
	for (uint32_t i = 0; i < c->nlisten; i++)
		d->acks |= c->listen[i].acks;
	if (d->acks && d->sink_ops->sync == NULL) {
		slc_daemon_log(
		        SLC_CFG_LOG_ERROR,
		        "--listen ...?framing=len32+ack needs a sink that can make messages "
		        "durable before they are acknowledged; --sink %s cannot (it has no "
		        "sync operation); allowed: a sink that implements sync (engine/sink.h)",
		        d->sink_ops->name);
		rc = -EINVAL;
		goto err_destroy;
	}

	for (uint32_t p = 0; p < c->pools; p++) {
		w0[p] = 1.0;
		for (uint32_t k = 0; k < c->workers; k++) {
			struct slc_numa_place pl;

			cpus[p * c->workers + k] = -1;
			if (d->pinned && slc_numa_plan_worker(d->plan, (int)p, (int)k, &pl) == 0)
				cpus[p * c->workers + k] = pl.pu;
		}
	}
	d->pools = slc_pool_set_create(
	        &(struct slc_pool_cfg){
	                .npools = c->pools,
	                .workers = c->workers,
	                .producers = d->nreactors,
	                .ring_size = c->ring_size,
	                .handler = handler,
	                .handler_ctx = d,
	                .release = release,
	                .release_ctx = d,
	                .idle = idle,
	                .idle_ctx = d,
	                .room = room,
	                .room_ctx = d,
	                .exit = worker_exit,
	                .worker_cpu = cpus,
	        },
	        &rc);
	if (d->pools == NULL) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "pools: %s", strerror(-rc));
		goto err_destroy;
	}
	rc = slc_route_shared_init(d->route, w0, c->pools, c->workers);
	if (rc != 0)
		goto err_destroy;
	rc = reactors_create(d);
	if (rc != 0)
		goto err_destroy;
	d->loop = slc_ctl_loop_create(
	        &(struct slc_ctl_loop_cfg){
	                .pools = d->pools,
	                .route = d->route,
	                .params = c->ctl,
	                .interval_ms = c->rebalance_interval_ms,
	                .on_tick = on_tick,
	                .ctx = d,
	        },
	        &rc);
	if (d->loop == NULL) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "controller: %s", strerror(-rc));
		goto err_destroy;
	}
	if (c->metrics.addrlen != 0) {
		char addr[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
		const struct sockaddr_storage *ss = &c->metrics.addr;
		struct slc_metrics_server_cfg mc = {
		        .addr = (const struct sockaddr *)ss,
		        .addrlen = c->metrics.addrlen,
		        .render = slc_daemon_metrics_render,
		        .render_ctx = d,
		        .health = slc_daemon_metrics_health,
		        .ready = slc_daemon_metrics_ready,
		        .log = lib_log,
		};

		if (ss->ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)ss;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			snprintf(addr, sizeof(addr), "[%s]:%u", host, ntohs(a->sin6_port));
		} else {
			const struct sockaddr_in *a = (const void *)ss;

			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			snprintf(addr, sizeof(addr), "%s:%u", host, ntohs(a->sin_port));
		}
		d->metrics = slc_metrics_server_create(&mc, &rc);
		if (d->metrics == NULL) {
			slc_daemon_log(SLC_CFG_LOG_ERROR, "--metrics %s: %s", addr, strerror(-rc));
			goto err_destroy;
		}
	}
	*err = 0;
	return d;

err_destroy:
	slc_daemon_destroy(d);
	*err = rc;
	return NULL;
}

/* ---- run ------------------------------------------------------------------------------ */

/* At --drain-timeout: cancels a forward or Kafka sink still retrying (what they hold is
 * lost: exit status 1). The other sinks finish what the rings hold after the reactors'
 * drain; WATCHDOG_GRACE_S after --drain-timeout, workers still not finished (a hung disk,
 * a plugin that never returns) end the process with status 1. Guards a stop, and the
 * unwinding of a start that failed. */
#define WATCHDOG_GRACE_S 5
struct watchdog {
	struct slc_daemon *d;
	uint64_t deadline_ns;
	pthread_t thread;
	bool running; /* the thread started */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	bool fired;
};

static void *
watchdog_main(void *arg)
{
	struct watchdog *wd = arg;
	struct timespec ts = {.tv_sec = (time_t)(wd->deadline_ns / 1000000000u),
	                      .tv_nsec = (long)(wd->deadline_ns % 1000000000u)};

	pthread_mutex_lock(&wd->mu);
	while (!wd->done && pthread_cond_timedwait(&wd->cv, &wd->mu, &ts) != ETIMEDOUT)
		;
	if (!wd->done &&
	    (wd->d->sink_ops == &slc_sink_kafka_ops || wd->d->sink_ops == &slc_sink_forward_ops)) {
		/* A peer that is away would keep these sinks retrying for ever: give up. */
		wd->fired = true;
		slc_daemon_log(SLC_CFG_LOG_ERROR,
		               "drain: --drain-timeout reached with the %s sink still waiting for "
		               "its peer; giving up on what it has not taken",
		               wd->d->sink_ops->name);
		if (wd->d->sink_ops == &slc_sink_kafka_ops)
			slc_sink_kafka_cancel(wd->d->sink);
		else
			slc_sink_forward_cancel(wd->d->sink);
	}
	if (!wd->done) {
		/* A file or plugin sink blocked in the kernel or in user code cannot be
		 * cancelled: the process ends instead, so that the stop stays bounded. */
		ts.tv_sec += WATCHDOG_GRACE_S;
		while (!wd->done && pthread_cond_timedwait(&wd->cv, &wd->mu, &ts) != ETIMEDOUT)
			;
		if (!wd->done) {
			slc_daemon_log(SLC_CFG_LOG_ERROR,
			               "drain: the sink is still busy %d s after --drain-timeout; "
			               "exiting with status 1 (what it holds is lost)",
			               WATCHDOG_GRACE_S);
			_exit(1);
		}
	}
	pthread_mutex_unlock(&wd->mu);
	return NULL;
}

/* Arms the watchdog for --drain-timeout from now. Without a thread (pthread_create
 * failed) the stop goes on unguarded rather than not at all. */
static void
watchdog_start(struct watchdog *wd, struct slc_daemon *d)
{
	pthread_condattr_t ca;

	*wd = (struct watchdog){
	        .d = d,
	        .deadline_ns = slc_mono_ns() + (uint64_t)d->cfg.drain_timeout_ms * 1000000u,
	};
	pthread_mutex_init(&wd->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd->cv, &ca);
	pthread_condattr_destroy(&ca);
	wd->running = pthread_create(&wd->thread, NULL, watchdog_main, wd) == 0;
}

/* The stop finished in time: ends the watchdog. True when it had cancelled the sink. */
static bool
watchdog_end(struct watchdog *wd)
{
	if (wd->running) {
		pthread_mutex_lock(&wd->mu);
		wd->done = true;
		pthread_cond_signal(&wd->cv);
		pthread_mutex_unlock(&wd->mu);
		pthread_join(wd->thread, NULL);
	}
	pthread_cond_destroy(&wd->cv);
	pthread_mutex_destroy(&wd->mu);
	return wd->fired;
}

/* Milliseconds left until the watchdog's deadline; 0 once it passed. */
static uint32_t
watchdog_left_ms(const struct watchdog *wd)
{
	uint64_t now = slc_mono_ns();

	return now < wd->deadline_ns ? (uint32_t)((wd->deadline_ns - now) / 1000000u) : 0;
}

/*
 * Undoes a start that failed once threads ran, in the reverse order of the start: the
 * controller, then the reactors, the last started first (those not started leave their
 * thread without having read a socket), then the workers. These finish what the started
 * reactors handed them and close the sinks that opened, each on its own thread
 * (worker_exit), as at a stop; a worker whose sink did not open has nothing to close.
 * Bounded like a stop by the watchdog. Afterwards no thread of the daemon runs, and
 * destroy frees what is left.
 */
static void
start_unwind(struct slc_daemon *d)
{
	struct watchdog wd;

	watchdog_start(&wd, d);
	slc_ctl_loop_stop(d->loop);
	for (uint32_t k = d->nreactors; k-- > 0;)
		slc_reactor_stop(d->rc[k].r, watchdog_left_ms(&wd));
	slc_pool_set_drain_stop(d->pools);
	watchdog_end(&wd);
}

/* Logs why the start failed, as one error line, and unwinds it; returns err. The line
 * comes first, so that the reason is out even if a sink holds up the unwinding. */
static int __attribute__((format(printf, 3, 4)))
start_fail(struct slc_daemon *d, int err, const char *fmt, ...)
{
	char why[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	slc_daemon_log(SLC_CFG_LOG_ERROR,
	               "%s; not started: stopping the threads that started and closing the "
	               "sinks that opened",
	               why);
	start_unwind(d);
	return err;
}

/* How long start waits for every worker to open its sink (a Kafka or forward sink may
 * take a while to reach its peer); daemon.h gives the figure too. */
#define SINK_OPEN_WAIT_MS 10000

/* Every worker opens its sink before anything is accepted: a sink that cannot open (a
 * plugin's worker_open, a full disk) stops the start rather than losing messages. 0, or
 * the error after logging it and unwinding. */
static int
start_wait_sinks(struct slc_daemon *d)
{
	uint32_t nworkers = d->cfg.pools * d->cfg.workers, opened = 0, failed = 0;
	uint64_t first;

	for (int i = 0; i < SINK_OPEN_WAIT_MS; i++) {
		/* Acquire: pairs with the releases in worker_sink. */
		opened = atomic_load_explicit(&d->sinks_opened, memory_order_acquire);
		failed = atomic_load_explicit(&d->sinks_failed, memory_order_acquire);
		if (opened + failed == nworkers)
			break;
		usleep(1000);
	}
	if (opened == nworkers)
		return 0;
	if (failed == 0)
		return start_fail(
		        d, -ETIMEDOUT, "sink %s: %u of %u workers did not open it within %d s",
		        d->sink_ops->name, nworkers - opened, nworkers, SINK_OPEN_WAIT_MS / 1000);
	first = atomic_load_explicit(&d->sink_open_failure, memory_order_relaxed);
	if (opened + failed == nworkers)
		return start_fail(d, -EIO,
		                  "sink %s: %u of %u workers could not open it (worker %u: %s)",
		                  d->sink_ops->name, failed, nworkers, (uint32_t)(first >> 32),
		                  strerror((int)(uint32_t)first));
	return start_fail(d, -EIO,
	                  "sink %s: %u of %u workers could not open it (worker %u: %s), %u more "
	                  "did not within %d s",
	                  d->sink_ops->name, failed, nworkers, (uint32_t)(first >> 32),
	                  strerror((int)(uint32_t)first), nworkers - opened - failed,
	                  SINK_OPEN_WAIT_MS / 1000);
}

/* daemon.h says what start does and returns; failures go through start_fail, which
 * unwinds (start_unwind). */
int
slc_daemon_start(struct slc_daemon *d)
{
	char line[2048];
	size_t n = 0;
	int rc;

	rc = slc_pool_set_start(d->pools);
	if (rc != 0)
		return start_fail(d, rc, "workers: %s", strerror(-rc));
	rc = start_wait_sinks(d);
	if (rc != 0)
		return rc;
	for (uint32_t k = 0; k < d->nreactors; k++) {
		rc = slc_reactor_start(d->rc[k].r);
		if (rc != 0)
			return start_fail(d, rc, "reactor %u: %s", k, strerror(-rc));
	}
	rc = slc_ctl_loop_start(d->loop);
	if (rc != 0)
		return start_fail(d, rc, "controller: %s", strerror(-rc));
	d->started = true;
	d->start_ns = slc_mono_ns();
	slc_daemon_phase_set(d, SLC_DAEMON_READY);
	slc_daemon_log(SLC_CFG_LOG_INFO, "%s", slc_reactor_features_str(d->rc[0].r));
	for (uint32_t i = 0; i < d->cfg.nlisten && n < sizeof(line) - 128; i++) {
		line[n++] = ' ';
		listen_url(d, i, line + n, sizeof(line) - n);
		n += strlen(line + n);
	}
	line[n] = '\0';
	slc_daemon_log(SLC_CFG_LOG_INFO,
	               "ready: %u reactor%s, %u pool%s x %u worker%s, sink %s; listening on%s"
	               "%s%.0u",
	               d->nreactors, d->nreactors == 1 ? "" : "s", d->cfg.pools,
	               d->cfg.pools == 1 ? "" : "s", d->cfg.workers, d->cfg.workers == 1 ? "" : "s",
	               d->sink_ops->name, line, d->metrics != NULL ? "; metrics on port " : "",
	               d->metrics != NULL ? slc_metrics_server_port(d->metrics) : 0);
	return 0;
}

void
slc_daemon_reopen(struct slc_daemon *d)
{
	/* Release: pairs with the acquire in worker_sink; each worker reopens before its
	 * next write. */
	atomic_fetch_add_explicit(&d->reopen_gen, 1, memory_order_release);
	for (uint32_t g = 0; g < d->cfg.pools * d->cfg.workers; g++)
		slc_ring_park_wake(&slc_pool_set_worker(d->pools, g)->park);
	slc_daemon_log(SLC_CFG_LOG_INFO, "SIGHUP: workers reopen their sink's files");
}

static uint64_t
total_processed(struct slc_daemon *d)
{
	uint64_t n = 0;

	for (uint32_t g = 0; g < d->cfg.pools * d->cfg.workers; g++)
		n += atomic_load_explicit(&slc_pool_set_worker(d->pools, g)->st.processed,
		                          memory_order_relaxed);
	return n;
}

int
slc_daemon_stop(struct slc_daemon *d)
{
	uint64_t t0 = slc_mono_ns();
	uint64_t received = 0, lost = 0, partial = 0, udp_kernel = 0, undelivered = 0, ours;
	uint64_t udp_drop[SLC_UDP_DROP__COUNT] = {0}, with_data[SLC_CLOSE__COUNT] = {0};
	struct slc_sink_status ss = {0};
	char delivered[48] = "";
	struct watchdog wd;
	int rc = 0;

	if (d->stopped || !d->started)
		return 0;
	d->stopped = true;
	slc_daemon_phase_set(d, SLC_DAEMON_DRAINING);
	slc_daemon_log(SLC_CFG_LOG_INFO, "stopping: no new connections; draining (at most %u ms)",
	               d->cfg.drain_timeout_ms);
	watchdog_start(&wd, d);
	/* Reactors first: they stop reading and hand over what they hold, while the workers,
	 * still running, make room for it. */
	for (uint32_t k = 0; k < d->nreactors; k++)
		slc_reactor_stop(d->rc[k].r, watchdog_left_ms(&wd));
	slc_ctl_loop_stop(d->loop);
	/* Then the workers finish every message in their rings, and the sinks flush. */
	slc_pool_set_drain_stop(d->pools);
	for (uint32_t g = 0; g < d->cfg.pools * d->cfg.workers; g++) {
		struct slc_daemon_worker *w = &d->w[g];

		/* worker_exit closed the sinks; a failed final flush counts as a write error */
		lost += atomic_load_explicit(&w->lost, memory_order_relaxed);
		if (atomic_load_explicit(&w->write_errors, memory_order_relaxed) != 0)
			rc = -EIO;
	}
	if (watchdog_end(&wd))
		rc = -ETIMEDOUT;
	for (uint32_t k = 0; k < d->nreactors; k++)
		for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
			const struct slc_listener_stats *ls =
			        slc_reactor_listener_stats(d->rc[k].r, i);

			received += atomic_load_explicit(&ls->msgs, memory_order_relaxed);
			partial += atomic_load_explicit(&ls->closed[SLC_CLOSE_EOF_MIDFRAME],
			                                memory_order_relaxed);
			for (uint32_t r = 0; r < SLC_UDP_DROP__COUNT; r++)
				udp_drop[r] += atomic_load_explicit(&ls->udp_drops[r],
				                                    memory_order_relaxed);
			udp_kernel +=
			        atomic_load_explicit(&ls->udp_kernel_drops, memory_order_relaxed);
			for (uint32_t r = 0; r < SLC_CLOSE__COUNT; r++)
				with_data[r] += atomic_load_explicit(&ls->closed_with_data[r],
				                                     memory_order_relaxed);
			undelivered +=
			        atomic_load_explicit(&ls->closed_undelivered, memory_order_relaxed);
		}
	/* What sluice itself gave up of what it had taken in (the client was not at fault):
	 * datagrams the pools had no room for, and the received bytes of paused connections
	 * it closed. A partial frame left at the peer's EOF, its silence or a framing error
	 * is the client's; it is told, not counted here. */
	ours = udp_drop[SLC_UDP_DROP_POOLS_FULL] + undelivered;
	/* The workers are joined and their sinks closed: the sink's counts are final. Each
	 * processed message is in exactly one of: delivered (when the sink says), a batch the
	 * sink refused (lost), undelivered at the drain timeout (the sink's count). */
	if (d->sink_ops->status != NULL) {
		d->sink_ops->status(d->sink, &ss);
		snprintf(delivered, sizeof(delivered), ", %" PRIu64 " delivered", ss.delivered);
	}
	slc_daemon_log(
	        SLC_CFG_LOG_INFO,
	        "stopped after %.1f s of draining: %" PRIu64 " messages received, %" PRIu64
	        " processed%s, %" PRIu64 " lost in the sink (%" PRIu64 " in failed writes, %" PRIu64
	        " undelivered at the drain timeout), %" PRIu64 " connections closed inside a frame",
	        (double)(slc_mono_ns() - t0) * 1e-9, received, total_processed(d), delivered,
	        lost + ss.undelivered_drain_timeout, lost, ss.undelivered_drain_timeout, partial);
	slc_daemon_log(SLC_CFG_LOG_INFO,
	               "dropped at the edge: %" PRIu64 " datagrams with the pools full, %" PRIu64
	               " over --max-frame, %" PRIu64 " malformed, %" PRIu64
	               " by the kernel; connections closed holding received bytes: %" PRIu64
	               " evicted, %" PRIu64 " without memory, %" PRIu64 " at shutdown, %" PRIu64
	               " by framing errors, %" PRIu64 " idle, %" PRIu64 " reset, %" PRIu64
	               " at the peer's EOF (%" PRIu64 " of them paused with whole messages)",
	               udp_drop[SLC_UDP_DROP_POOLS_FULL], udp_drop[SLC_UDP_DROP_OVERSIZE],
	               udp_drop[SLC_UDP_DROP_MALFORMED], udp_kernel, with_data[SLC_CLOSE_EVICTED],
	               with_data[SLC_CLOSE_NO_MEMORY], with_data[SLC_CLOSE_SHUTDOWN],
	               with_data[SLC_CLOSE_FRAMING], with_data[SLC_CLOSE_IDLE],
	               with_data[SLC_CLOSE_RESET], with_data[SLC_CLOSE_EOF_MIDFRAME], undelivered);
	if (rc == 0 && lost + ss.undelivered_drain_timeout + ours != 0)
		rc = -EIO;
	slc_daemon_phase_set(d, SLC_DAEMON_STOPPED);
	return rc;
}

void
slc_daemon_destroy(struct slc_daemon *d)
{
	if (d == NULL)
		return;
	slc_daemon_stop(d);
	slc_metrics_server_stop(d->metrics);
	slc_ctl_loop_destroy(d->loop);
	/* The reactor first: its thread (still waiting for its start when create failed)
	 * ends before the router and the key sketch it calls go. */
	for (uint32_t k = 0; k < SLC_DAEMON_REACTORS_MAX; k++) {
		slc_reactor_destroy(d->rc[k].r);
		slc_router_destroy(d->rc[k].rt);
		slc_hotkeys_destroy(d->rc[k].hot);
	}
	slc_pool_set_destroy(d->pools);
	if (d->sink_ops != NULL)
		d->sink_ops->destroy(d->sink);
	free(d->route);
	free(d->w);
	slc_numa_plan_destroy(d->plan);
	slc_numa_topo_destroy(d->topo);
	free(d);
}

uint16_t
slc_daemon_listener_port(const struct slc_daemon *d, uint32_t i)
{
	return i < d->cfg.nlisten ? d->port[i] : 0;
}

uint16_t
slc_daemon_metrics_port(const struct slc_daemon *d)
{
	return d->metrics != NULL ? slc_metrics_server_port(d->metrics) : 0;
}

/* systemd's readiness protocol without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void
sd_notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		slc_daemon_log(SLC_CFG_LOG_WARN, "sd_notify %s: %s", state, strerror(errno));
	close(fd);
}

int
slc_daemon_run(const struct slc_cfg *c)
{
	char *desc = malloc(SLC_CFG_DESCRIBE_LEN);
	struct slc_daemon *d;
	sigset_t set;
	int err, sig, status = 0;

	slc_daemon_log_level_set(c->log_level);
	/* Every thread created from here on inherits the mask: only this thread takes the
	 * signals, synchronously, so no handler runs in the middle of anything. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (desc != NULL && slc_cfg_describe(c, desc, SLC_CFG_DESCRIBE_LEN) == 0)
		slc_daemon_log(SLC_CFG_LOG_INFO, "configuration: %s", desc);
	free(desc);
	d = slc_daemon_create(c, &err);
	if (d == NULL)
		return 1;
	if (slc_daemon_start(d) != 0) {
		/* The start logged why and stopped what it had started: only memory is left. */
		slc_daemon_destroy(d);
		return 1;
	}
	sd_notify_send("READY=1");
	for (;;) {
		sig = sigwaitinfo(&set, NULL);
		if (sig == SIGHUP) {
			slc_daemon_reopen(d);
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	sd_notify_send("STOPPING=1");
	slc_daemon_log(SLC_CFG_LOG_INFO, "%s received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	if (slc_daemon_stop(d) != 0)
		status = 1;
	slc_daemon_destroy(d);
	return status;
}
