/* SPDX-License-Identifier: MIT */
/* status.c: the status page's data (GET /status.json) and its first view (GET /, /status). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_priv.h"
#include "metrics/text.h"
#include "status_page.h"

#ifndef SLC_VERSION
#define SLC_VERSION "unknown"
#endif

/*
 * Runs on the metrics endpoint's thread, under the render's rules (daemon_metrics.c): it
 * reads atomics and snapshots. One exception: the flags in force are read under the
 * reload's mutex, which only the main thread (SIGHUP) and this thread take, never a
 * reactor or a worker; a page asked for during a SIGHUP reload waits for it.
 *
 * Rates are differences of counters between two samples at least a second apart: the
 * state keeps the last two, so every client, however often it asks, sees the rate of the
 * last whole window (window_s says how long it was).
 */

#define LD(x)                atomic_load_explicit(&(x), memory_order_relaxed)
#define RATE_WINDOW_NS       1000000000LL
#define HOT_KEYS_PER_REACTOR 5u

struct status_sample {
	int64_t t_ns;
	uint64_t in_msgs, in_bytes, out_msgs;
	uint64_t pool_out[SLC_POOLS_MAX];
};

struct slc_daemon_status {
	int64_t created_ns;
	struct status_sample prev, cur; /* cur.t_ns 0: no sample yet; prev.t_ns 0: no rate */
	struct status_sample now;
	char flags[SLC_CFG_DESCRIBE_LEN];
};

int
slc_daemon_status_init(struct slc_daemon *d)
{
	d->status = calloc(1, sizeof(*d->status));
	if (d->status == NULL)
		return -ENOMEM;
	d->status->created_ns = (int64_t)slc_mono_ns();
	return 0;
}

void
slc_daemon_status_fini(struct slc_daemon *d)
{
	free(d->status);
	d->status = NULL;
}

/* ---- what one request reads ------------------------------------------------------------ */

struct view {
	const struct slc_daemon *d;
	struct slc_daemon_status *st;
	struct slc_metrics_text *t;
	double weights[SLC_POOLS_MAX];
	double dt_s; /* the rate window; 0: no rate yet */
	struct slc_sink_status sink;
	bool has_sink_status;
};

static const struct slc_listener_stats *
lstats(const struct slc_daemon *d, uint32_t k, uint32_t i)
{
	return slc_reactor_listener_stats(d->rc[k].r, i);
}

static uint64_t
pool_processed(const struct slc_daemon *d, uint32_t p)
{
	uint64_t n = 0;

	for (uint32_t w = 0; w < d->cfg.workers; w++)
		n += LD(slc_pool_set_worker(d->pools, p * d->cfg.workers + w)->st.processed);
	return n;
}

static void
sample(const struct slc_daemon *d, struct status_sample *s)
{
	memset(s, 0, sizeof(*s));
	s->t_ns = (int64_t)slc_mono_ns();
	for (uint32_t k = 0; k < d->nreactors; k++)
		for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
			s->in_msgs += LD(lstats(d, k, i)->msgs);
			s->in_bytes += LD(lstats(d, k, i)->bytes);
		}
	for (uint32_t p = 0; p < d->cfg.pools; p++) {
		s->pool_out[p] = pool_processed(d, p);
		s->out_msgs += s->pool_out[p];
	}
}

/* Takes this request's sample; moves the window on when the last one is a second old. */
static void
view_init(struct view *v, const struct slc_daemon *d, struct slc_metrics_text *t)
{
	struct slc_daemon_status *st = d->status;

	memset(v, 0, sizeof(*v));
	v->d = d;
	v->st = st;
	v->t = t;
	sample(d, &st->now);
	if (st->cur.t_ns == 0) {
		st->cur = st->now;
	} else if (st->now.t_ns - st->cur.t_ns >= RATE_WINDOW_NS) {
		st->prev = st->cur;
		st->cur = st->now;
	}
	if (st->prev.t_ns != 0)
		v->dt_s = (double)(st->cur.t_ns - st->prev.t_ns) * 1e-9;
	slc_ctl_loop_weights(d->loop, v->weights);
	if (d->sink_ops->status != NULL) {
		d->sink_ops->status(d->sink, &v->sink);
		v->has_sink_status = true;
	}
}

static double
rate(const struct view *v, uint64_t cur, uint64_t prev)
{
	return v->dt_s > 0 ? (double)(cur - prev) / v->dt_s : 0;
}

static const char *
phase_name(const struct slc_daemon *d)
{
	static const char *const names[] = {
	        [SLC_DAEMON_STARTING] = "starting",
	        [SLC_DAEMON_READY] = "ready",
	        [SLC_DAEMON_DRAINING] = "draining",
	        [SLC_DAEMON_STOPPED] = "stopped",
	};

	return names[atomic_load_explicit(&d->phase, memory_order_relaxed)];
}

/* A drop or refusal counter, summed over the reactors or the workers. */
struct drop {
	const char *what;
	const char *reason;
	uint64_t n;
};

#define DROPS_MAX \
	(2 * SLC_CLOSE__COUNT + SLC_FRAME_ERR__COUNT + SLC_UDP_DROP__COUNT + SLC_ACK_ERR__COUNT + 8)

static uint32_t
drop_add(struct drop *out, uint32_t n, const char *what, const char *reason, uint64_t count)
{
	if (count == 0)
		return n;
	out[n] = (struct drop){what, reason, count};
	return n + 1;
}

/* Listener counter at offset off (an array of count), summed over every listener. */
static uint64_t
lsum(const struct slc_daemon *d, size_t off, uint32_t e)
{
	uint64_t n = 0;

	for (uint32_t k = 0; k < d->nreactors; k++)
		for (uint32_t i = 0; i < d->cfg.nlisten; i++)
			n += LD(((const _Atomic uint64_t *)((const char *)lstats(d, k, i) +
			                                    off))[e]);
	return n;
}

#define LS(f) offsetof(struct slc_listener_stats, f)

/* Every drop and refusal that is not zero: what was lost or turned away, and why. */
static uint32_t
drops(const struct slc_daemon *d, struct drop *o)
{
	uint64_t lost = 0, refused = 0;
	uint32_t n = 0;

	n = drop_add(o, n, "connection_refused", "max_conns_or_accept", lsum(d, LS(refused), 0));
	for (uint32_t e = 0; e < SLC_CLOSE__COUNT; e++)
		n = drop_add(o, n, "closed_with_data", slc_close_reason_str(e),
		             lsum(d, LS(closed_with_data), e));
	for (uint32_t e = 1; e < SLC_FRAME_ERR__COUNT; e++)
		n = drop_add(o, n, "frame_rejected", slc_frame_error_str(e),
		             lsum(d, LS(frames_rejected), e));
	n = drop_add(o, n, "frame_skipped", "oversize", lsum(d, LS(frames_skipped), 0));
	for (uint32_t e = 0; e < SLC_UDP_DROP__COUNT; e++)
		n = drop_add(o, n, "udp_drop", slc_udp_drop_str(e), lsum(d, LS(udp_drops), e));
	n = drop_add(o, n, "udp_drop", "kernel", lsum(d, LS(udp_kernel_drops), 0));
	for (uint32_t e = 0; e < SLC_ACK_ERR__COUNT; e++)
		n = drop_add(o, n, "ack_protocol_error", slc_ack_error_str(e),
		             lsum(d, LS(ack_errors), e));
	for (uint32_t g = 0; g < d->cfg.pools * d->cfg.workers; g++) {
		lost += LD(d->w[g].lost) - LD(d->w[g].refused);
		refused += LD(d->w[g].refused);
	}
	n = drop_add(o, n, "sink_lost", "write_failed", lost);
	n = drop_add(o, n, "sink_lost", "refused", refused);
	return n;
}

#undef LS

/* ---- JSON ---------------------------------------------------------------------------- */

static void
jstr(struct slc_metrics_text *t, const char *s)
{
	slc_metrics_text_json_str(t, s, strlen(s));
}

static void
json_listeners(const struct view *v)
{
	const struct slc_daemon *d = v->d;
	struct slc_metrics_text *t = v->t;
	char url[SLC_CFG_DESCRIBE_LEN / 64];

	slc_metrics_text_printf(t, ",\"listeners\":[");
	for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
		uint64_t open = 0, acc = 0, ref = 0, msgs = 0, bytes = 0;

		for (uint32_t k = 0; k < d->nreactors; k++) {
			open += LD(lstats(d, k, i)->open);
			acc += LD(lstats(d, k, i)->accepted);
			ref += LD(lstats(d, k, i)->refused);
			msgs += LD(lstats(d, k, i)->msgs);
			bytes += LD(lstats(d, k, i)->bytes);
		}
		slc_daemon_listen_url(d, i, url, sizeof(url));
		slc_metrics_text_printf(t, "%s{\"id\":%u,\"url\":", i ? "," : "", i);
		jstr(t, url);
		slc_metrics_text_printf(
		        t,
		        ",\"proto\":\"%s\",\"port\":%u,\"connections_open\":%" PRIu64
		        ",\"connections_accepted\":%" PRIu64 ",\"connections_refused\":%" PRIu64
		        ",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
		        d->cfg.listen[i].proto == SLC_LISTENER_UDP ? "udp" : "tcp", d->port[i],
		        open, acc, ref, msgs, bytes);
	}
	slc_metrics_text_printf(t, "]");
}

static void
json_pools(const struct view *v)
{
	const struct slc_daemon *d = v->d;
	struct slc_metrics_text *t = v->t;

	slc_metrics_text_printf(t, ",\"pools\":[");
	for (uint32_t p = 0; p < d->cfg.pools; p++) {
		uint64_t q = slc_pool_queued(d->pools, p), cap = slc_pool_capacity(d->pools, p);

		slc_metrics_text_printf(
		        t,
		        "%s{\"id\":%u,\"weight\":%.6g,\"queued\":%" PRIu64 ",\"capacity\":%" PRIu64
		        ",\"water_level\":%.6g,\"cpu\":%.6g,\"processed\":%" PRIu64
		        ",\"processed_per_s\":%.6g,\"workers\":[",
		        p ? "," : "", p, v->weights[p], q, cap, cap ? (double)q / (double)cap : 0,
		        (double)LD(d->pool_cpu_ppm[p]) * 1e-6, v->st->now.pool_out[p],
		        rate(v, v->st->cur.pool_out[p], v->st->prev.pool_out[p]));
		for (uint32_t w = 0; w < d->cfg.workers; w++) {
			uint32_t g = p * d->cfg.workers + w;
			const struct slc_worker *wk = slc_pool_set_worker(d->pools, g);

			slc_metrics_text_printf(t,
			                        "%s{\"id\":%u,\"processed\":%" PRIu64
			                        ",\"inflight\":%" PRIu64 ",\"lost\":%" PRIu64 "}",
			                        w ? "," : "", g, LD(wk->st.processed),
			                        LD(wk->st.inflight), LD(d->w[g].lost));
		}
		slc_metrics_text_printf(t, "]}");
	}
	slc_metrics_text_printf(t, "]");
}

static void
json_drops(const struct view *v)
{
	struct drop o[DROPS_MAX];
	uint32_t n = drops(v->d, o);

	slc_metrics_text_printf(v->t, ",\"drops\":[");
	for (uint32_t i = 0; i < n; i++)
		slc_metrics_text_printf(
		        v->t, "%s{\"what\":\"%s\",\"reason\":\"%s\",\"count\":%" PRIu64 "}",
		        i ? "," : "", o[i].what, o[i].reason, o[i].n);
	slc_metrics_text_printf(v->t, "]");
}

static void
json_latency(const struct view *v)
{
	static const double q[] = {0.5, 0.9, 0.99, 0.999};
	static const char *const name[] = {"daemon", "e2e"};
	double s[4];

	if (v->d->cfg.latency_stamps == SLC_CFG_STAMPS_OFF) {
		slc_metrics_text_printf(v->t, ",\"latency\":null");
		return;
	}
	slc_metrics_text_printf(v->t, ",\"latency\":{");
	for (int e = 0; e < 2; e++) {
		uint64_t n = slc_daemon_lat_quantiles(v->d, e == 1, q, 4, s);

		slc_metrics_text_printf(v->t, "%s\"%s\":{\"count\":%" PRIu64, e ? "," : "", name[e],
		                        n);
		if (n > 0)
			slc_metrics_text_printf(v->t,
			                        ",\"p50_s\":%.6g,\"p90_s\":%.6g,\"p99_s\":%.6g,"
			                        "\"p999_s\":%.6g",
			                        s[0], s[1], s[2], s[3]);
		slc_metrics_text_printf(v->t, "}");
	}
	slc_metrics_text_printf(v->t, "}");
}

static void
json_keys_and_uring(const struct view *v)
{
	static const char *const feat[SLC_REACTOR_F__COUNT] = SLC_REACTOR_FEATURE_NAMES;
	const struct slc_daemon *d = v->d;
	struct slc_hotkeys_entry e[HOT_KEYS_PER_REACTOR];
	bool first = true;

	slc_metrics_text_printf(v->t, ",\"hot_keys\":[");
	for (uint32_t k = 0; d->has_key && k < d->nreactors; k++) {
		int n = slc_hotkeys_snapshot(d->rc[k].hot, e, HOT_KEYS_PER_REACTOR);

		for (int i = 0; i < n; i++, first = false) {
			slc_metrics_text_printf(v->t,
			                        "%s{\"reactor\":%u,\"key\":", first ? "" : ",", k);
			slc_metrics_text_json_str(v->t, (const char *)e[i].key,
			                          e[i].key_len < SLC_HOTKEYS_KEY_MAX
			                                  ? e[i].key_len
			                                  : SLC_HOTKEYS_KEY_MAX);
			slc_metrics_text_printf(v->t, ",\"count\":%" PRIu64 "}", e[i].count);
		}
	}
	slc_metrics_text_printf(v->t, "],\"uring\":[");
	for (uint32_t k = 0; k < d->nreactors; k++) {
		uint32_t f = slc_reactor_features(d->rc[k].r);
		bool any = false;

		slc_metrics_text_printf(v->t, "%s{\"reactor\":%u,\"features\":[", k ? "," : "", k);
		for (uint32_t i = 0; i < SLC_REACTOR_F__COUNT; i++)
			if ((f >> i) & 1) {
				slc_metrics_text_printf(v->t, "%s\"%s\"", any ? "," : "", feat[i]);
				any = true;
			}
		slc_metrics_text_printf(v->t, "]}");
	}
	slc_metrics_text_printf(v->t, "]");
}

static void
json_reload_and_flags(const struct view *v)
{
	const struct slc_daemon *d = v->d;
	struct slc_metrics_text *t = v->t;
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);
	char *save = NULL;
	bool first = true;

	slc_metrics_text_printf(t,
	                        ",\"reload\":{\"last_ok\":%s,\"last_ok_unix\":%" PRId64
	                        ",\"ok\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"refused\":%" PRIu64
	                        ",\"config\":",
	                        LD(d->rl.last_ok) ? "true" : "false", (int64_t)LD(d->rl.last_ok_s),
	                        LD(d->rl.result[0]), LD(d->rl.result[1]), LD(d->rl.result[2]));
	if (d->cfg.config[0] != '\0')
		jstr(t, d->cfg.config);
	else
		slc_metrics_text_printf(t, "null");
	slc_metrics_text_printf(t, ",\"restart_required\":[");
	for (size_t i = 0; i < nopts && i < SLC_DAEMON_FLAGS_MAX; i++) {
		if (LD(d->rl.restart[i]) == 0)
			continue;
		slc_metrics_text_printf(t, "%s", first ? "" : ",");
		jstr(t, opts[i].name);
		first = false;
	}
	slc_metrics_text_printf(t, "]},\"flags\":[");
	/* The running configuration, live flags reloaded: what the start-up line says. */
	pthread_mutex_lock((pthread_mutex_t *)&d->rl.mu);
	slc_cfg_describe(d->rl.cur, v->st->flags, sizeof(v->st->flags));
	pthread_mutex_unlock((pthread_mutex_t *)&d->rl.mu);
	first = true;
	for (char *tok = strtok_r(v->st->flags, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), name[128];
		bool live = false;

		if (eq != NULL)
			*eq = '\0';
		for (size_t i = 0; i < nopts; i++)
			if (strcmp(opts[i].name + 2, tok) == 0)
				live = slc_daemon_reload_flag_live(&opts[i]);
		snprintf(name, sizeof(name), "--%s", tok);
		slc_metrics_text_printf(t, "%s{\"name\":", first ? "" : ",");
		jstr(t, name);
		slc_metrics_text_printf(t, ",\"value\":");
		jstr(t, eq != NULL ? eq + 1 : "");
		slc_metrics_text_printf(t, ",\"live\":%s}", live ? "true" : "false");
		first = false;
	}
	slc_metrics_text_printf(t, "]");
}

static void
render_json(const struct view *v)
{
	const struct slc_daemon *d = v->d;
	const struct status_sample *c = &v->st->cur, *p = &v->st->prev;
	struct slc_metrics_text *t = v->t;
	struct slc_ctl_loop_stats cs;
	uint64_t lost = 0;

	for (uint32_t g = 0; g < d->cfg.pools * d->cfg.workers; g++)
		lost += LD(d->w[g].lost);
	slc_ctl_loop_stats(d->loop, &cs);
	slc_metrics_text_printf(t, "{\"version\":\"%s\",\"pid\":%d,\"phase\":\"%s\"", SLC_VERSION,
	                        (int)getpid(), phase_name(d));
	slc_metrics_text_printf(t, ",\"uptime_s\":%.3f,\"now_unix\":%" PRId64,
	                        (double)(v->st->now.t_ns - v->st->created_ns) * 1e-9,
	                        (int64_t)time(NULL));
	slc_metrics_text_printf(t, ",\"sink\":{\"name\":\"%s\",\"healthy\":%s,\"health\":",
	                        d->sink_ops->name, v->sink.health[0] == '\0' ? "true" : "false");
	jstr(t, v->sink.health);
	if (v->has_sink_status)
		slc_metrics_text_printf(t, ",\"delivered\":%" PRIu64 "}", v->sink.delivered);
	else
		slc_metrics_text_printf(t, ",\"delivered\":null}");
	slc_metrics_text_printf(t,
	                        ",\"totals\":{\"received_messages\":%" PRIu64
	                        ",\"received_bytes\":%" PRIu64 ",\"processed_messages\":%" PRIu64
	                        ",\"lost_messages\":%" PRIu64 "}",
	                        v->st->now.in_msgs, v->st->now.in_bytes, v->st->now.out_msgs, lost);
	if (v->dt_s > 0)
		slc_metrics_text_printf(
		        t,
		        ",\"rates\":{\"window_s\":%.3f,\"received_messages_per_s\":%.6g,"
		        "\"received_bytes_per_s\":%.6g,\"processed_messages_per_s\":%.6g}",
		        v->dt_s, rate(v, c->in_msgs, p->in_msgs), rate(v, c->in_bytes, p->in_bytes),
		        rate(v, c->out_msgs, p->out_msgs));
	else
		slc_metrics_text_printf(t, ",\"rates\":null");
	slc_metrics_text_printf(t,
	                        ",\"controller\":{\"mode\":\"%s\",\"ticks\":%" PRIu64
	                        ",\"changes\":%" PRIu64 "}",
	                        d->cfg.ctl.mode == SLC_CTL_PAIRWISE ? "pairwise" : "adaptive",
	                        cs.ticks, cs.changes);
	json_listeners(v);
	json_pools(v);
	json_drops(v);
	json_latency(v);
	json_keys_and_uring(v);
	json_reload_and_flags(v);
	slc_metrics_text_printf(t, "}\n");
}

/* ---- the page's first view ------------------------------------------------------------ */

/* One table row of n cells, each escaped. */
static void
html_row(struct slc_metrics_text *t, uint32_t n, char cells[][96])
{
	slc_metrics_text_printf(t, "<tr>");
	for (uint32_t i = 0; i < n; i++) {
		slc_metrics_text_printf(t, "<td>");
		slc_metrics_text_html(t, cells[i]);
		slc_metrics_text_printf(t, "</td>");
	}
	slc_metrics_text_printf(t, "</tr>");
}

static void
render_html(const struct view *v)
{
	const struct slc_daemon *d = v->d;
	struct slc_metrics_text *t = v->t;
	struct drop o[DROPS_MAX];
	char c[6][96];
	uint32_t n;

	slc_metrics_text_printf(t, "%s", slc_daemon_status_page_head);
	slc_metrics_text_printf(t,
	                        "<p id=\"summary\">sluiced <b id=\"version\">%s</b>, %s, up "
	                        "<b id=\"uptime\">%.0f s</b>; sink <b id=\"sink\">",
	                        SLC_VERSION, phase_name(d),
	                        (double)(v->st->now.t_ns - v->st->created_ns) * 1e-9);
	slc_metrics_text_html(t, d->sink_ops->name);
	slc_metrics_text_printf(t, "</b> <b id=\"health\" class=\"%s\">",
	                        v->sink.health[0] == '\0' ? "ok" : "bad");
	slc_metrics_text_html(t, v->sink.health[0] == '\0' ? "healthy" : v->sink.health);
	slc_metrics_text_printf(t, "</b></p>");
	slc_metrics_text_printf(t, "<h2>Traffic</h2><table id=\"totals\"><thead><tr><th>received "
	                           "messages</th><th>received bytes</th><th>processed messages</th>"
	                           "</tr></thead><tbody>");
	snprintf(c[0], sizeof(c[0]), "%" PRIu64, v->st->now.in_msgs);
	snprintf(c[1], sizeof(c[1]), "%" PRIu64, v->st->now.in_bytes);
	snprintf(c[2], sizeof(c[2]), "%" PRIu64, v->st->now.out_msgs);
	html_row(t, 3, c);
	slc_metrics_text_printf(
	        t, "</tbody></table><p><span id=\"rates\">rates: in the JSON "
	           "(status.json) and with JavaScript</span> <span "
	           "id=\"ratechart\"></span></p><h2>Listeners</h2><table id=\"listeners\">"
	           "<thead><tr><th>listener</th><th>open</th><th>accepted</th>"
	           "<th>messages</th></tr></thead><tbody>");
	for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
		uint64_t open = 0, acc = 0, msgs = 0;

		for (uint32_t k = 0; k < d->nreactors; k++) {
			open += LD(lstats(d, k, i)->open);
			acc += LD(lstats(d, k, i)->accepted);
			msgs += LD(lstats(d, k, i)->msgs);
		}
		slc_daemon_listen_url(d, i, c[0], sizeof(c[0]));
		snprintf(c[1], sizeof(c[1]), "%" PRIu64, open);
		snprintf(c[2], sizeof(c[2]), "%" PRIu64, acc);
		snprintf(c[3], sizeof(c[3]), "%" PRIu64, msgs);
		html_row(t, 4, c);
	}
	slc_metrics_text_printf(t, "</tbody></table><h2>Pools</h2><table id=\"pools\"><thead><tr>"
	                           "<th>pool</th><th>weight</th><th>queued</th><th>water level"
	                           "</th><th>processed</th><th>level, weight: last 2 min</th></tr>"
	                           "</thead><tbody>");
	for (uint32_t p = 0; p < d->cfg.pools; p++) {
		uint64_t q = slc_pool_queued(d->pools, p), cap = slc_pool_capacity(d->pools, p);

		snprintf(c[0], sizeof(c[0]), "%u", p);
		snprintf(c[1], sizeof(c[1]), "%.1f", v->weights[p]);
		snprintf(c[2], sizeof(c[2]), "%" PRIu64, q);
		snprintf(c[3], sizeof(c[3]), "%.1f%%", cap ? 100.0 * (double)q / (double)cap : 0);
		snprintf(c[4], sizeof(c[4]), "%" PRIu64, v->st->now.pool_out[p]);
		html_row(t, 5, c);
	}
	slc_metrics_text_printf(t, "</tbody></table><h2>Drops and refusals</h2><table "
	                           "id=\"drops\"><thead><tr><th>what</th><th>reason</th><th>count"
	                           "</th></tr></thead><tbody>");
	n = drops(d, o);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(c[0], sizeof(c[0]), "%s", o[i].what);
		snprintf(c[1], sizeof(c[1]), "%s", o[i].reason);
		snprintf(c[2], sizeof(c[2]), "%" PRIu64, o[i].n);
		html_row(t, 3, c);
	}
	slc_metrics_text_printf(t, "</tbody></table>%s", slc_daemon_status_page_tail);
}

int
slc_daemon_status_render(void *ctx, enum slc_metrics_status_format fmt, struct slc_metrics_text *t)
{
	struct view v;

	view_init(&v, ctx, t);
	if (fmt == SLC_METRICS_STATUS_JSON)
		render_json(&v);
	else
		render_html(&v);
	return slc_metrics_text_oom(t) ? -ENOMEM : 0;
}
