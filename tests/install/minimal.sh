#!/bin/bash
# minimal.sh SOURCE_DIR: the minimal preset (docs/install.md) configures,
# builds and installs in a scratch directory while pkg-config refuses
# criterion and umockdev (the test and benchmark dependencies), so it needs
# neither; it builds no test, benchmark or man page (so needs no scdoc), and
# what it installs runs.
set -eu -o pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
real=$(command -v pkg-config)
cat >"$tmp/pkg-config" <<WRAP
#!/bin/sh
# pkg-config as if criterion and umockdev were not installed.
for arg in "\$@"; do
	case \$arg in *criterion*|*umockdev*) echo "minimal: pkg-config \$*: refused" >&2; exit 1;; esac
done
exec $real "\$@"
WRAP
chmod +x "$tmp/pkg-config"
log=$tmp/build.log
if ! { cmake -S "$src" --preset minimal -B "$tmp/build" -DPKG_CONFIG_EXECUTABLE="$tmp/pkg-config" &&
	cmake --build "$tmp/build" -j2; } >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "minimal: the minimal preset does not configure and build without criterion and umockdev (above)" >&2
	exit 1
fi
if grep -q 'pkg-config .*: refused' "$log"; then
	grep 'refused' "$log" >&2
	echo "minimal: the minimal preset asked for a test or benchmark dependency" >&2
	exit 1
fi
for target in bin/test-unit bin/test-live bin/stress bin/bench-client docs/man/mshv-emu.8; do
	if [ -e "$tmp/build/$target" ]; then
		echo "minimal: the minimal preset built $target" >&2
		exit 1
	fi
done
DESTDIR=$tmp/root cmake --install "$tmp/build" --prefix /usr >/dev/null
for prog in mshv-emu mshv-probe mshvctl mshv-emu-run; do
	"$tmp/root/usr/bin/$prog" --version >/dev/null
done
"$tmp/root/usr/bin/mshv-emu" --check "$tmp"/root/usr/share/mshv-emu/policies/*.yaml >/dev/null
echo "minimal: configured, built and installed without criterion or umockdev"
