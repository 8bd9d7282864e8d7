/* SPDX-License-Identifier: MIT */
/* expo_check.h: helpers the metrics tests share: a buffer, its text, an exposition validator. */
#ifndef SLC_TESTS_METRICS_EXPO_CHECK_H
#define SLC_TESTS_METRICS_EXPO_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "metrics/expo.h"

/* A new buffer; the test stops when it cannot be made. */
struct slc_metrics_buf *buf_new(void);
const char *text_of(const struct slc_metrics_buf *b);
/* NULL when text is valid exposition format (0.0.4), else why not. */
const char *exposition_error(const char *text);
/* Expects text to be valid exposition format, and shows it when it is not. */
void expect_valid(const char *text);

/* A render callback that writes nothing (the server's own families follow). */
int render_nothing(void *ctx, struct slc_metrics_buf *b);

/*
 * One HTTP/1.0 request from src (NULL: any address) to dst:port, read to EOF: the status,
 * the whole answer (headers and body) in out, NUL-terminated. Stops the test when the
 * connection or the answer fails.
 */
int metrics_request(const char *src, const char *dst, uint16_t port, const char *method,
                    const char *path, char *out, size_t cap);

#endif /* SLC_TESTS_METRICS_EXPO_CHECK_H */
