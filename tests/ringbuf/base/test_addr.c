/* SPDX-License-Identifier: MIT */
/* test_addr.c: address and port parsing, resolving and formatting of base/addr.h. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "base/addr.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int
parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	*why = NULL;
	return slc_addr_parse(s, strlen(s), ss, len, why);
}

Test(addr, port_is_one_to_five_digits_in_range)
{
	uint16_t p = 7;

	cr_expect_eq(slc_addr_port_parse("0", 1, 0, &p), 0);
	cr_expect_eq(p, 0);
	cr_expect_eq(slc_addr_port_parse("65535", 5, 1, &p), 0);
	cr_expect_eq(p, 65535);
	cr_expect_eq(slc_addr_port_parse("080", 3, 1, &p), 0, "leading zeros, 5 digits at most");
	cr_expect_eq(p, 80);
	p = 7;
	cr_expect_eq(slc_addr_port_parse("0", 1, 1, &p), -ERANGE, "0 where a peer's port is meant");
	cr_expect_eq(slc_addr_port_parse("65536", 5, 0, &p), -ERANGE);
	cr_expect_eq(slc_addr_port_parse("99999", 5, 0, &p), -ERANGE);
	cr_expect_eq(slc_addr_port_parse("", 0, 0, &p), -EINVAL);
	cr_expect_eq(slc_addr_port_parse("000080", 6, 0, &p), -EINVAL);
	cr_expect_eq(slc_addr_port_parse("+80", 3, 0, &p), -EINVAL);
	cr_expect_eq(slc_addr_port_parse("-1", 2, 0, &p), -EINVAL);
	cr_expect_eq(slc_addr_port_parse(" 80", 3, 0, &p), -EINVAL);
	cr_expect_eq(slc_addr_port_parse("80x", 3, 0, &p), -EINVAL);
	cr_expect_eq(p, 7, "untouched on failure");
	/* exactly n bytes: what follows is not looked at */
	cr_expect_eq(slc_addr_port_parse("80?framing=lines", 2, 0, &p), 0);
	cr_expect_eq(p, 80);
}

Test(addr, parse_takes_numeric_ipv4_and_bracketed_ipv6)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *a4 = (const void *)&ss;
	const struct sockaddr_in6 *a6 = (const void *)&ss;
	struct in6_addr want6;
	socklen_t len = 0;
	const char *why;

	cr_assert_eq(parse("127.0.0.1:5140", &ss, &len, &why), 0, "%s", why);
	cr_expect_eq(ss.ss_family, AF_INET);
	cr_expect_eq(len, sizeof(struct sockaddr_in));
	cr_expect_eq(ntohs(a4->sin_port), 5140);
	cr_expect_eq(ntohl(a4->sin_addr.s_addr), 0x7f000001u);

	cr_assert_eq(parse("0.0.0.0:0", &ss, &len, &why), 0, "%s", why);
	cr_expect_eq(ntohs(a4->sin_port), 0, "port 0: any free one");
	cr_expect_eq(a4->sin_addr.s_addr, htonl(INADDR_ANY));

	cr_assert_eq(parse("[2001:db8::1]:65535", &ss, &len, &why), 0, "%s", why);
	cr_expect_eq(ss.ss_family, AF_INET6);
	cr_expect_eq(len, sizeof(struct sockaddr_in6));
	cr_expect_eq(ntohs(a6->sin6_port), 65535);
	inet_pton(AF_INET6, "2001:db8::1", &want6);
	cr_expect_eq(memcmp(&a6->sin6_addr, &want6, sizeof(want6)), 0);
	cr_expect_eq(a6->sin6_scope_id, 0u);

	cr_assert_eq(parse("[::]:9140", &ss, &len, &why), 0, "%s", why);
	cr_expect_eq(memcmp(&a6->sin6_addr, &in6addr_any, sizeof(in6addr_any)), 0);

	/* exactly n bytes: listen_parse hands over what precedes ?framing= */
	why = NULL;
	cr_assert_eq(slc_addr_parse("10.0.0.1:514?framing=lines", 12, &ss, &len, &why), 0, "%s",
	             why);
	cr_expect_eq(ntohs(a4->sin_port), 514);
}

Test(addr, parse_refuses_bad_forms_and_says_why)
{
	static const struct {
		const char *s;
		const char *why;
	} bad[] = {
	        {"", "no :PORT after the address"},
	        {"1.2.3.4", "no :PORT after the address"},
	        {"9200", "no :PORT after the address"},
	        {":80", "not a numeric IPv4 address"},
	        {"1.2.3.4:", "the port is not a number in 0..65535"},
	        {"1.2.3.4:70000", "the port is not a number in 0..65535"},
	        {"1.2.3.4:-1", "the port is not a number in 0..65535"},
	        {"1.2.3.4:80x", "the port is not a number in 0..65535"},
	        {"127.0.0.1:+80", "the port is not a number in 0..65535"},
	        {"1.2.3:80", "not a numeric IPv4 address"},
	        {"localhost:80", "not a numeric IPv4 address"},
	        {"::1:80", "an IPv6 address goes in [ ]"},
	        {"[::1]", "no :PORT after the address"},
	        {"[::1]80", "no :PORT after the address"},
	        {"[::1:80", "no ] after the IPv6 address"},
	        {"[::g]:80", "not a numeric IPv6 address"},
	        {"[1.2.3.4]:80", "not a numeric IPv6 address"},
	        {"[]:80", "not a numeric IPv6 address"},
	        {"[fe80::1%lo]:80", "not a numeric IPv6 address"},
	};
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		cr_expect_eq(parse(bad[i].s, &ss, &len, &why), -EINVAL, "\"%s\" accepted",
		             bad[i].s);
		cr_expect(why != NULL && strcmp(why, bad[i].why) == 0, "\"%s\": %s", bad[i].s,
		          why != NULL ? why : "(no why)");
	}
}

static int
split(const char *s, bool opt, char *host, uint16_t *port, const char **why)
{
	*why = NULL;
	return slc_addr_split(s, strlen(s), opt, host, SLC_ADDR_HOST_MAX + 1, port, why);
}

Test(addr, split_takes_host_names_ipv4_and_bracketed_ipv6)
{
	char host[SLC_ADDR_HOST_MAX + 1];
	uint16_t port;
	const char *why;

	cr_assert_eq(split("collector.example.org:6000", false, host, &port, &why), 0, "%s", why);
	cr_expect_str_eq(host, "collector.example.org");
	cr_expect_eq(port, 6000);
	cr_assert_eq(split("10.1.2.3:6000", false, host, &port, &why), 0, "%s", why);
	cr_expect_str_eq(host, "10.1.2.3");
	cr_assert_eq(split("[fd00::1]:6000", false, host, &port, &why), 0, "%s", why);
	cr_expect_str_eq(host, "fd00::1", "the [ ] are syntax, not the address");
	cr_expect_eq(port, 6000);

	/* a Kafka broker: the port may be left out */
	cr_assert_eq(split("broker-1", true, host, &port, &why), 0, "%s", why);
	cr_expect_str_eq(host, "broker-1");
	cr_expect_eq(port, 0);
	cr_assert_eq(split("broker-1:9092", true, host, &port, &why), 0, "%s", why);
	cr_expect_eq(port, 9092);
	cr_assert_eq(split("[::1]", true, host, &port, &why), 0, "%s", why);
	cr_expect_str_eq(host, "::1");
	cr_expect_eq(port, 0);
	cr_assert_eq(split("[::1]:9093", true, host, &port, &why), 0, "%s", why);
	cr_expect_eq(port, 9093);
}

Test(addr, split_refuses_bad_forms_and_says_why)
{
	static const struct {
		const char *s;
		bool opt;
		const char *why;
	} bad[] = {
	        {"host", false, "no :PORT in 1..65535 at the end"},
	        {"host:0", false, "no :PORT in 1..65535 at the end"},
	        {"host:65536", false, "no :PORT in 1..65535 at the end"},
	        {"host:", false, "no :PORT in 1..65535 at the end"},
	        {"[::1]", false, "no :PORT in 1..65535 at the end"},
	        {":6000", false, "HOST is not a host name, an IPv4 address or an [IPv6] address"},
	        {"6000", false, "no :PORT in 1..65535 at the end"},
	        {"fd00::1:6000", false,
	         "HOST is not a host name, an IPv4 address or an [IPv6] address"},
	        {"[fd00::zz]:6000", false, "not a numeric IPv6 address"},
	        {"[1.2.3.4]:6000", false, "not a numeric IPv6 address"},
	        {"bad_host:6000", false,
	         "HOST is not a host name, an IPv4 address or an [IPv6] address"},
	        {"[fd00::1:6000", false,
	         "HOST is not a host name, an IPv4 address or an [IPv6] address"},
	        {"", true, "HOST is not a host name, an IPv4 address or an [IPv6] address"},
	        {"host:", true, "no :PORT in 1..65535 at the end"},
	        {"host:0", true, "no :PORT in 1..65535 at the end"},
	        {"a:b:9092", true, "no :PORT in 1..65535 at the end"},
	        {"[::1", true, "no ] after the IPv6 address"},
	        {"[::1]x", true, "no :PORT in 1..65535 at the end"},
	        {"[]", true, "not a numeric IPv6 address"},
	        {"under_score", true,
	         "HOST is not a host name, an IPv4 address or an [IPv6] address"},
	};
	char host[SLC_ADDR_HOST_MAX + 1];
	uint16_t port;
	const char *why;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		cr_expect_eq(split(bad[i].s, bad[i].opt, host, &port, &why), -EINVAL,
		             "\"%s\" accepted", bad[i].s);
		cr_expect(why != NULL && strcmp(why, bad[i].why) == 0, "\"%s\": %s", bad[i].s,
		          why != NULL ? why : "(no why)");
	}
}

Test(addr, split_host_names_are_253_characters_at_most)
{
	char name[300], host[SLC_ADDR_HOST_MAX + 1], small[8];
	uint16_t port;
	const char *why;

	memset(name, 'a', 253);
	strcpy(name + 253, ":1");
	cr_expect_eq(slc_addr_split(name, strlen(name), false, host, sizeof(host), &port, &why), 0);
	cr_expect_eq(strlen(host), 253u);
	cr_expect_eq(slc_addr_split(name, strlen(name), false, small, sizeof(small), &port, &why),
	             -ENOSPC);
	memset(name, 'a', 254);
	strcpy(name + 254, ":1");
	cr_expect_eq(slc_addr_split(name, strlen(name), false, host, sizeof(host), &port, &why),
	             -EINVAL);
	cr_expect(slc_addr_host_name_ok("a-b.c9", 6));
	cr_expect_not(slc_addr_host_name_ok("", 0));
	cr_expect_not(slc_addr_host_name_ok("a b", 3));
}

/* Parse, format, and parse the text again: the same address and port. */
Test(addr, format_round_trips_what_parse_accepts)
{
	static const char *const forms[] = {
	        "127.0.0.1:5140", "0.0.0.0:0",          "255.255.255.255:65535",
	        "[::1]:80",       "[2001:db8::1]:9140", "[::ffff:10.0.0.1]:514",
	        "[::]:0",
	};

	for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
		struct sockaddr_storage ss, again;
		socklen_t len, len2;
		char text[SLC_ADDR_STR_MAX];
		const char *why;

		cr_assert_eq(parse(forms[i], &ss, &len, &why), 0, "%s: %s", forms[i], why);
		cr_assert_eq(slc_addr_format((const struct sockaddr *)&ss, len, text, sizeof(text)),
		             0, "%s", forms[i]);
		cr_expect_str_eq(text, forms[i]);
		cr_assert_eq(parse(text, &again, &len2, &why), 0, "%s: %s", text, why);
		cr_expect_eq(len2, len);
		cr_expect_eq(memcmp(&ss, &again, len), 0, "%s", forms[i]);
	}
}

Test(addr, format_keeps_the_scope_of_a_link_local_address)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
	char text[SLC_ADDR_STR_MAX];

	inet_pton(AF_INET6, "fe80::1", &a.sin6_addr);
	a.sin6_scope_id = 1; /* the loopback interface's index, or a number where none */
	cr_assert_eq(slc_addr_format((const struct sockaddr *)&a, sizeof(a), text, sizeof(text)),
	             0);
	cr_expect_eq(strncmp(text, "[fe80::1%", 9), 0, "%s", text);
	cr_expect_eq(strcmp(text + strlen(text) - 4, "]:80"), 0, "%s", text);
}

/* The longest texts of a sockaddr fit SLC_ADDR_SA_STR_MAX, the room kept per connection. */
Test(addr, format_fits_the_per_connection_room)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(65535)};
	char text[SLC_ADDR_SA_STR_MAX];

	inet_pton(AF_INET6, "fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &a.sin6_addr);
	a.sin6_scope_id = 4294967295u; /* no such interface: the scope prints as a number */
	cr_assert_eq(slc_addr_format((const struct sockaddr *)&a, sizeof(a), text, sizeof(text)),
	             0);
	cr_expect_str_eq(text, "[fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
}

Test(addr, format_refuses_other_families_and_short_buffers)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5140)};
	char text[SLC_ADDR_STR_MAX];

	cr_expect_eq(slc_addr_format((const struct sockaddr *)&un, sizeof(un), text, sizeof(text)),
	             -EAFNOSUPPORT);
	cr_expect_str_eq(text, "?", "something to print anyway");
	cr_expect_eq(
	        slc_addr_format((const struct sockaddr *)&a, sizeof(a) - 1, text, sizeof(text)),
	        -EINVAL);
	cr_expect_eq(slc_addr_format((const struct sockaddr *)&a, sizeof(a), text, 9), -ENOSPC,
	             "\"0.0.0.0:5140\" needs 13 bytes");
	cr_expect_str_eq(text, "?");
	cr_expect_eq(slc_addr_format((const struct sockaddr *)&a, sizeof(a), text, 13), 0);
	cr_expect_str_eq(text, "0.0.0.0:5140");
}

Test(addr, join_brackets_ipv6_text)
{
	char text[SLC_ADDR_STR_MAX];

	cr_expect_eq(slc_addr_join("collector", 6000, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "collector:6000");
	cr_expect_eq(slc_addr_join("fd00::1", 6000, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "[fd00::1]:6000");
	cr_expect_eq(slc_addr_join("collector", 6000, text, 5), -ENOSPC);
}

Test(addr, resolve_numeric_addresses_without_a_name_server)
{
	struct addrinfo *ai = NULL;
	const char *why = NULL;
	char text[SLC_ADDR_STR_MAX];

	cr_assert_eq(slc_addr_resolve("127.0.0.1", 6000, SOCK_STREAM, true, &ai, &why), 0, "%s",
	             why);
	cr_assert_not_null(ai);
	cr_expect_eq(ai->ai_family, AF_INET);
	cr_expect_eq(ai->ai_socktype, SOCK_STREAM);
	cr_expect_eq(ai->ai_protocol, IPPROTO_TCP);
	cr_expect_eq(slc_addr_format(ai->ai_addr, ai->ai_addrlen, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "127.0.0.1:6000");
	freeaddrinfo(ai);

	/* a ':' means IPv6 text, even where names are allowed: no name server sees it */
	cr_assert_eq(slc_addr_resolve("::1", 514, SOCK_DGRAM, false, &ai, &why), 0, "%s", why);
	cr_expect_eq(ai->ai_family, AF_INET6);
	cr_expect_eq(ai->ai_protocol, IPPROTO_UDP);
	cr_expect_eq(slc_addr_format(ai->ai_addr, ai->ai_addrlen, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "[::1]:514");
	freeaddrinfo(ai);

	why = NULL;
	cr_expect_eq(slc_addr_resolve("localhost", 80, SOCK_STREAM, true, &ai, &why), -EINVAL,
	             "numeric only: a name is refused");
	cr_expect_not_null(why);
	cr_expect_null(ai);
	cr_expect_eq(slc_addr_resolve("fd00::zz", 80, SOCK_STREAM, false, &ai, &why), -EINVAL);
}
