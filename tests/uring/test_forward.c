/* SPDX-License-Identifier: MIT */
/* test_forward.c: the Fluent Forward framing (uring/forward.c), whole, split every way, hostile. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "forward.h"
#include "frame.h"
#include "../fuzz/frame_harness.h"
#include "../support/gz_write.h"
#include "../support/mp_write.h"

/* A record {"msg": s, "n": [1, {"deep": nil}]} and an entry's frame: time, record. */
static void
record(struct mp *m, const char *s)
{
	mp_map(m, 2);
	mp_str(m, "msg");
	mp_str(m, s);
	mp_str(m, "n");
	mp_arr(m, 2);
	mp_uint(m, 1);
	mp_map(m, 1);
	mp_str(m, "deep");
	mp_put(m, (const uint8_t[]){0xc0}, 1);
}

/* ---- running the parser -------------------------------------------------------------- */

#define MAXF 16

struct want {
	struct mp f[MAXF];
	uint32_t n;
	const char *chunks; /* each message's chunk and '|'; NULL: "" */
};

static struct mp *
want_next(struct want *w)
{
	cr_assert_lt(w->n, MAXF);
	return &w->f[w->n++];
}

static void
run(struct frame_run *r, uint32_t max_frame, bool skip, const struct mp *in, const uint32_t *sizes,
    size_t n_sizes, uint32_t burst)
{
	int rc;

	if (!skip) {
		rc = frame_run_feed(r, SLC_FRAME_FORWARD, max_frame, in->b, in->n, sizes, n_sizes,
		                    burst);
		cr_assert_eq(rc, 0, "%s (rc %d)", r->violation, rc);
		return;
	}
	rc = frame_run_feed_skip(r, SLC_FRAME_FORWARD, max_frame, in->b, in->n, sizes, n_sizes,
	                         burst);
	cr_assert_eq(rc, 0, "%s (rc %d)", r->violation, rc);
}

static void
expect_frames(const struct frame_run *r, const struct want *w, int err, const char *what,
              size_t split)
{
	cr_assert_eq(r->err, err, "%s %zu: error %s, want %s", what, split,
	             slc_frame_error_str(r->err), slc_frame_error_str(err));
	cr_assert_eq(r->n_frames, w->n, "%s %zu: %u frames, want %u", what, split, r->n_frames,
	             w->n);
	cr_assert_str_eq(r->chunks, w->chunks ? w->chunks : "", "%s %zu: chunks", what, split);
	for (uint32_t i = 0; i < w->n; i++) {
		struct slc_forward_entry e;

		cr_assert_eq(r->lens[i], w->f[i].n, "%s %zu: frame %u of %u bytes, want %zu", what,
		             split, i, r->lens[i], w->f[i].n);
		cr_assert_arr_eq(r->bytes + r->offs[i], w->f[i].b, w->f[i].n, "%s %zu: frame %u",
		                 what, split, i);
		cr_expect_eq(slc_forward_entry_decode(r->bytes + r->offs[i], r->lens[i], &e), 0,
		             "frame %u decodes", i);
	}
}

/* The input gives w and err in one chunk (every entry zero-copy), and the same in every
 * 2-way split, with bursts of 1 and 64 pieces, and fed 1, 2 or 3 bytes at a time. */
static void
expect_any_split_mode(uint32_t max_frame, bool skip, const struct mp *in, const struct want *w,
                      int err, bool mid)
{
	static const uint32_t bursts[] = {1, 64};
	struct frame_run r;

	run(&r, max_frame, skip, in, NULL, 0, 64);
	expect_frames(&r, w, err, "whole", 0);
	cr_expect_eq(r.n_whole, r.n_frames, "one chunk: every entry in one piece");
	cr_expect_eq(r.mid_frame, mid, "mid_frame %d, want %d", r.mid_frame, mid);
	frame_run_fini(&r);
	for (size_t k = 1; k < in->n; k++) {
		for (size_t b = 0; b < 2; b++) {
			uint32_t sizes[] = {(uint32_t)k, 0};

			run(&r, max_frame, skip, in, sizes, 2, bursts[b]);
			expect_frames(&r, w, err, "split at", k);
			cr_expect_eq(r.mid_frame, mid);
			frame_run_fini(&r);
		}
	}
	for (uint32_t step = 1; step <= 3; step++) {
		for (size_t b = 0; b < 2; b++) {
			run(&r, max_frame, skip, in, &step, 1, bursts[b]);
			expect_frames(&r, w, err, "bytes at a time", step);
			frame_run_fini(&r);
		}
	}
}

static void
expect_any_split(uint32_t max_frame, const struct mp *in, const struct want *w, int err)
{
	expect_any_split_mode(max_frame, false, in, w, err, false);
}

/* ---- the modes ----------------------------------------------------------------------- */

Test(forward, names)
{
	enum slc_frame_format f;

	cr_expect_eq(slc_frame_format_parse("forward", &f), 0);
	cr_expect_eq(f, SLC_FRAME_FORWARD);
	cr_expect_str_eq(slc_frame_error_str(SLC_FRAME_ERR_FORWARD_SHAPE), "forward_shape");
	cr_expect_str_eq(slc_frame_error_str(SLC_FRAME_ERR_MSGPACK), "msgpack");
}

Test(forward, message_mode_with_and_without_option)
{
	struct mp in = {0};
	struct want w = {0};
	struct mp *f;

	/* [tag, time, record] */
	f = want_next(&w);
	mp_uint(f, 1700000000);
	record(f, "one");
	mp_arr(&in, 3);
	mp_str(&in, "app.web");
	mp_cat(&in, f);
	/* [tag, EventTime, record, {"chunk": "..."}] */
	f = want_next(&w);
	mp_evt(f, 1700000001, 123456789, false);
	record(f, "two");
	mp_arr(&in, 4);
	mp_str(&in, "app.web");
	mp_cat(&in, f);
	mp_map(&in, 1);
	mp_str(&in, "chunk");
	mp_str(&in, "p8n9gmxTQVC8/nh2wlKKeQ==");
	w.chunks = "p8n9gmxTQVC8/nh2wlKKeQ==|";
	/* a nil option */
	f = want_next(&w);
	mp_uint(f, 5);
	record(f, "three");
	mp_arr(&in, 4);
	mp_str(&in, "t");
	mp_cat(&in, f);
	mp_put(&in, (const uint8_t[]){0xc0}, 1);
	expect_any_split(1024, &in, &w, 0);
}

Test(forward, forward_mode)
{
	struct mp in = {0};
	struct want w = {0};

	mp_arr(&in, 3);
	mp_str(&in, "app.db");
	mp_arr(&in, 4);
	for (uint32_t i = 0; i < 4; i++) {
		struct mp *f = want_next(&w);

		if (i == 2)
			mp_evt(f, 1700000000 + i, i * 1000, i & 1);
		else
			mp_uint(f, 1700000000 + i);
		record(f, i == 3 ? "" : "entry");
		mp_arr(&in, 2); /* the entry's header: not in the frame */
		mp_cat(&in, f);
	}
	mp_map(&in, 0);
	/* and one without entries or option */
	mp_arr(&in, 2);
	mp_str(&in, "empty");
	mp_arr(&in, 0);
	expect_any_split(1024, &in, &w, 0);
}

static void
packed(struct mp *in, struct want *w, uint32_t n, bool as_str, bool option)
{
	struct mp bin = {0};

	for (uint32_t i = 0; i < n; i++) {
		struct mp *f = want_next(w);

		mp_evt(f, 1700000000 + i, 999999999 - i, i & 1);
		record(f, "packed");
		mp_arr(&bin, 2);
		mp_cat(&bin, f);
	}
	mp_arr(in, option ? 3 : 2);
	mp_str(in, "app.packed");
	if (as_str)
		mp_put_be(in, 0xda, bin.n, 2);
	else
		mp_bin_hdr(in, (uint32_t)bin.n);
	mp_cat(in, &bin);
	if (option) {
		mp_map(in, 2);
		mp_str(in, "size");
		mp_uint(in, n);
		mp_str(in, "chunk");
		mp_str(in, "abc");
	}
}

Test(forward, packed_forward_bin_and_str)
{
	struct mp in = {0};
	struct want w = {0};

	packed(&in, &w, 5, false, true);
	packed(&in, &w, 3, true, false);
	packed(&in, &w, 0, false, true);
	w.chunks = "abc|abc|";
	expect_any_split(1024, &in, &w, 0);
}

Test(forward, mid_frame_only_inside_a_message)
{
	struct mp in = {0};
	struct want w = {0};
	struct frame_run r;
	uint32_t n;

	packed(&in, &w, 2, false, true);
	n = (uint32_t)in.n;
	run(&r, 1024, false, &in, NULL, 0, 64);
	cr_expect_not(r.mid_frame, "a whole message ends between messages");
	frame_run_fini(&r);
	/* every proper prefix leaves it inside a message */
	for (uint32_t k = 1; k < n; k++) {
		struct mp part = {0};

		mp_put(&part, in.b, k);
		run(&r, 1024, false, &part, NULL, 0, 64);
		cr_expect(r.mid_frame, "prefix of %u bytes", k);
		frame_run_fini(&r);
	}
}

/* ---- time ---------------------------------------------------------------------------- */

Test(forward, entry_decode_reads_time_and_record)
{
	struct mp a = {0}, b = {0}, c = {0};
	struct slc_forward_entry e;

	mp_evt(&a, 1700000000, 42, false);
	record(&a, "x");
	cr_assert_eq(slc_forward_entry_decode(a.b, (uint32_t)a.n, &e), 0);
	cr_expect_eq(e.sec, 1700000000);
	cr_expect_eq(e.nsec, 42);
	cr_expect_eq(e.record, a.b + 10);
	cr_expect_eq(e.record_len, a.n - 10);
	mp_evt(&b, 7, 8, true);
	record(&b, "x");
	cr_assert_eq(slc_forward_entry_decode(b.b, (uint32_t)b.n, &e), 0);
	cr_expect_eq(e.sec, 7);
	cr_expect_eq(e.nsec, 8);
	mp_uint(&c, 5000000000ull);
	record(&c, "x");
	cr_assert_eq(slc_forward_entry_decode(c.b, (uint32_t)c.n, &e), 0);
	cr_expect_eq(e.sec, 5000000000ull);
	cr_expect_eq(e.nsec, 0);
	/* not entries: a record missing, one too many, a line of text, a truncation */
	cr_expect_eq(slc_forward_entry_decode(c.b, 9, &e), -EINVAL);
	cr_expect_eq(slc_forward_entry_decode(c.b, (uint32_t)c.n - 1, &e), -EINVAL);
	cr_expect_eq(slc_forward_entry_decode((const uint8_t *)"hello\n", 6, &e), -EINVAL);
	mp_put(&c, (const uint8_t[]){0xc0}, 1);
	cr_expect_eq(slc_forward_entry_decode(c.b, (uint32_t)c.n, &e), -EINVAL);
}

/* A message [tag, time, record] whose time is the bytes t. */
static void
bad_time(const uint8_t *t, size_t n)
{
	struct mp in = {0};
	struct want w = {0};

	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_put(&in, t, n);
	record(&in, "x");
	expect_any_split(1024, &in, &w, SLC_FRAME_ERR_FORWARD_TIME);
}

Test(forward, times_that_are_not_times)
{
	bad_time((const uint8_t[]){0xca, 0, 0, 0, 0}, 5);                    /* float */
	bad_time((const uint8_t[]){0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 10);    /* ext type 1 */
	bad_time((const uint8_t[]){0xd6, 0, 0, 0, 0, 0}, 6);                 /* ext of 4 */
	bad_time((const uint8_t[]){0xc7, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 11); /* ext8 of 9 */
	bad_time((const uint8_t[]){0xd0, 0x80}, 2);                          /* signed */
	bad_time((const uint8_t[]){0xff}, 1);                                /* negative */
}

/* ---- hostile input ------------------------------------------------------------------- */

/* A good message, then the bytes bad: its entry arrives, then the error. */
static void
good_then(const uint8_t *bad, size_t n, int err)
{
	struct mp in = {0};
	struct want w = {0};
	struct mp *f = want_next(&w);

	mp_uint(f, 1);
	record(f, "before");
	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_cat(&in, f);
	mp_put(&in, bad, n);
	expect_any_split(1024, &in, &w, err);
}

Test(forward, hostile_shapes)
{
	good_then((const uint8_t *)"hello\n", 6, SLC_FRAME_ERR_FORWARD_SHAPE); /* text */
	good_then((const uint8_t[]){0xc1}, 1, SLC_FRAME_ERR_MSGPACK);
	good_then((const uint8_t[]){0x91, 0xa1, 't'}, 3, SLC_FRAME_ERR_FORWARD_SHAPE);
	good_then((const uint8_t[]){0x95}, 1, SLC_FRAME_ERR_FORWARD_SHAPE);
	good_then((const uint8_t[]){0x80}, 1, SLC_FRAME_ERR_FORWARD_SHAPE);
	/* a tag that is not a str */
	good_then((const uint8_t[]){0x93, 0x01, 0x01, 0x80}, 4, SLC_FRAME_ERR_FORWARD_SHAPE);
	/* Message mode with no record; Forward with two options */
	good_then((const uint8_t[]){0x92, 0xa1, 't', 0x01}, 4, SLC_FRAME_ERR_FORWARD_SHAPE);
	good_then((const uint8_t[]){0x94, 0xa1, 't', 0x90}, 4, SLC_FRAME_ERR_FORWARD_SHAPE);
	/* a second element that is a map */
	good_then((const uint8_t[]){0x92, 0xa1, 't', 0x80}, 4, SLC_FRAME_ERR_FORWARD_SHAPE);
	/* an entry that is not [time, record] */
	good_then((const uint8_t[]){0x92, 0xa1, 't', 0x91, 0x93}, 5, SLC_FRAME_ERR_FORWARD_SHAPE);
	good_then((const uint8_t[]){0x92, 0xa1, 't', 0x91, 0x01}, 5, SLC_FRAME_ERR_FORWARD_SHAPE);
	/* a record that is not a map */
	good_then((const uint8_t[]){0x93, 0xa1, 't', 0x01, 0x91, 0x01}, 6,
	          SLC_FRAME_ERR_FORWARD_SHAPE);
	/* an option that is neither map nor nil */
	good_then((const uint8_t[]){0x93, 0xa1, 't', 0x90, 0xa1, 'x'}, 6,
	          SLC_FRAME_ERR_FORWARD_SHAPE);
	/* a bad byte deep in a record */
	good_then((const uint8_t[]){0x93, 0xa1, 't', 0x01, 0x81, 0x91, 0xc1}, 7,
	          SLC_FRAME_ERR_MSGPACK);
}

Test(forward, packed_entries_must_fill_their_bin)
{
	struct mp in = {0};
	struct want w = {0};
	struct mp e = {0};

	/* the bin says 3 bytes; its one entry takes more */
	mp_arr(&e, 2);
	mp_uint(&e, 1);
	record(&e, "x");
	mp_arr(&in, 2);
	mp_str(&in, "t");
	mp_bin_hdr(&in, 3);
	mp_cat(&in, &e);
	expect_any_split(1024, &in, &w, SLC_FRAME_ERR_FORWARD_SHAPE);
	/* a bin of garbage */
	in.n = 0;
	mp_arr(&in, 2);
	mp_str(&in, "t");
	mp_bin_hdr(&in, 2);
	mp_put(&in, (const uint8_t[]){0x01, 0x02}, 2);
	expect_any_split(1024, &in, &w, SLC_FRAME_ERR_FORWARD_SHAPE);
}

/* ---- CompressedPackedForward --------------------------------------------------------- */

static void expect_tags_any_split(uint32_t max_frame, const struct mp *in, const struct want *w,
                                  int err);

/* [tag, bin, option]: n entries (into w, times from t0) as `members` gzip members one after
 * another, the option {"compressed": "gzip"} and, given one, the chunk. */
static void
compressed(struct mp *in, struct want *w, uint32_t t0, uint32_t n, uint32_t members,
           const char *chunk)
{
	static struct mp part, gz;

	gz.n = 0;
	for (uint32_t m = 0; m < members; m++) {
		part.n = 0;
		for (uint32_t i = m * n / members; i < (m + 1) * n / members; i++) {
			struct mp *f = want_next(w);

			mp_evt(f, t0 + i, i, i & 1);
			record(f, "zipped");
			mp_arr(&part, 2);
			mp_cat(&part, f);
		}
		mp_gzip(&gz, part.b, part.n);
	}
	mp_compressed_msg(in, "app.gz", &gz, chunk);
}

/* A compressed bin's entries come out of its inflated bytes, between what came before and
 * after it, whole and in order, with its chunk after them; one or several members; every
 * split of the stream; with tag pieces, its tag before them. */
Test(forward, compressed_packed_forward_entries_come_from_the_inflated_bin)
{
	struct mp in = {0};
	struct want w = {0};

	packed(&in, &w, 3, false, true);             /* entries 0..2, chunk abc */
	compressed(&in, &w, 1700000100, 5, 1, "z1"); /* 3..7 */
	compressed(&in, &w, 1700000200, 4, 2, NULL); /* 8..11, two members */
	mp_arr(&in, 3);                              /* a Message after: 12 */
	mp_str(&in, "after");
	mp_uint(want_next(&w), 9);
	record(&w.f[w.n - 1], "after");
	mp_cat(&in, &w.f[w.n - 1]);
	w.chunks = "abc|z1|";
	expect_any_split(1024, &in, &w, 0);
	w.chunks = "#app.packed@0|abc|#app.gz@3|z1|#app.gz@8|#after@12|";
	expect_tags_any_split(1024, &in, &w, 0);
}

/* An empty gzip member is a bin of no entries: the message goes on to its option. */
Test(forward, compressed_bin_of_no_entries)
{
	struct mp in = {0};
	struct want w = {0};

	compressed(&in, &w, 1, 0, 1, "e");
	w.chunks = "e|";
	expect_any_split(1024, &in, &w, 0);
}

/* A message before each bad compressed bin; it is delivered, then the error. */
static void
bad_bin(const uint8_t *bin, size_t len, int err)
{
	struct mp in = {0};
	struct want w = {0};
	struct mp *f = want_next(&w);

	mp_arr(&in, 3);
	mp_str(&in, "before");
	mp_uint(f, 1);
	record(f, "kept");
	mp_cat(&in, f);
	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_bin_hdr(&in, (uint32_t)len);
	mp_put(&in, bin, len);
	mp_map(&in, 1);
	mp_str(&in, "compressed");
	mp_str(&in, "gzip");
	expect_any_split(1024, &in, &w, err);
}

Test(forward, compressed_bins_that_are_refused)
{
	static struct mp gz, plain;
	uint8_t *zeros = calloc(1, 2 * FRAME_RUN_GZIP_MAX);
	struct mp entry = {0};

	cr_assert_not_null(zeros);
	/* gzip's magic, then not gzip; a member cut short */
	bad_bin((const uint8_t[]){0x1f, 0x8b, 0x08, 0x00}, 4, SLC_FRAME_ERR_FORWARD_GZIP);
	bad_bin((const uint8_t[]){0x1f, 0x8b, 0xff, 0xff, 0xff, 0xff}, 6,
	        SLC_FRAME_ERR_FORWARD_GZIP);
	mp_uint(&entry, 1);
	record(&entry, "cut");
	mp_arr(&plain, 2);
	mp_cat(&plain, &entry);
	mp_gzip(&gz, plain.b, plain.n);
	bad_bin(gz.b, gz.n - 5, SLC_FRAME_ERR_FORWARD_GZIP);
	/* a bomb: a few KiB that inflate past the bound */
	gz.n = 0;
	mp_gzip(&gz, zeros, 2 * FRAME_RUN_GZIP_MAX);
	cr_assert_lt(gz.n, 8192);
	bad_bin(gz.b, gz.n, SLC_FRAME_ERR_FORWARD_INFLATED);
	/* gzip inside the inflated bytes: no nesting */
	gz.n = 0;
	mp_gzip(&gz, (const uint8_t[]){0x1f, 0x8b, 0x08, 0x00}, 4);
	bad_bin(gz.b, gz.n, SLC_FRAME_ERR_FORWARD_COMPRESSED);
	/* inflated bytes that are not entries; entries that run past the inflated bin */
	gz.n = 0;
	mp_gzip(&gz, "hello", 5);
	bad_bin(gz.b, gz.n, SLC_FRAME_ERR_FORWARD_SHAPE);
	gz.n = 0;
	mp_gzip(&gz, plain.b, plain.n - 1);
	bad_bin(gz.b, gz.n, SLC_FRAME_ERR_FORWARD_SHAPE);
	free(zeros);
}

/* gzip after entries of a bin is no compressed bin: refused, the entry before it kept. */
Test(forward, gzip_after_entries_of_a_bin_is_refused)
{
	struct mp in = {0};
	struct want w = {0};
	struct mp *f = want_next(&w);

	mp_uint(f, 1);
	record(f, "first");
	mp_arr(&in, 2);
	mp_str(&in, "t");
	mp_bin_hdr(&in, (uint32_t)(1 + f->n + 2));
	mp_arr(&in, 2);
	mp_cat(&in, f);
	mp_put(&in, (const uint8_t[]){0x1f, 0x8b}, 2);
	expect_any_split(1024, &in, &w, SLC_FRAME_ERR_FORWARD_COMPRESSED);
}

Test(forward, oversize_entries_tags_and_options)
{
	struct mp in = {0};
	struct want w = {0};
	struct mp *f = want_next(&w);
	char big[200];

	/* the first entry fits max_frame, the second does not */
	mp_uint(f, 1);
	record(f, "ok");
	cr_assert_leq(f->n, 40);
	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_arr(&in, 2);
	mp_arr(&in, 2);
	mp_cat(&in, f);
	mp_arr(&in, 2);
	mp_uint(&in, 2);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	record(&in, big);
	mp_map(&in, 0);
	expect_any_split(40, &in, &w, SLC_FRAME_ERR_OVERSIZE);

	/* a tag or an option longer than max_frame */
	w.n = 0;
	in.n = 0;
	mp_arr(&in, 2);
	mp_str(&in, big);
	expect_any_split(40, &in, &w, SLC_FRAME_ERR_OVERSIZE);
	in.n = 0;
	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_arr(&in, 0);
	mp_map(&in, 1);
	mp_str(&in, "k");
	mp_str(&in, big);
	expect_any_split(40, &in, &w, SLC_FRAME_ERR_OVERSIZE);
	/* ... its key too, the stream's last bytes: read while matched against "chunk", and
	 * bounded all the same, whether they come in one piece or many (fuzz_forward found an
	 * option cut after such a key refused when split, not when whole) */
	in.n = 0;
	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_arr(&in, 0);
	mp_map(&in, 2);
	mp_str(&in, "k");
	big[33] = '\0';
	mp_str(&in, big); /* 38 bytes of the option so far, the next key's header 39 */
	big[33] = 'x';
	mp_str(&in, "xhunk"); /* a key of "chunk"'s length: matched, and 44 */
	expect_any_split(40, &in, &w, SLC_FRAME_ERR_OVERSIZE);

	/* a record that claims more objects than max_frame bytes could hold: at its header */
	in.n = 0;
	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_uint(&in, 1);
	mp_map(&in, 0x7fffffff);
	expect_any_split(40, &in, &w, SLC_FRAME_ERR_OVERSIZE);
}

Test(forward, skip_mode_drops_an_oversize_entry_and_goes_on)
{
	struct mp in = {0};
	struct want w = {0};
	struct mp *a = want_next(&w);
	struct mp *b;
	char big[200];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mp_uint(a, 1);
	record(a, "a");
	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_arr(&in, 3);
	mp_arr(&in, 2);
	mp_cat(&in, a);
	mp_arr(&in, 2);
	mp_uint(&in, 2);
	record(&in, big);
	b = want_next(&w);
	mp_uint(b, 3);
	record(b, "b");
	mp_arr(&in, 2);
	mp_cat(&in, b);
	mp_map(&in, 0);
	expect_any_split_mode(40, true, &in, &w, 0, false);
}

Test(forward, object_len_finds_whole_objects_only)
{
	struct mp m = {0};

	record(&m, "abc");
	cr_expect_eq(slc_forward_object_len(m.b, (uint32_t)m.n), m.n);
	for (uint32_t k = 0; k < m.n; k++)
		cr_expect_eq(slc_forward_object_len(m.b, k), 0, "prefix %u", k);
	cr_expect_eq(slc_forward_object_len((const uint8_t[]){0xc1}, 1), 0);
	/* a count far beyond the bytes */
	cr_expect_eq(slc_forward_object_len((const uint8_t[]){0xdd, 0xff, 0xff, 0xff, 0xff}, 5), 0);
}

/* ---- the chunk option ---------------------------------------------------------------- */

/* [tag, [[1, {}]], option]: the option's bytes from o. */
static void
with_option(struct mp *in, struct want *w, const struct mp *o)
{
	struct mp *f = want_next(w);

	mp_uint(f, 1);
	mp_map(f, 0);
	mp_arr(in, 3);
	mp_str(in, "t");
	mp_arr(in, 1);
	mp_arr(in, 2);
	mp_cat(in, f);
	mp_cat(in, o);
}

Test(forward, chunk_is_the_top_level_chunk_key_of_the_option)
{
	struct mp in = {0}, o = {0};
	struct want w = {0};
	char long_id[41];

	memset(long_id, 'L', 40);
	long_id[40] = '\0';
	/* after another key */
	mp_map(&o, 2);
	mp_str(&o, "size");
	mp_uint(&o, 1);
	mp_str(&o, "chunk");
	mp_str(&o, "one");
	with_option(&in, &w, &o);
	/* before another key, with a nested "chunk" that is not the option's */
	o.n = 0;
	mp_map(&o, 3);
	mp_str(&o, "meta");
	mp_map(&o, 2);
	mp_str(&o, "chunk");
	mp_str(&o, "nested");
	mp_str(&o, "list");
	mp_arr(&o, 2);
	mp_str(&o, "chunk");
	mp_str(&o, "x");
	mp_str(&o, "chunk");
	mp_str(&o, long_id);
	mp_str(&o, "chunky");
	mp_str(&o, "not a chunk");
	with_option(&in, &w, &o);
	/* keys like it, a value that is "chunk": no chunk */
	o.n = 0;
	mp_map(&o, 2);
	mp_str(&o, "chunks");
	mp_str(&o, "chunk");
	mp_str(&o, "chunx");
	mp_str(&o, "y");
	with_option(&in, &w, &o);
	/* Message mode, the chunk the last bytes of the message */
	mp_arr(&in, 4);
	mp_str(&in, "t");
	mp_cat(&in, &w.f[0]);
	mp_map(&in, 1);
	mp_str(&in, "chunk");
	mp_str(&in, "last");
	w.f[w.n] = w.f[0];
	w.n++;
	w.chunks = "one|LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL|last|";
	expect_any_split(1024, &in, &w, 0);
}

/* An option o after a good message whose chunk is "ok": refused as shape. */
static void
bad_chunk(const struct mp *o)
{
	struct mp in = {0}, good = {0};
	struct want w = {0};

	mp_map(&good, 1);
	mp_str(&good, "chunk");
	mp_str(&good, "ok");
	with_option(&in, &w, &good);
	mp_arr(&in, 3);
	mp_str(&in, "t");
	mp_arr(&in, 0);
	mp_cat(&in, o);
	w.chunks = "ok|";
	expect_any_split(1024, &in, &w, SLC_FRAME_ERR_FORWARD_SHAPE);
}

Test(forward, chunks_that_are_refused)
{
	struct mp o = {0};
	char big[66];

	memset(big, 'b', 65);
	big[65] = '\0';
	mp_map(&o, 1);
	mp_str(&o, "chunk");
	mp_str(&o, big);
	bad_chunk(&o); /* over SLC_FORWARD_CHUNK_MAX */
	o.n = 0;
	mp_map(&o, 1);
	mp_str(&o, "chunk");
	mp_str(&o, "");
	bad_chunk(&o); /* empty */
	o.n = 0;
	mp_map(&o, 1);
	mp_str(&o, "chunk");
	mp_uint(&o, 7);
	bad_chunk(&o); /* not a str */
	o.n = 0;
	mp_map(&o, 2);
	mp_str(&o, "chunk");
	mp_str(&o, "a");
	mp_str(&o, "chunk");
	mp_str(&o, "b");
	bad_chunk(&o); /* twice */
}

/* ---- the tag as a key (slc_frame_parser_tag_key) ------------------------------------- */

/* With tag pieces, the input gives w (whose chunks hold "#tag@N|" too) and err in one
 * chunk, in every 2-way split with bursts of 1 and 64, and a byte at a time. */
static void
expect_tags_any_split(uint32_t max_frame, const struct mp *in, const struct want *w, int err)
{
	static const uint32_t bursts[] = {1, 64};
	const uint32_t one = 1;
	struct frame_run r;
	int rc;

	for (size_t k = 0; k <= in->n; k++) {
		for (size_t b = 0; b < 2; b++) {
			uint32_t sizes[] = {(uint32_t)k, 0};
			const uint32_t *sz = k == in->n ? &one : k != 0 ? sizes : NULL;
			size_t nsz = k == in->n ? 1 : k != 0 ? 2 : 0;

			rc = frame_run_feed_tags(&r, SLC_FRAME_FORWARD, max_frame, in->b, in->n, sz,
			                         nsz, bursts[b]);
			cr_assert_eq(rc, 0, "%s (rc %d)", r.violation, rc);
			expect_frames(&r, w, err, "tags, split at", k);
			frame_run_fini(&r);
		}
	}
}

/* Each message's tag comes out before its entries, in every mode; an empty tag too; a
 * message's chunk after them, as without tags. */
Test(forward, tag_pieces_name_each_message_before_its_entries)
{
	static const char long_tag[] = "service.with.a.rather.long.tag.name.xyz"; /* str8 */
	struct mp in = {0};
	struct want w = {0};

	for (uint32_t i = 0; i < 2; i++) { /* Message mode */
		struct mp *f = want_next(&w);

		mp_arr(&in, 3);
		mp_str(&in, "app.web");
		mp_uint(f, 1700000000 + i);
		record(f, "web");
		mp_cat(&in, f);
	}
	mp_arr(&in, 2); /* Forward mode, an empty tag */
	mp_str(&in, "");
	mp_arr(&in, 2);
	for (uint32_t i = 0; i < 2; i++) {
		struct mp *f = want_next(&w);

		mp_uint(f, 1700000100 + i);
		record(f, "empty");
		mp_arr(&in, 2);
		mp_cat(&in, f);
	}
	packed(&in, &w, 3, false, true); /* "app.packed", chunk "abc" */
	mp_arr(&in, 4);                  /* Message mode with an option, a str8 tag */
	mp_str(&in, long_tag);
	mp_uint(want_next(&w), 7);
	record(&w.f[w.n - 1], "long");
	mp_cat(&in, &w.f[w.n - 1]);
	mp_put(&in, (const uint8_t[]){0xc0}, 1);
	w.chunks = "#app.web@0|#app.web@1|#@2|#app.packed@4|abc|"
	           "#service.with.a.rather.long.tag.name.xyz@7|";
	cr_assert_gt(strlen(long_tag), 31);
	expect_tags_any_split(1024, &in, &w, 0);
}

/* A tag longer than max_frame is refused as without tag pieces, and no tag comes out. */
Test(forward, tag_pieces_of_an_oversize_tag)
{
	struct mp in = {0};
	struct want w = {0};
	char big[100];

	memset(big, 't', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mp_arr(&in, 3);
	mp_str(&in, big);
	mp_uint(&in, 1);
	record(&in, "x");
	expect_tags_any_split(40, &in, &w, SLC_FRAME_ERR_OVERSIZE);
}
