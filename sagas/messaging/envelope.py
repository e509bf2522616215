"""The envelope: what every command and reply carries, in both transports.

A message is JSON `{"headers": {...}, "body": {...}}`. Headers name the saga, step,
phase, attempt and idempotency key it belongs to, the correlation id, where to reply, and
the W3C `traceparent`, `tracestate` and `baggage` of the span that sent it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sagas.definition import Saga, StepContext
from sagas.engine.state import SendCommand
from sagas.models import OutboxMessage, SagaInstance
from sagas.statuses import Phase
from sagas.telemetry.ids import new_span_id
from sagas.telemetry.propagation import inject

ORCHESTRATOR = "orchestrator"
COMMAND_HEADERS = (
    "message_id",
    "saga_id",
    "saga_type",
    "step",
    "phase",
    "attempt",
    "idempotency_key",
    "correlation_id",
    "reply_to",
    "command",
    "traceparent",
    "tracestate",
    "baggage",
)
MATCH_HEADERS = ("saga_id", "step", "phase", "attempt", "idempotency_key")


class MalformedMessage(ValueError):
    """The message lacks a header it needs, or a header has the wrong type."""


def command_message(
    saga: SagaInstance, definition: type[Saga] | None, effect: SendCommand, now: datetime
) -> tuple[OutboxMessage, str]:
    """The outbox row for a command, and the id of the PRODUCER span its traceparent names."""
    destination, _, _name = effect.command.partition(".")
    message_id = uuid.uuid4()
    producer_span_id = new_span_id()
    headers: dict[str, Any] = {
        "message_id": str(message_id),
        "saga_id": str(saga.id),
        "saga_type": saga.saga_type,
        "step": effect.step_name,
        "phase": str(effect.phase),
        "attempt": effect.attempt,
        "idempotency_key": effect.idempotency_key,
        "correlation_id": saga.correlation_id,
        "reply_to": ORCHESTRATOR,
        "command": effect.command,
        **inject(saga.trace_id, producer_span_id, str(saga.id), saga.correlation_id),
    }
    if effect.deadline is not None:
        headers["deadline"] = effect.deadline.isoformat()
    message = OutboxMessage(
        message_id=message_id,
        saga_id=saga.id,
        kind=OutboxMessage.Kind.COMMAND,
        destination=destination,
        headers=headers,
        body=command_body(saga, definition, effect),
        available_at=now,
        created_at=now,
        deadline=effect.deadline,
    )
    return message, producer_span_id


def command_body(
    saga: SagaInstance, definition: type[Saga] | None, effect: SendCommand
) -> dict[str, Any]:
    """What the participant is given: the step's `payload(ctx)`, or input and results."""
    step = definition.steps[effect.step] if definition is not None else None
    if step is not None and step.payload is not None:
        ctx = StepContext(
            saga_id=str(saga.id),
            saga_type=saga.saga_type,
            correlation_id=saga.correlation_id,
            input=saga.input,
            results=saga.context,
            step=effect.step_name,
            phase=Phase(effect.phase),
            attempt=effect.attempt,
            idempotency_key=effect.idempotency_key,
        )
        return dict(step.payload(ctx))
    return {"input": saga.input, "results": saga.context}


def reply_envelope(
    command_headers: dict[str, Any],
    body: dict[str, Any],
    extra_headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A reply to `command_headers`: the same saga coordinates, a new message id."""
    headers = {
        key: command_headers.get(key)
        for key in (*MATCH_HEADERS, "saga_type", "correlation_id", "command")
    }
    headers["message_id"] = str(uuid.uuid4())
    headers["in_reply_to"] = command_headers.get("message_id")
    headers.update(extra_headers or {})
    return {"headers": headers, "body": body}


def require(headers: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """`headers` as a dict, or MalformedMessage naming the first missing header."""
    if not isinstance(headers, dict):
        raise MalformedMessage("headers must be a JSON object")
    for name in names:
        if headers.get(name) in (None, ""):
            raise MalformedMessage(f"header {name!r} is missing")
    if not isinstance(headers.get("attempt", 0), int):
        raise MalformedMessage("header 'attempt' must be an integer")
    try:
        uuid.UUID(str(headers.get("saga_id", uuid.UUID(int=0))))
    except ValueError:
        raise MalformedMessage("header 'saga_id' is not a UUID") from None
    return headers


def expired(headers: Any, now: datetime) -> bool:
    """True once a command's deadline has passed: its attempt has timed out and a retry
    (with the same idempotency key) supersedes it, so handling it would be wasted work."""
    deadline = headers.get("deadline") if isinstance(headers, dict) else None
    if not deadline:
        return False
    try:
        return datetime.fromisoformat(str(deadline)) < now
    except ValueError:
        return False


def ok(result: Any) -> dict[str, Any]:
    return {"status": "ok", "result": result}


def refused(kind: str, message: str) -> dict[str, Any]:
    """A business refusal: not retried; the saga compensates."""
    return {"status": "error", "business": True, "error": _error(kind, message)}


def failed(kind: str, message: str) -> dict[str, Any]:
    """A transient failure: the orchestrator retries with the same idempotency key."""
    return {"status": "error", "business": False, "error": _error(kind, message)}


def _error(kind: str, message: str) -> dict[str, str]:
    # Within the reply schema's bounds, so a long exception message cannot void the reply.
    return {"type": kind[:200] or "participant.Error", "message": message[:2000]}
