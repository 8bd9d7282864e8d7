/* SPDX-License-Identifier: MIT */
/* expo_check.h: helpers the metrics tests share: a buffer, its text, an exposition validator. */
#ifndef SLC_TESTS_METRICS_EXPO_CHECK_H
#define SLC_TESTS_METRICS_EXPO_CHECK_H

#include "metrics/expo.h"

/* A new buffer; the test stops when it cannot be made. */
struct slc_metrics_buf *buf_new(void);
const char *text_of(const struct slc_metrics_buf *b);
/* NULL when text is valid exposition format (0.0.4), else why not. */
const char *exposition_error(const char *text);
/* Expects text to be valid exposition format, and shows it when it is not. */
void expect_valid(const char *text);

#endif /* SLC_TESTS_METRICS_EXPO_CHECK_H */
