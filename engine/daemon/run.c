/* SPDX-License-Identifier: MIT */
/* run.c: the daemon's life: start and its unwinding, reopen, drain, stop and its line, run. */
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
	struct timespec ts = slc_timespec_from_ns(wd->deadline_ns);

	pthread_mutex_lock(&wd->mu);
	while (!wd->done && pthread_cond_timedwait(&wd->cv, &wd->mu, &ts) != ETIMEDOUT)
		;
	if (!wd->done && wd->d->sink_ops->cancel != NULL) {
		/* A peer that is away would keep these sinks retrying for ever: give up. */
		wd->fired = true;
		slc_daemon_log(SLC_CFG_LOG_ERROR,
		               "drain: --drain-timeout reached with the %s sink still waiting for "
		               "its peer; giving up on what it has not taken",
		               wd->d->sink_ops->name);
		wd->d->sink_ops->cancel(wd->d->sink);
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
	slc_daemon_tls_log(d);
	if (d->sizing_why[0] != '\0')
		slc_daemon_log(SLC_CFG_LOG_INFO, "sizing: %s", d->sizing_why);
	for (uint32_t i = 0; i < d->cfg.nlisten && n < sizeof(line) - 128; i++) {
		line[n++] = ' ';
		slc_daemon_listen_url(d, i, line + n, sizeof(line) - n);
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
	return slc_daemon_run_argv(c, 0, NULL);
}

int
slc_daemon_run_argv(const struct slc_cfg *c, int argc, char **argv)
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
	/* Before the start: the metrics endpoint answers POST /-/reload from create on, and a
	 * client that reloads as soon as it reads the "ready:" line must find the command
	 * line (test_reload refused 2 runs in 15 when this came after the start). */
	slc_daemon_reload_args(d, argc, argv);
	if (slc_daemon_start(d) != 0) {
		/* The start logged why and stopped what it had started: only memory is left. */
		slc_daemon_destroy(d);
		return 1;
	}
	sd_notify_send("READY=1");
	for (;;) {
		/* With tls:// listeners, once a second: did the certificate or key change? */
		struct timespec tick = {.tv_sec = 1};

		sig = d->tls.on ? sigtimedwait(&set, NULL, &tick) : sigwaitinfo(&set, NULL);
		if (sig < 0) {
			slc_daemon_tls_poll(d);
			continue;
		}
		if (sig == SIGHUP) {
			/* Without a command line kept (an embedding's run), SIGHUP only reopens. */
			if (argv != NULL) {
				sd_notify_send("RELOADING=1");
				slc_daemon_reload(d, NULL, 0);
				sd_notify_send("READY=1");
			}
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
