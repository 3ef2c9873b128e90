#!/bin/bash
# tsan-reports.sh CMD [ARG...] - run CMD with ThreadSanitizer's reports, from
# every process it starts, written to files of their own; exit with CMD's
# status, or 1 if any process reported anything (the reports are printed).
#
# The live suites start instrumented daemons (mshv-emu, mshv-emu-run's
# device) from an uninstrumented client.  A daemon's report goes to its
# stderr, which the suite keeps in a log it shows only for a failing test,
# and its exit status 66 only fails the tests that check how it stopped:
# without this, most reports would pass unseen.  (docs/tsan.md)
set -u
dir=$(mktemp -d /tmp/mshv-tsan-XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$dir/report"
"$@"
status=$?
reports=("$dir"/report.*)
if [ -e "${reports[0]}" ]; then
	cat "${reports[@]}"
	echo "tsan-reports: ThreadSanitizer reported in ${#reports[@]} processes of \`$*\` (above);" \
		"each report names both accesses and their threads: make them ordered (a lock," \
		"an atomic), never suppress them" >&2
	exit 1
fi
exit "$status"
