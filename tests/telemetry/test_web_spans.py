"""The web process (daphne) exports one server span per request, continuing the caller's
trace, and stops promptly on SIGTERM (which flushes the spans)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.processes import wait_for

from .otlp import Receiver

ROOT = Path(__file__).resolve().parents[2]
CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, **headers: str) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.status


def test_a_request_is_a_server_span_in_the_callers_trace(tmp_path):
    receiver = Receiver()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",  # the login page reads none
        "REDIS_URL": "",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with (tmp_path / "daphne.log").open("ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            + ["config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url), 30, "daphne to serve")
        assert get(f"{url}/login/", traceparent=f"00-{CALLER_TRACE}-{CALLER_SPAN}-01") == 200
    finally:
        server.terminate()
        code = server.wait(20)
    assert code == 0, (tmp_path / "daphne.log").read_text()
    wait_for(lambda: any(s["kind"] == "SERVER" for s in receiver.spans), 10, "the server span")
    receiver.close()
    servers = [s for s in receiver.spans if s["kind"] == "SERVER"]
    assert [s["name"] for s in servers] == ["GET /login/"]  # health checks are not traced
    span = servers[0]
    assert span["trace_id"] == CALLER_TRACE and span["parent_span_id"] == CALLER_SPAN
    assert span["service"] == "web"
    assert (
        span["attributes"].get(
            "http.status_code", span["attributes"].get("http.response.status_code")
        )
        == 200
    )


def _up(url: str) -> bool:
    try:
        return get(f"{url}/healthz") == 200
    except OSError:
        time.sleep(0.2)
        return False
