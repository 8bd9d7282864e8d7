/* SPDX-License-Identifier: MIT */
/* otlp_req.c: an OTLP/HTTP logs request's body to records, and its response, in order. */
#include "otlp_req.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int
slc_otlp_req_body(struct slc_otlp_req *rq, const struct slc_http_req *head, uint8_t *body,
                  uint32_t len, struct slc_gunzip *gz, uint8_t *scratch, size_t scratch_cap,
                  const uint8_t *key_name, uint32_t key_name_len, const char **why,
                  uint32_t *why_off)
{
	const char *err = NULL;
	uint32_t off = 0;
	int ret;

	*why = NULL;
	*why_off = 0;
	rq->ctype = head->ctype;
	rq->records = 0;
	if (head->encoding == SLC_HTTP_CENC_GZIP) {
		size_t n;

		ret = slc_gunzip_body(gz, body, len, scratch, scratch_cap, &n, why);
		if (ret == -EFBIG)
			return 413;
		if (ret == -ENOMEM)
			return 503;
		if (ret)
			return 400;
		body = scratch;
		len = (uint32_t)n;
	} else if (head->encoding != SLC_HTTP_CENC_IDENTITY) {
		*why = "unsupported Content-Encoding";
		return 415;
	}
	if (rq->ctype == SLC_HTTP_CTYPE_PROTOBUF) {
		ret = slc_otlp_pb_check(body, len, &rq->records, &err, &off);
		if (!ret)
			slc_otlp_pb_iter_init(&rq->it.pb, body, len, key_name, key_name_len);
	} else if (rq->ctype == SLC_HTTP_CTYPE_JSON) {
		ret = slc_otlp_json_check(body, len, &rq->records, &err, &off);
		if (!ret)
			slc_otlp_json_iter_init(&rq->it.json, body, len, key_name, key_name_len);
	} else {
		*why = "unsupported Content-Type";
		return 415;
	}
	if (ret) {
		*why = err;
		*why_off = off;
		return 400;
	}
	return 0;
}

int
slc_otlp_req_next(struct slc_otlp_req *rq, struct slc_otlp_rec *rec)
{
	int ret = rq->ctype == SLC_HTTP_CTYPE_JSON ? slc_otlp_json_next(&rq->it.json, rec)
	                                           : slc_otlp_pb_next(&rq->it.pb, rec);

	return ret == 1;
}

/* google.rpc.Status's code (the gRPC code) for an HTTP status, as the OTLP spec maps them. */
static unsigned
grpc_code(int status)
{
	switch (status) {
	case 400:
	case 411:
	case 415:
		return 3; /* INVALID_ARGUMENT */
	case 404:
		return 5; /* NOT_FOUND */
	case 405:
	case 501:
	case 505:
		return 12; /* UNIMPLEMENTED */
	case 413:
	case 429:
	case 431:
		return 8; /* RESOURCE_EXHAUSTED */
	case 503:
		return 14; /* UNAVAILABLE */
	default:
		return 2; /* UNKNOWN */
	}
}

/* s as a JSON string into out[0..room), room >= 8: escapes '"', '\' and control bytes; cut
 * (never inside an escape) where the room ends. Its length. */
static size_t
json_str(char *out, size_t room, const char *s)
{
	size_t n = 0;

	out[n++] = '"';
	for (; *s && n + 8 <= room; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, room - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n++] = '"';
	return n;
}

/* google.rpc.Status{code, message} in protobuf, message cut to fit out[0..room), room >= 16. */
static size_t
pb_status(uint8_t *out, size_t room, unsigned code, const char *msg)
{
	size_t mlen = strlen(msg), n = 0;

	if (mlen > room - 8)
		mlen = room - 8;
	if (mlen > 127)
		mlen = 127;    /* a one-byte length */
	out[n++] = 1 << 3 | 0; /* code */
	out[n++] = (uint8_t)code;
	if (mlen) {
		out[n++] = 2 << 3 | 2; /* message */
		out[n++] = (uint8_t)mlen;
		memcpy(out + n, msg, mlen);
		n += mlen;
	}
	return n;
}

int
slc_otlp_req_response(uint8_t *out, size_t cap, int status, enum slc_http_ctype ctype,
                      uint64_t rejected, const char *msg, bool keep_alive, unsigned retry_after_s)
{
	uint8_t body[256];
	size_t n = 0;
	bool json = ctype == SLC_HTTP_CTYPE_JSON;
	int head, ret;

	if (cap < 512)
		return -ENOSPC;
	if (!msg)
		msg = "";
	if (status == 200 && !json) {
		ret = slc_otlp_pb_response(body, sizeof(body), rejected, msg);
		if (ret < 0)
			return ret;
		n = (size_t)ret;
	} else if (status == 200) {
		if (rejected || *msg) {
			n = (size_t)snprintf((char *)body, sizeof(body), "{\"partialSuccess\":{");
			if (rejected)
				n += (size_t)snprintf((char *)body + n, sizeof(body) - n,
				                      "\"rejectedLogRecords\":\"%llu\"%s",
				                      (unsigned long long)rejected,
				                      *msg ? "," : "");
			if (*msg) {
				n += (size_t)snprintf((char *)body + n, sizeof(body) - n,
				                      "\"errorMessage\":");
				n += json_str((char *)body + n, sizeof(body) - n - 2, msg);
			}
			body[n++] = '}';
			body[n++] = '}';
		} else {
			memcpy(body, "{}", 2);
			n = 2;
		}
	} else if (json) {
		n = (size_t)snprintf((char *)body, sizeof(body),
		                     "{\"code\":%u,\"message\":", grpc_code(status));
		n += json_str((char *)body + n, sizeof(body) - n - 1, msg);
		body[n++] = '}';
	} else {
		n = pb_status(body, sizeof(body), grpc_code(status), msg);
	}
	head = slc_http_response_head(out, cap - n, status,
	                              json ? "application/json" : "application/x-protobuf", n,
	                              keep_alive, retry_after_s);
	if (head < 0)
		return head;
	memcpy(out + head, body, n);
	return head + (int)n;
}
