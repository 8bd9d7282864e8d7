/* SPDX-License-Identifier: MIT */
/* cfg.h: the daemon's configuration: one table of flags drives parsing, checks, help and docs. */
#ifndef SLC_ENGINE_CFG_H
#define SLC_ENGINE_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "base/log.h"
#include "cfg_types.h"
#include "ctl/ctl.h"
#include "reactor.h"
#include "route/router.h"
#include "sinks/sink.h"
#include "tenant.h"

/*
 * sluiced is configured by command-line flags and a --config file of the same flags (one
 * NAME = VALUE a line: cfg_file.c, docs/operations.md), which the command line overrides.
 * One static table (struct slc_cfg_opt,
 * in flags_table.c, with each sink's own flags merged in after --sink: sinks/sink.h) names every
 * flag with its type, default, bounds, help text and the field of
 * struct slc_cfg it sets; parsing, range checks, --help, the start-up log line and
 * docs/flags.md are all generated from it, so none of them can disagree with another.
 *
 * Values: `--flag value` or `--flag=value`. Sizes take k, M, G (1024-based; k/K, m/M, g/G
 * alike); durations take ms, s, m, h, and a bare number is in the unit the flag's help
 * names. Numbers are plain decimal digits: no sign, no spaces. A bad value, an unknown flag
 * or a missing value makes slc_cfg_parse() print one line naming the flag, what was given
 * and what is allowed, and return 2 (the daemon's exit status).
 *
 * UDP listeners take no ?framing=: a datagram is one message (the reactor never splits
 * one), so a framing on udp:// is refused rather than silently ignored.
 */

#define SLC_CFG_LISTEN_MAX      16   /* --listen may be given this many times */
#define SLC_CFG_KEY_LEN         256  /* --key text, NUL included */
#define SLC_CFG_CPUS_LEN        1024 /* --cpus text, NUL included */
#define SLC_CFG_PATH_LEN        4096 /* paths (--topology-xml, --sink's): Linux's PATH_MAX */
#define SLC_CFG_TLS_CIPHERS_LEN 512  /* --tls-ciphers text, NUL included */
/* Every sink's settings block (its flags), 8-aligned, one after the other */
#define SLC_CFG_SINK_SETTINGS_LEN (36 * 1024)

/* Room for slc_cfg_describe() with every listener and path at its longest. */
#define SLC_CFG_DESCRIBE_LEN                                                               \
	(7 * SLC_CFG_PATH_LEN + SLC_CFG_TLS_CIPHERS_LEN + SLC_CFG_LISTEN_MAX * 80 + 2048 + \
	 SLC_CFG_PROPS_MAX * (SLC_CFG_PROP_LEN + 16))

/* What slc_cfg_parse() returns: the daemon's exit status, or 0 to go on and run. */
enum {
	SLC_CFG_RUN = 0,   /* c holds the effective configuration */
	SLC_CFG_EXIT = 1,  /* --help, --help-markdown or --version was printed: exit 0 */
	SLC_CFG_USAGE = 2, /* a bad flag or value was reported: exit 2 */
};

/* --log-level: the levels of base/log.h, which the libraries' lines carry. */
enum slc_cfg_log_level {
	SLC_CFG_LOG_ERROR = SLC_LOG_ERROR,
	SLC_CFG_LOG_WARN = SLC_LOG_WARN,
	SLC_CFG_LOG_INFO = SLC_LOG_INFO,
	SLC_CFG_LOG_DEBUG = SLC_LOG_DEBUG,
};

/* --latency-stamps: where a worker looks for sluice-bench's stamp (route/stamp.h). */
enum slc_cfg_stamps {
	SLC_CFG_STAMPS_OFF = 0, /* nowhere: the message's bytes are not read */
	SLC_CFG_STAMPS_START,   /* at the start of each message (lines framing) */
	SLC_CFG_STAMPS_FIND,    /* in the first bytes of each message (len32 keys, syslog) */
};

/* --oversize: what a TCP frame over --max-frame does. */
enum slc_cfg_oversize {
	SLC_CFG_OVERSIZE_CLOSE, /* the connection is closed (framing error) */
	SLC_CFG_OVERSIZE_SKIP,  /* the frame is skipped, the connection goes on */
};

/* A numeric address and port (--metrics); addrlen 0: off. */
struct slc_cfg_addr {
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/*
 * The effective configuration. Self-contained (strings are copied in), so it may outlive
 * argv. Durations are in ms; an empty string means the flag was not set (the help says
 * what that means: --cpus all, no --topology-xml).
 */
struct slc_cfg {
	/* input */
	struct slc_listener_cfg listen[SLC_CFG_LISTEN_MAX]; /* --listen, in flag order */
	uint32_t nlisten;                                   /* 1..SLC_CFG_LISTEN_MAX */
	uint32_t buffers;                                   /* --buffers: TCP, per reactor */
	uint32_t buffer_size;                               /* --buffer-size, bytes */
	uint32_t udp_buffers;                               /* --udp-buffers, per reactor */
	uint32_t max_frame;                                 /* --max-frame, bytes */
	enum slc_cfg_oversize oversize;                     /* --oversize */
	uint64_t reasm_memory;     /* --reasm-memory, bytes; 0: as much as the TCP buffers */
	uint32_t http_max_body;    /* --http-max-body, bytes */
	uint32_t fwd_max_inflated; /* --forward-max-inflated, bytes */
	uint32_t max_conns;        /* --max-conns, per reactor */
	uint32_t evict_idle_ms;    /* --evict-idle */
	uint32_t idle_timeout_ms;  /* --idle-timeout; 0: none */
	uint32_t ack_window;       /* --ack-window: len32+ack frames a client may have unacked */
	char uring_features[96];   /* --uring-features (slc_cfg_uring_features reads it) */
	/* tls:// listeners (uring/tls.h); "": not set */
	char tls_cert[SLC_CFG_PATH_LEN];           /* --tls-cert */
	char tls_key[SLC_CFG_PATH_LEN];            /* --tls-key */
	char tls_client_ca[SLC_CFG_PATH_LEN];      /* --tls-client-ca; "": no mutual TLS */
	char tls_ciphers[SLC_CFG_TLS_CIPHERS_LEN]; /* --tls-ciphers; "": OpenSSL's default */
	int tls_min_version;                       /* --tls-min-version: 0 TLS 1.2, 1 TLS 1.3 */
	uint32_t tls_handshake_timeout_ms;         /* --tls-handshake-timeout */
	uint32_t tls_max_handshakes;               /* --tls-max-handshakes, per reactor */
	uint32_t tls_max_handshakes_per_source;    /* --tls-max-handshakes-per-source */
	struct slc_cfg_props tenant;               /* --tenant NAME:SPEC (tenant_spec.h) */
	char tenant_default[SLC_TENANT_NAME_LEN];  /* --tenant-default */
	struct slc_cfg_props qos_class;            /* --qos-class NAME:SPEC (tenant_spec.h) */
	/* routing */
	enum slc_route_strategy strategy; /* --strategy */
	char key[SLC_CFG_KEY_LEN];        /* --key; "none": no key */
	/* pools and placement */
	uint32_t pools;                      /* --pools */
	uint32_t workers;                    /* --workers, per pool */
	uint32_t reactors_per_node;          /* --reactors-per-node */
	uint32_t ring_size;                  /* --ring-size: slots per worker input ring */
	char cpus[SLC_CFG_CPUS_LEN];         /* --cpus; "": all usable CPUs */
	char topology_xml[SLC_CFG_PATH_LEN]; /* --topology-xml; "": this machine */
	bool print_topology;                 /* --print-topology: print placement, exit 0 */
	/* sink */
	struct slc_sink_spec sink; /* --sink: its desc (registry.h), its arg */
	/* Each sink's own flags, in the block its desc describes (slc_cfg_sink_settings) */
	_Alignas(8) unsigned char sink_settings[SLC_CFG_SINK_SETTINGS_LEN];
	struct slc_retry_cfg retry;         /* --retry-*, --breaker-* */
	char dead_letter[SLC_CFG_PATH_LEN]; /* --dead-letter; "": none */
	/* controller: mode, the design's seven, cooldown_ms from the flags; the adaptive
	 * tuning (dead_band, rate_alpha, gain, sat_queue) keeps slc_ctl_params_default() */
	struct slc_ctl_params ctl;
	uint32_t rebalance_interval_ms; /* --rebalance-interval */
	/* operations */
	struct slc_cfg_addr metrics;        /* --metrics; addrlen 0: off */
	enum slc_cfg_log_level log_level;   /* --log-level */
	uint32_t drain_timeout_ms;          /* --drain-timeout */
	enum slc_cfg_stamps latency_stamps; /* --latency-stamps */
	char config[SLC_CFG_PATH_LEN];      /* --config; "": none */
	bool check_config;                  /* --check-config: check, report, exit */
	/* Not flags: what the --config file held when it was read (cfg_file.c) */
	uint64_t config_hash;   /* FNV-1a 64 of its bytes; 0: no file */
	int64_t config_mtime_s; /* its modification time, Unix seconds */
	/* testing: a sink made slow on purpose (overload tests, benchmarks) */
	uint32_t test_handler_cost_ns;   /* --test-handler-cost-ns: every pool; 0: none */
	uint32_t test_slow_pool;         /* --test-slow-pool */
	uint32_t test_slow_pool_cost_ns; /* --test-slow-pool-cost-ns: that pool's; 0: none */
};

/* The table, in help order, each sink's flags (registry order) after --sink, offsets in
 * struct slc_cfg; *n gets its length. For tests and tools. */
const struct slc_cfg_opt *slc_cfg_opts(size_t *n);

/* The settings block of sink desc in c (desc->settings_size bytes, what its flags set);
 * NULL when desc has none or is not registered. */
const void *slc_cfg_sink_settings(const struct slc_cfg *c, const struct slc_sink_desc *desc);

/* Sets every field to its default (the table's, and slc_ctl_params_default() for the
 * controller fields no flag sets). */
void slc_cfg_default(struct slc_cfg *c);

/*
 * Sets c to the defaults, then applies the --config file named in argv (if any) line by
 * line, then argv[1..argc) in order. The first --listen replaces the default listener (the
 * command line's first also replaces the file's); later ones add to it. After the last flag, checks what involves
 * several flags (sticky and ordered need a --key; pools * workers <= SLC_WORKERS_MAX;
 * adaptive needs pools * --min-weight < 100; no listener given twice).
 * Returns SLC_CFG_RUN (0); SLC_CFG_EXIT (1) after printing --help, --help-markdown or
 * --version to out, or "sluiced: configuration ok" with --check-config; or SLC_CFG_USAGE
 * (2) after printing to err one line "sluiced: ..." for the command line's first problem
 * (with --check-config: every problem of the command line) and one "FILE:LINE: ..." for
 * every problem of the file (c is then unspecified).
 */
int slc_cfg_parse(struct slc_cfg *c, int argc, char **argv, FILE *out, FILE *err);

/*
 * Adds check fn to the value of flag `name` ("--key" or "--sink"), run after its own
 * syntax check at every later parse; NULL removes it. --key's value "none" never reaches
 * it. Not thread-safe: call before parsing. Returns 0, -ENOENT (no such flag), or -EINVAL
 * (the flag takes no hook).
 */
int slc_cfg_hook_set(const char *name, slc_cfg_check_fn fn);

/* --uring-features TEXT (comma-separated all, none, NAME, -NAME, applied in order from
 * all; NAMEs in SLC_REACTOR_FEATURE_NAMES) as the reactor's features_off mask in *off.
 * Returns 0, or -EINVAL with the reason in msg. */
int slc_cfg_uring_features(const char *text, uint32_t *off, char *msg, size_t len);

/* --help: every flag with its argument, default and what is allowed, grouped. */
void slc_cfg_print_help(FILE *f);

/* docs/flags.md: a table per group (flag, default, allowed values, meaning). */
void slc_cfg_print_markdown(FILE *f);
/* docs/sluiced.8: the manual page, its OPTIONS from the table (flags_man.c). */
void slc_cfg_print_man(FILE *f);

/* s as roff text: backslashes as \e, every '-' as \-, and a leading '.' or '\'' escaped.
 * s has no newline. (sluice-bench's page uses it too.) */
void slc_cfg_roff_text(FILE *f, const char *s);
/* An option's name and metavar (NULL: none) as the synopsis line of a roff .TP entry. */
void slc_cfg_roff_synopsis(FILE *f, const char *name, const char *metavar);

/*
 * One line, "listen=tcp://127.0.0.1:5140?framing=lines buffers=4096 ...": every flag's
 * effective value as NAME=VALUE, in table order, in a form the flag takes back, for the
 * start-up log; a bool is its bare name when set, and flags that are off or unset (a bool
 * not given, no --topology-xml) are left out. Returns 0, or -ENOSPC
 * when len is too small (buf then holds as much as fits, NUL-terminated, if len > 0).
 * SLC_CFG_DESCRIBE_LEN is always enough.
 */
int slc_cfg_describe(const struct slc_cfg *c, char *buf, size_t len);

#endif /* SLC_ENGINE_CFG_H */
