"""The README's pictures of the pages, taken from the live `order` demo as a new user sees it.

    python docs/screenshots.py [--wait 75] [--out docs]

Runs `manage.py demo` on a fresh SQLite database and a free port, waits for the demo's
seeded failures (two causes, one slow order) and a minute of traffic, logs in and saves
overview, list, detail (a saga failed while compensating), problems, dead letters, workers
and a 375 px list to `--out`. Debian's Chromium through Playwright (`pip install -e
'.[test]'`). The dialogs and bulk pages come from tests/browser/test_screenshots.py.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, demo: subprocess.Popen, bound: float = 120) -> None:
    deadline = time.monotonic() + bound
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2)
            return
        except OSError:
            if demo.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the demo did not come up at {url}") from None
            time.sleep(0.5)


def shoot(page: Page, url: str, path: Path, full: bool = True) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    time.sleep(1.5)  # the live socket's first frame, and the charts drawn from it
    page.screenshot(path=str(path), full_page=full)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", type=float, default=75, help="seconds of demo traffic first")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    port, password = free_port(), secrets.token_urlsafe(12)
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/demo.sqlite3"}
        for key in ("REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT", "DJANGO_SETTINGS_MODULE"):
            env.pop(key, None)
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--port", str(port), "--password", password],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_up(url, demo)
            print(f"demo up at {url}; {args.wait:.0f}s of traffic first")
            time.sleep(args.wait)
            take(url, password, args.out)
        finally:
            demo.terminate()
            demo.wait(30)


def take(url: str, password: str, out: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/login/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")
        shoot(page, f"{url}/", out / "overview.png")
        shoot(page, f"{url}/sagas/", out / "list.png", full=False)
        shoot(page, f"{url}/problems/", out / "problems.png")
        page.goto(f"{url}/sagas/?status=failed")
        page.wait_for_load_state("networkidle")
        failed = page.locator("#saga-rows a[href^='/sagas/']").first
        failed.wait_for(timeout=30_000)
        shoot(page, f"{url}{failed.get_attribute('href')}", out / "detail.png")
        shoot(page, f"{url}/outbox/dead/", out / "dead-letters.png")
        shoot(page, f"{url}/workers/", out / "workers.png")
        narrow = browser.new_page(viewport={"width": 375, "height": 812})
        narrow.context.add_cookies(page.context.cookies())
        shoot(narrow, f"{url}/sagas/", out / "narrow.png", full=False)
        browser.close()


if __name__ == "__main__":
    main()
