#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_conns.sh: 100,000 idle TCP connections into sluiced (issue 20): resident bytes per
# connection, a client's rate meanwhile against none, and every connection back after.
#
#   perf/bench_conns.sh [--build DIR] [bench_conns options...]
#   perf/bench_conns.sh --csv                      (100,000 connections)
#   perf/bench_conns.sh --conns 10000,100000 --csv
#
# Runs DIR/perf/bench_conns (default build/release) against DIR/engine/sluiced; the
# columns are explained at the top of perf/bench_conns.c. Needs an RLIMIT_NOFILE that may
# be raised to the count + 1024 (root, or a hard limit that high) and some 2 GiB of
# kernel memory for 100,000 connections' two ends.
set -eu
build="$(dirname "$0")/../build/release"
if [ "${1:-}" = "--build" ]; then
	build=$2
	shift 2
fi
has_conns=0
for a in "$@"; do
	case $a in --conns | --conns=*) has_conns=1 ;; esac
done
if [ $has_conns = 0 ]; then
	set -- --conns 100000 "$@"
fi
exec "$build/perf/bench_conns" --sluiced "$build/engine/sluiced" "$@"
