/* SPDX-License-Identifier: MIT */
/* numa.h: the machine's NUMA layout (hwloc) and memory placed on a chosen node. */
#ifndef SLC_NUMA_NUMA_H
#define SLC_NUMA_NUMA_H

#include <stddef.h>

struct slc_numa_topo;

/*
 * Loads the topology of this machine (xml_path NULL) or of an hwloc XML file (tests use
 * this to place threads on machines they do not run on). Returns NULL with *err set to
 * -ENOMEM, -ENOENT (no such file) or -EINVAL (hwloc refused the topology).
 */
struct slc_numa_topo *slc_numa_topo_create(const char *xml_path, int *err);

/* Accepts NULL. */
void slc_numa_topo_destroy(struct slc_numa_topo *t);

/* NUMA nodes of the topology; 1 on a machine without NUMA. */
int slc_numa_node_count(const struct slc_numa_topo *t);

/* Cores (not hardware threads) of node; 0 if node is out of range. */
int slc_numa_node_core_count(const struct slc_numa_topo *t, int node);

/*
 * Allocates len bytes, page-aligned and zeroed, bound to node when the topology is this
 * machine's and the kernel allows binding; otherwise plain memory (never fails for that
 * reason alone). node < 0 means no preference. Returns NULL on allocation failure.
 * Free with slc_numa_free() and the same len.
 */
void *slc_numa_alloc_onnode(struct slc_numa_topo *t, size_t len, int node);

/* Frees memory from slc_numa_alloc_onnode(); accepts NULL. */
void slc_numa_free(struct slc_numa_topo *t, void *p, size_t len);

#endif /* SLC_NUMA_NUMA_H */
