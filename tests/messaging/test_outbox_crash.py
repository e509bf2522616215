"""The relay killed between commit and publish: every command still goes out (at least
once) and the participant applies each one once."""

from __future__ import annotations

import signal
import socket

import pytest
from django.db.models import Count

from sagas.demo.models import Payment
from sagas.models import OutboxMessage, ProcessedMessage, SagaInstance
from sagas.services.start import start_saga
from sagas.statuses import SagaStatus
from tests.processes import spawn, spawn_worker, stop_all, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_commands_survive_a_relay_crash_and_apply_once(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("SAGASCOPE_PARTICIPANT_URLS", f"payment=http://127.0.0.1:{port}")
    monkeypatch.setenv("SAGASCOPE_PARTICIPANT_SECRETS", "payment=crash-test-secret")
    monkeypatch.setenv("SAGASCOPE_FAULTS_PAYMENT", "latency=0.4")
    participant = spawn(
        ["run_participant", "payment", "--http", f"127.0.0.1:{port}"], tmp_path / "payment.log"
    )
    worker = spawn_worker(tmp_path, "w")
    relay = None
    try:
        for i in range(20):
            start_saga("traced", {"amount": 10 + i}, correlation_id=f"crash-{i}")
        # committed, not yet published: no relay runs
        wait_for(
            lambda: OutboxMessage.objects.filter(kind="command", status="pending").count() == 20,
            30,
            "20 commands in the outbox",
        )
        # one at a time, 0.2 s each on average: the kill lands mid-batch
        relay = spawn(
            ["run_relay", "--poll", "0.1", "--visibility", "2", "--concurrency", "1"],
            tmp_path / "r1.log",
        )
        wait_for(
            lambda: ProcessedMessage.objects.filter(consumer="payment").count() >= 3,
            30,
            "the participant to handle a few commands",
        )
        relay.send_signal(signal.SIGKILL)
        relay.wait(5)
        pending = OutboxMessage.objects.filter(kind="command", status="pending").count()
        handled = ProcessedMessage.objects.filter(consumer="payment").count()
        assert pending > 0, f"the crash should leave commands unsent ({handled} handled)"
        relay = spawn(["run_relay", "--poll", "0.1", "--visibility", "2"], tmp_path / "r2.log")
        wait_for(
            lambda: SagaInstance.objects.filter(status=SagaStatus.COMPLETED).count() == 20,
            90,
            "every saga to complete after the restart",
        )
    finally:
        stop_all([p for p in (participant, worker, relay) if p is not None])
    assert not OutboxMessage.objects.filter(kind="command", status="pending").exists()
    # applied once per idempotency key, counted in the payment service's own table
    assert Payment.objects.count() == 20
    assert not Payment.objects.values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1)
    assert ProcessedMessage.objects.filter(consumer="payment").count() == 20
