"""Put sagas that fail into their problem (failure group), in the transaction that fails
them, and take them out of its open count when they leave `failed`; nothing scans the table.

The group's row is created with INSERT ... ON CONFLICT DO NOTHING and counted with
UPDATE ... SET n = n + k, so workers failing sagas of one cause at once neither collide nor
lose a count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q

from sagas import conf
from sagas.models import Problem, SagaInstance
from sagas.models.problems import SPARK_HOURS, hour_start
from sagas.registry import registry
from sagas.statuses import ACTIVE_STATUSES

from .fingerprint import Cause, cause

STUCK = "Stuck"  # the error class of the problems of sagas that stopped moving
WATCH_BATCH = 500  # sagas flagged or unflagged per watch, per worker

Status = Problem.Status


@dataclass(frozen=True)
class Failed:
    saga_id: object
    cause: Cause
    sample: str


def group(failed: list[Failed], left: list[tuple[object, int]], now: datetime) -> None:
    """`failed`: sagas that just entered `failed`; `left`: (saga, problem id) of sagas that
    just left it. Runs inside the caller's transaction."""
    _leave(pid for _, pid in left)
    for problem, fs in _problems_of(failed, now):
        _add(problem, len(fs), fs[-1].sample, now)
        SagaInstance.objects.filter(id__in=[f.saga_id for f in fs]).update(problem=problem)


def regroup_stuck(now: datetime) -> tuple[int, int]:
    """Count sagas with no progress past their type's threshold into a problem of their own
    (type, step, phase, "Stuck"), and take out those that moved since; returns (in, out).

    Every worker runs this now and then; each flag and unflag is a conditional UPDATE, so
    two workers at once count each saga once."""
    out = 0
    moved = SagaInstance.objects.filter(stuck_at__isnull=False).filter(
        Q(updated_at__gt=F("stuck_at")) | ~Q(status__in=ACTIVE_STATUSES)
    )
    for saga_id, stuck_at, problem_id in moved.values_list("id", "stuck_at", "stuck_problem_id")[
        :WATCH_BATCH
    ]:
        with transaction.atomic():
            if SagaInstance.objects.filter(id=saga_id, stuck_at=stuck_at).update(
                stuck_at=None, stuck_problem=None
            ):
                _leave([problem_id] if problem_id else [])
                out += 1
    return _flag_stuck(now), out


def _flag_stuck(now: datetime) -> int:
    shortest = min(conf.stuck_seconds(t) for t in [*registry.names(), "*"])
    candidates = SagaInstance.objects.filter(
        status__in=ACTIVE_STATUSES,
        stuck_at__isnull=True,
        updated_at__lt=now - timedelta(seconds=shortest),
    ).only("id", "saga_type", "current_step", "phase", "definition_steps", "updated_at")
    found: list[Failed] = []
    for row in candidates.order_by("updated_at")[:WATCH_BATCH]:
        limit = conf.stuck_seconds(row.saga_type)
        if (now - row.updated_at).total_seconds() < limit:
            continue
        steps = row.definition_steps or []
        step = steps[row.current_step] if row.current_step < len(steps) else ""
        message = f"no progress for more than {limit:g} s"
        found.append(Failed(row.id, cause(row.saga_type, step, row.phase, STUCK, message), message))
    flagged = 0
    for problem, fs in _problems_of(found, now, lock=False):
        for f in fs:
            with transaction.atomic():
                threshold = now - timedelta(seconds=conf.stuck_seconds(problem.saga_type))
                if not SagaInstance.objects.filter(
                    id=f.saga_id, stuck_at__isnull=True, updated_at__lt=threshold
                ).update(stuck_at=now, stuck_problem=problem):
                    continue  # it moved, or another worker counted it
                _add(Problem.objects.select_for_update().get(id=problem.id), 1, f.sample, now)
                flagged += 1
    return flagged


def _problems_of(
    failed: list[Failed], now: datetime, lock: bool = True
) -> list[tuple[Problem, list[Failed]]]:
    """Each cause's problem (created if new), with its sagas; locked unless `lock` is off."""
    if not failed:
        return []
    by_print: dict[str, list[Failed]] = defaultdict(list)
    for f in failed:
        by_print[f.cause.fingerprint].append(f)
    Problem.objects.bulk_create(
        [_new(fs[0], now) for fs in by_print.values()], ignore_conflicts=True
    )
    problems = Problem.objects.filter(fingerprint__in=list(by_print)).order_by("id")
    if lock:
        problems = problems.select_for_update()
    return [(p, by_print[p.fingerprint]) for p in problems]


def _leave(problem_ids: Iterable[int]) -> None:
    for problem_id, n in _count(problem_ids).items():
        Problem.objects.filter(id=problem_id).update(open_count=F("open_count") - n)


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


def _count(ids: Iterable[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for i in ids:
        counts[i] += 1
    return counts
