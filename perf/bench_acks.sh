#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_acks.sh: the file sink's acknowledged throughput against its unacknowledged, same run.
#
#   perf/bench_acks.sh [--build DIR] [--runs N] [--duration S] [--connections C]
#                      [--size B] [--fsync MODE] [--ack-window W] [--sluiced-flags FLAGS] [--csv]
#   perf/bench_acks.sh --runs 3 --csv > acks.csv
#   perf/bench_acks.sh --runs 1 --duration 3          (a quick try)
#
# Each run starts sluiced --sink file:DIR (a fresh DIR each time, under $TMPDIR or /tmp)
# twice, with the same flags but for the listener's framing, and sends it --size-byte
# messages (default 100) over --connections TCP connections (default 4) for --duration s
# (default 4, at least 3) with sluice-bench, as fast as it takes them:
#   unacked  framing len32; msgs_per_s is what sluiced processed (its
#            sluice_worker_processed_total over --metrics: sluice-bench waits for it)
#   acked    framing len32+ack (sluice-bench --acks); msgs_per_s is the frames
#            acknowledged per second, each acknowledged only once the file sink made it
#            durable (an fdatasync covered it), whatever --fsync says
# The two alternate within a run (unacked first on odd runs, acked first on even ones), so
# a machine slowing down or speeding up favours neither. ratio (acked row) is the median
# over the runs of acked / unacked of the same run: the target of issue 16 is >= 0.8.
# The acked row's latencies are sluice-bench's: every frame's, from its formatting to the
# acknowledgement that covered it (p50, p99, p99.9 in µs; the median over the runs).
#
# --csv columns: config, runs, connections, size, fsync, seconds, msgs_per_s, p50_us,
# p99_us, p999_us, ratio. Progress on stderr. Exit status: 0, or 1 when a run failed.
set -u

build=build/release runs=3 duration=4 conns=4 size=100 fsync=interval window="" csv=0
sflags=""
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--runs) runs=$2; shift ;;
	--duration) duration=$2; shift ;;
	--connections) conns=$2; shift ;;
	--size) size=$2; shift ;;
	--fsync) fsync=$2; shift ;;
	--ack-window) window=$2; shift ;;
	--sluiced-flags) sflags=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_acks: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
# shellcheck source=perf/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
bl_setup bench_acks "$build" "$duration" || exit 1
trap bl_cleanup EXIT

# One configuration: sluiced on a fresh DIR, sluice-bench against it; its CSV row on stdout.
one() {
	local kind=$1 framing=len32 args=()
	[ "$kind" = acked ] && framing=len32+ack
	rm -rf "$work/dir" && mkdir "$work/dir"
	# shellcheck disable=SC2086
	bl_start bench_acks --listen "tcp://127.0.0.1:0?framing=$framing" --metrics 127.0.0.1:0 \
		--sink "file:$work/dir" --fsync "$fsync" ${window:+--ack-window $window} $sflags ||
		return 1
	if [ "$kind" = acked ]; then
		args=(--acks)
	else
		args=(--framing len32 --metrics "http://127.0.0.1:$mport")
	fi
	"$bench" "${args[@]}" --target "tcp://127.0.0.1:$port" --connections "$conns" \
		--size "$size" --duration "$duration" --csv
	local rc=$?
	bl_stop
	return $rc
}

fail=0
: >"$work/un" && : >"$work/ack" && : >"$work/ratio"
for r in $(seq "$runs"); do
	order="unacked acked"
	[ $((r % 2)) -eq 0 ] && order="acked unacked"
	u="" a=""
	for kind in $order; do
		echo "bench_acks: run $r/$runs: $kind" >&2
		if ! out=$(one "$kind"); then
			echo "bench_acks: run $r: $kind failed" >&2
			fail=1
			continue
		fi
		hdr=$(echo "$out" | head -1) line=$(echo "$out" | tail -1)
		if [ "$kind" = acked ]; then
			a=$(col acked_msgs_per_s "$line")
			echo "$a $(col seconds "$line") $(col p50_us "$line") $(col p99_us "$line") $(col p999_us "$line")" >>"$work/ack"
		else
			u=$(col processed_msgs_per_s "$line")
			echo "$u $(col seconds "$line")" >>"$work/un"
		fi
	done
	if [ -n "$u" ] && [ -n "$a" ]; then
		awk -v a="$a" -v u="$u" 'BEGIN { if (u > 0) printf "%.3f\n", a / u }' >>"$work/ratio"
	fi
	echo "bench_acks: run $r: unacked ${u:-?} msgs/s, acked ${a:-?} msgs/s" >&2
done

m() { awk -v c="$2" '{ print $c }' "$1" | median; }
nu=$(wc -l <"$work/un") na=$(wc -l <"$work/ack")
if [ "$csv" = 1 ]; then
	echo "config,runs,connections,size,fsync,seconds,msgs_per_s,p50_us,p99_us,p999_us,ratio"
	echo "unacked,$nu,$conns,$size,$fsync,$(m "$work/un" 2),$(m "$work/un" 1),,,,"
	echo "acked,$na,$conns,$size,$fsync,$(m "$work/ack" 2),$(m "$work/ack" 1),$(m "$work/ack" 3),$(m "$work/ack" 4),$(m "$work/ack" 5),$(median <"$work/ratio")"
else
	printf '%-8s %5s %12s %10s %10s %10s %7s\n' config runs msgs/s p50_us p99_us p999_us ratio
	printf '%-8s %5s %12s\n' unacked "$nu" "$(m "$work/un" 1)"
	printf '%-8s %5s %12s %10s %10s %10s %7s\n' acked "$na" "$(m "$work/ack" 1)" \
		"$(m "$work/ack" 3)" "$(m "$work/ack" 4)" "$(m "$work/ack" 5)" "$(median <"$work/ratio")"
fi
exit $fail
