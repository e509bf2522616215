"""Helpers the tests share: start sagas, drive an in-process worker until sagas settle."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sagas.messaging import directory
from sagas.messaging.transports import DatabaseTransport
from sagas.models import SagaInstance
from sagas.participant import participants
from sagas.runtime.worker import Worker
from sagas.services.start import start_saga
from sagas.statuses import ACTIVE_STATUSES


def start(
    saga_type: str = "ledger", input: dict[str, Any] | None = None, **kw: Any
) -> SagaInstance:
    saga, _ = start_saga(saga_type, input or {}, **kw)
    return saga


def worker(**kw: Any) -> Worker:
    kw.setdefault("heartbeat", False)
    kw.setdefault("poll_interval", 0)
    kw.setdefault("lease_seconds", 30)
    return Worker(**kw)


def serve_participants(transport: DatabaseTransport | None = None) -> int:
    """Let every participant on the database transport answer its pending commands."""
    transport = transport or DatabaseTransport()
    return sum(
        transport.receive(participants.get(name))
        for name in participants.names()
        if directory.url(name) is None
    )


def settle(w: Worker, timeout: float = 20.0, also: Callable[[], int] | None = None) -> None:
    """Tick `w`, the participants and `also` until no saga is active; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    transport = DatabaseTransport()  # one for the whole run: it may hold copies to redeliver
    while time.monotonic() < deadline:
        moved = w.tick() + serve_participants(transport) + (also() if also else 0)
        if not w.held and not SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).exists():
            return
        if moved == 0:
            time.sleep(0.01)
    active = list(
        SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).values_list(
            "id", "status", "current_step", "next_run_at"
        )
    )
    raise AssertionError(f"sagas still active after {timeout}s: {active}")
