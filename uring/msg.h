/* SPDX-License-Identifier: MIT */
/* msg.h: the message descriptor that travels from a reactor through the rings to a worker. */
#ifndef SLC_URING_MSG_H
#define SLC_URING_MSG_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/clock.h" /* slc_mono_ns, the clock of recv_ns; callers of msg.h use it */

/*
 * A message is not copied: it points into the reactor's receive buffer (or, for a frame
 * that straddled two buffers, into a reassembly buffer). The bytes stay valid until the
 * message's ref is released (slc_reactor_release). 32 bytes, two to a cache line.
 */
struct slc_msg {
	const uint8_t *data;
	uint32_t len;
	uint32_t key_hash; /* set by the router; 0 from the reactor */
	uint64_t recv_ns;  /* CLOCK_MONOTONIC when the reactor saw the bytes */
	uint32_t conn;     /* reactor-local connection id; SLC_MSG_CONN_UDP | listener for UDP;
	                      SLC_MSG_CONN_ACK | id for acknowledged delivery */
	uint32_t ref;      /* (reactor id << 24) | buffer reference: what release gives back */
};

static_assert(sizeof(struct slc_msg) == 32, "two descriptors per cache line");

#define SLC_MSG_CONN_UDP 0x80000000u
#define SLC_MSG_REF_MASK 0x00ffffffu

/*
 * Acknowledged delivery (docs/protocol.md, framing len32+ack). The message is the frame's
 * payload; the frame's 64-bit sequence number is not a field (the descriptor is full) but
 * the 8 bytes right before data, big-endian, which the reactor keeps in the same buffer
 * (slc_msg_ack_seq reads them). They stay valid, like data, until the message is released,
 * and whoever holds it must hand it to slc_reactor_ack() before releasing it: the reactor
 * acknowledges a frame only once it has come back that way, and reuses a closed
 * connection's id only once all of its frames have.
 */
#define SLC_MSG_CONN_ACK     0x40000000u
#define SLC_MSG_CONN_ID_MASK 0x00ffffffu
/* Bits 24..27 of a TCP message's conn: its QoS class (uring/qos.h), index + 1, 0: none.
 * Reserved: only the reactor sets them (the workers lower the class's in-flight count by
 * them); the embedding API (slc_pool_submit) refuses a message that carries them. */
#define SLC_MSG_CONN_QOS_SHIFT 24
#define SLC_MSG_CONN_QOS_MASK  0x0f000000u

/*
 * A forward entry (framing=forward, uring/forward.h) is acknowledged delivery too, with
 * SLC_MSG_CONN_ACK, but it has no sequence number: its message's chunk is acknowledged
 * once every entry handed over on its connection has come back, which the reactor counts.
 * slc_msg_ack_seq() gives 0 for it, and runs of a connection's entries are counted whole.
 */
#define SLC_MSG_CONN_FWD 0x20000000u

static inline bool
slc_msg_is_ack(const struct slc_msg *m)
{
	return (m->conn & (SLC_MSG_CONN_UDP | SLC_MSG_CONN_ACK)) == SLC_MSG_CONN_ACK;
}

/* Only for a message with slc_msg_is_ack(). */
static inline uint64_t
slc_msg_ack_seq(const struct slc_msg *m)
{
	const uint8_t *p = m->data - 8;

	if (m->conn & SLC_MSG_CONN_FWD)
		return 0;

	return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
	       (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
	       (uint64_t)p[6] << 8 | p[7];
}

#endif /* SLC_URING_MSG_H */
