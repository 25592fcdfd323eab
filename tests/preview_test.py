#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""preview_test.py RKV_CAMERA RKV PREVIEW_CHECK RGA_STANDIN MPP_STANDIN - the
camera's JPEG preview.

Runs rkv-camera on a 1280x720 test pattern with --preview 320x180 and
checks, from other processes: nothing is encoded while nobody is attached
to NAME.preview; rkv watch gets JPEG frames of 320x180 and bounded size,
no more of them than the preview's rate allows; they decode (preview_check,
with the image layer) to a picture whose luma matches the CPU backend's
own downscale of the same full-resolution frame; rkv preview NAME off
stops the encoding and on starts it again (text, --json, exit codes);
status shows the preview and its image backend; --rotate 90 swaps the
preview's sides (and the picture matches the rotated downscale); a slow
preview consumer leaves the full-resolution pool at its full rate; a
camera without a preview refuses rkv preview; bad options exit 2; with
the stand-in RGA and MPP libraries (tests/standin/), --backend auto uses
them, and the status shows which backend did what and each fallback to
the CPU (RGA refuses a rotation with a flip; MPP has no transform). The
saver's and the encoder's (--encode jpeg) image work shows the same way:
with RGA's device missing, status' save.imgops and encoder.imgops give the
chain (mpp, cpu), RGA's refusal and MPP doing the JPEGs (with --backend
cpu: the CPU), rkv status says so in text, and rkv-camera's stderr names
each user's chain and the probe step that refused RGA.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from testutil import fail, run


def status(rkv, name):
    return json.loads(run([rkv, "status", name, "--json"], 0).stdout)


def start(camera, name, *extra, env=None):
    cam = subprocess.Popen([camera, "--name", name, "--size", "1280x720", "--fps", "30",
                            "--quiet"] + list(extra), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
    line = cam.stdout.readline()
    if name not in line:
        fail("rkv-camera's first line: %r (stderr %r)" % (line, cam.stderr.read()))
    return cam


def stop(cam):
    cam.terminate()
    try:
        if cam.wait(timeout=10) != 0:
            fail("rkv-camera exited %d" % cam.returncode)
    except subprocess.TimeoutExpired:
        cam.kill()
        fail("rkv-camera did not end on SIGTERM")


def check_frames(out, w, h, want):
    frames = [json.loads(l) for l in out.strip().splitlines()]
    if len(frames) != want:
        fail("preview_check got %d frames, wanted %d" % (len(frames), want))
    for f in frames:
        if (f["width"], f["height"]) != (w, h) or not f["decoded"]:
            fail("a preview frame: %r" % f)
        if f["stddev"] < 20:
            fail("a preview frame is a flat field: %r" % f)
    matched = [f for f in frames if f["psnr"] >= 0]
    if not matched:
        fail("no preview frame's full-resolution frame was seen: %r" % frames)
    for f in matched:
        if f["psnr"] < 30:
            fail("a preview does not look like its frame (PSNR %.1f dB): %r" % (f["psnr"], f))
    return frames


def main():
    camera, rkv, check, rga, mpp = sys.argv[1:6]
    name = "pvtest.%d" % os.getpid()
    pool = name + ".preview"

    # bad options
    for bad in (["--preview", "320"], ["--preview", "0x0"], ["--preview-fps", "0"],
                ["--preview-quality", "101"], ["--rotate", "45"], ["--flip", "x"],
                ["--backend", "gpu"]):
        run([camera, "--name", name] + bad, 2)

    cam = start(camera, name, "--preview", "320x180", "--preview-fps", "10")
    try:
        # nobody attached to the preview pool: nothing encoded
        time.sleep(1.0)
        st = status(rkv, name)
        pv = st.get("preview")
        if not pv or pv["pool"] != pool or not pv["on"] or pv["active"] \
                or (pv["width"], pv["height"], pv["fps"]) != (320, 180, 10):
            fail("status' preview: %r" % st)
        if pv["encoded"] != 0 or pv["imgops"]["calls"]["jpeg_encode"] != 0:
            fail("encoded with no consumer: %r" % pv)
        if pv["imgops"]["backend"] != "cpu" or "cpu" not in pv["imgops"]["chain"] \
                or "fallbacks" not in pv["imgops"]:
            fail("status' image backend: %r" % pv["imgops"])
        if st["consumers"] != 0:
            fail("the preview worker is attached with nobody watching: %r" % st)

        # rkv watch: JPEG frames, bounded size, at most the preview's rate
        t0 = time.time()
        out = run([rkv, "watch", pool, "--frames", "15", "--json"], 0, timeout=30).stdout
        secs = time.time() - t0
        lines = [json.loads(l) for l in out.strip().splitlines()]
        frames = lines[:-1]
        if len(frames) != 15:
            fail("watch got %d preview frames" % len(frames))
        for f in frames:
            if f["format"] != "JPEG" or (f["width"], f["height"]) != (320, 180) \
                    or not 0 < f["bytes"] < 320 * 180 * 3 // 2 or not f["keyframe"]:
                fail("a preview frame: %r" % f)
        seqs = [f["seq"] for f in frames]
        if seqs != sorted(set(seqs)):
            fail("preview sequence numbers do not rise: %r" % seqs)
        # 15 frames at 10 fps take at least ~1.4 s (the first may be at once)
        if secs < 1.2:
            fail("15 previews at 10 fps came in %.2f s" % secs)
        # consecutive previews are at least ~0.9 periods of the camera apart
        if any(b - a < 2 for a, b in zip(seqs, seqs[1:])):
            fail("previews closer than the rate allows: %r" % seqs)

        # they decode, and look like their frames
        out = run([check, pool, "--frames", "6", "--full", name], 0, timeout=30).stdout
        check_frames(out, 320, 180, 6)
        st = status(rkv, name)
        pv = st["preview"]
        if pv["encoded"] < 15 or pv["errors"] != 0 or pv["error"] != "" \
                or pv["imgops"]["calls"]["transform"] < pv["encoded"]:
            fail("status after previews: %r" % pv)
        text = run([rkv, "status", name], 0).stdout
        if "preview '%s': on" % pool not in text:
            fail("rkv status does not show the preview:\n%s" % text)

        # off: nothing more encoded, even with a consumer attached
        out = run([rkv, "preview", name, "off"], 0).stdout
        if "off" not in out:
            fail("rkv preview off said %r" % out)
        time.sleep(0.3)
        before = status(rkv, name)["preview"]["encoded"]
        w = subprocess.Popen([rkv, "watch", pool, "--seconds", "2", "--json"],
                             stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        st = status(rkv, name)
        if st["preview"]["encoded"] != before or st["preview"]["on"] \
                or st["preview"]["active"]:
            fail("preview off still encodes: %d then %r" % (before, st["preview"]))
        # on again: the same watcher gets frames
        out = run([rkv, "preview", name, "on", "--json"], 0).stdout
        if not json.loads(out)["on"]:
            fail("rkv preview on --json: %r" % out)
        wout, _ = w.communicate(timeout=10)
        got = [json.loads(l) for l in wout.strip().splitlines()][:-1]
        if not 1 <= len(got) <= 0.5 * 10 + 3:
            fail("after preview on, a watcher got %d frames in ~0.5 s at 10 fps" % len(got))
        if status(rkv, name)["preview"]["encoded"] <= before:
            fail("preview on does not encode")

        # exit codes
        run([rkv, "preview", name], 2)
        run([rkv, "preview", name, "sideways"], 2)
        run([rkv, "preview", name + "x", "on"], 1)
        run([rkv, "preview", "--help"], 0)

        # a slow preview consumer: the full-resolution pool keeps its rate
        slow = subprocess.Popen([check, pool, "--frames", "100", "--hold-ms", "400",
                                 "--seconds", "6"], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        out = run([rkv, "watch", name, "--policy", "drop", "--depth", "4", "--seconds", "3",
                   "--json"], 0, timeout=30).stdout
        summary = json.loads(out.strip().splitlines()[-1])
        if summary["fps"] < 25 or summary["dropped"] > 3:
            fail("the full-resolution pool with a slow preview consumer: %r" % summary)
        slow.kill()
        slow.wait()
    finally:
        if cam.poll() is None:
            stop(cam)

    # rotate 90: the sides swap, the picture is the rotated downscale
    cam = start(camera, name, "--preview", "320x180", "--preview-fps", "10", "--rotate", "90")
    try:
        st = status(rkv, name)["preview"]
        if (st["width"], st["height"], st["rotate"], st["timestamp"]) != (180, 320, 90, False):
            fail("rotate 90: %r" % st)
        out = run([check, pool, "--frames", "4", "--full", name, "--rotate", "90"], 0,
                  timeout=30).stdout
        check_frames(out, 180, 320, 4)
    finally:
        stop(cam)

    # the timestamp: a box at the top (1-pixel glyphs at 180 rows: 2 + 9
    # rows) where the picture differs; below it, the picture as before
    cam = start(camera, name, "--preview", "320x0", "--preview-fps", "10", "--flip", "h",
                "--preview-timestamp")
    try:
        st = status(rkv, name)["preview"]
        if (st["width"], st["height"], st["flip"], st["timestamp"]) != (320, 180, "h", True):
            fail("--preview 320x0 --flip h --preview-timestamp: %r" % st)
        out = run([check, pool, "--frames", "3", "--full", name, "--flip", "h",
                   "--skip-rows", "11"], 0, timeout=30).stdout
        check_frames(out, 320, 180, 3)
        out = run([check, pool, "--frames", "3", "--full", name, "--flip", "h"], 0,
                  timeout=30).stdout
        frames = [json.loads(l) for l in out.strip().splitlines()]
        if any(f["psnr"] >= 30 for f in frames):
            fail("no timestamp box on the previews: %r" % frames)
    finally:
        stop(cam)

    # the hardware backends' stand-ins: the chain, who did what, fallbacks
    env = dict(os.environ, RKV_RGA_LIB=rga, RKV_RGA_DEV="/dev/null", RKV_MPP_LIB=mpp,
               RKV_MPP_DEV="/dev/null")
    cam = start(camera, name, "--preview", "320x180", "--rotate", "90", "--flip", "h",
                "--backend", "auto", env=env)
    try:
        run([rkv, "watch", pool, "--frames", "3"], 0, timeout=30)
        ops = status(rkv, name)["preview"]["imgops"]
        if ops["chain"] != ["rga", "mpp", "cpu"] or ops["backend"] != "rga":
            fail("stand-ins: the chain %r" % ops)
        if ops["done_by"]["cpu"]["transform"] < 3 or ops["fallbacks_by_op"]["transform"] < 6 \
                or ops["fallback_reasons"]["params"] < 3 or ops["fallback_reasons"]["method"] < 3 \
                or ops["fallbacks"] < 6:
            fail("stand-ins: fallbacks %r" % ops)
        time.sleep(1.5)  # rkv-camera looks at the fallbacks once a second
    finally:
        stop(cam)
    err = cam.stderr.read()
    if "rkv-camera: images (preview): using rga, then mpp, then cpu\n" not in err or \
            not re.search(r"rkv-camera: images \(preview\): transform.* fell back \(.*params.*\)",
                          err):
        fail("rkv-camera's stderr does not tell the preview's fallbacks:\n%s" % err)
    cam = start(camera, name, "--preview", "320x180", "--backend", "cpu", env=env)
    try:
        ops = status(rkv, name)["preview"]["imgops"]
        if ops["chain"] != ["cpu"]:
            fail("--backend cpu: the chain %r" % ops)
    finally:
        stop(cam)

    # the saver's and the encoder's image contexts, and rkv-camera's log of
    # every user's chain: RGA's device node missing (its first probe step)
    env = dict(env, RKV_RGA_DEV="/nonexistent/rga")
    with tempfile.TemporaryDirectory() as tmp:
        for backend, chain, doer in (("auto", ["mpp", "cpu"], "mpp"), ("cpu", ["cpu"], "cpu")):
            cam = start(camera, name, "--encode", "jpeg", "--backend", backend, env=env)
            try:
                run([rkv, "snapshot", name, "-o", os.path.join(tmp, backend + ".jpg")], 0,
                    timeout=30)
                # the encoder's first JPEG may still be under way: wait for it
                for _ in range(100):
                    st = status(rkv, name)
                    if st.get("encoder", {}).get("imgops", {}).get("done_by", {}) \
                            .get(doer, {}).get("jpeg_encode", 0) >= 1:
                        break
                    time.sleep(0.1)
                for user in ("save", "encoder"):
                    ops = st.get(user, {}).get("imgops")
                    if not ops or ops["chain"] != chain or ops["backend"] != doer:
                        fail("--backend %s: status' %s: %r" % (backend, user, st.get(user)))
                    if ops["done_by"][doer]["jpeg_encode"] < 1 or ops["fallbacks"] != 0:
                        fail("--backend %s: %s's JPEGs: %r" % (backend, user, ops))
                    refused = "rga: device /nonexistent/rga: No such file or directory"
                    if (backend == "auto") != (refused in ops["refused"]):
                        fail("--backend %s: %s's refusals: %r" % (backend, user, ops["refused"]))
                text = run([rkv, "status", name], 0).stdout
                want = ("    images: saves by mpp (refused rga: device /nonexistent/rga: "
                        "No such file or directory), encoding by mpp, 0 fallbacks"
                        if backend == "auto" else
                        "    images: saves by cpu, encoding by cpu, 0 fallbacks")
                if want not in text.splitlines():
                    fail("rkv status does not show the image backends (%r):\n%s" % (want, text))
            finally:
                stop(cam)
            err = cam.stderr.read()
            for user in ("save", "encode"):
                want = ("rkv-camera: images (%s): refused rga: device /nonexistent/rga: No such "
                        "file or directory; using mpp, then cpu" % user if backend == "auto" else
                        "rkv-camera: images (%s): using cpu" % user)
                if err.count(want + "\n") != 1:
                    fail("rkv-camera's stderr does not say once %r:\n%s" % (want, err))

    # a camera without a preview refuses rkv preview
    cam = start(camera, name)
    try:
        p = run([rkv, "preview", name, "on"], 1)
        if "no preview" not in p.stderr:
            fail("rkv preview on a camera without one: %r" % p.stderr)
        if "preview" in status(rkv, name):
            fail("status of a camera without a preview shows one")
    finally:
        stop(cam)


if __name__ == "__main__":
    main()
