"""A real daphne, started as docker-compose starts it, refuses request bodies larger than
the server accepts while they arrive: on Content-Length before reading any of the body,
and a chunked body as soon as it passes the limit, so its memory stays flat. Requests
under the limit and websockets are served as before."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from dashboard import conf
from tests.processes import wait_for

# A real daphne process serves the requests: it sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
WAIT = 20
MB = 1024 * 1024
JSON = "application/json"


class Daphne:
    def __init__(self, port: int, process: subprocess.Popen, log: Path) -> None:
        self.port = port
        self.process = process
        self.log = log

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            client.request(method, path, body=body, headers={"Content-Type": JSON})
            response = client.getresponse()
            return response.status, response.read()
        finally:
            client.close()

    def peak_rss(self) -> int:
        """The most memory the server process has held so far, in bytes (VmHWM)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    from tests.processes import test_database_url

    return test_database_url()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def daphne(django_db_setup, tmp_path_factory) -> Iterator[Daphne]:
    port = free_port()
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Daphne(port, process, log)

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return server.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, 60, "daphne to serve")
        yield server
    finally:
        process.terminate()
        process.wait(30)


def read_response(stream) -> tuple[int, dict[str, str], bytes]:
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline().strip()) != b"":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", 0)))
    return status, headers, body


def test_a_body_declared_too_large_is_refused_before_it_is_sent(daphne):
    with daphne.connect() as s:
        s.sendall(
            b"POST /api/sagas HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{daphne.port}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {300 * MB}\r\n".encode()
            # Told to wait for a go-ahead: the server must not send "100 Continue".
            + b"Expect: 100-continue\r\n\r\n"
        )
        status, headers, body = read_response(s.makefile("rb"))
    assert status == 413, body
    assert headers["content-type"] == JSON
    detail = json.loads(body)["detail"]
    assert "larger than the server accepts" in detail
    assert f"({conf.request_body_limit()} bytes)" in detail


def test_a_chunked_body_is_cut_off_at_the_limit_and_memory_stays_flat(daphne):
    # Warm up: the first API request imports and builds what every later one reuses.
    assert daphne.request("POST", "/api/sagas", b"{}")[0] == 401  # no token
    before = daphne.peak_rss()
    total = 50 * MB
    chunk = b"x" * (64 * 1024)
    sent = 0
    answer = None
    with daphne.connect() as s:
        s.sendall(
            b"POST /api/sagas HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{daphne.port}\r\n".encode()
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < total:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # cut off: what we want
        # Closed before (or instead of) the 413 reaching us is a refusal too.
        with contextlib.suppress(ConnectionResetError, IndexError, ValueError):
            answer = read_response(s.makefile("rb"))[0]
    grown = daphne.peak_rss() - before
    assert sent < total / 2, f"the server read {sent} bytes of a body over the limit"
    assert answer in (413, None), answer
    assert grown < 10 * MB, f"the server grew by {grown / MB:.1f} MB for a refused body"


def test_requests_under_the_limit_and_websockets_are_still_served(daphne, operator):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert daphne.request("GET", "/healthz")[0] == 200
    # Just under the limit: through to the API, which refuses it for want of a token.
    body = json.dumps({"type": "ledger", "input": {"pad": "x" * (limit - 100)}}).encode()
    status, answer = daphne.request("POST", "/api/sagas", body)
    assert status == 401 and b"larger" not in answer, answer
    frame = websocket_first_frame(daphne, "/ws/outbox/", operator._test_session)
    assert frame["type"] == "outbox"


def websocket_first_frame(daphne: Daphne, path: str, session: str) -> dict:
    """Open a websocket as a browser does (Origin, session cookie); its first text frame."""
    host = f"127.0.0.1:{daphne.port}"
    key = base64.b64encode(os.urandom(16)).decode()
    with daphne.connect() as s:
        s.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}\r\n"
                f"Cookie: sessionid={session}\r\n\r\n"
            ).encode()
        )
        stream = s.makefile("rb")
        status, _, _ = read_response(stream)
        assert status == 101, status
        first, length = stream.read(2)
        assert first == 0x81  # a final text frame
        length &= 0x7F
        if length == 126:
            length = int.from_bytes(stream.read(2), "big")
        elif length == 127:
            length = int.from_bytes(stream.read(8), "big")
        return json.loads(stream.read(length))
