#!/bin/sh
# tests/fuzz/run.sh TARGET [LIBFUZZER-OPTION...] - run one libFuzzer target
# of the fuzz preset (policy, inject or dispatch) on its corpus; docs/fuzzing.md.
#
# New inputs go to build-fuzz/fuzz/TARGET/corpus, crashes, timeouts and
# out-of-memory inputs to build-fuzz/fuzz/TARGET/ (crash-*, timeout-*,
# oom-*).  The committed seeds are read, never written: tests/fuzz/corpus/
# TARGET, and for the loader also policies/ and tests/policies/bad/.
# FUZZ_BUILD names another build directory.  The exit status is libFuzzer's:
# 0, or not 0 when it found something.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
if [ $# -lt 1 ]; then
	echo "usage: $0 policy|inject|dispatch [LIBFUZZER-OPTION...]" >&2
	exit 2
fi
target=$1
shift
case $target in
policy) seeds="$root/tests/fuzz/corpus/policy $root/policies $root/tests/policies/bad" ;;
inject | dispatch) seeds=$root/tests/fuzz/corpus/$target ;;
*)
	echo "$0: no target $target; use policy, inject or dispatch" >&2
	exit 2
	;;
esac
if [ ! -x "$build/bin/fuzz-$target" ]; then
	echo "$0: $build/bin/fuzz-$target is not built; run: cmake --preset fuzz && cmake --build --preset fuzz" >&2
	exit 2
fi
work=$build/fuzz/$target
mkdir -p "$work/corpus"
# shellcheck disable=SC2086 # the seed directories are split on purpose
exec "$build/bin/fuzz-$target" -artifact_prefix="$work/" "$@" "$work/corpus" $seeds
