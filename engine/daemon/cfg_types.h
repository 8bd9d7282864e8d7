/* SPDX-License-Identifier: MIT */
/* cfg_types.h: the flag table's types, for the daemon's table and the sinks' own flags. */
#ifndef SLC_ENGINE_CFG_TYPES_H
#define SLC_ENGINE_CFG_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A flag is one struct slc_cfg_opt: name, type, default, bounds, help and the field it
 * sets. The daemon's flags are one table in flags.c; a sink declares its own in its desc
 * (sinks/sink.h), with offsets into its settings block, and the flag parser merges them in
 * after --sink, in registry order. Types only: no function here.
 */

struct slc_sink_desc;

/* .offset and .size of field f of struct type T (the daemon's: struct slc_cfg; a sink's:
 * its settings struct). */
#define SLC_CFG_FIELD(T, f) .offset = offsetof(T, f), .size = sizeof(((T *)0)->f)

#define SLC_CFG_PROPS_MAX 32   /* a PROPS flag may name this many properties */
#define SLC_CFG_PROP_LEN  1024 /* one NAME=VALUE, NUL included */

/* A PROPS flag's field: NAME=VALUE entries in flag order; a NAME given again replaces
 * its entry. NAME is lower case letters, digits, '.', '_' and '-'; the start-up log hides
 * the values of names with password, secret, pem, jaas or oauthbearer in them. */
struct slc_cfg_props {
	uint32_t n;
	char v[SLC_CFG_PROPS_MAX][SLC_CFG_PROP_LEN];
};

enum slc_cfg_type {
	SLC_CFG_BOOL,     /* bool: set by the flag's presence; takes no value */
	SLC_CFG_ACTION,   /* prints something and makes parse return SLC_CFG_EXIT */
	SLC_CFG_COUNT,    /* uint32_t: decimal digits */
	SLC_CFG_SIZE,     /* uint32_t or uint64_t (by field size): bytes, units k M G */
	SLC_CFG_DURATION, /* uint32_t ms: units ms s m h; a bare number in unit_ms */
	SLC_CFG_DOUBLE,   /* double: finite decimal */
	SLC_CFG_ENUM,     /* an enum field: the index of the name in choices */
	SLC_CFG_STRING,   /* char[field size]: non-empty text; hookable (--key) */
	SLC_CFG_CPUS,     /* char[field size]: "all" or a cpu list (slc_numa_cpu_list_check) */
	SLC_CFG_LISTEN,   /* struct slc_listener_cfg[]: repeatable URL */
	SLC_CFG_ADDR,     /* struct slc_cfg_addr: ADDR:PORT, or "off" */
	SLC_CFG_SINK,     /* struct slc_sink_spec, through the registry's descs; hookable */
	SLC_CFG_PROPS,    /* struct slc_cfg_props: repeatable NAME=VALUE */
};

/* Help and docs group flags in this order. */
enum slc_cfg_group {
	SLC_CFG_G_INPUT,
	SLC_CFG_G_ROUTING,
	SLC_CFG_G_POOLS,
	SLC_CFG_G_SINK,
	SLC_CFG_G_CONTROLLER,
	SLC_CFG_G_OPERATIONS,
	SLC_CFG_G_TESTING,
	SLC_CFG_G__COUNT
};

/* Option flags. */
enum {
	SLC_CFG_F_POW2 = 1u << 0,     /* integer: a power of two */
	SLC_CFG_F_MIN_EXCL = 1u << 1, /* double: min itself is refused */
	SLC_CFG_F_MAX_EXCL = 1u << 2, /* double: max itself is refused */
	SLC_CFG_F_OFF = 1u << 3,      /* integer: "off" means 0, and 0 prints as "off" */
	SLC_CFG_F_HOOK = 1u << 4,     /* slc_cfg_hook_set() may add a check */
	/* a sink's flag that is refused unless --sink names that sink (given: not its
	 * default; PROPS: one entry or more) */
	SLC_CFG_F_SINK_ONLY = 1u << 5,
	SLC_CFG_F_AUTO = 1u << 6, /* integer: "auto" means 0, sized at start (numa/size.c) */
	/* PROPS: entries are NAME:VALUE (--tenant), not NAME=VALUE; hookable */
	SLC_CFG_F_NAME_COLON = 1u << 7,
};

/*
 * A check for a flag's value, beyond its syntax (the daemon installs them: --key's is
 * slc_key_spec_parse's). Returns 0, or -EINVAL with a short reason in msg ("" is fine).
 */
typedef int (*slc_cfg_check_fn)(const char *text, char *msg, size_t msg_len);

/* One flag. Bounds are in the field's unit (bytes, ms, or the plain number). */
struct slc_cfg_opt {
	const char *name; /* "--max-step" */
	enum slc_cfg_type type;
	enum slc_cfg_group group;
	const char *metavar; /* "N", "SIZE", ...; NULL for BOOL and ACTION */
	const char *def;     /* default as text, parsed like argv; NULL: field stays empty/0 */
	const char *unset;   /* what an empty string field means ("all"); NULL: "" is refused */
	double min;
	double max;
	unsigned flags;             /* SLC_CFG_F_* */
	uint32_t unit_ms;           /* DURATION: what a bare number counts (1 or 1000) */
	const char *const *choices; /* ENUM: names, NULL-terminated; value = index */
	const char *allowed;        /* text of what is allowed where the type cannot say */
	const char *help;
	void (*print)(FILE *f); /* ACTION: what it prints */
	size_t offset;          /* of the target field in struct slc_cfg (a sink's: in its
	                         * settings block; slc_cfg_opts() gives them in struct slc_cfg) */
	size_t size;            /* of the target field */
	/* slc_cfg_opts() only: the sink whose flag this is; NULL: the daemon's */
	const struct slc_sink_desc *sink;
};

#endif /* SLC_ENGINE_CFG_TYPES_H */
