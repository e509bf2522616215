"""`manage.py demo`, the README's first command: it serves the UI and the API, prints a
login that works, runs a worker and starts orders, all on the embedded SQLite default."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_serves_logs_in_and_runs_orders(tmp_path):
    port = free_port()
    db = tmp_path / "demo.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "demo",
                "--port",
                str(port),
                "--interval",
                "0.4",
                "--duration",
                "20",
                "--no-faults",  # faults have their own tests; here the point is the wiring
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not re.search(r"log in as operator / (\S+)", log.read_text()):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        password = re.search(r"log in as operator / (\S+)", log.read_text()).group(1)
        base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{base}/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {
                "username": "operator",
                "password": password,
                "csrfmiddlewaretoken": token,
                "next": "/",
            }
        ).encode()
        opener.open(
            urllib.request.Request(
                f"{base}/login/", data=form, headers={"Referer": f"{base}/login/"}
            )
        )
        time.sleep(6)
        listing = opener.open(f"{base}/").read().decode()
        assert "ord-0000" in listing  # demo orders are listed for the logged-in operator
        assert opener.open(f"{base}/static/dashboard/base.css").status == 200
        icon = opener.open(f"{base}/favicon.ico")  # what browsers ask for by themselves
        assert icon.status == 200 and icon.headers["Content-Type"] == "image/svg+xml"
        assert b'"openapi"' in opener.open(f"{base}/api/openapi.json").read()
    finally:
        proc.wait(40)
    assert proc.returncode == 0, log.read_text()
    assert "Not Found" not in log.read_text()  # no 404 (a favicon's, say) warns in the console
    with sqlite3.connect(db) as conn:
        finished = conn.execute(
            "SELECT count(*) FROM sagas_sagainstance WHERE status IN ('completed', 'compensated')"
        ).fetchone()[0]
    assert finished > 5, log.read_text()


def demo(db: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", "demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_busy_port_fails_at_once_naming_a_free_one(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        ran = demo(tmp_path / "demo.sqlite3", "--port", str(port), "--duration", "5")
    assert ran.returncode != 0, ran.stdout + ran.stderr
    found = re.search(rf"port {port} is in use; try --port (\d+)", ran.stderr)
    assert found, ran.stdout + ran.stderr
    suggested = int(found.group(1))
    assert suggested > port
    with socket.socket() as free:  # the port it suggests is one it could listen on
        free.bind(("127.0.0.1", suggested))
    assert "demo stopped" not in ran.stdout and "log in as" not in ran.stdout


@pytest.mark.slow
def test_the_login_survives_a_restart_and_password_sets_it(tmp_path):
    db = tmp_path / "demo.sqlite3"
    quick = ["--duration", "1", "--interval", "0", "--no-faults"]
    runs = [demo(db, "--port", str(free_port()), *quick) for _ in range(2)]
    for ran in runs:
        assert ran.returncode == 0, ran.stdout + ran.stderr
    first, second = (re.search(r"log in as operator / (\S+)", r.stdout) for r in runs)
    assert first and second, runs[0].stdout + runs[1].stdout
    assert first.group(1) == second.group(1)
    assert "kept from the last run" in runs[1].stdout
    chosen = demo(db, "--port", str(free_port()), "--password", "a long demo secret", *quick)
    assert "log in as operator / a long demo secret" in chosen.stdout, chosen.stdout
    refused = demo(db, "--port", str(free_port()), "--password", "123", *quick)
    assert refused.returncode != 0 and "too short" in refused.stderr, refused.stderr
