"""The Problems page (failure groups, most open first) and its triage buttons. The service
layer (sagas.services.problems) checks the permission, validates and audits."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from sagas import serializers
from sagas.engine.leases import database_now
from sagas.exceptions import SagaError
from sagas.models import Problem
from sagas.registry import registry
from sagas.services import problems as service
from sagas.services.actors import TRIAGE, Actor
from sagas.services.queries import InvalidQuery
from sagas.services.saga_query.syntax import MAX_LENGTH as MAX_QUERY

from .. import problems as figures
from ..refusals import Refusal, json_refusal

MAX_ID = 2**63 - 1  # a bigint primary key
SNOOZES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


@staff_member_required(login_url="login")
def problems(request: HttpRequest) -> HttpResponse:
    context = {
        "page": "problems",
        "types": registry.names(),
        "statuses": Problem.Status.choices,
        "can_triage": Actor.of_user(request.user).may(TRIAGE),
    }
    try:
        query = figures.parse(request.GET)
    except InvalidQuery as exc:
        context.update(error=str(exc), field=exc.field, query=figures.ProblemFilters())
        if exc.field == "query":  # the box keeps the text, to be corrected
            typed = (request.GET.get("q") or "")[:MAX_QUERY]
            context["query"] = figures.ProblemFilters(q=typed)
        return render(request, "dashboard/problems.html", context, status=400)
    data = {**figures.compute(query), "params": query.params()}
    context.update(query=query, data=data)
    return render(request, "dashboard/problems.html", context)


@require_POST
@staff_member_required(login_url="login")
def problem_triage(request: HttpRequest, problem_id: int, action: str) -> JsonResponse:
    """One triage action from the page's buttons; JSON back, a refusal's sentence on error."""
    if problem_id > MAX_ID:
        return json_refusal(Refusal(404, f"no problem has id {problem_id}", "id"))
    try:
        request_ = service.Triage(
            action=action,
            until=_until(request.POST.get("snooze", "")),
            failures=_count(request.POST.get("failures", "")),
            owner=request.POST.get("owner"),
            note=request.POST.get("note"),
            ticket_url=request.POST.get("ticket_url"),
        )
        problem = service.triage(problem_id, request_, Actor.of_user(request.user))
    except service.ProblemNotFound as exc:
        return json_refusal(Refusal(404, str(exc), "id"))
    except service.InvalidTriage as exc:
        return json_refusal(Refusal(400, str(exc), exc.field))
    except (Refusal, SagaError, PermissionDenied) as exc:
        return json_refusal(exc)
    return JsonResponse({"problem": serializers.problem(problem, database_now())})


def _until(choice: str) -> datetime | None:
    if not choice:
        return None
    if choice not in SNOOZES:
        raise Refusal(400, f"snooze must be one of {', '.join(SNOOZES)}", "snooze")
    return database_now() + SNOOZES[choice]


def _count(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise Refusal(400, "failures must be a whole number", "failures")
    return int(value)
