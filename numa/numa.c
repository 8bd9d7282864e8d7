/* SPDX-License-Identifier: MIT */
/* numa.c: hwloc topology loading and node-local allocation. */
#include "numa.h"

#include <errno.h>
#include <hwloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct slc_numa_topo {
	hwloc_topology_t topo;
	bool is_this_system; /* false for XML topologies: binding memory would be a lie */
};

struct slc_numa_topo *
slc_numa_topo_create(const char *xml_path, int *err)
{
	struct slc_numa_topo *t = calloc(1, sizeof(*t));

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
	*err = 0;
	return t;

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
	hwloc_topology_destroy(t->topo);
	free(t);
}

int
slc_numa_node_count(const struct slc_numa_topo *t)
{
	int n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_NUMANODE);

	return n > 0 ? n : 1;
}

int
slc_numa_node_core_count(const struct slc_numa_topo *t, int node)
{
	hwloc_obj_t nobj = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)node);

	if (node < 0 || nobj == NULL)
		return 0;
	return hwloc_get_nbobjs_inside_cpuset_by_type(t->topo, nobj->cpuset, HWLOC_OBJ_CORE);
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
