#!/bin/bash
# version: every tool's --version prints "NAME VERSION" and nothing else,
# exits 0, and VERSION is project()'s in CMakeLists.txt (the one place it
# is written).  Usage: version.sh VERSION BINARY...
set -u
want=$1
shift
fail=0
errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT
for bin in "$@"; do
	name=${bin##*/}
	out=$("$bin" --version 2>"$errfile")
	status=$?
	err=$(cat "$errfile")
	if [ "$status" -ne 0 ] || [ "$out" != "$name $want" ] || [ -n "$err" ]; then
		echo "version: $bin --version: exit $status, stdout \"$out\", stderr \"$err\"; expected exit 0 and \"$name $want\" alone" >&2
		fail=1
	else
		echo "version: $name --version: $out"
	fi
done
exit $fail
