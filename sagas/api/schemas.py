"""The API's request and response shapes; they are also its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field

from sagas.services.actions import MAX_REASON
from sagas.services.saga_query.syntax import MAX_LENGTH as MAX_QUERY
from sagas.statuses import AttemptStatus, Phase, SagaStatus

SagaStatusName = Literal[tuple(SagaStatus.values)]  # type: ignore[valid-type]
ActionName = Literal["retry", "resume", "compensate", "cancel", "skip", "retry_with_input"]
BulkActionName = Literal["retry", "resume", "compensate", "cancel", "skip"]


def _date_time_text(value: Any) -> Any:
    # Pydantic would read a number as a Unix timestamp; the schema promises a date-time
    # string, so a number is refused rather than silently taken as seconds since 1970.
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2030-01-31T12:00:00Z")
    return value


DateTimeText = Annotated[datetime, BeforeValidator(_date_time_text)]


class StartSagaIn(Schema):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=100, description="a saga type, e.g. order")
    input: dict[str, Any] = Field(default_factory=dict, description="the saga's input object")
    correlation_id: str = Field(default="", max_length=200, description="business key")


REASON = (
    "why, for the audit trail; required (422 without) by the actions that override the "
    "orchestrator: compensate, cancel, skip, retry_with_input"
)


class ActionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="the saga version the decision was made on")
    reason: str = Field(default="", max_length=MAX_REASON, description=REASON)
    input: dict[str, Any] | None = Field(
        default=None, description="retry_with_input only: the saga's new input"
    )


class RestartIn(Schema):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(description="the new saga's input")
    reason: str = Field(
        max_length=MAX_REASON, description="why, for the audit trail (422 when empty)"
    )


class ErrorOut(Schema):
    type: str
    message: str


class AttemptOut(Schema):
    name: str
    index: int
    phase: Literal[tuple(Phase.values)]  # type: ignore[valid-type]
    status: Literal[tuple(AttemptStatus.values)]  # type: ignore[valid-type]
    attempt: int
    generation: int
    idempotency_key: str
    started_at: datetime
    finished_at: datetime | None
    deadline: datetime | None
    duration_ms: float | None
    result: Any = None
    error: ErrorOut | None
    duplicates: int = Field(description="copies of this attempt's command the participant absorbed")


class EventOut(Schema):
    id: int
    type: str
    step: str
    phase: str
    attempt: int | None
    status: str
    version: int
    payload: dict[str, Any]
    actor: str
    created_at: datetime


class SagaSummaryOut(Schema):
    id: UUID
    type: str
    status: SagaStatusName
    correlation_id: str
    version: int
    current_step: str | None
    reason: str
    trace_id: str
    trace_url: str | None = Field(description="the saga's trace in Jaeger")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class SagaOut(SagaSummaryOut):
    input: dict[str, Any]
    context: dict[str, Any]
    phase: Literal[tuple(Phase.values)]  # type: ignore[valid-type]
    next_run_at: datetime | None
    steps: list[AttemptOut]
    events: list[EventOut]


class SagaPageOut(Schema):
    items: list[SagaSummaryOut]
    next_cursor: str | None


class OperatorActionOut(Schema):
    id: int
    action: str
    actor: str
    reason: str
    step: str
    status_before: str
    status_after: str
    version_before: int
    version_after: int
    created_at: datetime


class ActionResultOut(Schema):
    saga: SagaOut
    action: OperatorActionOut


class SelectionIn(Schema):
    """Which sagas: every one a filter matches (all pages), or the listed ids."""

    model_config = ConfigDict(extra="forbid")

    type: str | None = None
    status: SagaStatusName | None = None
    correlation_id: str | None = None
    search: str | None = Field(default=None, max_length=200)
    query: str | None = Field(default=None, max_length=MAX_QUERY)  # the search language
    created_after: DateTimeText | None = None
    created_before: DateTimeText | None = None
    problem: int | None = Field(default=None, ge=1, le=2**63 - 1)
    ids: list[UUID] | None = Field(default=None, max_length=20_000)


class BulkIn(Schema):
    model_config = ConfigDict(extra="forbid")

    action: BulkActionName
    reason: str = Field(default="", max_length=MAX_REASON)
    selection: SelectionIn


class SkippedOut(Schema):
    reason: str
    count: int
    examples: list[str]


class BulkPreviewOut(Schema):
    action: str
    total: int
    by_status: dict[str, int]
    applicable: int
    skipped: list[SkippedOut]


class BulkItemOut(Schema):
    saga_id: UUID
    outcome: str
    message: str


class BulkOperationOut(Schema):
    id: int
    action: str
    status: str
    total: int
    done: int
    outcomes: dict[str, int]
    reason: str
    actor: str
    created_at: datetime
    finished_at: datetime | None
    items: list[BulkItemOut] = []


class MessageOut(Schema):
    detail: str
