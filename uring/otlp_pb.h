/* SPDX-License-Identifier: MIT */
/* otlp_pb.h: the OTLP/HTTP logs protobuf body (ExportLogsServiceRequest) as LogRecords, and
 * the response body; pure functions over bytes, like frame.h. */
#ifndef SLC_URING_OTLP_PB_H
#define SLC_URING_OTLP_PB_H

#include <stddef.h>
#include <stdint.h>

/*
 * The schema is the subset in uring/otlp_logs.proto (public field numbers of
 * opentelemetry-proto v1). The decoder is written by hand rather than generated with
 * protoc-c because its result is what the reactor needs without a copy: each record's body
 * and key are pointers into the request body, nothing is allocated, and the walk needs a
 * few words of state (docs/protocol.md, "OTLP/HTTP logs", gives the reasons and figures).
 *
 * A request is walked twice: slc_otlp_pb_check() validates the whole body and counts its
 * records, so that a body that does not decode is refused whole (HTTP 400) before any of it
 * is delivered; then slc_otlp_pb_next() hands out the records in order.
 *
 * What one record becomes (struct slc_otlp_rec):
 *   body   the LogRecord's body: a string_value's bytes; for any other AnyValue kind (bool,
 *          int, double, array, kvlist, bytes) the AnyValue's own protobuf encoding, so that
 *          nothing is converted or copied (body_kind says which); no body field, or an
 *          empty AnyValue: an empty body (SLC_OTLP_BODY_NONE).
 *   key    with a key name set: the string_value of the first record attribute of that
 *          name, else of the first attribute of that name of its resource; an attribute
 *          whose value is not a string, or an empty string, is no key (key_len 0).
 *
 * What is refused (-EBADMSG; err and err_off say what and where, for the 400 response and
 * the log line):
 *   - malformed wire format: a varint over 10 bytes (or whose 10th byte is over 1), a
 *     length past the end of its enclosing message, a field number 0, the group wire types
 *     3 and 4 and the undefined 6 and 7, a fixed field cut short;
 *   - a known field with the wrong wire type (resource_logs as a varint, ...);
 *   - AnyValues nested deeper than SLC_OTLP_PB_DEPTH_MAX (arrays and kvlists in a body or
 *     an attribute): a hostile body cannot make the decoder recurse without bound;
 *   - trace_id other than 0 or 16 bytes, span_id other than 0 or 8 bytes (the OTLP spec);
 *   - more than SLC_OTLP_PB_RECORDS_MAX records in one request.
 * Unknown fields of any valid wire type are skipped (protobuf's rule), at every level.
 * Strings are not checked for UTF-8: bodies are delivered as the bytes they are.
 * A message field that appears twice is merged, as protobuf says: a LogRecord's body is
 * the last one; a resource's attributes are those of every occurrence.
 */

#define SLC_OTLP_PB_DEPTH_MAX   32u
#define SLC_OTLP_PB_RECORDS_MAX (1u << 24)

enum slc_otlp_body_kind {
	SLC_OTLP_BODY_NONE,   /* no body, or an AnyValue without a value: body_len 0 */
	SLC_OTLP_BODY_STRING, /* string_value: its bytes */
	SLC_OTLP_BODY_ANY,    /* another kind: the AnyValue message's bytes */
};

struct slc_otlp_rec {
	const uint8_t *body; /* into the request body */
	uint32_t body_len;
	enum slc_otlp_body_kind body_kind;
	const uint8_t *key; /* into the request body; NULL when key_len is 0 */
	uint32_t key_len;
	uint64_t time_unix_nano; /* 0 when absent */
};

/* Where the walk is: a request, one ResourceLogs in it, one ScopeLogs in that. Offsets are
 * into buf; an *_end of 0 means "not inside one". */
struct slc_otlp_pb_iter {
	const uint8_t *buf;
	uint32_t len;
	uint32_t pos;    /* next field of the request */
	uint32_t rl_pos; /* next field of the current ResourceLogs */
	uint32_t rl_end;
	uint32_t sl_pos; /* next field of the current ScopeLogs */
	uint32_t sl_end;
	const uint8_t *key_name; /* attribute name of --key otlp:NAME; NULL: no key */
	uint32_t key_name_len;
	const uint8_t *res_key; /* the current resource's key, found on entering it */
	uint32_t res_key_len;
	uint32_t records; /* handed out so far */
	const char *err;  /* after -EBADMSG: what was wrong, a static string */
	uint32_t err_off; /* after -EBADMSG: the offset in buf where it was found */
};

/* Starts a walk over buf[0..len) (a whole request body). key_name may be NULL (no keys). */
void slc_otlp_pb_iter_init(struct slc_otlp_pb_iter *it, const uint8_t *buf, uint32_t len,
                           const uint8_t *key_name, uint32_t key_name_len);

/*
 * The next record into *rec. Returns 1 with a record, 0 at the end of the body, or
 * -EBADMSG (it->err, it->err_off; every later call returns -EBADMSG again).
 */
int slc_otlp_pb_next(struct slc_otlp_pb_iter *it, struct slc_otlp_rec *rec);

/*
 * Validates all of buf[0..len) as an ExportLogsServiceRequest and counts its LogRecords
 * into *records. Returns 0, or -EBADMSG with *err and *err_off (either may be NULL) set as
 * above. An empty body is a valid request of no records.
 */
int slc_otlp_pb_check(const uint8_t *buf, uint32_t len, uint32_t *records, const char **err,
                      uint32_t *err_off);

/*
 * Writes the ExportLogsServiceResponse body into out[0..cap): empty when rejected is 0 and
 * msg is NULL or empty (a full success), else partial_success with rejected_log_records
 * and error_message (msg, cut to fit). Returns the length, or -ENOSPC when cap is under
 * 32 bytes (enough for everything but the message).
 */
int slc_otlp_pb_response(uint8_t *out, size_t cap, uint64_t rejected, const char *msg);

#endif /* SLC_URING_OTLP_PB_H */
