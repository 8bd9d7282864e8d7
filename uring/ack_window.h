/* SPDX-License-Identifier: MIT */
/* ack_window.h: the acknowledgement window of one len32+ack connection, a pure state machine. */
#ifndef SLC_URING_ACK_WINDOW_H
#define SLC_URING_ACK_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Acknowledged delivery (framing len32+ack; docs/protocol.md byte by byte) checks every
 * frame's 64-bit sequence number and acknowledges cumulatively what became durable. This
 * is that bookkeeping alone, over sequence numbers: no socket, no io_uring, no allocation
 * (the caller provides the bitmap), so that tests drive it directly. The reactor keeps one
 * per acknowledged connection (uring/conn_ack.c does the sending).
 *
 *      acked (durable, ack sent or due)  done, not yet contiguous   in flight   free
 *   ...........................)[ base ..................................)[ next .... base+W)
 *
 *   take s:     the first s != 0 starts the window at s (a first 0 is SLC_ACK_ERR_ZERO);
 *               then s == next and s - base < W is taken, next = s + 1; anything else is
 *               refused: a gap, a repeat, the window full, or any frame after 2^64 - 1
 *               (sequence numbers never wrap)
 *   mark s:     frame s (taken) is done: bit s & (W - 1) is set
 *   advance:    base moves over the done frames at its front
 *   due:        base - 1 is the acknowledgement to send, once, when it moved
 *   rewind s:   frames from s on were not handed over after all and come again
 *
 * Frames [base, next) are taken and not yet contiguous with what is done; since
 * next - base <= W, each bit of the W-bit bitmap stands for exactly one of them. A bit at
 * or past next is set only for a frame that was done and then given back by a rewind (an
 * empty frame): base never passes next, and taking the frame again does not count it again.
 */

/* Why an acknowledged connection broke the protocol (docs/protocol.md): one counter each. */
enum slc_ack_error {
	SLC_ACK_ERR_SHORT,  /* a frame shorter than its 8-byte sequence number */
	SLC_ACK_ERR_ZERO,   /* the first frame's sequence number is 0 */
	SLC_ACK_ERR_GAP,    /* a sequence number past the next one */
	SLC_ACK_ERR_REPEAT, /* a sequence number before the next one */
	SLC_ACK_ERR_WINDOW, /* W frames not yet acknowledged, and one more */
	SLC_ACK_ERR_WRAP,   /* a frame after sequence number 2^64 - 1 */
	SLC_ACK_ERR__COUNT
};

/* What slc_ack_window_take returns for a frame it took (not an error). */
#define SLC_ACK_TAKEN SLC_ACK_ERR__COUNT

/* "short", "zero", "gap", "repeat", "window", "wrap"; "unknown" if out of range. */
const char *slc_ack_error_str(enum slc_ack_error e);

/* Bounds of the window W (slc_reactor_cfg.ack_window). */
#define SLC_ACK_WINDOW_DEFAULT 1024u
#define SLC_ACK_WINDOW_MAX     65536u

struct slc_ack_window {
	uint64_t base;  /* the oldest frame taken and not done; base - 1 is acknowledgeable */
	uint64_t next;  /* the sequence number the next frame must carry */
	uint64_t sent;  /* the last acknowledgement slc_ack_window_due handed out */
	uint64_t *bits; /* size bits (caller's memory): bit s & (size - 1) is frame s, done */
	uint32_t size;  /* W: a power of two, at most SLC_ACK_WINDOW_MAX */
	bool started;   /* the first frame came: base, next and sent are set */
	bool spent;     /* frame 2^64 - 1 was taken: nothing may follow it */
};

/* 64-bit words of bitmap a window of size frames needs. */
static inline uint32_t
slc_ack_window_words(uint32_t size)
{
	return (size + 63) / 64;
}

/* Readies w for a new connection, over bits (slc_ack_window_words(size) words). size must
 * be a power of two up to SLC_ACK_WINDOW_MAX (the caller checks). */
void slc_ack_window_init(struct slc_ack_window *w, uint64_t *bits, uint32_t size);

/* Forgets everything: the next frame starts the window again (a new connection). */
void slc_ack_window_reset(struct slc_ack_window *w);

/*
 * Checks frame seq and takes it: returns SLC_ACK_TAKEN, or why it is refused (SLC_ACK_ERR_
 * ZERO, _WRAP, _GAP, _REPEAT, _WINDOW, in that order of precedence), w then unchanged but
 * for a first non-zero seq, which starts the window whatever follows. Per frame, hence
 * inline.
 */
static inline enum slc_ack_error
slc_ack_window_take(struct slc_ack_window *w, uint64_t seq)
{
	if (!w->started && seq != 0) {
		w->started = true;
		w->base = w->next = seq;
		w->sent = seq - 1;
	}
	if (!w->started)
		return SLC_ACK_ERR_ZERO;
	if (w->spent)
		return SLC_ACK_ERR_WRAP;
	if (seq > w->next)
		return SLC_ACK_ERR_GAP;
	if (seq < w->next)
		return SLC_ACK_ERR_REPEAT;
	if (seq - w->base >= w->size)
		return SLC_ACK_ERR_WINDOW;
	w->next = seq + 1;
	w->spent = seq == UINT64_MAX;
	return SLC_ACK_TAKEN;
}

/*
 * Frame seq is done; true when that is news. Only frames in [base, next) have a bit:
 * anything else is already accounted for, and so is a bit already set (a frame without
 * payload taken again after a rewind, which must not be counted twice).
 */
static inline bool
slc_ack_window_mark(struct slc_ack_window *w, uint64_t seq)
{
	uint32_t i;
	uint64_t bit;

	if (seq - w->base >= w->next - w->base)
		return false;
	i = (uint32_t)seq & (w->size - 1);
	bit = 1ull << (i & 63);
	if (w->bits[i >> 6] & bit)
		return false;
	w->bits[i >> 6] |= bit;
	return true;
}

/* True when every frame taken is done and acknowledgeable (nothing in flight). */
static inline bool
slc_ack_window_settled(const struct slc_ack_window *w)
{
	return w->next == w->base;
}

/* Moves base over the done frames at its front, a word of the bitmap at a time. */
void slc_ack_window_advance(struct slc_ack_window *w);

/*
 * The acknowledgement due: true when base moved since the last one, with *ack = base - 1
 * and *frames the number of frames it acknowledges that the last one did not; it counts as
 * sent from then on. False before the first frame and when nothing moved.
 */
bool slc_ack_window_due(struct slc_ack_window *w, uint64_t *ack, uint64_t *frames);

/*
 * The frames from seq on were not handed over (a pause) and will be taken again: next
 * becomes seq. seq 0 means that frame 2^64 - 1 was handed over (next wrapped), so nothing
 * may follow: a first frame 0 is refused, and a later 0 only follows 2^64 - 1. Inline:
 * it is on the pause path of the per-message code.
 */
static inline void
slc_ack_window_rewind(struct slc_ack_window *w, uint64_t seq)
{
	w->next = seq;
	w->spent = seq == 0;
}

#endif /* SLC_URING_ACK_WINDOW_H */
