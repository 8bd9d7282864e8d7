#!/bin/sh
# SPDX-License-Identifier: MIT
# test_package.sh BUILD_DIR PREFIX: builds the .deb (cpack -G DEB) from BUILD_DIR, checks
# what it holds and declares, unpacks it (dpkg -x) into a scratch root and runs sluiced
# from there. Exit 77 (skipped) only without dpkg-deb: not a Debian system.
set -eu
build=$1
prefix=$2
command -v dpkg-deb >/dev/null 2>&1 || { echo "skipped: no dpkg-deb"; exit 77; }
tmp=$(mktemp -d /tmp/sluice-package-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_package: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$tmp/out") >"$tmp/cpack.log" 2>&1 ||
	{ cat "$tmp/cpack.log" >&2; fail "cpack failed"; }
set -- "$tmp"/out/*.deb
[ $# -eq 1 ] && [ -f "$1" ] || fail "no .deb made: $(ls "$tmp/out")"
deb=$1
dpkg-deb -c "$deb" >"$tmp/contents"
for f in bin/sluiced bin/sluice-cat bin/sluice-bench share/man/man8/sluiced.8 \
	share/man/man1/sluice-cat.1 share/man/man1/sluice-bench.1 lib/systemd/system/sluiced.service; do
	grep -q "\.$prefix/$f\$" "$tmp/contents" || fail "the .deb lacks $prefix/$f"
done
for d in liburing librdkafka libmicrohttpd libhwloc; do
	dpkg-deb -f "$deb" Depends | grep -q "$d" || fail "Depends lacks $d: $(dpkg-deb -f "$deb" Depends)"
done
dpkg-deb -e "$deb" "$tmp/control"
[ -x "$tmp/control/postinst" ] || fail "no postinst"
grep -q "adduser --system" "$tmp/control/postinst" || fail "postinst adds no user"
dpkg -x "$deb" "$tmp/root"
"$tmp/root$prefix/bin/sluiced" --version | grep -q "^sluiced [0-9]" || fail "sluiced --version"
"$tmp/root$prefix/bin/sluice-cat" --help | grep -q "follow" || fail "sluice-cat --help"
"$tmp/root$prefix/bin/sluice-bench" --help | grep -q "verify" || fail "sluice-bench --help"
grep -q "^ExecStart=$prefix/bin/sluiced " "$tmp/root$prefix/lib/systemd/system/sluiced.service" ||
	fail "the unit does not start $prefix/bin/sluiced"
echo "test_package: ok ($(basename "$deb"))"
