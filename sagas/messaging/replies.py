"""Replies landing: a reply advances its saga only if it matches the attempt that waits.

A late reply (its attempt timed out and was retried), a duplicate (its attempt already
has an outcome) or a reply for an unknown saga is recorded as a `reply_ignored` event and
changes nothing else. A reply the participant marked as a duplicate delivery also counts
on its attempt's `duplicates`, so the dashboard can show what the inbox absorbed.
"""

from __future__ import annotations

import logging
import random
import uuid
from typing import Any

from django.db import transaction
from django.db.models import F

from sagas.engine import statemachine
from sagas.engine.claim import database_now
from sagas.engine.state import Begin, ErrorInfo, Failed, SagaState, Succeeded
from sagas.engine.store import LEASE_FIELDS, TransitionWriter, state_of
from sagas.engine.wakeup import notify_due
from sagas.exceptions import ActionNotAllowed
from sagas.models import OutboxMessage, SagaEvent, SagaInstance, StepExecution
from sagas.registry import registry
from sagas.signals import publish_events_on_commit
from sagas.statuses import ACTIVE_STATUSES, EventType

from . import outbox
from .envelope import MATCH_HEADERS, MalformedMessage, require

log = logging.getLogger(__name__)

ACTOR = "reply"


def consume(limit: int = 100) -> int:
    """Apply up to `limit` queued replies in one transaction; returns how many."""
    with transaction.atomic():
        messages = outbox.claim(OutboxMessage.Kind.REPLY, None, limit)
        if not messages:
            return 0
        apply(messages)
        outbox.mark_sent(messages)
    return len(messages)


def apply(messages: list[OutboxMessage]) -> None:
    """Match and apply replies; call inside a transaction."""
    now = database_now()
    ignored: list[SagaEvent] = []
    parsed: list[tuple[OutboxMessage, dict[str, Any] | None]] = []
    ids: set[uuid.UUID] = set()
    for message in messages:
        try:
            headers = require(message.headers, MATCH_HEADERS)
            ids.add(uuid.UUID(str(headers["saga_id"])))
            parsed.append((message, headers))
        except MalformedMessage as exc:
            ignored.append(_ignored(None, message, f"malformed reply: {exc}", now))
            parsed.append((message, None))
    # Lock in id order, so two appliers never wait on each other in a cycle.
    sagas = {
        s.id: s for s in SagaInstance.objects.select_for_update().filter(id__in=ids).order_by("id")
    }
    writer = TransitionWriter()
    woke = False
    for message, headers in parsed:
        if headers is None:
            continue
        saga = sagas.get(uuid.UUID(str(headers["saga_id"])))
        if saga is None:
            ignored.append(_ignored(None, message, f"no saga has id {headers['saga_id']}", now))
            continue
        if headers.get("duplicate"):
            StepExecution.objects.filter(
                saga=saga,
                idempotency_key=headers["idempotency_key"],
                phase=headers["phase"],
                attempt=headers["attempt"],
            ).update(duplicates=F("duplicates") + 1)
        state = state_of(saga)
        why = mismatch(state, headers)
        if why:
            ignored.append(_ignored(saga, message, why, now))
            continue
        definition = registry.find(saga.saga_type)
        try:
            transition = statemachine.apply(definition, state, outcome(message.body, now))
        except ActionNotAllowed as exc:
            ignored.append(_ignored(saga, message, str(exc), now))
            continue
        transitions = [transition, *_send_next(definition, transition.state, now)]
        # The saga moved: any worker lease on it is void (its epoch check will say so).
        saga.lease_owner = None
        saga.lease_expires_at = None
        saga.lease_epoch += 1
        writer.add(saga, transitions, ACTOR, now)
        last = transitions[-1].state
        woke = woke or (last.next_run_at is not None and not last.in_flight)
    writer.flush(extra_fields=[*LEASE_FIELDS, "lease_epoch"])
    if ignored:
        SagaEvent.objects.bulk_create(ignored)
        publish_events_on_commit(ignored)
    if woke:
        notify_due()


def _send_next(definition: Any, state: SagaState, now: Any) -> list[Any]:
    """Start the next attempt here when it is a command: sending needs no worker, so a
    remote-to-remote step costs one transaction, not a claim and another commit."""
    if (
        definition is None
        or state.status not in ACTIVE_STATUSES
        or state.in_flight
        or state.next_run_at is None
        or state.next_run_at > now
    ):
        return []
    if definition.steps[state.step].command_for(state.phase) is None:
        return []  # a local step: a worker runs it
    return [statemachine.apply(definition, state, Begin(now))]


def mismatch(state: SagaState, headers: dict[str, Any]) -> str:
    """Why this reply does not belong to the attempt that waits ("" if it does)."""
    attempt = f"{headers['step']}/{headers['phase']} attempt {headers['attempt']}"
    if not state.in_flight:
        return f"duplicate or late reply for {attempt}: the saga is {state.status}, not waiting"
    if (headers["step"], headers["phase"], headers["attempt"]) != (
        state.step_name,
        str(state.phase),
        state.attempt,
    ):
        return (
            f"late reply for {attempt}: the saga waits for {state.step_name}/{state.phase} "
            f"attempt {state.attempt}"
        )
    if headers["idempotency_key"] != state.key:
        return f"reply for {attempt} carries another idempotency key"
    return ""


def outcome(body: dict[str, Any], now: Any) -> object:
    if body.get("status") == "ok":
        return Succeeded(now, body.get("result"))
    error = body.get("error") or {}
    info = ErrorInfo(
        str(error.get("type") or "participant.Error"),
        str(error.get("message") or "the participant reported an error")[:2000],
    )
    return Failed(now, info, business=bool(body.get("business")), rand=random.random())


def _ignored(saga: SagaInstance | None, message: OutboxMessage, why: str, now: Any) -> SagaEvent:
    headers = message.headers if isinstance(message.headers, dict) else {}
    log.info("reply %s ignored: %s", message.message_id, why)
    return SagaEvent(
        saga=saga,
        type=EventType.REPLY_IGNORED,
        step=str(headers.get("step") or "")[:100],
        phase=str(headers.get("phase") or "")[:20],
        attempt=headers.get("attempt") if isinstance(headers.get("attempt"), int) else None,
        status=saga.status if saga else "",
        version=saga.version if saga else 0,
        payload={
            "reason": why,
            "message_id": str(message.message_id),
            "saga_id": str(headers.get("saga_id") or ""),
            "body": _bounded(message.body),
        },
        actor=ACTOR,
        created_at=now,
    )


def _bounded(body: Any) -> Any:
    text = str(body)
    return body if len(text) <= 2000 else text[:2000]
