"""Start again: a new saga of the same type, with an edited input, from a saga that is
undoing or has undone its steps (a refused order whose card is fixed).

"Retry with edited input" keeps an operator inside the saga: once it compensates, only its
compensation runs again. An operator used to Temporal expects the order to go through;
that takes a new saga. The old one is left as it is (it goes on compensating, or stays
compensated, or failed for an operator); each records the other: the new saga's
saga_started event names the old one, and the old one gets an OperatorAction and an
operator_action event naming the new one.

Idempotent against a double click and a client's retry: the new saga is started under the
Idempotency-Key `restart:<old id>:<digest of the input>` of the actor, so the same input
from the same actor returns the saga it started the first time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from sagas import sensitive
from sagas.engine.leases import database_now
from sagas.exceptions import ActionNotAllowed, InvalidSagaInput, ReasonRequired
from sagas.models import OperatorAction, SagaEvent, SagaInstance
from sagas.registry import registry
from sagas.signals import publish_events_on_commit
from sagas.statuses import EventType, Phase, SagaStatus
from sagas.telemetry.spans import operator_span

from .actions import SagaNotFound, checked_reason, refuse_loaded
from .actors import EDIT_INPUT, START_SAGA, Actor, require
from .effects import Effect
from .jsondiff import diff
from .start import request_hash, start_saga, validate_input

ACTION = "restart"
SUMMARY = "start a new saga of the same type with this input, from its first step"


@dataclass(frozen=True)
class Restarted:
    old: SagaInstance
    new: SagaInstance
    action: OperatorAction
    created: bool  # False: this actor had started it already, with this input


def authorize(actor: Actor) -> None:
    """Starting again is starting a saga with an input the operator wrote: both
    permissions, whatever the saga."""
    require(actor, START_SAGA)
    require(actor, EDIT_INPUT)


def may(actor: Actor) -> bool:
    return actor.may(START_SAGA) and actor.may(EDIT_INPUT)


def effect(row: SagaInstance) -> Effect:
    """Whether the saga can start again as a new one, and what that does, in words."""
    compensating = row.phase == Phase.COMPENSATION
    new = f"starts a new {row.saga_type} saga from its first step with this input"
    if row.status == SagaStatus.COMPENSATED:
        return Effect(True, f"{new}; this one stays compensated")
    if row.status == SagaStatus.COMPENSATING:
        return Effect(True, f"{new}; this one goes on undoing its steps by itself")
    if row.status == SagaStatus.FAILED and compensating:
        return Effect(
            True,
            f"{new}; this one stays failed while undoing its steps: it still needs a retry, "
            "resume or skip to finish compensating",
        )
    why = {
        SagaStatus.RUNNING: "the saga is still going forward",
        SagaStatus.COMPLETED: "the saga completed",
        SagaStatus.FAILED: "the saga failed going forward, where its pivot may have happened",
    }.get(SagaStatus(row.status), f"the saga is {row.status}")
    return Effect(
        False,
        f"{why}: only a saga undoing or done undoing its steps can start again as a new "
        "saga, or the same business transaction could happen twice",
    )


def restart(
    saga_id: uuid.UUID | str, *, actor: Actor, new_input: Any, reason: str = ""
) -> Restarted:
    """Start a new saga from saga `saga_id` with `new_input`; see the module docstring."""
    authorize(actor)
    if not (reason or "").strip():
        raise ReasonRequired(f"{ACTION} needs a reason: say why the saga starts again")
    reason = checked_reason(ACTION, reason, required=False)  # its length, its text
    if not isinstance(new_input, dict):
        raise InvalidSagaInput("the new input must be a JSON object")
    validate_input(new_input)
    with transaction.atomic():
        try:
            row = SagaInstance.objects.select_for_update().get(id=saga_id)
        except SagaInstance.DoesNotExist:
            raise SagaNotFound(f"no saga has id {saga_id}") from None
        refuse_loaded(row)
        # The form showed sensitive values masked: a marker sent back keeps the old value.
        new_input = sensitive.restore(row.saga_type, new_input, row.input)
        key = f"{ACTION}:{row.id}:{request_hash(row.saga_type, new_input, row.correlation_id)}"
        done = _restarted(row, actor, key)
        if done is not None:
            return done
        allowed = effect(row)
        if not allowed.allowed:
            raise ActionNotAllowed(allowed.text)
        definition = registry.find(row.saga_type)
        if definition is None:
            raise ActionNotAllowed(f"saga type '{row.saga_type}' is not defined in this code")
        definition.validate_input(new_input)
        with operator_span(row, ACTION, actor.name) as trace_id:
            # Inside the action's span: the new saga's trace starts from the operator's.
            new, _ = start_saga(
                row.saga_type,
                new_input,
                correlation_id=row.correlation_id,
                idempotency_key=key,
                actor=actor.name,
                restarted_from=str(row.id),
            )
            record = _record(row, new, actor, reason, trace_id)
    return Restarted(row, new, record, created=True)


def links(saga: SagaInstance) -> dict[str, Any]:
    """The sagas this one was started again from and as (ids), oldest first."""
    started = (
        SagaEvent.objects.filter(saga=saga, type=EventType.SAGA_STARTED)
        .values_list("payload", flat=True)
        .first()
    )
    restarts = OperatorAction.objects.filter(saga=saga, action=ACTION).order_by("created_at", "id")
    return {
        "restarted_from": (started or {}).get("restarted_from"),
        "restarted_as": [d.get("new_saga") for d in restarts.values_list("detail", flat=True)],
    }


def _restarted(row: SagaInstance, actor: Actor, key: str) -> Restarted | None:
    """What this actor's earlier identical request did, if it did."""
    new = SagaInstance.objects.filter(created_by=actor.name, idempotency_key=key).first()
    if new is None:
        return None
    record = (
        OperatorAction.objects.filter(saga=row, action=ACTION, detail__new_saga=str(new.id))
        .order_by("id")
        .first()
    )
    assert record is not None, "a restart's saga and its audit row are written together"
    return Restarted(row, new, record, created=False)


def _record(
    row: SagaInstance, new: SagaInstance, actor: Actor, reason: str, trace_id: str
) -> OperatorAction:
    """The old saga's audit row and history event; its state is not touched (no version
    bump): nothing it does changes, so no worker or operator decision goes stale."""
    now = database_now()
    detail = {
        "summary": SUMMARY,
        "new_saga": str(new.id),
        "input_diff": diff(row.input, new.input),
        "input_before": row.input,
        "input_after": new.input,
    }
    event = SagaEvent.objects.create(
        saga=row,
        type=EventType.OPERATOR_ACTION,
        step=row.current_step_name or "",
        phase=row.phase,
        status=row.status,
        version=row.version,
        payload={"action": ACTION, "actor": actor.name, "reason": reason, "new_saga": str(new.id)},
        actor=actor.name,
        created_at=now,
    )
    publish_events_on_commit([event])
    return OperatorAction.objects.create(
        saga=row,
        user=actor.user,
        actor=actor.name,
        action=ACTION,
        reason=reason,
        step=row.current_step_name or "",
        status_before=row.status,
        status_after=row.status,
        version_before=row.version,
        version_after=row.version,
        detail=detail,
        trace_id=trace_id,
    )
