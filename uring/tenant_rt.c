/* SPDX-License-Identifier: MIT */
/* tenant_rt.c: the reactor's tenants: buckets by slot, the accept and datagram checks, reloads. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "reactor_priv.h"

/* slot_set zeroes a fresh slot's counters as an array of them. */
static_assert(sizeof(struct slc_tenant_stats) % sizeof(_Atomic uint64_t) == 0,
              "slc_tenant_stats holds 64-bit counters only");

/* Slot t's buckets at tenant cfg t's rate and burst, this reactor's share of them (tenant.h):
 * no atomic is shared between reactors on the path of a message. fresh: full buckets and
 * zero counters (a new tenant); else what was saved up stays (slc_bucket_rerate). */
static void
slot_set(struct slc_reactor *r, const struct slc_tenant_cfg *t, bool fresh)
{
	double split = r->cfg.tenant_split != 0 ? (double)r->cfg.tenant_split : 1.0;
	struct tenant_rt *tr = &r->tenant[t->slot];
	uint64_t now = slc_mono_ns();

	if (fresh) {
		_Atomic uint64_t *c = (_Atomic uint64_t *)(void *)&tr->st;

		for (size_t i = 0; i < sizeof(tr->st) / sizeof(*c); i++)
			stat_set(&c[i], 0);
		slc_bucket_init(&tr->msgs, (double)t->rate / split, (double)t->burst / split, now);
		slc_bucket_init(&tr->bytes, (double)t->bytes_rate / split,
		                (double)t->bytes_burst / split, now);
	} else {
		slc_bucket_rerate(&tr->msgs, (double)t->rate / split, (double)t->burst / split,
		                  now);
		slc_bucket_rerate(&tr->bytes, (double)t->bytes_rate / split,
		                  (double)t->bytes_burst / split, now);
	}
	tr->limited = slc_bucket_limited(&tr->msgs) || slc_bucket_limited(&tr->bytes);
	tr->qos = r->cfg.qos != NULL ? t->qos : 0;
	memcpy(tr->name, t->name, sizeof(tr->name));
}

int
slc_tenant_rt_init(struct slc_reactor *r)
{
	const struct slc_tenant_table *tt = r->cfg.tenants;

	if (tt == NULL || tt->n == 0)
		return 0;
	/* Every slot, not the table's count: a reload may place a new tenant in any, and the
	 * metrics thread reads them while the reactor runs (never moved, never freed). */
	r->tenant = calloc(SLC_TENANT_MAX, sizeof(*r->tenant));
	if (r->tenant == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < tt->n; i++)
		slot_set(r, &tt->t[i], true);
	atomic_store_explicit(&r->tenants_cur, tt, memory_order_relaxed);
	for (uint32_t i = 0; i < r->nlisteners; i++) {
		struct listener *l = &r->listeners[i];

		if (l->cfg.proto != SLC_LISTENER_UDP)
			continue;
		l->udp_tenant = calloc(UDP_BATCH, 1);
		if (l->udp_tenant == NULL)
			return -ENOMEM;
	}
	return 0;
}

int
slc_reactor_tenants_set(struct slc_reactor *r, const struct slc_tenant_table *tt)
{
	if (r->tenant == NULL)
		return -ENOTSUP;
	/* R1: the table's contents happen before the reactor reads them; pairs with A1 in
	 * slc_tenant_rt_take. A table set twice before the reactor took the first: the
	 * first is never used (the caller still waits for the second). */
	atomic_store_explicit(&r->tenants_in, tt, memory_order_release);
	slc_reactor_kick(r); /* an idle reactor takes it now, not at its next completion */
	return 0;
}

bool
slc_reactor_tenants_taken(const struct slc_reactor *r, const struct slc_tenant_table *tt)
{
	/* A2: pairs with R2 in slc_tenant_rt_take: the fresh slots' zeroes are visible. */
	if (atomic_load_explicit(&r->tenants_cur, memory_order_acquire) == tt)
		return true;
	/* F2: pairs with F1 in slc_reactor_loop, after our caller's store of tenants_in. */
	atomic_thread_fence(memory_order_seq_cst);
	/* A3: pairs with R3 in slc_reactor_loop. Not looping: not started (its first loop
	 * top takes tt before it reads a table) or done (it reads none again). */
	return !atomic_load_explicit(&r->looping, memory_order_acquire);
}

void
slc_tenant_rt_take(struct slc_reactor *r)
{
	const struct slc_tenant_table *tt;
	uint32_t in = 0;

	/* Relaxed: after the loop top's acquire of kicked (A4 in slc_reactor_loop), which
	 * the setter's kick follows, a table set is not missed here. */
	if (atomic_load_explicit(&r->tenants_in, memory_order_relaxed) == NULL)
		return;
	/* A1: pairs with R1 in slc_reactor_tenants_set. */
	tt = atomic_exchange_explicit(&r->tenants_in, NULL, memory_order_acquire);
	if (tt == NULL)
		return;
	/* Which slots start over is this reactor's own view, never the daemon's: it may have
	 * skipped a table (set twice before it took the first), whose tenants it never saw
	 * added. Nor is its running table read: a reload may have freed it (not looping). A
	 * slot left out of tt forgets its tenant: one added there later starts over. */
	for (uint32_t i = 0; i < tt->n; i++)
		in |= 1u << tt->t[i].slot;
	for (uint32_t s = 0; s < SLC_TENANT_MAX; s++)
		if (!((in >> s) & 1u))
			r->tenant[s].name[0] = '\0';
	for (uint32_t i = 0; i < tt->n; i++)
		slot_set(r, &tt->t[i], strcmp(r->tenant[tt->t[i].slot].name, tt->t[i].name) != 0);
	r->cfg.tenants = tt;
	/* Connections that waited on a limit that is gone or higher go on now. */
	r->retry = true;
	/* R2: pairs with A2 in slc_reactor_tenants_taken: the old table is ours no more. */
	atomic_store_explicit(&r->tenants_cur, tt, memory_order_release);
}

void
slc_tenant_rt_free(struct slc_reactor *r)
{
	free(r->tenant);
	r->tenant = NULL;
	/* cfg's count: a failed create has set nlisteners to 0 by now. */
	for (uint32_t i = 0; r->listeners != NULL && i < r->cfg.nlisteners; i++) {
		free(r->listeners[i].udp_tenant);
		r->listeners[i].udp_tenant = NULL;
	}
}

uint32_t
slc_tenant_rt_accept(struct slc_reactor *r, uint32_t li, const struct sockaddr *sa, socklen_t salen,
                     const char *peer)
{
	uint32_t t;

	/* Counted nowhere until the handshake says whose it is: a counter never goes down
	 * to move a connection. */
	if (r->listeners[li].cfg.tls && slc_tenant_cert_may_decide(r->cfg.tenants, li, sa, salen))
		return SLC_TENANT_LATER;
	t = slc_tenant_match_addr(r->cfg.tenants, li, sa, salen);
	if (t == SLC_TENANT_NONE) {
		stat_add(&r->tenant_refused.conns, 1);
		slc_reactor_log(
		        r, LOGK_REFUSED, SLC_LOG_WARN,
		        "refused %s on port %u: no tenant matches (--tenant-default refuse)", peer,
		        r->listeners[li].port);
		return t;
	}
	t = r->cfg.tenants->t[t].slot;
	stat_add(&r->tenant[t].st.conns_accepted, 1);
	stat_add(&r->tenant[t].st.conns_open, 1);
	return t;
}

bool
slc_tenant_rt_handshake(struct slc_reactor *r, struct conn *c, const char *subject,
                        const char *const *names, uint32_t nnames)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint32_t t;

	/* The address as at accept; a peer already gone has none, and only tenants without
	 * cidr= can take it (its next receive ends it anyway). */
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) != 0)
		sl = 0;
	t = slc_tenant_match_cert(r->cfg.tenants, c->listener,
	                          sl != 0 ? (const struct sockaddr *)&ss : NULL, sl, subject, names,
	                          nnames);
	if (t == SLC_TENANT_NONE) {
		stat_add(&r->tenant_refused.conns, 1);
		slc_reactor_log(r, LOGK_REFUSED, SLC_LOG_WARN,
		                "refused %s on port %u: no tenant matches its certificate "
		                "(%s; --tenant-default refuse)",
		                c->peer, r->listeners[c->listener].port,
		                subject != NULL ? subject : "none");
		return false;
	}
	c->tenant = r->cfg.tenants->t[t].slot;
	t = c->tenant;
	stat_add(&r->tenant[t].st.conns_accepted, 1);
	stat_add(&r->tenant[t].st.conns_open, 1);
	return true;
}

uint32_t
slc_tenant_rt_datagram(struct slc_reactor *r, struct listener *l, const struct sockaddr *sa,
                       socklen_t salen, uint32_t len)
{
	uint32_t li = (uint32_t)(l - r->listeners);
	uint32_t i = slc_tenant_match_addr(r->cfg.tenants, li, sa, salen), t;
	struct slc_msg m = {.len = len};
	char peer[SLC_ADDR_SA_STR_MAX];

	if (i == SLC_TENANT_NONE) {
		stat_add(&r->tenant_refused.datagrams, 1);
		slc_addr_format(sa, salen, peer, sizeof(peer));
		slc_reactor_log(r, LOGK_UDP, SLC_LOG_WARN,
		                "port %u: dropped a datagram from %s: no tenant matches "
		                "(--tenant-default refuse)",
		                l->port, peer);
		return i;
	}
	t = r->cfg.tenants->t[i].slot;
	if (tenant_allow(r, t, &m, 1) == 0) {
		/* Datagrams have no flow control to push back with: over the limit, dropped. */
		stat_add(&r->tenant[t].st.rate_drops, 1);
		slc_addr_format(sa, salen, peer, sizeof(peer));
		slc_reactor_log(r, LOGK_UDP, SLC_LOG_WARN,
		                "port %u: dropped a datagram from %s: tenant %s over its rate",
		                l->port, peer, r->cfg.tenants->t[i].name);
		return SLC_TENANT_NONE;
	}
	/* Paid at admission: a datagram the pools then refuse is dropped and counted there,
	 * and its tokens are not given back (the sender did send it). */
	if (r->tenant[t].limited) {
		slc_bucket_take(&r->tenant[t].msgs, 1);
		slc_bucket_take(&r->tenant[t].bytes, len);
	}
	stat_add(&r->tenant[t].st.bytes, len);
	return t;
}

void
slc_tenant_rt_udp_taken(struct slc_reactor *r, const struct listener *l, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++)
		stat_add(&r->tenant[l->udp_tenant[k]].st.msgs, 1);
}

const struct slc_tenant_stats *
slc_reactor_tenant_stats(const struct slc_reactor *r, uint32_t t)
{
	return r->tenant != NULL ? &r->tenant[t].st : NULL;
}

const struct slc_tenant_refusals *
slc_reactor_tenant_refusals(const struct slc_reactor *r)
{
	return r->tenant != NULL ? &r->tenant_refused : NULL;
}
