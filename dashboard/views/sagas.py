"""The saga list (filters in the URL, keyset pages, bulk selection) and one saga's detail."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from sagas import sensitive
from sagas.engine.leases import database_now
from sagas.models import Problem, SagaEvent, SagaInstance
from sagas.registry import registry
from sagas.services import reveal as revealing
from sagas.services import savedviews
from sagas.services.actions import MAX_REASON
from sagas.services.actors import Actor
from sagas.services.listcolumns import COLUMNS, columns_text
from sagas.services.queries import InvalidQuery, page
from sagas.services.saga_query.syntax import MAX_LENGTH as MAX_QUERY
from sagas.statuses import SagaStatus

from .. import conf, filters, operator, payloads, selection
from ..live.saga import MAX_EVENTS


@staff_member_required(login_url="login")
def saga_list(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "page": "list",
        "statuses": SagaStatus.choices,
        "types": registry.names(),
    }
    try:
        query = filters.parse(request.GET)
        rows, next_cursor = page(query.saga_filter, query.cursor or None, conf.page_size())
    except InvalidQuery as exc:
        context.update(error=str(exc), field=exc.field, query=filters.ListFilters())
        if exc.field == "query":
            # Shown beside the box, which keeps the text so the operator can correct it.
            typed = (request.GET.get("q") or "")[:MAX_QUERY]
            context.update(query_error=str(exc), query=filters.ListFilters(q=typed))
        return render(request, "dashboard/saga_list.html", context, status=400)
    context["ranges"] = [
        (label, "?" + query.params(**{"from": start, "cursor": ""}))
        for label, start in filters.recent_ranges(database_now())
    ]
    last_event_id = SagaEvent.objects.aggregate(m=Max("id"))["m"] or 0
    actions = operator.bulk_actions(request.user)
    if query.problem is not None:
        context["problem"] = Problem.objects.filter(id=query.problem).first()
        context["without_problem"] = query.params(problem=None, cursor="")
    context.update(views_context(request, query))
    context.update(
        query=query,
        sagas=[payloads.list_row(s) for s in rows],
        next_url=f"?{query.params(cursor=next_cursor)}" if next_cursor else "",
        first_url=f"?{query.params(cursor='')}" if query.cursor else "",
        bulk=bulk_context(query, actions) if actions else None,
        columns=[(name, COLUMNS[name]) for name in query.columns],
        column_names=list(query.columns),
        columns_param=columns_text(query.columns),
        export_params=query.params(cursor="", view=None),
        live={
            "params": query.params(view=None),  # the socket renders rows in these columns
            "last_event_id": last_event_id,
            "first_page": not query.cursor,
            "page_size": conf.page_size(),
            "bulk": bool(actions),
        },
    )
    return render(request, "dashboard/saga_list.html", context)


def bulk_context(query: filters.ListFilters, actions: list[dict[str, Any]]) -> dict[str, Any]:
    """The bulk bar: the actions, and how many sagas the whole filter matches (the list
    feed keeps that count live)."""
    return {
        "actions": actions,
        **selection.matching(query.saga_filter),
        "max_reason": MAX_REASON,
        "filter": query.filter_params(),
    }


def views_context(request: HttpRequest, query: filters.ListFilters) -> dict[str, Any]:
    """The saved view the list was opened from (if the user may see it), and what the
    "Save this view" form starts with."""
    actor = Actor.of_user(request.user)
    view = None
    if query.view is not None:
        view = savedviews.visible(actor).filter(id=query.view).first()
    return {
        "view": view,
        "view_editable": view is not None and savedviews.may_change(actor, view),
        "save_view": {
            "filters": query.filter_params(),
            "all_columns": list(COLUMNS.items()),
            "chosen": list(query.columns),
            "max_name": savedviews.MAX_NAME,
        },
    }


@staff_member_required(login_url="login")
def saga_detail(request: HttpRequest, saga_id: UUID) -> HttpResponse:
    saga = get_object_or_404(SagaInstance, id=saga_id)
    return render(request, "dashboard/saga_detail.html", detail_context(request, saga))


@require_POST
@staff_member_required(login_url="login")
def saga_reveal(request: HttpRequest, saga_id: UUID) -> HttpResponse:
    """The detail page with the saga's sensitive fields shown, for a user allowed to see
    them (403 otherwise); the reveal is recorded first. A POST: a reveal changes the audit
    trail, and a link or a reload must not do it unasked."""
    saga = get_object_or_404(SagaInstance, id=saga_id)
    revealing.reveal(saga, Actor.of_user(request.user), via="dashboard")
    return render(request, "dashboard/saga_detail.html", detail_context(request, saga, True))


def detail_context(
    request: HttpRequest, saga: SagaInstance, reveal: bool = False, **extra: Any
) -> dict[str, Any]:
    """The detail page's context; `reveal` only once allowed and recorded (saga_reveal)."""
    attempts = saga.attempts.order_by("started_at", "id")
    events = list(saga.events.order_by("-id")[:MAX_EVENTS])[::-1]
    tracebacks = payloads.sees_tracebacks(request.user)
    data = payloads.saga_detail(saga, attempts, events, tracebacks=tracebacks, reveal=reveal)
    data["last_event_id"] = events[-1].id if events else 0
    return {
        "page": "list",
        "saga": saga,
        "data": data,
        "sensitive": {
            "fields": sensitive.paths_of(saga.saga_type).names(),
            "may_reveal": revealing.may(Actor.of_user(request.user)),
        },
        "operator": operator.panel(saga, request.user, reveal=reveal),
        "admin_url": admin_url(request, saga),
        **extra,
    }


def admin_url(request: HttpRequest, saga: SagaInstance) -> str:
    """The saga's change page in the Django admin, for a user the admin would show it to;
    else ""."""
    try:
        model_admin = admin.site.get_model_admin(SagaInstance)
    except NotRegistered:
        return ""
    if not (request.user.is_staff and model_admin.has_view_permission(request, saga)):
        return ""
    try:
        return reverse("admin:sagas_sagainstance_change", args=[saga.pk])
    except NoReverseMatch:  # a project that does not mount the admin
        return ""
