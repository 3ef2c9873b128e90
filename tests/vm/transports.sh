#!/bin/sh
# transports.sh - mshv-emu-run --transport cuse and seccomp, inside the VM
# (busybox sh): the only place a CUSE kernel and Yama are.  Run by `make test-vm` after the live
# suite.  Exit 0 when every check held.
fail() {
	echo "transports: $*" >&2
	exit 1
}
run=/bin/mshv-emu-run

/bin/mshv-emu-run --transport cuse --hide-kvm -- /bin/sh -c \
	'test -c /dev/mshv && test ! -e /dev/kvm && /bin/run-static-client version 1 &&
	 /bin/run-client fds && /bin/run-client threads 8 && exit 7'
rc=$?
[ "$rc" = 7 ] || fail "--transport cuse: exit status $rc, want 7"
[ ! -e /dev/mshv ] || fail "/dev/mshv is left in the machine's /dev"
for node in /dev/mshv-run-*; do
	[ -e "$node" ] && fail "the CUSE node $node is left"
done

# auto: a static program goes through seccomp.
out=$("$run" -- /bin/run-static-client version 2 2>&1) || fail "auto, static: $out"
case $out in
*"transport seccomp (CMD is statically linked)"*) ;;
*) fail "auto did not say it picked seccomp: $out" ;;
esac

# seccomp on Debian's kernel, as an unprivileged user, with Yama's
# ptrace_scope 1 where the kernel has Yama (Ubuntu's default): only an
# ancestor may read a process's memory, so the run must be one, orphans of
# CMD included (they are reparented to it).
yama=/proc/sys/kernel/yama/ptrace_scope
if [ -w "$yama" ]; then
	echo 1 >"$yama" || fail "cannot set $yama"
	scope="ptrace_scope $(cat "$yama")"
else
	scope="no Yama in this kernel"
fi
mkdir -p /tmp/seccomp && chmod 1777 /tmp/seccomp
nobody="/bin/setpriv --reuid 65534 --regid 65534 --clear-groups"
$nobody "$run" --transport seccomp --policy /policies/microsoft.yaml -- \
	/bin/run-static-client crate 0x00F1FFFF7FFFFFFF 0x17 ||
	fail "--transport seccomp, crate, as user 65534 ($scope): exit status $?"
$nobody "$run" --transport seccomp -- /bin/sh -c \
	'/bin/run-static-client fds || exit 4
	 /bin/sh -c "(/bin/run-static-client version 1; echo \$? >/tmp/seccomp/orphan) &"
	 i=0
	 while [ ! -s /tmp/seccomp/orphan ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	 exit "$(cat /tmp/seccomp/orphan 2>/dev/null || echo 5)"'
rc=$?
[ "$rc" = 0 ] || fail "--transport seccomp, fds and an orphan, as user 65534 ($scope): exit status $rc"
[ -w "$yama" ] && echo 0 >"$yama"
echo "transports: --transport cuse, seccomp ($scope) and auto passed"
