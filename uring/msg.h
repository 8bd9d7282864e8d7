/* SPDX-License-Identifier: MIT */
/* msg.h: the message descriptor that travels from a reactor through the rings to a worker. */
#ifndef SLC_URING_MSG_H
#define SLC_URING_MSG_H

#include <assert.h>
#include <stdint.h>

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
	uint32_t conn;     /* reactor-local connection id; SLC_MSG_CONN_UDP | listener for UDP */
	uint32_t ref;      /* (reactor id << 24) | buffer reference: what release gives back */
};

static_assert(sizeof(struct slc_msg) == 32, "two descriptors per cache line");

#define SLC_MSG_CONN_UDP 0x80000000u
#define SLC_MSG_REF_MASK 0x00ffffffu

#endif /* SLC_URING_MSG_H */
