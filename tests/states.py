"""Sagas placed in a state directly, for tests that read state (pages, filters, the overview,
the API): no worker, no participant, no waiting.

`put` writes a saga's fields as a test gives them. `ran` plays a saga to its end through the
real state machine, in memory, and writes what a worker would have left (the row, its
attempts, its events) with the engine's own TransitionWriter, so the shapes are the engine's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from sagas.definition import Saga, StepContext
from sagas.engine import statemachine
from sagas.engine.leases import database_now
from sagas.engine.runner import Job, Outcome, call
from sagas.engine.state import Begin, Failed, SendCommand, Succeeded, Transition, idempotency_key
from sagas.engine.store import TransitionWriter, state_of
from sagas.models import SagaInstance
from sagas.registry import registry
from sagas.services.replies import ACTOR as REPLY
from sagas.statuses import ACTIVE_STATUSES, Phase

WORKER = "tests.states"  # the actor of what a worker records (a reply's is REPLY)
MICROSECOND = timedelta(microseconds=1)
MOST_ATTEMPTS = 200  # past this, a step fails for ever under an endless retry policy


def put(saga: SagaInstance, **fields: Any) -> SagaInstance:
    """Write `fields` on the saga's row as they are, and read it back."""
    SagaInstance.objects.filter(id=saga.id).update(**fields)
    saga.refresh_from_db()
    return saga


def ran(saga: SagaInstance, failing: Mapping[str, Outcome] | None = None) -> SagaInstance:
    """`saga` played to its end and written as a worker would have left it.

    Every attempt succeeds, with no result, except the forward attempts of the steps that
    `failing` names, which all end with the outcome given there until the step's retry policy
    gives up. Every recorded moment lies between the saga's start and now, in order: retries
    do not wait out their backoff here, so a page never shows a time still to come.
    """
    definition = registry.get(saga.saga_type)
    moments = len(_play(definition, saga, failing or {}, MICROSECOND))
    tick = max((database_now() - saga.created_at) / (moments + 1), MICROSECOND)
    with transaction.atomic():
        writer = TransitionWriter()
        for transition, at, actor in _play(definition, saga, failing or {}, tick):
            writer.add(saga, [transition], actor, at)
        writer.flush()
    saga.refresh_from_db()
    return saga


def _play(
    definition: type[Saga], saga: SagaInstance, failing: Mapping[str, Outcome], tick: timedelta
) -> list[tuple[Transition, datetime, str]]:
    """The transitions of the saga's run, each with its moment and the actor recording it."""
    state = state_of(saga)
    now = saga.created_at
    played: list[tuple[Transition, datetime, str]] = []
    while state.status in ACTIVE_STATUSES:
        assert len(played) < 2 * MOST_ATTEMPTS, f"{saga} never ends with {failing}"
        now += tick
        begun = statemachine.apply(definition, state, Begin(now))
        played.append((_unsent(begun), now, WORKER))
        now += tick
        step = begun.state.step_name
        outcome = failing.get(step) if begun.state.phase == Phase.FORWARD else None
        event: Succeeded | Failed = Succeeded(now)
        if outcome is not None:
            assert outcome.error is not None, f"the outcome given for {step} is not a failure"
            event = Failed(now, outcome.error, business=outcome.business)
        ended = statemachine.apply(definition, begun.state, event)
        played.append((ended, now, WORKER if begun.sent is None else REPLY))
        state = ended.state
    return played


def outcome_of(saga: SagaInstance, step: str) -> Outcome:
    """What the step's own code does with the saga's input, run once as a worker runs it:
    a result, a business refusal, or a crash with its real traceback."""
    definition = registry.get(saga.saga_type)
    key = idempotency_key(str(saga.id), step, Phase.FORWARD, 1)
    context = StepContext(
        saga_id=str(saga.id),
        saga_type=saga.saga_type,
        correlation_id=saga.correlation_id,
        input=saga.input,
        results=dict(saga.results),
        step=step,
        phase=Phase.FORWARD,
        attempt=1,
        idempotency_key=key,
    )
    return call(Job(saga.id, definition, definition.steps[definition.step_index(step)], context))


def _unsent(transition: Transition) -> Transition:
    # No command is written: `ran`'s outcome stands for the participant's reply, and no
    # message is left waiting in the outbox.
    effects = tuple(e for e in transition.effects if not isinstance(e, SendCommand))
    return replace(transition, effects=effects)
