#!/bin/bash
# SPDX-License-Identifier: MIT
# soak.sh: sluiced under steady load for a long time; fails if RSS, descriptors or throughput drift.
#
#   perf/soak.sh [--build DIR] [--duration S] [--rate N] [--sink SPEC] [--csv FILE]
#                [--warmup S] [-- sluiced flags...]
#   perf/soak.sh                                   10 minutes at 200k msgs/s, null sink
#   perf/soak.sh --duration 120 --csv soak.csv     a quick check, samples to soak.csv
#   perf/soak.sh --sink file:/srv/soak --rate 50000 -- --fsync batch
#
# Not part of ctest (it takes minutes by design). sluiced runs with --listen
# tcp://127.0.0.1:0, --metrics 127.0.0.1:0, --sink SPEC (default null) and whatever follows
# --; sluice-bench (4 TCP connections, 100-byte lines) offers --rate msgs/s (default
# 200000) for --duration seconds (default 600). Every second the script samples sluiced's
# VmRSS (/proc/PID/status), its open descriptors (/proc/PID/fd) and its throughput (the
# change of sluice_worker_processed_total over the time since the last sample), without
# forking a process per sample.
#
# Drift: after --warmup seconds (default 30), the mean of the first window is compared with
# the mean of the last window, each min(60, (duration - warmup) / 2) seconds, so that the
# windows do not overlap. It fails when RSS grew more than 10%, the descriptor count moved
# by more than 2, or throughput fell more than 10%; and when sluiced dies, sluice-bench
# reports lost messages, or sluiced does not exit 0 on SIGTERM. A file sink writes rate x
# duration x ~120 bytes: mind the disk.
#
# Output: progress on stderr every 10 s; --csv FILE gets one row per second
# (t_s,rss_kib,fds,processed,msgs_per_s); the last line on stdout is the summary:
#   soak: PASS|FAIL 600 s at 200000 msgs/s (sink null): rss 31204 -> 31260 KiB (+0.2%),
#   fds 12 -> 12, msgs/s 199987 -> 200012 (+0.0%)[; reasons]
# Exit status: 0 PASS; 1 FAIL or bad usage.
set -u

build=build/release duration=600 rate=200000 sink=null csv="" warmup=30
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--duration) duration=$2; shift ;;
	--rate) rate=$2; shift ;;
	--sink) sink=$2; shift ;;
	--csv) csv=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--) shift; break ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "soak: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
case "$duration,$rate,$warmup" in *[!0-9,]*|,*|*,,*|*,)
	echo "soak: --duration, --rate and --warmup take whole numbers" >&2; exit 1 ;;
esac
if [ "$duration" -lt $((warmup + 20)) ] || [ "$rate" -eq 0 ]; then
	echo "soak: --duration must be at least --warmup + 20 s, and --rate above 0" >&2
	exit 1
fi
window=$(((duration - warmup) / 2))
[ "$window" -gt 60 ] && window=60
sluiced=$build/engine/sluiced bench=$build/perf/sluice-bench
for x in "$sluiced" "$bench"; do
	[ -x "$x" ] || { echo "soak: $x is not built (--build DIR)" >&2; exit 1; }
done

log=$(mktemp /tmp/sluiced-soak.XXXXXX)
benchlog=$(mktemp /tmp/sluice-bench-soak.XXXXXX)
pid="" bpid=""
cleanup() {
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -f "$log" "$benchlog"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$sluiced" --listen tcp://127.0.0.1:0 --metrics 127.0.0.1:0 --sink "$sink" "$@" 2>"$log" &
pid=$!
for ((i = 0; ; i++)); do
	grep -q "ready:" "$log" && break
	if [ $i -gt 150 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "soak: sluiced did not start:" >&2
		cat "$log" >&2
		pid=""
		exit 1
	fi
	sleep 0.1
done
port=$(sed -n 's/.*listening on tcp:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log")
mport=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$log")

# Sets val to the sum of the samples of metric $1 (no fork: bash's /dev/tcp).
scrape() {
	local body="" line fd IFS
	val=0
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$mport"; } 2>/dev/null || return 1
	printf 'GET /metrics HTTP/1.0\r\n\r\n' >&"$fd"
	IFS= read -r -d "" -N 4194304 body <&"$fd" 2>/dev/null
	exec {fd}<&-
	IFS=$'\n'
	for line in $body; do
		case $line in "$1"['{ ']*[0-9]) val=$((val + 10#${line##* })) ;; esac
	done
}
# Sets rss (KiB) and fds of sluiced.
sample_proc() {
	local k v rest f
	rss=0
	while read -r k v rest; do
		[ "$k" = "VmRSS:" ] && { rss=$v; break; }
	done <"/proc/$pid/status"
	f=(/proc/"$pid"/fd/*)
	fds=${#f[@]}
}
# Microseconds of $EPOCHREALTIME, without a fork.
now_us() { local t=${EPOCHREALTIME/[.,]/}; us=$((10#$t)); }

# Two seconds more than the sampling, so that the last samples are all under load.
"$bench" --target "tcp://127.0.0.1:$port" --connections 4 --size 100 --rate "$rate" \
	--duration $((duration + 2)) --metrics "http://127.0.0.1:$mport" --quiet >"$benchlog" 2>&1 &
bpid=$!
[ -n "$csv" ] && echo "t_s,rss_kib,fds,processed,msgs_per_s" >"$csv"

declare -a s_rss s_fds s_tput
# A pipe nobody writes to: read -t on it sleeps without forking sleep(1).
exec {sleepfd}<> <(:)
scrape sluice_worker_processed_total
prev=$val
now_us
t0=$us prev_us=$us
fail=""
for ((t = 1; t <= duration; t++)); do
	now_us
	left=$((t0 + t * 1000000 - us))
	if [ $left -gt 0 ]; then
		printf -v secs '%d.%06d' $((left / 1000000)) $((left % 1000000))
		read -r -t "$secs" -u "$sleepfd"
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		fail="sluiced died at $t s"
		pid=""
		break
	fi
	scrape sluice_worker_processed_total || { fail="metrics unreachable at $t s"; break; }
	now_us
	sample_proc
	tput=$(((val - prev) * 1000000 / (us - prev_us)))
	prev=$val prev_us=$us
	s_rss[t]=$rss s_fds[t]=$fds s_tput[t]=$tput
	[ -n "$csv" ] && echo "$t,$rss,$fds,$val,$tput" >>"$csv"
	((t % 10 == 0)) && echo "soak: $t/$duration s: rss $rss KiB, fds $fds, $tput msgs/s" >&2
done

# Mean of array $1 over samples $2 .. $3 (inclusive).
mean() {
	local -n a=$1
	local i sum=0 n=0
	for ((i = $2; i <= $3; i++)); do
		[ -n "${a[i]:-}" ] && { sum=$((sum + a[i])); n=$((n + 1)); }
	done
	val=$((n > 0 ? sum / n : 0))
}

if [ -z "$fail" ]; then
	wait "$bpid"
	brc=$?
	bpid=""
	[ $brc -eq 2 ] && fail="sluice-bench reports lost messages"
	[ $brc -ne 0 ] && [ $brc -ne 2 ] && fail="sluice-bench failed ($brc)"
fi
a0=$((warmup + 1)) a1=$((warmup + window)) b0=$((duration - window + 1)) b1=$duration
mean s_rss $a0 $a1; rss_a=$val
mean s_rss $b0 $b1; rss_b=$val
mean s_fds $a0 $a1; fds_a=$val
mean s_fds $b0 $b1; fds_b=$val
mean s_tput $a0 $a1; tp_a=$val
mean s_tput $b0 $b1; tp_b=$val
# Percent changes, in tenths.
pct() { val=$(($2 > 0 ? ($1 - $2) * 1000 / $2 : 0)); }
fmt_pct() { local v=$1 s=+; [ "$v" -lt 0 ] && { s=-; v=$((-v)); }; val="$s$((v / 10)).$((v % 10))%"; }
pct "$rss_b" "$rss_a"; rss_d=$val
pct "$tp_b" "$tp_a"; tp_d=$val
if [ -z "$fail" ]; then
	[ "$rss_d" -gt 100 ] && fail="${fail:+$fail; }RSS grew more than 10%"
	fd_move=$((fds_b - fds_a))
	[ "${fd_move#-}" -gt 2 ] && fail="${fail:+$fail; }descriptors moved by $fd_move"
	[ "$tp_d" -lt -100 ] && fail="${fail:+$fail; }throughput fell more than 10%"
fi
if [ -n "$pid" ]; then
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=""
	[ $rc -ne 0 ] && fail="${fail:+$fail; }sluiced exited $rc"
	grep "stopped after" "$log" >&2
fi
fmt_pct "$rss_d"; rss_p=$val
fmt_pct "$tp_d"; tp_p=$val
summary="$duration s at $rate msgs/s (sink $sink): rss $rss_a -> $rss_b KiB ($rss_p), fds $fds_a -> $fds_b, msgs/s $tp_a -> $tp_b ($tp_p); windows $a0-$a1 s and $b0-$b1 s"
if [ -n "$fail" ]; then
	cat "$benchlog" >&2
	echo "soak: FAIL $summary; $fail"
	exit 1
fi
echo "soak: PASS $summary"
