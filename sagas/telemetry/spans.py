"""Exporting the spans of a saga after the transaction that decided them commits.

Each function takes rows already written and never raises: a telemetry failure is logged
and the saga goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from .ids import preset
from .propagation import context_for, span_context
from .setup import main_provider, provider_for

if TYPE_CHECKING:
    from sagas.models import OutboxMessage, SagaInstance, StepAttempt

log = logging.getLogger(__name__)

MESSAGING_SYSTEM = "sagascope"


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def emit(
    name: str,
    *,
    trace_id: str,
    span_id: str,
    parent_span_id: str,
    kind: SpanKind,
    start: datetime,
    end: datetime,
    attributes: dict[str, Any],
    error: tuple[str, str, str] | None = None,
) -> None:
    """Export one finished span with the ids chosen when its work was decided."""
    provider = main_provider()
    if provider is None or not trace_id or not span_id:
        return
    try:
        parent = context_for(trace_id, parent_span_id) if parent_span_id else context.Context()
        with preset(trace_id, span_id):
            span = provider.get_tracer("sagascope").start_span(
                name,
                context=parent,
                kind=kind,
                start_time=_ns(start),
                attributes={k: v for k, v in attributes.items() if v is not None},
            )
        if error is not None:
            kind_name, message, stack = error
            span.add_event(
                "exception",
                {
                    "exception.type": kind_name,
                    "exception.message": message,
                    "exception.stacktrace": stack,
                },
                timestamp=_ns(end),
            )
            span.set_status(Status(StatusCode.ERROR, message[:500]))
        span.end(end_time=_ns(max(end, start)))
    except Exception as exc:
        log.warning("could not export span %s: %s", name, exc)


def saga_attributes(
    saga: SagaInstance, step: str = "", phase: str = "", attempt: int | None = None
) -> dict[str, Any]:
    return {
        "saga.id": str(saga.id),
        "saga.type": saga.saga_type,
        "saga.step": step or None,
        "saga.phase": phase or None,
        "saga.attempt": attempt,
        "messaging.message.conversation_id": saga.correlation_id or None,
    }


def emit_attempt(saga: SagaInstance, attempt: StepAttempt) -> None:
    if attempt.finished_at is None or not attempt.span_id:
        return
    error = None
    if attempt.status in ("failed", "timed_out"):
        error = (
            attempt.error_type or "error",
            attempt.error_message or attempt.status,
            attempt.error_traceback,
        )
    emit(
        attempt.step_name,
        trace_id=saga.trace_id,
        span_id=attempt.span_id,
        parent_span_id=saga.span_id,
        kind=SpanKind.INTERNAL,
        start=attempt.started_at,
        end=attempt.finished_at,
        error=error,
        attributes={
            **saga_attributes(saga, attempt.step_name, attempt.phase, attempt.attempt),
            "saga.attempt.status": attempt.status,
            "saga.idempotency_key": attempt.idempotency_key,
        },
    )


def emit_producer(
    saga: SagaInstance, message: OutboxMessage, attempt_span_id: str, span_id: str
) -> None:
    headers = message.headers
    emit(
        f"send {message.destination}",
        trace_id=saga.trace_id,
        span_id=span_id,
        parent_span_id=attempt_span_id,
        kind=SpanKind.PRODUCER,
        start=message.created_at,
        end=message.created_at,
        attributes={
            **saga_attributes(
                saga, headers.get("step", ""), headers.get("phase", ""), headers.get("attempt")
            ),
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": message.destination,
            "messaging.message.id": str(message.message_id),
            "saga.command": headers.get("command"),
        },
    )


def emit_saga(saga: SagaInstance) -> None:
    if saga.finished_at is None or not saga.span_id:
        return
    error = None
    if saga.status != "completed":
        error = ("sagas.SagaNotCompleted", f"{saga.status}: {saga.reason}", "")
    emit(
        f"saga {saga.saga_type}",
        trace_id=saga.trace_id,
        span_id=saga.span_id,
        parent_span_id=saga.trace_parent_id,
        kind=SpanKind.INTERNAL,
        start=saga.created_at,
        end=saga.finished_at,
        error=error,
        attributes={**saga_attributes(saga), "saga.status": saga.status},
    )


@contextmanager
def operator_span(saga: SagaInstance, action: str, actor: str) -> Iterator[str]:
    """A span for an operator's action, linked to the saga's trace; yields its trace id.

    It is a child of the current span (the HTTP request, when instrumented), so the action
    sits in the operator's request trace and points at the saga it changed."""
    provider = main_provider() or provider_for("sagascope")
    linked = span_context(saga.trace_id, saga.span_id)
    try:
        span_cm = provider.get_tracer("sagascope.operator").start_as_current_span(
            f"operator {action}",
            links=[Link(linked)] if linked is not None else [],
            attributes={**saga_attributes(saga), "saga.action": action, "enduser.id": actor},
        )
        span = span_cm.__enter__()
    except Exception as exc:
        log.warning("could not start the operator span: %s", exc)
        yield ""
        return
    try:
        ctx = span.get_span_context()
        yield f"{ctx.trace_id:032x}" if ctx.is_valid else ""
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
        span_cm.__exit__(None, None, None)
        raise
    span_cm.__exit__(None, None, None)
