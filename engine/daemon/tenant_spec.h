/* SPDX-License-Identifier: MIT */
/* tenant_spec.h: --tenant NAME:SPEC and --tenant-default, as the reactor's tenant table. */
#ifndef SLC_ENGINE_DAEMON_TENANT_SPEC_H
#define SLC_ENGINE_DAEMON_TENANT_SPEC_H

#include <stddef.h>

#include "qos.h"
#include "tenant.h"

struct slc_cfg;

/*
 * One --tenant value: NAME:KEY=VALUE,KEY=VALUE,... (docs/operations.md, "Tenants").
 * NAME: 1..31 of lower case letters, digits, '_' and '-'. Keys, each optional:
 *   listener=N|ADDR:PORT  a --listen by its place (0 = the first) or its address; repeatable
 *   cidr=NET/BITS         an IPv4 or IPv6 source network; repeatable (any of them)
 *   cert=NAME             a TLS client certificate's subject or SAN; repeatable
 *   class=NAME            its QoS class (qos.h) and a label on its metrics (default "none")
 *   rate=N, burst=N       messages a second, and the most saved up (default: rate)
 *   bytes=SIZE, bytes-burst=SIZE   bytes a second (k, M, G: 1024-based), and their burst
 * Returns 0, or -EINVAL with the reason in why. t is zeroed first.
 */
int slc_tenant_spec_parse(const char *text, struct slc_tenant_cfg *t, char *why, size_t len);

/* slc_tenant_spec_parse as a flag check (cfg_types.h's slc_cfg_check_fn). */
int slc_tenant_spec_check(const char *text, char *why, size_t len);

/*
 * The table of c's --tenant flags, in flag order, listener= resolved against c's --listen
 * list, and --tenant-default: "refuse", a --tenant's NAME, or "default" (a built-in tenant
 * without limits, added last, unless a --tenant is named so). tt->n == 0 when no --tenant
 * was given (no table: every peer is accepted, as without tenants). Returns 0, or -EINVAL
 * with the reason in why (a bad spec, a name given twice, a listener= that names no
 * --listen, an unknown --tenant-default).
 */
int slc_tenant_table_build(const struct slc_cfg *c, struct slc_tenant_table *tt, char *why,
                           size_t len);

/*
 * One --qos-class value: NAME:KEY=VALUE,... with weight=W (1..1000), max-inflight=N (0:
 * none) and ttl=D (ms, or with ms, s, m; 0: none), each optional. Returns 0, or -EINVAL
 * with the reason in why. Its fields of q's class (name, weight, max_inflight, ttl_ns)
 * are set from what is given; the rest keep what they had.
 */
int slc_qos_spec_parse(const char *text, struct slc_qos_class *c, char *why, size_t len);

/* slc_qos_spec_parse as a flag check. */
int slc_qos_spec_check(const char *text, char *why, size_t len);

/*
 * The classes: the built-ins gold (weight 4), silver (2) and bronze (1), without cap or
 * TTL, then every --qos-class of c in flag order (a built-in's NAME changes it). The
 * atomics zero, capacity 0 (the daemon sets it). Returns 0, or -EINVAL with the reason in
 * why (a bad spec, more than SLC_QOS_MAX classes).
 */
int slc_qos_build(const struct slc_cfg *c, struct slc_qos *q, char *why, size_t len);

#endif /* SLC_ENGINE_DAEMON_TENANT_SPEC_H */
