"""Fault injection is the demo's: a participant ignores SAGASCOPE_FAULTS_<NAME>; the
demo's FaultyParticipant reads it and injects the faults, itself and in its transports."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.utils import timezone

from sagas.demo.faults import Faults, FaultyParticipant, summary
from sagas.messaging.transports import DatabaseTransport, HttpTransport
from sagas.models import OutboxMessage
from sagas.participant import Command, Participant

pytestmark = pytest.mark.django_db(transaction=True)

FAULTS = "failure_rate=1,outage_every=10,outage_seconds=10"  # always failing, always down


def ledger(kind: type[Participant]) -> Participant:
    service = kind("ledger", register=False)

    @service.command("post")
    def post(cmd: Command) -> dict:
        return {"posted": cmd.idempotency_key}

    return service


def envelope() -> dict:
    saga_id = str(uuid.uuid4())
    headers = {
        "message_id": str(uuid.uuid4()),
        "saga_id": saga_id,
        "step": "post",
        "phase": "forward",
        "attempt": 1,
        "idempotency_key": f"{saga_id}:post:forward:1",
        "command": "ledger.post",
    }
    return {"headers": headers, "body": {}}


def pending_command() -> OutboxMessage:
    now = timezone.now()
    return OutboxMessage.objects.create(
        kind="command", destination="ledger", headers={}, body={}, available_at=now, created_at=now
    )


def test_a_participant_ignores_the_fault_variables(monkeypatch):
    monkeypatch.setenv("SAGASCOPE_FAULTS_LEDGER", FAULTS)
    service = ledger(Participant)
    assert service.handle(envelope())["body"]["status"] == "ok"
    assert type(service.database_transport()) is DatabaseTransport
    assert type(service.http_transport()) is HttpTransport
    assert service.http_transport().unavailable(service) == ""


def test_a_demo_participant_injects_the_faults_it_reads(monkeypatch):
    monkeypatch.setenv("SAGASCOPE_FAULTS_LEDGER", FAULTS)
    service = ledger(FaultyParticipant)
    reply = service.handle(envelope())["body"]
    assert reply["status"] == "error" and not reply["business"]  # transient: retried
    assert "simulated transient fault" in reply["error"]["message"]
    # down: the database transport leaves its commands queued, the HTTP one answers 503
    command = pending_command()
    assert service.database_transport().receive(service) == 0
    command.refresh_from_db()
    assert command.status == "pending"
    assert service.http_transport().unavailable(service) == "service down (injected outage)"


def test_a_simulated_fault_is_counted_not_logged_and_summed_up_once_a_period(caplog):
    service = ledger(FaultyParticipant)
    service.faults = Faults.parse("failure_rate=1")
    with caplog.at_level(logging.INFO):
        assert service.handle(envelope())["body"]["status"] == "error"
    # Alone (run_participant), each one is an INFO line, never a warning...
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "ledger: simulated fault: post: simulated transient fault")
    ]
    caplog.clear()
    service.faults.summed_up = True  # ...and in the demo, which sums them up, not a line
    with caplog.at_level(logging.INFO):
        for _ in range(2):
            assert service.handle(envelope())["body"]["status"] == "error"
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], caplog.text
    payment = Faults.parse("outage_every=10,outage_seconds=10")
    assert payment.down()  # the outage begins: counted once, however often it is asked
    assert payment.down()
    assert summary({"ledger": service.faults, "payment": payment}) == (
        "ledger 3 transient errors; payment 1 outage"
    )
    assert summary({"ledger": service.faults, "payment": payment}) == ""  # taken


def test_a_real_failure_of_a_demo_participant_is_still_a_warning(caplog):
    service = FaultyParticipant("broken", register=False)

    @service.command("post")
    def post(cmd: Command) -> dict:
        raise ConnectionError("ledger database unreachable")

    reply = service.handle(envelope())["body"]
    assert reply["status"] == "error"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["broken: command failed: ledger database unreachable"]


def test_the_faults_read_as_words():
    faults = Faults.parse(
        "failure_rate=0.05,latency=0.3,failure_rate.refund=0.6,outage_every=90,"
        "outage_seconds=12,slow_rate=0.02,slow_seconds=7,seeded=1"
    )
    assert faults.describe() == (
        "5% of commands fail (refund 60%), up to 0.3 s latency, 2% of replies 7 s late, "
        "down 12 s every 90 s, the seeded scenarios"
    )
    assert Faults().describe() == "none"
