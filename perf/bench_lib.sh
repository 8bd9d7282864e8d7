#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_lib.sh: what the perf scripts that start sluiced share (bench_acks.sh, bench_disk.sh,
# bench_forward.sh, bench_otlp.sh, bench_tls.sh); sourced, not run.
#
# They set $sluiced, $bench and $work (a scratch directory, removed at exit), then call
#   bl_start NAME ARGS...  sluiced ARGS in the background, its stderr in $work/log, waiting
#                          up to 60 s for "ready:" (a loaded machine starts slowly); sets
#                          $pid, $port (the first listener's) and $mport (the metrics port,
#                          when --metrics was given); 1 (the log on stderr, sluiced
#                          stopped) when it does not get there
#   bl_stop                SIGTERM to sluiced and its exit status (its drain completes)
#   median                 the median of the numbers on stdin, one a line
#   col NAME LINE          the column NAME of the CSV row LINE, by the header in $hdr
# and trap bl_cleanup on EXIT.

pid=""

# bl_setup NAME BUILD DURATION, called first: refuses a DURATION under 3 s,
# sets $sluiced and $bench from BUILD (each must exist) and makes $work; 1 (said on
# stderr) when it cannot.
bl_setup() {
	local name=$1 build=$2 duration=$3 p
	if [ "${duration%.*}" -lt 3 ] 2>/dev/null; then
		echo "$name: --duration is at least 3 (every timed run lasts 3 s)" >&2
		return 1
	fi
	sluiced=$build/engine/sluiced bench=$build/perf/sluice-bench
	for p in "$sluiced" "$bench"; do
		[ -x "$p" ] || { echo "$name: $p missing: build the release preset first" >&2; return 1; }
	done
	work=$(mktemp -d "${TMPDIR:-/tmp}/$name-XXXXXX") || return 1
}

bl_cleanup() {
	# The pid in a file too: a caller's command substitution runs bl_start in a subshell,
	# whose $pid this shell never sees.
	[ -z "$pid" ] && [ -f "$work/pid" ] && pid=$(cat "$work/pid")
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}

bl_start() {
	local name=$1
	shift
	# stdout away from the caller's: a command substitution would wait for sluiced.
	"$sluiced" "$@" >/dev/null 2>"$work/log" &
	pid=$!
	echo "$pid" >"$work/pid"
	for _ in $(seq 1200); do
		grep -q "ready:" "$work/log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	port=$(sed -n 's/.*listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | head -1)
	mport=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$work/log" | head -1)
	if [ -z "$port" ] || ! grep -q "ready:" "$work/log"; then
		echo "$name: sluiced did not start:" >&2
		cat "$work/log" >&2
		bl_stop
		return 1
	fi
}

bl_stop() {
	local rc=0
	kill "$pid" 2>/dev/null && wait "$pid"
	rc=$?
	pid=""
	rm -f "$work/pid"
	return $rc
}

median() {
	sort -g | awk '{ v[NR] = $1 }
		END { if (NR) printf "%.10g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

col() {
	local name=$1 line=$2 i
	i=$(echo "$hdr" | tr ',' '\n' | grep -nx "$name" | cut -d: -f1)
	echo "$line" | cut -d, -f"$i"
}
