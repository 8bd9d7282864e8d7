/* SPDX-License-Identifier: MIT */
/* reload_tenants.c: a reload's --tenant and --tenant-default: new table, slots, hand-over. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_priv.h"
#include "tenant_spec.h"

/*
 * A reload that changes the tenants builds a new table and hands it to every reactor
 * (slc_reactor_tenants_set), which takes it once a loop; the running table is freed once
 * every reactor has moved on. Each tenant has a slot, where every reactor keeps its buckets
 * and counters (tenant.h):
 *   kept     a name in both tables keeps its slot: its counters go on, its buckets keep
 *            what they saved up, under the new rate and burst; its open connections stay
 *            its own (even where its new conditions would not match them any more)
 *   added    a free slot, whose counters start at zero and buckets full
 *   removed  its series leave /metrics; its open connections keep its last limits until
 *            they close. Its slot is free again at a later reload once no reactor has a
 *            connection in it (never in the reload that removed it: a TLS handshake may
 *            still have been given it by a reactor on the old table)
 * New connections and datagrams are matched against the new table. Classes are the running
 * ones (--qos-class needs a restart), looked up by name.
 */

/* How long a reload waits for every reactor to take a table: each takes it at its next
 * loop, which a kick starts at once; only a stopping daemon's reactors may not. */
#define TAKE_WAIT_MS 5000u

/* Open connections in slot s, over the reactors. */
static uint64_t
slot_open(const struct slc_daemon *d, uint32_t s)
{
	uint64_t v = 0;

	for (uint32_t k = 0; k < d->nreactors; k++) {
		const struct slc_tenant_stats *st = slc_reactor_tenant_stats(d->rc[k].r, s);

		if (st != NULL)
			v += atomic_load_explicit(&st->conns_open, memory_order_relaxed);
	}
	return v;
}

/* The running table's tenant named name, or NULL. */
static const struct slc_tenant_cfg *
find(const struct slc_tenant_table *tt, const char *name)
{
	for (uint32_t i = 0; i < tt->n; i++)
		if (strcmp(tt->t[i].name, name) == 0)
			return &tt->t[i];
	return NULL;
}

/* nt's classes as indexes of the running ones. 0, or 1 (a restart: why says it). */
static int
classes_resolve(const struct slc_daemon *d, struct slc_tenant_table *nt, char *why, size_t len)
{
	for (uint32_t i = 0; i < nt->n; i++) {
		struct slc_tenant_cfg *t = &nt->t[i];
		uint32_t k = 0;

		t->qos = 0;
		if (strcmp(t->qos_class, "none") == 0)
			continue;
		while (d->qos != NULL && k < d->qos->n && strcmp(d->qos->c[k].name, t->qos_class))
			k++;
		if (d->qos == NULL || k == d->qos->n) {
			snprintf(why, len,
			         "--tenant %s: class=%s is not among the running QoS classes "
			         "(classes "
			         "are built at the start: a restart)",
			         t->name, t->qos_class);
			return 1;
		}
		t->qos = (uint8_t)(k + 1);
	}
	return 0;
}

/* nt's slots: kept by name, else a free one (each reactor starts it over: tenant_rt.c).
 * 0, or -EBUSY (why says it). */
static int
slots_assign(const struct slc_daemon *d, struct slc_tenant_table *nt, char *why, size_t len)
{
	const struct slc_tenant_table *cur = d->tenants;
	uint32_t busy = 0;

	for (uint32_t i = 0; i < cur->n; i++)
		busy |= 1u << cur->t[i].slot;
	for (uint32_t s = 0; s < SLC_TENANT_MAX; s++)
		if (slot_open(d, s) != 0)
			busy |= 1u << s;
	for (uint32_t i = 0; i < nt->n; i++) {
		const struct slc_tenant_cfg *was = find(cur, nt->t[i].name);
		uint32_t s = 0;

		if (was != NULL) {
			nt->t[i].slot = was->slot;
			continue;
		}
		while (s < SLC_TENANT_MAX && (busy >> s) & 1u)
			s++;
		if (s == SLC_TENANT_MAX) {
			snprintf(why, len,
			         "--tenant %s: no free tenant slot: %u are held by tenants running "
			         "or removed with connections still open; reload again once they "
			         "close",
			         nt->t[i].name, SLC_TENANT_MAX);
			return -EBUSY;
		}
		busy |= 1u << s;
		nt->t[i].slot = (uint8_t)s;
	}
	return 0;
}

int
slc_daemon_tenants_prepare(struct slc_daemon *d, const struct slc_cfg *next,
                           struct slc_tenant_table **out, char *why, size_t len)
{
	const struct slc_cfg *cur = d->rl.cur;
	struct slc_cfg *c;
	struct slc_tenant_table *nt;
	int rc;

	*out = NULL;
	if (memcmp(&cur->tenant, &next->tenant, sizeof(cur->tenant)) == 0 &&
	    strcmp(cur->tenant_default, next->tenant_default) == 0)
		return 0;
	if (d->tenants == NULL || next->tenant.n == 0) {
		snprintf(why, len,
		         "tenants added where none ran, or all removed: the reactors' tenant "
		         "state is set up at the start (a restart)");
		return 1;
	}
	/* The running --listen list, whatever the file says now: listener= means the
	 * listeners that run (a changed --listen needs a restart). */
	c = malloc(sizeof(*c));
	nt = malloc(sizeof(*nt));
	if (c == NULL || nt == NULL) {
		free(c);
		free(nt);
		snprintf(why, len, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	*c = *cur;
	c->tenant = next->tenant;
	memcpy(c->tenant_default, next->tenant_default, sizeof(c->tenant_default));
	rc = slc_tenant_table_build(c, nt, why, len);
	free(c);
	if (rc == 0)
		rc = classes_resolve(d, nt, why, len);
	if (rc == 0)
		rc = slots_assign(d, nt, why, len);
	if (rc != 0) {
		free(nt);
		return rc;
	}
	*out = nt;
	return 0;
}

bool
slc_daemon_tenants_commit(struct slc_daemon *d, struct slc_tenant_table *nt)
{
	const struct timespec tick = {0, 1000000};
	struct slc_tenant_table *old;
	uint32_t waited_ms = 0, k = 0;

	for (uint32_t i = 0; i < d->nreactors; i++)
		if (d->rc[i].r != NULL)
			(void)slc_reactor_tenants_set(d->rc[i].r, nt); /* all have tables */
	/* Not a test's sleep: the reactors take it at their next loop, which the kick starts;
	 * this thread (main, or the metrics one) has nothing else to do meanwhile. */
	while (k < d->nreactors && waited_ms < TAKE_WAIT_MS) {
		if (d->rc[k].r == NULL || slc_reactor_tenants_taken(d->rc[k].r, nt)) {
			k++;
			continue;
		}
		nanosleep(&tick, NULL);
		waited_ms++;
	}
	pthread_mutex_lock(&d->rl.tenants_mu);
	old = d->tenants;
	d->tenants = nt;
	pthread_mutex_unlock(&d->rl.tenants_mu);
	if (k < d->nreactors) {
		/* A reactor that did not take the new table in time may still read the old:
		 * kept (a few kilobytes) rather than freed under it. */
		slc_daemon_log(
		        SLC_CFG_LOG_ERROR,
		        "reload: tenants: reactor %u did not take the new table in %u ms; the "
		        "old one is kept in memory",
		        k, TAKE_WAIT_MS);
		return false;
	}
	free(old);
	return true;
}
