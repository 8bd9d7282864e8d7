/* SPDX-License-Identifier: MIT */
/* size.c: the default layout (reactors, pools, workers) for the CPUs the process may use. */

/*
 * Sizing rule, for every count left at auto (0 in the request):
 *
 * S0 CPUs. C = the usable cores of the topology (after affinity and --cpus), capped by
 *    the cgroup's CPU bandwidth (cpu.max, or cpu.cfs_quota_us / cpu.cfs_period_us),
 *    rounded down and at least 1: threads beyond the quota would be throttled, which
 *    costs more than they give. Each node's share of C is its share of the usable
 *    cores (at least 1 per node that takes part).
 * S1 Reactors per node: one per SLC_NUMA_SIZE_CORES_PER_REACTOR cores of the smallest
 *    node's share, at least 1, at most SLC_NUMA_SIZE_REACTORS_MAX over all nodes. One
 *    reactor took about 15 M msgs/s on the 16-core machine of docs/tuning.md, and four
 *    reactors with eight workers 3.5 times that: the network needs about one core in
 *    four, the sink the rest.
 * S2 Pools: one per reactor (reactors per node times nodes), at most pools_max: as many
 *    pools as reactors gives the controller something to steer between on any machine
 *    with more than one reactor, and on a small machine one pool saves the context
 *    switch per batch that two workers sharing a core pay.
 * S3 Workers per pool: the CPUs left after the reactors, shared out between the pools
 *    (rounded down), at least 1, and pools times workers at most
 *    SLC_NUMA_SIZE_WORKERS_MAX.
 *
 * A count that the caller fixed (non-zero) is kept, and the later steps use it: fixed
 * pools get the CPUs left divided between them.
 */
#include "numa.h"
#include "numa_priv.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"

static void SLC_PRINTF(4, 5) why_add(char *why, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (why == NULL || *at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(why + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
}

static const char *
plural(int n)
{
	return n == 1 ? "" : "s";
}

int
slc_numa_size(const struct slc_numa_size_in *in, struct slc_numa_plan_req *req, char *why,
              size_t why_len)
{
	int cores = 0, cpus, smallest = INT_MAX, rpn, pools, workers, left, pools_max;
	size_t at = 0;

	if (why != NULL && why_len > 0)
		why[0] = '\0';
	if (in == NULL || req == NULL || in->nodes < 1 || in->node_cores == NULL ||
	    req->reactors_per_node < 0 || req->pools < 0 || req->workers_per_pool < 0 ||
	    in->pools_max < 0 || !(in->cpu_limit >= 0))
		return -EINVAL;
	for (int n = 0; n < in->nodes; n++) {
		if (in->node_cores[n] < 1)
			return -EINVAL;
		cores += in->node_cores[n];
	}

	/* S0 */
	cpus = cores;
	if (in->cpu_limit > 0 && in->cpu_limit < cores)
		cpus = in->cpu_limit < 1 ? 1 : (int)in->cpu_limit;
	for (int n = 0; n < in->nodes; n++) {
		int share = (int)((long long)in->node_cores[n] * cpus / cores);

		if (share < 1)
			share = 1;
		if (share < smallest)
			smallest = share;
	}

	/* S1 */
	rpn = req->reactors_per_node;
	if (rpn == 0) {
		rpn = smallest / SLC_NUMA_SIZE_CORES_PER_REACTOR;
		if (rpn > SLC_NUMA_SIZE_REACTORS_MAX / in->nodes)
			rpn = SLC_NUMA_SIZE_REACTORS_MAX / in->nodes;
		if (rpn < 1)
			rpn = 1;
	}
	/* S2 */
	pools_max = in->pools_max > 0 && in->pools_max < SLC_NUMA_SIZE_POOLS_MAX
	                    ? in->pools_max
	                    : SLC_NUMA_SIZE_POOLS_MAX;
	pools = req->pools;
	if (pools == 0) {
		pools = rpn * in->nodes;
		if (pools > pools_max)
			pools = pools_max;
		/* Workers given by hand: no more pools than their product allows. */
		if (req->workers_per_pool > 0 &&
		    pools > SLC_NUMA_SIZE_WORKERS_MAX / req->workers_per_pool)
			pools = SLC_NUMA_SIZE_WORKERS_MAX / req->workers_per_pool;
		if (pools < 1)
			pools = 1;
	}
	/* S3 */
	left = cpus - rpn * in->nodes;
	workers = req->workers_per_pool;
	if (workers == 0) {
		workers = left / pools;
		if (workers > SLC_NUMA_SIZE_WORKERS_MAX / pools)
			workers = SLC_NUMA_SIZE_WORKERS_MAX / pools;
		if (workers < 1)
			workers = 1;
	}

	why_add(why, why_len, &at, "sized for %d CPU%s (%d usable core%s on %d node%s", cpus,
	        plural(cpus), cores, plural(cores), in->nodes, plural(in->nodes));
	if (in->cpu_limit > 0)
		why_add(why, why_len, &at, ", cgroup CPU limit %.2f", in->cpu_limit);
	why_add(why, why_len, &at, "): ");
	if (req->reactors_per_node == 0)
		why_add(why, why_len, &at,
		        "reactors-per-node auto = %d (one per %d CPUs of the smallest node's %d, "
		        "at least 1)",
		        rpn, SLC_NUMA_SIZE_CORES_PER_REACTOR, smallest);
	else
		why_add(why, why_len, &at, "reactors-per-node %d (given)", rpn);
	if (req->pools == 0)
		why_add(why, why_len, &at, ", pools auto = %d (one per reactor%s)", pools,
		        pools < rpn * in->nodes ? ", capped" : "");
	else
		why_add(why, why_len, &at, ", pools %d (given)", pools);
	if (req->workers_per_pool == 0)
		why_add(why, why_len, &at,
		        ", workers auto = %d per pool (the %d CPU%s left after the reactors, "
		        "shared by the pools, at least 1)",
		        workers, left > 0 ? left : 0, plural(left));
	else
		why_add(why, why_len, &at, ", workers %d per pool (given)", workers);

	req->reactors_per_node = rpn;
	req->pools = pools;
	req->workers_per_pool = workers;
	return 0;
}

int
slc_numa_size_topo(struct slc_numa_topo *t, double cpu_limit, int pools_max,
                   struct slc_numa_plan_req *req, char *why, size_t why_len)
{
	int nodes = slc_numa_node_count(t), found = 0, ret;
	int *cores = calloc((size_t)(nodes > 0 ? nodes : 1), sizeof(*cores));

	if (cores == NULL)
		return -ENOMEM;
	for (int n = 0; n < nodes; n++) {
		int c = slc_numa_node_core_count(t, n);

		if (c > 0)
			cores[found++] = c;
	}
	ret = slc_numa_size(
	        &(struct slc_numa_size_in){
	                .nodes = found,
	                .node_cores = cores,
	                .cpu_limit = cpu_limit,
	                .pools_max = pools_max,
	        },
	        req, why, why_len);
	free(cores);
	return ret;
}

int
slc_numa_cpu_max_parse(const char *text, double *cpus)
{
	char quota[32];
	unsigned long long q, period;
	char *end;

	/* cgroup v2 cpu.max: "$MAX $PERIOD", MAX "max" for no limit */
	if (sscanf(text, "%31s %llu", quota, &period) != 2 || period == 0)
		return -EINVAL;
	if (strcmp(quota, "max") == 0) {
		*cpus = 0;
		return 0;
	}
	errno = 0;
	q = strtoull(quota, &end, 10);
	if (errno != 0 || *end != '\0' || quota[0] == '-' || q == 0)
		return -EINVAL;
	*cpus = (double)q / (double)period;
	return 0;
}

/* Reads the first line of root/dir/name into buf. 0, -ENOENT or -EIO. */
static int
read_line(const char *root, const char *dir, const char *name, char *buf, size_t len)
{
	char path[4096];
	FILE *f;
	int ret = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s%s/%s", root, dir, name) >= sizeof(path))
		return -ENOENT;
	f = fopen(path, "re");
	if (f == NULL)
		return -ENOENT;
	if (fgets(buf, (int)len, f) == NULL)
		ret = -EIO;
	fclose(f);
	return ret;
}

/* The cgroup v1 cpu controller's quota of dir (cfs_quota_us -1: none). 0 or -errno. */
static int
cpu_v1_limit(const char *root, const char *dir, double *cpus)
{
	char q[64], p[64];
	long long quota, period;

	if (read_line(root, dir, "cpu.cfs_quota_us", q, sizeof(q)) != 0 ||
	    read_line(root, dir, "cpu.cfs_period_us", p, sizeof(p)) != 0)
		return -ENOENT;
	if (sscanf(q, "%lld", &quota) != 1 || sscanf(p, "%lld", &period) != 1 || period <= 0)
		return -EINVAL;
	*cpus = quota > 0 ? (double)quota / (double)period : 0;
	return 0;
}

int
slc_numa_cgroup_cpu_limit(const char *proc_cgroup, const char *mount, double *cpus)
{
	char line[4096], dir[4096], mnt[4096];
	FILE *f = fopen(proc_cgroup, "re");
	double best = 0;
	bool found = false;

	*cpus = 0;
	if (f == NULL)
		return -ENOENT;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *ctrl = strchr(line, ':'), *path;
		bool v2;

		if (ctrl == NULL || (path = strchr(ctrl + 1, ':')) == NULL)
			continue;
		*path++ = '\0';
		ctrl++;
		path[strcspn(path, "\n")] = '\0';
		v2 = ctrl[0] == '\0';
		/* v1: a hierarchy whose controller list names "cpu" */
		if (!v2 && strcmp(ctrl, "cpu") != 0 && strncmp(ctrl, "cpu,", 4) != 0 &&
		    strstr(ctrl, ",cpu,") == NULL &&
		    (strlen(ctrl) < 4 || strcmp(ctrl + strlen(ctrl) - 4, ",cpu") != 0))
			continue;
		snprintf(mnt, sizeof(mnt), "%s%s", mount, v2 ? "" : "/cpu");
		/* Every ancestor's limit applies too: walk up to the root. */
		snprintf(dir, sizeof(dir), "%s", strcmp(path, "/") == 0 ? "" : path);
		for (;;) {
			double c = 0;
			char *slash;
			int ret;

			if (v2) {
				char text[128];

				ret = read_line(mnt, dir, "cpu.max", text, sizeof(text));
				if (ret == 0)
					ret = slc_numa_cpu_max_parse(text, &c);
			} else {
				ret = cpu_v1_limit(mnt, dir, &c);
			}
			if (ret == 0 && c > 0 && (!found || c < best)) {
				best = c;
				found = true;
			}
			slash = strrchr(dir, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
		}
	}
	fclose(f);
	*cpus = found ? best : 0;
	return 0;
}
