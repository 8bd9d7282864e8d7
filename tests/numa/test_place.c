/* SPDX-License-Identifier: MIT */
/* test_place.c: usable cpus (--cpus), the placement plan and its printout, pinning. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numa.h"

#define TOPO_2N8C   SLC_FIXTURES_DIR "/topo-2n8c.xml"
#define TOPO_4N4C2T SLC_FIXTURES_DIR "/topo-4n4c2t.xml"
#define TOPO_1N2C   SLC_FIXTURES_DIR "/topo-1n2c.xml"
#define TOPO_4N2C_D SLC_FIXTURES_DIR "/topo-4n2c-dist.xml" /* 2 packages x 2 nodes, distances */

/* Cores in the fixtures are numbered below this. */
#define CORES_MAX 64

static struct slc_numa_topo *
topo_open(const char *path)
{
	int err = 1;
	struct slc_numa_topo *t = slc_numa_topo_create(path, &err);

	cr_assert_not_null(t, "%s: err %d", path ? path : "this machine", err);
	cr_assert_eq(err, 0);
	return t;
}

static struct slc_numa_plan *
plan_open(struct slc_numa_topo *t, int reactors_per_node, int pools, int workers)
{
	struct slc_numa_plan_req req = {reactors_per_node, pools, workers};
	int err = 1;
	struct slc_numa_plan *p = slc_numa_plan_create(t, &req, &err);

	cr_assert_not_null(p, "plan %d/%d/%d: err %d", reactors_per_node, pools, workers, err);
	cr_assert_eq(err, 0);
	return p;
}

/* Threads of the plan per core (logical index), checked against each place's core_threads. */
static void
plan_loads(const struct slc_numa_plan *p, int load[CORES_MAX])
{
	struct slc_numa_place pl;

	memset(load, 0, CORES_MAX * sizeof(load[0]));
	for (int r = 0; r < slc_numa_plan_reactor_count(p); r++) {
		cr_assert_eq(slc_numa_plan_reactor(p, r, &pl), 0);
		cr_assert(pl.core >= 0 && pl.core < CORES_MAX);
		load[pl.core]++;
	}
	for (int pool = 0; pool < slc_numa_plan_pool_count(p); pool++)
		for (int w = 0; w < slc_numa_plan_workers_per_pool(p); w++) {
			cr_assert_eq(slc_numa_plan_worker(p, pool, w, &pl), 0);
			cr_assert(pl.core >= 0 && pl.core < CORES_MAX);
			load[pl.core]++;
		}
	for (int r = 0; r < slc_numa_plan_reactor_count(p); r++) {
		slc_numa_plan_reactor(p, r, &pl);
		cr_expect_eq(pl.core_threads, load[pl.core], "reactor %d", r);
	}
	for (int pool = 0; pool < slc_numa_plan_pool_count(p); pool++)
		for (int w = 0; w < slc_numa_plan_workers_per_pool(p); w++) {
			slc_numa_plan_worker(p, pool, w, &pl);
			cr_expect_eq(pl.core_threads, load[pl.core], "worker %d.%d", pool, w);
		}
}

/* The workers of each pool sit on its node, on distinct cores. */
static void
expect_pools_on_distinct_cores(const struct slc_numa_plan *p)
{
	for (int pool = 0; pool < slc_numa_plan_pool_count(p); pool++) {
		bool used[CORES_MAX] = {false};
		struct slc_numa_place pl;

		for (int w = 0; w < slc_numa_plan_workers_per_pool(p); w++) {
			slc_numa_plan_worker(p, pool, w, &pl);
			cr_expect_eq(pl.node, slc_numa_plan_pool_node(p, pool), "pool %d", pool);
			cr_expect_not(used[pl.core], "pool %d: two workers on core %d", pool,
			              pl.core);
			used[pl.core] = true;
		}
	}
}

static char *
plan_print_to_string(const struct slc_numa_plan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_expect_eq(slc_numa_plan_print(p, f), 0);
	fclose(f);
	cr_assert_not_null(buf);
	return buf;
}

Test(numa, place_2n8c_reactor_per_node_and_pools_alternate)
{
	struct slc_numa_topo *t = topo_open(TOPO_2N8C);
	struct slc_numa_plan *p = plan_open(t, 1, 4, 2);
	struct slc_numa_place r0, r1, pl;
	int load[CORES_MAX];

	cr_assert_eq(slc_numa_plan_reactor_count(p), 2);
	cr_assert_eq(slc_numa_plan_reactor(p, 0, &r0), 0);
	cr_assert_eq(slc_numa_plan_reactor(p, 1, &r1), 0);
	cr_expect_eq(r0.node, 0);
	cr_expect_eq(r1.node, 1);
	cr_expect_neq(r0.core, r1.core);
	cr_expect_eq(slc_numa_plan_pool_node(p, 0), 0);
	cr_expect_eq(slc_numa_plan_pool_node(p, 1), 1);
	cr_expect_eq(slc_numa_plan_pool_node(p, 2), 0);
	cr_expect_eq(slc_numa_plan_pool_node(p, 3), 1);
	expect_pools_on_distinct_cores(p);

	plan_loads(p, load);
	for (int c = 0; c < CORES_MAX; c++)
		cr_expect_leq(load[c], 1, "core %d shared", c);
	/* One PU per core in this fixture: the PU is the core's. */
	cr_assert_eq(slc_numa_plan_worker(p, 3, 1, &pl), 0);
	cr_expect_eq(pl.pu, pl.core);
	cr_expect_geq(pl.core, 8, "node 1 holds cores 8-15");
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

Test(numa, place_4n4c2t_uses_cores_and_shares_evenly)
{
	struct slc_numa_topo *t = topo_open(TOPO_4N4C2T);
	struct slc_numa_plan *p = plan_open(t, 1, 8, 4);
	struct slc_numa_plan *again = plan_open(t, 1, 8, 4);
	int load[CORES_MAX], lo = 1 << 30, hi = 0, sum = 0;
	struct slc_numa_place a, b;

	cr_assert_eq(slc_numa_plan_reactor_count(p), 4);
	for (int pool = 0; pool < 8; pool++)
		cr_expect_eq(slc_numa_plan_pool_node(p, pool), pool % 4, "pool %d", pool);
	expect_pools_on_distinct_cores(p);

	/* 4 reactors + 32 workers on 16 cores: 9 per node of 4 cores, so 3,2,2,2. */
	plan_loads(p, load);
	for (int c = 0; c < 16; c++) {
		lo = load[c] < lo ? load[c] : lo;
		hi = load[c] > hi ? load[c] : hi;
		sum += load[c];
	}
	cr_expect_eq(sum, 36);
	cr_expect_leq(hi - lo, 1, "loads %d..%d", lo, hi);

	/* Pinned to the first PU of the core: the even one, never the sibling. */
	for (int pool = 0; pool < 8; pool++)
		for (int w = 0; w < 4; w++) {
			slc_numa_plan_worker(p, pool, w, &a);
			cr_expect_eq(a.pu, 2 * a.core, "worker %d.%d", pool, w);
		}

	/* Deterministic: the same request gives the same plan. */
	for (int r = 0; r < 4; r++) {
		slc_numa_plan_reactor(p, r, &a);
		slc_numa_plan_reactor(again, r, &b);
		cr_expect(a.core == b.core && a.pu == b.pu && a.node == b.node);
	}
	for (int pool = 0; pool < 8; pool++)
		for (int w = 0; w < 4; w++) {
			slc_numa_plan_worker(p, pool, w, &a);
			slc_numa_plan_worker(again, pool, w, &b);
			cr_expect(a.core == b.core && a.pu == b.pu && a.node == b.node);
		}
	slc_numa_plan_destroy(again);
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

/* Fewer cores than threads, as on a 2-core machine: the reactor keeps its core. */
Test(numa, place_1n2c_workers_share_and_reactor_stays_alone)
{
	struct slc_numa_topo *t = topo_open(TOPO_1N2C);
	struct slc_numa_plan *p = plan_open(t, 1, 2, 1);
	struct slc_numa_place r, w0, w1;

	cr_assert_eq(slc_numa_plan_reactor_count(p), 1);
	slc_numa_plan_reactor(p, 0, &r);
	slc_numa_plan_worker(p, 0, 0, &w0);
	slc_numa_plan_worker(p, 1, 0, &w1);
	cr_expect(r.core == 0 && r.pu == 0 && r.core_threads == 1);
	cr_expect(w0.core == 1 && w0.pu == 1 && w0.core_threads == 2);
	cr_expect(w1.core == 1 && w1.pu == 1 && w1.core_threads == 2);
	slc_numa_plan_destroy(p);

	/* Many more threads than cores: still placed, still within one of each other. */
	p = plan_open(t, 3, 5, 3);
	slc_numa_plan_reactor(p, 0, &r);
	slc_numa_plan_reactor(p, 1, &w0);
	cr_expect_neq(r.core, w0.core);
	slc_numa_plan_worker(p, 4, 2, &w1);
	cr_expect(w1.core_threads == 9 && r.core_threads == 9, "18 threads on 2 cores");
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

Test(numa, place_this_machine_one_reactor_two_pools)
{
	struct slc_numa_topo *t = topo_open(NULL);
	struct slc_numa_plan *p = plan_open(t, 1, 2, 1);
	struct slc_numa_place r, w;
	cpu_set_t cpus;
	char *text;

	cr_assert_eq(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	cr_assert_geq(slc_numa_plan_reactor_count(p), 1);
	for (int i = 0; i < slc_numa_plan_reactor_count(p); i++) {
		cr_assert_eq(slc_numa_plan_reactor(p, i, &r), 0);
		cr_expect(r.node >= 0 && r.node < slc_numa_node_count(t));
		cr_expect(CPU_ISSET(r.pu, &cpus), "reactor %d on cpu %d", i, r.pu);
	}
	for (int pool = 0; pool < 2; pool++) {
		cr_assert_eq(slc_numa_plan_worker(p, pool, 0, &w), 0);
		cr_expect(CPU_ISSET(w.pu, &cpus), "pool %d on cpu %d", pool, w.pu);
		cr_expect_eq(w.node, slc_numa_plan_pool_node(p, pool));
	}
	slc_numa_plan_reactor(p, 0, &r);
	if (slc_numa_node_core_count(t, r.node) >= 2)
		cr_expect_eq(r.core_threads, 1, "the reactor has a core of its own");
	text = plan_print_to_string(p);
	cr_expect_not_null(strstr(text, "\nreactor  0 "), "%s", text);
	free(text);
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

Test(numa, restrict_cpus_leaves_only_node_0)
{
	struct slc_numa_topo *t = topo_open(TOPO_2N8C);
	struct slc_numa_plan *p;
	struct slc_numa_place pl;
	char msg[256];
	int load[CORES_MAX];

	cr_assert_eq(slc_numa_topo_restrict(t, "0-3", msg, sizeof(msg)), 0, "%s", msg);
	cr_expect_str_eq(msg, "");
	cr_expect_eq(slc_numa_pu_count(t), 4);
	cr_expect_eq(slc_numa_node_count(t), 2, "node 1 keeps its memory");
	cr_expect_eq(slc_numa_node_core_count(t, 0), 4);
	cr_expect_eq(slc_numa_node_core_count(t, 1), 0);

	p = plan_open(t, 1, 4, 2);
	cr_expect_eq(slc_numa_plan_reactor_count(p), 1);
	for (int pool = 0; pool < 4; pool++)
		cr_expect_eq(slc_numa_plan_pool_node(p, pool), 0);
	plan_loads(p, load);
	for (int c = 0; c < CORES_MAX; c++) {
		if (c < 4)
			cr_expect(load[c] == 2 || load[c] == 3, "core %d: %d", c, load[c]);
		else
			cr_expect_eq(load[c], 0, "core %d is not usable", c);
	}
	slc_numa_plan_worker(p, 3, 1, &pl);
	cr_expect_lt(pl.pu, 4);
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

Test(numa, restrict_cpus_refuses_bad_lists)
{
	static const char *const bad[] = {"garbage", "",     "3-1", "0,",       ",0",   "0-3,8x",
	                                  "1-",      "0 ,1", "-1",  "99999999", "0--3", "0-3,"};
	struct slc_numa_topo *t = topo_open(TOPO_2N8C);
	char msg[256];

	cr_expect_eq(slc_numa_topo_restrict(t, "99", msg, sizeof(msg)), -EINVAL);
	cr_expect_not_null(strstr(msg, "\"99\""), "%s", msg);
	cr_expect_not_null(strstr(msg, "0-15"), "names what is usable: %s", msg);
	cr_expect_eq(slc_numa_pu_count(t), 16, "a refused list changes nothing");

	cr_expect_eq(slc_numa_topo_restrict(t, "garbage", msg, sizeof(msg)), -EINVAL);
	cr_expect_str_eq(msg, "cpu list \"garbage\": expected a CPU number at offset 0 (e.g. "
	                      "\"0-3,8\")");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		cr_expect_eq(slc_numa_cpu_list_check(bad[i], msg, sizeof(msg)), -EINVAL, "\"%s\"",
		             bad[i]);
		cr_expect_neq(msg[0], '\0', "\"%s\" gets a reason", bad[i]);
		cr_expect_eq(slc_numa_topo_restrict(t, bad[i], NULL, 0), -EINVAL, "\"%s\"", bad[i]);
	}
	cr_expect_eq(slc_numa_cpu_list_check(NULL, msg, sizeof(msg)), -EINVAL);
	cr_expect_eq(slc_numa_cpu_list_check("3-1", msg, sizeof(msg)), -EINVAL);
	cr_expect_not_null(strstr(msg, "backwards"), "%s", msg);
	cr_expect_eq(slc_numa_pu_count(t), 16);

	/* CPUs the machine lacks are ignored as long as some remain. */
	cr_expect_eq(slc_numa_cpu_list_check("0-3,8,10-11", msg, sizeof(msg)), 0);
	cr_expect_str_eq(msg, "");
	cr_expect_eq(slc_numa_topo_restrict(t, "0-3,8,10-11,40-60", msg, sizeof(msg)), 0);
	cr_expect_eq(slc_numa_pu_count(t), 7);
	cr_expect_eq(slc_numa_node_core_count(t, 1), 3);
	/* Restrictions narrow: a second list intersects the first. */
	cr_expect_eq(slc_numa_topo_restrict(t, "3-9", msg, sizeof(msg)), 0);
	cr_expect_eq(slc_numa_pu_count(t), 2);
	cr_expect_eq(slc_numa_topo_restrict(t, "4-7", msg, sizeof(msg)), -EINVAL);
	slc_numa_topo_destroy(t);
}

/* A node left with few cores by --cpus gets fewer pools (rule R2 of place.c). */
Test(numa, place_pools_follow_usable_core_counts)
{
	struct slc_numa_topo *t = topo_open(TOPO_2N8C);
	struct slc_numa_plan *p;
	char msg[128];

	cr_assert_eq(slc_numa_topo_restrict(t, "0-1,8-15", msg, sizeof(msg)), 0, "%s", msg);
	p = plan_open(t, 1, 4, 2);
	cr_expect_eq(slc_numa_plan_reactor_count(p), 2);
	for (int pool = 0; pool < 4; pool++)
		cr_expect_eq(slc_numa_plan_pool_node(p, pool), 1, "pool %d", pool);
	expect_pools_on_distinct_cores(p);
	slc_numa_plan_destroy(p);

	/* With enough pools, node 0 gets its share too. */
	p = plan_open(t, 1, 6, 2);
	cr_expect_eq(slc_numa_plan_pool_node(p, 4), 1);
	cr_expect_eq(slc_numa_plan_pool_node(p, 5), 0);
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

static void
expect_order(const struct slc_numa_plan *p, int reactor, const int *want, int n)
{
	const int *got = slc_numa_plan_reactor_pools(p, reactor);

	cr_assert_not_null(got);
	cr_assert_eq(slc_numa_plan_pool_count(p), n);
	for (int i = 0; i < n; i++)
		cr_expect_eq(got[i], want[i], "reactor %d, place %d: pool %d, want %d", reactor, i,
		             got[i], want[i]);
}

Test(numa, reactor_pool_order_is_same_node_first)
{
	struct slc_numa_topo *t = topo_open(TOPO_2N8C);
	struct slc_numa_plan *p = plan_open(t, 2, 4, 2);

	cr_assert_eq(slc_numa_plan_reactor_count(p), 4);
	expect_order(p, 0, (const int[]){0, 2, 1, 3}, 4);
	expect_order(p, 1, (const int[]){0, 2, 1, 3}, 4);
	expect_order(p, 2, (const int[]){1, 3, 0, 2}, 4);
	expect_order(p, 3, (const int[]){1, 3, 0, 2}, 4);
	cr_expect_null(slc_numa_plan_reactor_pools(p, 4));
	cr_expect_null(slc_numa_plan_reactor_pools(p, -1));
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);

	/* No distances in this fixture: other nodes follow in rotation from the reactor's. */
	t = topo_open(TOPO_4N4C2T);
	p = plan_open(t, 1, 8, 1);
	expect_order(p, 1, (const int[]){1, 5, 2, 6, 3, 7, 0, 4}, 8);
	expect_order(p, 3, (const int[]){3, 7, 0, 4, 1, 5, 2, 6}, 8);
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

/* Latencies 10 (own), 12 (same package), 32 (other package): the near node comes next. */
Test(numa, reactor_pool_order_follows_numa_distance)
{
	struct slc_numa_topo *t = topo_open(TOPO_4N2C_D);
	struct slc_numa_plan *p = plan_open(t, 1, 4, 1);

	for (int pool = 0; pool < 4; pool++)
		cr_expect_eq(slc_numa_plan_pool_node(p, pool), pool);
	expect_order(p, 0, (const int[]){0, 1, 2, 3}, 4);
	expect_order(p, 1, (const int[]){1, 0, 2, 3}, 4);
	expect_order(p, 2, (const int[]){2, 3, 0, 1}, 4);
	expect_order(p, 3, (const int[]){3, 2, 0, 1}, 4);
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

Test(numa, plan_refuses_bad_requests_and_indices)
{
	struct slc_numa_topo *t = topo_open(TOPO_2N8C);
	struct slc_numa_plan_req req = {1, 1, 1};
	struct slc_numa_plan *p;
	struct slc_numa_place pl;
	int err = 0;

	cr_expect_null(slc_numa_plan_create(t, NULL, &err));
	cr_expect_eq(err, -EINVAL);
	req.reactors_per_node = 0;
	cr_expect_null(slc_numa_plan_create(t, &req, &err));
	cr_expect_eq(err, -EINVAL);
	req = (struct slc_numa_plan_req){1, 0, 1};
	cr_expect_null(slc_numa_plan_create(t, &req, &err));
	cr_expect_eq(err, -EINVAL);
	req = (struct slc_numa_plan_req){1, 1, -3};
	cr_expect_null(slc_numa_plan_create(t, &req, &err));
	cr_expect_eq(err, -EINVAL);
	req = (struct slc_numa_plan_req){1, 1 << 20, 1 << 20};
	cr_expect_null(slc_numa_plan_create(t, &req, &err));
	cr_expect_eq(err, -E2BIG);

	p = plan_open(t, 1, 2, 3);
	cr_expect_eq(slc_numa_plan_reactor(p, 2, &pl), -ERANGE);
	cr_expect_eq(slc_numa_plan_reactor(p, -1, &pl), -ERANGE);
	cr_expect_eq(slc_numa_plan_worker(p, 2, 0, &pl), -ERANGE);
	cr_expect_eq(slc_numa_plan_worker(p, 0, 3, &pl), -ERANGE);
	cr_expect_eq(slc_numa_plan_worker(p, -1, 0, &pl), -ERANGE);
	cr_expect_eq(slc_numa_plan_pool_node(p, 2), -ERANGE);
	slc_numa_plan_destroy(p);
	slc_numa_plan_destroy(NULL);
	slc_numa_topo_destroy(t);
}

Test(numa, plan_prints_one_line_per_thread)
{
	struct slc_numa_topo *t = topo_open(TOPO_1N2C);
	struct slc_numa_plan *p = plan_open(t, 1, 2, 1);
	char *text = plan_print_to_string(p);

	cr_expect_not_null(strstr(text, "usable: 2 PUs (cpus 0-1), 2 cores, 1 of 1 NUMA node\n"),
	                   "%s", text);
	cr_expect_not_null(strstr(text, "\nreactor  0           0     0     0  -\n"), "%s", text);
	cr_expect_not_null(strstr(text, "\nworker   0.0         0     1     1  w1.0\n"), "%s",
	                   text);
	cr_expect_not_null(strstr(text, "\nworker   1.0         0     1     1  w0.0\n"), "%s",
	                   text);
	cr_expect_not_null(strstr(text, "\nr0       p0 p1\n"), "%s", text);
	free(text);
	slc_numa_plan_destroy(p);

	/* A crowded core lists a few sharers and counts the rest. */
	p = plan_open(t, 1, 20, 1);
	text = plan_print_to_string(p);
	cr_expect_not_null(strstr(text, " +"), "%s", text);
	cr_expect_not_null(strstr(text, " more\n"), "%s", text);
	free(text);
	slc_numa_plan_destroy(p);
	slc_numa_topo_destroy(t);
}

Test(numa, pin_self_to_first_cpu)
{
	struct slc_numa_topo *t;
	cpu_set_t before, after;
	int cpu = -1, ret;

	t = topo_open(TOPO_2N8C);
	cr_expect_eq(slc_numa_pin_self(t, 0), -EXDEV, "an XML topology is another machine");
	slc_numa_topo_destroy(t);

	cr_assert_eq(sched_getaffinity(0, sizeof(before), &before), 0);
	for (int i = 0; i < CPU_SETSIZE && cpu < 0; i++)
		if (CPU_ISSET(i, &before))
			cpu = i; /* 0 on an unrestricted machine */
	cr_assert_geq(cpu, 0);
	t = topo_open(NULL);
	cr_expect_eq(slc_numa_pin_self(t, -1), -EINVAL);
	cr_expect_eq(slc_numa_pin_self(t, SLC_NUMA_CPU_MAX), -EINVAL);
	ret = slc_numa_pin_self(t, cpu);
	cr_assert_eq(sched_getaffinity(0, sizeof(after), &after), 0);
	/* Put the thread back first: the TSan runner goes on in this same process. */
	sched_setaffinity(0, sizeof(before), &before);
	cr_expect_eq(ret, 0, "pin to cpu %d: %d", cpu, ret);
	cr_expect_eq(CPU_COUNT(&after), 1);
	cr_expect(CPU_ISSET(cpu, &after));
	slc_numa_topo_destroy(t);
}
