#!/bin/sh
# SPDX-License-Identifier: MIT
# main_job.sh: the README's main job: sluiced (null sink) on loopback, fed by sluice-bench
# for about ten seconds; prints sluice-bench's report and sluiced's own totals.
#
#   perf/main_job.sh [BUILD_DIR] [extra sluice-bench flags...]
set -eu

build=${1:-build/release}
[ $# -gt 0 ] && shift
log=$(mktemp /tmp/sluiced-main-job.XXXXXX)
trap 'kill -TERM "$pid" 2>/dev/null || true; rm -f "$log"' EXIT INT TERM

"$build/engine/sluiced" --listen tcp://127.0.0.1:0 --metrics 127.0.0.1:0 --sink null \
	--latency-stamps start 2>"$log" &
pid=$!
i=0
until grep -q "ready:" "$log"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "main_job: sluiced did not start:" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.1
done
port=$(sed -n 's/.*listening on tcp:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log")
mport=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$log")
echo "sluiced is listening on 127.0.0.1:$port (metrics on $mport); sluice-bench sends for 10 s"
"$build/perf/sluice-bench" --target "tcp://127.0.0.1:$port" --connections 4 --size 100 \
	--duration 10 --metrics "http://127.0.0.1:$mport" "$@"
kill -TERM "$pid"
wait "$pid"
grep -E "stopped after" "$log"
trap - EXIT INT TERM
rm -f "$log"
