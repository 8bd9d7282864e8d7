/* SPDX-License-Identifier: MIT */
/* base/compiler.h: branch hints, cache-line size and alignment, attributes (GCC and clang). */
#ifndef SLC_BASE_COMPILER_H
#define SLC_BASE_COMPILER_H

#include <stdalign.h>

/* Branch hints, for the checks on the hot path that fail once in a very long while. */
#define SLC_LIKELY(x)   __builtin_expect(!!(x), 1)
#define SLC_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * The cache line of the CPUs sluice runs on (x86-64, most arm64). Data that two threads
 * write sits on lines of its own, or they fight over the line ("false sharing"). Where an
 * adjacent-line prefetcher pulls lines in pairs, keep writers 128 bytes apart instead
 * (ring.h's SLC_RING_SIDE_GAP).
 */
#define SLC_CACHE_LINE 64
/* A member or object that starts a cache line of its own. */
#define SLC_CACHE_ALIGNED alignas(SLC_CACHE_LINE)

/* A parameter or variable that a build leaves unused (one compiled only in debug, say). */
#define SLC_UNUSED __attribute__((unused))
/* printf-style checking: fmt is the format's parameter number, args the first argument's
 * (0 for a function that takes a va_list). */
#define SLC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
/* Keeps a rare path out of its caller, and out of the caller's instruction cache. */
#define SLC_NOINLINE __attribute__((noinline))
#define SLC_COLD     __attribute__((cold))
/* For the few helpers a benchmark or a hot loop must have inlined whatever the heuristics. */
#define SLC_ALWAYS_INLINE inline __attribute__((always_inline))

#endif /* SLC_BASE_COMPILER_H */
