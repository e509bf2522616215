"""What each rule kind finds in the tables now: one Finding per key (a problem, a saga
type, the outbox). Read-only queries, each served by an index; evaluate.py turns findings
into alerts, deduplicated and throttled.

The problem kinds fire once per key ever (a problem is new once; each regression has its
own key); the other kinds are conditions, whose alert resolves when the condition ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q, QuerySet

from sagas.messaging.outbox import EXPIRED, EXPIRED_AFTER_PUBLISH, WITHDRAWN
from sagas.models import AlertRule, OutboxMessage, Problem, ProcessHeartbeat, SagaInstance
from sagas.models.alerts import AlertKind
from sagas.statuses import ACTIVE_STATUSES, SagaStatus

LISTED = 200  # findings per rule and evaluation, at most


@dataclass(frozen=True)
class Finding:
    key: str
    title: str
    text: str


ONCE_PER_KEY = {AlertKind.NEW_PROBLEM, AlertKind.REGRESSION}


def find(rule: AlertRule, now: datetime) -> list[Finding]:
    return FINDERS[rule.kind](rule, rule.params, now)[:LISTED]


def _problem(p: Problem) -> str:
    where = f"{p.saga_type}.{p.step or '-'} ({p.phase or '-'})"
    return f"{where} {p.error_type}: {p.message[:300]}\n{p.open_count} saga(s) need an operator."


def _new_problems(rule: AlertRule, params: dict, now: datetime) -> list[Finding]:
    problems = Problem.objects.filter(
        status=Problem.Status.OPEN, open_count__gt=0, first_seen__gte=rule.created_at
    ).order_by("first_seen")
    return [
        Finding(f"problem:{p.id}", f"New problem in {p.saga_type}: {p.error_type}", _problem(p))
        for p in problems[:LISTED]
    ]


def _regressions(rule: AlertRule, params: dict, now: datetime) -> list[Finding]:
    problems = Problem.objects.filter(
        status=Problem.Status.OPEN, regressed_at__gte=rule.created_at
    ).order_by("regressed_at")
    return [
        Finding(
            f"problem:{p.id}:{int(p.regressed_at.timestamp())}",
            f"Problem regressed in {p.saga_type}: {p.error_type}",
            _problem(p),
        )
        for p in problems[:LISTED]
        if p.regressed_at is not None
    ]


def _typed(rule: AlertRule, qs: QuerySet[SagaInstance]) -> QuerySet[SagaInstance]:
    return qs.filter(saga_type=rule.saga_type) if rule.saga_type else qs


def _failure_burst(rule: AlertRule, params: dict, now: datetime) -> list[Finding]:
    since = now - timedelta(minutes=params["minutes"])
    failed = _typed(rule, SagaInstance.objects.order_by()).filter(
        status=SagaStatus.FAILED, updated_at__gte=since
    )
    counts = failed.values("saga_type").annotate(n=Count("id")).filter(n__gt=params["count"])
    return [
        Finding(
            f"type:{row['saga_type']}",
            f"{row['n']} {row['saga_type']} sagas failed in {params['minutes']} min",
            f"More than {params['count']} sagas of type {row['saga_type']} failed in the last "
            f"{params['minutes']} minutes ({row['n']}); they need an operator.",
        )
        for row in counts.order_by("saga_type")
    ]


def _compensation_rate(rule: AlertRule, params: dict, now: datetime) -> list[Finding]:
    since = now - timedelta(minutes=params["minutes"])
    finished = _typed(rule, SagaInstance.objects.order_by()).filter(
        finished_at__gte=since, status__in=[SagaStatus.COMPLETED, SagaStatus.COMPENSATED]
    )
    by_type: dict[str, dict[str, int]] = defaultdict(dict)
    for row in finished.values("saga_type", "status").annotate(n=Count("id")):
        by_type[row["saga_type"]][row["status"]] = row["n"]
    findings = []
    for saga_type, counts in sorted(by_type.items()):
        total = sum(counts.values())
        compensated = counts.get(SagaStatus.COMPENSATED, 0)
        rate = 100.0 * compensated / total
        if total >= params["min_sagas"] and rate > params["percent"]:
            findings.append(
                Finding(
                    f"type:{saga_type}",
                    f"{rate:.0f}% of {saga_type} sagas compensated",
                    f"{compensated} of the {total} {saga_type} sagas finished in the last "
                    f"{params['minutes']} minutes were compensated (threshold "
                    f"{params['percent']}%).",
                )
            )
    return findings


def _stuck(rule: AlertRule, params: dict, now: datetime) -> list[Finding]:
    status = SagaStatus.RUNNING if params["phase"] == "forward" else SagaStatus.COMPENSATING
    stuck = _typed(rule, SagaInstance.objects.order_by()).filter(
        status=status, updated_at__lt=now - timedelta(seconds=params["seconds"])
    )
    rows = stuck.values("saga_type").annotate(n=Count("id"), oldest=Min("updated_at"))
    return [
        Finding(
            f"type:{row['saga_type']}",
            f"{row['n']} {row['saga_type']} sagas stuck {status}",
            f"{row['n']} {row['saga_type']} sagas have made no progress {params['phase']} for "
            f"over {params['seconds']} s; the oldest since "
            f"{row['oldest'].isoformat(timespec='seconds')}.",
        )
        for row in rows.order_by("saga_type")
    ]


def _dead_letters(rule: AlertRule, params: dict, now: datetime) -> list[Finding]:
    # A command buried because its attempt timed out first is routine (a retry supersedes
    # it); a poison message or a refused answer is what an operator must see.
    dead = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.DEAD, sent_at__gte=now - timedelta(minutes=params["minutes"])
    ).exclude(Q(last_error__in=[EXPIRED, EXPIRED_AFTER_PUBLISH, WITHDRAWN]))
    n = dead.count()
    if n <= params["count"]:
        return []
    return [
        Finding(
            "outbox",
            f"{n} dead letters in the outbox",
            f"{n} messages were set aside in the last {params['minutes']} minutes, each with "
            "its reason on the Outbox page.",
        )
    ]


def _backlog(rule: AlertRule, params: dict, now: datetime) -> list[Finding]:
    due = SagaInstance.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now),
        status__in=ACTIVE_STATUSES,
        next_run_at__lte=now,
    )
    oldest = due.aggregate(at=Min("next_run_at"))["at"]
    if oldest is None or (now - oldest).total_seconds() <= params["seconds"]:
        return []
    waited = (now - oldest).total_seconds()
    return [
        Finding(
            "backlog",
            f"Sagas wait {waited:.0f} s for a worker",
            f"The oldest due saga has waited {waited:.0f} s (threshold {params['seconds']} s): "
            "the workers do not keep up, or none runs.",
        )
    ]


def _no_live_worker(rule: AlertRule, params: dict, now: datetime) -> list[Finding]:
    # Relays evaluate too (run_relay), so a stack whose every worker died still says so.
    workers = ProcessHeartbeat.objects.filter(kind=ProcessHeartbeat.Kind.WORKER)
    newest = workers.aggregate(at=Max("last_beat"))["at"]
    if newest is not None and (now - newest).total_seconds() <= params["seconds"]:
        return []
    since = "ever" if newest is None else f"for {(now - newest).total_seconds():.0f} s"
    return [
        Finding(
            "workers",
            "No live worker",
            f"No worker process has beaten {since} (threshold {params['seconds']} s): "
            "no saga moves until one runs (manage.py run_worker).",
        )
    ]


FINDERS: dict[str, Callable[[AlertRule, dict, datetime], list[Finding]]] = {
    AlertKind.NEW_PROBLEM: _new_problems,
    AlertKind.REGRESSION: _regressions,
    AlertKind.FAILURE_BURST: _failure_burst,
    AlertKind.COMPENSATION_RATE: _compensation_rate,
    AlertKind.STUCK: _stuck,
    AlertKind.DEAD_LETTERS: _dead_letters,
    AlertKind.BACKLOG: _backlog,
    AlertKind.NO_LIVE_WORKER: _no_live_worker,
}
