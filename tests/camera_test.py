#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""camera_test.py RKV_CAMERA RKV - the camera process and its control channel.

Runs rkv-camera on the test pattern and checks, from other processes:
  the pool it publishes (rkv watch: the frames' geometry, rising sequence
  numbers, the camera's rate); rkv status (text and --json, the copy path
  and why); rkv fps (the
  publishing rate follows); rkv capture stop/start (nothing published while
  stopped); rkv snapshot (a file of one whole frame); the control channel
  against malformed, oversized, unknown and deeply nested requests (an
  error answer each, and the camera keeps serving); a client that never
  reads its answers (the camera goes on); SIGTERM (exit 0, nothing left:
  the pool and the control channel are gone); a second camera of the same
  name, a source that does not exist and bad options (their exit codes).
"""
import json
import os
import socket
import subprocess
import sys
import time

from testutil import fail, run


def status(rkv, name):
    return json.loads(run([rkv, "status", name, "--json"], 0).stdout)


def raw_request(name, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect("\0rkvision-ctl/" + name)
    s.send(data)
    reply = s.recv(70000)
    s.close()
    return json.loads(reply)


def listening(prefix):
    with open("/proc/net/unix") as f:
        return any(prefix in line for line in f)


def main():
    camera, rkv = sys.argv[1], sys.argv[2]
    name = "camtest.%d" % os.getpid()
    cam = subprocess.Popen([camera, "--name", name, "--size", "320x240", "--fps", "60",
                            "--format", "YUYV", "--quiet"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        line = cam.stdout.readline()
        if name not in line or "copy path" not in line:
            fail("rkv-camera's first line: %r (stderr %r)" % (line, cam.stderr.read()))

        # frames into the pool, from another process
        out = run([rkv, "watch", name, "--policy", "block", "--frames", "30", "--json"], 0).stdout
        lines = [json.loads(l) for l in out.strip().splitlines()]
        frames = lines[:-1]
        if len(frames) != 30:
            fail("watch got %d frames" % len(frames))
        if any(f["format"] != "YUYV" or f["width"] != 320 or f["height"] != 240
               or f["bytes"] != 320 * 240 * 2 for f in frames):
            fail("frame geometry: %r" % frames[0])
        seqs = [f["seq"] for f in frames]
        if seqs != sorted(set(seqs)):
            fail("sequence numbers do not rise: %r" % seqs)

        st = status(rkv, name)
        if st["camera"] != name or st["pool"] != name or not st["capturing"] \
                or st["format"] != "YUYV" or st["published"] < 30 or st["pid"] != cam.pid:
            fail("status: %r" % st)
        # the path and why: the test pattern has no buffers to export
        why = "copy: the testpattern source has no buffers to export"
        if st["zero_copy"] or st["path"] != why or st["buffers"] != 0 or st["held"] != 0:
            fail("status, path: %r" % st)
        text = run([rkv, "status"], 0).stdout
        if name not in text or why not in text:
            fail("rkv status does not list %s and its path:\n%s" % (name, text))
        allj = json.loads(run([rkv, "status", "--json"], 0).stdout)
        if not any(c["camera"] == name for c in allj["cameras"]):
            fail("rkv status --json does not list %s" % name)

        # status lists the pool's consumers, with their lag
        watcher = subprocess.Popen([rkv, "watch", name, "--seconds", "20"],
                                   stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                mine = [c for c in status(rkv, name).get("consumer_stats", [])
                        if c["pid"] == watcher.pid]
                if mine and mine[0]["received"] > 0:
                    break
                if time.monotonic() > deadline:
                    fail("rkv status does not list the watcher %d: %r"
                         % (watcher.pid, status(rkv, name)))
                time.sleep(0.05)
            if mine[0]["policy"] != "latest" or not isinstance(mine[0].get("lag"), int):
                fail("the watcher in rkv status: %r" % mine[0])
            text = run([rkv, "status", name], 0).stdout
            if "pid %d" % watcher.pid not in text or " lag " not in text:
                fail("rkv status's text does not show the watcher and its lag:\n%s" % text)
        finally:
            watcher.terminate()
            watcher.wait(10)

        # the publishing rate follows rkv fps
        run([rkv, "fps", name, "10"], 0)
        out = run([rkv, "watch", name, "--frames", "12", "--json"], 0).stdout
        summ = json.loads(out.strip().splitlines()[-1])
        if summ["fps"] > 15:
            fail("after rkv fps 10 the pool delivered %.1f fps" % summ["fps"])
        run([rkv, "fps", name, "0"], 0)

        # stopped: nothing published
        run([rkv, "capture", name, "stop"], 0)
        p0 = status(rkv, name)["published"]
        time.sleep(0.5)
        st = status(rkv, name)
        if st["capturing"] or st["published"] != p0 or st["skipped"] == 0:
            fail("while stopped: %r (published before %d)" % (st, p0))
        run([rkv, "capture", name, "start"], 0)

        # a snapshot: one whole frame
        snap = "/tmp/camtest-%d.raw" % os.getpid()
        out = run([rkv, "snapshot", name, "-o", snap], 0).stdout
        if os.path.getsize(snap) != 320 * 240 * 2 or snap not in out:
            fail("snapshot: %s, %d bytes" % (out, os.path.getsize(snap)))
        os.unlink(snap)
        r = raw_request(name, b'{"cmd":"snapshot","path":"relative.raw"}')
        if r["ok"]:
            fail("a relative snapshot path was accepted")

        # bad requests: an error answer each, and the camera goes on
        for bad in [b"not json", b"[1,2]", b'{"cmd":42}', b'{"cmd":"explode"}',
                    b'{"cmd":"fps","fps":-3}', b'{"cmd":"capture"}', b"{" * 2000,
                    b'{"cmd":"status"} trailing', b"x" * 4097]:
            r = raw_request(name, bad)
            if r.get("ok") is not False or "error" not in r:
                fail("bad request %r answered %r" % (bad[:40], r))
        # a client that sends and never reads, many times over
        hogs = []
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect("\0rkvision-ctl/" + name)
            s.setblocking(False)
            for _ in range(50):
                try:
                    s.send(b'{"cmd":"status"}')
                except BlockingIOError:
                    break
            hogs.append(s)
        st = status(rkv, name)
        for s in hogs:
            s.close()
        p1 = st["published"]
        time.sleep(0.3)
        if status(rkv, name)["published"] <= p1:
            fail("the camera stopped publishing after clients that never read")

        # a second camera of the same name, a missing source, bad options
        p = run([camera, "--name", name, "--quiet"], 1)
        if "running" not in p.stderr:
            fail("second camera: %r" % p.stderr)
        run([camera, "--name", name + "x", "--source", "v4l2:/dev/video-none", "--quiet"], 1)
        run([camera, "--size", "big"], 2)
        run([camera, "--bogus"], 2)
        run([camera, "--help"], 0)
        run([rkv, "status", "no.such.camera"], 1)
        run([rkv, "fps", name, "fast"], 2)
        run([rkv, "capture", name, "sideways"], 2)
    finally:
        cam.terminate()
        try:
            rc = cam.wait(20)
        except subprocess.TimeoutExpired:
            cam.kill()
            fail("rkv-camera did not end on SIGTERM")
    if rc != 0:
        fail("rkv-camera exited %d after SIGTERM: %s" % (rc, cam.stderr.read()))
    if listening("@rkvision/" + name) or listening("@rkvision-ctl/" + name):
        fail("the pool or the control channel outlived the camera")
    print("camera_test: ok")


main()
