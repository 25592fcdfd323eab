# SPDX-License-Identifier: MIT
"""testutil.py - what the Python test scripts share: failing, running a program."""
import subprocess
import sys


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(args, expect, timeout=60):
    """Run @args; fail unless it exits @expect. Returns the CompletedProcess."""
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if p.returncode != expect:
        fail("%s exited %d, expected %d\nstdout: %s\nstderr: %s"
             % (" ".join(args), p.returncode, expect, p.stdout[-3000:], p.stderr[-3000:]))
    return p
