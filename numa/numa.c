/* SPDX-License-Identifier: MIT */
/* numa.c: hwloc topology loading, usable cpus, pinning and node-local allocation. */
#include "numa.h"
#include "numa_priv.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <hwloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLC_NUMA_STR_(x) #x
#define SLC_NUMA_STR(x)  SLC_NUMA_STR_(x)

struct slc_numa_topo *
slc_numa_topo_create(const char *xml_path, int *err)
{
	struct slc_numa_topo *t = calloc(1, sizeof(*t));
	hwloc_bitmap_t bound;

	if (t == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	if (hwloc_topology_init(&t->topo) != 0) {
		*err = -ENOMEM;
		goto err_free;
	}
	if (xml_path != NULL) {
		if (access(xml_path, R_OK) != 0) {
			*err = -ENOENT;
			goto err_destroy_topo;
		}
		if (hwloc_topology_set_xml(t->topo, xml_path) != 0) {
			*err = -EINVAL;
			goto err_destroy_topo;
		}
	}
	if (hwloc_topology_load(t->topo) != 0) {
		*err = -EINVAL;
		goto err_destroy_topo;
	}
	t->is_this_system = hwloc_topology_is_thissystem(t->topo) != 0;
	t->usable = hwloc_bitmap_dup(hwloc_get_root_obj(t->topo)->cpuset);
	bound = hwloc_bitmap_alloc();
	if (t->usable == NULL || bound == NULL) {
		hwloc_bitmap_free(bound);
		*err = -ENOMEM;
		goto err_free_usable;
	}
	if (hwloc_bitmap_iszero(t->usable)) {
		hwloc_bitmap_free(bound);
		*err = -EINVAL;
		goto err_free_usable;
	}
	/* Where the calling thread may run (taskset, cgroup): pinning elsewhere would fail.
	 * A binding that cannot be read, or that misses the topology, is ignored: the kernel
	 * will say so at pinning time, with its own error. */
	if (t->is_this_system && hwloc_get_cpubind(t->topo, bound, HWLOC_CPUBIND_THREAD) == 0 &&
	    hwloc_bitmap_intersects(bound, t->usable))
		hwloc_bitmap_and(t->usable, t->usable, bound);
	hwloc_bitmap_free(bound);
	*err = 0;
	return t;

err_free_usable:
	hwloc_bitmap_free(t->usable);
err_destroy_topo:
	hwloc_topology_destroy(t->topo);
err_free:
	free(t);
	return NULL;
}

void
slc_numa_topo_destroy(struct slc_numa_topo *t)
{
	if (t == NULL)
		return;
	hwloc_bitmap_free(t->usable);
	hwloc_topology_destroy(t->topo);
	free(t);
}

int
slc_numa_node_count(const struct slc_numa_topo *t)
{
	int n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_NUMANODE);

	return n > 0 ? n : 1;
}

hwloc_obj_t
slc_numa_unit_of(const struct slc_numa_topo *t, hwloc_obj_t pu)
{
	hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(t->topo, HWLOC_OBJ_CORE, pu);

	return core != NULL ? core : pu;
}

int
slc_numa_unit_first_pu(const struct slc_numa_topo *t, hwloc_obj_t unit)
{
	for (int pu = hwloc_bitmap_first(unit->cpuset); pu >= 0;
	     pu = hwloc_bitmap_next(unit->cpuset, pu))
		if (hwloc_bitmap_isset(t->usable, (unsigned)pu))
			return pu;
	return -1;
}

hwloc_obj_t
slc_numa_local_node(hwloc_obj_t obj)
{
	for (; obj != NULL; obj = obj->parent) {
		hwloc_obj_t m = obj->memory_first_child;

		/* Memory-side caches sit between an object and its NUMA nodes. */
		while (m != NULL && m->type != HWLOC_OBJ_NUMANODE)
			m = m->memory_first_child;
		if (m != NULL)
			return m;
	}
	return NULL;
}

int
slc_numa_node_core_count(const struct slc_numa_topo *t, int node)
{
	hwloc_obj_t pu = NULL, unit;
	int n = 0;

	if (node < 0)
		return 0;
	while ((unit = slc_numa_next_unit(t, &pu)) != NULL) {
		hwloc_obj_t local = slc_numa_local_node(unit);

		if (local != NULL && (int)local->logical_index == node)
			n++;
	}
	return n;
}

hwloc_obj_t
slc_numa_next_unit(const struct slc_numa_topo *t, hwloc_obj_t *pu)
{
	while ((*pu = hwloc_get_next_obj_by_type(t->topo, HWLOC_OBJ_PU, *pu)) != NULL) {
		hwloc_obj_t unit;

		if (!hwloc_bitmap_isset(t->usable, (*pu)->os_index))
			continue;
		unit = slc_numa_unit_of(t, *pu);
		if (slc_numa_unit_first_pu(t, unit) == (int)(*pu)->os_index)
			return unit; /* a unit is visited at its first usable PU only */
	}
	return NULL;
}

int
slc_numa_pu_count(const struct slc_numa_topo *t)
{
	return hwloc_bitmap_weight(t->usable);
}

/*
 * Parses cpu_list into set. The grammar is small on purpose: "N" and "N-M" items joined by
 * ','. hwloc_bitmap_list_sscanf() would also take "N-" (to infinity) and stop silently at
 * the first character it does not know, which is the wrong answer to a typo in a flag.
 */
static int
cpu_list_parse(const char *cpu_list, hwloc_bitmap_t set, char *msg, size_t msg_len)
{
	const char *p = cpu_list;
	const char *why;

	if (msg_len > 0)
		msg[0] = '\0';
	if (cpu_list == NULL || cpu_list[0] == '\0') {
		if (msg_len > 0)
			snprintf(msg, msg_len, "cpu list is empty (expected e.g. \"0-3,8\")");
		return -EINVAL;
	}
	for (;;) {
		long lo, hi;

		lo = 0;
		if (*p < '0' || *p > '9') {
			why = "expected a CPU number";
			goto err_syntax;
		}
		for (; *p >= '0' && *p <= '9'; p++) {
			lo = lo * 10 + (*p - '0');
			if (lo > SLC_NUMA_CPU_MAX) {
				why = "CPU number above " SLC_NUMA_STR(SLC_NUMA_CPU_MAX);
				goto err_syntax;
			}
		}
		hi = lo;
		if (*p == '-') {
			p++;
			if (*p < '0' || *p > '9') {
				why = "expected the CPU number that ends the range";
				goto err_syntax;
			}
			for (hi = 0; *p >= '0' && *p <= '9'; p++) {
				hi = hi * 10 + (*p - '0');
				if (hi > SLC_NUMA_CPU_MAX) {
					why = "CPU number above " SLC_NUMA_STR(SLC_NUMA_CPU_MAX);
					goto err_syntax;
				}
			}
			if (hi < lo) {
				why = "range runs backwards";
				goto err_syntax;
			}
		}
		if (hwloc_bitmap_set_range(set, (unsigned)lo, (int)hi) != 0)
			return -ENOMEM;
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			why = "expected ',' or '-'";
			goto err_syntax;
		}
		p++;
	}

err_syntax:
	if (msg_len > 0)
		snprintf(msg, msg_len, "cpu list \"%.64s%s\": %s at offset %td (e.g. \"0-3,8\")",
		         cpu_list, strlen(cpu_list) > 64 ? "..." : "", why, p - cpu_list);
	return -EINVAL;
}

int
slc_numa_cpu_list_check(const char *cpu_list, char *msg, size_t msg_len)
{
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	int ret;

	if (set == NULL)
		return -ENOMEM;
	ret = cpu_list_parse(cpu_list, set, msg, msg_len);
	hwloc_bitmap_free(set);
	return ret;
}

int
slc_numa_topo_restrict(struct slc_numa_topo *t, const char *cpu_list, char *msg, size_t msg_len)
{
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	char *have = NULL;
	int ret;

	if (set == NULL)
		return -ENOMEM;
	ret = cpu_list_parse(cpu_list, set, msg, msg_len);
	if (ret != 0)
		goto out_free_set;
	hwloc_bitmap_and(set, set, t->usable);
	if (hwloc_bitmap_iszero(set)) {
		if (msg_len > 0) {
			if (hwloc_bitmap_list_asprintf(&have, t->usable) < 0)
				have = NULL;
			snprintf(msg, msg_len,
			         "cpu list \"%.64s%s\" names none of the usable CPUs (%s)",
			         cpu_list, strlen(cpu_list) > 64 ? "..." : "",
			         have != NULL ? have : "?");
			free(have);
		}
		ret = -EINVAL;
		goto out_free_set;
	}
	hwloc_bitmap_copy(t->usable, set);

out_free_set:
	hwloc_bitmap_free(set);
	return ret;
}

int
slc_numa_pin_self(struct slc_numa_topo *t, int pu)
{
	hwloc_bitmap_t set;
	int ret = 0;

	if (!t->is_this_system)
		return -EXDEV;
	if (pu < 0 || !hwloc_bitmap_isset(t->usable, (unsigned)pu))
		return -EINVAL;
	set = hwloc_bitmap_alloc();
	if (set == NULL)
		return -ENOMEM;
	hwloc_bitmap_only(set, (unsigned)pu);
	/* hwloc_set_cpubind(3): -1 with errno set on failure. */
	if (hwloc_set_cpubind(t->topo, set, HWLOC_CPUBIND_THREAD) != 0)
		ret = errno > 0 ? -errno : -EINVAL;
	hwloc_bitmap_free(set);
	return ret;
}

void *
slc_numa_alloc_onnode(struct slc_numa_topo *t, size_t len, int node)
{
	hwloc_obj_t nobj = NULL;
	void *p;

	if (t->is_this_system && node >= 0)
		nobj = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)node);
	if (nobj != NULL) {
		p = hwloc_alloc_membind(t->topo, len, nobj->nodeset, HWLOC_MEMBIND_BIND,
		                        HWLOC_MEMBIND_BYNODESET);
		if (p != NULL) {
			memset(p, 0, len); /* touch it here, so that first touch is on the node */
			return p;
		}
		/* Binding refused (no NUMA support in this kernel or container): fall through
		 * to plain pages, which is what a one-node machine gets anyway. */
	}
	p = hwloc_alloc(t->topo, len);
	if (p != NULL)
		memset(p, 0, len);
	return p;
}

void
slc_numa_free(struct slc_numa_topo *t, void *p, size_t len)
{
	if (p == NULL)
		return;
	hwloc_free(t->topo, p, len);
}

int
slc_numa_pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
