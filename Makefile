# SPDX-License-Identifier: MIT
# Makefile: a thin front end over the CMake presets. The README's two commands are
# `make run` (install, build, run the main job) and `make check` (the whole test suite).

PRESETS_TESTED := release asan tsan

.PHONY: all deps build run check clean

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
# then the fuzz targets (clang, libFuzzer), 20 s each.
check: deps
	@set -e; for p in $(PRESETS_TESTED); do \
		echo "== $$p"; \
		cmake --preset $$p >/dev/null; \
		cmake --build --preset $$p; \
		ctest --preset $$p; \
	done
	@echo "== fuzz"
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz
	ctest --preset fuzz

clean:
	rm -rf build
