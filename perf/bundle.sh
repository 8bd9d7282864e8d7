#!/bin/bash
# SPDX-License-Identifier: MIT
# bundle.sh: the benchmarks and their peers, with every library they load, in one folder
# that runs on a machine without our packages (a bigger box to measure scaling on).
#
#   perf/bundle.sh [--build DIR] OUT
#   perf/bundle.sh --build build/release /tmp/sluice-bundle
#   # on the other machine, from a checkout of the same commit:
#   PATH=/tmp/sluice-bundle/pbin:$PATH perf/bench_ingest.sh --build /tmp/sluice-bundle/build
#   perf/bench_scale.sh --build /tmp/sluice-bundle/build --csv   (sluiced and sluice-bench)
#
# OUT/bin holds sluiced, sluice-cat, sluice-bench, raw_recv, bench_engine, bench_controller, syslog-ng
# and rsyslogd; OUT/lib every shared library they and the peers' modules load, glibc and
# its loader included, so the distribution over there does not matter (x86-64 Linux, and
# io_uring for sluiced). Each program runs through a wrapper that starts it with the
# carried loader and OUT/lib alone:
#   OUT/build   a --build folder for bench_ingest.sh, bench_scale.sh, bench_engine and
#               bench_controller
#               (engine/sluiced, perf/..., peers/rsyslog/usr/sbin/rsyslogd)
#   OUT/pbin    syslog-ng, for the front of PATH (bench_ingest.sh looks it up there)
# The peers come from this machine: a short bench_ingest.sh run sets them up first
# (installs syslog-ng-core if missing, unpacks rsyslog into BUILD/peers/rsyslog).
# About 35 MiB. Exit status: 0, or 1 with a message.
set -eu

build=build/release
while [ $# -gt 1 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || { sed -n '3,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 1; }
out=$1
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "bundle: $*" >&2; exit 1; }
for b in engine/sluiced engine/sluice-cat perf/sluice-bench perf/raw_recv perf/bench_engine perf/bench_controller; do
	[ -x "$build/$b" ] || die "$build/$b missing: build first (--build DIR)"
done
build=$(cd "$build" && pwd)

"$here/bench_ingest.sh" --build "$build" --runs 1 --duration 1 --targets rsyslog,syslog-ng \
	>/dev/null 2>&1 || die "setting up the peers failed: run perf/bench_ingest.sh --targets rsyslog,syslog-ng"
ng_modules=$(syslog-ng --version | sed -n 's/^Module-Directory: *//p')
rs=$build/peers/rsyslog
rs_lib=$(echo "$rs"/usr/lib/*-linux-gnu)
[ -d "$ng_modules" ] && [ -x "$rs/usr/sbin/rsyslogd" ] || die "the peers are not where bench_ingest.sh puts them"

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib/syslog-ng" "$out/build/engine" "$out/build/perf" "$out/pbin" \
	"$out/build/peers/rsyslog/usr/sbin" "$out/build/peers/rsyslog/usr/lib/x86_64-linux-gnu"
cp "$build/engine/sluiced" "$build/engine/sluice-cat" "$build/perf/sluice-bench" "$build/perf/raw_recv" \
	"$build/perf/bench_engine" "$build/perf/bench_controller" "$(command -v syslog-ng)" \
	"$rs/usr/sbin/rsyslogd" "$out/bin/"
cp "$ng_modules"/*.so "$out/lib/syslog-ng/"
cp -r "$rs_lib/rsyslog" "$out/build/peers/rsyslog/usr/lib/x86_64-linux-gnu/rsyslog"
cp -L "$rs_lib"/*.so.* "$out/lib/" # rsyslog's own libraries that the system lacked

# Every library any of them loads, as this machine resolves it.
for f in "$out"/bin/* "$out"/lib/syslog-ng/*.so "$out"/build/peers/rsyslog/usr/lib/*/rsyslog/*.so; do
	LD_LIBRARY_PATH="$out/lib" ldd "$f" 2>/dev/null |
		awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'
done | sort -u | while read -r lib; do cp -L -n "$lib" "$out/lib/"; done
[ -e "$out/lib/ld-linux-x86-64.so.2" ] || die "no ld-linux-x86-64.so.2 among the libraries"

wrapper() { # wrapper PATH PROGRAM [ARGS]: runs OUT/bin/PROGRAM through the carried loader
	cat >"$1" <<EOF
#!/bin/sh
# perf/bundle.sh: $2 with the bundle's loader and libraries, whatever the host has
r=\$(cd "\$(dirname "\$0")" && pwd)
while [ ! -e "\$r/lib/ld-linux-x86-64.so.2" ]; do
	[ "\$r" != / ] || { echo "\$0: no lib/ld-linux-x86-64.so.2 above it" >&2; exit 127; }
	r=\$(dirname "\$r")
done
exec "\$r/lib/ld-linux-x86-64.so.2" --library-path "\$r/lib" "\$r/bin/$2" ${3:-} "\$@"
EOF
	chmod +x "$1"
}
wrapper "$out/build/engine/sluiced" sluiced
wrapper "$out/build/engine/sluice-cat" sluice-cat # bench_ingest.sh reads the segments back
for p in sluice-bench raw_recv bench_engine bench_controller; do
	wrapper "$out/build/perf/$p" "$p"
done
wrapper "$out/build/peers/rsyslog/usr/sbin/rsyslogd" rsyslogd
wrapper "$out/pbin/syslog-ng" syslog-ng '--module-path="$r/lib/syslog-ng"'
"$out/build/engine/sluiced" --version >/dev/null || die "the bundled sluiced does not run here"
echo "bundle: $out ($(du -sh "$out" | cut -f1)); on the other machine:"
echo "  PATH=$out/pbin:\$PATH perf/bench_ingest.sh --build $out/build"
echo "  perf/bench_scale.sh --build $out/build --csv"
