/* SPDX-License-Identifier: MIT */
/* tls_client.c: throwaway certificates, an OpenSSL client and client tools for tls:// tests. */
#include "tls_client.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "child.h"

/* Waits for pid up to timeout_ms (then kills it): its exit status, or -1. */
static int
wait_child(pid_t pid, uint32_t timeout_ms)
{
	uint64_t end = slc_mono_ms() + timeout_ms;
	int st = 0;

	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		struct timespec ts = {0, 10 * 1000000};

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (w < 0 || slc_mono_ms() >= end)
			break;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

void
tlsc_make_certs(const char *dir)
{
	static const char script[] =
	        "set -e; cd \"$0\"\n"
	        "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	        "-keyout $1.key -out $1.pem -days 2 -subj /CN=$2; }\n"
	        "crt() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	        "-keyout $1.key -out $1.csr -subj /CN=$3 && openssl x509 -req -in $1.csr "
	        "-CA $2.pem -CAkey $2.key -CAcreateserial -out $1.pem -days 2; }\n"
	        "ca ca sluice-test-ca; ca ca2 other-ca\n"
	        "crt srv ca localhost; crt srv2 ca reloaded; crt cli ca client; crt bad ca2 "
	        "intruder\n";
	const char *argv[] = {"/bin/sh", "-c", script, dir, NULL};
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid_t pid = slc_test_spawn("/bin/sh", argv, null, null);

	close(null);
	cr_assert_gt(pid, 0);
	cr_assert_eq(wait_child(pid, 60000), 0, "openssl could not make the test certificates");
}

SSL_CTX *
tlsc_ctx(const char *dir, const char *cert, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char path[256], key[256];

	cr_assert_not_null(ctx);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	cr_assert_eq(SSL_CTX_load_verify_locations(ctx, path, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(ctx, max_version);
	if (cert != NULL) {
		snprintf(path, sizeof(path), "%s/%s.pem", dir, cert);
		snprintf(key, sizeof(key), "%s/%s.key", dir, cert);
		cr_assert_eq(SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM), 1);
		cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
	}
	return ctx;
}

bool
tlsc_connect(struct tlsc *t, SSL_CTX *ctx, uint16_t port)
{
	return tlsc_connect_rcvbuf(t, ctx, port, 0);
}

bool
tlsc_connect_rcvbuf(struct tlsc *t, SSL_CTX *ctx, uint16_t port, int rcvbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 10};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->ssl = NULL;
	t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return false;
	setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* Before connect, so that the window the peer sees is small from the start, and the
	 * segment size it sizes its send buffer by too (loopback's 64 KiB would give it MiBs). */
	if (rcvbuf != 0 &&
	    (setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 ||
	     setsockopt(t->fd, IPPROTO_TCP, TCP_MAXSEG, &(int){536}, sizeof(int)) != 0))
		return false;
	if (connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return false;
	t->ssl = SSL_new(ctx);
	SSL_set_fd(t->ssl, t->fd);
	SSL_set_tlsext_host_name(t->ssl, "localhost");
	if (SSL_connect(t->ssl) != 1) {
		ERR_clear_error();
		return false;
	}
	return true;
}

bool
tlsc_write(struct tlsc *t, const void *buf, size_t len)
{
	size_t w = 0;

	if (len == 0)
		return true;
	if (SSL_write_ex(t->ssl, buf, len, &w) != 1 || w != len) {
		ERR_clear_error();
		return false;
	}
	return true;
}

bool
tlsc_read(struct tlsc *t, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		size_t n = 0;

		if (SSL_read_ex(t->ssl, (char *)buf + got, len - got, &n) != 1) {
			ERR_clear_error();
			return false;
		}
		got += n;
	}
	return true;
}

bool
tlsc_closed_by_peer(struct tlsc *t)
{
	char b[256];
	size_t n;
	int rc;

	for (;;) {
		rc = SSL_read_ex(t->ssl, b, sizeof(b), &n);
		if (rc == 1)
			continue; /* data: not what we wait for, but not a close either */
		rc = SSL_get_error(t->ssl, 0);
		ERR_clear_error();
		/* A receive timeout (EAGAIN) is not a close. */
		return !(rc == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
	}
}

int
tlsc_alert(struct tlsc *t)
{
	char b[256];
	size_t n;
	unsigned long e;
	int reason;

	while (SSL_read_ex(t->ssl, b, sizeof(b), &n) == 1)
		; /* data: not what we wait for */
	e = ERR_peek_error();
	reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
	ERR_clear_error();
	return reason >= SSL_AD_REASON_OFFSET ? reason - SSL_AD_REASON_OFFSET : -1;
}

void
tlsc_peer_cn(struct tlsc *t, char *cn, size_t len)
{
	X509 *x = SSL_get1_peer_certificate(t->ssl);

	cn[0] = '\0';
	if (x == NULL)
		return;
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)len);
	X509_free(x);
}

void
tlsc_close(struct tlsc *t)
{
	if (t->ssl != NULL)
		SSL_free(t->ssl);
	if (t->fd >= 0)
		close(t->fd);
	t->ssl = NULL;
	t->fd = -1;
}

int
tlsc_run(const char *const *argv, const char *input, size_t len, uint32_t timeout_ms)
{
	char path[] = "/tmp/sluice-tls-input-XXXXXX";
	const char *sh[32] = {"/bin/sh", "-c", "exec \"$@\" < \"$0\"", path};
	int fd = mkstemp(path), null, rc;
	size_t n = 4;
	pid_t pid;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, input, len), (ssize_t)len);
	close(fd);
	for (size_t i = 0; argv[i] != NULL && n < 31; i++)
		sh[n++] = argv[i];
	sh[n] = NULL;
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid = slc_test_spawn("/bin/sh", sh, null, null);
	close(null);
	cr_assert_gt(pid, 0);
	rc = wait_child(pid, timeout_ms);
	unlink(path);
	return rc;
}

struct tlsc_daemon *
tlsc_daemon_start(const char *sink, const char *const *extra)
{
	struct tlsc_daemon *s = calloc(1, sizeof(*s));
	const char *args[40] = {"--listen",   "tls://127.0.0.1:0?framing=lines",
	                        "--sink",     s->sink,
	                        "--metrics",  "127.0.0.1:0",
	                        "--tls-cert", s->cert,
	                        "--tls-key",  s->key};
	size_t n = 10;

	cr_assert_not_null(s);
	signal(SIGPIPE, SIG_IGN); /* writes to a closed connection fail, not kill the test */
	dproc_make_dir(&s->d);
	tlsc_make_certs(s->d.dir);
	snprintf(s->cert, sizeof(s->cert), "%s/srv.pem", s->d.dir);
	snprintf(s->key, sizeof(s->key), "%s/srv.key", s->d.dir);
	if (strncmp(sink, "file:", 5) == 0)
		snprintf(s->sink, sizeof(s->sink), "file:%s/%s", s->d.dir, sink + 5);
	else
		snprintf(s->sink, sizeof(s->sink), "%s", sink);
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 39; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	dproc_start(&s->d, args);
	cr_assert_neq(s->d.metrics_port, 0, "%s", s->d.log);
	return s;
}
