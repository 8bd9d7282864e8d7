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
 *   HEAD --(head ends: parsed, judged)--> BODY --(complete: decoded)--> RECORDS --> HEAD
 *     |                                    |                             |   ^  (200 once
 *     +--(refused: answered, closed)-------+      (pools full after some |   |   all are
 *                                                  were taken: paused) --+---+   taken)
 *                                 (pools full at the first burst: 503, back to HEAD)
 *
 * The bytes of a request are copied out of the receive buffers: the head into a chunk of
 * SLC_HTTP_HEAD_MAX bytes, the body into one chunk that starts at 64 KiB (or its
 * Content-Length, when less) and doubles as the bytes come, up to --http-max-body, both
 * from the reassembly budget (--reasm-memory). A gzip body is inflated into the reactor's
 * scratch (--http-max-body bytes, outside that budget, one per reactor) and copied into a
 * chunk of its inflated size, which then holds the records; the first is freed. Each
 * record goes out as an ordinary descriptor into the chunk, holding one reference on it;
 * the connection holds one more while it delivers, so the chunk is freed when the last
 * record is released (buf_unref). A request costs these chunks' allocations, and one of
 * BATCH descriptors for the records a burst walked that the pools did not take
 * (records_push); no record anything.
 *
 * Full pools (records_push): a request none of whose records fit is refused whole, 503
 * with Retry-After, counted (sluice_otlp_records_rejected_total) and logged: the client
 * sends it again. One that filled them after some were taken pauses its connection like a
 * TCP connection (loop.c's wait queue, conn_resume) and delivers the rest at its turns;
 * bytes that arrive meanwhile are kept as any paused connection's. Nothing is dropped, and
 * sluice delivers nothing twice (partial_success is never needed). The response is written
 * with one non-blocking send() once the last record is enqueued: it is small and the
 * client waits for it, so the socket takes it whole; one that does not (a client that
 * pipelines without reading) closes the connection.
 */

#define RETRY_AFTER_S   1
#define HTTP_BODY_START (64u * 1024) /* a chunked body's first chunk */
#define HTTP_SPANS      16

/* HTTP_RECORDS: the body's records are being delivered (paused between turns). */
enum { HTTP_HEAD, HTTP_BODY, HTTP_RECORDS };

struct http_conn {
	uint32_t chunk; /* heap ref: the head or the body gathered so far; NONE */
	uint32_t fill;
	uint32_t rec_ref;        /* HTTP_RECORDS: the chunk the records point into */
	uint64_t taken;          /* HTTP_RECORDS: records delivered so far */
	struct slc_otlp_req rq;  /* HTTP_RECORDS: the walk over the records */
	uint32_t pend;           /* HTTP_RECORDS: heap ref, BATCH descriptors walked, not taken */
	uint16_t pend_i, pend_n; /* the first of them not taken yet, how many */
	uint64_t need;           /* an identity body: bytes still to come */
	struct slc_http_req req; /* its pointers are into a freed head: only flags are read */
	struct slc_http_chunked ch;
	uint8_t phase;
};

const char *
slc_http_resp_str(enum slc_http_resp s)
{
	static const char *const names[SLC_HTTP_RESP__COUNT] = {
	        [SLC_HTTP_RESP_200] = "200", [SLC_HTTP_RESP_400] = "400",
	        [SLC_HTTP_RESP_404] = "404", [SLC_HTTP_RESP_405] = "405",
	        [SLC_HTTP_RESP_411] = "411", [SLC_HTTP_RESP_413] = "413",
	        [SLC_HTTP_RESP_415] = "415", [SLC_HTTP_RESP_417] = "417",
	        [SLC_HTTP_RESP_431] = "431", [SLC_HTTP_RESP_501] = "501",
	        [SLC_HTTP_RESP_503] = "503", [SLC_HTTP_RESP_505] = "505",
	};

	return (unsigned)s < SLC_HTTP_RESP__COUNT ? names[s] : "unknown";
}

static enum slc_http_resp
resp_index(int status)
{
	switch (status) {
	case 200:
		return SLC_HTTP_RESP_200;
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
	free(r->http_scratch);
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

bool
slc_http_conn_gathering(const struct conn *c, uint32_t *bytes)
{
	if (c->http == NULL || c->http->chunk == NONE)
		return false;
	*bytes = c->http->fill;
	return true;
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
	if (c->http->phase == HTTP_RECORDS) { /* delivered ones hold their own references */
		buf_unref(r, c->http->rec_ref, 1);
		buf_unref(r, c->http->pend, 1);
	}
	c->http->phase = HTTP_HEAD;
}

/* A chunk of cap bytes held by the connection (refcount 1), or NONE: then the memory is
 * short, and --evict-idle looks at the requests that hold some (slc_reasm_evict_idle). */
static uint32_t
chunk_get(struct slc_reactor *r, uint32_t cap)
{
	uint32_t ref =
	        slc_reasm_heap_get(r, cap < HEAP_CHUNK_MIN ? HEAP_CHUNK_MIN : cap, HEAP_REASM);

	if (ref != NONE)
		r->refcnt[ref] = 1;
	else
		r->http_starved_ns = r->now_ns;
	return ref;
}

static void refuse(struct slc_reactor *r, struct conn *c, int status, const char *msg);

/* Room in the body's chunk for add more bytes: the chunk doubles (up to --http-max-body,
 * which the body was checked against) into a new one. False when c was refused. */
static bool
body_room(struct slc_reactor *r, struct conn *c, uint32_t add)
{
	struct http_conn *h = c->http;
	uint32_t cap = ref_heap_chunk(r, h->chunk)->cap, want = cap, bigger;

	if (h->fill + add <= cap)
		return true;
	while (want < h->fill + add)
		want *= 2;
	if (want > max_body(r))
		want = max_body(r);
	bigger = chunk_get(r, want);
	if (bigger == NONE) {
		refuse(r, c, 503, "no memory for the body now");
		return false;
	}
	memcpy(ref_ptr(r, bigger), ref_ptr(r, h->chunk), h->fill);
	buf_unref(r, h->chunk, 1);
	h->chunk = bigger;
	return true;
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

	stat_add(&l->stats.http_responses[resp_index(status)], 1);
	if (status != 200)
		slc_reactor_log(r, LOGK_FRAMING, SLC_LOG_WARN, "%s: http %d: %s", c->peer, status,
		                msg != NULL && *msg ? msg : slc_http_reason(status));
	/* n < 0 cannot happen (out is over 512 bytes); were it to, the client gets no answer
	 * and the connection closes, as for a send the socket does not take. */
	sent = n < 0 ? -1 : send(c->fd, out, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
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

/* What a step of a request did to the connection. */
enum { STEP_GO, STEP_PAUSED, STEP_CLOSED };

/* Fills r->batch with up to max of the request's next records. A record without a body
 * is an empty message (docs/protocol.md): its attributes may be all it says, and dropping
 * it would lose a record the client was told was taken. */
static uint32_t
burst_fill(struct slc_reactor *r, struct conn *c, uint32_t max)
{
	struct http_conn *h = c->http;
	uint32_t id = (uint32_t)(c - r->conns), n = 0;
	struct slc_otlp_rec rec;

	while (n < max && slc_otlp_req_next(&h->rq, &rec)) {
		struct slc_msg *m = &r->batch[n];

		m->data = rec.body;
		m->len = rec.body_len;
		m->key_hash = rec.key_len != 0 ? key_hash(rec.key, rec.key_len) : 0;
		m->recv_ns = r->now_ns;
		m->conn = id;
		m->ref = r->cfg.id << 24 | h->rec_ref;
		n++;
	}
	return n;
}

/* Every record of the request was taken: 200. */
static int
records_done(struct slc_reactor *r, struct conn *c)
{
	struct http_conn *h = c->http;

	buf_unref(r, h->rec_ref, 1);
	buf_unref(r, h->pend, 1);
	h->phase = HTTP_HEAD;
	return answer(r, c, 200, 0, NULL) ? STEP_GO : STEP_CLOSED;
}

/*
 * Offers the request's records, a burst at a time (and no more than a paused connection's
 * turn allows), until every one is taken: then 200. When the pools take none of the
 * request's first burst, the whole request is refused: 503 with Retry-After, nothing of it
 * delivered, so the client sends it again whole. When they fill after some were taken, or
 * its tenant's buckets or QoS class hold records back (then from the first burst on), the
 * connection pauses like any other (its receive cancelled) and the rest goes on at its
 * turns in the wait queue (slc_http_conn_resume); the response waits for the last record.
 * So no record is dropped, and none delivered twice by sluice.
 *
 * The records of a burst that were walked but not taken are kept as descriptors (h->pend)
 * and offered from there: the body is never walked twice, because a JSON walk unescapes
 * each body in place, and a second one would unescape it again (a\"b read back as a"bb).
 */
static int
records_push(struct slc_reactor *r, struct conn *c)
{
	struct http_conn *h = c->http;
	struct listener *l = &r->listeners[c->listener];
	struct slc_msg *pend = (struct slc_msg *)ref_ptr(r, h->pend);

	for (;;) {
		uint32_t max = r->turn_left < BATCH ? r->turn_left : BATCH, n, offer, taken;
		struct slc_msg *m = r->batch;

		if (max == 0) { /* its turn is over: the rest at the next one */
			slc_conn_pause(r, c);
			return STEP_PAUSED;
		}
		if (h->pend_n != 0) {
			m = pend + h->pend_i;
			n = h->pend_n < max ? h->pend_n : max;
		} else {
			n = burst_fill(r, c, max);
			if (n == 0)
				return records_done(r, c);
		}
		/* Its tenant's buckets and class, as on any TCP connection (loop.c): what they
		 * hold back waits, the connection paused with rate_wait. */
		offer = conn_tenant_offer(r, c, m, n);
		/* The references first: a consumer may finish inside deliver. */
		r->refcnt[h->rec_ref] += offer;
		taken = offer != 0 ? r->cfg.ops.deliver(r->cfg.ops.ctx, r, m, offer) : 0;
		r->refcnt[h->rec_ref] -= offer - taken;
		conn_tenant_took(r, c, m, taken);
		h->taken += taken;
		stat_add(&l->stats.msgs, taken);
		if (r->turn_left != NONE)
			r->turn_left -= taken;
		if (m != r->batch) {
			h->pend_i += (uint16_t)taken;
			h->pend_n -= (uint16_t)taken;
		}
		if (taken == n)
			continue;
		/* A refusal is for full pools; held back by its tenant, it waits its tokens. */
		if (h->taken == 0 && !c->rate_wait) {
			stat_add(&l->stats.otlp_rejected, h->rq.records);
			buf_unref(r, h->rec_ref, 1);
			buf_unref(r, h->pend, 1);
			h->phase = HTTP_HEAD;
			return answer(r, c, 503, 0, "the pools are full: send again later")
			               ? STEP_GO
			               : STEP_CLOSED;
		}
		if (m == r->batch) {
			memcpy(pend, m + taken, (n - taken) * sizeof(*m));
			h->pend_i = 0;
			h->pend_n = (uint16_t)(n - taken);
		}
		slc_conn_pause(r, c);
		return STEP_PAUSED;
	}
}

int
slc_http_conn_resume(struct slc_reactor *r, struct conn *c)
{
	if (c->http->phase != HTTP_RECORDS)
		return STEP_GO;
	return records_push(r, c);
}

/*
 * A gzip body *ref[0..*len) inflated into the reactor's scratch (one --http-max-body,
 * allocated at the first gzip body), then copied into a chunk of its inflated size, which
 * replaces *ref: a request whose records are still held holds what its body inflated to,
 * not --http-max-body, and the scratch serves the next one at once. 0, or the status to
 * answer with *why (*ref then unchanged).
 */
static int
inflate_body(struct slc_reactor *r, uint32_t *ref, uint32_t *len, const char **why)
{
	uint32_t out;
	size_t n;
	int ret;

	if (r->http_scratch == NULL && (r->http_scratch = malloc(max_body(r))) == NULL) {
		*why = "no memory for the inflated body now";
		return 503;
	}
	ret = slc_gunzip_body(r->http_gz, ref_ptr(r, *ref), *len, r->http_scratch, max_body(r), &n,
	                      why);
	if (ret != 0)
		return ret == -EFBIG ? 413 : ret == -ENOMEM ? 503 : 400;
	out = chunk_get(r, (uint32_t)n);
	if (out == NONE) {
		*why = "no memory for the inflated body now";
		return 503;
	}
	memcpy(ref_ptr(r, out), r->http_scratch, n);
	buf_unref(r, *ref, 1);
	*ref = out;
	*len = (uint32_t)n;
	return 0;
}

/* The body is complete: decoded, and its records offered. */
static int
request_done(struct slc_reactor *r, struct conn *c)
{
	struct http_conn *h = c->http;
	struct slc_http_req head = h->req;
	uint32_t ref = h->chunk, len = h->fill, why_off = 0;
	const char *why = NULL;
	char msg[96];
	int st = 0;

	h->chunk = NONE;
	h->fill = 0;
	h->phase = HTTP_HEAD;
	if (head.encoding == SLC_HTTP_CENC_GZIP) {
		st = inflate_body(r, &ref, &len, &why);
		head.encoding = SLC_HTTP_CENC_IDENTITY;
	}
	if (st == 0)
		st = slc_otlp_req_body(&h->rq, &head, ref_ptr(r, ref), len, NULL, NULL, 0,
		                       r->cfg.otlp_key, r->cfg.otlp_key_len, &why, &why_off);
	if (st != 0) {
		buf_unref(r, ref, 1);
		if (why != NULL && why_off != 0) {
			snprintf(msg, sizeof(msg), "%s at byte %u", why, why_off);
			why = msg;
		}
		return answer(r, c, st, 0, why) ? STEP_GO : STEP_CLOSED;
	}
	/* Taken before any record goes: a request is refused whole or delivered whole. */
	h->pend = chunk_get(r, BATCH * sizeof(struct slc_msg));
	if (h->pend == NONE) {
		buf_unref(r, ref, 1);
		return answer(r, c, 503, 0, "no memory for the request's records now")
		               ? STEP_GO
		               : STEP_CLOSED;
	}
	h->pend_i = h->pend_n = 0;
	h->rec_ref = ref;
	h->taken = 0;
	h->phase = HTTP_RECORDS;
	return records_push(r, c);
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
	/* A first piece, grown as the bytes come (body_room): a client that announces a large
	 * body and sends none holds 64 KiB of --reasm-memory, not the length it announced. */
	cap = HTTP_BODY_START < max_body(r) ? HTTP_BODY_START : max_body(r);
	if (h->req.chunked) {
		memset(&h->ch, 0, sizeof(h->ch));
	} else {
		if (h->req.content_length < cap)
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
		/* A request starts: the idle timeout's stuck rule measures it from here. */
		c->frame_end_ns = r->now_ns;
		h->chunk = chunk_get(r, SLC_HTTP_HEAD_MAX);
		if (h->chunk == NONE) {
			refuse(r, c, 503, "no memory for a request head now");
			return -1;
		}
	}
	take = SLC_HTTP_HEAD_MAX - old < len ? SLC_HTTP_HEAD_MAX - old : len;
	memcpy(ref_ptr(r, h->chunk) + old, p, take);
	h->fill = old + take;
	/* From where the last scan could not see a whole empty line: a head dribbled a byte
	 * a receive costs each byte one look, not the whole head again. */
	end = slc_http_head_end_from(ref_ptr(r, h->chunk), h->fill, old < 3 ? 0 : old - 3);
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
		refuse(r, c,
		       used == -EFBIG   ? 413
		       : used == -E2BIG ? 431
		                        : 400,
		       used == -EFBIG   ? "the body is over --http-max-body"
		       : used == -E2BIG ? "trailer fields too long"
		                        : "a bad chunked body");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!body_room(r, c, spans[i].len))
			return -1;
		memcpy(ref_ptr(r, h->chunk) + h->fill, p + spans[i].off, spans[i].len);
		h->fill += spans[i].len;
	}
	if (h->ch.done && request_done(r, c) == STEP_CLOSED)
		return -1;
	return used;
}

uint32_t
slc_http_conn_parse(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	struct http_conn *h = c->http;
	const uint8_t *p = ref_ptr(r, ref) + off;
	uint32_t pos = 0;

	while (pos < len) {
		int64_t used;

		if (h->phase == HTTP_HEAD) {
			used = head_feed(r, c, p + pos, len - pos);
		} else if (h->req.chunked) {
			used = chunked_feed(r, c, p + pos, len - pos);
		} else {
			used = h->need < len - pos ? (uint32_t)h->need : len - pos;
			if (!body_room(r, c, (uint32_t)used))
				return NONE;
			memcpy(ref_ptr(r, h->chunk) + h->fill, p + pos, (size_t)used);
			h->fill += (uint32_t)used;
			h->need -= (uint64_t)used;
			/* A Content-Length body ends here (one of 0 bytes right after its head). */
			if (h->need == 0 && request_done(r, c) == STEP_CLOSED)
				return NONE;
		}
		if (used < 0)
			return NONE;
		pos += (uint32_t)used;
		/* Paused with records of the request still to deliver: the rest waits. */
		if (h->phase == HTTP_RECORDS)
			return pos;
		/* A head that ended exactly at the chunk's end, of a request with no body. */
		if (pos == len && h->phase == HTTP_BODY && !h->req.chunked && h->need == 0 &&
		    (request_done(r, c) == STEP_CLOSED || h->phase == HTTP_RECORDS))
			return h->phase == HTTP_RECORDS ? pos : NONE;
	}
	return NONE;
}
