/* SPDX-License-Identifier: MIT */
/* daemon_tls.c: tls:// listeners' server context: built at start, re-read on reload and change. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon_priv.h"
#include "tls.h"

/*
 * The daemon builds one server context from --tls-cert, --tls-key, --tls-client-ca,
 * --tls-min-version and --tls-ciphers, and hands each reactor a reference. On SIGHUP,
 * POST /-/reload and when the certificate or key file changes (their size or mtime, looked
 * at once a second by the main thread) it builds a new one from the same flags: a good one
 * goes to the reactors, which use it for the handshakes that start afterwards (sessions
 * under way keep theirs); a bad one (a half-written file, a key that does not match) is
 * logged and counted, and the running one stays.
 */

static bool
any_tls(const struct slc_daemon *d)
{
	for (uint32_t i = 0; i < d->cfg.nlisten; i++)
		if (d->cfg.listen[i].tls)
			return true;
	return false;
}

static struct ssl_ctx_st *
ctx_build(const struct slc_daemon *d, char *why, size_t len, int *err)
{
	const struct slc_cfg *c = &d->cfg;
	struct slc_tls_files f = {
	        .cert = c->tls_cert,
	        .key = c->tls_key,
	        .client_ca = c->tls_client_ca,
	        .ciphers = c->tls_ciphers,
	        .min_version = c->tls_min_version == 1 ? 13 : 12,
	};

	return slc_tls_ctx_create(&f, why, len, err);
}

/* What the files are now: a change of either is a reason to read them again. */
static void
files_stamp(const struct slc_daemon *d, int64_t stamp[4])
{
	const char *paths[2] = {d->cfg.tls_cert, d->cfg.tls_key};

	for (int i = 0; i < 2; i++) {
		struct stat st;

		if (stat(paths[i], &st) != 0) {
			stamp[2 * i] = stamp[2 * i + 1] = -1;
			continue;
		}
		stamp[2 * i] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		stamp[2 * i + 1] = (int64_t)st.st_size;
	}
}

int
slc_daemon_tls_create(struct slc_daemon *d)
{
	char why[512];
	int err;

	if (!any_tls(d))
		return 0;
	pthread_mutex_init(&d->tls.mu, NULL);
	d->tls.mu_init = true;
	d->tls.on = true;
	d->tls.ctx = ctx_build(d, why, sizeof(why), &err);
	if (d->tls.ctx == NULL) {
		slc_daemon_log(SLC_CFG_LOG_ERROR, "tls: %s", why);
		return err;
	}
	files_stamp(d, d->tls.stamp);
	d->tls.kernel = slc_tls_kernel_offered();
	return 0;
}

void
slc_daemon_tls_destroy(struct slc_daemon *d)
{
	slc_tls_ctx_put(d->tls.ctx);
	d->tls.ctx = NULL;
	if (d->tls.mu_init)
		pthread_mutex_destroy(&d->tls.mu);
	d->tls.mu_init = false;
}

void
slc_daemon_tls_log(const struct slc_daemon *d)
{
	for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
		char url[128];

		if (!d->cfg.listen[i].tls)
			continue;
		slc_daemon_listen_url(d, i, url, sizeof(url));
		slc_daemon_log(SLC_CFG_LOG_INFO,
		               "tls: listener %u %s: path=user (the kernel's tls ULP: %s; receive "
		               "offload not implemented)%s",
		               i, url, d->tls.kernel ? "offered" : "missing",
		               d->cfg.tls_client_ca[0] != '\0' ? ", client certificates required"
		                                               : "");
	}
}

void
slc_daemon_tls_reload(struct slc_daemon *d, const char *reason)
{
	struct ssl_ctx_st *ctx;
	char why[512];
	int err;

	if (!d->tls.on)
		return;
	pthread_mutex_lock(&d->tls.mu);
	files_stamp(d, d->tls.stamp);
	ctx = ctx_build(d, why, sizeof(why), &err);
	if (ctx == NULL) {
		atomic_fetch_add_explicit(&d->tls.reloads[1], 1, memory_order_relaxed);
		slc_daemon_log(SLC_CFG_LOG_ERROR,
		               "tls: %s: certificate not reloaded, the running one stays: %s",
		               reason, why);
		pthread_mutex_unlock(&d->tls.mu);
		return;
	}
	for (uint32_t k = 0; k < d->nreactors; k++)
		if (d->rc[k].r != NULL)
			slc_reactor_tls_ctx_set(d->rc[k].r, ctx);
	slc_tls_ctx_put(d->tls.ctx);
	d->tls.ctx = ctx;
	atomic_fetch_add_explicit(&d->tls.reloads[0], 1, memory_order_relaxed);
	slc_daemon_log(SLC_CFG_LOG_INFO, "tls: %s: certificate %s and key %s read again", reason,
	               d->cfg.tls_cert, d->cfg.tls_key);
	pthread_mutex_unlock(&d->tls.mu);
}

void
slc_daemon_tls_poll(struct slc_daemon *d)
{
	int64_t now[4];
	bool changed;

	if (!d->tls.on)
		return;
	files_stamp(d, now);
	/* A reload on the metrics thread (POST /-/reload) writes the stamp too. */
	pthread_mutex_lock(&d->tls.mu);
	changed = memcmp(now, d->tls.stamp, sizeof(now)) != 0;
	pthread_mutex_unlock(&d->tls.mu);
	if (changed)
		slc_daemon_tls_reload(d, "the certificate or key file changed");
}

void
slc_daemon_tls_render(const struct slc_daemon *d, struct slc_metrics_buf *b)
{
	static const char *const results[2] = {"ok", "failed"};
	char l[160];

	if (!d->tls.on)
		return;
	slc_metrics_family(b, "sluice_tls_path", "gauge",
	                   "Which path decrypts a tls:// listener's bytes: user (OpenSSL on the "
	                   "reactor) or kernel (kTLS): 1 for the one in use.");
	for (uint32_t i = 0; i < d->cfg.nlisten; i++) {
		if (!d->cfg.listen[i].tls)
			continue;
		snprintf(l, sizeof(l), "listener=\"%u\",port=\"%u\",path=\"user\"", i, d->port[i]);
		slc_metrics_u64(b, "sluice_tls_path", l, 1);
		snprintf(l, sizeof(l), "listener=\"%u\",port=\"%u\",path=\"kernel\"", i,
		         d->port[i]);
		slc_metrics_u64(b, "sluice_tls_path", l, 0);
	}
	slc_metrics_family(b, "sluice_tls_kernel_offered", "gauge",
	                   "1 when the kernel offers the tls ULP (kTLS), probed at start.");
	slc_metrics_u64(b, "sluice_tls_kernel_offered", "", d->tls.kernel ? 1 : 0);
	slc_metrics_family(b, "sluice_tls_cert_reloads_total", "counter",
	                   "Certificate and key read again (SIGHUP, POST /-/reload, a file "
	                   "changed), by result: ok, or failed (the running one stays).");
	for (int r = 0; r < 2; r++) {
		snprintf(l, sizeof(l), "result=\"%s\"", results[r]);
		slc_metrics_u64(b, "sluice_tls_cert_reloads_total", l,
		                atomic_load_explicit(&d->tls.reloads[r], memory_order_relaxed));
	}
}
