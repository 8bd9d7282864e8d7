/* SPDX-License-Identifier: MIT */
/* expo_check.c: helpers the metrics tests share: a buffer, its text, an exposition validator. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "expo_check.h"

/* ---- helpers ---- */

struct slc_metrics_buf *
buf_new(void)
{
	int err = 0;
	struct slc_metrics_buf *b = slc_metrics_buf_create(&err);

	cr_assert_not_null(b, "slc_metrics_buf_create: %d", err);
	return b;
}

const char *
text_of(const struct slc_metrics_buf *b)
{
	return slc_metrics_buf_text(b, NULL);
}

static bool
is_value(const char *s)
{
	char *end;

	if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0)
		return true;
	strtod(s, &end);
	return end != s && *end == '\0';
}

/*
 * A strict reader of the text format, as far as the builder promises: every line is a
 * HELP, a TYPE right after the HELP of the same name, or a sample of the family of the
 * last TYPE (histograms: name_bucket with an le label, name_sum, name_count), with a
 * well-formed label set and a value; no family twice; the text ends in a newline.
 * Returns NULL or what is wrong.
 */
const char *
exposition_error(const char *text)
{
	static char why[256];
	char fams[64][128];
	char cur[128] = "", type[16] = "", help[128] = "";
	unsigned nfams = 0;
	const char *p = text;

	if (*text != '\0' && text[strlen(text) - 1] != '\n')
		return "no newline at the end";
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		char line[1024], name[128], *sp;
		size_t n = (size_t)(nl - p);

		if (n >= sizeof(line))
			return "line too long";
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			if (sscanf(line + 7, "%127s", help) != 1)
				return "HELP without a name";
			for (unsigned i = 0; i < nfams; i++)
				if (strcmp(fams[i], help) == 0) {
					snprintf(why, sizeof(why), "family %s twice", help);
					return why;
				}
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			if (sscanf(line + 7, "%127s %15s", cur, type) != 2 ||
			    strcmp(cur, help) != 0)
				return "TYPE without its HELP";
			if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
			    strcmp(type, "histogram") != 0)
				return "unknown TYPE";
			if (nfams == 64)
				return "too many families for this reader";
			snprintf(fams[nfams++], sizeof(fams[0]), "%s", cur);
			continue;
		}
		if (line[0] == '#')
			return "other comment";
		n = strcspn(line, "{ ");
		if (n == 0 || n >= sizeof(name))
			return "sample without a name";
		memcpy(name, line, n);
		name[n] = '\0';
		if (strcmp(type, "histogram") == 0) {
			size_t c = strlen(cur);

			if (strncmp(name, cur, c) != 0 ||
			    (strcmp(name + c, "_bucket") != 0 && strcmp(name + c, "_sum") != 0 &&
			     strcmp(name + c, "_count") != 0)) {
				snprintf(why, sizeof(why), "%.100s outside histogram %.100s", name,
				         cur);
				return why;
			}
			if (strcmp(name + c, "_bucket") == 0 && strstr(line, "le=\"") == NULL)
				return "bucket without le";
		} else if (strcmp(name, cur) != 0) {
			snprintf(why, sizeof(why), "%.100s outside family %.100s", name, cur);
			return why;
		}
		sp = line + n;
		if (*sp == '{') {
			/* k="v" pairs; inside quotes only \\, \" and \n */
			sp++;
			while (*sp != '}') {
				size_t k = strspn(
				        sp, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				            "0123456789_");
				if (k == 0 || sp[k] != '=' || sp[k + 1] != '"')
					return "bad label name";
				sp += k + 2;
				while (*sp != '"') {
					if (*sp == '\0')
						return "unterminated label value";
					if (*sp == '\\') {
						if (sp[1] != '\\' && sp[1] != '"' && sp[1] != 'n')
							return "bad escape";
						sp++;
					}
					sp++;
				}
				sp++;
				if (*sp == ',')
					sp++;
				else if (*sp != '}')
					return "bad label separator";
			}
			sp++;
		}
		if (*sp != ' ' || !is_value(sp + 1)) {
			snprintf(why, sizeof(why), "bad value in \"%.200s\"", line);
			return why;
		}
	}
	return NULL;
}

void
expect_valid(const char *text)
{
	const char *why = exposition_error(text);

	cr_expect_null(why, "not valid exposition: %s\n%s", why ? why : "", text);
}

/* One request from src (NULL: any) to dst:port; the status, the whole answer in out. */
int
metrics_request(const char *src, const char *dst, uint16_t port, const char *method,
                const char *path, char *out, size_t cap)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in from = {.sin_family = AF_INET};
	char req[128];
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = -1;

	cr_assert_geq(fd, 0);
	cr_assert_eq(inet_pton(AF_INET, dst, &to.sin_addr), 1);
	if (src != NULL) {
		cr_assert_eq(inet_pton(AF_INET, src, &from.sin_addr), 1);
		cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	}
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0, "%s", strerror(errno));
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nContent-Length: 0\r\n\r\n", method, path);
	cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	while (n < cap - 1 && (r = read(fd, out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fd);
	cr_assert_eq(sscanf(out, "HTTP/1.%*d %d", &status), 1, "%s", out);
	return status;
}

int
render_nothing(void *ctx, struct slc_metrics_buf *b)
{
	(void)ctx;
	(void)b;
	return 0;
}
