#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""daemon_test.py RKVD RKV EXAMPLES_DIR - rkvd, the real program, end to end.

Checks, from outside, with rkv status / rkv watch and /proc:
  --check on good and bad files and on every example config;
  two cameras and an algorithm run, each a child of rkvd; kill -9 of a
  camera: started again and the restart counted; kill -9 of an algorithm's
  shell: its children go too, and it is started again; SIGHUP with one
  camera changed: the changed one restarts, the unchanged one keeps its
  process and a consumer attached across the reload sees consecutive
  sequence numbers; SIGHUP with an invalid file: everything runs on as it
  was; SIGTERM: rkvd ends 0 and nothing is left (no process, no control
  channel or pool socket, nothing in /dev/shm of those names); SIGKILL of
  rkvd: the cameras end on their own, and a new rkvd started at once on the
  same config comes up cleanly; no config at all: the default camera cam0;
  the rkv tool through rkvd's Unix socket: cameras, status of every camera
  (an offline one too), snapshot, capture, restart.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from testutil import fail, run

RKVD = RKV = None
TMP = None


def wait_for(what, pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    fail("timed out waiting for " + what)


def status(name):
    p = subprocess.run([RKV, "status", name, "--json"], capture_output=True, text=True,
                       timeout=30)
    if p.returncode != 0:
        return None
    try:
        return json.loads(p.stdout)
    except ValueError:
        return None


def camera_pid(name):
    st = status(name)
    return st["pid"] if st else None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().split(")")[-1].split()[1])
    except OSError:
        return None


def children(parent):
    """{pid: cmdline} of @parent's live children."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        if ppid_of(pid) == parent and alive(pid):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    out[pid] = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass
    return out


def listening(fragment):
    with open("/proc/net/unix") as f:
        return any(fragment in line for line in f)


class Daemon:
    def __init__(self, config=None, tag="d", env=None):
        self.log_path = os.path.join(TMP, "rkvd-%s-%d.log" % (tag, time.monotonic_ns()))
        self.log = open(self.log_path, "w")
        args = [RKVD] + (["-c", config] if config else [])
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, env=env)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def expect_log(self, what, timeout=20.0):
        end = time.monotonic() + timeout
        while what not in self.text():
            if time.monotonic() > end:
                fail("rkvd did not log %r; its log:\n%s" % (what, self.text()))
            time.sleep(0.05)

    def signal(self, sig):
        self.p.send_signal(sig)

    def end(self, timeout=15):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            fail("rkvd did not end within %d s; its log:\n%s" % (timeout, self.text()))

    def cleanup(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def running_camera(d, name, not_pid=None):
    """Wait until camera @name runs as a child of @d and answers; its pid."""
    def ok():
        pid = camera_pid(name)
        if pid and pid != not_pid and ppid_of(pid) == d.p.pid:
            return pid
        return None
    return wait_for("camera %s to run under rkvd %d (log:\n%s)" % (name, d.p.pid, d.text()), ok)


def algorithm_shell(d, marker, not_pid=None):
    def ok():
        for pid, cmd in children(d.p.pid).items():
            if cmd.startswith("/bin/sh -c") and marker in cmd and pid != not_pid:
                return pid
        return None
    return wait_for("algorithm %s under rkvd (log:\n%s)" % (marker, d.text()), ok)


def check_files():
    good = os.path.join(TMP, "good.yaml")
    write(good, "cameras:\n  a:\n    fps: 12\nalgorithms:\n  m: {camera: a, command: 'true'}\n")
    out = run([RKVD, "--check", good], 0).stdout
    if "valid: 1 camera(s), 1 algorithm(s)" not in out:
        fail("--check good: %r" % out)
    bad = os.path.join(TMP, "bad.yaml")
    write(bad, "cameras:\n  a:\n    fps: 12\n  b:\n    fps: fast\n")
    err = run([RKVD, "--check", bad], 1).stderr
    want = "%s:5: cameras.b.fps: expected a whole number 1..1000, got \"fast\"" % bad
    if want not in err:
        fail("--check bad: %r, expected %r" % (err, want))
    # an invalid file at start: nothing runs, exit 1 with the reason
    err = run([RKVD, "-c", bad], 1).stderr
    if want not in err or "starting" in err:
        fail("rkvd -c bad: %r" % err)
    err = run([RKVD, "--check", os.path.join(TMP, "none.yaml")], 1).stderr
    if "cannot open" not in err:
        fail("--check of a missing file: %r" % err)
    run([RKVD, "--bogus"], 2)


def check_examples(examples):
    names = sorted(n for n in os.listdir(examples) if n.endswith(".yaml"))
    if len(names) < 4:
        fail("examples/config has %r" % names)
    for n in names:
        run([RKVD, "--check", os.path.join(examples, n)], 0)


def watch_seqs(proc):
    out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        fail("rkv watch: status %d: %s" % (proc.returncode, err[-2000:]))
    frames = [json.loads(l) for l in out.strip().splitlines()][:-1]  # the last: the summary
    return [f["seq"] for f in frames]


def board(tag):
    a, b = "dA%s%d" % (tag, os.getpid()), "dB%s%d" % (tag, os.getpid())
    return a, b


def api_text(tag):
    """An api section of the test's own: no TCP port (the machine's 8080 is
    not the test's to take), a Unix socket in the test's directory."""
    return "api:\n  listen: \"\"\n  unix_socket: %s\n" % os.path.join(TMP, tag + ".sock")


def config_text(a, b, fps_a=30, algorithm=True):
    text = api_text(a) + ("cameras:\n"
            "  %s:\n    width: 320\n    height: 240\n    fps: %d\n    preview: {enabled: false}\n"
            "  %s:\n    width: 320\n    height: 240\n    fps: 30\n    preview: {width: 160}\n"
            % (a, fps_a, b))
    if algorithm:
        # Not one simple command: the shell stays, with rkv watch its child,
        # so stopping it must reach the group.
        text += ("algorithms:\n  alg:\n    camera: %s\n    policy: drop\n"
                 "    command: '%s watch $RKV_POOL --policy $RKV_POLICY > /dev/null; exit 3'\n"
                 % (a, RKV))
    return text


def check_board():
    a, b = board("x")
    path = os.path.join(TMP, "board.yaml")
    write(path, config_text(a, b))
    d = Daemon(path, "board")
    try:
        pa, pb = running_camera(d, a), running_camera(d, b)
        sh = algorithm_shell(d, "watch $RKV_POOL")
        # the algorithm's environment
        with open("/proc/%d/environ" % sh, "rb") as f:
            env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        if env.get(b"RKV_POOL") != a.encode() or env.get(b"RKV_POLICY") != b"drop" \
                or env.get(b"RKV_CAMERA") != a.encode():
            fail("the algorithm's environment: %r" % {k: v for k, v in env.items()
                                                      if k.startswith(b"RKV_")})
        watch = wait_for("the algorithm's rkv watch", lambda: next(iter(children(sh)), None))
        # each camera and the algorithm in its own process group
        for pid in (pa, pb, sh):
            if os.getpgid(pid) != pid:
                fail("pid %d is in group %d" % (pid, os.getpgid(pid)))

        # kill -9 the algorithm's shell: its rkv watch goes too, and the
        # algorithm is started again
        os.kill(sh, signal.SIGKILL)
        wait_for("the old rkv watch to end", lambda: not alive(watch))
        sh2 = algorithm_shell(d, "watch $RKV_POOL", not_pid=sh)
        d.expect_log("algorithm alg: running (pid %d) on camera %s, restart" % (sh2, a))

        # kill -9 a camera: started again, the restart counted
        os.kill(pa, signal.SIGKILL)
        pa2 = running_camera(d, a, not_pid=pa)
        d.expect_log("camera %s: starting (pid %d), restart 1" % (a, pa2))
        d.expect_log("camera %s: offline" % a)
        # its algorithm lost its producer and ends; it is started again
        # once the camera runs
        sh2 = algorithm_shell(d, "watch $RKV_POOL", not_pid=sh2)

        # SIGHUP: a changed, b not. A consumer of b attached across the
        # reload sees every frame, in order, and b keeps its process.
        # It is attached before the SIGHUP (it printed a frame) and told to
        # stop only once the reload is done, so its frames span the reload.
        consumer = subprocess.Popen([RKV, "watch", b, "--policy", "block", "--json"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = consumer.stdout.readline()
        if '"seq"' not in first:
            fail("rkv watch %s: %r" % (b, first))
        write(path, config_text(a, b, fps_a=15))
        d.signal(signal.SIGHUP)
        pa3 = running_camera(d, a, not_pid=pa2)
        sh3 = algorithm_shell(d, "watch $RKV_POOL", not_pid=sh2)
        d.expect_log("camera %s: stopped" % a)
        time.sleep(0.5)
        consumer.send_signal(signal.SIGINT)
        seqs = [json.loads(first)["seq"]] + watch_seqs(consumer)
        if len(seqs) < 3:
            fail("the consumer of %s got %d frames across the reload" % (b, len(seqs)))
        gaps = [(x, y) for x, y in zip(seqs, seqs[1:]) if y != x + 1]
        if gaps:
            fail("the unchanged camera's frames have gaps across the reload: %r" % gaps[:5])
        if camera_pid(b) != pb:
            fail("the unchanged camera %s was restarted (%d -> %s)" % (b, pb, camera_pid(b)))
        d.expect_log("config %s: 2 camera(s), 1 algorithm(s); 2 to start, 2 to stop, 1 kept" % path)
        if alive(pa2) or alive(sh2):
            fail("the changed camera's old process or its algorithm still runs")

        # SIGHUP with an invalid file: nothing changes
        write(path, config_text(a, b) + "  oops: [\n")
        d.signal(signal.SIGHUP)
        d.expect_log("reload refused, the board runs on as it was: %s:" % path)
        time.sleep(0.5)
        if camera_pid(a) != pa3 or camera_pid(b) != pb or not alive(sh3):
            fail("an invalid config changed the board")

        # SIGTERM: everything ends, nothing left
        procs = [pa3, pb, sh3] + list(children(sh3))
        d.signal(signal.SIGTERM)
        rc = d.end(15)
        if rc != 0:
            fail("rkvd exited %d after SIGTERM; log:\n%s" % (rc, d.text()))
        left = [p for p in procs if alive(p)]
        if left:
            fail("processes left after SIGTERM: %r" % left)
        for n in (a, b):
            if listening("rkvision-ctl/" + n) or listening(n + ".preview"):
                fail("camera %s's sockets are left" % n)
            shm = [e for e in os.listdir("/dev/shm") if n in e]
            if shm:
                fail("/dev/shm holds %r" % shm)
        d.expect_log("stopped")
    finally:
        d.cleanup()


def check_sigkill():
    a, b = board("k")
    path = os.path.join(TMP, "kill.yaml")
    write(path, config_text(a, b, algorithm=False))
    d = Daemon(path, "kill")
    try:
        pa, pb = running_camera(d, a), running_camera(d, b)
        d.p.kill()
        d.p.wait()
        # a new daemon at once: it waits for the old cameras' names to be free
        d2 = Daemon(path, "again")
        try:
            wait_for("the orphaned cameras to end (parent-death signal)",
                     lambda: not alive(pa) and not alive(pb), 10)
            running_camera(d2, a)
            running_camera(d2, b)
            d2.signal(signal.SIGTERM)
            if d2.end(15) != 0:
                fail("the second rkvd did not end cleanly; log:\n%s" % d2.text())
        finally:
            d2.cleanup()
    finally:
        d.cleanup()


def rkv(sock, *args, code=0):
    env = dict(os.environ, RKVD_SOCKET=sock)
    p = subprocess.run([RKV] + list(args), capture_output=True, text=True, timeout=60, env=env)
    if p.returncode != code:
        fail("rkv %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
             % (" ".join(args), p.returncode, code, p.stdout, p.stderr))
    return p


def check_cli():
    """rkv through rkvd: the board's cameras, offline ones included."""
    a, b = board("c")
    sock = os.path.join(TMP, "cli.sock")
    save = os.path.join(TMP, "cli-save")
    path = os.path.join(TMP, "cli.yaml")
    # b's device does not exist: rkvd keeps starting it, it never answers
    write(path, "api:\n  listen: \"\"\n  unix_socket: %s\ncameras:\n"
          "  %s:\n    width: 320\n    height: 240\n    save: {dir: %s}\n"
          "  %s:\n    source: /dev/rkv-test-no-such-video\n" % (sock, a, save, b))
    d = Daemon(path, "cli")
    try:
        running_camera(d, a)

        def board_says():
            cams = json.loads(rkv(sock, "cameras", "--json").stdout)
            byname = {c["name"]: c for c in cams}
            return byname if byname.get(a, {}).get("state") == "running" else None
        byname = wait_for("rkvd to see %s running" % a, board_says)
        cams = list(byname.values())
        if set(byname) != {a, b} or byname[a]["state"] != "running" or \
                byname[b]["state"] == "running":
            fail("rkv cameras through rkvd: %r" % cams)
        # status of every camera: the offline one says what rkvd knows
        out = rkv(sock, "status").stdout
        if "%s: testpattern" % a not in out or "rkvd: running, restarts 0" not in out:
            fail("rkv status through rkvd, the running camera:\n" + out)
        if not any(line.startswith(b + ": ") and "rkvd: pid" in line
                   for line in out.splitlines()):
            fail("rkv status through rkvd, the offline camera:\n" + out)
        st = json.loads(rkv(sock, "status", b, "--json").stdout)
        if st.get("camera") != b or st["daemon"]["state"] == "running":
            fail("rkv status %s --json through rkvd: %r" % (b, st))
        # a snapshot through rkvd lands in the camera's save directory
        out = rkv(sock, "snapshot", a).stdout
        if "(through rkvd)" not in out:
            fail("rkv snapshot did not go through rkvd: " + out)
        shot = out.split(":")[0]
        if os.path.dirname(shot) != save or not os.path.getsize(shot):
            fail("rkv snapshot through rkvd wrote %r" % shot)
        # capture stop through rkvd, and the camera says so
        out = rkv(sock, "capture", a, "stop").stdout
        if "stopped" not in out.splitlines()[0]:
            fail("rkv capture stop through rkvd: " + out)
        if status(a)["capturing"]:
            fail("the camera still captures after rkv capture stop")
        # restart: a new process, counted
        pid = camera_pid(a)
        out = rkv(sock, "restart", a).stdout
        if out.strip() != a + ": restarting":
            fail("rkv restart: " + out)
        wait_for("the restarted camera", lambda: (camera_pid(a) or pid) != pid)
        cams = {c["name"]: c for c in json.loads(rkv(sock, "cameras", "--json").stdout)}
        if cams[a]["restarts"] != 1:
            fail("the restart was not counted: %r" % cams[a])
        rkv(sock, "restart", "nosuchcamera", code=1)
        # without rkvd, cameras and restart say so
        err = rkv(os.path.join(TMP, "none.sock"), "cameras", code=1).stderr
        if "no rkvd answers" not in err:
            fail("rkv cameras without rkvd: " + err)
    finally:
        d.cleanup()


def check_default():
    """No config: cam0, and the web page on 127.0.0.1:8080 (its Unix socket
    in the test's directory, through XDG_RUNTIME_DIR)."""
    if status("cam0"):
        print("note: a camera cam0 runs on this machine already; the default config "
              "is checked with --check only")
        return
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 8080))
    except OSError:
        print("note: 127.0.0.1:8080 is taken on this machine; the default board is not run")
        return
    finally:
        probe.close()
    d = Daemon(None, "default", env=dict(os.environ, XDG_RUNTIME_DIR=TMP))
    try:
        pid = running_camera(d, "cam0")
        d.expect_log("web page: http://127.0.0.1:8080/")
        with urllib.request.urlopen("http://127.0.0.1:8080/", timeout=10) as r:
            page = r.read().decode()
        if r.status != 200 or "<html" not in page.lower():
            fail("the default board's web page: %d %r" % (r.status, page[:200]))
        if not os.path.exists(os.path.join(TMP, "rkvd.sock")):
            fail("the default board has no Unix socket at $XDG_RUNTIME_DIR/rkvd.sock")
        st = status("cam0")
        if st["width"] != 640 or st["height"] != 480 or st["format"] != "NV12":
            fail("the default camera: %r" % st)
        if not listening("cam0.preview"):
            fail("the default camera has no preview pool")
        d.signal(signal.SIGTERM)
        if d.end(15) != 0 or alive(pid):
            fail("the default board did not end cleanly")
    finally:
        d.cleanup()


def main():
    global RKVD, RKV, TMP
    RKVD, RKV, examples = sys.argv[1], sys.argv[2], sys.argv[3]
    with tempfile.TemporaryDirectory(prefix="daemon_test.") as TMP:
        check_files()
        check_examples(examples)
        check_board()
        check_sigkill()
        check_cli()
        check_default()
    print("daemon: all checks passed")


if __name__ == "__main__":
    main()
