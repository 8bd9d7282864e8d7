/* SPDX-License-Identifier: MIT */
/* flags_help.c: text out of the flag table: --help, docs/flags.md and the start-up log line. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "base/addr.h"
#include "flags_priv.h"
#include "sinks/registry.h"

void
slc_cfg_sb_printf(struct slc_cfg_sbuf *b, const char *fmt, ...)
{
	size_t room = b->pos < b->len ? b->len - b->pos : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room > 0 ? b->buf + b->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->over = true;
		return;
	}
	if ((size_t)n >= room) {
		b->over = true;
		b->pos = b->len > 0 ? b->len - 1 : 0;
		return;
	}
	b->pos += (size_t)n;
}

/* 65536 -> "64k": the largest unit that divides v exactly, so the text parses back to v. */
static void
fmt_size(struct slc_cfg_sbuf *b, uint64_t v)
{
	static const char units[] = {'G', 'M', 'k'};

	for (int i = 0; i < 3; i++) {
		uint64_t u = 1ull << (10 * (3 - i));

		if (v != 0 && v % u == 0) {
			slc_cfg_sb_printf(b, "%llu%c", (unsigned long long)(v / u), units[i]);
			return;
		}
	}
	slc_cfg_sb_printf(b, "%llu", (unsigned long long)v);
}

/* 100 -> "100ms", 10000 -> "10s": the largest unit that divides ms exactly. */
static void
fmt_duration(struct slc_cfg_sbuf *b, uint64_t ms)
{
	static const struct {
		uint64_t ms;
		const char *name;
	} units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};

	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			slc_cfg_sb_printf(b, "%llu%s", (unsigned long long)(ms / units[i].ms),
			                  units[i].name);
			return;
		}
	}
	slc_cfg_sb_printf(b, "%llu%s", (unsigned long long)ms, ms != 0 ? "ms" : "");
}

/* A bound or value of o, in o's notation. */
static void
fmt_value(struct slc_cfg_sbuf *b, const struct slc_cfg_opt *o, double v)
{
	if (o->flags & SLC_CFG_F_OFF && v == 0)
		slc_cfg_sb_printf(b, "off");
	else if (o->flags & SLC_CFG_F_AUTO && v == 0)
		slc_cfg_sb_printf(b, "auto");
	else if (o->type == SLC_CFG_SIZE)
		fmt_size(b, (uint64_t)v);
	else if (o->type == SLC_CFG_DURATION)
		fmt_duration(b, (uint64_t)v);
	else
		slc_cfg_sb_printf(b, "%.10g", v);
}

void
slc_cfg_allowed_text(struct slc_cfg_sbuf *b, const struct slc_cfg_opt *o)
{
	switch (o->type) {
	case SLC_CFG_BOOL:
	case SLC_CFG_ACTION:
		slc_cfg_sb_printf(b, "no value");
		return;
	case SLC_CFG_COUNT:
	case SLC_CFG_SIZE:
	case SLC_CFG_DURATION:
		if (o->flags & SLC_CFG_F_POW2)
			slc_cfg_sb_printf(b, "a power of two in ");
		if (o->flags & SLC_CFG_F_OFF)
			slc_cfg_sb_printf(b, "off, or ");
		if (o->flags & SLC_CFG_F_AUTO)
			slc_cfg_sb_printf(b, "auto, or ");
		if (o->type == SLC_CFG_SIZE)
			fmt_size(b, (uint64_t)o->min);
		else if (o->type == SLC_CFG_DURATION)
			fmt_duration(b, (uint64_t)o->min);
		else
			slc_cfg_sb_printf(b, "%.10g", o->min);
		slc_cfg_sb_printf(b, "..");
		fmt_value(b, o, o->max);
		return;
	case SLC_CFG_DOUBLE:
		if (o->flags & (SLC_CFG_F_MIN_EXCL | SLC_CFG_F_MAX_EXCL))
			slc_cfg_sb_printf(b, "%s %.10g and %s %.10g",
			                  o->flags & SLC_CFG_F_MIN_EXCL ? ">" : ">=", o->min,
			                  o->flags & SLC_CFG_F_MAX_EXCL ? "<" : "<=", o->max);
		else
			slc_cfg_sb_printf(b, "%.10g..%.10g", o->min, o->max);
		return;
	case SLC_CFG_ENUM:
		for (size_t i = 0; o->choices[i] != NULL; i++)
			slc_cfg_sb_printf(b, "%s%s", i > 0 ? ", " : "", o->choices[i]);
		return;
	case SLC_CFG_STRING:
	case SLC_CFG_CPUS:
	case SLC_CFG_LISTEN:
	case SLC_CFG_ADDR:
	case SLC_CFG_SINK:
	case SLC_CFG_PROPS:
		slc_cfg_sb_printf(b, "%s", o->allowed != NULL ? o->allowed : "any text");
		return;
	}
}

/* The default as --help and the docs show it; NULL when the flag has none to show. */
const char *
slc_cfg_default_text(const struct slc_cfg_opt *o)
{
	if (o->type == SLC_CFG_BOOL || o->type == SLC_CFG_ACTION)
		return NULL;
	return o->def != NULL ? o->def : o->unset;
}

/* Writes text from column col, wrapping at 100 columns with a hanging indent. */
static void
wrap(FILE *f, const char *text, int col, int indent)
{
	const int width = 100;

	while (*text != '\0') {
		int w = (int)strcspn(text, " ");

		if (col > indent && col + 1 + w > width) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", w, text);
		col += w;
		text += w;
		while (*text == ' ')
			text++;
	}
	fputc('\n', f);
}

void
slc_cfg_print_help(FILE *f)
{
	const int indent = 30;
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	fprintf(f,
	        "Usage: %s [--flag value | --flag=value]...\n"
	        "Receives framed messages over TCP and UDP, routes them to worker pools, and "
	        "hands them\nto a sink. Sizes take k, M, G (1024-based); durations take ms, s, "
	        "m, h. Bad usage exits 2.\n",
	        PROG);
	for (int g = 0; g < SLC_CFG_G__COUNT; g++) {
		fprintf(f, "\n%s:\n", slc_cfg_group_names[g]);
		for (size_t i = 0; i < nopts; i++) {
			const struct slc_cfg_opt *o = &opts[i];
			char line[2048];
			struct slc_cfg_sbuf b = {line, sizeof(line), 0, false};
			const char *def = slc_cfg_default_text(o);
			int col;

			if ((int)o->group != g)
				continue;
			col = fprintf(f, "  %s%s%s", o->name, o->metavar != NULL ? " " : "",
			              o->metavar != NULL ? o->metavar : "");
			if (col >= indent - 1) {
				fprintf(f, "\n%*s", indent, "");
			} else {
				fprintf(f, "%*s", indent - col, "");
			}
			wrap(f, o->help, indent, indent);
			/* On a line of its own, so that the default is never split by the wrap. */
			if (def != NULL) {
				slc_cfg_sb_printf(&b, "Default: %s. Allowed: ", def);
				slc_cfg_allowed_text(&b, o);
				slc_cfg_sb_printf(&b, ".");
				fprintf(f, "%*s", indent, "");
				wrap(f, line, indent, indent);
			}
		}
	}
}

/* A Markdown table cell: '|' would end the cell. */
static void
md_cell(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputc('\\', f);
		fputc(*s, f);
	}
}

void
slc_cfg_each_flag(FILE *f, void (*group)(FILE *f, const char *name),
                  void (*flag)(FILE *f, const struct slc_cfg_opt *o, const char *def,
                               const char *allowed))
{
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	for (int g = 0; g < SLC_CFG_G__COUNT; g++) {
		group(f, slc_cfg_group_names[g]);
		for (size_t i = 0; i < nopts; i++) {
			char allowed[1024];
			struct slc_cfg_sbuf b = {allowed, sizeof(allowed), 0, false};

			if ((int)opts[i].group != g)
				continue;
			slc_cfg_allowed_text(&b, &opts[i]);
			flag(f, &opts[i], slc_cfg_default_text(&opts[i]), allowed);
		}
	}
}

static void
md_group(FILE *f, const char *name)
{
	fprintf(f, "\n## %s\n\n| flag | default | allowed | meaning |\n|---|---|---|---|\n", name);
}

static void
md_flag(FILE *f, const struct slc_cfg_opt *o, const char *def, const char *allowed)
{
	fprintf(f, "| `%s%s%s` | ", o->name, o->metavar != NULL ? " " : "",
	        o->metavar != NULL ? o->metavar : "");
	if (def == NULL) {
		fprintf(f, "—");
	} else if (o->def == NULL) {
		md_cell(f, def); /* a description, not a value */
	} else {
		fputc('`', f);
		md_cell(f, def);
		fputc('`', f);
	}
	fprintf(f, " | ");
	md_cell(f, allowed);
	fprintf(f, " | ");
	md_cell(f, o->help);
	fprintf(f, " |\n");
}

void
slc_cfg_print_markdown(FILE *f)
{
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	fprintf(f,
	        "<!-- Generated by `%s --help-markdown` from the flag table in "
	        "engine/daemon/flags_table.c and the\n     sinks' own (engine/sinks/): do not "
	        "edit. "
	        "tests/engine/daemon/test_cfg.c fails while\n     this file differs. -->\n",
	        PROG);
	fprintf(f, "# %s flags\n\n", PROG);
	fprintf(f,
	        "`%s` is configured by these flags only. Each takes its value as `--flag value` or "
	        "`--flag=value`.\n"
	        "Sizes are bytes and take `k`, `M` or `G` (1024-based: `64k` is 65536). Durations "
	        "take `ms`, `s`,\n`m` or `h`; a bare number is in the unit the flag names. Counts, "
	        "sizes and durations\nare plain decimal digits before the unit: no sign, no "
	        "fraction.\n"
	        "A bad value, an unknown flag or a missing value prints one line that names the "
	        "flag, what was\ngiven and what is allowed, and exits 2. At start-up the daemon "
	        "logs one line with the\neffective configuration.\n\n"
	        "Checks across flags: `--strategy sticky` and `ordered` need a `--key` other than "
	        "`none`;\n`--pools` times `--workers` is at most 256; with `--controller "
	        "adaptive`, "
	        "`--pools` times\n`--min-weight` is below 100; a `--listen` address (port 0 "
	        "aside) appears once, and not\nagain as the `--metrics` address",
	        PROG);
	/* "; `--kafka-prop` needs `--sink kafka://`": each sink's flags that need it. */
	for (size_t i = 0; i < nopts; i++)
		if (opts[i].flags & SLC_CFG_F_SINK_ONLY)
			fprintf(f, "; `%s` needs `--sink %s`", opts[i].name, opts[i].sink->scheme);
	fprintf(f, ".\n");
	slc_cfg_each_flag(f, md_group, md_flag);
}

void
slc_cfg_fmt_addr(struct slc_cfg_sbuf *b, const struct sockaddr_storage *ss)
{
	char text[SLC_ADDR_SA_STR_MAX];

	slc_addr_format((const struct sockaddr *)ss, sizeof(*ss), text, sizeof(text));
	slc_cfg_sb_printf(b, "%s", text);
}

void
slc_cfg_fmt_listen(struct slc_cfg_sbuf *b, const struct slc_listener_cfg *l)
{
	slc_cfg_sb_printf(b, "%s://",
	                  l->proto == SLC_LISTENER_UDP ? "udp"
	                  : l->tls                     ? "tls"
	                  : l->http                    ? "http"
	                                               : "tcp");
	slc_cfg_fmt_addr(b, &l->addr);
	if (l->proto == SLC_LISTENER_TCP && !l->http)
		slc_cfg_sb_printf(b, "?framing=%s%s", slc_frame_format_name(l->framing),
		                  l->acks && l->framing == SLC_FRAME_LEN32 ? "+ack" : "");
}

int
slc_cfg_describe(const struct slc_cfg *c, char *buf, size_t len)
{
	struct slc_cfg_sbuf b = {buf, len, 0, false};
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	if (len > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < nopts; i++) {
		const struct slc_cfg_opt *o = &opts[i];
		const void *field = (const char *)c + o->offset;

		/* Flags that are off or unset (a bool not given, no --topology-xml) are left out:
		 * every token stays NAME=VALUE without spaces, for whoever parses the log. */
		if (o->type == SLC_CFG_ACTION ||
		    (o->type == SLC_CFG_BOOL && !*(const bool *)field) ||
		    (o->def == NULL && o->type == SLC_CFG_STRING && *(const char *)field == '\0') ||
		    (o->type == SLC_CFG_PROPS && ((const struct slc_cfg_props *)field)->n == 0))
			continue;
		slc_cfg_sb_printf(&b, "%s%s", b.pos > 0 ? " " : "", o->name + 2);
		switch (o->type) {
		case SLC_CFG_BOOL:
		case SLC_CFG_ACTION:
			break;
		case SLC_CFG_COUNT:
		case SLC_CFG_SIZE:
		case SLC_CFG_DURATION:
			slc_cfg_sb_printf(&b, "=");
			fmt_value(&b, o, (double)slc_cfg_uint_load(field, o->size));
			break;
		case SLC_CFG_DOUBLE:
			slc_cfg_sb_printf(&b, "=%g", *(const double *)field);
			break;
		case SLC_CFG_ENUM:
			slc_cfg_sb_printf(&b, "=%s", o->choices[*(const int *)field]);
			break;
		case SLC_CFG_STRING:
		case SLC_CFG_CPUS:
			slc_cfg_sb_printf(&b, "=%s",
			                  *(const char *)field != '\0' ? (const char *)field
			                                               : o->unset);
			break;
		case SLC_CFG_LISTEN:
			for (uint32_t k = 0; k < c->nlisten; k++) {
				slc_cfg_sb_printf(&b, "%s", k == 0 ? "=" : ",");
				slc_cfg_fmt_listen(&b, &c->listen[k]);
			}
			break;
		case SLC_CFG_ADDR: {
			const struct slc_cfg_addr *a = field;

			slc_cfg_sb_printf(&b, "=");
			if (a->addrlen == 0)
				slc_cfg_sb_printf(&b, "off");
			else
				slc_cfg_fmt_addr(&b, &a->addr);
			break;
		}
		case SLC_CFG_SINK: {
			const struct slc_sink_spec *k = field;
			char arg[SLC_SINK_ARG_LEN + 16];

			if (k->desc->format != NULL)
				k->desc->format(k, arg, sizeof(arg));
			slc_cfg_sb_printf(&b, "=%s%s", k->desc->scheme,
			                  k->desc->format != NULL ? arg : k->arg);
			break;
		}
		case SLC_CFG_PROPS:
			/* One token per property, as the flag takes them back; secrets hidden. */
			for (uint32_t k = 0; k < ((const struct slc_cfg_props *)field)->n; k++) {
				const char *p = ((const struct slc_cfg_props *)field)->v[k];
				size_t n = strcspn(p, "=");

				if (k > 0)
					slc_cfg_sb_printf(&b, " %s", o->name + 2);
				if (slc_cfg_prop_secret(p, n))
					slc_cfg_sb_printf(&b, "=%.*s=(hidden)", (int)n, p);
				else
					slc_cfg_sb_printf(&b, "=%s", p);
			}
			break;
		}
	}
	return b.over ? -ENOSPC : 0;
}
