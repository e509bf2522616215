"""The demo's seeded scenarios, run as the demo runs them (its traffic, its faults, a worker
and the four participants on threads, real time): within a minute there are failed sagas
of two causes, both stuck in compensation, and a slow saga still running; and an
operator's Retry repairs a failed one, as the README promises."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sagas.demo.faults import Faults
from sagas.demo.management.commands.demo import DEMO_FAULTS
from sagas.demo.scenarios import SCENARIOS
from sagas.demo.traffic import Traffic
from sagas.models import Problem, SagaInstance
from sagas.participant import participants
from sagas.runtime.worker import Worker
from sagas.services.actions import perform
from sagas.services.actors import Actor
from sagas.statuses import AttemptStatus, Phase, SagaStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Actor(name="root", scopes=frozenset({"operate"}))
MINUTE = 60.0


@pytest.fixture
def demo() -> Iterator[Traffic]:
    """The demo's machinery on threads, as `manage.py demo` starts it (without daphne)."""
    stop = threading.Event()
    worker = Worker(batch_size=20, heartbeat=False, alerts=False)
    traffic = Traffic(interval=0.3, seed=13, scenarios=SCENARIOS)
    saved = {}
    threads = [threading.Thread(target=worker.run, daemon=True)]
    for name in participants.names():
        participant = participants.get(name)
        saved[name] = participant.faults
        participant.faults = Faults.parse(DEMO_FAULTS[name])
        threads.append(
            threading.Thread(
                target=participant.database_transport().serve,
                args=(participant, stop),
                kwargs={"batch": 1, "poll": 0.05},
                daemon=True,
            )
        )
    threads.append(threading.Thread(target=traffic.run, daemon=True))
    for thread in threads:
        thread.start()
    try:
        yield traffic
    finally:
        traffic.stop()
        worker.stop()
        stop.set()
        for thread in threads:
            thread.join(15)
        for name, faults in saved.items():
            participants.get(name).faults = faults


def seeded(sku: str) -> SagaInstance | None:
    return SagaInstance.objects.filter(input__sku=sku).first()


def timed_out(saga: SagaInstance, step: str) -> int:
    return saga.attempts.filter(step_name=step, status=AttemptStatus.TIMED_OUT).count()


def test_within_a_minute_two_causes_fail_in_compensation_and_one_saga_runs_slow(demo):
    refund, release, slow = (s.sku for s in SCENARIOS)
    began = time.monotonic()
    while time.monotonic() - began < MINUTE:
        failed = SagaInstance.objects.filter(
            status=SagaStatus.FAILED, input__sku__in=[refund, release]
        )
        if failed.count() == 2:
            break
        time.sleep(0.5)
    else:
        states = list(SagaInstance.objects.values_list("input", "status"))
        pytest.fail(f"no two failed seeded sagas in a minute: {states}")
    demo.stop()
    took = time.monotonic() - began

    gift, vase = seeded(refund), seeded(release)
    assert (gift.status, gift.phase, gift.current_step_name) == (
        SagaStatus.FAILED,
        Phase.COMPENSATION,
        "charge_payment",  # its refund ran out of retries
    ), gift.reason
    assert (vase.status, vase.phase, vase.current_step_name) == (
        SagaStatus.FAILED,
        Phase.COMPENSATION,
        "reserve_inventory",  # releasing its stock ran out of retries
    ), vase.reason
    assert "refund endpoint answered 502" in gift.reason
    assert "locked by a stocktake" in vase.reason
    # Two causes, so two groups on the Problems page, each holding its saga.
    assert gift.problem_id != vase.problem_id
    groups = Problem.objects.filter(status=Problem.Status.OPEN, open_count__gte=1)
    assert {gift.problem_id, vase.problem_id} <= set(groups.values_list("id", flat=True))
    assert set(groups.values_list("error_type", flat=True)) >= {"sagas.demo.faults.SeededFault"}

    # Meanwhile the slow one is still running: its confirmation times out, again and again.
    piano = seeded(slow)
    assert piano.status == SagaStatus.RUNNING, (piano.status, piano.reason, took)
    assert piano.current_step_name == "send_confirmation"
    assert timed_out(piano, "send_confirmation") >= 1

    # The payment service is fixed (no more random faults), and an operator's retry runs
    # the refund again under a new key: it goes through.
    participants.get("payment").faults = Faults.parse("seeded=1")
    gift.refresh_from_db()
    perform(gift.id, "retry", actor=ROOT, version=gift.version)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        gift.refresh_from_db()
        if gift.status == SagaStatus.COMPENSATED:
            break
        time.sleep(0.2)
    assert gift.status == SagaStatus.COMPENSATED, gift.reason
