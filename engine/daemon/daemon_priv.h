/* SPDX-License-Identifier: MIT */
/* daemon_priv.h: the daemon's state, shared by the files of engine/daemon/ only. */
#ifndef SLC_ENGINE_DAEMON_DAEMON_PRIV_H
#define SLC_ENGINE_DAEMON_DAEMON_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "base/log.h"
#include "cfg.h"
#include "ctl/ctl_loop.h"
#include "daemon.h"
#include "route/key.h"
#include "metrics/expo.h"
#include "metrics/process.h"
#include "metrics/server.h"
#include "numa.h"
#include "pool/pool.h"
#include "qos.h"
#include "reactor.h"
#include "route/router.h"
#include "sinks/sink.h"

#define SLC_DAEMON_REACTORS_MAX   SLC_PRODUCERS_MAX
#define SLC_DAEMON_SIZING_WHY_LEN 512 /* the sizing line: --print-topology, start-up log */

/* At least as many as slc_cfg_opts() has flags (reload_init checks). */
#define SLC_DAEMON_FLAGS_MAX 96

/* Reloads (reload.c): SIGHUP on the main thread, POST /-/reload on the metrics thread. */
struct slc_daemon_reload {
	pthread_mutex_t mu; /* one reload at a time; guards the three below */
	int argc;
	char **argv;                /* main's; NULL: a reload is refused */
	struct slc_cfg *cur;        /* the running configuration, with the live flags reloaded */
	pthread_mutex_t tenants_mu; /* d->tenants: a reload replaces it, the metrics read it */
	/* For the metrics thread */
	_Atomic uint64_t result[4];                     /* by enum reload_result */
	_Atomic uint64_t restart[SLC_DAEMON_FLAGS_MAX]; /* by index in slc_cfg_opts() */
	_Atomic uint64_t hash;                          /* of the --config file applied */
	_Atomic int64_t mtime_s;
	_Atomic int64_t last_ok_s;
	_Atomic uint32_t last_ok;
};

/* One reactor and what runs on its thread: its router and its key extraction. */
struct slc_daemon_reactor {
	struct slc_daemon *d;
	uint32_t id;
	struct slc_reactor *r;
	struct slc_router *rt;
	struct slc_hotkeys *hot;    /* NULL without --key */
	_Atomic uint64_t keyless;   /* messages with no key of the --key kind: hash 0 */
	_Atomic uint64_t key_error; /* len32 key headers that do not fit the frame: hash 0 */
};

/* One worker's sink state; touched by that worker only, counters read by the metrics. */
struct slc_daemon_worker {
	struct slc_sink_worker *h;
	bool open_failed;
	bool dirty;       /* written since the last flush, or its flush asked to be called again */
	uint64_t cost_ns; /* --test-handler-cost-ns or the slow pool's */
	uint64_t busy_until_ns; /* the end of the test cost given so far */
	uint32_t reopen_seen;
	_Atomic uint64_t write_errors; /* batches the sink refused */
	_Atomic uint64_t lost;         /* messages in those batches, and those refused */
	_Atomic uint64_t refused;      /* messages the sink refused one by one (sink.h) */
	_Atomic uint64_t reopens;
	_Atomic uint64_t sync_errors; /* len32+ack batches the sink could not make durable */
	struct slc_daemon_lat *lat;   /* --latency-stamps: its histograms (latency.c); or NULL */
	struct slc_log_limit ttl_log; /* QoS TTL drop lines (pipeline.c), this worker's alone */
	/* Runs of acknowledged frames waiting for the sink's group commit (ack_commit.c):
	 * [ackq_head, ackq_tail), free-running; ack_done: the sink's last resolved ticket;
	 * (ack_fail_lo, ack_fail_hi]: the tickets the last failed sync resolved (none: equal). */
	struct slc_daemon_ack_pend *ackq;
	uint32_t ackq_head, ackq_tail;
	uint64_t ack_done;
	uint64_t ack_fail_lo, ack_fail_hi;
} __attribute__((aligned(128)));

/* tls:// listeners (daemon_tls.c); ctx NULL: none. */
struct slc_daemon_tls {
	struct ssl_ctx_st *ctx; /* the context the reactors were given last (under mu) */
	bool on;                /* a tls:// listener: set at create, read-only after */
	bool kernel;            /* the kernel offers the tls ULP (probed at create) */
	bool mu_init;
	pthread_mutex_t mu;          /* reloads: SIGHUP, POST /-/reload, the file watch */
	int64_t stamp[4];            /* the cert's and key's mtime (ns) and size, last read */
	_Atomic uint64_t reloads[2]; /* ok, failed */
};

struct slc_daemon {
	struct slc_cfg cfg;
	struct slc_numa_topo *topo;
	struct slc_numa_plan *plan;
	bool pinned; /* the topology is this machine's: threads are pinned */
	char sizing_why[SLC_DAEMON_SIZING_WHY_LEN]; /* how auto counts were sized; "": none */

	const struct slc_sink_ops *sink_ops;
	void *sink;
	struct slc_daemon_worker *w;                /* [pools * workers] */
	struct slc_daemon_lat_scratch *lat_scratch; /* --latency-stamps: the render's (latency.c) */
	_Atomic uint32_t reopen_gen;
	_Atomic uint32_t sinks_opened; /* workers whose sink opened (start waits for all) */
	_Atomic uint32_t sinks_failed; /* workers whose sink did not */
	/* The first worker whose sink did not open, for start's error line: worker << 32 |
	 * -errno; 0 while none failed. */
	_Atomic uint64_t sink_open_failure;

	struct slc_key_spec key;
	bool has_key;
	bool acks; /* a listener is len32+ack: workers sync and acknowledge */
	bool http; /* a listener is http:// (OTLP/HTTP logs) */

	struct slc_pool_set *pools;
	struct slc_route_shared *route;
	bool route_init; /* route holds a table (and maybe locality tables to free) */
	struct slc_ctl_loop *loop;
	_Atomic uint64_t pool_cpu_ppm[SLC_POOLS_MAX];  /* last tick: workers' CPU, parts/1e6 */
	_Atomic uint64_t pool_wait_ppm[SLC_POOLS_MAX]; /* last tick: run-queue delay */

	uint32_t nreactors;
	struct slc_tenant_table *tenants; /* --tenant (tenant_spec.h); NULL: none */
	struct slc_qos *qos; /* the classes a --tenant names (qos.h); NULL: none does */
	struct slc_daemon_reactor rc[SLC_DAEMON_REACTORS_MAX];
	uint16_t port[SLC_CFG_LISTEN_MAX];

	struct slc_metrics_server *metrics;
	struct slc_daemon_status *status; /* the status page's state (status.c) */
	struct slc_daemon_reload rl;
	struct slc_daemon_tls tls;
	uint64_t start_ns;
	bool started;
	bool stopped;
	/* What /readyz answers: the main thread writes it, the metrics thread reads it. */
	_Atomic int phase; /* enum slc_daemon_phase */
};

/* daemon_tls.c. create: the context from the flags (0, or what slc_tls_ctx_create
 * returns, logged), before the reactors; destroy after them. log: one line per tls://
 * listener, at start. reload: read the files again (reason: for the log line); a failure
 * is logged and counted, the running context stays. poll: reload when the cert or key file
 * changed (the main thread, once a second). render: sluice_tls_* families. */
int slc_daemon_tls_create(struct slc_daemon *d);
void slc_daemon_tls_destroy(struct slc_daemon *d);
void slc_daemon_tls_log(const struct slc_daemon *d);
void slc_daemon_tls_reload(struct slc_daemon *d, const char *reason);
void slc_daemon_tls_poll(struct slc_daemon *d);
void slc_daemon_tls_render(const struct slc_daemon *d, struct slc_metrics_buf *b);

enum slc_daemon_phase {
	SLC_DAEMON_STARTING, /* created, not yet started (or a start that failed) */
	SLC_DAEMON_READY,    /* started: the "ready:" line is out */
	SLC_DAEMON_DRAINING, /* slc_daemon_stop has begun */
	SLC_DAEMON_STOPPED,  /* slc_daemon_stop has returned */
};

/* reload.c: set up in create before the metrics endpoint starts (0, -ENOMEM or
 * -EOVERFLOW: the table outgrew SLC_DAEMON_FLAGS_MAX), torn down in destroy after it
 * stopped; the metrics endpoint's POST /-/reload action and its metric families. */
int slc_daemon_reload_init(struct slc_daemon *d);
void slc_daemon_reload_fini(struct slc_daemon *d);
int slc_daemon_reload_http(void *ctx, char *msg, size_t cap);
void slc_daemon_reload_render(const struct slc_daemon *d, struct slc_metrics_buf *b);

/*
 * reload_tenants.c: prepare builds the table of next's --tenant and --tenant-default
 * against the running listeners and QoS classes, its slots placed (kept by name, new ones
 * in free slots): 0 with *out (NULL: the tenants did not change), 1 when they cannot
 * change live (why says so: a restart), -EBUSY (no free slot), -EINVAL or -ENOMEM with
 * why; nothing changed but on 0. commit hands *out to every reactor, waits for each to
 * take it, makes it d->tenants and frees the one it replaces; false when a looping
 * reactor did not take it in time (logged; the old table is kept). Under d->rl.mu.
 */
int slc_daemon_tenants_prepare(struct slc_daemon *d, const struct slc_cfg *next,
                               struct slc_tenant_table **out, char *why, size_t len);
bool slc_daemon_tenants_commit(struct slc_daemon *d, struct slc_tenant_table *nt);

/* Whether a reload applies flag o live (reload.c). */
bool slc_daemon_reload_flag_live(const struct slc_cfg_opt *o);

/*
 * The status page (status.c): init in create before the metrics endpoint starts (0 or
 * -ENOMEM), fini in destroy after it stopped (accepts what init left); the endpoint's
 * status callback: GET /, /status (HTML) and /status.json. 0, or -ENOMEM.
 */
struct slc_daemon_status;
int slc_daemon_status_init(struct slc_daemon *d);
void slc_daemon_status_fini(struct slc_daemon *d);
int slc_daemon_status_render(void *ctx, enum slc_metrics_status_format fmt,
                             struct slc_metrics_text *t);
/* The tenants' families, sluice_tenant_* (tenant_metrics.c); nothing without --tenant. */
void slc_daemon_tenant_render(const struct slc_daemon *d, struct slc_metrics_buf *b);

/* The metrics endpoint's render callback (daemon_metrics.c). */
int slc_daemon_metrics_render(void *ctx, struct slc_metrics_buf *b);
/* /healthz: the sink's health (its status op), and /readyz: the phase (daemon_metrics.c). */
bool slc_daemon_metrics_health(void *ctx, char *why, size_t cap);
bool slc_daemon_metrics_ready(void *ctx, char *why, size_t cap);
/* Sets the phase /readyz answers from. */
void slc_daemon_phase_set(struct slc_daemon *d, enum slc_daemon_phase p);

/*
 * The per-message pipeline (pipeline.c), the callbacks create hands the reactors
 * (deliver, on the reactor's thread) and the pools (the rest, on the worker's thread);
 * their signatures are reactor.h's and pool.h's. They are called through those tables once
 * per batch, never per message.
 */
uint32_t slc_daemon_deliver(void *ctx, struct slc_reactor *r, struct slc_msg *msgs, uint32_t n);
void slc_daemon_handle(void *ctx, uint32_t g, const struct slc_msg *msgs, uint32_t n);
bool slc_daemon_idle(void *ctx, uint32_t g);
void slc_daemon_worker_exit(void *ctx, uint32_t g);
void slc_daemon_room(void *ctx, uint32_t producer);
void slc_daemon_release(void *ctx, const struct slc_msg *msgs, uint32_t n);

/*
 * --latency-stamps (latency.c). create allocates each worker's histograms (nothing when
 * off): 0 or -ENOMEM, destroy frees what create made (also after it failed half-way).
 * note runs on the worker, once per batch the sink took, and leaves out the messages it
 * refused one by one (ref[0 .. nref), ascending); render runs on the metrics thread.
 */
int slc_daemon_lat_create(struct slc_daemon *d);
void slc_daemon_lat_destroy(struct slc_daemon *d);
void slc_daemon_lat_note(struct slc_daemon *d, struct slc_daemon_worker *w,
                         const struct slc_msg *msgs, uint32_t n, const uint32_t *ref,
                         uint32_t nref);
void slc_daemon_lat_render(struct slc_metrics_buf *b, const struct slc_daemon *d);
/* The metrics thread's: the quantiles q[0 .. nq) of the e2e (true) or the daemon's
 * histogram summed over the workers, each the upper end of its bucket in seconds, into
 * out_s; returns the samples counted (0: none, out_s untouched; also with stamps off). */
uint64_t slc_daemon_lat_quantiles(const struct slc_daemon *d, bool e2e, const double *q,
                                  uint32_t nq, double *out_s);

/*
 * Acknowledgements per group commit (ack_commit.c), with a sink that has commit and
 * commit_poll: the queues (alloc: 0 or -ENOMEM; nothing to do without acks or such a
 * sink; free accepts what alloc left); a batch's acknowledged frames queued behind the
 * sink's ticket (0, or commit's -errno: nothing queued, the caller fails them); the
 * runs whose ticket resolved handed to their reactors (wait: all of them); a failed sync,
 * counted and logged.
 */
int slc_daemon_ackq_alloc(struct slc_daemon *d);
void slc_daemon_ackq_free(struct slc_daemon *d);
int slc_daemon_ack_commit(struct slc_daemon *d, struct slc_daemon_worker *w, uint32_t g,
                          const struct slc_msg *msgs, uint32_t n, const uint32_t *ref,
                          uint32_t nref);
void slc_daemon_ack_poll(struct slc_daemon *d, struct slc_daemon_worker *w, uint32_t g, bool wait);
void slc_daemon_ack_sync_failed(struct slc_daemon *d, struct slc_daemon_worker *w, uint32_t g,
                                int e);

/* Listener i as a URL (tcp://HOST:PORT?framing=..., udp://HOST:PORT) into buf: for the
 * start's ready line and the errors about listeners (daemon.c). */
void slc_daemon_listen_url(const struct slc_daemon *d, uint32_t i, char *buf, size_t len);

#endif /* SLC_ENGINE_DAEMON_DAEMON_PRIV_H */
