/* SPDX-License-Identifier: MIT */
/* plugin_failopen.c: a test plugin whose worker_open fails on some workers, logging its calls. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sluice_plugin.h"

/*
 * arg: "N:PATH". worker_open fails with -EACCES on workers N and above, after a short
 * sleep, so that the workers that open have opened before the start gives up; the others
 * open. Every call appends one line to PATH (O_APPEND, one write each, so lines of
 * different threads do not mix):
 *
 *   init | open W | refuse W | close W same-thread | close W other-thread | fini
 *
 * A wstate is malloc'd in worker_open and freed in worker_close: a worker_close that
 * never comes is a leak that LeakSanitizer reports.
 */

struct state {
	int fd;
	unsigned fail_from;
};

struct wstate {
	struct state *st;
	unsigned worker;
	pid_t tid; /* the thread that opened it */
};

static int
fo_init(const char *arg, void **state)
{
	struct state *st = calloc(1, sizeof(*st));
	char *end;

	if (st == NULL)
		return -ENOMEM;
	st->fail_from = (unsigned)strtoul(arg, &end, 10);
	if (end == arg || *end != ':') {
		free(st);
		return -EINVAL;
	}
	st->fd = open(end + 1, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (st->fd < 0) {
		int rc = -errno;

		free(st);
		return rc;
	}
	dprintf(st->fd, "init\n");
	*state = st;
	return 0;
}

static int
fo_worker_open(void *state, uint32_t worker, void **wstate)
{
	struct state *st = state;
	struct wstate *ws;

	if (worker >= st->fail_from) {
		usleep(100 * 1000);
		dprintf(st->fd, "refuse %u\n", worker);
		return -EACCES;
	}
	ws = malloc(sizeof(*ws));
	if (ws == NULL)
		return -ENOMEM;
	ws->st = st;
	ws->worker = worker;
	ws->tid = gettid();
	dprintf(st->fd, "open %u\n", worker);
	*wstate = ws;
	return 0;
}

static int
fo_write(void *wstate, const struct sluice_plugin_msg *msgs, uint32_t n)
{
	(void)wstate;
	(void)msgs;
	(void)n;
	return 0;
}

static void
fo_worker_close(void *wstate)
{
	struct wstate *ws = wstate;

	dprintf(ws->st->fd, "close %u %s\n", ws->worker,
	        ws->tid == gettid() ? "same-thread" : "other-thread");
	free(ws);
}

static void
fo_fini(void *state)
{
	struct state *st = state;

	dprintf(st->fd, "fini\n");
	close(st->fd);
	free(st);
}

static const struct sluice_plugin_v1 failopen = {
        .abi_version = SLUICE_PLUGIN_ABI_VERSION,
        .struct_size = sizeof(struct sluice_plugin_v1),
        .name = "failopen",
        .init = fo_init,
        .worker_open = fo_worker_open,
        .write = fo_write,
        .worker_close = fo_worker_close,
        .fini = fo_fini,
};

const struct sluice_plugin_v1 *
sluice_plugin_v1(void)
{
	return &failopen;
}
