"""Starting sagas, with input validation and Idempotency-Key deduplication."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from django.db import IntegrityError, transaction

from sagas import conf, sensitive
from sagas.engine import statemachine
from sagas.engine.leases import database_now
from sagas.engine.store import TransitionWriter
from sagas.engine.wakeup import notify_due
from sagas.exceptions import IdempotencyConflict, InvalidSagaInput
from sagas.models import SagaInstance
from sagas.registry import registry
from sagas.storable import json_problem, text_problem
from sagas.telemetry.ids import new_span_id, new_trace_id
from sagas.telemetry.propagation import current_ids

MAX_CORRELATION_ID = 200
MAX_IDEMPOTENCY_KEY = 200


def request_hash(saga_type: str, input: Any, correlation_id: str) -> str:
    body = json.dumps(
        {"type": saga_type, "input": input, "correlation_id": correlation_id},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def start_saga(
    saga_type: str,
    input: Any,
    *,
    correlation_id: str = "",
    idempotency_key: str | None = None,
    actor: str = "",
    trace_parent: tuple[str, str] | None = None,
    restarted_from: str = "",
) -> tuple[SagaInstance, bool]:
    """Start a saga; returns (saga, created). A repeated Idempotency-Key from the same
    `actor` with the same request returns the first saga, with another request raises
    IdempotencyConflict. Keys are per client: another actor's key is another key.

    The saga joins the trace `trace_parent` = (trace id, span id) names, or else the
    current span's; outside any trace it starts its own. `restarted_from` (a saga id) is
    recorded in its saga_started event: an operator started it again from that saga.
    """
    definition = registry.get(saga_type)
    _validate(input, correlation_id, idempotency_key)
    definition.validate_input(input)
    digest = request_hash(saga_type, input, correlation_id)
    if idempotency_key:
        existing = _existing(actor, idempotency_key, digest)
        if existing is not None:
            return existing, False
    trace_id, parent_span_id = trace_parent or current_ids()
    if not trace_id:
        trace_id, parent_span_id = new_trace_id(), ""
    try:
        with transaction.atomic():
            now = database_now()
            row = SagaInstance(
                id=uuid.uuid4(),
                saga_type=saga_type,
                correlation_id=correlation_id,
                input=input,
                sensitive_hashes=sensitive.input_hashes(definition, input),
                definition_steps=definition.step_names(),
                definition_fingerprint=definition.fingerprint(),
                idempotency_key=idempotency_key or None,
                request_hash=digest,
                created_by=actor,
                created_at=now,
                trace_id=trace_id,
                span_id=new_span_id(),
                trace_parent_id=parent_span_id,
            )
            writer = TransitionWriter()
            started = statemachine.start(str(row.id), definition, now, restarted_from)
            writer.add(row, [started], actor, now, new=True)
            writer.flush()
            notify_due()
    except IntegrityError:
        # Two requests with one client's Idempotency-Key raced; the other one's saga stands.
        existing = _existing(actor, idempotency_key, digest) if idempotency_key else None
        if existing is None:
            raise
        return existing, False
    return row, True


def _existing(actor: str, key: str, digest: str) -> SagaInstance | None:
    # Scoped to the client, as the unique constraint is (saga_idempotency_key_per_client):
    # a key another client picked must neither return nor reveal that client's saga.
    existing = SagaInstance.objects.filter(created_by=actor, idempotency_key=key).first()
    if existing is not None and existing.request_hash != digest:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was first used for saga {existing.id} with a different "
            "request body; use a new key for a new request"
        )
    return existing


def validate_input(input: Any) -> None:
    """A saga input must be a JSON object within the size limit, storable as it is."""
    if not isinstance(input, dict):
        raise InvalidSagaInput(f"input must be a JSON object, not {type(input).__name__}")
    problem = json_problem(input, "input")
    if problem:
        raise InvalidSagaInput(problem)
    size = len(json.dumps(input))
    if size > conf.max_input_bytes():
        raise InvalidSagaInput(
            f"input is {size} bytes as JSON; the limit is {conf.max_input_bytes()}"
        )


def _validate(input: Any, correlation_id: str, idempotency_key: str | None) -> None:
    validate_input(input)
    if len(correlation_id) > MAX_CORRELATION_ID:
        raise InvalidSagaInput(f"correlation_id is longer than {MAX_CORRELATION_ID} characters")
    problem = text_problem(correlation_id)
    if problem:
        raise InvalidSagaInput(f"correlation_id {problem}")
    if idempotency_key is None:
        return
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidSagaInput(f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters")
    problem = text_problem(idempotency_key)
    if problem:
        raise InvalidSagaInput(f"Idempotency-Key {problem}")
