/* SPDX-License-Identifier: MIT */
/* test_tenant_spec.c: --tenant NAME:SPEC and --tenant-default: parse, refuse, build the table. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "tenant_spec.h"

static struct slc_cfg cfg;
static struct slc_tenant_table tt;
static char err_text[8192];

/* sluiced ARGS...: the parse's result; what it printed in err_text. */
static int
parse(const char *first, ...)
{
	char *argv[40] = {"sluiced"};
	int argc = 1;
	char *e = NULL;
	size_t elen = 0;
	FILE *out = fopen("/dev/null", "w"), *err = open_memstream(&e, &elen);
	va_list ap;
	int rc;

	cr_assert(out != NULL && err != NULL);
	va_start(ap, first);
	for (const char *a = first; a != NULL && argc < 39; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	rc = slc_cfg_parse(&cfg, argc, argv, out, err);
	fclose(out);
	fclose(err);
	snprintf(err_text, sizeof(err_text), "%s", e);
	free(e);
	return rc;
}

Test(tenant_spec, a_full_spec)
{
	struct slc_tenant_cfg t;
	char why[256] = "";

	cr_assert_eq(slc_tenant_spec_parse("acme-1:listener=0,listener=127.0.0.1:5140,"
	                                   "cidr=10.0.0.0/8,cidr=fd00::/8,class=gold,rate=1000,"
	                                   "burst=2000,bytes=1M,bytes-burst=4M,cert=*.acme.example",
	                                   &t, why, sizeof(why)),
	             0, "%s", why);
	cr_expect_str_eq(t.name, "acme-1");
	cr_expect_str_eq(t.qos_class, "gold");
	cr_expect_eq(t.nlsel, 2);
	cr_expect_str_eq(t.lsel[1], "127.0.0.1:5140");
	cr_expect_eq(t.ncidr, 2);
	cr_expect_eq(t.cidr[0].family, AF_INET);
	cr_expect_eq(t.cidr[0].prefix, 8);
	cr_expect_eq(t.cidr[1].family, AF_INET6);
	cr_expect_eq(t.rate, 1000);
	cr_expect_eq(t.burst, 2000);
	cr_expect_eq(t.bytes_rate, 1u << 20);
	cr_expect_eq(t.bytes_burst, 4u << 20);
	cr_expect_eq(t.ncert, 1);
	cr_expect_str_eq(t.cert[0], "*.acme.example");
}

Test(tenant_spec, a_name_alone_matches_everything_without_limits)
{
	struct slc_tenant_cfg t;
	char why[256] = "";

	cr_assert_eq(slc_tenant_spec_parse("all:", &t, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(t.qos_class, "none");
	cr_expect_eq(t.ncidr + t.nlsel + t.ncert + t.rate + t.bytes_rate, 0);
}

/* Each bad spec is refused with a reason that names what is wrong. */
Test(tenant_spec, bad_specs_are_refused_with_a_reason)
{
	static const struct {
		const char *spec;
		const char *why;
	} bad[] = {
	        {"noname", "NAME:"},
	        {"Upper:rate=1", "NAME:"},
	        {":rate=1", "NAME:"},
	        {"a:rate=1x", "rate=1x"},
	        {"a:rate=", "rate="},
	        {"a:bytes=1T", "bytes=1T"},
	        {"a:cidr=10.0.0.1/8", "host bits"},
	        {"a:cidr=10.0.0.0/33", "cidr=10.0.0.0/33"},
	        {"a:cidr=10.0.0.0", "cidr=10.0.0.0"},
	        {"a:cidr=nonsense/8", "cidr=nonsense/8"},
	        {"a:cidr=::ffff:0:0/80", "/96 or longer"},
	        {"a:cidr=::ffff:10.0.0.0/95", "/96 or longer"},
	        {"a:cidr=::ffff:10.0.0.1/104", "host bits"},
	        {"a:class=Gold", "class"},
	        {"a:colour=red", "unknown"},
	        {"a:rate", "KEY=VALUE"},
	        {"a:burst=10", "burst= needs rate="},
	        {"a:bytes-burst=10", "bytes-burst= needs bytes="},
	        {"a:cidr=1.0.0.0/8,cidr=2.0.0.0/8,cidr=3.0.0.0/8,cidr=4.0.0.0/8,cidr=5.0.0.0/8,"
	         "cidr=6.0.0.0/8,cidr=7.0.0.0/8,cidr=8.0.0.0/8,cidr=9.0.0.0/8",
	         "more than 8"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct slc_tenant_cfg t;
		char why[256] = "";

		cr_expect_eq(slc_tenant_spec_parse(bad[i].spec, &t, why, sizeof(why)), -EINVAL,
		             "%s was taken", bad[i].spec);
		cr_expect(strstr(why, bad[i].why) != NULL, "%s: \"%s\" lacks \"%s\"", bad[i].spec,
		          why, bad[i].why);
	}
}

/* An IPv4-mapped IPv6 network is stored as the IPv4 network it maps, since a mapped peer
 * is compared as its IPv4 address (uring/tenant.c): so it matches both spellings of it. */
Test(tenant_spec, a_v4_mapped_cidr_becomes_its_v4_network)
{
	static const struct {
		const char *spec;
		const char *net;
		uint8_t prefix;
	} ok[] = {
	        {"a:cidr=::ffff:10.0.0.0/104", "10.0.0.0", 8},
	        {"a:cidr=::ffff:192.168.16.0/116", "192.168.16.0", 20},
	        {"a:cidr=::ffff:0:0/96", "0.0.0.0", 0},
	        {"a:cidr=::FFFF:1.2.3.4/128", "1.2.3.4", 32},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct slc_tenant_cfg t;
		uint8_t want[4];
		char why[256] = "";

		cr_assert_eq(slc_tenant_spec_parse(ok[i].spec, &t, why, sizeof(why)), 0, "%s: %s",
		             ok[i].spec, why);
		cr_assert_eq(inet_pton(AF_INET, ok[i].net, want), 1);
		cr_expect_eq(t.cidr[0].family, AF_INET, "%s", ok[i].spec);
		cr_expect_eq(t.cidr[0].prefix, ok[i].prefix, "%s", ok[i].spec);
		cr_expect_arr_eq(t.cidr[0].addr, want, 4, "%s", ok[i].spec);
	}
}

Test(tenant_spec, a_v4_mapped_cidr_matches_mapped_and_v4_peers)
{
	struct slc_tenant_cfg t;
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	char why[256] = "";

	cr_assert_eq(slc_tenant_spec_parse("a:cidr=::ffff:10.0.0.0/104", &t, why, sizeof(why)), 0,
	             "%s", why);
	cr_assert_eq(inet_pton(AF_INET6, "::ffff:10.9.8.7", &v6.sin6_addr), 1);
	cr_expect(slc_tenant_cidr_contains(&t.cidr[0], (struct sockaddr *)&v6, sizeof(v6)),
	          "a mapped peer on a dual-stack listener");
	cr_assert_eq(inet_pton(AF_INET, "10.9.8.7", &v4.sin_addr), 1);
	cr_expect(slc_tenant_cidr_contains(&t.cidr[0], (struct sockaddr *)&v4, sizeof(v4)));
	cr_assert_eq(inet_pton(AF_INET, "11.0.0.1", &v4.sin_addr), 1);
	cr_expect_not(slc_tenant_cidr_contains(&t.cidr[0], (struct sockaddr *)&v4, sizeof(v4)));
}

/* Through the flags: the table in flag order, listener= resolved, the built-in default. */
Test(tenant_spec, the_flags_build_the_table)
{
	char why[256] = "";

	cr_assert_eq(parse("--listen", "tcp://127.0.0.1:7001", "--listen", "udp://127.0.0.1:7001",
	                   "--listen", "tcp://[::1]:7002", "--tenant", "a:listener=127.0.0.1:7001",
	                   "--tenant", "b:listener=2,rate=5", NULL),
	             SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(slc_tenant_table_build(&cfg, &tt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tt.n, 3);
	cr_expect_str_eq(tt.t[0].name, "a");
	cr_expect_eq(tt.t[0].listeners, 3u, "ADDR:PORT names the TCP and the UDP listener");
	cr_expect_eq(tt.t[1].listeners, 4u);
	cr_expect_eq(tt.t[1].rate, 5);
	cr_expect_str_eq(tt.t[2].name, "default");
	cr_expect(tt.t[2].implicit);
	cr_expect_eq(tt.dflt, 2);
}

Test(tenant_spec, tenant_default_names_a_tenant_or_refuses)
{
	char why[256] = "";

	cr_assert_eq(parse("--tenant", "a:cidr=10.0.0.0/8", "--tenant", "rest:", "--tenant-default",
	                   "rest", NULL),
	             SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(slc_tenant_table_build(&cfg, &tt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tt.n, 2, "no built-in default when a --tenant is the default");
	cr_expect_eq(tt.dflt, 1);
	cr_assert_eq(parse("--tenant", "a:cidr=10.0.0.0/8", "--tenant-default", "refuse", NULL),
	             SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(slc_tenant_table_build(&cfg, &tt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tt.n, 1);
	cr_expect_eq(tt.dflt, SLC_TENANT_NONE);
}

/* A NAME given again replaces its tenant in place (the command line's over the --config
 * file's, as for every repeatable NAME flag). */
Test(tenant_spec, a_name_given_again_replaces_it)
{
	char why[256] = "";

	cr_assert_eq(parse("--tenant", "a:rate=1", "--tenant", "b:", "--tenant", "a:rate=7", NULL),
	             SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(slc_tenant_table_build(&cfg, &tt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tt.n, 3);
	cr_expect_str_eq(tt.t[0].name, "a");
	cr_expect_eq(tt.t[0].rate, 7);
	cr_expect_str_eq(tt.t[1].name, "b");
}

Test(tenant_spec, no_tenant_no_table)
{
	char why[256] = "";

	cr_assert_eq(parse("--tenant-default", "refuse", NULL), SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(slc_tenant_table_build(&cfg, &tt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tt.n, 0);
}

/* Problems that need the whole command line: each exits 2 with one line that says it. */
Test(tenant_spec, cross_flag_problems_exit_2)
{
	cr_expect_eq(parse("--tenant", "a:listener=3", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "listener=3 names no --listen") != NULL, "%s", err_text);
	cr_expect_eq(parse("--tenant", "a:listener=10.0.0.9:1", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "names no --listen") != NULL, "%s", err_text);
	cr_expect_eq(parse("--tenant", "a:", "--tenant-default", "b", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "--tenant-default b") != NULL, "%s", err_text);
	cr_expect_eq(parse("--tenant", "a:rate=x", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "rate=x") != NULL, "%s", err_text);
}

/* The --config file takes the same values, one tenant a line. */
Test(tenant_spec, the_config_file_takes_tenants)
{
	char path[] = "/tmp/tenant-cfg-XXXXXX";
	int fd = mkstemp(path);
	static const char text[] = "tenant = gold:cidr=10.0.0.0/8,class=gold,rate=100\n"
	                           "tenant = rest:rate=10\n"
	                           "tenant-default = rest\n";
	char why[256] = "";

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	cr_assert_eq(parse("--config", path, NULL), SLC_CFG_RUN, "%s", err_text);
	unlink(path);
	cr_assert_eq(slc_tenant_table_build(&cfg, &tt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tt.n, 2);
	cr_expect_str_eq(tt.t[0].qos_class, "gold");
	cr_expect_eq(tt.t[1].rate, 10);
	cr_expect_eq(tt.dflt, 1);
}

/* --qos-class: built-ins changed, new classes added; class= must name one. */
Test(tenant_spec, qos_classes_and_class_names)
{
	static struct slc_qos q;
	char why[256] = "";

	cr_assert_eq(parse("--qos-class", "gold:weight=9,max-inflight=100", "--qos-class",
	                   "fresh:ttl=250ms", "--tenant", "a:class=fresh", "--tenant",
	                   "b:class=gold", "--tenant", "c:", NULL),
	             SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(slc_qos_build(&cfg, &q, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(q.n, 4);
	cr_expect_str_eq(q.c[0].name, "gold");
	cr_expect_eq(q.c[0].weight, 9);
	cr_expect_eq(q.c[0].max_inflight, 100);
	cr_expect_eq(q.c[2].weight, 1, "bronze as built");
	cr_expect_str_eq(q.c[3].name, "fresh");
	cr_expect_eq(q.c[3].weight, 1);
	cr_expect_eq(q.c[3].ttl_ns, 250000000ull);
	cr_expect(q.any_ttl);
	cr_assert_eq(slc_tenant_table_build(&cfg, &tt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tt.t[0].qos, 4, "fresh: index 3, + 1");
	cr_expect_eq(tt.t[1].qos, 1);
	cr_expect_eq(tt.t[2].qos, 0, "no class");

	cr_expect_eq(parse("--tenant", "a:class=platinum", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "class=platinum is no QoS class") != NULL, "%s", err_text);
	cr_expect_eq(parse("--qos-class", "gold:weight=0", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "weight is 1..1000") != NULL, "%s", err_text);
	cr_expect_eq(parse("--qos-class", "x:ttl=5h", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--qos-class", "x:ttl=2q", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--qos-class", "none:weight=2", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--qos-class", "x:colour=red", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "allowed: weight, max-inflight, ttl") != NULL, "%s", err_text);
	cr_expect_eq(parse("--qos-class", "c1:", "--qos-class", "c2:", "--qos-class",
	                   "c3:", "--qos-class", "c4:", "--qos-class", "c5:", "--qos-class",
	                   "c6:", "--tenant", "a:", NULL),
	             SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "at most 8 classes") != NULL, "%s", err_text);
}
