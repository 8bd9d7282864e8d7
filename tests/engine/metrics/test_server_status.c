/* SPDX-License-Identifier: MIT */
/* test_server_status.c: GET /, /status and /status.json: the status callback's routes. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "expo_check.h"
#include "metrics/server.h"
#include "metrics/text.h"

struct page {
	_Atomic int fail; /* nonzero: the status callback returns it */
	_Atomic unsigned calls;
};

/* A page and a JSON document that carry text needing each escape. */
static int
status_fn(void *ctx, enum slc_metrics_status_format fmt, struct slc_metrics_text *t)
{
	struct page *p = ctx;
	static const char odd[] = "a\"b\\c<d>&'\n\x01\xff";
	int fail = atomic_load(&p->fail);

	atomic_fetch_add(&p->calls, 1);
	if (fail != 0)
		return fail;
	if (fmt == SLC_METRICS_STATUS_JSON) {
		slc_metrics_text_printf(t, "{\"n\":%d,\"s\":", 7);
		slc_metrics_text_json_str(t, odd, sizeof(odd) - 1);
		return slc_metrics_text_printf(t, "}");
	}
	slc_metrics_text_printf(t, "<p>");
	slc_metrics_text_html(t, odd);
	return slc_metrics_text_printf(t, "</p>");
}

static struct slc_metrics_server *
start(struct page *p, bool with_status)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct slc_metrics_server_cfg cfg = {
	        .addr = (const struct sockaddr *)&sa,
	        .addrlen = sizeof(sa),
	        .render = render_nothing,
	        .render_ctx = p,
	        .status = with_status ? status_fn : NULL,
	};
	struct slc_metrics_server *s;
	int err;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = slc_metrics_server_create(&cfg, &err);
	cr_assert_not_null(s, "%s", strerror(-err));
	return s;
}

static int
get(struct slc_metrics_server *s, const char *method, const char *path, char *out, size_t cap)
{
	return metrics_request(NULL, "127.0.0.1", slc_metrics_server_port(s), method, path, out,
	                       cap);
}

Test(metrics_status, page_and_json_with_their_escapes_and_headers)
{
	struct page p = {0};
	struct slc_metrics_server *s = start(&p, true);
	char out[4096];

	cr_assert_eq(get(s, "GET", "/status.json", out, sizeof(out)), 200, "%s", out);
	cr_expect(strstr(out, "Content-Type: application/json\r\n") != NULL, "%s", out);
	cr_expect(strstr(out, "Cache-Control: no-store\r\n") != NULL, "%s", out);
	cr_expect(
	        strstr(out, "\r\n\r\n{\"n\":7,\"s\":\"a\\\"b\\\\c<d>&'\\u000a\\u0001\\u00ff\"}") !=
	                NULL,
	        "%s", out);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(get(s, "GET", i == 0 ? "/" : "/status", out, sizeof(out)), 200, "%s",
		             out);
		cr_expect(strstr(out, "Content-Type: text/html; charset=utf-8\r\n") != NULL, "%s",
		          out);
		/* Nothing but this endpoint may be fetched, and no script from elsewhere. */
		cr_expect(strstr(out, "Content-Security-Policy: default-src 'none'; ") != NULL,
		          "%s", out);
		cr_expect(strstr(out, "connect-src 'self'") != NULL, "%s", out);
		cr_expect(strstr(out, "<p>a&quot;b\\c&lt;d&gt;&amp;&#39;\n\x01\xff</p>") != NULL,
		          "%s", out);
	}
	cr_expect_eq(get(s, "HEAD", "/status", out, sizeof(out)), 200, "%s", out);
	cr_expect(strstr(out, "<p>") == NULL, "HEAD has no body: %s", out);
	cr_expect_eq(get(s, "POST", "/status.json", out, sizeof(out)), 405, "%s", out);
	cr_expect(strstr(out, "Allow: GET, HEAD\r\n") != NULL, "%s", out);
	cr_expect_eq(get(s, "GET", "/status.jsonx", out, sizeof(out)), 404, "%s", out);
	slc_metrics_server_stop(s);
}

Test(metrics_status, without_a_callback_the_routes_are_not_found)
{
	struct page p = {0};
	struct slc_metrics_server *s = start(&p, false);
	char out[4096];

	cr_expect_eq(get(s, "GET", "/", out, sizeof(out)), 404, "%s", out);
	cr_expect_eq(get(s, "GET", "/status", out, sizeof(out)), 404, "%s", out);
	cr_expect_eq(get(s, "GET", "/status.json", out, sizeof(out)), 404, "%s", out);
	/* And the metrics do not name a counter that cannot move. */
	cr_assert_eq(get(s, "GET", "/metrics", out, sizeof(out)), 200, "%s", out);
	cr_expect(strstr(out, "sluice_metrics_status_errors_total") == NULL, "%s", out);
	slc_metrics_server_stop(s);
}

Test(metrics_status, a_failed_render_is_a_500_counted_and_the_next_one_serves)
{
	struct page p = {.fail = -ENOMEM};
	struct slc_metrics_server *s = start(&p, true);
	char out[8192];

	cr_expect_eq(get(s, "GET", "/status.json", out, sizeof(out)), 500, "%s", out);
	cr_expect(strstr(out, "status render failed\n") != NULL, "%s", out);
	cr_expect_eq(get(s, "GET", "/status", out, sizeof(out)), 500, "%s", out);
	cr_assert_eq(get(s, "GET", "/metrics", out, sizeof(out)), 200, "%s", out);
	cr_expect(strstr(out, "\nsluice_metrics_status_errors_total 2\n") != NULL, "%s", out);
	expect_valid(strstr(out, "\r\n\r\n") + 4);
	atomic_store(&p.fail, 0);
	cr_expect_eq(get(s, "GET", "/status.json", out, sizeof(out)), 200, "%s", out);
	cr_expect_eq(atomic_load(&p.calls), 3u);
	slc_metrics_server_stop(s);
}
