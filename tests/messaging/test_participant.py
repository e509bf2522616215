"""The participant helper: one effect per idempotency key, clear answers to bad input."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from sagas.demo.models import Payment
from sagas.demo.participants import payment
from sagas.messaging.transports import DatabaseTransport
from sagas.models import OutboxMessage, ProcessedMessage
from tests.factories import worker
from tests.messages import command

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_command_ten_times_has_one_effect_and_ten_identical_replies():
    envelope = command()
    replies = [payment.handle(envelope) for _ in range(10)]
    assert Payment.objects.count() == 1
    assert len({json.dumps(r["body"], sort_keys=True) for r in replies}) == 1
    assert replies[0]["body"]["status"] == "ok"
    assert [r["headers"]["duplicate"] for r in replies] == [False] + [True] * 9
    assert ProcessedMessage.objects.get(consumer="payment").duplicates == 9


def test_ten_copies_at_the_same_instant_have_one_effect():
    envelope = command()
    barrier = threading.Barrier(10)
    replies: list[dict] = []

    def deliver() -> None:
        barrier.wait()
        try:
            replies.append(payment.handle(envelope))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Payment.objects.count() == 1
    assert len(replies) == 10 and len({json.dumps(r["body"], sort_keys=True) for r in replies}) == 1
    assert sum(r["headers"]["duplicate"] for r in replies) == 9


def test_a_business_refusal_is_stored_and_repeated_without_effect():
    envelope = command(amount=5000)
    first, second = payment.handle(envelope), payment.handle(envelope)
    assert first["body"] == second["body"]
    assert first["body"]["business"] is True and "declined" in first["body"]["error"]["message"]
    assert not Payment.objects.exists()


def test_malformed_headers_get_a_clear_refusal_not_a_crash():
    reply = payment.handle(command(idempotency_key=None) | {"headers": {"saga_id": "x"}})
    assert reply["body"]["business"] is True
    missing = command()
    del missing["headers"]["idempotency_key"]
    reply = payment.handle(missing)
    assert "header 'idempotency_key' is missing" in reply["body"]["error"]["message"]
    assert "not a UUID" in payment.handle(command(saga_id="nope"))["body"]["error"]["message"]
    assert payment.handle("garbage")["body"]["business"] is True
    body_not_object = command()
    body_not_object["body"] = "not json"
    assert (
        "body must be a JSON object" in payment.handle(body_not_object)["body"]["error"]["message"]
    )
    assert not Payment.objects.exists()


def test_bad_trace_headers_start_a_fresh_trace_and_the_command_still_runs():
    reply = payment.handle(command(traceparent="00-zzzz-not-a-trace", baggage="%%%;;==,"))
    assert reply["body"]["status"] == "ok" and Payment.objects.count() == 1


def test_an_unknown_command_is_refused_by_name():
    reply = payment.handle(command(command="payment.teleport"))
    assert reply["body"]["business"] is True
    assert "payment has no command 'teleport'" in reply["body"]["error"]["message"]


def test_a_poison_command_in_the_database_is_answered_once_never_retried_forever():
    OutboxMessage.objects.create(
        kind=OutboxMessage.Kind.COMMAND,
        destination="payment",
        headers={"bogus": True},
        body={},
        available_at=timezone.now(),
        created_at=timezone.now(),
    )
    assert DatabaseTransport().receive(payment) == 1
    assert DatabaseTransport().receive(payment) == 0  # answered and marked sent
    assert OutboxMessage.objects.get(kind="command").status == "sent"
    # the refusal went back as a reply naming no saga: the worker dead-letters it, with why
    w = worker()
    w.tick()
    reply = OutboxMessage.objects.get(kind="reply")
    assert reply.status == "dead" and reply.last_error.startswith("malformed reply: headers.")
    assert reply.sender == "payment"


def test_a_command_past_its_deadline_is_dead_lettered_not_handled():
    envelope = command()
    envelope["headers"]["deadline"] = "2020-01-01T00:00:00+00:00"
    past = timezone.now() - timedelta(seconds=1)
    OutboxMessage.objects.create(
        kind="command",
        destination="payment",
        headers=envelope["headers"],
        body=envelope["body"],
        available_at=timezone.now(),
        created_at=timezone.now(),
        deadline=past,
    )
    assert DatabaseTransport().receive(payment) == 0  # buried before it could be handled
    message = OutboxMessage.objects.get(kind="command")
    assert message.status == "dead" and message.last_error.startswith("expired")
    assert not Payment.objects.exists() and not OutboxMessage.objects.filter(kind="reply")
