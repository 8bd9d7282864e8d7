/* SPDX-License-Identifier: MIT */
/* daemon.h: sluiced assembled: reactors, routers, pools, sink, controller, metrics. */
#ifndef SLC_ENGINE_DAEMON_DAEMON_H
#define SLC_ENGINE_DAEMON_DAEMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "cfg.h"

/*
 *   create  -> topology and plan, sink, pools, route table, routers, reactors (listening
 *              sockets bound: clients may connect), controller, metrics endpoint
 *   start   -> worker, reactor and controller threads run; "ready" is logged
 *   reload  -> (SIGHUP, POST /-/reload) the flags and --config read again; the live ones
 *              applied, the others named as needing a restart
 *   reopen  -> (SIGHUP) every worker reopens its sink's files before its next write
 *   stop    -> reactors stop accepting and receiving and deliver what they hold; workers
 *              finish every accepted message through the sink; sinks flush (fsync) and
 *              close; the totals are logged. Bounded by --drain-timeout.
 *   destroy
 */

struct slc_daemon;

/* Log lines go to stderr as "sluiced: LEVEL: text"; lines above the level are dropped. */
void slc_daemon_log_level_set(enum slc_cfg_log_level level);
void slc_daemon_log(enum slc_cfg_log_level level, const char *fmt, ...) SLC_PRINTF(2, 3);

/* --print-topology: the placement plan for c, on out. 0, or -errno after logging why. */
int slc_daemon_print_topology(const struct slc_cfg *c, FILE *out);

/* NULL with *err (-errno) after logging the reason. */
struct slc_daemon *slc_daemon_create(const struct slc_cfg *c, int *err);
/*
 * Starts the workers (each opens its sink on its own thread, and start waits for all),
 * then the reactors, then the controller. 0, or -errno after logging why in one error line
 * and undoing what had started: no thread of the daemon runs then, the sinks that opened
 * are closed, and the caller destroys the daemon. Errors: those of pthread_create
 * (workers, reactor, controller), -EIO when a worker's sink did not open, -ETIMEDOUT when
 * some did not within 10 s.
 */
int slc_daemon_start(struct slc_daemon *d);
void slc_daemon_reopen(struct slc_daemon *d);
/* 0 when everything accepted was delivered, -ETIMEDOUT when --drain-timeout cut it short
 * (what was lost is logged and counted). Safe to call twice. */
int slc_daemon_stop(struct slc_daemon *d);
void slc_daemon_destroy(struct slc_daemon *d);

/* The port listener i (in --listen order) is bound to; the metrics endpoint's port (0: off). */
uint16_t slc_daemon_listener_port(const struct slc_daemon *d, uint32_t i);
uint16_t slc_daemon_metrics_port(const struct slc_daemon *d);

/* Runs the daemon until SIGTERM or SIGINT (SIGHUP reopens): the body of main(). Returns
 * the exit status. */
int slc_daemon_run(const struct slc_cfg *c);

/* The same, and SIGHUP also reloads (slc_daemon_reload) from argc, argv: what c was
 * parsed from, which must outlive the call (main's). */
int slc_daemon_run_argv(const struct slc_cfg *c, int argc, char **argv);

/* Keeps argc, argv (main's, which outlive d) for slc_daemon_reload. */
void slc_daemon_reload_args(struct slc_daemon *d, int argc, char **argv);

/*
 * Parses the kept command line again (which reads the --config file again) and applies
 * what may change live: --log-level and the controller's parameters but --controller;
 * every other flag that changed is logged as needing a restart and counted
 * (sluice_config_reload_restart_required_total). A configuration that does not parse
 * changes nothing: its problems are logged. Writes what it did into msg (cap bytes,
 * lines; cap may be 0). From any thread; one at a time. Returns 0; -EINVAL (the
 * configuration was refused: the running one stays), -ENOTSUP (no command line kept),
 * -ENOMEM.
 */
int slc_daemon_reload(struct slc_daemon *d, char *msg, size_t cap);

#endif /* SLC_ENGINE_DAEMON_DAEMON_H */
