#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""media_camera_test.py RKV_CAMERA RKV - the camera on the media source, end to end.

Makes a short MP4 (H.264) and an AVI (MJPEG) with gst-launch-1.0, runs
rkv-camera on them and reads the pool from another process (rkv watch):
  --source clip.mp4 --loop: frames of the file's size in a raw format of
  ours, rising sequence numbers, past the file's end (it loops), and rkv
  status naming the media source, no source errors;
  --source clip.avi without --loop: every frame published, then the camera
  ends by itself (status 0) and a consumer hears the producer is gone;
  --source clip.avi --format JPEG: the MJPEG frames published undecoded;
  --decoder naming no element: rkv-camera refuses to start (exit 1), and
  says why.
RKV_MEDIA_MODULE (set by tests/meson.build) names the module. Exit 77 when
a GStreamer piece it needs is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from testutil import fail, run


def need(elements):
    if not shutil.which("gst-launch-1.0") or not shutil.which("gst-inspect-1.0"):
        print("SKIP: gst-launch-1.0 is missing (install gstreamer1.0-tools)")
        sys.exit(77)
    for e in elements:
        if subprocess.run(["gst-inspect-1.0", "--exists", e]).returncode != 0:
            print("SKIP: GStreamer element %s is missing" % e)
            sys.exit(77)


def make(path, frames, tail):
    run(["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=%d" % frames, "!",
         "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!"]
        + tail.split() + ["!", "filesink", "location=" + path], 0)


def camera(exe, name, args):
    cam = subprocess.Popen([exe, "--name", name, "--quiet"] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    line = cam.stdout.readline()
    if name not in line or "media" not in line:
        cam.kill()
        fail("rkv-camera's first line: %r (stderr %r)" % (line, cam.stderr.read()))
    return cam


def stop(cam):
    cam.terminate()
    try:
        rc = cam.wait(20)
    except subprocess.TimeoutExpired:
        cam.kill()
        fail("rkv-camera did not end on SIGTERM")
    if rc != 0:
        fail("rkv-camera exited %d after SIGTERM: %s" % (rc, cam.stderr.read()))


def watch(rkv, name, n):
    out = run([rkv, "watch", name, "--policy", "block", "--frames", str(n), "--json"], 0).stdout
    frames = [json.loads(l) for l in out.strip().splitlines()][:-1]
    if len(frames) != n:
        fail("watch got %d frames" % len(frames))
    seqs = [f["seq"] for f in frames]
    if seqs != sorted(set(seqs)):
        fail("sequence numbers do not rise: %r" % seqs)
    return frames


def main():
    exe, rkv = sys.argv[1], sys.argv[2]
    need(["x264enc", "h264parse", "mp4mux", "jpegenc", "avimux", "avdec_h264", "jpegparse"])
    tmp = tempfile.mkdtemp(prefix="rkv-media-cam-")
    try:
        mp4 = os.path.join(tmp, "clip.mp4")
        avi = os.path.join(tmp, "clip.avi")
        make(mp4, 15, "x264enc speed-preset=ultrafast key-int-max=5 threads=1 ! h264parse ! mp4mux")
        make(avi, 10, "jpegenc ! avimux")
        name = "mediacam.%d" % os.getpid()

        # a looping file: 40 frames from a 15-frame file
        cam = camera(exe, name, ["--source", mp4, "--loop"])
        try:
            frames = watch(rkv, name, 40)
            f = frames[0]
            if f["width"] != 320 or f["height"] != 240 or f["format"] != "YU12" \
                    or f["bytes"] != 320 * 240 * 3 // 2:
                fail("frame geometry: %r" % f)
            st = json.loads(run([rkv, "status", name, "--json"], 0).stdout)
            if not st["source"].startswith("media file://") or st["source_errors"] != 0 \
                    or st["format"] != "YU12":
                fail("status: %r" % st)
        finally:
            stop(cam)

        # a file that does not loop: the camera publishes all of it and
        # ends by itself (status 0); a consumer drains and hears it is gone
        cam = camera(exe, name, ["--source", avi])
        w = subprocess.Popen([rkv, "watch", name, "--policy", "block", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            rc = cam.wait(20)
        except subprocess.TimeoutExpired:
            cam.kill()
            w.kill()
            fail("rkv-camera did not end at the end of a file without --loop")
        out, err = cam.communicate()
        if rc != 0 or "the source ended: captured 10, published 10," not in out:
            fail("end of file: rkv-camera exited %d: %r %r" % (rc, out, err))
        try:
            wout, werr = w.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            w.kill()
            fail("rkv watch did not end when the camera did")
        if w.returncode == 0 or "the producer is gone" not in werr:
            fail("rkv watch at the camera's end: %d %r" % (w.returncode, werr))
        seqs = [json.loads(l)["seq"] for l in wout.strip().splitlines()
                if "summary" not in json.loads(l)]
        if seqs != sorted(set(seqs)) or len(seqs) > 10:
            fail("rkv watch's frames from the 10-frame file: %r" % seqs)

        # MJPEG published as it is
        cam = camera(exe, name, ["--source", avi, "--format", "JPEG", "--loop"])
        try:
            for f in watch(rkv, name, 15):
                if f["format"] != "JPEG" or not 0 < f["bytes"] < 320 * 240 * 3:
                    fail("JPEG frame: %r" % f)
        finally:
            stop(cam)

        # the decoder is the configuration's
        p = run([exe, "--name", name, "--quiet", "--source", mp4, "--decoder", "nosuchdecoder"], 1)
        if "no GStreamer element named 'nosuchdecoder'" not in p.stderr:
            fail("--decoder nosuchdecoder: %r" % p.stderr)
        cam = camera(exe, name, ["--source", mp4, "--loop", "--decoder", "avdec_h264"])
        try:
            watch(rkv, name, 5)
        finally:
            stop(cam)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("media_camera_test: ok")


main()
