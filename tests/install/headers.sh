#!/bin/bash
# headers.sh BUILD_DIR: the installed <mshv-emu/mshv_emu.h>, found through
# the installed mshv-emu.pc, compiles together with the kernel's
# <linux/mshv.h> in either order (both_headers.c), and the header's own
# copies of the kernel's definitions, used where the kernel's header is
# missing, match it number for number and field for field (abi_dump.c).
# The kernel's header comes from the system or from a newer Debian
# linux-libc-dev (kernel-header.sh; exit 77, a skip, when it cannot).
set -eu -o pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}

kdir=$(CC=$cc bash "$here/kernel-header.sh" "$build/kernel-mshv") || exit $?
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DESTDIR=$tmp/root cmake --install "$build" --prefix /usr >"$tmp/install.log"
cflags=$(PKG_CONFIG_SYSROOT_DIR=$tmp/root PKG_CONFIG_LIBDIR=$tmp/root/usr/share/pkgconfig \
	PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 pkg-config --cflags mshv-emu)
kflags=()
[ -z "$kdir" ] || kflags=(-I "$kdir")
strict=(-std=c11 -pedantic-errors -Wall -Wextra -Werror)

for first in 0 1; do
	order=$([ $first = 1 ] && echo "<linux/mshv.h> first" || echo "<mshv-emu/mshv_emu.h> first")
	# shellcheck disable=SC2086 # cflags is a list of options
	if ! "$cc" "${strict[@]}" $cflags "${kflags[@]}" -DKERNEL_FIRST=$first \
		-o "$tmp/both" "$here/both_headers.c"; then
		echo "headers: the installed header and <linux/mshv.h> ($order) do not compile together" >&2
		exit 1
	fi
	"$tmp/both"
	echo "headers: the installed header and <linux/mshv.h> compile together, $order"
done

# shellcheck disable=SC2086
"$cc" "${strict[@]}" $cflags -DMSHV_EMU_NO_KERNEL_HEADER -o "$tmp/own" "$here/abi_dump.c"
# shellcheck disable=SC2086
"$cc" "${strict[@]}" $cflags "${kflags[@]}" -o "$tmp/kernel" "$here/abi_dump.c"
"$tmp/own" >"$tmp/own.txt"
"$tmp/kernel" >"$tmp/kernel.txt"
if ! diff -u --label "mshv_emu.h's copies" --label "the kernel's <linux/mshv.h>" \
	"$tmp/own.txt" "$tmp/kernel.txt"; then
	echo "headers: uapi/mshv-emu/mshv_emu.h's copies of the kernel's definitions differ from <linux/mshv.h> (above): fix the copies" >&2
	exit 1
fi
echo "headers: $(wc -l <"$tmp/own.txt") numbers and fields of the header's copies match <linux/mshv.h>"
