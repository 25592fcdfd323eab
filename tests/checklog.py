# SPDX-License-Identifier: MIT
"""What the Python test scripts share: named checks that print a line
each, and the summary that sets the exit status."""

import sys

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def eq(got, want, what):
    return check(got == want, f"{what}: got {got!r}, want {want!r}")


def finish():
    """Exit 1 listing the failed checks, else say so and return."""
    if failures:
        print(f"{len(failures)} failure(s):")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("all passed")
