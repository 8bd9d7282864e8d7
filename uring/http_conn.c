/* SPDX-License-Identifier: MIT */
/* http_conn.c: an http:// connection on the reactor: OTLP/HTTP logs requests gathered into
 * heap chunks, their records delivered as descriptors into them, and answered. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "otlp_req.h"
#include "reactor_priv.h"

/*
 * A request, as docs/protocol.md ("OTLP/HTTP logs") says:
 *
 *   HEAD --(head ends: parsed and judged)--> BODY --(body complete)--> records --> HEAD
 *     |                                        |                          |
 *     +--(refused: answered, closed)-----------+                          +-(answer 200, or
 *                                                                          503 when none fit)
 *
 * Every received byte is copied: the head into a chunk of SLC_HTTP_HEAD_MAX bytes, the
 * body into one chunk of its Content-Length (a chunked body's grows by doubling up to
 * --http-max-body), both from the reassembly budget (--reasm-memory), so that the
 * connection never keeps a receive buffer from the kernel, and is never paused. A gzip
 * body is inflated into a second chunk of --http-max-body bytes, which then holds the
 * records, and the first is freed. Each record goes out as an ordinary descriptor into the
 * chunk, holding one reference on it; the connection holds one more while it delivers, so
 * the chunk is freed when the last record is released (buf_unref).
 *
 * When the pools take fewer records than offered, the rest of the body is refused, never
 * dropped silently: none taken answers 503 with Retry-After (the client sends the whole
 * request again); some taken answers 200 with partial_success naming how many were
 * rejected (the OTLP specification's answer for records the server will not take; its
 * client does not send them again). Both are counted (sluice_otlp_records_rejected_total)
 * and logged. The response is written with one non-blocking send() after the records are
 * enqueued: it is small and the client waits for it, so the socket takes it whole; one
 * that does not (a client that pipelines without reading) closes the connection.
 */

#define RETRY_AFTER_S   1
#define HTTP_BODY_START (64u * 1024) /* a chunked body's first chunk */
#define HTTP_SPANS      16

enum { HTTP_HEAD, HTTP_BODY };

struct http_conn {
	uint32_t chunk; /* heap ref: the head or the body gathered so far; NONE */
	uint32_t fill;
	uint64_t need;           /* an identity body: bytes still to come */
	struct slc_http_req req; /* its pointers are into a freed head: only flags are read */
	struct slc_http_chunked ch;
	uint8_t phase;
};

const char *
slc_http_resp_str(enum slc_http_resp s)
{
	static const char *const names[SLC_HTTP_RESP__COUNT] = {
	        [SLC_HTTP_RESP_200] = "200", [SLC_HTTP_RESP_200_PARTIAL] = "200_partial",
	        [SLC_HTTP_RESP_400] = "400", [SLC_HTTP_RESP_404] = "404",
	        [SLC_HTTP_RESP_405] = "405", [SLC_HTTP_RESP_411] = "411",
	        [SLC_HTTP_RESP_413] = "413", [SLC_HTTP_RESP_415] = "415",
	        [SLC_HTTP_RESP_417] = "417", [SLC_HTTP_RESP_431] = "431",
	        [SLC_HTTP_RESP_501] = "501", [SLC_HTTP_RESP_503] = "503",
	        [SLC_HTTP_RESP_505] = "505",
	};

	return (unsigned)s < SLC_HTTP_RESP__COUNT ? names[s] : "unknown";
}

static enum slc_http_resp
resp_index(int status, bool partial)
{
	switch (status) {
	case 200:
		return partial ? SLC_HTTP_RESP_200_PARTIAL : SLC_HTTP_RESP_200;
	case 400:
		return SLC_HTTP_RESP_400;
	case 404:
		return SLC_HTTP_RESP_404;
	case 405:
		return SLC_HTTP_RESP_405;
	case 411:
		return SLC_HTTP_RESP_411;
	case 413:
		return SLC_HTTP_RESP_413;
	case 415:
		return SLC_HTTP_RESP_415;
	case 417:
		return SLC_HTTP_RESP_417;
	case 431:
		return SLC_HTTP_RESP_431;
	case 501:
		return SLC_HTTP_RESP_501;
	case 505:
		return SLC_HTTP_RESP_505;
	default:
		return SLC_HTTP_RESP_503;
	}
}

int
slc_http_conns_create(struct slc_reactor *r)
{
	int err = 0;

	r->http_conns = calloc(r->nconns, sizeof(*r->http_conns));
	if (r->http_conns == NULL)
		return -ENOMEM;
	r->http_gz = slc_gunzip_create(&err);
	if (r->http_gz == NULL) {
		free(r->http_conns);
		r->http_conns = NULL;
		return err;
	}
	return 0;
}

void
slc_http_conns_destroy(struct slc_reactor *r)
{
	slc_gunzip_destroy(r->http_gz);
	free(r->http_conns);
}

static uint32_t
max_body(const struct slc_reactor *r)
{
	return r->cfg.http_max_body != 0 ? r->cfg.http_max_body : 4u << 20;
}

void
slc_http_conn_start(struct slc_reactor *r, struct conn *c)
{
	c->http = &r->http_conns[c - r->conns];
	memset(c->http, 0, sizeof(*c->http));
	c->http->chunk = NONE;
	c->http->phase = HTTP_HEAD;
}

bool
slc_http_conn_mid_request(const struct conn *c)
{
	return c->http != NULL && (c->http->phase != HTTP_HEAD || c->http->fill != 0);
}

/* Gives up the connection's hold on the chunk it gathers into. */
static void
chunk_put(struct slc_reactor *r, struct http_conn *h)
{
	if (h->chunk == NONE)
		return;
	buf_unref(r, h->chunk, 1);
	h->chunk = NONE;
	h->fill = 0;
}

void
slc_http_conn_drop(struct slc_reactor *r, struct conn *c)
{
	if (c->http == NULL)
		return;
	chunk_put(r, c->http);
	c->http->phase = HTTP_HEAD;
}

/* A chunk of cap bytes held by the connection (refcount 1), or NONE. */
static uint32_t
chunk_get(struct slc_reactor *r, uint32_t cap)
{
	uint32_t ref =
	        slc_reasm_heap_get(r, cap < HEAP_CHUNK_MIN ? HEAP_CHUNK_MIN : cap, HEAP_REASM);

	if (ref != NONE)
		r->refcnt[ref] = 1;
	return ref;
}

/* Writes the response; false when the socket did not take it whole (c is then closed). */
static bool
respond(struct slc_reactor *r, struct conn *c, int status, uint64_t rejected, const char *msg,
        bool keep_alive)
{
	struct listener *l = &r->listeners[c->listener];
	uint8_t out[768];
	unsigned retry = status == 503 || status == 429 ? RETRY_AFTER_S : 0;
	int n = slc_otlp_req_response(out, sizeof(out), status, c->http->req.ctype, rejected, msg,
	                              keep_alive, retry);
	ssize_t sent;

	stat_add(&l->stats.http_responses[resp_index(status, rejected != 0)], 1);
	if (status != 200 || rejected != 0)
		slc_reactor_log(r, LOGK_FRAMING, SLC_LOG_WARN, "%s: http %d: %s", c->peer, status,
		                msg != NULL && *msg ? msg : slc_http_reason(status));
	if (n < 0) /* cannot happen: out is over 512 bytes */
		return false;
	sent = send(c->fd, out, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (sent != n) {
		slc_reactor_log(r, LOGK_CLOSE, SLC_LOG_WARN,
		                "closing %s: the socket did not take a %d-byte response", c->peer,
		                n);
		slc_conn_close(r, c, SLC_CLOSE_HTTP);
		return false;
	}
	return true;
}

/* Answers a request whose body was read whole; a request without keep-alive then closes
 * c. False when c closed. */
static bool
answer(struct slc_reactor *r, struct conn *c, int status, uint64_t rejected, const char *msg)
{
	if (!respond(r, c, status, rejected, msg, c->http->req.keep_alive))
		return false;
	if (!c->http->req.keep_alive) {
		slc_conn_close(r, c, SLC_CLOSE_EOF);
		return false;
	}
	return true;
}

/* Refuses the request with status and closes the connection (the rest of what the client
 * sent is not read: it may be a large body, or not HTTP at all). */
static void
refuse(struct slc_reactor *r, struct conn *c, int status, const char *msg)
{
	chunk_put(r, c->http);
	if (respond(r, c, status, 0, msg, false))
		slc_conn_close(r, c, SLC_CLOSE_HTTP);
}

/* Hash of a record's key, the same function as slc_key_hash (engine/route/key.c), which
 * this layer cannot call: libxxhash's XXH3, folded to 32 bits. */
static inline uint32_t
key_hash(const uint8_t *key, uint32_t len)
{
	uint64_t h = XXH3_64bits(key, len);

	return (uint32_t)(h ^ (h >> 32));
}

/* Offers the request's records to deliver in bursts of BATCH; returns how many were
 * taken, *offered how many the body held (a record without a body is skipped, counted
 * in empty_frames). */
static uint64_t
deliver_records(struct slc_reactor *r, struct conn *c, struct slc_otlp_req *rq, uint32_t ref,
                uint64_t *rejected)
{
	struct listener *l = &r->listeners[c->listener];
	uint32_t id = (uint32_t)(c - r->conns);
	struct slc_otlp_rec rec;
	uint64_t taken_all = 0, seen = 0, empty = 0;
	bool more = true;

	while (more) {
		uint32_t n = 0, taken;

		while (n < BATCH && (more = slc_otlp_req_next(rq, &rec))) {
			struct slc_msg *m = &r->batch[n];

			seen++;
			if (rec.body_len == 0) {
				empty++;
				continue;
			}
			m->data = rec.body;
			m->len = rec.body_len;
			m->key_hash = rec.key_len != 0 ? key_hash(rec.key, rec.key_len) : 0;
			m->recv_ns = r->now_ns;
			m->conn = id;
			m->ref = r->cfg.id << 24 | ref;
			n++;
		}
		if (n == 0)
			break;
		/* The references first: a consumer may finish inside deliver. */
		r->refcnt[ref] += n;
		taken = r->cfg.ops.deliver(r->cfg.ops.ctx, r, r->batch, n);
		r->refcnt[ref] -= n - taken;
		taken_all += taken;
		if (taken < n)
			break;
	}
	stat_add(&l->stats.msgs, taken_all);
	stat_add(&l->stats.empty_frames, empty);
	*rejected = rq->records - empty - taken_all;
	return taken_all;
}

/* The body is complete: decoded, its records delivered, answered. False when c closed. */
static bool
request_done(struct slc_reactor *r, struct conn *c)
{
	struct http_conn *h = c->http;
	struct listener *l = &r->listeners[c->listener];
	struct slc_otlp_req rq;
	uint32_t ref = h->chunk, scratch = NONE, why_off;
	uint64_t taken, rejected;
	const char *why;
	char msg[96];
	int st;

	h->chunk = NONE;
	if (h->req.encoding == SLC_HTTP_CENC_GZIP) {
		scratch = chunk_get(r, max_body(r));
		if (scratch == NONE) {
			buf_unref(r, ref, 1);
			h->fill = 0;
			h->phase = HTTP_HEAD;
			return answer(r, c, 503, 0, "no memory for the inflated body now");
		}
	}
	st = slc_otlp_req_body(&rq, &h->req, ref_ptr(r, ref), h->fill, r->http_gz,
	                       scratch != NONE ? ref_ptr(r, scratch) : NULL,
	                       scratch != NONE ? max_body(r) : 0, r->cfg.otlp_key,
	                       r->cfg.otlp_key_len, &why, &why_off);
	h->fill = 0;
	h->phase = HTTP_HEAD;
	if (scratch != NONE) {
		buf_unref(r, ref, 1);
		ref = scratch;
	}
	if (st != 0) {
		buf_unref(r, ref, 1);
		if (why != NULL && why_off != 0) {
			snprintf(msg, sizeof(msg), "%s at byte %u", why, why_off);
			why = msg;
		}
		return answer(r, c, st, 0, why);
	}
	taken = deliver_records(r, c, &rq, ref, &rejected);
	buf_unref(r, ref, 1);
	if (rejected == 0)
		return answer(r, c, 200, 0, NULL);
	stat_add(&l->stats.otlp_rejected, rejected);
	if (taken == 0)
		return answer(r, c, 503, 0, "the pools are full: send again later");
	snprintf(msg, sizeof(msg), "the pools filled: %llu of %llu records rejected",
	         (unsigned long long)rejected, (unsigned long long)(rejected + taken));
	return answer(r, c, 200, rejected, msg);
}

/* The head is complete at chunk[0..end): judged, and the body's chunk taken. Returns
 * false when c was refused (closed). */
static bool
head_done(struct slc_reactor *r, struct conn *c, uint32_t end)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct http_conn *h = c->http;
	uint32_t cap;
	int st = slc_http_req_parse(ref_ptr(r, h->chunk), end, &h->req);

	if (st == 0)
		st = slc_http_otlp_status(&h->req, max_body(r));
	chunk_put(r, h);
	if (st != 0) {
		refuse(r, c, st, NULL);
		return false;
	}
	if (h->req.chunked) {
		cap = HTTP_BODY_START < max_body(r) ? HTTP_BODY_START : max_body(r);
		memset(&h->ch, 0, sizeof(h->ch));
	} else {
		cap = (uint32_t)h->req.content_length;
		h->need = (uint64_t)h->req.content_length;
	}
	h->chunk = chunk_get(r, cap);
	if (h->chunk == NONE) {
		refuse(r, c, 503, "no memory for the body now");
		return false;
	}
	h->fill = 0;
	h->phase = HTTP_BODY;
	if (h->req.expect_continue &&
	    send(c->fd, cont, sizeof(cont) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(cont) - 1) {
		slc_conn_close(r, c, SLC_CLOSE_HTTP);
		return false;
	}
	return true;
}

/* Head bytes: copied until the head ends. Returns how many of p it took (only the head's),
 * or -1 when c was refused. */
static int64_t
head_feed(struct slc_reactor *r, struct conn *c, const uint8_t *p, uint32_t len)
{
	struct http_conn *h = c->http;
	uint32_t take, old = h->fill;
	int end;

	if (h->chunk == NONE) {
		h->chunk = chunk_get(r, SLC_HTTP_HEAD_MAX);
		if (h->chunk == NONE) {
			refuse(r, c, 503, "no memory for a request head now");
			return -1;
		}
	}
	take = SLC_HTTP_HEAD_MAX - old < len ? SLC_HTTP_HEAD_MAX - old : len;
	memcpy(ref_ptr(r, h->chunk) + old, p, take);
	h->fill = old + take;
	end = slc_http_head_end(ref_ptr(r, h->chunk), h->fill);
	if (end < 0 || (end == 0 && h->fill == SLC_HTTP_HEAD_MAX)) {
		refuse(r, c, 431, NULL);
		return -1;
	}
	if (end == 0)
		return take;
	if (!head_done(r, c, (uint32_t)end))
		return -1;
	return (uint32_t)end - old;
}

/* A chunked body's bytes: described by the decoder, copied, the chunk doubled as needed.
 * Returns how many of p it took, or -1 when c was refused or closed. */
static int64_t
chunked_feed(struct slc_reactor *r, struct conn *c, const uint8_t *p, uint32_t len)
{
	struct http_conn *h = c->http;
	struct slc_http_span spans[HTTP_SPANS];
	uint32_t n;
	int used = slc_http_chunked_feed(&h->ch, p, len, max_body(r), spans, HTTP_SPANS, &n);

	if (used < 0) {
		refuse(r, c, used == -EFBIG ? 413 : 400,
		       used == -EFBIG ? "the body is over --http-max-body" : "a bad chunked body");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t cap = ref_heap_chunk(r, h->chunk)->cap;

		if (h->fill + spans[i].len > cap) {
			uint32_t want = cap;
			uint32_t bigger;

			while (want < h->fill + spans[i].len)
				want *= 2;
			if (want > max_body(r))
				want = max_body(r);
			bigger = chunk_get(r, want);
			if (bigger == NONE) {
				refuse(r, c, 503, "no memory for the body now");
				return -1;
			}
			memcpy(ref_ptr(r, bigger), ref_ptr(r, h->chunk), h->fill);
			buf_unref(r, h->chunk, 1);
			h->chunk = bigger;
		}
		memcpy(ref_ptr(r, h->chunk) + h->fill, p + spans[i].off, spans[i].len);
		h->fill += spans[i].len;
	}
	if (h->ch.done && !request_done(r, c))
		return -1;
	return used;
}

void
slc_http_conn_data(struct slc_reactor *r, struct conn *c, const uint8_t *p, uint32_t len)
{
	struct http_conn *h = c->http;

	while (len != 0 && c->state == CONN_RECEIVING) {
		int64_t used;

		if (h->phase == HTTP_HEAD) {
			used = head_feed(r, c, p, len);
		} else if (h->req.chunked) {
			used = chunked_feed(r, c, p, len);
		} else {
			used = h->need < len ? (uint32_t)h->need : len;
			memcpy(ref_ptr(r, h->chunk) + h->fill, p, (size_t)used);
			h->fill += (uint32_t)used;
			h->need -= (uint64_t)used;
		}
		if (used < 0)
			return;
		p += used;
		len -= (uint32_t)used;
		/* A Content-Length body ends here, including one of 0 bytes. */
		if (h->phase == HTTP_BODY && !h->req.chunked && h->need == 0 && !request_done(r, c))
			return;
	}
}
