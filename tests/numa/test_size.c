/* SPDX-License-Identifier: MIT */
/* test_size.c: the sized defaults (numa/size.c) on fixtures, CPU counts and cgroup limits. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numa.h"

#define TOPO_2N8C   SLC_FIXTURES_DIR "/topo-2n8c.xml"
#define TOPO_4N4C2T SLC_FIXTURES_DIR "/topo-4n4c2t.xml"
#define TOPO_1N2C   SLC_FIXTURES_DIR "/topo-1n2c.xml"

static struct slc_numa_plan_req
size_of(int nodes, const int *cores, double limit, int pools_max)
{
	struct slc_numa_plan_req req = {0, 0, 0};
	char why[512];
	int ret = slc_numa_size(&(struct slc_numa_size_in){nodes, cores, limit, pools_max}, &req,
	                        why, sizeof(why));

	cr_assert_eq(ret, 0, "nodes %d limit %g: %d", nodes, limit, ret);
	cr_assert(strstr(why, "sized for") != NULL, "%s", why);
	return req;
}

static void
expect_req(struct slc_numa_plan_req r, int rpn, int pools, int workers, const char *what)
{
	cr_expect_eq(r.reactors_per_node, rpn, "%s: reactors per node %d, want %d", what,
	             r.reactors_per_node, rpn);
	cr_expect_eq(r.pools, pools, "%s: pools %d, want %d", what, r.pools, pools);
	cr_expect_eq(r.workers_per_pool, workers, "%s: workers %d, want %d", what,
	             r.workers_per_pool, workers);
}

/* The build machine's layout, and the 2-CPU rule the issue asks for: --pools 1. */
Test(numa_size, two_cpus_is_one_reactor_one_pool_one_worker)
{
	int one[] = {1}, two[] = {2}, three[] = {3};

	expect_req(size_of(1, two, 0, 0), 1, 1, 1, "2 cores");
	expect_req(size_of(1, one, 0, 0), 1, 1, 1, "1 core");
	expect_req(size_of(1, three, 0, 0), 1, 1, 2, "3 cores");
}

Test(numa_size, one_reactor_per_four_cpus_and_the_rest_workers)
{
	int c4[] = {4}, c8[] = {8}, c16[] = {16}, c64[] = {64};

	expect_req(size_of(1, c4, 0, 0), 1, 1, 3, "4 cores");
	expect_req(size_of(1, c8, 0, 0), 2, 2, 3, "8 cores");
	expect_req(size_of(1, c16, 0, 0), 4, 4, 3, "16 cores");
	expect_req(size_of(1, c64, 0, 0), 16, 16, 3, "64 cores");
}

/* Every thread the rule asks for has a CPU, and at most one is left idle per pool. */
Test(numa_size, threads_never_outnumber_cpus_from_4_up)
{
	for (int n = 4; n <= 256; n++) {
		int cores[] = {n};
		struct slc_numa_plan_req r = size_of(1, cores, 0, 0);
		int threads = r.reactors_per_node + r.pools * r.workers_per_pool;

		cr_expect(threads <= n, "%d cores: %d threads", n, threads);
		cr_expect(n - threads < r.pools || r.pools * r.workers_per_pool == 256,
		          "%d cores: %d threads leave %d idle", n, threads, n - threads);
		cr_expect(r.pools * r.workers_per_pool <= SLC_NUMA_SIZE_WORKERS_MAX);
	}
}

Test(numa_size, huge_machine_stays_within_the_limits)
{
	int c[] = {1024, 1024, 1024, 1024};
	struct slc_numa_plan_req r = size_of(4, c, 0, 0);

	cr_expect_eq(r.reactors_per_node, 16); /* 64 reactors over 4 nodes */
	cr_expect_eq(r.pools, 64);
	cr_expect_eq(r.workers_per_pool, 4); /* 256 workers in all */
}

Test(numa_size, nodes_sized_by_the_smallest)
{
	int c[] = {8, 4};

	/* the flag is per node: the 4-core node gets one, so the 8-core one does too */
	expect_req(size_of(2, c, 0, 0), 1, 2, 5, "8+4 cores");
}

Test(numa_size, cgroup_limit_caps_the_cpus)
{
	int c16[] = {16}, c2x8[] = {8, 8}, c2[] = {2};

	expect_req(size_of(1, c16, 4.0, 0), 1, 1, 3, "16 cores, 4 CPUs");
	expect_req(size_of(1, c16, 4.9, 0), 1, 1, 3, "16 cores, 4.9 CPUs: rounded down");
	expect_req(size_of(1, c16, 0.5, 0), 1, 1, 1, "16 cores, half a CPU");
	expect_req(size_of(1, c16, 32, 0), 4, 4, 3, "limit above the cores: no effect");
	expect_req(size_of(1, c2, 2.0, 0), 1, 1, 1, "2 cores, 2 CPUs");
	/* 8 CPUs over two equal nodes: 4 each */
	expect_req(size_of(2, c2x8, 8, 0), 1, 2, 3, "2x8 cores, 8 CPUs");
}

Test(numa_size, pools_max_caps_auto_pools)
{
	int c16[] = {16};

	expect_req(size_of(1, c16, 0, 2), 4, 2, 6, "16 cores, at most 2 pools");
}

Test(numa_size, given_counts_are_kept_and_the_rest_follows)
{
	int c16[] = {16};
	struct slc_numa_plan_req r = {.reactors_per_node = 0, .pools = 2, .workers_per_pool = 0};
	char why[512];

	cr_assert_eq(slc_numa_size(&(struct slc_numa_size_in){1, c16, 0, 0}, &r, why, sizeof(why)),
	             0);
	expect_req(r, 4, 2, 6, "16 cores, --pools 2");
	cr_expect(strstr(why, "pools 2 (given)") != NULL, "%s", why);

	r = (struct slc_numa_plan_req){.reactors_per_node = 1, .pools = 0, .workers_per_pool = 2};
	cr_assert_eq(slc_numa_size(&(struct slc_numa_size_in){1, c16, 0, 0}, &r, NULL, 0), 0);
	expect_req(r, 1, 1, 2, "16 cores, --reactors-per-node 1 --workers 2");
}

/* --workers by hand, --pools auto: the pools never take the product past the limit (the
 * flags' own check saw pools 0 and passed; a daemon's per-worker arrays are that long). */
Test(numa_size, given_workers_cap_auto_pools)
{
	int c32[] = {32}, c1024[] = {1024};
	struct slc_numa_plan_req r = {.reactors_per_node = 0, .pools = 0, .workers_per_pool = 64};

	cr_assert_eq(slc_numa_size(&(struct slc_numa_size_in){1, c32, 0, 0}, &r, NULL, 0), 0);
	cr_expect_leq(r.pools * r.workers_per_pool, SLC_NUMA_SIZE_WORKERS_MAX, "%d x %d", r.pools,
	              r.workers_per_pool);
	expect_req(r, 8, 4, 64, "32 cores, --workers 64");
	r = (struct slc_numa_plan_req){.reactors_per_node = 0, .pools = 0, .workers_per_pool = 256};
	cr_assert_eq(slc_numa_size(&(struct slc_numa_size_in){1, c1024, 0, 0}, &r, NULL, 0), 0);
	expect_req(r, r.reactors_per_node, 1, 256, "1024 cores, --workers 256");
}

Test(numa_size, refuses_bad_input)
{
	int c[] = {4, 0}, neg[] = {-1};
	struct slc_numa_plan_req r = {0, 0, 0};
	char why[64] = "x";

	cr_expect_eq(slc_numa_size(NULL, &r, why, sizeof(why)), -EINVAL);
	cr_expect_str_empty(why);
	cr_expect_eq(slc_numa_size(&(struct slc_numa_size_in){1, c, 0, 0}, NULL, NULL, 0), -EINVAL);
	cr_expect_eq(slc_numa_size(&(struct slc_numa_size_in){0, c, 0, 0}, &r, NULL, 0), -EINVAL);
	cr_expect_eq(slc_numa_size(&(struct slc_numa_size_in){1, NULL, 0, 0}, &r, NULL, 0),
	             -EINVAL);
	cr_expect_eq(slc_numa_size(&(struct slc_numa_size_in){2, c, 0, 0}, &r, NULL, 0), -EINVAL);
	cr_expect_eq(slc_numa_size(&(struct slc_numa_size_in){1, neg, 0, 0}, &r, NULL, 0), -EINVAL);
	cr_expect_eq(slc_numa_size(&(struct slc_numa_size_in){1, c, -1, 0}, &r, NULL, 0), -EINVAL);
	cr_expect_eq(slc_numa_size(&(struct slc_numa_size_in){1, c, 0, -1}, &r, NULL, 0), -EINVAL);
	r.pools = -1;
	cr_expect_eq(slc_numa_size(&(struct slc_numa_size_in){1, c, 0, 0}, &r, NULL, 0), -EINVAL);
}

/* ---- on the hwloc fixtures ------------------------------------------------------------- */

static struct slc_numa_plan_req
size_fixture(const char *path, const char *cpus, double limit)
{
	int err = 1;
	struct slc_numa_topo *t = slc_numa_topo_create(path, &err);
	struct slc_numa_plan_req req = {0, 0, 0};
	char msg[256], why[512];

	cr_assert_not_null(t, "%s: %d", path, err);
	if (cpus != NULL)
		cr_assert_eq(slc_numa_topo_restrict(t, cpus, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(slc_numa_size_topo(t, limit, 0, &req, why, sizeof(why)), 0);
	/* what was sized is a plan the placement accepts */
	{
		struct slc_numa_plan *p = slc_numa_plan_create(t, &req, &err);

		cr_assert_not_null(p, "%s: plan %d/%d/%d: %d", path, req.reactors_per_node,
		                   req.pools, req.workers_per_pool, err);
		slc_numa_plan_destroy(p);
	}
	slc_numa_topo_destroy(t);
	return req;
}

Test(numa_size, fixture_1n2c)
{
	expect_req(size_fixture(TOPO_1N2C, NULL, 0), 1, 1, 1, "1n2c");
}

Test(numa_size, fixture_2n8c_pools_per_node)
{
	/* 2 nodes x 8 cores: 2 reactors per node, a pool per reactor, 12 workers */
	expect_req(size_fixture(TOPO_2N8C, NULL, 0), 2, 4, 3, "2n8c");
	/* --cpus leaves node 0 alone (cores 0-7): sized for those */
	expect_req(size_fixture(TOPO_2N8C, "0-7", 0), 2, 2, 3, "2n8c --cpus 0-7");
	/* a cgroup limit of 4 CPUs: 2 per node */
	expect_req(size_fixture(TOPO_2N8C, NULL, 4), 1, 2, 1, "2n8c, 4 CPUs");
}

Test(numa_size, fixture_4n4c2t_counts_cores_not_threads)
{
	/* 16 cores, 32 hardware threads: sized on the 16 cores */
	expect_req(size_fixture(TOPO_4N4C2T, NULL, 0), 1, 4, 3, "4n4c2t");
}

/* ---- cgroup limits --------------------------------------------------------------------- */

Test(numa_size, cpu_max_parse)
{
	double c = -1;

	cr_expect_eq(slc_numa_cpu_max_parse("max 100000\n", &c), 0);
	cr_expect_eq(c, 0);
	cr_expect_eq(slc_numa_cpu_max_parse("150000 100000\n", &c), 0);
	cr_expect_float_eq(c, 1.5, 1e-9);
	cr_expect_eq(slc_numa_cpu_max_parse("400000 100000", &c), 0);
	cr_expect_float_eq(c, 4.0, 1e-9);
	cr_expect_eq(slc_numa_cpu_max_parse("", &c), -EINVAL);
	cr_expect_eq(slc_numa_cpu_max_parse("max", &c), -EINVAL);
	cr_expect_eq(slc_numa_cpu_max_parse("100 0", &c), -EINVAL);
	cr_expect_eq(slc_numa_cpu_max_parse("0 100000", &c), -EINVAL);
	cr_expect_eq(slc_numa_cpu_max_parse("-5 100000", &c), -EINVAL);
	cr_expect_eq(slc_numa_cpu_max_parse("12x 100000", &c), -EINVAL);
}

static char tmp_root[64];

static void
put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp_root, rel);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void
dir(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmp_root, rel);
	cr_assert_eq(mkdir(path, 0700), 0, "%s", path);
}

static void
make_root(void)
{
	strcpy(tmp_root, "/tmp/slc-test-size-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp_root));
}

static void
remove_root(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	cr_expect_eq(system(cmd), 0);
}

static double
limit_of(void)
{
	char proc[256], mnt[256];
	double c = -1;

	snprintf(proc, sizeof(proc), "%s/self-cgroup", tmp_root);
	snprintf(mnt, sizeof(mnt), "%s/fs", tmp_root);
	cr_assert_eq(slc_numa_cgroup_cpu_limit(proc, mnt, &c), 0);
	return c;
}

Test(numa_size, cgroup_v2_smallest_of_the_ancestors, .init = make_root, .fini = remove_root)
{
	dir("fs");
	dir("fs/a");
	dir("fs/a/b");
	put("self-cgroup", "0::/a/b\n");
	put("fs/a/b/cpu.max", "max 100000\n");
	cr_expect_eq(limit_of(), 0, "no limit anywhere");
	put("fs/a/cpu.max", "300000 100000\n");
	cr_expect_float_eq(limit_of(), 3.0, 1e-9, "the parent's limit applies");
	put("fs/a/b/cpu.max", "250000 100000\n");
	cr_expect_float_eq(limit_of(), 2.5, 1e-9, "the smaller one wins");
	put("fs/a/b/cpu.max", "garbage\n");
	cr_expect_float_eq(limit_of(), 3.0, 1e-9, "an unreadable limit is none");
}

Test(numa_size, cgroup_v1_cfs_quota, .init = make_root, .fini = remove_root)
{
	dir("fs");
	dir("fs/cpu");
	dir("fs/cpu/box");
	put("self-cgroup", "5:memory:/x\n3:cpu,cpuacct:/box\n0::/\n");
	put("fs/cpu/cpu.cfs_quota_us", "-1\n");
	put("fs/cpu/cpu.cfs_period_us", "100000\n");
	put("fs/cpu/box/cpu.cfs_quota_us", "-1\n");
	put("fs/cpu/box/cpu.cfs_period_us", "100000\n");
	cr_expect_eq(limit_of(), 0, "quota -1 is no limit");
	put("fs/cpu/box/cpu.cfs_quota_us", "200000\n");
	cr_expect_float_eq(limit_of(), 2.0, 1e-9);
}

Test(numa_size, cgroup_unreadable_is_no_limit)
{
	double c = -1;

	cr_expect_eq(slc_numa_cgroup_cpu_limit("/nonexistent/cgroup", "/nonexistent", &c), -ENOENT);
	cr_expect_eq(c, 0);
	/* this machine's: whatever it is, a number of CPUs or none */
	cr_expect_eq(slc_numa_cgroup_cpu_limit("/proc/self/cgroup", "/sys/fs/cgroup", &c), 0);
	cr_expect(c >= 0);
}
