/* SPDX-License-Identifier: MIT */
/* http.h: HTTP/1.1 request heads for the OTLP listener: find, parse, judge; response heads.
 * Pure functions over bytes, like frame.h. */
#ifndef SLC_URING_HTTP_H
#define SLC_URING_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The reactor gathers a request's head (request line and header fields, up to the empty
 * line) into contiguous memory, at most SLC_HTTP_HEAD_MAX bytes, and parses it whole: a
 * head is small, and a parser over one buffer is simpler to get right than one that
 * resumes (RFC 9112 is the grammar). Lines end in CRLF or a bare LF (RFC 9112 2.2 lets a
 * recipient accept it); a bare CR elsewhere is refused.
 *
 * What the parser refuses, as the status to answer (the connection is closed after it):
 *   400  a malformed request line (method not a token, a target not in origin form,
 *        no SP, trailing bytes), a header line without ':' or with a name that is not a
 *        token or with whitespace before the ':', obsolete line folding, a bare CR, a
 *        Content-Length that is not digits or does not fit 63 bits, two different
 *        Content-Lengths, Content-Length together with Transfer-Encoding (a smuggling
 *        vector: RFC 9112 6.3), more than SLC_HTTP_FIELDS_MAX header lines;
 *   417  an Expect other than 100-continue;
 *   501  a Transfer-Encoding other than exactly "chunked";
 *   505  an HTTP version other than 1.0 and 1.1.
 * A parsed head is then judged for the OTLP logs endpoint (slc_http_otlp_status):
 *   404  a path other than /v1/logs (the query is ignored);
 *   405  a method other than POST (answer with Allow: POST);
 *   415  a Content-Type other than application/x-protobuf or application/json, or a
 *        Content-Encoding other than gzip or identity;
 *   411  neither Content-Length nor chunked;
 *   413  a Content-Length over the body limit.
 */

#define SLC_HTTP_HEAD_MAX   8192u
#define SLC_HTTP_FIELDS_MAX 100u

enum slc_http_ctype {
	SLC_HTTP_CTYPE_NONE, /* no Content-Type */
	SLC_HTTP_CTYPE_PROTOBUF,
	SLC_HTTP_CTYPE_JSON,
	SLC_HTTP_CTYPE_OTHER,
};

enum slc_http_cenc {
	SLC_HTTP_CENC_IDENTITY, /* none, or "identity" */
	SLC_HTTP_CENC_GZIP,
	SLC_HTTP_CENC_OTHER,
};

struct slc_http_req {
	const uint8_t *method; /* into the head */
	uint32_t method_len;
	const uint8_t *path; /* into the head: the target up to '?' */
	uint32_t path_len;
	uint8_t minor;               /* HTTP/1.minor: 0 or 1 */
	bool chunked;                /* Transfer-Encoding: chunked */
	bool keep_alive;             /* 1.1 unless Connection: close; 1.0 with keep-alive */
	bool expect_continue;        /* Expect: 100-continue */
	int64_t content_length;      /* -1 when absent */
	enum slc_http_ctype ctype;   /* media type, parameters (charset=...) ignored */
	enum slc_http_cenc encoding; /* Content-Encoding */
};

/*
 * Where the head ends in buf[0..len): the length of the head with its empty line (CRLF
 * CRLF, or LF LF, or a mix), 0 when it is not complete yet, or -E2BIG when no head ends
 * within SLC_HTTP_HEAD_MAX bytes (answer 431).
 */
int slc_http_head_end(const uint8_t *buf, uint32_t len);

/*
 * The same, looking for the empty line from buf[from] on: a head that grows a receive at
 * a time is scanned once, not from its start each time. From the previous length less 3
 * (an end may have begun in the last 3 bytes scanned before: CRLF CRLF less its first CR),
 * 0 when that is under 3, it answers as slc_http_head_end(buf, len) would.
 */
int slc_http_head_end_from(const uint8_t *buf, uint32_t len, uint32_t from);

/*
 * Parses the complete head buf[0..len) (as slc_http_head_end measured it) into *req,
 * whose pointers point into buf. Returns 0, or the status to answer (above).
 */
int slc_http_req_parse(const uint8_t *buf, uint32_t len, struct slc_http_req *req);

/* Judges a parsed request for POST /v1/logs with bodies up to max_body bytes: 0 when it
 * is one, or the status to answer (above). */
int slc_http_otlp_status(const struct slc_http_req *req, uint64_t max_body);

/* The reason phrase of a status this module answers with ("Payload Too Large"); "Error"
 * for others. */
const char *slc_http_reason(int status);

/*
 * Writes a response head into out[0..cap): the status line, Content-Type (ctype, omitted
 * when NULL), Content-Length: body_len, Connection: close when !keep_alive, Retry-After
 * when retry_after_s > 0, Allow: POST for 405, then the empty line. Returns its length, or
 * -ENOSPC when it does not fit (256 bytes always do).
 */
int slc_http_response_head(uint8_t *out, size_t cap, int status, const char *ctype, size_t body_len,
                           bool keep_alive, unsigned retry_after_s);

/*
 * Chunked bodies (Transfer-Encoding: chunked, RFC 9112 7.1), decoded as they arrive, in
 * receive chunks of any size: slc_http_chunked_feed() describes the body bytes in each
 * input as spans of it (no copy), and says when the body has ended:
 *
 *     chunk    = chunk-size [ ";" extensions ] CRLF  chunk-size bytes  CRLF
 *     last     = "0" [ ";" extensions ] CRLF  *( trailer-field CRLF )  CRLF
 *
 * Extensions and trailer fields are skipped (an extension up to SLC_HTTP_HEAD_MAX bytes,
 * the trailer fields up to SLC_HTTP_HEAD_MAX bytes together); LF alone is taken for CRLF.
 * Refused: a size that is not hex or has more than 15 digits, bytes other than CRLF after
 * a chunk's data, an extension too long (-EBADMSG, answer 400), trailers too long
 * (-E2BIG, answer 431), and a body growing past max_body (-EFBIG, answer 413), as soon as
 * a size line says so.
 */
struct slc_http_chunked {
	uint64_t left;  /* DATA: bytes of the chunk still to come */
	uint64_t total; /* body bytes so far, with the current chunk's declared size */
	uint32_t line;  /* bytes of the extension, or of all the trailers, so far */
	uint8_t phase;
	uint8_t digits;
	bool done; /* the last chunk and the trailers have ended */
};

struct slc_http_span {
	uint32_t off;
	uint32_t len;
};

/*
 * Feeds in[0..len). Fills spans[0..*n) (at most max, each non-empty) with where the body
 * bytes lie in in, and returns how many bytes it consumed: all of len, or fewer when the
 * body ended (the rest belongs to the next request) or when spans were full (feed the
 * rest again). -EBADMSG, -E2BIG or -EFBIG as above; then the decoder is dead.
 */
int slc_http_chunked_feed(struct slc_http_chunked *st, const uint8_t *in, uint32_t len,
                          uint64_t max_body, struct slc_http_span *spans, uint32_t max,
                          uint32_t *n);

#endif /* SLC_URING_HTTP_H */
