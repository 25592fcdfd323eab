#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""save_test.py RKV_CAMERA RKV IMGCHECK - saving images, from other processes.

Runs rkv-camera on the test pattern and checks:
  rkv snapshot into the save directory, JPEG and PNG: the name (camera,
  UTC time, sequence), the answer's path and seq, and the content (the PNG
  decoded equals the raw frame of the same seq converted to RGB exactly,
  the JPEG's PSNR against it; the raw frame is exactly the test pattern's);
  -o FILE (format by extension); "seq" for a frame to come, for one a
  consumer still holds (saved: exactly its bytes), and one gone;
  bad requests; an unwritable directory (an error answer, a counter, the
  camera goes on); periodic saves with a size cap (the oldest removed, the
  total kept under the cap); a pile-up of slow saves (PNG at zlib level 9
  of 1080p frames, 8 at once: the oldest waiting fail with ECANCELED, the
  others are written, and the camera publishes all the while); and that no
  temporary file is ever left; and a camera turned 90 degrees and flipped
  saving its JPEGs and PNGs turned, its raw frames as captured.
"""
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from testutil import fail, run

NAME_RE = r"-(\d{8})-(\d{6})\.(\d{3})-(\d{6,})\.(jpg|png|raw)$"


def status(rkv, name):
    return json.loads(run([rkv, "status", name, "--json"], 0).stdout)


def request(name, req, timeout=60):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    s.connect("\0rkvision-ctl/" + name)
    s.send(json.dumps(req).encode())
    reply = json.loads(s.recv(70000))
    s.close()
    return reply


def start(camera, name, size, *opts):
    cam = subprocess.Popen([camera, "--name", name, "--size", size, "--fps", "30", "--quiet"]
                           + list(opts), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    line = cam.stdout.readline()
    if name not in line:
        fail("rkv-camera's first line: %r (stderr %r)" % (line, cam.stderr.read()))
    return cam


def stop(cam):
    cam.terminate()
    try:
        rc = cam.wait(30)
    except subprocess.TimeoutExpired:
        cam.kill()
        fail("rkv-camera did not end on SIGTERM")
    if rc != 0:
        fail("rkv-camera exited %d: %s" % (rc, cam.stderr.read()))


def no_temp_files(d):
    left = [f for f in os.listdir(d) if f.startswith(".")]
    if left:
        fail("temporary files left in %s: %r" % (d, left))


def check_image(imgcheck, img, raw, size, seq, fmt):
    out = json.loads(run([imgcheck, "file", img, raw, "NV12", size, str(seq)], 0).stdout)
    w, h = (int(x) for x in size.split("x"))
    if out["width"] != w or out["height"] != h or out["format"] != fmt:
        fail("%s: %r" % (img, out))
    if fmt == "png" and not out["exact"]:
        fail("the PNG %s is not the raw frame, exactly" % img)
    if fmt == "jpeg" and out["psnr"] < 30:
        fail("the JPEG %s: PSNR %.1f dB against the raw frame" % (img, out["psnr"]))
    return out


def main():
    camera, rkv, imgcheck = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="rkv-save-test.")
    name = "savetest.%d" % os.getpid()
    figures = {}
    shots = os.path.join(tmp, "shots")
    try:
        cam = start(camera, name, "640x480", "--save-dir", shots)
        try:
            # into the save directory (made by the camera), named by camera, time, seq
            for fmt in ("jpeg", "png"):
                a = json.loads(run([rkv, "snapshot", name, "--format", fmt, "--json"], 0).stdout)
                base = os.path.basename(a["path"])
                m = re.match(re.escape(name) + NAME_RE, base)
                if os.path.dirname(a["path"]) != shots or not m or int(m.group(4)) != a["seq"] \
                        or m.group(5) != {"jpeg": "jpg", "png": "png"}[fmt] \
                        or a["format"] != fmt or a["bytes"] != os.path.getsize(a["path"]):
                    fail("snapshot %s: %r" % (fmt, a))
                if abs(time.mktime(time.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S"))
                       - time.timezone - time.time()) > 120:
                    fail("the name's time is not now (UTC): %s" % base)
                # a frame to come saved twice: as fmt, and raw to compare with
                raw = os.path.join(tmp, "f.raw")
                seq2 = status(rkv, name)["captured"] + 5
                p1 = subprocess.Popen([rkv, "snapshot", name, "--seq", str(seq2), "--format", fmt,
                                       "--json"], stdout=subprocess.PIPE, text=True)
                p2 = subprocess.Popen([rkv, "snapshot", name, "--seq", str(seq2), "-o", raw,
                                       "--json"], stdout=subprocess.PIPE, text=True)
                o1, _ = p1.communicate(60)
                o2, _ = p2.communicate(60)
                if p1.returncode or p2.returncode:
                    fail("snapshots of frame %d: %d %d" % (seq2, p1.returncode, p2.returncode))
                img = json.loads(o1)["path"]
                figures[fmt] = check_image(imgcheck, img, raw, "640x480", seq2, fmt)

            # a frame captured already that a consumer still holds: saved (a
            # raw copy equal to the held bytes, a PNG equal to them converted)
            held = os.path.join(tmp, "held.raw")
            h = subprocess.Popen([imgcheck, "hold", name, "3", held], stdout=subprocess.PIPE,
                                 text=True)
            try:
                hs = json.loads(h.stdout.readline())["seq"]
                while status(rkv, name)["captured"] < hs + 10:
                    time.sleep(0.05)
                out = os.path.join(tmp, "held-snap.raw")
                a = json.loads(run([rkv, "snapshot", name, "--seq", str(hs), "-o", out, "--json"],
                                   0).stdout)
                if a["seq"] != hs or open(out, "rb").read() != open(held, "rb").read():
                    fail("a snapshot of held frame %d is not its bytes: %r" % (hs, a))
                a = json.loads(run([rkv, "snapshot", name, "--seq", str(hs), "--format", "png",
                                    "--json"], 0).stdout)
                check_image(imgcheck, a["path"], held, "640x480", hs, "png")
            finally:
                h.wait(30)
            if h.returncode != 0:
                fail("imgcheck hold exited %d" % h.returncode)

            # -o FILE: the format from its extension, relative names made absolute
            for ext, fmt in ((".png", "png"), (".JPEG", "jpeg"), (".bin", "raw")):
                f = os.path.join(tmp, "out" + ext)
                a = json.loads(run([rkv, "snapshot", name, "-o", f, "--json"], 0).stdout)
                if a["path"] != f or a["format"] != fmt or os.path.getsize(f) != a["bytes"]:
                    fail("-o %s: %r" % (f, a))
            p = subprocess.run([rkv, "snapshot", name, "-o", "rel.jpg", "--json"], cwd=tmp,
                               capture_output=True, text=True, timeout=60)
            if p.returncode or json.loads(p.stdout)["path"] != os.path.join(tmp, "rel.jpg") \
                    or not os.path.exists(os.path.join(tmp, "rel.jpg")):
                fail("-o rel.jpg: %r %r" % (p.stdout, p.stderr))

            # a frame gone, and bad requests: error answers
            r = request(name, {"cmd": "snapshot", "seq": 0})
            if r["ok"] or r["errno"] != 61 or "has gone" not in r["error"]:
                fail("a snapshot of frame 0: %r" % r)
            for bad in ({"cmd": "snapshot", "format": "gif"},
                        {"cmd": "snapshot", "quality": 101},
                        {"cmd": "snapshot", "format": "png", "quality": 10},
                        {"cmd": "snapshot", "format": "jpeg", "quality": 0},
                        {"cmd": "snapshot", "seq": -1},
                        {"cmd": "snapshot", "path": "relative.jpg"},
                        {"cmd": "snapshot", "path": "/tmp/"}):
                r = request(name, bad)
                if r.get("ok") is not False or "error" not in r:
                    fail("bad snapshot %r answered %r" % (bad, r))

            # an unwritable place: an error answer, a counter, the camera goes on
            st0 = status(rkv, name)
            r = request(name, {"cmd": "snapshot", "path": "/proc/rkv-test.jpg"})
            r2 = request(name, {"cmd": "snapshot", "path": tmp + "/no/such/dir/x.png"})
            if r["ok"] or r2["ok"] or "cannot" not in r["error"] or r2["errno"] != 2:
                fail("unwritable: %r %r" % (r, r2))
            st1 = status(rkv, name)
            if st1["save_errors"] != st0["save_errors"] + 2:
                fail("save_errors: %d, then %d" % (st0["save_errors"], st1["save_errors"]))
            time.sleep(0.2)
            if status(rkv, name)["published"] <= st1["published"]:
                fail("the camera stopped publishing after failed saves")
            no_temp_files(shots)
            no_temp_files(tmp)
        finally:
            stop(cam)

        # the camera's orientation (--rotate, --flip) turns JPEG and PNG
        # saves, not raw ones: a 640x480 camera turned 90 saves 480x640
        cam = start(camera, name, "640x480", "--save-dir", shots, "--rotate", "90",
                    "--flip", "h")
        try:
            for fmt, w, h in (("png", 480, 640), ("jpeg", 480, 640), ("raw", 640, 480)):
                a = json.loads(run([rkv, "snapshot", name, "--format", fmt, "--json"], 0).stdout)
                if (a["width"], a["height"]) != (w, h):
                    fail("snapshot %s of a camera turned 90: %r" % (fmt, a))
                with open(a["path"], "rb") as f:
                    head = f.read(24)
                if fmt == "png" and (int.from_bytes(head[16:20], "big"),
                                     int.from_bytes(head[20:24], "big")) != (w, h):
                    fail("the PNG of a camera turned 90 is not %dx%d: %r" % (w, h, head))
        finally:
            stop(cam)

        # a save directory that is a file: every save fails, the camera runs
        notdir = os.path.join(tmp, "file")
        open(notdir, "w").close()
        cam = start(camera, name, "320x240", "--save-dir", notdir)
        try:
            r = request(name, {"cmd": "snapshot"})
            if r["ok"] or notdir not in r["error"]:
                fail("a save directory that is a file: %r" % r)
        finally:
            stop(cam)

        # periodic saves, the directory capped: the oldest go, the total fits
        per = os.path.join(tmp, "periodic")
        os.mkdir(per)
        keep = os.path.join(per, "not-the-cameras.jpg")  # never the camera's to remove
        with open(keep, "wb") as f:
            f.write(b"x" * 300000)
        cam = start(camera, name, "1280x720", "--save-dir", per, "--save-every", "0.1",
                    "--save-format", "png", "--save-max-mb", "1")
        try:
            deadline = time.monotonic() + 30
            while status(rkv, name)["snapshots"] < 25:
                if time.monotonic() > deadline:
                    fail("periodic saves: %r" % status(rkv, name))
                time.sleep(0.1)
        finally:
            stop(cam)
        files = sorted(f for f in os.listdir(per) if re.match(re.escape(name) + NAME_RE, f))
        total = sum(os.path.getsize(os.path.join(per, f)) for f in files)
        seqs = [int(re.search(NAME_RE, f).group(4)) for f in files]
        if not files or total > 1 << 20 or not os.path.exists(keep) or seqs != sorted(seqs):
            fail("capped directory: %d files, %d bytes: %r" % (len(files), total, files))
        if len(files) >= 25 or seqs[-1] < 50:
            fail("the oldest periodic saves were not the ones removed: %r" % seqs)
        gaps = [b - a for a, b in zip(seqs, seqs[1:])]
        if any(g < 2 or g > 15 for g in gaps):
            fail("periodic saves every 0.1 s at 30 fps, but frames %r" % seqs)
        no_temp_files(per)

        # a pile-up: 8 slow saves of one frame at once; the queue holds 4
        # and the worker one, so the oldest waiting ones fail, and the
        # camera publishes all the while
        big = os.path.join(tmp, "big")
        cam = start(camera, name, "1920x1080", "--save-dir", big)
        try:
            socks = []
            next_seq = status(rkv, name)["captured"] + 10
            for _ in range(8):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.connect("\0rkvision-ctl/" + name)
                s.send(json.dumps({"cmd": "snapshot", "format": "png", "quality": 9,
                                   "seq": next_seq}).encode())
                socks.append(s)
            answers, published, deadline = [], [], time.monotonic() + 120
            while len(answers) < 8:
                if time.monotonic() > deadline:
                    fail("only %d answers to 8 snapshots" % len(answers))
                ready, _, _ = select.select(socks, [], [], 0.05)
                for s in ready:
                    answers.append(json.loads(s.recv(70000)))
                    socks.remove(s)
                    s.close()
                if len(answers) < 8 and status(rkv, name)["captured"] > next_seq:
                    published.append(status(rkv, name)["published"])
            dropped = [a for a in answers if not a["ok"]]
            saved = [a for a in answers if a["ok"]]
            if len(dropped) < 3 or len(saved) < 4 or \
                    any(a["errno"] != 125 or "dropped" not in a["error"] for a in dropped):
                fail("a pile-up of 8 saves: %r" % answers)
            if len(published) < 2 or published[-1] <= published[0]:
                fail("the camera did not publish while saves ran: %r" % published)
            st = status(rkv, name)
            if st["save_dropped"] != len(dropped) or st["snapshots"] != len(saved):
                fail("counters after the pile-up: %r" % st)
            for a in saved:
                if a["seq"] != next_seq or os.path.getsize(a["path"]) != a["bytes"]:
                    fail("a piled-up save: %r" % a)
            no_temp_files(big)
            figures["pile-up"] = "%d dropped, %d saved (%s ms each), published %d -> %d" % (
                len(dropped), len(saved), ", ".join("%.0f" % a["save_ms"] for a in saved),
                published[0], published[-1])
        finally:
            stop(cam)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures["periodic"] = "%d files kept under the 1 MiB cap, frames %r" % (len(files), seqs)
    print("save_test: ok: %r" % figures)


main()
