"""Short outages must delay orders, never refund them: a relay SIGKILLed mid-publish and
back a second later, and the payment service down for 20 seconds under load. Every order
is valid, so any refund would be the outage's doing.

Bounds stated here: orders stream for LOAD_SECONDS; every one completes within
SETTLE_BOUND seconds after the stream ends.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter

import pytest
from django.utils import timezone

from sagas.demo.models import Payment
from sagas.models import OutboxMessage, SagaEvent, SagaInstance
from sagas.services.start import start_saga
from sagas.statuses import ACTIVE_STATUSES, SagaStatus

from .harness import Stack, retrying

SETTLE_BOUND = 120
# Healthy services, each message delivered once, except that payment takes up to 0.3 s
# per command: publishes to it are in flight whenever the relay is killed.
QUIET = {"inventory": "", "payment": "latency=0.3", "shipping": "", "email": ""}

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(SETTLE_BOUND + 240),
]

_numbers = itertools.count()


def order_now() -> SagaInstance:
    i = next(_numbers)
    saga, _ = start_saga(
        "order",
        {"sku": f"OUTAGE-{i % 40}", "qty": 1, "amount": 10 + i % 50, "country": "FR"},
        correlation_id=f"outage-{i}",
    )
    return saga


def stream(seconds: float, per_second: float, at: dict[float, object]) -> int:
    """Start orders at a steady rate for `seconds`, running `at[t]()` once `t` has passed."""
    began = time.monotonic()
    started = 0
    pending = sorted(at.items())
    while (elapsed := time.monotonic() - began) < seconds:
        while pending and elapsed >= pending[0][0]:
            pending.pop(0)[1]()
        order_now()
        started += 1
        time.sleep(max(0.0, started / per_second - (time.monotonic() - began)))
    for _, action in pending:
        action()
    return started


def settle(started: int) -> None:
    began = time.monotonic()
    while retrying(lambda: SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).count()):
        assert time.monotonic() - began < SETTLE_BOUND, "orders still active after the outage"
        time.sleep(0.5)
    statuses = Counter(SagaInstance.objects.values_list("status", flat=True))
    print(f"{started} orders settled {time.monotonic() - began:.0f}s after the load: {statuses}")
    if set(statuses) != {SagaStatus.COMPLETED}:
        reasons = SagaInstance.objects.exclude(status="completed").values_list("reason", flat=True)
        print("not completed:", Counter(r[:120] for r in reasons).most_common(5))
    assert statuses == {SagaStatus.COMPLETED: started}, statuses
    assert not Payment.objects.filter(status="refunded").exists()
    assert not SagaEvent.objects.filter(type="compensation_started").exists()


def test_a_relay_killed_mid_publish_and_back_in_a_second_refunds_nobody(tmp_path):
    # The relay runs with its default lease, as in production.
    with Stack(tmp_path, workers=2, faults=QUIET, relay=(), redelivery=False) as stack:

        def kill() -> None:
            # mid-publish: while a command to payment is leased to the relay, on the wire
            deadline = time.monotonic() + 10
            while not OutboxMessage.objects.filter(
                status="pending", destination="payment", leased_until__gt=timezone.now()
            ).exists():
                assert time.monotonic() < deadline, "no publish to payment in flight"
                time.sleep(0.01)
            stack.kill_relay()

        def revive() -> None:
            stack.start_relay()

        started = stream(20, 5, {6.0: kill, 7.0: revive})
        settle(started)


def test_payment_down_for_20_seconds_under_load_refunds_nobody(tmp_path):
    with Stack(tmp_path, workers=2, faults={**QUIET, "payment": ""}, redelivery=False) as stack:

        def down() -> None:
            stack.stop_participant("payment", signal.SIGKILL)

        def back() -> None:
            stack.start_participant("payment")

        started = stream(35, 5, {5.0: down, 25.0: back})
        settle(started)
        # The circuit held the sagas waiting on payment: their attempts cost no retry.
        held = SagaEvent.objects.filter(type="step_timed_out", payload__held=True)
        assert held.exists()
        assert {e.step for e in held} == {"charge_payment"}
