#!/bin/sh
# ci.sh - run a project's tests against an emulated /dev/mshv, in any CI
# that runs a shell (GitLab CI, Jenkins, Buildkite, a cron job).
# docs/ci.md explains each step; copy this file into your project.
#
#   ci.sh [CMD [ARGS...]]      default CMD: cargo test
#
# Environment (all optional):
#   MSHV_EMU_POLICY  the policy to serve (default: the installed microsoft.yaml)
#   MSHV_EMU_TRACE   where the transcript goes (default: mshv-trace.jsonl);
#                    kept when CMD fails, for the CI to archive, removed
#                    when it passes
#   MSHV_EMU_SRC     an mshv-emu source tree to build and install (as root,
#                    into /usr/local) when mshv-emu-run is not on PATH
#
# Exit status: CMD's (mshv-emu-run's: 1 when the run could not start, 2 for a
# usage error).
set -eu

prefix=/usr/local
if ! command -v mshv-emu-run >/dev/null 2>&1; then
	if [ -z "${MSHV_EMU_SRC:-}" ]; then
		echo "ci.sh: mshv-emu-run is not on PATH; install mshv-emu, or set" \
			"MSHV_EMU_SRC to its source tree to build it here" >&2
		exit 1
	fi
	# The build needs (Debian, Ubuntu): build-essential cmake pkg-config
	# libfuse3-dev liburcu-dev libcyaml-dev libyaml-dev libmd-dev libcap-dev.
	# No tests, benchmarks or man pages: criterion, umockdev and scdoc are
	# not needed.
	cmake -S "$MSHV_EMU_SRC" -B "$MSHV_EMU_SRC/build-ci" -DCMAKE_BUILD_TYPE=Release \
		-DMSHV_EMU_TESTS=OFF -DMSHV_EMU_BENCH=OFF -DMSHV_EMU_MAN=OFF
	cmake --build "$MSHV_EMU_SRC/build-ci" -j "$(nproc)"
	cmake --install "$MSHV_EMU_SRC/build-ci" --prefix "$prefix"
fi

policy=${MSHV_EMU_POLICY:-$prefix/share/mshv-emu/policies/microsoft.yaml}
trace=${MSHV_EMU_TRACE:-mshv-trace.jsonl}
[ $# -gt 0 ] || set -- cargo test

status=0
mshv-emu-run --policy "$policy" --hide-kvm --trace "$trace" -- "$@" || status=$?

if [ "$status" -eq 0 ]; then
	rm -f "$trace"
else
	echo "ci.sh: $* exited $status; every call to /dev/mshv is in $trace" \
		"(mshv-emu docs/faults.md, \"Reproducing a failure\")" >&2
fi
exit "$status"
