"""Circuit breakers per destination: they open after failures in a row, let one probe
through per cool-down, close when it answers; sagas waiting on an open circuit hold their
attempts instead of spending retries."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from sagas.definition import Retry, Saga, Step
from sagas.messaging import circuits
from sagas.messaging.relay import Relay
from sagas.models import ApiToken, CircuitBreaker, OutboxMessage, SagaInstance
from sagas.registry import registry
from sagas.statuses import AttemptStatus, SagaStatus
from tests.factories import start, worker

pytestmark = pytest.mark.django_db(transaction=True)

State = CircuitBreaker.State


class Pay(Saga):
    name = "circuit-pay"
    register = False
    steps = [
        Step(
            "pay",
            command="payment.charge",
            payload=lambda ctx: {"amount": 1},
            timeout=0.3,
            retry=Retry(max_attempts=2, backoff=0.05, jitter=0),
        )
    ]


@pytest.fixture(autouse=True)
def setup(settings):
    settings.SAGASCOPE_CIRCUIT_FAILURES = 3
    settings.SAGASCOPE_CIRCUIT_COOLDOWN = 0.4
    settings.SAGASCOPE_CIRCUIT_MAX_COOLDOWN = 1.0
    with registry.override(Pay):
        yield


def circuit() -> CircuitBreaker:
    return CircuitBreaker.objects.get(destination="payment")


def test_failures_in_a_row_open_the_circuit_then_one_probe_goes_per_cooldown():
    circuits.record_failure("payment", "refused")
    circuits.record_failure("payment", "refused")
    assert circuit().state == State.CLOSED
    circuits.record_failure("payment", "refused")
    c = circuit()
    assert c.state == State.OPEN and c.cooldown == 0.4 and c.retry_at > timezone.now()
    assert not circuits.take_probe("payment")  # still cooling down
    time.sleep(0.45)
    assert circuits.take_probe("payment")
    assert not circuits.take_probe("payment")  # one probe at a time, among every relay
    assert circuit().state == State.HALF_OPEN
    circuits.record_failure("payment", "still refused")  # the probe failed
    c = circuit()
    assert c.state == State.OPEN and c.cooldown == 0.8  # twice as long
    circuits.record_failure("payment", "x")
    c.state = State.HALF_OPEN
    c.save()
    circuits.record_failure("payment", "x")
    assert circuit().cooldown == 1.0  # capped
    circuits.record_success("payment", circuits.all_by_destination())
    c = circuit()
    assert (c.state, c.failures, c.retry_at) == (State.CLOSED, 0, None)


def test_a_success_resets_the_count_of_failures_in_a_row():
    circuits.record_failure("payment", "refused")
    circuits.record_failure("payment", "refused")
    circuits.record_success("payment", circuits.all_by_destination())
    circuits.record_failure("payment", "refused")
    circuits.record_failure("payment", "refused")
    assert circuit().state == State.CLOSED


def commands(n: int) -> datetime:
    """`n` commands to payment, each of another saga (none waits for another); returns when."""
    now = timezone.now()
    for i in range(n):
        OutboxMessage.objects.create(
            kind="command",
            destination="payment",
            headers={"message_id": str(i)},
            body={},
            available_at=now,
            created_at=now,
        )
    return now


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_relay_stops_sending_to_an_open_circuit_and_probes_it(settings):
    port = _free_port()  # nothing listens: every delivery fails at once
    settings.SAGASCOPE_PARTICIPANT_URLS = {"payment": f"http://127.0.0.1:{port}"}
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s"}
    now = commands(6)
    relay = Relay(patience=2)
    relay.tick()
    assert circuit().state == State.OPEN
    tried = sent_attempts()
    OutboxMessage.objects.update(available_at=now)  # due again: only the circuit holds them
    relay.tick()
    assert sent_attempts() == tried  # nothing sent
    time.sleep(0.45)
    relay.tick()  # the probe: one message, which fails again
    assert sent_attempts() == tried + 1
    assert circuit().state == State.OPEN and circuit().cooldown == 0.8


def sent_attempts() -> int:
    return OutboxMessage.objects.aggregate(n=Sum("attempts"))["n"] or 0


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_probe_that_gets_through_closes_the_circuit(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SAGASCOPE_PARTICIPANT_URLS = {
        "payment": f"http://127.0.0.1:{server.server_address[1]}"
    }
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s"}
    for _ in range(3):
        circuits.record_failure("payment", "down")
    time.sleep(0.45)
    commands(3)
    try:
        relay = Relay(patience=2)
        assert relay.tick() == 1  # the probe alone
        assert circuit().state == State.CLOSED
        assert relay.tick() == 2  # then everything
    finally:
        server.shutdown()
        server.server_close()


def test_a_saga_waiting_on_an_open_circuit_holds_its_attempt_without_spending_retries():
    saga = start("circuit-pay", {})
    w = worker()
    w.tick()  # the command goes to the outbox; nobody delivers it
    for _ in range(3):
        circuits.record_failure("payment", "connection refused")
    deadline = time.monotonic() + 10
    while SagaInstance.objects.get(id=saga.id).attempt < 5:
        assert time.monotonic() < deadline, "the saga did not keep holding"
        w.tick()
        time.sleep(0.05)
    saga.refresh_from_db()
    # five attempts, though the step allows two: none counted, none compensated
    assert saga.status == SagaStatus.RUNNING and saga.failures == 0
    held = saga.attempts.filter(status=AttemptStatus.TIMED_OUT)
    assert held.count() >= 4 and all("circuit is" in a.error_message for a in held)
    assert not saga.possibly_done
    assert all(m.status == "dead" for m in OutboxMessage.objects.filter(saga=saga)[:4])
    # with the circuit closed, the next timeout is an ordinary one and counts
    circuits.record_success("payment", circuits.all_by_destination())
    deadline = time.monotonic() + 10
    while SagaInstance.objects.get(id=saga.id).status == SagaStatus.RUNNING:
        assert time.monotonic() < deadline
        w.tick()
        time.sleep(0.05)
    saga.refresh_from_db()
    assert saga.status == SagaStatus.COMPENSATED


def test_circuits_are_in_the_api_and_on_the_outbox_page(admin_client, settings):
    settings.SAGASCOPE_CIRCUIT_COOLDOWN = 60  # still open when the API is asked, however slow
    for _ in range(3):
        circuits.record_failure("payment", "connection refused")
    _, raw = ApiToken.issue("reader", ["read"])
    response = Client().get("/api/circuits", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    [row] = response.json()
    assert (row["destination"], row["state"], row["failures"]) == ("payment", "open", 3)
    assert row["retry_in_seconds"] is not None and row["last_error"] == "connection refused"
    _, start_only = ApiToken.issue("starter", ["start"])
    assert (
        Client().get("/api/circuits", HTTP_AUTHORIZATION=f"Bearer {start_only}").status_code == 403
    )
    page = admin_client.get("/outbox/")
    assert page.status_code == 200
    data = page.context["data"]
    assert data["circuits"][0]["state"] == "open"


def test_the_outbox_page_lists_dead_letters_with_their_reasons(admin_client):
    now = timezone.now()
    OutboxMessage.objects.create(
        kind="reply",
        destination="orchestrator",
        sender="shipping",
        body={"unreadable": "[]"},
        status="dead",
        last_error="shipping's answer to command x refused: a reply must be a JSON object",
        available_at=now,
        created_at=now - timedelta(seconds=3),
    )
    data = admin_client.get("/outbox/").context["data"]
    [dead] = data["dead_letters"]
    assert dead["sender"] == "shipping" and "refused: a reply must be" in dead["reason"]
