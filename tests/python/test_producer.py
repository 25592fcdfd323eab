# SPDX-License-Identifier: MIT
"""rkvision.Producer: Python feeding a pool, read by Python consumers and by
the C consumer in `rkv watch` (meson suite 'python').

Environment (set by tests/meson.build): PYTHONPATH=<source>/python,
RKV_PYTHON_EXT_DIR=<build>/python, RKV_CLI=<build>/src/rkv.
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

import numpy as np

import rkvision

CLI = os.environ["RKV_CLI"]
_count = 0


def pool_name():
    global _count
    _count += 1
    return "pyp%d-%d" % (os.getpid(), _count)


class TestProducer(unittest.TestCase):
    def test_python_to_python(self):
        name = pool_name()
        with rkvision.Producer(name, slots=8, capacity=1 << 16) as p, \
                rkvision.Consumer(name, policy="block", queue_depth=6) as c:
            rgb = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
            nv12 = np.arange(72 * 64, dtype=np.uint8).reshape(72, 64)
            yuyv = np.full((48, 64, 2), 9, np.uint8)
            p.publish_copy(rgb, keyframe=True)
            p.publish_copy(nv12, format="NV12", timestamp=12345)
            p.publish_copy(yuyv[:, ::-1])  # not contiguous: copied first
            p.publish_copy(b"hello", seq=40)
            p.publish_copy(np.zeros((48, 64), np.uint8))
            with c.get(1.0) as f:
                self.assertEqual((f.seq, f.format, f.width, f.height), (0, "RGB3", 64, 48))
                self.assertTrue(f.keyframe)
                self.assertTrue(np.array_equal(f.array, rgb))
            with c.get(1.0) as f:
                self.assertEqual((f.seq, f.format, f.timestamp), (1, "NV12", 12345))
                y, uv = f.planes
                self.assertTrue(np.array_equal(y, nv12[:48]))
                self.assertTrue(np.array_equal(uv.reshape(24, 64), nv12[48:]))
            with c.get(1.0) as f:
                self.assertEqual((f.format, f.array.shape), ("YUYV", (48, 64, 2)))
            with c.get(1.0) as f:
                self.assertEqual((f.seq, f.format, bytes(f.array)), (40, "BYTE", b"hello"))
            with c.get(1.0) as f:
                self.assertEqual((f.seq, f.format, f.array.shape), (41, "GREY", (48, 64)))
            st = p.stats()
            self.assertEqual((st["published"], st["consumers"], st["slot_count"]), (5, 1, 8))
            self.assertIsInstance(p.fileno(), int)
            p.close()
            self.assertTrue(p.closed)
            with self.assertRaises(BrokenPipeError):
                c.get(1.0)
            with self.assertRaises(ValueError):
                p.publish_copy(b"x")

    def test_threads(self):
        """A Producer and a Consumer shared by several threads: the C handles
        take one caller at a time (rkv/pool.h), so the binding serialises
        the calls it makes with the GIL let go. Every frame arrives once,
        whole, and no call fails."""
        import threading
        name = pool_name()
        per, writers, readers = 400, 4, 2
        errors, got, lock = [], [], threading.Lock()
        with rkvision.Producer(name, slots=8, capacity=4096, block_timeout=10.0) as p, \
                rkvision.Consumer(name, policy="block", queue_depth=5, max_held=readers) as c:
            def write(t):
                try:
                    for i in range(per):
                        seq = t * 100000 + i
                        p.publish_copy(np.full(1000, seq % 251, np.uint8), seq=seq,
                                       timeout=10.0)
                except Exception as e:  # reported below, with the thread
                    errors.append(("writer", t, repr(e)))

            def read(t):
                try:
                    while True:
                        with lock:
                            if len(got) >= per * writers:
                                return
                        try:
                            f = c.get(timeout=0.5)
                        except TimeoutError:
                            continue
                        with f:
                            a = f.array
                            ok = bool((a == f.seq % 251).all())
                        with lock:
                            got.append((f.seq, ok))
                except Exception as e:
                    errors.append(("reader", t, repr(e)))

            ts = [threading.Thread(target=write, args=(t,)) for t in range(writers)]
            ts += [threading.Thread(target=read, args=(t,)) for t in range(readers)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            self.assertFalse(any(t.is_alive() for t in ts), "a thread hung")
        self.assertEqual(errors, [])
        seqs = sorted(s for s, _ in got)
        want = sorted(t * 100000 + i for t in range(writers) for i in range(per))
        self.assertEqual(seqs, want)
        self.assertTrue(all(ok for _, ok in got), "a frame's bytes did not match its seq")

    def test_loan_in_place(self):
        name = pool_name()
        with rkvision.Producer(name, slots=8, capacity=1 << 16) as p, \
                rkvision.Consumer(name, policy="block", queue_depth=4) as c:
            with p.loan(1.0) as loan:
                img = loan.image("RGB24", 64, 48)
                self.assertEqual((img.shape, img.flags.writeable), ((48, 64, 3), True))
                img[...] = 7
                img[0, 0] = (1, 2, 3)
                s = img[10:]
                self.assertEqual(loan.publish(), 1)
                # After publish the views neither write nor read the slot.
                for op in (lambda: img.__setitem__((0, 0), 1), lambda: s.fill(0),
                           lambda: np.add(s, 1, out=s), lambda: np.copyto(s, 0),
                           lambda: img[0, 0], lambda: memoryview(s), lambda: loan.buffer):
                    with self.assertRaises(rkvision.ReleasedError):
                        op()
            with c.get(1.0) as f:
                self.assertEqual((f.seq, f.format, f.array.shape), (0, "RGB3", (48, 64, 3)))
                self.assertEqual(f.array[0, 0].tolist(), [1, 2, 3])
                self.assertEqual(int(f.array[1:].min()), 7)
            with p.loan(1.0) as loan:
                y, uv = loan.image("NV12", 64, 48)
                y[...] = 1
                uv[...] = 2
                loan.publish(seq=50, keyframe=True)
            with c.get(1.0) as f:
                self.assertEqual((f.seq, f.keyframe, f.planes[1].shape), (50, True, (24, 32, 2)))
                self.assertEqual((int(f.planes[0].max()), int(f.planes[1].min())), (1, 2))
            with p.loan(1.0) as loan:
                loan.buffer[:5] = np.frombuffer(b"hello", np.uint8)
                loan.publish(bytes_used=5)
            with c.get(1.0) as f:
                self.assertEqual((f.seq, bytes(f.array)), (51, b"hello"))
            with p.loan(1.0) as loan:  # left unpublished: cancelled
                loan.buffer[0] = 1
            self.assertTrue(loan.done)
            with self.assertRaises(BlockingIOError):
                c.get(0)
            with self.assertRaises(ValueError):
                p.loan(1.0).image("RGB24", 4000, 4000)  # too big; the loan goes back
            with self.assertRaises(ValueError):
                p.loan(1.0).image("JPEG", 4, 4)  # not a raw format
            held = p.loan(1.0)
            with self.assertRaises(RuntimeError):
                p.loan(0)  # max_loans (1) out
            p.close()
            with self.assertRaises(rkvision.ReleasedError):
                held.buffer  # the pool is gone
            self.assertIsNone(held.cancel())

    def test_python_to_c(self):
        name = pool_name()
        with rkvision.Producer(name, slots=8, capacity=1 << 16) as p:
            watch = subprocess.Popen([CLI, "watch", name, "--policy", "block", "--frames", "3",
                                      "--json"], stdout=subprocess.PIPE, text=True)
            try:
                p.wait_consumers(1, timeout=10)
                for i in range(3):
                    p.publish_copy(np.full((48, 64, 3), i, np.uint8), seq=100 + i)
                out, _ = watch.communicate(timeout=30)
            finally:
                if watch.poll() is None:
                    watch.kill()
                    watch.wait()
        self.assertEqual(watch.returncode, 0)
        rows = [json.loads(line) for line in out.splitlines()]
        frames = [r for r in rows if not r.get("summary")]
        self.assertEqual([(r["seq"], r["format"], r["width"], r["height"], r["bytes"])
                          for r in frames], [(100 + i, "RGB3", 64, 48, 9216) for i in range(3)])

    def test_consumer_killed_holding_a_frame(self):
        """A Python consumer killed with SIGKILL while it holds a frame (and
        a view of it) gives its slots back: the producer goes on."""
        name = pool_name()
        child = """
import sys, numpy as np, rkvision
c = rkvision.Consumer(sys.argv[1], policy="block", queue_depth=2)
f = c.get(5.0)
s = f.array[1:]
print(f.seq, int(np.sum(s)), flush=True)
sys.stdin.read()
"""
        with rkvision.Producer(name, slots=4, capacity=4096) as p:
            proc = subprocess.Popen([sys.executable, "-c", child, name], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
            try:
                p.wait_consumers(1, timeout=10)
                for i in range(3):
                    p.publish_copy(bytes([i]) * 100, timeout=2.0)
                self.assertEqual(proc.stdout.readline().split(), ["0", "0"])
                self.assertLess(p.stats()["slots_free"], 4)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdin.close()
                proc.stdout.close()
            deadline = time.monotonic() + 10
            while (p.stats()["consumers"], p.stats()["slots_free"]) != (0, 4):
                self.assertLess(time.monotonic(), deadline, p.stats())
                time.sleep(0.02)
            for i in range(8):
                p.publish_copy(b"more", timeout=1.0)

    def test_no_torn_frames(self):
        """Consumers of every policy hold frames while a fast producer (another
        process) runs on: each frame read stays the frame it was, start to end
        of the hold."""
        name = pool_name()
        producer = """
import sys, numpy as np, rkvision
with rkvision.Producer(sys.argv[1], slots=16, capacity=1 << 16, block_timeout=0.05) as p:
    p.wait_consumers(5, timeout=10)
    print("go", flush=True)
    for seq in range(500):
        p.publish_copy(np.full(1 << 16, seq % 251, np.uint8), seq=seq)
"""
        proc = subprocess.Popen([sys.executable, "-c", producer, name], stdout=subprocess.PIPE,
                                text=True)
        try:
            consumers = []
            deadline = time.monotonic() + 10
            while not consumers:
                try:
                    consumers = [rkvision.Consumer(name, policy=pol, queue_depth=2, **kw)
                                 for pol, kw in (("latest", {}), ("block", {}), ("drop", {}),
                                                 ("group", {"group": "g"}),
                                                 ("group", {"group": "g"}))]
                except FileNotFoundError:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.02)
            self.assertEqual(proc.stdout.readline().strip(), "go")
            checked = 0
            live = list(consumers)
            while live:
                for c in list(live):
                    try:
                        f = c.get(0.02)
                    except TimeoutError:
                        continue
                    except BrokenPipeError:
                        live.remove(c)
                        continue
                    with f:
                        a = f.array
                        want = f.seq % 251
                        self.assertEqual((int(a.min()), int(a.max())), (want, want))
                        time.sleep(0.001)  # the producer runs on meanwhile
                        self.assertEqual((int(a.min()), int(a.max())), (want, want))
                        checked += 1
            self.assertGreater(checked, 100)
            for c in consumers:
                c.close()
        finally:
            proc.wait(60)
            proc.stdout.close()
        self.assertEqual(proc.returncode, 0)

    def test_pools(self):
        name = pool_name()
        self.assertNotIn(name, rkvision.pools())
        with rkvision.Producer(name, slots=4, capacity=4096) as p, \
                rkvision.Consumer(name, policy="drop", label="lister") as c:
            p.publish_copy(b"abc")
            c.get(1.0).release()
            st = rkvision.pools()[name]
            self.assertEqual((st["slot_count"], st["slot_capacity"], st["published"],
                              st["producer_pid"]), (4, 4096, 1, os.getpid()))
            self.assertEqual([(k["label"], k["policy"], k["received"])
                              for k in st["consumer_stats"]], [("lister", "drop", 1)])
        self.assertNotIn(name, rkvision.pools())
        with self.assertRaises(TypeError):
            rkvision._rkv.pool_stats(None)

    def test_bad_arguments(self):
        name = pool_name()
        for args, kw in (((name,), {"slots": 0}), ((name,), {"capacity": 0}),
                         (("",), {}), (("x" * 200,), {})):
            with self.assertRaises(ValueError, msg=str((args, kw))):
                rkvision.Producer(*args, **kw)
        with rkvision.Producer(name, slots=2, capacity=4096) as p:
            with self.assertRaises(OSError):
                rkvision.Producer(name)  # the name is taken
            for a, kw in ((np.zeros((10, 10), np.uint8), {"format": "NV12"}),
                          (np.zeros(8192, np.uint8), {}),
                          (np.zeros(3, np.float32), {}),
                          (np.zeros((2, 2, 2, 2), np.uint8), {}),
                          (b"x", {"format": "NOPE!"}),
                          (b"x", {"timeout": -1})):
                with self.assertRaises(ValueError, msg=str(kw)):
                    p.publish_copy(a, **kw)
            with self.assertRaises(TimeoutError):
                p.wait_consumers(1, timeout=0.1)
            # No consumer: slots are free again at once, so publishing goes on.
            for _ in range(5):
                p.publish_copy(b"x" * 4096, timeout=0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
