/* SPDX-License-Identifier: MIT */
/* sluice_bench_tls.c: sluice-bench --tls: an OpenSSL client session on each TCP connection. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "sluice_bench.h"

/*
 * --tls wraps each TCP connection in a TLS session (OpenSSL 3), for tls:// listeners. The
 * handshake runs at connect, before the clock starts; then the sender's writes go through
 * SSL_write on the same non-blocking socket, a batch at a time, so that the records are
 * as large as the batches (16 KiB at most) and the cost measured is the receiver's.
 * --tls-ca FILE verifies the server's certificate against that CA (its name is not
 * checked: benchmarks run against localhost); without it nothing is verified.
 */

int
sb_tls_setup(struct sb_run *r)
{
	SSL_CTX *ctx;

	if (!r->o.tls)
		return 0;
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return -ENOMEM;
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (r->o.tls_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, r->o.tls_ca, NULL) != 1) {
			fprintf(stderr, SB_PROG ": --tls-ca %s: cannot load it\n", r->o.tls_ca);
			SSL_CTX_free(ctx);
			return -EINVAL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	r->tls_ctx = ctx;
	return 0;
}

void
sb_tls_fini(struct sb_run *r)
{
	SSL_CTX_free(r->tls_ctx);
	r->tls_ctx = NULL;
}

int
sb_tls_start(const struct sb_run *r, struct sb_conn *c)
{
	char e[160];
	int rc;

	c->ssl = SSL_new(r->tls_ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = {.fd = c->fd};

		rc = SSL_connect(c->ssl);
		if (rc == 1)
			return 0;
		switch (SSL_get_error(c->ssl, rc)) {
		case SSL_ERROR_WANT_READ:
			p.events = POLLIN;
			break;
		case SSL_ERROR_WANT_WRITE:
			p.events = POLLOUT;
			break;
		default:
			ERR_error_string_n(ERR_get_error(), e, sizeof(e));
			fprintf(stderr, SB_PROG ": TLS handshake on connection %u: %s\n", c->id, e);
			return -EPROTO;
		}
		if (poll(&p, 1, SB_CONNECT_MS) != 1) {
			fprintf(stderr, SB_PROG ": TLS handshake on connection %u: timed out\n",
			        c->id);
			return -ETIMEDOUT;
		}
	}
}

ssize_t
sb_tls_write(struct sb_conn *c, const void *buf, size_t len)
{
	size_t w = 0;

	if (SSL_write_ex(c->ssl, buf, len, &w) == 1)
		return (ssize_t)w;
	switch (SSL_get_error(c->ssl, 0)) {
	case SSL_ERROR_WANT_WRITE:
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		break;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			errno = EPIPE;
		break;
	default:
		errno = EPROTO;
		break;
	}
	ERR_clear_error();
	return -1;
}

void
sb_tls_close(struct sb_conn *c)
{
	if (c->ssl == NULL)
		return;
	SSL_shutdown(c->ssl); /* close_notify: the receiver sees a clean end */
	SSL_free(c->ssl);
	c->ssl = NULL;
}
