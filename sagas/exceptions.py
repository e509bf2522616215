"""Exceptions of the sagas package. Each docstring is the error's default message."""

from __future__ import annotations


class SagaError(Exception):
    """A sagascope error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class InvalidQuery(SagaError):
    """The query has an unknown filter or an invalid value."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class SagaDefinitionError(SagaError):
    """The saga definition is invalid."""


class UnknownSagaType(SagaError):
    """No saga of this type is defined; run `manage.py saga_types` to list them."""


class InvalidSagaInput(SagaError):
    """The saga input must be a JSON object."""


class IdempotencyConflict(SagaError):
    """This Idempotency-Key was already used with a different request body."""


class ActionNotAllowed(SagaError):
    """The saga's current state does not allow this action."""


class ArchivedSaga(ActionNotAllowed):
    """This saga was loaded back from an archive for an investigation: it is read-only."""


class StaleVersion(ActionNotAllowed):
    """The saga changed since you loaded it; reload it and decide again."""


class ReasonRequired(SagaError):
    """This action overrides the orchestrator, so it needs a reason."""

    field = "reason"  # the faces name it: the API in its errors, the dashboard's box


class BusinessError(SagaError):
    """The step was refused for a business reason; it is not retried, the saga compensates."""


class WorkerLost(SagaError):
    """The worker running this attempt stopped before recording its outcome."""


class OperatorAborted(SagaError):
    """An operator's compensate or cancel abandoned this attempt while it ran."""


class StepTimedOut(SagaError):
    """The attempt ran past its timeout; it may still have taken effect."""


class MetricsRefused(SagaError):
    """This request may not read /metrics."""


class MetricsUnauthenticated(MetricsRefused):
    """/metrics needs the header 'Authorization: Bearer <SAGASCOPE_METRICS_TOKEN>'."""


class MetricsForbidden(MetricsRefused):
    """/metrics is not open to this address; add it to SAGASCOPE_METRICS_ALLOW or send the token."""
