/* SPDX-License-Identifier: MIT */
/* flags_priv.h: what the flag parser's files share (flags.c, flags_table.c, flags_parse.c,
 * flags_help.c, cfg_file.c). */
#ifndef SLC_ENGINE_DAEMON_FLAGS_PRIV_H
#define SLC_ENGINE_DAEMON_FLAGS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

#define PROG         "sluiced"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The whole table (slc_cfg_opts) holds at most this many flags, the sinks' included. */
#define SLC_CFG_OPTS_MAX 96

extern const char *const slc_cfg_group_names[SLC_CFG_G__COUNT];
/* sluiced's own flags, in help order (flags_table.c); flags.c merges the sinks' in. */
extern const struct slc_cfg_opt slc_cfg_core[];
extern const size_t slc_cfg_core_len;

/* ---- text out: a bounded appender (flags_help.c) ---- */

struct slc_cfg_sbuf {
	char *buf;
	size_t len;
	size_t pos;
	bool over; /* something did not fit */
};

void slc_cfg_sb_printf(struct slc_cfg_sbuf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* What o accepts, for messages, --help and the docs. */
void slc_cfg_allowed_text(struct slc_cfg_sbuf *b, const struct slc_cfg_opt *o);
/* ADDR:PORT, IPv6 in []; and the URL that --listen would take back. */
void slc_cfg_fmt_addr(struct slc_cfg_sbuf *b, const struct sockaddr_storage *ss);
void slc_cfg_fmt_listen(struct slc_cfg_sbuf *b, const struct slc_listener_cfg *l);

/* ---- parsing values (flags_parse.c) ---- */

/* Where a parse is: defaults are applied without hooks, into an empty listener list. */
struct slc_cfg_parse_state {
	bool hooks;                   /* run the daemon's checks */
	bool listen_given;            /* a --listen was applied: later ones add */
	bool given[SLC_CFG_OPTS_MAX]; /* by index in slc_cfg_opts(): set by argv */
};

/* val[0..n) as given, but a control byte as \xHH, into out (4 * n + 1 bytes). */
void slc_cfg_show_value(const char *val, size_t n, char *out);

/* Applies val to o's field of c. Returns 0, or -EINVAL with "--flag: ..." in msg. */
int slc_cfg_opt_apply(struct slc_cfg *c, const struct slc_cfg_opt *o,
                      struct slc_cfg_parse_state *st, const char *val, char *msg, size_t len);

/* An integer field (4 or 8 bytes wide, by the table). */
uint64_t slc_cfg_uint_load(const void *field, size_t size);

/* Whether a PROPS entry's NAME (n bytes) names a secret the start-up log hides. */
bool slc_cfg_prop_secret(const char *name, size_t n);

/* ---- the table (flags.c) ---- */

/*
 * Applies the flag named name[0..n) ("--max-step") with val (NULL: none was given) and
 * marks it given. Returns 0; -ENOENT (no such flag) or -EINVAL (a bool or action given a
 * value, a value missing, a value refused), with the reason in msg. An action is not run.
 */
int slc_cfg_apply_named(struct slc_cfg *c, struct slc_cfg_parse_state *st, const char *name,
                        size_t n, const char *val, char *msg, size_t len);

/* The check slc_cfg_hook_set() gave o (an entry of slc_cfg_opts()); NULL: none. */
slc_cfg_check_fn slc_cfg_hook_of(const struct slc_cfg_opt *o);

/* ---- the --config file (cfg_file.c) ---- */

/* The largest --config file read: far more than every flag with its longest value. */
#define SLC_CFG_FILE_MAX (1u << 20)

/*
 * Reads the --config file at path and applies its lines to c in order (cfg.h says what a
 * line may hold), and sets c->config_hash and c->config_mtime_s. Writes one line
 * "PATH:LINE: ..." to err per problem ("PATH: ..." when the file cannot be read) and
 * returns how many there were; 0: every line applied.
 */
unsigned slc_cfg_file_apply(struct slc_cfg *c, struct slc_cfg_parse_state *st, const char *path,
                            FILE *err);

#endif /* SLC_ENGINE_DAEMON_FLAGS_PRIV_H */
