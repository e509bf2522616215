"""The browser tests' world: a SQLite file, a real daphne server and a real worker (separate
processes, joined by channels-redis), an operator login and an API token, and Debian's
Chromium driven by Playwright. Missing Chromium or Redis skips these tests on a laptop and
fails them in CI (CI=true), where a skip would hide that they never ran."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .pages import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def need(ok: bool, what: str) -> None:
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests need {what}, and CI must run them")
    pytest.skip(f"browser tests need {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


class Stack:
    """daphne and run_worker against one SQLite file, as separate processes."""

    def __init__(self, base: Path) -> None:
        self.dir = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gates = base / "gates"
        self.gates.mkdir()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
            "DATABASE_URL": f"sqlite:///{base / 'browser.sqlite3'}",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "CHANNEL_LAYER_PREFIX": f"browser-{uuid.uuid4().hex[:10]}",
            "PYTHONUNBUFFERED": "1",
        }
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def manage(self, *args: str, **env: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def prepare(self) -> None:
        self.manage("migrate", "--noinput")
        self.manage(
            "createsuperuser",
            "--noinput",
            "--username",
            "operator",
            "--email",
            "operator@example.com",
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        )
        out = self.manage("create_api_token", "browser", "--scope", "start", "--scope", "read")
        self.token = re.search(r"sgs_\S+", out).group(0)

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        with (self.dir / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def start_server(self) -> None:
        self.server = self.spawn(
            "daphne",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "config.asgi:application",
            ],
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                assert self.server.poll() is None, self.log("daphne")
                assert time.monotonic() < deadline, self.log("daphne")
                time.sleep(0.2)

    def stop_server(self) -> None:
        assert self.server is not None
        self.server.terminate()
        began = time.monotonic()
        self.server.wait(60)
        print(f"daphne stopped {time.monotonic() - began:.1f}s after SIGTERM")

    def start_worker(self) -> None:
        command = [sys.executable, "manage.py", "run_worker", "--id", "browser", "--poll", "0.1"]
        self.worker = self.spawn("worker", command)

    def stop_worker(self) -> None:
        """SIGTERM: the worker finishes the steps it runs, releases its leases and exits."""
        assert self.worker is not None
        self.worker.terminate()
        self.worker.wait(60)

    def stop(self) -> None:
        # Steps still waiting at a gate would hold the worker's graceful stop.
        for gates in self.gates.iterdir():
            for step in ("reserve", "charge", "ship", "notify"):
                (gates / step).touch()
        for process in (self.server, self.worker):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def start_saga(self, input: dict[str, Any], correlation_id: str = "") -> dict[str, Any]:
        """Start a saga through the JSON API, as a service would."""
        body = json.dumps({"type": "shipment", "input": input, "correlation_id": correlation_id})
        request = urllib.request.Request(
            f"{self.url}/api/sagas",
            data=body.encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            return json.loads(response.read())

    def saga(self, saga_id: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/api/sagas/{saga_id}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def open_gate(self, gate_dir: Path, step: str) -> None:
        (gate_dir / step).touch()

    def gate_dir(self) -> Path:
        path = self.gates / uuid.uuid4().hex[:8]
        path.mkdir()
        return path

    def db_file(self) -> Path:
        return self.dir / "browser.sqlite3"


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    need(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    need(redis_up(), "Redis on 127.0.0.1:6379 (the server and the worker are two processes)")
    world = Stack(tmp_path_factory.mktemp("browser"))
    world.prepare()
    try:
        world.start_server()
        world.start_worker()
        yield world
    finally:
        world.stop()


@pytest.fixture(scope="session")
def browser(stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, stack) -> Iterator[Any]:
    """A page logged in as the operator, failing the test on any script error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    log_in(page, stack)
    yield page
    context.close()
    assert not errors, errors


def log_in(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.url}/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}/")


@pytest.fixture(scope="session")
def docs(tmp_path_factory) -> Path:
    """Where screenshots go: docs/ with SAGASCOPE_SCREENSHOTS=1 (to refresh the README's),
    else a temporary folder, so a test run leaves the work tree as it found it."""
    if os.environ.get("SAGASCOPE_SCREENSHOTS") == "1":
        path = ROOT / "docs"
        path.mkdir(exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")
