"""Manual actions on one saga: retry, resume, compensate, cancel, skip.

Each action checks the actor's permission and the reason sent, then, in one transaction
with the saga row locked: checks the version the actor saw, applies the state machine's
transition, revokes any worker's lease (bumping the epoch, so a worker mid-step writes
nothing over it), and records an OperatorAction and its SagaEvent. A stale or doubled
request changes nothing and raises StaleVersion saying why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from sagas import sensitive
from sagas.definition import Saga
from sagas.engine import statemachine
from sagas.engine.leases import database_now
from sagas.engine.state import (
    CancelSaga,
    CompensateSaga,
    OperatorCommand,
    ResumeStep,
    RetryStep,
    SkipStep,
)
from sagas.engine.store import LEASE_FIELDS, TransitionWriter, state_of
from sagas.engine.wakeup import notify_due
from sagas.exceptions import (
    ActionNotAllowed,
    ArchivedSaga,
    InvalidSagaInput,
    ReasonRequired,
    SagaError,
    StaleVersion,
)
from sagas.models import LoadedSaga, OperatorAction, SagaInstance
from sagas.registry import registry
from sagas.storable import text_problem
from sagas.telemetry.spans import operator_span

from .actors import CANCEL, COMPENSATE, EDIT_INPUT, RESUME, RETRY, SKIP, Actor, require
from .effects import Effect, describe
from .jsondiff import diff
from .start import validate_input

MAX_REASON = 2000  # characters in an action's reason, from any face: it is kept in the audit log


@dataclass(frozen=True)
class ActionSpec:
    command: type[OperatorCommand]
    permission: str
    needs_reason: bool  # it overrides the orchestrator: the audit trail must say why
    summary: str
    edits_input: bool = False


ACTIONS: dict[str, ActionSpec] = {
    "retry": ActionSpec(
        RetryStep, RETRY, False, "run the failed step again with a new idempotency key"
    ),
    "resume": ActionSpec(
        ResumeStep, RESUME, False, "run the failed step again with the same idempotency key"
    ),
    "compensate": ActionSpec(
        CompensateSaga, COMPENSATE, True, "undo the completed steps in reverse order"
    ),
    "cancel": ActionSpec(
        CancelSaga,
        CANCEL,
        True,
        "cancel before the pivot: undo the completed steps in reverse order",
    ),
    "skip": ActionSpec(SkipStep, SKIP, True, "mark the current step done by hand and move on"),
    "retry_with_input": ActionSpec(
        RetryStep,
        EDIT_INPUT,
        True,
        "replace the saga's input, then run the failed step again with a new idempotency key",
        edits_input=True,
    ),
}


class UnknownAction(SagaError):
    """Unknown action; the actions are retry, resume, compensate, cancel, skip and
    retry_with_input."""


def refuse_loaded(row: SagaInstance) -> None:
    """A saga loaded back from an archive (manage.py archive_load) is only for reading."""
    if LoadedSaga.objects.filter(saga_id=row.id).exists():
        raise ArchivedSaga(
            f"saga {row.id} was loaded from an archive for an investigation and is read-only; "
            "act on the live saga, or start a new one"
        )


class SagaNotFound(SagaError):
    """No saga has this id."""


class ReasonTooLong(ReasonRequired):
    """The reason is longer than an operator action's reason may be; shorten it."""


def perform(
    saga_id: uuid.UUID | str,
    action: str,
    *,
    actor: Actor,
    version: int,
    reason: str = "",
    new_input: Any = None,
) -> tuple[SagaInstance, OperatorAction]:
    """Apply one action to one saga, or raise saying why not; see the module docstring."""
    spec = authorize(actor, action)
    reason = checked_reason(action, reason)
    with transaction.atomic():
        try:
            row = SagaInstance.objects.select_for_update().get(id=saga_id)
        except SagaInstance.DoesNotExist:
            raise SagaNotFound(f"no saga has id {saga_id}") from None
        refuse_loaded(row)
        if row.version != version:
            raise StaleVersion(
                f"saga {row.id} is at version {row.version}, not {version}: it changed since "
                "you loaded it (the worker or another operator acted); reload and decide again"
            )
        definition = definition_of(row)
        detail: dict[str, Any] = {"summary": spec.summary}
        if spec.edits_input:
            detail.update(_edit_input(row, definition, new_input))
        before = state_of(row)
        with operator_span(row, action, actor.name) as trace_id:
            now = database_now()
            transition = statemachine.apply(
                definition, before, spec.command(now, actor.name, reason)
            )
            # Revoke any worker's lease: its next write fails the epoch check.
            row.lease_owner = None
            row.lease_expires_at = None
            row.lease_epoch += 1
            writer = TransitionWriter()
            writer.add(row, [transition], actor.name, now)
            edited = ["input", "sensitive_hashes"] if spec.edits_input else []
            fields = [*LEASE_FIELDS, "lease_epoch", *edited]
            writer.flush(extra_fields=fields)
            record = OperatorAction.objects.create(
                saga=row,
                user=actor.user,
                actor=actor.name,
                action=action,
                reason=reason,
                step=before.step_name,
                status_before=before.status,
                status_after=row.status,
                version_before=before.version,
                version_after=row.version,
                detail=detail,
                trace_id=trace_id,
            )
        if row.next_run_at is not None:
            notify_due()
    return row, record


def spec_for(action: str) -> ActionSpec:
    spec = ACTIONS.get(action)
    if spec is None:
        raise UnknownAction(f"unknown action {action!r}; one of: {', '.join(ACTIONS)}")
    return spec


def authorize(actor: Actor, action: str) -> ActionSpec:
    """The action's spec, if `actor` may take it; else UnknownAction or PermissionDenied."""
    spec = spec_for(action)
    require(actor, spec.permission)
    return spec


def permitted(actor: Actor) -> list[str]:
    """The actions `actor` may take, whatever the saga."""
    return [name for name, spec in ACTIONS.items() if actor.may(spec.permission)]


def checked_reason(action: str, reason: str | None, required: bool | None = None) -> str:
    """The reason as it will be recorded (stripped), or ReasonRequired saying what is wrong
    with it: missing where the action needs one (`required`, or else as its spec says), too
    long, or not storable as text."""
    reason = reason or ""
    if len(reason) > MAX_REASON:  # as sent: every face has always counted it so
        raise ReasonTooLong(f"the reason is longer than {MAX_REASON} characters.")
    reason = reason.strip()
    needed = spec_for(action).needs_reason if required is None else required
    if needed and not reason:
        raise ReasonRequired(f"{action} overrides the orchestrator, so it needs a reason")
    problem = text_problem(reason)
    if problem:  # a form or the API could send it; PostgreSQL text would refuse it with a 500
        raise ReasonRequired(f"the reason {problem}; write it again as plain text")
    return reason


def definition_of(row: SagaInstance) -> type[Saga]:
    """The saga's definition, if this code can still run the saga; else ActionNotAllowed."""
    definition = registry.find(row.saga_type)
    if definition is None:
        raise ActionNotAllowed(f"saga type '{row.saga_type}' is not defined in this code")
    broken = definition.incompatibility(list(row.definition_steps))
    if broken:
        raise ActionNotAllowed(f"{broken}; deploy a definition this saga can follow first")
    return definition


def effect_of(row: SagaInstance, action: str, now: Any = None) -> Effect:
    """What `action` would do to the saga now, in words (for confirmations and previews)."""
    spec = spec_for(action)
    try:
        definition = definition_of(row)
    except ActionNotAllowed as exc:
        return Effect(False, str(exc))
    return describe(definition, state_of(row), action, spec.command, now or row.updated_at)


def _edit_input(row: SagaInstance, definition: type[Saga], new_input: Any) -> dict[str, Any]:
    if not isinstance(new_input, dict):
        raise InvalidSagaInput("the new input must be a JSON object")
    # The form showed sensitive values masked: a marker sent back keeps the stored value.
    new_input = sensitive.restore(definition, new_input, row.input)
    validate_input(new_input)
    definition.validate_input(new_input)
    changes = diff(row.input, new_input)
    if not changes:
        raise InvalidSagaInput("the new input is the same as the current one")
    before = row.input
    row.input = new_input
    row.sensitive_hashes = sensitive.input_hashes(definition, new_input)
    return {"input_diff": changes, "input_before": before, "input_after": new_input}
