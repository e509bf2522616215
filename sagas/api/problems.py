"""GET /api/problems: the failure groups, most open first (see sagas/engine/problems.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema
from pydantic import Field

from sagas import serializers
from sagas.engine.leases import database_now
from sagas.services import problems
from sagas.services.actors import READ_SAGAS, require
from sagas.services.problems import MAX_NOTE, Triage
from sagas.services.saga_query.syntax import MAX_LENGTH as MAX_QUERY

from .auth import actor_of
from .schemas import MessageOut

router = Router(tags=["problems"])
ERRORS = {400: MessageOut, 401: MessageOut, 403: MessageOut, 422: MessageOut}
Status = Literal["open", "snoozed", "resolved", "ignored"]
MAX_ID = 2**63 - 1  # a bigint primary key
Action = Literal["resolve", "ignore", "reopen", "snooze", "assign", "note", "ticket"]


class ProblemFilters(Schema):
    type: str | None = Field(None, max_length=100)
    step: str | None = Field(None, max_length=100)
    status: Status | None = None
    # The search language: only the groups holding sagas it matches, with how many.
    query: str | None = Field(None, max_length=MAX_QUERY)
    limit: int = Field(100, ge=1, le=problems.MAX_LIMIT)


class ProblemOut(Schema):
    id: int
    fingerprint: str
    type: str
    step: str
    phase: str
    error_type: str
    message: str = Field(description="the error message with ids, numbers and values replaced")
    sample: str = Field(description="the latest message of the group, as it was said")
    first_seen: datetime
    last_seen: datetime
    open_count: int = Field(description="sagas in the group that still need an operator")
    total_count: int = Field(description="failures ever grouped here")
    hourly: list[int] = Field(description="failures per hour over the last 24 hours, oldest first")
    status: Status
    snoozed_until: datetime | None
    snooze_failures: int | None
    regressed_at: datetime | None
    resolved_at: datetime | None
    owner: str | None
    note: str
    ticket_url: str
    matching: int | None = Field(
        None, description="with `query`: the sagas the group ever held that the query matches"
    )


@router.get(
    "/problems",
    response={200: list[ProblemOut], **ERRORS},
    summary="Failure groups: the sagas that need an operator, grouped by cause",
)
def list_problems(request: HttpRequest, filters: Query[ProblemFilters]) -> list[dict]:
    require(actor_of(request), READ_SAGAS, "problems")
    query = (filters.query or "").strip()
    counts = problems.matching_counts(query) if query else None
    found = problems.listing(filters.type, filters.step, filters.status, filters.limit, ids=counts)
    now = database_now()
    shown = [serializers.problem(p, now) for p in found]
    for p in shown if counts is not None else []:
        p["matching"] = counts[p["id"]]
    return shown


class TriageIn(Schema):
    until: datetime | None = Field(None, description="snooze: until this time")
    failures: int | None = Field(None, description="snooze: until this many more sagas fail")
    owner: str | None = Field(None, max_length=150, description="assign: a username, or empty")
    note: str | None = Field(None, max_length=MAX_NOTE)
    ticket_url: str | None = Field(None, max_length=500)


@router.post(
    "/problems/{problem_id}/{action}",
    response={200: ProblemOut, 404: MessageOut, **ERRORS},
    summary="Triage a problem: resolve, ignore, reopen, snooze, assign, note or ticket",
)
def triage_problem(
    request: HttpRequest,
    action: Action,
    problem_id: int = Path(..., ge=1, le=MAX_ID),
    body: TriageIn | None = None,
) -> dict:
    fields = body.model_dump() if body is not None else {}
    done = problems.triage(problem_id, Triage(action=action, **fields), actor_of(request))
    return serializers.problem(done, database_now())
