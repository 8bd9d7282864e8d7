/* SPDX-License-Identifier: MIT */
/* reactor_priv.h: the reactor's state and the functions its files share; never outside uring/. */
#ifndef SLC_URING_REACTOR_PRIV_H
#define SLC_URING_REACTOR_PRIV_H

/*
 * The reactor (reactor.h) is one object split along its seams, one file each:
 *
 *   reactor.c     create, the thread and its ring set-up, the tick, stop, destroy, logging
 *   loop.c        the loop and the per-message path: completions, framing, descriptors,
 *                 acknowledged frames' checks, deliver, UDP datagrams, the turns of paused
 *                 connections (waitq_run), draining the release and ack rings, the stop
 *   bufring.c     provided-buffer rings: memory, registration, filling
 *   conn.c        connections: arm, pause, close (with its reason), the peer's end
 *   conn_ack.c    acknowledged delivery on the wire: greeting, acks, workers' completions
 *   ack_window.c  the ack window itself, a pure state machine (ack_window.h)
 *   reasm.c       heap memory: reassembly chunks, the stash, pending chunks, eviction
 *   listen.c      listening sockets, accept, arming UDP receives
 *   release.c     what other threads call: release, ack, kick, and the wake-up
 *
 * Everything runs on the reactor's thread except release.c's public functions. The
 * per-message path stays in loop.c, and what it calls from elsewhere is static inline
 * here, so that the compiler inlines what it inlined when this was one file.
 *
 * The functions declared here return nothing or what their comment says; none reports an
 * errno except slc_bufring_setup, slc_bufring_register, slc_selfcheck and
 * slc_listener_open (their comments say which).
 */

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/addr.h"
#include "bucket.h"
#include "compat.h"
#include "forward.h"
#include "reactor.h"
#include "qos.h"
#include "ring.h"
#include "tenant.h"

/* ---- constants ---------------------------------------------------------------------- */

#define NONE      UINT32_MAX
#define BATCH     64  /* frame pieces parsed, and messages offered, per call */
#define UDP_BATCH 256 /* datagrams offered per call */
#define TICK_NS   (100 * 1000000ull)

/* What reactor_wait announced in sleeping: a sleep that only a completion, the tick or a
 * wake ends (a wake must write the eventfd), or a nap of at most WAIT_BATCH_NS between
 * batches of completions, which ends by itself soon enough that a release, an ack or a
 * kick need not end it: the loop drains their rings every turn. */
#define REACTOR_AWAKE 0u
#define REACTOR_SLEEP 1u
#define REACTOR_NAP   2u
/* Copied-out bytes of paused connections go into heap chunks of at least this size, so
 * that a connection whose client writes a few bytes at a time appends to one chunk, yet
 * thousands of paused connections with a few bytes each fit in a small stash. */
#define STASH_CHUNK 256
/* Smallest heap chunk: sizes the table of heap chunk ids (budget / this). */
#define HEAP_CHUNK_MIN STASH_CHUNK
/* Free chunks of max_frame + 1 bytes kept for reuse rather than freed. */
#define HEAP_CACHE 16
/* An LF frame's first reassembly chunk: twice its first piece, at least this much; it
 * doubles as the frame grows (slc_reasm_grow), so that partial lines cost about what they
 * hold rather than max_frame + 1 each. */
#define REASM_CHUNK_MIN 256

/* What a CQE is about: the top byte of user_data. */
enum {
	UD_ACCEPT = 1,
	UD_RECV,
	UD_UDP,
	UD_WAKE,
	UD_IGNORE,
	UD_ACK_SEND,
	UD_TLS_SEND,
};

static inline uint64_t
ud_make(uint32_t type, uint32_t idx, uint32_t gen)
{
	return (uint64_t)type << 56 | (uint64_t)(gen & 0xffffffu) << 32 | idx;
}

/* Rate-limited log kinds (slc_reactor_log). */
enum {
	LOGK_ACCEPT,
	LOGK_REFUSED,
	LOGK_FRAMING,
	LOGK_UDP,
	LOGK_CLOSE,
	LOGK_ACK,
	LOGK_TLS,
	LOGK_OTHER,
	LOGK__COUNT
};

/* ---- connections -------------------------------------------------------------------- */

/* reactor.h has the picture; DRAINING is the end of CLOSING for acknowledged delivery. */
enum conn_state {
	CONN_FREE,
	CONN_RECEIVING,
	CONN_PAUSED,
	CONN_CLOSING,
	CONN_DRAINING, /* socket closed; acks: frames still with the workers hold the slot */
};

/* A received chunk that a paused connection has not parsed yet; holds a buffer reference. */
struct pend {
	uint32_t ref;
	uint32_t off;
	uint32_t len;
	uint32_t next; /* the next record of its connection, or of the free list; NONE: last */
};

/* forward:tag keys: a tag that straddles receive buffers is hashed on this many of its
 * first bytes (one within a buffer, the usual case, on all of them). */
#define SLC_CONN_TAG_MAX 128u

/* Acknowledged delivery state of one connection: the window (ack_window.h) and the send.
 * framing=forward uses no window: a message's chunk is acknowledged once inflight is 0
 * (fence), and the connection reads no further until then (conn_ack.c). */
struct ack_conn {
	struct slc_ack_window win;
	uint32_t inflight; /* messages offered and taken, not yet back through slc_reactor_ack */
	uint8_t buf[80];   /* what the send in flight carries: the greeting or an ack */
	uint8_t off, len;  /* of buf: sent so far, to send */
	bool sending;      /* a send is in flight (at most one) */
	bool failed;       /* frames came back not durable: close at the next ack queue run */
	bool in_q;         /* in r->ack_queue */
	bool fwd;          /* framing=forward */
	bool fence;        /* forward: a chunk waits for inflight 0; the connection is paused */
	uint8_t chunk_len;
	uint8_t chunk[SLC_FORWARD_CHUNK_MAX]; /* forward: the chunk of the message being read */
	/* --key forward:tag: the key hash of the entries now read, and the tag being read
	 * when it straddles chunks (its first SLC_CONN_TAG_MAX bytes) */
	uint32_t tag_hash;
	uint32_t tag_len;
	uint8_t tag[SLC_CONN_TAG_MAX];
};

struct ssl_st;
struct bio_st;

/* Ciphertext of a paused tls:// connection left in its receive buffer (tls.c, pin_feed). */
struct tls_pin {
	uint32_t ref, off, len;
};
#define TLS_PINS 8

/* TLS state of one connection of a tls:// listener (tls.c); in r->tls_conns[slot]. */
struct tls_conn {
	struct ssl_st *ssl;   /* NULL: the slot has no TLS session */
	struct bio_st *rbio;  /* ciphertext in: what the receive brought */
	struct bio_st *wbio;  /* ciphertext out: what OpenSSL wrote, sent from out */
	uint8_t *out;         /* the send in flight (TLS_OUT bytes, allocated per session) */
	uint32_t out_off;     /* of out: sent so far */
	uint32_t out_len;     /* of out: to send */
	uint64_t hs_start_ns; /* accept: the handshake timeout's measure */
	bool sending;         /* a send of out is in flight (at most one) */
	bool hs_done;         /* the handshake completed */
	bool reneg;           /* a renegotiation began (the info callback): close */
	bool tenant_later;    /* its tenant waits for the handshake (SLC_TENANT_LATER) */
	uint32_t out_held;    /* its part of r->tls_out_held: output not yet sent */
	bool linger;          /* closing: its last output (an alert) still goes out */
	uint64_t linger_ns;   /* when the linger began (TLS_LINGER_NS bounds it) */
	uint64_t src[2];      /* its source's key in r->tls_src (tls_cap.c) */
	bool src_held;        /* it holds one of its source's handshake slots */
	uint8_t npins;        /* pieces in pins, oldest first */
	struct tls_pin pins[TLS_PINS]; /* ciphertext pinned in receive buffers while paused */
};

/* An http:// connection's request in progress (http_conn.c). */
struct http_conn;

struct conn {
	int fd;
	uint32_t
	        gen; /* bumped when the slot is freed: stale CQEs of its last user are told apart */
	uint16_t listener;
	uint8_t state;  /* enum conn_state */
	bool armed;     /* a multishot recv is in flight */
	bool cancelled; /* a cancel for it is in flight */
	bool starved;   /* waiting for buffers before it is armed again */
	bool in_waitq;
	bool turn_done; /* waitq_run: it used a whole turn, and goes to the back */
	bool peer_done; /* EOF or error seen while received bytes wait: close once delivered */
	uint8_t done_reason;
	bool has_held;  /* a reassembled message not yet taken */
	bool heap_wait; /* paused until heap memory for a partial frame frees up */
	bool rate_wait; /* paused until its tenant's buckets have tokens (tenant_rt.c) */
	uint8_t tenant; /* its tenant (tenant.h), decided at accept; SLC_TENANT_NONE: none */
	struct slc_frame_parser parser;
	uint32_t reasm; /* heap chunk the frame that straddles is copied into, or NONE */
	uint32_t reasm_len;
	uint64_t reasm_rx_ns; /* when bytes of that frame last arrived: eviction's measure */
	uint32_t fwd_need;    /* a compressed bin's inflated size that found no room (fwd_gzip.c) */
	uint32_t credit;      /* messages left of a turn that a full pool cut short; 0: none */
	uint32_t pend_head;   /* its pending chunks (struct pend), oldest first; NONE: none */
	uint32_t pend_tail;
	uint64_t last_rx_ns;
	uint64_t rate_since_ns; /* rate_wait: since when */
	uint64_t frame_end_ns;  /* when a frame last ended (or accept): the idle timeout's
	                          measure of a frame kept open by dribbling */
	struct slc_msg held;
	struct ack_conn *ack;           /* NULL unless the listener has acks */
	struct tls_conn *tls;           /* NULL unless the listener is tls:// */
	struct http_conn *http;         /* NULL unless the listener is http:// */
	char peer[SLC_ADDR_SA_STR_MAX]; /* "a.b.c.d:port" or "[v6]:port", for logs */
};

struct listener {
	struct slc_listener_cfg cfg;
	int fd;
	uint16_t port;
	bool armed;   /* its multishot accept (TCP) or recvmsg (UDP) is in flight */
	bool starved; /* UDP: waiting for buffers */
	uint64_t rearm_at_ns;
	struct slc_listener_stats stats;
	struct slc_msg *udp_batch; /* UDP only: datagrams not yet offered */
	uint8_t *udp_tenant;       /* UDP with tenants: each one's tenant */
	uint32_t udp_n;
};

/* ---- heap chunks, and the rings from other threads ---------------------------------- */

/*
 * A heap chunk: mem holds cap bytes, of which fill are written (the stash appends there).
 * Its kind says whose budget it counts against: reassembly (--reasm-memory less the
 * reserve), the stash, or the reserve: max_frame + 1 bytes of --reasm-memory that one
 * frame at a time takes when the rest is spent, so that a frame that has begun and must
 * grow can always end (see slc_reasm_grow).
 */
enum { HEAP_REASM, HEAP_STASH, HEAP_RESERVE, HEAP_TLS, HEAP_INFLATE, HEAP__KINDS };

struct heap_chunk {
	uint8_t *mem;
	uint32_t cap;
	uint32_t fill;
	uint8_t kind; /* HEAP_REASM, HEAP_STASH or HEAP_RESERVE: whose budget it counts against */
};

/* One entry of the release ring: n messages of one buffer are done. */
struct rel_ent {
	uint32_t ref;
	uint32_t count;
};

/* One entry of the ack ring: frames seq .. seq+count-1 of connection conn are done. */
struct ack_ent {
	uint64_t seq;
	uint32_t conn; /* connection id; ACK_ENT_FAILED: not durable */
	uint32_t count;
};

#define ACK_ENT_FAILED 0x80000000u

/*
 * A buffer reference (ref) names one of three kinds of memory, in this order:
 *   [0, tcp_nbufs)                                  TCP receive buffers (bid = ref)
 *   [tcp_nbufs, tcp_nbufs + udp_nbufs)              UDP receive buffers
 *   [tcp_nbufs + udp_nbufs, ... + heap_nchunks)     heap chunks (reasm.c)
 * refcnt[ref] counts the messages, pending chunks and (TCP) the kernel's hold on it; the
 * memory goes back (to the kernel, or the heap) when it falls to zero.
 */
struct slc_reactor {
	/* ---- the object: configuration, the ring, the thread (reactor.c) ---- */
	struct slc_reactor_cfg cfg;
	struct io_uring ring;
	bool ring_ok;           /* ring set up: destroy tears it down */
	uint32_t features;      /* SLC_REACTOR_F_* in use */
	const char *selfcheck;  /* the start-up check's outcome, for features_str (selfcheck.c) */
	char features_str[512]; /* slc_reactor_features_str */
	pthread_t thread;       /* runs the loop */
	bool thread_running;    /* created and not yet joined */
	pthread_mutex_t mu;     /* with cv: the start-up handshake */
	pthread_cond_t cv;
	int init_rc;           /* 1 while the thread sets up, then 0 or -errno */
	bool go;               /* slc_reactor_start (or stop) let the thread run */
	_Atomic bool stop_req; /* slc_reactor_stop asked the loop to stop */
	uint32_t drain_ms;     /* how long the stop may deliver what connections hold */
	bool stopping;         /* the loop saw stop_req: no more accepts or receives */
	uint64_t drain_deadline_ns;

	/* ---- listeners (listen.c) ---- */
	struct listener *listeners; /* [nlisteners] */
	uint32_t nlisteners;

	/* ---- TCP receive buffers: buffer group 0 (bufring.c) ---- */
	uint8_t *tcp_mem; /* tcp_nbufs * tcp_buf_size bytes */
	size_t tcp_mem_len;
	struct io_uring_buf_ring *tcp_br; /* the ring shared with the kernel */
	size_t tcp_br_len;
	uint32_t tcp_nbufs;        /* cfg.buffers: a power of two, also the ring's entries */
	uint32_t tcp_buf_size;     /* cfg.buffer_size */
	uint32_t tcp_mask;         /* tcp_nbufs - 1: masks ring positions */
	uint32_t tcp_adds;         /* buffers added since the last commit (bufring_commit) */
	uint32_t tcp_in_ring;      /* buffers the kernel may fill now */
	uint32_t tcp_low_water;    /* a receive is armed only with this many in the ring */
	uint32_t *tcp_kernel_fill; /* per bid: bytes the kernel has filled (incremental mode) */
	uint16_t *tcp_entry_bid;   /* per ring entry: the bid we put there */
	uint16_t *tcp_bid_entry;   /* per bid: the ring entry it sits in */

	/* ---- UDP receive buffers: buffer group 1, one datagram each (bufring.c) ---- */
	uint8_t *udp_mem; /* udp_nbufs * udp_buf_size bytes */
	size_t udp_mem_len;
	struct io_uring_buf_ring *udp_br;
	size_t udp_br_len;
	uint32_t udp_nbufs;       /* cfg.udp_buffers: a power of two */
	uint32_t udp_buf_size;    /* recvmsg header + address + payload, rounded up to 64 */
	uint32_t udp_mask;        /* udp_nbufs - 1 */
	uint32_t udp_adds;        /* added since the last commit */
	uint32_t udp_in_ring;     /* buffers the kernel may fill now */
	struct msghdr udp_msghdr; /* the layout multishot recvmsg writes into each buffer */

	/*
	 * ---- heap chunks (reasm.c), allocated when needed ----
	 *   reassembly  a frame that straddles receive buffers is copied into one, within
	 *               heap_budget[HEAP_REASM] bytes, or into the reserve when that is spent;
	 *               an LF frame's chunk starts small and doubles as the frame grows. A
	 *               connection that finds no room waits (heap_wait), paused at the
	 *               frame's start or, to grow, at the piece that did not fit;
	 *   stash       unparsed bytes of paused connections, copied out of the receive
	 *               buffers, within heap_budget[HEAP_STASH]: always those of a connection
	 *               that waits for reassembly memory (so that waiting never holds the
	 *               receive buffers that the frames it waits for need), and small pieces
	 *               of other paused connections while the stash is less than half used.
	 */
	struct heap_chunk *heap; /* [heap_nchunks] */
	uint32_t heap_nchunks;   /* chunk ids: enough for the budgets in HEAP_CHUNK_MIN pieces */
	uint32_t *heap_free_ids; /* a stack of free chunk ids */
	uint32_t heap_nfree;
	uint64_t heap_budget[HEAP__KINDS]; /* bytes, by kind (HEAP_REASM, ...) */
	uint64_t heap_used[HEAP__KINDS];
	uint32_t heap_waiters;     /* connections with heap_wait */
	uint32_t fence_waiters;    /* forward connections paused until their chunk's ack */
	uint64_t tcp_dry_since_ns; /* TCP buffers below the low water since */
	/* Pieces up to this many bytes are copied into the stash opportunistically. */
	uint32_t stash_piece_max;
	/* Free chunks of max_frame + 1 bytes kept for the next LF frame (not in heap_used):
	 * what the fixed reassembly buffers of earlier versions cost, without their limit. */
	uint8_t *heap_cache[HEAP_CACHE];
	uint32_t heap_ncached;

	/* ---- buffer references (all three kinds, see above) ---- */
	uint32_t *refcnt; /* [tcp_nbufs + udp_nbufs + heap_nchunks] */

	/* ---- pending chunks of paused connections (reasm.c) ---- */
	struct pend *pend; /* [pend_nrecords], grown on demand */
	uint32_t pend_nrecords;
	uint32_t pend_nrecords_max; /* the bound of that growth */
	uint32_t pend_free_head;    /* free records, linked by next; NONE: none */

	/* ---- connections and the wait queue (conn.c) ---- */
	struct conn *conns; /* [nconns]: cfg.max_conns slots */
	uint32_t nconns;
	uint32_t *conn_free_ids; /* a stack of free slots */
	uint32_t conn_nfree;
	uint32_t *waitq;       /* paused and starved connections, in turn order */
	uint32_t *waitq_spare; /* waitq_run's scratch: those whose turn is over */
	uint32_t waitq_mask;   /* waitq's size - 1 (a power of two >= nconns) */
	uint32_t waitq_head;   /* free-running positions, masked on access */
	uint32_t waitq_tail;
	/* Messages the connection whose turn it is may still deliver (waitq_run); NONE
	 * outside a turn: a receiving connection's bytes are not limited. */
	uint32_t turn_left;

	/* ---- from other threads: releases and wake-ups (release.c) ---- */
	struct slc_ring_mpsc *rel_ring; /* struct rel_ent, from slc_reactor_release */
	size_t rel_ring_len;
	int wake_fd;               /* an eventfd the loop keeps a read on */
	uint64_t wake_buf;         /* where that read lands */
	_Atomic uint32_t sleeping; /* REACTOR_AWAKE, _SLEEP or _NAP (reactor_wait) */
	_Atomic uint32_t kicked;   /* slc_reactor_kick: paused connections retry */
	/* Set when the loop has ended: releases after that are no-ops (nothing reuses the
	 * buffers any more, and nothing would empty the release ring). */
	_Atomic bool loop_done;
	_Atomic uint64_t cpu_ns; /* the thread's CPU time, published every tick */
	bool retry;              /* buffers, heap or room came back: run the wait queue */

	/* ---- acknowledged delivery (conn_ack.c); allocated only when a listener has acks
	 * (ack_ring != NULL) ---- */
	struct ack_conn *ack_conns;     /* [nconns] */
	uint64_t *ack_bits;             /* the windows' bitmaps, one after another */
	struct slc_ring_mpsc *ack_ring; /* struct ack_ent, from slc_reactor_ack */
	size_t ack_ring_len;
	uint32_t *ack_queue; /* connections whose ack state moved, to look at once per loop */
	uint32_t ack_queue_len;

	/* ---- tls:// listeners (tls.c); tls_conns allocated only when a listener is ---- */
	struct tls_conn *tls_conns;            /* [nconns] */
	struct ssl_ctx_st *tls_ctx;            /* new handshakes use it (our reference) */
	struct ssl_ctx_st *_Atomic tls_ctx_in; /* slc_reactor_tls_ctx_set: taken each loop */
	uint32_t tls_handshaking;              /* handshakes under way */
	uint64_t tls_out_held;                 /* TLS output written, not yet sent (all sessions) */
	uint32_t tls_lingering;                /* closed sessions whose last output still goes */
	uint64_t tls_cipher_held;              /* the ciphertext buffers' bytes (tls_bio.c) */
	uint64_t tls_shrink_ns;  /* when idle sessions' buffers were last given back */
	uint64_t tls_rx_ns;      /* when ciphertext last arrived, any session */
	struct tls_src *tls_src; /* handshakes under way per source (tls_cap.c) */
	uint32_t tls_src_mask;   /* its slots - 1 (a power of two) */
	/* ---- tenants (tenant_rt.c); tenant == NULL without a table ---- */
	struct tenant_rt *tenant; /* [SLC_TENANT_MAX], by slot (tenant.h) */
	/* slc_reactor_tenants_set: taken once a loop (tenant_rt.c); tenants_cur: the table
	 * matched against, stored once a new one's fresh slots are zeroed */
	const struct slc_tenant_table *_Atomic tenants_in;
	const struct slc_tenant_table *_Atomic tenants_cur;
	/* Set just before slc_reactor_loop's first loop top, cleared once it will read no
	 * table again: a reactor not looping needs no wait for tenants_in (not started, it
	 * takes it at its first loop top; stopped, it never reads one again). */
	_Atomic bool looping;
	uint32_t rate_waiters;  /* connections paused with rate_wait */
	uint64_t rate_retry_ns; /* when the wait queue next looks at them */
	struct slc_tenant_refusals tenant_refused;
	/* ---- OTLP/HTTP connections (http_conn.c); allocated only when a listener is
	 * http:// (http_conns != NULL) ---- */
	struct http_conn *http_conns; /* [nconns] */
	struct slc_gunzip *http_gz;   /* one inflater, reset per gzip body */
	uint8_t *http_scratch;        /* gzip bodies inflate here (--http-max-body), or NULL */
	/* ---- framing=forward's compressed bins (fwd_gzip.c), made at the first one ---- */
	struct slc_gunzip *fwd_gz; /* one inflater, reset per bin */
	uint8_t *fwd_scratch;      /* bins inflate here (--forward-max-inflated), or NULL */
	uint64_t http_starved_ns;  /* when a request last found no heap memory: --evict-idle
	                                 then looks at idle requests for a while */

	/* ---- the loop (loop.c) ---- */
	uint64_t now_ns; /* read once or twice a loop: every timestamp of the loop */
	uint64_t next_tick_ns;
	uint32_t last_cqes;                   /* completions the last loop handled */
	struct slc_msg batch[BATCH];          /* the burst's messages, offered to deliver */
	uint32_t batch_piece[BATCH];          /* per message: its piece in pieces[] */
	struct slc_frame_piece pieces[BATCH]; /* the burst the parser cut */
	struct slc_reactor_stats stats;
	/* slc_reactor_log's rate limit, per LOGK_ kind. */
	struct slc_log_limit log_limit[LOGK__COUNT];
};

/* ---- small helpers ------------------------------------------------------------------ */

/* Counters have one writer (the reactor); readers on other threads load them relaxed. */
static inline void
stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

static inline void
stat_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline struct io_uring_sqe *
reactor_sqe(struct slc_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (sqe == NULL) {
		/* SQ full: hand what we have to the kernel and take a fresh slot. */
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

/* At most a few lines a second of each kind; the next line says how many were not
 * written (reactor.c). */
void slc_reactor_log(struct slc_reactor *r, int kind, int level, const char *fmt, ...)
        SLC_PRINTF(4, 5);

/* ---- buffers (bufring.c; the per-message part inline) ------------------------------- */

static inline uint8_t *
ref_ptr(const struct slc_reactor *r, uint32_t ref)
{
	if (ref < r->tcp_nbufs)
		return r->tcp_mem + (size_t)ref * r->tcp_buf_size;
	if (ref < r->tcp_nbufs + r->udp_nbufs)
		return r->udp_mem + (size_t)(ref - r->tcp_nbufs) * r->udp_buf_size;
	return r->heap[ref - r->tcp_nbufs - r->udp_nbufs].mem;
}

static inline bool
ref_is_heap(const struct slc_reactor *r, uint32_t ref)
{
	return ref >= r->tcp_nbufs + r->udp_nbufs;
}

static inline struct heap_chunk *
ref_heap_chunk(const struct slc_reactor *r, uint32_t ref)
{
	return &r->heap[ref - r->tcp_nbufs - r->udp_nbufs];
}

/* Puts a TCP buffer back in the kernel's ring; visible to it at the next commit. */
static inline void
tcp_buf_give(struct slc_reactor *r, uint32_t bid)
{
	uint32_t entry = (r->tcp_br->tail + r->tcp_adds) & r->tcp_mask;

	io_uring_buf_ring_add(r->tcp_br, r->tcp_mem + (size_t)bid * r->tcp_buf_size,
	                      r->tcp_buf_size, (uint16_t)bid, (int)r->tcp_mask, (int)r->tcp_adds);
	r->tcp_entry_bid[entry] = (uint16_t)bid;
	r->tcp_bid_entry[bid] = (uint16_t)entry;
	r->tcp_kernel_fill[bid] = 0;
	r->refcnt[bid] = 1; /* the kernel's hold */
	r->tcp_adds++;
}

static inline void
udp_buf_give(struct slc_reactor *r, uint32_t bid)
{
	io_uring_buf_ring_add(r->udp_br, r->udp_mem + (size_t)bid * r->udp_buf_size,
	                      r->udp_buf_size, (uint16_t)bid, (int)r->udp_mask, (int)r->udp_adds);
	r->refcnt[r->tcp_nbufs + bid] = 0;
	r->udp_adds++;
}

/* Frees a heap chunk (by ref); connections waiting for heap memory try again (reasm.c). */
void slc_reasm_heap_put(struct slc_reactor *r, uint32_t ref);

/* Drops n references to ref; the last one gives the memory back. */
static inline void
buf_unref(struct slc_reactor *r, uint32_t ref, uint32_t n)
{
	SLC_ASSERT(ref < r->tcp_nbufs + r->udp_nbufs + r->heap_nchunks && r->refcnt[ref] >= n);
	r->refcnt[ref] -= n;
	if (r->refcnt[ref] != 0)
		return;
	if (ref < r->tcp_nbufs) {
		tcp_buf_give(r, ref);
	} else if (ref < r->tcp_nbufs + r->udp_nbufs) {
		udp_buf_give(r, ref - r->tcp_nbufs);
	} else {
		slc_reasm_heap_put(r, ref);
	}
}

/* Registers a provided-buffer ring of entries (a power of two) as group bgid, with flags
 * (IOU_PBUF_RING_INC or 0); its memory is the caller's to free (slc_bufring_region_free).
 * NULL with *err set to -ENOMEM or the error of io_uring_register_buf_ring. */
struct io_uring_buf_ring *slc_bufring_register(struct slc_reactor *r, uint32_t entries,
                                               uint16_t bgid, uint16_t flags, size_t *len,
                                               int *err);

/* Memory for buffers and buffer rings: on the reactor's node, populated now. */
void *slc_bufring_region_alloc(struct slc_reactor *r, size_t len);
void slc_bufring_region_free(struct slc_reactor *r, void *p, size_t len);

/* Sets up both buffer rings (TCP incremental when the kernel takes it: refused names what
 * it did not, appended at *rl) and fills them. Returns 0, or -ENOMEM or the error of
 * io_uring_register_buf_ring. */
int slc_bufring_setup(struct slc_reactor *r, char *refused, size_t refused_size, size_t *rl);

/* Makes the buffers given back since the last commit visible to the kernel; twice a
 * loop, hence inline. */
static inline void
bufring_commit(struct slc_reactor *r)
{
	if (r->tcp_adds != 0) {
		io_uring_buf_ring_advance(r->tcp_br, (int)r->tcp_adds);
		r->tcp_in_ring += r->tcp_adds;
		r->tcp_adds = 0;
		r->retry = true;
	}
	if (r->udp_adds != 0) {
		io_uring_buf_ring_advance(r->udp_br, (int)r->udp_adds);
		r->udp_in_ring += r->udp_adds;
		r->udp_adds = 0;
		r->retry = true;
	}
	stat_set(&r->stats.buffers_free, r->tcp_in_ring);
}

/* ---- tenants (tenant_rt.c; the per-message part inline) ----------------------------- */

/* While connections wait for their tenants' tokens, the wait queue looks at them this
 * often: a tenant's burst should hold at least rate * RATE_POLL_NS of tokens (1/200 s)
 * for its rate to be met exactly. */
#define RATE_POLL_NS (5 * 1000000ull)

/* One tenant on one reactor: its buckets (rate / split each) and its counters. */
struct tenant_rt {
	struct slc_bucket msgs;
	struct slc_bucket bytes;
	bool limited; /* either bucket has a rate */
	uint8_t qos;  /* its QoS class's index + 1 (cfg.qos); 0: none */
	struct slc_tenant_stats st;
	/* The tenant this reactor last set the slot for ("": none since, or removed): a
	 * table's slot with another name starts over (tenant_rt.c). Off the message path. */
	char name[SLC_TENANT_NAME_LEN];
};

/* How many of the n messages at m tenant t's buckets let through now: a prefix. A bucket
 * with any token left lets the next message through whole (bucket.h: the debt). While the
 * reactor stops, none holds back what connections already received. */
static inline uint32_t
tenant_allow(struct slc_reactor *r, uint32_t t, const struct slc_msg *m, uint32_t n)
{
	struct tenant_rt *tr = &r->tenant[t];
	double mt, bt;
	uint32_t k = 0;

	if (!tr->limited || r->stopping)
		return n;
	slc_bucket_refill(&tr->msgs, r->now_ns);
	slc_bucket_refill(&tr->bytes, r->now_ns);
	mt = slc_bucket_avail(&tr->msgs);
	bt = slc_bucket_avail(&tr->bytes);
	for (; k < n && mt > 0 && bt > 0; k++) {
		mt -= 1;
		bt -= m[k].len;
	}
	return k;
}

/* n messages at m of tenant t were taken: they pay their tokens. */
static inline void
tenant_took(struct slc_reactor *r, uint32_t t, const struct slc_msg *m, uint32_t n)
{
	struct tenant_rt *tr = &r->tenant[t];

	stat_add(&tr->st.msgs, n);
	if (!tr->limited || r->stopping)
		return;
	slc_bucket_take(&tr->msgs, n);
	if (slc_bucket_limited(&tr->bytes)) {
		uint64_t b = 0;

		for (uint32_t i = 0; i < n; i++)
			b += m[i].len;
		slc_bucket_take(&tr->bytes, (double)b);
	}
}

/* c's tenant's buckets (bucket) or its QoS class held back some of what it offered: it
 * waits (the caller pauses it); the wait queue looks at it every RATE_POLL_NS. */
static inline void
conn_rate_wait(struct slc_reactor *r, struct conn *c, bool bucket)
{
	if (c->rate_wait)
		return;
	c->rate_wait = true;
	c->rate_since_ns = r->now_ns;
	r->rate_waiters++;
	if (bucket)
		stat_add(&r->tenant[c->tenant].st.rate_pauses, 1);
}

/* c stops waiting for tokens (they came back, or it closes). */
static inline void
conn_rate_done(struct slc_reactor *r, struct conn *c)
{
	if (!c->rate_wait)
		return;
	c->rate_wait = false;
	r->rate_waiters--;
	stat_add(&r->tenant[c->tenant].st.rate_paused_ns, r->now_ns - c->rate_since_ns);
}

/* Whether c's tenant has tokens again (both buckets). */
static inline bool
conn_rate_ready(struct slc_reactor *r, const struct conn *c)
{
	struct tenant_rt *tr = &r->tenant[c->tenant];

	if (r->stopping)
		return true;
	slc_bucket_refill(&tr->msgs, r->now_ns);
	slc_bucket_refill(&tr->bytes, r->now_ns);
	return slc_bucket_avail(&tr->msgs) > 0 && slc_bucket_avail(&tr->bytes) > 0 &&
	       (tr->qos == 0 || slc_qos_room(r->cfg.qos, tr->qos - 1u, r->now_ns) > 0);
}

/* How many of the offer messages at m c's tenant lets through now (all without a tenant):
 * its buckets, then its QoS class's room (qos.h), whose bits go into the messages' conn
 * for the workers. When either holds some back, c waits (the caller pauses it: nothing is
 * dropped, TCP flow control pushes back), counted against the one that did. */
static inline uint32_t
conn_tenant_offer(struct slc_reactor *r, struct conn *c, struct slc_msg *m, uint32_t offer)
{
	struct tenant_rt *tr;
	uint32_t allow, room;

	if (c->tenant == SLC_TENANT_NONE)
		return offer;
	tr = &r->tenant[c->tenant];
	allow = tenant_allow(r, c->tenant, m, offer);
	if (allow < offer)
		conn_rate_wait(r, c, true);
	/* Set, not OR'ed: a held message (or pending record) offered again after a reload
	 * moved its tenant carries the bits of the class it was first offered under. */
	for (uint32_t i = 0; i < allow; i++)
		m[i].conn = (m[i].conn & ~SLC_MSG_CONN_QOS_MASK) |
		            (uint32_t)tr->qos << SLC_MSG_CONN_QOS_SHIFT;
	if (tr->qos == 0)
		return allow;
	room = r->stopping ? UINT32_MAX : slc_qos_room(r->cfg.qos, tr->qos - 1u, r->now_ns);
	if (room < allow) {
		allow = room;
		if (!c->rate_wait)
			atomic_fetch_add_explicit(&r->cfg.qos->c[tr->qos - 1u].held, 1,
			                          memory_order_relaxed);
		conn_rate_wait(r, c, false);
	}
	return allow;
}

static inline void
conn_tenant_took(struct slc_reactor *r, const struct conn *c, const struct slc_msg *m, uint32_t n)
{
	if (c->tenant == SLC_TENANT_NONE)
		return;
	tenant_took(r, c->tenant, m, n);
	if (r->tenant[c->tenant].qos != 0)
		slc_qos_took(r->cfg.qos, r->tenant[c->tenant].qos - 1u, n, r->now_ns);
}

/* Sets up r->tenant from cfg.tenants (none: NULL) and the UDP listeners' tenant arrays.
 * 0 or -ENOMEM; slc_tenant_rt_free undoes it (also after a failure). */
int slc_tenant_rt_init(struct slc_reactor *r);
void slc_tenant_rt_free(struct slc_reactor *r);
/* At accept: the tenant of the peer at sa on listener li, SLC_TENANT_NONE when the table
 * refuses it (counted and logged here: the caller closes it), or SLC_TENANT_LATER on a
 * tls:// listener where the client certificate may decide (slc_tenant_rt_handshake). */
uint32_t slc_tenant_rt_accept(struct slc_reactor *r, uint32_t li, const struct sockaddr *sa,
                              socklen_t salen, const char *peer);
/* A datagram of len bytes from sa on listener l: its tenant, or SLC_TENANT_NONE when it
 * must be dropped (no tenant, or over its buckets: counted and logged here). */
uint32_t slc_tenant_rt_datagram(struct slc_reactor *r, struct listener *l,
                                const struct sockaddr *sa, socklen_t salen, uint32_t len);
/* A tls:// connection accepted with SLC_TENANT_LATER, its handshake done: its tenant by
 * its address and its verified certificate's subject (RFC 2253, NULL: no certificate) and
 * names (the CN, the SAN DNS names), set in c->tenant and counted; false when the table
 * refuses it (counted and logged here: the caller closes it). Before any of its bytes is
 * delivered, so its buckets and QoS class are its tenant's from the first. */
bool slc_tenant_rt_handshake(struct slc_reactor *r, struct conn *c, const char *subject,
                             const char *const *names, uint32_t nnames);
/* Once a loop: a table from slc_reactor_tenants_set, if one came, applied. */
void slc_tenant_rt_take(struct slc_reactor *r);
/* After deliver took n of a UDP listener's batch: each one's tenant counts it. */
void slc_tenant_rt_udp_taken(struct slc_reactor *r, const struct listener *l, uint32_t n);

/* ---- connections (conn.c) ----------------------------------------------------------- */

/* Paused and starved connections wait in r->waitq, in order, until buffers or room come
 * back. */
static inline void
conn_waitq_push(struct slc_reactor *r, struct conn *c)
{
	if (c->in_waitq)
		return;
	c->in_waitq = true;
	r->waitq[r->waitq_tail++ & r->waitq_mask] = (uint32_t)(c - r->conns);
}

bool slc_http_conn_mid_request(const struct conn *c);

/* Why a peer's EOF closes c: inside a frame (or an HTTP request), or after whole ones. */
static inline enum slc_close_reason
conn_eof_reason(const struct conn *c)
{
	return slc_frame_parser_mid_frame(&c->parser) || c->reasm != NONE ||
	                       slc_http_conn_mid_request(c)
	               ? SLC_CLOSE_EOF_MIDFRAME
	               : SLC_CLOSE_EOF;
}

/* Arms c's multishot receive when it is receiving and buffers are there; else queues it
 * as starved. */
void slc_conn_arm(struct slc_reactor *r, struct conn *c);
void slc_conn_cancel_recv(struct slc_reactor *r, struct conn *c);
/* Pauses c (its receive cancelled: TCP flow control takes over) and queues it. */
void slc_conn_pause(struct slc_reactor *r, struct conn *c);
/* Closes c, counted under why: what it received but did not deliver is lost. */
void slc_conn_close(struct slc_reactor *r, struct conn *c, enum slc_close_reason why);
/* The socket is closed once no receive and no send is in flight; the slot is free once no
 * frame of it is with the workers either. */
void slc_conn_finalize(struct slc_reactor *r, struct conn *c);
void slc_conn_free_slot(struct slc_reactor *r, struct conn *c);
/* Received bytes could not be kept (pending records at their bound): closed, logged. */
void slc_conn_keep_failed(struct slc_reactor *r, struct conn *c);
/* The peer is done (EOF or error): close now, or once what it sent is delivered. */
void slc_conn_peer_done(struct slc_reactor *r, struct conn *c, enum slc_close_reason why);

/* A send of c's is in flight (an ack's, or TLS output's): the socket stays open. */
static inline bool
conn_sending(const struct conn *c)
{
	return (c->ack != NULL && c->ack->sending) || (c->tls != NULL && c->tls->sending);
}

/* ---- tls:// connections (tls.c) ------------------------------------------------------ */

/* ---- the sessions' ciphertext buffers (tls_bio.c) ---- */

/* Makes the BIO method, once per process (the server context's creation calls it). */
void slc_tls_bio_init(void);
/* A ciphertext buffer whose bytes are counted in *held; NULL when out of memory. */
struct bio_st *slc_tls_bio_new(uint64_t *held);
/* Gives an empty buffer's memory back (the next write allocates again): true if it had
 * any. False, and nothing changes, while ciphertext waits in it. */
bool slc_tls_bio_shrink(struct bio_st *b);
/* Room for n more bytes at once (pinned pieces going in together: one realloc, not one
 * per piece). False when out of memory (nothing changes). */
bool slc_tls_bio_reserve(struct bio_st *b, size_t n);

/* A session that received nothing for this long gives its ciphertext buffer back (tls.c,
 * once a second). */
#define TLS_IDLE_NS 1000000000ull

/* Whether the tick must run while the reactor is otherwise idle: buffers are held and
 * their sessions received lately, so that the passes that give them back come (three
 * idle periods cover two passes). After that an idle reactor sleeps untimed again. */
static inline bool
tls_cipher_to_shrink(const struct slc_reactor *r)
{
	return r->tls_cipher_held != 0 && r->now_ns - r->tls_rx_ns < 3 * TLS_IDLE_NS;
}

/* ---- handshake slots per source (tls_cap.c) ---- */

/* The per-source counts, sized for min(--tls-max-handshakes, nconns). 0 or -ENOMEM. */
int slc_tls_cap_create(struct slc_reactor *r);
void slc_tls_cap_destroy(struct slc_reactor *r);
/* A handshake slot for t, from source sa: true, or false with *ref (SLC_TLS_REF_SOURCE_CAP:
 * its source holds --tls-max-handshakes-per-source; SLC_TLS_REF_OVER_CAP: the reactor
 * holds --tls-max-handshakes) and the detail in why. */
bool slc_tls_cap_take(struct slc_reactor *r, struct tls_conn *t, const struct sockaddr *sa,
                      enum slc_tls_refusal *ref, char *why, size_t len);
/* The handshake ended (done, refused or closed): t's slot goes back to its source. */
void slc_tls_cap_put(struct slc_reactor *r, struct tls_conn *t);

/* A new connection of a tls:// listener from sa: its session, or closed (over the
 * handshake cap or its source's share of it, no memory). False when it was closed.
 * tenant_later: its tenant is decided when the handshake is done
 * (slc_tenant_rt_handshake). */
bool slc_tls_conn_start(struct slc_reactor *r, struct conn *c, const struct sockaddr *sa,
                        bool tenant_later);
/* Ciphertext the receive brought: kept for slc_tls_pump. */
void slc_tls_on_cipher(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off,
                       uint32_t len);
/* c starts waiting for heap memory: its pinned ciphertext goes into its session's buffer,
 * the receive buffers released. False when that buffer could not grow (the pieces are
 * released anyway: the caller closes c). */
bool slc_tls_pins_release(struct slc_reactor *r, struct conn *c);
/* Drives the handshake, then decrypts into heap chunks and hands them to the framing
 * path while c is receiving; queues what OpenSSL has to send. */
void slc_tls_pump(struct slc_reactor *r, struct conn *c);
/* c is closing on a TLS refusal with a send in flight: the send (and what the session
 * wrote after it: the alert) goes out before the socket closes, for at most 1 s. */
void slc_tls_linger(struct slc_reactor *r, struct conn *c);
/* Plaintext to send (acks): written through the session, queued as sends. */
void slc_tls_write(struct slc_reactor *r, struct conn *c, const uint8_t *p, uint32_t len);
/* c is closing (why): counted, the handshake slot given back. */
void slc_tls_conn_closing(struct slc_reactor *r, struct conn *c, enum slc_close_reason why);
/* c's socket is closed: the session freed. */
void slc_tls_conn_end(struct slc_reactor *r, struct conn *c);
void slc_tls_cancel_send(struct slc_reactor *r, struct conn *c);
void slc_tls_on_send(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t idx);
/* Once a loop: a context from slc_reactor_tls_ctx_set; once a tick: handshake timeouts. */
void slc_tls_ctx_take(struct slc_reactor *r);
void slc_tls_tick(struct slc_reactor *r);

/* loop.c's entry for decrypted bytes: the same path as a receive buffer's, not counted
 * again in the listener's bytes (slc_tls_on_cipher counted their ciphertext). */
void slc_conn_data(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len);

/* ---- acknowledged delivery on the wire (conn_ack.c) --------------------------------- */

/* The connection's ack state moved: look at it once this loop (slc_conn_ack_queue_run). */
static inline void
conn_ack_queue_push(struct slc_reactor *r, struct conn *c)
{
	if (c->ack->in_q)
		return;
	c->ack->in_q = true;
	r->ack_queue[r->ack_queue_len++] = (uint32_t)(c - r->conns);
}

/* A new connection: its window reset, the greeting sent. */
void slc_conn_ack_greet(struct slc_reactor *r, struct conn *c);
/* framing=forward: a new connection's ack state (no greeting: the client speaks first). */
void slc_conn_ack_fwd_init(struct conn *c);
/* framing=forward: the message whose chunk is in c->ack->chunk ended, its entries handed
 * over: acknowledges it now if none is in flight (true), or sets the fence (false), which
 * the caller then pauses the connection for; it is resumed once the ack goes out. */
bool slc_conn_ack_fwd_fence(struct slc_reactor *r, struct conn *c);
/* framing=forward: a piece that is no message (frame.h): true at a chunk's message end. */
bool slc_conn_ack_fwd_piece(struct conn *c, const uint8_t *chunk, const struct slc_frame_piece *p);
/* framing=forward with --key forward:tag, a TAG piece at message nmsg of the burst: the
 * burst's messages from `from` on get the tag before it; returns nmsg, the new `from`. */
uint32_t slc_conn_ack_fwd_tag(struct slc_reactor *r, struct conn *c, const uint8_t *chunk,
                              const struct slc_frame_piece *p, uint32_t from, uint32_t nmsg);
/* The burst is rewound to the message whose key hash is hash: the tag as of there. */
void slc_conn_ack_fwd_tag_at(struct conn *c, uint32_t hash);
void slc_conn_ack_cancel_send(struct slc_reactor *r, struct conn *c);
/* A frame broke the protocol: counted, logged, the connection closed. */
void slc_conn_ack_violation(struct slc_reactor *r, struct conn *c, enum slc_ack_error e,
                            uint64_t seq);
/* Frames seq .. seq+count-1 of connection id came back from the workers. */
void slc_conn_ack_apply(struct slc_reactor *r, uint32_t id, uint64_t seq, uint32_t count,
                        bool durable);
/* Once per loop: acknowledge what became contiguous, close what the sink failed. */
void slc_conn_ack_queue_run(struct slc_reactor *r);
/* The completion of the greeting's or an ack's send. */
void slc_conn_ack_on_send(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t idx);
/* Over TLS: the session's output that carried c's ack went out (slc_tls_on_send). */
void slc_conn_ack_tls_sent(struct slc_reactor *r, struct conn *c);

/* ---- framing=forward's compressed bins (fwd_gzip.c) ------------------------------- */

/* What a GZIP piece did (slc_fwd_gzip_piece), and so what conn_parse does next. */
enum {
	SLC_FWD_GZ_GO,     /* gathered, or the bin inflated to nothing: parse on */
	SLC_FWD_GZ_WAIT,   /* no memory: wait (heap_wait set), paused at this piece */
	SLC_FWD_GZ_QUEUED, /* inflated: the connection waits its turn (paused, queued) with the
	                      inflated bytes, then the rest of the chunk, in front of its
	                      pending bytes: everything of the chunk is kept */
	SLC_FWD_GZ_CLOSED, /* refused (forward_gzip, forward_inflated): logged, counted, closed */
};

/* Heap chunk ids kept for inflated bins: each takes at least 1/this of HEAP_INFLATE's
 * budget, so that they never hold more ids than this (and the other kinds keep theirs). */
#define SLC_FWD_INFLATE_CHUNKS 1024u

/* The largest a compressed bin may inflate to: cfg.fwd_max_inflated or its default. */
uint32_t slc_fwd_gzip_max(const struct slc_reactor *r);

/*
 * A GZIP or GZIP_END piece p of c's chunk (ref, off, len: the chunk conn_parse reads;
 * pos: where its burst stopped, after p), which conn_parse hands over with no message of
 * the burst before it. Returns SLC_FWD_GZ_*.
 */
int slc_fwd_gzip_piece(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off,
                       uint32_t len, const struct slc_frame_piece *p, uint32_t pos);

/* The reactor's inflater and scratch go (reactor destroy). */
void slc_fwd_gzip_destroy(struct slc_reactor *r);

/* ---- heap memory: reassembly, stash, pending chunks (reasm.c) ----------------------- */

/* A heap chunk of cap bytes of the kind's budget, as a ref, or NONE. */
uint32_t slc_reasm_heap_get(struct slc_reactor *r, uint32_t cap, int kind);
/* Gives up the partial frame c was reassembling. */
void slc_reasm_drop(struct slc_reactor *r, struct conn *c);
/* c's frame starts with a piece of len bytes that straddles buffers: its chunk (c->reasm),
 * for exactly total bytes when the frame is counted (total != 0), else for an LF frame
 * that grows. False when there is no room: c waits. */
bool slc_reasm_start(struct slc_reactor *r, struct conn *c, uint32_t len, uint32_t total);
/* c's partial frame needs need bytes (at most max_frame + 1): its chunk moves into one
 * twice as large, or large enough, or the reserve. False when there is no room: c waits,
 * keeping what it has. */
bool slc_reasm_grow(struct slc_reactor *r, struct conn *c, uint32_t need);
/* c starts (on) or stops waiting for reassembly memory; every turn, hence inline. */
static inline void
reasm_wait_set(struct slc_reactor *r, struct conn *c, bool on)
{
	if (c->heap_wait == on)
		return;
	c->heap_wait = on;
	r->heap_waiters += on ? 1 : (uint32_t)-1;
	stat_set(&r->stats.heap_waiting, r->heap_waiters);
}
/* Keeps len unparsed bytes of c at ref + off (at the front of its list if front). False
 * only when no pending record is left: the caller closes the connection. */
bool slc_reasm_pend_push(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off,
                         uint32_t len, bool front);
void slc_reasm_pend_drop_all(struct slc_reactor *r, struct conn *c);
/* c starts waiting for reassembly memory: what it holds of receive buffers moves to the
 * stash (a tls:// session's pinned ciphertext: into its own buffer). False when no pending
 * record is left, or the session's buffer could not grow. */
bool slc_reasm_unpin(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off,
                     uint32_t len);
/* Once a tick while connections wait for heap memory: evicts idle partial frames. */
void slc_reasm_evict_idle(struct slc_reactor *r);

/* ---- the receive path's start-up check (selfcheck.c) ---------------------------------- */

/* Before the TCP buffer ring is set up: a loopback transfer through receive bundles and
 * incremental buffers; one that garbles it is switched off (logged, and named in refused
 * at *rl). 0, or -EIO when even plain buffers garble it. */
int slc_selfcheck(struct slc_reactor *r, char *refused, size_t refused_size, size_t *rl);

/* ---- OTLP/HTTP connections (http_conn.c) ------------------------------------------- */

/* The per-connection records and the inflater, when a listener is http://. 0 or -ENOMEM. */
int slc_http_conns_create(struct slc_reactor *r);
void slc_http_conns_destroy(struct slc_reactor *r);
/* A new connection of an http:// listener: its request state reset. */
void slc_http_conn_start(struct slc_reactor *r, struct conn *c);
/* conn_parse for an http:// connection, with its contract: requests gathered (copied out
 * of the chunk), decoded, their records delivered and answered, or refused and the
 * connection closed. NONE when the whole chunk was taken (or c closed), else the offset
 * to resume at: c paused with records of a request still to deliver. */
uint32_t slc_http_conn_parse(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off,
                             uint32_t len);
/* A paused http:// connection's turn: the rest of its request's records. 0 when they are
 * all delivered (and answered), 1 when it paused again, 2 when c was closed. */
int slc_http_conn_resume(struct slc_reactor *r, struct conn *c);
/* slc_http_conn_mid_request (above, with conn_eof_reason): whether c is inside a request. */
/* Whether c is gathering a request's head or body into a heap chunk (*bytes: its size):
 * the idle timeout's stuck rule and --evict-idle treat it as a frame being reassembled. */
bool slc_http_conn_gathering(const struct conn *c, uint32_t *bytes);

/* Whether an http:// request found no heap memory lately (twice --evict-idle): such
 * requests are answered 503, not made to wait, so the tick (and the loop's timed wait
 * that runs it) looks at idle requests holding memory as heap waiters would make it. */
static inline bool
http_short_of_memory(const struct slc_reactor *r)
{
	return r->http_conns != NULL &&
	       r->now_ns - r->http_starved_ns < 2 * (uint64_t)r->cfg.evict_idle_ms * 1000000ull;
}
/* The connection closes: the request it was gathering is dropped. */
void slc_http_conn_drop(struct slc_reactor *r, struct conn *c);

/* ---- listeners (listen.c) ----------------------------------------------------------- */

/* Opens, binds (SO_REUSEPORT) and listens. Returns 0 or -errno. */
int slc_listener_open(struct listener *l);
/* Arms listener i's multishot accept (TCP) or recvmsg (UDP, when buffers are there). */
void slc_listener_arm(struct slc_reactor *r, uint32_t i);
/* An accept completion: a new connection, or why not. */
void slc_listener_on_accept(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t li);

/* ---- the loop (loop.c) -------------------------------------------------------------- */

/* Hands the datagrams a listener gathered to the pools; what they refuse is dropped and
 * counted (datagrams have no flow control). */
void slc_udp_flush(struct slc_reactor *r, struct listener *l);

/* ---- the stop (reactor.c), once a loop while stopping ------------------------------- */

/* Stops accepting and receiving: cancels the listeners' and connections' operations. */
void slc_reactor_begin_stop(struct slc_reactor *r);
/* True once nothing is in flight and nothing received waits to be delivered (or the
 * drain deadline passed). */
bool slc_reactor_stop_done(struct slc_reactor *r);

/* ---- buffers and acks coming back (release.c), once a loop ------------------------- */

/* Drains the release ring into the buffer references: true when it took any. */
bool slc_release_drain(struct slc_reactor *r);
/* Drains the ack ring into the connections' windows: true when it took any. */
bool slc_ack_drain(struct slc_reactor *r);

/* Keeps a read on the wake-up eventfd in flight: a write to it ends the loop's wait. */
static inline void
wake_arm(struct slc_reactor *r)
{
	struct io_uring_sqe *sqe = reactor_sqe(r);

	io_uring_prep_read(sqe, r->wake_fd, &r->wake_buf, sizeof(r->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_WAKE, 0, 0));
}

/* Runs the loop until slc_reactor_stop, then closes every connection. */
void slc_reactor_loop(struct slc_reactor *r);

/* Every TICK_NS: timeouts, listeners to arm again, eviction, the counters it copies in
 * (reactor.c). */
void slc_reactor_tick(struct slc_reactor *r);

#endif /* SLC_URING_REACTOR_PRIV_H */
