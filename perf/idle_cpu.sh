#!/bin/bash
# SPDX-License-Identifier: MIT
# idle_cpu.sh: what an idle sluiced costs, per thread class, over a window of seconds.
#
#   perf/idle_cpu.sh [--build DIR] [--seconds S] [--csv] [-- FLAGS...]
#   perf/idle_cpu.sh --csv                      defaults, --pools 4 --workers 8, 8 x 32
#   perf/idle_cpu.sh --seconds 10 -- --pools 8 --workers 4   one configuration of yours
#
# Issue 21's target: an idle daemon under 0.5% of one CPU in all, whatever the thread count.
# For each configuration, sluiced starts (--listen and --metrics on ports of the kernel's,
# null sink), is left alone for 1 s (start-up, the sinks' first idle pass), then measured
# over --seconds (default 10) with nothing sent: each thread's CPU time from
# /proc/PID/task/TID/schedstat (ns, exact), summed by class from the thread's name
# (slc-worker-*, slc-reactor-*, slc-ctl, the rest: metrics, main), and the process's
# utime + stime from /proc/PID/stat (clock ticks, 10 ms each: the measure, coarse).
# Percentages are of one CPU over the window.
#
# --csv columns: config,threads,seconds,cpu_pct,cpu_pct_stat,worker_pct,reactor_pct,
# ctl_pct,other_pct,wakeups_per_s (the process's voluntary and involuntary context switches
# a second, from each thread's /proc status: how often an idle thread still runs).
# No msgs_per_s and no ratio: nothing is sent, and the idle floor a ratio would divide by
# (a receiver blocked in epoll_wait) is zero.
set -u

build=build/release seconds=10 csv=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	*) echo "idle_cpu: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
sluiced=$build/engine/sluiced
[ -x "$sluiced" ] || { echo "idle_cpu: no $sluiced (build it first)" >&2; exit 1; }
case $seconds in '' | *[!0-9]*) echo "idle_cpu: --seconds takes a whole number" >&2; exit 1 ;; esac
[ "$seconds" -ge 3 ] || { echo "idle_cpu: --seconds takes 3 or more" >&2; exit 1; }

# One line per thread, by thread id: "tid class ns switches". One awk for all threads:
# a process per file would itself cost more than the threads measured.
threads() {
	awk 'FILENAME ~ /comm$/ { split(FILENAME, a, "/"); name[a[5]] = $0; next }
	     FILENAME ~ /schedstat$/ { split(FILENAME, a, "/"); ns[a[5]] = $1; next }
	     /ctxt_switches/ { split(FILENAME, a, "/"); sw[a[5]] += $2 }
	     END {
		for (t in ns) {
			c = name[t] ~ /^slc-worker/ ? "worker" : name[t] ~ /^slc-reactor/ ? "reactor" : \
			    name[t] ~ /^slc-ctl/ ? "ctl" : "other"
			print t, c, ns[t], sw[t] + 0
		}
	     }' /proc/"$1"/task/*/comm /proc/"$1"/task/*/schedstat /proc/"$1"/task/*/status 2>/dev/null |
		sort -n
}

ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }

measure() {
	local name=$1 log pid t0 t1 k0 k1 n a b
	shift
	log=$(mktemp /tmp/idle_cpu.XXXXXX)
	"$sluiced" --listen tcp://127.0.0.1:0 --metrics 127.0.0.1:0 "$@" 2>"$log" &
	pid=$!
	for _ in $(seq 1 600); do # 60 s: a loaded machine starts it slowly
		grep -q "ready:" "$log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "ready:" "$log"; then
		echo "idle_cpu: sluiced $* did not start:" >&2
		cat "$log" >&2
		kill "$pid" 2>/dev/null
		rm -f "$log"
		return 1
	fi
	sleep 1
	a=$(threads "$pid")
	k0=$(ticks "$pid")
	t0=$(date +%s%N)
	sleep "$seconds"
	b=$(threads "$pid")
	k1=$(ticks "$pid")
	t1=$(date +%s%N)
	n=$(ls /proc/"$pid"/task | wc -l)
	kill "$pid"
	wait "$pid" 2>/dev/null
	rm -f "$log"
	# Paired by thread id (a thread that came or went meanwhile is left out).
	awk -v name="$name" -v n="$n" -v dt=$((t1 - t0)) \
		-v k=$((k1 - k0)) -v hz="$(getconf CLK_TCK)" -v csv=$csv '
		NR == FNR { c0[$1] = $3; s0[$1] = $4; next }
		$1 in c0 { d[$2] += $3 - c0[$1]; all += $3 - c0[$1]; sw += $4 - s0[$1] }
		END {
			s = dt / 1e9
			pct = 100 * all / dt; st = 100 * k / hz / s
			w = 100 * d["worker"] / dt; r = 100 * d["reactor"] / dt
			c = 100 * d["ctl"] / dt; o = 100 * d["other"] / dt
			if (csv)
				printf "%s,%d,%.2f,%.3f,%.2f,%.3f,%.3f,%.3f,%.3f,%.1f\n", name, n, s, pct, st, w, r, c, o, sw / s
			else
				printf "%-24s %3d threads %5.2f s  cpu %.3f%% (stat %.2f%%)  workers %.3f%%  reactors %.3f%%  controller %.3f%%  other %.3f%%  %.1f switches/s\n", name, n, s, pct, st, w, r, c, o, sw / s
		}' <(echo "$a") <(echo "$b")
}

[ $csv = 1 ] && echo "config,threads,seconds,cpu_pct,cpu_pct_stat,worker_pct,reactor_pct,ctl_pct,other_pct,wakeups_per_s"
if [ $# -gt 0 ]; then
	measure "$*" "$@" || exit 1
else
	measure "defaults" || exit 1
	measure "--pools 4 --workers 8" --pools 4 --workers 8 || exit 1
	measure "--pools 8 --workers 32" --pools 8 --workers 32 || exit 1
fi
