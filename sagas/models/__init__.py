"""The engine's tables. Each module holds one concept; all are exported here."""

from sagas.models.alerts import (
    Alert,
    AlertDelivery,
    AlertDestination,
    AlertEvaluator,
    AlertRule,
)
from sagas.models.attempts import StepAttempt
from sagas.models.audit import OperatorAction
from sagas.models.bulk import BulkItem, BulkOperation
from sagas.models.circuits import CircuitBreaker
from sagas.models.counters import MetricCounter
from sagas.models.events import SagaEvent
from sagas.models.instance import SagaInstance
from sagas.models.messaging import OutboxMessage, ProcessedMessage
from sagas.models.problems import Problem, ProblemChange
from sagas.models.processes import ProcessHeartbeat
from sagas.models.retention import LoadedSaga, PruneBatch, PruneItem, Pruner
from sagas.models.savedviews import SavedView
from sagas.models.tokens import ApiToken

__all__ = [
    "Alert",
    "AlertDelivery",
    "AlertDestination",
    "AlertEvaluator",
    "AlertRule",
    "ApiToken",
    "BulkItem",
    "BulkOperation",
    "CircuitBreaker",
    "LoadedSaga",
    "OperatorAction",
    "MetricCounter",
    "OutboxMessage",
    "Problem",
    "ProblemChange",
    "ProcessHeartbeat",
    "ProcessedMessage",
    "PruneBatch",
    "PruneItem",
    "Pruner",
    "SagaEvent",
    "SavedView",
    "SagaInstance",
    "StepAttempt",
]
