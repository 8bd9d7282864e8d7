/* SPDX-License-Identifier: MIT */
/* otlp_json.h: the OTLP/HTTP logs JSON body (ExportLogsServiceRequest in OTLP/JSON) as
 * LogRecords, decoded in place; pure functions over bytes, like otlp_pb.h. */
#ifndef SLC_URING_OTLP_JSON_H
#define SLC_URING_OTLP_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "otlp_pb.h" /* struct slc_otlp_rec, enum slc_otlp_body_kind */

/*
 * OTLP/JSON is the protobuf JSON mapping of the same schema (uring/otlp_logs.proto) with
 * lowerCamelCase names (resourceLogs, scopeLogs, logRecords, stringValue, ...); the
 * original snake_case names are accepted too for the containers (resource_logs,
 * scope_logs, log_records), as the protobuf JSON mapping asks of parsers. Unknown members
 * are skipped, null is an absent member. Names are compared raw: a name written with
 * escapes does not match.
 *
 * As with protobuf, a request is walked twice: slc_otlp_json_check() validates all of it
 * (JSON syntax, RFC 8259, nesting up to SLC_OTLP_JSON_DEPTH_MAX; the containers' types)
 * and counts its records without writing; slc_otlp_json_next() then hands out the
 * records and, to do so without a copy, rewrites each string body in place, unescaped
 * (never longer than its escaped form). So the walk needs the body writable, and a body
 * may be walked once: the reactor owns the chunk the request was gathered into.
 *
 * What one record becomes (struct slc_otlp_rec):
 *   body   a stringValue: its bytes, unescaped (\uXXXX as UTF-8; a lone surrogate as
 *          U+FFFD); any other kind (boolValue, intValue, doubleValue, arrayValue,
 *          kvlistValue, bytesValue): the AnyValue object's own JSON text, as sent; no body,
 *          null, or {}: empty (SLC_OTLP_BODY_NONE).
 *   key    with a key name: the stringValue of the first record attribute of that key,
 *          else of its resource; as the raw bytes between the quotes, escapes as sent (as
 *          --key json:NAME does: the same sender gives the same bytes).
 *   time_unix_nano  timeUnixNano, a decimal string (the mapping of int64) or number.
 *
 * Refused (-EBADMSG, with err and err_off): anything that is not JSON, a top level that is
 * not an object, a container of the wrong type (resourceLogs not an array, a LogRecord
 * not an object, a body not an object, ...), nesting deeper than SLC_OTLP_JSON_DEPTH_MAX,
 * more than SLC_OTLP_PB_RECORDS_MAX records.
 */

#define SLC_OTLP_JSON_DEPTH_MAX 64u

struct slc_otlp_json_iter {
	uint8_t *buf;
	uint32_t len;
	uint32_t pos;  /* the cursor: one, whatever the level */
	uint8_t level; /* 0 request members, 1 resourceLogs, 2 its members, 3 scopeLogs,
	                  4 its members, 5 logRecords; 6 done */
	bool write;    /* unescape bodies in place (the walk), or not (the check) */
	const uint8_t *key_name;
	uint32_t key_name_len;
	const uint8_t *res_key; /* the current resource's key (raw) */
	uint32_t res_key_len;
	uint32_t records;
	const char *err;
	uint32_t err_off;
};

/* Starts the walk over buf[0..len), which it will rewrite (above); run
 * slc_otlp_json_check on it first. key_name may be NULL. */
void slc_otlp_json_iter_init(struct slc_otlp_json_iter *it, uint8_t *buf, uint32_t len,
                             const uint8_t *key_name, uint32_t key_name_len);

/* The next record into *rec: 1, 0 at the end, or -EBADMSG (it->err, it->err_off; sticky). */
int slc_otlp_json_next(struct slc_otlp_json_iter *it, struct slc_otlp_rec *rec);

/* Validates buf[0..len) and counts its records; writes nothing. 0, or -EBADMSG with *err
 * and *err_off (either may be NULL). "{}" is a request of no records; an empty body is
 * not JSON. */
int slc_otlp_json_check(const uint8_t *buf, uint32_t len, uint32_t *records, const char **err,
                        uint32_t *err_off);

#endif /* SLC_URING_OTLP_JSON_H */
