"""Fault injection is the demo's: a participant ignores SAGASCOPE_FAULTS_<NAME>; the
demo's FaultyParticipant reads it and injects the faults, itself and in its transports."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from sagas.demo.faults import FaultyParticipant
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
