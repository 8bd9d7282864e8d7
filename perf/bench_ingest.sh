#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_ingest.sh: sluiced against a raw receiver, rsyslog and syslog-ng on one TCP workload.
#
#   perf/bench_ingest.sh [--build DIR] [--runs N] [--count N] [--targets LIST]
#                        [--sluiced-flags FLAGS] [--csv]
#   perf/bench_ingest.sh --build /tmp/h12 --runs 5 --csv > ingest.csv
#   perf/bench_ingest.sh --targets raw_recv,sluiced-null --count 200000   (a quick try:
#       timings are coarse when a run lasts well under a second)
#
# The workload (the issue's): --count 100-byte lines (default 2,000,000), LF-framed, over 4
# TCP connections on loopback, sent as fast as possible by sluice-bench, the same sender
# for every receiver. Targets, each run in turn within every run so that the ratios come
# from the same period of a noisy machine:
#   raw_recv      perf/raw_recv.c: epoll + recv + a memchr count of the LFs, one thread
#   sluiced-null  sluiced with its default flags (null sink)
#   sluiced-file  sluiced --sink file:DIR, default flags otherwise
# (--sluiced-flags adds flags to both sluiced targets, to compare settings; the issue's
# targets are judged with none.)
#   rsyslog       Debian's rsyslogd, perf/peers/rsyslog.conf (TCP in, file out)
#   syslog-ng     Debian's syslog-ng, perf/peers/syslog-ng.conf (TCP in, file out)
# Debian's rsyslog conflicts with syslog-ng-core (a dependency of this project, .ci/deps),
# so it is fetched with apt-get download and unpacked with dpkg -x into DIR/peers/rsyslog,
# with whichever of its libraries are not installed; syslog-ng-core is installed if missing.
#
# msgs/s is the count over the time from the receiver's first byte to the moment it has the
# last message: raw_recv times itself; sluiced's metrics are scraped (received bytes every
# 2 ms for the start, processed messages every 10 ms for the end); rsyslog and syslog-ng
# start at their first write and end at their output's last write (mtime) once it holds
# the count, as does sluiced-file (newest segment). Not from the sender's start: starting
# sluice-bench took 30 to 60 ms here, a tenth of sluiced's run. The peers' first
# write comes a little after their first byte, which if anything favours them. Peak RSS is
# VmHWM just before the receiver is stopped (raw_recv reports its own). Every run must
# deliver exactly the count: a run that loses messages (no progress for 10 s after the
# sender ends) or takes over 120 s counts as failed and is left out of the medians.
#
# Output: per target, the medians over the complete runs. ratio: the median over the runs
# of ours over the baseline in the same run (not the ratio of the medians: on a busy
# machine a slow spell hits one target of a run, and pairing within a run keeps that out
# of the ratio); sluiced-null's baseline is raw_recv (target >= 0.5), sluiced-file's the
# better of rsyslog and syslog-ng in that run (target >= 10; the column names the better
# by median). sluiced's peak RSS must stay under 64 MiB. --csv columns: target,runs,msgs,
# lost,msgs_per_s,rss_mib,baseline,ratio,target_ratio,met,rss_met. Progress: stderr.
# Exit status: 0 when every run of every target completed; 1 otherwise or on bad usage.
set -u

build=build/release runs=3 count=2000000 csv=0 sluiced_flags=""
targets="raw_recv,sluiced-null,sluiced-file,rsyslog,syslog-ng"
timeout_s=120
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--runs) runs=$2; shift ;;
	--count) count=$2; shift ;;
	--targets) targets=$2; shift ;;
	--sluiced-flags) sluiced_flags=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_ingest: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
case "$runs,$count" in *[!0-9,]*|0*|*,0*|,*|*,)
	echo "bench_ingest: --runs and --count take numbers from 1" >&2; exit 1 ;;
esac
targets=${targets//,/ }
for t in $targets; do
	case $t in raw_recv|sluiced-null|sluiced-file|rsyslog|syslog-ng) ;;
	*) echo "bench_ingest: unknown target '$t'" >&2; exit 1 ;; esac
done
peers=$(cd "$(dirname "$0")/peers" && pwd)
for b in engine/sluiced perf/sluice-bench perf/raw_recv; do
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
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

rsyslog_dir=$build/peers/rsyslog
setup_rsyslog() {
	local pkgs="rsyslog" p
	if [ ! -x "$rsyslog_dir/usr/sbin/rsyslogd" ]; then
		apt-cache show rsyslog >/dev/null 2>&1 || apt_update || return 1
		# Its libraries that are not installed (libestr0, libfastjson4, liblognorm5 on a
		# bare system) go into the same tree; the alternatives (indented) are skipped.
		for p in $(apt-cache depends rsyslog | sed -n 's/^  Depends: \([^<]*\)$/\1/p'); do
			installed "$p" || pkgs="$pkgs $p"
		done
		log "fetching $pkgs into $rsyslog_dir"
		mkdir -p "$rsyslog_dir" "$tmp/debs"
		(cd "$tmp/debs" && apt-get download $pkgs >&2) || return 1
		for p in "$tmp"/debs/*.deb; do dpkg -x "$p" "$rsyslog_dir" || return 1; done
		rm -rf "$tmp/debs"
	fi
	rsyslog_lib=$(echo "$rsyslog_dir"/usr/lib/*-linux-gnu)
	if LD_LIBRARY_PATH=$rsyslog_lib ldd "$rsyslog_dir/usr/sbin/rsyslogd" | grep 'not found' >&2; then
		log "rsyslogd lacks the libraries above"
		return 1
	fi
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
# Sets val to the sum of the samples of metric $2 on sluiced's endpoint at port $1.
scrape() {
	local body="" line fd IFS
	val=0
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	printf 'GET /metrics HTTP/1.0\r\n\r\n' >&"$fd"
	IFS= read -r -d "" -N 1048576 body <&"$fd" 2>/dev/null
	exec {fd}<&-
	IFS=$'\n'
	for line in $body; do
		case $line in "$2"['{ ']*[0-9]) val=$((val + 10#${line##* })) ;; esac
	done
}
probe_received() { scrape "$mport" sluice_received_bytes_total; }
probe_processed() { scrape "$mport" sluice_worker_processed_total; }
probe_exited() { if kill -0 "$pid" 2>/dev/null; then val=0; else val=1; fi; }
# The bytes a peer has written (wchar, no fork); once that is enough, the output's size.
probe_peer() {
	local k v
	val=0
	while read -r k v; do [ "$k" = wchar: ] && val=$v; done <"/proc/$pid/io"
	[ "$val" -lt "$need" ] || val=$(stat -c %s "$out" 2>/dev/null || echo 0)
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
newest_mtime() { stat -c %.6Y "$@" 2>/dev/null | sort -n | tail -1; }

# --- one run of one target: sets got, secs and rss ----------------------------------------
run_target() {
	local t=$1 dir=$tmp/run port first t_first t1 line
	local out=$tmp/run/out/$t.log need=$((count * 101)) # the peers' output: LF-ended lines
	pid="" spid="" src="" mport="" got=0 secs="" rss=0
	rm -rf "$dir" && mkdir -p "$dir/out"
	case $t in
	raw_recv)
		"$build/perf/raw_recv" --expect "$count" >"$dir/recv.log" 2>&1 &
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
			SLC_PEER_OUT="$dir/out/rsyslog.log" "$rsyslog_dir/usr/sbin/rsyslogd" -n \
			-f "$peers/rsyslog.conf" -i "$dir/rsyslogd.pid" -M "$rsyslog_lib/rsyslog" \
			>"$dir/recv.log" 2>&1 &
		pid=$!
		await "listening $port" || return 1 ;;
	syslog-ng)
		port=$(free_port)
		env SLC_PEER_PORT="$port" SLC_PEER_OUT="$dir/out/syslog-ng.log" syslog-ng -F --no-caps \
			-f "$peers/syslog-ng.conf" -p "$dir/syslog-ng.pid" -R "$dir/syslog-ng.persist" \
			-c "$dir/syslog-ng.ctl" >"$dir/recv.log" 2>&1 &
		pid=$!
		await "listening $port" || return 1 ;;
	esac

	t0=$EPOCHREALTIME
	"$build/perf/sluice-bench" --target "tcp://127.0.0.1:$port" --count "$count" --connections 4 \
		--size 100 --framing lines --quiet >"$dir/send.log" 2>&1 &
	spid=$!
	# The clock starts at the receiver's first byte, not at t0: starting the sender took
	# 30 to 60 ms here, a tenth of sluiced's run. raw_recv times itself; sluiced's
	# received bytes and the peers' first write (a little after their first byte) are
	# polled every 2 ms.
	case $t in
	sluiced-*) first=probe_received ;;
	rsyslog|syslog-ng) first=probe_peer ;;
	*) first="" ;;
	esac
	if [ -n "$first" ]; then
		$first
		poll $first 0.002 $((val + 1))
		t_first=$EPOCHREALTIME
	fi
	case $t in
	raw_recv) poll probe_exited 0.01 1 ;;
	sluiced-*)
		poll probe_processed 0.01 "$count"
		t1=$EPOCHREALTIME
		[ "$t" = sluiced-file ] && t1=$(newest_mtime "$dir"/out/*.seg)
		rss=$(hwm_kib "$pid") ;;
	rsyslog|syslog-ng)
		poll probe_peer 0.1 "$need"
		t1=$(newest_mtime "$out")
		rss=$(hwm_kib "$pid")
		got=$(wc -l <"$out" 2>/dev/null || echo 0) ;;
	esac
	sender_ok || log "$t: the sender failed: $(tail -1 "$dir/send.log")"
	kill -TERM "$spid" "$pid" 2>/dev/null
	wait "$spid" "$pid" 2>/dev/null
	case $t in
	raw_recv)
		line=$(tail -1 "$dir/recv.log")
		got=$(echo "$line" | sed -n 's/^lines=\([0-9]*\).*/\1/p')
		secs=$(echo "$line" | sed -n 's/.* seconds=\([0-9.]*\).*/\1/p')
		rss=$(echo "$line" | sed -n 's/.* rss_kib=\([0-9]*\).*/\1/p') ;;
	sluiced-*) got=$(sed -n 's/.*stopped after.* \([0-9]*\) processed.*/\1/p' "$dir/recv.log") ;;
	esac
	[ -n "$secs" ] || secs=$(awk -v a="$t_first" -v b="${t1:-$t_first}" 'BEGIN { printf "%.6f", b - a }')
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
			log "$t did not start: $(tail -2 "$tmp/run/recv.log" 2>/dev/null)"
			[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
			pid=""
		fi
		if [ "$got" -eq "$count" ] && awk -v s="$secs" 'BEGIN { exit !(s > 0) }'; then
			echo "$t $r ok $got $secs $rss" >>"$tmp/results"
			log "run $r/$runs $t: $got msgs in $secs s, $(awk -v n="$got" -v s="$secs" \
				'BEGIN { printf "%.0f", n / s }') msgs/s, peak RSS $((rss / 1024)) MiB"
		else
			echo "$t $r lost $((count - got))" >>"$tmp/results"
			if [ "$got" -eq "$count" ]; then
				log "run $r/$runs $t: FAILED: all $count messages, but in too short a time to measure (${secs:-0} s): raise --count"
			else
				log "run $r/$runs $t: FAILED: $got of $count messages"
			fi
			fail=1
		fi
	done
done

# --- medians, ratios, report --------------------------------------------------------------
awk -v csv="$csv" -v count="$count" -v targets="$targets" -v nruns="$runs" '
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
$3 == "lost" { lost[$1] += $4; next }
{ runs[$1]++; ok[$1, $2] = $4 / $5; rate[$1] = rate[$1] " " $4 / $5; rss[$1] = rss[$1] " " $6 / 1024 }
END {
	nt = split(targets, order, " ")
	for (i = 1; i <= nt; i++) { t = order[i]; ran[t] = 1; mr[t] = median(rate[t]); mm[t] = median(rss[t]) }
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
	if (csv) print "target,runs,msgs,lost,msgs_per_s,rss_mib,baseline,ratio,target_ratio,met,rss_met"
	else printf "%-13s %4s %8s %12s %8s  %-10s %6s\n", "target", "runs", "lost", "msgs/s",
		"RSS MiB", "baseline", "ratio"
	for (i = 1; i <= nt; i++) {
		t = order[i]; b = base[t]
		met[t] = b == "" ? "" : ratio[t] != "" && ratio[t] >= want[t] ? "yes" : "no"
		rmet[t] = t !~ /^sluiced/ ? "" : mm[t] != "" && mm[t] < 64 ? "yes" : "no"
		if (csv)
			printf "%s,%d,%d,%d,%s,%s,%s,%s,%s,%s,%s\n", t, runs[t], count, lost[t],
				fmt(mr[t], "%.0f"), fmt(mm[t], "%.1f"), b, fmt(ratio[t], "%.3f"), b == "" ? "" : want[t],
				met[t], rmet[t]
		else
			printf "%-13s %4d %8d %12s %8s  %-10s %6s\n", t, runs[t], lost[t],
				fmt(mr[t], "%.0f"), fmt(mm[t], "%.1f"), b, fmt(ratio[t], "%.3f")
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
