/* SPDX-License-Identifier: MIT */
/* tenant.c: which tenant a peer belongs to: listener, source CIDR, certificate names. */
#include <netinet/in.h>
#include <string.h>

#include "tenant.h"

/* The address bytes of sa as IPv4 (4 bytes) or IPv6 (16), an IPv4-mapped IPv6 address as
 * its IPv4 one; 0 when sa is neither. */
static uint32_t
peer_bytes(const struct sockaddr *sa, socklen_t salen, const uint8_t **p)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		*p = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return 4;
	}
	if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)
		                           ->sin6_addr;

		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			*p = a + 12;
			return 4;
		}
		*p = a;
		return 16;
	}
	return 0;
}

bool
slc_tenant_cidr_contains(const struct slc_tenant_cidr *n, const struct sockaddr *sa,
                         socklen_t salen)
{
	const uint8_t *a = NULL;
	uint32_t len = peer_bytes(sa, salen, &a), whole = n->prefix / 8u, rest = n->prefix % 8u;

	if (len != (n->family == AF_INET ? 4u : 16u))
		return false;
	if (memcmp(a, n->addr, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ n->addr[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

/* A DNS label's letters, digits and hyphens: what a wildcard may stand for. */
static bool
label_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-';
}

/* A certificate name (the CN's value, a SAN DNS name) against one cert= pattern: equal,
 * or "*." and one label of [A-Za-z0-9-]+ in the star's place. Never for the subject
 * string: a wildcard there would match inside another attribute (CN=x,OU=a.example.com). */
static bool
cert_name_matches(const char *pattern, const char *name)
{
	const char *p = name;

	if (strcmp(pattern, name) == 0)
		return true;
	if (pattern[0] != '*' || pattern[1] != '.')
		return false;
	while (label_char(*p))
		p++;
	return p != name && *p == '.' && strcmp(p, pattern + 1) == 0;
}

static bool
cert_matches(const struct slc_tenant_cfg *t, const char *subject, const char *const *sans,
             uint32_t nsans)
{
	for (uint32_t i = 0; i < t->ncert; i++) {
		/* The whole RFC 2253 subject: an exact pattern only. */
		if (subject != NULL && strcmp(t->cert[i], subject) == 0)
			return true;
		for (uint32_t k = 0; k < nsans; k++)
			if (sans[k] != NULL && cert_name_matches(t->cert[i], sans[k]))
				return true;
	}
	return false;
}

/* Listener and source conditions; the certificate's are the caller's. */
static bool
addr_matches(const struct slc_tenant_cfg *t, uint32_t listener, const struct sockaddr *sa,
             socklen_t salen)
{
	if (t->implicit)
		return false;
	if (t->listeners != 0 && (listener >= 32 || !(t->listeners & 1u << listener)))
		return false;
	if (t->ncidr == 0)
		return true;
	for (uint32_t i = 0; i < t->ncidr; i++)
		if (slc_tenant_cidr_contains(&t->cidr[i], sa, salen))
			return true;
	return false;
}

uint32_t
slc_tenant_match_addr(const struct slc_tenant_table *tt, uint32_t listener,
                      const struct sockaddr *sa, socklen_t salen)
{
	for (uint32_t i = 0; i < tt->n; i++)
		if (tt->t[i].ncert == 0 && addr_matches(&tt->t[i], listener, sa, salen))
			return i;
	return tt->dflt;
}

uint32_t
slc_tenant_match_cert(const struct slc_tenant_table *tt, uint32_t listener,
                      const struct sockaddr *sa, socklen_t salen, const char *subject,
                      const char *const *sans, uint32_t nsans)
{
	for (uint32_t i = 0; i < tt->n; i++) {
		const struct slc_tenant_cfg *t = &tt->t[i];

		if (!addr_matches(t, listener, sa, salen))
			continue;
		if (t->ncert == 0 || cert_matches(t, subject, sans, nsans))
			return i;
	}
	return tt->dflt;
}

bool
slc_tenant_cert_may_decide(const struct slc_tenant_table *tt, uint32_t listener,
                           const struct sockaddr *sa, socklen_t salen)
{
	for (uint32_t i = 0; i < tt->n; i++)
		if (addr_matches(&tt->t[i], listener, sa, salen))
			return tt->t[i].ncert != 0;
	return false;
}
