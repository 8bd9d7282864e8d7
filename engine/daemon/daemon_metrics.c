/* SPDX-License-Identifier: MIT */
/* daemon_metrics.c: everything sluiced counts, as Prometheus text for the metrics endpoint. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon_priv.h"

/*
 * Runs on the endpoint's thread: it reads only atomics (relaxed: each figure is
 * exact, the set is not one instant) and snapshots made for readers. Families are
 * emitted whole, one after another, as the exposition format wants.
 *
 * Most families are rows of tables (struct fam: name, type, help, and where an instance's
 * value is); a table is rendered over a set of instances (struct fam_set: the listeners of
 * every reactor, the reactors, the pools, the workers), which gives each its labels and the
 * struct the row's offset points into. A new counter is one row.
 */

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* Labels: a listener's with a reason appended is the longest. */
#define LABELS_LEN 224

/* What every table of one render reads. */
struct render {
	struct slc_metrics_buf *b;
	const struct slc_daemon *d;
	double weights[SLC_POOLS_MAX]; /* the controller's, read once */
};

/* The instances j in [0, count) a table is rendered over. */
struct fam_set {
	uint32_t (*count)(const struct render *r);
	bool (*skip)(const struct render *r, uint32_t j); /* NULL: none is skipped */
	void (*labels)(const struct render *r, uint32_t j, char *buf, size_t len);
	/* The struct a row's off points into; NULL when every row has a getter. */
	const void *(*base)(const struct render *r, uint32_t j);
};

/*
 * One family: instance j's value is the _Atomic uint64_t at offset off of the set's
 * base(j), or what get_u64 returns; written as an integer, or as a double times scale when
 * scale is not 0 (nanoseconds to seconds). get, when set, gives a double instead.
 */
struct fam {
	const char *name;
	const char *type;
	const char *help;
	size_t off;
	double scale;
	uint64_t (*get_u64)(const struct render *r, uint32_t j);
	double (*get)(const struct render *r, uint32_t j);
};

/* A counter family by reason: the array of counters at offset off of base(j), entries
 * from..n-1, each labelled reason="reason(e)". */
struct reason_fam {
	const char *name;
	const char *help;
	size_t off;
	uint32_t from;
	uint32_t n;
	const char *(*reason)(uint32_t e);
};

static const _Atomic uint64_t *
field(const void *base, size_t off)
{
	return (const _Atomic uint64_t *)((const char *)base + off);
}

static void
render_table(const struct render *r, const struct fam_set *set, const struct fam *t, size_t nfam)
{
	uint32_t n = set->count(r);
	char lab[LABELS_LEN];

	for (size_t f = 0; f < nfam; f++) {
		slc_metrics_family(r->b, t[f].name, t[f].type, t[f].help);
		for (uint32_t j = 0; j < n; j++) {
			uint64_t v;

			if (set->skip != NULL && set->skip(r, j))
				continue;
			set->labels(r, j, lab, sizeof(lab));
			if (t[f].get != NULL) {
				slc_metrics_f64(r->b, t[f].name, lab, t[f].get(r, j));
				continue;
			}
			v = t[f].get_u64 != NULL ? t[f].get_u64(r, j)
			                         : LD(*field(set->base(r, j), t[f].off));
			if (t[f].scale != 0)
				slc_metrics_f64(r->b, t[f].name, lab, (double)v * t[f].scale);
			else
				slc_metrics_u64(r->b, t[f].name, lab, v);
		}
	}
}

static void
render_reasons(const struct render *r, const struct fam_set *set, const struct reason_fam *t,
               size_t nfam)
{
	uint32_t n = set->count(r);
	char lab[LABELS_LEN];

	for (size_t f = 0; f < nfam; f++) {
		slc_metrics_family(r->b, t[f].name, "counter", t[f].help);
		for (uint32_t j = 0; j < n; j++) {
			const _Atomic uint64_t *v;
			size_t len;

			if (set->skip != NULL && set->skip(r, j))
				continue;
			v = field(set->base(r, j), t[f].off);
			set->labels(r, j, lab, sizeof(lab));
			len = strlen(lab);
			for (uint32_t e = t[f].from; e < t[f].n; e++) {
				snprintf(lab + len, sizeof(lab) - len, ",reason=\"%s\"",
				         t[f].reason(e));
				slc_metrics_u64(r->b, t[f].name, lab, LD(v[e]));
			}
		}
	}
}

#define TABLE(t) (t), sizeof(t) / sizeof((t)[0])
/* A row: name, type, help, then .off = ..., .scale = ..., .get_u64 = ... or .get = ... */
#define FAM(name_, type_, help_, ...)                                          \
	{                                                                      \
		.name = (name_), .type = (type_), .help = (help_), __VA_ARGS__ \
	}

/* ---- the sets ---------------------------------------------------------------------------- */

static const char *const proto_name[] = {"tcp", "udp"};

/* Listeners: j = reactor * nlisten + listener, reactor by reactor. */
static uint32_t
listeners_count(const struct render *r)
{
	return r->d->nreactors * r->d->cfg.nlisten;
}

static void
listener_labels(const struct render *r, uint32_t j, char *buf, size_t len)
{
	uint32_t k = j / r->d->cfg.nlisten, i = j % r->d->cfg.nlisten;

	snprintf(buf, len, "reactor=\"%u\",listener=\"%u\",proto=\"%s\",port=\"%u\"", k, i,
	         r->d->cfg.listen[i].tls    ? "tls"
	         : r->d->cfg.listen[i].http ? "http"
	                                    : proto_name[r->d->cfg.listen[i].proto],
	         r->d->port[i]);
}

static const void *
listener_stats(const struct render *r, uint32_t j)
{
	return slc_reactor_listener_stats(r->d->rc[j / r->d->cfg.nlisten].r, j % r->d->cfg.nlisten);
}

static bool
listener_not_acked(const struct render *r, uint32_t j)
{
	return !r->d->cfg.listen[j % r->d->cfg.nlisten].acks;
}

static bool
listener_not_tls(const struct render *r, uint32_t j)
{
	return !r->d->cfg.listen[j % r->d->cfg.nlisten].tls;
}

static const struct fam_set listeners = {listeners_count, NULL, listener_labels, listener_stats};
/* tls:// listeners only. */
static const struct fam_set tls_listeners = {listeners_count, listener_not_tls, listener_labels,
                                             listener_stats};
/* Acknowledged delivery: the len32+ack listeners only. */
static const struct fam_set ack_listeners = {listeners_count, listener_not_acked, listener_labels,
                                             listener_stats};

static uint32_t
reactors_count(const struct render *r)
{
	return r->d->nreactors;
}

static void
reactor_labels(const struct render *r, uint32_t j, char *buf, size_t len)
{
	(void)r;
	snprintf(buf, len, "reactor=\"%u\"", j);
}

static const void *
reactor_stats(const struct render *r, uint32_t j)
{
	return slc_reactor_stats(r->d->rc[j].r);
}

/* The daemon's own per-reactor counters (struct slc_daemon_reactor: keys). */
static const void *
reactor_daemon(const struct render *r, uint32_t j)
{
	return &r->d->rc[j];
}

static const struct fam_set reactors = {reactors_count, NULL, reactor_labels, reactor_stats};
static const struct fam_set reactor_keys = {reactors_count, NULL, reactor_labels, reactor_daemon};

static uint32_t
pools_count(const struct render *r)
{
	return r->d->cfg.pools;
}

static void
pool_labels(const struct render *r, uint32_t j, char *buf, size_t len)
{
	(void)r;
	snprintf(buf, len, "pool=\"%u\"", j);
}

static const struct fam_set pools = {pools_count, NULL, pool_labels, NULL};

/* Workers: g = pool * workers + worker, numbered across the pools. */
static uint32_t
workers_count(const struct render *r)
{
	return r->d->cfg.pools * r->d->cfg.workers;
}

static void
worker_labels(const struct render *r, uint32_t g, char *buf, size_t len)
{
	snprintf(buf, len, "pool=\"%u\",worker=\"%u\"", g / r->d->cfg.workers, g);
}

/* What the pool counts of the worker (struct slc_worker_stats). */
static const void *
worker_stats(const struct render *r, uint32_t g)
{
	return &slc_pool_set_worker(r->d->pools, g)->st;
}

/* What the daemon counts of the worker's sink (struct slc_daemon_worker). */
static const void *
worker_sink(const struct render *r, uint32_t g)
{
	return &r->d->w[g];
}

static const struct fam_set workers = {workers_count, NULL, worker_labels, worker_stats};
static const struct fam_set worker_sinks = {workers_count, NULL, worker_labels, worker_sink};

/* ---- the tables ------------------------------------------------------------------------ */

#define LS(f) offsetof(struct slc_listener_stats, f)

static const struct fam listener_fams[] = {
        FAM("sluice_connections_open", "gauge", "TCP connections open now", .off = LS(open)),
        FAM("sluice_connections_accepted_total", "counter", "TCP connections accepted",
            .off = LS(accepted)),
        FAM("sluice_connections_refused_total", "counter",
            "TCP connections refused: over --max-conns, or accept errors", .off = LS(refused)),
        FAM("sluice_received_bytes_total", "counter", "bytes received", .off = LS(bytes)),
        FAM("sluice_received_messages_total", "counter", "messages (frames, datagrams) received",
            .off = LS(msgs)),
        FAM("sluice_empty_frames_total", "counter", "zero-length frames skipped",
            .off = LS(empty_frames)),
        FAM("sluice_frames_skipped_total", "counter",
            "frames over --max-frame dropped by --oversize skip, the connection kept",
            .off = LS(frames_skipped)),
        FAM("sluice_forward_inflated_total", "counter",
            "framing=forward: compressed bins (CompressedPackedForward) inflated, whose "
            "entries then went on as every entry",
            .off = LS(fwd_inflated)),
        FAM("sluice_udp_kernel_drops_total", "counter",
            "datagrams the kernel dropped at the socket (SO_MEMINFO)", .off = LS(udp_kernel_drops)),
};

static const char *
close_str(uint32_t e)
{
	return slc_close_reason_str((enum slc_close_reason)e);
}

static const char *
udp_drop_str(uint32_t e)
{
	return slc_udp_drop_str((enum slc_udp_drop)e);
}

static const char *
frame_err_str(uint32_t e)
{
	return slc_frame_error_str((enum slc_frame_error)e);
}

static const char *
ack_err_str(uint32_t e)
{
	return slc_ack_error_str((enum slc_ack_error)e);
}

static const struct reason_fam listener_reason_fams[] = {
        {"sluice_connections_closed_total", "TCP connections closed, by reason", LS(closed), 0,
         SLC_CLOSE__COUNT, close_str},
        {"sluice_connections_closed_with_data_total",
         "TCP connections closed holding received bytes no consumer took (a partial "
         "frame, or whole frames of a paused connection), by reason",
         LS(closed_with_data), 0, SLC_CLOSE__COUNT, close_str},
        {"sluice_udp_drops_total",
         "datagrams sluice dropped after the kernel handed them over, by reason", LS(udp_drops), 0,
         SLC_UDP_DROP__COUNT, udp_drop_str},
        /* from 1: 0 is SLC_FRAME_OK, no counter */
        {"sluice_frames_rejected_total",
         "frames refused by the framing parser, by reason (the connection is closed)",
         LS(frames_rejected), 1, SLC_FRAME_ERR__COUNT, frame_err_str},
};

static bool
listener_not_http(const struct render *r, uint32_t j)
{
	return !r->d->cfg.listen[j % r->d->cfg.nlisten].http;
}

/* OTLP/HTTP: the http:// listeners only. */
static const struct fam_set http_listeners = {listeners_count, listener_not_http, listener_labels,
                                              listener_stats};

static const char *
http_resp_str(uint32_t e)
{
	return slc_http_resp_str((enum slc_http_resp)e);
}

static const struct reason_fam http_reason_fams[] = {
        {"sluice_http_responses_total",
         "OTLP/HTTP responses, by status as the reason; every status but 200 is also "
         "logged",
         LS(http_responses), 0, SLC_HTTP_RESP__COUNT, http_resp_str},
};

static const struct fam http_fams[] = {
        FAM("sluice_otlp_records_rejected_total", "counter",
            "OTLP log records of decoded requests refused whole because the pools were "
            "full (answered 503 with Retry-After: the client sends them again)",
            .off = LS(otlp_rejected)),
};

static const struct fam ack_fams[] = {
        FAM("sluice_ack_connections_open", "gauge", "len32+ack and forward connections open now",
            .off = LS(open)),
        FAM("sluice_acks_sent_total", "counter",
            "acknowledgements sent (len32+ack: cumulative, coalesced; forward: one a chunk)",
            .off = LS(acks_sent)),
        FAM("sluice_acked_frames_total", "counter", "frames acknowledged: durable in the sink",
            .off = LS(acked)),
        FAM("sluice_ack_not_durable_frames_total", "counter",
            "frames the sink could not make durable (not acknowledged; the connection "
            "is closed and the client sends them again)",
            .off = LS(not_durable)),
};

static const struct reason_fam ack_reason_fams[] = {
        {"sluice_ack_protocol_errors_total",
         "len32+ack frames that broke the protocol, by reason (the connection "
         "is closed)",
         LS(ack_errors), 0, SLC_ACK_ERR__COUNT, ack_err_str},
};

#define DW(f) offsetof(struct slc_daemon_worker, f)

static const struct fam ack_worker_fams[] = {
        FAM("sluice_worker_sync_errors_total", "counter",
            "batches with len32+ack messages the sink could not make durable",
            .off = DW(sync_errors)),
};

#define RS(f) offsetof(struct slc_reactor_stats, f)

static uint64_t
reactor_cpu_ns(const struct render *r, uint32_t k)
{
	return slc_reactor_thread_cpu_ns(r->d->rc[k].r);
}

static const struct fam reactor_fams[] = {
        FAM("sluice_reactor_buffer_exhausted_total", "counter",
            "receives that ended because the buffer ring ran dry", .off = RS(buf_exhausted)),
        FAM("sluice_reactor_rearms_total", "counter", "multishot receives armed again after ending",
            .off = RS(rearms)),
        FAM("sluice_reactor_cq_overflow_total", "counter",
            "completion-queue overflows (the kernel's counter)", .off = RS(cq_overflow)),
        FAM("sluice_reactor_paused_connections", "gauge",
            "connections paused now because a pool's ring was full", .off = RS(paused)),
        FAM("sluice_reactor_pauses_total", "counter", "times a connection paused for a full ring",
            .off = RS(pauses)),
        FAM("sluice_reactor_starved_connections", "gauge",
            "connections waiting for receive buffers now", .off = RS(starved)),
        FAM("sluice_reactor_reassembled_total", "counter",
            "frames copied because they straddled receive buffers", .off = RS(reassembled)),
        FAM("sluice_reactor_reassembly_grown_total", "counter",
            "partial lines moved into a larger reassembly chunk", .off = RS(reasm_grown)),
        FAM("sluice_reactor_reassembly_grow_waits_total", "counter",
            "times a partial line found no memory to grow into and paused to wait for it",
            .off = RS(reasm_grow_waits)),
        FAM("sluice_reactor_buffers_free", "gauge", "TCP receive buffers the kernel can fill now",
            .off = RS(buffers_free)),
        FAM("sluice_reactor_reassembly_bytes", "gauge",
            "heap bytes held now by frames that straddle receive buffers and by "
            "paused connections' copied-out bytes (--reasm-memory bounds it)",
            .off = RS(heap_bytes)),
        FAM("sluice_reactor_reassembly_waiting_connections", "gauge",
            "connections waiting for reassembly memory now", .off = RS(heap_waiting)),
        FAM("sluice_reactor_stashed_bytes_total", "counter",
            "bytes of paused connections copied out of the receive buffers",
            .off = RS(stashed_bytes)),
        FAM("sluice_reactor_cpu_seconds_total", "counter", "CPU time of the reactor's thread",
            .scale = 1e-9, .get_u64 = reactor_cpu_ns),
};

#define DR(f) offsetof(struct slc_daemon_reactor, f)

static const struct fam reactor_key_fams[] = {
        FAM("sluice_keyless_messages_total", "counter",
            "messages without a key of the --key kind (routed with hash 0)", .off = DR(keyless)),
        FAM("sluice_key_errors_total", "counter",
            "len32 key headers longer than their frame (routed with hash 0)", .off = DR(key_error)),
};

#undef DR

static double
pool_weight(const struct render *r, uint32_t p)
{
	return r->weights[p];
}

static uint64_t
pool_queued(const struct render *r, uint32_t p)
{
	return slc_pool_queued(r->d->pools, p);
}

static double
pool_water_level(const struct render *r, uint32_t p)
{
	return (double)slc_pool_queued(r->d->pools, p) / (double)slc_pool_capacity(r->d->pools, p);
}

static double
pool_cpu(const struct render *r, uint32_t p)
{
	return (double)LD(r->d->pool_cpu_ppm[p]) * 1e-6;
}

static double
pool_wait(const struct render *r, uint32_t p)
{
	return (double)LD(r->d->pool_wait_ppm[p]) * 1e-6;
}

static const struct fam pool_fams[] = {
        FAM("sluice_pool_weight", "gauge",
            "routing weight of the pool (percent of the traffic in adaptive mode)",
            .get = pool_weight),
        FAM("sluice_pool_queued_messages", "gauge",
            "messages in the pool's rings (its water level)", .get_u64 = pool_queued),
        FAM("sluice_pool_water_level_ratio", "gauge",
            "messages in the pool's rings over their capacity", .get = pool_water_level),
        FAM("sluice_pool_cpu_ratio", "gauge",
            "mean over the pool's workers of thread CPU time over wall time, last "
            "controller tick",
            .get = pool_cpu),
        FAM("sluice_pool_runqueue_wait_ratio", "gauge",
            "mean over the pool's workers of run-queue delay over wall time, last "
            "controller tick",
            .get = pool_wait),
};

#define WS(f) offsetof(struct slc_worker_stats, f)

static const struct fam worker_fams[] = {
        FAM("sluice_worker_processed_total", "counter", "messages the worker handled",
            .off = WS(processed)),
        FAM("sluice_worker_batches_total", "counter", "batches the worker handled",
            .off = WS(batches)),
        FAM("sluice_worker_inflight_messages", "gauge", "messages in the worker's handler now",
            .off = WS(inflight)),
        FAM("sluice_worker_busy_seconds_total", "counter",
            "time the worker spent in its handler (the sink)", .off = WS(busy_ns), .scale = 1e-9),
        FAM("sluice_worker_parks_total", "counter", "times the worker slept for lack of work",
            .off = WS(parks)),
};

#undef WS

static const struct fam worker_sink_fams[] = {
        FAM("sluice_worker_sink_errors_total", "counter",
            "batches the sink refused (their messages are lost)", .off = DW(write_errors)),
        FAM("sluice_worker_sink_refused_messages_total", "counter",
            "messages the sink refused one by one (lost; the others of their "
            "batch were delivered)",
            .off = DW(refused)),
        FAM("sluice_worker_sink_lost_messages_total", "counter",
            "messages in batches the sink refused, and messages it refused one by one",
            .off = DW(lost)),
};

#undef DW

#define CS(f) offsetof(struct slc_ctl_loop_stats, f)

/* The controller's counters, from one snapshot (plain integers, no labels). */
static const struct {
	const char *name;
	const char *help;
	size_t off;
} ctl_fams[] = {
        {"sluice_controller_ticks_total", "controller ticks", CS(ticks)},
        {"sluice_controller_changes_total", "ticks that moved routing weight", CS(changes)},
        {"sluice_controller_publish_errors_total",
         "route tables that could not be built (the previous one stayed)", CS(publish_errors)},
};

#undef CS

/* ---- rendering ------------------------------------------------------------------------- */

static void
render_listeners(const struct render *r)
{
	render_table(r, &listeners, TABLE(listener_fams));
	render_reasons(r, &listeners, TABLE(listener_reason_fams));
	if (r->d->http) {
		render_table(r, &http_listeners, TABLE(http_fams));
		render_reasons(r, &http_listeners, TABLE(http_reason_fams));
	}
}

static const char *
tls_ref_str(uint32_t e)
{
	return slc_tls_refusal_str((enum slc_tls_refusal)e);
}

static const struct fam tls_listener_fams[] = {
        FAM("sluice_tls_handshakes_total", "counter", "TLS handshakes completed",
            .off = LS(tls_handshakes)),
};

static const struct reason_fam tls_reason_fams[] = {
        {"sluice_tls_refused_total",
         "TLS connections refused or closed by TLS, by reason: over_cap (--tls-max-handshakes), "
         "timeout (--tls-handshake-timeout), not_tls, no_client_cert, bad_client_cert, "
         "handshake, aborted (the peer closed during the handshake), renegotiation, record "
         "(after the handshake), source_cap (--tls-max-handshakes-per-source)",
         LS(tls_refused), 0, SLC_TLS_REF__COUNT, tls_ref_str},
};

static const struct fam tls_reactor_fams[] = {
        FAM("sluice_reactor_tls_handshakes_active", "gauge", "TLS handshakes under way now",
            .off = RS(tls_handshaking)),
        FAM("sluice_reactor_tls_decrypted_bytes", "gauge",
            "decrypted TLS bytes held in the reactor's heap now (bounded: the TCP receive "
            "memory)",
            .off = RS(tls_bytes)),
        FAM("sluice_reactor_tls_output_bytes", "gauge",
            "TLS output (handshake flights, acks, alerts) written and not yet sent, now "
            "(bounded: one ack at a time waits behind a send)",
            .off = RS(tls_out_bytes)),
        FAM("sluice_reactor_tls_cipher_bytes", "gauge",
            "the sessions' ciphertext buffers, in bytes, as of the last tick (100 ms): "
            "received ciphertext waiting for OpenSSL; an idle session's is given back",
            .off = RS(tls_cipher_bytes)),
        FAM("sluice_reactor_tls_context_swaps_total", "counter",
            "server contexts (certificate and key) the reactor took after its first: reloads",
            .off = RS(tls_ctx_swaps)),
};

#undef LS
#undef RS

/* tls:// listeners (docs/operations.md, "TLS"). */
static void
render_tls(const struct render *r)
{
	if (!r->d->tls.on)
		return;
	render_table(r, &tls_listeners, TABLE(tls_listener_fams));
	render_reasons(r, &tls_listeners, TABLE(tls_reason_fams));
	render_table(r, &reactors, TABLE(tls_reactor_fams));
}

/* Acknowledged delivery (len32+ack listeners; docs/protocol.md). */
static void
render_acks(const struct render *r)
{
	if (!r->d->acks)
		return;
	render_table(r, &ack_listeners, TABLE(ack_fams));
	render_reasons(r, &ack_listeners, TABLE(ack_reason_fams));
	render_table(r, &worker_sinks, TABLE(ack_worker_fams));
}

/* Which io_uring features each reactor uses (--uring-features, the kernel, the start-up
 * self-check): 1 in use, 0 not. */
static void
render_uring_features(const struct render *r)
{
	static const char *const names[SLC_REACTOR_F__COUNT] = SLC_REACTOR_FEATURE_NAMES;
	char lab[LABELS_LEN];

	slc_metrics_family(r->b, "sluice_reactor_uring_feature", "gauge",
	                   "io_uring features in use (1) or not (0), by feature: switched off by "
	                   "--uring-features, missing from the kernel, or by the start-up "
	                   "self-check of the receive path");
	for (uint32_t j = 0; j < r->d->nreactors; j++) {
		uint32_t f = slc_reactor_features(r->d->rc[j].r);

		for (uint32_t i = 0; i < SLC_REACTOR_F__COUNT; i++) {
			snprintf(lab, sizeof(lab), "reactor=\"%u\",feature=\"%s\"", j, names[i]);
			slc_metrics_u64(r->b, "sluice_reactor_uring_feature", lab, (f >> i) & 1);
		}
	}
}

static void
render_reactors(const struct render *r)
{
	const struct slc_daemon *d = r->d;
	char lab[32];

	render_table(r, &reactors, TABLE(reactor_fams));
	render_uring_features(r);
	if (d->has_key)
		render_table(r, &reactor_keys, TABLE(reactor_key_fams));
	/* NUMA-local routing (route/router.h): 0 on a one-node machine. */
	slc_metrics_family(r->b, "sluice_reactor_cross_node_messages_total", "counter",
	                   "messages the reactor routed to a pool on another NUMA node");
	for (uint32_t k = 0; k < d->nreactors; k++) {
		snprintf(lab, sizeof(lab), "reactor=\"%u\"", k);
		slc_metrics_u64(r->b, "sluice_reactor_cross_node_messages_total", lab,
		                slc_router_cross_node(d->rc[k].rt));
	}
	slc_metrics_family(r->b, "sluice_route_spill_starts_total", "counter",
	                   "times a NUMA node's reactors began to use other nodes' pools, their "
	                   "own being saturated");
	slc_metrics_u64(r->b, "sluice_route_spill_starts_total", NULL,
	                atomic_load_explicit(&d->route->spill_starts, memory_order_relaxed));
}

/* The hottest keys of every reactor, as estimated counts (a space-saving sketch). */
static void
render_hot_keys(const struct render *r)
{
	const struct slc_daemon *d = r->d;
	struct slc_hotkeys_entry e[10];
	char lab[512], key[4 * SLC_HOTKEYS_KEY_MAX + 1];

	if (!d->has_key)
		return;
	slc_metrics_family(r->b, "sluice_hot_key_messages", "gauge",
	                   "estimated messages of each of the 10 most frequent keys per reactor "
	                   "(sampled; overestimates by at most error)");
	for (uint32_t k = 0; k < d->nreactors; k++) {
		int n = slc_hotkeys_snapshot(d->rc[k].hot, e, 10);

		for (int i = 0; i < n; i++) {
			size_t o = 0;

			/* Keys are bytes: anything unprintable is shown as \xHH. */
			for (uint32_t j = 0; j < e[i].key_len && j < SLC_HOTKEYS_KEY_MAX; j++) {
				uint8_t c = e[i].key[j];

				if (c >= 0x20 && c < 0x7f && c != '\\')
					key[o++] = (char)c;
				else
					o += (size_t)snprintf(key + o, sizeof(key) - o, "\\x%02x",
					                      c);
			}
			key[o] = '\0';
			snprintf(lab, sizeof(lab), "reactor=\"%u\",rank=\"%d\",", k, i + 1);
			o = strlen(lab);
			slc_metrics_labels(lab + o, sizeof(lab) - o, "key", key, NULL);
			slc_metrics_u64(r->b, "sluice_hot_key_messages", lab, e[i].count);
		}
	}
}

static void
render_pools(struct render *r)
{
	const struct slc_daemon *d = r->d;
	uint32_t nw = d->cfg.workers;
	struct slc_ctl_loop_stats cs;
	char lab[64];

	slc_ctl_loop_weights(d->loop, r->weights);
	render_table(r, &pools, TABLE(pool_fams));
	render_table(r, &workers, TABLE(worker_fams));
	render_table(r, &worker_sinks, TABLE(worker_sink_fams));
	slc_metrics_family(r->b, "sluice_worker_handler_latency_seconds", "histogram",
	                   "time in the handler per message (batch time over batch size)");
	for (uint32_t g = 0; g < d->cfg.pools * nw; g++) {
		struct slc_worker *wk = slc_pool_set_worker(d->pools, g);
		uint64_t buckets[SLC_POOL_LATENCY_BUCKETS];

		for (uint32_t i = 0; i < SLC_POOL_LATENCY_BUCKETS; i++)
			buckets[i] = LD(wk->st.latency_log2_ns[i]);
		snprintf(lab, sizeof(lab), "pool=\"%u\",worker=\"%u\"", g / nw, g);
		slc_metrics_histogram_log2(r->b, "sluice_worker_handler_latency_seconds", lab,
		                           buckets, SLC_POOL_LATENCY_BUCKETS, 1e-9,
		                           (double)LD(wk->st.busy_ns) * 1e-9);
	}

	slc_ctl_loop_stats(d->loop, &cs);
	for (size_t f = 0; f < sizeof(ctl_fams) / sizeof(ctl_fams[0]); f++) {
		slc_metrics_family(r->b, ctl_fams[f].name, "counter", ctl_fams[f].help);
		slc_metrics_u64(r->b, ctl_fams[f].name, NULL,
		                *(const uint64_t *)((const char *)&cs + ctl_fams[f].off));
	}
}

static void
render_sink(struct slc_metrics_buf *b, const struct slc_daemon *d)
{
	if (d->sink_ops->metrics != NULL)
		d->sink_ops->metrics(d->sink, b);
}

int
slc_daemon_metrics_render(void *ctx, struct slc_metrics_buf *b)
{
	struct render r = {.b = b, .d = ctx};

	render_listeners(&r);
	slc_daemon_tenant_render(r.d, b);
	render_acks(&r);
	render_tls(&r);
	render_reactors(&r);
	render_hot_keys(&r);
	render_pools(&r);
	render_sink(b, r.d);
	slc_daemon_lat_render(b, r.d);
	slc_daemon_reload_render(r.d, b);
	slc_daemon_tls_render(r.d, b);
	slc_metrics_jemalloc(b);
	return 0;
}

void
slc_daemon_phase_set(struct slc_daemon *d, enum slc_daemon_phase p)
{
	/* Relaxed: the phase publishes nothing else; a check reads a recent value. */
	atomic_store_explicit(&d->phase, (int)p, memory_order_relaxed);
}

bool
slc_daemon_metrics_ready(void *ctx, char *why, size_t cap)
{
	static const char *const reason[] = {
	        [SLC_DAEMON_STARTING] = "starting",
	        [SLC_DAEMON_DRAINING] = "draining: stopping, no new connections",
	        [SLC_DAEMON_STOPPED] = "stopped",
	};
	const struct slc_daemon *d = ctx;
	int p = atomic_load_explicit(&d->phase, memory_order_relaxed);

	if (p == SLC_DAEMON_READY)
		return true;
	snprintf(why, cap, "%s", reason[p]);
	return false;
}

/* The daemon knows nothing of the sinks' states: each says its own (sink.h, status). */
bool
slc_daemon_metrics_health(void *ctx, char *why, size_t cap)
{
	const struct slc_daemon *d = ctx;
	struct slc_sink_status st;

	if (d->sink_ops->status == NULL)
		return true;
	d->sink_ops->status(d->sink, &st);
	if (st.health[0] == '\0')
		return true;
	snprintf(why, cap, "sink %s: %s", d->sink_ops->name, st.health);
	return false;
}
