#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""signal_test.py RKV_CAMERA - rkv-camera under a storm of SIGTERMs.

A supervised camera can get more than one stop signal: rkvd's SIGTERM
and its parent-death signal, a second Ctrl-C. rkv-camera's handler once
stopped the camera through a pointer that its shutdown had already freed,
so a signal landing after rkv_camera_destroy() wrote through freed memory
(under ASan: a use-after-free report, which deadlocked inside the leak
check at exit, and the camera never ended). Here each camera gets SIGTERM
every millisecond from the moment it runs until it has exited, 20 times:
each must end on its own, with status 0 and nothing on stderr that a
sanitizer says.
"""
import os
import signal
import subprocess
import sys
import time

from testutil import fail


def main():
    camera = sys.argv[1]
    for i in range(20):
        name = "sigtest%d-%d" % (os.getpid(), i)
        p = subprocess.Popen([camera, "--name", name, "--size", "160x120", "--fps", "60",
                              "--preview", "80x0", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if name not in p.stdout.readline():
            p.kill()
            fail("rkv-camera %d did not start: %s" % (i, p.stderr.read()))
        deadline = time.monotonic() + 30
        while p.poll() is None:
            if time.monotonic() > deadline:
                p.kill()
                p.wait()
                fail("rkv-camera %d did not end under repeated SIGTERM" % i)
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                break
            time.sleep(0.001)
        p.wait()
        err = p.stderr.read()
        if p.returncode != 0 or "Sanitizer" in err or "runtime error" in err:
            fail("rkv-camera %d: exit %d, stderr:\n%s" % (i, p.returncode, err[-3000:]))
    print("signal_test: 20 cameras ended cleanly under repeated SIGTERM")


if __name__ == "__main__":
    main()
