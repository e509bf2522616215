"""The API's saga with its attempts and events: the shared serializers (sagas/serializers.py)
in the shape the API has always published, an attempt's error nested (schemas.AttemptOut)."""

from __future__ import annotations

from typing import Any

from sagas import serializers
from sagas.models import SagaInstance, StepAttempt


def detail(saga: SagaInstance, *, reveal: bool = False) -> dict[str, Any]:
    """The saga, its sensitive fields masked unless `reveal` (allowed and audited first:
    sagas/services/reveal.py)."""
    attempts = saga.attempts.order_by("started_at", "id")
    return {
        **serializers.state(saga, reveal=reveal),
        "input": serializers.saga_input(saga, reveal=reveal),
        "steps": [attempt(a, saga.saga_type, reveal) for a in attempts],
        "events": [serializers.event(e) for e in saga.events.order_by("id")],
    }


def attempt(a: StepAttempt, saga_type: str, reveal: bool = False) -> dict[str, Any]:
    row = serializers.attempt(a, saga_type, reveal=reveal)
    kind, message = row.pop("error_type"), row.pop("error_message")
    return {**row, "error": {"type": kind, "message": message} if kind else None}
