/* SPDX-License-Identifier: MIT */
/* test_tenant.c: which tenant a peer belongs to: listener, CIDR (v4, v6, mapped), certificate. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "tenant.h"

static struct sockaddr_storage ss;

/* An address as a sockaddr (v4 or v6 by its text); its length in *len. */
static const struct sockaddr *
addr(const char *text, socklen_t *len)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') == NULL) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, text, &a->sin_addr), 1, "%s", text);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, text, &a->sin6_addr), 1, "%s", text);
		*len = sizeof(*a);
	}
	return (const struct sockaddr *)&ss;
}

static struct slc_tenant_cidr
cidr(const char *net, uint8_t prefix)
{
	struct slc_tenant_cidr c = {.prefix = prefix};

	c.family = strchr(net, ':') != NULL ? AF_INET6 : AF_INET;
	cr_assert_eq(inet_pton(c.family, net, c.addr), 1, "%s", net);
	return c;
}

static bool
in(const struct slc_tenant_cidr *c, const char *a)
{
	socklen_t len;
	const struct sockaddr *sa = addr(a, &len);

	return slc_tenant_cidr_contains(c, sa, len);
}

Test(tenant, cidr_v4_prefixes)
{
	struct slc_tenant_cidr c8 = cidr("10.0.0.0", 8), c20 = cidr("192.168.16.0", 20),
	                       all = cidr("0.0.0.0", 0), one = cidr("1.2.3.4", 32);

	cr_expect(in(&c8, "10.255.1.2"));
	cr_expect_not(in(&c8, "11.0.0.1"));
	cr_expect(in(&c20, "192.168.31.255"));
	cr_expect_not(in(&c20, "192.168.32.0"));
	cr_expect_not(in(&c20, "192.168.15.255"));
	cr_expect(in(&all, "8.8.8.8"));
	cr_expect(in(&one, "1.2.3.4"));
	cr_expect_not(in(&one, "1.2.3.5"));
	cr_expect_not(in(&c8, "fd00::1"), "a v6 peer is not in a v4 network");
}

Test(tenant, cidr_v6_and_v4_mapped_peers)
{
	struct slc_tenant_cidr c = cidr("fd00:1::", 32), v4 = cidr("127.0.0.0", 8);

	cr_expect(in(&c, "fd00:1:ffff::9"));
	cr_expect_not(in(&c, "fd00:2::9"));
	cr_expect_not(in(&c, "10.0.0.1"));
	cr_expect(in(&v4, "::ffff:127.0.0.1"), "a v4-mapped peer is its v4 address");
	cr_expect_not(in(&v4, "::1"));
}

/* A mapped peer is compared as its IPv4 address: so ::/0 (any IPv6 peer) does not take
 * IPv4 peers, mapped or not (docs/operations.md, Tenants). */
Test(tenant, cidr_v6_any_does_not_match_v4_peers)
{
	struct slc_tenant_cidr any6 = cidr("::", 0);

	cr_expect(in(&any6, "fd00::1"));
	cr_expect(in(&any6, "::1"));
	cr_expect_not(in(&any6, "10.0.0.1"));
	cr_expect_not(in(&any6, "::ffff:10.0.0.1"));
}

Test(tenant, cidr_without_an_address)
{
	struct slc_tenant_cidr c = cidr("0.0.0.0", 0);

	cr_expect_not(slc_tenant_cidr_contains(&c, NULL, 0),
	              "a peer gone before accept matches no network");
}

/* Three tenants: a on listener 1 from 10/8, b from fd00::/8 anywhere, c with a
 * certificate name; default z. */
static void
table(struct slc_tenant_table *tt, uint32_t dflt)
{
	memset(tt, 0, sizeof(*tt));
	strcpy(tt->t[0].name, "a");
	tt->t[0].listeners = 1u << 1;
	tt->t[0].cidr[0] = cidr("10.0.0.0", 8);
	tt->t[0].ncidr = 1;
	strcpy(tt->t[1].name, "b");
	tt->t[1].cidr[0] = cidr("fd00::", 8);
	tt->t[1].cidr[1] = cidr("192.0.2.0", 24);
	tt->t[1].ncidr = 2;
	strcpy(tt->t[2].name, "c");
	strcpy(tt->t[2].cert[0], "*.acme.example");
	strcpy(tt->t[2].cert[1], "CN=billing,O=acme");
	tt->t[2].ncert = 2;
	strcpy(tt->t[3].name, "z");
	tt->t[3].implicit = true;
	tt->n = 4;
	tt->dflt = dflt;
}

static uint32_t
match(const struct slc_tenant_table *tt, uint32_t l, const char *a)
{
	socklen_t len;
	const struct sockaddr *sa = addr(a, &len);

	return slc_tenant_match_addr(tt, l, sa, len);
}

Test(tenant, the_first_tenant_whose_conditions_all_hold)
{
	struct slc_tenant_table tt;

	table(&tt, 3);
	cr_expect_eq(match(&tt, 1, "10.1.2.3"), 0);
	cr_expect_eq(match(&tt, 0, "10.1.2.3"), 3, "a is on listener 1 only");
	cr_expect_eq(match(&tt, 0, "fd00::7"), 1);
	cr_expect_eq(match(&tt, 5, "192.0.2.200"), 1, "any of b's networks");
	cr_expect_eq(match(&tt, 1, "8.8.8.8"), 3, "no one's: the default");
	/* b before a when b comes first. */
	tt.t[1].cidr[1] = cidr("10.0.0.0", 16);
	{
		struct slc_tenant_cfg t0 = tt.t[0];

		tt.t[0] = tt.t[1];
		tt.t[1] = t0;
	}
	cr_expect_eq(match(&tt, 1, "10.0.2.3"), 0, "the first that matches, in table order");
	cr_expect_eq(match(&tt, 1, "10.1.2.3"), 1);
}

Test(tenant, refuse_when_no_default)
{
	struct slc_tenant_table tt;

	table(&tt, SLC_TENANT_NONE);
	cr_expect_eq(match(&tt, 0, "8.8.8.8"), SLC_TENANT_NONE);
	cr_expect_eq(match(&tt, 1, "10.0.0.1"), 0);
}

Test(tenant, the_builtin_default_is_never_matched_by_conditions)
{
	struct slc_tenant_table tt;

	table(&tt, SLC_TENANT_NONE);
	cr_expect_eq(match(&tt, 0, "8.8.8.8"), SLC_TENANT_NONE,
	             "z has no conditions, but it is the implicit default");
}

/* The TLS hook: a certificate's subject or SANs pick the tenant; without one, tenants with
 * cert= never match. */
Test(tenant, certificate_names_match_through_the_tls_hook)
{
	struct slc_tenant_table tt;
	const char *sans[] = {"DNS:x", "app1.acme.example"};
	const char *deep[] = {"a.b.acme.example", "acme.example"};
	socklen_t len;
	const struct sockaddr *sa = addr("8.8.8.8", &len);

	table(&tt, 3);
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=other", sans, 2), 2);
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=billing,O=acme", NULL, 0), 2);
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, NULL, deep, 2), 3,
	             "*. stands for one label, not two or none");
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=nobody", NULL, 0), 3);
	cr_expect_eq(match(&tt, 0, "8.8.8.8"), 3, "no certificate: c cannot match");
	/* Address conditions still come first in order: a's peer with c's name is a's. */
	sa = addr("10.9.9.9", &len);
	cr_expect_eq(slc_tenant_match_cert(&tt, 1, sa, len, NULL, sans, 2), 0);
}

/* A wildcard stands for one DNS label ([A-Za-z0-9-]+) of a name (the CN's value, a SAN DNS
 * name: tls.c hands both as names), never for part of the RFC 2253 subject string, which
 * only an exact pattern matches. */
Test(tenant, a_wildcard_matches_names_not_the_subject_string)
{
	struct slc_tenant_table tt;
	const char *ok[] = {"a-1.acme.example"}, *ok2[] = {"Web9.acme.example"};
	const char *bad[] = {"x,OU=a.acme.example", "a b.acme.example", "a_b.acme.example",
	                     "a*.acme.example", ".acme.example"};
	socklen_t len;
	const struct sockaddr *sa = addr("8.8.8.8", &len);

	table(&tt, 3);
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=x,OU=a.acme.example", NULL, 0), 3,
	             "the subject string is not a DNS name");
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=a.acme.example", NULL, 0), 3,
	             "nor is the subject, even when it looks like one: the CN value is a name");
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=x", ok, 1), 2);
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=x", ok2, 1), 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=x", &bad[i], 1), 3, "%s",
		             bad[i]);
	cr_expect_eq(slc_tenant_match_cert(&tt, 0, sa, len, "CN=billing,O=acme", NULL, 0), 2,
	             "an exact subject pattern still matches the subject");
}

/* At accept on a TLS listener: a certificate can only change what a cert= tenant ahead of
 * the address's first match could take. */
Test(tenant, a_certificate_may_decide_only_ahead_of_the_address_match)
{
	struct slc_tenant_table tt;
	socklen_t len;
	const struct sockaddr *sa;

	table(&tt, 3);
	sa = addr("10.1.2.3", &len);
	cr_expect(!slc_tenant_cert_may_decide(&tt, 1, sa, len), "a (before c) takes it");
	sa = addr("8.8.8.8", &len);
	cr_expect(slc_tenant_cert_may_decide(&tt, 1, sa, len), "c may, else the default");
	/* c limited to 10/8: not for 8.8.8.8, whose tenant is the default then. */
	tt.t[2].cidr[0] = cidr("10.0.0.0", 8);
	tt.t[2].ncidr = 1;
	cr_expect(!slc_tenant_cert_may_decide(&tt, 1, sa, len));
	sa = addr("10.1.2.3", &len);
	cr_expect(slc_tenant_cert_may_decide(&tt, 0, sa, len), "a is on listener 1 only");
	tt.n = 0;
	cr_expect(!slc_tenant_cert_may_decide(&tt, 0, sa, len), "no tenants");
}
