#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_ingest.sh: sluiced against a raw receiver, rsyslog and syslog-ng on one TCP workload.
#
#   perf/bench_ingest.sh [--build DIR] [--runs N] [--duration S] [--targets LIST]
#                        [--sluiced-flags FLAGS] [--csv]
#   perf/bench_ingest.sh --runs 5 --csv > ingest.csv
#   perf/bench_ingest.sh --runs 1 --targets raw_recv,sluiced-null   (a quick try)
#
# The workload (the issue's): 100-byte lines, LF-framed, over 4 TCP connections on
# loopback, sent as fast as the receiver takes them for --duration seconds (default 3) by
# sluice-bench, the same sender for every receiver. A duration, not a count: the targets
# differ twentyfold in speed here, so a count that gives raw_recv 3 s would keep the peers
# for a minute; with a duration every run lasts at least 3 s and none much more. Targets,
# each run in turn within every run so that the ratios come from the same period of a
# noisy machine:
#   raw_recv      perf/raw_recv.c: epoll + recv + a memchr count of the LFs, one thread
#   sluiced-null  sluiced with its default flags (null sink)
#   sluiced-file  sluiced --sink file:DIR, default flags otherwise
# (--sluiced-flags adds flags to both sluiced targets, to compare settings; the issue's
# targets are judged with none. Not --key: see sluiced-file's end below.)
#   rsyslog       Debian's rsyslogd, perf/peers/rsyslog.conf (TCP in, file out)
#   syslog-ng     Debian's syslog-ng, perf/peers/syslog-ng.conf (TCP in, file out)
# The peers' settings are those files, unchanged on every machine (nothing is scaled to
# the core count): rsyslog imptcp with 2 threads, no DNS, a fixedArray ruleset queue of
# 250,000 with batches of 4096 and 1 worker, omfile with asyncWriting, a 256 KiB buffer and
# flushOnTXEnd; syslog-ng threaded, flags(no-parse), no DNS, flow-control, log-iw-size
# 160000 over max-connections 16, log-fetch-limit 10000, log-fifo-size 200000,
# flush-lines 1000. Each file's top comment says why.
# Debian's rsyslog conflicts with syslog-ng-core (a dependency of this project, .ci/deps),
# so tests/support/rsyslog_unpack.sh fetches it with apt-get download and unpacks it with
# dpkg -x into DIR/peers/rsyslog, with whichever of its libraries are not installed;
# syslog-ng-core is installed if missing.
#
# Timing, the same for every target: from the sender's first byte (its sending thread
# appearing in /proc, polled every 1 ms: sluice-bench connects first, then starts the
# thread, which sends at once) to the first poll, every 10 ms once the sender has ended,
# that finds the target's output holding every message sent (sluice-bench's `sent`):
#   raw_recv      it has exited: it stops once its 4 connections have all reached EOF
#                 (raw_recv --conns 4), so it has counted every byte
#   sluiced-null  sluice_worker_processed_total = sent: a null sink has no output, so its
#                 counter is the only thing to read
#   sluiced-file  sluice_sink_file_bytes_total holds every record: sent x (16-byte record
#                 header + 100-byte line) beyond 32 bytes per segment header and trailer
#                 (docs/file-format.md; a --key would add its bytes to each record)
#   peers         their output file holds sent x 101 bytes (wchar, then its size)
# The receiver's start-up is outside the clock; the sender's is too.
# Loss, from the outputs once the receiver has stopped: raw_recv's count of LFs, the
# records read back from the segments (sluice-cat DIR | wc -l), the peers' output lines
# (wc -l). sluiced-null has no output: its "stopped after ... processed" count. Every run
# must deliver every message sent: a run whose output falls short (no progress for 10 s
# after the sender ends) or takes over 120 s counts as failed, its shortfall goes to
# `lost`, and it is left out of the medians.
#
# CPU: user + system time of the receiver's threads (/proc/PID/task/*/stat utime + stime,
# clock ticks) from just before the sender starts to the end, over the messages sent;
# sluiced's slc-reactor-N and slc-worker-N threads are also summed apart (its other
# threads, metrics, controller, main, are in the total only). raw_recv reports its own
# (getrusage at exit: it has gone by the time /proc could be read), start-up included,
# which is a socket and a buffer. Peak RSS is VmHWM just before the receiver is stopped
# (raw_recv: its own ru_maxrss).
#
# Output: per target, the medians over the complete runs. ratio: the median over the runs
# of ours over the baseline in the same run (not the ratio of the medians: on a busy
# machine a slow spell hits one target of a run, and pairing within a run keeps that out
# of the ratio); sluiced-null's baseline is raw_recv (target >= 0.5), sluiced-file's the
# better of rsyslog and syslog-ng in that run (target >= 10; the column names the better
# by median). sluiced's peak RSS must stay under 64 MiB. --csv columns:
#   target, runs (complete ones), msgs (sent, median), lost (summed over failed runs),
#   seconds (median), msgs_per_s (median of sent / seconds), cpu_ns_per_msg (all threads),
#   reactor_cpu_ns_per_msg, worker_cpu_ns_per_msg (sluiced only), limit_cpu_ns_per_msg
#   (raw_recv's cpu_ns_per_msg, when it ran), rss_mib, baseline, ratio, target_ratio, met,
#   rss_met.
# CPU figures are in clock ticks (10 ms): a few hundredths of the CPU a run takes.
# Progress: stderr. Exit status: 0 when every run of every target completed; 1 otherwise
# or on bad usage.
set -u

build=build/release runs=3 duration=3 conns=4 csv=0 sluiced_flags=""
targets="raw_recv,sluiced-null,sluiced-file,rsyslog,syslog-ng"
timeout_s=120
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--runs) runs=$2; shift ;;
	--duration) duration=$2; shift ;;
	--targets) targets=$2; shift ;;
	--sluiced-flags) sluiced_flags=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_ingest: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
case "$runs,$duration" in *[!0-9,]*|0*|*,0*|,*|*,)
	echo "bench_ingest: --runs and --duration take numbers from 1" >&2; exit 1 ;;
esac
case " $sluiced_flags " in *" --key"*)
	echo "bench_ingest: no --key in --sluiced-flags: sluiced-file's end is found from the bytes a keyless record takes" >&2
	exit 1 ;;
esac
hz=$(getconf CLK_TCK) # the unit of /proc/PID/task/TID/stat's utime and stime
targets=${targets//,/ }
for t in $targets; do
	case $t in raw_recv|sluiced-null|sluiced-file|rsyslog|syslog-ng) ;;
	*) echo "bench_ingest: unknown target '$t'" >&2; exit 1 ;; esac
done
peers=$(cd "$(dirname "$0")/peers" && pwd)
for b in engine/sluiced engine/sluice-cat perf/sluice-bench perf/raw_recv; do
	[ -x "$build/$b" ] || { echo "bench_ingest: $build/$b missing: build first (--build DIR)" >&2; exit 1; }
done
build=$(cd "$build" && pwd)

tmp=$(mktemp -d /tmp/bench_ingest.XXXXXX)
pid="" spid="" # the receiver and the sender of the run under way
cleanup() {
	[ -n "$pid$spid" ] && kill -TERM $pid $spid 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkfifo "$tmp/nap" && exec {nap_fd}<>"$tmp/nap"
nap() { read -rt "$1" -u "$nap_fd" _; } # sleep without a fork: the fifo never has data
log() { echo "bench_ingest: $*" >&2; }

# --- peers: install what is missing (Debian packages only) -------------------------------
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_update() { [ $apt_updated -eq 1 ] || { as_root apt-get update -qq >&2 && apt_updated=1; }; }

rsyslog_dir=$build/peers/rsyslog
setup_rsyslog() {
	sh "$(dirname "$0")/../tests/support/rsyslog_unpack.sh" "$rsyslog_dir" || return 1
	rsyslog_lib=$(echo "$rsyslog_dir"/usr/lib/*-linux-gnu)
}
for t in $targets; do
	case $t in
	rsyslog) setup_rsyslog || { log "cannot set up rsyslog"; exit 1; } ;;
	syslog-ng) command -v syslog-ng >/dev/null || { apt_update && as_root env \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		syslog-ng-core >&2; } || { log "cannot install syslog-ng-core"; exit 1; } ;;
	esac
done

# --- probes: no fork while the receiver works (each would take CPU from it) ---------------
# Reads sluiced's metrics endpoint at port $1 once; sets m[FAMILY] to the sum of the
# samples of each family named in $2.. (0 when absent).
declare -A m
scrape() {
	local body="" line fd f port=$1 IFS
	shift
	for f; do m[$f]=0; done
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
	printf 'GET /metrics HTTP/1.0\r\n\r\n' >&"$fd"
	IFS= read -r -d "" -N 1048576 body <&"$fd" 2>/dev/null
	exec {fd}<&-
	IFS=$'\n'
	for line in $body; do
		for f; do
			case $line in "$f"['{ ']*[0-9]) m[$f]=$((m[$f] + 10#${line##* })) ;; esac
		done
	done
}
# The end probes: each sets val to how much of the output is there, in the unit of need.
# sluiced-null: messages processed (a null sink has no output but its counter).
probe_processed() { scrape "$mport" sluice_worker_processed_total; val=${m[sluice_worker_processed_total]}; }
# sluiced-file: bytes written to the segments, against what every message makes with no
# --key: a 16-byte record header and the 100-byte line without its LF (docs/file-format.md),
# plus 32 bytes for each segment's header and each full segment's trailer.
probe_file() {
	scrape "$mport" sluice_sink_file_bytes_total sluice_sink_file_segments_total \
		sluice_sink_file_rotations_total
	val=$((m[sluice_sink_file_bytes_total] - 32 * (m[sluice_sink_file_segments_total] + \
		m[sluice_sink_file_rotations_total])))
}
probe_exited() { if kill -0 "$pid" 2>/dev/null; then val=0; else val=$need; fi; }
# The bytes a peer has written (wchar, no fork); once that is enough, the output's size.
probe_peer() {
	local k v
	val=0
	while read -r k v; do [ "$k" = wchar: ] && val=$v; done <"/proc/$pid/io"
	[ "$val" -lt "$need" ] || val=$(stat -c %s "$out" 2>/dev/null || echo 0)
}
# Sets val to 1 once the sender's sending thread exists: sluice-bench connects, starts its
# threads, and they send at once (perf/sluice_bench.c), so this is its first byte to
# within the 1 ms poll. (send() is not counted in /proc/PID/io's wchar.)
probe_sending() {
	local tasks=(/proc/"$spid"/task/*)
	val=0
	if [ ${#tasks[@]} -gt 1 ]; then val=1; fi
}
# Sets cpu[all], cpu[reactor], cpu[worker] to the clock ticks (user + system) of process $1's
# threads, by thread name: slc-reactor-N and slc-worker-N are sluiced's.
declare -A cpu
cpu_ticks() {
	local f line rest a
	cpu=([all]=0 [reactor]=0 [worker]=0)
	for f in /proc/"$1"/task/*/stat; do
		read -r line <"$f" 2>/dev/null || continue
		rest=${line##*) } # the name may hold spaces and parentheses
		read -ra a <<<"$rest"
		cpu[all]=$((cpu[all] + a[11] + a[12]))
		case $line in
		*"(slc-reactor-"*) cpu[reactor]=$((cpu[reactor] + a[11] + a[12])) ;;
		*"(slc-worker-"*) cpu[worker]=$((cpu[worker] + a[11] + a[12])) ;;
		esac
	done
}
sender_ok() { # false once the sender has exited with an error
	if [ -z "$src" ] && ! kill -0 "$spid" 2>/dev/null; then wait "$spid"; src=$?; fi
	[ "${src:-0}" -eq 0 ]
}
# Runs probe $1 every $2 s until val >= $3. Gives up (1) when the sender fails, when val has
# not moved for 10 s after the sender ended (messages lost), or timeout_s after t0.
poll() {
	local last=-1 since=0 now
	while $1 && [ "$val" -lt "$3" ]; do
		now=${EPOCHREALTIME%.*}
		if [ "$val" != "$last" ] || kill -0 "$spid" 2>/dev/null; then last=$val since=$now; fi
		if [ $((now - since)) -ge 10 ] || [ $((now - ${t0%.*})) -ge $timeout_s ]; then return 1; fi
		sender_ok || return 1
		nap "$2"
	done
	[ "$val" -ge "$3" ] # not nap's status: it ends in a timeout
}

listening() { grep -q "0100007F:$(printf %04X "$1") 00000000:0000 0A" /proc/net/tcp; }
free_port() {
	local p
	while p=$((20000 + RANDOM % 40000)); listening "$p"; do :; done
	echo "$p"
}
await() { # waits up to 10 s for command "$1" to succeed while the receiver lives
	local _
	for _ in $(seq 200); do
		eval "$1" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		nap 0.05
	done
	return 1
}
hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null; }

# --- one run of one target: sets sent, got, secs, rss and the CPU ticks -------------------
run_target() {
	local t=$1 dir=$tmp/run port t_first t1 line body c0_all=0 c0_r=0 c0_w=0 end
	local out=$tmp/run/out/$t.log
	pid="" spid="" src="" mport="" sent=0 got=0 secs="" rss=0 need=0
	c_all="" c_r="" c_w=""
	rm -rf "$dir" && mkdir -p "$dir/out"
	case $t in
	raw_recv)
		"$build/perf/raw_recv" --conns "$conns" >"$dir/recv.log" 2>&1 &
		pid=$!
		await "grep -q '^listening on' '$dir/recv.log'" || return 1
		port=$(sed -n 's/^listening on //p' "$dir/recv.log") ;;
	sluiced-*)
		local sink=null
		[ "$t" = sluiced-file ] && sink=file:$dir/out
		# shellcheck disable=SC2086 # the flags are words
		"$build/engine/sluiced" --listen tcp://127.0.0.1:0 --metrics 127.0.0.1:0 --sink "$sink" \
			$sluiced_flags 2>"$dir/recv.log" &
		pid=$!
		await "grep -q 'ready:' '$dir/recv.log'" || return 1
		port=$(sed -n 's/.*listening on tcp:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$dir/recv.log")
		mport=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$dir/recv.log") ;;
	rsyslog)
		port=$(free_port)
		env LD_LIBRARY_PATH="$rsyslog_lib" SLC_PEER_PORT="$port" SLC_PEER_DIR="$dir" \
			SLC_PEER_OUT="$out" "$rsyslog_dir/usr/sbin/rsyslogd" -n \
			-f "$peers/rsyslog.conf" -i "$dir/rsyslogd.pid" -M "$rsyslog_lib/rsyslog" \
			>"$dir/recv.log" 2>&1 &
		pid=$!
		await "listening $port" || return 1 ;;
	syslog-ng)
		port=$(free_port)
		env SLC_PEER_PORT="$port" SLC_PEER_OUT="$out" syslog-ng -F --no-caps \
			-f "$peers/syslog-ng.conf" -p "$dir/syslog-ng.pid" -R "$dir/syslog-ng.persist" \
			-c "$dir/syslog-ng.ctl" >"$dir/recv.log" 2>&1 &
		pid=$!
		await "listening $port" || return 1 ;;
	esac
	# The daemons' CPU counts from here: what starting up took is left out.
	[ "$t" = raw_recv ] || { cpu_ticks "$pid"; c0_all=${cpu[all]} c0_r=${cpu[reactor]} c0_w=${cpu[worker]}; }

	t0=$EPOCHREALTIME
	"$build/perf/sluice-bench" --target "tcp://127.0.0.1:$port" --duration "$duration" \
		--connections "$conns" --size 100 --framing lines --quiet --json >"$dir/send.json" \
		2>"$dir/send.log" &
	spid=$!
	# The clock: from the sender's first byte (its sending thread appearing, polled every
	# 1 ms) to the first poll, every 10 ms once the sender is done, that finds the output
	# holding every message sent. The same two polls for every target.
	need=1
	poll probe_sending 0.001 1 || return 1
	t_first=$EPOCHREALTIME
	while kill -0 "$spid" 2>/dev/null; do nap 0.01; done
	sender_ok || { log "$t: the sender failed: $(tail -1 "$dir/send.log")"; return 1; }
	read -r -d "" body <"$dir/send.json"
	[[ $body =~ \"sent\":([0-9]+) ]] && sent=${BASH_REMATCH[1]}
	[ "$sent" -gt 0 ] || { log "$t: the sender sent nothing"; return 1; }
	case $t in
	raw_recv) need=$sent end=probe_exited ;;
	sluiced-null) need=$sent end=probe_processed ;;
	sluiced-file) need=$((sent * 116)) end=probe_file ;;
	*) need=$((sent * 101)) end=probe_peer ;; # LF-ended lines
	esac
	poll $end 0.01 "$need" && t1=$EPOCHREALTIME
	if [ "$t" != raw_recv ]; then
		cpu_ticks "$pid"
		c_all=$((cpu[all] - c0_all)) c_r=$((cpu[reactor] - c0_r)) c_w=$((cpu[worker] - c0_w))
		rss=$(hwm_kib "$pid")
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# Loss from the outputs, read once the receiver has stopped: raw_recv's count, the
	# segments read back, the peers' lines. A null sink has no output: its counter.
	case $t in
	raw_recv)
		line=$(tail -1 "$dir/recv.log")
		got=$(echo "$line" | sed -n 's/^lines=\([0-9]*\).*/\1/p')
		c_all=$(echo "$line" | sed -n 's/.* cpu_us=\([0-9]*\).*/\1/p')
		c_all=$(awk -v u="${c_all:-0}" -v hz="$hz" 'BEGIN { printf "%.2f", u * hz / 1e6 }')
		rss=$(echo "$line" | sed -n 's/.* rss_kib=\([0-9]*\).*/\1/p') ;;
	sluiced-null) got=$(sed -n 's/.*stopped after.* \([0-9]*\) processed.*/\1/p' "$dir/recv.log") ;;
	sluiced-file) got=$("$build/engine/sluice-cat" "$dir/out" 2>/dev/null | wc -l) ;;
	*) got=$(wc -l <"$out" 2>/dev/null || echo 0) ;;
	esac
	[ -n "${t1:-}" ] && secs=$(awk -v a="$t_first" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
	pid="" spid=""
	rm -rf "$dir"
	got=${got:-0} rss=${rss:-0}
}

# --- the runs: every target once per run, so that the ratios come from the same period -----
: >"$tmp/results"
fail=0
for r in $(seq "$runs"); do
	for t in $targets; do
		if ! run_target "$t"; then
			log "$t: no result: $(tail -2 "$tmp/run/recv.log" 2>/dev/null)"
			[ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null
			[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
			wait $pid $spid 2>/dev/null
			pid="" spid="" secs=""
		fi
		if [ "$sent" -gt 0 ] && [ "$got" -eq "$sent" ] && [ -n "$secs" ]; then
			echo "$t $r ok $sent $secs $rss $c_all $c_r $c_w" >>"$tmp/results"
			log "run $r/$runs $t: $got msgs in $secs s, $(awk -v n="$got" -v s="$secs" \
				'BEGIN { printf "%.0f", n / s }') msgs/s, peak RSS $((rss / 1024)) MiB"
		else
			echo "$t $r lost $((sent - got))" >>"$tmp/results"
			log "run $r/$runs $t: FAILED: $got of $sent messages in its output${secs:+ (after $secs s)}"
			fail=1
		fi
	done
done

# --- medians, ratios, report --------------------------------------------------------------
awk -v csv="$csv" -v hz="$hz" -v targets="$targets" -v nruns="$runs" '
function median(list,   a, n, i, j, v) {
	n = split(list, a, " ")
	if (n == 0) return ""
	for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j > 0 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function fmt(v, f) { return v == "" ? "" : sprintf(f, v) }
# Per-run ratio: ours over the baseline of the same run (for sluiced-file, the better peer
# of that run); the ratio reported is their median, which pairs runs of the same period.
function run_ratios(t, b1, b2,   r, list, b) {
	for (r = 1; r <= nruns; r++) {
		b = ok[b1, r] >= ok[b2, r] ? ok[b1, r] : ok[b2, r]
		if (ok[t, r] != "" && b != "")
			list = list " " ok[t, r] / b
	}
	return median(list)
}
function ns(ticks, n) { return ticks == "" ? "" : ticks * 1e9 / hz / n }
$3 == "lost" { lost[$1] += $4; next }
{
	t = $1; runs[t]++; ok[t, $2] = $4 / $5
	rate[t] = rate[t] " " $4 / $5; secs[t] = secs[t] " " $5; rss[t] = rss[t] " " $6 / 1024
	msgs[t] = msgs[t] " " $4; cpu[t] = cpu[t] " " ns($7, $4)
	if (t ~ /^sluiced/) { cr[t] = cr[t] " " ns($8, $4); cw[t] = cw[t] " " ns($9, $4) }
}
END {
	nt = split(targets, order, " ")
	for (i = 1; i <= nt; i++) {
		t = order[i]; ran[t] = 1; mr[t] = median(rate[t]); mm[t] = median(rss[t])
		ms[t] = median(secs[t]); mn[t] = median(msgs[t]); mc[t] = median(cpu[t])
		mcr[t] = median(cr[t]); mcw[t] = median(cw[t])
	}
	# A ratio only where its baseline was among the targets (failed in every run or not).
	# sluiced-file names the peer with the better median as its baseline.
	if (ran["rsyslog"] || ran["syslog-ng"]) {
		base["sluiced-file"] = mr["rsyslog"] + 0 >= mr["syslog-ng"] + 0 ? "rsyslog" : "syslog-ng"
		ratio["sluiced-file"] = run_ratios("sluiced-file", "rsyslog", "syslog-ng")
	}
	if (ran["raw_recv"]) {
		base["sluiced-null"] = "raw_recv"
		ratio["sluiced-null"] = run_ratios("sluiced-null", "raw_recv", "raw_recv")
	}
	want["sluiced-null"] = 0.5; want["sluiced-file"] = 10
	if (csv) print "target,runs,msgs,lost,seconds,msgs_per_s,cpu_ns_per_msg,reactor_cpu_ns_per_msg," \
		"worker_cpu_ns_per_msg,limit_cpu_ns_per_msg,rss_mib,baseline,ratio,target_ratio,met,rss_met"
	else printf "%-13s %4s %9s %6s %6s %11s %7s %7s %7s %7s %7s  %-10s %6s\n", "target", "runs",
		"msgs", "lost", "secs", "msgs/s", "cpu ns", "reactor", "worker", "limit", "RSS MiB",
		"baseline", "ratio"
	for (i = 1; i <= nt; i++) {
		t = order[i]; b = base[t]
		met[t] = b == "" ? "" : ratio[t] != "" && ratio[t] >= want[t] ? "yes" : "no"
		rmet[t] = t !~ /^sluiced/ ? "" : mm[t] != "" && mm[t] < 64 ? "yes" : "no"
		lim = ran["raw_recv"] ? mc["raw_recv"] : ""
		if (csv)
			printf "%s,%d,%s,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", t, runs[t],
				fmt(mn[t], "%.0f"), lost[t], fmt(ms[t], "%.3f"), fmt(mr[t], "%.0f"),
				fmt(mc[t], "%.1f"), fmt(mcr[t], "%.1f"), fmt(mcw[t], "%.1f"), fmt(lim, "%.1f"),
				fmt(mm[t], "%.1f"), b, fmt(ratio[t], "%.3f"), b == "" ? "" : want[t],
				met[t], rmet[t]
		else
			printf "%-13s %4d %9s %6d %6s %11s %7s %7s %7s %7s %7s  %-10s %6s\n", t, runs[t],
				fmt(mn[t], "%.0f"), lost[t], fmt(ms[t], "%.2f"), fmt(mr[t], "%.0f"),
				fmt(mc[t], "%.1f"), fmt(mcr[t], "%.1f"), fmt(mcw[t], "%.1f"), fmt(lim, "%.1f"),
				fmt(mm[t], "%.1f"), b, fmt(ratio[t], "%.3f")
	}
	if (csv) exit
	print ""
	for (i = 1; i <= nt; i++) {
		t = order[i]
		if (met[t] != "")
			printf "%s msgs/s >= %gx %s: %s (%sx, median of per-run ratios; medians %s vs %s)\n",
				t, want[t], t == "sluiced-file" ? "the better of rsyslog and syslog-ng" : base[t],
				met[t] == "yes" ? "met" : "NOT met", ratio[t] == "" ? "-" : fmt(ratio[t], "%.3f"),
				mr[t] == "" ? "-" : fmt(mr[t], "%.0f"), mr[base[t]] == "" ? "-" : fmt(mr[base[t]], "%.0f")
		if (rmet[t] != "")
			printf "%s peak RSS < 64 MiB at full load: %s (%s MiB)\n", t,
				rmet[t] == "yes" ? "met" : "NOT met", mm[t] == "" ? "-" : fmt(mm[t], "%.1f")
	}
}' "$tmp/results"
exit $fail
