#!/bin/bash
# kernel-header.sh CACHE: print the directory to pass with -I so that
# <linux/mshv.h> (Linux 6.15 and later) is found, or nothing when the
# system's own headers have it.  Debian 12's linux-libc-dev (6.1) has none,
# so this fetches a newer linux-libc-dev from Debian with apt-get download,
# through an apt configuration of its own under CACHE (the machine's apt
# sources are not touched), and keeps only linux/mshv.h, in
# CACHE/include/linux/mshv.h, for the next run.  Exits 77 (ctest's skip)
# saying why when neither is possible, e.g. with no network.
set -eu -o pipefail
cache=$1
cc=${CC:-cc}

if printf '#include <linux/mshv.h>\n' | "$cc" -E -x c - >/dev/null 2>&1; then
	exit 0 # the system has it
fi
if [ -s "$cache/include/linux/mshv.h" ]; then
	echo "$cache/include"
	exit 0
fi
skip() {
	echo "kernel-header: $*; skipping (install linux-libc-dev 6.15 or later, or" \
		"put linux/mshv.h in $cache/include/linux/)" >&2
	exit 77
}
command -v apt-get >/dev/null || skip "no <linux/mshv.h> here and no apt-get to fetch one"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || skip "no <linux/mshv.h> here and no $keyring to fetch one with"

apt="$cache/apt"
rm -rf "$apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
# Suites whose linux-libc-dev has linux/mshv.h: trixie's backports and
# unstable (the candidate is the newest of them).
for suite in trixie-backports sid; do
	echo "deb [signed-by=$keyring] http://deb.debian.org/debian $suite main"
done >"$apt/sources.list"
opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
	-o "Dir::State::status=$apt/status" -o APT::Sandbox::User=root -q)
: >"$apt/status"
if ! timeout 240 apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 ||
	grep -q '^[WE]: Failed to fetch' "$apt/update.log"; then
	sed -n 's/^[WE]: //p' "$apt/update.log" | head -3 >&2
	skip "no <linux/mshv.h> here, and apt-get update of ${apt}/sources.list failed"
fi
if ! (cd "$apt/deb" && timeout 240 apt-get "${opts[@]}" download linux-libc-dev) \
	>"$apt/download.log" 2>&1; then
	tail -n 3 "$apt/download.log" >&2
	skip "no <linux/mshv.h> here, and apt-get download linux-libc-dev failed"
fi
deb=$(ls "$apt"/deb/linux-libc-dev_*.deb)
mkdir -p "$apt/x"
dpkg-deb -x "$deb" "$apt/x"
[ -s "$apt/x/usr/include/linux/mshv.h" ] || skip "${deb##*/} has no linux/mshv.h"
mkdir -p "$cache/include/linux"
cp "$apt/x/usr/include/linux/mshv.h" "$cache/include/linux/mshv.h"
echo "kernel-header: linux/mshv.h from ${deb##*/}" >&2
rm -rf "$apt"
echo "$cache/include"
