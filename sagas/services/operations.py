"""Figures of the machinery, read by /metrics and the Workers page alike: the due backlog,
the outbox per destination, the processes and their heartbeats. Each is one or two
aggregate queries served by a partial index, so a scrape stays cheap at millions of sagas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q, Sum

from sagas.models import MetricCounter, OutboxMessage, Problem, ProcessHeartbeat, SagaInstance
from sagas.statuses import ACTIVE_STATUSES, SagaStatus

# Sagas not finished: moving (running, compensating) or waiting for an operator (failed).
UNFINISHED = (*ACTIVE_STATUSES, SagaStatus.FAILED)


@dataclass(frozen=True)
class Backlog:
    """Active sagas due now that no worker holds: what the workers have yet to pick up."""

    due: int
    oldest_age_seconds: float | None


def age(now: datetime, then: datetime | None) -> float | None:
    return round(max(0.0, (now - then).total_seconds()), 1) if then is not None else None


def due_backlog(now: datetime) -> Backlog:
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    idle = Q(busy_until__isnull=True) | Q(busy_until__lte=now)
    figures = (
        SagaInstance.objects.filter(status__in=ACTIVE_STATUSES, next_run_at__lte=now)
        .filter(free, idle)
        .order_by()
        .aggregate(n=Count("id"), oldest=Min("next_run_at"))
    )
    return Backlog(figures["n"], age(now, figures["oldest"]))


def unfinished_by_status() -> dict[str, int]:
    """Every unfinished status, with 0 for those that have no saga."""
    counts = dict(
        SagaInstance.objects.filter(status__in=UNFINISHED)
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))  # count(*): an index-only scan; count(id) reads the rows
    )
    return {str(status): counts.get(status, 0) for status in UNFINISHED}


def ended_by_outcome() -> dict[str, int]:
    """Sagas ended so far, by every process, by outcome (completed, compensated, failed):
    the /metrics totals, which each transition adds to as it commits (engine/tally.py)."""
    rows = (
        MetricCounter.objects.filter(name="finished")
        .order_by()
        .values_list("label")
        .annotate(n=Sum("value"))
    )
    return {label: int(n) for label, n in rows}


def outbox_by_destination(now: datetime) -> list[dict[str, Any]]:
    """Per destination: messages not yet sent, the oldest one's age, and dead letters."""
    table: dict[str, dict[str, Any]] = {}
    pending = (
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING)
        .order_by()
        .values_list("destination")
        .annotate(n=Count("*"), oldest=Min("created_at"))
    )
    for destination, n, oldest in pending:
        table[destination] = {"pending": n, "oldest_age_seconds": age(now, oldest), "dead": 0}
    dead = (
        OutboxMessage.objects.filter(status=OutboxMessage.Status.DEAD)
        .order_by()
        .values_list("destination")
        .annotate(n=Count("*"))
    )
    for destination, n in dead:
        row = table.setdefault(destination, {"pending": 0, "oldest_age_seconds": None})
        row["dead"] = n
    return [{"destination": d, **table[d]} for d in sorted(table)]


def problems_open() -> tuple[int, int]:
    """Open failure groups, and the sagas in them that still need an operator."""
    figures = Problem.objects.filter(status=Problem.Status.OPEN).aggregate(
        groups=Count("id"), sagas=Sum("open_count")
    )
    return figures["groups"], figures["sagas"] or 0


def processes(now: datetime) -> list[dict[str, Any]]:
    """Every process with a heartbeat row; `alive` while its last beat is within its
    window (its lease time)."""
    rows = []
    for p in ProcessHeartbeat.objects.all():
        silent = max(0.0, (now - p.last_beat).total_seconds())
        rows.append(
            {
                "process_id": p.process_id,
                "kind": p.kind,
                "name": p.name,
                "host": p.host,
                "pid": p.pid,
                "started_at": p.started_at,
                "last_beat": p.last_beat,
                "silent_seconds": round(silent, 1),
                "lease_seconds": p.lease_seconds,
                "alive": silent <= p.lease_seconds,
                "leases_held": p.leases_held,
                "transitions": p.transitions,
                "transitions_per_second": p.transitions_per_second,
            }
        )
    return rows
