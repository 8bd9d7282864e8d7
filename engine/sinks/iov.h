/* SPDX-License-Identifier: MIT */
/* iov.h: going on after a short writev/sendmsg; included by the sinks only. Inline: it
 * sits in the workers' write and send loops. */
#ifndef SLC_ENGINE_SINKS_IOV_H
#define SLC_ENGINE_SINKS_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Drops the first n bytes (n: what the kernel took, at most the sum of the lengths) from
 * iov[0..*cnt) and returns the first iovec with bytes left; *cnt counts from it. Cannot
 * fail.
 */
static inline struct iovec *
slc_sink_iov_advance(struct iovec *iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		iov->iov_base = (uint8_t *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	return iov;
}

#endif
