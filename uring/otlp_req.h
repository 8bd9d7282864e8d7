/* SPDX-License-Identifier: MIT */
/* otlp_req.h: one OTLP/HTTP logs request from its head and body to its records and its
 * response; what the reactor's HTTP connection calls, pure (no I/O, no allocation). */
#ifndef SLC_URING_OTLP_REQ_H
#define SLC_URING_OTLP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gunzip.h"
#include "http.h"
#include "otlp_json.h"
#include "otlp_pb.h"

/*
 * The order of a request (docs/protocol.md, "A request on the reactor"):
 *   1. the head: slc_http_req_parse, then slc_http_otlp_status (404, 405, 411, 413, 415);
 *   2. the whole body gathered (and de-chunked) into writable memory;
 *   3. slc_otlp_req_body: gunzip into the scratch memory if the body is gzipped (400 when
 *      it is not gzip, 413 past the scratch's size), then the whole body validated in its
 *      content type (400 with the decoder's reason): nothing is delivered from a request
 *      that is refused;
 *   4. slc_otlp_req_next, record after record, into descriptors;
 *   5. slc_otlp_req_response: the status line and the body the OTLP specification asks:
 *      200 with an ExportLogsServiceResponse (partial_success when records were refused),
 *      4xx and 5xx with a google.rpc.Status (its message), each in the request's content
 *      type (protobuf, or JSON), or protobuf when it had none.
 */
struct slc_otlp_req {
	enum slc_http_ctype ctype;
	union {
		struct slc_otlp_pb_iter pb;
		struct slc_otlp_json_iter json;
	} it;
	uint32_t records; /* in the body, counted by the check */
};

/*
 * Step 3. body[0..len) is the request's body (the head says its type and encoding); gz and
 * scratch[0..scratch_cap) are used for a gzip body, whose inflated form the records then
 * point into. key_name (may be NULL) is --key otlp:NAME's. Returns 0, or the status to
 * answer with *why (a static string) and *why_off (the offset in the decoded body, or 0).
 */
int slc_otlp_req_body(struct slc_otlp_req *rq, const struct slc_http_req *head, uint8_t *body,
                      uint32_t len, struct slc_gunzip *gz, uint8_t *scratch, size_t scratch_cap,
                      const uint8_t *key_name, uint32_t key_name_len, const char **why,
                      uint32_t *why_off);

/* Step 4: 1 with the next record, 0 after the last (the body was checked: no error). */
int slc_otlp_req_next(struct slc_otlp_req *rq, struct slc_otlp_rec *rec);

/*
 * Step 5 into out[0..cap): the response head and body. status 200: rejected and msg make
 * the partial success (none when rejected is 0 and msg empty); any other status: msg is the
 * Status message. retry_after_s > 0 adds Retry-After (429, 503). Returns the length, or
 * -ENOSPC when cap is under 512 bytes (enough for any message, cut to fit).
 */
int slc_otlp_req_response(uint8_t *out, size_t cap, int status, enum slc_http_ctype ctype,
                          uint64_t rejected, const char *msg, bool keep_alive,
                          unsigned retry_after_s);

#endif /* SLC_URING_OTLP_REQ_H */
