"""Replies: only the one the waiting attempt expects moves a saga; signed HTTP replies."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from sagas.definition import Retry, Saga, Step
from sagas.messaging import signing
from sagas.messaging.envelope import failed, ok, reply_envelope
from sagas.messaging.relay import Relay
from sagas.messaging.transports.http import make_server
from sagas.models import OutboxMessage, SagaEvent, SagaInstance
from sagas.participant import participants
from sagas.registry import registry
from sagas.statuses import EventType, SagaStatus
from tests.factories import settle, start, worker

pytestmark = pytest.mark.django_db(transaction=True)


class Remote(Saga):
    name = "remote"
    register = False
    steps = [
        Step(
            "pay",
            command="payment.charge",
            payload=lambda ctx: {"amount": ctx.input["amount"]},
            timeout=30,
            # long enough that the tick applying a failed reply does not also claim the retry
            retry=Retry(max_attempts=3, backoff=0.5, jitter=0),
        )
    ]


@pytest.fixture(autouse=True)
def remote_saga():
    with registry.override(Remote):
        yield


def waiting() -> tuple[SagaInstance, OutboxMessage]:
    saga = start("remote", {"amount": 10})
    worker().tick()
    saga.refresh_from_db()
    assert saga.in_flight and saga.lease_owner is None  # waits with no lease held
    return saga, OutboxMessage.objects.get(saga=saga, kind="command", status="pending")


def deliver(envelope: dict) -> None:
    OutboxMessage.objects.create(
        kind="reply",
        destination="orchestrator",
        message_id=envelope["headers"]["message_id"],
        headers=envelope["headers"],
        body=envelope["body"],
        available_at=timezone.now(),
        created_at=timezone.now(),
    )
    worker().tick()


def ignored() -> list[str]:
    return [e.payload["reason"] for e in SagaEvent.objects.filter(type=EventType.REPLY_IGNORED)]


def test_the_matching_reply_completes_the_step():
    saga, command = waiting()
    deliver(reply_envelope(command.headers, ok({"charged": True})))
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPLETED and saga.results["pay"] == {"charged": True}


def test_a_late_reply_after_a_timeout_changes_nothing():
    saga, first = waiting()
    # the attempt times out (its deadline passes) and is retried: attempt 2 waits now
    SagaInstance.objects.filter(id=saga.id).update(next_run_at=timezone.now())
    saga.attempts.update(deadline=timezone.now() - timedelta(seconds=1))
    w = worker()
    deadline = time.monotonic() + 10
    while saga.attempt < 2 and time.monotonic() < deadline:
        w.tick()  # the timeout, then (after its backoff) the retry
        saga.refresh_from_db()
        time.sleep(0.02)
    assert saga.attempt == 2 and saga.in_flight
    version = saga.version
    deliver(reply_envelope(first.headers, ok({"charged": "late"})))
    saga.refresh_from_db()
    assert saga.version == version and saga.in_flight
    assert "late reply for pay/forward attempt 1" in ignored()[0]


def test_a_duplicate_reply_changes_nothing():
    saga, command = waiting()
    reply = reply_envelope(command.headers, ok({"n": 1}))
    deliver(reply)
    saga.refresh_from_db()
    version = saga.version
    again = reply_envelope(command.headers, ok({"n": 1}), {"duplicate": True})
    deliver(again)
    saga.refresh_from_db()
    assert saga.version == version and saga.status == SagaStatus.COMPLETED
    assert "not waiting" in ignored()[0]
    assert saga.attempts.get().duplicates == 1  # the absorbed copy is counted


def test_a_reply_for_an_unknown_saga_is_kept_as_an_event():
    _, command = waiting()
    headers = {**command.headers, "saga_id": str(uuid.uuid4())}
    deliver(reply_envelope(headers, ok({})))
    event = SagaEvent.objects.get(type=EventType.REPLY_IGNORED)
    assert event.saga_id is None and event.payload["saga_id"] == headers["saga_id"]


def test_a_transient_error_reply_is_retried_under_the_same_key():
    saga, command = waiting()
    deliver(reply_envelope(command.headers, failed("builtins.ConnectionError", "db down")))
    saga.refresh_from_db()
    assert saga.status == SagaStatus.RUNNING and saga.failures == 1 and not saga.in_flight
    w = worker()
    deadline = time.monotonic() + 10
    while OutboxMessage.objects.filter(saga=saga, kind="command").count() < 2:
        assert time.monotonic() < deadline, "the retry was never sent"
        w.tick()  # the retry is due after its (short) backoff
        time.sleep(0.02)
    second = OutboxMessage.objects.filter(saga=saga, kind="command").order_by("id").last()
    assert second.headers["attempt"] == 2
    assert second.headers["idempotency_key"] == command.headers["idempotency_key"]


def signed_post(
    client: Client,
    envelope: dict,
    secret: str,
    participant: str = "payment",
    now: float | None = None,
):
    body = json.dumps(envelope).encode()
    headers = signing.sign(secret, body, participant, now=now)
    return client.post(
        "/api/replies",
        body,
        content_type="application/json",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    )


def test_signed_replies_over_http_forged_and_replayed_ones_refused(settings):
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s3cret", "email": "other"}
    saga, command = waiting()
    reply = reply_envelope(command.headers, ok({"via": "http"}))
    client = Client()
    assert signed_post(client, reply, "wrong").status_code == 401  # forged
    assert signed_post(client, reply, "other", participant="email").status_code == 401
    stale = signed_post(client, reply, "s3cret", now=time.time() - 3600)
    assert stale.status_code == 409  # replayed outside the window
    assert client.post("/api/replies", b"{}", content_type="application/json").status_code == 401
    assert not OutboxMessage.objects.filter(kind="reply").exists()  # nothing changed
    assert signed_post(client, reply, "s3cret").status_code == 202
    assert signed_post(client, reply, "s3cret").status_code == 409  # same message again
    worker().tick()
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPLETED and saga.results["pay"] == {"via": "http"}


def test_a_participant_that_answers_later_posts_its_signed_reply(live_server, settings):
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "k"}
    server = make_server(
        participants.get("payment"), "127.0.0.1", 0, reply_url=f"{live_server.url}/api/replies"
    )
    settings.SAGASCOPE_PARTICIPANT_URLS = {
        "payment": f"http://127.0.0.1:{server.server_address[1]}"
    }
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        saga = start("remote", {"amount": 10})
        settle(worker(), also=Relay().tick)
    finally:
        server.shutdown()
        server.server_close()
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPLETED
    reply = OutboxMessage.objects.get(kind="reply")
    assert (
        reply.headers["in_reply_to"]
        == OutboxMessage.objects.get(kind="command").headers["message_id"]
    )
