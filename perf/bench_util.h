/* SPDX-License-Identifier: MIT */
/* bench_util.h: what every benchmark repeats: the monotonic clock, medians, pinned threads. */
#ifndef SLC_PERF_BENCH_UTIL_H
#define SLC_PERF_BENCH_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"

/* CLOCK_MONOTONIC in ns (base/clock.h); async-signal-safe. Inline, as each benchmark's own
 * copy was: bench_ring reads it around its measured loops. */
static inline uint64_t
bench_now_ns(void)
{
	return slc_mono_ns();
}

/* qsort's comparison of two doubles, ascending. */
static inline int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v in place; the median of its n > 0 values (the mean of the middle two for even n). */
static inline double
bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Starts fn(arg) pinned to CPU cpu (< 0: not pinned). Returns 0 or pthread_create's error
 * number (the caller says who failed, and gives up). */
static inline int
bench_thread_create(pthread_t *tid, int cpu, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	err = pthread_create(tid, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}

#endif /* SLC_PERF_BENCH_UTIL_H */
