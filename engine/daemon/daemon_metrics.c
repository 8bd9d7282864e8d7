/* SPDX-License-Identifier: MIT */
/* daemon_metrics.c: everything sluiced counts, as Prometheus text for the metrics endpoint. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon_priv.h"
#include "sink_file.h"
#include "sink_forward.h"
#include "sink_kafka.h"
#include "sink_null.h"

/*
 * Runs on the endpoint's thread: it reads only atomics (relaxed: each figure is
 * exact, the set is not one instant) and snapshots made for readers. Families are
 * emitted whole, one after another, as the exposition format wants.
 */

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static const char *const proto_name[] = {"tcp", "udp"};

static void
listener_labels(const struct slc_daemon *d, uint32_t k, uint32_t i, char *buf, size_t len)
{
	snprintf(buf, len, "reactor=\"%u\",listener=\"%u\",proto=\"%s\",port=\"%u\"", k, i,
	         proto_name[d->cfg.listen[i].proto], d->port[i]);
}

/* One counter family over every (reactor, listener): field at offset off of the stats. */
static void
listener_family(struct slc_metrics_buf *b, const struct slc_daemon *d, const char *name,
                const char *type, const char *help, size_t off)
{
	char lab[160];

	slc_metrics_family(b, name, type, help);
	for (uint32_t k = 0; k < d->nreactors; k++)
		for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
			const struct slc_listener_stats *ls =
			        slc_reactor_listener_stats(d->rc[k].r, i);

			listener_labels(d, k, i, lab, sizeof(lab));
			slc_metrics_u64(b, name, lab,
			                atomic_load_explicit(
			                        (const _Atomic uint64_t *)((const char *)ls + off),
			                        memory_order_relaxed));
		}
}

static const char *
close_str(uint32_t r)
{
	return slc_close_reason_str((enum slc_close_reason)r);
}

static const char *
udp_drop_str(uint32_t r)
{
	return slc_udp_drop_str((enum slc_udp_drop)r);
}

static const char *
frame_err_str(uint32_t r)
{
	return slc_frame_error_str((enum slc_frame_error)r);
}

/* One counter family over every (reactor, listener) and reason: the array of counters at
 * offset off of the stats, its entries from..n-1, each labelled reason="name(r)". */
static void
reason_family(struct slc_metrics_buf *b, const struct slc_daemon *d, const char *name,
              const char *help, size_t off, uint32_t from, uint32_t n,
              const char *(*reason)(uint32_t))
{
	char lab[224];

	slc_metrics_family(b, name, "counter", help);
	for (uint32_t k = 0; k < d->nreactors; k++)
		for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
			const _Atomic uint64_t *v =
			        (const _Atomic uint64_t *)((const char *)slc_reactor_listener_stats(
			                                           d->rc[k].r, i) +
			                                   off);
			size_t len;

			listener_labels(d, k, i, lab, sizeof(lab));
			len = strlen(lab);
			for (uint32_t r = from; r < n; r++) {
				snprintf(lab + len, sizeof(lab) - len, ",reason=\"%s\"", reason(r));
				slc_metrics_u64(b, name, lab,
				                atomic_load_explicit(&v[r], memory_order_relaxed));
			}
		}
}

static void
render_listeners(struct slc_metrics_buf *b, const struct slc_daemon *d)
{
	listener_family(b, d, "sluice_connections_open", "gauge", "TCP connections open now",
	                offsetof(struct slc_listener_stats, open));
	listener_family(b, d, "sluice_connections_accepted_total", "counter",
	                "TCP connections accepted", offsetof(struct slc_listener_stats, accepted));
	listener_family(b, d, "sluice_connections_refused_total", "counter",
	                "TCP connections refused: over --max-conns, or accept errors",
	                offsetof(struct slc_listener_stats, refused));
	listener_family(b, d, "sluice_received_bytes_total", "counter", "bytes received",
	                offsetof(struct slc_listener_stats, bytes));
	listener_family(b, d, "sluice_received_messages_total", "counter",
	                "messages (frames, datagrams) received",
	                offsetof(struct slc_listener_stats, msgs));
	listener_family(b, d, "sluice_empty_frames_total", "counter", "zero-length frames skipped",
	                offsetof(struct slc_listener_stats, empty_frames));
	listener_family(b, d, "sluice_udp_kernel_drops_total", "counter",
	                "datagrams the kernel dropped at the socket (SO_MEMINFO)",
	                offsetof(struct slc_listener_stats, udp_kernel_drops));

	reason_family(b, d, "sluice_connections_closed_total", "TCP connections closed, by reason",
	              offsetof(struct slc_listener_stats, closed), 0, SLC_CLOSE__COUNT, close_str);
	reason_family(b, d, "sluice_connections_closed_with_data_total",
	              "TCP connections closed holding received bytes no consumer took (a partial "
	              "frame, or whole frames of a paused connection), by reason",
	              offsetof(struct slc_listener_stats, closed_with_data), 0, SLC_CLOSE__COUNT,
	              close_str);
	reason_family(b, d, "sluice_udp_drops_total",
	              "datagrams sluice dropped after the kernel handed them over, by reason",
	              offsetof(struct slc_listener_stats, udp_drops), 0, SLC_UDP_DROP__COUNT,
	              udp_drop_str);
	/* 0 is SLC_FRAME_OK: no counter */
	reason_family(b, d, "sluice_frames_rejected_total",
	              "frames refused by the framing parser, by reason (the connection is closed)",
	              offsetof(struct slc_listener_stats, frames_rejected), 1, SLC_FRAME_ERR__COUNT,
	              frame_err_str);
}

/* One family over every (reactor, listener) with acks: field at offset off of the stats. */
static void
ack_family(struct slc_metrics_buf *b, const struct slc_daemon *d, const char *name,
           const char *type, const char *help, size_t off)
{
	char lab[160];

	slc_metrics_family(b, name, type, help);
	for (uint32_t k = 0; k < d->nreactors; k++)
		for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
			const struct slc_listener_stats *ls =
			        slc_reactor_listener_stats(d->rc[k].r, i);

			if (!d->cfg.listen[i].acks)
				continue;
			listener_labels(d, k, i, lab, sizeof(lab));
			slc_metrics_u64(b, name, lab,
			                atomic_load_explicit(
			                        (const _Atomic uint64_t *)((const char *)ls + off),
			                        memory_order_relaxed));
		}
}

/* Acknowledged delivery (len32+ack listeners; docs/protocol.md). */
static void
render_acks(struct slc_metrics_buf *b, const struct slc_daemon *d)
{
	char lab[224];

	if (!d->acks)
		return;
	ack_family(b, d, "sluice_ack_connections_open", "gauge", "len32+ack connections open now",
	           offsetof(struct slc_listener_stats, open));
	ack_family(b, d, "sluice_acks_sent_total", "counter",
	           "acknowledgements sent (cumulative, coalesced)",
	           offsetof(struct slc_listener_stats, acks_sent));
	ack_family(b, d, "sluice_acked_frames_total", "counter",
	           "frames acknowledged: durable in the sink",
	           offsetof(struct slc_listener_stats, acked));
	ack_family(b, d, "sluice_ack_not_durable_frames_total", "counter",
	           "frames the sink could not make durable (not acknowledged; the connection "
	           "is closed and the client sends them again)",
	           offsetof(struct slc_listener_stats, not_durable));
	slc_metrics_family(b, "sluice_ack_protocol_errors_total", "counter",
	                   "len32+ack frames that broke the protocol, by reason (the connection "
	                   "is closed)");
	for (uint32_t k = 0; k < d->nreactors; k++)
		for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
			const struct slc_listener_stats *ls =
			        slc_reactor_listener_stats(d->rc[k].r, i);
			size_t n;

			if (!d->cfg.listen[i].acks)
				continue;
			listener_labels(d, k, i, lab, sizeof(lab));
			n = strlen(lab);
			for (uint32_t e = 0; e < SLC_ACK_ERR__COUNT; e++) {
				snprintf(lab + n, sizeof(lab) - n, ",reason=\"%s\"",
				         slc_ack_error_str((enum slc_ack_error)e));
				slc_metrics_u64(b, "sluice_ack_protocol_errors_total", lab,
				                LD(ls->ack_errors[e]));
			}
		}
	slc_metrics_family(b, "sluice_worker_sync_errors_total", "counter",
	                   "batches with len32+ack messages the sink could not make durable");
	for (uint32_t g = 0; g < d->cfg.pools * d->cfg.workers; g++) {
		snprintf(lab, sizeof(lab), "pool=\"%u\",worker=\"%u\"", g / d->cfg.workers, g);
		slc_metrics_u64(b, "sluice_worker_sync_errors_total", lab, LD(d->w[g].sync_errors));
	}
}

/* One family over the reactors: field at offset off of struct slc_reactor_stats. */
static void
reactor_family(struct slc_metrics_buf *b, const struct slc_daemon *d, const char *name,
               const char *type, const char *help, size_t off)
{
	char lab[32];

	slc_metrics_family(b, name, type, help);
	for (uint32_t k = 0; k < d->nreactors; k++) {
		const struct slc_reactor_stats *st = slc_reactor_stats(d->rc[k].r);

		snprintf(lab, sizeof(lab), "reactor=\"%u\"", k);
		slc_metrics_u64(
		        b, name, lab,
		        atomic_load_explicit((const _Atomic uint64_t *)((const char *)st + off),
		                             memory_order_relaxed));
	}
}

static void
render_reactors(struct slc_metrics_buf *b, const struct slc_daemon *d)
{
	char lab[32];

	reactor_family(b, d, "sluice_reactor_buffer_exhausted_total", "counter",
	               "receives that ended because the buffer ring ran dry",
	               offsetof(struct slc_reactor_stats, buf_exhausted));
	reactor_family(b, d, "sluice_reactor_rearms_total", "counter",
	               "multishot receives armed again after ending",
	               offsetof(struct slc_reactor_stats, rearms));
	reactor_family(b, d, "sluice_reactor_cq_overflow_total", "counter",
	               "completion-queue overflows (the kernel's counter)",
	               offsetof(struct slc_reactor_stats, cq_overflow));
	reactor_family(b, d, "sluice_reactor_paused_connections", "gauge",
	               "connections paused now because a pool's ring was full",
	               offsetof(struct slc_reactor_stats, paused));
	reactor_family(b, d, "sluice_reactor_pauses_total", "counter",
	               "times a connection paused for a full ring",
	               offsetof(struct slc_reactor_stats, pauses));
	reactor_family(b, d, "sluice_reactor_starved_connections", "gauge",
	               "connections waiting for receive buffers now",
	               offsetof(struct slc_reactor_stats, starved));
	reactor_family(b, d, "sluice_reactor_reassembled_total", "counter",
	               "frames copied because they straddled receive buffers",
	               offsetof(struct slc_reactor_stats, reassembled));
	reactor_family(b, d, "sluice_reactor_buffers_free", "gauge",
	               "TCP receive buffers the kernel can fill now",
	               offsetof(struct slc_reactor_stats, buffers_free));
	reactor_family(b, d, "sluice_reactor_reassembly_bytes", "gauge",
	               "heap bytes held now by frames that straddle receive buffers and by "
	               "paused connections' copied-out bytes (--reasm-memory bounds it)",
	               offsetof(struct slc_reactor_stats, heap_bytes));
	reactor_family(b, d, "sluice_reactor_reassembly_waiting_connections", "gauge",
	               "connections waiting for reassembly memory now",
	               offsetof(struct slc_reactor_stats, heap_waiting));
	reactor_family(b, d, "sluice_reactor_stashed_bytes_total", "counter",
	               "bytes of paused connections copied out of the receive buffers",
	               offsetof(struct slc_reactor_stats, stashed_bytes));
	slc_metrics_family(b, "sluice_reactor_cpu_seconds_total", "counter",
	                   "CPU time of the reactor's thread");
	for (uint32_t k = 0; k < d->nreactors; k++) {
		snprintf(lab, sizeof(lab), "reactor=\"%u\"", k);
		slc_metrics_f64(b, "sluice_reactor_cpu_seconds_total", lab,
		                (double)slc_reactor_thread_cpu_ns(d->rc[k].r) * 1e-9);
	}
	if (!d->has_key)
		return;
	slc_metrics_family(b, "sluice_keyless_messages_total", "counter",
	                   "messages without a key of the --key kind (routed with hash 0)");
	for (uint32_t k = 0; k < d->nreactors; k++) {
		snprintf(lab, sizeof(lab), "reactor=\"%u\"", k);
		slc_metrics_u64(b, "sluice_keyless_messages_total", lab, LD(d->rc[k].keyless));
	}
	slc_metrics_family(b, "sluice_key_errors_total", "counter",
	                   "len32 key headers longer than their frame (routed with hash 0)");
	for (uint32_t k = 0; k < d->nreactors; k++) {
		snprintf(lab, sizeof(lab), "reactor=\"%u\"", k);
		slc_metrics_u64(b, "sluice_key_errors_total", lab, LD(d->rc[k].key_error));
	}
}

/* The hottest keys of every reactor, as estimated counts (a space-saving sketch). */
static void
render_hot_keys(struct slc_metrics_buf *b, const struct slc_daemon *d)
{
	struct slc_hotkeys_entry e[10];
	char lab[512], key[4 * SLC_HOTKEYS_KEY_MAX + 1];

	if (!d->has_key)
		return;
	slc_metrics_family(b, "sluice_hot_key_messages", "gauge",
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
			slc_metrics_u64(b, "sluice_hot_key_messages", lab, e[i].count);
		}
	}
}

static void
render_pools(struct slc_metrics_buf *b, const struct slc_daemon *d)
{
	uint32_t np = d->cfg.pools, nw = d->cfg.workers;
	double w[SLC_POOLS_MAX];
	struct slc_ctl_loop_stats cs;
	char lab[64];

	slc_ctl_loop_weights(d->loop, w);
	slc_metrics_family(b, "sluice_pool_weight", "gauge",
	                   "routing weight of the pool (percent of the traffic in adaptive mode)");
	for (uint32_t p = 0; p < np; p++) {
		snprintf(lab, sizeof(lab), "pool=\"%u\"", p);
		slc_metrics_f64(b, "sluice_pool_weight", lab, w[p]);
	}
	slc_metrics_family(b, "sluice_pool_queued_messages", "gauge",
	                   "messages in the pool's rings (its water level)");
	for (uint32_t p = 0; p < np; p++) {
		snprintf(lab, sizeof(lab), "pool=\"%u\"", p);
		slc_metrics_u64(b, "sluice_pool_queued_messages", lab,
		                slc_pool_queued(d->pools, p));
	}
	slc_metrics_family(b, "sluice_pool_water_level_ratio", "gauge",
	                   "messages in the pool's rings over their capacity");
	for (uint32_t p = 0; p < np; p++) {
		snprintf(lab, sizeof(lab), "pool=\"%u\"", p);
		slc_metrics_f64(b, "sluice_pool_water_level_ratio", lab,
		                (double)slc_pool_queued(d->pools, p) /
		                        (double)slc_pool_capacity(d->pools, p));
	}
	slc_metrics_family(b, "sluice_pool_cpu_ratio", "gauge",
	                   "mean over the pool's workers of thread CPU time over wall time, last "
	                   "controller tick");
	for (uint32_t p = 0; p < np; p++) {
		snprintf(lab, sizeof(lab), "pool=\"%u\"", p);
		slc_metrics_f64(b, "sluice_pool_cpu_ratio", lab,
		                (double)LD(d->pool_cpu_ppm[p]) * 1e-6);
	}
	slc_metrics_family(b, "sluice_pool_runqueue_wait_ratio", "gauge",
	                   "mean over the pool's workers of run-queue delay over wall time, last "
	                   "controller tick");
	for (uint32_t p = 0; p < np; p++) {
		snprintf(lab, sizeof(lab), "pool=\"%u\"", p);
		slc_metrics_f64(b, "sluice_pool_runqueue_wait_ratio", lab,
		                (double)LD(d->pool_wait_ppm[p]) * 1e-6);
	}

#define WORKER_FAMILY(name, type, help, expr)                                               \
	do {                                                                                \
		slc_metrics_family(b, name, type, help);                                    \
		for (uint32_t g = 0; g < np * nw; g++) {                                    \
			struct slc_worker *wk = slc_pool_set_worker(d->pools, g);           \
			(void)wk;                                                           \
			snprintf(lab, sizeof(lab), "pool=\"%u\",worker=\"%u\"", g / nw, g); \
			expr;                                                               \
		}                                                                           \
	} while (0)

	WORKER_FAMILY(
	        "sluice_worker_processed_total", "counter", "messages the worker handled",
	        slc_metrics_u64(b, "sluice_worker_processed_total", lab, LD(wk->st.processed)));
	WORKER_FAMILY("sluice_worker_batches_total", "counter", "batches the worker handled",
	              slc_metrics_u64(b, "sluice_worker_batches_total", lab, LD(wk->st.batches)));
	WORKER_FAMILY(
	        "sluice_worker_inflight_messages", "gauge", "messages in the worker's handler now",
	        slc_metrics_u64(b, "sluice_worker_inflight_messages", lab, LD(wk->st.inflight)));
	WORKER_FAMILY("sluice_worker_busy_seconds_total", "counter",
	              "time the worker spent in its handler (the sink)",
	              slc_metrics_f64(b, "sluice_worker_busy_seconds_total", lab,
	                              (double)LD(wk->st.busy_ns) * 1e-9));
	WORKER_FAMILY("sluice_worker_parks_total", "counter",
	              "times the worker slept for lack of work",
	              slc_metrics_u64(b, "sluice_worker_parks_total", lab, LD(wk->st.parks)));
	WORKER_FAMILY("sluice_worker_sink_errors_total", "counter",
	              "batches the sink refused (their messages are lost)",
	              slc_metrics_u64(b, "sluice_worker_sink_errors_total", lab,
	                              LD(d->w[g].write_errors)));
	WORKER_FAMILY("sluice_worker_sink_refused_messages_total", "counter",
	              "messages the sink refused one by one (lost; the others of their "
	              "batch were delivered)",
	              slc_metrics_u64(b, "sluice_worker_sink_refused_messages_total", lab,
	                              LD(d->w[g].refused)));
	WORKER_FAMILY("sluice_worker_sink_lost_messages_total", "counter",
	              "messages in batches the sink refused, and messages it refused one by one",
	              slc_metrics_u64(b, "sluice_worker_sink_lost_messages_total", lab,
	                              LD(d->w[g].lost)));
	slc_metrics_family(b, "sluice_worker_handler_latency_seconds", "histogram",
	                   "time in the handler per message (batch time over batch size)");
	for (uint32_t g = 0; g < np * nw; g++) {
		struct slc_worker *wk = slc_pool_set_worker(d->pools, g);
		uint64_t buckets[SLC_POOL_LATENCY_BUCKETS];

		for (uint32_t i = 0; i < SLC_POOL_LATENCY_BUCKETS; i++)
			buckets[i] = LD(wk->st.latency_log2_ns[i]);
		snprintf(lab, sizeof(lab), "pool=\"%u\",worker=\"%u\"", g / nw, g);
		slc_metrics_histogram_log2(b, "sluice_worker_handler_latency_seconds", lab, buckets,
		                           SLC_POOL_LATENCY_BUCKETS, 1e-9,
		                           (double)LD(wk->st.busy_ns) * 1e-9);
	}
#undef WORKER_FAMILY

	slc_ctl_loop_stats(d->loop, &cs);
	slc_metrics_family(b, "sluice_controller_ticks_total", "counter", "controller ticks");
	slc_metrics_u64(b, "sluice_controller_ticks_total", NULL, cs.ticks);
	slc_metrics_family(b, "sluice_controller_changes_total", "counter",
	                   "ticks that moved routing weight");
	slc_metrics_u64(b, "sluice_controller_changes_total", NULL, cs.changes);
	slc_metrics_family(b, "sluice_controller_publish_errors_total", "counter",
	                   "route tables that could not be built (the previous one stayed)");
	slc_metrics_u64(b, "sluice_controller_publish_errors_total", NULL, cs.publish_errors);
}

static void
render_sink(struct slc_metrics_buf *b, const struct slc_daemon *d)
{
	if (d->sink_ops == &slc_sink_null_ops) {
		struct slc_sink_null_stats st;
		double bounds[SLC_SINK_NULL_BUCKETS];

		slc_sink_null_stats(d->sink, &st);
		slc_metrics_family(b, "sluice_sink_messages_total", "counter",
		                   "messages the sink took");
		slc_metrics_u64(b, "sluice_sink_messages_total", "sink=\"null\"", st.messages);
		slc_metrics_family(b, "sluice_sink_bytes_total", "counter",
		                   "payload bytes the sink took");
		slc_metrics_u64(b, "sluice_sink_bytes_total", "sink=\"null\"", st.bytes);
		slc_metrics_family(b, "sluice_e2e_latency_seconds", "histogram",
		                   "sluice-bench stamp to null sink, same host (CLOCK_MONOTONIC)");
		for (uint32_t i = 0; i < SLC_SINK_NULL_BUCKETS; i++)
			bounds[i] = (double)slc_sink_null_bounds_ns[i] * 1e-9;
		slc_metrics_histogram(b, "sluice_e2e_latency_seconds", NULL, bounds,
		                      st.latency_buckets, SLC_SINK_NULL_BUCKETS,
		                      (double)st.latency_sum_ns * 1e-9);
	} else if (d->sink_ops == &slc_sink_file_ops) {
		struct slc_sink_file_stats st;

		slc_sink_file_stats(d->sink, &st);
#define FILE_METRIC(name, help, v)                            \
	do {                                                  \
		slc_metrics_family(b, name, "counter", help); \
		slc_metrics_u64(b, name, "sink=\"file\"", v); \
	} while (0)
		FILE_METRIC("sluice_sink_messages_total", "records written", st.records);
		FILE_METRIC("sluice_sink_bytes_total", "key and payload bytes written", st.bytes);
		FILE_METRIC("sluice_sink_file_bytes_total", "bytes written to segment files",
		            st.file_bytes);
		FILE_METRIC("sluice_sink_file_segments_total", "segments created", st.segments);
		FILE_METRIC("sluice_sink_file_rotations_total", "segments ended full",
		            st.rotations);
		FILE_METRIC("sluice_sink_file_fsyncs_total", "fdatasync and syncfs calls",
		            st.fsyncs);
		FILE_METRIC("sluice_sink_errors_total", "failed creates, writes and syncs",
		            st.write_errors);
#undef FILE_METRIC
		slc_metrics_family(b, "sluice_sink_refused_records_total", "counter",
		                   "records the sink refused one by one (lost), by reason");
		slc_metrics_u64(b, "sluice_sink_refused_records_total",
		                "sink=\"file\",reason=\"key_too_long\"", st.refused_key_too_long);
		slc_metrics_family(b, "sluice_sink_file_foreign_files", "gauge",
		                   "files named like segments that start-up left alone (not "
		                   "regular files, or not segments of this version)");
		slc_metrics_u64(b, "sluice_sink_file_foreign_files", "sink=\"file\"",
		                st.recovered_foreign);
	} else if (d->sink_ops == &slc_sink_forward_ops) {
		struct slc_sink_forward_stats st;

		slc_sink_forward_stats(d->sink, &st);
		slc_metrics_family(b, "sluice_sink_messages_total", "counter", "messages sent");
		slc_metrics_u64(b, "sluice_sink_messages_total", "sink=\"forward\"", st.messages);
		slc_metrics_family(b, "sluice_sink_bytes_total", "counter", "bytes sent");
		slc_metrics_u64(b, "sluice_sink_bytes_total", "sink=\"forward\"", st.bytes);
		slc_metrics_family(b, "sluice_sink_forward_reconnects_total", "counter",
		                   "connections to the peer made again after one failed");
		slc_metrics_u64(b, "sluice_sink_forward_reconnects_total", NULL, st.reconnects);
		slc_metrics_family(b, "sluice_sink_undelivered_messages_total", "counter",
		                   "messages given up when --drain-timeout cancelled the sink");
		slc_metrics_u64(b, "sluice_sink_undelivered_messages_total", "sink=\"forward\"",
		                st.cancelled);
	} else if (d->sink_ops == &slc_sink_kafka_ops) {
		struct slc_sink_kafka_stats st;
		char lab[48];

		slc_sink_kafka_stats(d->sink, &st);
#define KAFKA_METRIC(name, type, help, v)                      \
	do {                                                   \
		slc_metrics_family(b, name, type, help);       \
		slc_metrics_u64(b, name, "sink=\"kafka\"", v); \
	} while (0)
		KAFKA_METRIC("sluice_sink_messages_total", "counter",
		             "records Kafka acknowledged (delivery reports without error)",
		             st.delivered);
		KAFKA_METRIC("sluice_sink_bytes_total", "counter",
		             "value bytes of the records produced", st.bytes);
		KAFKA_METRIC("sluice_sink_kafka_produced_total", "counter",
		             "records handed to librdkafka", st.produced);
		KAFKA_METRIC("sluice_sink_kafka_failed_total", "counter",
		             "records whose delivery failed after librdkafka's retries", st.failed);
		KAFKA_METRIC("sluice_sink_kafka_rejected_total", "counter",
		             "records librdkafka refused at once (too large, fatal error)",
		             st.rejected);
		KAFKA_METRIC("sluice_sink_kafka_cancelled_total", "counter",
		             "records not produced because the drain timeout cancelled them",
		             st.cancelled);
		KAFKA_METRIC("sluice_sink_kafka_queue_full_total", "counter",
		             "times a worker waited for room in librdkafka's queue (backpressure)",
		             st.queue_full);
		KAFKA_METRIC("sluice_sink_kafka_errors_total", "counter",
		             "librdkafka error events (brokers down, ...)", st.errors);
		KAFKA_METRIC("sluice_sink_kafka_queue_depth", "gauge",
		             "records produced and still without a delivery report", st.in_flight);
#undef KAFKA_METRIC
		slc_metrics_family(b, "sluice_sink_kafka_partition_delivered_total", "counter",
		                   "records Kafka acknowledged, per partition");
		for (uint32_t p = 0; p < st.partitions; p++) {
			snprintf(lab, sizeof(lab), "partition=\"%u\"", p);
			slc_metrics_u64(b, "sluice_sink_kafka_partition_delivered_total", lab,
			                st.partition_delivered[p]);
		}
		if (st.partition_other != 0)
			slc_metrics_u64(b, "sluice_sink_kafka_partition_delivered_total",
			                "partition=\"other\"", st.partition_other);
	}
}

int
slc_daemon_metrics_render(void *ctx, struct slc_metrics_buf *b)
{
	const struct slc_daemon *d = ctx;

	render_listeners(b, d);
	render_acks(b, d);
	render_reactors(b, d);
	render_hot_keys(b, d);
	render_pools(b, d);
	render_sink(b, d);
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
