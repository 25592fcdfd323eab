#!/bin/sh
# demo_test.sh RKV_DEMO - the demo ends cleanly: after --seconds, on SIGINT
# to it alone, on SIGTERM, and on SIGINT to its whole process group as
# Ctrl-C sends it. Its consumers' waits return -EINTR on a signal (pool.h);
# the demo must take that as "look at why", not as a failure (it reported
# "consumer 1 (block) failed: ... Interrupted system call" until it did).
# Every time its rkv-camera child must be gone afterwards, with its pool
# and control sockets, and nothing of it left in /dev/shm.
set -u
demo=$1
name="demo-test-$$"
out=$(mktemp)
shm_before=$(mktemp)
trap 'rm -f "$out" "$shm_before"' EXIT
ls /dev/shm >"$shm_before" 2>/dev/null

fail() {
	echo "FAIL: $*"
	cat "$out"
	exit 1
}

# After a run: the camera the demo started is gone, and so is every trace.
check_clean() {
	what=$1
	cam=$(sed -n 's/^rkv-demo: camera .*, pid \([0-9][0-9]*\)),.*/\1/p' "$out")
	[ -n "$cam" ] || fail "$what: the demo did not say its camera's pid"
	if kill -0 "$cam" 2>/dev/null; then
		kill "$cam"
		fail "$what: the camera (pid $cam) outlived the demo"
	fi
	if grep -q "@rkvision[^ ]*/$name\$" /proc/net/unix; then
		fail "$what: a socket of '$name' is still listening"
	fi
	if ls /dev/shm 2>/dev/null | grep -E 'rkv|demo' | grep -vxFf "$shm_before" | grep -q .; then
		fail "$what: new entries in /dev/shm: $(ls /dev/shm | grep -vxFf "$shm_before")"
	fi
}

for i in 1 2 3; do
	"$demo" --seconds 1 --pool "$name" >"$out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] || grep -qi "failed" "$out"; then
		fail "rkv-demo --seconds 1 (run $i) exited $rc:"
	fi
	grep -q "pattern ok [1-9]" "$out" || fail "run $i: no consumer verified a frame"
	check_clean "--seconds 1 (run $i)"
done

for sig in INT TERM; do
	"$demo" --pool "$name" >"$out" 2>&1 &
	pid=$!
	sleep 1.5
	kill -"$sig" "$pid"
	wait "$pid"
	rc=$?
	if [ "$rc" -ne 0 ] || grep -qi "failed" "$out" || ! grep -q "SIG$sig" "$out"; then
		fail "rkv-demo stopped by SIG$sig exited $rc:"
	fi
	check_clean "SIG$sig"
done

# Ctrl-C: SIGINT to the demo, its consumers and its camera at once.
if command -v setsid >/dev/null 2>&1; then
	setsid "$demo" --pool "$name" >"$out" 2>&1 &
	pid=$!
	sleep 1.5
	kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid"
	wait "$pid"
	rc=$?
	if [ "$rc" -ne 0 ] || grep -qi "failed" "$out"; then
		fail "rkv-demo and its children stopped by SIGINT exited $rc:"
	fi
	check_clean "SIGINT to the process group"
fi
echo "demo_test: ok"
