"""The schema of a reply, checked wherever one enters: the reply endpoint, the relay's
synchronous answers and the reply rows the workers consume.

A reply that fails is refused (HTTP 400) or dead-lettered with the reason; it never
reaches the state machine, so no value it carries can break a write: ids are UUIDs,
integers fit their columns, strings are bounded and storable, `error` is an object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic import ValidationError as _Invalid

from sagas.storable import json_problem

from .envelope import MalformedMessage

MAX_ATTEMPT = 2**31 - 1  # the attempt columns are PostgreSQL integers
MAX_RESULT_BYTES = 256 * 1024
MAX_HEADERS_BYTES = 16 * 1024

Text = Annotated[StrictStr, Field(max_length=200)]
Short = Annotated[StrictStr, Field(min_length=1, max_length=100)]


class _Headers(BaseModel):
    # Unknown headers are kept (participants may add their own), within MAX_HEADERS_BYTES.
    model_config = ConfigDict(extra="allow")

    message_id: UUID
    saga_id: UUID
    step: Short
    phase: Literal["forward", "compensation"]
    attempt: Annotated[StrictInt, Field(ge=1, le=MAX_ATTEMPT)]
    idempotency_key: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    command: Text | None = None
    in_reply_to: UUID | None = None
    reply_to: Short | None = None
    saga_type: Text | None = None
    correlation_id: Text | None = None
    duplicate: StrictBool = False
    traceparent: Annotated[StrictStr, Field(max_length=512)] | None = None
    tracestate: Annotated[StrictStr, Field(max_length=512)] | None = None
    baggage: Annotated[StrictStr, Field(max_length=2048)] | None = None


class _Error(BaseModel):
    type: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    message: Annotated[StrictStr, Field(max_length=4000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "error"]
    result: Any = None
    error: _Error | None = None
    business: StrictBool = False
    traceback: Annotated[StrictStr, Field(max_length=8000)] | None = None


@dataclass(frozen=True)
class Reply:
    """A reply that passed the schema: what the workers match against a waiting attempt."""

    message_id: UUID
    saga_id: UUID
    step: str
    phase: str
    attempt: int
    idempotency_key: str
    in_reply_to: UUID | None
    duplicate: bool
    ok: bool
    result: Any
    error_type: str
    error_message: str
    business: bool


def parse(envelope: Any) -> Reply:
    """`envelope` ({"headers", "body"}) as a Reply, or MalformedMessage naming the field."""
    if not isinstance(envelope, dict):
        raise MalformedMessage("a reply must be a JSON object with headers and body")
    return reply(envelope.get("headers"), envelope.get("body"))


def reply(headers: Any, body: Any) -> Reply:
    if not isinstance(headers, dict):
        raise MalformedMessage("headers must be a JSON object")
    if not isinstance(body, dict):
        raise MalformedMessage("body must be a JSON object")
    for where, value in (("headers", headers), ("body", body)):
        problem = json_problem(value, where)
        if problem:
            raise MalformedMessage(problem)
    if _size(headers) > MAX_HEADERS_BYTES:
        raise MalformedMessage(f"headers are larger than {MAX_HEADERS_BYTES} bytes as JSON")
    h = _validate(_Headers, headers, "headers")
    b = _validate(_Body, body, "body")
    if b.status == "error" and b.error is None:
        raise MalformedMessage("body.error: an error reply needs an object with type and message")
    if b.status == "ok" and _size(b.result) > MAX_RESULT_BYTES:
        raise MalformedMessage(f"body.result is larger than {MAX_RESULT_BYTES} bytes as JSON")
    return Reply(
        message_id=h.message_id,
        saga_id=h.saga_id,
        step=h.step,
        phase=h.phase,
        attempt=h.attempt,
        idempotency_key=h.idempotency_key,
        in_reply_to=h.in_reply_to,
        duplicate=h.duplicate,
        ok=b.status == "ok",
        result=b.result if b.status == "ok" else None,
        error_type=b.error.type if b.error else "",
        error_message=b.error.message if b.error else "",
        business=b.business,
    )


def _validate(model: type[BaseModel], value: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(value)
    except _Invalid as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in (where, *first.get("loc", ())))
        raise MalformedMessage(f"{path}: {first.get('msg', 'invalid')}") from None


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))
