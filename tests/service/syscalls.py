#!/usr/bin/env python3
"""syscalls.py - the units' SystemCallFilter= lets the daemon do its work.

Runs mshv-emu over FUSE under strace -f through a whole life (start, a
probe's ioctls, mshvctl status, stats, reload and a transcript, SIGHUP,
SIGTERM), as root and with --user nobody, and fails if it made a system
call outside @system-service and @mount (systemd/mshv-emu-fuse.service's
filter; the CUSE unit's is @system-service: the CUSE front, which needs
a kernel with CUSE, is not traced).  Skips (77) without strace,
systemd-analyze, root or /dev/fuse.
"""
import functools
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

EMU = os.environ.get("MSHV_EMU_BIN", "mshv-emu")
CTL = os.environ.get("MSHV_EMU_CTL", "mshvctl")
PROBE = os.environ.get("MSHV_EMU_PROBE", "mshv-probe")
POLICIES = os.environ.get("MSHV_EMU_POLICIES", "policies")
DEADLINE = 10.0


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


@functools.lru_cache(maxsize=None)
def expand(group):
    """Every system call a systemd filter group names, groups expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], check=True,
                         capture_output=True, text=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        calls |= expand(word) if word.startswith("@") else {word}
    return frozenset(calls)


def run_life(scratch, user):
    """One daemon's life under strace; the set of system calls it made."""
    log = os.path.join(scratch, "strace")
    mnt = os.path.join(scratch, "mnt")
    ctl = os.path.join(scratch, "ctl.sock")
    policy = os.path.join(scratch, "policy.yaml")
    shutil.copy(os.path.join(POLICIES, "default.yaml"), policy)
    os.chmod(policy, 0o644)
    pidfile = os.path.join(scratch, "pid")
    errors = os.path.join(scratch, "stderr")
    read_end, write_end = os.pipe()
    # Signals go to mshv-emu, whose pid its --pidfile says, not to strace.
    argv = ["strace", "-f", "-qq", "-o", log, EMU, "--front", "fuse", "--mountpoint", mnt,
            "--control", ctl, "--policy", policy, "--ready-fd", str(write_end),
            "--pidfile", pidfile]
    if user:
        argv += ["--user", user]
    with open(errors, "w") as stderr:
        strace = subprocess.Popen(argv, pass_fds=[write_end], stderr=stderr)
    os.close(write_end)
    line = b""
    end = time.monotonic() + DEADLINE
    while not line.endswith(b"\n") and time.monotonic() < end:
        ready, _, _ = select.select([read_end], [], [], end - time.monotonic())
        if not ready:
            break
        chunk = os.read(read_end, 512)
        if not chunk:
            break
        line += chunk
    os.close(read_end)
    pid = None
    try:
        if not line.startswith(b"ready "):
            sys.exit(f"FAIL: mshv-emu did not report readiness within {DEADLINE} s:\n"
                     f"{open(errors).read()}")
        with open(pidfile) as f:
            pid = int(f.read())
        node = line.decode().split()[1]
        steps = [[PROBE, "--device", node, "--profile", "root-6.15"],
                 [CTL, "--socket", ctl, "status"],
                 [CTL, "--socket", ctl, "trace", "start", os.path.join(scratch, "t.jsonl")],
                 [PROBE, "--device", node],
                 [CTL, "--socket", ctl, "trace", "stop"],
                 [CTL, "--socket", ctl, "stats"],
                 [CTL, "--socket", ctl, "reload"]]
        for step in steps:
            subprocess.run(step, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=DEADLINE)
        os.kill(pid, signal.SIGHUP)
        subprocess.run([CTL, "--socket", ctl, "status"], stdout=subprocess.DEVNULL,
                       timeout=DEADLINE)
    finally:
        if pid is None:  # it may have written its pidfile all the same
            try:
                with open(pidfile) as f:
                    pid = int(f.read())
            except (OSError, ValueError):
                pass
        if pid:
            os.kill(pid, signal.SIGTERM)
        try:
            strace.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            if pid:
                os.kill(pid, signal.SIGKILL)
            strace.kill()
            strace.wait()
            sys.exit(f"FAIL: mshv-emu did not stop within {DEADLINE} s of SIGTERM")
    # strace exits with its tracee's status.
    if strace.returncode != 0:
        sys.exit(f"FAIL: mshv-emu exited {strace.returncode}:\n{open(errors).read()}")
    calls = set()
    with open(log) as trace:
        for entry in trace:
            match = re.match(r"^\d+\s+([a-z0-9_]+)\(", entry)
            if match:
                calls.add(match.group(1))
    return calls


def main():
    for tool in ("strace", "systemd-analyze"):
        if not shutil.which(tool):
            skip(f"{tool} is not installed")
    if os.geteuid() != 0:
        skip("not root: the FUSE front mounts")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        skip("/dev/fuse is not usable here")
    allowed = expand("@system-service") | expand("@mount")
    users = [None]
    try:
        nobody = pwd.getpwnam("nobody")
        users.append("nobody")
    except KeyError:
        nobody = None
    failed = False
    for user in users:
        with tempfile.TemporaryDirectory(prefix="mshv-syscalls-") as scratch:
            if user:
                os.chown(scratch, nobody.pw_uid, nobody.pw_gid)
                os.chmod(scratch, 0o755)
            calls = run_life(scratch, user)
        outside = sorted(calls - allowed)
        label = f"--user {user}" if user else "root"
        if outside:
            print(f"FAIL: {label}: system calls outside @system-service @mount: "
                  f"{' '.join(outside)}")
            failed = True
        else:
            print(f"ok: {label}: {len(calls)} distinct system calls, all in the filter")
    sys.exit(1 if failed else 0)


main()
