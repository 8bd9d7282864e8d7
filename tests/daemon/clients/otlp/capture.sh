#!/bin/sh
# SPDX-License-Identifier: MIT
# capture.sh SRC OUT: installs the OTLP client (SRC: package.json, package-lock.json,
# capture.mjs) into OUT with npm ci, and runs it: OUT/capture holds the request bodies
# (capture.mjs says what). When the npm registry cannot be reached, OUT/registry-unreachable
# says so and the tests that read the capture fail with that reason; any other failure
# fails.
set -eu
src=$1
out=$2
rm -rf "$out/capture" "$out/registry-unreachable"
mkdir -p "$out"
cp "$src/package.json" "$src/package-lock.json" "$src/capture.mjs" "$out/"
cd "$out"
if ! npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1; then
	if ! npm ping >/dev/null 2>&1; then
		echo "npm registry unreachable (npm ping failed); npm ci said: $(tail -1 npm-ci.log)" \
			>registry-unreachable
		cat registry-unreachable
		exit 0
	fi
	cat npm-ci.log
	exit 1
fi
node capture.mjs capture 1000
