"""What the worker tells the state machine about a saga it holds: the next event, made at
commit time (with the database's clock) by an EventMaker decided earlier."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sagas.definition import Saga
from sagas.engine.runner import Outcome
from sagas.engine.state import (
    Begin,
    Broken,
    Deferred,
    DefinitionChanged,
    Failed,
    Lost,
    Succeeded,
    TimedOut,
)
from sagas.messaging import circuits, outbox
from sagas.models import SagaInstance, StepAttempt
from sagas.statuses import AttemptStatus

EventMaker = Callable[[datetime], object]


def begin(now: datetime) -> object:
    return Begin(now)


def definition_changed(why: str) -> EventMaker:
    return lambda now: DefinitionChanged(now, why)


def broken(why: str) -> EventMaker:
    return lambda now: Broken(now, why[:1000])


def outcome(result: Outcome, offset: float) -> EventMaker:
    """The event for an attempt this worker ran; `offset` is the database clock minus this
    machine's, so the attempt's end is stamped on the database's clock."""
    rand = random.random()

    def make(now: datetime) -> object:
        at = min(now, datetime.fromtimestamp(result.at + offset, tz=UTC))
        if result.kind == "succeeded":
            return Succeeded(at, result.result)
        if result.kind == "timed_out":
            return TimedOut(at, rand)
        assert result.error is not None
        return Failed(at, result.error, result.business, rand)

    return make


def recover(attempt: StepAttempt | None, definition: type[Saga], row: SagaInstance) -> EventMaker:
    """The event for a saga claimed with an attempt in flight: a remote attempt whose
    reply did not come by its deadline, or a local one whose worker is gone."""
    atomic = definition.steps[row.current_step].atomic

    def make(now: datetime) -> object:
        rand = random.random()
        if (
            attempt is not None
            and attempt.status == AttemptStatus.RUNNING
            and (attempt.deadline is not None and attempt.deadline <= now)
        ):
            # Runs inside the commit: a command taken back undelivered did not happen.
            delivered = attempt.message_id is None or not outbox.withdraw(attempt.message_id)
            command = definition.steps[row.current_step].command_for(row.phase)
            circuit = (
                None
                if delivered or command is None
                else circuits.holding(command.partition(".")[0])
            )
            if circuit is not None:
                until = max(circuit.retry_at or now, now) + timedelta(seconds=0.5)
                why = f"{circuit.destination}'s circuit is {circuit.state}; no retry spent"
                return Deferred(now, until, why)
            return TimedOut(now, rand, delivered=delivered)
        return Lost(now, atomic=atomic, rand=rand)

    return make
