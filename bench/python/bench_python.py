#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Python binding beside a bare C consumer on the same pool, and the
seed design (multiprocessing SharedMemory slots + Queue free/ready queues,
written afresh here from the design note's description) on the same frames.

Run from a checkout after `make`:  PYTHONPATH=python /usr/bin/python3
bench/python/bench_python.py [--quick] [--build build]

The binding's overhead: a C producer (build/bench/rkv-bench-c-producer)
publishes as fast as it can into a 4-slot pool with one `block` consumer,
either build/bench/rkv-bench-c-consumer (C) or a Python rkvision.Consumer;
the producer is never the bottleneck, so the difference between the two
consumers' per-frame times is what the binding adds. The same Python
consumer is also run fed by a Python Producer (publish_copy), the like for
like of the seed design, where both ends are Python. Rates are timed in the
consumer, from the first frame to the last. 64 B frames: the consumer reads one byte.
1080p RGB24 frames: the consumer reads one byte per row (1080 bytes), C and
Python alike (Python: frame.array[:, 0, 0].sum()). The seed design runs
the same loops in two multiprocessing processes.
"""
import argparse
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import time
from multiprocessing import shared_memory

import numpy as np
import rkvision

W, H = 1920, 1080
RGB = W * H * 3

PY_CONSUMER = r"""
import sys, time, rkvision
name, n, big = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
with rkvision.Consumer(name, policy="block") as c:
    print("ready", flush=True)
    got, s, t0 = 0, 0, 0.0
    for f in c:
        if got == 0:
            t0 = time.perf_counter()
        a = f.array
        s += int(a[:, 0, 0].sum()) if big else int(a[0])
        got += 1
        if got >= n:
            break
    print(got - 1, time.perf_counter() - t0, s, flush=True)
"""

PY_TORN = r"""
import sys, time, rkvision
name, n, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
torn = 0
with rkvision.Consumer(name, policy="block") as c:
    print("ready", flush=True)
    got = 0
    for f in c:
        a = f.array.reshape(-1)
        want = int(a[0])
        time.sleep(delay)                      # "processing"
        if int(a[a.size // 2]) != want or int(a[-1]) != want:
            torn += 1
        got += 1
        if got >= n:
            break
    print(got, torn, flush=True)
"""


def rkv_run(cmd, name, frame, n, extra=0):
    """Publish n frames (+ a few so the consumer never waits for the last)
    into pool `name` for the consumer command; returns its output line."""
    p = rkvision.Producer(name, slots=4, capacity=max(frame.size, 4096), block_timeout=5.0)
    env = dict(os.environ)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        p.wait_consumers(1, timeout=10)
        for i in range(n + extra):
            if extra:
                frame.fill(i & 0xFF)           # torn check: every byte is seq
            else:
                frame.flat[0] = i & 0xFF
            try:
                p.publish_copy(frame, timeout=5.0)
            except (TimeoutError, OSError):
                break
        out = proc.stdout.readline().split()
    finally:
        proc.wait(timeout=30)
        del p
    return out


def c_run(producer, cmd, name, size, n):
    """The C producer publishing n frames of `size` ("64" or "1080p") into
    pool `name` for the consumer command; returns its output line."""
    prod = subprocess.Popen([producer, name, str(n + 4), size], stdout=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 10
        while name not in rkvision.pools():
            if time.monotonic() > deadline or prod.poll() is not None:
                raise RuntimeError("rkv-bench-c-producer did not create " + name)
            time.sleep(0.01)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        out = proc.stdout.readline().split()
        proc.wait(timeout=30)
    finally:
        prod.wait(timeout=30)
    return out


def seed_producer(names, free_q, ready_q, n, size, fill):
    shms = [shared_memory.SharedMemory(name=x) for x in names]
    views = [np.ndarray((size,), np.uint8, s.buf) for s in shms]
    src = np.zeros(size, np.uint8)
    for i in range(n):
        idx = free_q.get()                     # blocks when no slot is free
        if fill:
            src.fill(i & 0xFF)
        else:
            src[0] = i & 0xFF
        np.copyto(views[idx], src)
        ready_q.put({"idx": idx, "timestamp": time.time()})
    ready_q.put(None)
    del views
    for s in shms:
        s.close()


def seed_consumer(names, free_q, ready_q, size, delay, res):
    shms = [shared_memory.SharedMemory(name=x) for x in names]
    views = [np.ndarray((size,), np.uint8, s.buf) for s in shms]
    got, torn, t0 = 0, 0, 0.0
    while True:
        task = ready_q.get()
        if task is None:
            break
        if got == 0:
            t0 = time.perf_counter()
        v = views[task["idx"]]
        free_q.put(task["idx"])                # the seed's read_frame: handed back before use
        want = int(v[0])
        if delay:
            time.sleep(delay)
            if int(v[size // 2]) != want or int(v[-1]) != want:
                torn += 1
        elif size == RGB:
            v.reshape(H, W * 3)[:, 0].sum()
        got += 1
    res.put((got - 1, time.perf_counter() - t0, torn))
    del views
    for s in shms:
        s.close()


def seed_run(n, size, slots=4, delay=0.0):
    ctx = mp.get_context("fork")
    shms = [shared_memory.SharedMemory(create=True, size=size) for _ in range(slots)]
    names = [s.name for s in shms]
    free_q, ready_q, res = ctx.Queue(slots), ctx.Queue(slots), ctx.Queue()
    for i in range(slots):
        free_q.put(i)
    c = ctx.Process(target=seed_consumer, args=(names, free_q, ready_q, size, delay, res))
    p = ctx.Process(target=seed_producer, args=(names, free_q, ready_q, n, size, delay > 0))
    c.start()
    p.start()
    out = res.get(timeout=60)
    p.join()
    c.join()
    for s in shms:
        s.close()
        s.unlink()
    return out


def med(xs):
    return statistics.median(xs)


# ---- guard: the consumer's own cost per frame, guard="remap" / "checks" / C
#
# Producer and consumer in one process, taking turns: BATCH frames are
# published (not timed), then the consumer takes, reads and releases them
# (timed), so no waiting for the producer is counted; the first 4 batches
# (the first touch of each slot) are not timed. C:
# build/bench/rkv-bench-c-drain (c_drain.c), the same loop.

PY_DRAIN = r"""
import sys, time, numpy as np, rkvision
name, size, n, batch, big, guard = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                    int(sys.argv[4]), sys.argv[5] == "1", sys.argv[6])
W = 1920
p = rkvision.Producer(name, slots=batch + 2, capacity=size)
c = rkvision.Consumer(name, policy="block", queue_depth=batch, guard=guard)
src = np.zeros(size, np.uint8)
got, s, spent = -4 * batch, 0, 0.0           # 4 batches not timed, as in C
while got < n:
    for i in range(batch):
        src[0] = (got + i) & 0xFF
        p.publish_copy(src)
    t0 = time.perf_counter()
    for i in range(batch):
        with c.get() as f:
            a = f.array
            s += int(a.reshape(-1, W * 3)[:, 0].sum()) if big else int(a[0])
    if got >= 0:
        spent += time.perf_counter() - t0
    got += batch
print(got, spent, s, c.guard, flush=True)
c.close()
p.close()
"""


def guard_bench(build, tag, rounds, quick):
    """us/frame of the consumer alone: C, Python guard="checks", Python
    guard="remap"; medians over rounds, and the differences to C."""
    cdrain = os.path.join(build, "bench", "rkv-bench-c-drain")
    batch = 8
    sizes = (("64 B", 64, 4000 if quick else 20000, 0),
             ("1080p RGB", RGB, 80 if quick else 400, W * 3))
    print("\nguard: the consumer's own cost per frame (take, read, release; "
          "median of %d rounds)" % rounds)
    for label, size, n, stride in sizes:
        r = {"c": [], "checks": [], "remap": []}
        mode = ""
        for k in range(rounds):
            name = "%sg%d" % (tag, k)
            o = subprocess.run([cdrain, name + "c", str(size), str(n), str(batch), str(stride)],
                               capture_output=True, text=True, check=True).stdout.split()
            r["c"].append(1e6 * float(o[1]) / float(o[0]))
            for guard in ("checks", "remap"):
                o = subprocess.run([sys.executable, "-c", PY_DRAIN, name + guard[0], str(size),
                                    str(n), str(batch), "1" if stride else "0", guard],
                                   capture_output=True, text=True, check=True).stdout.split()
                r[guard].append(1e6 * float(o[1]) / float(o[0]))
                if guard == "remap":
                    mode = o[3]
        m = {k: med(v) for k, v in r.items()}
        print("  %-10s C %7.2f us   checks %7.2f us (+%.2f)   remap [%s] %7.2f us (+%.2f)   "
              "remap - checks %.2f us" % (label, m["c"], m["checks"], m["checks"] - m["c"],
                                          mode, m["remap"], m["remap"] - m["c"],
                                          m["remap"] - m["checks"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build", default="build")
    a = ap.parse_args()
    rounds = 2 if a.quick else 3
    n_small = 3000 if a.quick else 10000
    n_big = 30 if a.quick else 100
    n_torn = 40 if a.quick else 100
    ccons = os.path.join(a.build, "bench", "rkv-bench-c-consumer")
    pyc = [sys.executable, "-c", PY_CONSUMER]
    tag = "pyb%d" % os.getpid()

    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print("machine: %s, %d cores, %s, Python %s, load average %s" % (
        cpu, os.cpu_count(), platform.machine(), platform.python_version(),
        " ".join("%.2f" % x for x in os.getloadavg())))

    cprod = os.path.join(a.build, "bench", "rkv-bench-c-producer")
    keys = (("c64", "C producer -> C consumer, 64 B"),
            ("py64", "C producer -> Python consumer, 64 B"),
            ("pp64", "Python producer -> Python consumer, 64 B"),
            ("seed64", "seed design (Python -> Python), 64 B"),
            ("cbig", "C producer -> C consumer, 1080p RGB"),
            ("pybig", "C producer -> Python consumer, 1080p RGB"),
            ("ppbig", "Python producer -> Python consumer, 1080p RGB"),
            ("seedbig", "seed design (Python -> Python), 1080p RGB"))
    r = {k: [] for k, _ in keys}
    small = np.zeros(64, np.uint8)
    big = np.zeros((H, W, 3), np.uint8)
    for k in range(rounds):
        o = c_run(cprod, [ccons, tag + "c", str(n_small)], tag + "c", "64", n_small)
        r["c64"].append(float(o[0]) / float(o[1]))
        o = c_run(cprod, pyc + [tag + "p", str(n_small), "0"], tag + "p", "64", n_small)
        r["py64"].append(float(o[0]) / float(o[1]))
        o = rkv_run(pyc + [tag + "q", str(n_small), "0"], tag + "q", small, n_small)
        r["pp64"].append(float(o[0]) / float(o[1]))
        o = seed_run(n_small, 64)
        r["seed64"].append(o[0] / o[1])
        o = c_run(cprod, [ccons, tag + "C", str(n_big), str(W * 3)], tag + "C", "1080p", n_big)
        r["cbig"].append(float(o[0]) / float(o[1]))
        o = c_run(cprod, pyc + [tag + "P", str(n_big), "1"], tag + "P", "1080p", n_big)
        r["pybig"].append(float(o[0]) / float(o[1]))
        o = rkv_run(pyc + [tag + "Q", str(n_big), "1"], tag + "Q", big, n_big)
        r["ppbig"].append(float(o[0]) / float(o[1]))
        o = seed_run(n_big, RGB)
        r["seedbig"].append(o[0] / o[1])

    m = {k: med(v) for k, v in r.items()}
    print("\nmedian of %d rounds, frames/s (us/frame)" % rounds)
    for k, label in keys:
        print("  %-48s %10.0f  (%8.2f us)" % (label, m[k], 1e6 / m[k]))
    for size, c, py in (("64 B", "c64", "py64"), ("1080p RGB", "cbig", "pybig")):
        ovh = 1e6 / m[py] - 1e6 / m[c]
        print("binding overhead over the C consumer, %s: %.2f us/frame (target < 10): %s"
              % (size, ovh, "met" if ovh < 10 else "NOT met"))
    for label, k in (("C producer -> Python consumer", "py64"),
                     ("Python -> Python", "pp64")):
        ratio = m[k] / m["seed64"]
        print("%s / seed design, 64 B frames/s: %.1fx (target >= 10x): %s"
              % (label, ratio, "met" if ratio >= 10 else "NOT met"))

    # Torn frames: 1080p RGB frames whose every byte is seq & 0xff; the
    # consumer reads byte 0, sleeps 2 ms ("processing"), re-reads the middle
    # and last bytes. The producer keeps writing as fast as the design lets it.
    delay = 0.002
    got, torn_seed = 0, 0
    for slots in (2, 4):
        o = seed_run(n_torn, RGB, slots=slots, delay=delay)
        print("seed design, %d slots: %d torn of %d frames" % (slots, o[2], o[0] + 1))
        torn_seed += o[2]
    o = rkv_run([sys.executable, "-c", PY_TORN, tag + "T", str(n_torn), str(delay)],
                tag + "T", big, n_torn, extra=4)
    torn_rkv = int(o[1])
    print("RKVision, Python block consumer, 4 slots: %d torn of %s frames (target 0): %s"
          % (torn_rkv, o[0], "met" if torn_rkv == 0 else "NOT met"))
    guard_bench(a.build, tag, 5 if not a.quick else 3, a.quick)

    la = os.getloadavg()[0]
    if la > 0.5 * (os.cpu_count() or 1):
        print("note: load average %.2f on %d cores: the runs shared the machine; "
              "timings are noisy" % (la, os.cpu_count()))


if __name__ == "__main__":
    main()
