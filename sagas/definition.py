"""How sagas are declared: `Saga` subclasses with a list of `Step`s, validated when defined.

    class OrderSaga(Saga):
        name = "order"
        steps = [
            Step("create_order", action=create_order, compensation=cancel_order, atomic=True),
            Step("charge_payment", action=charge, compensation=refund, timeout=5),
            Step("schedule_shipping", action=ship, pivot=True),
            Step("send_confirmation", action=send_email, retriable=True),
        ]

Steps must come in the order compensatable*, pivot?, retriable* (Garcia-Molina's and
Richardson's saga structure): once the pivot has happened the saga can only go forward.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sagas.exceptions import BusinessError, SagaDefinitionError
from sagas.registry import registry
from sagas.sensitive import SensitivePaths
from sagas.sensitive import parse as parse_sensitive
from sagas.statuses import Phase, StepKind


@dataclass(frozen=True)
class Retry:
    """Retry policy of one step or compensation: exponential backoff with jitter and a cap.

    `max_attempts=None` retries until the attempt succeeds (the default of retriable steps).
    """

    max_attempts: int | None = 3
    backoff: float = 0.5
    multiplier: float = 2.0
    max_backoff: float = 30.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise SagaDefinitionError("Retry(max_attempts=...) must be at least 1, or None")
        if self.backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise SagaDefinitionError("Retry needs backoff >= 0, max_backoff >= 0, multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise SagaDefinitionError("Retry(jitter=...) is a fraction between 0 and 1")

    def allows_another(self, failures: int) -> bool:
        return self.max_attempts is None or failures < self.max_attempts

    def delay(self, failures: int, rand: float) -> float:
        """Seconds to wait after the `failures`-th failure; `rand` in [0, 1) spreads retries."""
        base = min(self.max_backoff, self.backoff * self.multiplier ** max(failures - 1, 0))
        return min(self.max_backoff, base * (1 - self.jitter + 2 * self.jitter * rand))


DEFAULT_RETRY = Retry()
# Compensations must eventually succeed, so they get more patience before paging a human.
DEFAULT_COMPENSATION_RETRY = Retry(max_attempts=5, backoff=1.0, max_backoff=60.0)
# Retriable steps are retried until they succeed, with the backoff capped.
DEFAULT_RETRIABLE_RETRY = Retry(max_attempts=None, backoff=0.5, max_backoff=60.0)

StepCallable = Callable[["StepContext"], Any]


@dataclass(frozen=True)
class StepContext:
    """What a step's action or compensation is given when it runs."""

    saga_id: str
    saga_type: str
    correlation_id: str
    input: Mapping[str, Any]
    results: Mapping[str, Any]
    step: str
    phase: Phase
    attempt: int
    idempotency_key: str

    @property
    def result(self) -> Any:
        """The forward result of this step (what a compensation undoes), or None."""
        return self.results.get(self.step)


DEFAULT_REMOTE_TIMEOUT = 30.0


@dataclass(frozen=True, eq=False)
class Step:
    """One step of a saga: its action, its compensation, and how it retries and times out.

    A local step has an `action` (a callable the worker runs); a remote step has a
    `command` ("service.command") sent to a participant, whose reply it waits for, up to
    `timeout` (30 s by default). A compensation is a callable or a command likewise.
    `atomic=True` runs a local action inside the transaction that records its result, so a
    step whose work is only writes to this database happens exactly once.

    A local action with a `timeout` runs on a thread, which Python cannot stop: after its
    timeout it may still finish and land its effect. Its saga is therefore not run again
    (retry, compensation, an operator's action) until that thread ends, for up to
    SAGASCOPE_ABANDON_AFTER seconds (300); past that the worker logs an error and goes on.
    """

    name: str
    action: StepCallable | None = None
    compensation: StepCallable | str | None = None
    command: str | None = None
    retry: Retry | None = None
    compensation_retry: Retry = DEFAULT_COMPENSATION_RETRY
    timeout: float | None = None
    pivot: bool = False
    retriable: bool = False
    atomic: bool = False
    business_errors: tuple[type[BaseException], ...] = ()
    # For remote steps: what the command's body holds, from the StepContext (default: the
    # saga's input and earlier results). Keep it to what the participant needs.
    payload: Callable[[StepContext], Mapping[str, Any]] | None = None
    description: str = ""
    _effective_retry: Retry = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str) or not self.name.isidentifier():
            raise SagaDefinitionError(f"step name {self.name!r} must be a Python identifier")
        if self.pivot and self.retriable:
            raise SagaDefinitionError(f"step '{self.name}' cannot be both pivot and retriable")
        if self.compensation is not None and (self.pivot or self.retriable):
            raise SagaDefinitionError(
                f"step '{self.name}' is {self.kind.value}, so it is never compensated: "
                "drop its compensation"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise SagaDefinitionError(f"step '{self.name}': timeout must be positive seconds")
        if (self.action is None) == (self.command is None):
            raise SagaDefinitionError(
                f"step '{self.name}' needs either an action (local) or a command (remote)"
            )
        for command in (self.command, self.compensation):
            if isinstance(command, str) and not _is_command(command):
                raise SagaDefinitionError(
                    f"step '{self.name}': command {command!r} must look like 'service.command'"
                )
        if self.atomic and (self.command or isinstance(self.compensation, str)):
            raise SagaDefinitionError(f"step '{self.name}': only local steps can be atomic")
        if self.timeout is None and (self.command or isinstance(self.compensation, str)):
            object.__setattr__(self, "timeout", DEFAULT_REMOTE_TIMEOUT)
        default = DEFAULT_RETRIABLE_RETRY if self.retriable else DEFAULT_RETRY
        object.__setattr__(self, "_effective_retry", self.retry or default)

    @property
    def kind(self) -> StepKind:
        if self.pivot:
            return StepKind.PIVOT
        if self.retriable:
            return StepKind.RETRIABLE
        return StepKind.COMPENSATABLE

    @property
    def has_compensation(self) -> bool:
        return self.compensation is not None

    def policy(self, phase: Phase) -> Retry:
        return self._effective_retry if phase == Phase.FORWARD else self.compensation_retry

    def command_for(self, phase: Phase) -> str | None:
        """The command a remote attempt of this phase sends, or None for a local one."""
        target = self.command if phase == Phase.FORWARD else self.compensation
        return target if isinstance(target, str) else None

    def callable_for(self, phase: Phase) -> StepCallable:
        fn = self.action if phase == Phase.FORWARD else self.compensation
        assert callable(fn), f"step '{self.name}' has no local {phase} callable"
        return fn

    def is_business_error(self, exc: BaseException, saga_errors: tuple[type, ...]) -> bool:
        return isinstance(exc, (BusinessError, *self.business_errors, *saga_errors))


def _is_command(value: str) -> bool:
    service, _, name = value.partition(".")
    return (
        bool(service)
        and bool(name)
        and all(part.replace("_", "a").replace("-", "a").isalnum() for part in (service, name))
    )


_KIND_RANK = {StepKind.COMPENSATABLE: 0, StepKind.PIVOT: 1, StepKind.RETRIABLE: 2}


def validate_steps(saga_name: str, steps: list[Step]) -> None:
    """Raise SagaDefinitionError naming the saga and step that breaks the rules."""
    if not steps:
        raise SagaDefinitionError(f"saga '{saga_name}' has no steps")
    seen: set[str] = set()
    previous: Step | None = None
    for step in steps:
        if not isinstance(step, Step):
            raise SagaDefinitionError(f"saga '{saga_name}': {step!r} is not a Step")
        if step.name in seen:
            raise SagaDefinitionError(f"saga '{saga_name}': step name '{step.name}' is repeated")
        seen.add(step.name)
        if previous is not None:
            before, now = _KIND_RANK[previous.kind], _KIND_RANK[step.kind]
            if now < before or (now == before == _KIND_RANK[StepKind.PIVOT]):
                raise SagaDefinitionError(
                    f"saga '{saga_name}': step '{step.name}' ({step.kind.value}) cannot follow "
                    f"step '{previous.name}' ({previous.kind.value}); steps must be ordered "
                    "compensatable*, pivot?, retriable*"
                )
        previous = step


def validate_retention(name: str, retention: Any) -> None:
    """A saga type's `retention`: days per known outcome, or None for never."""
    outcomes = ("completed", "compensated", "cancelled")
    if not isinstance(retention, dict):
        raise SagaDefinitionError(f"saga type {name!r}: retention must be a dict of days")
    for outcome, days in retention.items():
        if outcome not in outcomes:
            raise SagaDefinitionError(
                f"saga type {name!r}: retention outcome {outcome!r} is not one of {outcomes}"
            )
        if days is not None and (
            isinstance(days, bool) or not isinstance(days, int | float) or days < 0
        ):
            raise SagaDefinitionError(
                f"saga type {name!r}: retention for {outcome!r} must be days >= 0, or None"
            )


class Saga:
    """Base class of saga definitions; subclasses are validated and registered when defined."""

    name: ClassVar[str]
    steps: ClassVar[list[Step]]
    business_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    description: ClassVar[str] = ""
    abstract: ClassVar[bool] = False
    register: ClassVar[bool] = True
    # Days a finished saga of this type is kept, per outcome ("completed", "compensated",
    # "cancelled"; None for never); SAGASCOPE_RETENTION overrides it (sagas/conf.py).
    retention: ClassVar[dict[str, float | None]] = {}
    # Input paths ("customer.email") and result paths ("result.<step>.<field>", "*" for
    # every step) masked wherever saga data is shown (sagas/sensitive.py).
    sensitive: ClassVar[list[str]] = []
    sensitive_paths: ClassVar[SensitivePaths] = SensitivePaths()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        name = cls.__dict__.get("name")
        if not name or not isinstance(name, str):
            raise SagaDefinitionError(f"saga class {cls.__qualname__} needs a `name` string")
        validate_steps(name, list(cls.__dict__.get("steps") or []))
        validate_retention(name, cls.__dict__.get("retention") or {})
        cls.steps = list(cls.steps)
        cls.sensitive_paths = parse_sensitive(name, cls.step_names(), cls.sensitive)
        if cls.__dict__.get("register", True):
            registry.register(cls)

    @classmethod
    def validate_input(cls, data: dict[str, Any]) -> None:
        """Raise InvalidSagaInput naming the wrong field; by default any object is accepted."""

    @classmethod
    def step_names(cls) -> list[str]:
        return [step.name for step in cls.steps]

    @classmethod
    def step_index(cls, name: str) -> int:
        return cls.step_names().index(name)

    @classmethod
    def fingerprint(cls) -> str:
        """A short hash of the step names and kinds, stored with every saga started."""
        shape = [[step.name, step.kind.value, step.has_compensation] for step in cls.steps]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]

    @classmethod
    def incompatibility(cls, started_with: list[str]) -> str | None:
        """Why a saga started with step names `started_with` cannot follow this definition.

        Appending steps at the end is compatible; removing, renaming or reordering is not.
        """
        current = cls.step_names()
        for index, old in enumerate(started_with):
            if index >= len(current):
                return f"step '{old}' was removed from saga type '{cls.name}'"
            if current[index] != old:
                if old not in current:
                    return f"step '{old}' was removed from saga type '{cls.name}'"
                return f"step '{old}' moved in saga type '{cls.name}' (steps were reordered)"
        return None
