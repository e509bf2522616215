"""The overview's figures: counts by status, the last hour per minute and per saga type
(refusals, failures and sagas stopped for an operator apart, and p95 duration), and the
sagas that need an operator. Every query is served by an index (see
sagas/migrations/0004_dashboard_indexes.py), so it stays fast at a million sagas."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Value
from django.db.models.functions import TruncMinute

from sagas.engine.leases import database_now
from sagas.models import SagaEvent, SagaInstance
from sagas.registry import registry
from sagas.serializers import SUMMARY_FIELDS, iso
from sagas.services import retention
from sagas.statuses import ACTIVE_STATUSES, TERMINAL_STATUSES, CompensationCause, SagaStatus

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
    minutes, types = _window(start, now)
    return {
        "generated_at": iso(now),
        "last_event_id": SagaEvent.objects.aggregate(m=Max("id"))["m"] or 0,
        "counts": counts,
        "total": sum(counts.values()),
        "minutes": minutes,
        "last_hour": {k: sum(m[k] for m in minutes) for k in ("started", *OUTCOMES)},
        "types": types,
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
    committing when the baseline was counted. Sagas pruned since the baseline are taken
    off it by the pruner's per-status totals: retention never prunes a saga younger than
    RECOUNT + SETTLE (sagas/conf.py MIN_RETENTION_SECONDS), so each was in the baseline.
    """

    RECOUNT = 600.0
    SETTLE = timedelta(minutes=5)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._baseline: tuple[float, datetime, dict[str, int], dict[str, int]] | None = None

    def get(self, now: datetime) -> dict[str, int]:
        terminal = SagaInstance.objects.order_by().filter(status__in=TERMINAL_STATUSES)
        with self._lock:
            if self._baseline is None or time.monotonic() - self._baseline[0] > self.RECOUNT:
                watermark = now - self.SETTLE
                before = terminal.filter(finished_at__lt=watermark)
                for _ in range(3):  # a count that no prune committed during
                    pruned = retention.pruned_totals()
                    counted = dict(before.values_list("status").annotate(n=Count("*")))
                    if retention.pruned_totals() == pruned:
                        break
                self._baseline = (time.monotonic(), watermark, counted, pruned)
            _, watermark, counts, pruned_then = self._baseline
        pruned = retention.pruned_totals()
        since = terminal.filter(finished_at__gte=watermark)
        counts = {
            status: n - (pruned.get(status, 0) - pruned_then.get(status, 0))
            for status, n in counts.items()
        }
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


# What became of a saga that ended, as the overview counts it: a refusal (the business said
# no: a declined card) is not a failure (a step ran out of retries or timed out).
OUTCOMES = ("completed", "refused", "errors", "cancelled", "failed")
CAUSES = {
    CompensationCause.REFUSAL: "refused",
    CompensationCause.OPERATOR: "cancelled",
    CompensationCause.FAILURE: "errors",
    CompensationCause.NONE: "errors",  # compensated before causes were recorded
}


def outcome(status: str, cause: str) -> str | None:
    if status == SagaStatus.COMPLETED:
        return "completed"
    if status == SagaStatus.COMPENSATED:
        return CAUSES.get(cause, "errors")
    return "failed" if status == SagaStatus.FAILED else None


def _window(start: datetime, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The last hour per minute and per saga type, from three grouped queries: sagas started
    (created_at), ended (finished_at, saga_finished_idx) and failed (status, updated_at:
    saga_status_updated_idx; a failed saga has no finish time, it waits for an operator)."""
    minutes: dict[datetime, dict[str, Any]] = {}
    slot = start
    while slot <= now:
        minutes[slot] = {"minute": iso(slot), "started": 0, **dict.fromkeys(OUTCOMES, 0)}
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
    types: dict[str, dict[str, int]] = {}
    ended = (
        SagaInstance.objects.filter(finished_at__gte=start)
        .annotate(m=TruncMinute("finished_at"))
        .order_by()
        .values_list("m", "saga_type", "status", "compensation_cause")
        .annotate(n=Count("id"))
    )
    failed = (
        SagaInstance.objects.filter(status=SagaStatus.FAILED, updated_at__gte=start)
        .annotate(m=TruncMinute("updated_at"), cause=Value(""))
        .order_by()
        .values_list("m", "saga_type", "status", "cause")
        .annotate(n=Count("id"))
    )
    for minute, saga_type, status, cause, n in [*ended, *failed]:
        kind = outcome(status, cause)
        if kind is None:
            continue
        if minute in minutes:
            minutes[minute][kind] += n
        counts = types.setdefault(saga_type, dict.fromkeys(OUTCOMES, 0))
        counts[kind] += n
    for row in minutes.values():
        row["compensated"] = row["refused"] + row["errors"] + row["cancelled"]
    return list(minutes.values()), _per_type(start, types)


def _per_type(start: datetime, outcomes: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Sagas that ended in the window, per type: how many of each outcome, the share that
    failed (errors, timeouts, or stopped for an operator) and the share refused, apart, and
    the p95 start-to-finish duration."""
    p95 = _p95_seconds(start)
    table = []
    for saga_type in sorted(set(outcomes) | set(registry.names())):
        seen = outcomes.get(saga_type, dict.fromkeys(OUTCOMES, 0))
        ended = sum(seen.values())
        table.append(
            {
                "type": saga_type,
                **seen,
                "compensated": seen["refused"] + seen["errors"] + seen["cancelled"],
                "ended": ended,
                "failure_rate": (seen["errors"] + seen["failed"]) / ended if ended else None,
                "refusal_rate": seen["refused"] / ended if ended else None,
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
