#!/bin/bash
# tests/deb/check.sh [SOURCE_DIR]: `make deb-check`.  Builds the Debian
# packages (debian/) with `dpkg-buildpackage -b -us -uc` from a copy of the
# tree in a scratch directory (the tree gets no debian/ build files),
# checks them with lintian (a warning fails; debian/*.lintian-overrides
# explains the ones that stay) and that apt-get could install them (a
# simulation), unpacks them into a scratch root with
# dpkg -x (the machine's own packages are not touched), and runs what they
# installed there: mshv-emu --check on every installed policy, man on every
# man page, mshv-emu-run
# finding its shim in the multiarch library directory and serving
# mshv-probe, and a client of the -dev package's header through its
# mshv-emu.pc.
set -eu -o pipefail
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say() { echo "deb-check: $*"; }
die() {
	echo "deb-check: $*" >&2
	exit 1
}
for tool in dpkg-buildpackage dh lintian fakeroot; do
	command -v $tool >/dev/null || die "$tool is missing: make setup installs it (.ci/packages)"
done

version=$(sed -n 's/^project(mshv-emu VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
changelog=$(cd "$src" && dpkg-parsechangelog -S Version)
[ "$version" = "$changelog" ] ||
	die "debian/changelog is at $changelog, CMakeLists.txt's project() at $version: add a debian/changelog entry (dch -v $version)"

# The tree as git sees it (tracked, and new files not ignored), without
# build directories or results.
tree=$tmp/mshv-emu-$version
mkdir -p "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' |
		tar --null -T - -cf -) | tar -xf - -C "$tree"
else
	tar -C "$src" --exclude='./build*' --exclude=./results --exclude=./.git -cf - . |
		tar -xf - -C "$tree"
fi

say "building the packages in $tree"
if ! (cd "$tree" && nice -n 10 dpkg-buildpackage -b -us -uc -j2) >"$tmp/build.log" 2>&1; then
	tail -n 60 "$tmp/build.log" >&2
	die "dpkg-buildpackage failed (above)"
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
debs=("$tmp/mshv-emu_${version}_$arch.deb" "$tmp/mshv-emu-dev_${version}_all.deb")
for deb in "${debs[@]}"; do
	[ -f "$deb" ] || die "dpkg-buildpackage made no ${deb##*/} (it made: $(cd "$tmp" && echo *.deb))"
done
say "built ${debs[*]##*/}"

if ! lintian --fail-on error,warning --display-info --pedantic "$tmp"/mshv-emu_"${version}"_"$arch".changes \
	>"$tmp/lintian.log" 2>&1; then
	cat "$tmp/lintian.log" >&2
	die "lintian found a problem (above): fix it, or override it with a comment saying why in debian/PACKAGE.lintian-overrides"
fi
grep -v "running with root privileges" "$tmp/lintian.log" | sed 's/^/deb-check: lintian: /' || true
say "lintian: no error or warning"

# Their dependencies resolve on this Debian (a simulation: nothing is installed).
if ! apt-get install -s -q "${debs[@]}" >"$tmp/simulate.log" 2>&1; then
	cat "$tmp/simulate.log" >&2
	die "apt-get cannot resolve the packages' dependencies (above)"
fi
say "apt-get install would install them: $(grep -c '^Inst ' "$tmp/simulate.log") packages"

root=$tmp/root
for deb in "${debs[@]}"; do
	dpkg -x "$deb" "$root"
done
usr=$root/usr
policies=("$usr"/share/mshv-emu/policies/*.yaml)
want=$(find "$src/policies" -name '*.yaml' | wc -l)
[ "${#policies[@]}" = "$want" ] || die "the package installs ${#policies[@]} policies, policies/ has $want"
if ! "$usr/bin/mshv-emu" --check "${policies[@]}" >"$tmp/check.log" 2>&1; then
	cat "$tmp/check.log" >&2
	die "the packaged mshv-emu --check rejects a packaged policy (above)"
fi
say "the packaged mshv-emu --check accepts all ${#policies[@]} packaged policies"
for page in man8/mshv-emu.8 man8/mshvctl.8 man1/mshv-probe.1 man1/mshv-emu-run.1 man5/mshv-emu-policy.5; do
	file=$usr/share/man/$page.gz
	[ -s "$file" ] || die "no /usr/share/man/$page.gz in the package"
	warnings=$(MANWIDTH=80 man --warnings -l "$file" 2>&1 >/dev/null)
	[ -z "$warnings" ] || die "man --warnings -l /usr/share/man/$page.gz: $warnings"
done
say "the packaged man pages render without a warning"
for prog in mshv-emu mshv-probe mshvctl mshv-emu-run; do
	got=$("$usr/bin/$prog" --version)
	[ "$got" = "$prog $version" ] || die "the packaged $prog --version says \"$got\", expected \"$prog $version\""
done

for unit in mshv-emu.service mshv-emu-fuse.service; do
	file=$root/lib/systemd/system/$unit
	[ -f "$file" ] || die "no /lib/systemd/system/$unit in the package"
	grep -q '^ExecStart=/usr/bin/mshv-emu ' "$file" ||
		die "the packaged $unit does not start /usr/bin/mshv-emu: $(grep ^Exec "$file")"
done
say "the package has both systemd units, starting /usr/bin/mshv-emu"

shim=$usr/lib/$multiarch/mshv-emu/libmshv-emu-preload.so
[ -f "$shim" ] || die "no /usr/lib/$multiarch/mshv-emu/libmshv-emu-preload.so in the package"
unset MSHV_EMU_PRELOAD LD_PRELOAD
# shellcheck disable=SC2016 # the run's shell expands it
got=$("$usr/bin/mshv-emu-run" --transport preload -- /bin/sh -c 'printf "%s\n" "$LD_PRELOAD"')
[ "$got" = "$(realpath "$shim")" ] || die "the packaged mshv-emu-run preloads \"$got\", expected $shim"
if ! "$usr/bin/mshv-emu-run" --policy "$usr/share/mshv-emu/policies/microsoft.yaml" -- \
	"$usr/bin/mshv-probe" --profile microsoft >"$tmp/probe.log" 2>&1; then
	cat "$tmp/probe.log" >&2
	die "the packaged mshv-probe under the packaged mshv-emu-run failed (above)"
fi
say "the packaged mshv-emu-run serves the packaged mshv-probe, with its shim from /usr/lib/$multiarch/mshv-emu"

printf '#include <mshv-emu/mshv_emu.h>\nint main(void) { return MSHV_CREATE_PARTITION != 0x4010B800; }\n' >"$tmp/client.c"
cflags=$(PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$usr/share/pkgconfig \
	PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 pkg-config --cflags mshv-emu) ||
	die "pkg-config cannot read mshv-emu-dev's mshv-emu.pc"
# shellcheck disable=SC2086 # a list of options
if ! cc -std=c11 -Wall -Wextra -Werror $cflags -o "$tmp/client" "$tmp/client.c" || ! "$tmp/client"; then
	die "a client of mshv-emu-dev's header does not build or run"
fi
say "mshv-emu-dev: a client builds with pkg-config --cflags mshv-emu"
say "passed"
