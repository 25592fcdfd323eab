#!/bin/bash
# Run one test program in the test VM, as a Meson test: prepare the VM
# (setup.sh: packages, Debian's kernel), then boot it and run PROGRAM
# (run.sh), and exit with PROGRAM's status.
#
#   tests/vm/vm-test.sh PROGRAM [ARGS...]
#
# Exits 77 ("skipped") only when the VM cannot be prepared because this is
# not root and nothing can install the packages; any other failure to
# prepare or boot fails the test.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! out=$("$here/setup.sh" 2>&1); then
	echo "$out"
	if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
		echo "vm-test: the test VM needs packages only root can install: skipped"
		exit 77
	fi
	echo "vm-test: setup.sh failed" >&2
	exit 1
fi
exec "$here/run.sh" -- "$@"
