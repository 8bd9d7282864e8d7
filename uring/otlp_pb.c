/* SPDX-License-Identifier: MIT */
/* otlp_pb.c: the OTLP logs protobuf subset (otlp_logs.proto) decoded in place, by hand. */
#include "otlp_pb.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "base/compiler.h"

/* Wire types (protobuf encoding). */
enum {
	WT_VARINT = 0,
	WT_I64 = 1,
	WT_LEN = 2,
	WT_I32 = 5,
};

/* One field as read: its number, wire type, and value (varint, fixed) or payload (LEN). */
struct pb_field {
	uint64_t num;
	uint64_t v;
	uint32_t off; /* LEN: payload offset in buf */
	uint32_t len; /* LEN: payload length */
	uint32_t at;  /* where the field's tag starts, for the error offset */
	uint8_t wt;
};

/* An AnyValue's kind as far as the decoder cares, and its string when it is one. */
struct pb_any {
	enum slc_otlp_body_kind kind;
	uint32_t s_off;
	uint32_t s_len;
};

static SLC_COLD SLC_NOINLINE int
bad(struct slc_otlp_pb_iter *it, uint32_t off, const char *why)
{
	if (!it->err) {
		it->err = why;
		it->err_off = off;
	}
	return -EBADMSG;
}

/* A varint at *pos; an error is reported at at, where its field starts (always inside the
 * body, even when the varint would start at its end). */
static SLC_ALWAYS_INLINE int
rd_varint(struct slc_otlp_pb_iter *it, uint32_t end, uint32_t *pos, uint64_t *v, uint32_t at)
{
	uint64_t r = 0;
	uint32_t p = *pos;

	/* Tags of the schema's fields and most lengths are one byte. */
	if (SLC_LIKELY(p < end && it->buf[p] < 0x80)) {
		*v = it->buf[p];
		*pos = p + 1;
		return 0;
	}

	for (unsigned i = 0; i < 10; i++, p++) {
		if (p >= end)
			return bad(it, at, "varint cut short");
		uint8_t b = it->buf[p];
		/* The 10th byte holds bit 63 only: anything more does not fit 64 bits. */
		if (i == 9 && b > 1)
			return bad(it, at, "varint over 64 bits");
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*pos = p + 1;
			*v = r;
			return 0;
		}
	}
	return bad(it, at, "varint over 64 bits");
}

static uint64_t
rd_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* Reads the field at *pos, which must end by end (the enclosing message's end). Inlined:
 * it is most of the decoder's work, and the callers' wire-type checks fold into it. */
static SLC_ALWAYS_INLINE int
rd_field(struct slc_otlp_pb_iter *it, uint32_t end, uint32_t *pos, struct pb_field *f)
{
	uint64_t tag = 0;
	int ret;

	/* Set before use on every path; said here too, since GCC cannot see it once inlined. */
	f->v = 0;
	f->off = 0;
	f->len = 0;
	f->at = *pos;
	ret = rd_varint(it, end, pos, &tag, f->at);
	if (ret)
		return ret;
	f->num = tag >> 3;
	f->wt = tag & 7;
	if (f->num == 0 || f->num > 0x1fffffff)
		return bad(it, f->at, "field number out of range");
	switch (f->wt) {
	case WT_VARINT:
		return rd_varint(it, end, pos, &f->v, f->at);
	case WT_I64:
	case WT_I32: {
		unsigned n = f->wt == WT_I64 ? 8 : 4;
		if (end - *pos < n)
			return bad(it, f->at, "fixed-size field cut short");
		f->v = rd_le(it->buf + *pos, n);
		*pos += n;
		return 0;
	}
	case WT_LEN:
		ret = rd_varint(it, end, pos, &f->v, f->at);
		if (ret)
			return ret;
		if (f->v > end - *pos)
			return bad(it, f->at, "length past the end of its message");
		f->off = *pos;
		f->len = (uint32_t)f->v;
		*pos += f->len;
		return 0;
	case 3:
	case 4:
		return bad(it, f->at, "group wire type");
	default:
		return bad(it, f->at, "undefined wire type");
	}
}

static int
want(struct slc_otlp_pb_iter *it, const struct pb_field *f, uint8_t wt)
{
	return f->wt == wt ? 0 : bad(it, f->at, "wrong wire type for a known field");
}

static int any_check(struct slc_otlp_pb_iter *it, uint32_t off, uint32_t end, unsigned depth,
                     struct pb_any *out);

/*
 * A KeyValue in [off, end): its key, and its value's string if it is one. An AnyValue at
 * depth levels of nesting; every nested AnyValue adds one.
 */
static int
kv_check(struct slc_otlp_pb_iter *it, uint32_t off, uint32_t end, unsigned depth,
         struct pb_field *key, struct pb_any *val)
{
	struct pb_field f;
	int ret;

	key->len = 0;
	val->kind = SLC_OTLP_BODY_NONE;
	while (off < end) {
		ret = rd_field(it, end, &off, &f);
		if (ret)
			return ret;
		if (f.num == 1) {
			ret = want(it, &f, WT_LEN);
			*key = f;
		} else if (f.num == 2) {
			ret = want(it, &f, WT_LEN);
			if (!ret)
				ret = any_check(it, f.off, f.off + f.len, depth, val);
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* What list_check finds in the fields numbered 1 of a message. */
enum pb_list {
	LIST_ANY,      /* ArrayValue: values = 1, AnyValue */
	LIST_KV,       /* KeyValueList: values = 1, KeyValue */
	LIST_RESOURCE, /* ResourceLogs: resource = 1, Resource (its key is looked for) */
};

static int attrs_holder_check(struct slc_otlp_pb_iter *it, uint32_t off, uint32_t end, bool scope);

/* Checks each field 1 of the message in [off, end) as what kind says; skips the others. */
static int
list_check(struct slc_otlp_pb_iter *it, uint32_t off, uint32_t end, unsigned depth,
           enum pb_list kind)
{
	struct pb_field f, key;
	struct pb_any val;
	int ret;

	while (off < end) {
		ret = rd_field(it, end, &off, &f);
		if (ret)
			return ret;
		if (f.num != 1)
			continue;
		ret = want(it, &f, WT_LEN);
		if (ret)
			return ret;
		if (kind == LIST_KV)
			ret = kv_check(it, f.off, f.off + f.len, depth, &key, &val);
		else if (kind == LIST_ANY)
			ret = any_check(it, f.off, f.off + f.len, depth, &val);
		else
			ret = attrs_holder_check(it, f.off, f.off + f.len, false);
		if (ret)
			return ret;
	}
	return 0;
}

/* An AnyValue in [off, end); a oneof, so the last value field read is its value. */
static int
any_check(struct slc_otlp_pb_iter *it, uint32_t off, uint32_t end, unsigned depth,
          struct pb_any *out)
{
	struct pb_field f;
	int ret = 0;

	out->kind = SLC_OTLP_BODY_NONE;
	while (off < end) {
		ret = rd_field(it, end, &off, &f);
		if (ret)
			return ret;
		switch (f.num) {
		case 1: /* string_value */
			ret = want(it, &f, WT_LEN);
			out->kind = SLC_OTLP_BODY_STRING;
			out->s_off = f.off;
			out->s_len = f.len;
			break;
		case 2: /* bool_value */
		case 3: /* int_value */
			ret = want(it, &f, WT_VARINT);
			out->kind = SLC_OTLP_BODY_ANY;
			break;
		case 4: /* double_value */
			ret = want(it, &f, WT_I64);
			out->kind = SLC_OTLP_BODY_ANY;
			break;
		case 5: /* array_value */
		case 6: /* kvlist_value */
			ret = want(it, &f, WT_LEN);
			if (!ret && depth + 1 >= SLC_OTLP_PB_DEPTH_MAX)
				ret = bad(it, f.at, "values nested too deep");
			if (!ret)
				ret = list_check(it, f.off, f.off + f.len, depth + 1,
				                 f.num == 6 ? LIST_KV : LIST_ANY);
			out->kind = SLC_OTLP_BODY_ANY;
			break;
		case 7: /* bytes_value */
			ret = want(it, &f, WT_LEN);
			out->kind = SLC_OTLP_BODY_ANY;
			break;
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* A KeyValue that is an attribute: sets *key to its value when its name is the key name,
 * its value a non-empty string, and *key is not set yet (the first match wins). */
static int
attr_check(struct slc_otlp_pb_iter *it, const struct pb_field *f, const uint8_t **key,
           uint32_t *key_len)
{
	struct pb_field name;
	struct pb_any val;
	int ret;

	ret = want(it, f, WT_LEN);
	if (!ret)
		ret = kv_check(it, f->off, f->off + f->len, 0, &name, &val);
	if (ret || *key_len || !it->key_name)
		return ret;
	if (val.kind == SLC_OTLP_BODY_STRING && val.s_len && name.len == it->key_name_len &&
	    memcmp(it->buf + name.off, it->key_name, name.len) == 0) {
		*key = it->buf + val.s_off;
		*key_len = val.s_len;
	}
	return 0;
}

/* Resource (attributes = 1) or InstrumentationScope (attributes = 3): checks the fields,
 * and for a resource looks for the key among its attributes. */
static int
attrs_holder_check(struct slc_otlp_pb_iter *it, uint32_t off, uint32_t end, bool scope)
{
	const uint8_t *unused_key = NULL;
	uint32_t unused_len = 0;
	struct pb_field f;
	int ret;

	while (off < end) {
		ret = rd_field(it, end, &off, &f);
		if (ret)
			return ret;
		if (f.num == (scope ? 3u : 1u))
			ret = scope ? attr_check(it, &f, &unused_key, &unused_len)
			            : attr_check(it, &f, &it->res_key, &it->res_key_len);
		else if (scope && (f.num == 1 || f.num == 2))
			ret = want(it, &f, WT_LEN);
		else if (f.num == (scope ? 4u : 2u))
			ret = want(it, &f, WT_VARINT);
		if (ret)
			return ret;
	}
	return 0;
}

/* The wire type of each LogRecord field the decoder knows, by number (WT_NONE: unknown,
 * skipped): time_unix_nano 1, severity_number 2, severity_text 3, body 5, attributes 6,
 * dropped_attributes_count 7, flags 8, trace_id 9, span_id 10, observed_time_unix_nano
 * 11, event_name 12. */
#define WT_NONE 0xff
static const uint8_t record_wt[] = {
        WT_NONE,   WT_I64, WT_VARINT, WT_LEN, WT_NONE, WT_LEN, WT_LEN,
        WT_VARINT, WT_I32, WT_LEN,    WT_LEN, WT_I64,  WT_LEN,
};

/* A LogRecord in [off, end) into *rec. */
static int
record_decode(struct slc_otlp_pb_iter *it, uint32_t off, uint32_t end, struct slc_otlp_rec *rec)
{
	struct pb_field f;
	struct pb_any val;
	int ret;

	memset(rec, 0, sizeof(*rec));
	while (off < end) {
		ret = rd_field(it, end, &off, &f);
		if (ret)
			return ret;
		if (f.num < sizeof(record_wt) && record_wt[f.num] != WT_NONE) {
			ret = want(it, &f, record_wt[f.num]);
			if (ret)
				return ret;
		}
		switch (f.num) {
		case 1: /* time_unix_nano */
			rec->time_unix_nano = f.v;
			break;
		case 9:  /* trace_id */
		case 10: /* span_id */
			if (f.len && f.len != (f.num == 9 ? 16u : 8u))
				ret = bad(it, f.at,
				          f.num == 9 ? "trace_id not 16 bytes"
				                     : "span_id not 8 bytes");
			break;
		case 5: /* body */
			ret = any_check(it, f.off, f.off + f.len, 0, &val);
			if (ret)
				break;
			rec->body_kind = val.kind;
			if (val.kind == SLC_OTLP_BODY_STRING) {
				rec->body = it->buf + val.s_off;
				rec->body_len = val.s_len;
			} else if (val.kind == SLC_OTLP_BODY_ANY) {
				rec->body = it->buf + f.off;
				rec->body_len = f.len;
			} else {
				rec->body = NULL;
				rec->body_len = 0;
			}
			break;
		case 6: /* attributes */
			ret = attr_check(it, &f, &rec->key, &rec->key_len);
			break;
		}
		if (ret)
			return ret;
	}
	if (!rec->key_len && it->res_key_len) {
		rec->key = it->res_key;
		rec->key_len = it->res_key_len;
	}
	return 0;
}

/* On entering a ResourceLogs: checks its resource(s) and finds the resource's key, which
 * every record of it may need, wherever the resource field lies among its fields. */
static int
resource_enter(struct slc_otlp_pb_iter *it, uint32_t off, uint32_t end)
{
	it->res_key = NULL;
	it->res_key_len = 0;
	return list_check(it, off, end, 0, LIST_RESOURCE);
}

void
slc_otlp_pb_iter_init(struct slc_otlp_pb_iter *it, const uint8_t *buf, uint32_t len,
                      const uint8_t *key_name, uint32_t key_name_len)
{
	memset(it, 0, sizeof(*it));
	it->buf = buf;
	it->len = len;
	if (key_name && key_name_len) {
		it->key_name = key_name;
		it->key_name_len = key_name_len;
	}
}

/*
 * Offsets of nested messages are never 0 (a tag precedes every payload), so an *_end of 0
 * can mean "not inside one" even for an empty ScopeLogs or ResourceLogs.
 */
int
slc_otlp_pb_next(struct slc_otlp_pb_iter *it, struct slc_otlp_rec *rec)
{
	struct pb_field f;
	int ret;

	if (it->err)
		return -EBADMSG;
	for (;;) {
		if (it->sl_end && it->sl_pos < it->sl_end) {
			ret = rd_field(it, it->sl_end, &it->sl_pos, &f);
			if (ret)
				return ret;
			if (f.num == 1) {
				ret = want(it, &f, WT_LEN);
				if (!ret)
					ret = attrs_holder_check(it, f.off, f.off + f.len, true);
			} else if (f.num == 3) {
				ret = want(it, &f, WT_LEN);
			} else if (f.num == 2) {
				ret = want(it, &f, WT_LEN);
				if (!ret && it->records >= SLC_OTLP_PB_RECORDS_MAX)
					ret = bad(it, f.at, "too many records in one request");
				if (!ret)
					ret = record_decode(it, f.off, f.off + f.len, rec);
				if (ret)
					return ret;
				it->records++;
				return 1;
			}
			if (ret)
				return ret;
			continue;
		}
		it->sl_end = 0;
		if (it->rl_end && it->rl_pos < it->rl_end) {
			ret = rd_field(it, it->rl_end, &it->rl_pos, &f);
			if (ret)
				return ret;
			if (f.num == 1 || f.num == 2 || f.num == 3)
				ret = want(it, &f, WT_LEN);
			if (ret)
				return ret;
			if (f.num == 2) {
				it->sl_pos = f.off;
				it->sl_end = f.off + f.len;
			}
			continue;
		}
		it->rl_end = 0;
		if (it->pos >= it->len)
			return 0;
		ret = rd_field(it, it->len, &it->pos, &f);
		if (ret)
			return ret;
		if (f.num != 1)
			continue;
		ret = want(it, &f, WT_LEN);
		if (!ret)
			ret = resource_enter(it, f.off, f.off + f.len);
		if (ret)
			return ret;
		it->rl_pos = f.off;
		it->rl_end = f.off + f.len;
	}
}

int
slc_otlp_pb_check(const uint8_t *buf, uint32_t len, uint32_t *records, const char **err,
                  uint32_t *err_off)
{
	struct slc_otlp_pb_iter it;
	struct slc_otlp_rec rec;
	int ret;

	slc_otlp_pb_iter_init(&it, buf, len, NULL, 0);
	while ((ret = slc_otlp_pb_next(&it, &rec)) == 1)
		;
	*records = it.records;
	if (err)
		*err = it.err;
	if (err_off)
		*err_off = it.err_off;
	return ret;
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

int
slc_otlp_pb_response(uint8_t *out, size_t cap, uint64_t rejected, const char *msg)
{
	uint8_t inner[24];
	size_t mlen = msg ? strlen(msg) : 0, n = 0, i = 0;

	if (cap < 32)
		return -ENOSPC;
	if (!rejected && !mlen)
		return 0;
	/* Headers take at most 23 bytes (outer tag and length, rejected, message tag and
	 * length): the message gets the rest. */
	if (mlen > cap - 32)
		mlen = cap - 32;
	if (rejected) {
		inner[n++] = 1 << 3 | WT_VARINT;
		n += put_varint(inner + n, rejected);
	}
	if (mlen) {
		inner[n++] = 2 << 3 | WT_LEN;
		n += put_varint(inner + n, mlen);
	}
	out[i++] = 1 << 3 | WT_LEN;
	i += put_varint(out + i, n + mlen);
	memcpy(out + i, inner, n);
	memcpy(out + i + n, msg ? msg : "", mlen);
	return (int)(i + n + mlen);
}
