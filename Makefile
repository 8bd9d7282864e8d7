# SPDX-License-Identifier: MIT
# Makefile: a thin front end over the CMake presets. The README's two commands are
# `make run` (install, build, run the main job) and `make check` (the whole test suite).

PRESETS_TESTED := release asan tsan

.PHONY: all deps build run check package fuzz-long fuzz-merge clean

all: build

deps:
	@sh .ci/deps

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release

# The main job: sluiced (null sink) on loopback, fed by sluice-bench for ten seconds.
run: build
	sh perf/main_job.sh build/release

# Unit, integration and stress tests in the release build, then under ASan+UBSan and TSan,
# then the fuzz targets (clang, libFuzzer), 20 s each. Three test executables at a
# time (most of a daemon test's time is waiting on the daemon: on 2 CPUs each stage takes
# a third of its serial time), two fuzz targets at a time (they are CPU-bound).
CHECK_JOBS ?= 3
FUZZ_JOBS ?= 2

check: deps
	@set -e; for p in $(PRESETS_TESTED); do \
		echo "== $$p"; \
		cmake --preset $$p >/dev/null; \
		cmake --build --preset $$p; \
		ctest --preset $$p --parallel $(CHECK_JOBS); \
	done
	@echo "== fuzz"
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz
	ctest --preset fuzz --parallel $(FUZZ_JOBS)

# Every fuzz target for 10 minutes instead of 20 s (the fuzz-long preset, its own build in
# build/fuzz-long), one after another. What the runs find stays in
# build/fuzz-long/tests/fuzz/corpus/; `make fuzz-merge` keeps what is new.
# The .deb (CPack; CMakeLists.txt says what it holds), in build/release/.
package: build
	cd build/release && cpack -G DEB

fuzz-long: deps
	cmake --preset fuzz-long >/dev/null
	cmake --build --preset fuzz-long
	ctest --preset fuzz-long

# Folds the corpora that fuzz runs grew in build/fuzz*/ into tests/fuzz/corpus/, minimized:
# an input is kept only if it reaches an edge the kept ones do not (set cover, edges only,
# not hit counts, so that the kept corpora stay small).
fuzz-merge:
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz
	@set -e; for d in tests/fuzz/corpus/*/; do \
		t=$$(basename $$d); \
		runs=$$(ls -d build/fuzz*/tests/fuzz/corpus/$$t 2>/dev/null); \
		[ -n "$$runs" ] || continue; \
		build/fuzz/tests/fuzz/fuzz_$$t -set_cover_merge=1 -use_counters=0 \
			tests/fuzz/corpus/$$t $$runs 2>&1 | grep -E '^MERGE-OUTER: [0-9]+ new files' \
			| sed "s/^/$$t: /" || true; \
	done

clean:
	rm -rf build
