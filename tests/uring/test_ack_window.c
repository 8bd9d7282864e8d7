/* SPDX-License-Identifier: MIT */
/* test_ack_window.c: the ack window of len32+ack as a pure state machine: no socket, no ring. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "ack_window.h"

/* The end-to-end behaviour (greeting, acks on the wire, pauses) is test_reactor_ack.c's. */

static uint64_t bits[SLC_ACK_WINDOW_MAX / 64];

static struct slc_ack_window
window(uint32_t size)
{
	struct slc_ack_window w;

	memset(bits, 0xa5, sizeof(bits)); /* init must clear what it uses */
	slc_ack_window_init(&w, bits, size);
	return w;
}

/* Takes frames first .. first + n - 1, which must all be taken. */
static void
take_run(struct slc_ack_window *w, uint64_t first, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(slc_ack_window_take(w, first + i), SLC_ACK_TAKEN, "seq %llu",
		             (unsigned long long)(first + i));
}

/* The acknowledgement due, which must be want and cover frames frames. */
static void
expect_due(struct slc_ack_window *w, uint64_t want, uint64_t frames)
{
	uint64_t ack = 0, n = 0;

	cr_assert(slc_ack_window_due(w, &ack, &n), "no ack due, expected %llu",
	          (unsigned long long)want);
	cr_expect_eq(ack, want, "ack %llu, expected %llu", (unsigned long long)ack,
	             (unsigned long long)want);
	cr_expect_eq(n, frames, "it acknowledges %llu frames, expected %llu", (unsigned long long)n,
	             (unsigned long long)frames);
}

static void
expect_nothing_due(struct slc_ack_window *w)
{
	uint64_t ack = 0, n = 0;

	cr_expect_not(slc_ack_window_due(w, &ack, &n), "ack %llu due", (unsigned long long)ack);
}

Test(ack_window, error_strings_name_every_error)
{
	cr_expect_str_eq(slc_ack_error_str(SLC_ACK_ERR_SHORT), "short");
	cr_expect_str_eq(slc_ack_error_str(SLC_ACK_ERR_ZERO), "zero");
	cr_expect_str_eq(slc_ack_error_str(SLC_ACK_ERR_GAP), "gap");
	cr_expect_str_eq(slc_ack_error_str(SLC_ACK_ERR_REPEAT), "repeat");
	cr_expect_str_eq(slc_ack_error_str(SLC_ACK_ERR_WINDOW), "window");
	cr_expect_str_eq(slc_ack_error_str(SLC_ACK_ERR_WRAP), "wrap");
	cr_expect_str_eq(slc_ack_error_str(SLC_ACK_ERR__COUNT), "unknown");
}

Test(ack_window, nothing_is_due_before_the_first_frame)
{
	struct slc_ack_window w = window(8);

	expect_nothing_due(&w);
	slc_ack_window_advance(&w);
	expect_nothing_due(&w);
	cr_expect(slc_ack_window_settled(&w));
}

Test(ack_window, in_order_completions_ack_each_step)
{
	struct slc_ack_window w = window(8);

	take_run(&w, 5, 3);
	cr_expect_not(slc_ack_window_settled(&w));
	expect_nothing_due(&w); /* the window starts at 5: 4 is "acknowledged" already */
	for (uint64_t s = 5; s < 8; s++) {
		cr_expect(slc_ack_window_mark(&w, s));
		slc_ack_window_advance(&w);
		expect_due(&w, s, 1);
		expect_nothing_due(&w); /* once */
	}
	cr_expect(slc_ack_window_settled(&w));
}

Test(ack_window, acks_are_cumulative_once_the_front_is_done)
{
	struct slc_ack_window w = window(8);

	take_run(&w, 1, 4);
	cr_expect(slc_ack_window_mark(&w, 3));
	cr_expect(slc_ack_window_mark(&w, 4));
	slc_ack_window_advance(&w);
	expect_nothing_due(&w); /* frame 1 holds the rest back */
	cr_expect(slc_ack_window_mark(&w, 2));
	slc_ack_window_advance(&w);
	expect_nothing_due(&w);
	cr_expect(slc_ack_window_mark(&w, 1));
	slc_ack_window_advance(&w);
	expect_due(&w, 4, 4);
}

Test(ack_window, marks_outside_the_window_are_not_news)
{
	struct slc_ack_window w = window(8);

	take_run(&w, 10, 2);
	cr_expect_not(slc_ack_window_mark(&w, 9));  /* before base */
	cr_expect_not(slc_ack_window_mark(&w, 12)); /* not taken yet */
	cr_expect(slc_ack_window_mark(&w, 10));
	cr_expect_not(slc_ack_window_mark(&w, 10)); /* twice */
}

Test(ack_window, the_first_frame_starts_the_window_and_0_is_refused)
{
	struct slc_ack_window w = window(8);

	cr_expect_eq(slc_ack_window_take(&w, 0), SLC_ACK_ERR_ZERO);
	cr_expect_not(w.started);
	cr_expect_eq(slc_ack_window_take(&w, 1000), SLC_ACK_TAKEN);
	cr_expect_eq(w.base, 1000);
	cr_expect_eq(w.next, 1001);
}

Test(ack_window, gaps_repeats_and_a_full_window_are_refused)
{
	struct slc_ack_window w = window(4);

	take_run(&w, 1, 4);
	cr_expect_eq(slc_ack_window_take(&w, 7), SLC_ACK_ERR_GAP);
	cr_expect_eq(slc_ack_window_take(&w, 4), SLC_ACK_ERR_REPEAT);
	cr_expect_eq(slc_ack_window_take(&w, 0), SLC_ACK_ERR_REPEAT);
	cr_expect_eq(slc_ack_window_take(&w, 5), SLC_ACK_ERR_WINDOW);
	cr_expect_eq(w.next, 5, "a refused frame leaves the window alone");
	/* Acknowledged frames free the window: counted from base, not from the start. */
	cr_expect(slc_ack_window_mark(&w, 1));
	slc_ack_window_advance(&w);
	expect_due(&w, 1, 1);
	take_run(&w, 5, 1);
	cr_expect_eq(slc_ack_window_take(&w, 6), SLC_ACK_ERR_WINDOW);
}

Test(ack_window, base_walks_across_bitmap_words)
{
	struct slc_ack_window w = window(256);

	take_run(&w, 60, 200);
	for (uint64_t s = 259; s >= 61; s--)
		cr_expect(slc_ack_window_mark(&w, s));
	slc_ack_window_advance(&w);
	expect_nothing_due(&w);
	cr_expect(slc_ack_window_mark(&w, 60));
	slc_ack_window_advance(&w);
	expect_due(&w, 259, 200);
	cr_expect(slc_ack_window_settled(&w));
	/* The bits are clear again for the next lap of the bitmap. */
	take_run(&w, 260, 256);
	cr_expect(slc_ack_window_mark(&w, 515));
	slc_ack_window_advance(&w);
	expect_nothing_due(&w);
}

Test(ack_window, a_held_frame_is_not_taken_again)
{
	struct slc_ack_window w = window(8);

	/* A burst of 3..6; deliver took 3, and 4 was a reassembled frame kept aside (held):
	 * the next frame to come is 5. */
	take_run(&w, 3, 4);
	slc_ack_window_rewind(&w, 4);     /* the frames from 4 on were not taken */
	slc_ack_window_rewind(&w, 4 + 1); /* but 4 is held: it was handed over */
	cr_expect_eq(slc_ack_window_take(&w, 4), SLC_ACK_ERR_REPEAT);
	take_run(&w, 5, 2);
	cr_expect(slc_ack_window_mark(&w, 3));
	cr_expect(slc_ack_window_mark(&w, 4));
	slc_ack_window_advance(&w);
	expect_due(&w, 4, 2);
}

Test(ack_window, a_rewind_takes_the_same_frames_again)
{
	struct slc_ack_window w = window(8);

	take_run(&w, 1, 5);
	slc_ack_window_rewind(&w, 3);
	cr_expect_eq(w.next, 3);
	cr_expect_eq(slc_ack_window_take(&w, 5), SLC_ACK_ERR_GAP);
	take_run(&w, 3, 3);
}

Test(ack_window, an_empty_frame_is_counted_once_across_a_rewind)
{
	struct slc_ack_window w = window(8);

	/* An empty frame is done when it is parsed; a pause parses it again. */
	take_run(&w, 1, 2);
	cr_expect(slc_ack_window_mark(&w, 2), "news the first time");
	slc_ack_window_rewind(&w, 2);
	take_run(&w, 2, 1);
	cr_expect_not(slc_ack_window_mark(&w, 2), "not news the second time");
	cr_expect(slc_ack_window_mark(&w, 1));
	slc_ack_window_advance(&w);
	expect_due(&w, 2, 2);
}

Test(ack_window, nothing_follows_the_last_sequence_number)
{
	struct slc_ack_window w = window(8);

	take_run(&w, UINT64_MAX - 2, 3);
	cr_expect(w.spent);
	cr_expect_eq(slc_ack_window_take(&w, 0), SLC_ACK_ERR_WRAP);
	cr_expect_eq(slc_ack_window_take(&w, 1), SLC_ACK_ERR_WRAP);
	cr_expect_eq(slc_ack_window_take(&w, UINT64_MAX), SLC_ACK_ERR_WRAP,
	             "wrap before repeat: the client must reconnect");
	for (uint64_t s = UINT64_MAX - 2; s != 0; s++)
		cr_expect(slc_ack_window_mark(&w, s));
	slc_ack_window_advance(&w);
	expect_due(&w, UINT64_MAX, 3);
	cr_expect(slc_ack_window_settled(&w));
}

Test(ack_window, a_window_may_start_at_the_last_sequence_number)
{
	struct slc_ack_window w = window(8);

	take_run(&w, UINT64_MAX, 1);
	cr_expect_eq(w.sent, UINT64_MAX - 1);
	cr_expect(slc_ack_window_mark(&w, UINT64_MAX));
	slc_ack_window_advance(&w);
	cr_expect_eq(w.base, 0, "base wraps past 2^64 - 1");
	expect_due(&w, UINT64_MAX, 1);
	cr_expect_eq(slc_ack_window_take(&w, 0), SLC_ACK_ERR_WRAP);
}

Test(ack_window, a_rewind_to_the_last_sequence_number_resets_spent)
{
	struct slc_ack_window w = window(8);

	/* A pause before 2^64 - 1 was taken: it comes again, and is no wrap. */
	take_run(&w, UINT64_MAX - 1, 2);
	slc_ack_window_rewind(&w, UINT64_MAX);
	cr_expect_not(w.spent);
	take_run(&w, UINT64_MAX, 1);
	cr_expect(w.spent);
	/* A pause after 2^64 - 1 was handed over (held): next wrapped to 0, still spent. */
	slc_ack_window_rewind(&w, UINT64_MAX + 1);
	cr_expect(w.spent);
	cr_expect_eq(slc_ack_window_take(&w, 0), SLC_ACK_ERR_WRAP);
}

Test(ack_window, reset_starts_a_new_connection)
{
	struct slc_ack_window w = window(8);

	take_run(&w, UINT64_MAX, 1);
	cr_expect(slc_ack_window_mark(&w, UINT64_MAX));
	slc_ack_window_reset(&w);
	cr_expect_not(w.started);
	cr_expect_not(w.spent);
	expect_nothing_due(&w);
	take_run(&w, 7, 1);
	cr_expect(slc_ack_window_mark(&w, 7), "the old bit is gone");
}

/*
 * A pause after a kept-aside frame R (10) and an empty frame E (11) that came in the same
 * burst: E is done as soon as it is taken (nothing to deliver), then the rewind gives it
 * back. When R completes before E is parsed again, base must stop at E (next): passing it
 * put base beyond next, and E, taken again, was refused as a full window, closing the
 * connection as a protocol error.
 */
Test(ack_window, base_stops_at_a_rewound_empty_frame)
{
	struct slc_ack_window w = window(64);

	take_run(&w, 10, 2);
	cr_assert(slc_ack_window_mark(&w, 11)); /* E: empty, done when taken */
	slc_ack_window_rewind(&w, 11);          /* the pause: E comes again */
	cr_assert(slc_ack_window_mark(&w, 10)); /* R delivered */
	slc_ack_window_advance(&w);
	cr_expect_eq(w.base, 11, "base %llu, next %llu", (unsigned long long)w.base,
	             (unsigned long long)w.next);
	expect_due(&w, 10, 1);
	cr_assert_eq(slc_ack_window_take(&w, 11), SLC_ACK_TAKEN);
	cr_expect_not(slc_ack_window_mark(&w, 11), "E is counted once");
	slc_ack_window_advance(&w);
	expect_due(&w, 11, 1);
	cr_expect(slc_ack_window_settled(&w));
}
