/* SPDX-License-Identifier: MIT */
/* tls_client.h: what the tls:// tests share: throwaway certificates, an OpenSSL client, tools. */
#ifndef SLC_TESTS_TLS_CLIENT_H
#define SLC_TESTS_TLS_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon_proc.h"

/*
 * tlsc_make_certs writes, with the openssl command line tool, into dir: two CAs (ca,
 * ca2) and certificates (NAME.pem, NAME.key): srv (CN localhost, from ca), srv2 (CN
 * reloaded, from ca), cli (CN client, from ca) and bad (CN intruder, from ca2). Stops
 * the test when openssl fails.
 */
void tlsc_make_certs(const char *dir);

/* sluiced with tls://127.0.0.1:0?framing=lines, the srv certificate of tlsc_make_certs in a
 * fresh folder (d.dir), metrics, --sink sink ("file:" names a folder under d.dir) and the
 * extra flags (NULL-terminated, may be NULL); SIGPIPE ignored. Free it after dproc_stop
 * and dproc_remove_dir. */
struct tlsc_daemon {
	struct dproc d;
	char cert[128], key[128], sink[160];
};
struct tlsc_daemon *tlsc_daemon_start(const char *sink, const char *const *extra);

/* A client context that trusts dir/ca.pem; with cert (a NAME of tlsc_make_certs, or NULL)
 * it presents dir/NAME.pem; max_version 0: any, else TLS1_2_VERSION... */
SSL_CTX *tlsc_ctx(const char *dir, const char *cert, int max_version);

/* A connection: blocking, 10 s receive and send timeouts, so no read waits for ever. */
struct tlsc {
	int fd;
	SSL *ssl;
};

/* Connects to 127.0.0.1:port and runs the handshake: true when it completed. */
bool tlsc_connect(struct tlsc *t, SSL_CTX *ctx, uint16_t port);
/* The same with a receive buffer of rcvbuf bytes and 536-byte segments (SO_RCVBUF,
 * TCP_MAXSEG, set before connect; 0: the defaults): a client that does not read makes the
 * server's sends stall soon. */
bool tlsc_connect_rcvbuf(struct tlsc *t, SSL_CTX *ctx, uint16_t port, int rcvbuf);
/* Writes all of buf: true when it did. */
bool tlsc_write(struct tlsc *t, const void *buf, size_t len);
/* Reads exactly len bytes: true when it did (false: closed, error, timeout). */
bool tlsc_read(struct tlsc *t, void *buf, size_t len);
/* True when the server closed (EOF, an alert or a reset) within the receive timeout. */
bool tlsc_closed_by_peer(struct tlsc *t);
/* Reads until the server ends the session: the TLS alert it sent (SSL_AD_*), or -1 when
 * it ended without one (EOF, a reset, the receive timeout). */
int tlsc_alert(struct tlsc *t);
/* The server certificate's common name into cn ("" if none). */
void tlsc_peer_cn(struct tlsc *t, char *cn, size_t len);
void tlsc_close(struct tlsc *t);

/* Runs argv (argv[0] a program on PATH) with input on its stdin, then EOF; waits for it up
 * to timeout_ms (then kills it): its exit status, or -1. */
int tlsc_run(const char *const *argv, const char *input, size_t len, uint32_t timeout_ms);

#endif /* SLC_TESTS_TLS_CLIENT_H */
