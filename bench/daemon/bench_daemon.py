#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""rkvd under load (issue 9's benchmark): two 1920x1080 30 fps test-pattern
cameras with their JPEG preview on (640 wide, 15 a second), and 10 MJPEG
clients on GET /api/CAMERA/stream.mjpeg, 5 per camera, of which 2 (one per
camera) read slowly (4 KiB every 200 ms, far below a preview stream's
rate). Over the measuring window it reports:

- the CPU share of one core used by rkvd and by each rkv-camera (utime +
  stime of every thread, /proc/PID/stat), and their resident memory
  (VmRSS, at the end of the window);
- the previews a second each fast client got, beside the rate the camera
  made them at in the same window (the camera's own preview counter,
  `rkv status CAMERA --json`);
- what the slow clients got.

Targets (issue 9): fast clients get the full preview rate while the slow
ones lag; rkvd under 5 % of a core and under 16 MiB resident.

Run from a checkout after `make`:
    /usr/bin/python3 bench/daemon/bench_daemon.py [--build build] [--seconds S] [--quick]
"""
import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TCK = os.sysconf("SC_CLK_TCK")
BUILD = "build"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        if int(st.rsplit(")", 1)[1].split()[1]) == ppid:
            out.append((int(d), comm))
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client(threading.Thread):
    """One MJPEG client: counts the parts it receives (each part is one
    preview), in the window only."""

    def __init__(self, port, camera, slow):
        super().__init__(daemon=True)
        self.port, self.camera, self.slow = port, camera, slow
        self.parts = 0
        self.counting = False
        self.stop = False
        self.error = None

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            s.sendall(("GET /api/%s/stream.mjpeg HTTP/1.1\r\nHost: x\r\n\r\n"
                       % self.camera).encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("closed before the headers")
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"boundary=\"?([^\";\r\n]+)", head)
            if not m or b" 200 " not in head.split(b"\r\n")[0]:
                raise RuntimeError("not a multipart stream: %r" % head[:200])
            mark = b"--" + m.group(1)
            tail = b""
            while not self.stop:
                chunk = s.recv(4096 if self.slow else 262144)
                if not chunk:
                    break
                data = tail + chunk
                if self.counting:
                    self.parts += data.count(mark) - tail.count(mark)
                tail = data[-len(mark):]
                if self.slow:
                    time.sleep(0.2)
            s.close()
        except Exception as e:  # reported by the main thread
            self.error = repr(e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    secs = 6.0 if a.quick else a.seconds
    global BUILD
    BUILD = a.build
    rkvd = os.path.join(a.build, "src", "rkvd")
    if not os.access(rkvd, os.X_OK):
        sys.exit("bench_daemon: %s not built (make)" % rkvd)

    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    print("machine: %s, %d cores, %s, kernel %s, load average %s" % (
        cpu, os.cpu_count(), platform.machine(), platform.release(),
        " ".join("%.2f" % x for x in os.getloadavg())))

    port = free_port()
    tag = "bd%d" % os.getpid()
    cams = [tag + "a", tag + "b"]
    tmp = tempfile.TemporaryDirectory()
    cfg = os.path.join(tmp.name, "bench.yaml")
    with open(cfg, "w") as f:
        f.write("api:\n  listen: 127.0.0.1:%d\n  unix_socket: \"\"\ncameras:\n" % port)
        for c in cams:
            f.write("  %s:\n    source: testpattern\n    width: 1920\n    height: 1080\n"
                    "    format: NV12\n    fps: 30\n    backend: cpu\n"
                    "    preview: {enabled: true, width: 640, height: 0, fps: 15, quality: 75}\n"
                    "    save: {dir: %s}\n" % (c, tmp.name))
    d = subprocess.Popen([rkvd, "-c", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    clients = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/stats" % port,
                                            timeout=2) as r:
                    st = json.load(r)
                if all(c in json.dumps(st) for c in cams):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or d.poll() is not None:
                sys.exit("bench_daemon: rkvd did not come up")
            time.sleep(0.2)

        for c in cams:
            for i in range(5):
                clients.append(Client(port, c, slow=(i == 4)))
        for cl in clients:
            cl.start()
        time.sleep(3)  # the cameras' previews start with the first client

        def camera_pids():
            return {p: comm for p, comm in children(d.pid) if comm.startswith("rkv-camera")}

        pids = camera_pids()
        previews0 = preview_counts(cams)
        cpu0 = {p: cpu_seconds(p) for p in list(pids) + [d.pid]}
        for cl in clients:
            cl.counting = True
        t0 = time.monotonic()
        time.sleep(secs)
        for cl in clients:
            cl.counting = False
        dt = time.monotonic() - t0
        cpu1 = {p: cpu_seconds(p) for p in cpu0}
        previews1 = preview_counts(cams)
        rss = {p: rss_kib(p) for p in cpu0}

        errors = [(cl.camera, cl.error) for cl in clients if cl.error]
        print("\n%.1f s window, 2 cameras 1920x1080 NV12 30 fps, preview 640 wide 15/s, "
              "10 MJPEG clients (2 slow)" % dt)
        share = lambda p: 100.0 * (cpu1[p] - cpu0[p]) / dt
        print("  rkvd:          %5.2f %% of a core, %6.1f MiB resident" %
              (share(d.pid), rss[d.pid] / 1024))
        for p in sorted(pids):
            print("  rkv-camera %d: %5.2f %% of a core, %6.1f MiB resident" %
                  (p, share(p), rss[p] / 1024))
        for c in cams:
            made = (previews1.get(c, 0) - previews0.get(c, 0)) / dt \
                if c in previews0 and c in previews1 else float("nan")
            fast = [cl.parts / dt for cl in clients if cl.camera == c and not cl.slow]
            slow = [cl.parts / dt for cl in clients if cl.camera == c and cl.slow]
            print("  %s: previews made %.1f/s; fast clients got %s/s; slow client %s/s"
                  % (c, made, ", ".join("%.1f" % x for x in fast),
                     ", ".join("%.1f" % x for x in slow)))
        if errors:
            print("client errors: %s" % errors)
        dpct = share(d.pid)
        print("\nrkvd under 5 %% of a core: %s; under 16 MiB resident: %s" % (
            "met" if dpct < 5 else "NOT met", "met" if rss[d.pid] < 16384 else "NOT met"))
        la = os.getloadavg()[0]
        if la > 0.5 * (os.cpu_count() or 1):
            print("note: load average %.2f on %d cores: the run shared the machine" %
                  (la, os.cpu_count()))
    finally:
        for cl in clients:
            cl.stop = True
        d.terminate()
        try:
            d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()


def preview_counts(cams):
    """Each camera's previews made so far, from its own status (rkv/control.h)."""
    out = {}
    rkv = os.path.join(BUILD, "src", "rkv")
    for c in cams:
        try:
            st = json.loads(subprocess.run([rkv, "status", c, "--json"], capture_output=True,
                                           text=True, timeout=5).stdout)
            out[c] = st["preview"]["encoded"]
        except (ValueError, KeyError, TypeError, subprocess.SubprocessError, OSError):
            pass
    return out


if __name__ == "__main__":
    main()
