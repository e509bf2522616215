"""The commands the engine writes: the outbox row for a step attempt's command, in the
transaction that decided to send it. What a command and its reply look like on the wire is
messaging's (sagas/messaging/envelope.py); that a transition sends one, and what it holds,
is the engine's."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sagas.definition import Saga, StepContext
from sagas.models import OutboxMessage, SagaInstance
from sagas.statuses import Phase
from sagas.telemetry.ids import new_span_id
from sagas.telemetry.propagation import inject

from .state import SendCommand

ORCHESTRATOR = "orchestrator"  # where participants send their replies


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
            results=saga.results,
            step=effect.step_name,
            phase=Phase(effect.phase),
            attempt=effect.attempt,
            idempotency_key=effect.idempotency_key,
        )
        return dict(step.payload(ctx))
    return {"input": saga.input, "results": saga.results}
