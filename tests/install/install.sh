#!/bin/bash
# install.sh BUILD_DIR SOURCE_DIR VERSION BINDIR LIBDIR INCLUDEDIR DATADIR DOCDIR
# (the GNUInstallDirs directories, relative to the prefix, as configured):
# `cmake --install BUILD_DIR --prefix /usr` into a DESTDIR gives the
# programs, the shim, the header, mshv-emu.pc (which pkg-config reads
# against the DESTDIR), every policy (each passes the installed
# mshv-emu --check), the docs and the man pages; the installed
# mshv-emu-run finds the installed shim, and the build tree's finds the
# build tree's; the systemd units name the installed programs.
set -eu -o pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
version=$3 bindir=$4 libdir=$5 includedir=$6 datadir=$7 docdir=$8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
fail=0
bad() {
	echo "install: $*" >&2
	fail=1
}

if ! DESTDIR=$root cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	bad "cmake --install $build --prefix /usr failed"
	exit 1
fi
usr=$root/usr
for prog in mshv-emu mshv-probe mshvctl mshv-emu-run; do
	[ -x "$usr/$bindir/$prog" ] || bad "no executable /usr/$bindir/$prog"
done
libs=(libmshv-emu-preload.so)
# --in-process's core is not built in a sanitizer build (emulator/CMakeLists.txt).
[ ! -e "$build/lib/libmshv-emu-inproc.so" ] || libs+=(libmshv-emu-inproc.so)
for lib in "${libs[@]}"; do
	[ -f "$usr/$libdir/mshv-emu/$lib" ] || bad "no /usr/$libdir/mshv-emu/$lib"
done
[ -f "$usr/$includedir/mshv-emu/mshv_emu.h" ] || bad "no /usr/$includedir/mshv-emu/mshv_emu.h"
[ ! -e "$usr/$includedir/linux" ] || bad "/usr/$includedir/linux/ is the kernel's, yet something was installed there"
# The systemd units, naming the installed programs.
for unit in mshv-emu.service mshv-emu-fuse.service; do
	file=$usr/lib/systemd/system/$unit
	if [ ! -f "$file" ]; then
		bad "no /usr/lib/systemd/system/$unit"
	elif ! grep -q "^ExecStart=/usr/$bindir/mshv-emu " "$file" ||
		! grep -q "^ExecReload=/usr/$bindir/mshvctl " "$file"; then
		bad "/usr/lib/systemd/system/$unit does not start /usr/$bindir/mshv-emu: $(grep ^Exec "$file")"
	fi
done
for doc in README.md CHANGELOG.md docs/policy.md docs/faults.md docs/abi.md docs/transports.md \
	docs/ci.md docs/examples/github-actions.yml docs/examples/Containerfile; do
	[ -f "$usr/$docdir/$doc" ] || bad "no /usr/$docdir/$doc"
done
[ -x "$usr/$docdir/docs/examples/ci.sh" ] || bad "no executable /usr/$docdir/docs/examples/ci.sh"
# The man pages, where the build made them (not MSHV_EMU_MAN=OFF), under
# CMAKE_INSTALL_MANDIR (DATADIR/man unless configured otherwise).
if [ -d "$build/docs/man" ]; then
	for page in man8/mshv-emu.8 man8/mshvctl.8 man1/mshv-probe.1 man1/mshv-emu-run.1 \
		man5/mshv-emu-policy.5; do
		[ -s "$usr/$datadir/man/$page" ] || bad "no man page /usr/$datadir/man/$page"
		# Installed to /usr, they name /usr's directories, not the configured prefix's.
		if grep -q "/usr/local/" "$usr/$datadir/man/$page"; then
			bad "/usr/$datadir/man/$page names /usr/local, not the prefix it was installed to: $(grep -m1 /usr/local/ "$usr/$datadir/man/$page")"
		fi
	done
fi

# pkg-config, against the DESTDIR.  pkg-config drops -I/usr/include as a
# system directory; keep it to see where the sysroot points.
pc=(env PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$usr/$datadir/pkgconfig"
	PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 pkg-config)
got=$("${pc[@]}" --cflags mshv-emu) || bad "pkg-config cannot read /usr/$datadir/pkgconfig/mshv-emu.pc"
got=${got%% }
[ "$got" = "-I$usr/$includedir" ] || bad "pkg-config --cflags mshv-emu: \"$got\", expected -I$usr/$includedir"
got=$("${pc[@]}" --modversion mshv-emu) || true
[ "$got" = "$version" ] || bad "pkg-config --modversion mshv-emu: \"$got\", expected $version"
policies=$("${pc[@]}" --variable=policiesdir mshv-emu) || true
[ "$policies" = "$usr/$datadir/mshv-emu/policies" ] ||
	bad "pkg-config --variable=policiesdir mshv-emu: \"$policies\", expected $usr/$datadir/mshv-emu/policies"
# The header alone, as a client includes it.
printf '#include <mshv-emu/mshv_emu.h>\nint main(void) { return MSHV_CREATE_PARTITION != 0x4010B800; }\n' >"$tmp/client.c"
# shellcheck disable=SC2046 # pkg-config prints a list of options
if ! ${CC:-cc} -std=c11 -Wall -Wextra -Werror $("${pc[@]}" --cflags mshv-emu) -o "$tmp/client" "$tmp/client.c" ||
	! "$tmp/client"; then
	bad "a client of the installed header does not build or run"
fi

# Every policy of the source tree, installed and valid for the installed daemon.
for policy in "$src"/policies/*.yaml; do
	name=${policy##*/}
	[ -f "$usr/$datadir/mshv-emu/policies/$name" ] || bad "no /usr/$datadir/mshv-emu/policies/$name"
done
if ! "$usr/$bindir/mshv-emu" --check "$usr/$datadir"/mshv-emu/policies/*.yaml >"$tmp/check.log" 2>&1; then
	cat "$tmp/check.log" >&2
	bad "the installed mshv-emu --check rejects an installed policy"
fi

# Which shim each mshv-emu-run puts in LD_PRELOAD: the installed one, from
# its own directory; the build tree's, from its own.
unset MSHV_EMU_PRELOAD LD_PRELOAD
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
shim_of() {
	# shellcheck disable=SC2016 # the run's shell expands it
	"$1" --transport preload -- /bin/sh -c 'printf "%s\n" "$LD_PRELOAD"' 2>"$tmp/run.log" || {
		cat "$tmp/run.log" >&2
		return 1
	}
}
got=$(shim_of "$usr/$bindir/mshv-emu-run") || bad "the installed mshv-emu-run failed (above)"
want=$(realpath "$usr/$libdir/mshv-emu/libmshv-emu-preload.so")
[ "$got" = "$want" ] || bad "the installed mshv-emu-run preloads \"$got\", expected $want"
got=$(shim_of "$build/bin/mshv-emu-run") || bad "the build tree's mshv-emu-run failed (above)"
want=$(realpath "$build/lib/libmshv-emu-preload.so")
[ "$got" = "$want" ] || bad "the build tree's mshv-emu-run preloads \"$got\", expected $want"
# And the installed run serves the installed probe, from an installed policy.
if ! "$usr/$bindir/mshv-emu-run" --policy "$policies/microsoft.yaml" -- \
	"$usr/$bindir/mshv-probe" --profile microsoft >"$tmp/probe.log" 2>&1; then
	cat "$tmp/probe.log" >&2
	bad "the installed mshv-probe under the installed mshv-emu-run failed"
fi

[ $fail = 0 ] || exit 1
echo "install: programs, shim, header, mshv-emu.pc, $(find "$usr/$datadir/mshv-emu/policies" -name '*.yaml' | wc -l) policies and docs installed; installed mshv-emu-run found its shim"
