/* SPDX-License-Identifier: MIT */
/* test_cfg.c: the daemon's flags: defaults, every flag good and bad, units, help, docs/flags.md. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "sinks/file/spec.h"
#include "sinks/forward.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One parse: its result, and what it printed (NUL-terminated copies). */
static struct slc_cfg cfg;
static char out_text[1 << 17];
static char err_text[4096];
static char line[SLC_CFG_DESCRIBE_LEN];

static void
copy_stream(char *dst, size_t dst_len, char *src, size_t src_len)
{
	cr_assert_lt(src_len, dst_len, "output of %zu bytes does not fit the test's buffer",
	             src_len);
	memcpy(dst, src, src_len);
	dst[src_len] = '\0';
	free(src);
}

/* Parses argv[0..argc) after a program name; returns parse's result. */
static int
parse_argv(int argc, const char *const *args)
{
	char *argv[80];
	char *o = NULL, *e = NULL;
	size_t olen = 0, elen = 0;
	FILE *out = open_memstream(&o, &olen);
	FILE *err = open_memstream(&e, &elen);
	int rc;

	cr_assert(out != NULL && err != NULL);
	cr_assert_lt(argc, 79);
	argv[0] = "sluiced";
	for (int i = 0; i < argc; i++)
		argv[i + 1] = (char *)args[i];
	argv[argc + 1] = NULL;
	rc = slc_cfg_parse(&cfg, argc + 1, argv, out, err);
	fclose(out);
	fclose(err);
	copy_stream(out_text, sizeof(out_text), o, olen);
	copy_stream(err_text, sizeof(err_text), e, elen);
	if (rc == SLC_CFG_RUN) {
		cr_assert_eq(slc_cfg_describe(&cfg, line, sizeof(line)), 0);
		cr_expect_str_empty(err_text);
	} else {
		line[0] = '\0';
	}
	return rc;
}

/* parse("--pools", "3", NULL) */
static int
parse(const char *first, ...)
{
	const char *args[62];
	int n = 0;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
		cr_assert_lt(n, 62);
		args[n++] = a;
	}
	va_end(ap);
	return parse_argv(n, args);
}

/* The token "name=value" appears in a describe line, whole. */
static bool
line_has_in(const char *text, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = strstr(text, token); p != NULL; p = strstr(p + 1, token)) {
		if ((p == text || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* ... in the line of the last parse. */
static bool
line_has(const char *token)
{
	return line_has_in(line, token);
}

static const struct slc_cfg_opt *
opt_named(const char *name)
{
	size_t n;
	const struct slc_cfg_opt *t = slc_cfg_opts(&n);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	}
	return NULL;
}

/* The file and forward sinks' flags in c (their settings blocks). */
static const struct slc_sink_file_settings *
file_settings(const struct slc_cfg *c)
{
	return slc_cfg_sink_settings(c, &slc_sink_file_desc);
}

static const struct slc_sink_forward_settings *
forward_settings(const struct slc_cfg *c)
{
	return slc_cfg_sink_settings(c, &slc_sink_forward_desc);
}

/* ---- defaults ---- */

Test(cfg, defaults)
{
	struct slc_cfg c;
	const struct sockaddr_in *a = (const struct sockaddr_in *)&c.listen[0].addr;
	const struct sockaddr_in *m = (const struct sockaddr_in *)&c.metrics.addr;

	slc_cfg_default(&c);
	cr_expect_eq(c.nlisten, 1);
	cr_expect_eq(c.listen[0].proto, SLC_LISTENER_TCP);
	cr_expect_eq(c.listen[0].framing, SLC_FRAME_LINES);
	cr_expect_eq(a->sin_family, AF_INET);
	cr_expect_eq(ntohs(a->sin_port), 5140);
	cr_expect_eq(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
	cr_expect_eq(c.listen[0].addrlen, sizeof(struct sockaddr_in));
	cr_expect_eq(c.buffers, 256);
	cr_expect_eq(c.buffer_size, 65536);
	cr_expect_eq(c.udp_buffers, 256);
	cr_expect_eq(c.max_frame, 65536);
	cr_expect_eq(c.max_conns, 10000);
	cr_expect_eq(c.idle_timeout_ms, 0);
	cr_expect_eq(c.strategy, SLC_ROUTE_PURE);
	cr_expect_str_eq(c.key, "none");
	/* auto: sized at start-up (numa/size.c, tests/numa/test_size.c) */
	cr_expect_eq(c.pools, 0);
	cr_expect_eq(c.workers, 0);
	cr_expect_eq(c.reactors_per_node, 0);
	cr_expect_eq(c.ring_size, 4096);
	cr_expect_str_empty(c.cpus);
	cr_expect_str_empty(c.topology_xml);
	cr_expect(!c.print_topology);
	cr_expect_str_eq(c.sink.desc->name, "null");
	cr_expect_str_eq(opt_named("--fsync")->choices[file_settings(&c)->fsync], "interval");
	cr_expect_eq(file_settings(&c)->fsync_interval_ms, 1000);
	cr_expect_eq(file_settings(&c)->segment_bytes, 64ull << 20);
	cr_expect_eq(forward_settings(&c)->batch_bytes, 65536);
	cr_expect_eq(c.ctl.mode, SLC_CTL_ADAPTIVE);
	cr_expect_eq(c.rebalance_interval_ms, 100);
	cr_expect_eq(c.ctl.cooldown_ms, 10000);
	/* the design's seven, exactly */
	cr_expect_eq(c.ctl.eps_rate, 1.0);
	cr_expect_eq(c.ctl.min_pressure_delta, 2.0);
	cr_expect_eq(c.ctl.base_step, 1.0);
	cr_expect_eq(c.ctl.max_step, 5.0);
	cr_expect_eq(c.ctl.min_weight, 1.0);
	cr_expect_eq(c.ctl.max_frac, 0.2);
	cr_expect_eq(c.ctl.pace_rate, 5.0);
	cr_expect_eq(m->sin_family, AF_INET);
	cr_expect_eq(ntohs(m->sin_port), 9140);
	cr_expect_eq(c.log_level, SLC_CFG_LOG_INFO);
	cr_expect_eq(c.drain_timeout_ms, 30000);
	cr_expect_eq(slc_ctl_params_check(&c.ctl), 0);
}

/* The flags' defaults and the controller's own must not drift apart. */
Test(cfg, controller_defaults_match_ctl)
{
	struct slc_cfg c;
	struct slc_ctl_params p;

	slc_cfg_default(&c);
	slc_ctl_params_default(&p);
	cr_expect_eq(c.ctl.mode, p.mode);
	cr_expect_eq(c.ctl.eps_rate, p.eps_rate);
	cr_expect_eq(c.ctl.min_pressure_delta, p.min_pressure_delta);
	cr_expect_eq(c.ctl.base_step, p.base_step);
	cr_expect_eq(c.ctl.max_step, p.max_step);
	cr_expect_eq(c.ctl.min_weight, p.min_weight);
	cr_expect_eq(c.ctl.max_frac, p.max_frac);
	cr_expect_eq(c.ctl.pace_rate, p.pace_rate);
	cr_expect_eq(c.ctl.cooldown_ms, p.cooldown_ms);
	cr_expect_eq(c.ctl.dead_band, p.dead_band);
	cr_expect_eq(c.ctl.rate_alpha, p.rate_alpha);
	cr_expect_eq(c.ctl.gain, p.gain);
	cr_expect_eq(c.ctl.sat_queue, p.sat_queue);
}

Test(cfg, no_flags_is_the_defaults)
{
	struct slc_cfg c;

	cr_assert_eq(parse(NULL), SLC_CFG_RUN);
	slc_cfg_default(&c);
	cr_expect_eq(memcmp(&c, &cfg, sizeof(c)), 0);
	cr_expect_str_eq(
	        line, "listen=tcp://127.0.0.1:5140?framing=lines buffers=256 "
	              "buffer-size=64k udp-buffers=256 max-frame=64k oversize=close reasm-memory=0 "
	              "http-max-body=4M forward-max-inflated=16M "
	              "evict-idle=1s uring-features=all tenant-default=default max-conns=10000 "
	              "idle-timeout=off ack-window=1024 tls-min-version=1.2 "
	              "tls-handshake-timeout=10s tls-max-handshakes=256 "
	              "tls-max-handshakes-per-source=32 strategy=pure key=none "
	              "pools=auto "
	              "workers=auto "
	              "reactors-per-node=auto ring-size=4096 cpus=all "
	              "sink=null fsync=interval "
	              "fsync-interval=1s segment-size=64M retain-size=off retain-age=off "
	              "forward-batch=64k "
	              "forward-framing=lines retry-initial=100ms retry-max=5s "
	              "retry-max-elapsed=off breaker-failures=5 breaker-cooldown=10s "
	              "controller=adaptive rebalance-interval=100ms cooldown=10s "
	              "eps-rate=1 min-pressure-delta=2 base-step=1 max-step=5 "
	              "min-weight=1 max-frac=0.2 pace-rate=5 metrics=127.0.0.1:9140 "
	              "log-level=info drain-timeout=30s latency-stamps=off "
	              "test-handler-cost-ns=off "
	              "test-slow-pool=0 test-slow-pool-cost-ns=off");
}

/* The table itself: what the parser and the docs rely on. */
Test(cfg, table_is_consistent)
{
	size_t n;
	const struct slc_cfg_opt *t = slc_cfg_opts(&n);

	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		const struct slc_cfg_opt *o = &t[i];

		cr_expect_eq(strncmp(o->name, "--", 2), 0, "%s", o->name);
		cr_expect(o->help != NULL && o->help[0] != '\0', "%s has no help", o->name);
		cr_expect(strchr(o->help, '|') == NULL, "%s: '|' in help", o->name);
		cr_expect_lt(o->group, SLC_CFG_G__COUNT, "%s", o->name);
		for (size_t j = 0; j < i; j++)
			cr_expect_str_neq(o->name, t[j].name, "%s twice", o->name);
		switch (o->type) {
		case SLC_CFG_ACTION:
			cr_expect(o->print != NULL, "%s", o->name);
			break;
		case SLC_CFG_BOOL:
			cr_expect_eq(o->size, sizeof(bool), "%s", o->name);
			break;
		case SLC_CFG_COUNT:
		case SLC_CFG_DURATION:
			cr_expect_eq(o->size, sizeof(uint32_t), "%s", o->name);
			cr_expect_leq(o->max, (double)UINT32_MAX, "%s", o->name);
			break;
		case SLC_CFG_SIZE:
			cr_expect(o->size == sizeof(uint32_t) || o->size == sizeof(uint64_t), "%s",
			          o->name);
			if (o->size == sizeof(uint32_t))
				cr_expect_leq(o->max, (double)UINT32_MAX, "%s", o->name);
			break;
		case SLC_CFG_DOUBLE:
			cr_expect_eq(o->size, sizeof(double), "%s", o->name);
			break;
		case SLC_CFG_ENUM:
			cr_expect_eq(o->size, sizeof(int), "%s", o->name);
			cr_expect(o->choices != NULL && o->choices[0] != NULL, "%s", o->name);
			break;
		default:
			cr_expect(o->allowed != NULL, "%s says nothing of what it allows", o->name);
			break;
		}
		if (o->type == SLC_CFG_DURATION)
			cr_expect(o->unit_ms == 1 || o->unit_ms == 1000, "%s", o->name);
		if (o->type != SLC_CFG_BOOL && o->type != SLC_CFG_ACTION)
			cr_expect(o->metavar != NULL, "%s has no metavar", o->name);
		if (o->type == SLC_CFG_BOOL || o->type == SLC_CFG_ACTION)
			cr_expect(o->def == NULL && o->metavar == NULL, "%s", o->name);
	}
}

/* ---- every flag, good and bad ---- */

struct good {
	const char *flag;
	const char *value;
	const char *token; /* in the describe line afterwards */
	const char *extra; /* one more argument it needs, or NULL */
};

/* Each value differs from the default, so the token proves it was applied. */
static const struct good goods[] = {
        {"--listen", "udp://0.0.0.0:5514", "listen=udp://0.0.0.0:5514", NULL},
        {"--buffers", "8192", "buffers=8192", NULL},
        {"--buffer-size", "16k", "buffer-size=16k", NULL},
        {"--udp-buffers", "512", "udp-buffers=512", NULL},
        {"--max-frame", "1M", "max-frame=1M", NULL},
        {"--oversize", "skip", "oversize=skip", NULL},
        {"--reasm-memory", "32M", "reasm-memory=32M", NULL},
        {"--listen", "http://127.0.0.1:4318", "listen=http://127.0.0.1:4318", NULL},
        {"--http-max-body", "8M", "http-max-body=8M", NULL},
        {"--forward-max-inflated", "1m", "forward-max-inflated=1M", NULL},
        {"--evict-idle", "250ms", "evict-idle=250ms", NULL},
        {"--evict-idle", "5", "evict-idle=5s", NULL},
        {"--uring-features", "-bundle,-incremental", "uring-features=-bundle,-incremental", NULL},
        {"--tenant", "a:cidr=10.0.0.0/8,rate=10", "tenant=a:cidr=10.0.0.0/8,rate=10", NULL},
        {"--tenant-default", "refuse", "tenant-default=refuse", NULL},
        {"--qos-class", "gold:weight=9,ttl=2s", "qos-class=gold:weight=9,ttl=2s", NULL},
        {"--max-conns", "50000", "max-conns=50000", NULL},
        {"--idle-timeout", "90", "idle-timeout=90s", NULL},
        {"--listen", "tcp://127.0.0.1:0?framing=len32+ack",
         "listen=tcp://127.0.0.1:0?framing=len32+ack", NULL},
        {"--ack-window", "64", "ack-window=64", NULL},
        {"--tls-cert", "/etc/sluice/cert.pem", "tls-cert=/etc/sluice/cert.pem", NULL},
        {"--tls-key", "/etc/sluice/key.pem", "tls-key=/etc/sluice/key.pem", NULL},
        {"--tls-client-ca", "/etc/sluice/ca.pem", "tls-client-ca=/etc/sluice/ca.pem", NULL},
        {"--tls-min-version", "1.3", "tls-min-version=1.3", NULL},
        {"--tls-ciphers", "ECDHE+AESGCM", "tls-ciphers=ECDHE+AESGCM", NULL},
        {"--tls-handshake-timeout", "2", "tls-handshake-timeout=2s", NULL},
        {"--tls-max-handshakes", "1000", "tls-max-handshakes=1000", NULL},
        {"--tls-max-handshakes-per-source", "8", "tls-max-handshakes-per-source=8", NULL},
        {"--strategy", "ordered", "strategy=ordered", "--key=field:1"},
        {"--key", "json:user", "key=json:user", NULL},
        {"--pools", "4", "pools=4", NULL},
        {"--workers", "8", "workers=8", NULL},
        {"--reactors-per-node", "2", "reactors-per-node=2", NULL},
        {"--ring-size", "1024", "ring-size=1024", NULL},
        {"--cpus", "0-3,8", "cpus=0-3,8", NULL},
        {"--topology-xml", "/tmp/two-nodes.xml", "topology-xml=/tmp/two-nodes.xml", NULL},
        {"--sink", "file:/var/spool/sluice", "sink=file:/var/spool/sluice", NULL},
        {"--fsync", "batch", "fsync=batch", NULL},
        {"--fsync-interval", "250", "fsync-interval=250ms", NULL},
        {"--segment-size", "1G", "segment-size=1G", NULL},
        {"--retain-size", "20G", "retain-size=20G", "--sink=file:/var/lib/sluice"},
        {"--retain-age", "168h", "retain-age=168h", "--sink=file:/var/lib/sluice"},
        {"--forward-batch", "256k", "forward-batch=256k", NULL},
        {"--kafka-prop", "linger.ms=20", "kafka-prop=linger.ms=20", "--sink=kafka://k1/events"},
        {"--controller", "pairwise", "controller=pairwise", NULL},
        {"--rebalance-interval", "1s", "rebalance-interval=1s", NULL},
        {"--cooldown", "30", "cooldown=30s", NULL},
        {"--eps-rate", "0.5", "eps-rate=0.5", NULL},
        {"--min-pressure-delta", "0", "min-pressure-delta=0", NULL},
        {"--base-step", "2.5", "base-step=2.5", NULL},
        {"--max-step", "10", "max-step=10", NULL},
        {"--min-weight", "10", "min-weight=10", NULL},
        {"--max-frac", "1", "max-frac=1", NULL},
        {"--pace-rate", "2", "pace-rate=2", NULL},
        {"--metrics", "[::1]:9141", "metrics=[::1]:9141", NULL},
        {"--log-level", "debug", "log-level=debug", NULL},
        {"--latency-stamps", "find", "latency-stamps=find", NULL},
        {"--drain-timeout", "2m", "drain-timeout=2m", NULL},
        {"--test-handler-cost-ns", "5000", "test-handler-cost-ns=5000", NULL},
        {"--forward-framing", "len32", "forward-framing=len32", NULL},
        {"--retry-initial", "250", "retry-initial=250ms", NULL},
        {"--retry-max", "1m", "retry-max=1m", NULL},
        {"--retry-max-elapsed", "90", "retry-max-elapsed=90s", "--dead-letter=/var/spool/dl"},
        {"--breaker-failures", "3", "breaker-failures=3", NULL},
        {"--breaker-cooldown", "500ms", "breaker-cooldown=500ms", NULL},
        {"--dead-letter", "/var/spool/dl", "dead-letter=/var/spool/dl", NULL},
        {"--test-slow-pool", "1", "test-slow-pool=1", NULL},
        {"--test-slow-pool-cost-ns", "20000", "test-slow-pool-cost-ns=20000", NULL},
        {"--config", SLC_DOCS_DIR "/sluiced.conf", "config=" SLC_DOCS_DIR "/sluiced.conf", NULL},
};

static const struct good *
good_for(const char *flag)
{
	for (size_t i = 0; i < ARRAY_LEN(goods); i++) {
		if (strcmp(goods[i].flag, flag) == 0)
			return &goods[i];
	}
	return NULL;
}

Test(cfg, every_flag_takes_a_good_value_both_ways)
{
	size_t n;
	const struct slc_cfg_opt *t = slc_cfg_opts(&n);

	for (size_t i = 0; i < n; i++) {
		const struct good *g = good_for(t[i].name);

		if (t[i].type == SLC_CFG_BOOL || t[i].type == SLC_CFG_ACTION)
			continue;
		cr_expect(g != NULL, "%s has no good value in this test", t[i].name);
	}
	static char defaults[SLC_CFG_DESCRIBE_LEN];

	cr_assert_eq(parse(NULL), SLC_CFG_RUN);
	memcpy(defaults, line, sizeof(defaults));
	for (size_t i = 0; i < ARRAY_LEN(goods); i++) {
		const struct good *g = &goods[i];
		char joined[256];
		const char *spaced[3] = {g->flag, g->value, g->extra};
		const char *eq[2] = {joined, g->extra};
		int extra = g->extra != NULL;

		cr_expect(opt_named(g->flag) != NULL, "%s is not a flag", g->flag);
		cr_expect(!line_has_in(defaults, g->token), "%s: %s is the default", g->flag,
		          g->token);
		cr_expect_eq(parse_argv(2 + extra, spaced), SLC_CFG_RUN, "%s %s: %s", g->flag,
		             g->value, err_text);
		cr_expect(line_has(g->token), "%s %s: no %s in: %s", g->flag, g->value, g->token,
		          line);
		snprintf(joined, sizeof(joined), "%s=%s", g->flag, g->value);
		cr_expect_eq(parse_argv(1 + extra, eq), SLC_CFG_RUN, "%s: %s", joined, err_text);
		cr_expect(line_has(g->token), "%s: no %s in: %s", joined, g->token, line);
	}
}

Test(cfg, tls_listener_needs_cert_and_key)
{
	cr_assert_eq(parse("--listen", "tls://127.0.0.1:6514", "--tls-cert", "c.pem", NULL),
	             SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "needs --tls-cert FILE and --tls-key FILE") != NULL, "%s",
	          err_text);
	cr_assert_eq(parse("--listen", "tls://127.0.0.1:6514?framing=syslog", "--tls-cert", "c.pem",
	                   "--tls-key", "k.pem", NULL),
	             SLC_CFG_RUN, "%s", err_text);
	cr_expect(cfg.listen[0].tls && cfg.listen[0].framing == SLC_FRAME_SYSLOG);
	cr_expect(line_has("listen=tls://127.0.0.1:6514?framing=syslog"), "%s", line);
}

Test(cfg, bool_flag)
{
	cr_assert_eq(parse("--print-topology", NULL), SLC_CFG_RUN);
	cr_expect(cfg.print_topology);
	cr_expect(line_has("print-topology"));
	cr_assert_eq(parse("--print-topology=yes", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: --print-topology: takes no value, got \"yes\"\n");
}

struct bad {
	const char *flag;
	const char *value;
	const char *allowed; /* what the message must say is allowed */
};

static const struct bad bads[] = {
        {"--oversize", "truncate", "close, skip"},
        {"--listen", "ftp://1.2.3.4:80", "tcp://ADDR:PORT"},
        {"--listen", "http://1.2.3.4:80?framing=lines", "http://ADDR:PORT"},
        {"--buffers", "1000", "a power of two in 1..32768"},
        {"--buffer-size", "2k", "4k..1M"},
        {"--udp-buffers", "65536", "a power of two in 1..32768"},
        {"--max-frame", "2G", "64..1G"},
        {"--reasm-memory", "65G", "0..64G"},
        {"--evict-idle", "5ms", "10ms..1h"},
        {"--http-max-body", "1023", "1k..1G"},
        {"--forward-max-inflated", "2G", "1k..1G"},
        {"--max-conns", "0", "1..1000000"},
        {"--idle-timeout", "soon", "off, or 0..24h"},
        {"--uring-features", "-bundles", "NAME bundle, incremental"},
        {"--tenant", "a:rate=x", "NAME (a-z, 0-9, _, -) then comma-separated listener=N"},
        {"--tenant-default", "", "refuse, default, or a --tenant's NAME"},
        {"--qos-class", "gold:weight=0", "weight=1..1000"},
        {"--ack-window", "1000", "a power of two in 1..65536"},
        {"--tls-cert", "", "a PEM file"},
        {"--tls-key", "", "a PEM file"},
        {"--tls-client-ca", "", "a PEM file of CA certificates"},
        {"--tls-min-version", "1.1", "1.2, 1.3"},
        {"--tls-ciphers", "", "an OpenSSL cipher list"},
        {"--tls-handshake-timeout", "5ms", "10ms..1h"},
        {"--tls-max-handshakes", "0", "1..1048576"},
        {"--tls-max-handshakes-per-source", "0", "1..1048576"},
        {"--listen", "tls://127.0.0.1:6514?framing=json", "tls://ADDR:PORT"},
        {"--listen", "udp://1.2.3.4:514?framing=len32+ack", "tcp://ADDR:PORT"},
        {"--strategy", "fast", "pure, sticky, ordered"},
        {"--key", "", "none, len32, field:N"},
        {"--pools", "0", "auto, or 1..64"},
        {"--workers", "257", "1..256"},
        {"--reactors-per-node", "65", "1..64"},
        {"--ring-size", "3", "a power of two in 2..1048576"},
        {"--cpus", "3-1", "all, or CPU numbers and ranges"},
        {"--topology-xml", "", "a path to an hwloc XML file"},
        {"--config", "", "a path to a file of NAME = VALUE lines"},
        {"--sink", "kafka:localhost:9092",
         "null, file:DIR, forward:HOST:PORT, kafka://BROKERS/TOPIC or plugin:PATH.so[?ARG]"},
        {"--fsync", "always", "never, interval, batch"},
        {"--fsync-interval", "0", "1ms..1h"},
        {"--segment-size", "512k", "1M..16G"},
        {"--retain-size", "2P", "off, or 0..1048576G"},
        {"--retain-age", "1001h", "off, or 0..1000h"},
        {"--forward-batch", "32M", "1k..16M"},
        {"--kafka-prop", "linger.ms", "NAME=VALUE"},
        {"--controller", "pid", "adaptive, pairwise"},
        {"--rebalance-interval", "5ms", "10ms..1m"},
        {"--cooldown", "2h", "0..1h"},
        {"--eps-rate", "0", "> 0 and <= 1000000000"},
        {"--min-pressure-delta", "-1", "0..1000000000"},
        {"--base-step", "x", "0..1000000000"},
        {"--max-step", "nan", "> 0 and <= 1000000000"},
        {"--min-weight", "100", ">= 0 and < 100"},
        {"--max-frac", "1.5", "> 0 and <= 1"},
        {"--pace-rate", "inf", "> 0 and <= 1000000000"},
        {"--metrics", "localhost:9140", "ADDR:PORT"},
        {"--log-level", "trace", "error, warn, info, debug"},
        {"--latency-stamps", "on", "off, start, find"},
        {"--drain-timeout", "-5s", "0..1h"},
        {"--test-handler-cost-ns", "1us", "off, or 0..1000000000"},
        {"--forward-framing", "json", "lines, len32"},
        {"--retry-initial", "0", "1ms..1h"},
        {"--retry-max", "2h", "1ms..1h"},
        {"--retry-max-elapsed", "soon", "off, or 0..1h"},
        {"--breaker-failures", "0", "1..1000000"},
        {"--breaker-cooldown", "0", "1ms..1h"},
        {"--dead-letter", "", "a directory path"},
        {"--test-slow-pool", "64", "0..63"},
        {"--test-slow-pool-cost-ns", "-1", "off, or 0..1000000000"},
};

static void
expect_bad(const char *flag, const char *value, const char *allowed, const char *const *args,
           int nargs)
{
	char quoted[256];

	cr_expect_eq(parse_argv(nargs, args), SLC_CFG_USAGE, "%s %s was accepted", flag, value);
	snprintf(quoted, sizeof(quoted), "\"%s\"", value);
	cr_expect_eq(strncmp(err_text, "sluiced: ", 9), 0, "%s", err_text);
	cr_expect(strstr(err_text, flag) != NULL, "no flag in: %s", err_text);
	cr_expect(strstr(err_text, quoted) != NULL, "no %s in: %s", quoted, err_text);
	cr_expect(strstr(err_text, allowed) != NULL, "no \"%s\" in: %s", allowed, err_text);
	cr_expect(strchr(err_text, '\n') == err_text + strlen(err_text) - 1, "not one line: %s",
	          err_text);
	cr_expect_str_empty(out_text);
}

Test(cfg, every_flag_refuses_a_bad_value_naming_flag_value_and_allowed)
{
	size_t n;
	const struct slc_cfg_opt *t = slc_cfg_opts(&n);

	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < ARRAY_LEN(bads); j++)
			found |= strcmp(bads[j].flag, t[i].name) == 0;
		if (t[i].type != SLC_CFG_BOOL && t[i].type != SLC_CFG_ACTION)
			cr_expect(found, "%s has no bad value in this test", t[i].name);
	}
	for (size_t j = 0; j < ARRAY_LEN(bads); j++) {
		const struct bad *b = &bads[j];
		char joined[256];
		const char *two[2] = {b->flag, b->value};
		const char *one[1] = {joined};

		expect_bad(b->flag, b->value, b->allowed, two, 2);
		snprintf(joined, sizeof(joined), "%s=%s", b->flag, b->value);
		expect_bad(b->flag, b->value, b->allowed, one, 1);
	}
}

Test(cfg, messages_read_as_documented)
{
	cr_assert_eq(parse("--pools", "0", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text,
	                 "sluiced: --pools: \"0\" is out of range; allowed: auto, or 1..64\n");
	cr_assert_eq(parse("--strategy=fast", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text,
	                 "sluiced: --strategy: \"fast\" is not one of pure, sticky, ordered\n");
	cr_assert_eq(parse("--buffer-size", "12x", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: --buffer-size: \"12x\" is not a size (digits, then "
	                           "optionally k, M or G: 1024-based); allowed: 4k..1M\n");
}

/* ---- units ---- */

Test(cfg, sizes_take_units)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} ok[] = {
	        {"65536", 65536}, {"64k", 65536},      {"64K", 65536},
	        {"1M", 1u << 20}, {"1m", 1u << 20},    {"1G", 1u << 30},
	        {"1g", 1u << 30}, {"1024k", 1u << 20}, {"0001M", 1u << 20},
	};

	for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
		cr_assert_eq(parse("--max-frame", ok[i].text, NULL), SLC_CFG_RUN, "%s: %s",
		             ok[i].text, err_text);
		cr_expect_eq(cfg.max_frame, ok[i].bytes, "%s", ok[i].text);
	}
	cr_assert_eq(parse("--segment-size", "16G", NULL), SLC_CFG_RUN, "%s", err_text);
	cr_expect_eq(file_settings(&cfg)->segment_bytes, 16ull << 30);
	cr_expect(line_has("segment-size=16G"));
	cr_assert_eq(parse("--segment-size", "1536k", NULL), SLC_CFG_RUN, "%s", err_text);
	cr_expect(line_has("segment-size=1536k"));
}

Test(cfg, sizes_refuse_overflow_junk_and_signs)
{
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
	        {"99999999999G", "is out of range"},
	        {"18446744073709551616", "is out of range"}, /* 2^64 */
	        {"17179869184G", "is out of range"},         /* 2^64 bytes exactly */
	        {"12x", "is not a size"},
	        {"-1", "is not a size"},
	        {"-64k", "is not a size"},
	        {"+64k", "is not a size"},
	        {" 64k", "is not a size"},
	        {"64k ", "is not a size"},
	        {"1.5M", "is not a size"},
	        {"64kk", "is not a size"},
	        {"64KB", "is not a size"},
	        {"0x100", "is not a size"},
	        {"k", "is not a size"},
	        {"", "is not a size"},
	        {"63", "is out of range"},
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		cr_assert_eq(parse("--max-frame", bad[i].text, NULL), SLC_CFG_USAGE, "%s accepted",
		             bad[i].text);
		cr_expect(strstr(err_text, bad[i].why) != NULL, "%s: %s", bad[i].text, err_text);
		cr_expect(strstr(err_text, "allowed: 64..1G") != NULL, "%s", err_text);
	}
}

Test(cfg, counts_are_plain_digits)
{
	static const char *const bad[] = {"-1", "+2", "2k", "0x2", "2.0", " 2", "", "99999999999"};

	cr_assert_eq(parse("--max-conns", "1000000", NULL), SLC_CFG_RUN);
	cr_expect_eq(cfg.max_conns, 1000000);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		cr_expect_eq(parse("--max-conns", bad[i], NULL), SLC_CFG_USAGE, "%s accepted",
		             bad[i]);
	cr_assert_eq(parse("--max-conns", "1000001", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "is out of range") != NULL, "%s", err_text);
}

Test(cfg, durations_take_units_and_a_per_flag_bare_unit)
{
	static const struct {
		const char *flag, *text;
		uint32_t ms;
	} ok[] = {
	        {"--rebalance-interval", "250", 250}, /* bare: ms */
	        {"--rebalance-interval", "250ms", 250},
	        {"--rebalance-interval", "2s", 2000},
	        {"--rebalance-interval", "1m", 60000},
	        {"--drain-timeout", "45", 45000}, /* bare: seconds */
	        {"--drain-timeout", "1500ms", 1500},
	        {"--drain-timeout", "1h", 3600000},
	        {"--drain-timeout", "0", 0},
	        {"--idle-timeout", "5m", 300000},
	        {"--idle-timeout", "24h", 86400000},
	        {"--idle-timeout", "off", 0},
	        {"--idle-timeout", "0", 0},
	        {"--fsync-interval", "1ms", 1},
	        {"--cooldown", "0", 0},
	};
	static const char *const bad[] = {
	        "1.5s",         "10x", "s", "-1s", "1 s", "1S", "5sec", "", "99999999999999999999h",
	        "100000000000h"};

	for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
		const struct slc_cfg_opt *o = opt_named(ok[i].flag);

		cr_assert_eq(parse(ok[i].flag, ok[i].text, NULL), SLC_CFG_RUN, "%s %s: %s",
		             ok[i].flag, ok[i].text, err_text);
		cr_expect_eq(*(const uint32_t *)((const char *)&cfg + o->offset), ok[i].ms, "%s %s",
		             ok[i].flag, ok[i].text);
	}
	cr_assert_eq(parse("--idle-timeout", "5m", NULL), SLC_CFG_RUN);
	cr_expect(line_has("idle-timeout=5m"));
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		cr_expect_eq(parse("--drain-timeout", bad[i], NULL), SLC_CFG_USAGE, "%s accepted",
		             bad[i]);
		cr_expect(strstr(err_text, "allowed: 0..1h") != NULL, "%s", err_text);
	}
	cr_expect_eq(parse("--drain-timeout", "off", NULL), SLC_CFG_USAGE, "off is idle-timeout's");
	cr_expect(strstr(err_text, "bare: s)") != NULL, "%s", err_text);
	cr_expect_eq(parse("--rebalance-interval", "fast", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "bare: ms)") != NULL, "%s", err_text);
	cr_expect_eq(parse("--idle-timeout", "25h", NULL), SLC_CFG_USAGE);
}

Test(cfg, doubles_are_finite_and_bounded)
{
	cr_assert_eq(parse("--max-frac", "0.05", "--eps-rate=1e-3", NULL), SLC_CFG_RUN, "%s",
	             err_text);
	cr_expect_eq(cfg.ctl.max_frac, 0.05);
	cr_expect_eq(cfg.ctl.eps_rate, 1e-3);
	cr_expect_eq(parse("--max-frac", "0", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--max-frac", " 0.5", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--max-frac", "0.5x", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--max-frac", "", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--eps-rate", "1e999", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--eps-rate", "-inf", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--min-weight", "99.5", "--pools=1", NULL), SLC_CFG_RUN, "%s", err_text);
}

/* ---- listeners ---- */

Test(cfg, listen_is_repeatable_and_replaces_the_default)
{
	const struct sockaddr_in6 *a6;
	const struct sockaddr_in *a4;

	cr_assert_eq(parse("--listen", "tcp://[::1]:0?framing=len32", "--listen=udp://10.0.0.1:514",
	                   "--listen", "tcp://0.0.0.0:6000?framing=syslog", NULL),
	             SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(cfg.nlisten, 3);
	a6 = (const struct sockaddr_in6 *)&cfg.listen[0].addr;
	cr_expect_eq(cfg.listen[0].proto, SLC_LISTENER_TCP);
	cr_expect_eq(a6->sin6_family, AF_INET6);
	cr_expect_eq(ntohs(a6->sin6_port), 0);
	cr_expect(IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr));
	cr_expect_eq(cfg.listen[0].addrlen, sizeof(struct sockaddr_in6));
	cr_expect_eq(cfg.listen[0].framing, SLC_FRAME_LEN32);
	a4 = (const struct sockaddr_in *)&cfg.listen[1].addr;
	cr_expect_eq(cfg.listen[1].proto, SLC_LISTENER_UDP);
	cr_expect_eq(ntohs(a4->sin_port), 514);
	cr_expect_eq(ntohl(a4->sin_addr.s_addr), 0x0a000001u);
	cr_expect_eq(cfg.listen[2].framing, SLC_FRAME_SYSLOG);
	cr_expect(line_has("listen=tcp://[::1]:0?framing=len32,udp://10.0.0.1:514,"
	                   "tcp://0.0.0.0:6000?framing=syslog"),
	          "%s", line);
	/* no framing: lines */
	cr_assert_eq(parse("--listen", "tcp://127.0.0.1:7000", NULL), SLC_CFG_RUN);
	cr_expect_eq(cfg.nlisten, 1);
	cr_expect_eq(cfg.listen[0].framing, SLC_FRAME_LINES);
}

Test(cfg, listen_takes_at_most_16)
{
	char urls[SLC_CFG_LISTEN_MAX + 1][64];
	const char *args[2 * (SLC_CFG_LISTEN_MAX + 1)];

	for (int i = 0; i <= SLC_CFG_LISTEN_MAX; i++) {
		snprintf(urls[i], sizeof(urls[i]), "tcp://127.0.0.1:%d", 7000 + i);
		args[2 * i] = "--listen";
		args[2 * i + 1] = urls[i];
	}
	cr_assert_eq(parse_argv(2 * SLC_CFG_LISTEN_MAX, args), SLC_CFG_RUN, "%s", err_text);
	cr_expect_eq(cfg.nlisten, SLC_CFG_LISTEN_MAX);
	cr_assert_eq(parse_argv(2 * (SLC_CFG_LISTEN_MAX + 1), args), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "tcp://127.0.0.1:7016") != NULL, "%s", err_text);
	cr_expect(strstr(err_text, "at most 16") != NULL, "%s", err_text);
}

Test(cfg, listen_refuses_bad_urls)
{
	static const struct {
		const char *url;
		const char *why;
	} bad[] = {
	        {"ftp://1.2.3.4:80", "scheme"},
	        {"http://1.2.3.4:80?framing=lines", "no query"},
	        {"TCP://1.2.3.4:80", "scheme"},
	        {"1.2.3.4:80", "scheme"},
	        {"tcp://1.2.3.4", "no :PORT"},
	        {"tcp://1.2.3.4:", "port"},
	        {"tcp://1.2.3.4:70000", "port"},
	        {"tcp://1.2.3.4:-1", "port"},
	        {"tcp://1.2.3.4:80x", "port"},
	        {"tcp://1.2.3:80", "IPv4"},
	        {"tcp://localhost:80", "IPv4"},
	        {"tcp://:80", "IPv4"},
	        {"tcp://::1:80", "[ ]"},
	        {"tcp://[::1]", "no :PORT"},
	        {"tcp://[::1:80", "no ]"},
	        {"tcp://[::g]:80", "IPv6"},
	        {"tcp://[1.2.3.4]:80", "IPv6"},
	        {"tcp://1.2.3.4:80?framing=json", "framing"},
	        {"tcp://1.2.3.4:80?framing=", "framing"},
	        {"tcp://1.2.3.4:80?mode=lines", "?framing="},
	        {"udp://1.2.3.4:514?framing=lines", "datagram is one message"},
	        {"udp://1.2.3.4:514?framing=len32", "datagram is one message"},
	        {"", "scheme"},
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		cr_assert_eq(parse("--listen", bad[i].url, NULL), SLC_CFG_USAGE, "%s accepted",
		             bad[i].url);
		cr_expect(strstr(err_text, bad[i].why) != NULL, "%s: %s", bad[i].url, err_text);
		cr_expect(strstr(err_text, "allowed: tcp://ADDR:PORT") != NULL, "%s", err_text);
	}
}

Test(cfg, listen_refuses_an_address_given_twice_but_not_port_0)
{
	cr_assert_eq(
	        parse("--listen", "tcp://127.0.0.1:7000", "--listen", "tcp://127.0.0.1:7000", NULL),
	        SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "given twice") != NULL, "%s", err_text);
	cr_expect_eq(
	        parse("--listen", "tcp://127.0.0.1:7000", "--listen", "udp://127.0.0.1:7000", NULL),
	        SLC_CFG_RUN, "%s", err_text);
	cr_expect_eq(parse("--listen", "tcp://127.0.0.1:0", "--listen", "tcp://127.0.0.1:0", NULL),
	             SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(parse("--listen", "tcp://127.0.0.1:9140", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "--metrics") != NULL, "%s", err_text);
	cr_expect_eq(parse("--listen", "tcp://127.0.0.1:9140", "--metrics", "off", NULL),
	             SLC_CFG_RUN, "%s", err_text);
}

/* ---- sink, metrics ---- */

Test(cfg, sink_kinds)
{
	cr_assert_eq(parse("--sink", "null", NULL), SLC_CFG_RUN);
	cr_expect_str_eq(cfg.sink.desc->name, "null");
	cr_assert_eq(parse("--sink", "file:/var/spool/sluice", NULL), SLC_CFG_RUN);
	cr_expect_str_eq(cfg.sink.desc->name, "file");
	cr_expect_str_eq(cfg.sink.arg, "/var/spool/sluice");
	cr_assert_eq(parse("--sink", "forward:collector.example.org:6000", NULL), SLC_CFG_RUN);
	cr_expect_str_eq(cfg.sink.desc->name, "forward");
	cr_expect_str_eq(cfg.sink.arg, "collector.example.org");
	cr_expect_eq(cfg.sink.port, 6000);
	cr_expect(line_has("sink=forward:collector.example.org:6000"), "%s", line);
	cr_assert_eq(parse("--sink=forward:[fd00::1]:6000", NULL), SLC_CFG_RUN, "%s", err_text);
	cr_expect_str_eq(cfg.sink.arg, "fd00::1");
	cr_expect(line_has("sink=forward:[fd00::1]:6000"), "%s", line);
	cr_assert_eq(parse("--sink", "forward:10.1.2.3:6000", NULL), SLC_CFG_RUN);
	cr_expect_str_eq(cfg.sink.arg, "10.1.2.3");
	cr_assert_eq(parse("--sink", "plugin:/usr/lib/sluice/kafka.so", NULL), SLC_CFG_RUN);
	cr_expect_str_eq(cfg.sink.desc->name, "plugin");
	cr_expect_str_eq(cfg.sink.arg, "/usr/lib/sluice/kafka.so");
	/* what follows ? is the plugin's argument, passed on whole */
	cr_assert_eq(parse("--sink", "plugin:/x/count.so?out=/tmp/c.txt", NULL), SLC_CFG_RUN);
	cr_expect_str_eq(cfg.sink.arg, "/x/count.so?out=/tmp/c.txt");
}

Test(cfg, sink_refuses_bad_specs)
{
	static const struct {
		const char *spec;
		const char *why;
	} bad[] = {
	        {"kafka:broker:9092", "unknown kind"},
	        {"NULL", "unknown kind"},
	        {"file", "unknown kind"},
	        {"file:", "nothing after"},
	        {"forward:host", "PORT"},
	        {"forward:host:0", "PORT"},
	        {"forward:host:65536", "PORT"},
	        {"forward::6000", "HOST"},
	        {"forward:fd00::1:6000", "HOST"},
	        {"forward:[fd00::zz]:6000", "IPv6"},
	        {"forward:bad_host:6000", "HOST"},
	        {"plugin:/x/sink.dll", ".so"},
	        {"plugin:.so", ".so"},
	        {"plugin:/x/sink.dll?a.so", ".so"},
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		cr_assert_eq(parse("--sink", bad[i].spec, NULL), SLC_CFG_USAGE, "%s accepted",
		             bad[i].spec);
		cr_expect(strstr(err_text, bad[i].why) != NULL, "%s: %s", bad[i].spec, err_text);
	}
}

Test(cfg, metrics_off_and_addresses)
{
	cr_assert_eq(parse("--metrics", "off", NULL), SLC_CFG_RUN);
	cr_expect_eq(cfg.metrics.addrlen, 0);
	cr_expect(line_has("metrics=off"));
	cr_assert_eq(parse("--metrics", "0.0.0.0:9200", NULL), SLC_CFG_RUN);
	cr_expect(line_has("metrics=0.0.0.0:9200"));
	cr_expect_eq(parse("--metrics", "9200", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--metrics", "[::1]", NULL), SLC_CFG_USAGE);
}

/* ---- what involves several flags ---- */

Test(cfg, sticky_and_ordered_need_a_key)
{
	cr_assert_eq(parse("--strategy", "sticky", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: --strategy sticky needs a --key (got --key none); "
	                           "allowed: --key SPEC, or --strategy pure\n");
	cr_assert_eq(parse("--strategy", "ordered", "--key", "none", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--key", "field:2", "--strategy", "sticky", NULL), SLC_CFG_RUN);
	cr_expect_eq(cfg.strategy, SLC_ROUTE_STICKY);
	/* pure ignores a key */
	cr_expect_eq(parse("--key", "field:2", NULL), SLC_CFG_RUN);
}

Test(cfg, workers_in_all_at_most_256)
{
	cr_expect_eq(parse("--pools", "64", "--workers", "4", NULL), SLC_CFG_RUN, "%s", err_text);
	cr_assert_eq(parse("--pools", "64", "--workers", "5", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: --pools 64 times --workers 5 is 320 workers; "
	                           "allowed: at most 256\n");
}

Test(cfg, a_value_with_a_newline_stays_one_line)
{
	cr_assert_eq(parse("--pools", "1\nsluiced: info: forged", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: --pools: \"1\\x0asluiced: info: forged\" is not a "
	                           "number (decimal digits); allowed: auto, or 1..64\n");
	cr_assert_eq(parse("--po\nols", "1", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: unknown flag --po\\x0aols (see --help)\n");
}

Test(cfg, test_slow_pool_must_exist)
{
	cr_assert_eq(parse("--pools", "2", "--test-slow-pool-cost-ns", "1000", "--test-slow-pool",
	                   "2", NULL),
	             SLC_CFG_USAGE);
	cr_expect_str_eq(err_text,
	                 "sluiced: --test-slow-pool 2: there are 2 pools; allowed: 0..1\n");
	cr_expect_eq(parse("--pools", "2", "--test-slow-pool-cost-ns", "1000", "--test-slow-pool",
	                   "1", NULL),
	             SLC_CFG_RUN);
	/* --pools auto: the daemon checks it once the pools are sized (test_sluiced.c) */
	cr_expect_eq(parse("--test-slow-pool-cost-ns", "1000", "--test-slow-pool", "9", NULL),
	             SLC_CFG_RUN);
	/* without a cost the pool number is not used */
	cr_expect_eq(parse("--test-slow-pool", "9", NULL), SLC_CFG_RUN);
}

Test(cfg, adaptive_min_weight_leaves_room)
{
	cr_assert_eq(parse("--pools", "4", "--min-weight", "25", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "--min-weight") != NULL, "%s", err_text);
	cr_expect(strstr(err_text, "below 100") != NULL, "%s", err_text);
	cr_expect_eq(parse("--pools", "4", "--min-weight", "24.9", NULL), SLC_CFG_RUN);
	cr_expect_eq(parse("--pools", "4", "--min-weight", "25", "--controller", "pairwise", NULL),
	             SLC_CFG_RUN);
}

/* ---- hooks ---- */

static int
key_check(const char *text, char *msg, size_t msg_len)
{
	cr_expect_str_neq(text, "none", "none reached the hook");
	if (strncmp(text, "field:", 6) == 0)
		return 0;
	snprintf(msg, msg_len, "unknown key kind");
	return -EINVAL;
}

static int
sink_check(const char *text, char *msg, size_t msg_len)
{
	(void)msg;
	(void)msg_len;
	return strcmp(text, "plugin:/nope.so") == 0 ? -EINVAL : 0;
}

Test(cfg, hooks_add_checks)
{
	cr_expect_eq(slc_cfg_hook_set("--pools", key_check), -EINVAL);
	cr_expect_eq(slc_cfg_hook_set("--nope", key_check), -ENOENT);
	cr_assert_eq(slc_cfg_hook_set("--key", key_check), 0);
	cr_assert_eq(slc_cfg_hook_set("--sink", sink_check), 0);
	cr_expect_eq(parse(NULL), SLC_CFG_RUN, "defaults do not go through hooks");
	cr_expect_eq(parse("--key", "none", NULL), SLC_CFG_RUN);
	cr_expect_eq(parse("--key", "field:3", NULL), SLC_CFG_RUN);
	cr_assert_eq(parse("--key", "json:x", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text,
	                 "--key: \"json:x\" is not valid (unknown key kind); allowed: ") != NULL,
	          "%s", err_text);
	cr_expect_eq(parse("--sink", "plugin:/yes.so", NULL), SLC_CFG_RUN);
	cr_assert_eq(parse("--sink", "plugin:/nope.so", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "--sink: \"plugin:/nope.so\" is not valid; allowed: ") != NULL,
	          "%s", err_text);
	cr_assert_eq(slc_cfg_hook_set("--key", NULL), 0);
	cr_expect_eq(parse("--key", "json:x", NULL), SLC_CFG_RUN);
}

/* ---- usage errors ---- */

Test(cfg, unknown_flags_and_arguments)
{
	cr_assert_eq(parse("--foo", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: unknown flag --foo (see --help)\n");
	cr_assert_eq(parse("--pools", "3", "--foo=bar", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: unknown flag --foo (see --help)\n");
	cr_assert_eq(parse("--pool", "3", NULL), SLC_CFG_USAGE);
	cr_assert_eq(parse("-h", NULL), SLC_CFG_USAGE);
	cr_assert_eq(parse("extra", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "\"extra\"") != NULL, "%s", err_text);
}

Test(cfg, missing_value_at_the_end)
{
	cr_assert_eq(parse("--pools", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text, "sluiced: --pools: missing value; allowed: auto, or 1..64\n");
	cr_assert_eq(parse("--workers", "2", "--strategy", NULL), SLC_CFG_USAGE);
	cr_expect_str_eq(err_text,
	                 "sluiced: --strategy: missing value; allowed: pure, sticky, ordered\n");
	/* The next argument is a value even when it looks like a flag: then it is a bad one. */
	cr_assert_eq(parse("--pools", "--workers", "2", NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "\"--workers\"") != NULL, "%s", err_text);
}

/* ---- help, version, docs ---- */

Test(cfg, help_lists_every_flag_with_its_default)
{
	size_t n;
	const struct slc_cfg_opt *t = slc_cfg_opts(&n);

	cr_assert_eq(parse("--pools", "3", "--help", "--foo", NULL), SLC_CFG_EXIT);
	cr_expect_str_empty(err_text);
	cr_expect_eq(strncmp(out_text, "Usage: sluiced", 14), 0);
	for (size_t i = 0; i < n; i++) {
		char def[512];

		cr_expect(strstr(out_text, t[i].name) != NULL, "%s not in --help", t[i].name);
		if (t[i].def != NULL) {
			snprintf(def, sizeof(def), "Default: %s.", t[i].def);
			cr_expect(strstr(out_text, def) != NULL, "no \"%s\" in --help", def);
		}
	}
	for (const char *p = out_text; *p != '\0';) {
		size_t len = strcspn(p, "\n");

		cr_expect_leq(len, 100, "--help line over 100 columns: %.*s", (int)len, p);
		p += len + (p[len] == '\n');
	}
	/* A bad flag before --help is still reported. */
	cr_expect_eq(parse("--pools", "0", "--help", NULL), SLC_CFG_USAGE);
	cr_expect_eq(parse("--help=1", NULL), SLC_CFG_USAGE);
}

Test(cfg, version)
{
	cr_assert_eq(parse("--version", NULL), SLC_CFG_EXIT);
	cr_expect_eq(strncmp(out_text, "sluiced ", 8), 0, "%s", out_text);
	cr_expect_neq(strstr(out_text, "\n"), NULL);
	cr_expect_str_empty(err_text);
}

Test(cfg, help_markdown_is_the_generator)
{
	char *md = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&md, &len);

	cr_assert(f != NULL);
	slc_cfg_print_markdown(f);
	fclose(f);
	cr_assert_eq(parse("--help-markdown", NULL), SLC_CFG_EXIT);
	cr_expect_str_eq(out_text, md);
	free(md);
}

Test(cfg, describe_reports_a_short_buffer)
{
	char small[32];
	struct slc_cfg c;

	slc_cfg_default(&c);
	memset(small, 'x', sizeof(small));
	cr_expect_eq(slc_cfg_describe(&c, small, sizeof(small)), -ENOSPC);
	cr_expect_eq(strlen(small), sizeof(small) - 1);
	cr_expect_eq(strncmp(small, "listen=tcp://127.0.0.1:5140", 27), 0);
	cr_expect_eq(slc_cfg_describe(&c, NULL, 0), -ENOSPC);
}

Test(cfg, strings_have_a_length_limit)
{
	static char key[SLC_CFG_KEY_LEN + 1], path[SLC_CFG_PATH_LEN + 1],
	        sink[SLC_CFG_PATH_LEN + 8];

	memset(key, 'k', sizeof(key) - 1);
	memcpy(key, "json:", 5);
	cr_expect_eq(parse("--key", key, NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "is too long") != NULL, "%s", err_text);
	key[SLC_CFG_KEY_LEN - 1] = '\0';
	cr_expect_eq(parse("--key", key, NULL), SLC_CFG_RUN, "%s", err_text);
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	cr_expect_eq(parse("--topology-xml", path, NULL), SLC_CFG_USAGE);
	snprintf(sink, sizeof(sink), "file:%s", path); /* DIR itself one byte too long */
	cr_expect_eq(parse("--sink", sink, NULL), SLC_CFG_USAGE);
	cr_expect(strstr(err_text, "too long") != NULL, "%s", err_text);
}

/* The longest configuration still fits SLC_CFG_DESCRIBE_LEN. */
Test(cfg, describe_len_is_enough)
{
	static char key[SLC_CFG_KEY_LEN], cpus[SLC_CFG_CPUS_LEN], xml[SLC_CFG_PATH_LEN],
	        sink[SLC_CFG_PATH_LEN + 16];
	const char *args[2 * SLC_CFG_LISTEN_MAX + 8];
	char urls[SLC_CFG_LISTEN_MAX][80];
	int n = 0;

	for (int i = 0; i < SLC_CFG_LISTEN_MAX; i++) {
		snprintf(urls[i], sizeof(urls[i]),
		         "tcp://[ffff:ffff:ffff:ffff:ffff:ffff:ffff:%x]:65535?framing=syslog", i);
		args[n++] = "--listen";
		args[n++] = urls[i];
	}
	memset(key, 'k', sizeof(key) - 1);
	memcpy(key, "json:", 5);
	for (size_t i = 0; i + 2 < sizeof(cpus); i += 2)
		memcpy(cpus + i, "1,", 2);
	cpus[sizeof(cpus) - 3] = '\0';
	memset(xml, 'x', sizeof(xml) - 1);
	snprintf(sink, sizeof(sink), "file:%s", xml);
	args[n++] = "--key";
	args[n++] = key;
	args[n++] = "--cpus";
	args[n++] = cpus;
	args[n++] = "--topology-xml";
	args[n++] = xml;
	args[n++] = "--sink";
	args[n++] = sink;
	cr_assert_eq(parse_argv(n, args), SLC_CFG_RUN, "%s", err_text);
	cr_expect_gt(strlen(line), 3 * SLC_CFG_PATH_LEN / 2);
}

/* --uring-features: applied in order from all; the mask the reactors get. */
Test(cfg, uring_features_read_in_order)
{
	char msg[256];
	uint32_t off;

	cr_assert_eq(slc_cfg_uring_features("all", &off, msg, sizeof(msg)), 0);
	cr_expect_eq(off, 0);
	cr_assert_eq(slc_cfg_uring_features("none", &off, msg, sizeof(msg)), 0);
	cr_expect_eq(off, SLC_REACTOR_F_BUNDLE | SLC_REACTOR_F_INC | SLC_REACTOR_F_RING_FD |
	                          SLC_REACTOR_F_DEFER);
	cr_assert_eq(slc_cfg_uring_features("-bundle,-incremental", &off, msg, sizeof(msg)), 0);
	cr_expect_eq(off, SLC_REACTOR_F_BUNDLE | SLC_REACTOR_F_INC);
	cr_assert_eq(slc_cfg_uring_features("none,defer-taskrun", &off, msg, sizeof(msg)), 0);
	cr_expect_eq(off, SLC_REACTOR_F_BUNDLE | SLC_REACTOR_F_INC | SLC_REACTOR_F_RING_FD);
	cr_assert_eq(slc_cfg_uring_features("-registered-ring-fd,all", &off, msg, sizeof(msg)), 0);
	cr_expect_eq(off, 0);
	cr_expect_eq(slc_cfg_uring_features("bundle,", &off, msg, sizeof(msg)), -EINVAL);
	cr_expect(strstr(msg, "'' is not a feature") != NULL, "%s", msg);
	cr_expect_eq(slc_cfg_uring_features("-", &off, msg, sizeof(msg)), -EINVAL);
	cr_expect_eq(slc_cfg_uring_features("-none", &off, msg, sizeof(msg)), -EINVAL);
	cr_expect(strstr(msg, "'-none'") != NULL, "%s", msg);
}
