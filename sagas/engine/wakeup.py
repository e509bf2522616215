"""Waking idle workers when work becomes due, and telling them what kind of work.

On PostgreSQL a transaction that makes work due runs `NOTIFY` with the kind as payload
(a saga to claim, a reply to apply, a bulk item to carry out), delivered at commit; workers
`LISTEN`, and read what they were told between ticks too, so a busy worker skips the
queries for work nobody announced. Elsewhere (SQLite, the embedded demo) an in-process
event wakes workers in this process and tells them nothing: they look for every kind.
Either way this is only a hint: workers still look for every kind once a poll interval,
because a notification can be missed while a listener reconnects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from django.db import connection, transaction

log = logging.getLogger(__name__)

CHANNEL = "sagascope_due"
COMMANDS = "sagascope_commands"
_events: dict[str, threading.Event] = {CHANNEL: threading.Event(), COMMANDS: threading.Event()}

# What became due, the payload of a NOTIFY on CHANNEL.
SAGA = "saga"
REPLY = "reply"
BULK = "bulk"
EVERYTHING = frozenset({SAGA, REPLY, BULK})


def notify_due(kind: str = SAGA) -> None:
    """Wake workers once the current transaction commits (or now, outside one): `kind` of
    work became due."""
    assert kind in EVERYTHING, kind
    _notify(CHANNEL, kind)


def notify_commands(destinations: Iterable[str] = ()) -> None:
    """Wake the participants that read commands from the database: those of `destinations`
    (each hears its own name), or all of them. The relay hears every one."""
    for destination in sorted(set(destinations)) or [""]:
        _notify(COMMANDS, destination)


def _notify(channel: str, payload: str = "") -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The channel is a constant of this module; the payload goes as a parameter.
            cursor.execute("SELECT pg_notify(%s, %s)", [channel, payload])
    transaction.on_commit(_events[channel].set)


class Waiter:
    """Blocks an idle worker until a notification, a local wake-up, or a timeout."""

    def __init__(self, channel: str = CHANNEL) -> None:
        self._channel = channel
        self._event = _events[channel]
        self._conn = None
        self._told: set[str] = set()  # kinds heard while waiting, not yet taken
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
                told = [
                    n.payload for n in self._conn.notifies(timeout=min(left, 0.05), stop_after=1)
                ]
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
                self.close()
                self._connect()
                return
            if told:
                self._told.update(told)
                return
        self._event.clear()

    def wait_for(self, name: str, timeout: float) -> None:
        """Wait as `wait` does, but past notifications addressed to others: return when one
        names `name` or nobody in particular, on a local wake-up, or at the timeout."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            self.wait(deadline - time.monotonic())
            told, self._told = self._told, set()
            if not told or name in told or "" in told or time.monotonic() >= deadline:
                return

    def heard(self) -> frozenset[str]:
        """The kinds of work announced since the last call, without waiting; EVERYTHING
        where this waiter cannot tell (no LISTEN connection, or it was just lost)."""
        if self._conn is None:
            return EVERYTHING
        told, self._told = self._told, set()
        try:
            told.update(n.payload for n in self._conn.notifies(timeout=0))
        except Exception as exc:
            log.warning("LISTEN connection lost (%s); reconnecting", exc)
            self.close()
            self._connect()
            return EVERYTHING
        # An empty payload comes from an older sender that said nothing: anything may be due.
        return EVERYTHING if "" in told else frozenset(told)

    def wake(self) -> None:
        """Wake this process's waiters; safe to call from a signal handler."""
        self._event.set()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
