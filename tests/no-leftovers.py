#!/usr/bin/env python3
"""no-leftovers.py CMD [ARGS...]: run a suite, then check it left no process.

A suite's runs, their passthrough processes and the clients they start
detach themselves (double fork, setsid) and would be adopted by init, where
nobody sees them.  Run as a child subreaper, this script adopts them
instead: once CMD ends, every process it left must end too, within a
deadline (a seccomp passthrough ends when the last process under its
filter does).  Any still there then is listed, killed, and fails the test.
Exits with CMD's status otherwise.
"""
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
DEADLINE_S = 20


def children():
    """{pid: command line} of this process's children, zombies reaped."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return {}
        if pid == 0:
            break
    mine = os.getpid()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            # pid (comm) state ppid ...: comm may hold spaces and parentheses
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            if ppid != mine:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
    return found


# The project's own programs: one of these still running after its clients
# ended is a leak (a passthrough waits only while a process is under its filter).
OURS = {"mshv-emu", "mshv-emu-run", "test-live", "test-run"}


def exe_of(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_gone(counts):
    """The children COUNTS(pid) selects still running after the deadline."""
    end = time.monotonic() + DEADLINE_S
    while True:
        left = {pid: c for pid, c in children().items() if counts(pid)}
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.05)


def main():
    if len(sys.argv) < 2:
        print("usage: no-leftovers.py CMD [ARGS...]", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"no-leftovers: prctl(PR_SET_CHILD_SUBREAPER): "
              f"{os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    status = subprocess.run(sys.argv[1:]).returncode
    left = wait_gone(lambda pid: True)
    if left:
        # A command a test ran under a run (a shell, a sleep) that outlived
        # it is the test's to stop, not what this checks: stop those, then
        # what mshv-emu itself left must end on its own.
        strays = {pid: c for pid, c in left.items() if exe_of(pid) not in OURS}
        for pid, cmdline in strays.items():
            print(f"no-leftovers: stopping pid {pid}, a command left by a test: "
                  f"{cmdline[:200]}", file=sys.stderr)
        kill(strays)
        left = wait_gone(lambda pid: exe_of(pid) in OURS)
    if not left:
        return status if status >= 0 else 128 - status
    for pid, cmdline in sorted(left.items()):
        print(f"no-leftovers: pid {pid} still runs {DEADLINE_S} s after the suite "
              f"ended: {cmdline[:300]}", file=sys.stderr)
    # What they started comes to this process as they die: kill it too.
    more = left
    while more:
        kill(more)
        time.sleep(0.05)
        more = children()
    print(f"no-leftovers: {len(left)} processes outlived {sys.argv[1]}; each test must "
          "leave nothing behind", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
