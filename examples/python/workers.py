#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Worker processes sharing one camera's frames: each frame to one worker.

    PYTHONPATH=python python3 examples/python/workers.py cam0 [--workers 3]

Starts --workers processes (one per NPU core on an RK3588), each attached
to the pool with policy "group" in the same group, so each frame goes to
whichever worker is free. Each worker runs a stand-in for inference on its
frame (a sum over the image) and, after --seconds, reports how many frames
it took and at what rate.
"""
import argparse
import multiprocessing as mp
import sys
import time

import numpy as np

import rkvision


def worker(pool, group, index, seconds, results):
    frames, seqs = 0, []
    with rkvision.Consumer(pool, policy="group", group=group,
                           label="worker%d" % index) as c:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            try:
                frame = c.get(timeout=0.5)
            except TimeoutError:
                continue
            with frame:
                planes = frame.planes or (frame.array,)
                int(np.sum(planes[0][::8, ::8]))  # the "inference"
                seqs.append(frame.seq)
            frames += 1
        elapsed = time.monotonic() - t0
    results.put((index, frames, frames / elapsed, seqs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pool")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--group", default="workers")
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    results = mp.Queue()
    procs = [mp.Process(target=worker, args=(a.pool, a.group, i, a.seconds, results))
             for i in range(a.workers)]
    for p in procs:
        p.start()
    got = sorted(results.get(timeout=a.seconds + 30) for _ in procs)
    for p in procs:
        p.join()
    all_seqs = []
    for index, frames, fps, seqs in got:
        print("worker %d: %d frames, %.1f fps" % (index, frames, fps))
        all_seqs += seqs
    print("total: %d frames, %d taken twice" % (len(all_seqs), len(all_seqs) - len(set(all_seqs))))
    return 0 if all(p.exitcode == 0 for p in procs) else 1


if __name__ == "__main__":
    sys.exit(main())
