/* SPDX-License-Identifier: MIT */
/* test_server_reload.c: POST /-/reload: its answers, and only from loopback. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "expo_check.h"
#include "metrics/server.h"

/* The action's answer, and how often it ran. */
struct action {
	int rc;
	_Atomic unsigned calls;
};

static int
reload_action(void *ctx, char *msg, size_t cap)
{
	struct action *a = ctx;

	atomic_fetch_add(&a->calls, 1);
	snprintf(msg, cap, "answer %d\n", a->rc);
	return a->rc;
}

static struct slc_metrics_server *
start(const char *ip, struct action *a, bool with_action)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct slc_metrics_server_cfg cfg = {
	        .addr = (const struct sockaddr *)&sa,
	        .addrlen = sizeof(sa),
	        .render = render_nothing,
	        .render_ctx = a,
	        .reload = with_action ? reload_action : NULL,
	};
	struct slc_metrics_server *s;
	int err;

	cr_assert_eq(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	s = slc_metrics_server_create(&cfg, &err);
	cr_assert_not_null(s, "%s", strerror(-err));
	return s;
}

Test(metrics_reload, answers_what_the_action_says)
{
	struct action a = {0};
	struct slc_metrics_server *s = start("127.0.0.1", &a, true);
	uint16_t port = slc_metrics_server_port(s);
	char out[2048];

	cr_expect_eq(
	        metrics_request(NULL, "127.0.0.1", port, "POST", "/-/reload", out, sizeof(out)),
	        200, "%s", out);
	cr_expect(strstr(out, "\r\n\r\nanswer 0\n") != NULL, "%s", out);
	a.rc = -EINVAL;
	cr_expect_eq(
	        metrics_request(NULL, "127.0.0.1", port, "POST", "/-/reload", out, sizeof(out)),
	        400, "%s", out);
	cr_expect(strstr(out, "answer -22") != NULL, "%s", out);
	a.rc = -ENOMEM;
	cr_expect_eq(
	        metrics_request(NULL, "127.0.0.1", port, "POST", "/-/reload", out, sizeof(out)),
	        500, "%s", out);
	cr_expect_eq(metrics_request(NULL, "127.0.0.1", port, "GET", "/-/reload", out, sizeof(out)),
	             405, "%s", out);
	cr_expect(strstr(out, "Allow: POST\r\n") != NULL, "%s", out);
	cr_expect_eq(atomic_load(&a.calls), 3u, "a GET runs nothing");
	slc_metrics_server_stop(s);
}

Test(metrics_reload, without_an_action_it_is_not_found)
{
	struct action a = {0};
	struct slc_metrics_server *s = start("127.0.0.1", &a, false);
	char out[2048];

	cr_expect_eq(metrics_request(NULL, "127.0.0.1", slc_metrics_server_port(s), "POST",
	                             "/-/reload", out, sizeof(out)),
	             404, "%s", out);
	slc_metrics_server_stop(s);
}

Test(metrics_reload, loopback_addresses)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	static const struct {
		const char *ip;
		bool loopback;
	} cases[] = {
	        {"127.0.0.1", true},        {"127.255.0.9", true},      {"10.0.0.1", false},
	        {"128.0.0.1", false},       {"0.0.0.0", false},         {"::1", true},
	        {"::ffff:127.0.0.2", true}, {"::ffff:10.1.2.3", false}, {"::", false},
	        {"fe80::1", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sockaddr *sa;

		if (inet_pton(AF_INET, cases[i].ip, &in.sin_addr) == 1) {
			sa = (const struct sockaddr *)&in;
		} else {
			cr_assert_eq(inet_pton(AF_INET6, cases[i].ip, &in6.sin6_addr), 1);
			sa = (const struct sockaddr *)&in6;
		}
		cr_expect_eq(slc_metrics_addr_is_loopback(sa), cases[i].loopback, "%s",
		             cases[i].ip);
	}
	cr_expect_not(slc_metrics_addr_is_loopback(NULL));
}

/* An IPv4 address of this machine outside 127/8, or false. */
static bool
non_loopback_ipv4(char *out, size_t cap)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (getifaddrs(&ifs) != 0)
		return false;
	for (i = ifs; i != NULL && !found; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    slc_metrics_addr_is_loopback(i->ifa_addr))
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out,
		          (socklen_t)cap);
		found = true;
	}
	freeifaddrs(ifs);
	return found;
}

Test(metrics_reload, from_outside_loopback_it_is_forbidden_and_counted)
{
	struct action a = {0};
	struct slc_metrics_server *s;
	char ip[INET_ADDRSTRLEN], out[4096];

	if (!non_loopback_ipv4(ip, sizeof(ip)))
		cr_skip_test("this machine has no IPv4 address outside loopback to send from");
	s = start("0.0.0.0", &a, true);
	cr_expect_eq(metrics_request(ip, ip, slc_metrics_server_port(s), "POST", "/-/reload", out,
	                             sizeof(out)),
	             403, "%s", out);
	cr_expect_eq(atomic_load(&a.calls), 0u);
	cr_expect_eq(metrics_request(NULL, "127.0.0.1", slc_metrics_server_port(s), "GET",
	                             "/metrics", out, sizeof(out)),
	             200);
	cr_expect(strstr(out, "\nsluice_metrics_forbidden_total 1\n") != NULL, "%s", out);
	/* The same server from loopback still answers. */
	cr_expect_eq(metrics_request(NULL, "127.0.0.1", slc_metrics_server_port(s), "POST",
	                             "/-/reload", out, sizeof(out)),
	             200, "%s", out);
	cr_expect_eq(atomic_load(&a.calls), 1u);
	slc_metrics_server_stop(s);
}
