#!/bin/sh
# SPDX-License-Identifier: MIT
# rsyslog_unpack.sh DIR [PKG...]: Debian's rsyslog (and PKG..., e.g. rsyslog-openssl) unpacked
# into DIR with whichever of their libraries are not installed, for the tests and benchmarks
# that run rsyslogd as a peer. Debian's rsyslog conflicts with syslog-ng-core, which this
# project installs (.ci/deps), so it is fetched with apt-get download and unpacked with
# dpkg -x, never installed. Run it as DIR/usr/sbin/rsyslogd with
# LD_LIBRARY_PATH=DIR/usr/lib/<triplet> and -M DIR/usr/lib/<triplet>/rsyslog.
# Exits 0 when DIR holds a rsyslogd whose libraries all resolve (nothing fetched if it
# already does), 1 otherwise, with the reason on stderr.
set -eu

dir=$1
shift
pkgs="rsyslog $*"
stamp="$dir/.unpacked:$(echo "$pkgs" | tr ' ' ',')"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if [ ! -e "$stamp" ]; then
	apt-cache show rsyslog >/dev/null 2>&1 || as_root apt-get update -qq >&2
	want=$pkgs
	# Their libraries that are not installed (libestr0, libfastjson4, liblognorm5 on a bare
	# system) go into the same tree; alternatives (indented deeper) are skipped.
	for p in $pkgs; do
		for d in $(apt-cache depends "$p" | sed -n 's/^  Depends: \([^<]*\)$/\1/p'); do
			case " $want " in *" $d "*) continue ;; esac
			installed "$d" || want="$want $d"
		done
	done
	debs=$(mktemp -d)
	trap 'rm -rf "$debs"' EXIT
	echo "rsyslog_unpack: fetching $want into $dir" >&2
	(cd "$debs" && apt-get download $want >&2)
	mkdir -p "$dir"
	for p in "$debs"/*.deb; do dpkg -x "$p" "$dir"; done
	touch "$stamp"
fi
lib=$(echo "$dir"/usr/lib/*-linux-gnu)
if LD_LIBRARY_PATH=$lib ldd "$dir/usr/sbin/rsyslogd" | grep 'not found' >&2; then
	echo "rsyslog_unpack: rsyslogd lacks the libraries above" >&2
	exit 1
fi
