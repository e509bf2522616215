"""Applying participants' replies: a reply advances its saga only if it matches the
attempt that waits, and only if it comes from the participant that attempt's command went
to. The twin of actions.perform, for the answers of participants instead of operators.

A late reply (its attempt timed out and was retried), a duplicate (its attempt already
has an outcome), a reply from another participant or for an unknown saga is recorded as
a `reply_ignored` event and changes nothing else. A reply the participant marked as a
duplicate delivery also counts on its attempt's `duplicates`, so the dashboard can show
what the inbox absorbed. A reply that fails the schema (messaging/schema.py), or whose
write fails, is dead-lettered with the reason, alone: the rest of its batch is applied.
"""

from __future__ import annotations

import logging
import random
import uuid
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from sagas import sensitive
from sagas.engine import statemachine
from sagas.engine.leases import database_now
from sagas.engine.sql import columns, hot_cursor, load_rows, pipelined
from sagas.engine.state import Begin, ErrorInfo, Failed, SagaState, Succeeded
from sagas.engine.store import LEASE_FIELDS, TransitionWriter, attempt_key, state_of
from sagas.engine.wakeup import notify_due
from sagas.exceptions import ActionNotAllowed
from sagas.messaging import outbox, schema
from sagas.messaging.envelope import MalformedMessage
from sagas.models import OutboxMessage, SagaEvent, SagaInstance, StepAttempt
from sagas.registry import registry
from sagas.signals import publish_events_on_commit
from sagas.statuses import ACTIVE_STATUSES, AttemptStatus, EventType
from sagas.transient import is_transient

log = logging.getLogger(__name__)

ACTOR = "reply"

Parsed = tuple[OutboxMessage, schema.Reply]


def consume(limit: int = 100) -> int:
    """Apply up to `limit` queued replies in one transaction; returns how many were taken."""
    with transaction.atomic():
        messages = outbox.claim(OutboxMessage.Kind.REPLY, None, limit)
        if not messages:
            return 0
        parsed: list[Parsed] = []
        for message in messages:
            try:
                parsed.append((message, schema.reply(message.headers, message.body)))
            except MalformedMessage as exc:
                _set_aside(message, f"malformed reply: {exc}")
        try:
            with transaction.atomic():
                apply(parsed)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning(
                "a batch of %d replies failed (%s); applying them one by one", len(parsed), exc
            )
            for pair in parsed:
                _apply_alone(pair)
        outbox.mark_sent(messages)  # only those still pending: the set-aside ones stay dead
    return len(messages)


def _apply_alone(pair: Parsed) -> None:
    message, reply = pair
    try:
        with transaction.atomic():
            apply([pair])
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception(
            "reply %s for saga %s could not be applied", message.message_id, reply.saga_id
        )
        _set_aside(message, f"could not be applied: {type(exc).__name__}: {exc}")


def _set_aside(message: OutboxMessage, reason: str) -> None:
    log.warning("reply %s dead-lettered: %s", message.message_id, reason)
    outbox.bury([message], reason)


def apply(replies: list[Parsed]) -> None:
    """Match and apply valid replies; call inside a transaction."""
    ignored: list[SagaEvent] = []
    now, sagas, running = _lock(sorted({reply.saga_id for _, reply in replies}))
    commands = {_key(a): a.message_id for a in running}
    writer = TransitionWriter({attempt_key(*_key(a)): a for a in running})
    woke = False
    for message, reply in replies:
        saga = sagas.get(reply.saga_id)
        if saga is None:
            ignored.append(_ignored(None, message, reply, f"no saga has id {reply.saga_id}", now))
            continue
        if reply.duplicate:
            StepAttempt.objects.filter(
                saga=saga,
                idempotency_key=reply.idempotency_key,
                phase=reply.phase,
                attempt=reply.attempt,
            ).update(duplicates=F("duplicates") + 1)
        state = state_of(saga)
        definition = registry.find(saga.saga_type)
        why = mismatch(state, reply) or _wrong_sender(saga, definition, message, reply, commands)
        if why:
            ignored.append(_ignored(saga, message, reply, why, now))
            continue
        try:
            transition = statemachine.apply(definition, state, outcome(reply, now, saga))
        except ActionNotAllowed as exc:
            ignored.append(_ignored(saga, message, reply, str(exc), now))
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


def mismatch(state: SagaState, reply: schema.Reply) -> str:
    """Why this reply does not belong to the attempt that waits ("" if it does)."""
    attempt = f"{reply.step}/{reply.phase} attempt {reply.attempt}"
    if not state.in_flight:
        return f"duplicate or late reply for {attempt}: the saga is {state.status}, not waiting"
    if (reply.step, reply.phase, reply.attempt) != (
        state.step_name,
        str(state.phase),
        state.attempt,
    ):
        return (
            f"late reply for {attempt}: the saga waits for {state.step_name}/{state.phase} "
            f"attempt {state.attempt}"
        )
    if reply.idempotency_key != state.key:
        return f"reply for {attempt} carries another idempotency key"
    return ""


def _wrong_sender(
    saga: SagaInstance,
    definition: Any,
    message: OutboxMessage,
    reply: schema.Reply,
    commands: dict[tuple[uuid.UUID, int, str, int], uuid.UUID | None],
) -> str:
    """Why this reply may not answer the waiting attempt: it comes from another participant
    than the one the command went to, or it names another command ("" if neither)."""
    if definition is None:
        return f"saga type '{saga.saga_type}' is no longer defined here; nothing can answer it"
    state = state_of(saga)
    command = definition.steps[state.step].command_for(state.phase)
    if command is None:
        return f"{state.step_name}/{state.phase} is a local step: no participant answers it"
    destination = command.partition(".")[0]
    sent = commands.get((saga.id, state.step, str(state.phase), state.attempt))
    if reply.in_reply_to is not None and sent is not None and reply.in_reply_to != sent:
        return f"reply answers command {reply.in_reply_to}, not {sent} that the attempt sent"
    if message.sender:
        if message.sender != destination:
            return f"{message.sender} answered a command that went to {destination}"
        return ""
    # A row with no recorded sender (written before senders were): only an exact answer.
    if reply.in_reply_to is None or reply.in_reply_to != sent:
        return "reply has no sender and does not name the command it answers"
    return ""


_LOCK_POSTGRES = (
    "SELECT {columns} FROM sagas_sagainstance WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
)
_RUNNING_POSTGRES = (
    "SELECT {columns} FROM sagas_stepattempt WHERE saga_id = ANY(%s) AND status = %s"
)


def _lock(
    ids: list[uuid.UUID],
) -> tuple[Any, dict[uuid.UUID, SagaInstance], list[StepAttempt]]:
    """The database's clock, the sagas locked in id order (so two appliers never wait on
    each other in a cycle), and their waiting attempts, each with the command it sent.
    On PostgreSQL the three questions go out together, prepared."""
    running = AttemptStatus.RUNNING.value
    if connection.vendor != "postgresql":
        locked = SagaInstance.objects.select_for_update().filter(id__in=ids).order_by("id")
        attempts = StepAttempt.objects.filter(saga_id__in=ids, status=running)
        return database_now(), {s.id: s for s in locked}, list(attempts)
    with (
        pipelined(SagaInstance),
        hot_cursor(connection) as clock,
        hot_cursor(connection) as lock,
        hot_cursor(connection) as waiting,
    ):
        clock.execute("SELECT clock_timestamp()")
        lock.execute(_LOCK_POSTGRES.format(columns=columns(SagaInstance)), [ids])
        waiting.execute(_RUNNING_POSTGRES.format(columns=columns(StepAttempt)), [ids, running])
        now = clock.fetchone()[0]
        sagas = {s.id: s for s in load_rows(SagaInstance, lock)}
        return now, sagas, load_rows(StepAttempt, waiting)


def _key(attempt: StepAttempt) -> tuple[uuid.UUID, int, str, int]:
    return (attempt.saga_id, attempt.step_index, attempt.phase, attempt.attempt)


def outcome(reply: schema.Reply, now: Any, saga: SagaInstance | None = None) -> object:
    """The reply as the state machine's event; an error's message with the sensitive
    values of `saga` it quotes masked (sagas/sensitive.py), as a local step's is."""
    if reply.ok:
        return Succeeded(now, reply.result)
    message = (reply.error_message or "the participant reported an error")[:2000]
    if saga is not None:
        message = sensitive.scrub(saga.saga_type, message, saga.input, saga.results)
    info = ErrorInfo(reply.error_type or "participant.Error", message)
    return Failed(now, info, business=reply.business, rand=random.random())


def _ignored(
    saga: SagaInstance | None, message: OutboxMessage, reply: schema.Reply, why: str, now: Any
) -> SagaEvent:
    log.info("reply %s ignored: %s", message.message_id, why)
    return SagaEvent(
        saga=saga,
        type=EventType.REPLY_IGNORED,
        step=reply.step,
        phase=reply.phase,
        attempt=reply.attempt,
        status=saga.status if saga else "",
        version=saga.version if saga else 0,
        payload={
            "reason": why,
            "message_id": str(message.message_id),
            "saga_id": str(reply.saga_id),
            "sender": message.sender,
            "body": _bounded(message.body),
        },
        actor=ACTOR,
        created_at=now,
    )


def _bounded(body: Any) -> Any:
    # Every staff user reads ignored replies in the history; a participant's traceback
    # (server paths, code) is not theirs to read.
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key != "traceback"}
    text = str(body)
    return body if len(text) <= 2000 else text[:2000]
