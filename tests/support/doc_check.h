/* SPDX-License-Identifier: MIT */
/* doc_check.h: a checked-in document against what its generator writes now. */
#ifndef SLC_TESTS_DOC_CHECK_H
#define SLC_TESTS_DOC_CHECK_H

#include <stddef.h>

/*
 * Compares the file at path with want (len bytes). With SLC_UPDATE_DOCS set in the
 * environment it first rewrites the file with want. Returns 0 when they are the same, 1
 * when they differ (*line: the first line that does), -errno when the file cannot be read
 * or written.
 */
int slc_test_doc_compare(const char *path, const char *want, size_t len, size_t *line);

#endif /* SLC_TESTS_DOC_CHECK_H */
