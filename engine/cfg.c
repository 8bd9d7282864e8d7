/* SPDX-License-Identifier: MIT */
/* cfg.c: the flag table of sluiced, and the parser, checks, help, docs and log line it drives. */
#include "cfg.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "numa.h"
#include "pool/pool.h"
#include "sink_kafka.h"

#ifndef SLC_VERSION
#define SLC_VERSION "unknown"
#endif

#define PROG         "sluiced"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FIELD(f)     .offset = offsetof(struct slc_cfg, f), .size = sizeof(((struct slc_cfg *)0)->f)

#define KIB  1024.0
#define MIB  (1024.0 * 1024.0)
#define GIB  (1024.0 * 1024.0 * 1024.0)
#define SEC  1000.0
#define MINS (60.0 * SEC)
#define HOUR (60.0 * MINS)
/* Upper bound of the controller's unbounded parameters: far past any sane value, and it
 * keeps them finite. */
#define BIG 1e9

/* Enum fields are written as int, and a name's index in its list is its value. */
static_assert(sizeof(enum slc_route_strategy) == sizeof(int), "enum width");
static_assert(sizeof(enum slc_ctl_mode) == sizeof(int), "enum width");
static_assert(sizeof(enum slc_cfg_fsync) == sizeof(int), "enum width");
static_assert(sizeof(enum slc_cfg_log_level) == sizeof(int), "enum width");
static_assert(SLC_ROUTE_PURE == 0 && SLC_ROUTE_STICKY == 1 && SLC_ROUTE_ORDERED == 2, "order");
static_assert(SLC_CTL_ADAPTIVE == 0 && SLC_CTL_PAIRWISE == 1, "order");

static const char *const strategy_names[] = {"pure", "sticky", "ordered", NULL};
static const char *const fsync_names[] = {"never", "interval", "batch", NULL};
static const char *const forward_framing_names[] = {"lines", "len32", NULL};
static const char *const controller_names[] = {"adaptive", "pairwise", NULL};
static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};

static const char *const group_names[SLC_CFG_G__COUNT] = {
        [SLC_CFG_G_INPUT] = "Input",
        [SLC_CFG_G_ROUTING] = "Routing",
        [SLC_CFG_G_POOLS] = "Pools and placement",
        [SLC_CFG_G_SINK] = "Sink",
        [SLC_CFG_G_CONTROLLER] = "Controller",
        [SLC_CFG_G_OPERATIONS] = "Operations",
        [SLC_CFG_G_TESTING] = "Testing",
};

static void print_version(FILE *f);

/*
 * The flags. Defaults are text so that they go through the same parser as argv: a default
 * outside its own bounds fails every test instead of shipping. Help texts avoid '|' so
 * that they read the same in a Markdown table.
 */
static const struct slc_cfg_opt opts[] = {
        /* ---- input ---- */
        {.name = "--listen",
         .type = SLC_CFG_LISTEN,
         .group = SLC_CFG_G_INPUT,
         .metavar = "URL",
         .def = "tcp://127.0.0.1:5140?framing=lines",
         .allowed = "tcp://ADDR:PORT[?framing=lines, len32, len32+ack or syslog] or "
                    "udp://ADDR:PORT; ADDR a numeric IPv4 address or [IPv6]; PORT 0..65535 (0: "
                    "any free port); at most 16",
         .help = "Where to receive messages. Repeatable; the first --listen replaces the "
                 "default. TCP framing: lines (up to LF; a CR before it is dropped), len32 "
                 "(a 4-byte big-endian length, then the message), len32+ack (len32 frames "
                 "with a sequence number, acknowledged once the sink has them durable: "
                 "docs/protocol.md) or syslog (RFC 6587: octet counting, or LF). UDP: each "
                 "datagram is one message, so udp:// takes no framing.",
         FIELD(listen)},
        {.name = "--buffers",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_INPUT,
         .metavar = "N",
         .def = "256",
         .min = 1,
         .max = 32768,
         .flags = SLC_CFG_F_POW2,
         .help = "TCP receive buffers of each reactor. Buffers times --buffer-size is a "
                 "reactor's TCP receive memory (16 MiB by default, allocated at start); "
                 "when all are in use, connections wait.",
         FIELD(buffers)},
        {.name = "--buffer-size",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_INPUT,
         .metavar = "SIZE",
         .def = "64k",
         .min = 4 * KIB,
         .max = MIB,
         .help = "Bytes per TCP receive buffer. A message that straddles two buffers is "
                 "copied once.",
         FIELD(buffer_size)},
        {.name = "--udp-buffers",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_INPUT,
         .metavar = "N",
         .def = "256",
         .min = 1,
         .max = 32768,
         .flags = SLC_CFG_F_POW2,
         .help = "UDP receive buffers of each reactor; each holds one datagram of up to "
                 "min(--max-frame, 64k) bytes. Allocated only when a udp:// listener is "
                 "given (16 MiB by default).",
         FIELD(udp_buffers)},
        {.name = "--max-frame",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_INPUT,
         .metavar = "SIZE",
         .def = "64k",
         .min = 64,
         .max = GIB,
         .help = "Largest message accepted. A longer TCP message closes its connection; a "
                 "longer datagram is dropped. Both are counted.",
         FIELD(max_frame)},
        {.name = "--reasm-memory",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_INPUT,
         .metavar = "SIZE",
         .def = "0",
         .min = 0,
         .max = 64 * GIB,
         .help = "Memory of each reactor for messages that straddle two receive buffers "
                 "(copied whole) and for the small pieces that paused connections received; "
                 "0: as much as --buffers times --buffer-size. Taken as needed; a "
                 "connection that finds none waits, and while some wait, a half-received "
                 "message with nothing new for 1 s is evicted (its connection closed, "
                 "counted).",
         FIELD(reasm_memory)},
        {.name = "--max-conns",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_INPUT,
         .metavar = "N",
         .def = "10000",
         .min = 1,
         .max = 1000000,
         .help = "Open TCP connections per reactor; further ones are refused (counted).",
         FIELD(max_conns)},
        {.name = "--idle-timeout",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_INPUT,
         .metavar = "DURATION",
         .def = "off",
         .min = 0,
         .max = 24 * HOUR,
         .flags = SLC_CFG_F_OFF,
         .unit_ms = 1000,
         .help = "Close a TCP connection that sends nothing, or only part of a message, for "
                 "this long. A bare number is seconds; off or 0: never.",
         FIELD(idle_timeout_ms)},
        {.name = "--ack-window",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_INPUT,
         .metavar = "N",
         .def = "1024",
         .min = 1,
         .max = 65536,
         .flags = SLC_CFG_F_POW2,
         .help = "len32+ack: frames a client may send before their acknowledgement (its "
                 "credit, told in the greeting). Each reactor keeps --max-conns times N bits "
                 "for it.",
         FIELD(ack_window)},

        /* ---- routing ---- */
        {.name = "--strategy",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_ROUTING,
         .metavar = "NAME",
         .def = "pure",
         .choices = strategy_names,
         .help = "How a message finds its pool and worker. pure: by routing weight, any "
                 "worker, no order. sticky: by key hash, weighted, so that a key stays on its "
                 "pool while the weights allow. ordered: each key to one worker, strict "
                 "per-key order, kept across rebalancing. sticky and ordered need --key.",
         FIELD(strategy)},
        {.name = "--key",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_ROUTING,
         .metavar = "SPEC",
         .def = "none",
         .flags = SLC_CFG_F_HOOK,
         .allowed = "none, len32, field:N, prefix:DELIM, syslog:hostname, syslog:appname or "
                    "json:NAME (engine/route/key.h)",
         .help = "Which part of a message is its key, for sticky and ordered. none: no key "
                 "(pure only).",
         FIELD(key)},

        /* ---- pools and placement ---- */
        {.name = "--pools",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_POOLS,
         .metavar = "N",
         .def = "2",
         .min = 1,
         .max = SLC_POOLS_MAX,
         .help = "Worker pools. The controller moves routing weight between them.",
         FIELD(pools)},
        {.name = "--workers",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_POOLS,
         .metavar = "N",
         .def = "1",
         .min = 1,
         .max = SLC_WORKERS_MAX,
         .help = "Worker threads per pool; pools times workers is at most 256.",
         FIELD(workers)},
        {.name = "--reactors-per-node",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_POOLS,
         .metavar = "N",
         .def = "1",
         .min = 1,
         .max = SLC_PRODUCERS_MAX,
         .help = "Receive threads (io_uring reactors) per NUMA node; all nodes together at "
                 "most 64.",
         FIELD(reactors_per_node)},
        {.name = "--ring-size",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_POOLS,
         .metavar = "N",
         .def = "4096",
         .min = 2,
         .max = 1048576,
         .flags = SLC_CFG_F_POW2,
         .help = "Slots of each input ring of a worker (one ring per reactor). A full ring "
                 "pauses the connection that feeds it.",
         FIELD(ring_size)},
        {.name = "--cpus",
         .type = SLC_CFG_CPUS,
         .group = SLC_CFG_G_POOLS,
         .metavar = "LIST",
         .def = "all",
         .unset = "all",
         .allowed = "all, or CPU numbers and ranges such as 0-3,8 (OS numbering, as taskset "
                    "uses)",
         .help = "CPUs the daemon's threads may run on. CPUs this machine lacks are ignored, "
                 "so one list can serve machines of different sizes.",
         FIELD(cpus)},
        {.name = "--topology-xml",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_POOLS,
         .metavar = "FILE",
         .unset = "this machine",
         .allowed = "a path to an hwloc XML file",
         .help = "Place threads on the machine an hwloc XML file describes (lstopo --of xml) "
                 "instead of this one: for trying a placement with --print-topology.",
         FIELD(topology_xml)},
        {.name = "--print-topology",
         .type = SLC_CFG_BOOL,
         .group = SLC_CFG_G_POOLS,
         .help = "Print where each reactor and worker would run, and exit 0.",
         FIELD(print_topology)},

        /* ---- sink ---- */
        {.name = "--sink",
         .type = SLC_CFG_SINK,
         .group = SLC_CFG_G_SINK,
         .metavar = "SPEC",
         .def = "null",
         .flags = SLC_CFG_F_HOOK,
         .allowed = "null, file:DIR, forward:HOST:PORT, kafka://BROKERS/TOPIC or "
                    "plugin:PATH.so[?ARG]",
         .help = "Where workers deliver messages. null: count and drop. file: segment files "
                 "under DIR. forward: TCP to HOST:PORT (HOST a name, IPv4 or [IPv6]; PORT "
                 "1..65535). kafka: records of TOPIC keyed by --key, BROKERS a comma-separated "
                 "list of HOST[:PORT]; ?producers=per-worker gives each worker its own "
                 "producer (default shared; docs/scale-out.md). plugin: a shared object "
                 "implementing engine/sluice_plugin.h.",
         FIELD(sink)},
        {.name = "--fsync",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_SINK,
         .metavar = "MODE",
         .def = "interval",
         .choices = fsync_names,
         .help = "When the file sink makes its writes durable: never (left to the kernel), "
                 "interval (every --fsync-interval) or batch (after each batch a worker "
                 "writes).",
         FIELD(fsync)},
        {.name = "--fsync-interval",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_SINK,
         .metavar = "DURATION",
         .def = "1s",
         .min = 1,
         .max = HOUR,
         .unit_ms = 1,
         .help = "How often --fsync interval syncs. A bare number is ms.",
         FIELD(fsync_interval_ms)},
        {.name = "--segment-size",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_SINK,
         .metavar = "SIZE",
         .def = "64M",
         .min = MIB,
         .max = 16 * GIB,
         .help = "The file sink starts a new segment file once the current one reaches this "
                 "size.",
         FIELD(segment_size)},
        {.name = "--forward-batch",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_SINK,
         .metavar = "SIZE",
         .def = "64k",
         .min = KIB,
         .max = 16 * MIB,
         .help = "The forward sink sends at most this many bytes in one send.",
         FIELD(forward_batch)},
        {.name = "--forward-framing",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_SINK,
         .metavar = "FRAMING",
         .def = "lines",
         .choices = forward_framing_names,
         .help = "How the forward sink frames what it sends: lines (payload and LF; a "
                 "payload holding an LF arrives split, so sluiced warns at start when a "
                 "listener is not lines) or len32 (4-byte big-endian length, payload).",
         FIELD(forward_framing)},
        {.name = "--kafka-prop",
         .type = SLC_CFG_PROPS,
         .group = SLC_CFG_G_SINK,
         .metavar = "NAME=VALUE",
         .unset = "none",
         .allowed = "NAME=VALUE, NAME a librdkafka property; up to 32 names",
         .help = "A librdkafka property for the kafka sink: linger.ms, batch.size, "
                 "compression.type, acks, security.protocol, sasl.*, ssl.*, ... Repeatable; "
                 "a NAME given again replaces its value. librdkafka checks names and values "
                 "at start-up. The start-up log hides values of names with password, secret "
                 "or pem in them.",
         FIELD(kafka_props)},

        /* ---- controller: the design's seven keep the design's defaults ---- */
        {.name = "--controller",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "MODE",
         .def = "adaptive",
         .choices = controller_names,
         .help = "adaptive: estimate each pool's capacity and move every weight toward its "
                 "share. pairwise: the design's rule, one step from the most to the least "
                 "pressed pool. docs/controller.md has both.",
         FIELD(ctl.mode)},
        {.name = "--rebalance-interval",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "DURATION",
         .def = "100ms",
         .min = 10,
         .max = 60 * SEC,
         .unit_ms = 1,
         .help = "How often the controller samples the pools and publishes new weights. A "
                 "bare number is ms.",
         FIELD(rebalance_interval_ms)},
        {.name = "--cooldown",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "DURATION",
         .def = "10s",
         .min = 0,
         .max = HOUR,
         .unit_ms = 1000,
         .help = "pairwise: no change for this long after a change (adaptive ignores it). A "
                 "bare number is seconds.",
         FIELD(ctl.cooldown_ms)},
        {.name = "--eps-rate",
         .type = SLC_CFG_DOUBLE,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "X",
         .def = "1.0",
         .min = 0,
         .max = BIG,
         .flags = SLC_CFG_F_MIN_EXCL,
         .help = "Floor (msg/s) of a service rate or capacity used as a divisor.",
         FIELD(ctl.eps_rate)},
        {.name = "--min-pressure-delta",
         .type = SLC_CFG_DOUBLE,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "X",
         .def = "2.0",
         .min = 0,
         .max = BIG,
         .help = "pairwise: smallest difference of backlog seconds that moves weight "
                 "(adaptive ignores it).",
         FIELD(ctl.min_pressure_delta)},
        {.name = "--base-step",
         .type = SLC_CFG_DOUBLE,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "X",
         .def = "1.0",
         .min = 0,
         .max = BIG,
         .help = "pairwise: the step at the smallest difference (adaptive ignores it).",
         FIELD(ctl.base_step)},
        {.name = "--max-step",
         .type = SLC_CFG_DOUBLE,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "X",
         .def = "5.0",
         .min = 0,
         .max = BIG,
         .flags = SLC_CFG_F_MIN_EXCL,
         .help = "Most one pool's weight moves in a tick (pairwise: weight units; adaptive: "
                 "percentage points).",
         FIELD(ctl.max_step)},
        {.name = "--min-weight",
         .type = SLC_CFG_DOUBLE,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "X",
         .def = "1.0",
         .min = 0,
         .max = 100,
         .flags = SLC_CFG_F_MAX_EXCL,
         .help = "Floor of every pool's weight (adaptive: percent of the traffic, and pools "
                 "times this must stay below 100).",
         FIELD(ctl.min_weight)},
        {.name = "--max-frac",
         .type = SLC_CFG_DOUBLE,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "X",
         .def = "0.2",
         .min = 0,
         .max = 1,
         .flags = SLC_CFG_F_MIN_EXCL,
         .help = "Most of the total weight that one tick moves.",
         FIELD(ctl.max_frac)},
        {.name = "--pace-rate",
         .type = SLC_CFG_DOUBLE,
         .group = SLC_CFG_G_CONTROLLER,
         .metavar = "X",
         .def = "5.0",
         .min = 0,
         .max = BIG,
         .flags = SLC_CFG_F_MIN_EXCL,
         .help = "pairwise: each further this many seconds of difference adds a step. "
                 "adaptive: backlog seconds above the average that take a pool's whole share.",
         FIELD(ctl.pace_rate)},

        /* ---- operations ---- */
        {.name = "--metrics",
         .type = SLC_CFG_ADDR,
         .group = SLC_CFG_G_OPERATIONS,
         .metavar = "ADDR:PORT",
         .def = "127.0.0.1:9140",
         .allowed = "ADDR:PORT (a numeric IPv4 address or [IPv6]; PORT 0..65535), or off",
         .help = "Where the metrics endpoint listens; off: no endpoint.",
         FIELD(metrics)},
        {.name = "--log-level",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_OPERATIONS,
         .metavar = "LEVEL",
         .def = "info",
         .choices = log_level_names,
         .help = "Log lines less severe than this are not written.",
         FIELD(log_level)},
        {.name = "--drain-timeout",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_OPERATIONS,
         .metavar = "DURATION",
         .def = "30s",
         .min = 0,
         .max = HOUR,
         .unit_ms = 1000,
         .help = "At shutdown, how long to wait for messages in flight to reach the sink "
                 "before exiting anyway. A bare number is seconds.",
         FIELD(drain_timeout_ms)},
        {.name = "--test-handler-cost-ns",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_TESTING,
         .metavar = "NS",
         .def = "off",
         .min = 0,
         .max = 1000000000,
         .flags = SLC_CFG_F_OFF,
         .help = "For tests and benchmarks: every message costs its worker this many ns "
                 "before the sink sees it (a sleep against the worker's own clock, like a "
                 "slow disk).",
         FIELD(test_handler_cost_ns)},
        {.name = "--test-slow-pool",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_TESTING,
         .metavar = "P",
         .def = "0",
         .min = 0,
         .max = SLC_POOLS_MAX - 1,
         .help = "For tests: the pool that --test-slow-pool-cost-ns slows.",
         FIELD(test_slow_pool)},
        {.name = "--test-slow-pool-cost-ns",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_TESTING,
         .metavar = "NS",
         .def = "off",
         .min = 0,
         .max = 1000000000,
         .flags = SLC_CFG_F_OFF,
         .help = "For tests: what a message costs in --test-slow-pool instead of "
                 "--test-handler-cost-ns.",
         FIELD(test_slow_pool_cost_ns)},
        {.name = "--version",
         .type = SLC_CFG_ACTION,
         .group = SLC_CFG_G_OPERATIONS,
         .help = "Print the version and exit.",
         .print = print_version},
        {.name = "--help",
         .type = SLC_CFG_ACTION,
         .group = SLC_CFG_G_OPERATIONS,
         .help = "Print this help and exit.",
         .print = slc_cfg_print_help},
        {.name = "--help-markdown",
         .type = SLC_CFG_ACTION,
         .group = SLC_CFG_G_OPERATIONS,
         .help = "Print the flags as Markdown (docs/flags.md) and exit.",
         .print = slc_cfg_print_markdown},
};

#define NOPTS ARRAY_LEN(opts)

/* Set by the daemon before parsing (slc_cfg_hook_set); indexed like opts. */
static slc_cfg_check_fn hooks[NOPTS];

const struct slc_cfg_opt *
slc_cfg_opts(size_t *n)
{
	*n = NOPTS;
	return opts;
}

/* ---- text out: a bounded appender ---- */

struct sbuf {
	char *buf;
	size_t len;
	size_t pos;
	bool over; /* something did not fit */
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
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
fmt_size(struct sbuf *b, uint64_t v)
{
	static const char units[] = {'G', 'M', 'k'};

	for (int i = 0; i < 3; i++) {
		uint64_t u = 1ull << (10 * (3 - i));

		if (v != 0 && v % u == 0) {
			sb_printf(b, "%llu%c", (unsigned long long)(v / u), units[i]);
			return;
		}
	}
	sb_printf(b, "%llu", (unsigned long long)v);
}

/* 100 -> "100ms", 10000 -> "10s": the largest unit that divides ms exactly. */
static void
fmt_duration(struct sbuf *b, uint64_t ms)
{
	static const struct {
		uint64_t ms;
		const char *name;
	} units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};

	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			sb_printf(b, "%llu%s", (unsigned long long)(ms / units[i].ms),
			          units[i].name);
			return;
		}
	}
	sb_printf(b, "%llu%s", (unsigned long long)ms, ms != 0 ? "ms" : "");
}

/* A bound or value of o, in o's notation. */
static void
fmt_value(struct sbuf *b, const struct slc_cfg_opt *o, double v)
{
	if (o->flags & SLC_CFG_F_OFF && v == 0)
		sb_printf(b, "off");
	else if (o->type == SLC_CFG_SIZE)
		fmt_size(b, (uint64_t)v);
	else if (o->type == SLC_CFG_DURATION)
		fmt_duration(b, (uint64_t)v);
	else
		sb_printf(b, "%.10g", v);
}

/* What o accepts, for messages, --help and the docs. */
static void
allowed_text(struct sbuf *b, const struct slc_cfg_opt *o)
{
	switch (o->type) {
	case SLC_CFG_BOOL:
	case SLC_CFG_ACTION:
		sb_printf(b, "no value");
		return;
	case SLC_CFG_COUNT:
	case SLC_CFG_SIZE:
	case SLC_CFG_DURATION:
		if (o->flags & SLC_CFG_F_POW2)
			sb_printf(b, "a power of two in ");
		if (o->flags & SLC_CFG_F_OFF)
			sb_printf(b, "off, or ");
		if (o->type == SLC_CFG_SIZE)
			fmt_size(b, (uint64_t)o->min);
		else if (o->type == SLC_CFG_DURATION)
			fmt_duration(b, (uint64_t)o->min);
		else
			sb_printf(b, "%.10g", o->min);
		sb_printf(b, "..");
		fmt_value(b, o, o->max);
		return;
	case SLC_CFG_DOUBLE:
		if (o->flags & (SLC_CFG_F_MIN_EXCL | SLC_CFG_F_MAX_EXCL))
			sb_printf(b, "%s %.10g and %s %.10g",
			          o->flags & SLC_CFG_F_MIN_EXCL ? ">" : ">=", o->min,
			          o->flags & SLC_CFG_F_MAX_EXCL ? "<" : "<=", o->max);
		else
			sb_printf(b, "%.10g..%.10g", o->min, o->max);
		return;
	case SLC_CFG_ENUM:
		for (size_t i = 0; o->choices[i] != NULL; i++)
			sb_printf(b, "%s%s", i > 0 ? ", " : "", o->choices[i]);
		return;
	case SLC_CFG_STRING:
	case SLC_CFG_CPUS:
	case SLC_CFG_LISTEN:
	case SLC_CFG_ADDR:
	case SLC_CFG_SINK:
	case SLC_CFG_PROPS:
		sb_printf(b, "%s", o->allowed != NULL ? o->allowed : "any text");
		return;
	}
}

/* How a syntax error of o's type is described, beyond "allowed". */
static const char *
syntax_hint(const struct slc_cfg_opt *o)
{
	switch (o->type) {
	case SLC_CFG_COUNT:
		return "is not a number (decimal digits)";
	case SLC_CFG_SIZE:
		return "is not a size (digits, then optionally k, M or G: 1024-based)";
	case SLC_CFG_DURATION:
		return o->unit_ms == 1 ? "is not a duration (digits, then ms, s, m or h; bare: ms)"
		                       : "is not a duration (digits, then ms, s, m or h; bare: s)";
	case SLC_CFG_DOUBLE:
		return "is not a number";
	default:
		return "is not valid";
	}
}

/* val[0..n) as given, but a control byte as \xHH, into out (4 * n + 1 bytes): a message
 * that quotes a flag or value stays one line, and a value cannot forge a log line. */
static void
show_value(const char *val, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)val[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)sprintf(out + o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* "--pools: \"0\" is out of range; allowed: 1..64" into msg. */
static int
refuse(char *msg, size_t len, const struct slc_cfg_opt *o, const char *val, const char *what,
       const char *why)
{
	struct sbuf b = {msg, len, 0, false};
	char shown[4 * 256 + 1];

	show_value(val, strlen(val) < 256 ? strlen(val) : 256, shown);
	sb_printf(&b, "%s: \"%s%s\" %s", o->name, shown, strlen(val) > 256 ? "..." : "", what);
	if (why != NULL && why[0] != '\0')
		sb_printf(&b, " (%s)", why);
	if (o->type == SLC_CFG_ENUM) {
		sb_printf(&b, " one of ");
	} else {
		sb_printf(&b, "; allowed: ");
	}
	allowed_text(&b, o);
	return -EINVAL;
}

/* ---- parsing values ---- */

/* Decimal digits at *s to *v, advancing *s: 0, -EINVAL (no digit), -ERANGE (over 2^64). */
static int
digits_parse(const char **s, uint64_t *v)
{
	const char *p = *s;
	uint64_t x = 0;
	bool over = false;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			over = true;
		else
			x = x * 10 + d;
	}
	*s = p;
	*v = x;
	return over ? -ERANGE : 0;
}

/* "64k" -> 65536. Refuses signs, spaces, other suffixes (-EINVAL) and overflow (-ERANGE). */
static int
size_parse(const char *s, uint64_t *v)
{
	uint64_t x;
	unsigned shift = 0;
	int ret = digits_parse(&s, &x);

	if (ret == -EINVAL)
		return ret;
	switch (*s) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		s++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		s++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		s++;
		break;
	default:
		return -EINVAL;
	}
	if (*s != '\0')
		return -EINVAL;
	if (ret != 0 || x > (UINT64_MAX >> shift))
		return -ERANGE;
	*v = x << shift;
	return 0;
}

/* "100ms", "10s", "5m", "1h", or digits alone in unit_ms; to ms. Errors as size_parse(). */
static int
duration_parse(const char *s, uint32_t unit_ms, uint64_t *v)
{
	uint64_t x, mul;
	int ret = digits_parse(&s, &x);

	if (ret == -EINVAL)
		return ret;
	if (strcmp(s, "") == 0)
		mul = unit_ms;
	else if (strcmp(s, "ms") == 0)
		mul = 1;
	else if (strcmp(s, "s") == 0)
		mul = 1000;
	else if (strcmp(s, "m") == 0)
		mul = 60000;
	else if (strcmp(s, "h") == 0)
		mul = 3600000;
	else
		return -EINVAL;
	if (ret != 0 || x > UINT64_MAX / mul)
		return -ERANGE;
	*v = x * mul;
	return 0;
}

/* Decimal 0..65535 of exactly s[0..n): 0, or -EINVAL. */
static int
port_parse(const char *s, size_t n, uint16_t *port)
{
	uint32_t x = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		x = x * 10 + (uint32_t)(s[i] - '0');
	}
	if (x > 65535)
		return -EINVAL;
	*port = (uint16_t)x;
	return 0;
}

/*
 * "ADDR:PORT" in s[0..n), ADDR a numeric IPv4 address or a numeric IPv6 address in [].
 * Numeric only: a listener binds before any resolver is worth trusting, and a name that
 * resolves to several addresses would make "where does it listen" ambiguous.
 */
static int
addr_parse(const char *s, size_t n, struct sockaddr_storage *ss, socklen_t *sslen, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *hs, *he, *colon;
	uint16_t port;
	bool v6 = false;

	if (n > 0 && s[0] == '[') {
		he = memchr(s, ']', n);
		if (he == NULL) {
			*why = "no ] after the IPv6 address";
			return -EINVAL;
		}
		hs = s + 1;
		colon = he + 1;
		if (colon >= s + n || *colon != ':') {
			*why = "no :PORT after the address";
			return -EINVAL;
		}
		v6 = true;
	} else {
		colon = memrchr(s, ':', n);
		if (colon == NULL) {
			*why = "no :PORT after the address";
			return -EINVAL;
		}
		hs = s;
		he = colon;
		if (memchr(hs, ':', (size_t)(he - hs)) != NULL) {
			*why = "an IPv6 address goes in [ ]";
			return -EINVAL;
		}
	}
	if (port_parse(colon + 1, (size_t)(s + n - colon - 1), &port) != 0) {
		*why = "the port is not a number in 0..65535";
		return -EINVAL;
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs) {
		*why = v6 ? "not a numeric IPv6 address" : "not a numeric IPv4 address";
		return -EINVAL;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			*why = "not a numeric IPv6 address";
			return -EINVAL;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		*sslen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			*why = "not a numeric IPv4 address";
			return -EINVAL;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		*sslen = sizeof(*a);
	}
	return 0;
}

/* "tcp://ADDR:PORT[?framing=F]" or "udp://ADDR:PORT". */
static int
listen_parse(const char *s, struct slc_listener_cfg *l, const char **why)
{
	const char *rest, *q;
	enum slc_frame_format f = SLC_FRAME_LINES;

	memset(l, 0, sizeof(*l));
	if (strncmp(s, "tcp://", 6) == 0) {
		l->proto = SLC_LISTENER_TCP;
	} else if (strncmp(s, "udp://", 6) == 0) {
		l->proto = SLC_LISTENER_UDP;
	} else {
		*why = "the scheme is not tcp:// or udp://";
		return -EINVAL;
	}
	rest = s + 6;
	q = strchr(rest, '?');
	if (addr_parse(rest, q != NULL ? (size_t)(q - rest) : strlen(rest), &l->addr, &l->addrlen,
	               why) != 0)
		return -EINVAL;
	if (q != NULL) {
		if (l->proto == SLC_LISTENER_UDP) {
			*why = "udp:// takes no framing: a datagram is one message";
			return -EINVAL;
		}
		if (strncmp(q + 1, "framing=", 8) != 0) {
			*why = "the only query is ?framing=";
			return -EINVAL;
		}
		if (strcmp(q + 9, "len32+ack") == 0) {
			f = SLC_FRAME_LEN32;
			l->acks = true;
		} else if (slc_frame_format_parse(q + 9, &f) != 0) {
			*why = "the framing is not lines, len32, len32+ack or syslog";
			return -EINVAL;
		}
	}
	l->framing = f;
	return 0;
}

/* A host name (letters, digits, '-', '.') or a numeric IPv4 address. */
static bool
host_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

/* "null", "file:DIR", "forward:HOST:PORT" or "plugin:PATH.so" to *k (syntax only). */
static int
sink_parse(const char *s, struct slc_cfg_sink *k, const char **why)
{
	const char *arg;
	size_t n;

	memset(k, 0, sizeof(*k));
	if (strcmp(s, "null") == 0) {
		k->kind = SLC_CFG_SINK_NULL;
		return 0;
	}
	if (strncmp(s, "file:", 5) == 0) {
		k->kind = SLC_CFG_SINK_FILE;
		arg = s + 5;
	} else if (strncmp(s, "forward:", 8) == 0) {
		k->kind = SLC_CFG_SINK_FORWARD;
		arg = s + 8;
	} else if (strncmp(s, "plugin:", 7) == 0) {
		k->kind = SLC_CFG_SINK_PLUGIN;
		arg = s + 7;
	} else if (strncmp(s, "kafka://", 8) == 0) {
		k->kind = SLC_CFG_SINK_KAFKA;
		arg = s + 8;
	} else {
		*why = strncmp(s, "kafka:", 6) == 0 ? "unknown kind; kafka is kafka://BROKERS/TOPIC"
		                                    : "unknown kind";
		return -EINVAL;
	}
	n = strlen(arg);
	if (n == 0) {
		*why = "nothing after the kind";
		return -EINVAL;
	}
	if (n >= sizeof(k->arg)) {
		*why = "too long";
		return -EINVAL;
	}
	switch (k->kind) {
	case SLC_CFG_SINK_FORWARD: {
		const char *colon = strrchr(arg, ':');
		const char *hs = arg;
		size_t hn;

		if (colon == NULL || port_parse(colon + 1, strlen(colon + 1), &k->port) != 0 ||
		    k->port == 0) {
			*why = "no :PORT in 1..65535 at the end";
			return -EINVAL;
		}
		hn = (size_t)(colon - arg);
		if (hn >= 2 && hs[0] == '[' && hs[hn - 1] == ']') {
			struct in6_addr a6;
			char host[INET6_ADDRSTRLEN + 1];

			hs++;
			hn -= 2;
			if (hn >= sizeof(host)) {
				*why = "not a numeric IPv6 address";
				return -EINVAL;
			}
			memcpy(host, hs, hn);
			host[hn] = '\0';
			if (inet_pton(AF_INET6, host, &a6) != 1) {
				*why = "not a numeric IPv6 address";
				return -EINVAL;
			}
		} else if (!host_name_ok(hs, hn)) {
			*why = "HOST is not a host name, an IPv4 address or an [IPv6] address";
			return -EINVAL;
		}
		memcpy(k->arg, hs, hn);
		k->arg[hn] = '\0';
		return 0;
	}
	case SLC_CFG_SINK_PLUGIN: {
		/* plugin:PATH.so?ARG: the argument after ? is the plugin's own. */
		const char *q = strchr(arg, '?');
		size_t pn = q != NULL ? (size_t)(q - arg) : n;

		if (pn <= 3 || strncmp(arg + pn - 3, ".so", 3) != 0) {
			*why = "the plugin's path does not end in .so";
			return -EINVAL;
		}
		break;
	}
	case SLC_CFG_SINK_KAFKA:
		if (slc_sink_kafka_spec_parse(arg, NULL, why) != 0)
			return -EINVAL;
		break;
	default:
		break;
	}
	memcpy(k->arg, arg, n + 1);
	return 0;
}

/* A librdkafka property name: lower case letters, digits, '.', '_' and '-'. */
static bool
kafka_prop_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* Names whose values the start-up log must not show (sasl.password, ssl.key.pem, ...). */
static bool
kafka_prop_secret(const char *name, size_t n)
{
	static const char *const words[] = {"password", "secret", "pem", "jaas", "oauthbearer"};
	char lower[SLC_CFG_KAFKA_PROP_LEN];

	if (n >= sizeof(lower))
		return true;
	memcpy(lower, name, n);
	lower[n] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(words); i++)
		if (strstr(lower, words[i]) != NULL)
			return true;
	return false;
}

/* --kafka-prop NAME=VALUE: syntax only (librdkafka judges names and values at start-up).
 * A NAME given before is replaced in place; a new one is appended. */
static int
kafka_prop_apply(struct slc_cfg *c, const struct slc_cfg_opt *o, const char *val, char *msg,
                 size_t len)
{
	size_t n = strcspn(val, "=");

	if (val[n] != '=' || !kafka_prop_name_ok(val, n))
		return refuse(msg, len, o, val, "is not valid",
		              "no NAME= of lower case letters, digits, '.', '_' and '-'");
	if (strlen(val) >= SLC_CFG_KAFKA_PROP_LEN)
		return refuse(msg, len, o, val, "is too long", NULL);
	for (uint32_t i = 0; i < c->nkafka_props; i++) {
		if (strncmp(c->kafka_props[i], val, n + 1) == 0) {
			memcpy(c->kafka_props[i], val, strlen(val) + 1);
			return 0;
		}
	}
	if (c->nkafka_props == SLC_CFG_KAFKA_PROPS_MAX)
		return refuse(msg, len, o, val, "is one too many", NULL);
	memcpy(c->kafka_props[c->nkafka_props++], val, strlen(val) + 1);
	return 0;
}

static bool
pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Where a parse is: defaults are applied without hooks, into an empty listener list. */
struct parse_state {
	bool hooks;        /* run the daemon's checks */
	bool listen_given; /* a --listen was applied: later ones add */
};

/* An integer type's value to its field (4 or 8 bytes wide, by the table). */
static void
uint_store(void *field, size_t size, uint64_t v)
{
	if (size == sizeof(uint64_t)) {
		*(uint64_t *)field = v;
	} else {
		assert(size == sizeof(uint32_t));
		*(uint32_t *)field = (uint32_t)v;
	}
}

static uint64_t
uint_load(const void *field, size_t size)
{
	if (size == sizeof(uint64_t))
		return *(const uint64_t *)field;
	return *(const uint32_t *)field;
}

static int
hook_run(const struct slc_cfg_opt *o, const struct parse_state *st, const char *val, char *msg,
         size_t len)
{
	slc_cfg_check_fn fn = hooks[o - opts];
	char why[256] = "";

	if (!st->hooks || fn == NULL || fn(val, why, sizeof(why)) == 0)
		return 0;
	return refuse(msg, len, o, val, "is not valid", why);
}

/*
 * Applies val to o's field of c. Returns 0, or -EINVAL with "--flag: ..." in msg. An
 * ACTION or a BOOL never gets here with a value.
 */
static int
opt_apply(struct slc_cfg *c, const struct slc_cfg_opt *o, struct parse_state *st, const char *val,
          char *msg, size_t len)
{
	void *field = (char *)c + o->offset;
	const char *why = NULL;
	uint64_t u = 0;
	int ret;

	switch (o->type) {
	case SLC_CFG_BOOL:
		*(bool *)field = true;
		return 0;
	case SLC_CFG_ACTION:
		return 0;
	case SLC_CFG_COUNT:
	case SLC_CFG_SIZE:
	case SLC_CFG_DURATION:
		if (o->flags & SLC_CFG_F_OFF && strcmp(val, "off") == 0) {
			u = 0;
			ret = 0;
		} else if (o->type == SLC_CFG_SIZE) {
			ret = size_parse(val, &u);
		} else if (o->type == SLC_CFG_DURATION) {
			ret = duration_parse(val, o->unit_ms, &u);
		} else {
			const char *p = val;

			ret = digits_parse(&p, &u);
			if (ret == 0 && *p != '\0')
				ret = -EINVAL;
		}
		if (ret == -EINVAL)
			return refuse(msg, len, o, val, syntax_hint(o), NULL);
		if (ret != 0 || (double)u < o->min || (double)u > o->max)
			return refuse(msg, len, o, val, "is out of range", NULL);
		if (o->flags & SLC_CFG_F_POW2 && !pow2(u))
			return refuse(msg, len, o, val, "is not a power of two", NULL);
		uint_store(field, o->size, u);
		return 0;
	case SLC_CFG_DOUBLE: {
		char *end = NULL;
		double d;

		/* strtod skips leading space and reads "nan": neither is a number here. */
		if (isspace((unsigned char)val[0]))
			return refuse(msg, len, o, val, syntax_hint(o), NULL);
		errno = 0;
		d = strtod(val, &end);
		if (end == val || *end != '\0' || isnan(d))
			return refuse(msg, len, o, val, syntax_hint(o), NULL);
		if (errno == ERANGE || !isfinite(d) || d < o->min || d > o->max ||
		    (o->flags & SLC_CFG_F_MIN_EXCL && d == o->min) ||
		    (o->flags & SLC_CFG_F_MAX_EXCL && d == o->max))
			return refuse(msg, len, o, val, "is out of range", NULL);
		*(double *)field = d;
		return 0;
	}
	case SLC_CFG_ENUM:
		for (int i = 0; o->choices[i] != NULL; i++) {
			if (strcmp(val, o->choices[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		return refuse(msg, len, o, val, "is not", NULL);
	case SLC_CFG_STRING:
		if (val[0] == '\0')
			return refuse(msg, len, o, val, "is empty", NULL);
		if (strlen(val) >= o->size)
			return refuse(msg, len, o, val, "is too long", NULL);
		if (o->flags & SLC_CFG_F_HOOK && strcmp(val, "none") != 0 &&
		    hook_run(o, st, val, msg, len) != 0)
			return -EINVAL;
		memcpy(field, val, strlen(val) + 1);
		return 0;
	case SLC_CFG_CPUS: {
		char why_buf[256];

		if (strcmp(val, "all") == 0) {
			*(char *)field = '\0';
			return 0;
		}
		if (strlen(val) >= o->size)
			return refuse(msg, len, o, val, "is too long", NULL);
		ret = slc_numa_cpu_list_check(val, why_buf, sizeof(why_buf));
		if (ret == -ENOMEM)
			return refuse(msg, len, o, val, "could not be checked", "out of memory");
		if (ret != 0)
			return refuse(msg, len, o, val, "is not valid", why_buf);
		memcpy(field, val, strlen(val) + 1);
		return 0;
	}
	case SLC_CFG_LISTEN: {
		struct slc_listener_cfg l;

		if (listen_parse(val, &l, &why) != 0)
			return refuse(msg, len, o, val, "is not valid", why);
		if (!st->listen_given) {
			c->nlisten = 0;
			st->listen_given = true;
		}
		if (c->nlisten == SLC_CFG_LISTEN_MAX)
			return refuse(msg, len, o, val, "is one too many", NULL);
		c->listen[c->nlisten++] = l;
		return 0;
	}
	case SLC_CFG_ADDR: {
		struct slc_cfg_addr *a = field;

		if (strcmp(val, "off") == 0) {
			memset(a, 0, sizeof(*a));
			return 0;
		}
		if (addr_parse(val, strlen(val), &a->addr, &a->addrlen, &why) != 0)
			return refuse(msg, len, o, val, "is not valid", why);
		return 0;
	}
	case SLC_CFG_SINK:
		if (sink_parse(val, field, &why) != 0)
			return refuse(msg, len, o, val, "is not valid", why);
		return hook_run(o, st, val, msg, len);
	case SLC_CFG_PROPS:
		return kafka_prop_apply(c, o, val, msg, len);
	}
	return -EINVAL;
}

void
slc_cfg_default(struct slc_cfg *c)
{
	struct parse_state st = {.hooks = false, .listen_given = false};
	char msg[512];

	memset(c, 0, sizeof(*c));
	slc_ctl_params_default(&c->ctl);
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].def == NULL || opts[i].type == SLC_CFG_BOOL ||
		    opts[i].type == SLC_CFG_ACTION)
			continue;
		/* A default that its own flag refuses is a bug in the table above, which the
		 * tests catch; there is no caller to return it to. */
		if (opt_apply(c, &opts[i], &st, opts[i].def, msg, sizeof(msg)) != 0) {
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

static void fmt_addr(struct sbuf *b, const struct sockaddr_storage *ss);
static void fmt_listen(struct sbuf *b, const struct slc_listener_cfg *l);

/* What involves several flags. 0, or -EINVAL with the reason in msg. */
static int
cfg_check(const struct slc_cfg *c, char *msg, size_t len)
{
	struct sbuf b = {msg, len, 0, false};

	if (c->strategy != SLC_ROUTE_PURE && strcmp(c->key, "none") == 0) {
		sb_printf(&b,
		          "--strategy %s needs a --key (got --key none); allowed: --key SPEC, or "
		          "--strategy pure",
		          strategy_names[c->strategy]);
		return -EINVAL;
	}
	if (c->pools * c->workers > SLC_WORKERS_MAX) {
		sb_printf(&b, "--pools %u times --workers %u is %u workers; allowed: at most %u",
		          c->pools, c->workers, c->pools * c->workers, SLC_WORKERS_MAX);
		return -EINVAL;
	}
	if (c->nkafka_props != 0 && c->sink.kind != SLC_CFG_SINK_KAFKA) {
		sb_printf(&b, "--kafka-prop is for the kafka sink; allowed: with --sink "
		              "kafka://BROKERS/TOPIC");
		return -EINVAL;
	}
	if (c->test_slow_pool_cost_ns != 0 && c->test_slow_pool >= c->pools) {
		sb_printf(&b, "--test-slow-pool %u: there are %u pools; allowed: 0..%u",
		          c->test_slow_pool, c->pools, c->pools - 1);
		return -EINVAL;
	}
	/* Adaptive weights are percentages: pools all at the floor must leave room to move. */
	if (c->ctl.mode == SLC_CTL_ADAPTIVE && c->pools * c->ctl.min_weight >= 100.0) {
		sb_printf(&b,
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
				sb_printf(&b, "--listen: ");
				fmt_listen(&b, a);
				sb_printf(&b, " is given twice; allowed: each address once");
				return -EINVAL;
			}
		}
		if (c->listen[i].proto == SLC_LISTENER_TCP && c->metrics.addrlen != 0 &&
		    sockaddr_port(&c->metrics.addr) != 0 &&
		    sockaddr_same(&c->listen[i].addr, c->listen[i].addrlen, &c->metrics.addr,
		                  c->metrics.addrlen)) {
			sb_printf(&b, "--metrics ");
			fmt_addr(&b, &c->metrics.addr);
			sb_printf(&b,
			          " is also a --listen address; allowed: another address or port");
			return -EINVAL;
		}
	}
	if (slc_ctl_params_check(&c->ctl) != 0) {
		sb_printf(&b, "the controller's flags are out of range together (see "
		              "docs/controller.md)");
		return -EINVAL;
	}
	return 0;
}

static const struct slc_cfg_opt *
opt_find(const char *arg, size_t n)
{
	for (size_t i = 0; i < NOPTS; i++) {
		if (strlen(opts[i].name) == n && strncmp(opts[i].name, arg, n) == 0)
			return &opts[i];
	}
	return NULL;
}

int
slc_cfg_parse(struct slc_cfg *c, int argc, char **argv, FILE *out, FILE *err)
{
	struct parse_state st = {.hooks = true, .listen_given = false};
	char msg[1024];

	slc_cfg_default(c);
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
			return SLC_CFG_USAGE;
		}
		o = opt_find(arg, n);
		if (o == NULL) {
			char shown[4 * 256 + 1];

			show_value(arg, n < 256 ? n : 256, shown);
			fprintf(err, "%s: unknown flag %s (see --help)\n", PROG, shown);
			return SLC_CFG_USAGE;
		}
		if (o->type == SLC_CFG_BOOL || o->type == SLC_CFG_ACTION) {
			if (val != NULL) {
				fprintf(err, "%s: %s: takes no value, got \"%s\"\n", PROG, o->name,
				        val);
				return SLC_CFG_USAGE;
			}
			if (o->type == SLC_CFG_ACTION) {
				o->print(out);
				return SLC_CFG_EXIT;
			}
		} else if (val == NULL) {
			struct sbuf b = {msg, sizeof(msg), 0, false};

			if (i + 1 >= argc) {
				allowed_text(&b, o);
				fprintf(err, "%s: %s: missing value; allowed: %s\n", PROG, o->name,
				        msg);
				return SLC_CFG_USAGE;
			}
			val = argv[++i];
		}
		if (opt_apply(c, o, &st, val, msg, sizeof(msg)) != 0) {
			fprintf(err, "%s: %s\n", PROG, msg);
			return SLC_CFG_USAGE;
		}
	}
	if (cfg_check(c, msg, sizeof(msg)) != 0) {
		fprintf(err, "%s: %s\n", PROG, msg);
		return SLC_CFG_USAGE;
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
	hooks[o - opts] = fn;
	return 0;
}

/* ---- text out: help, docs, the log line ---- */

static void
print_version(FILE *f)
{
	fprintf(f, "%s %s\n", PROG, SLC_VERSION);
}

/* The default as --help and the docs show it; NULL when the flag has none to show. */
static const char *
default_text(const struct slc_cfg_opt *o)
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

	fprintf(f,
	        "Usage: %s [--flag value | --flag=value]...\n"
	        "Receives framed messages over TCP and UDP, routes them to worker pools, and "
	        "hands them\nto a sink. Sizes take k, M, G (1024-based); durations take ms, s, "
	        "m, h. Bad usage exits 2.\n",
	        PROG);
	for (int g = 0; g < SLC_CFG_G__COUNT; g++) {
		fprintf(f, "\n%s:\n", group_names[g]);
		for (size_t i = 0; i < NOPTS; i++) {
			const struct slc_cfg_opt *o = &opts[i];
			char line[2048];
			struct sbuf b = {line, sizeof(line), 0, false};
			const char *def = default_text(o);
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
				sb_printf(&b, "Default: %s. Allowed: ", def);
				allowed_text(&b, o);
				sb_printf(&b, ".");
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
slc_cfg_print_markdown(FILE *f)
{
	fprintf(f,
	        "<!-- Generated by `%s --help-markdown` from the flag table in engine/cfg.c: "
	        "do not edit.\n     tests/engine/test_cfg.c fails while this file differs. -->\n",
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
	        "aside) appears once, and not\nagain as the `--metrics` address; `--kafka-prop` "
	        "needs `--sink kafka://`.\n",
	        PROG);
	for (int g = 0; g < SLC_CFG_G__COUNT; g++) {
		fprintf(f, "\n## %s\n\n| flag | default | allowed | meaning |\n|---|---|---|---|\n",
		        group_names[g]);
		for (size_t i = 0; i < NOPTS; i++) {
			const struct slc_cfg_opt *o = &opts[i];
			const char *def = default_text(o);
			char allowed[1024];
			struct sbuf b = {allowed, sizeof(allowed), 0, false};

			if ((int)o->group != g)
				continue;
			allowed_text(&b, o);
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
	}
}

/* ADDR:PORT, IPv6 in []. */
static void
fmt_addr(struct sbuf *b, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		sb_printf(b, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		sb_printf(b, "%s:%u", host, ntohs(a->sin_port));
	}
}

/* The URL that --listen would take back. */
static void
fmt_listen(struct sbuf *b, const struct slc_listener_cfg *l)
{
	sb_printf(b, "%s://", l->proto == SLC_LISTENER_UDP ? "udp" : "tcp");
	fmt_addr(b, &l->addr);
	if (l->proto == SLC_LISTENER_TCP)
		sb_printf(b, "?framing=%s%s", slc_frame_format_name(l->framing),
		          l->acks ? "+ack" : "");
}

int
slc_cfg_describe(const struct slc_cfg *c, char *buf, size_t len)
{
	struct sbuf b = {buf, len, 0, false};

	if (len > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < NOPTS; i++) {
		const struct slc_cfg_opt *o = &opts[i];
		const void *field = (const char *)c + o->offset;

		/* Flags that are off or unset (a bool not given, no --topology-xml) are left out:
		 * every token stays NAME=VALUE without spaces, for whoever parses the log. */
		if (o->type == SLC_CFG_ACTION ||
		    (o->type == SLC_CFG_BOOL && !*(const bool *)field) ||
		    (o->def == NULL && o->type == SLC_CFG_STRING && *(const char *)field == '\0') ||
		    (o->type == SLC_CFG_PROPS && c->nkafka_props == 0))
			continue;
		sb_printf(&b, "%s%s", b.pos > 0 ? " " : "", o->name + 2);
		switch (o->type) {
		case SLC_CFG_BOOL:
		case SLC_CFG_ACTION:
			break;
		case SLC_CFG_COUNT:
		case SLC_CFG_SIZE:
		case SLC_CFG_DURATION:
			sb_printf(&b, "=");
			fmt_value(&b, o, (double)uint_load(field, o->size));
			break;
		case SLC_CFG_DOUBLE:
			sb_printf(&b, "=%g", *(const double *)field);
			break;
		case SLC_CFG_ENUM:
			sb_printf(&b, "=%s", o->choices[*(const int *)field]);
			break;
		case SLC_CFG_STRING:
		case SLC_CFG_CPUS:
			sb_printf(&b, "=%s",
			          *(const char *)field != '\0' ? (const char *)field : o->unset);
			break;
		case SLC_CFG_LISTEN:
			for (uint32_t k = 0; k < c->nlisten; k++) {
				sb_printf(&b, "%s", k == 0 ? "=" : ",");
				fmt_listen(&b, &c->listen[k]);
			}
			break;
		case SLC_CFG_ADDR: {
			const struct slc_cfg_addr *a = field;

			sb_printf(&b, "=");
			if (a->addrlen == 0)
				sb_printf(&b, "off");
			else
				fmt_addr(&b, &a->addr);
			break;
		}
		case SLC_CFG_SINK: {
			const struct slc_cfg_sink *k = field;
			static const char *const kinds[] = {"null", "file", "forward", "plugin",
			                                    "kafka"};

			sb_printf(&b, "=%s", kinds[k->kind]);
			if (k->kind == SLC_CFG_SINK_KAFKA)
				sb_printf(&b, "://%s", k->arg);
			else if (k->kind == SLC_CFG_SINK_FORWARD)
				sb_printf(&b, strchr(k->arg, ':') != NULL ? ":[%s]:%u" : ":%s:%u",
				          k->arg, k->port);
			else if (k->kind != SLC_CFG_SINK_NULL)
				sb_printf(&b, ":%s", k->arg);
			break;
		}
		case SLC_CFG_PROPS:
			/* One token per property, as the flag takes them back; secrets hidden. */
			for (uint32_t k = 0; k < c->nkafka_props; k++) {
				const char *p = c->kafka_props[k];
				size_t n = strcspn(p, "=");

				if (k > 0)
					sb_printf(&b, " %s", o->name + 2);
				if (kafka_prop_secret(p, n))
					sb_printf(&b, "=%.*s=(hidden)", (int)n, p);
				else
					sb_printf(&b, "=%s", p);
			}
			break;
		}
	}
	return b.over ? -ENOSPC : 0;
}
