#!/usr/bin/env python3
"""docs-ci: the CI recipes of docs/ci.md (docs/examples/) hold up.

- github-actions.yml parses (python3-yaml) and has the recipe's shape: a
  step that installs mshv-emu, one that runs the tests under mshv-emu-run
  with --policy, --hide-kvm and --trace, and one that uploads that
  transcript only when a step failed.
- Every option a recipe (or docs/ci.md) gives mshv-emu-run, mshv-emu,
  mshv-probe or mshvctl is one the built tool's --help lists.
- Containerfile: what it copies exists in the source tree, and, where apt
  has package lists, every package it installs is known to this machine's
  Debian (the image's release).
- docs/ci.md's yaml snippets parse.
- ci.sh, the shell recipe, runs against this build: a command that opens
  the device passes and leaves no transcript; one that fails keeps the
  transcript, with that command's calls in it, and exits with its status.

Usage: ci-recipes.py SOURCE_DIR BIN_DIR
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

import yaml

SRC, BIN = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
EXAMPLES = os.path.join(SRC, "docs", "examples")
TOOLS = ("mshv-emu-run", "mshv-emu", "mshv-probe", "mshvctl")
DEADLINE = 60  # seconds for any one command
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def help_options(tool):
    out = subprocess.run([os.path.join(BIN, tool), "--help"], capture_output=True,
                         text=True, timeout=DEADLINE)
    # "--opt" is how a help text names any option ("--opt=value"), not one.
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", out.stdout + out.stderr)) - {"--opt"}


# ---- the GitHub Actions workflow ----
workflow_path = os.path.join(EXAMPLES, "github-actions.yml")
workflow = yaml.safe_load(read(workflow_path))
steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
runs = [s for s in steps if "run" in s]
install = [s for s in runs if "cmake --install" in s["run"]]
test = [s for s in runs if "mshv-emu-run" in s["run"] and "cargo test" in s["run"]]
upload = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
if not install:
    fail(f"{workflow_path}: no step installs mshv-emu (cmake --install)")
if len(test) != 1:
    fail(f"{workflow_path}: want one step running cargo test under mshv-emu-run, got {len(test)}")
else:
    words = shlex.split(test[0]["run"])
    for opt in ("--policy", "--hide-kvm", "--trace"):
        if opt not in words:
            fail(f"{workflow_path}: the test step does not pass {opt}")
    trace = words[words.index("--trace") + 1] if "--trace" in words else None
    if len(upload) != 1:
        fail(f"{workflow_path}: want one upload-artifact step, got {len(upload)}")
    else:
        if upload[0].get("if") != "failure()":
            fail(f"{workflow_path}: the transcript must be uploaded if: failure(), "
                 f"not {upload[0].get('if')!r}")
        if upload[0].get("with", {}).get("path") != trace:
            fail(f"{workflow_path}: uploads {upload[0].get('with', {}).get('path')!r}, "
                 f"but the test step writes the transcript to {trace!r}")
if workflow.get(True) is None and "on" not in workflow:
    fail(f"{workflow_path}: no `on:` trigger")

# ---- docs/ci.md's YAML snippets parse ----
ci_md = os.path.join(SRC, "docs", "ci.md")
blocks = re.findall(r"^```yaml\n(.*?)^```", read(ci_md), re.S | re.M)
for block in blocks:
    try:
        yaml.safe_load(block)
    except yaml.YAMLError as e:
        fail(f"docs/ci.md: a yaml block does not parse: {e}")
if not blocks:
    fail("docs/ci.md: no yaml block found")

# ---- every option a recipe uses is in the tool's --help ----
helps = {tool: help_options(tool) for tool in TOOLS}
for tool, opts in helps.items():
    if "--help" not in opts and tool != "mshvctl":
        fail(f"{tool} --help lists no options")
recipes = [os.path.join(EXAMPLES, f) for f in sorted(os.listdir(EXAMPLES))]
recipes.append(os.path.join(SRC, "docs", "ci.md"))
tool_re = re.compile(r"(?<![\w/.-])(?:[\w/.$-]*/)?(" + "|".join(map(re.escape, TOOLS)) + r")(?![\w-])")
checked = 0
for path in recipes:
    text = read(path).replace("\\\n", " ")
    if path.endswith(".yml"):  # YAML folds `>-` blocks: join them the same way
        text = re.sub(r"\n\s+(?=--)", " ", text)
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for m in tool_re.finditer(line):
            tool = m.group(1)
            rest = line[m.end():]
            for word in re.split(r"[\s\"',\[\]]+", rest):
                if word == "--" or word.startswith(("|", ";", "&", ")", "`")):
                    break
                if re.fullmatch(r"--[a-z][a-z0-9-]*(=.*)?", word):
                    opt = word.split("=", 1)[0]
                    checked += 1
                    if opt not in helps[tool]:
                        fail(f"{os.path.relpath(path, SRC)}: {tool} {opt}: not in "
                             f"`{tool} --help`")
if checked < 5:
    fail(f"only {checked} options found in the recipes: the scan is broken")

# ---- Containerfile ----
containerfile = os.path.join(EXAMPLES, "Containerfile")
ctext = read(containerfile).replace("\\\n", " ")
for m in re.finditer(r"^COPY\s+(?!--from)(\S+)\s", ctext, re.M):
    if not os.path.exists(os.path.join(SRC, m.group(1))):
        fail(f"Containerfile: COPY {m.group(1)}: not in the source tree (the build context)")
have_lists = subprocess.run(["apt-cache", "show", "libc6"], capture_output=True).returncode == 0
if have_lists:
    for m in re.finditer(r"apt-get install ([^&\n]*)", ctext):
        for pkg in m.group(1).split():
            if pkg.startswith("-"):
                continue
            if subprocess.run(["apt-cache", "show", pkg], capture_output=True).returncode:
                fail(f"Containerfile: apt-get install {pkg}: no such Debian package")
else:
    print("docs-ci: apt has no package lists here; Containerfile packages not checked")

# ---- the shell recipe, against this build ----
env = dict(os.environ)
env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
env["MSHV_EMU_POLICY"] = os.path.join(SRC, "policies", "microsoft.yaml")
env.pop("MSHV_EMU_SRC", None)
ci_sh = os.path.join(EXAMPLES, "ci.sh")
with tempfile.TemporaryDirectory(prefix="docs-ci-") as tmp:
    env["MSHV_EMU_TRACE"] = os.path.join(tmp, "pass.jsonl")
    r = subprocess.run(["sh", ci_sh, "mshv-probe", "--profile", "microsoft"], env=env,
                       cwd=tmp, capture_output=True, text=True, timeout=DEADLINE)
    if r.returncode != 0 or "mshv-probe: /dev/mshv, profile microsoft" not in r.stdout:
        fail(f"ci.sh mshv-probe: exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    if os.path.exists(env["MSHV_EMU_TRACE"]):
        fail("ci.sh kept the transcript of a run that passed")

    env["MSHV_EMU_TRACE"] = os.path.join(tmp, "fail.jsonl")
    r = subprocess.run(["sh", ci_sh, "sh", "-c", "mshv-probe --profile microsoft >/dev/null; exit 3"],
                       env=env, cwd=tmp, capture_output=True, text=True, timeout=DEADLINE)
    if r.returncode != 3:
        fail(f"ci.sh on a failing command: exit {r.returncode}, want 3\nstderr: {r.stderr}")
    if env["MSHV_EMU_TRACE"] not in r.stderr:
        fail(f"ci.sh on a failing command does not name the transcript: {r.stderr}")
    try:
        events = [json.loads(l) for l in read(env["MSHV_EMU_TRACE"]).splitlines() if l]
    except (OSError, ValueError) as e:
        events = []
        fail(f"ci.sh on a failing command: transcript {env['MSHV_EMU_TRACE']}: {e}")
    if not any(e.get("event") == "ioctl" and e.get("comm", "").startswith("mshv-probe")
               for e in events):
        fail(f"the kept transcript has no ioctl of mshv-probe ({len(events)} events)")

if failures:
    print(f"docs-ci: {len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print(f"docs-ci: workflow, Containerfile and ci.sh hold; {checked} options checked against --help")
