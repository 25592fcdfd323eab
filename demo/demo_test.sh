#!/bin/sh
# demo_test.sh RKV_DEMO - the demo ends cleanly: after --seconds, and on
# SIGINT as Ctrl-C sends it. Its consumers' waits now return -EINTR on a
# signal (pool.h); the demo must take that as "look at why", not as a
# failure (it reported "consumer 1 (block) failed: ... Interrupted system
# call" until it did).
set -u
demo=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for i in 1 2 3; do
	"$demo" --seconds 1 --pool "demo-test-$$" >"$out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] || grep -qi "failed" "$out"; then
		echo "FAIL: rkv-demo --seconds 1 (run $i) exited $rc:"
		cat "$out"
		exit 1
	fi
done

"$demo" --pool "demo-test-$$" >"$out" 2>&1 &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -ne 0 ] || grep -qi "failed" "$out" || ! grep -q "SIGINT" "$out"; then
	echo "FAIL: rkv-demo stopped by SIGINT exited $rc:"
	cat "$out"
	exit 1
fi
echo "demo_test: ok"
