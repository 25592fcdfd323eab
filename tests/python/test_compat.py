# SPDX-License-Identifier: MIT
"""rkvision.compat: the seed's EndPoint/FramePoolManager names, producer and
consumer in two processes as the seed used them (meson suite 'python')."""
import multiprocessing as mp
import os
import unittest

import numpy as np

import rkvision
from rkvision.compat import EndPoint, FramePoolManager


class Config:
    def __init__(self, name):
        self.name, self.buffer, self.height, self.width = name, 2, 24, 32


def produce(endpoint, n):
    for i in range(n):
        endpoint.write_frame(i + 0.5, np.full((24, 32, 3), i, np.uint8))
    endpoint.close()


class TestCompat(unittest.TestCase):
    def test_seed_usage(self):
        manager = FramePoolManager(Config("pyc%d" % os.getpid()))
        producer, consumer = manager.create()
        proc = mp.get_context("fork").Process(target=produce, args=(producer, 30))
        proc.start()
        try:
            prev = None
            for i in range(30):
                ts, frame = consumer.read_frame()
                self.assertEqual(frame.shape, (24, 32, 3))
                self.assertAlmostEqual(ts, i + 0.5, places=6)
                self.assertEqual((int(frame.min()), int(frame.max())), (i, i))  # not torn
                if prev is not None:  # released by this read_frame
                    with self.assertRaises(rkvision.ReleasedError):
                        prev[0, 0]
                prev = frame
            with self.assertRaises(ConnectionError):
                consumer.read_frame()
            consumer.close()
        finally:
            proc.join(30)
        self.assertEqual(proc.exitcode, 0)
        manager.delete()

    def test_roles(self):
        p, c = FramePoolManager({"name": "x", "buffer": 2, "height": 2, "width": 2}).create()
        with self.assertRaises(ValueError):
            p.read_frame()
        with self.assertRaises(ValueError):
            c.write_frame(0, np.zeros((2, 2, 3), np.uint8))
        with self.assertRaises(ValueError):
            EndPoint({"name": "x", "buffer": 0, "height": 2, "width": 2})


if __name__ == "__main__":
    unittest.main(verbosity=2)
