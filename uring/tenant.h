/* SPDX-License-Identifier: MIT */
/* tenant.h: tenants: whom a connection or datagram belongs to, its limits and its counters. */
#ifndef SLC_URING_TENANT_H
#define SLC_URING_TENANT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * A tenant is a named set of senders (docs/operations.md, "Tenants"): those that reach
 * one of its listeners, from one of its source CIDRs, or (tls:// listeners) with one of its
 * client certificate names. A connection belongs to the first tenant, in table order,
 * whose every condition holds; one that matches none goes to the table's default tenant,
 * or is refused when there is none (--tenant-default refuse). The tenant is decided once
 * per TCP connection, at accept (on a tls:// listener where a certificate could change it,
 * when the handshake is done instead: slc_tenant_cert_may_decide), and per datagram for
 * UDP (a scan of a small table: a handful of compares per tenant).
 *
 * Each tenant may have two token buckets (bucket.h): messages a second and bytes a
 * second, each with a burst. Each reactor keeps its own buckets, with rate / split and
 * burst / split (split: the reactor count), refilled from its own loop clock: no atomic
 * shared between reactors and no lock on the path of a message. The price: a tenant whose
 * traffic all lands on one of several reactors gets 1/split of its rate (one reactor per
 * NUMA node is the default, so on a one-node machine the split is 1).
 *
 * This header is the table's types (the flag parser fills them: engine/daemon/tenant_spec.c)
 * and the pure matching functions (uring/tenant.c); the reactor's use of them is in
 * uring/tenant_rt.c and reactor.h.
 */

#define SLC_TENANT_MAX      32 /* tenants in a table, the default included */
#define SLC_TENANT_NAME_LEN 32 /* a name or a class, NUL included */
#define SLC_TENANT_CIDR_MAX 8  /* cidr= conditions of one tenant */
#define SLC_TENANT_CERT_MAX 4  /* cert= conditions of one tenant */
#define SLC_TENANT_CERT_LEN 128
#define SLC_TENANT_LSEL_MAX 4  /* listener= conditions of one tenant */
#define SLC_TENANT_LSEL_LEN 64 /* listener= as given: an index or ADDR:PORT */
/* A connection's or datagram's tenant when the table refuses it or there is no table. */
#define SLC_TENANT_NONE 0xffu
/* slc_tenant_rt_accept's answer for a tls:// connection whose certificate may decide its
 * tenant: decided (and counted, or refused) once the handshake is done. */
#define SLC_TENANT_LATER 0xfeu

/* An IPv4 or IPv6 network: family AF_INET or AF_INET6, the first prefix bits of addr. An
 * IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is matched as the IPv4 address it carries. */
struct slc_tenant_cidr {
	uint8_t family;
	uint8_t prefix;
	uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
};

struct slc_tenant_cfg {
	char name[SLC_TENANT_NAME_LEN];
	char qos_class[SLC_TENANT_NAME_LEN]; /* its QoS class (qos.h); "none" when not given */
	/* listener= as given; resolved into listeners by the table's builder */
	char lsel[SLC_TENANT_LSEL_MAX][SLC_TENANT_LSEL_LEN];
	uint32_t nlsel;
	uint32_t listeners; /* bit i: --listen number i; 0: any listener */
	struct slc_tenant_cidr cidr[SLC_TENANT_CIDR_MAX];
	uint32_t ncidr; /* 0: any source */
	char cert[SLC_TENANT_CERT_MAX][SLC_TENANT_CERT_LEN];
	uint32_t ncert;       /* 0: any; else only slc_tenant_match_cert can match it */
	uint64_t rate;        /* messages a second; 0: no limit */
	uint64_t burst;       /* messages; 0: rate (one second's worth) */
	uint64_t bytes_rate;  /* bytes a second; 0: no limit */
	uint64_t bytes_burst; /* bytes; 0: bytes_rate */
	bool implicit;        /* the built-in "default": never matched by conditions */
	uint8_t qos;          /* its QoS class's index + 1 (qos.h); 0: class "none" */
	/* Where each reactor keeps its buckets and counters (0..SLC_TENANT_MAX-1): the table's
	 * index at the start; a reload keeps a name's slot (engine/daemon/reload_tenants.c),
	 * so what a connection holds (its slot) stays its tenant's. */
	uint8_t slot;
};

struct slc_tenant_table {
	uint32_t n;
	uint32_t dflt; /* the tenant of what matches none, or SLC_TENANT_NONE: refused */
	struct slc_tenant_cfg t[SLC_TENANT_MAX];
};

/* One tenant's counters on one reactor, in its slot (slc_tenant_cfg.slot). Written by the
 * reactor only (a fresh slot zeroed by it too); read from any thread (relaxed). */
struct slc_tenant_stats {
	_Atomic uint64_t conns_accepted; /* TCP connections it was given at accept */
	_Atomic uint64_t conns_open;
	_Atomic uint64_t msgs;        /* messages delivered (taken by the pools) */
	_Atomic uint64_t bytes;       /* bytes received (TCP: as read; UDP: datagrams admitted) */
	_Atomic uint64_t rate_pauses; /* TCP: times a connection paused on its buckets */
	_Atomic uint64_t rate_paused_ns; /* TCP: time its connections spent so paused */
	_Atomic uint64_t rate_drops;     /* UDP: datagrams dropped over its buckets */
};

/* What the table refused (no tenant matched and --tenant-default refuse), per reactor. */
struct slc_tenant_refusals {
	_Atomic uint64_t conns;     /* TCP connections closed at accept */
	_Atomic uint64_t datagrams; /* UDP datagrams dropped */
};

/* Whether sa (sockaddr_in or sockaddr_in6, salen bytes) lies in network n. */
bool slc_tenant_cidr_contains(const struct slc_tenant_cidr *n, const struct sockaddr *sa,
                              socklen_t salen);

/*
 * The tenant of a peer at address sa that reached listener (its --listen index): the
 * index of the first tenant whose conditions all hold (tenants with cert= conditions
 * cannot match without a certificate), else tt->dflt (SLC_TENANT_NONE: refused).
 */
uint32_t slc_tenant_match_addr(const struct slc_tenant_table *tt, uint32_t listener,
                               const struct sockaddr *sa, socklen_t salen);

/*
 * The hook for TLS listeners, once the handshake has given the peer's certificate: as
 * slc_tenant_match_addr, and a tenant with cert= conditions matches when one of them
 * equals the certificate's subject (as one string, e.g. "CN=app1,O=acme") or one of its
 * nsans names (the CN's value and the SAN DNS names: uring/tls.c passes both); a pattern
 * "*.example.com" matches one DNS label of [A-Za-z0-9-]+ in its place in a name
 * ("a.example.com", not "a.b.example.com" nor "example.com"), never in the subject
 * string. subject may be NULL.
 */
uint32_t slc_tenant_match_cert(const struct slc_tenant_table *tt, uint32_t listener,
                               const struct sockaddr *sa, socklen_t salen, const char *subject,
                               const char *const *sans, uint32_t nsans);

/*
 * Whether a client certificate could change the tenant of a peer at sa on listener: a
 * tenant with cert= conditions whose other conditions hold comes before the first one
 * slc_tenant_match_addr would pick (or that one is the default, or a refusal).
 */
bool slc_tenant_cert_may_decide(const struct slc_tenant_table *tt, uint32_t listener,
                                const struct sockaddr *sa, socklen_t salen);

#endif /* SLC_URING_TENANT_H */
