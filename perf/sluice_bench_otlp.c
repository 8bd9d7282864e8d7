/* SPDX-License-Identifier: MIT */
/* sluice_bench_otlp.c: sluice-bench's OTLP/HTTP sender: POST /v1/logs protobuf batches. */
/*
 * --protocol otlp: each connection is an HTTP/1.1 keep-alive connection to an http://
 * listener; a thread writes one request of --batch records on each of its connections,
 * then reads each one's response (so its connections have a request in flight together),
 * and goes round again. A record's body is the message a --framing lines run sends (its
 * stamp, --size bytes, no LF), so --verify and --latency-stamps read them as they read
 * lines, and a lines run of the same --size sends the same records. The request is an
 * ExportLogsServiceRequest of one ResourceLogs (service.name "sluice-bench") holding one
 * ScopeLogs of the records, each with time_unix_nano and a string body. A 503 (full
 * pools) sends the same request again after 1 ms; a 200 with partial_success, or another
 * status, ends the run with an error (records were lost, or the request was wrong).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_net.h"
#include "sluice_bench.h"

#define OTLP_RESP_MAX 4096
#define OTLP_SVC      "sluice-bench"

static uint32_t
vlen(uint64_t v)
{
	uint32_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static char *
put_varint(char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (char)v;
	return p;
}

/* A length-delimited field's tag and length. */
static char *
put_ld(char *p, uint32_t field, uint64_t len)
{
	*p++ = (char)(field << 3 | 2);
	return put_varint(p, len);
}

/* The sizes of one request of n records of size bytes each: *rec the LogRecord's, *sl the
 * ScopeLogs', *rl the ResourceLogs', *res the Resource's; returns the body's. */
static uint64_t
body_len(uint32_t size, uint32_t n, uint64_t *rec, uint64_t *sl, uint64_t *rl, uint64_t *res)
{
	uint64_t any = 1 + vlen(size) + size;
	uint64_t kv_val = 1 + vlen(sizeof(OTLP_SVC) - 1) + sizeof(OTLP_SVC) - 1;
	uint64_t kv = 1 + 1 + sizeof("service.name") - 1 + 1 + vlen(kv_val) + kv_val;

	*rec = 1 + 8 + 1 + vlen(any) + any; /* time_unix_nano (fixed64), body */
	*sl = (uint64_t)n * (1 + vlen(*rec) + *rec);
	*res = 1 + vlen(kv) + kv;
	*rl = 1 + vlen(*res) + *res + 1 + vlen(*sl) + *sl;
	return 1 + vlen(*rl) + *rl;
}

size_t
sb_otlp_req_cap(const struct sb_run *r)
{
	uint64_t rec, sl, rl, res;

	return (size_t)body_len(r->wire, r->batch, &rec, &sl, &rl, &res) + 256;
}

/* Formats the connection's next request of n records into c->buf (c->len bytes). */
static int
otlp_fill(struct sb_thread *t, struct sb_conn *c, uint32_t n, uint64_t now)
{
	const struct sb_run *r = t->r;
	uint32_t size = r->wire;
	uint64_t rec, sl, rl, res, body = body_len(size, n, &rec, &sl, &rl, &res);
	uint64_t kv_val = 1 + vlen(sizeof(OTLP_SVC) - 1) + sizeof(OTLP_SVC) - 1;
	uint64_t kv = 1 + 1 + sizeof("service.name") - 1 + 1 + vlen(kv_val) + kv_val;
	struct slc_stamp_ns now_text;
	char *p = c->buf;

	p += sprintf(p,
	             "POST /v1/logs HTTP/1.1\r\nHost: sluice\r\nContent-Type: "
	             "application/x-protobuf\r\nContent-Length: %" PRIu64 "\r\n\r\n",
	             body);
	p = put_ld(p, 1, rl);  /* resource_logs */
	p = put_ld(p, 1, res); /* resource */
	p = put_ld(p, 1, kv);  /* attributes: KeyValue */
	p = put_ld(p, 1, sizeof("service.name") - 1);
	memcpy(p, "service.name", sizeof("service.name") - 1);
	p += sizeof("service.name") - 1;
	p = put_ld(p, 2, kv_val); /* value: AnyValue */
	p = put_ld(p, 1, sizeof(OTLP_SVC) - 1);
	memcpy(p, OTLP_SVC, sizeof(OTLP_SVC) - 1);
	p += sizeof(OTLP_SVC) - 1;
	p = put_ld(p, 2, sl); /* scope_logs: its log_records follow */
	slc_stamp_ns_set(&now_text, now);
	for (uint32_t i = 0; i < n; i++) {
		int rc;

		p = put_ld(p, 2, rec); /* log_records */
		*p++ = 1 << 3 | 1;     /* time_unix_nano, fixed64 */
		for (int b = 0; b < 8; b++)
			*p++ = (char)(now >> (8 * b));
		p = put_ld(p, 5, 1 + vlen(size) + size); /* body: AnyValue */
		p = put_ld(p, 1, size);                  /* string_value */
		rc = slc_stamp_format_ns(p, size, sb_key(t), c->id, c->seq, &now_text, size);
		if (rc < 0) {
			snprintf(t->errmsg, sizeof(t->errmsg),
			         "--size %" PRId64
			         " no longer holds the stamp; use a larger --size",
			         r->o.size);
			return rc;
		}
		p += size;
		c->seq++;
	}
	c->off = 0;
	c->len = (uint32_t)(p - c->buf);
	c->nmsg = n;
	return 0;
}

/* Reads one response on c: its status, or -errno. A 200 must be a full success. */
static int
otlp_response(struct sb_thread *t, struct sb_conn *c, char *buf)
{
	size_t n = 0;

	for (;;) {
		char *end;
		ssize_t got = recv(c->fd, buf + n, OTLP_RESP_MAX - 1 - n, 0);

		if (got <= 0) {
			snprintf(t->errmsg, sizeof(t->errmsg), "connection %" PRIu32 ": %s", c->id,
			         got == 0 ? "closed by sluiced" : strerror(errno));
			return got == 0 ? -ECONNRESET : -errno;
		}
		n += (size_t)got;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			const char *cl = strstr(buf, "Content-Length: ");
			size_t head = (size_t)(end + 4 - buf);
			size_t body = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
			int status = 0;

			if (n < head + body)
				continue;
			/* keep-alive, one request in flight: nothing follows the response */
			if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 || n != head + body ||
			    (status == 200 && body != 0)) {
				snprintf(t->errmsg, sizeof(t->errmsg),
				         "connection %" PRIu32 ": unexpected response: %.80s",
				         c->id, buf);
				return -EPROTO;
			}
			return status;
		}
		if (n + 1 >= OTLP_RESP_MAX) {
			snprintf(t->errmsg, sizeof(t->errmsg),
			         "connection %" PRIu32 ": no response", c->id);
			return -EPROTO;
		}
	}
}

static int
otlp_send(struct sb_thread *t, struct sb_conn *c)
{
	while (c->off < c->len) {
		ssize_t w = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);

		if (w < 0) {
			snprintf(t->errmsg, sizeof(t->errmsg), "connection %" PRIu32 ": send: %s",
			         c->id, strerror(errno));
			return -errno;
		}
		c->off += (uint32_t)w;
	}
	atomic_fetch_add_explicit(&t->bytes, c->len, memory_order_relaxed);
	return 0;
}

int
sb_thread_run_otlp(struct sb_thread *t)
{
	const struct sb_run *r = t->r;
	uint64_t end = r->duration_ns ? r->start_ns + r->duration_ns : UINT64_MAX, issued = 0;
	char resp[OTLP_RESP_MAX];
	uint32_t *pending = calloc(t->nconns, sizeof(*pending));
	int rc = 0;

	if (pending == NULL)
		return -ENOMEM;
	/* Blocking sockets: a thread waits for each response in turn. */
	for (uint32_t j = 0; j < t->nconns; j++)
		fcntl(t->conns[j].fd, F_SETFL, fcntl(t->conns[j].fd, F_GETFL) & ~O_NONBLOCK);
	for (;;) {
		uint64_t now = bench_now_ns();
		uint32_t sent = 0;

		if (atomic_load_explicit(&sb_stop, memory_order_relaxed) || now >= end ||
		    issued >= t->quota)
			break;
		for (uint32_t j = 0; j < t->nconns && issued < t->quota; j++) {
			struct sb_conn *c = &t->conns[j];
			uint64_t n = t->quota - issued < r->batch ? t->quota - issued : r->batch;

			rc = otlp_fill(t, c, (uint32_t)n, now);
			if (rc == 0)
				rc = otlp_send(t, c);
			if (rc != 0)
				goto out;
			pending[j] = (uint32_t)n;
			issued += n;
			sent = j + 1;
		}
		for (uint32_t j = 0; j < sent; j++) {
			struct sb_conn *c = &t->conns[j];

			while ((rc = otlp_response(t, c, resp)) == 503) {
				nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
				c->off = 0;
				rc = otlp_send(t, c);
				if (rc != 0)
					goto out;
			}
			if (rc != 200) {
				if (rc > 0) {
					snprintf(t->errmsg, sizeof(t->errmsg),
					         "connection %" PRIu32 ": HTTP %d: %.80s", c->id,
					         rc, resp);
					rc = -EPROTO;
				}
				goto out;
			}
			rc = 0;
			atomic_fetch_add_explicit(&t->msgs, pending[j], memory_order_relaxed);
		}
	}
out:
	t->send_end_ns = bench_now_ns();
	free(pending);
	return rc;
}
