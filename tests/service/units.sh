#!/bin/bash
# units.sh - systemd/*.service: systemd-analyze verify accepts them, every
# directive docs/service.md relies on is there, and mshv-emu and mshvctl
# accept the command lines they run.  Skips (77) without systemd-analyze.
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
units=$source_dir/systemd
emu=${MSHV_EMU_BIN:?MSHV_EMU_BIN names the mshv-emu to check}
ctl=${MSHV_EMU_CTL:?MSHV_EMU_CTL names the mshvctl to check}
failed=0
fail() {
	echo "FAIL: $*" >&2
	failed=1
}

# Every directive each unit relies on, as the exact line.
require() {
	local unit=$1
	shift
	for line in "$@"; do
		grep -Fxq -- "$line" "$units/$unit" || fail "$unit: no line \`$line\`"
	done
}
common=(
	"Type=notify"
	"NotifyAccess=main"
	"EnvironmentFile=-/etc/default/mshv-emu"
	"Restart=on-failure"
	"NoNewPrivileges=yes"
	"DevicePolicy=closed"
	"RestrictAddressFamilies=AF_UNIX"
	"RestrictNamespaces=yes"
	"RestrictSUIDSGID=yes"
	"MemoryDenyWriteExecute=yes"
	"SystemCallArchitectures=native"
	"WantedBy=multi-user.target"
)
require mshv-emu.service "${common[@]}" \
	"ExecStart=/usr/bin/mshv-emu --front cuse --control /run/mshv-emu/control.sock \$MSHV_EMU_OPTIONS" \
	"ExecReload=/usr/bin/mshvctl --socket /run/mshv-emu/control.sock reload" \
	"RuntimeDirectory=mshv-emu" \
	"DeviceAllow=/dev/cuse rw" \
	"ProtectSystem=strict" \
	"ProtectHome=yes" \
	"PrivateTmp=yes" \
	"SystemCallFilter=@system-service" \
	"Conflicts=mshv-emu-fuse.service"
require mshv-emu-fuse.service "${common[@]}" \
	"ExecStart=/usr/bin/mshv-emu --front fuse --mountpoint /run/mshv-emu --control /run/mshv-emu.sock \$MSHV_EMU_OPTIONS" \
	"ExecReload=/usr/bin/mshvctl --socket /run/mshv-emu.sock reload" \
	"DeviceAllow=/dev/fuse rw" \
	"SystemCallFilter=@system-service @mount" \
	"Conflicts=mshv-emu.service"
# The FUSE unit must not get a mount namespace: its mount would be seen by
# no other process.
for directive in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateMounts \
	ProtectKernelTunables ProtectKernelModules ProtectKernelLogs ProtectControlGroups \
	ReadWritePaths ReadOnlyPaths InaccessiblePaths TemporaryFileSystem BindPaths; do
	if grep -q "^$directive=" "$units/mshv-emu-fuse.service"; then
		fail "mshv-emu-fuse.service: $directive= makes a mount namespace, which hides the mount"
	fi
done

# The command lines: every option is one mshv-emu and mshvctl know (what
# --print-capabilities answers only once every option is parsed and checked).
for unit in mshv-emu.service mshv-emu-fuse.service; do
	start=$(sed -n 's|^ExecStart=/usr/bin/mshv-emu ||p' "$units/$unit" | sed 's| \$MSHV_EMU_OPTIONS$||')
	# shellcheck disable=SC2086
	"$emu" $start --print-capabilities >/dev/null || fail "$unit: mshv-emu refuses \`$start\`"
	reload=$(sed -n 's|^ExecReload=/usr/bin/mshvctl ||p' "$units/$unit")
	# No daemon listens there: refused as "cannot connect", not as a usage error.
	set +e
	# shellcheck disable=SC2086
	out=$("$ctl" $reload 2>&1)
	status=$?
	set -e
	[ "$status" -ne 2 ] || fail "$unit: mshvctl calls \`$reload\` a usage error: $out"
done

if ! command -v systemd-analyze >/dev/null; then
	[ "$failed" = 0 ] || exit 1
	echo "SKIP: systemd-analyze is not installed; the units' directives were checked only"
	exit 77
fi
# verify wants the commands to exist: point them at this build.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for unit in mshv-emu.service mshv-emu-fuse.service; do
	sed -e "s|/usr/bin/mshv-emu |$emu |" -e "s|/usr/bin/mshvctl |$ctl |" "$units/$unit" \
		>"$scratch/$unit"
done
# --man=no: the man pages are checked where they are built.
if ! out=$(cd "$scratch" && systemd-analyze verify --man=no ./mshv-emu.service \
	./mshv-emu-fuse.service 2>&1) || [ -n "$out" ]; then
	fail "systemd-analyze verify: ${out:-failed}"
fi
[ "$failed" = 0 ] && echo "ok: systemd/*.service"
exit "$failed"
