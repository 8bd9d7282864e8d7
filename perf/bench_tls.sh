#!/bin/bash
# SPDX-License-Identifier: MIT
# bench_tls.sh: tls:// against tcp:// on the same sluiced, same run: user-space TLS's cost.
#
#   perf/bench_tls.sh [--build DIR] [--runs N] [--duration S] [--connections C] [--size B]
#                     [--csv]
#   perf/bench_tls.sh --runs 3 --csv > tls.csv
#   perf/bench_tls.sh --runs 1 --duration 3          (a quick try)
#
# Makes a throwaway CA and server certificate (openssl), starts one sluiced --sink null with
# a tcp:// and a tls:// listener (framing lines), and sends it --size-byte lines (default
# 100) over --connections connections (default 4) for --duration s (default 4, at least 3)
# with sluice-bench, as fast as it takes them, plaintext and TLS (sluice-bench --tls
# --tls-ca, handshakes before the clock starts) one after the other: plaintext first on odd
# runs, TLS first on even ones, so that a machine slowing down favours neither.
# msgs_per_s is what sluiced processed (sluice_worker_processed_total over --metrics, which
# sluice-bench waits for). ratio (tls row) is the median over the runs of tls / plaintext of
# the same run; the plaintext row's ratio is plaintext / plaintext of the same runs. Issue
# 17's target for user-space TLS is >= 0.5. sluice-bench encrypts on the same machine: on a
# small one the client's cost is in the figure too.
#
# --csv columns: config, runs, connections, size, seconds, msgs_per_s, ratio. Progress on
# stderr. Exit status: 0, or 1 when a run failed.
set -u

build=build/release runs=3 duration=4 conns=4 size=100 csv=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--runs) runs=$2; shift ;;
	--duration) duration=$2; shift ;;
	--connections) conns=$2; shift ;;
	--size) size=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_tls: unknown option '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done
# shellcheck source=perf/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"
bl_setup bench_tls "$build" "$duration" || exit 1
trap bl_cleanup EXIT

(
	cd "$work" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
		-out ca.pem -days 2 -subj /CN=bench-ca &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key \
		-out srv.csr -subj /CN=localhost &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2
) >/dev/null 2>&1 || { echo "bench_tls: openssl could not make the certificates" >&2; exit 1; }

bl_start bench_tls --listen "tcp://127.0.0.1:0?framing=lines" \
	--listen "tls://127.0.0.1:0?framing=lines" --tls-cert "$work/srv.pem" \
	--tls-key "$work/srv.key" --metrics 127.0.0.1:0 --sink null || exit 1
tport=$(sed -n 's/.*listening on .*tls:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | head -1)

# One configuration against the running sluiced: its CSV row on stdout.
one() {
	local args=(--target "tcp://127.0.0.1:$port")
	[ "$1" = tls ] && args=(--tls --tls-ca "$work/ca.pem" --target "tcp://127.0.0.1:$tport")
	"$bench" "${args[@]}" --connections "$conns" --size "$size" --duration "$duration" \
		--metrics "http://127.0.0.1:$mport" --csv
}

fail=0
: >"$work/plain" && : >"$work/tls" && : >"$work/ratio" && : >"$work/one"
for r in $(seq "$runs"); do
	order="plaintext tls"
	[ $((r % 2)) -eq 0 ] && order="tls plaintext"
	p="" t=""
	for kind in $order; do
		echo "bench_tls: run $r/$runs: $kind" >&2
		if ! out=$(one "$kind"); then
			echo "bench_tls: run $r: $kind failed" >&2
			fail=1
			continue
		fi
		hdr=$(echo "$out" | head -1) line=$(echo "$out" | tail -1)
		v=$(col processed_msgs_per_s "$line")
		echo "$v $(col seconds "$line")" >>"$work/$([ "$kind" = tls ] && echo tls || echo plain)"
		if [ "$kind" = tls ]; then t=$v; else p=$v; fi
	done
	if [ -n "$p" ] && [ -n "$t" ]; then
		awk -v t="$t" -v p="$p" 'BEGIN { if (p > 0) printf "%.3f\n", t / p }' >>"$work/ratio"
		awk -v p="$p" 'BEGIN { if (p > 0) printf "%.3f\n", p / p }' >>"$work/one"
	fi
	echo "bench_tls: run $r: plaintext ${p:-?} msgs/s, tls ${t:-?} msgs/s" >&2
done
bl_stop || fail=1

m() { awk -v c="$2" '{ print $c }' "$1" | median; }
np=$(wc -l <"$work/plain") nt=$(wc -l <"$work/tls")
if [ "$csv" = 1 ]; then
	echo "config,runs,connections,size,seconds,msgs_per_s,ratio"
	echo "plaintext,$np,$conns,$size,$(m "$work/plain" 2),$(m "$work/plain" 1),$(median <"$work/one")"
	echo "tls,$nt,$conns,$size,$(m "$work/tls" 2),$(m "$work/tls" 1),$(median <"$work/ratio")"
else
	printf '%-10s %5s %12s %7s\n' config runs msgs/s ratio
	printf '%-10s %5s %12s %7s\n' plaintext "$np" "$(m "$work/plain" 1)" "$(median <"$work/one")"
	printf '%-10s %5s %12s %7s\n' tls "$nt" "$(m "$work/tls" 1)" "$(median <"$work/ratio")"
fi
exit $fail
