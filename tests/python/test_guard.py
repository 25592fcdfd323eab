# SPDX-License-Identifier: MIT
"""The binding's second guard (Consumer(guard="remap")): a view that escaped
FrameArray's checks (np.asarray(), a memoryview or ctypes pointer taken
before release, a forked child's copy) faults when read after release,
with the cause on stderr; it never returns the bytes of a reused slot.
(meson suite 'python', run by pytest)

Environment (set by tests/meson.build): PYTHONPATH=<source>/python,
RKV_PYTHON_EXT_DIR=<build>/python, RKV_GUARD_PRODUCER=<build>/tests/guard_producer
(a pool whose slots are fds at an offset inside a page: the DMA-BUF path).
"""
import ctypes
import itertools
import os
import signal
import subprocess
import sys
import threading
import unittest

import numpy as np

import rkvision

GUARD_PRODUCER = os.environ["RKV_GUARD_PRODUCER"]
MESSAGE = "rkvision: a frame was read after release()"
LEVELS = ("", "move", "fresh")   # RKVISION_GUARD_FALLBACK: none, then the fallbacks
WANT = {"": "dontunmap", "move": "move", "fresh": "fresh"}
KINDS = ("mem", "ext", "mem-large", "ext-large")
SMALL = 8192      # 2 or 3 pages with the offset: at most PROTECT_PAGES (_rkv.c)
LARGE = 100000    # 25 pages: moved
_count = 0


def pool_name():
    global _count
    _count += 1
    return "pyg%d-%d" % (os.getpid(), _count)


class Pool:
    """A pool of its own name (pool.name) for one test; closed by `with`."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ExtPool(Pool):
    """guard_producer: `slots` external slots of `cap` bytes at offset 256 of memfds."""

    def __init__(self, name=None, cap=SMALL, slots=4):
        self.name = name = name or pool_name()
        self.cap = cap
        self.proc = subprocess.Popen([GUARD_PRODUCER, name, str(slots), str(cap), "256"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def publish(self, byte):
        self.proc.stdin.write("%d\n" % byte)
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.startswith("published"), line

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
        self.proc.stdout.close()


class MemPool(Pool):
    """A Python Producer (slots in the pool's memfd) of `cap`-byte frames."""

    def __init__(self, name=None, cap=SMALL, slots=4):
        self.name = name = name or pool_name()
        self.cap = cap
        self.p = rkvision.Producer(name, slots=slots, capacity=cap)

    def publish(self, byte):
        self.p.publish_copy(np.full(self.cap, byte, np.uint8), timeout=5.0)

    def close(self):
        self.p.close()


def make_pool(kind, name=None, slots=4):
    """kind: "mem" or "ext", small slots (protected in place); "mem-large"
    or "ext-large", large ones (moved)."""
    cap = LARGE if kind.endswith("-large") else SMALL
    return (ExtPool if kind.startswith("ext") else MemPool)(name, cap, slots)


def protected(kind, level):
    """Are kind's frames read through an alias kept PROT_NONE in place on
    release (small slots, the table levels) rather than moved?"""
    return not kind.endswith("-large") and level != "fresh"


def refill(pool, c, slot):
    """Publish 0x22 frames and take them until one comes in `slot`, which
    then holds a newer frame than the one read there before."""
    for _ in range(64):
        pool.publish(0x22)
        g = c.get(5.0)
        s = g._lease.slot
        g.release()
        if s == slot:
            return
    raise SystemExit("the slot never came round again")


def maps_count():
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


# Child: hold frame 0x11, take an escaped view of it, read it (must give
# 0x11), end the frame (how: release, release from another thread, or
# close of the Consumer), have the producer refill that very slot with 0x22
# (a new frame is taken until it comes in the same slot), then read the
# escaped view again: that must kill the child.
CHILD = r"""
import ctypes, os, sys, threading
import numpy as np
import rkvision
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import test_guard as t
_, here, escape, end, kind, guard, name = sys.argv
pool = t.make_pool(kind, name)
c = rkvision.Consumer(name, policy="block", queue_depth=1, guard=guard)
print("GUARD", c.guard, flush=True)
pool.publish(0x11)
f = c.get(5.0)
print("PROTECTED", f._lease.protected, flush=True)
slot, last = f._lease.slot, pool.cap - 1
a = f.array
if escape == "asarray":
    v = np.asarray(a)
    read = lambda: int(v[last])
elif escape == "memoryview":
    m = memoryview(a)
    read = lambda: m[last]
elif escape == "ctypes":
    ptr = a.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
    read = lambda: ptr[last]
elif escape == "view":
    v = a[last - 10:].view(np.ndarray)
    read = lambda: int(v[10])
print("BEFORE", read(), flush=True)
if end == "release":
    f.release()
elif end == "thread":
    th = threading.Thread(target=f.release)
    th.start()
    th.join()
elif end == "finalizer":
    # an object whose finalizer releases the frame, dropped by another thread
    class Holder:
        def __init__(self, f):
            self.f = f
        def __del__(self):
            self.f.release()
    box = [Holder(f)]
    th = threading.Thread(target=box.clear)
    th.start()
    th.join()
    assert f.released
elif end == "close":
    c.close()
    c = rkvision.Consumer(name, policy="block", queue_depth=1, guard=guard)
t.refill(pool, c, slot)
print("REUSED", flush=True)
print("READ", read(), flush=True)
"""


# Child, with guard_fail_shim LD_PRELOADed: while the shim makes the
# guard's calls fail, release() and close() refuse (MemoryError) and the
# frame stays held, so its slot is not refilled under the escaped view,
# which still reads 0x11; once the calls work again, the usual.
REFUSE_CHILD = r"""
import ctypes, os, sys
import numpy as np
import rkvision
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import test_guard as t
_, here, end, kind, name = sys.argv
shim = ctypes.CDLL(os.environ["RKV_GUARD_SHIM"])
pool = t.make_pool(kind, name)
c = rkvision.Consumer(name, policy="block", queue_depth=1, max_held=2)
pool.publish(0x11)
f = c.get(5.0)
slot, last = f._lease.slot, pool.cap - 1
v = np.asarray(f.array)
shim.guard_shim_fail(1)
try:
    f.release() if end == "release" else c.close()
    print("ENDED", flush=True)
except MemoryError as e:
    shim.guard_shim_fail(0)
    print("REFUSED", "unreadable" in str(e), flush=True)
shim.guard_shim_fail(0)
print("HELD", not f.released, not c.closed, c.guard, flush=True)
for i in range(8):          # the pool goes round; the held slot is not in it
    pool.publish(0x22)
    g = c.get(5.0)
    assert g._lease.slot != slot
    g.release()
print("STILL", int(v[last]), flush=True)
f.release() if end == "release" else c.close()
if end == "close":
    c = rkvision.Consumer(name, policy="block", queue_depth=1, max_held=2)
t.refill(pool, c, slot)
print("REUSED", flush=True)
print("READ", int(v[last]), flush=True)
"""


def run_child(escape, end, kind, guard="remap", level=""):
    env = dict(os.environ, RKVISION_GUARD_FALLBACK=level)
    here = os.path.abspath(__file__)
    return subprocess.run(
        [sys.executable, "-c", CHILD, here, escape, end, kind, guard, pool_name()],
        env=env, capture_output=True, text=True, timeout=60)


class TestEscapedViews(unittest.TestCase):
    def check_faults(self, escape, end, kind, level=""):
        r = run_child(escape, end, kind, level=level)
        what = "%s/%s/%s/%r: rc %d\nstdout: %s\nstderr: %s" % (
            escape, end, kind, level, r.returncode, r.stdout, r.stderr)
        self.assertIn("GUARD %s\n" % WANT[level], r.stdout, what)
        self.assertIn("PROTECTED %s\n" % protected(kind, level), r.stdout, what)
        self.assertIn("BEFORE 17\n", r.stdout, what)       # right bytes while held
        self.assertIn("REUSED\n", r.stdout, what)           # the slot has new bytes
        self.assertNotIn("READ", r.stdout, what)            # ... that were never read
        self.assertEqual(r.returncode, -signal.SIGSEGV, what)
        self.assertIn(MESSAGE, r.stderr, what)

    def test_escaped_view_read_after_release_faults(self):
        for kind in KINDS:
            for level in LEVELS:
                for escape in ("asarray", "memoryview", "ctypes", "view"):
                    with self.subTest(kind=kind, level=level, escape=escape):
                        self.check_faults(escape, "release", kind, level)

    def test_released_from_another_thread(self):
        for end in ("thread", "finalizer"):
            for kind in ("mem", "mem-large"):
                for level in LEVELS:
                    with self.subTest(end=end, kind=kind, level=level):
                        self.check_faults("asarray", end, kind, level)

    def test_consumer_closed_with_frames_held(self):
        for kind in KINDS:
            for level in LEVELS:
                with self.subTest(kind=kind, level=level):
                    self.check_faults("asarray", "close", kind, level)

    def test_refused_when_the_range_cannot_be_taken(self):
        """When the kernel refuses to take a frame's addresses away (the
        shim fails the calls, as at vm.max_map_count), release() and
        close() raise MemoryError and keep the frame held rather than give
        its slot back under the escaped view; the level is not lowered."""
        here = os.path.abspath(__file__)
        for kind in ("mem", "mem-large", "ext-large"):
            for end in ("release", "close"):
                with self.subTest(kind=kind, end=end):
                    env = dict(os.environ, RKVISION_GUARD_FALLBACK="",
                               LD_PRELOAD=os.environ["RKV_GUARD_SHIM"])
                    r = subprocess.run([sys.executable, "-c", REFUSE_CHILD, here, end, kind,
                                        pool_name()],
                                       env=env, capture_output=True, text=True, timeout=60)
                    what = "rc %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout, r.stderr)
                    self.assertIn("REFUSED True\nHELD True True dontunmap\nSTILL 17\nREUSED\n",
                                  r.stdout, what)
                    self.assertNotIn("READ", r.stdout, what)
                    self.assertEqual(r.returncode, -signal.SIGSEGV, what)
                    self.assertIn(MESSAGE, r.stderr, what)

    def test_checks_only_reads_the_reused_slot(self):
        """What the second guard prevents: with guard="checks" the same
        escaped read returns the newer frame's bytes (0x22). Also shows the
        child really reuses the slot before its last read."""
        for kind in KINDS:
            with self.subTest(kind=kind):
                r = run_child("asarray", "release", kind, guard="checks")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("GUARD checks\n", r.stdout)
                self.assertIn("BEFORE 17\nREUSED\nREAD 34\n", r.stdout)


class TestGuard(unittest.TestCase):
    def setUp(self):
        self.env = os.environ.get("RKVISION_GUARD_FALLBACK")
        os.environ["RKVISION_GUARD_FALLBACK"] = ""

    def tearDown(self):
        if self.env is None:
            os.environ.pop("RKVISION_GUARD_FALLBACK", None)
        else:
            os.environ["RKVISION_GUARD_FALLBACK"] = self.env

    def test_views_made_while_held_read_right(self):
        """Eight frames held at once, each read through its own range:
        np.asarray(), memoryview and ctypes views made while held read that
        frame's bytes, released in another order than taken."""
        for kind in KINDS:
            for level in LEVELS:
                with self.subTest(kind=kind, level=level):
                    os.environ["RKVISION_GUARD_FALLBACK"] = level
                    with make_pool(kind, slots=12) as pool:
                        with rkvision.Consumer(pool.name, policy="block", queue_depth=1,
                                               max_held=8) as c:
                            self.assertEqual(c.guard, WANT[level])
                            for rnd in range(10):
                                held = []
                                for k in range(8):
                                    byte = (rnd * 8 + k) & 0xFF
                                    pool.publish(byte)
                                    f = c.get(5.0)
                                    v = np.asarray(f.array)
                                    self.assertIs(type(v), np.ndarray)
                                    self.assertEqual(f._lease.protected, protected(kind, level))
                                    held.append((f, v, memoryview(f.array), byte))
                                for f, v, m, byte in held:
                                    self.assertEqual(v.size, pool.cap)
                                    self.assertTrue((v == byte).all())
                                    self.assertEqual(m[pool.cap - 1], byte)
                                    self.assertEqual(np.asarray(f.array).ctypes.data,
                                                     f._lease.address)
                                    if kind.startswith("ext"):
                                        self.assertIsInstance(f.fd, int)
                                        self.assertEqual(f.offset, 256)
                                self.assertEqual(len({h[0]._lease.address for h in held}), 8)
                                for f, v, m, byte in reversed(held):   # pinned till next round
                                    f.release()
                                    with self.assertRaises(rkvision.ReleasedError):
                                        f.array[0]

    def test_threads_share_a_consumer(self):
        """Four threads take, read and release frames of one Consumer while
        a fifth publishes: each frame reads as its own bytes, none stays
        held, and a second round leaves no more mappings than the first
        (thread stacks and slot aliases are made in the first); with both
        guards, and small (protected) and large (moved) slots."""
        for kind, guard in (("mem", "remap"), ("mem-large", "remap"), ("mem", "checks")):
            with self.subTest(kind=kind, guard=guard):
                with make_pool(kind, slots=8) as pool, \
                        rkvision.Consumer(pool.name, policy="block", queue_depth=2,
                                          max_held=4, guard=guard) as c:
                    n = 3000

                    def publish(base):
                        for i in range(base, base + n):
                            pool.p.publish_copy(np.full(pool.cap, i & 0xFF, np.uint8),
                                                seq=i, timeout=10.0)

                    def take(errors, seen):
                        try:
                            while True:
                                try:
                                    f = c.get(0.5)
                                except TimeoutError:
                                    return
                                v = np.asarray(f.array)
                                if not (v[0] == v[-1] == (f.seq & 0xFF)):
                                    errors.append((f.seq, int(v[0]), int(v[-1])))
                                seen.append(f.seq)
                                f.release()
                        except Exception as e:  # reported below, not lost in the thread
                            errors.append(repr(e))

                    for rnd in range(2):
                        if rnd == 1:
                            before = maps_count()
                        errors, seen = [], []
                        ts = [threading.Thread(target=take, args=(errors, seen))
                              for _ in range(4)]
                        ts.append(threading.Thread(target=publish, args=(rnd * n,)))
                        for t in ts:
                            t.start()
                        for t in ts:
                            t.join()
                        self.assertEqual(errors, [])
                        self.assertEqual(sorted(seen), list(range(rnd * n, rnd * n + n)))
                        self.assertEqual(c.stats()["outstanding"], 0)
                    self.assertLessEqual(maps_count(), before + 8)

    def test_checks_still_raise(self):
        """guard="checks" (and "remap") raise ReleasedError on the checked paths."""
        for guard in ("checks", "remap"):
            with self.subTest(guard=guard):
                with MemPool() as pool:
                    with rkvision.Consumer(pool.name, policy="block", guard=guard) as c:
                        self.assertEqual(c.guard, "checks" if guard == "checks" else "dontunmap")
                        pool.publish(5)
                        f = c.get(5.0)
                        a = f.array
                        s = a[10:20]
                        self.assertEqual(int(s[0]), 5)
                        f.release()
                        for read in (lambda: a[0], lambda: s[0], lambda: np.sum(s),
                                     lambda: bytes(s), lambda: memoryview(a),
                                     lambda: np.frombuffer(s, np.uint8), lambda: s.tobytes(),
                                     lambda: f.array, lambda: a.ctypes):
                            with self.assertRaises(rkvision.ReleasedError):
                                read()

    def test_mapping_count_stable(self):
        """10000 frames through every guard level leave no mappings behind."""
        for kind in KINDS:
            for level in LEVELS:
                with self.subTest(kind=kind, level=level):
                    os.environ["RKVISION_GUARD_FALLBACK"] = level
                    with make_pool(kind) as pool:
                        with rkvision.Consumer(pool.name, policy="block", queue_depth=1) as c:
                            self.assertEqual(c.guard, WANT[level])
                            keep = []

                            def run(n):
                                for i in range(n):
                                    pool.publish(i & 0xFF)
                                    with c.get(5.0) as f:
                                        v = np.asarray(f.array)
                                        self.assertEqual(int(v[-1]), i & 0xFF)
                                        if i % 97 == 0:
                                            keep.append(v)   # a released view kept a while
                                        if len(keep) > 3:
                                            keep.pop(0)
                            run(200)                         # every slot aliased once
                            before = maps_count()
                            run(3000 if kind.startswith("ext") else 10000)
                            keep.clear()
                            after = maps_count()
                            self.assertLessEqual(after, before + 8, (before, after))
                        # closed: the aliases are gone too
                        self.assertLessEqual(maps_count(), before + 8)

    def test_fork_child_faults_on_escaped_view(self):
        """A forked child's copy of an escaped view faults, the parent still
        reads. os.fork() runs Python's at-fork hooks (the frames are marked
        released in the child); fork() called from C code (here libc's,
        through ctypes.PyDLL, which keeps the GIL) runs only the binding's
        pthread_atfork handler, which maps a placeholder where the held
        frame's alias was (large slots: not inherited, MADV_DONTFORK; small
        ones: inherited, and replaced)."""
        libc = ctypes.PyDLL(None)
        for how, kind in itertools.product(("os.fork", "libc fork"), ("mem", "mem-large")):
            with self.subTest(how=how, kind=kind):
                with make_pool(kind) as pool:
                    with rkvision.Consumer(pool.name, policy="block") as c:
                        pool.publish(0x33)
                        with c.get(5.0) as f:
                            v = np.asarray(f.array)
                            r, w = os.pipe()
                            pid = os.fork() if how == "os.fork" else libc.fork()
                            if pid == 0:
                                try:
                                    os.close(r)
                                    os.dup2(w, 2)     # the reporter's message, for the parent
                                    os._exit(10 + (int(v[0]) & 1))
                                finally:
                                    os._exit(3)
                            os.close(w)
                            _, status = os.waitpid(pid, 0)
                            with os.fdopen(r) as rf:
                                err = rf.read()
                            self.assertTrue(os.WIFSIGNALED(status), status)
                            self.assertEqual(os.WTERMSIG(status), signal.SIGSEGV)
                            self.assertIn(MESSAGE, err)
                            self.assertEqual(int(v[0]), 0x33)      # the parent reads it

    def test_fd_only_maps_nothing(self):
        """Consumer(fd_only=True) on a DMA-BUF pool: fd and offset, no array."""
        with ExtPool() as pool:
            with rkvision.Consumer(pool.name, policy="block", fd_only=True) as c:
                before = maps_count()
                for i in range(50):
                    pool.publish(i)
                    with c.get(5.0) as f:
                        self.assertIsInstance(f.fd, int)
                        self.assertEqual(f.offset, 256)
                        self.assertEqual(os.pread(f.fd, 1, 256 + 100), bytes([i]))
                        with self.assertRaises(ValueError):
                            f.array
                self.assertLessEqual(maps_count(), before + 1)

    def test_bad_guard(self):
        with MemPool() as pool:
            with self.assertRaises(ValueError):
                rkvision.Consumer(pool.name, guard="pages")
            os.environ["RKVISION_GUARD_FALLBACK"] = "sometimes"
            with self.assertRaises(ValueError):
                rkvision.Consumer(pool.name)
            os.environ["RKVISION_GUARD_FALLBACK"] = "fresh"
            with rkvision.Consumer(pool.name, guard="checks") as c:  # not asked of checks
                self.assertEqual(c.guard, "checks")


if __name__ == "__main__":
    unittest.main()
