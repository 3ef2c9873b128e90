#!/bin/bash
# docs-citations: no tracked file cites a document outside the project.
# The docs, the shipped policies, the sources and the tests must say the
# fact itself or point at a project file (docs/abi.md, docs/architecture.md,
# ...): a reader of the project, or of an installed copy, has nothing else.
#
# Usage: citations.sh SOURCE_DIR
# Lists the tracked files (git ls-files; every file but build trees when the
# source is not a git checkout, as in an unpacked tarball) and fails naming
# each FILE:LINE that cites one.  The patterns are written so that this file
# does not match itself.
set -euo pipefail
src=${1:?usage: citations.sh SOURCE_DIR}
cd "$src"
pattern='DESIGN[.]md|ROOT-ABI[.]md|[.][.]/shared'
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	list() { git ls-files -z; }
else
	list() { find . -path './build*' -prune -o -path './.git' -prune -o -type f -print0; }
fi
hits=$(list | xargs -0 grep -nIE "$pattern" -- 2>/dev/null || true)
if [ -n "$hits" ]; then
	echo "docs-citations: these lines cite files outside the project;" \
		"write the fact itself or point at a project doc (docs/abi.md, docs/architecture.md):" >&2
	echo "$hits" >&2
	exit 1
fi
echo "docs-citations: $(list | tr -cd '\0' | wc -c) files, none cites a file outside the project"
