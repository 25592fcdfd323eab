#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Frame-difference motion detection on a camera's pool.

    PYTHONPATH=python python3 examples/python/motion.py cam0 [--threshold 4.0]

Attaches with policy "latest" (always the newest frame: a slow detector
skips frames instead of falling behind), compares each frame's luma with
the previous one's and prints a line when the mean absolute difference
crosses the threshold either way. The luma is read in place (the Y plane
of NV12/NV16/YU12, GREY as it is, the channel mean of RGB24/BGR24/RGBA,
every other byte of YUYV), subsampled by --step to keep the cost low; only
the small subsampled copy outlives the frame.
"""
import argparse
import sys

import numpy as np

import rkvision


def luma(frame, step):
    """A small float32 luma image of frame (a copy: it outlives the frame)."""
    f = frame.format
    if f in ("NV12", "NV16", "YU12", "GREY"):
        y = frame.planes[0][::step, ::step]
    elif f == "YUYV":
        y = frame.array[::step, ::step, 0]
    elif f in ("RGB3", "BGR3", "AB24"):
        y = frame.array[::step, ::step, :3].mean(axis=2)
    else:
        raise SystemExit("motion: %s frames are not images" % f)
    return np.asarray(y, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pool")
    ap.add_argument("--threshold", type=float, default=4.0,
                    help="mean absolute luma difference that counts as motion")
    ap.add_argument("--step", type=int, default=4, help="use every STEP-th pixel and row")
    ap.add_argument("--frames", type=int, default=0, help="stop after N frames (0: never)")
    a = ap.parse_args()
    prev, moving, n = None, False, 0
    with rkvision.Consumer(a.pool, policy="latest", label="motion.py") as c:
        for frame in c:
            y = luma(frame, a.step)
            if prev is not None and prev.shape == y.shape:
                diff = float(np.abs(y - prev).mean())
                if (diff >= a.threshold) != moving:
                    moving = not moving
                    print("seq %d: motion %s (difference %.2f)"
                          % (frame.seq, "started" if moving else "stopped", diff), flush=True)
            prev = y
            n += 1
            if n == a.frames:
                break
    print("%d frames, %s" % (n, "moving" if moving else "still"))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
