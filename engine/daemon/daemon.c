/* SPDX-License-Identifier: MIT */
/* daemon.c: sluiced assembled from the library: log, placement, sink, reactors, create, destroy. */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/addr.h"
#include "daemon_priv.h"
#include "sinks/registry.h"
#include "tenant_spec.h"

#define HOTKEYS_K      32
#define HOTKEYS_SAMPLE 64
/* Frames that straddle receive buffers are copied into one of these (max_frame each). */
#define UDP_BUFFERS_UNUSED 2 /* a reactor with no UDP listener still takes a (tiny) ring */

static _Atomic int log_level = SLC_CFG_LOG_INFO;

void
slc_daemon_log_level_set(enum slc_cfg_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

static void SLC_PRINTF(2, 0) vlog(enum slc_cfg_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	n = snprintf(line, sizeof(line), "sluiced: %s: ", slc_log_level_name((int)level));
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

/* The libraries' slc_log_fn: their lines, filtered by --log-level like the daemon's. */
static void SLC_PRINTF(3, 4) lib_log(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (level < SLC_LOG_ERROR)
		level = SLC_LOG_ERROR;
	if (level > SLC_LOG_DEBUG)
		level = SLC_LOG_DEBUG;
	va_start(ap, fmt);
	vlog((enum slc_cfg_log_level)level, fmt, ap);
	va_end(ap);
}

/* ---- placement ------------------------------------------------------------------------ */

/* Auto pools at most this many: adaptive weights are percentages, and pools all at the
 * --min-weight floor must leave room to move (flags.c checks given counts the same way). */
static int
auto_pools_max(const struct slc_cfg *c)
{
	double m = c->ctl.min_weight;
	int n;

	if (c->ctl.mode != SLC_CTL_ADAPTIVE || m <= 0)
		return 0;
	n = (int)(100.0 / m);
	if (n * m >= 100.0)
		n--;
	return n < 1 ? 1 : n;
}

/*
 * Fills c's auto counts (0) from the topology's usable cores and the cgroup's CPU limit,
 * writing why into why. 0, or -EINVAL with the reason logged.
 */
static int
size_auto(struct slc_cfg *c, struct slc_numa_topo *topo, char *why, size_t why_len)
{
	struct slc_numa_plan_req req = {
	        .reactors_per_node = (int)c->reactors_per_node,
	        .pools = (int)c->pools,
	        .workers_per_pool = (int)c->workers,
	};
	double limit = 0;
	int err;

	why[0] = '\0';
	if (req.reactors_per_node != 0 && req.pools != 0 && req.workers_per_pool != 0)
		return 0;
	/* Another machine's topology (--topology-xml) is sized without this one's cgroup. */
	if (c->topology_xml[0] == '\0')
		(void)slc_numa_cgroup_cpu_limit("/proc/self/cgroup", "/sys/fs/cgroup", &limit);
	err = slc_numa_size_topo(topo, limit, auto_pools_max(c), &req, why, why_len);
	if (err != 0) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "sizing: %s", strerror(-err));
		return err;
	}
	c->reactors_per_node = (uint32_t)req.reactors_per_node;
	c->pools = (uint32_t)req.pools;
	c->workers = (uint32_t)req.workers_per_pool;
	/* The flags' check of the product could not see the counts sizing chose. */
	if ((uint64_t)c->pools * c->workers > SLC_WORKERS_MAX) {
		slc_daemon_log(SLC_CFG_LOG_ERROR,
		               "--pools %u x --workers %u: %u workers in all, more than %u; "
		               "give --pools or a smaller --workers",
		               c->pools, c->workers, c->pools * c->workers, SLC_WORKERS_MAX);
		return -EINVAL;
	}
	if (c->test_slow_pool_cost_ns != 0 && c->test_slow_pool >= c->pools) {
		slc_daemon_log(SLC_CFG_LOG_ERROR,
		               "--test-slow-pool %u: there are %u pools (--pools auto); allowed: "
		               "0..%u, or --pools N",
		               c->test_slow_pool, c->pools, c->pools - 1);
		return -EINVAL;
	}
	return 0;
}

/* Loads the topology, sizes c's auto counts (why: the reason, "" if none was auto) and
 * plans the placement. */
static int
placement(struct slc_cfg *c, struct slc_numa_topo **topo, struct slc_numa_plan **plan, char *why,
          size_t why_len)
{
	struct slc_numa_plan_req req;
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
	err = size_auto(c, *topo, why, why_len);
	if (err != 0)
		goto err_topo;
	req = (struct slc_numa_plan_req){
	        .reactors_per_node = (int)c->reactors_per_node,
	        .pools = (int)c->pools,
	        .workers_per_pool = (int)c->workers,
	};
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
	struct slc_cfg sized = *c;
	struct slc_numa_topo *topo;
	struct slc_numa_plan *plan;
	char why[SLC_DAEMON_SIZING_WHY_LEN];
	int rc = placement(&sized, &topo, &plan, why, sizeof(why));

	if (rc != 0)
		return rc;
	if (why[0] != '\0')
		fprintf(out, "sizing: %s\n", why);
	rc = slc_numa_plan_print(plan, out);
	slc_numa_plan_destroy(plan);
	slc_numa_topo_destroy(topo);
	return rc;
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
	struct slc_sink_env env = {
	        .settings = slc_cfg_sink_settings(c, c->sink.desc),
	        .workers = c->pools * c->workers,
	        .drain_timeout_ms = c->drain_timeout_ms,
	        .key_fn = sink_key,
	        .key_ctx = d,
	        .log = lib_log,
	        .listen = c->listen,
	        .nlisten = c->nlisten,
	        .retry = c->retry,
	        .dead_letter_dir = c->dead_letter[0] != '\0' ? c->dead_letter : NULL,
	};
	int err = 0;

	d->sink_ops = slc_sink_ops_of(c->sink.desc);
	if (d->sink_ops != NULL)
		d->sink = d->sink_ops->create(&c->sink, &env, &err);
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

void
slc_daemon_listen_url(const struct slc_daemon *d, uint32_t i, char *buf, size_t len)
{
	const struct slc_listener_cfg *l = &d->cfg.listen[i];
	struct sockaddr_storage bound = l->addr;
	char addr[SLC_ADDR_SA_STR_MAX];

	/* The bound port, not the configured one (0: any free port). */
	if (bound.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&bound)->sin6_port = htons(d->port[i]);
	else
		((struct sockaddr_in *)&bound)->sin_port = htons(d->port[i]);
	slc_addr_format((const struct sockaddr *)&bound, sizeof(bound), addr, sizeof(addr));
	if (l->proto == SLC_LISTENER_UDP)
		snprintf(buf, len, "udp://%s", addr);
	else if (l->http)
		snprintf(buf, len, "http://%s", addr);
	else
		snprintf(buf, len, "%s://%s?framing=%s%s", l->tls ? "tls" : "tcp", addr,
		         slc_frame_format_name(l->framing),
		         l->acks && l->framing == SLC_FRAME_LEN32 ? "+ack" : "");
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
		slc_daemon_listen_url(d, i, url, sizeof(url));
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

/* --tenant: the table every reactor reads (checked when the flags were parsed). */
static int
tenants_build(struct slc_daemon *d)
{
	char why[512];
	int rc;

	if (d->cfg.tenant.n == 0)
		return 0;
	d->tenants = malloc(sizeof(*d->tenants));
	if (d->tenants == NULL)
		return -ENOMEM;
	rc = slc_tenant_table_build(&d->cfg, d->tenants, why, sizeof(why));
	if (rc != 0) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "%s", why);
		return rc;
	}
	for (uint32_t i = 0; i < d->tenants->n; i++) {
		if (d->tenants->t[i].qos == 0 || d->qos != NULL)
			continue;
		d->qos = aligned_alloc(alignof(struct slc_qos), sizeof(*d->qos));
		if (d->qos == NULL)
			return -ENOMEM;
		(void)slc_qos_build(&d->cfg, d->qos, why, sizeof(why)); /* checked with the flags */
		/* Every ring slot the reactors feed: the weighted shares are of this. */
		d->qos->capacity =
		        (uint64_t)d->cfg.pools * d->cfg.workers * d->cfg.ring_size * d->nreactors;
	}
	if (d->nreactors > 1)
		slc_daemon_log(SLC_CFG_LOG_INFO,
		               "tenants: %u, each reactor's buckets hold 1/%u of every rate and "
		               "burst",
		               d->tenants->n, d->nreactors);
	return 0;
}

static int
reactors_create(struct slc_daemon *d)
{
	const struct slc_cfg *c = &d->cfg;
	struct slc_listener_cfg lst[SLC_CFG_LISTEN_MAX];
	bool udp = false;
	uint32_t features_off = 0;
	char msg[8];
	int err;

	/* Checked when the flags were parsed: cannot fail here. */
	(void)slc_cfg_uring_features(c->uring_features, &features_off, msg, sizeof(msg));
	err = listeners_probe(d);
	if (err != 0)
		return err;
	err = slc_daemon_tls_create(d);
	if (err != 0)
		return err;
	err = tenants_build(d);
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
		        .oversize_skip = c->oversize == SLC_CFG_OVERSIZE_SKIP,
		        .max_conns = c->max_conns,
		        .evict_idle_ms = c->evict_idle_ms,
		        .features_off = features_off,
		        .idle_timeout_ms = c->idle_timeout_ms,
		        .ack_window = c->ack_window,
		        .tls_ctx = d->tls.ctx,
		        .tls_handshake_timeout_ms = c->tls_handshake_timeout_ms,
		        .tls_max_handshakes = c->tls_max_handshakes,
		        .tls_max_handshakes_per_source = c->tls_max_handshakes_per_source,
		        .http_max_body = c->http_max_body,
		        .otlp_key =
		                d->key.kind == SLC_KEY_OTLP ? (const uint8_t *)d->key.name : NULL,
		        .otlp_key_len = d->key.kind == SLC_KEY_OTLP ? d->key.name_len : 0,
		        .fwd_tag_key = d->key.kind == SLC_KEY_FORWARD_TAG,
		        .fwd_max_inflated = c->fwd_max_inflated,
		        .listeners = lst,
		        .nlisteners = c->nlisten,
		        .tenants = d->tenants,
		        .tenant_split = d->nreactors,
		        .qos = d->qos,
		        .ops = {.deliver = slc_daemon_deliver, .ctx = d},
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
		/* NUMA-local routing: the reactor's own node's pools first (locality()). */
		if (d->route->nnodes > 1 && slc_numa_plan_reactor(d->plan, (int)k, &pl) == 0) {
			err = slc_router_set_node(rc->rt, (uint32_t)pl.node);
			if (err != 0)
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

/*
 * NUMA-local routing, on a topology with more than one node: each pool's node from the
 * plan, for the route tables (each reactor's router is put on its node when it is
 * created). The plan's nodes are hwloc logical indexes, 0..nodes-1.
 */
static int
locality(struct slc_daemon *d)
{
	uint16_t pool_node[SLC_POOLS_MAX];
	int nodes = slc_numa_node_count(d->topo), rc;

	if (nodes <= 1 || nodes > SLC_ROUTE_NODES_MAX)
		return 0;
	for (uint32_t p = 0; p < d->cfg.pools; p++) {
		int n = slc_numa_plan_pool_node(d->plan, (int)p);

		if (n < 0)
			return n;
		pool_node[p] = (uint16_t)n;
	}
	rc = slc_route_locality_set(d->route, (uint32_t)nodes, pool_node);
	if (rc != 0)
		slc_daemon_log(SLC_CFG_LOG_ERROR, "NUMA-local routing: %s", strerror(-rc));
	return rc;
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
	rc = slc_daemon_reload_init(d);
	if (rc != 0)
		goto err_destroy;
	rc = placement(&d->cfg, &d->topo, &d->plan, d->sizing_why, sizeof(d->sizing_why));
	if (rc != 0)
		goto err_destroy;
	c = &d->cfg; /* auto counts sized: everything below uses the sized ones */
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
	/* Zeroed before any way out: destroy frees each worker's latency histograms. */
	if (d->w != NULL)
		memset(d->w, 0, (size_t)c->pools * c->workers * sizeof(*d->w));
	if (d->w == NULL || d->route == NULL) {
		rc = -ENOMEM;
		goto err_destroy;
	}
	for (uint32_t g = 0; g < c->pools * c->workers; g++) {
		bool slow = c->test_slow_pool_cost_ns != 0 && g / c->workers == c->test_slow_pool;

		d->w[g].cost_ns = slow ? c->test_slow_pool_cost_ns : c->test_handler_cost_ns;
	}
	rc = slc_daemon_lat_create(d);
	if (rc != 0)
		goto err_destroy;
	rc = sink_create(d);
	if (rc != 0)
		goto err_destroy;
	for (uint32_t i = 0; i < c->nlisten; i++) {
		d->acks |= c->listen[i].acks;
		d->http |= c->listen[i].http;
	}
	if (d->acks && d->sink_ops->sync == NULL) {
		slc_daemon_log(
		        SLC_CFG_LOG_ERROR,
		        "--listen ...?framing=len32+ack needs a sink that can make messages "
		        "durable before they are acknowledged (framing=forward too: its chunks "
		        "are acknowledged); --sink %s cannot (it has no sync operation); allowed: "
		        "a sink that implements sync (engine/sink.h)",
		        d->sink_ops->name);
		rc = -EINVAL;
		goto err_destroy;
	}
	rc = slc_daemon_ackq_alloc(d);
	if (rc != 0)
		goto err_destroy;

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
	                .handler = slc_daemon_handle,
	                .handler_ctx = d,
	                .release = slc_daemon_release,
	                .release_ctx = d,
	                .idle = slc_daemon_idle,
	                .idle_ctx = d,
	                .room = slc_daemon_room,
	                .room_ctx = d,
	                .exit = slc_daemon_worker_exit,
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
	d->route_init = true;
	rc = locality(d);
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
	rc = slc_daemon_status_init(d);
	if (rc != 0)
		goto err_destroy;
	if (c->metrics.addrlen != 0) {
		char addr[SLC_ADDR_SA_STR_MAX];
		const struct sockaddr_storage *ss = &c->metrics.addr;
		struct slc_metrics_server_cfg mc = {
		        .addr = (const struct sockaddr *)ss,
		        .addrlen = c->metrics.addrlen,
		        .render = slc_daemon_metrics_render,
		        .render_ctx = d,
		        .health = slc_daemon_metrics_health,
		        .ready = slc_daemon_metrics_ready,
		        .reload = slc_daemon_reload_http,
		        .status = slc_daemon_status_render,
		        .log = lib_log,
		};

		slc_addr_format((const struct sockaddr *)ss, sizeof(*ss), addr, sizeof(addr));
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

void
slc_daemon_destroy(struct slc_daemon *d)
{
	if (d == NULL)
		return;
	slc_daemon_stop(d);
	slc_metrics_server_stop(d->metrics);
	slc_daemon_reload_fini(d);
	slc_daemon_status_fini(d);
	slc_ctl_loop_destroy(d->loop);
	/* The reactor first: its thread (still waiting for its start when create failed)
	 * ends before the router and the key sketch it calls go. */
	for (uint32_t k = 0; k < SLC_DAEMON_REACTORS_MAX; k++) {
		slc_reactor_destroy(d->rc[k].r);
		slc_router_destroy(d->rc[k].rt);
		slc_hotkeys_destroy(d->rc[k].hot);
	}
	slc_daemon_tls_destroy(d);
	free(d->tenants); /* after the reactors, which read it */
	slc_pool_set_destroy(d->pools);
	free(d->qos); /* after the reactors and the workers, which count into it */
	if (d->sink_ops != NULL)
		d->sink_ops->destroy(d->sink);
	if (d->route_init)
		slc_route_shared_fini(d->route);
	free(d->route);
	slc_daemon_lat_destroy(d);
	slc_daemon_ackq_free(d);
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
