/* SPDX-License-Identifier: MIT */
/* key.h: routing keys: where a message's key is (--key), its hash, and the hot-key sketch. */
#ifndef SLC_ENGINE_KEY_H
#define SLC_ENGINE_KEY_H

#include <stddef.h>
#include <stdint.h>

/*
 * The sticky and ordered strategies route by msg.key_hash. The reactor sets it, per
 * message, before routing: slc_key_extract() finds the key in the message bytes (a
 * pointer into them, nothing copied), slc_key_hash() hashes it. Both run on the hot path:
 * no allocation, no syscalls, one forward pass at most, and most kinds stop well before
 * the end of the message.
 *
 * --key values (slc_key_spec_parse), and where each finds the key:
 *
 *   none             no key: every message is "keyless" (use with the pure strategy).
 *   len32            len32 frames carry the key explicitly, at the start of the payload:
 *
 *                        0       2               2+K                    payload length
 *                        +-------+---------------+----------------------+
 *                        |   K   |  K key bytes  |  message body ...    |
 *                        +-------+---------------+----------------------+
 *                        K: unsigned 16-bit, big-endian (0..65535)
 *
 *                    K = 0: a message without a key (-ENOENT). A payload of fewer than
 *                    2 bytes, or with 2 + K > payload length: -EBADMSG. The header stays
 *                    in the message (sinks see the whole payload); the body starts at
 *                    key + key_len.
 *   field:N          the N-th field (1 <= N <= 255) of the message, fields being runs of
 *                    bytes other than SP and TAB (leading, trailing and repeated SP/TAB
 *                    separate, as in awk). Fewer than N fields: -ENOENT.
 *   prefix:DELIM     the bytes before the first occurrence of DELIM (1 to 16 bytes).
 *                    DELIM takes the escapes \t \n \r \s (space) \\ and \xHH. No DELIM in
 *                    the message, or DELIM at its very start: -ENOENT.
 *   syslog:hostname  the HOSTNAME, or the APP-NAME, of a syslog message:
 *   syslog:appname     RFC 5424  [<PRI>]VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP ...
 *                        NILVALUE "-" means no key (-ENOENT).
 *                      RFC 3164  [<PRI>]Mmm dd hh:mm:ss SP HOSTNAME SP TAG[pid]: ...
 *                        the APP-NAME is TAG, the bytes before '[' or ':'. A token right
 *                        after the timestamp that ends in ':' or holds '[' is the TAG of
 *                        a message without HOSTNAME (hostname: -ENOENT). An RFC 3339
 *                        timestamp (YYYY-..., rsyslog's ForwardFormat) is taken too.
 *                        Without a recognisable timestamp there is no HOSTNAME or TAG
 *                        (-ENOENT): RFC 3164 makes such a message all MSG.
 *                      PRI is optional, since relays and some devices drop it. A message
 *                      is RFC 5424 when it starts (after PRI) with 1 to 3 digits and SP.
 *   json:NAME        the value of the top-level field NAME of a JSON object on one line,
 *                    when that value is a string: the raw bytes between its quotes,
 *                    escapes left as they are (hashing them raw is consistent, and
 *                    decoding would need a copy). Nested objects and arrays are skipped,
 *                    so a NAME inside them, or a NAME that is a value, does not match.
 *                    Names are compared raw: a field name written with escapes in the
 *                    message does not match. The first match wins, and the line is read
 *                    only up to it. A non-string value (number, true, false, null,
 *                    object, array), no such field, or a line that is not a JSON object
 *                    (as far as it is read): -ENOENT.
 *
 *   otlp:NAME        OTLP/HTTP logs listeners (docs/protocol.md): the string value of the
 *                    record's attribute NAME, else of its resource's attribute NAME
 *                    (service.name, ...). That key lies outside the message, whose bytes
 *                    are the record's body: the OTLP decoder finds it (uring/otlp_pb.h)
 *                    and slc_key_extract, which sees the body alone, returns -ENOENT.
 *                    NAME is 1..64 bytes without control bytes, compared raw.
 *   forward:tag      framing=forward listeners (docs/protocol.md): the tag of the entry's
 *                    Forward message. It lies outside the entry's bytes too: the reactor
 *                    hashes it once per message (uring/forward.h; a tag that straddles
 *                    receive buffers on its first 128 bytes) and slc_key_extract returns
 *                    -ENOENT. An empty tag is no key; other listeners' messages have none.
 *
 * An empty key (K = 0, "" in JSON, a delimiter at the start) is no key: a successful
 * extraction always gives key_len >= 1, so keyless messages are one clearly counted case.
 * The daemon counts -ENOENT and -EBADMSG per listener and still routes those messages:
 * with key_hash 0, which keeps them together (and, ordered, in order among themselves) on
 * one slot or shard, or round robin where spreading them matters more.
 */

enum slc_key_kind {
	SLC_KEY_NONE,
	SLC_KEY_LEN32,
	SLC_KEY_FIELD,
	SLC_KEY_PREFIX,
	SLC_KEY_SYSLOG_HOSTNAME,
	SLC_KEY_SYSLOG_APPNAME,
	SLC_KEY_JSON,
	SLC_KEY_OTLP,
	SLC_KEY_FORWARD_TAG,
};

#define SLC_KEY_FIELD_MAX 255u /* field:N */
#define SLC_KEY_DELIM_MAX 16u  /* prefix:DELIM, bytes after unescaping */
#define SLC_KEY_NAME_MAX  64u  /* json:NAME */

/* A parsed --key value: everything inline, so the reactor reads it without a pointer chase. */
struct slc_key_spec {
	enum slc_key_kind kind;
	uint32_t field;     /* FIELD: 1-based */
	uint32_t delim_len; /* PREFIX */
	uint32_t name_len;  /* JSON, OTLP */
	uint8_t delim[SLC_KEY_DELIM_MAX];
	uint8_t name[SLC_KEY_NAME_MAX];
};

/*
 * Parses a --key value (above) into out. Returns 0, or -EINVAL with err holding one line
 * that names the value given and what is allowed ("--key field:0: N must be 1..255");
 * err may be NULL when err_len is 0. JSON names may not hold '"', '\' or control bytes
 * (they could never match raw); the kind words are lower case.
 */
int slc_key_spec_parse(const char *text, struct slc_key_spec *out, char *err, size_t err_len);

/*
 * Finds the key of data[0..len) as spec says; never reads outside data[0..len). Returns 0
 * with *key pointing into data and *key_len >= 1, or
 *   -ENOENT   the message has no key of that kind (always for SLC_KEY_NONE)
 *   -EBADMSG  len32: the key header is truncated or longer than the payload
 */
int slc_key_extract(const struct slc_key_spec *spec, const uint8_t *data, uint32_t len,
                    const uint8_t **key, uint32_t *key_len);

/*
 * The 32-bit hash the router reads from msg.key_hash: XXH3_64bits (seed 0) folded as
 * high ^ low 32 bits, so that every bit of the 64 counts. XXH3's output is frozen since
 * xxHash 0.8.0: the same key gives the same hash on every host and release. A key may
 * hash to 0 and then shares the keyless messages' slot, which is harmless.
 */
uint32_t slc_key_hash(const uint8_t *key, uint32_t len);

/*
 * Hot keys: a space-saving top-K sketch (Metwally et al. 2005) over a sample of the keys.
 *
 * One writer, the reactor thread that extracts keys, calls slc_hotkeys_offer() for every
 * keyed message; most calls only count down to the next sample. Samples are drawn at
 * pseudo-random gaps of 1 .. 2N-1 messages (mean N, a xorshift in the sketch, no rand()):
 * a fixed stride would alias with senders that cycle through their keys. Each sampled key
 * goes to the sketch of K entries: its count goes up by one if it is there, otherwise it
 * takes a free entry, or replaces the entry of smallest count c, starting at c + 1 with
 * error c. Space-saving guarantees, in samples: count - error <= true count <= count, and
 * every key with more than samples/K samples is in the sketch. Counts and errors are
 * reported scaled by N, so they estimate messages; at N > 1 add the sampling noise (about
 * sqrt(count * N) messages) to the error.
 *
 * Readers on any thread (the metrics endpoint) call slc_hotkeys_snapshot(). Each entry is
 * published under its own seqlock of relaxed atomic words: the writer never waits, and a
 * reader retries only the entry being written at that moment (an entry is a dozen words,
 * so a retry is rare and short). Entries are each consistent, not all from one instant.
 *
 * Keys are kept truncated to SLC_HOTKEYS_KEY_MAX bytes; two keys are the same entry when
 * their hash, full length and first SLC_HOTKEYS_KEY_MAX bytes agree.
 */
#define SLC_HOTKEYS_K_DEFAULT      32u
#define SLC_HOTKEYS_K_MAX          256u
#define SLC_HOTKEYS_SAMPLE_DEFAULT 64u
#define SLC_HOTKEYS_SAMPLE_MAX     65536u
#define SLC_HOTKEYS_KEY_MAX        64u

struct slc_hotkeys_entry {
	uint64_t count;   /* estimated messages with this key (samples * N) */
	uint64_t error;   /* count overestimates by at most this (samples * N) */
	uint32_t hash;    /* slc_key_hash of the whole key */
	uint32_t key_len; /* length of the whole key; key holds min(key_len, KEY_MAX) bytes */
	uint8_t key[SLC_HOTKEYS_KEY_MAX]; /* raw bytes, not NUL-terminated: escape to print */
};

struct slc_hotkeys;

/* k entries (1..SLC_HOTKEYS_K_MAX), one sample in sample_every keyed messages on average
 * (1..SLC_HOTKEYS_SAMPLE_MAX). NULL with *err = -EINVAL or -ENOMEM. */
struct slc_hotkeys *slc_hotkeys_create(uint32_t k, uint32_t sample_every, int *err);
void slc_hotkeys_destroy(struct slc_hotkeys *h);

/* The writer, for each message with a key (key_len >= 1; hash = slc_key_hash of it).
 * Only the one writer thread may call it. */
void slc_hotkeys_offer(struct slc_hotkeys *h, const uint8_t *key, uint32_t key_len, uint32_t hash);

/*
 * Copies up to max entries into out, by count, highest first (ties by hash), from any
 * thread, concurrently with the writer. Returns how many it copied (0 before the first
 * sample), or -EAGAIN in the unlikely case that an entry kept changing under 10000 reads.
 */
int slc_hotkeys_snapshot(const struct slc_hotkeys *h, struct slc_hotkeys_entry *out, uint32_t max);

/* Keyed messages offered so far, estimated as samples * N (any thread). */
uint64_t slc_hotkeys_seen(const struct slc_hotkeys *h);

#endif /* SLC_ENGINE_KEY_H */
