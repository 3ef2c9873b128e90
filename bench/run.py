#!/usr/bin/env python3
"""bench/run.py - run the whole benchmark suite and write its results.

    bench/run.py [--build DIR] [--out DIR] [--quick] [--no-vm]
    bench/run.py --report OUT/results.jsonl [--out DIR]   # tables and plot only

DIR for --build defaults to build, OUT to results/bench (results/bench-smoke
with --quick) in the source tree, beside and not in CMake's build tree.

Runs, on this machine, in one go (docs/benchmarks.md explains each):
  1. in-process dispatch through the core            (build/bin/bench-dispatch)
  2. end to end through the kernel, 1/2/4/8 client threads, over the FUSE
     front, interleaved round by round against the null libfuse server (the
     transport floor), /dev/kvm's KVM_CHECK_EXTENSION (the in-kernel device),
     and umockdev (the mock users know)               (bench-client, bench-umockdev)
  2b. the FUSE memory side channel: ROOT_HVCALL (pointers followed with
     process_vm_readv/writev) against a plain round trip on the same daemon
  2c. mshv-emu-run's preload and seccomp transports against the FUSE round
     trip, and what each costs a tree walk and a compile that never open the
     device (with the count of calls seccomp bounces, by strace)
  3. thread placement: client and daemon on one CPU, on two, unpinned
  4. memory: daemon RSS idle and per open session
  5. reload: request to new answers visible, for 10, 1,000 and 100,000
     capabilities
  6. CUSE in the VM (emulated CPU: labelled, not compared)
and writes OUT/results.jsonl (every measurement), OUT/results.csv,
OUT/summary.md (the tables and target ratios docs/benchmarks.md shows) and
OUT/benchmarks.png.  Every program it runs prints JSON lines; this script
only orchestrates, waits for readiness on the daemons' --ready-fd with a
deadline, and summarises (medians over rounds, ratios side by side).

It asserts nothing: timings on shared VMs are noisy.  --quick is the CI smoke
run: seconds, every step once, small counts, no VM.
"""

import argparse
import csv
import fcntl
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RV, CE = 0x4004B800, 0x4004B801
READY_DEADLINE_S = 10.0


def ioctl_u32(fd, cmd, value):
    """ioctl(fd, cmd, &value): the return value.  (With a bytes argument,
    fcntl.ioctl returns the buffer instead; a mutable one gives the result.)"""
    return fcntl.ioctl(fd, cmd, bytearray(struct.pack("I", value)), True)


class Daemon:
    """mshv-emu or bench-null-server on a FUSE mount, ready when it says so."""

    def __init__(self, argv, env=None):
        read_fd, write_fd = os.pipe()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv + ["--ready-fd", str(write_fd)], pass_fds=[write_fd],
                                     stdout=self.log, stderr=self.log, env=env)
        os.close(write_fd)
        line = b""
        deadline = time.monotonic() + READY_DEADLINE_S
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                break
            chunk = os.read(read_fd, 512)
            if not chunk:
                break
            line += chunk
        os.close(read_fd)
        if not line.startswith(b"ready "):
            self.stop()
            self.log.seek(0)
            raise RuntimeError("%s did not become ready:\n%s" % (argv[0], self.log.read().decode()))
        self.node = line[6:].strip().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Suite:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.join(args.build, "bin")
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        self.scratch = tempfile.mkdtemp(prefix="mshv-bench-")
        self.results = []
        self.failed = False
        self.rounds = 1 if args.quick else 5

    def tool(self, name):
        return os.path.join(self.bin, name)

    def record(self, obj, **extra):
        obj.update(extra)
        self.results.append(obj)

    def run_json(self, argv, required=True, **extra):
        """Run a benchmark program and record its JSON lines.  A failure is
        retried once, then recorded (summary.md lists it); a REQUIRED
        program's failure also makes the run exit 1 at the end, so the CI
        smoke run catches a broken benchmark.  umockdev is not required: it
        is a third-party comparison, and its preload now and then exits 1
        with nothing on stderr (docs/benchmarks.md)."""
        for attempt in (1, 2):
            proc = subprocess.run(argv, capture_output=True, text=True)
            if proc.returncode == 0:
                break
            tail = proc.stderr.strip().splitlines()[-5:]
            print("bench: %s failed (exit %d, attempt %d):\n  %s" % (
                " ".join(argv), proc.returncode, attempt, "\n  ".join(tail)), file=sys.stderr)
        else:
            self.record({"suite": "error", "argv": " ".join(argv), "required": required,
                         "exit": proc.returncode, "stderr": "\n".join(tail)}, **extra)
            self.failed |= required
            return []
        out = proc.stdout
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        for obj in lines:
            self.record(obj, **extra)
        return lines

    def emu(self, tag, extra_args=(), policy=None):
        mnt = os.path.join(self.scratch, tag)
        argv = [self.tool("mshv-emu"), "--front", "fuse", "--mountpoint", mnt,
                "--control", os.path.join(self.scratch, tag + ".sock")] + list(extra_args)
        if policy:
            argv += ["--policy", policy]
        return Daemon(argv)

    def null(self, tag, extra_args=()):
        mnt = os.path.join(self.scratch, tag)
        return Daemon([self.tool("bench-null-server"), "--mountpoint", mnt] + list(extra_args))

    def client(self, device, threads, calls, label, extra=(), **tags):
        argv = [self.tool("bench-client"), "--device", device, "--threads", str(threads),
                "--calls", str(calls), "--label", label] + list(extra)
        return self.run_json(argv, **tags)

    # 1 -----------------------------------------------------------------
    def dispatch(self):
        argv = [self.tool("bench-dispatch")] + (["--quick"] if self.args.quick else [])
        self.run_json(argv, step="dispatch")

    # 2 -----------------------------------------------------------------
    def end_to_end(self):
        calls = 2000 if self.args.quick else 20000
        emu, null = self.emu("e2e"), self.null("null")
        try:
            for rnd in range(self.rounds):
                for threads in (1, 2, 4, 8):
                    # Side by side, alternating which goes first.
                    pair = [("mshv-emu", emu.node, ["--request-version", "1"]),
                            ("null-fuse", null.node, [])]
                    if rnd % 2:
                        pair.reverse()
                    for label, node, extra in pair:
                        self.client(node, threads, calls, label, extra, step="e2e", round=rnd)
                    if os.access("/dev/kvm", os.R_OK | os.W_OK):
                        self.client("/dev/kvm", threads, calls, "kvm",
                                    ["--cmd", "0xAE03", "--arg", "value", "--value", "1"],
                                    step="e2e", round=rnd)
        finally:
            emu.stop()
            null.stop()
        wrapper = shutil.which("umockdev-wrapper")
        if wrapper and os.path.exists(self.tool("bench-umockdev")):
            for rnd in range(self.rounds):
                for threads in (1, 2, 4, 8):
                    self.run_json([wrapper, self.tool("bench-umockdev"), "--threads",
                                   str(threads), "--calls", str(min(calls, 5000))],
                                  required=False, step="e2e", round=rnd)

    # 2b ----------------------------------------------------------------
    def side_channel(self):
        """ROOT_HVCALL over FUSE (the daemon reads in_ptr and writes out_ptr
        with process_vm_readv/writev) against a plain round trip on the same
        daemon: GET_HOST_PARTITION_PROPERTY, whose 16 bytes travel in the
        FUSE request and reply.  Both ask for PHYSICAL_ADDRESS_WIDTH."""
        calls = 2000 if self.args.quick else 20000
        policy = os.path.join(ROOT, "policies", "microsoft.yaml")
        emu = self.emu("side", policy=policy)
        try:
            for rnd in range(self.rounds):
                pair = [("plain", ["--cmd", "0xC010B801", "--value", "0x00060006"]),
                        ("side-channel", ["--arg", "hvcall", "--value", "0x00060006"])]
                if rnd % 2:
                    pair.reverse()
                for label, extra in pair:
                    self.client(emu.node, 1, calls, label, extra, step="side-channel",
                                round=rnd)
        finally:
            emu.stop()

    # 2c ----------------------------------------------------------------
    def preload(self):
        """mshv-emu-run's preload transport: the per-call cost through the
        run's device against the FUSE round trip, side by side; and what the
        preload costs a command that never opens /dev/mshv (a tree walk and
        a compile), against running it bare."""
        calls = 2000 if self.args.quick else 20000
        run = self.tool("mshv-emu-run")
        emu = self.emu("pre-fuse")
        try:
            for rnd in range(self.rounds):
                pair = [("fuse", lambda: self.client(emu.node, 1, calls, "fuse",
                                                     ["--request-version", "1"],
                                                     step="preload", round=rnd)),
                        ("preload", lambda: self.run_json(
                            [run, "--transport", "preload", "--", self.tool("bench-client"),
                             "--device", "/dev/mshv", "--threads", "1", "--calls", str(calls),
                             "--label", "preload", "--request-version", "1"],
                            step="preload", round=rnd)),
                        ("seccomp", lambda: self.run_json(
                            [run, "--transport", "seccomp", "--", self.tool("bench-client"),
                             "--device", "/dev/mshv", "--threads", "1", "--calls", str(calls),
                             "--label", "seccomp", "--request-version", "1"],
                            step="preload", round=rnd)),
                        ("in-process", lambda: self.run_json(
                            [run, "--in-process", "--", self.tool("bench-client"),
                             "--device", "/dev/mshv", "--threads", "1", "--calls",
                             str(calls * 10), "--label", "in-process", "--request-version",
                             "1"], step="preload", round=rnd))]
                if os.access("/dev/kvm", os.R_OK | os.W_OK):
                    pair.append(("kvm", lambda: self.client(
                        "/dev/kvm", 1, calls * 10, "kvm",
                        ["--cmd", "0xAE03", "--arg", "value", "--value", "1"],
                        step="preload", round=rnd)))
                if rnd % 2:
                    pair.reverse()
                for _, measure in pair:
                    measure()
        finally:
            emu.stop()
        src = os.path.join(self.scratch, "unit.c")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
                    "int main(void) { puts(\"x\"); return 0; }\n")
        commands = {
            "tree-walk": ["find", "/usr", "-xdev", "-type", "f", "-name", "*.h"],
            "compile": ["sh", "-c", "for i in $(seq 20); do cc -O2 -c -o /dev/null %s; done"
                        % src],
        }
        rounds = 1 if self.args.quick else 7
        for rnd in range(rounds):
            for name, argv in commands.items():
                pair = [("bare", argv), ("preload", [run, "--transport", "preload", "--"] + argv),
                        ("seccomp", [run, "--transport", "seccomp", "--"] + argv)]
                if rnd % 2:
                    pair.reverse()
                for label, cmd in pair:
                    started = time.monotonic()
                    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   check=True)
                    self.record({"suite": "overhead", "command": name, "label": label,
                                 "seconds": time.monotonic() - started}, step="preload",
                                round=rnd)
        # What seccomp bounces: the filtered calls each command makes (counted
        # by strace, apart from the timed runs; skipped without strace).
        if shutil.which("strace"):
            calls = ("open,openat,openat2,stat,lstat,newfstatat,statx,access,faccessat,"
                     "faccessat2,readlink,readlinkat,getxattr,lgetxattr,listxattr,"
                     "llistxattr,fstat")
            for name, argv in commands.items():
                out = subprocess.run(["strace", "-f", "-c", "-e", "trace=" + calls, "-o",
                                      os.path.join(self.scratch, "strace.txt")] + argv,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                total = 0
                with open(os.path.join(self.scratch, "strace.txt")) as f:
                    for line in f:
                        if line.strip().endswith("total"):
                            total = int(line.split()[3])
                self.record({"suite": "bounced", "command": name, "calls": total},
                            step="preload", round=0)

    # 3 -----------------------------------------------------------------
    def placement(self):
        calls = 2000 if self.args.quick else 20000
        if os.cpu_count() < 2:
            return
        for rnd in range(self.rounds):
            for where, server_cpu, client_cpu in (("same-cpu", "0", "0"),
                                                  ("cross-cpu", "1", "0"),
                                                  ("unpinned", None, None)):
                pin = ["--cpu", server_cpu] if server_cpu else []
                client_pin = ["--cpu-list", client_cpu] if client_cpu else []
                for label, start in (("mshv-emu", lambda: self.emu("place", pin)),
                                     ("null-fuse", lambda: self.null("nplace", pin))):
                    daemon = start()
                    try:
                        extra = client_pin + (["--request-version", "1"] if label == "mshv-emu" else [])
                        self.client(daemon.node, 1, calls, label, extra, step="placement",
                                    placement=where, round=rnd)
                    finally:
                        daemon.stop()

    # 4 -----------------------------------------------------------------
    def memory(self):
        sessions = 1000 if self.args.quick else 10000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, sessions + 256), hard))
        emu = self.emu("mem")
        try:
            def rss_kb():
                with open("/proc/%d/status" % emu.proc.pid) as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            return int(line.split()[1])
            def open_count():
                out = subprocess.run([self.tool("mshvctl"), "--socket",
                                      os.path.join(self.scratch, "mem.sock"), "--json", "status"],
                                     capture_output=True, text=True).stdout
                return json.loads(out)["sessions_open"]
            # Warm: one open and a few calls, so libfuse's buffers exist.
            fd = os.open(emu.node, os.O_RDWR)
            if ioctl_u32(fd, RV, 1) != 0:
                raise RuntimeError("REQUEST_VERSION(1) refused")
            os.close(fd)
            idle = rss_kb()
            fds = [os.open(emu.node, os.O_RDWR) for _ in range(sessions)]
            deadline = time.monotonic() + 10
            while open_count() != sessions and time.monotonic() < deadline:
                time.sleep(0.01)
            loaded = rss_kb()
            for fd in fds:
                os.close(fd)
            self.record({"suite": "memory", "idle_rss_kb": idle, "sessions": sessions,
                         "loaded_rss_kb": loaded,
                         "bytes_per_session": (loaded - idle) * 1024 / sessions}, step="memory")
        finally:
            emu.stop()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    # 5 -----------------------------------------------------------------
    def reload(self):
        sizes = (10, 1000, 100000)
        for caps in sizes:
            files = []
            for value in (1, 2):
                path = os.path.join(self.scratch, "caps%d-%d.yaml" % (caps, value))
                with open(path, "w") as f:
                    f.write("profile: negotiated\nversions: [1]\ncapabilities:\n")
                    for cap in range(caps):
                        f.write("  - {name: CAP_%d, id: %d, value: %d}\n" % (cap, cap, value))
                files.append(path)
            policy = os.path.join(self.scratch, "reload.yaml")
            shutil.copy(files[0], policy)
            emu = self.emu("reload", policy=policy)
            try:
                fd = os.open(emu.node, os.O_RDWR)
                ioctl_u32(fd, RV, 1)
                for rnd in range(self.rounds):
                    want = 2 if rnd % 2 == 0 else 1
                    shutil.copy(files[want - 1], policy)
                    start = time.monotonic()
                    emu.proc.send_signal(signal.SIGHUP)
                    # Visible: the last capability answers the new value.
                    while ioctl_u32(fd, CE, caps - 1) != want:
                        if time.monotonic() - start > 30:
                            raise RuntimeError("reload of %d capabilities not visible in 30 s" % caps)
                    self.record({"suite": "reload", "capabilities": caps,
                                 "ms": (time.monotonic() - start) * 1000,
                                 "file_bytes": os.path.getsize(policy)},
                                step="reload", round=rnd)
                os.close(fd)
            finally:
                emu.stop()

    # 6 -----------------------------------------------------------------
    def cuse_vm(self):
        if self.args.quick or self.args.no_vm:
            return
        script = os.path.join(self.scratch, "vm-bench.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nset -e\nmkfifo /tmp/r\n"
                    "/bin/mshv-emu --front cuse --control '' --ready-fd 3 3>/tmp/r & pid=$!\n"
                    "read -r word node </tmp/r\n"
                    "for t in 1 2 4 8; do /bin/bench-client --device $node --threads $t "
                    "--calls 5000 --request-version 1 --label cuse-in-vm; done\n"
                    "kill $pid; wait $pid\n")
        os.chmod(script, 0o755)
        root = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run([os.path.join(root, "..", "tests", "vm", "run-vm.sh"), "--build-dir",
                              self.args.build, "--timeout", "600", "--copy",
                              script + ":/bin/vm-bench.sh", "--", "/bin/vm-bench.sh"],
                             capture_output=True, text=True)
        for line in out.stdout.splitlines():
            line = line.strip()
            if line.startswith('{"suite":"e2e"'):
                self.record(json.loads(line), step="cuse-vm", emulated_cpu=True)
        if out.returncode:
            print("bench: the CUSE run in the VM failed (exit %d); see %s/vm-cache/console.log"
                  % (out.returncode, self.args.build), file=sys.stderr)

    # --------------------------------------------------------------------
    def machine(self):
        model = ""
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        mem_kb = int(open("/proc/meminfo").readline().split()[1])
        self.record({"suite": "machine", "cpu": model, "cpus": os.cpu_count(),
                     "mem_gib": round(mem_kb / 1048576, 1), "kernel": platform.release(),
                     "date": time.strftime("%Y-%m-%d"), "quick": self.args.quick})

    def run(self):
        steps = [self.machine, self.dispatch, self.end_to_end, self.side_channel,
                 self.preload, self.placement, self.memory, self.reload, self.cuse_vm]
        if self.args.step:
            steps = [s for s in steps if s.__name__ in self.args.step or s == self.machine]
        try:
            for step in steps:
                started = time.monotonic()
                print("bench: %s ..." % step.__name__, file=sys.stderr, flush=True)
                step()
                print("bench: %s done in %.1f s" % (step.__name__, time.monotonic() - started),
                      file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        with open(os.path.join(self.out, "results.jsonl"), "w") as f:
            for obj in self.results:
                f.write(json.dumps(obj) + "\n")
        report(self.results, self.out)
        if self.failed:
            print("bench: a benchmark program failed (see summary.md)", file=sys.stderr)
            sys.exit(1)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def report(results, out):
    """results.csv, summary.md and benchmarks.png from the measurements."""
    keys = sorted({k for r in results for k in r})
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        for r in results:
            writer.writerow(r)

    lines = []
    machine = next((r for r in results if r.get("suite") == "machine"), {})
    lines.append("Machine: %s, %s vCPUs, %s GiB, Linux %s, %s%s." % (
        machine.get("cpu"), machine.get("cpus"), machine.get("mem_gib"), machine.get("kernel"),
        machine.get("date"), " (quick run)" if machine.get("quick") else ""))
    lines.append("")

    disp = [r for r in results if r.get("suite") == "dispatch" and "ns_median" in r]
    if disp:
        lines += ["### In-process dispatch (ns per call, median over batches)", "",
                  "| case | threads | variant | median | p10 | p90 |", "|---|---|---|---|---|---|"]
        for r in disp:
            lines.append("| %s | %s | %s | %.1f | %.1f | %.1f |" % (
                r.get("case"), r.get("threads"), r.get("variant"), r["ns_median"],
                r.get("ns_p10", 0), r.get("ns_p90", 0)))
        ratios = [r for r in results if r.get("suite") == "dispatch" and "ratio" in r]
        if ratios:
            lines += ["", "| ratio | case | threads | value |", "|---|---|---|---|"]
            for r in ratios:
                lines.append("| %s | %s | %s | %.3f |" % (r["ratio"], r.get("case"),
                                                           r.get("threads"), r["value"]))
        lines.append("")

    e2e = [r for r in results if r.get("suite") == "e2e" and r.get("step") == "e2e"]
    labels = [l for l in ("mshv-emu", "null-fuse", "kvm", "umockdev")
              if any(r.get("label") == l for r in e2e)]
    table = {}
    if e2e:
        lines += ["### End to end through the kernel (medians over rounds)", "",
                  "| target | threads | p50 µs | p90 µs | p99 µs | p99.9 µs | calls/s |",
                  "|---|---|---|---|---|---|---|"]
        for label in labels:
            for threads in (1, 2, 4, 8):
                rows = [r for r in e2e if r.get("label") == label and r.get("threads") == threads]
                if not rows:
                    continue
                row = {k: median([r.get(k) for r in rows])
                       for k in ("p50_us", "p90_us", "p99_us", "p999_us", "calls_per_s")}
                table[(label, threads)] = row
                lines.append("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.0f |" % (
                    label, threads, row["p50_us"], row["p90_us"], row["p99_us"], row["p999_us"],
                    row["calls_per_s"]))
        lines += ["", "| threads | mshv-emu p50 / null-fuse p50 (target ≤ 1.05) | "
                  "per-round ratios |", "|---|---|---|"]
        for threads in (1, 2, 4, 8):
            per_round = []
            for rnd in sorted({r.get("round") for r in e2e}):
                a = [r for r in e2e if r.get("label") == "mshv-emu" and r.get("threads") == threads and r.get("round") == rnd]
                b = [r for r in e2e if r.get("label") == "null-fuse" and r.get("threads") == threads and r.get("round") == rnd]
                if a and b:
                    per_round.append(a[0]["p50_us"] / b[0]["p50_us"])
            if per_round:
                lines.append("| %d | %.3f | %s |" % (threads, median(per_round),
                                                     " ".join("%.2f" % x for x in per_round)))
        lines.append("")

    side = [r for r in results if r.get("step") == "side-channel"]
    if side:
        lines += ["### FUSE memory side channel (1 thread, microsoft policy, medians over rounds)",
                  "", "| call | p50 µs | p99 µs | failures |", "|---|---|---|---|"]
        for label, what in (("plain", "GET_HOST_PARTITION_PROPERTY (argument in the request)"),
                            ("side-channel", "ROOT_HVCALL 0x44 (in_ptr/out_ptr by "
                                             "process_vm_readv/writev)")):
            rows = [r for r in side if r.get("label") == label]
            if rows:
                lines.append("| %s | %.1f | %.1f | %d |" % (
                    what, median([r["p50_us"] for r in rows]),
                    median([r["p99_us"] for r in rows]), sum(r["failures"] for r in rows)))
        per_round = []
        for rnd in sorted({r.get("round") for r in side}):
            a = [r for r in side if r.get("label") == "side-channel" and r.get("round") == rnd]
            b = [r for r in side if r.get("label") == "plain" and r.get("round") == rnd]
            if a and b:
                per_round.append(a[0]["p50_us"] / b[0]["p50_us"])
        if per_round:
            lines += ["", "side channel p50 / plain p50 (target ≤ 1.3): %.3f (per round: %s)" % (
                median(per_round), " ".join("%.2f" % x for x in per_round))]
        lines.append("")

    pre = [r for r in results if r.get("step") == "preload" and r.get("suite") == "e2e"]
    if pre:
        lines += ["### mshv-emu-run's transports against the FUSE round trip and /dev/kvm "
                  "(1 thread, CHECK_EXTENSION, medians over rounds)", "",
                  "| transport | p50 µs | p99 µs | calls/s |", "|---|---|---|---|"]
        for label in ("in-process", "kvm", "preload", "seccomp", "fuse"):
            rows = [r for r in pre if r.get("label") == label]
            if rows:
                lines.append("| %s | %.3f | %.3f | %.0f |" % (
                    label, median([r["p50_us"] for r in rows]),
                    median([r["p99_us"] for r in rows]),
                    median([r["calls_per_s"] for r in rows])))
        per_round = []
        for rnd in sorted({r.get("round") for r in pre}):
            a = [r for r in pre if r.get("label") == "preload" and r.get("round") == rnd]
            b = [r for r in pre if r.get("label") == "fuse" and r.get("round") == rnd]
            if a and b:
                per_round.append(a[0]["p50_us"] / b[0]["p50_us"])
        if per_round:
            lines += ["", "preload p50 / FUSE p50 (target ≤ 1): %.3f (per round: %s)" % (
                median(per_round), " ".join("%.2f" % x for x in per_round))]
        per_round = []
        for rnd in sorted({r.get("round") for r in pre}):
            a = [r for r in pre if r.get("label") == "seccomp" and r.get("round") == rnd]
            b = [r for r in pre if r.get("label") == "fuse" and r.get("round") == rnd]
            if a and b:
                per_round.append(a[0]["p50_us"] / b[0]["p50_us"])
        if per_round:
            lines += ["", "seccomp p50 / FUSE p50 (target ≤ 1.5): %.3f (per round: %s)" % (
                median(per_round), " ".join("%.2f" % x for x in per_round))]
        lines.append("")
    over = [r for r in results if r.get("suite") == "overhead"]
    if over:
        bounced = {r["command"]: r["calls"] for r in results if r.get("suite") == "bounced"}
        lines += ["### What each transport costs a command that never opens /dev/mshv "
                  "(seconds, medians over rounds)", "",
                  "| command | bare | preload | ratio (target ≤ 1.05) | seccomp | ratio "
                  "(target ≤ 1.3) | calls seccomp bounces | µs per bounced call |",
                  "|---|---|---|---|---|---|---|---|"]
        for name in sorted({r["command"] for r in over}):
            def med(label):
                return median([r["seconds"] for r in over
                               if r["command"] == name and r["label"] == label])
            bare, pre_s, sec_s = med("bare"), med("preload"), med("seccomp")
            n = bounced.get(name)
            lines.append("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %s | %s |" % (
                name, bare, pre_s, pre_s / bare, sec_s, sec_s / bare,
                n if n is not None else "-",
                "%.1f" % ((sec_s - bare) * 1e6 / n) if n else "-"))
        lines.append("")

    place = [r for r in results if r.get("step") == "placement"]
    if place:
        lines += ["### Thread placement (1 client thread, medians over rounds)", "",
                  "| target | placement | p50 µs | p99 µs | calls/s |", "|---|---|---|---|---|"]
        for label in ("mshv-emu", "null-fuse"):
            for where in ("same-cpu", "cross-cpu", "unpinned"):
                rows = [r for r in place if r.get("label") == label and r.get("placement") == where]
                if rows:
                    lines.append("| %s | %s | %.1f | %.1f | %.0f |" % (
                        label, where, median([r["p50_us"] for r in rows]),
                        median([r["p99_us"] for r in rows]),
                        median([r["calls_per_s"] for r in rows])))
        lines.append("")

    mem = [r for r in results if r.get("suite") == "memory"]
    for r in mem:
        lines += ["### Memory", "", "Daemon RSS idle: %d KiB; with %d open sessions: %d KiB; "
                  "%.0f bytes per open session (target ≤ 512)." % (
                      r["idle_rss_kb"], r["sessions"], r["loaded_rss_kb"], r["bytes_per_session"]),
                  ""]

    rel = [r for r in results if r.get("suite") == "reload"]
    if rel:
        lines += ["### Reload: SIGHUP to new answers visible (median over rounds)", "",
                  "| capabilities | file | ms |", "|---|---|---|"]
        for caps in sorted({r["capabilities"] for r in rel}):
            rows = [r for r in rel if r["capabilities"] == caps]
            lines.append("| %d | %.0f KiB | %.1f |" % (caps, rows[0]["file_bytes"] / 1024,
                                                      median([r["ms"] for r in rows])))
        lines.append("")

    vm = [r for r in results if r.get("step") == "cuse-vm"]
    if vm:
        lines += ["### CUSE in the VM (TCG-emulated CPU: not comparable with the rest)", "",
                  "| threads | p50 µs | p99 µs | calls/s |", "|---|---|---|---|"]
        for r in vm:
            lines.append("| %d | %.1f | %.1f | %.0f |" % (r["threads"], r["p50_us"], r["p99_us"],
                                                         r["calls_per_s"]))
        lines.append("")

    errors = [r for r in results if r.get("suite") == "error"]
    if errors:
        lines += ["### Measurements that failed (twice) in this run", ""]
        lines += ["- `%s`: exit %s: %s" % (r["argv"], r["exit"], r["stderr"].replace("\n", " / "))
                  for r in errors]
        lines.append("")

    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    if table and shutil.which("gnuplot"):
        data = os.path.join(out, "e2e.dat")
        with open(data, "w") as f:
            f.write("# threads " + " ".join("%s_p50 %s_cps" % (l, l) for l in labels) + "\n")
            for threads in (1, 2, 4, 8):
                cells = []
                for label in labels:
                    row = table.get((label, threads))
                    cells += ["%.3f" % row["p50_us"], "%.0f" % row["calls_per_s"]] if row else ["NaN", "NaN"]
                f.write("%d %s\n" % (threads, " ".join(cells)))
        plot = ["set terminal pngcairo size 1100,450 font ',10'",
                "set output '%s'" % os.path.join(out, "benchmarks.png"),
                "set multiplot layout 1,2", "set key top left", "set grid",
                "set xlabel 'client threads'", "set xtics (1,2,4,8)", "set logscale y",
                "set title 'ioctl latency p50 (µs, log scale)'"]
        plot.append("plot " + ", ".join("'%s' using 1:%d with linespoints title '%s'" % (data, 2 + 2 * i, l)
                                        for i, l in enumerate(labels)))
        plot += ["unset logscale y", "set logscale y", "set key bottom right",
                 "set title 'calls per second (log scale)'"]
        plot.append("plot " + ", ".join("'%s' using 1:%d with linespoints title '%s'" % (data, 3 + 2 * i, l)
                                        for i, l in enumerate(labels)))
        plot.append("unset multiplot")
        subprocess.run(["gnuplot"], input="\n".join(plot), text=True, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true", help="CI smoke run: seconds, no VM")
    parser.add_argument("--no-vm", action="store_true", help="skip the CUSE run in the VM")
    parser.add_argument("--step", action="append", metavar="NAME",
                        help="run only this step (repeatable): dispatch, end_to_end, "
                             "side_channel, preload, placement, memory, reload, cuse_vm")
    parser.add_argument("--report", metavar="RESULTS",
                        help="measure nothing: rewrite the summary and plot from a results.jsonl")
    args = parser.parse_args()
    # Results have a directory of their own, not CMake's build tree.
    args.out = args.out or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                        "results", "bench-smoke" if args.quick else "bench")
    if args.report:
        with open(args.report) as f:
            results = [json.loads(line) for line in f if line.strip()]
        os.makedirs(args.out, exist_ok=True)
        report(results, args.out)
        return
    Suite(args).run()


if __name__ == "__main__":
    main()
