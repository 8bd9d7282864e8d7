/* SPDX-License-Identifier: MIT */
/* flags_table.c: the table of sluiced's own flags (flags.c merges the sinks' in after --sink). */
#include "cfg.h"

#include <assert.h>
#include <stdio.h>

#include "flags_priv.h"
#include "pool/pool.h"

#ifndef SLC_VERSION
#define SLC_VERSION "unknown"
#endif

static void
print_version(FILE *f)
{
	fprintf(f, "%s %s\n", PROG, SLC_VERSION);
}

#define FIELD(f) SLC_CFG_FIELD(struct slc_cfg, f)

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
static_assert(sizeof(enum slc_cfg_log_level) == sizeof(int), "enum width");
static_assert(sizeof(enum slc_cfg_oversize) == sizeof(int), "enum width");
static_assert(SLC_CFG_OVERSIZE_CLOSE == 0 && SLC_CFG_OVERSIZE_SKIP == 1, "order");
static_assert(SLC_ROUTE_PURE == 0 && SLC_ROUTE_STICKY == 1 && SLC_ROUTE_ORDERED == 2, "order");
static_assert(sizeof(enum slc_cfg_stamps) == sizeof(int), "enum width");
static_assert(SLC_CFG_STAMPS_OFF == 0 && SLC_CFG_STAMPS_START == 1 && SLC_CFG_STAMPS_FIND == 2,
              "order");
static_assert(SLC_CTL_ADAPTIVE == 0 && SLC_CTL_PAIRWISE == 1, "order");

static const char *const strategy_names[] = {"pure", "sticky", "ordered", NULL};
static const char *const controller_names[] = {"adaptive", "pairwise", NULL};
static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const stamps_names[] = {"off", "start", "find", NULL};
static const char *const oversize_names[] = {"close", "skip", NULL};
static const char *const tls_version_names[] = {"1.2", "1.3", NULL};

const char *const slc_cfg_group_names[SLC_CFG_G__COUNT] = {
        [SLC_CFG_G_INPUT] = "Input",
        [SLC_CFG_G_ROUTING] = "Routing",
        [SLC_CFG_G_POOLS] = "Pools and placement",
        [SLC_CFG_G_SINK] = "Sink",
        [SLC_CFG_G_CONTROLLER] = "Controller",
        [SLC_CFG_G_OPERATIONS] = "Operations",
        [SLC_CFG_G_TESTING] = "Testing",
};

/*
 * The flags. Defaults are text so that they go through the same parser as argv: a default
 * outside its own bounds fails every test instead of shipping. Help texts avoid '|' so
 * that they read the same in a Markdown table.
 */
const struct slc_cfg_opt slc_cfg_core[] = {
        /* ---- input ---- */
        {.name = "--listen",
         .type = SLC_CFG_LISTEN,
         .group = SLC_CFG_G_INPUT,
         .metavar = "URL",
         .def = "tcp://127.0.0.1:5140?framing=lines",
         .allowed = "tcp://ADDR:PORT[?framing=lines, len32, len32+ack, syslog or forward], "
                    "tls://ADDR:PORT[?framing=...] (the same framings over TLS), "
                    "udp://ADDR:PORT or http://ADDR:PORT; ADDR a numeric IPv4 address or "
                    "[IPv6]; PORT 0..65535 (0: "
                    "any free port); at most 16",
         .help = "Where to receive messages. Repeatable; the first --listen replaces the "
                 "default. TCP framing: lines (up to LF; a CR before it is dropped), len32 "
                 "(a 4-byte big-endian length, then the message), len32+ack (len32 frames "
                 "with a sequence number, acknowledged once the sink has them durable: "
                 "docs/protocol.md), syslog (RFC 6587: octet counting, or LF) or forward "
                 "(Fluent Forward v1: each entry of a Message, Forward or PackedForward is "
                 "a message of its time and record, and a chunk option is acknowledged "
                 "once its entries are durable, as len32+ack; docs/protocol.md). UDP: each "
                 "datagram is one message, so udp:// takes no framing. http:// serves "
                 "OTLP/HTTP logs (POST /v1/logs, protobuf or JSON, gzip or not): each "
                 "LogRecord's body is one message (docs/protocol.md).",
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
        {.name = "--oversize",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_INPUT,
         .metavar = "ACTION",
         .def = "close",
         .choices = oversize_names,
         .help = "What a TCP message longer than --max-frame does. close: its connection is "
                 "closed (what the sender sent after it is lost). skip: that message alone "
                 "is dropped and the connection goes on after it (len32 and octet-counted "
                 "syslog skip the declared length; lines resynchronise at the next LF); "
                 "len32+ack and forward listeners always close. Each is counted and logged with "
                 "its "
                 "size and the limit.",
         FIELD(oversize)},
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
                 "message with nothing new for --evict-idle is evicted (its connection "
                 "closed, counted).",
         FIELD(reasm_memory)},
        {.name = "--http-max-body",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_INPUT,
         .metavar = "SIZE",
         .def = "4m",
         .min = 1024,
         .max = GIB,
         .help = "Largest OTLP/HTTP request body of an http:// listener, as sent and once "
                 "inflated (gzip): a larger one is answered 413. Bodies are held in "
                 "--reasm-memory, which should hold a few of them.",
         FIELD(http_max_body)},
        {.name = "--forward-max-inflated",
         .type = SLC_CFG_SIZE,
         .group = SLC_CFG_G_INPUT,
         .metavar = "SIZE",
         .def = "16m",
         .min = 1024,
         .max = GIB,
         .help = "Largest a compressed bin (CompressedPackedForward, gzip) of a framing=forward "
                 "listener may inflate to, and may be as sent: a larger one (a zip bomb) is "
                 "refused, counted (forward_inflated) and its connection closed. Each reactor "
                 "holds up to four times this of inflated bins whose entries are being "
                 "delivered; a bin that straddles receive buffers is gathered in "
                 "--reasm-memory.",
         FIELD(fwd_max_inflated)},
        {.name = "--evict-idle",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_INPUT,
         .metavar = "DURATION",
         .def = "1s",
         .min = 10,
         .max = HOUR,
         .unit_ms = 1000,
         .help = "While connections wait for --reasm-memory: how long a half-received "
                 "message may go without new bytes before it is evicted to make room. "
                 "Also how long the receive buffers may stay dry before a waiting "
                 "connection that holds some is evicted. A bare number is seconds.",
         FIELD(evict_idle_ms)},
        {.name = "--uring-features",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_INPUT,
         .metavar = "LIST",
         .def = "all",
         .flags = SLC_CFG_F_HOOK,
         .allowed = "comma-separated all, none, NAME or -NAME, applied in order from all; NAME "
                    "bundle, incremental, registered-ring-fd or defer-taskrun",
         .help = "io_uring features the reactors may use where the kernel has them (all by "
                 "default); e.g. -bundle,-incremental to receive without bundles and "
                 "incremental buffers. At start, a loopback self-check switches off bundles "
                 "or incremental buffers that garble bytes; the start-up log and "
                 "sluice_reactor_uring_feature say what is in use.",
         FIELD(uring_features)},
        {.name = "--tenant",
         .type = SLC_CFG_PROPS,
         .group = SLC_CFG_G_INPUT,
         .metavar = "NAME:SPEC",
         .flags = SLC_CFG_F_HOOK | SLC_CFG_F_NAME_COLON,
         .allowed = "NAME (a-z, 0-9, _, -) then comma-separated listener=N or ADDR:PORT, "
                    "cidr=NET/BITS, cert=NAME, class=NAME, rate=N, burst=N, bytes=SIZE, "
                    "bytes-burst=SIZE; at most 31",
         .help = "A tenant: the connections and datagrams that match its listener= (a "
                 "--listen by place, 0 = the first, or address) and cidr= (source networks), "
                 "all optional; the first tenant that matches, in flag order, takes them. "
                 "rate= and bytes= are token buckets (messages and bytes a second, with "
                 "burst= and bytes-burst=, by default one second's worth): over them a TCP "
                 "connection pauses, a datagram is dropped and counted. class= is its QoS "
                 "class (--qos-class) and a label on its metrics (docs/operations.md, "
                 "Tenants).",
         FIELD(tenant)},
        {.name = "--tenant-default",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_INPUT,
         .metavar = "NAME",
         .def = "default",
         .allowed = "refuse, default, or a --tenant's NAME",
         .help = "With --tenant: where what matches no tenant goes. refuse: connections are "
                 "closed at accept, datagrams dropped, each counted and logged; default: a "
                 "built-in tenant without limits.",
         FIELD(tenant_default)},
        {.name = "--qos-class",
         .type = SLC_CFG_PROPS,
         .group = SLC_CFG_G_INPUT,
         .metavar = "NAME:SPEC",
         .flags = SLC_CFG_F_HOOK | SLC_CFG_F_NAME_COLON,
         .allowed = "NAME (a-z, 0-9, _, -) then comma-separated weight=1..1000, "
                    "max-inflight=N (0: none), ttl=D (ms, s, m; 0: none); at most 5 besides "
                    "gold, silver and bronze",
         .help = "A QoS class for --tenant class=NAME, or new values for a built-in (gold "
                 "weight 4, silver 2, bronze 1, no cap, no TTL). While several classes are "
                 "active, each may have at most its weighted share of the pools' ring slots "
                 "in flight (and max-inflight); over it, its TCP connections pause. A "
                 "message older than ttl when a worker takes it is dropped and counted.",
         FIELD(qos_class)},
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
        {.name = "--tls-cert",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_INPUT,
         .metavar = "FILE",
         .unset = "none",
         .allowed = "a PEM file: the server's certificate, then its chain",
         .help = "tls:// listeners: the certificate they present. Read at start (a missing, "
                 "unreadable or mismatched file fails the start), again on SIGHUP and when "
                 "the file changes: new handshakes get the new one, established sessions "
                 "go on.",
         FIELD(tls_cert)},
        {.name = "--tls-key",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_INPUT,
         .metavar = "FILE",
         .unset = "none",
         .allowed = "a PEM file: the private key of --tls-cert",
         .help = "tls:// listeners: the private key of --tls-cert; re-read with it.",
         FIELD(tls_key)},
        {.name = "--tls-client-ca",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_INPUT,
         .metavar = "FILE",
         .unset = "none",
         .allowed = "a PEM file of CA certificates",
         .help = "tls:// listeners: mutual TLS. A client must present a certificate this CA "
                 "bundle verifies; one without, or with another, is refused (counted, "
                 "logged). none: no client certificate is asked for.",
         FIELD(tls_client_ca)},
        {.name = "--tls-min-version",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_INPUT,
         .metavar = "VERSION",
         .def = "1.2",
         .choices = tls_version_names,
         .help = "tls:// listeners: the oldest TLS version a client may use.",
         FIELD(tls_min_version)},
        {.name = "--tls-ciphers",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_INPUT,
         .metavar = "LIST",
         .unset = "OpenSSL's default",
         .allowed = "an OpenSSL cipher list (TLS 1.2; TLS 1.3 offers AES-128-GCM, AES-256-GCM, "
                    "ChaCha20-Poly1305, preferred in that order)",
         .help = "tls:// listeners: the TLS 1.2 cipher suites allowed, in order of "
                 "preference.",
         FIELD(tls_ciphers)},
        {.name = "--tls-handshake-timeout",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_INPUT,
         .metavar = "DURATION",
         .def = "10s",
         .min = 10,
         .max = HOUR,
         .unit_ms = 1000,
         .help = "tls:// listeners: a handshake not done after this long is closed and "
                 "counted (timeout). A bare number is seconds.",
         FIELD(tls_handshake_timeout_ms)},
        {.name = "--tls-max-handshakes",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_INPUT,
         .metavar = "N",
         .def = "256",
         .min = 1,
         .max = 1048576,
         .help = "tls:// listeners: handshakes each reactor runs at once. A new TLS "
                 "connection beyond them is closed at once and counted (over_cap), so idle "
                 "half-open handshakes cannot take every slot.",
         FIELD(tls_max_handshakes)},
        {.name = "--tls-max-handshakes-per-source",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_INPUT,
         .metavar = "N",
         .def = "32",
         .min = 1,
         .max = 1048576,
         .help = "tls:// listeners: of those handshakes, how many one source (an IPv4 "
                 "address, an IPv6 /64) may hold at once per reactor. Its next connection is "
                 "closed at once and counted (source_cap), so one host cannot take every "
                 "slot and lock the others out.",
         FIELD(tls_max_handshakes_per_source)},

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
         .allowed = "none, len32, field:N, prefix:DELIM, syslog:hostname, syslog:appname, "
                    "json:NAME, otlp:NAME or forward:tag (engine/route/key.h)",
         .help = "Which part of a message is its key, for sticky and ordered. none: no key "
                 "(pure only).",
         FIELD(key)},

        /* ---- pools and placement ---- */
        {.name = "--pools",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_POOLS,
         .metavar = "N",
         .def = "auto",
         .min = 1,
         .max = SLC_POOLS_MAX,
         .flags = SLC_CFG_F_AUTO,
         .help = "Worker pools. The controller moves routing weight between them. auto: one "
                 "per reactor (docs/tuning.md, \"Sized defaults\").",
         FIELD(pools)},
        {.name = "--workers",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_POOLS,
         .metavar = "N",
         .def = "auto",
         .min = 1,
         .max = SLC_WORKERS_MAX,
         .flags = SLC_CFG_F_AUTO,
         .help = "Worker threads per pool; pools times workers is at most 256. auto: the "
                 "CPUs the reactors leave, shared by the pools.",
         FIELD(workers)},
        {.name = "--reactors-per-node",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_POOLS,
         .metavar = "N",
         .def = "auto",
         .min = 1,
         .max = SLC_PRODUCERS_MAX,
         .flags = SLC_CFG_F_AUTO,
         .help = "Receive threads (io_uring reactors) per NUMA node; all nodes together at "
                 "most 64. auto: one per 4 CPUs the process may use on a node (after "
                 "--cpus, affinity and the cgroup's CPU limit), at least 1.",
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
         /* .allowed and the rest of .help come from the sinks' descs (table_build) */
         .help = "Where workers deliver messages.",
         FIELD(sink)},
        /* each sink's own flags follow --sink here, in registry order (table_build) */
        /* retries and dead letters, for every sink that waits on a peer (sinks/retry.h) */
        {.name = "--retry-initial",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_SINK,
         .metavar = "DURATION",
         .def = "100ms",
         .min = 1,
         .max = HOUR,
         .unit_ms = 1,
         .help = "After a transient sink failure (forward: connection refused or reset; "
                 "Kafka: broker timeout or transport error; plugin: retry later), the "
                 "first wait before trying again is drawn from 0 to this; it doubles at "
                 "each failure in a row. A bare number is ms.",
         FIELD(retry.initial_ms)},
        {.name = "--retry-max",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_SINK,
         .metavar = "DURATION",
         .def = "5s",
         .min = 1,
         .max = HOUR,
         .unit_ms = 1,
         .help = "The longest wait between two attempts (the doubling stops here). A bare "
                 "number is ms.",
         FIELD(retry.max_ms)},
        {.name = "--retry-max-elapsed",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_SINK,
         .metavar = "DURATION",
         .def = "off",
         .min = 0,
         .max = HOUR,
         .unit_ms = 1000,
         .flags = SLC_CFG_F_OFF,
         .help = "Forward and plugin: give a batch up this long after its first failure "
                 "and write it to --dead-letter (which it needs); off: retry for ever, "
                 "senders waiting (backpressure). Kafka retries as librdkafka's "
                 "message.timeout.ms says. A bare number is seconds.",
         FIELD(retry.max_elapsed_ms)},
        {.name = "--breaker-failures",
         .type = SLC_CFG_COUNT,
         .group = SLC_CFG_G_SINK,
         .metavar = "N",
         .def = "5",
         .min = 1,
         .max = 1000000,
         .help = "Forward: this many failed attempts in a row open a worker's "
                 "circuit breaker: no attempt for --breaker-cooldown, then one probe. "
                 "(Kafka's breaker follows librdkafka's all-brokers-down state.)",
         FIELD(retry.breaker_failures)},
        {.name = "--breaker-cooldown",
         .type = SLC_CFG_DURATION,
         .group = SLC_CFG_G_SINK,
         .metavar = "DURATION",
         .def = "10s",
         .min = 1,
         .max = HOUR,
         .unit_ms = 1000,
         .help = "How long an open circuit breaker waits before its probe. A bare number "
                 "is seconds.",
         FIELD(retry.breaker_cooldown_ms)},
        {.name = "--dead-letter",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_SINK,
         .metavar = "DIR",
         .unset = "none",
         .allowed = "a directory path (created if missing; its parent must exist)",
         .help = "Where messages the sink refuses for good go (a plugin's poison, a record "
                 "Kafka calls too large or invalid, a batch past --retry-max-elapsed): "
                 "file-sink segments that sluice-cat reads, with the reason and time. "
                 "None: such messages are counted as lost, and nothing is given up for "
                 "retrying too long.",
         FIELD(dead_letter)},

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
        {.name = "--latency-stamps",
         .type = SLC_CFG_ENUM,
         .group = SLC_CFG_G_OPERATIONS,
         .metavar = "WHERE",
         .def = "off",
         .choices = stamps_names,
         .help = "Where workers look for sluice-bench's stamp in each message they deliver, "
                 "for the sluice_e2e_latency_seconds and sluice_daemon_latency_seconds "
                 "histograms (every sink). off: nowhere, message bytes are not read. start: "
                 "the message's first bytes (lines framing; one compare a message). find: "
                 "the first 512 bytes (len32 key headers, syslog; a scan a message).",
         FIELD(latency_stamps)},
        {.name = "--config",
         .type = SLC_CFG_STRING,
         .group = SLC_CFG_G_OPERATIONS,
         .metavar = "FILE",
         .unset = "none",
         .allowed = "a path to a file of NAME = VALUE lines (docs/operations.md)",
         .help = "Read flags from FILE first, one NAME = VALUE a line (NAME without the "
                 "dashes; a flag without a value: NAME alone or NAME = true; # starts a "
                 "comment); flags on the command line override it. SIGHUP and POST "
                 "/-/reload read it again.",
         FIELD(config)},
        {.name = "--check-config",
         .type = SLC_CFG_BOOL,
         .group = SLC_CFG_G_OPERATIONS,
         .help = "Check the flags and the --config file, print one line per problem "
                 "(FILE:LINE: ...) and exit: 0 when there is none, else 2.",
         FIELD(check_config)},
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
        {.name = "--help-man",
         .type = SLC_CFG_ACTION,
         .group = SLC_CFG_G_OPERATIONS,
         .help = "Print the manual page (docs/sluiced.8, roff) and exit.",
         .print = slc_cfg_print_man},
};

const size_t slc_cfg_core_len = ARRAY_LEN(slc_cfg_core);
