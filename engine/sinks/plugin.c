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
#include "dead_letter.h"
#include "metrics/expo.h"
#include "retry.h"
#include "sluice_plugin.h"

#define LOG_PER_SEC 5
#define NAME_LEN    64 /* the plugin's name as logs show it, NUL included */
#define ERRNO_MAX   4095

typedef const struct sluice_plugin_v1 *(*entry_fn)(void);

/* The ABI's message is its own type; these checks keep the copy loop honest. */
static_assert(sizeof(struct sluice_plugin_msg) == 24, "the ABI's message layout (LP64)");
/* Version 1 as first published ended with fini: a plugin built then has this
 * struct_size, and must keep loading. Later fields are optional. */
#define V1_BASE_SIZE (offsetof(struct sluice_plugin_v1, fini) + sizeof(void (*)(void)))
static_assert(offsetof(struct sluice_plugin_v1, poisoned) + sizeof(void (*)(void)) ==
                      sizeof(struct sluice_plugin_v1),
              "poisoned is the last field");

/* One worker's counters, on lines of their own: the worker adds, any thread reads. */
struct wstats {
	alignas(SLC_CACHE_LINE) _Atomic uint64_t messages;
	_Atomic uint64_t bytes;
	_Atomic uint64_t calls;
	_Atomic uint64_t failed_calls;
	_Atomic uint64_t failed_messages;
	_Atomic uint64_t errors;
	_Atomic uint64_t poisoned;      /* messages the plugin called poison */
	_Atomic uint64_t dead_lettered; /* messages written to the dead letters */
	_Atomic uint64_t refused;       /* poison or given up, with no dead letters: lost */
	struct slc_retry_counters retry;
};

static_assert(sizeof(struct wstats) % SLC_CACHE_LINE == 0, "no line shared by two workers");

struct slc_sink_plugin {
	void *dl;
	/* The plugin's table, copied: fields past its struct_size stay NULL, so a plugin
	 * built against an older header never has a newer field read from it. */
	struct sluice_plugin_v1 p;
	void *state;
	char name[NAME_LEN];
	/* The plugin's struct_size covers poisoned: write may return RETRY_LATER and POISON. */
	bool results;
	struct slc_retry_cfg retry;          /* --retry-* (the breaker is not used) */
	struct slc_dead_letter *dead_letter; /* --dead-letter; NULL: none */
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
	struct slc_retry retry;
	struct sluice_plugin_msg *conv; /* [SLC_SINK_PLUGIN_BATCH_MAX] */
	/* The indexes refused() names: messages of this write() that are lost (poison or
	 * given up, where no dead letter could be written); grown on demand, never shrunk. */
	uint32_t *refused;
	uint32_t nrefused, refused_cap;
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
	/* Every field of version 1 as first published is required to be there; later ones
	 * are optional, and never read past the plugin's struct_size. */
	if (t->struct_size < V1_BASE_SIZE) {
		snprintf(why, why_cap, "struct_size %u, smaller than version %u's %zu",
		         t->struct_size, SLUICE_PLUGIN_ABI_VERSION, (size_t)V1_BASE_SIZE);
		rc = -ENOEXEC;
		goto err_dlclose;
	}
	memset(&s->p, 0, sizeof(s->p));
	memcpy(&s->p, t, t->struct_size < sizeof(s->p) ? t->struct_size : sizeof(s->p));
	s->results = t->struct_size >= sizeof(struct sluice_plugin_v1);
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
	slc_dead_letter_destroy(s->dead_letter);
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
		out->poisoned += atomic_load_explicit(&st->poisoned, memory_order_relaxed);
		out->dead_lettered +=
		        atomic_load_explicit(&st->dead_lettered, memory_order_relaxed);
		out->refused += atomic_load_explicit(&st->refused, memory_order_relaxed);
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
	slc_retry_init(&w->retry, &s->retry,
	               slc_mono_ns() ^ (0x9e3779b97f4a7c15ull * (worker + 1)));
	slc_retry_counters_open(&w->st->retry);
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

/* Sleeps ns; the plugin sink has no cancel (the drain watchdog ends a stuck process). */
static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
	                      .tv_nsec = (long)(ns % 1000000000u)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Names msgs index i as lost in refused(): 0, or -ENOMEM. */
static int
refuse(struct slc_sink_plugin_worker *w, uint32_t i)
{
	if (w->nrefused == w->refused_cap) {
		uint32_t cap = w->refused_cap != 0 ? 2 * w->refused_cap : 64;
		uint32_t *p = realloc(w->refused, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		w->refused = p;
		w->refused_cap = cap;
	}
	w->refused[w->nrefused++] = i;
	slc_sink_stat_add(&w->st->refused, 1);
	return 0;
}

/*
 * Messages msgs[idx[0..n)] (idx NULL: msgs[0..n)) that cannot be delivered, for reason
 * why: to the dead letters, or, without them or when they fail, lost and named in
 * refused() (the daemon counts them; never silently). 0, or -ENOMEM.
 */
static int
give_up(struct slc_sink_plugin_worker *w, const struct slc_msg *msgs, uint32_t base,
        const uint32_t *idx, uint32_t n, enum slc_dead_letter_reason why)
{
	struct slc_dead_letter *dl = w->sink->dead_letter;
	struct slc_msg chunk[32];
	uint32_t start = 0;
	int rc = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t c = i - start;

		chunk[c] = msgs[idx != NULL ? idx[i] : i];
		if (c + 1 < sizeof(chunk) / sizeof(chunk[0]) && i + 1 < n)
			continue;
		if (dl != NULL && slc_dead_letter_put(dl, w->worker, chunk, c + 1, why) == 0) {
			slc_sink_stat_add(&w->st->dead_lettered, c + 1);
		} else {
			for (uint32_t k = start; k <= i && rc == 0; k++)
				rc = refuse(w, base + (idx != NULL ? idx[k] : k));
			wlog(w, SLC_LOG_ERROR, "%u messages (%s) lost: %s", c + 1,
			     slc_dead_letter_reason_name(why),
			     dl != NULL ? "the dead letters cannot be written"
			                : "no --dead-letter");
		}
		start = i + 1;
	}
	return rc;
}

/* The plugin said POISON for msgs[0..k) (converted in w->conv): 0, or an error. */
static int
poisoned(struct slc_sink_plugin_worker *w, const struct slc_msg *msgs, uint32_t base, uint32_t k)
{
	const struct sluice_plugin_v1 *p = &w->sink->p;
	const uint32_t *idx = NULL;
	uint32_t np = k;
	uint64_t bytes = 0;

	if (p->poisoned != NULL) {
		np = p->poisoned(w->wstate, &idx);
		for (uint32_t i = 0; i < np; i++) {
			/* A list out of order or out of range is a plugin bug: the call failed. */
			if (idx == NULL || idx[i] >= k || (i > 0 && idx[i] <= idx[i - 1]))
				return -EIO;
		}
	}
	for (uint32_t i = 0; i < k; i++)
		bytes += msgs[i].len;
	for (uint32_t i = 0; i < np; i++)
		bytes -= msgs[idx != NULL ? idx[i] : i].len;
	slc_sink_stat_add(&w->st->messages, k - np);
	slc_sink_stat_add(&w->st->bytes, bytes);
	slc_sink_stat_add(&w->st->poisoned, np);
	return give_up(w, msgs, base, idx, np, SLC_DEAD_LETTER_POISON);
}

/*
 * One call of the plugin's write with msgs[0..k) (in w->conv), again while it says
 * RETRY_LATER. 0 when it took them (or what it refused went to the dead letters or to
 * refused()); else the call's error, its messages counted as failed.
 */
static int
plugin_call(struct slc_sink_plugin_worker *w, const struct slc_msg *msgs, uint32_t base, uint32_t k,
            uint64_t bytes)
{
	const struct sluice_plugin_v1 *p = &w->sink->p;
	int raw, rc;

	for (;;) {
		uint64_t wait;

		raw = p->write(w->wstate, w->conv, k);
		slc_sink_stat_add(&w->st->calls, 1);
		if (raw != SLUICE_PLUGIN_RETRY_LATER || !w->sink->results)
			break;
		slc_retry_count(&w->st->retry, SLC_RETRY_LATER);
		if (slc_retry_failed(&w->retry, slc_mono_ns(), &wait) != 0) {
			slc_sink_stat_add(&w->st->retry.given_up, 1);
			wlog(w, SLC_LOG_ERROR,
			     "retry later for --retry-max-elapsed: %u messages "
			     "given up",
			     k);
			return give_up(w, msgs, base, NULL, k, SLC_DEAD_LETTER_RETRIES_EXHAUSTED);
		}
		sleep_ns(wait);
	}
	slc_retry_succeeded(&w->retry);
	if (raw == SLUICE_PLUGIN_POISON && w->sink->results) {
		rc = poisoned(w, msgs, base, k);
		if (rc != -EIO)
			return rc;
		wlog(w, SLC_LOG_ERROR, "poisoned() named messages out of order or range");
	} else {
		rc = plugin_rc(raw);
	}
	if (rc == 0) {
		slc_sink_stat_add(&w->st->messages, k);
		slc_sink_stat_add(&w->st->bytes, bytes);
		return 0;
	}
	/* The ABI says: counted, not retried; the next chunk may well get through (a plugin
	 * that refuses one message, say). */
	slc_sink_stat_add(&w->st->failed_calls, 1);
	slc_sink_stat_add(&w->st->failed_messages, k);
	wlog(w, SLC_LOG_ERROR, "write failed: %s; %u messages not delivered", strerror(-rc), k);
	return rc;
}

static int
plugin_write(struct slc_sink_worker *sw, const struct slc_msg *msgs, uint32_t n)
{
	struct slc_sink_plugin_worker *w = (struct slc_sink_plugin_worker *)sw;
	int first_rc = 0;

	w->nrefused = 0;
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
		rc = plugin_call(w, msgs + off, off, k, bytes);
		if (rc != 0 && first_rc == 0)
			first_rc = rc;
		off += k;
	}
	return first_rc;
}

static uint32_t
plugin_refused(struct slc_sink_worker *sw, const uint32_t **idx)
{
	struct slc_sink_plugin_worker *w = (struct slc_sink_plugin_worker *)sw;

	*idx = w->refused;
	return w->nrefused;
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
	slc_dead_letter_worker_close(s->dead_letter, worker);
	free(w->refused);
	free(w->conv);
	slc_sink_worker_unclaim(s->claimed, worker, w);
}

/* The ops' create: plugin:PATH.so?ARG, what follows the ? is the plugin's to read. */
static void *
plugin_create_op(const struct slc_sink_spec *spec, const struct slc_sink_env *env, int *err)
{
	char path[SLC_SINK_ARG_LEN], *q;
	struct slc_sink_plugin *s;

	snprintf(path, sizeof(path), "%s", spec->arg);
	q = strchr(path, '?');
	if (q != NULL)
		*q++ = '\0';
	s = slc_sink_plugin_create(path, q != NULL ? q : "", env->log, env->log_ctx, err);
	if (s == NULL)
		return NULL;
	s->retry = env->retry;
	if (env->dead_letter_dir != NULL) {
		s->dead_letter = slc_dead_letter_create(env->dead_letter_dir, "plugin", env->log,
		                                        env->log_ctx, err);
		if (s->dead_letter == NULL) {
			plugin_destroy(s);
			return NULL;
		}
	}
	return s;
}

static void
plugin_metrics(void *sink, struct slc_metrics_buf *b)
{
	struct slc_sink_plugin *s = sink;
	struct slc_retry_totals rt = {0};
	struct slc_sink_plugin_stats st;

	slc_sink_plugin_stats(sink, &st);
	slc_metrics_family(b, "sluice_sink_messages_total", "counter", "messages delivered");
	slc_metrics_u64(b, "sluice_sink_messages_total", "sink=\"plugin\"", st.messages);
	slc_metrics_family(b, "sluice_sink_poisoned_messages_total", "counter",
	                   "messages the plugin called poison");
	slc_metrics_u64(b, "sluice_sink_poisoned_messages_total", "sink=\"plugin\"", st.poisoned);
	for (uint32_t i = 0; i < SLC_SINK_PLUGIN_WORKERS_MAX; i++)
		slc_retry_totals_add(&rt, &s->st[i].retry);
	slc_retry_metrics(b, "plugin", &rt, false);
	if (s->dead_letter != NULL)
		slc_dead_letter_metrics(s->dead_letter, b);
}

const struct slc_sink_ops slc_sink_plugin_ops = {
        .name = "plugin",
        .desc = &slc_sink_plugin_desc,
        .create = plugin_create_op,
        .worker_open = plugin_worker_open,
        .write = plugin_write,
        .refused = plugin_refused,
        .flush = plugin_flush,
        .reopen = plugin_reopen,
        .worker_close = plugin_worker_close,
        .destroy = plugin_destroy,
        .metrics = plugin_metrics,
};
