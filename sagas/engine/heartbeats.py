"""Process heartbeats: each worker, relay and participant process keeps one row
(ProcessHeartbeat) fresh, so the Workers page and /metrics see who is alive.

A beat is one UPDATE by process id (an INSERT the first time), stamped with the database's
clock, as leases are; a clean stop deletes the row; a killed process's row goes red once
older than its window and is pruned after `forget_after`, when the counters of processes
gone are folded too (tally.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import connections
from django.db.models.functions import Now

from sagas import conf
from sagas.models import ProcessHeartbeat

from . import tally

log = logging.getLogger("sagas.heartbeats")

PRUNE_EVERY = 300.0  # seconds between one process's prunes

Stats = Callable[[], tuple[int, int]]  # (leases held, transitions since start)


class Pulse:
    """One process's heartbeat row; `beat` when `due`, `gone` on a clean stop."""

    def __init__(self, kind: str, process_id: str | None, window: float, name: str = "") -> None:
        self.kind = ProcessHeartbeat.Kind(kind)
        self.process_id = process_id or default_id()
        self.window = window
        self.name = name
        self._last: tuple[float, int] | None = None  # monotonic time and transitions
        self._pruned = time.monotonic()  # first prune a while after starting

    @property
    def beaten(self) -> bool:
        return self._last is not None

    def due(self) -> bool:
        return self._last is None or time.monotonic() - self._last[0] >= self.window / 3

    def beat(self, leases_held: int = 0, transitions: int = 0) -> None:
        """Stamp the row with the database's time and this process's figures."""
        moment = time.monotonic()
        rate = 0.0
        if self._last is not None and moment > self._last[0]:
            rate = max(0, transitions - self._last[1]) / (moment - self._last[0])
        figures = {
            "last_beat": Now(),
            "lease_seconds": self.window,
            "leases_held": leases_held,
            "transitions": transitions,
            "transitions_per_second": round(rate, 2),
        }
        mine = ProcessHeartbeat.objects.filter(process_id=self.process_id)
        if not mine.update(**figures):
            ProcessHeartbeat.objects.create(
                process_id=self.process_id,
                kind=self.kind,
                name=self.name,
                host=socket.gethostname()[:255],
                pid=os.getpid(),
                started_at=Now(),
                **figures,
            )
        self._last = (moment, transitions)
        if moment - self._pruned >= PRUNE_EVERY:
            self._pruned = moment
            prune()

    def gone(self) -> None:
        """A clean stop: the process is not dead, it is not there."""
        try:
            ProcessHeartbeat.objects.filter(process_id=self.process_id).delete()
        except Exception as exc:  # its row is pruned later, and shows red till then
            log.warning("could not remove the heartbeat of %s: %s", self.process_id, exc)

    def keep_beating(self, stats: Stats, stop: threading.Event) -> threading.Thread:
        """Beat every window/3 in a thread until `stop`, then remove the row."""

        def loop() -> None:
            while True:
                try:
                    self.beat(*stats())
                except Exception as exc:  # a missed beat shows on the page; never a crash
                    log.warning("heartbeat of %s failed: %s", self.process_id, exc)
                    connections.close_all()
                if stop.wait(self.window / 3):
                    break
            self.gone()
            connections.close_all()

        thread = threading.Thread(target=loop, name=f"{self.kind}-heartbeat", daemon=True)
        thread.start()
        return thread


def prune() -> int:
    """Forget processes silent for longer than `forget_after` (and fold the counters of
    processes other than this one); returns how many rows went."""
    cutoff = Now() - timedelta(seconds=conf.forget_processes_after())
    gone, _ = ProcessHeartbeat.objects.filter(last_beat__lt=cutoff).delete()
    tally.fold()
    return gone


def default_id() -> str:
    """host:pid:random, as worker ids are: a restarted pid is a new process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
