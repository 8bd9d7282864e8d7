/* SPDX-License-Identifier: MIT */
/* test_frame.c: the lines, len32 and syslog framing parsers, whole and split every way. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "../fuzz/frame_harness.h"

/* A string literal as (bytes, length), embedded NULs included. */
#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* Expected frames: a NULL-terminated list of strings. */
#define FRAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_FRAMES   ((const char *const[]){NULL})

#define BURST_ALL 64

static uint64_t
rand_next(uint64_t *s)
{
	/* splitmix64: a fixed seed gives the same bytes on every run. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Feeds in as frame_run_feed() does and stops the test if the parser broke a rule. */
static void
run(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame, const uint8_t *in, size_t len,
    const uint32_t *sizes, size_t n_sizes, uint32_t burst)
{
	int rc = frame_run_feed(r, f, max_frame, in, len, sizes, n_sizes, burst);

	cr_assert_eq(rc, 0, "%s (rc %d, chunk %u, burst %u)", r->violation, rc,
	             n_sizes ? sizes[0] : 0, burst);
}

static void
expect_same(const struct frame_run *want, const struct frame_run *got, const char *what,
            size_t split, uint32_t burst)
{
	char diff[256];

	if (frame_run_same(want, got))
		return;
	frame_run_diff(want, got, diff, sizeof(diff));
	cr_assert(false, "%s (split %zu, burst %u): %s", what, split, burst, diff);
}

static void
expect_frames(const struct frame_run *r, const char *const *want, int err)
{
	uint32_t n = 0;

	while (want[n] != NULL)
		n++;
	cr_assert_eq(r->err, err, "error %s, want %s", slc_frame_error_str(r->err),
	             slc_frame_error_str(err));
	cr_assert_eq(r->n_frames, n, "%u frames, want %u", r->n_frames, n);
	for (uint32_t i = 0; i < n; i++) {
		cr_expect_eq(r->lens[i], strlen(want[i]), "frame %u: %u bytes, want %zu", i,
		             r->lens[i], strlen(want[i]));
		cr_expect_arr_eq(r->bytes + r->offs[i], want[i], r->lens[i], "frame %u: \"%.*s\"",
		                 i, (int)r->lens[i], (const char *)r->bytes + r->offs[i]);
	}
}

/*
 * The input gives want and err unsplit, the reference agrees, and so does every 2-way
 * split, with bursts of 1 and BURST_ALL pieces, and feeding 1, 2 or 3 bytes at a time.
 */
static void
expect_any_split(enum slc_frame_format f, uint32_t max_frame, const uint8_t *in, size_t len,
                 const char *const *want, int err)
{
	struct frame_run whole, ref, r;
	static const uint32_t bursts[] = {1, BURST_ALL};

	run(&whole, f, max_frame, in, len, NULL, 0, BURST_ALL);
	expect_frames(&whole, want, err);
	cr_expect_eq(whole.n_whole, whole.n_frames, "one chunk: every frame in one piece");
	cr_assert_eq(frame_run_reference(&ref, f, max_frame, in, len), 0);
	expect_same(&ref, &whole, "reference vs whole", 0, BURST_ALL);
	frame_run_fini(&ref);
	for (size_t k = 1; k < len; k++) {
		for (size_t b = 0; b < 2; b++) {
			uint32_t sizes[] = {(uint32_t)k, 0};

			run(&r, f, max_frame, in, len, sizes, 2, bursts[b]);
			expect_same(&whole, &r, "2-way split", k, bursts[b]);
			frame_run_fini(&r);
		}
	}
	for (uint32_t step = 1; step <= 3; step++) {
		for (size_t b = 0; b < 2; b++) {
			run(&r, f, max_frame, in, len, &step, 1, bursts[b]);
			expect_same(&whole, &r, "bytes at a time", step, bursts[b]);
			frame_run_fini(&r);
		}
	}
	frame_run_fini(&whole);
}

/* One call on a chunk; returns what slc_frame_parse_burst() returned. */
static int
parse(struct slc_frame_parser *p, const char *chunk, uint32_t len, uint32_t *pos,
      struct slc_frame_piece *pc, uint32_t max)
{
	return slc_frame_parse_burst(p, (const uint8_t *)chunk, len, pos, pc, max);
}

static void
expect_piece(const struct slc_frame_piece *pc, uint32_t off, uint32_t len, uint8_t start,
             uint8_t end, uint8_t trim)
{
	cr_expect_eq(pc->off, off, "off %u, want %u", pc->off, off);
	cr_expect_eq(pc->len, len, "len %u, want %u", pc->len, len);
	cr_expect_eq(pc->start, start, "start %u, want %u", pc->start, start);
	cr_expect_eq(pc->end, end, "end %u, want %u", pc->end, end);
	cr_expect_eq(pc->trim, trim, "trim %u, want %u", pc->trim, trim);
}

static struct slc_frame_parser
parser(enum slc_frame_format f, uint32_t max_frame)
{
	struct slc_frame_parser p;

	cr_assert_eq(slc_frame_parser_init(&p, f, max_frame), 0);
	return p;
}

/* ---- names and set-up ---------------------------------------------------------------- */

Test(frame, format_names_round_trip)
{
	enum slc_frame_format f;

	for (unsigned i = 0; i < SLC_FRAME_FORMAT__COUNT; i++) {
		const char *name = slc_frame_format_name((enum slc_frame_format)i);

		cr_assert_eq(slc_frame_format_parse(name, &f), 0, "%s", name);
		cr_expect_eq(f, (enum slc_frame_format)i);
	}
	cr_expect_str_eq(slc_frame_format_name(SLC_FRAME_LEN32), "len32");
	cr_expect_eq(slc_frame_format_parse("Lines", &f), -EINVAL);
	cr_expect_eq(slc_frame_format_parse("", &f), -EINVAL);
	cr_expect_eq(slc_frame_format_parse(NULL, &f), -EINVAL);
	cr_expect_str_eq(slc_frame_format_name(SLC_FRAME_FORMAT__COUNT), "unknown");
}

Test(frame, error_strings_are_distinct_labels)
{
	for (unsigned i = 0; i < SLC_FRAME_ERR__COUNT; i++) {
		const char *s = slc_frame_error_str((enum slc_frame_error)i);

		cr_assert_not_null(s);
		cr_expect(strspn(s, "abcdefghijklmnopqrstuvwxyz_") == strlen(s), "label %s", s);
		for (unsigned j = 0; j < i; j++)
			cr_expect_neq(strcmp(s, slc_frame_error_str((enum slc_frame_error)j)), 0);
	}
	cr_expect_str_eq(slc_frame_error_str(SLC_FRAME_ERR_OVERSIZE), "oversize");
	cr_expect_str_eq(slc_frame_error_str(SLC_FRAME_ERR__COUNT), "unknown");
}

Test(frame, init_refuses_bad_parameters)
{
	struct slc_frame_parser p;

	cr_expect_eq(slc_frame_parser_init(&p, SLC_FRAME_LINES, 0), -EINVAL);
	cr_expect_eq(slc_frame_parser_init(&p, SLC_FRAME_LINES, SLC_FRAME_LEN_MAX + 1), -EINVAL);
	cr_expect_eq(slc_frame_parser_init(&p, SLC_FRAME_FORMAT__COUNT, 100), -EINVAL);
	cr_expect_eq(slc_frame_parser_init(&p, SLC_FRAME_SYSLOG, SLC_FRAME_LEN_MAX), 0);
	cr_expect_eq(slc_frame_parser_init(&p, SLC_FRAME_LEN32, 1), 0);
	cr_expect_not(slc_frame_parser_mid_frame(&p));
}

/* ---- lines --------------------------------------------------------------------------- */

Test(frame, lines_cut_at_lf_and_strip_one_cr)
{
	expect_any_split(SLC_FRAME_LINES, 64, S("a\nbc\r\n\nd\r\r\n\r\ne\rf\nno end"),
	                 FRAMES("a", "bc", "", "d\r", "", "e\rf"), 0);
}

Test(frame, lines_every_split_gives_the_same_frames)
{
	expect_any_split(SLC_FRAME_LINES, 16,
	                 S("<34>1 2003-10-11\r\nsecond\n\r\n\r\r\nx\r\rabc\nlast\r"),
	                 FRAMES("<34>1 2003-10-11", "second", "", "\r", "x\r\rabc"), 0);
}

Test(frame, lines_empty_frames)
{
	expect_any_split(SLC_FRAME_LINES, 1, S("\n\r\n\n\r\n"), FRAMES("", "", "", ""), 0);
}

Test(frame, lines_many_frames_per_chunk_are_zero_copy)
{
	char in[16000];
	size_t len = 0;
	struct frame_run r;
	struct slc_frame_parser p = parser(SLC_FRAME_LINES, 32);
	struct slc_frame_piece pc[16];
	uint32_t pos = 0;

	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len, "line %d%s\n", i,
		                        i % 3 ? "" : "\r");
	run(&r, SLC_FRAME_LINES, 32, (const uint8_t *)in, len, NULL, 0, 16);
	cr_expect_eq(r.err, 0);
	cr_expect_eq(r.n_frames, 1000);
	cr_expect_eq(r.n_pieces, 1000, "one piece per frame");
	cr_expect_eq(r.n_whole, 1000);
	cr_expect_eq(r.lens[999], strlen("line 999"));
	cr_expect_arr_eq(r.bytes + r.offs[999], "line 999", 8);
	frame_run_fini(&r);

	cr_assert_eq(parse(&p, in, (uint32_t)len, &pos, pc, 16), 16);
	expect_piece(&pc[0], 0, 6, 1, 1, 0); /* "line 0\r\n": the CR is not in the piece */
	expect_piece(&pc[1], 8, 6, 1, 1, 0); /* "line 1\n" */
	cr_expect_eq(pos, pc[15].off + pc[15].len + 2, "pos past the 16th CRLF");
}

Test(frame, lines_max_frame_exact_is_ok_one_more_is_oversize)
{
	expect_any_split(SLC_FRAME_LINES, 4, S("abcd\nabcd\r\nabc\r\r\n\n"),
	                 FRAMES("abcd", "abcd", "abc\r", ""), 0);
	expect_any_split(SLC_FRAME_LINES, 4, S("ab\nabcde\nx\n"), FRAMES("ab"),
	                 SLC_FRAME_ERR_OVERSIZE);
	expect_any_split(SLC_FRAME_LINES, 4, S("ab\nabcd\r\r\n"), FRAMES("ab"),
	                 SLC_FRAME_ERR_OVERSIZE);
	expect_any_split(SLC_FRAME_LINES, 4, S("abcde\r\n"), NO_FRAMES, SLC_FRAME_ERR_OVERSIZE);
	expect_any_split(SLC_FRAME_LINES, 1, S("a\r\n\r\r\nab"), FRAMES("a", "\r"),
	                 SLC_FRAME_ERR_OVERSIZE);
}

Test(frame, lines_oversize_is_reported_before_the_lf)
{
	struct slc_frame_parser p = parser(SLC_FRAME_LINES, 4);
	struct slc_frame_piece pc[4];
	uint32_t pos = 0;
	static char big[1 << 20];

	cr_expect_eq(parse(&p, "abcde", 5, &pos, pc, 4), -SLC_FRAME_ERR_OVERSIZE);
	cr_expect_eq(pos, 0);

	/* max_frame bytes and a CR wait for the next byte: an LF makes them a frame. */
	p = parser(SLC_FRAME_LINES, 4);
	pos = 0;
	cr_assert_eq(parse(&p, "abcd", 4, &pos, pc, 4), 1);
	expect_piece(&pc[0], 0, 4, 1, 0, 0);
	pos = 0;
	cr_assert_eq(parse(&p, "\r", 1, &pos, pc, 4), 1);
	expect_piece(&pc[0], 0, 1, 0, 0, 0);
	cr_expect(slc_frame_parser_mid_frame(&p));
	pos = 0;
	cr_assert_eq(parse(&p, "x", 1, &pos, pc, 4), -SLC_FRAME_ERR_OVERSIZE, "CR then not LF");

	/* Without a CR, max_frame + 1 bytes are oversize before the next byte comes. */
	p = parser(SLC_FRAME_LINES, 4);
	pos = 0;
	cr_assert_eq(parse(&p, "abc", 3, &pos, pc, 4), 1);
	pos = 0;
	cr_expect_eq(parse(&p, "de", 2, &pos, pc, 4), -SLC_FRAME_ERR_OVERSIZE);

	/* A megabyte of garbage fails at once, however far its LF might be. */
	memset(big, 'g', sizeof(big));
	p = parser(SLC_FRAME_LINES, 1000);
	pos = 0;
	cr_expect_eq(parse(&p, big, sizeof(big), &pos, pc, 4), -SLC_FRAME_ERR_OVERSIZE);
	cr_expect_eq(pos, 0);
}

Test(frame, lines_crlf_split_across_chunks_trims_the_cr)
{
	struct slc_frame_parser p = parser(SLC_FRAME_LINES, 8);
	struct slc_frame_piece pc[4];
	uint32_t pos = 0;

	cr_assert_eq(parse(&p, "xy\r", 3, &pos, pc, 4), 1);
	expect_piece(&pc[0], 0, 3, 1, 0, 0);
	cr_expect_eq(pos, 3);
	cr_expect(slc_frame_parser_mid_frame(&p));
	pos = 0;
	cr_assert_eq(parse(&p, "\nz\n", 3, &pos, pc, 4), 2);
	expect_piece(&pc[0], 0, 0, 0, 1, 1); /* the LF alone: end, and cut the CR */
	expect_piece(&pc[1], 1, 1, 1, 1, 0);
	cr_expect_eq(pos, 3);
	cr_expect_not(slc_frame_parser_mid_frame(&p));

	/* Inside one chunk the CR is simply left out of the piece. */
	pos = 0;
	cr_assert_eq(parse(&p, "ab\r\n", 4, &pos, pc, 4), 1);
	expect_piece(&pc[0], 0, 2, 1, 1, 0);
	/* A CR that ends a chunk after more bytes of the frame. */
	pos = 0;
	cr_assert_eq(parse(&p, "ab", 2, &pos, pc, 4), 1);
	pos = 0;
	cr_assert_eq(parse(&p, "c\r", 2, &pos, pc, 4), 1);
	expect_piece(&pc[0], 0, 2, 0, 0, 0);
	pos = 0;
	cr_assert_eq(parse(&p, "\n", 1, &pos, pc, 4), 1);
	expect_piece(&pc[0], 0, 0, 0, 1, 1);
}

Test(frame, lines_cr_before_another_byte_is_payload)
{
	static const uint32_t at3[] = {3, 0};
	struct frame_run r;

	run(&r, SLC_FRAME_LINES, 8, S("xy\rz\nxy\r\r\n"), at3, 2, 4);
	expect_frames(&r, FRAMES("xy\rz", "xy\r"), 0);
	frame_run_fini(&r);
}

Test(frame, lines_random_bytes_give_frames_not_errors)
{
	uint8_t in[4096];
	uint64_t seed = 1;
	struct frame_run whole, r, ref;

	for (size_t i = 0; i < sizeof(in); i++) {
		uint64_t x = rand_next(&seed);

		/* Plenty of CRs and LFs among the random bytes. */
		in[i] = x % 8 == 0 ? '\n' : x % 8 == 1 ? '\r' : (uint8_t)(x >> 8);
	}
	run(&whole, SLC_FRAME_LINES, sizeof(in), in, sizeof(in), NULL, 0, BURST_ALL);
	cr_expect_eq(whole.err, 0);
	cr_expect_gt(whole.n_frames, 300);
	cr_assert_eq(frame_run_reference(&ref, SLC_FRAME_LINES, sizeof(in), in, sizeof(in)), 0);
	expect_same(&ref, &whole, "reference vs whole", 0, BURST_ALL);
	for (int t = 0; t < 200; t++) {
		uint32_t sizes[3] = {1 + (uint32_t)(rand_next(&seed) % 9),
		                     1 + (uint32_t)(rand_next(&seed) % 300),
		                     1 + (uint32_t)(rand_next(&seed) % 2)};

		run(&r, SLC_FRAME_LINES, sizeof(in), in, sizeof(in), sizes, 3, 1 + (uint32_t)t % 5);
		expect_same(&whole, &r, "random split", sizes[0], 1 + (uint32_t)t % 5);
		frame_run_fini(&r);
	}
	frame_run_fini(&ref);
	frame_run_fini(&whole);
}

Test(frame, lines_big_frame_straddles_many_chunks)
{
	enum { BIG = 100000 };
	uint8_t *in = malloc(BIG + 2);
	static const uint32_t sizes[] = {4096, 7};
	struct frame_run r;

	cr_assert_not_null(in);
	memset(in, 'x', BIG);
	in[BIG] = '\r';
	in[BIG + 1] = '\n';
	run(&r, SLC_FRAME_LINES, BIG, in, BIG + 2, sizes, 2, 3);
	cr_expect_eq(r.err, 0);
	cr_assert_eq(r.n_frames, 1);
	cr_expect_eq(r.lens[0], BIG);
	/* One piece per chunk: 24 pairs of chunks (4103 bytes), then the last 1530 bytes. */
	cr_expect_eq(r.n_pieces, 49);
	frame_run_fini(&r);
	run(&r, SLC_FRAME_LINES, BIG - 1, in, BIG + 2, sizes, 2, 3);
	cr_expect_eq(r.err, SLC_FRAME_ERR_OVERSIZE);
	frame_run_fini(&r);
	free(in);
}

/* ---- len32 --------------------------------------------------------------------------- */

Test(frame, len32_frames_and_empty_frames)
{
	expect_any_split(SLC_FRAME_LEN32, 16,
	                 S("\0\0\0\3abc\0\0\0\0\0\0\0\1z\0\0\0\x0bhello\nworld\0\0\0\0\0\0"),
	                 FRAMES("abc", "", "z", "hello\nworld", ""), 0);
}

Test(frame, len32_max_frame_exact_is_ok_one_more_is_oversize)
{
	struct slc_frame_parser p = parser(SLC_FRAME_LEN32, 3);
	struct slc_frame_piece pc[2];
	uint32_t pos = 0;

	expect_any_split(SLC_FRAME_LEN32, 3, S("\0\0\0\3abc\0\0\0\4abcd"), FRAMES("abc"),
	                 SLC_FRAME_ERR_OVERSIZE);
	/* Refused from the header alone: no payload byte is waited for. */
	cr_expect_eq(parse(&p, "\0\0\0\4", 4, &pos, pc, 2), -SLC_FRAME_ERR_OVERSIZE);
}

Test(frame, len32_lengths_near_2_to_the_32_are_oversize)
{
	static const uint32_t maxes[] = {1024, SLC_FRAME_LEN_MAX};

	for (size_t i = 0; i < 2; i++) {
		expect_any_split(SLC_FRAME_LEN32, maxes[i], S("\0\0\0\1a\xff\xff\xff\xff"),
		                 FRAMES("a"), SLC_FRAME_ERR_OVERSIZE);
		expect_any_split(SLC_FRAME_LEN32, maxes[i], S("\x80\0\0\0"), NO_FRAMES,
		                 SLC_FRAME_ERR_OVERSIZE);
	}
	expect_any_split(SLC_FRAME_LEN32, SLC_FRAME_LEN_MAX, S("\x40\0\0\1"), NO_FRAMES,
	                 SLC_FRAME_ERR_OVERSIZE);
}

Test(frame, len32_header_split_anywhere_starts_with_the_payload)
{
	struct slc_frame_parser p = parser(SLC_FRAME_LEN32, 100);
	struct slc_frame_piece pc[2];
	uint32_t pos = 0;

	cr_assert_eq(parse(&p, "\0", 1, &pos, pc, 2), 0);
	cr_expect(slc_frame_parser_mid_frame(&p), "a header is pending");
	pos = 0;
	cr_assert_eq(parse(&p, "\0\0\2", 3, &pos, pc, 2), 0, "no empty start piece");
	cr_expect_eq(pos, 3);
	cr_expect(slc_frame_parser_mid_frame(&p));
	pos = 0;
	cr_assert_eq(parse(&p, "a", 1, &pos, pc, 2), 1);
	expect_piece(&pc[0], 0, 1, 1, 0, 0);
	pos = 0;
	cr_assert_eq(parse(&p, "b\0\0", 3, &pos, pc, 2), 1);
	expect_piece(&pc[0], 0, 1, 0, 1, 0);
	cr_expect_eq(pos, 3);
	cr_expect(slc_frame_parser_mid_frame(&p));
	pos = 0;
	cr_assert_eq(parse(&p, "\0\0", 2, &pos, pc, 2), 1, "an empty frame");
	expect_piece(&pc[0], 2, 0, 1, 1, 0);
	cr_expect_not(slc_frame_parser_mid_frame(&p));
}

Test(frame, len32_big_frame_straddles_many_chunks)
{
	enum { BIG = 65536 };
	uint8_t *in = malloc(BIG + 8);
	static const uint32_t sizes[] = {1000};
	struct frame_run r;

	cr_assert_not_null(in);
	memcpy(in, "\0\1\0\0", 4);
	memset(in + 4, 'y', BIG);
	memcpy(in + 4 + BIG, "\0\0\0\0", 4);
	run(&r, SLC_FRAME_LEN32, BIG, in, BIG + 8, sizes, 1, 2);
	cr_expect_eq(r.err, 0);
	cr_assert_eq(r.n_frames, 2);
	cr_expect_eq(r.lens[0], BIG);
	cr_expect_eq(r.lens[1], 0);
	cr_expect_eq(r.n_pieces, 66 + 1, "one piece per chunk, and the empty frame");
	frame_run_fini(&r);
	free(in);
}

/* ---- syslog -------------------------------------------------------------------------- */

Test(frame, syslog_octet_counting)
{
	expect_any_split(SLC_FRAME_SYSLOG, 64, S("5 hello11 hello world3 a\nb1  10 0123456789"),
	                 FRAMES("hello", "hello world", "a\nb", " ", "0123456789"), 0);
}

Test(frame, syslog_mixes_octet_counted_and_lf_frames)
{
	expect_any_split(SLC_FRAME_SYSLOG, 64,
	                 S("5 hello<13>plain message\n11 hello world<14>x\r\n3 a\nb\n\r\n"
	                   "4 \r\n\r\n"),
	                 FRAMES("hello", "<13>plain message", "hello world", "<14>x", "a\nb", "",
	                        "", "\r\n\r\n"),
	                 0);
}

Test(frame, syslog_leading_zero_is_refused)
{
	struct slc_frame_parser p = parser(SLC_FRAME_SYSLOG, 64);
	struct slc_frame_piece pc[2];
	uint32_t pos = 0;

	expect_any_split(SLC_FRAME_SYSLOG, 64, S("0 x"), NO_FRAMES, SLC_FRAME_ERR_LEADING_ZERO);
	expect_any_split(SLC_FRAME_SYSLOG, 64, S("3 abc012 x"), FRAMES("abc"),
	                 SLC_FRAME_ERR_LEADING_ZERO);
	cr_expect_eq(parse(&p, "0", 1, &pos, pc, 2), -SLC_FRAME_ERR_LEADING_ZERO,
	             "known from the first byte");
	/* Zeros after the first digit are digits like any other. */
	expect_any_split(SLC_FRAME_SYSLOG, 64, S("10 0123456789"), FRAMES("0123456789"), 0);
}

Test(frame, syslog_bad_octet_count_is_refused)
{
	struct slc_frame_parser p = parser(SLC_FRAME_SYSLOG, 64);
	struct slc_frame_piece pc[2];
	uint32_t pos = 0;

	expect_any_split(SLC_FRAME_SYSLOG, 64, S("12a"), NO_FRAMES, SLC_FRAME_ERR_BAD_OCTET_COUNT);
	expect_any_split(SLC_FRAME_SYSLOG, 64, S("<1>x\n12\n"), FRAMES("<1>x"),
	                 SLC_FRAME_ERR_BAD_OCTET_COUNT);
	expect_any_split(SLC_FRAME_SYSLOG, 64, S("5hello"), NO_FRAMES,
	                 SLC_FRAME_ERR_BAD_OCTET_COUNT);
	expect_any_split(SLC_FRAME_SYSLOG, 64, S("2\tab"), NO_FRAMES,
	                 SLC_FRAME_ERR_BAD_OCTET_COUNT);
	/* The digits in one chunk, the bad byte in the next. */
	cr_assert_eq(parse(&p, "12", 2, &pos, pc, 2), 0);
	cr_expect(slc_frame_parser_mid_frame(&p));
	pos = 0;
	cr_expect_eq(parse(&p, "a", 1, &pos, pc, 2), -SLC_FRAME_ERR_BAD_OCTET_COUNT);
}

Test(frame, syslog_digit_count_overflow_is_oversize)
{
	struct slc_frame_parser p = parser(SLC_FRAME_SYSLOG, 100);
	struct slc_frame_piece pc[2];
	uint32_t pos = 0;

	expect_any_split(SLC_FRAME_SYSLOG, 100, S("101 x"), NO_FRAMES, SLC_FRAME_ERR_OVERSIZE);
	expect_any_split(SLC_FRAME_SYSLOG, SLC_FRAME_LEN_MAX,
	                 S("1 a99999999999999999999999999999 x"), FRAMES("a"),
	                 SLC_FRAME_ERR_OVERSIZE);
	expect_any_split(SLC_FRAME_SYSLOG, SLC_FRAME_LEN_MAX, S("1073741825 "), NO_FRAMES,
	                 SLC_FRAME_ERR_OVERSIZE);
	expect_any_split(SLC_FRAME_SYSLOG, SLC_FRAME_LEN_MAX, S("1073741824 abc"), NO_FRAMES, 0);
	/* Known at the digit that makes the count too big, before any SP. */
	cr_expect_eq(parse(&p, "1000", 4, &pos, pc, 2), -SLC_FRAME_ERR_OVERSIZE);
	cr_expect_eq(pos, 0);
}

Test(frame, syslog_max_frame_exact_is_ok_one_more_is_oversize)
{
	expect_any_split(SLC_FRAME_SYSLOG, 5, S("5 abcde<1>ab\r\n<1>ab\n5 \r\n\r\n\n"),
	                 FRAMES("abcde", "<1>ab", "<1>ab", "\r\n\r\n\n"), 0);
	expect_any_split(SLC_FRAME_SYSLOG, 5, S("5 abcde6 abcdef"), FRAMES("abcde"),
	                 SLC_FRAME_ERR_OVERSIZE);
	expect_any_split(SLC_FRAME_SYSLOG, 5, S("<1>abc\n"), NO_FRAMES, SLC_FRAME_ERR_OVERSIZE);
	expect_any_split(SLC_FRAME_SYSLOG, 5, S("<1>ab\r\r\n"), NO_FRAMES, SLC_FRAME_ERR_OVERSIZE);
}

/* ---- the burst contract -------------------------------------------------------------- */

Test(frame, errors_come_after_earlier_frames_and_stick)
{
	struct slc_frame_parser p = parser(SLC_FRAME_LINES, 3);
	struct slc_frame_piece pc[8];
	static const char in[] = "ab\ncd\nlong!\nx\n";
	uint32_t pos = 0;

	cr_assert_eq(parse(&p, in, sizeof(in) - 1, &pos, pc, 8), 2, "the frames before");
	expect_piece(&pc[1], 3, 2, 1, 1, 0);
	cr_expect_eq(pos, 6, "stops before the frame in error");
	cr_expect_eq(parse(&p, in, sizeof(in) - 1, &pos, pc, 8), -SLC_FRAME_ERR_OVERSIZE);
	cr_expect_eq(pos, 6);
	cr_expect_eq(parse(&p, in, sizeof(in) - 1, &pos, pc, 8), -SLC_FRAME_ERR_OVERSIZE);
	pos = 0;
	cr_expect_eq(parse(&p, "ok\n", 3, &pos, pc, 8), -SLC_FRAME_ERR_OVERSIZE, "dead");
	cr_expect_eq(pos, 0);
	pos = 0;
	cr_expect_eq(parse(&p, "", 0, &pos, pc, 8), -SLC_FRAME_ERR_OVERSIZE);
	cr_expect_not(slc_frame_parser_mid_frame(&p));
}

Test(frame, burst_limit_is_respected_and_resumes)
{
	struct slc_frame_parser p = parser(SLC_FRAME_SYSLOG, 16);
	struct slc_frame_piece pc[3];
	static const char in[] = "a\n2 bcd\ne\nf";
	const uint32_t len = sizeof(in) - 1;
	uint32_t pos = 0;

	cr_expect_eq(parse(&p, in, len, &pos, pc, 0), 0, "max 0 takes nothing");
	cr_expect_eq(pos, 0);
	cr_assert_eq(parse(&p, in, len, &pos, pc, 3), 3);
	expect_piece(&pc[0], 0, 1, 1, 1, 0);
	expect_piece(&pc[1], 4, 2, 1, 1, 0);
	expect_piece(&pc[2], 6, 1, 1, 1, 0);
	cr_expect_eq(pos, 8);
	cr_assert_eq(parse(&p, in, len, &pos, pc, 3), 2);
	expect_piece(&pc[0], 8, 1, 1, 1, 0);
	expect_piece(&pc[1], 10, 1, 1, 0, 0);
	cr_expect_eq(pos, len);
	cr_expect_eq(parse(&p, in, len, &pos, pc, 3), 0, "used up");
	cr_expect(slc_frame_parser_mid_frame(&p));
}

Test(frame, mid_frame_tracks_partial_frames_and_headers)
{
#define CASE(f, lit, mid)                    \
	{                                    \
		f, lit, sizeof(lit) - 1, mid \
	}
	static const struct {
		enum slc_frame_format f;
		const char *in;
		uint32_t len;
		bool mid;
	} cases[] = {
	        CASE(SLC_FRAME_LINES, "", false),          CASE(SLC_FRAME_LINES, "abc", true),
	        CASE(SLC_FRAME_LINES, "abc\n", false),     CASE(SLC_FRAME_LINES, "\r", true),
	        CASE(SLC_FRAME_LEN32, "\0\0", true),       CASE(SLC_FRAME_LEN32, "\0\0\0\1", true),
	        CASE(SLC_FRAME_LEN32, "\0\0\0\1x", false), CASE(SLC_FRAME_SYSLOG, "12", true),
	        CASE(SLC_FRAME_SYSLOG, "2 ", true),        CASE(SLC_FRAME_SYSLOG, "2 a", true),
	        CASE(SLC_FRAME_SYSLOG, "2 ab", false),     CASE(SLC_FRAME_SYSLOG, "<1>", true),
	};
#undef CASE

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct slc_frame_parser p = parser(cases[i].f, 64);
		struct slc_frame_piece pc[4];
		uint32_t pos = 0;

		cr_assert_geq(parse(&p, cases[i].in, cases[i].len, &pos, pc, 4), 0);
		cr_expect_eq(pos, cases[i].len);
		cr_expect_eq(slc_frame_parser_mid_frame(&p), cases[i].mid, "case %zu", i);
	}
}

/* Random input for every format, with digits, SPs, CRs and LFs common. */
Test(frame, random_input_matches_the_reference_in_every_split)
{
	static const uint8_t alphabet[] = "0123456789  \r\n\r\nab\0\1\xff";
	uint64_t seed = 7;
	uint8_t in[512];
	struct frame_run ref, r;

	for (int t = 0; t < 3000 / SLC_TEST_SCALE_DIV + 30; t++) {
		/* The formats the reference reads; forward: test_forward.c, fuzz_forward.c. */
		enum slc_frame_format f = (enum slc_frame_format)(t % SLC_FRAME_FORWARD);
		size_t len = rand_next(&seed) % sizeof(in);
		uint32_t max_frame = 1 + (uint32_t)(rand_next(&seed) % 40);
		uint32_t sizes[2] = {1 + (uint32_t)(rand_next(&seed) % 13),
		                     1 + (uint32_t)(rand_next(&seed) % 64)};
		uint32_t burst = 1 + (uint32_t)(rand_next(&seed) % 4);
		char diff[256];

		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rand_next(&seed) % (sizeof(alphabet) - 1)];
		cr_assert_eq(frame_run_reference(&ref, f, max_frame, in, len), 0);
		run(&r, f, max_frame, in, len, sizes, 2, burst);
		frame_run_diff(&ref, &r, diff, sizeof(diff));
		cr_assert(frame_run_same(&ref, &r), "%s max_frame %u case %d: %s",
		          slc_frame_format_name(f), max_frame, t, diff);
		frame_run_fini(&r);
		frame_run_fini(&ref);
	}
}

/* The fuzz seeds (and any crash added to them) replayed through the fuzz targets' body. */
Test(frame, fuzz_corpus_replays_clean)
{
	/* forward's seeds are fuzz_forward's: it has no reference reading (fuzz_forward.c). */
	for (unsigned f = 0; f < SLC_FRAME_FORWARD; f++) {
		char path[512];
		DIR *d;
		struct dirent *e;
		unsigned files = 0;

		snprintf(path, sizeof(path), "%s/../fuzz/corpus/%s", SLC_FIXTURES_DIR,
		         slc_frame_format_name((enum slc_frame_format)f));
		d = opendir(path);
		cr_assert_not_null(d, "%s", path);
		while ((e = readdir(d)) != NULL) {
			char file[1024], msg[512];
			uint8_t buf[65536];
			size_t n;
			FILE *fp;

			if (e->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
			fp = fopen(file, "rb");
			cr_assert_not_null(fp, "%s", file);
			n = fread(buf, 1, sizeof(buf), fp);
			fclose(fp);
			cr_expect_eq(frame_fuzz_check((enum slc_frame_format)f, buf, n, msg,
			                              sizeof(msg)),
			             0, "%s: %s", file, msg);
			files++;
		}
		closedir(d);
		cr_expect_geq(files, 3, "%s", path);
	}
}

/* ---- skipping oversize frames ------------------------------------------------------- */

/*
 * Feeds in to a parser in skip mode, cut after each offset in cuts (ascending, 0-ended),
 * bursts of burst pieces, and writes what came out into out: each frame's bytes, "|"
 * between them, and "D<size>" for a dropped one ("D" alone with sizes false: the size of
 * an LF frame depends on where it was found too long). Returns the error, or 0.
 */
static int
skip_trace(enum slc_frame_format f, uint32_t max_frame, const char *in, uint32_t len,
           const uint32_t *cuts, uint32_t burst, bool sizes, char *out, size_t cap)
{
	struct slc_frame_parser p = parser(f, max_frame);
	struct slc_frame_piece pcs[BURST_ALL];
	char frame[256];
	size_t flen = 0, o = 0;
	uint32_t from = 0;

	slc_frame_parser_skip_oversize(&p);
	out[0] = '\0';
	for (uint32_t k = 0; from < len; k++) {
		uint32_t to = cuts != NULL && cuts[k] != 0 ? cuts[k] : len, pos = 0;

		while (pos < to - from) {
			int n = parse(&p, in + from, to - from, &pos, pcs, burst);

			if (n < 0)
				return -n;
			for (int i = 0; i < n; i++) {
				const struct slc_frame_piece *pc = &pcs[i];

				if (pc->trim == SLC_FRAME_TRIM_DROP) {
					cr_assert(pc->end && !pc->start && pc->len == 0);
					o += (size_t)(sizes ? snprintf(out + o, cap - o, "%sD%u",
					                               o ? "|" : "", pc->off)
					                    : snprintf(out + o, cap - o, "%sD",
					                               o ? "|" : ""));
					flen = 0;
					continue;
				}
				if (pc->start)
					flen = 0;
				flen -= pc->trim;
				cr_assert_lt(flen + pc->len, sizeof(frame));
				memcpy(frame + flen, in + from + pc->off, pc->len);
				flen += pc->len;
				if (pc->end)
					o += (size_t)snprintf(out + o, cap - o, "%s%.*s",
					                      o ? "|" : "", (int)flen, frame);
			}
		}
		from = to;
	}
	return 0;
}

/* The trace unsplit (sizes exact), then every 2-way split and bytes one at a time (sizes
 * left out), with bursts of 1 and all. */
static void
expect_skips(enum slc_frame_format f, uint32_t max_frame, const char *in, uint32_t len,
             const char *want, const char *want_nosize)
{
	char got[512];
	static const uint32_t bursts[] = {1, BURST_ALL};

	cr_assert_eq(skip_trace(f, max_frame, in, len, NULL, BURST_ALL, true, got, sizeof(got)), 0);
	cr_expect_str_eq(got, want);
	for (size_t b = 0; b < 2; b++) {
		uint32_t ones[600];

		for (uint32_t k = 1; k < len; k++) {
			uint32_t cuts[] = {k, 0};

			cr_assert_eq(skip_trace(f, max_frame, in, len, cuts, bursts[b], false, got,
			                        sizeof(got)),
			             0);
			cr_expect_str_eq(got, want_nosize, "split at %u, burst %u", k, bursts[b]);
		}
		cr_assert_lt(len, 600u);
		for (uint32_t k = 0; k + 1 < len; k++)
			ones[k] = k + 1;
		ones[len - 1] = 0;
		cr_assert_eq(
		        skip_trace(f, max_frame, in, len, ones, bursts[b], false, got, sizeof(got)),
		        0);
		cr_expect_str_eq(got, want_nosize, "a byte at a time, burst %u", bursts[b]);
	}
}

Test(frame, skip_lines_resynchronises_at_the_next_lf)
{
	static const char in[] = "ok\n0123456789abc\nfine\r\n12345678\n123456789\r\nend\n";

	expect_skips(SLC_FRAME_LINES, 8, in, sizeof(in) - 1, "ok|D10|fine|12345678|D10|end",
	             "ok|D|fine|12345678|D|end");
}

Test(frame, skip_lines_max_frame_and_a_cr_split_anywhere)
{
	/* max_frame bytes and a CR are a frame when the LF follows; one more byte is not. */
	static const char in[] = "1234\r\n12345\r\nx\n";

	expect_skips(SLC_FRAME_LINES, 4, in, sizeof(in) - 1, "1234|D6|x", "1234|D|x");
}

Test(frame, skip_len32_skips_the_declared_length)
{
	static const char in[] = "\0\0\0\2ok"
	                         "\0\0\0\x14"
	                         "0123456789abcdefghij"
	                         "\0\0\0\0"
	                         "\0\0\0\4fine";

	expect_skips(SLC_FRAME_LEN32, 8, in, sizeof(in) - 1, "ok|D20||fine", "ok|D||fine");
}

Test(frame, skip_syslog_octet_counted_and_lf_frames)
{
	static const char in[] = "2 ok20 0123456789\nbcdefghij"
	                         "plain line that is long\n"
	                         "4 fine";

	expect_skips(SLC_FRAME_SYSLOG, 8, in, sizeof(in) - 1, "ok|D20|D10|fine", "ok|D|D|fine");
}

Test(frame, skip_still_refuses_what_cannot_be_skipped)
{
	struct slc_frame_parser p = parser(SLC_FRAME_SYSLOG, 8);
	struct slc_frame_piece pc[4];
	uint32_t pos = 0;

	slc_frame_parser_skip_oversize(&p);
	/* An octet count past 2^32 - 1 cannot say how much to skip. */
	cr_expect_eq(parse(&p, "99999999999 x", 13, &pos, pc, 4), -SLC_FRAME_ERR_OVERSIZE);
	p = parser(SLC_FRAME_SYSLOG, 8);
	slc_frame_parser_skip_oversize(&p);
	pos = 0;
	cr_expect_eq(parse(&p, "012 x", 5, &pos, pc, 4), -SLC_FRAME_ERR_LEADING_ZERO);
	p = parser(SLC_FRAME_LEN32, 8);
	slc_frame_parser_skip_oversize(&p);
	pos = 0;
	cr_expect_eq(parse(&p, "\xff\xff\xff\xff", 4, &pos, pc, 4), 1, "2^32 - 1 is skippable");
	cr_expect_eq(pc[0].off, UINT32_MAX);
	cr_expect(slc_frame_parser_mid_frame(&p), "skipping is inside a frame");
}
