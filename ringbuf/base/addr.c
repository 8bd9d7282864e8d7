/* SPDX-License-Identifier: MIT */
/* addr.c: address and port parsing, resolving and formatting (base/addr.h). */
#include "base/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int
slc_addr_port_parse(const char *s, size_t n, uint16_t min, uint16_t *port)
{
	uint32_t x = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		x = x * 10 + (uint32_t)(s[i] - '0');
	}
	if (x < min || x > 65535)
		return -ERANGE;
	*port = (uint16_t)x;
	return 0;
}

bool
slc_addr_host_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > SLC_ADDR_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

int
slc_addr_parse(const char *s, size_t n, struct sockaddr_storage *ss, socklen_t *sslen,
               const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *hs, *he, *colon;
	uint16_t port;
	bool v6 = false;

	if (n > 0 && s[0] == '[') {
		he = memchr(s, ']', n);
		if (he == NULL) {
			*why = "no ] after the IPv6 address";
			return -EINVAL;
		}
		hs = s + 1;
		colon = he + 1;
		if (colon >= s + n || *colon != ':') {
			*why = "no :PORT after the address";
			return -EINVAL;
		}
		v6 = true;
	} else {
		colon = n > 0 ? memrchr(s, ':', n) : NULL;
		if (colon == NULL) {
			*why = "no :PORT after the address";
			return -EINVAL;
		}
		hs = s;
		he = colon;
		if (memchr(hs, ':', (size_t)(he - hs)) != NULL) {
			*why = "an IPv6 address goes in [ ]";
			return -EINVAL;
		}
	}
	if (slc_addr_port_parse(colon + 1, (size_t)(s + n - colon - 1), 0, &port) != 0) {
		*why = "the port is not a number in 0..65535";
		return -EINVAL;
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs) {
		*why = v6 ? "not a numeric IPv6 address" : "not a numeric IPv4 address";
		return -EINVAL;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			*why = "not a numeric IPv6 address";
			return -EINVAL;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		*sslen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			*why = "not a numeric IPv4 address";
			return -EINVAL;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		*sslen = sizeof(*a);
	}
	return 0;
}

int
slc_addr_split(const char *s, size_t n, bool port_optional, char *host, size_t host_cap,
               uint16_t *port, const char **why)
{
	const char *colon;
	size_t hn;
	int rc;

	*port = 0;
	if (!port_optional) {
		/* The last ':' ends HOST whatever HOST is; what is before it is checked below. */
		colon = n > 0 ? memrchr(s, ':', n) : NULL;
	} else if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (close == NULL) {
			*why = "no ] after the IPv6 address";
			return -EINVAL;
		}
		colon = close + 1 < s + n ? close + 1 : NULL;
		if (colon != NULL && *colon != ':') {
			*why = "no :PORT in 1..65535 at the end";
			return -EINVAL;
		}
	} else {
		/* A host name holds no ':', so the first one ends it. */
		colon = n > 0 ? memchr(s, ':', n) : NULL;
	}
	if (colon != NULL)
		rc = slc_addr_port_parse(colon + 1, (size_t)(s + n - colon - 1), 1, port);
	else
		rc = port_optional ? 0 : -EINVAL;
	if (rc != 0) {
		*why = "no :PORT in 1..65535 at the end";
		return -EINVAL;
	}
	hn = colon != NULL ? (size_t)(colon - s) : n;
	if (hn >= 2 && s[0] == '[' && s[hn - 1] == ']') {
		char a[INET6_ADDRSTRLEN + 1];
		struct in6_addr a6;

		s++;
		hn -= 2;
		if (hn >= sizeof(a)) {
			*why = "not a numeric IPv6 address";
			return -EINVAL;
		}
		memcpy(a, s, hn);
		a[hn] = '\0';
		if (inet_pton(AF_INET6, a, &a6) != 1) {
			*why = "not a numeric IPv6 address";
			return -EINVAL;
		}
	} else if (!slc_addr_host_name_ok(s, hn)) {
		*why = "HOST is not a host name, an IPv4 address or an [IPv6] address";
		return -EINVAL;
	}
	if (hn >= host_cap) {
		*why = "too long";
		return -ENOSPC;
	}
	memcpy(host, s, hn);
	host[hn] = '\0';
	return 0;
}

int
slc_addr_resolve(const char *host, uint16_t port, int socktype, bool numeric_only,
                 struct addrinfo **res, const char **why)
{
	struct addrinfo hints;
	char serv[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = socktype;
	hints.ai_protocol = socktype == SOCK_STREAM  ? IPPROTO_TCP
	                    : socktype == SOCK_DGRAM ? IPPROTO_UDP
	                                             : 0;
	hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : 0);
	if (strchr(host, ':') != NULL) {
		/* Only an IPv6 address has a colon; a name server must never see it. */
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	}
	snprintf(serv, sizeof(serv), "%u", (unsigned)port);
	*res = NULL;
	rc = getaddrinfo(host, serv, &hints, res);
	if (rc == 0)
		return 0;
	*res = NULL;
	switch (rc) {
	case EAI_AGAIN:
		*why = gai_strerror(rc);
		return -EAGAIN;
	case EAI_MEMORY:
		*why = gai_strerror(rc);
		return -ENOMEM;
	case EAI_SYSTEM:
		rc = errno != 0 ? -errno : -EIO;
		*why = strerror(-rc);
		return rc;
	default:
		/* EAI_NONAME, EAI_NODATA, EAI_FAIL, EAI_ADDRFAMILY: no address to use. */
		*why = gai_strerror(rc);
		return -EINVAL;
	}
}

int
slc_addr_format(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	int n;

	if (cap > 1) {
		out[0] = '?';
		out[1] = '\0';
	}
	if (sa->sa_family == AF_INET) {
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
	} else if (sa->sa_family == AF_INET6) {
		if (len < sizeof(struct sockaddr_in6))
			return -EINVAL;
	} else {
		return -EAFNOSUPPORT;
	}
	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
	                NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return -EINVAL; /* numeric: fails only on a malformed address */
	n = snprintf(out, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 1) {
			out[0] = '?';
			out[1] = '\0';
		}
		return -ENOSPC;
	}
	return 0;
}

int
slc_addr_join(const char *host, uint16_t port, char *out, size_t cap)
{
	bool v6 = strchr(host, ':') != NULL;
	int n = snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : 0;
}
