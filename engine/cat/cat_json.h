/* SPDX-License-Identifier: MIT */
/* cat_json.h: sluice-cat --json: one JSON object per record, dead-letter envelopes split up. */
#ifndef SLC_ENGINE_CAT_JSON_H
#define SLC_ENGINE_CAT_JSON_H

#include <stdint.h>
#include <stdio.h>

/*
 * Writes one line to f:
 *   {"worker":0,"seq":3,"offset":48,"key":"...","payload":"..."}
 * A key or payload that is not valid UTF-8 is written base64-encoded as "key_b64" or
 * "payload_b64" instead (JSON strings hold text; bytes must survive the round trip). A
 * key that is a dead-letter envelope (sinks/dead_letter.h: "sluice-dead-letter sink=S
 * reason=R time=T") adds "dead_letter":true and its fields "sink", "reason" and "time".
 * A payload that reads as a Fluent Forward entry (framing=forward: a time, then a record;
 * uring/forward.h) adds "forward":{"time":SEC.NNNNNNNNN,"record":{...}}, the record's
 * msgpack as JSON (str as strings, bin and ext base64, keys that are no str as "key",
 * objects nested deeper than 64 as null).
 * Returns 0, or -EIO when f reports an error.
 */
int slc_cat_json_record(FILE *f, uint32_t worker, uint64_t seq, uint64_t offset, const uint8_t *key,
                        uint32_t key_len, const uint8_t *payload, uint32_t payload_len);

#endif /* SLC_ENGINE_CAT_JSON_H */
