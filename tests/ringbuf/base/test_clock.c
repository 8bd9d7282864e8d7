/* SPDX-License-Identifier: MIT */
/* test_clock.c: the clocks of base/clock.h read what they name, in nanoseconds. */
#include <criterion/criterion.h>
#include <time.h>

#include "base/clock.h"

#define MS 1000000ull

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0) {
	}
}

Test(clock, timespec_ns_counts_seconds_and_nanoseconds)
{
	struct timespec ts = {.tv_sec = 3, .tv_nsec = 999999999};

	cr_expect_eq(slc_timespec_ns(&ts), 3999999999ull);
	ts.tv_sec = 100000000; /* some 3 years of uptime: no overflow */
	ts.tv_nsec = 1;
	cr_expect_eq(slc_timespec_ns(&ts), 100000000000000001ull);
}

Test(clock, timespec_from_ns_is_the_inverse)
{
	struct timespec ts = slc_timespec_from_ns(3999999999ull);

	cr_expect_eq(ts.tv_sec, 3);
	cr_expect_eq(ts.tv_nsec, 999999999);
	ts = slc_timespec_from_ns(0);
	cr_expect(ts.tv_sec == 0 && ts.tv_nsec == 0);
	ts = slc_timespec_from_ns(100000000000000001ull);
	cr_expect_eq(slc_timespec_ns(&ts), 100000000000000001ull);
}

Test(clock, mono_never_goes_back_and_counts_a_sleep)
{
	uint64_t prev = slc_mono_ns(), t0;

	cr_expect_gt(prev, 0u);
	for (int i = 0; i < 100000; i++) {
		uint64_t now = slc_mono_ns();

		cr_assert_geq(now, prev, "read %d went back", i);
		prev = now;
	}
	t0 = slc_mono_ns();
	sleep_ms(20);
	cr_expect_geq(slc_mono_ns() - t0, 20 * MS, "a 20 ms sleep");
}

Test(clock, coarse_trails_mono_by_a_tick_at_most)
{
	uint64_t prev = slc_mono_coarse_ns();

	for (int i = 0; i < 1000; i++) {
		uint64_t coarse = slc_mono_coarse_ns();
		uint64_t mono = slc_mono_ns(); /* read second: never before coarse */

		cr_assert_geq(coarse, prev, "read %d went back", i);
		cr_expect_leq(coarse, mono, "%llu after mono", (unsigned long long)(coarse - mono));
		/* the last tick's value: behind by one jiffy (10 ms at HZ=100), plus whatever
		 * preemption came between the two reads on a busy machine */
		cr_expect_lt(mono - coarse, 250 * MS, "%llu before mono",
		             (unsigned long long)(mono - coarse));
		prev = coarse;
	}
}

Test(clock, thread_cpu_counts_work_not_sleep)
{
	uint64_t cpu0 = slc_thread_cpu_ns(), wall0, cpu, wall, spin_end;
	volatile uint64_t sink = 0;

	cr_expect_gt(cpu0, 0u, "a thread that runs has used some CPU");
	sleep_ms(50);
	cpu = slc_thread_cpu_ns() - cpu0;
	cr_expect_lt(cpu, 20 * MS, "%llu ns of CPU in a 50 ms sleep", (unsigned long long)cpu);

	/* Spin for 30 ms of wall time: the thread's clock moves, by no more than the wall's
	 * (a shared CPU may run others meanwhile, so not by as much). */
	cpu0 = slc_thread_cpu_ns();
	wall0 = slc_mono_ns();
	spin_end = wall0 + 30 * MS;
	while (slc_mono_ns() < spin_end)
		sink = sink + 1;
	cpu = slc_thread_cpu_ns() - cpu0;
	wall = slc_mono_ns() - wall0;
	cr_expect_gt(cpu, 0u);
	cr_expect_leq(cpu, wall + 1 * MS, "cpu %llu, wall %llu", (unsigned long long)cpu,
	              (unsigned long long)wall);
	cpu = slc_thread_cpu_ns();
	cr_expect_geq(slc_process_cpu_ns(), cpu,
	              "the process has used at least what this thread has");
}
