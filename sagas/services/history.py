"""A saga's whole history as one JSON document: the saga, every attempt, every event and
every operator action. The API (`GET /api/sagas/{id}/history`) and the dashboard's
"Download history" button both serve what `history` builds."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from sagas import serializers
from sagas.models import SagaInstance
from sagas.services.actions import SagaNotFound
from sagas.services.actors import READ_SAGAS, VIEW_TRACEBACK, Actor, require

# Names the document's shape, so that a reader of an old download knows what it holds.
FORMAT = "sagascope.history/1"


def history(saga_id: uuid.UUID | str, actor: Actor) -> dict[str, Any]:
    """The document; PermissionDenied if `actor` may not read sagas, SagaNotFound if no
    saga has this id. Tracebacks only for those allowed to read them (VIEW_TRACEBACK)."""
    require(actor, READ_SAGAS)
    saga = SagaInstance.objects.filter(id=saga_id).first()
    if saga is None:
        raise SagaNotFound(f"no saga has id {saga_id}")
    tracebacks = actor.may(VIEW_TRACEBACK)
    return {
        "format": FORMAT,
        "exported_at": serializers.iso(timezone.now()),
        "saga": {
            **serializers.state(saga),
            "input": saga.input,
            "definition": list(saga.definition_steps or []),
            "created_by": saga.created_by,
        },
        "attempts": [_attempt(a, tracebacks) for a in saga.attempts.order_by("started_at", "id")],
        "events": [serializers.event(e) for e in saga.events.order_by("id")],
        "operator_actions": [
            serializers.operator_action(a)
            for a in saga.operator_actions.order_by("created_at", "id")
        ],
    }


def filename(saga_id: uuid.UUID | str) -> str:
    """The name a download of the document gets."""
    return f"saga-{saga_id}-history.json"


def _attempt(a: Any, tracebacks: bool) -> dict[str, Any]:
    # The traceback names server paths: null, not "", says it was withheld.
    return {**serializers.attempt(a), "error_traceback": a.error_traceback if tracebacks else None}
