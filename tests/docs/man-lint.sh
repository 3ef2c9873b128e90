#!/bin/bash
# docs-man-lint: every generated man page is clean for both man page
# checkers a distribution runs: `mandoc -T lint -W warning` prints nothing,
# and man-db's rendering (groff, with its warnings on) writes nothing to
# stderr.
#
# Usage: man-lint.sh PAGE...
set -uo pipefail
for tool in mandoc man; do
	if ! command -v "$tool" >/dev/null; then
		echo "docs-man-lint: $tool is missing: install it (.ci/packages: mandoc, man-db)" >&2
		exit 1
	fi
done
failed=0
for page in "$@"; do
	if [ ! -s "$page" ]; then
		echo "docs-man-lint: $page: missing or empty (is the man-pages target built?)" >&2
		failed=1
		continue
	fi
	lint=$(mandoc -T lint -W warning "$page" 2>&1)
	if [ -n "$lint" ]; then
		echo "docs-man-lint: mandoc -T lint -W warning $page:" >&2
		echo "$lint" >&2
		failed=1
	fi
	warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	if [ -n "$warnings" ]; then
		echo "docs-man-lint: man --warnings -l $page:" >&2
		echo "$warnings" >&2
		failed=1
	fi
	# Rendered, the page has its sections and says something.
	for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		if ! MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q "^$section\$"; then
			echo "docs-man-lint: $page has no $section section" >&2
			failed=1
		fi
	done
done
[ "$failed" = 0 ] && echo "docs-man-lint: $# pages clean"
exit "$failed"
