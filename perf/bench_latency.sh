#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_latency.sh: issue 14's latency runs: open loop, null sink, every message stamped.
#
#   perf/bench_latency.sh [--build DIR] [--rates LIST] [--duration S] [--runs N]
#                         [--sluiced-flags FLAGS] [--csv]
#   perf/bench_latency.sh --csv                         1M and 4M msgs/s, one run each
#   perf/bench_latency.sh --rates 1000000 --runs 3 --sluiced-flags "--pools 1"
#
# For each rate (default 1000000,4000000, issue 14's) and run: a fresh sluiced (null sink,
# --latency-stamps start, its own default flags otherwise, plus --sluiced-flags; lines
# framing on a port of the kernel's), then sluice-bench --rate R --duration S (default 4)
# --connections 4 --size 100 --metrics URL --csv against it: 100-byte lines over 4 TCP
# connections, every message's latency from its stamp (sender's CLOCK_MONOTONIC when the
# batch was formatted) to the null sink's write returning, and the daemon's own part
# (reactor receive to the same moment), both from sluiced's histograms (within 0.8%).
#
# --csv: one row per rate and run: rate,run, then sluice-bench's columns msgs_per_s
# (offered, as sent), processed_msgs_per_s, lat_count, lat_min_us, p50_us, p95_us, p99_us,
# p999_us, lat_max_us, daemon_p50_us .. daemon_p999_us; reactor_rq_pct, worker_rq_pct,
# sender_rq_pct: the time those threads were runnable but waiting for a CPU (the run-queue
# wait of /proc/PID/task/TID/schedstat), in % of the run's wall time (summed over the
# class's threads; the sender's from its last reading, every 0.1 s): where the scheduler
# on shared CPUs puts latency; and ratio: the messages the daemon processed over those
# sent, both counted in the run (1 when it lost none; its rates are timed differently). Latency has no same-run peer to divide
# by (no other receiver reads the stamps), so no ratio of it.
set -u

build=build/release rates=1000000,4000000 duration=4 runs=1 flags="" csv=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--rates) rates=$2; shift ;;
	--duration) duration=$2; shift ;;
	--runs) runs=$2; shift ;;
	--sluiced-flags) flags=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_latency: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
sluiced=$build/engine/sluiced bench=$build/perf/sluice-bench
for p in "$sluiced" "$bench"; do
	[ -x "$p" ] || { echo "bench_latency: no $p (build it first)" >&2; exit 1; }
done
case $duration in '' | *[!0-9]*) echo "bench_latency: --duration takes whole seconds" >&2; exit 1 ;; esac
[ "$duration" -ge 3 ] || { echo "bench_latency: --duration takes 3 or more (timed runs last 3 s)" >&2; exit 1; }

# Run-queue wait (ns, field 2 of /proc/PID/task/TID/schedstat: runnable, not running),
# summed by class: "reactor worker other".
rq_wait() {
	awk 'FILENAME ~ /comm$/ { split(FILENAME, a, "/"); name[a[5]] = $0; next }
	     { split(FILENAME, a, "/"); w[a[5]] = $2 }
	     END {
		for (t in w) {
			c = name[t] ~ /^slc-worker/ ? "worker" : name[t] ~ /^slc-reactor/ ? "reactor" : "other"
			s[c] += w[t]
		}
		printf "%d %d %d\n", s["reactor"], s["worker"], s["other"]
	     }' /proc/"$1"/task/*/comm /proc/"$1"/task/*/schedstat 2>/dev/null
}

cols="msgs_per_s processed_msgs_per_s lat_count lat_min_us p50_us p95_us p99_us p999_us lat_max_us daemon_p50_us daemon_p95_us daemon_p99_us daemon_p999_us"
header=1
for rate in ${rates//,/ }; do
	for run in $(seq 1 "$runs"); do
		log=$(mktemp /tmp/bench_latency.XXXXXX)
		# shellcheck disable=SC2086 # flags are words on purpose
		"$sluiced" --listen tcp://127.0.0.1:0 --metrics 127.0.0.1:0 --latency-stamps start \
			$flags 2>"$log" &
		pid=$!
		for _ in $(seq 1 600); do # 60 s: a loaded machine starts it slowly
			grep -q "ready:" "$log" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		port=$(sed -n 's/.*listening on tcp:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1)
		mport=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$log" | head -1)
		if [ -z "$port" ] || [ -z "$mport" ]; then
			echo "bench_latency: sluiced did not start:" >&2
			cat "$log" >&2
			kill "$pid" 2>/dev/null
			exit 1
		fi
		read -r r0 w0 _ <<<"$(rq_wait "$pid")"
		t0=$(date +%s%N)
		"$bench" --target "tcp://127.0.0.1:$port" --rate "$rate" --duration "$duration" \
			--connections 4 --size 100 --metrics "http://127.0.0.1:$mport" --csv >"$log.out" &
		bpid=$!
		# The sender's own run-queue wait: its last reading before it exits (every 0.1 s).
		sw=0
		while kill -0 "$bpid" 2>/dev/null; do
			v=$(rq_wait "$bpid") && [ -n "$v" ] && sw=$(echo "$v" | awk '{ print $1 + $2 + $3 }')
			sleep 0.1
		done
		wait "$bpid"
		st=$?
		read -r r1 w1 _ <<<"$(rq_wait "$pid")"
		t1=$(date +%s%N)
		out=$(cat "$log.out")
		rm -f "$log.out"
		kill "$pid"
		wait "$pid" 2>/dev/null
		rm -f "$log"
		if [ $st -ne 0 ] && [ $st -ne 2 ]; then
			echo "bench_latency: sluice-bench failed ($st): $out" >&2
			exit 1
		fi
		echo "$out" | awk -F, -v rate="$rate" -v run="$run" -v cols="$cols" \
			-v header=$header -v csv=$csv -v dt=$((t1 - t0)) -v rw=$((r1 - r0)) \
			-v ww=$((w1 - w0)) -v sw="$sw" '
			NR == 1 { for (i = 1; i <= NF; i++) at[$i] = i; next }
			NR == 2 {
				n = split(cols, c, " ")
				# counts, not rates: processed_msgs_per_s is timed to the drain scrape
				ratio = $at["sent"] > 0 ? $at["processed"] / $at["sent"] : 0
				if (csv) {
					if (header) {
						printf "rate,run"
						for (i = 1; i <= n; i++) printf ",%s", c[i]
						print ",reactor_rq_pct,worker_rq_pct,sender_rq_pct,ratio"
					}
					printf "%s,%s", rate, run
					for (i = 1; i <= n; i++) printf ",%s", $at[c[i]]
					printf ",%.1f,%.1f,%.1f,%.3f\n", 100 * rw / dt, 100 * ww / dt, 100 * sw / dt, ratio
				} else {
					printf "rate %s run %s: sent %s/s  e2e p50 %s p99 %s p99.9 %s max %s us  daemon p50 %s p99 %s p99.9 %s us  run-queue wait: reactor %.1f%% workers %.1f%% sender %.1f%%  processed/sent %.3f\n", rate, run, $at["msgs_per_s"], $at["p50_us"], $at["p99_us"], $at["p999_us"], $at["lat_max_us"], $at["daemon_p50_us"], $at["daemon_p99_us"], $at["daemon_p999_us"], 100 * rw / dt, 100 * ww / dt, 100 * sw / dt, ratio
				}
			}'
		header=0
	done
done
