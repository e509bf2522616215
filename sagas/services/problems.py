"""The failure groups (sagas/engine/problems.py groups sagas into them as they fail): the
list an operator triages, most open first, and triage itself (resolve, ignore, snooze,
reopen, assign, note, ticket), each checked against the triage permission and audited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, QuerySet

from sagas.engine.leases import database_now
from sagas.exceptions import SagaError
from sagas.models import Problem, ProblemChange, SagaInstance

from . import saga_query
from .actors import TRIAGE, Actor, require

MAX_LIMIT = 500
MAX_NOTE = 5000
MAX_SNOOZE_FAILURES = 1_000_000
Status = Problem.Status


class InvalidTriage(SagaError):
    """A triage request with a missing or bad value; `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class ProblemNotFound(SagaError):
    """No problem has this id."""


@dataclass(frozen=True)
class Triage:
    """What an operator asks of a problem. Only the fields its action reads are used."""

    action: str
    until: datetime | None = None  # snooze: until this time ...
    failures: int | None = None  # ... or until this many more sagas fail in it
    owner: str | None = None  # assign: a username, or "" to unassign
    note: str | None = None
    ticket_url: str | None = None


ACTIONS = ("resolve", "ignore", "reopen", "snooze", "assign", "note", "ticket")


def listing(
    saga_type: str | None = None,
    step: str | None = None,
    status: str | None = None,
    limit: int = 100,
    waiting: bool = False,
    ids: Collection[int] | None = None,
) -> QuerySet[Problem]:
    """Most open first, then most recent; `waiting`: only groups with sagas open in them;
    `ids`: only these groups."""
    problems = Problem.objects.select_related("owner")
    if ids is not None:
        problems = problems.filter(id__in=list(ids))
    if waiting:
        problems = problems.filter(open_count__gt=0)
    if saga_type:
        problems = problems.filter(saga_type=saga_type)
    if step:
        problems = problems.filter(step=step)
    if status:
        problems = problems.filter(Problem.in_status(status, database_now()))
    return problems.order_by("-open_count", "-last_seen", "-id")[: max(1, min(limit, MAX_LIMIT))]


def matching_counts(query: str) -> dict[int, int]:
    """How many of the sagas each group ever held (failed in it, or counted as stuck) the
    query matches, by group id; groups with none are left out. Under the search time
    limit; QuerySyntaxError or QueryTooSlow say what is wrong."""
    counts: Counter[int] = Counter()
    with saga_query.bounded():
        for column in ("problem", "stuck_problem"):
            held = SagaInstance.objects.filter(**{f"{column}__isnull": False})
            rows = (
                saga_query.matching(held, query)
                .order_by()
                .values_list(f"{column}_id")
                .annotate(n=Count("id"))
            )
            counts.update(dict(rows))
    return dict(counts)


def triage(problem_id: int, request: Triage, actor: Actor) -> Problem:
    """Apply `request` to the problem and audit it; raises
    PermissionDenied, ProblemNotFound or InvalidTriage."""
    require(actor, TRIAGE)
    if request.action not in ACTIONS:
        raise InvalidTriage(f"action must be one of {', '.join(ACTIONS)}", "action")
    with transaction.atomic():
        problem = Problem.objects.select_for_update().filter(id=problem_id).first()
        if problem is None:
            raise ProblemNotFound(f"no problem has id {problem_id}")
        before = problem.status
        now = database_now()
        detail = _apply(problem, request, now)
        problem.save()
        ProblemChange.objects.create(
            problem=problem,
            user=actor.user,
            actor=actor.name,
            action=request.action,
            status_before=before,
            status_after=problem.status,
            detail=detail,
            created_at=now,
        )
    return problem


def _apply(problem: Problem, r: Triage, now: datetime) -> dict[str, Any]:
    if r.action in ("resolve", "ignore", "reopen"):
        problem.status = {"resolve": Status.RESOLVED, "ignore": Status.IGNORED}.get(
            r.action, Status.OPEN
        )
        problem.resolved_at = now if r.action == "resolve" else None
        problem.snoozed_until = problem.snooze_failures = None
        return {}
    if r.action == "snooze":
        if (r.until is None) == (r.failures is None):
            raise InvalidTriage("snooze until a time or for a number of failures (one)", "until")
        if r.until is not None and r.until <= now:
            raise InvalidTriage("until must be in the future", "until")
        if r.failures is not None and not 1 <= r.failures <= MAX_SNOOZE_FAILURES:
            raise InvalidTriage(f"failures must be 1 to {MAX_SNOOZE_FAILURES}", "failures")
        problem.status, problem.resolved_at = Status.SNOOZED, None
        problem.snoozed_until, problem.snooze_failures = r.until, r.failures
        return {"until": r.until.isoformat() if r.until else None, "failures": r.failures}
    if r.action == "assign":
        if r.owner is None:
            raise InvalidTriage("owner is required (a username, or empty to unassign)", "owner")
        problem.owner = _staff(r.owner) if r.owner else None
        return {"owner": r.owner}
    if r.action == "note":
        note = r.note if r.note is not None else ""
        if len(note) > MAX_NOTE:
            raise InvalidTriage(f"note is {len(note)} characters; at most {MAX_NOTE}", "note")
        problem.note = note
        return {"note": note[:200]}
    url = (r.ticket_url or "").strip()
    if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise InvalidTriage("ticket_url must be an http(s) address, or empty", "ticket_url")
    if len(url) > 500:
        raise InvalidTriage("ticket_url is longer than 500 characters", "ticket_url")
    problem.ticket_url = url
    return {"ticket_url": url}


def _staff(username: str) -> Any:
    user = get_user_model().objects.filter(username=username, is_active=True, is_staff=True)
    found = user.first()
    if found is None:
        raise InvalidTriage(f"no active staff user is named {username!r}", "owner")
    return found
