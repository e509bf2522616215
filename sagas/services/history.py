"""A saga's whole history as one JSON document: the saga, every attempt, every event and
every operator action. The API (`GET /api/sagas/{id}/history`) and the dashboard's
"Download history" button both serve what `history` builds."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from sagas import serializers
from sagas.models import SagaInstance, StepAttempt
from sagas.services import reveal as revealing
from sagas.services.actions import SagaNotFound
from sagas.services.actors import READ_SAGAS, VIEW_TRACEBACK, Actor, require

# Names the document's shape, so that a reader of an old download knows what it holds.
FORMAT = "sagascope.history/1"


def history(
    saga_id: uuid.UUID | str, actor: Actor, *, tracebacks: bool = False, reveal: bool = False
) -> dict[str, Any]:
    """The document; PermissionDenied if `actor` may not read sagas, SagaNotFound if no
    saga has this id. With `tracebacks` (the dashboard's download; the API never sends
    one), each attempt has `error_traceback`: the text for those allowed to read it
    (VIEW_TRACEBACK), null for others. Sensitive fields are masked unless `reveal`, which
    needs VIEW_SENSITIVE (PermissionDenied) and is recorded (sagas/services/reveal.py)."""
    require(actor, READ_SAGAS)
    saga = SagaInstance.objects.filter(id=saga_id).first()
    if saga is None:
        raise SagaNotFound(f"no saga has id {saga_id}")
    shown = actor.may(VIEW_TRACEBACK) if tracebacks else None
    if reveal:
        revealing.reveal(saga, actor, via="history")
    return {
        "format": FORMAT,
        "exported_at": serializers.iso(timezone.now()),
        "saga": {
            **serializers.state(saga, reveal=reveal),
            "input": serializers.saga_input(saga, reveal=reveal),
            "definition": list(saga.definition_steps or []),
            "created_by": saga.created_by,
        },
        "attempts": [
            _attempt(a, saga.saga_type, shown, reveal)
            for a in saga.attempts.order_by("started_at", "id")
        ],
        "events": [serializers.event(e) for e in saga.events.order_by("id")],
        "operator_actions": [
            serializers.operator_action(a)
            for a in saga.operator_actions.order_by("created_at", "id")
        ],
    }


def filename(saga_id: uuid.UUID | str) -> str:
    """The name a download of the document gets."""
    return f"saga-{saga_id}-history.json"


def _attempt(
    a: StepAttempt, saga_type: str, tracebacks: bool | None, reveal: bool
) -> dict[str, Any]:
    row = serializers.attempt(a, saga_type, reveal=reveal)
    if tracebacks is None:
        return row
    # The traceback names server paths: null, not "", says it was withheld.
    return {**row, "error_traceback": a.error_traceback if tracebacks else None}
