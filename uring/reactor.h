/* SPDX-License-Identifier: MIT */
/* reactor.h: one io_uring receive loop: TCP and UDP listeners, connections, buffers, framing. */
#ifndef SLC_URING_REACTOR_H
#define SLC_URING_REACTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ack_window.h"
#include "frame.h"
#include "base/log.h"
#include "msg.h"

struct slc_numa_topo;
struct slc_reactor;
struct ssl_ctx_st;
struct slc_tenant_table;
struct slc_tenant_stats;
struct slc_tenant_refusals;
struct slc_qos;

/*
 * A reactor is one thread with one io_uring. It owns its listening sockets (one per
 * listener, bound with SO_REUSEPORT so that several reactors share an address), its
 * connections, its provided-buffer rings and the framing state of every connection. It
 * turns received bytes into struct slc_msg descriptors that point into its receive buffers
 * and offers them, connection by connection and in order, to ops.deliver. Whoever ends up
 * with a message gives its buffer reference back with slc_reactor_release(), from any
 * thread; the buffer returns to the kernel once every message in it is released.
 *
 * Connection states:
 *
 *   accepted --> RECEIVING --(deliver took fewer than offered)--> PAUSED
 *                   |  ^                                          |  (recv cancelled,
 *                   |  +-------(slc_reactor_kick, all delivered)--+   bytes kept, unparsed)
 *                   |  ^
 *                   |  +--(enough buffers came back)-- STARVED <--(buffer ring ran dry)--+
 *                   |                                                                    |
 *                   +--(EOF, reset, framing error, idle timeout, shutdown)--> CLOSING --> free
 *
 * CLOSING waits for the connection's receive (and ack send) to end; the socket is then
 * closed. The slot is free for the next connection once, in addition, every frame an
 * acknowledged connection handed over has come back through slc_reactor_ack().
 *
 * Acknowledged delivery (listener acks: framing len32+ack; docs/protocol.md byte by byte;
 * framing forward is acknowledged too, per chunk and without a window: conn_ack.c).
 * The reactor greets the client with its window W, checks every frame's sequence number,
 * hands the payload on as a message marked SLC_MSG_CONN_ACK (msg.h), and acknowledges
 * cumulatively what slc_reactor_ack() reports durable. Per connection, over sequence
 * numbers:
 *
 *      acked (durable, ack sent or due)  done, not yet contiguous   in flight   free
 *   ...........................)[ base ..................................)[ next .... base+W)
 *
 *   frame seq s:  s == next and s - base < W: taken, next = s + 1
 *                 anything else: protocol error (gap, repeat, window), connection closed
 *   completion:   bit s of the W-bit window set; base moves over set bits; the ack
 *                 base - 1 is sent when no send is in flight (a newer one replaces it)
 *   not durable:  connection closed, nothing acknowledged: the client sends it again
 *
 * No TCP byte that the kernel handed over is dropped: a paused or starved connection keeps
 * what it received and resumes where it stopped. Memory is bounded by the configuration:
 * buffers * buffer_size for TCP, udp_buffers * (max datagram + header) for UDP,
 * reasm_bytes of heap for frames that straddle two receive buffers and for the small
 * unparsed pieces of paused connections, and a fixed record per connection up to
 * max_conns.
 *
 * No connection can hold the others up. A frame that straddles receive buffers is copied
 * into heap memory reserved for its whole length (a counted frame), or (an LF frame) into
 * a chunk of twice its first piece that doubles as the frame grows, up to max_frame + 1.
 * max_frame + 1 bytes of reasm_bytes are a reserve that one frame at a time takes when
 * the rest is spent, so a frame that has begun can always complete: one that cannot grow
 * pauses, keeping what it has, until the reserve or other memory comes back. A connection
 * that finds no room for a new frame pauses at the frame's start; whatever it received
 * meanwhile is copied out
 * of the shared receive buffers when small (so that a few bytes never keep a buffer from
 * the kernel), and it tries again, in order with the others, whenever heap memory is
 * freed. While any connection waits so, a partial frame whose peer sent nothing for a
 * second is evicted: closed, counted as evicted and logged.
 */

enum slc_listener_proto {
	SLC_LISTENER_TCP,
	SLC_LISTENER_UDP,
};

struct slc_listener_cfg {
	enum slc_listener_proto proto;
	struct sockaddr_storage addr; /* port 0: an ephemeral port (read it back) */
	socklen_t addrlen;
	enum slc_frame_format framing; /* TCP only; a UDP datagram is one message */
	bool acks; /* TCP with len32 only: acknowledged delivery (docs/protocol.md) */
	bool tls;  /* TCP only: a tls:// listener (uring/tls.h; cfg.tls_ctx must be set) */
	bool http; /* TCP, not tls, no acks: OTLP/HTTP logs (uring/http_conn.c); framing unused */
};

/* Why a connection was closed: one counter each. */
enum slc_close_reason {
	SLC_CLOSE_EOF,          /* the peer closed after whole frames (normal) */
	SLC_CLOSE_EOF_MIDFRAME, /* the peer closed inside a frame: the partial frame is lost */
	SLC_CLOSE_RESET,        /* ECONNRESET and other receive errors */
	SLC_CLOSE_FRAMING,      /* a framing error; frames_rejected says which */
	SLC_CLOSE_IDLE,         /* nothing (or only part of a frame) for idle_timeout_ms */
	SLC_CLOSE_SHUTDOWN,     /* the reactor stopped */
	SLC_CLOSE_PROTOCOL,     /* acks: a frame broke the protocol; ack_errors says how */
	SLC_CLOSE_NOT_DURABLE,  /* acks: the sink could not make frames durable */
	SLC_CLOSE_EVICTED,   /* a partial frame, idle while others waited for reassembly memory */
	SLC_CLOSE_NO_MEMORY, /* received bytes could not be kept (pending records at bound) */
	SLC_CLOSE_TLS,       /* tls:// listeners: refused or failed TLS; tls_refused says why */
	SLC_CLOSE_HTTP,      /* http: a refused request (answered with its status), or a
	                        response the socket would not take at once */
	SLC_CLOSE__COUNT
};

const char *slc_close_reason_str(enum slc_close_reason r);

/* Why a datagram was dropped after the kernel handed it over: one counter each. */
enum slc_udp_drop {
	SLC_UDP_DROP_OVERSIZE,   /* over max_frame (or truncated to the buffer) */
	SLC_UDP_DROP_POOLS_FULL, /* deliver() refused it: no room in the pools */
	SLC_UDP_DROP_MALFORMED,  /* the kernel's recvmsg header did not validate */
	SLC_UDP_DROP__COUNT
};

/* "oversize", "pools_full", "malformed"; "unknown" if out of range. */
const char *slc_udp_drop_str(enum slc_udp_drop d);

/* Why a tls:// listener refused or closed a connection: one counter each. */
enum slc_tls_refusal {
	SLC_TLS_REF_OVER_CAP,        /* --tls-max-handshakes handshakes were under way */
	SLC_TLS_REF_TIMEOUT,         /* the handshake outlived --tls-handshake-timeout */
	SLC_TLS_REF_NOT_TLS,         /* the first bytes were not a TLS record (plaintext...) */
	SLC_TLS_REF_NO_CLIENT_CERT,  /* mutual TLS: the client sent no certificate */
	SLC_TLS_REF_BAD_CLIENT_CERT, /* mutual TLS: its certificate did not verify */
	SLC_TLS_REF_HANDSHAKE,       /* any other handshake failure (version, cipher, alert) */
	SLC_TLS_REF_ABORTED,         /* the peer closed during the handshake */
	SLC_TLS_REF_RENEGOTIATION,   /* a TLS 1.2 renegotiation attempt */
	SLC_TLS_REF_RECORD,          /* after the handshake: a bad record or a fatal alert */
	SLC_TLS_REF_SOURCE_CAP,      /* its source had --tls-max-handshakes-per-source under way */
	SLC_TLS_REF__COUNT
};

/* "over_cap", "timeout", ...; "unknown" if out of range. */
const char *slc_tls_refusal_str(enum slc_tls_refusal e);
/* HTTP responses of an http:// listener, by status: one counter each. */
enum slc_http_resp {
	SLC_HTTP_RESP_200,
	SLC_HTTP_RESP_400,
	SLC_HTTP_RESP_404,
	SLC_HTTP_RESP_405,
	SLC_HTTP_RESP_411,
	SLC_HTTP_RESP_413,
	SLC_HTTP_RESP_415,
	SLC_HTTP_RESP_417,
	SLC_HTTP_RESP_431,
	SLC_HTTP_RESP_501,
	SLC_HTTP_RESP_503,
	SLC_HTTP_RESP_505,
	SLC_HTTP_RESP__COUNT
};

/* "200", "400", ...; "unknown" if out of range. */
const char *slc_http_resp_str(enum slc_http_resp s);

/* enum slc_ack_error (ack_errors below), slc_ack_error_str and the bounds of
 * slc_reactor_cfg.ack_window (SLC_ACK_WINDOW_DEFAULT, SLC_ACK_WINDOW_MAX) are in
 * ack_window.h, with the window itself. */

/* Counters of one listener. Written by the reactor thread only; read from any thread. */
struct slc_listener_stats {
	_Atomic uint64_t accepted;
	_Atomic uint64_t refused; /* over max_conns, or accept errors (EMFILE...) */
	_Atomic uint64_t open;    /* connections open now */
	_Atomic uint64_t closed[SLC_CLOSE__COUNT];
	/* Of those, closed holding received bytes that no consumer took: a partial frame, or
	 * whole frames a paused connection still held. */
	_Atomic uint64_t closed_with_data[SLC_CLOSE__COUNT];
	/* Of those, closed by sluice (evicted, no_memory, shutdown) while a paused
	 * connection still held bytes it had received beyond a partial frame: messages
	 * the peer had sent whole may be among them. */
	_Atomic uint64_t closed_undelivered;
	_Atomic uint64_t bytes;
	_Atomic uint64_t msgs;
	_Atomic uint64_t empty_frames; /* zero-length frames, skipped */
	_Atomic uint64_t frames_rejected[SLC_FRAME_ERR__COUNT];
	_Atomic uint64_t frames_skipped; /* oversize frames dropped, the connection kept */
	_Atomic uint64_t fwd_inflated;   /* forward: compressed bins inflated */
	_Atomic uint64_t udp_drops[SLC_UDP_DROP__COUNT]; /* datagrams we dropped, by reason */
	_Atomic uint64_t udp_kernel_drops; /* the socket's own drop counter (SO_MEMINFO) */
	/* Acknowledged delivery (listeners with acks). */
	_Atomic uint64_t acks_sent;   /* acknowledgements sent */
	_Atomic uint64_t acked;       /* frames they acknowledged */
	_Atomic uint64_t not_durable; /* frames the sink could not make durable (not acked) */
	_Atomic uint64_t ack_errors[SLC_ACK_ERR__COUNT];
	/* tls:// listeners. */
	_Atomic uint64_t tls_handshakes; /* handshakes completed */
	_Atomic uint64_t tls_refused[SLC_TLS_REF__COUNT];
	/* OTLP/HTTP (http listeners): responses by status, and the records of requests
	 * refused whole with 503 (full pools). */
	_Atomic uint64_t http_responses[SLC_HTTP_RESP__COUNT];
	_Atomic uint64_t otlp_rejected;
};

/* Counters of the reactor itself. */
struct slc_reactor_stats {
	_Atomic uint64_t loops;
	_Atomic uint64_t cqes;
	_Atomic uint64_t rearms;           /* multishot receives armed again after ending */
	_Atomic uint64_t buf_exhausted;    /* a receive ended because the buffer ring ran dry */
	_Atomic uint64_t cq_overflow;      /* the kernel's overflow counter, copied each loop */
	_Atomic uint64_t paused;           /* connections paused now */
	_Atomic uint64_t pauses;           /* times a connection paused */
	_Atomic uint64_t starved;          /* connections waiting for buffers now */
	_Atomic uint64_t reassembled;      /* frames copied because they straddled buffers */
	_Atomic uint64_t reasm_grown;      /* partial LF frames moved to a larger chunk */
	_Atomic uint64_t reasm_grow_waits; /* ... that found no room and waited for it */
	_Atomic uint64_t buffers_free;     /* TCP buffers the kernel can fill now */
	_Atomic uint64_t heap_bytes;      /* reassembly and stash memory in use now (reasm_bytes) */
	_Atomic uint64_t heap_waiting;    /* connections waiting for that memory now */
	_Atomic uint64_t stashed_bytes;   /* bytes of paused connections copied out of buffers */
	_Atomic uint64_t tls_handshaking; /* TLS handshakes under way now */
	_Atomic uint64_t tls_bytes;       /* decrypted bytes held in heap chunks now */
	_Atomic uint64_t tls_out_bytes;   /* TLS output written and not yet sent, now */
	_Atomic uint64_t tls_cipher_bytes; /* ciphertext buffers' bytes, all sessions (a tick's) */
	_Atomic uint64_t tls_ctx_swaps;    /* server contexts taken after the first (reloads) */
};

struct slc_reactor_ops {
	/*
	 * Offers n messages of one connection (or one UDP listener), in order, on the reactor
	 * thread. Returns how many it took, a prefix: 0..n. Taking fewer than n pauses that
	 * connection until slc_reactor_kick(); a UDP listener drops the rest (counted).
	 * Must not block.
	 */
	uint32_t (*deliver)(void *ctx, struct slc_reactor *r, struct slc_msg *msgs, uint32_t n);
	void *ctx;
};

/*
 * Features a reactor uses when the kernel has them; a cfg can switch them off. Receive
 * bundles and incremental buffers must also pass a start-up self-check (uring/selfcheck.c:
 * a sequence-checked loopback transfer), which switches off one that garbles the bytes
 * and says so in a log line and in slc_reactor_features_str.
 */
enum {
	SLC_REACTOR_F_BUNDLE = 1u << 0,  /* receive bundles (6.10) */
	SLC_REACTOR_F_INC = 1u << 1,     /* incremental buffer consumption (6.12) */
	SLC_REACTOR_F_RING_FD = 1u << 2, /* registered ring fd */
	SLC_REACTOR_F_DEFER = 1u << 3,   /* SINGLE_ISSUER | DEFER_TASKRUN */
	SLC_REACTOR_F__COUNT = 4,
};

/* cfg.selfcheck_fault: garbled even with neither bundles nor incremental buffers. */
#define SLC_SELFCHECK_FAULT_PLAIN (1u << 31)

/* The features' names, by bit (--uring-features and the metrics use them). */
#define SLC_REACTOR_FEATURE_NAMES                                              \
	{                                                                      \
		"bundle", "incremental", "registered-ring-fd", "defer-taskrun" \
	}

struct slc_reactor_cfg {
	uint32_t id;                /* 0..255: goes into every message's ref */
	int cpu;                    /* pin the thread to this CPU; -1: leave it */
	int node;                   /* NUMA node for buffers; -1: any */
	struct slc_numa_topo *topo; /* allocator for buffers; NULL: plain memory */
	uint32_t buffers;           /* TCP receive buffers (power of two, <= 32768) */
	uint32_t buffer_size;
	uint32_t udp_buffers; /* UDP receive buffers (power of two); each holds one datagram */
	uint64_t reasm_bytes; /* heap for frames that straddle buffers and for paused
	                           connections' small pieces; 0: buffers * buffer_size. At
	                           least max_frame + 1 is used whatever is asked */
	uint32_t max_frame;
	bool oversize_skip; /* TCP without acks: an oversize frame is skipped (frame.h), counted
	                       in frames_skipped, and the connection kept; false: closed */
	uint32_t max_conns;
	uint32_t evict_idle_ms;   /* while connections wait for reasm_bytes: a partial frame silent
	                           this long is evicted; 0: 1000 */
	uint32_t idle_timeout_ms; /* 0: none. Closes a connection silent this long (one whose
	                             frames wait for acks is not), or inside one frame this long
	                             however its bytes dribble in */
	uint32_t sq_entries;      /* 0: 256 */
	uint32_t ack_window;      /* acks: W, a power of two <= SLC_ACK_WINDOW_MAX; 0: default */
	uint32_t features_off;    /* SLC_REACTOR_F_* not to use even if the kernel has them */
	uint32_t http_max_body;   /* http listeners: largest request body, before and after
	                             gzip (413 over it); 0: 4 MiB */
	const uint8_t *otlp_key;  /* http listeners: --key otlp:NAME's NAME (each record's key
	                             hashed into key_hash); NULL: none */
	uint32_t otlp_key_len;
	uint32_t fwd_max_inflated; /* forward listeners: the largest a compressed bin may
	                              inflate to (larger: forward_inflated, closed); each
	                              reactor holds up to 4 times this inflated; 0: 16 MiB */
	bool fwd_tag_key;          /* forward listeners: --key forward:tag (each entry's message
	                             tag hashed into key_hash, as slc_key_hash does) */
	uint32_t selfcheck_fault;  /* tests: the self-check's bytes come back garbled whenever
	                             it runs with any of these SLC_REACTOR_F_* on (or always,
	                             with SLC_SELFCHECK_FAULT_PLAIN); 0 in use */
	const struct slc_listener_cfg *listeners;
	uint32_t nlisteners;
	/* tls:// listeners: the server context (uring/tls.h; the reactor takes its own
	 * reference), the handshake's time limit (0: 10 s) and how many may be under way at
	 * once (0: 256; beyond it a new TLS connection is closed, counted over_cap). */
	struct ssl_ctx_st *tls_ctx;
	uint32_t tls_handshake_timeout_ms;
	uint32_t tls_max_handshakes;
	/* Of those, how many one source (an IPv4 address, an IPv6 /64) may hold (0: 32;
	 * beyond it a new TLS connection is closed, counted source_cap: tls_cap.c). */
	uint32_t tls_max_handshakes_per_source;
	uint64_t tls_bytes; /* decrypted bytes held at once; 0: buffers * buffer_size */
	/* Tenants (tenant.h): matched at accept and per datagram, their token buckets checked
	 * before deliver; the table must outlive the reactor (or, replaced by
	 * slc_reactor_tenants_set, until slc_reactor_tenants_taken says so). NULL: none. */
	const struct slc_tenant_table *tenants;
	uint32_t tenant_split; /* each reactor gets rate / split of a tenant's buckets; 0: 1 */
	/* QoS classes (qos.h) of the tenants' class=, shared with the workers, which release
	 * what the reactors count in; NULL: none (no class is counted or limited). */
	struct slc_qos *qos;
	struct slc_reactor_ops ops;
	slc_log_fn log; /* NULL: slc_log_stderr */
	void *log_ctx;
};

/*
 * Sets up the ring, the buffer rings and the listening sockets (bound and listening when
 * this returns, so a client may connect before slc_reactor_start). Returns NULL with *err:
 * -EINVAL (bad cfg), -ENOMEM, -EADDRINUSE and other bind/listen errors, the error of
 * io_uring_queue_init, or -EIO: the receive self-check found bytes garbled even without
 * bundles and incremental buffers.
 */
struct slc_reactor *slc_reactor_create(const struct slc_reactor_cfg *cfg, int *err);

/* The port listener i is bound to (useful after binding port 0). */
uint16_t slc_reactor_listener_port(const struct slc_reactor *r, uint32_t i);

/* The id the reactor was created with (cfg.id). */
uint32_t slc_reactor_id(const struct slc_reactor *r);

/* One line naming the io_uring features in use and any that the kernel refused or the
 * self-check switched off. */
const char *slc_reactor_features_str(const struct slc_reactor *r);

/* The SLC_REACTOR_F_* in use. */
uint32_t slc_reactor_features(const struct slc_reactor *r);

/* Bytes a reactor allocates per connection slot (cfg.max_conns of them, touched at
 * create): the slot and its places in the wait queue and the free list, and with
 * ack_window != 0 (a listener with acks) the ack state and window bits. Idle connections
 * cost nothing more of the process's memory (tests/daemon/test_conns.c measures it). */
size_t slc_reactor_conn_bytes(uint32_t ack_window);

/*
 * Any thread: new TLS handshakes use ctx from the reactor's next loop on (established
 * sessions keep theirs). The reactor takes its own reference; the caller keeps its own.
 * A ctx set twice before the reactor took the first: the first is dropped unused.
 */
void slc_reactor_tls_ctx_set(struct slc_reactor *r, struct ssl_ctx_st *ctx);

/*
 * Any thread (a reload): the reactor matches peers against tt from its next loop on, a
 * loop's work, never a message's. tt's slots (tenant.h) say where each tenant's buckets and
 * counters are: a slot that r's own running table gives to the same name keeps its tokens
 * and counters, under tt's rate and burst; any other starts full and at zero (r decides:
 * it may have skipped a table set before it took the one before). Connections keep the
 * slot they were given (a removed tenant's: its last limits, until they close). tt must
 * stay until slc_reactor_tenants_taken(r, tt), and the table it replaces until then too.
 * Returns 0, or -ENOTSUP when r was created without a table (cfg.tenants NULL).
 */
int slc_reactor_tenants_set(struct slc_reactor *r, const struct slc_tenant_table *tt);
/* Whether r matches against tt now, its fresh slots zeroed, or is not looping (not
 * started: it takes tt at its first loop top; stopped: it reads no table again). Either
 * way the table tt replaces is no longer r's to read (any thread; acquire). */
bool slc_reactor_tenants_taken(const struct slc_reactor *r, const struct slc_tenant_table *tt);

/* Starts the reactor's thread. Returns 0 or -errno from pthread_create. */
int slc_reactor_start(struct slc_reactor *r);

/*
 * Stops accepting and receiving, then keeps offering what connections had received but
 * not yet delivered (paused connections) for up to drain_ms, closes every connection (a
 * partial frame is lost and counted) and joins the thread. Messages still held by others
 * stay valid until released. Safe to call twice.
 */
void slc_reactor_stop(struct slc_reactor *r, uint32_t drain_ms);

/* Frees everything; every message must have been released. Accepts NULL. */
void slc_reactor_destroy(struct slc_reactor *r);

/* Any thread: destinations have room again; paused connections retry. Cheap when the
 * reactor is busy; wakes it when it sleeps. */
void slc_reactor_kick(struct slc_reactor *r);

/*
 * Any thread: gives back the buffer references of n messages of reactor r (msg.ref).
 * Consecutive messages of the same buffer cost one ring slot. Never fails: waits (spinning,
 * then yielding) while the reactor's release ring is full, which the reactor empties on
 * every loop. On the reactor's own thread (a consumer that finishes inside deliver) it
 * applies the release directly, without the ring. After the reactor's loop has ended
 * (slc_reactor_stop) it does nothing: consumers may finish what they hold after the
 * reactor stopped, and the bytes stay valid until slc_reactor_destroy.
 */
void slc_reactor_release(struct slc_reactor *r, const struct slc_msg *msgs, uint32_t n);

/*
 * Any thread: n messages of reactor r are done with; those marked SLC_MSG_CONN_ACK
 * (acknowledged delivery) count, others are skipped. durable: the sink has made them
 * durable (sink.h's sync), and the reactor may acknowledge them once every earlier frame
 * of their connection is; false: they are not, and their connections are closed without
 * acknowledging them, so that clients send them again. Call it before releasing the
 * messages (it reads their sequence numbers), once per message. Never fails: waits like
 * slc_reactor_release while the reactor's ack ring is full; on the reactor's own thread it
 * applies at once; after the reactor's loop has ended it does nothing.
 */
void slc_reactor_ack(struct slc_reactor *r, const struct slc_msg *msgs, uint32_t n, bool durable);

/*
 * Deferred acknowledgement (group commit): a run of consecutive frames of one acknowledged
 * connection, taken from messages before they are released, reported later. conn: the
 * message's conn & SLC_MSG_CONN_ID_MASK; seq: the first frame's sequence number.
 */
struct slc_reactor_ack_run {
	uint64_t seq;
	uint32_t conn;
	uint32_t count;
};

/*
 * Any thread: the runs' frames are done with, as slc_reactor_ack says of messages; the
 * messages may have been released since the runs were taken (slc_reactor_ack_run_add),
 * since the reactor keeps an acknowledged connection's slot until all of its frames have
 * come back this way or through slc_reactor_ack. Never fails; waits as slc_reactor_ack.
 */
void slc_reactor_ack_runs(struct slc_reactor *r, const struct slc_reactor_ack_run *runs, uint32_t n,
                          bool durable);

/* Adds acknowledged message m to runs[*n] (extending the last run when m follows it on
 * the same connection): false when a new run is needed and *n == cap (nothing added). */
static inline bool
slc_reactor_ack_run_add(struct slc_reactor_ack_run *runs, uint32_t *n, uint32_t cap,
                        const struct slc_msg *m)
{
	uint32_t id = m->conn & SLC_MSG_CONN_ID_MASK;
	uint64_t seq = slc_msg_ack_seq(m);

	/* Forward entries have no seq (msg.h): a connection's run of them is counted whole. */
	if (*n != 0 && runs[*n - 1].conn == id &&
	    (runs[*n - 1].seq + runs[*n - 1].count == seq || (m->conn & SLC_MSG_CONN_FWD))) {
		runs[*n - 1].count++;
		return true;
	}
	if (*n == cap)
		return false;
	runs[(*n)++] = (struct slc_reactor_ack_run){.seq = seq, .conn = id, .count = 1};
	return true;
}

/* CPU time the reactor's thread has used, in ns, as of its last tick (every 100 ms); any
 * thread, any time until destroy. */
uint64_t slc_reactor_thread_cpu_ns(const struct slc_reactor *r);

const struct slc_reactor_stats *slc_reactor_stats(const struct slc_reactor *r);
const struct slc_listener_stats *slc_reactor_listener_stats(const struct slc_reactor *r,
                                                            uint32_t i);

/* The counters of the tenant in slot t on this reactor (t < SLC_TENANT_MAX: a table's
 * t[i].slot), and what its table refused; any thread. NULL without a tenant table. */
const struct slc_tenant_stats *slc_reactor_tenant_stats(const struct slc_reactor *r, uint32_t t);
const struct slc_tenant_refusals *slc_reactor_tenant_refusals(const struct slc_reactor *r);

/* Reactor id from a message's ref, for callers holding several reactors. */
static inline uint32_t
slc_msg_reactor(const struct slc_msg *m)
{
	return m->ref >> 24;
}

#endif /* SLC_URING_REACTOR_H */
