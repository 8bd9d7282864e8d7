#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_forward.sh: Fluent Forward (framing=forward) entries/s against lines, same run.
#
#   perf/bench_forward.sh [--build DIR] [--runs N] [--duration S] [--connections C]
#                         [--size B] [--sluiced-flags FLAGS] [--csv]
#   perf/bench_forward.sh --runs 3 --csv > forward.csv
#   perf/bench_forward.sh --runs 1 --duration 3          (a quick try)
#
# Each run starts sluiced once per configuration, with the same flags but for the listener's
# framing and the sink, and sends it for --duration s (default 4, at least 3) over
# --connections TCP connections (default 4) with sluice-bench, as fast as it takes them,
# messages of --size bytes as delivered (default 100):
#   lines_null     framing=lines, null sink: 100-byte lines, the baseline
#   forward_null   framing=forward, null sink: sluice-bench --protocol forward, PackedForward
#                  batches of 64 KiB, each entry [EventTime, {"log": stamp}] of --size bytes
#                  (its time and record: what sluiced delivers)
#   forward_file   the same into the file sink (--fsync interval, a fresh DIR): no chunk
#                  option, so sluiced acknowledges nothing (it still makes every entry
#                  durable before releasing it: a forward listener is acknowledged delivery)
#   forward_acked  the same with sluice-bench --forward-chunk: each batch carries a chunk,
#                  and its connection sends the next batch once {"ack": chunk} came, which
#                  sluiced sends once a sync covered every entry of the batch
# msgs_per_s is what sluiced processed (sluice_worker_processed_total over --metrics:
# sluice-bench waits for it), entries for the forward rows. The configurations alternate
# (their order turns by one each run), so a machine slowing down or speeding up favours none.
# ratio is the median over the runs of the row's msgs_per_s over its baseline's of the same
# run: lines_null for the null and file rows, forward_file for forward_acked (the target
# of issue 19: >= 0.8).
#
# --csv columns: config, runs, connections, size, seconds, msgs_per_s, baseline, ratio.
# Progress on stderr. Exit status: 0, or 1 when a run failed.
set -u

build=build/release runs=3 duration=4 conns=4 size=100 csv=0 sflags=""
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--runs) runs=$2; shift ;;
	--duration) duration=$2; shift ;;
	--connections) conns=$2; shift ;;
	--size) size=$2; shift ;;
	--sluiced-flags) sflags=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_forward: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
# shellcheck source=perf/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
bl_setup bench_forward "$build" "$duration" || exit 1
trap bl_cleanup EXIT

configs="lines_null forward_null forward_file forward_acked"
base() { [ "$1" = forward_acked ] && echo forward_file || echo lines_null; }

# One configuration: sluiced, sluice-bench against it; "msgs_per_s seconds" on stdout.
one() {
	local kind=$1 framing=forward sink=null proto=forward hdr line i s args=()
	[ "$kind" = lines_null ] && framing=lines proto=framed
	[ "$kind" = forward_acked ] && args=(--forward-chunk)
	if [ "$kind" = forward_file ] || [ "$kind" = forward_acked ]; then
		rm -rf "$work/dir" && mkdir "$work/dir"
		sink="file:$work/dir"
	fi
	# shellcheck disable=SC2086
	bl_start bench_forward --listen "tcp://127.0.0.1:0?framing=$framing" \
		--metrics 127.0.0.1:0 --sink "$sink" $sflags || return 1
	out=$("$bench" --protocol "$proto" "${args[@]}" --target "tcp://127.0.0.1:$port" \
		--metrics "http://127.0.0.1:$mport" --connections "$conns" --size "$size" \
		--duration "$duration" --csv)
	local rc=$?
	bl_stop || rc=1
	[ $rc -eq 0 ] || return 1
	hdr=$(echo "$out" | head -1) line=$(echo "$out" | tail -1)
	i=$(echo "$hdr" | tr ',' '\n' | grep -nx processed_msgs_per_s | cut -d: -f1)
	s=$(echo "$hdr" | tr ',' '\n' | grep -nx seconds | cut -d: -f1)
	echo "$(echo "$line" | cut -d, -f"$i") $(echo "$line" | cut -d, -f"$s")"
}

fail=0
for c in $configs; do : >"$work/$c" && : >"$work/$c.ratio"; done
for r in $(seq "$runs"); do
	# Turn the order by one each run.
	# shellcheck disable=SC2086
	set -- $configs
	for _ in $(seq $(((r - 1) % 4))); do set -- "$2" "$3" "$4" "$1"; done
	declare -A got=()
	for kind in "$@"; do
		echo "bench_forward: run $r/$runs: $kind" >&2
		if ! res=$(one "$kind"); then
			echo "bench_forward: run $r: $kind failed" >&2
			fail=1
			continue
		fi
		echo "$res" >>"$work/$kind"
		got[$kind]=${res%% *}
		echo "bench_forward: run $r: $kind ${got[$kind]} msgs/s" >&2
	done
	for kind in $configs; do
		b=$(base "$kind")
		if [ -n "${got[$b]:-}" ] && [ -n "${got[$kind]:-}" ]; then
			awk -v a="${got[$kind]}" -v u="${got[$b]}" \
				'BEGIN { if (u > 0) printf "%.3f\n", a / u }' >>"$work/$kind.ratio"
		fi
	done
	unset got
done

m() { awk -v c="$2" '{ print $c }' "$1" | median; }
[ "$csv" = 1 ] && echo "config,runs,connections,size,seconds,msgs_per_s,baseline,ratio" ||
	printf '%-13s %5s %12s %-12s %7s\n' config runs msgs/s baseline ratio
for kind in $configs; do
	n=$(wc -l <"$work/$kind")
	if [ "$csv" = 1 ]; then
		echo "$kind,$n,$conns,$size,$(m "$work/$kind" 2),$(m "$work/$kind" 1),$(base "$kind"),$(median <"$work/$kind.ratio")"
	else
		printf '%-13s %5s %12s %-12s %7s\n' "$kind" "$n" "$(m "$work/$kind" 1)" \
			"$(base "$kind")" "$(median <"$work/$kind.ratio")"
	fi
done
exit $fail
