#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_otlp.sh: OTLP/HTTP protobuf log records against plain lines of the same records, same run.
#
#   perf/bench_otlp.sh [--build DIR] [--runs N] [--duration S] [--connections C]
#                      [--size B] [--batch N] [--sluiced-flags FLAGS] [--csv]
#   perf/bench_otlp.sh --runs 3 --csv > otlp.csv
#   perf/bench_otlp.sh --runs 1 --duration 3          (a quick try)
#
# Each run starts one sluiced --sink null with two listeners, tcp:// (lines) and http://
# (OTLP/HTTP logs), and sends it the same records, --size bytes each (default 100: the
# stamped message of sluice-bench), over --connections connections (default 4) for
# --duration s (default 4, at least 3), as fast as it takes them, with sluice-bench:
#   lines  --framing lines: each record a line
#   otlp   --protocol otlp: POST /v1/logs, protobuf, --batch records a request (default
#          512), keep-alive, each connection with a request in flight
# msgs_per_s is what sluiced processed (its sluice_worker_processed_total over --metrics:
# sluice-bench waits for it), records per second, the sender on the same machine. The two
# alternate within a run (lines first on odd runs, otlp first on even ones), so a machine
# slowing down or speeding up favours neither. ratio (otlp row) is the median over the
# runs of otlp / lines of the same run; seconds and msgs_per_s are medians over the runs.
#
# --csv columns: config, runs, connections, size, batch, seconds, msgs_per_s, ratio.
# Progress on stderr. Exit status: 0, or 1 when a run failed.
set -u

build=build/release runs=3 duration=4 conns=4 size=100 batch=512 csv=0 sflags=""
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--runs) runs=$2; shift ;;
	--duration) duration=$2; shift ;;
	--connections) conns=$2; shift ;;
	--size) size=$2; shift ;;
	--batch) batch=$2; shift ;;
	--sluiced-flags) sflags=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_otlp: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
# shellcheck source=perf/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
bl_setup bench_otlp "$build" "$duration" || exit 1
trap bl_cleanup EXIT

# One configuration against the running sluiced: its processed records/s on stdout.
one() {
	local kind=$1 args=() out hdr line i
	if [ "$kind" = otlp ]; then
		args=(--protocol otlp --target "http://127.0.0.1:$hport" --batch "$batch")
	else
		args=(--framing lines --target "tcp://127.0.0.1:$port")
	fi
	out=$("$bench" "${args[@]}" --metrics "http://127.0.0.1:$mport" --connections "$conns" \
		--size "$size" --duration "$duration" --csv) || return 1
	hdr=$(echo "$out" | head -1) line=$(echo "$out" | tail -1)
	for name in processed_msgs_per_s seconds; do
		i=$(echo "$hdr" | tr ',' '\n' | grep -nx "$name" | cut -d: -f1)
		printf '%s ' "$(echo "$line" | cut -d, -f"$i")"
	done
	echo
}

fail=0
: >"$work/lines" && : >"$work/otlp" && : >"$work/ratio"
for r in $(seq "$runs"); do
	order="lines otlp"
	[ $((r % 2)) -eq 0 ] && order="otlp lines"
	# shellcheck disable=SC2086
	if ! bl_start bench_otlp --listen tcp://127.0.0.1:0 --listen http://127.0.0.1:0 \
		--metrics 127.0.0.1:0 --sink null $sflags; then
		fail=1
		continue
	fi
	hport=$(sed -n 's/.*listening on .*http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log")
	l="" o=""
	for kind in $order; do
		echo "bench_otlp: run $r/$runs: $kind" >&2
		if ! v=$(one "$kind"); then
			echo "bench_otlp: run $r: $kind failed" >&2
			fail=1
			continue
		fi
		echo "$v" >>"$work/$kind"
		if [ "$kind" = otlp ]; then o=${v%% *}; else l=${v%% *}; fi
	done
	bl_stop || fail=1
	if [ -n "$l" ] && [ -n "$o" ]; then
		awk -v o="$o" -v l="$l" 'BEGIN { if (l > 0) printf "%.3f\n", o / l }' >>"$work/ratio"
	fi
	echo "bench_otlp: run $r: lines ${l:-?} records/s, otlp ${o:-?} records/s" >&2
done

m() { awk -v c="$2" '{ print $c }' "$1" | median; }
nl=$(wc -l <"$work/lines") no=$(wc -l <"$work/otlp")
if [ "$csv" = 1 ]; then
	echo "config,runs,connections,size,batch,seconds,msgs_per_s,ratio"
	echo "lines,$nl,$conns,$size,,$(m "$work/lines" 2),$(m "$work/lines" 1),"
	echo "otlp,$no,$conns,$size,$batch,$(m "$work/otlp" 2),$(m "$work/otlp" 1),$(median <"$work/ratio")"
else
	printf '%-6s %5s %14s %7s\n' config runs records/s ratio
	printf '%-6s %5s %14s\n' lines "$nl" "$(m "$work/lines" 1)"
	printf '%-6s %5s %14s %7s\n' otlp "$no" "$(m "$work/otlp" 1)" "$(median <"$work/ratio")"
fi
exit $fail
