"""W3C trace context and baggage in message headers, in and out.

Only the saga id and the correlation id travel as baggage, bounded in size; baggage that
arrives from outside is read for those keys only and never stored. A malformed header
starts a fresh context: telemetry never raises into the business path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import baggage, context, propagate
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)

log = logging.getLogger(__name__)

BAGGAGE_KEYS = ("saga.id", "saga.correlation_id")
MAX_BAGGAGE_VALUE = 200


def span_context(trace_id: str, span_id: str) -> SpanContext | None:
    try:
        ctx = SpanContext(
            int(trace_id, 16),
            int(span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    except (TypeError, ValueError):
        return None
    return ctx if ctx.is_valid else None


def context_for(trace_id: str, span_id: str, **bag: str) -> context.Context:
    """A context whose current span is (trace_id, span_id), carrying the saga's baggage."""
    ctx = context.Context()
    parent = span_context(trace_id, span_id)
    if parent is not None:
        ctx = set_span_in_context(NonRecordingSpan(parent), ctx)
    for key, value in bag.items():
        if value:
            ctx = baggage.set_baggage(key, str(value)[:MAX_BAGGAGE_VALUE], ctx)
    return ctx


def inject(trace_id: str, span_id: str, saga_id: str, correlation_id: str) -> dict[str, str]:
    """`traceparent`, `tracestate` and `baggage` headers naming span `span_id` as parent."""
    carrier: dict[str, str] = {}
    try:
        ctx = context_for(
            trace_id, span_id, **{"saga.id": saga_id, "saga.correlation_id": correlation_id}
        )
        propagate.inject(carrier, context=ctx)
    except Exception as exc:  # telemetry must not break a saga
        log.warning("could not inject trace context: %s", exc)
    carrier.setdefault("tracestate", "")
    carrier.setdefault("baggage", "")
    return {key: carrier[key] for key in ("traceparent", "tracestate", "baggage") if key in carrier}


def extract(headers: Mapping[str, Any]) -> context.Context:
    """The context in `headers`; an empty one if they are missing or malformed."""
    try:
        carrier = {
            str(k).lower(): str(v)
            for k, v in headers.items()
            if str(k).lower() in ("traceparent", "tracestate", "baggage") and v
        }
        ctx = propagate.extract(carrier, context=context.Context())
        # keep only our own baggage keys, bounded
        clean = context.Context()
        span = get_current_span(ctx)
        if span.get_span_context().is_valid:
            clean = set_span_in_context(span, clean)
        for key in BAGGAGE_KEYS:
            value = baggage.get_baggage(key, ctx)
            if value:
                clean = baggage.set_baggage(key, str(value)[:MAX_BAGGAGE_VALUE], clean)
        return clean
    except Exception as exc:
        log.info("ignoring malformed trace headers: %s", exc)
        return context.Context()


def current_ids() -> tuple[str, str]:
    """(trace id, span id) of the current span, or ("", "") outside any trace."""
    return span_ids(context.get_current())


def span_ids(ctx: context.Context) -> tuple[str, str]:
    """(trace id, span id) of the span `ctx` holds, or ("", "")."""
    span_context_ = get_current_span(ctx).get_span_context()
    if not span_context_.is_valid:
        return "", ""
    return f"{span_context_.trace_id:032x}", f"{span_context_.span_id:016x}"
