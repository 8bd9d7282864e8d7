/* SPDX-License-Identifier: MIT */
/* base/clock.h: the clocks sluice reads, in nanoseconds as uint64_t. */
#ifndef SLC_BASE_CLOCK_H
#define SLC_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/*
 * Every interval sluice measures (timeouts, rates, latencies, the rate limit of log lines,
 * the recv_ns of a message) is CLOCK_MONOTONIC in nanoseconds: slc_mono_ns(). The others
 * are for what they name. All are static inline: the reactor reads the clock once per loop
 * and the null sink once per batch, and a call would cost as much as the read (vDSO).
 *
 * None of them fails: clock_gettime() refuses only a clock the kernel lacks (EINVAL), and
 * Linux has had these since 2.6.32. Where it would, the thread CPU clocks return 0, which
 * the caller can tell from any real reading (a thread has run before it reads its clock).
 */

/* A timespec as nanoseconds (a tv_sec below 2^64 / 10^9, some 584 years). */
static inline uint64_t
slc_timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/* Nanoseconds as a timespec: a relative timeout (futex), or an absolute time on
 * CLOCK_MONOTONIC (clock_nanosleep, pthread_cond_timedwait with a monotonic condattr). */
static inline struct timespec
slc_timespec_from_ns(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u),
	                         .tv_nsec = (long)(ns % 1000000000u)};
}

/* CLOCK_MONOTONIC in nanoseconds: the clock of recv_ns, and of every interval sluice
 * measures (timeouts, rates, latencies). */
static inline uint64_t
slc_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return slc_timespec_ns(&ts);
}

/* slc_mono_ns() in whole milliseconds (rounded down): deadlines in tests and tools. */
static inline uint64_t
slc_mono_ms(void)
{
	return slc_mono_ns() / 1000000u;
}

/* CLOCK_MONOTONIC_COARSE: the last tick's value, a few ms behind, but a few ns a read;
 * for counts in seconds taken very often (the Kafka sink's health, per delivery report). */
static inline uint64_t
slc_mono_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return slc_timespec_ns(&ts);
}

/* The CPU time of the calling thread (user + system), or 0 if the clock is refused. */
static inline uint64_t
slc_thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return slc_timespec_ns(&ts);
}

/* The CPU time of the whole process (all its threads), or 0 if the clock is refused. */
static inline uint64_t
slc_process_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return slc_timespec_ns(&ts);
}

#endif /* SLC_BASE_CLOCK_H */
