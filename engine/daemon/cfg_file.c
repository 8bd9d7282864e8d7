/* SPDX-License-Identifier: MIT */
/* cfg_file.c: the --config file: NAME = VALUE lines, applied through the flag table. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/compiler.h"
#include "flags_priv.h"

/*
 * A line is one of:
 *   (blank)                  nothing
 *   # text                   a comment
 *   NAME                     a flag that takes no value (--print-topology): set
 *   NAME = true | false      the same, or left unset
 *   NAME = VALUE             the flag with that value; repeatable flags add as on the CLI
 *   NAME = "VALUE"           the same, the value taken as written (\" and \\ escaped), for
 *                            a value with a '#' after a blank, or blanks at its ends
 * NAME is the flag's name with or without its leading dashes. Blanks (spaces, tabs) around
 * NAME, '=' and VALUE are dropped, and so is a CR before the LF; outside quotes, a '#'
 * after a blank starts a comment. --config, --check-config and the flags that print and
 * exit (--help) are refused: a file that names another file, or that would make sluiced
 * exit, is a mistake.
 */

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A problem with line `line` of path: one line on err. */
static void SLC_PRINTF(4, 5)
        problem(FILE *err, const char *path, unsigned line, const char *fmt, ...)
{
	char shown[4 * 256 + 1];
	va_list ap;

	slc_cfg_show_value(path, strlen(path) < 256 ? strlen(path) : 256, shown);
	if (line != 0)
		fprintf(err, "%s:%u: ", shown, line);
	else
		fprintf(err, "%s: ", shown);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
}

/*
 * A quoted value: p at the opening quote; the value is unescaped in place. Returns the
 * value, *rest set past the closing quote; NULL when it does not close.
 */
static char *
unquote(char *p, char **rest)
{
	char *w = p, *v = p;

	for (p++; *p != '\0'; p++) {
		if (*p == '"') {
			*w = '\0';
			*rest = p + 1;
			return v;
		}
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		*w++ = *p;
	}
	return NULL;
}

/* What follows a value or a bare name: blanks, then nothing or a comment. */
static bool
only_comment(const char *p)
{
	while (is_blank(*p))
		p++;
	return *p == '\0' || *p == '#';
}

/* One line, NUL-terminated, CR and LF removed: applied to c. Returns 0, or -EINVAL after
 * reporting it. */
static int
apply_line(struct slc_cfg *c, struct slc_cfg_parse_state *st, char *p, const char *path,
           unsigned line, FILE *err)
{
	char name[80], msg[1024], *val = NULL, *rest, *end;
	size_t n;
	const struct slc_cfg_opt *o;
	size_t nopts;
	const struct slc_cfg_opt *opts = slc_cfg_opts(&nopts);

	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	if (p[0] == '-' && p[1] == '-')
		p += 2;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-");
	rest = p + n;
	if (n == 0 || n + 2 >= sizeof(name) ||
	    !(is_blank(*rest) || *rest == '=' || *rest == '\0')) {
		char shown[4 * 64 + 1];

		slc_cfg_show_value(p, strlen(p) < 64 ? strlen(p) : 64, shown);
		problem(err, path, line,
		        "\"%s\" is not NAME or NAME = VALUE (NAME: a flag's name, lower case)",
		        shown);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "--%.*s", (int)n, p);
	while (is_blank(*rest))
		rest++;
	if (*rest == '=') {
		rest++;
		while (is_blank(*rest))
			rest++;
		if (*rest == '"') {
			val = unquote(rest, &rest);
			if (val == NULL) {
				problem(err, path, line, "%s: the value's quote does not close",
				        name);
				return -EINVAL;
			}
			if (!only_comment(rest)) {
				problem(err, path, line, "%s: text after the quoted value", name);
				return -EINVAL;
			}
		} else {
			val = rest;
			/* outside quotes, a '#' after a blank starts a comment */
			for (end = rest; *end != '\0'; end++)
				if (*end == '#' && end > rest && is_blank(end[-1]))
					break;
			while (end > rest && is_blank(end[-1]))
				end--;
			*end = '\0';
			if (*val == '\0') {
				problem(err, path, line, "%s: missing value after '='", name);
				return -EINVAL;
			}
		}
	} else if (!only_comment(rest)) {
		problem(err, path, line, "%s: missing '=' between the name and the value", name);
		return -EINVAL;
	}
	o = NULL;
	for (size_t i = 0; i < nopts; i++)
		if (strcmp(opts[i].name, name) == 0)
			o = &opts[i];
	if (o != NULL &&
	    (o->type == SLC_CFG_ACTION || o->offset == offsetof(struct slc_cfg, config) ||
	     o->offset == offsetof(struct slc_cfg, check_config))) {
		problem(err, path, line, "%s: not in a config file; allowed: on the command line",
		        name);
		return -EINVAL;
	}
	if (o != NULL && o->type == SLC_CFG_BOOL && val != NULL) {
		if (strcmp(val, "false") == 0)
			return 0;
		if (strcmp(val, "true") == 0)
			val = NULL;
	}
	if (slc_cfg_apply_named(c, st, name, strlen(name), val, msg, sizeof(msg)) != 0) {
		problem(err, path, line, "%s", msg);
		return -EINVAL;
	}
	return 0;
}

/* FNV-1a, 64 bits: what the config file metric shows, to tell two versions apart. */
static uint64_t
fnv1a64(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The whole file into a NUL-terminated buffer (*len bytes before the NUL). NULL after
 * reporting why. */
static char *
read_file(const char *path, size_t *len, int64_t *mtime_s, FILE *err)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		problem(err, path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) != 0) {
		problem(err, path, 0, "cannot stat: %s", strerror(errno));
		goto err_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		problem(err, path, 0, "not a regular file");
		goto err_close;
	}
	if (sb.st_size > SLC_CFG_FILE_MAX) {
		problem(err, path, 0, "%lld bytes; allowed: at most %u", (long long)sb.st_size,
		        SLC_CFG_FILE_MAX);
		goto err_close;
	}
	/* The size may change while it is read: read up to one byte past the bound. */
	buf = malloc(SLC_CFG_FILE_MAX + 2);
	if (buf == NULL) {
		problem(err, path, 0, "cannot read: %s", strerror(ENOMEM));
		goto err_close;
	}
	for (;;) {
		ssize_t r = read(fd, buf + got, SLC_CFG_FILE_MAX + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			problem(err, path, 0, "cannot read: %s", strerror(errno));
			goto err_free;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > SLC_CFG_FILE_MAX) {
			problem(err, path, 0, "more than %u bytes", SLC_CFG_FILE_MAX);
			goto err_free;
		}
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	*mtime_s = (int64_t)sb.st_mtim.tv_sec;
	return buf;

err_free:
	free(buf);
err_close:
	close(fd);
	return NULL;
}

unsigned
slc_cfg_file_apply(struct slc_cfg *c, struct slc_cfg_parse_state *st, const char *path, FILE *err)
{
	size_t len;
	int64_t mtime_s;
	char *buf = read_file(path, &len, &mtime_s, err), *p;
	unsigned problems = 0, line = 0;

	if (buf == NULL)
		return 1;
	c->config_hash = fnv1a64(buf, len);
	c->config_mtime_s = mtime_s;
	for (p = buf; p < buf + len;) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		char *eol = nl != NULL ? nl : buf + len;

		line++;
		if (memchr(p, '\0', (size_t)(eol - p)) != NULL) {
			problem(err, path, line, "holds a NUL byte; allowed: text");
			problems++;
		} else {
			*eol = '\0';
			if (eol > p && eol[-1] == '\r')
				eol[-1] = '\0';
			if (apply_line(c, st, p, path, line, err) != 0)
				problems++;
		}
		p = eol + 1;
	}
	free(buf);
	return problems;
}
