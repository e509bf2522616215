"""The statuses of sagas, phases and step attempts, shared by the models and the state machine.

Saga status transitions (only sagas/engine/statemachine.py makes them):

    running ──► completed                     every step succeeded
    running ──► compensating ──► compensated  a step failed before the pivot; undone in reverse
    running ──► failed                        a step after the pivot ran out of retries
    compensating ──► failed                   a compensation ran out of retries
    failed ──► running | compensating         an operator's retry, resume or skip
"""

from __future__ import annotations

from django.db import models


class SagaStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPENSATING = "compensating", "Compensating"
    COMPLETED = "completed", "Completed"
    COMPENSATED = "compensated", "Compensated"
    FAILED = "failed", "Failed (needs an operator)"


ACTIVE_STATUSES = (SagaStatus.RUNNING, SagaStatus.COMPENSATING)
TERMINAL_STATUSES = (SagaStatus.COMPLETED, SagaStatus.COMPENSATED)


class CompensationCause(models.TextChoices):
    """Why a saga compensated, set when its compensation starts and kept after: a refusal is
    the business saying no (a declined card), not something broken; the overview counts
    each apart."""

    NONE = "", "Did not compensate"
    REFUSAL = "refusal", "Refused: a step's business error"
    FAILURE = "failure", "Failed: a step ran out of retries or timed out"
    OPERATOR = "operator", "An operator compensated or cancelled it"


class Phase(models.TextChoices):
    FORWARD = "forward", "Forward"
    COMPENSATION = "compensation", "Compensation"


class AttemptStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    SKIPPED = "skipped", "Skipped"


class StepKind(models.TextChoices):
    COMPENSATABLE = "compensatable", "Compensatable"
    PIVOT = "pivot", "Pivot"
    RETRIABLE = "retriable", "Retriable"


class EventType(models.TextChoices):
    SAGA_STARTED = "saga_started", "Saga started"
    STEP_STARTED = "step_started", "Step attempt started"
    STEP_SUCCEEDED = "step_succeeded", "Step attempt succeeded"
    STEP_FAILED = "step_failed", "Step attempt failed"
    STEP_TIMED_OUT = "step_timed_out", "Step attempt timed out"
    STEP_SKIPPED = "step_skipped", "Step skipped by an operator"
    COMPENSATION_STARTED = "compensation_started", "Compensation started"
    SAGA_COMPLETED = "saga_completed", "Saga completed"
    SAGA_COMPENSATED = "saga_compensated", "Saga compensated"
    SAGA_FAILED = "saga_failed", "Saga failed (needs an operator)"
    OPERATOR_ACTION = "operator_action", "Operator action"
    REPLY_IGNORED = "reply_ignored", "Reply ignored (late, duplicate or unknown)"
