/* SPDX-License-Identifier: MIT */
/* reactor.c: the io_uring receive loop: accept, receive into buffer rings, frame, deliver, release. */
#include "reactor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <linux/sock_diag.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "numa.h"
#include "ring.h"

/* ---- constants ---------------------------------------------------------------------- */

#define NONE           UINT32_MAX
#define BATCH          64  /* frame pieces parsed, and messages offered, per call */
#define UDP_BATCH      256 /* datagrams offered per call */
#define REL_BURST      256 /* release entries drained per ring operation */
#define TICK_NS        (100 * 1000000ull)
#define ACCEPT_BACKOFF (100 * 1000000ull) /* after EMFILE and friends */
#define LOG_PER_SEC    5
/* Copied-out bytes of paused connections go into heap chunks of at least this size, so
 * that a connection whose client writes a few bytes at a time appends to one chunk, yet
 * thousands of paused connections with a few bytes each fit in a small stash. */
#define STASH_CHUNK 256
/* Smallest heap chunk: sizes the table of heap chunk ids (budget / this). */
#define HEAP_CHUNK_MIN STASH_CHUNK
/* Free chunks of max_frame + 1 bytes kept for reuse rather than freed. */
#define HEAP_CACHE 16
/* While connections wait for reassembly memory, a partial frame whose peer sent nothing
 * for this long is evicted (closed, counted) to make room. */
#define EVICT_IDLE_NS (1000 * 1000000ull)
/* While completions keep coming, wait for a batch of them (or a short timeout) rather than
 * for one: with DEFER_TASKRUN the kernel then runs the receives and wakes the reactor once
 * per batch. Measured (bench_reactor, this machine, same session): UDP receive cost fell
 * from ~1900 to ~600-900 ns per datagram, and 4 TCP connections went from 14.6-16.3 to
 * 19.0-20.2 M lines/s. The price is up to WAIT_BATCH_NS of added latency while traffic is
 * light; once a wait ends with nothing, the reactor sleeps without a timeout again. */
#define WAIT_BATCH    32
#define WAIT_BATCH_NS (50 * 1000ll)
/* Messages a paused connection may deliver in one turn of the wait queue (waitq_run):
 * one burst, so that room which comes back in large amounts is still shared out. */
#define TURN_MSGS BATCH

/* What a CQE is about: the top byte of user_data. */
enum {
	UD_ACCEPT = 1,
	UD_RECV,
	UD_UDP,
	UD_WAKE,
	UD_IGNORE,
	UD_ACK_SEND,
};

static inline uint64_t
ud_make(uint32_t type, uint32_t idx, uint32_t gen)
{
	return (uint64_t)type << 56 | (uint64_t)(gen & 0xffffffu) << 32 | idx;
}

/* Rate-limited log kinds. */
enum {
	LOGK_ACCEPT,
	LOGK_REFUSED,
	LOGK_FRAMING,
	LOGK_UDP,
	LOGK_CLOSE,
	LOGK_ACK,
	LOGK_OTHER,
	LOGK__COUNT
};

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
	uint32_t next;
};

/*
 * Acknowledged delivery state of one connection (reactor.h has the picture). Frames
 * [base, next) have been checked and handed on; bit (s & (W - 1)) of bits says that frame
 * s among them is done (durable). Since next - base <= W, each bit stands for one frame.
 * sent <= base - 1 is the last acknowledgement put on the wire.
 */
struct ack_conn {
	uint64_t base;
	uint64_t next;
	uint64_t sent;
	uint64_t *bits;
	uint32_t inflight; /* messages offered and taken, not yet back through slc_reactor_ack */
	uint8_t buf[16];   /* what the send in flight carries: the greeting or an ack */
	uint8_t off, len;  /* of buf: sent so far, to send */
	bool started;      /* the first frame came: base, next and sent are set */
	bool spent;        /* frame 2^64 - 1 came: sequence numbers never wrap */
	bool sending;      /* a send is in flight (at most one) */
	bool failed;       /* frames came back not durable: close at the next ackq_run */
	bool in_q;         /* in r->ackq */
};

struct conn {
	int fd;
	uint32_t gen;
	uint16_t listener;
	uint8_t state;
	bool armed;     /* a multishot recv is in flight */
	bool cancelled; /* a cancel for it is in flight */
	bool starved;   /* waiting for buffers before it is armed again */
	bool in_waitq;
	bool turn_done; /* waitq_run: it used a whole turn, and goes to the back */
	bool peer_done; /* EOF or error seen while received bytes wait: close once delivered */
	uint8_t done_reason;
	bool has_held;  /* a reassembled message not yet taken */
	bool heap_wait; /* paused until heap memory for a partial frame frees up */
	struct slc_frame_parser parser;
	uint32_t reasm; /* heap chunk the frame that straddles is copied into, or NONE */
	uint32_t reasm_len;
	uint64_t reasm_rx_ns; /* when bytes of that frame last arrived: eviction's measure */
	uint32_t reasm_piece; /* burst-local index of the piece that began it (for rewinds) */
	uint32_t credit;      /* messages left of a turn that a full pool cut short; 0: none */
	uint32_t pend_head;
	uint32_t pend_tail;
	uint64_t last_rx_ns;
	uint64_t frame_end_ns; /* when a frame last ended (or accept): the idle timeout's
	                          measure of a frame kept open by dribbling */
	struct slc_msg held;
	struct ack_conn *ack; /* NULL unless the listener has acks */
	char peer[INET6_ADDRSTRLEN + 8];
};

struct lst {
	struct slc_listener_cfg cfg;
	int fd;
	uint16_t port;
	bool armed;
	bool starved; /* UDP: waiting for buffers */
	uint64_t rearm_at_ns;
	struct slc_listener_stats st;
	struct slc_msg *udp_batch; /* UDP only */
	uint32_t udp_n;
};

/* A heap chunk: mem holds cap bytes, of which fill are written (the stash appends there). */
enum { HEAP_REASM, HEAP_STASH };

struct heap_chunk {
	uint8_t *mem;
	uint32_t cap;
	uint32_t fill;
	uint8_t kind; /* HEAP_REASM or HEAP_STASH: whose budget it counts against */
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

struct slc_reactor {
	struct slc_reactor_cfg cfg;
	struct io_uring ring;
	bool ring_ok;
	uint32_t features;
	char features_str[512];

	pthread_t thread;
	bool thread_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int init_rc; /* 1 while the thread sets up, then 0 or -errno */
	bool go;
	_Atomic bool stop_req;
	uint32_t drain_ms;
	bool stopping;
	uint64_t drain_deadline_ns;

	struct lst *lst;
	uint32_t nlst;

	/* TCP buffers: group 0. */
	uint8_t *tcp_mem;
	size_t tcp_mem_len;
	struct io_uring_buf_ring *tcp_br;
	size_t tcp_br_len;
	uint32_t nb, bsz, tcp_mask, tcp_adds, tcp_in_ring, tcp_wm;
	uint32_t *kern_off; /* per bid: bytes the kernel has filled (incremental mode) */
	uint16_t *ring_bid; /* per ring entry: the bid we put there */
	uint16_t *entry_of; /* per bid: the ring entry it sits in */

	/* UDP buffers: group 1. */
	uint8_t *udp_mem;
	size_t udp_mem_len;
	struct io_uring_buf_ring *udp_br;
	size_t udp_br_len;
	uint32_t nu, ubsz, udp_mask, udp_adds, udp_in_ring;
	struct msghdr udp_mh;

	/*
	 * Heap chunks, refs nb + nu .. nb + nu + nr - 1, allocated when needed:
	 *   reassembly  a frame that straddles receive buffers is copied into one, within
	 *               budget[HEAP_REASM] bytes; a connection that finds no room waits
	 *               (heap_wait), paused at the frame's start;
	 *   stash       unparsed bytes of paused connections, copied out of the receive
	 *               buffers, within budget[HEAP_STASH]: always those of a connection
	 *               that waits for reassembly memory (so that waiting never holds the
	 *               receive buffers that the frames it waits for need), and small pieces
	 *               of other paused connections while the stash is less than half used.
	 */
	struct heap_chunk *heap;
	uint32_t nr;
	uint32_t *heap_free;
	uint32_t heap_nfree;
	uint64_t heap_budget[2], heap_used[2];
	uint32_t heap_waiters; /* connections with heap_wait */
	uint64_t dry_since_ns; /* TCP buffers below the watermark since (heap_evict_idle) */
	uint32_t stash_max;    /* pieces up to this many bytes are copied out opportunistically */
	/* Free chunks of max_frame + 1 bytes kept for the next LF frame (not in heap_used):
	 * what the fixed reassembly buffers of earlier versions cost, without their limit. */
	uint8_t *heap_cache[HEAP_CACHE];
	uint32_t heap_ncached;

	uint32_t *refcnt; /* nb + nu + nr: messages, pending chunks and the kernel's hold */

	struct pend *pend;
	uint32_t npend, npend_max, pend_free;

	struct conn *conns;
	uint32_t nconns;
	uint32_t *conn_free;
	uint32_t conn_nfree;
	uint32_t *waitq;
	uint32_t *wq_spare; /* waitq_run's scratch: those whose turn is over */
	uint32_t wq_mask, wq_head, wq_tail;
	/* Messages the connection whose turn it is may still deliver (waitq_run); NONE
	 * outside a turn: a receiving connection's bytes are not limited. */
	uint32_t turn_left;

	struct slc_ring_mpsc *rel;
	size_t rel_len;
	int wake_fd;
	uint64_t wake_buf;
	_Atomic uint32_t sleeping;
	_Atomic uint32_t kicked;
	/* Set when the loop has ended: releases after that are no-ops (nothing reuses the
	 * buffers any more, and nothing would empty the release ring). */
	_Atomic bool loop_done;
	_Atomic uint64_t cpu_ns; /* the thread's CPU time, published every tick */
	bool retry;

	/* Acknowledged delivery: allocated only when a listener has acks (ackr != NULL). */
	struct ack_conn *ackc; /* [nconns] */
	uint64_t *ack_bits;    /* [nconns * ack_words] */
	uint32_t ack_w, ack_words;
	struct slc_ring_mpsc *ackr; /* completions from workers (slc_reactor_ack) */
	size_t ackr_len;
	uint32_t *ackq; /* connections whose ack state moved, to look at once per loop */
	uint32_t ackq_n;

	uint64_t now_ns;
	uint64_t next_tick_ns;
	uint32_t last_cqes; /* completions the last loop handled */
	struct slc_msg batch[BATCH];
	uint32_t batch_piece[BATCH];
	struct slc_frame_piece pieces[BATCH];
	struct slc_reactor_stats st;
	uint64_t log_window_ns[LOGK__COUNT];
	uint32_t log_count[LOGK__COUNT];
	uint32_t log_suppressed[LOGK__COUNT];
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

const char *
slc_close_reason_str(enum slc_close_reason r)
{
	static const char *const names[SLC_CLOSE__COUNT] = {
	        [SLC_CLOSE_EOF] = "eof",           [SLC_CLOSE_EOF_MIDFRAME] = "eof_midframe",
	        [SLC_CLOSE_RESET] = "reset",       [SLC_CLOSE_FRAMING] = "framing",
	        [SLC_CLOSE_IDLE] = "idle",         [SLC_CLOSE_SHUTDOWN] = "shutdown",
	        [SLC_CLOSE_PROTOCOL] = "protocol", [SLC_CLOSE_NOT_DURABLE] = "not_durable",
	        [SLC_CLOSE_EVICTED] = "evicted",   [SLC_CLOSE_NO_MEMORY] = "no_memory",
	};

	return (unsigned)r < SLC_CLOSE__COUNT ? names[r] : "unknown";
}

const char *
slc_udp_drop_str(enum slc_udp_drop d)
{
	static const char *const names[SLC_UDP_DROP__COUNT] = {
	        [SLC_UDP_DROP_OVERSIZE] = "oversize",
	        [SLC_UDP_DROP_POOLS_FULL] = "pools_full",
	        [SLC_UDP_DROP_MALFORMED] = "malformed",
	};

	return (unsigned)d < SLC_UDP_DROP__COUNT ? names[d] : "unknown";
}

const char *
slc_ack_error_str(enum slc_ack_error e)
{
	static const char *const names[SLC_ACK_ERR__COUNT] = {
	        [SLC_ACK_ERR_SHORT] = "short",   [SLC_ACK_ERR_ZERO] = "zero",
	        [SLC_ACK_ERR_GAP] = "gap",       [SLC_ACK_ERR_REPEAT] = "repeat",
	        [SLC_ACK_ERR_WINDOW] = "window", [SLC_ACK_ERR_WRAP] = "wrap",
	};

	return (unsigned)e < SLC_ACK_ERR__COUNT ? names[e] : "unknown";
}

static void __attribute__((format(printf, 3, 4)))
default_log(void *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)level;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void rlog(struct slc_reactor *r, int kind, int level, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* At most LOG_PER_SEC lines a second of each kind; the next line says how many were not
 * written. */
static void
rlog(struct slc_reactor *r, int kind, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (r->now_ns - r->log_window_ns[kind] >= 1000000000ull) {
		r->log_window_ns[kind] = r->now_ns;
		r->log_count[kind] = 0;
	}
	if (++r->log_count[kind] > LOG_PER_SEC) {
		r->log_suppressed[kind]++;
		return;
	}
	n = snprintf(line, sizeof(line), "reactor %u: ", r->cfg.id);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (r->log_suppressed[kind] != 0) {
		size_t len = strlen(line);

		snprintf(line + len, sizeof(line) - len, " (%u similar lines suppressed)",
		         r->log_suppressed[kind]);
		r->log_suppressed[kind] = 0;
	}
	r->cfg.log(r->cfg.log_ctx, level, "%s", line);
}

static void *
region_alloc(struct slc_reactor *r, size_t len)
{
	void *p;

	if (r->cfg.topo != NULL)
		return slc_numa_alloc_onnode(r->cfg.topo, len, r->cfg.node);
	/* Populated now: a first-touch fault inside the kernel's copy into a receive buffer
	 * costs far more than this, and would land in the first seconds of traffic. */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
	         0);
	return p == MAP_FAILED ? NULL : p;
}

static void
region_free(struct slc_reactor *r, void *p, size_t len)
{
	if (p == NULL)
		return;
	if (r->cfg.topo != NULL)
		slc_numa_free(r->cfg.topo, p, len);
	else
		munmap(p, len);
}

static struct io_uring_sqe *
get_sqe(struct slc_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (sqe == NULL) {
		/* SQ full: hand what we have to the kernel and take a fresh slot. */
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

/* ---- buffers ------------------------------------------------------------------------ */

static inline uint8_t *
ref_ptr(const struct slc_reactor *r, uint32_t ref)
{
	if (ref < r->nb)
		return r->tcp_mem + (size_t)ref * r->bsz;
	if (ref < r->nb + r->nu)
		return r->udp_mem + (size_t)(ref - r->nb) * r->ubsz;
	return r->heap[ref - r->nb - r->nu].mem;
}

static inline bool
ref_is_heap(const struct slc_reactor *r, uint32_t ref)
{
	return ref >= r->nb + r->nu;
}

static void
heap_stat(struct slc_reactor *r)
{
	stat_set(&r->st.heap_bytes, r->heap_used[HEAP_REASM] + r->heap_used[HEAP_STASH]);
}

/* A heap chunk of cap bytes of the kind's budget, as a ref, or NONE when the budget or
 * the chunk ids are spent. Its refcount starts at 0. */
static uint32_t
heap_get(struct slc_reactor *r, uint32_t cap, int kind)
{
	struct heap_chunk *h;
	uint32_t id;

	if (r->heap_nfree == 0 || r->heap_used[kind] + cap > r->heap_budget[kind])
		return NONE;
	id = r->heap_free[r->heap_nfree - 1];
	h = &r->heap[id];
	/* An LF frame's chunk, the common case with lines, comes from the cache when it can:
	 * at many connections almost every receive ends inside a line. */
	h->mem = cap == r->cfg.max_frame + 1 && r->heap_ncached != 0
	                 ? r->heap_cache[--r->heap_ncached]
	                 : malloc(cap);
	if (h->mem == NULL)
		return NONE;
	r->heap_nfree--;
	h->cap = cap;
	h->fill = 0;
	h->kind = (uint8_t)kind;
	r->heap_used[kind] += cap;
	r->refcnt[r->nb + r->nu + id] = 0;
	heap_stat(r);
	return r->nb + r->nu + id;
}

/* Frees a heap chunk (by ref); connections waiting for heap memory try again. */
static void
heap_put(struct slc_reactor *r, uint32_t ref)
{
	uint32_t id = ref - r->nb - r->nu;
	struct heap_chunk *h = &r->heap[id];

	if (h->cap == r->cfg.max_frame + 1 && r->heap_ncached < HEAP_CACHE)
		r->heap_cache[r->heap_ncached++] = h->mem;
	else
		free(h->mem);
	h->mem = NULL;
	r->heap_used[h->kind] -= h->cap;
	r->heap_free[r->heap_nfree++] = id;
	r->retry = true;
	heap_stat(r);
}

/* Puts a TCP buffer back in the kernel's ring; visible to it at the next commit. */
static void
tcp_buf_give(struct slc_reactor *r, uint32_t bid)
{
	uint32_t entry = (r->tcp_br->tail + r->tcp_adds) & r->tcp_mask;

	io_uring_buf_ring_add(r->tcp_br, r->tcp_mem + (size_t)bid * r->bsz, r->bsz, (uint16_t)bid,
	                      (int)r->tcp_mask, (int)r->tcp_adds);
	r->ring_bid[entry] = (uint16_t)bid;
	r->entry_of[bid] = (uint16_t)entry;
	r->kern_off[bid] = 0;
	r->refcnt[bid] = 1; /* the kernel's hold */
	r->tcp_adds++;
}

static void
udp_buf_give(struct slc_reactor *r, uint32_t bid)
{
	io_uring_buf_ring_add(r->udp_br, r->udp_mem + (size_t)bid * r->ubsz, r->ubsz, (uint16_t)bid,
	                      (int)r->udp_mask, (int)r->udp_adds);
	r->refcnt[r->nb + bid] = 0;
	r->udp_adds++;
}

static void
bufs_commit(struct slc_reactor *r)
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
	stat_set(&r->st.buffers_free, r->tcp_in_ring);
}

static void
buf_unref(struct slc_reactor *r, uint32_t ref, uint32_t n)
{
	SLC_ASSERT(ref < r->nb + r->nu + r->nr && r->refcnt[ref] >= n);
	r->refcnt[ref] -= n;
	if (r->refcnt[ref] != 0)
		return;
	if (ref < r->nb) {
		tcp_buf_give(r, ref);
	} else if (ref < r->nb + r->nu) {
		udp_buf_give(r, ref - r->nb);
	} else {
		heap_put(r, ref);
	}
}

/* ---- the connection wait queue ------------------------------------------------------ */

/* Paused and starved connections wait here, in order, until buffers or room come back. */
static void
waitq_push(struct slc_reactor *r, struct conn *c)
{
	if (c->in_waitq)
		return;
	c->in_waitq = true;
	r->waitq[r->wq_tail++ & r->wq_mask] = (uint32_t)(c - r->conns);
}

/* ---- connections -------------------------------------------------------------------- */

static void
conn_arm(struct slc_reactor *r, struct conn *c)
{
	struct io_uring_sqe *sqe;
	uint32_t idx = (uint32_t)(c - r->conns);

	if (c->armed || c->state != CONN_RECEIVING || r->stopping)
		return;
	if (r->tcp_in_ring < r->tcp_wm) {
		if (!c->starved)
			stat_add(&r->st.starved, 1);
		c->starved = true;
		waitq_push(r, c);
		return;
	}
	if (c->starved) {
		c->starved = false;
		stat_add(&r->st.starved, (uint64_t)-1);
	}
	sqe = get_sqe(r);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	if (r->features & SLC_REACTOR_F_BUNDLE)
		sqe->ioprio |= IORING_RECVSEND_BUNDLE;
	io_uring_sqe_set_data64(sqe, ud_make(UD_RECV, idx, c->gen));
	c->armed = true;
	c->cancelled = false;
	stat_add(&r->st.rearms, 1);
}

static void
conn_cancel_recv(struct slc_reactor *r, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (!c->armed || c->cancelled)
		return;
	sqe = get_sqe(r);
	io_uring_prep_cancel64(sqe, ud_make(UD_RECV, (uint32_t)(c - r->conns), c->gen), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0, 0));
	c->cancelled = true;
}

static void
pend_drop_all(struct slc_reactor *r, struct conn *c)
{
	while (c->pend_head != NONE) {
		struct pend *p = &r->pend[c->pend_head];
		uint32_t next = p->next;

		buf_unref(r, p->ref, 1);
		p->next = r->pend_free;
		r->pend_free = c->pend_head;
		c->pend_head = next;
	}
	c->pend_tail = NONE;
}

/* Gives up the partial frame being reassembled; heap_put wakes the connections that wait
 * for the memory. */
static void
reasm_drop(struct slc_reactor *r, struct conn *c)
{
	if (c->reasm == NONE)
		return;
	heap_put(r, c->reasm);
	c->reasm = NONE;
	c->reasm_len = 0;
}

static void
heap_wait_set(struct slc_reactor *r, struct conn *c, bool on)
{
	if (c->heap_wait == on)
		return;
	c->heap_wait = on;
	r->heap_waiters += on ? 1 : (uint32_t)-1;
	stat_set(&r->st.heap_waiting, r->heap_waiters);
}

static void
conn_free_slot(struct slc_reactor *r, struct conn *c)
{
	c->state = CONN_FREE;
	c->gen++;
	c->ack = NULL;
	r->conn_free[r->conn_nfree++] = (uint32_t)(c - r->conns);
}

/* The last steps, once no receive and no send is in flight: the socket is closed, and the
 * slot can be reused once no frame of it is with the workers either (ack ids must not
 * reach the slot's next connection). */
static void
conn_finalize(struct slc_reactor *r, struct conn *c)
{
	if (c->armed || (c->ack != NULL && c->ack->sending))
		return; /* the last completion calls again */
	close(c->fd);
	c->fd = -1;
	if (c->ack != NULL && c->ack->inflight != 0) {
		c->state = CONN_DRAINING;
		return;
	}
	conn_free_slot(r, c);
}

static void
ack_cancel_send(struct slc_reactor *r, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->ack == NULL || !c->ack->sending)
		return;
	sqe = get_sqe(r);
	io_uring_prep_cancel64(sqe, ud_make(UD_ACK_SEND, (uint32_t)(c - r->conns), c->gen), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0, 0));
}

/* Closes a connection: what it received but did not deliver is lost (the caller decides
 * when that is acceptable); the socket is closed once no receive is in flight. */
static void
conn_close(struct slc_reactor *r, struct conn *c, enum slc_close_reason why)
{
	struct lst *l = &r->lst[c->listener];

	if (c->state == CONN_FREE || c->state == CONN_CLOSING || c->state == CONN_DRAINING)
		return;
	if (c->state == CONN_PAUSED)
		stat_add(&r->st.paused, (uint64_t)-1);
	if (c->starved) {
		c->starved = false;
		stat_add(&r->st.starved, (uint64_t)-1);
	}
	stat_add(&l->st.closed[why], 1);
	if (c->pend_head != NONE || c->has_held || c->reasm != NONE ||
	    slc_frame_parser_mid_frame(&c->parser))
		stat_add(&l->st.closed_with_data[why], 1);
	if ((c->pend_head != NONE || c->has_held) &&
	    (why == SLC_CLOSE_EVICTED || why == SLC_CLOSE_NO_MEMORY || why == SLC_CLOSE_SHUTDOWN))
		stat_add(&l->st.closed_undelivered, 1);
	stat_add(&l->st.open, (uint64_t)-1);
	heap_wait_set(r, c, false);
	pend_drop_all(r, c);
	reasm_drop(r, c);
	if (c->has_held) {
		buf_unref(r, c->held.ref & SLC_MSG_REF_MASK, 1);
		c->has_held = false;
	}
	c->state = CONN_CLOSING;
	if (c->armed || (c->ack != NULL && c->ack->sending)) {
		/* shutdown ends the multishot receive with EOF (and a send stuck on a full
		 * socket with EPIPE); the last CQE finalizes. */
		shutdown(c->fd, SHUT_RDWR);
		conn_cancel_recv(r, c);
		ack_cancel_send(r, c);
		return;
	}
	conn_finalize(r, c);
}

static void
conn_pause(struct slc_reactor *r, struct conn *c)
{
	if (c->state != CONN_PAUSED) {
		c->state = CONN_PAUSED;
		stat_add(&r->st.paused, 1);
		stat_add(&r->st.pauses, 1);
	}
	/* Stop the kernel from filling more buffers for it: TCP flow control takes over. */
	conn_cancel_recv(r, c);
	waitq_push(r, c);
}

/* A free pending-chunk record, growing the table (indices stay valid) when it runs out;
 * NONE only past npend_max or without memory. */
static uint32_t
pend_record_get(struct slc_reactor *r)
{
	struct pend *grown;
	uint32_t n;

	if (r->pend_free == NONE) {
		if (r->npend >= r->npend_max)
			return NONE;
		n = r->npend * 2 < r->npend_max ? r->npend * 2 : r->npend_max;
		grown = realloc(r->pend, (size_t)n * sizeof(*grown));
		if (grown == NULL)
			return NONE;
		r->pend = grown;
		for (uint32_t i = n; i-- > r->npend;) {
			r->pend[i].next = r->pend_free;
			r->pend_free = i;
		}
		r->npend = n;
	}
	return r->pend_free;
}

/*
 * Copies len bytes of a receive buffer into the stash: appended to the heap chunk after
 * record t when it ends there and has room (then *ref is NONE: nothing more to record),
 * else into a new chunk (*ref, *off say where). False when the stash is full.
 */
static bool
stash_copy(struct slc_reactor *r, struct pend *t, uint32_t *ref, uint32_t *off, uint32_t len)
{
	const uint8_t *src = ref_ptr(r, *ref) + *off;
	struct heap_chunk *hc;
	uint32_t h;

	if (t != NULL && ref_is_heap(r, t->ref)) {
		hc = &r->heap[t->ref - r->nb - r->nu];
		if (hc->kind == HEAP_STASH && t->off + t->len == hc->fill &&
		    hc->cap - hc->fill >= len) {
			memcpy(hc->mem + hc->fill, src, len);
			hc->fill += len;
			t->len += len;
			stat_add(&r->st.stashed_bytes, len);
			*ref = NONE;
			return true;
		}
	}
	h = heap_get(r, len > STASH_CHUNK ? len : STASH_CHUNK, HEAP_STASH);
	if (h == NONE)
		return false;
	hc = &r->heap[h - r->nb - r->nu];
	memcpy(hc->mem, src, len);
	hc->fill = len;
	stat_add(&r->st.stashed_bytes, len);
	*ref = h;
	*off = 0;
	return true;
}

/*
 * Keeps len unparsed bytes of a connection at ref + off, at the end of its pending list
 * (or at its front: the rest of a chunk that a pause cut). Bytes of a receive buffer are
 * copied into the stash when the connection waits for reassembly memory (it must not hold
 * receive buffers while it waits: see struct slc_reactor), and otherwise when the piece
 * is small and the stash less than half full, so that a paused connection holding a few
 * bytes does not keep a whole buffer of other connections' bytes from the kernel. Other
 * pieces, and any when the stash is full, stay where they are, with a reference (see
 * heap_evict_idle for what then keeps the reactor going). Returns false only when no
 * pending record is left (npend_max): the caller closes the connection.
 */
static bool
pend_push(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len,
          bool front)
{
	uint32_t i;
	struct pend *p;

	if (!ref_is_heap(r, ref) &&
	    (c->heap_wait ||
	     (len <= r->stash_max && 2 * r->heap_used[HEAP_STASH] < r->heap_budget[HEAP_STASH]))) {
		struct pend *t = !front && c->pend_tail != NONE ? &r->pend[c->pend_tail] : NULL;

		if (stash_copy(r, t, &ref, &off, len) && ref == NONE)
			return true; /* appended to the last chunk */
	}
	i = pend_record_get(r);
	if (i == NONE)
		return false;
	p = &r->pend[i];
	r->pend_free = p->next;
	*p = (struct pend){.ref = ref, .off = off, .len = len, .next = NONE};
	r->refcnt[ref]++;
	if (c->pend_head == NONE) {
		c->pend_head = c->pend_tail = i;
	} else if (front) {
		p->next = c->pend_head;
		c->pend_head = i;
	} else {
		r->pend[c->pend_tail].next = i;
		c->pend_tail = i;
	}
	return true;
}

/* ---- acknowledged delivery (docs/protocol.md) ----------------------------------------- */

static inline void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* The connection's ack state moved: look at it once this loop (ackq_run). */
static void
ackq_push(struct slc_reactor *r, struct conn *c)
{
	if (c->ack->in_q)
		return;
	c->ack->in_q = true;
	r->ackq[r->ackq_n++] = (uint32_t)(c - r->conns);
}

/* Frame seq is done; true when that is news. Only frames in [base, next) have a bit:
 * anything else is already accounted for, and so is a bit already set (a frame without
 * payload parsed again after a pause, which must not be counted twice). */
static inline bool
ack_mark(struct slc_reactor *r, struct ack_conn *a, uint64_t seq)
{
	uint32_t i;
	uint64_t bit;

	if (seq - a->base >= a->next - a->base)
		return false;
	i = (uint32_t)seq & (r->ack_w - 1);
	bit = 1ull << (i & 63);
	if (a->bits[i >> 6] & bit)
		return false;
	a->bits[i >> 6] |= bit;
	return true;
}

/* Moves base over the done frames at its front, a word at a time. Bits at or past next
 * are never set, so the walk stops there at the latest. */
static void
ack_advance(struct slc_reactor *r, struct ack_conn *a)
{
	for (;;) {
		uint32_t i = (uint32_t)a->base & (r->ack_w - 1), b = i & 63;
		uint64_t word = a->bits[i >> 6] >> b, run_mask;
		uint32_t run;

		if ((word & 1) == 0)
			return;
		run = ~word == 0 ? 64 : (uint32_t)__builtin_ctzll(~word);
		run_mask = run == 64 ? ~0ull : ((1ull << run) - 1) << b;
		a->bits[i >> 6] &= ~run_mask;
		a->base += run;
	}
}

static void
ack_submit(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;
	struct io_uring_sqe *sqe = get_sqe(r);

	io_uring_prep_send(sqe, c->fd, a->buf + a->off, (size_t)(a->len - a->off), MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(UD_ACK_SEND, (uint32_t)(c - r->conns), c->gen));
	a->sending = true;
}

/* Sends ack(base - 1) if it is news and no send is in flight; a send in flight calls again
 * when it completes, so acks coalesce into the newest one. */
static void
ack_send_due(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;
	struct lst *l = &r->lst[c->listener];

	if (a->sending || !a->started || a->base - 1 == a->sent || r->stopping ||
	    (c->state != CONN_RECEIVING && c->state != CONN_PAUSED))
		return;
	stat_add(&l->st.acks_sent, 1);
	stat_add(&l->st.acked, a->base - 1 - a->sent);
	a->sent = a->base - 1;
	put_be64(a->buf, a->sent);
	a->off = 0;
	a->len = 8;
	ack_submit(r, c);
}

/* The greeting: "SLAK", version 1, flags 0, the window, 4 reserved bytes. */
static void
ack_greet(struct slc_reactor *r, struct conn *c)
{
	struct ack_conn *a = c->ack;

	memset(a->bits, 0, (size_t)r->ack_words * sizeof(uint64_t));
	a->base = a->next = a->sent = 0;
	a->inflight = 0;
	/* in_q is left alone: the slot may still have an entry in ackq from its last user. */
	a->started = a->sending = a->failed = a->spent = false;
	memcpy(a->buf, "SLAK", 4);
	a->buf[4] = 0;
	a->buf[5] = 1;
	a->buf[6] = a->buf[7] = 0;
	put_be32(a->buf + 8, r->ack_w);
	put_be32(a->buf + 12, 0);
	a->off = 0;
	a->len = 16;
	ack_submit(r, c);
}

static void
ack_violation(struct slc_reactor *r, struct conn *c, enum slc_ack_error e, uint64_t seq)
{
	struct ack_conn *a = c->ack;

	stat_add(&r->lst[c->listener].st.ack_errors[e], 1);
	if (e == SLC_ACK_ERR_SHORT || e == SLC_ACK_ERR_ZERO || e == SLC_ACK_ERR_WRAP)
		rlog(r, LOGK_ACK, 1, "closing %s: ack protocol: %s", c->peer,
		     e == SLC_ACK_ERR_SHORT  ? "a frame shorter than its sequence number"
		     : e == SLC_ACK_ERR_ZERO ? "the first sequence number is 0"
		                             : "a frame after sequence number 2^64 - 1 (they do "
		                               "not wrap: reconnect)");
	else
		rlog(r, LOGK_ACK, 1,
		     "closing %s: ack protocol: %s: sequence number %" PRIu64 ", expected %" PRIu64
		     ", window %" PRIu64 "..%" PRIu64,
		     c->peer, slc_ack_error_str(e), seq, a->next, a->base, a->base + r->ack_w - 1);
	conn_close(r, c, SLC_CLOSE_PROTOCOL);
}

/*
 * Checks the burst's frames (r->batch[0 .. nmsg)) of an acknowledged connection, takes
 * their sequence numbers off, and marks them; a frame with no payload is done at once and
 * leaves the batch. Returns how many messages remain to offer (batch and batch_piece
 * compacted), or NONE after a protocol error, when the connection is closed and the
 * burst's messages given back: none of them is acknowledged, so the client sends them
 * again elsewhere.
 */
static uint32_t
ack_frames(struct slc_reactor *r, struct conn *c, uint32_t nmsg)
{
	struct ack_conn *a = c->ack;
	uint32_t k = 0;

	for (uint32_t i = 0; i < nmsg; i++) {
		struct slc_msg m = r->batch[i];
		enum slc_ack_error e = SLC_ACK_ERR__COUNT;
		uint64_t seq = 0;

		if (m.len < 8) {
			e = SLC_ACK_ERR_SHORT;
		} else {
			m.data += 8;
			m.len -= 8;
			m.conn |= SLC_MSG_CONN_ACK;
			seq = slc_msg_ack_seq(&m);
			if (!a->started && seq != 0) {
				a->started = true;
				a->base = a->next = seq;
				a->sent = seq - 1;
			}
			if (!a->started)
				e = SLC_ACK_ERR_ZERO;
			else if (a->spent)
				e = SLC_ACK_ERR_WRAP;
			else if (seq > a->next)
				e = SLC_ACK_ERR_GAP;
			else if (seq < a->next)
				e = SLC_ACK_ERR_REPEAT;
			else if (seq - a->base >= r->ack_w)
				e = SLC_ACK_ERR_WINDOW;
		}
		if (e != SLC_ACK_ERR__COUNT) {
			for (uint32_t j = 0; j < k; j++)
				buf_unref(r, r->batch[j].ref & SLC_MSG_REF_MASK, 1);
			for (uint32_t j = i; j < nmsg; j++)
				buf_unref(r, r->batch[j].ref & SLC_MSG_REF_MASK, 1);
			ack_violation(r, c, e, seq);
			return NONE;
		}
		a->next = seq + 1;
		a->spent = seq == UINT64_MAX;
		if (m.len == 0) {
			/* Nothing to make durable. */
			if (ack_mark(r, a, seq))
				stat_add(&r->lst[c->listener].st.empty_frames, 1);
			ackq_push(r, c);
			buf_unref(r, m.ref & SLC_MSG_REF_MASK, 1);
			continue;
		}
		r->batch_piece[k] = r->batch_piece[i];
		r->batch[k++] = m;
	}
	return k;
}

/* Frames seq .. seq+count-1 of connection id came back from the workers. */
static void
ack_apply(struct slc_reactor *r, uint32_t id, uint64_t seq, uint32_t count, bool durable)
{
	struct conn *c = &r->conns[id];
	struct ack_conn *a = &r->ackc[id];

	SLC_ASSERT(id < r->nconns && c->ack == a && a->inflight >= count);
	if (id >= r->nconns || c->ack != a)
		return; /* cannot happen: a slot with frames out is not reused */
	a->inflight -= count;
	if (c->state == CONN_DRAINING) {
		if (a->inflight == 0)
			conn_free_slot(r, c);
		return;
	}
	if (c->state != CONN_RECEIVING && c->state != CONN_PAUSED)
		return; /* closing: nothing more is acknowledged */
	if (!durable) {
		stat_add(&r->lst[c->listener].st.not_durable, count);
		a->failed = true;
	} else {
		for (uint32_t k = 0; k < count; k++)
			ack_mark(r, a, seq + k);
	}
	ackq_push(r, c);
}

/* Once per loop: acknowledge what became contiguous, close what the sink failed. */
static void
ackq_run(struct slc_reactor *r)
{
	for (uint32_t i = 0; i < r->ackq_n; i++) {
		struct conn *c = &r->conns[r->ackq[i]];
		struct ack_conn *a = &r->ackc[r->ackq[i]];

		a->in_q = false;
		if (c->ack != a || (c->state != CONN_RECEIVING && c->state != CONN_PAUSED))
			continue;
		if (a->failed) {
			rlog(r, LOGK_ACK, 1,
			     "closing %s: the sink could not make frames durable: they are not "
			     "acknowledged, and the client sends them again",
			     c->peer);
			conn_close(r, c, SLC_CLOSE_NOT_DURABLE);
			continue;
		}
		ack_advance(r, a);
		ack_send_due(r, c);
	}
	r->ackq_n = 0;
}

/* Received bytes could not be kept: the pending-record table reached its bound, far above
 * what pauses need. Closed, counted and logged. */
static void
conn_keep_failed(struct slc_reactor *r, struct conn *c)
{
	rlog(r, LOGK_CLOSE, 0, "closing %s: no memory left to keep its received bytes (%u records)",
	     c->peer, r->npend);
	conn_close(r, c, SLC_CLOSE_NO_MEMORY);
}

/*
 * A connection starts waiting for reassembly memory: what it holds of receive buffers
 * (its pending list, and len bytes at ref + off, the rest of the chunk where it stopped,
 * which go first) moves to the stash, as far as the stash has room. False only when no
 * pending record is left.
 */
static bool
conn_unpin(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	for (uint32_t i = c->pend_head; i != NONE; i = r->pend[i].next) {
		struct pend *p = &r->pend[i];
		uint32_t nref = p->ref, noff = p->off;

		if (ref_is_heap(r, p->ref))
			continue;
		if (!stash_copy(r, NULL, &nref, &noff, p->len))
			break; /* stays where it is */
		r->refcnt[nref]++;
		buf_unref(r, p->ref, 1);
		p->ref = nref;
		p->off = noff;
	}
	return len == 0 || pend_push(r, c, ref, off, len, true);
}

/*
 * Re-parses the burst that began at pos0 with parser state s0 up to (not including) piece
 * `stop`, to recover the exact parser state and position there. Used only when a
 * connection pauses in the middle of a burst, which is rare: the common path keeps no
 * per-piece state.
 */
static void
rewind_to_piece(struct slc_frame_parser *p, const struct slc_frame_parser *s0, uint32_t pos0,
                const uint8_t *chunk, uint32_t len, uint32_t stop, uint32_t *pos)
{
	struct slc_frame_piece one;

	*p = *s0;
	*pos = pos0;
	for (uint32_t i = 0; i < stop; i++) {
		int n = slc_frame_parse_burst(p, chunk, len, pos, &one, 1);

		if (n != 1)
			break; /* cannot happen: the first parse found these pieces */
	}
}

/*
 * Parses and delivers one chunk of a connection's bytes. Returns NONE when the whole chunk
 * was taken, or the offset within the chunk where parsing must resume (the connection is
 * then paused, and c->parser holds the state at that offset).
 */
static uint32_t
conn_parse(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	struct lst *l = &r->lst[c->listener];
	const uint8_t *chunk = ref_ptr(r, ref) + off;
	uint32_t pos = 0;

	for (;;) {
		struct slc_frame_parser s0;
		uint32_t pos0 = pos, nmsg = 0, offer, taken, stop = NONE, reasm_started = NONE;
		int n;

		if (r->turn_left == 0 && pos < len) {
			/* Its turn is over (it is paused already): the rest waits for the
			 * next one. The parser state is exact here, between two bursts. */
			conn_pause(r, c);
			return pos;
		}
		s0 = c->parser;
		n = slc_frame_parse_burst(&c->parser, chunk, len, &pos, r->pieces, BATCH);

		if (n < 0) {
			enum slc_frame_error e = (enum slc_frame_error) - n;

			stat_add(&l->st.frames_rejected[e], 1);
			rlog(r, LOGK_FRAMING, 1, "closing %s: %s frame", c->peer,
			     slc_frame_error_str(e));
			conn_close(r, c, SLC_CLOSE_FRAMING);
			return NONE;
		}
		if (n == 0)
			return NONE;
		/* Two pieces in one chunk, or one with end: a frame ended in this burst. */
		if (n > 1 || r->pieces[0].end)
			c->frame_end_ns = r->now_ns;

		for (uint32_t i = 0; i < (uint32_t)n; i++) {
			const struct slc_frame_piece *p = &r->pieces[i];
			struct slc_msg *m = &r->batch[nmsg];

			if (p->start && p->end) {
				/* acks: an empty frame lacks its seq; ack_frames refuses it. */
				if (p->len == 0 && c->ack == NULL) {
					stat_add(&l->st.empty_frames, 1);
					continue;
				}
				*m = (struct slc_msg){.data = chunk + p->off,
				                      .len = p->len,
				                      .recv_ns = r->now_ns,
				                      .conn = (uint32_t)(c - r->conns),
				                      .ref = r->cfg.id << 24 | ref};
				r->refcnt[ref]++;
				r->batch_piece[nmsg++] = i;
				continue;
			}
			if (p->start) {
				/* A counted frame reserves exactly its length (the parser
				 * knows what is still to come); an LF frame what the longest
				 * may need: max_frame and a CR that a later LF trims. */
				uint32_t need = slc_frame_parser_counted(&c->parser)
				                        ? p->len + c->parser.need
				                        : r->cfg.max_frame + 1;

				c->reasm = heap_get(r, need, HEAP_REASM);
				if (c->reasm == NONE) {
					/* No room: wait for it, paused at this frame's start. */
					stop = i;
					heap_wait_set(r, c, true);
					break;
				}
				c->reasm_len = 0;
				c->reasm_rx_ns = r->now_ns;
				reasm_started = i;
			}
			if (c->reasm_len < p->trim ||
			    c->reasm_len - p->trim + p->len >
			            r->heap[c->reasm - r->nb - r->nu].cap) {
				/* The parser bounds frames by max_frame; this guards the copy.
				 * The messages of this burst were not offered: drop their refs. */
				for (uint32_t k = 0; k < nmsg; k++)
					buf_unref(r, r->batch[k].ref & SLC_MSG_REF_MASK, 1);
				stat_add(&l->st.frames_rejected[SLC_FRAME_ERR_OVERSIZE], 1);
				conn_close(r, c, SLC_CLOSE_FRAMING);
				return NONE;
			}
			c->reasm_len -= p->trim;
			memcpy(ref_ptr(r, c->reasm) + c->reasm_len, chunk + p->off, p->len);
			c->reasm_len += p->len;
			c->reasm_rx_ns = r->now_ns;
			if (!p->end)
				continue;
			stat_add(&r->st.reassembled, 1);
			*m = (struct slc_msg){.data = ref_ptr(r, c->reasm),
			                      .len = c->reasm_len,
			                      .recv_ns = r->now_ns,
			                      .conn = (uint32_t)(c - r->conns),
			                      .ref = r->cfg.id << 24 | c->reasm};
			r->refcnt[c->reasm] = 1;
			c->reasm = NONE;
			c->reasm_len = 0;
			r->batch_piece[nmsg++] = i;
		}

		if (c->ack != NULL && nmsg != 0) {
			nmsg = ack_frames(r, c, nmsg);
			if (nmsg == NONE)
				return NONE;
			/* Counted before deliver: a consumer may acknowledge inside it. */
			c->ack->inflight += nmsg;
		}
		/* Inside a turn, no more than the turn has left; what is not offered is
		 * handled as if refused, and waits for the next turn. */
		offer = nmsg < r->turn_left ? nmsg : r->turn_left;
		taken = offer != 0 ? r->cfg.ops.deliver(r->cfg.ops.ctx, r, r->batch, offer) : 0;
		if (r->turn_left != NONE)
			r->turn_left -= taken;
		stat_add(&l->st.msgs, taken);
		if (taken == nmsg && stop == NONE)
			continue;
		if (c->ack != NULL) {
			/* What was not taken is parsed (or offered) again: so is its seq. */
			c->ack->inflight -= nmsg - taken;
			if (taken < nmsg) {
				/* The same frames again, not frames after 2^64 - 1. */
				c->ack->next = slc_msg_ack_seq(&r->batch[taken]);
				c->ack->spent = false;
			}
		}

		/* Paused: give back the references of what was not taken, and find where to
		 * resume. A reassembled message is kept aside (its bytes are in its own
		 * buffer); anything else is parsed again from its frame's start. */
		if (taken < nmsg) {
			uint32_t k = taken;

			stop = r->batch_piece[taken];
			if (!r->pieces[stop].start) {
				/* Only the first message of a chunk can be a reassembled one. */
				c->held = r->batch[k++];
				c->has_held = true;
				stop++;
				if (c->ack != NULL) {
					c->ack->next++;
					/* Offered already: if it was 2^64 - 1, next wrapped */
					c->ack->spent = c->ack->next == 0;
				}
			}
			for (; k < nmsg; k++)
				buf_unref(r, r->batch[k].ref & SLC_MSG_REF_MASK, 1);
		}
		if (reasm_started != NONE && reasm_started >= stop)
			reasm_drop(r, c);
		rewind_to_piece(&c->parser, &s0, pos0, chunk, len, stop, &pos);
		conn_pause(r, c);
		if (c->heap_wait) {
			/* Kept here, in the stash: the caller has nothing left to keep. */
			if (!conn_unpin(r, c, ref, off + pos, len - pos))
				conn_keep_failed(r, c);
			return len;
		}
		return pos;
	}
}

/* Whether connections wait for room in the pools: paused, and not for reassembly memory
 * (a connection with heap_wait is always paused). One load and a compare. */
static inline bool
room_waiters(const struct slc_reactor *r)
{
	return atomic_load_explicit(&r->st.paused, memory_order_relaxed) > r->heap_waiters;
}

/*
 * A receiving connection's new bytes while others wait for room: it must not take room
 * before them, so it waits its turn, at the back of the queue (the fairness rule). Its
 * turn comes in the next pass, which the loop runs before it waits again (retry), so that
 * a connection whose pool has room is held up by one loop, not until the others' pools
 * free room. Its receive stays armed: if its turn finds no room, conn_parse pauses it
 * properly (and cancels the receive).
 */
static void
conn_defer(struct slc_reactor *r, struct conn *c)
{
	c->state = CONN_PAUSED;
	stat_add(&r->st.paused, 1);
	stat_add(&r->st.pauses, 1);
	waitq_push(r, c);
	r->retry = true;
}

/* New bytes for a connection: parse them now, or keep them if it is paused or must wait
 * its turn. */
static void
conn_data(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	uint32_t resume;

	c->last_rx_ns = r->now_ns;
	stat_add(&r->lst[c->listener].st.bytes, len);
	if (c->state != CONN_RECEIVING && c->state != CONN_PAUSED)
		return;
	if (c->state == CONN_PAUSED || c->pend_head != NONE || c->has_held || room_waiters(r)) {
		if (!pend_push(r, c, ref, off, len, false)) {
			conn_keep_failed(r, c);
			return;
		}
		if (c->state == CONN_RECEIVING)
			conn_defer(r, c);
		return;
	}
	resume = conn_parse(r, c, ref, off, len);
	if (resume != NONE && resume < len &&
	    !pend_push(r, c, ref, off + resume, len - resume, true))
		conn_keep_failed(r, c);
}

static enum slc_close_reason
conn_eof_reason(const struct conn *c)
{
	return slc_frame_parser_mid_frame(&c->parser) || c->reasm != NONE ? SLC_CLOSE_EOF_MIDFRAME
	                                                                  : SLC_CLOSE_EOF;
}

/* The peer is done (EOF or error): close now, or once what it sent is delivered. */
static void
conn_peer_done(struct slc_reactor *r, struct conn *c, enum slc_close_reason why)
{
	if (c->state == CONN_PAUSED || c->pend_head != NONE || c->has_held) {
		c->peer_done = true;
		c->done_reason = (uint8_t)why;
		return;
	}
	conn_close(r, c, why == SLC_CLOSE_EOF ? conn_eof_reason(c) : why);
}

/* A paused connection's turn (waitq_run sets r->turn_left): delivers what it holds, up
 * to what the turn allows, and resumes receiving when all is taken. The state stays PAUSED
 * until then, so that a pause inside conn_parse is not counted twice. */
static void
conn_resume(struct slc_reactor *r, struct conn *c)
{
	heap_wait_set(r, c, false); /* conn_parse sets it again if there is still no room */
	if (c->has_held) {
		if (c->ack != NULL)
			c->ack->inflight++;
		if (r->cfg.ops.deliver(r->cfg.ops.ctx, r, &c->held, 1) != 1) {
			if (c->ack != NULL)
				c->ack->inflight--;
			waitq_push(r, c);
			return;
		}
		stat_add(&r->lst[c->listener].st.msgs, 1);
		c->has_held = false;
		r->turn_left--;
	}
	while (c->pend_head != NONE) {
		uint32_t i = c->pend_head;
		struct pend p = r->pend[i];
		uint32_t resume;

		if (r->turn_left == 0) {
			waitq_push(r, c); /* the rest at its next turn */
			return;
		}

		c->pend_head = p.next;
		if (c->pend_head == NONE)
			c->pend_tail = NONE;
		r->pend[i].next = r->pend_free;
		r->pend_free = i;
		resume = conn_parse(r, c, p.ref, p.off, p.len);
		if (c->state != CONN_PAUSED) {
			/* A framing or protocol error closed it (and may have freed the slot
			 * already: test the state, not CLOSING). */
			buf_unref(r, p.ref, 1);
			return;
		}
		if (resume != NONE) {
			/* Fails only when the record table is at its bound. */
			if (resume < p.len &&
			    !pend_push(r, c, p.ref, p.off + resume, p.len - resume, true)) {
				buf_unref(r, p.ref, 1);
				conn_keep_failed(r, c);
				return;
			}
			buf_unref(r, p.ref, 1);
			return; /* paused again: conn_pause queued it */
		}
		buf_unref(r, p.ref, 1);
	}
	c->state = CONN_RECEIVING;
	stat_add(&r->st.paused, (uint64_t)-1);
	/* The time it spent paused was ours, not the peer's: the idle timeout starts over. */
	c->last_rx_ns = c->frame_end_ns = r->now_ns;
	if (c->peer_done) {
		enum slc_close_reason why = (enum slc_close_reason)c->done_reason;

		conn_close(r, c, why == SLC_CLOSE_EOF ? conn_eof_reason(c) : why);
		return;
	}
	conn_arm(r, c);
}

/*
 * Gives every waiting connection a turn, in queue order: a deficit round robin, the
 * fairness rule of docs/architecture.md ("Backpressure"). A turn is TURN_MSGS messages.
 * A connection that used its whole turn goes to the back; one that a full pool cut short
 * keeps what its turn has left (credit) and its place at the front, ahead of those that
 * found no room, which keep their order too. So room that comes back goes to the
 * connection whose turn it is, and over time each waiting connection of a full pool gets
 * the same number of messages through, however much room each release frees. (Requeueing
 * each at the tail kept the order: the first connection took all the room every release
 * freed, for as long as it held bytes.) While some turn ended at TURN_MSGS, room may be
 * left: another pass.
 */
static void
waitq_run(struct slc_reactor *r)
{
	bool again;

	r->retry = false;
	do {
		uint32_t n = r->wq_tail - r->wq_head, tail0 = r->wq_tail, w = tail0, k = 0;

		again = false;
		while (n-- != 0) {
			struct conn *c = &r->conns[r->waitq[r->wq_head++ & r->wq_mask]];

			c->in_waitq = false;
			c->turn_done = false;
			if (c->state == CONN_PAUSED) {
				r->turn_left = c->credit != 0 ? c->credit : TURN_MSGS;
				conn_resume(r, c);
				c->turn_done = r->turn_left == 0;
				/* Credit lasts while it waits; receiving again ends it. */
				c->credit = c->state == CONN_PAUSED ? r->turn_left : 0;
				again |= r->turn_left == 0;
				r->turn_left = NONE;
			} else if (c->state == CONN_RECEIVING && c->starved) {
				conn_arm(r, c);
			}
		}
		/* Those queued again during the pass, a stable partition: the ones whose
		 * turn is not over first. Only connections of this pass are among them. */
		for (uint32_t i = tail0; i != r->wq_tail; i++) {
			uint32_t id = r->waitq[i & r->wq_mask];

			if (r->conns[id].turn_done)
				r->wq_spare[k++] = id;
			else
				r->waitq[w++ & r->wq_mask] = id;
		}
		for (uint32_t j = 0; j < k; j++)
			r->waitq[w++ & r->wq_mask] = r->wq_spare[j];
	} while (again);
}

/* ---- completions -------------------------------------------------------------------- */

static void
on_recv(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t idx)
{
	struct conn *c = &r->conns[idx];
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		uint32_t remaining = (uint32_t)cqe->res;
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint32_t entry = r->entry_of[bid];
		bool inc = r->features & SLC_REACTOR_F_INC;

		/* A bundle fills buffers in ring order from bid: walk the entries. With
		 * incremental consumption the first one continues where the kernel stopped
		 * in it, and the last one stays with the kernel while BUF_MORE says so. */
		while (remaining != 0) {
			uint32_t off = inc ? r->kern_off[bid] : 0;
			uint32_t take = r->bsz - off < remaining ? r->bsz - off : remaining;
			bool kernel_keeps = inc && take == remaining && take < r->bsz - off &&
			                    (cqe->flags & IORING_CQE_F_BUF_MORE);
			uint32_t next = r->ring_bid[(entry + 1) & r->tcp_mask];

			r->kern_off[bid] = off + take;
			conn_data(r, c, bid, off, take);
			if (!kernel_keeps) {
				r->tcp_in_ring--;
				buf_unref(r, bid, 1);
			}
			remaining -= take;
			bid = next;
			entry = (entry + 1) & r->tcp_mask;
		}
	}
	if (more)
		return;

	/* The multishot receive ended: this is the one place that decides what next. */
	c->armed = false;
	if (c->state == CONN_CLOSING) {
		conn_finalize(r, c);
		return;
	}
	if (cqe->res == 0) {
		conn_peer_done(r, c, SLC_CLOSE_EOF);
		return;
	}
	if (cqe->res < 0) {
		switch (-cqe->res) {
		case ENOBUFS:
			stat_add(&r->st.buf_exhausted, 1);
			break;
		case ECANCELED:
		case EINTR:
		case EAGAIN:
			break;
		default:
			rlog(r, LOGK_CLOSE, 1, "closing %s: receive failed: %s", c->peer,
			     strerror(-cqe->res));
			conn_peer_done(r, c, SLC_CLOSE_RESET);
			return;
		}
	} else if (r->tcp_in_ring < r->tcp_wm) {
		/* A bundle that emptied the ring ends the receive without -ENOBUFS. */
		stat_add(&r->st.buf_exhausted, 1);
	}
	if (c->state == CONN_RECEIVING)
		conn_arm(r, c);
}

/* The greeting or an ack went out (or failed). */
static void
on_ack_send(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t idx)
{
	struct conn *c = &r->conns[idx];
	struct ack_conn *a = c->ack;

	a->sending = false;
	if (c->state == CONN_CLOSING) {
		conn_finalize(r, c);
		return;
	}
	if (cqe->res < 0) {
		switch (-cqe->res) {
		case EINTR:
		case EAGAIN:
			ack_submit(r, c);
			return;
		case ECANCELED:
			return; /* stopping */
		default:
			/* The peer is gone; its receive sees the same soon, but nothing more
			 * can be acknowledged anyway. */
			rlog(r, LOGK_CLOSE, 1, "closing %s: sending an ack failed: %s", c->peer,
			     strerror(-cqe->res));
			conn_close(r, c, SLC_CLOSE_RESET);
			return;
		}
	}
	a->off += (uint8_t)cqe->res;
	if (a->off < a->len) {
		ack_submit(r, c); /* a short send: the rest */
		return;
	}
	ack_send_due(r, c);
}

static void
listener_arm(struct slc_reactor *r, uint32_t i)
{
	struct lst *l = &r->lst[i];
	struct io_uring_sqe *sqe;

	if (l->armed || r->stopping)
		return;
	if (l->cfg.proto == SLC_LISTENER_UDP) {
		if (r->udp_in_ring == 0) {
			l->starved = true;
			return;
		}
		l->starved = false;
		sqe = get_sqe(r);
		io_uring_prep_recvmsg_multishot(sqe, l->fd, &r->udp_mh, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 1;
		io_uring_sqe_set_data64(sqe, ud_make(UD_UDP, i, 0));
	} else {
		sqe = get_sqe(r);
		io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
		io_uring_sqe_set_data64(sqe, ud_make(UD_ACCEPT, i, 0));
	}
	l->armed = true;
}

static void
peer_str(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	/* A peer that reset the connection before it was accepted has no address any more
	 * (ENOTCONN): say so rather than print "?:0". */
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(out, len, "an unknown peer (%s)",
		         errno == ENOTCONN ? "gone" : "no address");
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(out, len, "%s:%u", host, port);
}

static void on_accept_result(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t li);

static void
on_accept(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t li)
{
	struct lst *l = &r->lst[li];

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		l->armed = false;
		l->rearm_at_ns = r->now_ns;
	}
	on_accept_result(r, cqe, li);
	if (!l->armed && !r->stopping && r->now_ns >= l->rearm_at_ns)
		listener_arm(r, li);
}

static void
on_accept_result(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t li)
{
	struct lst *l = &r->lst[li];
	struct conn *c;

	if (cqe->res < 0) {
		switch (-cqe->res) {
		case ECANCELED:
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Out of descriptors or memory: keep running, try again a bit later. */
			stat_add(&l->st.refused, 1);
			l->rearm_at_ns = r->now_ns + ACCEPT_BACKOFF;
			rlog(r, LOGK_ACCEPT, 1, "accept on port %u: %s", l->port,
			     strerror(-cqe->res));
			return;
		default:
			rlog(r, LOGK_ACCEPT, 1, "accept on port %u: %s", l->port,
			     strerror(-cqe->res));
			return;
		}
	}
	if (r->conn_nfree == 0 || r->stopping) {
		char peer[INET6_ADDRSTRLEN + 8];

		peer_str(cqe->res, peer, sizeof(peer));
		close(cqe->res);
		stat_add(&l->st.refused, 1);
		rlog(r, LOGK_REFUSED, 1, "refused %s: %s", peer,
		     r->stopping ? "shutting down" : "max-conns reached");
		return;
	}
	c = &r->conns[r->conn_free[--r->conn_nfree]];
	c->fd = cqe->res;
	c->listener = (uint16_t)li;
	c->state = CONN_RECEIVING;
	/* in_waitq is left alone: a stale queue entry of the slot's last user may remain. */
	c->armed = c->cancelled = c->starved = c->peer_done = c->has_held = false;
	slc_frame_parser_init(&c->parser, l->cfg.framing, r->cfg.max_frame);
	c->reasm = NONE;
	c->reasm_len = 0;
	c->credit = 0;
	c->pend_head = c->pend_tail = NONE;
	c->last_rx_ns = c->frame_end_ns = r->now_ns;
	c->ack = NULL;
	peer_str(c->fd, c->peer, sizeof(c->peer));
	stat_add(&l->st.accepted, 1);
	stat_add(&l->st.open, 1);
	if (l->cfg.acks) {
		c->ack = &r->ackc[c - r->conns];
		ack_greet(r, c);
	}
	conn_arm(r, c);
}

static void
udp_flush(struct slc_reactor *r, struct lst *l)
{
	uint32_t taken;

	if (l->udp_n == 0)
		return;
	taken = r->cfg.ops.deliver(r->cfg.ops.ctx, r, l->udp_batch, l->udp_n);
	stat_add(&l->st.msgs, taken);
	if (taken < l->udp_n) {
		/* Datagrams have no flow control: what the pools refuse is dropped, counted. */
		stat_add(&l->st.udp_drops[SLC_UDP_DROP_POOLS_FULL], l->udp_n - taken);
		rlog(r, LOGK_UDP, 1, "port %u: dropped %u datagrams: pools full", l->port,
		     l->udp_n - taken);
		for (uint32_t k = taken; k < l->udp_n; k++)
			buf_unref(r, l->udp_batch[k].ref & SLC_MSG_REF_MASK, 1);
	}
	l->udp_n = 0;
}

static void
on_udp(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t li)
{
	struct lst *l = &r->lst[li];

	if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint32_t ref = r->nb + bid;
		uint8_t *buf = ref_ptr(r, ref);
		struct io_uring_recvmsg_out *o;

		r->udp_in_ring--;
		o = io_uring_recvmsg_validate(buf, cqe->res, &r->udp_mh);
		if (o == NULL) {
			stat_add(&l->st.udp_drops[SLC_UDP_DROP_MALFORMED], 1);
			udp_buf_give(r, bid);
			goto out;
		}
		stat_add(&l->st.bytes, o->payloadlen);
		if ((o->flags & MSG_TRUNC) || o->payloadlen > r->cfg.max_frame) {
			char peer[INET6_ADDRSTRLEN + 8] = "?";
			struct sockaddr_storage *ss = io_uring_recvmsg_name(o);

			if (o->namelen >= sizeof(struct sockaddr_in) && ss->ss_family == AF_INET) {
				struct sockaddr_in *sin = (struct sockaddr_in *)ss;
				char host[INET_ADDRSTRLEN];

				inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
				snprintf(peer, sizeof(peer), "%s:%u", host, ntohs(sin->sin_port));
			}
			stat_add(&l->st.udp_drops[SLC_UDP_DROP_OVERSIZE], 1);
			stat_add(&l->st.frames_rejected[SLC_FRAME_ERR_OVERSIZE], 1);
			rlog(r, LOGK_UDP, 1, "port %u: dropped a datagram from %s: over max-frame",
			     l->port, peer);
			udp_buf_give(r, bid);
			goto out;
		}
		if (o->payloadlen == 0) {
			stat_add(&l->st.empty_frames, 1);
			udp_buf_give(r, bid);
			goto out;
		}
		r->refcnt[ref] = 1;
		l->udp_batch[l->udp_n++] = (struct slc_msg){
		        .data = io_uring_recvmsg_payload(o, &r->udp_mh),
		        .len = o->payloadlen,
		        .recv_ns = r->now_ns,
		        .conn = SLC_MSG_CONN_UDP | li,
		        .ref = r->cfg.id << 24 | ref,
		};
		if (l->udp_n == UDP_BATCH)
			udp_flush(r, l);
	}
out:
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	l->armed = false;
	if (cqe->res < 0) {
		switch (-cqe->res) {
		case ENOBUFS:
			stat_add(&r->st.buf_exhausted, 1);
			break;
		case ECANCELED:
			return;
		default:
			rlog(r, LOGK_UDP, 1, "port %u: receive failed: %s", l->port,
			     strerror(-cqe->res));
			break;
		}
	}
	listener_arm(r, li);
}

static void
wake_arm(struct slc_reactor *r)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	io_uring_prep_read(sqe, r->wake_fd, &r->wake_buf, sizeof(r->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_WAKE, 0, 0));
}

static void
on_cqe(struct slc_reactor *r, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	uint32_t idx = (uint32_t)ud;

	switch (ud >> 56) {
	case UD_RECV:
		on_recv(r, cqe, idx);
		break;
	case UD_ACCEPT:
		on_accept(r, cqe, idx);
		break;
	case UD_UDP:
		on_udp(r, cqe, idx);
		break;
	case UD_WAKE:
		if (!r->stopping || cqe->res > 0)
			wake_arm(r);
		break;
	case UD_ACK_SEND:
		on_ack_send(r, cqe, idx);
		break;
	default:
		break;
	}
}

/* ---- the release path --------------------------------------------------------------- */

static bool
rel_drain(struct slc_reactor *r)
{
	struct rel_ent ents[REL_BURST];
	bool any = false;
	uint32_t n;

	while ((n = slc_ring_mpsc_dequeue_burst(r->rel, ents, REL_BURST)) != 0) {
		for (uint32_t i = 0; i < n; i++)
			buf_unref(r, ents[i].ref, ents[i].count);
		any = true;
	}
	return any;
}

/* Wakes the reactor if it announced that it sleeps (the protocol of ringbuf/park.h, with
 * an eventfd in place of the futex because the reactor sleeps in io_uring_enter). */
static void
reactor_wake(struct slc_reactor *r)
{
	uint64_t one = 1;

	/* F2: pairs with F1 in reactor_wait. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed) == 0)
		return;
	if (atomic_exchange_explicit(&r->sleeping, 0, memory_order_relaxed) == 0)
		return;
	if (write(r->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is far from overflowing: nothing to do. */
	}
}

void
slc_reactor_release(struct slc_reactor *r, const struct slc_msg *msgs, uint32_t n)
{
	struct rel_ent ents[64];
	uint32_t ne = 0, spins = 0;

	if (pthread_equal(pthread_self(), r->thread) && r->thread_running) {
		/* On the reactor's own thread (a consumer that finishes inside deliver):
		 * no ring needed. */
		for (uint32_t i = 0; i < n; i++)
			buf_unref(r, msgs[i].ref & SLC_MSG_REF_MASK, 1);
		return;
	}
	/* Acquire: pairs with the release at the end of reactor_thread. A worker that drains
	 * its rings after the reactor stopped (the daemon's shutdown) must not wait for a
	 * loop that will never empty the ring again. */
	if (atomic_load_explicit(&r->loop_done, memory_order_acquire))
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t ref = msgs[i].ref & SLC_MSG_REF_MASK;

		if (ne != 0 && ents[ne - 1].ref == ref) {
			ents[ne - 1].count++;
			continue;
		}
		if (ne == 64) {
			while (slc_ring_mpsc_enqueue_bulk(r->rel, ents, ne) == 0) {
				if (atomic_load_explicit(&r->loop_done, memory_order_acquire))
					return;
				reactor_wake(r);
				if (++spins % 64 == 0)
					sched_yield();
			}
			ne = 0;
		}
		ents[ne++] = (struct rel_ent){.ref = ref, .count = 1};
	}
	while (ne != 0 && slc_ring_mpsc_enqueue_bulk(r->rel, ents, ne) == 0) {
		if (atomic_load_explicit(&r->loop_done, memory_order_acquire))
			return;
		reactor_wake(r);
		if (++spins % 64 == 0)
			sched_yield();
	}
	reactor_wake(r);
}

static bool
ack_drain(struct slc_reactor *r)
{
	struct ack_ent ents[REL_BURST / 2];
	bool any = false;
	uint32_t n;

	while ((n = slc_ring_mpsc_dequeue_burst(r->ackr, ents, REL_BURST / 2)) != 0) {
		for (uint32_t i = 0; i < n; i++)
			ack_apply(r, ents[i].conn & ~ACK_ENT_FAILED, ents[i].seq, ents[i].count,
			          !(ents[i].conn & ACK_ENT_FAILED));
		any = true;
	}
	return any;
}

/* Hands entries to the reactor: applied at once on its own thread, else through the ring
 * (waiting while it is full, as slc_reactor_release does). False: the loop has ended. */
static bool
ack_push(struct slc_reactor *r, const struct ack_ent *ents, uint32_t n, bool own, uint32_t *spins)
{
	if (own) {
		for (uint32_t i = 0; i < n; i++)
			ack_apply(r, ents[i].conn & ~ACK_ENT_FAILED, ents[i].seq, ents[i].count,
			          !(ents[i].conn & ACK_ENT_FAILED));
		return true;
	}
	while (n != 0 && slc_ring_mpsc_enqueue_bulk(r->ackr, ents, n) == 0) {
		if (atomic_load_explicit(&r->loop_done, memory_order_acquire))
			return false;
		reactor_wake(r);
		if (++*spins % 64 == 0)
			sched_yield();
	}
	return true;
}

void
slc_reactor_ack(struct slc_reactor *r, const struct slc_msg *msgs, uint32_t n, bool durable)
{
	struct ack_ent ents[64];
	uint32_t ne = 0, spins = 0, failed = durable ? 0 : ACK_ENT_FAILED;
	bool own = pthread_equal(pthread_self(), r->thread) && r->thread_running;

	if (r->ackr == NULL)
		return;
	/* Acquire: pairs with the release at the end of reactor_thread (as in release). */
	if (!own && atomic_load_explicit(&r->loop_done, memory_order_acquire))
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id;
		uint64_t seq;

		if (!slc_msg_is_ack(&msgs[i]))
			continue;
		id = (msgs[i].conn & SLC_MSG_CONN_ID_MASK) | failed;
		seq = slc_msg_ack_seq(&msgs[i]);
		/* A batch holds runs of consecutive frames of one connection: one entry each. */
		if (ne != 0 && ents[ne - 1].conn == id &&
		    ents[ne - 1].seq + ents[ne - 1].count == seq) {
			ents[ne - 1].count++;
			continue;
		}
		if (ne == 64) {
			if (!ack_push(r, ents, ne, own, &spins))
				return;
			ne = 0;
		}
		ents[ne++] = (struct ack_ent){.seq = seq, .conn = id, .count = 1};
	}
	if (ne == 0 || !ack_push(r, ents, ne, own, &spins) || own)
		return;
	reactor_wake(r);
}

uint32_t
slc_reactor_id(const struct slc_reactor *r)
{
	return r->cfg.id;
}

void
slc_reactor_kick(struct slc_reactor *r)
{
	atomic_store_explicit(&r->kicked, 1, memory_order_relaxed);
	reactor_wake(r);
}

/* ---- the loop ----------------------------------------------------------------------- */

/* True when some of c's unparsed bytes still sit in receive buffers. */
static bool
conn_pins_buffers(const struct slc_reactor *r, const struct conn *c)
{
	for (uint32_t i = c->pend_head; i != NONE; i = r->pend[i].next)
		if (!ref_is_heap(r, r->pend[i].ref))
			return true;
	return false;
}

/*
 * Once a tick while connections wait for heap memory to reassemble a frame into:
 *  - every partial frame whose peer has sent nothing for EVICT_IDLE_NS is evicted, so that
 *    idle clients holding half a frame each cannot keep the others waiting. Only a
 *    connection that is receiving counts: one that is paused or starved of receive
 *    buffers waits for us, not for its peer;
 *  - when the receive buffers have run dry for EVICT_IDLE_NS as well, one waiting
 *    connection that holds receive buffers (its bytes did not fit in the stash) is
 *    evicted per tick: the frames being reassembled may need those buffers to complete,
 *    and nothing else would give them back.
 */
static void
heap_evict_idle(struct slc_reactor *r)
{
	if (r->now_ns - r->dry_since_ns >= EVICT_IDLE_NS) {
		for (uint32_t i = 0; i < r->nconns; i++) {
			struct conn *c = &r->conns[i];

			if (c->heap_wait && c->state == CONN_PAUSED && conn_pins_buffers(r, c)) {
				rlog(r, LOGK_CLOSE, 1,
				     "closing %s: it waits for reassembly memory holding receive "
				     "buffers, and none has been free for %llu ms",
				     c->peer, (unsigned long long)(EVICT_IDLE_NS / 1000000));
				conn_close(r, c, SLC_CLOSE_EVICTED);
				break;
			}
		}
	}
	for (uint32_t i = 0; i < r->nconns; i++) {
		struct conn *c = &r->conns[i];

		if (c->reasm == NONE || c->state != CONN_RECEIVING || c->starved ||
		    r->now_ns - c->reasm_rx_ns < EVICT_IDLE_NS)
			continue;
		rlog(r, LOGK_CLOSE, 1,
		     "closing %s: %u bytes of a frame and nothing more for %llu ms, while %u "
		     "connections wait for reassembly memory (%llu of %llu bytes in use)",
		     c->peer, c->reasm_len, (unsigned long long)(EVICT_IDLE_NS / 1000000),
		     r->heap_waiters, (unsigned long long)r->heap_used[HEAP_REASM],
		     (unsigned long long)r->heap_budget[HEAP_REASM]);
		conn_close(r, c, SLC_CLOSE_EVICTED);
	}
}

static void
tick(struct slc_reactor *r)
{
	struct timespec ts;

	r->next_tick_ns = r->now_ns + TICK_NS;
	/* Published here rather than read with pthread_getcpuclockid from outside, which
	 * would race with the thread's exit and join. */
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		atomic_store_explicit(&r->cpu_ns,
		                      (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec,
		                      memory_order_relaxed);
	for (uint32_t i = 0; i < r->nlst; i++) {
		if (!r->lst[i].armed && !r->lst[i].starved && r->now_ns >= r->lst[i].rearm_at_ns)
			listener_arm(r, i);
	}
	if (r->cfg.idle_timeout_ms != 0) {
		uint64_t limit = (uint64_t)r->cfg.idle_timeout_ms * 1000000ull;

		for (uint32_t i = 0; i < r->nconns; i++) {
			struct conn *c = &r->conns[i];

			/* Silent (a client waiting for acks is not), or inside one frame for
			 * the whole timeout, however many bytes of it dribble in. */
			bool silent = r->now_ns - c->last_rx_ns > limit &&
			              (c->ack == NULL ||
			               (c->ack->next == c->ack->base && !c->ack->sending));
			bool stuck = slc_frame_parser_mid_frame(&c->parser) &&
			             r->now_ns - c->frame_end_ns > limit;

			if (c->state == CONN_RECEIVING && (silent || stuck)) {
				rlog(r, LOGK_CLOSE, 1, "closing %s: idle for %u ms%s", c->peer,
				     r->cfg.idle_timeout_ms,
				     slc_frame_parser_mid_frame(&c->parser) ? " inside a frame"
				                                            : "");
				conn_close(r, c, SLC_CLOSE_IDLE);
			}
		}
	}
	if (r->tcp_in_ring >= r->tcp_wm || r->heap_waiters == 0)
		r->dry_since_ns = r->now_ns;
	if (r->heap_waiters != 0)
		heap_evict_idle(r);
	stat_set(&r->st.cq_overflow, *r->ring.cq.koverflow);
	for (uint32_t i = 0; i < r->nlst; i++) {
		uint32_t mi[SK_MEMINFO_VARS];
		socklen_t len = sizeof(mi);

		if (r->lst[i].cfg.proto == SLC_LISTENER_UDP &&
		    getsockopt(r->lst[i].fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == 0 &&
		    len > SK_MEMINFO_DROPS * sizeof(uint32_t))
			stat_set(&r->lst[i].st.udp_kernel_drops, mi[SK_MEMINFO_DROPS]);
	}
}

static void
begin_stop(struct slc_reactor *r)
{
	struct io_uring_sqe *sqe;

	r->stopping = true;
	r->drain_deadline_ns = r->now_ns + (uint64_t)r->drain_ms * 1000000ull;
	for (uint32_t i = 0; i < r->nlst; i++) {
		if (!r->lst[i].armed)
			continue;
		sqe = get_sqe(r);
		io_uring_prep_cancel64(
		        sqe,
		        ud_make(r->lst[i].cfg.proto == SLC_LISTENER_UDP ? UD_UDP : UD_ACCEPT, i, 0),
		        0);
		io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0, 0));
	}
	for (uint32_t i = 0; i < r->nconns; i++) {
		conn_cancel_recv(r, &r->conns[i]);
		ack_cancel_send(r, &r->conns[i]);
	}
}

/* True once nothing is in flight and nothing received waits to be delivered (or the
 * drain deadline passed). */
static bool
stop_done(struct slc_reactor *r)
{
	bool waiting = false;

	for (uint32_t i = 0; i < r->nlst; i++) {
		if (r->lst[i].armed)
			return false;
		udp_flush(r, &r->lst[i]);
	}
	for (uint32_t i = 0; i < r->nconns; i++) {
		struct conn *c = &r->conns[i];

		if (c->state == CONN_FREE || c->state == CONN_DRAINING)
			continue;
		if (c->armed || (c->ack != NULL && c->ack->sending))
			return false;
		if (c->state == CONN_PAUSED)
			waiting = true;
	}
	return !waiting || r->now_ns >= r->drain_deadline_ns;
}

static void
reactor_wait(struct slc_reactor *r)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = (long long)TICK_NS};
	bool timed = r->cfg.idle_timeout_ms != 0 || r->stopping || r->heap_waiters != 0;

	for (uint32_t i = 0; i < r->nlst && !timed; i++)
		timed = !r->lst[i].armed;

	atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
	/* F1: orders the announcement before the checks below; pairs with F2 in
	 * reactor_wake. */
	atomic_thread_fence(memory_order_seq_cst);
	if (slc_ring_mpsc_count(r->rel) != 0 ||
	    (r->ackr != NULL && slc_ring_mpsc_count(r->ackr) != 0) ||
	    atomic_load_explicit(&r->kicked, memory_order_relaxed) != 0 ||
	    atomic_load_explicit(&r->stop_req, memory_order_relaxed) != r->stopping) {
		atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
		io_uring_submit(&r->ring);
		return;
	}
	if (r->last_cqes != 0) {
		struct __kernel_timespec bts = {.tv_sec = 0, .tv_nsec = WAIT_BATCH_NS};

		io_uring_submit_and_wait_timeout(&r->ring, &cqe, WAIT_BATCH, &bts, NULL);
	} else {
		io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, timed ? &ts : NULL, NULL);
	}
	atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
}

static void
reactor_loop(struct slc_reactor *r)
{
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		r->now_ns = slc_mono_ns();
		stat_add(&r->st.loops, 1);
		/* Acquire: pairs with the store in slc_reactor_stop, which published drain_ms. */
		if (atomic_load_explicit(&r->stop_req, memory_order_acquire) && !r->stopping)
			begin_stop(r);
		if (rel_drain(r))
			r->retry = true;
		if (r->ackr != NULL)
			ack_drain(r);
		if (r->ackq_n != 0)
			ackq_run(r);
		if (atomic_exchange_explicit(&r->kicked, 0, memory_order_relaxed) != 0)
			r->retry = true;
		bufs_commit(r);
		if (r->retry) {
			waitq_run(r);
			for (uint32_t i = 0; i < r->nlst; i++)
				if (r->lst[i].starved)
					listener_arm(r, i);
		}
		if (r->now_ns >= r->next_tick_ns)
			tick(r);
		if (r->stopping && stop_done(r))
			break;

		if (io_uring_cq_ready(&r->ring) == 0) {
			io_uring_submit_and_get_events(&r->ring);
			if (io_uring_cq_ready(&r->ring) == 0)
				reactor_wait(r);
		}
		r->now_ns = slc_mono_ns();
		io_uring_for_each_cqe(&r->ring, head, cqe)
		{
			on_cqe(r, cqe);
			n++;
		}
		io_uring_cq_advance(&r->ring, n);
		stat_add(&r->st.cqes, n);
		r->last_cqes = n;
		for (uint32_t i = 0; i < r->nlst; i++)
			udp_flush(r, &r->lst[i]);
		if (r->ackq_n != 0)
			ackq_run(r);
		bufs_commit(r);
	}
	for (uint32_t i = 0; i < r->nconns; i++)
		conn_close(r, &r->conns[i], SLC_CLOSE_SHUTDOWN);
}

/* ---- set-up ------------------------------------------------------------------------- */

static int
listener_open(struct slc_reactor *r, struct lst *l)
{
	int one = 1, fd, rc;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type = l->cfg.proto == SLC_LISTENER_UDP ? SOCK_DGRAM : SOCK_STREAM;

	fd = socket(l->cfg.addr.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto err_close;
	if (type == SOCK_DGRAM) {
		int rcvbuf = 32 << 20;

		/* A big receive buffer rides out bursts; FORCE needs CAP_NET_ADMIN. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	if (bind(fd, (struct sockaddr *)&l->cfg.addr, l->cfg.addrlen) != 0)
		goto err_close;
	if (type == SOCK_STREAM && listen(fd, 4096) != 0)
		goto err_close;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		goto err_close;
	l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                         : ((struct sockaddr_in *)&ss)->sin_port);
	l->fd = fd;
	(void)r;
	return 0;

err_close:
	rc = -errno;
	close(fd);
	return rc;
}

/* Registers a provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring). */
static struct io_uring_buf_ring *
buf_ring_setup(struct slc_reactor *r, uint32_t entries, uint16_t bgid, uint16_t flags, size_t *len,
               int *err)
{
	struct io_uring_buf_reg reg = {0};
	struct io_uring_buf_ring *br;

	*len = (size_t)entries * sizeof(struct io_uring_buf);
	br = region_alloc(r, *len);
	if (br == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	io_uring_buf_ring_init(br);
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = entries;
	reg.bgid = bgid;
	reg.pad = flags; /* "flags" in newer headers: IOU_PBUF_RING_INC */
	*err = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (*err != 0) {
		region_free(r, br, *len);
		return NULL;
	}
	return br;
}

static void
features_describe(struct slc_reactor *r, const char *refused)
{
	snprintf(r->features_str, sizeof(r->features_str),
	         "io_uring: defer_taskrun=%s bundles=%s incremental_buffers=%s "
	         "registered_ring_fd=%s fixed_files=no (multishot receives hold the file)%s%s",
	         r->features & SLC_REACTOR_F_DEFER ? "yes" : "no",
	         r->features & SLC_REACTOR_F_BUNDLE ? "yes" : "no",
	         r->features & SLC_REACTOR_F_INC ? "yes" : "no",
	         r->features & SLC_REACTOR_F_RING_FD ? "yes" : "no", refused[0] ? "; " : "",
	         refused);
}

/* Runs on the reactor's thread (SINGLE_ISSUER makes the creating thread the submitter). */
static int
reactor_setup_ring(struct slc_reactor *r)
{
	struct io_uring_params p = {0};
	unsigned sq = r->cfg.sq_entries ? r->cfg.sq_entries : 256;
	char refused[160] = "";
	size_t rl = 0;
	int rc;

	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
	p.cq_entries = sq * 16;
	if (!(r->cfg.features_off & SLC_REACTOR_F_DEFER))
		p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	rc = io_uring_queue_init_params(sq, &r->ring, &p);
	if (rc == -EINVAL && (p.flags & IORING_SETUP_DEFER_TASKRUN)) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_COOP_TASKRUN |
		          IORING_SETUP_TASKRUN_FLAG;
		p.cq_entries = sq * 16;
		rc = io_uring_queue_init_params(sq, &r->ring, &p);
		snprintf(refused + rl, sizeof(refused) - rl, "kernel refused DEFER_TASKRUN ");
		rl = strlen(refused);
	} else if (rc == 0 && (p.flags & IORING_SETUP_DEFER_TASKRUN)) {
		r->features |= SLC_REACTOR_F_DEFER;
	}
	if (rc != 0)
		return rc;
	r->ring_ok = true;
	if (!(r->cfg.features_off & SLC_REACTOR_F_BUNDLE)) {
		if (p.features & IORING_FEAT_RECVSEND_BUNDLE) {
			r->features |= SLC_REACTOR_F_BUNDLE;
		} else {
			snprintf(refused + rl, sizeof(refused) - rl, "no receive bundles (6.10) ");
			rl = strlen(refused);
		}
	}
	if (!(r->cfg.features_off & SLC_REACTOR_F_RING_FD)) {
		if (io_uring_register_ring_fd(&r->ring) == 1) {
			r->features |= SLC_REACTOR_F_RING_FD;
		} else {
			snprintf(refused + rl, sizeof(refused) - rl, "no registered ring fd ");
			rl = strlen(refused);
		}
	}

	/* TCP buffer ring, incremental if the kernel takes it. */
	r->tcp_br = NULL;
	if (!(r->cfg.features_off & SLC_REACTOR_F_INC)) {
		r->tcp_br = buf_ring_setup(r, r->nb, 0, IOU_PBUF_RING_INC, &r->tcp_br_len, &rc);
		if (r->tcp_br != NULL) {
			r->features |= SLC_REACTOR_F_INC;
		} else {
			snprintf(refused + rl, sizeof(refused) - rl,
			         "no incremental buffers (6.12): %s ", strerror(-rc));
			rl = strlen(refused);
		}
	}
	if (r->tcp_br == NULL) {
		r->tcp_br = buf_ring_setup(r, r->nb, 0, 0, &r->tcp_br_len, &rc);
		if (r->tcp_br == NULL)
			return rc;
	}
	r->udp_br = buf_ring_setup(r, r->nu, 1, 0, &r->udp_br_len, &rc);
	if (r->udp_br == NULL)
		return rc;
	for (uint32_t b = 0; b < r->nb; b++)
		tcp_buf_give(r, b);
	for (uint32_t b = 0; b < r->nu; b++)
		udp_buf_give(r, b);
	bufs_commit(r);
	if (rl != 0)
		refused[rl - 1] = '\0';
	features_describe(r, refused);
	wake_arm(r);
	for (uint32_t i = 0; i < r->nlst; i++)
		listener_arm(r, i);
	io_uring_submit(&r->ring);
	return 0;
}

static void *
reactor_thread(void *arg)
{
	struct slc_reactor *r = arg;
	char name[16];
	int rc;

	snprintf(name, sizeof(name), "slc-reactor-%u", r->cfg.id);
	pthread_setname_np(pthread_self(), name);
	slc_numa_pin_cpu(r->cfg.cpu);
	rc = reactor_setup_ring(r);

	pthread_mutex_lock(&r->mu);
	r->init_rc = rc;
	pthread_cond_broadcast(&r->cv);
	while (!r->go)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	if (rc == 0 && !atomic_load(&r->stop_req))
		reactor_loop(r);
	else if (rc == 0)
		atomic_store(&r->stop_req, true);
	/* Release: pairs with the acquire in slc_reactor_release. */
	atomic_store_explicit(&r->loop_done, true, memory_order_release);
	return NULL;
}

static bool
pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static uint32_t
pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

struct slc_reactor *
slc_reactor_create(const struct slc_reactor_cfg *cfg, int *err)
{
	struct slc_reactor *r;
	uint32_t nrefs, rel_cap, ack_w = cfg->ack_window ? cfg->ack_window : SLC_ACK_WINDOW_DEFAULT;
	bool acks = false;
	int rc;

	if (cfg->id > 255 || !pow2(cfg->buffers) || cfg->buffers > 32768 ||
	    !pow2(cfg->udp_buffers) || cfg->udp_buffers > 32768 || cfg->buffer_size < 64 ||
	    cfg->max_frame == 0 || cfg->max_conns == 0 || cfg->max_conns > SLC_MSG_CONN_ID_MASK ||
	    cfg->nlisteners == 0 || cfg->ops.deliver == NULL || !pow2(ack_w) ||
	    ack_w > SLC_ACK_WINDOW_MAX) {
		*err = -EINVAL;
		return NULL;
	}
	for (uint32_t i = 0; i < cfg->nlisteners; i++) {
		const struct slc_listener_cfg *l = &cfg->listeners[i];

		/* The sequence number rides in a len32 frame; UDP has no stream to ack. */
		if (l->acks && (l->proto != SLC_LISTENER_TCP || l->framing != SLC_FRAME_LEN32)) {
			*err = -EINVAL;
			return NULL;
		}
		acks |= l->acks;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	r->cfg = *cfg;
	if (r->cfg.log == NULL)
		r->cfg.log = default_log;
	r->wake_fd = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->nb = cfg->buffers;
	r->bsz = cfg->buffer_size;
	r->tcp_mask = r->nb - 1;
	r->tcp_wm = r->nb / 16 ? r->nb / 16 : 1;
	r->nu = cfg->udp_buffers;
	r->udp_mask = r->nu - 1;
	r->heap_budget[HEAP_REASM] =
	        cfg->reasm_bytes != 0 ? cfg->reasm_bytes : (uint64_t)r->nb * r->bsz;
	/* At least one frame of max_frame bytes (and its CR) must fit. */
	if (r->heap_budget[HEAP_REASM] < (uint64_t)cfg->max_frame + 1)
		r->heap_budget[HEAP_REASM] = (uint64_t)cfg->max_frame + 1;
	/* What waiting connections received before their receive was cancelled: at most what
	 * the receive buffers held at the time, and rarely more than a few KiB each. */
	r->heap_budget[HEAP_STASH] = (uint64_t)r->nb * r->bsz;
	r->stash_max = r->bsz / 8;
	r->udp_mh.msg_namelen = sizeof(struct sockaddr_storage);
	/* No control messages: the socket's drop counter is read once a tick (SO_MEMINFO)
	 * rather than copied into every datagram's buffer. */
	r->udp_mh.msg_controllen = 0;
	r->ubsz = (uint32_t)(sizeof(struct io_uring_recvmsg_out) + r->udp_mh.msg_namelen +
	                     r->udp_mh.msg_controllen) +
	          (cfg->max_frame < 65535 ? cfg->max_frame : 65535);
	r->ubsz = (r->ubsz + 63) & ~63u;
	r->nconns = cfg->max_conns;
	/* Enough for every connection to pause with a few pieces; grown on demand up to a
	 * bound that only an absurd number of pieces per byte of receive memory reaches. */
	r->npend = 4 * (r->nb + r->nu) + 2 * r->nconns;
	r->npend_max = r->npend + (uint32_t)((uint64_t)r->nb * r->bsz / sizeof(struct pend));
	r->nr = (uint32_t)((r->heap_budget[HEAP_REASM] + r->heap_budget[HEAP_STASH]) /
	                   HEAP_CHUNK_MIN) +
	        64;
	if (r->nr > SLC_MSG_REF_MASK + 1 - r->nb - r->nu)
		r->nr = SLC_MSG_REF_MASK + 1 - r->nb - r->nu;
	nrefs = r->nb + r->nu + r->nr;

	r->tcp_mem_len = (size_t)r->nb * r->bsz;
	r->udp_mem_len = (size_t)r->nu * r->ubsz;
	r->tcp_mem = region_alloc(r, r->tcp_mem_len);
	r->udp_mem = region_alloc(r, r->udp_mem_len);
	r->kern_off = calloc(r->nb, sizeof(*r->kern_off));
	r->ring_bid = calloc(r->nb, sizeof(*r->ring_bid));
	r->entry_of = calloc(r->nb, sizeof(*r->entry_of));
	r->heap = calloc(r->nr, sizeof(*r->heap));
	r->heap_free = calloc(r->nr, sizeof(*r->heap_free));
	r->refcnt = calloc(nrefs, sizeof(*r->refcnt));
	r->pend = calloc(r->npend, sizeof(*r->pend));
	r->conns = calloc(r->nconns, sizeof(*r->conns));
	r->conn_free = calloc(r->nconns, sizeof(*r->conn_free));
	r->wq_mask = pow2_at_least(r->nconns) - 1;
	r->waitq = calloc(r->wq_mask + 1, sizeof(*r->waitq));
	r->wq_spare = calloc(r->wq_mask + 1, sizeof(*r->wq_spare));
	r->turn_left = NONE;
	r->lst = calloc(cfg->nlisteners, sizeof(*r->lst));
	rel_cap = pow2_at_least(2 * nrefs > 1024 ? 2 * nrefs : 1024);
	r->rel_len = slc_ring_mpsc_memsize(rel_cap, sizeof(struct rel_ent));
	r->rel = aligned_alloc(SLC_RING_ALIGN, r->rel_len);
	if (!r->tcp_mem || !r->udp_mem || !r->heap || !r->kern_off || !r->ring_bid ||
	    !r->entry_of || !r->heap_free || !r->refcnt || !r->pend || !r->conns || !r->conn_free ||
	    !r->waitq || !r->wq_spare || !r->lst || !r->rel) {
		rc = -ENOMEM;
		goto err_free;
	}
	slc_ring_mpsc_init(r->rel, rel_cap, sizeof(struct rel_ent));
	if (acks) {
		/* W bits per connection, allocated once: max_conns * W / 8 bytes. */
		r->ack_w = ack_w;
		r->ack_words = (ack_w + 63) / 64;
		r->ackc = calloc(r->nconns, sizeof(*r->ackc));
		r->ack_bits = calloc((size_t)r->nconns * r->ack_words, sizeof(uint64_t));
		r->ackq = calloc(r->nconns, sizeof(*r->ackq));
		r->ackr_len = slc_ring_mpsc_memsize(rel_cap, sizeof(struct ack_ent));
		r->ackr = aligned_alloc(SLC_RING_ALIGN, r->ackr_len);
		if (r->ackc == NULL || r->ack_bits == NULL || r->ackq == NULL || r->ackr == NULL) {
			rc = -ENOMEM;
			goto err_free;
		}
		slc_ring_mpsc_init(r->ackr, rel_cap, sizeof(struct ack_ent));
		for (uint32_t i = 0; i < r->nconns; i++)
			r->ackc[i].bits = r->ack_bits + (size_t)i * r->ack_words;
	}
	for (uint32_t i = 0; i < r->nr; i++)
		r->heap_free[r->heap_nfree++] = r->nr - 1 - i;
	r->pend_free = NONE;
	for (uint32_t i = r->npend; i-- > 0;) {
		r->pend[i].next = r->pend_free;
		r->pend_free = i;
	}
	for (uint32_t i = 0; i < r->nconns; i++) {
		r->conns[i].fd = -1;
		r->conn_free[r->conn_nfree++] = r->nconns - 1 - i;
	}
	r->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		rc = -errno;
		goto err_free;
	}

	r->nlst = cfg->nlisteners;
	for (uint32_t i = 0; i < r->nlst; i++) {
		r->lst[i].cfg = cfg->listeners[i];
		r->lst[i].fd = -1;
		if (r->lst[i].cfg.proto == SLC_LISTENER_UDP) {
			r->lst[i].udp_batch = calloc(UDP_BATCH, sizeof(struct slc_msg));
			if (r->lst[i].udp_batch == NULL) {
				rc = -ENOMEM;
				goto err_close_listeners;
			}
		}
		rc = listener_open(r, &r->lst[i]);
		if (rc != 0)
			goto err_close_listeners;
	}

	r->init_rc = 1;
	rc = pthread_create(&r->thread, NULL, reactor_thread, r);
	if (rc != 0) {
		rc = -rc;
		goto err_close_listeners;
	}
	r->thread_running = true;
	pthread_mutex_lock(&r->mu);
	while (r->init_rc == 1)
		pthread_cond_wait(&r->cv, &r->mu);
	rc = r->init_rc;
	pthread_mutex_unlock(&r->mu);
	if (rc != 0) {
		slc_reactor_stop(r, 0);
		goto err_close_listeners;
	}
	*err = 0;
	return r;

err_close_listeners:
	for (uint32_t i = 0; i < r->nlst; i++)
		if (r->lst[i].fd >= 0)
			close(r->lst[i].fd);
	r->nlst = 0;
err_free:
	*err = rc;
	slc_reactor_destroy(r);
	return NULL;
}

uint16_t
slc_reactor_listener_port(const struct slc_reactor *r, uint32_t i)
{
	return i < r->nlst ? r->lst[i].port : 0;
}

const char *
slc_reactor_features_str(const struct slc_reactor *r)
{
	return r->features_str;
}

int
slc_reactor_start(struct slc_reactor *r)
{
	pthread_mutex_lock(&r->mu);
	r->go = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

void
slc_reactor_stop(struct slc_reactor *r, uint32_t drain_ms)
{
	if (!r->thread_running)
		return;
	r->drain_ms = drain_ms;
	atomic_store(&r->stop_req, true);
	pthread_mutex_lock(&r->mu);
	r->go = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	slc_reactor_kick(r);
	{
		uint64_t one = 1;

		/* The reactor may be asleep without having announced it (start-up). */
		if (write(r->wake_fd, &one, sizeof(one)) < 0) {
		}
	}
	pthread_join(r->thread, NULL);
	r->thread_running = false;
}

void
slc_reactor_destroy(struct slc_reactor *r)
{
	if (r == NULL)
		return;
	slc_reactor_stop(r, 0);
	if (r->ring_ok)
		io_uring_queue_exit(&r->ring);
	for (uint32_t i = 0; i < r->nlst; i++) {
		if (r->lst[i].fd >= 0)
			close(r->lst[i].fd);
	}
	if (r->lst != NULL)
		for (uint32_t i = 0; i < r->cfg.nlisteners; i++)
			free(r->lst[i].udp_batch);
	for (uint32_t i = 0; r->conns != NULL && i < r->nconns; i++)
		if (r->conns[i].fd >= 0)
			close(r->conns[i].fd);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	region_free(r, r->tcp_br, r->tcp_br_len);
	region_free(r, r->udp_br, r->udp_br_len);
	region_free(r, r->tcp_mem, r->tcp_mem_len);
	region_free(r, r->udp_mem, r->udp_mem_len);
	for (uint32_t i = 0; r->heap != NULL && i < r->nr; i++)
		free(r->heap[i].mem);
	for (uint32_t i = 0; i < r->heap_ncached; i++)
		free(r->heap_cache[i]);
	free(r->heap);
	free(r->kern_off);
	free(r->ring_bid);
	free(r->entry_of);
	free(r->heap_free);
	free(r->refcnt);
	free(r->pend);
	free(r->conns);
	free(r->conn_free);
	free(r->waitq);
	free(r->wq_spare);
	free(r->lst);
	free(r->rel);
	free(r->ackc);
	free(r->ack_bits);
	free(r->ackq);
	free(r->ackr);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}

uint64_t
slc_reactor_thread_cpu_ns(const struct slc_reactor *r)
{
	return atomic_load_explicit(&r->cpu_ns, memory_order_relaxed);
}

const struct slc_reactor_stats *
slc_reactor_stats(const struct slc_reactor *r)
{
	return &r->st;
}

const struct slc_listener_stats *
slc_reactor_listener_stats(const struct slc_reactor *r, uint32_t i)
{
	return i < r->nlst ? &r->lst[i].st : NULL;
}
