/* SPDX-License-Identifier: MIT */
/* numa.h: the machine's NUMA layout (hwloc), where threads go, and node-local memory. */
#ifndef SLC_NUMA_NUMA_H
#define SLC_NUMA_NUMA_H

#include <stddef.h>
#include <stdio.h>

struct slc_numa_topo;

/*
 * Loads the topology of this machine (xml_path NULL) or of an hwloc XML file (tests use
 * this to place threads on machines they do not run on). Returns NULL with *err set to
 * -ENOMEM, -ENOENT (no such file) or -EINVAL (hwloc refused the topology).
 *
 * The topology starts with every PU usable, except that on this machine the PUs the calling
 * thread may not run on (taskset, cgroup cpuset) are left out: an operator who starts the
 * daemon under `taskset -c 0-3` gets threads placed on 0-3 only. slc_numa_topo_restrict()
 * narrows the usable set further.
 */
struct slc_numa_topo *slc_numa_topo_create(const char *xml_path, int *err);

/* Accepts NULL. */
void slc_numa_topo_destroy(struct slc_numa_topo *t);

/* NUMA nodes of the topology; 1 on a machine without NUMA. */
int slc_numa_node_count(const struct slc_numa_topo *t);

/*
 * Usable cores (not hardware threads) whose local node is node: the cores threads of that
 * node are placed on. 0 if node is out of range or has no usable core (a node with memory
 * only, or one that slc_numa_topo_restrict() left without PUs).
 */
int slc_numa_node_core_count(const struct slc_numa_topo *t, int node);

/* Largest CPU number a cpu list may name. */
#define SLC_NUMA_CPU_MAX 65535

/*
 * Checks the syntax of a cpu list (the --cpus value): comma-separated CPU numbers (OS
 * numbering, as taskset and /proc/cpuinfo use) and inclusive ranges, e.g. "0-3,8,10-11";
 * no spaces, numbers at most SLC_NUMA_CPU_MAX, ranges not backwards. For validating a flag
 * before any topology is loaded. Returns 0, or -EINVAL with a one-line reason (naming the
 * list and the offset of the fault) in msg, or -ENOMEM. msg gets "" on success; msg_len 0
 * means no message is wanted.
 */
int slc_numa_cpu_list_check(const char *cpu_list, char *msg, size_t msg_len);

/*
 * Limits the usable PUs of t to those of cpu_list (syntax as slc_numa_cpu_list_check()).
 * CPUs of the list that t does not have, or that are not usable, are ignored, so that one
 * list can serve machines of different sizes. Returns 0; -EINVAL with a reason in msg for
 * a syntax error or a list that leaves no usable PU (t is then unchanged); -ENOMEM.
 */
int slc_numa_topo_restrict(struct slc_numa_topo *t, const char *cpu_list, char *msg,
                           size_t msg_len);

/* Number of usable PUs of t (hardware threads, not cores). */
int slc_numa_pu_count(const struct slc_numa_topo *t);

/*
 * Pins the calling thread to one CPU (OS number) without a topology: for callers that
 * were handed a CPU by the placement plan, or by a flag. cpu < 0 leaves the thread alone.
 * Returns 0 or -errno from pthread_setaffinity_np (-EINVAL for a CPU the machine lacks).
 */
int slc_numa_pin_cpu(int cpu);

/*
 * Pins the calling thread to one PU (its OS number, as slc_numa_place.pu gives it).
 * Returns 0; -EXDEV when t was read from XML (it describes another machine, so binding
 * would be meaningless); -EINVAL when pu is not a usable PU of t; -ENOMEM; or the -errno
 * of the binding call (-EPERM, -EINVAL when the kernel refuses the PU).
 */
int slc_numa_pin_self(struct slc_numa_topo *t, int pu);

/*
 * Placement plan: which node, core and PU each reactor and each pool worker gets. Pure
 * computation on the topology's usable cores (works on XML topologies); the rules are in
 * the comment at the top of numa/place.c. Reactors are numbered node by node: reactors
 * 0..R-1 on the first node with a usable core, R..2R-1 on the next, and so on.
 */
struct slc_numa_plan;

/* What a plan is asked for; each field at least 1. */
struct slc_numa_plan_req {
	int reactors_per_node; /* on every node with at least one usable core */
	int pools;
	int workers_per_pool;
};

/* Most threads (reactors and workers) in one plan. */
#define SLC_NUMA_PLAN_THREADS_MAX 65536

/* Where one thread goes. */
struct slc_numa_place {
	int node;         /* logical index of its NUMA node: give it to slc_numa_alloc_onnode() */
	int core;         /* logical index of its core, as lstopo's "Core L#" */
	int pu;           /* OS number of the PU to pin to: give it to slc_numa_pin_self() */
	int core_threads; /* threads of the plan on that core, this one included; 1 = alone */
};

/*
 * Computes a plan. The plan keeps no reference to t. Returns NULL with *err set to
 * -EINVAL (req NULL or a field below 1), -E2BIG (more than SLC_NUMA_PLAN_THREADS_MAX
 * threads) or -ENOMEM.
 */
struct slc_numa_plan *slc_numa_plan_create(struct slc_numa_topo *t,
                                           const struct slc_numa_plan_req *req, int *err);

/* Accepts NULL. */
void slc_numa_plan_destroy(struct slc_numa_plan *p);

/* Reactors in the plan: reactors_per_node times the number of nodes with a usable core. */
int slc_numa_plan_reactor_count(const struct slc_numa_plan *p);

/* Pools, and workers per pool, as requested. */
int slc_numa_plan_pool_count(const struct slc_numa_plan *p);
int slc_numa_plan_workers_per_pool(const struct slc_numa_plan *p);

/* Fills *out for reactor. Returns 0, or -ERANGE when reactor is out of range. */
int slc_numa_plan_reactor(const struct slc_numa_plan *p, int reactor, struct slc_numa_place *out);

/* Fills *out for worker of pool. Returns 0, or -ERANGE when pool or worker is out of range. */
int slc_numa_plan_worker(const struct slc_numa_plan *p, int pool, int worker,
                         struct slc_numa_place *out);

/* Node (logical index) of pool's workers, or -ERANGE. */
int slc_numa_plan_pool_node(const struct slc_numa_plan *p, int pool);

/*
 * The pools reactor should prefer, best first: every pool, those of the reactor's own node
 * first, then those of the other nodes by NUMA distance (see place.c). The array has
 * slc_numa_plan_pool_count() entries and lives as long as the plan; NULL when reactor is
 * out of range. The router's locality uses the pools' nodes (slc_numa_plan_pool_node()),
 * not this order: only slc_numa_plan_print() and the tests read it.
 */
const int *slc_numa_plan_reactor_pools(const struct slc_numa_plan *p, int reactor);

/*
 * Writes the plan as a table for people (sluiced --print-topology): a summary of what is
 * usable, one line per thread (role, index, node, core, PU, the threads sharing its core),
 * then each reactor's pool order. Returns 0, or -EIO when writing failed.
 */
int slc_numa_plan_print(const struct slc_numa_plan *p, FILE *out);

/*
 * Sizing (numa/size.c has the rule): fills the fields of a request left at 0 ("auto") from
 * the CPUs the process may use, and keeps the others.
 */
#define SLC_NUMA_SIZE_CORES_PER_REACTOR 4   /* S1: one reactor per this many CPUs of a node */
#define SLC_NUMA_SIZE_REACTORS_MAX      64  /* reactors of all nodes together */
#define SLC_NUMA_SIZE_POOLS_MAX         64  /* pools */
#define SLC_NUMA_SIZE_WORKERS_MAX       256 /* pools times workers */

struct slc_numa_size_in {
	int nodes;             /* nodes that take part (at least one usable core) */
	const int *node_cores; /* usable cores of each, each at least 1 */
	double cpu_limit;      /* CPUs the cgroup's bandwidth allows; 0: no limit */
	int pools_max;         /* auto pools at most this many; 0: SLC_NUMA_SIZE_POOLS_MAX */
};

/*
 * Fills req's zero fields by the rule, and writes one line saying why into why (why_len 0
 * or why NULL: none wanted). Returns 0, or -EINVAL (in or req NULL, no node, a node without
 * cores, a negative field or limit).
 */
int slc_numa_size(const struct slc_numa_size_in *in, struct slc_numa_plan_req *req, char *why,
                  size_t why_len);

/* slc_numa_size() on t's usable cores per node. 0, -EINVAL as above, or -ENOMEM. */
int slc_numa_size_topo(struct slc_numa_topo *t, double cpu_limit, int pools_max,
                       struct slc_numa_plan_req *req, char *why, size_t why_len);

/*
 * Parses a cgroup v2 cpu.max line ("max 100000", "150000 100000") into CPUs (1.5); "max"
 * gives 0 (no limit). Returns 0, or -EINVAL for anything else (a zero period or quota).
 */
int slc_numa_cpu_max_parse(const char *text, double *cpus);

/*
 * The CPU bandwidth limit of the process's cgroups, in CPUs, the smallest of its own and
 * its ancestors' (cgroup v2 cpu.max; v1 cpu.cfs_quota_us over cpu.cfs_period_us, under
 * mount/cpu). proc_cgroup is /proc/self/cgroup and mount /sys/fs/cgroup outside tests.
 * *cpus gets 0 when nothing limits. Returns 0 (unreadable limit files are no limit), or
 * -ENOENT when proc_cgroup cannot be read (*cpus 0).
 */
int slc_numa_cgroup_cpu_limit(const char *proc_cgroup, const char *mount, double *cpus);

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
