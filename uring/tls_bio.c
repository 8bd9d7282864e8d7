/* SPDX-License-Identifier: MIT */
/* tls_bio.c: a TLS session's ciphertext buffer (an OpenSSL BIO), counted, and given back when idle. */
#include <openssl/bio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reactor_priv.h"

/*
 * Where the receive's ciphertext waits for OpenSSL. A memory BIO costs three passes over
 * each byte besides the copy in: it zeroes what it grows (BUF_MEM_grow_clean) and moves
 * what is left to the front at every write; this one appends to a buffer that grows (to
 * what is left of a record plus one receive buffer), starts again at 0 whenever OpenSSL has read everything (the
 * usual case: read-ahead takes all), and moves a remainder only when the room at the end
 * is short. The bytes are public ciphertext: nothing to cleanse.
 *
 * The buffer is kept while the session is busy (no allocation per receive), and given
 * back by slc_tls_bio_shrink when it is empty and the connection idle: an idle session
 * no longer keeps the largest burst it ever received. What all a reactor's buffers hold
 * is counted in *held (sluice_reactor_tls_cipher_bytes).
 */
struct cipher_buf {
	uint8_t *p;
	size_t off, len, cap; /* unread: p[off..len) */
	uint64_t *held;       /* the reactor's sum of cap */
};

/* Room for n more bytes after what is unread: the remainder moved to the front, then
 * the buffer grown to what it must hold, not more. False: no memory. */
static bool
cbuf_room(struct cipher_buf *cb, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (cb->off == cb->len)
		cb->off = cb->len = 0;
	if (cb->cap - cb->len < n && cb->off != 0) {
		memmove(cb->p, cb->p + cb->off, cb->len - cb->off);
		cb->len -= cb->off;
		cb->off = 0;
	}
	if (cb->cap - cb->len >= n)
		return true;
	/* Exactly, not twice: what is left of a record plus one receive buffer once the
	 * session is busy (tls.c feeds it piece by piece), and pinned pieces going in at
	 * once reserve their sum first (slc_tls_bio_reserve), so no realloc per piece.
	 * Twice held up to 1.8x more ciphertext in test_tls_flow, past its budget. */
	cap = cb->len + n;
	p = realloc(cb->p, cap);
	if (p == NULL)
		return false;
	*cb->held += cap - cb->cap;
	cb->p = p;
	cb->cap = cap;
	return true;
}

static int
cbuf_write(BIO *b, const char *in, size_t n, size_t *done)
{
	struct cipher_buf *cb = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (!cbuf_room(cb, n))
		return 0;
	memcpy(cb->p + cb->len, in, n);
	cb->len += n;
	*done = n;
	return 1;
}

static int
cbuf_read(BIO *b, char *out, size_t n, size_t *done)
{
	struct cipher_buf *cb = BIO_get_data(b);
	size_t k = cb->len - cb->off;

	BIO_clear_retry_flags(b);
	if (k == 0) {
		BIO_set_retry_read(b); /* empty is "later", not EOF */
		return 0;
	}
	if (k > n)
		k = n;
	memcpy(out, cb->p + cb->off, k);
	cb->off += k;
	if (cb->off == cb->len)
		cb->off = cb->len = 0;
	*done = k;
	return 1;
}

static long
cbuf_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct cipher_buf *cb = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_PENDING:
		return (long)(cb->len - cb->off);
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static int
cbuf_create(BIO *b)
{
	struct cipher_buf *cb = calloc(1, sizeof(*cb));

	if (cb == NULL)
		return 0;
	BIO_set_data(b, cb);
	BIO_set_init(b, 1);
	return 1;
}

static int
cbuf_destroy(BIO *b)
{
	struct cipher_buf *cb = BIO_get_data(b);

	if (cb != NULL) {
		if (cb->held != NULL)
			*cb->held -= cb->cap;
		free(cb->p);
	}
	free(cb);
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *cbuf_method;
static pthread_once_t cbuf_once = PTHREAD_ONCE_INIT;

static void
cbuf_method_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice cipher");

	if (m == NULL || !BIO_meth_set_write_ex(m, cbuf_write) ||
	    !BIO_meth_set_read_ex(m, cbuf_read) || !BIO_meth_set_ctrl(m, cbuf_ctrl) ||
	    !BIO_meth_set_create(m, cbuf_create) || !BIO_meth_set_destroy(m, cbuf_destroy)) {
		BIO_meth_free(m);
		return;
	}
	cbuf_method = m;
}

void
slc_tls_bio_init(void)
{
	pthread_once(&cbuf_once, cbuf_method_make);
}

struct bio_st *
slc_tls_bio_new(uint64_t *held)
{
	BIO *b = cbuf_method != NULL ? BIO_new(cbuf_method) : NULL;

	if (b != NULL)
		((struct cipher_buf *)BIO_get_data(b))->held = held;
	return b;
}

bool
slc_tls_bio_shrink(struct bio_st *b)
{
	struct cipher_buf *cb = BIO_get_data(b);

	if (cb->cap == 0 || cb->off != cb->len)
		return false;
	*cb->held -= cb->cap;
	free(cb->p);
	cb->p = NULL;
	cb->off = cb->len = cb->cap = 0;
	return true;
}

bool
slc_tls_bio_reserve(struct bio_st *b, size_t n)
{
	return cbuf_room(BIO_get_data(b), n);
}
