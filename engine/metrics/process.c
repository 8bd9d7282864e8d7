/* SPDX-License-Identifier: MIT */
/* process.c: the process's memory gauges: resident set from /proc, jemalloc's stats. */
#include "process.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

typedef int (*mallctl_fn)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

static int
process_resident_bytes(uint64_t *out)
{
	char text[256];
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0 || page <= 0)
		return -EIO;
	text[n] = '\0';
	if (sscanf(text, "%llu %llu", &size, &resident) != 2)
		return -EIO;
	*out = (uint64_t)resident * (uint64_t)page;
	return 0;
}

static int
gauge_u64(struct slc_metrics_buf *b, const char *name, const char *help, uint64_t v)
{
	int rc = slc_metrics_family(b, name, "gauge", help);

	return rc != 0 ? rc : slc_metrics_u64(b, name, NULL, v);
}

int
slc_metrics_jemalloc(struct slc_metrics_buf *b)
{
	mallctl_fn mallctl;
	uint64_t rss = 0, epoch = 1;
	size_t allocated, resident, len;
	int rc;

	if (process_resident_bytes(&rss) == 0) {
		rc = gauge_u64(b, "sluice_process_resident_bytes",
		               "Resident set size of the process.", rss);
		if (rc != 0)
			return rc;
	}

	/* Looked up, not linked: sanitizer builds run on libc malloc and have no mallctl. */
	mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	if (mallctl == NULL)
		return -ENOENT;
	/* jemalloc's statistics are a snapshot taken when the epoch advances. */
	len = sizeof(epoch);
	if (mallctl("epoch", &epoch, &len, &epoch, sizeof(epoch)) != 0)
		return -ENOENT;
	len = sizeof(allocated);
	if (mallctl("stats.allocated", &allocated, &len, NULL, 0) != 0)
		return -ENOENT;
	len = sizeof(resident);
	if (mallctl("stats.resident", &resident, &len, NULL, 0) != 0)
		return -ENOENT;

	rc = gauge_u64(b, "sluice_jemalloc_allocated_bytes",
	               "Bytes the application holds in jemalloc allocations.", allocated);
	if (rc != 0)
		return rc;
	return gauge_u64(b, "sluice_jemalloc_resident_bytes",
	                 "Bytes in physically resident pages that jemalloc has mapped.", resident);
}
