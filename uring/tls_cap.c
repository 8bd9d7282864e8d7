/* SPDX-License-Identifier: MIT */
/* tls_cap.c: the handshake cap, shared fairly: no one source takes every handshake slot. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "reactor_priv.h"

/*
 * --tls-max-handshakes bounds the handshakes a reactor runs at once, so that idle
 * half-open handshakes cannot exhaust it; alone it let one attacker take every slot and
 * lock every other client out of TLS until the handshake timeout. So each source, an IPv4
 * address or an IPv6 /64 (what one host usually has), may hold at most
 * --tls-max-handshakes-per-source of them; a connection beyond its source's share is
 * closed at once (source_cap), and it takes many sources to fill the cap.
 *
 * The counts live in an open-addressing table (linear probing, backward-shift deletion)
 * with twice as many slots as handshakes can be under way, so it never fills and a probe
 * stays short. It is touched at accept and when a handshake ends, never per message.
 */

struct tls_src {
	uint64_t k[2]; /* the source's key (src_key) */
	uint32_t n;    /* its handshakes under way; 0: the slot is empty */
};

/* A source's key: IPv4 {0, 2^32 | address}; IPv6 {its /64, 0}; a peer whose address
 * is unknown (gone before the accept: AF_UNSPEC) {0, 2^33}, a source of its own. An
 * IPv4-mapped IPv6 address (a dual-stack listener) is its IPv4 address. The 2^32 bit
 * keeps IPv4 keys apart from ::/64's. */
static void
src_key(const struct sockaddr *sa, uint64_t k[2])
{
	k[0] = 0;
	k[1] = 1ull << 33;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		k[1] = 1ull << 32 | ntohl(s4->sin_addr.s_addr);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = s6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			k[1] = 1ull << 32 | (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 |
			       (uint32_t)a[14] << 8 | a[15];
		} else {
			k[1] = 0;
			for (int i = 0; i < 8; i++)
				k[0] = k[0] << 8 | a[i];
		}
	}
}

static uint32_t
src_home(const struct slc_reactor *r, const uint64_t k[2])
{
	uint64_t h = k[0] ^ (k[1] * 0x9e3779b97f4a7c15ull);

	/* MurmurHash3's finaliser: every key bit reaches the slot's bits, the /64's high
	 * (prefix) bits too, which the multiply alone carried only upwards: 256 /64s that
	 * differ in their first 16 bits had one home among 512 slots, now about 209. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h & r->tls_src_mask;
}

int
slc_tls_cap_create(struct slc_reactor *r)
{
	uint32_t cap = r->cfg.tls_max_handshakes != 0 ? r->cfg.tls_max_handshakes : 256;
	uint32_t want = cap < r->nconns ? cap : r->nconns, n = 16;

	while (n < 2 * (uint64_t)want)
		n <<= 1;
	r->tls_src = calloc(n, sizeof(*r->tls_src));
	if (r->tls_src == NULL)
		return -ENOMEM;
	r->tls_src_mask = n - 1;
	return 0;
}

void
slc_tls_cap_destroy(struct slc_reactor *r)
{
	free(r->tls_src);
	r->tls_src = NULL;
}

/* The slot of key k, or the empty slot where it would go. */
static uint32_t
src_find(const struct slc_reactor *r, const uint64_t k[2])
{
	uint32_t i = src_home(r, k);

	while (r->tls_src[i].n != 0 && (r->tls_src[i].k[0] != k[0] || r->tls_src[i].k[1] != k[1]))
		i = (i + 1) & r->tls_src_mask;
	return i;
}

bool
slc_tls_cap_take(struct slc_reactor *r, struct tls_conn *t, const struct sockaddr *sa,
                 enum slc_tls_refusal *ref, char *why, size_t len)
{
	uint32_t cap = r->cfg.tls_max_handshakes != 0 ? r->cfg.tls_max_handshakes : 256;
	uint32_t share = r->cfg.tls_max_handshakes_per_source != 0
	                         ? r->cfg.tls_max_handshakes_per_source
	                         : 32;
	struct tls_src *s;
	uint64_t k[2];

	if (r->tls_handshaking >= cap) {
		snprintf(why, len, "%u handshakes under way (--tls-max-handshakes)", cap);
		*ref = SLC_TLS_REF_OVER_CAP;
		return false;
	}
	src_key(sa, k);
	s = &r->tls_src[src_find(r, k)];
	if (s->n >= share) {
		snprintf(why, len,
		         "%u handshakes under way from its source "
		         "(--tls-max-handshakes-per-source)",
		         s->n);
		*ref = SLC_TLS_REF_SOURCE_CAP;
		return false;
	}
	/* At most min(cap, nconns) sources hold handshakes: the table is never full. */
	s->k[0] = k[0];
	s->k[1] = k[1];
	s->n++;
	t->src[0] = k[0];
	t->src[1] = k[1];
	t->src_held = true;
	return true;
}

void
slc_tls_cap_put(struct slc_reactor *r, struct tls_conn *t)
{
	uint32_t i, j;

	if (!t->src_held)
		return;
	t->src_held = false;
	i = src_find(r, t->src);
	SLC_ASSERT(r->tls_src[i].n != 0);
	if (--r->tls_src[i].n != 0)
		return;
	/* Backward-shift deletion: an entry after the hole that may live there moves into it,
	 * so that every probe still reaches its key without tombstones. */
	for (j = (i + 1) & r->tls_src_mask; r->tls_src[j].n != 0; j = (j + 1) & r->tls_src_mask) {
		uint32_t h = src_home(r, r->tls_src[j].k);

		/* j's home lies cyclically in (i, j]: it stays. */
		if (((j - h) & r->tls_src_mask) < ((j - i) & r->tls_src_mask))
			continue;
		r->tls_src[i] = r->tls_src[j];
		r->tls_src[j].n = 0;
		i = j;
	}
}
