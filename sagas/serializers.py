"""Each model's JSON, said once: the API, the dashboard's pages and its live frames build on
these dicts.

Everything here is JSON- and msgpack-safe (strings, numbers, lists, dicts: times as ISO 8601
strings, ids as strings), because the dashboard's dicts travel through channels-redis. The
API's schemas (sagas/api/schemas.py) read the same strings back as datetimes and UUIDs, so
its JSON is what it always was. A traceback is never here: it names server paths, and only
the dashboard shows it, to those allowed (dashboard/payloads.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sagas import conf, sensitive
from sagas.models import (
    OperatorAction,
    OutboxMessage,
    Problem,
    SagaEvent,
    SagaInstance,
    StepAttempt,
)
from sagas.models.problems import SPARK_HOURS, hour_start

# The columns `summary` reads: `.only(*SUMMARY_FIELDS)` loads a list of sagas without their
# input and results.
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
    "trace_id",
    "created_at",
    "updated_at",
    "finished_at",
    "problem_id",
    "stuck_problem_id",
)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary(saga: SagaInstance) -> dict[str, Any]:
    """A saga as a list shows it."""
    return {
        **_fields(saga, "id", "status", "correlation_id", "version", "phase", "reason"),
        **_fields(saga, "trace_id", "trace_url", "created_at", "updated_at", "finished_at"),
        "type": saga.saga_type,
        "current_step": saga.current_step_name,
        "problem": saga.problem_id,
        "stuck_problem": saga.stuck_problem_id,
    }


def state(saga: SagaInstance, *, reveal: bool = False) -> dict[str, Any]:
    """A saga with the parts that change as it runs: its results and when it runs next.
    Sensitive results are masked unless `reveal` (sagas/services/reveal.py decides)."""
    # "context": the name the API and the pages have always used for the step results.
    results = saga.results if reveal else sensitive.mask_results(saga.saga_type, saga.results)
    return {
        **summary(saga),
        **_fields(saga, "next_run_at", "in_flight"),
        "context": results,
    }


def saga_input(saga: SagaInstance, *, reveal: bool = False) -> Any:
    """The saga's input, its sensitive fields masked unless `reveal`."""
    return saga.input if reveal else sensitive.mask_input(saga.saga_type, saga.input)


def attempt(
    a: StepAttempt, saga_type: str | None = None, *, reveal: bool = False
) -> dict[str, Any]:
    """One attempt at a step, with its error's type and message (never its traceback); its
    result's sensitive fields masked unless `reveal`. `saga_type` spares a read of the saga."""
    result = a.result
    if not reveal and result is not None:
        kind = saga_type if saga_type is not None else a.saga.saga_type
        result = sensitive.mask_result(kind, a.step_name, result)
    return {
        **_fields(a, "id", "phase", "status", "attempt", "generation", "idempotency_key"),
        **_fields(a, "started_at", "finished_at", "deadline", "duration_ms"),
        **_fields(a, "error_type", "error_message", "duplicates"),
        "result": result,
        "name": a.step_name,
        "index": a.step_index,
    }


def event(e: SagaEvent) -> dict[str, Any]:
    return {
        **_fields(e, "id", "type", "step", "phase", "attempt", "status", "version"),
        **_fields(e, "payload", "actor", "created_at"),
    }


def operator_action(a: OperatorAction) -> dict[str, Any]:
    return {
        **_fields(a, "id", "action", "actor", "reason", "step", "outcome", "created_at"),
        **_fields(a, "status_before", "status_after", "version_before", "version_after"),
        **_fields(a, "trace_id"),
        "trace_url": conf.trace_url(a.trace_id),
    }


def outbox_message(m: OutboxMessage) -> dict[str, Any]:
    return {
        **_fields(m, "id", "message_id", "kind", "destination", "status", "attempts", "headers"),
        **_fields(m, "created_at", "available_at", "last_error"),
        "saga": str(m.saga_id) if m.saga_id else None,
    }


def problem(p: Problem, now: datetime) -> dict[str, Any]:
    """A failure group, with its last 24 hours as hourly counts, oldest first."""
    hour = hour_start(now)
    hours = [hour - 3600 * n for n in range(SPARK_HOURS - 1, -1, -1)]
    return {
        **_fields(p, "id", "fingerprint", "step", "phase", "error_type", "message", "sample"),
        **_fields(p, "first_seen", "last_seen", "open_count", "total_count"),
        "status": p.status_at(now),
        **_fields(p, "snoozed_until", "snooze_failures", "regressed_at", "resolved_at"),
        **_fields(p, "note", "ticket_url"),
        "type": p.saga_type,
        "owner": p.owner.get_username() if p.owner_id else None,
        "hourly": [p.hourly.get(str(h), 0) for h in hours],
    }


def _fields(obj: object, *names: str) -> dict[str, Any]:
    """`obj`'s attributes by name, JSON-safe: times as ISO strings, UUIDs as strings."""
    return {name: _safe(getattr(obj, name)) for name in names}


def _safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
