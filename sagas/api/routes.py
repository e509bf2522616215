"""The HTTP API (the README lists it): start, read, list, act. Thin: the service layer does
the work."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Header, Query, Router, Status

from sagas import sensitive, serializers
from sagas.models import SagaInstance
from sagas.services.actions import perform
from sagas.services.actors import READ_SAGAS, START_SAGA, require
from sagas.services.queries import page
from sagas.services.restart import restart
from sagas.services.reveal import reveal as reveal_sensitive
from sagas.services.start import start_saga
from sagas.telemetry.propagation import current_ids, extract, span_ids

from . import serialize
from .auth import actor_of
from .filters import FilterParams, saga_filter
from .schemas import (
    ActionIn,
    ActionName,
    ActionResultOut,
    MessageOut,
    RestartIn,
    SagaOut,
    SagaPageOut,
    StartSagaIn,
)

router = Router(tags=["sagas"])


class SagaListParams(FilterParams):
    cursor: str | None = None
    limit: int = 50


@router.post(
    "/sagas",
    response={
        200: SagaOut,
        201: SagaOut,
        400: MessageOut,
        401: MessageOut,
        403: MessageOut,
        413: MessageOut,
        422: MessageOut,
    },
    summary="Start a saga",
)
def start(
    request: HttpRequest,
    body: StartSagaIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),  # noqa: B008
) -> Status:
    actor = actor_of(request)
    require(actor, START_SAGA)
    # Continue the caller's trace: the current span (when Django is instrumented) or the
    # request's own traceparent header.
    parent = current_ids()
    if not parent[0]:
        parent = span_ids(extract(request.headers))
    saga, created = start_saga(
        body.type,
        body.input,
        correlation_id=body.correlation_id,
        idempotency_key=idempotency_key or None,
        actor=actor.name,
        trace_parent=parent,
    )
    return Status(201 if created else 200, serialize.detail(saga))


@router.get(
    "/sagas",
    response={200: SagaPageOut, 400: MessageOut, 401: MessageOut, 403: MessageOut, 422: MessageOut},
    summary="List sagas, newest first",
)
def list_sagas(request: HttpRequest, q: Query[SagaListParams]) -> dict:
    require(actor_of(request), READ_SAGAS)
    flt = saga_filter(request, q)
    rows, next_cursor = page(flt, q.cursor, q.limit)
    return {"items": [serializers.summary(s) for s in rows], "next_cursor": next_cursor}


@router.get(
    "/sagas/{saga_id}",
    response={200: SagaOut, 401: MessageOut, 403: MessageOut, 404: MessageOut, 422: MessageOut},
    summary="One saga with its step attempts and events",
    description="Sensitive fields (the saga type's `sensitive`) are masked as "
    f"{sensitive.MARKER!r}. `?reveal=1` shows them to a user with the permission "
    "sagas.view_sensitive or a token with the scope `sensitive` (403 otherwise), and "
    "records the reveal as an operator action `reveal_sensitive`.",
)
def get_saga(request: HttpRequest, saga_id: UUID, reveal: bool = False) -> dict:
    actor = actor_of(request)
    require(actor, READ_SAGAS)
    saga = get_object_or_404(SagaInstance, id=saga_id)
    if reveal:  # 403 without the permission; else the reveal is recorded
        reveal_sensitive(saga, actor, via="api")
    return serialize.detail(saga, reveal=reveal)


# What a call that changes one saga may answer besides success: a bad or oversized body,
# no or not enough credentials, no such saga, a state or version that does not allow it.
ACTION_ERRORS = {code: MessageOut for code in (400, 401, 403, 404, 409, 413, 422)}


# Before the action route, whose {action} would otherwise take this name.
@router.post(
    "/sagas/{saga_id}/restart",
    response={200: SagaOut, 201: SagaOut, **ACTION_ERRORS},
    summary="Start a new saga of the same type with this input, from a compensating or "
    "compensated saga",
    description="For a saga undoing or done undoing its steps (compensating, compensated, or "
    "failed while compensating): a new saga, linked both ways (its saga_started event's "
    "`restarted_from`; the old saga's operator action `restart` with `new_saga`). The old "
    "saga is left as it is. Needs the permissions to start sagas and to edit an input "
    "(token scopes `start` and `operate`). 201 with the new saga; the same input again from "
    "the same client returns that saga with 200. 409 for a saga that may go, or went, "
    "through (running, completed, failed going forward).",
)
def restart_saga(request: HttpRequest, saga_id: UUID, body: RestartIn) -> Status:
    done = restart(saga_id, actor=actor_of(request), new_input=body.input, reason=body.reason)
    return Status(201 if done.created else 200, serialize.detail(done.new))


@router.post(
    "/sagas/{saga_id}/{action}",
    response={200: ActionResultOut, **ACTION_ERRORS},
    summary="A manual action: retry, resume, compensate, cancel, skip or retry_with_input",
)
def act(request: HttpRequest, saga_id: UUID, action: ActionName, body: ActionIn) -> dict:
    saga, record = perform(
        saga_id,
        action,
        actor=actor_of(request),
        version=body.version,
        reason=body.reason,
        new_input=body.input,
    )
    return {"saga": serialize.detail(saga), "action": serializers.operator_action(record)}
