"""Hostile replies, on every way in: the signed endpoint, the reply rows the workers take,
the relay's synchronous answers. Each one is refused (4xx) or dead-lettered with its
reason, alone: the orchestrator keeps moving every other saga, and a participant may
answer only the attempts whose commands went to it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.live.broadcast import FEED_GROUP, messages_for
from sagas.definition import Retry, Saga, Step
from sagas.messaging import signing
from sagas.messaging.envelope import failed, ok, reply_envelope
from sagas.messaging.relay import Relay
from sagas.models import OutboxMessage, SagaEvent, SagaInstance
from sagas.registry import registry
from sagas.statuses import EventType, SagaStatus
from tests.factories import start, worker

pytestmark = pytest.mark.django_db(transaction=True)

SECRETS = {"payment": "payment-secret", "shipping": "shipping-secret"}


class Shipping(Saga):
    """One remote step that only shipping may answer, then one local step."""

    name = "hostile-shipping"
    register = False
    steps = [
        Step(
            "schedule",
            command="shipping.schedule",
            payload=lambda ctx: {"country": ctx.input["country"]},
            timeout=30,
            retry=Retry(max_attempts=3, backoff=0.5, jitter=0),
        ),
        Step("note", action=lambda ctx: {"noted": True}, retriable=True),
    ]


class Chain(Saga):
    """Two remote steps: applying the first reply builds the second command, whose payload
    needs input.next (absent: the write of that reply's transition fails)."""

    name = "hostile-chain"
    register = False
    steps = [
        Step("pay", command="payment.charge", payload=lambda ctx: {}, timeout=30),
        Step("ship", command="shipping.schedule", payload=lambda ctx: {"n": ctx.input["next"]}),
    ]


@pytest.fixture(autouse=True)
def definitions(settings):
    settings.SAGASCOPE_PARTICIPANT_SECRETS = SECRETS
    with registry.override(Shipping), registry.override(Chain):
        yield


def waiting(
    saga_type: str = "hostile-shipping", **input: Any
) -> tuple[SagaInstance, OutboxMessage]:
    saga = start(saga_type, {"country": "AQ", **input})
    worker().tick()
    saga.refresh_from_db()
    assert saga.in_flight
    return saga, OutboxMessage.objects.get(saga=saga, kind="command", status="pending")


def signed_post(envelope: Any, participant: str = "payment", raw: bytes | None = None, **extra):
    body = raw if raw is not None else json.dumps(envelope).encode()
    headers = {**signing.sign(SECRETS[participant], body, participant), **extra}
    return Client().post(
        "/api/replies",
        body,
        content_type="application/json",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    )


def queue(envelope: dict, sender: str) -> OutboxMessage:
    """A reply row as a participant on the database transport writes it."""
    return OutboxMessage.objects.create(
        kind="reply",
        destination="orchestrator",
        sender=sender,
        message_id=uuid.uuid4(),
        headers=envelope["headers"],
        body=envelope["body"],
        available_at=timezone.now(),
        created_at=timezone.now(),
    )


def ignored() -> list[str]:
    return [e.payload["reason"] for e in SagaEvent.objects.filter(type=EventType.REPLY_IGNORED)]


def answer(sent: OutboxMessage, body: dict | None = None, **headers: Any) -> dict:
    """A reply to the command `sent`, with `headers` changed."""
    envelope = reply_envelope(sent.headers, body or ok({"shipment_id": 1}))
    envelope["headers"].update(headers)
    return envelope


# The signed endpoint: every reply that fails the schema is a 400 and queues nothing.

HOSTILE_HEADERS = {
    "attempt -1": {"attempt": -1},
    "attempt past the integer column": {"attempt": 2**31},
    "attempt true": {"attempt": True},
    "attempt as text": {"attempt": "1"},
    "a message id that is no UUID": {"message_id": "not-a-uuid"},
    "a saga id that is no UUID": {"saga_id": "1; DROP TABLE"},
    "a 300-character reply_to": {"reply_to": "o" * 300},
    "a 300-character step": {"step": "s" * 300},
    "an unknown phase": {"phase": "sideways"},
    "a NUL in the key": {"idempotency_key": "k\u0000"},
    "duplicate as text": {"duplicate": "yes"},
}


@pytest.mark.parametrize("headers", HOSTILE_HEADERS.values(), ids=list(HOSTILE_HEADERS))
def test_the_endpoint_refuses_headers_that_break_the_schema(headers):
    _, command = waiting()
    response = signed_post(answer(command, **headers), participant="shipping")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("malformed reply: headers.")
    assert not OutboxMessage.objects.filter(kind="reply").exists()


HOSTILE_BODIES = {
    "error as a string": {"status": "error", "error": "boom"},
    "error without a message": {"status": "error", "error": {"type": "x"}},
    "an error reply with no error": {"status": "error"},
    "no status": {"result": 1},
    "a status nobody knows": {"status": "maybe"},
    "business as text": {
        "status": "error",
        "business": "no",
        "error": {"type": "x", "message": "m"},
    },
    "a 5,000-character error message": {
        "status": "error",
        "error": {"type": "x", "message": "m" * 5000},
    },
    "a result too large": {"status": "ok", "result": "r" * 300_000},
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=list(HOSTILE_BODIES))
def test_the_endpoint_refuses_bodies_that_break_the_schema(body, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    _, command = waiting()
    response = signed_post(answer(command, body), participant="shipping")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("malformed reply: body")
    assert not OutboxMessage.objects.filter(kind="reply").exists()


def test_the_endpoint_refuses_envelopes_that_are_not_replies():
    for raw in (b"[]", b'{"headers": [], "body": {}}', b"[" * 5000 + b"]" * 5000, b"NaN"):
        assert signed_post(None, raw=raw).status_code == 400, raw[:20]
    # a body that is JSON but carries NaN, which PostgreSQL's jsonb cannot store
    _, command = waiting()
    nan = json.dumps(answer(command, {"status": "ok", "result": float("nan")})).encode()
    assert signed_post(None, participant="shipping", raw=nan).status_code == 400
    assert not OutboxMessage.objects.filter(kind="reply").exists()


def test_a_signature_header_that_is_not_ascii_is_401_not_500():
    _, command = waiting()
    body = json.dumps(answer(command)).encode()
    headers = signing.sign(SECRETS["shipping"], body, "shipping")
    for name, value in ((signing.SIGNATURE, "v1=é" * 8), (signing.TIMESTAMP, "١٧٠٠")):
        response = Client().post(
            "/api/replies",
            body,
            content_type="application/json",
            **{
                "HTTP_" + k.upper().replace("-", "_"): v
                for k, v in {**headers, name: value}.items()
            },
        )
        assert response.status_code == 401, (name, response.content)


# Rows the workers take: a poison row is dead-lettered alone, the batch moves on.


def test_poison_reply_rows_are_set_aside_and_every_other_saga_moves():
    saga, command = waiting()
    local = start("ledger", {})  # a local saga, due now: it must not wait on the poison
    poison = [
        queue(answer(command, attempt=-1), "shipping"),
        queue(answer(command, attempt=2**31), "shipping"),
        queue(answer(command, {"status": "error", "error": "boom"}), "shipping"),
        queue({"headers": [], "body": {}}, "shipping"),
    ]
    good = queue(answer(command), "shipping")
    w = worker()
    for _ in range(20):
        w.tick()
    for row in poison:
        row.refresh_from_db()
        assert row.status == "dead" and row.last_error.startswith("malformed reply: "), (
            row.last_error
        )
    good.refresh_from_db()
    assert good.status == "sent"
    saga.refresh_from_db()
    local.refresh_from_db()
    assert saga.status == SagaStatus.COMPLETED and saga.results["schedule"] == {"shipment_id": 1}
    assert local.status == SagaStatus.COMPLETED


def test_a_reply_whose_write_fails_is_dead_lettered_alone():
    broken, broken_command = waiting("hostile-chain")  # its next command cannot be built
    fine, fine_command = waiting("hostile-chain", next=1)
    other, other_command = waiting()
    queue(answer(broken_command, ok({"paid": 1})), "payment")
    queue(answer(fine_command, ok({"paid": 2})), "payment")
    queue(answer(other_command), "shipping")
    worker().tick()
    dead = OutboxMessage.objects.get(kind="reply", status="dead")
    assert dead.headers["saga_id"] == str(broken.id)
    assert dead.last_error.startswith("could not be applied: KeyError")
    for saga in (fine, other):
        saga.refresh_from_db()
        assert saga.version > 2, saga.status  # applied: moved past its first step
    fine.refresh_from_db()
    assert fine.results["pay"] == {"paid": 2} and fine.in_flight  # waits for shipping now


def test_a_reply_for_an_unknown_saga_does_not_break_the_live_push_of_its_batch():
    saga, command = waiting()
    stray = SagaEvent.objects.create(
        saga=None, type=EventType.REPLY_IGNORED, payload={}, created_at=timezone.now()
    )
    mine = SagaEvent.objects.filter(saga=saga).last()
    messages = messages_for([stray, mine])
    feed = [m for group, m in messages if group == FEED_GROUP]
    assert [row["id"] for row in feed[0]["sagas"]] == [str(saga.id)]


# Participants answer only their own steps.


def test_a_participant_cannot_answer_another_participants_step_over_http():
    saga, command = waiting()
    # payment signs a reply to shipping's pivot, naming one of its own commands
    forged = answer(command, command="payment.charge")
    assert signed_post(forged, participant="payment").status_code == 202  # authentic: queued
    worker().tick()
    saga.refresh_from_db()
    assert saga.in_flight and saga.status == SagaStatus.RUNNING and "schedule" not in saga.results
    assert ignored() == ["payment answered a command that went to shipping"]
    # shipping's own answer still counts
    assert signed_post(answer(command), participant="shipping").status_code == 202
    worker().tick()
    saga.refresh_from_db()
    assert saga.results["schedule"] == {"shipment_id": 1}


def test_a_participant_cannot_answer_another_participants_step_over_the_database():
    saga, command = waiting()
    queue(answer(command), "payment")
    worker().tick()
    saga.refresh_from_db()
    assert saga.in_flight and ignored() == ["payment answered a command that went to shipping"]


def test_a_reply_naming_another_command_is_ignored():
    saga, command = waiting()
    queue(answer(command, in_reply_to=str(uuid.uuid4())), "shipping")
    worker().tick()
    saga.refresh_from_db()
    assert saga.in_flight and ignored()[0].startswith("reply answers command ")


# The relay's synchronous path: an answer that is no reply to that very command is dead.


class _Answering(BaseHTTPRequestHandler):
    """A participant that answers every command at once, signed, with `answer(envelope)`."""

    protocol_version = "HTTP/1.1"
    answer: Any = None

    def do_POST(self) -> None:
        envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(type(self).answer(envelope)).encode()
        self.send_response(200)
        for key, value in signing.sign(SECRETS["shipping"], body, "shipping").items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def shipping_answers(settings):
    """Serve shipping over HTTP with the answer the test sets: `shipping_answers(fn)`."""
    servers: list[ThreadingHTTPServer] = []

    def serve(fn) -> None:
        handler = type("Answer", (_Answering,), {"answer": staticmethod(fn)})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        settings.SAGASCOPE_PARTICIPANT_URLS = {
            "shipping": f"http://127.0.0.1:{server.server_address[1]}"
        }

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


SYNC_ANSWERS = {
    "an empty list": lambda env: [],
    "a string": lambda env: "ok",
    "error as a string": lambda env: reply_envelope(
        env["headers"], {"status": "error", "error": "x"}
    ),
    "another saga's attempt": lambda env: reply_envelope(
        {**env["headers"], "saga_id": str(uuid.uuid4())}, ok({})
    ),
    "another attempt": lambda env: reply_envelope({**env["headers"], "attempt": 7}, ok({})),
    "another command": lambda env: {
        **reply_envelope(env["headers"], ok({})),
        "headers": {
            **reply_envelope(env["headers"], ok({}))["headers"],
            "in_reply_to": str(uuid.uuid4()),
        },
    },
}


@pytest.mark.parametrize("make", SYNC_ANSWERS.values(), ids=list(SYNC_ANSWERS))
def test_the_relay_dead_letters_an_answer_that_is_no_reply_to_its_command(make, shipping_answers):
    shipping_answers(make)
    saga, command = waiting()
    relay = Relay(patience=5)
    assert relay.tick() == 1  # delivered: the relay survives and moves on
    command.refresh_from_db()
    assert command.status == "sent"
    dead = OutboxMessage.objects.get(kind="reply")
    assert dead.status == "dead" and dead.sender == "shipping"
    assert dead.last_error.startswith(f"shipping's answer to command {command.message_id} refused:")
    worker().tick()
    saga.refresh_from_db()
    assert saga.in_flight  # nothing answered the attempt: it waits for its timeout


def test_the_relay_queues_a_good_synchronous_answer_with_its_sender(shipping_answers):
    shipping_answers(lambda env: reply_envelope(env["headers"], ok({"shipment_id": 9})))
    saga, _ = waiting()
    assert Relay(patience=5).tick() == 1
    reply = OutboxMessage.objects.get(kind="reply")
    assert (reply.status, reply.sender) == ("pending", "shipping")
    worker().tick()
    saga.refresh_from_db()
    assert saga.results["schedule"] == {"shipment_id": 9}


def test_a_failed_transient_reply_is_still_retried_under_the_same_key():
    saga, command = waiting()
    queue(answer(command, failed("builtins.ConnectionError", "db down")), "shipping")
    worker().tick()
    saga.refresh_from_db()
    assert saga.failures == 1 and not saga.in_flight and saga.status == SagaStatus.RUNNING
    time.sleep(0.6)  # the backoff
    worker().tick()
    retry = OutboxMessage.objects.filter(saga=saga, kind="command").order_by("id").last()
    assert retry.headers["attempt"] == 2
    assert retry.headers["idempotency_key"] == command.headers["idempotency_key"]


def test_an_ignored_replys_history_entry_carries_no_participant_traceback():
    saga, command = waiting()
    body = failed("builtins.RuntimeError", "boom")
    body["traceback"] = 'File "/srv/payment/handlers.py", line 7, in charge'
    queue(answer(command, body), "payment")  # from the wrong participant: ignored
    worker().tick()
    event = SagaEvent.objects.get(type=EventType.REPLY_IGNORED)
    assert event.payload["body"]["error"]["message"] == "boom"
    assert "traceback" not in event.payload["body"] and "/srv/" not in str(event.payload)
