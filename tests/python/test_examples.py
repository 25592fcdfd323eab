# SPDX-License-Identifier: MIT
"""examples/python/*.py run against a test-pattern rkv-camera (suite 'python').

Environment as test_consumer.py's, plus RKV_EXAMPLES=<source>/examples/python.
"""
import os
import re
import subprocess
import sys
import unittest

from test_consumer import Camera

EXAMPLES = os.environ["RKV_EXAMPLES"]


def run(script, *args, timeout=60):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args],
                          capture_output=True, text=True, timeout=timeout, check=True).stdout


class TestExamples(unittest.TestCase):
    def test_motion(self):
        # The test pattern moves: with a low threshold that is motion.
        for fmt in ("NV12", "RGB3", "YUYV"):
            with Camera(fmt, "160x120") as cam:
                out = run("motion.py", cam.name, "--frames", "15", "--threshold", "0.01")
                self.assertRegex(out, r"seq \d+: motion started", fmt)
                self.assertIn("15 frames, moving", out)
                # With a threshold no difference reaches, nothing moves.
                out = run("motion.py", cam.name, "--frames", "5", "--threshold", "1000")
                self.assertEqual(out.strip(), "5 frames, still")

    def test_workers(self):
        with Camera("NV12", "160x120", fps=60) as cam:
            out = run("workers.py", cam.name, "--workers", "3", "--seconds", "2")
        counts = [int(m) for m in re.findall(r"worker \d: (\d+) frames", out)]
        self.assertEqual(len(counts), 3, out)
        self.assertTrue(all(n > 0 for n in counts), out)
        self.assertRegex(out, r"total: \d+ frames, 0 taken twice")


if __name__ == "__main__":
    unittest.main(verbosity=2)
