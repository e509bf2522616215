"""The list's filters as query parameters, shared by `GET /api/sagas` and its CSV twin:
one schema, one check for unknown names, one SagaFilter."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Schema
from pydantic import Field

from sagas.services.queries import InvalidQuery, SagaFilter
from sagas.services.saga_query.syntax import MAX_LENGTH as MAX_QUERY

from .schemas import SagaStatusName


class FilterParams(Schema):
    type: str | None = None
    status: SagaStatusName | None = None
    correlation_id: str | None = None
    # The start of a saga id (8 characters, as the pages show it) or of a correlation id.
    search: str | None = Field(default=None, max_length=200)
    # The search language (README, "Search"): `input.country = "AQ" AND status = failed`.
    query: str | None = Field(default=None, max_length=MAX_QUERY)
    problem: int | None = Field(default=None, ge=1, le=2**63 - 1)


def saga_filter(request: HttpRequest, q: FilterParams) -> SagaFilter:
    """The filter `q` asks for; InvalidQuery (422) for a parameter its schema does not name,
    so a misspelt filter never silently returns everything."""
    allowed = set(type(q).model_fields)
    unknown = sorted(set(request.GET) - allowed)
    if unknown:
        raise InvalidQuery(
            f"unknown filter {unknown[0]!r}; filters are {', '.join(sorted(allowed))}",
            unknown[0],
        )
    return SagaFilter(
        type=q.type,
        status=q.status,
        correlation_id=q.correlation_id,
        search=(q.search or "").strip() or None,
        query=(q.query or "").strip() or None,
        problem=q.problem,
    )
