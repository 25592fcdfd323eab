#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cli_test.py RKV CLI_PRODUCER - the rkv command-line tool against a live pool.

Starts cli_producer (a pool publishing small frames), then checks:
  rkv pools --json      lists it with its producer pid and slot count, and a
                        consumer attached meanwhile with its counters;
  rkv pools             the same in words;
  lag                   a consumer's lag (frames published after the newest it
                        took), in both: near 0 while it keeps up, rising while
                        it is stopped (SIGSTOP), back near 0 once it goes on;
  rkv watch POOL --frames N --json
                        N frame objects with rising sequence numbers, then a
                        summary that counts N frames;
  exit codes            2 for bad usage, 1 for a pool that does not exist,
                        0 for --help.
"""
import json
import os
import signal
import subprocess
import sys
import time


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(args, expect):
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if p.returncode != expect:
        fail("%s exited %d, expected %d\nstdout: %s\nstderr: %s"
             % (" ".join(args), p.returncode, expect, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def consumer_of(rkv, name, pid):
    """The pool's entry for consumer process @pid, from rkv pools --json,
    or None while it is not attached."""
    pools = json.loads(run([rkv, "pools", "--json"], 0).stdout)["pools"]
    for p in pools:
        if p["name"] == name:
            for c in p.get("consumers", []):
                if c["pid"] == pid:
                    return c
    return None


def wait_lag(rkv, name, pid, ok, what):
    """Poll until consumer @pid is attached and ok(its lag); its entry."""
    deadline = time.monotonic() + 10
    while True:
        c = consumer_of(rkv, name, pid)
        if c is not None and ok(c["lag"]):
            return c
        if time.monotonic() > deadline:
            fail("consumer %d of %s: %r, expected a lag %s" % (pid, name, c, what))
        time.sleep(0.05)


def main():
    rkv, producer = sys.argv[1], sys.argv[2]
    name = "clitest.%d" % os.getpid()
    prod = subprocess.Popen([producer, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        if prod.stdout.readline().strip() != "ready":
            fail("the producer did not start")

        # a watcher attached in the background, so pools shows a consumer
        watcher = subprocess.Popen([rkv, "watch", name, "--policy", "drop", "--seconds", "20",
                                    "--json"], stdout=subprocess.PIPE, text=True)
        first = json.loads(watcher.stdout.readline())
        if "seq" not in first:
            fail("watch printed %r first" % first)

        out = run([rkv, "pools", "--json"], 0).stdout
        pools = json.loads(out)["pools"]
        mine = [p for p in pools if p["name"] == name]
        if len(mine) != 1:
            fail("rkv pools --json does not list %s: %s" % (name, out))
        p = mine[0]
        if p.get("producer_pid") != prod.pid or p.get("slots") != 8:
            fail("pool entry %r: expected pid %d, 8 slots" % (p, prod.pid))
        cons = p.get("consumers", [])
        if len(cons) != 1 or cons[0]["policy"] != "drop" or cons[0]["pid"] != watcher.pid \
                or cons[0]["delivered"] < 1 or cons[0]["label"] != "rkv watch":
            fail("pool's consumers %r: expected the watcher (pid %d, drop)" % (cons, watcher.pid))
        if not isinstance(cons[0].get("lag"), int) or cons[0]["lag"] < 0 \
                or "last_seq" not in cons[0] or "queued_age_us" not in cons[0]:
            fail("consumer entry without lag, last_seq, queued_age_us: %r" % cons[0])
        watcher.terminate()
        rest = watcher.stdout.read().strip().splitlines()
        if watcher.wait(10) != 0 or not rest or not json.loads(rest[-1]).get("summary"):
            fail("a watch ended with SIGTERM prints its summary and exits 0")

        text = run([rkv, "pools"], 0).stdout
        if name not in text or ("pid %d" % prod.pid) not in text:
            fail("rkv pools does not show %s with pid %d:\n%s" % (name, prod.pid, text))

        # lag: a consumer that keeps up, then is stopped, then goes on
        keeper = subprocess.Popen([rkv, "watch", name, "--seconds", "20"],
                                  stdout=subprocess.DEVNULL)
        try:
            wait_lag(rkv, name, keeper.pid, lambda l: l <= 5, "at most 5 while it keeps up")
            os.kill(keeper.pid, signal.SIGSTOP)
            l0 = wait_lag(rkv, name, keeper.pid, lambda l: True, "of any value")["lag"]
            c = wait_lag(rkv, name, keeper.pid, lambda l: l >= l0 + 20,
                         "20 more while it is stopped")
            if c["queued_age_us"] <= 0:
                fail("a stopped latest consumer with a frame waiting: %r" % c)
            text = run([rkv, "pools"], 0).stdout
            if " lag " not in text:
                fail("rkv pools shows no lag:\n%s" % text)
            os.kill(keeper.pid, signal.SIGCONT)
            wait_lag(rkv, name, keeper.pid, lambda l: l <= 5, "at most 5 once it goes on")
        finally:
            os.kill(keeper.pid, signal.SIGCONT)
            keeper.terminate()
            keeper.wait(10)

        out = run([rkv, "watch", name, "--policy", "block", "--frames", "25", "--json"], 0).stdout
        lines = [json.loads(l) for l in out.strip().splitlines()]
        frames, summary = lines[:-1], lines[-1]
        if len(frames) != 25 or not summary.get("summary") or summary["frames"] != 25:
            fail("watch --frames 25: %d frame lines, summary %r" % (len(frames), summary))
        seqs = [f["seq"] for f in frames]
        if seqs != sorted(seqs) or len(set(seqs)) != 25:
            fail("sequence numbers do not rise: %r" % seqs)
        if seqs[-1] - seqs[0] != 24:
            fail("a block watcher missed frames: %r" % seqs)
        if any(f["format"] != "BYTE" or f["bytes"] < 7 or f["latency_us"] < 0 for f in frames):
            fail("frame fields: %r" % frames[0])

        run([rkv, "watch", "no.such.pool.%d" % os.getpid(), "--frames", "1"], 1)
        run([rkv, "watch"], 2)
        run([rkv, "watch", name, "--policy", "sideways"], 2)
        run([rkv, "watch", name, "--frames", "x"], 2)
        run([rkv, "frobnicate"], 2)
        run([rkv], 2)
        run([rkv, "pools", "--help"], 0)
        run([rkv, "help"], 0)
    finally:
        prod.stdin.close()
        prod.wait(30)
    print("cli_test: ok")


main()
