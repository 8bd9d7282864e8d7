/* SPDX-License-Identifier: MIT */
#include "doc_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
slc_test_doc_compare(const char *path, const char *want, size_t len, size_t *line)
{
	char *have = NULL, chunk[4096];
	size_t have_len = 0, got, i;
	FILE *f, *m;
	int rc;

	if (getenv("SLC_UPDATE_DOCS") != NULL) {
		f = fopen(path, "w");
		if (f == NULL)
			return -errno;
		got = fwrite(want, 1, len, f);
		if (fclose(f) != 0 || got != len)
			return -EIO;
	}
	f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	m = open_memstream(&have, &have_len);
	if (m == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, got, m);
	fclose(f);
	fclose(m);
	*line = 1;
	for (i = 0; i < len && i < have_len && want[i] == have[i]; i++)
		*line += want[i] == '\n';
	rc = len == have_len && i == len ? 0 : 1;
	free(have);
	return rc;
}
