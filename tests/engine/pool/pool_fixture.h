/* SPDX-License-Identifier: MIT */
/* pool_fixture.h: the pool set that the pool and router tests build: n pools of w workers. */
#ifndef SLC_TEST_POOL_FIXTURE_H
#define SLC_TEST_POOL_FIXTURE_H

#include <criterion/criterion.h>

#include "pool/pool.h"

/* One producer, rings of 1024 slots; stops the test when the set cannot be created. */
static inline struct slc_pool_set *
pools_new(uint32_t npools, uint32_t workers, slc_pool_handler_fn h, void *ctx)
{
	struct slc_pool_cfg cfg = {
	        .npools = npools,
	        .workers = workers,
	        .producers = 1,
	        .ring_size = 1024,
	        .handler = h,
	        .handler_ctx = ctx,
	};
	int err;
	struct slc_pool_set *s = slc_pool_set_create(&cfg, &err);

	cr_assert_not_null(s, "pool set: %d", err);
	return s;
}

#endif /* SLC_TEST_POOL_FIXTURE_H */
