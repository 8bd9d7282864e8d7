/* SPDX-License-Identifier: MIT */
/* flags_man.c: docs/sluiced.8, the manual page, out of the flag table (sluiced --help-man). */
#include <stdio.h>
#include <string.h>

#include "flags_priv.h"

#ifndef SLC_VERSION
#define SLC_VERSION "unknown"
#endif
/* The month the page's prose (below) last changed; its OPTIONS follow the table. */
#define MAN_DATE "2026-12"

/* clang-format off */
/* What comes before OPTIONS, after the .TH line: name, synopsis, description. */
static const char man_head[] =
        ".\\\" URLs, flags and paths read badly when hyphenated.\n"
        ".nh\n"
        ".SH NAME\n"
        "sluiced \\- network ingest daemon: framed messages over TCP and UDP, routed to worker pools and a sink\n"
        ".SH SYNOPSIS\n"
        ".B sluiced\n"
        ".RI [ \\-\\-flag \" \" value \" | \" \\-\\-flag = value ]...\n"
        ".br\n"
        ".B sluiced \\-\\-print\\-topology\n"
        ".RI [ flags ]\n"
        ".br\n"
        ".B sluiced\n"
        ".BR \\-\\-help \" | \" \\-\\-help\\-markdown \" | \" \\-\\-help\\-man \" | \" \\-\\-version\n"
        ".SH DESCRIPTION\n"
        ".B sluiced\n"
        "receives framed messages over TCP and UDP with io_uring (one or more reactor threads per\n"
        "NUMA node), routes each message to one of several worker pools by a routing strategy and\n"
        "weights, and has the pools' workers deliver the messages to a sink: null (count and\n"
        "drop), file (append-only segment files), forward (TCP to a downstream peer), Kafka\n"
        "(librdkafka) or a plugin (a shared object).\n"
        "A controller thread samples the pools every\n"
        ".B \\-\\-rebalance\\-interval\n"
        "and moves routing weight away from pools that fall behind.\n"
        ".PP\n"
        "When a worker's input ring is full, the TCP connection that feeds it is paused, so TCP\n"
        "flow control slows the sender; datagrams that find no room are dropped and counted.\n"
        "Memory is allocated at start-up and bounded by the flags.\n"
        ".PP\n"
        "It is configured by flags, and by a\n"
        ".B \\-\\-config\n"
        "file of the same flags, one\n"
        ".I \"name = value\"\n"
        "a line; flags on the command line override the file.\n"
        "Each takes its value as\n"
        ".B \\-\\-flag value\n"
        "or\n"
        ".BR \\-\\-flag=value .\n"
        "Sizes are bytes and take\n"
        ".BR k \", \" M \" or \" G\n"
        "(1024-based:\n"
        ".B 64k\n"
        "is 65536).\n"
        "Durations take\n"
        ".BR ms \", \" s \", \" m \" or \" h ;\n"
        "a bare number is in the unit the flag names.\n"
        "Numbers are plain decimal digits: no sign, no fraction.\n"
        "At start-up the daemon logs its effective configuration, the io_uring features the\n"
        "kernel gave it, and a\n"
        ".B ready:\n"
        "line naming each listener with its bound port; then it notifies systemd (see\n"
        ".BR ENVIRONMENT ).\n"
        "Log lines go to standard error as\n"
        ".IR \"sluiced: LEVEL: text\" .\n";

/* What comes after OPTIONS. */
static const char man_tail[] =
        ".SH SIGNALS\n"
        "The main thread takes these signals with\n"
        ".BR sigwaitinfo (2);\n"
        "every other thread blocks them.\n"
        "SIGPIPE is ignored.\n"
        ".TP\n"
        ".B SIGHUP\n"
        "Reload: the command line and the\n"
        ".B \\-\\-config\n"
        "file are read again; a configuration with a problem changes nothing (the problems are\n"
        "logged); otherwise\n"
        ".BR \\-\\-log\\-level ,\n"
        "the controller's parameters and the tenants\n"
        ".RB ( \\-\\-tenant ,\n"
        ".BR \\-\\-tenant\\-default )\n"
        "are applied, and every other flag that changed is logged as needing a restart.\n"
        ".B POST /\\-/reload\n"
        "on the metrics listener does the same, from a loopback address only.\n"
        "Then each worker calls its sink's reopen before its next write.\n"
        "The file sink ends its current segment (with its trailer) and starts a new one with the\n"
        "next record; a plugin's reopen is called; the null, forward and Kafka sinks do nothing.\n"
        ".TP\n"
        ".BR SIGTERM \", \" SIGINT\n"
        "Drain and exit.\n"
        "The reactors stop accepting and receiving (bytes not yet received from a socket are not\n"
        "read) and hand what they hold to the workers until\n"
        ".B \\-\\-drain\\-timeout\n"
        "runs out; the controller stops; the workers deliver every message in their rings; each\n"
        "worker's sink is flushed and closed.\n"
        "The daemon then logs the totals\n"
        ".RI ( \"stopped after ...\" )\n"
        "and exits.\n"
        "A second SIGTERM or SIGINT during the drain is ignored.\n"
        ".SH EXIT STATUS\n"
        ".TP\n"
        ".B 0\n"
        "The daemon stopped and its sink refused nothing.\n"
        "Also after\n"
        ".BR \\-\\-help ,\n"
        ".BR \\-\\-help\\-markdown ,\n"
        ".BR \\-\\-help\\-man ,\n"
        ".B \\-\\-version\n"
        "and\n"
        ".BR \\-\\-print\\-topology .\n"
        ".TP\n"
        ".B 1\n"
        "Start-up failed (a port in use, an unusable\n"
        ".B \\-\\-cpus\n"
        "list, a sink that cannot be opened, or that some worker cannot open, io_uring refused;\n"
        "the log says which, and a start that fails after its threads started first stops them\n"
        "and closes the sinks that did open), or the\n"
        "drain was not clean: the sink refused a batch at some time since start, a flush at\n"
        "shutdown failed, or the forward peer was still unreachable at\n"
        ".BR \\-\\-drain\\-timeout .\n"
        ".TP\n"
        ".B 2\n"
        "A bad flag or value; one line names the flag, what was given and what is allowed.\n"
        ".SH FILES\n"
        ".TP\n"
        ".IB DIR /w NNN \\- SSSSSSSS .seg\n"
        "Segment files of\n"
        ".BR \\-\\-sink\\ file:\\c\n"
        ".IR DIR ,\n"
        "one series per worker\n"
        ".RI ( NNN ,\n"
        "at least 3 digits) numbered by\n"
        ".I SSSSSSSS\n"
        "(at least 8 digits).\n"
        ".TP\n"
        ".IB DIR /sluice.lock\n"
        "Held with\n"
        ".BR flock (2)\n"
        "while the daemon runs: a second daemon on the same\n"
        ".I DIR\n"
        "is refused.\n"
        ".TP\n"
        ".I /proc/self/task/*/schedstat\n"
        "Read every controller tick for the workers' CPU time and run-queue delay.\n"
        ".TP\n"
        ".BI http:// ADDR:PORT /status\n"
        "The status page on the\n"
        ".B \\-\\-metrics\n"
        "listener (and\n"
        ".BR /status.json ,\n"
        ".BR /metrics ,\n"
        ".BR /healthz ,\n"
        ".BR /readyz );\n"
        "see\n"
        ".IR \\%docs/operations.md .\n"
        ".SH ENVIRONMENT\n"
        ".TP\n"
        ".B NOTIFY_SOCKET\n"
        "When set to an absolute path or an abstract socket name\n"
        ".RB ( @ ...),\n"
        "sluiced sends\n"
        ".B READY=1\n"
        "to it after the\n"
        ".B ready:\n"
        "line, and\n"
        ".B STOPPING=1\n"
        "when SIGTERM or SIGINT arrives, as\n"
        ".BR sd_notify (3)\n"
        "does; it sends no watchdog or reload messages.\n"
        "Use\n"
        ".B Type=notify\n"
        "in a systemd unit.\n"
        ".TP\n"
        ".B MALLOC_CONF\n"
        "Read by jemalloc, which release builds use as their allocator.\n"
        ".SH EXAMPLES\n"
        "Syslog over TCP and UDP into segment files, keyed by host, with per-host order:\n"
        ".PP\n"
        ".RS 4\n"
        ".EX\n"
        "sluiced \\-\\-listen 'tcp://0.0.0.0:5140?framing=syslog' \\e\n"
        "        \\-\\-listen udp://0.0.0.0:5140 \\e\n"
        "        \\-\\-key syslog:hostname \\-\\-strategy ordered \\e\n"
        "        \\-\\-sink file:/var/lib/sluiced/segments \\-\\-fsync interval\n"
        ".EE\n"
        ".RE\n"
        ".PP\n"
        "Forward newline-delimited JSON to a downstream collector, spread over 4 pools of 2\n"
        "workers on CPUs 2 to 11:\n"
        ".PP\n"
        ".RS 4\n"
        ".EX\n"
        "sluiced \\-\\-listen tcp://0.0.0.0:6000 \\-\\-pools 4 \\-\\-workers 2 \\-\\-cpus 2\\-11 \\e\n"
        "        \\-\\-sink forward:collector.example.net:6000 \\-\\-drain\\-timeout 20s\n"
        ".EE\n"
        ".RE\n"
        ".PP\n"
        "See where 4 pools of 3 workers would run on a two-node machine, described by an hwloc\n"
        "XML file:\n"
        ".PP\n"
        ".RS 4\n"
        ".EX\n"
        "sluiced \\-\\-pools 4 \\-\\-workers 3 \\-\\-topology\\-xml two\\-nodes.xml \\-\\-print\\-topology\n"
        ".EE\n"
        ".RE\n"
        ".PP\n"
        "Measure: the null sink on loopback, fed by the load generator:\n"
        ".PP\n"
        ".RS 4\n"
        ".EX\n"
        "sluiced \\-\\-sink null &\n"
        "sluice\\-bench \\-\\-duration 10 \\-\\-metrics http://127.0.0.1:9140\n"
        ".EE\n"
        ".RE\n"
        ".SH SEE ALSO\n"
        ".BR systemd.service (5),\n"
        ".BR sd_notify (3),\n"
        ".BR io_uring (7),\n"
        ".BR taskset (1),\n"
        ".BR lstopo (1)\n"
        ".PP\n"
        ".BR sluice\\-cat (1)\n"
        "reads, follows and verifies the file sink's segments;\n"
        ".B sluice\\-bench\n"
        "is the load generator.\n"
        "Both are described in\n"
        ".IR \\%docs/operations.md .\n"
        "In the source tree:\n"
        ".IR \\%docs/operations.md ,\n"
        ".IR \\%docs/flags.md ,\n"
        ".IR \\%docs/tuning.md ,\n"
        ".IR \\%docs/controller.md ,\n"
        ".IR \\%docs/file-format.md ,\n"
        ".IR \\%docs/architecture.md ,\n"
        ".IR \\%docs/sluiced.service .\n";
/* clang-format on */

/*
 * Text as roff reads it: a backslash is \e, every '-' is \- (a flag must not become a
 * hyphen that the page breaks or a copy turns into U+2010), and a line never starts with
 * '.' or '\'' (a request): the table's text has no newlines, so only its start needs it.
 */
void
slc_cfg_roff_text(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

void
slc_cfg_roff_synopsis(FILE *f, const char *name, const char *metavar)
{
	fputs(metavar != NULL ? ".BI \"" : ".B ", f);
	slc_cfg_roff_text(f, name);
	if (metavar != NULL) {
		fputs(" \" \"", f);
		slc_cfg_roff_text(f, metavar);
		fputc('"', f);
	}
	fputc('\n', f);
}

static void
man_group(FILE *f, const char *name)
{
	fputs(".SS ", f);
	slc_cfg_roff_text(f, name);
	fputc('\n', f);
}

static void
man_flag(FILE *f, const struct slc_cfg_opt *o, const char *def, const char *allowed)
{
	fputs(".TP\n", f);
	slc_cfg_roff_synopsis(f, o->name, o->metavar);
	slc_cfg_roff_text(f, o->help);
	fputc('\n', f);
	if (def == NULL)
		return;
	fputs(".br\nDefault: ", f);
	fputs(o->def != NULL ? "\\fB" : "", f); /* a value, not a description */
	slc_cfg_roff_text(f, def);
	fputs(o->def != NULL ? "\\fR" : "", f);
	fputs(".\nAllowed: ", f);
	slc_cfg_roff_text(f, allowed);
	fputs(".\n", f);
}

void
slc_cfg_print_man(FILE *f)
{
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	fprintf(f,
	        ".\\\" SPDX-License-Identifier: MIT\n"
	        ".\\\" sluiced.8: generated by `%s --help-man` from the flag table in\n"
	        ".\\\" engine/daemon/flags_table.c and the sinks' own (engine/sinks/), and the "
	        "prose\n"
	        ".\\\" in engine/daemon/flags_man.c: do not edit. "
	        "tests/engine/daemon/test_cfg_docs.c\n"
	        ".\\\" fails while this file differs.\n"
	        ".TH SLUICED 8 %s \"sluice %s\" \"System Administration\"\n",
	        PROG, MAN_DATE, SLC_VERSION);
	fputs(man_head, f);
	fputs(".PP\nChecks across flags: \\fB\\-\\-strategy sticky\\fR and \\fBordered\\fR need "
	      "a \\fB\\-\\-key\\fR other than \\fBnone\\fR;\n\\fB\\-\\-pools\\fR times "
	      "\\fB\\-\\-workers\\fR is at most 256; with \\fB\\-\\-controller adaptive\\fR, "
	      "\\fB\\-\\-pools\\fR times\n\\fB\\-\\-min\\-weight\\fR is below 100; a "
	      "\\fB\\-\\-listen\\fR address (port 0 aside) appears once, and not again as the "
	      "\\fB\\-\\-metrics\\fR\naddress",
	      f);
	for (size_t i = 0; i < nopts; i++)
		if (opts[i].flags & SLC_CFG_F_SINK_ONLY) {
			fputs("; \\fB", f);
			slc_cfg_roff_text(f, opts[i].name);
			fputs("\\fR needs \\fB\\-\\-sink ", f);
			slc_cfg_roff_text(f, opts[i].sink->scheme);
			fputs("\\fR", f);
		}
	fputs(".\n.SH OPTIONS\n", f);
	slc_cfg_each_flag(f, man_group, man_flag);
	fputs(man_tail, f);
}
