"""Running local step attempts and turning what happened into an Outcome.

Steps without a timeout run inline in the worker's thread: the fast path for quick local
work. Steps with a timeout run on a thread pool, so a slow call holds up no other saga;
the worker records a timeout at the deadline and drops the thread's late result (the retry
reuses the idempotency key, so a late effect is deduplicated, and the compensation
tolerates it). Atomic steps run inside the worker's commit transaction, in a savepoint, so
their writes and their result commit together.
"""

from __future__ import annotations

import json
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from opentelemetry import context as otel_context

from sagas import sensitive
from sagas.definition import Saga, Step, StepContext
from sagas.storable import json_problem
from sagas.telemetry.propagation import context_for

from .state import ErrorInfo


@dataclass(frozen=True)
class Outcome:
    """What one attempt produced, stamped with the worker's wall clock."""

    kind: str  # "succeeded", "failed" or "timed_out"
    at: float
    result: Any = None
    error: ErrorInfo | None = None
    business: bool = False


@dataclass(frozen=True)
class Job:
    key: Any
    saga: type[Saga]
    step: Step
    context: StepContext
    trace: tuple[str, str] = ("", "")  # (trace id, attempt span id) the step runs under


def call(job: Job) -> Outcome:
    """Run one attempt's callable and classify the result; never raises."""
    fn = job.step.callable_for(job.context.phase)
    # Spans the step's own code makes are children of its attempt's span.
    token = otel_context.attach(context_for(*job.trace)) if all(job.trace) else None
    try:
        result = fn(job.context)
        _check_storable(result)
    except Exception as exc:
        business = job.step.is_business_error(exc, tuple(job.saga.business_errors))
        trace = "" if business else traceback.format_exc(limit=20)[-8000:]
        return Outcome("failed", time.time(), error=_scrubbed(job, exc, trace), business=business)
    finally:
        if token is not None:
            otel_context.detach(token)
    return Outcome("succeeded", time.time(), result=result)


def _scrubbed(job: Job, exc: BaseException, trace: str) -> ErrorInfo:
    """The error as recorded: sensitive values the step's exception quotes are masked here,
    once, so no page, span, log, problem or archive that shows the error holds them."""
    error = ErrorInfo.of(exc, trace)
    ctx = job.context
    if not sensitive.paths_of(job.saga):
        return error
    return ErrorInfo(
        error.type,
        sensitive.scrub(job.saga, error.message, ctx.input, ctx.results),
        sensitive.scrub(job.saga, error.traceback, ctx.input, ctx.results),
    )


class UnstorableResult(TypeError):
    """The step returned what cannot be stored as JSON; return plain JSON values."""


def _check_storable(result: Any) -> None:
    # Results are stored as JSON: refuse here what the database would refuse at commit,
    # where it would fail the whole batch instead of this one attempt.
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise UnstorableResult(f"the step's result is not JSON: {exc}") from None
    problem = json_problem(result, "result")
    if problem:
        raise UnstorableResult(f"the step's result cannot be stored: {problem}")


def call_atomic(job: Job) -> Outcome:
    """Run an atomic attempt in a savepoint of the caller's transaction."""
    assert transaction.get_connection().in_atomic_block, "atomic steps run inside the commit"
    try:
        with transaction.atomic():
            outcome = call(job)
            if outcome.kind != "succeeded":
                raise _RollBack(outcome)
    except _RollBack as rolled_back:
        return rolled_back.outcome
    return outcome


class _RollBack(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.kind)
        self.outcome = outcome


def _call_in_thread(job: Job) -> Outcome:
    try:
        return call(job)
    finally:
        # A pool thread may be abandoned mid-call (timeout); it must not keep a connection.
        connections.close_all()


class Runner:
    """Runs attempts: `call` inline, or `submit` to the pool for steps with a timeout."""

    def __init__(self, threads: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="saga-step")

    def submit(self, job: Job) -> Future[Outcome]:
        return self._pool.submit(_call_in_thread, job)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
