/* SPDX-License-Identifier: MIT */
/* reload.c: SIGHUP and POST /-/reload: the flags and --config read again, applied where live. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_priv.h"

/*
 * A reload parses the command line sluiced started with, which reads the --config file
 * again, through the same table and checks as the start (slc_cfg_parse). A configuration
 * that does not parse changes nothing: every problem is logged and the running one stays.
 * One that parses is compared with the running one flag by flag:
 *   live     --log-level; the controller's parameters (all but --controller), which the
 *            controller's thread takes at its next tick (slc_ctl_loop_params_set);
 *            --tenant and --tenant-default, a new table every reactor takes at its next
 *            loop (reload_tenants.c: kept by name, a restart where they cannot change)
 *   restart  every other flag that changed: logged as needing a restart and counted by
 *            flag; the running value stays, so each reload that still finds it changed
 *            says so again
 * No other flag of the receive path, the pools or the sinks is applied live today: a
 * sink's or a listener's flags would have to change under threads that read them without
 * a lock; --qos-class too (docs/operations.md, "QoS classes"). Everything is checked
 * before anything is applied: a table that cannot be placed makes the reload invalid.
 * The file sink's files are reopened on SIGHUP as before (run.c), after the reload.
 */

enum reload_result {
	RELOAD_OK,
	RELOAD_INVALID, /* did not parse, or the controller refused it: nothing changed */
	RELOAD_REFUSED, /* no command line kept (a daemon embedded without slc_daemon_run) */
	RELOAD_PARTIAL, /* applied, but a looping reactor did not take the new tenant table */
	RELOAD__NR,
};

static const char *const result_names[RELOAD__NR] = {
        [RELOAD_OK] = "ok",
        [RELOAD_INVALID] = "invalid",
        [RELOAD_REFUSED] = "refused",
        [RELOAD_PARTIAL] = "partial",
};

int
slc_daemon_reload_init(struct slc_daemon *d)
{
	size_t n;

	slc_cfg_opts(&n);
	/* The restart counters are indexed like the table. */
	if (n > SLC_DAEMON_FLAGS_MAX)
		return -EOVERFLOW;
	d->rl.cur = malloc(sizeof(*d->rl.cur));
	if (d->rl.cur == NULL)
		return -ENOMEM;
	*d->rl.cur = d->cfg;
	pthread_mutex_init(&d->rl.mu, NULL);
	pthread_mutex_init(&d->rl.tenants_mu, NULL);
	atomic_store_explicit(&d->rl.hash, d->cfg.config_hash, memory_order_relaxed);
	atomic_store_explicit(&d->rl.mtime_s, d->cfg.config_mtime_s, memory_order_relaxed);
	atomic_store_explicit(&d->rl.last_ok, 1, memory_order_relaxed);
	atomic_store_explicit(&d->rl.last_ok_s, (int64_t)time(NULL), memory_order_relaxed);
	return 0;
}

void
slc_daemon_reload_fini(struct slc_daemon *d)
{
	if (d->rl.cur == NULL)
		return;
	pthread_mutex_destroy(&d->rl.mu);
	pthread_mutex_destroy(&d->rl.tenants_mu);
	free(d->rl.cur);
	d->rl.cur = NULL;
}

void
slc_daemon_reload_args(struct slc_daemon *d, int argc, char **argv)
{
	pthread_mutex_lock(&d->rl.mu);
	d->rl.argc = argc;
	d->rl.argv = argv;
	pthread_mutex_unlock(&d->rl.mu);
}

/* --tenant and --tenant-default: live where reload_tenants.c can apply them. */
static bool
tenant_opt(const struct slc_cfg_opt *o)
{
	return o->offset == offsetof(struct slc_cfg, tenant) ||
	       o->offset == offsetof(struct slc_cfg, tenant_default);
}

/* A flag that a reload may apply while everything runs. */
bool
slc_daemon_reload_flag_live(const struct slc_cfg_opt *o)
{
	size_t ctl = offsetof(struct slc_cfg, ctl);

	if (o->offset == offsetof(struct slc_cfg, log_level) || tenant_opt(o))
		return true;
	/* The controller's fields but its mode, which sets what the weights mean. */
	return o->offset >= ctl && o->offset < ctl + sizeof(struct slc_ctl_params) &&
	       o->offset != ctl + offsetof(struct slc_ctl_params, mode);
}

static bool
flag_changed(const struct slc_cfg *a, const struct slc_cfg *b, const struct slc_cfg_opt *o)
{
	if (o->type == SLC_CFG_LISTEN && a->nlisten != b->nlisten)
		return true;
	if (o->type == SLC_CFG_STRING)
		return strncmp((const char *)a + o->offset, (const char *)b + o->offset, o->size) !=
		       0;
	return memcmp((const char *)a + o->offset, (const char *)b + o->offset, o->size) != 0;
}

/* A bounded appender for the answer to POST /-/reload. */
struct answer {
	char *p;
	size_t cap, pos;
};

static void SLC_PRINTF(2, 3) say(struct answer *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->cap == 0 || a->pos >= a->cap - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(a->p + a->pos, a->cap - a->pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		a->pos += (size_t)n < a->cap - a->pos ? (size_t)n : a->cap - a->pos - 1;
}

static int
finish(struct slc_daemon *d, enum reload_result r, int rc)
{
	atomic_fetch_add_explicit(&d->rl.result[r], 1, memory_order_relaxed);
	atomic_store_explicit(&d->rl.last_ok, r == RELOAD_OK, memory_order_relaxed);
	if (r == RELOAD_OK)
		atomic_store_explicit(&d->rl.last_ok_s, (int64_t)time(NULL), memory_order_relaxed);
	return rc;
}

/* The problems parse printed, each logged and answered as a line of its own. */
static void
report_problems(struct answer *a, char *text)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "reload: %s", line);
		say(a, "%s\n", line);
	}
}

/* The tenants of next, prepared (reload_tenants.c): 0 (*nt: the table to hand over, or
 * NULL), 1 (they need a restart: logged), or -errno (logged and answered: nothing
 * applied). */
static int
tenants_prepare(struct slc_daemon *d, const struct slc_cfg *next, struct answer *a,
                struct slc_tenant_table **nt)
{
	char why[512];
	int rc = slc_daemon_tenants_prepare(d, next, nt, why, sizeof(why));

	if (rc == 1)
		slc_daemon_log(SLC_CFG_LOG_WARN, "reload: %s", why);
	if (rc < 0) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "reload: %s; the running configuration is kept",
		               why);
		say(a, "%s\nthe running configuration is kept\n", why);
	}
	return rc;
}

/* Compares next with the running configuration, applies what is live. Returns 0, 1 when
 * a reactor did not take the new tenant table in time (logged and answered; the rest is
 * applied), or -errno when the controller refused its parameters or the tenants cannot
 * be placed (nothing applied then). */
static int
apply(struct slc_daemon *d, const struct slc_cfg *next, struct answer *a, unsigned *nlive,
      unsigned *nrestart)
{
	struct slc_cfg *cur = d->rl.cur;
	size_t n;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&n);
	bool ctl_changed = false;
	struct slc_ctl_params p = next->ctl;
	struct slc_tenant_table *nt = NULL;
	int trc = tenants_prepare(d, next, a, &nt);

	if (trc < 0)
		return trc;
	for (size_t i = 0; i < n; i++) {
		const struct slc_cfg_opt *o = &opts[i];
		bool live;

		if (o->type == SLC_CFG_ACTION || !flag_changed(cur, next, o))
			continue;
		live = tenant_opt(o) ? trc == 0 : slc_daemon_reload_flag_live(o);
		if (live) {
			ctl_changed |=
			        o->offset != offsetof(struct slc_cfg, log_level) && !tenant_opt(o);
			(*nlive)++;
			slc_daemon_log(SLC_CFG_LOG_INFO, "reload: %s applied", o->name);
			say(a, "%s: applied\n", o->name);
			continue;
		}
		(*nrestart)++;
		atomic_fetch_add_explicit(&d->rl.restart[i], 1, memory_order_relaxed);
		slc_daemon_log(SLC_CFG_LOG_WARN,
		               "reload: %s changed; it needs a restart (the running value stays)",
		               o->name);
		say(a, "%s: needs a restart\n", o->name);
	}
	p.mode = cur->ctl.mode;
	if (ctl_changed && d->loop != NULL) {
		int rc = slc_ctl_loop_params_set(d->loop, &p);

		if (rc != 0) {
			slc_daemon_log(SLC_CFG_LOG_ERROR,
			               "reload: the controller refused its new parameters: %s; the "
			               "running configuration is kept",
			               strerror(-rc));
			say(a, "the controller refused its new parameters: %s\n", strerror(-rc));
			free(nt);
			return rc;
		}
	}
	if (next->log_level != cur->log_level)
		slc_daemon_log_level_set(next->log_level);
	cur->log_level = next->log_level;
	cur->ctl = p;
	if (nt != NULL) {
		bool all = slc_daemon_tenants_commit(d, nt);

		cur->tenant = next->tenant;
		memcpy(cur->tenant_default, next->tenant_default, sizeof(cur->tenant_default));
		if (!all) {
			say(a, "--tenant: not fully applied: a reactor did not take the new "
			       "table in time (logged)\n");
			return 1;
		}
	}
	return 0;
}

int
slc_daemon_reload(struct slc_daemon *d, char *msg, size_t cap)
{
	struct answer a = {msg, cap, 0};
	struct slc_cfg *next;
	char *err_text = NULL, *out_text = NULL;
	size_t err_len = 0, out_len = 0;
	unsigned nlive = 0, nrestart = 0;
	FILE *out, *err;
	int rc, arc;

	if (cap > 0)
		msg[0] = '\0';
	pthread_mutex_lock(&d->rl.mu);
	if (d->rl.argv == NULL) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "reload: no command line to read again");
		say(&a, "no command line to read again\n");
		rc = finish(d, RELOAD_REFUSED, -ENOTSUP);
		goto out_unlock;
	}
	next = malloc(sizeof(*next));
	out = open_memstream(&out_text, &out_len);
	err = open_memstream(&err_text, &err_len);
	if (next == NULL || out == NULL || err == NULL) {
		if (out != NULL)
			fclose(out);
		if (err != NULL)
			fclose(err);
		free(next);
		slc_daemon_log(SLC_CFG_LOG_ERROR, "reload: %s", strerror(ENOMEM));
		say(&a, "%s\n", strerror(ENOMEM));
		rc = finish(d, RELOAD_INVALID, -ENOMEM);
		goto out_free;
	}
	rc = slc_cfg_parse(next, d->rl.argc, d->rl.argv, out, err);
	fclose(out);
	fclose(err);
	if (rc != SLC_CFG_RUN) {
		report_problems(&a, err_text);
		slc_daemon_log(SLC_CFG_LOG_ERROR,
		               "reload refused: the running configuration is kept");
		say(&a, "reload refused: the running configuration is kept\n");
		rc = finish(d, RELOAD_INVALID, -EINVAL);
		goto out_next;
	}
	arc = apply(d, next, &a, &nlive, &nrestart);
	if (arc < 0) {
		rc = finish(d, RELOAD_INVALID, -EINVAL);
		goto out_next;
	}
	atomic_store_explicit(&d->rl.hash, next->config_hash, memory_order_relaxed);
	atomic_store_explicit(&d->rl.mtime_s, next->config_mtime_s, memory_order_relaxed);
	if (next->config[0] != '\0')
		slc_daemon_log(SLC_CFG_LOG_INFO,
		               "reload: %s (hash %016" PRIx64 ") read: %u flags applied, %u need a "
		               "restart",
		               next->config, next->config_hash, nlive, nrestart);
	else
		slc_daemon_log(SLC_CFG_LOG_INFO,
		               "reload: the command line read: %u flags applied, %u need a restart",
		               nlive, nrestart);
	say(&a, "%s: %u applied, %u need a restart\n", arc == 0 ? "ok" : "partial", nlive,
	    nrestart);
	slc_daemon_tls_reload(d, "reload");
	rc = arc == 0 ? finish(d, RELOAD_OK, 0) : finish(d, RELOAD_PARTIAL, -ETIMEDOUT);
out_next:
	free(next);
out_free:
	free(out_text);
	free(err_text);
out_unlock:
	pthread_mutex_unlock(&d->rl.mu);
	return rc;
}

int
slc_daemon_reload_http(void *ctx, char *msg, size_t cap)
{
	return slc_daemon_reload(ctx, msg, cap);
}

void
slc_daemon_reload_render(const struct slc_daemon *d, struct slc_metrics_buf *b)
{
	size_t n;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&n);
	char l[2 * SLC_CFG_PATH_LEN + 64];
	char hash[20];

	slc_metrics_family(b, "sluice_config_reloads_total", "counter",
	                   "Reloads (SIGHUP, POST /-/reload) by result: ok, invalid (the "
	                   "configuration did not parse or check: nothing changed), refused, "
	                   "partial (a reactor did not take the new tenant table in time).");
	for (int r = 0; r < RELOAD__NR; r++) {
		slc_metrics_labels(l, sizeof(l), "result", result_names[r], NULL);
		slc_metrics_u64(b, "sluice_config_reloads_total", l,
		                atomic_load_explicit(&d->rl.result[r], memory_order_relaxed));
	}
	slc_metrics_family(b, "sluice_config_reload_restart_required_total", "counter",
	                   "Reloads that found this flag changed but could not apply it "
	                   "live: it takes a restart.");
	for (size_t i = 0; i < n; i++) {
		uint64_t v = atomic_load_explicit(&d->rl.restart[i], memory_order_relaxed);

		if (v == 0)
			continue;
		slc_metrics_labels(l, sizeof(l), "flag", opts[i].name, NULL);
		slc_metrics_u64(b, "sluice_config_reload_restart_required_total", l, v);
	}
	slc_metrics_family(b, "sluice_config_last_reload_successful", "gauge",
	                   "1 when the last reload (or the start) applied, 0 when it was "
	                   "refused.");
	slc_metrics_u64(b, "sluice_config_last_reload_successful", "",
	                atomic_load_explicit(&d->rl.last_ok, memory_order_relaxed));
	slc_metrics_family(b, "sluice_config_last_reload_success_timestamp_seconds", "gauge",
	                   "When the configuration was last applied (the start, or a reload), "
	                   "Unix seconds.");
	slc_metrics_f64(b, "sluice_config_last_reload_success_timestamp_seconds", "",
	                (double)atomic_load_explicit(&d->rl.last_ok_s, memory_order_relaxed));
	if (d->cfg.config[0] == '\0')
		return;
	/* The path never changes (it comes from the command line); hash and time do. */
	snprintf(hash, sizeof(hash), "%016" PRIx64,
	         (uint64_t)atomic_load_explicit(&d->rl.hash, memory_order_relaxed));
	slc_metrics_family(b, "sluice_config_info", "gauge",
	                   "The --config file applied last: its path and the FNV-1a 64 hash "
	                   "of its bytes.");
	if (slc_metrics_labels(l, sizeof(l), "file", d->cfg.config, "hash", hash, NULL) == 0)
		slc_metrics_u64(b, "sluice_config_info", l, 1);
	slc_metrics_family(b, "sluice_config_file_mtime_seconds", "gauge",
	                   "The modification time of the --config file applied last, Unix "
	                   "seconds.");
	slc_metrics_f64(b, "sluice_config_file_mtime_seconds", "",
	                (double)atomic_load_explicit(&d->rl.mtime_s, memory_order_relaxed));
}
