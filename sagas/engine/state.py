"""The data the state machine works on: a saga's state, the events it accepts, the effects
it returns. Plain frozen dataclasses, no Django and no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sagas.statuses import AttemptStatus, CompensationCause, EventType, Phase, SagaStatus


def idempotency_key(saga_id: str, step: str, phase: str, generation: int) -> str:
    """The key a step attempt carries: the same for every retry and replay of one generation;
    only an operator's retry starts a new generation."""
    return f"{saga_id}:{step}:{phase}:{generation}"


@dataclass(frozen=True)
class ErrorInfo:
    type: str
    message: str
    traceback: str = ""

    @classmethod
    def of(cls, exc: BaseException, traceback: str = "") -> ErrorInfo:
        kind = type(exc)
        return cls(f"{kind.__module__}.{kind.__qualname__}", str(exc)[:2000], traceback)

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True)
class SagaState:
    """Where a saga is. `step` indexes the definition; when compensating it is `plan[0]`."""

    saga_id: str
    status: SagaStatus
    step: int = 0
    phase: Phase = Phase.FORWARD
    attempt: int = 0  # number of the latest attempt of (step, phase); 0 before the first
    failures: int = 0  # failed attempts counted against the retry policy
    in_flight: bool = False  # an attempt started and its outcome is not recorded yet
    possibly_done: bool = False  # an attempt of this forward step may have taken effect
    # ... under an earlier idempotency-key generation (before an operator's retry), which
    # no refusal under the current key can rule out
    possibly_done_earlier: bool = False
    generations: Mapping[str, int] = field(default_factory=dict)
    plan: tuple[int, ...] = ()  # compensations still to run, in the order they run
    results: Mapping[str, Any] = field(default_factory=dict)
    definition_steps: tuple[str, ...] = ()
    reason: str = ""
    cause: CompensationCause = CompensationCause.NONE  # why it compensates, once it does
    version: int = 1
    next_run_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def generation(self) -> int:
        return self.generations.get(f"{self.step}:{self.phase}", 1)

    @property
    def step_name(self) -> str:
        return self.definition_steps[self.step]

    @property
    def maybe_done(self) -> bool:
        """Whether the current forward step may have taken effect, under any key."""
        return self.possibly_done or self.possibly_done_earlier

    @property
    def key(self) -> str:
        return idempotency_key(self.saga_id, self.step_name, self.phase, self.generation)


# Events: what happened to a saga. Each carries the database clock's `now`.


@dataclass(frozen=True)
class Begin:
    """The saga is due and its worker starts the next attempt."""

    now: datetime


@dataclass(frozen=True)
class Succeeded:
    now: datetime
    result: Any = None


@dataclass(frozen=True)
class Failed:
    now: datetime
    error: ErrorInfo
    business: bool = False  # a business refusal: never retried
    rand: float = 0.5  # a uniform random draw for the backoff's jitter


@dataclass(frozen=True)
class TimedOut:
    now: datetime
    rand: float = 0.5
    # False when the command provably never reached the participant (withdrawn from the
    # outbox undelivered): then the attempt did not happen.
    delivered: bool = True


@dataclass(frozen=True)
class Deferred:
    """The attempt's command timed out undelivered while its destination's circuit is open:
    it did not happen, and it costs no retry; the next attempt starts at `until`."""

    now: datetime
    until: datetime
    reason: str


@dataclass(frozen=True)
class Lost:
    """The attempt's worker vanished (its lease expired) before recording an outcome."""

    now: datetime
    atomic: bool = False  # an atomic step's effects rolled back with its worker
    rand: float = 0.5


@dataclass(frozen=True)
class DefinitionChanged:
    now: datetime
    reason: str


@dataclass(frozen=True)
class Broken:
    """The worker could not record the saga's next transition (its step's code or data
    broke the write): the saga stops for an operator instead of stalling its batch."""

    now: datetime
    reason: str


@dataclass(frozen=True)
class OperatorCommand:
    now: datetime
    actor: str
    reason: str = ""


class RetryStep(OperatorCommand):
    """Run the failed step again under a new idempotency-key generation."""


class ResumeStep(OperatorCommand):
    """Run the failed step again with the same idempotency key (it may have happened)."""


class CompensateSaga(OperatorCommand):
    """Abort: compensate what was done, in reverse order."""


class CancelSaga(OperatorCommand):
    """CancelSaga a running saga before its pivot: compensate what was done."""


class SkipStep(OperatorCommand):
    """Mark the current step (or compensation) done by hand and move on."""


# Effects: what the caller must write, in one transaction with the new state.


@dataclass(frozen=True)
class AddAttempt:
    step: int
    step_name: str
    phase: Phase
    attempt: int
    generation: int
    idempotency_key: str
    status: AttemptStatus
    started_at: datetime
    deadline: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class FinishAttempt:
    step: int
    phase: Phase
    attempt: int
    status: AttemptStatus
    finished_at: datetime
    result: Any = None
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class SendCommand:
    """Write a command for a participant to the outbox, for the attempt just started."""

    step: int
    step_name: str
    phase: Phase
    attempt: int
    idempotency_key: str
    command: str  # "service.command"
    deadline: datetime | None


@dataclass(frozen=True)
class Record:
    """Append a SagaEvent."""

    type: EventType
    step: str = ""
    phase: str = ""
    attempt: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


Effect = AddAttempt | FinishAttempt | SendCommand | Record


@dataclass(frozen=True)
class Transition:
    state: SagaState
    effects: tuple[Effect, ...]

    @property
    def started(self) -> AddAttempt | None:
        """The attempt this transition started, which the worker now runs."""
        for effect in self.effects:
            if isinstance(effect, AddAttempt) and effect.status == AttemptStatus.RUNNING:
                return effect
        return None

    @property
    def sent(self) -> SendCommand | None:
        """The command this transition sent: its attempt waits for a reply, not a worker."""
        return next((e for e in self.effects if isinstance(e, SendCommand)), None)
