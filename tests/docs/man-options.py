#!/usr/bin/env python3
"""docs-man-options: each tool's man page and its --help agree.

For each TOOL=PAGE pair: run the built TOOL --help, and check that every
long option it prints appears in PAGE as an option (bold, as scdoc writes
*--opt*), and that every option PAGE's OPTIONS section describes is one
--help prints (a page must not document an option the tool lacks).  Also,
the EXAMPLE of the policy page (POLICY_PAGE) passes `mshv-emu --check`.

Usage: man-options.py BIN_DIR POLICY_PAGE TOOL=PAGE...
"""
import os
import re
import subprocess
import sys
import tempfile

bin_dir, policy_page, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def roff(path):
    with open(path, encoding="utf-8") as f:
        return f.read().replace("\\&", "").replace("\\-", "-")


OPT = r"--[a-z][a-z0-9-]*"
for pair in pairs:
    tool, page = pair.split("=", 1)
    out = subprocess.run([os.path.join(bin_dir, tool), "--help"], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        fail(f"{tool} --help exited {out.returncode}")
    # "--opt" is how the help text names any option ("--opt=value"), not one.
    helped = set(re.findall(r"(?<![\w-])" + OPT, out.stdout)) - {"--opt"}
    listed = set(helped)
    listed.add("--help")  # it just ran: the tool takes it, whether it lists it or not
    text = roff(page)
    bold = set(re.findall(r"\\fB(" + OPT + r")\\fR", text))
    for opt in sorted(helped - bold):
        fail(f"{os.path.basename(page)}: {tool} --help prints {opt}, the page does not "
             f"describe it (docs/man/{os.path.basename(page)}.scd)")
    # The OPTIONS section's items: a bold --opt line right before `.RS`.
    section = re.search(r"^\.SH OPTIONS\n(.*?)(?=^\.SH )", text, re.S | re.M)
    if not section:
        fail(f"{os.path.basename(page)}: no OPTIONS section")
        continue
    items = re.findall(r"^\\fB(" + OPT + r")\\fR[^\n]*\n\.RS", section.group(1), re.M)
    for opt in sorted(set(items) - listed):
        fail(f"{os.path.basename(page)}: describes {opt}, which {tool} --help does not print")
    if not items:
        fail(f"{os.path.basename(page)}: no option found in OPTIONS: the scan is broken")
    print(f"docs-man-options: {tool}: {len(helped)} options in --help, "
          f"{len(set(items))} in the page's OPTIONS")

# The policy page's example is a valid policy.
text = roff(policy_page)
example = re.search(r"^\.SH EXAMPLE\n.*?^\.nf\n(.*?)^\.fi", text, re.S | re.M)
if not example:
    fail(f"{policy_page}: no EXAMPLE block")
else:
    body = re.sub(r"^\.RS \d+\n|^\.RE\n", "", example.group(1), flags=re.M)
    body = body.replace("\\(aq", "'").replace("\\*(Aq", "'").replace("\\e", "\\")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(body)
    try:
        r = subprocess.run([os.path.join(bin_dir, "mshv-emu"), "--check", f.name],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            fail(f"{os.path.basename(policy_page)}: its EXAMPLE does not pass mshv-emu "
                 f"--check:\n{r.stdout}{r.stderr}")
    finally:
        os.unlink(f.name)

if failures:
    sys.exit(1)
print("docs-man-options: pages and --help agree")
