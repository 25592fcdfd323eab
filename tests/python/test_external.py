# SPDX-License-Identifier: MIT
"""frame.fd and frame.offset: a pool whose slots are fds of their own, at an
offset in each, as a camera's DMA-BUF slots are (tests/ext_producer.c makes
them from memfds: the host has no DMA-BUF exporter; the pool hands both
kinds to consumers the same way, over SCM_RIGHTS with the offset in the
view). The binding must pass them through so the NPU runtime or RGA can
take the frame by fd, and frame.array must be the bytes at that offset.

Environment (tests/meson.build): PYTHONPATH, RKV_PYTHON_EXT_DIR,
RKV_EXT_PRODUCER=<build>/tests/ext_producer.
"""
import mmap
import os
import stat
import subprocess
import unittest

import numpy as np

import rkvision

PRODUCER = os.environ["RKV_EXT_PRODUCER"]


class TestExternalSlots(unittest.TestCase):
    def setUp(self):
        self.name = "pyx%d" % os.getpid()
        self.proc = subprocess.Popen([PRODUCER, self.name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.assertEqual(self.proc.stdout.readline().strip(), "ready")

    def tearDown(self):
        self.proc.stdin.close()
        self.assertEqual(self.proc.wait(timeout=30), 0)

    def test_fd_and_offset(self):
        seen = set()
        with rkvision.Consumer(self.name, policy="block", queue_depth=2) as c:
            for _ in range(40):
                with c.get(timeout=5.0) as f:
                    self.assertEqual((f.format, f.width, f.height), ("NV12", 64, 48))
                    fd, off = f.fd, f.offset
                    self.assertIsInstance(fd, int)
                    # Slot i is at (i + 1) pages into its own fd.
                    self.assertEqual(off % 4096, 0)
                    self.assertIn(off // 4096, (1, 2, 3, 4))
                    seen.add((os.fstat(fd).st_ino, off))
                    st = os.fstat(fd)
                    self.assertTrue(stat.S_ISREG(st.st_mode))
                    self.assertGreaterEqual(st.st_size, off + 64 * 48 * 3 // 2)
                    # Read-only: a consumer cannot write the producer's slot.
                    with open("/proc/self/fdinfo/%d" % fd) as info:
                        flags = int(info.read().split("flags:")[1].split()[0], 8)
                    self.assertEqual(flags & os.O_ACCMODE, os.O_RDONLY)
                    # The bytes at the offset, mapped by hand as the NPU
                    # runtime would, are the frame's.
                    m = mmap.mmap(fd, off + 64 * 48 * 3 // 2, prot=mmap.PROT_READ)
                    try:
                        raw = np.frombuffer(m, np.uint8, 64 * 48 * 3 // 2, off)
                        want = f.seq & 0xff
                        y, uv = f.planes
                        self.assertTrue((raw == want).all())
                        self.assertTrue((y == want).all() and (uv == want).all())
                        # The page before the slot is not frame bytes.
                        self.assertEqual(m[off - 1], 0xee)
                        del raw
                    finally:
                        m.close()
        # Several slots, each its own fd and offset.
        self.assertGreater(len(seen), 1)


if __name__ == "__main__":
    unittest.main()
