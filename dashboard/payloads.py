"""The dashboard's additions to the shared serializers (sagas/serializers.py): a list row
(its reason cut short, the event that changed it, the row as the page shows it), each
step's kind, and an attempt's traceback for those allowed to read it.

Everything here is JSON- and msgpack-safe, because the same dicts travel through
channels-redis. Saga data is data: the browser renders it as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.template.loader import get_template
from django.utils import timezone

from sagas import serializers
from sagas.models import SagaEvent, SagaInstance, StepAttempt
from sagas.registry import registry
from sagas.services.actors import VIEW_TRACEBACK, Actor
from sagas.services.listcolumns import DEFAULT_COLUMNS

from . import conf

REASON_CHARS = 300  # a list row's reason: frames stay small, and the row shows 120
TRACEBACK_CHARS = 8000
# A traceback names server paths and code: it needs its own permission, beyond staff.
ROW_TEMPLATE = "dashboard/saga_row.html"


def list_row(saga: SagaInstance, event_id: int = 0) -> dict[str, Any]:
    """One row of the list, the overview's lists and the list feed; `event_id` is the
    newest event of the saga that the row reflects (0 when not read from an event)."""
    row = serializers.summary(saga)
    return {**row, "reason": row["reason"][:REASON_CHARS], "event_id": event_id}


def with_html(
    rows: Iterable[dict[str, Any]], *, bulk: bool, columns: Iterable[str] = DEFAULT_COLUMNS
) -> list[dict[str, Any]]:
    """`rows` (list_row dicts), each with the <tr> the list page shows for it: the page's
    first rows and the live ones come from the one template. `bulk` adds the tick box;
    `columns` are the page's (sagas/services/listcolumns.py)."""
    template = get_template(ROW_TEMPLATE)
    columns = list(columns)
    return [
        {**row, "html": template.render({"saga": row, "bulk": bulk, "columns": columns})}
        for row in rows
    ]


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
    return user is not None and Actor.of_user(user).may(VIEW_TRACEBACK)


def attempts(
    rows: Iterable[StepAttempt], saga_type: str, *, tracebacks: bool, reveal: bool = False
) -> list[dict[str, Any]]:
    return [attempt(a, saga_type, tracebacks=tracebacks, reveal=reveal) for a in rows]


def attempt(
    a: StepAttempt, saga_type: str, *, tracebacks: bool, reveal: bool = False
) -> dict[str, Any]:
    """One attempt; its traceback only when `tracebacks` (see sees_tracebacks), its result's
    sensitive fields only when `reveal` (allowed and recorded by sagas/services/reveal.py)."""
    return {
        **serializers.attempt(a, saga_type, reveal=reveal),
        "error_traceback": a.error_traceback[-TRACEBACK_CHARS:] if tracebacks else "",
        # So the page can say the box is empty for want of the permission, not of a traceback.
        "traceback_hidden": bool(a.error_traceback) and not tracebacks,
    }


def saga_detail(
    saga: SagaInstance,
    attempt_rows: Iterable[StepAttempt],
    events: Iterable[SagaEvent],
    *,
    tracebacks: bool,
    reveal: bool = False,
) -> dict[str, Any]:
    """Everything the detail page draws, as its first state."""
    return {
        "saga": serializers.state(saga, reveal=reveal),
        "input": serializers.saga_input(saga, reveal=reveal),
        "revealed": reveal,
        "trace_id": saga.trace_id,
        # No link to a Jaeger that cannot have the trace; the page says why instead.
        "trace_url": saga.trace_url if conf.traces_exported() else None,
        "trace_note": "" if conf.traces_exported() else conf.TRACES_NOT_EXPORTED,
        "definition": list(saga.definition_steps or []),
        "kinds": step_kinds(saga.saga_type),
        "attempts": attempts(attempt_rows, saga.saga_type, tracebacks=tracebacks, reveal=reveal),
        "events": [serializers.event(e) for e in events],
        "server_time": serializers.iso(timezone.now()),
    }
