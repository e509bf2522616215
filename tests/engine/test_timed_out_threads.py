"""A timed-out local attempt's thread cannot be killed, so its effect may still land: the
saga's compensation (automatic or an operator's) waits until that thread has ended, and
the saga is not claimed by any worker meanwhile."""

from __future__ import annotations

import time

import pytest
from django.db import connections

from sagas.definition import Retry, Saga, Step, StepContext
from sagas.models import SagaInstance
from sagas.services.actions import perform
from sagas.services.actors import Actor
from sagas.statuses import SagaStatus
from tests.factories import start, worker
from tests.testapp.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)

LATE = 1.2  # the thread's effect lands this long after the attempt began


def slow_effect(ctx: StepContext) -> dict:
    time.sleep(LATE)  # far past the 0.2 s timeout
    LedgerEntry.objects.create(
        saga_id=ctx.saga_id, step=ctx.step, phase=ctx.phase, idempotency_key=ctx.idempotency_key
    )
    return {"late": True}


def undo(ctx: StepContext) -> dict:
    LedgerEntry.objects.create(
        saga_id=ctx.saga_id, step=ctx.step, phase=ctx.phase, idempotency_key=ctx.idempotency_key
    )
    return {}


class Slow(Saga):
    name = "slow-local"
    register = False
    steps = [
        Step(
            "slow", action=slow_effect, compensation=undo, timeout=0.2, retry=Retry(max_attempts=1)
        )
    ]


class SlowThenWait(Saga):
    name = "slow-local-backoff"
    register = False
    steps = [
        Step(
            "slow",
            action=slow_effect,
            compensation=undo,
            timeout=0.2,
            retry=Retry(max_attempts=3, backoff=30, jitter=0),  # waits long after its timeout
        )
    ]


@pytest.fixture(autouse=True)
def definitions():
    from sagas.registry import registry

    with registry.override(Slow), registry.override(SlowThenWait):
        yield
    connections.close_all()


def drive(w, until, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        if w.tick() == 0:
            time.sleep(0.02)


def phases(saga: SagaInstance) -> list[str]:
    return list(
        LedgerEntry.objects.filter(saga_id=saga.id).order_by("id").values_list("phase", flat=True)
    )


def test_the_compensation_of_a_timed_out_step_waits_for_its_thread():
    saga = start("slow-local", {})
    w = worker()
    drive(w, lambda: SagaInstance.objects.get(id=saga.id).status == SagaStatus.COMPENSATING)
    saga.refresh_from_db()
    assert saga.busy_until is not None  # nobody may run it while the thread may still act
    drive(w, lambda: SagaInstance.objects.get(id=saga.id).status == SagaStatus.COMPENSATED)
    # the late effect landed first, then its compensation undid it
    assert phases(saga) == ["forward", "compensation"]
    saga.refresh_from_db()
    assert saga.busy_until is None


def test_an_operators_compensation_waits_for_the_thread_too():
    saga = start("slow-local-backoff", {})
    w = worker()
    drive(w, lambda: SagaInstance.objects.get(id=saga.id).failures == 1)  # timed out, in backoff
    saga.refresh_from_db()
    perform(
        saga.id,
        "compensate",
        actor=Actor(name="alice", scopes=frozenset({"operate"})),
        version=saga.version,
        reason="the customer cancelled",
    )
    other = worker(worker_id="other")  # another worker may not claim it early either
    deadline = time.monotonic() + 15
    while SagaInstance.objects.get(id=saga.id).status != SagaStatus.COMPENSATED:
        assert time.monotonic() < deadline, "timed out"
        moved = other.tick() + w.tick()  # `w` runs the thread, and lets the saga go after it
        if not moved:
            time.sleep(0.02)
    assert phases(saga) == ["forward", "compensation"]
