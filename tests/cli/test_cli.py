#!/usr/bin/env python3
"""The tools' command lines, without a daemon or a device: what a script
sees for --help, --version, usage errors (exit 2, the usage on stderr,
nothing sent) and --json errors (one object on stdout).

Binaries come from the environment: MSHV_EMU_CTL, MSHV_EMU_PROBE,
MSHV_EMU_RUN, MSHV_EMU_BIN.  Each check runs with a deadline."""
import json
import os
import socket
import subprocess
import sys
import tempfile

FAILURES = []


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)


def check(what, cond, proc=None):
    if cond:
        return
    detail = ""
    if proc is not None:
        detail = f"\n  exit {proc.returncode}\n  stdout: {proc.stdout!r}\n  stderr: {proc.stderr!r}"
    FAILURES.append(f"{what}{detail}")


def one_object(text):
    """The one JSON object TEXT holds, on one line, or None."""
    if not text.endswith("\n") or text.count("\n") != 1:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def usage_error(tool, argv, says, json_too=True):
    """ARGV is a usage error: exit 2, SAYS and the usage on stderr, nothing on
    stdout; with --json, also one {"error": ...} object on stdout."""
    proc = run([tool] + argv)
    check(f"{argv}: exit 2, `{says}` and the usage on stderr",
          proc.returncode == 2 and says in proc.stderr and "usage:" in proc.stderr
          and proc.stdout == "", proc)
    if not json_too:
        return
    proc = run([tool, "--json"] + argv)
    obj = one_object(proc.stdout)
    check(f"{argv} --json: exit 2, one {{\"error\"}} object holding `{says}`",
          proc.returncode == 2 and obj is not None and list(obj) == ["error"]
          and says in obj["error"] and "usage:" in proc.stderr, proc)


def help_and_version(tool, name):
    for flag in ("-h", "--help"):
        proc = run([tool, flag])
        check(f"{name} {flag}: exit 0, usage on stdout",
              proc.returncode == 0 and "usage:" in proc.stdout and proc.stderr == "", proc)
    proc = run([tool, "--version"])
    words = proc.stdout.split()
    check(f"{name} --version: `{name} VERSION` on stdout",
          proc.returncode == 0 and len(words) == 2 and words[0] == name
          and words[1][0].isdigit() and proc.stdout.endswith("\n"), proc)


def test_mshvctl(ctl):
    help_and_version(ctl, "mshvctl")
    # A socket nobody listens on: anything sent would fail with exit 1, so
    # exit 2 shows that a usage error was caught before connecting.
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "none.sock")
        s = ["--socket", sock]
        usage_error(ctl, s + ["frobnicate"], "unknown command `frobnicate`")
        usage_error(ctl, s, "no COMMAND given")
        usage_error(ctl, s + ["status", "extra"], "unexpected argument `extra`")
        usage_error(ctl, s + ["fault", "on", "x"], "expected `fault enable|disable RULE`")
        usage_error(ctl, s + ["trace", "start"], "expected `trace start FILE | trace stop`")
        usage_error(ctl, s + ["inject"], "expected `inject RULE`")
        usage_error(ctl, s + ["inject", ""], "empty or holds a newline")
        usage_error(ctl, s + ["--bogus", "status"], "unknown option `--bogus`")
        # A prefix of an option is not that option.
        usage_error(ctl, ["--sock", sock, "status"], "unknown option `--sock`")
        usage_error(ctl, ["--vers"], "unknown option `--vers`")
        usage_error(ctl, ["status", "--socket"], "--socket needs a value")
        usage_error(ctl, s + ["--json=yes", "status"], "--json takes no value")
        usage_error(ctl, ["--socket", "x" * 200, "status"], "too long for a Unix socket")
        # `--` ends the options: what follows is the command's.
        usage_error(ctl, s + ["--", "status", "--json"], "unexpected argument `--json`",
                    json_too=False)
        # Options anywhere, --opt=value or --opt value: these reach connect.
        for argv in (["status", "--socket", sock], ["status", f"--socket={sock}"],
                     ["--socket", sock, "status"], ["--json", "status", "--socket", sock]):
            proc = run([ctl] + argv)
            check(f"{argv}: exit 1 naming the socket",
                  proc.returncode == 1 and f"connect {sock}" in proc.stderr, proc)
        usage_error(ctl, s + ["--timeout", "0", "status"], "--timeout `0`: expected whole seconds")
        # A server that never answers: given up on after --timeout, not hung on.
        silent_path = os.path.join(tmp, "silent.sock")
        silent = socket.socket(socket.AF_UNIX)
        silent.bind(silent_path)
        silent.listen()
        proc = run([ctl, "--timeout", "1", "--json", "--socket", silent_path, "status"])
        obj = one_object(proc.stdout)
        check("a silent server: exit 1 after --timeout, one {\"error\"} saying so",
              proc.returncode == 1 and obj is not None
              and "no answer within 1 s" in obj.get("error", ""), proc)
        silent.close()
        proc = run([ctl, "stats", "--json", f"--socket={sock}"])
        obj = one_object(proc.stdout)
        check("--json, no daemon: exit 1 and one {\"error\"} object",
              proc.returncode == 1 and obj is not None and list(obj) == ["error"]
              and f"connect {sock}" in obj["error"]
              and "is mshv-emu running" in obj["error"], proc)


def no_device(probe, path):
    """PATH answers no mshv ioctl: exit 1 and say so, as text and as JSON."""
    says = f"no mshv device answers at {path}"
    proc = run([probe, "--device", path])
    check(f"mshv-probe --device {path}: exit 1, `{says}` and what to do",
          proc.returncode == 1 and says in proc.stderr and "--profile" in proc.stderr
          and proc.stdout == "", proc)
    proc = run([probe, f"--device={path}", "--json"])
    obj = one_object(proc.stdout)
    check(f"mshv-probe --device={path} --json: exit 1, one {{\"error\"}} object",
          proc.returncode == 1 and obj is not None and list(obj) == ["error"]
          and says in obj["error"], proc)


def test_probe(probe):
    help_and_version(probe, "mshv-probe")
    # --version is itself, not a prefix of --versions; a prefix is no option.
    proc = run([probe, "--version"])
    check("mshv-probe --version is not --versions", "mshv-probe" in proc.stdout, proc)
    usage_error(probe, ["--vers", "1"], "unknown option `--vers`")
    usage_error(probe, ["--dev", "/dev/null"], "unknown option `--dev`; did you mean `--device`?")
    usage_error(probe, ["--profile", "nope"], "unknown profile `nope`")
    usage_error(probe, ["--versions=0-"], "--versions `0-`")
    usage_error(probe, ["--device"], "--device needs a value")
    usage_error(probe, ["extra"], "unexpected argument `extra`")
    no_device(probe, "/dev/null")
    with tempfile.TemporaryDirectory() as tmp:
        regular = os.path.join(tmp, "mshv")
        with open(regular, "w") as f:
            f.write("not a device\n")
        no_device(probe, regular)
        # A failure before any ioctl is JSON too, and says what to do.
        missing = os.path.join(tmp, "missing")
        proc = run([probe, "--json", "--device", missing])
        obj = one_object(proc.stdout)
        check("mshv-probe --json, no such file: exit 1, one {\"error\"} object",
              proc.returncode == 1 and obj is not None
              and f"open {missing}: No such file or directory" in obj["error"]
              and "is mshv-emu running?" in obj["error"], proc)
    # A profile that sends nothing answers nothing, and that is no failure.
    proc = run([probe, "--device", "/dev/null", "--profile", "none"])
    check("mshv-probe --profile none: exit 0", proc.returncode == 0, proc)


def test_run(run_bin):
    help_and_version(run_bin, "mshv-emu-run")
    with tempfile.TemporaryDirectory() as tmp:
        marker = os.path.join(tmp, "ran")
        cmd = ["touch", marker]
        # Usage errors: exit 2, and CMD never starts.
        for argv, says in (
                (["--pol", "x"] + cmd, "unknown option `--pol`; did you mean `--policy`?"),
                (["--transport=bogus"] + cmd, "--transport `bogus`: expected auto"),
                (["--hide-kvm=yes"] + cmd, "--hide-kvm takes no value"),
                (["--in-process", "--trace", os.path.join(tmp, "t")] + cmd,
                 "--in-process gives each process a device of its own"),
                # No --json: CMD's output is the run's stdout.
                (["--json"] + cmd, "unknown option `--json`"),
                ([], "no CMD to run"),
                (["--hide-kvm", "--"], "no CMD to run"),
                (["--policy"], "--policy needs a value")):
            usage_error(run_bin, argv, says, json_too=False)
            check(f"mshv-emu-run {argv}: CMD did not run", not os.path.exists(marker))
        # --opt=value, and `--` before a CMD; what follows CMD is CMD's own.
        policy = os.path.join(os.environ["MSHV_EMU_POLICIES"], "default.yaml")
        proc = run([run_bin, f"--policy={policy}", "--transport", "preload", "--", "sh", "-c",
                    'test "$1" = --bogus && touch "$2"', "sh", "--bogus", marker])
        check("mshv-emu-run --policy=FILE -- CMD --bogus: CMD runs with --bogus",
              proc.returncode == 0 and os.path.exists(marker), proc)


def test_emu(emu):
    """mshv-emu's command line: whole option names, and --check --json."""
    help_and_version(emu, "mshv-emu")
    policies = os.environ["MSHV_EMU_POLICIES"]
    good = os.path.join(policies, "default.yaml")
    for argv, says in (
            (["--chec", good], "unknown option `--chec`; did you mean `--check`?"),
            (["--polic=x"], "unknown option `--polic`; did you mean `--policy`?"),
            (["--check"], "--check needs FILE..."),
            (["--trace", ""], "--trace needs a FILE"),
            (["--check", "--bogus", good], "--check takes FILEs, not the option --bogus"),
            (["--print-capabilities", "extra"], "--print-capabilities takes no argument, not extra"),
            (["--print-capabilities", "--check", good],
             "--check and --print-capabilities are two modes: give one"),
            (["--front", "bogus", "--print-capabilities"], "--front bogus: expected")):
        usage_error(emu, argv, says)
    # --json asks for results, which only --check prints.
    proc = run([emu, "--json", "--policy", good])
    obj = one_object(proc.stdout)
    check("mshv-emu --json without --check: exit 2, one {\"error\"} object",
          proc.returncode == 2 and obj is not None
          and "--json goes with --check" in obj.get("error", "") and "usage:" in proc.stderr,
          proc)
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("profile: negotiated\ncapabilities:\n  - {id: zero, value: 1}\n")
        # --json before or after --check; `--` before a FILE.
        for argv in (["--json", "--check", good, bad], ["--check", good, "--json", "--", bad]):
            proc = run([emu] + argv)
            obj = one_object(proc.stdout)
            files = obj.get("files") if obj else None
            check(f"mshv-emu {argv}: exit 1, one object with both files",
                  proc.returncode == 1 and obj is not None and obj.get("ok") is False
                  and isinstance(files, list) and len(files) == 2, proc)
            if not files or len(files) != 2:
                continue
            check(f"mshv-emu {argv}: the good file is ok, with its profile and digest",
                  files[0].get("file") == good and files[0].get("ok") is True
                  and files[0].get("profile") == "negotiated"
                  and str(files[0].get("digest", "")).startswith("sha256:"), proc)
            errors = files[1].get("errors") or []
            check(f"mshv-emu {argv}: the bad file's three errors, `zero` at 3:10",
                  files[1].get("file") == bad and files[1].get("ok") is False
                  and len(errors) == 3
                  and any(e.get("line") == 3 and e.get("column") == 10
                          and "`zero` is not a number" in e.get("message", "")
                          for e in errors), proc)
        proc = run([emu, "--check", "--json", good])
        obj = one_object(proc.stdout)
        check("mshv-emu --check --json GOOD: exit 0, ok",
              proc.returncode == 0 and obj is not None and obj.get("ok") is True, proc)


def main():
    tools = {"MSHV_EMU_CTL": test_mshvctl, "MSHV_EMU_PROBE": test_probe,
             "MSHV_EMU_RUN": test_run, "MSHV_EMU_BIN": test_emu}
    for env, test in tools.items():
        path = os.environ.get(env)
        if not path:
            print(f"{env} is not set: give the path to the binary", file=sys.stderr)
            return 1
        test(path)
    for failure in FAILURES:
        print(f"FAIL: {failure}", file=sys.stderr)
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
