/* SPDX-License-Identifier: MIT */
/* tls.h: TLS listeners' server context (OpenSSL 3): build it from files, probe kernel TLS. */
#ifndef SLC_URING_TLS_H
#define SLC_URING_TLS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A tls:// listener decrypts in user space (uring/tls.c): the reactor feeds what its
 * multishot receive brings into the connection's OpenSSL object through a ciphertext BIO
 * of its own,
 * queues what OpenSSL writes (handshake, alerts, acks) as io_uring sends, and decrypts
 * into heap chunks of a bounded budget, which then go through the same framing, routing
 * and release path as plaintext. The handshake never blocks the reactor.
 *
 * The server context is built here from the files the flags name, by the daemon at start
 * and on reload; the reactors take a reference (slc_reactor_tls_ctx_set) and use it for
 * the handshakes that start after they took it.
 */

struct ssl_ctx_st;

struct slc_tls_files {
	const char *cert;      /* PEM certificate chain, the server's first */
	const char *key;       /* PEM private key of that certificate */
	const char *client_ca; /* PEM CA bundle: clients must present a certificate it
	                          verifies (mutual TLS); NULL or "": none asked for */
	const char *ciphers;   /* TLS 1.2 cipher list (OpenSSL syntax); NULL or "": default */
	int min_version;       /* 12 (TLS 1.2) or 13 (TLS 1.3) */
};

/*
 * A server context for those files. NULL with *err and a reason in why: -ENOENT or
 * -EACCES (a file is missing or unreadable), -EINVAL (a file that does not parse, a key
 * that does not match the certificate, an unknown cipher list or version), -ENOMEM.
 */
struct ssl_ctx_st *slc_tls_ctx_create(const struct slc_tls_files *f, char *why, size_t len,
                                      int *err);

/* Drops a reference (SSL_CTX_free); accepts NULL. */
void slc_tls_ctx_put(struct ssl_ctx_st *ctx);

/* Whether the kernel offers the tls ULP (kernel TLS): setsockopt(TCP_ULP, "tls") does
 * not fail with ENOENT. The receive offload itself is not implemented: every tls://
 * listener uses the user-space path, and the log and metrics say so. */
bool slc_tls_kernel_offered(void);

#endif /* SLC_URING_TLS_H */
