"""Bulk actions from the list page: a preview, then a tracked operation with a page of its
own that follows its progress and shows the result per saga. Workers carry the operation
out; the service layer (sagas.services.bulk) decides what happens to each saga."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from sagas.exceptions import SagaError
from sagas.models import BulkOperation
from sagas.serializers import iso
from sagas.services import bulk
from sagas.services.actions import ACTIONS
from sagas.services.actors import Actor

from .. import operator, selection
from ..refusals import Refusal, json_refusal, wants_json

ITEMS_SHOWN = 1000  # rows of the result table; the counts above it cover every saga


@require_POST
@staff_member_required(login_url="login")
def bulk_preview(request: HttpRequest) -> JsonResponse:
    """What the action would do to the selection: counts, and what is skipped and why."""
    try:
        action = _permitted_action(request)
        chosen = selection.from_post(request.POST)
        preview = bulk.preview(action, chosen.sagas, Actor.of_user(request.user))
    except (Refusal, SagaError, PermissionDenied) as exc:
        return json_refusal(exc)
    spec = ACTIONS[action]
    return JsonResponse(
        {
            **preview.as_dict(),
            "label": operator.label(action),
            "summary": spec.summary,
            "needs_reason": spec.needs_reason,
            "selection": chosen.label,
        }
    )


@require_POST
@staff_member_required(login_url="login")
def bulk_start(request: HttpRequest) -> HttpResponse:
    """Snapshot the selection (read again now, whole) and queue the operation."""
    try:
        action = _permitted_action(request)
        chosen = selection.from_post(request.POST)
        operation = bulk.start(
            action,
            chosen.sagas,
            Actor.of_user(request.user),
            reason=request.POST.get("reason", ""),
            selection=chosen.stored,
        )
    except (Refusal, SagaError, PermissionDenied) as exc:
        return json_refusal(exc)
    url = reverse("bulk-operation", args=[operation.id])
    if wants_json(request):
        return JsonResponse({"id": operation.id, "url": url, "total": operation.total}, status=201)
    return redirect(url)


@require_GET
@staff_member_required(login_url="login")
def bulk_operation(request: HttpRequest, operation_id: int) -> HttpResponse:
    operation = get_object_or_404(BulkOperation, id=operation_id)
    context = {"page": "bulk", "operation": operation, "data": progress_data(operation)}
    return render(request, "dashboard/bulk_operation.html", context)


@require_GET
@staff_member_required(login_url="login")
def bulk_progress(request: HttpRequest, operation_id: int) -> JsonResponse:
    """The operation now; its page polls this each second until the operation is done."""
    operation = get_object_or_404(BulkOperation, id=operation_id)
    return JsonResponse(progress_data(operation))


@require_GET
@staff_member_required(login_url="login")
def bulk_operations(request: HttpRequest) -> HttpResponse:
    operations = BulkOperation.objects.order_by("-created_at", "-id")[:50]
    rows = [
        {**bulk.progress(op), "label": operator.label(op.action), "op": op} for op in operations
    ]
    return render(request, "dashboard/bulk_list.html", {"page": "bulk", "operations": rows})


def progress_data(operation: BulkOperation) -> dict[str, Any]:
    progress = bulk.progress(operation)
    items = operation.items.order_by("id").values(
        "saga_id", "outcome", "message", "saga__correlation_id"
    )[:ITEMS_SHOWN]
    return {
        **progress,
        "created_at": iso(progress["created_at"]),
        "finished_at": iso(progress["finished_at"]),
        "label": operator.label(operation.action),
        "selection": selection.describe_stored(operation.selection or {}),
        "progress_url": reverse("bulk-progress", args=[operation.id]),
        "items": [
            {
                "saga": str(item["saga_id"]),
                "correlation_id": item["saga__correlation_id"],
                "outcome": item["outcome"],
                "message": item["message"],
            }
            for item in items
        ],
    }


def _permitted_action(request: HttpRequest) -> str:
    """The posted action, if this user may run it in bulk: asked before the selection is
    read, so that without the permissions the answer is 403 whatever else was sent."""
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise Refusal(400, f"Unknown action {action!r}; choose one of the list.", "action")
    bulk.authorize(Actor.of_user(request.user), action)
    return action
