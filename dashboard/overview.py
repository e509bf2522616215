"""The overview's figures: counts by status, the last hour per minute, failure rate and p95
duration per saga type, and the sagas that need an operator. Every query is served by an
index (see sagas/migrations/0004_dashboard_indexes.py), so it stays fast at a million sagas."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max
from django.db.models.functions import TruncMinute

from sagas.engine.leases import database_now
from sagas.models import SagaEvent, SagaInstance
from sagas.registry import registry
from sagas.serializers import SUMMARY_FIELDS, iso
from sagas.statuses import ACTIVE_STATUSES, TERMINAL_STATUSES, SagaStatus

from . import conf, payloads, problems

WINDOW = timedelta(hours=1)
LISTED = 50  # sagas per "needs an operator" list


def compute(now: datetime | None = None) -> dict[str, Any]:
    now = now or database_now()
    start = (now - WINDOW).replace(second=0, microsecond=0) + timedelta(minutes=1)
    rows = SagaInstance.objects.order_by()
    counts = {status: 0 for status in SagaStatus.values}
    open_statuses = [*ACTIVE_STATUSES, SagaStatus.FAILED]
    counts.update(
        dict(rows.filter(status__in=open_statuses).values_list("status").annotate(n=Count("*")))
    )
    counts.update(terminal_counts.get(now))
    return {
        "generated_at": iso(now),
        "last_event_id": SagaEvent.objects.aggregate(m=Max("id"))["m"] or 0,
        "counts": counts,
        "total": sum(counts.values()),
        "minutes": _per_minute(start, now),
        "types": _per_type(start),
        "failed": [payloads.list_row(s) for s in _failed()],
        "stuck": _stuck(now),
        "problems": problems.top_open(),
        "recent": [
            payloads.list_row(s)
            for s in rows.order_by("-created_at", "-id").only(*SUMMARY_FIELDS)[:10]
        ],
    }


class TerminalCounts:
    """How many sagas completed and compensated, without counting a million rows each time.

    Terminal statuses never change, so the rows finished before a watermark are counted
    once (and again every RECOUNT seconds, which also catches deleted sagas); each call
    adds the few finished since, through the finished_at index. The watermark trails the
    clock by SETTLE: a transaction that stamped finished_at just before it could still be
    committing when the baseline was counted.
    """

    RECOUNT = 600.0
    SETTLE = timedelta(minutes=5)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._baseline: tuple[float, datetime, dict[str, int]] | None = None

    def get(self, now: datetime) -> dict[str, int]:
        terminal = SagaInstance.objects.order_by().filter(status__in=TERMINAL_STATUSES)
        with self._lock:
            if self._baseline is None or time.monotonic() - self._baseline[0] > self.RECOUNT:
                watermark = now - self.SETTLE
                before = terminal.filter(finished_at__lt=watermark)
                counted = dict(before.values_list("status").annotate(n=Count("*")))
                self._baseline = (time.monotonic(), watermark, counted)
            _, watermark, counts = self._baseline
        since = terminal.filter(finished_at__gte=watermark)
        counts = dict(counts)
        for status, n in since.values_list("status").annotate(n=Count("*")):
            counts[status] = counts.get(status, 0) + n
        return {status: counts.get(status, 0) for status in TERMINAL_STATUSES}

    def reset(self) -> None:
        with self._lock:
            self._baseline = None


terminal_counts = TerminalCounts()

_cache_lock = threading.Lock()
_cache: tuple[float, dict[str, Any]] | None = None


def cached(max_age: float) -> dict[str, Any]:
    """The overview, computed at most once per `max_age` seconds in this process, so a
    hundred open overview pages cost one set of queries."""
    global _cache
    with _cache_lock:
        if _cache is not None and time.monotonic() - _cache[0] < max_age:
            return _cache[1]
        data = compute()
        _cache = (time.monotonic(), data)
        return data


def _per_minute(start: datetime, now: datetime) -> list[dict[str, Any]]:
    minutes: dict[datetime, dict[str, Any]] = {}
    slot = start
    while slot <= now:
        minutes[slot] = {"minute": iso(slot), "started": 0, "completed": 0}
        minutes[slot]["compensated"] = 0
        slot += timedelta(minutes=1)
    started = (
        SagaInstance.objects.filter(created_at__gte=start)
        .annotate(m=TruncMinute("created_at"))
        .order_by()
        .values_list("m")
        .annotate(n=Count("id"))
    )
    for minute, n in started:
        if minute in minutes:
            minutes[minute]["started"] = n
    ended = (
        SagaInstance.objects.filter(finished_at__gte=start)
        .annotate(m=TruncMinute("finished_at"))
        .order_by()
        .values_list("m", "status")
        .annotate(n=Count("id"))
    )
    for minute, status, n in ended:
        if minute in minutes and status in ("completed", "compensated"):
            minutes[minute][status] = n
    return list(minutes.values())


def _per_type(start: datetime) -> list[dict[str, Any]]:
    """Sagas that ended in the window, per type: how many of each outcome, the share that
    did not complete, and the p95 start-to-finish duration."""
    outcomes: dict[str, dict[str, int]] = {}
    ended = (
        SagaInstance.objects.filter(finished_at__gte=start)
        .order_by()
        .values_list("saga_type", "status")
        .annotate(n=Count("id"))
    )
    for saga_type, status, n in ended:
        outcomes.setdefault(saga_type, {})[status] = n
    # A failed saga has no finish time: it waits for an operator since its last change.
    failed = (
        SagaInstance.objects.filter(status=SagaStatus.FAILED, updated_at__gte=start)
        .order_by()
        .values_list("saga_type")
        .annotate(n=Count("id"))
    )
    for saga_type, n in failed:
        outcomes.setdefault(saga_type, {})["failed"] = n
    p95 = _p95_seconds(start)
    table = []
    for saga_type in sorted(set(outcomes) | set(registry.names())):
        seen = outcomes.get(saga_type, {})
        completed, compensated = seen.get("completed", 0), seen.get("compensated", 0)
        failed_n = seen.get("failed", 0)
        ended_n = completed + compensated + failed_n
        table.append(
            {
                "type": saga_type,
                "completed": completed,
                "compensated": compensated,
                "failed": failed_n,
                "failure_rate": (compensated + failed_n) / ended_n if ended_n else None,
                "p95_seconds": p95.get(saga_type),
            }
        )
    return table


def _p95_seconds(start: datetime) -> dict[str, float]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT saga_type, percentile_cont(0.95) WITHIN GROUP "
                "(ORDER BY EXTRACT(EPOCH FROM finished_at - created_at)) "
                "FROM sagas_sagainstance WHERE finished_at >= %s GROUP BY saga_type",
                [start],
            )
            return {saga_type: float(value) for saga_type, value in cursor.fetchall()}
    # SQLite (the embedded demo) has no percentile: an hour of one machine's sagas is small.
    durations: dict[str, list[float]] = {}
    for saga_type, created, finished in SagaInstance.objects.filter(
        finished_at__gte=start
    ).values_list("saga_type", "created_at", "finished_at"):
        durations.setdefault(saga_type, []).append((finished - created).total_seconds())
    return {t: _percentile(sorted(values), 0.95) for t, values in durations.items()}


def _percentile(ordered: list[float], q: float) -> float:
    # Linear interpolation between closest ranks, as PostgreSQL's percentile_cont.
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _failed() -> list[SagaInstance]:
    return list(
        SagaInstance.objects.filter(status=SagaStatus.FAILED)
        .order_by("-updated_at")
        .only(*SUMMARY_FIELDS)[:LISTED]
    )


def _stuck(now: datetime) -> list[dict[str, Any]]:
    """Active sagas with no change for longer than their type's threshold, oldest first."""
    shortest = min(conf.stuck_seconds(t) for t in [*registry.names(), "*"])
    candidates = (
        SagaInstance.objects.filter(
            status__in=ACTIVE_STATUSES, updated_at__lt=now - timedelta(seconds=shortest)
        )
        .order_by("updated_at")
        .only(*SUMMARY_FIELDS)[: LISTED * 10]
    )
    stuck = []
    for saga in candidates:
        idle = (now - saga.updated_at).total_seconds()
        if idle >= conf.stuck_seconds(saga.saga_type):
            stuck.append({**payloads.list_row(saga), "idle_seconds": round(idle)})
        if len(stuck) >= LISTED:
            break
    return stuck
