/* SPDX-License-Identifier: MIT */
/* plugin_example.c: an example sluice plugin that counts each worker's messages into a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice_plugin.h"

/*
 * Built three times by tests/CMakeLists.txt: as is (libsluice_plugin_example.so), with
 * -DSLUICE_EXAMPLE_ABI_VERSION=2 (a plugin from a future, incompatible sluiced), and with
 * -DSLUICE_EXAMPLE_NO_SYMBOL (no entry point): the last two must be refused.
 *
 * arg: the file that fini appends one line per worker to:
 *   "worker N: M messages B bytes C batches F flushes K keysum"
 * A message whose payload starts with "FAIL" makes its write call fail with -EIO (for
 * the tests of how sluiced counts that). One that starts with "POISON" is refused for
 * good: the call returns SLUICE_PLUGIN_POISON and poisoned() names it, the others of the
 * call count as delivered. A call holding one that starts with "LATER" returns
 * SLUICE_PLUGIN_RETRY_LATER the first three times this worker sees such a call, then
 * delivers (a destination that was busy for a moment).
 *
 * A fourth build, -DSLUICE_EXAMPLE_V1_BASE, sets struct_size to version 1 as first
 * published (up to fini, without poisoned): a plugin built before those two results
 * existed, which must load, and whose POISON or RETRY_LATER (positive, a bug then)
 * sluiced must read as the failure it always was.
 */

#ifndef SLUICE_EXAMPLE_ABI_VERSION
#define SLUICE_EXAMPLE_ABI_VERSION SLUICE_PLUGIN_ABI_VERSION
#endif

#define WORKERS_MAX 256

struct counts {
	uint64_t messages, bytes, batches, flushes, keysum;
	bool used;
};

struct state {
	int fd;
	/* Slot w is written only by worker w's worker_close, and read by fini, which comes
	 * after every worker_close: no lock. */
	struct counts per_worker[WORKERS_MAX];
};

#define LATER_TIMES 3

struct wstate {
	struct state *st;
	uint32_t worker;
	struct counts c;      /* only this worker's thread touches it */
	uint32_t later_given; /* RETRY_LATER answers so far */
	uint32_t npoison;     /* poisoned(): the last write's refusals */
	uint32_t poison[256]; /* sluiced's calls hold at most 256 messages */
};

static bool
starts(const struct sluice_plugin_msg *m, const char *what)
{
	size_t n = strlen(what);

	return m->len >= n && memcmp(m->data, what, n) == 0;
}

static int
ex_init(const char *arg, void **state)
{
	struct state *st;

	if (arg[0] == '\0')
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	/* Opened now, so that a bad path fails the load rather than the last step. */
	st->fd = open(arg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (st->fd < 0) {
		int rc = -errno;

		free(st);
		return rc;
	}
	*state = st;
	return 0;
}

static int
ex_worker_open(void *state, uint32_t worker, void **wstate)
{
	struct wstate *ws;

	if (worker >= WORKERS_MAX)
		return -EINVAL;
	ws = calloc(1, sizeof(*ws));
	if (ws == NULL)
		return -ENOMEM;
	ws->st = state;
	ws->worker = worker;
	*wstate = ws;
	return 0;
}

static int
ex_write(void *wstate, const struct sluice_plugin_msg *msgs, uint32_t n)
{
	struct wstate *ws = wstate;
	struct counts c = ws->c;

	ws->npoison = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (starts(&msgs[i], "LATER") && ws->later_given < LATER_TIMES) {
			ws->later_given++;
			return SLUICE_PLUGIN_RETRY_LATER; /* nothing of it counts */
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		if (starts(&msgs[i], "FAIL"))
			return -EIO; /* the whole call fails: nothing of it counts */
		if (starts(&msgs[i], "POISON") && ws->npoison < 256) {
			ws->poison[ws->npoison++] = i;
			continue;
		}
		c.messages++;
		c.bytes += msgs[i].len;
		c.keysum += msgs[i].key_hash;
	}
	c.batches++;
	ws->c = c;
	return ws->npoison != 0 ? SLUICE_PLUGIN_POISON : 0;
}

static uint32_t
ex_poisoned(void *wstate, const uint32_t **idx)
{
	struct wstate *ws = wstate;

	*idx = ws->poison;
	return ws->npoison;
}

static int
ex_flush(void *wstate)
{
	struct wstate *ws = wstate;

	ws->c.flushes++;
	return 0;
}

static void
ex_worker_close(void *wstate)
{
	struct wstate *ws = wstate;

	ws->c.used = true;
	ws->st->per_worker[ws->worker] = ws->c;
	free(ws);
}

static void
ex_fini(void *state)
{
	struct state *st = state;

	for (uint32_t w = 0; w < WORKERS_MAX; w++) {
		const struct counts *c = &st->per_worker[w];

		if (!c->used)
			continue;
		dprintf(st->fd,
		        "worker %u: %llu messages %llu bytes %llu batches %llu flushes %llu "
		        "keysum\n",
		        w, (unsigned long long)c->messages, (unsigned long long)c->bytes,
		        (unsigned long long)c->batches, (unsigned long long)c->flushes,
		        (unsigned long long)c->keysum);
	}
	close(st->fd);
	free(st);
}

static const struct sluice_plugin_v1 example = {
        .abi_version = SLUICE_EXAMPLE_ABI_VERSION,
#ifdef SLUICE_EXAMPLE_V1_BASE
        .struct_size = offsetof(struct sluice_plugin_v1, poisoned),
#else
        .struct_size = sizeof(struct sluice_plugin_v1),
#endif
        .name = "example",
        .init = ex_init,
        .worker_open = ex_worker_open,
        .write = ex_write,
        .flush = ex_flush,
        .reopen = NULL, /* nothing to reopen: sluiced then does nothing on SIGHUP */
        .worker_close = ex_worker_close,
        .fini = ex_fini,
        .poisoned = ex_poisoned,
};

#ifndef SLUICE_EXAMPLE_NO_SYMBOL
const struct sluice_plugin_v1 *
sluice_plugin_v1(void)
{
	return &example;
}
#else
/* A misspelt entry point: the object loads, and sluiced must say what is missing. */
const struct sluice_plugin_v1 *sluice_plugin_v1_misspelt(void);

const struct sluice_plugin_v1 *
sluice_plugin_v1_misspelt(void)
{
	return &example;
}
#endif
