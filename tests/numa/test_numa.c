/* SPDX-License-Identifier: MIT */
/* test_numa.c: topology loading (this machine and XML fixtures) and node-local memory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#include "numa.h"

Test(numa, this_machine_has_at_least_one_node)
{
	int err = 1;
	struct slc_numa_topo *t = slc_numa_topo_create(NULL, &err);

	cr_assert_not_null(t);
	cr_expect_eq(err, 0);
	cr_expect_geq(slc_numa_node_count(t), 1);
	cr_expect_geq(slc_numa_node_core_count(t, 0), 1);
	cr_expect_eq(slc_numa_node_core_count(t, 1000), 0);
	slc_numa_topo_destroy(t);
}

Test(numa, fixture_topologies_load)
{
	int err;
	struct slc_numa_topo *t = slc_numa_topo_create(SLC_FIXTURES_DIR "/topo-2n8c.xml", &err);

	cr_assert_not_null(t, "err %d", err);
	cr_expect_eq(slc_numa_node_count(t), 2);
	cr_expect_eq(slc_numa_node_core_count(t, 0), 8);
	cr_expect_eq(slc_numa_node_core_count(t, 1), 8);
	slc_numa_topo_destroy(t);

	t = slc_numa_topo_create(SLC_FIXTURES_DIR "/topo-4n4c2t.xml", &err);
	cr_assert_not_null(t, "err %d", err);
	cr_expect_eq(slc_numa_node_count(t), 4);
	cr_expect_eq(slc_numa_node_core_count(t, 3), 4, "cores, not hardware threads");
	slc_numa_topo_destroy(t);
}

Test(numa, missing_or_bad_topology_is_refused)
{
	int err = 0;

	cr_expect_null(slc_numa_topo_create("/nonexistent/topo.xml", &err));
	cr_expect_eq(err, -ENOENT);
	cr_expect_null(slc_numa_topo_create("/etc/hostname", &err));
	cr_expect_eq(err, -EINVAL);
	slc_numa_topo_destroy(NULL);
}

Test(numa, alloc_on_node_is_zeroed_and_page_aligned)
{
	int err;
	struct slc_numa_topo *t = slc_numa_topo_create(NULL, &err);
	size_t len = 3 * 4096 + 100;
	unsigned char *p;

	cr_assert_not_null(t);
	p = slc_numa_alloc_onnode(t, len, 0);
	cr_assert_not_null(p);
	cr_expect_eq((uintptr_t)p % 4096, 0);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(p[i], 0);
	p[len - 1] = 1;
	slc_numa_free(t, p, len);
	p = slc_numa_alloc_onnode(t, 4096, -1);
	cr_assert_not_null(p);
	slc_numa_free(t, p, 4096);
	slc_numa_free(t, NULL, 0);
	slc_numa_topo_destroy(t);
}

/* On a topology read from XML the memory cannot be bound, but allocation still works. */
Test(numa, alloc_with_fixture_topology_falls_back)
{
	int err;
	struct slc_numa_topo *t = slc_numa_topo_create(SLC_FIXTURES_DIR "/topo-2n8c.xml", &err);
	void *p;

	cr_assert_not_null(t);
	p = slc_numa_alloc_onnode(t, 8192, 1);
	cr_assert_not_null(p);
	slc_numa_free(t, p, 8192);
	slc_numa_topo_destroy(t);
}
