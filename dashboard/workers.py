"""The Workers page's figures: every process with a heartbeat (red once silent for longer
than its lease time), the due backlog, the outbox per destination, the relay and its
circuits (the same description the outbox page shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sagas.engine.leases import database_now
from sagas.messaging import circuits, directory
from sagas.serializers import iso
from sagas.services import operations


def compute(now: datetime | None = None) -> dict[str, Any]:
    now = now or database_now()
    processes = [
        {**p, "started_at": iso(p["started_at"]), "last_beat": iso(p["last_beat"])}
        for p in operations.processes(now)
    ]
    backlog = operations.due_backlog(now)
    relays = [p for p in processes if p["kind"] == "relay"]
    return {
        "generated_at": iso(now),
        "processes": processes,
        "backlog": {"due": backlog.due, "oldest_age_seconds": backlog.oldest_age_seconds},
        "outbox": operations.outbox_by_destination(now),
        "relay": {
            "alive": sum(1 for p in relays if p["alive"]),
            "silent": sum(1 for p in relays if not p["alive"]),
            # The participants only a relay reaches: with none alive, their commands wait.
            "http_destinations": directory.http_participants(),
        },
        "circuits": circuits.describe_all(now),
    }
