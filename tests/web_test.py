#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""rkvd's web page (GET /) in a real browser: Debian's chromium, headless,
driven with python3-selenium, against a running rkvd with one camera.

Checks: the page lists the camera and its live preview updates (the
preview's pixels differ between two screenshots); "Snapshot" makes a new
file in the save directory and the page links it; "Capture stop" freezes
the preview (two screenshots alike) and the page's stats say it stopped;
"Capture start" brings it back.

usage: web_test.py RKVD       (exit 77 without a browser)
No assertion is on time: waits have generous deadlines against hangs.
Debian's python3 runs it (the shebang): python3-selenium is installed there."""

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
import sys
import tempfile
import time

from checklog import check, finish

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:
    print("python3-selenium is not installed")
    sys.exit(77)

RKVD = sys.argv[1]
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
CAM = f"web{os.getpid()}"
def wait_for(fn, what, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    check(False, f"waited for {what}")
    return None


def main():
    if not CHROMIUM or not DRIVER:
        print("chromium or chromedriver is not installed")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix=f"rkv-web-{os.getpid()}-")
    save = os.path.join(tmp, "save")
    # rkvd takes no port 0: a free one, found just before
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    cfg = os.path.join(tmp, "board.yaml")
    with open(cfg, "w") as f:
        f.write(f"api:\n  listen: 127.0.0.1:{port}\n  unix_socket: {tmp}/rkvd.sock\n"
                f"cameras:\n  {CAM}:\n    width: 320\n    height: 240\n"
                f"    preview: {{width: 320, fps: 10}}\n    save: {{dir: {save}}}\n")
    log = open(os.path.join(tmp, "rkvd.log"), "w")
    h = subprocess.Popen([RKVD, "-c", cfg], stdout=subprocess.DEVNULL, stderr=log)
    driver = None
    try:
        def running():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/cameras",
                                            timeout=2) as r:
                    return any(c["name"] == CAM and c["state"] == "running"
                               for c in json.load(r))
            except OSError:
                return False
        if not check(bool(wait_for(running, "rkvd and its camera")), "rkvd serves its camera"):
            return

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--window-size=1000,900",
                  f"--user-data-dir={os.path.join(tmp, 'chromium')}"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
        driver.set_page_load_timeout(60)
        # The MJPEG stream never ends: do not wait for the page's "load".
        driver.get(f"http://127.0.0.1:{port}/")
        card = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR,
                                                     f'section.cam[data-camera="{CAM}"]'),
                        "the camera's card")
        if not card:
            return
        card = card[0]
        img = card.find_element(By.CSS_SELECTOR, "img.view")
        wait_for(lambda: driver.execute_script(
            "return arguments[0].naturalWidth > 0", img), "the preview to show")
        check(img.get_attribute("src").endswith(f"/api/{CAM}/stream.mjpeg"),
              "the preview is the camera's MJPEG stream")

        def shot():
            return img.screenshot_as_png

        # Live: the pixels change (the test pattern counts frames).
        a = shot()
        changed = wait_for(lambda: shot() != a, "the preview to change")
        check(bool(changed), "the live preview updates")

        # Stats refresh.
        stats = card.find_element(By.CSS_SELECTOR, ".stats")
        check(bool(wait_for(lambda: "capture" in stats.text and "fps" in stats.text,
                            "stats")), f"stats are shown ({stats.text[:60]!r})")

        # Snapshot: a new file on disk, linked from the page.
        def saved():
            return set(os.listdir(save)) if os.path.isdir(save) else set()

        before = saved()
        buttons = {b.text: b for b in card.find_elements(By.TAG_NAME, "button")}
        buttons["Snapshot"].click()
        new = wait_for(lambda: saved() - before, "the snapshot file")
        check(bool(new) and all(n.startswith(CAM + "-") for n in new),
              f"Snapshot made a new file: {sorted(new or [])}")
        if new:
            name = sorted(new)[0]
            check(bool(wait_for(lambda: any(name in e.text for e in card.find_elements(
                By.CSS_SELECTOR, ".files a")), "the file's link")), "the page links the new file")

        # Capture stop: the preview freezes, the stats say so.
        cap = wait_for(lambda: {b.text: b for b in card.find_elements(By.TAG_NAME, "button")}
                       .get("Capture stop"), "the Capture stop button")
        if cap:
            cap.click()
        check(bool(wait_for(lambda: card.get_attribute("data-capturing") == "false",
                            "the stats to say stopped")), "the page says capture stopped")
        badge = card.find_element(By.CSS_SELECTOR, ".badge")
        check(badge.text == "stopped", f"the badge says stopped ({badge.text!r})")

        def frozen():
            x = shot()
            time.sleep(1.5)
            return shot() == x

        check(bool(wait_for(frozen, "the preview to freeze")), "capture stop froze the preview")
        start = wait_for(lambda: {b.text: b for b in card.find_elements(By.TAG_NAME, "button")}
                         .get("Capture start"), "the Capture start button")
        if start:
            start.click()
        a = shot()
        check(bool(wait_for(lambda: shot() != a, "the preview to move again")),
              "capture start brings the preview back")
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        check(not errors, f"no errors in the browser's console: {errors[:3]}")
    finally:
        if driver:
            driver.quit()
        h.send_signal(signal.SIGTERM)
        try:
            rc = h.wait(timeout=60)
        except subprocess.TimeoutExpired:
            h.kill()
            rc = -9
        log.close()
        if not check(rc == 0, f"rkvd exit status {rc}"):
            with open(os.path.join(tmp, "rkvd.log")) as f:
                print(f.read())
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
    finish()
