# SPDX-License-Identifier: MIT
"""rkvision.Consumer against a test-pattern rkv-camera (meson suite 'python').

Environment (set by tests/meson.build): PYTHONPATH=<source>/python,
RKV_PYTHON_EXT_DIR=<build>/python, RKV_CAMERA=<build>/src/rkv-camera.
"""
import asyncio
import os
import select
import signal
import subprocess
import tempfile
import time
import unittest

import numpy as np

import rkvision

CAMERA = os.environ["RKV_CAMERA"]
_count = 0


class Camera:
    """rkv-camera with the test pattern in a pool of its own name."""

    def __init__(self, fmt="NV12", size="320x240", fps=60, extra=()):
        global _count
        _count += 1
        self.name = "pyt%d-%d" % (os.getpid(), _count)
        self.dir = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [CAMERA, "--name", self.name, "--size", size, "--format", fmt, "--fps", str(fps),
             "--quiet", "--save-dir", self.dir.name, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                rkvision.Consumer(self.name, attach_timeout=1.0).close()
                return
            except FileNotFoundError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("rkv-camera did not start: %s" % self.proc.stderr.read())
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        self.dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def after_release_reads(frame, a):
    """Reads of a (a view of frame) that must raise once frame is released."""
    s = a[2:6, 3:7]
    return [
        lambda: a[0], lambda: s[0, 0], lambda: s[1], lambda: np.sum(s), lambda: s.sum(),
        lambda: s.max(), lambda: s + 1, lambda: s == 3, lambda: np.mean(a),
        lambda: bytes(s), lambda: memoryview(s), lambda: np.frombuffer(a, np.uint8),
        lambda: s.tobytes(), lambda: s.copy(), lambda: np.copy(s), lambda: s.tolist(),
        lambda: list(s), lambda: s.astype(np.int16), lambda: s.view(np.ndarray),
        lambda: s.T, lambda: a.reshape(-1), lambda: s.ctypes, lambda: s.data,
        lambda: s.__array_interface__, lambda: a[:5][:2], lambda: int(s[0, 0]),
        lambda: np.concatenate([s, s]), lambda: frame.array, lambda: frame.planes,
        lambda: frame.copy(),
    ]


class TestFrames(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cam = Camera("NV12", "320x240")

    @classmethod
    def tearDownClass(cls):
        cls.cam.stop()

    def test_nv12_planes_zero_copy(self):
        with rkvision.Consumer(self.cam.name, policy="latest") as c:
            seqs = []
            for _ in range(3):
                with c.get(timeout=2.0) as f:
                    self.assertEqual((f.format, f.width, f.height), ("NV12", 320, 240))
                    y, uv = f.planes
                    self.assertIs(f.array, f.planes)
                    self.assertEqual(y.shape, (240, 320))
                    self.assertEqual(uv.shape, (120, 160, 2))
                    self.assertEqual((y.dtype, uv.dtype), (np.uint8, np.uint8))
                    self.assertIsInstance(y, rkvision.FrameArray)
                    self.assertFalse(y.flags.writeable)
                    with self.assertRaises(ValueError):
                        y.setflags(write=True)
                    with self.assertRaises(ValueError):
                        y[0, 0] = 1
                    # Zero copy: the arrays point into the slot the library mapped.
                    self.assertEqual(y.ctypes.data, f._lease.address)
                    self.assertEqual(uv.ctypes.data,
                                     f._lease.address + f._lease.planes[1][0])
                    self.assertEqual(f.planes[0].ctypes.data, y.ctypes.data)
                    self.assertIsNone(f.fd)
                    self.assertGreater(f.timestamp, 0)
                    ycopy, uvcopy = f.copy()
                    self.assertEqual(type(ycopy), np.ndarray)
                    self.assertTrue(np.array_equal(ycopy, y))
                    self.assertTrue(np.array_equal(uvcopy, uv))
                    self.assertGreater(int(y.max()), int(y.min()))  # a pattern, not a flat fill
                    seqs.append(f.seq)
                self.assertTrue(f.released)
            self.assertEqual(seqs, sorted(set(seqs)))
            c.get(2.0).release()  # max_held=1: so nothing was still held
            self.assertEqual(ycopy.shape, (240, 320))  # copies outlive the frame

    def test_release_makes_views_unreadable(self):
        self.assertTrue(issubclass(rkvision.ReleasedError, ValueError))
        with rkvision.Consumer(self.cam.name) as c:
            for how in ("release", "with", "loop", "close"):
                if how == "close":
                    c2 = rkvision.Consumer(self.cam.name)
                    f = c2.get(2.0)
                    y, uv = f.planes
                    reads = after_release_reads(f, y) + after_release_reads(f, uv)
                    c2.close()
                elif how == "loop":
                    for f in c:
                        y, uv = f.planes
                        reads = after_release_reads(f, y) + after_release_reads(f, uv)
                        break
                else:
                    f = c.get(2.0)
                    y, uv = f.planes
                    reads = after_release_reads(f, y) + after_release_reads(f, uv)
                    if how == "with":
                        with f:
                            pass
                    else:
                        f.release()
                for i, r in enumerate(reads):
                    with self.assertRaises(rkvision.ReleasedError, msg="%s: read %d" % (how, i)):
                        r()
                self.assertIn("released", repr(y))
                f.release()  # twice is harmless
            c.get(2.0).release()  # max_held=1: so nothing was still held

    def test_fork_child_cannot_read(self):
        with rkvision.Consumer(self.cam.name) as c, c.get(2.0) as f:
            y = f.planes[0]
            s = y[:4]
            before = y.copy()
            pid = os.fork()
            if pid == 0:  # the child: the parent's frame is not readable here
                code = 0
                for read in (lambda: y[0], lambda: np.sum(s), lambda: bytes(s),
                             lambda: f.array):
                    try:
                        read()
                        code = 1
                    except rkvision.ReleasedError:
                        pass
                    except BaseException:
                        code = 2
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            self.assertTrue(np.array_equal(y, before))  # the parent still reads it
        c2 = rkvision.Consumer(self.cam.name)
        c2.close()

    def test_waits(self):
        with rkvision.Consumer(self.cam.name, policy="latest") as c:
            fd = c.fileno()
            r, _, _ = select.select([fd], [], [], 2.0)
            self.assertEqual(r, [fd])
            with c.get(0) as f:
                self.assertEqual(f.format, "NV12")
            n = 0
            deadline = time.monotonic() + 2
            while n < 3 and time.monotonic() < deadline:
                if select.select([c], [], [], 1.0)[0]:
                    try:
                        c.get(0).release()
                        n += 1
                    except BlockingIOError:
                        pass
            self.assertEqual(n, 3)
            with self.assertRaises(ValueError):
                c.get(-1)
            with self.assertRaises(TypeError):
                c.get("soon")

    def test_async_for(self):
        async def run(c):
            got, frames = [], []
            async for f in c.frames():
                if frames:
                    self.assertTrue(frames[-1].released)  # the previous one went back
                got.append(f.seq)
                frames.append(f)
                self.assertEqual(f.planes[0].shape, (240, 320))
                if len(got) == 3:
                    break
            return got, frames

        with rkvision.Consumer(self.cam.name) as c:
            seqs, frames = asyncio.run(run(c))
            self.assertEqual(seqs, sorted(set(seqs)))
            self.assertTrue(frames[-1].released)  # leaving the loop released it
            with self.assertRaises(rkvision.ReleasedError):
                frames[-1].planes[0][0]

            async def first():
                async for f in c:
                    return f.seq
            self.assertGreater(asyncio.run(first()), seqs[-1])
            c.get(2.0).release()  # nothing still held (max_held=1)

    def test_max_held(self):
        with rkvision.Consumer(self.cam.name, max_held=2) as c:
            a, b = c.get(2.0), c.get(2.0)
            self.assertLess(a.seq, b.seq)
            with self.assertRaises(RuntimeError):
                c.get(2.0)
            a.release()
            c.get(2.0).release()
            b.release()

    def test_policies(self):
        name = self.cam.name
        for policy in ("latest", "block", "drop"):
            with rkvision.Consumer(name, policy=policy, queue_depth=4) as c:
                seqs = [f.seq for f, _ in zip(c, range(5))]
                self.assertEqual(seqs, sorted(set(seqs)), policy)
                self.assertEqual(c.stats()["policy"], policy)
        with rkvision.Consumer(name, policy="group", group="g") as g1, \
                rkvision.Consumer(name, policy="group", group="g") as g2:
            got1, got2 = set(), set()
            for _ in range(6):
                for c, got in ((g1, got1), (g2, got2)):
                    try:
                        with c.get(0.5) as f:
                            got.add(f.seq)
                    except TimeoutError:
                        pass
            self.assertTrue(got1 and got2)
            self.assertFalse(got1 & got2)  # each frame to one member
            self.assertEqual(g1.stats()["group"], "g")


class TestControl(unittest.TestCase):
    def test_camera_calls(self):
        with Camera("NV12", "64x48") as cam:
            ctl = rkvision.camera(cam.name)
            st = ctl.status()
            self.assertEqual((st["camera"], st["format"], st["width"]), (cam.name, "NV12", 64))
            self.assertTrue(ctl.capture(False)["capturing"] is False)
            with rkvision.Consumer(cam.name) as c:
                try:
                    c.get(0).release()  # one published before the stop
                except BlockingIOError:
                    pass
                with self.assertRaises(TimeoutError):
                    c.get(0.3)
                self.assertEqual(ctl.fps(10)["fps"], 10)
                ctl.capture(True)
                c.get(2.0).release()
            snap = ctl.snapshot(format="png")
            self.assertTrue(snap["path"].endswith(".png"))
            self.assertTrue(os.path.exists(snap["path"]))
            with self.assertRaises(OSError):
                ctl.preview(True)  # started without --preview
            with self.assertRaises(ValueError):
                ctl.call("bogus")
            with self.assertRaises(ValueError):
                ctl.snapshot(quality=1000)
        with self.assertRaises(FileNotFoundError):
            rkvision.camera("pyt-no-such-camera-%d" % os.getpid()).status()


class TestFormats(unittest.TestCase):
    def test_packed_and_planar(self):
        for fmt, shapes in (("YUYV", [(48, 64, 2)]), ("RGB3", [(48, 64, 3)]),
                            ("BGR3", [(48, 64, 3)]),
                            ("YU12", [(48, 64), (24, 32), (24, 32)])):
            with Camera(fmt, "64x48") as cam, rkvision.Consumer(cam.name) as c, \
                    c.get(2.0) as f:
                self.assertEqual(f.format, fmt)
                self.assertEqual([p.shape for p in f.planes], shapes, fmt)
                a = f.array
                if len(shapes) == 1:
                    self.assertEqual(a.shape, shapes[0])
                    self.assertEqual(a.dtype, np.uint8)
                    self.assertEqual(a.ctypes.data, f._lease.address)
                    s = a[1:3]
                f.release()
                with self.assertRaises(rkvision.ReleasedError):
                    np.sum(s if len(shapes) == 1 else f.planes)

    def test_jpeg_is_bytes(self):
        with Camera("NV12", "64x48", extra=("--encode", "jpeg")) as cam, \
                rkvision.Consumer(cam.name) as c, c.get(2.0) as f:
            self.assertEqual(f.format, "JPEG")
            self.assertEqual(f.planes, ())
            self.assertEqual(f.array.shape, (f.bytes_used,))
            self.assertEqual(bytes(f.array[:2]), b"\xff\xd8")
            self.assertIsInstance(f.copy(), np.ndarray)


class TestErrors(unittest.TestCase):
    def test_bad_arguments(self):
        with self.assertRaises(FileNotFoundError):
            rkvision.Consumer("pyt-no-such-pool-%d" % os.getpid())
        for kw in ({"policy": "newest"}, {"policy": "group"}, {"group": "g"},
                   {"attach_timeout": -1}):
            with self.assertRaises(ValueError, msg=str(kw)):
                rkvision.Consumer("pyt-no-such-pool", **kw)
        with self.assertRaises(ValueError):
            rkvision.Consumer("x" * 200)
        with self.assertRaises(TypeError):
            rkvision.Consumer(None)

    def test_paused_camera_times_out(self):
        with Camera("NV12", "64x48", extra=("--paused",)) as cam, \
                rkvision.Consumer(cam.name) as c:
            t0 = time.monotonic()
            with self.assertRaises(TimeoutError):
                c.get(timeout=0.3)
            self.assertGreaterEqual(time.monotonic() - t0, 0.25)
            with self.assertRaises(BlockingIOError):
                c.get(0)
            self.assertEqual(select.select([c], [], [], 0.2)[0], [])

            async def one():
                async for f in c.frames():
                    return f
            with self.assertRaises(asyncio.TimeoutError):
                asyncio.run(asyncio.wait_for(one(), 0.3))

    def test_camera_gone(self):
        cam = Camera("NV12", "64x48", fps=100)
        try:
            c = rkvision.Consumer(cam.name, policy="block", queue_depth=4)
            c.get(2.0).release()
            cam.proc.send_signal(signal.SIGKILL)
            cam.proc.wait()
            drained = 0
            with self.assertRaises(ConnectionError):
                for _ in range(100):
                    c.get(2.0).release()
                    drained += 1
            self.assertLessEqual(drained, 4)
            with self.assertRaises(ConnectionError):
                c.get(0)
            # The loop form ends instead.
            self.assertEqual(list(c), [])
            c.close()
            self.assertTrue(c.closed)
            with self.assertRaises(ValueError):
                c.get(0)
            c.close()
        finally:
            cam.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
