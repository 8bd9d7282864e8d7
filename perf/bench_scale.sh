#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_scale.sh: how sluiced scales with reactor+worker pairs, against linear, per sink.
#
#   perf/bench_scale.sh [--build DIR] [--pairs LIST] [--sinks LIST] [--runs N]
#                       [--duration S] [--conns-per-thread C] [--oversubscribe] [--csv]
#   perf/bench_scale.sh --csv > scale.csv                 (1,2,4,8 pairs, null and file)
#   perf/bench_scale.sh --pairs 1,2 --sinks null --runs 1 (a quick try)
#   # on a bigger machine, with the folder perf/bundle.sh made:
#   perf/bench_scale.sh --build /tmp/sluice-bundle/build --csv
#
# n pairs: sluiced with n reactors and n pools of one worker (`--reactors-per-node n
# --pools n --workers 1`, placed with `--cpus 0-(2n-1)` so that its threads have 2n CPUs
# to themselves where the machine has them), fed by sluice-bench with n sender threads of
# --conns-per-thread connections each (default 4), 100-byte lines, as fast as it takes
# them, for --duration seconds (default 3, at least 3). The sender is not pinned: it runs
# on whatever CPUs are left, or shares. Sinks: null, and file (--sink file:DIR, default
# --fsync).
#
# A pair count n runs only when the process may use at least 2n CPUs (nproc: affinity and
# cpusets included); the others get a row with an empty rate and a note saying how many
# CPUs they need, and one line on stderr. On this project's 2-CPU machine that is 1 pair
# alone, so its efficiency is 1 by definition: the curve needs a bigger machine.
# --oversubscribe runs them all the same (threads then share CPUs, which the note says):
# for trying the script, not for figures.
#
# Each run measures every pair count of every sink once, in rising order on odd runs and
# falling order on even ones, so that a machine getting slower or faster during the session
# does not favour either end. The rate of a measurement is sluice-bench's
# processed_msgs_per_s: the messages sluiced's workers processed (its metrics endpoint)
# over the time from the first message sent until they had all been processed.
#
# Output (--csv; one row per sink and pair count):
#   sink, pairs, reactors, workers, sender_threads, connections, runs (complete ones),
#   seconds (median), msgs_per_s (median), baseline_msgs_per_s (1 pair of the same sink,
#   median), ratio (the efficiency: median over the runs of msgs/s / (n x the 1-pair
#   msgs/s of the same run and sink); 1 = linear), cpus (what the process may use), note
# Without --csv, the same as a table. Progress: stderr.
# Exit status: 0 when every measurement that ran completed; 1 otherwise or on bad usage.
set -u

build=build/release pairs_list=1,2,4,8 sinks_list=null,file runs=3 duration=3 cpt=4 csv=0 over=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--pairs) pairs_list=$2; shift ;;
	--sinks) sinks_list=$2; shift ;;
	--runs) runs=$2; shift ;;
	--duration) duration=$2; shift ;;
	--conns-per-thread) cpt=$2; shift ;;
	--oversubscribe) over=1 ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_scale: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
num() { case $1 in '' | *[!0-9]* | 0*) return 1 ;; esac; }
num "$runs" && num "$duration" && num "$cpt" ||
	{ echo "bench_scale: --runs, --duration and --conns-per-thread take numbers from 1" >&2; exit 1; }
[ "$duration" -ge 3 ] || { echo "bench_scale: --duration is at least 3 (s): every timed run lasts 3 s" >&2; exit 1; }
pairs=${pairs_list//,/ } sinks=${sinks_list//,/ }
[ -n "$pairs" ] && [ -n "$sinks" ] || { echo "bench_scale: --pairs and --sinks need a value" >&2; exit 1; }
for n in $pairs; do
	num "$n" && [ "$n" -le 32 ] || { echo "bench_scale: --pairs: '$n' is not a count in 1..32" >&2; exit 1; }
done
case " $pairs " in *" 1 "*) ;; *) echo "bench_scale: --pairs must include 1: the baseline of the ratio" >&2; exit 1 ;; esac
for s in $sinks; do
	case $s in null | file) ;; *) echo "bench_scale: unknown sink '$s' (null or file)" >&2; exit 1 ;; esac
done
for b in engine/sluiced perf/sluice-bench; do
	[ -x "$build/$b" ] || { echo "bench_scale: $build/$b missing: build first (--build DIR)" >&2; exit 1; }
done
build=$(cd "$build" && pwd)
cpus=$(nproc)
log() { echo "bench_scale: $*" >&2; }

tmp=$(mktemp -d /tmp/bench_scale.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fits() { [ $((2 * $1)) -le "$cpus" ] || [ "$over" -eq 1 ]; } # fits N: n pairs run here
skipped=""
for n in $pairs; do [ $((2 * n)) -le "$cpus" ] || skipped="$skipped $n"; done
[ -z "$skipped" ] || [ "$over" -eq 1 ] || log "$cpus CPUs: pairs$skipped skipped (n pairs need 2n CPUs)"
[ -z "$skipped" ] || [ "$over" -eq 0 ] || log "$cpus CPUs: pairs$skipped oversubscribed (n pairs need 2n CPUs)"

# measure SINK N: one measurement; sets rate and secs, or returns 1.
measure() {
	local sink=$1 n=$2 dir="$tmp/seg" sinkarg=null row i port mport
	rm -rf "$dir" "$tmp/log" "$tmp/out"
	[ "$sink" = file ] && { mkdir -p "$dir" && sinkarg="file:$dir"; }
	"$build/engine/sluiced" --listen tcp://127.0.0.1:0 --metrics 127.0.0.1:0 --sink "$sinkarg" \
		--reactors-per-node "$n" --pools "$n" --workers 1 --cpus "0-$((2 * n - 1))" \
		>"$tmp/log" 2>&1 &
	pid=$!
	port="" mport=""
	for ((i = 0; i < 300; i++)); do # its ready line: 30 s at most
		row=$(grep -m1 'ready:' "$tmp/log" 2>/dev/null)
		[ -n "$row" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	case $row in *"ready: $n reactor"*) ;; *)
		log "sluiced did not start with $n reactors: $(tail -3 "$tmp/log")"
		kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
		return 1 ;;
	esac
	port=$(sed -n 's/.*listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' <<<"$row")
	mport=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' <<<"$row")
	"$build/perf/sluice-bench" --target "tcp://127.0.0.1:$port" --threads "$n" \
		--connections $((n * cpt)) --duration "$duration" --wait-drain 60 \
		--metrics "http://127.0.0.1:$mport" --csv >"$tmp/out" 2>>"$tmp/log"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=""
	# the processed rate and the time it covers, by the header's names
	read -r rate secs < <(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i }
		NR == 2 { print $c["processed_msgs_per_s"], $c["seconds"] }' "$tmp/out")
	num "${rate%%.*}" || { log "$sink, $n pairs: no rate: $(tail -3 "$tmp/log")"; return 1; }
}

declare -A R S # R[sink,n,run] rate, S[sink,n,run] seconds
failed=0
order_up=$pairs order_down=$(for n in $pairs; do echo "$n"; done | sort -rn | tr '\n' ' ')
for ((run = 1; run <= runs; run++)); do
	order=$order_up
	[ $((run % 2)) -eq 0 ] && order=$order_down
	for sink in $sinks; do
		for n in $order; do
			fits "$n" || continue
			log "run $run/$runs: $sink sink, $n pair(s)"
			if measure "$sink" "$n"; then
				R[$sink,$n,$run]=$rate S[$sink,$n,$run]=$secs
			else
				failed=1
			fi
		done
	done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
header="sink,pairs,reactors,workers,sender_threads,connections,runs,seconds,msgs_per_s,baseline_msgs_per_s,ratio,cpus,note"
{
	echo "$header"
	for sink in $sinks; do
		base=$(for ((r = 1; r <= runs; r++)); do [ -n "${R[$sink,1,$r]:-}" ] && echo "${R[$sink,1,$r]}"; done | median)
		for n in $pairs; do
			note="" complete=0 rates="" secs="" ratios=""
			if ! fits "$n"; then
				note="skipped: needs $((2 * n)) CPUs; $cpus here"
			else
				[ $((2 * n)) -le "$cpus" ] || note="oversubscribed: needs $((2 * n)) CPUs; $cpus here"
				for ((r = 1; r <= runs; r++)); do
					[ -n "${R[$sink,$n,$r]:-}" ] || continue
					complete=$((complete + 1))
					rates="$rates ${R[$sink,$n,$r]}" secs="$secs ${S[$sink,$n,$r]}"
					[ -n "${R[$sink,1,$r]:-}" ] && ratios="$ratios $(awk -v a="${R[$sink,$n,$r]}" \
						-v b="${R[$sink,1,$r]}" -v n="$n" 'BEGIN { if (b > 0) printf "%.3f", a / (n * b) }')"
				done
				[ "$complete" -lt "$runs" ] && note="${note:+$note; }$((runs - complete)) run(s) failed"
			fi
			printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$sink" "$n" "$n" "$n" "$n" \
				$((n * cpt)) "$complete" \
				"$(for v in $secs; do echo "$v"; done | median)" \
				"$(for v in $rates; do echo "$v"; done | median | awk '{ if ($1 != "") printf "%.0f", $1 }')" \
				"$(awk -v b="$base" 'BEGIN { if (b != "") printf "%.0f", b }')" \
				"$(for v in $ratios; do echo "$v"; done | median)" "$cpus" "$note"
		done
	done
} >"$tmp/table"
if [ "$csv" -eq 1 ]; then
	cat "$tmp/table"
else
	column -s, -t <"$tmp/table" 2>/dev/null || tr , '\t' <"$tmp/table"
fi
exit "$failed"
