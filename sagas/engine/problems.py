"""Put sagas that fail into their problem (failure group), in the transaction that fails
them, and take them out of its open count when they leave `failed`; nothing scans the table.

The group's row is created with INSERT ... ON CONFLICT DO NOTHING and counted with
UPDATE ... SET n = n + k, so workers failing sagas of one cause at once neither collide nor
lose a count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F

from sagas.models import Problem, SagaInstance
from sagas.models.problems import SPARK_HOURS, hour_start

from .fingerprint import Cause

Status = Problem.Status


@dataclass(frozen=True)
class Failed:
    saga_id: object
    cause: Cause
    sample: str


def group(failed: list[Failed], left: list[tuple[object, int]], now: datetime) -> None:
    """`failed`: sagas that just entered `failed`; `left`: (saga, problem id) of sagas that
    just left it. Runs inside the caller's transaction."""
    for problem_id, n in _count(pid for _, pid in left).items():
        Problem.objects.filter(id=problem_id).update(open_count=F("open_count") - n)
    if not failed:
        return
    by_print: dict[str, list[Failed]] = defaultdict(list)
    for f in failed:
        by_print[f.cause.fingerprint].append(f)
    Problem.objects.bulk_create(
        [_new(fs[0], now) for fs in by_print.values()], ignore_conflicts=True
    )
    problems = Problem.objects.select_for_update().filter(fingerprint__in=list(by_print))
    for problem in problems.order_by("id"):
        fs = by_print[problem.fingerprint]
        _add(problem, len(fs), fs[-1].sample, now)
        SagaInstance.objects.filter(id__in=[f.saga_id for f in fs]).update(problem=problem)


def _new(f: Failed, now: datetime) -> Problem:
    c = f.cause
    return Problem(
        fingerprint=c.fingerprint,
        saga_type=c.saga_type,
        step=c.step,
        phase=c.phase,
        error_type=c.error_type[:200],
        message=c.message,
        sample=f.sample,
        first_seen=now,
        last_seen=now,
    )


def _add(problem: Problem, n: int, sample: str, now: datetime) -> None:
    hourly = {
        h: c for h, c in problem.hourly.items() if int(h) > now.timestamp() - SPARK_HOURS * 3600
    }
    hour = str(hour_start(now))
    hourly[hour] = hourly.get(hour, 0) + n
    problem.hourly = hourly
    problem.last_seen = now
    problem.sample = sample
    problem.open_count += n
    problem.total_count += n
    if problem.status == Status.RESOLVED:
        problem.status, problem.regressed_at, problem.resolved_at = Status.OPEN, now, None
    elif problem.status == Status.SNOOZED and _wakes(problem, n, now):
        problem.status, problem.snoozed_until, problem.snooze_failures = Status.OPEN, None, None
    elif problem.status == Status.SNOOZED and problem.snooze_failures is not None:
        problem.snooze_failures -= n
    problem.save(
        update_fields=[
            "hourly",
            "last_seen",
            "sample",
            "open_count",
            "total_count",
            "status",
            "regressed_at",
            "resolved_at",
            "snoozed_until",
            "snooze_failures",
        ]
    )


def _wakes(problem: Problem, n: int, now: datetime) -> bool:
    if problem.snoozed_until is not None and problem.snoozed_until <= now:
        return True
    return problem.snooze_failures is not None and problem.snooze_failures <= n


def _count(ids) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for i in ids:
        counts[i] += 1
    return counts
