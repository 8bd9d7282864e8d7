/* SPDX-License-Identifier: MIT */
/* test_qos.c: a QoS class's room: its cap, its weighted share while others are active, its tag. */
#include <criterion/criterion.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "qos.h"

#define MS 1000000ull

static struct slc_qos q;

/* gold 4, silver 2, bronze 1 over 700 slots; nothing active, nothing in flight. */
static void
setup(void)
{
	memset(&q, 0, sizeof(q));
	q.n = 3;
	q.capacity = 700;
	q.c[0].weight = 4;
	q.c[1].weight = 2;
	q.c[2].weight = 1;
}

Test(qos, a_class_alone_is_not_limited, .init = setup)
{
	cr_expect_eq(slc_qos_room(&q, 2, 1000 * MS), UINT32_MAX);
	slc_qos_took(&q, 2, 5000, 1000 * MS);
	cr_expect_eq(slc_qos_room(&q, 2, 1000 * MS), UINT32_MAX, "its own activity is no other's");
}

Test(qos, max_inflight_caps_what_is_in_flight, .init = setup)
{
	q.c[1].max_inflight = 10;
	cr_expect_eq(slc_qos_room(&q, 1, 0), 10);
	slc_qos_took(&q, 1, 7, 5 * MS);
	cr_expect_eq(slc_qos_room(&q, 1, 5 * MS), 3);
	slc_qos_took(&q, 1, 3, 5 * MS);
	cr_expect_eq(slc_qos_room(&q, 1, 5 * MS), 0);
	atomic_fetch_sub(&q.c[1].inflight, 4); /* the workers released 4 */
	cr_expect_eq(slc_qos_room(&q, 1, 5 * MS), 4);
}

/* While gold is active, bronze may hold 700 * 1 / (1 + 4) = 140; with silver too, 100. */
Test(qos, the_weighted_share_while_others_are_active, .init = setup)
{
	uint64_t now = 10000 * MS;

	slc_qos_took(&q, 0, 1, now);
	cr_expect_eq(slc_qos_room(&q, 2, now), 140);
	slc_qos_took(&q, 2, 100, now);
	cr_expect_eq(slc_qos_room(&q, 2, now), 40);
	slc_qos_took(&q, 1, 1, now);
	cr_expect_eq(slc_qos_room(&q, 2, now), 0, "700 / 7 = 100, all in flight");
	cr_expect_eq(slc_qos_room(&q, 0, now), 400 - 1, "gold: 700 * 4 / 7, one in flight");
	/* Gold and silver fall silent for longer than SLC_QOS_ACTIVE_NS: bronze is alone. */
	cr_expect_eq(slc_qos_room(&q, 2, now + SLC_QOS_ACTIVE_NS), UINT32_MAX);
}

Test(qos, a_share_rounded_to_nothing_is_one, .init = setup)
{
	q.capacity = 3;
	slc_qos_took(&q, 0, 1, 50 * MS);
	cr_expect_eq(slc_qos_room(&q, 2, 50 * MS), 1, "3 * 1 / 5 = 0 would wedge bronze");
}

Test(qos, more_released_than_counted_reads_as_none_in_flight, .init = setup)
{
	q.c[0].max_inflight = 5;
	atomic_fetch_sub(&q.c[0].inflight, 3); /* a worker released before the reactor counted */
	cr_expect_eq(slc_qos_room(&q, 0, 0), 5);
}

Test(qos, the_class_rides_in_the_conn_bits)
{
	uint32_t conn = 12345 | 3u << SLC_MSG_CONN_QOS_SHIFT | 0x40000000u;

	cr_expect_eq(slc_qos_of(conn), 3);
	cr_expect_eq(slc_qos_of(12345), 0);
	cr_expect_eq(slc_qos_of(0x80000000u | 7), 0, "a datagram has no class");
	cr_expect_eq(conn & 0x00ffffffu, 12345, "the connection id is intact");
}

/* With several reactors, another reactor may store a last_ns newer than this reactor's
 * now_ns (its clock read came later): that class is active, not 584 years idle. */
Test(qos, a_last_newer_than_now_counts_as_active, .init = setup)
{
	uint64_t now = 10000 * MS;

	slc_qos_took(&q, 0, 1, now + 3); /* gold, on a reactor whose clock is ahead */
	cr_expect_eq(slc_qos_room(&q, 2, now), 140, "bronze keeps to 700 * 1 / 5");
	slc_qos_took(&q, 1, 1, now + SLC_QOS_ACTIVE_NS * 1000);
	cr_expect_eq(slc_qos_room(&q, 2, now), 100, "however far ahead: 700 * 1 / 7");
}
