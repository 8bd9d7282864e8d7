/* SPDX-License-Identifier: MIT */
/* common.c: what the sinks share (common.h). */
#include "common.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool
slc_sink_host_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

bool
slc_sink_ipv6_ok(const char *s, size_t n)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;

	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	return inet_pton(AF_INET6, host, &a6) == 1;
}

bool
slc_sink_port_ok(const char *p, size_t n, uint16_t *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	if (port != NULL)
		*port = (uint16_t)v;
	return true;
}
