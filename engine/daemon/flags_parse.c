/* SPDX-License-Identifier: MIT */
/* flags_parse.c: the flag parser's value parsers: numbers, units, addresses, URLs, lists. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "flags_priv.h"
#include "numa.h"
#include "sinks/registry.h"

/* How a syntax error of o's type is described, beyond "allowed". */
static const char *
syntax_hint(const struct slc_cfg_opt *o)
{
	switch (o->type) {
	case SLC_CFG_COUNT:
		return "is not a number (decimal digits)";
	case SLC_CFG_SIZE:
		return "is not a size (digits, then optionally k, M or G: 1024-based)";
	case SLC_CFG_DURATION:
		return o->unit_ms == 1 ? "is not a duration (digits, then ms, s, m or h; bare: ms)"
		                       : "is not a duration (digits, then ms, s, m or h; bare: s)";
	case SLC_CFG_DOUBLE:
		return "is not a number";
	default:
		return "is not valid";
	}
}

/* A message that quotes a flag or value stays one line, and a value cannot forge a log
 * line. */
void
slc_cfg_show_value(const char *val, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)val[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)sprintf(out + o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* "--pools: \"0\" is out of range; allowed: 1..64" into msg. */
static int
refuse(char *msg, size_t len, const struct slc_cfg_opt *o, const char *val, const char *what,
       const char *why)
{
	struct slc_cfg_sbuf b = {msg, len, 0, false};
	char shown[4 * 256 + 1];

	slc_cfg_show_value(val, strlen(val) < 256 ? strlen(val) : 256, shown);
	slc_cfg_sb_printf(&b, "%s: \"%s%s\" %s", o->name, shown, strlen(val) > 256 ? "..." : "",
	                  what);
	if (why != NULL && why[0] != '\0')
		slc_cfg_sb_printf(&b, " (%s)", why);
	if (o->type == SLC_CFG_ENUM) {
		slc_cfg_sb_printf(&b, " one of ");
	} else {
		slc_cfg_sb_printf(&b, "; allowed: ");
	}
	slc_cfg_allowed_text(&b, o);
	return -EINVAL;
}

/* ---- parsing values ---- */

/* Decimal digits at *s to *v, advancing *s: 0, -EINVAL (no digit), -ERANGE (over 2^64). */
static int
digits_parse(const char **s, uint64_t *v)
{
	const char *p = *s;
	uint64_t x = 0;
	bool over = false;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			over = true;
		else
			x = x * 10 + d;
	}
	*s = p;
	*v = x;
	return over ? -ERANGE : 0;
}

/* "64k" -> 65536. Refuses signs, spaces, other suffixes (-EINVAL) and overflow (-ERANGE). */
static int
size_parse(const char *s, uint64_t *v)
{
	uint64_t x;
	unsigned shift = 0;
	int ret = digits_parse(&s, &x);

	if (ret == -EINVAL)
		return ret;
	switch (*s) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		s++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		s++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		s++;
		break;
	default:
		return -EINVAL;
	}
	if (*s != '\0')
		return -EINVAL;
	if (ret != 0 || x > (UINT64_MAX >> shift))
		return -ERANGE;
	*v = x << shift;
	return 0;
}

/* "100ms", "10s", "5m", "1h", or digits alone in unit_ms; to ms. Errors as size_parse(). */
static int
duration_parse(const char *s, uint32_t unit_ms, uint64_t *v)
{
	uint64_t x, mul;
	int ret = digits_parse(&s, &x);

	if (ret == -EINVAL)
		return ret;
	if (strcmp(s, "") == 0)
		mul = unit_ms;
	else if (strcmp(s, "ms") == 0)
		mul = 1;
	else if (strcmp(s, "s") == 0)
		mul = 1000;
	else if (strcmp(s, "m") == 0)
		mul = 60000;
	else if (strcmp(s, "h") == 0)
		mul = 3600000;
	else
		return -EINVAL;
	if (ret != 0 || x > UINT64_MAX / mul)
		return -ERANGE;
	*v = x * mul;
	return 0;
}

/* "tcp://ADDR:PORT[?framing=F]", "tls://ADDR:PORT[?framing=F]", "udp://ADDR:PORT" or
 * "http://ADDR:PORT" (OTLP/HTTP logs). */
static int
listen_parse(const char *s, struct slc_listener_cfg *l, const char **why)
{
	const char *rest, *q;
	enum slc_frame_format f = SLC_FRAME_LINES;

	memset(l, 0, sizeof(*l));
	if (strncmp(s, "tcp://", 6) == 0) {
		l->proto = SLC_LISTENER_TCP;
	} else if (strncmp(s, "tls://", 6) == 0) {
		l->proto = SLC_LISTENER_TCP;
		l->tls = true;
	} else if (strncmp(s, "udp://", 6) == 0) {
		l->proto = SLC_LISTENER_UDP;
	} else if (strncmp(s, "http://", 7) == 0) {
		l->proto = SLC_LISTENER_TCP;
		l->http = true;
	} else {
		*why = "the scheme is not tcp://, tls://, udp:// or http://";
		return -EINVAL;
	}
	rest = s + (l->http ? 7 : 6);
	q = strchr(rest, '?');
	if (slc_addr_parse(rest, q != NULL ? (size_t)(q - rest) : strlen(rest), &l->addr,
	                   &l->addrlen, why) != 0)
		return -EINVAL;
	if (q != NULL) {
		if (l->proto == SLC_LISTENER_UDP) {
			*why = "udp:// takes no framing: a datagram is one message";
			return -EINVAL;
		}
		if (l->http) {
			*why = "http:// takes no query: it serves POST /v1/logs";
			return -EINVAL;
		}
		if (strncmp(q + 1, "framing=", 8) != 0) {
			*why = "the only query is ?framing=";
			return -EINVAL;
		}
		if (strcmp(q + 9, "len32+ack") == 0) {
			f = SLC_FRAME_LEN32;
			l->acks = true;
		} else if (slc_frame_format_parse(q + 9, &f) != 0) {
			*why = "the framing is not lines, len32, len32+ack, syslog or forward";
			return -EINVAL;
		}
		/* Forward entries are acknowledged delivery: a chunk is acked once durable. */
		l->acks = f == SLC_FRAME_FORWARD || l->acks;
	}
	l->framing = f;
	return 0;
}

/* A property name (librdkafka's, for one): lower case letters, digits, '.', '_' and '-'. */
static bool
prop_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* Names whose values the start-up log must not show (sasl.password, ssl.key.pem, ...). */
bool
slc_cfg_prop_secret(const char *name, size_t n)
{
	static const char *const words[] = {"password", "secret", "pem", "jaas", "oauthbearer"};
	char lower[SLC_CFG_PROP_LEN];

	if (n >= sizeof(lower))
		return true;
	memcpy(lower, name, n);
	lower[n] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(words); i++)
		if (strstr(lower, words[i]) != NULL)
			return true;
	return false;
}

/* NAME=VALUE into a PROPS field: syntax only (the sink judges names and values at
 * start-up). A NAME given before is replaced in place; a new one is appended. */
static int
props_apply(struct slc_cfg_props *p, const struct slc_cfg_opt *o, const char *val, char *msg,
            size_t len)
{
	char sep = o->flags & SLC_CFG_F_NAME_COLON ? ':' : '=';
	size_t n = strcspn(val, sep == ':' ? ":" : "=");

	if (val[n] != sep || !prop_name_ok(val, n))
		return refuse(msg, len, o, val, "is not valid",
		              sep == ':'
		                      ? "no NAME: of lower case letters, digits, '.', '_' and '-'"
		                      : "no NAME= of lower case letters, digits, '.', '_' and '-'");
	if (strlen(val) >= SLC_CFG_PROP_LEN)
		return refuse(msg, len, o, val, "is too long", NULL);
	for (uint32_t i = 0; i < p->n; i++) {
		if (strncmp(p->v[i], val, n + 1) == 0) {
			memcpy(p->v[i], val, strlen(val) + 1);
			return 0;
		}
	}
	if (p->n == SLC_CFG_PROPS_MAX)
		return refuse(msg, len, o, val, "is one too many", NULL);
	memcpy(p->v[p->n++], val, strlen(val) + 1);
	return 0;
}

static bool
pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* An integer type's value to its field (4 or 8 bytes wide, by the table). */
static void
uint_store(void *field, size_t size, uint64_t v)
{
	if (size == sizeof(uint64_t)) {
		*(uint64_t *)field = v;
	} else {
		assert(size == sizeof(uint32_t));
		*(uint32_t *)field = (uint32_t)v;
	}
}

uint64_t
slc_cfg_uint_load(const void *field, size_t size)
{
	if (size == sizeof(uint64_t))
		return *(const uint64_t *)field;
	return *(const uint32_t *)field;
}

static int
hook_run(const struct slc_cfg_opt *o, const struct slc_cfg_parse_state *st, const char *val,
         char *msg, size_t len)
{
	slc_cfg_check_fn fn = slc_cfg_hook_of(o);
	char why[256] = "";

	if (!st->hooks || fn == NULL || fn(val, why, sizeof(why)) == 0)
		return 0;
	return refuse(msg, len, o, val, "is not valid", why);
}

/* An ACTION or a BOOL never gets here with a value. */
int
slc_cfg_opt_apply(struct slc_cfg *c, const struct slc_cfg_opt *o, struct slc_cfg_parse_state *st,
                  const char *val, char *msg, size_t len)
{
	void *field = (char *)c + o->offset;
	const char *why = NULL;
	uint64_t u = 0;
	int ret;

	switch (o->type) {
	case SLC_CFG_BOOL:
		*(bool *)field = true;
		return 0;
	case SLC_CFG_ACTION:
		return 0;
	case SLC_CFG_COUNT:
	case SLC_CFG_SIZE:
	case SLC_CFG_DURATION:
		if (o->flags & SLC_CFG_F_AUTO && strcmp(val, "auto") == 0) {
			uint_store(field, o->size, 0); /* below min: sized at start-up */
			return 0;
		} else if (o->flags & SLC_CFG_F_OFF && strcmp(val, "off") == 0) {
			u = 0;
			ret = 0;
		} else if (o->type == SLC_CFG_SIZE) {
			ret = size_parse(val, &u);
		} else if (o->type == SLC_CFG_DURATION) {
			ret = duration_parse(val, o->unit_ms, &u);
		} else {
			const char *p = val;

			ret = digits_parse(&p, &u);
			if (ret == 0 && *p != '\0')
				ret = -EINVAL;
		}
		if (ret == -EINVAL)
			return refuse(msg, len, o, val, syntax_hint(o), NULL);
		if (ret != 0 || (double)u < o->min || (double)u > o->max)
			return refuse(msg, len, o, val, "is out of range", NULL);
		if (o->flags & SLC_CFG_F_POW2 && !pow2(u))
			return refuse(msg, len, o, val, "is not a power of two", NULL);
		uint_store(field, o->size, u);
		return 0;
	case SLC_CFG_DOUBLE: {
		char *end = NULL;
		double d;

		/* strtod skips leading space and reads "nan": neither is a number here. */
		if (isspace((unsigned char)val[0]))
			return refuse(msg, len, o, val, syntax_hint(o), NULL);
		errno = 0;
		d = strtod(val, &end);
		if (end == val || *end != '\0' || isnan(d))
			return refuse(msg, len, o, val, syntax_hint(o), NULL);
		if (errno == ERANGE || !isfinite(d) || d < o->min || d > o->max ||
		    (o->flags & SLC_CFG_F_MIN_EXCL && d == o->min) ||
		    (o->flags & SLC_CFG_F_MAX_EXCL && d == o->max))
			return refuse(msg, len, o, val, "is out of range", NULL);
		*(double *)field = d;
		return 0;
	}
	case SLC_CFG_ENUM:
		for (int i = 0; o->choices[i] != NULL; i++) {
			if (strcmp(val, o->choices[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		return refuse(msg, len, o, val, "is not", NULL);
	case SLC_CFG_STRING:
		if (val[0] == '\0')
			return refuse(msg, len, o, val, "is empty", NULL);
		if (strlen(val) >= o->size)
			return refuse(msg, len, o, val, "is too long", NULL);
		if (o->flags & SLC_CFG_F_HOOK && strcmp(val, "none") != 0 &&
		    hook_run(o, st, val, msg, len) != 0)
			return -EINVAL;
		/* The whole field: what an earlier value (the --config file's) left after the
		 * NUL would make two equal settings compare unequal (reload.c). */
		memset(field, 0, o->size);
		memcpy(field, val, strlen(val) + 1);
		return 0;
	case SLC_CFG_CPUS: {
		char why_buf[256];

		if (strcmp(val, "all") == 0) {
			*(char *)field = '\0';
			return 0;
		}
		if (strlen(val) >= o->size)
			return refuse(msg, len, o, val, "is too long", NULL);
		ret = slc_numa_cpu_list_check(val, why_buf, sizeof(why_buf));
		if (ret == -ENOMEM)
			return refuse(msg, len, o, val, "could not be checked", "out of memory");
		if (ret != 0)
			return refuse(msg, len, o, val, "is not valid", why_buf);
		memcpy(field, val, strlen(val) + 1);
		return 0;
	}
	case SLC_CFG_LISTEN: {
		struct slc_listener_cfg l;

		if (listen_parse(val, &l, &why) != 0)
			return refuse(msg, len, o, val, "is not valid", why);
		if (!st->listen_given) {
			c->nlisten = 0;
			st->listen_given = true;
		}
		if (c->nlisten == SLC_CFG_LISTEN_MAX)
			return refuse(msg, len, o, val, "is one too many", NULL);
		c->listen[c->nlisten++] = l;
		return 0;
	}
	case SLC_CFG_ADDR: {
		struct slc_cfg_addr *a = field;

		if (strcmp(val, "off") == 0) {
			memset(a, 0, sizeof(*a));
			return 0;
		}
		if (slc_addr_parse(val, strlen(val), &a->addr, &a->addrlen, &why) != 0)
			return refuse(msg, len, o, val, "is not valid", why);
		return 0;
	}
	case SLC_CFG_SINK:
		if (slc_sink_spec_parse(val, field, &why) != 0)
			return refuse(msg, len, o, val, "is not valid", why);
		return hook_run(o, st, val, msg, len);
	case SLC_CFG_PROPS:
		if (o->flags & SLC_CFG_F_HOOK && hook_run(o, st, val, msg, len) != 0)
			return -EINVAL;
		return props_apply(field, o, val, msg, len);
	}
	return -EINVAL;
}
