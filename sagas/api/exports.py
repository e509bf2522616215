"""Exports: one saga's whole history as JSON, and the saga list as a CSV file.

The CSV has a path of its own (`/api/sagas.csv`) rather than `?format=csv` on the list: the
list answers one JSON page of a documented schema, the CSV every matching saga as a stream
of another media type, and each deserves its own entry in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from sagas.services import csvexport, history
from sagas.services.listcolumns import COLUMNS, parse_columns

from .auth import actor_of
from .filters import FilterParams, saga_filter
from .schemas import EventOut, MessageOut, OperatorActionOut, SagaSummaryOut

router = Router(tags=["exports"])
ERRORS = {code: MessageOut for code in (400, 401, 403, 422)}


class HistoryAttemptOut(Schema):
    id: int
    name: str
    index: int
    phase: str
    status: str
    attempt: int
    generation: int
    idempotency_key: str
    started_at: datetime
    finished_at: datetime | None
    deadline: datetime | None
    duration_ms: float | None
    result: Any = None
    error_type: str
    error_message: str
    duplicates: int


class HistorySagaOut(SagaSummaryOut):
    input: dict[str, Any]
    context: dict[str, Any]
    phase: str
    next_run_at: datetime | None
    definition: list[str]
    created_by: str


class HistoryActionOut(OperatorActionOut):
    outcome: str
    trace_id: str
    trace_url: str | None


class HistoryOut(Schema):
    format: str = Field(description="the document's shape: sagascope.history/1")
    exported_at: datetime
    saga: HistorySagaOut
    attempts: list[HistoryAttemptOut]
    events: list[EventOut]
    operator_actions: list[HistoryActionOut]


@router.get(
    "/sagas/{saga_id}/history",
    response={200: HistoryOut, 404: MessageOut, **ERRORS},
    summary="A saga's whole history: the saga, every attempt, every event, operator actions",
    description="Sensitive fields are masked unless `?reveal=1` by an actor allowed to see "
    "them (sagas.view_sensitive, token scope `sensitive`; 403 otherwise), which is recorded.",
)
def saga_history(request: HttpRequest, saga_id: UUID, reveal: bool = False) -> dict:
    return history.history(saga_id, actor_of(request), reveal=reveal)


class CsvParams(FilterParams):
    columns: str = Field(
        default="", description=f"comma-separated, from: {', '.join(COLUMNS)}; the id is always in"
    )


CSV_RESPONSE = {
    "description": "the CSV file",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@router.get(
    "/sagas.csv",
    response={200: None, **ERRORS},
    summary="Every saga the filters match, newest first, as a CSV file (streamed)",
    openapi_extra={"responses": {200: CSV_RESPONSE}},
)
def sagas_csv(request: HttpRequest, q: Query[CsvParams]) -> StreamingHttpResponse:
    flt = saga_filter(request, q)
    lines = csvexport.export(flt, actor_of(request), parse_columns(q.columns))
    return csvexport.download(lines)
