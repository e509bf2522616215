"""Real worker processes for the tests, pointed at the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("worker processes share the database only on PostgreSQL")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    auth = s.get("USER") or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


def spawn(command: list[str], log: Path, **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": test_database_url(),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *command],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def spawn_worker(log_dir: Path, name: str, *args: str) -> subprocess.Popen:
    return spawn(["run_worker", "--id", name, "--poll", "0.1", *args], log_dir / f"{name}.log")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until `predicate()`; returns the seconds it took, fails after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def stop_all(processes: list[subprocess.Popen], timeout: float = 15) -> list[int | None]:
    for p in processes:
        if p.poll() is None:
            p.terminate()
    codes = []
    for p in processes:
        try:
            codes.append(p.wait(timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(None)
    return codes
