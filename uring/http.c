/* SPDX-License-Identifier: MIT */
/* http.c: HTTP/1.1 request heads (RFC 9112) parsed whole, judged for POST /v1/logs. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int
slc_http_head_end(const uint8_t *buf, uint32_t len)
{
	return slc_http_head_end_from(buf, len, 0);
}

int
slc_http_head_end_from(const uint8_t *buf, uint32_t len, uint32_t from)
{
	uint32_t n = len < SLC_HTTP_HEAD_MAX ? len : SLC_HTTP_HEAD_MAX;

	for (uint32_t i = from; i + 1 < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return (int)(i + 2);
		if (buf[i + 1] == '\r' && i + 2 < n && buf[i + 2] == '\n')
			return (int)(i + 3);
	}
	return len >= SLC_HTTP_HEAD_MAX ? -E2BIG : 0;
}

/* RFC 9110 5.6.2: tchar. */
static bool
is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool
ieq(const uint8_t *p, uint32_t n, const char *s)
{
	return strlen(s) == n && strncasecmp((const char *)p, s, n) == 0;
}

/* The line at *pos: [*pos, *eol) without its CRLF or LF; *pos moves past it. -1 for a bare
 * CR inside it, or no LF at all (the head was measured by slc_http_head_end: never). */
static int
line_next(const uint8_t *b, uint32_t len, uint32_t *pos, uint32_t *start, uint32_t *eol)
{
	const uint8_t *lf = memchr(b + *pos, '\n', len - *pos);
	uint32_t e;

	if (!lf)
		return -1;
	e = (uint32_t)(lf - b);
	*start = *pos;
	*pos = e + 1;
	if (e > *start && b[e - 1] == '\r')
		e--;
	if (memchr(b + *start, '\r', e - *start))
		return -1;
	*eol = e;
	return 0;
}

static void
trim(const uint8_t *b, uint32_t *s, uint32_t *e)
{
	while (*s < *e && (b[*s] == ' ' || b[*s] == '\t'))
		(*s)++;
	while (*e > *s && (b[*e - 1] == ' ' || b[*e - 1] == '\t'))
		(*e)--;
}

/* request-line = method SP request-target SP HTTP-version */
static int
request_line(const uint8_t *b, uint32_t s, uint32_t e, struct slc_http_req *req)
{
	uint32_t i = s, t;

	while (i < e && is_tchar(b[i]))
		i++;
	if (i == s || i == e || b[i] != ' ')
		return 400;
	req->method = b + s;
	req->method_len = i - s;
	t = ++i;
	/* origin-form: absolute-path [ "?" query ]; visible bytes only */
	if (i == e || b[i] != '/')
		return 400;
	while (i < e && b[i] > ' ' && b[i] != 0x7f)
		i++;
	if (i == e || b[i] != ' ')
		return 400;
	req->path = b + t;
	req->path_len = i - t;
	const uint8_t *q = memchr(req->path, '?', req->path_len);
	if (q)
		req->path_len = (uint32_t)(q - req->path);
	i++;
	if (e - i != 8 || memcmp(b + i, "HTTP/", 5) != 0 || b[i + 5] < '0' || b[i + 5] > '9' ||
	    b[i + 6] != '.' || b[i + 7] < '0' || b[i + 7] > '9')
		return 400;
	if (b[i + 5] != '1' || b[i + 7] > '1')
		return 505;
	req->minor = (uint8_t)(b[i + 7] - '0');
	return 0;
}

/* Content-Length: 1*DIGIT, or a list of the same value (RFC 9110 8.6). */
static int
content_length(const uint8_t *b, uint32_t s, uint32_t e, int64_t *out)
{
	if (s == e)
		return 400;
	while (s < e) {
		uint32_t c = s;
		int64_t v = 0;

		while (c < e && b[c] != ',')
			c++;
		uint32_t vs = s, ve = c;
		trim(b, &vs, &ve);
		if (vs == ve)
			return 400;
		for (uint32_t i = vs; i < ve; i++) {
			if (b[i] < '0' || b[i] > '9' || v > (INT64_MAX - (b[i] - '0')) / 10)
				return 400;
			v = v * 10 + (b[i] - '0');
		}
		if (*out >= 0 && *out != v)
			return 400;
		*out = v;
		s = c + 1;
	}
	return 0;
}

/* The tokens of a Connection list: close and keep-alive matter. */
static void
connection(const uint8_t *b, uint32_t s, uint32_t e, bool *close, bool *keep)
{
	while (s < e) {
		uint32_t c = s;

		while (c < e && b[c] != ',')
			c++;
		uint32_t ts = s, te = c;
		trim(b, &ts, &te);
		if (ieq(b + ts, te - ts, "close"))
			*close = true;
		else if (ieq(b + ts, te - ts, "keep-alive"))
			*keep = true;
		s = c + 1;
	}
}

static int
field(const uint8_t *b, uint32_t ns, uint32_t ne, uint32_t vs, uint32_t ve,
      struct slc_http_req *req, bool *close, bool *keep)
{
	const uint8_t *name = b + ns, *v = b + vs;
	uint32_t nl = ne - ns, vl = ve - vs;

	if (ieq(name, nl, "content-length"))
		return content_length(b, vs, ve, &req->content_length);
	if (ieq(name, nl, "transfer-encoding")) {
		if (req->chunked || !ieq(v, vl, "chunked"))
			return 501;
		req->chunked = true;
	} else if (ieq(name, nl, "content-type")) {
		const uint8_t *semi = memchr(v, ';', vl);
		uint32_t ms = vs, me = semi ? (uint32_t)(semi - b) : ve;

		trim(b, &ms, &me);
		if (ieq(b + ms, me - ms, "application/x-protobuf"))
			req->ctype = SLC_HTTP_CTYPE_PROTOBUF;
		else if (ieq(b + ms, me - ms, "application/json"))
			req->ctype = SLC_HTTP_CTYPE_JSON;
		else
			req->ctype = SLC_HTTP_CTYPE_OTHER;
	} else if (ieq(name, nl, "content-encoding")) {
		if (ieq(v, vl, "gzip") || ieq(v, vl, "x-gzip"))
			req->encoding = SLC_HTTP_CENC_GZIP;
		else if (!ieq(v, vl, "identity"))
			req->encoding = SLC_HTTP_CENC_OTHER;
	} else if (ieq(name, nl, "connection")) {
		connection(b, vs, ve, close, keep);
	} else if (ieq(name, nl, "expect")) {
		if (!ieq(v, vl, "100-continue"))
			return 417;
		req->expect_continue = true;
	}
	return 0;
}

int
slc_http_req_parse(const uint8_t *buf, uint32_t len, struct slc_http_req *req)
{
	uint32_t pos = 0, s, e, fields = 0;
	bool close = false, keep = false;
	int st;

	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	if (line_next(buf, len, &pos, &s, &e))
		return 400;
	st = request_line(buf, s, e, req);
	if (st)
		return st;
	for (;;) {
		if (line_next(buf, len, &pos, &s, &e))
			return 400;
		if (s == e)
			break;
		/* obs-fold (a line that continues the one before): refused, RFC 9112 5.2 */
		if (buf[s] == ' ' || buf[s] == '\t' || ++fields > SLC_HTTP_FIELDS_MAX)
			return 400;
		const uint8_t *colon = memchr(buf + s, ':', e - s);
		if (!colon || colon == buf + s)
			return 400;
		uint32_t ne = (uint32_t)(colon - buf), vs = ne + 1, ve = e;
		for (uint32_t i = s; i < ne; i++)
			if (!is_tchar(buf[i]))
				return 400;
		trim(buf, &vs, &ve);
		for (uint32_t i = vs; i < ve; i++)
			if ((buf[i] < 0x20 && buf[i] != '\t') || buf[i] == 0x7f)
				return 400;
		st = field(buf, s, ne, vs, ve, req, &close, &keep);
		if (st)
			return st;
	}
	if (req->chunked && req->content_length >= 0)
		return 400;
	req->keep_alive = req->minor == 1 ? !close : keep && !close;
	return 0;
}

int
slc_http_otlp_status(const struct slc_http_req *req, uint64_t max_body)
{
	/* Paths and methods are case-sensitive (RFC 9110 4.2.3, 9.1). */
	if (req->path_len != 8 || memcmp(req->path, "/v1/logs", 8) != 0)
		return 404;
	if (req->method_len != 4 || memcmp(req->method, "POST", 4) != 0)
		return 405;
	if (req->ctype != SLC_HTTP_CTYPE_PROTOBUF && req->ctype != SLC_HTTP_CTYPE_JSON)
		return 415;
	if (req->encoding == SLC_HTTP_CENC_OTHER)
		return 415;
	if (!req->chunked && req->content_length < 0)
		return 411;
	if (req->content_length > 0 && (uint64_t)req->content_length > max_body)
		return 413;
	return 0;
}

const char *
slc_http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

int
slc_http_response_head(uint8_t *out, size_t cap, int status, const char *ctype, size_t body_len,
                       bool keep_alive, unsigned retry_after_s)
{
	char retry[40] = "";
	int n;

	if (retry_after_s)
		snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_after_s);
	n = snprintf((char *)out, cap, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%s%s%s\r\n",
	             status, slc_http_reason(status), ctype ? "Content-Type: " : "",
	             ctype ? ctype : "", ctype ? "\r\n" : "", body_len,
	             keep_alive ? "" : "Connection: close\r\n", retry,
	             status == 405 ? "Allow: POST\r\n" : "");
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

/* The phases of a chunked body (struct slc_http_chunked.phase). */
enum {
	CH_SIZE,      /* hex digits of a chunk size */
	CH_EXT,       /* after ';': up to the end of the size line */
	CH_SIZE_LF,   /* the LF after the size line's CR */
	CH_DATA,      /* chunk data */
	CH_DATA_CR,   /* the CR (or LF) after chunk data */
	CH_DATA_LF,   /* the LF after that CR */
	CH_TRAILER,   /* the start of a trailer line, or the empty line that ends the body */
	CH_TRAILER_L, /* inside a trailer line */
	CH_END_LF,    /* the LF of the final empty line, after its CR */
	CH_DEAD,
};

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The size line ended (at its LF): data follows, or the trailers after the last chunk. */
static int
chunk_size_end(struct slc_http_chunked *st, uint64_t max_body)
{
	if (st->digits == 0)
		return -EBADMSG;
	if (st->total + st->left > max_body)
		return -EFBIG;
	st->total += st->left;
	st->phase = st->left ? CH_DATA : CH_TRAILER;
	st->digits = 0;
	st->line = 0;
	return 0;
}

int
slc_http_chunked_feed(struct slc_http_chunked *st, const uint8_t *in, uint32_t len,
                      uint64_t max_body, struct slc_http_span *spans, uint32_t max, uint32_t *n)
{
	uint32_t p = 0;
	int ret = 0, v;

	*n = 0;
	while (p < len && !st->done && ret == 0) {
		uint8_t c = in[p];

		switch (st->phase) {
		case CH_SIZE:
			if ((v = hexval(c)) >= 0) {
				if (st->digits++ == 15)
					ret = -EBADMSG;
				st->left = st->left << 4 | (uint64_t)v;
			} else if (c == ';' || c == ' ' || c == '\t') {
				st->phase = CH_EXT;
			} else if (c == '\r') {
				st->phase = CH_SIZE_LF;
			} else if (c == '\n') {
				ret = chunk_size_end(st, max_body);
			} else {
				ret = -EBADMSG;
			}
			p++;
			break;
		case CH_EXT:
			if (c == '\n')
				ret = chunk_size_end(st, max_body);
			else if (c == '\r')
				st->phase = CH_SIZE_LF;
			else if (++st->line > SLC_HTTP_HEAD_MAX)
				ret = -EBADMSG;
			p++;
			break;
		case CH_SIZE_LF:
			ret = c == '\n' ? chunk_size_end(st, max_body) : -EBADMSG;
			p++;
			break;
		case CH_DATA: {
			if (*n == max)
				return (int)p;
			uint32_t take = len - p < st->left ? len - p : (uint32_t)st->left;
			spans[*n].off = p;
			spans[(*n)++].len = take;
			st->left -= take;
			p += take;
			if (!st->left)
				st->phase = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (c == '\r')
				st->phase = CH_DATA_LF;
			else if (c == '\n')
				st->phase = CH_SIZE;
			else
				ret = -EBADMSG;
			p++;
			break;
		case CH_DATA_LF:
			if (c == '\n')
				st->phase = CH_SIZE;
			else
				ret = -EBADMSG;
			p++;
			break;
		case CH_TRAILER:
			if (c == '\n')
				st->done = true;
			else if (c == '\r')
				st->phase = CH_END_LF;
			else if (++st->line > SLC_HTTP_HEAD_MAX)
				ret = -E2BIG;
			else
				st->phase = CH_TRAILER_L;
			p++;
			break;
		case CH_TRAILER_L:
			/* line counts all the trailers' bytes, not one line's: many short
			 * trailers would otherwise keep a connection reading for ever. */
			if (++st->line > SLC_HTTP_HEAD_MAX)
				ret = -E2BIG;
			else if (c == '\n')
				st->phase = CH_TRAILER;
			p++;
			break;
		case CH_END_LF:
			if (c == '\n')
				st->done = true;
			else
				ret = -EBADMSG;
			p++;
			break;
		default:
			return -EBADMSG;
		}
	}
	if (ret) {
		st->phase = CH_DEAD;
		return ret;
	}
	return (int)p;
}
