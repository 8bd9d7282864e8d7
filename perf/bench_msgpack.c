/* SPDX-License-Identifier: MIT */
/* bench_msgpack.c: the forward framing's skimmer against msgpack-c's unpacker, same input. */
/*
 * Examples:
 *   bench_msgpack                       PackedForward, 500 entries of 100 bytes a message
 *   bench_msgpack --entries 50 --size 300 --csv
 *   bench_msgpack --mode forward --csv  Forward mode ([tag, [[time, record], ...]])
 *
 * Issue 19 names msgpack-c (Debian's libmsgpack-dev) for the Forward protocol; the framing
 * (uring/forward.c) instead finds object boundaries itself, without allocating. A dependency
 * on the hot path earns its place in a benchmark, so both read the same stream, cut into
 * 64 KiB chunks as receive buffers would be, and count entries:
 *   skimmer     slc_frame_parse_burst (framing=forward), bursts of 64 pieces; an entry that
 *               straddles chunks is copied together, as the reactor's reassembly does
 *   msgpack-c   msgpack_unpacker fed chunk by chunk (it keeps a partial message itself),
 *               msgpack_unpacker_next for each message, then (PackedForward) msgpack_unpack_next
 *               over the bin for each entry: what a receiver built on the library does to
 *               find the entries, before it looks inside one
 * Each configuration runs the stream over and over for --seconds (default 3, at least 3);
 * msgs_per_s is entries per second; ratio is the row's msgs_per_s over msgpack-c's in the
 * same run. --csv columns: parser, mode, entries, size, seconds, msgs_per_s, ratio.
 */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_opts.h"
#include "forward.h"
#include "frame.h"

#define CHUNK    65536u
#define STREAM   (8u << 20) /* bytes of messages, repeated */
#define PIECES   64u
#define MAXFRAME 65536u

struct opts {
	int64_t entries, size, seconds;
	const char *mode;
	bool csv, help;
};

static const struct bench_opt opt_table[] = {
        {"--entries", BENCH_OPT_INT, 500, 1, 100000, NULL, "N", "entries per message",
         offsetof(struct opts, entries)},
        {"--size", BENCH_OPT_INT, 100, 20, 60000, NULL, "BYTES",
         "an entry's time and record, as delivered", offsetof(struct opts, size)},
        {"--mode", BENCH_OPT_STR, 0, 0, 0, "packed", "M", "packed (PackedForward) or forward",
         offsetof(struct opts, mode)},
        {"--seconds", BENCH_OPT_INT, 3, 3, 3600, NULL, "S", "seconds each configuration runs",
         offsetof(struct opts, seconds)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "a CSV header and one row each",
         offsetof(struct opts, csv)},
        {"--help", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "this help", offsetof(struct opts, help)},
};

#define NOPTS (sizeof(opt_table) / sizeof(opt_table[0]))

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * (n - 1 - k)));
}

/* One entry, [EventTime, {"log": "xxx..."}], size bytes after its array header. */
static size_t
put_entry(uint8_t *p, uint32_t size, uint32_t i)
{
	uint32_t v = size - 18; /* EventTime 10, fixmap 1, fixstr "log" 4, str16 header 3 */

	p[0] = 0x92;
	p[1] = 0xd7;
	p[2] = 0;
	be(p + 3, 1700000000u + i, 4);
	be(p + 7, i, 4);
	memcpy(p + 11, "\x81\xa3log\xda", 6);
	be(p + 17, v, 2);
	memset(p + 19, 'a' + (int)(i % 26), v);
	return 1 + size;
}

/* Fills buf with whole messages up to cap bytes; returns the length, *entries the count. */
static size_t
build(uint8_t *buf, size_t cap, const struct opts *o, bool packed, uint64_t *entries)
{
	size_t n = 0, one = 1 + (size_t)o->size;
	size_t msg = 16 + (size_t)o->entries * one;

	*entries = 0;
	while (n + msg <= cap) {
		buf[n++] = 0x92;
		memcpy(buf + n,
		       "\xa5"
		       "bench",
		       6);
		n += 6;
		if (packed) {
			buf[n] = 0xc6;
			be(buf + n + 1, (uint64_t)o->entries * one, 4);
		} else {
			buf[n] = 0xdd;
			be(buf + n + 1, (uint64_t)o->entries, 4);
		}
		n += 5;
		for (int64_t i = 0; i < o->entries; i++)
			n += put_entry(buf + n, (uint32_t)o->size, (uint32_t)i);
		*entries += (uint64_t)o->entries;
	}
	return n;
}

/* One pass of the skimmer over the stream; returns entries seen (-1: an error). */
static int64_t
pass_skimmer(const uint8_t *buf, size_t len, uint8_t *reasm)
{
	struct slc_frame_parser p;
	struct slc_frame_piece pc[PIECES];
	int64_t n = 0;
	size_t rl = 0;

	slc_frame_parser_init(&p, SLC_FRAME_FORWARD, MAXFRAME);
	for (size_t at = 0; at < len; at += CHUNK) {
		uint32_t clen = (uint32_t)(len - at < CHUNK ? len - at : CHUNK), pos = 0;

		while (pos < clen) {
			int k = slc_frame_parse_burst(&p, buf + at, clen, &pos, pc, PIECES);

			if (k < 0)
				return -1;
			for (int i = 0; i < k; i++) {
				if (pc[i].start && pc[i].end) {
					n++;
					continue;
				}
				if (pc[i].start)
					rl = 0;
				memcpy(reasm + rl, buf + at + pc[i].off, pc[i].len);
				rl += pc[i].len;
				n += pc[i].end;
			}
		}
	}
	return n;
}

/* One pass of msgpack-c over the stream, chunk by chunk; returns entries seen. */
static int64_t
pass_msgpack(const uint8_t *buf, size_t len, bool packed)
{
	msgpack_unpacker u;
	msgpack_unpacked m, e;
	int64_t n = 0;

	if (!msgpack_unpacker_init(&u, CHUNK))
		return -1;
	msgpack_unpacked_init(&m);
	msgpack_unpacked_init(&e);
	for (size_t at = 0; at < len; at += CHUNK) {
		size_t clen = len - at < CHUNK ? len - at : CHUNK;

		if (!msgpack_unpacker_reserve_buffer(&u, clen))
			return -1;
		memcpy(msgpack_unpacker_buffer(&u), buf + at, clen);
		msgpack_unpacker_buffer_consumed(&u, clen);
		while (msgpack_unpacker_next(&u, &m) == MSGPACK_UNPACK_SUCCESS) {
			const msgpack_object *a = &m.data;
			const msgpack_object *s;
			size_t off = 0;

			if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size < 2)
				return -1;
			s = &a->via.array.ptr[1];
			if (!packed) {
				n += s->via.array.size;
				continue;
			}
			while (off < s->via.bin.size &&
			       msgpack_unpack_next(&e, s->via.bin.ptr, s->via.bin.size, &off) ==
			               MSGPACK_UNPACK_SUCCESS)
				n++;
		}
	}
	msgpack_unpacked_destroy(&e);
	msgpack_unpacked_destroy(&m);
	msgpack_unpacker_destroy(&u);
	return n;
}

int
main(int argc, char **argv)
{
	struct opts o = {0};
	uint8_t *buf, *reasm;
	uint64_t per_pass;
	size_t len;
	double rate[2] = {0, 0}, secs[2] = {0, 0};
	bool packed;

	if (bench_opt_table_parse(&o, opt_table, NOPTS, "bench_msgpack", argc, argv) != 0)
		return 2;
	if (o.help) {
		bench_opt_table_print(stdout, opt_table, NOPTS);
		return 0;
	}
	if (strcmp(o.mode, "packed") != 0 && strcmp(o.mode, "forward") != 0) {
		fprintf(stderr, "bench_msgpack: --mode wants packed or forward\n");
		return 2;
	}
	packed = o.mode[0] == 'p';
	buf = malloc(STREAM);
	reasm = malloc(MAXFRAME);
	if (buf == NULL || reasm == NULL)
		return 1;
	len = build(buf, STREAM, &o, packed, &per_pass);
	if (per_pass == 0) {
		fprintf(stderr,
		        "bench_msgpack: a message of --entries x --size does not fit 8 MiB\n");
		return 2;
	}
	/* msgpack-c first, the skimmer second: row 0 is the baseline of the ratio. */
	for (int k = 0; k < 2; k++) {
		uint64_t t0 = now_ns(), t, entries = 0;

		do {
			int64_t got = k == 0 ? pass_msgpack(buf, len, packed)
			                     : pass_skimmer(buf, len, reasm);

			if (got != (int64_t)per_pass) {
				fprintf(stderr,
				        "bench_msgpack: %s found %" PRId64 " entries, not %" PRIu64
				        "\n",
				        k == 0 ? "msgpack-c" : "skimmer", got, per_pass);
				return 1;
			}
			entries += per_pass;
			t = now_ns();
		} while (t - t0 < (uint64_t)o.seconds * 1000000000u);
		secs[k] = (double)(t - t0) / 1e9;
		rate[k] = (double)entries / secs[k];
	}
	if (o.csv)
		printf("parser,mode,entries,size,seconds,msgs_per_s,ratio\n");
	for (int k = 0; k < 2; k++) {
		if (o.csv)
			printf("%s,%s,%" PRId64 ",%" PRId64 ",%.3f,%.0f,%.3f\n",
			       k == 0 ? "msgpack-c" : "skimmer", o.mode, o.entries, o.size, secs[k],
			       rate[k], rate[k] / rate[0]);
		else
			printf("%-10s %s: %.0f entries/s (%.2fx msgpack-c)\n",
			       k == 0 ? "msgpack-c" : "skimmer", o.mode, rate[k],
			       rate[k] / rate[0]);
	}
	free(reasm);
	free(buf);
	return 0;
}
