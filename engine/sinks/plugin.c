/* SPDX-License-Identifier: MIT */
/* plugin.c: the plugin sink: loads a sluice_plugin.h shared object and feeds it batches. */
#include <dlfcn.h>
#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/assert.h"
#include "base/compiler.h" /* SLC_CACHE_LINE */
#include "plugin.h"
#include "claim.h"
#include "common.h"
#include "sluice_plugin.h"

#define LOG_PER_SEC 5
#define NAME_LEN    64 /* the plugin's name as logs show it, NUL included */
#define ERRNO_MAX   4095

typedef const struct sluice_plugin_v1 *(*entry_fn)(void);

/* The ABI's message is its own type; these checks keep the copy loop honest. */
static_assert(sizeof(struct sluice_plugin_msg) == 24, "the ABI's message layout (LP64)");
static_assert(offsetof(struct sluice_plugin_v1, fini) + sizeof(void (*)(void)) ==
                      sizeof(struct sluice_plugin_v1),
              "fini is version 1's last field");

/* One worker's counters, on lines of their own: the worker adds, any thread reads. */
struct wstats {
	alignas(SLC_CACHE_LINE) _Atomic uint64_t messages;
	_Atomic uint64_t bytes;
	_Atomic uint64_t calls;
	_Atomic uint64_t failed_calls;
	_Atomic uint64_t failed_messages;
	_Atomic uint64_t errors;
};

static_assert(sizeof(struct wstats) % SLC_CACHE_LINE == 0, "no line shared by two workers");

struct slc_sink_plugin {
	void *dl;
	/* The plugin's table, copied: fields past its struct_size stay NULL, so a plugin
	 * built against an older header never has a newer field read from it. */
	struct sluice_plugin_v1 p;
	void *state;
	char name[NAME_LEN];
	slc_log_fn log;
	void *log_ctx;
	struct wstats *st; /* [SLC_SINK_PLUGIN_WORKERS_MAX] */
	_Atomic bool claimed[SLC_SINK_PLUGIN_WORKERS_MAX];
};

/* What sink.h calls struct slc_sink_worker. */
struct slc_sink_plugin_worker {
	struct slc_sink_plugin *sink;
	struct wstats *st;
	uint32_t worker;
	void *wstate;
	struct slc_log_limit log_limit;
	struct sluice_plugin_msg *conv; /* [SLC_SINK_PLUGIN_BATCH_MAX] */
};

/* ---- little helpers ---- */

/* A plugin's return value as ours: 0, or -errno; anything else (a positive value, or far
 * below -4095) is a plugin bug that reads as -EIO. */
static int
plugin_rc(int rc)
{
	if (rc == 0 || (rc < 0 && rc >= -ERRNO_MAX))
		return rc;
	return -EIO;
}

/* At most LOG_PER_SEC lines a second per worker; the next line says how many were not
 * written. A plugin whose destination is down fails every batch. */
static void SLC_PRINTF(3, 4) wlog(struct slc_sink_plugin_worker *w, int level, const char *fmt, ...)
{
	struct slc_sink_plugin *s = w->sink;
	char prefix[NAME_LEN + 48];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "plugin sink %s worker %u: ", s->name, w->worker);
	va_start(ap, fmt);
	slc_log_limitedv(&w->log_limit, LOG_PER_SEC, slc_mono_ns(), s->log, s->log_ctx, level,
	                 prefix, fmt, ap);
	va_end(ap);
}

/* ---- loading ---- */

/*
 * Opens path and checks the table it exports into s->dl and s->p: 0, or the error that
 * create returns, with why filled in.
 */
static int
plugin_load(struct slc_sink_plugin *s, const char *path, char *why, size_t why_cap)
{
	const struct sluice_plugin_v1 *t;
	struct stat sb;
	entry_fn entry;
	void *sym;
	const char *e;
	int rc;

	/* dlopen says only "cannot open": stat first, for an errno that names the cause. */
	if (strchr(path, '/') != NULL && stat(path, &sb) != 0) {
		rc = -errno;
		snprintf(why, why_cap, "%s", strerror(-rc));
		return rc;
	}
	(void)dlerror();
	s->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (s->dl == NULL) {
		e = dlerror();
		snprintf(why, why_cap, "cannot load: %s", e != NULL ? e : "dlopen failed");
		return -ENOEXEC;
	}
	(void)dlerror();
	sym = dlsym(s->dl, SLUICE_PLUGIN_SYMBOL);
	if (sym == NULL) {
		snprintf(why, why_cap, "no symbol %s: not a sluice plugin", SLUICE_PLUGIN_SYMBOL);
		rc = -ENOEXEC;
		goto err_dlclose;
	}
	/* POSIX guarantees that dlsym's object pointer converts to a function pointer. */
	entry = (entry_fn)sym;
	t = entry();
	if (t == NULL) {
		snprintf(why, why_cap, "%s() returned NULL", SLUICE_PLUGIN_SYMBOL);
		rc = -ENOEXEC;
		goto err_dlclose;
	}
	if (t->abi_version != SLUICE_PLUGIN_ABI_VERSION) {
		snprintf(why, why_cap, "ABI version %u, this sluiced speaks %u", t->abi_version,
		         SLUICE_PLUGIN_ABI_VERSION);
		rc = -ENOTSUP;
		goto err_dlclose;
	}
	/* Every field of version 1 is required to be there; later ones are optional. */
	if (t->struct_size < sizeof(struct sluice_plugin_v1)) {
		snprintf(why, why_cap, "struct_size %u, smaller than version %u's %zu",
		         t->struct_size, SLUICE_PLUGIN_ABI_VERSION,
		         sizeof(struct sluice_plugin_v1));
		rc = -ENOEXEC;
		goto err_dlclose;
	}
	memcpy(&s->p, t, sizeof(s->p));
	if (s->p.write == NULL) {
		snprintf(why, why_cap, "no write callback");
		rc = -ENOEXEC;
		goto err_dlclose;
	}
	return 0;

err_dlclose:
	dlclose(s->dl);
	s->dl = NULL;
	return rc;
}

void *
slc_sink_plugin_create(const char *path, const char *arg, slc_log_fn log, void *log_ctx, int *err)
{
	struct slc_sink_plugin *s;
	char why[384];
	char *path_copy = NULL;
	const char *q;
	int rc;

	if (log == NULL)
		log = slc_log_stderr;
	if (path == NULL || path[0] == '\0') {
		log(log_ctx, SLC_LOG_ERROR, "plugin sink: no path");
		rc = -EINVAL;
		goto err_out;
	}
	if (arg == NULL && (q = strchr(path, '?')) != NULL) {
		path_copy = strndup(path, (size_t)(q - path));
		if (path_copy == NULL) {
			rc = -ENOMEM;
			goto err_out;
		}
		arg = q + 1;
		path = path_copy;
	}
	if (arg == NULL)
		arg = "";
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = -ENOMEM;
		goto err_free_path;
	}
	s->log = log;
	s->log_ctx = log_ctx;
	/* Counters start at zero; memset is how a zero _Atomic uint64_t looks on every ABI
	 * we build for (lock-free, no hidden lock word). */
	s->st = aligned_alloc(SLC_CACHE_LINE, SLC_SINK_PLUGIN_WORKERS_MAX * sizeof(*s->st));
	if (s->st == NULL) {
		rc = -ENOMEM;
		goto err_free_sink;
	}
	memset(s->st, 0, SLC_SINK_PLUGIN_WORKERS_MAX * sizeof(*s->st));
	rc = plugin_load(s, path, why, sizeof(why));
	if (rc != 0) {
		log(log_ctx, SLC_LOG_ERROR, "plugin sink: %s: %s", path, why);
		goto err_free_stats;
	}
	if (s->p.name != NULL && s->p.name[0] != '\0') {
		snprintf(s->name, sizeof(s->name), "%s", s->p.name);
	} else {
		const char *base = strrchr(path, '/');

		snprintf(s->name, sizeof(s->name), "%s", base != NULL ? base + 1 : path);
	}
	if (s->p.init != NULL) {
		rc = s->p.init(arg, &s->state);
		if (rc != 0) {
			log(log_ctx, SLC_LOG_ERROR, "plugin sink: %s: init(\"%s\") failed: %s (%d)",
			    path, arg, strerror(-plugin_rc(rc)), rc);
			rc = plugin_rc(rc);
			goto err_dlclose;
		}
	}
	log(log_ctx, SLC_LOG_INFO, "plugin sink: %s: loaded %s", path, s->name);
	free(path_copy);
	return s;

err_dlclose:
	dlclose(s->dl);
err_free_stats:
	free(s->st);
err_free_sink:
	free(s);
err_free_path:
	free(path_copy);
err_out:
	*err = rc;
	return NULL;
}

static void
plugin_destroy(void *sink)
{
	struct slc_sink_plugin *s = sink;

	if (s == NULL)
		return;
	if (s->p.fini != NULL)
		s->p.fini(s->state);
	dlclose(s->dl);
	free(s->st);
	free(s);
}

void
slc_sink_plugin_stats(void *sink, struct slc_sink_plugin_stats *out)
{
	struct slc_sink_plugin *s = sink;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < SLC_SINK_PLUGIN_WORKERS_MAX; i++) {
		struct wstats *st = &s->st[i];

		out->messages += atomic_load_explicit(&st->messages, memory_order_relaxed);
		out->bytes += atomic_load_explicit(&st->bytes, memory_order_relaxed);
		out->calls += atomic_load_explicit(&st->calls, memory_order_relaxed);
		out->failed_calls += atomic_load_explicit(&st->failed_calls, memory_order_relaxed);
		out->failed_messages +=
		        atomic_load_explicit(&st->failed_messages, memory_order_relaxed);
		out->errors += atomic_load_explicit(&st->errors, memory_order_relaxed);
	}
}

const char *
slc_sink_plugin_name(void *sink)
{
	return ((struct slc_sink_plugin *)sink)->name;
}

/* ---- the operations ---- */

static int
plugin_worker_open(void *sink, uint32_t worker, struct slc_sink_worker **out)
{
	struct slc_sink_plugin *s = sink;
	struct slc_sink_plugin_worker *w;
	int rc;

	w = slc_sink_worker_claim(s->claimed, SLC_SINK_PLUGIN_WORKERS_MAX, worker, sizeof(*w), &rc);
	if (w == NULL)
		return rc;
	w->conv = calloc(SLC_SINK_PLUGIN_BATCH_MAX, sizeof(*w->conv));
	if (w->conv == NULL) {
		rc = -ENOMEM;
		goto err_free_worker;
	}
	w->sink = s;
	w->st = &s->st[worker];
	w->worker = worker;
	w->wstate = s->state;
	if (s->p.worker_open != NULL) {
		rc = s->p.worker_open(s->state, worker, &w->wstate);
		if (rc != 0) {
			rc = plugin_rc(rc);
			slc_sink_stat_add(&w->st->errors, 1);
			wlog(w, SLC_LOG_ERROR, "worker_open failed: %s", strerror(-rc));
			goto err_free_conv;
		}
	}
	*out = (struct slc_sink_worker *)w;
	return 0;

err_free_conv:
	free(w->conv);
err_free_worker:
	slc_sink_worker_unclaim(s->claimed, worker, w);
	return rc;
}

static int
plugin_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_sink_plugin_worker *w = (struct slc_sink_plugin_worker *)sw;
	const struct sluice_plugin_v1 *p = &w->sink->p;
	int first_rc = 0;

	for (uint32_t off = 0; off < n;) {
		uint32_t k =
		        n - off < SLC_SINK_PLUGIN_BATCH_MAX ? n - off : SLC_SINK_PLUGIN_BATCH_MAX;
		uint64_t bytes = 0;
		int rc;

		for (uint32_t i = 0; i < k; i++) {
			const struct slc_msg *m = &msgs[off + i];

			w->conv[i] = (struct sluice_plugin_msg){
			        .data = m->data,
			        .len = m->len,
			        .key_hash = m->key_hash,
			        .recv_ns = m->recv_ns,
			};
			bytes += m->len;
		}
		rc = plugin_rc(p->write(w->wstate, w->conv, k));
		slc_sink_stat_add(&w->st->calls, 1);
		if (rc == 0) {
			slc_sink_stat_add(&w->st->messages, k);
			slc_sink_stat_add(&w->st->bytes, bytes);
		} else {
			/* The ABI says: counted, not retried; the next chunk may well get through
			 * (a plugin that refuses one message, say). */
			slc_sink_stat_add(&w->st->failed_calls, 1);
			slc_sink_stat_add(&w->st->failed_messages, k);
			wlog(w, SLC_LOG_ERROR, "write failed: %s; %u messages not delivered",
			     strerror(-rc), k);
			if (first_rc == 0)
				first_rc = rc;
		}
		off += k;
	}
	return first_rc;
}

/* Calls an optional worker hook (flush, reopen): 0 when the plugin has none, else its
 * result as -errno, counted and logged as `what` failed. */
static int
plugin_worker_hook(struct slc_sink_plugin_worker *w, int (*hook)(void *wstate), const char *what)
{
	int rc;

	if (hook == NULL)
		return 0;
	rc = plugin_rc(hook(w->wstate));
	if (rc != 0) {
		slc_sink_stat_add(&w->st->errors, 1);
		wlog(w, SLC_LOG_ERROR, "%s failed: %s", what, strerror(-rc));
	}
	return rc;
}

static int
plugin_flush(struct slc_sink_worker *sw)
{
	struct slc_sink_plugin_worker *w = (struct slc_sink_plugin_worker *)sw;

	return plugin_worker_hook(w, w->sink->p.flush, "flush");
}

static int
plugin_reopen(struct slc_sink_worker *sw)
{
	struct slc_sink_plugin_worker *w = (struct slc_sink_plugin_worker *)sw;

	return plugin_worker_hook(w, w->sink->p.reopen, "reopen");
}

static void
plugin_worker_close(struct slc_sink_worker *sw)
{
	struct slc_sink_plugin_worker *w = (struct slc_sink_plugin_worker *)sw;
	struct slc_sink_plugin *s;
	uint32_t worker;

	if (w == NULL)
		return;
	s = w->sink;
	worker = w->worker;
	(void)plugin_flush(sw); /* counted and logged there */
	if (s->p.worker_close != NULL && s->p.worker_open != NULL)
		s->p.worker_close(w->wstate);
	free(w->conv);
	slc_sink_worker_unclaim(s->claimed, worker, w);
}

/* The ops' create: plugin:PATH.so?ARG, what follows the ? is the plugin's to read. */
static void *
plugin_create_op(const struct slc_sink_spec *spec, const struct slc_sink_env *env, int *err)
{
	char path[SLC_SINK_ARG_LEN], *q;

	snprintf(path, sizeof(path), "%s", spec->arg);
	q = strchr(path, '?');
	if (q != NULL)
		*q++ = '\0';
	return slc_sink_plugin_create(path, q != NULL ? q : "", env->log, env->log_ctx, err);
}

const struct slc_sink_ops slc_sink_plugin_ops = {
        .name = "plugin",
        .desc = &slc_sink_plugin_desc,
        .create = plugin_create_op,
        .worker_open = plugin_worker_open,
        .write = plugin_write,
        .flush = plugin_flush,
        .reopen = plugin_reopen,
        .worker_close = plugin_worker_close,
        .destroy = plugin_destroy,
};
