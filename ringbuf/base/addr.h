/* SPDX-License-Identifier: MIT */
/* base/addr.h: HOST:PORT and [IPv6]:PORT parsing, port parsing, resolving, sockaddr text. */
#ifndef SLC_BASE_ADDR_H
#define SLC_BASE_ADDR_H

#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * The forms sluice accepts, and where:
 *
 *   ADDR:PORT        slc_addr_parse      --listen, --metrics: a numeric IPv4 address, or a
 *                                        numeric IPv6 address in [ ]; PORT 0..65535 (0: any
 *                                        free port). Numeric only: a listener binds before any
 *                                        resolver is worth trusting, and a name that resolves
 *                                        to several addresses would make "where does it
 *                                        listen" ambiguous.
 *   HOST:PORT        slc_addr_split      forward:HOST:PORT: HOST a host name (letters, digits,
 *                    (port required)     '-', '.'), a numeric IPv4 address or [IPv6]; PORT
 *                                        1..65535. Resolved later, slc_addr_resolve.
 *   HOST[:PORT]      slc_addr_split      a Kafka broker: the same, PORT optional (0 when
 *                    (port optional)     absent: the client's default).
 *
 * Refused everywhere: ":PORT" and "PORT" (no address: say 0.0.0.0 or [::]), an IPv6
 * address without [ ], a port with a sign, spaces or more than 5 digits. The `why` strings
 * are static, short, and name what is wrong ("no :PORT after the address"); the caller
 * says what it parsed and what it allows.
 *
 * Text out: slc_addr_format gives "a.b.c.d:port" or "[v6]:port" for any sockaddr_in or
 * sockaddr_in6 (getnameinfo, numeric: it never asks a name server), and slc_addr_join
 * the same for a host name or address given as text.
 */

/* The longest host name (a DNS name's text form); IPv6 text is shorter. */
#define SLC_ADDR_HOST_MAX 253
/* Room for slc_addr_format's and slc_addr_join's text and its NUL: "[" host "]:65535". */
#define SLC_ADDR_STR_MAX (SLC_ADDR_HOST_MAX + sizeof("[]:65535"))
/* Room for slc_addr_format's text of any sockaddr_in or sockaddr_in6 and its NUL, the
 * scope of a link-local IPv6 address included ("[fe80::1%eth0]:65535"): what a struct
 * kept per connection holds, where SLC_ADDR_STR_MAX would be mostly unused. */
#define SLC_ADDR_SA_STR_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + sizeof("[]:65535"))

/*
 * Decimal port of exactly s[0..n): 1 to 5 digits, nothing else. min is 0 where port 0
 * means "any free port" (listen), 1 where a peer's port is meant.
 * Returns 0 (*port set), -EINVAL (empty, not digits, more than 5 digits) or -ERANGE (a
 * number below min or above 65535).
 */
int slc_addr_port_parse(const char *s, size_t n, uint16_t min, uint16_t *port);

/* A host name, or an IPv4 address, as far as syntax goes: 1..SLC_ADDR_HOST_MAX letters,
 * digits, '-' and '.'. No name server or parser of a library sees anything else. */
bool slc_addr_host_name_ok(const char *s, size_t n);

/*
 * "ADDR:PORT" in s[0..n) (see the top of this file) to *ss and *sslen. ss is zeroed first;
 * a v6 address gets no flow info or scope id.
 * Returns 0, or -EINVAL with *why one of: "no ] after the IPv6 address", "no :PORT after
 * the address", "an IPv6 address goes in [ ]", "the port is not a number in 0..65535",
 * "not a numeric IPv4 address", "not a numeric IPv6 address".
 */
int slc_addr_parse(const char *s, size_t n, struct sockaddr_storage *ss, socklen_t *sslen,
                   const char **why);

/*
 * "HOST:PORT" (port_optional false) or "HOST[:PORT]" (true) in s[0..n) to host (the name or
 * address, without the [ ] of an IPv6 one; NUL-terminated) and *port (0 if absent).
 * host_cap: SLC_ADDR_HOST_MAX + 1 holds any accepted HOST.
 * Returns 0, -EINVAL with *why one of: "no :PORT in 1..65535 at the end", "no ] after the
 * IPv6 address" (port_optional only: otherwise the last ':' ends HOST, and HOST is not one),
 * "not a numeric IPv6 address", "HOST is not a host name, an IPv4 address or an [IPv6]
 * address"; or -ENOSPC (*why "too long") when HOST does not fit host_cap.
 */
int slc_addr_split(const char *s, size_t n, bool port_optional, char *host, size_t host_cap,
                   uint16_t *port, const char **why);

/*
 * getaddrinfo() of host (as slc_addr_split gives it) and port for socktype (SOCK_STREAM:
 * TCP, SOCK_DGRAM: UDP), every family. A host with a ':' is an IPv6 address and never goes
 * to a name server; numeric_only refuses any name. *res is the list to try in order; free
 * it with freeaddrinfo().
 * Returns 0, or (*why getaddrinfo's or the system's reason, static):
 *   -EAGAIN  the name server did not answer (EAI_AGAIN): try again later;
 *   -ENOMEM  out of memory;
 *   -EINVAL  no address: the name does not exist or has none of the family (EAI_NONAME,
 *            EAI_NODATA, EAI_FAIL, EAI_ADDRFAMILY), or numeric_only and a name;
 *   -errno   a system error (EAI_SYSTEM; -EIO where errno says nothing).
 */
int slc_addr_resolve(const char *host, uint16_t port, int socktype, bool numeric_only,
                     struct addrinfo **res, const char **why);

/*
 * "a.b.c.d:port" or "[v6]:port" of sa (len bytes), NUL-terminated in out[cap]; cap
 * SLC_ADDR_SA_STR_MAX (or SLC_ADDR_STR_MAX) always suffices. A link-local IPv6 address
 * keeps its scope ("[fe80::1%eth0]:80"). On failure out holds "?" (when cap > 1), for the
 * log line that prints it anyway.
 * Returns 0, -EAFNOSUPPORT (neither AF_INET nor AF_INET6), -EINVAL (len shorter than the
 * family's sockaddr) or -ENOSPC (cap too small).
 */
int slc_addr_format(const struct sockaddr *sa, socklen_t len, char *out, size_t cap);

/*
 * "host:port", or "[host]:port" where host holds a ':' (an IPv6 address), in out[cap].
 * Returns 0, or -ENOSPC (cut short; cap SLC_ADDR_STR_MAX suffices for any host that
 * slc_addr_split accepts).
 */
int slc_addr_join(const char *host, uint16_t port, char *out, size_t cap);

#endif /* SLC_BASE_ADDR_H */
