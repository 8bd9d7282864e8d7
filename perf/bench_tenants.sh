#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_tenants.sh: tenants' token buckets (how close each second comes to the rate) and QoS
# classes (a gold tenant's loss and latency while bronze floods).
#
#   perf/bench_tenants.sh [--build DIR] [--mode rate|isolation|all] [--runs N] [--duration S]
#                         [--rate R] [--burst B] [--connections C] [--size B]
#                         [--cost-ns NS] [--csv]
#   perf/bench_tenants.sh --csv > tenants.csv          (both parts; 30 s at 20,000 msgs/s)
#   perf/bench_tenants.sh --duration 5                   (a quick try of both)
#
# Rate (--mode rate):
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
# Isolation (--mode isolation): one pool of one worker made slow on purpose
# (--test-handler-cost-ns, --cost-ns, default 2000: a capacity of 1e9 / NS msgs/s),
# two listeners: tenant g (class gold) and tenant b (class bronze). sluice-bench sends g
# stamped lines at 10% of that capacity for --duration s; sluiced's --latency-stamps
# histogram gives its p99 (bronze's lines carry no stamp: they are not in it).
#   gold_alone   g alone
#   gold_bronze  the same while `yes | nc` floods b with 100-byte lines as fast as the
#                machine sends them (far above the capacity)
#   gold_noqos   the same flood, b without a class (what the classes prevent); its pair
#                runs gold_alone again
# The two alternate their order from run to run. gold_lost: g's lines sent and not
# processed (sluice-bench's unprocessed); ratio (gold_bronze row): its p99 over
# gold_alone's of the same run (issue 17's target: at most 2, and no loss); likewise for
# gold_noqos.
#
# --csv columns: config, runs, seconds, rate, msgs_per_s, worst_dev_pct, p99_us,
# gold_lost, ratio (medians over the runs; worst_dev_pct and gold_lost the largest).
# Progress on stderr. Exit status: 0, or 1 when a run failed.
set -u

build=build/release runs=1 duration=30 rate=20000 burst="" conns=1 size=100 csv=0 mode=all
cost=2000
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--mode) mode=$2; shift ;;
	--cost-ns) cost=$2; shift ;;
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
if [ "$mode" != isolation ] && [ "${duration%.*}" -lt 5 ] 2>/dev/null; then
	echo "bench_tenants: the rate part wants --duration 5 or more (whole seconds after the first)" >&2
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

# The tenant's delivered count now, with the clock in ns: "NS COUNT". The time is the
# middle of the scrape, which halves what a slow scrape (a busy machine) adds to a second.
sample() {
	local t0 t1 count
	t0=$(date +%s%N)
	count=$(curl -s "http://127.0.0.1:$mport/metrics" |
		sed -n 's/^sluice_tenant_received_messages_total{tenant="t".*} \([0-9]*\)$/\1/p')
	t1=$(date +%s%N)
	echo "$(((t0 + t1) / 2)) ${count:-0}"
}

# One configuration: "MSGS_PER_S WORST_DEV_PCT SECONDS" on stdout.
one() {
	local kind=$1 spec="t:" bpid
	[ "$kind" = limited ] && spec="${spec}rate=$rate,burst=$burst"
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

# The column named $1 of sluice-bench's CSV row in $work/iso.csv.
col() {
	local i
	i=$(head -1 "$work/iso.csv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1)
	tail -1 "$work/iso.csv" | cut -d, -f"$i"
}

# One isolation configuration: "P99_US GOLD_LOST MSGS_PER_S SECONDS" on stdout.
one_iso() {
	local kind=$1 fpid="" grate=$((1000000000 / cost / 10)) bport rc bclass=bronze
	[ "$kind" = gold_noqos ] && bclass=none
	bl_start bench_tenants --listen "tcp://127.0.0.1:0?framing=lines" \
		--listen "tcp://127.0.0.1:0?framing=lines" --metrics 127.0.0.1:0 --sink null \
		--pools 1 --workers 1 --test-handler-cost-ns "$cost" --latency-stamps start \
		--tenant g:listener=0,class=gold --tenant "b:listener=1,class=$bclass" || return 1
	bport=$(sed -n 's/.*listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | sed -n 2p)
	if [ "$kind" != gold_alone ]; then
		yes "$(printf '%099d' 0)" | nc -q 0 127.0.0.1 "$bport" 2>/dev/null &
		fpid=$!
		# Bronze is flooding before gold starts: its messages are in flight.
		for _ in $(seq 100); do
			curl -s "http://127.0.0.1:$mport/metrics" |
				grep -q '^sluice_tenant_received_messages_total{tenant="b".*} [1-9]' && break
			sleep 0.05
		done
	fi
	"$bench" --target "tcp://127.0.0.1:$port" --connections 1 --size "$size" \
		--rate "$grate" --duration "$duration" --metrics "http://127.0.0.1:$mport" \
		--csv >"$work/iso.csv" 2>"$work/bench.err"
	rc=$?
	[ -n "$fpid" ] && kill "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null
	bl_stop
	[ $rc -eq 0 ] || { cat "$work/bench.err" >&2; return 1; }
	echo "$(col p99_us) $(col unprocessed) $(col msgs_per_s) $(col seconds)"
}

# pairs A B FN RATIOS: --runs runs of FN for configurations A and B, their order
# alternating; each output line goes to $work/A or $work/B, B's first field over A's of
# the same run to RATIOS.
pairs() {
	local ka=$1 kb=$2 fn=$3 rf=$4 r kind out order a b
	for r in $(seq "$runs"); do
		order="$ka $kb"
		[ $((r % 2)) -eq 0 ] && order="$kb $ka"
		a="" b=""
		for kind in $order; do
			echo "bench_tenants: run $r/$runs: $kind" >&2
			if ! out=$($fn "$kind"); then
				echo "bench_tenants: run $r: $kind failed" >&2
				fail=1
				continue
			fi
			echo "$out" >>"$work/$kind"
			if [ "$kind" = "$ka" ]; then a=${out%% *}; else b=${out%% *}; fi
			echo "bench_tenants: run $r: $kind: $out" >&2
		done
		if [ -n "$a" ] && [ -n "$b" ]; then
			awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.4f\n", b / a }' >>"$rf"
		fi
	done
}

fail=0
for f in unlimited limited ratio gold_alone gold_bronze iso_ratio gold_noqos noqos_ratio; do
	: >"$work/$f"
done
# one: "MSGS_PER_S WORST_DEV_PCT SECONDS"; one_iso: "P99_US GOLD_LOST MSGS_PER_S SECONDS".
[ "$mode" = isolation ] || pairs unlimited limited one "$work/ratio"
[ "$mode" = rate ] || pairs gold_alone gold_bronze one_iso "$work/iso_ratio"
[ "$mode" = rate ] || pairs gold_alone gold_noqos one_iso "$work/noqos_ratio"

m() { awk -v c="$2" '{ print $c }' "$1" | median; }
mx() { awk -v c="$2" '{ if ($c > w) w = $c } END { printf "%d\n", w }' "$1"; }
worst() { awk '{ if ($2 > w) w = $2 } END { printf "%.2f\n", w }' "$1"; }
nu=$(wc -l <"$work/unlimited") nl=$(wc -l <"$work/limited")
na=$(wc -l <"$work/gold_alone") nb=$(wc -l <"$work/gold_bronze") nn=$(wc -l <"$work/gold_noqos")
grate=$((1000000000 / cost / 10))
if [ "$csv" = 1 ]; then
	echo "config,runs,seconds,rate,msgs_per_s,worst_dev_pct,p99_us,gold_lost,ratio"
	if [ "$mode" != isolation ]; then
		echo "unlimited,$nu,$(m "$work/unlimited" 2),,$(m "$work/unlimited" 1),,,,"
		echo "limited,$nl,$(m "$work/limited" 3),$rate,$(m "$work/limited" 1),$(worst "$work/limited"),,,$(median <"$work/ratio")"
	fi
	if [ "$mode" != rate ]; then
		echo "gold_alone,$na,$(m "$work/gold_alone" 4),$grate,$(m "$work/gold_alone" 3),,$(m "$work/gold_alone" 1),$(mx "$work/gold_alone" 2),"
		echo "gold_bronze,$nb,$(m "$work/gold_bronze" 4),$grate,$(m "$work/gold_bronze" 3),,$(m "$work/gold_bronze" 1),$(mx "$work/gold_bronze" 2),$(median <"$work/iso_ratio")"
		echo "gold_noqos,$nn,$(m "$work/gold_noqos" 4),$grate,$(m "$work/gold_noqos" 3),,$(m "$work/gold_noqos" 1),$(mx "$work/gold_noqos" 2),$(median <"$work/noqos_ratio")"
	fi
else
	printf '%-12s %5s %8s %10s %12s %14s %10s %9s %8s\n' config runs seconds rate msgs/s worst_dev_pct p99_us gold_lost ratio
	if [ "$mode" != isolation ]; then
		printf '%-12s %5s %8s %10s %12s\n' unlimited "$nu" "$(m "$work/unlimited" 2)" "" "$(m "$work/unlimited" 1)"
		printf '%-12s %5s %8s %10s %12s %14s %10s %9s %8s\n' limited "$nl" "$(m "$work/limited" 3)" "$rate" \
			"$(m "$work/limited" 1)" "$(worst "$work/limited")" "" "" "$(median <"$work/ratio")"
	fi
	if [ "$mode" != rate ]; then
		printf '%-12s %5s %8s %10s %12s %14s %10s %9s\n' gold_alone "$na" "$(m "$work/gold_alone" 4)" "$grate" \
			"$(m "$work/gold_alone" 3)" "" "$(m "$work/gold_alone" 1)" "$(mx "$work/gold_alone" 2)"
		printf '%-12s %5s %8s %10s %12s %14s %10s %9s %8s\n' gold_bronze "$nb" "$(m "$work/gold_bronze" 4)" "$grate" \
			"$(m "$work/gold_bronze" 3)" "" "$(m "$work/gold_bronze" 1)" "$(mx "$work/gold_bronze" 2)" "$(median <"$work/iso_ratio")"
		printf '%-12s %5s %8s %10s %12s %14s %10s %9s %8s\n' gold_noqos "$nn" "$(m "$work/gold_noqos" 4)" "$grate" \
			"$(m "$work/gold_noqos" 3)" "" "$(m "$work/gold_noqos" 1)" "$(mx "$work/gold_noqos" 2)" "$(median <"$work/noqos_ratio")"
	fi
fi
exit $fail
