"""The worker against a real database (SQLite here, PostgreSQL in CI): what it writes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from sagas.definition import Retry, Saga, Step
from sagas.engine.leases import claim
from sagas.models import SagaEvent, SagaInstance, StepAttempt
from sagas.registry import registry
from sagas.statuses import AttemptStatus, EventType, Phase, SagaStatus
from tests.factories import settle, start, worker
from tests.testapp.models import LedgerEntry, StepCall

pytestmark = pytest.mark.django_db(transaction=True)

calls: dict[str, int] = {}


def flaky(ctx):
    """Fails the first two attempts with a transient error, then succeeds."""
    calls[ctx.step] = calls.get(ctx.step, 0) + 1
    if calls[ctx.step] <= 2:
        raise ConnectionError("service unavailable")
    return {"ok": calls[ctx.step]}


def slow(ctx):
    time.sleep(float(ctx.input.get("slow", 0)))
    return {"slow": True}


def record(ctx):
    LedgerEntry.objects.create(
        saga_id=ctx.saga_id, step=ctx.step, phase=ctx.phase, idempotency_key=ctx.idempotency_key
    )
    calls[ctx.step] = calls.get(ctx.step, 0) + 1
    if ctx.input.get("atomic_fail_first") and calls[ctx.step] == 1:
        raise ConnectionError("failed after writing")
    return {"written": True}


def noop(ctx):
    return None


FAST = Retry(max_attempts=3, backoff=0.01, max_backoff=0.05)


class Flaky(Saga):
    name = "flaky"
    register = False
    steps = [
        Step("one", action=noop, compensation=noop),
        Step("two", action=flaky, compensation=noop, retry=FAST),
    ]


class Slow(Saga):
    name = "slow"
    register = False
    steps = [
        Step("first", action=noop, compensation=record),
        Step("second", action=slow, compensation=record, timeout=0.2, retry=FAST),
    ]


class Atomic(Saga):
    name = "atomic"
    register = False
    steps = [Step("write", action=record, atomic=True, retry=FAST)]


@pytest.fixture(autouse=True)
def fresh_calls():
    calls.clear()
    with registry.override(Flaky), registry.override(Slow), registry.override(Atomic):
        yield


def test_a_saga_runs_to_completion_with_its_history():
    saga = start("ledger", correlation_id="order-1")
    w = worker()
    settle(w)
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPLETED
    assert saga.lease_owner is None and saga.next_run_at is None
    attempts = list(saga.attempts.order_by("started_at", "id"))
    assert [(a.step_name, a.status) for a in attempts] == [
        (name, AttemptStatus.SUCCEEDED) for name in "abcd"
    ]
    assert all(a.finished_at >= a.started_at for a in attempts)
    assert attempts[0].idempotency_key == f"{saga.id}:a:forward:1"
    events = list(SagaEvent.objects.filter(saga=saga).values_list("type", flat=True))
    assert events[0] == EventType.SAGA_STARTED and events[-1] == EventType.SAGA_COMPLETED
    versions = list(SagaEvent.objects.filter(saga=saga).values_list("version", flat=True))
    assert versions == sorted(versions) and versions[-1] == saga.version
    assert LedgerEntry.objects.filter(saga_id=saga.id).count() == 4


def test_a_business_failure_compensates_in_reverse_order():
    saga = start("ledger", {"fail_at": "c"})
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPENSATED
    comp = list(
        saga.attempts.filter(phase=Phase.COMPENSATION)
        .order_by("started_at", "id")
        .values_list("step_name", flat=True)
    )
    assert comp == ["b", "a"]
    assert "step 'c' failed after a business error" in saga.reason
    failed = saga.attempts.get(step_name="c")
    assert failed.status == AttemptStatus.FAILED and "refused" in failed.error_message


def test_transient_failures_are_retried_with_backoff_in_the_database():
    saga = start("flaky")
    w = worker()
    settle(w)
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPLETED
    two = list(saga.attempts.filter(step_name="two").order_by("attempt"))
    assert [a.status for a in two] == ["failed", "failed", "succeeded"]
    assert two[0].error_type == "builtins.ConnectionError" and two[0].error_traceback
    retry_events = SagaEvent.objects.filter(saga=saga, type=EventType.STEP_FAILED)
    assert all("retry_at" in e.payload for e in retry_events)
    # the retry started no earlier than the backoff the event announced
    assert two[1].started_at >= two[0].finished_at


def test_a_timed_out_step_is_retried_then_compensated_including_itself():
    saga = start("slow", {"slow": 1.0})
    settle(worker(), timeout=30)
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPENSATED
    second = list(saga.attempts.filter(step_name="second", phase=Phase.FORWARD))
    assert [a.status for a in second] == [AttemptStatus.TIMED_OUT] * 3
    assert all(a.deadline is not None for a in second)
    comp = list(
        LedgerEntry.objects.filter(saga_id=saga.id)
        .order_by("id")
        .values_list("step", "idempotency_key")
    )
    # The timed-out step may have happened: undone too, before the first. The compensation
    # shares the step's 0.2 s timeout, so on a loaded machine it may time out and run again:
    # at least once, always with the same idempotency key, never out of order.
    steps = [step for i, (step, _) in enumerate(comp) if i == 0 or comp[i - 1][0] != step]
    assert steps == ["second", "first"]
    assert len({key for step, key in comp if step == "second"}) == 1


def test_an_atomic_step_commits_its_writes_with_its_result_exactly_once():
    saga = start("atomic", {"atomic_fail_first": True})
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPLETED
    assert calls["write"] == 2  # the body ran twice...
    assert LedgerEntry.objects.filter(saga_id=saga.id).count() == 1  # ...its writes landed once
    assert [a.status for a in saga.attempts.order_by("attempt")] == ["failed", "succeeded"]


def test_a_changed_definition_stops_the_saga_in_failed_with_the_reason():
    saga = start("flaky")

    class FlakyV2(Saga):
        name = "flaky"
        register = False
        steps = [Step("two", action=flaky, compensation=noop, retry=FAST)]

    with registry.override(FlakyV2):
        settle(worker())
    saga.refresh_from_db()
    assert saga.status == SagaStatus.FAILED
    assert saga.reason == "definition changed: step 'one' was removed from saga type 'flaky'"
    assert not saga.attempts.exists()  # nothing ran under the wrong definition


def test_a_worker_whose_lease_was_taken_writes_nothing():
    saga = start("ledger")
    w = worker()
    w.tick()  # claims and starts step a
    assert saga.id in w.held
    before = SagaInstance.objects.get(id=saga.id)
    # another worker takes the saga over (its lease expired while this one was paused)
    SagaInstance.objects.filter(id=saga.id).update(lease_expires_at=timezone.now())
    taken = claim("other-worker", 10, 30)
    assert taken == {saga.id: before.lease_epoch + 1}
    w.tick()  # would record step a's outcome: the fence refuses it
    after = SagaInstance.objects.get(id=saga.id)
    assert after.version == before.version and after.lease_owner == "other-worker"
    assert saga.id not in w.held and w.stats.lost_leases == 1


def test_a_saga_whose_worker_vanished_resumes_with_the_same_key():
    saga = start("ledger")
    dead = worker()
    dead.tick()  # step a is in flight in a worker that now "dies"
    running = StepAttempt.objects.get(saga=saga, status=AttemptStatus.RUNNING)
    SagaInstance.objects.filter(id=saga.id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPLETED
    a = list(saga.attempts.filter(step_name="a").order_by("attempt"))
    assert a[0].id == running.id and a[0].status == AttemptStatus.FAILED
    assert a[0].error_type == "sagas.exceptions.WorkerLost"
    assert {x.idempotency_key for x in a} == {running.idempotency_key}


def test_drain_finishes_the_current_step_and_releases_every_lease():
    sagas = [start("ledger", {"sleep": 0.05}) for _ in range(3)]
    w = worker()
    w.tick()
    w.tick()
    assert len(w.held) == 3
    w.drain()
    assert not w.held
    for saga in sagas:
        saga.refresh_from_db()
        assert saga.lease_owner is None and not saga.in_flight
        assert saga.status == SagaStatus.RUNNING and saga.next_run_at is not None
    settle(worker())


def test_stop_from_another_thread_ends_run():
    w = worker(poll_interval=0.05)
    thread = threading.Thread(target=w.run)
    thread.start()
    start("ledger")
    deadline = time.monotonic() + 10
    while SagaInstance.objects.exclude(status=SagaStatus.COMPLETED).exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    w.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert StepCall.objects.count() == 4
