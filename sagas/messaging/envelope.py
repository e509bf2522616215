"""The envelope: what every command and reply carries, in both transports.

A message is JSON `{"headers": {...}, "body": {...}}`. Headers name the saga, step,
phase, attempt and idempotency key it belongs to, the correlation id, where to reply, and
the W3C `traceparent`, `tracestate` and `baggage` of the span that sent it.
"""

from __future__ import annotations

import uuid
from typing import Any

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
