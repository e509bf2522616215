"""Why the service layer refused an operator, as an HTTP status and a sentence to show.

The pages' scripts read the status (409: the saga's state or version does not allow it;
403: no permission; 422: a field of the action is invalid: its reason, its input, the
version it was decided on, as the API answers) and show the sentence as it is.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse

from sagas.exceptions import (
    ActionNotAllowed,
    InvalidSagaInput,
    ReasonRequired,
    SagaError,
    StaleVersion,
)
from sagas.services.actions import SagaNotFound, UnknownAction

# A request the server read, one of whose fields is invalid: the API's status for it too.
INVALID = 422

STATUSES: list[tuple[type[Exception], int]] = [
    (PermissionDenied, 403),
    (ActionNotAllowed, 409),  # StaleVersion included: the saga changed under the operator
    (SagaNotFound, 404),
    (UnknownAction, 404),
    (ReasonRequired, INVALID),
    (InvalidSagaInput, INVALID),
    (SagaError, 400),
]


class Refusal(Exception):
    """A request the dashboard turns down before the service layer sees it."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def status_of(exc: Exception) -> int:
    if isinstance(exc, Refusal):
        return exc.status
    return next((status for cls, status in STATUSES if isinstance(exc, cls)), 400)


def message_of(exc: Exception) -> str:
    text = str(exc) or "refused"
    if isinstance(exc, StaleVersion):
        return f"The saga's version changed: {text}"
    if isinstance(exc, PermissionDenied):
        return f"Permission denied: {text}" if str(exc) else "Permission denied."
    return text[:1].upper() + text[1:]


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def json_refusal(exc: Exception, **extra: Any) -> JsonResponse:
    body: dict[str, Any] = {"detail": message_of(exc), **extra}
    field = getattr(exc, "field", "")  # a Refusal's, or an InvalidQuery's
    if field:
        body["field"] = field
    return JsonResponse(body, status=status_of(exc))
