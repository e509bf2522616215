"""Every error the API returns is JSON with a `detail` that says what was wrong and, where
a field was, names it. Nothing the caller sends may produce a 500."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from sagas.exceptions import (
    ActionNotAllowed,
    IdempotencyConflict,
    InvalidSagaInput,
    ReasonRequired,
    SagaError,
    UnknownSagaType,
)
from sagas.services.actions import SagaNotFound
from sagas.services.bulk import TooManySagas
from sagas.services.problems import InvalidTriage, ProblemNotFound
from sagas.services.queries import InvalidQuery
from sagas.services.saga_query import QuerySyntaxError, QueryTooSlow

from .parser import MalformedRequest

# exception class -> (status, field it concerns)
STATUS: dict[type[SagaError], tuple[int, str | None]] = {
    UnknownSagaType: (422, "type"),
    InvalidSagaInput: (422, "input"),
    IdempotencyConflict: (422, "Idempotency-Key"),
    ReasonRequired: (422, "reason"),  # a validation error like any other
    ActionNotAllowed: (409, None),  # StaleVersion included
    TooManySagas: (400, "selection"),
    SagaNotFound: (404, "id"),
    ProblemNotFound: (404, "id"),
}


def _field(loc: Any) -> str:
    # The first part names where the field was (a list parameter may be called "query").
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    parts = [p for p in parts if p not in ("body", "payload")]
    return ".".join(parts) or "body"


def install(api: NinjaAPI) -> None:
    @api.exception_handler(ValidationError)
    def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")}
            for e in exc.errors
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return api.create_response(request, {"detail": detail, "errors": errors}, status=422)

    @api.exception_handler(MalformedRequest)
    def malformed(request: HttpRequest, exc: MalformedRequest) -> HttpResponse:
        return api.create_response(request, {"detail": str(exc)}, status=400)

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        # ninja wraps a body its parser refused in "Cannot parse request body"; the
        # parser's own words say what was wrong.
        cause = exc.__cause__
        detail = str(cause) if isinstance(cause, MalformedRequest) else str(exc)
        return api.create_response(request, {"detail": detail}, status=exc.status_code)

    @api.exception_handler(InvalidQuery)
    @api.exception_handler(InvalidTriage)
    def bad_field(request: HttpRequest, exc: InvalidQuery | InvalidTriage) -> HttpResponse:
        return api.create_response(
            request,
            {"detail": str(exc), "errors": [{"field": exc.field, "message": str(exc)}]},
            status=400,
        )

    @api.exception_handler(QuerySyntaxError)
    @api.exception_handler(QueryTooSlow)
    def bad_query(request: HttpRequest, exc: QuerySyntaxError | QueryTooSlow) -> HttpResponse:
        # A search-language query is read whole: 422 with the parser's position and words,
        # or the advice to narrow one that ran past its time limit.
        body = {"detail": str(exc), "errors": [{"field": "query", "message": str(exc)}]}
        return api.create_response(request, body, status=422)

    @api.exception_handler(SagaError)
    def saga_error(request: HttpRequest, exc: SagaError) -> HttpResponse:
        status, field = next((v for cls, v in STATUS.items() if isinstance(exc, cls)), (400, None))
        body: dict[str, Any] = {"detail": str(exc)}
        if field:
            body["errors"] = [{"field": field, "message": str(exc)}]
        return api.create_response(request, body, status=status)

    @api.exception_handler(PermissionDenied)
    def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return api.create_response(request, {"detail": str(exc) or "forbidden"}, status=403)

    @api.exception_handler(RequestDataTooBig)
    def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return api.create_response(
            request, {"detail": "request body is larger than the server accepts"}, status=413
        )
