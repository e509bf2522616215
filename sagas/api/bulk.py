"""Bulk actions over the API: preview, start, follow. The service layer does the work."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from sagas.models import BulkOperation
from sagas.services import bulk
from sagas.services.actors import READ_SAGAS, require
from sagas.services.queries import SagaFilter

from .auth import actor_of
from .schemas import BulkIn, BulkOperationOut, BulkPreviewOut, MessageOut, SelectionIn

router = Router(tags=["bulk"])
ERRORS = {400: MessageOut, 401: MessageOut, 403: MessageOut, 413: MessageOut, 422: MessageOut}


def selection_of(body: SelectionIn):  # type: ignore[no-untyped-def]
    if body.ids is not None:
        return bulk.select(ids=[str(i) for i in body.ids])
    return bulk.select(
        SagaFilter(
            type=body.type,
            status=body.status,
            correlation_id=body.correlation_id,
            search=body.search,
            query=(body.query or "").strip() or None,
            created_after=body.created_after,
            created_before=body.created_before,
            problem=body.problem,
        )
    )


@router.post(
    "/bulk/preview",
    response={200: BulkPreviewOut, **ERRORS},
    summary="What a bulk action would do: counts, and what it would skip and why",
)
def preview(request: HttpRequest, body: BulkIn) -> dict:
    return bulk.preview(body.action, selection_of(body.selection), actor_of(request)).as_dict()


@router.post(
    "/bulk",
    response={202: BulkOperationOut, **ERRORS},
    summary="Start a bulk action; workers carry it out saga by saga",
)
def start(request: HttpRequest, body: BulkIn) -> Status:
    operation = bulk.start(
        body.action,
        selection_of(body.selection),
        actor_of(request),
        reason=body.reason,
        selection=body.selection.model_dump(mode="json", exclude_none=True),
    )
    return Status(202, bulk.progress(operation))


@router.get(
    "/bulk/{operation_id}",
    response={
        200: BulkOperationOut,
        401: MessageOut,
        403: MessageOut,
        404: MessageOut,
        422: MessageOut,
    },
    summary="A bulk operation's progress and its result per saga",
)
def follow(request: HttpRequest, operation_id: int) -> dict:
    require(actor_of(request), READ_SAGAS, "bulk operations")
    operation = get_object_or_404(BulkOperation, id=operation_id)
    items = operation.items.order_by("id").values("saga_id", "outcome", "message")[:1000]
    return {**bulk.progress(operation), "items": list(items)}
