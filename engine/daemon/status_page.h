/* SPDX-License-Identifier: MIT */
/* status_page.h: the status page's fixed parts: its style, and the script that refreshes it. */
#ifndef SLC_ENGINE_DAEMON_STATUS_PAGE_H
#define SLC_ENGINE_DAEMON_STATUS_PAGE_H

/*
 * status.c writes head, the first view (tables with the ids the script fills: summary,
 * totals, listeners, pools, drops), then tail, which holds the sections only the script
 * fills and the script itself: every second it fetches status.json (relative, so the page
 * works behind a path prefix) and redraws every table, and keeps the last 120 samples of
 * each pool's water level and weight and of the rates for its small charts. Without
 * JavaScript the first view stays as the server wrote it.
 */
extern const char slc_daemon_status_page_head[];
extern const char slc_daemon_status_page_tail[];

#endif /* SLC_ENGINE_DAEMON_STATUS_PAGE_H */
