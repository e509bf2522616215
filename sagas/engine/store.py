"""Between rows and states: load a SagaState from a SagaInstance row, and write transitions
(the new state plus its attempts and events) in bulk, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction

from sagas.models import OutboxMessage, SagaEvent, SagaInstance, StepAttempt
from sagas.registry import registry
from sagas.signals import publish_events_on_commit
from sagas.statuses import TERMINAL_STATUSES, CompensationCause, Phase, SagaStatus
from sagas.telemetry.batch import SpanBatch
from sagas.telemetry.ids import new_span_id

from . import problems
from .commands import command_message
from .fingerprint import cause
from .sql import insert_many, pipelined, update_many
from .state import (
    AddAttempt,
    ErrorInfo,
    FinishAttempt,
    Record,
    SagaState,
    SendCommand,
    Transition,
)
from .tally import Tally
from .wakeup import notify_commands

STATE_FIELDS = [
    "status",
    "current_step",
    "phase",
    "attempt",
    "failures",
    "in_flight",
    "possibly_done",
    "possibly_done_earlier",
    "generations",
    "compensation_plan",
    "results",
    "reason",
    "compensation_cause",
    "version",
    "next_run_at",
    "finished_at",
    "updated_at",
]
LEASE_FIELDS = ["lease_owner", "lease_expires_at"]
FINISH_FIELDS = [
    "status",
    "finished_at",
    "result",
    "error_type",
    "error_message",
    "error_traceback",
]


def state_of(row: SagaInstance) -> SagaState:
    return SagaState(
        saga_id=str(row.id),
        status=SagaStatus(row.status),
        step=row.current_step,
        phase=Phase(row.phase),
        attempt=row.attempt,
        failures=row.failures,
        in_flight=row.in_flight,
        possibly_done=row.possibly_done,
        possibly_done_earlier=row.possibly_done_earlier,
        generations=dict(row.generations or {}),
        plan=tuple(row.compensation_plan or ()),
        results=dict(row.results or {}),
        definition_steps=tuple(row.definition_steps or ()),
        reason=row.reason,
        cause=CompensationCause(row.compensation_cause),
        version=row.version,
        next_run_at=row.next_run_at,
        finished_at=row.finished_at,
    )


def copy_state(row: SagaInstance, state: SagaState, now: datetime) -> None:
    row.status = state.status.value
    row.current_step = state.step
    row.phase = state.phase.value
    row.attempt = state.attempt
    row.failures = state.failures
    row.in_flight = state.in_flight
    row.possibly_done = state.possibly_done
    row.possibly_done_earlier = state.possibly_done_earlier
    row.generations = dict(state.generations)
    row.compensation_plan = list(state.plan)
    row.results = dict(state.results)
    row.reason = state.reason
    row.compensation_cause = state.cause.value
    row.version = state.version
    row.next_run_at = state.next_run_at
    row.finished_at = state.finished_at
    row.updated_at = now


AttemptKey = tuple[str, int, str, int]


def attempt_key(saga_id: Any, step: int, phase: str, attempt: int) -> AttemptKey:
    return (str(saga_id), step, str(phase), attempt)


class TransitionWriter:
    """Collects transitions of many sagas and writes them with a handful of bulk statements.

    `known_attempts` holds StepAttempt rows the caller already has (the worker keeps the
    ones it started), so finishing them needs no lookup.
    """

    def __init__(self, known_attempts: dict[AttemptKey, StepAttempt] | None = None) -> None:
        self.known = known_attempts if known_attempts is not None else {}
        self.rows: list[SagaInstance] = []
        self.new_rows: list[SagaInstance] = []
        self.new_attempts: list[StepAttempt] = []
        self.finished: list[tuple[AttemptKey, FinishAttempt]] = []
        self.finished_rows: list[StepAttempt] = []  # the attempts `finished` closes
        self.events: list[SagaEvent] = []
        self.messages: list[OutboxMessage] = []
        self._spans = SpanBatch()
        self._rows_by_id: dict[str, SagaInstance] = {}
        self.failed: list[problems.Failed] = []
        self.left_failed: list[tuple[object, int]] = []
        self.tally = Tally()  # the counters /metrics reads, written with the transitions

    def add(
        self,
        row: SagaInstance,
        transitions: Iterable[Transition],
        actor: str,
        now: datetime,
        *,
        new: bool = False,
    ) -> None:
        last: SagaState | None = None
        error: ErrorInfo | None = None
        was = row.status
        for transition in transitions:
            last = transition.state
            for effect in transition.effects:
                self._collect(row, transition.state, effect, actor, now)
                if isinstance(effect, FinishAttempt) and effect.error is not None:
                    error = effect.error
        if last is not None:
            self._regroup(row, was, last, error)
            copy_state(row, last, now)
            target = self.new_rows if new else self.rows
            if str(row.pk) not in self._rows_by_id:
                target.append(row)
            self._rows_by_id[str(row.pk)] = row

    def _regroup(
        self, row: SagaInstance, was: str, state: SagaState, error: ErrorInfo | None
    ) -> None:
        """Note a saga entering or leaving `failed`, for its problem (engine/problems.py)."""
        failed = SagaStatus.FAILED.value
        if state.status == SagaStatus.FAILED and was != failed:
            steps = state.definition_steps or tuple(row.definition_steps or ())
            step = steps[state.step] if state.step < len(steps) else ""
            message = error.message if error is not None else state.reason
            why = cause(
                row.saga_type, step, state.phase.value, error.type if error else "", message
            )
            self.failed.append(problems.Failed(row.id, why, message[:1000]))
        elif was == failed and state.status != SagaStatus.FAILED and row.problem_id:
            self.left_failed.append((row.id, row.problem_id))

    def _collect(
        self, row: SagaInstance, state: SagaState, effect: Any, actor: str, now: datetime
    ) -> None:
        if isinstance(effect, AddAttempt):
            attempt = StepAttempt(
                saga_id=row.id,
                step_name=effect.step_name,
                step_index=effect.step,
                phase=effect.phase.value,
                attempt=effect.attempt,
                generation=effect.generation,
                idempotency_key=effect.idempotency_key,
                status=effect.status.value,
                started_at=effect.started_at,
                finished_at=effect.finished_at,
                deadline=effect.deadline,
                span_id=new_span_id() if row.trace_id else "",
            )
            self.new_attempts.append(attempt)
            self.known[attempt_key(row.id, effect.step, effect.phase, effect.attempt)] = attempt
        elif isinstance(effect, SendCommand):
            message, producer = command_message(row, registry.find(row.saga_type), effect, now)
            self.messages.append(message)
            attempt = self.known[attempt_key(row.id, effect.step, effect.phase, effect.attempt)]
            attempt.message_id = message.message_id
            self._spans.producer(row, message, attempt.span_id, producer)
        elif isinstance(effect, FinishAttempt):
            key = attempt_key(row.id, effect.step, effect.phase, effect.attempt)
            self.finished.append((key, effect))
        elif isinstance(effect, Record):
            self.events.append(
                SagaEvent(
                    saga_id=row.id,
                    type=effect.type.value,
                    step=effect.step,
                    phase=str(effect.phase or ""),
                    attempt=effect.attempt,
                    status=state.status.value,
                    version=state.version,
                    payload=dict(effect.payload),
                    actor=actor,
                    created_at=now,
                )
            )

    def flush(self, extra_fields: Iterable[str] = LEASE_FIELDS) -> list[SagaEvent]:
        """Write everything collected; must run inside the caller's transaction.

        The writes go out as one pipeline: the statements whose answers nothing waits for
        first, the inserts that return ids last, so a commit costs a round trip or two
        instead of one per table."""
        assert transaction.get_connection().in_atomic_block, "write transitions in a transaction"
        if self.finished:
            self._finish_attempts()  # before the pipeline: it may have to look attempts up
        types = {key: row.saga_type for key, row in self._rows_by_id.items()}
        self.tally.events(self.events, types)
        with pipelined(SagaInstance):
            if self.new_rows:
                SagaInstance.objects.bulk_create(self.new_rows)
            if self.finished_rows:
                update_many(StepAttempt, self.finished_rows, FINISH_FIELDS)
            if self.rows:
                update_many(SagaInstance, self.rows, STATE_FIELDS + list(extra_fields))
            self.tally.write()
            if self.messages:
                OutboxMessage.objects.bulk_create(self.messages)
                notify_commands(m.destination for m in self.messages)
            if self.new_attempts:
                insert_many(StepAttempt, self.new_attempts)
            if self.events:
                insert_many(SagaEvent, self.events)
        if self.events:
            publish_events_on_commit(self.events, self.rows + self.new_rows)
        if self.failed or self.left_failed:
            problems.group(self.failed, self.left_failed, now_of(self.rows + self.new_rows))
        for row in self.rows + self.new_rows:
            if row.finished_at is not None and row.status in TERMINAL_STATUSES:
                self._spans.saga(row)
        self._spans.send_on_commit()
        return self.events

    def _finish_attempts(self) -> None:
        missing = [key for key, _ in self.finished if key not in self.known]
        if missing:
            for row in _lookup_attempts(missing):
                key = attempt_key(row.saga_id, row.step_index, row.phase, row.attempt)
                self.known[key] = row
        changed = []
        for key, effect in self.finished:
            attempt = self.known.get(key)
            if attempt is None:
                continue  # never recorded (e.g. a crash right after the claim); nothing to close
            attempt.status = effect.status.value
            attempt.finished_at = max(effect.finished_at, attempt.started_at)
            row = self._rows_by_id.get(str(attempt.saga_id))
            self.tally.duration(
                row.saga_type if row is not None else "",
                attempt.step_name,
                attempt.phase,
                attempt.started_at,
                attempt.finished_at,
            )
            self._spans.attempt(self._rows_by_id.get(str(attempt.saga_id)), attempt)
            attempt.result = effect.result
            if effect.error is not None:
                attempt.error_type = effect.error.type
                attempt.error_message = effect.error.message
                attempt.error_traceback = effect.error.traceback
            changed.append(attempt)
            self.known.pop(key, None)
        # One added in this same batch is inserted whole; only stored ones need an update.
        self.finished_rows = [attempt for attempt in changed if attempt.pk is not None]


def now_of(rows: list[SagaInstance]) -> datetime:
    """The transaction's time, as the transitions were stamped with it."""
    return max(row.updated_at for row in rows)


def _lookup_attempts(keys: list[AttemptKey]) -> list[StepAttempt]:
    from django.db.models import Q

    query = Q()
    for saga_id, step, phase, attempt in keys:
        query |= Q(saga_id=saga_id, step_index=step, phase=phase, attempt=attempt)
    return list(StepAttempt.objects.filter(query))
