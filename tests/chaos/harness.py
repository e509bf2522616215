"""The processes of a chaos run, and the faults done to them."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections

from tests.processes import spawn, stop_all

T = TypeVar("T")

HTTP = ("payment", "shipping")  # reached through the relay; the others read the database
FAULTS = {
    "inventory": "failure_rate=0.05,slow_rate=0.01,slow_seconds=6",  # late replies
    "payment": "failure_rate=0.05,failure_rate.refund=0.7",  # refunds often fail
    "shipping": "failure_rate=0.05,slow_rate=0.01,slow_seconds=6",
    "email": "failure_rate=0.05",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """3 workers, the relay and the four participants, against the test database; with
    `redelivery`, the relay and the participants that read the database deliver every
    command twice, late and out of order (tests/chaos/redelivery.py)."""

    def __init__(
        self,
        log_dir: Path,
        workers: int = 3,
        faults: dict[str, str] | None = None,
        relay: tuple[str, ...] = ("--visibility", "3"),
        redelivery: bool = True,
    ) -> None:
        self.log_dir = log_dir
        self.ports = {name: free_port() for name in HTTP}
        self.env = {
            "SAGASCOPE_PARTICIPANT_URLS": ",".join(
                f"{n}=http://127.0.0.1:{p}" for n, p in self.ports.items()
            ),
            "SAGASCOPE_PARTICIPANT_SECRETS": ",".join(f"{n}={secrets.token_hex(16)}" for n in HTTP),
        }
        # Test-only commands (tests/testapp) that wrap the production relay and transport.
        self.run_participant = "run_redelivering_participant" if redelivery else "run_participant"
        self.run_relay = "run_redelivering_relay" if redelivery else "run_relay"
        self.workers: list[subprocess.Popen | None] = [None] * workers
        self.participants: dict[str, subprocess.Popen] = {}
        self.relay: subprocess.Popen | None = None
        self.faults = {**FAULTS, **(faults or {})}
        self.relay_options = relay
        self._starts = 0

    def _spawn(self, command: list[str], name: str, **extra: str) -> subprocess.Popen:
        self._starts += 1
        return spawn(command, self.log_dir / f"{name}.log", **self.env, **extra)

    def start_worker(self, index: int) -> None:
        self.workers[index] = self._spawn(
            ["run_worker", "--id", f"w{index}-{self._starts}", "--lease", "3", "--poll", "0.2"],
            f"worker{index}",
        )

    def kill_worker(self, index: int, sig: int = signal.SIGKILL) -> None:
        process = self.workers[index]
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            process.wait(10)

    def start_participant(self, name: str, faults: str | None = None) -> None:
        spec = self.faults[name] if faults is None else faults
        command = [self.run_participant, name]
        if name in HTTP:
            command += ["--http", f"127.0.0.1:{self.ports[name]}"]
        else:
            command += ["--poll", "0.2"]
        self.participants[name] = self._spawn(
            command, name, **{f"SAGASCOPE_FAULTS_{name.upper()}": spec}
        )

    def stop_participant(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.participants.pop(name)
        process.send_signal(sig)
        process.wait(15)

    def restart_participant(self, name: str, faults: str | None = None) -> None:
        self.stop_participant(name)
        self.start_participant(name, faults)

    def start_relay(self) -> None:
        self.relay = self._spawn([self.run_relay, "--poll", "0.1", *self.relay_options], "relay")

    def kill_relay(self) -> None:
        if self.relay is not None and self.relay.poll() is None:
            self.relay.send_signal(signal.SIGKILL)
            self.relay.wait(10)

    def __enter__(self) -> Stack:
        for index in range(len(self.workers)):
            self.start_worker(index)
        for name in FAULTS:
            self.start_participant(name)
        self.start_relay()
        time.sleep(3)  # let every process boot
        return self

    def __exit__(self, *exc: Any) -> None:
        stop_all(
            [p for p in (*self.workers, *self.participants.values(), self.relay) if p is not None]
        )


def restart_postgres() -> None:
    """Restart this machine's PostgreSQL, as an operations mishap would."""
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for _ in range(60):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
            break
        time.sleep(0.5)
    connections.close_all()  # this process's connection died with the server


def retrying(query: Callable[[], T], attempts: int = 60) -> T:
    """Run a query, reconnecting while the database is restarting."""
    for _ in range(attempts - 1):
        try:
            return query()
        except (OperationalError, InterfaceError):
            connections.close_all()
            time.sleep(0.5)
    return query()
