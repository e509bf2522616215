"""The API's saga with its attempts and events: the shared serializers (sagas/serializers.py)
in the shape the API has always published, an attempt's error nested (schemas.AttemptOut)."""

from __future__ import annotations

from typing import Any

from sagas import serializers
from sagas.models import SagaInstance, StepAttempt


def detail(saga: SagaInstance) -> dict[str, Any]:
    return {
        **serializers.state(saga),
        "input": saga.input,
        "steps": [attempt(a) for a in saga.attempts.order_by("started_at", "id")],
        "events": [serializers.event(e) for e in saga.events.order_by("id")],
    }


def attempt(a: StepAttempt) -> dict[str, Any]:
    row = serializers.attempt(a)
    kind, message = row.pop("error_type"), row.pop("error_message")
    return {**row, "error": {"type": kind, "message": message} if kind else None}
