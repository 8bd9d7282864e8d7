/* SPDX-License-Identifier: MIT */
/* base/assert.h: SLC_ASSERT, checked in debug and sanitizer builds, free in release ones. */
#ifndef SLC_BASE_ASSERT_H
#define SLC_BASE_ASSERT_H

/*
 * SLC_ASSERT(cond) states a pre- or postcondition that no input can break, only a bug.
 * Debug and sanitizer builds (SLC_DEBUG, set per target by CMake) check it and abort with
 * file, line and the condition on stderr; release builds compile it away, so it may sit on
 * the hot path. cond must have no side effect: release builds do not evaluate it.
 * For conditions an input can break, return -EINVAL (or the like) instead.
 */
#ifdef SLC_DEBUG
#include <stdio.h>
#include <stdlib.h>
#define SLC_ASSERT(cond)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
			        #cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)
#else
#define SLC_ASSERT(cond) ((void)0)
#endif

#endif /* SLC_BASE_ASSERT_H */
