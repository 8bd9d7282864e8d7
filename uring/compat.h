/* SPDX-License-Identifier: MIT */
/* compat.h: the io_uring definitions that Debian's liburing 2.3 lacks and kernel 6.18 has. */
#ifndef SLC_URING_COMPAT_H
#define SLC_URING_COMPAT_H

#include <liburing.h>

/*
 * Values from the kernel's uapi io_uring.h (and liburing >= 2.7/2.8, which define them).
 * Each feature is probed at start-up (reactor.c) before it is used, and the reactor logs
 * which ones the kernel refused.
 */

/* Receive bundles, 6.10: in sqe->ioprio of a recv; one CQE covers several buffers. */
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif

/* Incremental buffer consumption, 6.12: a flag of IORING_REGISTER_PBUF_RING, which 2.3's
 * struct io_uring_buf_reg still calls "pad"; the CQE says the buffer is not used up. */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

#endif /* SLC_URING_COMPAT_H */
