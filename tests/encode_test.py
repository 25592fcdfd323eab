#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""encode_test.py RKV_CAMERA RKV IMGCHECK - JPEG-encoded frames in the pool.

Runs rkv-camera --encode jpeg on the test pattern and checks, from other
processes: rkv status (format JPEG, encode jpeg); rkv watch (JPEG frames
of the camera's size, rising sequence numbers, every one a keyframe, far
smaller than the raw frame); a consumer (imgcheck pool) decoding frames
with rkv_imgops_decode_view() into NV12 and RGB24 of the full size and
NV12 of half of it, refusing forged views, and comparing one frame with
the raw snapshot of the same seq (which is exactly the test pattern's):
PSNR at least 30 dB. Bad --encode options are refused.
"""
import json
import os
import subprocess
import sys
import tempfile

from testutil import fail, run


def main():
    camera, rkv, imgcheck = sys.argv[1:4]
    name = "enctest.%d" % os.getpid()
    # 720p normally; smaller where the suite runs scaled down (sanitizers,
    # and the boards' builds under the emulator, where three decodes of a
    # 720p JPEG a frame cannot keep up with 30 fps and the frame asked
    # for would be dropped before imgcheck sees it).
    small = float(os.environ.get("RKV_TEST_SCALE", "1")) < 1
    w, h = (320, 240) if small else (1280, 720)
    cam = subprocess.Popen([camera, "--name", name, "--size", "%dx%d" % (w, h), "--fps", "30",
                            "--encode", "jpeg", "--encode-quality", "90", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    raw = tempfile.mktemp(prefix="rkv-encode-test.", suffix=".raw")
    try:
        line = cam.stdout.readline()
        if name not in line or "JPEG" not in line:
            fail("rkv-camera's first line: %r (stderr %r)" % (line, cam.stderr.read()))
        st = json.loads(run([rkv, "status", name, "--json"], 0).stdout)
        if st["format"] != "JPEG" or st["encode"] != "jpeg" or st["zero_copy"]:
            fail("status: %r" % st)

        out = run([rkv, "watch", name, "--policy", "block", "--frames", "20", "--json"], 0).stdout
        frames = [json.loads(l) for l in out.strip().splitlines()][:-1]
        if len(frames) != 20 or any(f["format"] != "JPEG" or f["width"] != w or f["height"] != h
                                    or not f["keyframe"] or not 0 < f["bytes"] < w * h // 4
                                    for f in frames):
            fail("watch: %r" % frames[:3])
        seqs = [f["seq"] for f in frames]
        if seqs != sorted(set(seqs)):
            fail("sequence numbers do not rise: %r" % seqs)

        out = json.loads(run([imgcheck, "pool", name, name, "%dx%d" % (w, h), "30", raw], 0,
                             timeout=120).stdout)
        if out["psnr"] < 30:
            fail("the pool's JPEG of frame %d: PSNR %.1f dB against the raw frame"
                 % (out["seq"], out["psnr"]))
        st = json.loads(run([rkv, "status", name, "--json"], 0).stdout)
        if st["published"] < 50 or st["pool_dropped"] != 0:
            fail("status after: %r" % st)
        run([camera, "--name", name + "x", "--encode", "png"], 2)
        run([camera, "--name", name + "x", "--encode", "jpeg", "--encode-quality", "101"], 2)
    finally:
        cam.terminate()
        rc = cam.wait(30)
        if os.path.exists(raw):
            os.unlink(raw)
    if rc != 0:
        fail("rkv-camera exited %d: %s" % (rc, cam.stderr.read()))
    print("encode_test: ok: %r, encode_skipped %d" % (out, st["encode_skipped"]))


main()
