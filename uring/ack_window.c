/* SPDX-License-Identifier: MIT */
/* ack_window.c: the acknowledgement window of one len32+ack connection (ack_window.h). */
#include "ack_window.h"

#include <string.h>

const char *
slc_ack_error_str(enum slc_ack_error e)
{
	static const char *const names[SLC_ACK_ERR__COUNT] = {
	        [SLC_ACK_ERR_SHORT] = "short",   [SLC_ACK_ERR_ZERO] = "zero",
	        [SLC_ACK_ERR_GAP] = "gap",       [SLC_ACK_ERR_REPEAT] = "repeat",
	        [SLC_ACK_ERR_WINDOW] = "window", [SLC_ACK_ERR_WRAP] = "wrap",
	};

	return (unsigned)e < SLC_ACK_ERR__COUNT ? names[e] : "unknown";
}

void
slc_ack_window_init(struct slc_ack_window *w, uint64_t *bits, uint32_t size)
{
	w->bits = bits;
	w->size = size;
	slc_ack_window_reset(w);
}

void
slc_ack_window_reset(struct slc_ack_window *w)
{
	memset(w->bits, 0, (size_t)slc_ack_window_words(w->size) * sizeof(uint64_t));
	w->base = w->next = w->sent = 0;
	w->started = w->spent = false;
}

/*
 * The walk stops at next: a frame done and then given back by a rewind (an empty frame is
 * done as soon as it is taken) keeps its bit, so that taking it again does not count it
 * twice, but base must not pass it before it is taken again.
 */
void
slc_ack_window_advance(struct slc_ack_window *w)
{
	for (;;) {
		uint32_t i = (uint32_t)w->base & (w->size - 1), b = i & 63;
		uint64_t word = w->bits[i >> 6] >> b, run_mask;
		uint64_t taken = w->next - w->base;
		uint32_t run;

		if ((word & 1) == 0 || taken == 0)
			return;
		run = ~word == 0 ? 64 : (uint32_t)__builtin_ctzll(~word);
		if (run > taken)
			run = (uint32_t)taken;
		run_mask = run == 64 ? ~0ull : ((1ull << run) - 1) << b;
		w->bits[i >> 6] &= ~run_mask;
		w->base += run;
	}
}

bool
slc_ack_window_due(struct slc_ack_window *w, uint64_t *ack, uint64_t *frames)
{
	if (!w->started || w->base - 1 == w->sent)
		return false;
	*frames = w->base - 1 - w->sent;
	w->sent = w->base - 1;
	*ack = w->sent;
	return true;
}
