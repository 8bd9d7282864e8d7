/* SPDX-License-Identifier: MIT */
/* bufring.c: the reactor's provided-buffer rings: their memory, registration and filling. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "numa.h"
#include "reactor_priv.h"

/*
 * Two buffer groups, registered with the reactor's ring: 0 for TCP (cfg.buffers of
 * cfg.buffer_size bytes, incremental consumption where the kernel has it: one buffer
 * takes the bytes of many receives), 1 for UDP (one datagram per buffer: recvmsg does not
 * consume incrementally). A buffer is the kernel's while it sits in the ring; a completion
 * hands it to us with its bytes, and buf_unref (reactor_priv.h) gives it back when its
 * last reference goes. Buffers given back are published to the kernel in one step per
 * loop (bufring_commit).
 */

void *
slc_bufring_region_alloc(struct slc_reactor *r, size_t len)
{
	void *p;

	if (r->cfg.topo != NULL)
		return slc_numa_alloc_onnode(r->cfg.topo, len, r->cfg.node);
	/* Populated now: a first-touch fault inside the kernel's copy into a receive buffer
	 * costs far more than this, and would land in the first seconds of traffic. */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
	         0);
	return p == MAP_FAILED ? NULL : p;
}

void
slc_bufring_region_free(struct slc_reactor *r, void *p, size_t len)
{
	if (p == NULL)
		return;
	if (r->cfg.topo != NULL)
		slc_numa_free(r->cfg.topo, p, len);
	else
		munmap(p, len);
}

/* Registers a provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring). */
struct io_uring_buf_ring *
slc_bufring_register(struct slc_reactor *r, uint32_t entries, uint16_t bgid, uint16_t flags,
                     size_t *len, int *err)
{
	struct io_uring_buf_reg reg = {0};
	struct io_uring_buf_ring *br;

	*len = (size_t)entries * sizeof(struct io_uring_buf);
	br = slc_bufring_region_alloc(r, *len);
	if (br == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	io_uring_buf_ring_init(br);
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = entries;
	reg.bgid = bgid;
	reg.pad = flags; /* "flags" in newer headers: IOU_PBUF_RING_INC */
	*err = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (*err != 0) {
		slc_bufring_region_free(r, br, *len);
		return NULL;
	}
	return br;
}

int
slc_bufring_setup(struct slc_reactor *r, char *refused, size_t refused_size, size_t *rl)
{
	int rc;

	/* TCP buffer ring, incremental if the kernel takes it. */
	r->tcp_br = NULL;
	if (!(r->cfg.features_off & SLC_REACTOR_F_INC)) {
		r->tcp_br = slc_bufring_register(r, r->tcp_nbufs, 0, IOU_PBUF_RING_INC,
		                                 &r->tcp_br_len, &rc);
		if (r->tcp_br != NULL) {
			r->features |= SLC_REACTOR_F_INC;
		} else {
			snprintf(refused + *rl, refused_size - *rl,
			         "no incremental buffers (6.12): %s ", strerror(-rc));
			*rl = strlen(refused);
		}
	}
	if (r->tcp_br == NULL) {
		r->tcp_br = slc_bufring_register(r, r->tcp_nbufs, 0, 0, &r->tcp_br_len, &rc);
		if (r->tcp_br == NULL)
			return rc;
	}
	r->udp_br = slc_bufring_register(r, r->udp_nbufs, 1, 0, &r->udp_br_len, &rc);
	if (r->udp_br == NULL)
		return rc;
	for (uint32_t b = 0; b < r->tcp_nbufs; b++)
		tcp_buf_give(r, b);
	for (uint32_t b = 0; b < r->udp_nbufs; b++)
		udp_buf_give(r, b);
	bufring_commit(r);
	return 0;
}
