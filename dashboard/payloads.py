"""The JSON the browser gets, in pages (json_script) and over websockets alike.

Everything here is JSON- and msgpack-safe (strings, numbers, lists, dicts), because the
same dicts travel through channels-redis. Saga data is data: the browser renders it as
text, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone

from sagas.models import OutboxMessage, SagaEvent, SagaInstance, StepExecution
from sagas.registry import registry

from . import conf

# The SagaInstance columns a list row needs; `values()` with these feeds `summary`.
SUMMARY_FIELDS = (
    "id",
    "saga_type",
    "status",
    "correlation_id",
    "version",
    "current_step",
    "phase",
    "definition_steps",
    "reason",
    "created_at",
    "updated_at",
    "finished_at",
)
REASON_CHARS = 300
TRACEBACK_CHARS = 8000
# A traceback names server paths and code: it needs its own permission, beyond staff.
TRACEBACK_PERMISSION = "sagas.view_traceback"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary(row: Mapping[str, Any] | SagaInstance, event_id: int = 0) -> dict[str, Any]:
    """One list row; `row` is a SagaInstance or a `values(*SUMMARY_FIELDS)` dict."""
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
    steps = get("definition_steps") or []
    index = get("current_step")
    return {
        "id": str(get("id")),
        "type": get("saga_type"),
        "status": get("status"),
        "correlation_id": get("correlation_id"),
        "version": get("version"),
        "current_step": steps[index] if index is not None and index < len(steps) else None,
        "phase": get("phase"),
        "reason": (get("reason") or "")[:REASON_CHARS],
        "created_at": iso(get("created_at")),
        "updated_at": iso(get("updated_at")),
        "finished_at": iso(get("finished_at")),
        "event_id": event_id,
    }


def step_kinds(saga_type: str) -> dict[str, dict[str, Any]]:
    """Each step's kind and whether it has a compensation, from the code's definition."""
    definition = registry.find(saga_type)
    if definition is None:
        return {}
    return {
        step.name: {"kind": step.kind.value, "compensated": step.has_compensation}
        for step in definition.steps
    }


def sees_tracebacks(user: Any) -> bool:
    """Whether `user` may see step tracebacks (superusers have every permission)."""
    return bool(user is not None and user.has_perm(TRACEBACK_PERMISSION))


def attempts(rows: Iterable[StepExecution], *, tracebacks: bool) -> list[dict[str, Any]]:
    return [attempt(a, tracebacks=tracebacks) for a in rows]


def attempt(a: StepExecution, *, tracebacks: bool) -> dict[str, Any]:
    """One attempt; its traceback only when `tracebacks` (see sees_tracebacks)."""
    return {
        "id": a.id,
        "name": a.step_name,
        "index": a.step_index,
        "phase": a.phase,
        "status": a.status,
        "attempt": a.attempt,
        "generation": a.generation,
        "idempotency_key": a.idempotency_key,
        "started_at": iso(a.started_at),
        "finished_at": iso(a.finished_at),
        "deadline": iso(a.deadline),
        "duration_ms": a.duration_ms,
        "result": a.result,
        "error_type": a.error_type,
        "error_message": a.error_message,
        "error_traceback": a.error_traceback[-TRACEBACK_CHARS:] if tracebacks else "",
        # So the page can say the box is empty for want of the permission, not of a traceback.
        "traceback_hidden": bool(a.error_traceback) and not tracebacks,
        # Filled once participants report duplicate deliveries (the messaging issue).
        "duplicates": getattr(a, "duplicates", None),
    }


def event(e: SagaEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": e.type,
        "step": e.step,
        "phase": e.phase,
        "attempt": e.attempt,
        "status": e.status,
        "version": e.version,
        "payload": e.payload,
        "actor": e.actor,
        "created_at": iso(e.created_at),
    }


def saga_state(saga: SagaInstance) -> dict[str, Any]:
    """The parts of a saga that change as it runs (the detail page's header and payloads)."""
    return {
        **summary(saga),
        "reason": saga.reason,
        "context": saga.context,
        "next_run_at": iso(saga.next_run_at),
        "in_flight": saga.in_flight,
    }


def saga_detail(
    saga: SagaInstance,
    attempt_rows: Iterable[StepExecution],
    events: Iterable[SagaEvent],
    *,
    tracebacks: bool,
) -> dict[str, Any]:
    """Everything the detail page draws, as its first state."""
    trace_url = f"{conf.jaeger_ui_url()}/trace/{saga.trace_id}" if saga.trace_id else None
    return {
        "saga": saga_state(saga),
        "input": saga.input,
        "trace_id": saga.trace_id,
        "trace_url": trace_url,
        "definition": list(saga.definition_steps or []),
        "kinds": step_kinds(saga.saga_type),
        "attempts": attempts(attempt_rows, tracebacks=tracebacks),
        "events": [event(e) for e in events],
        "server_time": iso(timezone.now()),
    }


def outbox_message(m: OutboxMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "message_id": str(m.message_id),
        "saga": str(m.saga_id) if m.saga_id else None,
        "kind": m.kind,
        "destination": m.destination,
        "status": m.status,
        "attempts": m.attempts,
        "headers": m.headers,
        "created_at": iso(m.created_at),
        "available_at": iso(m.available_at),
        "last_error": m.last_error,
    }
