#!/bin/bash
# Build tests/vm/dmabuf_probe.c for the VM: a dynamically linked Debian 12
# binary (run.sh copies it with its libraries into the guest).
#
#   tests/vm/build.sh [OUTPUT]     default: $RKV_VM_CACHE/bin/dmabuf_probe
#
# Compiler: $CC (default cc), C17, warnings are errors. The DRM uapi headers
# come from libdrm-dev (tests/vm/setup.sh installs it); nothing is linked
# but libc.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${RKV_VM_CACHE:-$repo/build/vm}
out=${1:-$cache/bin/dmabuf_probe}
cc=${CC:-cc}

drm_cflags=$(pkg-config --cflags libdrm 2>/dev/null || echo -I/usr/include/libdrm)
[ -f /usr/include/libdrm/drm.h ] || [ -n "$(pkg-config --cflags-only-I libdrm 2>/dev/null)" ] || {
	echo "vm-build: error: libdrm-dev headers missing: run tests/vm/setup.sh" >&2
	exit 1
}
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086 # $drm_cflags is a list of flags
$cc -std=c17 -O2 -g -Wall -Wextra -Wpedantic -Wshadow -Werror $drm_cflags \
	-o "$out.tmp" "$here/dmabuf_probe.c"
mv "$out.tmp" "$out"
echo "vm-build: built $out"
