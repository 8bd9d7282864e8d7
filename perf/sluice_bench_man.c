/* SPDX-License-Identifier: MIT */
/* sluice_bench_man.c: docs/sluice-bench.1, the manual page (sluice-bench --help-man). */
#include <stdio.h>

#include "sluice_bench.h"

#ifndef SLC_VERSION
#define SLC_VERSION "unknown"
#endif
/* The month the prose below last changed; OPTIONS follow the option table. */
#define MAN_DATE "2026-12"

/* clang-format off */
static const char man_head[] =
        ".\\\" URLs, flags and paths read badly when hyphenated.\n"
        ".nh\n"
        ".SH NAME\n"
        "sluice\\-bench \\- load generator for sluiced: stamped messages over TCP, UDP, TLS, Fluent Forward or OTLP/HTTP\n"
        ".SH SYNOPSIS\n"
        ".B sluice\\-bench\n"
        ".RI [ \\-\\-option \" \" value \" | \" \\-\\-option = value ]...\n"
        ".br\n"
        ".B sluice\\-bench\n"
        ".BR \\-\\-help \" | \" \\-\\-help\\-man\n"
        ".SH DESCRIPTION\n"
        ".B sluice\\-bench\n"
        "sends messages to\n"
        ".BR sluiced (8)\n"
        "and reports what it sent, and, when asked, what the daemon processed, the latency,\n"
        "acknowledgements and what the file sink stored.\n"
        "Every message carries a stamp: its key, its connection, its sequence number on that\n"
        "connection, and the monotonic time it was formatted.\n"
        "Keys are\n"
        ".BI k id\\fR,\n"
        "drawn per message from\n"
        ".B \\-\\-dist\n"
        "over\n"
        ".BR \\-\\-keys ;\n"
        "sluiced finds them with\n"
        ".B \\-\\-key field:2\n"
        "(lines),\n"
        ".B len32\n"
        "or\n"
        ".B field:9\n"
        "(syslog).\n"
        ".PP\n"
        ".B \\-\\-size\n"
        "is the message as the daemon delivers it (the frame's payload, or the datagram);\n"
        "the framing adds its own bytes on TCP. Sender threads format batches of whole\n"
        "messages and write them on non-blocking sockets; as fast as possible by default, or\n"
        "open loop at\n"
        ".BR \\-\\-rate :\n"
        "what is due is sent at once, however late. The stamp is the time of formatting, so a\n"
        "sender that falls behind measures latencies short (coordinated omission); the report\n"
        "warns when the achieved rate is more than 1% under\n"
        ".BR \\-\\-rate .\n"
        ".PP\n"
        "With\n"
        ".BR \\-\\-metrics ,\n"
        "sluiced's Prometheus endpoint is scraped before and after: processed messages, UDP\n"
        "drops, and the end-to-end and in-daemon latency histograms that sluiced fills from the\n"
        "stamps (with its\n"
        ".BR \\-\\-latency\\-stamps ).\n"
        "Both clocks are CLOCK_MONOTONIC: sender and daemon must share a host.\n"
        "unprocessed is sent minus the daemon's own counter, which counts a message its sink\n"
        "refused: it is no loss figure. Loss is counted from the sink's output by\n"
        ".BI \\-\\-verify \" DIR\"\\fR:\n"
        "it reads the file sink's segments back and checks that every message sent is there\n"
        "exactly once.\n"
        ".PP\n"
        "With\n"
        ".BR \\-\\-acks ,\n"
        "it speaks len32+ack: it never has more than the daemon's window unacknowledged on a\n"
        "connection, keeps those frames, reconnects after a failure (for up to\n"
        ".B \\-\\-reconnect\\-for\n"
        "seconds) and sends again from the oldest unacknowledged frame, and measures every\n"
        "frame's latency from its first formatting to the acknowledgement that covers it.\n"
        ".SH OPTIONS\n";

static const char man_tail[] =
        ".SH OUTPUT\n"
        "A report on standard output, or with\n"
        ".B \\-\\-csv\n"
        "a header and one row (with\n"
        ".B \\-\\-json\n"
        "one object of the same fields; empty or null: not known):\n"
        "the run's options (transport, connections, size, framing, rate, keys, dist);\n"
        "sent, seconds, msgs_per_s, mb_per_s (what was written to the sockets);\n"
        "processed, processed_msgs_per_s, unprocessed\n"
        ".RB ( \\-\\-metrics );\n"
        "lat_source, lat_count, lat_min_us, p50_us, p95_us, p99_us, p999_us, lat_max_us;\n"
        "daemon_p50_us to daemon_p999_us (received to delivered, inside sluiced);\n"
        "acked, acked_msgs_per_s, resent, unacked, reconnects\n"
        ".RB ( \\-\\-acks );\n"
        "verified, missing, duplicated, unexpected\n"
        ".RB ( \\-\\-verify ).\n"
        ".SH EXIT STATUS\n"
        ".TP\n"
        ".B 0\n"
        "The run completed.\n"
        ".TP\n"
        ".B 1\n"
        "A bad option, or a connect, send, scrape or read of\n"
        ".I DIR\n"
        "failed.\n"
        ".TP\n"
        ".B 2\n"
        "The daemon counted fewer TCP messages processed than were sent, after the drain wait.\n"
        ".TP\n"
        ".B 3\n"
        "With\n"
        ".BR \\-\\-acks :\n"
        "frames were never acknowledged, or a connection gave up reconnecting.\n"
        ".TP\n"
        ".B 4\n"
        "With\n"
        ".BR \\-\\-verify :\n"
        "a message is missing or unexpected, or duplicated beyond what\n"
        ".B \\-\\-acks\n"
        "allows.\n"
        ".PP\n"
        "The last that applies wins. SIGINT or SIGTERM stops sending and still reports.\n"
        ".SH EXAMPLES\n"
        ".nf\n"
        "sluice\\-bench \\-\\-metrics http://127.0.0.1:9100\n"
        "sluice\\-bench \\-\\-verify /var/lib/sluice \\-\\-count 1000000\n"
        "sluice\\-bench \\-\\-acks \\-\\-target tcp://127.0.0.1:5141 \\-\\-verify /var/lib/sluice \\-\\-json\n"
        "sluice\\-bench \\-\\-rate 200000 \\-\\-duration 30 \\-\\-dist zipf:1.1 \\-\\-keys 100000\n"
        "sluice\\-bench \\-\\-target udp://127.0.0.1:5140 \\-\\-size 512 \\-\\-rate 100000\n"
        "sluice\\-bench \\-\\-protocol otlp \\-\\-target http://127.0.0.1:4318 \\-\\-batch 512\n"
        ".fi\n"
        ".SH SEE ALSO\n"
        ".BR sluiced (8),\n"
        ".BR sluice\\-cat (1);\n"
        "docs/tuning.md in the sources, whose figures come from it.\n";
/* clang-format on */

void
sb_man(FILE *f)
{
	const struct bench_opt *t;
	size_t n;

	t = sb_opts_table(&n);
	fprintf(f,
	        ".\\\" SPDX-License-Identifier: MIT\n"
	        ".\\\" sluice-bench.1: generated by `sluice-bench --help-man` from the option "
	        "table\n"
	        ".\\\" in perf/sluice_bench_opts.c and the prose in perf/sluice_bench_man.c: do "
	        "not\n"
	        ".\\\" edit. tests/perf/test_sluice_bench.c fails while this file differs.\n"
	        ".TH SLUICE-BENCH 1 %s \"sluice %s\" \"User Commands\"\n",
	        MAN_DATE, SLC_VERSION);
	fputs(man_head, f);
	bench_opt_table_man(f, t, n);
	fputs(man_tail, f);
}
