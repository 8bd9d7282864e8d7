/* SPDX-License-Identifier: MIT */
/* claim.h: a sink's worker slots, one owner each between worker_open and worker_close.
 * Included by the sinks only; control plane (open and close), never per message. */
#ifndef SLC_ENGINE_SINKS_CLAIM_H
#define SLC_ENGINE_SINKS_CLAIM_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Claims slot `worker` of claimed[0..slots) and returns a zeroed worker of `size` bytes.
 * NULL with *err: -EINVAL (worker >= slots), -EBUSY (the slot has an owner), -ENOMEM
 * (nothing claimed then).
 */
static inline void *
slc_sink_worker_claim(_Atomic bool *claimed, uint32_t slots, uint32_t worker, size_t size, int *err)
{
	void *w;

	if (worker >= slots) {
		*err = -EINVAL;
		return NULL;
	}
	/* A1: pairs with R1 in slc_sink_worker_unclaim: the previous owner's last counter
	 * updates (and files) are done before this owner starts. */
	if (atomic_exchange_explicit(&claimed[worker], true, memory_order_acquire)) {
		*err = -EBUSY;
		return NULL;
	}
	w = calloc(1, size);
	if (w == NULL) {
		atomic_store_explicit(&claimed[worker], false, memory_order_release);
		*err = -ENOMEM;
	}
	return w;
}

/* Frees w (what slc_sink_worker_claim returned; its parts are the caller's) and gives
 * slot `worker` back. Last: nothing of the old owner is touched after it. */
static inline void
slc_sink_worker_unclaim(_Atomic bool *claimed, uint32_t worker, void *w)
{
	free(w);
	/* R1: pairs with A1 in slc_sink_worker_claim. */
	atomic_store_explicit(&claimed[worker], false, memory_order_release);
}

#endif
