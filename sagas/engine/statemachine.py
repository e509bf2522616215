"""The orchestrator's pure state machine: (definition, state, event) -> (new state, effects).

No I/O: the worker and the service layer load a state, call `apply`, and write the returned
state and effects in one transaction. Every transition bumps the saga's version by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sagas.definition import Saga
from sagas.exceptions import (
    ActionNotAllowed,
    OperatorAborted,
    ReasonRequired,
    StepTimedOut,
    WorkerLost,
)
from sagas.statuses import (
    ACTIVE_STATUSES,
    AttemptStatus,
    CompensationCause,
    EventType,
    Phase,
    SagaStatus,
    StepKind,
)

from .state import (
    AddAttempt,
    Begin,
    Broken,
    CancelSaga,
    CompensateSaga,
    Deferred,
    DefinitionChanged,
    Effect,
    ErrorInfo,
    Failed,
    FinishAttempt,
    Lost,
    Record,
    ResumeStep,
    RetryStep,
    SagaState,
    SendCommand,
    SkipStep,
    Succeeded,
    TimedOut,
    Transition,
)

TIMEOUT_ERROR = f"{StepTimedOut.__module__}.{StepTimedOut.__qualname__}"
LOST_ERROR = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"
ABORTED_ERROR = f"{OperatorAborted.__module__}.{OperatorAborted.__qualname__}"


def apply(definition: type[Saga], state: SagaState, event: object) -> Transition:
    """The one entry point: the transition `event` causes from `state`."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"the state machine has no transition for {type(event).__name__}")
    return handler(definition, state, event)


def start(saga_id: str, definition: type[Saga], now: Any, restarted_from: str = "") -> Transition:
    """The state of a new saga, due at once; `restarted_from` names the saga an operator
    started it again from (see sagas/services/restart.py)."""
    state = SagaState(
        saga_id=saga_id,
        status=SagaStatus.RUNNING,
        definition_steps=tuple(definition.step_names()),
        next_run_at=now,
    )
    payload = {"steps": list(state.definition_steps), "fingerprint": definition.fingerprint()}
    if restarted_from:
        payload["restarted_from"] = restarted_from
    return Transition(state, (Record(EventType.SAGA_STARTED, payload=payload),))


# Worker events


def _begin(d: type[Saga], s: SagaState, e: Begin) -> Transition:
    if s.status not in ACTIVE_STATUSES or s.in_flight:
        raise ActionNotAllowed(
            f"cannot begin an attempt of a {s.status} saga (in flight: {s.in_flight})"
        )
    step = d.steps[s.step]
    attempt = s.attempt + 1
    deadline = e.now + timedelta(seconds=step.timeout) if step.timeout else None
    started = AddAttempt(
        step=s.step,
        step_name=step.name,
        phase=s.phase,
        attempt=attempt,
        generation=s.generation,
        idempotency_key=s.key,
        status=AttemptStatus.RUNNING,
        started_at=e.now,
        deadline=deadline,
    )
    payload = {"idempotency_key": s.key, "generation": s.generation, "kind": step.kind.value}
    if deadline is not None:
        payload["deadline"] = deadline.isoformat()
    effects: list[Effect] = [started]
    command = step.command_for(s.phase)
    # A local attempt is due again at once should its worker vanish (its lease decides);
    # a remote one waits for its reply, which nobody holds a lease for, until its deadline.
    due = e.now
    if command is not None:
        payload["command"] = command
        effects.append(SendCommand(s.step, step.name, s.phase, attempt, s.key, command, deadline))
        due = deadline
    effects.append(_record(s, EventType.STEP_STARTED, attempt, payload))
    new = replace(s, attempt=attempt, in_flight=True, next_run_at=due, version=s.version + 1)
    return Transition(new, tuple(effects))


def _succeeded(d: type[Saga], s: SagaState, e: Succeeded) -> Transition:
    _require_in_flight(s)
    effects: list[Effect] = [
        FinishAttempt(s.step, s.phase, s.attempt, AttemptStatus.SUCCEEDED, e.now, result=e.result),
        _record(s, EventType.STEP_SUCCEEDED, s.attempt, {"idempotency_key": s.key}),
    ]
    s = replace(s, in_flight=False, version=s.version + 1)
    if s.phase == Phase.FORWARD:
        s = replace(s, results={**s.results, d.steps[s.step].name: e.result})
        return _advance_forward(d, s, effects, e.now)
    return _advance_compensation(s, effects, e.now)


def _failed(d: type[Saga], s: SagaState, e: Failed) -> Transition:
    _require_in_flight(s)
    effects: list[Effect] = [
        FinishAttempt(s.step, s.phase, s.attempt, AttemptStatus.FAILED, e.now, error=e.error)
    ]
    payload = {"error": e.error.as_dict(), "business": e.business, "idempotency_key": s.key}
    s = replace(s, in_flight=False, failures=s.failures + 1, version=s.version + 1)
    if e.business:
        # A refusal is the outcome of this idempotency key: participants answer every copy
        # of a key with its first outcome, so no attempt under this key took effect.
        s = replace(s, possibly_done=False)
    elif s.phase == Phase.FORWARD and d.steps[s.step].command_for(s.phase) is not None:
        # A participant stores no transient failure: another copy of this command (delivery
        # is at least once) may still succeed under the same key, so it may have happened.
        s = replace(s, possibly_done=True)
    return _after_failure(d, s, effects, EventType.STEP_FAILED, payload, e.now, e.rand, e.business)


def _timed_out(d: type[Saga], s: SagaState, e: TimedOut) -> Transition:
    _require_in_flight(s)
    error = ErrorInfo(TIMEOUT_ERROR, f"attempt {s.attempt} of '{s.step_name}' timed out")
    effects: list[Effect] = [
        FinishAttempt(s.step, s.phase, s.attempt, AttemptStatus.TIMED_OUT, e.now, error=error)
    ]
    payload = {"error": error.as_dict(), "idempotency_key": s.key, "delivered": e.delivered}
    # A timed-out attempt may have happened (its compensation must run too), unless its
    # command provably never reached the participant.
    s = replace(
        s,
        in_flight=False,
        failures=s.failures + 1,
        version=s.version + 1,
        possibly_done=s.possibly_done or (e.delivered and s.phase == Phase.FORWARD),
    )
    return _after_failure(d, s, effects, EventType.STEP_TIMED_OUT, payload, e.now, e.rand, False)


def _deferred(d: type[Saga], s: SagaState, e: Deferred) -> Transition:
    _require_in_flight(s)
    error = ErrorInfo(TIMEOUT_ERROR, f"attempt {s.attempt} of '{s.step_name}' held: {e.reason}")
    effects: list[Effect] = [
        FinishAttempt(s.step, s.phase, s.attempt, AttemptStatus.TIMED_OUT, e.now, error=error),
        _record(
            s,
            EventType.STEP_TIMED_OUT,
            s.attempt,
            {
                "error": error.as_dict(),
                "idempotency_key": s.key,
                "delivered": False,
                "held": True,
                "retry_at": e.until.isoformat(),
            },
        ),
    ]
    # Not delivered, so it did not happen; and not the step's fault, so no failure counts.
    s = replace(s, in_flight=False, next_run_at=max(e.until, e.now), version=s.version + 1)
    return Transition(s, tuple(effects))


def _lost(d: type[Saga], s: SagaState, e: Lost) -> Transition:
    _require_in_flight(s)
    error = ErrorInfo(LOST_ERROR, "the worker running this attempt stopped before it finished")
    effects: list[Effect] = [
        FinishAttempt(s.step, s.phase, s.attempt, AttemptStatus.FAILED, e.now, error=error)
    ]
    payload = {"error": error.as_dict(), "idempotency_key": s.key}
    maybe = s.phase == Phase.FORWARD and not e.atomic
    s = replace(
        s,
        in_flight=False,
        failures=s.failures + 1,
        version=s.version + 1,
        possibly_done=s.possibly_done or maybe,
    )
    return _after_failure(d, s, effects, EventType.STEP_FAILED, payload, e.now, e.rand, False)


def _definition_changed(d: type[Saga], s: SagaState, e: DefinitionChanged) -> Transition:
    why = "the saga's definition changed while this attempt ran"
    return _stop(s, e.now, why, f"definition changed: {e.reason}", maybe_done=False)


def _broken(d: type[Saga], s: SagaState, e: Broken) -> Transition:
    why = "the worker could not record this attempt's outcome"
    reason = f"the worker could not record the saga's next step: {e.reason}"
    # The attempt may have taken effect before its outcome was lost.
    return _stop(s, e.now, why, reason, maybe_done=s.phase == Phase.FORWARD)


def _stop(s: SagaState, now: Any, attempt_error: str, reason: str, maybe_done: bool) -> Transition:
    """Fail the saga for an operator, closing the attempt in flight, if any."""
    effects: list[Effect] = []
    if s.in_flight:
        error = ErrorInfo(LOST_ERROR, attempt_error)
        effects.append(
            FinishAttempt(s.step, s.phase, s.attempt, AttemptStatus.FAILED, now, error=error)
        )
        s = replace(s, possibly_done=s.possibly_done or maybe_done)
    s = replace(s, in_flight=False, version=s.version + 1)
    return _fail(s, effects, reason)


# Operator commands


def _retry(d: type[Saga], s: SagaState, e: RetryStep) -> Transition:
    _require_failed(s, "retried")
    generations = {**s.generations, f"{s.step}:{s.phase}": s.generation + 1}
    # What the old key may have done stays possible whatever the new key's outcome.
    s = replace(s, generations=generations, possibly_done=False, possibly_done_earlier=s.maybe_done)
    return _reopen(s, e, "retry", {"generation": s.generation, "idempotency_key": s.key})


def _resume(d: type[Saga], s: SagaState, e: ResumeStep) -> Transition:
    _require_failed(s, "resumed")
    return _reopen(s, e, "resume", {"generation": s.generation, "idempotency_key": s.key})


def _compensate(d: type[Saga], s: SagaState, e: CompensateSaga) -> Transition:
    if s.status not in (SagaStatus.RUNNING, SagaStatus.FAILED) or s.phase != Phase.FORWARD:
        raise ActionNotAllowed(
            f"saga is {s.status}{' (compensating)' if s.phase == Phase.COMPENSATION else ''}; "
            "only a running saga, or one failed going forward, can be compensated"
        )
    _require_before_pivot(d, s, "compensated")
    return _abort(d, s, e, "compensate")


def _cancel(d: type[Saga], s: SagaState, e: CancelSaga) -> Transition:
    if s.status != SagaStatus.RUNNING:
        raise ActionNotAllowed(f"saga is {s.status}; only a running saga can be cancelled")
    _require_before_pivot(d, s, "cancelled")
    return _abort(d, s, e, "cancel")


def _skip(d: type[Saga], s: SagaState, e: SkipStep) -> Transition:
    if not e.reason.strip():
        raise ReasonRequired("skipping a step needs a reason: say what was done by hand")
    if s.status not in (*ACTIVE_STATUSES, SagaStatus.FAILED):
        raise ActionNotAllowed(f"saga is {s.status}; there is no step left to skip")
    if s.in_flight:
        raise ActionNotAllowed(
            f"step '{s.step_name}' is running; wait for its outcome or its timeout, then skip"
        )
    attempt = s.attempt + 1
    effects: list[Effect] = [
        _operator_record(s, e, "skip", {"step": s.step_name, "phase": s.phase}),
        AddAttempt(
            step=s.step,
            step_name=s.step_name,
            phase=s.phase,
            attempt=attempt,
            generation=s.generation,
            idempotency_key=s.key,
            status=AttemptStatus.SKIPPED,
            started_at=e.now,
            finished_at=e.now,
        ),
        _record(s, EventType.STEP_SKIPPED, attempt, {"reason": e.reason, "actor": e.actor}),
    ]
    status = SagaStatus.RUNNING if s.phase == Phase.FORWARD else SagaStatus.COMPENSATING
    s = replace(s, status=status, attempt=attempt, reason="", version=s.version + 1)
    if s.phase == Phase.FORWARD:
        s = replace(s, results={**s.results, s.step_name: None})
        return _advance_forward(d, s, effects, e.now)
    return _advance_compensation(s, effects, e.now)


# Shared moves


def _advance_forward(d: type[Saga], s: SagaState, effects: list[Effect], now: Any) -> Transition:
    if s.step + 1 >= len(d.steps):
        s = replace(s, status=SagaStatus.COMPLETED, next_run_at=None, finished_at=now, reason="")
        effects.append(Record(EventType.SAGA_COMPLETED))
        return Transition(s, tuple(effects))
    s = replace(
        s,
        step=s.step + 1,
        attempt=0,
        failures=0,
        possibly_done=False,
        possibly_done_earlier=False,
        next_run_at=now,
    )
    return Transition(s, tuple(effects))


def _advance_compensation(s: SagaState, effects: list[Effect], now: Any) -> Transition:
    plan = s.plan[1:]
    if not plan:
        s = replace(s, status=SagaStatus.COMPENSATED, plan=(), next_run_at=None, finished_at=now)
        effects.append(Record(EventType.SAGA_COMPENSATED, payload={"reason": s.reason}))
        return Transition(s, tuple(effects))
    s = replace(s, plan=plan, step=plan[0], attempt=0, failures=0, next_run_at=now)
    return Transition(s, tuple(effects))


def _after_failure(
    d: type[Saga],
    s: SagaState,
    effects: list[Effect],
    event_type: EventType,
    payload: dict[str, Any],
    now: Any,
    rand: float,
    business: bool,
) -> Transition:
    step = d.steps[s.step]
    policy = step.policy(s.phase)
    if not business and policy.allows_another(s.failures):
        delay = policy.delay(s.failures, rand)
        retry_at = now + timedelta(seconds=delay)
        payload = {**payload, "retry_at": retry_at.isoformat(), "retry_in_s": round(delay, 3)}
        effects.append(_record(s, event_type, s.attempt, payload))
        return Transition(replace(s, next_run_at=retry_at), tuple(effects))

    effects.append(_record(s, event_type, s.attempt, payload))
    error = payload["error"]["message"]
    why = "a business error" if business else f"{s.failures} attempt(s)"
    if s.phase == Phase.COMPENSATION:
        return _fail(s, effects, f"compensation of step '{step.name}' failed after {why}: {error}")
    if step.kind == StepKind.RETRIABLE:
        return _fail(
            s,
            effects,
            f"step '{step.name}' comes after the pivot, so the saga cannot compensate; "
            f"it failed after {why}: {error}",
        )
    if step.kind == StepKind.PIVOT and s.maybe_done:
        return _fail(
            s,
            effects,
            f"pivot step '{step.name}' may have taken effect (an attempt did not report back) "
            f"and cannot be compensated; it failed after {why}: {error}",
        )
    cause = CompensationCause.REFUSAL if business else CompensationCause.FAILURE
    return _start_compensation(
        d, s, effects, now, f"step '{step.name}' failed after {why}: {error}", cause
    )


def _start_compensation(
    d: type[Saga],
    s: SagaState,
    effects: list[Effect],
    now: Any,
    reason: str,
    cause: CompensationCause,
) -> Transition:
    plan: list[int] = []
    if s.maybe_done and d.steps[s.step].has_compensation:
        plan.append(s.step)
    plan.extend(j for j in range(s.step - 1, -1, -1) if d.steps[j].has_compensation)
    names = [d.steps[j].name for j in plan]
    payload = {"reason": reason, "plan": names, "cause": cause.value}
    effects.append(Record(EventType.COMPENSATION_STARTED, payload=payload))
    s = replace(s, cause=cause)
    if not plan:
        s = replace(
            s,
            status=SagaStatus.COMPENSATED,
            reason=reason,
            plan=(),
            next_run_at=None,
            finished_at=now,
        )
        effects.append(Record(EventType.SAGA_COMPENSATED, payload={"reason": reason}))
        return Transition(s, tuple(effects))
    s = replace(
        s,
        status=SagaStatus.COMPENSATING,
        phase=Phase.COMPENSATION,
        step=plan[0],
        attempt=0,
        failures=0,
        possibly_done=False,
        possibly_done_earlier=False,
        plan=tuple(plan),
        reason=reason,
        next_run_at=now,
    )
    return Transition(s, tuple(effects))


def _fail(s: SagaState, effects: list[Effect], reason: str) -> Transition:
    s = replace(s, status=SagaStatus.FAILED, reason=reason, next_run_at=None, in_flight=False)
    effects.append(Record(EventType.SAGA_FAILED, payload={"reason": reason}))
    return Transition(s, tuple(effects))


def _reopen(s: SagaState, e: Any, action: str, detail: dict[str, Any]) -> Transition:
    status = SagaStatus.RUNNING if s.phase == Phase.FORWARD else SagaStatus.COMPENSATING
    record = _operator_record(s, e, action, {"step": s.step_name, "phase": s.phase, **detail})
    s = replace(s, status=status, failures=0, reason="", next_run_at=e.now, version=s.version + 1)
    return Transition(s, (record,))


def _abort(d: type[Saga], s: SagaState, e: Any, action: str) -> Transition:
    effects: list[Effect] = [_operator_record(s, e, action, {"step": s.step_name})]
    if s.in_flight:
        error = ErrorInfo(ABORTED_ERROR, f"abandoned by {e.actor}'s {action}")
        effects.append(
            FinishAttempt(s.step, s.phase, s.attempt, AttemptStatus.FAILED, e.now, error=error)
        )
        s = replace(s, possibly_done=s.possibly_done or not d.steps[s.step].atomic)
    s = replace(s, in_flight=False, version=s.version + 1)
    why = f"{action} by {e.actor}" + (f": {e.reason}" if e.reason else "")
    return _start_compensation(d, s, effects, e.now, why, CompensationCause.OPERATOR)


def _require_in_flight(s: SagaState) -> None:
    if not s.in_flight:
        raise ActionNotAllowed(f"no attempt of '{s.step_name}' is waiting for an outcome")


def _require_failed(s: SagaState, verb: str) -> None:
    if s.status != SagaStatus.FAILED:
        raise ActionNotAllowed(f"saga is {s.status}; only a failed saga can be {verb}")


def _require_before_pivot(d: type[Saga], s: SagaState, verb: str) -> None:
    step = d.steps[s.step]
    if step.kind == StepKind.RETRIABLE:
        raise ActionNotAllowed(f"the pivot has happened, so the saga can no longer be {verb}")
    if step.kind == StepKind.PIVOT and (s.in_flight or s.maybe_done):
        raise ActionNotAllowed(
            f"pivot step '{step.name}' may be taking effect, so the saga can no longer be {verb}"
        )


def _record(s: SagaState, kind: EventType, attempt: int, payload: dict[str, Any]) -> Record:
    return Record(kind, step=s.step_name, phase=s.phase, attempt=attempt, payload=payload)


def _operator_record(s: SagaState, e: Any, action: str, detail: dict[str, Any]) -> Record:
    payload = {"action": action, "actor": e.actor, "reason": e.reason, **detail}
    return Record(EventType.OPERATOR_ACTION, step=s.step_name, phase=s.phase, payload=payload)


_HANDLERS: dict[type, Callable[..., Transition]] = {
    Begin: _begin,
    Succeeded: _succeeded,
    Failed: _failed,
    TimedOut: _timed_out,
    Deferred: _deferred,
    Lost: _lost,
    DefinitionChanged: _definition_changed,
    Broken: _broken,
    RetryStep: _retry,
    ResumeStep: _resume,
    CompensateSaga: _compensate,
    CancelSaga: _cancel,
    SkipStep: _skip,
}
