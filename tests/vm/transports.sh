#!/bin/sh
# transports.sh - mshv-emu-run --transport cuse, inside the VM (busybox sh):
# the only place a CUSE kernel is.  Run by `make test-vm` after the live
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

# auto: a static program, with /dev/cuse there, goes through CUSE.
out=$("$run" -- /bin/run-static-client version 2 2>&1) || fail "auto, static: $out"
case $out in
*"transport cuse (CMD is statically linked)"*) ;;
*) fail "auto did not say it picked cuse: $out" ;;
esac
echo "transports: --transport cuse and auto passed"
