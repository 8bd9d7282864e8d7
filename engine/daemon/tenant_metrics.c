/* SPDX-License-Identifier: MIT */
/* tenant_metrics.c: the tenants' counters (--tenant), summed over reactors, as sluice_tenant_*. */
#include <stddef.h>

#include "daemon_priv.h"
#include "tenant_spec.h"

#define TS(f) offsetof(struct slc_tenant_stats, f)

/* One family per row; each tenant's value is the sum over the reactors (scale: ns to s). */
static const struct {
	const char *name;
	const char *type;
	const char *help;
	size_t off;
	double scale;
} fams[] = {
        {"sluice_tenant_connections_accepted_total", "counter",
         "TCP connections given to the tenant at accept", TS(conns_accepted), 0},
        {"sluice_tenant_connections_open", "gauge", "the tenant's TCP connections open now",
         TS(conns_open), 0},
        {"sluice_tenant_received_messages_total", "counter",
         "the tenant's messages taken by the pools", TS(msgs), 0},
        {"sluice_tenant_received_bytes_total", "counter",
         "the tenant's bytes received (TCP as read, UDP datagrams admitted)", TS(bytes), 0},
        {"sluice_tenant_rate_limited_pauses_total", "counter",
         "times a TCP connection of the tenant paused on its token buckets", TS(rate_pauses), 0},
        {"sluice_tenant_rate_limited_seconds_total", "counter",
         "time the tenant's TCP connections spent paused on its token buckets or its QoS "
         "class's room (counted when each pause ends)",
         TS(rate_paused_ns), 1e-9},
        {"sluice_tenant_rate_limited_drops_total", "counter",
         "UDP datagrams of the tenant dropped over its token buckets", TS(rate_drops), 0},
};

#undef TS

/* Over the reactors, the counter at off of the tenant in slot s. */
static uint64_t
sum(const struct slc_daemon *d, uint32_t s, size_t off)
{
	uint64_t v = 0;

	for (uint32_t k = 0; k < d->nreactors; k++) {
		const struct slc_tenant_stats *st = slc_reactor_tenant_stats(d->rc[k].r, s);

		v += atomic_load_explicit(
		        (const _Atomic uint64_t *)(const void *)((const char *)st + off),
		        memory_order_relaxed);
	}
	return v;
}

/* The QoS classes (qos.h), label class: one row each. */
static void
render_qos(const struct slc_qos *q, struct slc_metrics_buf *b)
{
	static const struct {
		const char *name;
		const char *type;
		const char *help;
		size_t off;
	} qf[] = {
	        {"sluice_qos_inflight_messages", "gauge",
	         "the class's messages taken by the pools and not yet released",
	         offsetof(struct slc_qos_class, inflight)},
	        {"sluice_qos_messages_total", "counter", "the class's messages taken by the pools",
	         offsetof(struct slc_qos_class, taken)},
	        {"sluice_qos_held_total", "counter",
	         "times a TCP connection of the class waited: its max-inflight or weighted share "
	         "was in flight",
	         offsetof(struct slc_qos_class, held)},
	        {"sluice_qos_ttl_drops_total", "counter",
	         "the class's messages older than its ttl when a worker took them: dropped",
	         offsetof(struct slc_qos_class, ttl_drops)},
	};
	char lab[96];

	for (size_t f = 0; f < sizeof(qf) / sizeof(qf[0]); f++) {
		slc_metrics_family(b, qf[f].name, qf[f].type, qf[f].help);
		for (uint32_t k = 0; k < q->n; k++) {
			const void *p = (const char *)&q->c[k] + qf[f].off;
			uint64_t v;

			if (qf[f].off == offsetof(struct slc_qos_class, inflight)) {
				int64_t in = atomic_load_explicit((const _Atomic int64_t *)p,
				                                  memory_order_relaxed);

				v = in < 0 ? 0 : (uint64_t)in; /* a release seen before its take */
			} else {
				v = atomic_load_explicit((const _Atomic uint64_t *)p,
				                         memory_order_relaxed);
			}
			slc_metrics_labels(lab, sizeof(lab), "class", q->c[k].name, NULL);
			slc_metrics_u64(b, qf[f].name, lab, v);
		}
	}
}

/* The families of tt's tenants: a reload's table is d->tenants only once every reactor
 * has zeroed its fresh slots, so no series shows a removed tenant's counts under a new
 * tenant's name. */
static void
render_tenants(const struct slc_daemon *d, const struct slc_tenant_table *tt,
               struct slc_metrics_buf *b)
{
	char lab[160];

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		slc_metrics_family(b, fams[f].name, fams[f].type, fams[f].help);
		for (uint32_t t = 0; t < tt->n; t++) {
			uint64_t v = sum(d, tt->t[t].slot, fams[f].off);

			slc_metrics_labels(lab, sizeof(lab), "tenant", tt->t[t].name, "class",
			                   tt->t[t].qos_class, NULL);
			if (fams[f].scale != 0)
				slc_metrics_f64(b, fams[f].name, lab, (double)v * fams[f].scale);
			else
				slc_metrics_u64(b, fams[f].name, lab, v);
		}
	}
}

void
slc_daemon_tenant_render(const struct slc_daemon *d, struct slc_metrics_buf *b)
{
	/* The lock only a reload takes besides us (never a reactor's or a worker's); const
	 * as a render is, the lock is not the daemon's state. */
	pthread_mutex_t *mu = (pthread_mutex_t *)&d->rl.tenants_mu;
	uint64_t conns = 0, dgrams = 0;

	pthread_mutex_lock(mu);
	if (d->tenants == NULL) {
		pthread_mutex_unlock(mu);
		return;
	}
	render_tenants(d, d->tenants, b);
	pthread_mutex_unlock(mu);
	for (uint32_t k = 0; k < d->nreactors; k++) {
		const struct slc_tenant_refusals *rf = slc_reactor_tenant_refusals(d->rc[k].r);

		conns += atomic_load_explicit(&rf->conns, memory_order_relaxed);
		dgrams += atomic_load_explicit(&rf->datagrams, memory_order_relaxed);
	}
	slc_metrics_family(b, "sluice_tenant_refused_total", "counter",
	                   "what matched no tenant with --tenant-default refuse: TCP connections "
	                   "closed at accept, UDP datagrams dropped");
	slc_metrics_u64(b, "sluice_tenant_refused_total", "kind=\"connection\"", conns);
	slc_metrics_u64(b, "sluice_tenant_refused_total", "kind=\"datagram\"", dgrams);
	if (d->qos != NULL)
		render_qos(d->qos, b);
}
