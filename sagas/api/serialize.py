"""Models to the API's JSON shapes (see schemas.py)."""

from __future__ import annotations

from typing import Any

from sagas import conf
from sagas.models import OperatorAction, SagaEvent, SagaInstance, StepExecution


def summary(saga: SagaInstance) -> dict[str, Any]:
    steps = saga.definition_steps or []
    current = steps[saga.current_step] if saga.current_step < len(steps) else None
    return {
        "id": saga.id,
        "type": saga.saga_type,
        "status": saga.status,
        "correlation_id": saga.correlation_id,
        "version": saga.version,
        "current_step": current,
        "reason": saga.reason,
        "trace_id": saga.trace_id,
        "trace_url": conf.trace_url(saga.trace_id),
        "created_at": saga.created_at,
        "updated_at": saga.updated_at,
        "finished_at": saga.finished_at,
    }


def attempt(a: StepExecution) -> dict[str, Any]:
    return {
        "name": a.step_name,
        "index": a.step_index,
        "phase": a.phase,
        "status": a.status,
        "attempt": a.attempt,
        "generation": a.generation,
        "idempotency_key": a.idempotency_key,
        "started_at": a.started_at,
        "finished_at": a.finished_at,
        "deadline": a.deadline,
        "duration_ms": a.duration_ms,
        "result": a.result,
        # Never the traceback: it names server paths (the dashboard shows it to holders of
        # sagas.view_traceback only; tests/api/test_tracebacks.py).
        "error": {"type": a.error_type, "message": a.error_message} if a.error_type else None,
        "duplicates": a.duplicates,
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
        "created_at": e.created_at,
    }


def detail(saga: SagaInstance) -> dict[str, Any]:
    return {
        **summary(saga),
        "input": saga.input,
        "context": saga.context,
        "phase": saga.phase,
        "next_run_at": saga.next_run_at,
        "steps": [attempt(a) for a in saga.steps.order_by("started_at", "id")],
        "events": [event(e) for e in saga.events.order_by("id")],
    }


def operator_action(a: OperatorAction) -> dict[str, Any]:
    return {
        "id": a.id,
        "action": a.action,
        "actor": a.actor,
        "reason": a.reason,
        "step": a.step,
        "status_before": a.status_before,
        "status_after": a.status_after,
        "version_before": a.version_before,
        "version_after": a.version_after,
        "created_at": a.created_at,
    }
