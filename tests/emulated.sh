#!/bin/sh
# emulated.sh OUT PROGRAM WRAPPER... - write OUT, an executable script that
# runs PROGRAM through WRAPPER (a cross build's emulator, e.g. qemu-arm),
# for the test scripts the build machine's python3 runs: they start the
# programs they test themselves, and without a binfmt_misc entry nothing
# would run an ARM binary for them. exec keeps the pid, so their signals
# reach the emulated program.
set -eu
out=$1
prog=$2
shift 2
{
	echo '#!/bin/sh'
	printf 'exec'
	for w in "$@" "$prog"; do
		printf " '%s'" "$(printf '%s' "$w" | sed "s/'/'\\\\''/g")"
	done
	echo ' "$@"'
} >"$out.tmp"
chmod +x "$out.tmp"
mv "$out.tmp" "$out"
