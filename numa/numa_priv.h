/* SPDX-License-Identifier: MIT */
/* numa_priv.h: the topology object and core helpers shared by numa.c and place.c. */
#ifndef SLC_NUMA_NUMA_PRIV_H
#define SLC_NUMA_NUMA_PRIV_H

#include <hwloc.h>
#include <stdbool.h>

struct slc_numa_topo {
	hwloc_topology_t topo;
	hwloc_bitmap_t usable; /* PUs threads may be placed on and pinned to; never empty */
	bool is_this_system;   /* false for XML topologies: binding would be a lie */
};

/*
 * The unit of placement that holds pu: its Core, or the PU itself on the rare topology
 * that reports no cores for it.
 */
hwloc_obj_t slc_numa_unit_of(const struct slc_numa_topo *t, hwloc_obj_t pu);

/* OS number of the first usable PU of unit, or -1 when it has none. */
int slc_numa_unit_first_pu(const struct slc_numa_topo *t, hwloc_obj_t unit);

/*
 * Walks the usable placement units once each: returns the unit after the one at *pu
 * (start with *pu = NULL) and leaves *pu at that unit's first usable PU; NULL at the end.
 */
hwloc_obj_t slc_numa_next_unit(const struct slc_numa_topo *t, hwloc_obj_t *pu);

/*
 * The NUMA node local to obj: the first NUMA node attached to obj or to its nearest
 * ancestor that has memory. Memory-only nodes (CXL, some HBM) hang higher up, so each core
 * has exactly one local node even when node cpusets overlap. NULL only for a broken tree.
 */
hwloc_obj_t slc_numa_local_node(hwloc_obj_t obj);

#endif /* SLC_NUMA_NUMA_PRIV_H */
