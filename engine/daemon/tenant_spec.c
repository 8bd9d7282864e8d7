/* SPDX-License-Identifier: MIT */
/* tenant_spec.c: --tenant NAME:SPEC and --tenant-default into the reactor's tenant table. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/compiler.h"
#include "cfg.h"
#include "tenant_spec.h"

static int SLC_PRINTF(3, 4) fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool
name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= SLC_TENANT_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return true;
}

/* Digits, then for a size k, M or G (1024-based, either case); at most 2^50. */
static int
number_parse(const char *s, size_t n, bool size, uint64_t *v)
{
	uint64_t x = 0, mul = 1;
	size_t i = 0;

	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (x > (1ull << 50))
			return -EINVAL;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	if (size && i + 1 == n) {
		switch (s[i]) {
		case 'k':
		case 'K':
			mul = 1ull << 10;
			break;
		case 'm':
		case 'M':
			mul = 1ull << 20;
			break;
		case 'g':
		case 'G':
			mul = 1ull << 30;
			break;
		default:
			return -EINVAL;
		}
		i++;
	}
	if (i != n || x > (1ull << 50) / mul)
		return -EINVAL;
	*v = x * mul;
	return 0;
}

/* NET/BITS: an IPv4 or IPv6 network; the bits past the prefix must be zero (a typo such
 * as 10.1.2.3/8 is refused rather than read as 10.0.0.0/8). An IPv4-mapped network
 * (::ffff:a.b.c.d/N) is stored as the IPv4 network a.b.c.d/(N - 96): uring/tenant.c
 * compares a mapped peer as its IPv4 address, so stored as IPv6 it would never match.
 * -ERANGE: a mapped network shorter than /96 (it would reach past the mapped range). */
static int
cidr_parse(const char *s, size_t n, struct slc_tenant_cidr *c)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = memchr(s, '/', n);
	uint64_t bits;
	size_t hl;

	if (slash == NULL)
		return -EINVAL;
	hl = (size_t)(slash - s);
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, host, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, host, c->addr) == 1)
		c->family = AF_INET6;
	else
		return -EINVAL;
	if (number_parse(slash + 1, n - hl - 1, false, &bits) != 0 ||
	    bits > (c->family == AF_INET ? 32u : 128u))
		return -EINVAL;
	if (c->family == AF_INET6 && memcmp(c->addr, mapped, sizeof(mapped)) == 0) {
		if (bits < 96)
			return -ERANGE;
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, sizeof(c->addr) - 4);
		c->family = AF_INET;
		bits -= 96;
	}
	c->prefix = (uint8_t)bits;
	for (uint32_t b = c->prefix; b < (c->family == AF_INET ? 32u : 128u); b++)
		if (c->addr[b / 8] & (0x80u >> (b % 8)))
			return -EINVAL;
	return 0;
}

/* One KEY=VALUE of a spec. */
static int
kv_apply(struct slc_tenant_cfg *t, const char *k, size_t kn, const char *v, size_t vn, char *why,
         size_t len)
{
	static const struct {
		const char *key;
		bool size;
		size_t off;
	} nums[] = {
	        {"rate", false, offsetof(struct slc_tenant_cfg, rate)},
	        {"burst", false, offsetof(struct slc_tenant_cfg, burst)},
	        {"bytes", true, offsetof(struct slc_tenant_cfg, bytes_rate)},
	        {"bytes-burst", true, offsetof(struct slc_tenant_cfg, bytes_burst)},
	};
	int rc;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strlen(nums[i].key) != kn || memcmp(nums[i].key, k, kn) != 0)
			continue;
		if (number_parse(v, vn, nums[i].size,
		                 (uint64_t *)(void *)((char *)t + nums[i].off)) != 0)
			return fail(why, len,
			            nums[i].size ? "%.*s: not a size (digits, then k, M or G)"
			                         : "%.*s: not a number (digits)",
			            (int)(kn + 1 + vn), k);
		return 0;
	}
	if (kn == 4 && memcmp(k, "cidr", 4) == 0) {
		if (t->ncidr == SLC_TENANT_CIDR_MAX)
			return fail(why, len, "%.*s: more than 8 cidr=", (int)(kn + 1 + vn), k);
		rc = cidr_parse(v, vn, &t->cidr[t->ncidr]);
		if (rc == -ERANGE)
			return fail(why, len,
			            "%.*s: an IPv4-mapped network (::ffff:a.b.c.d) must be /96 or "
			            "longer; write the IPv4 network instead",
			            (int)(kn + 1 + vn), k);
		if (rc != 0)
			return fail(why, len,
			            "%.*s: not an IPv4 or IPv6 NET/BITS with the host bits zero",
			            (int)(kn + 1 + vn), k);
		t->ncidr++;
		return 0;
	}
	if (kn == 8 && memcmp(k, "listener", 8) == 0) {
		if (t->nlsel == SLC_TENANT_LSEL_MAX || vn == 0 || vn >= SLC_TENANT_LSEL_LEN)
			return fail(why, len,
			            "%.*s: at most 4 listener=, each an index or ADDR:PORT",
			            (int)(kn + 1 + vn), k);
		memcpy(t->lsel[t->nlsel], v, vn);
		t->lsel[t->nlsel++][vn] = '\0';
		return 0;
	}
	if (kn == 4 && memcmp(k, "cert", 4) == 0) {
		if (t->ncert == SLC_TENANT_CERT_MAX || vn == 0 || vn >= SLC_TENANT_CERT_LEN)
			return fail(why, len, "%.*s: at most 4 cert=, each 1..127 bytes",
			            (int)(kn + 1 + vn), k);
		memcpy(t->cert[t->ncert], v, vn);
		t->cert[t->ncert++][vn] = '\0';
		return 0;
	}
	if (kn == 5 && memcmp(k, "class", 5) == 0) {
		if (!name_ok(v, vn))
			return fail(why, len, "%.*s: a class is 1..31 of a-z, 0-9, '_' and '-'",
			            (int)(kn + 1 + vn), k);
		memcpy(t->qos_class, v, vn);
		t->qos_class[vn] = '\0';
		return 0;
	}
	return fail(why, len,
	            "%.*s: unknown; allowed: listener, cidr, cert, class, rate, burst, bytes, "
	            "bytes-burst",
	            (int)kn, k);
}

int
slc_tenant_spec_parse(const char *text, struct slc_tenant_cfg *t, char *why, size_t len)
{
	size_t n = strcspn(text, ":");
	const char *p;

	memset(t, 0, sizeof(*t));
	if (text[n] != ':' || !name_ok(text, n))
		return fail(why, len, "no NAME: of 1..31 lower case letters, digits, '_', '-'");
	memcpy(t->name, text, n);
	memcpy(t->qos_class, "none", 5);
	p = text + n + 1;
	while (*p != '\0') {
		size_t kv = strcspn(p, ","), kn = strcspn(p, "=");
		int rc;

		if (kn >= kv)
			return fail(why, len, "%.*s: no KEY=VALUE", (int)kv, p);
		rc = kv_apply(t, p, kn, p + kn + 1, kv - kn - 1, why, len);
		if (rc != 0)
			return rc;
		p += kv;
		if (*p == ',')
			p++;
	}
	if (t->burst != 0 && t->rate == 0)
		return fail(why, len, "burst= needs rate=");
	if (t->bytes_burst != 0 && t->bytes_rate == 0)
		return fail(why, len, "bytes-burst= needs bytes=");
	return 0;
}

int
slc_tenant_spec_check(const char *text, char *why, size_t len)
{
	struct slc_tenant_cfg t;

	return slc_tenant_spec_parse(text, &t, why, len);
}

/* listener=N (its place among --listen) or ADDR:PORT (every --listen at that address, TCP
 * and UDP) as a mask of --listen indexes; 0: names none. */
static uint32_t
lsel_resolve(const struct slc_cfg *c, const char *sel)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *why;
	uint64_t idx;
	uint32_t mask = 0;

	if (number_parse(sel, strlen(sel), false, &idx) == 0)
		return idx < c->nlisten ? 1u << idx : 0;
	if (slc_addr_parse(sel, strlen(sel), &ss, &sl, &why) != 0)
		return 0;
	for (uint32_t i = 0; i < c->nlisten; i++)
		if (c->listen[i].addrlen == sl && memcmp(&c->listen[i].addr, &ss, sl) == 0)
			mask |= 1u << i;
	return mask;
}

/* ttl=: digits in ms, or with ms, s or m. */
static int
duration_ns(const char *s, size_t n, uint64_t *ns)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
	        {"ms", 1000000ull}, {"s", 1000000000ull}, {"m", 60000000000ull}, {"", 1000000ull}};
	size_t d = 0;
	uint64_t v;

	while (d < n && s[d] >= '0' && s[d] <= '9')
		d++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].unit) != n - d || memcmp(s + d, units[i].unit, n - d) != 0)
			continue;
		if (number_parse(s, d, false, &v) != 0 || v > 86400000ull)
			return -EINVAL;
		*ns = v * units[i].ns;
		return 0;
	}
	return -EINVAL;
}

int
slc_qos_spec_parse(const char *text, struct slc_qos_class *c, char *why, size_t len)
{
	size_t n = strcspn(text, ":");
	const char *p;

	if (text[n] != ':' || !name_ok(text, n) || (n == 4 && memcmp(text, "none", 4) == 0))
		return fail(why, len,
		            "no NAME: of 1..31 lower case letters, digits, '_', '-' (not none)");
	memset(c->name, 0, sizeof(c->name));
	memcpy(c->name, text, n);
	for (p = text + n + 1; *p != '\0';) {
		size_t kv = strcspn(p, ","), kn = strcspn(p, "=");
		const char *v = p + kn + 1;
		size_t vn = kv - kn - 1;
		uint64_t x;

		if (kn >= kv)
			return fail(why, len, "%.*s: no KEY=VALUE", (int)kv, p);
		if (kn == 6 && memcmp(p, "weight", 6) == 0) {
			if (number_parse(v, vn, false, &x) != 0 || x < 1 || x > 1000)
				return fail(why, len, "%.*s: a weight is 1..1000", (int)kv, p);
			c->weight = (uint32_t)x;
		} else if (kn == 12 && memcmp(p, "max-inflight", 12) == 0) {
			if (number_parse(v, vn, false, &x) != 0 || x > 1u << 30)
				return fail(why, len, "%.*s: max-inflight is 0..2^30 (0: none)",
				            (int)kv, p);
			c->max_inflight = (uint32_t)x;
		} else if (kn == 3 && memcmp(p, "ttl", 3) == 0) {
			if (duration_ns(v, vn, &c->ttl_ns) != 0)
				return fail(why, len,
				            "%.*s: a ttl is 0..24h: digits (ms), or with ms, s, m",
				            (int)kv, p);
		} else {
			return fail(why, len, "%.*s: unknown; allowed: weight, max-inflight, ttl",
			            (int)kn, p);
		}
		p += kv;
		if (*p == ',')
			p++;
	}
	return 0;
}

int
slc_qos_spec_check(const char *text, char *why, size_t len)
{
	struct slc_qos_class c = {.weight = 1};

	return slc_qos_spec_parse(text, &c, why, len);
}

int
slc_qos_build(const struct slc_cfg *c, struct slc_qos *q, char *why, size_t len)
{
	static const char *const builtin[] = {"gold", "silver", "bronze"};
	static const uint32_t weight[] = {4, 2, 1};

	memset(q, 0, sizeof(*q));
	for (uint32_t i = 0; i < 3; i++) {
		memcpy(q->c[i].name, builtin[i], strlen(builtin[i]) + 1);
		q->c[i].weight = weight[i];
	}
	q->n = 3;
	for (uint32_t i = 0; i < c->qos_class.n; i++) {
		const char *text = c->qos_class.v[i];
		size_t n = strcspn(text, ":");
		uint32_t k = 0;
		char sub[200];

		while (k < q->n &&
		       (strlen(q->c[k].name) != n || memcmp(q->c[k].name, text, n) != 0))
			k++;
		if (k == SLC_QOS_MAX) {
			snprintf(why, len,
			         "--qos-class %s: at most %u classes, the 3 built-ins included",
			         text, SLC_QOS_MAX);
			return -EINVAL;
		}
		if (k == q->n)
			q->c[q->n++].weight = 1;
		if (slc_qos_spec_parse(text, &q->c[k], sub, sizeof(sub)) != 0) {
			snprintf(why, len, "--qos-class %s: %s", text, sub);
			return -EINVAL;
		}
	}
	for (uint32_t k = 0; k < q->n; k++)
		q->any_ttl |= q->c[k].ttl_ns != 0;
	return 0;
}

/* class=NAME: its index + 1 in q, 0 for "none"; -1 when q has no such class. */
static int
qos_index(const struct slc_qos *q, const char *name)
{
	if (strcmp(name, "none") == 0)
		return 0;
	for (uint32_t k = 0; k < q->n; k++)
		if (strcmp(q->c[k].name, name) == 0)
			return (int)k + 1;
	return -1;
}

static int
table_build(const struct slc_cfg *c, const struct slc_qos *q, struct slc_tenant_table *tt,
            char *why, size_t len)
{
	memset(tt, 0, sizeof(*tt));
	tt->dflt = SLC_TENANT_NONE;
	if (c->tenant.n == 0)
		return 0;
	for (uint32_t i = 0; i < c->tenant.n; i++) {
		struct slc_tenant_cfg *t = &tt->t[tt->n];
		char sub[200];
		int cls;

		if (slc_tenant_spec_parse(c->tenant.v[i], t, sub, sizeof(sub)) != 0) {
			snprintf(why, len, "--tenant %s: %s", c->tenant.v[i], sub);
			return -EINVAL;
		}
		for (uint32_t k = 0; k < tt->n; k++) {
			if (strcmp(tt->t[k].name, t->name) == 0) {
				snprintf(why, len, "--tenant %s: the name is given twice", t->name);
				return -EINVAL;
			}
		}
		for (uint32_t k = 0; k < t->nlsel; k++) {
			uint32_t m = lsel_resolve(c, t->lsel[k]);

			if (m == 0) {
				snprintf(why, len,
				         "--tenant %s: listener=%s names no --listen; allowed: its "
				         "place (0 = the first) or its ADDR:PORT",
				         t->name, t->lsel[k]);
				return -EINVAL;
			}
			t->listeners |= m;
		}
		cls = qos_index(q, t->qos_class);
		if (cls < 0) {
			snprintf(why, len,
			         "--tenant %s: class=%s is no QoS class; allowed: none, gold, "
			         "silver, "
			         "bronze or a --qos-class NAME",
			         t->name, t->qos_class);
			return -EINVAL;
		}
		t->qos = (uint8_t)cls;
		t->slot = (uint8_t)tt->n;
		tt->n++;
	}
	if (strcmp(c->tenant_default, "refuse") == 0)
		return 0;
	for (uint32_t k = 0; k < tt->n; k++) {
		if (strcmp(tt->t[k].name, c->tenant_default) == 0) {
			tt->dflt = k;
			return 0;
		}
	}
	if (strcmp(c->tenant_default, "default") != 0) {
		snprintf(why, len,
		         "--tenant-default %s: no --tenant has that name; allowed: refuse, default "
		         "or a --tenant's NAME",
		         c->tenant_default);
		return -EINVAL;
	}
	if (tt->n == SLC_TENANT_MAX) {
		snprintf(why, len, "--tenant: at most %u tenants with the built-in default",
		         SLC_TENANT_MAX - 1);
		return -EINVAL;
	}
	tt->dflt = tt->n;
	memcpy(tt->t[tt->n].name, "default", sizeof("default"));
	memcpy(tt->t[tt->n].qos_class, "none", sizeof("none"));
	tt->t[tt->n].slot = (uint8_t)tt->n;
	tt->t[tt->n++].implicit = true;
	return 0;
}

int
slc_tenant_table_build(const struct slc_cfg *c, struct slc_tenant_table *tt, char *why, size_t len)
{
	struct slc_qos *q = aligned_alloc(alignof(struct slc_qos), sizeof(*q));
	int rc;

	if (q == NULL) {
		snprintf(why, len, "--tenant: out of memory");
		return -ENOMEM;
	}
	rc = slc_qos_build(c, q, why, len);
	if (rc == 0)
		rc = table_build(c, q, tt, why, len);
	free(q);
	return rc;
}
