#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_tenants.sh: a tenant's token bucket (--tenant rate=R): how close each second comes to R.
#
#   perf/bench_tenants.sh [--build DIR] [--runs N] [--duration S] [--rate R] [--burst B]
#                         [--connections C] [--size B] [--csv]
#   perf/bench_tenants.sh --csv > tenants.csv          (30 s at 20,000 msgs/s)
#   perf/bench_tenants.sh --duration 5 --runs 1          (a quick try)
#
# Each run starts sluiced (null sink) twice with one tenant that takes every connection,
# and sluice-bench sends it --size-byte lines (default 100) over --connections TCP
# connections (default 1) as fast as it takes them, for --duration s (default 30, at least
# 3). Every second the script reads the tenant's sluice_tenant_received_messages_total
# (and the time) from /metrics:
#   unlimited  the tenant has no limit: what the sender gets through (the baseline)
#   limited    the tenant has rate=R (default 20000) and burst=B (default R/10): a TCP
#              connection over it pauses, so the sender is held to R
# msgs_per_s is the mean over the seconds after the first (the first holds the burst);
# worst_dev_pct, for limited, the largest |second's count - R| / R of those seconds, in %
# (issue 17's target: within 5); ratio (limited row), limited / unlimited msgs_per_s of
# the same run. The two configurations alternate their order from run to run.
#
# --csv columns: config, runs, seconds, rate, msgs_per_s, worst_dev_pct, ratio (medians
# over the runs; worst_dev_pct the largest). Progress on stderr. Exit status: 0, or 1 when
# a run failed.
set -u

build=build/release runs=1 duration=30 rate=20000 burst="" conns=1 size=100 csv=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--runs) runs=$2; shift ;;
	--duration) duration=$2; shift ;;
	--rate) rate=$2; shift ;;
	--burst) burst=$2; shift ;;
	--connections) conns=$2; shift ;;
	--size) size=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_tenants: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
if [ "${duration%.*}" -lt 3 ] 2>/dev/null; then
	echo "bench_tenants: --duration is at least 3 (every timed run lasts 3 s)" >&2
	exit 1
fi
[ -n "$burst" ] || burst=$((rate / 10))
sluiced=$build/engine/sluiced bench=$build/perf/sluice-bench
for p in "$sluiced" "$bench"; do
	[ -x "$p" ] || { echo "bench_tenants: $p missing: build the release preset first" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-tenants-XXXXXX") || exit 1
# shellcheck source=perf/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
trap bl_cleanup EXIT

# The tenant's delivered count now, with the clock in ns: "NS COUNT".
sample() {
	local now count
	now=$(date +%s%N)
	count=$(curl -s "http://127.0.0.1:$mport/metrics" |
		sed -n 's/^sluice_tenant_received_messages_total{tenant="t".*} \([0-9]*\)$/\1/p')
	echo "$now ${count:-0}"
}

# One configuration: "MSGS_PER_S WORST_DEV_PCT SECONDS" on stdout.
one() {
	local kind=$1 spec="t:class=bench" bpid
	[ "$kind" = limited ] && spec="$spec,rate=$rate,burst=$burst"
	bl_start bench_tenants --listen "tcp://127.0.0.1:0?framing=lines" --metrics 127.0.0.1:0 \
		--sink null --tenant "$spec" || return 1
	"$bench" --target "tcp://127.0.0.1:$port" --connections "$conns" --size "$size" \
		--duration "$duration" --csv >"$work/bench.csv" 2>"$work/bench.err" &
	bpid=$!
	: >"$work/samples"
	while kill -0 "$bpid" 2>/dev/null; do
		sample >>"$work/samples"
		sleep 1
	done
	wait "$bpid"
	local rc=$?
	bl_stop
	[ $rc -eq 0 ] || { cat "$work/bench.err" >&2; return 1; }
	# Per interval: count / seconds; skip the first interval (the burst) and the last (the
	# sender stopping inside it).
	awk -v r="$rate" -v lim="$([ "$kind" = limited ] && echo 1 || echo 0)" '
		NR > 1 { dt = ($1 - t) / 1e9; if (dt > 0) { n++; rate_[n] = ($2 - c) / dt; secs[n] = dt } }
		{ t = $1; c = $2 }
		END {
			worst = 0; sum = 0; s = 0
			for (i = 2; i < n; i++) {
				sum += rate_[i] * secs[i]; s += secs[i]
				d = (rate_[i] - r) / r * 100; if (d < 0) d = -d
				if (lim && d > worst) worst = d
			}
			if (s == 0) exit 1
			printf "%.0f %s %.1f\n", sum / s, lim ? sprintf("%.2f", worst) : "", s
		}' "$work/samples"
}

fail=0
: >"$work/unlimited" && : >"$work/limited" && : >"$work/ratio"
for r in $(seq "$runs"); do
	order="unlimited limited"
	[ $((r % 2)) -eq 0 ] && order="limited unlimited"
	u="" l=""
	for kind in $order; do
		echo "bench_tenants: run $r/$runs: $kind" >&2
		if ! out=$(one "$kind"); then
			echo "bench_tenants: run $r: $kind failed" >&2
			fail=1
			continue
		fi
		echo "$out" >>"$work/$kind"
		[ "$kind" = limited ] && l=${out%% *} || u=${out%% *}
		echo "bench_tenants: run $r: $kind: $out (msgs/s, worst deviation %, seconds)" >&2
	done
	if [ -n "$u" ] && [ -n "$l" ]; then
		awk -v a="$l" -v b="$u" 'BEGIN { if (b > 0) printf "%.4f\n", a / b }' >>"$work/ratio"
	fi
done

m() { awk -v c="$2" '{ print $c }' "$1" | median; }
worst() { awk '{ if ($2 > w) w = $2 } END { printf "%.2f\n", w }' "$1"; }
nu=$(wc -l <"$work/unlimited") nl=$(wc -l <"$work/limited")
if [ "$csv" = 1 ]; then
	echo "config,runs,seconds,rate,msgs_per_s,worst_dev_pct,ratio"
	echo "unlimited,$nu,$(m "$work/unlimited" 2),,$(m "$work/unlimited" 1),,"
	echo "limited,$nl,$(m "$work/limited" 3),$rate,$(m "$work/limited" 1),$(worst "$work/limited"),$(median <"$work/ratio")"
else
	printf '%-10s %5s %8s %10s %12s %14s %8s\n' config runs seconds rate msgs/s worst_dev_pct ratio
	printf '%-10s %5s %8s %10s %12s\n' unlimited "$nu" "$(m "$work/unlimited" 2)" "" "$(m "$work/unlimited" 1)"
	printf '%-10s %5s %8s %10s %12s %14s %8s\n' limited "$nl" "$(m "$work/limited" 3)" "$rate" \
		"$(m "$work/limited" 1)" "$(worst "$work/limited")" "$(median <"$work/ratio")"
fi
exit $fail
