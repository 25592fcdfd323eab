#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""rkvd's HTTP API end to end: http_harness serves a board of two real
rkv-camera processes; this drives every endpoint over TCP and the Unix
socket and checks the answers, the error statuses, token auth on a
non-loopback bind, MJPEG with a fast and a slow client, SSE, the offline
placeholder, and that hostile clients (slowloris, huge headers and bodies,
garbage, path tricks) are refused while everyone else keeps being served.

usage: http_test.py HTTP_HARNESS RKV_CAMERA
No assertion is on time: counts are compared with each other, and waits
have generous deadlines that only end a test that would otherwise hang."""

import http.client
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from checklog import check, eq, finish

HARNESS, CAMERA_EXE = sys.argv[1], sys.argv[2]
PID = os.getpid()
CAM_A, CAM_B = f"httpa{PID}", f"httpb{PID}"
TOKEN = f"tok-{PID}-secret"
class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=20):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Harness:
    def __init__(self, tmp, args, cams):
        self.save = os.path.join(tmp, "save")
        self.p = subprocess.Popen(
            [HARNESS, "--camera-exe", CAMERA_EXE, "--save-dir", self.save] + args + cams,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.first = self.p.stdout.readline().strip()
        self.port = int(self.first.split()[1]) if self.first.startswith("port ") else None

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.close()
            except BrokenPipeError:
                pass
        try:
            return self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return -9


def request(conn_factory, method, path, body=None, headers=None):
    c = conn_factory()
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker, or None."""
    if not data.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + seglen
    return None


def recv_until(sock, buf, stop, done):
    """Read from @sock onto @buf until done(buf); None when the peer
    closed or @stop was set first."""
    while not done(buf):
        if stop.is_set():
            return None
        try:
            d = sock.recv(65536)
        except (socket.timeout, OSError):
            continue
        if not d:
            return None
        buf += d
    return buf


def mjpeg_parts(sock, stop, out, delay=0.0, whole=None):
    """Read multipart parts from @sock until @stop is set; count them in
    out[0]; with @delay, sleep that long after each part (a slow client)."""
    buf = recv_until(sock, b"", stop, lambda b: b"\r\n\r\n" in b)
    if buf is None:
        return
    buf = buf.split(b"\r\n\r\n", 1)[1]  # the response's head
    while not stop.is_set():
        buf = recv_until(sock, buf, stop, lambda b: b"\r\n\r\n" in b)
        if buf is None:
            return
        head, buf = buf.split(b"\r\n\r\n", 1)
        n = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                 if ln.lower().startswith(b"content-length")][0])
        buf = recv_until(sock, buf, stop, lambda b: len(b) >= n + 2)
        if buf is None:
            return
        part, buf = buf[:n], buf[n + 2:]
        out[0] += 1
        if whole is not None:
            whole.append(part.startswith(b"\xff\xd8") and part.endswith(b"\xff\xd9"))
        if delay:
            stop.wait(delay)


def open_stream(port, path, rcvbuf=None, src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((src, 0))
    s.settimeout(1.0)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def main():
    tmp = tempfile.mkdtemp(prefix=f"rkv-http-{PID}-")
    sock_path = os.path.join(tmp, "rkvd.sock")
    h = Harness(tmp, ["--listen", "127.0.0.1:0", "--unix", sock_path], [CAM_A, CAM_B])
    try:
        if not check(h.port, f"harness serves ({h.first!r})"):
            return
        eq(h.cmd(f"wait {CAM_A}"), "ok", "camera A up")
        eq(h.cmd(f"wait {CAM_B}"), "ok", "camera B up")
        run(h, tmp, sock_path)
        # Clients still connected when the server stops: a stream and an
        # SSE client must not keep it from ending.
        lingering = [open_stream(h.port, f"/api/{CAM_A}/stream.mjpeg"),
                     socket.create_connection(("127.0.0.1", h.port), timeout=20)]
        lingering[1].sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        check(lingering[0].recv(100).startswith(b"HTTP/1.1 200") and
              lingering[1].recv(100).startswith(b"HTTP/1.1 200"),
              "a stream and an SSE client are connected at stop")
    finally:
        rc = h.close()
        eq(rc, 0, "harness exit status (stopped with clients connected)")
        check(not os.path.exists(sock_path), "the Unix socket is removed at stop")
    token_tests(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def run(h, tmp, sock_path):
    port = h.port

    def tcp():
        return http.client.HTTPConnection("127.0.0.1", port, timeout=20)

    def unx():
        return UnixHTTPConnection(sock_path)

    def get(path, **kw):
        return request(tcp, "GET", path, **kw)

    def jbody(data):
        return json.loads(data.decode())

    # ---- version, cameras, stats ----
    st, hd, data = get("/api/version")
    eq(st, 200, "GET /api/version")
    check(hd.get("content-type") == "application/json" and "version" in jbody(data),
          "version is JSON with a version")
    st, _, data = request(unx, "GET", "/api/version")
    eq(st, 200, "GET /api/version over the Unix socket")
    st, _, data = get("/api/cameras")
    eq(st, 200, "GET /api/cameras")
    cams = {c["name"]: c for c in jbody(data)}
    check(set(cams) == {CAM_A, CAM_B}, f"both cameras listed: {sorted(cams)}")
    check(all(c["online"] and c["state"] == "running" and c["capturing"] and c["config"]
              for c in cams.values()), "cameras online, running, capturing, with config")

    # ---- latest.jpg ----
    st, hd, data = get(f"/api/{CAM_A}/latest.jpg")
    eq(st, 200, "latest.jpg")
    eq(hd.get("content-type"), "image/jpeg", "latest.jpg content type")
    eq(jpeg_size(data), (320, 240), "latest.jpg is the 320x240 preview")
    st, _, data = get(f"/api/{CAM_A}/latest.jpg?h=120&quality=40")
    eq((st, jpeg_size(data)), (200, (160, 120)), "latest.jpg?h=120 scaled from the preview")
    st, _, data = get(f"/api/{CAM_A}/latest.jpg?h=480")
    eq((st, jpeg_size(data)), (200, (640, 480)), "latest.jpg?h=480 from the full-resolution pool")
    st, _, data = get(f"/api/{CAM_A}/latest.jpg?h=4000")
    eq((st, jpeg_size(data)), (200, (640, 480)), "latest.jpg?h=4000 no larger than the frames")
    for q in ("h=abc", "h=8", "h=99999999999", "quality=0", "quality=101", "h=-5"):
        st, hd, data = get(f"/api/{CAM_A}/latest.jpg?{q}")
        check(st == 400 and jbody(data)["status"] == 400, f"latest.jpg?{q}: 400 ({st})")

    # ---- stats: consumers and their fps ----
    stream_stop = threading.Event()
    fast_count = [0]
    s_fast = open_stream(port, f"/api/{CAM_A}/stream.mjpeg")
    t_fast = threading.Thread(target=mjpeg_parts, args=(s_fast, stream_stop, fast_count))
    t_fast.start()
    st, _, data = get("/api/stats")
    eq(st, 200, "GET /api/stats")
    stats = {c["name"]: c for c in jbody(data)["cameras"]}
    a = stats.get(CAM_A, {})
    for k in ("capture_fps", "publish_fps", "drops", "backend", "restarts", "online",
              "consumers"):
        check(k in a, f"stats has {k}")
    pcons = [c for c in a.get("consumers", []) if c.get("label") == "preview"]
    check(pcons and pcons[0]["policy"] == "latest" and "lag" in pcons[0] and "drops" in pcons[0],
          "stats lists the camera's preview consumer with policy, drops, lag")
    time.sleep(1.0)
    st, _, data = get("/api/stats")
    a = {c["name"]: c for c in jbody(data)["cameras"]}[CAM_A]
    pcons = [c for c in a["consumers"] if c.get("label") == "preview"]
    check(pcons and isinstance(pcons[0]["fps"], float) and pcons[0]["fps"] > 0,
          f"a consumer's fps from counter deltas: {pcons[0]['fps'] if pcons else None}")

    # ---- SSE, then a snapshot ----
    sse = socket.create_connection(("127.0.0.1", port), timeout=20)
    sse.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
    sse_buf = b""
    while b"rkvd events" not in sse_buf:
        d = sse.recv(4096)
        if not d:
            break
        sse_buf += d
    check(b"text/event-stream" in sse_buf, "events: text/event-stream, greeted at once")
    st, _, data = request(tcp, "POST", f"/api/{CAM_A}/snapshot")
    eq(st, 200, "POST snapshot")
    snap = jbody(data)
    check(os.path.isfile(snap.get("path", "")) and snap["name"] == os.path.basename(snap["path"])
          and isinstance(snap.get("seq"), int), f"snapshot saved the file it names: {snap}")
    deadline = time.monotonic() + 20
    while b"snapshot_saved" not in sse_buf and time.monotonic() < deadline:
        r, _, _ = select.select([sse], [], [], 1)
        if r:
            d = sse.recv(4096)
            if not d:
                break
            sse_buf += d
    ev = [ln for ln in sse_buf.split(b"\n") if b"snapshot_saved" in ln]
    check(ev and ev[0].startswith(b"data: ") and json.loads(ev[0][6:])["path"] == snap["path"]
          and json.loads(ev[0][6:])["camera"] == CAM_A,
          "SSE delivers snapshot_saved with the path")
    check(b"\nid: " in sse_buf or sse_buf.count(b"id: ") >= 1, "SSE events carry ids")
    sse.close()

    # ---- snapshots and their files ----
    st, _, data = get(f"/api/{CAM_A}/snapshots")
    files = {f["name"]: f for f in jbody(data)}
    check(st == 200 and snap["name"] in files and files[snap["name"]]["size"] ==
          os.path.getsize(snap["path"]) and "time" in files[snap["name"]],
          "the snapshot is listed with size and time")
    st, hd, data = get(f"/api/{CAM_A}/snapshots/{snap['name']}")
    with open(snap["path"], "rb") as f:
        eq((st, hd.get("content-type"), data == f.read()), (200, "image/jpeg", True),
           "the saved file is served whole")
    st, _, data = get(f"/api/{CAM_B}/snapshots")
    check(st == 200 and snap["name"] not in {f["name"] for f in jbody(data)},
          "another camera's list does not show it")
    # Path tricks: a symlink out of the directory, a FIFO, dot-dot, slashes,
    # another camera's prefix.
    os.symlink("/etc/passwd", os.path.join(h.save, f"{CAM_A}-evil.jpg"))
    os.mkfifo(os.path.join(h.save, f"{CAM_A}-fifo.jpg"))
    os.mkdir(os.path.join(h.save, f"{CAM_A}-dir.jpg"))
    for name in (f"{CAM_A}-evil.jpg", f"{CAM_A}-fifo.jpg", f"{CAM_A}-dir.jpg",
                 "..%2f..%2fetc%2fpasswd", f"{CAM_A}-..%2f..%2fetc%2fpasswd", "%2e%2e",
                 f"{CAM_A}-a%00b.jpg", snap["name"].replace(CAM_A, CAM_B, 1), ".hidden",
                 f"{CAM_A}-x/../../etc/passwd"):
        st, _, data = get(f"/api/{CAM_A}/snapshots/{name}")
        check(st == 404 and b"root:" not in data, f"snapshots/{name}: 404 ({st})")
    st, _, data = get(f"/api/{CAM_B}/snapshots/{snap['name']}")
    eq(st, 404, "another camera cannot serve this camera's file")
    st, _, data = get(f"/api/{CAM_A}/snapshots")
    check(f"{CAM_A}-evil.jpg" not in {f["name"] for f in jbody(data)},
          "the list leaves symlinks, FIFOs and directories out")

    # ---- controls ----
    st, _, data = request(tcp, "POST", f"/api/{CAM_B}/capture", body='{"on": false}')
    check(st == 200 and jbody(data)["capturing"] is False, "capture stop")
    st, _, data = request(tcp, "POST", f"/api/{CAM_B}/snapshot")
    eq(st, 409, "snapshot while capture is stopped: 409")
    st, _, data = request(tcp, "POST", f"/api/{CAM_B}/capture", body='{"action": "start"}')
    check(st == 200 and jbody(data)["capturing"] is True, "capture start")
    st, _, data = request(tcp, "POST", f"/api/{CAM_B}/preview", body='{"on": false}')
    check(st == 200 and jbody(data)["preview"] is False, "preview off")
    st, _, data = request(tcp, "POST", f"/api/{CAM_B}/preview", body='{"on": true}')
    check(st == 200 and jbody(data)["preview"] is True, "preview on")
    st, _, data = request(tcp, "PUT", f"/api/{CAM_B}/fps", body='{"fps": 12}')
    check(st == 200 and jbody(data)["fps"] == 12, "PUT fps 12")
    request(tcp, "PUT", f"/api/{CAM_B}/fps", body='{"fps": 0}')
    for body in ('{"fps": "fast"}', '{"fps": -1}', '{"fps": 1001}', '{"fps": 1.5}', "[]",
                 '{"fps": 5} trailing', "", "{", '{"fps": 5}{"fps": 6}'):
        st, _, data = request(tcp, "PUT", f"/api/{CAM_B}/fps", body=body)
        check(st == 400 and jbody(data)["status"] == 400, f"PUT fps {body!r}: 400 ({st})")
    for body in ('{"on": 1}', '{"action": "go"}', '{}', 'null', '"on"'):
        st, _, _ = request(tcp, "POST", f"/api/{CAM_B}/capture", body=body)
        eq(st, 400, f"capture {body!r}")
    st, _, data = request(tcp, "POST", f"/api/{CAM_B}/preview", body="x" * 100000)
    eq(st, 413, "a body over the limit: 413")
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(f"POST /api/{CAM_B}/preview HTTP/1.1\r\nHost: x\r\n"
              "Transfer-Encoding: chunked\r\n\r\n".encode())
    try:
        for _ in range(4):
            s.sendall(b"800\r\n" + b" " * 0x800 + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    d = s.recv(4096)
    s.close()
    check(d.startswith(b"HTTP/1.1 413"), f"a chunked body over the limit: 413 ({d[:20]!r})")
    st, hd, data = get(f"/api/{CAM_B}/fps")
    check(st == 405 and hd.get("allow") == "PUT", f"GET fps: 405 with Allow: PUT ({st})")
    st, hd, _ = request(tcp, "DELETE", "/api/stats")
    check(st == 405 and "GET" in hd.get("allow", ""), "DELETE /api/stats: 405")
    for path in ("/api/nosuchcam/latest.jpg", "/api/nosuchcam/snapshot", "/nothing",
                 "/api/", "/api/stats/x", f"/api/{CAM_A}/nothing", f"/api/{CAM_A}",
                 "/api/bad%20name/latest.jpg", "/api/" + "x" * 200 + "/latest.jpg",
                 f"/api/{CAM_A}/latest.jpg/x", "/api//latest.jpg"):
        method = "POST" if path.endswith("snapshot") else "GET"
        st, hd, data = request(tcp, method, path)
        check(st == 404 and jbody(data)["status"] == 404 and
              hd.get("content-type") == "application/json", f"{method} {path[:50]}: 404 ({st})")

    # ---- MJPEG: one fast client, one slow one ----
    slow_count, slow_whole = [0], []
    s_slow = open_stream(port, f"/api/{CAM_A}/stream.mjpeg", rcvbuf=4096)
    t_slow = threading.Thread(target=mjpeg_parts,
                              args=(s_slow, stream_stop, slow_count, 1.0, slow_whole))
    t_slow.start()
    base_fast = fast_count[0]
    st, _, data = get("/api/stats")
    pub0 = {c["name"]: c for c in jbody(data)["cameras"]}[CAM_A]["published"]
    # Until the fast client has 40 more frames (deadline only against hangs).
    deadline = time.monotonic() + 60
    while fast_count[0] - base_fast < 40 and time.monotonic() < deadline:
        time.sleep(0.2)
    fast_got = fast_count[0] - base_fast
    slow_got = slow_count[0]
    st, _, data = get("/api/stats")
    pub1 = {c["name"]: c for c in jbody(data)["cameras"]}[CAM_A]["published"]
    stream_stop.set()
    t_fast.join(10)
    t_slow.join(10)
    s_fast.close()
    s_slow.close()
    check(fast_got >= 40, f"the fast client kept getting frames ({fast_got})")
    check(slow_got * 3 < fast_got, f"the slow client missed frames ({slow_got} vs {fast_got})")
    check(slow_whole and all(slow_whole), "the slow client's frames are whole JPEGs")
    # The camera kept publishing at its own rate meanwhile: its pool got
    # more frames than the fast client saw previews (30 fps vs 15).
    check(pub1 - pub0 > fast_got, f"the camera was not slowed ({pub1 - pub0} published)")

    # ---- hostile clients while others are served ----
    hostile(port, sock_path)

    # ---- offline: the placeholder, 503s, and back ----
    eq(h.cmd(f"stop {CAM_B}"), "ok", "camera B stopped")
    st, hd, data = get(f"/api/{CAM_B}/latest.jpg")
    check(st == 503 and hd.get("x-rkv-offline") == "1" and hd.get("content-type") ==
          "image/jpeg" and jpeg_size(data) == (320, 240),
          f"offline latest.jpg: 503, X-RKV-Offline, the placeholder ({st})")
    st2, _, data2 = get(f"/api/{CAM_B}/latest.jpg")
    eq(data2, data, "the placeholder is the same every time")
    for method, path, body in (("POST", "snapshot", None), ("POST", "capture", '{"on":true}'),
                               ("PUT", "fps", '{"fps":5}'), ("POST", "preview", '{"on":true}')):
        st, hd, _ = request(tcp, method, f"/api/{CAM_B}/{path}", body=body)
        check(st == 503 and hd.get("x-rkv-offline") == "1", f"offline {path}: 503 ({st})")
    st, _, data = get("/api/stats")
    b = {c["name"]: c for c in jbody(data)["cameras"]}[CAM_B]
    check(b["online"] is False and b["state"] == "stopped", "stats: camera B offline")
    s = open_stream(port, f"/api/{CAM_B}/stream.mjpeg")
    stop, cnt, whole = threading.Event(), [0], []
    t = threading.Thread(target=mjpeg_parts, args=(s, stop, cnt, 0.0, whole))
    t.start()
    deadline = time.monotonic() + 30
    while cnt[0] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    t.join(10)
    s.close()
    check(cnt[0] >= 2 and all(whole), f"an offline camera's stream sends the placeholder ({cnt[0]})")
    eq(h.cmd(f"start {CAM_B}"), "ok", "camera B started again")
    eq(h.cmd(f"wait {CAM_B}"), "ok", "camera B up again")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st, hd, data = get(f"/api/{CAM_B}/latest.jpg")
        if st == 200:
            break
        time.sleep(0.3)
    check(st == 200 and "x-rkv-offline" not in hd, "back online: latest.jpg 200")

    # ---- restart through the board ----
    st, _, data = get("/api/cameras")
    before = {c["name"]: c for c in jbody(data)}[CAM_A]["restarts"]
    st, _, data = request(tcp, "POST", f"/api/{CAM_A}/restart")
    eq(st, 202, "POST restart")
    eq(h.cmd(f"wait {CAM_A}"), "ok", "camera A up after the restart")
    st, _, data = get("/api/cameras")
    eq({c["name"]: c for c in jbody(data)}[CAM_A]["restarts"], before + 1, "restarts counted")
    st, _, _ = request(tcp, "POST", "/api/nosuchcam/restart")
    eq(st, 404, "restart an unknown camera")


def hostile(port, sock_path):
    """Slowloris, oversized headers, garbage: refused, and the others
    (another address, the Unix socket) keep being served meanwhile."""

    def other():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20,
                                       source_address=("127.0.0.2", 0))
        return c

    def unx():
        return UnixHTTPConnection(sock_path)

    # More half-sent requests than one address may hold.
    loris = []
    for _ in range(24):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(60)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        except OSError:
            pass
        loris.append(s)
    served = 0
    for _ in range(10):
        st, _, _ = request(other, "GET", "/api/version")
        st2, _, _ = request(unx, "GET", "/api/stats")
        served += st == 200 and st2 == 200
    eq(served, 10, "others are served while slowloris connections are held")
    # Those over the per-address limit were closed at once; the rest are
    # closed once idle past the connection timeout.
    closed = 0
    deadline = time.monotonic() + 90
    for s in loris:
        s.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            d = s.recv(4096)
            closed += d == b"" or d.startswith(b"HTTP/1.1 4")
        except (ConnectionResetError, BrokenPipeError):
            closed += 1
        except socket.timeout:
            pass
        s.close()
    eq(closed, len(loris), "every slowloris connection was closed")

    # The total limit: RKVD_HTTP_CONNECTIONS (64) connections from four
    # addresses, 16 each (the per-address limit); one more from a fifth is
    # refused, the Unix socket (its own listener) still answers, and once
    # they are gone TCP answers again.
    hogs = []
    for i in range(64):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((f"127.0.0.{3 + i // 16}", 0))
        s.settimeout(20)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n")
        hogs.append(s)
    # The server accepts in the order the connections came, so the next
    # one is the 65th whenever it is accepted.
    extra = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    extra.bind(("127.0.0.7", 0))
    extra.settimeout(20)
    refused = False
    try:
        extra.connect(("127.0.0.1", port))
        extra.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
        refused = extra.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        refused = True
    except socket.timeout:
        refused = False
    extra.close()
    check(refused, "past the total connection limit, a new connection is refused")
    st, _, _ = request(unx, "GET", "/api/version")
    eq(st, 200, "the Unix socket answers while TCP is full")
    for s in hogs:
        s.close()
    deadline = time.monotonic() + 30
    st = None
    while time.monotonic() < deadline:
        try:
            st, _, _ = request(other, "GET", "/api/version")
            break
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            time.sleep(0.2)
    eq(st, 200, "TCP answers again once the connections are gone")

    # A huge header.
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 +
                  b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        d = s.recv(4096)
    except ConnectionResetError:
        d = b""
    check(d == b"" or d.split(b" ")[1].startswith(b"4"), f"a huge header is refused ({d[:40]!r})")
    s.close()
    # A huge URL, garbage, an unknown method.
    for raw in (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"\x00\x01\x02 garbage\r\n\r\n", b"GET\r\n\r\n",
                b"BREW /api/version HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /api/version HTTP/9.9\r\nHost: x\r\n\r\n",
                b"POST /api/x/fps HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            s.sendall(raw)
            d = s.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            d = b""
        s.close()
        check(d == b"" or d.split(b" ")[1][:1] in (b"4", b"5"),
              f"{raw[:24]!r}...: refused ({d[:30]!r})")
    st, _, _ = request(other, "GET", "/api/version")
    eq(st, 200, "still serving after the hostile clients")


def token_tests(tmp):
    """A non-loopback bind needs a token; without one it is refused."""
    sock_path = os.path.join(tmp, "rkvd-tok.sock")
    h = Harness(tmp, ["--listen", "127.0.0.2:0", "--unix", sock_path, "--token", TOKEN], [])
    try:
        if not check(h.port, f"a token-guarded listener on 127.0.0.2 ({h.first!r})"):
            return

        def tcp():
            return http.client.HTTPConnection("127.0.0.2", h.port, timeout=20)

        st, hd, data = request(tcp, "GET", "/api/version")
        check(st == 401 and hd.get("www-authenticate") == "Bearer" and
              json.loads(data)["status"] == 401, f"no token: 401 ({st})")
        st, _, _ = request(tcp, "GET", "/api/version", headers={"Authorization": "Bearer nope"})
        eq(st, 401, "a wrong token: 401")
        st, _, _ = request(tcp, "GET", "/api/version",
                           headers={"Authorization": "Bearer " + TOKEN + "x"})
        eq(st, 401, "a longer token: 401")
        st, _, _ = request(tcp, "GET", "/api/version",
                           headers={"Authorization": "Bearer " + TOKEN[:-1]})
        eq(st, 401, "a prefix of the token: 401")
        st, _, _ = request(tcp, "GET", "/api/version", headers={"Authorization": "Bearer " + TOKEN})
        eq(st, 200, "Authorization: Bearer TOKEN: 200")
        st, _, _ = request(tcp, "GET", "/api/version?token=" + TOKEN)
        eq(st, 200, "?token=TOKEN: 200")
        st, _, _ = request(tcp, "GET", "/api/nosuchcam/latest.jpg")
        eq(st, 401, "no token, unknown camera: 401 first")
        st, _, _ = request(lambda: UnixHTTPConnection(sock_path), "GET", "/api/version")
        eq(st, 200, "the Unix socket needs no token")
    finally:
        eq(h.close(), 0, "token harness exit status")
    h = Harness(tmp, ["--listen", "127.0.0.2:0"], [])
    rc = h.close()
    check(h.first.startswith("start-error 22") and rc == 3,
          f"a non-loopback bind without a token is refused ({h.first!r}, {rc})")
    h = Harness(tmp, ["--listen", "127.0.0.1:0", "--unix", os.path.join(tmp, "save")], [])
    rc = h.close()
    check(h.first.startswith("start-error") and rc == 3,
          f"a Unix socket path that is a directory is refused ({h.first!r})")


if __name__ == "__main__":
    if not os.access(HARNESS, os.X_OK) or not os.access(CAMERA_EXE, os.X_OK):
        sys.exit(77)
    main()
    finish()
