#!/usr/bin/env bash
# roundtrip.sh - every shipped policy survives mshv-probe's round trip.
#
# For each policies/*.yaml P (the directory is listed, not a fixed list):
#   1. serve P with mshv-emu over FUSE, switch off P's fault rules, and write
#      what mshv-probe sees as a policy E (--emit-policy);
#   2. `mshv-emu --check E` must accept E;
#   3. serve E, and `mshv-probe --expect P` must find no difference;
#   4. alter P where a probe can see it (a version, a capability or property
#      value, a status, an errno, the flag mask, the VMM capabilities, the
#      profile): each altered copy must still load, and `--expect` of it must
#      exit 1 naming the difference, so the check above can fail.
# Then a few malformed policies must be refused with FILE:LINE:COL.
#
# Run by ctest (label live) with MSHV_EMU_BIN, MSHV_EMU_PROBE, MSHV_EMU_CTL and
# MSHV_EMU_POLICIES set; needs /dev/fuse and root (FUSE's allow_other), and
# exits 77 (skipped) without them.  Readiness is mshv-emu's own word, read
# from --ready-fd with a deadline; nothing waits by sleeping.
set -euo pipefail

emu=${MSHV_EMU_BIN:-mshv-emu}
probe=${MSHV_EMU_PROBE:-mshv-probe}
ctl=${MSHV_EMU_CTL:-mshvctl}
policies=${MSHV_EMU_POLICIES:-policies}
ready_deadline=10 # seconds for mshv-emu to report `ready PATH`
stop_deadline=10  # seconds for it to exit after SIGTERM

if [[ ! -r /dev/fuse || ! -w /dev/fuse ]]; then
	echo "SKIP: /dev/fuse is not usable here; the FUSE front cannot be tested"
	exit 77
fi
if ((EUID != 0)); then
	echo "SKIP: not root; mshv-emu's FUSE mount needs it here"
	exit 77
fi

work=$(mktemp -d /tmp/mshv-roundtrip-XXXXXX)
pid=""  # the mshv-emu running now, if any
node="" # the file it serves
sock="" # its control socket
dir=""  # its directory: mnt/, log, ready

cleanup() {
	local status=$?
	if [[ -n $pid ]]; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	# A daemon killed above could not unmount: detach what it left.
	local mount
	for mount in "$work"/*/mnt; do
		if [[ -d $mount ]] && mountpoint -q "$mount"; then
			umount -l "$mount" || true
		fi
	done
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "roundtrip: FAIL: $*" >&2
	exit 1
}

# serve POLICY NAME: start mshv-emu serving POLICY in $work/NAME; sets pid,
# node, sock and dir.
serve() {
	local policy=$1 word=""
	dir=$work/$2
	mkdir -p "$dir/mnt"
	mkfifo "$dir/ready"
	sock=$dir/ctl.sock
	"$emu" --front fuse --mountpoint "$dir/mnt" --control "$sock" --ready-fd 3 \
		--policy "$policy" 3>"$dir/ready" >"$dir/log" 2>&1 &
	pid=$!
	node=""
	# EOF (the daemon died) or the deadline ends the read as a failure.
	if ! read -r -t "$ready_deadline" word node <"$dir/ready" || [[ $word != ready ]]; then
		cat "$dir/log" >&2
		fail "mshv-emu serving $policy did not report readiness within ${ready_deadline}s"
	fi
}

# stop: SIGTERM, then the daemon must exit 0 within the deadline.
stop() {
	local status=0
	kill -TERM "$pid"
	# tail returns when the process is gone; timeout bounds the wait.
	if ! timeout "$stop_deadline" tail --pid="$pid" -s 0.05 -f /dev/null; then
		cat "$dir/log" >&2
		fail "mshv-emu (pid $pid) did not stop within ${stop_deadline}s of SIGTERM"
	fi
	wait "$pid" || status=$?
	pid=""
	if ((status != 0)); then
		cat "$dir/log" >&2
		fail "mshv-emu exited with status $status on SIGTERM"
	fi
}

# The policy's fault rules, by name, as the daemon lists them.
fault_rules() {
	"$ctl" --socket "$sock" --json stats |
		grep -o '"name":"[^"]*","source":"policy"' |
		sed 's/^"name":"\([^"]*\)".*/\1/'
}

# alter KIND P OUT: write P altered in one way a probe sees to OUT, and print
# the pattern a difference line must match; nothing (and no OUT) if P has
# nothing of that kind.
alter() {
	local kind=$1 in=$2 out=$3
	case $kind in
	versions) # a version the device does not accept
		sed -E 's/^versions: *\[/versions: [0x7777, /' "$in" >"$out"
		echo '^versions: device refuses version 30583'
		;;
	value) # the first capability or property value
		awk '!done && /value: *(0x[0-9A-Fa-f]+|[0-9]+)/ {
			match($0, /value: *(0x[0-9A-Fa-f]+|[0-9]+)/)
			old = substr($0, RSTART + 7, RLENGTH - 7)
			gsub(/ /, "", old)
			new = (old == "12345") ? "54321" : "12345"
			$0 = substr($0, 1, RSTART - 1) "value: " new substr($0, RSTART + RLENGTH)
			done = 1
		} { print }' "$in" >"$out"
		echo 'policy says value (12345|54321|0x3039|0xd431)$'
		;;
	status) # the first property status
		sed -E '0,/status: [A-Z_]+/s//status: OPERATION_FAILED/' "$in" >"$out"
		echo 'policy says status OPERATION_FAILED$'
		;;
	create_partition | create_vtl) # its errno
		sed -E "s/^$kind: *\\{errno: *[A-Z0-9_]+\\}/$kind: {errno: ETIMEDOUT}/" "$in" >"$out"
		echo "^$kind.*policy says ETIMEDOUT"
		;;
	flags_mask) # bits 0 and 3 only (feature banks need bit 3)
		sed -E 's/flags_mask: *0x[0-9A-Fa-f]+/flags_mask: 0x9/' "$in" >"$out"
		echo '^driver.flags_mask: CREATE_PARTITION with flag bit 1 .* device accepts it'
		;;
	vmm_capabilities) # the first bit name dropped
		sed -E 's/vmm_capabilities: *\[[a-z_]+, */vmm_capabilities: [/' "$in" >"$out"
		echo '^hypervisor.vmm_capabilities: device answers banks'
		;;
	profile) # another profile: with --profile of the original, a mismatch
		sed -E 's/^profile: *none\b/profile: rfc-2021/' "$in" >"$out"
		echo '^profile: probed as none, policy says rfc-2021$'
		;;
	esac
	if cmp -s "$in" "$out"; then
		rm -f "$out"
		return
	fi
}

kinds=(versions value status create_partition create_vtl flags_mask vmm_capabilities profile)
count=0
shopt -s nullglob
for P in "$policies"/*.yaml; do
	name=$(basename "$P" .yaml)
	# The profile P names (mshv-emu's default: negotiated).
	profile=$(sed -n -E 's/^profile: *"?([a-z0-9.-]+)"?.*/\1/p' "$P")
	profile=${profile:-negotiated}
	E=$work/$name.emitted.yaml

	# 1. What a probe sees of P, as a policy.
	serve "$P" "$name-original"
	# Fault rules fire at random (a probability), on a count (once, nth,
	# every) or take time (delay, vanish): a probe must see steady answers,
	# so each is switched off before it runs, and that is checked.
	for rule in $(fault_rules); do
		"$ctl" --socket "$sock" fault disable "$rule" >/dev/null ||
			fail "$P: mshvctl fault disable $rule"
	done
	if "$ctl" --socket "$sock" --json stats | grep -q '"source":"policy","enabled":true'; then
		fail "$P: a fault rule is still enabled"
	fi
	if ! "$probe" --device "$node" --profile "$profile" --emit-policy "$E" >"$dir/probe.out" \
		2>&1; then
		cat "$dir/probe.out" >&2
		fail "$P: mshv-probe --emit-policy failed"
	fi
	stop

	# 2. mshv-emu loads it.
	if ! "$emu" --check "$E" >"$work/check.out" 2>&1; then
		cat "$E" "$work/check.out" >&2
		fail "$P: mshv-emu --check rejects the policy mshv-probe emitted"
	fi

	# 3. Served again, it matches the original.
	serve "$E" "$name-emitted"
	if ! "$probe" --device "$node" --expect "$P" >"$dir/expect.out" 2>"$dir/expect.err"; then
		cat "$E" "$dir/expect.out" "$dir/expect.err" >&2
		fail "$P: the emitted policy, served, differs from the original"
	fi
	grep -q "^mshv-probe: $node matches $P (profile $profile, " "$dir/expect.out" ||
		fail "$P: no \`matches\` line: $(cat "$dir/expect.out")"
	if grep -q '^faults:' "$P"; then
		grep -q "$P:[0-9]*:[0-9]*: note: faults: not compared: " "$dir/expect.err" ||
			fail "$P: --expect did not say that faults are not compared"
	fi

	# 4. Each alteration the probe can see is a difference.
	altered=0
	for kind in "${kinds[@]}"; do
		A=$work/$name.$kind.yaml
		pattern=$(alter "$kind" "$P" "$A")
		[[ -f $A ]] || continue
		altered=$((altered + 1))
		if ! "$emu" --check "$A" >"$work/check.out" 2>&1; then
			cat "$A" "$work/check.out" >&2
			fail "$P: the $kind alteration is not a valid policy"
		fi
		status=0
		"$probe" --device "$node" --profile "$profile" --expect "$A" >"$dir/alt.out" \
			2>"$dir/alt.err" || status=$?
		if ((status != 1)) || ! grep -q "differs from $A in " "$dir/alt.err" ||
			! grep -Eq "$pattern" "$dir/alt.out"; then
			cat "$A" "$dir/alt.out" "$dir/alt.err" >&2
			fail "$P: --expect with its $kind altered exited $status, without a" \
				"difference matching /$pattern/"
		fi
	done
	((altered > 0)) || fail "$P: no alteration applies; teach alter() its keys"
	stop
	echo "roundtrip: $P: emitted, checked, served, matched; $altered alteration(s) caught"
	count=$((count + 1))
done
((count > 0)) || fail "no policy in $policies"

# Malformed policies: refused at their line and column, before any probing.
printf 'profile: negotiated\nversions: [1,\n' >"$work/unterminated.yaml"
printf 'profile: negotiated\nversions: [1]\nfaults:\n\trules: []\n' >"$work/tab.yaml"
printf 'profile: negotiated\nversions: [1]\nvresions: [2]\n' >"$work/unknown.yaml"
printf 'profile: rfc-2021\ncapabilities:\n  - {name: A, id: 1, value: 1, versions: [1]}\n' \
	>"$work/inapplicable.yaml"
for bad in unterminated:2:11 tab:4:1 unknown:3:1 inapplicable:3:42; do
	file=$work/${bad%%:*}.yaml
	where=${bad#*:}
	status=0
	"$probe" --device /nonexistent --expect "$file" >"$work/bad.out" 2>&1 || status=$?
	if ((status != 1)) || ! grep -q "^$file:$where: error: " "$work/bad.out"; then
		cat "$work/bad.out" >&2
		fail "--expect of ${bad%%:*}.yaml exited $status without an error at $where"
	fi
done
echo "roundtrip: $count policies round-tripped; malformed policies refused"
