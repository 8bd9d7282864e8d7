/* SPDX-License-Identifier: MIT */
/* test_otlp_http.c: sluiced's http:// listener (OTLP/HTTP logs) answered with raw HTTP. */
/*
 * One test per status the listener answers, each over a plain socket: the status line, the
 * body the OTLP specification asks for, whether the connection stays open, and the
 * counter (sluice_http_responses_total by status, and sluice_received_messages_total for the records
 * that went in). The file sink's records are read back where records are delivered. The
 * daemon must exit 0 after SIGTERM (LeakSanitizer in the ASan build).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zlib.h>

#include "daemon_proc.h"

#define RESP_MAX 4096

/* JSON bodies are plain text: readable in a test, and the decoder is the same path. */
#define REC(s) "{\"body\":{\"stringValue\":\"" s "\"}}"
#define REQ(svc, recs)                                                                           \
	"{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":" \
	"{\"stringValue\":\"" svc "\"}}]},\"scopeLogs\":[{\"logRecords\":[" recs "]}]}]}"

/* Starts sluiced on an http:// listener with extra flags (NULL-terminated, or NULL); d->dir
 * is a fresh folder, made first (a file sink may name it). */
static void
start(struct dproc *d, const char *const *extra)
{
	const char *args[40] = {
	        "--listen", "http://127.0.0.1:0", "--metrics", "127.0.0.1:0", "--pools",
	        "1",        "--workers",          "1"};
	size_t n = 8;

	while (extra != NULL && *extra != NULL)
		args[n++] = *extra++;
	args[n] = NULL;
	dproc_start(d, args);
}

/* Reads one response (head, then Content-Length bytes) into out; its status, or -1 when
 * the connection ended first. */
static int
read_response(int fd, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (;;) {
		char *end = strstr(out, "\r\n\r\n");
		ssize_t got;

		if (end != NULL) {
			const char *cl = strstr(out, "Content-Length: ");
			size_t head = (size_t)(end + 4 - out);
			size_t body = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
			int status = 0;

			if (n >= head + body) {
				sscanf(out, "HTTP/1.1 %d", &status);
				return status;
			}
		}
		if (n + 1 >= cap)
			return -1;
		got = recv(fd, out + n, cap - 1 - n, 0);
		if (got <= 0)
			return -1;
		n += (size_t)got;
		out[n] = '\0';
	}
}

/* Sends req whole on fd and reads the response. */
static int
exchange(int fd, const char *req, size_t len, char *out)
{
	cr_assert_eq(dproc_send_all(fd, req, len), 0);
	return read_response(fd, out, RESP_MAX);
}

/* A POST /v1/logs of body with content type ctype, over fd. */
static int
post(int fd, const char *ctype, const char *body, char *out)
{
	char req[8192];
	int n = snprintf(req, sizeof(req),
	                 "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
	                 "Content-Length: %zu\r\n\r\n%s",
	                 ctype, strlen(body), body);

	return exchange(fd, req, (size_t)n, out);
}

/* A POST /v1/logs of the JSON body, whole, into req[0..cap); its length. */
static int
json_post(char *req, size_t cap, const char *body)
{
	return snprintf(req, cap,
	                "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	                "Content-Length: %zu\r\n\r\n%s",
	                strlen(body), body);
}

static uint64_t
responses(struct dproc *d, const char *status)
{
	char lab[64];
	const char *f[] = {lab, NULL};

	snprintf(lab, sizeof(lab), "reason=\"%s\"", status);
	return dproc_metric_now(d, "sluice_http_responses_total", f);
}

static void
stop_ok(struct dproc *d)
{
	cr_expect_eq(dproc_stop(d), 0, "sluiced exits 0:\n%s", d->log);
	dproc_remove_dir(d->dir);
}

/* Each record's body, in order, appended to a string (records end in '|'). */
static void
collect(void *ctx, uint32_t worker, const uint8_t *p, uint32_t len)
{
	char *s = ctx;

	(void)worker;
	strncat(s, (const char *)p, len);
	strcat(s, "|");
}

Test(otlp_http, ok_delivers_every_record_and_keeps_the_connection, .timeout = 60)
{
	struct dproc d;
	char resp[RESP_MAX], sink[256], got[1024] = "";
	const char *extra[] = {"--sink", sink, "--key", "otlp:service.name", NULL};
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	start(&d, extra);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	/* A record without a body is an empty message, kept in its place. */
	cr_assert_eq(post(fd, "application/json", REQ("a", REC("one") ",{}," REC("two")), resp),
	             200, "%s", resp);
	cr_expect(strstr(resp, "\r\n\r\n{}") != NULL, "a full success: {}\n%s", resp);
	/* Keep-alive: a second request on the same connection. */
	cr_assert_eq(post(fd, "application/json; charset=utf-8", REQ("b", REC("three")), resp), 200,
	             "%s", resp);
	close(fd);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 4, 10000), 4);
	cr_expect_eq(responses(&d, "200"), 2);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	cr_expect_eq(dproc_for_each_record(d.dir, collect, got), 4);
	cr_expect_str_eq(got, "one||two|three|");
	dproc_remove_dir(d.dir);
}

/* A refused request: its status, the connection closed after the answer, the counter. */
static void
refused(const char *req, int want, const char *status, const char *const *extra)
{
	struct dproc d;
	char resp[RESP_MAX], line[32];
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, extra);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_expect_eq(exchange(fd, req, strlen(req), resp), want, "%s", resp);
	snprintf(line, sizeof(line), "http %d", want);
	cr_expect(dproc_wait_closed(fd, 10000), "closed after a %d", want);
	close(fd);
	cr_expect_eq(responses(&d, status), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", NULL), 0);
	cr_expect(dproc_log_wait(&d, 0, line, 5000), "a log line names it:\n%s", d.log);
	stop_ok(&d);
}

Test(otlp_http, not_found_404, .timeout = 60)
{
	refused("POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\n"
	        "Content-Length: 2\r\n\r\n{}",
	        404, "404", NULL);
}

Test(otlp_http, wrong_method_405, .timeout = 60)
{
	refused("GET /v1/logs HTTP/1.1\r\nHost: x\r\n\r\n", 405, "405", NULL);
}

Test(otlp_http, no_length_411, .timeout = 60)
{
	refused("POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n\r\n", 411, "411",
	        NULL);
}

Test(otlp_http, too_large_413, .timeout = 60)
{
	const char *extra[] = {"--http-max-body", "1k", NULL};

	refused("POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	        "Content-Length: 1025\r\n\r\n{",
	        413, "413", extra);
}

Test(otlp_http, unsupported_type_415, .timeout = 60)
{
	refused("POST /v1/logs HTTP/1.1\r\nContent-Type: text/plain\r\n"
	        "Content-Length: 2\r\n\r\n{}",
	        415, "415", NULL);
}

Test(otlp_http, malformed_head_400, .timeout = 60)
{
	refused("POST /v1/logs HTTP/1.1\r\nContent-Type application/json\r\n\r\n", 400, "400",
	        NULL);
}

Test(otlp_http, head_too_large_431, .timeout = 60)
{
	static char req[12000];
	int n = snprintf(req, sizeof(req), "POST /v1/logs HTTP/1.1\r\nX-Big: ");

	memset(req + n, 'a', 9000);
	strcpy(req + n + 9000, "\r\n\r\n");
	refused(req, 431, "431", NULL);
}

Test(otlp_http, other_transfer_coding_501, .timeout = 60)
{
	refused("POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	        "Transfer-Encoding: gzip\r\n\r\n",
	        501, "501", NULL);
}

Test(otlp_http, other_http_version_505, .timeout = 60)
{
	refused("POST /v1/logs HTTP/2.0\r\nContent-Type: application/json\r\n"
	        "Content-Length: 2\r\n\r\n{}",
	        505, "505", NULL);
}

Test(otlp_http, other_expectation_417, .timeout = 60)
{
	refused("POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\nExpect: magic\r\n"
	        "Content-Length: 2\r\n\r\n{}",
	        417, "417", NULL);
}

Test(otlp_http, chunked_body_over_the_limit_413, .timeout = 60)
{
	const char *extra[] = {"--http-max-body", "1k", NULL};

	refused("POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	        "Transfer-Encoding: chunked\r\n\r\n401\r\n{",
	        413, "413", extra);
}

Test(otlp_http, bad_chunk_size_400, .timeout = 60)
{
	refused("POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	        "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
	        400, "400", NULL);
}

/* Trailer fields are bounded together, as a head is: 910 short ones and the start of one
 * more (8193 bytes) are refused with 431 at the byte past SLC_HTTP_HEAD_MAX. */
Test(otlp_http, chunked_trailers_over_8k_431, .timeout = 60)
{
	static char req[12000];
	int n = snprintf(req, sizeof(req),
	                 "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	                 "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n");

	for (int i = 0; i < 910; i++)
		n += snprintf(req + n, sizeof(req) - (size_t)n, "T: 1234\r\n");
	strcpy(req + n, "T: ");
	refused(req, 431, "431", NULL);
}

/* --reasm-memory with no room beside its reserve for a request's head: every request is
 * refused with 503 and Retry-After (and its connection closed), none accepted and lost. */
Test(otlp_http, no_memory_for_a_request_503, .timeout = 60)
{
	const char *extra[] = {"--reasm-memory", "70k", NULL};

	refused("POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	        "Content-Length: 2\r\n\r\n{}",
	        503, "503", extra);
}

/* body gzipped (RFC 1952) into out; its length. */
static size_t
gzip(const char *body, uint8_t *out, size_t cap)
{
	z_stream z = {0};

	cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)body;
	z.avail_in = (uInt)strlen(body);
	z.next_out = out;
	z.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return cap - z.avail_out;
}

/* gzip bodies inflate; a body that is not gzip is 400; Expect: 100-continue is answered
 * before the body; Connection: close closes after the answer. */
Test(otlp_http, gzip_continue_and_close, .timeout = 60)
{
	struct dproc d;
	char req[4096], resp[RESP_MAX];
	uint8_t gz[2048];
	size_t zlen = gzip(REQ("z", REC("zipped")), gz, sizeof(gz));
	int fd, n;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, NULL);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	n = snprintf(req, sizeof(req),
	             "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	             "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
	             zlen);
	memcpy(req + n, gz, zlen);
	cr_expect_eq(exchange(fd, req, (size_t)n + zlen, resp), 200, "%s", resp);
	n = snprintf(req, sizeof(req),
	             "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	             "Content-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}");
	cr_expect_eq(exchange(fd, req, (size_t)n, resp), 400, "not gzip:\n%s", resp);
	n = snprintf(req, sizeof(req),
	             "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	             "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
	             strlen(REQ("c", REC("continued"))));
	cr_expect_eq(exchange(fd, req, (size_t)n, resp), 100, "%s", resp);
	n = snprintf(req, sizeof(req), "%s", REQ("c", REC("continued")));
	cr_expect_eq(exchange(fd, req, (size_t)n, resp), 200, "%s", resp);
	cr_expect_eq(post(fd, "application/json\r\nConnection: close", REQ("x", REC("last")), resp),
	             200, "%s", resp);
	cr_expect(strstr(resp, "Connection: close\r\n") != NULL, "%s", resp);
	cr_expect(dproc_wait_closed(fd, 10000), "closed after Connection: close");
	close(fd);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 3, 10000), 3);
	cr_expect_eq(responses(&d, "400"), 1);
	stop_ok(&d);
}

/* A peer that goes away inside a request: counted as closed inside a frame, with data. */
Test(otlp_http, eof_inside_a_request_is_counted, .timeout = 60)
{
	static const char req[] = "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	                          "Content-Length: 100\r\n\r\n{\"resourceLogs\":";
	const char *f[] = {"reason=\"eof_midframe\"", NULL};
	struct dproc d;
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, NULL);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, req, sizeof(req) - 1), 0);
	cr_expect_eq(
	        dproc_metric_wait(&d, "sluice_received_bytes_total", NULL, sizeof(req) - 1, 10000),
	        sizeof(req) - 1);
	close(fd);
	cr_expect_eq(
	        dproc_metric_wait(&d, "sluice_connections_closed_with_data_total", f, 1, 10000), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", NULL), 0);
	stop_ok(&d);
}

/* A body that does not decode: 400 with the decoder's reason, nothing delivered, and the
 * connection goes on (the body was read whole). */
Test(otlp_http, undecodable_body_400_keeps_the_connection, .timeout = 60)
{
	struct dproc d;
	char resp[RESP_MAX];
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, NULL);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(post(fd, "application/json", "{\"resourceLogs\":[}", resp), 400, "%s", resp);
	cr_expect(strstr(resp, "\"code\":3") != NULL, "INVALID_ARGUMENT:\n%s", resp);
	cr_expect_eq(post(fd, "application/json", REQ("a", REC("after")), resp), 200, "%s", resp);
	close(fd);
	cr_expect_eq(responses(&d, "400"), 1);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 1, 10000), 1);
	stop_ok(&d);
}

/* A chunked body, then gzip: both decoded (curl-like clients send either). */
Test(otlp_http, chunked_body_200, .timeout = 60)
{
	static const char body[] = REQ("a", REC("c1") "," REC("c2"));
	struct dproc d;
	char req[2048], resp[RESP_MAX];
	size_t half = sizeof(body) / 2;
	int fd, n;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, NULL);
	n = snprintf(req, sizeof(req),
	             "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	             "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
	             half, (int)half, body, strlen(body) - half, body + half);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_expect_eq(exchange(fd, req, (size_t)n, resp), 200, "%s", resp);
	close(fd);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 2, 10000), 2);
	stop_ok(&d);
}

/* The most bytes recs_request writes for n records. */
#define RECS_REQ_LEN(n) ((size_t)(n)*40 + 256)

/* A POST /v1/logs of n JSON records "r0".."r{n-1}" in req (cap at least RECS_REQ_LEN(n));
 * its length. */
static size_t
recs_request(char *req, size_t cap, size_t n)
{
	static char body[RECS_REQ_LEN(1000)];
	size_t len;

	cr_assert_leq(RECS_REQ_LEN(n), sizeof(body));
	len = (size_t)snprintf(body, sizeof(body),
	                       "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "%s" REC("r%zu"),
		                        i ? "," : "", i);
	snprintf(body + len, sizeof(body) - len, "]}]}]}");
	return (size_t)json_post(req, cap, body);
}

/*
 * Backpressure: one worker whose every message costs 100 ms, behind a ring of 64 slots.
 * A body of 100 records fills the ring: its connection pauses with 36 records to go, and
 * its response waits. The ring stays full while the worker works through its batch (its
 * slots are freed only once the whole batch is handled), so a request on another
 * connection finds no room at all: 503 with Retry-After, nothing of it taken, counted.
 * Then the first request's last records go in and it is answered 200, a full success:
 * nothing dropped, nothing delivered twice.
 */
Test(otlp_http, full_pools_503_and_a_paused_request_completes, .timeout = 90)
{
	const char *extra[] = {"--ring-size", "64", "--test-handler-cost-ns", "100000000", NULL};
	struct dproc d;
	static char req[RECS_REQ_LEN(100)];
	char resp[RESP_MAX];
	size_t len = recs_request(req, sizeof(req), 100);
	int a, b;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, extra);
	a = dproc_connect(d.port[0]);
	b = dproc_connect(d.port[0]);
	cr_assert(a >= 0 && b >= 0);
	cr_assert_eq(dproc_send_all(a, req, len), 0);
	/* The ring is full once 64 of them are in; the worker is on its first. */
	cr_assert_eq(dproc_metric_wait(&d, "sluice_received_messages_total", NULL, 64, 10000), 64);
	cr_assert_eq(post(b, "application/json", REQ("b", REC("late")), resp), 503, "%s", resp);
	cr_expect(strstr(resp, "Retry-After: 1\r\n") != NULL, "%s", resp);
	cr_expect(strstr(resp, "\"code\":14") != NULL, "UNAVAILABLE:\n%s", resp);
	cr_expect_eq(responses(&d, "200"), 0, "the first request is not answered yet");
	cr_assert_eq(read_response(a, resp, sizeof(resp)), 200, "%s", resp);
	cr_expect(strstr(resp, "\r\n\r\n{}") != NULL, "a full success:\n%s", resp);
	close(a);
	close(b);
	cr_expect_eq(responses(&d, "503"), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_otlp_records_rejected_total", NULL), 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", NULL), 100);
	stop_ok(&d);
}

/* An http:// tenant limited to 200 records a second (burst 50), class bronze, posts 500
 * records at once: the request pauses for tokens (not a 503), every record arrives and is
 * answered 200, the tenant's and the class's counters move, and at no scrape has it been
 * given more than its bucket allows (an upper bound only: a busy machine delivers less). */
Test(otlp_http, a_rate_limited_tenant_pauses_and_completes, .timeout = 90)
{
	const char *extra[] = {"--tenant", "web:rate=200,burst=50,class=bronze", NULL};
	const char *const web[] = {"tenant=\"web\"", "class=\"bronze\"", NULL};
	const char *const bronze[] = {"class=\"bronze\"", NULL};
	enum { N = 500, RATE = 200, BURST = 50 };
	static char req[RECS_REQ_LEN(N)];
	char resp[RESP_MAX];
	struct dproc d;
	size_t len = recs_request(req, sizeof(req), N);
	uint64_t t0, got;
	int fd;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, extra);
	t0 = slc_mono_ms();
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dproc_send_all(fd, req, len), 0);
	got = dproc_metric_wait_bounded(&d, "sluice_tenant_received_messages_total", web, N, BURST,
	                                RATE, t0, 60000);
	cr_expect_eq(got, N, "every record arrives");
	cr_assert_eq(read_response(fd, resp, sizeof(resp)), 200, "%s", resp);
	/* Keep-alive after the pause: the next request on the same connection. */
	cr_assert_eq(post(fd, "application/json", REQ("b", REC("late")), resp), 200, "%s", resp);
	close(fd);
	cr_expect_eq(responses(&d, "200"), 2);
	cr_expect_eq(responses(&d, "503"), 0, "held back for tokens is not refused");
	cr_expect_eq(dproc_metric_now(&d, "sluice_tenant_received_messages_total", web), N + 1);
	cr_expect_gt(dproc_metric_now(&d, "sluice_tenant_rate_limited_pauses_total", web), 0);
	cr_expect_eq(dproc_metric_now(&d, "sluice_qos_messages_total", bronze), N + 1);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", NULL), N + 1);
	stop_ok(&d);
}

/*
 * Escaped JSON bodies across a pause: the pools take part of a burst, and the records
 * walked but not taken go in later. Each body must reach the file sink unescaped once,
 * byte for byte (a second walk over bodies unescaped in place read a\"b as a"bb and
 * C:\\new as C:<LF>ew).
 */
Test(otlp_http, paused_json_request_unescapes_each_body_once, .timeout = 90)
{
	static const char *const esc[] = {"a\\\"b", "C:\\\\new", "q\\u0022q", "t\\tu\\n"};
	static const char *const raw[] = {"a\"b", "C:\\new", "q\"q", "t\tu\n"};
	struct dproc d;
	char body[8192], req[9000], resp[RESP_MAX], sink[256], got[4096] = "", want[4096] = "";
	const char *extra[] = {"--sink",   sink, "--ring-size", "64", "--test-handler-cost-ns",
	                       "10000000", NULL};
	size_t n, w = 0;
	int a, len;

	n = (size_t)snprintf(body, sizeof(body),
	                     "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[");
	for (int i = 0; i < 100; i++) {
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s" REC("%s%d"), i ? "," : "",
		                      esc[i % 4], i);
		w += (size_t)snprintf(want + w, sizeof(want) - w, "%s%d|", raw[i % 4], i);
	}
	snprintf(body + n, sizeof(body) - n, "]}]}]}");
	len = json_post(req, sizeof(req), body);
	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	snprintf(sink, sizeof(sink), "file:%s", d.dir);
	start(&d, extra);
	a = dproc_connect(d.port[0]);
	cr_assert_geq(a, 0);
	cr_assert_eq(dproc_send_all(a, req, (size_t)len), 0);
	cr_assert_eq(read_response(a, resp, sizeof(resp)), 200, "%s", resp);
	close(a);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", NULL), 100);
	cr_expect_eq(dproc_stop(&d), 0, "%s", d.log);
	cr_expect_eq(dproc_for_each_record(d.dir, collect, got), 100);
	cr_expect_str_eq(got, want);
	dproc_remove_dir(d.dir);
}

/* A head dribbled a byte per send (TCP_NODELAY: most arrive as receives of their own) is
 * measured from where the last look stopped, and still parses: 200, the record in. */
Test(otlp_http, head_dribbled_a_byte_at_a_time_200, .timeout = 60)
{
	static const char body[] = REQ("d", REC("dribbled"));
	struct dproc d;
	char head[256], resp[RESP_MAX];
	int fd, one = 1, n;

	n = snprintf(head, sizeof(head),
	             "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	             "Content-Length: %zu\r\n\r\n",
	             strlen(body));
	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, NULL);
	fd = dproc_connect(d.port[0]);
	cr_assert_geq(fd, 0);
	cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	for (int i = 0; i < n; i++)
		cr_assert_eq(dproc_send_all(fd, head + i, 1), 0);
	cr_assert_eq(exchange(fd, body, strlen(body), resp), 200, "%s", resp);
	close(fd);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", NULL), 1);
	stop_ok(&d);
}

/*
 * gzip requests whose records are still held (a worker that takes a second a record) each
 * hold a chunk of their inflated size only: three of them fit in a --reasm-memory that
 * has room for one --http-max-body beside the others' bodies, and each is answered 200.
 */
Test(otlp_http, concurrent_gzip_requests_fit_a_small_reasm_memory, .timeout = 60)
{
	const char *extra[] = {"--reasm-memory",
	                       "400k",
	                       "--max-frame",
	                       "1k",
	                       "--http-max-body",
	                       "256k",
	                       "--test-handler-cost-ns",
	                       "1000000000",
	                       NULL};
	struct dproc d;
	char req[4096], resp[RESP_MAX];
	uint8_t gz[2048];
	size_t zlen = gzip(REQ("z", REC("zipped")), gz, sizeof(gz));
	int fd[3], n;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, extra);
	n = snprintf(req, sizeof(req),
	             "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	             "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
	             zlen);
	memcpy(req + n, gz, zlen);
	for (int i = 0; i < 3; i++) {
		fd[i] = dproc_connect(d.port[0]);
		cr_assert_geq(fd[i], 0);
		cr_expect_eq(exchange(fd[i], req, (size_t)n + zlen, resp), 200, "request %d:\n%s",
		             i, resp);
	}
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	cr_expect_eq(responses(&d, "503"), 0);
	cr_expect_eq(dproc_metric_now(&d, "sluice_received_messages_total", NULL), 3);
	stop_ok(&d);
}

/*
 * A client that sends a head with Content-Length: 4 MiB and then nothing holds a first
 * piece of its body's chunk (it grows as the bytes come), not 4 MiB. When a request then
 * finds no memory (503), the idle one is evicted after --evict-idle (counted), and a
 * normal request gets 200.
 */
Test(otlp_http, idle_request_is_evicted_under_memory_pressure, .timeout = 60)
{
	const char *extra[] = {"--reasm-memory", "70k",   "--max-frame", "1k",
	                       "--evict-idle",   "100ms", NULL};
	const char *evicted[] = {"reason=\"evicted\"", NULL};
	static const char idle[] = "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"
	                           "Content-Length: 4194304\r\n\r\n{";
	struct dproc d;
	char resp[RESP_MAX];
	int a, b, c;

	memset(&d, 0, sizeof(d));
	dproc_make_dir(&d);
	start(&d, extra);
	a = dproc_connect(d.port[0]);
	cr_assert_geq(a, 0);
	cr_assert_eq(dproc_send_all(a, idle, strlen(idle)), 0);
	/* Its body's first 64 KiB are held, not 4 MiB: no room is left for another head. */
	cr_assert_geq(dproc_metric_wait(&d, "sluice_reactor_reassembly_bytes", NULL, 65536, 10000),
	              65536);
	b = dproc_connect(d.port[0]);
	cr_assert_geq(b, 0);
	cr_expect_eq(post(b, "application/json", REQ("b", REC("refused")), resp), 503, "%s", resp);
	close(b);
	cr_expect_eq(dproc_metric_wait(&d, "sluice_connections_closed_total", evicted, 1, 10000),
	             1);
	cr_expect(dproc_wait_closed(a, 10000), "the idle request's connection is closed");
	close(a);
	c = dproc_connect(d.port[0]);
	cr_assert_geq(c, 0);
	cr_expect_eq(post(c, "application/json", REQ("c", REC("after")), resp), 200, "%s", resp);
	close(c);
	cr_expect(dproc_log_wait(&d, 0, "inside a request", 5000), "a log line says why:\n%s",
	          d.log);
	stop_ok(&d);
}
