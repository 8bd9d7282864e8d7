/* SPDX-License-Identifier: MIT */
/* reactor.c: a reactor's life: create, its thread and ring set-up, start, stop, destroy. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/sock_diag.h>
#include <openssl/ssl.h>
#include <time.h>
#include <unistd.h>

#include "numa.h"

#include "reactor_priv.h"

/* reactor_priv.h maps the other files; docs/architecture.md ("The reactor") the design. */

/* Log lines a second, per kind, before slc_reactor_log holds back the rest. */
#define LOG_PER_SEC 5

/* At most LOG_PER_SEC lines a second of each kind; the next line says how many were not
 * written. The loop's clock: the limit needs no reading of its own. */
void
slc_reactor_log(struct slc_reactor *r, int kind, int level, const char *fmt, ...)
{
	char prefix[24];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "reactor %u: ", r->cfg.id);
	va_start(ap, fmt);
	slc_log_limitedv(&r->log_limit[kind], LOG_PER_SEC, r->now_ns, r->cfg.log, r->cfg.log_ctx,
	                 level, prefix, fmt, ap);
	va_end(ap);
}

static void
features_describe(struct slc_reactor *r, const char *refused)
{
	snprintf(r->features_str, sizeof(r->features_str),
	         "io_uring: defer_taskrun=%s bundles=%s incremental_buffers=%s "
	         "registered_ring_fd=%s fixed_files=no (multishot receives hold the file) "
	         "receive_self_check=%s%s%s",
	         r->features & SLC_REACTOR_F_DEFER ? "yes" : "no",
	         r->features & SLC_REACTOR_F_BUNDLE ? "yes" : "no",
	         r->features & SLC_REACTOR_F_INC ? "yes" : "no",
	         r->features & SLC_REACTOR_F_RING_FD ? "yes" : "no",
	         r->selfcheck != NULL ? r->selfcheck : "not-run", refused[0] ? "; " : "", refused);
}

/* Runs on the reactor's thread (SINGLE_ISSUER makes the creating thread the submitter). */
static int
reactor_setup_ring(struct slc_reactor *r)
{
	struct io_uring_params p = {0};
	unsigned sq = r->cfg.sq_entries ? r->cfg.sq_entries : 256;
	char refused[256] = "";
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

	/* Before the TCP ring is registered: the check may switch incremental buffers off. */
	rc = slc_selfcheck(r, refused, sizeof(refused), &rl);
	if (rc != 0)
		return rc;
	rc = slc_bufring_setup(r, refused, sizeof(refused), &rl);
	if (rc != 0)
		return rc;
	if (rl != 0)
		refused[rl - 1] = '\0';
	features_describe(r, refused);
	wake_arm(r);
	for (uint32_t i = 0; i < r->nlisteners; i++)
		slc_listener_arm(r, i);
	io_uring_submit(&r->ring);
	return 0;
}

void
slc_reactor_tick(struct slc_reactor *r)
{
	uint64_t cpu;

	r->next_tick_ns = r->now_ns + TICK_NS;
	/* Published here rather than read with pthread_getcpuclockid from outside, which
	 * would race with the thread's exit and join. */
	cpu = slc_thread_cpu_ns();
	if (cpu != 0)
		atomic_store_explicit(&r->cpu_ns, cpu, memory_order_relaxed);
	for (uint32_t i = 0; i < r->nlisteners; i++) {
		if (!r->listeners[i].armed && !r->listeners[i].starved &&
		    r->now_ns >= r->listeners[i].rearm_at_ns)
			slc_listener_arm(r, i);
	}
	if (r->cfg.idle_timeout_ms != 0) {
		uint64_t limit = (uint64_t)r->cfg.idle_timeout_ms * 1000000ull;

		for (uint32_t i = 0; i < r->nconns; i++) {
			struct conn *c = &r->conns[i];

			/* Silent (a client waiting for acks is not), or inside one frame for
			 * the whole timeout, however many bytes of it dribble in. */
			bool silent = r->now_ns - c->last_rx_ns > limit &&
			              (c->ack == NULL ||
			               (slc_ack_window_settled(&c->ack->win) && !c->ack->sending));
			uint32_t held;
			bool http = slc_http_conn_gathering(c, &held);
			bool stuck = (slc_frame_parser_mid_frame(&c->parser) || http) &&
			             r->now_ns - c->frame_end_ns > limit;

			if (c->state == CONN_RECEIVING && (silent || stuck)) {
				slc_reactor_log(
				        r, LOGK_CLOSE, SLC_LOG_WARN, "closing %s: idle for %u ms%s",
				        c->peer, r->cfg.idle_timeout_ms,
				        http ? " inside a request"
				        : slc_frame_parser_mid_frame(&c->parser) ? " inside a frame"
				                                                 : "");
				slc_conn_close(r, c, SLC_CLOSE_IDLE);
			}
		}
	}
	if (r->tls_conns != NULL)
		slc_tls_tick(r);
	if (r->tcp_in_ring >= r->tcp_low_water || r->heap_waiters == 0)
		r->tcp_dry_since_ns = r->now_ns;
	if (r->heap_waiters != 0 || http_short_of_memory(r))
		slc_reasm_evict_idle(r);
	stat_set(&r->stats.cq_overflow, *r->ring.cq.koverflow);
	for (uint32_t i = 0; i < r->nlisteners; i++) {
		uint32_t mi[SK_MEMINFO_VARS];
		socklen_t len = sizeof(mi);

		if (r->listeners[i].cfg.proto == SLC_LISTENER_UDP &&
		    getsockopt(r->listeners[i].fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == 0 &&
		    len > SK_MEMINFO_DROPS * sizeof(uint32_t))
			stat_set(&r->listeners[i].stats.udp_kernel_drops, mi[SK_MEMINFO_DROPS]);
	}
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
		slc_reactor_loop(r);
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
	bool acks = false, tls = false, http = false, fwd = false;
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

		/* The sequence number rides in a len32 frame, a chunk in a forward message;
		 * UDP has no stream to ack. */
		if (l->acks &&
		    (l->proto != SLC_LISTENER_TCP ||
		     (l->framing != SLC_FRAME_LEN32 && l->framing != SLC_FRAME_FORWARD))) {
			*err = -EINVAL;
			return NULL;
		}
		/* http:// is plain TCP: a listener asking for TLS too would be run as
		 * one of them while its client expects the other. */
		if (l->http && (l->proto != SLC_LISTENER_TCP || l->acks || l->tls)) {
			*err = -EINVAL;
			return NULL;
		}
		acks |= l->acks;
		tls |= l->tls;
		if (l->tls && (l->proto != SLC_LISTENER_TCP || cfg->tls_ctx == NULL)) {
			*err = -EINVAL;
			return NULL;
		}
		http |= l->http;
		fwd |= l->framing == SLC_FRAME_FORWARD;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	r->cfg = *cfg;
	if (r->cfg.log == NULL)
		r->cfg.log = slc_log_stderr;
	r->wake_fd = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->tcp_nbufs = cfg->buffers;
	r->tcp_buf_size = cfg->buffer_size;
	r->tcp_mask = r->tcp_nbufs - 1;
	r->tcp_low_water = r->tcp_nbufs / 16 ? r->tcp_nbufs / 16 : 1;
	r->udp_nbufs = cfg->udp_buffers;
	r->udp_mask = r->udp_nbufs - 1;
	r->heap_budget[HEAP_REASM] =
	        cfg->reasm_bytes != 0 ? cfg->reasm_bytes : (uint64_t)r->tcp_nbufs * r->tcp_buf_size;
	if (r->cfg.evict_idle_ms == 0)
		r->cfg.evict_idle_ms = 1000;
	/* At least one frame of max_frame bytes (and its CR) must fit: that much is the
	 * reserve, which a frame that cannot grow otherwise takes (slc_reasm_grow); the rest
	 * is shared by frames that start small and grow. */
	if (r->heap_budget[HEAP_REASM] < (uint64_t)cfg->max_frame + 1)
		r->heap_budget[HEAP_REASM] = (uint64_t)cfg->max_frame + 1;
	r->heap_budget[HEAP_RESERVE] = (uint64_t)cfg->max_frame + 1;
	r->heap_budget[HEAP_REASM] -= r->heap_budget[HEAP_RESERVE];
	/* What waiting connections received before their receive was cancelled: at most what
	 * the receive buffers held at the time, and rarely more than a few KiB each. */
	r->heap_budget[HEAP_STASH] = (uint64_t)r->tcp_nbufs * r->tcp_buf_size;
	r->stash_piece_max = r->tcp_buf_size / 8;
	/* Decrypted bytes of tls:// connections (tls.c), in chunks of up to a record. */
	r->heap_budget[HEAP_TLS] = !tls                  ? 0
	                           : cfg->tls_bytes != 0 ? cfg->tls_bytes
	                                                 : (uint64_t)r->tcp_nbufs * r->tcp_buf_size;
	/* Inflated compressed bins of forward listeners (fwd_gzip.c): four of the largest. */
	r->heap_budget[HEAP_INFLATE] = !fwd ? 0 : 4ull * slc_fwd_gzip_max(r);
	r->udp_msghdr.msg_namelen = sizeof(struct sockaddr_storage);
	/* No control messages: the socket's drop counter is read once a tick (SO_MEMINFO)
	 * rather than copied into every datagram's buffer. */
	r->udp_msghdr.msg_controllen = 0;
	r->udp_buf_size = (uint32_t)(sizeof(struct io_uring_recvmsg_out) +
	                             r->udp_msghdr.msg_namelen + r->udp_msghdr.msg_controllen) +
	                  (cfg->max_frame < 65535 ? cfg->max_frame : 65535);
	r->udp_buf_size = (r->udp_buf_size + 63) & ~63u;
	r->nconns = cfg->max_conns;
	/* Enough for every connection to pause with a few pieces; grown on demand up to a
	 * bound that only an absurd number of pieces per byte of receive memory reaches. */
	r->pend_nrecords = 4 * (r->tcp_nbufs + r->udp_nbufs) + 2 * r->nconns;
	r->pend_nrecords_max = r->pend_nrecords + (uint32_t)((uint64_t)r->tcp_nbufs *
	                                                     r->tcp_buf_size / sizeof(struct pend));
	r->heap_nchunks = (uint32_t)((r->heap_budget[HEAP_REASM] + r->heap_budget[HEAP_STASH] +
	                              r->heap_budget[HEAP_TLS]) /
	                             HEAP_CHUNK_MIN) +
	                  (fwd ? SLC_FWD_INFLATE_CHUNKS : 0) + 64 + 1; /* 1: the reserve */
	if (r->heap_nchunks > SLC_MSG_REF_MASK + 1 - r->tcp_nbufs - r->udp_nbufs)
		r->heap_nchunks = SLC_MSG_REF_MASK + 1 - r->tcp_nbufs - r->udp_nbufs;
	nrefs = r->tcp_nbufs + r->udp_nbufs + r->heap_nchunks;

	r->tcp_mem_len = (size_t)r->tcp_nbufs * r->tcp_buf_size;
	r->udp_mem_len = (size_t)r->udp_nbufs * r->udp_buf_size;
	r->tcp_mem = slc_bufring_region_alloc(r, r->tcp_mem_len);
	r->udp_mem = slc_bufring_region_alloc(r, r->udp_mem_len);
	r->tcp_kernel_fill = calloc(r->tcp_nbufs, sizeof(*r->tcp_kernel_fill));
	r->tcp_entry_bid = calloc(r->tcp_nbufs, sizeof(*r->tcp_entry_bid));
	r->tcp_bid_entry = calloc(r->tcp_nbufs, sizeof(*r->tcp_bid_entry));
	r->heap = calloc(r->heap_nchunks, sizeof(*r->heap));
	r->heap_free_ids = calloc(r->heap_nchunks, sizeof(*r->heap_free_ids));
	r->refcnt = calloc(nrefs, sizeof(*r->refcnt));
	r->pend = calloc(r->pend_nrecords, sizeof(*r->pend));
	r->conns = calloc(r->nconns, sizeof(*r->conns));
	r->conn_free_ids = calloc(r->nconns, sizeof(*r->conn_free_ids));
	r->waitq_mask = pow2_at_least(r->nconns) - 1;
	r->waitq = calloc(r->waitq_mask + 1, sizeof(*r->waitq));
	r->waitq_spare = calloc(r->waitq_mask + 1, sizeof(*r->waitq_spare));
	r->turn_left = NONE;
	r->listeners = calloc(cfg->nlisteners, sizeof(*r->listeners));
	rel_cap = pow2_at_least(2 * nrefs > 1024 ? 2 * nrefs : 1024);
	r->rel_ring_len = slc_ring_mpsc_memsize(rel_cap, sizeof(struct rel_ent));
	r->rel_ring = aligned_alloc(SLC_RING_ALIGN, r->rel_ring_len);
	if (!r->tcp_mem || !r->udp_mem || !r->heap || !r->tcp_kernel_fill || !r->tcp_entry_bid ||
	    !r->tcp_bid_entry || !r->heap_free_ids || !r->refcnt || !r->pend || !r->conns ||
	    !r->conn_free_ids || !r->waitq || !r->waitq_spare || !r->listeners || !r->rel_ring) {
		rc = -ENOMEM;
		goto err_free;
	}
	slc_ring_mpsc_init(r->rel_ring, rel_cap, sizeof(struct rel_ent));
	if (acks) {
		/* W bits per connection, allocated once: max_conns * W / 8 bytes. */
		uint32_t words = slc_ack_window_words(ack_w);

		r->ack_conns = calloc(r->nconns, sizeof(*r->ack_conns));
		r->ack_bits = calloc((size_t)r->nconns * words, sizeof(uint64_t));
		r->ack_queue = calloc(r->nconns, sizeof(*r->ack_queue));
		r->ack_ring_len = slc_ring_mpsc_memsize(rel_cap, sizeof(struct ack_ent));
		r->ack_ring = aligned_alloc(SLC_RING_ALIGN, r->ack_ring_len);
		if (r->ack_conns == NULL || r->ack_bits == NULL || r->ack_queue == NULL ||
		    r->ack_ring == NULL) {
			rc = -ENOMEM;
			goto err_free;
		}
		slc_ring_mpsc_init(r->ack_ring, rel_cap, sizeof(struct ack_ent));
		for (uint32_t i = 0; i < r->nconns; i++)
			slc_ack_window_init(&r->ack_conns[i].win, r->ack_bits + (size_t)i * words,
			                    ack_w);
	}
	if (tls) {
		r->tls_conns = calloc(r->nconns, sizeof(*r->tls_conns));
		if (r->tls_conns == NULL) {
			rc = -ENOMEM;
			goto err_free;
		}
		r->tls_ctx = cfg->tls_ctx;
		SSL_CTX_up_ref(r->tls_ctx);
		rc = slc_tls_cap_create(r);
		if (rc != 0)
			goto err_free;
	}
	if (http) {
		rc = slc_http_conns_create(r);
		if (rc != 0)
			goto err_free;
	}
	for (uint32_t i = 0; i < r->heap_nchunks; i++)
		r->heap_free_ids[r->heap_nfree++] = r->heap_nchunks - 1 - i;
	r->pend_free_head = NONE;
	for (uint32_t i = r->pend_nrecords; i-- > 0;) {
		r->pend[i].next = r->pend_free_head;
		r->pend_free_head = i;
	}
	for (uint32_t i = 0; i < r->nconns; i++) {
		r->conns[i].fd = -1;
		r->conn_free_ids[r->conn_nfree++] = r->nconns - 1 - i;
	}
	r->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		rc = -errno;
		goto err_free;
	}

	r->nlisteners = cfg->nlisteners;
	for (uint32_t i = 0; i < r->nlisteners; i++) {
		r->listeners[i].cfg = cfg->listeners[i];
		r->listeners[i].fd = -1;
		if (r->listeners[i].cfg.proto == SLC_LISTENER_UDP) {
			r->listeners[i].udp_batch = calloc(UDP_BATCH, sizeof(struct slc_msg));
			if (r->listeners[i].udp_batch == NULL) {
				rc = -ENOMEM;
				goto err_close_listeners;
			}
		}
		rc = slc_listener_open(&r->listeners[i]);
		if (rc != 0)
			goto err_close_listeners;
	}
	rc = slc_tenant_rt_init(r);
	if (rc != 0)
		goto err_close_listeners;

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
	for (uint32_t i = 0; i < r->nlisteners; i++)
		if (r->listeners[i].fd >= 0)
			close(r->listeners[i].fd);
	r->nlisteners = 0;
err_free:
	*err = rc;
	slc_reactor_destroy(r);
	return NULL;
}

uint16_t
slc_reactor_listener_port(const struct slc_reactor *r, uint32_t i)
{
	return i < r->nlisteners ? r->listeners[i].port : 0;
}

uint32_t
slc_reactor_id(const struct slc_reactor *r)
{
	return r->cfg.id;
}

const char *
slc_reactor_features_str(const struct slc_reactor *r)
{
	return r->features_str;
}

uint32_t
slc_reactor_features(const struct slc_reactor *r)
{
	return r->features;
}

size_t
slc_reactor_conn_bytes(uint32_t ack_window)
{
	/* conns, conn_free_ids, waitq and waitq_spare (up to twice: a power of two). */
	size_t n = sizeof(struct conn) + sizeof(uint32_t) + 2 * 2 * sizeof(uint32_t);

	if (ack_window != 0)
		n += sizeof(struct ack_conn) + slc_ack_window_words(ack_window) * sizeof(uint64_t) +
		     sizeof(uint32_t); /* ack_queue */
	return n;
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
	for (uint32_t i = 0; i < r->nlisteners; i++) {
		if (r->listeners[i].fd >= 0)
			close(r->listeners[i].fd);
	}
	if (r->listeners != NULL)
		for (uint32_t i = 0; i < r->cfg.nlisteners; i++)
			free(r->listeners[i].udp_batch);
	slc_tenant_rt_free(r);
	for (uint32_t i = 0; r->conns != NULL && i < r->nconns; i++)
		if (r->conns[i].fd >= 0)
			close(r->conns[i].fd);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	slc_bufring_region_free(r, r->tcp_br, r->tcp_br_len);
	slc_bufring_region_free(r, r->udp_br, r->udp_br_len);
	slc_bufring_region_free(r, r->tcp_mem, r->tcp_mem_len);
	slc_bufring_region_free(r, r->udp_mem, r->udp_mem_len);
	for (uint32_t i = 0; r->heap != NULL && i < r->heap_nchunks; i++)
		free(r->heap[i].mem);
	for (uint32_t i = 0; i < r->heap_ncached; i++)
		free(r->heap_cache[i]);
	free(r->heap);
	free(r->tcp_kernel_fill);
	free(r->tcp_entry_bid);
	free(r->tcp_bid_entry);
	free(r->heap_free_ids);
	free(r->refcnt);
	free(r->pend);
	free(r->conns);
	free(r->conn_free_ids);
	free(r->waitq);
	free(r->waitq_spare);
	free(r->listeners);
	free(r->rel_ring);
	free(r->ack_conns);
	free(r->ack_bits);
	free(r->ack_queue);
	free(r->ack_ring);
	for (uint32_t i = 0; r->tls_conns != NULL && i < r->nconns; i++) {
		SSL_free(r->tls_conns[i].ssl);
		free(r->tls_conns[i].out);
	}
	free(r->tls_conns);
	slc_tls_cap_destroy(r);
	SSL_CTX_free(r->tls_ctx);
	SSL_CTX_free(atomic_load_explicit(&r->tls_ctx_in, memory_order_acquire));
	slc_http_conns_destroy(r);
	slc_fwd_gzip_destroy(r);
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
	return &r->stats;
}

const struct slc_listener_stats *
slc_reactor_listener_stats(const struct slc_reactor *r, uint32_t i)
{
	return i < r->nlisteners ? &r->listeners[i].stats : NULL;
}

void
slc_reactor_begin_stop(struct slc_reactor *r)
{
	struct io_uring_sqe *sqe;

	r->stopping = true;
	r->drain_deadline_ns = r->now_ns + (uint64_t)r->drain_ms * 1000000ull;
	for (uint32_t i = 0; i < r->nlisteners; i++) {
		if (!r->listeners[i].armed)
			continue;
		sqe = reactor_sqe(r);
		io_uring_prep_cancel64(
		        sqe,
		        ud_make(r->listeners[i].cfg.proto == SLC_LISTENER_UDP ? UD_UDP : UD_ACCEPT,
		                i, 0),
		        0);
		io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0, 0));
	}
	for (uint32_t i = 0; i < r->nconns; i++) {
		slc_conn_cancel_recv(r, &r->conns[i]);
		slc_conn_ack_cancel_send(r, &r->conns[i]);
		slc_tls_cancel_send(r, &r->conns[i]);
	}
}

/* True once nothing is in flight and nothing received waits to be delivered (or the
 * drain deadline passed). */
bool
slc_reactor_stop_done(struct slc_reactor *r)
{
	bool waiting = false;

	for (uint32_t i = 0; i < r->nlisteners; i++) {
		if (r->listeners[i].armed)
			return false;
		slc_udp_flush(r, &r->listeners[i]);
	}
	for (uint32_t i = 0; i < r->nconns; i++) {
		struct conn *c = &r->conns[i];

		if (c->state == CONN_FREE || c->state == CONN_DRAINING)
			continue;
		if (c->armed || conn_sending(c))
			return false;
		if (c->state == CONN_PAUSED)
			waiting = true;
	}
	return !waiting || r->now_ns >= r->drain_deadline_ns;
}
