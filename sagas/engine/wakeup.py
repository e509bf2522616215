"""Waking idle workers when work becomes due.

On PostgreSQL a transaction that makes a saga due runs `NOTIFY`, delivered at commit, and
idle workers `LISTEN`. Elsewhere (SQLite, the embedded demo) an in-process event does the
same for workers in this process. Either way this is only a wake-up: workers also poll,
because a notification can be missed while a listener reconnects.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection, transaction

log = logging.getLogger(__name__)

CHANNEL = "sagascope_due"
COMMANDS = "sagascope_commands"
_events: dict[str, threading.Event] = {CHANNEL: threading.Event(), COMMANDS: threading.Event()}


def notify_due() -> None:
    """Wake workers once the current transaction commits (or now, outside one)."""
    _notify(CHANNEL)


def notify_commands() -> None:
    """Wake participants that read commands from the database."""
    _notify(COMMANDS)


def _notify(channel: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {channel}")
    transaction.on_commit(_events[channel].set)


class Waiter:
    """Blocks an idle worker until a notification, a local wake-up, or a timeout."""

    def __init__(self, channel: str = CHANNEL) -> None:
        self._channel = channel
        self._event = _events[channel]
        self._conn = None
        self._wants_listen = connection.vendor == "postgresql"
        self._retry_at = 0.0
        if self._wants_listen:
            self._connect()

    def _connect(self) -> None:
        import psycopg

        try:
            params = connection.get_connection_params()
            self._conn = psycopg.connect(autocommit=True, **params)
            self._conn.execute(f"LISTEN {self._channel}")
        except Exception as exc:  # polling still works without it
            log.warning("LISTEN unavailable, polling until it is back: %s", exc)
            self._conn = None
            self._retry_at = time.monotonic() + 5.0

    def wait(self, timeout: float) -> None:
        timeout = max(timeout, 0.0)
        if self._conn is None and self._wants_listen and time.monotonic() >= self._retry_at:
            self._connect()  # the database came back (a restart): listen again
        if self._conn is None:
            self._event.wait(timeout)
            self._event.clear()
            return
        # Sliced, so that wake() (a flag, safe from a signal handler) is seen within 0.05 s.
        deadline = time.monotonic() + timeout
        while not self._event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                if any(True for _ in self._conn.notifies(timeout=min(left, 0.05), stop_after=1)):
                    return
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
                self.close()
                self._connect()
                return
        self._event.clear()

    def wake(self) -> None:
        """Wake this process's waiters; safe to call from a signal handler."""
        self._event.set()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
