/* SPDX-License-Identifier: MIT */
/* reasm.c: the reactor's heap memory: reassembly chunks, the stash, pending chunks, eviction. */
#include <stdlib.h>
#include <string.h>

#include "reactor_priv.h"

/*
 * Heap chunks (struct slc_reactor has the budgets) hold what receive buffers must not:
 * a frame that straddles buffers, copied as it arrives (reassembly), and the unparsed
 * bytes of paused connections (the stash), so that a connection that waits does not keep
 * buffers that the kernel needs to fill. Pending records (struct pend) list, per paused
 * connection, the chunks of bytes it has received and not parsed yet, wherever they lie.
 * docs/architecture.md, "No client can hold the others up", has the rules.
 */

static void
heap_stat(struct slc_reactor *r)
{
	stat_set(&r->stats.heap_bytes,
	         r->heap_used[HEAP_REASM] + r->heap_used[HEAP_STASH] + r->heap_used[HEAP_RESERVE]);
	stat_set(&r->stats.tls_bytes, r->heap_used[HEAP_TLS]);
}

/* A heap chunk of cap bytes of the kind's budget, as a ref, or NONE when the budget or
 * the chunk ids are spent. Its refcount starts at 0. */
uint32_t
slc_reasm_heap_get(struct slc_reactor *r, uint32_t cap, int kind)
{
	struct heap_chunk *h;
	uint32_t id;

	if (r->heap_nfree == 0 || r->heap_used[kind] + cap > r->heap_budget[kind])
		return NONE;
	id = r->heap_free_ids[r->heap_nfree - 1];
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
	r->refcnt[r->tcp_nbufs + r->udp_nbufs + id] = 0;
	heap_stat(r);
	return r->tcp_nbufs + r->udp_nbufs + id;
}

/* Frees a heap chunk (by ref); connections waiting for heap memory try again. */
void
slc_reasm_heap_put(struct slc_reactor *r, uint32_t ref)
{
	uint32_t id = ref - r->tcp_nbufs - r->udp_nbufs;
	struct heap_chunk *h = &r->heap[id];

	if (h->cap == r->cfg.max_frame + 1 && r->heap_ncached < HEAP_CACHE)
		r->heap_cache[r->heap_ncached++] = h->mem;
	else
		free(h->mem);
	h->mem = NULL;
	r->heap_used[h->kind] -= h->cap;
	r->heap_free_ids[r->heap_nfree++] = id;
	r->retry = true;
	heap_stat(r);
}

/* Gives up the partial frame being reassembled; slc_reasm_heap_put wakes the connections that wait
 * for the memory. */
void
slc_reasm_drop(struct slc_reactor *r, struct conn *c)
{
	if (c->reasm == NONE)
		return;
	slc_reasm_heap_put(r, c->reasm);
	c->reasm = NONE;
	c->reasm_len = 0;
}

/* A reassembly chunk of want bytes from the shared budget, else the reserve (max_frame + 1
 * bytes: enough for any frame) when no other frame holds it; NONE when neither has room. */
static uint32_t
reasm_chunk_get(struct slc_reactor *r, uint32_t want)
{
	uint32_t h = slc_reasm_heap_get(r, want, HEAP_REASM);

	if (h == NONE)
		h = slc_reasm_heap_get(r, r->cfg.max_frame + 1, HEAP_RESERVE);
	return h;
}

static uint32_t
pow2_at_least(uint32_t v)
{
	uint32_t p = REASM_CHUNK_MIN;

	while (p < v)
		p <<= 1;
	return p;
}

bool
slc_reasm_start(struct slc_reactor *r, struct conn *c, uint32_t len, uint32_t total)
{
	uint32_t want = total;

	if (total == 0) {
		/* An LF frame: room for twice its first piece, so that a line split once
		 * rarely grows; never more than the longest frame needs. */
		want = pow2_at_least(len <= UINT32_MAX / 2 ? 2 * len : len);
		if (want > r->cfg.max_frame + 1)
			want = r->cfg.max_frame + 1;
	}
	c->reasm = reasm_chunk_get(r, want);
	if (c->reasm == NONE)
		return false;
	c->reasm_len = 0;
	c->reasm_rx_ns = r->now_ns;
	return true;
}

/*
 * Growing a frame that has begun. The shared budget may be spent by other partial frames
 * that want to grow as well; then the reserve, which holds any frame whole, lets one of
 * them end, and the others wait (paused: never evicted for it) until it, or any other
 * frame, gives memory back. The reserve's holder is an ordinary partial frame: it ends
 * when its peer sends the rest, or is evicted when its peer goes quiet while others wait,
 * so the reserve always comes back and each waiting frame gets its turn at it.
 */
bool
slc_reasm_grow(struct slc_reactor *r, struct conn *c, uint32_t need)
{
	struct heap_chunk *old = ref_heap_chunk(r, c->reasm);
	uint32_t want = old->cap * 2 > need ? old->cap * 2 : pow2_at_least(need);
	uint32_t h;

	SLC_ASSERT(need <= r->cfg.max_frame + 1 && need > old->cap);
	if (old->kind == HEAP_RESERVE)
		return false; /* cannot happen: the reserve holds max_frame + 1 */
	if (want > r->cfg.max_frame + 1)
		want = r->cfg.max_frame + 1;
	h = reasm_chunk_get(r, want);
	if (h == NONE) {
		stat_add(&r->stats.reasm_grow_waits, 1);
		return false;
	}
	memcpy(ref_ptr(r, h), old->mem, c->reasm_len);
	slc_reasm_heap_put(r, c->reasm);
	c->reasm = h;
	stat_add(&r->stats.reasm_grown, 1);
	return true;
}

void
slc_reasm_pend_drop_all(struct slc_reactor *r, struct conn *c)
{
	while (c->pend_head != NONE) {
		struct pend *p = &r->pend[c->pend_head];
		uint32_t next = p->next;

		buf_unref(r, p->ref, 1);
		p->next = r->pend_free_head;
		r->pend_free_head = c->pend_head;
		c->pend_head = next;
	}
	c->pend_tail = NONE;
}

/* A free pending-chunk record, growing the table (indices stay valid) when it runs out;
 * NONE only past npend_max or without memory. */
static uint32_t
pend_record_get(struct slc_reactor *r)
{
	struct pend *grown;
	uint32_t n;

	if (r->pend_free_head == NONE) {
		if (r->pend_nrecords >= r->pend_nrecords_max)
			return NONE;
		n = r->pend_nrecords * 2 < r->pend_nrecords_max ? r->pend_nrecords * 2
		                                                : r->pend_nrecords_max;
		grown = realloc(r->pend, (size_t)n * sizeof(*grown));
		if (grown == NULL)
			return NONE;
		r->pend = grown;
		for (uint32_t i = n; i-- > r->pend_nrecords;) {
			r->pend[i].next = r->pend_free_head;
			r->pend_free_head = i;
		}
		r->pend_nrecords = n;
	}
	return r->pend_free_head;
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
		hc = &r->heap[t->ref - r->tcp_nbufs - r->udp_nbufs];
		if (hc->kind == HEAP_STASH && t->off + t->len == hc->fill &&
		    hc->cap - hc->fill >= len) {
			memcpy(hc->mem + hc->fill, src, len);
			hc->fill += len;
			t->len += len;
			stat_add(&r->stats.stashed_bytes, len);
			*ref = NONE;
			return true;
		}
	}
	h = slc_reasm_heap_get(r, len > STASH_CHUNK ? len : STASH_CHUNK, HEAP_STASH);
	if (h == NONE)
		return false;
	hc = &r->heap[h - r->tcp_nbufs - r->udp_nbufs];
	memcpy(hc->mem, src, len);
	hc->fill = len;
	stat_add(&r->stats.stashed_bytes, len);
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
 * slc_reasm_evict_idle for what then keeps the reactor going). Returns false only when no
 * pending record is left (npend_max): the caller closes the connection.
 */
bool
slc_reasm_pend_push(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len,
                    bool front)
{
	uint32_t i;
	struct pend *p;

	if (!ref_is_heap(r, ref) &&
	    (c->heap_wait || (len <= r->stash_piece_max &&
	                      2 * r->heap_used[HEAP_STASH] < r->heap_budget[HEAP_STASH]))) {
		struct pend *t = !front && c->pend_tail != NONE ? &r->pend[c->pend_tail] : NULL;

		if (stash_copy(r, t, &ref, &off, len) && ref == NONE)
			return true; /* appended to the last chunk */
	}
	i = pend_record_get(r);
	if (i == NONE)
		return false;
	p = &r->pend[i];
	r->pend_free_head = p->next;
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

/*
 * A connection starts waiting for reassembly memory: what it holds of receive buffers
 * (its pending list, and len bytes at ref + off, the rest of the chunk where it stopped,
 * which go first) moves to the stash, as far as the stash has room. False only when no
 * pending record is left.
 */
bool
slc_reasm_unpin(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	/* A tls:// session's pinned ciphertext goes into its own buffer (tls.c). */
	if (c->tls != NULL && !slc_tls_pins_release(r, c))
		return false;
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
	return len == 0 || slc_reasm_pend_push(r, c, ref, off, len, true);
}

/* True when some of c's unparsed bytes still sit in receive buffers. */
static bool
conn_pins_buffers(const struct slc_reactor *r, const struct conn *c)
{
	if (c->tls != NULL && c->tls->npins != 0)
		return true;
	for (uint32_t i = c->pend_head; i != NONE; i = r->pend[i].next)
		if (!ref_is_heap(r, r->pend[i].ref))
			return true;
	return false;
}

/*
 * Once a tick while connections wait for heap memory to reassemble a frame into (or for a
 * while after an http:// request found none):
 *  - every partial frame (or http:// request being gathered) whose peer has sent nothing
 *    for evict_idle_ms (--evict-idle) is evicted, so that idle clients holding half a
 *    frame each cannot keep the others waiting. Only a connection that is receiving counts: one that is paused or starved of receive
 *    buffers waits for us, not for its peer;
 *  - when the receive buffers have run dry for evict_idle_ms as well, one waiting
 *    connection that holds receive buffers (its bytes did not fit in the stash) is
 *    evicted per tick: the frames being reassembled may need those buffers to complete,
 *    and nothing else would give them back.
 */
void
slc_reasm_evict_idle(struct slc_reactor *r)
{
	const uint64_t idle_ns = (uint64_t)r->cfg.evict_idle_ms * 1000000ull; /* --evict-idle */

	if (r->now_ns - r->tcp_dry_since_ns >= idle_ns) {
		for (uint32_t i = 0; i < r->nconns; i++) {
			struct conn *c = &r->conns[i];

			if (c->heap_wait && c->state == CONN_PAUSED && conn_pins_buffers(r, c)) {
				slc_reactor_log(r, LOGK_CLOSE, SLC_LOG_WARN,
				                "closing %s: it waits for reassembly memory "
				                "holding receive "
				                "buffers, and none has been free for %llu ms",
				                c->peer, (unsigned long long)(idle_ns / 1000000));
				slc_conn_close(r, c, SLC_CLOSE_EVICTED);
				break;
			}
		}
	}
	for (uint32_t i = 0; i < r->nconns; i++) {
		struct conn *c = &r->conns[i];
		uint32_t held = 0;
		bool http = slc_http_conn_gathering(c, &held);

		/* An http:// request being gathered is measured from its last receive. */
		if ((c->reasm == NONE && !http) || c->state != CONN_RECEIVING || c->starved ||
		    r->now_ns - (http ? c->last_rx_ns : c->reasm_rx_ns) < idle_ns)
			continue;
		slc_reactor_log(
		        r, LOGK_CLOSE, SLC_LOG_WARN,
		        "closing %s: %u bytes %s and nothing more for %llu ms, while %u "
		        "connections wait for reassembly memory (%llu of %llu bytes in use)",
		        c->peer, http ? held : c->reasm_len,
		        http ? "inside a request" : "of a frame",
		        (unsigned long long)(idle_ns / 1000000), r->heap_waiters,
		        (unsigned long long)(r->heap_used[HEAP_REASM] + r->heap_used[HEAP_RESERVE]),
		        (unsigned long long)(r->heap_budget[HEAP_REASM] +
		                             r->heap_budget[HEAP_RESERVE]));
		slc_conn_close(r, c, SLC_CLOSE_EVICTED);
	}
}
