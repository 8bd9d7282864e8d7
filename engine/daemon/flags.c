/* SPDX-License-Identifier: MIT */
/* flags.c: the flag table of sluiced (the sinks' own merged in), its parse loop and checks. */
#include "cfg.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "flags_priv.h"
#include "pool/pool.h"
#include "sinks/registry.h"
#include "tenant_spec.h"

/* ---- the whole table: the daemon's flags, each sink's merged in after --sink ---- */

static struct {
	pthread_once_t once;
	struct slc_cfg_opt opts[SLC_CFG_OPTS_MAX];
	size_t n;
	size_t slot[SLC_CFG_OPTS_MAX]; /* by desc index: its settings' offset in sink_settings */
	char sink_allowed[512];
	char sink_help[2048];
	slc_cfg_check_fn hooks[SLC_CFG_OPTS_MAX]; /* slc_cfg_hook_set; indexed like opts */
} table = {.once = PTHREAD_ONCE_INIT};

/* A table that does not fit is a bug in a sink's desc, which every test catches; there is
 * no caller to return it to. */
static void __attribute__((noreturn)) table_bug(const char *what)
{
	fprintf(stderr, "%s: flag table: %s\n", PROG, what);
	abort();
}

static void
table_add(const struct slc_cfg_opt *o)
{
	if (table.n == SLC_CFG_OPTS_MAX)
		table_bug("more than SLC_CFG_OPTS_MAX flags");
	table.opts[table.n++] = *o;
}

/* The sinks' flags go after --sink, their offsets made relative to struct slc_cfg. */
static void
table_add_sinks(void)
{
	size_t nd, off = 0, si = table.n - 1; /* --sink's entry */
	const struct slc_sink_desc *const *d = slc_sink_descs(&nd);
	struct slc_cfg_sbuf help = {table.sink_help, sizeof(table.sink_help), 0, false};

	if (nd > SLC_CFG_OPTS_MAX)
		table_bug("too many sinks");
	slc_sink_syntaxes(table.sink_allowed, sizeof(table.sink_allowed));
	table.opts[si].allowed = table.sink_allowed;
	slc_cfg_sb_printf(&help, "%s", table.opts[si].help);
	for (size_t k = 0; k < nd; k++) {
		slc_cfg_sb_printf(&help, " %s", d[k]->help);
		table.slot[k] = off;
		off += (d[k]->settings_size + 7) & ~(size_t)7;
		if (off > SLC_CFG_SINK_SETTINGS_LEN)
			table_bug("the sinks' settings exceed SLC_CFG_SINK_SETTINGS_LEN");
		for (uint32_t i = 0; i < d[k]->nflags; i++) {
			table_add(&d[k]->flags[i]);
			table.opts[table.n - 1].offset +=
			        offsetof(struct slc_cfg, sink_settings) + table.slot[k];
			table.opts[table.n - 1].sink = d[k];
		}
	}
	if (help.over)
		table_bug("--sink's help is too long");
	table.opts[si].help = table.sink_help;
}

static int
uring_features_check(const char *text, char *msg, size_t len)
{
	uint32_t off;

	return slc_cfg_uring_features(text, &off, msg, len);
}

static void
table_build(void)
{
	for (size_t i = 0; i < slc_cfg_core_len; i++) {
		/* --uring-features is checked by the flags themselves (the daemon's hooks go
		 * in later through slc_cfg_hook_set). */
		if (strcmp(slc_cfg_core[i].name, "--uring-features") == 0)
			table.hooks[table.n] = uring_features_check;
		if (strcmp(slc_cfg_core[i].name, "--tenant") == 0)
			table.hooks[table.n] = slc_tenant_spec_check;
		if (strcmp(slc_cfg_core[i].name, "--qos-class") == 0)
			table.hooks[table.n] = slc_qos_spec_check;
		table_add(&slc_cfg_core[i]);
		if (slc_cfg_core[i].type == SLC_CFG_SINK)
			table_add_sinks();
	}
}

const struct slc_cfg_opt *
slc_cfg_opts(size_t *n)
{
	pthread_once(&table.once, table_build);
	*n = table.n;
	return table.opts;
}

slc_cfg_check_fn
slc_cfg_hook_of(const struct slc_cfg_opt *o)
{
	return table.hooks[o - table.opts];
}

const void *
slc_cfg_sink_settings(const struct slc_cfg *c, const struct slc_sink_desc *desc)
{
	size_t n, nd;
	const struct slc_sink_desc *const *d = slc_sink_descs(&nd);

	slc_cfg_opts(&n);
	for (size_t k = 0; k < nd; k++)
		if (d[k] == desc && desc->settings_size != 0)
			return c->sink_settings + table.slot[k];
	return NULL;
}

void
slc_cfg_default(struct slc_cfg *c)
{
	struct slc_cfg_parse_state st = {.hooks = false, .listen_given = false};
	char msg[512];
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	memset(c, 0, sizeof(*c));
	slc_ctl_params_default(&c->ctl);
	for (size_t i = 0; i < nopts; i++) {
		if (opts[i].def == NULL || opts[i].type == SLC_CFG_BOOL ||
		    opts[i].type == SLC_CFG_ACTION)
			continue;
		/* A default that its own flag refuses is a bug in the table above, which the
		 * tests catch; there is no caller to return it to. */
		if (slc_cfg_opt_apply(c, &opts[i], &st, opts[i].def, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "%s: bad default: %s\n", PROG, msg);
			abort();
		}
	}
}

static bool
sockaddr_same(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b,
              socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static uint16_t
sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

int
slc_cfg_uring_features(const char *text, uint32_t *off, char *msg, size_t len)
{
	static const char *const names[SLC_REACTOR_F__COUNT] = SLC_REACTOR_FEATURE_NAMES;
	const uint32_t all = (1u << SLC_REACTOR_F__COUNT) - 1;
	const char *p = text;

	*off = 0;
	for (;;) {
		size_t n = strcspn(p, ",");
		bool minus = *p == '-';
		uint32_t bit = 0;

		if (n == 4 && strncmp(p, "none", 4) == 0) {
			*off = all;
		} else if (n == 3 && strncmp(p, "all", 3) == 0) {
			*off = 0;
		} else {
			for (uint32_t i = 0; i < SLC_REACTOR_F__COUNT; i++)
				if (n - minus == strlen(names[i]) &&
				    strncmp(p + minus, names[i], n - minus) == 0)
					bit = 1u << i;
			if (bit == 0) {
				snprintf(msg, len, "'%.*s' is not a feature", (int)n, p);
				return -EINVAL;
			}
			*off = minus ? *off | bit : *off & ~bit;
		}
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* What involves several flags. 0, or -EINVAL with the reason in msg. */
static int
cfg_check(const struct slc_cfg *c, const struct slc_cfg_parse_state *st, char *msg, size_t len)
{
	struct slc_cfg_sbuf b = {msg, len, 0, false};
	const char *why;
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	if (c->strategy != SLC_ROUTE_PURE && strcmp(c->key, "none") == 0) {
		slc_cfg_sb_printf(
		        &b,
		        "--strategy %s needs a --key (got --key none); allowed: --key SPEC, or "
		        "--strategy pure",
		        c->strategy == SLC_ROUTE_STICKY ? "sticky" : "ordered");
		return -EINVAL;
	}
	/* auto (0) counts are sized at start-up, within these bounds (numa/size.c). */
	if (c->pools * c->workers > SLC_WORKERS_MAX) {
		slc_cfg_sb_printf(
		        &b, "--pools %u times --workers %u is %u workers; allowed: at most %u",
		        c->pools, c->workers, c->pools * c->workers, SLC_WORKERS_MAX);
		return -EINVAL;
	}
	/* A sink's flag that means nothing to another sink (--kafka-prop) is a mistake. */
	for (size_t i = 0; i < nopts; i++) {
		const struct slc_cfg_opt *o = &opts[i];

		if (o->flags & SLC_CFG_F_SINK_ONLY && st->given[i] && o->sink != c->sink.desc) {
			slc_cfg_sb_printf(&b, "%s is for the %s sink; allowed: with --sink %s",
			                  o->name, o->sink->name, o->sink->syntax);
			return -EINVAL;
		}
	}
	if (c->test_slow_pool_cost_ns != 0 && c->pools != 0 && c->test_slow_pool >= c->pools) {
		slc_cfg_sb_printf(&b, "--test-slow-pool %u: there are %u pools; allowed: 0..%u",
		                  c->test_slow_pool, c->pools, c->pools - 1);
		return -EINVAL;
	}
	/* Adaptive weights are percentages: pools all at the floor must leave room to move. */
	if (c->ctl.mode == SLC_CTL_ADAPTIVE && c->pools * c->ctl.min_weight >= 100.0) {
		slc_cfg_sb_printf(
		        &b,
		        "--pools %u times --min-weight %g is %g; allowed: below 100 (adaptive "
		        "weights are percent of the traffic)",
		        c->pools, c->ctl.min_weight, c->pools * c->ctl.min_weight);
		return -EINVAL;
	}
	/* Port 0 twice is two ephemeral ports, which is fine; any other repeat is a typo that
	 * would otherwise surface as EADDRINUSE, or as two sockets splitting one port. */
	for (uint32_t i = 0; i < c->nlisten; i++) {
		for (uint32_t j = 0; j < i; j++) {
			const struct slc_listener_cfg *a = &c->listen[i], *p = &c->listen[j];

			if (a->proto == p->proto && sockaddr_port(&a->addr) != 0 &&
			    sockaddr_same(&a->addr, a->addrlen, &p->addr, p->addrlen)) {
				slc_cfg_sb_printf(&b, "--listen: ");
				slc_cfg_fmt_listen(&b, a);
				slc_cfg_sb_printf(&b,
				                  " is given twice; allowed: each address once");
				return -EINVAL;
			}
		}
		if (c->listen[i].proto == SLC_LISTENER_TCP && c->metrics.addrlen != 0 &&
		    sockaddr_port(&c->metrics.addr) != 0 &&
		    sockaddr_same(&c->listen[i].addr, c->listen[i].addrlen, &c->metrics.addr,
		                  c->metrics.addrlen)) {
			slc_cfg_sb_printf(&b, "--metrics ");
			slc_cfg_fmt_addr(&b, &c->metrics.addr);
			slc_cfg_sb_printf(
			        &b,
			        " is also a --listen address; allowed: another address or port");
			return -EINVAL;
		}
	}
	for (uint32_t i = 0; i < c->nlisten; i++) {
		if (c->listen[i].tls && (c->tls_cert[0] == '\0' || c->tls_key[0] == '\0')) {
			slc_cfg_sb_printf(&b, "--listen ");
			slc_cfg_fmt_listen(&b, &c->listen[i]);
			slc_cfg_sb_printf(&b, " needs --tls-cert FILE and --tls-key FILE");
			return -EINVAL;
		}
	}
	if (slc_retry_cfg_check(&c->retry, &why) != 0) {
		slc_cfg_sb_printf(&b,
		                  "%s; allowed: --retry-initial <= --retry-max <= "
		                  "--retry-max-elapsed (or off)",
		                  why);
		return -EINVAL;
	}
	if (c->retry.max_elapsed_ms != 0 && c->dead_letter[0] == '\0') {
		slc_cfg_sb_printf(&b, "--retry-max-elapsed needs --dead-letter DIR: a batch "
		                      "given up must go somewhere; allowed: both, or "
		                      "--retry-max-elapsed off");
		return -EINVAL;
	}
	if (c->tenant.n != 0) {
		struct slc_tenant_table *tt = malloc(sizeof(*tt));
		char twhy[512];
		int rc = tt == NULL ? -ENOMEM : slc_tenant_table_build(c, tt, twhy, sizeof(twhy));

		free(tt);
		if (rc != 0) {
			slc_cfg_sb_printf(&b, "%s",
			                  rc == -ENOMEM ? "--tenant: out of memory" : twhy);
			return -EINVAL;
		}
	}
	if (slc_ctl_params_check(&c->ctl) != 0) {
		slc_cfg_sb_printf(&b, "the controller's flags are out of range together (see "
		                      "docs/controller.md)");
		return -EINVAL;
	}
	return 0;
}

static const struct slc_cfg_opt *
opt_find(const char *arg, size_t n)
{
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	for (size_t i = 0; i < nopts; i++) {
		if (strlen(opts[i].name) == n && strncmp(opts[i].name, arg, n) == 0)
			return &opts[i];
	}
	return NULL;
}

int
slc_cfg_apply_named(struct slc_cfg *c, struct slc_cfg_parse_state *st, const char *name, size_t n,
                    const char *val, char *msg, size_t len)
{
	struct slc_cfg_sbuf b = {msg, len, 0, false};
	const struct slc_cfg_opt *o = opt_find(name, n);
	char shown[4 * 256 + 1];

	if (o == NULL) {
		slc_cfg_show_value(name, n < 256 ? n : 256, shown);
		slc_cfg_sb_printf(&b, "unknown flag %s (see --help)", shown);
		return -ENOENT;
	}
	if (o->type == SLC_CFG_BOOL || o->type == SLC_CFG_ACTION) {
		if (val != NULL) {
			slc_cfg_show_value(val, strlen(val) < 256 ? strlen(val) : 256, shown);
			slc_cfg_sb_printf(&b, "%s: takes no value, got \"%s\"", o->name, shown);
			return -EINVAL;
		}
		if (o->type == SLC_CFG_BOOL)
			*(bool *)((char *)c + o->offset) = true;
	} else if (val == NULL) {
		slc_cfg_sb_printf(&b, "%s: missing value; allowed: ", o->name);
		slc_cfg_allowed_text(&b, o);
		return -EINVAL;
	} else if (slc_cfg_opt_apply(c, o, st, val, msg, len) != 0) {
		return -EINVAL;
	}
	st->given[o - table.opts] = true;
	return 0;
}

/*
 * --config and --check-config, found before anything is applied: the file goes first so
 * that the command line overrides it. Walks argv as the parse does (a flag that takes a
 * value and has no '=' eats the next argument), so that "--key --config" is not mistaken
 * for one; what it cannot make sense of is left for the parse to report.
 */
static const char *
argv_config(int argc, char **argv, bool *check)
{
	const char *file = NULL;

	*check = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '=');
		size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		const struct slc_cfg_opt *o = opt_find(arg, n);

		if (o == NULL)
			continue;
		if (o->type == SLC_CFG_BOOL || o->type == SLC_CFG_ACTION) {
			if (eq == NULL && o->offset == offsetof(struct slc_cfg, check_config))
				*check = true;
			continue;
		}
		if (eq == NULL && i + 1 < argc)
			eq = argv[++i] - 1; /* the value is the next argument */
		if (eq != NULL && o->offset == offsetof(struct slc_cfg, config))
			file = eq + 1;
	}
	return file;
}

int
slc_cfg_parse(struct slc_cfg *c, int argc, char **argv, FILE *out, FILE *err)
{
	struct slc_cfg_parse_state st = {.hooks = true, .listen_given = false};
	char msg[1024];
	bool check;
	const char *file = argv_config(argc, argv, &check);
	unsigned problems = 0;

	slc_cfg_default(c);
	if (file != NULL && file[0] != '\0') {
		problems = slc_cfg_file_apply(c, &st, file, err);
		if (problems != 0 && !check)
			return SLC_CFG_USAGE;
		/* The first --listen of the command line replaces the file's listeners. */
		st.listen_given = false;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		size_t n = strcspn(arg, "=");
		const char *val = arg[n] == '=' ? arg + n + 1 : NULL;
		const struct slc_cfg_opt *o;

		if (strncmp(arg, "--", 2) != 0) {
			fprintf(err,
			        "%s: unexpected argument \"%s\": flags start with -- (see "
			        "--help)\n",
			        PROG, arg);
			if (!check)
				return SLC_CFG_USAGE;
			problems++;
			continue;
		}
		o = opt_find(arg, n);
		if (o != NULL && o->type == SLC_CFG_ACTION && val == NULL) {
			o->print(out);
			return SLC_CFG_EXIT;
		}
		/* A flag that takes a value and has no '=' takes the next argument. */
		if (o != NULL && val == NULL && o->type != SLC_CFG_BOOL && i + 1 < argc)
			val = argv[++i];
		if (slc_cfg_apply_named(c, &st, arg, n, val, msg, sizeof(msg)) != 0) {
			fprintf(err, "%s: %s\n", PROG, msg);
			if (!check)
				return SLC_CFG_USAGE;
			problems++;
		}
	}
	if (problems == 0 && cfg_check(c, &st, msg, sizeof(msg)) != 0) {
		fprintf(err, "%s: %s\n", PROG, msg);
		problems++;
	}
	if (problems != 0)
		return SLC_CFG_USAGE;
	if (check) {
		fprintf(out, "%s: configuration ok\n", PROG);
		return SLC_CFG_EXIT;
	}
	return SLC_CFG_RUN;
}

int
slc_cfg_hook_set(const char *name, slc_cfg_check_fn fn)
{
	const struct slc_cfg_opt *o = opt_find(name, strlen(name));

	if (o == NULL)
		return -ENOENT;
	if (!(o->flags & SLC_CFG_F_HOOK))
		return -EINVAL;
	table.hooks[o - table.opts] = fn;
	return 0;
}
