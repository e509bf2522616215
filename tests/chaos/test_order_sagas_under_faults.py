"""1,000 order sagas across 3 workers, the relay and the four participants on PostgreSQL,
while workers are SIGKILLed and restarted, PostgreSQL restarts, a participant goes down,
every message arrives twice and out of order, replies come after their timeouts, and two
operators press Retry on the same failed saga at once. Then the invariants.

Bounds stated here: the faults last FAULT_SECONDS; within SETTLE_BOUND seconds after they
stop, every saga is completed, compensated or failed (the refunds are made to fail
often, so some compensations run out of retries: the operators then repair those, in up
to REPAIR_ROUNDS rounds, each settling within FIX_BOUND seconds). After the repairs no
saga is left failed.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter, defaultdict

import pytest
from django.db import connections

from sagas.demo.models import Order, Payment, Reservation
from sagas.exceptions import StaleVersion
from sagas.models import OperatorAction, OutboxMessage, SagaEvent, SagaInstance, StepAttempt
from sagas.services.actions import perform
from sagas.services.actors import Actor
from sagas.services.start import start_saga
from sagas.statuses import ACTIVE_STATUSES, SagaStatus

from .harness import Stack, restart_postgres, retrying

SAGAS = 1000
FAULT_SECONDS = 30
SETTLE_BOUND = 180
FIX_BOUND = 120
REPAIR_ROUNDS = 3

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(30 + SETTLE_BOUND + REPAIR_ROUNDS * FIX_BOUND + 300),
]

# The status changes the state machine makes (sagas/statuses.py); anything else is a bug.
ALLOWED = {
    ("running", "completed"),
    ("running", "compensating"),
    ("running", "compensated"),
    ("running", "failed"),
    ("compensating", "compensated"),
    ("compensating", "failed"),
    ("failed", "running"),
    ("failed", "compensating"),
    ("failed", "completed"),
    ("failed", "compensated"),
}


def order(rng: random.Random, i: int) -> dict:
    data = {
        "sku": f"CHAOS-{i % 60}",
        "qty": rng.randint(1, 2),
        "amount": rng.randint(5, 900),
        "country": "FR",
    }
    roll = rng.random()
    if roll < 0.1:
        data["qty"] = 150  # out of stock
    elif roll < 0.2:
        data["amount"] = 1500  # declined
    elif roll < 0.35:
        data["country"] = "AQ"  # refused at the pivot: refund, release, cancel
    return data


def reasons(failed: list[SagaInstance]) -> list[tuple[str, int]]:
    return Counter(s.reason[:100] for s in failed).most_common(6)


def active() -> int:
    return retrying(lambda: SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).count())


def wait_settled(bound: float, what: str) -> float:
    started = time.monotonic()
    while active():
        if time.monotonic() - started > bound:
            stuck = list(
                SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).values_list(
                    "id", "status", "current_step", "phase", "next_run_at"
                )[:5]
            )
            raise AssertionError(f"{what}: sagas still active after {bound}s, e.g. {stuck}")
        time.sleep(0.5)
    return time.monotonic() - started


def repair_twice_at_once(saga: SagaInstance, action: str) -> list[str]:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def operator(name: str) -> None:
        barrier.wait()
        try:
            perform(
                saga.id,
                action,
                actor=Actor(name=name, scopes=frozenset({"operate"})),
                version=saga.version,
            )
            outcomes.append("applied")
        except StaleVersion:
            outcomes.append("stale")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=operator, args=(n,)) for n in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def test_order_sagas_keep_their_invariants_under_faults(tmp_path):
    rng = random.Random(20261123)
    with Stack(tmp_path, workers=3) as stack:
        for i in range(SAGAS):
            start_saga("order", order(rng, i), correlation_id=f"chaos-{i}")
        began = time.monotonic()
        restarted_db = killed_shipping = revived_shipping = False
        while time.monotonic() - began < FAULT_SECONDS:
            time.sleep(rng.uniform(2, 4))
            victim = rng.randrange(len(stack.workers))
            stack.kill_worker(victim, signal.SIGKILL)
            stack.start_worker(victim)
            elapsed = time.monotonic() - began
            if elapsed > 8 and not restarted_db:
                restart_postgres()
                restarted_db = True
            if elapsed > 12 and not killed_shipping:
                stack.stop_participant("shipping", signal.SIGKILL)
                killed_shipping = True
            if elapsed > 22 and not revived_shipping:
                stack.start_participant("shipping")
                revived_shipping = True
        assert restarted_db and killed_shipping and revived_shipping
        took = wait_settled(SETTLE_BOUND, "after the faults stopped")
        statuses = Counter(SagaInstance.objects.values_list("status", flat=True))
        print(f"settled {took:.0f}s after the faults stopped (bound {SETTLE_BOUND}s): {statuses}")

        # The refund service is fixed; two operators repair each failed saga at once: a
        # refund that ran out of retries is retried; a pivot whose attempt may have taken
        # effect is resumed under the same key, so the participant answers from its inbox.
        # A repair can meet the same overload again, so the operators go round again for
        # what failed again, as they would at 3 a.m.
        failed = list(SagaInstance.objects.filter(status=SagaStatus.FAILED))
        assert failed, "the refund faults should leave sagas that need an operator"
        stack.restart_participant("payment", faults="")
        for round in range(1, REPAIR_ROUNDS + 1):
            print(f"round {round}, need an operator:", reasons(failed))
            assert all(s.reason for s in failed)
            for saga in failed:
                action = "resume" if saga.reason.startswith("pivot") else "retry"
                before = OperatorAction.objects.filter(saga=saga, action=action).count()
                assert repair_twice_at_once(saga, action) == ["applied", "stale"]
                assert OperatorAction.objects.filter(saga=saga, action=action).count() == before + 1
            took = wait_settled(FIX_BOUND, "after the operators' repairs")
            failed = list(SagaInstance.objects.filter(status=SagaStatus.FAILED))
            print(f"round {round}: settled in {took:.0f}s, {len(failed)} failed again")
            if not failed:
                break
        # Late replies (and late copies) still in flight are delivered and ignored.
        drained = time.monotonic()
        while retrying(lambda: OutboxMessage.objects.filter(status="pending").exists()):
            assert time.monotonic() - drained < 60, "the outbox did not drain"
            time.sleep(0.5)
    check_invariants()


def check_invariants() -> None:
    sagas = {s.id: s for s in SagaInstance.objects.all()}
    assert len(sagas) == SAGAS
    statuses = Counter(s.status for s in sagas.values())
    reasons = Counter(s.reason[:100] for s in sagas.values() if s.status == SagaStatus.FAILED)
    assert set(statuses) <= {SagaStatus.COMPLETED, SagaStatus.COMPENSATED}, (statuses, reasons)
    completed = {i for i, s in sagas.items() if s.status == SagaStatus.COMPLETED}

    # No participant applied an effect twice for one idempotency key, counted in their
    # own tables (the keys are unique there, and every effect went through the inbox).
    for model in (Payment, Reservation):
        keys = Counter(model.objects.values_list("idempotency_key", flat=True))
        assert max(keys.values(), default=1) == 1

    # The ledger balances: what was not undone belongs to a completed order, once.
    charged = Counter(Payment.objects.filter(status="charged").values_list("saga_id", flat=True))
    assert set(charged) <= completed and all(n == 1 for n in charged.values())
    assert set(charged) == completed
    kept = Counter(Reservation.objects.exclude(status="released").values_list("saga_id", flat=True))
    assert set(kept) <= completed and all(n == 1 for n in kept.values())
    cancelled = set(Order.objects.filter(status="cancelled").values_list("saga_id", flat=True))
    assert cancelled == set(sagas) - completed

    # Every saga's history: no gap in versions, only allowed status changes, attempts
    # numbered without holes.
    events = defaultdict(list)
    for e in SagaEvent.objects.exclude(type="reply_ignored").order_by("id"):
        events[e.saga_id].append(e)
    for saga_id, saga in sagas.items():
        history = events[saga_id]
        assert {e.version for e in history} == set(range(1, saga.version + 1)), saga_id
        previous = "running"
        for e in history:
            if e.status != previous:
                assert (previous, e.status) in ALLOWED, (saga_id, previous, e.status, e.type)
                previous = e.status
        assert previous == saga.status
    attempts = defaultdict(list)
    for saga_id, step, phase, n in StepAttempt.objects.values_list(
        "saga_id", "step_index", "phase", "attempt"
    ):
        attempts[(saga_id, step, phase)].append(n)
    for numbers in attempts.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))

    # Every message in the outbox went out: sent, or dead-lettered with the reason.
    assert not OutboxMessage.objects.filter(status="pending").exists()
    assert not OutboxMessage.objects.filter(status="dead", last_error="").exists()
