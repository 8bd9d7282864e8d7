/* SPDX-License-Identifier: MIT */
/* server.h: the HTTP endpoint: /metrics, /healthz, /readyz, the status page (libmicrohttpd). */
#ifndef SLC_ENGINE_METRICS_SERVER_H
#define SLC_ENGINE_METRICS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/log.h"
#include "expo.h"
#include "text.h"

/*
 * Writes the whole exposition into b. Runs on the server's thread, one render at a time,
 * while the rest of the daemon keeps running: it may only read atomics and published
 * snapshots, never take a lock a reactor or worker holds, never block. Returns 0 or -errno
 * (the scrape then gets a 500 and the server logs the error).
 */
typedef int (*slc_metrics_render_fn)(void *ctx, struct slc_metrics_buf *b);

/*
 * A check behind /healthz or /readyz, on the server's thread under the same rules as a
 * render. true: 200 "ok". false: 503 with why (written into why, cap bytes, NUL-terminated)
 * as the body, a line.
 */
typedef bool (*slc_metrics_check_fn)(void *ctx, char *why, size_t cap);

/*
 * An action behind a POST (/-/reload), on the server's thread: it may block the server for
 * as long as it runs, never a reactor or worker. Writes what it did or why it refused into
 * msg (cap bytes, NUL-terminated, lines). Returns 0 (200), -EINVAL (400: the request or
 * what it names is wrong) or another -errno (500); msg is the body either way.
 */
typedef int (*slc_metrics_action_fn)(void *ctx, char *msg, size_t cap);

/* What a status callback writes: the page (GET / and /status) or its data (/status.json). */
enum slc_metrics_status_format {
	SLC_METRICS_STATUS_HTML,
	SLC_METRICS_STATUS_JSON,
};

/*
 * Writes the status page or its JSON into t, under the same rules as a render (the
 * server's thread, one at a time, never a lock a reactor or worker holds). The page is
 * the caller's whole: the server knows nothing of what it shows. Returns 0 or -errno (the
 * request then gets a 500 and the server logs the error).
 */
typedef int (*slc_metrics_status_fn)(void *ctx, enum slc_metrics_status_format fmt,
                                     struct slc_metrics_text *t);

struct slc_metrics_server;

struct slc_metrics_server_cfg {
	const struct sockaddr *addr; /* IPv4 or IPv6, numeric; port 0: the kernel picks */
	socklen_t addrlen;
	slc_metrics_render_fn render;
	void *render_ctx;             /* also the checks' */
	slc_metrics_check_fn health;  /* /healthz; NULL: always ok */
	slc_metrics_check_fn ready;   /* /readyz; NULL: always ok */
	slc_metrics_action_fn reload; /* POST /-/reload, from loopback only; NULL: 404 */
	slc_metrics_status_fn status; /* GET /, /status, /status.json; NULL: 404 */
	/* Rate-limited lines (SLC_LOG_ERROR, SLC_LOG_WARN); NULL: slc_log_stderr. Called
	 * from the server's thread, and from the caller's during start. */
	slc_log_fn log;
	void *log_ctx;
};

/* Most connections at once; the next ones wait in the listen backlog. */
#define SLC_METRICS_CONN_MAX 16u
/* A connection idle this long is closed: a slow client cannot hold a slot for longer. */
#define SLC_METRICS_CONN_TIMEOUT_S 5u

/*
 * The HTTP endpoint, served by libmicrohttpd from one thread of its own:
 *   GET or HEAD /metrics  200, text/plain; version=0.0.4; charset=utf-8, the render output
 *   GET or HEAD /healthz  200, "ok\n", or 503 and the reason cfg->health gives
 *   GET or HEAD /readyz   200, "ok\n", or 503 and the reason cfg->ready gives
 *   GET or HEAD / and /status
 *                         200, text/html; charset=utf-8, cfg->status's page, with a
 *                         Content-Security-Policy that lets it fetch from this endpoint
 *                         alone (no external resource can load) and Cache-Control: no-store
 *   GET or HEAD /status.json
 *                         200, application/json, cfg->status's data (no-store too)
 *                         (all three 404 without cfg->status)
 *   POST /-/reload        cfg->reload's answer (200, 400 or 500, its text), when the
 *                         client's address is loopback (127.0.0.0/8, ::1, ::ffff:127.x);
 *                         from any other address 403, counted and logged; without
 *                         cfg->reload 404
 *   other paths           404
 *   other methods         405, with "Allow: GET, HEAD" ("Allow: POST" for /-/reload)
 *   render failed         500 (status render failed: 500, and counted in
 *                         sluice_metrics_status_errors_total)
 * After the render's families the server writes its own, sluice_metrics_refused_total
 * (reason fd_limit, no_slot) and sluice_metrics_forbidden_total (POSTs from outside
 * loopback). Out of file descriptors, it closes each waiting client at
 * once on a descriptor it keeps in reserve, counts it and logs it (a line at most every
 * 10 s), rather than leaving it in the backlog and its thread polling a readable socket.
 * The listening socket is bound to exactly cfg->addr (nothing else when it is loopback) and
 * is listening when this returns. Returns NULL with *err: -EINVAL (no address, not IPv4 or
 * IPv6, addrlen too short, render NULL), -EADDRINUSE, -EADDRNOTAVAIL, -EACCES and other
 * errors of socket/bind/listen, -ENOMEM, or the error libmicrohttpd left when it could not
 * start (-EIO when it left none; its log line says why), or the error of eventfd(),
 * open("/dev/null") or pthread_create().
 */
struct slc_metrics_server *slc_metrics_server_create(const struct slc_metrics_server_cfg *cfg,
                                                     int *err);

/*
 * The same from "ADDR:PORT" (a numeric IPv4 address, or a numeric IPv6 address in [ ]:
 * "127.0.0.1:9140", "[::1]:0", "0.0.0.0:9140"; slc_addr_parse, as --metrics), logging to
 * stderr. *err as above; -EINVAL also for a string that is not of that form (a host name,
 * no port, a port above 65535 or of more than 5 digits).
 */
struct slc_metrics_server *
slc_metrics_server_start(const char *addr_port, slc_metrics_render_fn render, void *ctx, int *err);

/* Whether sa is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped 127.0.0.0/8): what
 * POST /-/reload asks of its client. */
bool slc_metrics_addr_is_loopback(const struct sockaddr *sa);

/* The bound port (the kernel's choice when the address said 0). */
uint16_t slc_metrics_server_port(const struct slc_metrics_server *s);

/* Stops serving (waits for a render in progress to finish), closes every connection and the
 * listening socket. Accepts NULL. */
void slc_metrics_server_stop(struct slc_metrics_server *s);

#endif /* SLC_ENGINE_METRICS_SERVER_H */
