/* SPDX-License-Identifier: MIT */
/* tls.c: tls:// listeners in user space: handshakes, decryption into heap chunks, sends. */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor_priv.h"
#include "tls.h"

/*
 * A session's bytes go around OpenSSL's socket layer: the multishot receive (into the
 * shared buffer ring, as for plaintext) brings ciphertext, which is copied into the
 * session's read BIO (a ciphertext buffer of ours, tls_bio.c) and the receive buffer given
 * back at once; what OpenSSL writes (handshake flights, alerts, tickets, acks) collects in
 * the write BIO and goes out as one io_uring send at a time from the session's out buffer. So nothing blocks the reactor,
 * and the handshake advances with each receive completion.
 *
 * Decrypted bytes go into heap chunks of the HEAP_TLS budget (cfg.tls_bytes), each sized
 * to what the read BIO can yield, and then into slc_conn_data: the same framing, routing,
 * pause and release path as a plaintext receive buffer. A connection that finds the
 * budget spent waits as one that waits for reassembly memory (paused, its receive
 * cancelled: TCP flow control pushes back), and so does one that pauses for room: the
 * ciphertext it holds stays in its read BIO (at most what the kernel handed over before
 * the cancel took effect) and is decrypted at its next turn (loop.c, conn_resume).
 */

/* The out buffer of a session: a handshake flight is a few KiB; longer output goes in
 * several sends, one after another. */
#define TLS_OUT 4096
/* Largest chunk decrypted at once: one record's plaintext. */
#define TLS_CHUNK     16384
#define TLS_CHUNK_MIN 256
/* How long a refused connection's last send (its alert) may take before the socket closes
 * anyway: an alert is a few bytes into an empty socket buffer, so only a peer that stopped
 * reading during the handshake is cut short. */
#define TLS_LINGER_NS 1000000000ull
static_assert(TLS_PINS <= UINT8_MAX, "npins is a uint8_t");

const char *
slc_tls_refusal_str(enum slc_tls_refusal e)
{
	static const char *const names[SLC_TLS_REF__COUNT] = {
	        [SLC_TLS_REF_OVER_CAP] = "over_cap",
	        [SLC_TLS_REF_TIMEOUT] = "timeout",
	        [SLC_TLS_REF_NOT_TLS] = "not_tls",
	        [SLC_TLS_REF_NO_CLIENT_CERT] = "no_client_cert",
	        [SLC_TLS_REF_BAD_CLIENT_CERT] = "bad_client_cert",
	        [SLC_TLS_REF_HANDSHAKE] = "handshake",
	        [SLC_TLS_REF_ABORTED] = "aborted",
	        [SLC_TLS_REF_RENEGOTIATION] = "renegotiation",
	        [SLC_TLS_REF_RECORD] = "record",
	        [SLC_TLS_REF_SOURCE_CAP] = "source_cap",
	};

	return (unsigned)e < SLC_TLS_REF__COUNT ? names[e] : "unknown";
}

/* ---- the server context ------------------------------------------------------------- */

/* The first OpenSSL error's text, or fallback; clears the queue. */
static void
ssl_err_text(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "%s", fallback);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/* A file must be there and readable before OpenSSL's vaguer errors. */
static int
file_check(const char *what, const char *path, char *why, size_t len)
{
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(why, len, "%s %s: %s", what, path, strerror(errno));
	return errno == ENOENT ? -ENOENT : -EACCES;
}

struct ssl_ctx_st *
slc_tls_ctx_create(const struct slc_tls_files *f, char *why, size_t len, int *err)
{
	char e[160];
	SSL_CTX *ctx;
	int rc;

	if (f->cert == NULL || f->cert[0] == '\0' || f->key == NULL || f->key[0] == '\0') {
		snprintf(why, len, "a tls:// listener needs --tls-cert and --tls-key");
		*err = -EINVAL;
		return NULL;
	}
	if ((rc = file_check("--tls-cert", f->cert, why, len)) != 0 ||
	    (rc = file_check("--tls-key", f->key, why, len)) != 0 ||
	    (f->client_ca != NULL && f->client_ca[0] != '\0' &&
	     (rc = file_check("--tls-client-ca", f->client_ca, why, len)) != 0)) {
		*err = rc;
		return NULL;
	}
	slc_tls_bio_init();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		snprintf(why, len, "SSL_CTX_new failed");
		*err = -ENOMEM;
		return NULL;
	}
	*err = -EINVAL;
	if (!SSL_CTX_set_min_proto_version(ctx, f->min_version == 13 ? TLS1_3_VERSION
	                                                             : TLS1_2_VERSION)) {
		snprintf(why, len, "--tls-min-version: not supported by this OpenSSL");
		goto err_free;
	}
	if (f->ciphers != NULL && f->ciphers[0] != '\0' &&
	    !SSL_CTX_set_cipher_list(ctx, f->ciphers)) {
		ssl_err_text(e, sizeof(e), "no cipher matches");
		snprintf(why, len, "--tls-ciphers %s: %s", f->ciphers, e);
		goto err_free;
	}
	/* TLS 1.3: AES-128-GCM first (server preference, below). OpenSSL's own order puts
	 * AES-256-GCM first, about 15% slower per 16 KiB record on this project's machine
	 * (openssl speed, VAES); ChaCha20 stays for clients without AES in hardware. */
	if (!SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	                                   "TLS_CHACHA20_POLY1305_SHA256")) {
		ssl_err_text(e, sizeof(e), "not supported");
		snprintf(why, len, "TLS 1.3 cipher suites: %s", e);
		goto err_free;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
		ssl_err_text(e, sizeof(e), "not a PEM certificate");
		snprintf(why, len, "--tls-cert %s: %s", f->cert, e);
		goto err_free;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1) {
		bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;

		ssl_err_text(e, sizeof(e), "not a PEM private key");
		if (mismatch)
			snprintf(why, len, "--tls-key %s does not match --tls-cert %s", f->key,
			         f->cert);
		else
			snprintf(why, len, "--tls-key %s: %s", f->key, e);
		goto err_free;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_err_text(e, sizeof(e), "mismatch");
		snprintf(why, len, "--tls-key %s does not match --tls-cert %s: %s", f->key, f->cert,
		         e);
		goto err_free;
	}
	if (f->client_ca != NULL && f->client_ca[0] != '\0') {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->client_ca);

		if (SSL_CTX_load_verify_locations(ctx, f->client_ca, NULL) != 1 || names == NULL) {
			ssl_err_text(e, sizeof(e), "no certificate in it");
			snprintf(why, len, "--tls-client-ca %s: %s", f->client_ca, e);
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			goto err_free;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	/* Idle sessions give their record buffers back; no compression (CRIME); no
	 * session cache on the server (a reactor's sessions would share a lock). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	*err = 0;
	return ctx;

err_free:
	SSL_CTX_free(ctx);
	return NULL;
}

void
slc_tls_ctx_put(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

bool
slc_tls_kernel_offered(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	/* Without the module the ULP is unknown (ENOENT); with it, an unconnected socket
	 * is refused later, with ENOTCONN. */
	ok = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 || errno != ENOENT;
	close(fd);
	return ok;
}

void
slc_reactor_tls_ctx_set(struct slc_reactor *r, struct ssl_ctx_st *ctx)
{
	SSL_CTX *old;

	SSL_CTX_up_ref(ctx);
	/* Release: the context's set-up happens before the reactor uses it; pairs with the
	 * acquire exchange in slc_tls_ctx_take. */
	old = atomic_exchange_explicit(&r->tls_ctx_in, ctx, memory_order_acq_rel);
	SSL_CTX_free(old);   /* never taken: ours alone (NULL is fine) */
	slc_reactor_kick(r); /* an idle reactor takes it now, not at its next completion */
}

void
slc_tls_ctx_take(struct slc_reactor *r)
{
	SSL_CTX *ctx;

	/* Relaxed: after the loop top's acquire of kicked (A4 in slc_reactor_loop), which
	 * the setter's kick follows, a context set is not missed here. */
	if (atomic_load_explicit(&r->tls_ctx_in, memory_order_relaxed) == NULL)
		return;
	ctx = atomic_exchange_explicit(&r->tls_ctx_in, NULL, memory_order_acq_rel);
	if (ctx == NULL)
		return;
	/* Sessions hold their own references: established ones keep the old context. */
	SSL_CTX_free(r->tls_ctx);
	r->tls_ctx = ctx;
	stat_add(&r->stats.tls_ctx_swaps, 1);
}

/* ---- a connection's session ---------------------------------------------------------- */

/* A TLS 1.2 client's ClientHello after the handshake: renegotiation, which we refuse
 * (TLS 1.3's post-handshake messages start "handshakes" too, and are fine). */
static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct tls_conn *t = SSL_get_app_data(ssl);

	(void)ret;
	if ((where & SSL_CB_HANDSHAKE_START) && t != NULL && t->hs_done &&
	    SSL_version(ssl) < TLS1_3_VERSION)
		t->reneg = true;
}

static void
tls_refuse(struct slc_reactor *r, struct conn *c, enum slc_tls_refusal e, const char *detail)
{
	stat_add(&r->listeners[c->listener].stats.tls_refused[e], 1);
	slc_reactor_log(r, LOGK_TLS, SLC_LOG_WARN, "closing %s: tls: %s%s%s", c->peer,
	                slc_tls_refusal_str(e), detail[0] != '\0' ? ": " : "", detail);
	slc_conn_close(r, c, SLC_CLOSE_TLS);
}

static void
hs_end(struct slc_reactor *r, struct tls_conn *t)
{
	slc_tls_cap_put(r, t);
	t->hs_done = true;
	r->tls_handshaking--;
	stat_set(&r->stats.tls_handshaking, r->tls_handshaking);
}

bool
slc_tls_conn_start(struct slc_reactor *r, struct conn *c, const struct sockaddr *sa,
                   bool tenant_later)
{
	struct tls_conn *t = &r->tls_conns[c - r->conns];
	enum slc_tls_refusal why;
	char d[96];

	memset(t, 0, sizeof(*t));
	c->tls = t;
	t->hs_done = true; /* until the session exists: nothing to count back */
	if (!slc_tls_cap_take(r, t, sa, &why, d, sizeof(d))) {
		tls_refuse(r, c, why, d);
		return false;
	}
	t->ssl = SSL_new(r->tls_ctx);
	t->rbio = slc_tls_bio_new(&r->tls_cipher_held);
	t->wbio = BIO_new(BIO_s_mem());
	t->out = malloc(TLS_OUT);
	if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL || t->out == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		t->rbio = t->wbio = NULL;
		slc_tls_cap_put(r, t);
		slc_reactor_log(r, LOGK_TLS, SLC_LOG_ERROR, "closing %s: tls: no memory", c->peer);
		slc_conn_close(r, c, SLC_CLOSE_NO_MEMORY);
		return false;
	}
	SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the session owns them now */
	SSL_set_app_data(t->ssl, t);
	SSL_set_info_callback(t->ssl, info_cb);
	SSL_set_accept_state(t->ssl);
	t->hs_done = false;
	t->tenant_later = tenant_later;
	t->hs_start_ns = r->now_ns;
	r->tls_handshaking++;
	stat_set(&r->stats.tls_handshaking, r->tls_handshaking);
	return true;
}

void
slc_tls_conn_closing(struct slc_reactor *r, struct conn *c, enum slc_close_reason why)
{
	struct tls_conn *t = c->tls;

	if (t->hs_done)
		return;
	if (why == SLC_CLOSE_EOF || why == SLC_CLOSE_EOF_MIDFRAME || why == SLC_CLOSE_RESET) {
		stat_add(&r->listeners[c->listener].stats.tls_refused[SLC_TLS_REF_ABORTED], 1);
		slc_reactor_log(r, LOGK_TLS, SLC_LOG_INFO, "%s: tls: closed during the handshake",
		                c->peer);
	}
	hs_end(r, t);
}

void
slc_tls_conn_end(struct slc_reactor *r, struct conn *c)
{
	struct tls_conn *t = c->tls;

	r->tls_out_held -= t->out_held;
	stat_set(&r->stats.tls_out_bytes, r->tls_out_held);
	for (uint32_t i = 0; i < t->npins; i++) /* pinned receive buffers go back */
		buf_unref(r, t->pins[i].ref, 1);
	if (t->linger)
		r->tls_lingering--;
	SSL_free(t->ssl); /* and its BIOs */
	free(t->out);
	memset(t, 0, sizeof(*t));
	c->tls = NULL;
}

/* ---- output --------------------------------------------------------------------------- */

static void
send_submit(struct slc_reactor *r, struct conn *c)
{
	struct tls_conn *t = c->tls;
	struct io_uring_sqe *sqe = reactor_sqe(r);

	io_uring_prep_send(sqe, c->fd, t->out + t->out_off, t->out_len - t->out_off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(UD_TLS_SEND, (uint32_t)(c - r->conns), c->gen));
	t->sending = true;
}

/* What the session holds to send (its write BIO, the rest of the send in flight): the
 * gauge that shows it stays bounded (sluice_reactor_tls_output_bytes). */
static void
out_account(struct slc_reactor *r, struct tls_conn *t)
{
	size_t n = BIO_ctrl_pending(t->wbio) + (t->sending ? t->out_len - t->out_off : 0);
	uint32_t held = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;

	r->tls_out_held += held;
	r->tls_out_held -= t->out_held;
	t->out_held = held;
	stat_set(&r->stats.tls_out_bytes, r->tls_out_held);
}

/* Sends what OpenSSL wrote, one send at a time, in order. */
static void
tls_flush(struct slc_reactor *r, struct conn *c)
{
	struct tls_conn *t = c->tls;
	int n;

	/* A close may have ended the session already (slc_conn_finalize): nothing to send. */
	if (t == NULL)
		return;
	if (!t->sending && c->state != CONN_CLOSING && c->state != CONN_DRAINING &&
	    (n = BIO_read(t->wbio, t->out, TLS_OUT)) > 0) {
		t->out_off = 0;
		t->out_len = (uint32_t)n;
		send_submit(r, c);
	}
	out_account(r, t);
}

void
slc_tls_linger(struct slc_reactor *r, struct conn *c)
{
	c->tls->linger = true;
	c->tls->linger_ns = r->now_ns;
	r->tls_lingering++;
}

/* A lingering session's send completed: the rest of out, or what the session wrote after
 * it (the alert), goes next. False when nothing is left to send. */
static bool
linger_more(struct slc_reactor *r, struct conn *c, int res)
{
	struct tls_conn *t = c->tls;
	int n;

	if (!t->linger || res <= 0)
		return false;
	t->out_off += (uint32_t)res;
	if (t->out_off >= t->out_len) {
		n = BIO_read(t->wbio, t->out, TLS_OUT);
		if (n <= 0)
			return false;
		t->out_off = 0;
		t->out_len = (uint32_t)n;
	}
	send_submit(r, c);
	return true;
}

/* The rest of out again; an ack that rode on it (ack_out) is still on the way. */
static void
send_again(struct slc_reactor *r, struct conn *c, bool ack_out)
{
	send_submit(r, c);
	if (ack_out)
		c->ack->sending = true;
	out_account(r, c->tls);
}

void
slc_tls_on_send(struct slc_reactor *r, struct io_uring_cqe *cqe, uint32_t idx)
{
	struct conn *c = &r->conns[idx];
	struct tls_conn *t = c->tls;
	bool ack_out;

	if (t == NULL ||
	    (uint32_t)(io_uring_cqe_get_data64(cqe) >> 32 & 0xffffffu) != (c->gen & 0xffffffu))
		return;
	t->sending = false;
	/* An ack written into the session is sending while its output is (conn_ack.c,
	 * ack_submit): cleared with the send, so that a close does not wait for it. */
	ack_out = c->ack != NULL && c->ack->sending;
	if (ack_out)
		c->ack->sending = false;
	if (c->state == CONN_CLOSING) {
		if (!linger_more(r, c, cqe->res))
			slc_conn_finalize(r, c);
		return;
	}
	if (cqe->res < 0) {
		if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
			send_again(r, c, ack_out);
			return;
		}
		slc_reactor_log(r, LOGK_CLOSE, SLC_LOG_WARN, "closing %s: tls send failed: %s",
		                c->peer, strerror(-cqe->res));
		slc_conn_close(r, c, SLC_CLOSE_RESET);
		return;
	}
	t->out_off += (uint32_t)cqe->res;
	if (t->out_off < t->out_len) {
		send_again(r, c, ack_out);
		return;
	}
	tls_flush(r, c);
	if (!ack_out)
		return;
	if (t->sending)
		c->ack->sending = true; /* the ack may be in what goes now */
	else
		slc_conn_ack_tls_sent(r, c);
}

void
slc_tls_cancel_send(struct slc_reactor *r, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->tls == NULL || !c->tls->sending)
		return;
	sqe = reactor_sqe(r);
	io_uring_prep_cancel64(sqe, ud_make(UD_TLS_SEND, (uint32_t)(c - r->conns), c->gen), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0, 0));
}

void
slc_tls_write(struct slc_reactor *r, struct conn *c, const uint8_t *p, uint32_t len)
{
	struct tls_conn *t = c->tls;

	/* A memory BIO takes everything: SSL_write does not come back short. */
	if (t->ssl == NULL || !t->hs_done || SSL_write(t->ssl, p, (int)len) <= 0) {
		ERR_clear_error();
		return;
	}
	tls_flush(r, c);
}

/* ---- input ---------------------------------------------------------------------------- */

/*
 * Ciphertext that arrives while the connection is paused (the rest of a bundle, what
 * came before the pause's cancel took effect) stays in its receive buffers, pinned, up
 * to TLS_PINS pieces, as a plaintext connection's bytes do: the receive memory bounds it.
 * Copied into the session's buffer, it was held beyond any budget, a whole bundle's
 * worth per paused connection (test_tls_flow). The pump feeds the pieces in, in order,
 * one at a time as OpenSSL takes them. A piece past TLS_PINS goes in with those before it.
 *
 * Not pinned, as the stash is used for plaintext (reasm.c, slc_reasm_pend_push): a small
 * piece (it would keep a whole buffer of other connections' bytes from the kernel), and
 * any while the connection waits for heap memory: such a connection must hold no receive
 * buffer (reactor_priv.h), eviction does not look at pins, and enough paused sessions
 * would otherwise take the whole buffer ring and wedge the reactor.
 */

/* The oldest pinned piece into the session's buffer, its buffer released either way.
 * False: no memory (the piece is lost: the caller closes). */
static bool
pin_take(struct slc_reactor *r, struct tls_conn *t)
{
	struct tls_pin p = t->pins[0];
	bool ok = BIO_write(t->rbio, ref_ptr(r, p.ref) + p.off, (int)p.len) == (int)p.len;

	memmove(&t->pins[0], &t->pins[1], --t->npins * sizeof(t->pins[0]));
	buf_unref(r, p.ref, 1);
	return ok;
}

static void
no_memory(struct slc_reactor *r, struct conn *c)
{
	slc_reactor_log(r, LOGK_TLS, SLC_LOG_ERROR, "closing %s: tls: no memory", c->peer);
	slc_conn_close(r, c, SLC_CLOSE_NO_MEMORY);
}

static bool
pin_feed(struct slc_reactor *r, struct conn *c)
{
	if (pin_take(r, c->tls))
		return true;
	no_memory(r, c);
	return false;
}

/* Room in the session's buffer for all pinned pieces and extra bytes, reserved at once. */
static bool
pins_reserve(struct tls_conn *t, size_t extra)
{
	for (uint32_t i = 0; i < t->npins; i++)
		extra += t->pins[i].len;
	return slc_tls_bio_reserve(t->rbio, extra);
}

bool
slc_tls_pins_release(struct slc_reactor *r, struct conn *c)
{
	struct tls_conn *t = c->tls;
	bool ok = t->npins == 0 || pins_reserve(t, 0);

	while (t->npins != 0)
		ok = pin_take(r, t) && ok;
	return ok;
}

void
slc_tls_on_cipher(struct slc_reactor *r, struct conn *c, uint32_t ref, uint32_t off, uint32_t len)
{
	struct tls_conn *t = c->tls;

	c->last_rx_ns = r->tls_rx_ns = r->now_ns;
	stat_add(&r->listeners[c->listener].stats.bytes, len);
	if (c->state != CONN_RECEIVING && c->state != CONN_PAUSED)
		return;
	/* A paused connection whose receive is still armed (one that waits its turn behind
	 * others, conn_defer) stops receiving: its resume arms it again. */
	if (c->state == CONN_PAUSED)
		slc_conn_cancel_recv(r, c);
	if ((c->state == CONN_PAUSED || t->npins != 0) && t->npins < TLS_PINS && !c->heap_wait &&
	    len > r->stash_piece_max) {
		t->pins[t->npins++] = (struct tls_pin){.ref = ref, .off = off, .len = len};
		r->refcnt[ref]++;
		return;
	}
	/* Pinned pieces come first; then this one, the room for all taken at once. */
	if (t->npins != 0 && !pins_reserve(t, len)) {
		slc_tls_pins_release(r, c);
		no_memory(r, c);
		return;
	}
	while (t->npins != 0)
		if (!pin_feed(r, c))
			return;
	if (BIO_write(t->rbio, ref_ptr(r, ref) + off, (int)len) != (int)len)
		no_memory(r, c);
}

/* Which refusal an OpenSSL handshake error is. */
static enum slc_tls_refusal
hs_refusal(struct conn *c, char *detail, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	long v = SSL_get_verify_result(c->tls->ssl);
	enum slc_tls_refusal why = SLC_TLS_REF_HANDSHAKE;

	switch (ERR_GET_REASON(e)) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_LENGTH_TOO_SHORT:
		why = SLC_TLS_REF_NOT_TLS;
		break;
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		why = SLC_TLS_REF_NO_CLIENT_CERT;
		break;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		why = SLC_TLS_REF_BAD_CLIENT_CERT;
		break;
	default:
		break;
	}
	if (why == SLC_TLS_REF_BAD_CLIENT_CERT && v != X509_V_OK)
		snprintf(detail, len, "client certificate: %s", X509_verify_cert_error_string(v));
	else if (e != 0)
		ERR_error_string_n(e, detail, len);
	else
		snprintf(detail, len, "the handshake failed");
	ERR_clear_error();
	return why;
}

/* A verified client certificate's subject (RFC 2253: "CN=app1,O=acme") into subject, and
 * its names (the CN, then the SAN DNS names, at most TLS_NAMES) into names: their count.
 * No certificate, or one that did not verify: subject "" and none. */
#define TLS_NAMES 16
static uint32_t
peer_names(SSL *ssl, char *subject, size_t len, char names[][SLC_TENANT_CERT_LEN])
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	GENERAL_NAMES *sans;
	X509_NAME *sn;
	uint32_t n = 0;
	BIO *b;

	subject[0] = '\0';
	if (x == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	sn = X509_get_subject_name(x);
	b = BIO_new(BIO_s_mem());
	if (b != NULL && X509_NAME_print_ex(b, sn, 0, XN_FLAG_RFC2253) >= 0) {
		int k = BIO_read(b, subject, (int)len - 1);

		subject[k > 0 ? k : 0] = '\0';
	}
	BIO_free(b);
	if (X509_NAME_get_text_by_NID(sn, NID_commonName, names[n], SLC_TENANT_CERT_LEN) > 0)
		n++;
	sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && n < TLS_NAMES; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		const ASN1_STRING *d;
		int dl;

		if (g->type != GEN_DNS)
			continue;
		d = g->d.dNSName;
		dl = ASN1_STRING_length(d);
		/* A name with a NUL in it, or longer than any pattern, matches nothing. */
		if (dl <= 0 || dl >= SLC_TENANT_CERT_LEN ||
		    memchr(ASN1_STRING_get0_data(d), 0, (size_t)dl) != NULL)
			continue;
		memcpy(names[n], ASN1_STRING_get0_data(d), (size_t)dl);
		names[n++][dl] = '\0';
	}
	GENERAL_NAMES_free(sans);
	return n;
}

/* The handshake is done: a connection whose certificate may decide its tenant gets it
 * now, before any of its bytes goes to the pools. False when it was refused (closed). */
static bool
hs_tenant(struct slc_reactor *r, struct conn *c)
{
	char subject[256], names[TLS_NAMES][SLC_TENANT_CERT_LEN];
	const char *p[TLS_NAMES];
	uint32_t n;

	if (!c->tls->tenant_later)
		return true;
	c->tls->tenant_later = false;
	n = peer_names(c->tls->ssl, subject, sizeof(subject), names);
	for (uint32_t i = 0; i < n; i++)
		p[i] = names[i];
	if (slc_tenant_rt_handshake(r, c, subject[0] != '\0' ? subject : NULL, p, n))
		return true;
	slc_conn_close(r, c, SLC_CLOSE_TLS);
	return false;
}

/* Advances the handshake; true once it is done (c may have been closed otherwise). */
static bool
hs_step(struct slc_reactor *r, struct conn *c)
{
	struct tls_conn *t = c->tls;
	char detail[160];
	int rc = SSL_do_handshake(t->ssl);

	tls_flush(r, c); /* the next flight, or an alert */
	if (rc == 1) {
		hs_end(r, t);
		stat_add(&r->listeners[c->listener].stats.tls_handshakes, 1);
		if (!hs_tenant(r, c))
			return false;
		/* len32+ack greets now; a forward listener's acks (set up at accept,
		 * slc_conn_ack_fwd_init) carry no greeting: 16 bytes of it would break the
		 * client's msgpack stream. */
		if (c->ack != NULL && !c->ack->fwd)
			slc_conn_ack_greet(r, c);
		return true;
	}
	switch (SSL_get_error(t->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return false;
	default: {
		enum slc_tls_refusal why = hs_refusal(c, detail, sizeof(detail));

		tls_refuse(r, c, why, detail);
		return false;
	}
	}
}

/* Plaintext that can come out of what the session holds now: no more than the
 * ciphertext waiting plus what OpenSSL decrypted already. */
static uint32_t
plain_bound(const struct tls_conn *t)
{
	size_t n = BIO_ctrl_pending(t->rbio) + (size_t)SSL_pending(t->ssl);

	if (n > TLS_CHUNK)
		return TLS_CHUNK;
	return n < TLS_CHUNK_MIN ? TLS_CHUNK_MIN : (uint32_t)n;
}

void
slc_tls_pump(struct slc_reactor *r, struct conn *c)
{
	struct tls_conn *t = c->tls;

	if (t->ssl == NULL)
		return;
	while (!t->hs_done && c->state == CONN_RECEIVING && t->npins != 0)
		if (!pin_feed(r, c))
			return;
	if (!t->hs_done && (c->state != CONN_RECEIVING || !hs_step(r, c)))
		return;
	while (c->state == CONN_RECEIVING) {
		char detail[160];
		uint32_t ref, fill = 0, cap;
		int n = 0, err = SSL_ERROR_WANT_READ;
		uint8_t *p;

		/* A pinned piece goes in once OpenSSL has less than a record left. */
		if (t->npins != 0 && BIO_ctrl_pending(t->rbio) < TLS_CHUNK && !pin_feed(r, c))
			return;
		if (BIO_ctrl_pending(t->rbio) == 0 && SSL_pending(t->ssl) == 0 && !t->reneg)
			return;
		cap = plain_bound(t);
		ref = slc_reasm_heap_get(r, cap, HEAP_TLS);
		if (ref == NONE) {
			/* The decrypted bytes' budget is spent: wait for it like a frame that
			 * waits for reassembly memory (a chunk freed retries). */
			reasm_wait_set(r, c, true);
			slc_conn_pause(r, c);
			/* Waiting for heap memory, it holds no receive buffer (see above). */
			if (!slc_tls_pins_release(r, c))
				no_memory(r, c);
			return;
		}
		p = ref_ptr(r, ref);
		while (fill < cap) {
			n = SSL_read(t->ssl, p + fill, (int)(cap - fill));
			if (n <= 0) {
				err = SSL_get_error(t->ssl, n);
				break;
			}
			fill += (uint32_t)n;
		}
		r->refcnt[ref] = 1; /* ours while the framing takes its references */
		if (fill != 0)
			slc_conn_data(r, c, ref, 0, fill);
		buf_unref(r, ref, 1);
		/* A framing error or an ack violation closed it: from a resumed connection
		 * (no receive in flight) the close ends the session at once (c->tls NULL), and
		 * the slot may be free. Nothing of t may be touched then. */
		if (c->tls != t || (c->state != CONN_RECEIVING && c->state != CONN_PAUSED))
			return;
		tls_flush(r, c); /* alerts, key update answers */
		if (t->reneg) {
			tls_refuse(r, c, SLC_TLS_REF_RENEGOTIATION, "renegotiation is refused");
			return;
		}
		if (n > 0)
			continue; /* the chunk is full: more may be there */
		switch (err) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			ERR_clear_error();
			/* OpenSSL wants more: the next pinned piece, whatever is left (a
			 * record's ciphertext may be longer than TLS_CHUNK). */
			if (t->npins == 0 || !pin_feed(r, c))
				return;
			continue;
		case SSL_ERROR_ZERO_RETURN:
			/* close_notify: the peer is done, as at EOF. */
			slc_conn_peer_done(r, c, SLC_CLOSE_EOF);
			return;
		default:
			if (c->state != CONN_RECEIVING && c->state != CONN_PAUSED)
				return;
			ssl_err_text(detail, sizeof(detail), "a bad record");
			tls_refuse(r, c, SLC_TLS_REF_RECORD, detail);
			return;
		}
	}
}

/*
 * Once a second: a session that received nothing for TLS_IDLE_NS gives its empty
 * ciphertext buffer back, so that an idle connection does not keep the largest burst it
 * ever received. A busy one keeps it (no allocation per receive). One pass over the
 * connections, only while some buffer is held.
 */
static void
cipher_shrink(struct slc_reactor *r)
{
	if (r->tls_cipher_held == 0 || r->now_ns - r->tls_shrink_ns < TLS_IDLE_NS)
		return;
	r->tls_shrink_ns = r->now_ns;
	for (uint32_t i = 0; i < r->nconns; i++) {
		struct conn *c = &r->conns[i];

		if (c->tls != NULL && c->tls->ssl != NULL &&
		    r->now_ns - c->last_rx_ns >= TLS_IDLE_NS)
			slc_tls_bio_shrink(c->tls->rbio);
	}
}

void
slc_tls_tick(struct slc_reactor *r)
{
	uint64_t limit =
	        (uint64_t)(r->cfg.tls_handshake_timeout_ms != 0 ? r->cfg.tls_handshake_timeout_ms
	                                                        : 10000) *
	        1000000ull;

	cipher_shrink(r);
	stat_set(&r->stats.tls_cipher_bytes, r->tls_cipher_held);
	if (r->tls_handshaking == 0 && r->tls_lingering == 0)
		return;
	for (uint32_t i = 0; i < r->nconns; i++) {
		struct conn *c = &r->conns[i];
		char d[64];

		/* A refusal's last send that a peer does not take: the shutdown fails it, and
		 * its completion closes the socket. */
		if (c->tls != NULL && c->tls->linger && c->state == CONN_CLOSING &&
		    r->now_ns - c->tls->linger_ns > TLS_LINGER_NS) {
			c->tls->linger = false;
			r->tls_lingering--;
			shutdown(c->fd, SHUT_RDWR);
			slc_tls_cancel_send(r, c);
			continue;
		}
		if (c->tls == NULL || c->tls->hs_done ||
		    (c->state != CONN_RECEIVING && c->state != CONN_PAUSED) ||
		    r->now_ns - c->tls->hs_start_ns <= limit)
			continue;
		snprintf(d, sizeof(d), "the handshake took over %llu ms",
		         (unsigned long long)(limit / 1000000ull));
		tls_refuse(r, c, SLC_TLS_REF_TIMEOUT, d);
	}
}
