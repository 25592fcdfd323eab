#!/bin/bash
# The one entry point for CI: prepare the VM (setup.sh), build the DMA-BUF
# probe (build.sh), run it in a Debian 12 kernel under qemu (run.sh), and
# exit with the probe's status (0 passed, 1 a check failed, 124 timeout,
# 125 harness failure; see run.sh). Prints the time of each step.
#
#   tests/vm/test-vm.sh [run.sh options, e.g. --timeout 900]
#
# Everything it writes goes under $RKV_VM_CACHE (default build/vm).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export RKV_VM_CACHE=${RKV_VM_CACHE:-$repo/build/vm}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

t0=$(now_ms)
echo "=== vm: setup"
"$here/setup.sh"
t1=$(now_ms)
echo "=== vm: build the probe"
"$here/build.sh" "$RKV_VM_CACHE/bin/dmabuf_probe"
t2=$(now_ms)
echo "=== vm: boot and run the probe"
rc=0
"$here/run.sh" "$@" -- "$RKV_VM_CACHE/bin/dmabuf_probe" || rc=$?
t3=$(now_ms)

echo "=== vm: timings"
echo "    setup        $(secs $((t1 - t0))) s"
echo "    build        $(secs $((t2 - t1))) s"
echo "    boot+probe   $(secs $((t3 - t2))) s"
echo "    total        $(secs $((t3 - t0))) s"
if [ "$rc" -eq 0 ]; then
	echo "=== vm: PASSED"
else
	echo "=== vm: FAILED (status $rc)"
fi
exit "$rc"
