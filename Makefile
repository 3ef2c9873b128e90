# The two quick-start commands (README):
#   make run    install what building and running need (.ci/packages-run),
#               build the minimal preset (no tests or benchmarks), start
#               mshv-emu on its embedded default policy and print
#               mshv-probe's report of it; Ctrl-C stops it.
#   make check  set up, build (release, so -O2-only warnings fail too), and
#               run every test: unit and live, plain and under ASan+UBSan,
#               the stress driver and the live suites under ThreadSanitizer,
#               then the live suite against the CUSE front in a VM, each
#               fuzz target briefly, and the Debian packages (deb-check).
#               .ci/run calls it.
# CMake does the building; this file only strings the steps together.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PACKAGES_RUN := $(shell sed -e 's/\#.*//' .ci/packages-run)
PACKAGES := $(PACKAGES_RUN) $(shell sed -e 's/\#.*//' .ci/packages)
VM_TIMEOUT ?= 900
# `make test-vm VM_USER=nobody` runs the VM's live suite with every daemon
# under --user (the FUSE one does in every run: ctest's live-fuse-user).
VM_USER ?=
# Each suite runs REPEAT times in a row and must pass every time: a test
# that fails now and then fails CI too.  `make test REPEAT=20` hunts flakes.
REPEAT ?= 3
# ThreadSanitizer's runs are slower: once by default (make test-tsan TSAN_REPEAT=10).
TSAN_REPEAT ?= 1
# Seconds each fuzz target runs in `make fuzz-smoke`.
FUZZ_SECONDS ?= 10

.PHONY: setup setup-run build build-run run check test test-asan test-tsan test-vm bench bench-smoke fuzz-smoke deb-check clean

# Install what is missing (Debian 12, as root): setup-run, what building
# and running need (.ci/packages-run); setup, that and what the tests, the
# VM, the benchmarks and the fuzzers need (.ci/packages).
define install_missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'ok installed' || echo "$$p"; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "$@: installing" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

setup-run:
	$(call install_missing,$(PACKAGES_RUN))

setup:
	$(call install_missing,$(PACKAGES))

# The release build, with the tests and benchmarks (build/).
build: setup
	cmake --preset release >/dev/null
	cmake --build --preset release

# The programs alone (build-minimal/, docs/install.md).
build-run: setup-run
	cmake --preset minimal >/dev/null
	cmake --build --preset minimal

run: build-run
	@tmp=$$(mktemp -d); trap 'kill $$pid 2>/dev/null || true; wait $$pid 2>/dev/null || true; rm -rf "$$tmp"' EXIT; \
	mkfifo "$$tmp/ready"; \
	./build-minimal/bin/mshv-emu --ready-fd 3 3>"$$tmp/ready" & pid=$$!; \
	if ! read -r -t 10 word node <"$$tmp/ready"; then echo "run: mshv-emu did not become ready in 10 s" >&2; exit 1; fi; \
	./build-minimal/bin/mshv-probe --device "$$node"; \
	echo; echo "run: $$node is served by mshv-emu (pid $$pid); Ctrl-C stops it"; \
	wait $$pid

test: setup
	cmake --preset debug >/dev/null
	cmake --build --preset debug
	ctest --preset debug --repeat until-fail:$(REPEAT)

test-asan: setup
	cmake --preset asan >/dev/null
	cmake --build --preset asan
	ctest --preset asan --repeat until-fail:$(REPEAT)

# ThreadSanitizer (docs/tsan.md): the stress driver, and the live suites
# against the instrumented daemon and mshv-emu-run.  Not the criterion
# suites: criterion's runner cannot start under ThreadSanitizer.
test-tsan: setup
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan
	ctest --preset tsan --repeat until-fail:$(TSAN_REPEAT)

# The live suite against the CUSE front end, and mshv-emu-run --transport cuse
# and seccomp (tests/vm/transports.sh), in Debian's cloud kernel under qemu.
test-vm: build test
	tests/vm/run-vm.sh --build-dir build --timeout $(VM_TIMEOUT) \
		--copy policies:/policies --copy tests/vm/transports.sh:/bin/transports.sh \
		--copy /usr/bin/setpriv:/bin/setpriv \
		--env MSHV_EMU_FRONT=cuse --env MSHV_EMU_BIN=/bin/mshv-emu \
		--env MSHV_EMU_PROBE=/bin/mshv-probe --env MSHV_EMU_CTL=/bin/mshvctl \
		--env MSHV_EMU_POLICIES=/policies $(if $(VM_USER),--env MSHV_EMU_USER=$(VM_USER)) \
		-- /bin/sh -c '/bin/test-live --jobs 1 && /bin/transports.sh'

# The benchmark suite (docs/benchmarks.md): results, plot and tables in
# results/bench, a directory of their own (build/ is CMake's).
bench: build
	bench/run.py --build build --out results/bench

# Seconds long, every step once with small counts, no VM: keeps the suite
# building and working in CI.  It asserts no timing.
bench-smoke: build
	bench/run.py --build build --out results/bench-smoke --quick

# Each libFuzzer target (tests/fuzz, docs/fuzzing.md) for FUZZ_SECONDS on
# its corpus: a crash, a sanitizer report, a leak or a broken promise fails.
fuzz-smoke: setup
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz
	@for target in policy inject dispatch; do \
		log=build-fuzz/fuzz/$$target/smoke.log; mkdir -p "$${log%/*}"; \
		if ! tests/fuzz/run.sh $$target -max_total_time=$(FUZZ_SECONDS) -timeout=60 \
			-print_final_stats=1 >"$$log" 2>&1; then \
			tail -n 60 "$$log"; \
			echo "fuzz-smoke: $$target failed; its input is in build-fuzz/fuzz/$$target/ (docs/fuzzing.md)" >&2; \
			exit 1; \
		fi; \
		echo "fuzz-smoke: $$target: $$(sed -n 's/^stat::number_of_executed_units: *//p' "$$log") runs, nothing found"; \
	done

# The Debian packages (debian/, docs/install.md): built from a copy of the
# tree in a scratch directory, checked by lintian, unpacked into a scratch
# root (not installed on this machine) and run from there (tests/deb/check.sh).
deb-check: setup
	tests/deb/check.sh

check: build test test-asan test-tsan test-vm bench-smoke fuzz-smoke deb-check
	@echo "check: release build, unit, live (fuse), stress, ASan+UBSan, ThreadSanitizer, the CUSE VM run, the benchmark and fuzz smoke runs and the Debian packages all passed"

clean:
	rm -rf build build-debug build-asan build-tsan build-fuzz build-minimal
